"""Fixtures shared by the test modules: every store a run can live in."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from orchestrator.store import MemoryStore, SQLiteStore, Store
from tests import pg_server

_databases = itertools.count()


@pytest.fixture(scope="session")
def pg() -> Iterator[pg_server.PgServer]:
    """One throwaway PostgreSQL server on 127.0.0.1 for the session (skipped when PostgreSQL
    is not installed; CI installs it)."""
    reason = pg_server.missing_reason()
    if reason is not None:
        pytest.skip(reason)
    running = pg_server.start()
    yield running
    running.stop()


STORE_KINDS = [
    "memory",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
]


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SQLiteStore(tmp_path / f"runs{next(_databases)}.db")
    from orchestrator.store.postgres import PostgresStore

    server: pg_server.PgServer = request.getfixturevalue("pg")
    return PostgresStore(server.create_database(f"t{next(_databases)}"))


@pytest.fixture(params=STORE_KINDS)
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each of the memory, SQLite and PostgreSQL stores in turn, empty."""
    store = make_store(request.param, tmp_path, request)
    yield store
    await store.close()
