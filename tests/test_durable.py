"""Durable runs on the SQLite and in-memory stores: checkpoints, crash resume, human approval
across processes, playback, forks, recorded replay, many writers and bad input."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel

from orchestrator import (
    END,
    START,
    CheckpointMismatchError,
    Context,
    Graph,
    ResumeError,
    RunNotFoundError,
    RunStatus,
    StoreError,
    append,
)
from orchestrator.store import MemoryStore, SQLiteStore, open_store
from tests import durable_worker as worker

ROOT = Path(__file__).resolve().parents[1]


def run_worker(*args: str, env: dict[str, str], timeout: float = 60) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.durable_worker", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    parsed: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return parsed


def effects(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "EFFECTS": str(tmp_path / "effects.log"),
        "RELEASE": str(tmp_path / "release"),
        "OPENAI_AGENTS_DISABLE_TRACING": "1",
    }


# --- checkpoints -----------------------------------------------------------------------------


async def test_a_checkpoint_is_written_at_every_step(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "runs.db")
    result = await worker.counter_graph().run(store=store)
    checkpoints = await store.checkpoints(result.run_id, from_snapshot=False)
    assert [c.step for c in checkpoints] == list(range(11))
    assert checkpoints[0].snapshot is not None
    assert [c.ran for c in checkpoints[1:]] == [["inc"]] * 10
    assert (await store.get_run(result.run_id)).status == "completed"


async def test_storage_grows_with_the_updates_not_with_steps_times_state(tmp_path: Path) -> None:
    class Log(BaseModel):
        n: int = 0
        lines: Annotated[list[str], append] = []

    def write(state: Log) -> dict[str, Any]:
        return {"n": state.n + 1, "lines": "x" * 100}

    def until(limit: int) -> Any:
        def again(state: Log) -> Literal["write", "__end__"]:
            return "write" if state.n < limit else "__end__"

        return again

    sizes = {}
    for steps in (200, 800):
        g = Graph(Log).add_node("write", write).add_edge(START, "write")
        g.add_route("write", until(steps))
        store = SQLiteStore(tmp_path / f"{steps}.db")
        await g.compile().run(store=store, max_steps=10_000)
        db = sqlite3.connect(tmp_path / f"{steps}.db")
        sizes[steps] = db.execute("SELECT sum(length(data)) FROM checkpoints").fetchone()[0]
    # 4x the steps (and 4x the final state) costs about 4x the bytes, not 16x.
    assert sizes[800] / sizes[200] < 5
    assert sizes[800] < 800 * 400  # a few hundred bytes per 100-byte update


# --- crash resume ----------------------------------------------------------------------------


def test_kill_9_mid_fan_out_then_resume_runs_completed_branches_once(
    tmp_path: Path, env: dict[str, str]
) -> None:
    db = str(tmp_path / "runs.db")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.durable_worker", "fan", db, "run-1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    log = Path(env["EFFECTS"])
    deadline = time.monotonic() + 30
    while sorted(effects(log)) != ["a", "b"] or not _pending_rows(db, 2):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, f"branches did not finish: {effects(log)}"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # c is still running: the step never reached its barrier
    proc.wait(timeout=10)

    Path(env["RELEASE"]).touch()
    out = run_worker("fan-resume", db, "run-1", env=env)
    assert out["status"] == "completed"
    assert sorted(out["state"]["results"]) == ["a", "b", "c"]
    assert sorted(effects(log)) == ["a", "b", "c", "join"]  # a and b ran exactly once


def _pending_rows(db: str, count: int) -> bool:
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT count(*) FROM pending").fetchone()[0]) >= count
    except sqlite3.Error:
        return False


async def test_resume_of_a_crashed_step_keeps_join_progress(tmp_path: Path) -> None:
    class J(BaseModel):
        log: Annotated[list[str], append] = []

    calls: list[str] = []

    def node(name: str) -> Any:
        def run(state: J) -> dict[str, Any]:
            calls.append(name)
            if name == "long2" and len(calls) < 10 and "crash" in os.environ.get("J_MODE", ""):
                raise KeyboardInterrupt  # the process "dies" here, before the barrier
            return {"log": name}

        return run

    g = Graph(J, name="joins").add_node("short", node("short")).add_node("long1", node("long1"))
    g.add_node("long2", node("long2")).add_join("join", node("join"))
    g.add_edge(START, "short").add_edge(START, "long1").add_edge("long1", "long2")
    g.add_edge("short", "join").add_edge("long2", "join").add_edge("join", END)
    compiled = g.compile()
    store = SQLiteStore(tmp_path / "j.db")
    os.environ["J_MODE"] = "crash"
    try:
        with pytest.raises(KeyboardInterrupt):
            await compiled.run(store=store, run_id="j1")
    finally:
        os.environ.pop("J_MODE")
    assert (await store.get_run("j1")).status == "running"  # as a killed process leaves it
    done = await compiled.resume("j1", store=store)
    assert done.status is RunStatus.COMPLETED
    assert calls == ["short", "long1", "long2", "long2", "join"]  # only long2 ran again
    assert done.state.log == ["short", "long1", "long2", "join"]


# --- human in the loop across processes ------------------------------------------------------


def test_human_approval_paused_in_one_process_resumed_in_another(
    tmp_path: Path, env: dict[str, str]
) -> None:
    db = str(tmp_path / "runs.db")
    paused = run_worker("approval", db, env=env)
    assert paused["status"] == "waiting"
    record = asyncio.run(SQLiteStore(db).get_run(paused["run_id"]))
    assert record.status == "waiting"
    assert record.waiting[0]["node"] == "approve"
    assert record.waiting[0]["request"] == {
        "question": "approve the plan?",
        "plan": "ship v2 on Friday",
    }
    done = run_worker("approval-resume", db, paused["run_id"], "approved by Ana", env=env)
    assert done["status"] == "completed"
    assert done["state"]["done"] == "executed (approved by Ana)"
    assert effects(Path(env["EFFECTS"])) == ["plan", "execute"]  # plan was not run again


def test_tool_approval_pauses_the_agent_and_it_goes_on_from_the_tool_call_elsewhere(
    tmp_path: Path, env: dict[str, str]
) -> None:
    db = str(tmp_path / "runs.db")
    paused = run_worker("refund", db, env=env)
    assert paused["status"] == "waiting"
    record = asyncio.run(SQLiteStore(db).get_run(paused["run_id"]))
    request = record.waiting[0]["request"]
    assert request["kind"] == "tool_approval" and request["agent"] == "Refund Agent"
    assert request["tools"] == [
        {"tool": "issue_refund", "arguments": '{"order": "A-17"}', "call_id": "call_refund"}
    ]
    assert effects(Path(env["EFFECTS"])) == ["model"]  # asked once; nothing refunded yet

    done = run_worker("refund-resume", db, paused["run_id"], "true", env=env)
    assert done["status"] == "completed"
    assert done["state"]["answer"] == "Done: refunded A-17"
    # The agent went on from the approved call: one more model call, not a fresh start.
    assert effects(Path(env["EFFECTS"])) == ["model", "refund", "model"]


async def test_a_rejected_tool_call_is_not_executed(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "runs.db")
    graph = worker.refund_graph()
    paused = await graph.run({"messages": [{"role": "user", "content": "refund"}]}, store=store)
    done = await graph.resume(paused.run_id, {"issue_refund": "reject"}, store=store)
    assert done.status is RunStatus.COMPLETED
    assert "refunded" not in done.state.answer  # the model saw a rejection, not a refund


# --- playback, fork, recorded replay ---------------------------------------------------------


async def test_playback_matches_the_live_run_step_by_step(tmp_path: Path) -> None:
    seen: list[int] = []

    class C(BaseModel):
        n: int = 0
        trail: Annotated[list[int], append] = []

    def inc(state: C) -> dict[str, Any]:
        seen.append(state.n)  # the state this step starts from = the state after the last
        return {"n": state.n + 2, "trail": state.n}

    def again(state: C) -> Literal["inc", "__end__"]:
        return "inc" if state.n < 10 else "__end__"

    g = Graph(C).add_node("inc", inc).add_edge(START, "inc").add_route("inc", again).compile()
    store = SQLiteStore(tmp_path / "p.db")
    live = await g.run(store=store)
    views = await g.playback(live.run_id, store=store)
    assert [v.step for v in views] == list(range(live.steps + 1))
    assert [v.state.n for v in views[:-1]] == seen
    assert views[-1].state == live.state
    assert all(v.ran == ["inc"] for v in views[1:])


async def test_fork_from_step_k_with_an_edit_takes_another_path_and_leaves_the_parent(
    tmp_path: Path,
) -> None:
    class T(BaseModel):
        n: int = 0
        route: str = "normal"
        log: Annotated[list[str], append] = []

    def work(state: T) -> dict[str, Any]:
        return {"n": state.n + 1, "log": f"work{state.n}"}

    def decide(state: T) -> Literal["work", "special", "__end__"]:
        if state.route == "special":
            return "special"
        return "work" if state.n < 4 else "__end__"

    g = Graph(T).add_node("work", work).add_node("special", lambda s: {"log": "special"})
    g.add_edge(START, "work").add_route("work", decide).add_edge("special", END)
    compiled = g.compile()
    store = SQLiteStore(tmp_path / "f.db")
    parent = await compiled.run(store=store)
    assert parent.path == ["work"] * 4
    before = await store.checkpoints(parent.run_id, from_snapshot=False)

    fork = await compiled.fork(parent.run_id, 2, set={"route": "special"}, store=store)
    # The edit re-decides the route out of step 2: "special" runs next, not the planned "work".
    assert fork.path == ["work", "work", "special"]
    assert fork.state.log == ["work0", "work1", "special"]
    record = await store.get_run(fork.run_id)
    assert (record.parent_run, record.parent_step) == (parent.run_id, 2)
    # The parent is untouched, and a second fork is independent of the first.
    assert await store.checkpoints(parent.run_id, from_snapshot=False) == before
    other = await compiled.fork(parent.run_id, 2, store=store)
    assert other.path == ["work"] * 4 and other.run_id != fork.run_id
    assert (await compiled.load(fork.run_id, store=store)).parent_run == parent.run_id


async def test_fork_with_an_unknown_field_is_refused(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "f.db")
    compiled = worker.counter_graph()
    parent = await compiled.run(store=store)
    with pytest.raises(ResumeError, match="'colour' is not a field of the state"):
        await compiled.fork(parent.run_id, 1, set={"colour": "red"}, store=store)


async def test_recorded_replay_of_an_agent_graph_calls_no_model(tmp_path: Path) -> None:
    from agents import Agent, Model

    from tests.support.scripted import call, model, say

    class Exploding(Model):
        async def get_response(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("a model was called during replay")

        async def stream_response(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("a model was called during replay")

    def graph(specialist_model: Any, triage_model: Any) -> Any:
        class Chat(BaseModel):
            messages: Annotated[list[dict[str, Any]], lambda a, b: [*a, *b]] = []
            answer: str = ""

        sales = Agent(name="Sales Agent", model=specialist_model)
        triage = Agent(name="Triage Agent", handoffs=[sales], model=triage_model)
        g = Graph(Chat, name="shop").add_agent("triage", triage)
        g.add_agent("sales", sales, output="answer").add_edge(START, "triage")
        g.add_edge("triage", END).add_edge("sales", END)
        return g.compile()

    store = SQLiteStore(tmp_path / "a.db")
    live = await graph(model(say("We have a deal.")), model(call("transfer_to_sales_agent"))).run(
        {"messages": [{"role": "user", "content": "buy"}]}, store=store
    )
    assert live.path == ["triage", "sales"]
    report = await graph(Exploding(), Exploding()).replay(live.run_id, store=store)
    assert report.matched, (report.diverged_at, report.reason, report.expected, report.actual)
    assert report.model_calls == 0
    assert report.recorded_answers == 2
    assert report.result.state.answer == "We have a deal."


async def test_recorded_replay_reports_the_step_where_changed_code_diverges(
    tmp_path: Path,
) -> None:
    def graph(bump: int) -> Any:
        class C(BaseModel):
            n: int = 0

        def inc(state: C) -> dict[str, Any]:
            return {"n": state.n + (bump if state.n >= 3 else 1)}

        def again(state: C) -> Literal["inc", "__end__"]:
            return "inc" if state.n < 6 else "__end__"

        g = Graph(C, name="changing").add_node("inc", inc).add_edge(START, "inc")
        return g.add_route("inc", again).compile()

    store = SQLiteStore(tmp_path / "d.db")
    original = await graph(1).run(store=store)
    same = await graph(1).replay(original.run_id, store=store)
    assert same.matched
    changed = await graph(2).replay(original.run_id, store=store)
    assert changed.diverged_at == 4  # steps 1-3 write n=1,2,3; step 4 now writes 5, not 4
    assert changed.reason == "update"
    assert changed.expected == [["inc", {"n": 4}]] and changed.actual == [["inc", {"n": 5}]]


# --- many writers ----------------------------------------------------------------------------


def test_four_processes_times_25_runs_on_one_sqlite_file_lose_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    db = str(tmp_path / "shared.db")
    SQLiteStore(db)  # create the schema once, as a first `orchestrator run` would
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.durable_worker", "many", db, "25"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    ids = [run_id for p in procs for run_id in json.loads(p.communicate(timeout=120)[0])]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(ids)) == 100
    conn = sqlite3.connect(db)
    per_run = dict(conn.execute("SELECT id >> 32, count(*) FROM checkpoints GROUP BY id >> 32"))
    assert len(per_run) == 100 and set(per_run.values()) == {11}
    assert set(r for (r,) in conn.execute("SELECT status FROM runs")) == {"completed"}


# --- bad input -------------------------------------------------------------------------------


def test_a_file_that_is_not_a_database_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 50)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="notes.db is not a usable orchestrator store"):
        SQLiteStore(path)
    assert path.read_bytes() == before


def test_a_truncated_store_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    store = SQLiteStore(path)
    for _ in range(20):
        asyncio.run(worker.counter_graph().run(store=store))
    asyncio.run(store.close())  # the last connection folds the WAL into the file
    assert not Path(f"{path}-wal").exists()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(StoreError, match="runs.db"):
        store = SQLiteStore(path)
        asyncio.run(store.list_runs())


def test_another_applications_database_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not an orchestrator store"):
        SQLiteStore(path)
    assert path.read_bytes() == before


def test_a_store_written_by_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SQLiteStore(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer orchestrator \\(store schema 99"):
        SQLiteStore(path)


async def test_an_unknown_run_id_is_named(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "runs.db")
    with pytest.raises(RunNotFoundError, match="no run 'nope' in .*runs.db"):
        await worker.counter_graph().resume("nope", store=store)


async def test_a_checkpoint_that_no_longer_fits_the_model_is_named(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "runs.db")
    paused = await worker.approval_graph().run(store=store)

    class Stricter(BaseModel):
        plan: int = 0  # was a string
        approved: str = ""
        done: str = ""

    g = Graph(Stricter, name="approval").add_node("plan", lambda s: None)
    g.add_human("approve", field="approved").add_node("execute", lambda s: None)
    g.add_edge(START, "plan").add_edge("plan", "approve").add_edge("approve", "execute")
    g.add_edge("execute", END)
    with pytest.raises(
        CheckpointMismatchError, match=f"run '{paused.run_id}'.*step 0 .*\\(plan: Input should be"
    ):
        await g.compile().resume(paused.run_id, "yes", store=store)
    assert (await store.get_run(paused.run_id)).status == "waiting"  # nothing changed


async def test_resume_of_a_finished_run_is_refused(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "runs.db")
    done = await worker.counter_graph().run(store=store)
    with pytest.raises(ResumeError, match="has already completed"):
        await worker.counter_graph().resume(done.run_id, store=store)


async def test_the_memory_store_keeps_the_same_contract() -> None:
    store = open_store("memory")
    assert isinstance(store, MemoryStore)
    paused = await worker.approval_graph().run(store=store)
    done = await worker.approval_graph().resume(paused.run_id, "ok", store=store)
    assert done.state.approved == "ok"
    assert [r.status for r in await store.list_runs()] == ["completed"]


async def test_stored_runs_never_hold_pickles(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    await worker.approval_graph().run(store=SQLiteStore(path))
    conn = sqlite3.connect(path)
    for table in ("checkpoints", "pending", "events"):
        for (data,) in conn.execute(f"SELECT data FROM {table}"):
            json.loads(data)  # every stored record is plain JSON


async def test_interrupt_requests_with_a_context_survive_a_round_trip(tmp_path: Path) -> None:
    class Q(BaseModel):
        answers: Annotated[list[str], append] = []

    def ask_twice(state: Q, ctx: Context[None]) -> dict[str, Any]:
        first = ctx.interrupt("first?")
        second = ctx.interrupt("second?")
        return {"answers": f"{first}+{second}"}

    g = Graph(Q, name="twice").add_node("ask", ask_twice).add_edge(START, "ask")
    compiled = g.add_edge("ask", END).compile()
    store = SQLiteStore(tmp_path / "q.db")
    one = await compiled.run(store=store)
    two = await compiled.resume(one.run_id, "A", store=store)
    assert two.waiting[0].request == "second?"
    three = await compiled.resume(one.run_id, "B", store=store)
    assert three.state.answers == ["A+B"]


async def test_a_submitted_run_waits_queued_until_something_drives_it(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "q.db")
    graph = worker.counter_graph()
    run_id = await graph.submit({"n": 7}, store=store, source="tests.durable_worker:counter_graph")
    record = await store.get_run(run_id)
    assert (record.status, record.steps, record.source) == (
        "queued",
        0,
        "tests.durable_worker:counter_graph",
    )
    assert [t.node for t in (await store.checkpoints(run_id))[0].tasks] == ["inc"]
    done = await graph.resume(run_id, store=store)  # what a run host does once it claims it
    assert done.status is RunStatus.COMPLETED
    assert done.state.n == 10 and done.path == ["inc"] * 3


async def test_values_taken_from_the_state_are_stored_as_references_and_play_back(
    tmp_path: Path,
) -> None:
    class Mail(BaseModel):
        inbox: list[dict[str, Any]] = []
        latest: list[dict[str, Any]] = []
        everything: list[dict[str, Any]] = []

    big = {"body": "x" * 5000}

    def copy_around(state: Mail) -> dict[str, Any]:
        # The whole list, and a new list holding the state's last item: both from the state.
        return {"everything": state.inbox, "latest": [state.inbox[-1]]}

    g = Graph(Mail, name="mail").add_node("copy", copy_around).add_edge(START, "copy")
    compiled = g.add_edge("copy", END).compile()
    store = SQLiteStore(tmp_path / "m.db")
    live = await compiled.run({"inbox": [big, {"body": "hi"}]}, store=store)
    views = await compiled.playback(live.run_id, store=store)
    assert views[-1].state == live.state
    assert views[-1].state.latest == [{"body": "hi"}]
    conn = sqlite3.connect(tmp_path / "m.db")
    sizes = [n for (n,) in conn.execute("SELECT length(data) FROM checkpoints ORDER BY id")]
    assert sizes[1] < 400  # step 1 refers to the inbox instead of copying its 5 KB again
    report = await compiled.replay(live.run_id, store=store)
    assert report.matched
