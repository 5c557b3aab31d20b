"""Recorded replay counts model requests where they go out (the offline model's calls, the HTTP
requests of every openai client), below every recording wrapper: code that calls a model
around the recording makes the replay report ``model_calls > 0``, a "live model call"
divergence and a note naming the node, never a clean match."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from agents import Agent, OpenAIProvider, RunConfig, function_tool
from agents.run import AgentRunner

from orchestrator.agent import graph_from_agent
from orchestrator.offline import OfflineProvider
from orchestrator.store import SQLiteStore
from tests.support.chat_server import ChatServer
from tests.support.scripted import call, model, say

USER = [{"role": "user", "content": "Look into it"}]


def desk(config: RunConfig) -> Any:
    """An agent whose tool runs a helper agent with a runner of its own (not ``Runner.run``),
    so the helper's model call goes around the node's recording."""
    helper = Agent(name="Helper", instructions="Help.", model="helper-model")

    @function_tool
    async def ask_helper(question: str) -> str:
        """Ask the helper."""
        result = await AgentRunner().run(helper, question, run_config=config)
        return str(result.final_output)

    lead = Agent(
        name="Lead",
        tools=[ask_helper],
        model=model(call("ask_helper", {"question": "why?"}), say("Because.")),
    )
    return graph_from_agent(lead)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


async def test_a_faithful_replay_reaches_no_model(tmp_path: Path) -> None:
    lead = Agent(name="Lead", model=model(say("Fine.")))
    store = SQLiteStore(tmp_path / "runs.db")
    run = await graph_from_agent(lead).run({"messages": USER}, store=store)
    again = Agent(name="Lead", model=model())  # never asked: the recording answers
    report = await graph_from_agent(again).replay(run.run_id, store=store)
    assert report.matched and report.model_calls == 0 and report.notes == []


async def test_a_call_to_the_offline_model_around_the_recording_is_reported(
    tmp_path: Path,
) -> None:
    config = RunConfig(model_provider=OfflineProvider(), tracing_disabled=True)
    store = SQLiteStore(tmp_path / "runs.db")
    run = await desk(config).run({"messages": USER}, store=store)
    assert run.state.answer == "Because."
    report = await desk(config).replay(run.run_id, store=store)
    assert report.model_calls == 1
    assert not report.matched
    assert (report.reason, report.diverged_at) == ("live model call", 1)
    assert "node 'lead' at step 1" in report.notes[-1]


async def test_an_http_request_around_the_recording_is_counted_and_reported(
    tmp_path: Path,
) -> None:
    with ChatServer(responses=["from the server"] * 2) as srv:
        provider = OpenAIProvider(base_url=srv.base_url, api_key="unused", use_responses=False)
        config = RunConfig(model_provider=provider, tracing_disabled=True)
        store = SQLiteStore(tmp_path / "runs.db")
        run = await desk(config).run({"messages": USER}, store=store)
        assert len(srv.requests) == 1
        report = await desk(config).replay(run.run_id, store=store)
        assert len(srv.requests) == 2  # the replay did reach the server
    assert report.model_calls == 1
    assert report.reason == "live model call"


def own_client_model(base_url: str) -> RunConfig:
    from agents import OpenAIChatCompletionsModel
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="unused")
    return RunConfig(
        model=OpenAIChatCompletionsModel("helper-model", client), tracing_disabled=True
    )


def own_client_provider(base_url: str) -> RunConfig:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="unused")
    provider = OpenAIProvider(openai_client=client, use_responses=False)
    return RunConfig(model_provider=provider, tracing_disabled=True)


@pytest.mark.parametrize("make", [own_client_model, own_client_provider], ids=["model", "provider"])
async def test_a_request_of_an_openai_client_of_its_own_is_counted_too(
    tmp_path: Path, make: Any
) -> None:
    """The helper's model has an openai client the user made (not the SDK's shared one)."""
    with ChatServer(responses=["from the server"] * 2) as srv:
        config = make(srv.base_url)
        store = SQLiteStore(tmp_path / "runs.db")
        run = await desk(config).run({"messages": USER}, store=store)
        assert len(srv.requests) == 1
        report = await desk(config).replay(run.run_id, store=store)
        assert len(srv.requests) == 2
    assert report.model_calls == 1 and not report.matched
    assert (report.reason, report.diverged_at) == ("live model call", 1)
    assert "node 'lead' at step 1" in report.notes[-1]


async def test_a_default_openai_client_set_in_code_is_counted_too(tmp_path: Path) -> None:
    from agents import set_default_openai_api, set_default_openai_client
    from agents.models import _openai_shared
    from openai import AsyncOpenAI

    before = (
        _openai_shared.get_default_openai_client(),
        _openai_shared.get_use_responses_by_default(),
    )
    with ChatServer(responses=["from the server"] * 2) as srv:
        set_default_openai_client(AsyncOpenAI(base_url=srv.base_url, api_key="unused"))
        set_default_openai_api("chat_completions")
        try:
            config = RunConfig(model_provider=OpenAIProvider(), tracing_disabled=True)
            store = SQLiteStore(tmp_path / "runs.db")
            run = await desk(config).run({"messages": USER}, store=store)
            report = await desk(config).replay(run.run_id, store=store)
            assert len(srv.requests) == 2
        finally:
            _openai_shared.set_default_openai_client(before[0])
            _openai_shared.set_use_responses_by_default(before[1])
    assert report.model_calls == 1 and report.reason == "live model call"
