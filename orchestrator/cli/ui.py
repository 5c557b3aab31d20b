"""The ``ui`` command: the local web app over a run store. Starlette and uvicorn are imported
inside the command only, so `orchestrator --help` stays fast."""

from __future__ import annotations

from typing import Annotated

import typer

from ..source import load_graph
from .app import CliError, StoreOption, app, store_from


@app.command()
def ui(
    store: StoreOption = None,
    port: Annotated[
        int, typer.Option(metavar="PORT", help="The port to serve on (0: any free port).")
    ] = 8000,
    host: Annotated[
        str,
        typer.Option(
            metavar="HOST",
            help="The address to serve on. Anything but the loopback interface (127.0.0.1) "
            "shows your runs to the network.",
        ),
    ] = "127.0.0.1",
    graph: Annotated[
        list[str] | None,
        typer.Option(
            "--graph",
            "-g",
            metavar="MODULE:ATTR",
            help="A graph (module:attribute) for the runs of its name; repeat for several "
            "(default: the module each run records).",
        ),
    ] = None,
) -> None:
    """Open a local web app over a run store: the runs list, each run's diagram lighting up
    live, the state at any step, fork, answer and recorded replay from the page."""
    if not 0 <= port <= 65535:
        raise CliError(f"--port must be between 0 and 65535, not {port}")
    graphs = [load_graph(target) for target in graph or []]
    opened = store_from(store)
    from ..ui.server import bind, is_loopback, server, url_of

    try:
        sock = bind(host, port)
    except OSError as exc:
        raise CliError(
            f"cannot serve on {host}:{port} ({exc.strerror or exc}); pass another --port "
            "(0 picks a free one)"
        ) from exc
    if not is_loopback(host):
        typer.echo(
            f"warning: serving on {host}: anyone who can reach it can read your runs (actions "
            "still need the session token of a page)",
            err=True,
        )
    typer.echo(f"orchestrator ui: {url_of(sock)} (runs in {opened.where}); Ctrl-C to stop")
    try:
        server(opened, sock, graphs=graphs, close_store=True).run(sockets=[sock])
    finally:
        sock.close()
