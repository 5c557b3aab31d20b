"""Scripted models for agent tests: exact model behaviour through the real ``agents.Runner``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from agents import Model, ModelProvider
from agents.testing import ScriptedModel, assistant_message, function_call

_calls = 0


def say(text: str) -> list[Any]:
    """A model turn that answers with text."""
    return [assistant_message(text)]


def call(name: str, arguments: Mapping[str, Any] | str = "{}") -> list[Any]:
    """A model turn that calls one tool (or handoff) by name."""
    global _calls
    _calls += 1
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return [function_call(name, args, call_id=f"call_{_calls}")]


def structured(value: Mapping[str, Any]) -> list[Any]:
    """A model turn whose text is JSON for an agent's output_type."""
    return [assistant_message(json.dumps(value))]


def model(*turns: Any) -> ScriptedModel:
    return ScriptedModel(list(turns))


class ScriptedProvider(ModelProvider):
    """Resolves model names to scripted models, so nested agents are recorded too."""

    def __init__(self, models: Mapping[str, Model]) -> None:
        self.models = dict(models)
        self.asked: list[str | None] = []

    def get_model(self, model_name: str | None) -> Model:
        self.asked.append(model_name)
        if model_name not in self.models:
            raise KeyError(f"no scripted model named {model_name!r}")
        return self.models[model_name]


def remaining(models: Iterable[ScriptedModel]) -> list[int]:
    return [m.remaining_steps for m in models]
