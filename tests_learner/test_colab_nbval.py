"""The solution notebooks under nbval in Colab's image (``make test-colab-nbval``, maintainers).

CI compares the stored outputs once, in the course's own ``.venv`` (``make test``), and runs the
learner notebooks and the solutions' answers in Colab's image (``make test-colab``); executing
every solution notebook a second time there is this maintainers' target: run it when Colab's
image changes (tools/colab/colab-image.in) or a lesson's outputs depend on library versions.
``COLAB_NOTEBOOKS=01,03`` picks lessons.
"""
from __future__ import annotations

import os
import re
import time

import pytest

from test_colab_setup import COLAB, COLAB_HOME, COLAB_VENV, ROOT, _lessons, colab_python, colab_run, image_pins, setup_runs  # noqa: F401

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def solution_notebooks():
    paths = sorted(ROOT.glob("notebooks/solutions/[0-9][0-9]_*.ipynb"))
    chosen = os.environ.get("COLAB_NOTEBOOKS", "all").strip()
    return paths if chosen in ("", "all") else [p for p in paths if p.name[:2] in _lessons(chosen)]


def first_failure(output: str, chars: int = 5000) -> str:
    """nbval's report of the first failing cell (what went wrong first), and its summary line."""
    text = ANSI.sub("", output)
    start = text.find("Notebook cell execution failed")
    lines = text.strip().splitlines()
    return (text[start:start + chars] if start >= 0 else text[-chars:]) + "\n...\n" + (lines[-1] if lines else "")


@pytest.mark.parametrize("notebook", solution_notebooks(), ids=lambda p: p.name)
def test_solution_notebook_outputs_hold_in_colabs_environment(notebook, setup_runs, tmp_path):
    assert all(run["raised"] is None for run in setup_runs), "the setup cell failed; see test_colab_setup.py"
    env = dict(os.environ)
    env.update(BERTLAB_QUICK="1", BERTLAB_HOME=str(COLAB_HOME), PATH=f"{COLAB_VENV / 'bin'}{os.pathsep}{env['PATH']}")
    env.pop("PYTHONPATH", None)
    data = ROOT.parent / "shared" / "data"
    if "BERTLAB_DATA" not in env and data.is_dir():
        env["BERTLAB_DATA"] = str(data)
    # The course's sanitizer plus tools/colab/sanitize-colab.cfg (ANSI colours of Python 3.13).
    sanitize = tmp_path / "sanitize.cfg"
    parts = [ROOT / "notebooks" / "sanitize.cfg", COLAB / "sanitize-colab.cfg"]
    sanitize.write_text("\n".join(p.read_text(encoding="utf-8") for p in parts if p.exists()), encoding="utf-8")
    args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
            "--nbval-cell-timeout=1200", "--nbval-sanitize-with", str(sanitize), str(notebook.relative_to(ROOT))]
    start = time.monotonic()
    done = colab_run(args, timeout=2400, cwd=ROOT, env=env)
    print(f"{notebook.name}: nbval in the Colab environment, rc={done.returncode}, {time.monotonic() - start:.0f} s")
    assert done.returncode == 0, f"{notebook.name} failed in Colab's environment:\n{first_failure(done.stdout + done.stderr)}"
