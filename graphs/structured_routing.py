"""Structured routing: a classifier agent returns a typed classification (an Enum
``department`` and a float ``confidence``) and the graph routes on the department field, so
the route targets are declared by the Enum and checked at compile time. A classification below
the confidence threshold is sent to the general agent, which asks before guessing. Use it when
code, not the model, should own the routing decision.

State: ``inquiry`` (the customer's message), ``classification`` (the classifier's output),
``department`` (where the inquiry goes after the confidence check), ``answer``.
Example input: "I was charged twice on my last invoice"
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from agents import Agent
from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Graph


class Department(StrEnum):
    BILLING = "billing"
    TECH = "tech"
    SALES = "sales"
    GENERAL = "general"


class Classification(BaseModel):
    department: Department
    confidence: float
    reasoning: str


class Inquiry(BaseModel):
    inquiry: str = ""
    classification: Classification | None = None
    department: Department = Department.GENERAL
    answer: str = ""


classifier = Agent(
    name="classifier",
    instructions=(
        "Classify the customer inquiry into the appropriate department: billing (payments, "
        "invoices, refunds), tech (errors, bugs, outages), sales (pricing, plans, upgrades) or "
        "general (anything else). Give your confidence from 0 to 1."
    ),
    output_type=Classification,
)

billing_agent = Agent(
    name="billing_specialist",
    instructions="You handle billing inquiries: balances, payments, invoices and refunds.",
)

tech_agent = Agent(
    name="tech_support",
    instructions="You handle technical issues: errors, integrations and troubleshooting.",
)

sales_agent = Agent(
    name="sales",
    instructions="You handle sales inquiries: pricing, plan comparisons, upgrades and demos.",
)

general_agent = Agent(
    name="general",
    instructions=(
        "You handle inquiries no department was sure about. Help directly if you can; "
        "otherwise ask one question that tells billing, technical and sales apart."
    ),
)

AGENTS = {
    Department.BILLING: billing_agent,
    Department.TECH: tech_agent,
    Department.SALES: sales_agent,
    Department.GENERAL: general_agent,
}


def build(
    *,
    model: Any = None,
    models: Mapping[str, Any] | None = None,
    min_confidence: float = 0.7,
) -> CompiledGraph[Inquiry]:
    """Classifier, confidence check, field route. ``models`` overrides the model per node
    (``classifier``, ``billing``, ``tech``, ``sales``, ``general``); classifications below
    ``min_confidence`` go to ``general``."""
    per = dict(models or {})

    def confidence_check(state: Inquiry) -> dict[str, Any]:
        """Trust the department only when the classifier was confident."""
        c = state.classification
        confident = c is not None and c.confidence >= min_confidence
        return {"department": c.department if c is not None and confident else Department.GENERAL}

    g = Graph(Inquiry, name="structured_routing", model=model)
    g.add_agent(
        "classifier",
        classifier,
        prompt="{inquiry}",
        output="classification",
        model=per.get("classifier"),
    )
    g.add_node("confidence_check", confidence_check)
    for department, agent in AGENTS.items():
        node = department.value  # the Enum values name the nodes
        g.add_agent(node, agent, prompt="{inquiry}", output="answer", model=per.get(node))
        g.add_edge(node, END)
    g.add_edge(START, "classifier").add_edge("classifier", "confidence_check")
    g.add_field_route("confidence_check", "department")
    return g.compile()


graph = build
