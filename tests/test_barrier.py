"""The barrier plans, then commits: a step whose writes are refused or whose router raises
leaves the run as it was, keeps what finished, and resumes without running it again. Joins get
what every other node gets: caps, payloads, failures."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from orchestrator import (
    END,
    START,
    CapExceededError,
    Context,
    Graph,
    RunStatus,
    Send,
    append,
)
from orchestrator.store import Store


class Trail(BaseModel):
    log: Annotated[list[str], append] = []
    count: int = 0
    seen: list[Any] = []


def logs(name: str, ran: list[str]) -> Any:
    def node(state: Trail) -> dict[str, Any]:
        ran.append(name)
        return {"log": name}

    return node


async def test_a_router_that_fails_once_leaves_the_step_pending_and_resume_routes_again(
    any_store: Store,
) -> None:
    ran: list[str] = []
    calls = [0]

    def flaky(state: Trail) -> str:
        calls[0] += 1
        if calls[0] == 1:
            raise ConnectionError("the routing service blinked")
        return "b"

    g = Graph(Trail).add_node("a", logs("a", ran)).add_node("b", logs("b", ran))
    g.add_edge(START, "a").add_route("a", flaky, ["b"]).add_edge("b", END)
    compiled = g.compile()
    live = await compiled.run(store=any_store, run_id="flaky", raise_on_error=False, events=True)
    assert live.status is RunStatus.FAILED
    assert "the routing service blinked" in str(live.error)
    # Nothing of step 1 committed: the live result and the store agree on it.
    assert live.path == [] and live.state.log == []
    stored = await compiled.load("flaky", store=any_store)
    assert stored.path == live.path and stored.state == live.state
    assert not any(e.source == "a" for e in live.events if type(e).__name__ == "EdgeTaken")

    resumed = await compiled.resume("flaky", store=any_store)
    assert resumed.status is RunStatus.COMPLETED
    assert resumed.path == ["a", "b"]
    assert resumed.state.log == ["a", "b"]
    assert ran == ["a", "b"]  # a finished before the router failed: it did not run again


async def test_a_refused_write_in_a_parallel_step_reruns_only_its_task(any_store: Store) -> None:
    ran: list[str] = []
    tries = [0]
    picked = asyncio.Event()

    async def picky(state: Trail) -> dict[str, Any]:
        ran.append("picky")
        tries[0] += 1
        picked.set()
        return {"count": "lots" if tries[0] == 1 else 2}  # first attempt writes a bad value

    async def a(state: Trail) -> dict[str, Any]:
        await picked.wait()  # a finishes last: no pending write is saved for it on the way
        ran.append("a")
        return {"log": "a"}

    g = Graph(Trail).add_node("a", a).add_node("picky", picky)
    g.add_node("after", logs("after", ran))
    g.add_edge(START, "a").add_edge(START, "picky")
    g.add_edge("a", "after").add_edge("picky", "after").add_edge("after", END)
    compiled = g.compile()
    live = await compiled.run(store=any_store, run_id="picky", raise_on_error=False)
    assert live.status is RunStatus.FAILED
    assert "'picky'" in str(live.error) and "'count'" in str(live.error)
    assert live.path == [] and live.visits == {}
    resumed = await compiled.resume("picky", store=any_store)
    assert resumed.status is RunStatus.COMPLETED
    assert (resumed.state.count, resumed.state.log) == (2, ["a", "after"])
    assert ran.count("a") == 1 and ran.count("picky") == 2


async def test_a_capped_join_takes_its_exit_instead_of_looping(any_store: Store) -> None:
    ran: list[str] = []
    g = Graph(Trail).add_node("a", logs("a", ran)).add_node("b", logs("b", ran))
    g.add_join("j", logs("j", ran), max_visits=2, on_cap=END)
    g.add_node("again", logs("again", ran))
    g.add_edge(START, "a").add_edge(START, "b").add_edge("a", "j").add_edge("b", "j")
    g.add_edge("j", "again").add_edge("again", "a").add_edge("again", "b")
    compiled = g.compile()
    result = await compiled.run(store=any_store, run_id="capjoin", max_steps=50)
    assert result.status is RunStatus.COMPLETED
    assert result.visits["j"] == 2
    assert ran.count("j") == 2
    stored = await compiled.load("capjoin", store=any_store)
    assert stored.state == result.state and stored.path == result.path


def payload_join() -> Any:
    def fan(state: Trail) -> list[Any]:
        return ["a", Send("j", {"from": "start"})]

    def j(state: Trail, ctx: Context[None]) -> dict[str, Any]:
        return {"seen": [ctx.payload, ctx.error.node if ctx.error else None]}

    g = Graph(Trail).add_node("a", logs("a", []))
    g.add_join("j", j)
    g.add_route(START, fan, ["a", "j"]).add_edge("a", "j").add_edge("j", END)
    return g.compile()


async def test_a_send_into_a_join_reaches_it_live_and_from_a_fork(any_store: Store) -> None:
    compiled = payload_join()
    live = await compiled.run(store=any_store, run_id="sendjoin")
    assert live.state.seen == [{"from": "start"}, None]
    first = (await any_store.checkpoints("sendjoin", from_snapshot=False))[0]
    assert first.joins  # the Send arrived at step 0; a still had to run
    fork = await compiled.fork("sendjoin", 0, store=any_store)
    assert fork.state == live.state


async def test_several_payloads_reach_a_join_as_a_list() -> None:
    def fan(state: Trail) -> list[Any]:
        return [Send("j", 1), Send("j", 2)]

    def j(state: Trail, ctx: Context[None]) -> dict[str, Any]:
        return {"seen": ctx.payload}

    g = Graph(Trail).add_join("j", j).add_route(START, fan, ["j"]).add_edge("j", END)
    assert (await g.compile().run()).state.seen == [1, 2]


async def test_an_on_error_edge_into_a_join_brings_the_failure(any_store: Store) -> None:
    def bad(state: Trail) -> dict[str, Any]:
        raise ValueError("broken")

    def j(state: Trail, ctx: Context[None]) -> dict[str, Any]:
        assert ctx.error is not None
        return {"seen": [ctx.error.node, ctx.error.message]}

    g = Graph(Trail).add_node("bad", bad, on_error="j").add_node("ok", logs("ok", []))
    g.add_join("j", j)
    g.add_edge(START, "bad").add_edge(START, "ok").add_edge("ok", "j").add_edge("j", END)
    compiled = g.compile()
    live = await compiled.run(store=any_store, run_id="errjoin")
    assert live.state.seen == ["bad", "broken"]
    stored = await compiled.load("errjoin", store=any_store)
    assert stored.state == live.state


async def test_cap_exits_that_lead_to_each_other_stop_with_a_named_error() -> None:
    ran: list[str] = []
    g = Graph(Trail).add_node("a", logs("a", ran), max_visits=1, on_cap="b")
    g.add_node("b", logs("b", ran), max_visits=1, on_cap="a")
    g.add_edge(START, "a").add_edge("a", "b").add_route("b", lambda s: "a", ["a", END])
    with pytest.raises(CapExceededError, match=r"cap exits .*a.*b.*a|cap exits .*b.*a.*b"):
        await g.compile().run()
    assert ran == ["a", "b"]
