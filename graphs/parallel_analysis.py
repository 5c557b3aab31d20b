"""Parallel analysis: sentiment, topic and entity agents read the same text at the same time
(three branches from START), and a join combines their results once all three have arrived.
Use it when several independent analyses of one input can run concurrently; the step barrier
applies their updates in a fixed order, so the result never depends on which finished first.

State: ``text`` (the text to analyse), ``sentiment``, ``topics``, ``entities`` (one per
agent), ``summary`` (the join's combined report).
Example input: "I love the new Acme dashboard, but the Berlin support team was slow to answer."
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents import Agent
from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Graph


class TextAnalysis(BaseModel):
    text: str = ""
    sentiment: str = ""
    topics: str = ""
    entities: str = ""
    summary: str = ""


sentiment_agent = Agent(
    name="sentiment",
    instructions="Analyze the sentiment of the text. Return: positive, negative, or neutral.",
)

topic_agent = Agent(
    name="topics",
    instructions="Extract the main topics from the text. Return as a list.",
)

entity_agent = Agent(
    name="entities",
    instructions="Extract named entities (people, places, organizations) from the text.",
)

ANALYSTS = {"sentiment": sentiment_agent, "topics": topic_agent, "entities": entity_agent}


def combine(state: TextAnalysis) -> dict[str, Any]:
    """Join: one report from the three analyses."""
    return {
        "summary": (
            f"Sentiment: {state.sentiment}\nTopics: {state.topics}\nEntities: {state.entities}"
        )
    }


def build(
    *, model: Any = None, models: Mapping[str, Any] | None = None
) -> CompiledGraph[TextAnalysis]:
    """Three analysts in parallel and a join. ``models`` overrides the model per node
    (``sentiment``, ``topics``, ``entities``)."""
    per = dict(models or {})
    g = Graph(TextAnalysis, name="parallel_analysis", model=model)
    for node, agent in ANALYSTS.items():
        # Each analyst writes its own field, so parallel writes never conflict.
        g.add_agent(node, agent, prompt="{text}", output=node, model=per.get(node))
        g.add_edge(START, node).add_edge(node, "combine")
    g.add_join("combine", combine)
    g.add_edge("combine", END)
    return g.compile()


graph = build
