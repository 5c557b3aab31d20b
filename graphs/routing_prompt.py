"""Routing with a prompt written for handoffs: the router's instructions start with the SDK's
``RECOMMENDED_PROMPT_PREFIX`` and list each specialist with its keywords. When the request is
clear it hands off; when it is unclear the router asks one clarifying question and the run
ends with that question (no handoff), so the next turn can be routed with the answer.

State: ``request`` (the customer's message; or pass ``messages`` to continue a conversation),
``messages`` (the conversation), ``answer`` (the specialist's reply or the router's question).
Example input: "Hi, I need some help with my account."
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from agents import Agent
from agents.extensions.handoff_prompt import RECOMMENDED_PROMPT_PREFIX
from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Graph, extend

CLARIFYING_QUESTION = "Is this about billing, a technical issue, or purchasing?"


class Inquiry(BaseModel):
    request: str = ""
    messages: Annotated[list[dict[str, Any]], extend] = []
    answer: str = ""


billing_agent = Agent(
    name="billing_specialist",
    handoff_description="Billing, payments, invoices and refunds.",
    instructions="""You handle billing inquiries:
    - Account balances
    - Past payments
    - Invoice questions
    - Refund requests""",
)

tech_agent = Agent(
    name="tech_support",
    handoff_description="Technical issues, bugs, errors and troubleshooting.",
    instructions="""You handle technical issues:
    - Bugs and crashes
    - Feature questions
    - Integration help
    - Troubleshooting""",
)

sales_agent = Agent(
    name="sales",
    handoff_description="Pricing, plans, upgrades and demos.",
    instructions="""You handle sales inquiries:
    - Pricing questions
    - Plan comparisons
    - Upgrade requests
    - Demo scheduling""",
)

router = Agent(
    name="triage",
    instructions=f"""{RECOMMENDED_PROMPT_PREFIX}

You are a customer service triage agent.

Route based on keywords and intent:
- billing_specialist: "refund", "charge", "invoice", "payment"; questions about money
- tech_support: "error", "bug", "broken", "not working"; technical problems
- sales: "pricing", "upgrade", "plan", "discount"; purchase decisions

Guidelines:
1. Understand the customer's primary need
2. Route to the most appropriate specialist
3. If unclear, do not route: ask "{CLARIFYING_QUESTION}" and stop""",
    handoffs=[billing_agent, tech_agent, sales_agent],
)

SPECIALISTS = {"billing": billing_agent, "tech_support": tech_agent, "sales": sales_agent}


def _request(state: Inquiry) -> str | None:
    return state.request or None


def build(*, model: Any = None, models: Mapping[str, Any] | None = None) -> CompiledGraph[Inquiry]:
    """The router and its specialists. ``models`` overrides the model per node (``router``,
    ``billing``, ``tech_support``, ``sales``)."""
    per = dict(models or {})
    g = Graph(Inquiry, name="routing_prompt", model=model)
    g.add_agent("router", router, prompt=_request, output="answer", model=per.get("router"))
    for node, agent in SPECIALISTS.items():
        g.add_agent(node, agent, output="answer", model=per.get(node))
        g.add_edge(node, END)
    g.add_edge(START, "router")
    g.add_edge("router", END)  # an unclear request ends with the router's question
    return g.compile()


graph = build
