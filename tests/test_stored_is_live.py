"""The stored run is the run that happened: each defect found by trying the engine as a user
would, shown live and then through every store (load, playback, fork, recorded replay, the
report's data)."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, field_validator

from orchestrator import (
    END,
    START,
    Context,
    Graph,
    RetryPolicy,
    RunStatus,
    Send,
    StoreError,
    append,
)
from orchestrator.events import NodeFailed, NodeFinished, NodeStarted
from orchestrator.records import REF
from orchestrator.store import MemoryStore, SQLiteStore, Store
from visualize.runview import read_run


def writes(name: str) -> Any:
    """A node that appends its name to ``out``."""

    def node(state: Any) -> dict[str, Any]:
        return {"out": name}

    return node


class Doc(BaseModel):
    status: str = ""
    notes: list[str] = []
    data: dict[str, Any] = {}
    out: Annotated[list[str], append] = []


async def stored_matches_live(graph: Any, store: Store, run_id: str, live: Any) -> None:
    """What every reader of a stored run sees is what the live run had."""
    loaded = await graph.load(run_id, store=store)
    assert loaded.state == live.state
    assert loaded.path == live.path
    steps = await graph.playback(run_id, store=store)
    assert steps[-1].state == live.state
    report = await graph.replay(run_id, store=store)
    assert report.matched, report.reason
    assert report.result.state == live.state


async def test_a_task_writing_one_field_twice_loads_back(any_store: Store) -> None:
    def work(state: Doc, ctx: Context[None]) -> dict[str, Any]:
        ctx.update(status="working")
        return {"status": "done"}

    g = Graph(Doc).add_node("work", work).add_edge(START, "work").add_edge("work", END).compile()
    live = await g.run(store=any_store, run_id="twice")
    assert live.state.status == "done"
    await stored_matches_live(g, any_store, "twice", live)
    fork = await g.fork("twice", 0, store=any_store)
    assert fork.state.status == "done"


async def test_a_value_shaped_like_the_stores_marker_comes_back_as_written(
    any_store: Store,
) -> None:
    sneaky = {REF: "field", "field": "notes"}

    def first(state: Doc) -> dict[str, Any]:
        return {"notes": ["mine"]}

    def second(state: Doc) -> dict[str, Any]:
        return {"data": dict(sneaky), "out": dict(sneaky)}

    class Loose(BaseModel):
        notes: list[str] = []
        data: dict[str, Any] = {}
        out: Annotated[list[Any], append] = []

    g = Graph(Loose).add_node("first", first).add_node("second", second)
    g.add_edge(START, "first").add_edge("first", "second").add_edge("second", END)
    compiled = g.compile()
    live = await compiled.run(store=any_store, run_id="marker")
    assert live.state.data == sneaky and live.state.out == [sneaky]
    await stored_matches_live(compiled, any_store, "marker", live)


async def test_a_list_mutated_in_place_and_returned_is_stored_as_applied(
    any_store: Store,
) -> None:
    def seed(state: Doc) -> dict[str, Any]:
        return {"notes": ["a"]}

    def grow(state: Doc) -> dict[str, Any]:
        state.notes.append("b")  # mutates the state it was given, then hands the list back
        return {"notes": state.notes}

    g = Graph(Doc).add_node("seed", seed).add_node("grow", grow)
    g.add_edge(START, "seed").add_edge("seed", "grow").add_edge("grow", END)
    compiled = g.compile()
    live = await compiled.run(store=any_store, run_id="inplace")
    assert live.state.notes == ["a", "b"]
    await stored_matches_live(compiled, any_store, "inplace", live)


def uneven_join() -> Any:
    """START fans out to a (one step) and b -> b2 (two steps); both meet in a join."""
    g = Graph(Doc)
    for name in ("a", "b", "b2"):
        g.add_node(name, writes(name))
    g.add_join("merge", lambda s: {"status": "+".join(sorted(s.out))})
    g.add_edge(START, "a").add_edge(START, "b").add_edge("b", "b2")
    g.add_edge("a", "merge").add_edge("b2", "merge").add_edge("merge", END)
    return g.compile()


async def test_a_fork_from_a_step_with_a_half_arrived_join_runs_the_join(
    any_store: Store,
) -> None:
    g = uneven_join()
    live = await g.run(store=any_store, run_id="join")
    assert live.state.status == "a+b+b2"
    first = (await any_store.checkpoints("join", from_snapshot=False))[1]
    assert first.joins == {"merge": ["a"]}  # a arrived at step 1, b2 not yet
    fork = await g.fork("join", 1, store=any_store)
    assert fork.state == live.state
    assert fork.path[-1] == "merge"


def fan_out() -> Any:
    def plan(state: Doc) -> list[Send]:
        return [Send("work", p) for p in ("x", "y", "z")]

    def work(state: Doc, ctx: Context[None]) -> dict[str, Any]:
        return {"out": f"did {ctx.payload}"}

    g = Graph(Doc).add_node("work", work)
    g.add_route(START, plan, ["work"]).add_edge("work", END)
    return g.compile()


async def test_the_stored_report_shows_each_fan_out_task_with_its_own_write(
    any_store: Store,
) -> None:
    g = fan_out()
    live = await g.run(store=any_store, run_id="fan", events=True)
    stored = await g.load("fan", store=any_store)

    def finished(result: Any) -> list[tuple[str, int, dict[str, Any]]]:
        return sorted(
            (e.node, e.task_id, e.update) for e in result.events if isinstance(e, NodeFinished)
        )

    assert len(finished(live)) == 3
    assert finished(stored) == finished(live)


async def test_the_stored_report_shows_a_failed_node_as_the_live_one(any_store: Store) -> None:
    def bad(state: Doc) -> dict[str, Any]:
        raise ValueError("no luck")

    g = (
        Graph(Doc)
        .add_node("ok", lambda s: {"notes": ["ok"]})
        .add_node("bad", bad, retry=RetryPolicy(max_attempts=2, initial_delay=0))
    )
    g.add_edge(START, "ok").add_edge("ok", "bad").add_edge("bad", END)
    compiled = g.compile()
    live = await compiled.run(store=any_store, run_id="bad", raise_on_error=False, events=True)
    assert live.status is RunStatus.FAILED
    stored = await compiled.load("bad", store=any_store)
    live_view, stored_view = read_run(live), read_run(stored)
    assert stored_view.status == "failed"
    for node in ("ok", "bad"):
        live_stats, stored_stats = live_view.stats(node), stored_view.stats(node)
        assert (stored_stats.visits, stored_stats.retries, stored_stats.failed) == (
            live_stats.visits,
            live_stats.retries,
            live_stats.failed,
        ), node
    assert stored_view.stats("bad").visits == 1 and stored_view.stats("bad").failed
    assert any(isinstance(e, NodeStarted) and e.node == "bad" for e in stored.events)
    assert any(isinstance(e, NodeFailed) and e.node == "bad" for e in stored.events)


def chain(n: int) -> Any:
    g = Graph(Doc)
    names = [f"n{i}" for i in range(n)]
    for name in names:
        g.add_node(name, writes(name))
    g.add_edge(START, names[0])
    for a, b in itertools.pairwise(names):
        g.add_edge(a, b)
    g.add_edge(names[-1], END)
    return g.compile()


async def test_a_lost_checkpoint_row_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    g = chain(4)
    store = SQLiteStore(path)
    await g.run(store=store, run_id="gap")
    await store.close()
    with sqlite3.connect(path) as db:
        steps = [row[0] for row in db.execute("SELECT rowid & 4294967295 FROM checkpoints")]
        assert sorted(steps) == [0, 1, 2, 3, 4]
        db.execute("DELETE FROM checkpoints WHERE (rowid & 4294967295) = 2")
    store = SQLiteStore(path)
    for read in (g.load, g.playback, g.resume):
        with pytest.raises(StoreError, match=r"'gap'.*step 1 to step 3"):
            await read("gap", store=store)
    await store.close()


async def test_a_reducer_that_raises_fails_the_run_by_name_and_the_store_says_failed(
    any_store: Store,
) -> None:
    def picky(current: list[str], new: list[str]) -> list[str]:
        raise TypeError("cannot merge")

    class Picky(BaseModel):
        items: Annotated[list[str], picky] = []

    g = Graph(Picky).add_node("w", lambda s: {"items": ["x"]})
    compiled = g.add_edge(START, "w").add_edge("w", END).compile()
    result = await compiled.run(store=any_store, run_id="picky", raise_on_error=False)
    assert result.status is RunStatus.FAILED
    assert "'w'" in str(result.error) and "'items'" in str(result.error)
    assert (await any_store.get_run("picky")).status == "failed"


class BrokenStore(MemoryStore):
    """A store with a bug: the second checkpoint write raises something unexpected."""

    def __init__(self) -> None:
        super().__init__()
        self.saves = 0

    async def save_step(self, checkpoint: Any, events: Any, *, fence: Any = None) -> int:
        self.saves += 1
        if self.saves == 2:
            raise RuntimeError("a bug in the store")
        return await super().save_step(checkpoint, events, fence=fence)


async def test_an_unexpected_engine_error_fails_the_run_and_is_stored() -> None:
    store = BrokenStore()
    result = await chain(4).run(store=store, run_id="bug", raise_on_error=False)
    assert result.status is RunStatus.FAILED
    assert type(result.error).__name__ == "EngineError"
    assert "a bug in the store" in str(result.error)
    record = await store.get_run("bug")
    assert record.status == "failed" and "a bug in the store" in (record.error or "")


async def test_a_cancelled_run_is_stored_interrupted_and_resumes(any_store: Store) -> None:
    gate = asyncio.Event()

    async def wait(state: Doc) -> dict[str, Any]:
        await gate.wait()
        return {"out": "waited"}

    g = Graph(Doc).add_node("first", writes("first")).add_node("wait", wait)
    g.add_edge(START, "first").add_edge("first", "wait").add_edge("wait", END)
    compiled = g.compile()
    running = asyncio.create_task(compiled.run(store=any_store, run_id="cancel"))
    for _ in range(1000):  # until step 1 (first) is stored and wait hangs in step 2
        if await exists(any_store, "cancel") and (await any_store.get_run("cancel")).steps:
            break
        await asyncio.sleep(0.01)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert (await any_store.get_run("cancel")).status == "interrupted"
    gate.set()
    result = await compiled.resume("cancel", store=any_store)
    assert result.status is RunStatus.COMPLETED
    assert result.state.out == ["first", "waited"]


async def exists(store: Store, run_id: str) -> bool:
    return any(r.run_id == run_id for r in await store.list_runs())


async def test_a_cancel_mid_step_keeps_the_branches_that_finished(any_store: Store) -> None:
    gate = asyncio.Event()
    ran: list[str] = []

    async def quick(state: Doc) -> dict[str, Any]:
        ran.append("quick")
        return {"out": "quick"}

    async def slow(state: Doc) -> dict[str, Any]:
        ran.append("slow")
        await gate.wait()
        return {"out": "slow"}

    g = Graph(Doc).add_node("quick", quick).add_node("slow", slow)
    g.add_edge(START, "quick").add_edge(START, "slow").add_edge("quick", END)
    compiled = g.add_edge("slow", END).compile()
    running = asyncio.create_task(compiled.run(store=any_store, run_id="midstep"))
    for _ in range(1000):  # until quick's result is kept and slow hangs
        if await exists(any_store, "midstep") and await any_store.pending("midstep", 1):
            break
        await asyncio.sleep(0.01)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert (await any_store.get_run("midstep")).status == "interrupted"
    gate.set()
    result = await compiled.resume("midstep", store=any_store)
    assert sorted(result.state.out) == ["quick", "slow"]
    assert ran.count("quick") == 1 and ran.count("slow") == 2


def _reducer_raising_value_error(current: list[str], new: list[str]) -> list[str]:
    raise ValueError("cannot merge")


class Validated(BaseModel):
    items: Annotated[list[str], _reducer_raising_value_error] = []
    name: str = ""

    @field_validator("name")
    @classmethod
    def _no_bad_names(cls, value: str) -> str:
        if value == "bad":
            raise RuntimeError("validator blew up")
        return value


@pytest.mark.parametrize("write", [{"items": ["x"]}, {"name": "bad"}])
async def test_a_raising_reducer_or_validator_fails_the_run_by_name_stored_and_resumed(
    any_store: Store, write: dict[str, Any]
) -> None:
    g = Graph(Validated).add_node("w", lambda s: dict(write))
    compiled = g.add_edge(START, "w").add_edge("w", END).compile()
    result = await compiled.run(store=any_store, run_id="raising", raise_on_error=False)
    assert result.status is RunStatus.FAILED
    field = next(iter(write))
    assert "'w'" in str(result.error) and repr(field) in str(result.error)
    record = await any_store.get_run("raising")
    assert record.status == "failed" and record.error
    again = await compiled.resume("raising", store=any_store, raise_on_error=False)
    assert again.status is RunStatus.FAILED and repr(field) in str(again.error)


class _Dies(BaseException):
    """The process dies here: no handler of the engine sees it."""


async def test_a_run_whose_process_died_lists_the_steps_it_reached(tmp_path: Path) -> None:
    def third(state: Doc) -> dict[str, Any]:
        raise _Dies

    g = Graph(Doc).add_node("a", writes("a")).add_node("b", writes("b")).add_node("c", third)
    compiled = g.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", END)
    store = SQLiteStore(tmp_path / "died.db")
    with pytest.raises(_Dies):
        await compiled.compile().run(store=store, run_id="died")
    [record] = await store.list_runs()
    assert (record.status, record.steps) == ("running", 2)
    assert (await store.get_run("died")).steps == 2
    await store.close()
