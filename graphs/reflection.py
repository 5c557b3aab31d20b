"""Reflection: a generator writes, a critic reviews the output and either approves it or says
what to improve, and the critique goes back into the generator's own conversation, so each
revision sees every earlier attempt and critique. It stops when the critic approves, or after
``max_rounds`` generations (the loop edge's cap). Use it when quality matters more than cost.

State: ``request`` (what to generate), ``messages`` (the generator's conversation: request,
drafts and critiques), ``output`` (the latest draft), ``critique`` (the critic's verdict).
Example input: "A haiku about autumn rain in the city"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from agents import Agent
from pydantic import BaseModel, Field

from orchestrator import END, START, CompiledGraph, Graph, extend


class Critique(BaseModel):
    approved: bool = Field(description="True when the content needs no further changes.")
    feedback: str = Field(description="Specific improvements, or why it is good as it is.")


class Reflection(BaseModel):
    request: str = ""
    messages: Annotated[list[dict[str, Any]], extend] = []
    output: str = ""
    critique: Critique | None = None


generator = Agent(
    name="Generator",
    instructions="Generate content for the request. When given feedback, revise your last version.",
)

critic = Agent(
    name="Critic",
    instructions="Review content and provide feedback. Approve it only when it needs no changes.",
    output_type=Critique,
)


def generator_prompt(state: Reflection) -> str:
    """The request first; afterwards the critic's feedback, as the next user turn."""
    if state.critique is None:
        return state.request
    return f"Request: {state.request}\nFeedback: {state.critique.feedback}\nImprove it."


def build(
    *, model: Any = None, models: Mapping[str, Any] | None = None, max_rounds: int = 3
) -> CompiledGraph[Reflection]:
    """Generator and critic in a loop. ``models`` overrides the model per node (``generator``,
    ``critic``); at most ``max_rounds`` generations, then the last one stands."""
    per = dict(models or {})

    def approved(state: Reflection) -> Literal["generator", "__end__"]:
        assert state.critique is not None
        return END if state.critique.approved else "generator"

    g = Graph(Reflection, name="reflection", model=model)
    g.add_agent(
        "generator",
        generator,
        prompt=generator_prompt,
        messages="messages",
        output="output",
        model=per.get("generator"),
    )
    g.add_agent(
        "critic",
        critic,
        prompt="Review this: {output}. Provide specific improvements.",
        messages=None,  # the critic judges the latest version alone
        output="critique",
        model=per.get("critic"),
    )
    g.add_edge(START, "generator").add_edge("generator", "critic")
    g.add_route("critic", approved)
    g.cap_edge("critic", "generator", max_rounds - 1, exit=END)
    return g.compile()


graph = build
