"""Error recovery: agent failures (``AgentsException``: ``ModelBehaviorError`` when the model's
structured output does not validate, ``MaxTurnsExceeded`` when a tool loop runs past its turn
budget, guardrail trips, transport errors) do not end the run: each agent node's ``on_error``
edge leads to a recovery step that reads ``ctx.error`` and answers the user gracefully. The
extraction step is retried once first, since malformed output is often a one-off.

State: ``request`` (the customer's message), ``order`` (the extracted order number and
question), ``answer`` (the reply, from the support agent or the recovery step), ``failure``
(what failed, when something did).
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

#: What the customer is told, by the kind of failure (the SDK exception's class name).
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


def recover(state: OrderHelp, ctx: Context[Any]) -> dict[str, Any]:
    """Answer gracefully from what failed. ``ctx.error`` names the node and the error; for an
    agent node the SDK exception's class name is in its message."""
    error = ctx.error
    assert error is not None, "recover is only reached through on_error edges"
    cause = next((name for name in REPLIES if name in error.message), error.error_type)
    return {
        "answer": REPLIES.get(cause, DEFAULT_REPLY),
        "failure": f"{error.node} failed after {error.attempts} attempt(s): {cause}",
    }


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
    """Extract, answer, recover. ``models`` overrides the model per node (``extract``,
    ``support``); ``max_turns`` is the support agent's turn budget; ``extract_retry`` replaces
    the extraction step's retry policy (default: two attempts)."""
    per = dict(models or {})
    g = Graph(OrderHelp, name="error_recovery", model=model)
    g.add_agent(
        "extract",
        extractor,
        prompt="{request}",
        output="order",
        retry=extract_retry or RetryPolicy(max_attempts=2, initial_delay=0.2),
        on_error="recover",
        model=per.get("extract"),
    )
    g.add_agent(
        "support",
        support_agent,
        prompt=support_prompt,
        output="answer",
        max_turns=max_turns,
        on_error="recover",  # no retry: running past the turn budget again would not help
        model=per.get("support"),
    )
    g.add_node("recover", recover)
    g.add_edge(START, "extract").add_edge("extract", "support").add_edge("support", END)
    g.add_edge("recover", END)
    return g.compile()


graph = build
