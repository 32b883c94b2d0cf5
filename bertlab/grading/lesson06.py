"""Graders for lesson 06 "Spam classifier": a stratified split, class weights, a threshold for a precision.

All three grade plain NumPy/scikit-learn functions on seeded, varied arrays (well under a second).
"""
from __future__ import annotations

import functools

import numpy as np

from bertlab.grading.core import GradingError, grader, wrong_answer


# ---------------------------------------------------------------------------------------
# stratified_split(labels, test_share, seed) -> (train_positions, test_positions)
# ---------------------------------------------------------------------------------------
def _split_cases():
    rng = np.random.default_rng(606)
    return [
        (np.array([0] * 87 + [1] * 13), 0.2),  # sorted labels: an unshuffled split shows
        ((rng.random(400) < 0.13).astype(np.int64), 0.25),  # SMS-like, 13 % spam
        (rng.permutation(np.array([0] * 60 + [1] * 25 + [2] * 15)), 0.3),  # three classes
    ]


def _as_positions(value, what: str) -> np.ndarray:
    positions = np.asarray(value)
    if positions.ndim != 1 or (positions.size and not np.issubdtype(positions.dtype, np.integer)):
        raise GradingError(f"{what} should be a 1-D array of integer row positions, got {positions.dtype} of shape {positions.shape}")
    return positions


@grader("stratified_split", points=2)
def grade_stratified_split(learner_fn):
    """Two- and three-class label vectors: a partition of the rows, each class's share kept in
    the test part, shuffled within each class, and the same split for the same seed."""
    for labels, share in _split_cases():
        got = learner_fn(labels.copy(), share, 7)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise GradingError("return a pair (train_positions, test_positions)")
        train, test = (_as_positions(part, name) for part, name in zip(got, ("train_positions", "test_positions")))
        n = len(labels)
        if len(np.intersect1d(train, test)) or sorted(np.concatenate([train, test]).tolist()) != list(range(n)):
            raise GradingError(f"every row position 0..{n - 1} must be in exactly one of the two parts (no duplicates, none lost)")
        classes = np.unique(labels)
        if abs(len(test) - share * n) >= len(classes):  # each class's count may be rounded either way
            raise GradingError(f"the test part should hold {share:.0%} of the {n} rows ({share * n:g}), got {len(test)}")
        for label in classes:
            in_class = np.flatnonzero(labels == label)
            expected = len(test) * len(in_class) / n
            held_out = np.isin(in_class, test)
            if abs(held_out.sum() - expected) >= 1:
                raise GradingError(
                    f"class {label}: {held_out.sum()} of its {len(in_class)} rows are in the test part, expected about "
                    f"{expected:.1f}: keep each class's share in both parts (stratify by the labels)")
            k = int(held_out.sum())
            if k >= 3 and (held_out[:k].all() or held_out[-k:].all()):
                raise GradingError(f"class {label}: the test part is the first or last {k} of its rows: shuffle "
                                   "(with the seed) before splitting, or an ordered file gives a biased split")
        again = learner_fn(labels.copy(), share, 7)
        if not np.array_equal(np.sort(_as_positions(again[1], "test_positions")), np.sort(test)):
            raise GradingError("the same seed gave a different split: draw the random numbers from the seed, so "
                               "that every run (and every reader) gets the same parts")
    labels, share = _split_cases()[1]
    splits = {tuple(np.sort(np.asarray(learner_fn(labels.copy(), share, seed)[1])).tolist()) for seed in (1, 2, 3)}
    if len(splits) == 1:
        raise GradingError("seeds 1, 2 and 3 gave the same split: use the seed argument to shuffle")


@wrong_answer("stratified_split", hint="stratify")
def split_ignoring_classes(labels, test_share, seed):
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = round(test_share * len(labels))
    return order[n_test:], order[:n_test]


@wrong_answer("stratified_split", hint="shuffle")
def last_rows_of_each_class(labels, test_share, seed):
    test = []
    for label in np.unique(labels):
        in_class = np.flatnonzero(labels == label)
        test.extend(in_class[len(in_class) - round(test_share * len(in_class)):])
    test = np.array(sorted(test))
    return np.setdiff1d(np.arange(len(labels)), test), test


@wrong_answer("stratified_split", hint="same seed")
def split_without_the_seed(labels, test_share, seed):
    from sklearn.model_selection import train_test_split

    return tuple(train_test_split(np.arange(len(labels)), test_size=test_share, stratify=labels))


# ---------------------------------------------------------------------------------------
# class_weights(labels) -> {class: weight}, "balanced": n_samples / (n_classes * count)
# ---------------------------------------------------------------------------------------
def _label_cases():
    rng = np.random.default_rng(6)
    cases = [np.array([0] * 87 + [1] * 13), np.array([0, 1, 1, 1, 0, 1])]
    cases.append((rng.random(501) < 0.2).astype(np.int64))
    cases.append(rng.permutation(np.array([0] * 30 + [1] * 12 + [2] * 5)))
    return cases


@grader("class_weights", points=2, uses=[
    "bertlab.spam.balanced_class_weights", "sklearn.utils.class_weight.compute_class_weight"])
def grade_class_weights(learner_fn):
    """Balanced weights for 2- and 3-class label vectors of varied size and imbalance."""
    for labels in _label_cases():
        got = learner_fn(labels.copy())
        if not isinstance(got, dict):
            raise GradingError(f"return a dict {{class: weight}} (what Keras' class_weight takes), got {type(got).__name__}")
        classes, counts = np.unique(labels, return_counts=True)
        if sorted(int(k) for k in got) != classes.tolist():
            raise GradingError(f"the keys should be the classes {classes.tolist()}, got {sorted(got)}")
        want = {int(c): len(labels) / (len(classes) * n) for c, n in zip(classes, counts)}
        rare, common = classes[counts.argmin()], classes[counts.argmax()]
        if got[rare] < got[common]:
            raise GradingError("the rarer class must get the larger weight (spam is rare, so its errors should cost more)")
        for c in classes:
            if not np.isclose(float(got[c]), want[int(c)], rtol=1e-6):
                raise GradingError(
                    f"class {c}: weight {float(got[c]):.4f}, expected {want[int(c)]:.4f} = n_samples / (n_classes × "
                    "count of that class), so that every class carries the same total weight"
                )


@wrong_answer("class_weights", hint="n_samples / (n_classes")
def inverse_counts(labels):
    classes, counts = np.unique(labels, return_counts=True)
    return {int(c): 1.0 / n for c, n in zip(classes, counts)}


@wrong_answer("class_weights", hint="rarer class")
def class_frequencies(labels):
    classes, counts = np.unique(labels, return_counts=True)
    return {int(c): n / len(labels) for c, n in zip(classes, counts)}


# ---------------------------------------------------------------------------------------
# threshold_for_precision(y_true, scores, target_precision) -> a threshold whose predictions
# (spam when score >= threshold) are those of the lowest threshold reaching the precision
# ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _threshold_cases():
    """(y, scores, target, reference threshold) per case."""
    rng = np.random.default_rng(66)
    cases = []
    for n, spam_share, target in [(400, 0.13, 0.95), (250, 0.3, 0.9), (600, 0.13, 0.99)]:
        y = (rng.random(n) < spam_share).astype(int)
        scores = np.clip(rng.normal(0.25 + 0.5 * y, 0.18), 0, 1).round(4)
        cases.append((y, scores, target, float(_reference_threshold(y, scores, target))))
    return cases


def _precision_at(y, scores, threshold):
    predicted = scores >= threshold
    return y[predicted].mean() if predicted.any() else 0.0


def _reference_threshold(y, scores, target):
    from bertlab.spam import threshold_for_precision

    return threshold_for_precision(y, scores, target)


@grader("threshold_for_precision", points=2, prepare=_threshold_cases, uses=["bertlab.spam.threshold_for_precision"])
def grade_threshold_for_precision(learner_fn):
    """A threshold that makes the predictions (spam if score >= threshold) of the lowest score
    threshold whose precision reaches the target: any value between the score below it
    (excluded) and it (included) predicts the same and is right."""
    for y, scores, target, want in _threshold_cases():
        got = float(learner_fn(y.copy(), scores.copy(), target))
        if np.array_equal(scores >= got, scores >= want):
            continue
        precision = _precision_at(y, scores, got)
        if precision < target:
            raise GradingError(
                f"at threshold {got:.4f} precision is {precision:.3f}, below the target {target}: predict spam "
                "when score >= threshold and check precision, not recall"
            )
        raise GradingError(
            f"threshold {got:.4f} reaches precision {target} but a lower one ({want:.4f}) does too and flags more "
            "spam: choose the lowest threshold that reaches the target, so that recall is as high as possible"
        )


@wrong_answer("threshold_for_precision", hint="lowest")
def highest_precision_threshold(y_true, scores, target_precision):
    from sklearn.metrics import precision_recall_curve

    precision, _, thresholds = precision_recall_curve(y_true, scores)
    return thresholds[np.argmax(precision[:-1])]


@wrong_answer("threshold_for_precision", hint="not recall")
def threshold_for_recall(y_true, scores, target_precision):
    from sklearn.metrics import precision_recall_curve

    _, recall, thresholds = precision_recall_curve(y_true, scores)
    return thresholds[np.flatnonzero(recall[:-1] >= target_precision)[-1]]
