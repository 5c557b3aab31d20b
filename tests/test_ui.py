"""The web UI over HTTP (Starlette's TestClient, no browser): the runs list and its filters, a
run's page (diagram, timeline, state at a step, usage), live updates as server-sent events,
fork, answer and recorded replay from a page, the session token, the Host check, escaping,
and a message with a 4xx status for every bad request."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel

from orchestrator import END, START, Graph, append
from orchestrator.run import RunOptions
from orchestrator.store import SQLiteStore
from orchestrator.ui import create_app
from tests.fixtures_visualize import graphs as fixtures

try:
    from starlette.testclient import TestClient
except (ImportError, RuntimeError) as exc:  # it needs httpx2 (or httpx), a test-only package
    pytest.skip(f"starlette's TestClient is unavailable: {exc}", allow_module_level=True)

TOKEN = "test-token"
HOSTILE = "<script>alert(1)</script>"
ROOT = Path(__file__).resolve().parents[1]


# --- graphs the tests store runs of (the browser test uses them too) ---------------------------


class Trip(BaseModel):
    mode: str = "a"
    note: str = ""
    log: Annotated[list[str], append] = []


def trip_graph() -> Any:
    """plan, then left or right by ``mode``: a fork from step 1 with another mode should go
    the other way."""

    def pick(state: Trip) -> Literal["left", "right"]:
        return "left" if state.mode == "a" else "right"

    g = Graph(Trip, name="trip")
    g.add_node("plan", lambda s: {"log": "plan"})
    g.add_node("left", lambda s: {"log": "left"}).add_node("right", lambda s: {"log": "right"})
    g.add_edge(START, "plan").add_route("plan", pick)
    return g.add_edge("left", END).add_edge("right", END).compile()


class Plan(BaseModel):
    task: str = ""
    plan: str = ""
    decision: str = ""
    result: str = ""


def signoff_graph() -> Any:
    """draft a plan, ask a person (a human node), then execute it or note the rejection."""

    def decided(state: Plan) -> Literal["execute", "revise"]:
        return "execute" if state.decision == "approve" else "revise"

    g = Graph(Plan, name="signoff")
    g.add_node("draft", lambda s: {"plan": f"1. {s.task}\n2. check it"})
    g.add_human("approval", prompt=lambda s: f"Approve this plan?\n{s.plan}", field="decision")
    g.add_node("execute", lambda s: {"result": f"done: {s.plan}"})
    g.add_node("revise", lambda s: {"result": f"to revise: {s.decision}"})
    g.add_edge(START, "draft").add_edge("draft", "approval").add_route("approval", decided)
    return g.add_edge("execute", END).add_edge("revise", END).compile()


class Score(BaseModel):
    text: str = ""
    score: int = 0
    verdict: str = ""


def scorer_graph(factor: int = 1) -> Any:
    """score the text, then judge it; ``factor`` changes the code (not the graph's shape), so
    a recorded replay with another factor diverges at step 1."""

    def score(state: Score) -> dict[str, Any]:
        return {"score": len(state.text) * factor}

    def judge(state: Score) -> dict[str, Any]:
        return {"verdict": "long" if state.score > 20 else "short"}

    g = Graph(Score, name="scorer").add_node("score", score).add_node("judge", judge)
    return g.add_edge(START, "score").add_edge("score", "judge").add_edge("judge", END).compile()


class Slow(BaseModel):
    log: Annotated[list[str], append] = []


def gated_graph(entered: threading.Event, gate: threading.Event) -> Any:
    """first, then second, which waits for ``gate``: a run that is seen running."""

    def second(state: Slow) -> dict[str, Any]:
        entered.set()
        gate.wait(30)
        return {"log": "second"}

    g = Graph(Slow, name="slow").add_node("first", lambda s: {"log": "first"})
    g.add_node("second", second).add_edge(START, "first").add_edge("first", "second")
    return g.add_edge("second", END).compile()


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "runs.db"


def open_client(db: Path, *graphs: Any, **options: Any) -> Any:
    app = create_app(SQLiteStore(db), graphs=graphs, token=TOKEN, close_store=True, **options)
    return TestClient(app, base_url="http://127.0.0.1")


@pytest.fixture
def client(db: Path) -> Iterator[Any]:
    with open_client(db, trip_graph(), signoff_graph(), scorer_graph(), fixtures.fan_out()) as c:
        yield c


def status_of(page: str) -> str:
    found = re.search(r'<body[^>]* data-status="([a-z]+)"', page)
    assert found, page[:400]
    return found.group(1)


def wait_for(client: Any, run_id: str, *statuses: str) -> str:
    """The run's page once it is in one of ``statuses`` (the action drives it in the
    server's event loop)."""
    for _ in range(200):
        page = client.get(f"/runs/{run_id}").text
        if status_of(page) in statuses:
            return str(page)
        threading.Event().wait(0.05)
    raise AssertionError(f"run {run_id} never reached {statuses}")


def redirected_run(response: Any) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/runs/")
    return str(location.removeprefix("/runs/"))


def problem(response: Any) -> str:
    found = re.search(r'<div class="error-box" id="problem">(.*?)</div>', response.text, re.S)
    assert found, response.text[:400]
    assert "Traceback" not in response.text
    return found.group(1)


# --- the runs list -----------------------------------------------------------------------------


def test_the_runs_list_shows_each_run_with_forks_under_their_parent(client: Any, db: Path) -> None:
    parent = trip_graph().run_sync({"mode": "a"}, store=str(db))
    fork = asyncio.run(trip_graph().fork(parent.run_id, 1, set={"note": "x"}, store=str(db)))
    other = scorer_graph().run_sync({"text": "hello"}, store=str(db))

    page = client.get("/").text
    rows = re.findall(r'<tr data-run="(\w+)" data-status="(\w+)" data-depth="(\d)">', page)
    assert (
        rows.index((fork.run_id, "completed", "1"))
        == rows.index((parent.run_id, "completed", "0")) + 1
    )  # right under its parent
    assert (other.run_id, "completed", "0") in rows
    row = re.search(rf'<tr data-run="{parent.run_id}".*?</tr>', page, re.S)
    assert row is not None
    assert ">trip<" in row.group(0) and '<td class="num">2</td>' in row.group(0)  # graph, steps
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row.group(0))  # started
    assert re.search(r"\d+(\.\d+)? (ms|s)", row.group(0))  # duration


def test_the_runs_list_filters_by_status_and_by_graph(client: Any, db: Path) -> None:
    waiting = signoff_graph().run_sync({"task": "ship"}, store=str(db))
    done = trip_graph().run_sync({}, store=str(db))

    by_status = client.get("/", params={"status": "waiting"}).text
    assert waiting.run_id in by_status and done.run_id not in by_status
    by_graph = client.get("/", params={"graph": "trip"}).text
    assert done.run_id in by_graph and waiting.run_id not in by_graph
    assert '<option value="signoff">' in by_graph  # every graph stays a choice
    assert "No runs to show" in client.get("/", params={"status": "failed"}).text


def test_the_runs_list_counts_the_tokens_of_an_agent_run(db: Path) -> None:
    from orchestrator.cli import parse_input
    from orchestrator.offline import OfflineProvider
    from orchestrator.source import load_graph

    triage = load_graph("graphs.triage:graph")
    run = triage.run_sync(
        parse_input(triage, "Where is my order 123?"),
        store=str(db),
        model_provider=OfflineProvider(),
        options=RunOptions(source="graphs.triage:graph"),  # found again by its source
    )
    with open_client(db) as client:
        listed = client.get("/").text
        tokens = sum(n["total_tokens"] for n in run.usage.values())
        assert f'<td class="num">{tokens:,}</td>' in listed

        page = client.get(f"/runs/{run.run_id}").text
        assert 'id="usage"' in page and f"{tokens:,}" in page  # usage per node
        assert "model call" in page  # the timeline's messages and calls
        assert "tool call" in page or "handoff" in page
        assert '<div id="diagram"><svg' in page


# --- a run's page ------------------------------------------------------------------------------


def test_a_run_page_shows_the_diagram_the_timeline_in_lanes_and_the_state(
    client: Any, db: Path
) -> None:
    run = fixtures.fan_out().run_sync({"items": ["a", "b", "c"]}, store=str(db))
    page = client.get(f"/runs/{run.run_id}").text
    assert status_of(page) == "completed"
    assert '<div id="diagram"><svg' in page and 'class="node code visited"' in page
    lanes = re.search(r'<section class="step" data-step="2">.*?</section>', page, re.S)
    assert lanes is not None and lanes.group(0).count('data-node="work"') == 3  # side by side
    assert 'id="step-slider" name="step" min="0" max="3" value="3"' in page
    assert f'id="run-path">{" → ".join(run.path)}<' in page
    assert 'id="state"' in page and 'id="fork-form"' in page
    report = client.get(f"/runs/{run.run_id}/report")  # the one-file report, as `render` writes
    assert report.status_code == 200 and 'id="timeline"' in report.text


def test_the_state_at_a_step_shows_what_that_step_changed(client: Any, db: Path) -> None:
    run = trip_graph().run_sync({"mode": "a", "note": "n"}, store=str(db))
    view = client.get(f"/runs/{run.run_id}/step/2").text
    assert "<b>step 2</b> · ran: left" in view
    changed = re.search(r'<tr data-field="log" class=changed>(.*?)</tr>', view, re.S)
    assert changed is not None
    assert "&quot;left&quot;" in changed.group(1)  # after
    assert '<td class="was"><pre>[\n &quot;plan&quot;\n]</pre>' in changed.group(1)  # before
    assert '<tr data-field="note">' in view  # unchanged: not marked
    start = client.get(f"/runs/{run.run_id}/step/0").text
    assert "ran: (the input)" in start and 'name="step" value="0"' in start
    page = client.get(f"/runs/{run.run_id}", params={"step": "1"}).text
    assert 'value="1">' in page and "<b>step 1</b> · ran: plan" in page  # without the script


def test_values_from_runs_are_escaped_everywhere(client: Any, db: Path) -> None:
    run = signoff_graph().run_sync({"task": HOSTILE}, store=str(db))  # waits, asking with it
    pages = [
        client.get("/").text,
        client.get(f"/runs/{run.run_id}").text,
        client.get(f"/runs/{run.run_id}/step/1").text,
        client.post(f"/runs/{run.run_id}/replay", data={"token": TOKEN}).text,
        client.get("/runs/<img src=x onerror=alert(2)>").text,
    ]
    for text in pages:
        assert "<script>alert" not in text and "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[2]
    assert "&lt;img src=x onerror=alert(2)&gt;" in pages[4]  # the unknown id, in the message


def test_pages_carry_a_strict_policy_and_the_session_token(client: Any, db: Path) -> None:
    run = trip_graph().run_sync({}, store=str(db))
    response = client.get(f"/runs/{run.run_id}")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy
    assert "frame-ancestors 'none'" in policy and "connect-src 'self'" in policy
    assert f'name="token" value="{TOKEN}"' in response.text


def test_a_page_asked_for_under_another_host_name_is_refused(client: Any, db: Path) -> None:
    # A page of another site whose name resolves to 127.0.0.1 (DNS rebinding) gets nothing.
    response = client.get("/", headers={"host": "evil.example:8000"})
    assert response.status_code == 400
    assert client.get("/", headers={"host": "localhost:8000"}).status_code == 200


# --- bad requests ------------------------------------------------------------------------------


def test_an_unknown_run_or_step_is_a_404_page_with_a_message(client: Any, db: Path) -> None:
    run = trip_graph().run_sync({}, store=str(db))
    missing = client.get("/runs/nope")
    assert missing.status_code == 404
    assert "there is no run &#x27;nope&#x27;" in problem(missing)
    no_step = client.get(f"/runs/{run.run_id}/step/9")
    assert no_step.status_code == 404 and "has no step 9; its steps are 0..2" in problem(no_step)
    bad_step = client.get(f"/runs/{run.run_id}/step/two")
    assert bad_step.status_code == 400 and "step must be a whole number" in problem(bad_step)
    assert client.get("/nowhere").status_code == 404
    assert client.get(f"/runs/{run.run_id}/fork").status_code == 405


def test_a_post_without_the_session_token_is_refused(client: Any, db: Path) -> None:
    run = signoff_graph().run_sync({"task": "t"}, store=str(db))
    for action, form in (
        ("fork", {"step": "1", "set.task": '"x"'}),
        ("resume", {"task_id": "2", "action": "approve"}),
        ("replay", {}),
    ):
        for token in ({}, {"token": "wrong"}):
            response = client.post(f"/runs/{run.run_id}/{action}", data={**form, **token})
            assert response.status_code == 403, action
            assert "session token" in problem(response)
    assert status_of(client.get(f"/runs/{run.run_id}").text) == "waiting"  # nothing happened
    header = client.post(f"/runs/{run.run_id}/replay", headers={"x-orchestrator-token": TOKEN})
    assert header.status_code == 200  # a script may send it as a header


def test_a_fork_with_a_bad_field_or_value_is_a_400_page_with_a_message(
    client: Any, db: Path
) -> None:
    run = trip_graph().run_sync({}, store=str(db))
    url = f"/runs/{run.run_id}/fork"
    unknown = client.post(url, data={"token": TOKEN, "step": "1", "set.speed": "3"})
    assert unknown.status_code == 400
    assert "&#x27;speed&#x27; is not a field of graph &#x27;trip&#x27;" in problem(unknown)
    bad_json = client.post(url, data={"token": TOKEN, "step": "1", "set.log": '["a",'})
    assert bad_json.status_code == 400
    assert "the value of &#x27;log&#x27; is not valid JSON" in problem(bad_json)
    invalid = client.post(url, data={"token": TOKEN, "step": "1", "set.log": '{"a": 1}'})
    assert invalid.status_code == 400 and "log" in problem(invalid)
    no_step = client.post(url, data={"token": TOKEN, "step": "7"})
    assert no_step.status_code == 404 and "no step 7" in problem(no_step)
    assert client.get("/").text.count("<tr data-run=") == 1  # no fork was made


# --- fork, answer, replay ---------------------------------------------------------------------


def test_a_fork_from_a_step_with_an_edit_is_a_new_run_under_its_parent(
    client: Any, db: Path
) -> None:
    parent = trip_graph().run_sync({"mode": "a"}, store=str(db))
    response = client.post(
        f"/runs/{parent.run_id}/fork",
        data={"token": TOKEN, "step": "1", "set.note": '"edited"', "set.mode": '"a"'},
        follow_redirects=False,
    )
    fork_id = redirected_run(response)
    page = wait_for(client, fork_id, "completed")
    assert f'href="/runs/{parent.run_id}">{parent.run_id}</a> at step 1' in page
    assert "&quot;note&quot;: &quot;edited&quot;" in page  # the edit is in its state
    assert fork_id in client.get(f"/runs/{parent.run_id}").text  # listed among the forks


def test_a_fork_whose_edit_changes_the_route_takes_the_new_route(client: Any, db: Path) -> None:
    parent = trip_graph().run_sync({"mode": "a"}, store=str(db))
    response = client.post(
        f"/runs/{parent.run_id}/fork",
        data={"token": TOKEN, "step": "1", "set.mode": '"b"'},
        follow_redirects=False,
    )
    page = wait_for(client, redirected_run(response), "completed")
    # Edits re-evaluate the edges of the step's nodes: plan now routes to right.
    assert 'id="run-path">plan → right<' in page


@pytest.mark.parametrize(
    ("form", "decision", "result"),
    [
        ({"action": "approve"}, "approve", "done: 1. ship"),
        ({"action": "reject"}, "reject", "to revise: reject"),
        ({"action": "answer", "value": "add a rollback step"}, "add a rollback step", "to revise"),
    ],
    ids=["approve", "reject", "edit"],
)
def test_a_waiting_run_is_answered_from_its_page(
    client: Any, db: Path, form: dict[str, str], decision: str, result: str
) -> None:
    run = signoff_graph().run_sync({"task": "ship"}, store=str(db))
    page = client.get(f"/runs/{run.run_id}").text
    assert "Approve this plan?\n1. ship\n2. check it" in page  # the whole request
    task_id = re.search(r'name="task_id" value="(\d+)"', page)
    assert task_id is not None
    response = client.post(
        f"/runs/{run.run_id}/resume",
        data={"token": TOKEN, "task_id": task_id.group(1), **form},
        follow_redirects=False,
    )
    assert redirected_run(response) == run.run_id
    done = wait_for(client, run.run_id, "completed")
    assert f"&quot;decision&quot;: &quot;{decision}&quot;" in done
    assert result in done


def test_answering_a_run_that_does_not_wait_is_a_409_page(client: Any, db: Path) -> None:
    run = trip_graph().run_sync({}, store=str(db))
    response = client.post(
        f"/runs/{run.run_id}/resume", data={"token": TOKEN, "task_id": "1", "action": "approve"}
    )
    assert response.status_code == 409 and "it is completed" in problem(response)
    again = client.post(f"/runs/{run.run_id}/resume", data={"token": TOKEN, "action": "continue"})
    assert again.status_code == 409 and "already completed" in problem(again)
    waiting = signoff_graph().run_sync({"task": "t"}, store=str(db))
    empty = client.post(
        f"/runs/{waiting.run_id}/resume",
        data={"token": TOKEN, "task_id": "2", "action": "answer", "value": " "},
    )
    assert empty.status_code == 400 and "write an answer first" in problem(empty)


def test_a_run_paused_at_a_breakpoint_continues_from_its_page(db: Path) -> None:
    graph = trip_graph()
    run = graph.run_sync({}, store=str(db), interrupt_after=["plan"])
    with open_client(db, graph) as client:
        page = client.get(f"/runs/{run.run_id}").text
        assert 'id="wait-breakpoint"' in page and 'id="continue"' in page
        client.post(f"/runs/{run.run_id}/resume", data={"token": TOKEN, "action": "continue"})
        assert 'id="run-path">plan → left<' in wait_for(client, run.run_id, "completed")


def test_a_failed_run_resumes_from_its_page(db: Path) -> None:
    calls = {"n": 0}

    def flaky(state: Trip) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError(f"flaky {HOSTILE}")
        return {"log": "ok"}

    g = Graph(Trip, name="flaky").add_node("flaky", flaky)
    graph = g.add_edge(START, "flaky").add_edge("flaky", END).compile()
    run = graph.run_sync({}, store=str(db), raise_on_error=False)
    with open_client(db, graph) as client:
        page = client.get(f"/runs/{run.run_id}").text
        assert status_of(page) == "failed" and 'id="resume"' in page
        assert "flaky &lt;script&gt;" in page  # the error, escaped
        client.post(f"/runs/{run.run_id}/resume", data={"token": TOKEN, "action": "continue"})
        wait_for(client, run.run_id, "completed")


def test_a_recorded_replay_matches_when_the_code_is_the_same(client: Any, db: Path) -> None:
    run = scorer_graph().run_sync({"text": "hello"}, store=str(db))
    page = client.post(f"/runs/{run.run_id}/replay", data={"token": TOKEN}).text
    assert 'id="replay-verdict">matched the original at every one of its 2 steps' in page


def test_a_recorded_replay_with_changed_code_shows_where_it_diverged(db: Path) -> None:
    run = scorer_graph(factor=1).run_sync({"text": "hello"}, store=str(db))
    with open_client(db, scorer_graph(factor=10)) as client:  # the code changed since
        response = client.post(f"/runs/{run.run_id}/replay", data={"token": TOKEN})
    page = response.text
    assert response.status_code == 200
    assert 'id="replay-verdict">diverged at step 1 (update)' in page
    assert '<tr data-step="1" class="diverged">' in page
    assert '<pre id="expected">score wrote {&quot;score&quot;: 5}</pre>' in page
    assert '<pre id="actual">score wrote {&quot;score&quot;: 50}</pre>' in page


def test_a_run_without_a_known_graph_shows_its_record_and_says_what_to_do(db: Path) -> None:
    run = trip_graph().run_sync({}, store=str(db))
    with open_client(db) as client:  # no graph given, and the run records no source
        response = client.get(f"/runs/{run.run_id}")
        assert response.status_code == 200
        assert "start the UI with --graph module:attribute" in response.text
        replay = client.post(f"/runs/{run.run_id}/replay", data={"token": TOKEN})
        assert replay.status_code == 409


# --- live updates ------------------------------------------------------------------------------


def events_of(client: Any, run_id: str) -> list[tuple[str, Any]]:
    """The server-sent events of a run's page, until the server ends the stream."""
    out: list[tuple[str, Any]] = []
    with client.stream("GET", f"/runs/{run_id}/live") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind is not None:
                out.append((kind, json.loads(line.removeprefix("data: "))))
    return out


def test_the_live_stream_of_a_finished_run_sends_it_once_and_ends(client: Any, db: Path) -> None:
    run = trip_graph().run_sync({}, store=str(db))
    events = events_of(client, run.run_id)
    assert [kind for kind, _ in events] == ["run", "end"]
    assert events[0][1]["status"] == "completed" and events[0][1]["last_step"] == 2
    assert set(events[0][1]["parts"]) == {"run-header", "diagram", "run-details"}


def test_the_live_stream_follows_a_running_run_step_by_step(db: Path) -> None:
    entered, gate = threading.Event(), threading.Event()
    graph = gated_graph(entered, gate)
    worker = threading.Thread(
        target=graph.run_sync, args=({},), kwargs={"store": str(db), "run_id": "live1"}
    )
    worker.start()
    try:
        assert entered.wait(10)
        with open_client(db, graph) as client:
            page = client.get("/runs/live1").text
            assert status_of(page) == "running" and 'data-live="1"' in page
            listed = client.get("/", params={"part": "table"})
            assert listed.headers["x-live"] == "1" and 'data-status="running"' in listed.text
            threading.Timer(0.4, gate.set).start()
            events = events_of(client, "live1")
    finally:
        gate.set()
        worker.join(10)
    statuses = [data["status"] for kind, data in events if kind == "run"]
    assert statuses[0] == "running" and statuses[-1] == "completed"
    first, last = events[0][1]["parts"]["diagram"], events[-2][1]["parts"]["diagram"]
    assert re.search(r'class="node code dimmed"[^>]*>\s*<title>second<', first)
    assert re.search(r'class="node code visited"[^>]*>\s*<title>second<', last)  # lit up
    assert events[-1] == ("end", "completed")


# --- the command -------------------------------------------------------------------------------


def test_the_ui_command_is_listed_and_the_cli_starts_without_the_web_stack() -> None:
    code = (
        "import sys, orchestrator.cli; "
        "print(sorted(m for m in ('starlette', 'uvicorn', 'orchestrator.ui') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "[]"
    listed = subprocess.run(
        [sys.executable, "-c", "from orchestrator.cli import main; main()", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert " ui " in listed.stdout or "\n  ui" in listed.stdout, listed.stdout + listed.stderr


def test_the_ui_command_on_a_port_in_use_is_bad_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: Path
) -> None:
    from orchestrator.cli import main

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = str(taken.getsockname()[1])
    monkeypatch.setattr(sys, "argv", ["orchestrator", "ui", "--store", str(db), "--port", port])
    try:
        with pytest.raises(SystemExit) as done:
            main()
    finally:
        taken.close()
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert f"cannot serve on 127.0.0.1:{port}" in err and "another --port" in err


# --- the same pages over PostgreSQL ------------------------------------------------------------


@pytest.mark.postgres
def test_the_pages_and_actions_work_over_a_postgres_store(request: pytest.FixtureRequest) -> None:
    """List, open, fork with a route-changing edit, and answer a waiting run, on a store
    shared with other processes (PostgreSQL) instead of a SQLite file."""
    from orchestrator.store.postgres import PostgresStore

    server = request.getfixturevalue("pg")
    url = server.create_database("ui_postgres")
    parent = trip_graph().run_sync({"mode": "a", "note": HOSTILE}, store=url)
    waiting = signoff_graph().run_sync({"task": "ship"}, store=url)
    app = create_app(
        PostgresStore(url), graphs=[trip_graph(), signoff_graph()], token=TOKEN, close_store=True
    )
    with TestClient(app, base_url="http://127.0.0.1") as client:
        listing = client.get("/").text
        assert parent.run_id in listing and waiting.run_id in listing
        page = client.get(f"/runs/{parent.run_id}").text
        assert status_of(page) == "completed" and HOSTILE not in page
        response = client.post(
            f"/runs/{parent.run_id}/fork",
            data={"token": TOKEN, "step": "1", "set.mode": '"b"'},
            follow_redirects=False,
        )
        forked = wait_for(client, redirected_run(response), "completed")
        assert 'id="run-path">plan → right<' in forked
        task_id = re.search(
            r'name="task_id" value="(\d+)"', client.get(f"/runs/{waiting.run_id}").text
        )
        assert task_id is not None
        response = client.post(
            f"/runs/{waiting.run_id}/resume",
            data={"token": TOKEN, "task_id": task_id.group(1), "action": "approve"},
            follow_redirects=False,
        )
        assert redirected_run(response) == waiting.run_id
        answered = wait_for(client, waiting.run_id, "completed")
        assert "done: 1. ship" in answered
