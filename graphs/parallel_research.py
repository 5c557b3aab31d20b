"""Parallel research: a planner splits the question into sub-questions, one researcher task is
sent per sub-question (``Send`` fan-out; the researcher's instructions name its task's payload,
the sub-question), a join waits for every branch, and a synthesizer combines the findings into
one answer. Use it when a question has independent parts that can be researched at once.

State: ``question`` (what to research), ``plan`` (the planner's sub-questions), ``findings``
(one per sub-question, in plan order), ``notes`` (the joined findings), ``answer`` (the
synthesis).
Example input: "Should a 20-person company move its servers to the cloud?"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from agents import Agent, RunContextWrapper
from pydantic import BaseModel, Field

from orchestrator import END, START, CompiledGraph, Context, Graph, Send, append


class ResearchPlan(BaseModel):
    sub_questions: list[str] = Field(description="Two to four independent sub-questions.")


class Research(BaseModel):
    question: str = ""
    plan: ResearchPlan | None = None
    findings: Annotated[list[str], append] = []
    notes: str = ""
    answer: str = ""


planner = Agent(
    name="Planner",
    instructions=(
        "Break the research question into two to four independent sub-questions that together "
        "answer it."
    ),
    output_type=ResearchPlan,
)


def researcher_instructions(wrapper: RunContextWrapper[Context[Any]], agent: Agent[Any]) -> str:
    """Each research task is about the sub-question its `Send` carries."""
    sub_question = wrapper.context.payload
    return (
        f"Research this sub-question thoroughly: {sub_question}. Gather facts and sources. "
        "The user's message is the overall question, for context only."
    )


researcher = Agent(name="Researcher", instructions=researcher_instructions)

synthesizer = Agent(
    name="Synthesizer",
    instructions="Combine the research findings into one clear, sourced answer.",
)


def sub_questions(state: Research) -> list[str]:
    """The planner's sub-questions, or the question itself when it gave none."""
    return (state.plan.sub_questions if state.plan else None) or [state.question]


def fan_out(state: Research) -> list[Send]:
    """One research task per sub-question, the sub-question as its payload."""
    return [Send("research", q) for q in sub_questions(state)]


def collect(state: Research) -> dict[str, Any]:
    """Join: runs once every research branch has arrived (findings are in plan order)."""
    pairs = zip(sub_questions(state), state.findings, strict=False)
    return {"notes": "\n\n".join(f"Q: {q}\nA: {a}" for q, a in pairs)}


def build(*, model: Any = None, models: Mapping[str, Any] | None = None) -> CompiledGraph[Research]:
    """Plan, research in parallel, join, synthesize. ``models`` overrides the model per agent
    node (``planner``, ``research`` (every task), ``synthesizer``)."""
    per = dict(models or {})
    g = Graph(Research, name="parallel_research", model=model)
    g.add_agent("planner", planner, prompt="{question}", output="plan", model=per.get("planner"))
    # Every task appends its finding; the barrier applies them in Send order.
    g.add_agent(
        "research", researcher, prompt="{question}", output="findings", model=per.get("research")
    )
    g.add_join("collect", collect)
    g.add_agent(
        "synthesizer",
        synthesizer,
        prompt="Question: {question}\n\nFindings:\n\n{notes}",
        output="answer",
        model=per.get("synthesizer"),
    )
    g.add_edge(START, "planner")
    g.add_route("planner", fan_out, ["research"])
    g.add_edge("research", "collect").add_edge("collect", "synthesizer")
    g.add_edge("synthesizer", END)
    return g.compile()


graph = build
