"""Run leases: the right to write one run, held by one driver at a time on every store.

A lease is an owner, an epoch and an expiry. It is taken before a driver touches a run (with
the run's creation, for a new run), renewed while the run is driven, checked with each write
(a write fenced with an epoch that is no longer current is refused) and released when the run
stops. A lease whose owner is gone is taken over: its expiry passed, or its owner is a process
on this machine that no longer exists.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

#: Seconds a driver's lease lasts unless renewed; drivers renew it every third of that.
LEASE_TTL = 30.0


@dataclass(frozen=True, slots=True)
class Lease:
    """The right to write one run, held by ``owner`` until ``ttl`` seconds after the last
    heartbeat. ``epoch`` rises with every acquisition: a write fenced with an older epoch
    is refused, so a driver that lost its lease cannot overwrite its successor."""

    run_id: str
    owner: str
    epoch: int
    ttl: float


_HOST = socket.gethostname()


#: Tags of this process's drivers that are still driving (see `local_owner`, `let_go`).
_DRIVING: set[str] = set()


def local_owner() -> str:
    """An owner name for a new driver in this process: ``host pid N #tag``. The tag tells
    two drivers of one process apart, so a second resume in the same process is refused too;
    it counts as driving until `let_go`."""
    tag = os.urandom(3).hex()
    _DRIVING.add(tag)
    return f"{_HOST} pid {os.getpid()} #{tag}"


def let_go(owner: str) -> None:
    """The driver named ``owner`` stopped driving: a lease it left behind (its release failed,
    or the drive was cut short) is free to take at once."""
    _DRIVING.discard(owner.rpartition("#")[2])


def owner_gone(owner: str | None) -> bool:
    """Whether ``owner`` names a driver that is gone: a process of this machine that no longer
    runs (``pid N`` of earlier versions counts as this machine), or a driver of this process
    that stopped driving."""
    if not owner:
        return False
    words = owner.split()
    if "pid" not in words:
        return False
    at = words.index("pid")
    host = " ".join(words[:at])
    if host and host != _HOST:
        return False  # another machine's process: only its expiry can tell
    try:
        pid = int(words[at + 1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():  # a driver of this process: gone once it stopped driving
        tag = owner.rpartition("#")[2] if "#" in owner else ""
        return bool(tag) and tag not in _DRIVING
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False
    return False
