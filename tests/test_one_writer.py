"""One writer per run, on every store: a run's driver holds its lease (owner, epoch, expiry),
taken before it touches the run and checked with every write; a second driver is refused at
once by name; a lease whose owner is gone is taken over; leases end when runs stop. Also: a
locked SQLite file does not stall the event loop, and a duplicate run id is its own error."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest
from pydantic import BaseModel

from orchestrator import (
    END,
    START,
    Graph,
    RunBusyError,
    RunExistsError,
    RunNotFoundError,
    RunStatus,
)
from orchestrator.records import Checkpoint, RunRecord
from orchestrator.store import SQLiteStore, Store
from orchestrator.store.lease import owner_gone
from tests import writer_worker
from tests.conftest import STORE_KINDS, make_store

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll ``probe`` until it returns something truthy; the deadline only stops a hang."""
    deadline = time.monotonic() + 60
    while not (value := await probe()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.02)
    return value


def where(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A store another process can open: a SQLite path or a PostgreSQL URL."""
    if kind == "sqlite":
        return str(tmp_path / "runs.db")
    server = request.getfixturevalue("pg")
    return str(server.create_database(f"writer_{tmp_path.name[-20:]}".replace("-", "_")))


def worker(
    store: str, run_id: str, env: dict[str, str], command: str = "resume"
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.writer_worker", command, store, run_id],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def opened(store: str) -> Store:
    if store.startswith("postgresql://"):
        from orchestrator.store.postgres import PostgresStore

        return PostgresStore(store)
    return SQLiteStore(store)


WRITER_STORES = [k for k in STORE_KINDS if k != "memory"]


async def inside_work(files: dict[str, str], pid: int) -> bool:
    """Whether process ``pid`` is inside the `work` node (it records its start there)."""
    return ("work started", pid) in writer_worker.effects(files["EFFECTS"])


@pytest.mark.parametrize("kind", WRITER_STORES)
async def test_two_processes_resuming_one_run_at_once_one_drives_the_other_is_refused(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = where(kind, tmp_path, request)
    paused = await writer_worker.graph().run(store=store, run_id="job-1")
    assert paused.status is RunStatus.WAITING
    files = {
        "EFFECTS": str(tmp_path / "effects.db"),
        "RELEASE": str(tmp_path / "release"),
        "GO": str(tmp_path / "go"),
    }
    both = [worker(store, "job-1", files), worker(store, "job-1", files)]
    Path(files["GO"]).touch()  # both start resuming at the same moment
    # One is refused at once; the other holds the run inside `work` until released.
    refused = await eventually(
        lambda: asyncio.sleep(0, next((p for p in both if p.poll() is not None), None)),
        "one of the two to be refused",
    )
    out, err = refused.communicate()
    assert refused.returncode == 3, err
    answer = json.loads(out)
    assert answer["error"] == "RunBusyError"
    assert "is being driven by" in answer["message"] and "pid" in answer["message"]
    Path(files["RELEASE"]).touch()
    (driver,) = [p for p in both if p is not refused]
    out, err = driver.communicate(timeout=60)
    assert driver.returncode == 0, err
    assert json.loads(out) == {"status": "completed", "done": "ship it (yes)"}
    ran = Counter(node for node, _ in writer_worker.effects(files["EFFECTS"]))
    assert ran == {"work started": 1, "work": 1}  # no node ran twice
    s = opened(store)
    record = await s.get_run("job-1")
    assert record.status == "completed" and "pid" in (record.owner or "")  # its last driver
    assert await s.holder("job-1") == (None, None)  # released at the stop
    assert await s.path("job-1") == ["plan", "approve", "work"]
    await s.close()


@pytest.mark.parametrize("kind", WRITER_STORES)
async def test_a_killed_drivers_run_is_taken_over_and_each_node_runs_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    store = where(kind, tmp_path, request)
    await writer_worker.graph().run(store=store, run_id="job-2")
    files = {"EFFECTS": str(tmp_path / "effects.db"), "RELEASE": str(tmp_path / "release")}
    doomed = worker(store, "job-2", files)
    await eventually(lambda: inside_work(files, doomed.pid), "the first driver in `work`")
    s = opened(store)
    held, left = await s.holder("job-2")
    assert held is not None and f"pid {doomed.pid}" in held and left is not None
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait()
    assert (await s.get_run("job-2")).status == "running"  # as a dead process leaves it
    assert owner_gone(held)
    from tests.test_cli import cli

    code, out, _ = await asyncio.to_thread(cli, capsys, "runs", "--store", store)
    assert code == 0 and "running (its driver is gone)" in out
    # Its pid is dead on this machine: the lease is taken over at once, not after it expires.
    Path(files["RELEASE"]).touch()
    os.environ["EFFECTS"] = files["EFFECTS"]
    try:
        done = await writer_worker.graph().resume("job-2", store=s)
    finally:
        del os.environ["EFFECTS"]
    assert done.status is RunStatus.COMPLETED
    ran = [node for node, pid in writer_worker.effects(files["EFFECTS"]) if node == "work"]
    assert ran == ["work"]  # the killed driver never finished it; the new one did, once
    assert await s.holder("job-2") == (None, None)
    await s.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
async def test_a_live_lease_of_another_machine_refuses_until_it_expires(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = make_store(kind, tmp_path, request)
    graph = writer_worker.graph()
    await graph.run(store=store, run_id="job-3")
    lease = await store.acquire("job-3", "far-away pid 1 #abcdef", ttl=0.5)
    assert lease is not None and lease.epoch >= 1
    with pytest.raises(RunBusyError, match=r"being driven by far-away pid 1 #abcdef") as caught:
        await graph.resume("job-3", "yes", store=store)
    assert caught.value.run_id == "job-3"
    assert (await store.get_run("job-3")).status == "waiting"  # untouched
    assert await store.resumes("job-3") == {}  # not even the answer was kept
    # Its writes stay fenced by epoch while it is held, and are refused once it moved on.
    await eventually(
        lambda: store.acquire("job-3", "here pid 2 #123456", ttl=30), "the lease to expire"
    )
    from orchestrator import LeaseLostError

    with pytest.raises(LeaseLostError):
        await store.update_run("job-3", fence=lease, error="a late write")
    assert (await store.get_run("job-3")).error is None
    await store.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
async def test_two_drivers_in_one_process_are_refused_too(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = make_store(kind, tmp_path, request)
    gate = asyncio.Event()

    class S(BaseModel):
        n: int = 0

    async def slow(state: S) -> dict[str, Any]:
        await gate.wait()
        return {"n": state.n + 1}

    g = Graph(S, name="slow").add_node("slow", slow).add_edge(START, "slow").add_edge("slow", END)
    graph = g.compile()
    first = asyncio.create_task(graph.run(store=store, run_id="one"))
    await eventually(lambda: held_by(store, "one"), "the first run to hold its lease")
    with pytest.raises(RunBusyError):
        await graph.resume("one", store=store)
    gate.set()
    assert (await first).state.n == 1
    assert await store.holder("one") == (None, None)
    await store.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
async def test_a_run_id_that_exists_is_its_own_error(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = make_store(kind, tmp_path, request)
    graph = writer_worker.graph()
    await graph.run(store=store, run_id="twice")
    with pytest.raises(RunExistsError, match="run 'twice' already exists") as caught:
        await graph.run(store=store, run_id="twice")
    assert "corrupt" not in str(caught.value)
    assert (await store.get_run("twice")).status == "waiting"  # the first run is untouched
    await store.close()


@pytest.mark.postgres
async def test_a_host_then_a_person_then_no_second_claim(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A run host drives a run to `waiting`; a person resumes it from another driver; the
    host, claiming again and again meanwhile, never takes it: each node runs once."""
    from orchestrator.cluster.hosts import RunHost
    from orchestrator.cluster.submit import submit
    from orchestrator.store.postgres import PostgresStore

    url = where("postgres", tmp_path, request)
    files = {"EFFECTS": str(tmp_path / "effects.db"), "RELEASE": str(tmp_path / "release")}
    os.environ.update(files)
    store = PostgresStore(url)
    host = RunHost(url, name="claimer", ttl=0.5, poll=0.02)
    await host.start()
    try:
        run_id = await submit(
            writer_worker.graph(), store=store, source="tests.writer_worker:graph"
        )
        await eventually(
            lambda: _status(store, run_id, "waiting"), "the host to drive the run to waiting"
        )
        assert await store.holder(run_id) == (None, None)  # the host let go at the stop
        person = PostgresStore(url)
        resumed = asyncio.create_task(writer_worker.graph().resume(run_id, "yes", store=person))
        await eventually(lambda: inside_work(files, os.getpid()), "the person's resume in `work`")
        # Several of the host's lease lengths and claim rounds pass while the person holds it.
        for _ in range(3):
            await asyncio.sleep(0.5)
            assert (await host.status())["running"] == []
        Path(files["RELEASE"]).touch()
        done = await resumed
        await person.close()
    finally:
        for key in files:
            os.environ.pop(key, None)
        await host.stop()
    assert done.status is RunStatus.COMPLETED
    ran = Counter(node for node, _ in writer_worker.effects(files["EFFECTS"]))
    assert ran == {"plan": 1, "work started": 1, "work": 1}
    await store.close()


async def held_by(store: Store, run_id: str) -> str | None:
    try:
        return (await store.holder(run_id))[0]
    except RunNotFoundError:
        return None  # not created yet


async def _status(store: Store, run_id: str, status: str) -> bool:
    return (await store.get_run(run_id)).status == status


# --- SQLite off the event loop ---------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time, pathlib
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
pathlib.Path(sys.argv[2]).touch()
time.sleep(2)
db.execute("COMMIT")
"""


async def test_a_file_locked_by_another_process_for_2_s_does_not_stall_other_runs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    store = SQLiteStore(path)

    class Loop(BaseModel):
        n: int = 0

    def inc(state: Loop) -> dict[str, Any]:
        return {"n": state.n + 1}

    async def paced(state: Loop) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return {"n": state.n + 1}

    def again(state: Loop) -> Literal["inc", "__end__"]:
        return "inc" if state.n < 3 else "__end__"

    def more(state: Loop) -> Literal["paced", "__end__"]:
        return "paced" if state.n < 40 else "__end__"

    stored = Graph(Loop, name="stored").add_node("inc", inc).add_edge(START, "inc")
    stored = stored.add_route("inc", again).compile()
    free = Graph(Loop, name="free").add_node("paced", paced).add_edge(START, "paced")
    free = free.add_route("paced", more).compile()

    locked = tmp_path / "locked"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path), str(locked)])
    try:
        await eventually(lambda: asyncio.sleep(0, locked.exists()), "the lock to be taken")
        finished: list[str] = []

        async def run(graph: Any, name: str, **kw: Any) -> None:
            result = await graph.run(**kw)
            assert result.status is RunStatus.COMPLETED
            finished.append(name)

        # The stored run waits for the lock (in the store's worker thread); the other run
        # keeps stepping meanwhile, and so finishes first.
        await asyncio.gather(run(stored, "stored", store=store), run(free, "free"))
    finally:
        holder.wait(timeout=30)
    assert finished == ["free", "stored"]
    assert [r.status for r in await store.list_runs()] == ["completed"]
    await store.close()


# --- a store with many runs opens as fast as an empty one -----------------------------------


def test_opening_reads_no_rows(tmp_path: Path) -> None:
    """Opening a store checks its header and schema, not its rows: a store whose checkpoints
    are damaged past the first page still opens (the damage is named when a run is read)."""
    path = tmp_path / "runs.db"
    store = SQLiteStore(path)
    record = RunRecord(run_id="r", graph="g", graph_hash="h", status="completed")
    asyncio.run(store.create_run(record, Checkpoint("r", 0, snapshot=None)))
    asyncio.run(store.close())
    traced: list[str] = []
    db = sqlite3.connect(path)
    db.close()
    original = sqlite3.connect

    def tracing(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = original(*args, **kwargs)
        conn.set_trace_callback(traced.append)
        return conn

    sqlite3.connect = tracing  # type: ignore[assignment]
    try:
        reopened = SQLiteStore(path)
    finally:
        sqlite3.connect = original  # type: ignore[assignment]
    asyncio.run(reopened.close())
    touched = [q for q in traced if "checkpoints" in q and "CREATE" not in q]
    assert touched == []
    assert not any("FROM runs" in q for q in traced)


# --- a PostgreSQL restart mid-run ------------------------------------------------------------


@pytest.mark.postgres
async def test_a_postgres_restart_mid_run_loses_nothing_and_resume_completes(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The server goes down while a node runs: the run stops `interrupted` (resumable, not
    failed, with the store named); once the server is back, resume completes it from its
    last checkpoint, and the steps that were checkpointed do not run again."""
    from orchestrator import durable
    from orchestrator.errors import StoreUnavailableError
    from orchestrator.store.postgres import PostgresStore
    from tests import pg_server

    request.getfixturevalue("pg")  # skips when PostgreSQL is not installed
    server = pg_server.start()  # its own server: this test stops it
    monkeypatch.setattr(durable, "STORE_RETRY_DELAYS", (0.05, 0.1))
    try:
        store = PostgresStore(server.create_database("restarted"))
        calls: Counter[str] = Counter()

        class Trail(BaseModel):
            trail: list[str] = []

        def node(name: str) -> Any:
            def run(state: Trail) -> dict[str, Any]:
                calls[name] += 1
                if name == "b" and calls[name] == 1:
                    server.halt()  # the server goes away while b runs
                return {"trail": [*state.trail, name]}

            return run

        g = Graph(Trail, name="restart")
        for name in "abc":
            g.add_node(name, node(name))
        graph = g.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", END)
        compiled = graph.compile()
        stopped = await compiled.run(store=store, raise_on_error=False)
        assert stopped.status is RunStatus.INTERRUPTED
        assert isinstance(stopped.error, StoreUnavailableError)
        assert "postgresql://" in str(stopped.error)
        server.start_again()
        assert (await store.get_run(stopped.run_id)).status == "running"  # never marked failed
        done = await compiled.resume(stopped.run_id, store=store)
        assert done.status is RunStatus.COMPLETED
        assert done.state.trail == ["a", "b", "c"] and done.path == ["a", "b", "c"]
        # a's step was kept; b's write was lost with the server, so b ran again (at least once)
        assert calls == {"a": 1, "b": 2, "c": 1}
        assert (await compiled.load(stopped.run_id, store=store)).state == done.state
        await store.close()
    finally:
        server.stop()
