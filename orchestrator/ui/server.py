"""Serving the web UI with uvicorn on a socket bound here (so the address, port 0 included,
is known and printed before the first request), on the loopback interface unless told
otherwise."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from typing import Any

from ..store import Store
from .app import LOOPBACK_HOSTS, create_app

#: Seconds the server waits for open pages (a live run's event stream) when it stops.
SHUTDOWN_SECONDS = 2


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: any free port). `OSError` when taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def server(
    store: Store,
    sock: socket.socket,
    *,
    graphs: Iterable[Any] = (),
    token: str | None = None,
    close_store: bool = False,
) -> Any:
    """A uvicorn server of the UI over ``store`` for ``sock``: ``.run(sockets=[sock])`` in
    this thread, or in another one (``should_exit = True`` stops it)."""
    import uvicorn

    host = sock.getsockname()[0]
    hosts = [*LOOPBACK_HOSTS, host] if is_loopback(host) else None
    app = create_app(
        store, graphs=graphs, token=token, allowed_hosts=hosts, close_store=close_store
    )
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
        lifespan="on",
    )
    return uvicorn.Server(config)


def serve(
    store: Store,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    graphs: Iterable[Any] = (),
    say: Callable[[str], None] = print,
) -> None:
    """Serve the UI over ``store`` until interrupted (Ctrl-C)."""
    sock = bind(host, port)
    running = server(store, sock, graphs=graphs, close_store=True)
    say(f"orchestrator ui: {url_of(sock)} (runs in {store.where}); Ctrl-C to stop")
    try:
        running.run(sockets=[sock])
    finally:
        sock.close()
