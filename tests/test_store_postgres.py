"""The PostgreSQL store against a real server: the same contract as SQLite, runs through the
engine (resume, playback, fork), run leases with fencing and takeover, claiming with SKIP
LOCKED, and bad input. One throwaway server per module (tests/pg_server.py)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import psycopg
import pytest
from pydantic import BaseModel

from orchestrator import (
    END,
    START,
    Context,
    Graph,
    LeaseLostError,
    RunNotFoundError,
    RunStatus,
    StoreError,
    append,
)
from orchestrator.durable import Persister, load, resumable
from orchestrator.records import (
    SCHEMA_VERSION,
    Checkpoint,
    PendingWrite,
    RunRecord,
    Snapshot,
    TaskRecord,
)
from orchestrator.run import RunState
from orchestrator.store import SQLiteStore, open_store
from orchestrator.store.postgres import Lease, PostgresStore
from tests import pg_server

pytestmark = pytest.mark.postgres

TTL = 0.5  # seconds: short, so takeovers happen quickly; never asserted as a duration
T = TypeVar("T")
_names = itertools.count()


@pytest.fixture(scope="module")
def server(pg: pg_server.PgServer) -> pg_server.PgServer:
    """The session's PostgreSQL server (tests/conftest.py)."""
    return pg


@pytest.fixture(scope="module")
def shared_url(server: pg_server.PgServer) -> str:
    """One database for the tests that only touch their own runs."""
    return server.create_database("shared")


@pytest.fixture
def fresh_url(server: pg_server.PgServer) -> str:
    """An empty database, for tests that look at every run or at the schema."""
    return server.create_database(f"fresh{next(_names)}")


@pytest.fixture
async def store(shared_url: str) -> AsyncIterator[PostgresStore]:
    opened = PostgresStore(shared_url)
    yield opened
    await opened.close()


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll ``probe`` until it returns something truthy; the deadline only stops a hang."""
    deadline = time.monotonic() + 30
    while not (value := await probe()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.05)
    return value


async def sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Look at (or tamper with) the database directly, beside the store."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(query, params or None)
        return await cur.fetchall() if cur.description else []


# --- records for the store-level tests --------------------------------------------------------


def new_run(run_id: str, *, status: str = "running", created: float = 1.0) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        graph="g",
        graph_hash="h",
        status=status,
        created=created,
        updated=created,
        owner="pid 1",
    )


def step0(run_id: str) -> Checkpoint:
    snapshot = Snapshot(state={"n": 0}, visits={}, edge_counts=[])
    return Checkpoint(run_id=run_id, step=0, snapshot=snapshot, tasks=[TaskRecord(node="a", id=1)])


def step(run_id: str, number: int, node: str = "a") -> Checkpoint:
    return Checkpoint(run_id=run_id, step=number, writes=[(node, {"n": number})], ran=[node])


async def create(store: PostgresStore, run_id: str, **options: Any) -> str:
    await store.create_run(new_run(run_id, **options), step0(run_id))
    return run_id


# --- the store contract ------------------------------------------------------------------------


async def exercise(store: Any) -> dict[str, Any]:
    """The same calls on any store; what it reads back."""
    first = step0("r1")
    await store.create_run(new_run("r1"), first)
    size = await store.save_step(
        Checkpoint(
            run_id="r1",
            step=1,
            writes=[("a", {"n": 1, "text": "nul \x00 and ünïcode"})],
            ran=["a"],
            edges=[("a", "b", "direct", None), ("a", "c", "direct", None)],
            tasks=[TaskRecord(node="b", id=2), TaskRecord(node="c", id=3)],
        ),
        [{"type": "ModelCalled", "step": 1, "n": 1}, {"type": "AgentItem", "step": 1}],
    )
    await store.save_pending(PendingWrite(run_id="r1", step=2, task_id=2, update={"n": 20}))
    await store.save_pending(PendingWrite(run_id="r1", step=2, task_id=2, update={"n": 21}))
    await store.save_pending(PendingWrite(run_id="r1", step=2, task_id=3, attempt=2))
    await store.save_events("r1", 2, [{"type": "Interrupted", "request": "ok?"}])
    await store.save_events("r1", 2, [])
    await store.add_resume("r1", 3, {"answer": "yes"})
    await store.add_resume("r1", 3, {"answer": "and again", "asked": None})
    await store.add_resume("r1", 2, {"answer": None})
    snap = Snapshot(state={"n": 2}, visits={"a": 2}, edge_counts=[("a", "a", 1)])
    await store.save_step(
        Checkpoint(run_id="r1", step=2, writes=[("a", {"n": 2})], ran=["b", "c"], snapshot=snap),
        [],
    )
    await store.update_run(
        "r1",
        status="waiting",
        waiting=[{"task_id": 3, "node": "c", "request": {"q": "ok?"}}],
        error=None,
        updated=50.0,
    )
    await store.create_run(new_run("r2", status="completed", created=2.0), step0("r2"))
    await store.update_run("r2", updated=40.0)
    return {
        "size": size,
        "run": (await store.get_run("r1")).model_dump(),
        "all": await store.checkpoints("r1", from_snapshot=False),
        "latest": await store.checkpoints("r1"),
        "path": await store.path("r1"),
        "pending": await store.pending("r1", 2),
        "no pending": await store.pending("r1", 3),
        "resumes": await store.resumes("r1"),
        "events": await store.events("r1"),
        "listed": [(r.run_id, r.status) for r in await store.list_runs()],
        "first listed": [r.run_id for r in await store.list_runs(limit=1)],
    }


async def test_every_store_call_reads_back_what_sqlite_reads_back(
    fresh_url: str, tmp_path: Path
) -> None:
    sqlite = SQLiteStore(tmp_path / "runs.db")
    postgres = PostgresStore(fresh_url)
    try:
        expected = await exercise(sqlite)
        got = await exercise(postgres)
    finally:
        await sqlite.close()
        await postgres.close()
    assert got == expected
    assert got["path"] == ["a", "b", "c"]
    assert [c.step for c in got["latest"]] == [2]  # from the latest full snapshot on
    assert got["resumes"] == {
        2: [{"answer": None}],
        3: [{"answer": "yes"}, {"answer": "and again", "asked": None}],
    }
    assert got["listed"] == [("r1", "waiting"), ("r2", "completed")]


async def test_reads_and_writes_of_an_unknown_run_name_it_and_the_database(
    store: PostgresStore,
) -> None:
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: store.get_run("nope"),
        lambda: store.checkpoints("nope"),
        lambda: store.path("nope"),
        lambda: store.pending("nope", 1),
        lambda: store.resumes("nope"),
        lambda: store.events("nope"),
        lambda: store.save_step(step("nope", 1), []),
        lambda: store.save_pending(PendingWrite(run_id="nope", step=1, task_id=1)),
        lambda: store.save_events("nope", 1, [{"type": "Interrupted"}]),
        lambda: store.add_resume("nope", 1, "yes"),
        lambda: store.update_run("nope", status="failed"),
    ]
    for call in calls:
        with pytest.raises(RunNotFoundError, match="no run 'nope' in postgresql://.*/shared"):
            await call()


async def test_a_run_id_that_exists_already_is_refused(store: PostgresStore) -> None:
    await create(store, "twice")
    with pytest.raises(StoreError, match="run 'twice' already exists"):
        await create(store, "twice")


async def test_open_store_maps_a_postgresql_url_to_this_store(shared_url: str) -> None:
    opened = open_store(shared_url)
    assert isinstance(opened, PostgresStore)
    assert opened.where == shared_url  # no password in it to hide
    await opened.close()


def test_a_store_outlives_the_event_loop_that_opened_it(shared_url: str) -> None:
    store = PostgresStore(shared_url)
    asyncio.run(create(store, "two-loops"))
    # Another loop (a second asyncio.run in a script) reconnects instead of failing.
    assert asyncio.run(store.get_run("two-loops")).run_id == "two-loops"
    asyncio.run(store.close())


async def test_stores_opening_an_empty_database_at_once_all_succeed(fresh_url: str) -> None:
    stores = [PostgresStore(fresh_url) for _ in range(4)]
    try:
        listed = await asyncio.gather(*(s.list_runs() for s in stores))
    finally:
        for s in stores:
            await s.close()
    assert listed == [[]] * 4
    assert await sql(fresh_url, "SELECT key, value FROM meta ORDER BY key") == [
        ("application", "orchestrator"),
        ("schema_version", str(SCHEMA_VERSION)),
    ]


# --- runs through the engine -------------------------------------------------------------------


class Story(BaseModel):
    n: int = 0
    log: Annotated[list[str], append] = []
    answer: str = ""


def story_graph(effects: list[str]) -> Any:
    def inc(state: Story) -> dict[str, Any]:
        effects.append("inc")
        return {"n": state.n + 1, "log": f"inc{state.n}"}

    def again(state: Story) -> Literal["inc", "ask"]:
        return "inc" if state.n < 3 else "ask"

    def ask(state: Story, ctx: Context[None]) -> dict[str, Any]:
        return {"answer": ctx.interrupt({"question": "ship it?", "n": state.n})}

    g = Graph(Story, name="story").add_node("inc", inc).add_node("ask", ask)
    g.add_edge(START, "inc").add_route("inc", again).add_edge("ask", END)
    return g.compile()


async def test_a_run_pauses_resumes_plays_back_and_forks(shared_url: str) -> None:
    effects: list[str] = []
    compiled = story_graph(effects)
    first_host = PostgresStore(shared_url)
    paused = await compiled.run(store=first_host)
    await first_host.close()
    assert paused.status is RunStatus.WAITING
    assert paused.path == ["inc", "inc", "inc"]

    # Resumed from the database alone, by another store (as another process would).
    store = PostgresStore(shared_url)
    record = await store.get_run(paused.run_id)
    assert record.status == "waiting"
    assert record.waiting[0]["request"] == {"question": "ship it?", "n": 3}
    done = await compiled.resume(paused.run_id, "yes", store=store)
    assert done.status is RunStatus.COMPLETED
    assert done.state.answer == "yes" and done.state.log == ["inc0", "inc1", "inc2"]
    assert effects == ["inc"] * 3  # nothing before the pause ran again
    assert await store.path(paused.run_id) == ["inc", "inc", "inc", "ask"]
    assert (await store.get_run(paused.run_id)).status == "completed"

    views = await compiled.playback(paused.run_id, store=store)
    assert [v.state.n for v in views] == [0, 1, 2, 3, 3]
    assert [v.ran for v in views] == [[], ["inc"], ["inc"], ["inc"], ["ask"]]

    fork = await compiled.fork(paused.run_id, 1, set={"n": 2}, store=store)
    assert fork.status is RunStatus.WAITING  # from n=2 one inc reaches the question again
    assert fork.path == ["inc", "inc"]
    forked = await store.get_run(fork.run_id)
    assert (forked.parent_run, forked.parent_step) == (paused.run_id, 1)
    assert (await store.get_run(paused.run_id)).status == "completed"  # the parent as it was
    loaded = await compiled.load(done.run_id, store=store)
    assert loaded.state == done.state and loaded.path == done.path
    await store.close()


async def test_resuming_an_unknown_run_names_it(store: PostgresStore) -> None:
    with pytest.raises(RunNotFoundError, match="no run 'nope' in postgresql://"):
        await story_graph([]).resume("nope", "yes", store=store)


# --- leases ------------------------------------------------------------------------------------


async def lease_expiry(url: str, run_id: str) -> Any:
    return (await sql(url, "SELECT lease_expires FROM runs WHERE run_id = %s", run_id))[0][0]


async def test_a_live_lease_keeps_others_out_until_it_expires(
    store: PostgresStore, shared_url: str
) -> None:
    run_id = await create(store, "lease-expiry")
    other = PostgresStore(shared_url)  # another host
    a = await store.acquire(run_id, "host-a", TTL)
    assert a == Lease(run_id, "host-a", 1, TTL)
    assert await other.acquire(run_id, "host-b", TTL) is None
    assert (await store.get_run(run_id)).owner == "host-a"

    before = await lease_expiry(shared_url, run_id)
    await store.heartbeat(a)
    assert await lease_expiry(shared_url, run_id) > before
    assert await other.acquire(run_id, "host-b", TTL) is None

    # A stops heartbeating: once the ttl has passed, B gets the run with the next epoch.
    b = await eventually(lambda: other.acquire(run_id, "host-b", TTL), "A's lease to expire")
    assert b.epoch == a.epoch + 1
    assert (await store.get_run(run_id)).owner == "host-b"
    with pytest.raises(LeaseLostError, match="'host-a' no longer holds the lease \\(epoch 1\\)"):
        await store.heartbeat(a)
    await other.heartbeat(b)
    await other.close()


async def test_a_writer_that_lost_its_lease_writes_nothing(
    store: PostgresStore, shared_url: str
) -> None:
    run_id = await create(store, "fenced")
    other = PostgresStore(shared_url)
    a = await store.acquire(run_id, "host-a", TTL)
    assert a is not None
    await store.save_step(step(run_id, 1), [{"type": "ModelCalled", "by": "a"}], fence=a)
    b = await eventually(lambda: other.acquire(run_id, "host-b", TTL), "A's lease to expire")

    with pytest.raises(LeaseLostError, match=f"run '{run_id}': 'host-a'"):
        await store.save_step(step(run_id, 2), [{"type": "ModelCalled", "by": "a"}], fence=a)
    with pytest.raises(LeaseLostError):
        await store.save_pending(PendingWrite(run_id=run_id, step=2, task_id=1), fence=a)
    with pytest.raises(LeaseLostError):
        await store.update_run(run_id, status="failed", fence=a)
    assert [c.step for c in await store.checkpoints(run_id, from_snapshot=False)] == [0, 1]
    assert await store.events(run_id) == [{"type": "ModelCalled", "by": "a"}]
    assert await store.pending(run_id, 2) == []
    assert (await store.get_run(run_id)).status == "running"

    # The new holder's writes go through.
    await other.save_step(step(run_id, 2, "b"), [{"type": "ModelCalled", "by": "b"}], fence=b)
    await other.save_pending(PendingWrite(run_id=run_id, step=3, task_id=1), fence=b)
    await other.update_run(run_id, status="completed", fence=b)
    assert await store.path(run_id) == ["a", "b"]
    assert [e["by"] for e in await store.events(run_id)] == ["a", "b"]
    assert len(await store.pending(run_id, 3)) == 1
    record = await store.get_run(run_id)
    assert (record.status, record.steps) == ("completed", 2)
    await other.close()


async def test_the_same_owner_acquires_again_with_a_new_epoch(store: PostgresStore) -> None:
    run_id = await create(store, "again")
    first = await store.acquire(run_id, "host-a", 30)
    second = await store.acquire(run_id, "host-a", 30)
    assert first is not None and second is not None
    assert second.epoch == first.epoch + 1
    with pytest.raises(LeaseLostError):  # the older incarnation is fenced off too
        await store.save_step(step(run_id, 1), [], fence=first)
    await store.save_step(step(run_id, 1), [], fence=second)


async def test_a_released_run_is_free_at_once_and_the_old_lease_cannot_write(
    store: PostgresStore, shared_url: str
) -> None:
    run_id = await create(store, "released")
    other = PostgresStore(shared_url)
    a = await store.acquire(run_id, "host-a", 30)  # would live 30 s without the release
    assert a is not None
    await store.release(a)
    assert await store.holder(run_id) == (None, None)  # its owner stays, as the last driver
    with pytest.raises(LeaseLostError):
        await store.save_pending(PendingWrite(run_id=run_id, step=1, task_id=1), fence=a)
    b = await other.acquire(run_id, "host-b", 30)
    assert b is not None and b.epoch == a.epoch + 1
    await store.release(a)  # releasing a lost lease does nothing
    assert (await store.get_run(run_id)).owner == "host-b"
    await other.close()


async def test_leasing_an_unknown_run_names_it(store: PostgresStore) -> None:
    with pytest.raises(RunNotFoundError, match="no run 'ghost'"):
        await store.acquire("ghost", "host-a", TTL)


class Work(BaseModel):
    done: Annotated[list[str], append] = []


def fan_graph(effects: list[str], starts: list[str], hold: asyncio.Event | None) -> Any:
    """prepare, then quick1, quick2 and slow in parallel, then a join. ``hold`` set: the slow
    branch waits on an event that never fires (its host is about to die)."""

    def work(name: str) -> Any:
        async def node(state: Work) -> dict[str, Any]:
            starts.append(name)
            effects.append(name)
            return {"done": name}

        return node

    async def slow(state: Work) -> dict[str, Any]:
        starts.append("slow")
        if hold is not None:
            await hold.wait()
        effects.append("slow")
        return {"done": "slow"}

    g = Graph(Work, name="takeover").add_node("prepare", work("prepare"))
    g.add_node("quick1", work("quick1")).add_node("quick2", work("quick2"))
    g.add_node("slow", slow).add_join("merge", work("merge"))
    g.add_edge(START, "prepare")
    for branch in ("quick1", "quick2", "slow"):
        g.add_edge("prepare", branch).add_edge(branch, "merge")
    g.add_edge("merge", END)
    return g.compile()


class LeasingPersister(Persister):
    """Creates the run (step 0), then takes its lease before any step is written: what a host
    does for a run it starts itself (the run must exist to be leased)."""

    def __init__(self, store: PostgresStore, graph: Any, owner: str) -> None:
        super().__init__(store, graph, fresh=True)
        self.leases, self.owner = store, owner

    async def started(self, rs: RunState) -> None:
        await super().started(rs)
        self.fence = await self.leases.acquire(rs.run_id, self.owner, TTL)
        assert self.fence is not None


class DyingPersister(LeasingPersister):
    """A host that dies: when its task is cancelled it writes nothing more (a cancelled run in
    a live process is marked interrupted; a dead process cannot)."""

    async def stopped(self, rs: RunState) -> None:
        return None


async def test_a_lease_takeover_after_the_first_writer_dies_reruns_no_finished_step(
    shared_url: str,
) -> None:
    effects: list[str] = []
    starts: list[str] = []
    host_a, host_b = PostgresStore(shared_url), PostgresStore(shared_url)
    run_id = "takeover-1"

    # Host A: prepare reaches its barrier, quick1 and quick2 finish (pending writes), slow
    # hangs; then A dies without a word.
    graph_a = fan_graph(effects, starts, hold=asyncio.Event())
    persister_a = DyingPersister(host_a, graph_a, "host-a")
    running = asyncio.create_task(
        graph_a.continue_run(graph_a.start(run_id=run_id), hooks=persister_a)
    )

    async def mid_step() -> bool:
        if "slow" not in starts:
            return False  # the run (and its row) may not even exist yet
        return len(await host_b.pending(run_id, 2)) == 2

    await eventually(mid_step, "A's quick branches to finish")
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    lease_a = persister_a.fence
    assert isinstance(lease_a, Lease)
    assert (await host_b.get_run(run_id)).status == "running"  # as a dead host leaves it

    # Host B: takes the run over once A's lease expires and resumes from the last checkpoint.
    lease_b = await eventually(lambda: host_b.acquire(run_id, "host-b", TTL), "A's lease to expire")
    assert lease_b.epoch == lease_a.epoch + 1
    graph_b = fan_graph(effects, starts, hold=None)
    rs, record = await load(host_b, graph_b, run_id)
    persister_b = Persister(host_b, graph_b, fresh=False, fence=lease_b)
    result = await graph_b.continue_run(resumable(rs, record), hooks=persister_b)

    assert result.status is RunStatus.COMPLETED
    assert sorted(result.state.done) == ["merge", "prepare", "quick1", "quick2", "slow"]
    assert Counter(effects) == dict.fromkeys(["prepare", "quick1", "quick2", "slow", "merge"], 1)
    assert starts.count("slow") == 2  # in flight when A died: runs again (at least once)
    assert starts.count("prepare") == 1 and starts.count("quick1") == 1
    record = await host_b.get_run(run_id)
    assert (record.status, record.owner) == ("completed", "host-b")
    assert sorted(await host_b.path(run_id)) == sorted(
        ["prepare", "quick1", "quick2", "slow", "merge"]
    )
    # A, back from the dead, is refused.
    with pytest.raises(LeaseLostError):
        await host_a.save_pending(PendingWrite(run_id=run_id, step=3, task_id=9), fence=lease_a)
    await host_a.close()
    await host_b.close()


# --- claiming ----------------------------------------------------------------------------------


async def test_two_concurrent_claimers_never_get_the_same_run(fresh_url: str) -> None:
    setup = PostgresStore(fresh_url)
    ids = {await create(setup, f"q{i}", status="queued", created=float(i)) for i in range(30)}
    await setup.close()
    hosts = [PostgresStore(fresh_url) for _ in range(2)]

    async def claim_all(host: PostgresStore, owner: str) -> list[str]:
        mine: list[str] = []
        while leases := await host.claim(owner, 30, limit=2):
            mine += [lease.run_id for lease in leases]
        return mine

    a, b = await asyncio.gather(claim_all(hosts[0], "host-a"), claim_all(hosts[1], "host-b"))
    for host in hosts:
        await host.close()
    assert set(a).isdisjoint(b)
    assert sorted(a + b) == sorted(ids)
    assert len(a) + len(b) == 30  # and nobody got a run twice


async def test_a_claimer_skips_a_run_another_claimer_has_locked(fresh_url: str) -> None:
    host = PostgresStore(fresh_url)
    await create(host, "older", status="queued", created=1.0)
    await create(host, "newer", status="queued", created=2.0)
    async with await psycopg.AsyncConnection.connect(fresh_url) as rival:
        # A claimer mid-transaction holds the oldest run's row lock.
        await rival.execute("SELECT 1 FROM runs WHERE run_id = 'older' FOR UPDATE")
        claimed = await host.claim("host-a", 30)
        await rival.rollback()
    assert [lease.run_id for lease in claimed] == ["newer"]  # not blocked, not the locked one
    assert [lease.run_id for lease in await host.claim("host-a", 30)] == ["older"]
    await host.close()


async def test_claim_takes_queued_and_abandoned_runs_only(fresh_url: str) -> None:
    host = PostgresStore(fresh_url)
    await create(host, "queued", status="queued", created=1.0)
    await create(host, "abandoned", status="running", created=2.0)
    await create(host, "alive", status="running", created=3.0)
    await create(host, "unleased", status="running", created=4.0)  # a plain local run
    await create(host, "done", status="completed", created=5.0)
    dying = await host.acquire("abandoned", "dead-host", 0.05)
    live = await host.acquire("alive", "busy-host", 30)
    assert dying is not None and live is not None

    async def expired() -> bool:
        rows = await sql(
            fresh_url, "SELECT lease_expires <= now() FROM runs WHERE run_id = %s", "abandoned"
        )
        return bool(rows[0][0])

    await eventually(expired, "the abandoned run's lease to expire")
    first = await host.claim("host-a", TTL, limit=10)
    assert [lease.run_id for lease in first] == ["queued", "abandoned"]  # oldest first
    taken = {lease.run_id: lease for lease in first}
    assert taken["abandoned"].epoch == dying.epoch + 1
    assert await host.claim("host-b", TTL, limit=10) == []  # both are held now
    waiting = await host.claim("host-b", TTL, statuses=("completed",))
    assert [lease.run_id for lease in waiting] == ["done"]
    await host.close()


# --- bad input ---------------------------------------------------------------------------------


async def test_no_server_at_the_url_is_a_readable_store_error() -> None:
    port = pg_server.free_port()
    store = PostgresStore(f"postgresql://app:s3cret@127.0.0.1:{port}/runs")
    with pytest.raises(StoreError) as caught:
        await store.list_runs()
    message = str(caught.value)
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}, database runs" in message
    assert "is the server running? check the URL" in message
    assert "s3cret" not in message and "s3cret" not in store.where


async def test_a_store_written_by_a_newer_version_is_refused(fresh_url: str) -> None:
    first = PostgresStore(fresh_url)
    await create(first, "old")
    await first.close()
    await sql(fresh_url, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    newer = PostgresStore(fresh_url)
    with pytest.raises(StoreError, match="newer orchestrator \\(store schema 99") as caught:
        await newer.get_run("old")
    assert fresh_url in str(caught.value) and "upgrade orchestrator" in str(caught.value)
    assert await sql(fresh_url, "SELECT value FROM meta WHERE key = 'schema_version'") == [("99",)]


async def test_another_applications_tables_are_refused_and_left_unchanged(
    fresh_url: str,
) -> None:
    await sql(fresh_url, "CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT)")
    store = PostgresStore(fresh_url)
    with pytest.raises(StoreError, match="no orchestrator meta row") as caught:
        await store.list_runs()
    assert fresh_url in str(caught.value)
    tables = await sql(
        fresh_url,
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    assert tables == [("runs",)]  # no meta, no other table was created


async def test_a_fence_that_is_not_a_lease_is_a_type_error(store: PostgresStore) -> None:
    run_id = await create(store, "bad-fence")
    with pytest.raises(TypeError, match="fence must be a Lease"):
        await store.save_step(step(run_id, 1), [], fence="host-a")


async def test_many_runs_checkpoints_go_together_each_fenced_on_its_own_lease(
    store: PostgresStore, shared_url: str
) -> None:
    """Group commit: the checkpoints of runs reaching a barrier together go to the server in
    one statement; a run whose lease moved on is refused alone, and a step written twice
    fails alone, the others' checkpoints land."""
    ids = [await create(store, f"group-{i}-{time.time_ns()}") for i in range(6)]
    leases = [await store.acquire(run_id, f"host-{i}", 30) for i, run_id in enumerate(ids)]
    assert all(lease is not None for lease in leases)
    thief = PostgresStore(shared_url)
    await store.release(leases[2])  # type: ignore[arg-type]
    assert await thief.acquire(ids[2], "thief", 30) is not None
    singles: list[str] = []
    one = store._save_one

    async def counted(checkpoint: Checkpoint, *args: Any) -> None:
        singles.append(checkpoint.run_id)
        await one(checkpoint, *args)

    store._save_one = counted  # type: ignore[method-assign]
    results = await asyncio.gather(
        *(
            store.save_step(step(r, 1), [], fence=lease)
            for r, lease in zip(ids, leases, strict=True)
        ),
        return_exceptions=True,
    )
    assert isinstance(results[2], LeaseLostError)
    assert all(isinstance(r, int) for i, r in enumerate(results) if i != 2)
    assert singles == []  # one statement for all six
    for i, run_id in enumerate(ids):
        steps = [c.step for c in await store.checkpoints(run_id, from_snapshot=False)]
        assert steps == ([0] if i == 2 else [0, 1])
    # Step 1 of run 0 again, beside step 2 of the others: only run 0's write fails.
    again = [step(ids[0], 1), *(step(r, 2) for r in ids[1:2] + ids[3:])]
    fences = [leases[0], leases[1], *leases[3:]]
    results = await asyncio.gather(
        *(store.save_step(c, [], fence=f) for c, f in zip(again, fences, strict=True)),
        return_exceptions=True,
    )
    assert isinstance(results[0], StoreError) and all(isinstance(r, int) for r in results[1:])
    await thief.close()
