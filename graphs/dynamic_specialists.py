"""Dynamic specialists: an analyzer lists the specialties a request needs (structured output),
a router sends one task per specialty to a single specialist node, and that node's agent
writes its instructions from the task's payload (``instructions`` as a callable; the SDK's
``wrapper.context`` is the orchestrator ``Context``, so ``wrapper.context.payload`` is the
specialty). A join merges the answers. Use it when the set of experts is only known at run time.

State: ``request`` (the question), ``analysis`` (the specialties needed), ``answers`` (one per
specialty, in the analyzer's order), ``report`` (the merged answer).
Example input: "Tax, marketing and hiring advice for opening a second bakery"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from agents import Agent, RunContextWrapper
from pydantic import BaseModel, Field

from orchestrator import END, START, CompiledGraph, Context, Graph, Send, append


class Analysis(BaseModel):
    specialties: list[str] = Field(description="One to four areas of expertise, a few words each.")


class Consultation(BaseModel):
    request: str = ""
    analysis: Analysis | None = None
    answers: Annotated[list[str], append] = []
    report: str = ""


analyzer = Agent(
    name="Analyzer",
    instructions="Determine the expertise this request needs: list each specialty separately.",
    output_type=Analysis,
)


def specialist_instructions(wrapper: RunContextWrapper[Context[Any]], agent: Agent[Any]) -> str:
    """The specialist becomes whatever its task's payload says."""
    domain = wrapper.context.payload or "general questions"
    return (
        f"You are an expert in {domain}. Answer only the part of the request about {domain}, "
        "concretely and briefly; other experts cover the rest."
    )


specialist = Agent(name="Specialist", instructions=specialist_instructions)


def specialties(state: Consultation) -> list[str]:
    """The analyzer's specialties, without repeats (or one generalist when it found none)."""
    found = state.analysis.specialties if state.analysis is not None else []
    unique = list(dict.fromkeys(s.strip() for s in found if s.strip()))
    return unique or ["general questions"]


def assign(state: Consultation) -> list[Send]:
    """One specialist task per specialty, the specialty as payload."""
    return [Send("specialist", specialty) for specialty in specialties(state)]


def merge(state: Consultation) -> dict[str, Any]:
    """Join: one section per specialty, in the analyzer's order."""
    sections = zip(specialties(state), state.answers, strict=False)
    return {"report": "\n\n".join(f"## {name}\n{text}" for name, text in sections)}


def build(
    *, model: Any = None, models: Mapping[str, Any] | None = None
) -> CompiledGraph[Consultation]:
    """Analyze, fan out to specialists, merge. ``models`` overrides the model per node
    (``analyzer``, ``specialist`` (every task))."""
    per = dict(models or {})
    g = Graph(Consultation, name="dynamic_specialists", model=model)
    g.add_agent(
        "analyzer", analyzer, prompt="{request}", output="analysis", model=per.get("analyzer")
    )
    g.add_agent(
        "specialist", specialist, prompt="{request}", output="answers", model=per.get("specialist")
    )
    g.add_join("merge", merge)
    g.add_edge(START, "analyzer")
    g.add_route("analyzer", assign, ["specialist"])
    g.add_edge("specialist", "merge").add_edge("merge", END)
    return g.compile()


graph = build
