"""The teacher's outputs of ``python -m bertlab.grading score``: the gradebook (one row per student),
the long form kept for audit, Gradescope's results.json, the flags, and how they are written.

A class of crafted notebooks (lessons 02 and 06: no model needed) is scored once by the CLI; the
other tests build :class:`NotebookScore` objects directly, or fake the scoring process.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import nbformat
import pytest

from bertlab.grading import __main__ as cli
from bertlab.grading import core, gradebook
from bertlab.grading.__main__ import NotebookScore, main

SETUP = "import numpy as np\nfrom bertlab.grading import check"
STUB = "    raise NotImplementedError()"
ARGS = {
    "pack_pair": "ids_a, ids_b, max_length", "wordpiece": "word, vocab", "attention_mask_from_ids": "input_word_ids",
    "stratified_split": "labels, test_share, seed", "layer_features": "hidden_states, attention_mask, how",
    "threshold_for_precision": "y_true, scores, target_precision",
}
LESSON = {"lesson02": ["pack_pair", "wordpiece", "attention_mask_from_ids"],
          "lesson06": ["stratified_split", "layer_features", "threshold_for_precision"]}
RIGHT = {
    "attention_mask_from_ids": "    return (np.asarray(input_word_ids) != 0).astype(np.int32)",
    "stratified_split": "    from sklearn.model_selection import train_test_split\n"
                        "    return tuple(train_test_split(np.arange(len(labels)), test_size=test_share, stratify=labels,"
                        " random_state=seed))",
    # The course's own function: no points, and a flag for the teacher.
    "threshold_for_precision": "    from bertlab import spam\n"
                               "    return spam.threshold_for_precision(y_true, scores, target_precision)",
}
# Leaves a process running after the notebook's scoring ends, found by its unique command line (the
# notebook cannot write outside its private folder to say which, and inside a PID namespace its number
# means nothing out here).
SPAWN_MARKER = "301.25"
SPAWN = ("import subprocess\n"
         f"def spawn(_=subprocess.Popen(['sleep', '{SPAWN_MARKER}'])):\n    pass")


def _spawned_alive() -> bool:
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if stat.read_bytes() == f"sleep\0{SPAWN_MARKER}\0".encode() and _alive(int(stat.parent.name)):
                return True
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return False


def _notebook(path: Path, lesson: str, bodies: dict[str, str], before: tuple[str, ...] = ()) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP), *map(nbformat.v4.new_code_cell, before)]
    for name in LESSON[lesson]:
        nb.cells.append(nbformat.v4.new_code_cell(f"# GRADED FUNCTION: {name}\ndef {name}({ARGS[name]}):\n"
                                                  + bodies.get(name, STUB)))
        nb.cells.append(nbformat.v4.new_code_cell(f'check("{lesson}.{name}", {name})'))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


# ---------------------------------------------------------------------------------------
# A class, scored by one command
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def klass(tmp_path_factory, shared_data_dir):
    """submissions/ with per-student folders and files named name_NN_lesson, scored with
    --gradebook, --csv and --json; what each file write saw of the notebooks' processes."""
    root = tmp_path_factory.mktemp("class") / "submissions"
    alice02 = _notebook(root / "alice" / "02_preprocessing.ipynb", "lesson02", RIGHT,
                        before=("import not_a_module_xyz",))
    alice06 = _notebook(root / "alice" / "06_spam_classifier.ipynb", "lesson06", RIGHT, before=(SPAWN,))
    _notebook(root / "bob_02_preprocessing.ipynb", "lesson02", {})  # all stubs: scored without a process
    (root / "bob_02_preprocessing (1).ipynb").write_text("{ not json")
    (root / "carol").mkdir()
    (root / "carol" / "02_preprocessing.ipynb").write_text("{ not json")
    out = root.parent / "out"
    out.mkdir()
    writes = []
    real_write = gradebook.write_atomically

    def write(path, text):
        writes.append((Path(path).name, _spawned_alive()))
        real_write(path, text)

    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gradebook, "write_atomically", write)
        patch.setattr("sys.stdout", stdout)
        status = main(["score", str(root), "--gradebook", str(out / "gradebook.csv"), "--csv", str(out / "long.csv"),
                       "--json", "--jobs", "2", "--timeout", "60", "--notebook-timeout", "180"])
    return {"status": status, "root": root, "out": out, "writes": writes, "alice02": alice02, "alice06": alice06,
            "payload": json.loads(stdout.getvalue()),
            "gradebook": list(csv.reader((out / "gradebook.csv").open(newline="", encoding="utf-8"))),
            "long": list(csv.DictReader((out / "long.csv").open(newline="", encoding="utf-8")))}


@pytest.mark.slow
def test_the_gradebook_has_a_column_per_exercise_in_lesson_order_then_totals(klass):
    assert klass["gradebook"][0] == [
        "student",
        "lesson02.pack_pair", "lesson02.wordpiece", "lesson02.attention_mask_from_ids", "lesson02 total",
        "lesson06.stratified_split", "lesson06.layer_features", "lesson06.threshold_for_precision", "lesson06 total",
        "total", "max", "percent", "flags"]
    assert [g.name for g in core.load_lesson("lesson02")] == LESSON["lesson02"]  # the graders' order


@pytest.mark.slow
def test_one_row_per_student_merges_their_lessons_with_exact_points(klass):
    rows = {row[0]: row for row in klass["gradebook"][1:]}
    assert list(rows) == ["alice", "bob", "carol"]
    # alice: her folder; 1 of 7 in lesson 02, 2 of 6 in lesson 06 (the course's own answer earns nothing).
    assert rows["alice"][:-1] == ["alice", "0", "0", "1", "1", "2", "0", "0", "2", "3", "13", "23.1"]
    # bob: his file names; lesson 06 missing: empty, not zero, but its points are in max.
    assert rows["bob"][:-1] == ["bob", "0", "0", "0", "0", "", "", "", "", "0", "13", "0.0"]
    # carol: her only notebook could not be read: no points given, no total, no percent.
    assert rows["carol"][:-1] == ["carol", "", "", "", "", "", "", "", "", "", "13", ""]


@pytest.mark.slow
def test_the_flags_column_says_what_a_teacher_should_look_at(klass):
    flags = {row[0]: row[-1].split("; ") for row in klass["gradebook"][1:]}
    root = klass["root"]
    assert flags["alice"] == [
        "lesson02: cell 1: ModuleNotFoundError: No module named 'not_a_module_xyz' (a cell that could not run)",
        "lesson06.threshold_for_precision: the course's own answer used (bertlab.spam.threshold_for_precision): "
        "no points",
    ]
    copy, original = root / "bob_02_preprocessing (1).ipynb", root / "bob_02_preprocessing.ipynb"
    assert flags["bob"][0] == f"lesson02: 2 notebooks: {copy} (not scored), {original} (0/7, counted)"
    assert flags["bob"][1].startswith(f"lesson02 ({copy}): not scored: not a notebook (")
    assert flags["bob"][2:] == ["lesson06: no notebook"]
    assert flags["carol"][0].startswith(f"lesson02: {root / 'carol' / '02_preprocessing.ipynb'} not scored: not a notebook (")
    assert flags["carol"][1:] == ["lesson06: no notebook"]
    assert klass["status"] == 2  # a notebook could not be scored: an error of the run


@pytest.mark.slow
def test_the_long_form_is_kept_for_audit_with_the_student_each_notebook_counted_for(klass):
    long = klass["long"]
    assert list(long[0]) == ["notebook", "lesson", "exercise", "points", "max_points", "status", "message", "student"]
    alice06 = [(r["exercise"], r["points"], r["status"], r["student"]) for r in long if r["notebook"] == str(klass["alice06"])]
    assert alice06 == [("stratified_split", "2", "passed", "alice"), ("layer_features", "0", "not implemented", "alice"),
                       ("threshold_for_precision", "0", "failed", "alice"), ("TOTAL", "2", "scored", "alice")]
    assert {r["notebook"] for r in long} == {n["path"] for n in klass["payload"]["notebooks"]}
    assert {r["student"] for r in long if r["exercise"] == "TOTAL"} == {"alice", "bob", "carol"}


@pytest.mark.slow
def test_files_are_written_last_once_the_notebooks_processes_are_gone(klass):
    # The lesson-06 notebook left `sleep 300` running; it is killed with its scoring process's group.
    assert [name for name, _ in klass["writes"]] == ["gradebook.csv", "long.csv"]
    assert [alive for _, alive in klass["writes"]] == [False, False]
    assert sorted(p.name for p in klass["out"].iterdir()) == ["gradebook.csv", "long.csv"]  # no temporary file left


@pytest.mark.slow
def test_gradescope_results_follow_the_documented_format(klass, tmp_path):
    results = tmp_path / "results.json"
    assert main(["score", str(klass["alice06"]), "--gradescope", str(results), "--timeout", "60"]) == 0
    data = json.loads(results.read_text(encoding="utf-8"))
    # https://gradescope-autograders.readthedocs.io/en/latest/specs/ (Output format)
    assert set(data) <= set(gradebook.GRADESCOPE_KEYS)
    assert all(set(test) <= set(gradebook.GRADESCOPE_TEST_KEYS) for test in data["tests"])
    assert all(isinstance(test[key], (int, float)) for test in data["tests"] for key in ("score", "max_score"))
    assert {test["status"] for test in data["tests"]} <= {"passed", "failed"}
    assert data["score"] == sum(test["score"] for test in data["tests"]) == 2
    assert [(t["name"], t["number"], t["score"], t["max_score"], t["status"]) for t in data["tests"]] == [
        ("stratified_split", "6.1", 2, 2, "passed"), ("layer_features", "6.2", 0, 2, "failed"),
        ("threshold_for_precision", "6.3", 0, 2, "failed")]
    assert data["tests"][1]["output"] == core.NOT_IMPLEMENTED
    assert "the course's own answer" in data["tests"][2]["output"]
    assert data["output"].splitlines()[0] == "lesson06: 2/6 points"
    assert "the course's own answer used" in data["output"].splitlines()[1]


# ---------------------------------------------------------------------------------------
# Refused before scoring
# ---------------------------------------------------------------------------------------
@pytest.fixture
def no_scoring(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("scored although the options were refused")

    monkeypatch.setattr(cli, "score_all", refuse)


def test_gradescope_takes_one_notebook(tmp_path, no_scoring, capsys):
    for name in ("01_installation.ipynb", "02_preprocessing.ipynb"):
        (tmp_path / name).write_text("{}")
    with pytest.raises(SystemExit) as exit_:
        main(["score", str(tmp_path), "--gradescope", str(tmp_path / "results.json")])
    assert exit_.value.code == 2 and "2 notebooks were found" in capsys.readouterr().err


def test_an_output_in_a_missing_folder_is_refused_before_scoring(tmp_path, no_scoring, capsys):
    (tmp_path / "01_installation.ipynb").write_text("{}")
    with pytest.raises(SystemExit) as exit_:
        main(["score", str(tmp_path), "--gradebook", str(tmp_path / "nowhere" / "gradebook.csv")])
    assert exit_.value.code == 2 and "does not exist" in capsys.readouterr().err


def test_a_roster_without_its_columns_is_refused(tmp_path, no_scoring, capsys):
    (tmp_path / "roster.csv").write_text("file,name\na.ipynb,alice\n")
    with pytest.raises(SystemExit):
        main(["score", str(tmp_path), "--roster", str(tmp_path / "roster.csv")])
    assert "path,student" in capsys.readouterr().err


def test_a_notebook_that_could_not_be_scored_gets_no_gradescope_file(tmp_path, capsys):
    (tmp_path / "02_preprocessing.ipynb").write_text("{ not json")  # read before any process starts
    results = tmp_path / "results.json"
    assert main(["score", str(tmp_path / "02_preprocessing.ipynb"), "--gradescope", str(results)]) == 2
    assert not results.exists() and "no results.json written" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# Who a notebook belongs to
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("relative, rule, expected", [
    ("alice/01_installation.ipynb", "auto", "alice"),
    ("alice/week 1/01_installation.ipynb", "auto", "alice"),  # the first folder below the root
    ("alice_01_installation.ipynb", "auto", "alice"),
    ("Alice Smith - 02_preprocessing (1).ipynb", "auto", "Alice Smith"),
    ("Copy of bob_03_encoder_outputs.ipynb", "auto", "bob"),
    ("01_installation.ipynb", "auto", "submissions"),  # the course's own name: its folder
    ("alice/bob_01_installation.ipynb", "auto", "alice"),  # folders win in auto
    ("alice/bob_01_installation.ipynb", "file", "bob"),
    ("alice_01_installation.ipynb", "folder", "submissions"),
    ("01_installation.ipynb", "file", None),  # nothing before the lesson number
    ("notes.ipynb", "file", None),
])
def test_the_student_id_rule(tmp_path, relative, rule, expected):
    root = tmp_path / "submissions"
    assert gradebook.student_id(root / relative, root, rule) == expected


def test_a_notebook_named_alone_takes_its_folder_when_the_file_keeps_the_course_name(tmp_path):
    path = tmp_path / "submissions" / "alice" / "01_installation.ipynb"
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    found = cli.expand_with_roots([str(path), str(tmp_path / "submissions" / "*" / "*.ipynb")])
    assert found == [(path, path.parent)]  # a glob matching it again keeps the first root
    assert gradebook.assign_students(found)[0] == {path: "alice"}


def test_the_roots_of_folders_and_glob_patterns(tmp_path):
    notebook = tmp_path / "submissions" / "alice" / "01_installation.ipynb"
    notebook.parent.mkdir(parents=True)
    notebook.write_text("{}")
    assert cli.expand_with_roots([str(tmp_path / "submissions")]) == [(notebook, tmp_path / "submissions")]
    assert cli.expand_with_roots([str(tmp_path / "submissions" / "**" / "*.ipynb")]) == [(notebook, tmp_path / "submissions")]


def test_a_roster_wins_names_folders_and_flags_the_notebooks_it_lacks(tmp_path, monkeypatch):
    root = tmp_path / "submissions"
    paths = [root / "u1234" / "01_installation.ipynb", root / "u1234" / "extra" / "02_preprocessing.ipynb",
             root / "x_01_installation.ipynb", root / "01_installation.ipynb"]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    roster = tmp_path / "roster.csv"
    roster.write_text("\ufeffpath,student\nsubmissions/u1234,Alice Martin\n"
                      "submissions/u1234/extra/02_preprocessing.ipynb,Alice M.\nsubmissions/gone.ipynb,Zoe\n",
                      encoding="utf-8")
    monkeypatch.chdir(root)  # roster paths are taken from the roster's folder first
    entries = gradebook.read_roster(roster)
    students, flags = gradebook.assign_students([(p, root) for p in paths], "file", entries)
    assert students == {paths[0]: "Alice Martin", paths[1]: "Alice M.", paths[2]: "x", paths[3]: "01_installation"}
    assert flags[paths[0]] == flags[paths[1]] == []
    assert flags[paths[2]] == [f"{paths[2]} is not in the roster: student id from its name"]
    assert flags[paths[3]][1].startswith(f"cannot tell the student of {paths[3]} (--student-id-from file)")
    assert gradebook.unused_roster_entries(entries, paths) == [str(root / "gone.ipynb")]


# ---------------------------------------------------------------------------------------
# Merging and totals, on scores built here
# ---------------------------------------------------------------------------------------
def _score(path: str, lesson: str, points: dict[str, int] | None, **extra) -> NotebookScore:
    graders = {g.name: g for g in core.load_lesson(lesson)}
    results = [] if points is None else [
        core.Result(name, points.get(name, 0), g.points, "passed" if points.get(name) == g.points else "failed", "hint")
        for name, g in graders.items()]
    return NotebookScore(Path(path), lesson, results, run_error=points is None, **extra)


def _rows(scores, students):
    text = io.StringIO()
    gradebook.write_gradebook(scores, text, {Path(p): s for p, s in students.items()})
    return list(csv.reader(io.StringIO(text.getvalue())))


def test_two_notebooks_of_one_lesson_count_the_better_and_are_flagged_with_both_scores():
    scores = [_score("a/02_x.ipynb", "lesson02", {"pack_pair": 3}),
              _score("a/02_y.ipynb", "lesson02", {"pack_pair": 3, "wordpiece": 3})]
    header, row = _rows(scores, {"a/02_x.ipynb": "a", "a/02_y.ipynb": "a"})
    assert row[:-1] == ["a", "3", "3", "0", "6", "6", "7", "85.7"]
    assert row[-1] == "lesson02: 2 notebooks: a/02_x.ipynb (3/7), a/02_y.ipynb (6/7, counted)"


def test_a_stopped_notebook_keeps_its_points_and_is_flagged():
    stopped = _score("b/02_x.ipynb", "lesson02", {"wordpiece": 3},
                     error="stopped after 600 s (--notebook-timeout): the notebook's code did not end")
    _, row = _rows([stopped], {"b/02_x.ipynb": "b"})
    assert row == ["b", "0", "3", "0", "3", "3", "7", "42.9",
                   "lesson02: stopped after 600 s (--notebook-timeout): the notebook's code did not end"]


def test_a_flag_sent_by_the_scoring_process_reaches_the_gradebook(tmp_path, monkeypatch):
    # The hook for checks the scoring process may make (writes outside the notebook's folder:
    # not built yet); here a stand-in process sends the events.
    path = _notebook(tmp_path / "06_spam_classifier.ipynb", "lesson06", {"stratified_split": RIGHT["stratified_split"]})
    events = [{"kind": "flag", "message": "wrote /etc/x, outside its folder"},
              *({"kind": "result", "name": n, "points": 0, "status": "failed", "message": "hint", "notes": []}
                for n in LESSON["lesson06"]), {"kind": "done"}]

    class Process:
        pid, returncode = -1, 0

        def __init__(self, *args, **kwargs):
            pass

        def communicate(self, *args, **kwargs):
            return "".join(json.dumps(e) + "\n" for e in events), None

    monkeypatch.setattr(cli.subprocess, "Popen", Process)
    monkeypatch.setattr(cli, "_kill_group", lambda pid: None)
    score = cli.score_notebook(path)
    assert score.flags == ["wrote /etc/x, outside its folder"]
    assert gradebook.notebook_flags(score) == ["lesson06: wrote /etc/x, outside its folder"]


def test_gradescope_results_of_a_built_score():
    score = _score("02_x.ipynb", "lesson02", {"pack_pair": 3}, seconds=1.234, cell_errors=["cell 4: NameError: x"])
    data = gradebook.gradescope_results(score)
    assert (data["score"], data["execution_time"]) == (3, 1.23)
    assert [(t["number"], t["status"], t["output"]) for t in data["tests"]] == [
        ("2.1", "passed", "passed (3/3 points)"), ("2.2", "failed", "hint"), ("2.3", "failed", "hint")]
    assert data["output"] == "lesson02: 3/7 points\nlesson02: cell 4: NameError: x (a cell that could not run)"
    with pytest.raises(ValueError, match="could not be scored"):
        gradebook.gradescope_results(_score("02_y.ipynb", "lesson02", None, error="cannot score: data missing"))


# ---------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------
def test_a_write_that_fails_leaves_the_old_file_whole_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "gradebook.csv"
    target.write_text("old\n")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(gradebook.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        gradebook.write_atomically(target, "new\n" * 1000)
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["gradebook.csv"]


def test_a_written_file_has_the_usual_permissions(tmp_path):
    target = tmp_path / "gradebook.csv"
    previous = os.umask(0o022)
    try:
        gradebook.write_atomically(target, "student,total\r\n")
    finally:
        os.umask(previous)
    assert target.read_bytes() == b"student,total\r\n"
    assert target.stat().st_mode & 0o777 == 0o644
