"""A store that is busy for a while is not a broken store: a SQLite file another connection
holds locked, or a PostgreSQL connection the server dropped, raises `TransientStoreError`; a
run tries it again and completes as if nothing happened, or stops resumable (never failed,
never reported as a corrupt file) when the store stays away."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Annotated, Any

import psycopg
import pytest
from pydantic import BaseModel

from orchestrator import END, START, Graph, RunStatus, StoreError, append, durable
from orchestrator.errors import StoreUnavailableError, TransientStoreError
from orchestrator.store import MemoryStore, SQLiteStore
from tests import pg_server


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # About two seconds of tries: far longer than the moment a lock is held below.
    monkeypatch.setattr(durable, "STORE_RETRY_DELAYS", (0.05,) * 20)


class Log(BaseModel):
    log: Annotated[list[str], append] = []


def chain(during_b: Any = None) -> Any:
    """a -> b -> c -> d, each appending its name; ``during_b()`` is called inside b."""

    def writes(name: str) -> Any:
        def node(state: Log) -> dict[str, Any]:
            if name == "b" and during_b is not None:
                during_b()
            return {"log": name}

        return node

    g = Graph(Log)
    for name in "abcd":
        g.add_node(name, writes(name))
    g.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", "d")
    return g.add_edge("d", END).compile()


async def uninterrupted() -> Any:
    return await chain().run(store=MemoryStore())


# --- SQLite: a file another connection holds locked --------------------------------------------


class Locker:
    """Another connection to the store's file, holding its write lock (BEGIN EXCLUSIVE)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None

    def lock(self) -> None:
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        db, self.db = self.db, None
        if db is not None:
            db.close()  # rolls the open transaction back: the lock is gone


@pytest.fixture
def locker(tmp_path: Path) -> Iterator[Locker]:
    held = Locker(tmp_path / "runs.db")
    yield held
    held.release()


async def test_a_lock_held_for_a_moment_is_waited_out_and_the_run_completes(
    locker: Locker,
) -> None:
    store = SQLiteStore(locker.path, timeout=0.05)

    def lock_for_a_moment() -> None:
        # Taken inside b, so the checkpoint of b's step meets it.
        locker.lock()
        threading.Timer(0.3, locker.release).start()

    graph = chain(lock_for_a_moment)
    result = await graph.run(store=store)
    assert result.status is RunStatus.COMPLETED
    assert result.state == (await uninterrupted()).state
    loaded = await graph.load(result.run_id, store=store)
    assert loaded.state == result.state
    assert loaded.path == result.path
    assert loaded.status is RunStatus.COMPLETED
    await store.close()


async def test_a_lock_that_stays_stops_the_run_resumable_and_resume_finishes_it(
    locker: Locker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(durable, "STORE_RETRY_DELAYS", (0.01,) * 5)
    store = SQLiteStore(locker.path, timeout=0.05)
    locked_once: list[bool] = []

    def lock_the_first_time() -> None:  # b runs again on resume: the lock is gone by then
        if not locked_once:
            locked_once.append(True)
            locker.lock()

    graph = chain(lock_the_first_time)
    result = await graph.run(store=store, run_id="locked", raise_on_error=False)
    assert result.status is RunStatus.INTERRUPTED
    assert isinstance(result.error, StoreUnavailableError)
    message = str(result.error)
    assert "'locked'" in message and str(locker.path) in message
    assert "locked by another connection" in message and "corrupt" not in message
    locker.release()
    assert (await store.get_run("locked")).status != "failed"
    resumed = await graph.resume("locked", store=store)
    assert resumed.status is RunStatus.COMPLETED
    assert resumed.state == (await uninterrupted()).state
    assert (await graph.load("locked", store=store)).state == resumed.state
    await store.close()


async def test_a_write_to_a_locked_file_is_transient_and_succeeds_once_it_is_free(
    locker: Locker,
) -> None:
    store = SQLiteStore(locker.path, timeout=0.05)
    done = await chain().run(store=store)
    locker.lock()
    with pytest.raises(TransientStoreError) as caught:
        await store.update_run(done.run_id, error="noted")
    message = str(caught.value)
    assert str(locker.path) in message and f"updating run {done.run_id!r}" in message
    assert "database is locked" in message and "corrupt" not in message
    locker.release()
    await store.update_run(done.run_id, error="noted")  # the failed try left nothing behind
    assert (await store.get_run(done.run_id)).error == "noted"
    await store.close()


class CommitAndRollbackLocked:
    """A connection whose COMMIT and ROLLBACK both find the database locked (as a COMMIT can
    in rollback-journal mode); WAL mode makes that rare, so it is staged here."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)

    def execute(self, statement: str, *params: Any) -> Any:
        if statement in ("COMMIT", "ROLLBACK"):
            raise sqlite3.OperationalError("database is locked")
        return self.db.execute(statement, *params)


async def test_a_write_whose_commit_and_rollback_fail_is_made_once_by_the_waiting_worker(
    tmp_path: Path,
) -> None:
    """The connection whose transaction cannot end is dropped (which rolls it back), and the
    write is made again by the worker that waits out locks, on its own connection: once."""
    path = tmp_path / "runs.db"
    store = SQLiteStore(path, timeout=0.05)
    done = await chain().run(store=store)
    stuck = CommitAndRollbackLocked(store._db)  # type: ignore[arg-type]
    store._db = stuck  # type: ignore[assignment]
    await store.update_run(done.run_id, error="written once")
    assert store._db is None  # dropped: the next inline call connects again
    with closing(sqlite3.connect(path)) as reader:
        assert reader.execute("SELECT error FROM runs").fetchall() == [("written once",)]
    await store.update_run(done.run_id, error="again")
    assert (await store.get_run(done.run_id)).error == "again"
    await store.close()


async def test_opening_a_file_another_process_holds_says_locked_not_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(TransientStoreError) as caught:
            SQLiteStore(path, timeout=0.05)
    finally:
        holder.close()
    message = str(caught.value)
    assert str(path) in message and "while opening it" in message
    assert "corrupt" not in message
    await SQLiteStore(path, timeout=0.05).close()  # free again: it opens


# --- PostgreSQL: a connection the server drops ---------------------------------------------------

_KILL_OTHERS = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@pytest.mark.postgres
async def test_a_dropped_connection_mid_run_is_reconnected_and_the_run_completes(
    pg: pg_server.PgServer,
) -> None:
    from orchestrator.store.postgres import PostgresStore

    url = pg.create_database("transient_dropped")
    store = PostgresStore(url)
    killed: list[bool] = []

    def drop_the_store_connection() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            killed.extend(row[0] for row in conn.execute(_KILL_OTHERS).fetchall())

    graph = chain(drop_the_store_connection)
    result = await graph.run(store=store)
    assert killed == [True]  # the store's one connection was there, and was dropped
    assert result.status is RunStatus.COMPLETED
    assert result.state == (await uninterrupted()).state
    loaded = await graph.load(result.run_id, store=store)
    assert loaded.state == result.state
    assert loaded.path == result.path
    await store.close()


@pytest.mark.postgres
async def test_a_write_that_times_out_on_a_lock_is_transient_and_succeeds_after(
    pg: pg_server.PgServer,
) -> None:
    from orchestrator.store.postgres import PostgresStore

    url = pg.create_database("transient_lock")
    store = PostgresStore(f"{url}?options=-c%20lock_timeout%3D100")
    done = await chain().run(store=store)
    async with await psycopg.AsyncConnection.connect(url) as rival:
        await rival.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(TransientStoreError) as caught:
            await store.update_run(done.run_id, error="noted")
        await rival.rollback()
    message = str(caught.value)
    assert f"updating run {done.run_id!r}" in message and "lock timeout" in message
    await store.update_run(done.run_id, error="noted")
    assert (await store.get_run(done.run_id)).error == "noted"
    await store.close()


@pytest.mark.postgres
async def test_a_wrong_database_name_is_a_store_error_not_a_transient_one(
    pg: pg_server.PgServer,
) -> None:
    from orchestrator.store.postgres import PostgresStore

    store = PostgresStore(pg.url("no_such_database"))
    with pytest.raises(StoreError) as caught:
        await store.list_runs()
    assert not isinstance(caught.value, TransientStoreError)
    assert 'database "no_such_database" does not exist' in str(caught.value)


async def test_no_server_at_the_url_is_transient_and_says_check_the_server() -> None:
    from orchestrator.store.postgres import PostgresStore

    port = pg_server.free_port()
    store = PostgresStore(f"postgresql://app@127.0.0.1:{port}/runs", connect_timeout=2)
    with pytest.raises(TransientStoreError) as caught:
        await store.list_runs()
    message = str(caught.value)
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}, database runs" in message
    assert "is the server running? check the URL" in message
