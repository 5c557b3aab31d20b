"""The ``orchestrator`` command line: run graphs, draw them, and show what a run did.

Heavy imports (pydantic, the engine, the Agents SDK, drawing) happen inside the commands, so
``orchestrator --help`` starts in a fraction of a second.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="orchestrator",
    help="Run, draw and replay typed workflow graphs of LLM agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_DEBUG = False


class CliError(Exception):
    """An error shown to the user as one line (with the traceback only under --debug)."""


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    global _DEBUG
    _DEBUG = debug


# --- loading graphs and input ----------------------------------------------------------------


def load_graph(target: str) -> Any:
    """A compiled graph from ``package.module:attribute`` or ``path/to/file.py:attribute``.

    The attribute may be a `Graph` (compiled here), a `CompiledGraph`, or a function returning
    either. Without ``:attribute`` the module's ``graph`` attribute is used.
    """
    from .compiled import CompiledGraph
    from .graph import Graph

    spec, _, attr = target.partition(":")
    attr = attr or "graph"
    if spec.endswith(".py") or "/" in spec:
        path = Path(spec)
        if not path.is_file():
            raise CliError(f"graph file {spec!r} does not exist")
        sys.path.insert(0, str(path.parent.resolve()))
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None:
            raise CliError(f"cannot import {spec!r} as a Python file")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(spec)
        except ModuleNotFoundError as exc:
            raise CliError(
                f"cannot import {spec!r} ({exc}); give module:attribute or file.py:attribute"
            ) from exc
    if not hasattr(module, attr):
        raise CliError(f"{spec!r} has no attribute {attr!r}")
    obj = getattr(module, attr)
    if callable(obj) and not isinstance(obj, (Graph, CompiledGraph)):
        obj = obj()
    if isinstance(obj, Graph):
        obj = obj.compile()
    if not isinstance(obj, CompiledGraph):
        raise CliError(f"{target!r} is a {type(obj).__name__}, not a graph")
    return obj


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
        return value
    fields = graph.schema.model.model_fields
    text_fields = [n for n, f in fields.items() if f.annotation is str]
    if not text_fields:
        raise CliError(
            f"graph {graph.name!r} has no text field to put {text!r} in; pass JSON instead"
        )
    return {text_fields[0]: text}


# --- commands --------------------------------------------------------------------------------


@app.command()
def run(
    target: Annotated[str, typer.Argument(help="module:attribute or file.py:attribute")],
    input: Annotated[
        str | None, typer.Option("--input", "-i", help="JSON object of fields, or text.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    max_steps: Annotated[int, typer.Option(help="Stop a run after this many steps.")] = 10_000,
) -> None:
    """Run a graph and print its final state, path and status."""
    import asyncio

    graph = load_graph(target)
    data = parse_input(graph, input)
    result = asyncio.run(graph.run(data, max_steps=max_steps, raise_on_error=False))
    _print_result(result, as_json)
    if result.status == "failed":
        raise typer.Exit(1)


@app.command()
def render(
    target: Annotated[str, typer.Argument(help="module:attribute or file.py:attribute")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write: .svg .png .dot .mmd .html")
    ],
) -> None:
    """Draw a graph; the format follows the file extension."""
    import visualize

    graph = load_graph(target)
    path = visualize.render(graph, output)
    typer.echo(f"wrote {path}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's output.")] = Path(
        "orchestrator-demo"
    ),
) -> None:
    """Run the built-in demo workflow and write its diagrams."""
    import asyncio

    import visualize
    from graphs.demo import build

    graph = build()
    result = asyncio.run(graph.run({"topic": "graph-based agent orchestration"}))
    _print_result(result, False)
    out.mkdir(parents=True, exist_ok=True)
    written = [visualize.render(graph, out / "graph.dot", run=result)]
    for name in ("graph.svg", "run.html"):
        try:
            written.append(visualize.render(graph, out / name, run=result))
        except Exception as exc:  # a missing renderer must not hide the run's result
            typer.echo(f"could not write {name}: {exc}", err=True)
    for path in written:
        typer.echo(f"wrote {path.resolve()}")


def _print_result(result: Any, as_json: bool) -> None:
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
                },
                default=str,
            )
        )
        return
    from rich.console import Console
    from rich.pretty import Pretty

    console = Console()
    console.print(f"[bold]run[/] {result.run_id}  [bold]status[/] {result.status}")
    console.print(f"[bold]path[/] {' -> '.join(result.path) or '(none)'}")
    console.print(Pretty(result.state.model_dump(mode="json")))
    if result.error is not None:
        console.print(f"[red]error:[/] {result.error}", markup=True, highlight=False)
    for w in result.waiting:
        console.print(f"[yellow]waiting in {w.node}:[/] {w.request!r}")


def main() -> None:
    """Entry point: one readable line and a non-zero exit code on errors."""
    try:
        app()
    except Exception as exc:
        if _DEBUG:
            raise
        from .errors import OrchestratorError

        known = isinstance(exc, (CliError, OrchestratorError))
        prefix = "error" if known else f"error ({type(exc).__name__})"
        typer.echo(f"{prefix}: {exc}", err=True)
        typer.echo("(run with --debug for the traceback)", err=True)
        sys.exit(2 if isinstance(exc, CliError) else 1)


if __name__ == "__main__":  # pragma: no cover
    main()
