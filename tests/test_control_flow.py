"""Joins, caps, retries, timeouts, on_error edges and interrupts."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel

from orchestrator import (
    END,
    START,
    CapExceededError,
    Context,
    Graph,
    NodeFailedError,
    NodeRetried,
    ResumeError,
    RetryPolicy,
    RunStatus,
    append,
)


class Log(BaseModel):
    log: Annotated[list[str], append] = []
    go_b: bool = True
    score: int = 0
    answer: str = ""


def w(name: str) -> Any:
    def node(state: Log) -> dict[str, Any]:
        return {"log": name}

    return node


# --- joins -----------------------------------------------------------------------------------


async def test_join_runs_when_a_conditional_branch_skipped_one_input() -> None:
    g = Graph(Log).add_node("a", w("a")).add_node("b", w("b")).add_node("c", w("c"))
    g.add_join("j", w("j"))
    g.add_edge(START, "a").add_edge(START, "c")
    g.add_edge("a", "b", when=lambda s: s.go_b)  # skipped when go_b is False
    g.add_edge("a", END, when=lambda s: not s.go_b)
    g.add_edge("b", "j").add_edge("c", "j").add_edge("j", END)
    compiled = g.compile()

    skipped = await compiled.run({"go_b": False})
    assert skipped.status is RunStatus.COMPLETED
    assert skipped.path == ["a", "c", "j"]
    assert skipped.visits["j"] == 1

    taken = await compiled.run({"go_b": True})
    assert taken.path == ["a", "c", "b", "j"]
    assert taken.state.log == ["a", "c", "b", "j"]


async def test_join_after_branches_of_length_1_and_3_runs_once_after_both() -> None:
    g = Graph(Log).add_node("short", w("short"))
    for name in ("l1", "l2", "l3"):
        g.add_node(name, w(name))
    g.add_join("j", w("j"))
    g.add_edge(START, "short").add_edge(START, "l1").add_edge("l1", "l2").add_edge("l2", "l3")
    g.add_edge("short", "j").add_edge("l3", "j").add_edge("j", END)
    result = await g.compile().run()
    assert result.visits["j"] == 1
    assert result.path[-1] == "j"
    assert result.state.log == ["short", "l1", "l2", "l3", "j"]
    assert result.steps == 4


async def test_join_sees_every_branchs_writes() -> None:
    seen: list[str] = []

    def join(state: Log) -> None:
        seen.extend(state.log)

    g = Graph(Log).add_node("x", w("x")).add_node("y", w("y")).add_join("j", join)
    g.add_edge(START, "x").add_edge(START, "y").add_edge("x", "j").add_edge("y", "j")
    g.add_edge("j", END)
    await g.compile().run()
    assert seen == ["x", "y"]


# --- caps ------------------------------------------------------------------------------------


def evaluator_loop(tries: int) -> Graph[Log]:
    def write(state: Log) -> dict[str, Any]:
        return {"log": f"draft{len(state.log)}", "score": 3}

    def grade(state: Log) -> Literal["writer", "__end__"]:
        return "__end__" if state.score >= 8 else "writer"

    g = Graph(Log).add_node("writer", write).add_node("evaluator", lambda s: None)
    g.add_node("best_effort", lambda s: {"answer": s.log[-1]})
    g.add_edge(START, "writer").add_edge("writer", "evaluator").add_route("evaluator", grade)
    g.cap_edge("evaluator", "writer", tries - 1, exit="best_effort")
    g.add_edge("best_effort", END)
    return g


async def test_evaluator_loop_exits_through_its_cap_edge_after_exactly_n_visits() -> None:
    result = await evaluator_loop(tries=3).compile().run(events=True)
    assert result.status is RunStatus.COMPLETED
    assert result.visits["writer"] == 3
    assert result.visits["evaluator"] == 3
    assert result.path[-1] == "best_effort"
    assert result.state.answer == "draft2"
    exits = [e for e in result.events if getattr(e, "kind", None) == "cap_exit"]
    assert [(e.source, e.target) for e in exits] == [("evaluator", "best_effort")]


async def test_node_visit_cap_routes_to_on_cap() -> None:
    def again(state: Log) -> Literal["work", "__end__"]:
        return "work"

    g = Graph(Log).add_node("work", w("work"), max_visits=4, on_cap="stop")
    g.add_node("stop", w("stop")).add_edge(START, "work").add_route("work", again)
    g.add_edge("stop", END)
    result = await g.compile().run()
    assert result.visits == {"work": 4, "stop": 1}
    assert result.state.log == ["work"] * 4 + ["stop"]


async def test_cap_without_exit_fails_naming_cycle_counts_and_path() -> None:
    def again(state: Log) -> Literal["a", "__end__"]:
        return "b"  # type: ignore[return-value]

    g = Graph(Log).add_node("a", w("a")).add_node("b", w("b"))
    g.add_edge(START, "a").add_edge("a", "b").add_route("b", lambda s: "a", ["a", END])
    g.cap_edge("b", "a", 2)
    with pytest.raises(CapExceededError) as info:
        await g.compile().run()
    message = str(info.value)
    assert "edge 'b' -> 'a' reached its cap of 2" in message
    assert "cycle: a -> b" in message
    assert "visits: a=3, b=3" in message
    assert "path so far: a -> b -> a -> b -> a -> b" in message


# --- retries, timeouts, on_error -------------------------------------------------------------


async def test_failing_node_is_retried_then_succeeds() -> None:
    calls = 0

    def flaky(state: Log) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("blip")
        return {"log": "ok"}

    g = Graph(Log).add_node("flaky", flaky, retry=RetryPolicy(max_attempts=3, initial_delay=0))
    g.add_edge(START, "flaky").add_edge("flaky", END)
    result = await g.compile().run(events=True)
    assert result.state.log == ["ok"]
    retried = [e for e in result.events if isinstance(e, NodeRetried)]
    assert [e.attempt for e in retried] == [1, 2]
    assert "ConnectionError: blip" in retried[0].error


async def test_retry_waits_with_exponential_backoff() -> None:
    def boom(state: Log) -> None:
        raise ValueError("no")

    policy = RetryPolicy(max_attempts=4, initial_delay=0.001, backoff=3.0)
    g = Graph(Log).add_node("boom", boom, retry=policy).add_edge(START, "boom")
    g.add_edge("boom", END)
    with pytest.raises(NodeFailedError, match="attempt 4") as info:
        await g.compile().run(events=True)
    retried = [e for e in info.value.result.events if isinstance(e, NodeRetried)]
    assert [e.delay for e in retried] == pytest.approx([0.001, 0.003, 0.009])


async def test_exceptions_outside_retry_on_are_not_retried() -> None:
    calls = 0

    def strict(state: Log) -> None:
        nonlocal calls
        calls += 1
        raise KeyError("k")

    policy = RetryPolicy(max_attempts=5, initial_delay=0, retry_on=(ConnectionError,))
    g = Graph(Log).add_node("strict", strict, retry=policy).add_edge(START, "strict")
    g.add_edge("strict", END)
    with pytest.raises(NodeFailedError, match="node 'strict' failed at step 1 \\(attempt 1\\)"):
        await g.compile().run()
    assert calls == 1


async def test_timeout_is_retried_then_routed_to_on_error() -> None:
    attempts = 0

    async def slow(state: Log) -> dict[str, Any]:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(5)
        return {"log": "never"}

    def recover(state: Log, ctx: Context[None]) -> dict[str, Any]:
        assert ctx.error is not None
        return {"log": f"recovered from {ctx.error.node}: {ctx.error.error_type}"}

    g = Graph(Log).add_node(
        "slow",
        slow,
        timeout=0.02,
        retry=RetryPolicy(max_attempts=2, initial_delay=0),
        on_error="recover",
    )
    g.add_node("recover", recover).add_edge(START, "slow").add_edge("slow", END)
    g.add_edge("recover", END)
    result = await g.compile().run()
    assert attempts == 2
    assert result.path == ["slow", "recover"]
    assert result.state.log == ["recovered from slow: NodeTimeoutError"]


async def test_sync_node_timeout_is_enforced() -> None:
    import time

    g = Graph(Log).add_node("block", lambda s: time.sleep(1), timeout=0.05)
    g.add_edge(START, "block").add_edge("block", END)
    with pytest.raises(NodeFailedError, match="did not finish within its timeout of 0.05 s"):
        await g.compile().run()


async def test_unhandled_failure_names_node_step_and_attempt() -> None:
    g = Graph(Log).add_node("a", w("a")).add_node("b", lambda s: {}["missing"])
    g.add_edge(START, "a").add_edge("a", "b").add_edge("b", END)
    with pytest.raises(NodeFailedError) as info:
        await g.compile().run()
    err = info.value
    assert (err.node, err.step, err.attempt) == ("b", 2, 1)
    assert isinstance(err.cause, KeyError)
    assert err.result.status is RunStatus.FAILED
    assert err.result.state.log == ["a"]


async def test_failed_run_resumes_from_its_last_step() -> None:
    fail = True

    def fragile(state: Log) -> dict[str, Any]:
        if fail:
            raise RuntimeError("down")
        return {"log": "fragile"}

    g = Graph(Log).add_node("a", w("a")).add_node("fragile", fragile)
    g.add_edge(START, "a").add_edge("a", "fragile").add_edge("fragile", END)
    compiled = g.compile()
    failed = await compiled.run(raise_on_error=False)
    assert failed.status is RunStatus.FAILED
    fail = False
    done = await compiled.resume(failed)
    assert done.state.log == ["a", "fragile"]
    assert done.path == ["a", "fragile"]  # 'a' did not run again


# --- interrupts ------------------------------------------------------------------------------


async def test_node_pauses_and_resumes_with_a_value() -> None:
    def approve(state: Log, ctx: Context[None]) -> dict[str, Any]:
        verdict = ctx.interrupt({"question": "ship it?"})
        return {"answer": verdict}

    g = Graph(Log).add_node("plan", w("plan")).add_node("approve", approve)
    g.add_node("ship", w("ship"))
    g.add_edge(START, "plan").add_edge("plan", "approve").add_edge("approve", "ship")
    g.add_edge("ship", END)
    compiled = g.compile()
    paused = await compiled.run()
    assert paused.status is RunStatus.WAITING
    assert paused.waiting[0].node == "approve"
    assert paused.waiting[0].request == {"question": "ship it?"}
    assert paused.path == ["plan"]

    done = await compiled.resume(paused, "yes")
    assert done.status is RunStatus.COMPLETED
    assert done.state.answer == "yes"
    assert done.path == ["plan", "approve", "ship"]
    assert paused.status is RunStatus.WAITING  # the paused result is left as it was


async def test_human_node_writes_the_resume_value_to_its_field() -> None:
    g = Graph(Log).add_human("review", prompt="Approve the plan?", field="answer")
    g.add_edge(START, "review").add_edge("review", END)
    compiled = g.compile()
    paused = await compiled.run()
    assert paused.waiting[0].request == {"node": "review", "prompt": "Approve the plan?"}
    assert (await compiled.resume(paused, "approved")).state.answer == "approved"


async def test_parallel_branch_results_are_kept_while_another_waits() -> None:
    calls: list[str] = []

    def quick(state: Log) -> dict[str, Any]:
        calls.append("quick")
        return {"log": "quick"}

    def ask(state: Log, ctx: Context[None]) -> dict[str, Any]:
        return {"log": f"asked:{ctx.interrupt('?')}"}

    g = Graph(Log).add_node("ask", ask).add_node("quick", quick)
    g.add_edge(START, "ask").add_edge(START, "quick").add_edge("ask", END)
    g.add_edge("quick", END)
    compiled = g.compile()
    paused = await compiled.run()
    done = await compiled.resume(paused, values={"ask": "fine"})
    assert calls == ["quick"]  # not run again on resume
    assert done.state.log == ["asked:fine", "quick"]


async def test_resume_of_a_completed_run_is_refused() -> None:
    g = Graph(Log).add_node("a", w("a")).add_edge(START, "a").add_edge("a", END)
    compiled = g.compile()
    done = await compiled.run()
    with pytest.raises(ResumeError, match=f"run {done.run_id} has already completed"):
        await compiled.resume(done, "x")


async def test_resume_with_a_value_for_a_node_that_is_not_waiting_is_refused() -> None:
    g = Graph(Log).add_human("review", field="answer")
    g.add_edge(START, "review").add_edge("review", END)
    compiled = g.compile()
    paused = await compiled.run()
    with pytest.raises(ResumeError, match="does not wait in 'other'; it waits in review"):
        await compiled.resume(paused, values={"other": 1})
