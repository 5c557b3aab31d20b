"""Memory across runs with an SDK session: a code step loads the session's earlier items into
the conversation, the assistant answers with that history in view, and a code step saves the
new items back. Each run is a separate graph run (even in another process); the session
(``agents.SQLiteSession``, or any SDK session passed as ``deps``) is what remembers.
Use it for assistants that should recall what a user said in earlier conversations.

State: ``message`` (the user's new message), ``session_id`` and ``memory_db`` (which session,
in which SQLite file; ``deps={"session_id": ..., "db_path": ...}`` or ``deps=<Session>``
override them), ``messages`` (history plus this turn), ``remembered`` (items before it),
``answer``.
Example input: "My name is Ada and I prefer short answers."
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from agents import Agent, SQLiteSession
from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Context, Graph, extend


class Chat(BaseModel):
    message: str = ""
    session_id: str = "default"
    memory_db: str = "agent_memory.db"
    messages: Annotated[list[dict[str, Any]], extend] = []
    remembered: int = 0
    answer: str = ""


expert = Agent(
    name="Expert",
    instructions=(
        "You are an expert that learns from past conversations. Use what the user told you "
        "earlier (their name, preferences, open questions) when you answer."
    ),
)


def open_session(state: Chat, ctx: Context[Any]) -> tuple[Any, bool]:
    """The run's session, and whether this step opened it (and so must close it)."""
    deps = ctx.deps
    if hasattr(deps, "get_items") and hasattr(deps, "add_items"):
        return deps, False  # a session object the caller owns
    options: Mapping[str, Any] = deps if isinstance(deps, Mapping) else {}
    session_id = options.get("session_id", state.session_id)
    db_path = options.get("db_path", state.memory_db)
    return SQLiteSession(session_id, db_path), True


async def load_memory(state: Chat, ctx: Context[Any]) -> dict[str, Any]:
    """Put the session's items in front of this run's conversation."""
    session, owned = open_session(state, ctx)
    try:
        items = [dict(item) for item in await session.get_items()]
    finally:
        if owned:
            session.close()
    # Everything before this turn counts as remembered: only newer items are saved back.
    return {"messages": items, "remembered": len(state.messages) + len(items)}


async def save_memory(state: Chat, ctx: Context[Any]) -> None:
    """Append this run's new items (the user's message and the answer) to the session."""
    new = state.messages[state.remembered :]
    if not new:
        return
    session, owned = open_session(state, ctx)
    try:
        await session.add_items(new)
    finally:
        if owned:
            session.close()


def build(*, model: Any = None, models: Mapping[str, Any] | None = None) -> CompiledGraph[Chat]:
    """Load, answer, save. ``models`` overrides the model of the ``assistant`` node."""
    per = dict(models or {})
    g = Graph(Chat, name="memory", model=model)
    g.add_node("load_memory", load_memory)
    g.add_agent(
        "assistant",
        expert,
        prompt="{message}",
        messages="messages",
        output="answer",
        model=per.get("assistant"),
    )
    g.add_node("save_memory", save_memory)
    g.add_edge(START, "load_memory").add_edge("load_memory", "assistant")
    g.add_edge("assistant", "save_memory").add_edge("save_memory", END)
    return g.compile()


graph = build
