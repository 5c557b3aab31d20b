"""The three ways to look at a stored run again, with three names so nobody confuses them:

- **playback**: rebuild the state at every step from the log; nothing executes;
- **fork**: a new run that starts from the checkpoint of step k (optionally with edited
  fields) and executes everything after it for real; the parent is untouched;
- **recorded replay**: execute the graph's code again from the run's input, but answer every
  model call from the recording, and report the first step where the path or an update
  differs from the original.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .context import Failure
from .edge import EdgeKind
from .errors import (
    CorruptRunError,
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
from .log import Folded, fold, joins_from_json, run_state
from .records import DECODE_ERRORS, Checkpoint, decode_event, to_json
from .run import Edit, Outcome, RunOptions, RunResult, RunState, Task
from .store import Store
from .transport import LiveCalls, counting_live_calls

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
    edit: dict[str, Any] | None = None  # a person's edit (see `records.Checkpoint.edit`)


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
            edit=f.checkpoint.edit,
        )
        for f in fold(graph, run_id, checkpoints)
    ]


#: Plans the step after ``outcomes`` on a run state (the scheduler's barrier planning).
Plan = Callable[[RunState, list[Outcome]], list[Task]]


async def fork_state(
    graph: RunnableGraph,
    store: Store,
    run_id: str,
    step: int,
    edits: Mapping[str, Any] | None = None,
    plan: Plan | None = None,
) -> RunState:
    """The run state of a new run that goes on from ``run_id``'s checkpoint ``step``.

    With ``edits`` (fields replaced, no reducers) and ``plan``, the route out of ``step`` is
    decided again on the edited state: the edges of the tasks that ran in it (START's edges
    at step 0) are evaluated as at that step's barrier, so an edit that changes a router's
    answer changes what the fork runs next. A node's own `Command(goto=...)` and ``on_error``
    routes are kept as they were taken.
    """
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
        except OrchestratorError as exc:
            raise _refused(graph, f"fork run {run_id}", exc) from exc
        if plan is not None:
            _replan(graph, run_id, rs, checkpoints, index, plan)
    rs.run_id = os.urandom(16).hex()
    rs.status = RunStatus.RUNNING
    rs.started = True
    return rs


def check_edit(
    graph: RunnableGraph,
    rs: RunState,
    update: Mapping[str, Any] | None,
    as_node: str | None,
    by: str,
) -> Edit | None:
    """The `Edit` that ``update`` / ``as_node`` ask of ``rs`` (None when neither is given),
    checked against its state now, so bad input is refused before anything is stored."""
    if update is None and as_node is None:
        return None
    if as_node is not None and as_node not in graph.nodes:
        raise ResumeError(
            f"cannot {by} run {rs.run_id} as node {as_node!r}: the graph has no such node; its "
            f"nodes are {', '.join(graph.nodes)}"
        )
    edit = Edit(update=dict(update or {}), as_node=as_node, by=by)
    try:
        graph.schema.apply(rs.state, [(edit.owner, edit.update)], rs.step + 1)
    except OrchestratorError as exc:
        raise _refused(graph, f"{by} run {rs.run_id}", exc) from exc
    return edit


def _refused(graph: RunnableGraph, what: str, exc: OrchestratorError) -> ResumeError:
    """An edit the state refused, as a `ResumeError` that names the field and what to do."""
    if isinstance(exc, UnknownFieldError):
        fields = ", ".join(sorted(graph.schema.fields))
        return ResumeError(
            f"cannot {what}: {exc.field!r} is not a field of the state; fields are {fields}"
        )
    if isinstance(exc, StateValidationError):
        return ResumeError(
            f"cannot {what}: the edited field {exc.field!r} is invalid ({exc.detail}); give a "
            "value of the field's type"
        )
    return ResumeError(f"cannot {what} with those edits: {exc}")


def _replan(
    graph: RunnableGraph,
    run_id: str,
    rs: RunState,
    checkpoints: list[Checkpoint],
    index: int,
    plan: Plan,
) -> None:
    """Take back checkpoint ``index``'s barrier planning (its edges and join arrivals) and
    plan it again on ``rs.state``. A fork's first checkpoint stands for its parent's steps
    (it does not say which tasks ran last), so its planned tasks are kept."""
    here = checkpoints[index]
    if index == 0 and here.step != 0:
        return
    counts = rs.edge_counts
    for source, target, _, _ in here.edges:
        left = counts.get((source, target), 0) - 1
        if left > 0:
            counts[(source, target)] = left
        else:
            counts.pop((source, target), None)
    outcomes: list[Outcome] = []
    if index > 0:
        before = checkpoints[index - 1]
        try:
            rs.joins = joins_from_json(before.joins)
            ran = [t.task(graph.nodes[t.node].index) for t in before.tasks]
        except (KeyError, *DECODE_ERRORS) as exc:
            raise CorruptRunError(run_id, before.step, "checkpoint", exc) from exc
        failures = {
            t.error["node"]: t.error for t in here.tasks if t.error is not None
        }  # what an on_error target was sent: the failure of the node it came from
        for arrivals in rs.joins.values():
            for arrival in arrivals:
                if not isinstance(arrival, str) and arrival[2] is not None:
                    failures.setdefault(arrival[2].node, dataclasses.asdict(arrival[2]))
        claimed: set[str] = set()
        for task in ran:
            outcome = Outcome(task=task)
            taken = [e for e in here.edges if e[0] == task.node]
            if task.node not in claimed and any(e[2] == EdgeKind.HANDOFF for e in taken):
                claimed.add(task.node)  # the node's own goto: kept as it was
                outcome.goto = tuple(e[1] for e in taken if e[2] == EdgeKind.HANDOFF)
            elif any(e[2] == EdgeKind.ERROR for e in taken):
                failure = failures.get(task.node)
                outcome.failure = (
                    Failure(**failure)
                    if failure is not None
                    else Failure(node=task.node, error_type="Error", message="failed", attempts=1)
                )
            outcomes.append(outcome)
    else:
        rs.joins = {}
    rs.tasks = plan(rs, outcomes)


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
    #: Requests that reached a model (a server, or the offline model) instead of the
    #: recording, counted where requests go out: 0 for a faithful replay, and any other
    #: count makes the replay diverge ("live model call").
    model_calls: int = 0
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
    agent_options: Mapping[str, Any] | None = None,
) -> ReplayReport:
    """Execute the graph again from the run's input, answering model calls from the recording
    (``agent_options``: the Agents SDK settings the run was given, as `run` takes them)."""
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
        graph=graph.name,
        recording=recording,
        resumes=await store.resumes(run_id),
        graph_model=getattr(graph, "model", None),  # agents naming no model ask for it
    )
    with counting_live_calls() as live:
        result = await graph.continue_run(
            rs,
            deps=deps,
            concurrency=concurrency,
            raise_on_error=False,
            agent_options=agent_options,
        )
    report = ReplayReport(
        run_id=run_id,
        result=result,
        steps=result.steps,
        recorded_answers=sum(isinstance(e, ModelCalled) for e in result.events),
        model_calls=live.count,
    )
    _compare(report, fold(graph, run_id, checkpoints), result, record.status)
    if live.count:
        _went_live(report, live)
    return report


def _went_live(report: ReplayReport, live: LiveCalls) -> None:
    """A request reached a model during the replay (code that called a model around the
    recording): never hidden, it is a divergence (unless one came earlier) and a note."""
    node, step = live.calls[0]
    where = f"node {node!r} at step {step}" if node is not None else "outside any node"
    report.notes.append(
        f"{live.count} model request(s) reached a model instead of the recording, the first "
        f"in {where}: that code calls a model the run's recording does not see (not through "
        "the agent node's model provider, e.g. a model object or runner of its own)"
    )
    if report.diverged_at is None:
        report.diverged_at = step if step is not None else report.steps
        report.reason = "live model call"
        report.expected, report.actual = 0, live.count


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
