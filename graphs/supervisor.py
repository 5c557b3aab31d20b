"""Supervisor with agents as tools: a supervisor agent coordinates a researcher and a writer
that it calls as tools (``Agent.as_tool``). Control never leaves the supervisor, so the whole
pattern is one node; the workers' model calls are recorded under that node and the diagram
draws them attached to it. Use it when a manager should break a task down, delegate the parts
and put the results together itself.

State: ``request`` (the task for the team), ``answer`` (the supervisor's final answer).
Example input: "Research the benefits of electric bikes and write a short newsletter item."
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents import Agent
from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Graph


class Team(BaseModel):
    request: str = ""
    answer: str = ""


researcher = Agent(
    name="researcher",
    instructions="Research the topic thoroughly. Gather facts and sources.",
)

writer = Agent(
    name="writer",
    instructions="Write clear, engaging content from the notes you are given.",
)

SUPERVISOR_INSTRUCTIONS = """You coordinate a team to complete tasks.

Available workers:
- assign_research: Get research on a topic
- assign_writing: Get content written

Break down complex requests and coordinate the team."""


def supervisor_agent(workers: Mapping[str, Agent[Any]] | None = None) -> Agent[Any]:
    """The supervisor with its workers as tools (pass clones to give workers other models)."""
    team = {"researcher": researcher, "writer": writer, **(workers or {})}
    return Agent(
        name="supervisor",
        instructions=SUPERVISOR_INSTRUCTIONS,
        tools=[
            team["researcher"].as_tool(
                tool_name="assign_research", tool_description="Get research on a topic."
            ),
            team["writer"].as_tool(
                tool_name="assign_writing", tool_description="Get content written from notes."
            ),
        ],
    )


def build(*, model: Any = None, models: Mapping[str, Any] | None = None) -> CompiledGraph[Team]:
    """One supervisor node. ``model`` is every agent's default (workers included); ``models``
    overrides it for ``supervisor``, ``researcher`` or ``writer``. Give workers model names
    (resolved by the run's ``model_provider``): a worker's calls are then recorded under its own
    name, while a worker holding a ``Model`` object is called outside the node's recording."""
    per = dict(models or {})
    workers = {
        name: agent.clone(model=per.get(name, model))
        for name, agent in (("researcher", researcher), ("writer", writer))
        if per.get(name, model) is not None
    }
    g = Graph(Team, name="supervisor", model=model)
    g.add_agent(
        "supervisor",
        supervisor_agent(workers),
        prompt="{request}",
        output="answer",
        max_turns=12,  # every worker call takes a turn
        model=per.get("supervisor"),
    )
    g.add_edge(START, "supervisor").add_edge("supervisor", END)
    return g.compile()


graph = build
