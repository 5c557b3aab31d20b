"""The Mermaid writer: the same `Scene` as a Mermaid flowchart, for Markdown, GitHub and docs
sites that render Mermaid themselves. Shapes, edge styles and run classes follow the DOT look."""

from __future__ import annotations

from typing import Any

from .runview import read_run
from .scene import Cluster, Scene, SceneEdge, SceneNode, build_scene
from .text import clean, wrap

_SHAPES: dict[str, tuple[str, str]] = {
    "start": ("((", "))"),
    "end": ("(((", ")))"),
    "code": ("[", "]"),
    "agent": ("([", "])"),
    "human": ("{{", "}}"),
    "join": ("[\\", "/]"),
    "subgraph": ("[[", "]]"),
    "tool-agent": (">", "]"),
}
_ARROWS = {
    "normal": "-->",
    "conditional": "-->",
    "handoff": "-.->",
    "error": "-.->",
    "cap-exit": "-.->",
    "tool-link": "-.-",
    "parent-command": "-.->",
}
_CLASS_DEFS = {
    "code": "fill:#ffffff,stroke:#475569",
    "agent": "fill:#ede9fe,stroke:#6d28d9",
    "human": "fill:#fff7ed,stroke:#c2410c",
    "join": "fill:#f1f5f9,stroke:#475569",
    "subgraphNode": "fill:#ecfeff,stroke:#0e7490",
    "tool-agent": "fill:#f5f3ff,stroke:#7c3aed,stroke-dasharray:4 3",
    "startNode": "fill:#334155,stroke:#334155,color:#ffffff",
    "endNode": "fill:#334155,stroke:#334155,color:#ffffff",
    "breakpoint-before": "stroke:#be123c,stroke-width:2px,stroke-dasharray:6 2",
    "breakpoint-after": "stroke:#be123c,stroke-width:2px,stroke-dasharray:2 2",
    "dimmed": "fill:#f8fafc,stroke:#cbd5e1,color:#94a3b8",
    "visited": "stroke:#1d4ed8,stroke-width:2px",
    "cached": "fill:#ecfdf5",
    "recovered": "stroke:#ea580c,stroke-width:3px",
    "waiting": "fill:#fef3c7,stroke:#d97706,stroke-width:3px",
    "failed": "fill:#fee2e2,stroke:#dc2626,stroke-width:3px",
}
_RENAMED = {"start": "startNode", "end": "endNode", "subgraph": "subgraphNode"}
_LINK_STYLES = {
    "error": "stroke:#dc2626",
    "cap-exit": "stroke:#c2410c",
    "handoff": "stroke:#7c3aed",
    "parent-command": "stroke:#7c3aed",
    "fanout": "stroke-width:3px",
    "dimmed": "stroke:#cbd5e1,color:#94a3b8",
    "taken": "stroke:#1d4ed8,stroke-width:2.5px",
}


def to_mermaid(graph: Any, run: Any = None) -> str:
    """Mermaid flowchart source of ``graph``, with ``run``'s overlay when given (see `to_dot`).

    Node ids are ``n0``, ``n1``, ... in drawing order; the node name is the label.
    """
    return write_mermaid(build_scene(graph, None if run is None else read_run(run)))


def write_mermaid(scene: Scene) -> str:
    ids = {node.id: f"n{i}" for i, node in enumerate(scene.nodes)}
    heading = " · ".join(scene.title[:2])  # the graph's name and the run's summary
    out = ["---", f"title: {_title(heading)}", "---", "flowchart TD"]
    for line in scene.title[2:]:  # fork origin, run error: as comments, escaped all the same
        out.append(f"  %% {_text(line)}")
    members: dict[str | None, list[SceneNode]] = {}
    for node in scene.nodes:
        members.setdefault(node.cluster, []).append(node)
    children: dict[str | None, list[Cluster]] = {}
    for cluster in scene.clusters:
        children.setdefault(cluster.parent, []).append(cluster)
    cluster_ids = {c.id: f"c{i}" for i, c in enumerate(scene.clusters)}
    _body(out, None, members, children, ids, cluster_ids, "  ")
    link_classes: dict[str, list[int]] = {}
    for index, edge in enumerate(scene.edges):
        out.append(f"  {ids[edge.source]} {_arrow(edge)} {ids[edge.target]}")
        for cls in edge.classes:
            link_classes.setdefault(cls, []).append(index)
    tagged: dict[str, list[str]] = {}
    for node in scene.nodes:
        for cls in node.classes:
            # "end" and "subgraph" are Mermaid keywords: those classes get other names.
            tagged.setdefault(_RENAMED.get(cls, cls), []).append(ids[node.id])
    for cls, style in _CLASS_DEFS.items():
        if tagged.get(cls):
            out.append(f"  classDef {cls} {style}")
            out.append(f"  class {','.join(tagged[cls])} {cls}")
    for cls, style in _LINK_STYLES.items():  # in order: a later style wins
        if link_classes.get(cls):
            out.append(f"  linkStyle {','.join(map(str, link_classes[cls]))} {style}")
    return "\n".join(out) + "\n"


def _body(
    out: list[str],
    cluster: str | None,
    members: dict[str | None, list[SceneNode]],
    children: dict[str | None, list[Cluster]],
    ids: dict[str, str],
    cluster_ids: dict[str, str],
    indent: str,
) -> None:
    for node in members.get(cluster, ()):
        opening, closing = _SHAPES.get(node.kind, _SHAPES["code"])
        out.append(f'{indent}{ids[node.id]}{opening}"{_label(node)}"{closing}')
    for child in children.get(cluster, ()):
        out.append(f'{indent}subgraph {cluster_ids[child.id]} ["{_text(child.label)}"]')
        _body(out, child.id, members, children, ids, cluster_ids, indent + "  ")
        out.append(f"{indent}end")


def _label(node: SceneNode) -> str:
    lines = [f"<b>{_text(node.name)}</b>" if node.kind not in ("start", "end") else node.name]
    lines += [_text(line) for line in (*node.details, *node.stats)]
    if node.alert:
        lines += [_text(line) for line in wrap(node.alert, 38, 3)]
    return "<br/>".join(lines)


def _arrow(edge: SceneEdge) -> str:
    arrow = "==>" if "fanout" in edge.classes else _ARROWS.get(edge.kind, "-->")
    if not edge.text:
        return arrow
    return f'{arrow}|"{_text(edge.text)}"|'


def _text(text: str) -> str:
    """Text inside a quoted Mermaid label: markup and Mermaid's own syntax as entity codes."""
    out = clean(text).replace("#", "#35;")
    for char, code in (
        ('"', "#quot;"),
        ("<", "#lt;"),
        (">", "#gt;"),
        ("&", "#amp;"),
        ("`", "#96;"),
        ("|", "#124;"),
        ("\n", " "),
        ("\r", " "),
    ):
        out = out.replace(char, code)
    return out


def _title(text: str) -> str:
    return '"' + clean(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
