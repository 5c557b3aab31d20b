"""Helpers for the tests of the ready workflows in ``graphs/``: what a scripted model was asked,
answers computed from the request, and the edges a run took."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents.testing import ModelCall, ModelStep

from tests.support.scripted import say


def texts(call: ModelCall, role: str = "user") -> list[str]:
    """The texts of the messages with ``role`` in a model call's input."""
    items = [call.input] if isinstance(call.input, str) else call.input
    found: list[str] = []
    for item in items:
        if isinstance(item, str):
            found.append(item)
            continue
        if not isinstance(item, dict) or item.get("role") != role:
            continue
        content = item.get("content")
        if isinstance(content, str):
            found.append(content)
        elif isinstance(content, list):
            found.extend(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return found


def asked(call: ModelCall) -> str:
    """The last user message of a model call."""
    return texts(call)[-1]


def answer_with(fn: Callable[[ModelCall], str]) -> ModelStep:
    """A scripted turn whose text is computed from the call (for parallel branches)."""
    return ModelStep.respond(lambda call: say(fn(call)))


def taken(result: Any) -> list[tuple[str, str, str]]:
    """The edges a run took: (source, target, kind)."""
    return [
        (e.source, e.target, str(e.kind)) for e in result.events if type(e).__name__ == "EdgeTaken"
    ]
