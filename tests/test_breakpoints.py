"""Breakpoints (LangGraph's interrupt_before / interrupt_after): a run pauses before or after
named nodes, per compiled graph or per run; resume() with no value goes on, stored and across
processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from orchestrator import END, START, Graph, InvalidGraphError, ResumeError, RunStatus, append
from orchestrator.store import Store


class Log(BaseModel):
    log: Annotated[list[str], append] = []


def logs(name: str) -> Any:
    def node(state: Log) -> dict[str, Any]:
        return {"log": name}

    return node


def chain() -> Graph[Log]:
    g = Graph(Log, name="bp")
    for name in ("a", "b", "c"):
        g.add_node(name, logs(name))
    return g.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", END)


async def test_interrupt_before_pauses_and_resume_goes_on(any_store: Store) -> None:
    graph = chain().compile(interrupt_before=["b"])
    paused = await graph.run(store=any_store, run_id="before")
    assert paused.status is RunStatus.WAITING
    assert paused.path == ["a"] and [w.node for w in paused.waiting] == ["b"]
    assert paused.waiting[0].request == {"breakpoint": "before", "node": "b"}
    stored = await any_store.get_run("before")
    assert stored.status == "waiting"
    with pytest.raises(ResumeError, match="breakpoint"):
        await graph.resume("before", "a value", store=any_store)
    fresh = chain().compile(interrupt_before=["b"])  # as a new process would build it
    done = await fresh.resume("before", store=any_store)
    assert done.status is RunStatus.COMPLETED and done.state.log == ["a", "b", "c"]
    assert (await fresh.load("before", store=any_store)).path == ["a", "b", "c"]


async def test_interrupt_after_every_node_advances_one_step_per_resume(any_store: Store) -> None:
    graph = chain().compile()
    result = await graph.run(store=any_store, run_id="after", interrupt_after="*")
    logs_seen = [list(result.state.log)]
    while result.status is RunStatus.WAITING:
        result = await graph.resume("after", store=any_store, interrupt_after="*")
        logs_seen.append(list(result.state.log))
    assert logs_seen == [["a"], ["a", "b"], ["a", "b", "c"]]


async def test_a_breakpoint_on_an_unknown_node_is_refused_by_name() -> None:
    with pytest.raises(InvalidGraphError, match="interrupt_before names 'nope'"):
        chain().compile(interrupt_before=["nope"])
    with pytest.raises(InvalidGraphError, match="interrupt_after names 'zz'"):
        await chain().compile().run(interrupt_after=["zz"])


GRAPH_FILE = """
from typing import Annotated
from pydantic import BaseModel
from orchestrator import END, START, Graph, append


class Log(BaseModel):
    log: Annotated[list[str], append] = []


def logs(name):
    def node(state):
        return {"log": name}

    return node


g = Graph(Log, name="bpfile")
for name in ("a", "b", "c"):
    g.add_node(name, logs(name))
g.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", END)
graph = g.compile(interrupt_before=["c"])
"""


def test_a_breakpoint_is_resumed_from_another_process(tmp_path: Path) -> None:
    source = tmp_path / "bpfile.py"
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
    assert paused["status"] == "waiting" and paused["path"] == ["a", "b"]
    second = subprocess.run(
        [exe, "resume", paused["run_id"], "--store", db, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stderr
    done = json.loads(second.stdout)
    assert done["status"] == "completed" and done["state"]["log"] == ["a", "b", "c"]


async def test_a_breakpoint_given_to_the_run_is_drawn_where_the_stored_run_paused(
    any_store: Store,
) -> None:
    import visualize
    from tests.test_subgraph_interrupts import nodes

    graph = chain().compile()  # no breakpoints of its own
    await graph.run(store=any_store, run_id="per-run", interrupt_after=["b"])
    stored = await graph.load("per-run", store=any_store)
    assert "breakpoint-after" in visualize.to_mermaid(graph, stored)
    assert "paused at a breakpoint: after b" in visualize.to_mermaid(graph, stored)
    assert "breakpoint" not in visualize.to_mermaid(graph)  # the graph itself has none
    if visualize.renderer_name() is not None:
        drawn = nodes(visualize.to_svg(graph, stored))
        assert "breakpoint-after" in drawn["b"].classes and "waiting" in drawn["b"].classes
        assert not {"breakpoint-before", "breakpoint-after"} & drawn["a"].classes
        report = visualize.report_html(graph, stored)
        assert "paused at a breakpoint: after b" in report
