"""Run the benchmark workloads and print one JSON line per workload and variant.

python -m bench            # all of them (under two minutes on 2 cores)
python -m bench W1 W3      # some of them
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

from . import workloads as w
from .timing import measure, measure_sync, report

RUNS = int(os.environ.get("BENCH_RUNS", "7"))


async def w1() -> None:
    graph = w.w1_graph(1000)

    async def once() -> None:
        result = await graph.run()
        assert result.state.n == 1000

    samples = await measure(once, runs=RUNS)
    report("W1", "none", [s / 1000 * 1e6 for s in samples], "us")


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
    graph = w.w4_graph(300)
    data = w.w4_input(5, 5)

    async def once() -> None:
        result = await graph.run(data)
        assert len(result.state.messages) == 595

    samples = await measure(once, runs=RUNS)
    report("W4", "none", [s * 1e3 for s in samples], "ms")


async def w6() -> None:
    graph = w.w6_graph(0.02)

    async def once() -> None:
        results = await asyncio.gather(*(graph.run() for _ in range(1000)))
        assert all(r.state.hops == [0, 1, 2, 3, 4] for r in results)

    samples = await measure(once, runs=max(5, RUNS // 2), warmup=1)
    report("W6", "local", [s * 1e3 for s in samples], "ms")


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


WORKLOADS: dict[str, Callable[[], object]] = {
    "W1": w1,
    "W2": w2,
    "W3": w3,
    "W4": w4,
    "W6": w6,
    "W7": w7,
    "W8": w8,
}


def main(argv: list[str]) -> int:
    wanted = [a.upper() for a in argv] or list(WORKLOADS)
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
