"""The node cache (LangGraph's ``CachePolicy``): a node whose input was seen before is not run
again; the write it made then is applied in its place.

``add_node(name, fn, cache=CachePolicy(ttl=3600))``: before a task of the node runs, its key is
computed from its input (by default a digest of the whole state and the task's payload). A hit
skips the node and hands the scheduler the cached write (updates, ``ctx.update`` writes and a
``Command``'s goto), which goes through the barrier as the node's own would. Entries live in
the run's store (so they outlive the process), or, for a run without one, in this process, with
the compiled graph. Only writes of tasks that finished are kept: failures, interrupts and
writes an ``on_error`` edge took over never are.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from .codec import Unkeepable, decode_value, encode_value, is_plain
from .errors import InvalidGraphError
from .records import DECODE_ERRORS, decode_writes, encode_writes
from .run import Outcome, Task

if TYPE_CHECKING:
    from .spec import GraphSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class CachePolicy:
    """Cache a node's writes by its input (LangGraph's ``CachePolicy(key_func=..., ttl=...)``).

    ``key``: a function of ``(state)`` or ``(state, payload)`` returning a str, bytes or a
    JSON value (a tuple or pydantic model too) that says what the node's output depends on;
    default: the whole state (as JSON) and the task's ``Send`` payload. ``ttl``: seconds an
    entry stays valid; None keeps it until `CompiledGraph.clear_cache` removes it.

        >>> CachePolicy(ttl=60).ttl
        60
        >>> policy = CachePolicy(key=lambda state: state.topic)
        >>> from pydantic import BaseModel
        >>> class Essay(BaseModel):
        ...     topic: str = ""
        ...     drafts: list[str] = []
        >>> first = policy.digest(Essay(topic="joins"), None)
        >>> first == policy.digest(Essay(topic="joins", drafts=["a draft"]), None)
        True
    """

    key: Callable[..., Any] | None = None
    ttl: float | None = None
    # Whether ``key`` takes the payload too; worked out from its signature.
    _with_payload: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.ttl is not None and not (
            isinstance(self.ttl, (int, float)) and not isinstance(self.ttl, bool) and self.ttl > 0
        ):
            raise InvalidGraphError(
                f"CachePolicy(ttl={self.ttl!r}): ttl is a positive number of seconds, or None "
                "for entries that never expire"
            )
        if self.key is not None:
            if not callable(self.key):
                raise InvalidGraphError(f"CachePolicy(key={self.key!r}): key must be a function")
            object.__setattr__(self, "_with_payload", _takes_two(self.key))

    def digest(self, state: BaseModel, payload: Any, loose: Iterable[str] = ()) -> str:
        """The cache key of a task reading ``state`` with ``payload``, as a hex digest.
        Raises `Unkeepable` for an input that has no stable JSON form (then nothing is
        cached), and whatever the ``key`` function raises."""
        if self.key is None:
            return _digest("j", _dumps({"state": _state_json(state, loose), "payload": payload}))
        value = self.key(state, payload) if self._with_payload else self.key(state)
        if isinstance(value, str):
            return _digest("s", value)
        if isinstance(value, bytes):
            return hashlib.sha256(b"b:" + value).hexdigest()
        return _digest("j", _dumps(value))


def _takes_two(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: called with the state only
        return False
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params) >= 2


def _state_json(state: BaseModel, loose: Iterable[str]) -> dict[str, Any]:
    try:
        data = state.model_dump(mode="json")
    except PydanticSerializationError as exc:
        raise Unkeepable(str(exc)) from exc
    for name in loose:  # typed Any: keep the values' types (a model is not its dict)
        value = getattr(state, name)
        if not is_plain(value):
            data[name] = encode_value(value)
    return data


def _dumps(value: Any) -> str:
    # sort_keys: equal dicts built in another order are the same input
    return json.dumps(
        encode_value(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def _digest(kind: str, text: str) -> str:
    return hashlib.sha256(f"{kind}:{text}".encode("utf-8", "surrogatepass")).hexdigest()


def namespace(graph: str, node: str) -> str:
    """Where a node's entries are kept in a store: its graph's name and its own."""
    return f"{graph}:{node}"


# --- cached writes -------------------------------------------------------------------------------


def encode_write(outcome: Outcome, loose: frozenset[str] = frozenset()) -> str | None:
    """What a finished task wrote, as the JSON a cache keeps; None when it is not to be
    cached (a failure, an interrupt, a stateful subgraph's kept state) or has no JSON form."""
    if not outcome.done or outcome.failure is not None or outcome.kept is not None:
        return None
    writes = [*(outcome.pre or ()), outcome.update or {}]
    try:
        encoded = encode_writes([(0, "", dict(w)) for w in writes], {}, loose)
        data: dict[str, Any] = {"w": [u for _, _, u in encoded]}
        if outcome.goto is not None:
            data["g"] = encode_value(list(outcome.goto))
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    except (PydanticSerializationError, Unkeepable, TypeError, ValueError):
        return None


def decode_write(
    text: str, task: Task, before: BaseModel, loose: frozenset[str] = frozenset()
) -> Outcome | None:
    """A cached write as the task's outcome (attempt 1); None when the entry is damaged (a
    miss, then: the node runs)."""
    try:
        data = json.loads(text)
        writes = data["w"]
        if not (isinstance(writes, list) and writes and all(isinstance(w, dict) for w in writes)):
            return None
        decoded = [u for _, _, u in decode_writes([(0, "", w) for w in writes], before, loose)]
        goto = data.get("g")
        targets = tuple(decode_value(goto)) if goto is not None else None
    except DECODE_ERRORS:
        return None
    return Outcome(task, 1, decoded[-1], targets, pre=decoded[:-1] or None)


# --- where entries live ---------------------------------------------------------------


class NodeCache(Protocol):
    """What keeps cached writes: every `Store`, and `LocalCache` for runs without one."""

    async def cache_get(self, namespace: str, key: str) -> str | None: ...

    async def cache_put(
        self, namespace: str, key: str, value_json: str, ttl: float | None
    ) -> None: ...

    async def cache_clear(self, namespace: str | None = None) -> int: ...


class LocalCache:
    """Cached writes in this process (a run without a store, and the memory store).

    ``clock`` (default `time.time`) says when entries expire, so a test can move time on.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._entries: dict[str, dict[str, tuple[str, float | None]]] = {}

    async def cache_get(self, namespace: str, key: str) -> str | None:
        entries = self._entries.get(namespace, {})
        found = entries.get(key)
        if found is None:
            return None
        value, expires = found
        if expires is not None and expires <= self.clock():
            del entries[key]
            return None
        return value

    async def cache_put(self, namespace: str, key: str, value_json: str, ttl: float | None) -> None:
        expires = None if ttl is None else self.clock() + ttl
        self._entries.setdefault(namespace, {})[key] = (value_json, expires)

    async def cache_clear(self, namespace: str | None = None) -> int:
        if namespace is None:
            count = sum(len(entries) for entries in self._entries.values())
            self._entries.clear()
            return count
        return len(self._entries.pop(namespace, {}))


_LOCAL: weakref.WeakKeyDictionary[Any, LocalCache] = weakref.WeakKeyDictionary()


def local_cache(graph: GraphSpec) -> LocalCache:
    """The in-process cache of a compiled graph (shared by every scheduler that drives it,
    a subgraph node's too)."""
    try:
        found = _LOCAL.get(graph)
        if found is None:
            found = _LOCAL[graph] = LocalCache()
    except TypeError:  # a graph object that cannot be weakly referenced: a cache of its own
        return LocalCache()
    return found


async def clear(cache: NodeCache, graph: str, nodes: Iterable[str]) -> int:
    """Remove the cached writes of ``nodes`` of graph ``graph``; how many there were."""
    return sum([await cache.cache_clear(namespace(graph, node)) for node in nodes])


def cached_nodes(nodes: Mapping[str, Any]) -> frozenset[str]:
    """The names of the nodes that have a `CachePolicy`."""
    return frozenset(name for name, node in nodes.items() if node.cache is not None)
