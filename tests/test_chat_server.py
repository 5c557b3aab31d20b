"""The SDK's real Chat Completions HTTP path against the local scripted server."""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from typing import Any

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import openai
import pytest
from agents import Agent, OpenAIProvider, RunConfig, Runner, function_tool
from openai.types.responses import ResponseTextDeltaEvent
from pydantic import BaseModel

from tests.support.chat_server import ChatServer, ErrorReply, ToolCall

MODEL = "local-test"


@pytest.fixture(autouse=True)
def _no_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")


def config(srv: ChatServer) -> RunConfig:
    # Built inside the running test loop: the provider creates its AsyncOpenAI client lazily.
    provider = OpenAIProvider(base_url=srv.base_url, api_key="test", use_responses=False)
    return RunConfig(model_provider=provider, tracing_disabled=True)


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_text_answer() -> None:
    with ChatServer(responses=["Hello from the local server."]) as srv:
        agent = Agent(name="greeter", instructions="Be brief.", model=MODEL)
        result = await Runner.run(agent, "Say hello", run_config=config(srv))

        assert result.final_output == "Hello from the local server."
        [request] = srv.requests
        assert request["model"] == MODEL
        assert request["messages"][0] == {"role": "system", "content": "Be brief."}
        assert request["messages"][-1]["content"] == "Say hello"
        assert result.context_wrapper.usage.requests == 1
        assert result.context_wrapper.usage.total_tokens > 0
        srv.assert_complete()


@function_tool
def lookup_order(order_id: str) -> str:
    """Look up an order by id."""
    return f"order {order_id}: shipped"


async def test_function_tool_call_then_answer() -> None:
    script = [
        ToolCall("lookup_order", {"order_id": "A-17"}),
        lambda body: f"Done: {body['messages'][-1]['content']}",
    ]
    with ChatServer(responses=script) as srv:
        agent = Agent(name="support", tools=[lookup_order], model=MODEL)
        result = await Runner.run(agent, "Where is order A-17?", run_config=config(srv))

        assert result.final_output == "Done: order A-17: shipped"
        first, second = srv.requests
        assert [t["function"]["name"] for t in first["tools"]] == ["lookup_order"]
        tool_message = second["messages"][-1]
        assert tool_message["role"] == "tool"
        assert tool_message["tool_call_id"] == "call_1_0"
        srv.assert_complete()


class Verdict(BaseModel):
    label: str
    score: int


async def test_structured_output() -> None:
    with ChatServer(responses=[json.dumps({"label": "billing", "score": 8})]) as srv:
        agent = Agent(name="classifier", output_type=Verdict, model=MODEL)
        result = await Runner.run(agent, "I was charged twice", run_config=config(srv))

        assert result.final_output == Verdict(label="billing", score=8)
        response_format = srv.requests[0]["response_format"]
        assert response_format["type"] == "json_schema"
        assert response_format["json_schema"]["schema"]["required"] == ["label", "score"]


async def test_streamed_run_with_tool_call() -> None:
    script = [ToolCall("lookup_order", '{"order_id": "B-2"}'), "The order B-2 has shipped."]
    with ChatServer(responses=script, stream_chunk_chars=4) as srv:
        agent = Agent(name="support", tools=[lookup_order], model=MODEL)
        streamed = Runner.run_streamed(agent, "Where is B-2?", run_config=config(srv))
        deltas = [
            event.data.delta
            async for event in streamed.stream_events()
            if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent)
        ]

        assert streamed.final_output == "The order B-2 has shipped."
        assert "".join(deltas) == "The order B-2 has shipped."
        assert len(deltas) > 1
        assert all(request["stream"] is True for request in srv.requests)
        assert srv.requests[1]["messages"][-1]["content"] == "order B-2: shipped"


async def test_exhausted_script_fails_fast_with_a_clear_error() -> None:
    with ChatServer(responses=[]) as srv:
        agent = Agent(name="a", model=MODEL)
        with pytest.raises(openai.InternalServerError, match="script exhausted"):
            await Runner.run(agent, "hi", run_config=config(srv))
        # x-should-retry: false keeps the openai client from retrying with backoff.
        assert len(srv.requests) == 1


def test_scripted_errors_request_limit_and_unknown_paths() -> None:
    script = [ErrorReply(429, "slow down"), "ok", "unused"]
    with ChatServer(responses=script, max_requests=2) as srv:
        url = f"{srv.base_url}/chat/completions"
        assert post(url, {"model": "m", "messages": []}) == (
            429,
            {"error": {"message": "slow down", "type": "invalid_request_error", "code": 429}},
        )
        status, body = post(url, {"model": "m", "messages": []})
        assert status == 200
        assert body["choices"][0]["message"]["content"] == "ok"
        status, body = post(url, {"model": "m", "messages": []})
        assert status == 503
        assert "request limit" in body["error"]["message"]
        assert len(srv.requests) == 2
        assert post(f"{srv.base_url}/responses", {})[0] == 404
        with pytest.raises(AssertionError, match="1 scripted response"):
            srv.assert_complete()


def test_binds_loopback_only_and_stops_on_exit() -> None:
    with ChatServer() as srv:
        port = srv.port
        assert srv.base_url == f"http://127.0.0.1:{port}/v1"
        assert srv._httpd is not None and srv._httpd.server_address[0] == "127.0.0.1"
        thread = srv._thread
    assert thread is not None and not thread.is_alive()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
