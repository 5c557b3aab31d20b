"""A subgraph's own state and its say over its parent: ``stateful=True`` keeps the child's
state across the parent's calls of the node within a run (stored with the run), and a
``Command(graph=Command.PARENT)`` from inside routes the parent graph, to targets declared with
``parent_goto`` and drawn in the diagram."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel

import visualize
from orchestrator import (
    END,
    START,
    Command,
    Graph,
    InvalidGraphError,
    NodeFailedError,
    RunStatus,
    Send,
    append,
    extend,
)
from orchestrator.store import Store
from tests.fixtures_visualize.parse import edges

# --- stateful subgraphs ----------------------------------------------------------------------


class Memo(BaseModel):
    word: str = ""
    heard: Annotated[list[str], append] = []  # the child's own memory, not mapped from the parent
    count: int = 0


class Talk(BaseModel):
    words: list[str] = ["a", "b", "c"]
    word: str = ""
    said: Annotated[list[str], extend] = []
    turn: int = 0


def memo() -> Any:
    def listen(state: Memo) -> dict[str, Any]:
        return {"heard": state.word, "count": state.count + 1}

    g = Graph(Memo, name="memo").add_node("listen", listen)
    return g.add_edge(START, "listen").add_edge("listen", END).compile()


def talk(stateful: bool, *, human: bool = False) -> Any:
    """next picks the next word; the subgraph hears it; repeat for every word."""

    def pick(state: Talk) -> dict[str, Any]:
        return {"word": state.words[state.turn], "turn": state.turn + 1}

    def more(state: Talk) -> Literal["pick", "__end__"]:
        return "pick" if state.turn < len(state.words) else "__end__"

    g = Graph(Talk, name="talk").add_node("pick", pick)
    g.add_subgraph(
        "listen",
        memo(),
        inputs={"word": "word"},
        outputs={"said": "heard"},
        stateful=stateful,
    )
    g.add_edge(START, "pick")
    if human:  # a pause between two calls of the subgraph
        g.add_human("check", prompt="go on?").add_edge("pick", "check").add_edge("check", "listen")
    else:
        g.add_edge("pick", "listen")
    g.add_route("listen", more)
    return g.compile()


async def test_a_subgraph_starts_afresh_at_every_call_by_default() -> None:
    result = await talk(stateful=False).run()
    assert result.state.said == ["a", "b", "c"]  # each call hears one word


async def test_a_stateful_subgraph_keeps_its_state_across_calls_in_a_run() -> None:
    result = await talk(stateful=True).run()
    # Each call starts from what the last one ended with: the child remembers.
    assert result.state.said == ["a", "a", "b", "a", "b", "c"]


async def test_a_stateful_subgraph_keeps_its_state_per_run() -> None:
    graph = talk(stateful=True)
    first, second = await graph.run(), await graph.run()
    assert first.state.said == second.state.said == ["a", "a", "b", "a", "b", "c"]


async def test_a_stateful_subgraphs_state_survives_a_resume_from_the_store(
    any_store: Store,
) -> None:
    paused = await talk(stateful=True, human=True).run(store=any_store, run_id="kept")
    for _ in range(3):
        assert paused.status is RunStatus.WAITING
        fresh = talk(stateful=True, human=True)  # as a new process builds it
        paused = await fresh.resume("kept", "yes", store=any_store)
    assert paused.status is RunStatus.COMPLETED
    assert paused.state.said == ["a", "a", "b", "a", "b", "c"]


async def test_a_fork_starts_from_the_subgraph_state_kept_at_its_step(any_store: Store) -> None:
    graph = talk(stateful=True)
    done = await graph.run(store=any_store, run_id="whole")
    assert done.state.said == ["a", "a", "b", "a", "b", "c"]
    # Step 2 is the first call of the subgraph; the fork goes on from what it kept then.
    fork = await graph.fork("whole", 2, store=any_store)
    assert fork.state.said == done.state.said


async def test_a_stateful_subgraph_that_finished_beside_a_pause_keeps_its_state(
    any_store: Store,
) -> None:
    def both(state: Talk) -> list[Literal["listen", "ask"]]:
        return ["listen", "ask"]

    def ask(state: Talk, ctx: Any) -> dict[str, Any]:
        return {"word": str(ctx.interrupt("word?"))}

    def build() -> Any:
        g = Graph(Talk, name="beside")
        g.add_subgraph(
            "listen", memo(), inputs={"word": "word"}, outputs={"said": "heard"}, stateful=True
        )
        g.add_node("ask", ask)
        g.add_route(START, both).add_edge("ask", "listen").add_edge("listen", END)
        return g.compile()

    await build().run({"word": "x"}, store=any_store, run_id="beside")
    done = await build().resume("beside", "y", store=any_store)
    # "listen" finished while "ask" paused; what it kept came back from the store with it, so
    # its second call remembers the first.
    assert done.path == ["listen", "ask", "listen"]
    assert done.state.said == ["x", "x", "y"]


STATEFUL_FILE = """
from typing import Annotated, Literal

from pydantic import BaseModel

from orchestrator import END, START, Graph, append, extend


class Memo(BaseModel):
    word: str = ""
    heard: Annotated[list[str], append] = []


class Talk(BaseModel):
    word: str = ""
    said: Annotated[list[str], extend] = []


def listen(state):
    return {"heard": state.word}


def again(state) -> Literal["check", "__end__"]:
    return "check" if len(state.said) < 3 else "__end__"


memo = Graph(Memo, name="memo").add_node("listen", listen)
memo.add_edge(START, "listen").add_edge("listen", END)
g = Graph(Talk, name="talkfile")
g.add_subgraph("hear", memo.compile(), inputs=["word"], outputs={"said": "heard"}, stateful=True)
g.add_human("check", prompt="next word?", field="word")
g.add_edge(START, "hear").add_route("hear", again).add_edge("check", "hear")
graph = g.compile()
"""


def test_a_stateful_subgraphs_state_is_resumed_in_another_process(tmp_path: Path) -> None:
    source = tmp_path / "statefile.py"
    source.write_text(STATEFUL_FILE)
    exe = str(Path(sys.executable).with_name("orchestrator"))
    db = str(tmp_path / "runs.db")
    first = subprocess.run(
        [exe, "run", f"{source}:graph", "--store", db, "--input", '{"word": "a"}', "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    paused = json.loads(first.stdout)
    assert paused["status"] == "waiting" and paused["state"]["said"] == ["a"]
    second = subprocess.run(
        [exe, "resume", paused["run_id"], "--store", db, "--value", "b", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stderr
    done = json.loads(second.stdout)
    # The second call, in a new process, heard "b" after the "a" the first call kept.
    assert done["status"] == "completed" and done["state"]["said"] == ["a", "a", "b"]


# --- commands to the parent ------------------------------------------------------------------


class Ticket(BaseModel):
    text: str = ""
    steps: Annotated[list[str], append] = []
    urgent: bool = False


class Desk(BaseModel):
    text: str = "fire in the server room"
    steps: Annotated[list[str], extend] = []
    escalated_by: str = ""
    outcome: str = ""


def triage(calls: Counter[str]) -> Any:
    """read -> judge; judge sends the parent to "escalate" on an urgent ticket, else on."""

    def read(state: Ticket) -> dict[str, Any]:
        calls["read"] += 1
        return {"steps": "read", "urgent": "fire" in state.text}

    def judge(state: Ticket) -> Any:
        calls["judge"] += 1
        if state.urgent:
            return Command(update={"escalated_by": "judge"}, goto="escalate", graph=Command.PARENT)
        return {"steps": "judged"}

    def file(state: Ticket) -> dict[str, Any]:
        calls["file"] += 1
        return {"steps": "filed"}

    g = Graph(Ticket, name="triage").add_node("read", read).add_node("judge", judge)
    g.add_node("file", file)
    g.add_edge(START, "read").add_edge("read", "judge").add_edge("judge", "file")
    return g.add_edge("file", END).compile()


def desk(calls: Counter[str], *, parent_goto: Any = ("escalate",)) -> Graph[Desk]:
    g = Graph(Desk, name="desk")
    g.add_subgraph(
        "triage",
        triage(calls),
        inputs=["text"],
        outputs=["steps"],
        parent_goto=parent_goto,
    )
    g.add_node("escalate", lambda s: {"outcome": "paged on-call"})
    g.add_node("close", lambda s: {"outcome": "closed"})
    g.add_edge(START, "triage").add_edge("triage", "close")
    return g.add_edge("escalate", END).add_edge("close", END)


async def test_a_command_to_the_parent_routes_the_parent_and_updates_its_state() -> None:
    calls: Counter[str] = Counter()
    result = await desk(calls).compile().run()
    assert result.path == ["triage", "escalate"]
    assert result.state.outcome == "paged on-call" and result.state.escalated_by == "judge"
    # The subgraph ended at the command: no later inner step ran, no output was mapped out.
    assert calls == {"read": 1, "judge": 1}
    assert result.state.steps == []


async def test_without_a_command_the_subgraph_node_takes_its_own_edges() -> None:
    calls: Counter[str] = Counter()
    result = await desk(calls).compile().run({"text": "printer jam"})
    assert result.path == ["triage", "close"] and result.state.steps == ["read", "judged", "filed"]


async def test_a_command_to_the_parent_after_an_inner_interrupt_survives_the_store(
    any_store: Store,
) -> None:
    def ask(state: Ticket, ctx: Any) -> Any:
        if ctx.interrupt("escalate?") == "yes":
            return Command(goto=Send("escalate", None), graph=Command.PARENT)
        return None

    def build() -> Any:
        inner = Graph(Ticket, name="asking").add_node("ask", ask)
        inner.add_edge(START, "ask").add_edge("ask", END)
        g = Graph(Desk, name="desk2").add_subgraph(
            "triage", inner.compile(), parent_goto=["escalate"]
        )
        g.add_node("escalate", lambda s: {"outcome": "paged"}).add_node("close", lambda s: None)
        g.add_edge(START, "triage").add_edge("triage", "close").add_edge("close", END)
        return g.add_edge("escalate", END).compile()

    await build().run(store=any_store, run_id="cmd")
    done = await build().resume("cmd", "yes", store=any_store)
    assert done.path == ["triage", "escalate"] and done.state.outcome == "paged"


def test_an_unknown_parent_target_is_refused_at_compile_naming_node_and_target() -> None:
    with pytest.raises(InvalidGraphError, match="subgraph node 'triage'.*'nowhere'"):
        desk(Counter(), parent_goto=["nowhere"]).compile()


async def test_an_undeclared_parent_target_fails_naming_node_and_target() -> None:
    g = desk(Counter(), parent_goto=())
    graph = g.add_edge("triage", "escalate", when=lambda s: False).compile()
    with pytest.raises(
        NodeFailedError, match="node 'judge'.*'escalate'.*'triage' does not declare"
    ):
        await graph.run()


async def test_a_command_to_the_parent_of_a_top_level_graph_fails_by_name() -> None:
    def up(state: Ticket) -> Any:
        return Command(goto="x", graph=Command.PARENT)

    g = Graph(Ticket, name="top").add_node("up", up)
    graph = g.add_edge(START, "up").add_edge("up", END).compile()
    with pytest.raises(NodeFailedError, match="'up' sent a Command to its parent graph"):
        await graph.run()


@pytest.mark.skipif(visualize.renderer_name() is None, reason="no Graphviz renderer")
async def test_parent_targets_are_drawn_as_command_edges_from_the_subgraph_node() -> None:
    graph = desk(Counter()).compile()
    drawn = edges(visualize.to_svg(graph))
    command = drawn["triage->escalate"]
    assert "parent-command" in command.classes and "Command.PARENT" in command.text
    assert "parent-command" not in drawn["triage->close"].classes
    taken = edges(visualize.to_svg(graph, await graph.run(events=True)))
    assert {"parent-command", "taken"} <= taken["triage->escalate"].classes
    assert '-.->|"Command.PARENT"|' in visualize.to_mermaid(graph)


def test_a_stateful_subgraph_node_says_so_in_the_diagram() -> None:
    assert "stateful" in visualize.to_mermaid(talk(stateful=True))
    assert "stateful" not in visualize.to_mermaid(talk(stateful=False))
