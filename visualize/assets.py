"""The run report's stylesheet and script, inlined into every report so it opens from disk
with no network. The script only toggles classes: it never turns data into markup."""

from __future__ import annotations

CSS = """
:root { --ink:#0f172a; --muted:#64748b; --line:#e2e8f0; --blue:#1d4ed8; --red:#dc2626;
  --amber:#d97706; --orange:#ea580c; --bg:#f8fafc; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial,
  sans-serif; color: var(--ink); background: var(--bg); }
header.top { padding: 16px 24px; background: #fff; border-bottom: 1px solid var(--line); }
header.top h1 { margin: 0 0 6px; font-size: 20px; }
dl.facts { display: flex; flex-wrap: wrap; gap: 4px 20px; margin: 0; }
dl.facts div { display: flex; gap: 6px; } dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; font-weight: 600; }
nav { padding: 6px 24px; background: #fff; border-bottom: 1px solid var(--line);
  position: sticky; top: 0; z-index: 2; }
nav a { margin-right: 16px; color: var(--blue); text-decoration: none; }
main { padding: 8px 24px 40px; }
section { margin-top: 16px; } h2 { font-size: 16px; margin: 0 0 8px; }
.badge { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 12px;
  font-weight: 600; background: #e2e8f0; color: #334155; }
.badge.completed, .badge.done { background: #dcfce7; color: #166534; }
.badge.failed { background: #fee2e2; color: #991b1b; }
.badge.waiting { background: #fef3c7; color: #92400e; }
.badge.recovered { background: #ffedd5; color: #9a3412; }
.badge.running { background: #dbeafe; color: #1e40af; }
.badge.cached { background: #d1fae5; color: #065f46; }
.error-box { margin-top: 10px; padding: 8px 12px; border-left: 4px solid var(--red);
  background: #fef2f2; white-space: pre-wrap; word-break: break-word; }
.wait-box { margin-top: 10px; padding: 8px 12px; border-left: 4px solid var(--amber);
  background: #fffbeb; white-space: pre-wrap; word-break: break-word; }
.toolbar { display: flex; gap: 8px; align-items: center; margin-bottom: 6px; }
button { font: inherit; font-size: 12px; padding: 2px 10px; border: 1px solid #cbd5e1;
  border-radius: 6px; background: #fff; cursor: pointer; }
#diagram { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 8px;
  overflow: auto; }
#diagram.fit svg { max-width: 100%; height: auto; }
#diagram g.node { cursor: pointer; }
#diagram g.node.selected polygon, #diagram g.node.selected ellipse,
#diagram g.node.selected path { stroke: #f59e0b; stroke-width: 4px; }
.legend { color: var(--muted); font-size: 12px; margin: 6px 0 0; }
.legend span { margin-right: 14px; white-space: nowrap; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 4px; vertical-align: -1px; border: 2px solid; }
table.nodes { border-collapse: collapse; background: #fff; min-width: 60%; }
table.nodes th, table.nodes td { padding: 3px 10px; border-bottom: 1px solid var(--line);
  text-align: left; } table.nodes td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.nodes tr.pick { cursor: pointer; } table.nodes tr.pick:hover { background: #eff6ff; }
table.nodes tr.dimmed td { color: #94a3b8; }
.filter { margin: 6px 0; padding: 4px 10px; background: #fffbeb; border-radius: 6px; }
.step { display: grid; grid-template-columns: 110px 1fr; gap: 8px; padding: 8px 0;
  border-top: 1px solid var(--line); }
.step-head { color: var(--muted); font-size: 12px; } .step-head b { color: var(--ink);
  font-size: 14px; display: block; }
.lanes { display: flex; gap: 8px; overflow-x: auto; padding-bottom: 4px; }
.task { flex: 0 0 auto; min-width: 15em; max-width: 34em; background: #fff;
  border: 1px solid var(--line); border-left: 4px solid var(--blue); border-radius: 6px;
  padding: 6px 10px; }
.task.failed { border-left-color: var(--red); } .task.waiting { border-left-color: var(--amber); }
.task.cached { background: #f0fdf4; }
.task.recovered { border-left-color: var(--orange); } .task.more { border-left-color: #94a3b8;
  color: var(--muted); }
.task.muted { opacity: .25; } .step.muted { display: none; }
.task > header { display: flex; gap: 8px; align-items: baseline; cursor: pointer; }
.task .name { font-weight: 600; } .task .kind, .task .dur { color: var(--muted); font-size: 12px; }
.bar { position: relative; height: 4px; background: #f1f5f9; border-radius: 2px; margin: 4px 0; }
.bar span { position: absolute; top: 0; height: 4px; background: var(--blue); border-radius: 2px;
  min-width: 2px; }
.task.failed .bar span { background: var(--red); }
details summary { cursor: pointer; color: var(--muted); font-size: 12px; }
pre { margin: 2px 0; padding: 4px 6px; background: #f8fafc; border-radius: 4px; font-size: 12px;
  white-space: pre-wrap; word-break: break-word; max-height: 24em; overflow: auto; }
table.writes { border-collapse: collapse; width: 100%; } table.writes th { text-align: left;
  vertical-align: top; padding-right: 8px; font-weight: 600; white-space: nowrap; }
table.writes td.op { color: var(--muted); font-size: 12px; vertical-align: top;
  padding-right: 8px; }
ol.conversation { margin: 4px 0; padding-left: 18px; } ol.conversation li { margin: 3px 0; }
.item-kind { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: #6d28d9; }
.edges { grid-column: 2; color: var(--muted); font-size: 12px; }
.gap { color: var(--muted); background: repeating-linear-gradient(135deg, #f8fafc 0 8px,
  #f1f5f9 8px 16px); }
.note { color: var(--muted); font-size: 12px; }
"""

SCRIPT = """
(function () {
  "use strict";
  var diagram = document.getElementById("diagram");
  var timeline = document.getElementById("timeline");
  var banner = document.getElementById("filter");
  var bannerName = document.getElementById("filter-name");
  function titleOf(g) {
    var t = g.querySelector("title");
    return t ? t.textContent : "";
  }
  function select(name) {
    if (diagram) {
      var shapes = diagram.querySelectorAll("g.node");
      for (var i = 0; i < shapes.length; i++) {
        shapes[i].classList.toggle("selected", name !== null && titleOf(shapes[i]) === name);
      }
    }
    if (!timeline) { return; }
    var steps = timeline.querySelectorAll(".step");
    for (var s = 0; s < steps.length; s++) {
      var tasks = steps[s].querySelectorAll(".task[data-node]");
      var hits = 0;
      for (var k = 0; k < tasks.length; k++) {
        var match = name === null || tasks[k].getAttribute("data-node") === name;
        tasks[k].classList.toggle("muted", !match);
        if (match) { hits++; }
      }
      steps[s].classList.toggle("muted", name !== null && hits === 0);
    }
    if (banner) {
      banner.hidden = name === null;
      bannerName.textContent = name === null ? "" : name;
    }
  }
  if (diagram) {
    diagram.addEventListener("click", function (event) {
      var g = event.target.closest ? event.target.closest("g.node") : null;
      if (g) { select(titleOf(g)); }
    });
  }
  if (timeline) {
    timeline.addEventListener("click", function (event) {
      var head = event.target.closest ? event.target.closest(".task > header") : null;
      if (head) { select(head.parentNode.getAttribute("data-node")); }
    });
  }
  var rows = document.querySelectorAll("tr.pick");
  for (var r = 0; r < rows.length; r++) {
    rows[r].addEventListener("click", function () { select(this.getAttribute("data-node")); });
  }
  var clear = document.getElementById("clear");
  if (clear) { clear.addEventListener("click", function () { select(null); }); }
  var fit = document.getElementById("fit");
  if (fit && diagram) {
    fit.addEventListener("click", function () {
      var on = diagram.classList.toggle("fit");
      fit.textContent = on ? "Actual size" : "Fit to width";
    });
  }
  var expand = document.getElementById("expand");
  if (expand) {
    expand.addEventListener("click", function () {
      var all = document.querySelectorAll("#timeline details");
      var open = expand.getAttribute("data-open") !== "1";
      for (var d = 0; d < all.length; d++) { all[d].open = open; }
      expand.setAttribute("data-open", open ? "1" : "0");
      expand.textContent = open ? "Collapse all" : "Expand all";
    });
  }
  document.documentElement.setAttribute("data-ready", "1");
})();
"""
