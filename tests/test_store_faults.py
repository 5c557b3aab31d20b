"""Infrastructure faults are not node failures: a store that blinks is retried with backoff; one
that stays away stops the run as resumable (never failed); a value the store cannot keep is
refused by node and field."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from orchestrator import END, START, Graph, RunStatus, append, durable
from orchestrator.errors import StoreUnavailableError, TransientStoreError, UnstorableValueError
from orchestrator.store import MemoryStore


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(durable, "STORE_RETRY_DELAYS", (0.0, 0.001, 0.002))


class Log(BaseModel):
    log: Annotated[list[str], append] = []
    text: str = ""


def chain() -> Any:
    g = Graph(Log)
    for name in ("a", "b", "c"):
        g.add_node(name, _writes(name))
    g.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", END)
    return g.compile()


def _writes(name: str) -> Any:
    def node(state: Log) -> dict[str, Any]:
        return {"log": name}

    return node


class Blinking(MemoryStore):
    """Checkpoint writes fail with a transient error ``fails`` times from the second one on."""

    def __init__(self, fails: int) -> None:
        super().__init__()
        self.fails, self.saves = fails, 0
        self.where = "blinking"

    async def save_step(self, checkpoint: Any, events: Any, *, fence: Any = None) -> int:
        self.saves += 1
        if checkpoint.step >= 2 and self.fails:
            self.fails -= 1
            raise TransientStoreError("database is locked")
        return await super().save_step(checkpoint, events, fence=fence)


async def test_a_store_that_blinks_is_retried_and_the_run_completes() -> None:
    store = Blinking(fails=3)
    result = await chain().run(store=store, run_id="blink")
    assert result.status is RunStatus.COMPLETED
    assert (await store.get_run("blink")).status == "completed"
    loaded = await chain().load("blink", store=store)
    assert loaded.state.log == ["a", "b", "c"]


async def test_a_store_that_stays_away_stops_the_run_resumable_not_failed() -> None:
    store = Blinking(fails=10_000)
    graph = chain()
    result = await graph.run(store=store, run_id="away", raise_on_error=False)
    assert result.status is RunStatus.INTERRUPTED
    assert isinstance(result.error, StoreUnavailableError)
    assert "'away'" in str(result.error) and "resume" in str(result.error)
    assert (await store.get_run("away")).status != "failed"
    store.fails = 0  # the store is back
    resumed = await graph.resume("away", store=store)
    assert resumed.status is RunStatus.COMPLETED
    assert resumed.state.log == ["a", "b", "c"]


async def test_a_value_the_store_cannot_keep_is_refused_by_node_and_field() -> None:
    def bad(state: Log) -> dict[str, Any]:
        return {"text": "broken \ud800 surrogate"}

    g = Graph(Log).add_node("a", _writes("a")).add_node("bad", bad)
    compiled = g.add_edge(START, "a").add_edge("a", "bad").add_edge("bad", END).compile()
    store = MemoryStore()
    result = await compiled.run(store=store, run_id="bad", raise_on_error=False)
    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, UnstorableValueError)
    assert (result.error.node, result.error.field) == ("bad", "text")
    record = await store.get_run("bad")
    assert record.status == "failed" and "'text'" in (record.error or "")
    assert (await compiled.load("bad", store=store)).state.log == ["a"]
