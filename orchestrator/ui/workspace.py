"""The web UI's view of one run store: the runs with their graphs, what each page shows, and
the actions a page starts (fork, resume, recorded replay), driven on the server's event loop.

Nothing here writes HTML: `pages` turns what this module gathers into markup.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import OrchestratorError, ResumeError, RunNotFoundError, StoreError
from ..events import Event
from ..records import RunRecord
from ..replay import ReplayReport, StepView
from ..run import RunResult
from ..source import GraphSourceError, load_graph
from ..store import Store

#: Statuses a run goes on from by itself: a page of one keeps listening for its steps.
LIVE = frozenset({"running", "queued"})
#: Every status a run record can have, for the list's filter.
STATUSES = ("running", "queued", "waiting", "completed", "failed", "interrupted")
#: How long an action waits for its run to show in the store before the page goes to it.
SETTLE_SECONDS = 5.0


class PageError(Exception):
    """A request the UI cannot serve, shown as a message on the page with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRow:
    """One line of the runs list: a run, its tokens, and how deep a fork it is."""

    record: RunRecord
    tokens: int
    depth: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunData:
    """What the page of one run shows. Without its graph (``problem`` says why) only the
    record is known; with it, the run as loaded (events and all) and its state at every step."""

    record: RunRecord
    graph: Any = None
    problem: str | None = None
    result: RunResult[Any] | None = None
    steps: tuple[StepView, ...] = ()
    forks: tuple[RunRecord, ...] = ()
    live: bool = False


class Workspace:
    """A run store and the graphs of its runs: those given by name, the rest imported from
    the ``source`` (module:attribute) each run records, as the command line finds them."""

    def __init__(self, store: Store, graphs: Iterable[Any] = ()) -> None:
        self.store = store
        self.graphs: dict[str, Any] = {g.name: g for g in graphs}
        self._imported: dict[str, Any] = {}  # source -> compiled graph
        self._tokens: dict[str, tuple[float, int]] = {}  # run id -> (updated, tokens)
        self._playbacks: OrderedDict[tuple[str, float, int], tuple[StepView, ...]] = OrderedDict()
        self._active: dict[str, asyncio.Task[Any]] = {}  # runs this server is driving
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- reading -----------------------------------------------------------------------------

    async def record(self, run_id: str) -> RunRecord:
        try:
            return await self.store.get_run(run_id)
        except RunNotFoundError as exc:
            raise PageError(404, f"there is no run {run_id!r} in {self.store.where}") from exc

    async def rows(
        self, *, status: str | None = None, graph: str | None = None, limit: int = 200
    ) -> tuple[list[RunRow], list[str]]:
        """The runs to list, newest first with each fork under its parent, and the names of
        every graph among the newest ``limit`` runs (for the filter)."""
        records = await self.store.list_runs(limit)
        graphs = sorted({r.graph for r in records})
        shown = [
            r
            for r in records
            if (not status or r.status == status) and (not graph or r.graph == graph)
        ]
        ids = {r.run_id for r in shown}
        children: dict[str, list[RunRecord]] = {}
        for r in shown:
            if r.parent_run in ids:
                children.setdefault(r.parent_run or "", []).append(r)
        rows: list[RunRow] = []

        async def add(record: RunRecord, depth: int) -> None:
            rows.append(RunRow(record=record, tokens=await self.tokens(record), depth=depth))
            for child in children.get(record.run_id, []):
                await add(child, depth + 1)

        for r in shown:
            if r.parent_run not in ids:
                await add(r, 0)
        return rows, graphs

    async def tokens(self, record: RunRecord) -> int:
        """The tokens the run's model calls used, from its stored events (cached per update)."""
        known = self._tokens.get(record.run_id)
        if known is not None and known[0] == record.updated:
            return known[1]
        total = 0
        for data in await self.store.events(record.run_id):
            if data.get("type") == "ModelCalled" and isinstance(data.get("usage"), dict):
                usage = data["usage"]
                value = usage.get("total_tokens")
                if value is None:
                    value = (usage.get("input_tokens") or 0) + (usage.get("output_tokens") or 0)
                total += int(value or 0)
        self._tokens[record.run_id] = (record.updated, total)
        return total

    async def forks(self, run_id: str) -> tuple[RunRecord, ...]:
        records = await self.store.list_runs(10_000)
        children = (r for r in records if r.parent_run == run_id)
        return tuple(sorted(children, key=lambda r: r.created))

    async def graph_for(self, record: RunRecord) -> Any:
        """The run's graph: one given by its name, else imported from the run's source."""
        given = self.graphs.get(record.graph)
        if given is not None:
            return given
        source = record.source
        if not source:
            raise PageError(
                409,
                f"run {record.run_id} does not record where its graph {record.graph!r} comes "
                "from; start the UI with --graph module:attribute for it",
            )
        if source not in self._imported:
            try:
                # Imported on a thread of its own, as the command line does: a file that runs
                # its graph at import does so outside the server's event loop.
                self._imported[source] = await asyncio.to_thread(load_graph, source)
            except GraphSourceError as exc:
                message = f"cannot load the graph of run {record.run_id}: {exc}"
                raise PageError(409, message) from exc
        graph = self._imported[source]
        if graph.name != record.graph:
            raise PageError(
                409,
                f"{source} is graph {graph.name!r}, but run {record.run_id} belongs to graph "
                f"{record.graph!r}; start the UI with --graph module:attribute for it",
            )
        return graph

    async def run_data(self, run_id: str) -> RunData:
        record = await self.record(run_id)
        forks = await self.forks(run_id)
        live = self.is_live(record)
        try:
            graph = await self.graph_for(record)
        except PageError as exc:
            return RunData(record=record, problem=exc.message, forks=forks, live=live)
        try:
            result = await graph.load(run_id, store=self.store)
            steps = await self.playback(graph, record)
        except (StoreError, OrchestratorError) as exc:
            return RunData(record=record, graph=graph, problem=str(exc), forks=forks, live=live)
        return RunData(
            record=record, graph=graph, result=result, steps=steps, forks=forks, live=live
        )

    async def playback(self, graph: Any, record: RunRecord) -> tuple[StepView, ...]:
        """The run's state at every step (cached until the run moves on)."""
        key = (record.run_id, record.updated, record.steps)
        cached = self._playbacks.get(key)
        if cached is None:
            cached = tuple(await graph.playback(record.run_id, store=self.store))
            self._playbacks[key] = cached
            while len(self._playbacks) > 32:
                self._playbacks.popitem(last=False)
        return cached

    async def step(self, run_id: str, step: int) -> tuple[RunData, int]:
        """The run and the index in its playback of ``step`` (404 when it has no such step)."""
        data = await self.run_data(run_id)
        if data.problem is not None:
            raise PageError(409, data.problem)
        numbers = [view.step for view in data.steps]
        if step not in numbers:
            span = f"{numbers[0]}..{numbers[-1]}" if numbers else "none yet"
            raise PageError(404, f"run {run_id} has no step {step}; its steps are {span}")
        return data, numbers.index(step)

    def is_live(self, record: RunRecord) -> bool:
        return record.status in LIVE or record.run_id in self._active

    # --- acting ------------------------------------------------------------------------------

    async def fork(self, run_id: str, step: int, fields: Mapping[str, str]) -> str:
        """Start a fork of ``run_id`` from ``step`` with the ``fields`` (text as typed) that
        differ from the state at that step; the id of the new run once it is stored."""
        data, index = await self.step(run_id, step)
        graph = data.graph
        known = graph.schema.fields
        unknown = sorted(set(fields) - set(known))
        if unknown:
            raise PageError(
                400,
                f"{', '.join(map(repr, unknown))} is not a field of graph {graph.name!r}; "
                f"fields are {', '.join(sorted(known))}",
            )
        current = data.steps[index].state.model_dump(mode="json")
        edits: dict[str, Any] = {}
        for name, text in fields.items():
            value = parse_value(text, f"the value of {name!r}")
            if value != current.get(name):
                edits[name] = value

        async def launch(listen: Callable[[Event], None]) -> Any:
            return await graph.fork(
                run_id,
                step,
                set=edits or None,
                store=self.store,
                raise_on_error=False,
                on_event=listen,
            )

        new_id = await self._start(launch, bad_input=400)
        await self._settle(new_id, lambda record: True)
        return new_id

    async def resume(self, run_id: str, task_id: int | None, value: Any = None) -> None:
        """Go on with a run: answer the interrupt of ``task_id`` with ``value``, or (without
        a task) pass a breakpoint or retry a failed or interrupted run."""
        record = await self.record(run_id)
        graph = await self.graph_for(record)
        before = record.status

        async def launch(listen: Callable[[Event], None]) -> Any:
            if task_id is None:
                return await graph.resume(
                    run_id, store=self.store, raise_on_error=False, on_event=listen
                )
            return await graph.resume(
                run_id,
                values={task_id: value},
                store=self.store,
                raise_on_error=False,
                on_event=listen,
            )

        await self._start(launch, bad_input=409, run_id=run_id)
        await self._settle(run_id, lambda r: r.status != before or r.updated != record.updated)

    async def replay(self, run_id: str) -> tuple[RunData, ReplayReport]:
        """A recorded replay of the run with its graph as loaded now (models answered from
        the recording), and the run it is compared with."""
        data = await self.run_data(run_id)
        if data.problem is not None:
            raise PageError(409, data.problem)
        try:
            report: ReplayReport = await data.graph.replay(run_id, store=self.store)
        except OrchestratorError as exc:
            raise PageError(409, f"cannot replay run {run_id}: {exc}") from exc
        return data, report

    def answer_for(self, graph: Any, wait: Mapping[str, Any], action: str) -> Any:
        """What "approve" and "reject" mean for one waiting task: True/False for a tool
        approval or a human node whose field is a bool, else the words themselves."""
        yes = action == "approve"
        request = wait.get("request")
        if isinstance(request, dict) and request.get("kind") == "tool_approval":
            return yes
        node = graph.nodes.get(wait.get("node"))
        field = (node.meta or {}).get("field") if node is not None else None
        declared = graph.schema.model.model_fields.get(field) if isinstance(field, str) else None
        if declared is not None and declared.annotation is bool:
            return yes
        return "approve" if yes else "reject"

    async def _start(
        self,
        launch: Callable[[Callable[[Event], None]], Coroutine[Any, Any, Any]],
        *,
        bad_input: int,
        run_id: str | None = None,
    ) -> str:
        """Drive a run in the background; return its id once its first event is out. An
        error before that (a bad step, edit or answer) is the request's: a `PageError`."""
        loop = asyncio.get_running_loop()
        started: asyncio.Future[str] = loop.create_future()

        def listen(event: Event) -> None:
            if not started.done():
                started.set_result(event.run_id)

        task = loop.create_task(launch(listen))
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        if run_id is not None:
            self._active[run_id] = task
        await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
        if task.done() and not started.done():
            exc = task.exception()
            if isinstance(exc, ResumeError):
                raise PageError(bad_input, str(exc)) from exc
            if isinstance(exc, OrchestratorError):
                raise PageError(409, str(exc)) from exc
            if exc is not None:
                raise exc
            return str(task.result().run_id)
        new_id = started.result()
        self._active[new_id] = task
        return new_id

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        for run_id in [k for k, t in self._active.items() if t is task]:
            del self._active[run_id]
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, OrchestratorError):
            # The run is stored as it ended; the server's console says why.
            print(f"orchestrator ui: a run stopped: {type(exc).__name__}: {exc}", file=sys.stderr)

    async def _settle(self, run_id: str, moved: Callable[[RunRecord], bool]) -> None:
        """Wait (briefly) until the store shows the run has moved, so the page sent to next
        shows it going: the fork's first row, or the resumed run out of its pause."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(RunNotFoundError):
                record = await self.store.get_run(run_id)
                if moved(record) or run_id not in self._active:
                    return
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        """Stop the runs this server drives (each is stored interrupted, resumable)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)


def parse_value(text: str, what: str) -> Any:
    """A value typed on a page: JSON when it parses, else the text itself — but text that
    starts like a JSON object or list must be JSON (a typo there is not meant as text)."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise PageError(
                400,
                f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            ) from exc
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        return text
