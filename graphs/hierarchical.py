"""Hierarchical delegation: handoffs two levels deep. The triage agent hands billing matters to
the billing specialist, which delegates further to a refund processor or a payment
investigator. Use it when a domain has sub-specialists and each level should only know the
level below it; every handoff is a graph edge the scheduler follows, counts and draws.

State: ``request`` (the customer's message; or pass ``messages``), ``messages`` (the
conversation), ``answer`` (the final reply, from whichever agent ended the run).
Example input: "I was charged twice for my last order and would like a refund."
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from agents import Agent, function_tool
from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Graph, extend


class Billing(BaseModel):
    request: str = ""
    messages: Annotated[list[dict[str, Any]], extend] = []
    answer: str = ""


@function_tool
def initiate_refund(order_id: str, reason: str) -> str:
    """Check refund eligibility (30-day policy) and start the refund of an order."""
    return f"Order {order_id} is within the 30-day window; refund RF-12 started ({reason})."


@function_tool
def look_up_payment(payment_id: str) -> str:
    """Look up a payment: its status, amount and any dispute or failure reason."""
    return f"Payment {payment_id}: declined by the card issuer (insufficient funds), not charged."


# Level 2 specialists
refund_processor = Agent(
    name="refund_processor",
    handoff_description="Processes refund requests: eligibility and refund initiation.",
    instructions="Process refund requests. Verify eligibility and initiate refund.",
    tools=[initiate_refund],
)

payment_investigator = Agent(
    name="payment_investigator",
    handoff_description="Investigates failed, declined or disputed payments and charges.",
    instructions="Investigate failed or disputed payments.",
    tools=[look_up_payment],
)

# Level 1 specialist (can delegate further)
billing_agent = Agent(
    name="billing_specialist",
    handoff_description="All billing matters: invoices, charges, payments and refunds.",
    instructions="""Handle billing inquiries.
    - For refunds, delegate to refund_processor
    - For payment issues, delegate to payment_investigator""",
    handoffs=[refund_processor, payment_investigator],
)

# Entry point
triage = Agent(
    name="triage",
    instructions="Route to billing_specialist for any billing matters.",
    handoffs=[billing_agent],
)


def _request(state: Billing) -> str | None:
    return state.request or None


def build(*, model: Any = None, models: Mapping[str, Any] | None = None) -> CompiledGraph[Billing]:
    """The delegation tree as a graph. ``models`` overrides the model per node (``triage``,
    ``billing``, ``refund_processor``, ``payment_investigator``)."""
    per = dict(models or {})
    g = Graph(Billing, name="hierarchical", model=model)
    g.add_agent("triage", triage, prompt=_request, output="answer", model=per.get("triage"))
    g.add_agent("billing", billing_agent, output="answer", model=per.get("billing"))
    for node, agent in (
        ("refund_processor", refund_processor),
        ("payment_investigator", payment_investigator),
    ):
        g.add_agent(node, agent, output="answer", model=per.get(node))
    g.add_edge(START, "triage")
    # Any level may answer itself (a greeting, a billing question it can settle) and end.
    for node in ("triage", "billing", "refund_processor", "payment_investigator"):
        g.add_edge(node, END)
    return g.compile()


graph = build
