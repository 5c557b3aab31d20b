"""The DOT writer: a `Scene` as Graphviz source. Every node and edge carries its kind and run
state in ``class`` (Graphviz copies it into the SVG) and a matching look, so the drawing reads
the same as a file, inline in a notebook and inside the run report."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import graphviz
from graphviz import nohtml

from .runview import read_run
from .scene import Cluster, Scene, SceneEdge, SceneNode, build_scene
from .text import clean, wrap

FONT = "Helvetica,Arial,sans-serif"

_NODE_LOOK: dict[str, dict[str, str]] = {
    "start": {
        "shape": "circle",
        "style": "filled",
        "fillcolor": "#334155",
        "fontcolor": "white",
        "width": "0.5",
        "fixedsize": "true",
        "fontsize": "9",
    },
    "end": {
        "shape": "doublecircle",
        "style": "filled",
        "fillcolor": "#334155",
        "fontcolor": "white",
        "width": "0.42",
        "fixedsize": "true",
        "fontsize": "9",
    },
    "code": {"shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff"},
    "agent": {
        "shape": "box",
        "style": "rounded,filled,bold",
        "fillcolor": "#ede9fe",
        "color": "#6d28d9",
    },
    "human": {"shape": "octagon", "style": "filled", "fillcolor": "#fff7ed", "color": "#c2410c"},
    "join": {"shape": "box", "style": "filled,diagonals", "fillcolor": "#f1f5f9"},
    "subgraph": {"shape": "box3d", "style": "filled", "fillcolor": "#ecfeff", "color": "#0e7490"},
    "tool-agent": {
        "shape": "box",
        "style": "rounded,dashed,filled",
        "fillcolor": "#f5f3ff",
        "color": "#7c3aed",
        "fontsize": "9",
    },
}
_EDGE_LOOK: dict[str, dict[str, str]] = {
    "normal": {},
    "conditional": {"color": "#0f766e", "fontcolor": "#0f766e"},
    "handoff": {"style": "dashed", "color": "#7c3aed", "fontcolor": "#6d28d9", "arrowhead": "vee"},
    "error": {"style": "dashed", "color": "#dc2626", "fontcolor": "#b91c1c"},
    "cap-exit": {"style": "dotted", "color": "#c2410c", "fontcolor": "#c2410c"},
    "tool-link": {"style": "dotted", "dir": "none", "color": "#7c3aed"},
    "parent-command": {
        "style": "dashed",
        "color": "#7c3aed",
        "fontcolor": "#6d28d9",
        "arrowhead": "veevee",
    },
}
# Applied after the kind's look, in this order: a later class wins.
_STATE_LOOK: dict[str, dict[str, str]] = {
    "breakpoint-before": {"color": "#be123c", "penwidth": "2.2"},
    "breakpoint-after": {"color": "#be123c", "penwidth": "2.2"},
    "fanout": {"penwidth": "2", "arrowhead": "normalnormal"},
    "dimmed": {"color": "#cbd5e1", "fontcolor": "#94a3b8", "fillcolor": "#f8fafc"},
    "visited": {"color": "#1d4ed8", "penwidth": "2.2"},
    "cached": {"fillcolor": "#ecfdf5"},
    "taken": {"color": "#1d4ed8", "fontcolor": "#1d4ed8", "penwidth": "2.2"},
    "recovered": {"color": "#ea580c", "penwidth": "2.5"},
    "waiting": {"color": "#d97706", "fillcolor": "#fef3c7", "penwidth": "3"},
    "failed": {"color": "#dc2626", "fillcolor": "#fee2e2", "penwidth": "3"},
}
_TERMINAL_RUN = {"visited": {"fillcolor": "#1d4ed8"}, "dimmed": {"fillcolor": "#cbd5e1"}}


def to_dot(graph: Any, run: Any = None) -> str:
    """Graphviz DOT source of ``graph`` (a `CompiledGraph`), with ``run``'s overlay when given:
    a `RunResult`, a stored run with ``.events``/``.status``/``.run_id``, or a list of events.

    >>> from pydantic import BaseModel
    >>> from orchestrator import Graph, START, END
    >>> class S(BaseModel):
    ...     n: int = 0
    >>> g = Graph(S).add_node("inc", lambda s: {"n": s.n + 1})
    >>> source = to_dot(g.add_edge(START, "inc").add_edge("inc", END).compile())
    >>> "__start__ -> inc" in source
    True
    """
    return str(to_graphviz(graph, run).source)


def to_graphviz(graph: Any, run: Any = None) -> graphviz.Digraph:
    """The drawing of ``graph`` (with ``run``'s overlay) as a `graphviz.Digraph`, to restyle
    or render with the graphviz package's own API (``.attr(...)``, ``.render(...)``)."""
    return build_digraph(build_scene(graph, None if run is None else read_run(run)))


def write_dot(scene: Scene) -> str:
    """DOT source of an already built scene."""
    return str(build_digraph(scene).source)


class Digraph(graphviz.Digraph):  # type: ignore[misc]  # the package ships no types
    """`graphviz.Digraph` whose edge ends are node names only: a node may be called
    ``ask:critic`` (any text is a node name here), which the package would otherwise read as
    node ``ask``, port ``critic``. Ports are not used in these drawings."""

    _quote_edge = staticmethod(graphviz.quoting.quote)


def build_digraph(scene: Scene) -> graphviz.Digraph:
    """A scene as a `graphviz.Digraph`. The package quotes every id and attribute; labels are
    escaped here for what Graphviz itself reads in them (backslash sequences, HTML)."""
    title = "".join(_esc(line) + "\\l" for line in scene.title)
    dot = Digraph(
        _id(scene.name),
        graph_attr={
            "rankdir": "TB",
            "compound": "true",
            "nodesep": "0.3",
            "ranksep": "0.42",
            "fontname": FONT,
            "fontsize": "12",
            "labelloc": "t",
            "labeljust": "l",
            "bgcolor": "white",
            "label": nohtml(title),
            "class": " ".join(["diagram", *scene.classes]),
        },
        node_attr={
            "fontname": FONT,
            "fontsize": "11",
            "color": "#475569",
            "penwidth": "1.2",
            "margin": "0.14,0.06",
        },
        edge_attr={
            "fontname": FONT,
            "fontsize": "9",
            "color": "#475569",
            "fontcolor": "#334155",
            "arrowsize": "0.7",
        },
    )
    children: dict[str | None, list[Cluster]] = {}
    for cluster in scene.clusters:
        children.setdefault(cluster.parent, []).append(cluster)
    members: dict[str | None, list[SceneNode]] = {}
    for node in scene.nodes:
        members.setdefault(node.cluster, []).append(node)
    beside = {owner: tool for owner, tool in scene.beside}
    _body(dot, None, members, children, beside)
    clusters = {c.id.removeprefix("cluster_"): c for c in scene.clusters}
    for edge in scene.edges:
        attrs = _edge_attrs(edge)
        # A subgraph node is its cluster's entry: its outer edges end and start at the
        # cluster's border, and what follows it is laid out below the cluster.
        tail, head = clusters.get(edge.source), clusters.get(edge.target)
        outside = not edge.target.startswith(edge.source + "/") and edge.source != edge.target
        if tail is not None and outside:
            attrs["ltail"] = _id(tail.id)
        if (
            head is not None
            and not edge.source.startswith(edge.target + "/")
            and (edge.source != edge.target)
        ):
            attrs["lhead"] = _id(head.id)
        dot.edge(_id(edge.source), _id(edge.target), _attributes=attrs)
        if tail is not None and outside:
            dot.edge(_id(tail.exit), _id(edge.target), style="invis")
    return dot


def _body(
    dot: graphviz.Digraph,
    cluster: str | None,
    members: Mapping[str | None, list[SceneNode]],
    children: Mapping[str | None, list[Cluster]],
    beside: Mapping[str, str],
) -> None:
    for node in members.get(cluster, ()):
        dot.node(_id(node.id), _attributes=_node_attrs(node))
        if node.id in beside:
            with dot.subgraph() as same:
                same.attr(rank="same")
                same.node(_id(node.id))
                same.node(_id(beside[node.id]))
    for child in children.get(cluster, ()):
        with dot.subgraph(name=_id(child.id)) as sub:
            sub.attr(
                label=nohtml(_esc(child.label)),
                _attributes={"class": " ".join(child.classes)},
                style="rounded,dashed",
                color="#0e7490",
                fontcolor="#0e7490",
                fontsize="10",
            )
            _body(sub, child.id, members, children, beside)


def _node_attrs(node: SceneNode) -> dict[str, str]:
    attrs = dict(_NODE_LOOK.get(node.kind, _NODE_LOOK["code"]))
    terminal = node.kind in ("start", "end")
    for cls in _STATE_LOOK:
        if cls in node.classes:
            attrs.update(_STATE_LOOK[cls])
            if terminal and cls in _TERMINAL_RUN:
                attrs.update(_TERMINAL_RUN[cls])
    if "inner" in node.classes and node.kind == "end":
        attrs.update(width="0.32", fontsize="7")
    if terminal:
        attrs["label"] = nohtml(_esc(node.name))
    else:
        attrs["label"] = f"<{_html_label(node)}>"  # an HTML label: the package leaves it be
        if node.tooltip:
            attrs["tooltip"] = nohtml(_esc(node.tooltip))
    attrs["class"] = " ".join(node.classes)
    return attrs


def _html_label(node: SceneNode) -> str:
    parts = [f"<B>{_html(node.name)}</B>"]
    parts += [f'<FONT POINT-SIZE="9" COLOR="#475569">{_html(line)}</FONT>' for line in node.details]
    parts += [f'<FONT POINT-SIZE="9" COLOR="#1d4ed8">{_html(line)}</FONT>' for line in node.stats]
    if node.alert:
        color = "#92400e" if "waiting" in node.classes else "#b91c1c"
        parts += [
            f'<FONT POINT-SIZE="9" COLOR="{color}">{_html(line)}</FONT>'
            for line in wrap(node.alert, 38, 3)
        ]
    return "<BR/>".join(parts)


def _edge_attrs(edge: SceneEdge) -> dict[str, str]:
    attrs = dict(_EDGE_LOOK.get(edge.kind, {}))
    for cls in _STATE_LOOK:
        if cls in edge.classes:
            attrs.update(_STATE_LOOK[cls])
    if "taken" in edge.classes and edge.kind in ("error", "cap-exit"):
        attrs.update(_EDGE_LOOK[edge.kind])  # keep its warning colour, drawn heavy
        attrs.pop("style", None)
    attrs.pop("fillcolor", None)
    if edge.text:
        attrs["label"] = nohtml("\\n".join(_esc(line) for line in wrap(edge.text, 28, 3)))
    attrs["class"] = " ".join(edge.classes)
    return attrs


def _id(text: str) -> str:
    """A node, cluster or graph id: the package quotes it; a name that looks like HTML
    (``<b>``) stays a plain id. Graphviz keeps the characters of an id as written (only ``\\"``
    is an escape there), so a backslash in a node name shows doubled in the SVG title."""
    text = nohtml(clean(text).replace("\\", "\\\\"))
    return text


def _esc(text: str) -> str:
    """Text for a quoted DOT label, where Graphviz reads ``\\n``, ``\\N`` and friends."""
    return (
        clean(text).replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")
    )


def _html(text: str) -> str:
    return html.escape(clean(text), quote=True).replace("\n", "<BR/>")
