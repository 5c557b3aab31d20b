"""Tests for the deterministic offline model, always driven through the real ``agents.Runner``."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, Literal

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import pytest
from agents import (
    Agent,
    AgentOutputSchema,
    FunctionTool,
    ModelSettings,
    ModelTracing,
    RunConfig,
    Runner,
    function_tool,
    handoff,
)
from agents.extensions.handoff_prompt import RECOMMENDED_PROMPT_PREFIX
from openai.types.responses import ResponseFunctionToolCall, ResponseTextDeltaEvent
from pydantic import BaseModel, Field

from orchestrator.offline import OfflineModel, OfflineProvider


@pytest.fixture(autouse=True)
def _no_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")


def config() -> RunConfig:
    return RunConfig(model_provider=OfflineProvider(), tracing_disabled=True)


def call_names(items: list[Any]) -> list[str]:
    return [i["name"] for i in items if isinstance(i, dict) and i.get("type") == "function_call"]


# --- the customer-service triage from the seeds -------------------------------------------


@function_tool
def track_order_status(order_id: str) -> str:
    """Look up the delivery status of an order."""
    return f"Order {order_id} is in transit and arrives Friday."


@function_tool
def initiate_refund_process(order_id: str, reason: str) -> str:
    """Start a refund for an order."""
    return f"Refund for {order_id} started."


@function_tool
def search_knowledge_base(query: str) -> str:
    """Search the technical knowledge base."""
    return "KB-42: restart the router."


@function_tool
def initiate_purchase_order(product: str, quantity: int) -> str:
    """Create a purchase order for a product."""
    return f"PO for {quantity} x {product}."


def customer_service_triage() -> Agent[Any]:
    technical = Agent(
        name="Technical Support Agent",
        instructions=(
            "You provide expert assistance with resolving technical issues, "
            "system outages, or product troubleshooting."
        ),
        tools=[search_knowledge_base],
        model="offline-test",
    )
    sales = Agent(
        name="Sales Assistant Agent",
        instructions=(
            "You help enterprise clients browse the product catalog, recommend "
            "suitable solutions, and facilitate purchase transactions."
        ),
        tools=[initiate_purchase_order],
        model="offline-test",
    )
    orders = Agent(
        name="Order Management Agent",
        instructions=(
            "You assist clients with inquiries regarding order tracking, "
            "delivery schedules, and processing returns or refunds."
        ),
        tools=[track_order_status, initiate_refund_process],
        model="offline-test",
    )
    return Agent(
        name="Triage Agent",
        instructions=(
            "You act as the first point of contact, assessing customer queries and "
            "directing them promptly to the correct specialized agent."
        ),
        handoffs=[technical, sales, orders],
        model="offline-test",
    )


DELIVERY_QUESTION = (
    "Could you please provide an update on the delivery timeline for our recent purchase? "
    "The order number is 77812."
)


async def test_delivery_question_is_handed_to_order_management() -> None:
    result = await Runner.run(customer_service_triage(), DELIVERY_QUESTION, run_config=config())

    assert result.last_agent.name == "Order Management Agent"
    items = result.to_input_list()
    assert call_names(items) == ["transfer_to_order_management_agent", "track_order_status"]
    tool_call = next(i for i in items if i.get("name") == "track_order_status")
    assert json.loads(tool_call["arguments"]) == {"order_id": "77812"}
    assert result.final_output.startswith("[offline] ")
    assert "Order 77812 is in transit" in result.final_output
    # Handoff, one tool round, answer: no tool loop.
    assert len(result.raw_responses) == 3


@pytest.mark.parametrize(
    ("question", "agent_name", "tool_name"),
    [
        ("The app crashes with an error after login", "Technical Support Agent",
         "search_knowledge_base"),
        ("What is the price of the enterprise plan?", "Sales Assistant Agent",
         "initiate_purchase_order"),
    ],
)  # fmt: skip
async def test_triage_routes_other_topics(question: str, agent_name: str, tool_name: str) -> None:
    result = await Runner.run(customer_service_triage(), question, run_config=config())
    assert result.last_agent.name == agent_name
    assert call_names(result.to_input_list())[1:] == [tool_name]


def billing_tree(instructions: str) -> Agent[Any]:
    refund_processor = Agent(
        name="refund_processor",
        instructions="Process refund requests. Verify eligibility and initiate refund.",
    )
    payment_investigator = Agent(
        name="payment_investigator", instructions="Investigate failed or disputed payments."
    )
    billing = Agent(
        name="billing_specialist",
        instructions=(
            "Handle billing inquiries.\n- For refunds, delegate to refund_processor\n"
            "- For payment issues, delegate to payment_investigator"
        ),
        handoffs=[refund_processor, payment_investigator],
    )
    tech = Agent(name="tech_support", instructions="You handle technical issues.")
    sales = Agent(name="sales", instructions="You handle sales inquiries.")
    return Agent(name="triage", instructions=instructions, handoffs=[billing, tech, sales])


TRIAGE_WITH_CLARIFY = f"""{RECOMMENDED_PROMPT_PREFIX}
You are a customer service triage agent.

Available specialists:
- billing_specialist: All billing, payment, and refund questions
- tech_support: Technical issues and troubleshooting
- sales: Pricing, plans, and upgrades

If unclear, ask one clarifying question."""

TRIAGE_WITH_QUOTED_QUESTION = """Route based on keywords and intent:

→ billing_specialist:
  - "refund", "charge", "invoice", "payment"

→ tech_support:
  - "error", "bug", "broken", "not working"

If unclear, ask: "Is this about billing, a technical issue, or purchasing?" """


async def test_hierarchical_delegation_follows_nested_handoffs() -> None:
    triage = billing_tree(TRIAGE_WITH_CLARIFY)
    refund = await Runner.run(triage, "I want a refund for last month", run_config=config())
    assert call_names(refund.to_input_list()) == [
        "transfer_to_billing_specialist",
        "transfer_to_refund_processor",
    ]
    payment = await Runner.run(triage, "My card payment failed twice", run_config=config())
    assert payment.last_agent.name == "payment_investigator"


async def test_unclear_request_gets_a_clarifying_question() -> None:
    generic = await Runner.run(billing_tree(TRIAGE_WITH_CLARIFY), "hmm, hello", run_config=config())
    assert generic.last_agent.name == "triage"
    assert generic.final_output.startswith("[offline] ")
    assert generic.final_output.endswith("?")
    assert "billing specialist" in generic.final_output

    quoted = await Runner.run(
        billing_tree(TRIAGE_WITH_QUOTED_QUESTION), "hmm, hello", run_config=config()
    )
    expected = "[offline] Is this about billing, a technical issue, or purchasing?"
    assert quoted.final_output == expected


async def test_no_match_without_clarify_instruction_answers_directly() -> None:
    triage = Agent(name="router", instructions="Route requests.", handoffs=[Agent(name="billing")])
    result = await Runner.run(triage, "tell me a joke about penguins", run_config=config())
    assert result.last_agent.name == "router"
    assert result.final_output.startswith("[offline] ")
    assert "penguins" in result.final_output


async def test_handoff_arguments_follow_its_input_schema() -> None:
    class Escalation(BaseModel):
        reason: str
        priority: int = Field(ge=1, le=5)

    seen: list[Escalation] = []

    async def on_escalate(ctx: Any, data: Escalation) -> None:
        seen.append(data)

    target = Agent(name="Escalation", instructions="Handle escalations.")
    router = Agent(
        name="router",
        instructions="Route requests.",
        handoffs=[
            handoff(
                target,
                input_type=Escalation,
                on_handoff=on_escalate,
                tool_description_override="Escalate urgent complaints",
            )
        ],
    )
    result = await Runner.run(router, "urgent complaint about the service", run_config=config())
    assert result.last_agent.name == "Escalation"
    assert seen == [Escalation(reason="urgent complaint about the service", priority=1)]


async def test_handoffs_exposed_as_function_tools_are_still_routed_by_keywords() -> None:
    async def invoke(ctx: Any, args: str) -> str:
        return "transition"

    def transfer(name: str) -> FunctionTool:
        return FunctionTool(
            name=f"transfer_to_{name}",
            description=f"Handoff to the {name} agent to handle the request. ",
            params_json_schema={"type": "object", "properties": {}, "required": []},
            on_invoke_tool=invoke,
        )

    agent = Agent(
        name="triage",
        instructions="Route requests.",
        tools=[transfer("sales"), transfer("billing")],
        tool_use_behavior="stop_on_first_tool",
    )
    routed = await Runner.run(agent, "Question about my invoice", run_config=config())
    assert call_names(routed.to_input_list()) == ["transfer_to_billing"]
    # With no keyword match the model must not fall back to "call the first tool".
    unrouted = await Runner.run(agent, "tell me a joke", run_config=config())
    assert call_names(unrouted.to_input_list()) == []


# --- function tools -------------------------------------------------------------------------


class Filters(BaseModel):
    city: str
    tags: list[str]
    verbose: bool
    unit: Literal["metric", "imperial"]


@function_tool
def weather_lookup(location: str, days: int, filters: Filters) -> str:
    """Get the weather forecast for a location."""
    return f"Sunny in {location} for {days} day(s); unit={filters.unit}."


@function_tool
def stock_price(ticker: str) -> str:
    """Get the stock price for a ticker symbol."""
    return "42 USD"


async def test_function_tool_is_called_once_with_schema_valid_arguments() -> None:
    agent = Agent(
        name="helper",
        instructions="Answer using your tools.",
        tools=[stock_price, weather_lookup],
    )
    result = await Runner.run(agent, "What's the weather forecast in Lisbon?", run_config=config())

    items = result.to_input_list()
    assert call_names(items) == ["weather_lookup"]
    args = json.loads(next(i for i in items if i.get("name") == "weather_lookup")["arguments"])
    assert args["days"] == 1
    assert args["filters"]["verbose"] is True
    assert args["filters"]["unit"] == "metric"
    assert len(args["filters"]["tags"]) == 1
    assert "Sunny in" in result.final_output
    assert result.final_output.startswith("[offline] ")
    assert len(result.raw_responses) == 2


async def test_first_tool_is_used_when_nothing_matches_and_tool_choice_is_honoured() -> None:
    agent = Agent(name="helper", tools=[stock_price, weather_lookup])
    fallback = await Runner.run(agent, "zzz", run_config=config())
    assert call_names(fallback.to_input_list()) == ["stock_price"]

    no_tools = agent.clone(model_settings=ModelSettings(tool_choice="none"))
    answer = await Runner.run(no_tools, "weather in Lisbon", run_config=config())
    assert call_names(answer.to_input_list()) == []

    forced = agent.clone(model_settings=ModelSettings(tool_choice="stock_price"))
    chosen = await Runner.run(forced, "weather in Lisbon", run_config=config())
    assert call_names(chosen.to_input_list()) == ["stock_price"]


async def test_agents_as_tools_receive_the_request() -> None:
    sql = Agent(name="SQL Expert", instructions="Write SQL queries")
    python = Agent(name="Python Expert", instructions="Write Python code")
    orchestrator = Agent(
        name="Orchestrator",
        instructions="Coordinate specialists to solve complex tasks",
        tools=[
            sql.as_tool(tool_name="sql_expert", tool_description="Use for database queries"),
            python.as_tool(tool_name="python_expert", tool_description="Use for Python coding"),
        ],
    )
    result = await Runner.run(orchestrator, "Write a database query for sales", run_config=config())
    items = result.to_input_list()
    assert call_names(items) == ["sql_expert"]
    assert json.loads(items[1]["arguments"]) == {"input": "Write a database query for sales"}
    assert "[offline] Draft (revision 1)" in items[2]["output"]


# --- structured output ----------------------------------------------------------------------


class Department(str, Enum):  # noqa: UP042 - written exactly as in the seed
    BILLING = "billing"
    TECH = "tech"
    SALES = "sales"
    GENERAL = "general"


class Classification(BaseModel):
    department: Department
    confidence: float
    reasoning: str


@pytest.mark.parametrize(
    ("inquiry", "department", "confidence"),
    [
        ("I was charged twice on my last invoice", Department.BILLING, 0.9),
        ("The app crashes on startup", Department.TECH, 0.9),
        ("Do you offer a discount on the annual plan?", Department.SALES, 0.9),
        ("Hello, nice weather today", Department.GENERAL, 0.4),
    ],
)
async def test_enum_classification(inquiry: str, department: Department, confidence: float) -> None:
    classifier = Agent(
        name="classifier",
        instructions="Classify the customer inquiry into the appropriate department.",
        output_type=Classification,
    )
    result = await Runner.run(classifier, inquiry, run_config=config())
    assert isinstance(result.final_output, Classification)
    assert result.final_output.department == department
    assert result.final_output.confidence == confidence
    assert result.final_output.reasoning.startswith("[offline] ")


class EvaluationResult(BaseModel):
    score: int
    feedback: str
    passes: bool


async def test_evaluator_loop_converges_on_the_third_draft() -> None:
    writer = Agent(
        name="writer", instructions="Write content based on the prompt and any feedback provided."
    )
    evaluator = Agent(
        name="evaluator",
        instructions="Evaluate the content. Provide specific feedback. Set passes=True if >= 8.",
        output_type=EvaluationResult,
    )
    scores: list[int] = []
    feedback = ""
    for _ in range(5):
        prompt = "Prompt: a short blog post about solar panels"
        if feedback:
            prompt += f"\n\nPrevious feedback: {feedback}"
        draft = (await Runner.run(writer, prompt, run_config=config())).final_output
        assert draft.startswith("[offline] Draft")
        verdict = (
            await Runner.run(evaluator, f"Evaluate this content:\n\n{draft}", run_config=config())
        ).final_output
        scores.append(verdict.score)
        if verdict.passes:
            break
        feedback = verdict.feedback
    assert scores == [5, 7, 9]


async def test_evaluator_counts_drafts_in_a_carried_history() -> None:
    class Grade(BaseModel):
        quality: float = Field(ge=0, le=1)
        approved: bool

    grader = Agent(name="grader", instructions="Grade the drafts.", output_type=Grade)
    history: list[Any] = [{"role": "user", "content": "Write a haiku about rain"}]
    for text in ("[offline] first try", "[offline] second try"):
        history.append(
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        )
    result = await Runner.run(grader, history, run_config=config())
    assert result.final_output == Grade(quality=0.7, approved=False)


class Severity(StrEnum):
    LOW = "low"
    HIGH = "high"


class Finding(BaseModel):
    title: str
    severity: Severity
    when: datetime
    owner_email: str
    notes: str | None


class Report(BaseModel):
    summary: str = Field(max_length=60)
    rating: int = Field(ge=1, le=5)
    findings: list[Finding] = Field(min_length=1, max_length=2)
    topics: list[str]
    entities: list[str]
    is_spam: bool
    metadata: dict[str, int]


async def test_nested_schema_with_refs_bounds_and_formats_validates() -> None:
    # dict[str, int] is not strict-compatible, which also exercises a non-strict schema.
    schema = AgentOutputSchema(Report, strict_json_schema=False)
    agent = Agent(name="reporter", instructions="Produce a report.", output_type=schema)
    request = "Apple and Microsoft discussed AI chips in Paris"
    result = await Runner.run(agent, request, run_config=config())
    report = result.final_output
    assert isinstance(report, Report)
    assert 1 <= report.rating <= 5
    assert 1 <= len(report.findings) <= 2
    assert report.is_spam is False
    assert report.entities[:3] == ["Apple", "Microsoft", "Paris"]
    assert report.summary.startswith("[offline] ")


async def test_non_object_output_types_are_wrapped_and_labelled() -> None:
    lister = Agent(name="lister", output_type=list[str])
    result = await Runner.run(lister, "Name three fruits", run_config=config())
    assert result.final_output[0].startswith("[offline] ")
    assert len(result.final_output) in (2, 3)


# --- plain text, determinism, streaming -----------------------------------------------------


async def test_plain_text_mentions_the_request_and_never_says_i_dont_know() -> None:
    agent = Agent(
        name="primary",
        instructions='If you are unsure, say "I don\'t know". Answer questions about gardens.',
    )
    result = await Runner.run(agent, "How often should I water tomato plants?", run_config=config())
    assert result.final_output.startswith("[offline] ")
    assert "tomato" in result.final_output
    assert "know" not in result.final_output.lower()


def dump(result: Any) -> str:
    return json.dumps(result.to_input_list(), sort_keys=True)


async def test_two_runs_are_byte_identical() -> None:
    first = await Runner.run(customer_service_triage(), DELIVERY_QUESTION, run_config=config())
    second = await Runner.run(customer_service_triage(), DELIVERY_QUESTION, run_config=config())
    assert dump(first) == dump(second)
    assert first.context_wrapper.usage.total_tokens == second.context_wrapper.usage.total_tokens
    text = dump(first)
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", text)
    ids = re.findall(r'"(?:id|call_id)": "([^"]+)"', text)
    assert ids and all("offline" in i for i in ids)


async def test_usage_is_plausible_and_per_request() -> None:
    result = await Runner.run(customer_service_triage(), DELIVERY_QUESTION, run_config=config())
    usage = result.context_wrapper.usage
    assert usage.requests == 3
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert len(usage.request_usage_entries) == 3


async def test_streaming_matches_the_non_streamed_run() -> None:
    plain = await Runner.run(customer_service_triage(), DELIVERY_QUESTION, run_config=config())
    streamed = Runner.run_streamed(
        customer_service_triage(), DELIVERY_QUESTION, run_config=config()
    )
    deltas: list[str] = []
    async for event in streamed.stream_events():
        if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent):
            deltas.append(event.data.delta)
    assert streamed.final_output == plain.final_output
    assert "".join(deltas) == plain.final_output
    assert len(deltas) > 1
    assert dump(streamed) == dump(plain)
    assert streamed.last_agent.name == "Order Management Agent"
    assert streamed.context_wrapper.usage.total_tokens == plain.context_wrapper.usage.total_tokens


async def test_streamed_structured_output() -> None:
    classifier = Agent(name="classifier", output_type=Classification)
    streamed = Runner.run_streamed(classifier, "my invoice is wrong", run_config=config())
    async for _ in streamed.stream_events():
        pass
    assert streamed.final_output.department == Department.BILLING


async def test_model_can_be_called_directly_and_provider_records_names() -> None:
    provider = OfflineProvider()
    model = provider.get_model("gpt-something")
    assert isinstance(model, OfflineModel)
    assert model.model_name == "gpt-something"
    assert provider.get_model(None).model_name == "offline"  # type: ignore[attr-defined]
    assert set(provider.models) == {"gpt-something", "offline"}

    response = await model.get_response(
        None,
        "hello world",
        ModelSettings(),
        [],
        None,
        [],
        ModelTracing.DISABLED,
        previous_response_id=None,
        conversation_id=None,
        prompt=None,
    )
    assert response.response_id is not None and "offline" in response.response_id
    assert response.usage.requests == 1
    [message] = response.output
    assert not isinstance(message, ResponseFunctionToolCall)
    assert "[offline]" in json.dumps(message.model_dump())
