"""Small graphs that exercise every drawable feature, built with the public API, and agent
events fabricated the way agent nodes report them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel

from orchestrator import END, START, Command, Context, Graph, NodeKind, Send, append
from orchestrator.events import AgentItem, Event, ModelCalled
from orchestrator.node import Node

HOSTILE = '<script>alert(1)</script>"]; evil [ <img src=x onerror=alert(2)>'


class Inner(BaseModel):
    topic: str = ""
    notes: str = ""
    rounds: int = 0


def inner_graph() -> Any:
    def research(state: Inner) -> dict[str, Any]:
        return {"notes": f"{state.topic}#{state.rounds}", "rounds": state.rounds + 1}

    def again(state: Inner) -> Literal["research", "__end__"]:
        return "research" if state.rounds < 2 else "__end__"

    g = Graph(Inner, name="inner").add_node("research", research)
    return g.add_edge(START, "research").add_route("research", again).compile()


class Pipeline(BaseModel):
    subject: str = "cats"
    findings: Annotated[list[str], append] = []
    answer: str = ""


def _nothing(state: Any) -> None:
    return None


def _agent_call(state: Any, ctx: Any = None) -> None:
    return None


def agent_node(
    name: str,
    *,
    goto: tuple[str, ...] = (),
    agent_tools: Any = ("ask_critic",),
) -> Node:
    """An agent node as `orchestrator.agent` builds one (the call does nothing here)."""
    return Node(
        name=name,
        kind=NodeKind.AGENT,
        call=_agent_call,
        takes_ctx=False,
        goto=goto,
        meta={
            "agent": "Writer",
            "tools": ["search", "ask_critic"],
            "agent_tools": list(agent_tools),
        },
    )


def pipeline() -> Any:
    """Every kind of node and edge: code, subgraph, agent with a handoff and a tool agent,
    human, predicate edges with a capped back edge, on_error, and the cap's exit."""

    def flaky(state: Pipeline) -> None:
        raise RuntimeError("flaky failed")

    g = Graph(Pipeline, name="pipeline")
    g.add_node("plan", _nothing)
    g.add_subgraph("dig", inner_graph(), inputs={"topic": "subject"}, outputs={"findings": "notes"})
    g.add(agent_node("writer", goto=("editor",)))
    g.add_node("editor", _nothing)
    g.add_human("review", prompt="Approve the draft?", field="answer")
    g.add_node("publish", flaky, on_error="fallback")
    g.add_node("fallback", _nothing)
    g.add_edge(START, "plan").add_edge("plan", "dig").add_edge("dig", "writer")
    g.add_edge("writer", "review").add_edge("editor", "review")
    g.add_edge("review", "publish", when=lambda s: s.answer == "yes", label="approved")
    g.add_edge(
        "review",
        "writer",
        when=lambda s: s.answer != "yes",
        label="rejected",
        cap=3,
        exit="fallback",
    )
    g.add_edge("publish", END).add_edge("fallback", END)
    return g.compile()


class Branch(BaseModel):
    go: Literal["left", "right"] = "left"
    log: Annotated[list[str], append] = []


def branching() -> Any:
    """START -> pick -> left | right -> END, through a typed router."""

    def pick(state: Branch) -> Literal["left", "right"]:
        return state.go

    g = Graph(Branch, name="branching").add_node("pick", lambda s: {"log": "pick"})
    g.add_node("left", lambda s: {"log": "left"}).add_node("right", lambda s: {"log": "right"})
    g.add_edge(START, "pick").add_route("pick", pick)
    return g.add_edge("left", END).add_edge("right", END).compile()


class Counter(BaseModel):
    n: int = 0
    limit: int = 3
    items: list[str] = ["a", "b", "c"]
    log: Annotated[list[str], append] = []


def loop(limit_visits: int = 5000) -> Any:
    """A node that loops on itself until ``n`` reaches ``limit``."""

    def again(state: Counter) -> Literal["count", "__end__"]:
        return "count" if state.n < state.limit else "__end__"

    g = Graph(Counter, name="loop")
    g.add_node("count", lambda s: {"n": s.n + 1}, max_visits=limit_visits)
    return g.add_edge(START, "count").add_route("count", again).compile()


def fan_out() -> Any:
    """START -> split -> work x len(items) in parallel -> collect (join) -> END."""

    def spread(state: Counter) -> list[Literal["work"]]:
        return [Send("work", item) for item in state.items]  # type: ignore[misc]

    def work(state: Counter, ctx: Context[None]) -> dict[str, Any]:
        return {"log": f"did {ctx.payload}"}

    g = Graph(Counter, name="fan-out").add_node("split", _nothing).add_node("work", work)
    g.add_join("collect", lambda s: {"log": "collected"})
    g.add_edge(START, "split").add_route("split", spread)
    return g.add_edge("work", "collect").add_edge("collect", END).compile()


def failing(message: str = HOSTILE) -> Any:
    """START -> ok -> boom (raises ``message``) -> END."""

    def boom(state: Counter) -> None:
        raise ValueError(message)

    g = Graph(Counter, name="failing").add_node("ok", lambda s: {"log": message})
    g.add_node("boom", boom)
    return g.add_edge(START, "ok").add_edge("ok", "boom").add_edge("boom", END).compile()


def handoff() -> Any:
    """triage hands off to billing with a Command; support is a declared, untaken target."""

    def triage(state: Counter) -> Command:
        return Command(update={"log": "triaged"}, goto=("billing",))

    g = Graph(Counter, name="handoff").add_node("triage", triage, goto=["billing", "support"])
    g.add_node("billing", _nothing).add_node("support", _nothing)
    return g.add_edge(START, "triage").add_edge("billing", END).add_edge("support", END).compile()


def agent_graph() -> Any:
    """START -> writer (agent, with a tool agent) -> END."""
    g = Graph(Pipeline, name="agentic").add(agent_node("writer"))
    return g.add_edge(START, "writer").add_edge("writer", END).compile()


def agent_events(run_id: str, step: int, node: str, task_id: int, answer: str) -> list[Event]:
    """What an agent node reports while it runs: a tool call, its output, a nested agent's
    model call, the answer, and the model calls with token usage."""
    usage = {"requests": 1, "input_tokens": 120, "output_tokens": 30, "total_tokens": 150}
    return [
        ModelCalled(
            run_id,
            step,
            node,
            task_id,
            "Writer",
            "gpt-test",
            "d1",
            [{"type": "function_call", "name": "search"}],
            usage,
            0.25,
        ),
        AgentItem(run_id, step, node, task_id, "Writer", "tool_call", '{"q": "cats"}', "search"),
        AgentItem(run_id, step, node, task_id, "Writer", "tool_output", "3 results", None),
        AgentItem(run_id, step, node, task_id, "Writer", "tool_call", '{"draft": 1}', "ask_critic"),
        ModelCalled(run_id, step, node, task_id, "Critic", "gpt-test", "d2", [], usage, 0.1),
        AgentItem(run_id, step, node, task_id, "Writer", "handoff", "{}", "editor"),
        ModelCalled(
            run_id,
            step,
            node,
            task_id,
            "Writer",
            "gpt-test",
            "d3",
            [{"type": "message"}],
            usage,
            0.2,
        ),
        AgentItem(run_id, step, node, task_id, "Writer", "message", answer, None),
    ]
