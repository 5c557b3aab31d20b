"""The context a node (or an agent's tool) gets while it runs: the run's dependencies, the
state it reads, its fan-out payload, and the means to add to its update or pause the run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

DepsT = TypeVar("DepsT")


class Interrupt(Exception):
    """Raised by `Context.interrupt` to pause the run; the scheduler catches it.

    It derives from Exception so asyncio treats it like any result of a task; do not swallow it
    with a bare ``except Exception`` inside a node.
    """

    def __init__(self, request: Any) -> None:
        super().__init__(request)
        self.request = request


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """What an ``on_error`` target learns about the failure that sent it there."""

    node: str
    error_type: str
    message: str
    attempts: int
    cause_type: str | None = None  # the underlying error's class (e.g. MaxTurnsExceeded)


class Context(Generic[DepsT]):
    """Passed as the second argument of a node function ``fn(state, ctx)``.

    For agent nodes the same object is the SDK's ``RunContextWrapper.context``, so function tools
    read ``wrapper.context.state`` and ``wrapper.context.deps`` and write with
    ``wrapper.context.update(field=value)``.
    """

    __slots__ = (
        "_asked",
        "_emit",
        "_interrupts_seen",
        "_resume",
        "_writes",
        "attempt",
        "deps",
        "detail",
        "error",
        "node",
        "options",
        "payload",
        "run_id",
        "state",
        "step",
        "task_id",
    )

    def __init__(
        self,
        *,
        deps: DepsT,
        state: Any,
        node: str,
        step: int,
        attempt: int,
        run_id: str,
        task_id: int,
        payload: Any = None,
        error: Failure | None = None,
        resume: list[Any] | None = None,
        asked: list[Any] | None = None,
        emit: Callable[[Any], None] | None = None,
        options: Any = None,
    ) -> None:
        self.deps = deps
        self.state = state
        self.node = node
        self.step = step
        self.attempt = attempt
        self.run_id = run_id
        self.task_id = task_id
        self.payload = payload
        self.error = error
        self._resume = resume or []
        self._asked = asked or []
        self._writes: list[dict[str, Any]] = []
        self._interrupts_seen = 0
        self._emit = emit
        #: The run's `RunOptions` (models, streaming, replay), set by the scheduler.
        self.options = options
        #: Extra facts a node kind reports in its NodeFinished event (a subgraph's run summary).
        self.detail: Any = None

    def update(self, **fields: Any) -> None:
        """Add a write to this node's update, applied at the step barrier before its return value.

        Each call is its own write, so a field with a reducer gets every call (a tool recording
        three findings appends three items); a field without one keeps the last value.
        """
        self._writes.append(fields)

    @property
    def writes(self) -> list[dict[str, Any]]:
        """The writes `update` has collected so far, in call order."""
        return self._writes

    def interrupt(self, request: Any = None) -> Any:
        """Pause the run until someone resumes it with a value, then return that value.

        The node is run again from its start on resume; the n-th call to ``interrupt`` returns
        the n-th resume value given to this task, so code before it must be safe to repeat.
        """
        index = self._interrupts_seen
        self._interrupts_seen += 1
        if index < len(self._resume):
            return self._resume[index]
        raise Interrupt(request)

    def answered(self) -> list[tuple[Any, Any]]:
        """The (request, answer) pairs of this task's interrupts answered so far, consumed:
        the next `interrupt` call pauses again. For nodes that keep their own progress in the
        request (an agent's saved run state) instead of redoing the work before it."""
        pairs = list(zip(self._asked, self._resume, strict=False))
        self._interrupts_seen = max(self._interrupts_seen, len(pairs))
        return pairs

    def emit(self, event: Any) -> None:
        """Put an extra event (for example an agent's streamed text) into the run's stream."""
        if self._emit is not None:
            self._emit(event)
