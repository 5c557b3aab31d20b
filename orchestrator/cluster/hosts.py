"""Run hosts: `RunHost` claims queued runs from PostgreSQL and drives them with the scheduler,
every write fenced on the run's lease; `start_hosts` runs hosts as Ray actors."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..compiled import prepare_resume
from ..config import DEFAULT_MAX_STEPS
from ..durable import Persister, rebuild, resumable
from ..errors import (
    CheckpointMismatchError,
    LeaseLostError,
    ResumeError,
    RunNotFoundError,
    StoreError,
)
from ..events import RunStatus
from ..records import RunRecord
from ..run import RunOptions
from .common import FINISHED, NAMESPACE, _ray, init_ray

if TYPE_CHECKING:
    from ..compiled import CompiledGraph
    from ..store.postgres import Lease, PostgresStore

log = logging.getLogger(__name__)


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
        from ..store.postgres import PostgresStore

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
                leases = await self._control.claim(
                    self.owner, self.ttl, limit=want, mark_running=True
                )
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
            held = {lease.run_id: (lease, task) for lease, task in self._runs.values()}
            leases = [lease for lease, task in held.values() if not task.done()]
            try:  # one statement for the whole round
                lost = await self._control.heartbeat_many(leases)
            except StoreError as exc:  # writes stay fenced; the next round tries again
                self._note(f"renewing {len(leases)} leases failed: {exc}")
                continue
            for lease in lost:
                _, task = held[lease.run_id]
                if task.done():
                    continue  # it stopped (and let go) meanwhile
                self._lose(lease.run_id, LeaseLostError(lease.run_id, lease.owner, lease.epoch))
                task.cancel()  # another host owns the run: stop touching it now

    # --- one run ------------------------------------------------------------------------------

    async def _drive(self, lease: Lease, store: PostgresStore) -> None:
        run_id = lease.run_id
        try:
            try:
                # One read for everything: the record names the graph, then the run is rebuilt.
                stored = await store.read_run(run_id)
                graph = self._graph(stored.record)
                loaded, record = rebuild(graph, stored)
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
                hooks=Persister(
                    store,
                    graph,
                    fresh=False,
                    fence=lease,
                    created=record.created,
                    marked_running=True,  # by the claim
                ),
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
            from ..source import load_graph

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
