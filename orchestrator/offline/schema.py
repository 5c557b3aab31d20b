"""Filling JSON schemas from the request: tool arguments, and structured outputs whose enums,
scores, confidences, verdict flags, strings and lists look plausible (``$ref``/``$defs`` too)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from .answers import critique
from .conversation import CallContext
from .text import (
    NEGATIVE,
    OFFLINE_PREFIX,
    POSITIVE,
    STOPWORDS,
    humanize,
    join_words,
    keywords,
    match_score,
    split_words,
    truncate,
)

_MAX_SCHEMA_DEPTH = 8
_ID_TOKEN_RE = re.compile(r"#?[A-Za-z]{0,6}-?\d[\w-]*")

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
_CATCH_ALL = ("general", "other", "neutral", "unknown", "misc", "none")


def tool_arguments(schema: dict[str, Any], ctx: CallContext) -> str:
    """JSON arguments for a tool: its required parameters only, filled from the request."""
    if not schema or not schema.get("required"):
        return "{}"
    value = _SchemaFiller(schema, ctx, for_tool=True).fill(schema)
    return json.dumps(value if isinstance(value, dict) else {}, ensure_ascii=False)


def structured_text(schema: dict[str, Any], ctx: CallContext) -> str:
    """A structured answer as JSON text; its confidence reflects whether an enum matched."""
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


def _has_part(name: str, prefixes: Sequence[str]) -> bool:
    """Whether a word of a field name (snake or camel case) starts with one of ``prefixes``."""
    parts = split_words(name)
    joined = "_".join(parts)
    return any(p in joined if "_" in p else any(w.startswith(p) for w in parts) for p in prefixes)


def _is_score_name(name: str) -> bool:
    return _has_part(name, _SCORE_NAMES)


class _SchemaFiller:
    """Builds a JSON value valid against a JSON schema, with values drawn from the request."""

    def __init__(
        self,
        root: dict[str, Any],
        ctx: CallContext,
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
                words = set(split_words(self.ctx.request))
                pos, neg = len(words & POSITIVE), len(words & NEGATIVE)
                self.enum_matched = self.enum_matched or pos != neg
                wanted = "positive" if pos > neg else "negative" if neg > pos else "neutral"
                if wanted in lowered:
                    return strings[lowered.index(wanted)]
            scores = [match_score(self.ctx.stems, v) for v in strings]
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
            words = [w for w in dict.fromkeys(words) if w.lower() not in STOPWORDS]
        if len(words) < count:
            extra = keywords(self.ctx.request, limit=count + 4) or self.ctx.keywords
            words.extend(w for w in extra if w not in words)
        while len(words) < count:
            words.append(f"{humanize(name) or 'item'} {len(words) + 1}")
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
        parts = set(split_words(lname))
        if parts & set(_ID_NAMES):
            for token in _ID_TOKEN_RE.findall(self.ctx.request):
                return str(token).lstrip("#")
            return "offline-1"
        return truncate(self.ctx.request, 200) or "offline"

    def _text(self, lname: str, index: int) -> str:
        ctx = self.ctx
        # Array elements start from different keywords so list items do not repeat.
        shift = index % len(ctx.keywords)
        words = ctx.keywords[shift:] + ctx.keywords[:shift]
        if _has_part(lname, _CRITIQUE_NAMES):
            return critique(ctx)
        if _has_part(lname, _REASON_NAMES):
            return f"{OFFLINE_PREFIX}Chosen because the request mentions {ctx.topic}."
        if _has_part(lname, _TITLE_NAMES):
            return OFFLINE_PREFIX + " ".join(w.capitalize() for w in words[:3])
        if lname == "id" or lname.endswith("_id"):
            return "offline-" + hashlib.sha256(ctx.request.encode()).hexdigest()[:8]
        label = humanize(lname) or "answer"
        return f"{OFFLINE_PREFIX}Placeholder {label} about {join_words(words[:3])}."

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
