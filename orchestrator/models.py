"""Which model answers an agent node, and the recording wrapper every model call goes through.

Imported only when an agent node runs (it imports the Agents SDK). The choice, in order: the
run's ``model=`` option, the node's ``model=``, the agent's own ``model``; names are resolved by
the run's ``model_provider`` or else from the environment: ``OPENAI_BASE_URL`` (any
OpenAI-compatible server, through Chat Completions), ``OPENAI_API_KEY`` (OpenAI), or the
built-in offline model when neither is set.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agents import Model, ModelProvider, ModelResponse, ModelSettings, Usage
from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import TResponseInputItem, TResponseStreamEvent
from agents.tool import FunctionTool, Tool
from openai.types.responses import ResponseCompletedEvent, ResponseTextDeltaEvent

from .errors import pickled_notes
from .events import AgentDelta, Event, ModelCalled
from .offline import OfflineModel, OfflineProvider
from .transport import with_client_options, with_stream_usage

#: The model name used for OpenAI or a compatible server when neither the run, the node nor the
#: agent names one (the SDK's own default brings reasoning settings local servers reject).
DEFAULT_MODEL_ENV = "ORCHESTRATOR_MODEL"


def environment_provider() -> ModelProvider:
    """The provider the environment configures: a compatible server, OpenAI, or offline."""
    base_url = os.environ.get("OPENAI_BASE_URL")
    key = os.environ.get("OPENAI_API_KEY")
    if base_url or key:
        from agents import OpenAIProvider

        if base_url:
            return OpenAIProvider(base_url=base_url, api_key=key or "unused", use_responses=False)
        return OpenAIProvider()
    return OfflineProvider()


def default_model_name(provider: ModelProvider) -> str | None:
    if isinstance(provider, OfflineProvider):
        return "offline"
    return os.environ.get(DEFAULT_MODEL_ENV) or os.environ.get("OPENAI_MODEL") or None


def _item_bytes(item: Any) -> bytes:
    return json.dumps(item, sort_keys=True, default=str, separators=(",", ":")).encode() + b"\n"


def _tool_schema(tool: Any) -> dict[str, Any]:
    if isinstance(tool, FunctionTool):
        return {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.params_json_schema,
            "strict": tool.strict_json_schema,
        }
    return {"name": getattr(tool, "name", type(tool).__name__), "type": type(tool).__name__}


def _output_schema(output_schema: AgentOutputSchemaBase | None) -> Any:
    if output_schema is None:
        return None
    if output_schema.is_plain_text():
        return output_schema.name()
    return {"name": output_schema.name(), "schema": output_schema.json_schema()}


def _settings(model_settings: ModelSettings) -> dict[str, Any]:
    settings = model_settings.to_json_dict()
    extra = settings.get("extra_args")
    if isinstance(extra, dict) and "prompt_cache_key" in extra:  # per run, not per request
        settings["extra_args"] = {k: v for k, v in extra.items() if k != "prompt_cache_key"}
    return settings


def _trailer(
    model: str,
    model_settings: ModelSettings,
    system_instructions: str | None,
    tools: list[Tool],
    output_schema: AgentOutputSchemaBase | None,
    handoffs: list[Handoff[Any, Any]],
) -> bytes:
    rest = {
        "model": model,
        "settings": _settings(model_settings),
        "system": system_instructions,
        "tools": sorted((_tool_schema(t) for t in tools), key=lambda t: str(t["name"])),
        "handoffs": sorted(
            (
                {
                    "name": h.tool_name,
                    "description": h.tool_description,
                    "parameters": h.input_json_schema,
                }
                for h in handoffs
            ),
            key=lambda h: str(h["name"]),
        ),
        "output": _output_schema(output_schema),
    }
    return b"\x00" + json.dumps(rest, sort_keys=True, default=str).encode()


def _items(input: str | list[TResponseInputItem]) -> list[Any]:
    return [{"role": "user", "content": input}] if isinstance(input, str) else list(input)


class _RunningDigest:
    """A stable fingerprint of what was asked, to match a recorded answer to a new request.

    sha256 over each input item's canonical JSON, then the model's name and settings, the
    instructions, the tools' and handoffs' names, descriptions and JSON schemas, and the output
    schema. A conversation grows by appending, so each item is hashed once (an agent loop of n
    calls costs O(n), not O(n^2)); input that is not an append starts over.
    """

    def __init__(self) -> None:
        self._hashed: list[Any] = []
        self._running = hashlib.sha256()

    def digest(
        self,
        model: str,
        model_settings: ModelSettings,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
    ) -> str:
        items = _items(input)
        done = len(self._hashed)
        if done and (len(items) < done or items[done - 1] != self._hashed[-1]):
            self._hashed, self._running, done = [], hashlib.sha256(), 0  # not an append
        for item in items[done:]:
            self._running.update(_item_bytes(item))
            self._hashed.append(item)
        final = self._running.copy()
        final.update(
            _trailer(model, model_settings, system_instructions, tools, output_schema, handoffs)
        )
        return final.hexdigest()


@dataclass(slots=True)
class Recorder:
    """Where the model calls of one node execution are reported (and, on replay, answered)."""

    emit: Callable[[Event], None]
    run_id: str
    node: str
    step: int
    task_id: int
    agent: str
    #: Recorded replay: responses by request digest, in recorded order. None in a live run.
    replay: dict[str, deque[dict[str, Any]]] | None = None
    #: The node's timeout, for the openai clients of its models (which never retry on their
    #: own: the node's retry policy does, visibly).
    timeout: float | None = None

    def recorded(self, digest: str) -> dict[str, Any] | None:
        """The recorded answer to this task's next request with ``digest``, consumed.

        Answers are matched by task and call order first, so two tasks asking the same thing
        (parallel branches with one prompt) each get their own; the request digest checks the
        match. A recording whose tasks do not line up (another graph) falls back to the first
        unused answer with that digest.
        """
        replay = self.replay
        if replay is None:
            return None
        book = _book(replay)
        queue = book.by_task.get((self.task_id, digest))
        if queue:
            entry = queue.popleft()
            with contextlib.suppress(ValueError):
                replay[digest].remove(entry)
            return entry
        if self.task_id in book.tasks:
            return None  # this task was recorded, and never asked this
        shared = replay.get(digest)
        if not shared:
            return None
        entry = shared.popleft()
        task_queue = book.by_task.get((entry.get("task_id"), digest))
        if task_queue:
            with contextlib.suppress(ValueError):
                task_queue.remove(entry)
        return entry


@dataclass(slots=True)
class _Book:
    """A recording indexed by (task id, digest), in recorded order."""

    recording: dict[str, deque[dict[str, Any]]]
    by_task: dict[tuple[Any, str], deque[dict[str, Any]]]
    tasks: set[Any]


#: The last recordings' indexes, by the recording's id (each keeps its recording alive, so the
#: id stays its own).
_BOOKS: dict[int, _Book] = {}


def _book(replay: dict[str, deque[dict[str, Any]]]) -> _Book:
    kept = _BOOKS.get(id(replay))
    if kept is not None and kept.recording is replay:
        return kept
    by_task: dict[tuple[Any, str], deque[dict[str, Any]]] = {}
    for digest, queue in replay.items():
        for entry in queue:
            by_task.setdefault((entry.get("task_id"), digest), deque()).append(entry)
    book = _Book(replay, by_task, {task for task, _ in by_task})
    if len(_BOOKS) >= 4:
        _BOOKS.pop(next(iter(_BOOKS)))
    _BOOKS[id(replay)] = book
    return book


class ReplayMiss(LookupError):
    """A recorded replay met a model request the recording has no answer for."""

    def __init__(self, node: str, digest: str, tool_errors: Sequence[str] = ()) -> None:
        self.node, self.digest = node, digest
        #: The node's tool calls that failed during the replay before this request ("tool
        #: 'name' raised Error: message"): the usual cause of a request that was not recorded.
        self.tool_errors = tuple(tool_errors)
        message = (
            f"node {node!r} made a model request that the recording has no answer for "
            f"(digest {digest[:12]}): "
        )
        if self.tool_errors:
            message += (
                f"during the replay {'; '.join(self.tool_errors)}; if it did not in the "
                "recorded run, that is what changed (a tool that uses the run's dependencies "
                "or SDK context gets them from replay(..., deps=..., context=...))"
            )
        else:
            message += "the graph or its input changed since the run was recorded"
        super().__init__(message)

    def __reduce__(self) -> Any:  # (a Ray worker sends it back pickled)
        return (type(self), (self.node, self.digest, self.tool_errors), pickled_notes(self))


def model_name_of(model: Any) -> str:
    """The name a model object carries, or "" (a scripted or hand-written model)."""
    name = getattr(model, "model", None)
    return name if isinstance(name, str) else ""


class RecordingModel(Model):
    """Wraps a model: reports every call as a `ModelCalled` event, or answers from a recording."""

    def __init__(
        self,
        inner: Model | None,
        recorder: Recorder,
        name: str,
        agent: str | None = None,
        *,
        instance: Any = None,
    ) -> None:
        self.inner = None if inner is None else with_client_options(inner, recorder.timeout)
        self.recorder, self.name = recorder, name
        self.agent = agent or recorder.agent
        #: The model name a request asks for, in its digest: the name, or for a model object
        #: the name it carries (``OpenAIChatCompletionsModel.model``), not its class.
        self.asked = name if instance is None else model_name_of(instance)
        self._digest = _RunningDigest()
        #: Called with each request's input items and each response, before they are
        #: reported (an agent node counts its turns and keeps where its run is).
        self.on_request: Callable[[list[Any]], None] | None = None
        self.on_response: Callable[[ModelResponse], None] | None = None

    def _answer_from_recording(self, digest: str) -> ModelResponse | None:
        if self.recorder.replay is None:
            return None
        entry = self.recorder.recorded(digest)
        if entry is None:
            raise ReplayMiss(self.recorder.node, digest)
        return response_from_json(entry)

    def _report(self, digest: str, response: ModelResponse, started: float) -> None:
        rec = self.recorder
        usage = response.usage
        rec.emit(
            ModelCalled(
                rec.run_id,
                rec.step,
                rec.node,
                rec.task_id,
                self.agent,
                self.name,
                digest,
                # exclude_unset: the items validate back to exactly these fields on replay
                [item.model_dump(mode="json", exclude_unset=True) for item in response.output],
                {
                    "requests": usage.requests,
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "total_tokens": usage.total_tokens,
                },
                time.perf_counter() - started,
                isinstance(self.inner, OfflineModel),
            )
        )

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
        tracing: Any,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: Any,
    ) -> ModelResponse:
        started = time.perf_counter()
        digest = self._digest.digest(
            self.asked, model_settings, system_instructions, input, tools, output_schema, handoffs
        )
        if self.on_request is not None:
            self.on_request(_items(input))
        response = self._answer_from_recording(digest)
        if response is None:
            assert self.inner is not None
            response = await self.inner.get_response(
                system_instructions,
                input,
                model_settings,
                tools,
                output_schema,
                handoffs,
                tracing,
                previous_response_id=previous_response_id,
                conversation_id=conversation_id,
                prompt=prompt,
            )
        if self.on_response is not None:
            self.on_response(response)
        self._report(digest, response, started)
        return response

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
        tracing: Any,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        started = time.perf_counter()
        digest = self._digest.digest(
            self.asked, model_settings, system_instructions, input, tools, output_schema, handoffs
        )
        if self.on_request is not None:
            self.on_request(_items(input))
        recorded = self._answer_from_recording(digest)
        if recorded is not None:
            if self.on_response is not None:
                self.on_response(recorded)
            for event in stream_events_for(recorded):
                yield event
            self._report(digest, recorded, started)
            return
        assert self.inner is not None
        rec = self.recorder
        async for event in self.inner.stream_response(
            system_instructions,
            input,
            with_stream_usage(model_settings),
            tools,
            output_schema,
            handoffs,
            tracing,
            previous_response_id=previous_response_id,
            conversation_id=conversation_id,
            prompt=prompt,
        ):
            if isinstance(event, ResponseTextDeltaEvent):
                rec.emit(
                    AgentDelta(rec.run_id, rec.step, rec.node, rec.task_id, rec.agent, event.delta)
                )
            elif isinstance(event, ResponseCompletedEvent):
                done = event.response
                response = ModelResponse(
                    output=list(done.output), usage=usage_from(done.usage), response_id=done.id
                )
                if self.on_response is not None:
                    self.on_response(response)
                self._report(digest, response, started)
            yield event


class RecordingProvider(ModelProvider):
    """Resolves model names through another provider, wrapping each model for recording.

    Nested runs (agents used as tools) inherit the run config, so their calls are recorded too.
    """

    def __init__(
        self, inner: ModelProvider, recorder: Recorder, agents: dict[str, str] | None = None
    ) -> None:
        self.inner, self.recorder = inner, recorder
        self.agents = agents or {}  # model name -> the agent (used as a tool) that names it

    def get_model(self, model_name: str | None) -> Model:
        name = model_name or default_model_name(self.inner)
        inner = None if self.recorder.replay is not None else self.inner.get_model(name)
        return RecordingModel(inner, self.recorder, name or "default", self.agents.get(name or ""))


def usage_from(raw: Any) -> Usage:
    """A streamed response's usage: one request, with the tokens the server reported."""
    if raw is None:
        return Usage(requests=1)
    return Usage(
        requests=1,
        input_tokens=getattr(raw, "input_tokens", 0) or 0,
        output_tokens=getattr(raw, "output_tokens", 0) or 0,
        total_tokens=getattr(raw, "total_tokens", 0) or 0,
    )


@functools.cache
def _output_items() -> Any:
    from openai.types.responses import ResponseOutputItem
    from pydantic import TypeAdapter

    return TypeAdapter(list[ResponseOutputItem])  # built once: it costs milliseconds


def response_from_json(data: dict[str, Any]) -> ModelResponse:
    """Rebuild a recorded response (output items and usage) without calling any model."""
    usage = data.get("usage") or {}
    return ModelResponse(
        output=_output_items().validate_python(data["response"]),
        usage=Usage(
            requests=usage.get("requests", 1),
            input_tokens=usage.get("input_tokens", 0),
            output_tokens=usage.get("output_tokens", 0),
            total_tokens=usage.get("total_tokens", 0),
        ),
        response_id=None,
    )


def stream_events_for(response: ModelResponse) -> list[TResponseStreamEvent]:
    """The minimal stream (created, items, completed) that lets run_streamed consume a
    recorded response."""
    from openai.types.responses import (
        Response,
        ResponseCompletedEvent,
        ResponseCreatedEvent,
        ResponseOutputItemAddedEvent,
        ResponseOutputItemDoneEvent,
    )

    base = Response(
        id="resp_replay",
        created_at=0,
        model="replay",
        object="response",
        output=[],
        parallel_tool_calls=False,
        tool_choice="auto",
        tools=[],
    )
    events: list[TResponseStreamEvent] = [
        ResponseCreatedEvent(type="response.created", response=base, sequence_number=0)
    ]
    seq = 1
    for index, item in enumerate(response.output):
        events.append(
            ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=item,
                output_index=index,
                sequence_number=seq,
            )
        )
        events.append(
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                item=item,
                output_index=index,
                sequence_number=seq + 1,
            )
        )
        seq += 2
    done = base.model_copy(update={"output": list(response.output)})
    events.append(
        ResponseCompletedEvent(type="response.completed", response=done, sequence_number=seq)
    )
    return events
