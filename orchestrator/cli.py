"""The ``orchestrator`` command line: run graphs with a live view, list and show stored runs,
draw graphs and runs, replay, fork and resume them.

Heavy imports (pydantic, the engine, the Agents SDK, drawing) happen inside the commands, so
``orchestrator --help`` starts in a fraction of a second. Errors are one line and a non-zero
exit code (2 for bad input, 1 for a failed run); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .source import GraphSourceError, load_graph

app = typer.Typer(
    name="orchestrator",
    help="Run, draw and replay typed workflow graphs of LLM agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_DEBUG = False

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Where runs are kept: a SQLite file, 'memory', or a postgresql:// URL "
        "(default: $ORCHESTRATOR_STORE or ./orchestrator.db).",
    ),
]
GraphOption = Annotated[
    str | None,
    typer.Option("--graph", "-g", help="The run's graph (module:attribute); default: recorded."),
]


class CliError(Exception):
    """Bad input from the command line: shown as one line, exit code 2."""


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    global _DEBUG
    _DEBUG = debug


# --- loading graphs, stores and input ---------------------------------------------------------


def parse_input(graph: Any, text: str | None) -> dict[str, Any] | None:
    """Input as JSON (an object of state fields) or, when not JSON, text for the main field."""
    if text is None:
        return None
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise CliError(f"--input is not valid JSON: {exc.msg} at column {exc.colno}") from exc
        if not isinstance(value, dict):
            raise CliError("--input JSON must be an object of state fields")
        unknown = sorted(set(value) - set(graph.schema.fields))
        if unknown:
            raise CliError(
                f"--input names {', '.join(map(repr, unknown))}, not a field of graph "
                f"{graph.name!r}; fields are {', '.join(sorted(graph.schema.fields))}"
            )
        return value
    fields = graph.schema.model.model_fields
    if "messages" in fields and not any(f.annotation is str for f in fields.values()):
        return {"messages": [{"role": "user", "content": text}]}
    text_fields = [name for name, f in fields.items() if f.annotation is str]
    if not text_fields:
        raise CliError(f"graph {graph.name!r} has no text field to put the input in; pass JSON")
    return {text_fields[0]: text}


def parse_value(text: str) -> Any:
    """A value given on the command line: JSON when it parses, else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _store(spec: str | None) -> Any:
    from .store import open_store

    return open_store(spec)


def _run_async(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


async def _graph_of(store: Any, run_id: str, target: str | None) -> Any:
    record = await store.get_run(run_id)
    source = target or record.source
    if not source:
        raise CliError(
            f"run {run_id} does not record its graph's module; pass --graph module:attribute"
        )
    return load_graph(source)


def _model_options(model: str | None) -> dict[str, Any]:
    if model is None:
        return {}
    if model == "offline":
        from .offline import OfflineProvider

        return {"model_provider": OfflineProvider()}
    return {"model": model}


# --- commands ----------------------------------------------------------------------------------


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
    opened = _store(store)
    options = _model_options(model)

    async def go() -> Any:
        from .run import RunOptions

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
        from .progress import Progress

        run_options.stream = True  # agents' text reaches the live view as it is written
        with Progress() as progress:
            stream = graph.stream(
                data, store=opened, max_steps=max_steps, options=run_options, **options
            )
            async for event in stream:
                progress.show(event)
        return stream.result

    result = _run_async(go())
    _print_result(result, as_json, opened.where)
    if str(result.status) == "failed":
        raise typer.Exit(1)


@app.command()
def runs(
    store: StoreOption = None,
    limit: Annotated[int, typer.Option(help="How many runs to list.")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List stored runs, newest first; forks appear under their parent."""
    opened = _store(store)
    records = _run_async(opened.list_runs(limit))
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
            record.status,
            str(record.steps),
            record.owner or "",
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.updated)),
        )
        for child in children.get(record.run_id, []):
            add(child, depth + 1)

    for r in records:
        if r.parent_run not in ids:
            add(r, 0)
    _console().print(table if records else f"no runs in {opened.where}")


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a stored run: status, path, each step's writes, and model usage per node."""
    opened = _store(store)

    async def collect() -> tuple[Any, Any, Any, Any]:
        record = await opened.get_run(run_id)
        return (
            record,
            await opened.checkpoints(run_id, from_snapshot=False),
            await opened.path(run_id),
            await opened.events(run_id),
        )

    record, checkpoints, path, events = _run_async(collect())
    usage: dict[str, dict[str, int]] = {}
    for event in events:
        if event.get("type") == "ModelCalled":
            node = usage.setdefault(event["node"], {})
            for key, value in event["usage"].items():
                node[key] = node.get(key, 0) + value
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "run": record.model_dump(),
                    "path": path,
                    "usage": usage,
                    "steps": [
                        {"step": c.step, "ran": c.ran, "writes": c.writes} for c in checkpoints
                    ],
                },
                default=str,
            )
        )
        return
    from rich.table import Table

    console = _console()
    console.print(
        f"run {record.run_id}  graph {record.graph}  status {record.status}  steps {record.steps}"
    )
    if record.parent_run:
        console.print(f"forked from {record.parent_run} at step {record.parent_step}")
    if record.error:
        console.print(f"error: {record.error}", markup=False)
    for waiting in record.waiting:
        console.print(f"waiting in {waiting['node']}: {_short(waiting['request'])}", markup=False)
    console.print("path: " + (" -> ".join(path) or "(none)"), markup=False)
    table = Table("step", "ran", "writes", box=None)
    for c in checkpoints:
        writes = "; ".join(f"{n}: {', '.join(u)}" for n, u in c.writes)
        table.add_row(str(c.step), ", ".join(c.ran) or "(start)", writes)
    console.print(table)
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
        opened = _store(store)

        async def fetch() -> tuple[Any, Any]:
            found = await _graph_of(opened, target, graph)
            return found, await found.load(target, store=opened)

        compiled, run_result = _run_async(fetch())
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
    opened = _store(store)

    async def go() -> Any:
        compiled = await _graph_of(opened, run_id, graph)
        if mode == "playback":
            return await compiled.playback(run_id, store=opened)
        return await compiled.replay(run_id, store=opened)

    outcome = _run_async(go())
    if mode == "playback":
        steps = [
            {"step": v.step, "ran": v.ran, "state": v.state.model_dump(mode="json")}
            for v in outcome
        ]
        if as_json:
            typer.echo(json.dumps(steps, default=str))
            return
        for view in steps:
            typer.echo(f"step {view['step']}: {', '.join(view['ran']) or '(start)'}")
            typer.echo("  " + json.dumps(view["state"], default=str)[:400])
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
            f"({outcome.reason}): expected {_short(outcome.expected)}, got "
            f"{_short(outcome.actual)}"
        )
    if not outcome.matched:
        raise typer.Exit(1)


@app.command()
def fork(
    run_id: Annotated[str, typer.Argument(help="The run to fork.")],
    step: Annotated[int, typer.Option(help="Go on from the checkpoint of this step.")],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="field=value (JSON or text); repeat for several fields."),
    ] = None,
    store: StoreOption = None,
    graph: GraphOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-execute a stored run from step K as a new run, optionally with edited fields."""
    edits: dict[str, Any] = {}
    for item in set_ or []:
        field, sep, value = item.partition("=")
        if not sep or not field:
            raise CliError(f"--set takes field=value, got {item!r}")
        edits[field.strip()] = parse_value(value)
    opened = _store(store)

    async def go() -> Any:
        compiled = await _graph_of(opened, run_id, graph)
        unknown = sorted(set(edits) - set(compiled.schema.fields))
        if unknown:
            raise CliError(
                f"--set names {', '.join(map(repr, unknown))}, not a field of graph "
                f"{compiled.name!r}; fields are {', '.join(sorted(compiled.schema.fields))}"
            )
        return await compiled.fork(
            run_id, step, set=edits or None, store=opened, raise_on_error=False
        )

    result = _run_async(go())
    _print_result(result, as_json, opened.where)
    if str(result.status) == "failed":
        raise typer.Exit(1)


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="The run to go on with.")],
    value: Annotated[
        str | None, typer.Option(help="The answer for a waiting run (JSON or text).")
    ] = None,
    store: StoreOption = None,
    graph: GraphOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Resume a waiting run with a value, or a failed or interrupted one from its last step."""
    opened = _store(store)

    async def go() -> Any:
        compiled = await _graph_of(opened, run_id, graph)
        if value is None:
            return await compiled.resume(run_id, store=opened, raise_on_error=False)
        return await compiled.resume(run_id, parse_value(value), store=opened, raise_on_error=False)

    result = _run_async(go())
    _print_result(result, as_json, opened.where)
    if str(result.status) == "failed":
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
    opened = _store(store or str(out / "runs.db"))
    data = parse_input(graph, question)

    async def go() -> Any:
        from .offline import OfflineProvider
        from .progress import Progress
        from .run import RunOptions

        with Progress() as progress:
            stream = graph.stream(
                data,
                store=opened,
                model_provider=OfflineProvider(),
                options=RunOptions(source=target),
            )
            async for event in stream:
                progress.show(event)
        return stream.result

    result = _run_async(go())
    _print_result(result, False, opened.where)
    written = [
        visualize.render(graph, out / "graph.svg"),
        visualize.render(graph, out / "run.html", run=result),
    ]
    for path in written:
        typer.echo(f"wrote {path.resolve()}")
    typer.echo(
        f"replay it: orchestrator replay {result.run_id} --mode recorded --store {opened.where}"
    )


# --- scale-out: queue runs for run hosts, start and stop hosts (orchestrator.cluster) ----------
# Ray is imported inside these commands only, so `orchestrator --help` stays fast.

cluster_app = typer.Typer(
    help="Start or stop run hosts: Ray actors that claim queued runs from PostgreSQL.",
    no_args_is_help=True,
)
app.add_typer(cluster_app, name="cluster")

HostsStoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="The PostgreSQL store runs are queued in: postgresql://user@host:port/db "
        "(default: $ORCHESTRATOR_STORE).",
    ),
]
HostNameOption = Annotated[str, typer.Option("--name", help="Hosts are named NAME-0, NAME-1, ...")]


def _postgres_url(store: str | None) -> str:
    import os

    url = store or os.environ.get("ORCHESTRATOR_STORE") or ""
    if not url.startswith(("postgresql://", "postgres://")):
        raise CliError(
            "run hosts claim runs from PostgreSQL: pass --store postgresql://user@host:port/db "
            f"(or set ORCHESTRATOR_STORE){f', not {url!r}' if url else ''}"
        )
    return url


@app.command()
def submit(
    target: Annotated[
        str, typer.Argument(help="The graph: module:attribute, importable by hosts.")
    ],
    input: Annotated[
        str | None, typer.Option("--input", "-i", help="JSON object of fields, or text.")
    ] = None,
    store: HostsStoreOption = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run until it ends.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Queue a run for the run hosts and print its id; --wait follows it to the end."""
    url = _postgres_url(store)
    graph = load_graph(target)
    data = parse_input(graph, input)
    opened = _store(url)

    async def go() -> tuple[str, Any]:
        from .cluster import follow

        run_id = await graph.submit(data, store=opened, source=target)
        if not wait:
            return run_id, None
        if not as_json:
            typer.echo(run_id)
        async for record in follow(run_id, store=opened):
            if not as_json:
                owner = f" on {record.owner}" if record.owner else ""
                typer.echo(f"{record.status}{owner}, {record.steps} step(s)", err=True)
        return run_id, await graph.load(run_id, store=opened)

    try:
        run_id, result = _run_async(go())
    finally:
        _run_async(opened.close())
    if result is None:
        typer.echo(json.dumps({"run_id": run_id, "status": "queued"}) if as_json else run_id)
        return
    _print_result(result, as_json, opened.where)
    if str(result.status) == "failed":
        raise typer.Exit(1)


@cluster_app.command("up")
def cluster_up(
    store: HostsStoreOption = None,
    hosts: Annotated[int, typer.Option(help="How many run hosts to start.")] = 2,
    address: Annotated[
        str | None,
        typer.Option(
            help="A running Ray cluster ('auto', or head:port); default: start a local one "
            "on 127.0.0.1 for as long as this command runs."
        ),
    ] = None,
    capacity: Annotated[int, typer.Option(help="Runs one host drives at once.")] = 1000,
    ttl: Annotated[float, typer.Option(help="Lease seconds: a dead host's runs wait this.")] = 15,
    executor: Annotated[
        str, typer.Option(help="Where code steps run: 'local' (on the host) or 'ray' (tasks).")
    ] = "local",
    model: Annotated[
        str | None, typer.Option(help="Model for every agent: 'offline', or a model name.")
    ] = None,
    num_cpus: Annotated[
        int | None, typer.Option(help="CPUs of the local Ray (default: all).")
    ] = None,
    detach: Annotated[
        bool,
        typer.Option(help="Leave the hosts running in the cluster (needs --address) and exit."),
    ] = False,
    name: HostNameOption = "orchestrator-host",
) -> None:
    """Start run hosts; in the foreground until Ctrl-C, which hands their runs back."""
    url = _postgres_url(store)
    if executor not in ("local", "ray"):
        raise CliError(f"--executor must be local or ray, not {executor!r}")
    if detach and address is None:
        raise CliError("--detach needs --address: detached hosts live in a running Ray cluster")
    import signal
    import time

    from .cluster import NAMESPACE, RayExecutor, init_ray, start_hosts, stop_hosts

    init_ray(address, num_cpus=num_cpus, namespace=NAMESPACE)
    import ray

    handles = start_hosts(
        url,
        hosts,
        name=name,
        detached=detach,
        capacity=capacity,
        ttl=ttl,
        executor=RayExecutor() if executor == "ray" else None,
        **_model_options(model),
    )
    for status in ray.get([h.status.remote() for h in handles]):
        typer.echo(f"host {status['owner']} claims runs from {_store(url).where}")
    if detach:
        typer.echo(f"stop them with: orchestrator cluster down --address {address} --name {name}")
        return
    typer.echo("Ctrl-C (or SIGTERM) stops the hosts and hands their runs back")

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # `kill`, systemd and containers stop it cleanly
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for status in stop_hosts(handles):
            typer.echo(
                f"host {status['owner']}: {status['completed']} completed, "
                f"{status['failed']} failed, {status['handed back']} handed back"
            )
        ray.shutdown()


@cluster_app.command("down")
def cluster_down(
    address: Annotated[str, typer.Option(help="The Ray cluster ('auto', or head:port).")] = "auto",
    name: HostNameOption = "orchestrator-host",
    drain: Annotated[
        bool, typer.Option(help="Let their runs finish first, instead of handing them back.")
    ] = False,
) -> None:
    """Stop the detached run hosts started with `cluster up --detach`."""
    from .cluster import NAMESPACE, find_hosts, init_ray, stop_hosts

    init_ray(address, namespace=NAMESPACE)
    handles = find_hosts(name)
    if not handles:
        raise CliError(f"no run hosts named {name}-N in Ray namespace {NAMESPACE!r} at {address}")
    for status in stop_hosts(handles, drain=drain):
        typer.echo(f"stopped {status['owner']}: {status['handed back']} run(s) handed back")


# --- output ----------------------------------------------------------------------------------


def _console() -> Any:
    """A console that never hard-wraps ids and paths (output is often copied or piped)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def _records(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 2 and all(isinstance(v, dict) for v in value)


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print_result(result: Any, as_json: bool, where: str) -> None:
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "run_id": result.run_id,
                    "status": str(result.status),
                    "path": result.path,
                    "state": result.state.model_dump(mode="json"),
                    "error": None if result.error is None else str(result.error),
                    "waiting": [
                        {"node": w.node, "task_id": w.task_id, "request": w.request}
                        for w in result.waiting
                    ],
                    "usage": result.usage,
                    "store": where,
                },
                default=str,
            )
        )
        return
    from rich.pretty import Pretty

    console = _console()
    state = {
        # A conversation or a long list of records reads better as a count (--json has all).
        key: f"<{len(value)} items>" if _records(value) else value
        for key, value in result.state.model_dump(mode="json").items()
    }
    console.print(Pretty(state, max_string=400))
    console.print("path: " + (" -> ".join(result.path) or "(none)"), markup=False)
    if result.error is not None:
        console.print(f"error: {result.error}", markup=False)
    for w in result.waiting:
        console.print(f"waiting in {w.node}: {_short(w.request)}", markup=False)
        console.print(
            f"answer with: orchestrator resume {result.run_id} --value '...' --store {where}",
            markup=False,
        )
    console.print(
        f"run {result.run_id}: {result.status} after {result.steps} step(s); stored in {where}",
        markup=False,
    )


def main() -> None:
    """Entry point: one readable line and a non-zero exit code on errors."""
    try:
        app(standalone_mode=False)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if _DEBUG:
            raise
        from .errors import OrchestratorError

        known = isinstance(exc, (CliError, OrchestratorError))
        prefix = "error" if known else f"error ({type(exc).__name__})"
        typer.echo(f"{prefix}: {exc}", err=True)
        typer.echo("(run with --debug for the traceback)", err=True)
        bad_input = isinstance(exc, (CliError, GraphSourceError)) or not known
        sys.exit(2 if bad_input else 1)


if __name__ == "__main__":  # pragma: no cover
    main()
