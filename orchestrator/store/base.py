"""The store interface every backend implements. All methods are async; the SQLite backend
does its short writes inline, PostgreSQL goes over the network."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from ..records import Checkpoint, PendingWrite, RunRecord


class Store(ABC):
    """Runs, append-only checkpoints, pending writes, rich events and resume values."""

    #: Where the store lives, for messages ("runs.db", "postgresql://...").
    where: str = "store"

    @abstractmethod
    async def create_run(self, run: RunRecord, first: Checkpoint) -> int:
        """Add a run and its step-0 checkpoint (the input state and the first tasks); return
        the checkpoint's size in bytes."""

    @abstractmethod
    async def save_step(
        self, checkpoint: Checkpoint, events: list[dict[str, Any]], *, fence: Any = None
    ) -> int:
        """Append one barrier's checkpoint and the step's rich events, in one transaction;
        return the checkpoint's size in bytes.

        ``fence`` (PostgreSQL) is the writer's lease; a writer that lost it is refused.
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
    async def update_run(self, run_id: str, *, fence: Any = None, **fields: Any) -> None:
        """Set fields of the run row (status, error, waiting, steps, updated, owner).

        With a ``fence`` (a PostgreSQL lease) nothing is written unless it is still current.
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

    async def close(self) -> None:  # noqa: B027 - optional: in-process stores have nothing to do
        """Release connections (a no-op for in-process stores)."""
