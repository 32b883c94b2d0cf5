"""tools/run_all.py: a learner's Run All and what it checks afterwards (CI runs it in Colab's image)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "tools" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, path)
    return path


def _checked(*shown: str):
    nb = nbformat.v4.new_notebook()
    for number, text in enumerate(shown):
        cell = nbformat.v4.new_code_cell(f'check("lesson01.exercise{number}", f)')
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        nb.cells.append(cell)
    return nb


def test_a_check_that_passes_or_crashes_in_an_untouched_notebook_is_a_problem():
    tool = _tool()
    ok = "✗ exercise: not implemented yet\n"
    assert tool.problems_after_run("x.ipynb", _checked(ok, ok, ok)) == []
    problems = tool.problems_after_run("x.ipynb", _checked(ok, "✓ exercise1: passed (2/2 points)", ok))
    assert len(problems) == 1 and "lesson01.exercise1" in problems[0] and "passed" in problems[0]


def test_fewer_than_three_exercises_is_a_problem():
    problems = _tool().problems_after_run("x.ipynb", _checked("not implemented yet"))
    assert problems == ["x.ipynb has 1 graded exercises, the course promises at least 3"]


@pytest.mark.slow
def test_run_all_stops_at_the_first_error_and_names_it(tmp_path):
    tool = _tool()
    path = _notebook(tmp_path / "nb.ipynb", "x = 1", "raise ValueError('a later cell needs the exercise')", "y = 2")
    seconds, problems = tool.run_all(path)
    assert problems == ["nb.ipynb: Run All stopped: ValueError: a later cell needs the exercise"]
