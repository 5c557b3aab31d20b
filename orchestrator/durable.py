"""Durable runs: the persister that hangs a store off a run, and loading a run back from it.

Resume contract: steps that reached their barrier are never run again; tasks that finished
inside a step that did not (the process died, or another branch paused or failed) are kept as
pending writes and not run again; tasks that were in flight run again (at-least-once). Join
arrivals and fan-out progress are part of every checkpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic_core import PydanticSerializationError
from pydantic_core import to_json as to_json_bytes

from .codec import Unkeepable, encode_value, is_plain
from .errors import (
    CheckpointMismatchError,
    LeaseLostError,
    ResumeError,
    RunBusyError,
    StoreError,
    StoreUnavailableError,
    TransientStoreError,
    UnstorableValueError,
)
from .events import (
    EdgeTaken,
    Event,
    NodeFailed,
    NodeFinished,
    NodeRetried,
    NodeStarted,
    RunStatus,
    StepStarted,
)
from .log import joins_to_json, run_state
from .records import (
    RICH_EVENTS,
    Checkpoint,
    Known,
    PendingWrite,
    RunRecord,
    Snapshot,
    TaskRecord,
    TaskWrite,
    encode_writes,
    event_to_json,
    graph_hash,
    known_containers,
    to_json,
)
from .run import Edit, Outcome, RunState, Task, Waiting
from .store import Store, StoredRun
from .store.lease import LEASE_TTL, Lease, local_owner
from .store.lease import let_go as _stopped_driving

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .spec import GraphSpec

#: A full snapshot is written once the deltas since the last one exceed this many bytes and
#: SNAPSHOT_RATIO times the last snapshot. Snapshot sizes then grow geometrically, so all of
#: them together cost a small multiple of the final state, and storage stays linear in the
#: updates made; loading replays at most that many bytes of deltas after a snapshot.
SNAPSHOT_MIN_BYTES = 64 * 1024
SNAPSHOT_RATIO = 8

T = TypeVar("T")

#: Waits (seconds) between tries of a store write that failed with a `TransientStoreError`;
#: once they are used up the run stops, resumable, with `StoreUnavailableError`.
STORE_RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)


class Persister:
    """Writes a run to a store: step 0 at the start, a checkpoint at every barrier, pending
    writes inside parallel steps, and the run's status when it stops."""

    def __init__(
        self,
        store: Store,
        graph: GraphSpec,
        *,
        fresh: bool,
        parent: tuple[str, int] | None = None,
        first_path: list[str] | None = None,
        first_edit: dict[str, Any] | None = None,
        snapshot_every: int | None = None,
        fence: Any = None,
        status: RunStatus = RunStatus.RUNNING,
        lease_ttl: float = LEASE_TTL,
        created: float | None = None,
        marked_running: bool = False,
    ) -> None:
        self.store, self.graph, self.fresh, self.parent = store, graph, fresh, parent
        self.first_path = first_path or []
        self.first_edit = first_edit  # a fork's edited fields, marked on its first checkpoint
        self.snapshot_every = snapshot_every
        # The run's lease: given by a run host (which renews it), or taken here — with the
        # run's creation, or by `take` before a stored run is touched — and then renewed
        # every third of ``lease_ttl`` while the run is driven, and released when it stops.
        self.fence: Lease | None = fence
        self._own_lease = fence is None
        self.owner = fence.owner if fence is not None else local_owner()
        self.lease_ttl = lease_ttl
        self._renewal: asyncio.TimerHandle | None = None
        self._renewing: asyncio.Task[None] | None = None
        self.status = status  # what a new run is stored as: running, or queued (submitted)
        # A stored run's creation time when the caller read it already, and whether its row
        # says running already (a run host's claim does both): no round trip for either.
        self._created, self._marked_running = created, marked_running
        self._edges: list[tuple[str, str, str, str | None]] = []
        self._timing: list[tuple[int, str, float, float, int]] = []
        self._rich: list[dict[str, Any]] = []
        self._since_snapshot = 0
        self._last_snapshot = 0
        self._snapshot_next = False
        self._t0 = time.time()  # timing is stored relative to the run's creation
        self.retry_delays = STORE_RETRY_DELAYS
        # The containers of the state before the current step, fingerprinted before any
        # node of the step ran (write references, see `records.known_containers`).
        self._known: Known = {}
        self._started: list[NodeStarted] = []  # the current step's NodeStarted events
        self._saved: set[int] = set()  # tasks of the current step with a pending write stored
        self._told: set[int] = set()  # tasks whose NodeStarted went to the rich events
        self._kept: dict[str, Any] | None = None  # `RunState.kept` as last checkpointed

    def emit(self, event: Event) -> None:
        kind = type(event)
        if kind is NodeStarted:
            assert isinstance(event, NodeStarted)
            self._started.append(event)
        elif kind is EdgeTaken:
            assert isinstance(event, EdgeTaken)
            self._edges.append((event.source, event.target, str(event.kind), event.label))
        elif kind is NodeFinished:
            assert isinstance(event, NodeFinished)
            self._timing.append(
                (
                    event.task_id,
                    event.node,
                    round(event.at - self._t0, 3),
                    round(event.duration, 6),
                    event.attempt,
                )
            )
        elif isinstance(event, RICH_EVENTS):
            if kind is NodeFailed or kind is NodeRetried:
                # A task that never finishes (or not at once) has no timing in the checkpoint:
                # keep its start, so the stored run shows it ran.
                self._tell_started(getattr(event, "task_id", -1))
            self._rich.append(event_to_json(event))

    def _tell_started(self, task_id: int) -> None:
        if task_id in self._told:
            return
        for started in self._started:
            if started.task_id == task_id:
                self._told.add(task_id)
                self._rich.append(event_to_json(started))
                return

    def _snapshot(self, rs: RunState) -> Snapshot:
        state = rs.state.model_dump(mode="json")
        for name in self.graph.schema.loose:  # typed Any: keep the values' types (see codec)
            value = getattr(rs.state, name)
            if not is_plain(value):
                state[name] = encode_value(value)
        return Snapshot(
            state=state,
            visits=dict(rs.visits),
            edge_counts=[(s, t, n) for (s, t), n in rs.edge_counts.items()],
        )

    def _checkpoint(
        self,
        rs: RunState,
        step: int,
        writes: list[TaskWrite] | None = None,
        ran: list[str] | None = None,
        snapshot: Snapshot | None = None,
    ) -> Checkpoint:
        edges, self._edges = self._edges, []
        timing, self._timing = self._timing, []
        checkpoint = Checkpoint(
            rs.run_id,
            step,
            writes or [],
            ran or [],
            edges,
            timing,
            [TaskRecord.of(t) for t in rs.tasks],
            joins_to_json(rs.joins),
            rs.seq,
            snapshot,
        )
        if rs.kept is not self._kept or snapshot is not None:  # changed, or a full snapshot
            checkpoint.kept = self._kept = rs.kept
        return checkpoint

    async def _try(
        self, rs: RunState, write: Callable[..., Awaitable[T]], *args: Any, **kw: Any
    ) -> T:
        """``write(*args, **kw)``, tried again after a transient store error, with backoff."""
        for delay in self.retry_delays:
            try:
                return await write(*args, **kw)
            except TransientStoreError:
                await asyncio.sleep(delay)
        try:
            return await write(*args, **kw)
        except TransientStoreError as exc:
            where = getattr(self.store, "where", type(self.store).__name__)
            raise StoreUnavailableError(rs.run_id, str(where), exc) from exc

    def _pending(self, rs: RunState, step: int, outcome: Outcome) -> PendingWrite:
        try:
            loose = self.graph.schema.loose
            return PendingWrite.of(rs.run_id, step, outcome, self._known, loose)
        except (PydanticSerializationError, Unkeepable) as exc:
            task = outcome.task
            owned = [(task.id, task.node, w) for w in [*(outcome.pre or ()), outcome.update or {}]]
            raise _unstorable(owned, [], self.graph.schema.loose, exc) from exc

    # --- the lease ------------------------------------------------------------------------------

    async def take(self, run_id: str) -> Lease:
        """Take the lease of stored run ``run_id`` before anything of it is read to drive it
        or written; `RunBusyError` (naming who drives it) when another driver holds it."""
        if self.fence is not None:
            return self.fence
        lease = await self.store.acquire(run_id, self.owner, self.lease_ttl)
        if lease is None:
            held, left = await self.store.holder(run_id)
            raise RunBusyError(run_id, held or "another driver", left)
        self.fence = lease
        return lease

    def _renew_later(self) -> None:
        if not self._own_lease or self.fence is None or not self.fence.epoch:
            return
        loop = asyncio.get_running_loop()
        self._renewal = loop.call_later(self.lease_ttl / 3, self._renew_now)

    def _renew_now(self) -> None:
        self._renewal = None
        self._renewing = asyncio.ensure_future(self._renew())

    async def _renew(self) -> None:
        lease = self.fence
        if lease is None:
            return
        try:
            await self.store.heartbeat(lease)
        except LeaseLostError:
            return  # taken over: the next write of the run is refused, and the run stops
        except StoreError:
            pass  # the store blinked: writes stay fenced; try again next round
        self._renew_later()

    def finish(self) -> None:
        """Stop renewing the lease (the drive is over, however it ended); a lease left
        behind is then free for the next driver of this process to take."""
        if self._own_lease:
            _stopped_driving(self.owner)
        if self._renewal is not None:
            self._renewal.cancel()
            self._renewal = None
        if self._renewing is not None and not self._renewing.done():
            self._renewing.cancel()
        self._renewing = None

    async def let_go(self) -> None:
        """Release the lease this driver took, touching nothing else of the run."""
        self.finish()
        if self._own_lease and self.fence is not None and self.fence.epoch:
            await self.store.release(self.fence)

    async def started(self, rs: RunState) -> None:
        self._known = known_containers(rs.state)
        if not self.fresh:
            await self.take(rs.run_id)
            self._renew_later()
            if self._created is None:
                self._created = (await self._try(rs, self.store.get_run, rs.run_id)).created
            self._t0 = self._created
            if self._marked_running:
                return
            await self._try(
                rs,
                self.store.update_run,
                rs.run_id,
                status=str(RunStatus.RUNNING),
                error=None,
                waiting=[],
                fence=self.fence,
            )
            return
        snapshot = self._snapshot(rs)
        first = self._checkpoint(rs, rs.step, snapshot=snapshot, ran=self.first_path)
        first.edit = self.first_edit
        record = RunRecord(
            created=self._t0,
            run_id=rs.run_id,
            graph=self.graph.name,
            graph_hash=graph_hash(self.graph),
            status=str(self.status),
            steps=rs.step,
            parent_run=self.parent[0] if self.parent else None,
            parent_step=self.parent[1] if self.parent else None,
            # A submitted run has no owner until a host claims it.
            owner=None if self.status is RunStatus.QUEUED else self.owner,
            source=rs.options.source if rs.options is not None else None,
        )
        if self.status is RunStatus.QUEUED:
            self._last_snapshot = await self._try(rs, self.store.create_run, record, first)
        else:  # created leased to this driver (epoch 1): nobody else can drive it meanwhile
            self._last_snapshot = await self._try(
                rs, self.store.create_run, record, first, lease_ttl=self.lease_ttl
            )
            if self.fence is None:
                self.fence = Lease(rs.run_id, self.owner, 1, self.lease_ttl)
            self._renew_later()
        self.fresh = False

    async def task_done(self, rs: RunState, step: int, outcome: Outcome) -> None:
        await self._try(
            rs,
            self.store.save_pending,
            self._pending(rs, step, outcome),
            fence=self.fence,
        )
        self._saved.add(outcome.task.id)

    async def barrier(
        self,
        rs: RunState,
        step: int,
        outcomes: list[Outcome],
        writes: list[tuple[str, Mapping[str, Any]]],
        edit: Edit | None = None,
    ) -> None:
        owned: list[TaskWrite] = []  # read only: encoding copies what it keeps
        for o in outcomes:
            task = o.task
            if o.pre:
                owned.extend((task.id, task.node, write) for write in o.pre)
            if o.update:
                owned.append((task.id, task.node, o.update))  # type: ignore[arg-type]
        loose = self.graph.schema.loose
        try:
            encoded = encode_writes(owned, self._known, loose) if owned else owned
            snapshot = None
            if self._snapshot_next or (self.snapshot_every and step % self.snapshot_every == 0):
                snapshot = self._snapshot(rs)
            ran = [o.task.node for o in outcomes] if edit is None else []
            checkpoint = self._checkpoint(rs, step, writes=encoded, ran=ran, snapshot=snapshot)
            if edit is not None:
                checkpoint.edit = {"by": edit.by, "as_node": edit.as_node}
        except Unkeepable as exc:
            raise _unstorable(owned, rs.tasks, loose, exc) from exc
        self._known = known_containers(rs.state)
        self._started = []
        if self._told:
            self._told = set()
        if self._saved:
            self._saved = set()
        rich, self._rich = self._rich, []
        try:
            try:  # the common case first: one await, no retry wrapper
                size = await self.store.save_step(checkpoint, rich, fence=self.fence)
            except TransientStoreError:
                size = await self._try(rs, self.store.save_step, checkpoint, rich, fence=self.fence)
        except PydanticSerializationError as exc:
            raise _unstorable(owned, rs.tasks, loose, exc) from exc
        if snapshot is not None:
            self._since_snapshot, self._last_snapshot = 0, int(size or 0)
            self._snapshot_next = False
        else:
            self._since_snapshot += int(size or 0)
            limit = max(SNAPSHOT_MIN_BYTES, SNAPSHOT_RATIO * self._last_snapshot)
            self._snapshot_next = self._since_snapshot > limit

    async def stopped(self, rs: RunState) -> None:
        self.finish()
        if self.fresh:  # failed before it could start (e.g. the store refused it)
            return
        step = rs.step + 1
        for outcome in rs.pending.values():
            await self._try(
                rs, self.store.save_pending, self._pending(rs, step, outcome), fence=self.fence
            )
        for task_id in self._saved.intersection(rs.refused):
            # Finished, but the barrier refused its write: withdrawn (attempt 0), so a resume
            # runs the task again instead of applying the same refused write.
            await self._try(
                rs,
                self.store.save_pending,
                PendingWrite(run_id=rs.run_id, step=step, task_id=task_id, attempt=0),
                fence=self.fence,
            )
        self._saved = set()
        rich, self._rich = self._rich, []
        if self._started:
            # A step that stopped before its barrier has no checkpoint: keep what started in
            # it (and how long what finished took), so the stored run shows the failed node.
            started, self._started = self._started, []
            head: list[dict[str, Any]] = [
                event_to_json(StepStarted(rs.run_id, step, [e.node for e in started]))
            ]
            head.extend(event_to_json(e) for e in started if e.task_id not in self._told)
            rich = head + rich
        await self._try(rs, self.store.save_events, rs.run_id, step, rich, fence=self.fence)
        waiting = [
            {"task_id": w.task_id, "node": w.node, "request": to_json(w.request)}
            for w in rs.waiting
        ]
        await self._try(
            rs,
            self.store.update_run,
            rs.run_id,
            status=str(rs.status),
            steps=rs.step,
            waiting=waiting,
            error=None if rs.error is None else str(rs.error),
            updated=time.time(),
            fence=self.fence,
            # The lease ends with the run's stop; a run host keeps the lease of a run it was
            # told to stop (interrupted), to hand the run back itself.
            release=self.fence is not None
            and (self._own_lease or rs.status is not RunStatus.INTERRUPTED),
        )


async def load(store: Store, graph: GraphSpec, run_id: str) -> tuple[RunState, RunRecord]:
    """Rebuild a run's state after its latest checkpoint (with pending writes and resume
    values), checking it still fits the graph."""
    return rebuild(graph, await store.read_run(run_id))


def rebuild(graph: GraphSpec, stored: StoredRun) -> tuple[RunState, RunRecord]:
    """`load` from what `Store.read_run` read (a run host reads first, to find the graph)."""
    record, run_id = stored.record, stored.record.run_id
    if record.graph != graph.name:
        raise StoreError(
            f"run {run_id!r} belongs to graph {record.graph!r}, not {graph.name!r}; load it "
            "with the graph that made it"
        )
    rs = run_state(graph, run_id, stored.checkpoints)
    rs.path = list(stored.path)
    rs.status = RunStatus(record.status)
    by_id = {t.id: t for t in rs.tasks}
    for task in rs.tasks:
        if task.node not in graph.nodes:
            raise CheckpointMismatchError(
                run_id,
                rs.step,
                f"the next task runs node {task.node!r}, which the graph no longer has",
            )
    for task_id, entries in stored.resumes.items():
        if task_id in by_id:
            by_id[task_id].resume = [e["answer"] for e in entries]
            by_id[task_id].asked = [e.get("asked") for e in entries]
    for pending in stored.pending:
        if pending.attempt and pending.task_id in by_id:  # attempt 0: withdrawn, run it again
            task = by_id[pending.task_id]
            rs.pending[pending.task_id] = pending.outcome(task, rs.state, graph.schema.loose)
    rs.waiting = [
        Waiting(task_id=w["task_id"], node=w["node"], request=w["request"]) for w in record.waiting
    ]
    return rs, record


def _unstorable(
    writes: list[TaskWrite], tasks: list[Task], loose: frozenset[str], exc: Exception
) -> StoreError:
    """The write (or Send payload) that cannot be stored as itself, named by node and field
    (never its value: it may be huge)."""
    found = [(node, key, value) for _, node, update in writes for key, value in update.items()]
    found += [(t.node, "payload", t.payload) for t in tasks if t.payload is not None]
    for node, key, value in found:
        try:
            to_json_bytes(encode_value(value) if key in loose or key == "payload" else value)
        except Unkeepable as bad:
            return UnstorableValueError(node, key, str(bad)[:200])
        except PydanticSerializationError as bad:
            reason = str(bad).removeprefix("Error serializing to JSON: ")[:200]
            return UnstorableValueError(node, key, reason)
    return StoreError(f"a checkpoint could not be encoded: {str(exc)[:200]}")


def resumable(rs: RunState, record: RunRecord) -> RunState:
    """Check a loaded run may be resumed; a run left 'running' by a dead process may."""
    if record.status == RunStatus.COMPLETED:
        raise ResumeError(
            f"run {record.run_id} has already completed; fork it from a step to run it again"
        )
    if record.status in (RunStatus.RUNNING, RunStatus.QUEUED):
        # Queued: submitted, never started. Running: its process died mid-run. Either way it
        # goes on from its last checkpoint, like after a failure.
        rs.status = RunStatus.FAILED
    return rs
