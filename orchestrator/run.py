"""Run records: the state of a run between steps (`RunState`, what a checkpoint holds), the
tasks of a step, and the `RunResult` a finished or paused run returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from .context import Failure
from .errors import OrchestratorError
from .events import Event, RunStatus

S = TypeVar("S", bound=BaseModel)


@dataclass(slots=True, kw_only=True)
class RunOptions:
    """Per-process settings of a run, handed to nodes as ``ctx.options``; never checkpointed.

    ``model`` (a model name or an SDK ``Model``) overrides every agent's model;
    ``model_provider`` resolves model names (default: from the environment, else offline);
    ``stream`` runs every agent node streamed; ``recording`` answers model calls from a
    recorded run instead of calling any model (recorded replay).
    """

    graph: str = ""
    source: str | None = None  # the graph's module:attribute, recorded with stored runs
    model: Any = None
    model_provider: Any = None
    graph_model: Any = None  # the graph's default for agents that name no model
    stream: bool = False
    recording: dict[str, Any] | None = None
    resumes: dict[int, list[Any]] | None = None  # recorded replay: interrupt answers by task id
    #: Runs code steps somewhere else (see `orchestrator.executor`); None runs them here.
    executor: Any = None


#: One arrival at a join: the source's name, or (source, payload, failure) when the edge carried
#: a `Send` payload or an ``on_error`` failure.
Arrival = str | tuple[str, Any, Failure | None]


@dataclass(slots=True)
class Task:
    """One execution of a node in a step. ``order`` fixes where its update is applied."""

    node: str
    id: int  # unique within the run: the sequence number of its creation
    order: int  # node declaration index, then creation order (index << 40 | id)
    payload: Any = None
    error: Failure | None = None  # set for an on_error target
    resume: list[Any] | None = None  # values given to its interrupts so far
    asked: list[Any] | None = None  # what those interrupts asked, in the same order
    attempts: int = 0  # attempts made so far in the current step (not checkpointed)
    unanswered: Any = None  # what it waits for, when a resume answered other tasks only


@dataclass(slots=True)
class Outcome:
    """What one task produced. Exactly one of update/error/interrupt describes it."""

    task: Task
    attempt: int = 1
    update: Mapping[str, Any] | None = None
    goto: tuple[Any, ...] | None = None
    failure: Failure | None = None  # failed, but its on_error edge takes over
    error: OrchestratorError | None = None  # failed, and the run fails with it
    interrupt: Any = None
    interrupted: bool = False
    pre: list[dict[str, Any]] | None = None  # ctx.update() writes, applied before ``update``
    kept: Any = None  # what the node keeps for its next visit (`Context.kept`), JSON

    @property
    def done(self) -> bool:
        return self.error is None and not self.interrupted


@dataclass(frozen=True, slots=True, kw_only=True)
class Edit:
    """An update applied to a run as its own step, by a person rather than a node.

    With ``as_node`` it is that node's write (through the reducers) and that node's edges
    decide what runs next, in place of the tasks the run had planned; without, the planned
    tasks stay and run next, seeing the update. ``by`` names the call that made it.
    """

    update: Mapping[str, Any]
    as_node: str | None = None
    by: str = "update"

    @property
    def owner(self) -> str:
        """The name the write is recorded under."""
        return self.as_node or self.by


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiting:
    """A task the paused run waits in, and what it asked for."""

    task_id: int
    node: str
    request: Any


@dataclass(slots=True, kw_only=True)
class RunState:
    """Everything needed to continue a run after its last completed step.

    ``tasks`` is the step to run next; ``pending`` holds the outcomes of those tasks that
    already finished when the step was interrupted (or the process died), so only the others
    run again.
    """

    run_id: str
    graph: str
    state: BaseModel
    step: int = 0
    started: bool = False
    tasks: list[Task] = field(default_factory=list)
    pending: dict[int, Outcome] = field(default_factory=dict)
    # join -> its arrivals so far: a source name, or (source, payload, failure) when the edge
    # carried a Send payload or an on_error failure
    joins: dict[str, list[Arrival]] = field(default_factory=dict)
    visits: dict[str, int] = field(default_factory=dict)
    edge_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    seq: int = 0
    status: RunStatus = RunStatus.RUNNING
    waiting: list[Waiting] = field(default_factory=list)
    error: OrchestratorError | None = None
    # the step whose `interrupt_before` breakpoint a resume went past (it does not pause again)
    passed: int = -1
    # nobody listens to the step events (no store, no stream, events not kept): the hot path
    # does not build them
    quiet: bool = False
    # tasks of the current step whose finished writes a failed barrier refused (run again)
    refused: list[int] = field(default_factory=list)
    next_names: list[str] | None = None  # node names of ``tasks``, when already listed
    options: RunOptions | None = None  # per-process settings, not part of a checkpoint
    # An update to apply as its own step before anything runs (`resume(update=...)`,
    # `fork(update=..., as_node=...)`); applied and checkpointed by the scheduler.
    edit: Edit | None = None
    # node -> what it keeps across its visits (a stateful subgraph's own state), JSON; replaced,
    # never changed in place, so the run writer sees a change by identity
    kept: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<RunState {self.run_id} {self.status} at step {self.step}>"

    def clone(self) -> RunState:
        """A copy that can go on independently (the state model itself is never mutated)."""
        return RunState(
            run_id=self.run_id,
            graph=self.graph,
            state=self.state,
            step=self.step,
            started=self.started,
            tasks=[
                Task(
                    node=t.node,
                    id=t.id,
                    order=t.order,
                    payload=t.payload,
                    error=t.error,
                    resume=list(t.resume or ()),
                    asked=list(t.asked or ()),
                )
                for t in self.tasks
            ],
            pending=dict(self.pending),
            joins={k: list(v) for k, v in self.joins.items()},
            visits=dict(self.visits),
            edge_counts=dict(self.edge_counts),
            path=list(self.path),
            seq=self.seq,
            status=self.status,
            waiting=list(self.waiting),
            error=self.error,
            options=self.options,
            kept=self.kept,
        )


@dataclass(slots=True, kw_only=True)
class RunResult(Generic[S]):
    """What `CompiledGraph.run` returns: the final state as the user's model, and the trail."""

    run_id: str
    graph: str
    status: RunStatus
    state: S
    path: list[str]
    visits: dict[str, int]
    steps: int
    events: list[Event]
    waiting: list[Waiting]
    error: OrchestratorError | None
    snapshot: RunState
    parent_run: str | None = None  # set on forks: the run and step they started from
    parent_step: int | None = None
    compiled: Any = None  # the CompiledGraph that ran, so a result can draw itself

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """Jupyter: the run drawn over its graph (visited nodes, taken edges, counts)."""
        if self.compiled is None:
            return {"text/plain": repr(self)}
        from visualize import mimebundle

        bundle: dict[str, Any] = mimebundle(self.compiled, self)
        return bundle

    def to_graphviz(self) -> Any:
        """This run drawn over its graph, as a ``graphviz.Digraph`` (see
        `CompiledGraph.to_graphviz`)."""
        if self.compiled is None:
            raise OrchestratorError(
                f"run {self.run_id} does not know its graph; draw it with graph.to_graphviz(result)"
            )
        return self.compiled.to_graphviz(self)

    def __repr__(self) -> str:
        # Short on purpose: asyncio.run() formats its main task's result when it exits, and a
        # full dataclass repr of a large state can take a second.
        shown = " -> ".join(self.path[-6:])
        more = "... -> " if len(self.path) > 6 else ""
        return (
            f"<RunResult {self.run_id} {self.status} after {self.steps} step(s): "
            f"{more}{shown or '(no nodes)'}>"
        )

    @property
    def completed(self) -> bool:
        return self.status is RunStatus.COMPLETED

    @property
    def usage(self) -> dict[str, dict[str, int]]:
        """Model usage per node (requests and tokens), from the recorded model calls."""
        from .events import ModelCalled

        totals: dict[str, dict[str, int]] = {}
        for event in self.events:
            if isinstance(event, ModelCalled):
                node = totals.setdefault(event.node, {})
                for key, value in event.usage.items():
                    node[key] = node.get(key, 0) + value
        return totals
