"""Code-driven flows from ``graphs/``: the sequential pipeline, parallel analysis and research,
the evaluator loop, reflection, debate, the supervisor with agents as tools (and with tools
that call ``Runner.run``) and dynamic specialists. Each is run through the real
``agents.Runner`` with scripted models (exact path and state) and with the default offline
model (the path the pattern is about)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from agents.testing import ModelCall

from graphs import (
    debate,
    dynamic_specialists,
    evaluator,
    parallel_analysis,
    parallel_research,
    pipeline,
    reflection,
    supervisor,
    supervisor_runner,
)
from orchestrator import AgentItem, ModelCalled
from tests.support.patterns import answer_with, asked
from tests.support.scripted import ScriptedProvider, call, model, say, structured


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key and no server: agents without a model use the offline model."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


# --- sequential pipeline -------------------------------------------------------------------


async def test_pipeline_stages_each_read_the_previous_output() -> None:
    models = {
        "researcher": model(say("Fact: 40% work remotely.")),
        "analyst": model(say("Insight: hiring widened.")),
        "writer": model(say("Report: remote work widened hiring.")),
    }
    result = await pipeline.build(models=models).run({"topic": "remote work"})
    assert result.path == ["researcher", "analyst", "writer"]
    assert result.state.research == "Fact: 40% work remotely."
    assert result.state.analysis == "Insight: hiring widened."
    assert result.state.report == "Report: remote work widened hiring."
    assert asked(models["analyst"].calls[0]).endswith("Fact: 40% work remotely.")
    assert asked(models["writer"].calls[0]).endswith("Insight: hiring widened.")


async def test_pipeline_offline_fills_every_stage() -> None:
    result = await pipeline.graph().run(
        {"topic": "The impact of remote work on small software companies"}
    )
    assert result.completed
    assert result.path == ["researcher", "analyst", "writer"]
    assert all(
        text.startswith("[offline]")
        for text in (result.state.research, result.state.analysis, result.state.report)
    )


# --- parallel analysis ---------------------------------------------------------------------


async def test_parallel_analysis_runs_three_agents_then_joins_once() -> None:
    models = {
        "sentiment": model(say("mixed")),
        "topics": model(say("dashboard, support")),
        "entities": model(say("Acme, Berlin")),
    }
    result = await parallel_analysis.build(models=models).run({"text": "Acme in Berlin"})
    assert result.path == ["sentiment", "topics", "entities", "combine"]
    assert result.steps == 2  # the three analysts share one step
    assert result.state.summary == (
        "Sentiment: mixed\nTopics: dashboard, support\nEntities: Acme, Berlin"
    )


async def test_parallel_analysis_offline_extracts_sentiment_topics_and_entities() -> None:
    text = "I love the new Acme dashboard, but the Berlin support team was slow to answer."
    result = await parallel_analysis.graph().run({"text": text})
    assert result.completed
    assert result.path == ["sentiment", "topics", "entities", "combine"]
    assert result.state.sentiment.startswith("[offline] Sentiment:")
    assert "Acme" in result.state.entities and "Berlin" in result.state.entities
    assert result.state.summary.count("\n") == 2


# --- parallel research ---------------------------------------------------------------------


def sub_question(call: ModelCall) -> str:
    return (call.system_instructions or "").split(": ", 1)[1].split(". ")[0]


async def test_parallel_research_sends_one_branch_per_sub_question() -> None:
    models = {
        "planner": model(structured({"sub_questions": ["What does it cost?", "Is it safe?"]})),
        "research": model(*[answer_with(lambda c: f"Finding on {sub_question(c)}")] * 2),
        "synthesizer": model(say("Move, with a security review.")),
    }
    result = await parallel_research.build(models=models).run({"question": "Cloud or not?"})
    assert result.path == ["planner", "research", "research", "collect", "synthesizer"]
    assert result.state.findings == ["Finding on What does it cost?", "Finding on Is it safe?"]
    assert result.state.notes.startswith("Q: What does it cost?\nA: Finding on What does it cost?")
    assert result.state.answer == "Move, with a security review."
    assert "Finding on Is it safe?" in asked(models["synthesizer"].calls[0])


async def test_parallel_research_offline_fans_out_and_synthesizes() -> None:
    result = await parallel_research.graph().run(
        {"question": "Should a 20-person company move its servers to the cloud?"}
    )
    assert result.completed
    assert result.path[0] == "planner" and result.path[-2:] == ["collect", "synthesizer"]
    assert result.visits["research"] >= 2
    assert len(result.state.findings) == result.visits["research"]


# --- evaluator loop ------------------------------------------------------------------------


async def test_evaluator_revises_with_feedback_until_the_score_passes() -> None:
    models = {
        "writer": model(say("Draft one."), say("Draft two.")),
        "evaluator": model(
            structured({"score": 5, "feedback": "Add numbers."}),
            structured({"score": 8, "feedback": "Good."}),
        ),
    }
    result = await evaluator.build(models=models).run({"task": "Solar panels"})
    assert result.path == ["writer", "evaluator", "writer", "evaluator"]
    assert result.state.draft == "Draft two."
    assert result.state.evaluation == evaluator.Evaluation(score=8, feedback="Good.")
    assert not result.state.best_effort
    assert "Previous feedback: Add numbers." in asked(models["writer"].calls[1])


async def test_evaluator_returns_its_best_effort_at_the_cap() -> None:
    models = {
        "writer": model(say("Draft one."), say("Draft two.")),
        "evaluator": model(
            structured({"score": 3, "feedback": "Weak."}),
            structured({"score": 6, "feedback": "Better."}),
        ),
    }
    result = await evaluator.build(models=models, max_rounds=2).run({"task": "Solar panels"})
    assert result.path == ["writer", "evaluator", "writer", "evaluator", "best_effort"]
    assert result.state.best_effort
    assert result.state.draft == "Draft two."


async def test_evaluator_offline_iterates_as_the_score_rises() -> None:
    result = await evaluator.graph().run(
        {"task": "A short blog post about solar panels for homeowners"}
    )
    assert result.completed
    assert result.path == ["writer", "evaluator"] * 3
    assert result.state.evaluation is not None and result.state.evaluation.score == 9
    assert not result.state.best_effort


# --- reflection ----------------------------------------------------------------------------


async def test_reflection_feeds_the_critique_back_into_the_generator_conversation() -> None:
    models = {
        "generator": model(say("Rain on glass."), say("Rain taps the glass.")),
        "critic": model(
            structured({"approved": False, "feedback": "Use a sound."}),
            structured({"approved": True, "feedback": "Vivid."}),
        ),
    }
    result = await reflection.build(models=models).run({"request": "A haiku about rain"})
    assert result.path == ["generator", "critic", "generator", "critic"]
    assert result.state.output == "Rain taps the glass."
    assert result.state.critique is not None and result.state.critique.approved
    second = models["generator"].calls[1]
    assert "Rain on glass." in str(second.input)  # its own earlier attempt
    assert "Feedback: Use a sound." in asked(second)


async def test_reflection_offline_stops_when_the_critic_approves() -> None:
    result = await reflection.graph().run({"request": "A haiku about autumn rain in the city"})
    assert result.completed
    assert result.path == ["generator", "critic"] * 3
    assert result.state.critique is not None and result.state.critique.approved
    assert len(result.state.messages) == 6  # request, 3 drafts, 2 critiques


# --- debate --------------------------------------------------------------------------------


async def test_debate_alternates_for_the_given_rounds_then_the_judge_concludes() -> None:
    models = {
        "pro": model(say("More focus."), say("Trials worked.")),
        "con": model(say("Coverage gaps."), say("Not for support.")),
        "judge": model(say("Pilot it in engineering.")),
    }
    result = await debate.build(models=models, rounds=2).run({"question": "Four-day week?"})
    assert result.path == ["pro", "con", "pro", "con", "judge"]
    assert result.state.transcript == [
        "More focus.",
        "Coverage gaps.",
        "Trials worked.",
        "Not for support.",
    ]
    assert result.state.verdict == "Pilot it in engineering."
    judge_saw = asked(models["judge"].calls[0])
    assert "Pro: More focus.\nCon: Coverage gaps." in judge_saw
    assert judge_saw.endswith("Provide your conclusion.")


async def test_debate_offline_runs_three_rounds_before_the_judge() -> None:
    result = await debate.graph().run({"question": "Should our team adopt a four-day work week?"})
    assert result.completed
    assert result.path == ["pro", "con"] * 3 + ["judge"]
    assert len(result.state.transcript) == 6
    assert result.state.verdict.startswith("[offline]")


# --- supervisor with agents as tools -------------------------------------------------------


async def test_supervisor_delegates_to_its_tool_agents_inside_one_node() -> None:
    # Named models resolve through the run's provider, so nested calls are recorded per agent.
    provider = ScriptedProvider(
        {
            "supervisor-model": model(
                call("assign_research", {"input": "e-bike benefits"}),
                call("assign_writing", {"input": "Notes: cheaper, healthier"}),
                say("Newsletter: e-bikes are cheaper and healthier."),
            ),
            "researcher-model": model(say("cheaper, healthier")),
            "writer-model": model(say("E-bikes are cheaper and healthier.")),
        }
    )
    graph = supervisor.build(
        models={
            "supervisor": "supervisor-model",
            "researcher": "researcher-model",
            "writer": "writer-model",
        }
    )
    result = await graph.run({"request": "E-bike newsletter item"}, model_provider=provider)
    assert result.path == ["supervisor"]
    assert result.state.answer == "Newsletter: e-bikes are cheaper and healthier."
    agents = [e.agent for e in result.events if isinstance(e, ModelCalled)]
    assert agents == ["supervisor", "researcher", "supervisor", "writer", "supervisor"]
    assert all(e.node == "supervisor" for e in result.events if isinstance(e, ModelCalled))


async def test_supervisor_offline_calls_a_worker_and_answers_from_it() -> None:
    result = await supervisor.graph().run(
        {"request": "Research the benefits of electric bikes and write a short newsletter item."},
        events=True,
    )
    assert result.completed
    assert result.path == ["supervisor"]
    tools = [e.name for e in result.events if isinstance(e, AgentItem) and e.kind == "tool_call"]
    assert tools == ["assign_research"]
    assert result.usage["supervisor"]["requests"] == 3  # supervisor, researcher, supervisor
    assert result.state.answer.startswith("[offline] Based on assign_research")


# --- supervisor whose tools call Runner.run ------------------------------------------------


async def test_supervisor_runner_tools_run_their_workers_inside_the_node(tmp_path: Path) -> None:
    def provider() -> ScriptedProvider:
        return ScriptedProvider(
            {
                "supervisor-model": model(
                    call("research", {"topic": "e-bike benefits"}),
                    call("write", {"notes": "cheaper, healthier"}),
                    say("Newsletter: e-bikes are cheaper and healthier."),
                ),
                "researcher-model": model(say("cheaper, healthier")),
                "writer-model": model(say("E-bikes are cheaper and healthier.")),
            }
        )

    names = {
        "supervisor": "supervisor-model",
        "researcher": "researcher-model",
        "writer": "writer-model",
    }
    graph = supervisor_runner.build(models=names)
    store = str(tmp_path / "runs.db")
    result = await graph.run(
        {"request": "E-bike newsletter item"}, model_provider=provider(), events=True, store=store
    )
    assert result.path == ["supervisor"]
    assert result.state.answer == "Newsletter: e-bikes are cheaper and healthier."
    called = [e.model for e in result.events if isinstance(e, ModelCalled)]
    assert called == [
        "supervisor-model",
        "researcher-model",
        "supervisor-model",
        "writer-model",
        "supervisor-model",
    ]
    outputs = [e.content for e in result.events if isinstance(e, AgentItem)]
    assert "E-bikes are cheaper and healthier." in outputs  # the writer's answer, via the tool
    # The workers' calls were recorded with the node's: a replay needs no model at all.
    report = await supervisor_runner.build(models=names).replay(result.run_id, store=store)
    assert report.matched, (report.reason, report.expected, report.actual)
    assert (report.recorded_answers, report.model_calls) == (5, 0)


async def test_supervisor_runner_offline_runs_a_worker_through_runner() -> None:
    result = await supervisor_runner.graph().run(
        {"request": "Research the benefits of electric bikes and write a short newsletter item."},
        events=True,
    )
    assert result.completed
    tools = [e.name for e in result.events if isinstance(e, AgentItem) and e.kind == "tool_call"]
    assert tools == ["research"]
    assert result.usage["supervisor"]["requests"] == 3  # supervisor, researcher, supervisor
    assert result.state.answer.startswith("[offline] Based on research")


# --- dynamic specialists -------------------------------------------------------------------


async def test_dynamic_specialists_get_their_instructions_from_the_payload() -> None:
    models = {
        "analyzer": model(structured({"specialties": ["tax", "marketing", "tax"]})),
        "specialist": model(
            *[answer_with(lambda c: (c.system_instructions or "").split(".")[0])] * 2
        ),
    }
    graph = dynamic_specialists.build(models=models)
    result = await graph.run({"request": "Tax and marketing advice for a bakery"})
    assert result.path == ["analyzer", "specialist", "specialist", "merge"]
    assert result.state.answers == ["You are an expert in tax", "You are an expert in marketing"]
    assert result.state.report == (
        "## tax\nYou are an expert in tax\n\n## marketing\nYou are an expert in marketing"
    )


async def test_dynamic_specialists_offline_consults_one_specialist_per_specialty() -> None:
    result = await dynamic_specialists.graph().run(
        {"request": "Tax, marketing and hiring advice for opening a second bakery"}
    )
    assert result.completed
    assert result.path == ["analyzer", "specialist", "specialist", "specialist", "merge"]
    assert 'expert in marketing"' in result.state.answers[1]
    assert result.state.report.count("## ") == 3


async def test_dynamic_specialists_are_new_agents_made_from_the_analysis() -> None:
    models = {
        "analyzer": model(structured({"specialties": ["tax", "hiring"]})),
        "specialist": model(say("Deduct the oven."), say("Hire a baker.")),
    }
    graph = dynamic_specialists.build(models=models)
    result = await graph.run({"request": "Tax and hiring for a bakery"}, events=True)
    made = [e.agent for e in result.events if isinstance(e, ModelCalled) and e.node == "specialist"]
    assert sorted(made) == ["Hiring Specialist", "Tax Specialist"]
    instructions = sorted(c.system_instructions or "" for c in models["specialist"].calls)
    assert instructions[0].startswith("You are an expert in hiring.")
    assert "(tax are covered by other experts)" in instructions[0]
    assert graph.nodes["specialist"].meta["made_at_run_time"] is True
