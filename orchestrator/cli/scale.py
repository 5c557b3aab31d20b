"""Scale-out commands: queue runs for run hosts (submit) and start or stop hosts (cluster).
Ray is imported inside these commands only, so `orchestrator --help` stays fast."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ..source import load_graph
from .app import (
    CliError,
    app,
    model_options,
    parse_input,
    run_async,
    store_from,
)
from .output import print_result

# --- scale-out: queue runs for run hosts, start and stop hosts (orchestrator.cluster) ----------
# Ray is imported inside these commands only, so `orchestrator --help` stays fast.

cluster_app = typer.Typer(
    help="Start or stop run hosts: Ray actors that claim queued runs from PostgreSQL.",
    no_args_is_help=True,
)
app.add_typer(cluster_app, name="cluster")

HostsStoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="The PostgreSQL store runs are queued in: postgresql://user@host:port/db "
        "(default: $ORCHESTRATOR_STORE).",
    ),
]
HostNameOption = Annotated[str, typer.Option("--name", help="Hosts are named NAME-0, NAME-1, ...")]


def _postgres_url(store: str | None) -> str:
    import os

    url = store or os.environ.get("ORCHESTRATOR_STORE") or ""
    if not url.startswith(("postgresql://", "postgres://")):
        raise CliError(
            "run hosts claim runs from PostgreSQL: pass --store postgresql://user@host:port/db "
            f"(or set ORCHESTRATOR_STORE){f', not {url!r}' if url else ''}"
        )
    return url


@app.command()
def submit(
    target: Annotated[
        str, typer.Argument(help="The graph: module:attribute, importable by hosts.")
    ],
    input: Annotated[
        str | None, typer.Option("--input", "-i", help="JSON object of fields, or text.")
    ] = None,
    store: HostsStoreOption = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run until it ends.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Queue a run for the run hosts and print its id; --wait follows it to the end."""
    url = _postgres_url(store)
    graph = load_graph(target)
    data = parse_input(graph, input)
    opened = store_from(url)

    async def go() -> tuple[str, Any]:
        from ..cluster import follow

        run_id = await graph.submit(data, store=opened, source=target)
        if not wait:
            return run_id, None
        if not as_json:
            typer.echo(run_id)
        async for record in follow(run_id, store=opened):
            if not as_json:
                owner = f" on {record.owner}" if record.owner else ""
                typer.echo(f"{record.status}{owner}, {record.steps} step(s)", err=True)
        return run_id, await graph.load(run_id, store=opened)

    try:
        run_id, result = run_async(go())
    finally:
        run_async(opened.close())
    if result is None:
        typer.echo(json.dumps({"run_id": run_id, "status": "queued"}) if as_json else run_id)
        return
    print_result(result, as_json, opened.where)
    if str(result.status) in ("failed", "interrupted"):
        raise typer.Exit(1)


@cluster_app.command("up")
def cluster_up(
    store: HostsStoreOption = None,
    hosts: Annotated[int, typer.Option(help="How many run hosts to start.")] = 2,
    address: Annotated[
        str | None,
        typer.Option(
            help="A running Ray cluster ('auto', or head:port); default: start a local one "
            "on 127.0.0.1 for as long as this command runs."
        ),
    ] = None,
    capacity: Annotated[int, typer.Option(help="Runs one host drives at once.")] = 1000,
    ttl: Annotated[float, typer.Option(help="Lease seconds: a dead host's runs wait this.")] = 15,
    executor: Annotated[
        str, typer.Option(help="Where code steps run: 'local' (on the host) or 'ray' (tasks).")
    ] = "local",
    model: Annotated[
        str | None, typer.Option(help="Model for every agent: 'offline', or a model name.")
    ] = None,
    num_cpus: Annotated[
        int | None, typer.Option(help="CPUs of the local Ray (default: all).")
    ] = None,
    detach: Annotated[
        bool,
        typer.Option(help="Leave the hosts running in the cluster (needs --address) and exit."),
    ] = False,
    name: HostNameOption = "orchestrator-host",
) -> None:
    """Start run hosts; in the foreground until Ctrl-C, which hands their runs back."""
    url = _postgres_url(store)
    if executor not in ("local", "ray"):
        raise CliError(f"--executor must be local or ray, not {executor!r}")
    if detach and address is None:
        raise CliError("--detach needs --address: detached hosts live in a running Ray cluster")
    import signal
    import time

    from ..cluster import NAMESPACE, RayExecutor, init_ray, start_hosts, stop_hosts

    init_ray(address, num_cpus=num_cpus, namespace=NAMESPACE)
    import ray

    handles = start_hosts(
        url,
        hosts,
        name=name,
        detached=detach,
        capacity=capacity,
        ttl=ttl,
        executor=RayExecutor() if executor == "ray" else None,
        **model_options(model),
    )
    for status in ray.get([h.status.remote() for h in handles]):
        typer.echo(f"host {status['owner']} claims runs from {store_from(url).where}")
    if detach:
        typer.echo(f"stop them with: orchestrator cluster down --address {address} --name {name}")
        return
    typer.echo("Ctrl-C (or SIGTERM) stops the hosts and hands their runs back")

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # `kill`, systemd and containers stop it cleanly
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for status in stop_hosts(handles):
            typer.echo(
                f"host {status['owner']}: {status['completed']} completed, "
                f"{status['failed']} failed, {status['handed back']} handed back"
            )
        ray.shutdown()


@cluster_app.command("down")
def cluster_down(
    address: Annotated[str, typer.Option(help="The Ray cluster ('auto', or head:port).")] = "auto",
    name: HostNameOption = "orchestrator-host",
    drain: Annotated[
        bool, typer.Option(help="Let their runs finish first, instead of handing them back.")
    ] = False,
) -> None:
    """Stop the detached run hosts started with `cluster up --detach`."""
    from ..cluster import NAMESPACE, find_hosts, init_ray, stop_hosts

    init_ray(address, namespace=NAMESPACE)
    handles = find_hosts(name)
    if not handles:
        raise CliError(f"no run hosts named {name}-N in Ray namespace {NAMESPACE!r} at {address}")
    for status in stop_hosts(handles, drain=drain):
        typer.echo(f"stopped {status['owner']}: {status['handed back']} run(s) handed back")
