"""Guardrails: each stage is checked by SDK guardrails, and a tripwire leads through the node's
``on_error`` edge to a fix-up instead of a failed run. Drafting has an input guardrail that keeps
personal data (emails, card and phone numbers) from the model: a redaction step masks it and
drafting runs once more. Editing has an output guardrail against promises support may not make:
a safe template reply replaces it. Use it where inputs or outputs must meet hard rules.

State: ``request`` (the support case to answer), ``draft`` (the drafted reply), ``reply`` (the
final reply), ``notes`` (what the fix-up steps did).
Example input: "Customer jane.doe@example.com asks why her refund for order 1182 is late."
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from agents import (
    Agent,
    GuardrailFunctionOutput,
    RunContextWrapper,
    input_guardrail,
    output_guardrail,
)
from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Context, Graph, append

PERSONAL_DATA = {
    "email": re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),
    "card number": re.compile(r"\b(?:\d[ -]?){13,16}\b"),
    "phone number": re.compile(r"\+?\d[\d ()-]{7,}\d"),
}
PROMISES = re.compile(
    r"\b(guarantee[ds]?|we promise|full refund|compensat\w*|by tomorrow)\b", re.IGNORECASE
)
SAFE_REPLY = (
    "Thank you for your patience. We are looking into your case and will get back to you "
    "with an update as soon as we can."
)


class SupportReply(BaseModel):
    request: str = ""
    draft: str = ""
    reply: str = ""
    notes: Annotated[list[str], append] = []


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    parts = [str(item.get("content", "")) for item in value if isinstance(item, dict)]
    return "\n".join(parts)


def find_personal_data(text: str) -> list[str]:
    return [kind for kind, pattern in PERSONAL_DATA.items() if pattern.search(text)]


@input_guardrail(run_in_parallel=False)  # blocking: the model never sees the data
async def no_personal_data(
    ctx: RunContextWrapper[Any], agent: Agent[Any], data: Any
) -> GuardrailFunctionOutput:
    """Trip when the input holds personal data."""
    found = find_personal_data(_text(data))
    return GuardrailFunctionOutput(output_info={"found": found}, tripwire_triggered=bool(found))


@output_guardrail
async def no_unapproved_promises(
    ctx: RunContextWrapper[Any], agent: Agent[Any], output: Any
) -> GuardrailFunctionOutput:
    """Trip when the reply promises refunds, compensation or dates."""
    found = PROMISES.findall(str(output))
    return GuardrailFunctionOutput(output_info={"found": found}, tripwire_triggered=bool(found))


drafter = Agent(
    name="Support Writer",
    instructions="Write a reply to the customer's support case: friendly, specific and brief.",
    input_guardrails=[no_personal_data],
)

editor = Agent(
    name="Reply Editor",
    instructions=(
        "Edit the reply for tone and policy. Never promise refunds, compensation or delivery dates."
    ),
    output_guardrails=[no_unapproved_promises],
)


def redact(state: SupportReply, ctx: Context[Any]) -> dict[str, Any]:
    """Fix-up for the input guardrail: mask personal data, so drafting can run again."""
    text = state.request
    for kind, pattern in PERSONAL_DATA.items():
        text = pattern.sub(f"[{kind}]", text)
    message = ctx.error.message if ctx.error else ""
    tripped = "InputGuardrailTripwireTriggered" in message
    note = "input guardrail tripped" if tripped else f"drafting failed ({message})"
    return {"request": text, "notes": f"{note}; personal data redacted"}


def safe_reply(state: SupportReply, ctx: Context[Any]) -> dict[str, Any]:
    """Fix-up of last resort: a reply that needs no model and makes no promises."""
    where = ctx.error.node if ctx.error else "drafting"
    return {"reply": SAFE_REPLY, "notes": f"{where} did not pass; safe reply used"}


def build(
    *, model: Any = None, models: Mapping[str, Any] | None = None
) -> CompiledGraph[SupportReply]:
    """Drafting and editing under guardrails, with their fix-ups. ``models`` overrides the
    model per node (``drafting``, ``editing``)."""
    per = dict(models or {})
    g = Graph(SupportReply, name="guardrails", model=model)
    g.add_agent(
        "drafting",
        drafter,
        prompt="{request}",
        output="draft",
        on_error="redact",
        model=per.get("drafting"),
    )
    g.add_agent(
        "editing",
        editor,
        prompt="{draft}",
        output="reply",
        on_error="safe_reply",
        model=per.get("editing"),
    )
    g.add_node("redact", redact)
    g.add_node("safe_reply", safe_reply)
    g.add_edge(START, "drafting").add_edge("drafting", "editing").add_edge("editing", END)
    # One redacted retry; if drafting still fails, the safe reply stands in.
    g.add_edge("redact", "drafting", cap=1, exit="safe_reply")
    g.add_edge("safe_reply", END)
    return g.compile()


graph = build
