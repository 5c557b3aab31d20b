"""Sequential stages chosen by a handoff function: an intake agent reads the request and says
where the work starts (a new piece starts at drafting, a finished draft at reviewing, an
approved text at publishing) and whether it should be published; the handoff function
``to_next_stage`` then walks the stages in order from there, skipping what is not needed.
Use it when requests enter a fixed sequence of stages at different points.

State: ``request`` (the ask, possibly with a draft pasted in), ``intake`` (the intake agent's
structured decision), ``draft``, ``review`` and ``publication`` (each stage's output).
Example input: "Write a blog post announcing our new office in Lisbon"
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from agents import Agent
from pydantic import BaseModel

from orchestrator import END, START, CompiledGraph, Graph


class Stage(StrEnum):
    DRAFTING = "drafting"
    REVIEWING = "reviewing"
    PUBLISHING = "publishing"


class Intake(BaseModel):
    first_stage: Stage
    publish: bool
    brief: str


class Publication(BaseModel):
    request: str = ""
    intake: Intake | None = None
    draft: str = ""
    review: str = ""
    publication: str = ""


intake_agent = Agent(
    name="intake",
    instructions=(
        "You receive content requests. Decide the first stage the work needs: drafting for a "
        "new piece, reviewing when the request already contains a draft, publishing when the "
        "text is final. Set publish when the user wants it published, and write a one-line "
        "brief."
    ),
    output_type=Intake,
)

drafter = Agent(
    name="drafter",
    instructions="Write a first draft from the brief and the request.",
)

reviewer = Agent(
    name="reviewer",
    instructions="Review the draft: list concrete improvements for clarity and accuracy.",
)

publisher = Agent(
    name="publisher",
    instructions="Final stage. Produce the publication-ready text with a title and summary.",
)

#: Each stage's output field: a stage is done once its field is filled.
OUTPUT = {Stage.DRAFTING: "draft", Stage.REVIEWING: "review", Stage.PUBLISHING: "publication"}


def to_next_stage(state: Publication) -> str:
    """The handoff function: the first planned stage not yet done, or END."""
    assert state.intake is not None, "the intake stage runs first"
    stages = list(Stage)
    planned = stages[stages.index(state.intake.first_stage) :]
    if not state.intake.publish:
        planned = [s for s in planned if s is not Stage.PUBLISHING]
    for stage in planned:
        if not getattr(state, OUTPUT[stage]):
            return stage.value
    return END


def _work(state: Publication) -> str:
    """The text under work: the draft once there is one, else what the user sent."""
    return state.draft or state.request


def _draft_prompt(state: Publication) -> str:
    brief = state.intake.brief if state.intake else ""
    return f"Brief: {brief}\n\nRequest: {state.request}"


def _review_prompt(state: Publication) -> str:
    return f"Review this draft:\n\n{_work(state)}"


def _publish_prompt(state: Publication) -> str:
    notes = f"\n\nReview notes: {state.review}" if state.review else ""
    return f"Prepare this for publishing:\n\n{_work(state)}{notes}"


def build(
    *, model: Any = None, models: Mapping[str, Any] | None = None
) -> CompiledGraph[Publication]:
    """Intake, then the stages in order. ``models`` overrides the model per node (``intake``,
    ``drafting``, ``reviewing``, ``publishing``)."""
    per = dict(models or {})
    g = Graph(Publication, name="staged", model=model)
    g.add_agent(
        "intake", intake_agent, prompt="{request}", output="intake", model=per.get("intake")
    )
    stages = (
        (Stage.DRAFTING, drafter, _draft_prompt),
        (Stage.REVIEWING, reviewer, _review_prompt),
        (Stage.PUBLISHING, publisher, _publish_prompt),
    )
    for stage, agent, prompt in stages:
        node = stage.value
        g.add_agent(node, agent, prompt=prompt, output=OUTPUT[stage], model=per.get(node))
    g.add_edge(START, "intake")
    order = [s.value for s in Stage]
    # The same function decides after every stage; each source declares only what can follow.
    g.add_route("intake", to_next_stage, [*order, END], name="to_next_stage")
    for index, node in enumerate(order):
        g.add_route(node, to_next_stage, [*order[index + 1 :], END], name="to_next_stage")
    return g.compile()


graph = build
