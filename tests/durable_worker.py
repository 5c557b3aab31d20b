"""Graphs for the durability tests, run in subprocesses (so they can be killed or resumed from
another process). Usage: python -m tests.durable_worker COMMAND STORE [ARGS...]

Side effects are appended to a log file (one line per node execution), so tests can count
exactly how often each node ran across processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel

from orchestrator import END, START, Context, Graph, append


class Fan(BaseModel):
    results: Annotated[list[str], append] = []
    joined: str = ""


def _log(name: str) -> None:
    if "EFFECTS" not in os.environ:
        return
    with open(os.environ["EFFECTS"], "a") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())


def fan_graph() -> Any:
    """START fans out to quick a, quick b and slow c; a join collects them."""

    def spread(state: Fan) -> list[Literal["a", "b", "c"]]:
        return ["a", "b", "c"]

    async def slow(state: Fan) -> dict[str, Any]:
        # Wait until told to finish (a file appears), so the test can kill us mid-step.
        release = Path(os.environ["RELEASE"])
        for _ in range(600):
            if release.exists():
                break
            await asyncio.sleep(0.05)
        _log("c")
        return {"results": "c"}

    def join(state: Fan) -> dict[str, Any]:
        _log("join")
        return {"joined": ",".join(state.results)}

    g = Graph(Fan, name="fan")
    g.add_node("a", _quick("a"))
    g.add_node("b", _quick("b"))
    g.add_node("c", slow)
    g.add_join("join", join)
    g.add_route(START, spread)
    for name in "abc":
        g.add_edge(name, "join")
    g.add_edge("join", END)
    return g.compile()


def _quick(name: str) -> Any:
    async def node(state: Fan) -> dict[str, Any]:
        _log(name)
        return {"results": name}

    node.__name__ = name
    return node


class Approval(BaseModel):
    plan: str = ""
    approved: str = ""
    done: str = ""


def approval_graph() -> Any:
    def plan(state: Approval) -> dict[str, Any]:
        _log("plan")
        return {"plan": "ship v2 on Friday"}

    def approve(state: Approval, ctx: Context[None]) -> dict[str, Any]:
        verdict = ctx.interrupt({"question": "approve the plan?", "plan": state.plan})
        return {"approved": verdict}

    def execute(state: Approval) -> dict[str, Any]:
        _log("execute")
        return {"done": f"executed ({state.approved})"}

    g = Graph(Approval, name="approval").add_node("plan", plan).add_node("approve", approve)
    g.add_node("execute", execute)
    g.add_edge(START, "plan").add_edge("plan", "approve").add_edge("approve", "execute")
    g.add_edge("execute", END)
    return g.compile()


class Counter(BaseModel):
    n: int = 0
    trail: Annotated[list[int], append] = []


def counter_graph() -> Any:
    def inc(state: Counter) -> dict[str, Any]:
        return {"n": state.n + 1, "trail": state.n}

    def again(state: Counter) -> Literal["inc", "__end__"]:
        return "inc" if state.n < 10 else "__end__"

    g = Graph(Counter, name="counter").add_node("inc", inc).add_edge(START, "inc")
    g.add_route("inc", again)
    return g.compile()


async def main(argv: list[str]) -> None:
    command, store = argv[0], argv[1]
    if command == "fan":
        result = await fan_graph().run(store=store, run_id=argv[2])
    elif command == "fan-resume":
        result = await fan_graph().resume(argv[2], store=store)
    elif command == "approval":
        result = await approval_graph().run(store=store)
    elif command == "approval-resume":
        result = await approval_graph().resume(argv[2], argv[3], store=store)
    elif command == "refund":
        result = await refund_graph().run(
            {"messages": [{"role": "user", "content": "refund A-17"}]}, store=store
        )
    elif command == "refund-resume":
        result = await refund_graph().resume(argv[2], json.loads(argv[3]), store=store)
    elif command == "many":
        # Run N counter runs one after another on a shared store (several processes at once).
        graph = counter_graph()
        ids = []
        for _ in range(int(argv[2])):
            ids.append((await graph.run(store=store)).run_id)
        print(json.dumps(ids))
        return
    else:
        raise SystemExit(f"unknown command {command}")
    print(
        json.dumps(
            {
                "run_id": result.run_id,
                "status": str(result.status),
                "state": result.state.model_dump(mode="json"),
            }
        )
    )


# --- an agent whose tool needs approval ---------------------------------------------------------


class Refunds(BaseModel):
    messages: Annotated[list[dict[str, Any]], lambda old, new: [*old, *new]] = []
    answer: str = ""


def refund_graph() -> Any:
    import json as _json

    from agents import Agent, ModelResponse, Usage, function_tool
    from agents.models.interface import Model
    from agents.testing import assistant_message, function_call

    class RefundModel(Model):
        """Asks for the refund tool once, then answers from its output; logs each call."""

        async def get_response(self, system: Any, input: Any, *args: Any, **kw: Any) -> Any:
            _log("model")
            outputs = [
                i for i in input if isinstance(i, dict) and i.get("type") == "function_call_output"
            ]
            if not outputs:
                out = [
                    function_call(
                        "issue_refund", _json.dumps({"order": "A-17"}), call_id="call_refund"
                    )
                ]
            else:
                out = [assistant_message(f"Done: {outputs[-1]['output']}")]
            return ModelResponse(output=out, usage=Usage(requests=1), response_id=None)

        async def stream_response(self, *args: Any, **kw: Any) -> Any:  # pragma: no cover
            raise NotImplementedError

    @function_tool(needs_approval=True)
    def issue_refund(order: str) -> str:
        """Refund an order (a person must approve)."""
        _log("refund")
        return f"refunded {order}"

    agent = Agent(name="Refund Agent", tools=[issue_refund], model=RefundModel())
    g = Graph(Refunds, name="refunds").add_agent("refund", agent, output="answer")
    g.add_edge(START, "refund").add_edge("refund", END)
    return g.compile()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
