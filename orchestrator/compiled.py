"""`CompiledGraph`: a validated graph you can run, stream, resume and draw."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from .errors import ResumeError, SyncInLoopError
from .events import Event, RunStatus
from .run import RunOptions, RunResult, RunState
from .scheduler import Emit, Scheduler
from .store import Store, using_store
from .validate import check

if TYPE_CHECKING:
    from .graph import Graph

S = TypeVar("S", bound=BaseModel)

DEFAULT_MAX_STEPS = 10_000
_MISSING: Any = object()


class CompiledGraph(Generic[S]):
    """A graph that passed validation. Immutable; run it as often as you like, concurrently."""

    def __init__(self, graph: Graph[S]) -> None:
        # The builder stays editable after compile(): keep copies of everything mutable (nodes,
        # their meta, route mappings, the lists), made once here so no step pays for them.
        nodes = {
            name: dataclasses.replace(node, meta=dict(node.meta))
            for name, node in graph.nodes.items()
        }
        schema = graph.schema
        for node in nodes.values():
            bind = getattr(node.call, "bind", None)
            if bind is not None:  # agent nodes resolve their handoffs to nodes here
                node.goto = bind(nodes, schema.fields, schema.reducers)
        snapshot = copy.copy(graph)
        snapshot.nodes = nodes
        snapshot.edges = list(graph.edges)
        snapshot.routes = [dataclasses.replace(r, mapping=dict(r.mapping)) for r in graph.routes]
        snapshot.caps = list(graph.caps)
        self.topology = check(snapshot)
        self.name = graph.name
        self.schema = schema
        self.nodes = nodes
        self.declared_edges = tuple(snapshot.edges)
        self.routes = tuple(snapshot.routes)
        self.caps = tuple(snapshot.caps)
        self.model = graph.model
        self._scheduler = Scheduler(self)

    @property
    def state_model(self) -> type[S]:
        return self.schema.model

    @property
    def edges(self) -> tuple[Any, ...]:
        """Every declared edge (routes expanded per target), for drawing and inspection."""
        return self.topology.edges

    # --- running -------------------------------------------------------------------------

    def start(
        self,
        input: S | Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
    ) -> RunState:
        """A fresh run state for ``input``; `drive` it with `run`/`stream`/`continue_run`."""
        # 128 random bits as hex, like uuid4().hex, at a fifth of its cost (W6 starts 1000 runs).
        return RunState(
            run_id=run_id or os.urandom(16).hex(), graph=self.name, state=self.schema.coerce(input)
        )

    async def run(
        self,
        input: S | Mapping[str, Any] | None = None,
        *,
        deps: Any = None,
        run_id: str | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        concurrency: int | None = None,
        raise_on_error: bool = True,
        model: Any = None,
        model_provider: Any = None,
        options: RunOptions | None = None,
        store: Store | str | Path | None = None,
        snapshot_every: int | None = None,
    ) -> RunResult[S]:
        """Run the graph to completion (or until it pauses) and return its result.

        ``deps`` is handed to every node as ``ctx.deps`` and never checkpointed.
        ``concurrency`` bounds how many tasks of one step run at once. A failed run raises its
        error (``err.result`` holds the `RunResult`) unless ``raise_on_error=False``.
        With a ``store`` (a `Store`, a SQLite path, ``"memory"`` or a PostgreSQL URL) the run
        is checkpointed at every step and can be resumed, forked and replayed by its id.
        """
        rs = self.start(input, run_id=run_id)
        rs.options = self._options(options, model, model_provider)
        async with _maybe(store) as opened:
            return await self.continue_run(
                rs,
                deps=deps,
                max_steps=max_steps,
                concurrency=concurrency,
                raise_on_error=raise_on_error,
                hooks=None if opened is None else _persister(opened, self, snapshot_every),
            )

    def stream(
        self,
        input: S | Mapping[str, Any] | None = None,
        *,
        deps: Any = None,
        run_id: str | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        concurrency: int | None = None,
        model: Any = None,
        model_provider: Any = None,
        options: RunOptions | None = None,
        store: Store | str | Path | None = None,
    ) -> RunStream[S]:
        """Run the graph, yielding its events as they happen: ``async for event in stream``.

        After the loop, ``stream.result`` holds the `RunResult` (a failed run does not raise
        here: look at ``result.status``). With a ``store`` the run is checkpointed as by `run`.
        """
        rs = self.start(input, run_id=run_id)
        rs.options = self._options(options, model, model_provider)
        return RunStream(self, rs, deps, max_steps, concurrency, store)

    async def resume(
        self,
        run: RunResult[S] | RunState | str,
        value: Any = _MISSING,
        *,
        values: Mapping[str | int, Any] | None = None,
        deps: Any = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        concurrency: int | None = None,
        raise_on_error: bool = True,
        model: Any = None,
        model_provider: Any = None,
        options: RunOptions | None = None,
        store: Store | str | Path | None = None,
    ) -> RunResult[S]:
        """Go on with a paused run, answering its interrupt with ``value``.

        ``run`` is a result or run state from this process, or the id of a stored run (then
        ``store`` says where; default: ``orchestrator.db``) — in another process, days later.
        When the run waits in several tasks, pass ``values`` keyed by node name or task id.
        A failed run (or one whose process died) is resumed without a value: the tasks of its
        unfinished step that did not finish run again. The original result is left as it was.
        """
        from .durable import Persister, load, resumable

        # A run id means a stored run (the default store unless one is given).
        async with _maybe(store if store is not None or not isinstance(run, str) else "") as opened:
            if isinstance(run, str):
                assert opened is not None
                loaded, record = await load(opened, self, run)
                source = resumable(loaded, record)
            else:
                source = run.snapshot if isinstance(run, RunResult) else run
            answers = resume_answers(source, value, values)
            if opened is not None:
                asked = {w.task_id: w.request for w in source.waiting}
                for task_id, answer in answers.items():  # kept before the task runs again
                    entry = {"answer": answer, "asked": asked.get(task_id)}
                    await opened.add_resume(source.run_id, task_id, entry)
            rs = prepare_resume(source, answers)
            rs.options = self._resume_options(rs, options, model, model_provider)
            return await self.continue_run(
                rs,
                deps=deps,
                max_steps=max_steps,
                concurrency=concurrency,
                raise_on_error=raise_on_error,
                hooks=None if opened is None else Persister(opened, self, fresh=False),
            )

    def _resume_options(
        self, rs: RunState, options: RunOptions | None, model: Any, model_provider: Any
    ) -> RunOptions:
        if options is not None or model is not None or model_provider is not None:
            return self._options(options, model, model_provider)
        return rs.options or self._options(None, None, None)

    async def submit(
        self,
        input: S | Mapping[str, Any] | None = None,
        *,
        store: Store | str | Path,
        run_id: str | None = None,
        source: str | None = None,
    ) -> str:
        """Store a new run as ``queued`` without executing it, and return its id.

        Its first tasks (the routes out of START) are planned now; a run host (or
        ``resume(run_id)``) claims and drives it later. ``source`` (module:attribute) lets a
        host in another process find the graph.
        """
        from .durable import Persister

        rs = self.start(input, run_id=run_id)
        rs.options = RunOptions(graph=self.name, source=source)
        async with using_store(store) as opened:
            persister = Persister(opened, self, fresh=True, status=RunStatus.QUEUED)
            rs.started = True
            rs.tasks = self._scheduler._advance(rs, [], persister.emit)
            await persister.started(rs)
        return rs.run_id

    async def fork(
        self,
        run_id: str,
        step: int,
        *,
        set: Mapping[str, Any] | None = None,
        store: Store | str | Path | None = None,
        deps: Any = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        concurrency: int | None = None,
        raise_on_error: bool = True,
        model: Any = None,
        model_provider: Any = None,
    ) -> RunResult[S]:
        """Re-execute from step ``step`` of a stored run, as a new run (optionally with fields
        ``set`` to new values). The new run records its parent; the parent is untouched."""
        from .durable import Persister
        from .replay import fork_state

        async with using_store(store) as opened:
            rs = await fork_state(self, opened, run_id, step, set)
            rs.options = self._options(None, model, model_provider)
            rs.options.source = (await opened.get_run(run_id)).source
            hooks = Persister(opened, self, fresh=True, parent=(run_id, step), first_path=rs.path)
            result = await self.continue_run(
                rs,
                deps=deps,
                max_steps=max_steps,
                concurrency=concurrency,
                raise_on_error=raise_on_error,
                hooks=hooks,
            )
        result.parent_run, result.parent_step = run_id, step
        return result

    async def playback(self, run_id: str, *, store: Store | str | Path | None = None) -> Any:
        """The state at every step of a stored run, rebuilt from its log (`replay.StepView`s).
        Nothing executes."""
        from .replay import playback

        async with using_store(store) as opened:
            return await playback(self, opened, run_id)

    async def replay(
        self, run_id: str, *, store: Store | str | Path | None = None, deps: Any = None
    ) -> Any:
        """Recorded replay: run the graph's code again with every model call answered from the
        recording; the `replay.ReplayReport` names the first step that differs, if any."""
        from .replay import replay_recorded

        async with using_store(store) as opened:
            return await replay_recorded(self, opened, run_id, deps=deps)

    async def load(self, run_id: str, *, store: Store | str | Path | None = None) -> RunResult[S]:
        """A stored run as a `RunResult` (state, path, status, events) for drawing and showing."""
        from .replay import load_result

        async with using_store(store) as opened:
            result: RunResult[S] = await load_result(self, opened, run_id)
            return result

    async def continue_run(
        self,
        rs: RunState,
        *,
        deps: Any = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        concurrency: int | None = None,
        raise_on_error: bool = True,
        emit: Emit | None = None,
        hooks: Any = None,
    ) -> RunResult[S]:
        """Drive ``rs`` until it completes, fails or waits (the shared path of every run)."""
        events: list[Event] = []
        sinks: list[Emit] = [events.append]
        if hooks is not None:
            sinks.append(hooks.emit)
        if emit is not None:
            sinks.append(emit)
        sink = sinks[0]
        if len(sinks) > 1:

            def sink(event: Event) -> None:
                for each in sinks:
                    each(event)

        await self._scheduler.drive(
            rs, deps, sink, max_steps=max_steps, concurrency=concurrency, hooks=hooks
        )
        result = self._result(rs, events)
        if result.error is not None and raise_on_error:
            result.error.result = result
            raise result.error
        return result

    def _options(self, options: RunOptions | None, model: Any, model_provider: Any) -> RunOptions:
        """The run's options: ``options`` with the ``model``/``model_provider`` shortcuts."""
        if options is None:
            return RunOptions(
                graph=self.name,
                model=model,
                model_provider=model_provider,
                graph_model=self.model,
            )
        return dataclasses.replace(
            options,
            graph=options.graph or self.name,
            graph_model=self.model,
            model=model if model is not None else options.model,
            model_provider=model_provider if model_provider is not None else options.model_provider,
        )

    def run_sync(
        self,
        input: S | Mapping[str, Any] | None = None,
        **options: Any,
    ) -> RunResult[S]:
        """`run` for scripts: fails clearly when called inside a running event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.run(input, **options))
        raise SyncInLoopError()

    def _result(self, rs: RunState, events: list[Event]) -> RunResult[S]:
        state = rs.state
        assert isinstance(state, self.schema.model)
        return RunResult(
            run_id=rs.run_id,
            graph=self.name,
            status=rs.status,
            state=state,
            path=list(rs.path),
            visits=dict(rs.visits),
            steps=rs.step,
            events=events,
            waiting=list(rs.waiting),
            error=rs.error,
            snapshot=rs,
            compiled=self,
        )

    # --- drawing (lazy: visualize is optional at import time) -----------------------------

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        try:
            from visualize import mimebundle
        except ImportError:  # pragma: no cover - visualize ships with the package
            return {"text/plain": repr(self)}
        result: dict[str, Any] = mimebundle(self)
        return result

    def __repr__(self) -> str:
        return f"<CompiledGraph {self.name!r}: {len(self.nodes)} nodes, {len(self.edges)} edges>"


@asynccontextmanager
async def _maybe(store: Store | str | Path | None) -> AsyncIterator[Store | None]:
    """The store a call uses, or None for a run kept in memory only. An empty string means
    the default store."""
    if store is None:
        yield None
        return
    async with using_store(store or None) as opened:
        yield opened


def _persister(store: Store, graph: CompiledGraph[Any], snapshot_every: int | None) -> Any:
    from .durable import Persister

    return Persister(store, graph, fresh=True, snapshot_every=snapshot_every)


def resume_answers(
    rs: RunState, value: Any, values: Mapping[str | int, Any] | None
) -> dict[int, Any]:
    """The resume value of each waiting task (by task id), checked against what the run waits
    for; empty for a failed run, which goes on without values."""
    if rs.status is RunStatus.COMPLETED:
        raise ResumeError(
            f"run {rs.run_id} has already completed; fork it from a step to run it again"
        )
    if rs.status is RunStatus.RUNNING and rs.started:
        raise ResumeError(f"run {rs.run_id} is still running; wait for it to stop first")
    if rs.status is not RunStatus.WAITING:
        return {}
    if values is not None:
        answers: dict[int, Any] = {}
        for key, answer in values.items():
            hits = [w.task_id for w in rs.waiting if key in (w.task_id, w.node)]
            if not hits:
                raise ResumeError(
                    f"run {rs.run_id} does not wait in {key!r}; it waits in "
                    f"{', '.join(sorted(w.node for w in rs.waiting))}"
                )
            for task_id in hits:
                if key == task_id:
                    answers[task_id] = answer  # a task id wins over its node's name
                else:
                    answers.setdefault(task_id, answer)
        return answers
    if value is _MISSING:
        raise ResumeError(f"run {rs.run_id} is waiting for input; resume it with a value")
    if len(rs.waiting) != 1:
        raise ResumeError(
            f"run {rs.run_id} waits in {len(rs.waiting)} tasks "
            f"({', '.join(w.node for w in rs.waiting)}); pass values={{node: value}}"
        )
    return {rs.waiting[0].task_id: value}


def prepare_resume(rs: RunState, answers: Mapping[int, Any]) -> RunState:
    """A copy of a paused or failed run state, with resume values attached to its tasks."""
    rs = rs.clone()
    for task in rs.tasks:
        if task.id in answers:
            task.resume = [*(task.resume or ()), answers[task.id]]
            request = next((w.request for w in rs.waiting if w.task_id == task.id), None)
            task.asked = [*(task.asked or ()), request]
    rs.status = RunStatus.RUNNING
    rs.error = None
    return rs


class RunStream(Generic[S]):
    """The events of one run as an async iterator; ``result`` is set once it is exhausted."""

    def __init__(
        self,
        graph: CompiledGraph[S],
        rs: RunState,
        deps: Any,
        max_steps: int,
        concurrency: int | None,
        store: Store | str | Path | None = None,
    ) -> None:
        self._graph, self._rs, self._deps = graph, rs, deps
        self._max_steps, self._concurrency, self._store = max_steps, concurrency, store
        self.result: RunResult[S] | None = None

    @property
    def run_id(self) -> str:
        return self._rs.run_id

    async def __aiter__(self) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue()

        async def drive() -> RunResult[S]:
            try:
                async with _maybe(self._store) as opened:
                    return await self._graph.continue_run(
                        self._rs,
                        deps=self._deps,
                        max_steps=self._max_steps,
                        concurrency=self._concurrency,
                        raise_on_error=False,
                        emit=queue.put_nowait,
                        hooks=None if opened is None else _persister(opened, self._graph, None),
                    )
            finally:
                queue.put_nowait(None)

        runner = asyncio.ensure_future(drive())
        try:
            while (event := await queue.get()) is not None:
                yield event
            self.result = await runner
        finally:
            if not runner.done():
                runner.cancel()
