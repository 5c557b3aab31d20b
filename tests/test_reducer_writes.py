"""Reducer writes cost the size of the write: append/extend/add/merge validate only what they
add, and the state a node was given never changes; validators, constraints and custom
reducers keep the full path."""

from __future__ import annotations

import itertools
import operator
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field, field_validator

from orchestrator import (
    END,
    START,
    Graph,
    RunStatus,
    Send,
    StateValidationError,
    append,
    extend,
    merge,
    reducer,
)
from orchestrator.store import Store


class Bag(BaseModel):
    ints: Annotated[list[int], append] = []
    more: Annotated[list[int], extend] = []
    added: Annotated[list[str], operator.add] = []
    table: Annotated[dict[str, int], merge] = {}


def test_the_built_in_reducers_take_the_write_sized_path() -> None:
    from orchestrator.state import StateSchema

    schema = StateSchema(Bag)
    assert set(schema.fast) == {"ints", "more", "added", "table"}


async def test_a_node_never_sees_a_later_write_in_the_state_it_was_given(
    any_store: Store,
) -> None:
    given: list[Bag] = []

    def first(state: Bag) -> dict[str, Any]:
        given.append(state)
        return {"ints": 1, "more": [2, 3], "added": ["a"], "table": {"x": 1}}

    def second(state: Bag) -> dict[str, Any]:
        given.append(state)
        return {"ints": "4", "more": ["5"], "added": ["b"], "table": {"y": "2"}}  # coerced

    g = Graph(Bag).add_node("first", first).add_node("second", second)
    compiled = g.add_edge(START, "first").add_edge("first", "second").add_edge("second", END)
    result = await compiled.compile().run(store=any_store, run_id="sizes")
    assert result.state == Bag(
        ints=[1, 4], more=[2, 3, 5], added=["a", "b"], table={"x": 1, "y": 2}
    )
    assert given[0] == Bag()  # still empty: later writes made new lists
    assert given[1] == Bag(ints=[1], more=[2, 3], added=["a"], table={"x": 1})
    loaded = await compiled.compile().load("sizes", store=any_store)
    assert loaded.state == result.state


async def test_a_bad_item_is_refused_naming_node_and_field() -> None:
    g = Graph(Bag).add_node("bad", lambda s: {"ints": "not a number"})
    result = await g.add_edge(START, "bad").add_edge("bad", END).compile().run(raise_on_error=False)
    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, StateValidationError)
    assert (result.error.node, result.error.field) == ("bad", "ints")


class Guarded(BaseModel):
    capped: Annotated[list[int], append, Field(max_length=2)] = []
    checked: Annotated[list[int], append] = []
    custom: Annotated[list[int], reducer(lambda old, new: [*old, new * 10])] = []

    @field_validator("checked")
    @classmethod
    def _no_sevens(cls, value: list[int]) -> list[int]:
        if 7 in value:
            raise ValueError("no sevens")
        return value


def test_constrained_validated_and_custom_fields_keep_the_full_path() -> None:
    from orchestrator.state import StateSchema

    assert StateSchema(Guarded).fast == {}


@pytest.mark.parametrize(
    ("writes", "field"), [([{"capped": 1}] * 3, "capped"), ([{"checked": 7}], "checked")]
)
async def test_constraints_and_validators_still_see_the_whole_field(
    writes: list[dict[str, Any]], field: str
) -> None:
    g = Graph(Guarded)
    names = [f"w{i}" for i in range(len(writes))]
    for name, write in zip(names, writes, strict=True):
        g.add_node(name, _writer(write))
    g.add_edge(START, names[0])
    for a, b in itertools.pairwise(names):
        g.add_edge(a, b)
    g.add_edge(names[-1], END)
    result = await g.compile().run(raise_on_error=False)
    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, StateValidationError) and result.error.field == field


def _writer(write: dict[str, Any]) -> Any:
    def node(state: Guarded) -> dict[str, Any]:
        return dict(write)

    return node


async def test_custom_reducers_keep_working() -> None:
    g = Graph(Guarded).add_node("a", _writer({"custom": 1})).add_node("b", _writer({"custom": 2}))
    result = await g.add_edge(START, "a").add_edge("a", "b").add_edge("b", END).compile().run()
    assert result.state.custom == [10, 20]


async def test_a_wide_step_grows_one_new_list_and_leaves_the_given_state_alone(
    any_store: Store,
) -> None:
    """The writes of one step into one field grow a single new container in place; every
    task of the step, and the step before, still see the state they were given."""
    from orchestrator import Overwrite, Send

    given: list[Bag] = []

    def seed(state: Bag) -> dict[str, Any]:
        return {"ints": 0, "table": {"seed": 0}}

    def fan(state: Bag) -> list[Send]:
        return [Send("work", i) for i in range(1, 41)]

    def work(state: Bag, ctx: Any) -> dict[str, Any]:
        given.append(state)
        if ctx.payload == 20:  # an overwrite amid the appends: later appends grow its value
            return {"ints": Overwrite([-1]), "table": {"twenty": 20}}
        return {"ints": ctx.payload, "more": [ctx.payload], "table": {str(ctx.payload): 1}}

    g = Graph(Bag).add_node("seed", seed).add_node("work", work)
    g.add_edge(START, "seed").add_route("seed", fan, ["work"]).add_edge("work", END)
    result = await g.compile().run(store=any_store, run_id="wide")
    assert result.state.ints == [-1, *range(21, 41)]
    assert result.state.more == [i for i in range(1, 41) if i != 20]
    assert len(result.state.table) == 41 and result.state.table["twenty"] == 20
    assert len(given) == 40
    assert all(s.ints == [0] and s.more == [] and s.table == {"seed": 0} for s in given)
    loaded = await g.compile().load("wide", store=any_store)
    assert loaded.state == result.state
    views = await g.compile().playback("wide", store=any_store)
    assert views[1].state.ints == [0]  # the state after step 1 was not grown in place


def test_building_a_graph_reads_each_node_signature_once(monkeypatch: Any) -> None:
    import inspect

    from orchestrator import node as node_module

    calls: list[Any] = []
    real = inspect.signature

    def counted(fn: Any, *args: Any, **kwargs: Any) -> inspect.Signature:
        calls.append(fn)
        return real(fn, *args, **kwargs)

    monkeypatch.setattr(node_module.inspect, "signature", counted)

    def step(i: int) -> Any:
        return lambda state: {"ints": i}

    steps = [step(i) for i in range(50)]
    g = Graph(Bag)
    for i, fn in enumerate(steps):
        g.add_node(f"n{i}", fn)
    g.add_edge(START, "n0")
    for i in range(49):
        g.add_edge(f"n{i}", f"n{i + 1}")
    g.add_edge("n49", END).compile()
    assert len([c for c in calls if c in steps]) == 50


async def test_a_wide_step_leaves_the_garbage_collector_as_it_found_it(any_store: Store) -> None:
    """A step of many tasks runs its sync part with the collector paused (the cost per task
    stays flat); awaited tasks run with it on, and it is on again however the step ends."""
    import asyncio
    import gc

    seen: list[bool] = []

    class Wide(BaseModel):
        ints: Annotated[list[int], append] = []

    def fan(state: Wide) -> list[Send]:
        return [Send("sync", i) for i in range(300)] + [Send("waits", 0)]

    def sync(state: Wide, ctx: Any) -> dict[str, Any]:
        if ctx.payload == 299 and state.ints == [-1]:
            return {"ints": "not an int"}  # the barrier refuses it: the run fails there
        return {"ints": ctx.payload}

    async def waits(state: Wide) -> dict[str, Any]:
        await asyncio.sleep(0)
        seen.append(gc.isenabled())
        return {}

    g = Graph(Wide, name="wide")
    g.add_node("sync", sync).add_node("waits", waits)
    g.add_route(START, fan, ["sync", "waits"]).add_edge("sync", END).add_edge("waits", END)
    graph = g.compile()
    done = await graph.run(store=any_store)
    assert done.status is RunStatus.COMPLETED and len(done.state.ints) == 300
    assert seen == [True] and gc.isenabled()
    with pytest.raises(StateValidationError, match="node 'sync' .* field 'ints'"):
        await graph.run({"ints": [-1]}, store=any_store)
    assert gc.isenabled()
    gc.disable()  # a program that runs with the collector off keeps it off
    try:
        await graph.run(store=any_store)
        assert not gc.isenabled() and seen[-1] is False
    finally:
        gc.enable()
