"""The HTML run report: one self-contained page with the run diagram, the nodes' totals, a
timeline of steps, and what each task wrote, said and called. Nothing from the run is markup."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel

import visualize
from orchestrator import START, Graph
from tests.fixtures_visualize import graphs
from tests.fixtures_visualize.parse import Element, html_tree


def report(graph: Any, run: Any) -> Element:
    return html_tree(visualize.report_html(graph, run))


def steps(page: Element) -> list[Element]:
    return page.by_id("timeline").select("section", "step")


def tasks(step: Element) -> list[Element]:
    return [t for t in step.select("article", "task") if "data-node" in t.attrs]


def with_agent(result: Any, answer: str) -> Any:
    started = next(e for e in result.events if getattr(e, "node", None) == "writer")
    at = result.events.index(started) + 1
    fabricated = graphs.agent_events(result.run_id, started.step, "writer", started.task_id, answer)
    return SimpleNamespace(
        run_id=result.run_id,
        status=result.status,
        state=result.state,
        events=[*result.events[:at], *fabricated, *result.events[at:]],
    )


def test_report_is_one_file_that_needs_no_network() -> None:
    graph = graphs.fan_out()
    page = visualize.report_html(graph, graph.run_sync(events=True))
    tree = html_tree(page)
    assert not tree.select("link")
    assert all("src" not in s.attrs for s in tree.select("script"))
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "@import" not in page and "url(" not in page


def test_report_allows_only_its_own_script() -> None:
    graph = graphs.branching()
    tree = report(graph, graph.run_sync(events=True))
    policy = next(
        m for m in tree.select("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"
    ).attrs["content"]
    assert "default-src 'none'" in policy
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+'$", policy)


@pytest.mark.skipif(visualize.renderer_name() is None, reason="no Graphviz renderer")
def test_report_shows_the_run_diagram_with_its_overlay() -> None:
    graph = graphs.branching()
    tree = report(graph, graph.run_sync({"go": "right"}, events=True))
    svg = tree.by_id("diagram").select("svg")
    assert len(svg) == 1
    drawn = {g.select("title")[0].text: g.classes for g in svg[0].select("g", "node")}
    assert "visited" in drawn["right"] and "dimmed" in drawn["left"]


def test_header_shows_run_status_steps_and_time() -> None:
    graph = graphs.loop()
    result = graph.run_sync({"limit": 3}, events=True)
    header = report(graph, result).select("header", "top")[0]
    assert result.run_id in header.text
    assert "completed" in header.select("span", "badge")[0].text
    assert "steps3" in header.text.replace(" ", "")


def test_nodes_table_counts_visits_and_total_time() -> None:
    graph = graphs.loop()
    result = graph.run_sync({"limit": 5}, events=True)
    rows = {
        r.attrs["data-node"]: [c.text for c in r.select("td")]
        for r in report(graph, result).by_id("nodes").select("tr", "pick")
    }
    assert rows["count"][:3] == ["count", "code", "5"]


def test_timeline_puts_parallel_tasks_side_by_side() -> None:
    graph = graphs.fan_out()
    page = report(graph, graph.run_sync({"items": ["a", "b", "c"]}, events=True))
    lanes = [step.select("div", "lanes")[0] for step in steps(page)]
    widths = [len(tasks(lane)) for lane in lanes]
    assert widths == [0, 1, 3, 1]  # start, split, work x3 in one row, collect
    assert [t.attrs["data-node"] for t in tasks(lanes[2])] == ["work"] * 3


def test_timeline_lists_loop_iterations_in_order() -> None:
    graph = graphs.loop()
    page = report(graph, graph.run_sync({"limit": 4}, events=True))
    numbers = [s.attrs["data-step"] for s in steps(page)]
    assert numbers == ["0", "1", "2", "3", "4"]
    writes = [t.select("pre")[0].text for s in steps(page)[1:] for t in tasks(s)]
    assert writes == ["1", "2", "3", "4"]


def test_each_step_shows_the_fields_it_wrote_and_how() -> None:
    graph = graphs.fan_out()
    page = report(graph, graph.run_sync({"items": ["a"]}, events=True))
    work = tasks(steps(page)[2])[0]
    row = work.select("table", "writes")[0].select("tr")[0]
    assert [row.select("th")[0].text, row.select("td")[0].text] == ["log", "append"]
    assert row.select("pre")[0].text == "did a"


def test_agent_steps_show_messages_tool_calls_handoffs_and_tokens() -> None:
    graph = graphs.agent_graph()
    run = with_agent(graph.run_sync(events=True), "Here is the draft.")
    writer = tasks(steps(report(graph, run))[1])[0]
    items = writer.select("ol", "conversation")[0].select("li")
    kinds = [i.select("span", "item-kind")[0].text for i in items]
    assert kinds == [
        "model call",
        "tool call",
        "tool output",
        "tool call",
        "model call",
        "handoff",
        "model call",
        "message",
    ]
    assert "search" in items[1].text and '{"q": "cats"}' in items[1].text
    assert "editor" in items[5].text
    assert "Here is the draft." in items[7].text
    assert "120 in / 30 out tokens" in items[0].text
    assert "450 tokens" in writer.select("summary")[0].text


def test_a_model_answer_with_markup_shows_as_text() -> None:
    graph = graphs.agent_graph()
    page = visualize.report_html(graph, with_agent(graph.run_sync(events=True), graphs.HOSTILE))
    tree = html_tree(page)
    assert len(tree.select("script")) == 1  # the report's own
    assert not tree.select("img")
    assert graphs.HOSTILE in tree.by_id("timeline").text


def test_hostile_state_error_and_interrupt_request_stay_text() -> None:
    graph = graphs.failing()
    tree = report(graph, graph.run_sync(raise_on_error=False, events=True))
    assert len(tree.select("script")) == 1 and not tree.select("img")
    assert graphs.HOSTILE in tree.by_id("run-error").text
    state = tree.by_id("state").text  # as JSON: its quote is escaped
    assert "<script>alert(1)</script>" in state and "<img src=x onerror=alert(2)>" in state
    failed = [t for s in steps(tree) for t in tasks(s) if "failed" in t.classes]
    assert [t.attrs["data-node"] for t in failed] == ["boom"]
    assert graphs.HOSTILE in failed[0].select("div", "error-box")[0].text

    class Ask(BaseModel):
        answer: str = ""

    human = Graph(Ask).add_human("ask", prompt=lambda s: graphs.HOSTILE, field="answer")
    human_graph = human.add_edge(START, "ask").add_edge("ask", "__end__").compile()
    waiting = report(human_graph, human_graph.run_sync(events=True))
    assert len(waiting.select("script")) == 1 and not waiting.select("img")
    assert graphs.HOSTILE in waiting.select("div", "wait-box")[0].text


def test_a_failed_run_names_the_failing_node_and_error() -> None:
    graph = graphs.failing("disk full")
    tree = report(graph, graph.run_sync(raise_on_error=False, events=True))
    assert "node 'boom' failed" in tree.by_id("run-error").text
    rows = {r.attrs["data-node"]: r for r in tree.by_id("nodes").select("tr", "pick")}
    assert rows["boom"].select("span", "badge")[0].text == "failed"


def test_a_paused_run_shows_what_it_waits_for() -> None:
    graph = graphs.pipeline()
    tree = report(graph, graph.run_sync(events=True))
    assert "Approve the draft?" in tree.select("div", "wait-box")[0].text
    review = [t for s in steps(tree) for t in tasks(s) if t.attrs["data-node"] == "review"]
    assert review[0].classes >= {"task", "waiting"}


def test_a_1000_step_run_report_stays_small_and_summarises_the_middle() -> None:
    graph = graphs.loop()
    result = graph.run_sync({"limit": 1000}, events=True)
    page = visualize.report_html(graph, result)
    assert len(page.encode()) < 2_000_000
    tree = html_tree(page)
    shown = steps(tree)
    gap = [s for s in shown if "gap" in s.classes]
    assert len(gap) == 1 and "count ×" in gap[0].text
    assert shown[1].attrs["data-step"] == "1" and shown[-1].attrs["data-step"] == "1000"
    rows = {r.attrs["data-node"]: r for r in tree.by_id("nodes").select("tr", "pick")}
    assert rows["count"].select("td")[2].text == "1000"


def test_a_200_node_run_report_lists_every_node_and_stays_small() -> None:
    class S(BaseModel):
        n: int = 0

    g = Graph(S, name="chain")
    for i in range(200):
        g.add_node(f"n{i}", lambda s: {"n": s.n + 1})
        g.add_edge(START if i == 0 else f"n{i - 1}", f"n{i}")
    graph = g.add_edge("n199", "__end__").compile()
    page = visualize.report_html(graph, graph.run_sync(events=True))
    assert len(page.encode()) < 2_000_000
    rows = html_tree(page).by_id("nodes").select("tr", "pick")
    assert [r.select("td")[2].text for r in rows] == ["1"] * 200


def test_a_wide_fan_out_keeps_each_step_row_short() -> None:
    graph = graphs.fan_out()
    tree = report(graph, graph.run_sync({"items": [str(i) for i in range(50)]}, events=True))
    row = steps(tree)[2]
    assert len(tasks(row)) == 12
    assert "+38 more" in row.select("article", "more")[0].text


def test_static_report_draws_the_graph_without_a_run() -> None:
    graph = graphs.pipeline()
    tree = html_tree(visualize.report_html(graph))
    assert tree.by_id("diagram")
    assert not [e for e in tree.iter() if e.attrs.get("id") == "timeline"]
