"""Replaying a `Plan` as the Responses API stream events a real model would emit."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from agents.items import TResponseStreamEvent
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)

from .plan import Plan


def _chunks(text: str) -> list[str]:
    pieces = re.findall(r"\S+\s*|\s+", text)
    # Group words so a long answer streams in a handful of deltas, not hundreds.
    size = max(1, len(pieces) // 8)
    return ["".join(pieces[i : i + size]) for i in range(0, len(pieces), size)] or [text]


def stream_events(plan: Plan, model_name: str) -> Iterable[TResponseStreamEvent]:
    """Created, in progress, per-item deltas, completed: the events of ``plan``, in order."""
    seq = 0

    def nxt() -> int:
        nonlocal seq
        seq += 1
        return seq - 1

    base: dict[str, Any] = {
        "id": plan.response_id,
        "created_at": 0,
        "model": model_name,
        "object": "response",
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
    }
    pending = Response.model_validate({**base, "output": [], "status": "in_progress"})
    yield ResponseCreatedEvent(type="response.created", response=pending, sequence_number=nxt())
    yield ResponseInProgressEvent(
        type="response.in_progress", response=pending, sequence_number=nxt()
    )
    for index, item in enumerate(plan.items):
        if isinstance(item, ResponseOutputMessage):
            yield ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=item.model_copy(update={"content": [], "status": "in_progress"}),
                output_index=index,
                sequence_number=nxt(),
            )
            for content_index, part in enumerate(item.content):
                if not isinstance(part, ResponseOutputText):
                    continue
                yield ResponseContentPartAddedEvent(
                    type="response.content_part.added",
                    item_id=item.id,
                    output_index=index,
                    content_index=content_index,
                    part=part.model_copy(update={"text": ""}),
                    sequence_number=nxt(),
                )
                for delta in _chunks(part.text):
                    yield ResponseTextDeltaEvent(
                        type="response.output_text.delta",
                        item_id=item.id,
                        output_index=index,
                        content_index=content_index,
                        delta=delta,
                        logprobs=[],
                        sequence_number=nxt(),
                    )
                yield ResponseTextDoneEvent(
                    type="response.output_text.done",
                    item_id=item.id,
                    output_index=index,
                    content_index=content_index,
                    text=part.text,
                    logprobs=[],
                    sequence_number=nxt(),
                )
                yield ResponseContentPartDoneEvent(
                    type="response.content_part.done",
                    item_id=item.id,
                    output_index=index,
                    content_index=content_index,
                    part=part,
                    sequence_number=nxt(),
                )
        elif isinstance(item, ResponseFunctionToolCall):
            item_id = item.id or item.call_id
            yield ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=item.model_copy(update={"arguments": "", "status": "in_progress"}),
                output_index=index,
                sequence_number=nxt(),
            )
            yield ResponseFunctionCallArgumentsDeltaEvent(
                type="response.function_call_arguments.delta",
                item_id=item_id,
                output_index=index,
                delta=item.arguments,
                sequence_number=nxt(),
            )
            # Older openai versions require "name" here; newer ones keep it as an extra.
            yield ResponseFunctionCallArgumentsDoneEvent.model_validate(
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": item_id,
                    "output_index": index,
                    "arguments": item.arguments,
                    "name": item.name,
                    "sequence_number": nxt(),
                }
            )
        yield ResponseOutputItemDoneEvent(
            type="response.output_item.done", item=item, output_index=index, sequence_number=nxt()
        )
    done = Response.model_validate(
        {**base, "output": [], "status": "completed", "usage": plan.response_usage()}
    )
    # Assigning after validation keeps the exact item objects that get_response would return.
    done.output = list(plan.items)
    yield ResponseCompletedEvent(type="response.completed", response=done, sequence_number=nxt())
