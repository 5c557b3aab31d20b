"""`Scene`: what a diagram shows, built once from the declared graph (and a run's overlay) and
written out by the DOT and Mermaid writers. Every declared edge is in it, taken or not.

Node ids are node names; a subgraph's nodes are ``"<subgraph node>/<child node>"`` inside a
cluster entered through the subgraph node itself, and an agent used as a tool is
``"<node>::<tool name>"``, attached to its node.

Classes say what an element is (nodes: start, end, code, agent, join, subgraph, human,
tool-agent; edges: normal, conditional, handoff, error, cap-exit, tool-link, parent-command (a
subgraph's ``Command(graph=Command.PARENT)`` target, drawn like a handoff); fanout, capped,
inner, breakpoint-before / breakpoint-after on a node the graph pauses at, cacheable on a node
with a `CachePolicy`) and, with a run, what happened to it: every node is "visited" or
"dimmed" and every edge "taken" or "dimmed" (inside a subgraph, where only the child's path is
known, edges may be neither), plus "failed", "recovered" (an on_error edge took over),
"waiting", "fanned-out", "cached" (its cache answered some of its tasks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.edge import EdgeKind, Route, route_values
from orchestrator.ids import END, START
from orchestrator.node import Node, NodeKind

from .runview import EdgeStats, NodeStats, RunView
from .text import duration, one_line


@dataclass(slots=True, kw_only=True)
class SceneNode:
    id: str
    name: str
    kind: str  # start, end, code, agent, join, subgraph, human, tool-agent
    classes: list[str]
    details: list[str] = field(default_factory=list)  # what it is: agent, tools, caps
    stats: list[str] = field(default_factory=list)  # what the run did there
    alert: str | None = None  # the error it failed with, or what it waits for
    tooltip: str = ""
    cluster: str | None = None


@dataclass(slots=True, kw_only=True)
class SceneEdge:
    source: str
    target: str
    kind: str  # normal, conditional, handoff, error, cap-exit, tool-link
    classes: list[str]
    label: str = ""  # the declared label: route values, condition or handoff name
    cap: int | None = None
    run: str = ""  # what the run did along it: "×3", "fan-out ×20"
    cluster: str | None = None

    @property
    def text(self) -> str:
        """The label drawn: declared label, fan-out, cap, then the run's counts."""
        parts = [self.label]
        if "fanout" in self.classes and "fanned-out" not in self.classes:
            parts.append("fan-out")
        if self.cap is not None:
            parts.append(f"≤ {self.cap}")
        parts.append(self.run)
        return " · ".join(p for p in parts if p)


@dataclass(slots=True, kw_only=True)
class Cluster:
    id: str
    label: str
    parent: str | None
    classes: list[str]
    exit: str  # the cluster's end node, where its parent edges leave from (for layout)


@dataclass(slots=True, kw_only=True)
class Scene:
    name: str
    title: list[str]  # first line the graph's name; then the run's summary
    nodes: list[SceneNode]
    edges: list[SceneEdge]
    clusters: list[Cluster]
    classes: list[str]  # of the whole drawing: "run", the run's status
    beside: list[tuple[str, str]]  # (node, attached tool agent) pairs drawn side by side


def build_scene(graph: Any, view: RunView | None = None) -> Scene:
    """The scene of ``graph`` (a CompiledGraph), with ``view``'s run overlay when given."""
    scene = Scene(
        name=graph.name, title=[graph.name], nodes=[], edges=[], clusters=[], classes=[], beside=[]
    )
    _Builder(scene, view).graph(graph, prefix="", cluster=None, entry=None)
    if view is not None:
        scene.classes = ["run", view.status]
        scene.title.extend(_run_title(view))
    return scene


class _Builder:
    def __init__(self, scene: Scene, view: RunView | None) -> None:
        self.scene, self.view = scene, view

    def graph(
        self,
        graph: Any,
        *,
        prefix: str,
        cluster: str | None,
        entry: str | None,
        visits: dict[str, int] | None = None,
        waiting: dict[str, list[Any]] | None = None,
    ) -> None:
        """Add one graph's nodes and edges. A subgraph's are prefixed, in ``cluster``, entered
        through ``entry``; ``visits`` are its child run's (None: unknown, e.g. no run), and
        ``waiting`` what its nodes that paused the run asked."""
        top = entry is None
        fanout = _fanout_edges(graph.routes)
        pauses: tuple[frozenset[str], frozenset[str]] = getattr(
            graph, "breakpoints", (frozenset(), frozenset())
        )
        before, after = pauses
        parent_edges = {
            (node.name, target)
            for node in graph.nodes.values()
            for target in node.meta.get("parent_goto") or ()
        }
        end_id = END if top else f"{prefix}{END}"
        if top:
            self.terminal(START, "start", None, self.count(START))
            self.terminal(END, "end", None, self.count(END))
        else:
            # A child run that ran at all has returned through its END.
            returned = -1 if visits is None else (1 if visits else 0)
            self.terminal(end_id, "return", cluster, None if self.view is None else returned)
        for node in graph.nodes.values():
            if top:
                count = self.count(node.name)
            else:
                count = -1 if visits is None else visits.get(node.name, 0)
            marks = [w for w, names in (("before", before), ("after", after)) if _on(node, names)]
            self.node(
                node,
                prefix + node.name,
                cluster,
                None if self.view is None else count,
                top,
                marks,
                None if waiting is None else waiting.get(node.name),
            )
        for spec in graph.edges:
            source = entry if (spec.source == START and not top) else prefix + spec.source
            target = end_id if spec.target == END else prefix + spec.target
            assert source is not None
            kind = str(spec.kind).replace("_", "-")
            if spec.kind is EdgeKind.HANDOFF and (spec.source, spec.target) in parent_edges:
                kind = "parent-command"
            classes = [kind]
            if (spec.source, spec.target) in fanout:
                classes.append("fanout")
            if spec.cap is not None:
                classes.append("capped")
            edge = SceneEdge(
                source=source,
                target=target,
                kind=kind,
                classes=classes,
                label=spec.label or ("handoff" if kind == "handoff" else ""),
                cap=spec.cap,
                cluster=cluster,
            )
            if not top:
                edge.classes.append("inner")
            if self.view is not None:
                if top:
                    self.overlay_edge(edge, spec.source, spec.target, str(spec.kind))
                elif visits is not None:
                    # The child run's edges are not in the parent's events: an edge is known
                    # untaken when one of its ends never ran, and left unmarked otherwise.
                    ends = [spec.source, spec.target]
                    if any(e not in (START, END) and not visits.get(e) for e in ends):
                        edge.classes.append("dimmed")
            self.scene.edges.append(edge)
        if top and self.view is not None:
            self.undeclared(graph)

    def count(self, name: str) -> int:
        return self.view.stats(name).visits if self.view is not None else -1

    def terminal(self, node_id: str, kind: str, cluster: str | None, count: int | None) -> None:
        node = SceneNode(
            id=node_id,
            name=kind,
            kind="end" if kind == "return" else kind,
            classes=["end", "inner"] if kind == "return" else [kind],
            cluster=cluster,
        )
        if count is not None:
            _mark(node, count)
        self.scene.nodes.append(node)

    def node(
        self,
        node: Node,
        node_id: str,
        cluster: str | None,
        count: int | None,
        top: bool,
        breakpoints: list[str] | None = None,
        asked: list[Any] | None = None,
    ) -> None:
        """Add a node; ``breakpoints`` are "before"/"after" when its graph pauses there, and
        ``asked`` what it asked (inside a subgraph, from the request its parent waits for)."""
        kind = str(node.kind)
        scene_node = SceneNode(
            id=node_id,
            name=node.name,
            kind=kind,
            classes=[kind],
            cluster=cluster,
            details=_details(node),
            tooltip=one_line(node.description, 400),
        )
        if not top:
            scene_node.classes.append("inner")
        if node.max_visits is not None:
            scene_node.classes.append("capped")
        if node.cache is not None:
            scene_node.classes.append("cacheable")
        if breakpoints:
            scene_node.classes.extend(f"breakpoint-{where}" for where in breakpoints)
            scene_node.details.append(f"breakpoint {' + '.join(breakpoints)}")
        stats: NodeStats | None = None
        if count is not None and top and self.view is not None:
            stats = self.view.stats(node.name)
            self.overlay_node(scene_node, stats)
        elif count is not None:
            _mark(scene_node, count)
            if count > 1:
                scene_node.stats.append(f"×{count}")
        if asked:
            scene_node.classes.append("waiting")
            scene_node.alert = "waiting for input: " + "; ".join(_request_text(r) for r in asked)
            scene_node.tooltip = one_line(scene_node.alert, 1000)
        self.scene.nodes.append(scene_node)
        child = node.meta.get("graph") if node.kind is NodeKind.SUBGRAPH else None
        if child is not None and hasattr(child, "nodes") and hasattr(child, "edges"):
            cid = f"cluster_{node_id}"
            self.scene.clusters.append(
                Cluster(
                    id=cid,
                    label=f"{node.name} · subgraph {child.name}",
                    parent=cluster,
                    classes=["subgraph"],
                    exit=f"{node_id}/{END}",
                )
            )
            scene_node.cluster = cid
            inner: dict[str, int] | None = None
            if count == 0:
                inner = {}  # never ran: all of it is untaken
            elif stats is not None:
                inner = stats.inner
            requests = stats.waiting if stats is not None else asked
            self.graph(
                child,
                prefix=f"{node_id}/",
                cluster=cid,
                entry=node_id,
                visits=inner,
                waiting=_inner_asks(requests) if requests else None,
            )
        for tool_name, agent in _agent_tools(node.meta.get("agent_tools")):
            self.tool_agent(node_id, tool_name, agent, cluster, stats, count)

    def tool_agent(
        self,
        owner: str,
        tool_name: str,
        agent: str | None,
        cluster: str | None,
        stats: NodeStats | None,
        count: int | None,
    ) -> None:
        tool_id = f"{owner}::{tool_name}"
        tool = SceneNode(
            id=tool_id,
            name=tool_name,
            kind="tool-agent",
            classes=["tool-agent"],
            details=[f"agent {agent}" if agent else "agent as tool"],
            cluster=cluster,
        )
        link = SceneEdge(
            source=owner, target=tool_id, kind="tool-link", classes=["tool-link"], cluster=cluster
        )
        if count is not None and (stats is not None or count == 0):
            # Used when the node called the tool, or the tool's agent called its model.
            calls = model_calls = 0
            if stats is not None:
                calls = stats.tools.get(tool_name, 0)
                model_calls = stats.agents.get(agent or tool_name, 0)
                used = calls or model_calls or (agent or tool_name) in stats.agents
            else:
                used = False
            _mark(tool, 1 if used else 0)
            link.classes.append("taken" if used else "dimmed")
            if calls:
                tool.stats.append(f"called ×{calls}")
            if model_calls:
                tool.stats.append(f"{model_calls} model call{'s' * (model_calls != 1)}")
        self.scene.nodes.append(tool)
        self.scene.edges.append(link)
        self.scene.beside.append((owner, tool_id))

    # --- the run overlay ---------------------------------------------------------------

    def overlay_node(self, node: SceneNode, stats: NodeStats) -> None:
        _mark(node, stats.visits)
        if not stats.visits:
            return
        line = f"×{stats.visits}"
        if stats.duration:
            line += f" · {duration(stats.duration)}"
        node.stats.append(line)
        if stats.width > 1:
            node.stats.append(f"fan-out {stats.width} wide")
            node.classes.append("fanned-out")
        if stats.retries:
            node.stats.append(f"retried {stats.retries}×")
        if stats.cached:
            node.stats.append(f"cached ×{stats.cached}")
            node.classes.append("cached")
        if stats.tokens:
            node.stats.append(f"{stats.tokens:,} tokens")
        if stats.failed:
            node.classes.append("failed")
            node.alert = f"✖ {stats.failed}"
        elif stats.waiting:
            node.classes.append("waiting")
            # A breakpoint the run was given (not the graph's) is drawn where the run paused.
            stops = [
                r["breakpoint"] for r in stats.waiting if isinstance(r, dict) and "breakpoint" in r
            ]
            for where in dict.fromkeys(stops):
                if f"breakpoint-{where}" not in node.classes:
                    node.classes.append(f"breakpoint-{where}")
            label = (
                "paused at a breakpoint"
                if len(stops) == len(stats.waiting)
                else "waiting for input"
            )
            node.alert = f"{label}: " + "; ".join(_request_text(r) for r in stats.waiting)
        elif stats.recovered:
            node.classes.append("recovered")
            node.alert = f"✖ handled: {stats.recovered}"
        if node.alert:
            node.tooltip = one_line(node.alert, 1000)

    def overlay_edge(self, edge: SceneEdge, source: str, target: str, kind: str) -> None:
        assert self.view is not None
        stats = self.view.taken(source, target, kind)
        if stats is None:
            edge.classes.append("dimmed")
            return
        edge.classes.append("taken")
        edge.run = _taken_label(stats)
        if stats.width > 1:
            edge.classes.append("fanned-out")

    def undeclared(self, graph: Any) -> None:
        """Edges the run took that the graph does not declare (a stored run of an older
        version of the graph): drawn, so the picture never hides what happened."""
        assert self.view is not None
        declared = {(s.source, s.target, str(s.kind)) for s in graph.edges}
        drawn = {n.id for n in self.scene.nodes}
        for (source, target, kind), stats in self.view.edges.items():
            if (source, target, kind) in declared:
                continue
            if source not in drawn or target not in drawn:
                continue
            if any((s.source, s.target) == (source, target) for s in graph.edges):
                continue
            self.scene.edges.append(
                SceneEdge(
                    source=source,
                    target=target,
                    kind=kind.replace("_", "-"),
                    classes=[kind.replace("_", "-"), "undeclared", "taken"],
                    label="undeclared",
                    run=_taken_label(stats),
                )
            )


def _mark(node: SceneNode, visits: int) -> None:
    """Visited or dimmed; a negative count means nothing is known (left unmarked)."""
    if visits > 0:
        node.classes.append("visited")
    elif visits == 0:
        node.classes.append("dimmed")


def _details(node: Node) -> list[str]:
    meta = node.meta
    lines: list[str] = []
    if node.kind is NodeKind.AGENT:
        agent = meta.get("agent")
        lines.append(f"agent {agent}" if agent and agent != node.name else "agent")
        tools = [str(t) for t in meta.get("tools", ()) or ()]
        if tools:
            shown = ", ".join(tools[:4]) + (f" +{len(tools) - 4}" if len(tools) > 4 else "")
            lines.append(f"tools: {shown}")
    elif node.kind is NodeKind.HUMAN:
        field_name = meta.get("field")
        lines.append(f"human → {field_name}" if field_name else "human")
    elif node.kind is NodeKind.JOIN:
        lines.append("join")
    elif node.kind is NodeKind.SUBGRAPH:
        child = meta.get("graph")
        lines.append(f"subgraph {getattr(child, 'name', '')}".strip())
        if meta.get("stateful"):
            lines.append("stateful")
    if node.max_visits is not None:
        lines.append(f"≤ {node.max_visits} visits")
    if node.retry is not None and node.retry.max_attempts > 1:
        lines.append(f"retry ≤ {node.retry.max_attempts}")
    if node.timeout is not None:
        lines.append(f"timeout {node.timeout:g} s")
    if node.cache is not None:
        ttl = node.cache.ttl
        lines.append("cache" if ttl is None else f"cache {ttl:g} s")
    return lines


def _agent_tools(declared: Any) -> list[tuple[str, str | None]]:
    """(tool name, agent name) of the agents a node uses as tools: ``meta["agent_tools"]`` is a
    list of tool names, or a mapping of tool name to agent name."""
    if not declared:
        return []
    if isinstance(declared, dict):
        return [
            (str(tool), None if agent is None else str(agent)) for tool, agent in declared.items()
        ]
    return [(str(tool), None) for tool in declared]


def _fanout_edges(routes: Sequence[Route]) -> set[tuple[str, str]]:
    """Edges of routes whose return annotation is a list: those fan out (``Route.fanout`` is
    also true when the annotation says nothing, so it is not used alone)."""
    edges: set[tuple[str, str]] = set()
    for route in routes:
        declared = route_values(route.fn)
        if route.fanout and declared is not None and declared[1]:
            edges.update((route.source, target) for target in route.targets)
    return edges


def _taken_label(stats: EdgeStats) -> str:
    if stats.width > 1:
        if stats.width == stats.count:
            return f"fan-out ×{stats.count}"
        return f"×{stats.count} · fan-out ≤{stats.width}"
    return f"×{stats.count}"


def _on(node: Node, names: frozenset[str]) -> bool:
    return node.name in names or "*" in names


def _inner_asks(requests: list[Any]) -> dict[str, list[Any]]:
    """What the nodes inside a subgraph asked, by node name, from the requests its node
    paused the run with (see `orchestrator.subgraph`)."""
    found: dict[str, list[Any]] = {}
    for request in requests:
        if isinstance(request, dict) and request.get("kind") == "subgraph":
            for ask in request.get("asks") or ():
                if isinstance(ask, dict) and isinstance(ask.get("node"), str):
                    found.setdefault(ask["node"], []).append(ask.get("request"))
    return found


def _request_text(request: Any) -> str:
    if isinstance(request, dict) and request.get("kind") == "subgraph":
        asks = [a for a in request.get("asks") or () if isinstance(a, dict)]
        if asks:  # which node inside asked what
            return one_line(
                "; ".join(f"{a.get('node')}: {_request_text(a.get('request'))}" for a in asks),
                120,
            )
    if isinstance(request, dict) and "breakpoint" in request and "node" in request:
        return f"{request['breakpoint']} {request['node']}"
    if isinstance(request, dict) and "prompt" in request:
        request = request["prompt"] or request.get("node", "")
    return one_line(request, 120)


def _run_title(view: RunView) -> list[str]:
    line = f"run {view.run_id} · {view.status} · {view.steps} step{'s' * (view.steps != 1)}"
    if view.elapsed is not None:
        line += f" · {duration(view.elapsed)}"
    lines = [line]
    if view.parent_run_id is not None:
        step = f" at step {view.parent_step}" if view.parent_step is not None else ""
        lines.append(f"forked from run {view.parent_run_id}{step}")
    if view.error:
        lines.append(f"error: {one_line(view.error, 160)}")
    return lines
