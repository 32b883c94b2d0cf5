"""The benchmark figures a lesson shows reach the learner wherever the notebook runs.

``bertlab/results/`` ships the results files the lessons read (``bertlab.results.SHIPPED``) inside the
package, so that a lesson finds them from ``notebooks/`` (where ``make lab`` opens JupyterLab) and on
Colab, where the setup cell pip-installs the package from GitHub and there is no checkout at all.
``benchmarks/results`` stays the one source of truth: these tests fail when a shipped copy differs
from it, when a lesson reads a results file by a path, and when a built wheel lacks the files.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bertlab import results

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "benchmarks" / "results"
SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb"))


def _code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def test_every_shipped_results_file_equals_its_source_in_benchmarks_results():
    sources = sorted(p.name for p in SOURCE.glob("*.json") if results.is_shipped(p.name))
    shipped = sorted(p.name for p in results.FOLDER.glob("*.json"))
    assert {"mrpc.json", "padding.json", "spam.json"} <= set(sources)
    assert shipped == sources, "run: python -m bertlab.results --sync"
    for name in sources:
        assert (results.FOLDER / name).read_bytes() == (SOURCE / name).read_bytes(), \
            f"bertlab/results/{name} differs from benchmarks/results/{name}: run python -m bertlab.results --sync"


def test_load_reads_the_shipped_record_and_refuses_other_names():
    assert results.load("padding") == json.loads((SOURCE / "padding.json").read_text())
    assert results.load("padding.json") == results.load("padding")
    assert list(results.load_all("mrpc_recipe_*.json")) == sorted(p.name for p in SOURCE.glob("mrpc_recipe_*.json"))
    with pytest.raises(FileNotFoundError, match="ships no benchmark result 'lessons.json'"):
        results.load("lessons")


def test_write_result_also_writes_the_shipped_copy(tmp_path, monkeypatch):
    """The benchmarks' writer keeps the copy in step (to a temporary package folder here)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import common
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    source, package = tmp_path / "results", tmp_path / "package"
    source.mkdir(), package.mkdir()
    monkeypatch.setattr(common, "RESULTS", source)
    monkeypatch.setattr(results, "FOLDER", package)
    monkeypatch.setattr(common, "machine", lambda: "test machine")
    common.write_result("padding", "minilm-l6", {"speedup": 2.5})
    common.write_result("lessons", "minilm-l6", {"total_minutes": 1.0})
    assert (package / "padding.json").read_bytes() == (source / "padding.json").read_bytes()
    assert not (package / "lessons.json").exists()  # not a figure a lesson shows


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_lessons_read_benchmark_results_through_the_package_not_a_path(path):
    readers = [code for code in _code_cells(path) if "benchmarks/results" in code or "results not found" in code]
    assert not readers, f"{path.name} reads benchmark results by a path (not there on Colab or from notebooks/): " + readers[0][:120]


LESSON_05_STUBS = "metrics = {'accuracy': 0.8}\nmajority = {'accuracy': 0.684}\n"


def _lesson_05_figure_cells() -> str:
    """Lesson 05's imports cell and every cell that reads a shipped result, with stubs for the run's own numbers."""
    cells = _code_cells(ROOT / "notebooks" / "solutions" / "05_fine_tuning_mrpc.ipynb")
    imports = next(c for c in cells if c.startswith("import os"))
    readers = [c for c in cells if "benchmark_results." in c and not c.startswith("import")]
    readers = [c for c in readers if "train_minutes_per_run" not in c]  # "What to expect" needs the trained model
    assert len(readers) >= 2, "the padding cell and the seed-study plot"
    return "\n".join(["import matplotlib; matplotlib.use('Agg')", "import bertlab", imports, LESSON_05_STUBS, *readers])


def _run(code: str, cwd: Path, pythonpath: str) -> str:
    env = {**os.environ, "PYTHONPATH": pythonpath, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _assert_shows_the_figures(shown: str):
    padding = json.loads((SOURCE / "padding.json").read_text())["metrics"]
    assert f"dynamic is {padding['speedup']:.2f}x faster" in shown
    accuracy = json.loads((SOURCE / "mrpc_recipe_lesson.json").read_text())["metrics"]["dev_accuracy"]
    assert f"recipe 'lesson'   5 seeds: accuracy {accuracy['mean']:.1%}" in shown
    assert "not found" not in shown


@pytest.mark.slow
def test_lesson_05_finds_its_figures_from_the_notebooks_folder():
    _assert_shows_the_figures(_run(_lesson_05_figure_cells(), ROOT / "notebooks", str(ROOT)))


@pytest.mark.slow
def test_lesson_05_finds_its_figures_from_an_installed_wheel_with_no_checkout(tmp_path):
    """What Colab's pip install from GitHub gives: a wheel, installed elsewhere, the notebook run from another folder."""
    wheels, site, elsewhere, project = tmp_path / "wheels", tmp_path / "site", tmp_path / "content", tmp_path / "project"
    elsewhere.mkdir()
    # What a clone from GitHub holds of the package (built outside the checkout: no build/ left in it).
    shutil.copytree(ROOT / "bertlab", project / "bertlab", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(wheels), str(project)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(wheels.glob("bertlab-*.whl"))
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    assert sorted(p.name for p in (site / "bertlab" / "results").glob("*.json")) == \
        sorted(p.name for p in SOURCE.glob("*.json") if results.is_shipped(p.name))
    code = "import bertlab, sys; assert bertlab.__file__.startswith(sys.argv[1]), bertlab.__file__\n"
    shown = _run(f"import sys; sys.argv = ['-', {str(site)!r}]\n" + code + _lesson_05_figure_cells(), elsewhere, str(site))
    _assert_shows_the_figures(shown)
