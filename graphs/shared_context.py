"""Shared context: agents whose function tools write findings and decisions straight into the
graph's state through ``RunContextWrapper.context.update(...)`` (reducer fields, so every call
adds an item) and read the run's dependencies through ``wrapper.context.deps`` (here the
metrics source). A researcher gathers findings, then a coordinator decides from them. Use it
when several agents build up one shared record of what was found and decided.

State: ``request`` (the question to settle), ``findings`` and ``decisions`` (added to by tool
calls), ``summary`` (the coordinator's closing answer).
Run dependencies: ``deps={"metrics": {name: value}}``; without it a small sample is used.
Example input: "Review our support metrics data and decide whether we need more staff"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from agents import Agent, RunContextWrapper, function_tool
from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Context, Graph, append

#: Used when the run gets no ``metrics`` dependency.
SAMPLE_METRICS = {
    "support tickets per week": "420 (up 35% in a quarter)",
    "median first response": "9 hours (target: 4 hours)",
    "support staff": "6 agents",
}


class Findings(BaseModel):
    request: str = ""
    findings: Annotated[list[str], append] = []
    decisions: Annotated[list[str], append] = []
    summary: str = ""


def _metrics(ctx: RunContextWrapper[Context[Any]]) -> Mapping[str, str]:
    deps = ctx.context.deps
    found = deps.get("metrics") if isinstance(deps, Mapping) else None
    return found if found is not None else SAMPLE_METRICS


@function_tool
def look_up_metrics(ctx: RunContextWrapper[Context[Any]], query: str) -> str:
    """Look up metrics data relevant to the query; each metric found is recorded as a finding."""
    metrics = _metrics(ctx)
    words = {w.strip("?,.").lower() for w in query.split() if len(w) > 3}
    hits = {k: v for k, v in metrics.items() if words & set(k.lower().split())} or metrics
    for name, value in hits.items():
        ctx.context.update(findings=f"{name}: {value}")
    return "\n".join(f"{name}: {value}" for name, value in hits.items())


@function_tool
def add_finding(ctx: RunContextWrapper[Context[Any]], finding: str) -> str:
    """Add a finding to shared state."""
    ctx.context.update(findings=finding)
    return f"Added finding: {finding}"


@function_tool
def add_decision(ctx: RunContextWrapper[Context[Any]], decision: str) -> str:
    """Record a decision in shared state."""
    ctx.context.update(decisions=decision)
    return f"Recorded: {decision}"


researcher = Agent(
    name="researcher",
    instructions=(
        "Look up the metrics data the question needs and add any further finding you infer. "
        "Every finding goes into the shared record through your tools."
    ),
    tools=[look_up_metrics, add_finding],
)

coordinator = Agent(
    name="coordinator",
    instructions=(
        "Decide from the findings. Record each decision with add_decision, then summarize "
        "the findings and decisions in two sentences."
    ),
    tools=[add_decision],
)


def coordinator_prompt(state: Findings) -> str:
    findings = "\n".join(f"- {f}" for f in state.findings) or "- none"
    return f"{state.request}\n\nFindings so far:\n{findings}"


def build(*, model: Any = None, models: Mapping[str, Any] | None = None) -> CompiledGraph[Findings]:
    """Researcher, then coordinator. ``models`` overrides the model per node (``researcher``,
    ``coordinator``)."""
    per = dict(models or {})
    g = Graph(Findings, name="shared_context", model=model)
    g.add_agent("researcher", researcher, prompt="{request}", model=per.get("researcher"))
    g.add_agent(
        "coordinator",
        coordinator,
        prompt=coordinator_prompt,
        output="summary",
        model=per.get("coordinator"),
    )
    g.add_edge(START, "researcher").add_edge("researcher", "coordinator")
    g.add_edge("coordinator", END)
    return g.compile()


graph = build
