"""Values whose type the state model does not declare, kept with their type.

A ``Send`` payload, a resume answer, a ``Command`` target, or a state field typed ``Any``
(``list[Any]``, ``dict[str, Any]``...) can hold a pydantic model, a tuple or a ``Send``. Plain
JSON would bring each back as a dict or a list, and the run loaded from the store would differ
from the run that happened (a router reading ``payload.topic`` then fails on resume). Here such
values are stored tagged with their type and rebuilt as that type:

- a pydantic model as ``{REF: "model", "type": "module:QualName", "v": fields}``, rebuilt only
  from a `BaseModel` subclass already imported in this process (loading a run never imports
  code named by the store);
- a tuple as ``{REF: "tuple", "v": [...]}``, a ``Send`` as ``{REF: "send", ...}``;
- a user dict that holds the marker key itself as ``{REF: "lit", "v": ...}``.

What cannot come back as itself (a class defined inside a function, a set, a datetime in an
``Any`` field, any other object) is refused when it is written, with `Unkeepable`, which the
writer turns into an error naming the node and the field.
"""

from __future__ import annotations

import sys
import types
import typing
from typing import Any

from pydantic import BaseModel

from .edge import Send

#: The key that marks a stored value the codec gave a meaning (see records.REF).
REF = "$orchestrator-ref"

_PLAIN = (str, int, float, bool, type(None))


class Unkeepable(ValueError):
    """A value that would not come back from the store as itself."""


def is_plain(value: Any) -> bool:
    """Whether ``value`` is plain JSON (no model, tuple, marker key...): then plain JSON
    encoding keeps it as it is, and `encode_value` is not needed."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return True
    if kind is list:
        return all(is_plain(item) for item in value)
    if kind is dict:
        return REF not in value and all(
            type(key) is str and is_plain(item) for key, item in value.items()
        )
    return False


def encode_value(value: Any) -> Any:
    """``value`` as JSON, with the types plain JSON would lose tagged (see the module)."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, list):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise Unkeepable(f"a dict key {key!r:.40} is not a string")
            out[key] = encode_value(item)
        return {REF: "lit", "v": out} if REF in out else out
    if isinstance(value, BaseModel):
        cls = type(value)
        if "<locals>" in cls.__qualname__:
            raise Unkeepable(
                f"{cls.__qualname__} is defined inside a function, so a loaded run could not "
                "rebuild it; define the model at module level"
            )
        return {
            REF: "model",
            "type": f"{cls.__module__}:{cls.__qualname__}",
            "v": value.model_dump(mode="json"),
        }
    if isinstance(value, tuple):
        return {REF: "tuple", "v": [encode_value(v) for v in value]}
    if isinstance(value, Send):
        return {REF: "send", "node": value.node, "payload": encode_value(value.payload)}
    raise Unkeepable(
        f"a {type(value).__name__} would come back as something else; use JSON values "
        "(str, number, bool, None, list, dict), a tuple, or a pydantic model, or declare the "
        "field with the value's type"
    )


def decode_value(data: Any) -> Any:
    """`encode_value` read back. Raises ValueError/KeyError/TypeError on a damaged value."""
    if isinstance(data, list):
        return [decode_value(v) for v in data]
    if not isinstance(data, dict):
        return data
    kind = data.get(REF)
    if kind is None:
        return {key: decode_value(item) for key, item in data.items()}
    if kind == "lit":
        return {key: decode_value(item) for key, item in data["v"].items()}
    if kind == "model":
        return model_class(data["type"]).model_validate(data["v"])
    if kind == "tuple":
        return tuple(decode_value(v) for v in data["v"])
    if kind == "send":
        return Send(data["node"], decode_value(data["payload"]))
    raise ValueError(f"unknown stored value kind {kind!r:.40}")


def model_class(name: str) -> type[BaseModel]:
    """The model class ``module:QualName``, from the modules this process has imported."""
    module_name, _, qualname = str(name).partition(":")
    target: Any = sys.modules.get(module_name)
    if target is None:
        raise ValueError(
            f"a stored value is a {name!r:.80}, but module {module_name!r:.60} is not imported "
            "in this process; import it (the graph's module normally does) before loading"
        )
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if not (isinstance(target, type) and issubclass(target, BaseModel)):
        raise ValueError(f"a stored value names {name!r:.80}, which is not a pydantic model")
    return target


def loose_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields of ``model`` whose declared type does not say what their values are (``Any``
    or ``object`` anywhere in it): their values go through `encode_value`."""
    return frozenset(
        name for name, info in model.model_fields.items() if _is_loose(info.annotation)
    )


def _is_loose(annotation: Any) -> bool:
    if annotation is Any or annotation is object:
        return True
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        args = args[:1]
    elif isinstance(annotation, types.UnionType):
        args = typing.get_args(annotation)
    return any(_is_loose(a) for a in args)
