"""The transport of agent nodes, against the local Chat Completions server on 127.0.0.1: a default
timeout (overridable per run and per node) stops a hanging server, the openai client makes no
retries of its own (every retry is the node's, a ``NodeRetried`` event, and is counted at the
server), streamed runs ask a compatible server for their usage, and a failed or timed-out node
keeps its conversation items and model calls in its events."""

from __future__ import annotations

import os
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import pytest

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from agents import Agent, ModelSettings, function_tool
from pydantic import BaseModel

import orchestrator.agent
from orchestrator import (
    END,
    START,
    AgentItem,
    Graph,
    ModelCalled,
    NodeRetried,
    NodeTimeoutError,
    RetryPolicy,
    RunStatus,
    extend,
)
from orchestrator.store import SQLiteStore
from orchestrator.transport import DEFAULT_AGENT_TIMEOUT, with_client_options
from tests.support.chat_server import ChatServer, ErrorReply, ScriptStep, ToolCall

USER = [{"role": "user", "content": "Where is order 77812?"}]


class Desk(BaseModel):
    messages: Annotated[list[dict[str, Any]], extend] = []
    answer: str = ""


@function_tool
def lookup_order(order_id: str) -> str:
    """Look up the shipping status of an order."""
    return f"order {order_id}: shipped on Monday"


@pytest.fixture
def release(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Lets the server's hanging answers go at the end of the test (their client is gone by
    then: the broken pipe is expected, not reported)."""
    monkeypatch.setattr(socketserver.BaseServer, "handle_error", lambda *args: None)
    event = threading.Event()
    yield event
    event.set()
    time.sleep(0.1)


def timed_out(result: Any) -> NodeTimeoutError:
    """The run's error: the node's timeout."""
    error = getattr(result.error, "cause", result.error)
    assert isinstance(error, NodeTimeoutError), result.error
    return error


def hang(release: threading.Event) -> ScriptStep:
    """A scripted answer that does not come (until the test ends)."""

    def wait(body: dict[str, Any]) -> str:
        release.wait(10)
        return "too late"

    return wait


@contextmanager
def server(monkeypatch: pytest.MonkeyPatch, script: list[ScriptStep]) -> Iterator[ChatServer]:
    """The local server, configured the way a user would (environment variables only)."""
    with ChatServer(responses=script) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("ORCHESTRATOR_MODEL", "local-test")
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield srv


def desk(**options: Any) -> Any:
    agent = Agent(name="Order Agent", instructions="Track orders.", tools=[lookup_order])
    stream = options.pop("stream", False)
    g = Graph(Desk, name="desk").add_agent(
        "orders", agent, output="answer", stream=stream, **options
    )
    return g.add_edge(START, "orders").add_edge("orders", END).compile()


# --- timeouts ------------------------------------------------------------------------------------


def test_agent_nodes_have_a_default_timeout_of_two_minutes() -> None:
    assert DEFAULT_AGENT_TIMEOUT == 120.0


async def test_a_hanging_server_is_stopped_by_the_default_timeout(
    monkeypatch: pytest.MonkeyPatch, release: threading.Event
) -> None:
    monkeypatch.setattr(orchestrator.agent, "DEFAULT_AGENT_TIMEOUT", 0.5)
    with server(monkeypatch, [hang(release)]) as srv:
        started = time.monotonic()
        result = await desk().run({"messages": USER}, raise_on_error=False)
        took = time.monotonic() - started
    assert result.status is RunStatus.FAILED
    assert timed_out(result).seconds == 0.5
    assert "within its timeout of 0.5 s" in str(result.error)
    assert took < 5
    assert len(srv.requests) == 1  # and the client did not try again by itself


async def test_a_runs_agent_timeout_replaces_the_default(
    monkeypatch: pytest.MonkeyPatch, release: threading.Event
) -> None:
    with server(monkeypatch, [hang(release)]) as srv:
        started = time.monotonic()
        result = await desk().run({"messages": USER}, raise_on_error=False, agent_timeout=0.4)
    assert timed_out(result).seconds == 0.4
    assert time.monotonic() - started < 5
    assert len(srv.requests) == 1


async def test_a_nodes_own_timeout_wins_over_the_runs(
    monkeypatch: pytest.MonkeyPatch, release: threading.Event
) -> None:
    with server(monkeypatch, [hang(release)]):
        result = await desk(timeout=0.3).run(
            {"messages": USER}, raise_on_error=False, agent_timeout=60
        )
    assert timed_out(result).seconds == 0.3


# --- retries -------------------------------------------------------------------------------------


async def test_every_retry_is_the_nodes_own_and_is_counted_at_the_server(
    monkeypatch: pytest.MonkeyPatch, release: threading.Event
) -> None:
    # The openai client would retry a timed-out request twice on its own: 6 requests for a
    # policy of 2 attempts, with no event for 4 of them.
    with server(monkeypatch, [hang(release), hang(release)]) as srv:
        graph = desk(retry=RetryPolicy(max_attempts=2, initial_delay=0))
        result = await graph.run(
            {"messages": USER}, raise_on_error=False, agent_timeout=0.4, events=True
        )
    timed_out(result)
    assert len(srv.requests) == 2
    retried = [e for e in result.events if isinstance(e, NodeRetried)]
    assert [e.attempt for e in retried] == [1]


def drop_connection(body: dict[str, Any]) -> str:
    """A scripted answer that never comes: the server drops the connection (which the openai
    client, left to itself, retries twice with backoff)."""
    raise ConnectionAbortedError("dropped")


async def test_a_dropped_connection_is_retried_by_the_node_not_by_the_client(
    monkeypatch: pytest.MonkeyPatch, release: threading.Event
) -> None:
    script: list[ScriptStep] = [drop_connection, drop_connection, "Shipped on Monday."]
    with server(monkeypatch, script) as srv:
        graph = desk(retry=RetryPolicy(max_attempts=3, initial_delay=0))
        result = await graph.run({"messages": USER}, events=True)
    assert result.state.answer == "Shipped on Monday."
    assert len(srv.requests) == 3
    retried = [e for e in result.events if isinstance(e, NodeRetried)]
    assert [e.attempt for e in retried] == [1, 2]  # one event per request that failed


def test_a_nodes_models_get_its_timeout_and_no_client_retries() -> None:
    from agents import OpenAIChatCompletionsModel
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="unused")
    model = OpenAIChatCompletionsModel(model="local-test", openai_client=client)
    adjusted = with_client_options(model, 7.0)
    assert (adjusted._client.timeout, adjusted._client.max_retries) == (7.0, 0)
    assert model._client is client and client.max_retries == 2  # the user's model is untouched


async def test_a_server_error_is_retried_by_the_nodes_policy_until_it_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script: list[ScriptStep] = [ErrorReply(503), ErrorReply(500), "Shipped on Monday."]
    with server(monkeypatch, script) as srv:
        graph = desk(retry=RetryPolicy(max_attempts=3, initial_delay=0))
        result = await graph.run({"messages": USER}, events=True)
    assert result.state.answer == "Shipped on Monday."
    assert len(srv.requests) == 3
    assert sum(isinstance(e, NodeRetried) for e in result.events) == 2
    assert result.usage["orders"]["requests"] == 1  # the attempts that failed had no answer


# --- usage ---------------------------------------------------------------------------------------


async def test_requests_and_usage_are_recorded_as_the_server_counts_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script: list[ScriptStep] = [ToolCall("lookup_order", {"order_id": "77812"}), "Monday."]
    with server(monkeypatch, script) as srv:
        result = await desk().run({"messages": USER}, events=True)
    calls = [e for e in result.events if isinstance(e, ModelCalled)]
    assert len(calls) == len(srv.requests) == 2
    assert result.usage["orders"]["requests"] == 2
    assert all(c.usage["input_tokens"] > 0 and c.usage["output_tokens"] > 0 for c in calls)


async def test_a_streamed_run_asks_a_compatible_server_for_its_usage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script: list[ScriptStep] = [ToolCall("lookup_order", {"order_id": "77812"}), "Monday."]
    with server(monkeypatch, script) as srv:
        result = await desk(stream=True).run({"messages": USER}, events=True)
    assert result.state.answer == "Monday."
    assert [r["stream"] for r in srv.requests] == [True, True]
    assert all(r["stream_options"] == {"include_usage": True} for r in srv.requests)
    calls = [e for e in result.events if isinstance(e, ModelCalled)]
    assert [c.usage["requests"] for c in calls] == [1, 1]
    assert all(c.usage["input_tokens"] > 0 for c in calls)
    usage = result.usage["orders"]
    assert usage["requests"] == 2 and usage["total_tokens"] > 0


async def test_a_stream_told_not_to_report_usage_still_counts_its_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agent = Agent(
        name="Quiet", instructions="Answer.", model_settings=ModelSettings(include_usage=False)
    )
    g = Graph(Desk, name="quiet").add_agent("quiet", agent, output="answer", stream=True)
    graph = g.add_edge(START, "quiet").add_edge("quiet", END).compile()
    with server(monkeypatch, ["Fine."]) as srv:
        result = await graph.run({"messages": USER})
    assert srv.requests[0]["stream_options"] == {"include_usage": False}
    assert result.usage["quiet"]["requests"] == 1


# --- a failed node keeps what it did ----------------------------------------------------------


async def test_a_failed_node_keeps_its_items_and_model_calls_in_its_events(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script: list[ScriptStep] = [
        ToolCall("lookup_order", {"order_id": "77812"}),
        ErrorReply(500, "the model crashed"),
    ]
    store = SQLiteStore(tmp_path / "runs.db")
    with server(monkeypatch, script) as srv:
        result = await desk().run({"messages": USER}, store=store, raise_on_error=False)
    assert result.status is RunStatus.FAILED
    assert len(srv.requests) == 2
    loaded = await desk().load(result.run_id, store=store)
    items = [(e.kind, e.content) for e in loaded.events if isinstance(e, AgentItem)]
    assert items == [
        ("tool_call", '{"order_id":"77812"}'),
        ("tool_output", "order 77812: shipped on Monday"),
    ]
    assert sum(isinstance(e, ModelCalled) for e in loaded.events) == 1


async def test_a_timed_out_node_keeps_its_items_too(
    monkeypatch: pytest.MonkeyPatch, release: threading.Event
) -> None:
    script: list[ScriptStep] = [ToolCall("lookup_order", {"order_id": "77812"}), hang(release)]
    with server(monkeypatch, script):
        result = await desk().run(
            {"messages": USER}, raise_on_error=False, agent_timeout=0.5, events=True
        )
    timed_out(result)
    kinds = [e.kind for e in result.events if isinstance(e, AgentItem)]
    assert kinds == ["tool_call", "tool_output"]
    assert sum(isinstance(e, ModelCalled) for e in result.events) == 1


async def test_a_failed_handoff_free_turn_budget_keeps_the_sdk_items(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script: list[ScriptStep] = [ToolCall("lookup_order", {"order_id": "77812"})]
    with server(monkeypatch, script):
        result = await desk(max_turns=1).run({"messages": USER}, raise_on_error=False, events=True)
    assert result.status is RunStatus.FAILED and "MaxTurnsExceeded" in str(result.error)
    kinds = [e.kind for e in result.events if isinstance(e, AgentItem)]
    assert kinds == ["tool_call", "tool_output"]
