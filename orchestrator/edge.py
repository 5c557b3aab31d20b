"""Edges: unconditional and predicate edges, typed routes (including dynamic fan-out with
`Send`), and caps on how often an edge may be taken."""

from __future__ import annotations

import contextlib
import enum
import inspect
import types
import typing
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, get_args, get_origin

from .ids import END


class EdgeKind(StrEnum):
    """How an edge is drawn and counted."""

    NORMAL = "normal"
    CONDITIONAL = "conditional"  # a predicate edge or a route target
    HANDOFF = "handoff"  # an agent's handoff, or a declared Command goto target
    ERROR = "error"  # on_error
    CAP_EXIT = "cap_exit"  # where a capped node or edge goes when its cap is reached


@dataclass(frozen=True, slots=True)
class Send:
    """One task of a dynamic fan-out: run ``node`` with its own ``payload``.

    A router returning ``[Send("summarise", doc) for doc in docs]`` starts one task per
    document in the next step; the node reads its payload as ``ctx.payload`` (a subgraph node
    takes a dict of its own fields as payload).
    """

    node: Any
    payload: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Edge:
    """A declared edge. ``when`` makes it conditional on the state after the source ran."""

    source: str
    target: str
    kind: EdgeKind = EdgeKind.NORMAL
    when: Callable[[Any], bool] | None = None
    label: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """A router on a node's exit: ``fn(state)`` returns a target, several, or `Send`s.

    ``mapping`` maps every value the router may return to a node; it is the single source of
    truth for validation and for diagrams.
    """

    source: str
    fn: Callable[[Any], Any]
    mapping: Mapping[Hashable, str]
    name: str
    fanout: bool
    implicit: frozenset[Hashable] = frozenset()  # values known only from the annotation

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.mapping.values()))


@dataclass(frozen=True, slots=True, kw_only=True)
class Cap:
    """At most ``limit`` traversals of ``source -> target``; then go to ``exit`` (or fail)."""

    source: str
    target: str
    limit: int
    exit: str | None = None


def route_values(fn: Callable[..., Any]) -> tuple[list[Hashable], bool] | None:
    """The values a router can return, read from its return annotation.

    Understands ``Literal[...]``, Enum classes, unions of them and ``list``/``Sequence`` of them
    (a list means fan-out). Returns None when the annotation does not name the values.
    """
    returns = return_annotation(fn)
    if returns is None:
        return None
    values: list[Hashable] = []
    fanout = False

    def walk(tp: Any) -> bool:
        nonlocal fanout
        origin = get_origin(tp)
        if origin is Literal:
            values.extend(get_args(tp))
            return True
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            values.extend(tp)
            return True
        if origin in (typing.Union, types.UnionType):
            if type(None) in get_args(tp):
                values.append(END)  # a router that may return None may end the branch
            return all(walk(a) for a in get_args(tp) if a is not type(None))
        if origin in (list, tuple, set, frozenset, Sequence) or (
            isinstance(origin, type) and issubclass(origin, Sequence) and origin is not str
        ):
            fanout = True
            args = [a for a in get_args(tp) if a is not Ellipsis]
            return bool(args) and all(walk(a) for a in args)
        return False

    if not walk(returns):
        return None
    return list(dict.fromkeys(values)), fanout


def return_annotation(fn: Callable[..., Any]) -> Any:
    """A function's return annotation, evaluated; None when absent or unresolvable.

    Only the return annotation is evaluated (with the function's globals and closure), so a
    parameter annotated with a class local to a test or a notebook cell does not get in the way.
    """
    target = fn if hasattr(fn, "__annotations__") else getattr(fn, "__call__", fn)  # noqa: B004
    ann = getattr(target, "__annotations__", {}).get("return")
    if not isinstance(ann, str):
        return ann
    namespace = dict(getattr(target, "__globals__", {}))
    with contextlib.suppress(TypeError, ValueError):
        namespace.update(inspect.getclosurevars(target).nonlocals)
    try:
        return eval(ann, namespace)  # what typing.get_type_hints does, for one annotation
    except Exception:
        return None


def route_label(value: Any) -> str:
    """How a route value is shown on its edge: an enum by its value, END (or None) as "END"."""
    if isinstance(value, enum.Enum):
        return str(value.value)
    return "END" if value == END or value is None else str(value)


def resolve_target(value: Any, mapping: Mapping[Hashable, str]) -> str | None:
    """The node a route value points at, or None when the route does not know the value."""
    try:
        hit = mapping.get(value)
    except TypeError:  # unhashable
        return None
    if hit is not None:
        return hit
    if isinstance(value, enum.Enum):
        return mapping.get(value.value)
    if value is None:
        return mapping.get(END)
    return None
