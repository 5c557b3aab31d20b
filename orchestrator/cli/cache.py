"""The ``cache`` commands: clear what the node cache (``CachePolicy``) keeps for a graph."""

from __future__ import annotations

from typing import Annotated

import typer

from ..source import load_graph
from .app import CliError, StoreOption, app, run_async, store_from

cache_app = typer.Typer(
    help="The node cache: the writes of nodes with a CachePolicy, kept in the store.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(cache_app, name="cache")


@cache_app.command("clear")
def cache_clear(
    target: Annotated[str, typer.Argument(help="The graph: module:attribute or file.py:attr.")],
    node: Annotated[
        list[str] | None,
        typer.Option("--node", "-n", help="Only this node's entries (repeat for several)."),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Remove the cached writes of a graph's nodes (all of them, or those named by --node),
    so the next runs execute them again."""
    graph = load_graph(target)
    unknown = sorted(set(node or ()) - set(graph.nodes))
    if unknown:
        raise CliError(
            f"--node {', '.join(map(repr, unknown))} is not a node of graph {graph.name!r}; "
            f"nodes are {', '.join(sorted(graph.nodes))}"
        )
    opened = store_from(store)

    async def go() -> int:
        try:
            cleared: int = await graph.clear_cache(store=opened, nodes=node or None)
            return cleared
        finally:
            await opened.close()

    count = run_async(go())
    which = f"nodes {', '.join(node)}" if node else "every node"
    typer.echo(
        f"cleared {count} cached write(s) of graph {graph.name!r} ({which}) from {opened.where}"
    )
