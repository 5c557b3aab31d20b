"""The offline model's plain-text answers: replies to tool results, sentiment, entities and
topics, critiques of drafts, drafts themselves, and a generic placeholder."""

from __future__ import annotations

import re

from .conversation import CallContext
from .text import (
    NEGATIVE,
    OFFLINE_PREFIX,
    POSITIVE,
    STOPWORDS,
    keywords,
    split_words,
    truncate,
)

_REVIEWER_WORDS = ("review", "evaluat", "critique", "critic", "grade")
_WRITER_WORDS = (
    "write",
    "writing",
    "draft",
    "generate",
    "compose",
    "revise",
    "rewrite",
    "edit",
    "polish",
    "article",
    "essay",
    "report",
    "story",
    "poem",
    "blog",
)


def critique(ctx: CallContext) -> str:
    """Feedback on the latest draft, with a score that rises each revision."""
    revision = ctx.drafts_seen
    if ctx.level >= 8:
        return (
            f"{OFFLINE_PREFIX}Revision {revision} scores {ctx.level}/10: it meets the bar; "
            f"only minor polish on {ctx.topic} remains."
        )
    return (
        f"{OFFLINE_PREFIX}Revision {revision} scores {ctx.level}/10: add concrete details "
        f"about {ctx.topic} and tighten the structure."
    )


def plain_text(ctx: CallContext) -> str:
    """The plain-text answer the instructions and conversation call for."""
    conv = ctx.conv
    lowered = ctx.instructions.lower()
    if conv.tool_output is not None:
        snippet = truncate(conv.tool_output, 160)
        return (
            f"{OFFLINE_PREFIX}Based on {conv.tool_name or 'the tool'} ({snippet}), "
            f"here is the answer about {ctx.topic}."
        )
    if "sentiment" in lowered:
        words = set(split_words(ctx.request))
        pos, neg = len(words & POSITIVE), len(words & NEGATIVE)
        label = "positive" if pos > neg else "negative" if neg > pos else "neutral"
        return f"{OFFLINE_PREFIX}Sentiment: {label}."
    if "entit" in lowered:
        names = re.findall(r"\b[A-Z][a-zA-Z]{2,}", ctx.request)
        found = [n for n in dict.fromkeys(names) if n.lower() not in STOPWORDS][:4]
        return f"{OFFLINE_PREFIX}Entities: {', '.join(found) or 'none found'}."
    if "topic" in lowered and ("extract" in lowered or "list" in lowered):
        return f"{OFFLINE_PREFIX}Topics: {', '.join(keywords(ctx.request, 3) or ctx.keywords)}."
    # Only critique when there is work to critique, so a debate judge or triage still answers.
    has_work = conv.max_revision > 0 or conv.drafts > 0 or "feedback" in lowered
    if has_work and any(w in lowered for w in _REVIEWER_WORDS):
        return critique(ctx)
    if any(w in lowered for w in _WRITER_WORDS) or conv.max_revision:
        revision = max(conv.max_revision, conv.drafts) + 1
        return (
            f"{OFFLINE_PREFIX}Draft (revision {revision}) on {ctx.topic}: an overview, "
            f"key points about {ctx.keywords[0]}, and a short conclusion."
        )
    gist = ctx.instructions_gist()
    following = f' Following my instructions ("{gist}"),' if gist else ""
    return (
        f"{OFFLINE_PREFIX}Re: {ctx.topic}.{following} this deterministic placeholder stands in "
        "for a real answer."
    )
