"""The command line's live view of a run: one line per step, node, handoff, retry and pause,
and an agent's streamed text as it arrives. Written to stderr, so stdout keeps the result."""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

from rich.console import Console

from .events import (
    AgentDelta,
    AgentItem,
    EdgeTaken,
    Event,
    Interrupted,
    NodeCached,
    NodeFailed,
    NodeFinished,
    NodeRetried,
    StepStarted,
)


class Progress:
    """Prints a run's events as they come: ``with Progress() as p: p.show(event)``."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self._streaming: tuple[int, str] | None = None  # the task and agent streaming now
        self._cached: set[int] = set()  # tasks answered from their node's cache

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._end_stream()

    def _line(self, text: str, style: str = "") -> None:
        self._end_stream()
        self.console.print(text, style=style, markup=False)

    def _end_stream(self) -> None:
        if self._streaming is not None:
            self.console.print()
            self._streaming = None

    def show(self, event: Event) -> None:
        if isinstance(event, StepStarted):
            self._line(f"step {event.step}: {', '.join(event.tasks)}", "dim")
        elif isinstance(event, NodeCached):
            self._cached.add(event.task_id)
        elif isinstance(event, NodeFinished):
            fields = ", ".join(event.update) or "no change"
            if event.task_id in self._cached:
                self._cached.discard(event.task_id)
                self._line(f"  ✓ {event.node} (cached, not run): {fields}", "green")
            else:
                took = f"{event.duration * 1000:.0f} ms"
                self._line(f"  ✓ {event.node} ({took}): {fields}", "green")
        elif isinstance(event, NodeFailed):
            then = " -> on_error" if event.handled else ""
            self._line(f"  ✗ {event.node}: {event.error_type}: {_cut(event.error)}{then}", "red")
        elif isinstance(event, NodeRetried):
            self._line(
                f"  ↻ {event.node} attempt {event.attempt} failed ({_cut(event.error)}); "
                f"retrying in {event.delay:g} s",
                "yellow",
            )
        elif isinstance(event, EdgeTaken) and event.kind in ("handoff", "cap_exit", "error"):
            self._line(f"  ⇢ {event.kind} {event.source} -> {event.target}", "cyan")
        elif isinstance(event, AgentItem) and event.kind == "tool_call":
            self._line(f"  ⚙ {event.agent} calls {event.name}({_cut(event.content, 80)})", "dim")
        elif isinstance(event, AgentDelta):
            # Parallel agents stream at once: each switch of task starts a new labelled line.
            key = (event.task_id, event.agent)
            if self._streaming != key:
                self._end_stream()
                self.console.print(f"  [{event.node}] {event.agent}: ", end="", markup=False)
                self._streaming = key
            self.console.print(event.text, end="", markup=False, soft_wrap=True)
        elif isinstance(event, Interrupted):
            # In full: a person reads what they are asked to approve.
            request = event.request if isinstance(event.request, str) else _json(event.request)
            self._line(f"  ⏸ {event.node} waits: {request}", "yellow")


def _json(value: Any) -> str:
    import json

    return json.dumps(value, default=str, ensure_ascii=False, indent=2)


def _cut(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
