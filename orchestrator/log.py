"""The one fold of a run's log: the checkpoints of a stored run, from a snapshot on, folded into
the state after every step and the run state after the last. Load, resume, playback, fork,
recorded replay, `orchestrator show` and the run report all read a stored run through here, so
they cannot disagree about what happened."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from .codec import decode_value, encode_value
from .context import Failure
from .errors import CheckpointMismatchError, CorruptRunError, OrchestratorError, StoreError
from .records import DECODE_ERRORS, Checkpoint, TaskWrite, decode_writes
from .run import Arrival, RunState

if TYPE_CHECKING:
    from .spec import GraphSpec


@dataclass(frozen=True, slots=True)
class Folded:
    """One checkpoint with the state after it and its writes as values (references resolved)."""

    checkpoint: Checkpoint
    state: BaseModel
    writes: list[TaskWrite]


def fold(graph: GraphSpec, run_id: str, checkpoints: list[Checkpoint]) -> list[Folded]:
    """Fold ``checkpoints`` (the first holding a snapshot, the others the steps after it, with
    no gap) into the state after each of them."""
    if not checkpoints or checkpoints[0].snapshot is None:
        raise StoreError(f"run {run_id!r} has no snapshot to start from; the store is damaged")
    first = checkpoints[0]
    assert first.snapshot is not None
    try:
        data = first.snapshot.state
        loose = graph.schema.loose
        if loose:
            data = {k: decode_value(v) if k in loose else v for k, v in data.items()}
        state = graph.schema.model.model_validate(data)
    except ValidationError as exc:
        raise CheckpointMismatchError(run_id, first.step, _short(exc)) from exc
    except DECODE_ERRORS as exc:
        raise _damaged(run_id, first.step, exc) from exc
    folded = [Folded(first, state, [])]
    previous = first.step
    for checkpoint in checkpoints[1:]:
        step = checkpoint.step
        if step != previous + 1:
            raise CorruptRunError(
                run_id,
                previous + 1,
                "checkpoint",
                f"the checkpoints jump from step {previous} to step {step}: this one is lost, "
                f"so no state after step {previous} can be rebuilt",
            )
        previous = step
        try:
            writes = decode_writes(checkpoint.writes, state, loose)
            state = graph.schema.apply(
                state, [(n, u) for _, n, u in writes], step, [t for t, _, _ in writes]
            )
        except OrchestratorError as exc:
            raise CheckpointMismatchError(run_id, step, str(exc)) from exc
        except DECODE_ERRORS as exc:
            raise _damaged(run_id, step, exc) from exc
        folded.append(Folded(checkpoint, state, writes))
    return folded


def run_state(graph: GraphSpec, run_id: str, checkpoints: list[Checkpoint]) -> RunState:
    """The run state after the last of ``checkpoints`` (see `fold`)."""
    folded = fold(graph, run_id, checkpoints)
    snapshot = checkpoints[0].snapshot
    assert snapshot is not None
    visits = dict(snapshot.visits)
    counts = {(s, t): n for s, t, n in snapshot.edge_counts}
    for entry in folded[1:]:
        for node in entry.checkpoint.ran:
            visits[node] = visits.get(node, 0) + 1
        for source, target, _, _ in entry.checkpoint.edges:
            counts[(source, target)] = counts.get((source, target), 0) + 1
    last = checkpoints[-1]
    kept = next((c.kept for c in reversed(checkpoints) if c.kept is not None), {})
    try:
        tasks = [
            t.task(graph.nodes[t.node].index if t.node in graph.nodes else 0) for t in last.tasks
        ]
        joins = joins_from_json(last.joins)
    except DECODE_ERRORS as exc:
        raise _damaged(run_id, last.step, exc) from exc
    return RunState(
        run_id=run_id,
        graph=graph.name,
        state=folded[-1].state,
        step=last.step,
        started=True,
        tasks=tasks,
        joins=joins,
        visits=visits,
        edge_counts=counts,
        seq=last.seq,
        kept=dict(kept),
    )


def joins_to_json(joins: dict[str, list[Arrival]]) -> dict[str, list[Any]]:
    """Join arrivals as a checkpoint keeps them: a source name, or ``[source, payload,
    failure]`` for an arrival that carried a payload or a failure."""
    if not joins:
        return {}
    if all(type(a) is str for arrivals in joins.values() for a in arrivals):
        return {name: list(arrivals) for name, arrivals in joins.items()}
    return {
        name: [
            a
            if isinstance(a, str)
            else [a[0], encode_value(a[1]), dataclasses.asdict(a[2]) if a[2] is not None else None]
            for a in arrivals
        ]
        for name, arrivals in joins.items()
    }


def joins_from_json(joins: dict[str, list[Any]]) -> dict[str, list[Arrival]]:
    """`joins_to_json` read back."""
    return {
        name: [
            a
            if isinstance(a, str)
            else (a[0], decode_value(a[1]), Failure(**a[2]) if a[2] else None)
            for a in arrivals
        ]
        for name, arrivals in joins.items()
    }


def _damaged(run_id: str, step: int, exc: BaseException) -> StoreError:
    from .errors import CorruptRunError

    return CorruptRunError(run_id, step, "checkpoint", exc)


def _short(exc: ValidationError) -> str:
    errs = exc.errors(include_url=False)
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errs[:3])
