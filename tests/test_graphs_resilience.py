"""Patterns from ``graphs/`` about failures, people and memory: the fallback chain, error
recovery, guardrails, human approval, memory across runs and shared context. Each is run
through the real ``agents.Runner`` with scripted models (exact path and state) and with the
default offline model (the path the pattern is about)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from agents import SQLiteSession
from agents.testing import ModelCall

from graphs import error_recovery, fallback, guardrails, human_approval, memory, shared_context
from orchestrator import NodeFailed, NodeRetried, RetryPolicy, RunStatus
from tests.support.patterns import answer_with, asked, texts
from tests.support.scripted import call, model, say, structured


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key and no server: agents without a model use the offline model."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


# --- fallback chain ------------------------------------------------------------------------


async def test_fallback_moves_on_after_a_failure_and_after_i_dont_know() -> None:
    models = {
        # No product_docs dependency: the primary's tool raises, so the primary node fails.
        "primary": model(call("search_product_docs", {"query": "router reset"})),
        "backup": model(call("search_faq", {"query": "router reset"}), say("I don't know.")),
        "general": model(say("Hold the reset button for ten seconds.")),
    }
    result = await fallback.build(models=models).run(
        {"query": "How do I reset my router?"}, events=True
    )
    assert result.path == ["primary", "backup", "general"]
    assert result.state.answer == "Hold the reset button for ten seconds."
    failed = [e for e in result.events if isinstance(e, NodeFailed)]
    assert [(e.node, e.handled) for e in failed] == [("primary", True)]


async def test_fallback_apologises_when_no_agent_knows() -> None:
    models = {
        "primary": model(say("I don't know.")),
        "backup": model(say("I do not know.")),
        "general": model(say("I'm not sure, sorry.")),
    }
    result = await fallback.build(models=models).run({"query": "What is the meaning of life?"})
    assert result.path == ["primary", "backup", "general", "give_up"]
    assert result.state.answer == fallback.APOLOGY


async def test_fallback_primary_answers_when_its_service_is_there() -> None:
    models = {
        "primary": model(
            call("search_product_docs", {"query": "password reset"}), say("Use the app.")
        )
    }
    docs = {"password": "Reset the password in the Acme app under Settings."}
    result = await fallback.build(models=models).run(
        {"query": "password reset?"}, deps={"product_docs": docs}
    )
    assert result.path == ["primary"]
    assert result.state.answer == "Use the app."


async def test_fallback_offline_falls_back_to_the_faq_without_the_docs_service() -> None:
    result = await fallback.graph().run({"query": "How do I reset the password on my Acme router?"})
    assert result.completed
    assert result.path == ["primary", "backup"]
    assert result.state.answer.startswith("[offline] Based on search_faq")


# --- error recovery ------------------------------------------------------------------------


async def test_error_recovery_falls_back_to_an_agent_when_the_turn_budget_runs_out() -> None:
    recovery = model(say("Sorry for the wait: a colleague will email you today."))
    models = {
        "extract": model(structured({"order_id": "ORD-12345", "question": "Where is it?"})),
        "support": model(call("track_order", {"order_id": "ORD-12345"})),
        "recover": recovery,
    }
    graph = error_recovery.build(models=models, max_turns=1)
    result = await graph.run({"request": "Where is ORD-12345?"})
    assert result.path == ["extract", "support", "diagnose", "recover"]
    assert result.state.answer == "Sorry for the wait: a colleague will email you today."
    assert result.state.failure == "support failed after 1 attempt(s): MaxTurnsExceeded"
    # The fallback agent was told the customer's message and what to tell them.
    prompt = asked(recovery.calls[0])
    assert "Where is ORD-12345?" in prompt
    assert error_recovery.REPLIES["MaxTurnsExceeded"] in prompt


async def test_error_recovery_sends_the_guidance_itself_when_the_fallback_agent_fails() -> None:
    models = {
        "extract": model(structured({"order_id": "bad", "question": "?"})),
        "recover": model(),  # the model service is gone too: no answer at all
    }
    graph = error_recovery.build(
        models=models, extract_retry=RetryPolicy(max_attempts=1, initial_delay=0)
    )
    result = await graph.run({"request": "Where is my order?"})
    assert result.path == ["extract", "diagnose", "recover", "last_resort"]
    assert result.state.answer == error_recovery.REPLIES["ModelBehaviorError"]


async def test_error_recovery_retries_malformed_output_once() -> None:
    models = {
        "extract": model(
            structured({"order_id": "12345", "question": "Where is it?"}),  # breaks the pattern
            structured({"order_id": "ORD-12345", "question": "Where is it?"}),
        ),
        "support": model(call("track_order", {"order_id": "ORD-12345"}), say("Thursday.")),
    }
    graph = error_recovery.build(
        models=models, extract_retry=RetryPolicy(max_attempts=2, initial_delay=0)
    )
    result = await graph.run({"request": "Where is ORD-12345?"}, events=True)
    assert result.path == ["extract", "support"]
    assert result.state.answer == "Thursday."
    retried = [e for e in result.events if isinstance(e, NodeRetried)]
    assert len(retried) == 1 and "ModelBehaviorError" in retried[0].error


async def test_error_recovery_offline_asks_for_the_order_number_it_could_not_extract() -> None:
    result = await error_recovery.graph().run(
        {"request": "Where is my order? It still hasn't arrived."}
    )
    assert result.completed
    assert result.path == ["extract", "diagnose", "recover"]
    assert result.state.guidance == error_recovery.REPLIES["ModelBehaviorError"]
    assert result.state.failure == "extract failed after 2 attempt(s): ModelBehaviorError"
    assert result.state.answer.startswith("[offline]")  # the fallback agent answered


async def test_error_recovery_offline_answers_when_the_order_number_is_there() -> None:
    result = await error_recovery.graph().run({"request": "Where is order ORD-12345?"})
    assert result.path == ["extract", "support"]
    assert result.state.order is not None and result.state.order.order_id == "ORD-12345"


# --- guardrails ----------------------------------------------------------------------------


async def test_output_guardrail_trip_replaces_the_reply_with_the_safe_one() -> None:
    models = {
        "drafting": model(say("We are sorry about the delay.")),
        "editing": model(say("We guarantee a full refund by tomorrow.")),
    }
    result = await guardrails.build(models=models).run(
        {"request": "A customer asks why her refund is late."}
    )
    assert result.path == ["drafting", "editing", "safe_reply"]
    assert result.state.reply == guardrails.SAFE_REPLY
    assert result.state.notes == ["editing did not pass; safe reply used"]


async def test_input_guardrail_keeps_personal_data_from_the_model() -> None:
    drafting = model(answer_with(lambda c: f"Reply to: {asked(c)}"))
    models = {"drafting": drafting, "editing": model(say("Sorry for the wait."))}
    result = await guardrails.build(models=models).run(
        {"request": "Customer ann@example.com, card 4111 1111 1111 1111, asks about a refund."}
    )
    assert result.path == ["drafting", "redact", "drafting", "editing"]
    assert len(drafting.calls) == 1  # the tripped attempt never reached the model
    assert asked(drafting.calls[0]) == "Customer [email], card [card number], asks about a refund."
    assert result.state.reply == "Sorry for the wait."


async def test_guardrails_offline_redact_personal_data_then_draft() -> None:
    result = await guardrails.graph().run(
        {"request": "Customer jane.doe@example.com asks why her refund for order 1182 is late."}
    )
    assert result.completed
    assert result.path == ["drafting", "redact", "drafting", "editing"]
    assert result.state.request == "Customer [email] asks why her refund for order 1182 is late."
    assert result.state.notes == ["input guardrail tripped; personal data redacted"]
    assert result.state.reply.startswith("[offline]")


# --- human approval ------------------------------------------------------------------------


async def test_human_rejection_goes_to_the_reviser_and_approval_to_the_executor() -> None:
    models = {
        "planner": model(say("1. Back up 2. Migrate")),
        "reviser": model(say("1. Back up 2. Migrate 3. Roll back if checks fail")),
        "executor": model(say("Done: backed up, migrated, checks passed.")),
    }
    graph = human_approval.build(models=models)
    paused = await graph.run({"task": "Migrate the database"})
    assert paused.status is RunStatus.WAITING
    assert [w.node for w in paused.waiting] == ["approval"]
    assert "1. Back up 2. Migrate" in paused.waiting[0].request["prompt"]

    again = await graph.resume(paused, "Add a rollback step")
    assert again.status is RunStatus.WAITING
    assert "Requested changes: Add a rollback step" in asked(models["reviser"].calls[0])

    done = await graph.resume(again, "approve")
    assert done.path == ["planner", "approval", "reviser", "approval", "executor"]
    assert done.state.plan == "1. Back up 2. Migrate 3. Roll back if checks fail"
    assert done.state.result == "Done: backed up, migrated, checks passed."


async def test_human_approval_offline_pauses_then_resumes_to_the_executor() -> None:
    graph = human_approval.graph()
    paused = await graph.run({"task": "Migrate the customer database to the new server"})
    assert paused.status is RunStatus.WAITING
    assert paused.path == ["planner"]
    assert paused.waiting[0].node == "approval"

    done = await graph.resume(paused, "approve")
    assert done.completed
    assert done.path == ["planner", "approval", "executor"]
    assert done.state.decision == "approve"
    assert done.state.result.startswith("[offline]")


# --- memory across runs --------------------------------------------------------------------


async def test_memory_second_run_remembers_the_first_through_the_session(tmp_path: Path) -> None:
    db = str(tmp_path / "memory.db")

    def recall(c: ModelCall) -> str:
        known = any("My name is Ada" in t for t in texts(c))
        return "Your name is Ada." if known else "I don't know your name yet."

    first = memory.build(
        models={"assistant": model(say("Nice to meet you, Ada."))},
        session=SQLiteSession("ada", db),
    )
    await first.run({"message": "My name is Ada."})
    # Another graph, another session object on the same file: as a new process would.
    session = SQLiteSession("ada", db)
    second = memory.build(models={"assistant": model(answer_with(recall))}, session=session)
    result = await second.run({"message": "What is my name?"})
    assert result.path == ["assistant"]
    assert result.state.answer == "Your name is Ada."
    assert [m.get("content") for m in result.state.messages][:1] == ["What is my name?"]
    assert len(await session.get_items()) == 4  # both turns, saved by the SDK
    session.close()


async def test_memory_session_can_be_given_per_run_as_with_runner() -> None:
    session = SQLiteSession("user-7")  # in memory, owned by the caller
    await session.add_items([{"role": "user", "content": "I live in Oslo."}])
    assistant = model(say("Oslo it is."))
    graph = memory.build(models={"assistant": assistant})
    result = await graph.run({"message": "Where do I live?"}, session=session)
    assert result.state.answer == "Oslo it is."
    assert "I live in Oslo." in texts(assistant.calls[0])  # the session's history was read
    assert [i.get("content") for i in await session.get_items()][:2] == [
        "I live in Oslo.",
        "Where do I live?",
    ]


async def test_memory_without_a_session_answers_from_the_run_alone() -> None:
    result = await memory.graph().run({"message": "My name is Ada."})
    assert result.completed
    assert result.state.answer.startswith("[offline]")


# --- shared context ------------------------------------------------------------------------


async def test_shared_context_tools_record_findings_and_decisions_into_state() -> None:
    models = {
        "researcher": model(
            call("look_up_metrics", {"query": "ticket volume"}),
            call("add_finding", {"finding": "responses take twice the target"}),
            say("Two findings."),
        ),
        "coordinator": model(call("add_decision", {"decision": "hire two agents"}), say("Hire.")),
    }
    graph = shared_context.build(models=models)
    result = await graph.run(
        {"request": "Do we need more staff?"}, deps={"metrics": {"ticket volume": "500 a week"}}
    )
    assert result.path == ["researcher", "coordinator"]
    assert result.state.findings == ["ticket volume: 500 a week", "responses take twice the target"]
    assert result.state.decisions == ["hire two agents"]
    assert result.state.summary == "Hire."
    assert "- responses take twice the target" in asked(models["coordinator"].calls[0])


async def test_shared_context_offline_accumulates_findings_and_a_decision() -> None:
    result = await shared_context.graph().run(
        {"request": "Review our support metrics data and decide whether we need more staff"}
    )
    assert result.completed
    assert result.path == ["researcher", "coordinator"]
    assert len(result.state.findings) >= 2
    assert all(f.split(":")[0] in shared_context.SAMPLE_METRICS for f in result.state.findings)
    assert len(result.state.decisions) == 1
