"""The command line's application object, its shared options, input parsing and the entry
point that turns errors into one line and an exit code (2 bad input, 1 failed run)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from ..source import GraphSourceError, load_graph

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


def store_from(spec: str | None) -> Any:
    from ..store import open_store

    return open_store(spec)


def run_async(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


async def graph_of_run(store: Any, run_id: str, target: str | None) -> Any:
    record = await store.get_run(run_id)
    source = target or record.source
    if not source:
        raise CliError(
            f"run {run_id} does not record its graph's module; pass --graph module:attribute"
        )
    return load_graph(source)


def model_options(model: str | None) -> dict[str, Any]:
    if model is None:
        return {}
    if model == "offline":
        from ..offline import OfflineProvider

        return {"model_provider": OfflineProvider()}
    return {"model": model}


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
        from ..errors import OrchestratorError

        known = isinstance(exc, (CliError, OrchestratorError))
        prefix = "error" if known else f"error ({type(exc).__name__})"
        typer.echo(f"{prefix}: {exc}", err=True)
        typer.echo("(run with --debug for the traceback)", err=True)
        bad_input = isinstance(exc, (CliError, GraphSourceError)) or not known
        sys.exit(2 if bad_input else 1)
