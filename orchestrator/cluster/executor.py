"""Code steps as Ray tasks: `RayExecutor` sends a node to a Ray worker and brings back its
value, context writes, interrupt or exception; `ray_options` sets a node's Ray options."""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..context import Context, Interrupt
from ..executor import LocalExecutor
from ..node import Node
from .common import _ray


def ray_options(graph: Any, node: str, **options: Any) -> None:
    """Set the Ray options (``num_cpus``, ``num_gpus``, ``memory``, ``resources``,
    ``max_retries``, ``runtime_env``...) a `RayExecutor` gives code step ``node`` of ``graph``
    (a `Graph` or `CompiledGraph`). Kept with the graph, so every host that drives it agrees.

        ray_options(g, "embed", num_gpus=1, max_retries=5)
    """
    if node not in graph.nodes:
        raise ValueError(
            f"graph {graph.name!r} has no node {node!r}; its nodes are {', '.join(graph.nodes)}"
        )
    graph.nodes[node].meta["ray"] = dict(options)


@dataclass(frozen=True, slots=True)
class _Reply:
    """What a node run in a Ray worker hands back: its value and context writes, or the
    interrupt or exception it raised (returned, not raised, so Ray never wraps it)."""

    value: Any = None
    writes: list[dict[str, Any]] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    detail: Any = None
    interrupted: bool = False
    request: Any = None
    error: BaseException | None = None

    def unwrap(self, ctx: Context[Any] | None) -> Any:
        if self.error is not None:
            raise self.error
        if self.interrupted:
            raise Interrupt(self.request)
        if ctx is not None:
            ctx.writes.extend(self.writes)
            for event in self.events:
                ctx.emit(event)
            if self.detail is not None:
                ctx.detail = self.detail
        return self.value


def _execute(call: Any, state: Any, fields: dict[str, Any] | None) -> _Reply:
    """The Ray task: run one node on ``state`` with a context rebuilt from ``fields``."""
    events: list[Any] = []
    ctx = None if fields is None else Context(state=state, emit=events.append, **fields)
    try:
        out = call(state) if ctx is None else call(state, ctx)
        if inspect.isawaitable(out):
            out = asyncio.run(_awaited(out))
    except Interrupt as signal:
        return _Reply(interrupted=True, request=signal.request)
    except Exception as exc:
        return _Reply(error=_portable(exc))
    if ctx is None:
        return _Reply(value=out)
    return _Reply(value=out, writes=ctx.writes, events=events, detail=ctx.detail)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _portable(exc: Exception) -> BaseException:
    """``exc`` with the worker's traceback as a note, or a RuntimeError saying what it was
    when it cannot be pickled back to the driver."""
    exc.add_note("raised in a Ray worker:\n" + "".join(traceback.format_exception(exc)).rstrip())
    try:
        _ray().cloudpickle.dumps(exc)
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


_remote_execute: Any = None


def _remote() -> Any:
    global _remote_execute
    if _remote_execute is None:
        _remote_execute = _ray().remote(_execute)
    return _remote_execute


class RayExecutor:
    """Runs code steps as Ray tasks; agent, join, human and subgraph nodes stay on the event
    loop of the process that drives the run.

    A task whose worker died is retried by Ray (``max_retries``, 3 by default); a node that
    raises is retried by its own `RetryPolicy`, as locally. Options per node come from
    ``default``, then `ray_options` on the graph, then ``resources[node]``. Nodes named in
    ``local`` run in this process (async I/O steps that gain nothing from a worker).

        executor = RayExecutor(resources={"embed": {"num_cpus": 2}})
        result = await graph.run(data, options=RunOptions(executor=executor))

    The node gets a `Context` with the same payload, deps, error, step, attempt and ids (its
    ``deps``, state and payload must pickle); ``ctx.options`` is None there.
    """

    def __init__(
        self,
        *,
        resources: Mapping[str, Mapping[str, Any]] | None = None,
        default: Mapping[str, Any] | None = None,
        local: Iterable[str] = (),
    ) -> None:
        self.resources = {name: dict(opts) for name, opts in (resources or {}).items()}
        self.default = {"max_retries": 3, **(default or {})}
        self.local = frozenset(local)

    def options_for(self, node: Node) -> dict[str, Any]:
        """The Ray task options of ``node``."""
        return {**self.default, **node.meta.get("ray", {}), **self.resources.get(node.name, {})}

    async def call(self, node: Node, state: Any, ctx: Context[Any] | None) -> Any:
        if node.name in self.local:
            return await LocalExecutor().call(node, state, ctx)
        fields = None
        if ctx is not None:
            fields = {
                "deps": ctx.deps,
                "node": ctx.node,
                "step": ctx.step,
                "attempt": ctx.attempt,
                "run_id": ctx.run_id,
                "task_id": ctx.task_id,
                "payload": ctx.payload,
                "error": ctx.error,
                "resume": list(ctx._resume),
                "asked": list(ctx._asked),
            }
        try:
            ref = _remote().options(**self.options_for(node)).remote(node.call, state, fields)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"node {node.name!r}: cannot send it to Ray ({exc}); its function, the state, "
                "ctx.payload and ctx.deps must pickle, and its Ray options must be valid"
            ) from exc
        try:
            reply = await ref
        except asyncio.CancelledError:  # a timeout or a lost lease: stop the task too
            _ray().cancel(ref)
            raise
        return reply.unwrap(ctx)
