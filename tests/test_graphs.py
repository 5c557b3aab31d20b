"""Every ready workflow in ``graphs/`` is documented, exposes ``graph`` for the command line,
compiles under its module's name and takes plain-text input. The behaviour of each pattern is
specified in tests/test_graphs_*.py (scripted models and the offline model)."""

from __future__ import annotations

import importlib
import os
import pkgutil
from types import ModuleType

import pytest

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

import graphs
from orchestrator import CompiledGraph
from orchestrator.cli import parse_input

PATTERNS = sorted(
    info.name
    for info in pkgutil.iter_modules(graphs.__path__)
    if info.name != "demo" and not info.name.startswith("_")
)


def load(name: str) -> ModuleType:
    return importlib.import_module(f"graphs.{name}")


def test_the_patterns_of_the_brief_are_all_there() -> None:
    expected = {
        "triage",
        "hierarchical",
        "routing_prompt",
        "pipeline",
        "staged",
        "parallel_analysis",
        "parallel_research",
        "evaluator",
        "reflection",
        "structured_routing",
        "supervisor",
        "debate",
        "fallback",
        "error_recovery",
        "dynamic_specialists",
        "memory",
        "human_approval",
        "shared_context",
        "unroutable",
        "guardrails",
    }
    assert expected <= set(PATTERNS)


@pytest.mark.parametrize("name", PATTERNS)
def test_module_has_a_docstring_with_state_and_example(name: str) -> None:
    doc = load(name).__doc__ or ""
    assert len(doc.strip().splitlines()) >= 3
    assert "State:" in doc
    assert "Example input:" in doc


@pytest.mark.parametrize("name", PATTERNS)
def test_module_graph_compiles_under_the_module_name(name: str) -> None:
    module = load(name)
    assert module.graph is module.build
    compiled = module.graph()
    assert isinstance(compiled, CompiledGraph)
    assert compiled.name == name


@pytest.mark.parametrize("name", PATTERNS)
def test_plain_text_input_goes_to_the_first_text_field(name: str) -> None:
    compiled = load(name).graph()
    fields = compiled.schema.model.model_fields
    first = next(n for n, f in fields.items() if f.annotation is str)
    assert first == next(iter(fields))  # the user's request is the first field
    assert parse_input(compiled, "hello there") == {first: "hello there"}


@pytest.mark.parametrize("name", PATTERNS)
def test_agents_leave_the_model_unset(name: str) -> None:
    from agents import Agent

    compiled = load(name).graph()
    for node in compiled.nodes.values():
        agent = getattr(node.call, "agent", None)
        if isinstance(agent, Agent):
            assert agent.model is None, f"{name}.{node.name} names a model"
