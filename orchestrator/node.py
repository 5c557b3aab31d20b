"""Nodes: what runs at a vertex of the graph, and the policies (retry, timeout, caps, error
edge) that the scheduler applies around it. Policies are data, not code."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from .edge import Send
from .errors import InvalidCommandError, InvalidGraphError, RunError

if TYPE_CHECKING:
    from .cache import CachePolicy


class NodeKind(StrEnum):
    CODE = "code"
    AGENT = "agent"
    JOIN = "join"
    SUBGRAPH = "subgraph"
    HUMAN = "human"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often to retry a failing node and how long to wait between attempts.

    ``max_attempts`` counts the first try: ``RetryPolicy(max_attempts=3)`` runs a node at most
    three times. The wait before attempt n+1 is ``initial_delay * backoff ** (n - 1)``, capped at
    ``max_delay``. Only exceptions that are instances of ``retry_on`` are retried.
    """

    max_attempts: int = 3
    initial_delay: float = 0.5
    backoff: float = 2.0
    max_delay: float = 30.0
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidGraphError("RetryPolicy.max_attempts must be at least 1")

    def retries(self, exc: BaseException) -> bool:
        """Whether ``exc`` is retried: it, or the error it wraps (an agent node's
        `AgentRunError` wraps the SDK's), is one of ``retry_on``."""
        cause = getattr(exc, "cause", None)
        return isinstance(exc, self.retry_on) or (
            isinstance(cause, BaseException) and isinstance(cause, self.retry_on)
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.max_delay, self.initial_delay * self.backoff ** (attempt - 1)))


@dataclass(frozen=True, slots=True, init=False)
class Command:
    """A node result that both updates state and chooses where to go next.

    ``goto`` replaces the node's own out-edges for this visit: a node name, a `Send` (a task
    with a payload), or a list of them. Every target must be declared with
    ``add_node(..., goto=[...])`` (agent handoffs are declared for you).

        >>> Command(update={"n": 1}, goto="review").goto
        ('review',)

    From a node inside a subgraph, ``graph=Command.PARENT`` addresses the graph that runs the
    subgraph (LangGraph's ``Command(graph=Command.PARENT)``): the subgraph node ends there,
    ``update`` is written to the parent's state and the parent goes to ``goto``, which the
    subgraph node declares with ``add_subgraph(..., parent_goto=[...])``.

        >>> Command(goto="escalate", graph=Command.PARENT).graph
        '__parent__'
    """

    #: ``graph=`` of a command to the graph one level up (the one running this subgraph).
    PARENT: ClassVar[str] = "__parent__"

    update: Mapping[str, Any] | None
    goto: tuple[str | Send, ...]
    graph: str | None

    # An explicit __init__ rather than __post_init__, so ``goto`` can take a single target
    # while the attribute the scheduler reads stays a tuple.
    def __init__(
        self,
        update: Mapping[str, Any] | None = None,
        goto: str | Send | Sequence[str | Send] | None = (),
        *,
        graph: str | None = None,
    ) -> None:
        if graph is not None and graph != Command.PARENT:
            raise RunError(
                f"Command(graph={graph!r:.40}): the only graph a command can address besides "
                "its own is Command.PARENT"
            )
        object.__setattr__(self, "update", update)
        object.__setattr__(self, "goto", _targets(goto))
        object.__setattr__(self, "graph", graph)


def _targets(goto: object) -> tuple[str | Send, ...]:
    if goto is None:
        return ()
    if isinstance(goto, (str, Send)):
        return (goto,)
    if not isinstance(goto, (list, tuple)):
        raise InvalidCommandError(goto, goto)
    for target in goto:
        if not isinstance(target, (str, Send)):
            raise InvalidCommandError(goto, target)
    return tuple(goto)


#: The call of a node: ``call(state)`` or ``call(state, ctx)`` (see `Node.takes_ctx`) returns an
#: update, None or a Command (or an awaitable of one, when ``is_async``).
NodeCall = Callable[..., Any]


@dataclass(slots=True, kw_only=True)
class Node:
    """A vertex of the graph. Build with `Graph.add_node` and friends, not directly."""

    name: str
    kind: NodeKind
    call: NodeCall | None
    is_async: bool = False
    takes_ctx: bool = True  # False: call(state) only, and no Context is built
    join: bool = False
    retry: RetryPolicy | None = None
    timeout: float | None = None
    max_visits: int | None = None
    on_cap: str | None = None
    on_error: str | None = None
    cache: CachePolicy | None = None  # see `orchestrator.cache`
    goto: tuple[str, ...] = ()
    writes: frozenset[str] | None = None
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    index: int = 0


def normalise_call(name: str, fn: Callable[..., Any]) -> tuple[Callable[..., Any], bool, bool]:
    """Accept ``fn(state)`` or ``fn(state, ctx)``, sync or async.

    Returns the function, whether it is async, and whether it takes a context.
    """
    if not callable(fn):
        raise InvalidGraphError(f"node {name!r}: expected a function, got {fn!r}")
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
    )
    try:
        every = inspect.signature(fn).parameters.values()  # once: it is slow on big graphs
        params = [p for p in every if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        has_varargs = any(p.kind is p.VAR_POSITIONAL for p in every)
    except (TypeError, ValueError):  # builtins without a signature
        params, has_varargs = [], True
    if has_varargs or len(params) >= 2:
        return fn, is_async, True
    if len(params) == 1:
        return fn, is_async, False
    raise InvalidGraphError(
        f"node {name!r}: the function must take the state (and optionally a context) as "
        "positional parameters: def step(state) or def step(state, ctx)"
    )
