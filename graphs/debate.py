"""Debate: two debaters argue in turns for a fixed number of rounds (a loop whose edge carries a
cap), each seeing the transcript so far, then a judge weighs the arguments and concludes. Use
it when a decision benefits from hearing the strongest case on both sides before concluding.

State: ``question`` (the proposition), ``transcript`` (every argument in order: pro, con, pro,
...), ``verdict`` (the judge's conclusion).
Example input: "Should our team adopt a four-day work week?"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from agents import Agent
from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Graph, append


class Debate(BaseModel):
    question: str = ""
    transcript: Annotated[list[str], append] = []
    verdict: str = ""


pro_agent = Agent(
    name="pro",
    instructions="Argue in favor of the proposition. Answer the latest counterargument.",
)

con_agent = Agent(
    name="con",
    instructions="Argue against the proposition. Answer the latest argument.",
)

judge_agent = Agent(
    name="judge",
    instructions="Evaluate arguments and reach a conclusion.",
)


def _history(state: Debate) -> str:
    speakers = ("Pro", "Con")
    lines = [f"{speakers[i % 2]}: {text}" for i, text in enumerate(state.transcript)]
    return "\n".join([f"Question: {state.question}", *lines])


def pro_prompt(state: Debate) -> str:
    return f"{_history(state)}\n\nPresent your argument."


def con_prompt(state: Debate) -> str:
    return f"{_history(state)}\n\nPresent your counterargument."


def judge_prompt(state: Debate) -> str:
    return f"{_history(state)}\n\nProvide your conclusion."


def build(
    *, model: Any = None, models: Mapping[str, Any] | None = None, rounds: int = 3
) -> CompiledGraph[Debate]:
    """``rounds`` rounds of pro then con, then the judge. ``models`` overrides the model per
    node (``pro``, ``con``, ``judge``)."""
    per = dict(models or {})

    g = Graph(Debate, name="debate", model=model)
    # Both debaters append to the transcript (a reducer field); turns alternate pro, con.
    g.add_agent("pro", pro_agent, prompt=pro_prompt, output="transcript", model=per.get("pro"))
    g.add_agent("con", con_agent, prompt=con_prompt, output="transcript", model=per.get("con"))
    g.add_agent("judge", judge_agent, prompt=judge_prompt, output="verdict", model=per.get("judge"))
    g.add_edge(START, "pro").add_edge("pro", "con")
    # The loop: con hands the floor back to pro until the cap, then the judge takes over.
    g.add_edge("con", "pro", cap=rounds - 1, exit="judge")
    g.add_edge("judge", END)
    return g.compile()


graph = build
