"""The web UI's pages as HTML text: the frame every page shares, the runs list, a recorded
replay's verdict and the message of a request that could not be served. The run page is in
`runpage`. Everything from a run, a model or a person is escaped here (`esc`)."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from visualize.text import duration, preview

from ..events import StepStarted
from ..records import RunRecord
from ..replay import ReplayReport
from .assets import CSS, SCRIPT
from .workspace import LIVE, STATUSES, RunData, RunRow

VALUE_LIMIT = 4000

_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def esc(text: object) -> str:
    """HTML-escaped text (quotes included), control characters dropped."""
    return html.escape(_UNSAFE.sub("\ufffd", str(text)), quote=True)


def run_url(run_id: str) -> str:
    return "/runs/" + quote(run_id, safe="")


def layout(title: str, body: str, *, where: str, attrs: Mapping[str, str] | None = None) -> str:
    """A whole page: the shared bar, ``body``, the stylesheet and the script, inline."""
    data = "".join(f' data-{k}="{esc(v)}"' for k, v in (attrs or {}).items())
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(title)}</title>",
            '<link rel="icon" href="data:,">',  # no request for /favicon.ico
            f"<style>{CSS}</style>",
            f"</head><body{data}>",
            '<div class="topbar"><a class="home" href="/">orchestrator</a>'
            f'<span>runs in <span class="where">{esc(where)}</span></span></div>',
            body,
            f"<script>{SCRIPT}</script>",
            "</body></html>",
        ]
    )


def token_input(token: str) -> str:
    return f'<input type="hidden" name="token" value="{esc(token)}">'


def badge(status: str) -> str:
    return f'<span class="badge {esc(status)}">{esc(status)}</span>'


def started(record: RunRecord) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))


def elapsed(record: RunRecord) -> str:
    """How long the run went on: until now while it runs, else until its last update."""
    end = time.time() if record.status in LIVE else record.updated
    return duration(max(0.0, end - record.created))


def value_text(value: Any, limit: int = VALUE_LIMIT) -> str:
    return esc(preview(value, limit))


# --- the runs list -----------------------------------------------------------------------------


def runs_page(
    rows: Sequence[RunRow],
    graphs: Sequence[str],
    *,
    status: str | None,
    graph: str | None,
    where: str,
    live: bool,
) -> str:
    def options(values: Sequence[str], chosen: str | None, every: str) -> str:
        out = [f'<option value="">{every}</option>']
        for value in values:
            mark = " selected" if value == chosen else ""
            out.append(f'<option value="{esc(value)}"{mark}>{esc(value)}</option>')
        return "".join(out)

    filters = (
        '<form class="filters" method="get" action="/">'
        f'<label>status <select name="status" id="filter-status">'
        f"{options(STATUSES, status, 'any status')}</select></label>"
        f'<label>graph <select name="graph" id="filter-graph">'
        f"{options(graphs, graph, 'any graph')}</select></label>"
        '<button type="submit" id="filter-go">Filter</button>'
        + ('<a href="/">clear</a>' if status or graph else "")
        + "</form>"
    )
    body = (
        '<main><h2>Runs</h2><p class="note">Newest first; each fork is listed under the run '
        "it was forked from. Open a run to watch it, step through its states, fork, answer "
        f"or replay it.</p>{filters}"
        f'<div id="runs">{runs_table(rows)}</div></main>'
    )
    return layout(
        "orchestrator · runs", body, where=where, attrs={"page": "runs", "live": str(int(live))}
    )


def runs_table(rows: Sequence[RunRow]) -> str:
    if not rows:
        return '<p class="note" id="no-runs">No runs to show.</p>'
    head = "".join(
        f"<th{' class=num' if n else ''}>{t}</th>"
        for t, n in (
            ("run", 0),
            ("graph", 0),
            ("status", 0),
            ("started", 0),
            ("duration", 1),
            ("steps", 1),
            ("tokens", 1),
            ("forked from", 0),
        )
    )
    lines = []
    for row in rows:
        r = row.record
        indent = f' style="padding-left:{10 + 22 * row.depth}px"' if row.depth else ""
        mark = '<span class="fork-mark">└</span>' if row.depth else ""
        origin = ""
        if r.parent_run:
            origin = (
                f'<a class="mono" href="{run_url(r.parent_run)}">{esc(r.parent_run[:12])}</a> '
                f"at step {r.parent_step}"
            )
        lines.append(
            f'<tr data-run="{esc(r.run_id)}" data-status="{esc(r.status)}" '
            f'data-depth="{row.depth}">'
            f'<td class="run"{indent}>{mark}<a href="{run_url(r.run_id)}">{esc(r.run_id)}</a></td>'
            f"<td>{esc(r.graph)}</td><td>{badge(r.status)}</td><td>{started(r)}</td>"
            f'<td class="num">{elapsed(r)}</td><td class="num">{r.steps}</td>'
            f'<td class="num">{f"{row.tokens:,}" if row.tokens else ""}</td><td>{origin}</td></tr>'
        )
    return (
        f'<table class="runs"><thead><tr>{head}</tr></thead><tbody>{"".join(lines)}</tbody></table>'
    )


# --- a recorded replay -------------------------------------------------------------------------


def replay_page(data: RunData, report: ReplayReport, diagram: str, *, where: str) -> str:
    record = data.record
    if report.matched:
        verdict = (
            f'<div class="verdict matched" id="replay-verdict">matched the original at every '
            f"one of its {report.steps} steps</div>"
        )
    else:
        verdict = (
            f'<div class="verdict diverged" id="replay-verdict">diverged at step '
            f"{report.diverged_at} ({esc(report.reason or '')})</div>"
        )
    facts = [
        ("steps replayed", str(report.steps)),
        ("model answers from the recording", str(report.recorded_answers)),
        ("model calls", str(report.model_calls)),
        ("replay ended", str(report.result.status)),
    ]
    out = [
        '<header class="top">',
        f"<h1>Recorded replay of run <a class='mono' href='{run_url(record.run_id)}'>"
        f"{esc(record.run_id)}</a></h1>",
        "<p class=\"note\">The graph's code ran again from the run's input; every model call "
        "and every answer to an interrupt came from the recording.</p>",
        '<dl class="facts">',
        *(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts),
        "</dl>",
        verdict,
        "</header><main>",
    ]
    if not report.matched:
        out += [
            '<section id="divergence"><h2>Where it diverged</h2>',
            f"<p>At step <b id='diverged-step'>{report.diverged_at}</b>: "
            f"<span id='diverged-reason'>{esc(report.reason or '')}</span></p>",
            '<div class="two"><div><h3>expected (the stored run)</h3>'
            f'<pre id="expected">{esc(_divergence(report.expected))}</pre></div>'
            "<div><h3>actual (the replay)</h3>"
            f'<pre id="actual">{esc(_divergence(report.actual))}</pre></div></div>',
            "</section>",
        ]
    if report.notes:
        notes = "".join(f"<li>{esc(note)}</li>" for note in report.notes)
        out.append(f'<section id="notes"><h2>Notes</h2><ul>{notes}</ul></section>')
    out.append(_compare(data, report))
    out.append(
        f'<section id="diagram-section"><h2>The replay</h2><div id="diagram">{diagram}</div>'
        "</section></main>"
    )
    return layout(f"replay of {record.run_id}", "\n".join(out), where=where)


def _divergence(value: Any) -> str:
    """What a step did, as the replay compares it: the nodes it ran, or each node's update
    on a line of its own."""
    if value is None:
        return "(no such step)"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "ran: " + (", ".join(value) or "nothing")
    pairs = isinstance(value, list) and all(
        isinstance(v, (list, tuple)) and len(v) == 2 and isinstance(v[0], str) for v in value
    )
    if pairs:
        return "\n".join(
            f"{node} wrote {json.dumps(update, ensure_ascii=False, default=str)}"
            for node, update in value
        )
    return preview(value, VALUE_LIMIT)


def _compare(data: RunData, report: ReplayReport) -> str:
    original = {view.step: view.ran for view in data.steps if view.step > 0}
    replayed = {e.step: list(e.tasks) for e in report.result.events if isinstance(e, StepStarted)}
    rows = []
    for step in sorted(set(original) | set(replayed)):
        mark = ' class="diverged"' if step == report.diverged_at else ""
        rows.append(
            f'<tr data-step="{step}"{mark}><td>{step}</td>'
            f"<td>{esc(', '.join(original.get(step, [])) or '—')}</td>"
            f"<td>{esc(', '.join(replayed.get(step, [])) or '—')}</td></tr>"
        )
    return (
        '<section id="steps"><h2>Step by step</h2><table class="compare"><thead><tr>'
        "<th>step</th><th>stored run ran</th><th>replay ran</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


# --- problems ----------------------------------------------------------------------------------


def problem_page(status: int, message: str, *, where: str) -> str:
    body = (
        f"<main><h2>{status} · {esc(_REASONS.get(status, 'cannot do that'))}</h2>"
        f'<div class="error-box" id="problem">{esc(message)}</div>'
        '<p><a href="/">back to the runs</a></p></main>'
    )
    return layout(f"orchestrator · {status}", body, where=where, attrs={"page": "problem"})


_REASONS = {
    400: "bad input",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    409: "cannot do that to this run",
    413: "too large",
    415: "unsupported form",
    500: "server error",
}
