"""Run lifecycle on every store: delete a run (with or without its forks) and prune by age and
status; what is deleted is gone from every table, everything else is untouched."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from orchestrator import END, START, Graph, RunNotFoundError, RunStatus, append
from orchestrator.store import SQLiteStore, Store
from tests.test_cli import cli


class Log(BaseModel):
    log: Annotated[list[str], append] = []
    fail: bool = False


def boom_unless_ok(state: Log) -> dict[str, Any]:
    if state.fail:
        raise ValueError("asked to fail")
    return {"log": "b"}


def graph() -> Any:
    g = Graph(Log, name="life").add_node("a", lambda s: {"log": "a"}).add_node("b", boom_unless_ok)
    return g.add_edge(START, "a").add_edge("a", "b").add_edge("b", END).compile()


async def populate(store: Store) -> Any:
    g = graph()
    await g.run(store=store, run_id="keep")
    await g.run(store=store, run_id="parent")
    await g.fork("parent", 1, store=store)
    fork = next(r.run_id for r in await store.list_runs() if r.parent_run == "parent")
    await g.fork(fork, 1, store=store)  # a fork of the fork
    await g.run({"fail": True}, store=store, run_id="failed", raise_on_error=False)
    return g


async def test_delete_a_run_leaves_its_forks_and_other_runs(any_store: Store) -> None:
    g = await populate(any_store)
    assert await any_store.delete_run("parent") == ["parent"]
    with pytest.raises(RunNotFoundError):
        await any_store.get_run("parent")
    assert not [r for r in await any_store.list_runs() if r.run_id == "parent"]
    for record in await any_store.list_runs():  # forks and other runs still load whole
        loaded = await g.load(record.run_id, store=any_store)
        assert loaded.state.log[:1] == ["a"]
    with pytest.raises(RunNotFoundError):
        await any_store.delete_run("parent")


async def test_delete_with_forks_takes_the_whole_family(any_store: Store) -> None:
    await populate(any_store)
    deleted = await any_store.delete_run("parent", forks=True)
    assert deleted[0] == "parent" and len(deleted) == 3
    assert sorted(r.run_id for r in await any_store.list_runs()) == ["failed", "keep"]


async def test_prune_by_age_and_status(any_store: Store) -> None:
    g = await populate(any_store)
    assert await any_store.prune(older_than=3600) == []  # all are fresh
    later = time.time() + 7200
    pruned = await any_store.prune(older_than=3600, status=["failed"], now=later)
    assert pruned == ["failed"]
    left = {r.run_id: r.status for r in await any_store.list_runs()}
    assert "failed" not in left and set(left.values()) == {"completed"}
    await g.run(store=any_store, run_id="fresh")
    everything = await any_store.prune(older_than=0, now=later)
    assert "fresh" in everything and await any_store.list_runs() == []


async def test_sqlite_rows_of_a_deleted_run_are_gone_and_the_space_reclaimed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "life.db"
    store = SQLiteStore(path)
    await populate(store)
    await store.prune(older_than=0)
    await store.close()
    with sqlite3.connect(path) as db:
        for table in ("runs", "checkpoints", "events", "pending", "resumes"):
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
        assert db.execute("PRAGMA freelist_count").fetchone() == (0,)  # vacuumed


def test_the_cli_deletes_and_prunes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import asyncio

    path = str(tmp_path / "cli.db")
    store = SQLiteStore(path)
    asyncio.run(populate(store))
    asyncio.run(store.close())
    code, out, err = cli(capsys, "runs", "delete", "keep", "--store", path)
    assert code == 0, err
    assert "deleted 1 run(s)" in out
    code, _, err = cli(capsys, "runs", "delete", "nope", "--store", path)
    assert code == 2 and "nope" in err
    code, out, err = cli(
        capsys, "runs", "prune", "--older-than", "0s", "--status", "failed", "--store", path
    )
    assert code == 0 and "pruned 1 run(s)" in out, err
    code, _, err = cli(capsys, "runs", "prune", "--older-than", "soon", "--store", path)
    assert code == 2 and "--older-than" in err
    code, out, _ = cli(capsys, "runs", "--store", path, "--json")
    import json

    assert {r["status"] for r in json.loads(out)} == {str(RunStatus.COMPLETED)}
    code, _, _ = cli(capsys, "show", "keep", "--store", path)
    assert code == 2
