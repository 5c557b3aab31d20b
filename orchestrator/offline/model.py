"""`OfflineModel` and `OfflineProvider`: the Agents SDK ``Model`` interface over the offline
rules, with a response id and token usage fingerprinted from the input."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agents import (
    AgentOutputSchemaBase,
    Handoff,
    Model,
    ModelProvider,
    ModelResponse,
    ModelSettings,
    ModelTracing,
    Tool,
    TResponseInputItem,
)
from agents.items import TResponseStreamEvent
from openai.types.responses.response_prompt_param import ResponsePromptParam

from ..transport import reached_model
from .conversation import CallContext, analyse, normalize_input
from .decide import decide, find_candidates
from .plan import Plan
from .stream import stream_events


class OfflineModel(Model):
    """A deterministic, network-free ``Model``: same input, byte-identical output.

    Rules, in order: after a tool result answer (one tool round per user turn); route to the
    best keyword-matching handoff (or ask a clarifying question when told to and none fits);
    call the best-matching function tool; fill the output schema; else answer in plain text.
    """

    def __init__(self, model_name: str | None = None) -> None:
        self.model_name = model_name or "offline"

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        reached_model()
        plan = self._plan(
            system_instructions, input, model_settings, tools, output_schema, handoffs
        )
        return ModelResponse(output=plan.items, usage=plan.usage(), response_id=plan.response_id)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        reached_model()
        plan = self._plan(
            system_instructions, input, model_settings, tools, output_schema, handoffs
        )
        for event in stream_events(plan, self.model_name):
            yield event
            # Yield to the loop so consumers see events arrive incrementally.
            await asyncio.sleep(0)

    def _plan(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: Sequence[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: Sequence[Handoff[Any, Any]],
    ) -> Plan:
        instructions = system_instructions or ""
        items = normalize_input(input)
        candidates = find_candidates(tools, handoffs)
        conv = analyse(items, {c.tool_name for c in candidates})
        ctx = CallContext(instructions, conv)
        fingerprint = json.dumps(
            [
                instructions,
                items,
                sorted(getattr(t, "name", type(t).__name__) for t in tools),
                [c.tool_name for c in candidates],
                None if output_schema is None else output_schema.name(),
            ],
            sort_keys=True,
            default=str,
            ensure_ascii=False,
        )
        digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:24]
        output = decide(ctx, model_settings, tools, output_schema, candidates, digest)
        produced = json.dumps([o.model_dump(exclude_none=True) for o in output], default=str)
        return Plan(
            items=output,
            response_id=f"resp_offline_{digest}",
            # Roughly four characters per token keeps usage plausible and input-determined.
            input_tokens=max(1, (len(fingerprint) + 3) // 4),
            output_tokens=max(1, (len(produced) + 3) // 4),
        )


class OfflineProvider(ModelProvider):
    """Maps every model name to an ``OfflineModel``; use as ``RunConfig(model_provider=...)``."""

    def __init__(self, default_model_name: str = "offline") -> None:
        self.default_model_name = default_model_name
        self.models: dict[str, OfflineModel] = {}

    def get_model(self, model_name: str | None) -> Model:
        name = model_name or self.default_model_name
        if name not in self.models:
            self.models[name] = OfflineModel(name)
        return self.models[name]
