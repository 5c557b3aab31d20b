"""The tour notebooks run top to bottom, offline, and show what they claim to show."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
kernelspec = pytest.importorskip("ipykernel.kernelspec")

pytestmark = pytest.mark.notebooks

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A kernel that runs this interpreter (the project's virtual environment), offline."""
    prefix = tmp_path_factory.mktemp("jupyter")
    kernelspec.install(kernel_name="orchestrator-tests", prefix=str(prefix))
    os.environ["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
    os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        os.environ.pop(key, None)
    return "orchestrator-tests"


def execute(path: Path, kernel: str) -> Any:
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        book,
        kernel_name=kernel,
        timeout=180,
        resources={"metadata": {"path": str(path.parent.parent)}},
    )
    client.execute()
    return book


def outputs(book: Any) -> list[dict[str, Any]]:
    return [out for cell in book.cells if cell.cell_type == "code" for out in cell.outputs]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_offline_without_errors(path: Path, kernel: str) -> None:
    book = execute(path, kernel)
    errors = [o for o in outputs(book) if o.get("output_type") == "error"]
    assert not errors, errors


def test_quickstart_draws_the_graph_and_the_run_inline(kernel: str) -> None:
    book = execute(next(p for p in NOTEBOOKS if "quickstart" in p.stem), kernel)
    svgs = [
        o["data"]["image/svg+xml"] for o in outputs(book) if "image/svg+xml" in o.get("data", {})
    ]
    assert len(svgs) >= 2  # the compiled graph, then the run over it
    assert "visited" in svgs[-1]
    # The run also shows as its report, inline (a sandboxed frame holding the whole page).
    pages = [o["data"]["text/html"] for o in outputs(book) if "text/html" in o.get("data", {})]
    assert len(pages) == 1 and 'class="orchestrator-report"' in pages[0]
    assert "srcdoc=" in pages[0] and "timeline" in pages[0]


def test_notebooks_are_committed_without_outputs() -> None:
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in book.cells if c.cell_type == "code"), path


def test_there_is_a_notebook_for_each_tour() -> None:
    stems = {p.stem for p in NOTEBOOKS}
    for topic in ("quickstart", "patterns", "replay", "human_in_the_loop"):
        assert any(topic in stem for stem in stems), topic
