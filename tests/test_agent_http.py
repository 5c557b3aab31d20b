"""The real HTTP path, end to end: a graph of agents answered by a local Chat Completions
server on 127.0.0.1, configured the way a user would (environment variables only)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from agents import Agent, function_tool
from pydantic import BaseModel

from orchestrator import END, START, Graph, ModelCalled, extend
from tests.support.chat_server import ChatServer, ToolCall


class OrderStatus(BaseModel):
    order_id: str
    status: str


class Desk(BaseModel):
    messages: Annotated[list[dict[str, Any]], extend] = []
    status: OrderStatus | None = None


@function_tool
def lookup_order(order_id: str) -> str:
    """Look up the shipping status of an order."""
    return f"order {order_id}: shipped on Monday"


async def test_graph_with_handoff_tool_call_and_structured_output_over_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = [
        ToolCall("transfer_to_order_agent", "{}"),
        ToolCall("lookup_order", {"order_id": "77812"}),
        json.dumps({"order_id": "77812", "status": "shipped"}),
    ]
    with ChatServer(responses=script) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("ORCHESTRATOR_MODEL", "local-test")
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)

        orders = Agent(
            name="Order Agent",
            instructions="Track orders.",
            tools=[lookup_order],
            output_type=OrderStatus,
        )
        triage = Agent(name="Triage Agent", instructions="Route.", handoffs=[orders])
        g = Graph(Desk, name="desk").add_agent("triage", triage)
        g.add_agent("orders", orders, output="status")
        g.add_edge(START, "triage").add_edge("triage", END).add_edge("orders", END)
        result = await g.compile().run(
            {"messages": [{"role": "user", "content": "Where is order 77812?"}]}
        )

        assert result.path == ["triage", "orders"]
        assert result.state.status == OrderStatus(order_id="77812", status="shipped")
        assert len(srv.requests) == 3
        assert all(r["model"] == "local-test" for r in srv.requests)
        # The triage request offered the handoff as a tool with the SDK's own name.
        offered = [t["function"]["name"] for t in srv.requests[0]["tools"]]
        assert offered == ["transfer_to_order_agent"]
        # The order agent got the tool result back, and was asked for structured output.
        assert any(
            m.get("role") == "tool" and "shipped on Monday" in str(m.get("content"))
            for m in srv.requests[2]["messages"]
        )
        assert srv.requests[2]["response_format"]["type"] == "json_schema"
        calls = [e for e in result.events if isinstance(e, ModelCalled)]
        assert [(c.node, c.model, c.offline) for c in calls] == [
            ("triage", "local-test", False),
            ("orders", "local-test", False),
            ("orders", "local-test", False),
        ]
