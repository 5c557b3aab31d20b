"""Graph runs in the Agents SDK's traces, seen by an in-memory ``TracingProcessor`` registered with
``agents.add_trace_processor``, with no OpenAI key: one trace per graph run (named by the run
config's workflow name, else the graph), a span per node execution with the SDK's own spans
inside it, a handoff span per handoff edge; a run inside an open trace is a span of it; and the
SDK's exporter to OpenAI gets nothing unless the key is for OpenAI's own endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from agents import Agent, RunConfig, TracingProcessor, add_trace_processor, trace
from agents.tracing import get_trace_provider, set_trace_processors
from pydantic import BaseModel

from orchestrator import END, START, Graph, extend
from orchestrator.agent import graph_from_agent
from orchestrator.tracing import OpenAIExport, gate_openai_export
from tests.support.scripted import call, model, say

USER = [{"role": "user", "content": "I was charged twice"}]


class Memory(TracingProcessor):
    """Keeps every finished trace and span."""

    def __init__(self) -> None:
        self.traces: list[Any] = []
        self.spans: list[Any] = []

    def on_trace_start(self, trace: Any) -> None:
        pass

    def on_trace_end(self, trace: Any) -> None:
        self.traces.append(trace)

    def on_span_start(self, span: Any) -> None:
        pass

    def on_span_end(self, span: Any) -> None:
        self.spans.append(span)

    def shutdown(self) -> None:
        pass

    def force_flush(self) -> None:
        pass

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The exported data of the spans of one type, in the order they finished."""
        found = []
        for span in self.spans:
            data = span.span_data.export()
            if data.get("type") == kind:
                found.append({**data, "id": span.span_id, "parent": span.parent_id})
        return found


def processors() -> tuple[Any, ...]:
    return tuple(get_trace_provider()._multi_processor._processors)  # type: ignore[attr-defined]


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> Iterator[Memory]:
    """Tracing on (other test modules turn it off), no OpenAI key, a memory processor."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    provider = get_trace_provider()
    monkeypatch.setattr(provider, "_manual_disabled", False)
    gate_openai_export()  # as the first traced run does
    before = processors()
    memory = Memory()
    add_trace_processor(memory)
    yield memory
    set_trace_processors(list(before))


def desk() -> Any:
    billing = Agent(name="Billing", model=model(say("Refunded.")))
    triage = Agent(name="Triage", handoffs=[billing], model=model(call("transfer_to_billing")))
    return graph_from_agent(triage, name="support desk")


async def test_one_trace_per_graph_run_with_a_span_per_node(traces: Memory) -> None:
    result = await desk().run({"messages": USER})
    assert result.path == ["triage", "billing"]
    assert [t.name for t in traces.traces] == ["support desk"]
    (run,) = traces.traces
    assert run.group_id == result.run_id
    nodes = [s for s in traces.of("custom") if s["name"] in ("triage", "billing")]
    assert [(n["name"], n["data"]["kind"], n["data"]["agent"]) for n in nodes] == [
        ("triage", "agent", "Triage"),
        ("billing", "agent", "Billing"),
    ]
    assert all(n["parent"] is None for n in nodes)  # directly under the run's trace
    assert all(s.trace_id == run.trace_id for s in traces.spans)


async def test_the_sdks_spans_nest_in_the_node_that_made_them(traces: Memory) -> None:
    await desk().run({"messages": USER})
    spans = {s.span_id: s for s in traces.spans}
    node_of = {s["id"]: s["name"] for s in traces.of("custom") if s["parent"] is None}

    def node(span_id: str | None) -> str | None:
        while span_id is not None and span_id not in node_of:
            span_id = spans[span_id].parent_id
        return node_of.get(span_id) if span_id is not None else None

    agents = {a["name"]: node(a["parent"]) for a in traces.of("agent")}
    assert agents == {"Triage": "triage", "Billing": "billing"}


async def test_a_handoff_is_a_handoff_span(traces: Memory) -> None:
    await desk().run({"messages": USER})
    handoffs = traces.of("handoff")
    assert [(h["from_agent"], h["to_agent"]) for h in handoffs] == [("Triage", "Billing")]


async def test_code_steps_get_spans_too(traces: Memory) -> None:
    class S(BaseModel):
        messages: Annotated[list[dict[str, Any]], extend] = []
        answer: str = ""
        checked: bool = False

    agent = Agent(name="Writer", model=model(say("Hello.")))
    g = Graph(S, name="checked").add_agent("write", agent, output="answer")
    g.add_node("check", lambda state: {"checked": True})
    g.add_edge(START, "write").add_edge("write", "check").add_edge("check", END)
    await g.compile().run({"messages": USER})
    nodes = [(s["name"], s["data"]["kind"]) for s in traces.of("custom") if s["parent"] is None]
    assert nodes == [("write", "agent"), ("check", "code")]


async def test_the_workflow_name_comes_from_the_runs_run_config(traces: Memory) -> None:
    config = RunConfig(workflow_name="Refund desk", trace_metadata={"team": "billing"})
    await desk().run({"messages": USER}, run_config=config)
    (run,) = traces.traces
    assert run.name == "Refund desk"
    assert run.metadata["team"] == "billing" and run.metadata["graph"] == "support desk"


async def test_a_run_config_that_turns_tracing_off_makes_no_trace(traces: Memory) -> None:
    await desk().run({"messages": USER}, run_config=RunConfig(tracing_disabled=True))
    assert traces.traces == [] and traces.spans == []


async def test_a_run_inside_an_open_trace_is_a_span_of_it(traces: Memory) -> None:
    with trace("nightly batch"):
        await desk().run({"messages": USER})
        await desk().run({"messages": USER})
    assert [t.name for t in traces.traces] == ["nightly batch"]
    runs = [s for s in traces.of("custom") if s["name"] == "graph support desk"]
    assert len(runs) == 2
    nodes = [s for s in traces.of("custom") if s["name"] == "triage"]
    assert {n["parent"] for n in nodes} == {r["id"] for r in runs}


async def test_a_code_only_graph_is_not_traced_unless_a_trace_is_open(traces: Memory) -> None:
    class S(BaseModel):
        n: int = 0

    g = Graph(S, name="counting").add_node("inc", lambda s: {"n": s.n + 1})
    graph = g.add_edge(START, "inc").add_edge("inc", END).compile()
    await graph.run()
    assert traces.traces == []
    with trace("job"):
        await graph.run()
    assert [s["name"] for s in traces.of("custom")] == ["inc", "graph counting"]


# --- export to OpenAI --------------------------------------------------------------------------


class Exporter:
    """Stands in for the SDK's exporting processor: records what it would send to OpenAI."""

    def __init__(self) -> None:
        self.traces: list[str] = []
        self.spans = 0

    def on_trace_start(self, trace: Any) -> None:
        self.traces.append(trace.name)

    def on_trace_end(self, trace: Any) -> None:
        pass

    def on_span_start(self, span: Any) -> None:
        pass

    def on_span_end(self, span: Any) -> None:
        self.spans += 1


@pytest.fixture
def exporter(traces: Memory, monkeypatch: pytest.MonkeyPatch) -> Exporter:
    """The gate in front of the SDK's exporter, fed to a stand-in (nothing leaves the host)."""
    gates = [p for p in processors() if isinstance(p, OpenAIExport)]
    assert len(gates) == 1, "the SDK's default processor is behind the gate"
    fake = Exporter()
    monkeypatch.setattr(gates[0], "inner", fake)
    return fake


async def test_no_export_to_openai_with_a_placeholder_key_for_another_server(
    exporter: Exporter, traces: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "placeholder")
    await desk().run({"messages": USER})
    assert [t.name for t in traces.traces] == ["support desk"]  # local processors still see it
    assert exporter.traces == [] and exporter.spans == 0


async def test_no_export_without_a_key(exporter: Exporter, traces: Memory) -> None:
    await desk().run({"messages": USER})
    assert len(traces.traces) == 1
    assert exporter.traces == []


async def test_export_to_openai_with_a_key_for_openais_endpoint(
    exporter: Exporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    await desk().run({"messages": USER})
    assert exporter.traces == ["support desk"] and exporter.spans > 0


@pytest.fixture
def code_keys() -> Iterator[None]:
    """Restores the exporter's key and the default openai client a test sets in code."""
    from agents.models import _openai_shared
    from agents.tracing.processors import default_exporter

    key, client = default_exporter()._api_key, _openai_shared.get_default_openai_client()
    yield
    default_exporter()._api_key = key
    _openai_shared.set_default_openai_client(client)  # type: ignore[arg-type]


async def test_export_with_a_key_set_in_code_for_openai(
    exporter: Exporter, code_keys: None
) -> None:
    from agents import set_default_openai_key

    set_default_openai_key("sk-test")  # the SDK's own way; no OPENAI_API_KEY in the environment
    await desk().run({"messages": USER})
    assert exporter.traces == ["support desk"]


async def test_no_export_with_the_key_of_a_default_client_for_another_server(
    exporter: Exporter, traces: Memory, code_keys: None
) -> None:
    from agents import set_default_openai_client
    from openai import AsyncOpenAI

    set_default_openai_client(AsyncOpenAI(base_url="http://127.0.0.1:8000/v1", api_key="local"))
    await desk().run({"messages": USER})
    assert [t.name for t in traces.traces] == ["support desk"] and exporter.traces == []


GATED_FROM_THE_START = """
import asyncio, json
from agents import trace
from agents.tracing import get_trace_provider
from orchestrator.agent import graph_from_agent  # building agent nodes gates the exporter
from orchestrator.tracing import OpenAIExport
from tests.test_agent_tracing import USER, Exporter, desk

graph = desk()
chain = get_trace_provider()._multi_processor._processors
(gate,) = [p for p in chain if isinstance(p, OpenAIExport)]
gate.inner = fake = Exporter()

async def main():
    with trace("nightly batch"):  # opened before any graph run
        await graph.run({"messages": USER})

asyncio.run(main())
print(json.dumps(fake.traces))
"""


def test_a_trace_opened_before_the_first_graph_run_is_gated_too(tmp_path: Any) -> None:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "x"}
    env.pop("OPENAI_AGENTS_DISABLE_TRACING", None)
    done = subprocess.run(
        [sys.executable, "-c", GATED_FROM_THE_START],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
