"""Sequential pipeline: researcher -> analyst -> writer, each stage reading the previous
stage's output field. Use it for a linear workflow where every step refines the last and the
order never changes: code, not the model, decides what runs next.

State: ``topic`` (what to research), ``research`` (the researcher's facts and sources),
``analysis`` (the analyst's insights), ``report`` (the writer's final report).
Example input: "The impact of remote work on small software companies"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents import Agent
from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Graph


class Report(BaseModel):
    topic: str = ""
    research: str = ""
    analysis: str = ""
    report: str = ""


researcher = Agent(
    name="researcher",
    instructions="Research the topic thoroughly. Gather facts and sources.",
)

analyst = Agent(
    name="analyst",
    instructions="Analyze the research. Identify key insights and patterns.",
)

writer = Agent(
    name="writer",
    instructions="Write a clear, engaging report based on the analysis.",
)


def build(*, model: Any = None, models: Mapping[str, Any] | None = None) -> CompiledGraph[Report]:
    """The three-stage pipeline. ``models`` overrides the model per node (``researcher``,
    ``analyst``, ``writer``)."""
    per = dict(models or {})
    g = Graph(Report, name="pipeline", model=model)
    g.add_agent(
        "researcher",
        researcher,
        prompt="Research: {topic}",
        output="research",
        model=per.get("researcher"),
    )
    g.add_agent(
        "analyst",
        analyst,
        prompt="Analyze this research:\n\n{research}",
        output="analysis",
        model=per.get("analyst"),
    )
    g.add_agent(
        "writer",
        writer,
        prompt="Write a report on {topic} based on:\n\n{analysis}",
        output="report",
        model=per.get("writer"),
    )
    g.add_edge(START, "researcher").add_edge("researcher", "analyst")
    g.add_edge("analyst", "writer").add_edge("writer", END)
    return g.compile()


graph = build
