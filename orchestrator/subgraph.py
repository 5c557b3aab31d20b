"""Subgraph nodes: a compiled graph run as one node of another, with explicit field mappings."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .context import Context
from .errors import RunError
from .events import AgentItem, Event, ModelCalled

if TYPE_CHECKING:
    from .compiled import CompiledGraph


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


class SubgraphCall:
    """The call of a subgraph node: map fields in, run the child graph, map fields out."""

    __slots__ = ("graph", "inputs", "outputs")

    def __init__(
        self, graph: CompiledGraph[Any], inputs: Mapping[str, str], outputs: Mapping[str, str]
    ) -> None:
        self.graph, self.inputs, self.outputs = graph, inputs, outputs

    async def __call__(self, state: BaseModel, ctx: Context[Any]) -> dict[str, Any]:
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
        rs = self.graph.start(values, run_id=f"{ctx.run_id}.{ctx.task_id}")
        if ctx.options is not None:
            # The parent's models, provider and recording (recorded replay) apply inside too.
            rs.options = dataclasses.replace(
                ctx.options, graph=self.graph.name, graph_model=self.graph.model
            )
        result = await self.graph.continue_run(rs, deps=ctx.deps, emit=_forward(ctx))
        if result.waiting:
            raise RunError(
                f"subgraph {self.graph.name!r} (node {ctx.node!r}) paused for input; interrupts "
                "inside subgraphs are not supported yet: put the human step in the parent graph"
            )
        ctx.detail = {"run_id": result.run_id, "path": result.path, "steps": result.steps}
        final = result.state
        return {parent: getattr(final, child) for parent, child in self.outputs.items()}
