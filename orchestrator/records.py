"""What a store keeps, as JSON: run rows, append-only checkpoints (a delta per step, and a full
snapshot when the deltas since the last one outgrow it), pending writes and rich events.

Everything goes through pydantic and JSON; loading never constructs arbitrary objects.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from pydantic_core import to_json as _to_json
from pydantic_core import to_jsonable_python

from . import events as ev
from .codec import REF, decode_value, encode_value, is_plain
from .context import Failure
from .errors import CorruptRunError
from .reducers import Overwrite
from .run import Outcome, Task

if TYPE_CHECKING:
    from .spec import GraphSpec

#: Bumped when the stored layout changes; a store refuses files written by a newer version.
SCHEMA_VERSION = 2

#: Events kept in the events table; the others are rebuilt from the checkpoints.
RICH_EVENTS = (
    ev.ModelCalled,
    ev.AgentItem,
    ev.NodeFailed,
    ev.NodeRetried,
    ev.Interrupted,
    ev.NodeCached,  # which tasks a cache answered: the checkpoint holds only their writes
)


#: What reading back a damaged row raises from deep inside json and pydantic: a ValidationError
#: and a JSONDecodeError are ValueErrors, so is an integer past Python's digit limit; a document
#: nested deeper than the interpreter's stack is a RecursionError.
DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError)

_STATUSES = frozenset(status.value for status in ev.RunStatus)
_FAILURE: TypeAdapter[Failure] = TypeAdapter(Failure)


def _corrupt(
    run_id: str, step: int | None, row: str, exc: BaseException, where: str | None = None
) -> CorruptRunError:
    cause: BaseException | str = exc
    if isinstance(exc, ValidationError):  # its str spans lines and ends in a URL
        errors = exc.errors(include_url=False, include_input=False)
        cause = "ValidationError: " + "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in errors[:3]
        )
    return CorruptRunError(run_id, step, row, cause, where)


def to_json(value: Any) -> Any:
    """A JSON-compatible copy of ``value`` (pydantic models, enums, dataclasses included)."""
    return to_jsonable_python(value, fallback=str)


def dumps(value: Any) -> str:
    return json.dumps(to_json(value), separators=(",", ":"), ensure_ascii=False)


#: One stored write: the id of the task that made it, its node, and the partial update.
TaskWrite = tuple[int, str, dict[str, Any]]

#: What `known_containers` finds in a state: container id -> (kind, field, fingerprint).
Known = dict[int, tuple[str, str, tuple[int, int]]]


def known_containers(state: BaseModel) -> Known:
    """The containers of ``state`` a later write may refer to (a field's list or dict, a list
    field's last item), each with a fingerprint taken now, before any node has run.

    A node that mutates its state in place and hands the container back changes its length or
    its last item; `encode_writes` then stores the value in full instead of a reference, so
    the store keeps what the barrier applied. (Deeper in-place changes cannot be seen without
    copying; the README asks nodes to return new values.)
    """
    found: Known = {}
    for name, value in state.__dict__.items():  # at every barrier of a stored run: kept lean
        kind = type(value)
        if kind is list:
            if not value or id(value) in found:
                continue
            last = value[-1]
            found[id(value)] = ("field", name, (len(value), id(last)))
            inner = type(last)
            if (inner is list or inner is dict) and last and id(last) not in found:
                found[id(last)] = ("last", name, _fingerprint(last))
        elif kind is dict:
            if value and id(value) not in found:
                found[id(value)] = ("field", name, (len(value), 0))
        elif isinstance(value, (list, dict)) and value:  # subclasses: the general path
            found.setdefault(id(value), ("field", name, _fingerprint(value)))
    return found


def _fingerprint(value: list[Any] | dict[str, Any]) -> tuple[int, int]:
    if isinstance(value, list):
        return len(value), id(value[-1]) if value else 0
    return len(value), 0


def encode_writes(
    writes: Sequence[TaskWrite], known: Known, loose: frozenset[str] = frozenset()
) -> list[TaskWrite]:
    """Writes as JSON, where a value that *is* an unchanged container of the state before the
    step (see `known_containers`) is stored as a reference to it.

    Nodes often hand back what they read (the conversation, the last message): storing a
    reference keeps a checkpoint the size of what changed. `decode_writes` resolves them
    against the same state, which the log rebuilds exactly.
    """
    encoded: list[TaskWrite] = []
    for task_id, node, update in writes:
        out: dict[str, Any] = {}
        for key, value in update.items():
            typed = not (loose and key in loose)  # typed Any: keep the values' types (codec)
            if type(value) is Overwrite:  # kept as the marker, so the fold replaces too
                out[key] = {REF: "overwrite", "v": _value(value.value, typed)}
                continue
            if isinstance(value, (list, dict)) and value and known:
                ref = _ref(value, known)
                if ref is not None:
                    out[key] = ref
                    continue
                if isinstance(value, list) and any(_ref(item, known) for item in value):
                    # A new list of the state's own containers ([last message], ...).
                    items = [_ref_or_value(i, known, typed) for i in value]
                    out[key] = {REF: "items", "items": items}
                    continue
            out[key] = _value(value, typed)
        encoded.append((task_id, node, out))
    return encoded


def _ref(value: Any, known: Known) -> dict[str, str] | None:
    if not isinstance(value, (list, dict)) or not value:
        return None
    found = known.get(id(value))
    if found is None or _fingerprint(value) != found[2]:
        return None  # not the state's, or changed in place since the barrier: store it whole
    return {REF: found[0], "field": found[1]}


def _value(value: Any, typed: bool) -> Any:
    """A written value as JSON: plain JSON for a field whose type rebuilds it (a user dict
    holding the marker key escaped), the codec's tagged form for one typed Any."""
    if typed:
        data = to_json(value)
        return {REF: "lit", "v": data} if isinstance(data, dict) and REF in data else data
    return to_json(value) if is_plain(value) else encode_value(value)


def _ref_or_value(item: Any, known: Known, typed: bool) -> Any:
    ref = _ref(item, known)
    return ref if ref is not None else _value(item, typed)


_REFERENCES = frozenset({"field", "last", "items"})


def _resolve(ref: dict[str, Any], before: BaseModel, typed: bool) -> Any:
    kind = ref[REF]
    if kind == "items":
        return [_item(item, before, typed) for item in ref["items"]]
    if kind == "overwrite":
        return Overwrite(_item(ref["v"], before, typed))
    if kind in _REFERENCES:
        current = getattr(before, ref["field"])
        return current if kind == "field" else current[-1]
    if typed:
        if kind != "lit":
            raise ValueError(f"unknown stored value kind {kind!r:.40}")
        return ref["v"]
    return decode_value(ref)


def _item(item: Any, before: BaseModel, typed: bool) -> Any:
    if isinstance(item, dict) and REF in item:
        return _resolve(item, before, typed)
    return item if typed else decode_value(item)


def decode_writes(
    writes: Sequence[TaskWrite], before: BaseModel, loose: frozenset[str] = frozenset()
) -> list[TaskWrite]:
    """Stored writes back to values, references resolved against the state before the step."""
    decoded: list[TaskWrite] = []
    for task_id, node, update in writes:
        out = dict(update)
        for key, value in update.items():
            typed = not (loose and key in loose)
            if isinstance(value, dict) and REF in value:
                out[key] = _resolve(value, before, typed)
            elif not typed:
                out[key] = decode_value(value)
        decoded.append((task_id, node, out))
    return decoded


class RunRecord(BaseModel):
    """One row of the runs table."""

    run_id: str
    graph: str
    graph_hash: str
    status: str
    created: float = Field(default_factory=time.time)
    updated: float = Field(default_factory=time.time)
    parent_run: str | None = None
    parent_step: int | None = None
    error: str | None = None
    waiting: list[dict[str, Any]] = []
    owner: str | None = None
    steps: int = 0
    source: str | None = None  # where the graph came from (module:attribute), when known


#: The runs table's columns (both SQL stores), in the order of `run_values`.
RUN_FIELDS = (
    "run_id", "graph", "graph_hash", "status", "created", "updated", "parent_run",
    "parent_step", "error", "waiting", "owner", "steps", "source",
)  # fmt: skip
RUN_COLUMNS = ", ".join(RUN_FIELDS)


def run_values(run: RunRecord) -> tuple[Any, ...]:
    """A run record as a row of the runs table (``waiting`` as JSON text)."""
    return tuple(json.dumps(run.waiting) if f == "waiting" else getattr(run, f) for f in RUN_FIELDS)


def run_from_row(row: Sequence[Any], where: str | None = None) -> RunRecord:
    """A row of the runs table (columns `RUN_COLUMNS`) as a validated run record;
    `CorruptRunError` when it was damaged (``where`` names the store in the message)."""
    try:
        data = dict(zip(RUN_FIELDS, row, strict=True))
        data["waiting"] = json.loads(data["waiting"] or "[]")
        record = RunRecord.model_validate(data)
        if record.status not in _STATUSES:
            raise ValueError(
                f"status {record.status[:40]!r} is not one of {', '.join(sorted(_STATUSES))}"
            )
        for waiting in record.waiting:
            if not (
                isinstance(waiting.get("task_id"), int)
                and isinstance(waiting.get("node"), str)
                and "request" in waiting
            ):
                raise ValueError("an entry of waiting lacks its task_id, node or request")
    except DECODE_ERRORS as exc:
        raise _corrupt(str(row[0]) if row else "?", None, "run", exc, where) from exc
    return record


@dataclasses.dataclass(slots=True)
class TaskRecord:
    """A task of the next step, as a checkpoint keeps it."""

    node: str
    id: int
    payload: Any = None
    error: dict[str, Any] | None = None
    resume: list[Any] = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, task: Task) -> TaskRecord:
        return cls(
            task.node,
            task.id,
            None if task.payload is None else encode_value(task.payload),
            dataclasses.asdict(task.error) if task.error else None,
            encode_value(task.resume) if task.resume else [],
        )

    def task(self, index: int) -> Task:
        """The task again; ``index`` is its node's declaration index (part of its order)."""
        error = Failure(**self.error) if self.error else None
        return Task(
            self.node,
            self.id,
            index << 40 | self.id,
            decode_value(self.payload),
            error,
            decode_value(list(self.resume)) or None,
        )


@dataclasses.dataclass(slots=True)
class Snapshot:
    """The full run state at a step: loading starts from the latest one."""

    state: dict[str, Any]
    visits: dict[str, int]
    edge_counts: list[tuple[str, str, int]]


@dataclasses.dataclass(slots=True)
class Checkpoint:
    """One row per step barrier (step 0 is the run's start).

    Plain dataclasses, built on the scheduler's hot path without validation; what is read
    back from a store is validated (`decode_checkpoint`) into the same types.
    """

    run_id: str
    step: int
    # (task id, node, update) of every write applied at the barrier, in the order applied
    writes: list[TaskWrite] = dataclasses.field(default_factory=list)
    ran: list[str] = dataclasses.field(default_factory=list)  # nodes executed, in order
    # (source, target, kind, label) of every edge taken
    edges: list[tuple[str, str, str, str | None]] = dataclasses.field(default_factory=list)
    # task id, node, start (seconds after the run was created), duration, attempt
    timing: list[tuple[int, str, float, float, int]] = dataclasses.field(default_factory=list)
    tasks: list[TaskRecord] = dataclasses.field(default_factory=list)  # the next step
    joins: dict[str, list[Any]] = dataclasses.field(default_factory=dict)  # see log.joins_to_json
    seq: int = 0
    snapshot: Snapshot | None = None
    # A step made by a person, not by the graph: ``{"as_node": name}`` for an update applied as
    # that node's write (no node ran), ``{"set": [fields]}`` for a fork's replaced fields, with
    # ``"by"`` naming the call that made it (fork, resume).
    edit: dict[str, Any] | None = None
    # What nodes keep across their visits (`RunState.kept`), when it changed at this step;
    # a checkpoint with a snapshot always has it
    kept: dict[str, Any] | None = None


_CHECKPOINT: TypeAdapter[Checkpoint] = TypeAdapter(Checkpoint)


_KIND_CODES = {"normal": "n", "conditional": "c", "handoff": "h", "error": "e", "cap_exit": "x"}
_CODE_KINDS = {code: kind for kind, code in _KIND_CODES.items()}


def encode_checkpoint(checkpoint: Checkpoint) -> str:
    """The compact JSON a checkpoint is stored as (run id and step live in their own columns).

    Short keys, empty parts left out, edge kinds as letters, a route edge's label left out when
    it is the target's name, ``seq`` left out when it is the largest task id: W5's 800 steps
    fit in a few hundred bytes each.
    """
    data: dict[str, Any] = {}
    if checkpoint.writes:
        data["w"] = checkpoint.writes
    if checkpoint.ran:
        data["r"] = checkpoint.ran
    if checkpoint.edges:
        edges = []
        for source, target, kind, label in checkpoint.edges:
            edge: list[Any] = [source, target, _KIND_CODES.get(kind, kind)]
            implied = target if kind == "conditional" else None
            if label != implied:
                edge.append(label)
            edges.append(edge)
        data["e"] = edges
    if checkpoint.timing:
        data["t"] = checkpoint.timing
    if checkpoint.tasks:
        data["k"] = [_task_json(t) for t in checkpoint.tasks]
    if checkpoint.joins:
        data["j"] = checkpoint.joins
    if checkpoint.seq != max((t.id for t in checkpoint.tasks), default=0):
        data["s"] = checkpoint.seq
    if checkpoint.snapshot is not None:
        snapshot = checkpoint.snapshot  # already JSON-ready: asdict would deep-copy the state
        data["S"] = {
            "state": snapshot.state,
            "visits": snapshot.visits,
            "edge_counts": snapshot.edge_counts,
        }
    if checkpoint.edit is not None:
        data["x"] = checkpoint.edit
    if checkpoint.kept:
        data["m"] = checkpoint.kept
    # pydantic-core's encoder (Rust): a checkpoint is encoded at every step of every run.
    return _to_json(data).decode()


def _task_json(task: TaskRecord) -> dict[str, Any]:
    data: dict[str, Any] = {"node": task.node, "id": task.id}
    if task.payload is not None:
        data["payload"] = task.payload
    if task.error is not None:
        data["error"] = task.error
    if task.resume:
        data["resume"] = task.resume
    return data


def decode_checkpoint(run_id: str, step: int, text: str, where: str | None = None) -> Checkpoint:
    """A stored checkpoint, validated into `Checkpoint` (nothing else can come out);
    `CorruptRunError` when the row was damaged (``where`` names the store in the message)."""
    try:
        checkpoint = _checkpoint_from_json(run_id, step, text)
        for task in checkpoint.tasks:
            if task.error is not None:
                task.error = _failure(task.error)
        for arrivals in checkpoint.joins.values():
            arrivals[:] = [_arrival(a) for a in arrivals]
    except DECODE_ERRORS as exc:
        raise _corrupt(run_id, step, "checkpoint", exc, where) from exc
    return checkpoint


def decode_log(
    run_id: str, rows: Iterable[tuple[int, Any]], where: str | None = None
) -> list[Checkpoint]:
    """A run's stored checkpoints, ``(step, text)`` in step order, decoded (`decode_checkpoint`).

    The first must hold a snapshot: every log starts with one, and reading from the latest
    snapshot starts there. Without it nothing can be rebuilt, so it is a `CorruptRunError`.
    """
    checkpoints = [decode_checkpoint(run_id, step, text, where) for step, text in rows]
    if not checkpoints:
        raise CorruptRunError(run_id, None, "checkpoint", "the run has no checkpoint left", where)
    if checkpoints[0].snapshot is None:
        raise CorruptRunError(
            run_id,
            checkpoints[0].step,
            "checkpoint",
            "the log starts here, but the row holds no snapshot of the state",
            where,
        )
    return checkpoints


def _failure(data: Any) -> dict[str, Any]:
    """A stored `Failure`, checked to build one again (its fields and their types)."""
    return dataclasses.asdict(_FAILURE.validate_python(data))


def _arrival(arrival: Any) -> Any:
    """A stored join arrival (see `log.joins_to_json`), checked to read back."""
    if isinstance(arrival, str):
        return arrival
    if not (isinstance(arrival, list) and len(arrival) == 3 and isinstance(arrival[0], str)):
        raise TypeError("a join arrival is a source name or [source, payload, failure]")
    source, payload, failure = arrival
    return [source, payload, _failure(failure) if failure else None]


def _checkpoint_from_json(run_id: str, step: int, text: str) -> Checkpoint:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise TypeError(f"a checkpoint is a JSON object, not {type(data).__name__}")
    tasks = data.get("k", [])
    edges = []
    for edge in data.get("e", []):
        source, target, code = edge[0], edge[1], edge[2]
        kind = _CODE_KINDS.get(code, code)
        label = edge[3] if len(edge) > 3 else (target if kind == "conditional" else None)
        edges.append((source, target, kind, label))
    return _CHECKPOINT.validate_python(
        {
            "run_id": run_id,
            "step": step,
            "writes": _owned(data.get("w", [])),
            "ran": data.get("r", []),
            "edges": edges,
            "timing": data.get("t", []),
            "tasks": tasks,
            "joins": data.get("j", {}),
            "seq": data.get("s", max((t["id"] for t in tasks), default=0)),
            "snapshot": data.get("S"),
            "edit": data.get("x"),
            "kept": data.get("m"),
        }
    )


def _owned(writes: Any) -> Any:
    """Writes of schema 1 (``[node, update]``, no task) get an owner each, as they were read
    then; schema 2 keeps the task that made each write."""
    if isinstance(writes, list) and any(isinstance(w, list) and len(w) == 2 for w in writes):
        return [
            [-(i + 1), *w] if isinstance(w, list) and len(w) == 2 else w
            for i, w in enumerate(writes)
        ]
    return writes


class PendingWrite(BaseModel):
    """The outcome of a task that finished inside a step that did not reach its barrier."""

    run_id: str
    step: int
    task_id: int
    update: dict[str, Any] = {}
    pre: list[dict[str, Any]] = []
    goto: list[Any] | None = None
    failure: dict[str, Any] | None = None
    attempt: int = 1
    kept: Any = None  # see `Outcome.kept`

    @classmethod
    def of(
        cls,
        run_id: str,
        step: int,
        outcome: Outcome,
        known: Known,
        loose: frozenset[str] = frozenset(),
    ) -> PendingWrite:
        """``known`` holds the containers of the state the step started from: values taken
        from it are stored as references (see `encode_writes`), resolved by `outcome` against
        the same state."""
        writes = [(0, "", dict(w)) for w in [*(outcome.pre or []), outcome.update or {}]]
        encoded = [u for _, _, u in encode_writes(writes, known, loose)]
        return cls(
            run_id=run_id,
            step=step,
            task_id=outcome.task.id,
            update=encoded[-1],
            pre=encoded[:-1],
            goto=encode_value(list(outcome.goto)) if outcome.goto is not None else None,
            failure=dataclasses.asdict(outcome.failure) if outcome.failure else None,
            attempt=outcome.attempt,
            kept=outcome.kept,
        )

    def outcome(
        self, task: Task, before: BaseModel, loose: frozenset[str] = frozenset()
    ) -> Outcome:
        """The outcome again; `CorruptRunError` when a stored reference does not resolve."""
        failure = Failure(**self.failure) if self.failure else None  # checked by decode_pending
        writes = [(0, "", w) for w in [*self.pre, self.update]]
        try:
            goto = tuple(decode_value(self.goto)) if self.goto is not None else None
            decoded = [u for _, _, u in decode_writes(writes, before, loose)]
        except DECODE_ERRORS as exc:
            raise _corrupt(self.run_id, self.step, "pending write", exc) from exc
        pre = decoded[:-1] or None
        return Outcome(task, self.attempt, decoded[-1], goto, failure, pre=pre, kept=self.kept)


def decode_pending(run_id: str, step: int, text: str, where: str | None = None) -> PendingWrite:
    """A stored pending write of ``step``; `CorruptRunError` when the row was damaged."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError(f"a pending write is a JSON object, not {type(data).__name__}")
        # Where the row is stored says whose it is, whatever its text says.
        pending = PendingWrite.model_validate({**data, "run_id": run_id, "step": step})
        if pending.failure is not None:
            pending.failure = _failure(pending.failure)
    except DECODE_ERRORS as exc:
        raise _corrupt(run_id, step, "pending write", exc, where) from exc
    return pending


def decode_ran(run_id: str, step: int, text: Any, where: str | None = None) -> list[str]:
    """The nodes a stored checkpoint ran (its ``r``, as JSON text; None when it ran none)."""
    if text is None:
        return []
    try:
        ran = json.loads(text)
        if not (isinstance(ran, list) and all(isinstance(node, str) for node in ran)):
            raise TypeError(f"the nodes ran are a list of names, not {type(ran).__name__}")
    except DECODE_ERRORS as exc:
        raise _corrupt(run_id, step, "checkpoint", exc, where) from exc
    return ran


def decode_event_row(run_id: str, step: Any, text: Any, where: str | None = None) -> Any:
    """A stored rich event as its JSON object (`decode_event` rebuilds the event)."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError(f"an event is a JSON object, not {type(data).__name__}")
    except DECODE_ERRORS as exc:
        raise _corrupt(run_id, _step(step), "events", exc, where) from exc
    return data


def decode_resume(run_id: str, text: Any, where: str | None = None) -> Any:
    """A stored resume value: ``{"answer": ..., "asked": ...}`` (see `CompiledGraph.resume`)."""
    try:
        entry = json.loads(text)
        if not (isinstance(entry, dict) and "answer" in entry):
            raise TypeError(f"a resume value is an object with an answer, not {entry!r:.60}")
    except DECODE_ERRORS as exc:
        raise _corrupt(run_id, None, "resume values", exc, where) from exc
    return entry


def _step(value: Any) -> int | None:
    return value if type(value) is int else None


_EVENT_TYPES: dict[str, type[ev.Event]] = {
    cls.__name__: cls
    for cls in vars(ev).values()
    if isinstance(cls, type) and issubclass(cls, ev.Event) and cls is not ev.Event
}


def event_to_json(event: ev.Event) -> dict[str, Any]:
    data = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    data["type"] = type(event).__name__
    result: dict[str, Any] = to_json(data)
    return result


_EVENT_ADAPTERS: dict[type[ev.Event], TypeAdapter[Any]] = {}


def event_from_json(data: dict[str, Any]) -> ev.Event:
    """Rebuild an event, its fields checked against their types; only the event classes of this
    package can come out."""
    kind = _EVENT_TYPES.get(str(data.get("type")))
    if kind is None:
        raise ValueError(f"unknown event type {str(data.get('type'))[:40]!r}")
    adapter = _EVENT_ADAPTERS.get(kind)
    if adapter is None:
        adapter = _EVENT_ADAPTERS[kind] = TypeAdapter(kind)
    names = {f.name for f in dataclasses.fields(kind)}
    event: ev.Event = adapter.validate_python({k: v for k, v in data.items() if k in names})
    return event


def decode_event(run_id: str, data: Any, where: str | None = None) -> ev.Event:
    """A stored event rebuilt (`event_from_json`) from what `Store.events` read; a
    `CorruptRunError` naming the event's step when it cannot be."""
    try:
        return event_from_json(data)
    except DECODE_ERRORS as exc:
        step = data.get("step") if isinstance(data, dict) else None
        raise _corrupt(run_id, _step(step), "events", exc, where) from exc


def graph_hash(graph: GraphSpec) -> str:
    """A fingerprint of a graph's structure: nodes, edges and state fields."""
    shape = {
        "nodes": sorted((n.name, str(n.kind)) for n in graph.nodes.values()),
        "edges": sorted((e.source, e.target, str(e.kind), e.label or "") for e in graph.edges),
        "fields": sorted(graph.schema.fields),
    }
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]
