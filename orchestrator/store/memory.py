"""An in-process store for tests and one-off runs: the same interface, nothing on disk."""

from __future__ import annotations

import copy
import time
from typing import Any

from ..errors import RunNotFoundError
from ..records import Checkpoint, PendingWrite, RunRecord, to_json
from .base import Store


class MemoryStore(Store):
    where = "memory store"

    def __init__(self) -> None:
        self._runs: dict[str, RunRecord] = {}
        self._checkpoints: dict[str, list[Checkpoint]] = {}
        self._pending: dict[tuple[str, int], dict[int, PendingWrite]] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._resumes: dict[str, dict[int, list[Any]]] = {}

    async def create_run(self, run: RunRecord, first: Checkpoint) -> int:
        self._runs[run.run_id] = run.model_copy()
        self._checkpoints[run.run_id] = [first]
        self._events[run.run_id] = []
        return 0

    async def save_step(
        self, checkpoint: Checkpoint, events: list[dict[str, Any]], *, fence: Any = None
    ) -> int:
        self._checkpoints[checkpoint.run_id].append(checkpoint)
        self._events[checkpoint.run_id].extend(events)
        run = self._runs[checkpoint.run_id]
        run.steps = checkpoint.step
        run.updated = time.time()
        return 0  # nothing is encoded in memory, so no snapshot is ever worth taking

    async def save_pending(self, pending: PendingWrite, *, fence: Any = None) -> None:
        self._pending.setdefault((pending.run_id, pending.step), {})[pending.task_id] = pending

    async def save_events(
        self, run_id: str, step: int, events: list[dict[str, Any]], *, fence: Any = None
    ) -> None:
        self._events[run_id].extend(events)

    async def update_run(self, run_id: str, *, fence: Any = None, **fields: Any) -> None:
        run = await self.get_run(run_id)
        for key, value in fields.items():
            setattr(self._runs[run.run_id], key, value)

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
            start = max(i for i, c in enumerate(rows) if c.snapshot is not None)
        return copy.deepcopy(rows[start:])

    async def path(self, run_id: str) -> list[str]:
        return [node for c in self._checkpoints.get(run_id, []) for node in c.ran]

    async def pending(self, run_id: str, step: int) -> list[PendingWrite]:
        return list(self._pending.get((run_id, step), {}).values())

    async def resumes(self, run_id: str) -> dict[int, list[Any]]:
        return copy.deepcopy(self._resumes.get(run_id, {}))

    async def events(self, run_id: str) -> list[dict[str, Any]]:
        return list(self._events.get(run_id, []))

    async def list_runs(self, limit: int = 100) -> list[RunRecord]:
        runs = sorted(self._runs.values(), key=lambda r: r.updated, reverse=True)
        return [r.model_copy() for r in runs[:limit]]
