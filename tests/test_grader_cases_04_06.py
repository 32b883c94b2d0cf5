"""The graders of lessons 04-06 (issue 23): their named edge cases, the tolerance logic of their
randomness checks, and the wrong answers each new check exists to reject.

tests/test_grading.py proves every registered right and wrong answer; this file proves what those
proofs take on trust: that the edge cases are the boundaries they are named after, that the
statistics' means and standard deviations are the exact ones, and that the new checks fail the
answers they were written for with a hint that names what was measured.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from bertlab.grading import core, lesson04, lesson05, lesson06


def _names(cases) -> str:
    return " | ".join(case[0] for case in cases)


# ---------------------------------------------------------------------------------------
# Named edge cases: they exist, and they are the boundaries they are named after
# ---------------------------------------------------------------------------------------
def test_mask_edge_cases_hold_a_batch_of_one_rows_without_specials_all_padding_and_odd_sizes():
    cases = dict(lesson04._mask_edge_cases())
    assert cases["batch of one"].shape[0] == 1
    no_special = cases["no special token at all: first and last column ordinary"]
    assert not np.isin(no_special, lesson04.SPECIAL_IDS).any()
    assert (cases["an all-padding row"][0] == lesson04.PAD).all()
    assert cases["int32 ids, odd length 11"].dtype == np.int32 and cases["int32 ids, odd length 11"].shape[1] == 11
    assert lesson04.UNK in cases["[UNK] and [MASK] already in the text"]
    assert cases["a single column"].shape[1] == 1


def test_mask_tokens_is_graded_with_berts_special_ids_and_vocabulary():
    assert (lesson04.PAD, lesson04.UNK, lesson04.CLS, lesson04.SEP, lesson04.MASK) == (0, 100, 101, 102, 103)
    assert lesson04.VOCAB_SIZE == 30522
    batches = lesson04._padded_batches(404, 120)
    words = np.concatenate([b[~np.isin(b, lesson04.SPECIAL_IDS)] for b in batches])
    assert words.min() >= lesson04.FIRST_WORD_ID and words.max() < lesson04.VOCAB_SIZE
    # Skewed like text: the commonest tenth of the vocabulary holds most tokens.
    assert (words < lesson04.FIRST_WORD_ID + lesson04.VOCAB_SIZE // 10).mean() > 0.5


def test_the_tiny_vocabulary_batch_has_every_id_of_range_4_as_a_possible_random_id_and_padding():
    ids, special, mask_id, vocab_size = lesson04._tiny_vocabulary_batch()
    assert (special, mask_id, vocab_size) == ([0, 1], 1, 4)
    assert set(np.unique(ids).tolist()) == {0, 2, 3}  # padding and both words; [MASK] only as a random draw
    assert (ids == 0).any(axis=1).sum() > 10 and (ids == 0).all(axis=1).sum() == 0  # padded rows, none all padding
    # Enough chosen tokens that a missing id (4 sd of its count) is far outside the noise: about 0.15 * 0.1 / 4 each.
    assert (ids != 0).sum() * lesson04.TINY_DRAWS * 0.15 * 0.1 / 4 > 100


def _from(low):
    def mask_tokens(ids, special_ids, mask_id, vocab_size, rng):
        ids = np.asarray(ids)
        chosen = ~np.isin(ids, special_ids) & (rng.random(ids.shape) < 0.15)
        draw = rng.random(ids.shape)
        masked = np.where(chosen & (draw < 0.8), mask_id, ids)
        to_random = chosen & (draw >= 0.8) & (draw < 0.9)
        masked[to_random] = rng.integers(low, vocab_size, size=int(to_random.sum()))
        return masked, np.where(chosen, ids, -100)
    return mask_tokens


def test_random_ids_from_minus_one_fail_naming_the_id_outside_the_vocabulary():
    """rng.integers(-1, vocab_size): -1 is 1 draw in 30,523 with BERT's vocabulary, 1 in 5 with vocab_size=4."""
    assert core.grade("lesson04.mask_tokens", _from(0)).passed
    result = core.grade("lesson04.mask_tokens", _from(-1))
    assert not result.passed and "masked_ids hold -1, outside range(vocab_size=4)" in result.message, result.message


def test_the_rate_is_held_to_15_percent_unless_each_row_has_a_fixed_count():
    """A floor of 15 % per row is a fixed count (allowed); independent draws at 13.5 % land in the floor's window
    and are rejected because their per-row counts vary."""
    assert core.grade("lesson04.mask_tokens", lesson04.mask_tokens_fixed_floor_count_per_row).passed
    rows = np.array([n for batch in lesson04._padded_batches(404, 120) for n in (~np.isin(batch, lesson04.SPECIAL_IDS)).sum(1)])
    floor_rate = np.floor(0.15 * rows).sum() / rows.sum()
    sd = np.sqrt(0.15 * 0.85 / rows.sum())
    assert floor_rate - 4 * sd < 0.137 < 0.15 - 4 * sd  # the floor's window would have held the measured 13.7 %
    result = core.grade("lesson04.mask_tokens", lesson04.mask_tokens_at_13_5_percent)
    assert not result.passed and "13.7% of the ordinary" in result.message and "counts that vary per row" in result.message


def test_loss_edge_cases_cover_label_zero_the_last_id_full_empty_and_holed_masks_and_a_batch_of_one():
    cases = {name: (labels, logits) for name, labels, logits in lesson04._loss_edge_cases()}
    labels, _ = cases["label 0 at every chosen position"]
    assert set(labels[labels != -100].tolist()) == {0}
    labels, logits = cases["labels 0 and vocab - 1 beside ordinary ones"]
    assert {0, logits.shape[-1] - 1} <= set(labels.ravel().tolist())
    assert (cases["every position chosen (a full mask)"][0] != -100).all()
    assert (cases["nothing chosen (an empty mask)"][0] == -100).all()
    assert cases["a batch of one with one chosen position"][0].shape[0] == 1
    holes = cases["holes in the mask: chosen, ignored, chosen"][0][0] != -100
    assert holes.any() and not np.array_equal(holes, np.sort(holes)[::-1])  # not a prefix
    assert cases["int64 labels, odd vocabulary 31"][0].dtype == np.int64
    # Every seeded random case has a chosen label 0, so `labels > 0` cannot pass it either.
    for name, labels, _, _ in lesson04._loss_cases():
        if name.startswith("random case"):
            assert labels[0, 0] == 0


def test_the_empty_mask_case_expects_exactly_zero():
    expected = {name: want for name, _, _, want in lesson04._loss_cases()}
    assert expected["nothing chosen (an empty mask)"] == 0.0
    assert str(expected["nothing chosen (an empty mask)"]) == "0.0"  # not "-0.0" in a hint


def test_nsp_edge_cases_hold_one_sentence_and_empty_documents():
    cases = dict(lesson04._nsp_edge_cases())
    assert any(len(doc) == 1 for doc in cases["a one-sentence document (no pair of its own, still a source of random sentences)"])
    assert [] in cases["an empty document (never a source)"]
    assert len(cases["two documents"]) == 2


def test_schedules_include_no_warmup_warmup_over_the_whole_run_and_steps_past_the_end():
    shapes = {(warmup, total) for _, _, warmup, total in lesson05.SCHEDULES}
    assert any(warmup == 0 for warmup, _ in shapes)
    assert any(warmup == total for warmup, total in shapes)
    assert (0, 1) in shapes and (1, 7) in shapes
    for _, peak, warmup, total in lesson05.SCHEDULES:
        steps = set(lesson05._schedule_steps(warmup, total))
        assert {0, warmup, total, total + 1, total + lesson05.PAST_END - 1} <= steps
        assert {warmup - 1, warmup + 1, total - 1} - {-1} <= steps


def test_where_warmup_ends_at_total_steps_both_the_peak_and_zero_are_allowed_there_only():
    assert lesson05._allowed_rates(20, 3e-4, 20, 20) == (3e-4, 0.0)
    assert lesson05._allowed_rates(19, 3e-4, 20, 20) == (pytest.approx(3e-4 * 19 / 20),)
    assert lesson05._allowed_rates(21, 3e-4, 20, 20) == (0.0,)


def test_split_cases_name_the_ordered_file_rare_classes_at_the_ends_other_ids_and_shares():
    cases = {name: (labels, share) for name, labels, share in lesson06._split_cases()}
    labels, _ = cases["sorted labels (an ordered file)"]
    assert np.array_equal(labels, np.sort(labels))
    labels, share = cases["the rarest class first and last, test_share 0.5"]
    assert labels[0] == labels[-1] == 1 and (labels == 1).sum() == 4 and share == 0.5
    assert set(cases["class ids 3 and 7, not 0 and 1"][0].tolist()) == {3, 7}
    assert cases["an odd share 0.37 of 101 rows"][1] == 0.37 and len(cases["an odd share 0.37 of 101 rows"][0]) == 101
    assert set(lesson06.RANDOMNESS_CASES) <= set(cases)


def test_layer_edge_cases_hold_a_batch_of_one_a_single_token_row_and_a_mask_with_holes():
    cases = {name: (shape, mask) for name, shape, mask in lesson06._layer_edge_cases()}
    assert cases["a batch of one, no padding"][0][0] == 1
    assert cases["a row with a single real token"][1].sum(axis=1).min() == 1
    mask = cases["holes in the mask (1 0 1 1 0 1)"][1]
    prefix = np.arange(mask.shape[1])[None, :] < mask.sum(axis=1, keepdims=True)
    assert not np.array_equal(prefix, mask)
    assert cases["exactly four entries (the embedding output among the last four)"][0][3] + 1 == 4


def test_threshold_edge_cases_hold_ties_a_precision_exactly_at_the_target_and_target_one():
    cases = {case[0]: case[1:] for case in lesson06._named_threshold_cases()}
    y, scores, target, want = cases["ties: scores rounded to one decimal"]
    assert len(np.unique(scores)) < len(scores) / 10
    y, scores, target, want = cases["a precision exactly equal to the target (>=, not >)"]
    assert y[scores >= want].mean() == target  # exactly, so `>` picks a higher threshold
    y, scores, target, want = cases["the lowest score reaches the target (everything flagged)"]
    assert want == scores.min()
    y, scores, target, want = cases["target 1.0: only the highest scores"]
    assert target == 1.0 and y[scores >= want].all()
    y, scores, target, want = cases["precision not monotonic: dips below the target between two thresholds that reach it"]
    precisions = [y[scores >= t].mean() for t in np.sort(np.unique(scores))]
    reaching = np.array(precisions) >= target
    assert reaching.any() and not np.all(reaching[np.argmax(reaching):])  # reaches, dips, reaches again
    y, scores, target, want = cases["only the highest threshold reaches the target (the last of precision_recall_curve's)"]
    precisions = [y[scores >= t].mean() for t in np.sort(np.unique(scores))]
    assert want == scores.max() and [p >= target for p in precisions] == [False] * (len(precisions) - 1) + [True]


# ---------------------------------------------------------------------------------------
# The tolerance logic: exact moments, and what independent draws give
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, p", [(2, 0.15), (5, 0.15), (8, 0.5), (40, 0.02)])
def test_binomial_dispersion_moments_are_the_exact_ones(n, p):
    from math import comb

    counts = np.arange(n + 1)
    pmf = np.array([comb(n, k) * p**k * (1 - p) ** (n - k) for k in counts])
    term = (counts - n * p) ** 2 / (n * p * (1 - p))
    exact_mean, exact_var = (pmf * term).sum(), (pmf * term**2).sum() - (pmf * term).sum() ** 2
    _, mean, sd = lesson04.binomial_dispersion([0], [n], p)
    assert mean == 1 and sd**2 == pytest.approx(exact_var, rel=1e-9)
    assert exact_mean == pytest.approx(1.0)


def test_binomial_dispersion_accepts_independent_rows_and_rejects_rows_chosen_together():
    rng = np.random.default_rng(0)
    trials = rng.integers(2, 9, size=3000)  # selectable rows per column of a batch
    outside = 0
    for _ in range(200):
        statistic, mean, sd = lesson04.binomial_dispersion(rng.binomial(trials, 0.15), trials, 0.15)
        outside += statistic > mean + lesson04.SIGMAS * sd
    assert outside <= 1  # 4 sd: a false alarm is rare
    together = np.where(rng.random(3000) < 0.15, trials, 0)  # the same columns in every row
    statistic, mean, sd = lesson04.binomial_dispersion(together, trials, together.sum() / trials.sum())
    assert statistic > mean + 20 * sd


def test_the_neighbour_window_holds_independent_and_fixed_count_rows_and_not_runs():
    rng = np.random.default_rng(1)
    n, rows, rate = 80, 600, 0.15
    pairs, selectable = [n - 1] * rows, [n] * rows

    def both(chosen):
        return int((chosen[:, :-1] & chosen[:, 1:]).sum())

    low, high = lesson04.neighbour_pairs_window(pairs, selectable, rate)
    independent = rng.random((rows, n)) < rate
    fixed = np.zeros((rows, n), bool)
    for row in fixed:
        row[rng.permutation(n)[: round(rate * n)]] = True
    runs = np.repeat(rng.random((rows, n // 2)) < rate, 2, axis=1)  # spans of two
    assert low <= both(independent) <= high
    assert low <= both(fixed) <= high
    assert both(runs) > high


def test_uniform_bins_accept_uniform_draws_and_reject_words_of_a_text():
    rng = np.random.default_rng(2)
    rejected = sum(not lesson04.uniform_bins_ok(rng.integers(0, 30522, size=900), 0, 30522)[0] for _ in range(200))
    assert rejected <= 2
    words = lesson04._word_ids(rng, 900)
    ok, measured = lesson04.uniform_bins_ok(words, 0, 30522)
    assert not ok and "expected 90" in measured


def test_adjacent_pairs_moments_equal_an_enumeration_of_every_subset():
    for n, k in [(7, 3), (9, 4), (6, 1), (5, 5), (8, 0)]:
        values = []
        for subset in itertools.combinations(range(n), k):
            chosen = np.isin(np.arange(n), subset)
            values.append(int((chosen[:-1] & chosen[1:]).sum()))
        mean, variance = lesson06.adjacent_pairs_moments(n, k)
        assert mean == pytest.approx(np.mean(values)) and variance == pytest.approx(np.var(values), abs=1e-12)


def test_negative_source_windows_hold_both_readings_of_a_random_other_document():
    sizes, own, draws = lesson04.NEGATIVE_DOCUMENTS, 2, 1000
    windows = lesson04.negative_source_windows(sizes, own, draws)
    others = [j for j in range(len(sizes)) if j != own]
    by_document = {j: draws / len(others) for j in others}
    by_sentence = {j: draws * sizes[j] / sum(sizes[o] for o in others) for j in others}
    for j in others:
        low, high = windows[j]
        assert low < by_document[j] < high and low < by_sentence[j] < high
    assert windows[own] == (0.0, 0.0)


# ---------------------------------------------------------------------------------------
# The new wrong answers fail with hints that name what was measured
# ---------------------------------------------------------------------------------------
FAST_NEW_WRONG = [
    ("lesson04.mask_tokens", lesson04.mask_tokens_same_columns_in_every_row, "dispersion"),
    ("lesson04.mask_tokens", lesson04.mask_tokens_random_ids_from_the_batch, "of 676 in [0, 3052)"),
    ("lesson04.mask_tokens", lesson04.mask_tokens_in_place, "changed the ids"),
    ("lesson04.mask_tokens", lesson04.mask_tokens_one_split_draw_per_row, "the count made [MASK] per row has dispersion"),
    ("lesson04.mask_tokens", lesson04.mask_tokens_skipping_the_first_and_last_column, "position (0, 0)"),
    ("lesson04.mask_tokens", lesson04.mask_tokens_random_ids_from_1,
     "0 of 5287 chosen tokens other than 0 became 0, expected 132 ± 45"),
    ("lesson04.make_nsp_pairs", lesson04.make_nsp_pairs_from_the_following_document, "in 60 draws"),
    ("lesson04.make_nsp_pairs", lesson04.make_nsp_pairs_first_sentence_of_another_document, "were its sentence 0"),
    ("lesson04.make_nsp_pairs", lesson04.make_nsp_pairs_popping_sentences, "changed the documents"),
    ("lesson04.masked_lm_loss", lesson04.masked_lm_loss_treating_label_0_as_ignored,
     "label 0 at every chosen position: loss 0.00000, expected 5.25717"),
    ("lesson05.warmup_linear_decay", lesson05.decay_dividing_by_total_minus_warmup, "ZeroDivisionError"),
    ("lesson06.stratified_split", lesson06.every_kth_row_of_each_class, "0 pairs of neighbouring rows"),
    ("lesson06.stratified_split", lesson06.split_sorting_the_labels_in_place, "changed the labels"),
    ("lesson06.layer_features", lesson06.layer_features_of_the_first_tokens, "holes in the mask"),
    ("lesson06.layer_features", lesson06.layer_features_zeroing_padding_in_place, "changed the hidden states"),
    ("lesson06.threshold_for_precision", lesson06.threshold_with_precision_above_the_target,
     "a precision exactly equal to the target (>=, not >): threshold 0.5942 (precision 1.000, 9 flagged)"),
    ("lesson06.threshold_for_precision", lesson06.threshold_over_single_scores_ignoring_ties, "ties"),
    ("lesson06.threshold_for_precision", lesson06.threshold_sorting_in_place, "changed y_true or scores"),
    ("lesson06.threshold_for_precision", lesson06.threshold_skipping_the_highest_threshold,
     "only the highest threshold reaches the target (the last of precision_recall_curve's): threshold_for_precision "
     "raised IndexError"),
]


@pytest.mark.parametrize("key, answer, measured", FAST_NEW_WRONG, ids=[a.__name__ for _, a, _ in FAST_NEW_WRONG])
def test_a_new_wrong_answer_fails_with_a_hint_that_names_the_measurement(key, answer, measured):
    result = core.grade(key, answer)
    assert not result.passed and measured in result.message, result.message


def test_the_schedule_hint_names_the_step_the_value_and_the_expected_value():
    result = core.grade("lesson05.warmup_linear_decay", lesson05.decay_below_zero)
    assert "step 346" in result.message and "got -1.607717e-07, expected 0" in result.message


@pytest.mark.slow
def test_the_other_tokenizer_changes_every_expected_prediction():
    """Else ignoring the tokenizer could not show: each differs by at least 5 times the grader's atol (1e-4)."""
    default = lesson05._pair_predictions()[0][3]
    shifted = lesson05._shifted_pair_predictions()
    for (_, _, _, want), (_, _, _, other) in zip(default, shifted):
        assert np.abs(np.asarray(want) - np.asarray(other)).max() > 5e-4


@pytest.mark.slow
def test_predict_pair_ignoring_its_tokenizer_fails_saying_how_often_it_was_called():
    result = core.grade("lesson05.predict_pair", lesson05.predict_pair_with_its_own_tokenizer)
    assert not result.passed and "called it 0 times" in result.message


@pytest.mark.slow
@pytest.mark.parametrize("answer, measured", [
    (lesson05.classifier_with_a_fixed_adam, "learning rate at step 0 is 0.001, expected 0"),
    (lesson05.classifier_dropping_token_type_ids, "changed the logits by 0"),
    (lesson05.classifier_without_dropout, "Dropout layers have rates []"),
    (lesson05.classifier_with_sum_pooling, "differs from the masked mean by 9, from the [CLS] vector by 6.69"),
    (lesson05.classifier_without_metrics, "model.evaluate reports loss, and no accuracy (the batch's accuracy is 0.562)"),
], ids=["fixed Adam(1e-3)", "token_type_ids dropped", "no dropout", "sum pooling", "no metrics"])
def test_a_new_wrong_classifier_fails_with_what_was_measured(answer, measured):
    result = core.grade("lesson05.build_classifier", answer)
    assert not result.passed and measured in result.message, result.message
