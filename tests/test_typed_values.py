"""Values the state model does not type (Send payloads, Command targets, fields typed Any)
come back from every store as what was written: models as models, tuples as tuples; what
cannot come back as itself is refused by node and field when it is written."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from orchestrator import END, START, Command, Context, Graph, RunStatus, Send
from orchestrator.errors import UnstorableValueError
from orchestrator.store import Store


class Topic(BaseModel):
    name: str
    depth: int = 1


class Desk(BaseModel):
    done: list[str] = []
    item: Any = None
    things: list[Any] = []


def fail_first(seen: list[Any]) -> Any:
    """A worker that fails its first run (no retry), so the run stops with its task stored."""

    def work(state: Desk, ctx: Context[None]) -> dict[str, Any]:
        seen.append(ctx.payload)
        if len(seen) == 1:
            raise RuntimeError("not yet")
        return {"done": [*state.done, f"{ctx.payload.name}:{ctx.payload.depth}"]}

    return work


async def test_a_send_payload_model_comes_back_as_the_model_on_resume(any_store: Store) -> None:
    seen: list[Any] = []
    g = Graph(Desk).add_node("work", fail_first(seen))
    g.add_route(START, lambda s: [Send("work", Topic(name="tides", depth=3))], ["work"])
    compiled = g.add_edge("work", END).compile()
    first = await compiled.run(store=any_store, run_id="payload", raise_on_error=False)
    assert first.status is RunStatus.FAILED
    resumed = await compiled.resume("payload", store=any_store)
    assert resumed.state.done == ["tides:3"]
    assert isinstance(seen[-1], Topic) and seen[-1] == Topic(name="tides", depth=3)


async def test_fields_typed_any_keep_models_and_tuples(any_store: Store) -> None:
    def put(state: Desk) -> dict[str, Any]:
        return {"item": Topic(name="moon"), "things": [("a", 1), Topic(name="sun"), {"k": [1]}]}

    def more(state: Desk) -> dict[str, Any]:
        return {"done": [state.item.name]}

    g = Graph(Desk).add_node("put", put).add_node("more", more)
    compiled = g.add_edge(START, "put").add_edge("put", "more").add_edge("more", END).compile()
    live = await compiled.run(store=any_store, run_id="anyfields")
    loaded = await compiled.load("anyfields", store=any_store)
    assert loaded.state == live.state
    assert isinstance(loaded.state.item, Topic) and loaded.state.things[0] == ("a", 1)
    steps = await compiled.playback("anyfields", store=any_store)
    assert [s.state for s in steps][-1] == live.state
    fork = await compiled.fork("anyfields", 1, store=any_store)
    assert fork.state == live.state
    report = await compiled.replay("anyfields", store=any_store)
    assert report.matched, report.reason


async def test_a_command_sending_a_model_is_kept_pending_as_a_send(any_store: Store) -> None:
    seen: list[Any] = []
    tries = [0]

    def pick(state: Desk) -> Command:
        return Command(goto=Send("work", Topic(name="pending", depth=2)))

    def wobbly(state: Desk) -> dict[str, Any]:
        tries[0] += 1
        if tries[0] == 1:
            raise RuntimeError("down")
        return {"item": "wobbly ok"}

    g = Graph(Desk).add_node("pick", pick, goto=["work"]).add_node("wobbly", wobbly)
    g.add_node("work", fail_first([])).add_node("after", lambda s: {"things": ["after"]})
    g.add_edge(START, "pick").add_edge(START, "wobbly").add_edge("wobbly", "after")
    g.add_edge("work", END).add_edge("after", END)
    compiled = g.compile()
    first = await compiled.run(store=any_store, run_id="goto", raise_on_error=False)
    assert first.status is RunStatus.FAILED  # wobbly failed; pick's outcome is pending
    seen.clear()
    resumed = await compiled.resume("goto", store=any_store, raise_on_error=False)
    resumed = await compiled.resume("goto", store=any_store)  # work fails once, then runs
    assert resumed.status is RunStatus.COMPLETED
    assert resumed.state.done == ["pending:2"]


async def test_a_model_defined_in_a_function_is_refused_by_node_and_field(
    any_store: Store,
) -> None:
    class Local(BaseModel):
        x: int = 1

    g = Graph(Desk).add_node("put", lambda s: {"item": Local()})
    compiled = g.add_edge(START, "put").add_edge("put", END).compile()
    assert isinstance((await compiled.run()).state.item, Local)  # without a store: fine
    result = await compiled.run(store=any_store, run_id="local", raise_on_error=False)
    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, UnstorableValueError)
    assert (result.error.node, result.error.field) == ("put", "item")
    assert "inside a function" in str(result.error)
    assert (await any_store.get_run("local")).status == "failed"


@pytest.mark.parametrize("value", [{1, 2}, object()])
async def test_an_any_field_value_that_would_change_type_is_refused(
    any_store: Store, value: Any
) -> None:
    g = Graph(Desk).add_node("put", lambda s: {"item": value})
    compiled = g.add_edge(START, "put").add_edge("put", END).compile()
    result = await compiled.run(store=any_store, run_id="odd", raise_on_error=False)
    assert isinstance(result.error, UnstorableValueError)
    assert result.error.field == "item"
