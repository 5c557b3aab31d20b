"""compile() rejects every defect with its own error class, naming the node, edge or field."""

from __future__ import annotations

import enum
from typing import Annotated, Literal, TypedDict

import pytest
from pydantic import BaseModel

from orchestrator import (
    END,
    START,
    DeadEndError,
    DuplicateNodeError,
    Graph,
    InvalidGraphError,
    MissingEntryError,
    RouteTargetError,
    UnboundedCycleError,
    UnknownFieldError,
    UnknownNodeError,
    UnreachableNodeError,
    append,
)


class S(BaseModel):
    n: int = 0
    log: Annotated[list[str], append] = []


def step(state: S) -> None:
    return None


def test_unknown_target_names_the_edge_and_the_missing_node() -> None:
    g = Graph(S).add_node("a", step).add_edge(START, "a").add_edge("a", "ghost")
    with pytest.raises(UnknownNodeError, match=r"'a' -> 'ghost'"):
        g.compile()


def test_duplicate_node_is_refused_with_its_name() -> None:
    g = Graph(S).add_node("a", step)
    with pytest.raises(DuplicateNodeError, match="'a'"):
        g.add_node("a", step)


def test_unreachable_node_is_named() -> None:
    g = Graph(S).add_node("a", step).add_node("island", step)
    g.add_edge(START, "a").add_edge("a", END).add_edge("island", END)
    with pytest.raises(UnreachableNodeError, match="'island'") as info:
        g.compile()
    assert info.value.nodes == ["island"]


def test_node_that_cannot_reach_end_is_named() -> None:
    g = Graph(S).add_node("a", step).add_node("sink", step)
    g.add_edge(START, "a").add_edge("a", END).add_edge("a", "sink")
    with pytest.raises(DeadEndError, match="'sink'"):
        g.compile()


def test_cycle_without_conditional_exit_or_cap_is_refused() -> None:
    g = Graph(S).add_node("a", step).add_node("b", step)
    g.add_edge(START, "a").add_edge("a", "b").add_edge("b", "a").add_edge("b", END)
    with pytest.raises(UnboundedCycleError, match="neither a conditional exit nor a cap") as info:
        g.compile()
    assert set(info.value.cycle) == {"a", "b"}


def test_cycle_with_a_conditional_exit_compiles() -> None:
    def again(state: S) -> Literal["a", "__end__"]:
        return "__end__"

    g = Graph(S).add_node("a", step).add_edge(START, "a").add_route("a", again)
    assert g.compile().name == "S"


def test_cycle_with_a_node_cap_compiles() -> None:
    g = Graph(S).add_node("a", step, max_visits=3, on_cap="done").add_node("done", step)
    g.add_edge(START, "a").add_edge("a", "a").add_edge("done", END)
    g.compile()


def test_cycle_with_an_edge_cap_compiles() -> None:
    g = Graph(S).add_node("a", step).add_node("b", step)
    g.add_edge(START, "a").add_edge("a", "b").add_edge("b", "a", cap=2, exit=END)
    g.compile()


class Out(TypedDict):
    n: int
    colour: str


def test_declared_update_key_that_is_not_a_field_is_refused() -> None:
    def paint(state: S) -> Out:
        return {"n": 1, "colour": "red"}

    g = Graph(S).add_node("paint", paint).add_edge(START, "paint").add_edge("paint", END)
    with pytest.raises(UnknownFieldError, match=r"node 'paint' writes 'colour'"):
        g.compile()


def test_route_value_with_no_target_is_named() -> None:
    def pick(state: S) -> Literal["a", "billing"]:
        return "a"

    g = Graph(S).add_node("a", step).add_edge(START, "a").add_edge("a", END)
    g.add_route(START, pick)
    with pytest.raises(RouteTargetError, match="'billing'"):
        g.compile()


def test_route_mapping_to_a_missing_node_is_an_unknown_target() -> None:
    g = Graph(S).add_node("a", step).add_edge(START, "a")
    g.add_route("a", lambda s: "yes", {"yes": "nowhere", "no": END})
    with pytest.raises(UnknownNodeError, match="'nowhere'"):
        g.compile()


def test_enum_route_values_are_checked_against_nodes() -> None:
    class Dept(enum.Enum):
        SALES = "sales"
        SUPPORT = "support"

    def classify(state: S) -> Dept:
        return Dept.SALES

    g = Graph(S).add_node("sales", step).add_edge("sales", END)
    g.add_route(START, classify)
    with pytest.raises(RouteTargetError, match="SUPPORT"):
        g.compile()


def test_missing_entry_edge_is_refused() -> None:
    g = Graph(S, name="no-door").add_node("a", step).add_edge("a", END)
    with pytest.raises(MissingEntryError, match="'no-door' has no entry edge"):
        g.compile()


def test_router_without_declared_targets_is_refused_at_definition() -> None:
    g = Graph(S).add_node("a", step)
    with pytest.raises(InvalidGraphError, match="does not say where it can go"):
        g.add_route("a", lambda s: "a")


def test_state_must_be_a_pydantic_model() -> None:
    with pytest.raises(InvalidGraphError, match="pydantic BaseModel"):
        Graph(dict)  # type: ignore[type-var]


def test_compiled_graph_lists_every_declared_edge_once() -> None:
    def pick(state: S) -> Literal["b", "c"]:
        return "b"

    g = Graph(S).add_node("a", step).add_node("b", step).add_node("c", step)
    g.add_edge(START, "a").add_route("a", pick).add_edge("b", END).add_edge("c", END)
    edges = {(e.source, e.target, e.label) for e in g.compile().edges}
    assert edges == {
        (START, "a", None),
        ("a", "b", "b"),
        ("a", "c", "c"),
        ("b", END, None),
        ("c", END, None),
    }
