"""How an agent node pauses at a tool call and goes on from it: a tool declared with
``needs_approval=True``, or a function tool that calls ``ctx.interrupt(request)``.

Either way the SDK's run stops at that tool call, the node saves the SDK's own run state
(``RunState.to_string()``) in the request the graph run waits with (durable: it is stored with
the run), and the answer resumes the agent from that state, at that tool call: an approval
approves or rejects it, an interrupt's answer is what ``ctx.interrupt`` returns when the SDK runs
the tool again.

The SDK lets a run stop at a tool call only before the tool runs (an approval). A tool that
interrupts has already started, so the node stops the run (the tool's `ToolInterrupted` ends
it) and then makes the state an approval would have made: it runs the agent once more on the
same conversation with the interrupted turn's response given back, no model called, the turn's
finished tool calls answered with their outputs and the interrupted ones held for approval. The
answer approves the held ones, so the SDK runs them again.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import TYPE_CHECKING, Any

from agents import (
    Agent,
    AgentsException,
    FunctionTool,
    Model,
    ModelResponse,
    RunConfig,
    RunContextWrapper,
    Runner,
    RunState,
)
from agents.tool import (
    maybe_invoke_function_tool_failure_error_function,
    set_function_tool_failure_error_function,
)
from agents.tool_context import ToolContext

from .context import Context, Interrupt, node_context

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from .agent_runner import Execution

#: ``request["kind"]`` of a paused agent node: a tool waits for approval / for an answer.
APPROVAL = "tool_approval"
TOOL_INTERRUPT = "tool_interrupt"


class ToolInterrupted(AgentsException):
    """``ctx.interrupt(request)`` was called inside a function tool of an agent node: raised out
    of the SDK's run, which stops at that tool call (an `AgentsException`, so the SDK lets it
    through instead of telling the model the tool failed)."""

    def __init__(self, request: Any, tool: str, call_id: str, first: int) -> None:
        super().__init__(f"tool {tool!r} (call {call_id}) asked for input: {request!r:.200}")
        self.request, self.tool, self.call_id = request, tool, call_id
        #: How many interrupts the node's task had made when the tool started: the tool asks
        #: again from there when it runs again.
        self.first = first


def pausable(
    tool: FunctionTool,
    outputs: dict[str, Any] | None = None,
    running: dict[str, asyncio.Future[None]] | None = None,
    errors: list[str] | None = None,
) -> FunctionTool:
    """``tool`` as the node runs it: a ``ctx.interrupt()`` inside it, or inside a run of a
    nested agent it starts, stops the SDK's run at this call (`ToolInterrupted`); the output
    of a call that finishes is kept in ``outputs`` (in case another call of the same turn
    interrupts). ``running`` (shared by the tools of one node execution) holds the calls in
    progress: an interrupting call waits for the turn's other calls to finish before it stops
    the run, since the SDK would cancel them and they would run again on resume. A call that
    fails is noted in ``errors``, whatever the model is told."""
    wrapped = copy.copy(tool)  # the SDK rebinds the tool's failure handling to the copy
    inner = wrapped.on_invoke_tool
    started: dict[str, int] = {}  # call id -> the node's interrupt count when it started

    async def invoke(ctx: ToolContext[Any], arguments: str) -> Any:
        node = _node()
        call_id = ctx.tool_call_id
        first = started[call_id] = node.interrupts if node is not None else 0
        finished: asyncio.Future[None] | None = None
        if running is not None:
            finished = running[call_id] = asyncio.get_running_loop().create_future()
        try:
            output = await inner(ctx, arguments)
            if outputs is not None:
                outputs[call_id] = output
            return output
        except (Interrupt, ToolInterrupted) as signal:  # failure_error_function=None
            if running is not None:
                _settle(running, call_id, finished)  # a sibling that asks too does not wait
                others = [f for f in running.values() if not f.done()]
                if others:
                    await asyncio.wait(others)  # their outputs are kept, not run again
            raise ToolInterrupted(signal.request, tool.name, call_id, first) from signal
        finally:
            started.pop(call_id, None)
            if running is not None:
                _settle(running, call_id, finished)

    async def on_failure(ctx: RunContextWrapper[Any], error: Exception) -> Any:
        if isinstance(error, (Interrupt, ToolInterrupted)):  # not "an error occurred"
            call_id = str(getattr(ctx, "tool_call_id", ""))
            first = started.get(call_id, 0)
            raise ToolInterrupted(error.request, tool.name, call_id, first) from error
        # Anything else: what the tool's own failure policy says, as it would have said it.
        if errors is not None:
            errors.append(f"tool {tool.name!r} raised {type(error).__name__}: {error}")
        handled = await maybe_invoke_function_tool_failure_error_function(
            function_tool=tool, context=ctx, error=error
        )
        if handled is None:
            raise error
        return handled

    set_function_tool_failure_error_function(wrapped, on_failure)
    wrapped.on_invoke_tool = invoke
    return wrapped


def _settle(
    running: dict[str, asyncio.Future[None]], call_id: str, done: asyncio.Future[None] | None
) -> None:
    if running.get(call_id) is done:
        del running[call_id]
    if done is not None and not done.done():
        done.set_result(None)


def _node() -> Context[Any] | None:
    try:
        return node_context()
    except LookupError:
        return None


# --- pausing -----------------------------------------------------------------------------------


def approval_request(node: str, agent: str, result: Any, ex: Execution) -> dict[str, Any]:
    """The request a node waits with when tools need approval: the SDK's saved run state."""
    return {
        "kind": APPROVAL,
        "node": node,
        "agent": agent,
        "tools": [
            {"tool": i.name, "arguments": i.arguments, "call_id": i.call_id}
            for i in result.interruptions
        ],
        "state": result.to_state().to_string(context_serializer=_no_context),
        "turns": ex.turns,
    }


async def interrupt_request(
    node: str,
    clone: Agent[Any],
    signal: ToolInterrupted,
    ex: Execution,
    sdk_context: Any,
    budget: int | None,
    session: Any = None,
) -> tuple[dict[str, Any], list[Any]]:
    """The request a node waits with when a tool called ``ctx.interrupt(request)`` (the user's
    request under ``"request"``, and the run state an approval of that call would have left),
    and the items of the interrupted turn the state holds. With an SDK ``session``, the session
    is left holding what an approval pause would have left in it."""
    saved, held, items = await _state_at(clone, signal.call_id, ex, sdk_context, budget, session)
    request = {
        "kind": TOOL_INTERRUPT,
        "node": node,
        "agent": ex.original.name,
        "request": signal.request,
        "tool": signal.tool,
        "call_id": signal.call_id,
        "first": signal.first,
        "held": held,
        "state": saved,
        "turns": ex.turns,
    }
    return request, items


async def _state_at(
    clone: Agent[Any],
    call_id: str,
    ex: Execution,
    sdk_context: Any,
    budget: int | None,
    session: Any,
) -> tuple[str, list[str], list[Any]]:
    """The saved run state stopped at ``call_id``, the calls it holds to run again, and the
    items of the turn it stops in (none when it is a state saved before)."""
    response = ex.last_response
    if response is None or call_id not in _calls(response):
        # The tool ran again from a saved state (before any new model call) and asked again:
        # that state still stops at this very call.
        resumed = ex.resumed
        if resumed is not None and call_id in _held(resumed):
            return str(resumed["state"]), [call_id], []
        raise RuntimeError(
            f"agent {ex.original.name!r}: tool call {call_id} asked for input, but the turn "
            "that made it is unknown"
        )
    assert ex.last_input is not None
    tools = {t.name: t for t in clone.tools if isinstance(t, FunctionTool)}
    # Held to run again: the interrupted call and any cancelled beside it (a call waiting for
    # a person's approval stays waiting for it).
    held = [
        call
        for call, name in _calls(response).items()
        if call not in ex.outputs and (call == call_id or not _asks_approval(tools.get(name)))
    ]
    stand_in = clone.clone(
        model=_Given(response),
        tools=[
            _replayed_tool(t, ex.outputs) if isinstance(t, FunctionTool) else t for t in clone.tools
        ],
        hooks=None,
        input_guardrails=[],
        output_guardrails=[],
        tool_use_behavior="run_llm_again",
        instructions=None,  # no user code runs: the response is given
        prompt=None,
    )
    # The saved state counts its turns from here, the interrupted turn its first.
    max_turns = 10 if budget is None else max(1, budget - ex.turns + 1)
    given: list[Any] = list(ex.last_input)
    if session is not None:
        # The interrupted turn saved part of itself (a finished call's output without the
        # interrupted call): take that back, so the rebuilt turn saves itself whole and the
        # state knows what the session holds, as after an approval pause. Only the turn's own
        # items, at the session's end, go: what the model saw may be less than the session
        # (an input filter, a history limit), and the rest of the session is not this turn's.
        for _ in range(_saved_of_turn(await session.get_items(), response)):
            await session.pop_item()
        given = []  # the session gives the model its history
    rebuilt = await Runner.run(
        stand_in,
        given,
        context=sdk_context,
        max_turns=max_turns,
        run_config=RunConfig(tracing_disabled=True),
        session=session,
    )
    assert rebuilt.interruptions, "the held tool call did not stop the rebuilt run"
    saved = str(rebuilt.to_state().to_string(context_serializer=_no_context))
    return saved, held, list(rebuilt.new_items)


def _saved_of_turn(items: list[Any], response: Any) -> int:
    """How many items at the end of a session are the response's (its items, by id, or its
    calls and their outputs, by call id)."""
    calls = set(_calls(response))
    ids = {i for i in (getattr(item, "id", None) for item in response.output) if i}
    count = 0
    for item in reversed(items):
        if not isinstance(item, dict):
            break
        if item.get("call_id") in calls or (item.get("id") and item.get("id") in ids):
            count += 1
        else:
            break
    return count


def _asks_approval(tool: FunctionTool | None) -> bool:
    return tool is not None and tool.needs_approval is not False


def _replayed_tool(tool: FunctionTool, outputs: dict[str, Any]) -> FunctionTool:
    """``tool`` for rebuilding a state: a finished call gives its output back, any other call
    (the interrupted one, or one cancelled beside it) waits for approval."""
    stand_in = copy.copy(tool)

    async def finished(ctx: ToolContext[Any], arguments: str) -> Any:
        return outputs[ctx.tool_call_id]

    async def waits(ctx: RunContextWrapper[Any], params: dict[str, Any], call_id: str) -> bool:
        return call_id not in outputs

    stand_in.on_invoke_tool = finished
    stand_in.needs_approval = waits
    stand_in.is_enabled = True
    stand_in.tool_input_guardrails = None
    stand_in.tool_output_guardrails = None
    stand_in.timeout_seconds = None
    return stand_in


class _Given(Model):
    """Answers the one request of a rebuilt run with the response the model gave."""

    def __init__(self, response: ModelResponse) -> None:
        self.response = response

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        return self.response

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError("a rebuilt run is not streamed")


def _calls(response: Any) -> dict[str, str]:
    """The function calls of a response: call id -> tool name."""
    return {
        str(getattr(item, "call_id", "")): str(getattr(item, "name", ""))
        for item in response.output
        if getattr(item, "type", None) == "function_call"
    }


def _held(request: dict[str, Any]) -> set[str]:
    """The calls a paused node's saved state stops at, to run again on resume."""
    if request.get("kind") == TOOL_INTERRUPT:
        return {str(c) for c in request.get("held", (request.get("call_id"),))}
    return {str(t.get("call_id")) for t in request.get("tools", ())}


def _no_context(context: Any) -> dict[str, Any]:
    return {}  # the run's context is per process (dependencies): it is given back on resume


# --- going on ----------------------------------------------------------------------------------


async def resumed_state(
    agent: Agent[Any], ctx: Context[Any], sdk_context: Any, ex: Execution
) -> RunState[Any] | None:
    """After a pause at a tool call: the agent's saved run state with the answer applied (the
    approved or rejected calls, or the interrupted call approved to run again), else None."""
    answered = ctx.answered()
    if not answered:
        return None
    request, answer = answered[-1]
    kind = request.get("kind") if isinstance(request, dict) else None
    if kind not in (APPROVAL, TOOL_INTERRUPT):
        return None
    assert isinstance(request, dict)
    state = await RunState.from_string(
        agent, request["state"], context_override=RunContextWrapper(context=sdk_context)
    )
    for item in state.get_interruptions():
        if kind == TOOL_INTERRUPT:
            if item.call_id in _held(request):
                state.approve(item)  # the tool runs again, and this time gets the answer
        elif approves(answer, item):
            state.approve(item)
        else:
            state.reject(item)
    if kind == TOOL_INTERRUPT:
        ctx.rewind(int(request.get("first", 0)))
    ex.resumed = request
    ex.turns = int(request.get("turns", 0))
    return state


def saved_items(request: dict[str, Any] | None) -> int:
    """How many items the saved state of ``request`` holds: a run resumed from it starts its
    ``new_items`` with them (reported when the node paused)."""
    if request is None:
        return 0
    try:
        return len(json.loads(request["state"]).get("generated_items", ()))
    except (KeyError, TypeError, ValueError, AttributeError):
        return 0


def approves(answer: Any, item: Any) -> bool:
    """An approval answer: True/False, "approve"/"reject", or a dict by tool name or call id."""
    if isinstance(answer, dict):
        for key in (getattr(item, "call_id", None), getattr(item, "name", None)):
            if key is not None and key in answer:
                return approves(answer[key], item)
        return False
    if isinstance(answer, str):
        return answer.strip().lower() in ("approve", "approved", "yes", "y", "true", "ok")
    return bool(answer)
