"""An agent node given a function instead of an agent makes the agent of each execution at run
time (from the state or the task's payload): it runs through the real ``agents.Runner``, its
calls are recorded under its own name and replay from the recording; one with handoffs is
refused by name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from agents import Agent
from pydantic import BaseModel

from orchestrator import END, START, AgentRunError, Context, Graph, ModelCalled, Send, append
from orchestrator.store import SQLiteStore
from tests.support.scripted import model, say


class Panel(BaseModel):
    topics: list[str] = []
    answers: Annotated[list[str], append] = []


def build(scripted: Any) -> Any:
    def make(state: Panel, ctx: Context[Any]) -> Agent[Any]:
        """A new expert for the topic this task was sent."""
        return Agent(name=f"{ctx.payload} expert", instructions=f"Explain {ctx.payload}.")

    g = Graph(Panel, name="panel", model=scripted)
    g.add_node("plan", lambda s: {"topics": ["joins", "caps"]})
    g.add_agent(
        "expert",
        make,
        prompt="Explain {payload}",
        output="answers",
        messages=None,
    )
    g.add_route("plan", lambda s: [Send("expert", t) for t in s.topics], ["expert"])
    g.add_edge(START, "plan").add_edge("expert", END)
    return g.compile()


async def test_each_execution_runs_the_agent_made_for_it(tmp_path: Path) -> None:
    scripted = model(say("Joins wait."), say("Caps bound loops."))
    store = SQLiteStore(tmp_path / "runs.db")
    result = await build(scripted).run(store=store, events=True)
    assert result.path == ["plan", "expert", "expert"]
    made = [e.agent for e in result.events if isinstance(e, ModelCalled)]
    assert made == ["joins expert", "caps expert"]
    assert [c.system_instructions for c in scripted.calls] == ["Explain joins.", "Explain caps."]
    report = await build(model()).replay(result.run_id, store=store)
    assert report.matched, (report.reason, report.expected, report.actual)


async def test_an_agent_made_with_handoffs_is_refused_naming_the_node() -> None:
    class S(BaseModel):
        messages: list[dict[str, Any]] = []

    def make(state: S) -> Agent[Any]:
        return Agent(name="Router", handoffs=[Agent(name="Elsewhere")])

    g = Graph(S, name="routing", model=model(say("hi"))).add_agent("router", make)
    graph = g.add_edge(START, "router").add_edge("router", END).compile()
    result = await graph.run(
        {"messages": [{"role": "user", "content": "hi"}]}, raise_on_error=False
    )
    error = getattr(result.error, "cause", result.error)
    assert isinstance(error, AgentRunError) and error.node == "router"
    assert "made at run time with handoffs" in str(error)
