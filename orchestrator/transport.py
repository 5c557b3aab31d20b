"""How agent nodes reach a model service: the client's timeout and retries come from the node's
policy, streams are asked for their usage, and every request that reaches a model is counted
while a recorded replay runs (which must make none).

The openai client's own defaults (a 600 s timeout, two hidden retries) would let a hanging server
hold a node for half an hour and turn ``RetryPolicy(max_attempts=2)`` into six requests with no
event for four of them. A node's models get a copy of their client with the node's timeout and
``max_retries=0``, so every retry is the node's own (a ``NodeRetried`` event).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

#: The timeout of an agent node that sets none (``add_agent(..., timeout=...)``) in a run that
#: sets none (``run(..., agent_timeout=...)``); ``agent_timeout=math.inf`` turns it off.
DEFAULT_AGENT_TIMEOUT = 120.0


def with_client_options(model: Any, timeout: float | None) -> Any:
    """``model`` with its openai client set to ``timeout`` and no retries of its own (a copy;
    the model is returned as it is when it has no openai client)."""
    from openai import AsyncOpenAI

    client = getattr(model, "_client", None)
    if not isinstance(client, AsyncOpenAI):
        return model
    options: dict[str, Any] = {"max_retries": 0}
    if timeout is not None and timeout != float("inf"):
        options["timeout"] = timeout
    adjusted = copy.copy(model)
    adjusted._client = client.with_options(**options)
    return adjusted


def with_stream_usage(settings: Any) -> Any:
    """Model settings that ask a streaming Chat Completions server for the usage
    (``stream_options={"include_usage": True}``), unless they say otherwise: the SDK asks
    only OpenAI's own endpoint by default, so a compatible server's streamed runs had none."""
    if settings.include_usage is not None:
        return settings
    return dataclasses.replace(settings, include_usage=True)


# --- counting requests that reach a model ------------------------------------------------------


@dataclass(slots=True)
class LiveCalls:
    """The requests that reached a model (a server, or the offline model) while counted."""

    calls: list[tuple[str | None, int | None]] = field(default_factory=list)  # (node, step)

    @property
    def count(self) -> int:
        return len(self.calls)


_COUNTING: ContextVar[LiveCalls | None] = ContextVar("orchestrator_live_calls", default=None)


@contextmanager
def counting_live_calls() -> Iterator[LiveCalls]:
    """Count every request that reaches a model inside (recorded replay: there must be none).

    Counted where requests really go out, below every recording wrapper: the built-in offline
    model's calls, and every HTTP request of every openai client (the SDK's own, a model made
    with a client of its own, a client the code set with ``set_default_openai_client``), so a
    model call that bypasses the recording is seen too.
    """
    _watch_openai_clients()
    counter = LiveCalls()
    token = _COUNTING.set(counter)
    try:
        yield counter
    finally:
        _COUNTING.reset(token)


def reached_model() -> None:
    """Note a request that reached a model (a no-op unless counting)."""
    counter = _COUNTING.get()
    if counter is None:
        return
    from .context import _CURRENT

    ctx = _CURRENT.get()
    counter.calls.append((ctx.node, ctx.step) if ctx is not None else (None, None))


_WATCHED = False


def _watch_openai_clients() -> None:
    """Count each request an openai client sends (every attempt), whichever client it is.

    The openai clients send every attempt through their base class's ``_send_request``; it is
    wrapped once, and the wrapper costs a context variable lookup when nothing is counted.
    Without that method (another openai version) the requests of the HTTP client the SDK's
    ``OpenAIProvider`` clients share are counted instead."""
    global _WATCHED
    if _WATCHED:
        return
    import sys

    if "openai" not in sys.modules and "agents" not in sys.modules:
        return
    from openai import _base_client

    sync_base = getattr(_base_client, "SyncAPIClient", None)
    async_base = getattr(_base_client, "AsyncAPIClient", None)
    if not all(hasattr(c, "_send_request") for c in (sync_base, async_base)):
        _watch_sdk_http_client()
        return
    send_async = async_base._send_request  # type: ignore[union-attr]
    send_sync = sync_base._send_request  # type: ignore[union-attr]

    async def counted_async(self: Any, request: Any, **kwargs: Any) -> Any:
        reached_model()
        return await send_async(self, request, **kwargs)

    def counted_sync(self: Any, request: Any, **kwargs: Any) -> Any:
        reached_model()
        return send_sync(self, request, **kwargs)

    async_base._send_request = counted_async  # type: ignore[union-attr]
    sync_base._send_request = counted_sync  # type: ignore[union-attr]
    _WATCHED = True


async def _on_request(request: Any) -> None:
    reached_model()


def _watch_sdk_http_client() -> None:
    """Count the requests of the HTTP client the SDK's ``OpenAIProvider`` clients share."""
    import sys

    if "agents" not in sys.modules:
        return
    from agents.models.openai_provider import shared_http_client

    hooks = shared_http_client().event_hooks
    requests = list(hooks.get("request", ()))
    if _on_request not in requests:
        hooks["request"] = [*requests, _on_request]
