"""The offline model's decision rules: hand off to the best-matching agent, ask a clarifying
question, call the best-matching tool, or answer (structured or plain text)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents import AgentOutputSchemaBase, FunctionTool, Handoff, ModelSettings, Tool
from agents.items import TResponseOutputItem

from .answers import plain_text
from .conversation import HANDOFF_PREFIX, CallContext
from .plan import function_call_item, message_item
from .schema import structured_text, tool_arguments
from .text import OFFLINE_PREFIX, humanize, match_score

_MAX_HANDOFFS_PER_TURN = 3
_HANDOFF_DESC_RE = re.compile(r"Handoff to the (.+?) agent\b")
_ASK_QUOTE_RE = re.compile(r"\bask[^\"\n]{0,40}\"([^\"]{5,200}\?)\"", re.IGNORECASE)


@dataclass
class Candidate:
    """Something the model can route to: a handoff or a ``transfer_to_*`` function tool."""

    tool_name: str
    agent_name: str
    description: str
    schema: dict[str, Any]


def find_candidates(
    tools: Sequence[Tool], handoffs: Sequence[Handoff[Any, Any]]
) -> list[Candidate]:
    """The handoffs, plus the function tools that re-expose a handoff."""
    found = [
        Candidate(h.tool_name, h.agent_name, h.tool_description, h.input_json_schema or {})
        for h in handoffs
    ]
    for tool in tools:
        if isinstance(tool, FunctionTool) and _is_handoff_tool(tool):
            named = _HANDOFF_DESC_RE.match(tool.description or "")
            agent = named.group(1) if named else tool.name.removeprefix(HANDOFF_PREFIX)
            found.append(Candidate(tool.name, agent, tool.description, tool.params_json_schema))
    return found


def _is_handoff_tool(tool: FunctionTool) -> bool:
    """Handoffs re-exposed as function tools keep the SDK's default name or description."""
    return tool.name.startswith(HANDOFF_PREFIX) or bool(
        _HANDOFF_DESC_RE.match(tool.description or "")
    )


def decide(
    ctx: CallContext,
    model_settings: ModelSettings,
    tools: Sequence[Tool],
    output_schema: AgentOutputSchemaBase | None,
    candidates: Sequence[Candidate],
    digest: str,
) -> list[TResponseOutputItem]:
    """The output items of one call: a handoff, a tool call, or a structured or plain answer."""
    conv = ctx.conv
    choice = model_settings.tool_choice

    def call(name: str, arguments: str) -> list[TResponseOutputItem]:
        item = function_call_item(f"fc_offline_{digest}", f"call_offline_{digest}", name, arguments)
        return [item]

    def say(text: str) -> list[TResponseOutputItem]:
        return [message_item(f"msg_offline_{digest}", text)]

    # One routing step and one tool round per user turn; a tool result is always answered.
    if not conv.newest_is_tool_output and choice != "none":
        if candidates and conv.handoffs_in_turn < _MAX_HANDOFFS_PER_TURN:
            target = _pick_handoff(ctx, candidates, choice)
            if target is not None:
                return call(target.tool_name, tool_arguments(target.schema, ctx))
            lowered = ctx.instructions.lower()
            if conv.handoffs_in_turn == 0 and ("clarif" in lowered or "unclear" in lowered):
                return say(_clarifying_question(ctx, candidates))
        functions = [t for t in tools if isinstance(t, FunctionTool) and not _is_handoff_tool(t)]
        if functions and not conv.tool_called_in_turn:
            tool = _pick_tool(ctx, functions, choice)
            return call(tool.name, tool_arguments(tool.params_json_schema, ctx))

    if output_schema is not None and not output_schema.is_plain_text():
        return say(structured_text(output_schema.json_schema(), ctx))
    return say(plain_text(ctx))


def _pick_handoff(
    ctx: CallContext, candidates: Sequence[Candidate], choice: Any
) -> Candidate | None:
    """The forced or best keyword-matching target not yet visited this turn, if any scores."""
    visited = ctx.conv.visited
    open_ = [c for c in candidates if c.tool_name not in visited and c.agent_name not in visited]
    forced = next((c for c in open_ if c.tool_name == choice), None)
    if forced is not None:
        return forced
    aliases = {
        c.tool_name: (name, c.tool_name.lower(), name.replace(" ", "_"))
        for c in open_
        for name in [c.agent_name.lower()]
    }
    blocks = _instruction_blocks(ctx.instructions, aliases)
    best: Candidate | None = None
    best_score = 0
    for candidate in open_:
        text = f"{candidate.agent_name} {candidate.description} {blocks[candidate.tool_name]}"
        score = match_score(ctx.stems, text)
        if score > best_score:
            best, best_score = candidate, score
    return best


def _pick_tool(ctx: CallContext, functions: Sequence[FunctionTool], choice: Any) -> FunctionTool:
    """The forced tool, else the best keyword match, else the first tool."""
    forced = next((t for t in functions if t.name == choice), None)
    if forced is not None:
        return forced
    scores = [match_score(ctx.stems, f"{t.name} {t.description}") for t in functions]
    return functions[scores.index(max(scores))]


def _instruction_blocks(instructions: str, names: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Attach instruction lines to the candidate they mention, e.g. "- sales: pricing, plans".

    A block runs from a line naming exactly one candidate to a blank line or the next mention.
    """
    blocks: dict[str, list[str]] = {key: [] for key in names}
    current: str | None = None
    for line in instructions.splitlines():
        lowered = line.lower()
        if not lowered.strip():
            current = None
            continue
        mentioned = [
            key for key, aliases in names.items() if any(_mentions(lowered, a) for a in aliases)
        ]
        if len(mentioned) == 1:
            current = mentioned[0]
        elif mentioned:
            current = None
        if current is not None:
            blocks[current].append(line)
    return {key: " ".join(lines) for key, lines in blocks.items()}


def _mentions(text: str, alias: str) -> bool:
    if len(alias) < 3:
        return False
    return re.search(rf"(?<![a-z0-9_]){re.escape(alias)}(?![a-z0-9_])", text) is not None


def _clarifying_question(ctx: CallContext, candidates: Sequence[Candidate]) -> str:
    quoted = _ASK_QUOTE_RE.search(ctx.instructions)
    if quoted:
        return OFFLINE_PREFIX + quoted.group(1).strip()
    options = [humanize(c.agent_name) for c in candidates]
    joined = ", ".join(options[:-1]) + " or " + options[-1] if len(options) > 1 else options[0]
    return f"{OFFLINE_PREFIX}Could you clarify your request? Is it about {joined}?"
