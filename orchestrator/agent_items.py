"""What an agent node reports of its conversation as it goes: each message, tool call, tool
output and handoff as an `AgentItem` event (from the SDK's run items, or from items in their
input form when the run stopped before giving any back)."""

from __future__ import annotations

import json
from typing import Any

from agents.items import (
    HandoffCallItem,
    HandoffOutputItem,
    ItemHelpers,
    MessageOutputItem,
    ReasoningItem,
    RunItem,
    ToolCallItem,
    ToolCallOutputItem,
)

from .context import Context
from .events import AgentItem


def report_items(
    ctx: Context[Any], node: str, agent: str, transition_tools: set[str], items: list[RunItem]
) -> None:
    """Emit an `AgentItem` for each reportable SDK run item (``agent``: when it names none)."""
    for item in items:
        kind, content, name = describe(item, transition_tools)
        if kind:
            by = getattr(item.agent, "name", agent)
            ctx.emit(AgentItem(ctx.run_id, ctx.step, node, ctx.task_id, by, kind, content, name))


def report_inputs(
    ctx: Context[Any], node: str, agent: str, transition_tools: set[str], items: list[Any]
) -> None:
    """`report_items` for conversation items in their input form (dicts)."""
    for item in items:
        kind, content, name = describe_input(item, transition_tools)
        if kind:
            ctx.emit(AgentItem(ctx.run_id, ctx.step, node, ctx.task_id, agent, kind, content, name))


def describe(item: RunItem, transition_tools: set[str]) -> tuple[str, str, str | None]:
    if isinstance(item, MessageOutputItem):
        return "message", ItemHelpers.text_message_output(item), None
    if isinstance(item, ToolCallItem):
        raw = item.raw_item
        name = getattr(raw, "name", None) or (raw.get("name") if isinstance(raw, dict) else None)
        args = getattr(raw, "arguments", None) or (
            raw.get("arguments") if isinstance(raw, dict) else ""
        )
        kind = "handoff" if name in transition_tools else "tool_call"
        return kind, str(args or ""), name
    if isinstance(item, ToolCallOutputItem):
        return "tool_output", as_text(item.output), None
    if isinstance(item, HandoffCallItem):
        return "handoff", item.raw_item.arguments, item.raw_item.name
    if isinstance(item, HandoffOutputItem):
        return "", "", None
    if isinstance(item, ReasoningItem):
        return "reasoning", "", None
    return "", "", None


def describe_input(item: Any, transition_tools: set[str]) -> tuple[str, str, str | None]:
    """`describe` for a conversation item in its input form (a dict)."""
    if not isinstance(item, dict):
        return "", "", None
    kind = item.get("type")
    if kind == "function_call":
        name = item.get("name")
        return (
            ("handoff" if name in transition_tools else "tool_call"),
            item.get("arguments", ""),
            name,
        )
    if kind == "function_call_output":
        return "tool_output", as_text(item.get("output")), None
    if kind == "reasoning":
        return "reasoning", "", None
    if item.get("role") == "assistant" and kind in (None, "message"):
        content = item.get("content")
        if isinstance(content, list):
            content = "".join(
                str(part.get("text", "")) for part in content if isinstance(part, dict)
            )
        return "message", str(content or ""), None
    return "", "", None


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if hasattr(value, "model_dump_json"):
        return str(value.model_dump_json())
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)
