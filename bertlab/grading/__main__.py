"""Score notebooks from a terminal, one learner or a whole class.

    python -m bertlab.grading score notebooks/01_installation.ipynb
    python -m bertlab.grading score submissions/ --gradebook gradebook.csv --csv audit.csv
    python -m bertlab.grading score /autograder/submission --lesson 02 --gradescope /autograder/results/results.json

Each notebook is scored by its own judge process (:mod:`bertlab.grading.worker`, whose docstring
holds the threat model), several at a time (``--jobs``, default: the number of CPUs): the graders
compute their expected answers there, the notebook's cells run by the scoring rule (imports,
``def``/``class`` statements and literal constants only; see :mod:`bertlab.grading.cells`) in a
separate learner process (:mod:`bertlab.grading.learner`: a private folder, namespaces where the
machine allows), and each exercise is graded by the judge calling the learner's function over a
socket. Every notebook is read before any of them runs. What a notebook does (``sys.exit``,
``os.chdir``, patching NumPy or the grader, writing to file descriptors, an endless loop) stays in
its learner process; ``--timeout`` limits each cell and grader, ``--notebook-timeout`` kills the
whole judge. When a notebook's processes end, everything they started is killed too (the PID
namespace, or the judge as child subreaper), so nothing outlives its scoring.

Prints a table per notebook and ``TOTAL x/y points``; ``--json`` prints JSON instead (only
the scorer writes to stdout). Files, written once every notebook's processes are gone, each
through a temporary file in its folder and ``os.replace`` (a reader sees the old file or the
whole new one), see :mod:`bertlab.grading.gradebook`:

* ``--gradebook FILE.csv``: one row per student, a column per exercise in lesson order, lesson
  totals, total, max, percent, flags (who a notebook belongs to: ``--student-id-from``, ``--roster``);
* ``--csv FILE``: the long form, for audit: one row per notebook and exercise and a ``TOTAL``
  row per notebook, with the student it was counted for;
* ``--gradescope FILE.json``: one notebook in Gradescope's autograder results format.

Exit status: 0 whatever the score, 1 with ``--fail-under PERCENT`` when the total is below it,
2 when something could not be scored (an unreadable notebook, an unknown lesson, data or
installation missing: an error of the run, never a zero for the learner) or a file could not be
written.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import csv
import glob
import io
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bertlab.grading import cells, gradebook

_NOTEBOOK_NAME = re.compile(r"(?:^|[^\d])(\d\d)_")
SOLUTIONS = Path(__file__).resolve().parents[2] / "notebooks" / "solutions"  # hidden from the notebooks scored


@dataclass
class NotebookScore:
    path: Path
    lesson: str | None
    results: list = field(default_factory=list)  # list[core.Result]
    cell_errors: list = field(default_factory=list)  # "cell 3: NameError: ..." for cells that could not run
    flags: list = field(default_factory=list)  # for the teacher: another lesson in the check cells, ...
    error: str | None = None  # why this notebook was not (fully) scored
    run_error: bool = False  # True: the notebook could not be scored at all (no points were given)
    seconds: float = 0.0
    sandbox: str | None = None  # how its code was sealed off: "namespaces", "fallback" (see bertlab.grading.worker)

    @property
    def points(self) -> int:
        return sum(r.points for r in self.results)

    @property
    def max_points(self) -> int:
        return sum(r.max_points for r in self.results)

    def to_dict(self) -> dict:
        return {"path": str(self.path), "lesson": self.lesson,
                "points": None if self.run_error else self.points, "max_points": self.max_points,
                "exercises": [r.to_dict() for r in self.results], "cell_errors": self.cell_errors,
                "flags": self.flags, "error": self.error, "seconds": round(self.seconds, 2), "sandbox": self.sandbox}


# Kept for the tests and authors' scripts: the cell vocabulary lives in bertlab.grading.cells.


def cell_role(cell) -> str | None:
    """Why the scorer runs (part of) this cell: "setup", "graded", "grading-setup", "definitions" or None."""
    if cell.get("cell_type") != "code":
        return None
    if cells.SETUP_TAG in cells.tags(cell):
        return "setup"
    if cells.graded_name(cell):
        return "graded"
    code = cells.python_source(cells.source(cell))
    if code is not None and code.lstrip().startswith(cells.GRADING_SETUP):
        return "grading-setup"
    try:
        return "definitions" if cells.scored_module(cell) is not None else None
    except SyntaxError:
        return "definitions"


def normalize_lesson(value: str) -> str:
    """"03", "3", "lesson03" -> "lesson03"."""
    match = re.fullmatch(r"(?:lesson)?(\d{1,2})", str(value).strip())
    if not match:
        raise argparse.ArgumentTypeError(f"a lesson is given as 03 or lesson03, got {value!r}")
    return f"lesson{int(match.group(1)):02d}"


def lesson_of(path: Path, nb: dict | None = None, lesson: str | None = None) -> tuple[str, list[str]]:
    """The lesson to grade a notebook with, and flags for the teacher.

    `lesson` (``--lesson``) wins; else the notebook's check("lessonNN.name", ...) cells; else its
    NN_ name ("Copy of 01_installation.ipynb" works). Check cells that name another lesson than
    the file name (or than ``--lesson``) are flagged.
    """
    named = _NOTEBOOK_NAME.search(Path(path).name)
    from_name = f"lesson{named.group(1)}" if named else None
    checked = sorted(cells.check_lessons(nb.get("cells", []))) if nb else []
    flags = []
    if len(checked) > 1:
        flags.append(f"its check cells name several lessons: {', '.join(checked)}")
    chosen = lesson or (checked[0] if len(checked) == 1 else None) or from_name
    if chosen is None:
        raise ValueError(f"{path}: cannot tell the lesson: name the notebook NN_name.ipynb or pass --lesson NN")
    others = [name for name in [*checked, from_name] if name and name != chosen]
    if others:
        flags.append(f"graded as {chosen}" + (" (--lesson)" if lesson else "")
                     + f", but its check cells or file name say {', '.join(sorted(set(others)))}")
    return chosen, flags


def expand(paths: list[str]) -> list[Path]:
    """Notebook paths from the arguments: files, folders (searched recursively) and glob patterns
    (``submissions/**/*.ipynb``, for shells that do not expand ``**``)."""
    return [path for path, _ in expand_with_roots(paths)]


def expand_with_roots(paths: list[str]) -> list[tuple[Path, Path]]:
    """(notebook, root) pairs as :func:`expand` finds them; root is the folder argument it was
    found in, the part of a glob pattern before its first wildcard, or a named notebook's folder
    (the student id rule, :func:`bertlab.grading.gradebook.student_id`, looks at the folders
    between the two)."""
    found: dict[Path, Path] = {}
    for arg in paths:
        path = Path(arg)
        if path.is_dir():
            for p in sorted(path.rglob("*.ipynb")):
                if ".ipynb_checkpoints" not in p.parts:
                    found.setdefault(p, path)
        elif not path.exists() and glob.has_magic(arg):
            fixed = Path(*[part for part in itertools.takewhile(lambda part: not glob.has_magic(part), path.parts)])
            for p in sorted(glob.glob(arg, recursive=True)):
                if ".ipynb_checkpoints" not in p:
                    found.setdefault(Path(p), fixed)
        else:
            found.setdefault(path, path.parent)
    return list(found.items())


def _worker_env(jobs: int) -> dict:
    threads = str(max(1, (os.cpu_count() or 1) // max(jobs, 1)))
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        env.setdefault(name, threads)
    return env


def score_notebook(path: Path, *, lesson: str | None = None, verbose: bool = False, timeout: float | None = 120,
                   notebook_timeout: float | None = 600, jobs: int = 1, content: bytes | None = None,
                   hide: tuple = ()) -> NotebookScore:
    """Score one notebook in a fresh process (see the module docstring); never raises for the notebook's doing.

    `content`: the notebook's bytes, read before any notebook of the class ran (:func:`score_all`);
    `hide`: folders the notebook's code must not see (the class's notebooks, the course's solutions)."""
    from bertlab.grading import core

    path = Path(path)
    start = time.perf_counter()
    try:
        text = path.read_bytes() if content is None else content
        if isinstance(text, OSError):
            raise text
        nb = json.loads(text.decode("utf-8"))
        if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
            raise ValueError("no list of cells")
        lesson, flags = lesson_of(path, nb, lesson)
        graders = core.load_lesson(lesson)
    except (OSError, UnicodeDecodeError, ValueError, LookupError) as error:
        why = f"not a notebook ({error})" if isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)) else str(error)
        return NotebookScore(path, lesson, error=f"cannot score: {why}", run_error=True)
    score = NotebookScore(path, lesson, flags=flags)
    modules, syntax_errors, _ = cells.scored_modules(nb["cells"])
    if not syntax_errors and cells.static_stubs(modules.values(), {g.name for g in graders}) == {g.name for g in graders}:
        # Every exercise is still the stub: nothing can score, no process needed.
        score.results = [core.Result(g.name, 0, g.points, "not implemented", core.NOT_IMPLEMENTED) for g in graders]
        score.seconds = time.perf_counter() - start
        return score

    with tempfile.NamedTemporaryFile("w+", suffix=".log", encoding="utf-8", errors="replace") as log:
        hide = [*hide, str(SOLUTIONS), str(path.resolve().parent)]
        request = {"notebook": nb, "name": path.name, "lesson": lesson, "timeout": timeout, "log": log.name,
                   "hide": hide}
        process = subprocess.Popen([sys.executable, "-m", "bertlab.grading.worker"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=path.resolve().parent,
                                   env=_worker_env(jobs), start_new_session=True, text=True, encoding="utf-8",
                                   errors="replace")
        try:
            out, _ = process.communicate(json.dumps(request) + "\n", timeout=notebook_timeout)
            stopped = None
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the whole group: a learner's child processes too
            out, _ = process.communicate()
            stopped = f"stopped after {notebook_timeout:g} s (--notebook-timeout): the notebook's code did not end"
        _kill_group(process.pid)
        if verbose:
            log.seek(0)
            printed = log.read().strip()
            if printed:
                print(f"--- {path}: what its cells printed ---\n{printed}", file=sys.stderr)

    events = []
    for line in out.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
    done = any(e.get("kind") == "done" for e in events)
    by_name = {g.name: g for g in graders}
    for event in events:
        kind = event.get("kind")
        if kind == "run_error":
            score.error, score.run_error = f"cannot score: {event.get('message')}", True
        elif kind == "note":
            score.cell_errors.append(str(event.get("message")))
        elif kind == "flag":  # for the teacher: wrote outside its folder, a copy of the course's answer
            score.flags.append(str(event.get("message")))
        elif kind == "sandbox":
            score.sandbox = str(event.get("mode"))
        elif kind == "stopped":
            stopped = stopped or str(event.get("message"))
        elif kind == "result" and event.get("name") in by_name:
            g = by_name.pop(event["name"])
            points = min(int(event.get("points", 0)), g.points)
            score.results.append(core.Result(g.name, points, g.points, str(event.get("status")),
                                             str(event.get("message", "")), list(event.get("notes", []))))
    if not score.run_error and (stopped or not done):
        score.error = stopped or (f"the scoring process ended early (exit status {process.returncode}): "
                                  "the notebook's code ended it (os._exit, a crash)")
    if score.run_error:
        score.results = []
    else:
        for g in by_name.values():  # never graded: the process was stopped or crashed
            score.results.append(core.Result(g.name, 0, g.points, "error", f"not graded: {score.error}"))
        order = {g.name: i for i, g in enumerate(graders)}
        score.results.sort(key=lambda r: order[r.name])
    score.seconds = time.perf_counter() - start
    return score


def _kill_group(pid: int) -> None:
    """Kill what is left of a finished worker's process group: processes the notebook started
    (``subprocess.Popen``) and left running. A process that left the group (``setsid``) escapes."""
    try:
        # The worker is reaped, but its pid stays taken as long as the group has members: this
        # reaches the notebook's processes, or nothing (ESRCH).
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def score_all(paths: list[Path], *, jobs: int | None = None, **options) -> list[NotebookScore]:
    """Score `paths` in parallel (`jobs` processes at a time), in the order given.

    Every notebook is read before any is run: what one notebook's code does to another's file
    (where the OS lets it, see bertlab.grading.worker) cannot change that one's grade."""
    jobs = max(1, jobs or os.cpu_count() or 1)
    contents = {}
    for p in paths:
        try:
            contents[p] = Path(p).read_bytes()
        except OSError as error:
            contents[p] = error
    hide = tuple(sorted({str(Path(p).resolve().parent) for p in paths}))
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda p: score_notebook(p, jobs=jobs, content=contents[p], hide=hide, **options), paths))


def format_score(score: NotebookScore) -> str:
    width = max([len("exercise")] + [len(r.name) for r in score.results])
    lines = [f"{score.path} ({score.lesson or 'no lesson'}, {score.seconds:.1f} s)"]
    if score.results:
        lines.append(f"  {'exercise':<{width}}  {'points':>6}  result")
    for r in score.results:
        result = r.line().split(": ", 1)[1] if r.passed else r.message
        lines.append(f"  {r.name:<{width}}  {f'{r.points}/{r.max_points}':>6}  {'✓' if r.passed else '✗'} {result}")
    for error in score.cell_errors:
        lines.append(f"  note: {error}")
    for flag in score.flags:
        lines.append(f"  flag: {flag}")
    if score.error:
        lines.append(f"  error: {score.error}")
    lines.append("  subtotal: not scored" if score.run_error else f"  subtotal {score.points}/{score.max_points} points")
    return "\n".join(lines)


CSV_COLUMNS = ["notebook", "lesson", "exercise", "points", "max_points", "status", "message", "student"]


def write_csv(scores: list[NotebookScore], file, students: dict[Path, str] | None = None) -> None:
    """The long form (audit): one row per notebook and exercise, then a TOTAL row per notebook;
    `students` ({path: student}, :func:`bertlab.grading.gradebook.assign_students`) fills the
    last column, the student the notebook was counted for in ``--gradebook``."""
    writer = csv.writer(file)
    writer.writerow(CSV_COLUMNS)
    for s in scores:
        student = (students or {}).get(Path(s.path), "")
        for r in s.results:
            message = "; ".join([r.message, *r.notes] if r.message else r.notes)
            writer.writerow([s.path, s.lesson, r.name, r.points, r.max_points, r.status, message, student])
        status = "error" if s.error else "scored"
        message = "; ".join([*([s.error] if s.error else []), *s.flags, *s.cell_errors])
        writer.writerow([s.path, s.lesson, "TOTAL", "" if s.run_error else s.points, s.max_points, status, message,
                         student])


def _text(write, *args) -> str:
    buffer = io.StringIO(newline="")
    write(args[0], buffer, *args[1:])
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bertlab.grading",
        description="Score lesson notebooks, each in its own process: runs only their definitions, then the graders.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser(
        "score", help="score notebooks and print a table per exercise and TOTAL x/y points",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=STUDENT_ID_HELP)
    s.add_argument("notebooks", nargs="+", help="notebooks, folders (searched recursively) or glob patterns")
    s.add_argument("--fail-under", type=float, metavar="PERCENT", default=None,
                   help="exit 1 when the total is below PERCENT (default: always exit 0; scoring is not a test)")
    s.add_argument("--json", action="store_true", help="print the scores as JSON instead of a table")
    s.add_argument("--gradebook", type=Path, metavar="FILE.csv",
                   help="write the gradebook: one row per student (student, lessonNN.exercise points in lesson "
                        "order, lessonNN total, total, max, percent, flags)")
    s.add_argument("--csv", type=Path, metavar="FILE",
                   help="write the long form, for audit: a row per notebook and exercise, a TOTAL row per notebook, "
                        "the student it was counted for")
    s.add_argument("--gradescope", type=Path, metavar="FILE.json",
                   help="write Gradescope's autograder results (one test per exercise) for the one notebook scored, "
                        "e.g. /autograder/results/results.json")
    s.add_argument("--student-id-from", choices=gradebook.STUDENT_RULES, default="auto",
                   help="where the gradebook takes the student id from (default auto; see below)")
    s.add_argument("--roster", type=Path, metavar="FILE.csv",
                   help="a CSV with the columns path,student: the student of each notebook (or folder of notebooks); "
                        "wins over --student-id-from")
    s.add_argument("--lesson", type=normalize_lesson, metavar="NN", default=None,
                   help="grade every notebook as lesson NN (default: its check cells, else its NN_ name)")
    s.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="notebooks scored at the same time (default: the number of CPUs)")
    s.add_argument("--timeout", type=float, default=120, metavar="SECONDS",
                   help="limit for each scored cell and each grader (default 120; 0 for none)")
    s.add_argument("--notebook-timeout", type=float, default=600, metavar="SECONDS",
                   help="the scoring process of a notebook is killed after this long (default 600)")
    s.add_argument("-v", "--verbose", action="store_true", help="show what the scored cells printed (on stderr)")
    args = parser.parse_args(argv)

    # Everything that can be refused is refused before scoring, which may take minutes.
    for option in ("gradebook", "csv", "gradescope"):
        target = getattr(args, option)
        if target is not None and not (target.parent if str(target.parent) else Path(".")).is_dir():
            parser.error(f"--{option} {target}: the folder {target.parent} does not exist")
    roster = None
    if args.roster is not None:
        try:
            roster = gradebook.read_roster(args.roster)
        except (OSError, ValueError, UnicodeDecodeError) as error:
            parser.error(f"--roster: {error}")
    found = expand_with_roots(args.notebooks)
    paths = [path for path, _ in found]
    if not paths:
        print("no notebooks found in: " + " ".join(args.notebooks), file=sys.stderr)
        return 2
    if args.gradescope is not None and len(paths) != 1:
        parser.error(f"--gradescope writes the results of one submission, but {len(paths)} notebooks were found: "
                     + ", ".join(map(str, paths[:5])) + (" ..." if len(paths) > 5 else ""))

    scores = score_all(paths, jobs=args.jobs, lesson=args.lesson, verbose=args.verbose,
                       timeout=args.timeout or None, notebook_timeout=args.notebook_timeout or None)
    points = sum(s.points for s in scores)
    max_points = sum(s.max_points for s in scores)
    run_errors = [s for s in scores if s.run_error]
    if args.json:
        payload = {"notebooks": [s.to_dict() for s in scores], "points": points, "max_points": max_points,
                   "errors": len(run_errors)}
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        for s in scores:
            print(format_score(s))
            print()
        print(f"TOTAL {points}/{max_points} points" + (f" ({len(run_errors)} notebook(s) not scored)" if run_errors else ""))
    for s in run_errors:
        print(f"{s.path}: {s.error}", file=sys.stderr)
    fallback = [s for s in scores if s.sandbox == "fallback"]
    if fallback:
        print(f"note: {len(fallback)} notebook(s) scored without namespaces (sandbox: fallback; user namespaces "
              "refused or BERTLAB_SANDBOX=fallback): their code could write outside its folder; grades and files "
              "written here still hold (see bertlab/grading/worker.py)", file=sys.stderr)

    # Last, once every notebook's processes are gone (score_all has waited for each, and killed its group).
    students, student_flags = gradebook.assign_students(found, args.student_id_from, roster)
    if roster:
        unused = gradebook.unused_roster_entries(roster, paths)
        if unused:
            print(f"--roster: {len(unused)} path(s) match no scored notebook: {', '.join(unused[:5])}", file=sys.stderr)
    outputs = []
    if args.gradebook:
        outputs.append((args.gradebook, lambda: _text(gradebook.write_gradebook, scores, students, student_flags)))
    if args.csv:
        outputs.append((args.csv, lambda: _text(write_csv, scores, students)))
    if args.gradescope:
        outputs.append((args.gradescope, lambda: json.dumps(gradebook.gradescope_results(scores[0]), indent=2,
                                                            ensure_ascii=False) + "\n"))
    not_written = False
    for target, text in outputs:
        try:
            gradebook.write_atomically(target, text())
        except (OSError, ValueError) as error:
            print(f"{target}: not written: {error}", file=sys.stderr)
            not_written = True
    if run_errors or not_written:
        return 2
    if args.fail_under is not None and max_points and 100 * points / max_points < args.fail_under:
        return 1
    return 0


STUDENT_ID_HELP = """\
student id (--gradebook, --csv): --roster FILE.csv (path,student; a path may name a folder)
wins; else, with --student-id-from auto:
  submissions/alice/01_installation.ipynb -> alice   (the first folder below the folder scored)
  submissions/alice_01_installation.ipynb -> alice   (the file name before the lesson number)
  alice/01_installation.ipynb given alone -> alice   (the file keeps the course's name: its folder)
--student-id-from folder keeps the folder rules, file the file name rule. Notebooks of one
student fill one row; two for one lesson are flagged and the one with more points counts.
flags: the course's own answer used, a cell that could not run, a notebook stopped or not
scored, another lesson in its check cells, a lesson with no notebook, two for one lesson.
"""


if __name__ == "__main__":
    sys.exit(main())
