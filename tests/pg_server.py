"""A throwaway PostgreSQL server for tests: initdb into a temp dir, listen on 127.0.0.1 only,
trust authentication, stop and delete it afterwards.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user (via
``runuser``); as any other user it runs as that user. Debian/Ubuntu: ``apt-get install -y
postgresql`` provides the binaries (found with ``pg_config --bindir``).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

HOST = "127.0.0.1"
SUPERUSER = "postgres"


def find_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    candidates: list[str] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    # pg_config from libpq-dev alone may point at /usr/bin, without the server binaries.
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


def missing_reason() -> str | None:
    """Why a server cannot be started here, or None when it can."""
    if find_bindir() is None:
        return "PostgreSQL server binaries not found (apt-get install -y postgresql)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to start PostgreSQL as another user"
    return None


@dataclass
class PgServer:
    """A running server; `url` gives a connection URL for one of its databases."""

    bindir: Path
    root: Path
    port: int

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def halt(self) -> None:
        """Stop the server but keep its data (`start_again` brings it back, as a restart)."""
        _run(self, "pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def start_again(self) -> None:
        _start(self)

    def stop(self) -> None:
        try:
            _run(self, "pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start() -> PgServer:
    """Initialise and start a server on a free port of 127.0.0.1 (about a second)."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install -y postgresql)")
    root = Path(tempfile.mkdtemp(prefix="orchestrator-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, SUPERUSER, SUPERUSER)  # the server's user writes data and socket
    server = PgServer(bindir=bindir, root=root, port=free_port())
    try:
        _run(
            server,
            "initdb",
            "-D",
            str(server.datadir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",  # a test server does not need to survive a power cut
        )
        _start(server)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


def _start(server: PgServer) -> None:
    options = f"-c listen_addresses={HOST} -p {server.port} -k {server.root} -c fsync=off"
    _run(
        server,
        "pg_ctl",
        "-D",
        str(server.datadir),
        "-l",
        str(server.root / "server.log"),
        "-w",
        "-o",
        options,
        "start",
    )


def free_port() -> int:
    """A TCP port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _run(server: PgServer, tool: str, *args: str) -> None:
    command = [str(server.bindir / tool), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", SUPERUSER, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, cwd=server.root, timeout=60)
    if done.returncode != 0:
        log = server.root / "server.log"
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise RuntimeError(
            f"{tool} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
            f"\n{tail}"
        )
