"""`CompiledGraph`: a validated graph you can run, stream, resume and draw."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel
from typing_extensions import Unpack

from .config import DEFAULT_MAX_STEPS, DEFAULTS, RunConfig, Settings
from .context import enter_run, leave_run
from .errors import InvalidGraphError, ResumeError, SyncInLoopError
from .events import EdgeTaken, Event, ModelCalled, RunStatus
from .run import Outcome, RunOptions, RunResult, RunState, Task
from .scheduler import Scheduler
from .spec import Emit
from .store import Store, using_store
from .tracing import run_tracer
from .validate import check

if TYPE_CHECKING:
    from .graph import Graph

S = TypeVar("S", bound=BaseModel)

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
        # Breakpoints of every run (see `Graph.compile`): nodes to pause before / after.
        self.breakpoints: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
        self._scheduler = Scheduler(self)

    def check_breakpoints(
        self, before: Sequence[str] | str | None, after: Sequence[str] | str | None
    ) -> tuple[frozenset[str], frozenset[str]]:
        """Breakpoint node names as sets, refusing a name that is not a node."""
        sets = []
        for option, names in (("interrupt_before", before), ("interrupt_after", after)):
            found = frozenset([names] if isinstance(names, str) else names or ())
            unknown = sorted(found - set(self.nodes) - {"*"})
            if unknown:
                raise InvalidGraphError(
                    f"{option} names {', '.join(map(repr, unknown))}, not a node of graph "
                    f"{self.name!r}; nodes are {', '.join(sorted(self.nodes))} (or '*')"
                )
            sets.append(found)
        return sets[0], sets[1]

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
        run_id: str | None = None,
        config: RunConfig | None = None,
        **settings: Unpack[Settings],
    ) -> RunResult[S]:
        """Run the graph to completion (or until it pauses) and return its result.

        The settings (`RunConfig`, or keyword arguments of the same names): ``store`` (a
        `Store`, a SQLite path, ``"memory"`` or a PostgreSQL URL: the run is checkpointed at
        every step and can be resumed, forked and replayed by its id), ``deps`` (handed to
        every node as ``ctx.deps``, never checkpointed), ``max_steps``, ``concurrency`` (tasks
        of one step at once), ``raise_on_error`` (a failed run raises its error, whose
        ``.result`` holds the `RunResult`), ``model``, ``model_provider``, ``options``,
        ``snapshot_every`` and ``events`` (keep every event in ``result.events``).
        """
        cfg = (config or DEFAULTS).merged(settings)
        rs = self.start(input, run_id=run_id)
        rs.options = self._options(cfg.options, cfg.model, cfg.model_provider)
        if cfg.store is None:  # in memory only: no context to enter (W6 starts 1000 runs)
            return await self._drive(rs, cfg)
        async with _maybe(cfg.store) as opened:
            assert opened is not None
            return await self._drive(rs, cfg, _persister(opened, self, cfg.snapshot_every))

    def stream(
        self,
        input: S | Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        config: RunConfig | None = None,
        **settings: Unpack[Settings],
    ) -> RunStream[S]:
        """Run the graph, yielding its events as they happen: ``async for event in stream``.

        After the loop, ``stream.result`` holds the `RunResult` (a failed run does not raise
        here: look at ``result.status``). Settings as for `run`.
        """
        cfg = (config or DEFAULTS).merged(settings)
        rs = self.start(input, run_id=run_id)
        rs.options = self._options(cfg.options, cfg.model, cfg.model_provider)
        return RunStream(self, rs, cfg)

    def iter(
        self,
        input: S | Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        config: RunConfig | None = None,
        **settings: Unpack[Settings],
    ) -> RunIter[S]:
        """Drive a run one step at a time (a test, a debugger, a person at a prompt)::

            async with graph.iter(x, store="runs.db") as run:
                while (step := await run.next()) is not None:
                    print(step.step, step.ran, step.state)
            print(run.result.status)

        Each `next` runs one step to its barrier (and its checkpoint) and returns a
        `StepView` of it, or None once the run has ended (completed, failed or waiting).
        Leaving the block early stops the run where it is: with a store it is marked
        interrupted and resumes from its last step. Settings as for `run`; the same
        scheduler drives `run`, `stream` and `iter`.
        """
        cfg = (config or DEFAULTS).merged(settings)
        rs = self.start(input, run_id=run_id)
        rs.options = self._options(cfg.options, cfg.model, cfg.model_provider)
        return RunIter(self, rs, cfg)

    async def resume(
        self,
        run: RunResult[S] | RunState | str,
        value: Any = _MISSING,
        *,
        values: Mapping[str | int, Any] | None = None,
        update: Mapping[str, Any] | None = None,
        as_node: str | None = None,
        config: RunConfig | None = None,
        **settings: Unpack[Settings],
    ) -> RunResult[S]:
        """Go on with a paused run, answering its interrupt with ``value``.

        ``update`` is applied first, as its own step, through the reducers (LangGraph's
        ``Command(resume=..., update=...)``): the paused tasks then run on the updated state.
        With ``as_node`` the update is that node's write and its edges decide what runs next,
        in place of the paused tasks (LangGraph's ``update_state(..., as_node=...)`` followed
        by a resume); the run is then not answered, so give no ``value``.

        ``run`` is a result or run state from this process, or the id of a stored run (then
        ``store`` says where; default: ``orchestrator.db``) — in another process, days later.
        When the run waits in several tasks, pass ``values`` keyed by node name or task id.
        A failed or interrupted run (or one whose process died) is resumed without a value:
        the tasks of its unfinished step that did not finish run again. The original result
        is left as it was. Settings as for `run`.
        """
        from .durable import Persister

        cfg = (config or DEFAULTS).merged(settings)
        store = cfg.store
        # A run id means a stored run (the default store unless one is given).
        async with _maybe(store if store is not None or not isinstance(run, str) else "") as opened:
            hooks = None if opened is None else Persister(opened, self, fresh=False)
            run_id = run if isinstance(run, str) else run.run_id
            if hooks is not None:
                # The run's lease first: a second driver is refused before reading or
                # writing anything of it.
                await hooks.take(run_id)
            try:
                rs = await self._resume_state(run, opened, value, values, update, as_node, cfg)
            except BaseException:
                if hooks is not None:
                    with contextlib.suppress(Exception):
                        await hooks.let_go()  # refused: the run is free again
                raise
            return await self._drive(rs, cfg, hooks)

    async def _resume_state(
        self,
        run: RunResult[S] | RunState | str,
        opened: Store | None,
        value: Any,
        values: Mapping[str | int, Any] | None,
        update: Mapping[str, Any] | None,
        as_node: str | None,
        cfg: RunConfig,
    ) -> RunState:
        """The run state `resume` drives: loaded (or given), answered and edited."""
        from .durable import load, resumable
        from .replay import check_edit

        if isinstance(run, str):
            assert opened is not None
            loaded, record = await load(opened, self, run)
            source = resumable(loaded, record)
        else:
            source = run.snapshot if isinstance(run, RunResult) else run
        if as_node is not None and (value is not _MISSING or values):
            raise ResumeError(
                f"cannot resume run {source.run_id} with both an answer and as_node="
                f"{as_node!r}: the update as {as_node!r} decides what runs next in place of "
                "the task that asked; give one or the other"
            )
        if as_node is not None:
            check_resumable(source)
            answers: dict[int, Any] = {}
        else:
            answers = resume_answers(source, value, values)
        edit = check_edit(self, source, update, as_node, "resume")
        if opened is not None:
            asked = {w.task_id: w.request for w in source.waiting}
            for task_id, answer in answers.items():  # kept before the task runs again
                entry = {"answer": answer, "asked": asked.get(task_id)}
                await opened.add_resume(source.run_id, task_id, entry)
        rs = prepare_resume(source, answers)
        rs.edit = edit
        rs.options = self._resume_options(rs, cfg.options, cfg.model, cfg.model_provider)
        return rs

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
        update: Mapping[str, Any] | None = None,
        as_node: str | None = None,
        config: RunConfig | None = None,
        **settings: Unpack[Settings],
    ) -> RunResult[S]:
        """Re-execute from step ``step`` of a stored run, as a new run. The new run records
        its parent; the parent is untouched. Settings as for `run` (``store`` says where the
        parent is; the fork goes there too).

        Two ways to change the fork (both may be given; ``set`` is applied first):

        - ``set``: fields replaced at that step (no reducers, as a person edits a form); the
          route out of the step is then decided again on the edited state, so an edit that
          changes a router's answer changes what the fork runs next;
        - ``update`` (and ``as_node``): applied as its own first step of the fork, through
          the reducers, as if node ``as_node`` had written it; that node's edges decide what
          runs next (LangGraph's ``update_state(..., as_node=...)``). Without ``as_node`` the
          tasks planned at the step run next, on the updated state.
        """
        from .durable import Persister
        from .replay import check_edit, fork_state

        cfg = (config or DEFAULTS).merged(settings)
        async with using_store(cfg.store) as opened:
            rs = await fork_state(self, opened, run_id, step, set, self._replan)
            rs.edit = check_edit(self, rs, update, as_node, "fork")
            rs.options = self._options(cfg.options, cfg.model, cfg.model_provider)
            rs.options.source = (await opened.get_run(run_id)).source
            hooks = Persister(
                opened,
                self,
                fresh=True,
                parent=(run_id, step),
                first_path=rs.path,
                first_edit={"by": "fork", "set": sorted(set)} if set else None,
                snapshot_every=cfg.snapshot_every,
            )
            result = await self._drive(rs, cfg, hooks)
        result.parent_run, result.parent_step = run_id, step
        return result

    def _replan(self, rs: RunState, outcomes: list[Outcome]) -> list[Task]:
        return self._scheduler._advance(rs, outcomes, _ignore)

    async def playback(self, run_id: str, *, store: Store | str | Path | None = None) -> Any:
        """The state at every step of a stored run, rebuilt from its log (`replay.StepView`s).
        Nothing executes."""
        from .replay import playback

        async with using_store(store) as opened:
            return await playback(self, opened, run_id)

    async def replay(
        self,
        run_id: str,
        *,
        store: Store | str | Path | None = None,
        deps: Any = None,
        context: Any = None,
        run_config: Any = None,
        hooks: Any = None,
        max_turns: int | None = None,
        session: Any = None,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
    ) -> Any:
        """Recorded replay: run the graph's code again with every model call answered from the
        recording; the `replay.ReplayReport` names the first step that differs, if any.

        Give it what the recorded run was given that its code reads: ``deps``, and the Agents
        SDK's ``context`` (what tools, instructions, guardrails and hooks see as
        ``wrapper.context``), ``run_config``, ``hooks``, ``max_turns``, ``session`` (a copy
        of the session as it was when the run started: the replay writes to it) and
        ``previous_response_id`` / ``conversation_id``, as `run` takes them. There is no model
        to give: nothing is asked of one."""
        from .replay import replay_recorded

        options = {
            "context": context,
            "run_config": run_config,
            "hooks": hooks,
            "max_turns": max_turns,
            "session": session,
            "previous_response_id": previous_response_id,
            "conversation_id": conversation_id,
        }
        async with using_store(store) as opened:
            return await replay_recorded(self, opened, run_id, deps=deps, agent_options=options)

    async def load(self, run_id: str, *, store: Store | str | Path | None = None) -> RunResult[S]:
        """A stored run as a `RunResult` (state, path, status, events) for drawing and showing."""
        from .replay import load_result

        async with using_store(store) as opened:
            result: RunResult[S] = await load_result(self, opened, run_id)
            return result

    async def clear_cache(
        self, *, store: Store | str | Path | None = None, nodes: Sequence[str] | None = None
    ) -> int:
        """Remove the node cache's entries (see `orchestrator.cache`) of ``nodes`` (default:
        every node of the graph) from ``store``, or from this process's cache when no store is
        given; returns how many were removed. A name that is not a node is refused.

            >>> from pydantic import BaseModel
            >>> from orchestrator import END, START, CachePolicy, Graph
            >>> class S(BaseModel):
            ...     n: int = 0
            >>> g = Graph(S, name="cached").add_node("inc", lambda s: {"n": s.n + 1},
            ...     cache=CachePolicy())
            >>> graph = g.add_edge(START, "inc").add_edge("inc", END).compile()
            >>> graph.run_sync().state.n
            1
            >>> import asyncio
            >>> asyncio.run(graph.clear_cache(nodes=["inc"]))
            1
        """
        from .cache import clear, local_cache

        names = list(self.nodes) if nodes is None else list(nodes)
        unknown = sorted(set(names) - set(self.nodes))
        if unknown:
            raise InvalidGraphError(
                f"clear_cache: {', '.join(map(repr, unknown))} is not a node of graph "
                f"{self.name!r}; nodes are {', '.join(sorted(self.nodes))}"
            )
        async with _maybe(store) as opened:
            return await clear(local_cache(self) if opened is None else opened, self.name, names)

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
        events: bool = True,
        agent_options: Mapping[str, Any] | None = None,
    ) -> RunResult[S]:
        """Drive ``rs`` until it completes, fails or waits, with ``hooks`` (a `Persister`, or
        anything with its methods) — for run hosts and tests; `run` and friends call this.
        ``agent_options``: the Agents SDK settings of the run (``context``, ``run_config``,
        ``hooks``, ``max_turns``, ``session``...), as `run` takes them."""
        cfg = RunConfig(
            deps=deps,
            max_steps=max_steps,
            concurrency=concurrency,
            raise_on_error=raise_on_error,
            events=events,
            **(agent_options or {}),
        )
        return await self._drive(rs, cfg, hooks, emit)

    async def _drive(
        self,
        rs: RunState,
        cfg: RunConfig,
        hooks: Any = None,
        emit: Emit | None = None,
        gate: Any = None,
    ) -> RunResult[S]:
        """The one path every run takes: the scheduler drives ``rs`` (pausing at ``gate``
        after each step, for `iter`), then the result is built."""
        kept: list[Event] = []
        listener = cfg.on_event
        tracer = run_tracer(self, cfg, rs.run_id)  # the Agents SDK's trace of this run, if any
        rs.quiet = not cfg.events and hooks is None and emit is None and listener is None
        rs.quiet = rs.quiet and tracer is None
        sinks: list[Emit] = [kept.append if cfg.events else _usage_only(kept)]
        if tracer is not None:
            sinks.append(tracer)
        if hooks is not None:
            sinks.append(hooks.emit)
        if emit is not None:
            sinks.append(emit)
        if listener is not None:
            sinks.append(listener)
        sink = sinks[0]
        if len(sinks) > 1:

            def sink(event: Event) -> None:
                for each in sinks:
                    each(event)

        before, after = self.breakpoints
        if cfg.interrupt_before is not None or cfg.interrupt_after is not None:
            extra = self.check_breakpoints(cfg.interrupt_before, cfg.interrupt_after)
            before, after = before | extra[0], after | extra[1]
        outer = enter_run(cfg)  # agent nodes read the Agents SDK settings from here
        try:
            await self._scheduler.drive(
                rs,
                cfg.deps,
                sink,
                max_steps=cfg.max_steps,
                concurrency=cfg.concurrency,
                hooks=hooks,
                gate=gate,
                before=before or None,
                after=after or None,
            )
        except BaseException:
            # Stopped by something the scheduler does not catch (KeyboardInterrupt, SystemExit
            # in this task): the run stays as its last checkpoint left it, but this driver
            # lets go of its lease, so a resume does not wait for it to run out.
            let_go = getattr(hooks, "let_go", None)
            if let_go is not None:
                with contextlib.suppress(BaseException):
                    await let_go()
            raise
        finally:
            leave_run(outer)
            if tracer is not None:
                tracer.close()
            finish = getattr(hooks, "finish", None)
            if finish is not None:
                finish()  # the run's lease is no longer renewed, however the drive ended
        result = self._result(rs, kept)
        if result.error is not None and cfg.raise_on_error:
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

    def to_graphviz(self, run: Any = None) -> Any:
        """The diagram as a ``graphviz.Digraph`` (with ``run``'s overlay: a result, a loaded
        run or its events), to restyle (``.attr(...)``) or render with the graphviz package."""
        from visualize import to_graphviz

        return to_graphviz(self, run)

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
    check_resumable(rs)
    if rs.status is not RunStatus.WAITING:
        return {}
    return _answers(rs, value, values)


def check_resumable(rs: RunState) -> None:
    """Refuse to resume a run that completed or is still running."""
    if rs.status is RunStatus.COMPLETED:
        raise ResumeError(
            f"run {rs.run_id} has already completed; fork it from a step to run it again"
        )
    if rs.status is RunStatus.RUNNING and rs.started:
        raise ResumeError(f"run {rs.run_id} is still running; wait for it to stop first")


def _answers(rs: RunState, value: Any, values: Mapping[str | int, Any] | None) -> dict[int, Any]:
    if at_breakpoint(rs):
        if value is not _MISSING or values:
            raise ResumeError(
                f"run {rs.run_id} waits at a breakpoint, not for an answer; resume it "
                "without a value"
            )
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
    held = {} if at_breakpoint(rs) else {w.task_id: w.request for w in rs.waiting}
    for task in rs.tasks:
        if task.id in answers:
            task.resume = [*(task.resume or ()), answers[task.id]]
            request = next((w.request for w in rs.waiting if w.task_id == task.id), None)
            task.asked = [*(task.asked or ()), request]
        elif task.id in held:  # asks again; a subgraph node without redoing its child's steps
            task.unanswered = held[task.id]
    if at_breakpoint(rs):
        rs.passed = rs.step  # go past the breakpoint it waits at, once
    rs.status = RunStatus.RUNNING
    rs.error = None
    return rs


def at_breakpoint(rs: RunState) -> bool:
    """Whether a waiting run waits at a breakpoint (not in an interrupt)."""
    return bool(rs.waiting) and all(
        isinstance(w.request, dict) and "breakpoint" in w.request for w in rs.waiting
    )


class RunStream(Generic[S]):
    """The events of one run as an async iterator; ``result`` is set once it is exhausted."""

    def __init__(self, graph: CompiledGraph[S], rs: RunState, cfg: RunConfig) -> None:
        self._graph, self._rs, self._cfg = graph, rs, cfg.but(raise_on_error=False)
        self.result: RunResult[S] | None = None

    @property
    def run_id(self) -> str:
        return self._rs.run_id

    async def __aiter__(self) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        cfg = self._cfg

        async def drive() -> RunResult[S]:
            try:
                async with _maybe(cfg.store) as opened:
                    hooks = None if opened is None else _persister(opened, self._graph, None)
                    return await self._graph._drive(self._rs, cfg, hooks, queue.put_nowait)
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


class RunIter(Generic[S]):
    """A run driven one step at a time (see `CompiledGraph.iter`)."""

    def __init__(self, graph: CompiledGraph[S], rs: RunState, cfg: RunConfig) -> None:
        self._graph, self._rs, self._cfg = graph, rs, cfg
        self._steps: asyncio.Queue[Any] = asyncio.Queue()
        self._go = asyncio.Event()
        self._edges: list[tuple[int, str, str, str, str | None]] = []
        self._runner: asyncio.Future[RunResult[S]] | None = None
        self.result: RunResult[S] | None = None

    @property
    def run_id(self) -> str:
        return self._rs.run_id

    async def __aenter__(self) -> RunIter[S]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        runner = self._runner
        if runner is not None and not runner.done():
            runner.cancel()  # left early: the run stops where it is (interrupted, resumable)
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    def __aiter__(self) -> RunIter[S]:
        return self

    async def __anext__(self) -> Any:
        step = await self.next()
        if step is None:
            raise StopAsyncIteration
        return step

    async def next(self) -> Any:
        """Run one step; its `StepView`, or None once the run has ended (``result`` is set).
        A failed run raises here unless ``raise_on_error=False``."""
        if self.result is not None:
            return None
        if self._runner is None:
            self._runner = asyncio.ensure_future(self._drive())
        else:
            self._go.set()
        step = await self._steps.get()
        if step is None:
            self.result = await self._runner
        return step

    async def _drive(self) -> RunResult[S]:
        cfg, graph = self._cfg, self._graph
        try:
            async with _maybe(cfg.store) as opened:
                hooks = None if opened is None else _persister(opened, graph, cfg.snapshot_every)
                return await graph._drive(self._rs, cfg, hooks, self._edge, self._gate)
        finally:
            self._steps.put_nowait(None)

    def _edge(self, event: Event) -> None:
        if type(event) is EdgeTaken:
            assert isinstance(event, EdgeTaken)
            edge = (event.step, event.source, event.target, str(event.kind), event.label)
            self._edges.append(edge)

    async def _gate(self, rs: RunState, step: int, outcomes: list[Outcome], writes: Any) -> None:
        from .replay import StepView

        edges = [(a, b, kind, label) for at, a, b, kind, label in self._edges if at == step]
        self._edges = []
        self._steps.put_nowait(
            StepView(
                step=step,
                state=rs.state,
                ran=[o.task.node for o in outcomes],
                writes=[(n, dict(u)) for n, u in writes],
                edges=edges,
                next=[t.node for t in rs.tasks],
            )
        )
        self._go.clear()
        await self._go.wait()


def _usage_only(kept: list[Event]) -> Emit:
    """A sink keeping only what a result reads when its events are not kept: model calls
    (``result.usage``)."""

    def keep(event: Event) -> None:
        if type(event) is ModelCalled:
            kept.append(event)

    return keep


def _ignore(event: Event) -> None:
    """An `Emit` for planning nobody watches (a fork's edited route is stored, not streamed)."""
