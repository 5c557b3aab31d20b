"""Stores keep runs, checkpoints and events: in memory (tests), SQLite (the embedded default),
PostgreSQL (many workers). `open_store` picks one from a URL or a path."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from .base import Store, StoredRun
from .memory import MemoryStore
from .sqlite import SQLiteStore

#: The embedded default: a SQLite file in the working directory.
DEFAULT_STORE = "orchestrator.db"

__all__ = [
    "DEFAULT_STORE",
    "MemoryStore",
    "SQLiteStore",
    "Store",
    "StoredRun",
    "open_store",
    "using_store",
]


@asynccontextmanager
async def using_store(spec: str | Path | Store | None) -> AsyncIterator[Store]:
    """A store for the length of one call: one opened here from a path or URL is closed after;
    a `Store` object passed in stays open (its owner closes it)."""
    if isinstance(spec, Store):
        yield spec
        return
    store = open_store(spec)
    try:
        yield store
    finally:
        await store.close()


def open_store(spec: str | Path | Store | None = None) -> Store:
    """A store from ``memory``, a file path, ``sqlite:///path`` or ``postgresql://...``.

    None means ``$ORCHESTRATOR_STORE`` or ``orchestrator.db`` in the working directory.
    """
    if isinstance(spec, Store):
        return spec
    text = str(spec) if spec is not None else os.environ.get("ORCHESTRATOR_STORE", DEFAULT_STORE)
    if text in ("memory", ":memory:", "memory://"):
        return MemoryStore()
    if text.startswith(("postgres://", "postgresql://")):
        from .postgres import PostgresStore

        return PostgresStore(text)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    return SQLiteStore(text)
