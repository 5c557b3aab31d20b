"""Run the benchmark workloads and print one JSON line per workload and variant.

python -m bench            # all of them (under two minutes on 2 cores)
python -m bench W1 W3      # some of them
python -m bench W6RAY      # W6 on Ray with two run hosts (extra: needs ray and PostgreSQL)
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from . import workloads as w
from .cluster import w6_ray
from .timing import measure, measure_sync, report

RUNS = int(os.environ.get("BENCH_RUNS", "7"))


async def w1() -> None:
    from orchestrator.store import MemoryStore, SQLiteStore

    graph = w.w1_graph(1000)
    with tempfile.TemporaryDirectory() as tmp:
        stores = {
            "none": lambda: None,
            "memory": MemoryStore,
            "sqlite": lambda: SQLiteStore(os.path.join(tmp, "w1.db")),
        }
        for variant, make in stores.items():
            store = make()

            async def once(store: Any = store) -> None:
                result = await graph.run(store=store)
                assert result.state.n == 1000

            samples = await measure(once, runs=RUNS)
            report("W1", variant, [s / 1000 * 1e6 for s in samples], "us")
    await w1_memory()


async def w1_memory() -> None:
    """Memory a 10 000-step loop holds per step at its end (tracemalloc, no store): the
    result without its events (the default) and with them (``events=True``)."""
    import tracemalloc

    graph = w.w1_graph(10_000)
    for variant, keep in (("memory_per_step", False), ("memory_per_step_events", True)):
        sizes = []
        for _ in range(3):
            tracemalloc.start()
            result = await graph.run(events=keep, max_steps=20_000)
            held, _ = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert result.state.n == 10_000
            del result
            sizes.append(held / 10_000)
        report("W1", variant, sizes, "bytes")


async def w2() -> None:
    builder = w.w2_builder(1000)
    compile_samples = measure_sync(builder.compile, runs=RUNS)
    graph = builder.compile()

    async def once() -> None:
        result = await graph.run()
        assert result.state.n == 1000

    samples = await measure(once, runs=RUNS)
    report("W2", "run", [s * 1e3 for s in samples], "ms")
    report("W2", "compile", [s * 1e3 for s in compile_samples], "ms")


async def w3() -> None:
    graph = w.w3_graph()
    data = w.w3_input(100)

    async def once() -> None:
        result = await graph.run(data)
        assert len(result.state.jokes) == 100 and result.state.done
        assert result.state.jokes[0].endswith(" a" * 10)

    samples = await measure(once, runs=RUNS)
    report("W3", "run", [s * 1e3 for s in samples], "ms")


async def w4() -> None:
    from orchestrator.store import SQLiteStore

    graph = w.w4_graph(300)
    data = w.w4_input(5, 5)
    with tempfile.TemporaryDirectory() as tmp:
        for variant, store in (("none", None), ("sqlite", SQLiteStore(f"{tmp}/w4.db"))):

            async def once(store: Any = store) -> None:
                result = await graph.run(data, store=store)
                assert len(result.state.messages) == 595

            samples = await measure(once, runs=RUNS)
            report("W4", variant, [s * 1e3 for s in samples], "ms")


async def w5() -> None:
    from orchestrator.store import SQLiteStore

    graph = w.w5_graph(800)
    sizes = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "w5.db")
            store = SQLiteStore(path)
            result = await graph.run(store=store)
            assert len(result.state.lines) == 800
            await store.close()  # fold the WAL into the file: bytes on disk, all of them
            sizes.append(sum(os.path.getsize(p) for p in glob.glob(path + "*")))
    report("W5", "sqlite", [float(s) for s in sizes], "bytes")


async def w6() -> None:
    graph = w.w6_graph(0.02)

    async def once() -> None:
        results = await asyncio.gather(*(graph.run() for _ in range(1000)))
        assert all(r.state.hops == [0, 1, 2, 3, 4] for r in results)

    async def chain() -> None:  # the same five waits in a row, with no framework at all
        for _ in range(5):
            await asyncio.sleep(0.02)

    async def floor() -> None:
        await asyncio.gather(*(chain() for _ in range(1000)))

    runs = max(5, RUNS // 2)
    # Interleaved, so both variants see the same machine load.
    local, bare = [], []
    for _ in range(runs):
        local += await measure(once, runs=1, warmup=0 if local else 1)
        bare += await measure(floor, runs=1, warmup=0 if bare else 1)
    report("W6", "local", [s * 1e3 for s in local], "ms")
    report("W6", "floor", [s * 1e3 for s in bare], "ms")


async def w7() -> None:
    import os as _os

    _os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
    graph = w.w7_graph(100)
    data = {"messages": [{"role": "user", "content": "hi?"}]}

    async def once() -> None:
        result = await graph.run(data)
        assert result.state.answer == "answer" * 100
        assert result.usage["agent"]["requests"] == 101

    samples = await measure(once, runs=max(5, RUNS // 2), warmup=1)
    report("W7", "run", [s * 1e3 for s in samples], "ms")

    from orchestrator.store import SQLiteStore

    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(os.path.join(tmp, "w7.db"))
        recorded = await graph.run(data, store=store)
        run_samples = await measure(lambda: graph.run(data, store=store), runs=5, warmup=0)
        calls: list[int] = []

        async def replay() -> None:
            report_ = await graph.replay(recorded.run_id, store=store)
            assert report_.matched, (report_.diverged_at, report_.reason)
            calls.append(report_.model_calls)

        samples = await measure(replay, runs=max(5, RUNS // 2), warmup=1)
    report("W7", "run_sqlite", [s * 1e3 for s in run_samples], "ms")
    report("W7", "replay", [s * 1e3 for s in samples], "ms")
    report("W7", "replay_model_calls", [float(c) for c in calls], "count")


def w8() -> None:
    def timed(cmd: list[str]) -> Callable[[], None]:
        def run() -> None:
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)

        return run

    cli = shutil.which("orchestrator", path=os.path.dirname(sys.executable)) or shutil.which(
        "orchestrator"
    )
    if cli:
        report("W8", "help", measure_sync(timed([cli, "--help"]), runs=RUNS), "s")
    else:
        print('{"workload": "W8", "variant": "help", "skipped": "orchestrator not on PATH"}')
    report(
        "W8",
        "import",
        measure_sync(timed([sys.executable, "-c", "import orchestrator"]), runs=RUNS),
        "s",
    )


async def w9() -> None:
    from orchestrator.store import SQLiteStore

    with tempfile.TemporaryDirectory() as tmp:
        for steps in (200, 800, 3200):
            graph = w.w9_graph(steps)
            stores = {"none": None, "sqlite": SQLiteStore(os.path.join(tmp, f"w9-{steps}.db"))}
            for variant, store in stores.items():

                async def once(graph: Any = graph, store: Any = store, steps: int = steps) -> None:
                    result = await graph.run(store=store, max_steps=10_000)
                    assert len(result.state.items) == steps

                samples = await measure(once, runs=5, warmup=1)
                report("W9", f"{variant}_{steps}", [s / steps * 1e6 for s in samples], "us")


async def w10() -> None:
    # A run's fixed cost (the START and join steps) is also measured on a fan-out of one
    # task, so the cost each task adds is reported beside the whole run's cost per task.
    fixed: float | None = None
    for width in (1, 10, 100, 1000, 10_000):
        graph = w.w10_graph(width)

        async def once(graph: Any = graph, width: int = width) -> None:
            result = await graph.run()
            assert len(result.state.items) == width

        runs = 5 if width < 10_000 else 3
        samples = await measure(once, runs=runs, warmup=1)
        if width == 1:
            fixed = sorted(samples)[len(samples) // 2]
            report("W10", "fixed_per_run", [s * 1e6 for s in samples], "us")
            continue
        report("W10", f"width_{width}", [s / width * 1e6 for s in samples], "us")
        assert fixed is not None
        added = [(s - fixed) / (width - 1) * 1e6 for s in samples]
        report("W10", f"per_added_task_{width}", added, "us")


async def w11() -> None:
    """Opening a store and making one short run on it, on an empty store and on one holding
    10 000 runs: the cost of opening must not grow with what the store holds."""
    from orchestrator.store import SQLiteStore

    graph = w.w1_graph(5)
    with tempfile.TemporaryDirectory() as tmp:
        for variant, runs in (("empty", 0), ("10000_runs", 10_000)):
            path = os.path.join(tmp, f"w11-{variant}.db")
            filling = SQLiteStore(path)
            for _ in range(runs):
                await graph.run(store=filling)
            await filling.close()

            async def once(path: str = path) -> None:
                store = SQLiteStore(path)
                result = await graph.run(store=store)
                assert result.completed
                await store.close()

            samples = await measure(once, runs=RUNS)
            report("W11", f"open_and_run_{variant}", [s * 1e3 for s in samples], "ms")


WORKLOADS: dict[str, Callable[[], object]] = {
    "W1": w1,
    "W2": w2,
    "W3": w3,
    "W4": w4,
    "W5": w5,
    "W6": w6,
    "W7": w7,
    "W8": w8,
    "W9": w9,
    "W10": w10,
    "W11": w11,
    # Extra, not in the default run: needs Ray and a PostgreSQL server (bench/cluster.py).
    "W6RAY": w6_ray,
}
EXTRA = frozenset({"W6RAY"})


def main(argv: list[str]) -> int:
    wanted = [a.upper() for a in argv] or [name for name in WORKLOADS if name not in EXTRA]
    unknown = [a for a in wanted if a not in WORKLOADS]
    if unknown:
        print(f"unknown workload(s) {unknown}; known: {', '.join(WORKLOADS)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    for name in wanted:
        out = WORKLOADS[name]()
        if asyncio.iscoroutine(out):
            asyncio.run(out)
    print(f"# {len(wanted)} workload(s) in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
