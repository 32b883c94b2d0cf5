"""Lesson 01 in JupyterLab, in a real browser (``make test-browser``).

JupyterLab starts as ``make lab`` starts it (``.venv/bin/jupyter lab <folder>``), headless on
127.0.0.1 with a token and a free port, on a copy of the learner notebook in a temporary folder.
Debian's Chromium, driven by Playwright (no browser download), runs all cells, finds the
exercise's "not implemented yet" hint, types the solution notebook's answer into the graded cell,
runs it and its check cell, and finds the pass line. Screenshots of both states go to
test-artifacts/. The driver is tools/browser/jupyterlab.py.

Skipped only where Chromium is missing and could not be installed (the reason is in
test-artifacts/chromium-install.log, written by tools/browser/ensure-chromium.sh).
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
LESSON = os.environ.get("BROWSER_LESSON", "01_installation.ipynb")


def _load_driver():
    spec = importlib.util.spec_from_file_location("bertlab_browser_driver", ROOT / "tools" / "browser" / "jupyterlab.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


driver = _load_driver()


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not driver.CHROMIUM.exists():
        log = ARTIFACTS / "chromium-install.log"
        reason = log.read_text(encoding="utf-8").strip() if log.exists() else "run tools/browser/ensure-chromium.sh"
        pytest.skip(f"Debian's Chromium ({driver.CHROMIUM}) is not installed and could not be: {reason}")
    pytest.importorskip("playwright", reason="`make test-browser` installs playwright into .venv")
    return driver.CHROMIUM


@pytest.fixture(scope="module")
def lesson() -> tuple[Path, Path]:
    learner = ROOT / "notebooks" / LESSON
    solution = ROOT / "notebooks" / "solutions" / LESSON
    for path in (learner, solution):
        assert path.exists(), f"{path} is missing (`make notebooks` writes the learner version)"
    return learner, solution


def test_learner_notebook_has_a_graded_exercise_with_its_answer_in_the_solution(lesson):
    learner, solution = (json.loads(p.read_text(encoding="utf-8")) for p in lesson)
    name, index = driver.graded_exercises(learner)[0]
    assert "NotImplementedError" in driver._source(learner["cells"][index])
    answer = driver.solution_answer(solution, name)
    assert "NotImplementedError" not in answer and driver.BEGIN_SOLUTION not in answer


def test_jupyterlab_shows_the_hint_then_the_pass_line_in_chromium(chromium, lesson):
    learner, solution = lesson
    env = dict(os.environ, BERTLAB_QUICK="1")
    data = ROOT.parent / "shared" / "data"
    if "BERTLAB_DATA" not in env and data.is_dir():
        env["BERTLAB_DATA"] = str(data)
    before = learner.read_bytes()
    result = driver.run(learner, solution, ARTIFACTS, jupyter=ROOT / ".venv" / "bin" / "jupyter", env=env)
    print(f"hint: {result.not_implemented_line}\npass: {result.pass_line}\n{result.seconds:.0f} s in the browser")
    assert result.not_implemented_line.endswith(f"{result.exercise}: {driver.NOT_IMPLEMENTED}")
    assert f"{result.exercise}: passed" in result.pass_line
    assert [p.name for p in result.screenshots] == [
        f"{learner.stem}-01-not-implemented-hint.png",
        f"{learner.stem}-02-answer-passes.png",
    ]
    for path in result.screenshots:
        assert path.stat().st_size > 10_000, f"{path} looks empty"
    assert learner.read_bytes() == before, "the test must work on a copy: the learner notebook changed"
