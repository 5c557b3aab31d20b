"""Deterministic offline stand-in for an LLM behind the Agents SDK ``Model`` interface.

It routes, calls tools and fills output schemas from keyword heuristics; every text is "[offline]".
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents import (
    AgentOutputSchemaBase,
    FunctionTool,
    Handoff,
    Model,
    ModelProvider,
    ModelResponse,
    ModelSettings,
    ModelTracing,
    Tool,
    TResponseInputItem,
    Usage,
)
from agents.extensions.handoff_prompt import RECOMMENDED_PROMPT_PREFIX
from agents.items import TResponseOutputItem, TResponseStreamEvent
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

__all__ = ["OFFLINE_PREFIX", "OfflineModel", "OfflineProvider"]

OFFLINE_PREFIX = "[offline] "

# Handoffs turned into plain function tools (as the scheduler does) keep this SDK prefix.
_HANDOFF_PREFIX = "transfer_to_"
_MAX_HANDOFFS_PER_TURN = 3
_MAX_SCHEMA_DEPTH = 8

_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*|\d+")
_REVISION_RE = re.compile(r"\brevision (\d{1,2})\b", re.IGNORECASE)
_ID_TOKEN_RE = re.compile(r"#?[A-Za-z]{0,6}-?\d[\w-]*")
_HANDOFF_DESC_RE = re.compile(r"Handoff to the (.+?) agent\b")
_ASK_QUOTE_RE = re.compile(r"\bask[^\"\n]{0,40}\"([^\"]{5,200}\?)\"", re.IGNORECASE)


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_STOPWORDS = frozenset(
    _split("""
    a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing don down during each either else
    etc few for from further get gets got had has have having he her here hers him his how
    i if in into is it its itself just let lets may me might more most must my myself need
    needs no nor not now of off on once only or other our ours out over own please per
    same shall she should so some such than thank thanks that the their theirs them then
    there these they this those through to too under until up upon us very via was we were
    what when where which while who whom why will with would yes yet you your yours
    hello hi hey dear kindly want wants like get make use using used able
    agent agents handoff handoffs hand transfer handle handles request requests tool tools
    assistant specialist specialists expert experts offline call calls question questions
    provide provides help recent one two
    """)
)

# Task words that say what to do rather than what the request is about.
_META_WORDS = frozenset(
    _split("""
    prompt previous feedback revision revisions draft drafts score scores evaluate evaluation
    review content improve improvements improvement please following based text write rewrite
    analyze analyse summarize research present argument counterargument conclusion provide
    """)
)

# Words (stemmed at import) and their concepts, primary concept first.
_CONCEPT_SOURCE: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "order ordering delivery deliver shipping ship shipment track package parcel timeline "
        "arrive arrival eta courier dispatch transit",
        ("order",),
    ),
    ("return", ("order", "refund")),
    ("refund", ("refund", "billing", "order")),
    ("reimburse reimbursement", ("refund", "billing")),
    (
        "invoice charge billing bill payment pay paid balance receipt card money overcharged "
        "dispute",
        ("billing",),
    ),
    ("subscription", ("billing", "sales")),
    ("cost", ("sales", "billing")),
    (
        "price pricing buy purchase quote plan upgrade demo discount catalog product sales sale "
        "license enterprise",
        ("sales",),
    ),
    (
        "bug error crash outage login password broken technical tech troubleshoot "
        "troubleshooting fail failure install integration api glitch server app website timeout",
        ("technical",),
    ),
    ("feature", ("technical", "sales")),
    ("issue problem", ("technical", "support")),
    ("support", ("support", "technical")),
    ("debug", ("code", "technical")),
    ("book booking reservation reserve appointment schedule", ("booking",)),
    ("research researcher fact source find investigate information search study", ("research",)),
    (
        "write writer writing draft article content essay report blog story compose post poem",
        ("writing",),
    ),
    ("edit editor editing polish proofread review improve critique", ("editing",)),
    ("code coding python script program function", ("code",)),
    ("sql query database table data dataset", ("data",)),
    ("analyze analysis analyst insight", ("analysis",)),
)

_SCORE_NAMES = ("score", "rating", "grade", "quality")
_PASS_NAMES = (
    "pass",
    "approv",
    "accept",
    "ok",
    "meets",
    "satisf",
    "good_enough",
    "sufficient",
    "done",
    "complete",
    "finish",
    "ready",
    "success",
    "correct",
)
_FAIL_NAMES = ("revis", "retry", "redo", "improv", "fail", "reject")
_BENIGN_NAMES = ("safe", "appropriate", "relevant", "allowed", "on_topic", "valid", "legit")
# Booleans that guardrails use as tripwires: defaulting them to false keeps runs flowing.
_RISK_NAMES = (
    "homework",
    "spam",
    "harm",
    "unsafe",
    "offensive",
    "toxic",
    "malicious",
    "abus",
    "violat",
    "inappropriate",
    "injection",
    "jailbreak",
    "pii",
    "sensitive",
    "off_topic",
    "trip",
    "flag",
    "block",
    "escalat",
    "fraud",
    "urgent",
)
_CRITIQUE_NAMES = ("feedback", "critique", "comment", "suggestion", "improvement", "issues")
_REASON_NAMES = ("reason", "rationale", "explanation", "justification", "why", "thought")
_TITLE_NAMES = ("title", "name", "headline", "topic", "subject", "label", "category")
_ID_NAMES = ("id", "number", "num", "code", "order", "tracking", "sku", "ticket", "ref")
_NOT_DRAFTS = (OFFLINE_PREFIX + "Revision", OFFLINE_PREFIX + "Could")
_CATCH_ALL = ("general", "other", "neutral", "unknown", "misc", "none")
_POSITIVE = frozenset(_split("good great love excellent happy amazing wonderful best like nice"))
_NEGATIVE = frozenset(
    _split("bad terrible hate awful angry broken worst poor disappointed slow crash error")
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


def _stem(word: str) -> str:
    w = word.lower().strip("'_-")
    for suffix in (
        "ations",
        "ation",
        "ments",
        "ment",
        "ings",
        "ing",
        "ions",
        "ion",
        "ies",
        "ers",
        "es",
        "ed",
        "ly",
        "s",
    ):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    # One more pass for agent nouns and silent e: "ordering"/"orders"/"order", "issue"/"issues".
    if w.endswith("er") and len(w) >= 5:
        w = w[:-2]
    if len(w) >= 4 and w.endswith("e"):
        w = w[:-1]
    # Collapse doubled consonants so "shipping"/"ship" and "billing"/"bill" meet.
    if len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "aeiou":
        w = w[:-1]
    return w


_CONCEPTS: dict[str, tuple[str, ...]] = {}
for _group, _tags in _CONCEPT_SOURCE:
    for _word in _group.split():
        _CONCEPTS.setdefault(_stem(_word), _tags)


def _words(text: str) -> list[str]:
    parts: list[str] = []
    for raw in _WORD_RE.findall(text):
        # Split snake_case and camelCase names so tool names match plain words.
        spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", raw).replace("_", " ").replace("-", " ")
        parts.extend(p.lower() for p in spaced.split() if p)
    return parts


def _content_stems(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for w in _words(text):
        if w in _STOPWORDS or len(w) < 2 or w.isdigit():
            continue
        seen.setdefault(_stem(w), None)
    return list(seen)


def _keywords(text: str, limit: int = 4) -> list[str]:
    seen: dict[str, None] = {}
    for w in _words(text):
        if w in _STOPWORDS or w in _META_WORDS or len(w) < 3 or w.isdigit():
            continue
        seen.setdefault(w, None)
        if len(seen) >= limit:
            break
    return list(seen)


def _match_score(request_stems: Sequence[str], candidate_text: str) -> int:
    """Keyword overlap: 3 per exact stem, 2 per shared primary concept, 1 per shared concept."""
    cand = _content_stems(candidate_text)
    if not cand:
        return 0
    total = 0
    for r in request_stems:
        r_tags = _CONCEPTS.get(r, ())
        best = 0
        for c in cand:
            if r == c:
                best = 3
                break
            if len(r) >= 4 and len(c) >= 4 and (r.startswith(c) or c.startswith(r)):
                best = max(best, 2)
                continue
            c_tags = _CONCEPTS.get(c, ())
            if r_tags and c_tags:
                if r_tags[0] == c_tags[0]:
                    best = max(best, 2)
                elif set(r_tags) & set(c_tags):
                    best = max(best, 1)
        total += best
    return total


def _truncate(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(0, limit - 3)].rstrip() + "..."


def _join_words(words: Sequence[str]) -> str:
    if not words:
        return "your request"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]


def _humanize(name: str) -> str:
    return " ".join(_words(name)) or name


def _to_jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(exclude_unset=True)
    return value


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            part = _to_jsonable(part)
            if isinstance(part, dict):
                text = part.get("text", part.get("refusal"))
                if isinstance(text, str):
                    parts.append(text)
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return ""


def _looks_like_json(text: str) -> bool:
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return False
    try:
        json.loads(stripped)
    except ValueError:
        return False
    return True


@dataclass
class _Candidate:
    """Something the model can route to: a handoff or a ``transfer_to_*`` function tool."""

    tool_name: str
    agent_name: str
    description: str
    schema: dict[str, Any]


@dataclass
class _Conversation:
    """What the heuristics need to know about the input items."""

    request: str = ""
    handoffs_in_turn: int = 0
    visited: set[str] = field(default_factory=set)
    tool_called_in_turn: bool = False
    newest_is_tool_output: bool = False
    tool_name: str | None = None
    tool_output: str | None = None
    drafts: int = 0
    max_revision: int = 0


def _normalize_input(input: str | list[TResponseInputItem]) -> list[dict[str, Any]]:
    if isinstance(input, str):
        return [{"role": "user", "content": input}]
    items: list[dict[str, Any]] = []
    for raw in input:
        item = _to_jsonable(raw)
        if isinstance(item, dict):
            items.append(dict(item))
    return items


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    text = _text_of(output)
    return text or json.dumps(_to_jsonable(output), default=str, sort_keys=True)


def _is_handoff_output(output: str) -> bool:
    try:
        parsed = json.loads(output)
    except ValueError:
        return False
    return isinstance(parsed, dict) and set(parsed) == {"assistant"}


def _analyse(items: list[dict[str, Any]], handoff_names: set[str]) -> _Conversation:
    conv = _Conversation()
    last_user = -1
    for index, item in enumerate(items):
        kind = item.get("type")
        role = item.get("role")
        if role is not None and kind in (None, "message"):
            text = _text_of(item.get("content"))
            for match in _REVISION_RE.findall(text):
                conv.max_revision = max(conv.max_revision, int(match))
            if role == "user":
                last_user = index
                conv.request = text
            elif role == "assistant" and text and not _looks_like_json(text):
                # Critiques and clarifying questions are not drafts of the work under review.
                conv.drafts += not text.startswith(_NOT_DRAFTS)

    calls: dict[str, str] = {}
    handoff_calls: set[str] = set()
    for item in items[last_user + 1 :]:
        kind = item.get("type")
        if kind == "function_call":
            name = str(item.get("name", ""))
            call_id = str(item.get("call_id", ""))
            calls[call_id] = name
            if name.startswith(_HANDOFF_PREFIX) or name in handoff_names:
                handoff_calls.add(call_id)
                conv.visited.add(name)
        elif kind == "function_call_output":
            call_id = str(item.get("call_id", ""))
            output = _output_text(item.get("output"))
            if call_id not in handoff_calls and _is_handoff_output(output):
                handoff_calls.add(call_id)
            if call_id in handoff_calls:
                try:
                    parsed = json.loads(output)
                    if isinstance(parsed, dict) and isinstance(parsed.get("assistant"), str):
                        conv.visited.add(parsed["assistant"])
                except ValueError:
                    pass
            else:
                conv.tool_name = calls.get(call_id, "tool")
                conv.tool_output = output
    conv.handoffs_in_turn = len(handoff_calls)
    conv.tool_called_in_turn = any(cid not in handoff_calls for cid in calls)
    if items and items[-1].get("type") == "function_call_output":
        conv.newest_is_tool_output = str(items[-1].get("call_id", "")) not in handoff_calls
    return conv


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


def _has_part(name: str, prefixes: Sequence[str]) -> bool:
    """Whether a word of a field name (snake or camel case) starts with one of ``prefixes``."""
    parts = _words(name)
    joined = "_".join(parts)
    return any(p in joined if "_" in p else any(w.startswith(p) for w in parts) for p in prefixes)


def _is_score_name(name: str) -> bool:
    return _has_part(name, _SCORE_NAMES)


class _Context:
    """Per-call facts shared by the text and schema generators."""

    def __init__(self, instructions: str, conv: _Conversation) -> None:
        self.instructions = instructions
        self.conv = conv
        self.request = conv.request
        self.stems = _content_stems(conv.request)
        self.keywords = _keywords(conv.request) or ["your request"]
        self.drafts_seen = max(conv.max_revision, conv.drafts, 1)
        # 5, 7, 9, 10: an evaluator loop over the offline model passes on its third draft.
        self.level = min(10, 3 + 2 * self.drafts_seen)

    @property
    def topic(self) -> str:
        return _join_words(self.keywords[:3])

    def instructions_gist(self) -> str:
        text = self.instructions
        if text.startswith(RECOMMENDED_PROMPT_PREFIX):
            text = text[len(RECOMMENDED_PROMPT_PREFIX) :]
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and ln.strip()[0] != "#"]
        first = re.split(r"(?<=[.!?])\s", " ".join(lines), maxsplit=1)[0] if lines else ""
        # Quoting an "I don't know" rule would trip callers that treat it as a refusal.
        return "" if "know" in first.lower() else _truncate(first.rstrip(".!?:"), 70)


class _SchemaFiller:
    """Builds a JSON value valid against a JSON schema, with values drawn from the request."""

    def __init__(
        self,
        root: dict[str, Any],
        ctx: _Context,
        *,
        for_tool: bool,
        enum_matched: bool = False,
        label_lists: bool = False,
    ) -> None:
        self.root = root
        self.ctx = ctx
        self.for_tool = for_tool
        self.label_lists = label_lists
        self.known_enum_match = enum_matched
        self.enum_matched = False

    def fill(self, schema: Any, name: str = "", depth: int = 0, index: int = 0) -> Any:
        if not isinstance(schema, dict):
            return None
        if depth > _MAX_SCHEMA_DEPTH:
            return self._minimal(schema)
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self._enum(schema["enum"])
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                non_null = [o for o in options if self._resolve(o).get("type") != "null"]
                return self.fill((non_null or options)[0], name, depth + 1, index)
        if isinstance(schema.get("allOf"), list) and schema["allOf"]:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                resolved = self._resolve(part)
                props = {**merged.get("properties", {}), **resolved.get("properties", {})}
                required = [*merged.get("required", []), *resolved.get("required", [])]
                merged = {**merged, **resolved, "properties": props, "required": required}
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            return self.fill({**merged, **rest}, name, depth + 1, index)
        kind = self._type(schema)
        if kind == "object":
            return self._object(schema, depth, index)
        if kind == "array":
            return self._array(schema, name, depth)
        if kind == "string":
            return self._string(schema, name, index)
        if kind in ("integer", "number"):
            return self._number(schema, name, kind == "integer")
        if kind == "boolean":
            return self._boolean(name)
        if kind == "null":
            return None
        return self._string({}, name, index)

    def _resolve(self, schema: Any) -> dict[str, Any]:
        seen = 0
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 20:
            seen += 1
            ref = schema["$ref"]
            target: Any = self.root
            if ref.startswith("#"):
                for part in ref.lstrip("#").strip("/").split("/"):
                    if not part:
                        continue
                    part = part.replace("~1", "/").replace("~0", "~")
                    target = target.get(part) if isinstance(target, dict) else None
            else:
                target = None
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **extra} if isinstance(target, dict) else extra
        return schema if isinstance(schema, dict) else {}

    @staticmethod
    def _type(schema: dict[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            kind = kinds[0] if kinds else "null"
        if isinstance(kind, str):
            return kind
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
        return "string"

    def _minimal(self, schema: dict[str, Any]) -> Any:
        kind = self._type(self._resolve(schema))
        return {"object": {}, "array": [], "integer": 0, "number": 0, "boolean": False}.get(
            kind, "" if kind == "string" else None
        )

    def _enum(self, values: list[Any]) -> Any:
        strings = [v for v in values if isinstance(v, str)]
        if strings:
            lowered = [v.lower() for v in strings]
            if {"positive", "negative"} <= set(lowered):
                words = set(_words(self.ctx.request))
                pos, neg = len(words & _POSITIVE), len(words & _NEGATIVE)
                self.enum_matched = self.enum_matched or pos != neg
                wanted = "positive" if pos > neg else "negative" if neg > pos else "neutral"
                if wanted in lowered:
                    return strings[lowered.index(wanted)]
            scores = [_match_score(self.ctx.stems, v) for v in strings]
            best = max(scores)
            if best > 0:
                self.enum_matched = True
                return strings[scores.index(best)]
            for value, low in zip(strings, lowered, strict=True):
                if low in _CATCH_ALL:
                    return value
        return values[0]

    def _object(self, schema: dict[str, Any], depth: int, index: int) -> dict[str, Any]:
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}
        required = schema.get("required")
        names = list(props)
        if self.for_tool and isinstance(required, list):
            names = [n for n in names if n in required]
        result: dict[str, Any] = {}
        for prop in names:
            result[prop] = self.fill(props[prop], prop, depth + 1, index)
        return result

    def _array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        count = 1 if self.for_tool else 3 if len(self.ctx.keywords) >= 3 else 2
        min_items = schema.get("minItems")
        max_items = schema.get("maxItems")
        if isinstance(min_items, int):
            count = max(count, min_items)
        if isinstance(max_items, int):
            count = min(count, max_items)
        items = schema.get("items", {})
        if isinstance(items, list):
            return [self.fill(s, name, depth + 1, i) for i, s in enumerate(items)]
        resolved = self._resolve(items)
        if not self.for_tool and self._type(resolved) == "string" and "enum" not in resolved:
            words = self._list_words(name, count)
            return [self._fit(resolved, w) for w in words]
        return [self.fill(items, name, depth + 1, i) for i in range(count)]

    def _list_words(self, name: str, count: int) -> list[str]:
        words: list[str] = []
        if "entit" in name.lower() or "name" in name.lower():
            words = [w for w in re.findall(r"(?<![.!?]\s)\b[A-Z][a-zA-Z]{2,}", self.ctx.request)]
            words = [w for w in dict.fromkeys(words) if w.lower() not in _STOPWORDS]
        if len(words) < count:
            extra = _keywords(self.ctx.request, limit=count + 4) or self.ctx.keywords
            words.extend(w for w in extra if w not in words)
        while len(words) < count:
            words.append(f"{_humanize(name) or 'item'} {len(words) + 1}")
        words = words[:count]
        if self.label_lists and words:
            words[0] = OFFLINE_PREFIX + words[0]
        return words

    def _string(self, schema: dict[str, Any], name: str, index: int) -> str:
        fmt = schema.get("format")
        lname = name.lower()
        if fmt == "date-time":
            return "2024-01-01T00:00:00Z"
        if fmt == "date":
            return "2024-01-01"
        if fmt == "time":
            return "00:00:00"
        if fmt == "email" or "email" in lname:
            return self._fit(schema, "offline@example.com")
        if fmt in ("uri", "url") or lname.endswith(("url", "uri", "link")):
            return self._fit(schema, "https://example.com/offline")
        if fmt == "uuid":
            return "00000000-0000-4000-8000-000000000000"
        if fmt == "ipv4":
            return "127.0.0.1"
        text = self._tool_text(lname) if self.for_tool else self._text(lname, index)
        return self._fit(schema, text)

    def _tool_text(self, lname: str) -> str:
        parts = set(_words(lname))
        if parts & set(_ID_NAMES):
            for token in _ID_TOKEN_RE.findall(self.ctx.request):
                return str(token).lstrip("#")
            return "offline-1"
        return _truncate(self.ctx.request, 200) or "offline"

    def _text(self, lname: str, index: int) -> str:
        ctx = self.ctx
        # Array elements start from different keywords so list items do not repeat.
        shift = index % len(ctx.keywords)
        words = ctx.keywords[shift:] + ctx.keywords[:shift]
        if _has_part(lname, _CRITIQUE_NAMES):
            return _critique(ctx)
        if _has_part(lname, _REASON_NAMES):
            return f"{OFFLINE_PREFIX}Chosen because the request mentions {ctx.topic}."
        if _has_part(lname, _TITLE_NAMES):
            return OFFLINE_PREFIX + " ".join(w.capitalize() for w in words[:3])
        if lname == "id" or lname.endswith("_id"):
            return "offline-" + hashlib.sha256(ctx.request.encode()).hexdigest()[:8]
        label = _humanize(lname) or "answer"
        return f"{OFFLINE_PREFIX}Placeholder {label} about {_join_words(words[:3])}."

    def _fit(self, schema: dict[str, Any], text: str) -> str:
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            text = self._matching(pattern, text)
        max_len = schema.get("maxLength")
        min_len = schema.get("minLength")
        if isinstance(max_len, int) and len(text) > max_len:
            text = text[:max_len]
        if isinstance(min_len, int) and len(text) < min_len:
            text = text + "." * (min_len - len(text))
        return text

    def _matching(self, pattern: str, text: str) -> str:
        """Best effort for ``pattern``: the first of a few request-derived values that fits."""
        try:
            regex = re.compile(pattern)
        except re.error:
            return text
        options = [text, *self.ctx.keywords, *_ID_TOKEN_RE.findall(self.ctx.request)]
        options += ["offline", "OFFLINE", "0", "1", "a", "A", "A1", "a1", "offline-1"]
        return next((o for o in options if regex.search(o)), text)

    def _number(self, schema: dict[str, Any], name: str, integer: bool) -> int | float:
        lname = name.lower()
        maximum = schema.get("maximum")
        minimum = schema.get("minimum")
        value: float
        if _has_part(lname, ("confiden", "probab", "certain")):
            value = 0.9 if self.known_enum_match else 0.4
            if integer or (isinstance(maximum, int | float) and maximum > 1):
                value *= 100
        elif _is_score_name(lname):
            value = float(self.ctx.level)
            if isinstance(maximum, int | float) and not isinstance(maximum, bool):
                if maximum <= 1:
                    value /= 10
                elif maximum >= 20:
                    value = value * maximum / 10
        else:
            value = 1.0
        if isinstance(maximum, int | float):
            value = min(value, float(maximum))
        if isinstance(minimum, int | float):
            value = max(value, float(minimum))
        excl_max = schema.get("exclusiveMaximum")
        excl_min = schema.get("exclusiveMinimum")
        step = 1.0 if integer else 0.01
        if isinstance(excl_max, int | float) and value >= excl_max:
            value = float(excl_max) - step
        if isinstance(excl_min, int | float) and value <= excl_min:
            value = float(excl_min) + step
        return round(value) if integer else round(value, 4)

    def _boolean(self, name: str) -> bool:
        lname = name.lower()
        if _has_part(lname, _RISK_NAMES):
            return False
        if _has_part(lname, _BENIGN_NAMES):
            return True
        # Verdict flags follow the draft score so evaluator loops stop after a few rounds.
        if _has_part(lname, _FAIL_NAMES):
            return self.ctx.level < 8
        if _has_part(lname, _PASS_NAMES) or lname.startswith("is_"):
            return self.ctx.level >= 8
        return True


def _critique(ctx: _Context) -> str:
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


def _plain_text(ctx: _Context) -> str:
    conv = ctx.conv
    lowered = ctx.instructions.lower()
    if conv.tool_output is not None:
        snippet = _truncate(conv.tool_output, 160)
        return (
            f"{OFFLINE_PREFIX}Based on {conv.tool_name or 'the tool'} ({snippet}), "
            f"here is the answer about {ctx.topic}."
        )
    if "sentiment" in lowered:
        words = set(_words(ctx.request))
        pos, neg = len(words & _POSITIVE), len(words & _NEGATIVE)
        label = "positive" if pos > neg else "negative" if neg > pos else "neutral"
        return f"{OFFLINE_PREFIX}Sentiment: {label}."
    if "entit" in lowered:
        names = re.findall(r"\b[A-Z][a-zA-Z]{2,}", ctx.request)
        found = [n for n in dict.fromkeys(names) if n.lower() not in _STOPWORDS][:4]
        return f"{OFFLINE_PREFIX}Entities: {', '.join(found) or 'none found'}."
    if "topic" in lowered and ("extract" in lowered or "list" in lowered):
        return f"{OFFLINE_PREFIX}Topics: {', '.join(_keywords(ctx.request, 3) or ctx.keywords)}."
    # Only critique when there is work to critique, so a debate judge or triage still answers.
    has_work = conv.max_revision > 0 or conv.drafts > 0 or "feedback" in lowered
    if has_work and any(w in lowered for w in _REVIEWER_WORDS):
        return _critique(ctx)
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


def _clarifying_question(ctx: _Context, candidates: Sequence[_Candidate]) -> str:
    quoted = _ASK_QUOTE_RE.search(ctx.instructions)
    if quoted:
        return OFFLINE_PREFIX + quoted.group(1).strip()
    options = [_humanize(c.agent_name) for c in candidates]
    joined = ", ".join(options[:-1]) + " or " + options[-1] if len(options) > 1 else options[0]
    return f"{OFFLINE_PREFIX}Could you clarify your request? Is it about {joined}?"


def _structured_text(schema: dict[str, Any], ctx: _Context) -> str:
    probe = _SchemaFiller(schema, ctx, for_tool=False)
    probe.fill(schema)
    value = _SchemaFiller(schema, ctx, for_tool=False, enum_matched=probe.enum_matched).fill(schema)
    text = json.dumps(value, ensure_ascii=False)
    if "offline" not in text:
        # Keyword-only lists carry no label: label the first item of each list instead.
        relabelled = _SchemaFiller(
            schema, ctx, for_tool=False, enum_matched=probe.enum_matched, label_lists=True
        ).fill(schema)
        text = json.dumps(relabelled, ensure_ascii=False)
    return text


@dataclass
class _Plan:
    """The output of one offline model call."""

    items: list[TResponseOutputItem]
    response_id: str
    input_tokens: int
    output_tokens: int

    def usage(self) -> Usage:
        return Usage(
            requests=1,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            total_tokens=self.input_tokens + self.output_tokens,
            input_tokens_details=_input_details(),
            output_tokens_details=_output_details(),
        )

    def response_usage(self) -> ResponseUsage:
        return ResponseUsage.model_validate(
            {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "total_tokens": self.input_tokens + self.output_tokens,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            }
        )


def _input_details() -> InputTokensDetails:
    # openai 3.x added required fields here; validating a dict tolerates either shape.
    return InputTokensDetails.model_validate({"cached_tokens": 0, "cache_write_tokens": 0})


def _output_details() -> OutputTokensDetails:
    return OutputTokensDetails.model_validate({"reasoning_tokens": 0})


def _message(item_id: str, text: str) -> ResponseOutputMessage:
    return ResponseOutputMessage.model_validate(
        {
            "id": item_id,
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }
    )


def _function_call(item_id: str, call_id: str, name: str, arguments: str) -> Any:
    return ResponseFunctionToolCall.model_validate(
        {
            "id": item_id,
            "call_id": call_id,
            "type": "function_call",
            "name": name,
            "arguments": arguments,
            "status": "completed",
        }
    )


def _candidates(tools: Sequence[Tool], handoffs: Sequence[Handoff[Any, Any]]) -> list[_Candidate]:
    found = [
        _Candidate(h.tool_name, h.agent_name, h.tool_description, h.input_json_schema or {})
        for h in handoffs
    ]
    for tool in tools:
        if isinstance(tool, FunctionTool) and _is_handoff_tool(tool):
            named = _HANDOFF_DESC_RE.match(tool.description or "")
            agent = named.group(1) if named else tool.name.removeprefix(_HANDOFF_PREFIX)
            found.append(_Candidate(tool.name, agent, tool.description, tool.params_json_schema))
    return found


def _is_handoff_tool(tool: FunctionTool) -> bool:
    """Handoffs re-exposed as function tools keep the SDK's default name or description."""
    return tool.name.startswith(_HANDOFF_PREFIX) or bool(
        _HANDOFF_DESC_RE.match(tool.description or "")
    )


def _pick_handoff(
    ctx: _Context, candidates: Sequence[_Candidate], choice: Any
) -> _Candidate | None:
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
    best: _Candidate | None = None
    best_score = 0
    for candidate in open_:
        text = f"{candidate.agent_name} {candidate.description} {blocks[candidate.tool_name]}"
        score = _match_score(ctx.stems, text)
        if score > best_score:
            best, best_score = candidate, score
    return best


def _pick_tool(ctx: _Context, functions: Sequence[FunctionTool], choice: Any) -> FunctionTool:
    """The forced tool, else the best keyword match, else the first tool."""
    forced = next((t for t in functions if t.name == choice), None)
    if forced is not None:
        return forced
    scores = [_match_score(ctx.stems, f"{t.name} {t.description}") for t in functions]
    return functions[scores.index(max(scores))]


def _arguments(schema: dict[str, Any], ctx: _Context) -> str:
    if not schema or not schema.get("required"):
        return "{}"
    value = _SchemaFiller(schema, ctx, for_tool=True).fill(schema)
    return json.dumps(value if isinstance(value, dict) else {}, ensure_ascii=False)


class OfflineModel(Model):
    """A deterministic, network-free ``Model``: same input, byte-identical output.

    Rules, in order: after a tool result answer (one tool round per user turn); route to the
    best keyword-matching handoff (or ask a clarifying question when told to and none fits);
    call the best-matching function tool; fill the output schema; else answer in plain text.
    """

    def __init__(self, model_name: str | None = None) -> None:
        self.model_name = model_name or "offline"

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        plan = self._plan(
            system_instructions, input, model_settings, tools, output_schema, handoffs
        )
        return ModelResponse(output=plan.items, usage=plan.usage(), response_id=plan.response_id)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        plan = self._plan(
            system_instructions, input, model_settings, tools, output_schema, handoffs
        )
        for event in _stream_events(plan, self.model_name):
            yield event
            # Yield to the loop so consumers see events arrive incrementally.
            await asyncio.sleep(0)

    def _plan(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: Sequence[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: Sequence[Handoff[Any, Any]],
    ) -> _Plan:
        instructions = system_instructions or ""
        items = _normalize_input(input)
        candidates = _candidates(tools, handoffs)
        conv = _analyse(items, {c.tool_name for c in candidates})
        ctx = _Context(instructions, conv)
        fingerprint = json.dumps(
            [
                instructions,
                items,
                sorted(getattr(t, "name", type(t).__name__) for t in tools),
                [c.tool_name for c in candidates],
                None if output_schema is None else output_schema.name(),
            ],
            sort_keys=True,
            default=str,
            ensure_ascii=False,
        )
        digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:24]
        output = self._decide(ctx, model_settings, tools, output_schema, candidates, digest)
        produced = json.dumps([o.model_dump(exclude_none=True) for o in output], default=str)
        return _Plan(
            items=output,
            response_id=f"resp_offline_{digest}",
            # Roughly four characters per token keeps usage plausible and input-determined.
            input_tokens=max(1, (len(fingerprint) + 3) // 4),
            output_tokens=max(1, (len(produced) + 3) // 4),
        )

    def _decide(
        self,
        ctx: _Context,
        model_settings: ModelSettings,
        tools: Sequence[Tool],
        output_schema: AgentOutputSchemaBase | None,
        candidates: Sequence[_Candidate],
        digest: str,
    ) -> list[TResponseOutputItem]:
        conv = ctx.conv
        choice = model_settings.tool_choice

        def call(name: str, arguments: str) -> list[TResponseOutputItem]:
            item = _function_call(f"fc_offline_{digest}", f"call_offline_{digest}", name, arguments)
            return [item]

        def say(text: str) -> list[TResponseOutputItem]:
            return [_message(f"msg_offline_{digest}", text)]

        # One routing step and one tool round per user turn; a tool result is always answered.
        if not conv.newest_is_tool_output and choice != "none":
            if candidates and conv.handoffs_in_turn < _MAX_HANDOFFS_PER_TURN:
                target = _pick_handoff(ctx, candidates, choice)
                if target is not None:
                    return call(target.tool_name, _arguments(target.schema, ctx))
                lowered = ctx.instructions.lower()
                if conv.handoffs_in_turn == 0 and ("clarif" in lowered or "unclear" in lowered):
                    return say(_clarifying_question(ctx, candidates))
            functions = [
                t for t in tools if isinstance(t, FunctionTool) and not _is_handoff_tool(t)
            ]
            if functions and not conv.tool_called_in_turn:
                tool = _pick_tool(ctx, functions, choice)
                return call(tool.name, _arguments(tool.params_json_schema, ctx))

        if output_schema is not None and not output_schema.is_plain_text():
            return say(_structured_text(output_schema.json_schema(), ctx))
        return say(_plain_text(ctx))


def _chunks(text: str) -> list[str]:
    pieces = re.findall(r"\S+\s*|\s+", text)
    # Group words so a long answer streams in a handful of deltas, not hundreds.
    size = max(1, len(pieces) // 8)
    return ["".join(pieces[i : i + size]) for i in range(0, len(pieces), size)] or [text]


def _stream_events(plan: _Plan, model_name: str) -> Iterable[TResponseStreamEvent]:
    seq = 0

    def nxt() -> int:
        nonlocal seq
        seq += 1
        return seq - 1

    base: dict[str, Any] = {
        "id": plan.response_id,
        "created_at": 0,
        "model": model_name,
        "object": "response",
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
    }
    pending = Response.model_validate({**base, "output": [], "status": "in_progress"})
    yield ResponseCreatedEvent(type="response.created", response=pending, sequence_number=nxt())
    yield ResponseInProgressEvent(
        type="response.in_progress", response=pending, sequence_number=nxt()
    )
    for index, item in enumerate(plan.items):
        if isinstance(item, ResponseOutputMessage):
            yield ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=item.model_copy(update={"content": [], "status": "in_progress"}),
                output_index=index,
                sequence_number=nxt(),
            )
            for content_index, part in enumerate(item.content):
                if not isinstance(part, ResponseOutputText):
                    continue
                yield ResponseContentPartAddedEvent(
                    type="response.content_part.added",
                    item_id=item.id,
                    output_index=index,
                    content_index=content_index,
                    part=part.model_copy(update={"text": ""}),
                    sequence_number=nxt(),
                )
                for delta in _chunks(part.text):
                    yield ResponseTextDeltaEvent(
                        type="response.output_text.delta",
                        item_id=item.id,
                        output_index=index,
                        content_index=content_index,
                        delta=delta,
                        logprobs=[],
                        sequence_number=nxt(),
                    )
                yield ResponseTextDoneEvent(
                    type="response.output_text.done",
                    item_id=item.id,
                    output_index=index,
                    content_index=content_index,
                    text=part.text,
                    logprobs=[],
                    sequence_number=nxt(),
                )
                yield ResponseContentPartDoneEvent(
                    type="response.content_part.done",
                    item_id=item.id,
                    output_index=index,
                    content_index=content_index,
                    part=part,
                    sequence_number=nxt(),
                )
        elif isinstance(item, ResponseFunctionToolCall):
            item_id = item.id or item.call_id
            yield ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=item.model_copy(update={"arguments": "", "status": "in_progress"}),
                output_index=index,
                sequence_number=nxt(),
            )
            yield ResponseFunctionCallArgumentsDeltaEvent(
                type="response.function_call_arguments.delta",
                item_id=item_id,
                output_index=index,
                delta=item.arguments,
                sequence_number=nxt(),
            )
            # Older openai versions require "name" here; newer ones keep it as an extra.
            yield ResponseFunctionCallArgumentsDoneEvent.model_validate(
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": item_id,
                    "output_index": index,
                    "arguments": item.arguments,
                    "name": item.name,
                    "sequence_number": nxt(),
                }
            )
        yield ResponseOutputItemDoneEvent(
            type="response.output_item.done", item=item, output_index=index, sequence_number=nxt()
        )
    done = Response.model_validate(
        {**base, "output": [], "status": "completed", "usage": plan.response_usage()}
    )
    # Assigning after validation keeps the exact item objects that get_response would return.
    done.output = list(plan.items)
    yield ResponseCompletedEvent(type="response.completed", response=done, sequence_number=nxt())


class OfflineProvider(ModelProvider):
    """Maps every model name to an ``OfflineModel``; use as ``RunConfig(model_provider=...)``."""

    def __init__(self, default_model_name: str = "offline") -> None:
        self.default_model_name = default_model_name
        self.models: dict[str, OfflineModel] = {}

    def get_model(self, model_name: str | None) -> Model:
        name = model_name or self.default_model_name
        if name not in self.models:
            self.models[name] = OfflineModel(name)
        return self.models[name]
