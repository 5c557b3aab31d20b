"""Word-level helpers for the offline model: splitting, stems, concepts, keyword overlap and
the ``[offline]`` label that every generated text carries."""

from __future__ import annotations

import re
from collections.abc import Sequence

OFFLINE_PREFIX = "[offline] "

_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*|\d+")


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split())


STOPWORDS = frozenset(
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

POSITIVE = frozenset(_split("good great love excellent happy amazing wonderful best like nice"))
NEGATIVE = frozenset(
    _split("bad terrible hate awful angry broken worst poor disappointed slow crash error")
)


def stem(word: str) -> str:
    """A crude suffix-stripping stem, enough for request and tool words to meet."""
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
        _CONCEPTS.setdefault(stem(_word), _tags)


def split_words(text: str) -> list[str]:
    """Lower-case words of ``text``, with snake_case and camelCase names split apart."""
    parts: list[str] = []
    for raw in _WORD_RE.findall(text):
        # Split snake_case and camelCase names so tool names match plain words.
        spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", raw).replace("_", " ").replace("-", " ")
        parts.extend(p.lower() for p in spaced.split() if p)
    return parts


def content_stems(text: str) -> list[str]:
    """Stems of the words that carry meaning, in order, without repeats."""
    seen: dict[str, None] = {}
    for w in split_words(text):
        if w in STOPWORDS or len(w) < 2 or w.isdigit():
            continue
        seen.setdefault(stem(w), None)
    return list(seen)


def keywords(text: str, limit: int = 4) -> list[str]:
    """The first ``limit`` words about the subject, skipping stopwords and task words."""
    seen: dict[str, None] = {}
    for w in split_words(text):
        if w in STOPWORDS or w in _META_WORDS or len(w) < 3 or w.isdigit():
            continue
        seen.setdefault(w, None)
        if len(seen) >= limit:
            break
    return list(seen)


def match_score(request_stems: Sequence[str], candidate_text: str) -> int:
    """Keyword overlap: 3 per exact stem, 2 per shared primary concept, 1 per shared concept."""
    cand = content_stems(candidate_text)
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


def truncate(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(0, limit - 3)].rstrip() + "..."


def join_words(words: Sequence[str]) -> str:
    if not words:
        return "your request"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]


def humanize(name: str) -> str:
    return " ".join(split_words(name)) or name
