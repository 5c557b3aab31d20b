"""The ``orchestrator`` command line: run graphs with a live view, list and show stored runs,
draw graphs and runs, replay, fork and resume them, and scale out to run hosts.

Heavy imports (pydantic, the engine, the Agents SDK, drawing, Ray) happen inside the commands,
so ``orchestrator --help`` starts in a fraction of a second.
"""

from __future__ import annotations

from ..source import load_graph
from . import cache, runs, scale, ui  # noqa: F401 - importing them registers their commands
from .app import CliError, app, main, parse_input, parse_value

__all__ = ["CliError", "app", "load_graph", "main", "parse_input", "parse_value"]
