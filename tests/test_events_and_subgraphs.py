"""The event stream of a run, and compiled graphs used as nodes of other graphs."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel

from orchestrator import (
    END,
    START,
    EdgeTaken,
    Graph,
    InvalidGraphError,
    NodeFailed,
    NodeFailedError,
    NodeFinished,
    NodeStarted,
    RunFinished,
    RunStarted,
    RunStatus,
    Send,
    StepFinished,
    StepStarted,
    append,
    extend,
)


class Log(BaseModel):
    log: Annotated[list[str], append] = []
    n: int = 0


async def test_stream_yields_typed_events_in_order_and_keeps_the_result() -> None:
    g = Graph(Log).add_node("a", lambda s: {"log": "a"}).add_node("b", lambda s: {"n": 2})
    g.add_edge(START, "a").add_edge("a", "b").add_edge("b", END)
    stream = g.compile().stream()
    kinds = [type(event).__name__ async for event in stream]
    assert kinds == [
        "RunStarted",
        "EdgeTaken",
        "StepStarted",
        "NodeStarted",
        "NodeFinished",
        "EdgeTaken",
        "StepFinished",
        "StepStarted",
        "NodeStarted",
        "NodeFinished",
        "EdgeTaken",
        "StepFinished",
        "RunFinished",
    ]
    assert stream.result is not None
    assert stream.result.state.n == 2
    assert stream.result.run_id == stream.run_id


async def test_events_carry_updates_durations_edges_and_status() -> None:
    async def slow(state: Log) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return {"log": "slow"}

    g = Graph(Log).add_node("slow", slow).add_edge(START, "slow").add_edge("slow", END)
    result = await g.compile().run(events=True)
    events = result.events
    assert isinstance(events[0], RunStarted) and events[0].graph == "Log"
    finished = next(e for e in events if isinstance(e, NodeFinished))
    assert finished.node == "slow"
    assert finished.update == {"log": "slow"}
    assert finished.duration >= 0.009
    started = next(e for e in events if isinstance(e, NodeStarted))
    assert started.task_id == finished.task_id
    edges = [(e.source, e.target) for e in events if isinstance(e, EdgeTaken)]
    assert edges == [(START, "slow"), ("slow", END)]
    barrier = next(e for e in events if isinstance(e, StepFinished))
    assert barrier.writes == [("slow", {"log": "slow"})]
    assert isinstance(events[-1], RunFinished) and events[-1].status is RunStatus.COMPLETED
    assert sum(isinstance(e, StepStarted) for e in events) == 1


async def test_failed_node_event_names_the_error_and_the_stream_ends_failed() -> None:
    g = Graph(Log).add_node("bad", lambda s: 1 / 0).add_edge(START, "bad").add_edge("bad", END)
    stream = g.compile().stream()
    events = [e async for e in stream]
    failed = next(e for e in events if isinstance(e, NodeFailed))
    assert (failed.node, failed.error_type, failed.handled) == ("bad", "ZeroDivisionError", False)
    assert isinstance(events[-1], RunFinished) and events[-1].status is RunStatus.FAILED
    assert stream.result is not None and isinstance(stream.result.error, NodeFailedError)


async def test_live_events_arrive_before_the_run_ends() -> None:
    gate = asyncio.Event()

    async def wait(state: Log) -> None:
        # Bounded, so a stream that holds events back until the end fails here instead of hanging.
        await asyncio.wait_for(gate.wait(), 10)

    g = Graph(Log).add_node("wait", wait).add_edge(START, "wait").add_edge("wait", END)
    stream = g.compile().stream()
    seen: list[str] = []
    async for event in stream:
        seen.append(type(event).__name__)
        if isinstance(event, NodeStarted):
            gate.set()  # only possible if NodeStarted arrived while the node was running
    assert seen[-1] == "RunFinished"


# --- subgraphs -------------------------------------------------------------------------------


class Inner(BaseModel):
    topic: str = ""
    notes: Annotated[list[str], append] = []
    rounds: int = 0


def inner_graph() -> Any:
    def research(state: Inner) -> dict[str, Any]:
        return {"notes": f"{state.topic}#{state.rounds}", "rounds": state.rounds + 1}

    def again(state: Inner) -> Literal["research", "__end__"]:
        return "research" if state.rounds < 2 else "__end__"

    g = Graph(Inner, name="inner").add_node("research", research)
    g.add_edge(START, "research").add_route("research", again)
    return g.compile()


class Outer(BaseModel):
    subject: str = "cats"
    findings: Annotated[list[str], extend] = []


async def test_subgraph_maps_fields_in_and_out() -> None:
    g = Graph(Outer).add_subgraph(
        "dig", inner_graph(), inputs={"topic": "subject"}, outputs={"findings": "notes"}
    )
    g.add_edge(START, "dig").add_edge("dig", END)
    result = await g.compile().run(events=True)
    assert result.state.findings == ["cats#0", "cats#1"]
    finished = next(e for e in result.events if isinstance(e, NodeFinished))
    assert finished.detail["path"] == ["research", "research"]


async def test_subgraph_fan_out_with_payloads() -> None:
    def spread(state: Outer) -> list[Literal["dig"]]:
        return [Send("dig", {"topic": t}) for t in ("a", "b", "c")]  # type: ignore[misc]

    g = Graph(Outer).add_subgraph("dig", inner_graph(), outputs={"findings": "notes"})
    g.add_route(START, spread).add_edge("dig", END)
    result = await g.compile().run()
    assert result.state.findings == ["a#0", "a#1", "b#0", "b#1", "c#0", "c#1"]
    assert result.visits == {"dig": 3}


async def test_subgraph_failure_names_the_outer_node() -> None:
    class Boom(BaseModel):
        x: int = 0

    inner = Graph(Boom, name="inner").add_node("explode", lambda s: 1 / 0)
    inner.add_edge(START, "explode").add_edge("explode", END)
    g = Graph(Outer).add_subgraph("dig", inner.compile())
    g.add_edge(START, "dig").add_edge("dig", END)
    with pytest.raises(NodeFailedError, match="node 'dig' failed.*node 'explode' failed"):
        await g.compile().run()


def test_subgraph_mapping_to_an_unknown_field_is_refused() -> None:
    with pytest.raises(InvalidGraphError, match="'nope' is not a field of 'inner'"):
        Graph(Outer).add_subgraph("dig", inner_graph(), inputs={"nope": "subject"})


async def test_subgraph_agents_use_the_parents_models_and_report_their_calls() -> None:
    from agents import Agent
    from agents.testing import ScriptedModel, assistant_message

    from orchestrator import ModelCalled

    class Notes(BaseModel):
        topic: str = ""
        note: str = ""

    inner = Graph(Notes, name="inner").add_agent(
        "jot", Agent(name="Jotter"), prompt="{topic}", output="note"
    )
    inner.add_edge(START, "jot").add_edge("jot", END)

    class Outer2(BaseModel):
        subject: str = "cats"
        note: str = ""

    g = Graph(Outer2).add_subgraph(
        "dig", inner.compile(), inputs={"topic": "subject"}, outputs={"note": "note"}
    )
    g.add_edge(START, "dig").add_edge("dig", END)
    result = await g.compile().run(model=ScriptedModel([[assistant_message("cats purr")]]))
    assert result.state.note == "cats purr"  # the run's model reached the subgraph's agent
    calls = [e for e in result.events if isinstance(e, ModelCalled)]
    assert [(c.node, c.agent) for c in calls] == [("dig/jot", "Jotter")]
    assert result.usage == {
        "dig/jot": {"requests": 1, "input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    }
