"""Text helpers shared by the writers: durations, one-line previews of values, and removal of
the control characters that SVG (XML) and DOT cannot carry."""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def clean(text: str) -> str:
    """``text`` without characters XML 1.0 forbids (they would make the SVG unreadable)."""
    return _CONTROL.sub("\ufffd", text)


def one_line(value: Any, limit: int = 80) -> str:
    """``value`` as a single line of at most ``limit`` characters."""
    text = value if isinstance(value, str) else preview(value, limit * 2)
    text = " ".join(clean(text).split())
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def preview(value: Any, limit: int = 4000) -> str:
    """``value`` as JSON where it can be (models, dataclasses, enums), else its repr; cut to
    ``limit`` characters with a note of how long it was."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=_plain, ensure_ascii=False, indent=1)
        except (TypeError, ValueError):
            text = repr(value)
    text = clean(text)
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text):,} characters)"
    return text


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


def duration(seconds: float) -> str:
    """A short human duration: ``0.4 ms``, ``12 ms``, ``1.23 s``, ``2 min 03 s``."""
    if seconds < 0.001:
        return f"{seconds * 1000:.2f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def wrap(text: str, width: int = 40, lines: int = 3) -> list[str]:
    """``text`` wrapped to at most ``lines`` lines of ``width`` characters (the last cut)."""
    words = clean(text).split()
    out: list[str] = []
    line = ""
    for word in words:
        while len(word) > width:  # a long token (a path, a hash) is cut rather than overflow
            if line:
                out.append(line)
                line = ""
            out.append(word[:width])
            word = word[width:]
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        out.append(line)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: width - 1] + "…"
    return out
