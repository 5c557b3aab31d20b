"""Agents SDK code in agent nodes behaves as ``Runner.run`` would on the same agents: the user's
context, ``run_config``, ``hooks``, ``max_turns``, ``session``, server-side conversation ids,
``on_handoff`` hooks, ``input_filter``, guardrails, two handoffs in one turn, nested runs in a
tool, and recorded replay by task and call order. Each behaviour is checked through the real
``agents.Runner`` with scripted models, against plain ``Runner.run`` where the SDK defines it."""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from agents import (
    Agent,
    AgentHooks,
    AgentsException,
    GuardrailFunctionOutput,
    HandoffInputData,
    InputGuardrailTripwireTriggered,
    MaxTurnsExceeded,
    Model,
    ModelSettings,
    RunConfig,
    RunContextWrapper,
    RunHooks,
    Runner,
    SQLiteSession,
    function_tool,
    handoff,
    input_guardrail,
    output_guardrail,
)
from agents.extensions import handoff_filters
from agents.testing import ScriptedModel

from orchestrator import (
    END,
    START,
    AgentRunError,
    Context,
    Graph,
    ModelCalled,
    NodeFailedError,
    Send,
    extend,
    node_context,
)
from orchestrator.agent import Conversation, agent_node, graph_from_agent
from orchestrator.store import SQLiteStore, Store
from tests.support.scripted import ScriptedProvider, call, model, say

USER = [{"role": "user", "content": "I was charged twice"}]


def desk(
    triage_turns: list[Any],
    billing_turns: list[Any],
    *,
    billing: dict[str, Any] | None = None,
    triage: dict[str, Any] | None = None,
    handoffs: Any = None,
) -> tuple[Agent[Any], Agent[Any]]:
    """A triage agent handing off to billing, with fresh scripted models."""
    billing_agent = Agent(name="Billing", model=model(*billing_turns), **(billing or {}))
    triage_agent = Agent(
        name="Triage",
        handoffs=handoffs(billing_agent) if handoffs else [billing_agent],
        model=model(*triage_turns),
        **(triage or {}),
    )
    return triage_agent, billing_agent


def outputs(items: list[Any]) -> list[tuple[str, Any]]:
    """The conversation as (kind, what) pairs: tool calls, tool outputs and texts."""
    shown: list[tuple[str, Any]] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "function_call":
            shown.append(("call", item["name"]))
        elif kind == "function_call_output":
            shown.append(("output", item["output"]))
        elif item.get("role") == "assistant":
            shown.append(("text", item["content"][0]["text"]))
        else:
            shown.append(("user", item["content"]))
    return shown


# --- 1. the user's context ---------------------------------------------------------------------


@dataclass
class Notes:
    findings: list[str] = field(default_factory=list)
    seen_by: list[str] = field(default_factory=list)


class Chat(BaseModel):
    messages: Annotated[list[dict[str, Any]], extend] = []
    answer: str = ""
    findings: Annotated[list[str], extend] = []


def researcher(turns: list[Any]) -> Agent[Any]:
    @function_tool
    def add_finding(ctx: RunContextWrapper[Notes], finding: str) -> str:
        """Add a finding."""
        ctx.context.findings.append(finding)
        return f"Added finding: {finding}"

    def instructions(ctx: RunContextWrapper[Notes], agent: Agent[Any]) -> str:
        ctx.context.seen_by.append("instructions")
        return "Research."

    @input_guardrail
    async def look(ctx: RunContextWrapper[Notes], agent: Agent[Any], text: Any) -> Any:
        ctx.context.seen_by.append("guardrail")
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered=False)

    class Hooks(AgentHooks[Notes]):
        async def on_start(self, context: Any, agent: Any) -> None:
            context.context.seen_by.append("hook")

    return Agent(
        name="Researcher",
        instructions=instructions,
        tools=[add_finding],
        input_guardrails=[look],
        hooks=Hooks(),
        model=model(*turns),
    )


async def test_tools_instructions_guardrails_and_hooks_see_the_users_context_as_runner() -> None:
    turns = [call("add_finding", {"finding": "joins wait"}), say("Done.")]
    native = Notes()
    await Runner.run(researcher(turns), USER, context=native)
    graph = graph_from_agent(researcher(turns))
    mine = Notes()
    result = await graph.run({"messages": USER}, context=mine)
    assert mine == native
    assert mine.findings == ["joins wait"]
    assert sorted(set(mine.seen_by)) == ["guardrail", "hook", "instructions"]
    assert result.state.answer == "Done."


async def test_node_context_reaches_the_graph_from_a_tool_given_the_users_context() -> None:
    @function_tool
    def record(ctx: RunContextWrapper[Notes], finding: str) -> str:
        """Record a finding."""
        ctx.context.findings.append(finding)
        here = node_context(ctx)
        here.update(findings=[f"{finding} ({here.node}, run {here.run_id[:4]})"])
        return "ok"

    agent = Agent(
        name="R", tools=[record], model=model(call("record", {"finding": "f1"}), say("ok"))
    )
    g = Graph(Chat).add_agent("research", agent, output="answer")
    g.add_edge(START, "research").add_edge("research", END)
    notes = Notes()
    result = await g.compile().run({"messages": USER}, context=notes)
    assert notes.findings == ["f1"]
    assert result.state.findings == [f"f1 (research, run {result.run_id[:4]})"]


async def test_without_a_user_context_the_sdk_context_is_the_nodes_context() -> None:
    seen: list[Any] = []

    @function_tool
    def peek(ctx: RunContextWrapper[Any]) -> str:
        """Peek."""
        seen.append((type(ctx.context), node_context(ctx) is ctx.context))
        return "ok"

    agent = Agent(name="P", tools=[peek], model=model(call("peek"), say("ok")))
    g = Graph(Chat).add_agent("p", agent).add_edge(START, "p").add_edge("p", END)
    await g.compile().run({"messages": USER})
    assert seen == [(Context, True)]


def test_node_context_outside_a_node_says_where_to_call_it() -> None:
    with pytest.raises(LookupError, match="outside a running agent node"):
        node_context()


async def test_a_nodes_own_context_wins_over_the_runs() -> None:
    @function_tool
    def mark(ctx: RunContextWrapper[Notes]) -> str:
        """Mark."""
        ctx.context.findings.append("marked")
        return "ok"

    def agent(name: str) -> Agent[Any]:
        return Agent(name=name, tools=[mark], model=model(call("mark"), say("ok")))

    own, shared = Notes(), Notes()
    g = Graph(Chat).add(agent_node("a", agent("A"), context=own)).add_agent("b", agent("B"))
    g.add_edge(START, "a").add_edge("a", "b").add_edge("b", END)
    await g.compile().run({"messages": USER}, context=shared)
    assert own.findings == ["marked"] and shared.findings == ["marked"]


# --- 2. run_config, hooks, max_turns, session, conversation ids ---------------------------------


async def test_run_config_model_settings_and_provider_reach_every_agent() -> None:
    provider = ScriptedProvider({"m": model(say("hi"))})
    agent = Agent(name="A", model="m")
    config = RunConfig(
        model_provider=provider,
        model_settings=ModelSettings(temperature=0.25),
        workflow_name="desk",
    )
    g = Graph(Chat).add_agent("a", agent, output="answer").add_edge(START, "a").add_edge("a", END)
    result = await g.compile().run({"messages": USER}, run_config=config)
    assert result.state.answer == "hi"
    scripted = provider.models["m"]
    assert isinstance(scripted, ScriptedModel)
    assert scripted.calls[0].model_settings.temperature == 0.25


class Log(RunHooks[Any]):
    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    async def on_agent_start(self, context: Any, agent: Any) -> None:
        self.seen.append(("start", agent.name))

    async def on_agent_end(self, context: Any, agent: Any, output: Any) -> None:
        self.seen.append(("end", agent.name, output))

    async def on_handoff(self, context: Any, from_agent: Any, to_agent: Any) -> None:
        self.seen.append(("handoff", from_agent.name, to_agent.name))

    async def on_tool_start(self, context: Any, agent: Any, tool: Any) -> None:
        self.seen.append(("tool", agent.name, tool.name))

    async def on_tool_end(self, context: Any, agent: Any, tool: Any, result: Any) -> None:
        self.seen.append(("tool_end", agent.name, tool.name, result))

    async def on_llm_start(
        self, context: Any, agent: Any, system_prompt: Any, input_items: Any
    ) -> None:
        self.seen.append(("llm", agent.name))


class AgentLog(AgentHooks[Any]):
    def __init__(self, seen: list[tuple[Any, ...]]) -> None:
        self.seen = seen

    async def on_start(self, context: Any, agent: Any) -> None:
        self.seen.append(("agent_start", agent.name))

    async def on_end(self, context: Any, agent: Any, output: Any) -> None:
        self.seen.append(("agent_end", agent.name, output))

    async def on_handoff(self, context: Any, agent: Any, source: Any) -> None:
        self.seen.append(("agent_handoff", agent.name, source.name))

    async def on_tool_start(self, context: Any, agent: Any, tool: Any) -> None:
        self.seen.append(("agent_tool", agent.name, tool.name))


async def test_run_hooks_and_agent_hooks_fire_as_runner_fires_them_across_a_handoff() -> None:
    @function_tool
    def balance() -> str:
        """Look up the balance."""
        return "42 EUR"

    turns = ([call("transfer_to_billing")], [call("balance"), say("You owe 42 EUR.")])

    def agents(seen: list[tuple[Any, ...]]) -> tuple[Agent[Any], Agent[Any]]:
        return desk(
            *turns,
            billing={"tools": [balance], "hooks": AgentLog(seen)},
            triage={"hooks": AgentLog(seen)},
        )

    native = Log()
    triage, _ = agents(native.seen)
    await Runner.run(triage, USER, hooks=native)
    mine = Log()
    triage, _ = agents(mine.seen)
    result = await graph_from_agent(triage).run({"messages": USER}, hooks=mine)
    assert result.path == ["triage", "billing"]
    assert mine.seen == native.seen
    assert ("handoff", "Triage", "Billing") in mine.seen
    assert ("agent_handoff", "Billing", "Triage") in mine.seen  # AgentHooks.on_handoff fires


async def test_a_streamed_handoff_chain_fires_the_same_hooks_as_a_plain_one() -> None:
    turns = ([call("transfer_to_billing")], [say("Refund issued.")])

    def graph(stream: bool) -> Any:
        triage, billing = desk(*turns)
        g = Graph(Chat).add_agent("triage", triage, stream=stream)
        g.add_agent("billing", billing, output="answer", stream=stream)
        g.add_edge(START, "triage").add_edge("triage", END).add_edge("billing", END)
        return g.compile()

    plain, streamed = Log(), Log()
    await graph(False).run({"messages": USER}, hooks=plain)
    result = await graph(True).run({"messages": USER}, hooks=streamed)
    assert streamed.seen == plain.seen
    assert result.state.answer == "Refund issued."
    with pytest.raises(NodeFailedError, match="Max turns \\(1\\) exceeded"):
        await graph(True).run({"messages": USER}, max_turns=1)


async def test_hooks_see_the_users_agent_objects() -> None:
    agents_seen: list[Any] = []

    class Same(RunHooks[Any]):
        async def on_agent_start(self, context: Any, agent: Any) -> None:
            agents_seen.append(agent)

    triage, billing = desk([call("transfer_to_billing")], [say("ok")])
    await graph_from_agent(triage).run({"messages": USER}, hooks=Same())
    assert agents_seen[0] is triage and agents_seen[1] is billing


@pytest.mark.parametrize("max_turns", [1, 2])
async def test_max_turns_counts_across_a_handoff_chain_as_runner_counts_it(max_turns: int) -> None:
    @function_tool
    def balance() -> str:
        """Look up the balance."""
        return "42 EUR"

    turns = ([call("transfer_to_billing")], [call("balance"), say("You owe 42 EUR.")])
    triage, _ = desk(*turns, billing={"tools": [balance]})
    with pytest.raises(MaxTurnsExceeded, match=f"Max turns \\({max_turns}\\) exceeded"):
        await Runner.run(triage, USER, max_turns=max_turns)
    triage, _ = desk(*turns, billing={"tools": [balance]})
    with pytest.raises(NodeFailedError) as info:
        await graph_from_agent(triage).run({"messages": USER}, max_turns=max_turns)
    assert info.value.node == "billing"
    assert isinstance(info.value.cause, AgentRunError)
    assert f"MaxTurnsExceeded: Max turns ({max_turns}) exceeded" in str(info.value)


async def test_sdk_errors_out_of_a_graph_are_caught_as_out_of_runner() -> None:
    """``except MaxTurnsExceeded`` / ``except AgentsException`` around ``graph.run`` catch what
    they catch around ``Runner.run``, with the SDK's attributes; the error is still the
    graph's `NodeFailedError` naming the node."""
    turns = ([call("transfer_to_billing")], [say("ok")])
    triage, _ = desk(*turns)
    try:
        await Runner.run(triage, USER, max_turns=1)
    except MaxTurnsExceeded as exc:
        native = exc
    triage, _ = desk(*turns)
    try:
        await graph_from_agent(triage).run({"messages": USER}, max_turns=1)
    except MaxTurnsExceeded as exc:
        mine = exc
    assert isinstance(mine, NodeFailedError) and isinstance(mine, AgentsException)
    assert mine.node == "billing"
    assert mine.message == native.message == "Max turns (1) exceeded"
    assert mine.run_data is not None and native.run_data is not None
    assert mine.run_data.last_agent.name == native.run_data.last_agent.name == "Billing"
    assert type(mine).__name__ == "NodeFailedError"

    @input_guardrail(name="no_refunds")
    async def no_refunds(ctx: Any, agent: Agent[Any], text: Any) -> GuardrailFunctionOutput:
        return GuardrailFunctionOutput(output_info="refund asked", tripwire_triggered=True)

    def guarded() -> Agent[Any]:
        return Agent(name="Desk", input_guardrails=[no_refunds], model=model(say("ok")))

    with pytest.raises(InputGuardrailTripwireTriggered) as sdk_info:
        await Runner.run(guarded(), USER)
    with pytest.raises(InputGuardrailTripwireTriggered) as graph_info:
        await graph_from_agent(guarded()).run({"messages": USER})
    for info in (sdk_info, graph_info):
        assert info.value.guardrail_result.guardrail.get_name() == "no_refunds"
        assert info.value.guardrail_result.output.output_info == "refund asked"


async def test_a_graph_run_failing_inside_a_tool_is_not_taken_for_the_agents_own_turns() -> None:
    """A tool that runs a graph (and lets its errors through) fails the agent with that graph's
    error: its `MaxTurnsExceeded` is the inner agent's budget, not the outer chain's."""

    @function_tool
    def noop() -> str:
        """No-op."""
        return "ok"

    @function_tool(failure_error_function=None)
    async def lookup() -> str:
        """Look up through a workflow of its own."""
        inner = Agent(name="Inner", tools=[noop], model=model(call("noop"), say("x")))
        result = await graph_from_agent(inner).run({"messages": USER}, max_turns=1)
        return str(result.state.answer)

    triage, _ = desk(
        [call("transfer_to_billing")], [call("lookup"), say("done")], billing={"tools": [lookup]}
    )
    with pytest.raises(NodeFailedError) as info:
        await graph_from_agent(triage).run({"messages": USER}, max_turns=5)
    assert info.value.node == "billing"
    assert "NodeFailedError: node 'inner' failed" in str(info.value)
    assert "Max turns (1) exceeded" in str(info.value)
    assert "Max turns (5)" not in str(info.value)


async def test_the_seeds_fallback_on_agents_exception_works_around_graphs_unchanged() -> None:
    from agents.exceptions import ModelBehaviorError

    class Broken(Model):
        async def get_response(self, *args: Any, **kwargs: Any) -> Any:
            raise ModelBehaviorError("garbled")

        def stream_response(self, *args: Any, **kwargs: Any) -> Any:
            raise ModelBehaviorError("garbled")

    async def run_with_fallback(primary: Any, fallback: Any, messages: Any) -> Any:
        try:  # the seed's code, with graphs in place of agents
            return await primary.run({"messages": messages})
        except AgentsException:
            return await fallback.run({"messages": messages})

    primary = graph_from_agent(Agent(name="primary", model=Broken()))
    fallback = graph_from_agent(Agent(name="fallback", model=model(say("Fallback here."))))
    result = await run_with_fallback(primary, fallback, USER)
    assert result.state.answer == "Fallback here."
    # Not an SDK error: not an AgentsException, as with Runner.
    g = Graph(Chat).add_node("code", lambda s: 1 / 0).add_edge(START, "code")
    with pytest.raises(NodeFailedError) as info:
        await g.add_edge("code", END).compile().run({})
    assert not isinstance(info.value, AgentsException)


def test_graph_errors_pickle_with_their_sdk_class_and_notes() -> None:
    """As a Ray worker sends them back: class, attributes, message and notes kept."""
    from agents.exceptions import ModelBehaviorError

    from orchestrator.models import ReplayMiss

    failed = NodeFailedError("a", 3, 2, AgentRunError("a", "A", ModelBehaviorError("garbled")))
    failed.add_note("raised in a Ray worker")
    miss = ReplayMiss("a", "f" * 64, ["tool 't' raised KeyError: 'k'"])
    miss.add_note("raised in a Ray worker")
    back = pickle.loads(pickle.dumps(failed))
    assert isinstance(back, NodeFailedError) and isinstance(back, ModelBehaviorError)
    assert (back.node, back.step, back.attempt, back.cause.agent) == ("a", 3, 2, "A")
    assert str(back) == str(failed)
    assert back.__notes__ == ["raised in a Ray worker"]
    missed = pickle.loads(pickle.dumps(miss))
    assert (str(missed), missed.__notes__) == (str(miss), ["raised in a Ray worker"])


async def test_an_sdk_error_in_a_subgraphs_agent_is_caught_as_that_error() -> None:
    triage, _ = desk([call("transfer_to_billing")], [say("ok")])
    inner = graph_from_agent(triage)
    outer = Graph(Conversation).add_subgraph("desk", inner, inputs=["messages"])
    outer.add_edge(START, "desk")
    with pytest.raises(MaxTurnsExceeded) as info:
        await outer.add_edge("desk", END).compile().run({"messages": USER}, max_turns=1)
    assert isinstance(info.value, NodeFailedError) and info.value.node == "desk"


async def test_max_turns_enough_for_the_chain_completes_for_both() -> None:
    turns = ([call("transfer_to_billing")], [say("Refund issued.")])
    triage, _ = desk(*turns)
    native = await Runner.run(triage, USER, max_turns=2)
    triage, _ = desk(*turns)
    result = await graph_from_agent(triage).run({"messages": USER}, max_turns=2)
    assert result.state.answer == native.final_output == "Refund issued."


async def test_a_session_keeps_the_conversation_across_runs_as_with_runner(tmp_path: Path) -> None:
    turns = [say("Noted: you like tea."), say("You like tea.")]

    async def twice(run: Any) -> list[Any]:
        expert = Agent(name="Expert", model=model(*turns))
        session = SQLiteSession("expert_system", str(tmp_path / f"{id(run)}.db"))
        for query in ("I like tea", "What do I like?"):
            await run(expert, query, session)
        assert isinstance(expert.model, ScriptedModel)
        return outputs(expert.model.calls[-1].input)

    async def native(agent: Agent[Any], query: str, session: Any) -> None:
        await Runner.run(agent, query, session=session)

    async def graph(agent: Agent[Any], query: str, session: Any) -> None:
        messages = [{"role": "user", "content": query}]
        await graph_from_agent(agent).run({"messages": messages}, session=session)

    seen = await twice(graph)
    assert seen == await twice(native)
    assert seen == [
        ("user", "I like tea"),
        ("text", "Noted: you like tea."),
        ("user", "What do I like?"),
    ]


async def test_a_shared_session_carries_a_handoff_chain_without_duplicates(
    tmp_path: Path,
) -> None:
    turns = ([call("transfer_to_billing")], [say("Refund issued.")])

    async def billing_saw(run: Any) -> list[Any]:
        triage, billing = desk(*turns)
        await run(triage, SQLiteSession("s", str(tmp_path / f"{id(run)}.db")))
        assert isinstance(billing.model, ScriptedModel)
        return outputs(billing.model.calls[0].input)

    async def native(triage: Agent[Any], session: Any) -> None:
        await Runner.run(triage, USER, session=session)

    async def graph(triage: Agent[Any], session: Any) -> None:
        await graph_from_agent(triage).run({"messages": USER}, session=session)

    assert await billing_saw(graph) == await billing_saw(native)


async def test_previous_response_id_and_conversation_id_reach_the_model() -> None:
    agent = Agent(name="A", model=model(say("one"), say("two")))
    g = Graph(Chat).add_agent("a", agent).add_edge(START, "a").add_edge("a", END).compile()
    await g.run({"messages": USER}, previous_response_id="resp_1")
    await g.run({"messages": USER}, conversation_id="conv_1")
    assert isinstance(agent.model, ScriptedModel)
    assert [(c.previous_response_id, c.conversation_id) for c in agent.model.calls] == [
        ("resp_1", None),
        (None, "conv_1"),
    ]


async def test_a_nodes_own_run_config_hooks_and_response_id_win_over_the_runs() -> None:
    """Per node, as per run: ``agent_node(..., run_config=, hooks=, previous_response_id=)``;
    the node's value wins where both are given, the run's fills the other node."""

    def agent(name: str) -> Agent[Any]:
        return Agent(name=name, model=model(say(f"{name} here")))

    mine, runs = Log(), Log()
    a, b = agent("A"), agent("B")
    g = Graph(Chat).add(
        agent_node(
            "a",
            a,
            run_config=RunConfig(model_settings=ModelSettings(temperature=0.75)),
            hooks=mine,
            previous_response_id="resp_node",
        )
    )
    g.add_agent("b", b).add_edge(START, "a").add_edge("a", "b").add_edge("b", END)
    await g.compile().run(
        {"messages": USER},
        run_config=RunConfig(model_settings=ModelSettings(temperature=0.1)),
        hooks=runs,
        previous_response_id="resp_run",
    )
    assert isinstance(a.model, ScriptedModel) and isinstance(b.model, ScriptedModel)
    asked = [
        (m.calls[0].model_settings.temperature, m.calls[0].previous_response_id)
        for m in (a.model, b.model)
    ]
    assert asked == [(0.75, "resp_node"), (0.1, "resp_run")]
    assert [e[:2] for e in mine.seen if e[0] == "start"] == [("start", "A")]
    assert [e[:2] for e in runs.seen if e[0] == "start"] == [("start", "B")]


async def test_a_handoffs_input_filter_shapes_what_the_next_agent_reads() -> None:
    @function_tool
    def lookup() -> str:
        """Look up the account."""
        return "account 7"

    turns = ([call("lookup"), call("transfer_to_billing")], [say("Refund issued.")])

    def agents() -> tuple[Agent[Any], Agent[Any]]:
        return desk(
            *turns,
            triage={"tools": [lookup]},
            handoffs=lambda b: [handoff(b, input_filter=handoff_filters.remove_all_tools)],
        )

    triage, billing = agents()
    await Runner.run(triage, USER)
    assert isinstance(billing.model, ScriptedModel)
    native = outputs(billing.model.calls[0].input)
    triage, billing = agents()
    result = await graph_from_agent(triage).run({"messages": USER})
    assert isinstance(billing.model, ScriptedModel)
    assert outputs(billing.model.calls[0].input) == native == [("user", USER[0]["content"])]
    assert result.state.answer == "Refund issued."


async def test_the_run_configs_handoff_input_filter_applies_too() -> None:
    seen: list[HandoffInputData] = []

    def keep_user_only(data: HandoffInputData) -> HandoffInputData:
        seen.append(data)
        return data.clone(pre_handoff_items=(), new_items=())

    turns = ([call("transfer_to_billing")], [say("ok")])
    triage, billing = desk(*turns)
    config = RunConfig(handoff_input_filter=keep_user_only)
    await graph_from_agent(triage).run({"messages": USER}, run_config=config)
    assert isinstance(billing.model, ScriptedModel)
    assert outputs(billing.model.calls[0].input) == [("user", USER[0]["content"])]
    assert [type(i).__name__ for i in seen[0].new_items] == ["HandoffCallItem", "HandoffOutputItem"]


# --- 3. guardrails, two handoffs in one turn ----------------------------------------------------


async def test_only_the_starting_agents_input_guardrails_run_as_with_runner() -> None:
    checked: list[str] = []

    def guard(name: str) -> Any:
        @input_guardrail(name=name)
        async def check(ctx: Any, agent: Agent[Any], text: Any) -> GuardrailFunctionOutput:
            checked.append(agent.name)
            return GuardrailFunctionOutput(output_info=None, tripwire_triggered=name == "billing")

        return check

    turns = ([call("transfer_to_billing")], [say("ok")])

    def agents() -> tuple[Agent[Any], Agent[Any]]:
        return desk(
            *turns,
            triage={"input_guardrails": [guard("triage")]},
            billing={"input_guardrails": [guard("billing")]},
        )

    await Runner.run(agents()[0], USER)
    native, checked[:] = list(checked), []
    result = await graph_from_agent(agents()[0]).run({"messages": USER})
    assert checked == native == ["Triage"]
    assert result.state.answer == "ok"


async def test_output_guardrails_do_not_see_a_handoffs_stand_in_output() -> None:
    checked: list[Any] = []

    @output_guardrail
    async def look(ctx: Any, agent: Agent[Any], output: Any) -> GuardrailFunctionOutput:
        checked.append((agent.name, output))
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered=False)

    turns = ([call("transfer_to_billing")], [say("ok")])

    def agents() -> tuple[Agent[Any], Agent[Any]]:
        return desk(
            *turns, triage={"output_guardrails": [look]}, billing={"output_guardrails": [look]}
        )

    await Runner.run(agents()[0], USER)
    native, checked[:] = list(checked), []
    await graph_from_agent(agents()[0]).run({"messages": USER})
    assert checked == native == [("Billing", "ok")]


async def test_a_run_configs_output_guardrail_runs_on_the_final_answer_only() -> None:
    checked: list[Any] = []

    @output_guardrail
    async def look(ctx: Any, agent: Agent[Any], output: Any) -> GuardrailFunctionOutput:
        checked.append(output)
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered=False)

    triage, _ = desk([call("transfer_to_billing")], [say("ok")])
    config = RunConfig(output_guardrails=[look])
    await graph_from_agent(triage).run({"messages": USER}, run_config=config)
    assert checked == ["ok"]


async def test_a_second_handoff_in_one_turn_is_refused_as_runner_refuses_it() -> None:
    called: list[str] = []

    def agents() -> tuple[Agent[Any], Agent[Any], Agent[Any]]:
        sales = Agent(name="Sales", model=model())
        billing = Agent(name="Billing", model=model(say("Billing here.")))

        def note(name: str) -> Any:
            async def on_handoff(ctx: Any) -> None:
                called.append(name)

            return on_handoff

        triage = Agent(
            name="Triage",
            handoffs=[
                handoff(billing, on_handoff=note("billing")),
                handoff(sales, on_handoff=note("sales")),
            ],
            model=model(turn),
        )
        return triage, billing, sales

    turn = [*call("transfer_to_billing"), *call("transfer_to_sales")]
    triage, _, _ = agents()
    native = await Runner.run(triage, USER)
    native_called, called[:] = list(called), []
    triage, _, _ = agents()
    result = await graph_from_agent(triage).run({"messages": USER})
    assert called == native_called == ["billing"]
    assert result.path == ["triage", "billing"]
    assert outputs(result.state.messages) == outputs(native.to_input_list())
    assert ("output", "Multiple handoffs detected, ignoring this one.") in outputs(
        result.state.messages
    )


# --- 4. nested Runner.run inside a tool ---------------------------------------------------------


class Exploding(Model):
    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a model was called during replay")

    async def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a model was called during replay")


class ExplodingProvider(ScriptedProvider):
    def __init__(self) -> None:
        super().__init__({})

    def get_model(self, model_name: str | None) -> Model:
        return Exploding()


def supervisor_graph(researcher_model: Any = "researcher-model", streamed: bool = False) -> Any:
    research_agent = Agent(name="Researcher", instructions="Research.", model=researcher_model)

    @function_tool
    async def assign_research(topic: str) -> str:
        """Assign research task to research agent."""
        if streamed:
            run = Runner.run_streamed(research_agent, topic)
            async for _ in run.stream_events():
                pass
            return str(run.final_output)
        result = await Runner.run(research_agent, topic)
        return str(result.final_output)

    supervisor = Agent(name="Supervisor", tools=[assign_research], model="supervisor-model")
    g = Graph(Chat, name="supervised").add_agent("supervisor", supervisor, output="answer")
    return g.add_edge(START, "supervisor").add_edge("supervisor", END).compile()


def supervisor_models() -> ScriptedProvider:
    return ScriptedProvider(
        {
            "supervisor-model": model(
                call("assign_research", {"topic": "joins"}), say("Joins wait for branches.")
            ),
            "researcher-model": model(say("They wait.")),
        }
    )


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_runner_run_inside_a_tool_uses_the_nodes_provider_and_is_recorded(
    tmp_path: Path, streamed: bool
) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    live = await supervisor_graph(streamed=streamed).run(
        {"messages": USER}, model_provider=supervisor_models(), events=True, store=store
    )
    assert live.state.answer == "Joins wait for branches."
    calls = [(e.node, e.agent, e.model) for e in live.events if isinstance(e, ModelCalled)]
    assert calls == [
        ("supervisor", "Supervisor", "supervisor-model"),
        ("supervisor", "Supervisor", "researcher-model"),
        ("supervisor", "Supervisor", "supervisor-model"),
    ]
    # No provider at all: the recording answers the nested run too.
    report = await supervisor_graph(streamed=streamed).replay(live.run_id, store=store)
    assert report.matched, (report.reason, report.expected, report.actual)
    assert report.recorded_answers == 3
    assert report.result.state.answer == "Joins wait for branches."


async def test_a_nested_agents_model_object_is_recorded_under_its_own_name(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    live = await supervisor_graph(model(say("They wait."))).run(
        {"messages": USER}, model_provider=supervisor_models(), events=True, store=store
    )
    agents_called = [e.agent for e in live.events if isinstance(e, ModelCalled)]
    assert agents_called == ["Supervisor", "Researcher", "Supervisor"]
    report = await supervisor_graph(Exploding()).replay(live.run_id, store=store)
    assert report.matched, (report.reason, report.expected, report.actual)


# --- 5. recorded replay by task and call order; what the digest covers ---------------------------


class Topics(BaseModel):
    topics: list[str] = []
    notes: Annotated[list[str], extend] = []


def fan_out(answers: list[Any]) -> Any:
    writer = Agent(name="Writer", model=model(*answers))
    g = Graph(Topics).add_agent("write", writer, prompt="Same prompt for all", output=_note)
    g.add_route(START, lambda s: [Send("write", t) for t in s.topics], ["write"])
    return g.add_edge("write", END).compile()


def _note(answer: str) -> dict[str, Any]:
    return {"notes": [answer]}


async def test_parallel_tasks_with_one_prompt_replay_their_own_answers(tmp_path: Path) -> None:
    import asyncio

    from agents.testing import ModelStep, assistant_message

    async def slowly(_: Any) -> list[Any]:
        await asyncio.sleep(0.05)  # the first task's answer is recorded after the second's
        return [assistant_message("first")]

    store = SQLiteStore(tmp_path / "r.db")
    live = await fan_out([ModelStep.respond(slowly), say("second")]).run(
        {"topics": ["a", "b"]}, store=store, events=True
    )
    assert live.state.notes == ["first", "second"]
    answers = [
        e.response[0]["content"][0]["text"] for e in live.events if isinstance(e, ModelCalled)
    ]
    assert answers == ["second", "first"]
    report = await fan_out([]).replay(live.run_id, store=store)
    assert report.matched, (report.reason, report.expected, report.actual)
    assert report.result.state.notes == ["first", "second"]


async def test_the_digest_covers_model_name_settings_and_tool_schemas(tmp_path: Path) -> None:
    def graph(temperature: float, description: str, name: str = "gpt-a") -> Any:
        @function_tool(description_override=description)
        def lookup() -> str:
            return "x"

        agent = Agent(
            name="A",
            tools=[lookup],
            model_settings=ModelSettings(temperature=temperature),
            model=name,  # by name: the run's provider makes it
        )
        g = Graph(Chat).add_agent("a", agent, output="answer")
        return g.add_edge(START, "a").add_edge("a", END).compile()

    store = SQLiteStore(tmp_path / "d.db")
    provider = ScriptedProvider({"gpt-a": model(say("hi"))})
    live = await graph(0.1, "Look up.").run(
        {"messages": USER}, store=store, events=True, model_provider=provider
    )
    assert live.state.answer == "hi"
    digest = next(e.request_digest for e in live.events if isinstance(e, ModelCalled))
    assert (await graph(0.1, "Look up.").replay(live.run_id, store=store)).matched
    changes = (graph(0.9, "Look up."), graph(0.1, "Look it up."), graph(0.1, "Look up.", "gpt-b"))
    for changed in changes:
        report = await changed.replay(live.run_id, store=store)
        assert not report.matched and "ReplayMiss" in str(report.reason)
        assert digest[:12] not in str(report.reason)
        assert report.model_calls == 0


async def test_recorded_replay_gives_the_users_context_to_tools_instructions_and_hooks(
    any_store: Store,
) -> None:
    turns = [call("add_finding", {"finding": "joins wait"}), say("Done.")]
    live = await graph_from_agent(researcher(turns)).run(
        {"messages": USER}, store=any_store, context=Notes()
    )
    again = Notes()
    report = await graph_from_agent(researcher(turns)).replay(
        live.run_id, store=any_store, context=again
    )
    assert report.matched, report.reason
    assert (report.model_calls, report.recorded_answers) == (0, 2)
    assert again.findings == ["joins wait"]
    assert sorted(set(again.seen_by)) == ["guardrail", "hook", "instructions"]
    assert report.result.state.answer == "Done."


@pytest.mark.parametrize("keyword", ["previous_response_id", "conversation_id"])
async def test_recorded_replay_of_a_server_side_conversation_takes_its_id(
    tmp_path: Path, keyword: str
) -> None:
    def graph() -> Any:
        agent = Agent(name="A", model=model(say("hi")))
        return Graph(Chat).add_agent("a", agent).add_edge(START, "a").add_edge("a", END).compile()

    store = SQLiteStore(tmp_path / "r.db")
    live = await graph().run({"messages": USER}, store=store, **{keyword: "server_0"})
    report = await graph().replay(live.run_id, store=store, **{keyword: "server_0"})
    assert report.matched, report.reason
    assert report.model_calls == 0


async def test_a_replay_without_the_context_a_tool_needs_names_the_tool_that_failed(
    any_store: Store,
) -> None:
    @function_tool
    def add_finding(ctx: RunContextWrapper[Notes], finding: str) -> str:
        """Add a finding."""
        ctx.context.findings.append(finding)
        return f"Added finding: {finding}"

    def graph() -> Any:
        turns = [call("add_finding", {"finding": "joins wait"}), say("Done.")]
        agent = Agent(name="Researcher", tools=[add_finding], model=model(*turns))
        return graph_from_agent(agent)

    live = await graph().run({"messages": USER}, store=any_store, context=Notes())
    assert live.state.answer == "Done."
    report = await graph().replay(live.run_id, store=any_store)
    assert not report.matched
    assert report.model_calls == 0
    reason = str(report.reason)
    assert "ReplayMiss" in reason and "node 'researcher'" in reason
    assert "tool 'add_finding' raised AttributeError" in reason
    assert "replay(..., deps=..., context=...)" in reason
    assert (await graph().replay(live.run_id, store=any_store, context=Notes())).matched


async def test_a_string_input_is_one_user_message_as_with_runner(tmp_path: Path) -> None:
    native_model, graph_model = model(say("hello")), model(say("hello"))
    native = await Runner.run(Agent(name="A", model=native_model), "hi there")
    store = SQLiteStore(tmp_path / "s.db")
    graph = graph_from_agent(Agent(name="A", model=graph_model))
    result = await graph.run({"messages": "hi there"}, store=store)
    assert result.state.answer == native.final_output == "hello"
    assert isinstance(native_model, ScriptedModel) and isinstance(graph_model, ScriptedModel)
    sent = [dict(item) for item in graph_model.calls[0].input]
    assert sent == [{"role": "user", "content": "hi there"}]
    assert [item.get("content") for item in native_model.calls[0].input] == ["hi there"]
    loaded = await graph.load(result.run_id, store=store)
    assert loaded.state.messages[0] == {"role": "user", "content": "hi there"}


async def test_conversation_state_default_is_unchanged_for_graph_from_agent() -> None:
    triage, _ = desk([call("transfer_to_billing")], [say("ok")])
    result = await graph_from_agent(triage).run({"messages": USER})
    assert isinstance(result.state, Conversation)
    assert outputs(result.state.messages) == [
        ("user", USER[0]["content"]),
        ("call", "transfer_to_billing"),
        ("output", '{"assistant": "Billing"}'),
        ("text", "ok"),
    ]


@pytest.mark.parametrize("keyword", ["previous_response_id", "conversation_id"])
async def test_a_handoff_target_goes_on_from_the_server_side_conversation(keyword: str) -> None:
    turns = ([call("transfer_to_billing")], [say("ok")])

    def billing_call(billing: Agent[Any]) -> Any:
        assert isinstance(billing.model, ScriptedModel)
        seen = billing.model.calls[0]
        return seen.previous_response_id, seen.conversation_id, outputs(seen.input)

    triage, billing = desk(*turns)
    await Runner.run(triage, USER, **{keyword: "server_1"})
    native = billing_call(billing)
    triage, billing = desk(*turns)
    await graph_from_agent(triage).run({"messages": USER}, **{keyword: "server_1"})
    assert billing_call(billing) == native


async def test_a_subgraphs_agents_see_the_parent_runs_context() -> None:
    @function_tool
    def mark(ctx: RunContextWrapper[Notes]) -> str:
        """Mark."""
        ctx.context.findings.append("from the subgraph")
        return "ok"

    agent = Agent(name="Inner", tools=[mark], model=model(call("mark"), say("inner done")))
    child = Graph(Chat, name="child").add_agent("inner", agent, output="answer")
    child.add_edge(START, "inner").add_edge("inner", END)
    parent = Graph(Chat, name="parent").add_subgraph(
        "sub", child.compile(), inputs={"messages": "messages"}, outputs={"answer": "answer"}
    )
    parent.add_edge(START, "sub").add_edge("sub", END)
    notes = Notes()
    result = await parent.compile().run({"messages": USER}, context=notes)
    assert notes.findings == ["from the subgraph"]
    assert result.state.answer == "inner done"
