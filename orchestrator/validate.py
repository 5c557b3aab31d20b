"""Compile-time checks of a graph with networkx, and the graph facts the scheduler needs
(which nodes can still reach each join, which cycle a node belongs to), computed once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .edge import EdgeKind, route_label
from .errors import (
    DeadEndError,
    InvalidGraphError,
    MissingEntryError,
    RouteTargetError,
    UnboundedCycleError,
    UnknownFieldError,
    UnknownNodeError,
)
from .ids import END, START
from .spec import EdgeSpec, Topology

if TYPE_CHECKING:
    from .spec import Blueprint

#: The label of the edges a subgraph's inner nodes may take in its parent graph (``Command(...,
#: graph=Command.PARENT)``, declared with ``add_subgraph(..., parent_goto=[...])``).
PARENT_LABEL = "Command.PARENT"


def edge_specs(graph: Blueprint) -> list[EdgeSpec]:
    """Every edge the graph declares, each once, in declaration order."""
    caps = {(c.source, c.target): c for c in graph.caps}
    specs: list[EdgeSpec] = []
    seen: set[tuple[str, str, EdgeKind, str | None]] = set()

    def put(source: str, target: str, kind: EdgeKind, label: str | None) -> None:
        key = (source, target, kind, label)
        if key in seen:
            return
        seen.add(key)
        cap = caps.get((source, target))
        specs.append(
            EdgeSpec(
                source=source, target=target, kind=kind, label=label, cap=cap.limit if cap else None
            )
        )

    for edge in graph.edges:
        put(edge.source, edge.target, edge.kind, edge.label)
    for route in graph.routes:
        by_target: dict[str, list[str]] = {}
        for value, target in route.mapping.items():
            by_target.setdefault(target, []).append(route_label(value))
        for target, labels in by_target.items():
            put(route.source, target, EdgeKind.CONDITIONAL, " | ".join(labels))
    for node in graph.nodes.values():
        # A subgraph node's goto is where its inner nodes may send this graph (parent_goto).
        parent = node.meta.get("parent_goto") or ()
        for target in node.goto:
            labels = node.meta.get("handoff_labels", {})
            label = PARENT_LABEL if target in parent else labels.get(target)
            put(node.name, target, EdgeKind.HANDOFF, label)
        if node.on_error:
            put(node.name, node.on_error, EdgeKind.ERROR, "on error")
        if node.on_cap:
            put(node.name, node.on_cap, EdgeKind.CAP_EXIT, f"after {node.max_visits} visits")
    for cap in graph.caps:
        if cap.exit:
            put(cap.source, cap.exit, EdgeKind.CAP_EXIT, f"after {cap.limit}x -> {cap.target}")
    return specs


def check(graph: Blueprint) -> Topology:
    """Raise the first defect found; otherwise return the facts the scheduler needs."""
    import networkx as nx

    names = set(graph.nodes)
    known = names | {START, END}

    # Unknown targets, with the route/edge that names them.
    for edge in graph.edges:
        for end in (edge.source, edge.target):
            if end not in known:
                raise UnknownNodeError(edge.source, end)
    for route in graph.routes:
        if route.source not in known:
            raise UnknownNodeError(route.source, route.source, how=f"route {route.name!r}")
        for value, target in route.mapping.items():
            if target not in known:
                if value in route.implicit:
                    raise RouteTargetError(route.source, route.name, value)
                raise UnknownNodeError(route.source, target, how=f"route {route.name!r}")
    for node in graph.nodes.values():
        for how, exit_ in (("on_error", node.on_error), ("on_cap", node.on_cap)):
            if exit_ is not None and exit_ not in known:
                raise UnknownNodeError(node.name, exit_, how=how)
        for target in node.meta.get("parent_goto") or ():
            if target not in known:
                raise InvalidGraphError(
                    f"subgraph node {node.name!r}: parent_goto target {target!r} is not a node "
                    f"of graph {graph.name!r}; its nodes are {', '.join(sorted(names))} (or END)"
                )
        for target in node.goto:
            if target not in known:
                raise UnknownNodeError(node.name, target, how="goto/handoff")
    for cap in graph.caps:
        for cap_end in (cap.source, cap.target, cap.exit):
            if cap_end is not None and cap_end not in known:
                raise UnknownNodeError(cap.source, cap_end, how="edge cap")

    specs = edge_specs(graph)
    g = nx.DiGraph()
    g.add_nodes_from(known)
    for spec in specs:
        g.add_edge(spec.source, spec.target, kind=spec.kind)

    if not any(s.source == START for s in specs):
        raise MissingEntryError(graph.name)

    reachable = nx.descendants(g, START)
    if unreachable := names - reachable:
        from .errors import UnreachableNodeError

        raise UnreachableNodeError(unreachable)
    if dead := names - nx.ancestors(g, END):
        raise DeadEndError(dead)

    # Unknown update keys, where a node declares them.
    fields = graph.schema.fields
    if not graph.schema.extra_allowed:
        for node in graph.nodes.values():
            for key in sorted(node.writes or ()):
                if key not in fields:
                    raise UnknownFieldError(node.name, key, fields)

    # Every cycle needs a conditional way out or a cap.
    capped_edges = {(c.source, c.target) for c in graph.caps}
    cycle_of: dict[str, tuple[str, ...]] = {}
    for scc in nx.strongly_connected_components(g):
        if len(scc) == 1:
            (only,) = scc
            if not g.has_edge(only, only):
                continue
        members = tuple(n for n in graph.nodes if n in scc)
        for n in members:
            cycle_of[n] = members
        if _bounded(graph, g, scc, capped_edges):
            continue
        raise UnboundedCycleError(_one_cycle(g, scc))
    if loop := _unconditional_cycle(graph, capped_edges):
        raise UnboundedCycleError(loop, unconditional=True)

    # For each join, the nodes from which it can still be reached: a live task at one of them
    # means a branch may still arrive.
    join_ancestors = {
        n.name: frozenset(nx.ancestors(g, n.name)) for n in graph.nodes.values() if n.join
    }
    return Topology(edges=tuple(specs), join_ancestors=join_ancestors, cycle_of=cycle_of)


def _bounded(graph: Blueprint, g: Any, scc: set[str], capped: set[tuple[str, str]]) -> bool:
    if any(graph.nodes[n].max_visits is not None for n in scc if n in graph.nodes):
        return True
    if any(s in scc and t in scc for s, t in capped):
        return True
    conditional = {EdgeKind.CONDITIONAL, EdgeKind.HANDOFF, EdgeKind.ERROR, EdgeKind.CAP_EXIT}
    for source in scc:
        for _, target, kind in g.out_edges(source, data="kind"):
            if target not in scc and kind in conditional:
                return True
    return False


def _unconditional_cycle(graph: Blueprint, capped: set[tuple[str, str]]) -> list[str] | None:
    """A cycle no run can stop: uncapped plain edges between nodes that always take them.

    A node always takes its plain edges (a route only adds targets), unless it has max_visits,
    may return a `Command` (goto), or leaves through on_error.
    """
    import networkx as nx

    def always_follows(name: str) -> bool:
        node = graph.nodes.get(name)
        return (
            node is not None and node.max_visits is None and not node.goto and node.on_error is None
        )

    plain = nx.DiGraph()
    for edge in graph.edges:
        if (
            edge.kind is EdgeKind.NORMAL
            and edge.when is None
            and (edge.source, edge.target) not in capped
            and always_follows(edge.source)
            and always_follows(edge.target)
        ):
            plain.add_edge(edge.source, edge.target)
    for scc in nx.strongly_connected_components(plain):
        (first, *_) = scc
        if len(scc) > 1 or plain.has_edge(first, first):
            ordered = [n for n in graph.nodes if n in scc]
            return _one_cycle(plain, ordered)
    return None


def _one_cycle(g: Any, scc: Iterable[str]) -> list[str]:
    import networkx as nx

    sub = g.subgraph(scc)
    try:
        return [u for u, _ in nx.find_cycle(sub)]
    except nx.NetworkXNoCycle:  # pragma: no cover - an SCC always has one
        return sorted(scc)
