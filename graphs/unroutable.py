"""Unroutable requests: a triage agent routes to billing, technical or sales specialists and,
when no specialist fits, hands off to a fallback agent. As a safety net the graph also sends
the run to the fallback when the triage agent answers instead of routing, so a request never
ends without an owner. Use it whenever users can ask for things outside your specialists'
domains.

State: ``request`` (the customer's message; or pass ``messages``), ``messages`` (the
conversation), ``answer`` (the reply of whoever handled it).
Example input: "Can you recommend a good hiking trail near Denver?"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from agents import Agent
from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Graph, extend


class Request(BaseModel):
    request: str = ""
    messages: Annotated[list[dict[str, Any]], extend] = []
    answer: str = ""


billing_agent = Agent(
    name="billing_specialist",
    handoff_description="Billing, payments, invoices and refunds.",
    instructions="You handle billing inquiries: balances, payments, invoices and refunds.",
)

tech_agent = Agent(
    name="tech_support",
    handoff_description="Technical issues, errors, bugs and troubleshooting.",
    instructions="You handle technical issues: bugs, errors, integrations, troubleshooting.",
)

sales_agent = Agent(
    name="sales",
    handoff_description="Pricing, plans, upgrades and demos.",
    instructions="You handle sales inquiries: pricing, plans, upgrades and demos.",
)

fallback_agent = Agent(
    name="fallback",
    handoff_description="Anything that fits no other specialist.",
    instructions="""You handle requests that don't fit other categories.

    1. Try to help directly if possible
    2. If you can't help, apologize and offer to connect with a human
    3. Collect contact info for follow-up""",
)

triage = Agent(
    name="triage",
    instructions="""Route to specialists. If no specialist fits, use fallback.

    - billing_specialist: refunds, charges, invoices, payments
    - tech_support: errors, bugs, outages, things not working
    - sales: pricing, upgrades, plans, discounts
    - fallback: everything else""",
    handoffs=[billing_agent, tech_agent, sales_agent, fallback_agent],
)

SPECIALISTS = {"billing": billing_agent, "tech_support": tech_agent, "sales": sales_agent}


def _request(state: Request) -> str | None:
    return state.request or None


def build(*, model: Any = None, models: Mapping[str, Any] | None = None) -> CompiledGraph[Request]:
    """Triage, specialists and the fallback. ``models`` overrides the model per node
    (``triage``, ``billing``, ``tech_support``, ``sales``, ``fallback``)."""
    per = dict(models or {})
    g = Graph(Request, name="unroutable", model=model)
    g.add_agent("triage", triage, prompt=_request, model=per.get("triage"))
    for node, agent in SPECIALISTS.items():
        g.add_agent(node, agent, output="answer", model=per.get(node))
        g.add_edge(node, END)
    g.add_agent("fallback", fallback_agent, output="answer", model=per.get("fallback"))
    g.add_edge("fallback", END)
    g.add_edge(START, "triage")
    # A handoff replaces this edge; it is only taken when triage answered without routing.
    g.add_edge("triage", "fallback", label="not routed")
    return g.compile()


graph = build
