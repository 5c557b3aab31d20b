"""Inline display in Jupyter: `mimebundle` for `CompiledGraph._repr_mimebundle_`, and
`Diagram`, which shows a graph with a run's overlay. Works offline; without any renderer the
bundle falls back to the DOT source as text."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from .dot import to_dot
from .errors import RendererUnavailable, RenderFailed
from .export import render
from .mermaid import to_mermaid
from .renderer import svg_from_dot
from .report import report_html


def mimebundle(obj: Any, run: Any = None) -> dict[str, Any]:
    """What a notebook shows for ``obj``: a `CompiledGraph` (with ``run``'s overlay, when
    given) or a `Diagram`. A run result on its own does not know its graph: it shows as text;
    pass the graph first, ``mimebundle(graph, run)``, or display ``Diagram(graph, run)``."""
    if isinstance(obj, Diagram):
        obj, run = obj.graph, obj.run
    if run is None and hasattr(obj, "events"):
        # A run record that carries its compiled graph can be drawn on its own.
        owner = next(
            (
                g
                for g in (getattr(obj, "compiled", None), getattr(obj, "graph", None))
                if _is_graph(g)
            ),
            None,
        )
        if owner is not None:
            obj, run = owner, obj
    if not _is_graph(obj):
        if run is None and hasattr(obj, "events"):
            return {"text/plain": _run_text(obj)}
        return {"text/plain": repr(obj)}
    source = to_dot(obj, run)
    text = repr(obj) if run is None else f"{obj!r}\n{_run_text(run)}"
    try:
        bundle: dict[str, Any] = {"image/svg+xml": svg_from_dot(source), "text/plain": text}
    except (RendererUnavailable, RenderFailed) as exc:
        return {"text/plain": f"{text}\n({exc})\n{source}"}
    if run is not None:
        bundle["text/html"] = inline_report(obj, run)
    return bundle


def inline_report(graph: Any, run: Any, height: int = 640) -> str:
    """The run report for a notebook cell: the self-contained page in a sandboxed frame
    (its scripts run, isolated from the notebook; everything in it is escaped twice over:
    once in the page, once as the frame's ``srcdoc``)."""
    page = report_html(graph, run)
    return (
        f'<iframe class="orchestrator-report" sandbox="allow-scripts" '
        f'style="width:100%;height:{int(height)}px;border:1px solid #cbd5e1;border-radius:6px" '
        f'srcdoc="{html.escape(page, quote=True)}"></iframe>'
    )


class Diagram:
    """A graph, optionally with a run's overlay, that notebooks display inline.

    >>> Diagram(graph, result)             # doctest: +SKIP
    >>> Diagram(graph, result).save("run.html")  # doctest: +SKIP
    """

    def __init__(self, graph: Any, run: Any = None) -> None:
        self.graph, self.run = graph, run

    @property
    def dot(self) -> str:
        return to_dot(self.graph, self.run)

    @property
    def mermaid(self) -> str:
        return to_mermaid(self.graph, self.run)

    @property
    def svg(self) -> str:
        return svg_from_dot(self.dot)

    def html(self) -> str:
        """The self-contained run report."""
        return report_html(self.graph, self.run)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write it to ``path``; the extension picks the format (see `render`)."""
        return render(self.graph, path, self.run)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return mimebundle(self)

    def _repr_svg_(self) -> str | None:
        return mimebundle(self).get("image/svg+xml")

    def __repr__(self) -> str:
        what = "" if self.run is None else f" run {getattr(self.run, 'run_id', '?')}"
        return f"<Diagram {getattr(self.graph, 'name', '?')!r}{what}>"


def _is_graph(obj: Any) -> bool:
    return all(hasattr(obj, a) for a in ("nodes", "edges", "routes", "name"))


def _run_text(run: Any) -> str:
    status = getattr(run, "status", None)
    status = getattr(status, "value", status)
    path = getattr(run, "path", None)
    line = f"<run {getattr(run, 'run_id', '?')}: {status}, {getattr(run, 'steps', '?')} steps"
    if path:
        shown = " -> ".join(map(str, path[:12])) + (" -> ..." if len(path) > 12 else "")
        line += f", path {shown}"
    return line + ">"
