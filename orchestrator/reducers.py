"""Reducers say how an update is combined with a field's current value.

Attach one to a state field with ``Annotated``: ``items: Annotated[list[str], append] = []``.
A field without a reducer is last-write-wins, and two writes to it in one step are an error.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Reducer:
    """A named ``(current, update) -> new`` function; deterministic, as replay re-applies it."""

    name: str
    fn: Callable[[Any, Any], Any]

    def __call__(self, current: Any, update: Any) -> Any:
        return self.fn(current, update)


@dataclass(frozen=True, slots=True)
class Overwrite:
    """A write that replaces a reducer field's value instead of reducing it (LangGraph's
    ``Overwrite``): ``return {"log": Overwrite(["fresh start"])}``. Two tasks of one step
    overwriting the same field conflict, as two writes of a reducer-less field do."""

    value: Any


def _append(current: Any, update: Any) -> list[Any]:
    return [*(current or ()), update]


def _extend(current: Any, update: Any) -> list[Any]:
    return [*(current or ()), *update]


def _merge(current: Any, update: Any) -> dict[Any, Any]:
    return {**(current or {}), **update}


#: Add one item to a list: ``{"items": x}`` appends ``x``.
append = Reducer("append", _append)
#: Add several items to a list: ``{"items": [x, y]}`` appends both.
extend = Reducer("extend", _extend)
#: ``current + update``: numbers add, lists and strings concatenate.
add = Reducer("add", operator.add)
#: Merge a dict into the current one; keys of the update win.
merge = Reducer("merge", _merge)


def reducer(fn: Callable[[Any, Any], Any], name: str | None = None) -> Reducer:
    """Wrap any ``(current, update) -> new`` function as a reducer."""
    return Reducer(name or str(getattr(fn, "__name__", "custom")), fn)


def find_reducer(metadata: list[Any]) -> Reducer | None:
    """The reducer among a field's ``Annotated`` metadata: a `Reducer`, or a plain function."""
    for item in metadata:
        if isinstance(item, Reducer):
            return item
    for item in metadata:
        # A bare function such as operator.add, as LangGraph users write it.
        if callable(item) and not isinstance(item, type) and hasattr(item, "__name__"):
            return reducer(item)
    return None
