"""A learner's "Run All": every generated learner notebook, with no exercise solved, runs top to bottom.

Each graded stub raises ``NotImplementedError``; its check cell must say "not implemented yet" and
every later cell must still run (cells that use a learner's function guard it, or use the course's
own version). Executed in quick mode (``BERTLAB_QUICK=1``), the way CI runs the solution notebooks.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEARNERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK = re.compile(r'^\s*check\(\s*"(lesson\d\d\.\w+)"', re.M)


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    return "".join(str(output.get("data", {}).get(kind, "")) for kind in ("text/plain", "text/html"))


@pytest.mark.slow
@pytest.mark.parametrize("path", LEARNERS, ids=[p.stem for p in LEARNERS])
def test_learner_notebook_runs_all_cells_with_no_exercise_solved(path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("BERTLAB_QUICK", "1")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=1200, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as error:  # the first uncaught exception stops a learner's Run All
        pytest.fail(f"{path.name}: Run All stopped: {str(error).strip().splitlines()[-1]}")
    checks = [(CHECK.search(cell.source).group(1), "".join(_text(o) for o in cell.get("outputs", [])))
              for cell in notebook.cells if cell.cell_type == "code" and CHECK.search(cell.source)]
    assert len(checks) >= 3, f"{path.name} has {len(checks)} graded exercises, the course promises at least 3"
    for key, shown in checks:
        assert "not implemented yet" in shown, f"{path.name}: check('{key}') showed {shown[:200]!r}"
