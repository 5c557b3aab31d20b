"""The commands for running and inspecting graphs and stored runs: run, runs, show, render,
replay, fork, resume and demo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ResumeError
from ..source import GraphSourceError, load_graph
from .app import (
    CliError,
    GraphOption,
    StoreOption,
    app,
    graph_of_run,
    model_options,
    parse_input,
    parse_value,
    run_async,
    store_from,
)
from .output import make_console, print_result, short


@app.command()
def run(
    target: Annotated[str, typer.Argument(help="The graph: module:attribute or file.py:attr.")],
    input: Annotated[
        str | None, typer.Option("--input", "-i", help="JSON object of fields, or text.")
    ] = None,
    store: StoreOption = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model for every agent: 'offline', or a model name for the "
            "configured provider (OPENAI_API_KEY / OPENAI_BASE_URL)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON only.")] = False,
    max_steps: Annotated[int, typer.Option(help="Stop a run after this many steps.")] = 10_000,
) -> None:
    """Run a graph with a live view; print its final state, path and run id."""
    graph = load_graph(target)
    data = parse_input(graph, input)
    opened = store_from(store)
    options = model_options(model)

    async def go() -> Any:
        from ..run import RunOptions

        run_options = RunOptions(source=target)
        if as_json:
            return await graph.run(
                data,
                store=opened,
                max_steps=max_steps,
                raise_on_error=False,
                options=run_options,
                **options,
            )
        from ..progress import Progress

        run_options.stream = True  # agents' text reaches the live view as it is written
        with Progress() as progress:
            stream = graph.stream(
                data, store=opened, max_steps=max_steps, options=run_options, **options
            )
            async for event in stream:
                progress.show(event)
        return stream.result

    result = run_async(go())
    print_result(result, as_json, opened.where)
    if str(result.status) in ("failed", "interrupted"):
        raise typer.Exit(1)


runs_app = typer.Typer(
    help="List stored runs (newest first, forks under their parent); delete or prune them.",
    invoke_without_command=True,
    rich_markup_mode=None,
)
app.add_typer(runs_app, name="runs")


@runs_app.command("delete")
def runs_delete(
    run_ids: Annotated[list[str], typer.Argument(help="The runs to delete.", metavar="RUN...")],
    forks: Annotated[bool, typer.Option("--forks", help="Delete their forks too.")] = False,
    store: StoreOption = None,
) -> None:
    """Delete runs and every row they have in the store (not their forks, unless --forks)."""
    opened = store_from(store)

    async def go() -> list[str]:
        deleted: list[str] = []
        for run_id in run_ids:
            deleted += await opened.delete_run(run_id, forks=forks)
        return deleted

    deleted = run_async(go())
    typer.echo(f"deleted {len(deleted)} run(s) from {opened.where}: {', '.join(deleted)}")


@runs_app.command("prune")
def runs_prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age since last update: 30d, 12h, 45m or 90s.")
    ],
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status", help="Only runs in this status (repeat); default: all but running/queued."
        ),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Delete the runs not updated for a while, and reclaim their space."""
    seconds = _duration(older_than)
    known = {"completed", "failed", "waiting", "interrupted", "running", "queued"}
    bad = sorted(set(status or ()) - known)
    if bad:
        raise CliError(
            f"--status {', '.join(bad)} is not a run status; use {', '.join(sorted(known))}"
        )
    opened = store_from(store)
    deleted = run_async(opened.prune(older_than=seconds, status=status or None))
    typer.echo(f"pruned {len(deleted)} run(s) from {opened.where}")


def _duration(text: str) -> float:
    units = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
    number, unit = text[:-1], text[-1:].lower()
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in units or value < 0:
        raise CliError(f"--older-than takes a number and a unit (30d, 12h, 45m, 90s), not {text!r}")
    return value * units[unit]


@runs_app.callback()
def runs(
    ctx: typer.Context,
    store: StoreOption = None,
    limit: Annotated[int, typer.Option(help="How many runs to list.")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List stored runs, newest first; forks appear under their parent."""
    if ctx.invoked_subcommand is not None:
        return
    opened = store_from(store)
    records = run_async(opened.list_runs(limit))
    if as_json:
        typer.echo(json.dumps([r.model_dump() for r in records]))
        return
    from rich.table import Column, Table

    table = Table("graph", "status", "steps", "owner", "updated", box=None)
    table.columns.insert(0, Column("run", no_wrap=True, min_width=32))
    ids = {r.run_id for r in records}
    children: dict[str, list[Any]] = {}
    for r in records:
        if r.parent_run in ids:
            children.setdefault(r.parent_run or "", []).append(r)

    def add(record: Any, depth: int) -> None:
        import time

        name = ("  " * depth + "└ fork@" + str(record.parent_step) + " ") if depth else ""
        table.add_row(
            name + record.run_id,
            record.graph,
            _status(record),
            str(record.steps),
            record.owner or "",
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.updated)),
        )
        for child in children.get(record.run_id, []):
            add(child, depth + 1)

    for r in records:
        if r.parent_run not in ids:
            add(r, 0)
    make_console().print(table if records else f"no runs in {opened.where}")


def _status(record: Any) -> str:
    """A run's status as listed: a running run whose driver is gone (its process died on
    this machine) says so, since nothing drives it until it is resumed."""
    from ..store.lease import owner_gone

    if record.status == "running" and owner_gone(record.owner):
        return "running (its driver is gone)"
    return str(record.status)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    store: StoreOption = None,
    graph: GraphOption = None,
    full: Annotated[bool, typer.Option("--full", help="Show written values in full.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a stored run: status, path, each step's writes (values, shortened unless --full),
    and model usage per node."""
    opened = store_from(store)

    async def collect() -> tuple[Any, Any, Any, Any, Any]:
        record = await opened.get_run(run_id)
        steps = None
        if graph or record.source:
            # The values each step wrote, rebuilt by the one fold of the log; without the
            # graph only the field names are known.
            try:
                compiled = await graph_of_run(opened, run_id, graph)
            except (CliError, GraphSourceError):
                if graph:
                    raise
            else:
                steps = await compiled.playback(run_id, store=opened)
        return (
            record,
            await opened.checkpoints(run_id, from_snapshot=False),
            await opened.path(run_id),
            await opened.events(run_id),
            steps,
        )

    record, checkpoints, path, events, steps = run_async(collect())
    from ..events import ModelCalled
    from ..records import decode_event

    usage: dict[str, dict[str, int]] = {}
    cached: dict[int, list[str]] = {}  # step -> nodes answered from the node cache
    for data in events:
        if data.get("type") == "NodeCached":
            cached.setdefault(int(data.get("step", 0)), []).append(str(data.get("node")))
        elif data.get("type") == "ModelCalled":
            event = decode_event(run_id, data, opened.where)
            assert isinstance(event, ModelCalled)
            node = usage.setdefault(event.node, {})
            for key, value in event.usage.items():
                node[key] = node.get(key, 0) + value
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "run": record.model_dump(),
                    "path": path,
                    "usage": usage,
                    "steps": [
                        {
                            "step": v.step,
                            "ran": v.ran,
                            "cached": cached.get(v.step, []),
                            "writes": [[n, u] for n, u in v.writes],
                            "edit": v.edit,
                        }
                        for v in steps
                    ]
                    if steps is not None
                    else [
                        {
                            "step": c.step,
                            "ran": c.ran,
                            "cached": cached.get(c.step, []),
                            "fields": [[n, sorted(u)] for _, n, u in c.writes],
                        }
                        for c in checkpoints
                    ],
                },
                default=str,
            )
        )
        return
    from rich.table import Column, Table

    console = make_console()
    console.print(
        f"run {record.run_id}  graph {record.graph}  status {record.status}  steps {record.steps}"
    )
    if record.parent_run:
        console.print(f"forked from {record.parent_run} at step {record.parent_step}")
    if record.error:
        console.print(f"error: {record.error}", markup=False)
    for waiting in record.waiting:
        console.print(f"waiting in {waiting['node']}: {short(waiting['request'])}", markup=False)
    console.print("path: " + (" -> ".join(path) or "(none)"), markup=False)
    table = Table("step", "ran", Column("writes", overflow="fold"), box=None)
    if steps is not None:
        limit = None if full else 80
        for view in steps:
            writes = "\n".join(
                f"{n}: " + ", ".join(f"{k}={_shown(v, limit)}" for k, v in u.items())
                for n, u in view.writes
            )
            ran = _ran(_marked(view.ran, cached.get(view.step)), view.edit, view.state, limit)
            table.add_row(str(view.step), ran, writes)
    else:
        for c in checkpoints:
            writes = "; ".join(f"{n}: {', '.join(u)}" for _, n, u in c.writes)
            table.add_row(
                str(c.step), _ran(_marked(c.ran, cached.get(c.step)), c.edit, None, 80), writes
            )
        console.print("(field names only: give --graph module:attribute for the values)")
    console.print(table, markup=False)
    if usage:
        usage_table = Table("node", "requests", "input tokens", "output tokens", box=None)
        for node_name, numbers in usage.items():
            usage_table.add_row(
                node_name,
                str(numbers.get("requests", 0)),
                str(numbers.get("input_tokens", 0)),
                str(numbers.get("output_tokens", 0)),
            )
        console.print(usage_table)


@app.command()
def render(
    target: Annotated[str, typer.Argument(help="A graph (module:attribute) or a run id.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write: .svg .png .dot .mmd .html")
    ],
    store: StoreOption = None,
    graph: GraphOption = None,
) -> None:
    """Draw a graph, or a stored run over its graph; the format follows the file extension
    (.html gives the run report)."""
    import visualize

    if ":" in target or target.endswith(".py") or "." in target:
        compiled, run_result = load_graph(target), None
    else:
        opened = store_from(store)

        async def fetch() -> tuple[Any, Any]:
            found = await graph_of_run(opened, target, graph)
            return found, await found.load(target, store=opened)

        compiled, run_result = run_async(fetch())
    try:
        path = visualize.render(compiled, output, run=run_result)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    typer.echo(f"wrote {path.resolve()}")


@app.command()
def replay(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    mode: Annotated[
        str,
        typer.Option(
            help="playback (rebuild every step, execute nothing) or recorded "
            "(execute the code again, models answered from the recording)."
        ),
    ] = "playback",
    store: StoreOption = None,
    graph: GraphOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Replay a stored run."""
    if mode not in ("playback", "recorded"):
        raise CliError(f"--mode must be playback or recorded, not {mode!r}")
    opened = store_from(store)

    async def go() -> Any:
        compiled = await graph_of_run(opened, run_id, graph)
        if mode == "playback":
            return await compiled.playback(run_id, store=opened)
        return await compiled.replay(run_id, store=opened)

    outcome = run_async(go())
    if mode == "playback":
        steps = [
            {"step": v.step, "ran": v.ran, "state": v.state.model_dump(mode="json")}
            for v in outcome
        ]
        if as_json:
            typer.echo(json.dumps(steps, default=str))
            return
        before: dict[str, Any] = {}
        for view in steps:
            typer.echo(f"step {view['step']}: {', '.join(view['ran']) or '(start)'}")
            state = view["state"]
            changed = [k for k in state if k not in before or state[k] != before[k]]
            for key in changed:  # what the step changed, as old -> new
                new_value = _shown(state[key], 120)
                if key in before:
                    typer.echo(f"  {key}: {_shown(before[key], 60)} -> {new_value}")
                else:
                    typer.echo(f"  {key} = {new_value}")
            if not changed:
                typer.echo("  (no change)")
            before = state
        return
    report = {
        "run_id": run_id,
        "matched": outcome.matched,
        "diverged_at": outcome.diverged_at,
        "reason": outcome.reason,
        "expected": outcome.expected,
        "actual": outcome.actual,
        "recorded_answers": outcome.recorded_answers,
        "model_calls": outcome.model_calls,
    }
    if as_json:
        typer.echo(json.dumps(report, default=str))
    elif outcome.matched:
        typer.echo(
            f"recorded replay of {run_id} matched the original at every one of its "
            f"{outcome.steps} steps ({outcome.recorded_answers} model answers from the "
            "recording, 0 model calls)"
        )
    else:
        typer.echo(
            f"recorded replay of {run_id} diverged at step {outcome.diverged_at} "
            f"({outcome.reason}): expected {short(outcome.expected)}, got "
            f"{short(outcome.actual)}"
        )
    if not outcome.matched:
        raise typer.Exit(1)


UpdateOption = Annotated[
    list[str] | None,
    typer.Option(
        "--update",
        help="field=value (JSON or text) written through the reducers; repeat for several.",
    ),
]
AsNodeOption = Annotated[
    str | None,
    typer.Option("--as-node", help="Apply --update as this node's write; its edges route."),
]


def _fields(option: str, items: list[str] | None) -> dict[str, Any]:
    """``field=value`` items of a repeated option, values parsed as JSON when they parse."""
    fields: dict[str, Any] = {}
    for item in items or []:
        field, sep, value = item.partition("=")
        if not sep or not field.strip():
            raise CliError(f"{option} takes field=value, got {item!r}")
        fields[field.strip()] = parse_value(value)
    return fields


def _known_fields(compiled: Any, option: str, fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - set(compiled.schema.fields))
    if unknown:
        raise CliError(
            f"{option} names {', '.join(map(repr, unknown))}, not a field of graph "
            f"{compiled.name!r}; fields are {', '.join(sorted(compiled.schema.fields))}"
        )


@app.command()
def fork(
    run_id: Annotated[str, typer.Argument(help="The run to fork.")],
    step: Annotated[int, typer.Option(help="Go on from the checkpoint of this step.")],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="field=value (JSON or text); repeat for several fields."),
    ] = None,
    update: UpdateOption = None,
    as_node: AsNodeOption = None,
    store: StoreOption = None,
    graph: GraphOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-execute a stored run from step K as a new run, optionally with edited fields.

    --set replaces fields at step K and decides the route out of it again; --update applies
    a write through the reducers as its own step, as node --as-node (whose edges then decide
    what runs next)."""
    edits = _fields("--set", set_)
    updates = _fields("--update", update)
    opened = store_from(store)

    async def go() -> Any:
        compiled = await graph_of_run(opened, run_id, graph)
        _known_fields(compiled, "--set", edits)
        _known_fields(compiled, "--update", updates)
        with _live(as_json) as show:
            try:
                return await compiled.fork(
                    run_id,
                    step,
                    set=edits or None,
                    update=updates or None,
                    as_node=as_node,
                    store=opened,
                    raise_on_error=False,
                    on_event=show,
                )
            except ResumeError as exc:  # the step or the edits given: bad input
                raise CliError(str(exc)) from exc

    result = run_async(go())
    print_result(result, as_json, opened.where)
    if str(result.status) in ("failed", "interrupted"):
        raise typer.Exit(1)


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="The run to go on with.")],
    value: Annotated[
        str | None, typer.Option(help="The answer for a waiting run (JSON or text).")
    ] = None,
    update: UpdateOption = None,
    as_node: AsNodeOption = None,
    store: StoreOption = None,
    graph: GraphOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Resume a waiting run with a value, or a failed or interrupted one from its last step.

    --update applies a write through the reducers first, as its own step (the resumed tasks
    see it); with --as-node it is that node's write and its edges decide what runs next."""
    updates = _fields("--update", update)
    opened = store_from(store)

    async def go() -> Any:
        compiled = await graph_of_run(opened, run_id, graph)
        _known_fields(compiled, "--update", updates)
        answer = {} if value is None else {"value": parse_value(value)}
        with _live(as_json) as show:
            try:
                return await compiled.resume(
                    run_id,
                    **answer,
                    update=updates or None,
                    as_node=as_node,
                    store=opened,
                    raise_on_error=False,
                    on_event=show,
                )
            except ResumeError as exc:  # a run that cannot take it, or the edits: bad input
                raise CliError(str(exc)) from exc

    result = run_async(go())
    print_result(result, as_json, opened.where)
    if str(result.status) in ("failed", "interrupted"):
        raise typer.Exit(1)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's files.")] = Path(
        "orchestrator-demo"
    ),
    store: StoreOption = None,
) -> None:
    """Run a seed workflow (customer-service triage) on the offline model, store it in
    SQLite, and write its diagram and run report."""
    import visualize

    target = "graphs.triage:graph"
    question = "Could you please provide an update on the delivery timeline for our recent order?"
    graph = load_graph(target)
    out.mkdir(parents=True, exist_ok=True)
    opened = store_from(store or str(out / "runs.db"))
    data = parse_input(graph, question)

    async def go() -> Any:
        from ..offline import OfflineProvider
        from ..progress import Progress
        from ..run import RunOptions

        with Progress() as progress:
            stream = graph.stream(
                data,
                store=opened,
                model_provider=OfflineProvider(),
                options=RunOptions(source=target),
                events=True,  # the demo's run report shows its timeline
            )
            async for event in stream:
                progress.show(event)
        return stream.result

    result = run_async(go())
    print_result(result, False, opened.where)
    written = [
        visualize.render(graph, out / "graph.svg"),
        visualize.render(graph, out / "run.html", run=result),
    ]
    for path in written:
        typer.echo(f"wrote {path.resolve()}")
    typer.echo(
        f"replay it: orchestrator replay {result.run_id} --mode recorded --store {opened.where}"
    )


def _marked(ran: list[str], cached: list[str] | None) -> list[str]:
    """The nodes of a step, those its node cache answered marked so."""
    if not cached:
        return ran
    left = list(cached)
    marked = []
    for name in ran:
        if name in left:
            left.remove(name)
            name = f"{name} (cached)"
        marked.append(name)
    return marked


def _ran(ran: list[str], edit: dict[str, Any] | None, state: Any, limit: int | None) -> str:
    """The "ran" cell of a step: the nodes, or the person's edit the step is."""
    if edit is None:
        return ", ".join(ran) or "(start)"
    if "set" in edit:  # a fork's first step: the fields it was forked with
        fields = edit["set"]
        shown = ", ".join(
            f"{k}={_shown(getattr(state, k), limit)}" if state is not None else k for k in fields
        )
        return f"(forked with {shown})"
    by = edit.get("by", "update")
    return f"(edit by {by} as {edit['as_node']})" if edit.get("as_node") else f"(edit by {by})"


def _shown(value: Any, limit: int | None) -> str:
    """A value as one line of JSON, cut at ``limit`` characters (None: whole)."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


@contextmanager
def _live(quiet: bool) -> Iterator[Any]:
    """The live view's event listener (on stderr), or None for ``--json``."""
    if quiet:
        yield None
        return
    from ..progress import Progress

    with Progress() as progress:
        yield progress.show
