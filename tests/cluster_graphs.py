"""Graphs for the scale-out tests (tests/test_cluster.py). They live in a module of their own
because run hosts (Ray actors) and Ray workers import them by ``module:attribute``.

Nodes talk to the test through files named in ``ctx.deps``: ``effects`` (one line appended per
side effect, ``run_id node what``, so a test counts executions across processes), ``hold``
(a slow node waits while it exists), ``go`` (a gate waits until it exists) and ``marker``
(what a crashing node left behind).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

from agents import Agent
from pydantic import BaseModel

from orchestrator import END, START, Context, Graph, RetryPolicy, Send, append, extend


def effect(ctx: Context[Any], what: str) -> None:
    """Append ``run_id node what`` to the effects file (one write: appends do not interleave)."""
    line = f"{ctx.run_id} {ctx.node} {what}\n".encode()
    fd = os.open(ctx.deps["effects"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


# --- the same graph on every executor: fan-out, join, retries, an error edge, an agent --------


class Essay(BaseModel):
    topic: str = ""
    items: Annotated[list[str], append] = []
    notes: Annotated[list[str], append] = []
    total: int = 0
    recovered: str = ""
    messages: Annotated[list[dict[str, Any]], extend] = []
    answer: str = ""


def plan(state: Essay, ctx: Context[Any]) -> dict[str, Any]:
    ctx.update(notes=f"plan at step {ctx.step} of {state.topic}")
    return {"total": 0}


def spread(state: Essay) -> list[Send]:
    return [Send("work", i) for i in range(3)]


async def work(state: Essay, ctx: Context[Any]) -> dict[str, Any]:
    await asyncio.sleep(0.01 * (3 - ctx.payload))  # finish out of order: the barrier orders
    ctx.update(notes=f"work {ctx.payload} attempt {ctx.attempt}")
    return {"items": f"{state.topic}-{ctx.payload}"}


def gather(state: Essay) -> dict[str, Any]:
    return {"total": len(state.items)}


def flaky(state: Essay, ctx: Context[Any]) -> dict[str, Any]:
    if ctx.attempt == 1:
        raise ValueError("first attempts fail")
    return {"notes": f"flaky passed on attempt {ctx.attempt}"}


def broken(state: Essay) -> dict[str, Any]:
    raise KeyError("no such page")


def recover(state: Essay, ctx: Context[Any]) -> dict[str, Any]:
    assert ctx.error is not None
    return {"recovered": f"{ctx.error.node}: {ctx.error.error_type} {ctx.error.message}"}


def essay_graph() -> Graph[Essay]:
    writer = Agent(name="Writer", instructions="Write one line.")
    g = Graph(Essay, name="cluster-essay")
    g.add_node("plan", plan).add_node("work", work).add_join("gather", gather)
    g.add_node("flaky", flaky, retry=RetryPolicy(max_attempts=2, initial_delay=0))
    g.add_node("broken", broken, on_error="recover").add_node("recover", recover)
    g.add_agent("writer", writer, prompt="Write one line about {topic}.", output="answer")
    g.add_edge(START, "plan").add_route("plan", spread, targets=["work"])
    g.add_edge("work", "gather").add_edge("gather", "flaky").add_edge("flaky", "broken")
    g.add_edge("broken", "writer").add_edge("recover", "writer").add_edge("writer", END)
    return g


essay = essay_graph()


# --- many runs: a gate holds every run until the test has seen them all claimed -------------


class Tally(BaseModel):
    parts: Annotated[list[int], append] = []
    total: int = 0


async def gate(state: Tally, ctx: Context[Any]) -> dict[str, Any]:
    while not Path(ctx.deps["go"]).exists():
        await asyncio.sleep(0.05)
    return {}


def fan(state: Tally) -> list[Send]:
    return [Send("part", i) for i in range(2)]


async def part(state: Tally, ctx: Context[Any]) -> dict[str, Any]:
    await asyncio.sleep(0.01)
    return {"parts": ctx.payload}


def total(state: Tally) -> dict[str, Any]:
    return {"total": sum(state.parts)}


def tally_graph() -> Graph[Tally]:
    g = Graph(Tally, name="cluster-tally")
    g.add_node("gate", gate).add_node("part", part).add_join("total", total)
    g.add_edge(START, "gate").add_route("gate", fan, targets=["part"])
    g.add_edge("part", "total").add_edge("total", END)
    return g


tally = tally_graph()
#: Checkpoints of a finished tally run: step 0 (submitted), gate, the two parts, total.
TALLY_CHECKPOINTS = 4


# --- a code step whose worker process dies on its first attempt -------------------------------


class Crash(BaseModel):
    done: Annotated[list[str], append] = []


def prepare(state: Crash) -> dict[str, Any]:
    return {"done": "prepare"}


def crash(state: Crash, ctx: Context[Any]) -> dict[str, Any]:
    marker = Path(ctx.deps["marker"])
    first = not marker.exists()
    with marker.open("a") as f:
        f.write(f"{os.getpid()} attempt {ctx.attempt}\n")
    if first:
        os._exit(1)  # the worker process dies mid-task, as if killed
    return {"done": "crash"}


def crash_graph() -> Graph[Crash]:
    g = Graph(Crash, name="cluster-crash").add_node("prepare", prepare).add_node("crash", crash)
    g.add_edge(START, "prepare").add_edge("prepare", "crash").add_edge("crash", END)
    return g


crashing = crash_graph()


# --- takeovers: a run paused inside a slow node, next to a branch that finished ----------------


class Relay(BaseModel):
    done: Annotated[list[str], append] = []


def first(state: Relay, ctx: Context[Any]) -> dict[str, Any]:
    effect(ctx, "done")
    return {"done": "first"}


def quick(state: Relay, ctx: Context[Any]) -> dict[str, Any]:
    effect(ctx, "done")
    return {"done": "quick"}


async def slow(state: Relay, ctx: Context[Any]) -> dict[str, Any]:
    effect(ctx, "started")
    while Path(ctx.deps["hold"]).exists():
        await asyncio.sleep(0.05)
    effect(ctx, "done")
    return {"done": "slow"}


def last(state: Relay, ctx: Context[Any]) -> dict[str, Any]:
    effect(ctx, "done")
    return {"done": "last"}


def relay_graph() -> Graph[Relay]:
    g = Graph(Relay, name="cluster-relay")
    g.add_node("first", first).add_node("quick", quick).add_node("slow", slow)
    g.add_join("last", last)
    g.add_edge(START, "first").add_edge("first", "quick").add_edge("first", "slow")
    g.add_edge("quick", "last").add_edge("slow", "last").add_edge("last", END)
    return g


relay = relay_graph()
