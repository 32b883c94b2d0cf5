"""Mutation testing of the graders (tools/mutate_graders.py): the operators, the verdicts, a run.

The operators are tested on a small function whose every line is a site of known mutants; the
verdicts (killed, survived, raised, endless) with a grader made here; the run of the real
graders on the exercises whose mutants all grade in seconds (measured in
benchmarks/results/grader_mutants.json), against the committed report: no mutant it lists
as killed may survive now, so a weaker grader fails here.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bertlab.grading import core
from tools import mutate_graders as mg

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "benchmarks" / "results" / "grader_mutants.json"

SAMPLE = '''# GRADED FUNCTION: f
def f(xs, k, flag):
    """Doc."""
    limit = 5
    ### BEGIN SOLUTION
    total = 0
    for x in xs:
        if x < k and flag:
            total += x * 2
    best = np.argmin(np.sum(xs, axis=0))
    return total - best, xs[k], xs[1:k], range(k), np.zeros(3, dtype=int), not flag
    ### END SOLUTION


def g(y):
    return y + 1
'''

# (operator, line, before, after): every mutant of SAMPLE, in order.
EXPECTED = [
    ("constant", 6, "total = 0", "total = 1"),
    ("constant", 6, "total = 0", "total = -1"),
    ("iterate", 7, "xs", "xs[1:]"),
    ("iterate", 7, "xs", "xs[:-1]"),
    ("negate", 8, "x < k and flag", "not (x < k and flag)"),
    ("term", 8, "x < k and flag", "flag"),
    ("term", 8, "x < k and flag", "x < k"),
    ("operator", 8, "x < k and flag", "x < k or flag"),
    ("compare", 8, "x < k", "x <= k"),
    ("statement", 9, "total += x * 2", "pass"),
    ("term", 9, "x * 2", "x"),
    ("term", 9, "x * 2", "2"),
    ("operator", 9, "x * 2", "x / 2"),
    ("constant", 9, "x * 2", "x * 3"),
    ("constant", 9, "x * 2", "x * 1"),
    ("swap", 10, "np.argmin(np.sum(xs, axis=0))", "np.argmax(np.sum(xs, axis=0))"),
    ("axis", 10, "np.sum(xs, axis=0)", "np.sum(xs, axis=-1)"),
    ("axis", 10, "np.sum(xs, axis=0)", "np.sum(xs, axis=1)"),
    ("axis", 10, "np.sum(xs, axis=0)", "np.sum(xs, axis=2)"),
    ("keyword", 10, "np.sum(xs, axis=0)", "np.sum(xs)"),
    ("swap", 10, "np.sum(xs, axis=0)", "np.mean(xs, axis=0)"),
    ("term", 11, "total - best", "total"),
    ("term", 11, "total - best", "-best"),
    ("operator", 11, "total - best", "total + best"),
    ("index", 11, "xs[k]", "xs[k + 1]"),
    ("index", 11, "xs[k]", "xs[k - 1]"),
    ("slice", 11, "xs[1:k]", "xs[:k]"),
    ("slice", 11, "xs[1:k]", "xs[1:]"),
    ("slice", 11, "xs[1:k]", "xs[1:k + 1]"),
    ("slice", 11, "xs[1:k]", "xs[1:k - 1]"),
    ("constant", 11, "xs[1:k]", "xs[2:k]"),
    ("constant", 11, "xs[1:k]", "xs[0:k]"),
    ("range", 11, "range(k)", "range(1, k)"),
    ("range", 11, "range(k)", "range(k - 1)"),
    ("keyword", 11, "np.zeros(3, dtype=int)", "np.zeros(3)"),
    ("constant", 11, "np.zeros(3, dtype=int)", "np.zeros(4, dtype=int)"),
    ("constant", 11, "np.zeros(3, dtype=int)", "np.zeros(2, dtype=int)"),
    ("unary", 11, "not flag", "flag"),
]


def test_each_operator_gives_its_mutants_in_source_order_and_nothing_else():
    mutants, dropped = mg.mutate(SAMPLE, "lessonXX.f", "f")
    assert [(m.operator, m.line, m.before, m.after) for m in mutants] == EXPECTED
    assert dropped == {"identical": 0, "duplicate": 0, "compile": 0}
    # Outside the region (`limit = 5`, the docstring, the helper g) nothing changes.
    for mutant in mutants:
        assert "limit = 5" in mutant.source and "return y + 1" in mutant.source
    assert mutants[9].id == "lessonXX.f#10 line 9: 'total += x * 2' -> 'pass'"


def test_a_mutants_source_is_the_solution_with_exactly_that_change():
    mutants, _ = mg.mutate(SAMPLE, "lessonXX.f", "f")
    argmax = next(m for m in mutants if m.after.startswith("np.argmax"))
    namespace = {}
    exec(argmax.source, {"np": __import__("numpy")}, namespace)  # it compiles and defines f and g
    assert set(namespace) == {"f", "g"}
    assert argmax.source.count("np.argmax(") == 1 and "np.argmin(" not in argmax.source


def test_floats_and_booleans_are_changed_and_mutants_found_twice_are_dropped():
    code = ('# GRADED FUNCTION: f\ndef f(h, x):\n    ### BEGIN SOLUTION\n'
            '    y = np.mean(x, keepdims=True) * 0.5 + 0.0\n    return 2 * (2 * h) + y\n    ### END SOLUTION\n')
    mutants, dropped = mg.mutate(code, "lessonXX.f", "f")
    changes = {(m.before, m.after) for m in mutants if m.operator == "constant"}
    assert ("np.mean(x, keepdims=True)", "np.mean(x, keepdims=False)") in changes
    assert ("np.mean(x, keepdims=True) * 0.5", "np.mean(x, keepdims=True) * 0.55") in changes
    assert ("np.mean(x, keepdims=True) * 0.5", "np.mean(x, keepdims=True) * 0.45") in changes
    assert ("np.mean(x, keepdims=True) * 0.5 + 0.0", "np.mean(x, keepdims=True) * 0.5 + 1.0") in changes
    # 2 * (2 * h) -> 2 * h twice: by dropping the outer left term and the inner right one.
    assert dropped["duplicate"] >= 1
    assert len({m.source for m in mutants}) == len(mutants)


def test_a_graded_cell_without_a_solution_region_is_an_error():
    with pytest.raises(ValueError, match="BEGIN SOLUTION"):
        mg.mutate("def f(x):\n    return x\n", "lessonXX.f", "f")


@pytest.fixture(scope="module")
def course():
    return mg.exercises()


def test_every_solution_notebook_exercise_has_mutants(course):
    found = course
    assert {e.lesson for e in found} == {f"lesson0{n}" for n in range(1, 8)}
    assert all(e.mutants for e in found), [e.key for e in found if not e.mutants]
    # The same change of the same text twice on a line (`word[start:end]` in both branches) is told
    # apart by its occurrence: a reviewed equivalent must never cover the other one.
    keys = [m.review_key for e in found for m in e.mutants]
    assert len(keys) == len(set(keys))
    twice = next(m for e in found for m in e.mutants if m.key == "lesson02.wordpiece" and m.occurrence == 2)
    assert twice.id.startswith("lesson02.wordpiece#") and "(occurrence 2)" in twice.id


def _times_two_grader():
    def grade(fn):
        for x in (0, 3, -2):
            if fn(x) != 2 * x:
                raise core.GradingError(f"f({x}) should be {2 * x}")

    return core.Grader("lessonXX", "f", 2, grade)


@pytest.mark.parametrize("body, killed, status", [
    ("return 2 * x", False, "passed"),
    ("return x + x", False, "passed"),
    ("return x + 2", True, "failed"),
    ("raise ValueError('no')", True, "failed"),
    ("while True:\n        pass", True, "timeout"),
])
def test_a_mutant_is_killed_when_the_grader_gives_less_than_full_points(body, killed, status):
    verdict = mg.grade_source(_times_two_grader(), {}, f"def f(x):\n    {body}\n", limit=0.5)
    assert (verdict["killed"], verdict["status"]) == (killed, status)


def test_a_mutant_that_raises_while_being_defined_is_killed():
    verdict = mg.grade_source(_times_two_grader(), {}, "import not_a_module_anywhere\ndef f(x):\n    return 2 * x\n", None)
    assert verdict["killed"] and verdict["status"] == "error"


def test_survivors_are_split_into_reviewed_equivalents_and_the_rest():
    mutants, _ = mg.mutate(SAMPLE, "lessonXX.f", "f")
    outcome = mg.Outcome("lessonXX.f", mutants[:3], {}, results={
        1: {"killed": True, "status": "failed", "message": "", "seconds": 0.1},
        2: {"killed": False, "status": "passed", "message": "", "seconds": 0.1},
        3: {"killed": False, "status": "passed", "message": "", "seconds": 0.1}})
    reviewed = {mutants[1].review_key: "the same sum", ("lessonXX.f", 99, "a", "b"): "gone"}
    data = mg.report([outcome], 0.1, reviewed)
    row = data["exercises"][0]
    assert (row["mutants"], row["killed"], row["survived"], row["equivalent"]) == (3, 1, 1, 1)
    assert row["equivalents"][0]["reason"] == "the same sum"
    assert row["survivors"][0]["id"] == mutants[2].id
    assert data["stale_equivalents"] == ["lessonXX.f line 99: 'a' -> 'b'"]


def test_the_reviewed_equivalents_name_mutants_that_exist(course):
    ids = {m.review_key for e in course for m in e.mutants}
    assert set(mg.EQUIVALENT) <= ids, set(mg.EQUIVALENT) - ids
    assert all(reason.strip() and "\n" not in reason for reason in mg.EQUIVALENT.values())


def _committed() -> dict:
    return json.loads(REPORT.read_text(encoding="utf-8"))


def test_the_committed_report_covers_todays_mutants(course):
    """The report was made with these solutions and operators: rerun the tool when they change."""
    committed = {row["exercise"]: row["mutants"] for row in _committed()["exercises"]}
    assert committed == {e.key: len(e.mutants) for e in course}


# Exercises whose mutants all grade in a few seconds (the committed report's `seconds`), from
# one lesson: each lesson's worker process costs about 10 s to import TensorFlow and the graders.
FAST = ["lesson02.attention_mask_from_ids", "lesson02.pack_pair"]
# Appended to the last fast exercise: it blocks the alarm, as code stuck in C would, so only the
# parent can stop it (the worker is killed, the mutant counted killed, a new worker finishes).
HANG = ("import signal\ndef pack_pair(ids_a, ids_b, max_length):\n"
        "    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])\n    while True:\n        pass\n")


@pytest.fixture(scope="module")
def fast_run():
    fast = [e for e in mg.exercises() if e.key in FAST]
    assert [e.key for e in fast] == FAST
    last = fast[-1]
    hang = mg.Mutant(last.key, len(last.mutants) + 1, "statement", 5, "the solution", "an endless loop", HANG)
    last.mutants = [*last.mutants, hang]
    outcomes = mg.run_lesson(fast, min_timeout=3.0, grace=2.0)
    hang_result = outcomes[-1].results.pop(hang.number, None)
    last.mutants.pop()
    return outcomes, hang_result


@pytest.mark.slow
def test_a_worker_stuck_on_a_mutant_is_killed_that_mutant_counted_killed_and_a_new_one_finishes(fast_run):
    outcomes, hang_result = fast_run
    assert hang_result is not None and (hang_result["killed"], hang_result["status"]) == (True, "timeout")
    assert "killed" in hang_result["message"]  # by the parent: the alarm could not fire
    last = outcomes[-1]
    assert last.error is None and last.after is not None and not last.after["killed"]  # the new worker's check


@pytest.mark.slow
def test_no_mutant_the_report_lists_as_killed_survives_the_fast_graders_now(fast_run):
    outcomes, _ = fast_run
    committed = {row["exercise"]: row for row in _committed()["exercises"]}
    for key in FAST:
        assert committed[key]["seconds"] < 10, f"{key} is no longer fast: take it out of FAST"
    data = mg.report(outcomes, 0.0)
    for row in data["exercises"]:
        assert row["error"] is None, row["error"]
        assert row["not_graded"] == 0 and row["killed"] > 0
        was_survivor = {s["id"] for s in committed[row["exercise"]]["survivors"]}
        new = [s["id"] for s in row["survivors"] if s["id"] not in was_survivor]
        assert not new, f"{row['exercise']}: the grader now accepts mutants it killed: {new}"
        assert row["equivalent"] == committed[row["exercise"]]["equivalent"]
