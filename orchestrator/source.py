"""Finding a graph from a name a person or a stored run gives: ``package.module:attribute`` or
``path/to/file.py:attribute``. The command line and run hosts load graphs this way."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from .errors import OrchestratorError


class GraphSourceError(OrchestratorError):
    """A graph could not be found from its source (the message says what to give instead)."""


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
        module = _load_file(spec)
    else:
        sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(spec)
        except ModuleNotFoundError as exc:
            raise GraphSourceError(
                f"cannot import graph module {spec!r} ({exc}); give module:attribute or "
                "path/to/file.py:attribute"
            ) from exc
    if not hasattr(module, attr):
        raise GraphSourceError(f"{spec!r} has no attribute {attr!r}")
    obj = getattr(module, attr)
    if callable(obj) and not isinstance(obj, (Graph, CompiledGraph)):
        obj = obj()
    if isinstance(obj, Graph):
        obj = obj.compile()
    if not isinstance(obj, CompiledGraph):
        raise GraphSourceError(f"{target!r} is a {type(obj).__name__}, not a graph")
    return obj


def _load_file(spec: str) -> Any:
    """The module of ``path/to/file.py``: imported by its dotted name when the file is part of
    a package (so its relative imports work), else loaded as a module named after the file and
    registered in ``sys.modules`` while it runs (so string annotations, as under ``from
    __future__ import annotations``, resolve)."""
    path = Path(spec)
    if not path.is_file():
        raise GraphSourceError(f"graph file {spec!r} does not exist")
    path = path.resolve()
    parts = [path.stem]
    root = path.parent
    while (root / "__init__.py").is_file():
        parts.insert(0, root.name)
        root = root.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    name = ".".join(parts)
    try:
        if len(parts) > 1:
            return importlib.import_module(name)
        known = sys.modules.get(name)
        if known is not None and Path(getattr(known, "__file__", "") or "").resolve() == path:
            return known
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise GraphSourceError(f"cannot import {spec!r} as a Python file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module
    except GraphSourceError:
        raise
    except Exception as exc:
        from .errors import SyncInLoopError

        if isinstance(exc, SyncInLoopError):
            raise GraphSourceError(
                f"{spec} runs a graph when it is imported (run_sync at its top level), so it "
                "cannot be loaded from here; put that code under "
                '`if __name__ == "__main__":`'
            ) from exc
        raise GraphSourceError(
            f"importing {spec} failed: {type(exc).__name__}: {str(exc)[:300]}"
        ) from exc
