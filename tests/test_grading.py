"""The grading core, the scoring CLI, and the proofs that every lesson's graders work.

The proofs run over every ``bertlab/grading/lessonNN.py`` and every
``notebooks/solutions/NN_*.ipynb`` found on disk, so a new lesson is covered with no edit here:
(a) its solution notebook scores 100 %, (b) its untouched learner notebook scores 0 %,
(c) each exercise has >= 2 known-wrong answers, each rejected with its intended hint.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from kernel_helpers import kernel_runner

from bertlab.grading import core
from bertlab.grading.__main__ import cell_role, lesson_of, main, score_all, score_notebook

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb"))
LEARNERS = [ROOT / "notebooks" / path.name for path in SOLUTIONS]
LESSONS = core.lesson_modules()
GRADERS = [g for lesson in LESSONS for g in core.load_lesson(lesson)]
WRONG_ANSWERS = [pytest.param(g, w, id=w.label) for g in GRADERS for w in g.wrong_answers]
RIGHT_ANSWERS = [pytest.param(g, r, id=r.label) for g in GRADERS for r in g.right_answers]


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


def _notebook_function(source: str, name: str, namespace: dict | None = None):
    """A function defined the way a notebook cell defines it (code named like a cell, not a file)."""
    namespace = {"np": np} if namespace is None else namespace
    exec(compile(source, "<cell 7>", "exec"), namespace)
    return namespace[name]


def test_a_stub_reads_not_implemented_yet():
    stub = _notebook_function("def stub(x):\n    raise NotImplementedError()", "stub")
    result = core.run_grader(_grader(lambda fn: fn(1)), stub)
    assert (result.status, result.points, result.message) == ("not implemented", 0, "not implemented yet")
    assert result.line() == "✗ exercise: not implemented yet"


def _library_function(x):  # stands for a library (a file, not a notebook cell)
    raise NotImplementedError("Cannot convert a symbolic tf.Tensor to a numpy array")


def test_a_librarys_not_implemented_error_is_a_failure_not_a_stub():
    answer = _notebook_function("def answer(x):\n    return library_function(x)", "answer",
                                {"library_function": _library_function})
    result = core.run_grader(_grader(lambda fn: fn(1)), answer)
    assert result.status == "failed"
    assert result.message == "raised NotImplementedError: Cannot convert a symbolic tf.Tensor to a numpy array"


def test_a_learners_assert_message_is_reported_as_their_error_not_as_a_hint():
    answer = _notebook_function("def answer(x):\n    assert x > 5, 'use a bigger x'\n    return x", "answer")
    result = core.run_grader(_grader(lambda fn: fn(1)), answer)
    assert result.message == "raised AssertionError: use a bigger x"


@pytest.mark.parametrize("statement", ["sys.exit(0)", "raise KeyboardInterrupt"])
def test_system_exit_or_keyboard_interrupt_in_a_learner_function_is_a_failed_exercise(statement):
    import sys

    answer = _notebook_function(f"def answer(x):\n    {statement}", "answer", {"sys": sys})
    result = core.run_grader(_grader(lambda fn: fn(1)), answer)
    assert result.status == "failed" and result.points == 0
    assert result.message.split(":")[0] in ("raised SystemExit", "raised KeyboardInterrupt")


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
    stub = _notebook_function("def masked_mean_pool(sequence_output, input_mask):\n    raise NotImplementedError()",
                              "masked_mean_pool")
    assert core.check("lesson03.masked_mean_pool", stub) is None
    assert capsys.readouterr().out == "✗ masked_mean_pool: not implemented yet\n"


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
# Graders do not trust the learner's namespace
# ---------------------------------------------------------------------------------------
def _zeros_pool(sequence_output, input_mask):
    return np.zeros((len(sequence_output), np.shape(sequence_output)[2]))


def test_patching_np_allclose_before_grading_does_not_pass_zeros(monkeypatch):
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)  # a notebook cell did this
    result = core.grade("lesson03.masked_mean_pool", _zeros_pool)
    assert result.status == "failed", result.line()
    assert np.allclose is not core._SNAPSHOTS["numpy"][1]["allclose"] or np.allclose(1, 2) is False


def test_patching_numpy_inside_the_learner_function_is_undone_after_the_call():
    original = np.allclose
    answer = _notebook_function(
        "def masked_mean_pool(sequence_output, input_mask):\n"
        "    np.allclose = lambda *a, **k: True\n"
        "    np.isclose = lambda *a, **k: True\n"
        "    return np.zeros((len(sequence_output), np.shape(sequence_output)[2]))", "masked_mean_pool")
    result = core.grade("lesson03.masked_mean_pool", answer)
    assert result.status == "failed"
    assert np.allclose is original


def test_replacing_the_graders_own_functions_passes_nothing():
    from bertlab.grading import lesson03

    answer = _notebook_function(
        "def most_different_layer(vectors_a, vectors_b):\n"
        "    lesson03._layer_cases = lambda: []\n"
        "    lesson03.GradingError = KeyError\n"
        "    return 0", "most_different_layer", {"np": np, "lesson03": lesson03})
    assert core.grade("lesson03.most_different_layer", answer).status == "failed"
    assert core.grade("lesson03.most_different_layer", answer).status == "failed"


def test_an_answer_object_with_its_own_equality_is_refused():
    class AlwaysEqual(list):
        def __eq__(self, other):
            return True

    result = core.grade("lesson06.stratified_split", lambda labels, test_share, seed: AlwaysEqual())
    assert result.status == "failed"


def test_calling_bertlabs_own_answer_earns_no_points_and_says_so():
    from bertlab import spam

    result = core.grade("lesson06.threshold_for_precision", lambda y, s, t: spam.threshold_for_precision(y, s, t))
    assert (result.status, result.points) == ("failed", 0)
    assert "calls bertlab.spam.threshold_for_precision" in result.message
    assert result.notes == ["used bertlab.spam.threshold_for_precision"]


def test_calling_another_librarys_answer_passes_and_is_reported():
    from keras_bert import get_model

    def count(vocab_size, hidden_size, num_layers, ff_size, max_positions):
        return get_model(token_num=vocab_size, embed_dim=hidden_size, transformer_num=num_layers, head_num=1,
                         feed_forward_dim=ff_size, pos_num=max_positions, seq_len=max_positions).count_params()

    result = core.grade("lesson01.count_bert_parameters", count)
    assert result.passed and result.notes == ["used keras_bert.get_model"]
    assert "used keras_bert.get_model" in result.line()


# ---------------------------------------------------------------------------------------
# No false zeros
# ---------------------------------------------------------------------------------------
def test_a_list_from_train_test_split_is_a_right_split():
    from sklearn.model_selection import train_test_split

    def stratified_split(labels, test_share, seed):
        return train_test_split(np.arange(len(labels)), test_size=test_share, stratify=labels, random_state=seed)

    assert core.grade("lesson06.stratified_split", stratified_split).passed


def test_mask_tokens_may_return_a_list():
    from bertlab.grading import lesson04

    def mask_tokens(ids, special_ids, mask_id, vocab_size, rng):
        return list(lesson04._reference_mask(ids, special_ids, mask_id, vocab_size, rng))

    assert core.grade("lesson04.mask_tokens", mask_tokens).passed


def test_plain_numpy_masked_mean_pool_passes():
    def masked_mean_pool(sequence_output, input_mask):
        return (sequence_output * input_mask[:, :, None]).sum(axis=1) / input_mask.sum(axis=1, keepdims=True)

    assert core.grade("lesson03.masked_mean_pool", masked_mean_pool).passed


def test_any_threshold_with_the_same_predictions_passes():
    from bertlab.grading import lesson06

    def threshold_for_precision(y_true, scores, target_precision):
        for y, s, target, want in lesson06._threshold_cases():
            if np.array_equal(s, scores) and target == target_precision:
                below = s[s < want]
                return (below.max() + want) / 2 if below.size else want / 2  # lower, same predictions

    assert core.grade("lesson06.threshold_for_precision", threshold_for_precision).passed


@pytest.mark.slow
def test_predict_pair_that_zeroes_the_models_weights_fails_and_the_model_is_restored():
    import tensorflow as tf

    from bertlab.grading import lesson05

    def predict_pair(model, tokenizer, sentence1, sentence2):
        for w in model.weights:
            w.assign(tf.zeros_like(w))
        probabilities = tf.nn.softmax(model(dict(tokenizer(sentence1, sentence2, return_tensors="tf")), training=False))
        return int(np.argmax(probabilities[0])), probabilities.numpy()[0]

    result = core.grade("lesson05.predict_pair", predict_pair)
    assert result.status == "failed" and "changed the model's weights" in result.message
    _, model, weights, _ = lesson05._pair_predictions()[0]
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights))


# ---------------------------------------------------------------------------------------
# The scoring rule, in check() and in the scorer
# ---------------------------------------------------------------------------------------
def test_the_scorer_runs_definitions_and_literal_constants_only():
    from bertlab.grading import cells

    code = ("import numpy as np\nimport pandas as pd\npd.set_option('display.max_rows', 5)\nLIMIT = 3\n"
            "model = build()\ndef f(x):\n    return x\nprint(f(demo))\nclass C:\n    pass")
    kept = cells.scored_statements(code)
    assert cells.defined_names(kept) == {"np", "pd", "LIMIT", "f", "C"}
    assert cells.python_source("%%time\n# GRADED FUNCTION: f\ndef f():\n    pass").startswith("# GRADED FUNCTION: f")
    assert cells.python_source("%%bash\nls") is None
    assert cells.graded_name({"cell_type": "code", "source": "%%time\n# GRADED FUNCTION: f\ndef f(): pass"}) == "f"


def test_check_names_notebook_variables_that_scoring_does_not_define():
    namespace = {"np": np}
    exec(compile("tokenizer = object()\nLIMIT = 3\n"
                 "def helper(x):\n    return tokenizer, LIMIT\n"
                 "def f(x):\n    return helper(x) + (np.zeros(1),)", "<cell 2>", "exec"), namespace)
    assert core.unscored_globals(namespace["f"], {"np", "LIMIT", "helper", "f"}) == ["tokenizer"]
    assert core.unscored_globals(namespace["f"], {"np", "LIMIT", "helper", "f", "tokenizer"}) == []


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


@pytest.mark.slow
@pytest.mark.parametrize("g, answer", RIGHT_ANSWERS)
def test_each_right_answer_passes_with_full_points(g, answer):
    result = core.run_grader(g, answer.fn)
    assert result.points == g.points, f"{answer.label} ({answer.why}) rejected: {result.message}"


def test_the_audit_catches_a_right_answer_that_is_rejected():
    def grader_fn(fn):
        if fn(2) != 4:
            raise core.GradingError("double it")

    g = _grader(grader_fn)
    g.right_answers.append(core.RightAnswer("lesson99", "exercise", "shift instead of multiply", lambda x: x << 1))
    assert not [p for p in core.audit(g) if "right answer" in p]
    g.right_answers.append(core.RightAnswer("lesson99", "exercise", "a wrong 'right' answer", lambda x: x + 1))
    problems = [p for p in core.audit(g) if "right answer" in p]
    assert len(problems) == 1 and "a wrong 'right' answer" in problems[0] and "double it" in problems[0]


def test_every_lesson_module_has_a_solution_notebook():
    notebooks = {lesson_of(path)[0] for path in SOLUTIONS}
    assert set(LESSONS) <= notebooks, f"grading modules without a notebook: {set(LESSONS) - notebooks}"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_graded_cells_check_cells_and_graders_name_the_same_exercises(path):
    cells = _cells(path)
    graded = [_source(c).split("\n", 1)[0].split(":", 1)[1].strip() for c in cells if cell_role(c) == "graded"]
    if not graded:
        pytest.skip(f"{path.name} has no exercises")  # a lesson without exercises needs no graders
    lesson, flags = lesson_of(path, json.loads(path.read_text(encoding="utf-8")))
    assert flags == []
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


@pytest.fixture(scope="module")
def course_scores():
    """The 6 solution and 6 learner notebooks, scored in one parallel run (as `make score` does)."""
    return {s.path: s for s in score_all(SOLUTIONS + LEARNERS)}


@pytest.mark.slow
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_every_solution_notebook_scores_full_marks(course_scores, path):
    score = course_scores[path]
    failures = [r.line() for r in score.results if not r.passed]
    assert not failures and not score.cell_errors and not score.error, failures + score.cell_errors
    assert score.points == score.max_points > 0


@pytest.mark.slow
@pytest.mark.parametrize("path", LEARNERS, ids=lambda p: p.name)
def test_every_untouched_learner_notebook_scores_zero_with_not_implemented_yet(course_scores, path):
    score = course_scores[path]
    assert score.points == 0 and score.max_points > 0
    assert [r.message for r in score.results] == [core.NOT_IMPLEMENTED] * len(score.results)
    assert not score.cell_errors and not score.error


# ---------------------------------------------------------------------------------------
# The scoring CLI
# ---------------------------------------------------------------------------------------
LESSON01 = ROOT / "notebooks" / "01_installation.ipynb"


def test_the_scorer_runs_only_definitions_of_the_setup_import_and_graded_cells():
    roles = [cell_role(c) for c in _cells(ROOT / "notebooks" / "solutions" / "01_installation.ipynb")]
    ran = [r for r in roles if r]
    assert ran[0] == "setup" and ran.count("graded") == 3 and set(ran) <= {"setup", "definitions", "graded"}
    code_cells = [c for c in _cells(LESSON01) if c["cell_type"] == "code"]
    assert len(ran) < len(code_cells) // 2  # the model builds, the doctor and the demos are not run


@pytest.mark.slow
def test_score_prints_a_table_and_the_total_and_fail_under_and_json(capsys):
    assert main(["score", str(LESSON01)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"count_bert_parameters\s+0/3\s+✗ not implemented yet", out)
    assert re.search(r"dummy_inputs\s+0/2\s+✗ not implemented yet", out)
    assert re.search(r"encoder_block_parameters\s+0/2\s+✗ not implemented yet", out)
    assert out.rstrip().endswith("TOTAL 0/7 points")
    assert main(["score", "--fail-under", "100", "--json", str(LESSON01)]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert (payload["points"], payload["max_points"]) == (0, 7)
    assert [e["status"] for e in payload["notebooks"][0]["exercises"]] == ["not implemented"] * 3


def test_a_notebook_without_a_lesson_number_cannot_be_scored(tmp_path, capsys):
    path = tmp_path / "installation.ipynb"
    path.write_text(json.dumps({"cells": []}))
    assert main(["score", str(path)]) == 2
    assert "--lesson NN" in capsys.readouterr().err


def test_the_lesson_comes_from_lesson_or_the_check_cells_or_the_name_of_a_copy():
    nb = {"cells": [{"cell_type": "code", "source": ['check("lesson03.mask_tokens", mask_tokens)']}]}
    assert lesson_of(Path("renamed.ipynb"), nb) == ("lesson03", [])
    assert lesson_of(Path("Copy of 01_installation.ipynb"), {"cells": []}) == ("lesson01", [])
    assert lesson_of(Path("05_fine_tuning_mrpc (1).ipynb")) == ("lesson05", [])
    lesson, flags = lesson_of(Path("03_encoder_outputs.ipynb"), {"cells": nb["cells"] * 0 + [
        {"cell_type": "code", "source": 'check("lesson04.mask_tokens", mask_tokens)'}]})
    assert lesson == "lesson04" and "lesson03" in flags[0]
    lesson, flags = lesson_of(Path("03_encoder_outputs.ipynb"), nb, "lesson03")
    assert lesson == "lesson03" and flags == []


# ---------------------------------------------------------------------------------------
# Crafted notebooks, scored together in one command (each process is separate)
# ---------------------------------------------------------------------------------------
SETUP = "import os\nimport sys\nimport time\nimport numpy as np\nimport pandas as pd\nfrom bertlab.grading import check"
RIGHT_03 = {
    "masked_mean_pool": "    w = np.asarray(input_mask, dtype=float)[:, :, None]\n"
                        "    return (np.asarray(sequence_output) * w).sum(1) / w.sum(1)",
    "most_different_layer": "    a, b = np.asarray(vectors_a, float), np.asarray(vectors_b, float)\n"
                            "    return int(np.argmin((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))",
    "scaled_dot_product_attention": "    import tensorflow as tf\n"
                                    "    scores = tf.matmul(queries, keys, transpose_b=True) / tf.sqrt(tf.cast(tf.shape(keys)[-1], tf.float32))\n"
                                    "    padded = 1.0 - tf.cast(attention_mask, tf.float32)[:, None, None, :]\n"
                                    "    probabilities = tf.nn.softmax(scores + padded * -1e9, axis=-1)\n"
                                    "    return tf.matmul(probabilities, values), probabilities",
}
ARGS_03 = {"masked_mean_pool": "sequence_output, input_mask", "most_different_layer": "vectors_a, vectors_b",
           "scaled_dot_product_attention": "queries, keys, values, attention_mask"}
ZEROS = "    return np.zeros((len(sequence_output), np.shape(sequence_output)[2]))"


def _lesson03(folder: Path, name: str, bodies: dict[str, str], *, before: list[str] = (), lesson: str = "lesson03",
              cell_prefix: dict[str, str] | None = None, cell_suffix: dict[str, str] | None = None) -> Path:
    """A lesson-03 notebook: the setup, extra cells, then each exercise's graded cell and check cell."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(SETUP))
    nb.cells.extend(nbformat.v4.new_code_cell(source) for source in before)
    for exercise, args in ARGS_03.items():
        body = bodies.get(exercise, "    raise NotImplementedError()")
        source = f"# GRADED FUNCTION: {exercise}\ndef {exercise}({args}):\n{body}"
        source = (cell_prefix or {}).get(exercise, "") + source + (cell_suffix or {}).get(exercise, "")
        nb.cells.append(nbformat.v4.new_code_cell(source))
        nb.cells.append(nbformat.v4.new_code_cell(f'check("{lesson}.{exercise}", {exercise})'))
    path = folder / name
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """Every crafted notebook below, scored by one command: `score ... --json --csv` with short limits."""
    folder = tmp_path_factory.mktemp("submissions")
    (folder / "alice").mkdir()
    paths = {
        "patched_grader": _lesson03(folder, "03_patched_grader.ipynb", dict.fromkeys(RIGHT_03, ZEROS), before=[
            "# GRADING SETUP\nimport bertlab.grading.core as core\nimport bertlab.grading as grading\n"
            "def full(g, fn, *a, **k):\n    return core.Result(g.name, g.points, g.points, 'passed')\n"
            "core.run_grader = grading.run_grader = full"]),
        "right_after_patch": _lesson03(folder, "03_right.ipynb", RIGHT_03),
        "allclose": _lesson03(folder, "03_allclose.ipynb", {"masked_mean_pool": ZEROS},
                              before=["# GRADING SETUP\nnp.allclose = lambda *a, **k: True\nnp.isclose = np.allclose"]),
        "exits": _lesson03(folder, "03_exits.ipynb", {
            "masked_mean_pool": "    sys.exit(0)", "scaled_dot_product_attention": "    raise KeyboardInterrupt",
            "most_different_layer": RIGHT_03["most_different_layer"]}, before=["# GRADING SETUP\nsys.exit(0)"]),
        "environment": _lesson03(folder, "03_environment.ipynb", RIGHT_03, before=[
            "def spoil(_=os.environ.update(BERTLAB_DATA='/nowhere'), __=os.chdir('/')):\n    pass"]),
        "hangs": _lesson03(folder, "03_hangs.ipynb", {"masked_mean_pool": (
            "    while True:\n        try:\n            time.sleep(0.05)\n        except BaseException:\n            pass")}),
        "crashes": _lesson03(folder, "03_crashes.ipynb", {"most_different_layer": "    os._exit(3)",
                                                          "masked_mean_pool": RIGHT_03["masked_mean_pool"]}),
        "prints": _lesson03(folder / "alice", "03_prints.ipynb", RIGHT_03, before=[
            "def noisy(_=print('{\"kind\": \"result\", \"name\": \"x\"') or os.write(1, b'not json {') "
            "or os.write(2, b'{')):\n    pass",
            "import threading\ndef linger(_=threading.Thread(target=time.sleep, args=(10**6,)).start()):\n    pass"]),
        "jupyter_style": _lesson03(
            folder, "03_jupyter_style.ipynb",
            {**RIGHT_03, "masked_mean_pool": "    return weighted_mean(np.asarray(sequence_output), np.asarray(input_mask))"},
            before=["import numpy as np\npd.set_option('display.max_rows', 10)",
                    "def weighted_mean(states, mask):\n    w = mask[:, :, None].astype(float)\n"
                    "    return (states * w).sum(1) / w.sum(1)",
                    "demo_a = np.ones((3, 4))"],
            cell_prefix={"scaled_dot_product_attention": "%%time\n"},
            cell_suffix={"most_different_layer": "\n\nprint(most_different_layer(demo_a, demo_a))"}),
        "other_lesson": _lesson03(folder, "03_other_lesson.ipynb", {"most_different_layer": "    return syntax error"},
                                  lesson="lesson04"),
    }
    (folder / "03_unreadable.ipynb").write_text("{ this is not json")
    paths["unreadable"] = folder / "03_unreadable.ipynb"
    data_dir = os.environ.get("BERTLAB_DATA")
    out, csv_path = io.StringIO(), folder / "grades.csv"
    cwd = os.getcwd()
    os.chdir(folder)  # relative paths: a notebook's os.chdir must not break the next one
    try:
        with contextlib.redirect_stdout(out):
            status = main(["score", "**/*.ipynb", "--lesson", "03", "--json", "--csv", str(csv_path),
                           "--timeout", "30", "--notebook-timeout", "90"])
    finally:
        os.chdir(cwd)
    assert os.environ.get("BERTLAB_DATA") == data_dir
    payload = json.loads(out.getvalue())
    for notebook in payload["notebooks"]:
        notebook["path"] = str(folder / notebook["path"])  # relative to the folder scored from
    by_name = {Path(n["path"]).name: n for n in payload["notebooks"]}
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    return {"status": status, "payload": payload, "rows": rows,
            "nb": {key: by_name[Path(path).name] for key, path in paths.items()}}


def _points(notebook) -> dict[str, int]:
    return {e["name"]: e["points"] for e in notebook["exercises"]}


@pytest.mark.slow
def test_replacing_run_grader_in_a_notebook_passes_nothing_there_or_after(crafted):
    assert crafted["nb"]["patched_grader"]["points"] == 0
    assert crafted["nb"]["right_after_patch"]["points"] == 6


@pytest.mark.slow
def test_np_allclose_patched_in_a_cell_does_not_pass_zeros(crafted):
    assert _points(crafted["nb"]["allclose"])["masked_mean_pool"] == 0


@pytest.mark.slow
def test_sys_exit_and_keyboard_interrupt_fail_their_exercise_and_the_table_goes_on(crafted):
    notebook = crafted["nb"]["exits"]
    assert _points(notebook) == {"masked_mean_pool": 0, "most_different_layer": 2, "scaled_dot_product_attention": 0}
    assert any("SystemExit" in e for e in notebook["cell_errors"])
    messages = {e["name"]: e["message"] for e in notebook["exercises"]}
    assert messages["masked_mean_pool"].startswith("raised SystemExit")
    assert messages["scaled_dot_product_attention"].startswith("raised KeyboardInterrupt")
    assert main(["score", notebook["path"], "--fail-under", "100", "--notebook-timeout", "120"]) == 1


@pytest.mark.slow
def test_a_notebooks_environment_and_directory_changes_stay_in_its_process(crafted):
    # Scored with relative paths from one folder: a notebook's os.chdir would lose the others.
    assert [crafted["nb"][key]["points"] for key in ("environment", "prints", "right_after_patch")] == [6, 6, 6]


@pytest.mark.slow
def test_a_hanging_notebook_is_killed_and_the_others_are_kept(crafted):
    notebook = crafted["nb"]["hangs"]
    # The judge stops the learner process when a call does not end within --timeout (+ a grace).
    assert "the notebook's code did not end" in notebook["error"]
    assert notebook["points"] == 0 and notebook["max_points"] == 6
    assert crafted["nb"]["jupyter_style"]["points"] == 6


@pytest.mark.slow
def test_a_crashing_notebook_keeps_what_was_graded_and_flags_the_rest(crafted):
    notebook = crafted["nb"]["crashes"]
    assert _points(notebook)["masked_mean_pool"] == 2
    assert "ended early" in notebook["error"]
    assert {e["status"] for e in notebook["exercises"] if e["name"] != "masked_mean_pool"} == {"error"}


@pytest.mark.slow
def test_json_stays_valid_whatever_the_notebooks_print_or_leave_running(crafted):
    notebook = crafted["nb"]["prints"]  # the fixture parsed the JSON
    assert notebook["points"] == 6 and notebook["error"] is None and notebook["seconds"] < 60


@pytest.mark.slow
def test_helpers_demos_pandas_options_and_cell_magics_score_as_check_does(crafted):
    notebook = crafted["nb"]["jupyter_style"]
    assert _points(notebook) == {"masked_mean_pool": 2, "most_different_layer": 2, "scaled_dot_product_attention": 2}
    assert notebook["cell_errors"] == []


@pytest.mark.slow
def test_check_cells_naming_another_lesson_are_flagged(crafted):
    notebook = crafted["nb"]["other_lesson"]
    assert notebook["lesson"] == "lesson03" and "lesson04" in notebook["flags"][0]
    messages = {e["name"]: e["message"] for e in notebook["exercises"]}
    assert messages["most_different_layer"].startswith("its cell raised SyntaxError")
    assert messages["masked_mean_pool"] == core.NOT_IMPLEMENTED


@pytest.mark.slow
def test_an_unreadable_notebook_is_an_error_row_and_the_run_says_so(crafted):
    notebook = crafted["nb"]["unreadable"]
    assert notebook["points"] is None and "not a notebook" in notebook["error"]
    assert crafted["status"] == 2
    assert crafted["payload"]["points"] == sum(n["points"] or 0 for n in crafted["payload"]["notebooks"])


@pytest.mark.slow
def test_the_gradebook_has_a_row_per_notebook_and_exercise_and_a_total(crafted):
    rows = crafted["rows"]
    notebooks = {r["notebook"] for r in rows}
    assert len(notebooks) == len(crafted["nb"])
    right = [r for r in rows if r["notebook"].endswith("03_right.ipynb")]
    assert [r["exercise"] for r in right] == [*ARGS_03, "TOTAL"]
    assert right[-1]["points"] == "6" and right[-1]["max_points"] == "6"
    unreadable = [r for r in rows if r["notebook"].endswith("03_unreadable.ipynb")]
    assert len(unreadable) == 1 and unreadable[0]["status"] == "error" and unreadable[0]["points"] == ""


@pytest.mark.slow
def test_missing_data_is_an_error_of_the_run_not_a_zero(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BERTLAB_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("BERTLAB_OFFLINE", "1")
    monkeypatch.setenv("BERTLAB_HOME", str(tmp_path / "home"))
    status = main(["score", "--json", str(ROOT / "notebooks" / "solutions" / "02_preprocessing.ipynb")])
    captured = capsys.readouterr()
    assert status == 2
    notebook = json.loads(captured.out)["notebooks"][0]
    assert notebook["points"] is None and notebook["exercises"] == []
    assert "could not compute their expected answers" in captured.err


@pytest.mark.slow
def test_check_in_a_jupyter_kernel_applies_the_scoring_rule():
    """What the crafted notebooks above score from the terminal, check() says in Jupyter."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")

    run = kernel_runner(client)

    try:
        run(SETUP + "\ndemo = np.ones((2, 3, 4))\nscale = float(2)")
        run("def helper(w):\n    return w.sum(1)")
        run("%%time\n# GRADED FUNCTION: masked_mean_pool\ndef masked_mean_pool(sequence_output, input_mask):\n"
            "    w = np.asarray(input_mask, float)[:, :, None]\n    return (np.asarray(sequence_output) * w).sum(1) / helper(w)\n"
            "print(masked_mean_pool(demo, np.ones((2, 3))).shape)")
        assert run('check("lesson03.masked_mean_pool", masked_mean_pool)').startswith("✓ masked_mean_pool: passed")
        run("def masked_mean_pool(sequence_output, input_mask):\n"
            "    w = np.asarray(input_mask, float)[:, :, None] * scale / scale\n"
            "    return (np.asarray(sequence_output) * w).sum(1) / w.sum(1)")
        out = run('check("lesson03.masked_mean_pool", masked_mean_pool)')
        assert out.startswith("✗ masked_mean_pool: masked_mean_pool uses scale, which scoring does not define")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
