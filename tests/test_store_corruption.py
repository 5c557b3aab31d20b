"""A stored run whose rows were edited by hand or damaged: reading it back raises
`CorruptRunError` naming the run, the step and the row (never a raw json, pydantic or Python
error), writes nothing, and leaves every other run readable."""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator import CorruptRunError, RunStatus, StoreError
from orchestrator.records import RUN_FIELDS
from orchestrator.store import SQLiteStore
from tests import pg_server
from tests.durable_worker import approval_graph, counter_graph
from tests.test_cli import cli

APPROVAL = approval_graph()
COUNTER = counter_graph()

DEEP = "[" * 100_000 + "]" * 100_000
HUGE = "9" * 5000


@dataclass(frozen=True)
class Stored:
    """A store holding a run paused at an interrupt (the one damaged) and a completed run."""

    where: str  # what graph calls take as ``store=``
    paused: str  # approval: plan at step 1, then approve waits in step 2 (task 2)
    done: str  # counter: ten steps, n == 10
    execute: Callable[[str, tuple[Any, ...]], None]  # one SQL statement, on the database itself
    rows: Callable[[], Any]  # every row of every table, to see that nothing was written


async def make_runs(store: Any) -> tuple[str, str]:
    paused = await APPROVAL.run(store=store)
    done = await COUNTER.run(store=store)
    assert paused.status is RunStatus.WAITING and done.state.n == 10
    return paused.run_id, done.run_id


@pytest.fixture
async def sqlite_runs(tmp_path: Path) -> Stored:
    path = tmp_path / "runs.db"
    store = SQLiteStore(path)
    paused, done = await make_runs(store)
    await store.close()

    def execute(statement: str, params: tuple[Any, ...]) -> None:
        with closing(sqlite3.connect(path)) as db, db:
            db.execute(statement, params)

    def rows() -> Any:
        # Every row of the run but its lease (a refused resume takes and gives back the
        # lease: bookkeeping of who drives the run, not the run's data).
        with closing(sqlite3.connect(path)) as db:
            return [
                db.execute(f"SELECT {DATA_COLUMNS} FROM runs ORDER BY 1, 2").fetchall(),
                *(
                    db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                    for table in ("checkpoints", "events", "pending", "resumes")
                ),
            ]

    return Stored(str(path), paused, done, execute, rows)


#: The run row but its lease: a refused resume takes and gives back the lease (owner, epoch,
#: expiry), bookkeeping of who drives the run, not the run's data.
DATA_COLUMNS = ", ".join(f for f in RUN_FIELDS if f != "owner")


# --- how each row is damaged -----------------------------------------------------------------
# SQLite: a run's rows live under the integer key of its runs row; a checkpoint's rowid is
# (key << 32 | step), an event's (key << 32 | seq).


def _checkpoint(stored: Stored, text: str) -> None:
    stored.execute(
        "UPDATE checkpoints SET data = ? "
        "WHERE id = ((SELECT key FROM runs WHERE run_id = ?) << 32 | 1)",
        (text, stored.paused),
    )


def _run_column(column: str) -> Callable[[Stored, str], None]:
    def damage(stored: Stored, value: str) -> None:
        stored.execute(f"UPDATE runs SET {column} = ? WHERE run_id = ?", (value, stored.paused))

    return damage


def _pending(stored: Stored, text: str) -> None:
    stored.execute(
        "INSERT INTO pending (run, step, task_id, data) "
        "SELECT key, 2, 2, ? FROM runs WHERE run_id = ?",
        (text, stored.paused),
    )


def _event(stored: Stored, text: str) -> None:
    # The Interrupted event of step 2, where approve waits.
    stored.execute(
        "UPDATE events SET data = ? WHERE id >> 32 = (SELECT key FROM runs WHERE run_id = ?) "
        "AND json_extract(data, '$.type') = 'Interrupted'",
        (text, stored.paused),
    )


def _resume_value(stored: Stored, text: str) -> None:
    stored.execute(
        "INSERT INTO resumes (run, task_id, seq, value) SELECT key, 2, 0, ? FROM runs "
        "WHERE run_id = ?",
        (text, stored.paused),
    )


#: A stored write's reference to the state before its step, here to a field it does not have.
_NO_FIELD = {"$orchestrator-ref": "field", "field": "nope"}


_TASKS = '"k":[{"node":"approve","id":2}]'
_WRITE = '"w":[[1,"plan",{"plan":"ship v2 on Friday"}]],"r":["plan"]'

CHECKPOINTS = {
    "not JSON": '{"w":[[1,"plan",{"plan":"ship',
    "not an object": '["plan", "approve"]',
    "wrong types": '{"w":[[1,"plan",{"plan":"x"}]],"r":"plan",' + _TASKS + "}",
    "missing keys": '{"w":[[1,"plan",{"plan":"x"}]],"k":[{"node":"approve"}]}',
    "a 100k-deep nesting": '{"w":[[1,"plan",{"plan":' + DEEP + "}]]," + _TASKS + "}",
    "a 5000-digit integer": "{" + _WRITE + "," + _TASKS + ',"s":' + HUGE + "}",
    "an edge too short": '{"e":[["plan"]],' + _TASKS + "}",
    "an edge kind of the wrong type": '{"e":[["plan","approve",["n"]]],' + _TASKS + "}",
    "a task failure without its fields": '{"k":[{"node":"approve","id":2,"error":{"x":1}}]}',
    "a join arrival of the wrong shape": '{"j":{"approve":[["plan"]]},' + _TASKS + "}",
    "a reference to no field": json.dumps({"w": [[1, "plan", {"plan": _NO_FIELD}]]}),
}

RUN_ROWS = {
    "a bad status": ("status", "exploded"),
    "waiting not JSON": ("waiting", '[{"task_id": 2'),
    "waiting not a list": ("waiting", '{"task_id": 2}'),
    "waiting without its request": ("waiting", '[{"task_id": 2, "node": "approve"}]'),
    "waiting 100k deep": ("waiting", DEEP),
    "waiting with a 5000-digit integer": ("waiting", f'[{{"task_id": {HUGE}}}]'),
    "steps of the wrong type": ("steps", "many"),
    "created of the wrong type": ("created", "yesterday"),
}

PENDING = {
    "not JSON": '{"run_id": ',
    "not an object": "[2]",
    "wrong types": '{"step": 2, "task_id": "two"}',
    "missing keys": '{"update": {"approved": "yes"}}',
    "a 100k-deep nesting": '{"run_id":"r","step":2,"task_id":2,"update":{"approved":' + DEEP + "}}",
    "a 5000-digit integer": '{"run_id":"r","step":2,"task_id":' + HUGE + "}",
    "a failure without its fields": '{"run_id":"r","step":2,"task_id":2,"failure":{"node":"x"}}',
    "a reference to no field": json.dumps(
        {"run_id": "r", "step": 2, "task_id": 2, "update": {"approved": _NO_FIELD}}
    ),
}

EVENTS = {
    "not JSON": '{"type": "Interrupted", ',
    "not an object": '"Interrupted"',
    "an unknown type": '{"type": "Exploded", "step": 2}',
    "wrong types": '{"type":"Interrupted","run_id":"r","step":2,"node":"approve","task_id":"two",'
    '"request":null}',
    "missing keys": '{"type": "Interrupted", "step": 2}',
    "a 100k-deep nesting": '{"type":"Interrupted","step":2,"request":' + DEEP + "}",
    "a 5000-digit integer": '{"type":"Interrupted","step":' + HUGE + "}",
}

RESUME_VALUES = {
    "not JSON": '{"answer": ',
    "not an entry": '"yes"',
    "missing its answer": '{"asked": null}',
    "a 100k-deep nesting": '{"answer": ' + DEEP + "}",
    "a 5000-digit integer": '{"answer": ' + HUGE + "}",
}


# --- what every damaged run must do ----------------------------------------------------------


async def load(stored: Stored) -> Any:
    return await APPROVAL.load(stored.paused, store=stored.where)


async def resume(stored: Stored) -> Any:
    return await APPROVAL.resume(stored.paused, "yes", store=stored.where)


async def playback(stored: Stored) -> Any:
    return await APPROVAL.playback(stored.paused, store=stored.where)


async def refuses(stored: Stored, call: Any, pattern: str) -> CorruptRunError:
    before = stored.rows()
    with pytest.raises(CorruptRunError, match=pattern) as caught:
        await call(stored)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 700, message  # one short line, never the value
    assert "restore the store from a backup" in message
    assert stored.rows() == before  # nothing was written
    return caught.value


async def others_intact(stored: Stored) -> None:
    done = await COUNTER.load(stored.done, store=stored.where)
    assert done.state.n == 10 and done.status is RunStatus.COMPLETED


def step_of(stored: Stored, step: int) -> str:
    return rf"run '{stored.paused}': its stored .* of step {step} .*cannot be read back"


@pytest.mark.parametrize("text", CHECKPOINTS.values(), ids=list(CHECKPOINTS))
async def test_a_damaged_checkpoint_refuses_load_resume_and_playback(
    sqlite_runs: Stored, text: str
) -> None:
    _checkpoint(sqlite_runs, text)
    for call in (load, resume, playback):
        error = await refuses(sqlite_runs, call, step_of(sqlite_runs, 1))
        assert (error.run_id, error.step, error.row) == (sqlite_runs.paused, 1, "checkpoint")
        assert "fork the run from an earlier step" in str(error)
    await others_intact(sqlite_runs)


async def test_a_damaged_checkpoint_names_the_store_it_is_in(sqlite_runs: Stored) -> None:
    _checkpoint(sqlite_runs, CHECKPOINTS["not JSON"])
    error = await refuses(sqlite_runs, load, step_of(sqlite_runs, 1))
    assert error.where == sqlite_runs.where and f" in {sqlite_runs.where} " in str(error)
    assert "JSONDecodeError" in str(error)


@pytest.mark.parametrize("column, value", RUN_ROWS.values(), ids=list(RUN_ROWS))
async def test_a_damaged_run_row_refuses_load_resume_playback_and_listing(
    sqlite_runs: Stored, column: str, value: str
) -> None:
    _run_column(column)(sqlite_runs, value)
    pattern = rf"run '{sqlite_runs.paused}': its stored run row .*delete the run"
    for call in (load, resume, playback):
        error = await refuses(sqlite_runs, call, pattern)
        assert (error.step, error.row) == (None, "run")
    store = SQLiteStore(sqlite_runs.where)
    try:
        with pytest.raises(CorruptRunError, match=pattern):
            await store.list_runs()
    finally:
        await store.close()
    await others_intact(sqlite_runs)


@pytest.mark.parametrize("text", PENDING.values(), ids=list(PENDING))
async def test_a_damaged_pending_write_refuses_load_and_resume(
    sqlite_runs: Stored, text: str
) -> None:
    _pending(sqlite_runs, text)
    for call in (load, resume):
        error = await refuses(sqlite_runs, call, step_of(sqlite_runs, 2))
        assert (error.step, error.row) == (2, "pending write")
    # The log itself is intact: playback does not read the step still in progress.
    assert [view.step for view in await playback(sqlite_runs)] == [0, 1]
    await others_intact(sqlite_runs)


@pytest.mark.parametrize("text", EVENTS.values(), ids=list(EVENTS))
async def test_a_damaged_event_row_refuses_load(sqlite_runs: Stored, text: str) -> None:
    _event(sqlite_runs, text)
    error = await refuses(sqlite_runs, load, rf"run '{sqlite_runs.paused}': its stored events")
    assert error.row == "events" and error.step == 2  # the step of the event's row
    assert [view.step for view in await playback(sqlite_runs)] == [0, 1]  # not an event read
    await others_intact(sqlite_runs)


@pytest.mark.parametrize("text", RESUME_VALUES.values(), ids=list(RESUME_VALUES))
async def test_a_damaged_resume_value_refuses_load_and_resume(
    sqlite_runs: Stored, text: str
) -> None:
    _resume_value(sqlite_runs, text)
    pattern = rf"run '{sqlite_runs.paused}': its stored resume values"
    for call in (load, resume):
        error = await refuses(sqlite_runs, call, pattern)
        assert (error.step, error.row) == (None, "resume values")
    await others_intact(sqlite_runs)


async def test_a_log_that_lost_its_first_snapshot_refuses_load_resume_and_playback(
    sqlite_runs: Stored,
) -> None:
    stored = sqlite_runs
    stored.execute(
        "UPDATE checkpoints SET data = json_remove(data, '$.S') "
        "WHERE id = ((SELECT key FROM runs WHERE run_id = ?) << 32)",
        (stored.paused,),
    )
    for call in (load, resume, playback):
        error = await refuses(stored, call, step_of(stored, 0) + r".*no snapshot")
        assert (error.step, error.row) == (0, "checkpoint")
    await others_intact(stored)


async def test_a_run_whose_checkpoints_are_gone_refuses_load_resume_and_playback(
    sqlite_runs: Stored,
) -> None:
    stored = sqlite_runs
    stored.execute(
        "DELETE FROM checkpoints WHERE id >> 32 = (SELECT key FROM runs WHERE run_id = ?)",
        (stored.paused,),
    )
    for call in (load, resume, playback):
        await refuses(stored, call, rf"run '{stored.paused}': .*no checkpoint left")
    await others_intact(stored)


async def test_a_corrupt_run_is_a_store_error(sqlite_runs: Stored) -> None:
    _checkpoint(sqlite_runs, CHECKPOINTS["a 100k-deep nesting"])
    with pytest.raises(StoreError, match="RecursionError"):
        await load(sqlite_runs)


async def test_forking_from_before_the_damage_goes_on(sqlite_runs: Stored) -> None:
    stored = sqlite_runs
    _checkpoint(stored, CHECKPOINTS["not JSON"])
    with pytest.raises(CorruptRunError, match="step 1"):
        await APPROVAL.fork(stored.paused, 1, store=stored.where)
    # Step 0 is readable on its own: what the error's advice leads to works.
    stored.execute(
        "DELETE FROM checkpoints WHERE id = ((SELECT key FROM runs WHERE run_id = ?) << 32 | 1)",
        (stored.paused,),
    )
    forked = await APPROVAL.fork(stored.paused, 0, store=stored.where)
    assert forked.status is RunStatus.WAITING and forked.state.plan == "ship v2 on Friday"


# --- the command line ------------------------------------------------------------------------


DAMAGES = {
    "checkpoint": (_checkpoint, CHECKPOINTS["a 100k-deep nesting"], "checkpoint of step 1"),
    "run row": (_run_column("status"), "exploded", "run row"),
    "event": (_event, EVENTS["not JSON"], "events of step 2"),
    "event usage": (
        _event,
        '{"type":"ModelCalled","step":2,"node":"approve","usage":{"requests":"many"}}',
        "events of step 2",
    ),
}


@pytest.mark.parametrize("damage, text, what", DAMAGES.values(), ids=list(DAMAGES))
def test_show_of_a_damaged_run_is_one_line_naming_it(
    sqlite_runs: Stored,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[Stored, str], None],
    text: str,
    what: str,
) -> None:
    damage(sqlite_runs, text)
    for args in ([], ["--json"]):
        code, out, err = cli(
            capsys, "show", sqlite_runs.paused, "--store", sqlite_runs.where, *args
        )
        assert code == 1 and out == ""
        first, *rest = err.splitlines()
        assert first.startswith(f"error: run '{sqlite_runs.paused}': its stored {what}"), err
        assert rest == ["(run with --debug for the traceback)"]
    code, out, err = cli(capsys, "show", sqlite_runs.done, "--store", sqlite_runs.where)
    assert code == 0 and "status completed" in out, err


def test_show_in_a_shell_prints_no_traceback(sqlite_runs: Stored) -> None:
    _checkpoint(sqlite_runs, CHECKPOINTS["a 5000-digit integer"])
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from orchestrator.cli import main; main()",
            "show",
            sqlite_runs.paused,
            "--store",
            sqlite_runs.where,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shown.returncode == 1 and shown.stdout == ""
    assert "Traceback" not in shown.stderr
    assert shown.stderr.splitlines()[0].startswith(
        f"error: run '{sqlite_runs.paused}': its stored checkpoint of step 1"
    )
    assert "ValueError: Exceeds the limit" in shown.stderr


# --- the same on PostgreSQL ------------------------------------------------------------------


@pytest.fixture
async def pg_runs(pg: pg_server.PgServer) -> Stored:
    import psycopg

    from orchestrator.store.postgres import PostgresStore

    url = pg.create_database(f"corrupt{next(_databases)}")
    store = PostgresStore(url)
    paused, done = await make_runs(store)
    await store.close()

    def execute(statement: str, params: tuple[Any, ...]) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(statement, params)

    def rows() -> Any:
        with psycopg.connect(url, autocommit=True) as conn:
            return [
                conn.execute(f"SELECT {DATA_COLUMNS} FROM runs ORDER BY 1, 2").fetchall(),
                *(
                    conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                    for table in ("checkpoints", "events", "pending", "resumes")
                ),
            ]

    return Stored(url, paused, done, execute, rows)


_databases = itertools.count()
_PG_RUN = "(SELECT key FROM runs WHERE run_id = %s)"

PG_DAMAGES: dict[str, tuple[str, str, str]] = {
    "checkpoint not JSON": (
        f"UPDATE checkpoints SET data = %s WHERE run = {_PG_RUN} AND step = 1",
        CHECKPOINTS["not JSON"],
        "checkpoint of step 1",
    ),
    "checkpoint 100k deep": (
        f"UPDATE checkpoints SET data = %s WHERE run = {_PG_RUN} AND step = 1",
        CHECKPOINTS["a 100k-deep nesting"],
        "checkpoint of step 1",
    ),
    "checkpoint with a 5000-digit integer": (
        f"UPDATE checkpoints SET data = %s WHERE run = {_PG_RUN} AND step = 1",
        CHECKPOINTS["a 5000-digit integer"],
        "checkpoint of step 1",
    ),
    "checkpoint missing keys": (
        f"UPDATE checkpoints SET data = %s WHERE run = {_PG_RUN} AND step = 1",
        CHECKPOINTS["missing keys"],
        "checkpoint of step 1",
    ),
    "path of the wrong type": (
        f"UPDATE checkpoints SET ran = %s WHERE run = {_PG_RUN} AND step = 1",
        '{"plan": 1}',
        "checkpoint of step 1",
    ),
    "bad status": ("UPDATE runs SET status = %s WHERE run_id = %s", "exploded", "run row"),
    "waiting not JSON": ("UPDATE runs SET waiting = %s WHERE run_id = %s", "[{", "run row"),
    "pending write of the wrong types": (
        "INSERT INTO pending (run, step, task_id, data) "
        "SELECT key, 2, 2, %s FROM runs WHERE run_id = %s",
        PENDING["wrong types"],
        "pending write of step 2",
    ),
    "event missing keys": (
        f"UPDATE events SET data = %s WHERE run = {_PG_RUN} "
        """AND data LIKE '%%"type":"Interrupted"%%'""",
        EVENTS["missing keys"],
        "events of step 2",
    ),
}


@pytest.mark.postgres
@pytest.mark.parametrize("statement, text, what", PG_DAMAGES.values(), ids=list(PG_DAMAGES))
async def test_a_damaged_postgres_run_refuses_load(
    pg_runs: Stored, statement: str, text: str, what: str
) -> None:
    pg_runs.execute(statement, (text, pg_runs.paused))
    error = await refuses(pg_runs, load, rf"run '{pg_runs.paused}': its stored {what} in ")
    assert error.where is not None and "postgresql://" in error.where
    if what != "events of step 2":  # resume reads every row but the events
        await refuses(pg_runs, resume, rf"run '{pg_runs.paused}': its stored {what}")
    await others_intact(pg_runs)
