"""The state schema: which fields a user's pydantic model has, their reducers, and how the
updates of one step are applied, validated and checked for conflicts."""

from __future__ import annotations

import operator
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from .codec import loose_fields
from .errors import (
    ConflictingWritesError,
    InvalidGraphError,
    InvalidInputError,
    StateValidationError,
    UnknownFieldError,
    WriteFailedError,
)
from .reducers import Overwrite, Reducer, find_reducer

S = TypeVar("S", bound=BaseModel)

_new = object.__new__
_setattr = object.__setattr__

#: One write: the task label that made it, and the partial update.
Write = tuple[str, Mapping[str, Any]]


class StateSchema(Generic[S]):
    """Knows a state model's fields and reducers, and applies updates to its instances."""

    __slots__ = (
        "_frozen",
        "_input_keys",
        "_validator",
        "extra_allowed",
        "fast",
        "fields",
        "loose",
        "model",
        "reducers",
    )

    def __init__(self, model: type[S]) -> None:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise InvalidGraphError(
                f"the state must be a pydantic BaseModel subclass, got {model!r}"
            )
        self.model = model
        self.fields: frozenset[str] = frozenset(model.model_fields)
        self.reducers: dict[str, Reducer] = {}
        for name, info in model.model_fields.items():
            found = find_reducer(list(info.metadata))
            if found is not None:
                self.reducers[name] = found
        self.extra_allowed = model.model_config.get("extra") == "allow"
        self._frozen = bool(model.model_config.get("frozen"))
        self._validator = model.__pydantic_validator__
        self._input_keys = self.fields | _aliases(model)
        # Fields typed Any (anywhere in their type): stored with their values' types kept.
        self.loose = loose_fields(model)
        # Reducer fields whose write can be applied in proportion to the write (see `_grow`).
        self.fast: dict[str, tuple[str, Any]] = {} if self._frozen else _fast_fields(model, self)

    def coerce(self, value: S | Mapping[str, Any] | None) -> S:
        """Turn a run's input (a model instance, a dict, or None for defaults) into state.

        Raises `InvalidInputError` naming the fields the model does not have, or the fields
        whose values do not validate.
        """
        if isinstance(value, self.model):
            return value
        if value is None:
            return self.model()
        if isinstance(value, BaseModel):
            value = value.model_dump(exclude_unset=True)
        name = self.model.__name__
        if isinstance(value, Mapping) and not self.extra_allowed:
            # pydantic would drop these silently (extra="ignore", its default).
            unknown = [key for key in value if key not in self._input_keys]
            if unknown:
                raise InvalidInputError(name, unknown=map(str, unknown), fields=self.fields)
        try:
            return self.model.model_validate(value)
        except ValidationError as exc:
            invalid: dict[str, str] = {}
            for err in exc.errors(include_url=False):
                where = ".".join(map(str, err["loc"])) or "(input)"
                detail = f"{err['msg']} (got {err.get('input')!r:.80})"
                invalid[where] = f"{invalid[where]}; {detail}" if where in invalid else detail
            raise InvalidInputError(name, invalid=invalid) from exc

    def check_key(self, node: str, key: str) -> None:
        if key not in self.fields and not self.extra_allowed:
            raise UnknownFieldError(node, key, self.fields)

    def apply(
        self, state: S, writes: Sequence[Write], step: int, owners: Sequence[int] | None = None
    ) -> S:
        """Apply the writes of one step, in order, to a copy of ``state``.

        Each write is validated as it is applied, so a bad value is reported against the node
        that wrote it. A reducer-less field may be written by one task per step only;
        ``owners`` names the task of each write (default: each write is its own task).
        """
        if not writes:
            return state
        if self._frozen:
            return self._apply_frozen(state, writes, step, owners)
        # A shallow copy (BaseModel.__copy__ without its generic machinery), so earlier states
        # stay as they were. validate_assignment gives the copy a fresh __dict__ (checked once
        # at import, see _ASSIGN_REPLACES_DICT), so the dict is only copied when it would not.
        new = _new(type(state))
        _setattr(new, "__dict__", state.__dict__ if _ASSIGN_REPLACES_DICT else dict(state.__dict__))
        _setattr(new, "__pydantic_fields_set__", set(state.__pydantic_fields_set__))
        extra, private = state.__pydantic_extra__, state.__pydantic_private__
        _setattr(new, "__pydantic_extra__", None if extra is None else dict(extra))
        _setattr(new, "__pydantic_private__", None if private is None else dict(private))
        assign = self._validator.validate_assignment
        fields, reducers, fast = self.fields, self.reducers, self.fast
        if len(writes) == 1:  # the common step: one write cannot conflict with another
            label, update = writes[0]
            for key, value in update.items():
                if key not in fields:
                    self.check_key(label, key)
                red = reducers.get(key)
                try:
                    if type(value) is Overwrite:
                        value = value.value
                    elif red is not None:
                        grow = fast.get(key)
                        if grow is not None and _grow(grow, new, state, key, value):
                            continue
                        value = red(getattr(new, key), value)
                    assign(new, key, value)
                except ValidationError as exc:
                    raise StateValidationError(label, key, _short(exc)) from exc
                except Exception as exc:  # a reducer or validator that raised something else
                    raise WriteFailedError(label, key, exc) from exc
            return new
        written_by: dict[str, tuple[str, int]] = {}
        overwritten: dict[str, tuple[str, int]] = {}
        # Fields this apply already gave a fresh container: later writes of the step grow it
        # in place, so W writes into one list cost O(W), not O(W²).
        grown: set[str] = set()
        for index, (label, update) in enumerate(writes):
            owner = index if owners is None else owners[index]
            for key, value in update.items():
                if key not in fields:
                    self.check_key(label, key)
                red = reducers.get(key)
                overwrite = type(value) is Overwrite
                if red is None or overwrite:
                    grown.discard(key)  # the field's value is a new object now
                    seen = overwritten if overwrite else written_by
                    first = seen.get(key)
                    if first is not None and first[1] != owner:
                        raise ConflictingWritesError(key, first[0], label, step)
                    seen[key] = (label, owner)
                try:
                    if overwrite:
                        value = value.value
                    elif red is not None:
                        grow = fast.get(key)
                        if grow is not None and _grow(grow, new, state, key, value, grown):
                            continue
                        grown.discard(key)
                        value = red(getattr(new, key), value)
                    assign(new, key, value)
                except ValidationError as exc:
                    raise StateValidationError(label, key, _short(exc)) from exc
                except Exception as exc:
                    raise WriteFailedError(label, key, exc) from exc
        return new

    def replace(self, state: S, values: Mapping[str, Any]) -> S:
        """A copy of ``state`` with fields set to ``values`` (validated, reducers bypassed)."""
        for key in values:
            self.check_key("--set", key)
        try:
            return self.model.model_validate({**state.__dict__, **values})
        except ValidationError as exc:
            key = str(exc.errors()[0]["loc"][0]) if exc.errors() else "?"
            raise StateValidationError("--set", key, _short(exc)) from exc

    def _apply_frozen(
        self, state: S, writes: Sequence[Write], step: int, owners: Sequence[int] | None
    ) -> S:
        # Frozen models refuse assignment: fold into a dict and validate the whole model.
        values = dict(state.__dict__)
        written_by: dict[str, tuple[str, int]] = {}
        overwritten: dict[str, tuple[str, int]] = {}
        for index, (label, update) in enumerate(writes):
            owner = index if owners is None else owners[index]
            for key, value in update.items():
                self.check_key(label, key)
                red = self.reducers.get(key)
                overwrite = type(value) is Overwrite
                if red is None or overwrite:
                    seen = overwritten if overwrite else written_by
                    first = seen.get(key)
                    if first is not None and first[1] != owner:
                        raise ConflictingWritesError(key, first[0], label, step)
                    seen[key] = (label, owner)
                try:
                    if overwrite:
                        values[key] = value.value
                    else:
                        values[key] = value if red is None else red(values[key], value)
                    new = self.model.model_validate(values)
                except ValidationError as exc:
                    raise StateValidationError(label, key, _short(exc)) from exc
                except Exception as exc:
                    raise WriteFailedError(label, key, exc) from exc
                values = dict(new.__dict__)
        return self.model.model_validate(values)


def _fast_fields(model: type[BaseModel], schema: StateSchema[Any]) -> dict[str, tuple[str, Any]]:
    """The reducer fields a write can be applied to by validating only what it adds: a
    ``list[T]`` with `append`, `extend` or `add`, a ``dict[K, V]`` with `merge`, whose field
    carries no other constraint and no validator (those see the whole value, so they keep the
    full path)."""
    from pydantic import TypeAdapter

    from .reducers import _append, _extend, _merge

    decorators = model.__pydantic_decorators__
    if decorators.model_validators or model.model_config.get("strict"):
        return {}
    checked = {f for v in decorators.field_validators.values() for f in v.info.fields}
    if "*" in checked:
        return {}
    fast: dict[str, tuple[str, Any]] = {}
    for name, info in model.model_fields.items():
        red = schema.reducers.get(name)
        if red is None or name in checked:
            continue
        if any(not (callable(m) and not isinstance(m, type)) for m in info.metadata):
            continue  # a length limit or another constraint on the whole value
        origin, args = typing.get_origin(info.annotation), typing.get_args(info.annotation)
        item: Any = args[0] if args else Any
        if origin is list and red.fn in (_append, _extend, operator.add):
            kind = "append" if red.fn is _append else "extend"
            if red.fn is _append:
                fast[name] = (kind, None if item is Any else TypeAdapter(item))
            else:
                fast[name] = (kind, None if item is Any else TypeAdapter(list[item]))
        elif origin is dict and red.fn is _merge and info.annotation is not None:
            fast[name] = ("merge", TypeAdapter(info.annotation))
    return fast


def _grow(
    fast: tuple[str, Any],
    new: BaseModel,
    before: BaseModel,
    key: str,
    value: Any,
    fresh: set[str] | None = None,
) -> bool:
    """Apply a reducer write validating only what it adds; False leaves it to the full path
    (a value of an unexpected shape, which that path reports as pydantic would).

    ``fresh`` holds the fields whose container this apply made (no state shares it): those
    grow in place; any other is copied first, so the state a node was given stays unchanged.
    """
    kind, adapter = fast
    current = new.__dict__[key]
    in_place = fresh is not None and key in fresh
    if kind == "append":
        if type(current) is not list:
            return False
        item = value if adapter is None else adapter.validate_python(value)
        if in_place:
            current.append(item)
            return True
        grown: Any = [*current, item]
    elif kind == "extend":
        if type(current) is not list or type(value) is not list:
            return False
        items = value if adapter is None else adapter.validate_python(value)
        if in_place:
            current.extend(items)
            return True
        grown = [*current, *items]
    else:
        if type(current) is not dict or type(value) is not dict:
            return False
        items = adapter.validate_python(value)
        if in_place:
            current.update(items)
            return True
        grown = {**current, **items}
    if fresh is not None:
        fresh.add(key)
    if new.__dict__ is before.__dict__:  # still shared with the state a node was given
        _setattr(new, "__dict__", dict(new.__dict__))
    new.__dict__[key] = grown
    new.__pydantic_fields_set__.add(key)
    return True


def _aliases(model: type[BaseModel]) -> frozenset[str]:
    """The input keys a model accepts besides its field names (aliases, alias choices)."""
    from pydantic import AliasChoices, AliasPath

    keys: set[str] = set()
    for info in model.model_fields.values():
        for alias in (info.alias, info.validation_alias):
            choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
            for choice in choices:
                first = choice.path[0] if isinstance(choice, AliasPath) else choice
                if isinstance(first, str):
                    keys.add(first)
    return frozenset(keys)


def _assign_replaces_dict() -> bool:
    class Probe(BaseModel):
        x: int = 0

    probe = Probe()
    before = probe.__dict__
    Probe.__pydantic_validator__.validate_assignment(probe, "x", 1)
    return probe.__dict__ is not before and before == {"x": 0}


_ASSIGN_REPLACES_DICT = _assign_replaces_dict()


def _short(exc: ValidationError) -> str:
    errs = exc.errors(include_url=False)
    return "; ".join(f"{e['msg']} (got {e.get('input')!r:.80})" for e in errs[:3])
