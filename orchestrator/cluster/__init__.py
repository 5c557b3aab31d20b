"""Scale-out on Ray: code steps as Ray tasks (`RayExecutor`), and run hosts (`RunHost`,
long-lived async Ray actors) that claim queued runs from PostgreSQL and drive them with the
unchanged scheduler, every write fenced on the run's lease.

    init_ray()                                    # or init_ray("auto") for a running cluster
    hosts = start_hosts("postgresql://app@db/runs", 2)
    run_id = await submit("graphs.triage:graph", {"messages": [...]}, store=url)
    records = await wait([run_id], store=url)

Ray is imported only when one of these is used: ``import orchestrator`` never imports it.
Guarantees: a node runs at least once (a task in flight when its host or worker died runs
again); a run has exactly one writer (a host that lost its lease is refused, and stops).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import os
import socket
import time
import traceback
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .compiled import DEFAULT_MAX_STEPS, prepare_resume
from .context import Context, Interrupt
from .durable import Persister, load, resumable
from .errors import (
    CheckpointMismatchError,
    LeaseLostError,
    ResumeError,
    RunNotFoundError,
    StoreError,
)
from .events import RunStatus
from .executor import LocalExecutor
from .node import Node
from .records import RunRecord
from .run import RunOptions
from .store import Store, using_store

if TYPE_CHECKING:
    from .compiled import CompiledGraph
    from .store.postgres import Lease, PostgresStore

__all__ = [
    "FINISHED",
    "NAMESPACE",
    "RayExecutor",
    "RunHost",
    "find_hosts",
    "follow",
    "init_ray",
    "ray_options",
    "start_hosts",
    "stop_hosts",
    "submit",
    "wait",
]

log = logging.getLogger(__name__)

#: Statuses a run stays in until someone acts on it: a host is done with it.
FINISHED = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.WAITING})
#: The Ray namespace of detached run hosts, so another driver (`cluster down`) finds them.
NAMESPACE = "orchestrator"


def _ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise ImportError(
            "scale-out needs Ray: pip install 'orchestrator[ray]' (or pip install ray)"
        ) from exc


def init_ray(
    address: str | None = None, *, num_cpus: int | None = None, namespace: str | None = None
) -> None:
    """Connect to the Ray cluster at ``address`` ("auto": the one started on this machine by
    ``ray start``), or start a local one that listens on 127.0.0.1 only. Does nothing when
    Ray is already initialised in this process."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address is None or address.rpartition(":")[0] in ("127.0.0.1", "localhost"):
        # Read when Ray is first imported: without it Ray 2.60 binds (and looks for a cluster
        # at) the machine's interface address instead of 127.0.0.1. For address="auto" on a
        # loopback-only cluster, set it in the environment before anything imports ray.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = _ray()
    if ray.is_initialized():
        return
    if address is None:
        ray.init(
            address="local",  # a new instance, even if `ray start` left one running here
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            namespace=namespace,
        )
    else:
        ray.init(address=address, log_to_driver=False, namespace=namespace)


# --- code steps as Ray tasks ------------------------------------------------------------------


def ray_options(graph: Any, node: str, **options: Any) -> None:
    """Set the Ray options (``num_cpus``, ``num_gpus``, ``memory``, ``resources``,
    ``max_retries``, ``runtime_env``...) a `RayExecutor` gives code step ``node`` of ``graph``
    (a `Graph` or `CompiledGraph`). Kept with the graph, so every host that drives it agrees.

        ray_options(g, "embed", num_gpus=1, max_retries=5)
    """
    if node not in graph.nodes:
        raise ValueError(
            f"graph {graph.name!r} has no node {node!r}; its nodes are {', '.join(graph.nodes)}"
        )
    graph.nodes[node].meta["ray"] = dict(options)


@dataclass(frozen=True, slots=True)
class _Reply:
    """What a node run in a Ray worker hands back: its value and context writes, or the
    interrupt or exception it raised (returned, not raised, so Ray never wraps it)."""

    value: Any = None
    writes: list[dict[str, Any]] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    detail: Any = None
    interrupted: bool = False
    request: Any = None
    error: BaseException | None = None

    def unwrap(self, ctx: Context[Any] | None) -> Any:
        if self.error is not None:
            raise self.error
        if self.interrupted:
            raise Interrupt(self.request)
        if ctx is not None:
            ctx.writes.extend(self.writes)
            for event in self.events:
                ctx.emit(event)
            if self.detail is not None:
                ctx.detail = self.detail
        return self.value


def _execute(call: Any, state: Any, fields: dict[str, Any] | None) -> _Reply:
    """The Ray task: run one node on ``state`` with a context rebuilt from ``fields``."""
    events: list[Any] = []
    ctx = None if fields is None else Context(state=state, emit=events.append, **fields)
    try:
        out = call(state) if ctx is None else call(state, ctx)
        if inspect.isawaitable(out):
            out = asyncio.run(_awaited(out))
    except Interrupt as signal:
        return _Reply(interrupted=True, request=signal.request)
    except Exception as exc:
        return _Reply(error=_portable(exc))
    if ctx is None:
        return _Reply(value=out)
    return _Reply(value=out, writes=ctx.writes, events=events, detail=ctx.detail)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _portable(exc: Exception) -> BaseException:
    """``exc`` with the worker's traceback as a note, or a RuntimeError saying what it was
    when it cannot be pickled back to the driver."""
    exc.add_note("raised in a Ray worker:\n" + "".join(traceback.format_exception(exc)).rstrip())
    try:
        _ray().cloudpickle.dumps(exc)
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


_remote_execute: Any = None


def _remote() -> Any:
    global _remote_execute
    if _remote_execute is None:
        _remote_execute = _ray().remote(_execute)
    return _remote_execute


class RayExecutor:
    """Runs code steps as Ray tasks; agent, join, human and subgraph nodes stay on the event
    loop of the process that drives the run.

    A task whose worker died is retried by Ray (``max_retries``, 3 by default); a node that
    raises is retried by its own `RetryPolicy`, as locally. Options per node come from
    ``default``, then `ray_options` on the graph, then ``resources[node]``. Nodes named in
    ``local`` run in this process (async I/O steps that gain nothing from a worker).

        executor = RayExecutor(resources={"embed": {"num_cpus": 2}})
        result = await graph.run(data, options=RunOptions(executor=executor))

    The node gets a `Context` with the same payload, deps, error, step, attempt and ids (its
    ``deps``, state and payload must pickle); ``ctx.options`` is None there.
    """

    def __init__(
        self,
        *,
        resources: Mapping[str, Mapping[str, Any]] | None = None,
        default: Mapping[str, Any] | None = None,
        local: Iterable[str] = (),
    ) -> None:
        self.resources = {name: dict(opts) for name, opts in (resources or {}).items()}
        self.default = {"max_retries": 3, **(default or {})}
        self.local = frozenset(local)

    def options_for(self, node: Node) -> dict[str, Any]:
        """The Ray task options of ``node``."""
        return {**self.default, **node.meta.get("ray", {}), **self.resources.get(node.name, {})}

    async def call(self, node: Node, state: Any, ctx: Context[Any] | None) -> Any:
        if node.name in self.local:
            return await LocalExecutor().call(node, state, ctx)
        fields = None
        if ctx is not None:
            fields = {
                "deps": ctx.deps,
                "node": ctx.node,
                "step": ctx.step,
                "attempt": ctx.attempt,
                "run_id": ctx.run_id,
                "task_id": ctx.task_id,
                "payload": ctx.payload,
                "error": ctx.error,
                "resume": list(ctx._resume),
                "asked": list(ctx._asked),
            }
        try:
            ref = _remote().options(**self.options_for(node)).remote(node.call, state, fields)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"node {node.name!r}: cannot send it to Ray ({exc}); its function, the state, "
                "ctx.payload and ctx.deps must pickle, and its Ray options must be valid"
            ) from exc
        try:
            reply = await ref
        except asyncio.CancelledError:  # a timeout or a lost lease: stop the task too
            _ray().cancel(ref)
            raise
        return reply.unwrap(ctx)


# --- run hosts --------------------------------------------------------------------------------


class _Unrunnable(Exception):
    """A claimed run this host can never drive (no graph source, graph not importable)."""


class RunHost:
    """Claims runs from a PostgreSQL store and drives each one with the scheduler.

    A run is claimed with a lease (owner, epoch, expiry) that the host heartbeats every
    ``ttl / 3`` seconds; every write of the run is fenced on it. A run whose lease is lost
    (the host stalled past ``ttl``, another host took over) is cancelled here at once and
    never written again. A run whose host died is claimed by another host once its lease
    expires and goes on from its last checkpoint. `start_hosts` runs hosts as Ray actors;
    a host also runs in any asyncio program: ``await RunHost(url).start()``.

    ``capacity`` bounds the runs driven at once; ``connections`` PostgreSQL connections are
    opened (one for claims and heartbeats, the others shared by the runs). ``executor``,
    ``deps``, ``model`` and ``model_provider`` apply to every run, as in `CompiledGraph.run`.
    """

    def __init__(
        self,
        store: str,
        *,
        name: str = "host",
        capacity: int = 1000,
        ttl: float = 15.0,
        poll: float = 0.2,
        connections: int = 4,
        executor: Any = None,
        deps: Any = None,
        model: Any = None,
        model_provider: Any = None,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> None:
        if not str(store).startswith(("postgresql://", "postgres://")):
            raise ValueError(
                f"run hosts claim runs from PostgreSQL, not {store!r}: pass a postgresql:// URL"
            )
        from .store.postgres import PostgresStore

        self.name = name
        self.owner = f"{name}@{socket.gethostname()}:{os.getpid()}"
        self.capacity, self.ttl, self.poll = capacity, ttl, poll
        self.executor, self.deps, self.max_steps = executor, deps, max_steps
        self.model, self.model_provider = model, model_provider
        self._control = PostgresStore(store)
        self._pool = [PostgresStore(store) for _ in range(max(1, connections - 1))]
        self._runs: dict[str, tuple[Lease, asyncio.Task[None]]] = {}
        self._graphs: dict[str, CompiledGraph[Any]] = {}
        self._counts: Counter[str] = Counter()
        self._lost: dict[str, str] = {}
        self._errors: list[str] = []
        self._loops: list[asyncio.Task[None]] = []
        self._room = asyncio.Event()

    async def start(self) -> str:
        """Start claiming and heartbeating in the background; the host's owner name."""
        if not self._loops:
            self._room = asyncio.Event()  # bound to the loop the host runs in
            self._loops = [
                asyncio.create_task(self._claim_loop(), name=f"{self.name} claims"),
                asyncio.create_task(self._heartbeat_loop(), name=f"{self.name} heartbeats"),
            ]
        return self.owner

    async def stop(self, drain: bool = False) -> dict[str, Any]:
        """Stop claiming. ``drain``: let the runs in hand finish; otherwise cancel them and
        hand them back (queued, lease released) so another host goes on at once from their
        last checkpoint. Returns the final `status`."""
        claimer = self._loops[0] if self._loops else None
        if claimer is not None:
            claimer.cancel()
            await asyncio.gather(claimer, return_exceptions=True)
        held = list(self._runs.values())
        if not drain:
            for _, task in held:
                task.cancel()
        await asyncio.gather(*(task for _, task in held), return_exceptions=True)
        for lease, task in held:
            if task.cancelled() and lease.run_id not in self._lost:
                try:
                    await self._control.update_run(lease.run_id, status="queued", fence=lease)
                    await self._control.release(lease)
                    self._counts["handed back"] += 1
                except StoreError as exc:  # lost meanwhile, or no store: its lease expires
                    self._note(f"could not hand back run {lease.run_id}: {exc}")
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        for store in (self._control, *self._pool):
            await store.close()
        return await self.status()

    async def status(self) -> dict[str, Any]:
        """What the host holds and has done: its owner name, the runs it drives, counts of
        runs by how they ended, runs it lost (with why) and its latest errors."""
        return {
            "name": self.name,
            "owner": self.owner,
            "running": sorted(self._runs),
            **{status: self._counts[status] for status in FINISHED},
            "handed back": self._counts["handed back"],
            "lost": dict(self._lost),
            "errors": list(self._errors),
        }

    # --- the loops ----------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        turn = 0
        while True:
            free = self.capacity - len(self._runs)
            if free <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            want = min(free, 200)
            try:
                leases = await self._control.claim(self.owner, self.ttl, limit=want)
            except StoreError as exc:  # the server is away: try again after a pause
                self._note(f"claiming runs failed: {exc}")
                leases = []
            for lease in leases:
                store = self._pool[turn % len(self._pool)]
                turn += 1
                task = asyncio.create_task(self._drive(lease, store), name=f"run {lease.run_id}")
                self._runs[lease.run_id] = (lease, task)
            if len(leases) < want:  # the queue is empty for now
                await asyncio.sleep(self.poll)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            for run_id, (lease, task) in list(self._runs.items()):
                if task.done():
                    continue
                try:
                    await self._control.heartbeat(lease)
                except LeaseLostError as exc:
                    self._lose(run_id, exc)
                    task.cancel()  # another host owns the run: stop touching it now
                except StoreError as exc:  # writes stay fenced; the next round tries again
                    self._note(f"heartbeat of run {run_id} failed: {exc}")

    # --- one run ------------------------------------------------------------------------------

    async def _drive(self, lease: Lease, store: PostgresStore) -> None:
        run_id = lease.run_id
        try:
            try:
                graph = self._graph(await store.get_run(run_id))
                loaded, record = await load(store, graph, run_id)
                rs = prepare_resume(resumable(loaded, record), {})
            except (RunNotFoundError, ResumeError):  # deleted, or finished meanwhile
                return
            except (_Unrunnable, CheckpointMismatchError) as exc:
                await self._fail(lease, store, str(exc))
                return
            rs.options = RunOptions(
                graph=graph.name,
                source=record.source,
                model=self.model,
                model_provider=self.model_provider,
                graph_model=graph.model,
                executor=self.executor,
            )
            result = await graph.continue_run(
                rs,
                deps=self.deps,
                max_steps=self.max_steps,
                raise_on_error=False,
                hooks=Persister(store, graph, fresh=False, fence=lease),
            )
            self._counts[str(result.status)] += 1
        except LeaseLostError as exc:
            self._lose(run_id, exc)
        except StoreError as exc:
            # The store failed under the run: leave it to its lease, which expires and lets
            # a host (this one too) claim it again from its last checkpoint.
            self._note(f"run {run_id} stopped: {exc}")
        except Exception as exc:  # a bug, here or in the engine: never claim it again blindly
            await self._fail(lease, store, f"{type(exc).__name__}: {exc}")
        finally:
            self._runs.pop(run_id, None)
            self._room.set()

    def _graph(self, record: RunRecord) -> CompiledGraph[Any]:
        source = record.source
        if not source:
            raise _Unrunnable(
                f"run {record.run_id} records no graph source, so no host can import its "
                "graph; submit runs with source='module:attribute'"
            )
        if source not in self._graphs:
            from .source import load_graph

            try:
                self._graphs[source] = load_graph(source)
            except Exception as exc:
                raise _Unrunnable(
                    f"host {self.owner} cannot import graph {source!r} of run "
                    f"{record.run_id} ({type(exc).__name__}: {exc}); make it importable on "
                    "every Ray node (PYTHONPATH, or a runtime_env)"
                ) from exc
        return self._graphs[source]

    async def _fail(self, lease: Lease, store: PostgresStore, error: str) -> None:
        self._counts[str(RunStatus.FAILED)] += 1
        self._note(error)
        try:
            await store.update_run(lease.run_id, status="failed", error=error, fence=lease)
        except StoreError as exc:
            self._note(f"could not mark run {lease.run_id} failed: {exc}")

    def _lose(self, run_id: str, exc: LeaseLostError) -> None:
        self._lost.setdefault(run_id, str(exc))
        log.warning("%s", exc)

    def _note(self, message: str) -> None:
        log.warning("%s: %s", self.owner, message)
        self._errors = [*self._errors[-19:], message]


_host_class: Any = None


def _host_actor() -> Any:
    global _host_class
    if _host_class is None:
        _host_class = _ray().remote(RunHost)
    return _host_class


def start_hosts(
    store: str,
    count: int = 2,
    *,
    name: str = "orchestrator-host",
    detached: bool = False,
    actor_options: Mapping[str, Any] | None = None,
    **config: Any,
) -> list[Any]:
    """Start ``count`` run hosts as Ray actors claiming runs from the PostgreSQL ``store``
    and return their actor handles once they claim. ``config`` goes to `RunHost`.

    Each host is one process of about 80 MB carrying up to ``capacity`` runs on its event
    loop (``num_cpus=0``: it waits on I/O; code steps sent to Ray by a `RayExecutor` take the
    CPUs). ``detached`` hosts outlive this driver: named ``{name}-{i}`` in the namespace
    `NAMESPACE` (call `init_ray` with it), found again with `find_hosts`.
    """
    ray = _ray()
    if not ray.is_initialized():
        init_ray(namespace=NAMESPACE if detached else None)
    handles = []
    for i in range(count):
        options: dict[str, Any] = {"num_cpus": 0, "max_concurrency": 10_000, "max_restarts": 0}
        if detached:
            options.update(name=f"{name}-{i}", lifetime="detached")
        options.update(actor_options or {})
        actor = _host_actor().options(**options)
        handles.append(actor.remote(store, name=f"{name}-{i}", **config))
    ray.get([handle.start.remote() for handle in handles])
    return handles


def find_hosts(name: str = "orchestrator-host") -> list[Any]:
    """The detached hosts named ``{name}-{i}`` in this driver's Ray namespace."""
    ray = _ray()
    names = sorted(n for n in ray.util.list_named_actors() if n.startswith(f"{name}-"))
    return [ray.get_actor(n) for n in names]


def stop_hosts(handles: Iterable[Any], *, drain: bool = False) -> list[dict[str, Any]]:
    """Stop hosts (see `RunHost.stop`), then end their actors; their final statuses."""
    ray = _ray()
    handles = list(handles)
    statuses: list[dict[str, Any]] = ray.get([h.stop.remote(drain=drain) for h in handles])
    for handle in handles:
        ray.kill(handle)
    return statuses


# --- submitting and following runs -------------------------------------------------------------


async def submit(
    graph: CompiledGraph[Any] | str,
    input: Any = None,
    *,
    store: Store | str | Path,
    source: str | None = None,
    run_id: str | None = None,
) -> str:
    """Queue a run for the run hosts and return its id; nothing executes here.

    ``graph`` is ``module:attribute`` (imported here, and by each host), or a compiled graph
    with its ``source`` given, so hosts can import it.
    """
    if isinstance(graph, str):
        from .source import load_graph

        compiled: CompiledGraph[Any] = load_graph(graph)
        source = source or graph
    else:
        compiled = graph
    if source is None:
        raise ValueError(
            f"submit graph {compiled.name!r} with source='module:attribute', so a run host can "
            "import it"
        )
    return await compiled.submit(input, store=store, source=source, run_id=run_id)


async def follow(
    run_id: str, *, store: Store | str | Path, poll: float = 0.2
) -> AsyncIterator[RunRecord]:
    """The run's record each time its status, owner or step count changes, until it is
    finished (completed, failed or waiting)."""
    seen: tuple[str, str | None, int] | None = None
    async with using_store(store) as opened:
        while True:
            record = await opened.get_run(run_id)
            now = (record.status, record.owner, record.steps)
            if now != seen:
                seen = now
                yield record
            if record.status in FINISHED:
                return
            await asyncio.sleep(poll)


async def wait(
    run_ids: str | Iterable[str],
    *,
    store: Store | str | Path,
    timeout: float | None = None,
    poll: float = 0.2,
) -> dict[str, RunRecord]:
    """Wait until every run is finished (completed, failed or waiting); their records.

    Raises TimeoutError after ``timeout`` seconds naming what is still unfinished.
    """
    ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
    done: dict[str, RunRecord] = {}
    deadline = None if timeout is None else time.monotonic() + timeout
    async with using_store(store) as opened:
        todo = list(ids)
        while todo:
            # Runs finish roughly in submission order: read until the first unfinished one,
            # so a wait over thousands of runs costs a query or so per round.
            while todo:
                record = await opened.get_run(todo[0])
                if record.status not in FINISHED:
                    break
                done[todo.pop(0)] = record
            if not todo:
                break
            if deadline is not None and time.monotonic() > deadline:
                states = Counter([(await opened.get_run(r)).status for r in todo])
                raise TimeoutError(
                    f"{len(todo)} of {len(ids)} runs unfinished after {timeout} s "
                    f"({', '.join(f'{n} {s}' for s, n in states.items())}); is a run host "
                    "claiming from this store? (orchestrator cluster up --store ...)"
                )
            await asyncio.sleep(poll)
            todo.append(todo.pop(0))  # an unfinished head must not hide finished runs
    return {run_id: done[run_id] for run_id in ids}
