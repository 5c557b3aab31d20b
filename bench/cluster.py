"""W6 on Ray: W6's 1000 runs of a 5-node chain (each node awaits 20 ms) queued in PostgreSQL
and driven by two run hosts (Ray actors) on a local, loopback-only Ray.

A throwaway PostgreSQL server (tests/pg_server.py, so run from the repository root) listens on
127.0.0.1 for the benchmark and is deleted after it. The time measured runs from the first
submit to the last run completed: queueing the runs, claiming them, driving them with a
checkpoint per step, and noticing they finished. ``ray_submit`` is the queueing part alone;
``postgres`` runs the same 1000 runs with the same checkpoints in this one process, to tell
the cost of PostgreSQL from the cost of the hosts.

python -m bench W6RAY
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import time
from typing import Any

from .timing import report

RUNS = 1000
SOURCE = "bench.workloads:w6_graph"  # what the hosts import: w6_graph() with its 20 ms default
SAMPLES = 5


def w6_ray() -> None:
    reason = _missing()
    if reason is not None:
        print(json.dumps({"workload": "W6", "variant": "ray", "skipped": reason}))
        return
    from orchestrator.cluster import init_ray, start_hosts, stop_hosts
    from tests import pg_server

    server = pg_server.start()
    try:
        url = server.create_database("bench")
        init_ray(num_cpus=2)
        hosts = start_hosts(url, 2, name="w6", capacity=RUNS, poll=0.02)
        try:
            totals, submits, inline = asyncio.run(_measure(url))
        finally:
            stop_hosts(hosts)
            import ray

            ray.shutdown()
    finally:
        server.stop()
    report("W6", "ray", totals, "ms")
    report("W6", "ray_submit", submits, "ms")
    report("W6", "postgres", inline, "ms")


async def _measure(url: str) -> tuple[list[float], list[float], list[float]]:
    from orchestrator.cluster import wait
    from orchestrator.source import load_graph
    from orchestrator.store.postgres import PostgresStore

    graph = load_graph(SOURCE)
    stores = [PostgresStore(url) for _ in range(4)]  # queue over a few connections at once
    totals: list[float] = []
    submits: list[float] = []
    try:
        for sample in range(SAMPLES + 1):  # the first round warms hosts, workers and caches
            started = time.perf_counter()
            ids = await asyncio.gather(
                *(graph.submit(store=stores[i % len(stores)], source=SOURCE) for i in range(RUNS))
            )
            queued = time.perf_counter()
            records = await wait(ids, store=stores[0], poll=0.01, timeout=600)
            finished = time.perf_counter()
            assert all(r.status == "completed" and r.steps == 5 for r in records.values())
            if sample:
                totals.append((finished - started) * 1e3)
                submits.append((queued - started) * 1e3)
        result = await graph.load(ids[-1], store=stores[0])
        assert result.state.hops == [0, 1, 2, 3, 4]
        # For comparison: the same runs and checkpoints, driven in this one process.
        inline: list[float] = []
        for sample in range(SAMPLES + 1):
            started = time.perf_counter()
            results = await asyncio.gather(
                *(graph.run(store=stores[i % len(stores)]) for i in range(RUNS))
            )
            assert all(r.state.hops == [0, 1, 2, 3, 4] for r in results)
            if sample:
                inline.append((time.perf_counter() - started) * 1e3)
    finally:
        for store in stores:
            await store.close()
    return totals, submits, inline


def _missing() -> str | None:
    if importlib.util.find_spec("ray") is None:
        return "Ray is not installed (pip install -e '.[ray]')"
    try:
        from tests import pg_server
    except ImportError:
        return "tests/pg_server.py not importable: run python -m bench from the repository root"
    reason: Any = pg_server.missing_reason()
    return None if reason is None else str(reason)
