"""Triage with handoffs: a first-contact agent hands the customer to the one specialist that
fits (technical support, sales or order management), and that specialist answers with its
own function tools. Use it when specialist domains are clear and a specialist should take over
the conversation completely. The scheduler, not ``Runner``, follows each handoff.

State: ``request`` (the customer's message; or pass ``messages``), ``messages`` (the
conversation), ``answer`` (the specialist's final reply).
Example input: "Could you please provide an update on the delivery timeline for our recent
order?"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from agents import Agent, function_tool
from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Graph, extend


class Support(BaseModel):
    request: str = ""
    messages: Annotated[list[dict[str, Any]], extend] = []
    answer: str = ""


@function_tool
def search_knowledge_base(query: str) -> str:
    """Search the technical knowledge base for articles about a problem."""
    return f"KB-101 'Troubleshooting checklist' and KB-204 'Known outages' match {query!r}."


@function_tool
def initiate_purchase_order(product: str, quantity: int) -> str:
    """Start a purchase order for a product from the catalog."""
    return f"Purchase order PO-7 opened for {quantity} x {product}; a quote follows by email."


@function_tool
def track_order_status(order_id: str) -> str:
    """Look up the shipping status and delivery estimate of an order."""
    return f"Order {order_id} shipped yesterday and is due in 2 business days."


@function_tool
def initiate_refund_process(order_id: str, reason: str) -> str:
    """Open a refund for an order."""
    return f"Refund RF-3 opened for order {order_id} ({reason}); funds return in 5-7 days."


technical_support_agent = Agent(
    name="Technical Support Agent",
    handoff_description="Technical issues, errors, system outages and troubleshooting.",
    instructions=(
        "You provide expert assistance with resolving technical issues, "
        "system outages, or product troubleshooting."
    ),
    tools=[search_knowledge_base],
)

sales_assistant_agent = Agent(
    name="Sales Assistant Agent",
    handoff_description="Product catalog, pricing, licenses, recommendations and purchases.",
    instructions=(
        "You help enterprise clients browse the product catalog, recommend "
        "suitable solutions, and facilitate purchase transactions."
    ),
    tools=[initiate_purchase_order],
)

order_management_agent = Agent(
    name="Order Management Agent",
    handoff_description="Order tracking, delivery schedules, returns and refunds.",
    instructions=(
        "You assist clients with inquiries regarding order tracking, "
        "delivery schedules, and processing returns or refunds."
    ),
    tools=[track_order_status, initiate_refund_process],
)

triage_agent = Agent(
    name="Triage Agent",
    instructions=(
        "You act as the first point of contact, assessing customer "
        "queries and directing them promptly to the correct specialized agent."
    ),
    handoffs=[technical_support_agent, sales_assistant_agent, order_management_agent],
)

SPECIALISTS = {
    "technical_support": technical_support_agent,
    "sales": sales_assistant_agent,
    "order_management": order_management_agent,
}


def _request(state: Support) -> str | None:
    """The request as the opening user message (None when the input is a conversation)."""
    return state.request or None


def build(*, model: Any = None, models: Mapping[str, Any] | None = None) -> CompiledGraph[Support]:
    """The triage graph. ``model`` is every agent's default model; ``models`` overrides it per
    node (``triage``, ``technical_support``, ``sales``, ``order_management``)."""
    per = dict(models or {})
    g = Graph(Support, name="triage", model=model)
    g.add_agent("triage", triage_agent, prompt=_request, output="answer", model=per.get("triage"))
    for node, agent in SPECIALISTS.items():
        g.add_agent(node, agent, output="answer", model=per.get(node))
        g.add_edge(node, END)
    g.add_edge(START, "triage")
    g.add_edge("triage", END)  # the triage agent may answer a greeting itself
    return g.compile()


graph = build
