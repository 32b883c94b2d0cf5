"""Score notebooks from a terminal: ``python -m bertlab.grading score notebooks/01_installation.ipynb``.

For each notebook it runs, in a fresh namespace, only the cells that the graded functions
need -- the setup cell, cells made only of imports, cells whose first line is
``# GRADING SETUP`` and the ``# GRADED FUNCTION:`` cells -- never the training cells, then
runs the lesson's graders (``bertlab/grading/lessonNN.py``, from the ``NN_`` of the file name)
on the functions it defined. It prints a table per notebook and ``TOTAL x/y points``.

Scoring is not a test: the exit status is 0 whatever the score, unless ``--fail-under PERCENT``
is given (then 1 when the total is below it). 2 means a notebook could not be read.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

GRADED_PREFIX = "# GRADED FUNCTION:"
GRADING_SETUP = "# GRADING SETUP"
SETUP_TAG = "bertlab-setup"
_NOTEBOOK_NAME = re.compile(r"(?:^|[^\d])(\d\d)_")
_CHECK_CALL = re.compile(r"""check\(\s*["'](lesson\d\d)\.""")


@dataclass
class NotebookScore:
    path: Path
    lesson: str
    results: list = field(default_factory=list)  # list[core.Result]
    cell_errors: list = field(default_factory=list)  # "cell 3: NameError: ..." for setup/import cells
    seconds: float = 0.0

    @property
    def points(self) -> int:
        return sum(r.points for r in self.results)

    @property
    def max_points(self) -> int:
        return sum(r.max_points for r in self.results)


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _first_line(source: str) -> str:
    return source.lstrip().split("\n", 1)[0].strip()


def _without_magics(source: str) -> str:
    """Drop IPython-only lines (`%magic`, `!shell`): scoring runs plain Python."""
    return "\n".join(line for line in source.split("\n") if not line.lstrip().startswith(("%", "!")))


def _only_imports(source: str) -> bool:
    try:
        tree = ast.parse(_without_magics(source))
    except SyntaxError:
        return False
    return bool(tree.body) and all(isinstance(node, (ast.Import, ast.ImportFrom)) for node in tree.body)


def cell_role(cell) -> str | None:
    """Why the scorer runs this cell ("setup", "imports", "grading-setup", "graded") or None."""
    if cell.get("cell_type") != "code":
        return None
    source = _source(cell)
    first = _first_line(source)
    if SETUP_TAG in cell.get("metadata", {}).get("tags", []):
        return "setup"
    if first.startswith(GRADED_PREFIX):
        return "graded"
    if first == GRADING_SETUP:
        return "grading-setup"
    if _only_imports(source):
        return "imports"
    return None


def lesson_of(path: Path, nb: dict | None = None) -> str:
    """The lesson a notebook belongs to: from its check("lessonNN.name", ...) cells, else its NN_ name.

    Copies keep working: "Copy of 01_installation.ipynb" (Colab), "01_installation-mine.ipynb".
    """
    if nb is not None:
        lessons = set(_CHECK_CALL.findall("\n".join(_source(c) for c in nb.get("cells", []) if c.get("cell_type") == "code")))
        if len(lessons) == 1:
            return lessons.pop()
    match = _NOTEBOOK_NAME.search(Path(path).name)
    if not match:
        raise ValueError(f"{path}: cannot tell the lesson: name the notebook NN_name.ipynb or pass --lesson lessonNN")
    return f"lesson{match.group(1)}"


class ScoringTimeout(Exception):
    """A scored cell or grader ran longer than --timeout seconds (an endless loop, or training in a graded cell)."""


@contextlib.contextmanager
def _time_limit(seconds: float | None):
    """Raise ScoringTimeout after `seconds` (Unix main thread only; elsewhere no limit)."""
    import signal
    import threading

    usable = seconds and hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise ScoringTimeout(f"took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _error_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


def score_notebook(path: Path, *, lesson: str | None = None, verbose: bool = False,
                   timeout: float | None = 120) -> NotebookScore:
    """Run the setup, import and graded cells of one notebook, then grade its exercises."""
    from bertlab.grading import core

    path = Path(path)
    start = time.perf_counter()
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"not a notebook (invalid JSON: {error})") from None
    lesson = lesson or lesson_of(path, nb)
    graders = core.load_lesson(lesson)
    score = NotebookScore(path, lesson)

    namespace: dict = {"__name__": "__main__"}
    graded_errors: dict[str, str] = {}
    for index, cell in enumerate(nb.get("cells", [])):
        role = cell_role(cell)
        if role is None:
            continue
        source = _without_magics(_source(cell))
        captured = io.StringIO()
        try:
            code = compile(source, f"<{path.name} cell {index}>", "exec")
            with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured), _time_limit(timeout):
                exec(code, namespace)
        except Exception as error:  # the learner's cell is broken: report, go on with the others
            message = _error_line(error)
            if role == "graded":
                name = _first_line(_source(cell))[len(GRADED_PREFIX):].strip()
                graded_errors[name] = message
            else:
                score.cell_errors.append(f"cell {index} ({role}): {message}")
        if verbose and captured.getvalue().strip():
            print(captured.getvalue(), file=sys.stderr)

    for g in graders:
        if g.name in graded_errors:
            result = core.Result(g.name, 0, g.points, "failed", f"its cell raised {graded_errors[g.name]}")
        elif g.name not in namespace:
            result = core.Result(
                g.name, 0, g.points, "missing", f"no function named {g.name} (is its '{GRADED_PREFIX}' cell there?)"
            )
        else:
            with contextlib.redirect_stdout(io.StringIO()), _time_limit(timeout):
                result = core.run_grader(g, namespace[g.name])
        score.results.append(result)
    score.seconds = time.perf_counter() - start
    return score


def format_score(score: NotebookScore) -> str:
    width = max([len("exercise")] + [len(r.name) for r in score.results])
    lines = [f"{score.path} ({score.lesson}, {score.seconds:.1f} s)"]
    lines.append(f"  {'exercise':<{width}}  {'points':>6}  result")
    for r in score.results:
        result = "passed" if r.passed else r.message
        lines.append(f"  {r.name:<{width}}  {f'{r.points}/{r.max_points}':>6}  {'✓' if r.passed else '✗'} {result}")
    for error in score.cell_errors:
        lines.append(f"  note: {error}")
    lines.append(f"  subtotal {score.points}/{score.max_points} points")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bertlab.grading",
        description="Score lesson notebooks: runs only their setup, import and graded cells.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("score", help="score notebooks and print a table per exercise and TOTAL x/y points")
    s.add_argument("notebooks", nargs="+", type=Path)
    s.add_argument("--fail-under", type=float, metavar="PERCENT", default=None,
                   help="exit 1 when the total is below PERCENT (default: always exit 0; scoring is not a test)")
    s.add_argument("--json", action="store_true", help="print the scores as JSON instead of a table")
    s.add_argument("--lesson", metavar="lessonNN", default=None,
                   help="grade with bertlab/grading/lessonNN.py (default: from the notebook's check cells or its NN_ name)")
    s.add_argument("--timeout", type=float, default=120, metavar="SECONDS",
                   help="limit for each scored cell and each grader (default 120; 0 for none)")
    s.add_argument("-v", "--verbose", action="store_true", help="show what the scored cells printed")
    args = parser.parse_args(argv)

    os.environ.setdefault("MPLBACKEND", "Agg")
    import bertlab  # noqa: F401  (Keras 2 before anything a notebook imports)

    scores = []
    for path in args.notebooks:
        try:
            scores.append(score_notebook(path, lesson=args.lesson, verbose=args.verbose, timeout=args.timeout or None))
        except (OSError, ValueError, LookupError) as error:
            print(f"{path}: cannot score: {error}", file=sys.stderr)
            return 2
    points = sum(s.points for s in scores)
    max_points = sum(s.max_points for s in scores)
    if args.json:
        payload = {
            "notebooks": [
                {"path": str(s.path), "lesson": s.lesson, "points": s.points, "max_points": s.max_points,
                 "exercises": [{"name": r.name, "points": r.points, "max_points": r.max_points,
                                "status": r.status, "message": r.message} for r in s.results],
                 "cell_errors": s.cell_errors}
                for s in scores
            ],
            "points": points,
            "max_points": max_points,
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        for s in scores:
            print(format_score(s))
            print()
        print(f"TOTAL {points}/{max_points} points")
    if args.fail_under is not None and max_points and 100 * points / max_points < args.fail_under:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
