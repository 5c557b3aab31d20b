"""Executors run code steps somewhere other than the scheduler's event loop (for example as
Ray tasks on a cluster). Agent, join, human and subgraph nodes always run in the process that
drives the run; swapping executors must not change a run's semantics or result.

The scheduler calls ``await executor.call(node, state, ctx)`` for each code step and uses the
value as the node's return value. ``ctx`` is None for nodes that take only the state; an
executor that runs the node remotely must hand the node a context with the same ``payload``,
``deps`` and ``error`` and copy back what it wrote with ``ctx.update``.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

from .context import Context
from .node import Node


class Executor(Protocol):
    async def call(self, node: Node, state: Any, ctx: Context[Any] | None) -> Any:
        """Run ``node`` on ``state`` and return what the node function returned."""
        ...


class LocalExecutor:
    """Runs code steps in this process: the default, written out as an executor (used to check
    that another executor gives the same results)."""

    async def call(self, node: Node, state: Any, ctx: Context[Any] | None) -> Any:
        assert node.call is not None
        out = node.call(state) if ctx is None else node.call(state, ctx)
        if inspect.isawaitable(out):
            out = await out
        return out
