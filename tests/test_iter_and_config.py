"""`iter()` drives a run one step at a time through the same scheduler as `run()`; every
per-run setting is one `RunConfig`; a run keeps its events only when asked."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from orchestrator import (
    END,
    START,
    Graph,
    NodeFailedError,
    NodeStarted,
    RunConfig,
    RunStatus,
    append,
)
from orchestrator.store import Store


class Count(BaseModel):
    n: int = 0
    log: Annotated[list[str], append] = []


def counter(limit: int = 3) -> Any:
    g = Graph(Count).add_node("inc", lambda s: {"n": s.n + 1, "log": f"inc{s.n + 1}"})
    g.add_edge(START, "inc").add_route("inc", lambda s: "inc" if s.n < limit else END, ["inc", END])
    return g.compile()


async def test_iter_runs_one_step_per_next_and_agrees_with_the_store(any_store: Store) -> None:
    graph = counter(3)
    seen = []
    async with graph.iter(run_id="stepwise", store=any_store) as run:
        while (step := await run.next()) is not None:
            seen.append((step.step, step.ran, step.state.n, step.next))
            stored = await any_store.checkpoints("stepwise", from_snapshot=False)
            assert stored[-1].step == step.step  # checkpointed before next() returned
            assert step.edges == [
                (
                    "inc",
                    step.next[0] if step.next else END,
                    "conditional",
                    step.next[0] if step.next else "END",
                )
            ]
    assert seen == [(1, ["inc"], 1, ["inc"]), (2, ["inc"], 2, ["inc"]), (3, ["inc"], 3, [])]
    assert run.result is not None and run.result.status is RunStatus.COMPLETED
    assert run.result.state == (await graph.run()).state
    views = await graph.playback("stepwise", store=any_store)
    assert [v.state.n for v in views[1:]] == [1, 2, 3]


async def test_leaving_iter_early_stops_the_run_resumable(any_store: Store) -> None:
    graph = counter(5)
    async with graph.iter(run_id="early", store=any_store) as run:
        first = await run.next()
        assert first is not None and first.state.n == 1
    assert (await any_store.get_run("early")).status == "interrupted"
    resumed = await graph.resume("early", store=any_store)
    assert resumed.status is RunStatus.COMPLETED
    assert resumed.state == (await graph.run()).state


async def test_iter_is_an_async_iterator_and_raises_a_failure_by_default() -> None:
    def boom(state: Count) -> dict[str, Any]:
        raise ValueError("no")

    g = Graph(Count).add_node("ok", lambda s: {"n": 1}).add_node("boom", boom)
    graph = g.add_edge(START, "ok").add_edge("ok", "boom").add_edge("boom", END).compile()
    steps = []
    with pytest.raises(NodeFailedError, match="'boom'"):
        async with graph.iter() as run:
            async for step in run:
                steps.append(step.ran)
    assert steps == [["ok"]]
    async with graph.iter(raise_on_error=False) as quiet:
        assert [s.ran async for s in quiet] == [["ok"]]
    assert quiet.result is not None and quiet.result.status is RunStatus.FAILED


async def test_a_paused_run_ends_iter_waiting() -> None:
    g = Graph(Count).add_node("a", lambda s: {"n": 1}).add_human("ask", field="log")
    graph = g.add_edge(START, "a").add_edge("a", "ask").add_edge("ask", END).compile()
    async with graph.iter() as run:
        assert [s.ran async for s in run] == [["a"]]
    assert run.result is not None and run.result.status is RunStatus.WAITING
    done = await graph.resume(run.result, "yes")
    assert done.state.log == ["yes"]


async def test_one_config_for_every_call_and_keywords_override_it(any_store: Store) -> None:
    graph = counter(50)
    config = RunConfig(store=any_store, max_steps=5, raise_on_error=False)
    capped = await graph.run(run_id="cfg", config=config)
    assert capped.status is RunStatus.FAILED and "5" in str(capped.error)
    longer = await graph.run(run_id="cfg2", config=config, max_steps=100)
    assert longer.status is RunStatus.COMPLETED
    assert (await any_store.get_run("cfg2")).status == "completed"  # the config's store
    assert config.but(max_steps=9).max_steps == 9 and config.max_steps == 5
    with pytest.raises(TypeError, match="'max_step'.*max_steps"):
        await graph.run(max_step=3)  # type: ignore[call-arg]


async def test_events_are_kept_only_when_asked() -> None:
    graph = counter(1000)
    lean = await graph.run()
    assert lean.state.n == 1000 and len(lean.path) == 1000 and lean.visits == {"inc": 1000}
    assert not any(isinstance(e, NodeStarted) for e in lean.events)
    full = await graph.run(events=True)
    assert sum(isinstance(e, NodeStarted) for e in full.events) == 1000
    assert full.state == lean.state
