"""Timing helpers: warm up, then take the median of repeated measurements."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Awaitable, Callable


def report(workload: str, variant: str, samples: list[float], unit: str) -> dict[str, object]:
    line = {
        "workload": workload,
        "variant": variant,
        "n": len(samples),
        "median": round(statistics.median(samples), 3),
        "min": round(min(samples), 3),
        "max": round(max(samples), 3),
        "unit": unit,
    }
    print(json.dumps(line), flush=True)
    return line


async def measure(
    fn: Callable[[], Awaitable[object]], *, runs: int, warmup: int = 2
) -> list[float]:
    """Seconds per call of ``await fn()``, after ``warmup`` unmeasured calls."""
    for _ in range(warmup):
        await fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return samples


def measure_sync(fn: Callable[[], object], *, runs: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples
