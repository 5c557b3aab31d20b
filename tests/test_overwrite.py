"""`Overwrite`: replace a reducer field's value instead of reducing it, live and through every
store; two overwrites of one field in one step conflict."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from orchestrator import (
    END,
    START,
    ConflictingWritesError,
    Graph,
    Overwrite,
    append,
    extend,
)
from orchestrator.store import Store


class Notes(BaseModel):
    log: Annotated[list[str], extend] = []
    seen: Annotated[list[Any], append] = []


def writer(update: dict[str, Any]) -> Any:
    def node(state: Notes) -> dict[str, Any]:
        return dict(update)

    return node


async def test_an_overwrite_replaces_a_reducer_field_live_and_stored(any_store: Store) -> None:
    g = Graph(Notes).add_node("a", writer({"log": ["a1", "a2"]}))
    g.add_node("reset", writer({"log": Overwrite(["fresh"]), "seen": Overwrite([{"k": 1}])}))
    g.add_node("after", writer({"log": ["after"]}))
    g.add_edge(START, "a").add_edge("a", "reset").add_edge("reset", "after")
    compiled = g.add_edge("after", END).compile()
    live = await compiled.run(store=any_store, run_id="over")
    assert live.state.log == ["fresh", "after"] and live.state.seen == [{"k": 1}]
    loaded = await compiled.load("over", store=any_store)
    assert loaded.state == live.state
    steps = await compiled.playback("over", store=any_store)
    assert [s.state.log for s in steps] == [[], ["a1", "a2"], ["fresh"], ["fresh", "after"]]
    fork = await compiled.fork("over", 1, store=any_store)
    assert fork.state == live.state


async def test_an_overwrite_beside_reducing_writes_in_one_step_applies_in_order() -> None:
    g = Graph(Notes).add_node("a", writer({"log": ["a"]}))
    g.add_node("b", writer({"log": Overwrite(["b only"])}))
    g.add_edge(START, "a").add_edge(START, "b").add_edge("a", END).add_edge("b", END)
    result = await g.compile().run()
    assert result.state.log == ["b only"]  # a, then b's overwrite (declaration order)


async def test_two_overwrites_of_one_field_in_one_step_conflict() -> None:
    g = Graph(Notes).add_node("a", writer({"log": Overwrite(["a"])}))
    g.add_node("b", writer({"log": Overwrite(["b"])}))
    g.add_edge(START, "a").add_edge(START, "b").add_edge("a", END).add_edge("b", END)
    with pytest.raises(ConflictingWritesError, match="'log'"):
        await g.compile().run()
