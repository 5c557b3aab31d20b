"""Human approval: a planner agent drafts a plan, the run pauses in a human node until a person
approves or rejects it, and then an executor carries the plan out; a rejection (with the
person's feedback) goes to a reviser whose new plan is put up for approval again. The pause is
durable: with a store, ``resume(run_id, "approve")`` may come from another process days later.
Use it whenever an agent's plan has consequences a person must sign off.

State: ``task`` (what to plan), ``plan`` (the current plan), ``decision`` (the person's answer:
"approve", or feedback), ``result`` (the executor's report).
Example input: "Migrate the customer database to the new server this weekend"
Resume with: ``await graph.resume(result, "approve")`` or ``(result, "Add a rollback step")``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from agents import Agent
from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Graph

APPROVALS = ("approve", "approved", "yes", "y", "ok", "lgtm")


class Approval(BaseModel):
    task: str = ""
    plan: str = ""
    decision: str = ""
    result: str = ""


planner = Agent(name="Planner", instructions="Create a detailed, numbered plan for the task.")

reviser = Agent(
    name="Reviser",
    instructions="Rewrite the plan so it makes the changes the approver asked for; keep the rest.",
)

executor = Agent(name="Executor", instructions="Execute the plan precisely, step by step.")


def approval_request(state: Approval) -> str:
    return f"Approve this plan? Reply 'approve' or say what to change.\n\n{state.plan}"


def approved(state: Approval) -> Literal["executor", "reviser"]:
    return "executor" if state.decision.strip().lower().rstrip(".!") in APPROVALS else "reviser"


def build(
    *, model: Any = None, models: Mapping[str, Any] | None = None, max_revisions: int = 3
) -> CompiledGraph[Approval]:
    """Plan, ask, execute or revise. ``models`` overrides the model per node (``planner``,
    ``reviser``, ``executor``); after ``max_revisions`` rejections the run ends unexecuted."""
    per = dict(models or {})
    g = Graph(Approval, name="human_approval", model=model)
    g.add_agent("planner", planner, prompt="{task}", output="plan", model=per.get("planner"))
    g.add_human("approval", prompt=approval_request, field="decision")
    g.add_agent(
        "reviser",
        reviser,
        prompt="{task}\n\nPlan:\n{plan}\n\nRequested changes: {decision}",
        output="plan",
        model=per.get("reviser"),
    )
    g.add_agent(
        "executor",
        executor,
        prompt="{task}\n\nApproved plan:\n{plan}",
        output="result",
        model=per.get("executor"),
    )
    g.add_edge(START, "planner").add_edge("planner", "approval")
    g.add_route("approval", approved)
    g.add_edge("reviser", "approval")
    g.cap_edge("approval", "reviser", max_revisions, exit=END)
    g.add_edge("executor", END)
    return g.compile()


graph = build
