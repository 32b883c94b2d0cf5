"""Graders for lesson 06 "Spam classifier": masked mean pooling, class weights, a threshold for a precision.

All three grade plain NumPy/TensorFlow functions on seeded, varied arrays (well under a second).
"""
from __future__ import annotations

import numpy as np

from bertlab.grading.core import GradingError, grader, wrong_answer


# ---------------------------------------------------------------------------------------
# mean_pool(last_hidden_state, attention_mask) -> [batch, hidden]
# ---------------------------------------------------------------------------------------
def _pool_cases():
    rng = np.random.default_rng(606)
    cases = []
    for batch, seq, hidden in [(3, 7, 5), (5, 12, 8), (1, 4, 3)]:
        states = rng.normal(size=(batch, seq, hidden)).astype(np.float32)
        lengths = rng.integers(1, seq + 1, size=batch)
        lengths[0] = seq  # one row without padding, the others padded
        mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int32)
        states[mask == 0] += 50.0  # padding positions hold large values, as they can in BERT
        cases.append((states, mask))
    return cases


def _reference_pool(states, mask):
    weights = mask[:, :, None].astype(np.float64)
    return (states * weights).sum(axis=1) / weights.sum(axis=1)


@grader("mean_pool", points=2)
def grade_mean_pool(learner_fn):
    """Mean over real tokens only, for three seeded batches with different padding, NumPy or TF input."""
    import tensorflow as tf

    for i, (states, mask) in enumerate(_pool_cases()):
        as_tensor = i % 2 == 1  # the learner's function must take tensors as well as arrays
        args = (tf.constant(states), tf.constant(mask)) if as_tensor else (states.copy(), mask.copy())
        got = learner_fn(*args)
        got = np.asarray(got.numpy() if hasattr(got, "numpy") else got, dtype=np.float64)
        want = _reference_pool(states, mask)
        if got.shape != want.shape:
            raise GradingError(f"for a batch of shape {states.shape} return shape (batch, hidden) = {want.shape}, "
                               f"got {got.shape}: average over axis 1, the tokens")
        if not np.allclose(got, want, rtol=1e-4, atol=1e-4):
            unmasked = states.mean(axis=1)
            by_length = (states * mask[:, :, None]).sum(axis=1) / states.shape[1]
            if np.allclose(got, unmasked, atol=1e-3):
                hint = "padding positions were averaged in: multiply by the attention_mask before summing"
            elif np.allclose(got, by_length, atol=1e-3):
                hint = "divide by the number of real tokens (the sum of the mask), not by the padded length"
            else:
                hint = "sum the hidden states where attention_mask is 1 and divide by the number of real tokens"
            raise GradingError(hint)


@wrong_answer("mean_pool", hint="attention_mask")
def mean_pool_with_padding(last_hidden_state, attention_mask):
    return np.asarray(last_hidden_state).mean(axis=1)


@wrong_answer("mean_pool", hint="number of real tokens")
def mean_pool_by_padded_length(last_hidden_state, attention_mask):
    states = np.asarray(last_hidden_state)
    mask = np.asarray(attention_mask)[:, :, None]
    return (states * mask).sum(axis=1) / states.shape[1]


@wrong_answer("mean_pool", hint="attention_mask")
def cls_vector(last_hidden_state, attention_mask):
    return np.asarray(last_hidden_state)[:, 0]


# ---------------------------------------------------------------------------------------
# class_weights(labels) -> {class: weight}, "balanced": n_samples / (n_classes * count)
# ---------------------------------------------------------------------------------------
def _label_cases():
    rng = np.random.default_rng(6)
    cases = [np.array([0] * 87 + [1] * 13), np.array([0, 1, 1, 1, 0, 1])]
    cases.append((rng.random(501) < 0.2).astype(np.int64))
    cases.append(rng.permutation(np.array([0] * 30 + [1] * 12 + [2] * 5)))
    return cases


@grader("class_weights", points=2)
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
# threshold_for_precision(y_true, scores, target_precision) -> lowest threshold reaching it
# ---------------------------------------------------------------------------------------
def _threshold_cases():
    rng = np.random.default_rng(66)
    cases = []
    for n, spam_share, target in [(400, 0.13, 0.95), (250, 0.3, 0.9), (600, 0.13, 0.99)]:
        y = (rng.random(n) < spam_share).astype(int)
        scores = np.clip(rng.normal(0.25 + 0.5 * y, 0.18), 0, 1).round(4)
        cases.append((y, scores, target))
    return cases


def _precision_at(y, scores, threshold):
    predicted = scores >= threshold
    return y[predicted].mean() if predicted.any() else 0.0


def _reference_threshold(y, scores, target):
    from bertlab.spam import threshold_for_precision

    return threshold_for_precision(y, scores, target)


@grader("threshold_for_precision", points=2)
def grade_threshold_for_precision(learner_fn):
    """The lowest score threshold whose precision (spam if score >= threshold) reaches the target."""
    for y, scores, target in _threshold_cases():
        got = float(learner_fn(y.copy(), scores.copy(), target))
        want = _reference_threshold(y, scores, target)
        if np.isclose(got, want, atol=1e-9):
            continue
        precision = _precision_at(y, scores, got)
        if precision < target:
            raise GradingError(
                f"at threshold {got:.4f} precision is {precision:.3f}, below the target {target}: predict spam "
                "when score >= threshold and check precision, not recall"
            )
        raise GradingError(
            f"threshold {got:.4f} reaches precision {target} but a lower one ({want:.4f}) does too: choose the lowest "
            "threshold that reaches the target, so that recall is as high as possible"
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
