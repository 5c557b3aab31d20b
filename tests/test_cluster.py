"""Scale-out on Ray and PostgreSQL: the Ray executor gives the same results as the local one,
run hosts drive many runs with a checkpoint at every step, a dead worker's task is retried, a
dead host's runs are taken over without re-running finished steps, and a host that lost its
lease writes nothing. One local Ray (loopback only) and one PostgreSQL server per module.

The graphs are in tests/cluster_graphs.py, which hosts and workers import; nodes report to the
test through files (see there).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

if importlib.util.find_spec("ray") is None:
    pytest.skip(
        "Ray is not installed: pip install -e '.[ray]' to run the scale-out tests",
        allow_module_level=True,
    )

import psycopg
from typer.testing import CliRunner

from orchestrator import LeaseLostError, RunStatus
from orchestrator.cluster import (
    RayExecutor,
    RunHost,
    init_ray,
    start_hosts,
    stop_hosts,
    submit,
    wait,
)
from orchestrator.offline import OfflineProvider
from orchestrator.run import RunOptions
from orchestrator.store.postgres import Lease, PostgresStore
from tests import cluster_graphs, pg_server

pytestmark = [pytest.mark.ray, pytest.mark.postgres]

T = TypeVar("T")
_names = itertools.count()
WAIT = 120  # seconds: only stops a hang on a busy machine; never asserted as a duration


@pytest.fixture(scope="module", autouse=True)
def ray_cluster() -> Iterator[None]:
    os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
    init_ray(num_cpus=2)  # loopback only; see orchestrator.cluster.init_ray
    import ray

    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def server(pg: pg_server.PgServer) -> pg_server.PgServer:
    """The session's PostgreSQL server (tests/conftest.py)."""
    return pg


@pytest.fixture
def url(server: pg_server.PgServer) -> str:
    """An empty database of its own for each test."""
    return server.create_database(f"cluster{next(_names)}")


@pytest.fixture
async def store(url: str) -> AsyncIterator[PostgresStore]:
    opened = PostgresStore(url)
    yield opened
    await opened.close()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """The files nodes report through (ctx.deps of every run)."""
    return {name: str(tmp_path / name) for name in ("effects", "hold", "go", "marker")}


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll ``probe`` until it returns something truthy; the deadline only stops a hang."""
    deadline = time.monotonic() + WAIT
    while not (value := await probe()):
        assert time.monotonic() < deadline, f"gave up after {WAIT} s waiting for {what}"
        await asyncio.sleep(0.05)
    return value


def effects(files: dict[str, str]) -> Counter[tuple[str, str, str]]:
    """How often each (run, node, what) side effect happened, across every process."""
    path = Path(files["effects"])
    lines = path.read_text().splitlines() if path.exists() else []
    return Counter(tuple(line.split(" ", 2)) for line in lines)  # type: ignore[misc]


async def sql(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(query, args)
        return await cur.fetchall() if cur.description else []


async def checkpoint_steps(url: str, run_id: str) -> list[int]:
    rows = await sql(
        url,
        "SELECT c.step FROM checkpoints c JOIN runs r ON r.key = c.run "
        "WHERE r.run_id = %s ORDER BY c.step",
        run_id,
    )
    return [step for (step,) in rows]


# --- the executor -----------------------------------------------------------------------------


async def test_the_ray_executor_gives_the_same_state_and_path_as_the_local_one(
    url: str, store: PostgresStore
) -> None:
    graph = cluster_graphs.essay.compile()
    data = {"topic": "joins"}
    local = await graph.run(data, model_provider=OfflineProvider())
    on_ray = await graph.run(
        data, model_provider=OfflineProvider(), options=RunOptions(executor=RayExecutor())
    )
    assert local.status is RunStatus.COMPLETED
    assert on_ray.path == local.path
    assert on_ray.state.model_dump(mode="json") == local.state.model_dump(mode="json")
    # The fan-out, ctx.update writes, the retry and the error edge all went through Ray.
    assert on_ray.state.items == ["joins-0", "joins-1", "joins-2"]
    assert "flaky passed on attempt 2" in on_ray.state.notes
    assert on_ray.state.recovered == "broken: KeyError 'no such page'"
    assert on_ray.state.answer  # the agent node ran here, on the offline model

    # The same graph submitted to a run host that sends its code steps to Ray.
    hosts = start_hosts(
        url,
        1,
        name="same",
        executor=RayExecutor(),
        model_provider=OfflineProvider(),
        poll=0.05,
    )
    try:
        run_id = await submit(
            "tests.cluster_graphs:essay", data, store=store, source="tests.cluster_graphs:essay"
        )
        [record] = (await wait([run_id], store=store, timeout=WAIT)).values()
        hosted = await graph.load(run_id, store=store)
    finally:
        stop_hosts(hosts)
    assert record.status == "completed" and record.owner is not None
    assert record.owner.startswith("same-0@")
    assert hosted.path == local.path
    assert hosted.state.model_dump(mode="json") == local.state.model_dump(mode="json")


async def test_a_code_step_whose_ray_worker_died_is_retried_and_the_run_completes(
    files: dict[str, str],
) -> None:
    graph = cluster_graphs.crashing.compile()
    result = await graph.run(deps=files, options=RunOptions(executor=RayExecutor()), events=True)
    assert result.status is RunStatus.COMPLETED
    assert result.state.done == ["prepare", "crash"]
    attempts = Path(files["marker"]).read_text().splitlines()
    assert len(attempts) == 2  # the first worker died mid-task; Ray ran it again
    assert attempts[0].split()[0] != attempts[1].split()[0]  # in another worker process
    # A retry by Ray, invisible to the scheduler: one attempt, no retry of the node.
    assert [a.split(" ", 1)[1] for a in attempts] == ["attempt 1", "attempt 1"]
    assert not [e for e in result.events if type(e).__name__ == "NodeRetried"]


# --- run hosts --------------------------------------------------------------------------------


async def test_200_concurrent_runs_over_two_hosts_all_complete_with_every_checkpoint(
    url: str, store: PostgresStore, files: dict[str, str]
) -> None:
    graph = cluster_graphs.tally.compile()
    hosts = start_hosts(url, 2, name="many", capacity=100, ttl=10, poll=0.05, deps=files)
    try:
        source = "tests.cluster_graphs:tally"
        ids = [await submit(graph, store=store, source=source) for _ in range(200)]

        async def all_claimed() -> Counter[str] | None:
            rows = await sql(url, "SELECT owner FROM runs WHERE owner LIKE 'many-%%'")
            owners = Counter(owner for (owner,) in rows)
            return owners if sum(owners.values()) == 200 else None

        # Every run waits in its gate until all 200 are claimed: with 100 each at most, both
        # hosts hold exactly half of them.
        owners = await eventually(all_claimed, "both hosts to claim all 200 runs")
        Path(files["go"]).touch()
        records = await wait(ids, store=store, timeout=WAIT)
    finally:
        statuses = stop_hosts(hosts)
    assert sorted(owners.values()) == [100, 100]
    assert {r.status for r in records.values()} == {"completed"}
    assert sum(s["completed"] for s in statuses) == 200
    rows = await sql(
        url,
        "SELECT r.run_id, count(c.step), max(c.step) FROM runs r "
        "JOIN checkpoints c ON c.run = r.key GROUP BY r.run_id",
    )
    per_run = {run_id: (count, last) for run_id, count, last in rows}
    expected = (cluster_graphs.TALLY_CHECKPOINTS, cluster_graphs.TALLY_CHECKPOINTS - 1)
    assert per_run == dict.fromkeys(ids, expected)  # step 0 and one per step, none missing
    result = await graph.load(ids[-1], store=store)
    assert result.state.total == 1 and result.path == ["gate", "part", "part", "total"]


async def test_a_killed_hosts_runs_are_taken_over_without_rerunning_finished_steps(
    url: str, store: PostgresStore, files: dict[str, str]
) -> None:
    import ray

    Path(files["hold"]).touch()  # every run pauses inside `slow`
    hosts = start_hosts(url, 2, name="relay", capacity=2, ttl=2, poll=0.05, deps=files)
    graph = cluster_graphs.relay.compile()
    try:
        ids = [
            await submit(graph, store=store, source="tests.cluster_graphs:relay") for _ in range(4)
        ]

        async def all_paused() -> bool:
            done = effects(files)
            for r in ids:
                if not (done[(r, "slow", "started")] and len(await store.pending(r, 2)) == 1):
                    return False  # `quick` finished means its pending write is stored
            return True

        await eventually(all_paused, "every run to pause in `slow` with `quick` finished")
        owners = {r: (await store.get_run(r)).owner or "" for r in ids}
        victim, survivor = (0, 1) if owners[ids[0]].startswith("relay-0@") else (1, 0)
        taken = [r for r in ids if owners[r].startswith(f"relay-{victim}@")]
        victim_pid = int(owners[taken[0]].rsplit(":", 1)[1])  # owner is name@host:pid
        ray.kill(hosts[victim], no_restart=True)

        async def dead() -> bool:
            # Ray fails calls to a killed actor before its process has exited; until it has,
            # the victim could still finish `slow` once the hold is lifted.
            try:
                stat = Path(f"/proc/{victim_pid}/stat").read_text()
            except FileNotFoundError:
                return True
            return stat.rsplit(")", 1)[1].split()[0] == "Z"  # exited, not yet reaped

        await eventually(dead, "the killed host's process to exit")
        Path(files["hold"]).unlink()
        records = await wait(ids, store=store, timeout=WAIT)
    finally:
        for handle in hosts:
            with contextlib.suppress(ray.exceptions.RayActorError):  # the one killed above
                stop_hosts([handle])
    assert {r.status for r in records.values()} == {"completed"}
    assert taken and all(records[r].owner.startswith(f"relay-{survivor}@") for r in taken)
    done = effects(files)
    for run_id in ids:
        # Finished steps, and `quick` (finished inside the interrupted step), ran once.
        for node in ("first", "quick", "slow", "last"):
            assert done[(run_id, node, "done")] == 1, (run_id, node)
        # `slow` was in flight when its host died: it ran again (at least once).
        assert done[(run_id, "slow", "started")] == (2 if run_id in taken else 1), (run_id, done)
        assert await checkpoint_steps(url, run_id) == [0, 1, 2, 3]
        result = await graph.load(run_id, store=store)
        assert sorted(result.state.done) == ["first", "last", "quick", "slow"]


async def test_a_host_that_lost_its_lease_cannot_write_a_checkpoint(
    url: str, store: PostgresStore, files: dict[str, str]
) -> None:
    Path(files["hold"]).touch()
    host = RunHost(url, name="stale", ttl=60, poll=0.05, deps=files)  # no heartbeat in time
    await host.start()
    try:
        run_id = await submit(
            cluster_graphs.relay.compile(), store=store, source="tests.cluster_graphs:relay"
        )
        await eventually(
            lambda: _async(effects(files)[(run_id, "slow", "started")]), "`slow` to start"
        )
        before = await checkpoint_steps(url, run_id)
        # Another host takes the run over, as after the lease expired.
        [(epoch,)] = await sql(
            url,
            "UPDATE runs SET owner = 'thief', epoch = epoch + 1, "
            "lease_expires = now() + interval '60 seconds' WHERE run_id = %s RETURNING epoch",
            run_id,
        )
        Path(files["hold"]).unlink()  # `slow` finishes; the host tries its checkpoint
        status = await eventually(lambda: _lost(host, run_id), "the host to find its write refused")
    finally:
        await host.stop()
    assert (
        "'stale@" in status["lost"][run_id]
        and "no longer holds the lease" in status["lost"][run_id]
    )
    assert effects(files)[(run_id, "slow", "done")] == 1  # the node finished...
    assert await checkpoint_steps(url, run_id) == before == [0, 1]  # ...its step was refused
    record = await store.get_run(run_id)
    assert (record.status, record.owner) == ("running", "thief")  # not marked, not released
    assert effects(files)[(run_id, "last", "done")] == 0
    # The new owner's lease writes; the stale one is refused by the store itself.
    thief = Lease(run_id, "thief", epoch, 60)
    await store.update_run(run_id, status="failed", fence=thief)
    with pytest.raises(LeaseLostError):
        await store.update_run(run_id, status="completed", fence=Lease(run_id, "x", 1, 60))


async def test_a_heartbeat_that_finds_the_lease_lost_stops_the_run_at_once(
    url: str, store: PostgresStore, files: dict[str, str]
) -> None:
    Path(files["hold"]).touch()  # `slow` would wait forever: only a cancel ends it
    host = RunHost(url, name="beating", ttl=0.6, poll=0.05, deps=files)
    await host.start()
    try:
        run_id = await submit(
            cluster_graphs.relay.compile(), store=store, source="tests.cluster_graphs:relay"
        )
        await eventually(
            lambda: _async(effects(files)[(run_id, "slow", "started")]), "`slow` to start"
        )
        before = await checkpoint_steps(url, run_id)
        await sql(
            url,
            "UPDATE runs SET owner = 'thief', epoch = epoch + 1, "
            "lease_expires = now() + interval '60 seconds' WHERE run_id = %s",
            run_id,
        )
        status = await eventually(lambda: _lost(host, run_id), "the heartbeat to notice")
        assert status["running"] == []  # the run's task was cancelled inside `slow`
    finally:
        await host.stop()
    assert effects(files)[(run_id, "slow", "done")] == 0
    assert await checkpoint_steps(url, run_id) == before
    assert (await store.get_run(run_id)).owner == "thief"


async def test_a_stopped_host_hands_its_runs_back_for_another_host_to_finish(
    url: str, store: PostgresStore, files: dict[str, str]
) -> None:
    Path(files["hold"]).touch()
    first_host = RunHost(url, name="leaving", ttl=60, poll=0.05, deps=files)
    await first_host.start()
    run_id = await submit(
        cluster_graphs.relay.compile(), store=store, source="tests.cluster_graphs:relay"
    )
    await eventually(lambda: _async(effects(files)[(run_id, "slow", "started")]), "`slow` to start")
    # quick, beside slow in step 2, must have finished *and* been kept before the host stops:
    # a task still in flight at a stop runs again (at least once), as documented.
    await eventually(lambda: _pending_in(store, run_id, 2), "quick's result to be kept")
    status = await first_host.stop()
    assert status["handed back"] == 1
    assert (await store.get_run(run_id)).status == "queued"
    Path(files["hold"]).unlink()
    second_host = RunHost(url, name="arriving", ttl=60, poll=0.05, deps=files)
    await second_host.start()  # no lease to wait out: the run was released
    try:
        [record] = (await wait(run_id, store=store, timeout=WAIT)).values()
    finally:
        await second_host.stop()
    assert record.status == "completed" and (record.owner or "").startswith("arriving@")
    assert effects(files)[(run_id, "first", "done")] == 1
    assert effects(files)[(run_id, "quick", "done")] == 1


async def _pending_in(store: PostgresStore, run_id: str, step: int) -> bool | None:
    return bool(await store.pending(run_id, step)) or None


async def test_a_run_whose_graph_cannot_be_imported_fails_with_a_clear_error(
    store: PostgresStore, url: str
) -> None:
    run_id = await submit(
        cluster_graphs.relay.compile(), store=store, source="tests.no_such_module:graph"
    )
    host = RunHost(url, name="lost", poll=0.05)
    await host.start()
    try:
        [record] = (await wait(run_id, store=store, timeout=WAIT)).values()
    finally:
        await host.stop()
    assert record.status == "failed"
    assert "cannot import graph 'tests.no_such_module:graph'" in (record.error or "")


# --- the command line -------------------------------------------------------------------------


def test_the_cli_submits_a_run_that_a_host_finishes_and_lists_its_owner(
    url: str, files: dict[str, str]
) -> None:
    from orchestrator.cli import app

    hosts = start_hosts(url, 1, name="cli", poll=0.05, deps=files)
    runner = CliRunner()
    try:
        submitted = runner.invoke(
            app, ["submit", "tests.cluster_graphs:relay", "--store", url, "--wait", "--json"]
        )
    finally:
        stop_hosts(hosts)
    assert submitted.exit_code == 0, submitted.output
    result = json.loads(submitted.output.strip().splitlines()[-1])
    assert result["status"] == "completed"
    assert sorted(result["state"]["done"]) == ["first", "last", "quick", "slow"]
    listed = runner.invoke(app, ["runs", "--store", url, "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert row["run_id"] == result["run_id"] and row["status"] == "completed"
    assert row["owner"].startswith("cli-0@")


def test_submit_needs_a_postgresql_store(tmp_path: Path) -> None:
    from orchestrator.cli import app

    done = CliRunner().invoke(
        app, ["submit", "tests.cluster_graphs:relay", "--store", str(tmp_path / "runs.db")]
    )
    assert done.exit_code != 0
    assert "postgresql://" in str(done.exception) + done.output


# --- helpers ----------------------------------------------------------------------------------


async def _async(value: T) -> T:
    return value


async def _lost(host: RunHost, run_id: str) -> dict[str, Any] | None:
    """The host's status once it has lost ``run_id`` and stopped driving it."""
    status = await host.status()
    return status if run_id in status["lost"] and run_id not in status["running"] else None
