"""The embedded default store: one SQLite file (WAL), safe for several processes at once.

Writes are short transactions made inline (in WAL mode with ``synchronous=NORMAL`` a commit
costs tens of microseconds and survives a process crash). Before anything is written, the file
is checked: a corrupt or foreign file, or one written by a newer version, is refused with a
message naming it, and left untouched. A file another connection holds locked past the busy
timeout is not a bad file: that raises `TransientStoreError`, which a run tries again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from ..errors import RunNotFoundError, StoreError, TransientStoreError
from ..records import (
    RUN_COLUMNS,
    RUN_FIELDS,
    SCHEMA_VERSION,
    Checkpoint,
    PendingWrite,
    RunRecord,
    decode_checkpoint,
    decode_event_row,
    decode_log,
    decode_pending,
    decode_ran,
    decode_resume,
    dumps,
    encode_checkpoint,
    run_from_row,
    run_values,
)
from .base import Store

# Checkpoints and events are append-only: a rowid of (run key << 32 | step or sequence) keeps
# each run's rows together and in order, and appending to a rowid table fills pages completely
# (an index-ordered WITHOUT ROWID table leaves them about half full).
_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    key INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, graph TEXT NOT NULL,
    graph_hash TEXT NOT NULL, status TEXT NOT NULL, created REAL NOT NULL,
    updated REAL NOT NULL, parent_run TEXT, parent_step INTEGER, error TEXT,
    waiting TEXT NOT NULL DEFAULT '[]', owner TEXT, steps INTEGER NOT NULL DEFAULT 0,
    source TEXT
);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY, snapshot INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, step INTEGER NOT NULL, data TEXT);
CREATE TABLE IF NOT EXISTS pending (
    run INTEGER NOT NULL, step INTEGER NOT NULL, task_id INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (run, step, task_id)
);
CREATE TABLE IF NOT EXISTS resumes (
    run INTEGER NOT NULL, task_id INTEGER NOT NULL, seq INTEGER NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (run, task_id, seq)
)
"""

_LOW = (1 << 32) - 1


class SQLiteStore(Store):
    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.file = Path(path)
        self.where = str(self.file)
        self._timeout = timeout
        self._keys: dict[str, int] = {}  # run id -> the integer key its rows are stored under
        self._event_seq: dict[str, int] = {}
        # None once closed, or dropped after a rollback that failed: the next call reconnects.
        self._db: sqlite3.Connection | None = None
        self._db = self._open()

    # --- opening: check first, write after ---------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        folder = self.file.parent
        if not folder.is_dir():
            raise StoreError(
                f"cannot open store {self.where}: its folder {str(folder)!r} does not exist; "
                "create it, or point the store at a file in an existing folder"
            )
        try:
            return sqlite3.connect(
                self.file, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.where}: {exc}") from exc

    def _open(self) -> sqlite3.Connection:
        db = self._connect()
        try:
            self._check(db)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA busy_timeout={int(self._timeout * 1000)}")
            with self._transaction(db):
                for statement in _TABLES.split(";"):
                    db.execute(statement)
                # Rows are written in this version's layout from now on (older rows stay
                # readable), so the file says so: an older orchestrator then refuses it.
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?), "
                    "('application', 'orchestrator') ON CONFLICT (key) DO UPDATE SET "
                    "value = excluded.value WHERE key = 'schema_version'",
                    (str(SCHEMA_VERSION),),
                )
        except StoreError:
            db.close()
            raise
        except sqlite3.DatabaseError as exc:
            db.close()
            raise self._refusal(exc, "opening it") from exc
        return db

    def _check(self, db: sqlite3.Connection) -> None:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return  # a new (or empty) file: ours to set up
        if "meta" not in tables:
            raise StoreError(
                f"{self.where} is a SQLite database but not an orchestrator store (it has "
                f"tables {', '.join(sorted(tables)[:5])}); give the store another file"
            )
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("application") != "orchestrator":
            raise StoreError(
                f"{self.where} is a SQLite database of another application; give the store "
                "another file"
            )
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.where} was written by a newer orchestrator (store schema {version}, "
                f"this version reads up to {SCHEMA_VERSION}); upgrade orchestrator to read it"
            )
        # Read every page of the main tables once: a truncated file fails here, not mid-run.
        for query in ("SELECT count(*) FROM runs", "SELECT max(length(data)) FROM checkpoints"):
            db.execute(query).fetchone()

    def _bad_file(self, exc: sqlite3.DatabaseError) -> StoreError:
        return StoreError(
            f"{self.where} is not a usable orchestrator store ({exc}); it may be corrupt, "
            "truncated or another kind of file. Nothing was changed: move it away or point "
            "the store at another file"
        )

    def _refusal(self, exc: sqlite3.DatabaseError, what: str) -> StoreError:
        """What a database error while doing ``what`` means to the user."""
        if not _locked(exc):
            return self._bad_file(exc)
        return TransientStoreError(
            f"the SQLite store {self.where} stayed locked by another connection past its "
            f"{self._timeout:g} s timeout while {what} ({exc}); this may pass, and a run tries "
            "again by itself. If it lasts, look for another process keeping a transaction open "
            "on the file (an sqlite3 shell, a backup), or give the store a longer timeout"
        )

    @contextmanager
    def _guard(self, what: str) -> Iterator[sqlite3.Connection]:
        """The connection (opened again if it was dropped), with errors translated."""
        try:
            if self._db is None:
                self._db = self._connect()
                self._db.execute("PRAGMA synchronous=NORMAL")
            yield self._db
        except sqlite3.DatabaseError as exc:
            raise self._refusal(exc, what) from exc

    @contextmanager
    def _transaction(self, db: sqlite3.Connection) -> Iterator[None]:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
            db.execute("COMMIT")  # may fail too (busy): then it is still open, rolled back below
        except BaseException:
            self._rollback(db)
            raise

    def _rollback(self, db: sqlite3.Connection) -> None:
        """End a failed transaction so a retry starts clean."""
        # The caches may name rows the transaction wrote: read them back from the file.
        self._keys.clear()
        self._event_seq.clear()
        if not db.in_transaction:  # SQLite rolled it back itself
            return
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            # The transaction is still open on this connection; closing it rolls it back, and
            # the next call connects again.
            with suppress(sqlite3.Error):
                db.close()
            if db is self._db:
                self._db = None

    def _key(self, db: sqlite3.Connection, run_id: str) -> int:
        key = self._keys.get(run_id)
        if key is None:
            row = db.execute("SELECT key FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise RunNotFoundError(run_id, self.where)
            key = self._keys[run_id] = int(row[0])
        return key

    # --- writes ------------------------------------------------------------------------------

    async def create_run(self, run: RunRecord, first: Checkpoint) -> int:
        what = f"creating run {run.run_id!r}"
        with self._guard(what) as db, self._transaction(db):
            cursor = db.execute(
                f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({', '.join('?' * len(RUN_FIELDS))})",
                run_values(run),
            )
            key = self._keys[run.run_id] = int(cursor.lastrowid or 0)
            return _insert_checkpoint(db, key, first)

    async def save_step(
        self, checkpoint: Checkpoint, events: list[dict[str, Any]], *, fence: Any = None
    ) -> int:
        with self._guard(f"saving step {checkpoint.step} of run {checkpoint.run_id!r}") as db:
            key = self._key(db, checkpoint.run_id)
            if not events:
                # One statement in autocommit mode is its own transaction: the common step
                # costs one write. The run row is brought up to date when the run stops.
                return _insert_checkpoint(db, key, checkpoint)
            with self._transaction(db):
                size = _insert_checkpoint(db, key, checkpoint)
                self._insert_events(db, key, checkpoint.run_id, checkpoint.step, events)
                return size

    async def save_pending(self, pending: PendingWrite, *, fence: Any = None) -> None:
        with self._guard(f"saving a pending write of run {pending.run_id!r}") as db:
            db.execute(
                "INSERT OR REPLACE INTO pending (run, step, task_id, data) VALUES (?,?,?,?)",
                (
                    self._key(db, pending.run_id),
                    pending.step,
                    pending.task_id,
                    pending.model_dump_json(exclude_defaults=True),
                ),
            )

    async def save_events(
        self, run_id: str, step: int, events: list[dict[str, Any]], *, fence: Any = None
    ) -> None:
        if events:
            what = f"saving events of run {run_id!r}"
            with self._guard(what) as db, self._transaction(db):
                self._insert_events(db, self._key(db, run_id), run_id, step, events)

    def _insert_events(
        self, db: sqlite3.Connection, key: int, run_id: str, step: int, events: list[Any]
    ) -> None:
        seq = self._event_seq.get(run_id)
        if seq is None:
            row = db.execute("SELECT max(id) FROM events WHERE id BETWEEN ? AND ?", _span(key))
            last = row.fetchone()[0]
            seq = 0 if last is None else last & _LOW
        rows = []
        for event in events:
            seq += 1
            rows.append((key << 32 | seq, step, dumps(event)))
        db.executemany("INSERT INTO events (id, step, data) VALUES (?,?,?)", rows)
        self._event_seq[run_id] = seq

    async def update_run(self, run_id: str, *, fence: Any = None, **fields: Any) -> None:
        fields.setdefault("updated", time.time())
        with self._guard(f"updating run {run_id!r}") as db, self._transaction(db):
            key = self._key(db, run_id)
            if "steps" not in fields:  # checkpoints don't touch the run row: catch up here
                last = db.execute(
                    "SELECT max(id) FROM checkpoints WHERE id BETWEEN ? AND ?", _span(key)
                ).fetchone()[0]
                fields["steps"] = 0 if last is None else last & _LOW
            names = sorted(fields)
            values = [json.dumps(fields[n]) if n == "waiting" else fields[n] for n in names]
            db.execute(
                f"UPDATE runs SET {', '.join(f'{n} = ?' for n in names)} WHERE key = ?",
                (*values, key),
            )

    async def add_resume(self, run_id: str, task_id: int, value: Any) -> None:
        what = f"saving a resume value of run {run_id!r}"
        with self._guard(what) as db, self._transaction(db):
            key = self._key(db, run_id)
            (count,) = db.execute(
                "SELECT count(*) FROM resumes WHERE run = ? AND task_id = ?", (key, task_id)
            ).fetchone()
            db.execute(
                "INSERT INTO resumes (run, task_id, seq, value) VALUES (?,?,?,?)",
                (key, task_id, count, dumps(value)),
            )

    # --- reads -------------------------------------------------------------------------------

    async def get_run(self, run_id: str) -> RunRecord:
        with self._guard(f"reading run {run_id!r}") as db:
            row = db.execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
        if row is None:
            raise RunNotFoundError(run_id, self.where)
        return self._caught_up(run_from_row(row, self.where))

    def _caught_up(self, record: RunRecord) -> RunRecord:
        """A running run's step count from its checkpoints (which do not touch its row), so a
        run whose process died shows how far it got."""
        if record.status != "running":
            return record
        with self._guard(f"reading the steps of run {record.run_id!r}") as db:
            low, high = _span(self._key(db, record.run_id))
            (last,) = db.execute(
                "SELECT max(id) FROM checkpoints WHERE id BETWEEN ? AND ?", (low, high)
            ).fetchone()
        if last is not None:
            record.steps = max(record.steps, last & _LOW)
        return record

    async def checkpoints(self, run_id: str, *, from_snapshot: bool = True) -> list[Checkpoint]:
        with self._guard(f"reading the checkpoints of run {run_id!r}") as db:
            low, high = _span(self._key(db, run_id))
            if from_snapshot:
                last = db.execute(
                    "SELECT max(id) FROM checkpoints WHERE id BETWEEN ? AND ? AND snapshot = 1",
                    (low, high),
                ).fetchone()[0]
                low = low if last is None else last
            rows = db.execute(
                "SELECT id, data FROM checkpoints WHERE id BETWEEN ? AND ? ORDER BY id",
                (low, high),
            ).fetchall()
        return decode_log(run_id, ((id_ & _LOW, data) for id_, data in rows), self.where)

    async def path(self, run_id: str) -> list[str]:
        with self._guard(f"reading the path of run {run_id!r}") as db:
            span = _span(self._key(db, run_id))
            try:
                # json_quote keeps an array as it is and quotes a string, so only a list of
                # names reads back as one; a checkpoint that ran nothing has no "r" (null).
                rows = db.execute(
                    "SELECT id, json_quote(json_extract(data, '$.r')) FROM checkpoints "
                    "WHERE id BETWEEN ? AND ? ORDER BY id",
                    span,
                ).fetchall()
            except sqlite3.OperationalError as exc:
                if _locked(exc):
                    raise
                # A row SQLite cannot parse as JSON: decode every row here, to name that one.
                rows = db.execute(
                    "SELECT id, data FROM checkpoints WHERE id BETWEEN ? AND ? ORDER BY id", span
                ).fetchall()
                decoded = [decode_checkpoint(run_id, i & _LOW, d, self.where) for i, d in rows]
                return [node for checkpoint in decoded for node in checkpoint.ran]
        return [
            node
            for id_, ran in rows
            if ran != "null"
            for node in decode_ran(run_id, id_ & _LOW, ran, self.where)
        ]

    async def pending(self, run_id: str, step: int) -> list[PendingWrite]:
        with self._guard(f"reading the pending writes of run {run_id!r}") as db:
            rows = db.execute(
                "SELECT data FROM pending WHERE run = ? AND step = ? ORDER BY task_id",
                (self._key(db, run_id), step),
            ).fetchall()
        return [decode_pending(run_id, step, data, self.where) for (data,) in rows]

    async def resumes(self, run_id: str) -> dict[int, list[Any]]:
        with self._guard(f"reading the resume values of run {run_id!r}") as db:
            rows = db.execute(
                "SELECT task_id, value FROM resumes WHERE run = ? ORDER BY task_id, seq",
                (self._key(db, run_id),),
            ).fetchall()
        found: dict[int, list[Any]] = {}
        for task_id, value in rows:
            found.setdefault(task_id, []).append(decode_resume(run_id, value, self.where))
        return found

    async def events(self, run_id: str) -> list[dict[str, Any]]:
        with self._guard(f"reading the events of run {run_id!r}") as db:
            rows = db.execute(
                "SELECT step, data FROM events WHERE id BETWEEN ? AND ? ORDER BY id",
                _span(self._key(db, run_id)),
            ).fetchall()
        return [decode_event_row(run_id, step, data, self.where) for step, data in rows]

    async def list_runs(self, limit: int = 100) -> list[RunRecord]:
        with self._guard("listing runs") as db:
            rows = db.execute(
                f"SELECT {RUN_COLUMNS} FROM runs ORDER BY updated DESC LIMIT ?", (limit,)
            ).fetchall()
        return [self._caught_up(run_from_row(r, self.where)) for r in rows]

    async def _delete_runs(self, run_ids: list[str]) -> None:
        with self._guard(f"deleting {len(run_ids)} run(s)") as db, self._transaction(db):
            for run_id in run_ids:
                row = db.execute("SELECT key FROM runs WHERE run_id = ?", (run_id,)).fetchone()
                if row is None:
                    continue
                key = int(row[0])
                low, high = _span(key)
                db.execute("DELETE FROM checkpoints WHERE id BETWEEN ? AND ?", (low, high))
                db.execute("DELETE FROM events WHERE id BETWEEN ? AND ?", (low, high))
                db.execute("DELETE FROM pending WHERE run = ?", (key,))
                db.execute("DELETE FROM resumes WHERE run = ?", (key,))
                db.execute("DELETE FROM runs WHERE key = ?", (key,))
                self._keys.pop(run_id, None)
                self._event_seq.pop(run_id, None)

    async def _reclaim(self) -> None:
        with self._guard("reclaiming the space of deleted runs") as db:
            db.execute("VACUUM")

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()


def _span(key: int) -> tuple[int, int]:
    """The rowid range of one run's checkpoints or events."""
    return key << 32, key << 32 | _LOW


def _insert_checkpoint(db: sqlite3.Connection, key: int, checkpoint: Checkpoint) -> int:
    data = encode_checkpoint(checkpoint)
    db.execute(
        "INSERT INTO checkpoints (id, snapshot, data) VALUES (?,?,?)",
        (key << 32 | checkpoint.step, int(checkpoint.snapshot is not None), data),
    )
    return len(data)


def _locked(exc: sqlite3.DatabaseError) -> bool:
    """Whether ``exc`` says another connection holds the database (SQLITE_BUSY or _LOCKED)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)  # None when raised by Python, not SQLite
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)
