"""Agent nodes through the real ``agents.Runner`` with scripted models: handoffs as graph edges,
agents as tools, shared context, structured routing, failures, recording and streaming."""

from __future__ import annotations

import enum
import os
import subprocess
import sys
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from agents import (
    Agent,
    GuardrailFunctionOutput,
    RunContextWrapper,
    function_tool,
    handoff,
    input_guardrail,
)
from agents.testing import ModelStep

from orchestrator import (
    END,
    START,
    AgentDelta,
    AgentItem,
    AgentRunError,
    CapExceededError,
    Context,
    Graph,
    ModelCalled,
    NodeFailedError,
    RetryPolicy,
    RunStatus,
    UnknownHandoffError,
    extend,
)
from tests.support.scripted import ScriptedProvider, call, model, say, structured


class Chat(BaseModel):
    messages: Annotated[list[dict[str, Any]], extend] = []
    answer: str = ""
    findings: Annotated[list[str], extend] = []


def last_text(result: Any) -> str:
    for item in reversed(result.state.messages):
        if item.get("role") == "assistant" and item.get("type", "message") == "message":
            return str(item["content"][0]["text"])
    raise AssertionError("no assistant message")


def customer_service(triage_turns: list[Any], specialist: str, answer: str) -> Any:
    specialists = {
        name: Agent(
            name=name,
            instructions=f"You are {name}.",
            model=model(say(answer)) if name == specialist else model(),
        )
        for name in ("Technical Support Agent", "Sales Assistant Agent", "Order Management Agent")
    }
    triage = Agent(
        name="Triage Agent",
        instructions="Route the customer.",
        handoffs=list(specialists.values()),
        model=model(*triage_turns),
    )
    g = Graph(Chat, name="customer-service").add_agent("triage", triage)
    for node, agent in zip(("technical", "sales", "orders"), specialists.values(), strict=True):
        g.add_agent(node, agent, output="answer").add_edge(node, END)
    g.add_edge(START, "triage").add_edge("triage", END)
    return g.compile()


# --- handoffs as edges -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "node", "agent"),
    [
        ("transfer_to_technical_support_agent", "technical", "Technical Support Agent"),
        ("transfer_to_sales_assistant_agent", "sales", "Sales Assistant Agent"),
        ("transfer_to_order_management_agent", "orders", "Order Management Agent"),
    ],
)
async def test_triage_hands_off_to_each_specialist(tool: str, node: str, agent: str) -> None:
    graph = customer_service([call(tool)], agent, f"{agent} here, all sorted.")
    result = await graph.run({"messages": [{"role": "user", "content": "help me"}]}, events=True)
    assert result.path == ["triage", node]
    assert result.state.answer == f"{agent} here, all sorted."
    taken = [(e.source, e.target, e.kind) for e in result.events if type(e).__name__ == "EdgeTaken"]
    assert ("triage", node, "handoff") in taken
    # The specialist saw the whole conversation, including the handoff.
    assert any(
        m.get("type") == "function_call" and m["name"] == tool for m in result.state.messages
    )


async def test_the_handoff_tools_look_native_to_the_model() -> None:
    triage_model = model(call("transfer_to_sales_assistant_agent"))
    specialists = [Agent(name="Sales Assistant Agent", model=model(say("hi")))]
    triage = Agent(name="Triage Agent", handoffs=specialists, model=triage_model)
    g = Graph(Chat).add_agent("triage", triage).add_agent("sales", specialists[0])
    g.add_edge(START, "triage").add_edge("triage", END).add_edge("sales", END)
    await g.compile().run({"messages": [{"role": "user", "content": "buy"}]})
    seen = triage_model.calls[0]
    tool = next(t for t in seen.tools if t.name == "transfer_to_sales_assistant_agent")
    assert tool.description == "Handoff to the Sales Assistant Agent agent to handle the request. "
    assert seen.handoffs == []  # the scheduler, not Runner, follows it


async def test_triage_answering_itself_ends_without_a_handoff() -> None:
    graph = customer_service([say("Happy to help directly.")], "Sales Assistant Agent", "x")
    result = await graph.run({"messages": [{"role": "user", "content": "hello"}]})
    assert result.path == ["triage"]
    assert last_text(result) == "Happy to help directly."


async def test_nested_handoffs_two_levels_deep() -> None:
    refund = Agent(name="Refund Processor", model=model(say("Refund issued.")))
    investigator = Agent(name="Payment Investigator", model=model())
    billing = Agent(
        name="Billing Agent",
        handoffs=[refund, investigator],
        model=model(call("transfer_to_refund_processor")),
    )
    triage = Agent(
        name="Triage Agent", handoffs=[billing], model=model(call("transfer_to_billing_agent"))
    )
    g = Graph(Chat).add_agent("triage", triage).add_agent("billing", billing)
    g.add_agent("refund", refund, output="answer").add_agent("investigate", investigator)
    g.add_edge(START, "triage")
    for n in ("triage", "billing", "refund", "investigate"):
        g.add_edge(n, END)
    result = await g.compile().run({"messages": [{"role": "user", "content": "refund me"}]})
    assert result.path == ["triage", "billing", "refund"]
    assert result.state.answer == "Refund issued."


async def test_handoff_under_an_edge_cap_takes_the_exit() -> None:
    ping = Agent(name="Ping", model=model(*[call("transfer_to_pong")] * 3))
    pong = Agent(name="Pong", handoffs=[ping], model=model(*[call("transfer_to_ping")] * 2))
    ping.handoffs = [pong]
    g = Graph(Chat).add_agent("ping", ping).add_agent("pong", pong)
    g.add_node("referee", lambda s: {"answer": "enough"}).add_edge("referee", END)
    g.add_edge(START, "ping").cap_edge("ping", "pong", 2, exit="referee")
    result = await g.compile().run({"messages": [{"role": "user", "content": "go"}]})
    assert result.path == ["ping", "pong", "ping", "pong", "ping", "referee"]
    assert result.state.answer == "enough"


async def test_handoff_cap_without_exit_fails_naming_the_edge() -> None:
    ping = Agent(name="Ping", model=model(*[call("transfer_to_pong")] * 2))
    pong = Agent(name="Pong", handoffs=[ping], model=model(call("transfer_to_ping")))
    ping.handoffs = [pong]
    g = Graph(Chat).add_agent("ping", ping).add_agent("pong", pong)
    g.add_edge(START, "ping").add_edge("ping", END).cap_edge("ping", "pong", 1)
    with pytest.raises(CapExceededError, match="edge 'ping' -> 'pong' reached its cap of 1"):
        await g.compile().run({"messages": [{"role": "user", "content": "go"}]})


def test_handoff_to_an_agent_that_is_not_a_node_is_a_compile_error() -> None:
    stranger = Agent(name="Stranger")
    triage = Agent(name="Triage Agent", handoffs=[stranger])
    g = Graph(Chat).add_agent("triage", triage).add_edge(START, "triage").add_edge("triage", END)
    with pytest.raises(
        UnknownHandoffError,
        match="agent node 'triage' \\(agent 'Triage Agent'\\) hands off to agent 'Stranger'",
    ):
        g.compile()


async def test_handoff_options_keep_working() -> None:
    class Escalation(BaseModel):
        reason: str

    seen: list[str] = []

    async def on_escalate(ctx: RunContextWrapper[Any], data: Escalation) -> None:
        seen.append(data.reason)

    manager = Agent(name="Manager", model=model(say("I'm the manager.")))
    hidden = Agent(name="Hidden", model=model())
    triage_model = model(call("escalate", {"reason": "angry customer"}))
    triage = Agent(
        name="Triage Agent",
        handoffs=[
            handoff(
                manager,
                tool_name_override="escalate",
                tool_description_override="Escalate.",
                on_handoff=on_escalate,
                input_type=Escalation,
            ),
            handoff(hidden, is_enabled=False),
        ],
        model=triage_model,
    )
    g = Graph(Chat).add_agent("triage", triage).add_agent("manager", manager)
    g.add_agent("hidden", hidden)
    g.add_edge(START, "triage")
    for n in ("triage", "manager", "hidden"):
        g.add_edge(n, END)
    result = await g.compile().run({"messages": [{"role": "user", "content": "!!"}]})
    assert result.path == ["triage", "manager"]
    assert seen == ["angry customer"]
    offered = [t.name for t in triage_model.calls[0].tools]
    assert offered == ["escalate"]  # the disabled handoff is hidden, as natively
    assert triage_model.calls[0].tools[0].description == "Escalate."


# --- import from the SDK ---------------------------------------------------------------------


async def test_graph_from_agent_builds_the_handoff_tree_in_one_call() -> None:
    from orchestrator.agent import graph_from_agent

    translator = Agent(name="Translator", instructions="Translate.")
    orders = Agent(
        name="Order Management Agent",
        tools=[translator.as_tool("translate", "Translate text")],
        model=model(say("Your order ships Friday.")),
    )
    sales = Agent(name="Sales Assistant Agent", model=model())
    triage = Agent(
        name="Triage Agent",
        handoffs=[sales, orders],
        model=model(call("transfer_to_order_management_agent")),
    )
    graph = graph_from_agent(triage)
    assert set(graph.nodes) == {"triage_agent", "sales_assistant_agent", "order_management_agent"}
    assert graph.nodes["order_management_agent"].meta["agent_tools"] == {"translate": "Translator"}
    handoffs = {(e.source, e.target) for e in graph.edges if e.kind == "handoff"}
    assert handoffs == {
        ("triage_agent", "sales_assistant_agent"),
        ("triage_agent", "order_management_agent"),
    }
    result = await graph.run({"messages": [{"role": "user", "content": "Where is my order?"}]})
    assert result.path == ["triage_agent", "order_management_agent"]
    assert last_text(result) == "Your order ships Friday."


# --- agents as tools, shared context ---------------------------------------------------------


async def test_supervisor_with_agents_as_tools_stays_in_its_node_and_records_nested_calls() -> None:
    translator = Agent(
        name="Spanish Translator", instructions="Translate to Spanish.", model="translator-model"
    )
    supervisor = Agent(
        name="Supervisor",
        model="supervisor-model",
        tools=[translator.as_tool("translate_to_spanish", "Translate text to Spanish")],
    )
    provider = ScriptedProvider(
        {
            "supervisor-model": model(
                call("translate_to_spanish", {"input": "hello"}), say("In Spanish: hola")
            ),
            "translator-model": model(say("hola")),
        }
    )
    g = Graph(Chat).add_agent("supervisor", supervisor, output="answer")
    g.add_edge(START, "supervisor").add_edge("supervisor", END)
    result = await g.compile().run(
        {"messages": [{"role": "user", "content": "hello"}]}, model_provider=provider, events=True
    )
    assert result.path == ["supervisor"]
    assert result.state.answer == "In Spanish: hola"
    calls = [e for e in result.events if isinstance(e, ModelCalled)]
    assert [(c.node, c.agent) for c in calls] == [
        ("supervisor", "Supervisor"),
        ("supervisor", "Spanish Translator"),
        ("supervisor", "Supervisor"),
    ]
    assert result.usage["supervisor"]["requests"] == 3
    tool_calls = [e for e in result.events if isinstance(e, AgentItem) and e.kind == "tool_call"]
    assert [t.name for t in tool_calls] == ["translate_to_spanish"]


async def test_tools_write_to_shared_state_through_the_context() -> None:
    @function_tool
    def record_finding(ctx: RunContextWrapper[Context[Any]], finding: str) -> str:
        """Record a research finding."""
        ctx.context.update(findings=[finding])
        return "recorded"

    @function_tool
    def read_topic(ctx: RunContextWrapper[Context[Any]]) -> str:
        """Read the topic from the run's dependencies."""
        return str(ctx.context.deps["topic"])

    researcher = Agent(
        name="Researcher",
        tools=[record_finding, read_topic],
        model=model(
            call("read_topic"),
            call("record_finding", {"finding": "joins wait"}),
            call("record_finding", {"finding": "caps exit"}),
            say("Two findings recorded."),
        ),
    )
    g = Graph(Chat).add_agent("research", researcher, output="answer")
    g.add_edge(START, "research").add_edge("research", END)
    result = await g.compile().run(
        {"messages": [{"role": "user", "content": "go"}]}, deps={"topic": "graphs"}, events=True
    )
    assert result.state.findings == ["joins wait", "caps exit"]
    outputs = [
        e.content for e in result.events if isinstance(e, AgentItem) and e.kind == "tool_output"
    ]
    assert outputs[0] == "graphs"


# --- structured output and routing -----------------------------------------------------------


class Department(enum.Enum):
    BILLING = "billing"
    SUPPORT = "support"


class Classification(BaseModel):
    department: Department
    confidence: float


class Ticket(BaseModel):
    request: str = ""
    classification: Classification | None = None
    handled_by: str = ""


async def test_structured_output_routes_on_an_enum_field() -> None:
    classifier = Agent(
        name="Classifier",
        output_type=Classification,
        model=model(structured({"department": "support", "confidence": 0.9})),
    )
    g = Graph(Ticket).add_agent("classify", classifier, prompt="{request}", output="classification")
    g.add_node("billing", lambda s: {"handled_by": "billing"})
    g.add_node("support", lambda s: {"handled_by": "support"})
    g.add_edge(START, "classify").add_field_route("classify", "classification.department")
    g.add_edge("billing", END).add_edge("support", END)
    result = await g.compile().run({"request": "my app crashes"})
    assert result.path == ["classify", "support"]
    assert isinstance(result.state.classification, Classification)
    assert result.state.classification.confidence == 0.9
    assert result.state.handled_by == "support"


def test_field_route_values_are_checked_against_nodes_at_compile_time() -> None:
    from orchestrator import RouteTargetError

    classifier = Agent(name="Classifier", output_type=Classification)
    g = Graph(Ticket).add_agent("classify", classifier, prompt="{request}", output="classification")
    g.add_node("billing", lambda s: None).add_edge("billing", END)
    g.add_edge(START, "classify").add_field_route("classify", "classification.department")
    with pytest.raises(RouteTargetError, match="Department.SUPPORT"):
        g.compile()


# --- failures --------------------------------------------------------------------------------


async def test_guardrail_trip_is_routed_to_a_fallback_node() -> None:
    @input_guardrail
    async def no_homework(
        ctx: RunContextWrapper[Any], agent: Agent[Any], text: Any
    ) -> GuardrailFunctionOutput:
        return GuardrailFunctionOutput(output_info="homework", tripwire_triggered=True)

    tutor = Agent(name="Tutor", input_guardrails=[no_homework], model=model(say("never")))
    g = Graph(Chat).add_agent("tutor", tutor, output="answer", on_error="fallback")
    g.add_node("fallback", lambda s, ctx: {"answer": f"declined ({ctx.error.error_type})"})
    g.add_edge(START, "tutor").add_edge("tutor", END).add_edge("fallback", END)
    result = await g.compile().run(
        {"messages": [{"role": "user", "content": "do my homework"}]}, events=True
    )
    assert result.path == ["tutor", "fallback"]
    assert result.state.answer == "declined (AgentRunError)"
    failed = next(e for e in result.events if type(e).__name__ == "NodeFailed")
    assert "InputGuardrailTripwireTriggered" in failed.error
    assert "agent 'Tutor' in node 'tutor'" in failed.error


async def test_transport_error_is_retried_then_succeeds() -> None:
    import httpx2
    import openai

    broken = openai.APIConnectionError(request=httpx2.Request("POST", "http://127.0.0.1/v1"))
    writer = Agent(name="Writer", model=model(ModelStep.raise_error(broken), say("Recovered.")))
    g = Graph(Chat).add_agent(
        "write", writer, output="answer", retry=RetryPolicy(max_attempts=2, initial_delay=0)
    )
    g.add_edge(START, "write").add_edge("write", END)
    result = await g.compile().run(
        {"messages": [{"role": "user", "content": "write"}]}, events=True
    )
    assert result.state.answer == "Recovered."
    retried = [e for e in result.events if type(e).__name__ == "NodeRetried"]
    assert len(retried) == 1 and "APIConnectionError" in retried[0].error


async def test_max_turns_failure_names_node_agent_and_cause() -> None:
    @function_tool
    def spin() -> str:
        """Spin."""
        return "again"

    looper = Agent(name="Looper", tools=[spin], model=model(*[call("spin")] * 5))
    g = Graph(Chat).add_agent("loop", looper, max_turns=2)
    g.add_edge(START, "loop").add_edge("loop", END)
    with pytest.raises(NodeFailedError) as info:
        await g.compile().run({"messages": [{"role": "user", "content": "x"}]})
    assert isinstance(info.value.cause, AgentRunError)
    assert "agent 'Looper' in node 'loop' failed: MaxTurnsExceeded" in str(info.value)
    assert info.value.result.status is RunStatus.FAILED


# --- models, recording, streaming ------------------------------------------------------------


async def test_default_model_is_the_offline_one_and_its_output_is_labelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    helper = Agent(name="Helper", instructions="Answer briefly.")
    g = Graph(Chat).add_agent("help", helper, output="answer")
    g.add_edge(START, "help").add_edge("help", END)
    result = await g.compile().run({"messages": [{"role": "user", "content": "what is a join?"}]})
    assert result.state.answer.startswith("[offline]")
    called = next(e for e in result.events if isinstance(e, ModelCalled))
    assert called.offline and called.model == "offline"


async def test_run_model_option_overrides_every_agent() -> None:
    g = Graph(Chat).add_agent("a", Agent(name="A", model="gpt-5"), output="answer")
    g.add_edge(START, "a").add_edge("a", END)
    result = await g.compile().run(
        {"messages": [{"role": "user", "content": "hi"}]}, model=model(say("from the override"))
    )
    assert result.state.answer == "from the override"


async def test_every_model_call_is_recorded_with_digest_items_and_usage() -> None:
    @function_tool
    def lookup(order: str) -> str:
        """Look up an order."""
        return f"order {order} ships Friday"

    agent = Agent(
        name="Orders",
        tools=[lookup],
        model=model(call("lookup", {"order": "42"}), say("It ships Friday.")),
    )
    g = Graph(Chat).add_agent("orders", agent, output="answer")
    g.add_edge(START, "orders").add_edge("orders", END)
    result = await g.compile().run({"messages": [{"role": "user", "content": "order 42?"}]})
    calls = [e for e in result.events if isinstance(e, ModelCalled)]
    assert len(calls) == 2
    assert calls[0].response[0]["type"] == "function_call"
    assert calls[1].response[0]["content"][0]["text"] == "It ships Friday."
    assert len({c.request_digest for c in calls}) == 2
    assert all(len(c.request_digest) == 64 for c in calls)


async def test_streamed_agent_emits_text_deltas_and_records_the_same_result() -> None:
    def graph(stream: bool) -> Any:
        agent = Agent(name="Narrator", instructions="Tell a story.", model="offline")
        g = Graph(Chat).add_agent("tell", agent, output="answer", stream=stream)
        return g.add_edge(START, "tell").add_edge("tell", END).compile()

    data = {"messages": [{"role": "user", "content": "a story about joins"}]}
    plain = await graph(False).run(data)
    streamed = graph(True).stream(data)
    deltas = [e.text async for e in streamed if isinstance(e, AgentDelta)]
    assert streamed.result is not None
    assert len(deltas) > 1
    assert "".join(deltas) == streamed.result.state.answer == plain.state.answer
    assert streamed.result.state.messages == plain.state.messages


def test_importing_orchestrator_does_not_import_the_sdk() -> None:
    code = (
        "import sys, orchestrator; from orchestrator import Graph; "
        "assert 'agents' not in sys.modules, 'agents imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_graph_default_model_applies_to_agents_that_name_none() -> None:
    g = Graph(Chat, model=model(say("graph default"))).add_agent(
        "a", Agent(name="A"), output="answer"
    )
    g.add_edge(START, "a").add_edge("a", END)
    result = await g.compile().run({"messages": [{"role": "user", "content": "hi"}]})
    assert result.state.answer == "graph default"


async def test_fan_out_payload_reaches_an_agent_prompt_and_agents_can_join() -> None:
    from orchestrator import Send

    class Research(BaseModel):
        topics: list[str] = []
        notes: Annotated[list[str], extend] = []
        summary: str = ""

    def spread(state: Research) -> list[Send]:
        return [Send("research", topic) for topic in state.topics]

    prompts: list[str] = []

    def remember(answer: str) -> dict[str, Any]:
        return {"notes": [answer]}

    researcher = Agent(name="Researcher", model=model(say("note A"), say("note B")))
    writer = Agent(name="Writer", model=model(say("summary of both")))
    g = Graph(Research).add_agent(
        "research",
        researcher,
        prompt=lambda s, ctx: prompts.append(ctx.payload) or ctx.payload,
        output=remember,
    )
    g.add_agent("write", writer, prompt="Summarise: {notes}", output="summary", join=True)
    g.add_route(START, spread, ["research"]).add_edge("research", "write").add_edge("write", END)
    result = await g.compile().run({"topics": ["joins", "caps"]})
    assert prompts == ["joins", "caps"]
    assert result.state.notes == ["note A", "note B"]
    assert result.path == ["research", "research", "write"]  # the agent join ran once
    assert result.state.summary == "summary of both"


async def test_retry_on_can_name_the_sdk_error_an_agent_node_failed_with() -> None:
    from agents.exceptions import ModelBehaviorError

    bad = ModelStep.raise_error(ModelBehaviorError("bad JSON"))
    agent = Agent(name="Picky", model=model(bad, say("fine now")))
    g = Graph(Chat).add_agent(
        "picky",
        agent,
        output="answer",
        retry=RetryPolicy(max_attempts=2, initial_delay=0, retry_on=(ModelBehaviorError,)),
    )
    g.add_edge(START, "picky").add_edge("picky", END)
    result = await g.compile().run({"messages": [{"role": "user", "content": "x"}]})
    assert result.state.answer == "fine now"


async def test_on_error_target_learns_the_underlying_sdk_error() -> None:
    @function_tool
    def spin() -> str:
        """Spin."""
        return "again"

    looper = Agent(name="Looper", tools=[spin], model=model(*[call("spin")] * 3))
    g = Graph(Chat).add_agent("loop", looper, max_turns=1, on_error="recover")
    g.add_node("recover", lambda s, ctx: {"answer": f"{ctx.error.cause_type}"})
    g.add_edge(START, "loop").add_edge("loop", END).add_edge("recover", END)
    result = await g.compile().run({"messages": [{"role": "user", "content": "x"}]})
    assert result.state.answer == "MaxTurnsExceeded"
