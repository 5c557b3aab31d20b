"""Subgraph nodes: a compiled graph run as one node of another, with explicit field mappings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .errors import RunError

if TYPE_CHECKING:
    from .compiled import CompiledGraph
    from .context import Context


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
        result = await self.graph.run(values, deps=ctx.deps, run_id=f"{ctx.run_id}.{ctx.task_id}")
        if result.waiting:
            raise RunError(
                f"subgraph {self.graph.name!r} (node {ctx.node!r}) paused for input; interrupts "
                "inside subgraphs are not supported yet: put the human step in the parent graph"
            )
        ctx.detail = {"run_id": result.run_id, "path": result.path, "steps": result.steps}
        final = result.state
        return {parent: getattr(final, child) for parent, child in self.outputs.items()}
