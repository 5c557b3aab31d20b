"""A code-only demo: research notes in parallel, join them, then draft and review in a capped
loop. It shows fan-out with payloads, a join, a conditional loop and a cap exit, and needs no
model. ``orchestrator demo`` runs it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Context, Graph, Send, append


class Article(BaseModel):
    topic: str = ""
    angles: list[str] = ["history", "design", "pitfalls"]
    notes: Annotated[list[str], append] = []
    draft: str = ""
    revisions: int = 0
    score: int = 0
    verdict: str = ""


def plan(state: Article) -> list[Send]:
    """One research task per angle, each with its angle as payload."""
    return [Send("research", angle) for angle in state.angles]


def research(state: Article, ctx: Context[None]) -> dict[str, Any]:
    return {"notes": f"{ctx.payload} of {state.topic}"}


def outline(state: Article) -> dict[str, Any]:
    return {"draft": "Outline: " + "; ".join(state.notes)}


def write(state: Article) -> dict[str, Any]:
    return {"draft": f"{state.draft} (rev {state.revisions + 1})", "revisions": state.revisions + 1}


def review(state: Article) -> dict[str, Any]:
    return {"score": 4 + 2 * state.revisions}


def good_enough(state: Article) -> Literal["publish", "write"]:
    return "publish" if state.score >= 8 else "write"


def publish(state: Article) -> dict[str, Any]:
    return {"verdict": f"published after {state.revisions} revision(s), score {state.score}"}


def best_effort(state: Article) -> dict[str, Any]:
    return {"verdict": f"best effort after {state.revisions} revisions, score {state.score}"}


def build() -> CompiledGraph[Article]:
    g = Graph(Article, name="demo")
    g.add_node("research", research)
    g.add_join("outline", outline)
    g.add_node("write", write)
    g.add_node("review", review)
    g.add_node("publish", publish)
    g.add_node("best_effort", best_effort)
    g.add_route(START, plan, ["research"])
    g.add_edge("research", "outline").add_edge("outline", "write").add_edge("write", "review")
    g.add_route("review", good_enough)
    g.cap_edge("review", "write", 4, exit="best_effort")
    g.add_edge("publish", END).add_edge("best_effort", END)
    return g.compile()


graph = build
