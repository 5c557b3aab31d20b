"""``ctx.interrupt()`` called inside a function tool of an agent node pauses the run durably (status
waiting, the request stored) instead of the model hearing "an error occurred", and ``resume``
goes on from that tool call through the SDK's saved ``RunState``: the tool runs again and this
time ``ctx.interrupt`` returns the answer; the model is not asked again from the start. Checked
through the real ``agents.Runner`` with scripted models, and across processes on SQLite.

Run as a script (``python -m tests.test_tool_interrupts run|resume DB [RUN VALUE]``) it is the
worker process of the cross-process test."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import pytest
from agents import Agent, RunConfig, RunContextWrapper, Runner, SQLiteSession, function_tool
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call

from orchestrator import AgentItem, Context, ModelCalled, NodeFailedError, RunStatus, node_context
from orchestrator.agent import graph_from_agent
from orchestrator.store import MemoryStore, SQLiteStore

USER = [{"role": "user", "content": "Refund order A-17, please"}]
ERROR_TEXT = "An error occurred while running the tool"


class Log:
    """What the tools did, in order (a file in the cross-process test)."""

    def __init__(self, path: str | None = None) -> None:
        self.path, self.entries = path, []  # type: ignore[var-annotated]

    def add(self, entry: str) -> None:
        if self.path is None:
            self.entries.append(entry)
        else:
            with open(self.path, "a") as f:
                f.write(entry + "\n")

    def read(self) -> list[str]:
        if self.path is None:
            return list(self.entries)
        return Path(self.path).read_text().splitlines() if Path(self.path).exists() else []


def refund_desk(log: Log, *, turns: list[Any] | None = None, questions: int = 1) -> Any:
    """A refund agent whose ``ask_manager`` tool asks a person (``ctx.interrupt``) before it
    answers, beside a ``note`` tool that does not; the model's turns are scripted."""

    @function_tool
    def note(text: str) -> str:
        """Write a note on the case."""
        log.add(f"note:{text}")
        return "noted"

    @function_tool
    def ask_manager(ctx: RunContextWrapper[Context[Any]], amount: int) -> str:
        """Ask the manager to approve a refund."""
        log.add(f"ask:{amount}")
        verdict = ctx.context.interrupt({"question": f"refund {amount} EUR?"})
        if questions > 1:
            reason = ctx.context.interrupt({"question": "why?"})
            verdict = f"{verdict} ({reason})"
        log.add(f"verdict:{verdict}")
        return f"manager: {verdict}"

    scripted = turns or [
        [
            function_call("note", '{"text": "A-17"}', call_id="call_note"),
            function_call("ask_manager", '{"amount": 30}', call_id="call_ask"),
        ],
        [assistant_message("Refunded 30 EUR.")],
    ]
    model = ScriptedModel(scripted)
    agent = Agent(name="Refund Agent", model=model, tools=[note, ask_manager])
    return graph_from_agent(agent), model


def conversation(messages: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    shown: list[tuple[str, Any]] = []
    for item in messages:
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


async def test_an_interrupt_in_a_tool_pauses_the_run_with_the_request_stored(
    tmp_path: Path,
) -> None:
    log = Log()
    graph, model = refund_desk(log)
    store = SQLiteStore(tmp_path / "runs.db")
    paused = await graph.run({"messages": USER}, store=store, events=True)
    assert paused.status is RunStatus.WAITING
    (waiting,) = paused.waiting
    assert waiting.node == "refund_agent"
    request = waiting.request
    assert request["kind"] == "tool_interrupt"
    assert request["request"] == {"question": "refund 30 EUR?"}
    assert (request["tool"], request["call_id"]) == ("ask_manager", "call_ask")
    record = await store.get_run(paused.run_id)
    assert record.status == "waiting"
    assert record.waiting[0]["request"]["request"] == {"question": "refund 30 EUR?"}
    # The model was never told the tool failed, and was asked once.
    texts = [e.content for e in paused.events if isinstance(e, AgentItem)]
    assert not any(ERROR_TEXT in t for t in texts)
    assert model.remaining_steps == 1
    assert sorted(log.read()) == ["ask:30", "note:A-17"]


async def test_resume_goes_on_from_the_tool_call_with_the_answer(tmp_path: Path) -> None:
    log = Log()
    graph, model = refund_desk(log)
    store = SQLiteStore(tmp_path / "runs.db")
    paused = await graph.run({"messages": USER}, store=store)
    done = await graph.resume(paused.run_id, "approved", store=store)
    assert done.status is RunStatus.COMPLETED
    assert done.state.answer == "Refunded 30 EUR."
    # The tool ran again and got the answer; the note beside it did not run again, and the
    # model was asked once more, not from the start (its script has no third turn).
    assert sorted(log.read()[:2]) == ["ask:30", "note:A-17"]
    assert log.read()[2:] == ["ask:30", "verdict:approved"]
    assert model.remaining_steps == 0
    assert conversation(done.state.messages) == [
        ("user", "Refund order A-17, please"),
        ("call", "note"),
        ("call", "ask_manager"),
        ("output", "noted"),
        ("output", "manager: approved"),
        ("text", "Refunded 30 EUR."),
    ]


async def test_the_nodes_context_interrupts_from_a_tool_given_the_users_context() -> None:
    @function_tool
    def ask(ctx: RunContextWrapper[dict[str, str]], topic: str) -> str:
        """Ask a person."""
        answer = node_context(ctx).interrupt(f"what about {topic}?")
        return f"{ctx.context['user']} says {answer}"

    model = ScriptedModel(
        [
            [function_call("ask", '{"topic": "fees"}', call_id="c1")],
            [assistant_message("done")],
        ]
    )
    graph = graph_from_agent(Agent(name="Asker", model=model, tools=[ask]))
    context = {"user": "Ana"}
    store = MemoryStore()
    paused = await graph.run({"messages": USER}, store=store, context=context)
    assert paused.waiting[0].request["request"] == "what about fees?"
    done = await graph.resume(paused.run_id, "no fees", store=store, context=context)
    assert done.state.answer == "done"
    assert ("output", "Ana says no fees") in conversation(done.state.messages)


async def test_a_tool_that_asks_twice_pauses_twice_and_gets_each_answer(tmp_path: Path) -> None:
    log = Log()
    graph, model = refund_desk(log, questions=2)
    store = SQLiteStore(tmp_path / "runs.db")
    first = await graph.run({"messages": USER}, store=store)
    assert first.waiting[0].request["request"] == {"question": "refund 30 EUR?"}
    second = await graph.resume(first.run_id, "yes", store=store)
    assert second.status is RunStatus.WAITING
    assert second.waiting[0].request["request"] == {"question": "why?"}
    done = await graph.resume(first.run_id, "loyal customer", store=store)
    assert done.status is RunStatus.COMPLETED
    assert ("output", "manager: yes (loyal customer)") in conversation(done.state.messages)
    assert model.remaining_steps == 0
    assert log.read().count("note:A-17") == 1


async def test_an_interrupt_in_a_later_turn_keeps_the_earlier_turns() -> None:
    log = Log()
    turns = [
        [function_call("note", '{"text": "first"}', call_id="c_note")],
        [function_call("ask_manager", '{"amount": 5}', call_id="c_ask")],
        [assistant_message("Refunded 5 EUR.")],
    ]
    graph, model = refund_desk(log, turns=turns)
    store = MemoryStore()
    paused = await graph.run({"messages": USER}, store=store)
    done = await graph.resume(paused.run_id, "fine", store=store)
    assert done.state.answer == "Refunded 5 EUR."
    assert conversation(done.state.messages) == [
        ("user", "Refund order A-17, please"),
        ("call", "note"),
        ("output", "noted"),
        ("call", "ask_manager"),
        ("output", "manager: fine"),
        ("text", "Refunded 5 EUR."),
    ]
    assert model.remaining_steps == 0
    assert log.read() == ["note:first", "ask:5", "ask:5", "verdict:fine"]


REFUND_CONVERSATION = [
    ("user", "Refund order A-17, please"),
    ("call", "note"),
    ("call", "ask_manager"),
    ("output", "noted"),
    ("output", "manager: approved"),
    ("text", "Refunded 30 EUR."),
]


def approval_desk(log: Log | None = None) -> tuple[Agent[Any], ScriptedModel]:
    """The refund agent with ``ask_manager`` declared ``needs_approval`` (the SDK's own pause)
    instead of asking from inside; the same scripted turns as `refund_desk`."""

    @function_tool
    def note(text: str) -> str:
        """Write a note on the case."""
        return "noted"

    @function_tool(needs_approval=True)
    def ask_manager(amount: int) -> str:
        """Ask the manager to approve a refund."""
        if log is not None:
            log.add(f"ask:{amount}")
        return "manager: approved"

    model = ScriptedModel(
        [
            [
                function_call("note", '{"text": "A-17"}', call_id="call_note"),
                function_call("ask_manager", '{"amount": 30}', call_id="call_ask"),
            ],
            [assistant_message("Refunded 30 EUR.")],
        ]
    )
    return Agent(name="Refund Agent", model=model, tools=[note, ask_manager]), model


async def native_approval_session(tmp_path: Path) -> tuple[list[Any], list[Any]]:
    """What an SDK session holds when plain ``Runner.run`` pauses the refund turn for an
    approval of ``ask_manager`` and then goes on: at the pause, and at the end."""
    agent, _ = approval_desk()
    session = SQLiteSession("native", str(tmp_path / "native.db"))
    result = await Runner.run(agent, USER, session=session)
    at_pause = await session.get_items()
    state = result.to_state()
    for item in state.get_interruptions():
        state.approve(item)
    await Runner.run(agent, state, session=session)
    return at_pause, await session.get_items()


@pytest.mark.parametrize("stream", [False, True], ids=["run", "streamed"])
@pytest.mark.parametrize("kind", ["interrupt", "approval"])
async def test_a_tool_call_paused_with_an_sdk_session_resumes_as_runner_does(
    tmp_path: Path, kind: str, stream: bool
) -> None:
    """The session holds what plain ``Runner`` leaves in it, at the pause and at the end, whether
    the tool asked (``ctx.interrupt``) or was declared ``needs_approval``; the run state's
    conversation is the session's."""
    native_pause, native_end = await native_approval_session(tmp_path)
    assert conversation(native_end) == REFUND_CONVERSATION
    log = Log()
    if kind == "interrupt":
        graph, model = refund_desk(log)
    else:
        agent, model = approval_desk(log)
        graph = graph_from_agent(agent)
    graph.nodes["refund_agent"].call.stream = stream
    store = SQLiteStore(tmp_path / "runs.db")
    session = SQLiteSession("refunds", str(tmp_path / "session.db"))
    paused = await graph.run({"messages": USER}, store=store, session=session)
    assert paused.status is RunStatus.WAITING
    assert conversation(await session.get_items()) == conversation(native_pause)
    # A fresh store and session on the same files, as a new process would open them.
    store = SQLiteStore(tmp_path / "runs.db")
    session = SQLiteSession("refunds", str(tmp_path / "session.db"))
    done = await graph.resume(paused.run_id, "approved", store=store, session=session)
    assert done.status is RunStatus.COMPLETED
    assert done.state.answer == "Refunded 30 EUR."
    assert conversation(await session.get_items()) == REFUND_CONVERSATION
    assert conversation(done.state.messages) == REFUND_CONVERSATION
    assert model.remaining_steps == 0
    assert log.read()[-1] == ("verdict:approved" if kind == "interrupt" else "ask:30")


async def test_resuming_without_the_session_it_paused_with_fails_naming_the_node(
    tmp_path: Path,
) -> None:
    graph, _ = refund_desk(Log())
    store = SQLiteStore(tmp_path / "runs.db")
    session = SQLiteSession("refunds", str(tmp_path / "session.db"))
    paused = await graph.run({"messages": USER}, store=store, session=session)
    with pytest.raises(NodeFailedError, match="refund_agent") as failed:
        await graph.resume(paused.run_id, "approved", store=store)
    assert "resume with the same session" in str(failed.value)
    assert (await store.get_run(paused.run_id)).status == "failed"


@pytest.mark.parametrize("keyword", ["previous_response_id", "conversation_id"])
async def test_a_tool_call_paused_in_a_server_side_conversation_resumes_as_runner_does(
    keyword: str,
) -> None:
    """With the conversation kept by the server, the resumed agent sends only the tool outputs,
    going on from the interrupted turn's response, as plain ``Runner`` does after approving."""

    def asked(model: ScriptedModel) -> list[Any]:
        return [
            (
                c.previous_response_id,
                c.conversation_id,
                [item.get("type") or item.get("role") for item in c.input],
            )
            for c in model.calls
        ]

    agent, native_model = approval_desk()
    first = await Runner.run(agent, USER, **{keyword: "server_0"})
    state = first.to_state()
    for item in state.get_interruptions():
        state.approve(item)
    native = await Runner.run(agent, state)

    graph, model = refund_desk(Log())
    store = MemoryStore()
    paused = await graph.run({"messages": USER}, store=store, **{keyword: "server_0"})
    done = await graph.resume(paused.run_id, "approved", store=store, **{keyword: "server_0"})
    assert done.state.answer == native.final_output == "Refunded 30 EUR."
    assert asked(model) == asked(native_model)
    assert len(model.calls) == 2


EARLIER_VISIT = [
    {"role": "user", "content": "hi (earlier visit)"},
    {"role": "user", "content": "thanks"},
]


def _last_item_only(data: Any) -> Any:
    from agents.run import ModelInputData

    return ModelInputData(
        input=data.model_data.input[-1:], instructions=data.model_data.instructions
    )


@pytest.mark.parametrize("shown", ["everything", "input_filter", "history_limit"])
async def test_a_pause_keeps_the_sessions_earlier_history_whatever_the_model_was_shown(
    tmp_path: Path, shown: str
) -> None:
    """The model may see less than the session holds (the run config's model input filter, a
    session history limit): the pause takes back only the interrupted turn's own items."""
    from agents.memory import SessionSettings

    config = {
        "everything": None,
        "input_filter": RunConfig(call_model_input_filter=_last_item_only),
        "history_limit": RunConfig(session_settings=SessionSettings(limit=1)),
    }[shown]
    graph, model = refund_desk(Log())
    store = MemoryStore()
    session = SQLiteSession("refunds", str(tmp_path / "session.db"))
    await session.add_items(EARLIER_VISIT)
    paused = await graph.run({"messages": USER}, store=store, session=session, run_config=config)
    earlier = [("user", "hi (earlier visit)"), ("user", "thanks")]
    assert conversation(await session.get_items()) == [*earlier, *REFUND_CONVERSATION[:4]]
    done = await graph.resume(
        paused.run_id, "approved", store=store, session=session, run_config=config
    )
    assert done.state.answer == "Refunded 30 EUR."
    assert conversation(await session.get_items()) == [*earlier, *REFUND_CONVERSATION]
    assert model.remaining_steps == 0


async def test_resuming_with_another_session_than_it_paused_with_fails_naming_both(
    tmp_path: Path,
) -> None:
    graph, _ = refund_desk(Log())
    store = MemoryStore()
    session = SQLiteSession("refunds", str(tmp_path / "session.db"))
    paused = await graph.run({"messages": USER}, store=store, session=session)
    other = SQLiteSession("elsewhere", str(tmp_path / "session.db"))
    with pytest.raises(NodeFailedError, match="'refunds'.*session 'elsewhere'"):
        await graph.resume(paused.run_id, "approved", store=store, session=other)
    assert await other.get_items() == []


async def test_a_tool_that_asks_twice_with_an_sdk_session_keeps_the_session_whole(
    tmp_path: Path,
) -> None:
    log = Log()
    graph, model = refund_desk(log, questions=2)
    store = MemoryStore()
    assert model.remaining_steps == 2
    session = SQLiteSession("refunds", str(tmp_path / "session.db"))
    first = await graph.run({"messages": USER}, store=store, session=session)
    second = await graph.resume(first.run_id, "yes", store=store, session=session)
    assert second.waiting[0].request["request"] == {"question": "why?"}
    done = await graph.resume(first.run_id, "loyal", store=store, session=session)
    assert done.state.answer == "Refunded 30 EUR."
    expected = [
        *REFUND_CONVERSATION[:4],
        ("output", "manager: yes (loyal)"),
        REFUND_CONVERSATION[-1],
    ]
    assert conversation(await session.get_items()) == expected
    assert conversation(done.state.messages) == expected
    assert model.remaining_steps == 0


async def test_an_interrupt_in_a_later_turn_with_an_sdk_session_keeps_the_earlier_turns(
    tmp_path: Path,
) -> None:
    log = Log()
    turns = [
        [function_call("note", '{"text": "first"}', call_id="c_note")],
        [function_call("ask_manager", '{"amount": 5}', call_id="c_ask")],
        [assistant_message("Refunded 5 EUR.")],
    ]
    graph, model = refund_desk(log, turns=turns)
    store = MemoryStore()
    session = SQLiteSession("refunds", str(tmp_path / "session.db"))
    paused = await graph.run({"messages": USER}, store=store, session=session)
    done = await graph.resume(paused.run_id, "fine", store=store, session=session)
    expected = [
        ("user", "Refund order A-17, please"),
        ("call", "note"),
        ("output", "noted"),
        ("call", "ask_manager"),
        ("output", "manager: fine"),
        ("text", "Refunded 5 EUR."),
    ]
    assert conversation(await session.get_items()) == expected
    assert conversation(done.state.messages) == expected
    assert model.remaining_steps == 0


async def test_a_tool_without_a_failure_handler_pauses_too() -> None:
    @function_tool(failure_error_function=None)
    def ask(ctx: RunContextWrapper[Context[Any]]) -> str:
        """Ask a person."""
        return str(ctx.context.interrupt("ok?"))

    model = ScriptedModel(
        [[function_call("ask", "{}", call_id="c1")], [assistant_message("thanks")]]
    )
    graph = graph_from_agent(Agent(name="Asker", model=model, tools=[ask]))
    store = MemoryStore()
    paused = await graph.run({"messages": USER}, store=store)
    assert paused.waiting[0].request["kind"] == "tool_interrupt"
    done = await graph.resume(paused.run_id, "yes", store=store)
    assert done.state.answer == "thanks"


async def test_a_streamed_agent_pauses_and_goes_on_the_same_way() -> None:
    log = Log()
    graph, model = refund_desk(log)
    graph.nodes["refund_agent"].call.stream = True
    store = MemoryStore()
    paused = await graph.run({"messages": USER}, store=store)
    assert paused.waiting[0].request["request"] == {"question": "refund 30 EUR?"}
    done = await graph.resume(paused.run_id, "ok", store=store)
    assert done.state.answer == "Refunded 30 EUR."
    assert model.remaining_steps == 0
    assert sorted(log.read()) == ["ask:30", "ask:30", "note:A-17", "verdict:ok"]


@pytest.mark.parametrize("nesting", ["as_tool", "Runner.run"])
async def test_an_interrupt_in_a_nested_agents_tool_pauses_at_the_outer_tool_call(
    nesting: str,
) -> None:
    asked: list[str] = []

    @function_tool
    def confirm(ctx: RunContextWrapper[Any], item: str) -> str:
        """Confirm with a person."""
        asked.append(item)
        return f"person: {node_context(ctx).interrupt(f'ok {item}?')}"

    def respond(call: Any) -> list[Any]:
        outputs = [
            i["output"]
            for i in call.input
            if isinstance(i, dict) and i.get("type") == "function_call_output"
        ]
        if outputs:
            return [assistant_message(f"helper: {outputs[-1]}")]
        return [function_call("confirm", '{"item": "the refund"}', call_id="c_confirm")]

    helper = Agent(
        name="Helper", tools=[confirm], model=ScriptedModel([ModelStep.respond(respond)] * 3)
    )
    if nesting == "as_tool":
        tool = helper.as_tool(tool_name="ask_helper", tool_description="Ask the helper.")
    else:

        @function_tool
        async def ask_helper(input: str) -> str:
            """Ask the helper."""
            return str((await Runner.run(helper, input)).final_output)

        tool = ask_helper
    lead_model = ScriptedModel(
        [
            [function_call("ask_helper", '{"input": "check"}', call_id="c_lead")],
            [assistant_message("All set.")],
        ]
    )
    graph = graph_from_agent(Agent(name="Lead", tools=[tool], model=lead_model))
    store = MemoryStore()
    paused = await graph.run({"messages": USER}, store=store)
    request = paused.waiting[0].request
    assert (request["request"], request["tool"]) == ("ok the refund?", "ask_helper")
    done = await graph.resume(paused.run_id, "yes", store=store)
    assert done.state.answer == "All set."
    # The outer tool ran again, so the helper started over and got the answer this time.
    assert asked == ["the refund", "the refund"]
    assert ("output", "helper: person: yes") in conversation(done.state.messages)
    assert lead_model.remaining_steps == 0


async def test_recorded_replay_of_a_resumed_run_matches_without_a_model(tmp_path: Path) -> None:
    log = Log()
    graph, _ = refund_desk(log)
    store = SQLiteStore(tmp_path / "runs.db")
    paused = await graph.run({"messages": USER}, store=store)
    done = await graph.resume(paused.run_id, "approved", store=store)
    replay_graph, replay_model = refund_desk(Log())
    report = await replay_graph.replay(done.run_id, store=store)
    assert report.matched, (report.reason, report.expected, report.actual)
    assert report.model_calls == 0
    assert replay_model.remaining_steps == 2  # the recording answered every call
    assert report.result.state.answer == "Refunded 30 EUR."


async def test_the_pause_keeps_the_agents_items_and_model_calls_in_the_events(
    tmp_path: Path,
) -> None:
    graph, _ = refund_desk(Log())
    store = SQLiteStore(tmp_path / "runs.db")
    paused = await graph.run({"messages": USER}, store=store)
    done = await graph.resume(paused.run_id, "approved", store=store)
    loaded = await graph.load(done.run_id, store=store)
    items = [(e.kind, e.name) for e in loaded.events if isinstance(e, AgentItem)]
    assert items == [
        ("tool_call", "note"),
        ("tool_call", "ask_manager"),
        ("tool_output", None),
        ("tool_output", None),
        ("message", None),
    ]
    assert sum(isinstance(e, ModelCalled) for e in loaded.events) == 2


async def test_a_slow_sibling_call_finishes_before_the_pause_and_is_not_run_again(
    tmp_path: Path,
) -> None:
    """The SDK cancels a turn's other tool calls when one fails; an interrupting call waits for
    them instead, so their outputs are kept and the resumed agent does not run them again."""
    log, asked = Log(), threading.Event()

    @function_tool
    def slow_note(text: str) -> str:
        """Write a note on the case, slowly."""
        asked.wait(5)  # still running when the other call asks (sync tools run in threads)
        time.sleep(0.2)
        log.add(f"note:{text}")
        return "noted"

    @function_tool
    def ask_manager(ctx: RunContextWrapper[Context[Any]], amount: int) -> str:
        """Ask the manager to approve a refund."""
        log.add(f"ask:{amount}")
        asked.set()
        verdict = ctx.context.interrupt({"question": f"refund {amount} EUR?"})
        log.add(f"verdict:{verdict}")
        return f"manager: {verdict}"

    def desk() -> Any:
        model = ScriptedModel(
            [
                [
                    function_call("slow_note", '{"text": "A-17"}', call_id="call_note"),
                    function_call("ask_manager", '{"amount": 30}', call_id="call_ask"),
                ],
                [assistant_message("Refunded 30 EUR.")],
            ]
        )
        agent = Agent(name="Refund Agent", model=model, tools=[slow_note, ask_manager])
        return graph_from_agent(agent)

    db = tmp_path / "runs.db"
    paused = await desk().run({"messages": USER}, store=SQLiteStore(db))
    assert paused.status is RunStatus.WAITING
    assert log.read() == ["ask:30", "note:A-17"]
    done = await desk().resume(paused.run_id, "yes", store=SQLiteStore(db))
    assert done.state.answer == "Refunded 30 EUR."
    assert log.read() == ["ask:30", "note:A-17", "ask:30", "verdict:yes"]
    assert ("output", "noted") in conversation(done.state.messages)


# --- across processes --------------------------------------------------------------------------


def run_worker(*args: str, log: Path, session: Path | None = None) -> dict[str, Any]:
    env = {**os.environ, "TOOL_LOG": str(log), "OPENAI_AGENTS_DISABLE_TRACING": "1"}
    if session is not None:
        env["SESSION_DB"] = str(session)
    env.pop("OPENAI_API_KEY", None)
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "tests.test_tool_interrupts", *args],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_run_paused_in_a_tool_resumes_in_a_fresh_process_on_sqlite(tmp_path: Path) -> None:
    db, log = str(tmp_path / "runs.db"), tmp_path / "log.txt"
    paused = run_worker("run", db, log=log)
    assert paused["status"] == "waiting"
    assert paused["request"] == {"question": "refund 30 EUR?"}
    done = run_worker("resume", db, paused["run_id"], "approved by Ana", log=log)
    assert done["status"] == "completed"
    assert done["answer"] == "Refunded 30 EUR."
    # The fresh process asked the model once: it went on from the tool call.
    assert (paused["model_calls"], done["model_calls"]) == (1, 1)
    entries = Log(str(log)).read()
    assert sorted(entries[:2]) == ["ask:30", "note:A-17"]  # the turn's tools run side by side
    assert entries[2:] == ["ask:30", "verdict:approved by Ana"]


def test_a_run_paused_in_a_tool_resumes_with_its_sdk_session_in_a_fresh_process(
    tmp_path: Path,
) -> None:
    db, log, session_db = str(tmp_path / "runs.db"), tmp_path / "log.txt", tmp_path / "s.db"
    paused = run_worker("run", db, log=log, session=session_db)
    assert paused["request"] == {"question": "refund 30 EUR?"}
    done = run_worker("resume", db, paused["run_id"], "approved", log=log, session=session_db)
    assert (done["status"], done["answer"]) == ("completed", "Refunded 30 EUR.")
    assert (paused["model_calls"], done["model_calls"]) == (1, 1)
    session = SQLiteSession("refunds", str(session_db))
    assert conversation(asyncio.run(session.get_items())) == REFUND_CONVERSATION


def answering_by_input() -> list[Any]:
    """Turns that answer from what the model is shown: the tool calls until their outputs are
    there, then the answer (so each process can script the whole conversation)."""

    def respond(call: Any) -> list[Any]:
        done = any(
            isinstance(item, dict) and item.get("type") == "function_call_output"
            for item in call.input
        )
        if done:
            return [assistant_message("Refunded 30 EUR.")]
        return [
            function_call("note", '{"text": "A-17"}', call_id="call_note"),
            function_call("ask_manager", '{"amount": 30}', call_id="call_ask"),
        ]

    return [ModelStep.respond(respond)] * 2


async def _worker(argv: list[str]) -> None:
    command, db = argv[0], argv[1]
    graph, model = refund_desk(Log(os.environ["TOOL_LOG"]), turns=answering_by_input())
    store = SQLiteStore(db)
    path = os.environ.get("SESSION_DB")
    session = SQLiteSession("refunds", path) if path else None
    if command == "run":
        result = await graph.run({"messages": USER}, store=store, session=session)
    else:
        result = await graph.resume(argv[2], argv[3], store=store, session=session)
    request = result.waiting[0].request["request"] if result.waiting else None
    print(
        json.dumps(
            {
                "run_id": result.run_id,
                "status": str(result.status),
                "request": request,
                "answer": result.state.answer,
                "model_calls": len(model.calls),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(_worker(sys.argv[1:]))
