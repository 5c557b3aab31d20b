"""Fallback chain: try a primary agent, then a backup, then a general agent, moving on when an
agent fails (its node's ``on_error`` edge) or answers that it does not know (a conditional edge
on the answer text); if even the general agent cannot help, a code step apologises. Use it when
a precise but fragile source (a product database) should be tried before broader ones.

State: ``query`` (the user's question), ``answer`` (the reply of the agent that answered, or
the apology).
Run dependencies: ``deps={"product_docs": {keyword: text}}`` feeds the primary agent's tool;
without it the primary's tool fails and the chain moves on.
Example input: "How do I reset the password on my Acme router?"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents import Agent, RunContextWrapper, function_tool
from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Context, Graph

APOLOGY = "I'm sorry, I couldn't help with that request."
DONT_KNOW = ("i don't know", "i do not know", "i'm not sure", "i am not sure")

#: The backup's small, always-available FAQ.
FAQ = {
    "password": "Hold the reset button for 10 seconds; the default password is on the label.",
    "warranty": "Every device has a two-year warranty from the date of purchase.",
    "shipping": "Orders ship within two business days.",
}


class Question(BaseModel):
    query: str = ""
    answer: str = ""


@function_tool(failure_error_function=None)  # a failing lookup fails the agent, not the model
def search_product_docs(ctx: RunContextWrapper[Context[Any]], query: str) -> str:
    """Search the product documentation service for the query."""
    deps = ctx.context.deps
    docs = deps.get("product_docs") if isinstance(deps, Mapping) else None
    if docs is None:
        raise LookupError("the product documentation service is not configured (deps)")
    hits = [text for key, text in docs.items() if key.lower() in query.lower()]
    return "\n".join(hits) or "No documentation matches."


@function_tool
def search_faq(query: str) -> str:
    """Search the frequently asked questions."""
    hits = [text for key, text in FAQ.items() if key in query.lower()]
    return "\n".join(hits) or "No FAQ entry matches."


primary_agent = Agent(
    name="primary",
    instructions=(
        "You answer product questions from the product documentation. Always search it first. "
        "If it has no answer, reply exactly: I don't know."
    ),
    tools=[search_product_docs],
)

backup_agent = Agent(
    name="backup",
    instructions=(
        "You answer common questions from the FAQ. Search it first. "
        "If it has no answer, reply exactly: I don't know."
    ),
    tools=[search_faq],
)

general_agent = Agent(
    name="general",
    instructions=(
        "You are a general assistant. Answer as helpfully as you can from general knowledge; "
        "if you really cannot, reply exactly: I don't know."
    ),
)


def does_not_know(state: Question) -> bool:
    """The agent answered, but only to say it does not know."""
    text = state.answer.lower().replace("\u2019", "'")
    return not text.strip() or any(phrase in text for phrase in DONT_KNOW)


def knows(state: Question) -> bool:
    return not does_not_know(state)


def give_up(state: Question) -> dict[str, Any]:
    return {"answer": APOLOGY}


def build(*, model: Any = None, models: Mapping[str, Any] | None = None) -> CompiledGraph[Question]:
    """primary -> backup -> general -> give_up. ``models`` overrides the model per node
    (``primary``, ``backup``, ``general``)."""
    per = dict(models or {})
    chain = (("primary", primary_agent), ("backup", backup_agent), ("general", general_agent))
    g = Graph(Question, name="fallback", model=model)
    for index, (node, agent) in enumerate(chain):
        nxt = chain[index + 1][0] if index + 1 < len(chain) else "give_up"
        g.add_agent(
            node, agent, prompt="{query}", output="answer", on_error=nxt, model=per.get(node)
        )
        g.add_edge(node, END, when=knows)
        g.add_edge(node, nxt, when=does_not_know)
    g.add_node("give_up", give_up).add_edge("give_up", END)
    g.add_edge(START, "primary")
    return g.compile()


graph = build
