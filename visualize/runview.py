"""`RunView`: what one run did to its graph, folded from the run's events alone, so a run
result and a stored run draw the same. Diagrams and the report read only this overlay."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
    RunFinished,
    StepFinished,
    StepStarted,
)
from orchestrator.ids import END, START


@dataclass(slots=True)
class NodeStats:
    """One node's share of a run; repeated visits are aggregated, never listed."""

    visits: int = 0  # tasks started (the retries of one task count once)
    duration: float = 0.0  # seconds, summed over finished attempts
    retries: int = 0
    cached: int = 0  # tasks its cache answered (the node did not run)
    width: int = 0  # most tasks of this node in one step (fan-out width)
    failed: str | None = None  # an unhandled failure the run ended with
    recovered: str | None = None  # the last failure an on_error edge took over
    waiting: list[Any] = field(default_factory=list)  # requests of the interrupts it waits in
    tokens: int = 0
    model_calls: int = 0
    agents: dict[str, int] = field(default_factory=dict)  # agent name -> model calls
    tools: dict[str, int] = field(default_factory=dict)  # tool (or handoff) name -> calls
    inner: dict[str, int] | None = None  # a subgraph node's child visits, from its run detail


@dataclass(slots=True)
class EdgeStats:
    """How often the run took one edge, and the most it took at once (fan-out width)."""

    count: int = 0
    width: int = 0


EdgeKey = tuple[str, str, str]  # source, target, EdgeKind value


@dataclass(slots=True, kw_only=True)
class RunView:
    """The overlay of one run: visits, durations, taken edges, failure, waits, fork origin."""

    run_id: str
    status: str
    steps: int
    events: Sequence[Event]
    nodes: dict[str, NodeStats]
    edges: dict[EdgeKey, EdgeStats]
    error: str | None = None
    parent_run_id: str | None = None
    parent_step: int | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def visited(self) -> set[str]:
        """Every node the run entered, START and END included."""
        return {name for name, stats in self.nodes.items() if stats.visits}

    @property
    def elapsed(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, self.finished_at - self.started_at)

    def stats(self, node: str) -> NodeStats:
        return self.nodes.get(node) or NodeStats()

    def taken(self, source: str, target: str, kind: str | None = None) -> EdgeStats | None:
        """The traversals of ``source -> target`` (of ``kind``, when given), or None."""
        if kind is not None:
            return self.edges.get((source, target, kind))
        hits = [s for (a, b, _), s in self.edges.items() if a == source and b == target]
        if not hits:
            return None
        return EdgeStats(sum(h.count for h in hits), max(h.width for h in hits))


def read_run(run: Any) -> RunView:
    """The `RunView` of a `RunResult`, a stored run record (anything with ``.events``,
    ``.status`` and ``.run_id``) or a plain sequence of events."""
    if isinstance(run, RunView):
        return run
    plain = isinstance(run, Iterable) and not isinstance(run, (str, bytes, dict))
    source = run if plain else getattr(run, "events", None)
    if source is None:
        raise TypeError(
            "expected a RunResult, a stored run with .events, or a list of events; "
            f"got {type(run).__name__}"
        )
    events: Sequence[Event] = source if isinstance(source, Sequence) else list(source)
    status = run_id = steps = None
    if not plain:
        status, run_id, steps = (getattr(run, a, None) for a in ("status", "run_id", "steps"))
    view = _fold(events)
    if not plain and not any(isinstance(e, NodeStarted) for e in events):
        _from_counts(view, run)  # a result that kept no events (the default): what it knows
    elif not plain:
        # A breakpoint emits no event of its own: the run's waiting list says where it paused.
        for w in getattr(run, "waiting", None) or []:
            request, node = getattr(w, "request", None), getattr(w, "node", None)
            if isinstance(request, dict) and "breakpoint" in request and isinstance(node, str):
                asked = view.nodes.setdefault(node, NodeStats()).waiting
                if request not in asked:
                    asked.append(request)
    if run_id is not None:
        view.run_id = str(run_id)
    if status is not None:
        view.status = str(getattr(status, "value", status))
    if isinstance(steps, int):
        view.steps = max(view.steps, steps)
    if view.status != "failed":
        view.error = None
        for stats in view.nodes.values():
            stats.failed = None
    if view.status != "waiting":
        for stats in view.nodes.values():
            stats.waiting = []
    if not plain:
        # RunResult and stored runs call it parent_run; accept parent_run_id too.
        parent = getattr(run, "parent_run", None) or getattr(run, "parent_run_id", None)
        view.parent_run_id = _opt_str(parent)
        parent_step = getattr(run, "parent_step", None)
        view.parent_step = parent_step if isinstance(parent_step, int) else None
        error = getattr(run, "error", None)
        if view.status == "failed" and view.error is None and error is not None:
            view.error = str(error)
        _blame_run_error(view, error)
    return view


def _fold(events: Sequence[Event]) -> RunView:
    nodes: dict[str, NodeStats] = {}
    edges: dict[EdgeKey, EdgeStats] = {}
    seen_tasks: set[int] = set()
    per_step: dict[tuple[int, str], int] = {}  # (step, node) -> tasks started in it
    edge_step: dict[tuple[int, str, str, str], int] = {}
    open_failures: dict[int, tuple[str, str]] = {}  # task id -> node, error
    open_waits: dict[int, tuple[str, Any]] = {}  # task id -> node, request
    run_id, status, steps, error = "", "running", 0, None
    started_at: float | None = None
    finished_at: float | None = None

    def at(name: str) -> NodeStats:
        stats = nodes.get(name)
        if stats is None:
            stats = nodes[name] = NodeStats()
        return stats

    for event in events:
        if not run_id:
            run_id = event.run_id
        # isinstance chains in order of frequency: a 1000-step run has ~6000 events.
        if isinstance(event, NodeStarted):
            if event.task_id not in seen_tasks:
                seen_tasks.add(event.task_id)
                stats = at(event.node)
                stats.visits += 1
                key = (event.step, event.node)
                per_step[key] = width = per_step.get(key, 0) + 1
                stats.width = max(stats.width, width)
            if started_at is None or event.at < started_at:
                started_at = event.at
        elif isinstance(event, NodeFinished):
            stats = at(event.node)
            stats.duration += event.duration
            end = event.at + event.duration
            finished_at = end if finished_at is None else max(finished_at, end)
            open_failures.pop(event.task_id, None)
            open_waits.pop(event.task_id, None)
            _count_inner(stats, event.detail)
        elif isinstance(event, EdgeTaken):
            ekey = (event.source, event.target, str(event.kind))
            estats = edges.get(ekey)
            if estats is None:
                estats = edges[ekey] = EdgeStats()
            n = max(1, event.count)
            estats.count += n
            skey = (event.step, *ekey)
            edge_step[skey] = edge_step.get(skey, 0) + n
            if event.source == START:
                at(START).visits = 1
            if event.target == END:
                at(END).visits += n
        elif isinstance(event, (StepStarted, StepFinished)):
            steps = max(steps, event.step)
        elif isinstance(event, NodeFailed):
            message = f"{event.error_type}: {event.error}"
            if event.handled:
                at(event.node).recovered = message
            else:
                open_failures[event.task_id] = (event.node, message)
        elif isinstance(event, NodeRetried):
            at(event.node).retries += 1
        elif isinstance(event, NodeCached):
            at(event.node).cached += 1
        elif isinstance(event, Interrupted):
            open_waits[event.task_id] = (event.node, event.request)
        elif isinstance(event, ModelCalled):
            stats = at(event.node)
            stats.model_calls += 1
            stats.tokens += int(event.usage.get("total_tokens", 0) or 0)
            stats.agents[event.agent] = stats.agents.get(event.agent, 0) + 1
        elif isinstance(event, AgentItem):
            stats = at(event.node)
            stats.agents.setdefault(event.agent, 0)
            if event.name and event.kind in ("tool_call", "handoff"):
                stats.tools[event.name] = stats.tools.get(event.name, 0) + 1
        elif isinstance(event, RunFinished):
            status = str(event.status.value if hasattr(event.status, "value") else event.status)
            steps = max(steps, event.steps)
            error = event.error
    for (step, source, target, kind), n in edge_step.items():
        # Fan-out width: how many tasks one task of the source started along the edge (three
        # parallel tasks each taking an edge into a join once is no fan-out).
        sources = 1 if source == START else max(1, per_step.get((step, source), 1))
        estats = edges[(source, target, kind)]
        estats.width = max(estats.width, -(-n // sources))
    for node, message in open_failures.values():
        at(node).failed = message
    for node, request in open_waits.values():
        at(node).waiting.append(request)
    return RunView(
        run_id=run_id,
        status=status,
        steps=steps,
        events=events,
        nodes=nodes,
        edges=edges,
        error=error,
        started_at=started_at,
        finished_at=finished_at,
    )


def _count_inner(stats: NodeStats, detail: Any) -> None:
    path = detail.get("path") if isinstance(detail, dict) else None
    if not isinstance(path, list):
        return
    inner = stats.inner if stats.inner is not None else {}
    for name in path:
        inner[str(name)] = inner.get(str(name), 0) + 1
    stats.inner = inner


def _from_counts(view: RunView, run: Any) -> None:
    """Visits (and the failed node, by `_blame_run_error`) of a result that kept no events:
    the diagram marks what ran; durations, the timeline and taken edges need the events
    (``run(..., events=True)``, or the stored run: ``graph.load(run_id)``)."""
    visits = getattr(run, "visits", None)
    if not isinstance(visits, dict):
        return
    for name, count in visits.items():
        if isinstance(name, str) and isinstance(count, int) and count > 0:
            stats = view.nodes.get(name) or NodeStats()
            stats.visits = max(stats.visits, count)
            view.nodes[name] = stats
    if visits:
        view.nodes.setdefault(START, NodeStats()).visits = 1
    if str(getattr(getattr(run, "status", None), "value", "")) == "completed":
        end = view.nodes.setdefault(END, NodeStats())
        end.visits = max(1, end.visits)
    error = getattr(run, "error", None)
    for attr in ("node", "source"):  # the node a failed run stopped in ran too
        name = getattr(error, attr, None)
        if isinstance(name, str) and name not in (START, END):
            view.nodes.setdefault(name, NodeStats()).visits += name not in visits
            break
    waiting = getattr(run, "waiting", None) or []
    for w in waiting:
        node = getattr(w, "node", None)
        if isinstance(node, str):
            view.nodes.setdefault(node, NodeStats()).waiting.append(getattr(w, "request", None))


def _blame_run_error(view: RunView, error: Any) -> None:
    """Mark the node a run error names when no node failure explains the failed run (a router
    that raised, a cap without exit, an invalid write): the events carry only its text."""
    if view.status != "failed" or error is None:
        return
    if any(stats.failed for stats in view.nodes.values()):
        return
    for attr in ("node", "source"):
        name = getattr(error, attr, None)
        if isinstance(name, str) and name in view.nodes:
            view.nodes[name].failed = f"{type(error).__name__}: {error}"
            return


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
