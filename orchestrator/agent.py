"""Agent nodes: an OpenAI Agents SDK agent as a node of the graph, with the scheduler (not
``Runner``) following its handoffs.

An agent's handoffs to other agent nodes become handoff edges. At run time the node runs a clone
of the agent whose handoffs are swapped for function tools with the very same name, description,
schema and ``is_enabled``; calling one runs the handoff's own ``on_invoke_handoff`` (so
``on_handoff`` and ``input_type`` validation still happen), ends the node, and the scheduler
takes the edge. This module imports the SDK; the engine imports it only when building agent
nodes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from agents import (
    Agent,
    AgentsException,
    FunctionTool,
    Handoff,
    MaxTurnsExceeded,
    RunConfig,
    RunContextWrapper,
    Runner,
    RunState,
    handoff,
)
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
from pydantic import BaseModel

from .agent_replay import can_replay_fast, replay_agent
from .agent_runner import (
    SCOPE,
    Execution,
    HandoffArrival,
    NodeAgentHooks,
    NodeRunHooks,
    RunnerOptions,
    Scope,
    filtered_input,
    install_node_runner,
    node_run_config,
    server_side,
    stop_on_transition,
    transition_tool,
    unless_handed_off,
    user_provider,
)
from .context import Context, Interrupt, running
from .edge import Send
from .errors import AgentRunError, InvalidGraphError, UnknownHandoffError
from .events import AgentItem
from .models import (
    Recorder,
    RecordingModel,
    RecordingProvider,
    ReplayMiss,
    default_model_name,
    environment_provider,
    tracing_enabled,
)
from .node import Command, Node, NodeKind, RetryPolicy
from .reducers import extend

if TYPE_CHECKING:
    from .compiled import CompiledGraph

Prompt = str | Callable[..., Any]  # a format string, or a function of (state) or (state, ctx)


class AgentCall:
    """The call of an agent node: build its input from state, run the agent, map the result."""

    def __init__(
        self,
        name: str,
        agent: Agent[Any],
        *,
        prompt: Prompt | None,
        reads: Sequence[str],
        history: bool,
        messages: str | None,
        output: str | Callable[[Any], dict[str, Any]] | None,
        model: Any,
        max_turns: int,
        stream: bool,
        runner: RunnerOptions | None = None,
    ) -> None:
        self.name, self.agent = name, agent
        self.prompt, self.reads, self.history = prompt, tuple(reads), history
        self.messages, self.output = messages, output
        self.model, self.max_turns, self.stream = model, max_turns, stream
        #: Runner.run's keywords for this node (its max_turns included).
        self.runner = dataclasses.replace(runner or RunnerOptions(), max_turns=max_turns)
        self._prompt_takes_ctx = callable(prompt) and _positional_count(prompt) >= 2
        #: model name -> name of the agent-as-tool using it, to label nested model calls.
        self.nested = _nested_agents(agent)
        #: handoff tool name -> (Handoff, target node), filled by `bind` at compile time.
        self.handoffs: dict[str, tuple[Handoff[Any, Any], str]] = {}
        self.messages_reduced = False

    # --- compile time ----------------------------------------------------------------------

    def bind(
        self, nodes: Mapping[str, Node], fields: frozenset[str], reducers: Mapping[str, Any]
    ) -> tuple[str, ...]:
        """Resolve handoff targets to nodes; return them as the node's goto targets."""
        if self.messages is not None and self.messages not in fields:
            raise InvalidGraphError(
                f"agent node {self.name!r}: messages field {self.messages!r} is not a state field"
            )
        if isinstance(self.output, str) and self.output not in fields:
            raise InvalidGraphError(
                f"agent node {self.name!r}: output field {self.output!r} is not a state field"
            )
        for read in self.reads:
            if read not in fields:
                raise InvalidGraphError(
                    f"agent node {self.name!r}: reads {read!r}, which is not a state field"
                )
        if self.messages is None and self.prompt is None and not self.reads:
            raise InvalidGraphError(
                f"agent node {self.name!r} has no input: give the state a 'messages' field, "
                "or pass prompt= or reads="
            )
        self.messages_reduced = self.messages is not None and self.messages in reducers
        by_agent = {
            id(n.call.agent): n.name for n in nodes.values() if isinstance(n.call, AgentCall)
        }
        by_name = {
            n.call.agent.name: n.name for n in nodes.values() if isinstance(n.call, AgentCall)
        }
        self.handoffs = {}
        for item in self.agent.handoffs:
            spec = item if isinstance(item, Handoff) else handoff(item)
            ref = getattr(spec, "_agent_ref", None)
            target_agent = ref() if ref is not None else None
            node = by_agent.get(id(target_agent)) if target_agent is not None else None
            node = node or by_name.get(spec.agent_name)
            if node is None:
                raise UnknownHandoffError(self.name, self.agent.name, spec.agent_name)
            self.handoffs[spec.tool_name] = (spec, node)
        return tuple(dict.fromkeys(node for _, node in self.handoffs.values()))

    # --- run time --------------------------------------------------------------------------

    def _input(
        self,
        state: BaseModel,
        ctx: Context[Any],
        arrival: HandoffArrival | None,
        sdk: RunnerOptions,
    ) -> tuple[list[Any], int, list[Any]]:
        """The agent's input items, how many of them are not new (the conversation so far),
        and what the conversation field holds before the new items."""
        conversation: list[Any] = []
        if self.messages is not None and self.history:
            conversation = list(getattr(state, self.messages) or ())
        elsewhere = False  # the conversation so far is in the session or on the server
        if arrival is not None and arrival.input is not None:
            items = list(arrival.input)  # what the handoff's input_filter left
            conversation = items
        elif arrival is not None and sdk.server_managed and arrival.pending is not None:
            items, elsewhere = list(arrival.pending), True
        elif (
            arrival is not None
            and arrival.session is not None
            and (arrival.session == _session_id(sdk.session))
        ):
            items, elsewhere = [], True
        else:
            items = list(conversation)
        known = len(items)
        text = self._prompt_text(state, ctx)
        if text is not None:
            items.append({"role": "user", "content": text})
        elif not items and not elsewhere:
            raise AgentRunError(
                self.name,
                self.agent.name,
                ValueError("nothing to say: the conversation is empty and no prompt is set"),
            )
        return items, known, conversation

    def _prompt_text(self, state: BaseModel, ctx: Context[Any]) -> str | None:
        if callable(self.prompt):
            value = self.prompt(state, ctx) if self._prompt_takes_ctx else self.prompt(state)
            return None if value is None else str(value)
        if isinstance(self.prompt, str):
            fields = {k: getattr(state, k) for k in type(state).model_fields}
            return self.prompt.format(**fields, payload=ctx.payload)
        if self.reads:
            return "\n\n".join(
                f"{field}: {_as_text(getattr(state, field))}" for field in self.reads
            )
        return None

    def _clone(
        self,
        options: Any,
        recorder: Recorder,
        provider: Any,
        model: Any,
        ex: Execution,
        handed_off: bool,
    ) -> Agent[Any]:
        """The agent as this node runs it: handoffs as transition tools, model recorded, hooks
        and guardrails as ``Runner`` would run them here."""
        agent = self.agent
        tools = list(agent.tools)
        for tool_name, (spec, node) in self.handoffs.items():
            tools.append(transition_tool(spec, node, tool_name, ex))
        behaviour = stop_on_transition(agent.tool_use_behavior, ex)
        chosen = model if model is not None else self.model
        if chosen is None:
            chosen = agent.model
        if chosen is None and options is not None:
            chosen = options.graph_model
        if chosen is None or isinstance(chosen, str):
            name = chosen or default_model_name(provider)
            inner = None if recorder.replay is not None else provider.get_model(name)
            wrapped = RecordingModel(inner, recorder, name or "default")
        else:
            inner = None if recorder.replay is not None else chosen
            wrapped = RecordingModel(inner, recorder, type(chosen).__name__, instance=chosen)
        wrapped.on_response = ex.saw_response
        clone = agent.clone(
            handoffs=[],
            tools=tools,
            tool_use_behavior=behaviour,
            model=wrapped,
            hooks=NodeAgentHooks(agent.hooks, ex) if agent.hooks is not None else None,
            # Only the starting agent's input guardrails run; a handoff's target is none.
            input_guardrails=[] if handed_off else list(agent.input_guardrails),
            output_guardrails=[unless_handed_off(g, ex) for g in agent.output_guardrails],
        )
        ex.clone = clone
        return clone

    def _fast_replay(self, sdk: RunnerOptions) -> bool:
        """Whether recorded replay may skip ``Runner`` (nothing of the SDK's machinery that
        user code hooks into is in play)."""
        config = sdk.run_config
        return (
            can_replay_fast(self.agent)
            and sdk.hooks is None
            and sdk.session is None
            and not sdk.server_managed
            and (config is None or not (config.input_guardrails or config.output_guardrails))
            and (config is None or config.handoff_input_filter is None)
            and all(spec.input_filter is None for spec, _ in self.handoffs.values())
        )

    async def __call__(self, state: BaseModel, ctx: Context[Any]) -> Command | dict[str, Any]:
        install_node_runner()
        options = ctx.options
        arrival = ctx.payload if isinstance(ctx.payload, HandoffArrival) else None
        if arrival is not None:
            ctx.payload = None  # the handoff's bookkeeping, not a payload of the user's
        sdk = self.runner.resolved()
        user_config: RunConfig | None = sdk.run_config
        items, known, conversation = self._input(state, ctx, arrival, sdk)
        # A handoff chain shares the turn budget of its first node, as one Runner.run does.
        chain_max = arrival.max_turns if arrival is not None else sdk.max_turns
        used = arrival.turns if arrival is not None else 0
        remaining = None if chain_max is None else chain_max - used
        if remaining is not None and remaining < 1:
            exceeded = MaxTurnsExceeded(f"Max turns ({chain_max}) exceeded")
            raise AgentRunError(self.name, self.agent.name, exceeded) from exceeded
        recorder = Recorder(
            emit=ctx.emit,
            run_id=ctx.run_id,
            node=self.name,
            step=ctx.step,
            task_id=ctx.task_id,
            agent=self.agent.name,
            replay=options.recording if options is not None else None,
        )
        base_provider = (
            (options.model_provider if options is not None else None)
            or user_provider(user_config)
            or environment_provider()
        )
        run_model = options.model if options is not None else None
        if run_model is None and user_config is not None:
            run_model = user_config.model
        ex = Execution(self.agent, frozenset(self.handoffs), hooks=sdk.hooks)
        agent = self._clone(options, recorder, base_provider, run_model, ex, arrival is not None)
        stream = self.stream or bool(options is not None and options.stream)
        provider = RecordingProvider(base_provider, recorder, self.nested)
        trace: dict[str, Any] = {
            "tracing": tracing_enabled(),
            "workflow": options.graph if options is not None else self.name,
            "node": self.name,
            "run_id": ctx.run_id,
        }
        config = node_run_config(
            user_config, provider, ex=ex, handed_off=arrival is not None, **trace
        )
        nested = node_run_config(None, provider, ex=ex, handed_off=False, **trace)
        sdk_context = sdk.context if sdk.context is not None else ctx
        previous = sdk.previous_response_id
        if arrival is not None and previous is not None and arrival.response_id is not None:
            previous = arrival.response_id  # go on from the source's last response
        runner_options: dict[str, Any] = {
            "context": sdk_context,
            "max_turns": remaining,
            "hooks": NodeRunHooks(sdk.hooks, ex) if sdk.hooks is not None else None,
            "run_config": config,
            "session": sdk.session,
            "previous_response_id": previous,
            "conversation_id": sdk.conversation_id,
        }
        run_input: Any = await self._approved_state(agent, ctx, sdk_context) or items
        token = SCOPE.set(Scope(recorder, base_provider, config, nested, agent))
        try:
            with running(ctx):
                if recorder.replay is not None and not stream and self._fast_replay(sdk):
                    result: Any = await replay_agent(
                        agent, items, sdk_context, config, remaining or 10**9
                    )
                elif stream:
                    streamed = Runner.run_streamed(agent, run_input, **runner_options)
                    async for event in streamed.stream_events():
                        # Text deltas are reported by the recording model; items (tool calls,
                        # outputs, messages) are reported here, as they happen.
                        if event.type == "run_item_stream_event":
                            self._report_items(ctx, [event.item])
                    result = streamed
                else:
                    result = await Runner.run(agent, run_input, **runner_options)
                handed = None
                if ex.transitions:
                    spec = self.handoffs[ex.transitions[0].tool_name][0]
                    handed = HandoffArrival(
                        source=self.name,
                        agent=self.agent.name,
                        turns=used + ex.turns,
                        max_turns=chain_max,
                        input=await filtered_input(spec, user_config, items, result, ex),
                        session=_session_id(sdk.session),
                        **(server_side(result) if sdk.server_managed else {}),
                    )
        except (Interrupt, AgentRunError, ReplayMiss):
            raise
        except MaxTurnsExceeded as exc:
            if remaining != chain_max:  # name the chain's budget, as one Runner.run would
                renamed = MaxTurnsExceeded(f"Max turns ({chain_max}) exceeded")
                renamed.run_data = exc.run_data
                raise AgentRunError(self.name, self.agent.name, renamed) from exc
            raise AgentRunError(self.name, self.agent.name, exc) from exc
        except AgentsException as exc:
            raise AgentRunError(self.name, self.agent.name, exc) from exc
        except Exception as exc:  # transport and provider errors: retryable like any failure
            raise AgentRunError(self.name, self.agent.name, exc) from exc
        finally:
            SCOPE.reset(token)

        if not stream:
            self._report_items(ctx, result.new_items)
        if getattr(result, "interruptions", None):
            # A tool needs approval: pause the run with the agent's own saved state, so the
            # answer lets it go on from this very tool call rather than start over.
            ctx.interrupt(
                {
                    "kind": "tool_approval",
                    "node": self.name,
                    "agent": self.agent.name,
                    "tools": [
                        {"tool": i.name, "arguments": i.arguments, "call_id": i.call_id}
                        for i in result.interruptions
                    ],
                    "state": result.to_state().to_string(context_serializer=_no_context),
                }
            )
        update: dict[str, Any] = {}
        if self.messages is not None:
            new = self._new_items(result, items, known, sdk, ex)
            update[self.messages] = new if self.messages_reduced else [*conversation, *new]
        if handed is not None:
            return Command(update=update, goto=(Send(ex.transitions[0].node, handed),))
        if callable(self.output):
            update.update(self.output(result.final_output) or {})
        elif self.output is not None:
            update[self.output] = result.final_output
        return update

    @staticmethod
    def _new_items(
        result: Any, items: list[Any], known: int, sdk: RunnerOptions, ex: Execution
    ) -> list[Any]:
        """The conversation items this execution adds (its input's new ones included)."""
        if sdk.session is not None:  # the result's input also holds the session's history
            new = [*items[known:], *(item.to_input_item() for item in result.new_items)]
        else:
            new = result.to_input_list()[known:]
        if ex.transitions:
            new = _handoff_output_last(new, ex.transitions[0].call_id)
        return new

    async def _approved_state(self, agent: Agent[Any], ctx: Context[Any], sdk_context: Any) -> Any:
        """After a tool-approval pause: the agent's saved run state, with the answer applied."""
        answered = ctx.answered()
        if not answered:
            return None
        request, answer = answered[-1]
        if not (isinstance(request, dict) and request.get("kind") == "tool_approval"):
            return None
        state = await RunState.from_string(
            agent, request["state"], context_override=RunContextWrapper(context=sdk_context)
        )
        for item in state.get_interruptions():
            if _approves(answer, item):
                state.approve(item)
            else:
                state.reject(item)
        return state

    def _report_items(self, ctx: Context[Any], items: list[RunItem]) -> None:
        transition_tools = set(self.handoffs)
        for item in items:
            kind, content, name = _describe(item, transition_tools)
            if kind:
                ctx.emit(
                    AgentItem(
                        ctx.run_id,
                        ctx.step,
                        self.name,
                        ctx.task_id,
                        getattr(item.agent, "name", self.agent.name),
                        kind,
                        content,
                        name,
                    )
                )


def _positional_count(fn: Callable[..., Any]) -> int:
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def _no_context(context: Any) -> dict[str, Any]:
    return {}  # the run's Context is per process (dependencies): it is given back on resume


def _handoff_output_last(items: list[Any], call_id: str | None) -> list[Any]:
    """The items with the taken handoff's output moved last, where ``Runner`` puts it (after
    the outputs of the turn's other tool calls and refused handoffs)."""
    for index, item in enumerate(items):
        if (
            isinstance(item, dict)
            and item.get("type") == "function_call_output"
            and item.get("call_id") == call_id
        ):
            return [*items[:index], *items[index + 1 :], item]
    return items


def _session_id(session: Any) -> str | None:
    if session is None:
        return None
    return str(getattr(session, "session_id", None) or id(session))


def _approves(answer: Any, item: Any) -> bool:
    """An approval answer: True/False, "approve"/"reject", or a dict by tool name or call id."""
    if isinstance(answer, dict):
        for key in (getattr(item, "call_id", None), getattr(item, "name", None)):
            if key is not None and key in answer:
                return _approves(answer[key], item)
        return False
    if isinstance(answer, str):
        return answer.strip().lower() in ("approve", "approved", "yes", "y", "true", "ok")
    return bool(answer)


def _nested_agents(agent: Agent[Any], seen: set[int] | None = None) -> dict[str, str]:
    """Model names of the agents this agent uses as tools (recursively), mapped to their names."""
    seen = seen if seen is not None else {id(agent)}
    found: dict[str, str] = {}
    for tool in agent.tools:
        inner = getattr(tool, "_agent_instance", None)
        if isinstance(inner, Agent) and id(inner) not in seen:
            seen.add(id(inner))
            if isinstance(inner.model, str):
                found.setdefault(inner.model, inner.name)
            found.update({k: v for k, v in _nested_agents(inner, seen).items() if k not in found})
    return found


def _describe(item: RunItem, transition_tools: set[str]) -> tuple[str, str, str | None]:
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
        return "tool_output", _as_text(item.output), None
    if isinstance(item, HandoffCallItem):
        return "handoff", item.raw_item.arguments, item.raw_item.name
    if isinstance(item, HandoffOutputItem):
        return "", "", None
    if isinstance(item, ReasoningItem):
        return "reasoning", "", None
    return "", "", None


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if hasattr(value, "model_dump_json"):
        return str(value.model_dump_json())
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


def agent_node(
    name: str,
    agent: Agent[Any],
    *,
    prompt: Prompt | None = None,
    reads: Sequence[str] = (),
    history: bool = True,
    messages: str | None = "messages",
    output: str | Callable[[Any], dict[str, Any]] | None = None,
    model: Any = None,
    max_turns: int = 10,
    stream: bool = False,
    retry: RetryPolicy | int | None = None,
    description: str = "",
    context: Any = None,
    run_config: RunConfig | None = None,
    hooks: Any = None,
    session: Any = None,
    previous_response_id: str | None = None,
    conversation_id: str | None = None,
) -> Node:
    """Build an agent node (`Graph.add_agent` calls this; ``graph.add(agent_node(...))`` adds
    one with the node's own ``Runner.run`` keywords, which win over the run's)::

        g.add(agent_node("expert", expert, session=SQLiteSession("expert_system")))

    ``context``, ``run_config``, ``hooks``, ``max_turns``, ``session``,
    ``previous_response_id`` and ``conversation_id`` are those of ``Runner.run``.
    """
    if not isinstance(agent, Agent):
        raise InvalidGraphError(f"agent node {name!r}: expected an agents.Agent, got {agent!r}")
    call = AgentCall(
        name,
        agent,
        prompt=prompt,
        reads=reads,
        history=history,
        messages=messages,
        output=output,
        model=model,
        max_turns=max_turns,
        stream=stream,
        runner=RunnerOptions(
            context=context,
            run_config=run_config,
            hooks=hooks,
            session=session,
            previous_response_id=previous_response_id,
            conversation_id=conversation_id,
        ),
    )
    agent_tools = {  # tool name -> the agent it runs, for drawing and for ModelCalled.agent
        t.name: getattr(t._agent_instance, "name", t.name)
        for t in agent.tools
        if isinstance(t, FunctionTool) and getattr(t, "_is_agent_tool", False)
    }
    tools = [getattr(t, "name", type(t).__name__) for t in agent.tools]
    return Node(
        name=name,
        kind=NodeKind.AGENT,
        call=call,
        is_async=True,
        takes_ctx=True,
        retry=RetryPolicy(max_attempts=retry) if isinstance(retry, int) else retry,
        writes=frozenset(f for f in (messages, output) if isinstance(f, str)),
        description=description or agent.handoff_description or _instructions(agent),
        meta={
            "agent": agent.name,
            "tools": tools,
            "agent_tools": agent_tools,
            "output_type": getattr(agent.output_type, "__name__", None),
        },
    )


def _instructions(agent: Agent[Any]) -> str:
    text = agent.instructions if isinstance(agent.instructions, str) else ""
    return text.strip().split("\n", 1)[0][:160]


class Conversation(BaseModel):
    """The state of a graph imported from an agent: the conversation and the last answer."""

    messages: Annotated[list[dict[str, Any]], extend] = []
    answer: Any = None


def graph_from_agent(
    agent: Agent[Any], *, state: type[BaseModel] = Conversation, name: str | None = None
) -> CompiledGraph[Any]:
    """Turn an agent and its handoff tree into a graph, one agent node per agent.

    The entry agent follows START; every agent can answer (and so end the run) or hand off along
    its handoffs, which the scheduler now follows, counts and draws. Agents used as tools stay
    inside the node of the agent that uses them.
    """
    from .graph import Graph
    from .ids import END, START

    order: list[Agent[Any]] = []
    seen: set[int] = set()
    queue = [agent]
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        order.append(current)
        for item in current.handoffs:
            spec = item if isinstance(item, Handoff) else handoff(item)
            ref = getattr(spec, "_agent_ref", None)
            target = ref() if ref is not None else item if isinstance(item, Agent) else None
            if target is None:
                raise InvalidGraphError(
                    f"agent {current.name!r} hands off to {spec.agent_name!r}, which cannot be "
                    "resolved to an Agent; pass Agent objects or handoff(agent)"
                )
            queue.append(target)
    names: dict[int, str] = {}
    for a in order:
        base = _snake(a.name)
        node = base
        suffix = 2
        while node in names.values():
            node, suffix = f"{base}_{suffix}", suffix + 1
        names[id(a)] = node
    graph = Graph(state, name=name or _snake(agent.name))
    has_answer = "answer" in state.model_fields
    for a in order:
        graph.add_agent(names[id(a)], a, output="answer" if has_answer else None)
        graph.add_edge(names[id(a)], END)
    graph.add_edge(START, names[id(agent)])
    return graph.compile()


def _snake(name: str) -> str:
    import re

    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower() or "agent"
