"""The graphs of each workload, built outside the timed regions."""

from __future__ import annotations

import asyncio
import operator
import random
import string
from typing import Annotated, Any, Literal

from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Graph, Send, append, extend, merge, reducer

# --- W1: one node looping to itself 1000 times --------------------------------------------------


class Counter(BaseModel):
    n: int = 0


def w1_graph(limit: int = 1000) -> CompiledGraph[Counter]:
    def inc(state: Counter) -> dict[str, Any]:
        return {"n": state.n + 1}

    def again(state: Counter) -> Literal["inc", "__end__"]:
        return "inc" if state.n < limit else "__end__"

    g = Graph(Counter, name="w1").add_node("inc", inc, max_visits=1_000_000)
    g.add_edge(START, "inc").add_route("inc", again)
    return g.compile()


# --- W2: a chain of 1000 distinct nodes --------------------------------------------------------


def w2_builder(length: int = 1000) -> Graph[Counter]:
    def inc(state: Counter) -> dict[str, Any]:
        return {"n": state.n + 1}

    g = Graph(Counter, name="w2")
    previous = START
    for i in range(length):
        name = f"node_{i}"
        g.add_node(name, inc)
        g.add_edge(previous, name)
        previous = name
    g.add_edge(previous, END)
    return g


# --- W3: fan-out of 100 subjects to a subgraph -------------------------------------------------


class Joke(BaseModel):
    subject: str = ""
    jokes: list[str] = []


class Jokes(BaseModel):
    subjects: list[str] = []
    jokes: Annotated[list[str], extend] = []
    done: bool = False


def w3_graph() -> CompiledGraph[Jokes]:
    async def edit(state: Joke) -> dict[str, Any]:
        return {"subject": f"{state.subject} - hohoho"}

    async def generate(state: Joke) -> dict[str, Any]:
        return {"jokes": [f"Joke about {state.subject}"]}

    async def bump(state: Joke) -> dict[str, Any]:
        return {"jokes": [state.jokes[0] + " a"]}

    def bump_loop(state: Joke) -> Literal["bump", "__end__"]:
        return "__end__" if state.jokes[0].endswith(" a" * 10) else "bump"

    sub = Graph(Joke, name="joke").add_node("edit", edit).add_node("generate", generate)
    sub.add_node("bump", bump, max_visits=20)
    sub.add_edge(START, "edit").add_edge("edit", "generate").add_edge("generate", "bump")
    sub.add_route("bump", bump_loop)

    def fan(state: Jokes) -> list[Send]:
        return [Send("generate_joke", {"subject": s}) for s in state.subjects]

    g = Graph(Jokes, name="w3").add_subgraph(
        "generate_joke", sub.compile(), outputs={"jokes": "jokes"}
    )
    g.add_join("collect", lambda s: {"done": True})
    g.add_route(START, fan, ["generate_joke"]).add_edge("generate_joke", "collect")
    g.add_edge("collect", END)
    return g.compile()


def w3_input(subjects: int = 100) -> dict[str, Any]:
    rng = random.Random(7)
    return {
        "subjects": ["".join(rng.choices(string.ascii_lowercase, k=1000)) for _ in range(subjects)]
    }


# --- W4: LangGraph's wide_state shape, 25x300 ---------------------------------------------------


def _keep_new(old: Any, new: Any) -> Any:
    return new


def _new_or_old(old: Any, new: Any) -> Any:
    return new if new else old


def _new_unless_none(old: Any, new: Any) -> Any:
    return new if new is not None else old


class Wide(BaseModel):
    messages: Annotated[list[Any], operator.add] = []
    trigger_events: Annotated[list[Any], operator.add] = []
    primary_issue_medium: Annotated[str, reducer(_new_or_old)] = "email"
    autoresponse: Annotated[dict[str, Any] | None, reducer(_keep_new)] = None
    issue: Annotated[dict[str, Any] | None, reducer(_new_or_old)] = None
    relevant_rules: list[Any] | None = None
    memory_docs: list[Any] | None = None
    categorizations: Annotated[list[Any], operator.add] = []
    responses: Annotated[list[Any], operator.add] = []
    user_info: Annotated[dict[str, Any] | None, reducer(_new_unless_none)] = None
    crm_info: Annotated[dict[str, Any] | None, reducer(_new_unless_none)] = None
    email_thread_id: Annotated[str | None, reducer(_new_unless_none)] = None
    slack_participants: Annotated[dict[str, Any], merge] = {}
    bot_id: str | None = None
    notified_assignees: Annotated[dict[str, Any], merge] = {}


_LISTS = {
    "messages",
    "trigger_events",
    "categorizations",
    "responses",
    "memory_docs",
    "relevant_rules",
}
_DICTS = {
    "user_info",
    "crm_info",
    "slack_participants",
    "notified_assignees",
    "autoresponse",
    "issue",
}


def w4_graph(n: int = 300) -> CompiledGraph[Wide]:
    rng = random.Random(3)

    def read_write(read: str, write: list[str]) -> Any:
        def node(state: Wide) -> dict[str, Any]:
            val = getattr(state, read)
            if isinstance(val, str):
                val = {val: val}
            single = val[-1] if isinstance(val, list) else val
            many = val if isinstance(val, list) else [val]
            return {
                k: many
                if k in _LISTS
                else single
                if k in _DICTS
                else "".join(rng.choices(string.ascii_lowercase, k=n))
                for k in write
            }

        return node

    def loop(state: Wide) -> Literal["one", "__end__"]:
        return "__end__" if len(state.messages) > n else "one"

    g = Graph(Wide, name="w4")
    g.add_node("one", read_write("messages", ["trigger_events", "primary_issue_medium"]))
    g.add_node("two", read_write("trigger_events", ["autoresponse", "issue"]))
    g.add_node("three", read_write("autoresponse", ["relevant_rules"]))
    g.add_node(
        "four", read_write("trigger_events", ["categorizations", "responses", "memory_docs"])
    )
    g.add_join(
        "five",
        read_write(
            "categorizations",
            [
                "user_info",
                "crm_info",
                "slack_participants",
                "notified_assignees",
                "email_thread_id",
                "bot_id",
            ],
        ),
    )
    g.add_node("six", read_write("responses", ["messages"]))
    g.add_edge(START, "one").add_edge("one", "two").add_edge("two", "three")
    g.add_edge("two", "four").add_edge("three", "five").add_edge("four", "five")
    g.add_edge("five", "six").add_route("six", loop)
    return g.compile()


def w4_input(outer: int = 5, inner: int = 5) -> dict[str, Any]:
    leaf = ["hi?" * 10, True, 1, 6327816386138, None] * 5
    message = {str(i) * 10: {str(j) * 10: list(leaf) for j in range(inner)} for i in range(outer)}
    return {"messages": [message]}


# --- W5: storage of an 800-step loop appending 100 bytes per step -----------------------------


class Lines(BaseModel):
    n: int = 0
    lines: Annotated[list[str], append] = []


def w5_graph(steps: int = 800) -> CompiledGraph[Lines]:
    def write(state: Lines) -> dict[str, Any]:
        return {"n": state.n + 1, "lines": f"{state.n:04d}" + "x" * 96}

    def again(state: Lines) -> Literal["write", "__end__"]:
        return "write" if state.n < steps else "__end__"

    g = Graph(Lines, name="w5").add_node("write", write, max_visits=1_000_000)
    g.add_edge(START, "write").add_route("write", again)
    return g.compile()


# --- W6: many concurrent runs of a 5-node chain awaiting 20 ms each ----------------------------


class Hop(BaseModel):
    hops: Annotated[list[int], append] = []


def w6_graph(delay: float = 0.02) -> CompiledGraph[Hop]:
    def hop(i: int) -> Any:
        async def node(state: Hop) -> dict[str, Any]:
            await asyncio.sleep(delay)
            return {"hops": i}

        return node

    g = Graph(Hop, name="w6")
    previous = START
    for i in range(5):
        g.add_node(f"hop{i}", hop(i))
        g.add_edge(previous, f"hop{i}")
        previous = f"hop{i}"
    g.add_edge(previous, END)
    return g.compile()


# --- W7: an agent loop of 100 tool calls through the real Runner ------------------------------


def w7_graph(tool_calls: int = 100) -> Any:
    """An agent node with one function tool, driven by a scripted model: ``tool_calls`` calls,
    then an answer (LangGraph's react_agent_100x shape)."""
    import json

    from agents import Agent, Model, ModelResponse, Usage, function_tool
    from agents.testing import assistant_message, function_call

    class LoopModel(Model):
        """Calls the tool until it has seen ``tool_calls`` results, then answers."""

        async def get_response(
            self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any
        ) -> ModelResponse:
            seen = sum(
                1
                for item in input
                if isinstance(item, dict) and item.get("type") == "function_call_output"
            )
            if seen < tool_calls:
                query = f"{seen:08d}-" * 400  # 3600 characters, like the peer's shape
                out = [
                    function_call("search", json.dumps({"query": query}), call_id=f"call_{seen}")
                ]
            else:
                out = [assistant_message("answer" * 100)]
            return ModelResponse(output=out, usage=Usage(requests=1), response_id=None)

        async def stream_response(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover
            raise NotImplementedError

    @function_tool
    def search(query: str) -> str:
        """Search for the query."""
        return f"result for query: {query}" * 10

    class Messages(BaseModel):
        messages: Annotated[list[dict[str, Any]], extend] = []
        answer: str = ""

    agent = Agent(name="react", instructions="Use the tool.", tools=[search], model=LoopModel())
    g = Graph(Messages, name="w7").add_agent(
        "agent", agent, output="answer", max_turns=tool_calls + 5
    )
    g.add_edge(START, "agent").add_edge("agent", END)
    return g.compile()


# --- W9: a loop appending 1 KB per step; W10: a fan-out into an append reducer ---------------


class Grow(BaseModel):
    items: Annotated[list[str], append] = []
    n: int = 0


def w9_graph(steps: int) -> CompiledGraph[Grow]:
    chunk = "x" * 1024

    def grow(state: Grow) -> dict[str, Any]:
        return {"items": chunk, "n": state.n + 1}

    def again(state: Grow) -> Literal["grow", "__end__"]:
        return "grow" if state.n < steps else "__end__"

    g = Graph(Grow, name="w9").add_node("grow", grow, max_visits=1_000_000)
    return g.add_edge(START, "grow").add_route("grow", again).compile()


def w10_graph(width: int) -> CompiledGraph[Grow]:
    def fan(state: Grow) -> list[Send]:
        return [Send("work", i) for i in range(width)]

    def work(state: Grow, ctx: Any) -> dict[str, Any]:
        return {"items": f"item {ctx.payload}"}

    g = Graph(Grow, name="w10").add_node("work", work).add_join("done", lambda s: {"n": 1})
    g.add_route(START, fan, ["work"]).add_edge("work", "done").add_edge("done", END)
    return g.compile()
