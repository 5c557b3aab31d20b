"""`RunConfig`: every per-run setting in one frozen value.

``run``, ``stream``, ``iter``, ``resume`` and ``fork`` take the same settings, either as one
``config=RunConfig(...)`` (share it between calls, derive variants with ``config.but(...)``) or
as keyword arguments of the same names (``graph.run(x, max_steps=50)``), which override the
config's. An unknown setting is refused by name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .events import Event
    from .run import RunOptions
    from .store import Store

#: How many steps a run may take unless told otherwise (a cycle's caps usually end it first).
DEFAULT_MAX_STEPS = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    """How to run: where to store it, how far to go, what to hand to nodes, what to keep.

    - ``store``: a `Store`, a SQLite path, ``"memory"`` or a PostgreSQL URL; None runs in
      memory only (no resume, no replay).
    - ``deps``: handed to every node as ``ctx.deps``; never stored.
    - ``max_steps``: the run fails with `StepLimitExceededError` past this many steps.
    - ``concurrency``: at most this many tasks of one step at once (None: no bound).
    - ``raise_on_error``: a failed run raises its error (``err.result`` holds the result);
      False returns the result with ``status`` failed.
    - ``model`` / ``model_provider``: override every agent's model / how names resolve.
    - ``options``: the full `RunOptions` (the two above are shortcuts into it).
    - ``snapshot_every``: store a full snapshot every N steps (default: by size).
    - ``interrupt_before`` / ``interrupt_after``: breakpoints for this run (node names or
      ``"*"``), added to the compiled graph's: the run pauses before / after those nodes run;
      ``resume()`` with no value goes on (with ``"*"``, one step per resume).
    - ``on_event``: called with every event as it happens (a live view, a log), for any call;
      ``stream()`` gives the same events as an async iterator.
    - ``events``: keep every event in ``result.events`` (for a live report of the run). Off
      by default: a long run then holds only its state, path, visits, usage and errors, and a
      stored run's events are always in its store (``graph.load(run_id)``).
    - ``context``, ``run_config``, ``hooks``, ``max_turns``, ``session``,
      ``previous_response_id``, ``conversation_id``: the Agents SDK's ``Runner.run`` keywords,
      for every agent node (``context`` is what its tools, instructions, guardrails and hooks
      see as ``wrapper.context``); never stored. See `orchestrator.agent`.
    - ``agent_timeout``: seconds an agent node without its own ``timeout=`` may take
      (default `orchestrator.transport.DEFAULT_AGENT_TIMEOUT`, 120; ``math.inf``: none).
    """

    store: Store | str | Path | None = None
    deps: Any = None
    max_steps: int = DEFAULT_MAX_STEPS
    concurrency: int | None = None
    raise_on_error: bool = True
    model: Any = None
    model_provider: Any = None
    options: RunOptions | None = None
    snapshot_every: int | None = None
    events: bool = False
    on_event: Callable[[Event], None] | None = None
    interrupt_before: Sequence[str] | str | None = None
    interrupt_after: Sequence[str] | str | None = None
    context: Any = None
    run_config: Any = None
    hooks: Any = None
    max_turns: int | None = None
    session: Any = None
    previous_response_id: str | None = None
    conversation_id: str | None = None
    agent_timeout: float | None = None

    def but(self, **changes: Any) -> RunConfig:
        """A copy with ``changes`` (refused by name when one is not a setting)."""
        return self.merged(changes)

    def merged(self, settings: Any) -> RunConfig:
        """This config with keyword ``settings`` of the same names taking precedence."""
        if not settings:
            return self
        unknown = sorted(set(settings) - _NAMES)
        if unknown:
            raise TypeError(
                f"unknown run setting(s) {', '.join(map(repr, unknown))}; the settings are "
                f"{', '.join(sorted(_NAMES))} (see orchestrator.RunConfig)"
            )
        return dataclasses.replace(self, **settings)


class Settings(TypedDict, total=False):
    """`RunConfig`'s fields as keyword arguments (for typed ``**settings``)."""

    store: Store | str | Path | None
    deps: Any
    max_steps: int
    concurrency: int | None
    raise_on_error: bool
    model: Any
    model_provider: Any
    options: RunOptions | None
    snapshot_every: int | None
    events: bool
    on_event: Callable[[Event], None] | None
    interrupt_before: Sequence[str] | str | None
    interrupt_after: Sequence[str] | str | None
    context: Any
    run_config: Any
    hooks: Any
    max_turns: int | None
    session: Any
    previous_response_id: str | None
    conversation_id: str | None
    agent_timeout: float | None


_NAMES = frozenset(f.name for f in dataclasses.fields(RunConfig))
DEFAULTS = RunConfig()
