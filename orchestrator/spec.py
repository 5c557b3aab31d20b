"""What the engine's parts need to know of each other, as small protocols and plain data.

The scheduler, the run writer, the log and the replay modes depend on `GraphSpec` (or
`RunnableGraph`), not on `CompiledGraph`; the checks depend on `Blueprint`, not on `Graph`;
the frontier on `Planner`, not on the scheduler. So the engine's modules do not import each
other in a circle (the builder layer — `graph`, `compiled`, `agent`, `subgraph` — sits on top),
and anything shaped like a compiled graph (a test double, a graph rebuilt elsewhere) can be
driven.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .edge import EdgeKind
from .events import Event

if TYPE_CHECKING:
    from .edge import Cap, Edge, Route
    from .node import Node
    from .run import RunResult, RunState
    from .state import StateSchema

#: Where a run's events go, one call per event (the hot path: keep it cheap).
Emit = Callable[[Event], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class EdgeSpec:
    """One drawable edge of the compiled graph (routes expanded to one edge per target)."""

    source: str
    target: str
    kind: EdgeKind
    label: str | None = None
    cap: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Topology:
    """The compile-time facts the scheduler uses: which nodes can still reach each join,
    which cycle each node is on."""

    edges: tuple[EdgeSpec, ...]
    join_ancestors: dict[str, frozenset[str]]
    cycle_of: dict[str, tuple[str, ...]]


class Blueprint(Protocol):
    """A graph as declared (what `validate.check` reads of a `Graph`)."""

    name: str

    @property
    def schema(self) -> StateSchema[Any]: ...

    @property
    def nodes(self) -> Mapping[str, Node]: ...

    @property
    def edges(self) -> Sequence[Edge]: ...

    @property
    def routes(self) -> Sequence[Route]: ...

    @property
    def caps(self) -> Sequence[Cap]: ...


class GraphSpec(Protocol):
    """A validated graph: its name, state schema, nodes, edges and compile-time facts."""

    @property
    def name(self) -> str: ...

    @property
    def schema(self) -> StateSchema[Any]: ...

    @property
    def nodes(self) -> Mapping[str, Node]: ...

    @property
    def declared_edges(self) -> tuple[Edge, ...]: ...

    @property
    def routes(self) -> tuple[Route, ...]: ...

    @property
    def caps(self) -> tuple[Cap, ...]: ...

    @property
    def topology(self) -> Topology: ...

    @property
    def edges(self) -> tuple[EdgeSpec, ...]: ...


class RunnableGraph(GraphSpec, Protocol):
    """A `GraphSpec` that can start and drive runs (what the replay modes need)."""

    def start(self, input: Any = None, *, run_id: str | None = None) -> RunState: ...

    async def continue_run(
        self,
        rs: RunState,
        *,
        deps: Any = None,
        concurrency: int | None = None,
        raise_on_error: bool = True,
        agent_options: Mapping[str, Any] | None = None,
    ) -> RunResult[Any]: ...


class Planner(Protocol):
    """What the frontier reads of the scheduler that plans a step."""

    @property
    def nodes(self) -> Mapping[str, Node]: ...

    @property
    def caps(self) -> Mapping[tuple[str, str], Cap]: ...

    @property
    def cycle_of(self) -> Mapping[str, tuple[str, ...]]: ...

    @property
    def join_ancestors(self) -> Mapping[str, frozenset[str]]: ...
