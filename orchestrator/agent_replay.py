"""Recorded replay of an agent node without the SDK's turn machinery.

Replay answers every model call from the recording, so what is left to execute is the graph's
own code: the agent's tools. This loop does exactly that — ask the (recording) model with the
same arguments ``Runner`` would pass, run the tools it calls, stop at a final answer, a
transition or the tool-use behaviour — and builds the conversation items with the SDK's own
``RunItem.to_input_item``, so the state it produces is the one the live run produced. It skips
the per-turn bookkeeping that makes a long agent loop O(n^2) in the SDK, which is what makes a
replay several times faster than the run it reproduces.

Agents with guardrails or hooks go through ``Runner`` instead (their code must run as it ran).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents import Agent, AgentOutputSchema, ModelSettings, RunConfig, RunContextWrapper, Usage
from agents.exceptions import MaxTurnsExceeded, ModelBehaviorError
from agents.items import (
    ItemHelpers,
    MessageOutputItem,
    RunItem,
    ToolCallItem,
    ToolCallOutputItem,
)
from agents.models.interface import ModelTracing
from agents.tool import FunctionTool, FunctionToolResult, Tool
from agents.tool_context import ToolContext
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage


def can_replay_fast(agent: Agent[Any]) -> bool:
    """Whether `replay_agent` reproduces this agent exactly (else use ``Runner``)."""
    return (
        not agent.input_guardrails
        and not agent.output_guardrails
        and agent.hooks is None
        and all(isinstance(t, FunctionTool) and not t.needs_approval for t in agent.tools)
    )


@dataclass(slots=True)
class ReplayedRun:
    """The parts of a ``RunResult`` an agent node reads."""

    items: list[Any]
    new_items: list[RunItem] = field(default_factory=list)
    final_output: Any = None

    def to_input_list(self) -> list[Any]:
        return [*self.items, *(item.to_input_item() for item in self.new_items)]


async def replay_agent(
    agent: Agent[Any], items: list[Any], context: Any, config: RunConfig, max_turns: int
) -> ReplayedRun:
    wrapper: RunContextWrapper[Any] = RunContextWrapper(context=context)
    tools: list[Tool] = [
        t for t in await agent.get_all_tools(wrapper) if isinstance(t, FunctionTool)
    ]
    by_name = {t.name: t for t in tools if isinstance(t, FunctionTool)}
    schema = None
    if agent.output_type is not None and agent.output_type is not str:
        schema = (
            agent.output_type
            if not isinstance(agent.output_type, type)
            else AgentOutputSchema(agent.output_type)
        )
    settings = agent.model_settings.resolve(config.model_settings or ModelSettings())
    model = agent.model
    assert model is not None and not isinstance(model, str)
    run = ReplayedRun(items=list(items))
    for _ in range(max_turns):
        system = await agent.get_system_prompt(wrapper)
        response = await model.get_response(
            system,
            run.to_input_list(),
            settings,
            tools,
            schema,
            [],
            ModelTracing.DISABLED,
            previous_response_id=None,
            conversation_id=None,
            prompt=None,
        )
        calls: list[ResponseFunctionToolCall] = []
        text = None
        for output in response.output:
            if isinstance(output, ResponseFunctionToolCall):
                calls.append(output)
                run.new_items.append(ToolCallItem(agent=agent, raw_item=output))
            elif isinstance(output, ResponseOutputMessage):
                item = MessageOutputItem(agent=agent, raw_item=output)
                run.new_items.append(item)
                text = ItemHelpers.text_message_output(item)
        if not calls:
            if text is None:
                raise ModelBehaviorError("the recorded response has neither text nor tool calls")
            run.final_output = schema.validate_json(text) if schema is not None else text
            return run
        results = []
        for call in calls:
            tool = by_name.get(call.name)
            if tool is None:
                raise ModelBehaviorError(
                    f"the recording calls tool {call.name!r}, which the "
                    f"agent {agent.name!r} no longer has"
                )
            tool_context: ToolContext[Any] = ToolContext(
                context=context,
                usage=Usage(),
                tool_name=call.name,
                tool_call_id=call.call_id,
                tool_arguments=call.arguments,
                tool_call=call,
                agent=agent,
                run_config=config,
            )
            value = await tool.on_invoke_tool(tool_context, call.arguments)
            output_item = ToolCallOutputItem(
                agent=agent,
                raw_item=ItemHelpers.tool_call_output_item(call, value),
                output=value,
            )
            run.new_items.append(output_item)
            results.append(FunctionToolResult(tool=tool, output=value, run_item=output_item))
        behaviour = agent.tool_use_behavior
        assert callable(behaviour)  # agent nodes always install a behaviour function
        decided = behaviour(wrapper, results)
        if hasattr(decided, "__await__"):
            decided = await decided
        if decided.is_final_output:
            run.final_output = decided.final_output
            return run
    raise MaxTurnsExceeded(f"Max turns ({max_turns}) exceeded")
