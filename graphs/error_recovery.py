"""Error recovery: agent failures (``AgentsException``: ``ModelBehaviorError`` when the model's
structured output does not validate, ``MaxTurnsExceeded`` when a tool loop runs past its turn
budget, guardrail trips, transport errors) do not end the run: each agent node's ``on_error``
edge leads to a step that reads ``ctx.error`` and says what went wrong, and a fallback agent
then answers the customer from that. Should the fallback agent fail too (the model service is
down), a fixed reply is the last resort. The extraction step is retried once first, since
malformed output is often a one-off.

State: ``request`` (the customer's message), ``order`` (the extracted order number and
question), ``answer`` (the reply: from the support agent, the fallback agent or the last
resort), ``failure`` (what failed, when something did), ``guidance`` (what the fallback agent
should tell the customer).
Example input: "Where is my order? It still hasn't arrived."
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents import Agent, function_tool
from pydantic import BaseModel, Field

from orchestrator import END, START, CompiledGraph, Context, Graph, RetryPolicy


class OrderQuery(BaseModel):
    order_id: str = Field(pattern=r"^ORD-\d{5}$", description="The order number, ORD-12345.")
    question: str = Field(description="What the customer wants to know about the order.")


class OrderHelp(BaseModel):
    request: str = ""
    order: OrderQuery | None = None
    answer: str = ""
    failure: str = ""
    guidance: str = ""


@function_tool
def track_order(order_id: str) -> str:
    """Look up where an order is and when it will arrive."""
    return f"{order_id}: handed to the courier on Monday, delivery expected Thursday."


extractor = Agent(
    name="Order Extractor",
    instructions=(
        "Extract the order number (format ORD-12345) and the customer's question about it. "
        "Only use an order number that appears in the message."
    ),
    output_type=OrderQuery,
)

support_agent = Agent(
    name="Order Support",
    instructions="Answer questions about an order. Use track_order to look it up first.",
    tools=[track_order],
)

fallback_agent = Agent(
    name="Customer Care",
    instructions=(
        "Something went wrong while helping a customer with an order. Write a short, friendly "
        "reply that follows the guidance you are given. Do not invent order details."
    ),
)

#: What the customer should be told, by the kind of failure (the SDK exception's class name).
REPLIES = {
    "ModelBehaviorError": (
        "I couldn't find a valid order number in your message. Could you send it in the form "
        "ORD-12345?"
    ),
    "MaxTurnsExceeded": (
        "Looking up your order is taking longer than expected. A colleague will follow up "
        "with you by email today."
    ),
    "InputGuardrailTripwireTriggered": "I'm sorry, I can't help with that request.",
    "OutputGuardrailTripwireTriggered": "I'm sorry, I can't help with that request.",
}
DEFAULT_REPLY = "Something went wrong on our side. Please try again in a few minutes."


def diagnose(state: OrderHelp, ctx: Context[Any]) -> dict[str, Any]:
    """What failed, and what the customer should be told. ``ctx.error`` names the node and the
    error; ``cause_type`` is the SDK exception's class for an agent node."""
    error = ctx.error
    assert error is not None, "diagnose is only reached through on_error edges"
    known = [name for name in (error.cause_type, error.error_type) if name in REPLIES]
    known += [name for name in REPLIES if name in error.message]
    cause = known[0] if known else (error.cause_type or error.error_type)
    return {
        "guidance": REPLIES.get(cause, DEFAULT_REPLY),
        "failure": f"{error.node} failed after {error.attempts} attempt(s): {cause}",
    }


def recovery_prompt(state: OrderHelp) -> str:
    return f"The customer wrote: {state.request}\nTell them: {state.guidance}"


def last_resort(state: OrderHelp) -> dict[str, Any]:
    """The fallback agent failed too: send the guidance as it is."""
    return {"answer": state.guidance or DEFAULT_REPLY}


def support_prompt(state: OrderHelp) -> str:
    assert state.order is not None
    return f"Order {state.order.order_id}: {state.order.question}"


def build(
    *,
    model: Any = None,
    models: Mapping[str, Any] | None = None,
    max_turns: int = 4,
    extract_retry: RetryPolicy | None = None,
) -> CompiledGraph[OrderHelp]:
    """Extract, answer; on a failure diagnose, then recover with the fallback agent (and a
    fixed reply when it fails too). ``models`` overrides the model per node (``extract``,
    ``support``, ``recover``); ``max_turns`` is the support agent's turn budget;
    ``extract_retry`` replaces the extraction step's retry policy (default: two attempts)."""
    per = dict(models or {})
    g = Graph(OrderHelp, name="error_recovery", model=model)
    g.add_agent(
        "extract",
        extractor,
        prompt="{request}",
        output="order",
        retry=extract_retry or RetryPolicy(max_attempts=2, initial_delay=0.2),
        on_error="diagnose",
        model=per.get("extract"),
    )
    g.add_agent(
        "support",
        support_agent,
        prompt=support_prompt,
        output="answer",
        max_turns=max_turns,
        on_error="diagnose",  # no retry: running past the turn budget again would not help
        model=per.get("support"),
    )
    g.add_node("diagnose", diagnose)
    g.add_agent(
        "recover",
        fallback_agent,
        prompt=recovery_prompt,
        output="answer",
        on_error="last_resort",
        model=per.get("recover"),
    )
    g.add_node("last_resort", last_resort)
    g.add_edge(START, "extract").add_edge("extract", "support").add_edge("support", END)
    g.add_edge("diagnose", "recover").add_edge("recover", END).add_edge("last_resort", END)
    return g.compile()


graph = build
