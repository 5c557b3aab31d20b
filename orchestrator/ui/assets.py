"""The web UI's stylesheet and script, inlined into every page (no CDN, no network). The
script fetches fragments the server rendered (and escaped) and puts them in place; it never
turns data into markup itself. The run report's stylesheet comes first, so a run page reads
like a report."""

from __future__ import annotations

import base64
import hashlib

from visualize.assets import CSS as REPORT_CSS

CSS = (
    REPORT_CSS
    + """
.topbar { display: flex; gap: 18px; align-items: baseline; padding: 8px 24px; background: #0f172a;
  color: #cbd5e1; font-size: 13px; }
.topbar a.home { color: #fff; font-weight: 700; text-decoration: none; font-size: 15px; }
.topbar .where { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
a { color: var(--blue); }
.mono, table.runs td.run { font-family: ui-monospace, SFMono-Regular, Menlo, monospace;
  font-size: 12px; }
form.filters { display: flex; gap: 12px; align-items: center; margin: 12px 0; }
select, input, textarea { font: inherit; font-size: 13px; }
table.runs { border-collapse: collapse; background: #fff; width: 100%; }
table.runs th, table.runs td { padding: 4px 10px; border-bottom: 1px solid var(--line);
  text-align: left; white-space: nowrap; }
table.runs td.num, table.runs th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.runs tr:hover { background: #eff6ff; }
table.runs .fork-mark { color: var(--muted); margin-right: 4px; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-top: 10px; }
.actions form { margin: 0; }
button.primary { background: var(--blue); border-color: var(--blue); color: #fff; }
button.good { background: #15803d; border-color: #15803d; color: #fff; }
button.bad { background: #b91c1c; border-color: #b91c1c; color: #fff; }
button { padding: 4px 12px; font-size: 13px; }
.wait-box pre.request { background: #fff; max-height: 30em; }
.wait-box form { margin-top: 6px; }
.wait-box textarea { width: 100%; max-width: 48em; display: block; margin: 6px 0; }
textarea { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px;
  padding: 4px 6px; border: 1px solid #cbd5e1; border-radius: 4px; }
.slider { display: flex; gap: 12px; align-items: center; margin-bottom: 8px; }
.slider input[type=range] { flex: 1; max-width: 640px; }
.slider output { font-weight: 700; min-width: 6em; }
#step-view { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 8px 12px; }
table.state { border-collapse: collapse; width: 100%; margin: 6px 0; table-layout: fixed; }
table.state thead th:first-child { width: 12em; } table.state thead th:nth-child(2) { width: 55%; }
table.state th, table.state td { text-align: left; vertical-align: top; padding: 3px 8px;
  border-bottom: 1px solid var(--line); }
table.state tr.changed { background: #eff6ff; } table.state tr.changed th { color: var(--blue); }
table.state td.was pre { color: var(--muted); }
.fork-fields { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 4px 10px;
  margin: 6px 0; }
.fork-fields label { font-weight: 600; padding-top: 4px; }
.fork-fields textarea { width: 100%; }
.verdict { margin-top: 10px; padding: 8px 12px; border-left: 4px solid; font-weight: 600; }
.verdict.matched { border-color: #15803d; background: #f0fdf4; }
.verdict.diverged { border-color: var(--red); background: #fef2f2; }
table.compare { border-collapse: collapse; background: #fff; }
table.compare th, table.compare td { padding: 3px 10px; border-bottom: 1px solid var(--line);
  text-align: left; }
table.compare tr.diverged { background: #fee2e2; font-weight: 600; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
"""
)

SCRIPT = """
(function () {
  "use strict";
  var body = document.body;
  var runUrl = body.getAttribute("data-run-url");

  function byId(id) { return document.getElementById(id); }
  function titleOf(g) {
    var t = g.querySelector("title");
    return t ? t.textContent : "";
  }
  function select(name) {
    var diagram = byId("diagram"), timeline = byId("timeline"), banner = byId("filter");
    if (diagram) {
      var shapes = diagram.querySelectorAll("g.node");
      for (var i = 0; i < shapes.length; i++) {
        shapes[i].classList.toggle("selected", name !== null && titleOf(shapes[i]) === name);
      }
    }
    if (timeline) {
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
    }
    if (banner) {
      banner.hidden = name === null;
      byId("filter-name").textContent = name === null ? "" : name;
    }
  }
  document.addEventListener("click", function (event) {
    var t = event.target;
    if (!t || !t.closest) { return; }
    var g = t.closest("#diagram g.node");
    if (g) { select(titleOf(g)); return; }
    var head = t.closest("#timeline .task > header");
    if (head) { select(head.parentNode.getAttribute("data-node")); return; }
    var row = t.closest("tr.pick");
    if (row) { select(row.getAttribute("data-node")); return; }
    if (t.closest("#clear")) { select(null); return; }
    var fit = t.closest("#fit");
    if (fit) {
      var on = byId("diagram").classList.toggle("fit");
      fit.textContent = on ? "Actual size" : "Fit to width";
      return;
    }
    var expand = t.closest("#expand");
    if (expand) {
      var open = expand.getAttribute("data-open") !== "1";
      var all = document.querySelectorAll("#timeline details");
      for (var d = 0; d < all.length; d++) { all[d].open = open; }
      expand.setAttribute("data-open", open ? "1" : "0");
      expand.textContent = open ? "Collapse all" : "Expand all";
    }
  });

  // The step slider: the state at the chosen step, as the server renders it.
  var slider = byId("step-slider");
  var shown = byId("step-number");
  var asked = 0;
  var pending = null;
  function showStep(step) {
    var ticket = ++asked;
    fetch(runUrl + "/step/" + encodeURIComponent(step), {credentials: "same-origin"})
      .then(function (r) { return r.text(); })
      .then(function (text) {
        if (ticket !== asked) { return; }
        var view = byId("step-view");
        view.innerHTML = text;
        view.setAttribute("data-step", String(step));
      });
  }
  if (slider) {
    var go = byId("step-go");
    if (go) { go.hidden = true; }
    slider.addEventListener("input", function () {
      shown.textContent = "step " + slider.value;
      if (pending !== null) { clearTimeout(pending); }
      pending = setTimeout(function () { pending = null; showStep(slider.value); }, 80);
    });
  }

  // A running run: its steps are pushed as they are checkpointed.
  if (runUrl && body.getAttribute("data-live") === "1" && window.EventSource) {
    var source = new EventSource(runUrl + "/live");
    source.addEventListener("run", function (event) {
      var data = JSON.parse(event.data);
      var parts = data.parts;
      for (var id in parts) {
        if (Object.prototype.hasOwnProperty.call(parts, id) && byId(id)) {
          byId(id).innerHTML = parts[id];
        }
      }
      body.setAttribute("data-status", data.status);
      if (slider) {
        var following = slider.value === slider.max;
        slider.max = String(data.last_step);
        if (following && slider.value !== String(data.last_step)) {
          slider.value = String(data.last_step);
          shown.textContent = "step " + slider.value;
          showStep(slider.value);
        }
      }
    });
    source.addEventListener("end", function () {
      source.close();
      body.setAttribute("data-live", "0");
    });
  }

  // The runs list, while some run is running: the table again every second and a half.
  var runs = byId("runs");
  if (runs && body.getAttribute("data-live") === "1") {
    var timer = setInterval(function () {
      var url = location.pathname + location.search + (location.search ? "&" : "?") + "part=table";
      fetch(url, {credentials: "same-origin"}).then(function (r) {
        if (r.headers.get("X-Live") === "0") { clearInterval(timer); }
        return r.text();
      }).then(function (text) { runs.innerHTML = text; });
    }, 1500);
  }
  document.documentElement.setAttribute("data-ready", "1");
})();
"""

SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode()

#: Every page's Content-Security-Policy: its own script only (by hash), requests back to this
#: server only, no frames, forms post here only.
POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    f"script-src 'sha256-{SCRIPT_HASH}'; connect-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
