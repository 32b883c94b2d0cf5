"""What ``python -m bertlab.grading score`` writes for a teacher: a gradebook, the long form, Gradescope.

* :func:`write_gradebook` (``--gradebook FILE.csv``): one row per student; columns ``student``,
  then ``lessonNN.exercise`` (points) in lesson order and each lesson's exercises in the order of
  its graders, ``lessonNN total`` after each lesson, then ``total``, ``max``, ``percent`` and
  ``flags``;
* the long form (``--csv``, :func:`bertlab.grading.__main__.write_csv`) stays the audit trail:
  one row per notebook and exercise, with the student each notebook was counted for;
* :func:`gradescope_results` (``--gradescope results.json``): one notebook in Gradescope's
  autograder results format (https://gradescope-autograders.readthedocs.io/en/latest/specs/),
  one test per exercise.

**Who a notebook belongs to** (:func:`student_id`), with ``root`` the folder it was found under
(the folder argument, the fixed part of a glob pattern, or the folder of a notebook named on
the command line):

1. ``--roster FILE.csv`` (columns ``path,student``) wins: a path names a notebook or a folder
   (every notebook under it), relative to the roster's folder (or, where only there, the current folder);
2. a notebook in a folder below ``root``: the name of the first folder below it
   (``submissions/alice/01_installation.ipynb`` -> ``alice``, ``submissions/alice/week1/...`` too);
3. else the file name before the lesson number, without separators and a leading "Copy of"
   (``alice_01_installation.ipynb`` -> ``alice``, ``Alice Smith - 02_preprocessing (1).ipynb`` ->
   ``Alice Smith``);
4. else (the file keeps the course's name) the name of its folder
   (``score submissions/*/01_installation.ipynb`` -> one student per folder).

``--student-id-from folder`` uses only 2 and 4, ``--student-id-from file`` only 3; when the rule
gives nothing, the id is the file's stem and the row is flagged.

**Merging**: a student's notebooks of different lessons fill one row. Two notebooks of one
student for the same lesson are flagged with both scores; the one with more points is counted
(the first in path order on a tie, a scored one before one that could not be scored).

**Empty is not zero**: a lesson without a notebook, or whose notebook could not be scored (an
error of the run: unreadable, data missing), leaves its cells empty and is flagged; ``max``
still counts it, so ``percent`` treats a missing notebook as no points. A student whose counted
notebook for a lesson could not be scored gets an empty ``total`` and ``percent``: the run must
be repeated, the learner has not earned a zero.

**Flags** (what a teacher should look at, joined by "; "): an exercise that called or copied the
course's own answer (``bertlab....``: no points), a cell that could not run (and a graded cell that could
not run), a notebook stopped or crashed (ungraded exercises), check cells or a file name naming
another lesson, two notebooks for one lesson, a lesson with no notebook, a notebook that could
not be scored, a student id that could not be derived, and any flag the scoring process reports
(``{"kind": "flag"}``: a notebook that wrote or tried to write outside its folder, a graded
function that is a copy of the course's answer; see :mod:`bertlab.grading.worker`).
"""
from __future__ import annotations

import csv
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bertlab.grading import core

STUDENT_RULES = ("auto", "folder", "file")
COURSE_ANSWER = "the course's own answer"
_LESSON_NUMBER = re.compile(r"(?:^|[^\d])(\d\d)_")
_COPY_OF = re.compile(r"^\s*copy of\s+", re.IGNORECASE)
_SEPARATORS = " _-.,()[]"


def student_id(path: Path, root: Path | None = None, rule: str = "auto") -> str | None:
    """The student a notebook belongs to by the rule in the module docstring, None when the rule
    gives nothing (the caller then uses the file's stem and flags it).

    `path`: the notebook; `root`: the folder it was found under (None: its own folder);
    `rule`: "auto", "folder" or "file". Raises ValueError for another rule.
    """
    if rule not in STUDENT_RULES:
        raise ValueError(f"the student id comes from one of {', '.join(STUDENT_RULES)}, got {rule!r}")
    path = Path(path)
    below = _folders_below(path, root)
    from_file = _id_from_file_name(path.name)
    own_folder = path.resolve().parent.name or None
    if rule == "file":
        return from_file
    if rule == "folder":
        return below or own_folder
    return below or from_file or own_folder


def _folders_below(path: Path, root: Path | None) -> str | None:
    if root is None:
        return None
    try:
        parts = path.resolve().parent.relative_to(Path(root).resolve()).parts
    except ValueError:  # not under root (a symlink out of it): no folder rule
        return None
    return parts[0] if parts else None


def _id_from_file_name(name: str) -> str | None:
    stem = _COPY_OF.sub("", Path(name).stem)
    match = _LESSON_NUMBER.search(stem)
    if not match:
        return None
    before = stem[: match.start(1)].strip(_SEPARATORS)
    return before or None


def read_roster(file: Path) -> list[tuple[Path, str]]:
    """(resolved path, student) pairs from a CSV with the columns ``path`` and ``student``.

    A relative path is taken from the roster's folder, or from the current folder when it
    exists there and not in the roster's folder. Raises ValueError for a missing column or an empty cell, OSError when the
    file cannot be read.
    """
    file = Path(file)
    with open(file, newline="", encoding="utf-8-sig") as handle:  # -sig: a spreadsheet's BOM
        reader = csv.DictReader(handle)
        missing = {"path", "student"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{file}: a roster needs the columns path,student (missing: {', '.join(sorted(missing))})")
        entries = []
        for line, row in enumerate(reader, start=2):
            path, student = (row.get("path") or "").strip(), (row.get("student") or "").strip()
            if not path or not student:
                raise ValueError(f"{file}, line {line}: both path and student are needed, got {path!r}, {student!r}")
            candidate = Path(path).expanduser()
            if not candidate.is_absolute():
                beside, here = file.parent / candidate, Path.cwd() / candidate
                candidate = here if here.exists() and not beside.exists() else beside
            entries.append((candidate.resolve(), student))
    return entries


def _roster_student(path: Path, roster: list[tuple[Path, str]]) -> str | None:
    """The roster's student for `path`: its own entry, else the entry of its nearest folder."""
    resolved = Path(path).resolve()
    best = None
    for entry, student in roster:
        if entry == resolved or entry in resolved.parents:
            if best is None or len(entry.parts) > len(best[0].parts):
                best = (entry, student)
    return best[1] if best else None


def unused_roster_entries(roster: list[tuple[Path, str]], paths) -> list[str]:
    """The roster's paths that name none of `paths` (a typo, a student who submitted nothing)."""
    resolved = [Path(p).resolve() for p in paths]
    return [str(entry) for entry, _ in roster if not any(entry == p or entry in p.parents for p in resolved)]


def assign_students(paths_and_roots, rule: str = "auto", roster: list[tuple[Path, str]] | None = None
                    ) -> tuple[dict[Path, str], dict[Path, list[str]]]:
    """({path: student}, {path: flags}) for (path, root) pairs, by the roster, then by `rule`."""
    students, flags = {}, {}
    for path, root in paths_and_roots:
        student = _roster_student(path, roster) if roster else None
        notes = []
        if student is None:
            student = student_id(path, root, rule)
            if roster:
                notes.append(f"{path} is not in the roster: student id from its {'folder' if rule == 'folder' else 'name'}")
        if not student:
            student = Path(path).stem
            notes.append(f"cannot tell the student of {path} (--student-id-from {rule}): "
                         "its file name is used; use per-student folders, name_NN_lesson.ipynb or --roster")
        students[Path(path)], flags[Path(path)] = student, notes
    return students, flags


def lesson_of_score(score) -> str | None:
    """The lesson a score counts for: the one it was graded as, else (a notebook that could not be
    read) the ``NN_`` of its file name."""
    if score.lesson:
        return score.lesson
    match = _LESSON_NUMBER.search(Path(score.path).name)
    return f"lesson{match.group(1)}" if match else None


def notebook_flags(score, with_path: bool = False) -> list[str]:
    """What a teacher should see about one scored notebook (a :class:`NotebookScore`), one line
    each, starting with its lesson (and its path when `with_path`, or when its lesson is unknown)."""
    lesson = lesson_of_score(score)
    where = f"{lesson} ({score.path})" if lesson and with_path else lesson or str(score.path)
    lines = []
    if score.run_error:
        why = (score.error or "").removeprefix("cannot score: ")
        lines.append(f"{where}: not scored: {why}" if where != lesson else f"{where}: {score.path} not scored: {why}")
    elif score.error:
        lines.append(f"{where}: {score.error}")
    lines.extend(f"{where}: {flag}" for flag in score.flags)
    lines.extend(f"{where}: {error} (a cell that could not run)" for error in score.cell_errors)
    for r in score.results:
        used = [note.removeprefix("used ") for note in r.notes if note.startswith("used bertlab.")]
        if used or COURSE_ANSWER in r.message:
            lines.append(f"{lesson}.{r.name}: {COURSE_ANSWER} used ({', '.join(used) or r.message}): no points")
        elif r.message.startswith("its cell raised"):
            lines.append(f"{lesson}.{r.name}: {r.message} (a cell that could not run)")
    return lines


@dataclass
class Row:
    """One student's row of the gradebook."""

    student: str
    points: dict[str, int | None] = field(default_factory=dict)  # "lesson01.dummy_inputs" -> points (None: empty)
    lesson_totals: dict[str, int | None] = field(default_factory=dict)  # "lesson01" -> points (None: empty)
    total: int | None = 0  # None: something could not be scored, the total is not known
    max_points: int = 0
    flags: list[str] = field(default_factory=list)

    @property
    def percent(self) -> float | None:
        if self.total is None or not self.max_points:
            return None
        return round(100 * self.total / self.max_points, 1)


def lesson_exercises(scores) -> dict[str, list[core.Grader]]:
    """{lesson: graders in their order} for every lesson among `scores` whose graders load, in lesson order."""
    lessons = {}
    for lesson in sorted({lesson_of_score(s) for s in scores} - {None}):
        try:
            lessons[lesson] = core.load_lesson(lesson)
        except (LookupError, ValueError):  # an unknown lesson: its notebook was not scored, and is flagged
            continue
    return lessons


def gradebook(scores, students: dict[Path, str], student_flags: dict[Path, list[str]] | None = None
              ) -> tuple[list[str], list[Row]]:
    """(columns, rows sorted by student) of the wide gradebook; `students` maps each score's path
    to its student (see :func:`assign_students`)."""
    lessons = lesson_exercises(scores)
    columns = ["student"]
    for lesson, graders in lessons.items():
        columns += [f"{lesson}.{g.name}" for g in graders] + [f"{lesson} total"]
    columns += ["total", "max", "percent", "flags"]
    max_points = sum(g.points for graders in lessons.values() for g in graders)

    by_student: dict[str, list] = {}
    for s in scores:
        by_student.setdefault(students[Path(s.path)], []).append(s)
    rows = []
    for student in sorted(by_student, key=lambda name: (name.casefold(), name)):
        mine = sorted(by_student[student], key=lambda s: str(s.path))
        row = Row(student, max_points=max_points)
        for s in mine:
            row.flags += (student_flags or {}).get(Path(s.path), [])
        for s in mine:
            if lesson_of_score(s) not in lessons:  # no lesson, or one without graders: only its flags
                row.flags += notebook_flags(s)
                row.total = None if s.run_error else row.total
        for lesson, graders in lessons.items():
            candidates = [s for s in mine if lesson_of_score(s) == lesson]
            if not candidates:
                row.flags.append(f"{lesson}: no notebook")
            # More points first, then scored before not scored; sorted() keeps path order on ties.
            counted = sorted(candidates, key=lambda s: (s.run_error, -s.points))[0] if candidates else None
            if len(candidates) > 1:
                listed = ", ".join(f"{s.path} ({'not scored' if s.run_error else f'{s.points}/{s.max_points}'}"
                                   f"{', counted' if s is counted else ''})" for s in candidates)
                row.flags.append(f"{lesson}: {len(candidates)} notebooks: {listed}")
            for s in candidates:
                row.flags += notebook_flags(s, with_path=len(candidates) > 1)
            scored = counted is not None and not counted.run_error
            points = {r.name: r.points for r in counted.results} if scored else {}
            for g in graders:
                row.points[f"{lesson}.{g.name}"] = points.get(g.name) if scored else None
            row.lesson_totals[lesson] = sum(points.values()) if scored else None
            if counted is not None and counted.run_error:
                row.total = None
            elif row.total is not None and scored:
                row.total += row.lesson_totals[lesson]
        rows.append(row)
    return columns, rows


def write_gradebook(scores, file, students: dict[Path, str], student_flags: dict[Path, list[str]] | None = None) -> None:
    """Write the wide gradebook (:func:`gradebook`) as CSV to the open text file `file`."""
    columns, rows = gradebook(scores, students, student_flags)
    writer = csv.writer(file)
    writer.writerow(columns)
    lesson_columns = columns[1:-4]
    for row in rows:
        cells = []
        for column in lesson_columns:
            value = row.lesson_totals[column[: -len(" total")]] if column.endswith(" total") else row.points[column]
            cells.append("" if value is None else value)
        percent = row.percent
        writer.writerow([row.student, *cells, "" if row.total is None else row.total, row.max_points,
                         "" if percent is None else f"{percent:.1f}", "; ".join(row.flags)])


GRADESCOPE_KEYS = ("score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
                   "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard")
GRADESCOPE_TEST_KEYS = ("score", "max_score", "status", "name", "name_format", "number", "output", "output_format",
                        "tags", "visibility", "extra_data")


def gradescope_results(score) -> dict:
    """One scored notebook as Gradescope's ``results.json`` (keys: :data:`GRADESCOPE_KEYS`; each
    test: :data:`GRADESCOPE_TEST_KEYS`): ``score`` (the points), one test per exercise with its
    ``score``, ``max_score``, ``status`` ("passed"/"failed"), ``name``, ``number`` ("2.3": lesson 2,
    exercise 3) and ``output`` (the hint), the flags in ``output``, and ``extra_data``.

    Raises ValueError for a notebook that could not be scored: Gradescope would read any file
    as a grade, so none is written and the run fails instead (exit status 2).
    """
    if score.run_error:
        raise ValueError(f"{score.path} could not be scored ({score.error}): no results.json written")
    number = int(score.lesson[len("lesson"):]) if score.lesson and score.lesson.startswith("lesson") else 0
    tests = []
    for index, r in enumerate(score.results, start=1):
        output = (r.line().split(": ", 1)[1] if r.passed else r.message) or r.status
        tests.append({"name": r.name, "number": f"{number}.{index}", "score": r.points, "max_score": r.max_points,
                      "status": "passed" if r.passed else "failed", "output": output})
    flags = notebook_flags(score)
    summary = f"{score.lesson}: {score.points}/{score.max_points} points"
    return {"score": score.points, "execution_time": round(score.seconds, 2),
            "output": "\n".join([summary, *flags]), "tests": tests,
            "extra_data": {"lesson": score.lesson, "notebook": str(score.path), "flags": flags}}


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and ``os.replace``, so a
    reader (a spreadsheet, an upload, a scorer killed halfway) sees the old file or the whole new
    one, never a part. Raises OSError (the folder missing or not writable); no temporary file is left."""
    path = Path(path)
    handle = tempfile.NamedTemporaryFile("w", dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp",
                                         delete=False, encoding="utf-8", newline="")
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(handle.name, 0o666 & ~umask)  # as open() would create it, not the temp file's 0600
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise

