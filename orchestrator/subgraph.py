"""Subgraph nodes: a compiled graph run as one node of another, with explicit field mappings.

The child run is driven by the child graph's scheduler inside the subgraph node's task. When it
pauses (an interrupt or a human step inside), the task pauses the parent run with a request
that carries the child's run state as a checkpoint in the stores' own JSON format, so that a
resume — in this process or another, days later — rebuilds the child where it stopped and
answers the inner task that asked; the child's finished steps are not run again. A stateful
subgraph keeps its child's state with the parent run (`Context.kept`), and a
``Command(graph=Command.PARENT)`` returned inside ends the child run and routes the parent.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .codec import decode_value, encode_value, is_plain
from .compiled import at_breakpoint, prepare_resume
from .config import DEFAULT_MAX_STEPS
from .context import Context, Interrupt
from .edge import Send
from .errors import CheckpointMismatchError, CorruptRunError, RunError
from .events import AgentItem, Event, ModelCalled, RunStatus
from .log import joins_to_json, run_state
from .node import Command, Node
from .records import (
    DECODE_ERRORS,
    Checkpoint,
    PendingWrite,
    Snapshot,
    TaskRecord,
    decode_checkpoint,
    encode_checkpoint,
    to_json,
)
from .run import Outcome, RunState, Task, Waiting
from .scheduler import Scheduler

if TYPE_CHECKING:
    from .compiled import CompiledGraph
    from .spec import Emit, GraphSpec
    from .state import StateSchema

#: ``kind`` of the request a subgraph node pauses its run with.
KIND = "subgraph"


def _forward(ctx: Context[Any]) -> Callable[[Event], None]:
    """Pass the child run's model calls and agent items up, as the subgraph node's own (named
    ``node/child``), so usage, the run report and recorded replay see them."""

    def emit(event: Event) -> None:
        if isinstance(event, (ModelCalled, AgentItem)):
            ctx.emit(
                dataclasses.replace(
                    event,
                    run_id=ctx.run_id,
                    step=ctx.step,
                    task_id=ctx.task_id,
                    node=f"{ctx.node}/{event.node}",
                )
            )

    return emit


@dataclass(frozen=True, slots=True)
class _ToParent:
    """A `Command` for the parent graph, held as the child task's interrupt request."""

    node: str
    command: Command


class _ChildScheduler(Scheduler):
    """The child run's scheduler: a ``Command(graph=Command.PARENT)`` is not the child's to
    follow, so the task that returned it stops as if interrupted, and `SubgraphCall` hands
    the command up."""

    def _end(
        self,
        rs: RunState,
        step: int,
        task: Task,
        node: Node,
        attempt: int,
        out: Any,
        ctx: Context[Any] | None,
        at: float,
        started: float,
        emit: Emit,
    ) -> Outcome:
        if type(out) is Command and out.graph is not None:
            signal = Interrupt(_ToParent(node.name, out))
            return self._interrupted(rs, step, task, node, attempt, signal, emit)
        return super()._end(rs, step, task, node, attempt, out, ctx, at, started, emit)


class SubgraphCall:
    """The call of a subgraph node: map fields in, run the child graph, map fields out."""

    __slots__ = ("graph", "inputs", "outputs", "parent_goto", "scheduler", "stateful")

    def __init__(
        self,
        graph: CompiledGraph[Any],
        inputs: Mapping[str, str],
        outputs: Mapping[str, str],
        *,
        stateful: bool = False,
        parent_goto: tuple[str, ...] = (),
    ) -> None:
        self.graph, self.inputs, self.outputs = graph, inputs, outputs
        self.stateful, self.parent_goto = stateful, parent_goto
        self.scheduler = _ChildScheduler(graph)

    async def __call__(self, state: BaseModel, ctx: Context[Any]) -> Any:
        if _ours(ctx.unanswered, ctx.node):
            # A resume answered other tasks only: ask again, the child run untouched.
            raise Interrupt(ctx.unanswered)
        answered = ctx.answered()
        if answered and _ours(answered[-1][0], ctx.node):
            request, answer = answered[-1]
            rs = self._resumed(ctx, request, answer)
        else:
            rs = self._started(state, ctx)
        if ctx.options is not None:
            # The parent's models, provider and recording (recorded replay) apply inside too;
            # its recorded interrupt answers are by the parent's task ids, not the child's.
            rs.options = dataclasses.replace(
                ctx.options, graph=self.graph.name, graph_model=self.graph.model, resumes=None
            )
        before, after = self.graph.breakpoints
        await self.scheduler.drive(
            rs,
            ctx.deps,
            _forward(ctx),
            max_steps=DEFAULT_MAX_STEPS,
            concurrency=None,
            before=before or None,
            after=after or None,
        )
        if rs.status is RunStatus.FAILED and rs.error is not None:
            raise rs.error
        commands = [w.request for w in rs.waiting if isinstance(w.request, _ToParent)]
        if commands:
            return self._to_parent(ctx, rs, commands)
        if rs.status is RunStatus.WAITING:
            raise Interrupt(self._request(ctx.node, rs))
        if rs.status is not RunStatus.COMPLETED:
            raise RunError(
                f"subgraph {self.graph.name!r} (node {ctx.node!r}) stopped {rs.status}: {rs.error}"
            )
        ctx.detail = {"run_id": rs.run_id, "path": rs.path, "steps": rs.step}
        final = rs.state
        if self.stateful:
            ctx.kept = dump_state(self.graph.schema, final)
        return {parent: getattr(final, child) for parent, child in self.outputs.items()}

    # --- starting, resuming, pausing ------------------------------------------------------

    def _started(self, state: BaseModel, ctx: Context[Any]) -> RunState:
        values = {child: getattr(state, parent) for child, parent in self.inputs.items()}
        payload = ctx.payload
        if isinstance(payload, BaseModel):
            payload = {k: getattr(payload, k) for k in payload.model_fields_set}
        if isinstance(payload, Mapping):
            values.update(payload)
        elif payload is not None:
            raise RunError(
                f"subgraph node {ctx.node!r} got a payload of type {type(payload).__name__}; "
                f"send a dict of {self.graph.name!r}'s fields instead"
            )
        run_id = _child_id(ctx)
        if not self.stateful or ctx.kept is None:
            return self.graph.start(values, run_id=run_id)
        schema = self.graph.schema
        try:
            before = load_state(schema, ctx.kept)
        except DECODE_ERRORS as exc:
            raise CheckpointMismatchError(
                ctx.run_id,
                ctx.step,
                f"the state subgraph node {ctx.node!r} kept does not fit {self.graph.name!r} "
                f"any more: {str(exc)[:200]}",
            ) from exc
        # The mapped inputs (and the payload) are laid over what the last call ended with.
        return self.graph.start({**dict(before), **values}, run_id=run_id)

    def _resumed(self, ctx: Context[Any], request: dict[str, Any], answer: Any) -> RunState:
        """The child run rebuilt from the request it paused with, ``answer`` given to the
        inner task(s) that asked."""
        child = thaw(self.graph, _child_id(ctx), request["run"])
        if at_breakpoint(child):
            return prepare_resume(child, {})
        answers = _inner_answers(child, answer)
        if answers is None:
            names = ", ".join(f"{w.node!r} (task {w.task_id})" for w in child.waiting)
            raise Interrupt(
                {
                    **request,
                    "problem": f"{len(child.waiting)} nodes of {self.graph.name!r} wait: "
                    f"{names}; answer with a dict keyed by their node names or task ids",
                }
            )
        return prepare_resume(child, answers)

    def _request(self, node: str, rs: RunState) -> dict[str, Any]:
        """What the parent run waits for: which inner nodes asked what, and the child run
        state to go on from."""
        asks = [
            {"node": w.node, "task_id": w.task_id, "request": to_json(w.request)}
            for w in rs.waiting
        ]
        request: dict[str, Any] = {"kind": KIND, "node": node, "graph": self.graph.name}
        if len(asks) == 1:  # a human step inside: its prompt, as a human step's own says it
            inner = asks[0]["request"]
            prompt = inner.get("prompt") if isinstance(inner, dict) else inner
            if isinstance(prompt, str):
                request["prompt"] = prompt
        request["asks"] = asks
        request["run"] = freeze(self.graph, rs)
        return request

    def _to_parent(self, ctx: Context[Any], rs: RunState, commands: list[_ToParent]) -> Command:
        """End the subgraph node with its inner nodes' commands to this graph: their updates
        are the node's writes, their targets where this graph goes next."""
        goto: list[str | Send] = []
        for sent in commands:
            for target in sent.command.goto:
                name = target.node if isinstance(target, Send) else target
                if name not in self.parent_goto:
                    declared = ", ".join(map(repr, self.parent_goto)) or "none"
                    raise RunError(
                        f"node {sent.node!r} of subgraph {self.graph.name!r} sent its parent "
                        f"graph to {name!r}, which subgraph node {ctx.node!r} does not declare "
                        f"(parent_goto: {declared}); add it: add_subgraph({ctx.node!r}, ..., "
                        f"parent_goto=[{name!r}])"
                    )
            goto.extend(sent.command.goto)
            if sent.command.update:
                ctx.update(**dict(sent.command.update))
        ctx.detail = {
            "run_id": rs.run_id,
            "path": [*rs.path, *(sent.node for sent in commands)],
            "steps": rs.step,
            "parent_goto": [t.node if isinstance(t, Send) else t for t in goto],
        }
        if self.stateful:
            ctx.kept = dump_state(self.graph.schema, rs.state)
        return Command(goto=goto)


def _ours(request: Any, node: str) -> bool:
    """Whether ``request`` is one this subgraph node paused with."""
    return (
        isinstance(request, dict)
        and request.get("kind") == KIND
        and request.get("node") == node
        and isinstance(request.get("run"), dict)
    )


def _child_id(ctx: Context[Any]) -> str:
    return f"{ctx.run_id}.{ctx.task_id}"


def _inner_answers(child: RunState, answer: Any) -> dict[int, Any] | None:
    """The answer of each inner task ``answer`` is for: all of it when one task waits, else
    ``answer`` maps inner node names or task ids to answers (None when it does not)."""
    if len(child.waiting) == 1:
        return {child.waiting[0].task_id: answer}
    if not isinstance(answer, Mapping):
        return None
    answers: dict[int, Any] = {}
    for key, value in answer.items():
        hits = [w.task_id for w in child.waiting if str(key) in (str(w.task_id), w.node)]
        if not hits:
            return None
        for task_id in hits:
            if str(key) == str(task_id):
                answers[task_id] = value  # a task id wins over its node's name
            else:
                answers.setdefault(task_id, value)
    return answers


# --- the child run as JSON -------------------------------------------------------------------


def dump_state(schema: StateSchema[Any], state: BaseModel) -> dict[str, Any]:
    """A state as a snapshot keeps it: JSON, values of fields typed Any with their types."""
    data = state.model_dump(mode="json")
    for name in schema.loose:
        value = getattr(state, name)
        if not is_plain(value):
            data[name] = encode_value(value)
    return data


def load_state(schema: StateSchema[Any], data: Mapping[str, Any]) -> BaseModel:
    """`dump_state` read back, validated."""
    loose = schema.loose
    values = {k: decode_value(v) if k in loose else v for k, v in data.items()}
    state: BaseModel = schema.model.model_validate(values)
    return state


def freeze(graph: GraphSpec, rs: RunState) -> dict[str, Any]:
    """A paused child run as JSON: a checkpoint with a full snapshot (state, visits, edge
    counts, the next tasks with their answers so far, join arrivals), plus what a stored run
    keeps beside its checkpoints — path, what its tasks asked, finished tasks of the paused
    step (pending writes), what it waits for, and what its nodes keep."""
    checkpoint = Checkpoint(
        rs.run_id,
        rs.step,
        tasks=[TaskRecord.of(t) for t in rs.tasks],
        joins=joins_to_json(rs.joins),
        seq=rs.seq,
        snapshot=Snapshot(
            state=dump_state(graph.schema, rs.state),
            visits=dict(rs.visits),
            edge_counts=[(s, t, n) for (s, t), n in rs.edge_counts.items()],
        ),
    )
    loose = graph.schema.loose
    return {
        "step": rs.step,
        "checkpoint": json.loads(encode_checkpoint(checkpoint)),
        "path": list(rs.path),
        "asked": {str(t.id): to_json(t.asked) for t in rs.tasks if t.asked},
        "pending": [
            PendingWrite.of(rs.run_id, rs.step + 1, o, {}, loose).model_dump(mode="json")
            for o in rs.pending.values()
        ],
        "waiting": [
            {"task_id": w.task_id, "node": w.node, "request": to_json(w.request)}
            for w in rs.waiting
        ],
        "kept": rs.kept,
    }


def thaw(graph: GraphSpec, run_id: str, data: Mapping[str, Any]) -> RunState:
    """`freeze` read back: the paused child run, checked against the child graph as a stored
    run is (`CorruptRunError` when the request was damaged, `CheckpointMismatchError` when
    the child graph changed so that the run no longer fits)."""
    step = data.get("step") if isinstance(data.get("step"), int) else None
    try:
        if step is None:
            raise TypeError("the paused child run has no step")
        text = json.dumps(data["checkpoint"])
        rs = run_state(graph, run_id, [decode_checkpoint(run_id, step, text)])
        by_id = {t.id: t for t in rs.tasks}
        for task in rs.tasks:
            if task.node not in graph.nodes:
                raise CheckpointMismatchError(
                    run_id,
                    step,
                    f"the next task runs node {task.node!r}, which the graph "
                    f"{graph.name!r} no longer has",
                )
            asked = data.get("asked", {}).get(str(task.id))
            if asked is not None:
                task.asked = list(asked)
        rs.path = [str(node) for node in data["path"]]
        for row in data.get("pending", ()):
            pending = PendingWrite.model_validate({**row, "run_id": run_id, "step": step + 1})
            if pending.task_id in by_id:
                task = by_id[pending.task_id]
                rs.pending[task.id] = pending.outcome(task, rs.state, graph.schema.loose)
        rs.waiting = [
            Waiting(task_id=int(w["task_id"]), node=str(w["node"]), request=w["request"])
            for w in data["waiting"]
        ]
        rs.kept = dict(data.get("kept") or {})
    except DECODE_ERRORS as exc:
        raise CorruptRunError(run_id, step, "subgraph request", exc) from exc
    rs.status = RunStatus.WAITING
    return rs
