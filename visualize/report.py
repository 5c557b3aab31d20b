"""The HTML run report: one self-contained file (inline CSS and script, no network) with the
run diagram, the nodes' totals, a timeline of steps whose parallel tasks sit side by side, and
for each task its writes, error, interrupt, and an agent's messages, tool calls and tokens.

Everything taken from the run (state, model output, errors, user input) is escaped; the page's
Content-Security-Policy allows only its own script, by hash, as a second line of defence.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from orchestrator.events import AgentItem, ModelCalled
from orchestrator.ids import END, START

from .assets import CSS, SCRIPT
from .dot import to_dot
from .errors import RendererUnavailable, RenderFailed
from .renderer import svg_from_dot
from .runview import RunView, read_run
from .text import duration, preview
from .timeline import Gap, StepRecord, TaskRecord, build_timeline, compact

MAX_TASKS_PER_STEP = 12
MAX_ITEMS_PER_TASK = 120
MAX_EDGES_PER_STEP = 12
VALUE_LIMIT = 2000

_SVG_NS = "http://www.w3.org/2000/svg"
_XLINK_NS = "http://www.w3.org/1999/xlink"


def report_html(graph: Any, run: Any = None) -> str:
    """The self-contained HTML report of ``run`` on ``graph`` (the static diagram alone when
    ``run`` is None). ``run`` is a `RunResult`, a stored run record or a list of events."""
    view = None if run is None else read_run(run)
    title = f"{graph.name} · run {view.run_id}" if view else f"{graph.name} · graph"
    body = [_header(graph, view), _nav(view), "<main>", _diagram(graph, view)]
    if view is not None:
        body += [_node_table(graph, view), _timeline(graph, view), _final_state(run)]
    body.append("</main>")
    script_hash = base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode()
    policy = (
        f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{script_hash}'"
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            f"<style>{CSS}</style>",
            "</head><body>",
            *body,
            f"<script>{SCRIPT}</script>",
            "</body></html>",
        ]
    )


# --- page parts ------------------------------------------------------------------------------


def _header(graph: Any, view: RunView | None) -> str:
    out = ['<header class="top">', f"<h1>{_e(graph.name)}</h1>", '<dl class="facts">']
    if view is None:
        out.append(_fact("nodes", str(len(graph.nodes))))
        out.append(_fact("edges", str(len(graph.edges))))
    else:
        out.append(_fact("run", view.run_id))
        out.append(
            _fact(
                "status",
                f'<span class="badge {_e(view.status)}">{_e(view.status)}</span>',
                raw=True,
            )
        )
        out.append(_fact("steps", str(view.steps)))
        if view.elapsed is not None:
            out.append(_fact("time", duration(view.elapsed)))
        if view.started_at is not None:
            started = dt.datetime.fromtimestamp(view.started_at, dt.UTC)
            out.append(_fact("started", started.strftime("%Y-%m-%d %H:%M:%S UTC")))
        if view.parent_run_id is not None:
            origin = view.parent_run_id
            if view.parent_step is not None:
                origin += f" at step {view.parent_step}"
            out.append(_fact("forked from", origin))
    out.append("</dl>")
    if view is not None and view.error:
        out.append(f'<div class="error-box" id="run-error">{_e(view.error)}</div>')
    if view is not None:
        waits = [(name, r) for name, s in view.nodes.items() for r in s.waiting]
        for name, request in waits:
            out.append(
                f'<div class="wait-box">waiting in <b>{_e(name)}</b>: {_e(_request(request))}</div>'
            )
    out.append("</header>")
    return "\n".join(out)


def _nav(view: RunView | None) -> str:
    links = [("diagram-section", "Diagram")]
    if view is not None:
        links += [("nodes", "Nodes"), ("timeline-section", "Timeline"), ("state", "Final state")]
    return "<nav>" + "".join(f'<a href="#{a}">{t}</a>' for a, t in links) + "</nav>"


def _diagram(graph: Any, view: RunView | None) -> str:
    source = to_dot(graph, view)
    try:
        drawing = sanitize_svg(svg_from_dot(source))
    except (RendererUnavailable, RenderFailed) as exc:
        drawing = (
            f'<p class="note">{_e(str(exc))}</p><p class="note">The diagram as DOT '
            f"source:</p><pre>{_e(source)}</pre>"
        )
    legend = "".join(
        f'<span><i class="swatch" style="border-color:{c};background:{b}"></i>{t}</span>'
        for t, c, b in (
            ("visited / taken", "#1d4ed8", "#fff"),
            ("not taken", "#cbd5e1", "#f8fafc"),
            ("failed", "#dc2626", "#fee2e2"),
            ("waiting", "#d97706", "#fef3c7"),
            ("cached", "#1d4ed8", "#ecfdf5"),
            ("error handled", "#ea580c", "#fff"),
            ("agent", "#6d28d9", "#ede9fe"),
            ("human", "#c2410c", "#fff7ed"),
            ("subgraph", "#0e7490", "#ecfeff"),
        )
    )
    return "\n".join(
        [
            '<section id="diagram-section"><h2>Diagram</h2>',
            '<div class="toolbar"><button type="button" id="fit">Fit to width</button>'
            '<span class="note">Click a node to show its tasks in the timeline.</span></div>',
            f'<div id="diagram">{drawing}</div>',
            f'<p class="legend">{legend}<span>dashed purple: handoff · dashed red: on error · '
            "dotted: cap exit · bold double arrow: fan-out · ≤ n: cap</span></p>",
            "</section>",
        ]
    )


def _node_table(graph: Any, view: RunView) -> str:
    rows = []
    for name, node in graph.nodes.items():
        stats = view.stats(name)
        state = (
            "failed"
            if stats.failed
            else "waiting"
            if stats.waiting
            else "recovered"
            if stats.recovered
            else "done"
            if stats.visits
            else ""
        )
        mean = duration(stats.duration / stats.visits) if stats.visits else ""
        cells = [
            f"<td>{_e(name)}</td>",
            f"<td>{_e(str(node.kind))}</td>",
            f'<td class="num">{stats.visits}</td>',
            f'<td class="num">{duration(stats.duration) if stats.visits else ""}</td>',
            f'<td class="num">{mean}</td>',
            f'<td class="num">{stats.retries or ""}</td>',
            f'<td class="num">{stats.cached or ""}</td>',
            f'<td class="num">{f"{stats.tokens:,}" if stats.tokens else ""}</td>',
            f'<td><span class="badge {state}">{state}</span></td>' if state else "<td></td>",
        ]
        dimmed = "" if stats.visits else " dimmed"
        rows.append(f'<tr class="pick{dimmed}" data-node="{_e(name)}">{"".join(cells)}</tr>')
    head = "".join(
        f"<th>{h}</th>"
        for h in ("node", "kind", "visits", "total time", "mean", "retries", "cached", "tokens", "")
    )
    return (
        f'<section id="nodes"><h2>Nodes</h2><table class="nodes"><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _timeline(graph: Any, view: RunView) -> str:
    steps = build_timeline(view.events)
    t0 = view.started_at
    span = view.elapsed or 0.0
    reducers = getattr(getattr(graph, "schema", None), "reducers", {}) or {}
    out = [
        '<section id="timeline-section"><h2>Timeline</h2>',
        '<div class="toolbar"><button type="button" id="expand">Expand all</button>'
        '<span class="note">One row per step; tasks of a step ran side by side; the bar shows '
        "when each ran within the whole run.</span></div>",
        '<div class="filter" id="filter" hidden>Showing the tasks of <b id="filter-name"></b> '
        '<button type="button" id="clear">Show all</button></div>',
        '<div id="timeline">',
    ]
    for item in compact(steps):
        if isinstance(item, Gap):
            out.append(_gap(item))
        else:
            out.append(_step(graph, item, t0, span, reducers))
    out.append("</div></section>")
    return "\n".join(out)


def _step(
    graph: Any, record: StepRecord, t0: float | None, span: float, reducers: Mapping[str, Any]
) -> str:
    when = ""
    starts = [t.at for t in record.tasks if t.at is not None]
    if starts and t0 is not None:
        when = f"+{duration(min(starts) - t0)}"
    name = "start" if record.step == 0 else f"step {record.step}"
    lanes = [_task(graph, t, t0, span, reducers) for t in record.tasks[:MAX_TASKS_PER_STEP]]
    rest = record.tasks[MAX_TASKS_PER_STEP:]
    if rest:
        counts: dict[str, int] = {}
        for task in rest:
            counts[task.node] = counts.get(task.node, 0) + 1
        total = sum(t.duration or 0.0 for t in rest)
        lanes.append(
            f'<article class="task more"><header><span class="name">+{len(rest)} more'
            f"</span></header><div>{_e(_counts(counts))} · {duration(total)}</div>"
            "</article>"
        )
    return "".join(
        [
            f'<section class="step" data-step="{record.step}">',
            f'<div class="step-head"><b>{name}</b>{_e(when)}</div>',
            f'<div class="lanes">{"".join(lanes)}</div>',
            _edges(record),
            "</section>",
        ]
    )


def _task(
    graph: Any, task: TaskRecord, t0: float | None, span: float, reducers: Mapping[str, Any]
) -> str:
    node = graph.nodes.get(task.node)
    kind = str(node.kind) if node is not None else ""
    dur = duration(task.duration) if task.duration is not None else ""
    bar = ""
    if task.at is not None and t0 is not None and span > 0:
        left = min(100.0, max(0.0, (task.at - t0) / span * 100))
        width = min(100.0 - left, max(0.4, (task.duration or 0.0) / span * 100))
        bar = f'<div class="bar"><span style="left:{left:.2f}%;width:{width:.2f}%"></span></div>'
    body, summary = _task_body(task, reducers)
    cached = " cached" if task.cached else ""
    return "".join(
        [
            f'<article class="task {task.status}{cached}" data-node="{_e(task.node)}" '
            f'data-task="{task.task_id}">',
            f'<header><span class="name">{_e(task.node)}</span><span class="kind">{_e(kind)}</span>'
            f'<span class="badge {task.status}">{task.status}</span>'
            + ('<span class="badge cached">cached</span>' if task.cached else "")
            + f'<span class="dur">{dur}</span></header>',
            bar,
            f"<details><summary>{_e(summary)}</summary>{body}</details>" if body else "",
            "</article>",
        ]
    )


def _task_body(task: TaskRecord, reducers: Mapping[str, Any]) -> tuple[str, str]:
    parts: list[str] = []
    summary: list[str] = []
    if task.cached:
        parts.append('<div class="note">answered from the node cache: the node did not run</div>')
        summary.append("cached")
    if task.error:
        parts.append(f'<div class="error-box">{_e(task.error)}</div>')
        summary.append("error")
    if task.status == "waiting":
        parts.append(f'<div class="wait-box">waits for: {_e(_request(task.request))}</div>')
        summary.append("waiting for input")
    if task.retries:
        parts.append("<div>retries:<pre>" + _e("\n".join(task.retries)) + "</pre></div>")
        summary.append(f"{len(task.retries)} retr{'ies' if len(task.retries) > 1 else 'y'}")
    if task.update:
        rows = []
        for key, value in task.update.items():
            reducer = reducers.get(key)
            op = getattr(reducer, "name", None) or ("set" if reducer is None else "reduce")
            rows.append(
                f'<tr><th>{_e(str(key))}</th><td class="op">{_e(op)}</td>'
                f"<td><pre>{_e(preview(value, VALUE_LIMIT))}</pre></td></tr>"
            )
        parts.append(f'<table class="writes">{"".join(rows)}</table>')
        summary.append(
            f"writes {', '.join(map(str, list(task.update)[:4]))}"
            + ("…" if len(task.update) > 4 else "")
        )
    if isinstance(task.detail, dict) and "path" in task.detail:
        parts.append(
            f'<div class="note">subgraph run {_e(str(task.detail.get("run_id", "")))}'
            f": {_e(' → '.join(map(str, task.detail['path'][:40])))}</div>"
        )
    if task.conversation:
        parts.append(_conversation(task.conversation))
        usage = task.usage
        messages = sum(1 for i in task.conversation if isinstance(i, AgentItem))
        summary.append(f"{messages} item{'s' * (messages != 1)}")
        if usage.get("total_tokens"):
            summary.append(f"{usage['total_tokens']:,} tokens")
    return "".join(parts), " · ".join(summary) or "details"


def _conversation(items: list[AgentItem | ModelCalled]) -> str:
    out = ['<ol class="conversation">']
    for item in items[:MAX_ITEMS_PER_TASK]:
        if isinstance(item, ModelCalled):
            usage = item.usage
            tokens = (
                f"{usage.get('input_tokens', 0):,} in / {usage.get('output_tokens', 0):,} "
                f"out tokens"
            )
            offline = " · offline model" if item.offline else ""
            out.append(
                f'<li class="call"><span class="item-kind">model call</span> '
                f"{_e(item.agent)} → {_e(item.model)} · {tokens} · "
                f"{duration(item.duration)}{offline}</li>"
            )
        else:
            name = f" <b>{_e(item.name)}</b>" if item.name else ""
            out.append(
                f'<li class="item {_e(item.kind)}"><span class="item-kind">'
                f"{_e(item.kind.replace('_', ' '))}</span> {_e(item.agent)}{name}"
                f"<pre>{_e(preview(item.content, VALUE_LIMIT))}</pre></li>"
            )
    if len(items) > MAX_ITEMS_PER_TASK:
        out.append(f'<li class="note">{len(items) - MAX_ITEMS_PER_TASK} more not shown</li>')
    out.append("</ol>")
    return "".join(out)


def _edges(record: StepRecord) -> str:
    if not record.edges:
        return ""
    shown = []
    for (source, target, kind, label), count in list(record.edges.items())[:MAX_EDGES_PER_STEP]:
        text = f"{_name(source)} → {_name(target)}"
        if label and kind != "normal":
            text += f" ({label})"
        if count > 1:
            text += f" ×{count}"
        shown.append(_e(text))
    more = len(record.edges) - MAX_EDGES_PER_STEP
    if more > 0:
        shown.append(f"{more} more")
    return f'<div class="edges">then: {", ".join(shown)}</div>'


def _gap(gap: Gap) -> str:
    failed = f" · {gap.failures} failures" if gap.failures else ""
    return (
        f'<section class="step gap" data-step="{gap.first}-{gap.last}">'
        f'<div class="step-head"><b>steps {gap.first}–{gap.last}</b></div>'
        f"<div>{gap.steps} steps not shown: {_e(_counts(gap.visits))} · "
        f"{duration(gap.duration)} of node time{failed}. The Nodes table counts them.</div>"
        "</section>"
    )


def _final_state(run: Any) -> str:
    state = getattr(run, "state", None)
    if state is None:
        return ""
    return (
        f'<section id="state"><h2>Final state</h2><pre>{_e(preview(state, 20_000))}</pre></section>'
    )


# --- helpers -----------------------------------------------------------------------------------


def sanitize_svg(svg: str) -> str:
    """Graphviz's SVG as an inline element: parsed and re-serialized (so it is well formed and
    all text escaped), without prolog, comments, scripts, event handlers or outside links."""
    ET.register_namespace("xlink", _XLINK_NS)  # the conventional prefix, not ns0
    root = ET.fromstring(svg)
    for parent in list(root.iter()):
        if isinstance(parent.tag, str) and parent.tag.startswith(f"{{{_SVG_NS}}}"):
            parent.tag = parent.tag[len(_SVG_NS) + 2 :]  # plain names, as HTML writes them
        for child in list(parent):
            tag = child.tag.rsplit("}", 1)[-1] if isinstance(child.tag, str) else ""
            if tag in ("script", "foreignObject", "iframe", "object", "embed"):
                parent.remove(child)
        for key in list(parent.attrib):
            local = key.rsplit("}", 1)[-1].lower()
            value = parent.attrib[key].strip().lower()
            if local.startswith("on") or (local == "href" and not value.startswith("#")):
                del parent.attrib[key]
    root.set("xmlns", _SVG_NS)
    return str(ET.tostring(root, encoding="unicode"))


def _request(request: Any) -> str:
    """What an interrupt asks for: a human node's prompt as written, anything else as JSON."""
    if isinstance(request, dict) and isinstance(request.get("prompt"), str):
        rest = {k: v for k, v in request.items() if k not in ("node", "prompt")}
        prompt: str = request["prompt"]
        return prompt + (f" {preview(rest, VALUE_LIMIT)}" if rest else "")
    return preview(request, VALUE_LIMIT)


def _fact(name: str, value: str, raw: bool = False) -> str:
    return f"<div><dt>{_e(name)}</dt><dd>{value if raw else _e(value)}</dd></div>"


def _counts(counts: Mapping[str, int]) -> str:
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{name} ×{n}" for name, n in ordered[:8])
    return text + (f", {len(ordered) - 8} more nodes" if len(ordered) > 8 else "")


def _name(node: str) -> str:
    return {START: "start", END: "end"}.get(node, node)


_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _e(text: str) -> str:
    """HTML-escape (quotes included), dropping control characters."""
    return html.escape(_UNSAFE.sub("\ufffd", text), quote=True)
