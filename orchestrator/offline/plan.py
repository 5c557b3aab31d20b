"""The result of one offline model call (`Plan`: output items, response id, token usage) and
builders for the Responses API items it holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents import Usage
from agents.items import TResponseOutputItem
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseUsage
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails


@dataclass
class Plan:
    """The output of one offline model call."""

    items: list[TResponseOutputItem]
    response_id: str
    input_tokens: int
    output_tokens: int

    def usage(self) -> Usage:
        return Usage(
            requests=1,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            total_tokens=self.input_tokens + self.output_tokens,
            input_tokens_details=_input_details(),
            output_tokens_details=_output_details(),
        )

    def response_usage(self) -> ResponseUsage:
        return ResponseUsage.model_validate(
            {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "total_tokens": self.input_tokens + self.output_tokens,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            }
        )


def _input_details() -> InputTokensDetails:
    # openai 3.x added required fields here; validating a dict tolerates either shape.
    return InputTokensDetails.model_validate({"cached_tokens": 0, "cache_write_tokens": 0})


def _output_details() -> OutputTokensDetails:
    return OutputTokensDetails.model_validate({"reasoning_tokens": 0})


def message_item(item_id: str, text: str) -> ResponseOutputMessage:
    """A completed assistant message holding ``text``."""
    return ResponseOutputMessage.model_validate(
        {
            "id": item_id,
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }
    )


def function_call_item(item_id: str, call_id: str, name: str, arguments: str) -> Any:
    """A completed call of tool ``name`` with JSON ``arguments``."""
    return ResponseFunctionToolCall.model_validate(
        {
            "id": item_id,
            "call_id": call_id,
            "type": "function_call",
            "name": name,
            "arguments": arguments,
            "status": "completed",
        }
    )
