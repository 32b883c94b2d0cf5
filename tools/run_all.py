"""A learner's "Run All": each generated learner notebook, no exercise solved, runs top to bottom.

    python tools/run_all.py [--json PATH] notebooks/01_installation.ipynb ...

Each graded stub raises ``NotImplementedError``; its check cell must say "not implemented yet"
and every later cell must still run (cells that use a learner's function guard it, or use the
course's own version). Executed in quick mode (``BERTLAB_QUICK=1``), with the kernel of the
interpreter that runs this script: ``make test-colab`` runs it in Colab's image
(tests_learner/test_colab_setup.py), ``make test-run-all`` in the course's own ``.venv``.

Prints one line per notebook (ok/FAIL, minutes) and exits 1 if any failed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

CHECK = re.compile(r'^\s*check\(\s*"(lesson\d\d\.\w+)"', re.M)
MIN_EXERCISES = 3  # the course promises at least three graded exercises per lesson
CELL_TIMEOUT_S = 1200


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return f"{output.get('ename')}: {output.get('evalue')}"
    return "".join(str(output.get("data", {}).get(kind, "")) for kind in ("text/plain", "text/html"))


def problems_after_run(name: str, notebook) -> list[str]:
    """What a finished Run All shows wrong: too few exercises, a check that did not say
    "not implemented yet" (a stub that passed, or a check that crashed)."""
    checks = [(CHECK.search(cell.source).group(1), "".join(_text(o) for o in cell.get("outputs", [])))
              for cell in notebook.cells if cell.cell_type == "code" and CHECK.search(cell.source)]
    problems = []
    if len(checks) < MIN_EXERCISES:
        problems.append(f"{name} has {len(checks)} graded exercises, the course promises at least {MIN_EXERCISES}")
    problems += [f"{name}: check('{key}') showed {shown[:200]!r}, not 'not implemented yet'"
                 for key, shown in checks if "not implemented yet" not in shown]
    return problems


def run_all(path: Path) -> tuple[float, list[str]]:
    """Execute `path` as Run All does; return (seconds, problems)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.monotonic()
    try:
        client.execute()
    except CellExecutionError as error:  # the first uncaught exception stops a learner's Run All
        return time.monotonic() - start, [f"{path.name}: Run All stopped: {error.ename}: {error.evalue}"]
    return time.monotonic() - start, problems_after_run(path.name, notebook)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, help="write each notebook's minutes and problems here")
    args = parser.parse_args(argv)
    os.environ["BERTLAB_QUICK"] = "1"
    report, failed = [], False
    for path in args.notebooks:
        seconds, problems = run_all(path.resolve())
        failed |= bool(problems)
        report.append({"notebook": path.name, "minutes": round(seconds / 60, 2), "problems": problems})
        print(f"{'FAIL' if problems else 'ok  '} {path.name:<30} {seconds / 60:5.1f} min", flush=True)
        for problem in problems:
            print(f"     {problem}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
