"""The web UI in a real headless browser, served by uvicorn on 127.0.0.1: the runs list and
its filter, a running run watched to its end without a reload (the diagram lighting up), the
state at a step from the slider, a fork whose edit takes the other route, an approval, and a
recorded replay that diverged — with no script error and no injected script run.

Screenshots go to the test's tmp dir; ``ORCHESTRATOR_UI_SCREENSHOTS=docs`` (set by hand, once)
also writes ``docs/ui-runs.png`` and ``docs/ui-run.png``.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from orchestrator.run import RunOptions
from orchestrator.store import SQLiteStore
from tests.fixtures_visualize import graphs as fixtures
from tests.test_ui import HOSTILE, gated_graph, scorer_graph, signoff_graph, trip_graph

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
ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 15_000  # ms, for what a page waits on


@dataclass
class Served:
    """A UI server on 127.0.0.1 over a store holding one run of each kind the tests drive."""

    url: str
    db: Path
    runs: dict[str, str]
    entered: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)
    gated: Any = None


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from orchestrator.cli import parse_input
    from orchestrator.offline import OfflineProvider
    from orchestrator.source import load_graph
    from orchestrator.ui.server import bind, server, url_of

    db = tmp_path_factory.mktemp("ui") / "runs.db"
    store = str(db)
    # Stored before the browser starts: Playwright's sync API keeps an event loop running.
    triage = load_graph("graphs.triage:graph")
    runs = {
        "trip": trip_graph().run_sync({"mode": "a", "note": "first"}, store=store).run_id,
        "signoff": signoff_graph().run_sync({"task": HOSTILE}, store=store).run_id,
        "scorer": scorer_graph(factor=1).run_sync({"text": "hello"}, store=store).run_id,
        "fan_out": fixtures.fan_out().run_sync({"items": ["a", "b", "c"]}, store=store).run_id,
        "triage": triage.run_sync(
            parse_input(triage, "Where is my order 123? It has not arrived."),
            store=store,
            model_provider=OfflineProvider(),
            options=RunOptions(source="graphs.triage:graph"),  # found by its source
        ).run_id,
    }
    entered, gate = threading.Event(), threading.Event()
    gated = gated_graph(entered, gate)
    graphs = [trip_graph(), signoff_graph(), scorer_graph(factor=10), gated, fixtures.fan_out()]
    sock = bind("127.0.0.1", 0)
    running = server(SQLiteStore(db), sock, graphs=graphs, close_store=True)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if running.started:
            break
        threading.Event().wait(0.05)
    assert running.started, "the UI server did not start"
    try:
        yield Served(url_of(sock), db, runs, entered, gate, gated)
    finally:
        gate.set()
        running.should_exit = True
        thread.join(15)
        sock.close()


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    """Debian's chromium driven by Playwright's sync API (no browser download)."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page that fails the test on a script error, a failed request or a dialog (an
    alert would mean injected script ran); its last view is kept as a screenshot."""
    opened = browser.new_page(viewport={"width": 1400, "height": 1000})
    opened.set_default_timeout(TIMEOUT)
    problems: list[str] = []
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: problems.append(str(e)))

    def on_dialog(dialog: Any) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    opened.on("dialog", on_dialog)
    yield opened
    opened.screenshot(path=str(tmp_path / f"{request.node.name}.png"), full_page=True)
    opened.close()
    assert problems == []


def ready(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("html[data-ready='1']")  # the page's script ran (its policy allowed it)


def node_class(page: Any, name: str) -> str:
    shape = page.locator("#diagram g.node").filter(
        has=page.locator("title", has_text=re.compile(f"^{re.escape(name)}$"))
    )
    return str(shape.get_attribute("class"))


def test_the_runs_list_filters_and_opens_a_run(served: Served, page: Any) -> None:
    ready(page, served.url)
    rows = page.locator("table.runs tbody tr")
    assert rows.count() == len(served.runs)
    assert page.locator(f"tr[data-run='{served.runs['signoff']}'] .badge").inner_text() == "waiting"

    page.select_option("#filter-status", "waiting")
    page.click("#filter-go")
    page.wait_for_url(re.compile(r"status=waiting"))
    assert rows.count() == 1

    page.click(f"a[href='/runs/{served.runs['signoff']}']")
    page.wait_for_selector("html[data-ready='1']")
    assert page.locator("#diagram svg").is_visible()
    assert page.locator("#run-status").inner_text() == "waiting"
    assert HOSTILE in page.locator(".wait-box pre.request").inner_text()  # shown as text


def test_a_running_run_is_watched_to_its_end_without_a_reload(
    served: Served, page: Any, browser: Any
) -> None:
    worker = threading.Thread(
        target=served.gated.run_sync,
        args=({},),
        kwargs={"store": str(served.db), "run_id": "live-run"},
    )
    worker.start()
    try:
        assert served.entered.wait(10), "the live run did not reach its second step"
        runs = browser.new_page()
        ready(runs, served.url)
        assert runs.locator("tr[data-run='live-run']").get_attribute("data-status") == "running"

        ready(page, served.url + "runs/live-run")
        assert page.locator("#run-status").inner_text() == "running"
        assert "visited" in node_class(page, "first")
        assert "dimmed" in node_class(page, "second")  # not yet
        page.evaluate("window.keptFromBefore = 42")
        served.gate.set()

        page.wait_for_selector("body[data-status='completed']")
        assert page.locator("#run-status").inner_text() == "completed"
        assert "visited" in node_class(page, "second")  # lit up as its step was saved
        assert page.locator("#run-path").inner_text() == "first → second"
        assert page.evaluate("window.keptFromBefore") == 42  # the same page: no reload
        page.wait_for_selector("body[data-live='0']")  # and the server ended the stream
        assert page.locator("#step-slider").get_attribute("max") == "2"
        runs.wait_for_selector("tr[data-run='live-run'][data-status='completed']")
        runs.close()
    finally:
        served.gate.set()
        worker.join(10)


def test_the_slider_shows_the_state_at_a_step(served: Served, page: Any) -> None:
    ready(page, served.url + f"runs/{served.runs['trip']}")
    assert page.locator("#step-view").get_attribute("data-step") == "2"
    page.locator("#step-slider").fill("1")
    page.wait_for_selector("#step-view[data-step='1'] #fork-form")
    assert page.locator("#step-number").inner_text() == "step 1"
    assert page.locator("#step-view .step-line").inner_text().startswith("step 1 · ran: plan")
    assert page.locator("#step-view .next").inner_text() == "left"
    log = page.locator("#step-view tr[data-field='log']")
    assert "changed" in str(log.get_attribute("class"))
    assert '"plan"' in log.locator("td").first.inner_text()
    assert '"left"' not in log.locator("td").first.inner_text()


def test_a_fork_with_an_edit_that_changes_the_route_takes_the_new_route(
    served: Served, page: Any
) -> None:
    parent = served.runs["trip"]
    ready(page, served.url + f"runs/{parent}")
    page.locator("#step-slider").fill("1")
    page.wait_for_selector("#step-view[data-step='1'] #fork-form")
    page.fill("#step-view textarea[name='set.mode']", '"b"')
    page.click("#fork")
    page.wait_for_url(re.compile(r"/runs/(?!" + parent + r")\w+$"))
    page.wait_for_selector("body[data-status='completed']")
    assert parent in page.locator("#run-header").inner_text()  # forked from it
    # The edit re-evaluates the routes of the step's nodes: plan now goes right.
    assert page.locator("#run-path").inner_text() == "plan → right"
    assert "visited" in node_class(page, "right") and "dimmed" in node_class(page, "left")


def test_a_waiting_run_is_approved_from_its_page(served: Served, page: Any) -> None:
    ready(page, served.url + f"runs/{served.runs['signoff']}")
    request = page.locator(".wait-box pre.request").inner_text()
    assert request.startswith("Approve this plan?\n1. ") and request.endswith("2. check it")
    page.click(".wait-box button[value='approve']")
    page.wait_for_selector("body[data-status='completed']")
    assert page.locator("#run-path").inner_text() == "draft → approval → execute"
    assert '"decision": "approve"' in page.locator("#state pre").inner_text()
    assert page.locator(".wait-box").count() == 0


def test_a_recorded_replay_with_changed_code_shows_where_it_diverged(
    served: Served, page: Any
) -> None:
    ready(page, served.url + f"runs/{served.runs['scorer']}")
    page.click("#replay")
    page.wait_for_selector("#replay-verdict")
    assert page.locator("#replay-verdict").inner_text() == "diverged at step 1 (update)"
    assert page.locator("#expected").inner_text() == 'score wrote {"score": 5}'
    assert page.locator("#actual").inner_text() == 'score wrote {"score": 50}'
    assert page.locator("tr.diverged").get_attribute("data-step") == "1"


def test_a_run_shows_parallel_tasks_side_by_side_and_an_agent_s_messages(
    served: Served, page: Any
) -> None:
    ready(page, served.url + f"runs/{served.runs['fan_out']}")
    work = page.locator("#timeline .step[data-step='2'] .task[data-node='work']")
    assert work.count() == 3
    boxes = [work.nth(i).bounding_box() for i in range(3)]
    assert len({round(b["y"]) for b in boxes}) == 1  # parallel tasks side by side
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]

    ready(page, served.url + f"runs/{served.runs['triage']}")
    page.click("#expand")
    timeline = page.locator("#timeline").inner_text()
    assert "model call" in timeline.lower() and "Triage Agent" in timeline
    assert page.locator("#usage").is_visible()


def test_screenshots_of_the_runs_list_and_a_run(served: Served, page: Any, tmp_path: Path) -> None:
    """Artefacts (and, by hand, the README's pictures): the list once the other tests have
    forked, answered and watched runs, and an agent run's page."""

    def keep(name: str) -> None:
        page.screenshot(path=str(tmp_path / name))
        if os.environ.get("ORCHESTRATOR_UI_SCREENSHOTS") == "docs":
            page.screenshot(path=str(ROOT / "docs" / name))

    page.set_viewport_size({"width": 1400, "height": 760})
    ready(page, served.url)
    keep("ui-runs.png")
    page.set_viewport_size({"width": 1400, "height": 1200})
    ready(page, served.url + f"runs/{served.runs['triage']}")
    keep("ui-run.png")
