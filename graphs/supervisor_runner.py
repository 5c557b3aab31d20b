"""Supervisor whose tools run the workers with ``Runner.run``: the code-driven variant of
`graphs.supervisor`, as the SDK's examples write it. Each tool is a plain ``function_tool``
that calls ``await Runner.run(worker, task)`` and returns the worker's final output. A
``Runner.run`` inside an agent node's tool uses the node's model provider and recording, so the
workers' model calls are recorded under the supervisor node and a recorded replay answers them.
Use it when a tool must do more around a worker than ``Agent.as_tool`` allows (pick the worker,
shape its input, post-process its answer).

State: ``request`` (the task for the team), ``answer`` (the supervisor's final answer).
Example input: "Research the benefits of electric bikes and write a short newsletter item."
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents import Agent, Runner, Tool, function_tool
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
- research: get research on a topic
- write: get content written from notes

Break down complex requests and coordinate the team."""


def worker_tools(team: Mapping[str, Agent[Any]]) -> list[Tool]:
    """The supervisor's tools: each runs one worker with ``Runner.run``."""

    @function_tool
    async def research(topic: str) -> str:
        """Get research on a topic."""
        result = await Runner.run(team["researcher"], f"Research: {topic}")
        return str(result.final_output)

    @function_tool
    async def write(notes: str) -> str:
        """Get content written from notes."""
        result = await Runner.run(team["writer"], f"Write from these notes: {notes}")
        return str(result.final_output)

    return [research, write]


def supervisor_agent(workers: Mapping[str, Agent[Any]] | None = None) -> Agent[Any]:
    """The supervisor with tools that run its workers (pass clones for other models)."""
    team = {"researcher": researcher, "writer": writer, **(workers or {})}
    return Agent(name="supervisor", instructions=SUPERVISOR_INSTRUCTIONS, tools=worker_tools(team))


def build(*, model: Any = None, models: Mapping[str, Any] | None = None) -> CompiledGraph[Team]:
    """One supervisor node. ``model`` is every agent's default (workers included); ``models``
    overrides it for ``supervisor``, ``researcher`` or ``writer``. A worker naming no model
    gets the node's (through its provider); a model name is resolved by the run's
    ``model_provider``; either way its calls are recorded under the node."""
    per = dict(models or {})
    workers = {
        name: agent.clone(model=per.get(name, model))
        for name, agent in (("researcher", researcher), ("writer", writer))
        if per.get(name, model) is not None
    }
    g = Graph(Team, name="supervisor_runner", model=model)
    g.add_agent(
        "supervisor",
        supervisor_agent(workers),
        prompt="{request}",
        output="answer",
        max_turns=12,
        model=per.get("supervisor"),
    )
    g.add_edge(START, "supervisor").add_edge("supervisor", END)
    return g.compile()


graph = build
