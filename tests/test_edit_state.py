"""Editing a run's state (LangGraph's update_state and Command(resume=, update=)): a fork's
``set=`` re-decides the route out of its step, ``update=`` with ``as_node=`` is applied as that
node's write and routes by its edges, and ``resume(update=...)`` answers an interrupt and
updates the state in one go. Live, stored (memory, SQLite, PostgreSQL) and from another
process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel

from orchestrator import END, START, Context, Graph, ResumeError, RunStatus, append
from orchestrator.store import Store


class Essay(BaseModel):
    score: float = 0.0
    notes: Annotated[list[str], append] = []
    draft: str = ""


def grading() -> Graph[Essay]:
    """grade -> (accept | revise) -> END: the route depends on ``score``."""

    def grade(state: Essay) -> dict[str, Any]:
        return {"score": 0.3, "notes": "graded"}

    def route(state: Essay) -> Literal["accept", "revise"]:
        return "accept" if state.score >= 0.5 else "revise"

    g = Graph(Essay, name="grading")
    g.add_node("grade", grade)
    g.add_node("accept", lambda s: {"notes": "accepted"})
    g.add_node("revise", lambda s: {"notes": "revised"})
    g.add_edge(START, "grade").add_route("grade", route)
    return g.add_edge("accept", END).add_edge("revise", END)


async def test_fork_set_re_decides_the_route_out_of_the_step(any_store: Store) -> None:
    graph = grading().compile()
    first = await graph.run(store=any_store, run_id="low")
    assert first.path == ["grade", "revise"]
    fork = await graph.fork("low", 1, set={"score": 0.9}, store=any_store)
    assert fork.path == ["grade", "accept"]
    assert fork.state.score == 0.9 and fork.state.notes == ["graded", "accepted"]
    stored = await graph.load(fork.run_id, store=any_store)
    assert stored.path == ["grade", "accept"] and stored.state == fork.state
    # An edit that does not change the router's answer keeps the route.
    same = await graph.fork("low", 1, set={"score": 0.1}, store=any_store)
    assert same.path == ["grade", "revise"]
    # The parent is untouched.
    assert (await graph.load("low", store=any_store)).path == ["grade", "revise"]


async def test_fork_set_at_step_zero_re_decides_the_start(any_store: Store) -> None:
    def pick(state: Essay) -> Literal["accept", "revise"]:
        return "accept" if state.draft else "revise"

    g = Graph(Essay, name="start-route")
    g.add_node("accept", lambda s: {"notes": "accepted"})
    g.add_node("revise", lambda s: {"notes": "revised"})
    g.add_route(START, pick).add_edge("accept", END).add_edge("revise", END)
    graph = g.compile()
    await graph.run(store=any_store, run_id="s0")
    fork = await graph.fork("s0", 0, set={"draft": "ready"}, store=any_store)
    assert fork.path == ["accept"]


async def test_fork_update_as_node_goes_through_reducers_and_routes_by_its_edges(
    any_store: Store,
) -> None:
    graph = grading().compile()
    await graph.run(store=any_store, run_id="p")
    fork = await graph.fork(
        "p", 1, update={"score": 0.8, "notes": "by a person"}, as_node="grade", store=any_store
    )
    # The update went through the append reducer and grade's router read it.
    assert fork.state.notes == ["graded", "by a person", "accepted"]
    assert fork.path == ["grade", "accept"]
    stored = await any_store.checkpoints(fork.run_id, from_snapshot=False)
    edit = stored[1]
    assert edit.edit == {"by": "fork", "as_node": "grade"} and edit.ran == []
    assert [(node, update) for _, node, update in edit.writes] == [
        ("grade", {"score": 0.8, "notes": "by a person"})
    ]
    # Nothing ran in the edit step: grade's visits are those of the parent.
    loaded = await graph.load(fork.run_id, store=any_store)
    assert loaded.visits["grade"] == 1 and loaded.state == fork.state
    views = await graph.playback(fork.run_id, store=any_store)
    assert [v.ran for v in views] == [["grade"], [], ["accept"]]
    assert views[1].state.notes == ["graded", "by a person"]


async def test_fork_update_without_as_node_keeps_the_planned_tasks(any_store: Store) -> None:
    graph = grading().compile()
    await graph.run(store=any_store, run_id="keep")
    fork = await graph.fork("keep", 1, update={"score": 0.9}, store=any_store)
    assert fork.path == ["grade", "revise"]  # planned before the update: runs as planned
    assert fork.state.score == 0.9


async def test_bad_edits_are_refused_by_name_and_nothing_is_stored(any_store: Store) -> None:
    graph = grading().compile()
    await graph.run(store=any_store, run_id="bad")
    before = await any_store.list_runs()
    with pytest.raises(ResumeError, match="'nope' is not a field"):
        await graph.fork("bad", 1, update={"nope": 1}, as_node="grade", store=any_store)
    with pytest.raises(ResumeError, match="as node 'ghost'.*nodes are grade, accept, revise"):
        await graph.fork("bad", 1, update={"score": 1.0}, as_node="ghost", store=any_store)
    with pytest.raises(ResumeError, match="edited field 'score' is invalid"):
        await graph.fork("bad", 1, update={"score": "high"}, store=any_store)
    assert [r.run_id for r in await any_store.list_runs()] == [r.run_id for r in before]


class Review(BaseModel):
    draft: str = ""
    verdict: str = ""
    log: Annotated[list[str], append] = []


def reviewing() -> Graph[Review]:
    def write(state: Review) -> dict[str, Any]:
        return {"draft": "first draft", "log": "write"}

    def approve(state: Review, ctx: Context) -> dict[str, Any]:
        answer = ctx.interrupt({"approve": state.draft})
        return {"verdict": f"{answer}: {state.draft}", "log": "approve"}

    g = Graph(Review, name="review")
    g.add_node("write", write).add_node("approve", approve)
    return g.add_edge(START, "write").add_edge("write", "approve").add_edge("approve", END)


async def test_resume_with_update_answers_and_updates_in_one_go(any_store: Store) -> None:
    graph = reviewing().compile()
    paused = await graph.run(store=any_store, run_id="r")
    assert paused.status is RunStatus.WAITING
    done = await graph.resume("r", "yes", update={"draft": "edited draft"}, store=any_store)
    assert done.status is RunStatus.COMPLETED
    assert done.state.verdict == "yes: edited draft"  # the resumed node saw the update
    assert done.path == ["write", "approve"]
    views = await graph.playback("r", store=any_store)
    assert [v.ran for v in views] == [[], ["write"], [], ["approve"]]
    assert views[2].writes == [("resume", {"draft": "edited draft"})]
    loaded = await graph.load("r", store=any_store)
    assert loaded.state == done.state and loaded.status is RunStatus.COMPLETED


async def test_resume_with_update_live_without_a_store() -> None:
    graph = reviewing().compile()
    paused = await graph.run()
    done = await graph.resume(paused, "ok", update={"log": "note"})
    assert done.state.verdict == "ok: first draft" and done.state.log == [
        "write",
        "note",
        "approve",
    ]


async def test_resume_as_node_at_a_breakpoint_re_routes(any_store: Store) -> None:
    graph = grading().compile(interrupt_before=["revise"])
    paused = await graph.run(store=any_store, run_id="bp")
    assert paused.status is RunStatus.WAITING and [w.node for w in paused.waiting] == ["revise"]
    done = await graph.resume("bp", update={"score": 0.7}, as_node="grade", store=any_store)
    assert done.status is RunStatus.COMPLETED and done.path == ["grade", "accept"]
    # Without as_node the planned task stays and runs past the breakpoint it waited at.
    again = await graph.run(store=any_store, run_id="bp2")
    assert again.status is RunStatus.WAITING
    done = await graph.resume("bp2", update={"draft": "x"}, store=any_store)
    assert done.status is RunStatus.COMPLETED and done.path == ["grade", "revise"]


async def test_resume_refuses_an_answer_together_with_as_node(any_store: Store) -> None:
    graph = reviewing().compile()
    await graph.run(store=any_store, run_id="both")
    with pytest.raises(ResumeError, match="both an answer and as_node='write'"):
        await graph.resume("both", "yes", update={"draft": "d"}, as_node="write", store=any_store)
    assert (await any_store.get_run("both")).status == "waiting"


WORKER = """
import asyncio, json, sys
sys.path.insert(0, {root!r})
from tests.test_edit_state import reviewing
graph = reviewing().compile()
result = asyncio.run(graph.resume("x", "fine", update={{"draft": "from afar"}}, store=sys.argv[1]))
print(json.dumps({{"status": str(result.status), "verdict": result.state.verdict}}))
"""


def test_resume_with_update_from_another_process(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    paused = reviewing().compile().run_sync(store=db, run_id="x")
    assert paused.status is RunStatus.WAITING
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(root=str(Path(__file__).parent.parent)))
    out = subprocess.run(
        [sys.executable, str(script), db], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == {"status": "completed", "verdict": "fine: from afar"}
    views = asyncio.run(reviewing().compile().playback("x", store=db))
    assert [v.ran for v in views] == [[], ["write"], [], ["approve"]]


# --- the command line --------------------------------------------------------------------------

GRADING = grading()
REVIEWING = reviewing()


def test_cli_fork_set_changes_the_route_and_show_names_the_edit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.test_cli import cli, run_json

    db = str(tmp_path / "runs.db")
    parent = run_json(capsys, "run", "tests.test_edit_state:GRADING", "--store", db)
    assert parent["path"] == ["grade", "revise"]
    fork = run_json(capsys, "fork", parent["run_id"], "--step", "1", "--set", "score=0.9",
                    "--store", db)  # fmt: skip
    assert fork["path"] == ["grade", "accept"]
    code, out, err = cli(capsys, "show", fork["run_id"], "--store", db)
    assert code == 0, err
    assert "(forked with score=0.9)" in out and "accept" in out
    edited = run_json(capsys, "fork", parent["run_id"], "--step", "1", "--update", "score=0.6",
                      "--as-node", "grade", "--store", db)  # fmt: skip
    assert edited["path"] == ["grade", "accept"]
    code, out, _ = cli(capsys, "show", edited["run_id"], "--store", db)
    assert "(edit by fork as grade)" in out and "score=0.6" in out
    code, _, err = cli(capsys, "fork", parent["run_id"], "--step", "1", "--update", "nope=1",
                       "--store", db)  # fmt: skip
    assert code == 2 and "--update names 'nope', not a field" in err
    code, _, err = cli(capsys, "fork", parent["run_id"], "--step", "1", "--update", "score=1",
                       "--as-node", "ghost", "--store", db)  # fmt: skip
    assert code == 2 and "no such node" in err


def test_cli_resume_with_update(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from tests.test_cli import cli, run_json

    db = str(tmp_path / "runs.db")
    paused = run_json(capsys, "run", "tests.test_edit_state:REVIEWING", "--store", db)
    assert paused["status"] == "waiting"
    done = run_json(capsys, "resume", paused["run_id"], "--value", "ok", "--update",
                    "draft=second draft", "--store", db)  # fmt: skip
    assert done["state"]["verdict"] == "ok: second draft"
    code, _, err = cli(capsys, "resume", paused["run_id"], "--store", db)
    assert code == 2 and "already completed" in err
