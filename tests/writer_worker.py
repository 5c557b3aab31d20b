"""A graph for the one-writer tests, driven from subprocesses: python -m tests.writer_worker
COMMAND STORE RUN_ID. Every node execution is recorded in a SQLite table ($EFFECTS) with the
pid that ran it, so tests can count across processes; `work` waits until $RELEASE exists, so a
test can hold a driver mid-run."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from orchestrator import END, START, Context, Graph, RunBusyError


class Job(BaseModel):
    plan: str = ""
    verdict: str = ""
    done: str = ""


def record(node: str) -> None:
    path = os.environ.get("EFFECTS")
    if not path:
        return
    with sqlite3.connect(path, timeout=30) as db:
        db.execute("CREATE TABLE IF NOT EXISTS effects (node TEXT, pid INTEGER)")
        db.execute("INSERT INTO effects VALUES (?, ?)", (node, os.getpid()))


def effects(path: str | Path) -> list[tuple[str, int]]:
    with sqlite3.connect(path, timeout=30) as db:
        db.execute("CREATE TABLE IF NOT EXISTS effects (node TEXT, pid INTEGER)")
        return list(db.execute("SELECT node, pid FROM effects ORDER BY rowid"))


def graph() -> Any:
    def plan(state: Job) -> dict[str, Any]:
        record("plan")
        return {"plan": "ship it"}

    def approve(state: Job, ctx: Context[None]) -> dict[str, Any]:
        return {"verdict": ctx.interrupt({"approve": state.plan})}

    async def work(state: Job) -> dict[str, Any]:
        record("work started")
        release = os.environ.get("RELEASE")
        while release and not Path(release).exists():
            await asyncio.sleep(0.02)
        record("work")
        return {"done": f"{state.plan} ({state.verdict})"}

    g = Graph(Job, name="job").add_node("plan", plan).add_node("approve", approve)
    g.add_node("work", work)
    return (
        g.add_edge(START, "plan")
        .add_edge("plan", "approve")
        .add_edge("approve", "work")
        .add_edge("work", END)
        .compile()
    )


async def main(argv: list[str]) -> int:
    command, store, run_id = argv
    go = os.environ.get("GO")
    while go and not Path(go).exists():  # start together with the other process
        await asyncio.sleep(0.005)
    try:
        if command == "resume":
            result = await graph().resume(run_id, "yes", store=store)
        else:
            raise SystemExit(f"unknown command {command}")
    except RunBusyError as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
        return 3
    print(json.dumps({"status": str(result.status), "done": result.state.done}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
