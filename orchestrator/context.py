"""The context a node (or an agent's tool) gets while it runs: the run's dependencies, the
state it reads, its fan-out payload, and the means to add to its update or pause the run.

An agent node whose run was given a user context (``run(..., context=obj)``, as with
``Runner.run(context=obj)``) hands that object to the SDK as ``RunContextWrapper.context``;
`node_context` finds the node's own `Context` from inside its tools, instructions, guardrails
and hooks all the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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

    For agent nodes run without a user context the same object is the SDK's
    ``RunContextWrapper.context``, so function tools read ``wrapper.context.state`` and
    ``wrapper.context.deps`` and write with ``wrapper.context.update(field=value)``. With a
    user context (``run(..., context=obj)``) the wrapper holds ``obj``, and
    ``node_context(wrapper)`` is this object.
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
        "kept",
        "node",
        "options",
        "payload",
        "run_id",
        "state",
        "step",
        "task_id",
        "unanswered",
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
        kept: Any = None,
        unanswered: Any = None,
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
        #: What this node kept at its last visit in this run (JSON, or None); a stateful
        #: subgraph sets it to its child's state, and the run stores it with the step.
        self.kept = kept
        #: The request this task still waits for when a resume answered only other tasks.
        self.unanswered = unanswered

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

    @property
    def interrupts(self) -> int:
        """How many `interrupt` calls this task has made so far, answered or not."""
        return self._interrupts_seen

    def rewind(self, count: int) -> None:
        """Make the next `interrupt` call number ``count`` again, so it returns that answer:
        an agent node re-running a tool from its saved run state asks its questions anew."""
        self._interrupts_seen = count

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


#: The `Context` of the agent node running in this task (and the tasks it starts: the SDK's
#: tools, guardrails and hooks), so it stays reachable when the SDK context is the user's.
_CURRENT: ContextVar[Context[Any] | None] = ContextVar("orchestrator_node_context", default=None)

#: The settings (`config.RunConfig`) of the runs being driven in this task, innermost first
#: (a subgraph's run inside its parent's): agent nodes read the Agents SDK keywords
#: (``context``, ``run_config``, ``hooks``, ``max_turns``, ``session``...) here, so they are
#: never part of the checkpointed run state, and a subgraph inherits those it does not set.
_RUNS: ContextVar[tuple[Any, ...]] = ContextVar("orchestrator_run_settings", default=())


def enter_run(settings: Any) -> tuple[Any, ...]:
    """Make ``settings`` the innermost run's; returns what to give `leave_run` after."""
    outer = _RUNS.get()
    _RUNS.set((settings, *outer))
    return outer


def leave_run(outer: tuple[Any, ...]) -> None:
    _RUNS.set(outer)


def run_setting(name: str) -> Any:
    """The innermost run's setting ``name`` that is not None (None when no run sets it)."""
    for settings in _RUNS.get():
        value = getattr(settings, name, None)
        if value is not None:
            return value
    return None


def node_context(wrapper: Any = None) -> Context[Any]:
    """The orchestrator `Context` of the agent node running now (``update``, ``interrupt``,
    ``payload``, ``run_id``, ``state``...), from inside its tools, dynamic instructions,
    guardrails and hooks — whatever the SDK context (``wrapper.context``) is::

        @function_tool
        def add_finding(ctx: RunContextWrapper[SharedState], finding: str) -> str:
            ctx.context.findings.append(finding)  # the user's object, as with Runner.run
            node_context(ctx).update(findings=[finding])  # and the graph's state
            return "added"

    ``wrapper`` is optional: when its ``context`` is a `Context` (no user context was given)
    that one is returned, else the node running in this task. Raises `LookupError` outside a
    running agent node.
    """
    inner = getattr(wrapper, "context", None)
    if isinstance(inner, Context):
        return inner
    current = _CURRENT.get()
    if current is None:
        raise LookupError(
            "node_context() was called outside a running agent node: call it from a tool, "
            "dynamic instructions, a guardrail or a hook of an agent node (code steps get "
            "their Context as their second argument)"
        )
    return current


@contextmanager
def running(ctx: Context[Any]) -> Iterator[None]:
    """Make ``ctx`` the `node_context` of this task (and the tasks it starts) while inside."""
    token = _CURRENT.set(ctx)
    try:
        yield
    finally:
        _CURRENT.reset(token)
