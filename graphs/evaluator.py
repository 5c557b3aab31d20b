"""Evaluation loop: a writer drafts, an evaluator scores the draft (structured output: a score
from 1 to 10 and feedback), and the writer revises with that feedback until the score reaches
the bar (8 by default). The loop edge is capped: after ``max_rounds`` drafts the run stops with
its best effort. Use it when quality can be judged against clear criteria.

State: ``task`` (what to write), ``draft`` (the latest draft), ``evaluation`` (the latest
score and feedback), ``best_effort`` (true when the cap ended the loop before a pass).
Example input: "A short blog post about solar panels for homeowners"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from agents import Agent
from pydantic import BaseModel, Field

from orchestrator import END, START, CompiledGraph, Graph


class Evaluation(BaseModel):
    score: int = Field(ge=1, le=10, description="Overall quality from 1 to 10.")
    feedback: str = Field(description="Specific feedback for improvement.")


class Writing(BaseModel):
    task: str = ""
    draft: str = ""
    evaluation: Evaluation | None = None
    best_effort: bool = False


writer = Agent(
    name="writer",
    instructions="Write content based on the prompt and any feedback provided.",
)

evaluator = Agent(
    name="evaluator",
    instructions="""Evaluate the content on:
    - Clarity (1-10)
    - Completeness (1-10)
    - Accuracy (1-10)

    Give the average as the score and specific feedback for improvement.""",
    output_type=Evaluation,
)


def writer_prompt(state: Writing) -> str:
    text = f"Prompt: {state.task}"
    if state.evaluation is not None:
        text += (
            f"\n\nPrevious draft:\n{state.draft}\n\nPrevious feedback: {state.evaluation.feedback}"
        )
    return text


def best_effort(state: Writing) -> dict[str, Any]:
    """The cap's exit: keep the last draft and say it did not pass."""
    return {"best_effort": True}


def build(
    *,
    model: Any = None,
    models: Mapping[str, Any] | None = None,
    pass_score: int = 8,
    max_rounds: int = 3,
) -> CompiledGraph[Writing]:
    """The writer/evaluator loop. ``models`` overrides the model per node (``writer``,
    ``evaluator``); a draft passes at ``pass_score``; at most ``max_rounds`` drafts."""
    per = dict(models or {})

    def verdict(state: Writing) -> Literal["writer", "__end__"]:
        assert state.evaluation is not None
        return END if state.evaluation.score >= pass_score else "writer"

    g = Graph(Writing, name="evaluator", model=model)
    g.add_agent("writer", writer, prompt=writer_prompt, output="draft", model=per.get("writer"))
    g.add_agent(
        "evaluator",
        evaluator,
        prompt="Evaluate this content:\n\n{draft}",
        output="evaluation",
        model=per.get("evaluator"),
    )
    g.add_node("best_effort", best_effort)
    g.add_edge(START, "writer").add_edge("writer", "evaluator")
    g.add_route("evaluator", verdict)
    g.cap_edge("evaluator", "writer", max_rounds - 1, exit="best_effort")
    g.add_edge("best_effort", END)
    return g.compile()


graph = build
