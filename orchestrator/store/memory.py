"""An in-process store for tests and one-off runs: the same interface, nothing on disk.

Checkpoints are kept encoded, through the same codec as the SQL stores, so nothing in the
store aliases an object a running node may still change, and reading a run back goes through
the same validation as everywhere else."""

from __future__ import annotations

import copy
import time
from typing import Any

from ..cache import LocalCache
from ..errors import LeaseLostError, RunExistsError, RunNotFoundError
from ..records import (
    Checkpoint,
    PendingWrite,
    RunRecord,
    decode_checkpoint,
    decode_log,
    encode_checkpoint,
    to_json,
)
from .base import Store
from .lease import Lease, owner_gone


class MemoryStore(Store):
    where = "memory store"

    def __init__(self) -> None:
        self._runs: dict[str, RunRecord] = {}
        self._checkpoints: dict[str, list[tuple[int, bool, str]]] = {}  # step, snapshot?, JSON
        self._pending: dict[tuple[str, int], dict[int, PendingWrite]] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._resumes: dict[str, dict[int, list[Any]]] = {}
        # run id -> (owner, epoch, expiry as time.monotonic()), of runs that were ever leased
        self._leases: dict[str, tuple[str | None, int, float | None]] = {}
        self._cache = LocalCache()  # the node cache's entries

    async def create_run(
        self, run: RunRecord, first: Checkpoint, *, lease_ttl: float | None = None
    ) -> int:
        if run.run_id in self._runs:
            raise RunExistsError(run.run_id, self.where)
        self._runs[run.run_id] = run.model_copy()
        self._checkpoints[run.run_id] = []
        self._events[run.run_id] = []
        if lease_ttl is not None:
            self._leases[run.run_id] = (run.owner, 1, time.monotonic() + lease_ttl)
        return self._append(first)

    # --- leases ------------------------------------------------------------------------------

    async def acquire(self, run_id: str, owner: str, ttl: float) -> Lease | None:
        await self.get_run(run_id)
        held, epoch, expires = self._leases.get(run_id, (None, 0, None))
        live = held is not None and expires is not None and expires > time.monotonic()
        if live and held != owner and not owner_gone(held):
            return None
        self._leases[run_id] = (owner, epoch + 1, time.monotonic() + ttl)
        self._runs[run_id].owner = owner
        return Lease(run_id, owner, epoch + 1, ttl)

    async def heartbeat(self, lease: Lease) -> None:
        self._fenced(lease.run_id, lease)
        self._leases[lease.run_id] = (lease.owner, lease.epoch, time.monotonic() + lease.ttl)

    async def release(self, lease: Lease) -> None:
        held, epoch, _ = self._leases.get(lease.run_id, (None, 0, None))
        if (held, epoch) == (lease.owner, lease.epoch):
            self._leases[lease.run_id] = (held, epoch, None)  # the owner stays: last driver

    async def holder(self, run_id: str) -> tuple[str | None, float | None]:
        await self.get_run(run_id)
        held, _, expires = self._leases.get(run_id, (None, 0, None))
        if held is None or expires is None:
            return None, None
        return held, max(0.0, expires - time.monotonic())

    def _fenced(self, run_id: str, fence: Any) -> None:
        """Refuse a write whose lease is no longer the run's current one."""
        if fence is None or not isinstance(fence, Lease) or fence.epoch == 0:
            return
        held, epoch, expires = self._leases.get(run_id, (None, 0, None))
        if (held, epoch) != (fence.owner, fence.epoch) or expires is None:
            raise LeaseLostError(run_id, fence.owner, fence.epoch)

    def _append(self, checkpoint: Checkpoint) -> int:
        data = encode_checkpoint(checkpoint)
        self._checkpoints[checkpoint.run_id].append(
            (checkpoint.step, checkpoint.snapshot is not None, data)
        )
        return len(data)

    async def save_step(
        self, checkpoint: Checkpoint, events: list[dict[str, Any]], *, fence: Any = None
    ) -> int:
        self._fenced(checkpoint.run_id, fence)
        size = self._append(checkpoint)
        self._events[checkpoint.run_id].extend(copy.deepcopy(events))
        run = self._runs[checkpoint.run_id]
        run.steps = checkpoint.step
        run.updated = time.time()
        return size

    async def save_pending(self, pending: PendingWrite, *, fence: Any = None) -> None:
        self._fenced(pending.run_id, fence)
        self._pending.setdefault((pending.run_id, pending.step), {})[pending.task_id] = pending

    async def save_events(
        self, run_id: str, step: int, events: list[dict[str, Any]], *, fence: Any = None
    ) -> None:
        self._fenced(run_id, fence)
        self._events[run_id].extend(events)

    async def update_run(
        self, run_id: str, *, fence: Any = None, release: bool = False, **fields: Any
    ) -> None:
        run = await self.get_run(run_id)
        self._fenced(run_id, fence)
        for key, value in fields.items():
            setattr(self._runs[run.run_id], key, value)
        if release and isinstance(fence, Lease):
            await self.release(fence)

    async def add_resume(self, run_id: str, task_id: int, value: Any) -> None:
        self._resumes.setdefault(run_id, {}).setdefault(task_id, []).append(to_json(value))

    async def get_run(self, run_id: str) -> RunRecord:
        run = self._runs.get(run_id)
        if run is None:
            raise RunNotFoundError(run_id, self.where)
        return run.model_copy()

    async def checkpoints(self, run_id: str, *, from_snapshot: bool = True) -> list[Checkpoint]:
        await self.get_run(run_id)
        rows = self._checkpoints[run_id]
        start = 0
        if from_snapshot:
            start = max(i for i, (_, snapshot, _) in enumerate(rows) if snapshot)
        return decode_log(run_id, ((step, data) for step, _, data in rows[start:]), self.where)

    async def path(self, run_id: str) -> list[str]:
        rows = self._checkpoints.get(run_id, [])
        checkpoints = (decode_checkpoint(run_id, step, data, self.where) for step, _, data in rows)
        return [node for checkpoint in checkpoints for node in checkpoint.ran]

    async def _delete_runs(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            for table in (
                self._runs,
                self._checkpoints,
                self._events,
                self._resumes,
                self._leases,
            ):
                table.pop(run_id, None)
            for key in [k for k in self._pending if k[0] == run_id]:
                del self._pending[key]

    async def pending(self, run_id: str, step: int) -> list[PendingWrite]:
        return list(self._pending.get((run_id, step), {}).values())

    async def resumes(self, run_id: str) -> dict[int, list[Any]]:
        return copy.deepcopy(self._resumes.get(run_id, {}))

    async def events(self, run_id: str) -> list[dict[str, Any]]:
        return list(self._events.get(run_id, []))

    async def list_runs(self, limit: int = 100) -> list[RunRecord]:
        runs = sorted(self._runs.values(), key=lambda r: r.updated, reverse=True)
        return [r.model_copy() for r in runs[:limit]]

    # --- the node cache ------------------------------------------------------------------------

    async def cache_get(self, namespace: str, key: str) -> str | None:
        return await self._cache.cache_get(namespace, key)

    async def cache_put(self, namespace: str, key: str, value_json: str, ttl: float | None) -> None:
        await self._cache.cache_put(namespace, key, value_json, ttl)

    async def cache_clear(self, namespace: str | None = None) -> int:
        return await self._cache.cache_clear(namespace)
