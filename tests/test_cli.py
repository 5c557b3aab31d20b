"""The command line, as a shell user drives it: every command, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEMO = "graphs.demo:graph"
APPROVAL = "tests.durable_worker:approval_graph"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``orchestrator ARGS`` in-process; return (exit code, stdout, stderr)."""
    old = sys.argv
    sys.argv = ["orchestrator", *args]
    code = 0
    try:
        main()
    except SystemExit as done:
        code = int(done.code or 0)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = cli(capsys, *args, "--json")
    assert code == 0, err
    parsed: dict[str, Any] = json.loads(out)
    return parsed


@pytest.fixture
def store(tmp_path: Path) -> str:
    return str(tmp_path / "runs.db")


def test_run_prints_the_final_state_path_and_run_id(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    code, out, err = cli(capsys, "run", DEMO, "--input", '{"topic": "joins"}', "--store", store)
    assert code == 0, err
    assert "path: research -> research -> research -> outline" in out
    assert "published after 2 revision(s)" in out
    assert "completed after 7 step(s); stored in" in out
    assert "step 1: research, research, research" in err  # the live view, on stderr


def test_run_json_for_scripts_and_text_input(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    result = run_json(capsys, "run", DEMO, "--input", "graph joins", "--store", store)
    assert result["status"] == "completed"
    assert result["state"]["topic"] == "graph joins"  # text goes to the first text field
    assert result["path"][-1] == "publish"
    assert len(result["run_id"]) == 32


def test_runs_lists_stored_runs_with_forks_under_their_parent(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    parent = run_json(capsys, "run", DEMO, "--store", store)["run_id"]
    child = run_json(capsys, "fork", parent, "--step", "2", "--store", store)["run_id"]
    code, out, _ = cli(capsys, "runs", "--store", store)
    assert code == 0
    lines = out.splitlines()
    parent_line = next(i for i, line in enumerate(lines) if parent in line)
    assert f"└ fork@2 {child}" in lines[parent_line + 1]


def test_show_prints_steps_path_and_status(capsys: pytest.CaptureFixture[str], store: str) -> None:
    run_id = run_json(capsys, "run", DEMO, "--store", store)["run_id"]
    code, out, _ = cli(capsys, "show", run_id, "--store", store)
    assert code == 0
    assert f"run {run_id}  graph demo  status completed  steps 7" in out
    assert "path: research -> research -> research -> outline -> write" in out
    assert "publish: verdict" in out
    shown = run_json(capsys, "show", run_id, "--store", store)
    assert [s["step"] for s in shown["steps"]] == list(range(8))


def test_render_a_graph_in_each_format(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for name in ("g.svg", "g.dot", "g.mmd"):
        code, out, err = cli(capsys, "render", DEMO, "-o", str(tmp_path / name))
        assert code == 0, err
        assert out.startswith("wrote ")
    assert "<svg" in (tmp_path / "g.svg").read_text()
    assert "digraph" in (tmp_path / "g.dot").read_text()
    assert "flowchart" in (tmp_path / "g.mmd").read_text()


def test_render_a_stored_run_as_an_html_report(
    capsys: pytest.CaptureFixture[str], store: str, tmp_path: Path
) -> None:
    run_id = run_json(capsys, "run", DEMO, "--store", store)["run_id"]
    code, _, err = cli(capsys, "render", run_id, "--store", store, "-o", str(tmp_path / "r.html"))
    assert code == 0, err
    html = (tmp_path / "r.html").read_text()
    assert run_id in html and "<svg" in html


def test_replay_playback_and_recorded(capsys: pytest.CaptureFixture[str], store: str) -> None:
    run_id = run_json(capsys, "run", DEMO, "--store", store)["run_id"]
    code, out, _ = cli(capsys, "replay", run_id, "--mode", "playback", "--store", store, "--json")
    assert code == 0
    steps = json.loads(out)
    assert steps[-1]["state"]["verdict"].startswith("published")
    code, out, _ = cli(capsys, "replay", run_id, "--mode", "recorded", "--store", store)
    assert code == 0
    assert "matched the original at every one of its 7 steps" in out


def test_fork_with_set_runs_from_step_k_with_the_edit(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    parent = run_json(capsys, "run", DEMO, "--store", store)
    fork = run_json(
        capsys, "fork", parent["run_id"], "--step", "3", "--set", "revisions=3", "--store", store
    )
    assert fork["status"] == "completed"
    # Step 3 was the first draft; with revisions=3 the next review scores 4 + 2*3 and passes.
    assert fork["path"] == [*parent["path"][:5], "review", "publish"]
    assert fork["state"]["score"] == 10 and fork["state"]["revisions"] == 3


def test_resume_a_waiting_run_with_a_value(capsys: pytest.CaptureFixture[str], store: str) -> None:
    paused = run_json(capsys, "run", APPROVAL, "--store", store)
    assert paused["status"] == "waiting"
    assert paused["waiting"][0]["node"] == "approve"
    done = run_json(capsys, "resume", paused["run_id"], "--value", "yes", "--store", store)
    assert done["status"] == "completed"
    assert done["state"]["done"] == "executed (yes)"


# --- bad input -------------------------------------------------------------------------------


def test_unknown_graph_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "run", "graphs.nowhere:graph")
    assert code == 2
    assert err.splitlines()[0].startswith("error: cannot import graph module 'graphs.nowhere'")
    assert "Traceback" not in err + out


def test_bad_json_input_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "run", DEMO, "--input", '{"topic": ')
    assert code == 2
    assert "error: --input is not valid JSON" in err


def test_input_field_that_does_not_exist_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "run", DEMO, "--input", '{"subject": "x"}')
    assert code == 2
    assert "'subject', not a field of graph 'demo'" in err


def test_unknown_run_id_is_named(capsys: pytest.CaptureFixture[str], store: str) -> None:
    for command in (["show"], ["resume"], ["replay"], ["fork", "--step", "1"]):
        code, _, err = cli(capsys, command[0], "no-such-run", *command[1:], "--store", store)
        assert code == 2, command  # bad input: no such run
        assert "no run 'no-such-run' in" in err, command


def test_set_of_a_field_that_does_not_exist_is_refused(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    run_id = run_json(capsys, "run", DEMO, "--store", store)["run_id"]
    code, _, err = cli(
        capsys, "fork", run_id, "--step", "1", "--set", "colour=red", "--store", store
    )
    assert code == 2
    assert "--set names 'colour', not a field of graph 'demo'" in err


def test_unknown_replay_mode_and_render_format_are_refused(
    capsys: pytest.CaptureFixture[str], store: str, tmp_path: Path
) -> None:
    run_id = run_json(capsys, "run", DEMO, "--store", store)["run_id"]
    code, _, err = cli(capsys, "replay", run_id, "--mode", "rewind", "--store", store)
    assert code == 2 and "--mode must be playback or recorded" in err
    code, _, err = cli(capsys, "render", DEMO, "-o", str(tmp_path / "g.bmp"))
    assert code == 2 and ".bmp" in err


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exception, match="cannot import graph module"):
        cli(capsys, "--debug", "run", "graphs.nowhere:graph")


def test_the_console_script_starts_and_helps() -> None:
    script = Path(sys.executable).with_name("orchestrator")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    for command in ("run", "runs", "show", "render", "replay", "fork", "resume", "demo"):
        assert command in done.stdout


def test_a_forks_report_names_its_parent_run_and_step(
    capsys: pytest.CaptureFixture[str], store: str, tmp_path: Path
) -> None:
    parent = run_json(capsys, "run", DEMO, "--store", store)["run_id"]
    child = run_json(capsys, "fork", parent, "--step", "2", "--store", store)["run_id"]
    code, _, err = cli(capsys, "render", child, "--store", store, "-o", str(tmp_path / "f.html"))
    assert code == 0, err
    html = (tmp_path / "f.html").read_text()
    assert f"{parent} at step 2" in html


PATTERNS = sorted(
    p.stem
    for p in (Path(__file__).resolve().parents[1] / "graphs").glob("*.py")
    if p.stem != "__init__"
)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_pattern_runs_from_the_command_line_offline(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    pattern: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # patterns with memory keep their session file here
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    result = run_json(
        capsys,
        "run",
        f"graphs.{pattern}:graph",
        "--input",
        "Please help with my order 12345 and write a short summary",
        "--store",
        "memory",
    )
    assert result["status"] in ("completed", "waiting")
    assert result["path"]


# --- the exit-code contract: 0 done, 1 the run failed or a replay diverged, 2 bad input ----


FLAKY = """
import os
from pydantic import BaseModel
from orchestrator import END, START, Graph


class S(BaseModel):
    out: str = ""


def work(state: S) -> dict:
    mode = os.environ.get("FLAKY_MODE", "ok")
    if mode == "fail":
        raise ValueError("told to fail")
    return {"out": mode}


graph = Graph(S, name="flaky").add_node("work", work).add_edge(START, "work").add_edge("work", END)
"""


@pytest.fixture
def flaky(tmp_path: Path) -> str:
    path = tmp_path / "flaky.py"
    path.write_text(FLAKY)
    return f"{path}:graph"


def test_exit_codes_for_runs_replays_and_bad_input(
    capsys: pytest.CaptureFixture[str],
    store: str,
    flaky: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = cli(capsys, "run", flaky, "--store", store, "--json")
    assert code == 0, err
    run_id = json.loads(out)["run_id"]
    code, _, _ = cli(capsys, "replay", run_id, "--mode", "recorded", "--store", store)
    assert code == 0  # same code, same run
    monkeypatch.setenv("FLAKY_MODE", "changed")
    code, out, _ = cli(capsys, "replay", run_id, "--mode", "recorded", "--store", store)
    assert code == 1 and "diverged at step 1" in out
    monkeypatch.setenv("FLAKY_MODE", "fail")
    code, out, err = cli(capsys, "run", flaky, "--store", store)
    assert code == 1 and "told to fail" in out + err
    code, _, err = cli(capsys, "run", flaky, "--no-such-option")
    assert code == 2
    assert err.splitlines()[0].startswith("error: orchestrator run: No such option: --no-such")
    assert "NoSuchOption" not in err and "Traceback" not in err


def test_a_bare_command_prints_its_help_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys)
    assert code == 0 and out.startswith("Usage: orchestrator") and not err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.startswith("orchestrator ")


GRAPH_FILES = sorted(p for p in (ROOT / "graphs").glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", GRAPH_FILES, ids=[p.stem for p in GRAPH_FILES])
def test_every_bundled_graph_loads_from_its_file_path(path: Path) -> None:
    from orchestrator.source import load_graph

    by_file = load_graph(f"{path}:graph")
    by_module = load_graph(f"graphs.{path.stem}:graph")
    assert by_file.name == by_module.name and set(by_file.nodes) == set(by_module.nodes)


USER_FILE = """
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel
from orchestrator import END, START, Graph


class S(BaseModel):
    n: int = 0


def step(state: S) -> dict:
    return {"n": state.n + 1}


def again(state: S) -> Literal["step", "__end__"]:
    return "step" if state.n < 3 else "__end__"


graph = Graph(S, name="user").add_node("step", step).add_edge(START, "step")
graph.add_route("step", again)
"""


def test_a_user_file_with_string_annotations_runs_and_renders(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, store: str
) -> None:
    (tmp_path / "mine.py").write_text(USER_FILE)
    code, out, err = cli(capsys, "run", f"{tmp_path / 'mine.py'}:graph", "--store", store, "--json")
    assert code == 0, err
    assert json.loads(out)["state"] == {"n": 3}
    target = tmp_path / "not" / "yet" / "there" / "g.dot"
    code, _, err = cli(capsys, "render", f"{tmp_path / 'mine.py'}:graph", "-o", str(target))
    assert code == 0, err
    assert target.is_file()  # the missing folders were made


def test_a_script_that_runs_its_graph_at_import_can_draw_its_stored_run(tmp_path: Path) -> None:
    """The README's first example: a script whose top level runs the graph into runs.db."""
    script = tmp_path / "essay.py"
    script.write_text(USER_FILE + '\nresult = graph.compile().run_sync(store="runs.db")\n')
    exe = Path(sys.executable).with_name("orchestrator")
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True, timeout=120)
    listed = subprocess.run(
        [str(exe), "runs", "--json", "--store", "runs.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    run_id = json.loads(listed.stdout)[0]["run_id"]
    drawn = subprocess.run(
        [
            str(exe),
            "render",
            run_id,
            "--graph",
            f"{script}:graph",
            "-o",
            "out/run.html",
            "--store",
            "runs.db",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert drawn.returncode == 0, drawn.stderr
    assert (tmp_path / "out" / "run.html").is_file()


def test_a_store_in_a_missing_folder_is_bad_input_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = cli(capsys, "run", DEMO, "--store", str(tmp_path / "nope" / "runs.db"))
    assert code == 2
    assert "does not exist" in err and "unable to open" not in err


def test_debug_may_follow_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exception, match="cannot import graph module"):
        cli(capsys, "run", "graphs.nowhere:graph", "--debug")


def test_a_named_model_without_a_key_warns_that_offline_answers(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    code, _, err = cli(
        capsys,
        "run",
        "graphs.triage:graph",
        "--model",
        "gpt-4.1-mini",
        "--store",
        "memory",
        "-i",
        "where is my order?",
    )
    assert code == 0, err
    assert "warning: --model gpt-4.1-mini" in err and "offline" in err


def test_show_prints_written_values_and_playback_prints_what_each_step_changed(
    capsys: pytest.CaptureFixture[str], store: str, tmp_path: Path
) -> None:
    (tmp_path / "long.py").write_text(
        USER_FILE.replace(
            'return {"n": state.n + 1}', 'return {"n": state.n + 1, "text": "x" * 300}'
        ).replace("n: int = 0", "n: int = 0\n    text: str = ''")
    )
    target = f"{tmp_path / 'long.py'}:graph"
    run_id = run_json(capsys, "run", target, "--store", store)["run_id"]
    code, out, err = cli(capsys, "show", run_id, "--store", store)
    assert code == 0, err
    assert "step: n=1" in out and "x" * 300 not in out  # values, shortened
    code, out, _ = cli(capsys, "show", run_id, "--store", store, "--full")
    assert "x" * 300 in out.replace("\n", "").replace(" ", "")
    shown = run_json(capsys, "show", run_id, "--store", store)
    assert shown["steps"][1]["writes"] == [["step", {"n": 1, "text": "x" * 300}]]
    code, out, _ = cli(capsys, "replay", run_id, "--mode", "playback", "--store", store)
    assert code == 0
    lines = out.splitlines()
    step2 = lines[lines.index("step 2: step") + 1 :][:2]
    assert step2 == ["  n: 1 -> 2", "step 3: step"]  # text did not change at step 2


def test_fork_and_resume_show_the_live_view(capsys: pytest.CaptureFixture[str], store: str) -> None:
    run_id = run_json(capsys, "run", DEMO, "--store", store)["run_id"]
    code, _, err = cli(capsys, "fork", run_id, "--step", "3", "--store", store)
    assert code == 0, err
    assert "step 4: review" in err and "✓ publish" in err
    code, out, err = cli(capsys, "run", APPROVAL, "--store", store, "--json")
    waiting = json.loads(out)["run_id"]
    code, _, err = cli(capsys, "resume", waiting, "--value", "yes", "--store", store)
    assert code == 0, err
    assert "step " in err and "✓" in err


def test_parallel_agents_streams_are_labelled_by_node() -> None:
    from io import StringIO

    from rich.console import Console

    from orchestrator.events import AgentDelta
    from orchestrator.progress import Progress

    buffer = StringIO()
    with Progress(Console(file=buffer, width=200)) as progress:
        for task, node, text in [(1, "left", "Hel"), (2, "right", "Bon"), (1, "left", "lo")]:
            progress.show(AgentDelta("r", 1, node, task, f"{node} agent", text))
    assert buffer.getvalue().splitlines() == [
        "  [left] left agent: Hel",
        "  [right] right agent: Bon",
        "  [left] left agent: lo",
    ]


async def test_on_event_sees_every_event_of_any_call(store: str) -> None:
    from orchestrator.compiled import CompiledGraph
    from orchestrator.source import load_graph

    graph: CompiledGraph[Any] = load_graph(DEMO)
    seen: list[str] = []
    result = await graph.run(store=store, on_event=lambda e: seen.append(type(e).__name__))
    assert "NodeFinished" in seen and seen[-1] == "RunFinished"
    assert not any(type(e).__name__ == "NodeFinished" for e in result.events)  # not kept


def test_a_bad_set_value_is_blamed_on_the_field_and_is_bad_input(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    run_id = run_json(capsys, "run", DEMO, "--store", store)["run_id"]
    code, _, err = cli(
        capsys, "fork", run_id, "--step", "2", "--set", 'revisions={"a": 1}', "--store", store
    )
    assert code == 2
    assert "the edited field 'revisions' is invalid" in err and "'--set'" not in err
    code, _, err = cli(capsys, "fork", run_id, "--step", "99", "--store", store)
    assert code == 2
