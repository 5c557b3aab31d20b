"""Memory across runs with an SDK session: the assistant node runs with ``session=`` (an
``agents.SQLiteSession``, or any SDK ``Session``), exactly as ``Runner.run(agent, message,
session=session)`` would: the SDK reads the session's earlier items before the model call and
saves the new ones after it. Each run is a separate graph run (even in another process); the
session is what remembers. Give it to ``build(session=...)`` for every run of the graph, or
per run: ``graph.run({"message": ...}, session=SQLiteSession("ada", "memory.db"))``. With
neither, the assistant has no memory beyond the run.
Use it for assistants that should recall what a user said in earlier conversations.

State: ``message`` (the user's new message), ``messages`` (this run's conversation items: the
message and the answer; the session keeps them all), ``answer``.
Example input: "My name is Ada and I prefer short answers."
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from agents import Agent
from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Graph, extend
from orchestrator.agent import agent_node


class Chat(BaseModel):
    message: str = ""
    messages: Annotated[list[dict[str, Any]], extend] = []
    answer: str = ""


expert = Agent(
    name="Expert",
    instructions=(
        "You are an expert that learns from past conversations. Use what the user told you "
        "earlier (their name, preferences, open questions) when you answer."
    ),
)


def build(
    *, model: Any = None, models: Mapping[str, Any] | None = None, session: Any = None
) -> CompiledGraph[Chat]:
    """One assistant node with the SDK session ``session`` (None: the run's ``session=``, if
    any). ``models`` overrides the model of the ``assistant`` node."""
    per = dict(models or {})
    g = Graph(Chat, name="memory", model=model)
    g.add(
        agent_node(
            "assistant",
            expert,
            prompt="{message}",
            output="answer",
            model=per.get("assistant"),
            session=session,
        )
    )
    g.add_edge(START, "assistant").add_edge("assistant", END)
    return g.compile()


graph = build
