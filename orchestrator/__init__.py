"""orchestrator: typed workflow graphs for LLM agents, run by a deterministic step scheduler.

Define a `Graph` over a pydantic state model, add code steps, agents, joins and subgraphs,
connect them with edges and routes, ``compile()`` it, and ``run`` it.

Names are loaded on first use (PEP 562), so ``import orchestrator`` and the command line start
fast; ``from orchestrator import Graph`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compiled import (
        CompiledGraph,
        RunIter,
        RunStream,
    )
    from .config import (
        RunConfig,
    )
    from .context import (
        Context,
        Failure,
        Interrupt,
    )
    from .edge import (
        EdgeKind,
        Send,
    )
    from .errors import (
        AgentRunError,
        CapExceededError,
        CheckpointMismatchError,
        ConflictingWritesError,
        CorruptRunError,
        DeadEndError,
        DuplicateNodeError,
        GraphError,
        InvalidCommandError,
        InvalidGraphError,
        InvalidInputError,
        InvalidUpdateError,
        LeaseLostError,
        MissingEntryError,
        NodeFailedError,
        NodeTimeoutError,
        OrchestratorError,
        ResumeError,
        RouteError,
        RouterFailedError,
        RouteTargetError,
        RunError,
        RunNotFoundError,
        StateValidationError,
        StepLimitExceededError,
        StoreError,
        SyncInLoopError,
        UnboundedCycleError,
        UnknownFieldError,
        UnknownHandoffError,
        UnknownNodeError,
        UnreachableNodeError,
    )
    from .events import (
        AgentDelta,
        AgentItem,
        EdgeTaken,
        Event,
        Interrupted,
        ModelCalled,
        NodeFailed,
        NodeFinished,
        NodeRetried,
        NodeStarted,
        RunFinished,
        RunStarted,
        RunStatus,
        StepFinished,
        StepStarted,
    )
    from .graph import (
        Graph,
    )
    from .ids import (
        END,
        START,
        RunId,
    )
    from .node import (
        Command,
        NodeKind,
        RetryPolicy,
    )
    from .reducers import (
        Reducer,
        add,
        append,
        extend,
        merge,
        reducer,
    )
    from .replay import (
        ReplayReport,
        StepView,
    )
    from .run import (
        RunOptions,
        RunResult,
        RunState,
        Waiting,
    )
    from .store import (
        MemoryStore,
        SQLiteStore,
        Store,
        open_store,
    )

_WHERE: dict[str, str] = {
    "AgentDelta": "events",
    "AgentItem": "events",
    "AgentRunError": "errors",
    "CapExceededError": "errors",
    "CheckpointMismatchError": "errors",
    "Command": "node",
    "CompiledGraph": "compiled",
    "ConflictingWritesError": "errors",
    "Context": "context",
    "CorruptRunError": "errors",
    "DeadEndError": "errors",
    "DuplicateNodeError": "errors",
    "END": "ids",
    "EdgeKind": "edge",
    "EdgeTaken": "events",
    "Event": "events",
    "Failure": "context",
    "Graph": "graph",
    "GraphError": "errors",
    "Interrupt": "context",
    "Interrupted": "events",
    "InvalidCommandError": "errors",
    "InvalidGraphError": "errors",
    "InvalidInputError": "errors",
    "InvalidUpdateError": "errors",
    "LeaseLostError": "errors",
    "MemoryStore": "store",
    "MissingEntryError": "errors",
    "ModelCalled": "events",
    "NodeFailed": "events",
    "NodeFailedError": "errors",
    "NodeFinished": "events",
    "NodeKind": "node",
    "NodeRetried": "events",
    "NodeStarted": "events",
    "NodeTimeoutError": "errors",
    "OrchestratorError": "errors",
    "Reducer": "reducers",
    "ReplayReport": "replay",
    "ResumeError": "errors",
    "RetryPolicy": "node",
    "RouteError": "errors",
    "RouteTargetError": "errors",
    "RouterFailedError": "errors",
    "RunError": "errors",
    "RunFinished": "events",
    "RunId": "ids",
    "RunNotFoundError": "errors",
    "RunOptions": "run",
    "RunResult": "run",
    "RunStarted": "events",
    "RunState": "run",
    "RunStatus": "events",
    "RunStream": "compiled",
    "RunIter": "compiled",
    "RunConfig": "config",
    "SQLiteStore": "store",
    "START": "ids",
    "Send": "edge",
    "StateValidationError": "errors",
    "StepFinished": "events",
    "StepLimitExceededError": "errors",
    "StepStarted": "events",
    "StepView": "replay",
    "Store": "store",
    "StoreError": "errors",
    "SyncInLoopError": "errors",
    "UnboundedCycleError": "errors",
    "UnknownFieldError": "errors",
    "UnknownHandoffError": "errors",
    "UnknownNodeError": "errors",
    "UnreachableNodeError": "errors",
    "Waiting": "run",
    "add": "reducers",
    "append": "reducers",
    "extend": "reducers",
    "merge": "reducers",
    "open_store": "store",
    "reducer": "reducers",
}

__all__ = [
    "END",
    "START",
    "AgentDelta",
    "AgentItem",
    "AgentRunError",
    "CapExceededError",
    "CheckpointMismatchError",
    "Command",
    "CompiledGraph",
    "ConflictingWritesError",
    "Context",
    "CorruptRunError",
    "DeadEndError",
    "DuplicateNodeError",
    "EdgeKind",
    "EdgeTaken",
    "Event",
    "Failure",
    "Graph",
    "GraphError",
    "Interrupt",
    "Interrupted",
    "InvalidCommandError",
    "InvalidGraphError",
    "InvalidInputError",
    "InvalidUpdateError",
    "LeaseLostError",
    "MemoryStore",
    "MissingEntryError",
    "ModelCalled",
    "NodeFailed",
    "NodeFailedError",
    "NodeFinished",
    "NodeKind",
    "NodeRetried",
    "NodeStarted",
    "NodeTimeoutError",
    "OrchestratorError",
    "Reducer",
    "ReplayReport",
    "ResumeError",
    "RetryPolicy",
    "RouteError",
    "RouteTargetError",
    "RouterFailedError",
    "RunConfig",
    "RunError",
    "RunFinished",
    "RunId",
    "RunIter",
    "RunNotFoundError",
    "RunOptions",
    "RunResult",
    "RunStarted",
    "RunState",
    "RunStatus",
    "RunStream",
    "SQLiteStore",
    "Send",
    "StateValidationError",
    "StepFinished",
    "StepLimitExceededError",
    "StepStarted",
    "StepView",
    "Store",
    "StoreError",
    "SyncInLoopError",
    "UnboundedCycleError",
    "UnknownFieldError",
    "UnknownHandoffError",
    "UnknownNodeError",
    "UnreachableNodeError",
    "Waiting",
    "add",
    "append",
    "extend",
    "merge",
    "open_store",
    "reducer",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
