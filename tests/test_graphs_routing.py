"""Routing patterns from ``graphs/``: triage, hierarchical delegation, the routing prompt,
stages chosen by a handoff function, structured routing and unroutable requests. Each is run
through the real ``agents.Runner`` with scripted models (exact path and state) and with the
default offline model (the path the pattern is about)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from agents.extensions.handoff_prompt import RECOMMENDED_PROMPT_PREFIX

from graphs import hierarchical, routing_prompt, staged, structured_routing, triage, unroutable
from tests.support.patterns import taken
from tests.support.scripted import call, model, say, structured


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key and no server: agents without a model use the offline model."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


# --- triage --------------------------------------------------------------------------------


async def test_triage_hands_off_to_order_management_which_tracks_the_order() -> None:
    graph = triage.build(
        models={
            "triage": model(call("transfer_to_order_management_agent")),
            "order_management": model(
                call("track_order_status", {"order_id": "A-42"}), say("A-42 arrives Friday.")
            ),
        }
    )
    result = await graph.run({"request": "When does order A-42 arrive?"}, events=True)
    assert result.path == ["triage", "order_management"]
    assert result.state.answer == "A-42 arrives Friday."
    assert ("triage", "order_management", "handoff") in taken(result)
    outputs = [
        m["output"] for m in result.state.messages if m.get("type") == "function_call_output"
    ]
    assert outputs[-1] == "Order A-42 shipped yesterday and is due in 2 business days."


async def test_triage_offline_sends_a_delivery_question_to_order_management() -> None:
    result = await triage.graph().run(
        {
            "request": "Could you please provide an update on the delivery timeline for "
            "our recent order?"
        }
    )
    assert result.completed
    assert result.path == ["triage", "order_management"]
    assert result.state.answer.startswith("[offline] Based on track_order_status")


# --- hierarchical delegation ---------------------------------------------------------------


async def test_hierarchical_delegates_two_levels_to_the_payment_investigator() -> None:
    graph = hierarchical.build(
        models={
            "triage": model(call("transfer_to_billing_specialist")),
            "billing": model(call("transfer_to_payment_investigator")),
            "payment_investigator": model(
                call("look_up_payment", {"payment_id": "P-9"}), say("P-9 was declined.")
            ),
        }
    )
    result = await graph.run({"request": "Why did my payment P-9 fail?"}, events=True)
    assert result.path == ["triage", "billing", "payment_investigator"]
    assert result.state.answer == "P-9 was declined."
    handoffs = [(s, t) for s, t, kind in taken(result) if kind == "handoff"]
    assert handoffs == [("triage", "billing"), ("billing", "payment_investigator")]


async def test_hierarchical_offline_sends_a_refund_to_the_refund_processor() -> None:
    result = await hierarchical.graph().run(
        {"request": "I was charged twice for my last order and would like a refund."}
    )
    assert result.completed
    assert result.path == ["triage", "billing", "refund_processor"]
    assert result.state.answer.startswith("[offline] Based on initiate_refund")


# --- routing prompt ------------------------------------------------------------------------


def test_router_instructions_start_with_the_recommended_prompt_prefix() -> None:
    assert isinstance(routing_prompt.router.instructions, str)
    assert routing_prompt.router.instructions.startswith(RECOMMENDED_PROMPT_PREFIX)


async def test_router_that_asks_a_question_ends_the_run_without_a_handoff() -> None:
    router_model = model(say(routing_prompt.CLARIFYING_QUESTION))
    graph = routing_prompt.build(models={"router": router_model})
    result = await graph.run({"request": "Hi, I need some help with my account."})
    assert result.path == ["router"]
    assert result.state.answer == routing_prompt.CLARIFYING_QUESTION
    assert (router_model.calls[0].system_instructions or "").startswith(RECOMMENDED_PROMPT_PREFIX)
    offered = sorted(t.name for t in router_model.calls[0].tools)
    assert offered == [
        "transfer_to_billing_specialist",
        "transfer_to_sales",
        "transfer_to_tech_support",
    ]


async def test_router_hands_a_clear_request_to_its_specialist() -> None:
    graph = routing_prompt.build(
        models={"router": model(call("transfer_to_sales")), "sales": model(say("20% off."))}
    )
    result = await graph.run({"request": "Is there a discount on the annual plan?"})
    assert result.path == ["router", "sales"]
    assert result.state.answer == "20% off."


async def test_router_offline_asks_a_clarifying_question_for_an_unclear_request() -> None:
    result = await routing_prompt.graph().run({"request": "Hi, I need some help with my account."})
    assert result.completed
    assert result.path == ["router"]
    assert result.state.answer == f"[offline] {routing_prompt.CLARIFYING_QUESTION}"


async def test_router_offline_routes_a_refund_to_billing() -> None:
    result = await routing_prompt.graph().run(
        {"request": "I want a refund for the invoice I paid twice"}
    )
    assert result.path == ["router", "billing"]


# --- stages chosen by a handoff function ---------------------------------------------------


async def test_staged_starts_where_the_intake_says_and_skips_publishing() -> None:
    graph = staged.build(
        models={
            "intake": model(
                structured({"first_stage": "reviewing", "publish": False, "brief": "a review"})
            ),
            "reviewing": model(say("Cut the first paragraph.")),
        }
    )
    result = await graph.run({"request": "Please review my draft: We opened in Lisbon."})
    assert result.path == ["intake", "reviewing"]
    assert result.state.review == "Cut the first paragraph."
    assert result.state.draft == "" and result.state.publication == ""


async def test_staged_walks_every_stage_for_a_new_piece() -> None:
    replies = {"drafting": "Draft.", "reviewing": "Notes.", "publishing": "Final."}
    models = {stage: model(say(text)) for stage, text in replies.items()}
    models["intake"] = model(
        structured({"first_stage": "drafting", "publish": True, "brief": "office news"})
    )
    result = await staged.build(models=models).run({"request": "Announce our Lisbon office"})
    assert result.path == ["intake", "drafting", "reviewing", "publishing"]
    assert (result.state.draft, result.state.review, result.state.publication) == (
        "Draft.",
        "Notes.",
        "Final.",
    )
    assert "Review notes: Notes." in models["publishing"].calls[0].input[-1]["content"]


async def test_staged_offline_drafts_reviews_and_publishes_a_new_post() -> None:
    result = await staged.graph().run(
        {"request": "Write a blog post announcing our new office in Lisbon"}
    )
    assert result.completed
    assert result.path == ["intake", "drafting", "reviewing", "publishing"]
    assert result.state.intake is not None
    assert result.state.intake.first_stage is staged.Stage.DRAFTING


# --- structured routing --------------------------------------------------------------------


async def test_structured_routing_follows_the_department_field() -> None:
    graph = structured_routing.build(
        models={
            "classifier": model(
                structured({"department": "tech", "confidence": 0.95, "reasoning": "a crash"})
            ),
            "tech": model(say("Please update the app.")),
        }
    )
    result = await graph.run({"inquiry": "The app crashes on startup"})
    assert result.path == ["classifier", "confidence_check", "tech"]
    assert result.state.department is structured_routing.Department.TECH
    assert result.state.answer == "Please update the app."


async def test_structured_routing_sends_a_low_confidence_guess_to_general() -> None:
    graph = structured_routing.build(
        models={
            "classifier": model(
                structured({"department": "billing", "confidence": 0.3, "reasoning": "maybe"})
            ),
            "general": model(say("Is this about billing, a technical issue or sales?")),
        }
    )
    result = await graph.run({"inquiry": "Something is off with my account"})
    assert result.path == ["classifier", "confidence_check", "general"]
    assert result.state.classification is not None
    assert result.state.classification.department is structured_routing.Department.BILLING
    assert result.state.department is structured_routing.Department.GENERAL


async def test_structured_routing_offline_sends_an_invoice_question_to_billing() -> None:
    result = await structured_routing.graph().run(
        {"inquiry": "I was charged twice on my last invoice"}
    )
    assert result.completed
    assert result.path == ["classifier", "confidence_check", "billing"]
    assert result.state.classification is not None
    assert result.state.classification.confidence >= 0.7


# --- unroutable requests -------------------------------------------------------------------


async def test_unroutable_request_is_handed_to_the_fallback_agent() -> None:
    graph = unroutable.build(
        models={
            "triage": model(call("transfer_to_fallback")),
            "fallback": model(say("I can't help with hiking; may I pass you to a colleague?")),
        }
    )
    result = await graph.run(
        {"request": "Can you recommend a hiking trail near Denver?"}, events=True
    )
    assert result.path == ["triage", "fallback"]
    assert ("triage", "fallback", "handoff") in taken(result)
    assert result.state.answer.startswith("I can't help with hiking")


async def test_unroutable_offline_request_reaches_the_fallback_through_the_safety_net() -> None:
    result = await unroutable.graph().run(
        {"request": "Can you recommend a good hiking trail near Denver?"}, events=True
    )
    assert result.completed
    assert result.path == ["triage", "fallback"]
    assert ("triage", "fallback", "normal") in taken(result)  # triage answered, did not route
    assert result.state.answer.startswith("[offline]")
