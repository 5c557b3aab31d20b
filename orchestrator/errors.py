"""Every error the orchestrator raises, one class per defect.

Each message names what it is about (node, edge, field, run) and says what to do next.
`GraphError`s come from defining or compiling a graph; `RunError`s from running one.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any


class OrchestratorError(Exception):
    """Base class of every error raised by orchestrator."""

    #: The result of the run that failed, when the error ended a run (see `CompiledGraph.run`).
    result: Any = None


# --- graph definition and compile ------------------------------------------------------------


class GraphError(OrchestratorError):
    """The graph as defined cannot be compiled or run."""


class DuplicateNodeError(GraphError):
    def __init__(self, node: str) -> None:
        self.node = node
        super().__init__(f"node {node!r} is defined twice; give each node a unique name")


class UnknownNodeError(GraphError):
    def __init__(self, source: str, target: str, how: str = "edge") -> None:
        self.source, self.target = source, target
        super().__init__(
            f"{how} {source!r} -> {target!r} points at {target!r}, which is not a node of the "
            f"graph; add the node or fix the name"
        )


class MissingEntryError(GraphError):
    def __init__(self, graph: str) -> None:
        super().__init__(
            f"graph {graph!r} has no entry edge; add one with add_edge(START, '<first node>')"
        )


class UnreachableNodeError(GraphError):
    def __init__(self, nodes: Iterable[str]) -> None:
        self.nodes = sorted(nodes)
        super().__init__(
            f"node(s) {', '.join(map(repr, self.nodes))} cannot be reached from START; "
            "add an edge into them or remove them"
        )


class DeadEndError(GraphError):
    def __init__(self, nodes: Iterable[str]) -> None:
        self.nodes = sorted(nodes)
        super().__init__(
            f"node(s) {', '.join(map(repr, self.nodes))} cannot reach END; "
            "add an edge from them towards END"
        )


class UnboundedCycleError(GraphError):
    def __init__(self, cycle: Iterable[str], *, unconditional: bool = False) -> None:
        self.cycle = list(cycle)
        loop = " -> ".join([*self.cycle, self.cycle[0]])
        if unconditional:
            # The cycle's component may have an exit, but no node on this loop can skip the
            # edge to the next one, so each visit starts the loop again.
            super().__init__(
                f"cycle {loop} is made of unconditional edges only, so it repeats until the "
                "step limit even though other nodes can leave it; make one of its edges a "
                "conditional route out (add_route or add_edge(when=...)), or give one of its "
                "nodes max_visits with on_cap (or cap one of its edges)"
            )
            return
        super().__init__(
            f"cycle {loop} has neither a conditional exit nor a cap; add a route out of it, "
            "a node max_visits, or an edge cap"
        )


class UnknownFieldError(GraphError):
    """A node writes (or declares) a key that is not a field of the state model."""

    def __init__(self, node: str, field: str, fields: Iterable[str]) -> None:
        self.node, self.field = node, field
        super().__init__(
            f"node {node!r} writes {field!r}, which is not a field of the state; "
            f"fields are: {', '.join(sorted(fields))}"
        )


class RouteTargetError(GraphError):
    """A route's declared value names no node and has no mapping entry."""

    def __init__(self, source: str, router: str, value: Any) -> None:
        self.source, self.value = source, value
        super().__init__(
            f"route {router!r} from {source!r} can return {value!r}, which is neither a node "
            "nor a key of its mapping; add the node or map the value to one"
        )


class UnknownHandoffError(GraphError):
    def __init__(self, node: str, agent: str, target: str) -> None:
        self.node, self.agent, self.target = node, agent, target
        super().__init__(
            f"agent node {node!r} (agent {agent!r}) hands off to agent {target!r}, which is not "
            "a node of the graph; add it with add_agent(...) or remove the handoff"
        )


class InvalidGraphError(GraphError):
    """A definition call was given something it cannot use (the message says what)."""


# --- running ---------------------------------------------------------------------------------


class RunError(OrchestratorError):
    """A run could not go on."""


class NodeFailedError(RunError):
    """A node failed and nothing took the failure over (no retry left, no ``on_error``).

    When what failed is an Agents SDK error (an agent node's `MaxTurnsExceeded`,
    ``InputGuardrailTripwireTriggered``, ``ModelBehaviorError``..., also under a subgraph
    node), the error is an instance of that SDK class too, with its attributes
    (``run_data``, ``guardrail_result``...): ``except MaxTurnsExceeded`` or ``except
    AgentsException`` around ``graph.run`` catches it as around ``Runner.run``."""

    def __new__(cls, node: str, step: int, attempt: int, cause: BaseException) -> Any:
        if cls is NodeFailedError:
            sdk = _sdk_error(cause)
            if sdk is not None:
                cls = _failed_as(type(sdk))
        return super().__new__(cls, node, step, attempt, cause)

    def __init__(self, node: str, step: int, attempt: int, cause: BaseException) -> None:
        sdk = _sdk_error(cause)
        if sdk is not None and isinstance(self, type(sdk)):
            self.__dict__.update(sdk.__dict__)  # run_data, guardrail_result, message...
        self.node, self.step, self.attempt, self.cause = node, step, attempt, cause
        # Not super().__init__: an SDK class's own __init__ takes other arguments.
        Exception.__init__(
            self,
            f"node {node!r} failed at step {step} (attempt {attempt}): "
            f"{type(cause).__name__}: {cause}",
        )
        self.__cause__ = cause

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> Any:  # (a Ray worker sends it back pickled)
        return (
            NodeFailedError,
            (self.node, self.step, self.attempt, self.cause),
            pickled_notes(self),
        )


def pickled_notes(error: BaseException) -> dict[str, Any]:
    """What of an error's own attributes its ``__reduce__`` keeps: its notes (``add_note``)."""
    notes = getattr(error, "__notes__", None)
    return {"__notes__": list(notes)} if notes else {}


def _sdk_error(error: BaseException) -> BaseException | None:
    """The Agents SDK error at the root of a node's failure, if that is what it is."""
    sdk = sys.modules.get("agents.exceptions")
    if sdk is None:  # the SDK is not even loaded: no SDK error can have happened
        return None
    seen = 0
    while isinstance(error, (NodeFailedError, AgentRunError)) and seen < 100:
        error, seen = error.cause, seen + 1
    return error if isinstance(error, sdk.AgentsException) else None


_FAILED_AS: dict[type[BaseException], type[NodeFailedError]] = {}


def _failed_as(sdk_type: type[BaseException]) -> type[NodeFailedError]:
    """`NodeFailedError` that is also an instance of the SDK error class ``sdk_type``."""
    made = _FAILED_AS.get(sdk_type)
    if made is None:
        made = _FAILED_AS[sdk_type] = type(
            "NodeFailedError",
            (NodeFailedError, sdk_type),
            {"__module__": __name__, "__qualname__": "NodeFailedError", "__doc__": None},
        )
    return made


class AgentRunError(RunError):
    """An agent node's run failed: a guardrail tripped, too many turns, bad model output, or a
    model/transport error. Goes through the node's retry policy and ``on_error`` edge."""

    def __init__(self, node: str, agent: str, cause: BaseException) -> None:
        self.node, self.agent, self.cause = node, agent, cause
        super().__init__(
            f"agent {agent!r} in node {node!r} failed: {type(cause).__name__}: {cause}"
        )
        self.__cause__ = cause

    def __reduce__(self) -> Any:  # (a Ray worker sends it back pickled)
        return (type(self), (self.node, self.agent, self.cause), pickled_notes(self))


class NodeTimeoutError(RunError, TimeoutError):
    def __init__(self, node: str, seconds: float, *, still_running: bool = False) -> None:
        self.node, self.seconds = node, seconds
        message = f"node {node!r} did not finish within its timeout of {seconds:g} s"
        if still_running:
            message += (
                "; its previous attempt was still running a timeout later, so it was not "
                "retried beside it (a sync node cannot be stopped: make it return in time, "
                "or make it async so the timeout cancels it)"
            )
        super().__init__(message)


class StateValidationError(RunError):
    def __init__(self, node: str, field: str, detail: str) -> None:
        self.node, self.field, self.detail = node, field, detail
        super().__init__(f"node {node!r} wrote an invalid value to field {field!r}: {detail}")


class InvalidUpdateError(RunError):
    def __init__(self, node: str, value: Any) -> None:
        self.node = node
        super().__init__(
            f"node {node!r} returned {type(value).__name__}; return a dict of state fields "
            "(or None for no change)"
        )


class ConflictingWritesError(RunError):
    def __init__(self, field: str, first: str, second: str, step: int) -> None:
        self.field, self.nodes, self.step = field, (first, second), step
        super().__init__(
            f"nodes {first!r} and {second!r} both wrote field {field!r} in step {step}, and the "
            "field has no reducer; give it a reducer with Annotated[..., append] (or similar) "
            "or let only one branch write it"
        )


class RouteError(RunError):
    def __init__(self, source: str, value: Any, allowed: Iterable[str]) -> None:
        self.source, self.value = source, value
        super().__init__(
            f"route from {source!r} returned {value!r}, which is not one of its declared "
            f"targets ({', '.join(map(repr, allowed))}); declare it in the return type or mapping"
        )


class RouterFailedError(RunError):
    def __init__(self, source: str, router: str, cause: BaseException) -> None:
        self.source, self.router, self.cause = source, router, cause
        super().__init__(
            f"route {router!r} out of {source!r} raised {type(cause).__name__}: {cause}"
        )


class CapExceededError(RunError):
    def __init__(
        self,
        what: str,
        limit: int,
        cycle: Iterable[str],
        visits: Mapping[str, int],
        path: list[str],
    ) -> None:
        self.what, self.limit, self.cycle = what, limit, list(cycle)
        counts = ", ".join(f"{n}={visits.get(n, 0)}" for n in self.cycle)
        super().__init__(
            f"{what} reached its cap of {limit} with no exit declared; cycle: "
            f"{' -> '.join(self.cycle)}; visits: {counts}; path so far: "
            f"{' -> '.join(path[-12:])}. Declare an exit (exit=... / on_cap=...) or raise the cap"
        )


class StepLimitExceededError(RunError):
    def __init__(self, limit: int, path: list[str], visits: Mapping[str, int]) -> None:
        self.limit = limit
        busiest = sorted(visits.items(), key=lambda kv: -kv[1])[:5]
        super().__init__(
            f"run stopped after {limit} steps (max_steps); busiest nodes: "
            f"{', '.join(f'{n}={c}' for n, c in busiest)}; last path: {' -> '.join(path[-12:])}. "
            "Add an exit condition or pass a larger max_steps"
        )


class InvalidCommandError(RunError, TypeError):
    """A `Command` was given a ``goto`` it cannot follow."""

    def __init__(self, goto: Any, bad: Any) -> None:
        self.goto, self.bad = goto, bad
        super().__init__(
            f"Command(goto={goto!r:.80}): {bad!r:.80} ({type(bad).__name__}) is neither a node "
            "name nor a Send; goto takes a node name, a Send, or a list or tuple of them"
        )


class InvalidInputError(RunError):
    """A run's input does not fit the graph's state model: unknown or invalid fields."""

    def __init__(
        self,
        model: str,
        *,
        unknown: Iterable[str] = (),
        fields: Iterable[str] = (),
        invalid: Mapping[str, str] | None = None,
    ) -> None:
        self.model = model
        self.unknown = sorted(unknown)
        self.invalid = dict(invalid or {})
        if self.unknown:
            message = (
                f"run input names {', '.join(map(repr, self.unknown))}, not a field of state "
                f"{model!r}; fields are: {', '.join(sorted(fields))}. Remove it from the input "
                "or add the field to the model"
            )
        else:
            problems = "; ".join(f"field {k!r}: {v}" for k, v in self.invalid.items())
            message = (
                f"run input is not a valid {model!r}: {problems}. Fix the input value(s) to "
                "match the state model"
            )
        super().__init__(message)


class StoreError(OrchestratorError):
    """A store cannot be used: not a database, someone else's database, a newer schema, or a
    database error. Nothing was written."""


class RunNotFoundError(StoreError):
    def __init__(self, run_id: str, where: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"no run {run_id!r} in {where}; list the runs with `orchestrator runs` "
            "(or check --store)"
        )


class RunExistsError(StoreError):
    """A new run was given the id of a run the store already holds."""

    def __init__(self, run_id: str, where: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"run {run_id!r} already exists in {where}; start the run with another id (or "
            "resume the existing one)"
        )


class RunBusyError(StoreError):
    """Another driver holds the run's lease: this one was refused before touching the run."""

    def __init__(self, run_id: str, owner: str, seconds_left: float | None) -> None:
        self.run_id, self.owner, self.seconds_left = run_id, owner, seconds_left
        until = (
            ""
            if seconds_left is None
            else f" (its lease runs {seconds_left:.0f} s more unless renewed)"
        )
        super().__init__(
            f"run {run_id!r} is being driven by {owner}{until}; only one process drives a run "
            "at a time. Wait for it to stop (`orchestrator runs` shows its status); if that "
            "process is gone, the run is taken over once its lease runs out"
        )


class CheckpointMismatchError(StoreError):
    def __init__(self, run_id: str, step: int, detail: str) -> None:
        self.run_id, self.step = run_id, step
        super().__init__(
            f"run {run_id!r}: the checkpoint of step {step} no longer fits the graph's state "
            f"model ({detail}); run it with the graph version that wrote it, or fork it from an "
            "earlier step with --set to fix the field"
        )


class LeaseLostError(StoreError):
    def __init__(self, run_id: str, owner: str, epoch: int) -> None:
        self.run_id, self.owner, self.epoch = run_id, owner, epoch
        super().__init__(
            f"run {run_id!r}: {owner!r} no longer holds the lease (epoch {epoch}); another host "
            "took the run over, so this one must stop writing"
        )


class StoreUnavailableError(StoreError):
    """The store kept failing past the retry budget: the run stopped, resumable."""

    def __init__(self, run_id: str, where: str, cause: BaseException) -> None:
        self.run_id, self.where, self.cause = run_id, where, cause
        super().__init__(
            f"run {run_id!r}: the store {where} is unavailable ({type(cause).__name__}: "
            f"{cause}); the run stopped at its last checkpoint and nothing was lost: resume it "
            f"with `orchestrator resume {run_id}` once the store is back"
        )


class TransientStoreError(StoreError):
    """A store error that may pass if tried again: a database locked by another writer, a lost
    connection. Run writers retry it with backoff before giving up (`StoreUnavailableError`)."""


class UnstorableValueError(StoreError):
    """A node wrote a value the store cannot keep as JSON (so the stored run would differ)."""

    def __init__(self, node: str, field: str, reason: str) -> None:
        self.node, self.field = node, field
        super().__init__(
            f"node {node!r} wrote field {field!r} a value the store cannot keep: {reason}; "
            "write a JSON-compatible value (or a pydantic model of a declared type)"
        )


class CorruptRunError(StoreError):
    """A stored row of a run cannot be read back: it was edited by hand or damaged. Nothing was
    changed, and the run's other rows and every other run stay readable.

    ``row`` says which: "run", "checkpoint", "pending write", "events" or "resume values";
    ``step`` is the step the row belongs to, when it has one.
    """

    def __init__(
        self,
        run_id: str,
        step: int | None,
        row: str,
        cause: BaseException | str,
        where: str | None = None,
    ) -> None:
        self.run_id, self.step, self.row, self.where = run_id, step, row, where
        what = "run row" if row == "run" else row
        at = "" if step is None else f" of step {step}"
        place = f" in {where}" if where else ""
        fix = (
            "delete the run or restore the store from a backup"
            if row == "run"
            else "fork the run from an earlier step, or restore the store from a backup"
        )
        super().__init__(
            f"run {run_id!r}: its stored {what}{at}{place} cannot be read back "
            f"({_brief(cause)}); the row was edited or damaged. To go on, {fix}"
        )


def _brief(cause: BaseException | str) -> str:
    """The cause on one line and in at most about 200 characters: a damaged row's value can be
    huge, and an error naming it would be too."""
    if isinstance(cause, str):
        text = cause
    else:
        try:
            text = f"{type(cause).__name__}: {str(cause)[:400]}"
        except Exception:  # a value that cannot even be shown
            text = type(cause).__name__
    text = " ".join(text[:400].split())
    return text if len(text) <= 200 else text[:199] + "…"


class WriteFailedError(RunError):
    """A reducer or a field validator raised while a node's write was applied."""

    def __init__(self, node: str, field: str, cause: BaseException) -> None:
        self.node, self.field, self.cause = node, field, cause
        super().__init__(
            f"node {node!r}: applying its write to field {field!r} raised "
            f"{type(cause).__name__}: {cause}; fix the value the node returns, or the field's "
            "reducer or validator"
        )


class EngineError(RunError):
    """An unexpected exception inside the engine; the run is marked failed with it."""

    def __init__(self, run_id: str, step: int, cause: BaseException) -> None:
        self.run_id, self.step, self.cause = run_id, step, cause
        super().__init__(
            f"run {run_id!r} failed at step {step}: {type(cause).__name__}: {cause}; its last "
            "checkpoint stays resumable. This is likely a bug: please report it with the run id"
        )


class SyncInLoopError(RunError):
    def __init__(self) -> None:
        super().__init__(
            "run_sync() was called inside a running event loop (a notebook or async code); "
            "use `await graph.run(...)` instead"
        )


class ResumeError(RunError):
    """A resume was asked of a run that cannot take it (the message says why)."""
