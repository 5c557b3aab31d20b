"""`render`: write a diagram or a run report to a file, the format taken from its extension."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .dot import to_dot
from .errors import UnsupportedFormatError
from .mermaid import to_mermaid
from .renderer import to_png, to_svg
from .report import report_html

_WRITERS: dict[str, Callable[[Any, Any], str | bytes]] = {
    ".dot": to_dot,
    ".gv": to_dot,
    ".svg": to_svg,
    ".png": to_png,
    ".mmd": to_mermaid,
    ".mermaid": to_mermaid,
    ".html": report_html,
    ".htm": report_html,
}

#: The file extensions `render` understands.
FORMATS = tuple(_WRITERS)


def render(graph: Any, path: str | os.PathLike[str], run: Any = None) -> Path:
    """Write ``graph`` (with ``run``'s overlay, when given) to ``path`` and return the path.

    The extension picks the format: ``.dot``/``.gv`` (DOT), ``.svg``, ``.png`` (needs the
    system Graphviz), ``.mmd``/``.mermaid`` (Mermaid) or ``.html`` (the run report; the static
    graph alone when ``run`` is None). Anything else raises `UnsupportedFormatError`, a
    ``ValueError``. A missing folder on the way to ``path`` is created.
    """
    target = Path(path)
    writer = _WRITERS.get(target.suffix.lower())
    if writer is None:
        raise UnsupportedFormatError(target.suffix, FORMATS)
    content = writer(graph, run)
    target.parent.mkdir(parents=True, exist_ok=True)  # like `-o out/run.html` expects
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content, encoding="utf-8")
    return target
