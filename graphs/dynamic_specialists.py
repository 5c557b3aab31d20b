"""Dynamic specialists: an analyzer lists the specialties a request needs (structured output),
a router sends one task per specialty to the specialist node, and that node creates a new
specialist agent for its task at run time, from the analyzer's output (``add_agent`` given a
function that makes the agent: name, instructions and settings from the specialty in
``ctx.payload``). A join merges the answers. Use it when the set of experts is only known at
run time.

State: ``request`` (the question), ``analysis`` (the specialties needed), ``answers`` (one per
specialty, in the analyzer's order), ``report`` (the merged answer).
Example input: "Tax, marketing and hiring advice for opening a second bakery"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from agents import Agent, ModelSettings
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


def make_specialist(state: Consultation, ctx: Context[Any]) -> Agent[Any]:
    """A new specialist agent for the specialty this task was sent (``ctx.payload``)."""
    domain = str(ctx.payload or "general questions")
    others = [s for s in specialties(state) if s != domain]
    covered = f" ({', '.join(others)} are covered by other experts)" if others else ""
    return Agent(
        name=f"{domain.title()} Specialist",
        instructions=(
            f"You are an expert in {domain}. Answer only the part of the request about "
            f"{domain}, concretely and briefly{covered}."
        ),
        model_settings=ModelSettings(temperature=0.2),
    )


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
        "specialist",
        make_specialist,
        prompt="{request}",
        output="answers",
        model=per.get("specialist"),
    )
    g.add_join("merge", merge)
    g.add_edge(START, "analyzer")
    g.add_route("analyzer", assign, ["specialist"])
    g.add_edge("specialist", "merge").add_edge("merge", END)
    return g.compile()


graph = build
