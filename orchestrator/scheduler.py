"""The scheduler: bulk-synchronous steps over a compiled graph.

A step runs every ready task concurrently, then at the barrier applies their updates in a
fixed order (node declaration order, then emission order), evaluates out-edges on the merged
state, enforces caps, and releases joins no live branch can still reach. It does no I/O:
everything it has to say goes out through ``emit`` as events.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from .cache import NodeCache, cached_nodes, decode_write, encode_write, local_cache, namespace
from .codec import Unkeepable
from .context import Context, Failure, Interrupt
from .edge import Cap, Edge, EdgeKind, Route, Send, resolve_target, route_label
from .errors import (
    ConflictingWritesError,
    EngineError,
    InvalidUpdateError,
    LeaseLostError,
    NodeFailedError,
    NodeTimeoutError,
    OrchestratorError,
    RouteError,
    RouterFailedError,
    RunBusyError,
    RunError,
    StateValidationError,
    StepLimitExceededError,
    StoreError,
    StoreUnavailableError,
    WriteFailedError,
)
from .events import (
    Interrupted,
    NodeCached,
    NodeFailed,
    NodeFinished,
    NodeRetried,
    NodeStarted,
    RunFinished,
    RunStarted,
    RunStatus,
    StepFinished,
    StepStarted,
)
from .frontier import Frontier
from .ids import END, START
from .node import Command, Node, NodeKind
from .run import Edit, Outcome, RunState, Task, Waiting
from .spec import Emit
from .threads import Attempt

if TYPE_CHECKING:
    from .spec import GraphSpec

_CONDITIONAL = EdgeKind.CONDITIONAL  # looked up once: an Enum attribute costs on the hot path
_EMPTY: Mapping[str, Any] = {}

#: Where the cached nodes of the run being driven keep their writes: its store, or the
#: compiled graph's in-process cache. Set by `Scheduler.drive` only for graphs with a cached
#: node; tasks of the run (gathered or not) see it, other runs have their own.
_CACHE: ContextVar[NodeCache | None] = ContextVar("orchestrator_node_cache", default=None)


class Hooks(Protocol):
    """What a store (or anything else) can hang off a run; see `orchestrator.durable`."""

    async def started(self, rs: RunState) -> None: ...

    async def task_done(self, rs: RunState, step: int, outcome: Outcome) -> None: ...

    async def barrier(
        self,
        rs: RunState,
        step: int,
        outcomes: list[Outcome],
        writes: list[tuple[str, Mapping[str, Any]]],
        edit: Edit | None = None,
    ) -> None: ...

    async def stopped(self, rs: RunState) -> None: ...


#: Called after every committed step (see `CompiledGraph.iter`); the run waits for it.
Gate = Callable[
    [RunState, int, list[Outcome], list[tuple[str, Mapping[str, Any]]]], Awaitable[None]
]


#: Tasks in a step from which its sync work (the sync tasks run on the spot, the barrier)
#: runs with the garbage collector paused. A wide step makes objects (tasks, outcomes, writes,
#: the next step's tasks) faster than the collector's thresholds expect, and each full
#: collection walks the whole heap: a fan-out would cost more per task the wider it is. The
#: collector is on again before async tasks are awaited (agent calls, async steps), and
#: however the sync part ends.
_WIDE = 256


class Scheduler:
    """Drives `RunState`s of one compiled graph. Stateless between calls: safe to share."""

    def __init__(self, graph: GraphSpec) -> None:
        self.graph = graph
        self.nodes: Mapping[str, Node] = graph.nodes
        self.schema = graph.schema
        edges_from: dict[str, list[Edge]] = {}
        routes_from: dict[str, list[Route]] = {}
        for edge in graph.declared_edges:
            edges_from.setdefault(edge.source, []).append(edge)
        for route in graph.routes:
            routes_from.setdefault(route.source, []).append(route)
        #: Per source: its edges and its routes, in declaration order.
        self.exits: dict[str, tuple[tuple[Edge, ...], tuple[Route, ...]]] = {
            name: (tuple(edges_from.get(name, ())), tuple(routes_from.get(name, ())))
            for name in [START, *graph.nodes]
        }
        self.caps: dict[tuple[str, str], Cap] = {(c.source, c.target): c for c in graph.caps}
        self.join_ancestors = graph.topology.join_ancestors
        self.cycle_of = graph.topology.cycle_of
        #: Nodes that keep a value across their visits (`Context.kept`): stateful subgraphs.
        self.keeps = frozenset(n for n, node in graph.nodes.items() if node.meta.get("stateful"))
        #: Nodes with a `CachePolicy`, and where a run without a store caches their writes.
        self.cached = cached_nodes(graph.nodes)
        self.local_cache = local_cache(graph) if self.cached else None

    # --- the loop ------------------------------------------------------------------------

    async def drive(
        self,
        rs: RunState,
        deps: Any,
        emit: Emit,
        *,
        max_steps: int,
        concurrency: int | None,
        hooks: Hooks | None = None,
        gate: Gate | None = None,
        before: frozenset[str] | None = None,
        after: frozenset[str] | None = None,
    ) -> None:
        """Run steps until the run completes, fails or waits. Failures end up in ``rs``.

        ``hooks`` (a store's persister) hear of the start, every finished task of a parallel
        step, every barrier and the stop; the loop itself does no I/O (only the tasks of
        cached nodes look their writes up in the run's store, see `_run_task`).
        """
        emit(RunStarted(rs.run_id, rs.graph, rs.started))
        rs.status = RunStatus.RUNNING
        rs.waiting = []
        if self.cached:
            store = getattr(hooks, "store", None)  # a `Persister`'s: the run's store
            token = _CACHE.set(store if hasattr(store, "cache_get") else self.local_cache)
            try:
                await self._drive(
                    rs, deps, emit, max_steps, concurrency, hooks, gate, before, after
                )
            finally:
                _CACHE.reset(token)
            return
        await self._drive(rs, deps, emit, max_steps, concurrency, hooks, gate, before, after)

    async def _drive(
        self,
        rs: RunState,
        deps: Any,
        emit: Emit,
        max_steps: int,
        concurrency: int | None,
        hooks: Hooks | None,
        gate: Gate | None,
        before: frozenset[str] | None,
        after: frozenset[str] | None,
    ) -> None:
        try:
            if not rs.started:
                rs.started = True
                rs.tasks = self._advance(rs, [], emit)
            if hooks is not None:
                await hooks.started(rs)
            if rs.edit is not None:
                await self._edit(rs, rs.edit, emit, hooks)
            while tasks := rs.tasks:
                if rs.step >= max_steps:
                    raise StepLimitExceededError(max_steps, rs.path, rs.visits)
                if before is not None and rs.passed != rs.step:
                    hit = [t for t in tasks if t.node in before or "*" in before]
                    if hit:  # a breakpoint: pause before these nodes run
                        self._pause(rs, "before", [(t.id, t.node) for t in hit], emit)
                        break
                step = rs.step + 1
                if not rs.quiet:
                    emit(StepStarted(rs.run_id, step, rs.next_names or [t.node for t in tasks]))
                rs.next_names = None
                writes: list[tuple[str, Mapping[str, Any]]] | None
                if len(tasks) == 1 and not rs.pending:
                    # One task (a loop body, a chain link): a sync one runs without a coroutine.
                    task = tasks[0]
                    outcome = self._run_inline(rs, step, task, deps, emit)
                    if outcome is None:
                        outcome = await self._run_task(rs, step, task, deps, emit)
                    outcomes = [outcome]
                    if outcome.error is None and not outcome.interrupted and not outcome.pre:
                        writes = self._barrier_one(rs, step, outcome, emit)
                    else:
                        writes = self._barrier(rs, step, outcomes, emit)
                else:
                    wide = len(tasks) >= _WIDE and gc.isenabled()
                    if wide:
                        gc.disable()  # see _WIDE
                    try:
                        outcomes = await self._run_all(
                            rs, step, tasks, deps, emit, concurrency, hooks, wide
                        )
                        writes = self._barrier(rs, step, outcomes, emit)
                    finally:
                        if wide:
                            gc.enable()
                if writes is None:
                    break
                if hooks is not None:
                    await hooks.barrier(rs, step, outcomes, writes)
                if gate is not None:  # `iter`: wait until the next step is asked for
                    await gate(rs, step, outcomes, writes)
                if after is not None and rs.tasks:
                    hit_after = [o.task for o in outcomes if o.task.node in after or "*" in after]
                    if hit_after:  # a breakpoint: pause after these nodes ran
                        self._pause(rs, "after", [(0, t.node) for t in hit_after], emit)
                        break
            else:
                rs.status = RunStatus.COMPLETED
                emit(RunFinished(rs.run_id, rs.status, rs.step))
        except (LeaseLostError, RunBusyError):
            # Another driver owns the run: it must not be touched, not even marked failed.
            rs.status = RunStatus.FAILED
            raise
        except StoreUnavailableError as err:
            # The store is gone: the run stops where its last checkpoint is, resumable. There
            # is nothing to write the stop to, so the hooks are not called.
            rs.status, rs.error = RunStatus.INTERRUPTED, err
            emit(RunFinished(rs.run_id, rs.status, rs.step, str(err), (), type(err).__name__))
            return
        except asyncio.CancelledError:
            rs.status = RunStatus.INTERRUPTED
            if hooks is not None:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.shield(hooks.stopped(rs))
            raise
        except Exception as exc:
            # A node's own errors arrive here already named; anything else is the engine's.
            failure: OrchestratorError = (
                exc if isinstance(exc, OrchestratorError) else EngineError(rs.run_id, rs.step, exc)
            )
            rs.status, rs.error = RunStatus.FAILED, failure
            node = getattr(failure, "node", None) or getattr(failure, "source", None)
            emit(
                RunFinished(
                    rs.run_id,
                    rs.status,
                    rs.step,
                    str(failure),
                    (),
                    type(failure).__name__,
                    node if isinstance(node, str) else None,
                )
            )
        if hooks is not None:
            try:
                await hooks.stopped(rs)
            except StoreUnavailableError as err:
                rs.status, rs.error = RunStatus.INTERRUPTED, err

    async def _edit(self, rs: RunState, edit: Edit, emit: Emit, hooks: Hooks | None) -> None:
        """Apply a person's update as its own step (see `Edit`), checkpointed like any step.
        The caller checked it against the state already, so only the graph's own routers can
        fail here (and the run fails with them, as at any barrier)."""
        rs.edit = None
        step = rs.step + 1
        name = edit.owner
        seq = rs.seq = rs.seq + 1
        index = self.nodes[edit.as_node].index if edit.as_node is not None else 0
        outcome = Outcome(Task(name, seq, index << 40 | seq), update=edit.update)
        writes: list[tuple[str, Mapping[str, Any]]] = [(name, edit.update)] if edit.update else []
        if not rs.quiet:
            emit(StepStarted(rs.run_id, step, []))
        rs.state = self.schema.apply(rs.state, writes, step, [seq])
        passed = rs.passed == rs.step
        rs.step = step
        if passed:
            rs.passed = step  # the breakpoint the run was resumed past stays passed
        if edit.as_node is not None:
            # The node's edges decide what runs next, in place of what was planned.
            rs.pending, rs.waiting = {}, []
            rs.tasks = self._advance(rs, [outcome], emit)
        if not rs.quiet:
            emit(StepFinished(rs.run_id, step, writes, [t.node for t in rs.tasks]))
        if hooks is not None:
            await hooks.barrier(rs, step, [outcome], writes, edit)
            for done in rs.pending.values():  # finished tasks of the paused step: kept
                await hooks.task_done(rs, step + 1, done)

    def _pause(self, rs: RunState, where: str, nodes: list[tuple[int, str]], emit: Emit) -> None:
        """Stop at a breakpoint: the run waits, and `resume()` (no value) goes on."""
        rs.status = RunStatus.WAITING
        rs.waiting = [
            Waiting(task_id=task_id, node=node, request={"breakpoint": where, "node": node})
            for task_id, node in nodes
        ]
        requests = tuple(w.request for w in rs.waiting)
        emit(RunFinished(rs.run_id, rs.status, rs.step, None, requests))

    def _barrier(
        self, rs: RunState, step: int, outcomes: list[Outcome], emit: Emit
    ) -> list[tuple[str, Mapping[str, Any]]] | None:
        """Apply a step's outcomes and plan the next step; its writes, or None to stop."""
        if len(outcomes) == 1:
            only = outcomes[0]
            if only.error is None and not only.interrupted and not only.pre:
                return self._barrier_one(rs, step, only, emit)
        failed = None
        interrupted = False
        for o in outcomes:
            if o.error is not None and failed is None:
                failed = o
            interrupted = interrupted or o.interrupted
        if failed is not None or interrupted:
            # Keep what finished, so a resume only runs the rest of this step again.
            rs.pending = {o.task.id: o for o in outcomes if o.done}
            if failed is not None:
                assert failed.error is not None
                raise failed.error
            rs.status = RunStatus.WAITING
            rs.waiting = [
                Waiting(task_id=o.task.id, node=o.task.node, request=o.interrupt)
                for o in outcomes
                if o.interrupted
            ]
            emit(
                RunFinished(
                    rs.run_id, rs.status, rs.step, None, tuple(w.request for w in rs.waiting)
                )
            )
            return None

        writes: list[tuple[str, Mapping[str, Any]]] = []
        owners: list[int] = []  # the task of each write: two tasks writing one field conflict
        for o in outcomes:
            if o.pre:
                for write in o.pre:
                    writes.append((o.task.node, write))
                    owners.append(o.task.id)
            if o.update:
                writes.append((o.task.node, o.update))
                owners.append(o.task.id)
        before = rs.state, rs.step, rs.seq, len(rs.path)
        try:
            rs.state = self.schema.apply(rs.state, writes, step, owners)
            path, visits = rs.path, rs.visits
            for o in outcomes:
                name = o.task.node
                path.append(name)
                visits[name] = visits.get(name, 0) + 1
            return self._plan(rs, step, outcomes, writes, emit)
        except Exception as exc:
            self._undo(rs, before, outcomes, exc)
            raise

    def _barrier_one(
        self, rs: RunState, step: int, outcome: Outcome, emit: Emit
    ) -> list[tuple[str, Mapping[str, Any]]]:
        """`_barrier` for a step of one task that finished: no conflicts, no ordering."""
        name = outcome.task.node
        writes: list[tuple[str, Mapping[str, Any]]] = (
            [(name, outcome.update)] if outcome.update else []
        )
        before = rs.state, rs.step, rs.seq, len(rs.path)
        try:
            rs.state = self.schema.apply(rs.state, writes, step)
            rs.path.append(name)
            visits = rs.visits
            visits[name] = visits.get(name, 0) + 1
            return self._plan(rs, step, [outcome], writes, emit)
        except Exception as exc:
            self._undo(rs, before, [outcome], exc)
            raise

    def _undo(
        self,
        rs: RunState,
        before: tuple[BaseModel, int, int, int],
        outcomes: list[Outcome],
        exc: Exception,
    ) -> None:
        """A barrier that failed (a write refused, a router raised) leaves the run as it was
        before it: the state, path, visits, edge counts and joins of the last step that
        committed. What finished is kept pending, so a resume runs again only the tasks whose
        writes were refused and evaluates the routers again."""
        rs.state, rs.step, rs.seq, length = before
        visits = rs.visits
        for name in rs.path[length:]:
            left = visits.get(name, 0) - 1
            if left > 0:
                visits[name] = left
            else:
                visits.pop(name, None)
        del rs.path[length:]
        blamed: set[str] = set()
        if isinstance(exc, (StateValidationError, WriteFailedError, InvalidUpdateError)):
            blamed.add(exc.node)
        elif isinstance(exc, ConflictingWritesError):
            blamed.update(exc.nodes)
        rs.pending = {o.task.id: o for o in outcomes if o.done and o.task.node not in blamed}
        rs.refused = [o.task.id for o in outcomes if o.done and o.task.node in blamed]

    def _plan(
        self,
        rs: RunState,
        step: int,
        outcomes: list[Outcome],
        writes: list[tuple[str, Mapping[str, Any]]],
        emit: Emit,
    ) -> list[tuple[str, Mapping[str, Any]]]:
        """The end of a barrier: the step is done; plan the next one."""
        if rs.pending:
            rs.pending = {}
        if self.keeps:  # committed with the step, as its writes are
            for o in outcomes:
                if o.kept is not None:
                    rs.kept = {**rs.kept, o.task.node: o.kept}
        rs.step = step
        rs.tasks = self._advance(rs, outcomes, emit)
        rs.next_names = [t.node for t in rs.tasks]  # shared with the next StepStarted
        if not rs.quiet:
            emit(StepFinished(rs.run_id, step, writes, rs.next_names))
        return writes

    async def _run_all(
        self,
        rs: RunState,
        step: int,
        tasks: list[Task],
        deps: Any,
        emit: Emit,
        concurrency: int | None,
        hooks: Hooks | None,
        wide: bool = False,
    ) -> list[Outcome]:
        """Run a step's tasks (those not kept from before a pause); ``wide``: the collector
        is paused (see `_WIDE`), and is on again while async tasks are awaited."""
        pending = rs.pending
        todo = [t for t in tasks if t.id not in pending]
        run = self._run_task
        running = [len(todo)]
        if hooks is not None and len(tasks) > 1:

            async def run(rs: RunState, step: int, task: Task, deps: Any, emit: Emit) -> Outcome:
                outcome = await self._run_task(rs, step, task, deps, emit)
                running[0] -= 1
                # Kept, so a crash before the barrier does not redo it. The last task to
                # finish needs no pending write: the barrier's checkpoint follows with no wait
                # in between, as for a step of one task.
                if outcome.done and running[0] > 0:
                    await hooks.task_done(rs, step, outcome)
                return outcome

        # Sync, untimed nodes run on the spot, one after the other, as they would inside
        # gather (they cannot yield): a wide fan-out then makes no asyncio task per branch.
        inline: dict[int, Outcome] | None = None
        if len(todo) > 1 and (rs.options is None or rs.options.executor is None):
            rest: list[Task] = []
            for task in todo:
                outcome = self._run_inline(rs, step, task, deps, emit)
                if outcome is None:
                    rest.append(task)
                    continue
                if inline is None:
                    inline = {}
                inline[task.id] = outcome
                running[0] -= 1
                if hooks is not None and outcome.done and running[0] > 0:
                    await hooks.task_done(rs, step, outcome)
            todo = rest
        done: list[Outcome]
        if not todo:
            done = []
        elif wide:
            gc.enable()
            try:
                done = await self._gather(rs, step, todo, deps, emit, concurrency, run)
            finally:
                gc.disable()
        else:
            done = await self._gather(rs, step, todo, deps, emit, concurrency, run)
        if not pending and inline is None:
            return done
        by_id = {o.task.id: o for o in done}
        if inline is not None:
            by_id.update(inline)
        return [by_id[t.id] if t.id in by_id else pending[t.id] for t in tasks]

    @staticmethod
    async def _gather(
        rs: RunState,
        step: int,
        todo: list[Task],
        deps: Any,
        emit: Emit,
        concurrency: int | None,
        run: Callable[[RunState, int, Task, Any, Emit], Awaitable[Outcome]],
    ) -> list[Outcome]:
        """Await ``todo`` side by side, at most ``concurrency`` at a time."""
        if len(todo) == 1:
            return [await run(rs, step, todo[0], deps, emit)]
        if concurrency is not None and len(todo) > concurrency:
            gate = asyncio.Semaphore(concurrency)

            async def gated(task: Task) -> Outcome:
                async with gate:
                    return await run(rs, step, task, deps, emit)

            return await asyncio.gather(*(gated(t) for t in todo))
        return await asyncio.gather(*(run(rs, step, t, deps, emit) for t in todo))

    # --- one task ------------------------------------------------------------------------
    # Hot path: events and records are built positionally (see events.py).

    def _run_inline(
        self,
        rs: RunState,
        step: int,
        task: Task,
        deps: Any,
        emit: Emit,
    ) -> Outcome | None:
        """Run a sync, untimed node's first attempt on the spot; None means use `_run_task`."""
        node = self.nodes[task.node]
        if node.is_async or node.timeout is not None or node.cache is not None:
            return None  # awaited: an async node, a timed one, or a cache lookup
        if rs.options is not None and rs.options.executor is not None:
            return None  # code steps go to the executor, which awaits
        call = node.call
        assert call is not None
        if node.takes_ctx:
            ctx, args, at, started = self._begin(rs, step, task, node, 1, deps, emit)
        else:  # the loop-body case, spelled out: a step here is a few microseconds
            ctx, args, at = None, (rs.state,), time.time()
            if not rs.quiet:
                emit(NodeStarted(rs.run_id, step, node.name, task.id, 1, at))
            started = time.perf_counter()
        try:
            out = call(*args)
        except Interrupt as signal:
            return self._interrupted(rs, step, task, node, 1, signal, emit)
        except Exception as exc:
            policy = node.retry
            if policy is not None and policy.max_attempts > 1 and policy.retries(exc):
                self._retrying(rs, step, task, node, 1, exc, emit)
                return None  # `_run_task` waits and goes on from attempt 2
            return self._failed(rs, step, task, node, 1, exc, emit)
        if ctx is None and type(out) is dict:  # `_end`, for the common case
            if rs.quiet:
                return Outcome(task, 1, out, None)
            emit(
                NodeFinished(
                    rs.run_id,
                    step,
                    node.name,
                    task.id,
                    1,
                    out,
                    at,
                    time.perf_counter() - started,
                    None,
                )
            )
            return Outcome(task, 1, out, None)
        return self._end(rs, step, task, node, 1, out, ctx, at, started, emit)

    async def _run_task(
        self,
        rs: RunState,
        step: int,
        task: Task,
        deps: Any,
        emit: Emit,
    ) -> Outcome:
        node = self.nodes[task.node]
        key: str | None = None
        if node.cache is not None:
            hit, key = await self._cache_lookup(rs, step, task, node, emit)
            if hit is not None:
                return hit
        call = node.call
        assert call is not None
        policy = node.retry
        attempt = 0
        if task.attempts:  # `_run_inline` already made (and reported) the first attempt
            attempt = task.attempts
            assert policy is not None
            await asyncio.sleep(policy.delay(attempt))
        overrun: Attempt | None = None  # a timed sync attempt that may still be running
        while True:
            attempt += 1
            task.attempts = attempt
            ctx, args, at, started = self._begin(rs, step, task, node, attempt, deps, emit)
            executor = rs.options.executor if rs.options is not None else None
            try:
                if executor is not None and node.kind is NodeKind.CODE:
                    # Elsewhere (e.g. a Ray task); the timeout still bounds the wait here.
                    pending = executor.call(node, args[0], ctx)
                    if node.timeout is None:
                        out = await pending
                    else:
                        async with asyncio.timeout(node.timeout):
                            out = await pending
                elif not node.is_async:
                    if node.timeout is None:
                        out = call(*args)
                    else:
                        if overrun is not None and not await overrun.settle(node.timeout):
                            # The attempt that timed out is still running: a retry beside it
                            # could do its side effects twice at once.
                            return self._failed(
                                rs,
                                step,
                                task,
                                node,
                                attempt,
                                NodeTimeoutError(node.name, node.timeout, still_running=True),
                                emit,
                            )
                        overrun = Attempt(node.name, call, args)
                        out = await overrun.wait(node.timeout)
                        overrun = None
                elif node.timeout is None:
                    out = await call(*args)
                else:
                    async with asyncio.timeout(node.timeout):
                        out = await call(*args)
            except Interrupt as signal:
                return self._interrupted(rs, step, task, node, attempt, signal, emit)
            except Exception as exc:
                if (
                    node.timeout is not None
                    and isinstance(exc, TimeoutError)
                    and not isinstance(exc, NodeTimeoutError)
                ):
                    exc = NodeTimeoutError(node.name, node.timeout)
                if policy is not None and attempt < policy.max_attempts and policy.retries(exc):
                    delay = self._retrying(rs, step, task, node, attempt, exc, emit)
                    if delay > 0:
                        await asyncio.sleep(delay)
                    continue
                return self._failed(rs, step, task, node, attempt, exc, emit)
            outcome = self._end(rs, step, task, node, attempt, out, ctx, at, started, emit)
            if key is not None:
                await self._cache_put(node, key, outcome)
            return outcome

    # --- the node cache (see `orchestrator.cache`) ---------------------------------------

    async def _cache_lookup(
        self, rs: RunState, step: int, task: Task, node: Node, emit: Emit
    ) -> tuple[Outcome | None, str | None]:
        """The task's outcome from its node's cache (a hit), else its key to cache the
        outcome under once it has run (None: not to be cached)."""
        assert node.cache is not None
        cache = _CACHE.get()
        replaying = rs.options is not None and rs.options.recording is not None
        if cache is None or replaying or task.resume or task.unanswered is not None or task.error:
            # A task that asked a person, or an on_error target (it reads ``ctx.error``),
            # depends on more than its input; a recorded replay runs the code it checks.
            return None, None
        loose = self.schema.loose
        try:
            key = node.cache.digest(rs.state, task.payload, loose)
        except Unkeepable:
            return None, None  # an input without a stable JSON form: nothing to key it by
        except Exception as exc:  # the policy's own key function failed: the task fails
            return self._failed(rs, step, task, node, 1, exc, emit), None
        try:
            text = await cache.cache_get(namespace(self.graph.name, node.name), key)
        except StoreError:
            return None, key  # a cache never fails a run: the node runs
        hit = None if text is None else decode_write(text, task, rs.state, loose)
        if hit is None:
            return None, key
        task.attempts = 1
        if not rs.quiet:
            at = time.time()
            emit(NodeStarted(rs.run_id, step, node.name, task.id, 1, at))
            emit(NodeCached(rs.run_id, step, node.name, task.id, key))
            update = hit.update if hit.update is not None else _EMPTY
            shown = update if hit.pre is None else _merged([*hit.pre, update])
            emit(NodeFinished(rs.run_id, step, node.name, task.id, 1, shown, at, 0.0, None))
        return hit, None

    async def _cache_put(self, node: Node, key: str, outcome: Outcome) -> None:
        """Keep a finished task's write for the next task with the same key."""
        cache = _CACHE.get()
        text = encode_write(outcome, self.schema.loose)
        if cache is None or text is None:
            return
        assert node.cache is not None
        with contextlib.suppress(StoreError):  # the write is applied all the same
            await cache.cache_put(namespace(self.graph.name, node.name), key, text, node.cache.ttl)

    def _begin(
        self,
        rs: RunState,
        step: int,
        task: Task,
        node: Node,
        attempt: int,
        deps: Any,
        emit: Emit,
    ) -> tuple[Context[Any] | None, tuple[Any, ...], float, float]:
        state = rs.state
        ctx: Context[Any] | None = None
        if node.takes_ctx:
            ctx = Context(
                deps=deps,
                state=state,
                node=node.name,
                step=step,
                attempt=attempt,
                run_id=rs.run_id,
                task_id=task.id,
                payload=task.payload,
                options=rs.options,
                error=task.error,
                resume=task.resume if task.resume or rs.options is None else _recorded(rs, task, 0),
                asked=task.asked if task.resume or rs.options is None else _recorded(rs, task, 1),
                emit=emit,
                kept=rs.kept.get(node.name) if rs.kept else None,
                unanswered=task.unanswered,
            )
        at = time.time()
        if not rs.quiet:
            emit(NodeStarted(rs.run_id, step, node.name, task.id, attempt, at))
        return ctx, ((state,) if ctx is None else (state, ctx)), at, time.perf_counter()

    def _end(
        self,
        rs: RunState,
        step: int,
        task: Task,
        node: Node,
        attempt: int,
        out: Any,
        ctx: Context[Any] | None,
        at: float,
        started: float,
        emit: Emit,
    ) -> Outcome:
        update: Mapping[str, Any]
        goto: tuple[Any, ...] | None
        if ctx is None and type(out) is dict:
            update, goto = out, None  # the common case, without a call
        else:
            try:
                update, goto = self._normalise(node, out)
            except OrchestratorError as err:
                return self._failed(rs, step, task, node, attempt, err, emit)
        pre = None if ctx is None else ctx.writes or None
        kept = None if ctx is None else ctx.kept
        if rs.quiet:
            return Outcome(task, attempt, update, goto, pre=pre, kept=kept)
        shown = update if pre is None else _merged([*pre, update])
        emit(
            NodeFinished(
                rs.run_id,
                step,
                node.name,
                task.id,
                attempt,
                shown,
                at,
                time.perf_counter() - started,
                None if ctx is None else ctx.detail,
            )
        )
        return Outcome(task, attempt, update, goto, pre=pre, kept=kept)

    def _interrupted(
        self,
        rs: RunState,
        step: int,
        task: Task,
        node: Node,
        attempt: int,
        signal: Interrupt,
        emit: Emit,
    ) -> Outcome:
        emit(Interrupted(rs.run_id, step, node.name, task.id, signal.request))
        return Outcome(task, attempt, interrupt=signal.request, interrupted=True)

    def _retrying(
        self,
        rs: RunState,
        step: int,
        task: Task,
        node: Node,
        attempt: int,
        exc: Exception,
        emit: Emit,
    ) -> float:
        assert node.retry is not None
        delay = node.retry.delay(attempt)
        task.attempts = attempt
        emit(
            NodeRetried(
                rs.run_id, step, node.name, task.id, attempt, f"{type(exc).__name__}: {exc}", delay
            )
        )
        return delay

    def _failed(
        self,
        rs: RunState,
        step: int,
        task: Task,
        node: Node,
        attempt: int,
        exc: Exception,
        emit: Emit,
    ) -> Outcome:
        handled = node.on_error is not None
        emit(
            NodeFailed(
                run_id=rs.run_id,
                step=step,
                node=node.name,
                task_id=task.id,
                attempt=attempt,
                error_type=type(exc).__name__,
                error=str(exc),
                handled=handled,
            )
        )
        if handled:
            cause = getattr(exc, "cause", None)
            failure = Failure(
                node=node.name,
                error_type=type(exc).__name__,
                message=str(exc),
                attempts=attempt,
                cause_type=type(cause).__name__ if isinstance(cause, BaseException) else None,
            )
            return Outcome(task=task, attempt=attempt, update=_EMPTY, failure=failure)
        if isinstance(exc, InvalidUpdateError):
            return Outcome(task=task, attempt=attempt, error=exc)
        return Outcome(
            task=task, attempt=attempt, error=NodeFailedError(node.name, step, attempt, exc)
        )

    def _normalise(
        self,
        node: Node,
        out: Any,
    ) -> tuple[Mapping[str, Any], tuple[Any, ...] | None]:
        goto: tuple[Any, ...] | None = None
        if isinstance(out, Command):
            if out.graph is not None:  # a subgraph's scheduler hands these up before here
                raise RunError(
                    f"node {node.name!r} sent a Command to its parent graph, but its graph is "
                    "not running as a subgraph node"
                )
            goto = tuple(out.goto) if out.goto else None
            out = out.update
        if out is None:
            return _EMPTY, goto
        if isinstance(out, Mapping):
            return out, goto
        if isinstance(out, self.schema.model):
            return {k: getattr(out, k) for k in out.model_fields_set}, goto
        raise InvalidUpdateError(node.name, out)

    # --- the barrier: where the run goes next --------------------------------------------

    def _advance(self, rs: RunState, outcomes: list[Outcome], emit: Emit) -> list[Task]:
        """Evaluate out-edges of the finished tasks (or of START) and return the next step.
        Nothing is announced, and nothing of the run state is left changed, unless every edge
        of the step could be followed."""
        nxt = Frontier(self, rs)
        state = rs.state
        try:
            if not outcomes:
                self._follow(nxt, START, None, state)
            for o in outcomes:
                source = o.task.node
                if o.failure is not None:
                    node = self.nodes[source]
                    assert node.on_error is not None
                    nxt.go(source, node.on_error, EdgeKind.ERROR, "on error", error=o.failure)
                elif o.goto is not None:
                    self._goto(nxt, source, o.goto)
                else:
                    self._follow(nxt, source, o, state)
            if rs.joins or len(nxt.tasks) > 1:
                nxt.release_joins()
        except Exception:
            nxt.undo()
            raise
        return nxt.commit(emit)

    def _follow(self, nxt: Frontier, source: str, o: Outcome | None, state: BaseModel) -> None:
        edges, routes = self.exits[source]
        for edge in edges:
            if edge.when is not None:
                try:
                    taken = edge.when(state)
                except Exception as exc:
                    raise RouterFailedError(source, edge.label or "condition", exc) from exc
                if not taken:
                    continue
            nxt.go(source, edge.target, edge.kind, edge.label)
        for route in routes:
            try:
                value = route.fn(state)
            except Exception as exc:
                raise RouterFailedError(source, route.name, exc) from exc
            mapping = route.mapping
            for item in value if isinstance(value, (list, tuple)) else (value,):
                payload = None
                if isinstance(item, Send):
                    item, payload = item.node, item.payload
                if type(item) is str:
                    target = mapping.get(item)
                    label = "END" if item == END else item
                else:
                    target = resolve_target(item, mapping)
                    label = route_label(item)
                if target is None:
                    raise RouteError(source, item, route.targets)
                nxt.go(source, target, _CONDITIONAL, label, payload)

    def _goto(self, nxt: Frontier, source: str, goto: tuple[Any, ...]) -> None:
        allowed = self.nodes[source].goto
        for item in goto:
            payload = None
            if isinstance(item, Send):
                item, payload = item.node, item.payload
            if item not in allowed:
                raise RouteError(source, item, allowed)
            nxt.go(source, item, EdgeKind.HANDOFF, None, payload=payload)


def _recorded(rs: RunState, task: Task, part: int) -> list[Any] | None:
    """Recorded replay: the answers (part 0) or requests (part 1) of the original run's
    interrupts, for this task."""
    resumes = rs.options.resumes if rs.options is not None else None
    entries = resumes.get(task.id) if resumes else None
    if not entries:
        return None
    return [entry["answer"] if part == 0 else entry.get("asked") for entry in entries]


def _merged(writes: list[Mapping[str, Any]]) -> dict[str, Any]:
    """One dict showing a task's writes (for events; the writes themselves stay separate)."""
    shown: dict[str, Any] = {}
    for write in writes:
        shown.update(write)
    return shown
