"""The shared store for many workers: PostgreSQL through psycopg 3 (async), with run leases.

Same tables and records as the SQLite store, plus a lease on every run row (owner, epoch,
expiry) so exactly one host writes a run at a time. A writer passes its `Lease` as ``fence``
and a write whose epoch is no longer current is refused with `LeaseLostError`, atomically with
the write itself. Every write is one autocommitted statement (data-modifying CTEs), so a
checkpoint costs one round trip and no ``BEGIN``/``COMMIT`` pair. What may pass if tried again
(a lost connection, a server restarting, a lock or serialization conflict) raises
`TransientStoreError`, which a run retries on a new connection; the rest is a `StoreError`.

    store = PostgresStore("postgresql://app@db.internal/orchestrator")
    result = await graph.run({"topic": "x"}, store=store)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    from psycopg.pq import TransactionStatus
    from psycopg.rows import TupleRow
except ImportError as exc:  # the optional extra is not installed
    raise ImportError(
        "the PostgreSQL store needs psycopg 3: pip install 'orchestrator[postgres]'"
    ) from exc

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
from .base import Store, StoredRun
from .lease import Lease, owner_gone

__all__ = ["Lease", "PostgresStore"]

__all__ = ["Lease", "PostgresStore"]

_TABLE_NAMES = ("meta", "runs", "checkpoints", "pending", "events", "resumes", "node_cache")

# The layout of the SQLite store: runs get an integer key their other rows are stored under
# (a 32-character run id repeated in every row and index entry costs more than the data).
# JSON goes in TEXT, not JSONB: it round-trips byte for byte (key order, the sizes save_step
# reports), and JSONB rejects the escape \u0000, which model output can contain. For the same
# reason checkpoints keep `ran` in a column of their own (SQLite reads it with json_extract):
# the server's JSON operators fail on a document holding \u0000 anywhere.
# Times are DOUBLE PRECISION seconds like SQLite's REAL (PostgreSQL's REAL is 4 bytes); only
# lease_expires is a timestamp, compared with the server's clock so hosts' clocks never have
# to agree.
_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    key BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, run_id TEXT NOT NULL UNIQUE,
    graph TEXT NOT NULL, graph_hash TEXT NOT NULL,
    status TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL,
    parent_run TEXT, parent_step INTEGER, error TEXT, waiting TEXT NOT NULL DEFAULT '[]',
    owner TEXT, steps INTEGER NOT NULL DEFAULT 0, source TEXT,
    epoch BIGINT NOT NULL DEFAULT 0, lease_expires TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS runs_updated ON runs (updated);
CREATE INDEX IF NOT EXISTS runs_claim ON runs (status, created);
CREATE TABLE IF NOT EXISTS checkpoints (
    run BIGINT NOT NULL, step INTEGER NOT NULL, snapshot BOOLEAN NOT NULL, data TEXT NOT NULL,
    ran TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (run, step)
);
CREATE TABLE IF NOT EXISTS pending (
    run BIGINT NOT NULL, step INTEGER NOT NULL, task_id INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (run, step, task_id)
);
CREATE TABLE IF NOT EXISTS events (
    run BIGINT NOT NULL, seq INTEGER NOT NULL, step INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (run, seq)
);
CREATE TABLE IF NOT EXISTS resumes (
    run BIGINT NOT NULL, task_id INTEGER NOT NULL, seq INTEGER NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (run, task_id, seq)
);
CREATE TABLE IF NOT EXISTS node_cache (
    namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires DOUBLE PRECISION,
    PRIMARY KEY (namespace, key)
)
"""

#: Serialises schema set-up between processes that open an empty database at once
#: (concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog). Any fixed int64.
_SCHEMA_LOCK = 0x6F72_6368_5354_4F52  # "orchSTOR"

#: Operational errors that will not pass if tried again: program limits (SQLSTATE class 54,
#: a statement too complex). Others (lost connections, lock and serialization conflicts,
#: timeouts, a server shutting down or out of resources) are transient.
_LIMITS = "54"

#: How the server words a refusal at connect time that will not pass: who or what is wrong.
#: (libpq gives no SQLSTATE there; starting up, shutting down, too many clients may pass.)
_REFUSED = (
    "does not exist",
    "authentication failed",
    "pg_hba.conf",
    "permission denied",
    "password",
)

#: What update_run may set: the run record's fields. The lease columns change only through
#: acquire/heartbeat/release/claim.
_UPDATABLE = frozenset(RunRecord.model_fields) - {"run_id"}

# Every write is one statement that reads the run's key from `run`: when the run is missing,
# or (fenced) its row no longer carries the writer's owner and epoch, it writes nothing. The
# fenced form takes FOR SHARE, which conflicts with a takeover's UPDATE: a write lands either
# before another host's acquire or not at all.
_FENCE = " AND owner = %(owner)s AND epoch = %(epoch)s AND lease_expires IS NOT NULL"
_RUN = "SELECT key FROM runs WHERE run_id = %(run_id)s"
_FENCED_RUN = f"{_RUN}{_FENCE} FOR SHARE"

# A checkpoint and its events. Like SQLite, the run row is brought up to date when the run
# stops (update_run), not at every step.
_SAVE_STEP = """
WITH run AS ({run}), checkpoint AS (
    INSERT INTO checkpoints (run, step, snapshot, data, ran)
    SELECT key, %(step)s, %(snapshot)s, %(data)s, %(ran)s FROM run
), event AS (
    INSERT INTO events (run, seq, step, data)
    SELECT run.key, coalesce(last.seq, 0) + e.ord, %(step)s, e.data
    FROM run
    CROSS JOIN LATERAL (SELECT max(seq) AS seq FROM events WHERE events.run = run.key) AS last
    CROSS JOIN unnest(%(events)s::text[]) WITH ORDINALITY AS e(data, ord)
)
SELECT count(*) FROM run
"""

# Many runs' checkpoints in one statement (group commit), each fenced on its own lease: the
# rows returned are the ones written.
_SAVE_STEPS = """
WITH input AS (
    SELECT * FROM unnest(
        %(run_ids)s::text[], %(steps)s::int[], %(snapshots)s::bool[], %(datas)s::text[],
        %(rans)s::text[], %(owners)s::text[], %(epochs)s::bigint[]
    ) AS i(run_id, step, snapshot, data, ran, owner, epoch)
), ok AS (
    SELECT r.key, input.run_id, input.step, input.snapshot, input.data, input.ran
    FROM input JOIN runs AS r ON r.run_id = input.run_id
    WHERE input.owner IS NULL
       OR (r.owner = input.owner AND r.epoch = input.epoch AND r.lease_expires IS NOT NULL)
    FOR SHARE OF r
), saved AS (
    INSERT INTO checkpoints (run, step, snapshot, data, ran)
    SELECT key, step, snapshot, data, ran FROM ok
)
SELECT run_id, step FROM ok
"""

_SAVE_PENDING = """
WITH run AS ({run})
INSERT INTO pending (run, step, task_id, data)
SELECT key, %(step)s, %(task_id)s, %(data)s FROM run
ON CONFLICT (run, step, task_id) DO UPDATE SET data = EXCLUDED.data
"""

_SAVE_EVENTS = """
WITH run AS ({run})
INSERT INTO events (run, seq, step, data)
SELECT run.key, coalesce(last.seq, 0) + e.ord, %(step)s, e.data
FROM run
CROSS JOIN LATERAL (SELECT max(seq) AS seq FROM events WHERE events.run = run.key) AS last
CROSS JOIN unnest(%(events)s::text[]) WITH ORDINALITY AS e(data, ord)
"""

# Everything `read_run` needs in one round trip: the run row (as JSON), the checkpoints from the
# latest snapshot, every step's `ran`, the resume values and the pending writes of the step
# after the last checkpoint, one kind of row each (sorted apart in Python).
_READ_RUN = f"""
WITH r AS (SELECT key, {RUN_COLUMNS} FROM runs WHERE run_id = %(run_id)s),
marks AS (
    SELECT coalesce(max(c.step) FILTER (WHERE c.snapshot), 0) AS snap,
           coalesce(max(c.step), 0) AS last
    FROM r LEFT JOIN checkpoints AS c ON c.run = r.key
)
SELECT 'r', 0, 0, row_to_json(r)::text FROM r
UNION ALL
SELECT 'c', c.step, 0, c.data FROM r, marks, checkpoints AS c
WHERE c.run = r.key AND c.step >= marks.snap
UNION ALL
SELECT 'p', c.step, 0, c.ran FROM r, checkpoints AS c WHERE c.run = r.key
UNION ALL
SELECT 's', s.task_id, s.seq, s.value FROM r, resumes AS s WHERE s.run = r.key
UNION ALL
SELECT 'w', p.task_id, 0, p.data FROM r, marks, pending AS p
WHERE p.run = r.key AND p.step = marks.last + 1
"""

_ADD_RESUME = f"""
WITH run AS ({_RUN})
INSERT INTO resumes (run, task_id, seq, value)
SELECT key, %(task_id)s,
       (SELECT count(*) FROM resumes WHERE resumes.run = run.key AND task_id = %(task_id)s),
       %(value)s
FROM run
"""

# A live lease belongs to whoever holds it; no owner, no expiry (a run written without
# leases) or an expired one is free. The same owner may take its run again (a new epoch).
_ACQUIRE = """
UPDATE runs
SET owner = %(owner)s, epoch = epoch + 1, lease_expires = now() + %(ttl)s
WHERE run_id = %(run_id)s
  AND (owner IS NULL OR owner = %(owner)s OR lease_expires IS NULL OR lease_expires <= now())
RETURNING epoch
"""

# Queued runs nobody holds, and running runs whose lease expired (their host died). A running
# run without any lease is driven by a plain process (`graph.run(store=...)`): never claimed.
# SKIP LOCKED lets concurrent claimers pass over each other's rows instead of queueing.
_CLAIM = """
WITH picked AS (
    SELECT key FROM runs
    WHERE (status = ANY(%(statuses)s) AND (lease_expires IS NULL OR lease_expires <= now()))
       OR (status = 'running' AND lease_expires <= now())
    ORDER BY created
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), taken AS (
    UPDATE runs
    SET owner = %(owner)s, epoch = runs.epoch + 1, lease_expires = now() + %(ttl)s{running}
    FROM picked WHERE runs.key = picked.key
    RETURNING runs.run_id, runs.epoch, runs.created
)
SELECT run_id, epoch FROM taken ORDER BY created
"""

# Reads of a run's rows join from its run row: no row at all means no such run (one round
# trip either way); a run without rows of that kind gives one row of NULLs.
_CHECKPOINTS = """
SELECT c.step, c.data FROM runs AS r
LEFT JOIN checkpoints AS c ON c.run = r.key AND c.step >= {start}
WHERE r.run_id = %(run_id)s ORDER BY c.step
"""
_LATEST_SNAPSHOT = "(SELECT coalesce(max(step), 0) FROM checkpoints WHERE run = r.key AND snapshot)"
_PATH = """
SELECT c.step, c.ran FROM runs AS r LEFT JOIN checkpoints AS c ON c.run = r.key
WHERE r.run_id = %(run_id)s ORDER BY c.step
"""
_PENDING = """
SELECT p.task_id, p.data FROM runs AS r
LEFT JOIN pending AS p ON p.run = r.key AND p.step = %(step)s
WHERE r.run_id = %(run_id)s ORDER BY p.task_id
"""
_RESUMES = """
SELECT s.task_id, s.value FROM runs AS r LEFT JOIN resumes AS s ON s.run = r.key
WHERE r.run_id = %(run_id)s ORDER BY s.task_id, s.seq
"""
_EVENTS = """
SELECT e.seq, e.step, e.data FROM runs AS r LEFT JOIN events AS e ON e.run = r.key
WHERE r.run_id = %(run_id)s ORDER BY e.seq
"""


#: A checkpoint queued for the next group commit: its encoding, its lease, its writer's future.
_Queued = tuple[Checkpoint, str, Lease | None, "asyncio.Future[None]"]


class PostgresStore(Store):
    """Runs in a PostgreSQL database, shared by every process that opens the same URL.

    The connection opens on first use, inside the running event loop; the tables are created
    then if the database has none of them (a database with other tables is fine).

        store = PostgresStore("postgresql://postgres@127.0.0.1:5432/runs")
        lease = await store.acquire(run_id, "host-1", ttl=30)
    """

    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        try:
            params = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise StoreError(
                f"{_redact(url)} is not a valid PostgreSQL URL ({_first_line(exc)}); write it "
                "as postgresql://user@host:port/database"
            ) from exc
        self.url = url
        self.where = _redact(url)
        host = str(params.get("host") or "localhost")
        self._address = (
            f"{host}:{params.get('port') or 5432}, "
            f"database {params.get('dbname') or params.get('user') or '(default)'}"
        )
        # A host that drops packets would otherwise hang the first write for minutes.
        self._conninfo = (
            url
            if "connect_timeout" in params
            else make_conninfo(url, connect_timeout=max(1, round(connect_timeout)))
        )
        self._conn: psycopg.AsyncConnection[TupleRow] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        # Checkpoints waiting for the next group commit (see `save_step`), and its writer.
        self._batch: list[_Queued] = []
        self._batch_loop: asyncio.AbstractEventLoop | None = None
        self._flusher: asyncio.Future[None] | None = None

    # --- connection --------------------------------------------------------------------------

    @asynccontextmanager
    async def _session(self, what: str) -> AsyncIterator[psycopg.AsyncConnection[TupleRow]]:
        """The connection, held by one operation at a time, with driver errors translated.

        One connection serves the whole store: a run's writes are sequential anyway, and the
        lock keeps concurrent tasks (parallel branches) from interleaving their statements.
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A psycopg connection belongs to the loop that opened it: a store reused under
            # a new loop (two asyncio.run calls) opens a fresh one.
            self._discard()
            self._loop, self._lock = loop, asyncio.Lock()
        async with self._lock:
            try:
                conn = self._conn
                if conn is None or conn.closed:
                    conn = self._conn = await self._open()
                yield conn
            except psycopg.OperationalError as exc:
                lost = self._conn is None or self._conn.broken or self._conn.closed
                # A connection that saw the server go, or an error mid-statement, is not worth
                # keeping: the next try connects again.
                self._discard()
                if exc.sqlstate is not None and exc.sqlstate.startswith(_LIMITS):
                    raise StoreError(
                        f"PostgreSQL store {self.where} refused {what}: {_first_line(exc)}"
                    ) from exc
                if lost:
                    raise TransientStoreError(
                        f"lost the connection to PostgreSQL at {self._address} while {what} "
                        f"({_first_line(exc)}); a run tries again on a new connection. If it "
                        f"lasts: is the server running? check the URL {self.where}"
                    ) from exc
                raise TransientStoreError(
                    f"PostgreSQL at {self._address} ({self.where}) gave up {what} for now "
                    f"({_first_line(exc)}): a conflict with another transaction, a lock or "
                    "statement timeout, or the server shutting down; this may pass, and a run "
                    "tries again by itself. If it lasts, look in pg_stat_activity for long "
                    "transactions holding locks on the orchestrator tables"
                ) from exc
            except psycopg.Error as exc:
                raise StoreError(
                    f"PostgreSQL store {self.where} refused {what}: {_first_line(exc)}"
                ) from exc
            except BaseException:
                # Cancelled mid-statement: psycopg cancels the query, but a connection in an
                # unknown state is not worth keeping.
                conn = self._conn
                if conn is not None and conn.info.transaction_status != TransactionStatus.IDLE:
                    self._discard()
                raise

    async def _open(self) -> psycopg.AsyncConnection[TupleRow]:
        try:
            conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            reason = _first_line(exc)
            if any(marker in str(exc).lower() for marker in _REFUSED):
                raise StoreError(
                    f"cannot connect to PostgreSQL at {self._address}: the server refused it "
                    f"({reason}); check the user, password and database name in the URL "
                    f"{self.where}"
                ) from exc
            # Refused, timed out, starting up, too many clients: the server may be restarting.
            raise TransientStoreError(
                f"cannot connect to PostgreSQL at {self._address} ({reason}); is the server "
                f"running? check the URL {self.where} (a run tries again for a while before "
                "it stops)"
            ) from exc
        try:
            await self._setup(conn)
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _setup(self, conn: psycopg.AsyncConnection[TupleRow]) -> None:
        """Check the database, then create what is missing; a refusal changes nothing."""
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            cur = await conn.execute(
                "SELECT table_name::text FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_name = ANY(%s)",
                (list(_TABLE_NAMES),),
            )
            ours = {row[0] for row in await cur.fetchall()}
            if ours:
                meta: dict[str, str] = {}
                if "meta" in ours:
                    cur = await conn.execute("SELECT key, value FROM meta")
                    meta = {key: value for key, value in await cur.fetchall()}
                self._check(meta, ours)
            if ours != set(_TABLE_NAMES):
                for statement in _TABLES.split(";"):
                    await conn.execute(statement)
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', %s), "
                "('application', 'orchestrator') ON CONFLICT (key) DO UPDATE SET "
                "value = excluded.value WHERE meta.key = 'schema_version'",
                (str(SCHEMA_VERSION),),
            )

    def _check(self, meta: dict[str, str], tables: set[str]) -> None:
        if meta.get("application") != "orchestrator":
            raise StoreError(
                f"{self.where} has tables named like an orchestrator store "
                f"({', '.join(sorted(tables))}) but no orchestrator meta row, so they belong to "
                "another application; nothing was changed. Use another database (or schema)"
            )
        version = meta.get("schema_version", "0")
        if not version.isdigit() or int(version) > SCHEMA_VERSION:
            raise StoreError(
                f"{self.where} was written by a newer orchestrator (store schema {version}, "
                f"this version reads up to {SCHEMA_VERSION}); upgrade orchestrator to use it"
            )

    def _discard(self) -> None:
        # Synchronous on purpose: the connection's loop may be gone, so no await on it.
        if self._conn is not None and not self._conn.closed:
            self._conn.pgconn.finish()
        self._conn = None

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None or conn.closed:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            await conn.close()
        else:
            conn.pgconn.finish()

    # --- writes ------------------------------------------------------------------------------

    async def create_run(
        self, run: RunRecord, first: Checkpoint, *, lease_ttl: float | None = None
    ) -> int:
        data = encode_checkpoint(first)
        async with self._session(f"creating run {run.run_id!r}") as conn:
            try:
                await conn.execute(
                    f"WITH run AS (INSERT INTO runs ({RUN_COLUMNS}, epoch, lease_expires) "
                    f"VALUES ({', '.join(['%s'] * len(RUN_FIELDS))}, %s, now() + %s) "
                    "RETURNING key) "
                    "INSERT INTO checkpoints (run, step, snapshot, data, ran) "
                    "SELECT key, %s, %s, %s, %s FROM run",
                    (
                        *run_values(run),
                        0 if lease_ttl is None else 1,
                        None if lease_ttl is None else _interval(lease_ttl),
                        first.step,
                        first.snapshot is not None,
                        data,
                        json.dumps(first.ran),
                    ),
                )
            except psycopg.errors.UniqueViolation as exc:
                raise RunExistsError(run.run_id, self.where) from exc
        return len(data)

    async def save_step(
        self, checkpoint: Checkpoint, events: list[dict[str, Any]], *, fence: Any = None
    ) -> int:
        lease = _lease(fence)
        data = encode_checkpoint(checkpoint)
        if not events:
            # Group commit: the checkpoints of every run that reaches a barrier while the
            # connection is busy go to the server together, in one statement.
            loop = asyncio.get_running_loop()
            if loop is not self._batch_loop:
                self._batch_loop, self._batch, self._flusher = loop, [], None
            done: asyncio.Future[None] = loop.create_future()
            self._batch.append((checkpoint, data, lease, done))
            if self._flusher is None:
                self._flusher = asyncio.ensure_future(self._flush())
            await done
            return len(data)
        await self._save_one(checkpoint, data, events, lease)
        return len(data)

    async def _flush(self) -> None:
        """Write what `save_step` queued, batch after batch, until nothing is left."""
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                try:
                    await self._save_batch(batch)
                except BaseException as exc:
                    for *_, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
        finally:
            self._flusher = None

    async def _save_batch(self, batch: list[_Queued]) -> None:
        if len(batch) == 1:
            checkpoint, data, lease, done = batch[0]
            await self._save_one(checkpoint, data, [], lease)
            if not done.done():
                done.set_result(None)
            return
        params = {
            "run_ids": [c.run_id for c, *_ in batch],
            "steps": [c.step for c, *_ in batch],
            "snapshots": [c.snapshot is not None for c, *_ in batch],
            "datas": [data for _, data, _, _ in batch],
            "rans": [json.dumps(c.ran) for c, *_ in batch],
            "owners": [lease.owner if lease else None for _, _, lease, _ in batch],
            "epochs": [lease.epoch if lease else 0 for _, _, lease, _ in batch],
        }
        try:
            async with self._session(f"saving {len(batch)} steps") as conn:
                cur = await conn.execute(_SAVE_STEPS, params)
                saved = {(run_id, step) for run_id, step in await cur.fetchall()}
        except TransientStoreError:
            raise  # every writer tries again by itself
        except StoreError:
            # One row the server refused (a step already written) fails the statement: each
            # checkpoint on its own, so only that writer hears of it.
            for checkpoint, data, lease, done in batch:
                try:
                    await self._save_one(checkpoint, data, [], lease)
                except Exception as exc:
                    if not done.done():
                        done.set_exception(exc)
                else:
                    if not done.done():
                        done.set_result(None)
            return
        for checkpoint, _, lease, done in batch:
            if done.done():
                continue
            if (checkpoint.run_id, checkpoint.step) in saved:
                done.set_result(None)
                continue
            try:  # not written: the run is gone, or its lease moved on
                async with self._session(f"checking run {checkpoint.run_id!r}") as conn:
                    await self._refused(conn, checkpoint.run_id, lease)
                raise StoreError(f"step {checkpoint.step} of run {checkpoint.run_id!r} was lost")
            except Exception as exc:
                done.set_exception(exc)

    async def _save_one(
        self,
        checkpoint: Checkpoint,
        data: str,
        events: list[dict[str, Any]],
        lease: Lease | None,
    ) -> None:
        run_id = checkpoint.run_id
        async with self._session(f"saving step {checkpoint.step} of run {run_id!r}") as conn:
            cur = await conn.execute(
                _SAVE_STEP.format(run=_FENCED_RUN if lease else _RUN),
                {
                    "run_id": run_id,
                    "step": checkpoint.step,
                    "snapshot": checkpoint.snapshot is not None,
                    "data": data,
                    "ran": json.dumps(checkpoint.ran),
                    "events": [dumps(event) for event in events],
                    **_fence_params(lease),
                },
            )
            row = await cur.fetchone()
            if not (row and row[0]):
                await self._refused(conn, run_id, lease)

    async def _delete_runs(self, run_ids: list[str]) -> None:
        async with (
            self._session(f"deleting {len(run_ids)} run(s)") as conn,
            conn.transaction(),
        ):
            cur = await conn.execute(
                "DELETE FROM runs WHERE run_id = ANY(%(ids)s) RETURNING key", {"ids": run_ids}
            )
            keys = [row[0] for row in await cur.fetchall()]
            for table in ("checkpoints", "pending", "events", "resumes"):
                await conn.execute(
                    f"DELETE FROM {table} WHERE run = ANY(%(keys)s)",
                    {"keys": keys},
                )

    async def save_pending(self, pending: PendingWrite, *, fence: Any = None) -> None:
        lease = _lease(fence)
        what = f"saving a pending write of run {pending.run_id!r}"
        async with self._session(what) as conn:
            cur = await conn.execute(
                _SAVE_PENDING.format(run=_FENCED_RUN if lease else _RUN),
                {
                    "run_id": pending.run_id,
                    "step": pending.step,
                    "task_id": pending.task_id,
                    "data": pending.model_dump_json(exclude_defaults=True),
                    **_fence_params(lease),
                },
            )
            if cur.rowcount == 0:
                await self._refused(conn, pending.run_id, lease)

    async def save_events(
        self, run_id: str, step: int, events: list[dict[str, Any]], *, fence: Any = None
    ) -> None:
        if not events:
            return
        lease = _lease(fence)
        params: dict[str, Any] = {
            "run_id": run_id,
            "step": step,
            "events": [dumps(e) for e in events],
        }
        if lease is not None:
            params.update(owner=lease.owner, epoch=lease.epoch)
        query = _SAVE_EVENTS.format(run=_FENCED_RUN if lease is not None else _RUN)
        async with self._session(f"saving events of run {run_id!r}") as conn:
            cur = await conn.execute(query, params)
            if cur.rowcount == 0:
                await self._refused(conn, run_id, lease)

    async def update_run(
        self, run_id: str, *, fence: Any = None, release: bool = False, **fields: Any
    ) -> None:
        """Set fields of the run row; with ``fence`` (a `Lease`) only while it is current;
        ``release`` gives the lease up in the same statement."""
        unknown = sorted(set(fields) - _UPDATABLE)
        if unknown:
            raise StoreError(
                f"cannot set {', '.join(unknown)} of run {run_id!r}: not a field of a run; "
                f"fields are {', '.join(sorted(_UPDATABLE))}"
            )
        lease = _lease(fence)
        fields.setdefault("updated", time.time())
        if "waiting" in fields:
            fields["waiting"] = json.dumps(fields["waiting"])
        assignments = [f"{name} = %({name})s" for name in sorted(fields)]
        if release and lease is not None:
            assignments.append("lease_expires = NULL")  # the owner stays: its last driver
        if "steps" not in fields:  # keep the count of steps current, as SQLite does
            assignments.append(
                "steps = (SELECT coalesce(max(step), 0) FROM checkpoints WHERE run = runs.key)"
            )
        async with self._session(f"updating run {run_id!r}") as conn:
            cur = await conn.execute(
                f"UPDATE runs SET {', '.join(assignments)} WHERE run_id = %(run_id)s"
                + (_FENCE if lease else ""),
                {**fields, "run_id": run_id, **_fence_params(lease)},
            )
            if cur.rowcount == 0:
                await self._refused(conn, run_id, lease)

    async def add_resume(self, run_id: str, task_id: int, value: Any) -> None:
        async with self._session(f"saving a resume value of run {run_id!r}") as conn:
            cur = await conn.execute(
                _ADD_RESUME, {"run_id": run_id, "task_id": task_id, "value": dumps(value)}
            )
            if cur.rowcount == 0:
                raise RunNotFoundError(run_id, self.where)

    async def _refused(
        self, conn: psycopg.AsyncConnection[TupleRow], run_id: str, lease: Lease | None
    ) -> None:
        """Why a write touched no run row: the run is missing, or the lease moved on."""
        cur = await conn.execute("SELECT 1 FROM runs WHERE run_id = %s", (run_id,))
        if await cur.fetchone() is None:
            raise RunNotFoundError(run_id, self.where)
        if lease is not None:
            raise LeaseLostError(run_id, lease.owner, lease.epoch)

    # --- leases ------------------------------------------------------------------------------

    async def acquire(self, run_id: str, owner: str, ttl: float) -> Lease | None:
        """Take the run's lease for ``ttl`` seconds: when nobody holds a live one, it expired,
        or ``owner`` holds it already. None while another owner's lease is live."""
        async with self._session(f"acquiring the lease of run {run_id!r}") as conn:
            cur = await conn.execute(
                _ACQUIRE, {"run_id": run_id, "owner": owner, "ttl": _interval(ttl)}
            )
            row = await cur.fetchone()
            if row is None:
                await self._refused(conn, run_id, None)
                # Held: by a process of this machine that is gone? Then it is taken over now.
                cur = await conn.execute(
                    "SELECT owner, epoch FROM runs WHERE run_id = %s", (run_id,)
                )
                held = await cur.fetchone()
                if held is None or not owner_gone(held[0]):
                    return None
                cur = await conn.execute(
                    "UPDATE runs SET owner = %(owner)s, epoch = epoch + 1, "
                    "lease_expires = now() + %(ttl)s WHERE run_id = %(run_id)s "
                    "AND owner = %(held)s AND epoch = %(epoch)s RETURNING epoch",
                    {
                        "owner": owner,
                        "ttl": _interval(ttl),
                        "run_id": run_id,
                        "held": held[0],
                        "epoch": held[1],
                    },
                )
                row = await cur.fetchone()
                if row is None:
                    return None
        return Lease(run_id, owner, int(row[0]), ttl)

    async def heartbeat(self, lease: Lease) -> None:
        """Extend the lease by its ttl; `LeaseLostError` when another host took the run."""
        async with self._session(f"renewing the lease of run {lease.run_id!r}") as conn:
            cur = await conn.execute(
                "UPDATE runs SET lease_expires = now() + %(ttl)s "
                "WHERE run_id = %(run_id)s" + _FENCE,
                {"run_id": lease.run_id, "ttl": _interval(lease.ttl), **_fence_params(lease)},
            )
            if cur.rowcount == 0:
                raise LeaseLostError(lease.run_id, lease.owner, lease.epoch)

    async def heartbeat_many(self, leases: Sequence[Lease]) -> list[Lease]:
        """Extend many leases in one statement (a run host's round); the ones another host
        took meanwhile are returned (each would raise `LeaseLostError` in `heartbeat`)."""
        if not leases:
            return []
        async with self._session(f"renewing {len(leases)} leases") as conn:
            cur = await conn.execute(
                "UPDATE runs SET lease_expires = now() + make_interval(secs => t.ttl) "
                "FROM unnest(%(run_ids)s::text[], %(owners)s::text[], %(epochs)s::bigint[], "
                "%(ttls)s::float8[]) AS t(run_id, owner, epoch, ttl) "
                "WHERE runs.run_id = t.run_id AND runs.owner = t.owner "
                "AND runs.epoch = t.epoch RETURNING runs.run_id",
                {
                    "run_ids": [lease.run_id for lease in leases],
                    "owners": [lease.owner for lease in leases],
                    "epochs": [lease.epoch for lease in leases],
                    "ttls": [float(lease.ttl) for lease in leases],
                },
            )
            kept = {row[0] for row in await cur.fetchall()}
        return [lease for lease in leases if lease.run_id not in kept]

    async def release(self, lease: Lease) -> None:
        """Give the run up (its writes fenced by ``lease`` are refused from now on). Releasing
        a lease already lost does nothing."""
        async with self._session(f"releasing the lease of run {lease.run_id!r}") as conn:
            await conn.execute(
                "UPDATE runs SET lease_expires = NULL WHERE run_id = %(run_id)s" + _FENCE,
                {"run_id": lease.run_id, **_fence_params(lease)},
            )

    async def holder(self, run_id: str) -> tuple[str | None, float | None]:
        async with self._session(f"reading the lease of run {run_id!r}") as conn:
            cur = await conn.execute(
                "SELECT owner, extract(epoch FROM lease_expires - now()) FROM runs "
                "WHERE run_id = %s",
                (run_id,),
            )
            row = await cur.fetchone()
        if row is None:
            raise RunNotFoundError(run_id, self.where)
        if row[0] is None or row[1] is None:
            return None, None
        return row[0], max(0.0, float(row[1]))

    async def claim(
        self,
        owner: str,
        ttl: float,
        limit: int = 1,
        statuses: Sequence[str] = ("queued",),
        mark_running: bool = False,
    ) -> list[Lease]:
        """Lease up to ``limit`` runs, oldest first: those with a status in ``statuses`` that
        nobody holds, and running ones whose host stopped heartbeating. Concurrent claimers
        never get the same run. ``mark_running`` sets their status to running in the same
        statement (a host about to drive them)."""
        running = ", status = 'running', error = NULL, waiting = '[]'" if mark_running else ""
        async with self._session("claiming runs") as conn:
            cur = await conn.execute(
                _CLAIM.format(running=running),
                {
                    "owner": owner,
                    "ttl": _interval(ttl),
                    "limit": limit,
                    "statuses": list(statuses),
                },
            )
            rows = await cur.fetchall()
        return [Lease(run_id, owner, int(epoch), ttl) for run_id, epoch in rows]

    # --- reads -------------------------------------------------------------------------------

    async def get_run(self, run_id: str) -> RunRecord:
        async with self._session(f"reading run {run_id!r}") as conn:
            cur = await conn.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = %s", (run_id,))
            row = await cur.fetchone()
        if row is None:
            raise RunNotFoundError(run_id, self.where)
        return run_from_row(row, self.where)

    async def checkpoints(self, run_id: str, *, from_snapshot: bool = True) -> list[Checkpoint]:
        query = _CHECKPOINTS.format(start=_LATEST_SNAPSHOT if from_snapshot else "0")
        rows = await self._rows(run_id, "reading the checkpoints", query)
        return decode_log(run_id, rows, self.where)

    async def path(self, run_id: str) -> list[str]:
        rows = await self._rows(run_id, "reading the path", _PATH)
        return [node for step, ran in rows for node in decode_ran(run_id, step, ran, self.where)]

    async def pending(self, run_id: str, step: int) -> list[PendingWrite]:
        rows = await self._rows(run_id, "reading the pending writes", _PENDING, step=step)
        return [decode_pending(run_id, step, data, self.where) for _, data in rows]

    async def resumes(self, run_id: str) -> dict[int, list[Any]]:
        found: dict[int, list[Any]] = {}
        for task_id, value in await self._rows(run_id, "reading the resume values", _RESUMES):
            found.setdefault(task_id, []).append(decode_resume(run_id, value, self.where))
        return found

    async def events(self, run_id: str) -> list[dict[str, Any]]:
        rows = await self._rows(run_id, "reading the events", _EVENTS)
        return [decode_event_row(run_id, step, data, self.where) for _, step, data in rows]

    async def read_run(self, run_id: str) -> StoredRun:
        async with self._session(f"reading run {run_id!r}") as conn:
            cur = await conn.execute(_READ_RUN, {"run_id": run_id})
            rows = await cur.fetchall()
        kinds: dict[str, list[tuple[Any, ...]]] = {"r": [], "c": [], "p": [], "s": [], "w": []}
        for kind, first, second, text in rows:
            kinds[kind].append((first, second, text))
        if not kinds["r"]:
            raise RunNotFoundError(run_id, self.where)
        try:
            data = json.loads(kinds["r"][0][2])
        except ValueError as exc:  # pragma: no cover - the server wrote it
            raise StoreError(f"run {run_id!r}: the server sent a run row it cannot read") from exc
        record = run_from_row([data.get(name) for name in RUN_FIELDS], self.where)
        checkpoints = decode_log(
            run_id, ((step, text) for step, _, text in sorted(kinds["c"])), self.where
        )
        path = [
            node
            for step, _, ran in sorted(kinds["p"])
            for node in decode_ran(run_id, step, ran, self.where)
        ]
        resumes: dict[int, list[Any]] = {}
        for task_id, _, value in sorted(kinds["s"]):
            resumes.setdefault(task_id, []).append(decode_resume(run_id, value, self.where))
        step = checkpoints[-1].step + 1
        pending = [
            decode_pending(run_id, step, text, self.where) for _, _, text in sorted(kinds["w"])
        ]
        return StoredRun(record, checkpoints, path, resumes, pending)

    async def _rows(
        self, run_id: str, what: str, query: str, **params: Any
    ) -> list[tuple[Any, ...]]:
        """The rows one of the read queries above finds for a run (which must exist)."""
        async with self._session(f"{what} of run {run_id!r}") as conn:
            cur = await conn.execute(query, {"run_id": run_id, **params})
            rows = await cur.fetchall()
        if not rows:
            raise RunNotFoundError(run_id, self.where)
        return [row for row in rows if row[0] is not None]

    async def list_runs(self, limit: int = 100) -> list[RunRecord]:
        async with self._session("listing runs") as conn:
            cur = await conn.execute(
                f"SELECT {RUN_COLUMNS} FROM runs ORDER BY updated DESC LIMIT %s", (limit,)
            )
            rows = await cur.fetchall()
        return [run_from_row(r, self.where) for r in rows]

    # --- the node cache: expiry by the server's clock, like leases ------------------------------

    async def cache_get(self, namespace: str, key: str) -> str | None:
        async with self._session(f"reading the node cache of {namespace!r}") as conn:
            cur = await conn.execute(_CACHE_GET, {"namespace": namespace, "key": key})
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def cache_put(self, namespace: str, key: str, value_json: str, ttl: float | None) -> None:
        params = {"namespace": namespace, "key": key, "value": value_json, "ttl": ttl}
        async with self._session(f"writing the node cache of {namespace!r}") as conn:
            await conn.execute(_CACHE_PUT, params)

    async def cache_clear(self, namespace: str | None = None) -> int:
        async with self._session("clearing the node cache") as conn:
            if namespace is None:
                cur = await conn.execute("DELETE FROM node_cache")
            else:
                cur = await conn.execute(
                    "DELETE FROM node_cache WHERE namespace = %s", (namespace,)
                )
            return cur.rowcount


_NOW = "extract(epoch FROM clock_timestamp())"
_CACHE_GET = (
    "SELECT value FROM node_cache WHERE namespace = %(namespace)s AND key = %(key)s "
    f"AND (expires IS NULL OR expires > {_NOW})"
)
_CACHE_PUT = (
    "INSERT INTO node_cache (namespace, key, value, expires) VALUES (%(namespace)s, %(key)s, "
    f"%(value)s, {_NOW} + %(ttl)s::float8) ON CONFLICT (namespace, key) DO UPDATE SET "
    "value = excluded.value, expires = excluded.expires"
)


def _lease(fence: Any) -> Lease | None:
    if fence is None or isinstance(fence, Lease):
        return fence
    raise TypeError(
        f"fence must be a Lease from PostgresStore.acquire or claim, not {type(fence).__name__}"
    )


def _fence_params(lease: Lease | None) -> dict[str, Any]:
    return {} if lease is None else {"owner": lease.owner, "epoch": lease.epoch}


def _interval(ttl: float) -> timedelta:
    if not ttl > 0:
        raise ValueError(f"a lease's ttl must be a positive number of seconds, not {ttl!r}")
    return timedelta(seconds=ttl)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _redact(url: str) -> str:
    """``url`` without its password, for messages and `Store.where`."""
    if "://" not in url:  # a key=value conninfo string
        try:
            params = conninfo_to_dict(url)
        except psycopg.Error:
            return "a PostgreSQL connection string"
        params.pop("password", None)
        return make_conninfo("", **params)
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}@{host}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "password"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
