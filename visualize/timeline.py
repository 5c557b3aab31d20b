"""The timeline of a run: its steps in order, each with the tasks that ran side by side in it
(what they wrote, said and called) and the edges taken after it, folded from the events.
`compact` keeps long runs small by summarising the middle of a long loop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.events import (
    AgentItem,
    EdgeTaken,
    Event,
    Interrupted,
    ModelCalled,
    NodeCached,
    NodeFailed,
    NodeFinished,
    NodeRetried,
    NodeStarted,
    StepStarted,
)


@dataclass(slots=True, kw_only=True)
class TaskRecord:
    """One task: a node run once within a step (its retries included)."""

    task_id: int
    node: str
    step: int
    status: str = "running"  # done, failed, recovered, waiting, running
    attempts: int = 0
    cached: bool = False  # answered from its node's cache: the node did not run
    at: float | None = None  # when its first attempt started (epoch seconds)
    duration: float | None = None  # of its finishing attempt
    update: Mapping[str, Any] | None = None
    error: str | None = None
    request: Any = None  # what it waits for
    retries: list[str] = field(default_factory=list)
    detail: Any = None
    conversation: list[AgentItem | ModelCalled] = field(default_factory=list)

    @property
    def usage(self) -> dict[str, int]:
        """Token usage summed over the task's model calls."""
        total: dict[str, int] = {}
        for item in self.conversation:
            if isinstance(item, ModelCalled):
                for key, value in item.usage.items():
                    total[key] = total.get(key, 0) + int(value or 0)
        return total


@dataclass(slots=True, kw_only=True)
class StepRecord:
    """One step: its tasks in the order their updates were applied, and the edges taken
    after it (``(source, target, kind, label) -> count``). Step 0 is the entry from START."""

    step: int
    tasks: list[TaskRecord] = field(default_factory=list)
    edges: dict[tuple[str, str, str, str | None], int] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class Gap:
    """Consecutive steps left out of a compacted timeline, summarised."""

    first: int
    last: int
    visits: dict[str, int]
    duration: float
    failures: int

    @property
    def steps(self) -> int:
        return self.last - self.first + 1


def build_timeline(events: Sequence[Event]) -> list[StepRecord]:
    """The steps of a run in order. A resumed run's repeated step merges into one record."""
    steps: dict[int, StepRecord] = {}
    tasks: dict[int, TaskRecord] = {}

    def step_of(number: int) -> StepRecord:
        record = steps.get(number)
        if record is None:
            record = steps[number] = StepRecord(step=number)
        return record

    def task_of(step: int, node: str, task_id: int) -> TaskRecord:
        task = tasks.get(task_id)
        if task is None:
            task = tasks[task_id] = TaskRecord(task_id=task_id, node=node, step=step)
            step_of(step).tasks.append(task)
        return task

    for event in events:
        if isinstance(event, NodeStarted):
            task = task_of(event.step, event.node, event.task_id)
            task.attempts = max(task.attempts, event.attempt)
            if task.at is None:
                task.at = event.at
            if task.status == "waiting":
                task.status = "running"  # resumed
        elif isinstance(event, NodeFinished):
            task = task_of(event.step, event.node, event.task_id)
            task.status, task.update, task.detail = "done", event.update, event.detail
            task.duration = event.duration
            if task.at is None:
                task.at = event.at
        elif isinstance(event, EdgeTaken):
            key = (event.source, event.target, str(event.kind), event.label)
            edges = step_of(event.step).edges
            edges[key] = edges.get(key, 0) + max(1, event.count)
        elif isinstance(event, StepStarted):
            step_of(event.step)
        elif isinstance(event, NodeFailed):
            task = task_of(event.step, event.node, event.task_id)
            task.status = "recovered" if event.handled else "failed"
            task.error = f"{event.error_type}: {event.error}"
        elif isinstance(event, NodeRetried):
            task_of(event.step, event.node, event.task_id).retries.append(
                f"attempt {event.attempt}: {event.error}"
            )
        elif isinstance(event, NodeCached):
            task_of(event.step, event.node, event.task_id).cached = True
        elif isinstance(event, Interrupted):
            task = task_of(event.step, event.node, event.task_id)
            task.status, task.request = "waiting", event.request
        elif isinstance(event, (AgentItem, ModelCalled)):
            task_of(event.step, event.node, event.task_id).conversation.append(event)
    return [steps[n] for n in sorted(steps)]


def compact(
    steps: Sequence[StepRecord],
    head: int = 20,
    tail: int = 20,
) -> list[StepRecord | Gap]:
    """At most ``head`` first and ``tail`` last steps, the rest as one `Gap` summary, so a
    run of thousands of steps stays a page of a few hundred kilobytes."""
    if len(steps) <= head + tail + 1:
        return list(steps)
    middle = steps[head : len(steps) - tail]
    visits: dict[str, int] = {}
    total = 0.0
    failures = 0
    for record in middle:
        for task in record.tasks:
            visits[task.node] = visits.get(task.node, 0) + 1
            total += task.duration or 0.0
            failures += task.status in ("failed", "recovered")
    gap = Gap(
        first=middle[0].step, last=middle[-1].step, visits=visits, duration=total, failures=failures
    )
    return [*steps[:head], gap, *steps[len(steps) - tail :]]
