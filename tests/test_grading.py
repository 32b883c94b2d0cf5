"""The grading core, the scoring CLI, and the proofs that every lesson's graders work.

The proofs run over every ``bertlab/grading/lessonNN.py`` and every
``notebooks/solutions/NN_*.ipynb`` found on disk, so a new lesson is covered with no edit here:
(a) its solution notebook scores 100 %, (b) its untouched learner notebook scores 0 %,
(c) each exercise has >= 2 known-wrong answers, each rejected with its intended hint.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from bertlab.grading import core
from bertlab.grading.__main__ import cell_role, lesson_of, main, score_notebook

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb"))
LEARNERS = [ROOT / "notebooks" / path.name for path in SOLUTIONS]
LESSONS = core.lesson_modules()
GRADERS = [g for lesson in LESSONS for g in core.load_lesson(lesson)]
WRONG_ANSWERS = [pytest.param(g, w, id=w.label) for g in GRADERS for w in g.wrong_answers]


def _grader(fn, name="exercise", points=2):
    return core.Grader("lesson99", name, points, fn)


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell) -> str:
    return "".join(cell["source"])


# ---------------------------------------------------------------------------------------
# The core
# ---------------------------------------------------------------------------------------
def test_a_passing_answer_earns_all_points_and_a_pass_line():
    result = core.run_grader(_grader(lambda fn: None, "pack_pair", 2), lambda: 1)
    assert (result.status, result.points, result.max_points) == ("passed", 2, 2)
    assert result.line() == "✓ pack_pair: passed (2/2 points)"


def test_a_stub_reads_not_implemented_yet():
    def stub(x):
        raise NotImplementedError()

    result = core.run_grader(_grader(lambda fn: fn(1)), stub)
    assert (result.status, result.points, result.message) == ("not implemented", 0, "not implemented yet")
    assert result.line() == "✗ exercise: not implemented yet"


def test_a_grading_error_shows_its_hint_on_one_line():
    def grade(fn):
        raise core.GradingError("did you add [SEP]\nafter the second segment?")

    result = core.run_grader(_grader(grade), lambda: None)
    assert result.status == "failed"
    assert result.message == "did you add [SEP] after the second segment?"


def test_an_unexpected_exception_shows_its_type_and_message_in_one_line():
    result = core.run_grader(_grader(lambda fn: fn()), lambda: {}["missing"])
    assert result.message == "raised KeyError: 'missing'"
    assert "\n" not in result.line()


def test_a_numpy_assertion_is_compressed_to_one_short_line():
    def grade(fn):
        np.testing.assert_allclose(fn(), np.arange(100.0), rtol=1e-6)

    result = core.run_grader(_grader(grade), lambda: np.arange(100.0) + 1)
    assert result.status == "failed"
    assert "Not equal to tolerance rtol=1e-06" in result.message
    assert "\n" not in result.message and len(result.message) <= core.MAX_MESSAGE


def test_a_missing_or_non_callable_answer_fails_without_calling_the_grader():
    assert core.run_grader(_grader(lambda fn: fn()), None).status == "missing"
    assert "should be a function" in core.run_grader(_grader(lambda fn: fn()), 42).message


def test_results_render_green_and_red_in_html_and_ansi():
    passed = core.Result("a", 1, 1, "passed")
    failed = core.Result("a", 0, 1, "failed", "x < y")
    assert "#1a7f37" in passed.html() and "\x1b[32m" in passed.ansi()
    assert "#cf222e" in failed.html() and "x &lt; y" in failed.html() and "\x1b[31m" in failed.ansi()
    assert passed._repr_mimebundle_()["text/plain"] == passed.line()


def test_check_prints_one_line_and_never_raises(capsys):
    def stub(vocab_size, hidden_size, num_layers, ff_size, max_positions):
        raise NotImplementedError()

    assert core.check("lesson01.count_bert_parameters", stub) is None
    assert capsys.readouterr().out == "✗ count_bert_parameters: not implemented yet\n"


def test_check_of_an_unknown_exercise_names_the_known_ones(capsys):
    core.check("lesson01.count_parameters", lambda: 0)
    out = capsys.readouterr().out
    assert out.startswith("✗ count_parameters: cannot grade: lesson01 has no exercise 'count_parameters'")
    assert "count_bert_parameters" in out and out.count("\n") == 1


def test_check_of_a_lesson_without_graders_says_so(capsys):
    core.check("lesson98.anything", lambda: 0)
    assert "no graders for lesson98" in capsys.readouterr().out


def test_graders_need_positive_points_and_wrong_answers_need_a_hint():
    with pytest.raises(ValueError, match="positive"):
        core.grader("x", points=0)
    with pytest.raises(ValueError, match="hint"):
        core.wrong_answer("x", hint="")


def test_a_grader_with_no_wrong_answers_fails_the_audit():
    problems = core.audit(_grader(lambda fn: None))
    assert problems == ["lesson99.exercise: 0 known-wrong answer(s); add at least 2 with @wrong_answer"]


def test_the_audit_catches_a_wrong_answer_that_passes_or_gives_another_hint():
    def grade(fn):
        if fn(2) != 4:
            raise core.GradingError("double it")

    g = _grader(grade)
    g.wrong_answers = [
        core.WrongAnswer("lesson99", "exercise", "double", lambda x: 3 * x),  # rejected with its hint: fine
        core.WrongAnswer("lesson99", "exercise", "square", lambda x: x * x),  # 2*2 == 2+2: passes
        core.WrongAnswer("lesson99", "exercise", "negative", lambda x: -x),  # rejected, another hint
    ]
    problems = core.audit(g)
    assert len(problems) == 2
    assert "accepted this wrong answer" in problems[0]
    assert "expected the hint 'negative'" in problems[1]


# ---------------------------------------------------------------------------------------
# The proofs, over every lesson
# ---------------------------------------------------------------------------------------
def test_grading_modules_are_found():
    assert "lesson01" in LESSONS
    assert {g.lesson for g in GRADERS} == set(LESSONS)


@pytest.mark.parametrize("g", GRADERS, ids=lambda g: g.key)
def test_every_exercise_has_at_least_two_wrong_answers(g):
    assert len(g.wrong_answers) >= core.MIN_WRONG_ANSWERS, f"{g.key}: add known-wrong answers with @wrong_answer"


@pytest.mark.slow
@pytest.mark.parametrize("g, answer", WRONG_ANSWERS)
def test_each_wrong_answer_is_rejected_with_its_hint(g, answer):
    result = core.run_grader(g, answer.fn)
    assert not result.passed, f"{answer.label} passed"
    assert answer.hint in result.message


def test_every_lesson_module_has_a_solution_notebook():
    notebooks = {lesson_of(path) for path in SOLUTIONS}
    assert set(LESSONS) <= notebooks, f"grading modules without a notebook: {set(LESSONS) - notebooks}"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_graded_cells_check_cells_and_graders_name_the_same_exercises(path):
    cells = _cells(path)
    graded = [_source(c).split("\n", 1)[0].split(":", 1)[1].strip() for c in cells if cell_role(c) == "graded"]
    if not graded:
        pytest.skip(f"{path.name} has no exercises")  # a lesson without exercises needs no graders
    lesson = lesson_of(path)
    graders = [g.name for g in core.load_lesson(lesson)]
    assert sorted(graded) == sorted(graders)
    for name in graded:
        assert re.search(rf"^def {name}\(", "".join(_source(c) for c in cells), re.M), f"no def {name}(...)"
    checks = re.findall(r'check\("(lesson\d\d)\.(\w+)", (\w+)\)', "\n".join(_source(c) for c in cells))
    assert sorted(checks) == sorted((lesson, name, name) for name in graded)
    for index, cell in enumerate(cells):
        if cell_role(cell) == "graded":
            following = _source(cells[index + 1])
            assert "check(" in following, f"cell {index + 1} should be the check cell of cell {index}"


@pytest.mark.slow
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_every_solution_notebook_scores_full_marks(path):
    score = score_notebook(path)
    failures = [r.line() for r in score.results if not r.passed]
    assert not failures and not score.cell_errors, failures + score.cell_errors
    assert score.points == score.max_points


@pytest.mark.slow
@pytest.mark.parametrize("path", LEARNERS, ids=lambda p: p.name)
def test_every_untouched_learner_notebook_scores_zero_with_not_implemented_yet(path):
    score = score_notebook(path)
    assert score.points == 0
    assert [r.message for r in score.results] == [core.NOT_IMPLEMENTED] * len(score.results)
    assert not score.cell_errors


# ---------------------------------------------------------------------------------------
# The scoring CLI
# ---------------------------------------------------------------------------------------
LESSON01 = ROOT / "notebooks" / "01_installation.ipynb"


def test_the_scorer_runs_only_setup_import_and_graded_cells():
    roles = [cell_role(c) for c in _cells(ROOT / "notebooks" / "solutions" / "01_installation.ipynb")]
    ran = [r for r in roles if r]
    assert ran[0] == "setup" and ran.count("graded") == 2 and set(ran) <= {"setup", "imports", "graded"}
    code_cells = [c for c in _cells(LESSON01) if c["cell_type"] == "code"]
    assert len(ran) < len(code_cells) // 2  # the model builds, the doctor and the demos are not run


@pytest.mark.slow
def test_score_prints_a_table_and_the_total_and_exits_zero(capsys):
    assert main(["score", str(LESSON01)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"count_bert_parameters\s+0/3\s+✗ not implemented yet", out)
    assert re.search(r"dummy_inputs\s+0/2\s+✗ not implemented yet", out)
    assert out.rstrip().endswith("TOTAL 0/5 points")


@pytest.mark.slow
def test_fail_under_exits_one_below_the_threshold_and_json_reports_each_exercise(capsys):
    assert main(["score", "--fail-under", "100", "--json", str(LESSON01)]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert (payload["points"], payload["max_points"]) == (0, 5)
    assert [e["status"] for e in payload["notebooks"][0]["exercises"]] == ["not implemented"] * 2


def _learner_notebook_with(tmp_path: Path, replacements: dict[str, str]) -> Path:
    nb = json.loads(LESSON01.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        source = _source(cell)
        for name, body in replacements.items():
            if source.startswith(f"# GRADED FUNCTION: {name}"):
                cell["source"] = source.replace("    # YOUR CODE HERE\n    raise NotImplementedError()", body)
    path = tmp_path / LESSON01.name
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_learner_who_solves_one_exercise_scores_its_points(tmp_path, capsys):
    path = _learner_notebook_with(tmp_path, {
        "dummy_inputs": "    return [np.zeros((batch_size, t.shape[1])) for t in model.inputs]",
        "count_bert_parameters": "    return syntax error here",
    })
    assert main(["score", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"dummy_inputs\s+2/2\s+✓ passed", out)
    assert re.search(r"count_bert_parameters\s+0/3\s+✗ its cell raised SyntaxError", out)
    assert "TOTAL 2/5 points" in out


def test_a_notebook_without_a_lesson_number_cannot_be_scored(tmp_path, capsys):
    path = tmp_path / "installation.ipynb"
    path.write_text(json.dumps({"cells": []}))
    assert main(["score", str(path)]) == 2
    assert "--lesson lessonNN" in capsys.readouterr().err


def test_the_lesson_comes_from_the_check_cells_or_the_name_of_a_copy():
    nb = {"cells": [{"cell_type": "code", "source": ['check("lesson03.mask_tokens", mask_tokens)']}]}
    assert lesson_of(Path("renamed.ipynb"), nb) == "lesson03"
    assert lesson_of(Path("Copy of 01_installation.ipynb"), {"cells": []}) == "lesson01"
    assert lesson_of(Path("05_fine_tuning_mrpc (1).ipynb")) == "lesson05"


@pytest.mark.slow
def test_an_endless_loop_in_a_graded_function_times_out_instead_of_hanging(tmp_path):
    path = _learner_notebook_with(tmp_path, {"count_bert_parameters": "    while True:\n        pass"})
    score = score_notebook(path, timeout=1)
    assert score.results[0].message == "raised ScoringTimeout: took longer than 1 s"
