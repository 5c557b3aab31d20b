"""Property: over random graphs, the stored run is the live run.

Hypothesis builds graphs out of stages in a chain: plain steps (some writing one field twice,
through ``ctx.update`` and their return), fan-outs with ``Send`` into a join (zero to three
workers), uneven and conditionally skipped branches into a join, loops capped by
``max_visits``, human interrupts, and flaky nodes with retries and an ``on_error`` handler.
For each graph and each store (memory, SQLite, PostgreSQL) it checks that

- the state rebuilt from the store after every step equals the live state after that step;
- the stored run's report data (path, node visits, retries, failures, each task's write)
  equals the live run's;
- a run stopped at any barrier, by a crash (the process dies), a failure (a node raises once)
  or a pause (a human node), and resumed from the store, ends in the state of a run that was
  not stopped.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from orchestrator import (
    END,
    START,
    Context,
    Graph,
    NodeFinished,
    RetryPolicy,
    RunStatus,
    Send,
    append,
    merge,
)
from orchestrator import durable as durable_module
from orchestrator.store import MemoryStore, SQLiteStore, Store
from visualize.runview import read_run


class S(BaseModel):
    log: Annotated[list[str], append] = []
    status: str = ""
    loops: Annotated[dict[str, int], merge] = {}
    answers: Annotated[list[str], append] = []


# --- graph specs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    kind: str  # plain | twice | fan | uneven | loop | human | flaky
    a: int = 0  # fan: workers; uneven: skip B when odd; loop: rounds wanted; flaky: failures
    b: int = 0  # loop: max_visits; flaky: attempts allowed
    handled: bool = False  # flaky: an on_error handler takes over once attempts run out


stages = st.one_of(
    st.builds(Stage, st.sampled_from(["plain", "twice", "human"])),
    st.builds(Stage, st.just("fan"), st.integers(0, 3)),
    st.builds(Stage, st.just("uneven"), st.integers(0, 1)),
    st.builds(Stage, st.just("loop"), st.integers(1, 4), st.integers(1, 4)),
    st.builds(Stage, st.just("flaky"), st.integers(0, 2), st.integers(1, 3), st.booleans()),
)
specs = st.lists(stages, min_size=1, max_size=5)


@dataclass
class Faults:
    """A fault armed for one run: a node raising once at ``fail_step``."""

    fail_step: int | None = None

    def check(self, ctx: Context[Any], guarded: bool) -> None:
        if guarded and ctx.step == self.fail_step:
            self.fail_step = None
            raise RuntimeError(f"injected failure at step {ctx.step}")


def build(spec: list[Stage], faults: Faults) -> Any:
    """The graph of ``spec``: its stages in a chain, START -> stage 0 -> ... -> END."""
    g = Graph(S, name="prop")
    entries = [f"s{i}" for i in range(len(spec))]

    def step(name: str, guarded: bool = True, twice: bool = False) -> Any:
        def node(state: S, ctx: Context[Any]) -> dict[str, Any]:
            faults.check(ctx, guarded)
            if twice:
                ctx.update(status=f"{name} working")
                return {"log": name, "status": f"{name} done"}
            tag = f"{name}:{ctx.payload}" if ctx.payload is not None else name
            return {"log": tag}

        return node

    for i, stage in enumerate(spec):
        entry = entries[i]
        nxt = entries[i + 1] if i + 1 < len(spec) else END
        if stage.kind in ("plain", "twice"):
            g.add_node(entry, step(entry, twice=stage.kind == "twice")).add_edge(entry, nxt)
        elif stage.kind == "human":
            g.add_human(entry, prompt=f"answer {entry}", field="answers")
            g.add_node(f"{entry}_after", _record_answer(entry, faults))
            g.add_edge(entry, f"{entry}_after").add_edge(f"{entry}_after", nxt)
        elif stage.kind == "fan":
            worker, join, workers = f"{entry}_w", f"{entry}_j", stage.a
            g.add_node(entry, step(entry)).add_node(worker, step(worker))
            g.add_join(join, step(join))

            def fan(state: S, join: str = join, worker: str = worker, n: int = workers) -> Any:
                return [Send(worker, k) for k in range(n)] if n else join

            g.add_route(entry, fan, [worker, join]).add_edge(worker, join).add_edge(join, nxt)
        elif stage.kind == "uneven":
            short, long1, long2, join = (f"{entry}_{x}" for x in ("a", "b1", "b2", "j"))
            for name in (entry, short, long1, long2):
                g.add_node(name, step(name))
            g.add_join(join, step(join))
            skip = bool(stage.a)
            g.add_edge(entry, short).add_edge(entry, long1, when=lambda s, skip=skip: not skip)
            g.add_edge(short, join).add_edge(long1, long2).add_edge(long2, join)
            g.add_edge(join, nxt)
        elif stage.kind == "loop":
            rounds = stage.a

            def body(state: S, ctx: Context[Any], name: str = entry) -> dict[str, Any]:
                faults.check(ctx, True)
                return {"loops": {name: state.loops.get(name, 0) + 1}, "log": name}

            def again(state: S, name: str = entry, rounds: int = rounds) -> str:
                return "again" if state.loops.get(name, 0) < rounds else "out"

            g.add_node(entry, body, max_visits=stage.b, on_cap=nxt)
            g.add_route(entry, again, {"again": entry, "out": nxt})
        elif stage.kind == "flaky":
            failures, attempts = stage.a, stage.b
            handler = f"{entry}_h"

            def flaky(state: S, ctx: Context[Any], name: str = entry, n: int = failures) -> Any:
                if ctx.attempt <= n:
                    raise ValueError(f"{name} attempt {ctx.attempt} fails")
                return {"log": f"{name} ok"}

            g.add_node(
                entry,
                flaky,
                retry=RetryPolicy(max_attempts=attempts, initial_delay=0),
                on_error=handler if stage.handled else None,
            )
            g.add_edge(entry, nxt)
            if stage.handled:
                g.add_node(handler, step(handler)).add_edge(handler, nxt)
    g.add_edge(START, entries[0])
    return g.compile()


def _record_answer(entry: str, faults: Faults) -> Any:
    def after(state: S, ctx: Context[Any]) -> dict[str, Any]:
        faults.check(ctx, True)
        return {"log": f"{entry}_after"}

    return after


def finishes(spec: list[Stage]) -> bool:
    """Whether the graph's run completes (a flaky node without a handler may fail for good)."""
    return all(s.kind != "flaky" or s.handled or s.a < s.b for s in spec)


# --- recording the live run --------------------------------------------------------------------


class Crash(BaseException):
    """The process dies: nothing more is written, nothing is marked."""


@dataclass
class Recorder:
    """Keeps the live state after every barrier; crashes at ``crash_step`` if set."""

    states: dict[tuple[str, int], BaseModel]
    crash_step: int | None = None


def install(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder({})
    barrier = durable_module.Persister.barrier

    async def recording(self: Any, rs: Any, step: int, outcomes: Any, writes: Any) -> None:
        await barrier(self, rs, step, outcomes, writes)
        recorder.states[(rs.run_id, step)] = rs.state
        if recorder.crash_step == step:
            recorder.crash_step = None
            raise Crash

    monkeypatch.setattr(durable_module.Persister, "barrier", recording)
    return recorder


async def drive(graph: Any, store: Store, run_id: str) -> Any:
    """Run to the end, answering every human node, resuming after a crash or a failure."""
    try:
        result = await graph.run(store=store, run_id=run_id, raise_on_error=False, events=True)
    except Crash:
        result = None
    for _ in range(50):
        if result is not None and result.status is RunStatus.COMPLETED:
            return result
        fresh = graph  # a new process would compile the same graph again
        if result is not None and result.status is RunStatus.WAITING:
            node = result.waiting[0].node
            try:
                result = await fresh.resume(
                    run_id, f"{node} answer", store=store, raise_on_error=False, events=True
                )
            except Crash:
                result = None
            continue
        try:
            result = await fresh.resume(run_id, store=store, raise_on_error=False, events=True)
        except Crash:
            result = None
    raise AssertionError(f"run {run_id} did not finish: {result}")


# --- the property ------------------------------------------------------------------------------


_ids = itertools.count()


async def check(spec: list[Stage], store: Store, recorder: Recorder, stop: tuple[str, int]) -> None:
    run_id = f"p{next(_ids)}"
    graph = build(spec, Faults())
    reference = await drive(graph, store, run_id)

    # Live states after each barrier equal the states rebuilt from the store.
    steps = await graph.playback(run_id, store=store)
    for view in steps[1:]:
        assert view.state == recorder.states[(run_id, view.step)], view.step
    assert steps[-1].state == reference.state

    # The report data of the stored run equals the live one (a run with no resumes: the live
    # result of a resumed run only holds its last part).
    if not any(s.kind == "human" for s in spec):
        stored = await graph.load(run_id, store=store)
        assert stored.path == reference.path
        assert stored.state == reference.state
        live_view, stored_view = read_run(reference), read_run(stored)
        for node, stats in live_view.nodes.items():
            got = stored_view.stats(node)
            assert (got.visits, got.retries, got.failed) == (
                stats.visits,
                stats.retries,
                stats.failed,
            ), node

        def finished(result: Any) -> list[Any]:
            events = [e for e in result.events if isinstance(e, NodeFinished)]
            return sorted((e.task_id, e.node, sorted(e.update.items())) for e in events)

        assert finished(stored) == finished(reference)

    # Stopped at a barrier and resumed: the same end.
    kind, at = stop
    last = max(1, steps[-1].step)
    at = 1 + at % last
    faults = Faults(fail_step=at if kind == "failure" else None)
    if kind == "crash":
        recorder.crash_step = at
    stopped_id = f"p{next(_ids)}"
    again = await drive(build(spec, faults), store, stopped_id)
    recorder.crash_step = None
    assert again.state == reference.state
    loaded = await graph.load(stopped_id, store=store)
    assert loaded.state == reference.state


stops = st.tuples(st.sampled_from(["crash", "failure", "none"]), st.integers(0, 40))


def run_property(
    make_store: Callable[[], Store],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[list[Stage], tuple[str, int]], None]:
    recorder = install(monkeypatch)
    monkeypatch.setattr(durable_module, "STORE_RETRY_DELAYS", ())

    def one(spec: list[Stage], stop: tuple[str, int]) -> None:
        async def go() -> None:
            store = make_store()
            try:
                await check(spec, store, recorder, stop)
            finally:
                await store.close()

        asyncio.run(go())

    return one


def given_graphs(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return lambda test: settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )(given(spec=specs.filter(finishes), stop=stops)(test))


@given_graphs(60)
def test_memory_store_keeps_the_live_run(
    spec: list[Stage], stop: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        run_property(MemoryStore, patch)(spec, stop)


@given_graphs(30)
def test_sqlite_store_keeps_the_live_run(
    spec: list[Stage], stop: tuple[str, int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with monkeypatch.context() as patch:
        run_property(lambda: SQLiteStore(tmp_path / "prop.db"), patch)(spec, stop)


@pytest.mark.postgres
@given_graphs(15)
def test_postgres_store_keeps_the_live_run(
    spec: list[Stage], stop: tuple[str, int], monkeypatch: pytest.MonkeyPatch, pg: Any
) -> None:
    from orchestrator.store.postgres import PostgresStore

    url = _database(pg)
    with monkeypatch.context() as patch:
        run_property(lambda: PostgresStore(url), patch)(spec, stop)


_made: dict[int, str] = {}


def _database(pg: Any) -> str:
    if id(pg) not in _made:
        _made[id(pg)] = pg.create_database("property")
    return _made[id(pg)]
