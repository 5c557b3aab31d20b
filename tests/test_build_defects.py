"""Defects in building and starting a graph: unconditional loops, edits after compile(),
Command goto shapes, and run input that does not fit the state."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from orchestrator import (
    END,
    START,
    Command,
    Context,
    Graph,
    InvalidCommandError,
    InvalidInputError,
    NodeFailedError,
    RetryPolicy,
    RunStatus,
    Send,
    UnboundedCycleError,
    append,
)


class S(BaseModel):
    n: int = 0
    log: Annotated[list[str], append] = []


def writer(name: str) -> Any:
    def node(state: S) -> dict[str, Any]:
        return {"log": name}

    node.__name__ = name
    return node


# --- 1. unconditional loops ------------------------------------------------------------------


def loop_with_exit_elsewhere(**a_options: Any) -> Graph[S]:
    """a -> b -> a on plain edges; b also feeds c, whose route can leave to END."""

    def again(state: S) -> Literal["a", "__end__"]:
        return "__end__"

    g = Graph(S)
    g.add_node("a", writer("a"), **a_options).add_node("b", writer("b"))
    g.add_node("c", writer("c"))
    g.add_edge(START, "a").add_edge("a", "b").add_edge("b", "a").add_edge("b", "c")
    return g.add_route("c", again)


def test_plain_loop_is_refused_even_when_its_component_has_an_exit() -> None:
    with pytest.raises(UnboundedCycleError) as info:
        loop_with_exit_elsewhere().compile()
    assert info.value.cycle == ["a", "b"]
    message = str(info.value)
    assert "cycle a -> b -> a is made of unconditional edges only" in message
    assert "conditional route out" in message and "max_visits with on_cap" in message


def test_plain_self_loop_is_refused_even_with_a_route_out() -> None:
    def out(state: S) -> Literal["__end__"]:
        return "__end__"

    g = Graph(S).add_node("a", writer("a")).add_edge(START, "a").add_edge("a", "a")
    g.add_route("a", out)
    with pytest.raises(UnboundedCycleError, match="cycle a -> a is made of unconditional"):
        g.compile()


def test_plain_loop_with_a_capped_node_compiles_and_leaves_at_the_cap() -> None:
    result = loop_with_exit_elsewhere(max_visits=2, on_cap=END).compile().run_sync()
    assert result.status is RunStatus.COMPLETED
    assert result.state.log.count("a") == 2


def test_plain_loop_through_a_node_that_may_goto_elsewhere_compiles() -> None:
    def a(state: S) -> Command:
        return Command(update={"log": "a"}, goto="done" if state.log else "b")

    g = Graph(S).add_node("a", a, goto=["b", "done"]).add_node("b", writer("b"))
    g.add_node("done", writer("done"))
    g.add_edge(START, "a").add_edge("a", "b").add_edge("b", "a").add_edge("done", END)
    assert g.compile().run_sync().path == ["a", "b", "a", "done"]


# --- 2. the builder after compile() ----------------------------------------------------------


def test_adding_nodes_and_edges_after_compile_leaves_the_compiled_graph_as_it_was() -> None:
    g = Graph(S).add_node("a", writer("a")).add_edge(START, "a").add_edge("a", END)
    compiled = g.compile()
    edges = compiled.edges
    g.add_node("extra", writer("extra")).add_edge("a", "extra").add_edge("extra", END)
    assert compiled.run_sync().path == ["a"]
    assert compiled.edges == edges
    assert "extra" not in compiled.nodes


def test_changing_a_nodes_retry_after_compile_does_not_retry_the_compiled_node() -> None:
    calls: list[int] = []

    def flaky(state: S) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("first call fails")

    g = Graph(S).add_node("flaky", flaky).add_edge(START, "flaky").add_edge("flaky", END)
    compiled = g.compile()
    g.nodes["flaky"].retry = RetryPolicy(max_attempts=3, initial_delay=0)
    with pytest.raises(NodeFailedError, match="node 'flaky' failed at step 1 \\(attempt 1\\)"):
        compiled.run_sync()
    assert len(calls) == 1


def test_editing_a_route_mapping_after_compile_does_not_reroute_the_compiled_graph() -> None:
    g = Graph(S).add_node("a", writer("a")).add_node("b", writer("b")).add_node("c", writer("c"))
    g.add_edge(START, "a").add_route("a", lambda state: "left", {"left": "b"})
    g.add_edge("b", END).add_edge("c", END)
    g.add_edge("a", "c", when=lambda state: False)  # keeps c reachable
    compiled = g.compile()
    mapping = g.routes[0].mapping
    assert isinstance(mapping, dict)
    mapping["left"] = "c"
    assert compiled.run_sync().path == ["a", "b"]


# --- 3. Command goto -------------------------------------------------------------------------


class Got(BaseModel):
    log: Annotated[list[str], append] = []
    payloads: Annotated[list[Any], append] = []


def receiver(name: str) -> Any:
    def node(state: Got, ctx: Context[Any]) -> dict[str, Any]:
        return {"log": name, "payloads": ctx.payload}

    return node


def command_graph(goto: Any) -> Graph[Got]:
    g = Graph(Got)
    g.add_node("a", lambda state: Command(update={"log": "a"}, goto=goto), goto=["review", "c"])
    g.add_node("review", receiver("review")).add_node("c", receiver("c"))
    g.add_edge(START, "a").add_edge("review", END).add_edge("c", END)
    return g


def test_command_goto_a_node_name_goes_to_that_node() -> None:
    result = command_graph("review").compile().run_sync()
    assert result.path == ["a", "review"]
    assert result.state.log == ["a", "review"]


def test_command_goto_a_send_hands_its_payload_to_the_node() -> None:
    result = command_graph(Send("review", 1)).compile().run_sync()
    assert result.path == ["a", "review"]
    assert result.state.payloads == [1]


def test_command_goto_a_list_of_names_and_sends_starts_each() -> None:
    result = command_graph(["review", Send("c", 2)]).compile().run_sync()
    assert sorted(result.path[1:]) == ["c", "review"]
    assert result.state.log == ["a", "review", "c"]
    assert result.state.payloads == [None, 2]


def test_command_goto_of_another_type_is_refused_naming_the_value() -> None:
    with pytest.raises(InvalidCommandError, match=r"\{'b': 1\} \(dict\) is neither a node name"):
        Command(goto={"b": 1})
    with pytest.raises(TypeError, match=r"3 \(int\) is neither a node name nor a Send"):
        Command(goto=["b", 3])


def test_node_returning_a_bad_command_fails_naming_the_node_and_the_value() -> None:
    with pytest.raises(NodeFailedError, match=r"node 'a' failed.*5 \(int\) is neither"):
        command_graph(5).compile().run_sync()


# --- 4. run input ----------------------------------------------------------------------------


class Essay(BaseModel):
    topic: str = ""
    score: int = 0
    author: str = Field(default="", alias="by")


def essay_graph() -> Any:
    g = Graph(Essay).add_node("write", lambda state: {"score": len(state.topic)})
    return g.add_edge(START, "write").add_edge("write", END).compile()


def test_run_input_with_an_unknown_field_is_refused_naming_it_and_the_fields() -> None:
    with pytest.raises(InvalidInputError) as info:
        essay_graph().run_sync({"topic": "joins", "subject": "x"})
    assert info.value.unknown == ["subject"]
    message = str(info.value)
    assert "run input names 'subject', not a field of state 'Essay'" in message
    assert "fields are: author, score, topic" in message


def test_run_input_with_an_invalid_value_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInputError) as info:
        essay_graph().start({"score": "high"})
    assert list(info.value.invalid) == ["score"]
    assert "field 'score': Input should be a valid integer" in str(info.value)
    assert "'high'" in str(info.value)


def test_run_input_by_alias_is_accepted() -> None:
    assert essay_graph().run_sync({"topic": "joins", "by": "ann"}).state.author == "ann"
