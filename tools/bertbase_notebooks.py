"""Run the solution notebooks' model cells with BERT-base (the offline stand-in), quick mode.

    python tools/bertbase_notebooks.py [--full] [--workdir DIR] [--json PATH] [LESSON ...]
    make test-bertbase         (CI: each lesson's model cells)
    make test-bertbase-full    (maintainers: every cell of every lesson, about an hour on 2 cores)

Which cells: by default every code cell except (a) check cells (the graders do not depend on
the model and are proven in ``make test``), (b) cells tagged ``bertbase-skip``, the lesson's
bulk work (embedding the whole MRPC corpus, scoring every validation pair, encoding every SMS
message, and lesson 06's fine-tuning run, which repeats the BERT-base training of lesson 05),
and (c) every later cell that reads a name one of those defined (found from the cells' code).
Every other cell that loads, builds, trains, saves or calls a BERT still runs, on a 12-layer,
hidden-768 model, so the route is proven without executing each lesson a third time in CI
(nbval and the learner's Run All are the other two). ``--full`` runs every cell.

Lesson 01 is not run: it builds its own keras-bert models from a configuration, which
``BERTLAB_MODEL`` does not change.

1. builds the stand-in (``python -m tools.standin build``: bert-base-uncased's exact
   configuration and vocabulary, RANDOM weights) into a temporary HF_HOME / TFHUB_CACHE_DIR,
   never the learner's caches;
2. executes each notebook with nbclient under ``BERTLAB_MODEL=bert-base-uncased BERTLAB_QUICK=1
   HF_HUB_OFFLINE=1``: any error fails the run; outputs are not compared (random weights);
3. after the last cell, lists every BERT alive in the kernel (transformers' main layers and TF
   Hub encoder layers) and fails if the embedded model (6 layers, hidden 384) was used, or if a
   lesson that loads a pretrained model did not use one with 12 layers and hidden 768;
4. prints each notebook's minutes (and writes them to ``--json``).

What it proves: the BERT-base route (names, shapes, the 12-entry encoder outputs, 512
positions, memory and time on this machine) runs through the real loading code. What it does
not: anything about accuracy, since the weights are random.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "notebooks" / "solutions"
# Lessons whose cells load pretrained BERT weights (lesson 01 counts parameters of keras-bert
# models it builds, lesson 02 only tokenizes).
LOADS_PRETRAINED = {"03", "04", "05", "06"}
# Lessons whose cells depend on BERTLAB_MODEL (see the module docstring for lesson 01).
# Lesson 07 (Keras 3 + KerasHub) is not one: it loads the embedded model's own Hugging Face files whatever
# BERTLAB_MODEL says (bertlab.kerashub.preset_dir), to compare them with lesson 03's encoder of the same weights.
DEFAULT_LESSONS = ("02", "03", "04", "05", "06")
SKIP_TAG = "bertbase-skip"
CHECK_CELL = re.compile(r'^\s*(#[^\n]*\n\s*)*check\(\s*"lesson\d\d\.', re.M)
EMBEDDED_SHAPE, BASE_SHAPE = (6, 384), (12, 768)
REPORT_PREFIX = "BERTLAB_MODELS_USED "
CELL_TIMEOUT_S = 3600

# Appended to each notebook: which BERTs did the lesson really use?
INSPECT_CELL = r'''
import gc as _gc, json as _json, re as _re
import tensorflow_hub as _hub
from transformers.models.bert.modeling_tf_bert import TFBertMainLayer as _Main

def _bertlab_models_used():
    found = []
    for obj in _gc.get_objects():
        try:
            if isinstance(obj, _Main):
                found.append({"kind": "transformers", "layers": obj.config.num_hidden_layers,
                              "hidden": obj.config.hidden_size})
            elif isinstance(obj, _hub.KerasLayer):
                names = [w.name for w in obj.weights]
                words = [w for w in obj.weights if "word_embeddings" in w.name]
                if words:  # an encoder (the preprocessor has no weights)
                    blocks = {m.group(1) for name in names for m in [_re.search(r"layer_\._(\d+)/", name)] if m}
                    found.append({"kind": "tf_hub", "layers": len(blocks), "hidden": int(words[0].shape[-1])})
        except ReferenceError:
            continue
    return found

print("BERTLAB_MODELS_USED " + _json.dumps(_bertlab_models_used()))
'''


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names the cell reads from earlier cells, names it binds), from its code; IPython magics are
    dropped. A name the cell binds itself (a loop or comprehension variable) is not read from earlier."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    reads, binds = set(), set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name):
            (binds if isinstance(node.ctx, (ast.Store, ast.Del)) else reads).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            binds.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            binds.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return reads - binds, binds


def model_cells(notebook) -> tuple[list[int], dict[int, str]]:
    """Indices of the code cells to run with BERT-base, and why each other one is left out."""
    run, left_out, tainted = [], {}, {}  # tainted: name -> the left-out cell that last bound it
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        reads, binds = _names(cell.source)
        why = None
        if SKIP_TAG in cell.get("metadata", {}).get("tags", []):
            why = f"tagged {SKIP_TAG}"
        elif CHECK_CELL.match(cell.source):
            why = "a check cell (graders are proven in make test)"
        elif reads & set(tainted):
            name = sorted(reads & set(tainted))[0]
            why = f"reads {name!r} from cell {tainted[name]}, which was left out"
        if why is None:
            run.append(index)
            for name in binds:
                tainted.pop(name, None)
        else:
            left_out[index] = why
            if not why.startswith("a check cell"):
                tainted.update(dict.fromkeys(binds, index))
    return run, left_out


def build_standin(workdir: Path) -> dict:
    caches = {"HF_HOME": str(workdir / "hf"), "TFHUB_CACHE_DIR": str(workdir / "tfhub")}
    subprocess.run(
        [sys.executable, "-m", "tools.standin", "build", "--hf-home", caches["HF_HOME"],
         "--tfhub-cache-dir", caches["TFHUB_CACHE_DIR"]],
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
    )
    return caches


def models_used(notebook) -> list[dict]:
    for output in notebook.cells[-1].get("outputs", []):
        for line in output.get("text", "").splitlines():
            if line.startswith(REPORT_PREFIX):
                return json.loads(line.removeprefix(REPORT_PREFIX))
    raise RuntimeError("the inspection cell printed nothing")


def problems_with(lesson: str, used: list[dict]) -> list[str]:
    shapes = {(model["layers"], model["hidden"]) for model in used}
    problems = []
    if EMBEDDED_SHAPE in shapes:
        problems.append(f"the embedded model ({EMBEDDED_SHAPE[0]} layers, hidden {EMBEDDED_SHAPE[1]}) was used")
    if lesson in LOADS_PRETRAINED and BASE_SHAPE not in shapes:
        problems.append(f"no model with {BASE_SHAPE[0]} layers and hidden {BASE_SHAPE[1]} was used: {used}")
    return problems


def slowest_cells(notebook, count: int = 3) -> list[dict]:
    """The cells that took longest (nbclient records each cell's start and end), for the report."""
    from datetime import datetime

    timed = []
    for index, cell in enumerate(notebook.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if start and end:
            seconds = (datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
            timed.append({"cell": index, "seconds": round(seconds, 1), "first_line": cell.source.splitlines()[0][:80]})
    return sorted(timed, key=lambda item: -item["seconds"])[:count]


def run_notebook(path: Path, full: bool = False) -> tuple[float, list[dict], list[dict], int]:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    if not full:
        keep, _ = model_cells(notebook)
        notebook.cells = [cell for index, cell in enumerate(notebook.cells) if index in set(keep)]
    notebook.cells.append(nbformat.v4.new_code_cell(INSPECT_CELL))
    started = time.time()
    NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.time() - started, models_used(notebook), slowest_cells(notebook), len(notebook.cells) - 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", help=f"lesson numbers; default: {' '.join(DEFAULT_LESSONS)}")
    parser.add_argument("--full", action="store_true", help="run every cell, not only the model cells")
    parser.add_argument("--workdir", type=Path, help="where the stand-in goes (default: a temporary folder, removed)")
    parser.add_argument("--json", type=Path, help="write the per-notebook minutes and models here")
    args = parser.parse_args(argv)

    notebooks = sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))
    lessons = {lesson.zfill(2) for lesson in args.lessons} or set(DEFAULT_LESSONS)
    notebooks = [path for path in notebooks if path.name[:2] in lessons]
    with tempfile.TemporaryDirectory(prefix="bertlab-standin-") as scratch:
        workdir = args.workdir or Path(scratch)
        # This checkout's bertlab, in the builder and in every kernel.
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        started = time.time()
        caches = build_standin(workdir)
        print(f"stand-in built in {(time.time() - started) / 60:.1f} min under {workdir}", flush=True)
        os.environ.update(caches, HF_HUB_OFFLINE="1", BERTLAB_MODEL="bert-base-uncased", BERTLAB_QUICK="1")
        results, failures = [], []
        for path in notebooks:
            lesson = path.name[:2]
            load = os.getloadavg()[0]
            try:
                seconds, used, slowest, cells_run = run_notebook(path, full=args.full)
            except Exception as error:  # noqa: BLE001  (nbclient's CellExecutionError and kernel deaths alike)
                failures.append(f"{path.name}: {str(error)[-3000:]}")
                print(f"FAIL {path.name}", flush=True)
                continue
            results.append({"notebook": path.name, "minutes": round(seconds / 60, 2), "load_1min_before": load,
                            "cells_run": cells_run, "models": used, "slowest_cells": slowest})
            problems = problems_with(lesson, used)
            failures += [f"{path.name}: {problem}" for problem in problems]
            print(f"{'FAIL' if problems else 'ok  '} {path.name:<28} {seconds / 60:6.1f} min  {cells_run:3d} cells  "
                  f"models: {sorted({(m['layers'], m['hidden']) for m in used})}", flush=True)
    total = sum(result["minutes"] for result in results)
    print(f"total notebook time {total:.1f} min")
    if args.json:
        args.json.write_text(json.dumps({"name": "bertbase_notebooks", "date": time.strftime("%Y-%m-%d"),
                                         "model": "bert-base-uncased stand-in (random weights)",
                                         "cells": "every cell" if args.full else "model cells",
                                         "metrics": {"total_minutes": round(total, 1)}, "members": results}, indent=2) + "\n")
    for failure in failures:
        print(f"\n{failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
