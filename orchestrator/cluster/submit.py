"""Submitting runs for the run hosts and following them to the end, from any process that
reaches the store; nothing here needs Ray."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..records import RunRecord
from ..store import Store, using_store
from .common import FINISHED

if TYPE_CHECKING:
    from ..compiled import CompiledGraph


async def submit(
    graph: CompiledGraph[Any] | str,
    input: Any = None,
    *,
    store: Store | str | Path,
    source: str | None = None,
    run_id: str | None = None,
) -> str:
    """Queue a run for the run hosts and return its id; nothing executes here.

    ``graph`` is ``module:attribute`` (imported here, and by each host), or a compiled graph
    with its ``source`` given, so hosts can import it.
    """
    if isinstance(graph, str):
        from ..source import load_graph

        compiled: CompiledGraph[Any] = load_graph(graph)
        source = source or graph
    else:
        compiled = graph
    if source is None:
        raise ValueError(
            f"submit graph {compiled.name!r} with source='module:attribute', so a run host can "
            "import it"
        )
    return await compiled.submit(input, store=store, source=source, run_id=run_id)


async def follow(
    run_id: str, *, store: Store | str | Path, poll: float = 0.2
) -> AsyncIterator[RunRecord]:
    """The run's record each time its status, owner or step count changes, until it is
    finished (completed, failed or waiting)."""
    seen: tuple[str, str | None, int] | None = None
    async with using_store(store) as opened:
        while True:
            record = await opened.get_run(run_id)
            now = (record.status, record.owner, record.steps)
            if now != seen:
                seen = now
                yield record
            if record.status in FINISHED:
                return
            await asyncio.sleep(poll)


async def wait(
    run_ids: str | Iterable[str],
    *,
    store: Store | str | Path,
    timeout: float | None = None,
    poll: float = 0.2,
) -> dict[str, RunRecord]:
    """Wait until every run is finished (completed, failed or waiting); their records.

    Raises TimeoutError after ``timeout`` seconds naming what is still unfinished.
    """
    ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
    done: dict[str, RunRecord] = {}
    deadline = None if timeout is None else time.monotonic() + timeout
    async with using_store(store) as opened:
        todo = list(ids)
        while todo:
            # Runs finish roughly in submission order: read until the first unfinished one,
            # so a wait over thousands of runs costs a query or so per round.
            while todo:
                record = await opened.get_run(todo[0])
                if record.status not in FINISHED:
                    break
                done[todo.pop(0)] = record
            if not todo:
                break
            if deadline is not None and time.monotonic() > deadline:
                states = Counter([(await opened.get_run(r)).status for r in todo])
                raise TimeoutError(
                    f"{len(todo)} of {len(ids)} runs unfinished after {timeout} s "
                    f"({', '.join(f'{n} {s}' for s, n in states.items())}); is a run host "
                    "claiming from this store? (orchestrator cluster up --store ...)"
                )
            await asyncio.sleep(poll)
            todo.append(todo.pop(0))  # an unfinished head must not hide finished runs
    return {run_id: done[run_id] for run_id in ids}
