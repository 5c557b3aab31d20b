"""The store interface every backend implements. All methods are async; the SQLite backend
does its short writes inline, PostgreSQL goes over the network."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..records import Checkpoint, PendingWrite, RunRecord
from .lease import Lease

_ALL = 2**31 - 1  # list_runs limit meaning every run
_LIVE = frozenset({"running", "queued"})


@dataclass(frozen=True, slots=True)
class StoredRun:
    """Everything needed to go on with a stored run, read together (`Store.read_run`)."""

    record: RunRecord
    checkpoints: list[Checkpoint]  # from the latest snapshot on
    path: list[str]  # every node run so far
    resumes: dict[int, list[Any]]  # resume values by task id
    pending: list[PendingWrite]  # kept writes of the step after the last checkpoint


class Store(ABC):
    """Runs, append-only checkpoints, pending writes, rich events and resume values (and
    the node cache's entries)."""

    #: Where the store lives, for messages ("runs.db", "postgresql://...").
    where: str = "store"

    @abstractmethod
    async def create_run(
        self, run: RunRecord, first: Checkpoint, *, lease_ttl: float | None = None
    ) -> int:
        """Add a run and its first checkpoint (the input state and the first tasks); return
        the checkpoint's size in bytes. With ``lease_ttl`` the run is created leased to
        ``run.owner`` (epoch 1) for that many seconds. A run id the store already holds is
        refused with `RunExistsError`."""

    # --- leases: one driver per run (see `store.lease`) ---------------------------------------

    async def acquire(self, run_id: str, owner: str, ttl: float) -> Lease | None:
        """Take the run's lease for ``ttl`` seconds, when nobody holds a live one (or its
        owner is gone); None while another owner's lease is live. `RunNotFoundError` for a
        run the store does not hold. A store without leases lets every driver in (epoch 0,
        nothing fenced)."""
        await self.get_run(run_id)
        return Lease(run_id, owner, 0, ttl)

    async def heartbeat(self, lease: Lease) -> None:  # noqa: B027 - optional, see acquire
        """Extend the lease by its ttl; `LeaseLostError` when another driver took the run."""

    async def release(self, lease: Lease) -> None:  # noqa: B027 - optional, see acquire
        """Give the run up; its writes fenced by ``lease`` are refused from now on."""

    async def read_run(self, run_id: str) -> StoredRun:
        """The run's record, checkpoints from its latest snapshot, path, resume values and the
        pending writes of its unfinished step. PostgreSQL reads them in one round trip."""
        record = await self.get_run(run_id)
        checkpoints = await self.checkpoints(run_id)
        path = await self.path(run_id)
        resumes = await self.resumes(run_id)
        pending = await self.pending(run_id, checkpoints[-1].step + 1)
        return StoredRun(record, checkpoints, path, resumes, pending)

    async def holder(self, run_id: str) -> tuple[str | None, float | None]:
        """Who holds the run's lease and for how many more seconds (None, None: nobody)."""
        return None, None

    @abstractmethod
    async def save_step(
        self, checkpoint: Checkpoint, events: list[dict[str, Any]], *, fence: Any = None
    ) -> int:
        """Append one barrier's checkpoint and the step's rich events, in one transaction;
        return the checkpoint's size in bytes.

        ``fence`` is the writer's `Lease`; a writer that lost it is refused (`LeaseLostError`).
        """

    @abstractmethod
    async def save_pending(self, pending: PendingWrite, *, fence: Any = None) -> None:
        """Keep the outcome of a task that finished inside a step still in progress."""

    @abstractmethod
    async def save_events(
        self, run_id: str, step: int, events: list[dict[str, Any]], *, fence: Any = None
    ) -> None:
        """Append rich events outside a barrier (a failed or paused step)."""

    @abstractmethod
    async def update_run(
        self, run_id: str, *, fence: Any = None, release: bool = False, **fields: Any
    ) -> None:
        """Set fields of the run row (status, error, waiting, steps, updated, owner).

        With a ``fence`` (a `Lease`) nothing is written unless it is still current;
        ``release`` gives the lease up in the same write.
        """

    @abstractmethod
    async def add_resume(self, run_id: str, task_id: int, value: Any) -> None:
        """Record a value a paused task is resumed with (kept before the task runs again)."""

    @abstractmethod
    async def get_run(self, run_id: str) -> RunRecord:
        """The run row; RunNotFoundError when there is none."""

    @abstractmethod
    async def checkpoints(self, run_id: str, *, from_snapshot: bool = True) -> list[Checkpoint]:
        """Checkpoints in step order: all of them, or from the latest full snapshot on."""

    @abstractmethod
    async def path(self, run_id: str) -> list[str]:
        """Every node the run executed, in order (from all its checkpoints)."""

    @abstractmethod
    async def pending(self, run_id: str, step: int) -> list[PendingWrite]:
        """Pending writes of ``step`` (the step after the latest checkpoint)."""

    @abstractmethod
    async def resumes(self, run_id: str) -> dict[int, list[Any]]:
        """Resume values by task id, in the order they were given."""

    @abstractmethod
    async def events(self, run_id: str) -> list[dict[str, Any]]:
        """The run's rich events, in order."""

    @abstractmethod
    async def list_runs(self, limit: int = 100) -> list[RunRecord]:
        """The most recently updated runs first."""

    # --- the node cache (see `orchestrator.cache`) ---------------------------------------------
    # Optional: a store that keeps no cache answers every lookup with a miss, so its runs
    # simply run their cached nodes.

    async def cache_get(self, namespace: str, key: str) -> str | None:
        """The JSON of the write cached under ``key`` for ``namespace`` (a graph's node),
        or None when there is none or it expired."""
        return None

    async def cache_put(  # noqa: B027 - optional, see cache_get
        self, namespace: str, key: str, value_json: str, ttl: float | None
    ) -> None:
        """Cache ``value_json`` under ``key`` for ``ttl`` seconds (None: until cleared),
        replacing what was there."""

    async def cache_clear(self, namespace: str | None = None) -> int:
        """Remove the cached writes of ``namespace`` (None: of every node); how many."""
        return 0

    # --- lifecycle ---------------------------------------------------------------------------

    async def delete_run(self, run_id: str, *, forks: bool = False) -> list[str]:
        """Delete a run and all its rows; with ``forks``, its forks (and theirs) too. Returns
        the ids deleted. Forks left behind keep working: each starts from its own snapshot.
        `RunNotFoundError` when there is no such run."""
        await self.get_run(run_id)  # names a missing run
        doomed = [run_id]
        if forks:
            children: dict[str, list[str]] = {}
            for record in await self.list_runs(_ALL):
                if record.parent_run:
                    children.setdefault(record.parent_run, []).append(record.run_id)
            for parent in doomed:  # grows as it goes: forks of forks
                doomed.extend(c for c in children.get(parent, []) if c not in doomed)
        await self._delete_runs(doomed)
        return doomed

    async def prune(
        self, *, older_than: float, status: Iterable[str] | None = None, now: float | None = None
    ) -> list[str]:
        """Delete the runs last updated more than ``older_than`` seconds ago whose status is in
        ``status`` (default: every status but running and queued, which a host may still be
        driving), and reclaim their space. Returns the ids deleted."""
        wanted = set(status) if status is not None else None
        cutoff = (time.time() if now is None else now) - older_than
        doomed = [
            r.run_id
            for r in await self.list_runs(_ALL)
            if r.updated < cutoff
            and (r.status in wanted if wanted is not None else r.status not in _LIVE)
        ]
        if doomed:
            await self._delete_runs(doomed)
            await self._reclaim()
        return doomed

    async def _delete_runs(self, run_ids: list[str]) -> None:
        """Remove every row of these runs, atomically."""
        raise NotImplementedError(f"{type(self).__name__} cannot delete runs")

    async def _reclaim(self) -> None:  # noqa: B027 - optional: most stores reclaim by themselves
        """Give the space of deleted rows back (SQLite: VACUUM)."""

    async def close(self) -> None:  # noqa: B027 - optional: in-process stores have nothing to do
        """Release connections (a no-op for in-process stores)."""
