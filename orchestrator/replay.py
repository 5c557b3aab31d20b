"""The three ways to look at a stored run again, with three names so nobody confuses them:

- **playback**: rebuild the state at every step from the log; nothing executes;
- **fork**: a new run that starts from the checkpoint of step k (optionally with edited
  fields) and executes everything after it for real; the parent is untouched;
- **recorded replay**: execute the graph's code again from the run's input, but answer every
  model call from the recording, and report the first step where the path or an update
  differs from the original.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .errors import (
    OrchestratorError,
    ResumeError,
    StateValidationError,
    StoreError,
    UnknownFieldError,
)
from .events import (
    EdgeTaken,
    Event,
    ModelCalled,
    NodeFinished,
    NodeStarted,
    RunFinished,
    RunStarted,
    RunStatus,
    StepFinished,
    StepStarted,
)
from .log import Folded, fold, run_state
from .records import decode_event, to_json
from .run import RunOptions, RunResult, RunState
from .store import Store

if TYPE_CHECKING:
    from .spec import RunnableGraph


@dataclass(frozen=True, slots=True, kw_only=True)
class StepView:
    """The state after one step, as playback rebuilds it."""

    step: int
    state: BaseModel
    ran: list[str]
    writes: list[tuple[str, dict[str, Any]]]  # (node, update), in the order applied
    edges: list[tuple[str, str, str, str | None]]
    next: list[str]


async def playback(graph: RunnableGraph, store: Store, run_id: str) -> list[StepView]:
    """The state at every checkpoint of a run, rebuilt from the log. Executes nothing."""
    await _check_graph(graph, store, run_id)
    checkpoints = await store.checkpoints(run_id, from_snapshot=False)
    return [
        StepView(
            step=f.checkpoint.step,
            state=f.state,
            ran=list(f.checkpoint.ran),
            writes=[(n, u) for _, n, u in f.writes],
            edges=list(f.checkpoint.edges),
            next=[t.node for t in f.checkpoint.tasks],
        )
        for f in fold(graph, run_id, checkpoints)
    ]


async def fork_state(
    graph: RunnableGraph,
    store: Store,
    run_id: str,
    step: int,
    edits: Mapping[str, Any] | None = None,
) -> RunState:
    """The run state of a new run that goes on from ``run_id``'s checkpoint ``step``."""
    await _check_graph(graph, store, run_id)
    checkpoints = await store.checkpoints(run_id, from_snapshot=False)
    steps = [c.step for c in checkpoints]
    if step not in steps:
        raise ResumeError(
            f"run {run_id} has no step {step} to fork from; its checkpoints are steps "
            f"{steps[0]}..{steps[-1]}"
        )
    index = steps.index(step)
    base = max(i for i in range(index + 1) if checkpoints[i].snapshot is not None)
    rs = run_state(graph, run_id, checkpoints[base : index + 1])
    rs.path = [node for c in checkpoints[: index + 1] for node in c.ran]
    if edits:
        try:
            rs.state = graph.schema.replace(rs.state, edits)
        except UnknownFieldError as exc:
            raise ResumeError(
                f"cannot fork run {run_id}: {exc.field!r} is not a field of the state; fields "
                f"are {', '.join(sorted(graph.schema.fields))}"
            ) from exc
        except StateValidationError as exc:
            raise ResumeError(
                f"cannot fork run {run_id}: the edited field {exc.field!r} is invalid "
                f"({exc.detail}); give a value of the field's type"
            ) from exc
        except OrchestratorError as exc:
            raise ResumeError(f"cannot fork run {run_id} with those edits: {exc}") from exc
    rs.run_id = os.urandom(16).hex()
    rs.status = RunStatus.RUNNING
    rs.started = True
    return rs


@dataclass(slots=True, kw_only=True)
class ReplayReport:
    """What a recorded replay found. ``diverged_at`` is None when it matched step for step."""

    run_id: str
    result: RunResult[Any]
    steps: int
    diverged_at: int | None = None
    reason: str | None = None
    expected: Any = None
    actual: Any = None
    recorded_answers: int = 0
    model_calls: int = 0  # calls that reached a model: always 0, the recording answers them
    notes: list[str] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        return self.diverged_at is None


async def replay_recorded(
    graph: RunnableGraph,
    store: Store,
    run_id: str,
    *,
    deps: Any = None,
    concurrency: int | None = None,
) -> ReplayReport:
    """Execute the graph again from the run's input, answering model calls from the recording."""
    record = await _check_graph(graph, store, run_id)
    checkpoints = await store.checkpoints(run_id, from_snapshot=False)
    recording: dict[str, deque[dict[str, Any]]] = {}
    for data in await store.events(run_id):
        if data.get("type") == "ModelCalled":
            called = decode_event(run_id, data, store.where)
            assert isinstance(called, ModelCalled)
            recording.setdefault(called.request_digest, deque()).append(data)
    first = checkpoints[0]
    assert first.snapshot is not None
    if record.parent_run is None and first.step == 0:
        rs = graph.start(first.snapshot.state, run_id=f"replay-{os.urandom(6).hex()}")
    else:  # a fork: start from its own first checkpoint
        rs = run_state(graph, run_id, [first])
        rs.run_id = f"replay-{os.urandom(6).hex()}"
        rs.path = list(first.ran)
    rs.options = RunOptions(
        graph=graph.name, recording=recording, resumes=await store.resumes(run_id)
    )
    result = await graph.continue_run(rs, deps=deps, concurrency=concurrency, raise_on_error=False)
    report = ReplayReport(
        run_id=run_id,
        result=result,
        steps=result.steps,
        recorded_answers=sum(isinstance(e, ModelCalled) for e in result.events),
    )
    _compare(report, fold(graph, run_id, checkpoints), result, record.status)
    return report


def _compare(
    report: ReplayReport,
    folded: list[Folded],
    result: RunResult[Any],
    status: str,
) -> None:
    original = {
        f.checkpoint.step: (f.checkpoint.ran, [(n, u) for _, n, u in f.writes]) for f in folded[1:]
    }
    replayed: dict[int, tuple[list[str], Any]] = {}
    ran: dict[int, list[str]] = {}
    for event in result.events:
        if isinstance(event, StepStarted):
            ran[event.step] = list(event.tasks)
        elif isinstance(event, StepFinished):
            replayed[event.step] = (ran.get(event.step, []), _plain(event.writes))
    failed_at = -1 if result.error is None else result.steps + 1
    for step in sorted(set(original) | set(replayed) | ({failed_at} if failed_at > 0 else set())):
        want = original.get(step)
        got = replayed.get(step)
        if want is not None and got is not None:
            if want[0] != got[0]:
                report.diverged_at, report.reason = step, "path"
                report.expected, report.actual = want[0], got[0]
                return
            if _plain(want[1]) != got[1]:
                report.diverged_at, report.reason = step, "update"
                report.expected, report.actual = _plain(want[1]), got[1]
                return
            continue
        report.diverged_at = step
        if got is None and step == failed_at:
            report.reason = f"failed: {result.error}"
            report.expected = want[0] if want is not None else None
        elif got is None:
            report.reason = "path"
            report.expected, report.actual = (want[0] if want else None), None
        else:
            report.reason = "path"
            report.expected, report.actual = None, got[0]
        return
    if str(result.status) != status and status in (RunStatus.COMPLETED, RunStatus.FAILED):
        report.notes.append(f"the original run ended {status}, the replay {result.status}")


def _plain(writes: Any) -> Any:
    return json.loads(json.dumps(to_json([[n, u] for n, u in writes]), sort_keys=True))


async def load_result(graph: RunnableGraph, store: Store, run_id: str) -> RunResult[Any]:
    """A stored run as a `RunResult` (state, path, status and its events, rebuilt from the
    checkpoints and the rich events) — for drawing, reports and `orchestrator show`."""
    from .durable import load

    rs, record = await load(store, graph, run_id)
    checkpoints = await store.checkpoints(run_id, from_snapshot=False)
    rich: dict[int, list[Event]] = {}
    for data in await store.events(run_id):
        event = decode_event(run_id, data, store.where)
        rich.setdefault(int(getattr(event, "step", 0)), []).append(event)
    events: list[Event] = [RunStarted(run_id, record.graph)]
    folded = fold(graph, run_id, checkpoints)
    for entry in folded:
        checkpoint, writes = entry.checkpoint, entry.writes
        step = checkpoint.step
        updates: dict[int, dict[str, Any]] = {}  # each task's writes, merged as live
        for task_id, _, update in writes:
            updates.setdefault(task_id, {}).update(update)
        if checkpoint is not checkpoints[0]:
            events.append(StepStarted(run_id, step, list(checkpoint.ran)))
            for task_id, node, offset, duration, attempt in checkpoint.timing:
                at = record.created + offset
                events.append(NodeStarted(run_id, step, node, task_id, attempt, at))
                events.extend(e for e in rich.pop(step, []))
                events.append(
                    NodeFinished(
                        run_id,
                        step,
                        node,
                        task_id,
                        attempt,
                        updates.get(task_id, {}),
                        at,
                        duration,
                    )
                )
        events.extend(rich.pop(step, []))
        for source, target, kind, label in checkpoint.edges:
            events.append(EdgeTaken(run_id, step, source, target, kind, label))
        if checkpoint is not checkpoints[0]:
            events.append(
                StepFinished(
                    run_id,
                    step,
                    [(n, u) for _, n, u in writes],
                    [t.node for t in checkpoint.tasks],
                )
            )
    for leftover in rich.values():
        events.extend(leftover)
    status = RunStatus(record.status)
    events.append(
        RunFinished(run_id, status, rs.step, record.error, tuple(w.request for w in rs.waiting))
    )
    result: RunResult[Any] = RunResult(
        run_id=run_id,
        graph=record.graph,
        status=status,
        state=rs.state,
        path=rs.path,
        visits=rs.visits,
        steps=rs.step,
        events=events,
        waiting=rs.waiting,
        error=None,
        snapshot=rs,
        compiled=graph,
    )
    result.parent_run, result.parent_step = record.parent_run, record.parent_step
    return result


async def _check_graph(graph: RunnableGraph, store: Store, run_id: str) -> Any:
    record = await store.get_run(run_id)
    if record.graph != graph.name:
        raise StoreError(
            f"run {run_id!r} belongs to graph {record.graph!r}, not {graph.name!r}; use the "
            "graph that made it"
        )
    return record
