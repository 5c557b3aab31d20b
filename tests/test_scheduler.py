"""The scheduler's semantics: steps, barriers, joins, fan-out, conflicts, determinism."""

from __future__ import annotations

import asyncio
import random
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from orchestrator import (
    END,
    START,
    Command,
    ConflictingWritesError,
    Context,
    Graph,
    InvalidUpdateError,
    RouteError,
    RunStatus,
    Send,
    StateValidationError,
    StepLimitExceededError,
    SyncInLoopError,
    UnknownFieldError,
    add,
    append,
    extend,
    merge,
    reducer,
)


class Log(BaseModel):
    log: Annotated[list[str], append] = []
    total: Annotated[int, add] = 0
    tags: Annotated[dict[str, int], merge] = {}
    last: str = ""
    n: int = 0


def writer(name: str) -> Any:
    def node(state: Log) -> dict[str, Any]:
        return {"log": name}

    node.__name__ = name
    return node


async def test_chain_runs_in_order_and_returns_the_users_model() -> None:
    g = Graph(Log)
    for name in "abc":
        g.add_node(name, writer(name))
    g.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", END)
    result = await g.compile().run()
    assert isinstance(result.state, Log)
    assert result.state.log == ["a", "b", "c"]
    assert result.path == ["a", "b", "c"]
    assert result.status is RunStatus.COMPLETED
    assert result.steps == 3


async def test_reducers_append_extend_add_merge_and_custom() -> None:
    def longest(current: str, new: str) -> str:
        return new if len(new) > len(current) else current

    class R(BaseModel):
        items: Annotated[list[int], extend] = []
        count: Annotated[int, add] = 10
        meta: Annotated[dict[str, str], merge] = {"a": "1"}
        best: Annotated[str, reducer(longest)] = "xx"

    def step(state: R) -> dict[str, Any]:
        return {"items": [1, 2], "count": 5, "meta": {"b": "2"}, "best": "y"}

    g = Graph(R).add_node("s", step).add_edge(START, "s").add_edge("s", END)
    state = (await g.compile().run()).state
    assert state.items == [1, 2]
    assert state.count == 15
    assert state.meta == {"a": "1", "b": "2"}
    assert state.best == "xx"


async def test_plain_function_in_annotated_is_a_reducer() -> None:
    import operator

    class R(BaseModel):
        items: Annotated[list[int], operator.add] = []

    g = Graph(R).add_node("s", lambda s: {"items": [7]}).add_edge(START, "s").add_edge("s", END)
    assert (await g.compile().run({"items": [1]})).state.items == [1, 7]


async def test_sync_and_async_nodes_with_and_without_context() -> None:
    async def a(state: Log, ctx: Context[str]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"log": f"a:{ctx.deps}"}

    def b(state: Log, ctx: Context[str]) -> None:
        ctx.update(last="from-ctx")

    async def c(state: Log) -> dict[str, Any]:
        return {"log": "c"}

    g = Graph(Log).add_node("a", a).add_node("b", b).add_node("c", c)
    g.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", END)
    state = (await g.compile().run(deps="token")).state
    assert state.log == ["a:token", "c"]
    assert state.last == "from-ctx"


async def test_node_sees_the_state_from_before_its_step() -> None:
    seen: dict[str, list[str]] = {}

    def look(name: str) -> Any:
        def node(state: Log) -> dict[str, Any]:
            seen[name] = list(state.log)
            return {"log": name}

        return node

    g = Graph(Log).add_node("a", look("a")).add_node("b", look("b")).add_node("c", look("c"))
    g.add_edge(START, "a").add_edge(START, "b").add_edge("a", "c").add_edge("b", "c")
    g.add_edge("c", END)
    result = await g.compile().run()
    assert seen["a"] == seen["b"] == []
    assert seen["c"] == ["a", "b"]
    # Two plain edges into c in the same step start it once.
    assert result.path == ["a", "b", "c"]


async def test_predicate_edges_are_taken_only_when_true() -> None:
    g = Graph(Log).add_node("a", writer("a")).add_node("big", writer("big"))
    g.add_node("small", writer("small"))
    g.add_edge(START, "a")
    g.add_edge("a", "big", when=lambda s: s.n > 5).add_edge("a", "small", when=lambda s: s.n <= 5)
    g.add_edge("big", END).add_edge("small", END)
    compiled = g.compile()
    assert (await compiled.run({"n": 9})).path == ["a", "big"]
    assert (await compiled.run({"n": 1})).path == ["a", "small"]


async def test_route_returning_several_targets_runs_them_in_parallel() -> None:
    def both(state: Log) -> list[Literal["x", "y"]]:
        return ["y", "x"]

    g = Graph(Log).add_node("x", writer("x")).add_node("y", writer("y"))
    g.add_route(START, both).add_edge("x", END).add_edge("y", END)
    result = await g.compile().run()
    # Applied in declaration order (x before y), whatever order the router named them in.
    assert result.state.log == ["x", "y"]
    assert result.steps == 1


async def test_fan_out_of_100_payloads_is_merged_in_emission_order() -> None:
    class F(BaseModel):
        items: list[int] = []
        results: Annotated[list[str], append] = []

    def spread(state: F) -> list[Literal["work"]]:
        return [Send("work", i) for i in state.items]  # type: ignore[misc]

    async def work(state: F, ctx: Context[None]) -> dict[str, Any]:
        await asyncio.sleep(random.random() / 1000)  # finish in random order
        return {"results": f"r{ctx.payload}"}

    g = Graph(F).add_node("work", work).add_join("collect")
    g.add_route(START, spread).add_edge("work", "collect").add_edge("collect", END)
    result = await g.compile().run({"items": list(range(100))})
    assert result.state.results == [f"r{i}" for i in range(100)]
    assert result.visits == {"work": 100, "collect": 1}


async def test_fan_out_respects_the_concurrency_limit() -> None:
    class F(BaseModel):
        done: Annotated[int, add] = 0

    running = 0
    peak = 0

    async def work(state: F) -> dict[str, Any]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001)
        running -= 1
        return {"done": 1}

    g = Graph(F).add_node("work", work)
    g.add_route(START, lambda s: [Send("work", i) for i in range(20)], ["work"])
    g.add_edge("work", END)
    result = await g.compile().run(concurrency=3)
    assert result.state.done == 20
    assert peak == 3


async def test_conflicting_parallel_writes_name_the_field_and_both_nodes() -> None:
    g = Graph(Log)
    g.add_node("left", lambda s: {"last": "L"}).add_node("right", lambda s: {"last": "R"})
    g.add_edge(START, "left").add_edge(START, "right").add_edge("left", END)
    g.add_edge("right", END)
    with pytest.raises(ConflictingWritesError, match="'left' and 'right' both wrote field 'last'"):
        await g.compile().run()


async def test_invalid_write_fails_in_the_node_that_made_it() -> None:
    class V(BaseModel):
        age: int = Field(0, ge=0)

    g = Graph(V).add_node("ok", lambda s: {"age": 3}).add_node("bad", lambda s: {"age": -1})
    g.add_edge(START, "ok").add_edge("ok", "bad").add_edge("bad", END)
    with pytest.raises(
        StateValidationError, match="node 'bad' wrote an invalid value to field 'age'"
    ) as info:
        await g.compile().run()
    assert info.value.result.state.age == 3  # the last good state is kept
    assert info.value.result.path == ["ok"]


async def test_write_to_unknown_field_names_node_and_field() -> None:
    g = Graph(Log).add_node("typo", lambda s: {"lgo": "x"})
    g.add_edge(START, "typo").add_edge("typo", END)
    with pytest.raises(UnknownFieldError, match="node 'typo' writes 'lgo'"):
        await g.compile().run()


async def test_node_returning_a_non_dict_is_a_clear_error() -> None:
    g = Graph(Log).add_node("odd", lambda s: 42).add_edge(START, "odd").add_edge("odd", END)
    with pytest.raises(InvalidUpdateError, match="node 'odd' returned int"):
        await g.compile().run()


async def test_node_may_return_a_partial_state_model() -> None:
    g = Graph(Log).add_node("m", lambda s: Log(last="typed")).add_edge(START, "m")
    g.add_edge("m", END)
    state = (await g.compile().run({"n": 4})).state
    assert (state.last, state.n) == ("typed", 4)


async def test_route_returning_an_undeclared_value_is_an_error() -> None:
    def pick(state: Log) -> Literal["a"]:
        return "zzz"  # type: ignore[return-value]

    g = Graph(Log).add_node("a", writer("a")).add_edge("a", END).add_route(START, pick)
    with pytest.raises(RouteError, match="returned 'zzz'"):
        await g.compile().run()


async def test_router_annotated_optional_may_end_the_branch() -> None:
    def maybe(state: Log) -> Literal["a"] | None:
        return None if state.n else "a"

    g = Graph(Log).add_node("a", writer("a")).add_edge("a", END).add_route(START, maybe)
    compiled = g.compile()
    assert (await compiled.run({"n": 1})).path == []
    assert (await compiled.run({"n": 0})).path == ["a"]


async def test_command_goto_chooses_a_declared_target() -> None:
    def decide(state: Log) -> Command:
        return Command(update={"last": "went-b"}, goto=("b",))

    g = Graph(Log).add_node("a", decide, goto=["b", "c"]).add_node("b", writer("b"))
    g.add_node("c", writer("c")).add_edge(START, "a").add_edge("b", END).add_edge("c", END)
    result = await g.compile().run()
    assert result.path == ["a", "b"]
    assert result.state.last == "went-b"


async def test_global_step_limit_stops_a_long_loop() -> None:
    def again(state: Log) -> Literal["a", "__end__"]:
        return "a"

    g = Graph(Log).add_node("a", lambda s: {"n": s.n + 1}).add_edge(START, "a")
    g.add_route("a", again)
    with pytest.raises(StepLimitExceededError, match="after 50 steps") as info:
        await g.compile().run(max_steps=50)
    assert info.value.result.state.n == 50
    assert info.value.result.status is RunStatus.FAILED


async def test_failed_run_can_be_returned_instead_of_raised() -> None:
    g = Graph(Log).add_node("boom", lambda s: 1 / 0).add_edge(START, "boom")
    g.add_edge("boom", END)
    result = await g.compile().run(raise_on_error=False)
    assert result.status is RunStatus.FAILED
    assert "node 'boom' failed at step 1 (attempt 1): ZeroDivisionError" in str(result.error)


def test_run_sync_works_outside_an_event_loop() -> None:
    g = Graph(Log).add_node("a", writer("a")).add_edge(START, "a").add_edge("a", END)
    assert g.compile().run_sync().state.log == ["a"]


async def test_run_sync_inside_an_event_loop_says_to_await() -> None:
    g = Graph(Log).add_node("a", writer("a")).add_edge(START, "a").add_edge("a", END)
    with pytest.raises(SyncInLoopError, match="use `await graph.run"):
        g.compile().run_sync()


async def test_same_graph_with_random_delays_gives_identical_state_over_20_runs() -> None:
    class D(BaseModel):
        trail: Annotated[list[str], append] = []
        sums: Annotated[list[int], extend] = []
        last: str = ""

    def branch(name: str) -> Any:
        async def node(state: D) -> dict[str, Any]:
            await asyncio.sleep(random.random() / 200)
            return {"trail": name, "sums": [len(state.trail)]}

        return node

    def fan(state: D) -> list[Literal["p", "q", "r"]]:
        return ["r", "p", "q"]

    g = Graph(D)
    for name in "pqr":
        g.add_node(name, branch(name))
    g.add_join("j", lambda s: {"last": ",".join(s.trail)})
    g.add_node("s", branch("s"))
    g.add_route(START, fan)
    g.add_edge("p", "j").add_edge("q", "s").add_edge("s", "j").add_edge("r", "j")
    g.add_edge("j", END)
    compiled = g.compile()
    results = [(await compiled.run()).state for _ in range(20)]
    assert all(r == results[0] for r in results)
    assert results[0].trail == ["p", "q", "r", "s"]
    assert results[0].last == "p,q,r,s"
