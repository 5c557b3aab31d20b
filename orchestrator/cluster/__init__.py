"""Scale-out on Ray: code steps as Ray tasks (`RayExecutor`), and run hosts (`RunHost`,
long-lived async Ray actors) that claim queued runs from PostgreSQL and drive them with the
unchanged scheduler, every write fenced on the run's lease.

    init_ray()                                    # or init_ray("auto") for a running cluster
    hosts = start_hosts("postgresql://app@db/runs", 2)
    run_id = await submit("graphs.triage:graph", {"messages": [...]}, store=url)
    records = await wait([run_id], store=url)

Ray is imported only when one of these is used: ``import orchestrator`` never imports it.
Guarantees: a node runs at least once (a task in flight when its host or worker died runs
again); a run has exactly one writer (a host that lost its lease is refused, and stops).

Modules: `executor` (code steps as Ray tasks), `hosts` (run hosts and their actors), `submit`
(queueing and following runs), `common` (connecting to Ray, shared constants).
"""

from .common import FINISHED, NAMESPACE, init_ray
from .executor import RayExecutor, ray_options
from .hosts import RunHost, find_hosts, start_hosts, stop_hosts
from .submit import follow, submit, wait

__all__ = [
    "FINISHED",
    "NAMESPACE",
    "RayExecutor",
    "RunHost",
    "find_hosts",
    "follow",
    "init_ray",
    "ray_options",
    "start_hosts",
    "stop_hosts",
    "submit",
    "wait",
]
