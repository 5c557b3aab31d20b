"""What the scale-out modules share: connecting to Ray (imported only on first use, so
``import orchestrator`` never imports it), the namespace of run hosts, and the statuses that
end a host's work on a run."""

from __future__ import annotations

import importlib
import os
from typing import Any

from ..events import RunStatus

#: Statuses a run stays in until someone acts on it: a host is done with it.
FINISHED = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.WAITING})
#: The Ray namespace of detached run hosts, so another driver (`cluster down`) finds them.
NAMESPACE = "orchestrator"


def _ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise ImportError(
            "scale-out needs Ray: pip install 'orchestrator[ray]' (or pip install ray)"
        ) from exc


def init_ray(
    address: str | None = None, *, num_cpus: int | None = None, namespace: str | None = None
) -> None:
    """Connect to the Ray cluster at ``address`` ("auto": the one started on this machine by
    ``ray start``), or start a local one that listens on 127.0.0.1 only. Does nothing when
    Ray is already initialised in this process."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address is None or address.rpartition(":")[0] in ("127.0.0.1", "localhost"):
        # Read when Ray is first imported: without it Ray 2.60 binds (and looks for a cluster
        # at) the machine's interface address instead of 127.0.0.1. For address="auto" on a
        # loopback-only cluster, set it in the environment before anything imports ray.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = _ray()
    if ray.is_initialized():
        return
    if address is None:
        ray.init(
            address="local",  # a new instance, even if `ray start` left one running here
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            namespace=namespace,
        )
    else:
        ray.init(address=address, log_to_driver=False, namespace=namespace)
