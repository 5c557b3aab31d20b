"""The embedded default store: one SQLite file (WAL), safe for several processes at once.

Writes are short transactions tried inline first, with no wait (in WAL mode with
``synchronous=NORMAL`` a commit costs tens of microseconds and survives a process crash). When
another connection holds the file's write lock, the call goes to a worker thread that waits for
it (up to the busy timeout) on a connection of its own, so a locked file never stalls the event
loop: other runs of the process keep stepping. A file locked past the timeout is not a bad
file: that raises `TransientStoreError`, which a run tries again.

Before anything is written, the file is checked in constant time (its header, not its rows): a
corrupt, truncated or foreign file, or one written by a newer version, is refused with a
message naming it, and left untouched. Every writer holds the run's lease (see `store.lease`),
checked in the same statement as each write.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from ..errors import (
    LeaseLostError,
    RunExistsError,
    RunNotFoundError,
    StoreError,
    TransientStoreError,
)
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
from .lease import Lease, owner_gone

T = TypeVar("T")

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
    source TEXT, epoch INTEGER NOT NULL DEFAULT 0, lease_expires REAL
);
CREATE INDEX IF NOT EXISTS runs_updated ON runs (updated);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY, snapshot INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checkpoint_snapshots ON checkpoints (id) WHERE snapshot = 1;
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, step INTEGER NOT NULL, data TEXT);
CREATE TABLE IF NOT EXISTS pending (
    run INTEGER NOT NULL, step INTEGER NOT NULL, task_id INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (run, step, task_id)
);
CREATE TABLE IF NOT EXISTS resumes (
    run INTEGER NOT NULL, task_id INTEGER NOT NULL, seq INTEGER NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (run, task_id, seq)
);
CREATE TABLE IF NOT EXISTS node_cache (
    namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires REAL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID
"""

_LOW = (1 << 32) - 1

#: Columns an older file's runs table may lack, added when it is opened.
_ADDED_COLUMNS = {"epoch": "INTEGER NOT NULL DEFAULT 0", "lease_expires": "REAL"}

# A fenced write names the writer's lease: the run row must still carry its owner and epoch,
# unreleased (a released lease keeps its owner, as the run's last driver, but no expiry).
_FENCE = " AND epoch = ? AND owner = ? AND lease_expires IS NOT NULL"


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
        # The worker that waits out another connection's lock, on a connection of its own.
        self._pool: ThreadPoolExecutor | None = None
        self._slow: sqlite3.Connection | None = None

    # --- opening: check first, write after ---------------------------------------------------

    def _connect(self, timeout: float) -> sqlite3.Connection:
        folder = self.file.parent
        if not folder.is_dir():
            raise StoreError(
                f"cannot open store {self.where}: its folder {str(folder)!r} does not exist; "
                "create it, or point the store at a file in an existing folder"
            )
        try:
            db = sqlite3.connect(
                self.file, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.where}: {exc}") from exc
        try:
            db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            db.close()
            raise self._refusal(exc, "opening it") from exc
        return db

    def _open(self) -> sqlite3.Connection:
        self._check_header()
        db = self._connect(self._timeout)
        try:
            self._check(db)
            db.execute("PRAGMA journal_mode=WAL")
            with self._transaction(db):
                for statement in _TABLES.split(";"):
                    db.execute(statement)
                columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
                for name, kind in _ADDED_COLUMNS.items():
                    if name not in columns:  # a file of an earlier version: no leases yet
                        db.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
                # Rows are written in this version's layout from now on (older rows stay
                # readable), so the file says so: an older orchestrator then refuses it.
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?), "
                    "('application', 'orchestrator') ON CONFLICT (key) DO UPDATE SET "
                    "value = excluded.value WHERE key = 'schema_version'",
                    (str(SCHEMA_VERSION),),
                )
            # From here on a call never waits for a lock on this connection: a locked file
            # sends it to the worker thread (see `_do`).
            db.execute("PRAGMA busy_timeout=0")
        except StoreError:
            db.close()
            raise
        except sqlite3.DatabaseError as exc:
            db.close()
            raise self._refusal(exc, "opening it") from exc
        return db

    def _check_header(self) -> None:
        """Refuse a truncated file from its 100-byte header, in constant time: the header
        says how many pages the database has, and the file must hold them all. Checked while
        no other connection has the file open (no write-ahead log beside it): one that is
        checkpointing may be halfway through writing those pages."""
        if Path(f"{self.file}-wal").exists():
            return
        try:
            size = self.file.stat().st_size
            with self.file.open("rb") as f:
                header = f.read(100)
        except FileNotFoundError:
            return  # a new store
        except OSError as exc:
            raise StoreError(f"cannot open store {self.where}: {exc}") from exc
        if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
            return  # empty, or not SQLite at all: `_check` names it
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(header[28:32], "big")
        counted = header[24:28] == header[92:96]  # the page count is valid only then
        if counted and pages and size < pages * page_size:
            raise StoreError(
                f"{self.where} is not a usable orchestrator store (the file holds "
                f"{size // page_size} of its {pages} pages: it was truncated); it may be "
                "corrupt, truncated or another kind of file. Nothing was changed: move it away "
                "or point the store at another file"
            )

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

    async def _do(self, what: str, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(connection)``: inline when the file is free (the common case: no thread,
        no wait), else in the worker thread, which waits for the lock up to the timeout."""
        try:
            db = self._db
            if db is None:
                db = self._db = self._connect(0)
            return work(db)
        except sqlite3.DatabaseError as exc:
            if not _locked(exc):
                raise self._refusal(exc, what) from exc
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"sqlite {self.file.name}")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._waiting, what, work)

    def _waiting(self, what: str, work: Callable[[sqlite3.Connection], T]) -> T:
        """`_do` in the worker thread: the same work on the worker's own connection."""
        try:
            db = self._slow
            if db is None:
                db = self._slow = self._connect(self._timeout)
            return work(db)
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
            elif db is getattr(self, "_slow", None):
                self._slow = None

    def _key(self, db: sqlite3.Connection, run_id: str) -> int:
        key = self._keys.get(run_id)
        if key is None:
            row = db.execute("SELECT key FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise RunNotFoundError(run_id, self.where)
            key = self._keys[run_id] = int(row[0])
        return key

    # --- writes ------------------------------------------------------------------------------

    async def create_run(
        self, run: RunRecord, first: Checkpoint, *, lease_ttl: float | None = None
    ) -> int:
        expires = None if lease_ttl is None else time.time() + lease_ttl

        def work(db: sqlite3.Connection) -> int:
            with self._transaction(db):
                try:
                    cursor = db.execute(
                        f"INSERT INTO runs ({RUN_COLUMNS}, epoch, lease_expires) "
                        f"VALUES ({', '.join('?' * (len(RUN_FIELDS) + 2))})",
                        (*run_values(run), 0 if expires is None else 1, expires),
                    )
                except sqlite3.IntegrityError as exc:
                    raise RunExistsError(run.run_id, self.where) from exc
                key = self._keys[run.run_id] = int(cursor.lastrowid or 0)
                return _insert_checkpoint(db, key, first)

        return await self._do(f"creating run {run.run_id!r}", work)

    async def save_step(
        self, checkpoint: Checkpoint, events: list[dict[str, Any]], *, fence: Any = None
    ) -> int:
        lease = _lease(fence)

        def work(db: sqlite3.Connection) -> int:
            key = self._key(db, checkpoint.run_id)
            if not events:
                # One statement in autocommit mode is its own transaction: the common step
                # costs one write, the lease checked in it. The run row is brought up to date
                # when the run stops.
                return _insert_checkpoint(db, key, checkpoint, lease)
            with self._transaction(db):
                size = _insert_checkpoint(db, key, checkpoint, lease)
                self._insert_events(db, key, checkpoint.run_id, checkpoint.step, events)
                return size

        return await self._do(f"saving step {checkpoint.step} of run {checkpoint.run_id!r}", work)

    async def save_pending(self, pending: PendingWrite, *, fence: Any = None) -> None:
        lease = _lease(fence)

        def work(db: sqlite3.Connection) -> None:
            values = (
                self._key(db, pending.run_id),
                pending.step,
                pending.task_id,
                pending.model_dump_json(exclude_defaults=True),
            )
            if lease is None:
                db.execute(
                    "INSERT OR REPLACE INTO pending (run, step, task_id, data) VALUES (?,?,?,?)",
                    values,
                )
                return
            cursor = db.execute(
                "INSERT OR REPLACE INTO pending (run, step, task_id, data) "
                "SELECT ?, ?, ?, ? FROM runs WHERE key = ?" + _FENCE,
                (*values, values[0], lease.epoch, lease.owner),
            )
            if cursor.rowcount == 0:
                raise LeaseLostError(pending.run_id, lease.owner, lease.epoch)

        await self._do(f"saving a pending write of run {pending.run_id!r}", work)

    async def save_events(
        self, run_id: str, step: int, events: list[dict[str, Any]], *, fence: Any = None
    ) -> None:
        if not events:
            return
        lease = _lease(fence)

        def work(db: sqlite3.Connection) -> None:
            with self._transaction(db):
                key = self._key(db, run_id)
                _check_fence(db, key, run_id, lease)
                self._insert_events(db, key, run_id, step, events)

        await self._do(f"saving events of run {run_id!r}", work)

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

    async def update_run(
        self, run_id: str, *, fence: Any = None, release: bool = False, **fields: Any
    ) -> None:
        fields.setdefault("updated", time.time())
        lease = _lease(fence)
        if release and lease is not None:
            fields.update(lease_expires=None)

        def work(db: sqlite3.Connection) -> None:
            with self._transaction(db):
                key = self._key(db, run_id)
                if "steps" not in fields:  # checkpoints don't touch the run row: catch up here
                    last = db.execute(
                        "SELECT max(id) FROM checkpoints WHERE id BETWEEN ? AND ?", _span(key)
                    ).fetchone()[0]
                    fields["steps"] = 0 if last is None else last & _LOW
                names = sorted(fields)
                values = [json.dumps(fields[n]) if n == "waiting" else fields[n] for n in names]
                query = f"UPDATE runs SET {', '.join(f'{n} = ?' for n in names)} WHERE key = ?"
                if lease is None:
                    db.execute(query, (*values, key))
                    return
                cursor = db.execute(query + _FENCE, (*values, key, lease.epoch, lease.owner))
                if cursor.rowcount == 0:
                    raise LeaseLostError(run_id, lease.owner, lease.epoch)

        await self._do(f"updating run {run_id!r}", work)

    async def add_resume(self, run_id: str, task_id: int, value: Any) -> None:
        def work(db: sqlite3.Connection) -> None:
            with self._transaction(db):
                key = self._key(db, run_id)
                (count,) = db.execute(
                    "SELECT count(*) FROM resumes WHERE run = ? AND task_id = ?", (key, task_id)
                ).fetchone()
                db.execute(
                    "INSERT INTO resumes (run, task_id, seq, value) VALUES (?,?,?,?)",
                    (key, task_id, count, dumps(value)),
                )

        await self._do(f"saving a resume value of run {run_id!r}", work)

    # --- leases ------------------------------------------------------------------------------

    async def acquire(self, run_id: str, owner: str, ttl: float) -> Lease | None:
        def work(db: sqlite3.Connection) -> Lease | None:
            with self._transaction(db):
                row = db.execute(
                    "SELECT key, owner, epoch, lease_expires FROM runs WHERE run_id = ?",
                    (run_id,),
                ).fetchone()
                if row is None:
                    raise RunNotFoundError(run_id, self.where)
                key, held, epoch, expires = row
                now = time.time()
                live = held is not None and expires is not None and expires > now
                if live and held != owner and not owner_gone(held):
                    return None
                db.execute(
                    "UPDATE runs SET owner = ?, epoch = ?, lease_expires = ? WHERE key = ?",
                    (owner, epoch + 1, now + ttl, key),
                )
                return Lease(run_id, owner, epoch + 1, ttl)

        return await self._do(f"acquiring the lease of run {run_id!r}", work)

    async def heartbeat(self, lease: Lease) -> None:
        def work(db: sqlite3.Connection) -> None:
            cursor = db.execute(
                "UPDATE runs SET lease_expires = ? WHERE key = ?" + _FENCE,
                (time.time() + lease.ttl, self._key(db, lease.run_id), lease.epoch, lease.owner),
            )
            if cursor.rowcount == 0:
                raise LeaseLostError(lease.run_id, lease.owner, lease.epoch)

        await self._do(f"renewing the lease of run {lease.run_id!r}", work)

    async def release(self, lease: Lease) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE runs SET lease_expires = NULL WHERE key = ?" + _FENCE,
                (self._key(db, lease.run_id), lease.epoch, lease.owner),
            )

        await self._do(f"releasing the lease of run {lease.run_id!r}", work)

    async def holder(self, run_id: str) -> tuple[str | None, float | None]:
        def work(db: sqlite3.Connection) -> tuple[str | None, float | None]:
            row = db.execute(
                "SELECT owner, lease_expires FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise RunNotFoundError(run_id, self.where)
            held, expires = row
            if held is None or expires is None:
                return None, None
            return held, max(0.0, expires - time.time())

        return await self._do(f"reading the lease of run {run_id!r}", work)

    # --- reads -------------------------------------------------------------------------------

    async def get_run(self, run_id: str) -> RunRecord:
        def work(db: sqlite3.Connection) -> RunRecord:
            row = db.execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise RunNotFoundError(run_id, self.where)
            return self._caught_up(db, run_from_row(row, self.where))

        return await self._do(f"reading run {run_id!r}", work)

    def _caught_up(self, db: sqlite3.Connection, record: RunRecord) -> RunRecord:
        """A running run's step count from its checkpoints (which do not touch its row), so a
        run whose process died shows how far it got."""
        if record.status != "running":
            return record
        low, high = _span(self._key(db, record.run_id))
        (last,) = db.execute(
            "SELECT max(id) FROM checkpoints WHERE id BETWEEN ? AND ?", (low, high)
        ).fetchone()
        if last is not None:
            record.steps = max(record.steps, last & _LOW)
        return record

    async def checkpoints(self, run_id: str, *, from_snapshot: bool = True) -> list[Checkpoint]:
        def work(db: sqlite3.Connection) -> list[tuple[int, Any]]:
            low, high = _span(self._key(db, run_id))
            if from_snapshot:  # the latest snapshot, from the partial index on snapshots
                last = db.execute(
                    "SELECT max(id) FROM checkpoints WHERE id BETWEEN ? AND ? AND snapshot = 1",
                    (low, high),
                ).fetchone()[0]
                low = low if last is None else last
            rows: list[tuple[int, Any]] = db.execute(
                "SELECT id, data FROM checkpoints WHERE id BETWEEN ? AND ? ORDER BY id",
                (low, high),
            ).fetchall()
            return rows

        rows = await self._do(f"reading the checkpoints of run {run_id!r}", work)
        return decode_log(run_id, ((id_ & _LOW, data) for id_, data in rows), self.where)

    async def path(self, run_id: str) -> list[str]:
        def work(db: sqlite3.Connection) -> list[str]:
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

        return await self._do(f"reading the path of run {run_id!r}", work)

    async def pending(self, run_id: str, step: int) -> list[PendingWrite]:
        def work(db: sqlite3.Connection) -> list[Any]:
            rows: list[Any] = db.execute(
                "SELECT data FROM pending WHERE run = ? AND step = ? ORDER BY task_id",
                (self._key(db, run_id), step),
            ).fetchall()
            return rows

        rows = await self._do(f"reading the pending writes of run {run_id!r}", work)
        return [decode_pending(run_id, step, data, self.where) for (data,) in rows]

    async def resumes(self, run_id: str) -> dict[int, list[Any]]:
        def work(db: sqlite3.Connection) -> list[Any]:
            rows: list[Any] = db.execute(
                "SELECT task_id, value FROM resumes WHERE run = ? ORDER BY task_id, seq",
                (self._key(db, run_id),),
            ).fetchall()
            return rows

        rows = await self._do(f"reading the resume values of run {run_id!r}", work)
        found: dict[int, list[Any]] = {}
        for task_id, value in rows:
            found.setdefault(task_id, []).append(decode_resume(run_id, value, self.where))
        return found

    async def events(self, run_id: str) -> list[dict[str, Any]]:
        def work(db: sqlite3.Connection) -> list[Any]:
            rows: list[Any] = db.execute(
                "SELECT step, data FROM events WHERE id BETWEEN ? AND ? ORDER BY id",
                _span(self._key(db, run_id)),
            ).fetchall()
            return rows

        rows = await self._do(f"reading the events of run {run_id!r}", work)
        return [decode_event_row(run_id, step, data, self.where) for step, data in rows]

    async def list_runs(self, limit: int = 100) -> list[RunRecord]:
        def work(db: sqlite3.Connection) -> list[RunRecord]:
            rows = db.execute(
                f"SELECT {RUN_COLUMNS} FROM runs ORDER BY updated DESC LIMIT ?", (limit,)
            ).fetchall()
            return [self._caught_up(db, run_from_row(r, self.where)) for r in rows]

        return await self._do("listing runs", work)

    async def _delete_runs(self, run_ids: list[str]) -> None:
        def work(db: sqlite3.Connection) -> None:
            with self._transaction(db):
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

        await self._do(f"deleting {len(run_ids)} run(s)", work)

    # --- the node cache ------------------------------------------------------------------------

    async def cache_get(self, namespace: str, key: str) -> str | None:
        def work(db: sqlite3.Connection) -> str | None:
            row = db.execute(
                "SELECT value FROM node_cache WHERE namespace = ? AND key = ? "
                "AND (expires IS NULL OR expires > ?)",
                (namespace, key, time.time()),
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._do(f"reading the node cache of {namespace!r}", work)

    async def cache_put(self, namespace: str, key: str, value_json: str, ttl: float | None) -> None:
        expires = None if ttl is None else time.time() + ttl

        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO node_cache (namespace, key, value, expires) VALUES (?,?,?,?) "
                "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, "
                "expires = excluded.expires",
                (namespace, key, value_json, expires),
            )

        await self._do(f"writing the node cache of {namespace!r}", work)

    async def cache_clear(self, namespace: str | None = None) -> int:
        def work(db: sqlite3.Connection) -> int:
            if namespace is None:
                return db.execute("DELETE FROM node_cache").rowcount
            return db.execute("DELETE FROM node_cache WHERE namespace = ?", (namespace,)).rowcount

        return await self._do("clearing the node cache", work)

    async def _reclaim(self) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("VACUUM")

        await self._do("reclaiming the space of deleted runs", work)

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            slow = self._slow
            if slow is not None:
                pool.submit(slow.close)  # on its own thread, after whatever still waits there
            self._slow = None
            pool.shutdown(wait=False)


def _lease(fence: Any) -> Lease | None:
    """The lease a write is fenced with; none (or one of a store without leases, epoch 0)
    means the write is not fenced."""
    if fence is None:
        return None
    if not isinstance(fence, Lease):
        raise TypeError(f"fence must be a Lease from Store.acquire, not {type(fence).__name__}")
    return fence if fence.epoch else None


def _check_fence(db: sqlite3.Connection, key: int, run_id: str, lease: Lease | None) -> None:
    if lease is None:
        return
    row = db.execute(
        "SELECT 1 FROM runs WHERE key = ?" + _FENCE, (key, lease.epoch, lease.owner)
    ).fetchone()
    if row is None:
        raise LeaseLostError(run_id, lease.owner, lease.epoch)


def _span(key: int) -> tuple[int, int]:
    """The rowid range of one run's checkpoints or events."""
    return key << 32, key << 32 | _LOW


def _insert_checkpoint(
    db: sqlite3.Connection, key: int, checkpoint: Checkpoint, lease: Lease | None = None
) -> int:
    data = encode_checkpoint(checkpoint)
    row = (key << 32 | checkpoint.step, int(checkpoint.snapshot is not None), data)
    if lease is None:
        db.execute("INSERT INTO checkpoints (id, snapshot, data) VALUES (?,?,?)", row)
        return len(data)
    # Fenced in the same statement: written only while the run row carries the lease.
    cursor = db.execute(
        "INSERT INTO checkpoints (id, snapshot, data) SELECT ?, ?, ? FROM runs WHERE key = ?"
        + _FENCE,
        (*row, key, lease.epoch, lease.owner),
    )
    if cursor.rowcount == 0:
        raise LeaseLostError(checkpoint.run_id, lease.owner, lease.epoch)
    return len(data)


def _locked(exc: sqlite3.DatabaseError) -> bool:
    """Whether ``exc`` says another connection holds the database (SQLITE_BUSY or _LOCKED)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)  # None when raised by Python, not SQLite
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)
