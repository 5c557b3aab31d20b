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

import asyncio
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from agents import (
    Agent,
    FunctionTool,
    Handoff,
    MaxTurnsExceeded,
    RunConfig,
    RunContextWrapper,
    Runner,
    handoff,
)
from agents.exceptions import RunErrorDetails
from agents.items import RunItem
from pydantic import BaseModel, field_validator

from .agent_items import as_text, report_inputs, report_items
from .agent_pause import (
    ToolInterrupted,
    approval_request,
    interrupt_request,
    pausable,
    resumed_state,
    saved_items,
)
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
from .context import Context, Interrupt, run_setting, running
from .edge import Send
from .errors import (
    AgentRunError,
    InvalidGraphError,
    NodeFailedError,
    NodeTimeoutError,
    UnknownHandoffError,
)
from .models import (
    Recorder,
    RecordingModel,
    RecordingProvider,
    ReplayMiss,
    default_model_name,
    environment_provider,
)
from .node import Command, Node, NodeKind, RetryPolicy
from .reducers import extend
from .tracing import gate_openai_export
from .transport import DEFAULT_AGENT_TIMEOUT

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
        make: Callable[..., Agent[Any]] | None = None,
    ) -> None:
        self.name, self.agent = name, agent
        #: Makes the agent of each execution (``make(state)`` or ``make(state, ctx)``); then
        #: ``agent`` only stands for it in diagrams.
        self.make = make
        self._make_takes_ctx = make is not None and _positional_count(make) >= 2
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
        #: The node's own ``timeout=`` (the scheduler applies it), filled by `bind`.
        self.timeout: float | None = None

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
        own = nodes.get(self.name)
        self.timeout = own.timeout if own is not None else None
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
            return "\n\n".join(f"{field}: {as_text(getattr(state, field))}" for field in self.reads)
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
        agent = ex.original
        tools = [
            pausable(t, ex.outputs, ex.running, ex.tool_errors)
            if isinstance(t, FunctionTool)
            else t
            for t in agent.tools
        ]
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
        wrapped.on_request, wrapped.on_response = ex.saw_request, ex.saw_response
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

    def _fast_replay(self, sdk: RunnerOptions, agent: Agent[Any]) -> bool:
        """Whether recorded replay may skip ``Runner`` (nothing of the SDK's machinery that
        user code hooks into is in play)."""
        config = sdk.run_config
        return (
            can_replay_fast(agent)
            and sdk.hooks is None
            and sdk.session is None
            and not sdk.server_managed
            and (config is None or not (config.input_guardrails or config.output_guardrails))
            and (config is None or config.handoff_input_filter is None)
            and all(spec.input_filter is None for spec, _ in self.handoffs.values())
        )

    async def __call__(self, state: BaseModel, ctx: Context[Any]) -> Command | dict[str, Any]:
        install_node_runner()
        if self.timeout is not None:  # the node's own: the scheduler applies it
            return await self._run(state, ctx, self.timeout)
        limit = run_setting("agent_timeout")
        limit = DEFAULT_AGENT_TIMEOUT if limit is None else float(limit)
        if math.isinf(limit):
            return await self._run(state, ctx, None)
        try:
            async with asyncio.timeout(limit) as scope:
                return await self._run(state, ctx, limit)
        except TimeoutError as exc:
            if scope.expired():  # retried by the node's policy like any failure
                raise NodeTimeoutError(self.name, limit) from exc
            raise

    async def _run(
        self, state: BaseModel, ctx: Context[Any], timeout: float | None
    ) -> Command | dict[str, Any]:
        options = ctx.options
        user_agent = self._agent_for(state, ctx)
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
            exceeded.run_data = RunErrorDetails(  # as Runner leaves it: no turn was taken
                input=items,
                new_items=[],
                raw_responses=[],
                last_agent=user_agent,
                context_wrapper=RunContextWrapper(
                    context=sdk.context if sdk.context is not None else ctx
                ),
                input_guardrail_results=[],
                output_guardrail_results=[],
            )
            raise AgentRunError(self.name, user_agent.name, exceeded) from exceeded
        recorder = Recorder(
            emit=ctx.emit,
            run_id=ctx.run_id,
            node=self.name,
            step=ctx.step,
            task_id=ctx.task_id,
            agent=user_agent.name,
            replay=options.recording if options is not None else None,
            timeout=timeout,
        )
        base_provider = (
            (options.model_provider if options is not None else None)
            or user_provider(user_config)
            or environment_provider()
        )
        run_model = options.model if options is not None else None
        if run_model is None and user_config is not None:
            run_model = user_config.model
        ex = Execution(user_agent, frozenset(self.handoffs), hooks=sdk.hooks)
        agent = self._clone(options, recorder, base_provider, run_model, ex, arrival is not None)
        stream = self.stream or bool(options is not None and options.stream)
        nested_names = self.nested if self.make is None else _nested_agents(user_agent)
        provider = RecordingProvider(base_provider, recorder, nested_names)
        trace: dict[str, Any] = {
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
        saved = await resumed_state(agent, ctx, sdk_context, ex)
        paused_in = (ex.resumed or {}).get("session")
        if saved is not None and paused_in is not None and paused_in != _session_id(sdk.session):
            given = "no session" if sdk.session is None else f"session {_session_id(sdk.session)!r}"
            problem = ValueError(
                f"the agent paused at a tool call with SDK session {paused_in!r}, which holds "
                f"its conversation, and was resumed with {given}: resume with the same session "
                "(resume(..., session=...), or the node's session=)"
            )
            raise AgentRunError(self.name, user_agent.name, problem)
        run_input: Any = saved if saved is not None else items
        paused: ToolInterrupted | None = None
        token = SCOPE.set(Scope(recorder, base_provider, config, nested, agent))
        try:
            with running(ctx):
                fast = recorder.replay is not None and not stream and saved is None
                if fast and self._fast_replay(sdk, user_agent):
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
                        agent=user_agent.name,
                        turns=used + ex.turns,
                        max_turns=chain_max,
                        input=await filtered_input(spec, user_config, items, result, ex),
                        session=_session_id(sdk.session),
                        **(server_side(result) if sdk.server_managed else {}),
                    )
        except ToolInterrupted as signal:
            paused = signal
        except (Interrupt, AgentRunError):
            raise
        except ReplayMiss as miss:
            if ex.tool_errors and not miss.tool_errors:  # the likely cause: say it
                raise ReplayMiss(miss.node, miss.digest, ex.tool_errors) from None
            raise
        except asyncio.CancelledError:  # a timeout: keep what the agent did until then
            self._report_failure(ctx, None, ex, stream)
            raise
        except MaxTurnsExceeded as exc:
            self._report_failure(ctx, exc, ex, stream)
            if isinstance(exc, NodeFailedError):  # a graph run inside a tool: not this agent's
                raise AgentRunError(self.name, user_agent.name, exc) from exc
            if remaining != chain_max:  # name the chain's budget, as one Runner.run would
                renamed = MaxTurnsExceeded(f"Max turns ({chain_max}) exceeded")
                renamed.run_data = exc.run_data
                raise AgentRunError(self.name, user_agent.name, renamed) from exc
            raise AgentRunError(self.name, user_agent.name, exc) from exc
        except Exception as exc:  # SDK, transport and provider errors: retryable like any
            self._report_failure(ctx, exc, ex, stream)
            raise AgentRunError(self.name, user_agent.name, exc) from exc
        finally:
            SCOPE.reset(token)

        if paused is not None:
            # A tool asked for input: wait with the run state stopped at that tool call, so
            # the answer lets the agent go on from there (the tool runs again and gets it).
            try:
                request, turn = await interrupt_request(
                    self.name, agent, paused, ex, sdk_context, remaining, sdk.session
                )
            except Exception as exc:
                raise AgentRunError(self.name, user_agent.name, exc) from exc
            if not stream:  # the turns before, then the interrupted one as the state has it
                self._report_inputs(
                    ctx, user_agent.name, (ex.last_input or [])[ex.started_with or 0 :]
                )
                self._report_items(ctx, turn)
            _mark_session(
                request, sdk.session, _history(ex, ex.started_with or 0, len(items) - known)
            )
            ctx.interrupt(request)
        if not stream:  # (a resumed run's first items were reported when it paused)
            self._report_items(ctx, result.new_items[saved_items(ex.resumed) :])
        if getattr(result, "interruptions", None):
            # A tool needs approval: pause the run with the agent's own saved state, so the
            # answer lets it go on from this very tool call rather than start over.
            request = approval_request(self.name, user_agent.name, result, ex)
            _mark_session(request, sdk.session, _history(ex, len(result.input), len(items) - known))
            ctx.interrupt(request)
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
        # With a session, the result's input also holds the session's history.
        start = known
        if sdk.session is not None:
            start = _history(ex, len(result.input), len(items) - known)
        new: list[Any] = result.to_input_list()[start:]
        if ex.transitions:
            new = _handoff_output_last(new, ex.transitions[0].call_id)
        return new

    def _report_failure(
        self, ctx: Context[Any], exc: BaseException | None, ex: Execution, stream: bool
    ) -> None:
        """Report what the agent did before it failed, paused or timed out, so a failed
        node's events keep its conversation items (its model calls are reported as made)."""
        if stream:
            return  # reported as they happened
        data = getattr(exc, "run_data", None)
        if data is not None:
            self._report_items(ctx, list(data.new_items)[saved_items(ex.resumed) :])
        else:
            self._report_inputs(ctx, ex.original.name, ex.items_so_far())

    def _report_inputs(self, ctx: Context[Any], agent: str, items: list[Any]) -> None:
        """`_report_items` for conversation items in their input form."""
        report_inputs(ctx, self.name, agent, set(self.handoffs), items)

    def _report_items(self, ctx: Context[Any], items: list[RunItem]) -> None:
        report_items(ctx, self.name, self.agent.name, set(self.handoffs), items)

    def _agent_for(self, state: BaseModel, ctx: Context[Any]) -> Agent[Any]:
        """The agent this execution runs: the node's, or the one ``make`` builds now."""
        if self.make is None:
            return self.agent
        made = self.make(state, ctx) if self._make_takes_ctx else self.make(state)
        if not isinstance(made, Agent):
            problem = TypeError(f"the node's agent maker returned {made!r}, not an agents.Agent")
            raise AgentRunError(self.name, self.agent.name, problem)
        if made.handoffs:
            problem = ValueError(
                f"agent {made.name!r} was made at run time with handoffs, which would be edges "
                "the graph does not have: hand off from an agent the graph declares"
            )
            raise AgentRunError(self.name, made.name, problem)
        return made


def _positional_count(fn: Callable[..., Any]) -> int:
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


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


def _history(ex: Execution, seen: int, added: int) -> int:
    """With an SDK session: how many items of the agent's input were the session's history
    before this node (the rest are the node's own). ``seen`` is the length of the input the
    run started with, of which the node ``added`` the last; a run resumed from a pause started
    from a state rebuilt later, so the count made when it first paused holds."""
    if ex.resumed is not None and "history" in ex.resumed:
        return int(ex.resumed["history"])
    return max(0, seen - added)


def _mark_session(request: dict[str, Any], session: Any, history: int) -> None:
    """Note in a paused node's request the SDK session it paused with and where the node's
    own items start in it (a resume checks the one and counts from the other)."""
    if session is not None:
        request["history"], request["session"] = history, _session_id(session)


def _session_id(session: Any) -> str | None:
    if session is None:
        return None
    return str(getattr(session, "session_id", None) or id(session))


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


def agent_node(
    name: str,
    agent: Agent[Any] | Callable[..., Agent[Any]],
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

    ``agent`` may also be a function ``(state)`` or ``(state, ctx)`` that makes the agent of
    each execution, at run time (from an earlier node's output, or a fan-out payload); such an
    agent cannot hand off (its handoffs would be edges the graph does not have).
    """
    make: Callable[..., Agent[Any]] | None = None
    if not isinstance(agent, Agent):
        if not callable(agent):
            raise InvalidGraphError(
                f"agent node {name!r}: expected an agents.Agent or a function that makes one, "
                f"got {agent!r}"
            )
        make = agent
        doc = (getattr(make, "__doc__", None) or "").strip().split("\n", 1)[0]
        agent = Agent(name=name, instructions=doc or f"made at run time by {make.__name__}")
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
        make=make,
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
            **({"made_at_run_time": True} if make is not None else {}),
        },
    )


def _instructions(agent: Agent[Any]) -> str:
    text = agent.instructions if isinstance(agent.instructions, str) else ""
    return text.strip().split("\n", 1)[0][:160]


class Conversation(BaseModel):
    """The state of a graph imported from an agent: the conversation and the last answer."""

    messages: Annotated[list[dict[str, Any]], extend] = []
    answer: Any = None

    @field_validator("messages", mode="before")
    @classmethod
    def _text_is_a_user_message(cls, value: Any) -> Any:
        """A string is one user message, as ``Runner.run(agent, "text")`` takes it."""
        return [{"role": "user", "content": value}] if isinstance(value, str) else value


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


# The SDK's exporter to OpenAI sees only traces whose key is for OpenAI's own endpoint, from
# the moment agent nodes can exist (see `orchestrator.tracing.openai_export_allowed`).
gate_openai_export()
