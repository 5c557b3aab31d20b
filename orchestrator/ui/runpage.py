"""The page of one run: its facts and the actions on it (answer, resume, replay), the run
diagram, a step slider with the state at any step and a fork form, and the run report's node
table and timeline (parallel tasks side by side, writes, messages, tool calls, errors). The
parts a running run changes are rendered on their own too (`live_parts`), for the page's
live updates."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import visualize
from visualize import report
from visualize.errors import RendererUnavailable, RenderFailed
from visualize.text import preview

from ..ids import END, START
from ..replay import StepView
from .pages import badge, elapsed, esc, layout, run_url, started, token_input, value_text
from .workspace import RunData

_LEGEND = (
    ("visited / taken", "#1d4ed8", "#fff"),
    ("not taken", "#cbd5e1", "#f8fafc"),
    ("failed", "#dc2626", "#fee2e2"),
    ("waiting", "#d97706", "#fef3c7"),
    ("agent", "#6d28d9", "#ede9fe"),
    ("human", "#c2410c", "#fff7ed"),
)


def run_page(data: RunData, step: int | None, *, token: str, where: str) -> str:
    """The whole page; ``step`` is the one the slider shows (default: the last)."""
    record = data.record
    index = len(data.steps) - 1
    if step is not None:
        numbers = [v.step for v in data.steps]
        index = numbers.index(step) if step in numbers else index
    parts = live_parts(data, token)
    body = [
        f'<header class="top" id="run-header">{parts["run-header"]}</header>',
        '<nav><a href="/">Runs</a><a href="#diagram-section">Diagram</a>'
        '<a href="#step-section">Steps</a><a href="#timeline-section">Timeline</a>'
        '<a href="#state">State</a></nav>',
        "<main>",
    ]
    if data.result is not None:
        body += [
            '<section id="diagram-section"><h2>Diagram</h2>',
            '<div class="toolbar"><button type="button" id="fit">Fit to width</button>'
            '<span class="note">Click a node to show its tasks in the timeline.</span></div>',
            f'<div id="diagram">{parts["diagram"]}</div>',
            _legend(),
            "</section>",
            _slider(data, index, token),
            f'<div id="run-details">{parts["run-details"]}</div>',
        ]
    body.append("</main>")
    attrs = {
        "page": "run",
        "run-url": run_url(record.run_id),
        "status": record.status,
        "live": str(int(data.live)),
    }
    title = f"{record.graph} · run {record.run_id}"
    return layout(title, "\n".join(body), where=where, attrs=attrs)


def live_parts(data: RunData, token: str) -> dict[str, str]:
    """The inner HTML of the page's parts a running run changes, by element id."""
    parts = {"run-header": _header(data, token)}
    if data.result is not None:
        parts["diagram"] = diagram(data.graph, data.result)
        parts["run-details"] = _details(data)
    return parts


def last_step(data: RunData) -> int:
    return data.steps[-1].step if data.steps else 0


def diagram(graph: Any, run: Any) -> str:
    """The run drawn over its graph, as inline SVG (the DOT source when no renderer works)."""
    try:
        return report.sanitize_svg(visualize.to_svg(graph, run))
    except (RendererUnavailable, RenderFailed) as exc:
        return f'<p class="note">{esc(exc)}</p><pre>{esc(visualize.to_dot(graph, run))}</pre>'


# --- the header: facts and actions -------------------------------------------------------------


def _header(data: RunData, token: str) -> str:
    record = data.record
    url = run_url(record.run_id)
    facts = [
        ("run", f'<span class="mono">{esc(record.run_id)}</span>'),
        ("status", f'<span id="run-status">{badge(record.status)}</span>'),
        ("steps", str(record.steps)),
        ("started", started(record)),
        ("duration", elapsed(record)),
    ]
    if data.result is not None:
        tokens = sum(u.get("total_tokens", 0) for u in data.result.usage.values())
        if tokens:
            facts.append(("tokens", f"{tokens:,}"))
    if record.source:
        facts.append(("graph from", esc(record.source)))
    if record.parent_run:
        facts.append(
            (
                "forked from",
                f'<a class="mono" href="{run_url(record.parent_run)}">'
                f"{esc(record.parent_run)}</a> at step {record.parent_step}",
            )
        )
    if data.forks:
        links = ", ".join(
            f'<a class="mono" href="{run_url(f.run_id)}">{esc(f.run_id[:12])}</a> '
            f"(step {f.parent_step}, {esc(f.status)})"
            for f in data.forks
        )
        facts.append(("forks", f'<span id="run-forks">{links}</span>'))
    if data.steps and record.status not in ("completed", "failed"):
        following = data.steps[-1].next
        if following:
            facts.append(("next", esc(", ".join(following))))
    out = [
        f"<h1>{esc(record.graph)}</h1>",
        '<dl class="facts">',
        *(f"<div><dt>{esc(k)}</dt><dd>{v}</dd></div>" for k, v in facts),
        "</dl>",
    ]
    if data.result is not None:
        path = " → ".join(data.result.path) or "(nothing ran yet)"
        out.append(f'<p class="path">path: <span id="run-path">{esc(path)}</span></p>')
    if data.problem:
        out.append(f'<div class="error-box" id="run-problem">{esc(data.problem)}</div>')
    if record.status == "failed" and record.error:
        out.append(f'<div class="error-box" id="run-error">{esc(record.error)}</div>')
    if record.status == "waiting" and not data.live:
        out.append(_waits(data, url, token))
    actions = []
    if data.graph is not None and not data.live:
        actions.append(
            f'<form method="post" action="{url}/replay">{token_input(token)}'
            '<button type="submit" id="replay">Recorded replay</button></form>'
        )
        if record.status in ("failed", "interrupted"):
            actions.append(
                f'<form method="post" action="{url}/resume">{token_input(token)}'
                '<input type="hidden" name="action" value="continue">'
                '<button type="submit" class="primary" id="resume">Resume from the last step'
                "</button></form>"
            )
    if data.graph is not None:
        actions.append(f'<a href="{url}/report" id="report">Report (one HTML file)</a>')
    if data.live:
        actions.append('<span class="note" id="live-note">live: updates as steps are saved</span>')
    out.append(f'<div class="actions">{"".join(actions)}</div>')
    return "\n".join(out)


def _waits(data: RunData, url: str, token: str) -> str:
    waits = data.record.waiting
    if waits and all(_at_breakpoint(w) for w in waits):
        where = ", ".join(str(w.get("node")) for w in waits)
        return (
            f'<div class="wait-box" id="wait-breakpoint">paused at a breakpoint in '
            f"<b>{esc(where)}</b>"
            f'<form method="post" action="{url}/resume">{token_input(token)}'
            '<input type="hidden" name="action" value="continue">'
            '<button type="submit" class="primary" id="continue">Continue</button></form></div>'
        )
    out = []
    for wait in waits:
        node = str(wait.get("node", ""))
        task_id = wait.get("task_id")
        out.append(
            f'<div class="wait-box" data-node="{esc(node)}" data-task="{esc(task_id)}">'
            f"waiting in <b>{esc(node)}</b> for:"
            f'<pre class="request">{esc(_request(wait.get("request")))}</pre>'
            f'<form method="post" action="{url}/resume" class="answer">{token_input(token)}'
            f'<input type="hidden" name="task_id" value="{esc(task_id)}">'
            '<button type="submit" name="action" value="approve" class="good">Approve</button> '
            '<button type="submit" name="action" value="reject" class="bad">Reject</button>'
            f'<textarea name="value" rows="3" aria-label="answer for {esc(node)}" '
            'placeholder="Or write the answer: an edited value or feedback (JSON or text)">'
            "</textarea>"
            '<button type="submit" name="action" value="answer" class="primary">'
            "Send this answer</button></form></div>"
        )
    return "\n".join(out)


def _at_breakpoint(wait: Mapping[str, Any]) -> bool:
    request = wait.get("request")
    return isinstance(request, dict) and "breakpoint" in request


def _request(request: Any) -> str:
    """What an interrupt asks, in full: a human node's prompt as written, else JSON."""
    if isinstance(request, dict) and isinstance(request.get("prompt"), str):
        rest = {k: v for k, v in request.items() if k not in ("node", "prompt")}
        prompt: str = request["prompt"]
        return prompt + (f"\n{preview(rest, 100_000)}" if rest else "")
    return preview(request, 100_000)


# --- the step slider ---------------------------------------------------------------------------


def _slider(data: RunData, index: int, token: str) -> str:
    url = run_url(data.record.run_id)
    last = last_step(data)
    chosen = data.steps[index].step if data.steps else 0
    return "\n".join(
        [
            '<section id="step-section"><h2>State at a step</h2>',
            f'<form class="slider" id="step-form" method="get" action="{url}#step-section">'
            f'<label for="step-slider">step</label><input type="range" id="step-slider" '
            f'name="step" min="0" max="{last}" value="{chosen}">'
            f'<output id="step-number" for="step-slider">step {chosen}</output>'
            '<button type="submit" id="step-go">Show</button></form>',
            f'<div id="step-view" data-step="{chosen}">'
            f"{step_view(data, index, token) if data.steps else ''}</div>",
            "</section>",
        ]
    )


def step_view(data: RunData, index: int, token: str) -> str:
    """The state after one step, what changed in it, and a form to fork from it."""
    view = data.steps[index]
    before = data.steps[index - 1].state.model_dump(mode="json") if index > 0 else None
    state = view.state.model_dump(mode="json")
    ran = ", ".join(view.ran) or "(the input)"
    following = ", ".join(_name(n) for n in view.next) or "nothing: the run ends here"
    rows = []
    for name, value in state.items():
        changed = before is not None and before.get(name) != value
        was = "<td></td>"
        if changed and before is not None:
            was = f'<td class="was"><pre>{value_text(before.get(name))}</pre></td>'
        rows.append(
            f'<tr data-field="{esc(name)}"{" class=changed" if changed else ""}>'
            f"<th>{esc(name)}</th><td><pre>{value_text(value)}</pre></td>{was}</tr>"
        )
    writes = "".join(
        f"<li><b>{esc(node)}</b> wrote {esc(', '.join(update) or 'nothing')}</li>"
        for node, update in view.writes
    )
    return "\n".join(
        [
            f'<p class="step-line"><b>step {view.step}</b> · ran: {esc(ran)} · next: '
            f'<span class="next">{esc(following)}</span></p>',
            f"<ul class='writes'>{writes}</ul>" if writes else "",
            '<table class="state"><thead><tr><th>field</th>'
            f"<th>after step {view.step}</th><th>before it (when changed)</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>",
            _fork_form(data, view, state, token) if data.graph is not None else "",
        ]
    )


def _fork_form(data: RunData, view: StepView, state: Mapping[str, Any], token: str) -> str:
    fields = []
    for name, value in state.items():
        text = json.dumps(value, ensure_ascii=False, default=str)
        if len(text) > 80:
            text = json.dumps(value, ensure_ascii=False, default=str, indent=1)
        lines = min(8, max(1, text.count("\n") + 1, len(text) // 90 + 1))
        fields.append(
            f'<label for="set-{esc(name)}">{esc(name)}</label>'
            f'<textarea id="set-{esc(name)}" name="set.{esc(name)}" rows="{lines}">'
            f"{esc(text)}</textarea>"
        )
    return (
        f'<form method="post" action="{run_url(data.record.run_id)}/fork" id="fork-form">'
        f'{token_input(token)}<input type="hidden" name="step" value="{view.step}">'
        f"<h3>Fork from step {view.step}</h3>"
        '<p class="note">A new run goes on from this step, for real, with the fields you '
        "change here (JSON, or plain text for a string); this run is left as it is.</p>"
        f'<div class="fork-fields">{"".join(fields)}</div>'
        f'<button type="submit" class="primary" id="fork">Fork from step {view.step}</button>'
        "</form>"
    )


# --- the report's parts: usage, nodes, timeline, state ----------------------------------------


def _details(data: RunData) -> str:
    assert data.result is not None
    view = visualize.read_run(data.result)
    title = "Final state" if data.record.status == "completed" else "State now"
    return "\n".join(
        [
            _usage(data),
            report._node_table(data.graph, view),
            report._timeline(data.graph, view),
            f'<section id="state"><h2>{title}</h2>'
            f"<pre>{value_text(data.result.state, 20_000)}</pre></section>",
        ]
    )


def _usage(data: RunData) -> str:
    assert data.result is not None
    usage = data.result.usage
    if not usage:
        return ""
    rows = "".join(
        f'<tr><td>{esc(node)}</td><td class="num">{n.get("requests", 0):,}</td>'
        f'<td class="num">{n.get("input_tokens", 0):,}</td>'
        f'<td class="num">{n.get("output_tokens", 0):,}</td>'
        f'<td class="num">{n.get("total_tokens", 0):,}</td></tr>'
        for node, n in usage.items()
    )
    return (
        '<section id="usage"><h2>Model usage</h2><table class="nodes"><thead><tr><th>node</th>'
        "<th>requests</th><th>input tokens</th><th>output tokens</th><th>total</th></tr>"
        f"</thead><tbody>{rows}</tbody></table></section>"
    )


def _legend() -> str:
    swatches = "".join(
        f'<span><i class="swatch" style="border-color:{c};background:{b}"></i>{t}</span>'
        for t, c, b in _LEGEND
    )
    kinds = "<span>dashed purple: handoff · dashed red: on error</span>"
    return f'<p class="legend">{swatches}{kinds}</p>'


def _name(node: str) -> str:
    return {START: "start", END: "end"}.get(node, node)
