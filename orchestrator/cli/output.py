"""How the command line prints results: readable for people, complete JSON for scripts."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer


def make_console() -> Any:
    """A console that never hard-wraps ids and paths (output is often copied or piped)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def is_records(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 2 and all(isinstance(v, dict) for v in value)


def short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_result(result: Any, as_json: bool, where: str) -> None:
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

    console = make_console()
    state = {
        # A conversation or a long list of records reads better as a count (--json has all).
        key: f"<{len(value)} items>" if is_records(value) else value
        for key, value in result.state.model_dump(mode="json").items()
    }
    console.print(Pretty(state, max_string=400))
    console.print("path: " + (" -> ".join(result.path) or "(none)"), markup=False)
    if result.error is not None:
        console.print(f"error: {result.error}", markup=False)
    for w in result.waiting:
        console.print(f"waiting in {w.node}: {short(w.request)}", markup=False)
        console.print(
            f"answer with: orchestrator resume {result.run_id} --value '...' --store {where}",
            markup=False,
        )
    console.print(
        f"run {result.run_id}: {result.status} after {result.steps} step(s); stored in {where}",
        markup=False,
    )
