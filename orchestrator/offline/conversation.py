"""How the offline model reads its input items: the request, the handoffs and tools run this
turn, the drafts and revisions so far (`Conversation`), and the facts derived from them
(`CallContext`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from agents import TResponseInputItem
from agents.extensions.handoff_prompt import RECOMMENDED_PROMPT_PREFIX

from .text import OFFLINE_PREFIX, content_stems, join_words, keywords, truncate

# Handoffs turned into plain function tools (as the scheduler does) keep this SDK prefix.
HANDOFF_PREFIX = "transfer_to_"

_REVISION_RE = re.compile(r"\brevision (\d{1,2})\b", re.IGNORECASE)
# How the critiques (answers.py) and clarifying questions (decide.py) of this model open.
_NOT_DRAFTS = (OFFLINE_PREFIX + "Revision", OFFLINE_PREFIX + "Could")


def _to_jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(exclude_unset=True)
    return value


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            part = _to_jsonable(part)
            if isinstance(part, dict):
                text = part.get("text", part.get("refusal"))
                if isinstance(text, str):
                    parts.append(text)
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return ""


def _looks_like_json(text: str) -> bool:
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return False
    try:
        json.loads(stripped)
    except ValueError:
        return False
    return True


@dataclass
class Conversation:
    """What the heuristics need to know about the input items."""

    request: str = ""
    handoffs_in_turn: int = 0
    visited: set[str] = field(default_factory=set)
    tool_called_in_turn: bool = False
    newest_is_tool_output: bool = False
    tool_name: str | None = None
    tool_output: str | None = None
    drafts: int = 0
    max_revision: int = 0


def normalize_input(input: str | list[TResponseInputItem]) -> list[dict[str, Any]]:
    """The input as plain dict items; a string becomes one user message."""
    if isinstance(input, str):
        return [{"role": "user", "content": input}]
    items: list[dict[str, Any]] = []
    for raw in input:
        item = _to_jsonable(raw)
        if isinstance(item, dict):
            items.append(dict(item))
    return items


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    text = _text_of(output)
    return text or json.dumps(_to_jsonable(output), default=str, sort_keys=True)


def _is_handoff_output(output: str) -> bool:
    try:
        parsed = json.loads(output)
    except ValueError:
        return False
    return isinstance(parsed, dict) and set(parsed) == {"assistant"}


def analyse(items: list[dict[str, Any]], handoff_names: set[str]) -> Conversation:
    """The last user request, drafts and revisions so far, and the handoffs and tool calls since."""
    conv = Conversation()
    last_user = -1
    for index, item in enumerate(items):
        kind = item.get("type")
        role = item.get("role")
        if role is not None and kind in (None, "message"):
            text = _text_of(item.get("content"))
            for match in _REVISION_RE.findall(text):
                conv.max_revision = max(conv.max_revision, int(match))
            if role == "user":
                last_user = index
                conv.request = text
            elif role == "assistant" and text and not _looks_like_json(text):
                # Critiques and clarifying questions are not drafts of the work under review.
                conv.drafts += not text.startswith(_NOT_DRAFTS)

    calls: dict[str, str] = {}
    handoff_calls: set[str] = set()
    for item in items[last_user + 1 :]:
        kind = item.get("type")
        if kind == "function_call":
            name = str(item.get("name", ""))
            call_id = str(item.get("call_id", ""))
            calls[call_id] = name
            if name.startswith(HANDOFF_PREFIX) or name in handoff_names:
                handoff_calls.add(call_id)
                conv.visited.add(name)
        elif kind == "function_call_output":
            call_id = str(item.get("call_id", ""))
            output = _output_text(item.get("output"))
            if call_id not in handoff_calls and _is_handoff_output(output):
                handoff_calls.add(call_id)
            if call_id in handoff_calls:
                try:
                    parsed = json.loads(output)
                    if isinstance(parsed, dict) and isinstance(parsed.get("assistant"), str):
                        conv.visited.add(parsed["assistant"])
                except ValueError:
                    pass
            else:
                conv.tool_name = calls.get(call_id, "tool")
                conv.tool_output = output
    conv.handoffs_in_turn = len(handoff_calls)
    conv.tool_called_in_turn = any(cid not in handoff_calls for cid in calls)
    if items and items[-1].get("type") == "function_call_output":
        conv.newest_is_tool_output = str(items[-1].get("call_id", "")) not in handoff_calls
    return conv


class CallContext:
    """Per-call facts shared by the text and schema generators."""

    def __init__(self, instructions: str, conv: Conversation) -> None:
        self.instructions = instructions
        self.conv = conv
        self.request = conv.request
        self.stems = content_stems(conv.request)
        self.keywords = keywords(conv.request) or ["your request"]
        self.drafts_seen = max(conv.max_revision, conv.drafts, 1)
        # 5, 7, 9, 10: an evaluator loop over the offline model passes on its third draft.
        self.level = min(10, 3 + 2 * self.drafts_seen)

    @property
    def topic(self) -> str:
        return join_words(self.keywords[:3])

    def instructions_gist(self) -> str:
        text = self.instructions
        if text.startswith(RECOMMENDED_PROMPT_PREFIX):
            text = text[len(RECOMMENDED_PROMPT_PREFIX) :]
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and ln.strip()[0] != "#"]
        first = re.split(r"(?<=[.!?])\s", " ".join(lines), maxsplit=1)[0] if lines else ""
        # Quoting an "I don't know" rule would trip callers that treat it as a refusal.
        return "" if "know" in first.lower() else truncate(first.rstrip(".!?:"), 70)
