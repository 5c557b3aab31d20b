"""The local web UI over a run store (``orchestrator ui``): the runs list, a page per run with
its diagram lighting up live, the state at any step, and fork, answer and recorded replay from
the page. Server-rendered HTML on Starlette, served by uvicorn on 127.0.0.1.

    >>> from orchestrator.store import MemoryStore
    >>> from orchestrator.ui import create_app
    >>> app = create_app(MemoryStore())  # an ASGI app; `serve` runs it with uvicorn
"""

from __future__ import annotations

from .app import create_app
from .server import serve
from .workspace import PageError, Workspace

__all__ = ["PageError", "Workspace", "create_app", "serve"]
