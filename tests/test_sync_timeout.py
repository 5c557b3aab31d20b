"""Timed sync nodes: a retry never runs beside a still-running attempt of the same task, and
attempts that overran do not starve other nodes of threads."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from pydantic import BaseModel

from orchestrator import END, START, Graph, NodeRetried, RetryPolicy, RunStatus, append


class Log(BaseModel):
    log: Annotated[list[str], append] = []


async def test_a_retry_waits_for_the_attempt_that_timed_out() -> None:
    gate = threading.Event()
    active, most, starts = [0], [0], [0]
    lock = threading.Lock()

    def slow(state: Log) -> dict[str, Any]:
        with lock:
            starts[0] += 1
            active[0] += 1
            most[0] = max(most[0], active[0])
        gate.wait(30)  # the first attempt hangs until the retry is announced
        with lock:
            active[0] -= 1
        return {"log": "slow"}

    g = Graph(Log).add_node(
        "slow", slow, timeout=0.2, retry=RetryPolicy(max_attempts=3, initial_delay=0)
    )
    stream = g.add_edge(START, "slow").add_edge("slow", END).compile().stream()
    async for event in stream:
        if isinstance(event, NodeRetried):
            gate.set()  # attempt 1 ends now, while the retry waits for it
    assert stream.result.status is RunStatus.COMPLETED
    assert stream.result.state.log == ["slow"]
    assert starts[0] == 2 and most[0] == 1  # two attempts, never at once


async def test_a_retry_is_refused_while_the_attempt_that_timed_out_still_runs() -> None:
    gate = threading.Event()
    starts = [0]

    def stuck(state: Log) -> dict[str, Any]:
        starts[0] += 1
        gate.wait(30)
        return {"log": "stuck"}

    g = Graph(Log).add_node(
        "stuck", stuck, timeout=0.05, retry=RetryPolicy(max_attempts=3, initial_delay=0)
    )
    compiled = g.add_edge(START, "stuck").add_edge("stuck", END).compile()
    try:
        result = await compiled.run(raise_on_error=False)
    finally:
        gate.set()
    assert result.status is RunStatus.FAILED
    assert "'stuck'" in str(result.error) and "still running" in str(result.error)
    assert starts[0] == 1


async def test_attempts_that_overran_do_not_starve_later_nodes() -> None:
    gate = threading.Event()

    def hang(state: Log) -> dict[str, Any]:
        gate.wait(30)
        return {"log": "late"}

    def quick(state: Log) -> dict[str, Any]:
        return {"log": "quick"}

    g = Graph(Log).add_node("quick", quick, timeout=5)
    hung = [f"hang{i}" for i in range(12)]  # more than the default thread pool's workers
    for name in hung:
        g.add_node(name, hang, timeout=0.05, on_error="quick")
        g.add_edge(START, name)
    g.add_edge("quick", END)
    try:
        result = await g.compile().run()
    finally:
        gate.set()
    assert result.status is RunStatus.COMPLETED
    assert result.state.log == ["quick"] * len(hung)
