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
    """The store ``--store`` names; one it cannot open (a missing folder, not a database) is
    bad input (exit 2); one that is only busy is not."""
    from ..errors import StoreError, TransientStoreError
    from ..store import open_store

    try:
        return open_store(spec)
    except TransientStoreError:
        raise
    except StoreError as exc:
        raise CliError(str(exc)) from exc


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
    import asyncio

    # Imported on a thread of its own: a file that runs its graph at import (`run_sync` at
    # its top level, as in a script) does so outside this command's event loop.
    return await asyncio.to_thread(load_graph, source)


def model_options(model: str | None) -> dict[str, Any]:
    if model is None:
        return {}
    if model == "offline":
        from ..offline import OfflineProvider

        return {"model_provider": OfflineProvider()}
    import os

    if not (os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")):
        typer.echo(
            f"warning: --model {model} names a model, but neither OPENAI_API_KEY nor "
            "OPENAI_BASE_URL is set, so the built-in offline model answers instead; set one "
            "of them, or pass --model offline to say so",
            err=True,
        )
    return {"model": model}


#: The exit codes: 0 done, 1 the run failed (or was interrupted) or a replay diverged, 2 bad
#: input (an unknown option, a bad value, a missing file or run), 130 interrupted by Ctrl-C.
EXIT_DONE, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_ABORTED = 0, 1, 2, 130


def main() -> None:
    """Entry point: one readable line and the exit code of `EXIT_*` on errors."""
    argv = sys.argv[1:]
    if "--debug" in argv[1:]:  # `orchestrator run X --debug` works as `orchestrator --debug run X`
        argv = ["--debug", *(a for a in argv if a != "--debug")]
    if argv in (["--version"], ["-V"]):
        from importlib.metadata import version

        typer.echo(f"orchestrator {version('orchestrator')}")
        sys.exit(EXIT_DONE)
    try:
        # Without standalone mode click *returns* the code a command exits with.
        code = app(args=argv, standalone_mode=False, prog_name="orchestrator")
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        sys.exit(EXIT_ABORTED)
    except Exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare `orchestrator`: its help
            ctx = getattr(exc, "ctx", None)
            typer.echo(ctx.get_help() if ctx is not None else str(exc))
            sys.exit(EXIT_DONE)
        if _is_usage_error(exc):
            typer.echo(f"error: {_usage_message(exc)}", err=True)
            typer.echo("(see `orchestrator --help`)", err=True)
            sys.exit(EXIT_BAD_INPUT)
        if _DEBUG:
            raise
        from ..errors import OrchestratorError

        known = isinstance(exc, (CliError, OrchestratorError))
        prefix = "error" if known else f"error ({type(exc).__name__})"
        typer.echo(f"{prefix}: {exc}", err=True)
        typer.echo("(run with --debug for the traceback)", err=True)
        from ..errors import InvalidInputError, RunNotFoundError

        bad_input = (
            isinstance(exc, (CliError, GraphSourceError, RunNotFoundError, InvalidInputError))
            or not known
        )
        sys.exit(EXIT_BAD_INPUT if bad_input else EXIT_FAILED)
    sys.exit(code if isinstance(code, int) else EXIT_DONE)


def _is_usage_error(exc: Exception) -> bool:
    """A click usage error (bad option, missing argument...), from click or typer's copy."""
    return any(k.__name__ in ("ClickException", "UsageError") for k in type(exc).__mro__)


def _usage_message(exc: Exception) -> str:
    message = getattr(exc, "format_message", None)
    text = message() if callable(message) else str(exc)
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) if ctx is not None else None
    return f"{command}: {text}" if command and command != "orchestrator" else str(text)
