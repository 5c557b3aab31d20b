"""The typed events of a run. The scheduler emits them; the result, the CLI's live view, the
stores and the run report all consume the same stream.

Events are records: treat them as read-only. They are neither frozen nor keyword-only because
either would double what an event costs on the scheduler's hot path; the scheduler builds them
with positional arguments, in field order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    QUEUED = "queued"  # submitted to a store, waiting for a host to claim it
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    WAITING = "waiting"  # paused by an interrupt; resume it with a value
    # stopped by the infrastructure (store unreachable, cancelled): resume it when it is back
    INTERRUPTED = "interrupted"


@dataclass(slots=True)
class Event:
    """Base class of all events. ``run_id`` says which run emitted it."""

    run_id: str


@dataclass(slots=True)
class RunStarted(Event):
    graph: str
    resumed: bool = False


@dataclass(slots=True)
class StepStarted(Event):
    step: int
    tasks: list[str]  # node names, in the order their updates will be applied


@dataclass(slots=True)
class NodeStarted(Event):
    step: int
    node: str
    task_id: int
    attempt: int
    at: float  # wall clock, seconds since the epoch


@dataclass(slots=True)
class NodeFinished(Event):
    step: int
    node: str
    task_id: int
    attempt: int
    update: Mapping[str, Any]
    at: float
    duration: float  # seconds
    detail: Any = None  # e.g. a subgraph's run summary


@dataclass(slots=True)
class NodeCached(Event):
    """A task answered from its node's cache (`orchestrator.cache`): the node did not run, and
    the `NodeFinished` that follows carries the cached write, applied as the node's own."""

    step: int
    node: str
    task_id: int
    key: str  # the cache key, a hex digest of the task's input


@dataclass(slots=True)
class NodeRetried(Event):
    step: int
    node: str
    task_id: int
    attempt: int  # the attempt that failed
    error: str
    delay: float


@dataclass(slots=True)
class NodeFailed(Event):
    step: int
    node: str
    task_id: int
    attempt: int
    error_type: str
    error: str
    handled: bool  # True when an on_error edge takes over


@dataclass(slots=True)
class EdgeTaken(Event):
    step: int
    source: str
    target: str
    kind: str
    label: str | None = None
    count: int = 1  # how many tasks this edge started (fan-out width)


@dataclass(slots=True)
class Interrupted(Event):
    step: int
    node: str
    task_id: int
    request: Any


@dataclass(slots=True)
class StepFinished(Event):
    """The step barrier: ``writes`` were applied in this order; ``next`` runs next."""

    step: int
    writes: list[tuple[str, Mapping[str, Any]]]
    next: list[str]


@dataclass(slots=True)
class RunFinished(Event):
    status: RunStatus
    steps: int
    error: str | None = None
    waiting_for: tuple[Any, ...] = field(default_factory=tuple)
    error_type: str | None = None  # the error's class, when the run failed
    error_node: str | None = None  # the node the error is about, when there is one


# --- agent nodes (emitted by orchestrator.agent) ---------------------------------------------


@dataclass(slots=True)
class ModelCalled(Event):
    """One model call made by an agent node (or an agent used as its tool), as recorded."""

    step: int
    node: str
    task_id: int
    agent: str
    model: str
    request_digest: str  # sha256 of the request, to check a recorded replay against
    response: list[dict[str, Any]]  # the Responses output items, as JSON
    usage: dict[str, int]  # requests, input_tokens, output_tokens, total_tokens
    duration: float
    offline: bool = False  # answered by the built-in offline model


@dataclass(slots=True)
class AgentItem(Event):
    """A conversation item an agent node produced: a message, tool call, tool output, handoff."""

    step: int
    node: str
    task_id: int
    agent: str
    kind: str  # "message" | "tool_call" | "tool_output" | "handoff" | "reasoning"
    content: str
    name: str | None = None  # the tool or handoff target, when there is one


@dataclass(slots=True)
class AgentDelta(Event):
    """A piece of streamed text from a running agent node (only when it runs streamed)."""

    step: int
    node: str
    task_id: int
    agent: str
    text: str
