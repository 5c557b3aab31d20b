"""How an agent node stands in for ``Runner.run``: the SDK's run keywords per run and per node,
and what ``Runner`` would do across a handoff that the scheduler now follows.

A node runs a clone of its agent (handoffs as transition tools, see `orchestrator.agent`), so
this module puts back what a native handoff does and a stand-in must not: hooks see the user's
agents, ``on_handoff`` hooks fire and the stand-in's tool and end hooks do not; only the first
handoff of a turn is taken; output guardrails skip the stand-in output; the next node gets the
chain's remaining turns, skips input guardrails (only the starting agent's run) and reads what
the handoff's ``input_filter`` left. `NodeRunner` makes a ``Runner.run`` called inside a tool
of the node use the node's model provider and recording.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from agents import (
    Agent,
    AgentHooks,
    FunctionTool,
    GuardrailFunctionOutput,
    Handoff,
    HandoffInputData,
    Model,
    ModelProvider,
    MultiProvider,
    OutputGuardrail,
    RunConfig,
    RunContextWrapper,
    RunHooks,
    UserError,
)
from agents.agent import ToolsToFinalOutputResult
from agents.items import (
    HandoffCallItem,
    HandoffOutputItem,
    RunItem,
    ToolCallItem,
    ToolCallOutputItem,
)
from agents.run import AgentRunner, get_default_agent_runner, set_default_agent_runner
from agents.tool import FunctionToolResult
from agents.tool_context import ToolContext
from pydantic import BaseModel

from .agent_pause import pausable
from .context import run_setting
from .models import Recorder, RecordingModel, RecordingProvider

#: ``Runner.run``'s keywords an agent node takes per node and per run (besides ``input``).
RUNNER_KEYWORDS = (
    "context",
    "run_config",
    "hooks",
    "max_turns",
    "session",
    "previous_response_id",
    "conversation_id",
)

#: What the SDK answers a second handoff call of one model turn.
MULTIPLE_HANDOFFS = "Multiple handoffs detected, ignoring this one."

_DEFAULT_WORKFLOW = RunConfig().workflow_name


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerOptions:
    """``Runner.run``'s keywords for one agent node (None: not given).

    A node's own value wins over the run's (``graph.run(..., session=...)``), except
    ``max_turns``: the run's, when given, replaces the node's (``add_agent`` always passes one).
    """

    context: Any = None
    run_config: Any = None
    hooks: Any = None
    max_turns: int | None = None
    session: Any = None
    previous_response_id: str | None = None
    conversation_id: str | None = None

    def resolved(self) -> RunnerOptions:
        """These options with the run's settings filling what the node does not set."""
        values = {name: getattr(self, name) for name in RUNNER_KEYWORDS}
        for name in RUNNER_KEYWORDS:
            run_value = run_setting(name)
            if run_value is not None and (values[name] is None or name == "max_turns"):
                values[name] = run_value
        if isinstance(values["run_config"], dict):
            values["run_config"] = RunConfig(**values["run_config"])
        return RunnerOptions(**values)

    @property
    def server_managed(self) -> bool:
        return self.previous_response_id is not None or self.conversation_id is not None


class HandoffArrival(BaseModel):
    """The payload of a handoff edge: what the next agent node needs to go on as ``Runner``
    would after the handoff (kept in the checkpoint, so a resumed run goes on the same way)."""

    source: str  # the node that handed off
    agent: str  # its agent
    turns: int  # model turns used so far by the handoff chain
    max_turns: int | None  # the chain's budget (its first node's max_turns)
    input: list[dict[str, Any]] | None = None  # what the handoff's input_filter left
    session: str | None = None  # the session id the source ran with
    response_id: str | None = None  # the source's last response (server-managed conversations)
    pending: list[dict[str, Any]] | None = None  # items after that response (same)


@dataclass(frozen=True, slots=True)
class Transition:
    target_agent: Any
    node: str
    tool_name: str
    call_id: str | None


@dataclass(slots=True, eq=False)
class Execution:
    """One execution of an agent node: the user's agent and its clone, what happened."""

    original: Agent[Any]
    transition_tools: frozenset[str]
    hooks: Any = None  # the user's RunHooks
    clone: Agent[Any] | None = None
    transitions: list[Transition] = field(default_factory=list)
    first_handoff: str | None = None  # call id of the latest response's first handoff call
    turns: int = 0  # responses of the node's own agent (the SDK's turns), saved ones included
    #: Where the agent's run is, for a pause or a failure: the input of its first and latest
    #: request, the latest response (None while a request is out) and, by call id, the
    #: outputs of the tool calls that finished.
    started_with: int | None = None
    last_input: list[Any] | None = None
    last_response: Any = None
    outputs: dict[str, Any] = field(default_factory=dict)
    running: dict[str, asyncio.Future[None]] = field(default_factory=dict)  # calls under way
    #: The pause this execution goes on from (its request: the saved run state), if any.
    resumed: dict[str, Any] | None = None
    #: Tool calls that failed ("tool 'name' raised Error: message"; the model was told).
    tool_errors: list[str] = field(default_factory=list)

    def agent(self, agent: Any) -> Any:
        """The user's agent for the clone (what hooks and guardrails expect to see)."""
        return self.original if agent is self.clone else agent

    def saw_request(self, items: list[Any]) -> None:
        if self.started_with is None:
            self.started_with = len(items)
        self.last_input, self.last_response = items, None

    def saw_response(self, response: Any) -> None:
        self.turns += 1
        self.last_response = response
        self.first_handoff = next(
            (
                getattr(item, "call_id", None)
                for item in response.output
                if getattr(item, "type", None) == "function_call"
                and getattr(item, "name", None) in self.transition_tools
            ),
            None,
        )

    def items_so_far(self) -> list[Any]:
        """The conversation items this execution made before it stopped (a failure or a
        timeout), as input items: what its latest request added, and the latest response."""
        if self.last_input is None:
            return []
        items = list(self.last_input[self.started_with or 0 :])
        if self.last_response is not None:
            items.extend(
                item.model_dump(mode="json", exclude_unset=True)
                for item in self.last_response.output
            )
        return items


# --- the clone's parts -----------------------------------------------------------------------


def transition_tool(
    spec: Handoff[Any, Any], node: str, tool_name: str, ex: Execution
) -> FunctionTool:
    """A function tool that looks exactly like the handoff to the model and, when called, runs
    the handoff's own ``on_invoke_handoff`` and the ``on_handoff`` hooks, as ``Runner`` would."""

    # Annotated ToolContext: the SDK then passes one (with the call id), not a plain wrapper.
    async def invoke(ctx: ToolContext[Any], arguments: str) -> str:
        call_id = ctx.tool_call_id
        if ex.transitions or (ex.first_handoff is not None and call_id != ex.first_handoff):
            return MULTIPLE_HANDOFFS  # the SDK takes the first handoff of a turn only
        ex.transitions.append(Transition(None, node, tool_name, call_id))  # claimed
        try:
            target = await spec.on_invoke_handoff(ctx, arguments)
        except BaseException:
            ex.transitions.clear()
            raise
        ex.transitions[0] = Transition(target, node, tool_name, call_id)
        source = ex.original
        calls = []
        if ex.hooks is not None:
            calls.append(ex.hooks.on_handoff(context=ctx, from_agent=source, to_agent=target))
        if source.hooks is not None:
            calls.append(source.hooks.on_handoff(ctx, agent=target, source=source))
        if calls:
            await asyncio.gather(*calls)
        return spec.get_transfer_message(target)

    return FunctionTool(
        name=spec.tool_name,
        description=spec.tool_description,
        params_json_schema=spec.input_json_schema,
        on_invoke_tool=invoke,
        strict_json_schema=spec.strict_json_schema,
        is_enabled=spec.is_enabled,
    )


def stop_on_transition(original: Any, ex: Execution) -> Any:
    """A tool_use_behavior that ends the run at a transition, else defers to the agent's own."""

    async def behaviour(
        ctx: RunContextWrapper[Any], results: list[FunctionToolResult]
    ) -> ToolsToFinalOutputResult:
        if ex.transitions:
            return ToolsToFinalOutputResult(
                is_final_output=True, final_output=ex.transitions[0].target_agent.name
            )
        if original == "stop_on_first_tool" and results:
            return ToolsToFinalOutputResult(is_final_output=True, final_output=results[0].output)
        if isinstance(original, dict):  # StopAtTools
            names = original["stop_at_tool_names"]
            for result in results:
                if result.tool.name in names:
                    return ToolsToFinalOutputResult(
                        is_final_output=True, final_output=result.output
                    )
            return ToolsToFinalOutputResult(is_final_output=False)
        if callable(original):
            out = original(ctx, results)
            if inspect.isawaitable(out):
                out = await out
            assert isinstance(out, ToolsToFinalOutputResult)
            return out
        return ToolsToFinalOutputResult(is_final_output=False)

    return behaviour


def unless_handed_off(guardrail: OutputGuardrail[Any], ex: Execution) -> OutputGuardrail[Any]:
    """An output guardrail that does not look at a handoff's stand-in output (the SDK runs
    output guardrails on final outputs only, and a handoff is none)."""
    check = guardrail.guardrail_function

    async def guarded(context: RunContextWrapper[Any], agent: Any, output: Any) -> Any:
        if ex.transitions:
            return GuardrailFunctionOutput(output_info=None, tripwire_triggered=False)
        result = check(context, ex.agent(agent), output)
        return await result if inspect.isawaitable(result) else result

    return dataclasses.replace(guardrail, guardrail_function=guarded, name=guardrail.get_name())


class NodeRunHooks(RunHooks[Any]):
    """The user's RunHooks as ``Runner`` would call them: with the user's agent, without the
    stand-in's tool calls and end (``on_handoff`` is called by the transition tool)."""

    def __init__(self, inner: Any, ex: Execution) -> None:
        self.inner, self.ex = inner, ex

    async def on_llm_start(
        self, context: Any, agent: Any, system_prompt: Any, input_items: Any
    ) -> None:
        await self.inner.on_llm_start(
            context=context,
            agent=self.ex.agent(agent),
            system_prompt=system_prompt,
            input_items=input_items,
        )

    async def on_llm_end(self, context: Any, agent: Any, response: Any) -> None:
        await self.inner.on_llm_end(context=context, agent=self.ex.agent(agent), response=response)

    async def on_agent_start(self, context: Any, agent: Any) -> None:
        await self.inner.on_agent_start(context=context, agent=self.ex.agent(agent))

    async def on_agent_end(self, context: Any, agent: Any, output: Any) -> None:
        if not self.ex.transitions:
            await self.inner.on_agent_end(
                context=context, agent=self.ex.agent(agent), output=output
            )

    async def on_handoff(self, context: Any, from_agent: Any, to_agent: Any) -> None:
        await self.inner.on_handoff(context=context, from_agent=from_agent, to_agent=to_agent)

    async def on_tool_start(self, context: Any, agent: Any, tool: Any) -> None:
        if getattr(tool, "name", None) not in self.ex.transition_tools:
            await self.inner.on_tool_start(context=context, agent=self.ex.agent(agent), tool=tool)

    async def on_tool_end(self, context: Any, agent: Any, tool: Any, result: Any) -> None:
        if getattr(tool, "name", None) not in self.ex.transition_tools:
            await self.inner.on_tool_end(
                context=context, agent=self.ex.agent(agent), tool=tool, result=result
            )


class NodeAgentHooks(AgentHooks[Any]):
    """The agent's own AgentHooks, filtered like `NodeRunHooks`."""

    def __init__(self, inner: Any, ex: Execution) -> None:
        self.inner, self.ex = inner, ex

    async def on_start(self, context: Any, agent: Any) -> None:
        await self.inner.on_start(context, self.ex.agent(agent))

    async def on_end(self, context: Any, agent: Any, output: Any) -> None:
        if not self.ex.transitions:
            await self.inner.on_end(context, self.ex.agent(agent), output)

    async def on_handoff(self, context: Any, agent: Any, source: Any) -> None:
        await self.inner.on_handoff(context, agent=agent, source=source)

    async def on_tool_start(self, context: Any, agent: Any, tool: Any) -> None:
        if getattr(tool, "name", None) not in self.ex.transition_tools:
            await self.inner.on_tool_start(context, self.ex.agent(agent), tool)

    async def on_tool_end(self, context: Any, agent: Any, tool: Any, result: Any) -> None:
        if getattr(tool, "name", None) not in self.ex.transition_tools:
            await self.inner.on_tool_end(context, self.ex.agent(agent), tool, result)

    async def on_llm_start(
        self, context: Any, agent: Any, system_prompt: Any, input_items: Any
    ) -> None:
        await self.inner.on_llm_start(context, self.ex.agent(agent), system_prompt, input_items)

    async def on_llm_end(self, context: Any, agent: Any, response: Any) -> None:
        await self.inner.on_llm_end(context, self.ex.agent(agent), response)


def node_run_config(
    user: RunConfig | None,
    provider: ModelProvider,
    *,
    ex: Execution,
    handed_off: bool,
    workflow: str,
    node: str,
    run_id: str,
) -> RunConfig:
    """The user's RunConfig (or the default) as the node runs it: models through ``provider``
    (recording), the run's trace grouping, input guardrails only for the chain's first agent,
    output guardrails never on a handoff's stand-in."""
    base = user if user is not None else RunConfig()
    return dataclasses.replace(
        base,
        model=None,  # resolved into the clone's recorded model
        model_provider=provider,
        workflow_name=workflow if base.workflow_name == _DEFAULT_WORKFLOW else base.workflow_name,
        group_id=base.group_id or run_id,
        trace_metadata={"node": node, "run_id": run_id, **(base.trace_metadata or {})},
        input_guardrails=None if handed_off else base.input_guardrails,
        output_guardrails=[unless_handed_off(g, ex) for g in base.output_guardrails or ()] or None,
    )


def user_provider(user: RunConfig | None) -> ModelProvider | None:
    """The provider the user's RunConfig names, unless it is the SDK's default one."""
    if user is None or type(user.model_provider) is MultiProvider:
        return None
    return user.model_provider


# --- after a handoff ---------------------------------------------------------------------------


def _last_turn_start(result: Any) -> int:
    """Index in ``result.new_items`` of the first item of the last model turn."""
    responses = getattr(result, "raw_responses", None) or []
    if not responses:
        return 0
    last = responses[-1].output
    ids = {id(o) for o in last}
    call_ids = {getattr(o, "call_id", None) for o in last} - {None}
    for index, item in enumerate(result.new_items):
        raw = item.raw_item
        if id(raw) in ids or (
            isinstance(item, ToolCallItem) and getattr(raw, "call_id", None) in call_ids
        ):
            return index
    return 0


def as_handoff_items(items: list[RunItem], ex: Execution) -> list[RunItem]:
    """The node's items as a native handoff would have made them (HandoffCallItem /
    HandoffOutputItem for the transition tools), for an input filter to look at."""
    taken = ex.transitions[0]
    out: list[RunItem] = []
    for item in items:
        raw = item.raw_item
        name = getattr(raw, "name", None)
        call_id = getattr(raw, "call_id", None) or (
            raw.get("call_id") if isinstance(raw, dict) else None
        )
        if isinstance(item, ToolCallItem) and name in ex.transition_tools:
            out.append(HandoffCallItem(agent=ex.original, raw_item=raw))  # type: ignore[arg-type]
        elif isinstance(item, ToolCallOutputItem) and call_id == taken.call_id:
            out.append(
                HandoffOutputItem(
                    agent=ex.original,
                    raw_item=raw,  # type: ignore[arg-type]
                    source_agent=ex.original,
                    target_agent=taken.target_agent,
                )
            )
        else:
            out.append(item)
    return out


async def filtered_input(
    spec: Handoff[Any, Any],
    user: RunConfig | None,
    given: list[Any],
    result: Any,
    ex: Execution,
) -> list[dict[str, Any]] | None:
    """What the next agent reads after the handoff's ``input_filter`` (or the run config's
    ``handoff_input_filter``), as ``Runner`` computes it; None when there is no filter."""
    chosen = spec.input_filter or (user.handoff_input_filter if user is not None else None)
    if chosen is None:
        return None
    if not callable(chosen):
        raise UserError(f"Invalid input filter: {chosen}")
    items = as_handoff_items(list(result.new_items), ex)
    split = _last_turn_start(result)
    data = HandoffInputData(
        input_history=tuple(given),
        pre_handoff_items=tuple(items[:split]),
        new_items=tuple(items[split:]),
        run_context=getattr(result, "context_wrapper", None),
    )
    filtered = chosen(data)
    if inspect.isawaitable(filtered):
        filtered = await filtered
    if not isinstance(filtered, HandoffInputData):
        raise UserError(f"Invalid input filter result: {filtered}")
    history = filtered.input_history
    new = filtered.input_items if filtered.input_items is not None else filtered.new_items
    return [
        *([{"role": "user", "content": history}] if isinstance(history, str) else history),
        *(item.to_input_item() for item in filtered.pre_handoff_items),
        *(item.to_input_item() for item in new),
    ]


def server_side(result: Any) -> dict[str, Any]:
    """For a server-managed conversation: the source's last response id and the items after
    it (the handoff turn's tool outputs), which the server has not seen yet."""
    items = list(result.new_items)[_last_turn_start(result) :]
    pending = [
        item.to_input_item()
        for item in items
        if isinstance(item, (ToolCallOutputItem, HandoffOutputItem))
    ]
    return {"response_id": getattr(result, "last_response_id", None), "pending": pending}


# --- nested runs -------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Scope:
    """What a ``Runner.run`` inside a node's tool inherits from the node."""

    recorder: Recorder
    base_provider: ModelProvider
    node_config: RunConfig
    nested_config: RunConfig
    clone: Agent[Any]

    def adapt(self, agent: Agent[Any], kwargs: dict[str, Any]) -> Agent[Any]:
        """Give a nested run the node's provider and recording; return the agent to run."""
        if agent is self.clone:
            return agent  # the node's own run
        config = kwargs.get("run_config")
        if config is None:
            kwargs["run_config"] = self.nested_config
        elif config is not self.node_config and not self._recording(config):
            if isinstance(config, dict):
                config = RunConfig(**config)
            provider = user_provider(config) or self.base_provider
            model = config.model
            if isinstance(model, Model) and not isinstance(model, RecordingModel):
                model = self._record(model, type(model).__name__, None)
            kwargs["run_config"] = dataclasses.replace(
                config, model_provider=RecordingProvider(provider, self.recorder), model=model
            )
        return self.recorded(agent, {})

    def _recording(self, config: Any) -> bool:
        """Whether ``config`` already records into this node (a runner that adapted it)."""
        provider = getattr(config, "model_provider", None)
        return isinstance(provider, RecordingProvider) and provider.recorder is self.recorder

    def _record(self, model: Model, name: str, agent: str | None) -> RecordingModel:
        inner = None if self.recorder.replay is not None else model
        return RecordingModel(inner, self.recorder, name, agent, instance=model)

    def recorded(self, agent: Agent[Any], seen: dict[int, Agent[Any]]) -> Agent[Any]:
        """``agent`` (and the agents it hands off to) as a nested run runs it: model
        instances recorded, tools pausable."""
        if id(agent) in seen:
            return seen[id(agent)]
        model = agent.model
        # Its tools pause the node when they call ctx.interrupt(), as the node's own do.
        tools = [pausable(t) if isinstance(t, FunctionTool) else t for t in agent.tools]
        if not isinstance(model, Model) or isinstance(model, RecordingModel):
            copy = agent.clone(tools=tools)
        else:
            model = self._record(model, type(model).__name__, agent.name)
            copy = agent.clone(model=model, tools=tools)
        seen[id(agent)] = copy
        copy.handoffs = [
            self.recorded(h, seen) if isinstance(h, Agent) else h for h in agent.handoffs
        ]
        return copy


#: The node running in this task, for `NodeRunner`.
SCOPE: ContextVar[Scope | None] = ContextVar("orchestrator_agent_scope", default=None)


class NodeRunner(AgentRunner):
    """The SDK's default runner, which a ``Runner.run`` / ``Runner.run_streamed`` inside an
    agent node's tool inherits the node's provider and recording through (outside a node it
    changes nothing)."""

    def __init__(self, inner: AgentRunner) -> None:
        super().__init__()
        self.inner = inner

    async def run(self, starting_agent: Any, input: Any, **kwargs: Any) -> Any:
        scope = SCOPE.get()
        if scope is not None:
            starting_agent = scope.adapt(starting_agent, kwargs)
        return await self.inner.run(starting_agent, input, **kwargs)

    def run_streamed(self, starting_agent: Any, input: Any, **kwargs: Any) -> Any:
        scope = SCOPE.get()
        if scope is not None:
            starting_agent = scope.adapt(starting_agent, kwargs)
        return self.inner.run_streamed(starting_agent, input, **kwargs)


def install_node_runner() -> None:
    """Make `NodeRunner` the SDK's default runner (once; it wraps whatever was there)."""
    current = get_default_agent_runner()
    if not isinstance(current, NodeRunner):
        set_default_agent_runner(NodeRunner(current))
