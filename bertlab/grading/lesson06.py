"""Graders for lesson 06 "Spam classifier": a stratified split, features from several BERT layers, a threshold
for a precision.

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
# layer_features(hidden_states, attention_mask, how) -> (batch, hidden) or (batch, 4 * hidden)
# The feature-based approach of the BERT paper (Devlin et al. 2019, section 5.3, table 7):
# the last layer, the sum of the last four layers, or the last four concatenated.
# ---------------------------------------------------------------------------------------
FEATURE_CHOICES = ("last", "sum_last_four", "concat_last_four")


@functools.lru_cache(maxsize=1)
def _hidden_state_cases():
    """Hidden states shaped like an encoder's (embedding output first, then one per layer), with padded rows whose
    padding positions hold large values, and layers that differ in scale so that a wrong choice of layers shows."""
    rng = np.random.default_rng(6060)
    cases = []
    for batch, length, hidden, layers in [(3, 7, 5, 6), (2, 9, 8, 12), (4, 5, 3, 4)]:
        states = [rng.normal(size=(batch, length, hidden)).astype(np.float32) * (1 + i) for i in range(layers + 1)]
        lengths = rng.integers(2, length, size=batch)
        lengths[0] = length
        mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.int32)
        for state in states:
            state[mask == 0] += 40.0
        cases.append((states, mask, {how: _reference_features(states, mask, how) for how in FEATURE_CHOICES}))
    return cases


def _masked_mean(state, mask):
    weights = mask.astype(np.float64)[:, :, None]
    return (state.astype(np.float64) * weights).sum(axis=1) / weights.sum(axis=1)


def _reference_features(states, mask, how):
    last_four = [_masked_mean(state, mask) for state in states[-4:]]
    if how == "last":
        return last_four[-1]
    if how == "sum_last_four":
        return np.sum(last_four, axis=0)
    return np.concatenate(last_four, axis=-1)


@grader("layer_features", points=2, prepare=_hidden_state_cases)
def grade_layer_features(learner_fn):
    """Each of the three choices on padded batches from encoders of 4, 6 and 12 layers (lists or tuples of arrays)."""
    for states, mask, expected in _hidden_state_cases():
        for how in FEATURE_CHOICES:
            want = expected[how]
            got = learner_fn(tuple(s.copy() for s in states), mask.copy(), how)
            got = np.asarray(got.numpy() if hasattr(got, "numpy") else got, dtype=np.float64)
            if got.shape != want.shape:
                if how == "concat_last_four" and got.shape == want.shape[:1] + (want.shape[1] // 4,):
                    raise GradingError("concat_last_four: put the four layers side by side on the hidden axis "
                                       f"(np.concatenate(..., axis=-1)), giving (batch, 4 × hidden) = {want.shape}")
                raise GradingError(f"{how}: expected shape {want.shape} (batch, features), got {got.shape}")
            if np.allclose(got, want, rtol=1e-4, atol=1e-4):
                continue
            if how == "concat_last_four":
                hidden = want.shape[1] // 4
                reversed_order = np.concatenate([want[:, i * hidden:(i + 1) * hidden] for i in range(3, -1, -1)], axis=1)
                if np.allclose(got, reversed_order, rtol=1e-4, atol=1e-4):
                    continue  # the order of the four blocks does not matter to a linear classifier
            if np.allclose(got, _reference_features(states, np.ones_like(mask), how), rtol=1e-4, atol=1e-4):
                raise GradingError(f"{how}: the padding positions were averaged in: weight the mean by attention_mask")
            first_four = _reference_features(states[:4], mask, how)
            if how != "last" and np.allclose(got, first_four, rtol=1e-4, atol=1e-4):
                raise GradingError(f"{how}: those are the first four entries (the embedding layer and layers 1-3): "
                                   "take the LAST four, hidden_states[-4:]")
            if how == "sum_last_four" and np.allclose(got, want / 4, rtol=1e-4, atol=1e-4):
                raise GradingError("sum_last_four: add the four layers (the BERT paper's 'sum'), do not average them")
            if how == "last" and np.allclose(got, _masked_mean(states[0], mask), rtol=1e-4, atol=1e-4):
                raise GradingError("last: hidden_states[0] is the embedding layer's output; the last layer is hidden_states[-1]")
            raise GradingError(f"{how}: the masked mean over real tokens of "
                               + {"last": "hidden_states[-1]", "sum_last_four": "sum(hidden_states[-4:])",
                                  "concat_last_four": "each of hidden_states[-4:], concatenated"}[how])


def _layer_features(hidden_states, attention_mask, how, *, layers=slice(-4, None), count_padding=False, average=False):
    mask = np.asarray(attention_mask, dtype=np.float64)
    if count_padding:
        mask = np.ones_like(mask)
    chosen = [_masked_mean(np.asarray(s), mask) for s in list(hidden_states)[layers]]
    if how == "last":
        return chosen[-1]
    if how == "sum_last_four":
        return np.mean(chosen, axis=0) if average else np.sum(chosen, axis=0)
    return np.concatenate(chosen, axis=-1)


@wrong_answer("layer_features", hint="averaged in")
def layer_features_counting_padding(hidden_states, attention_mask, how):
    return _layer_features(hidden_states, attention_mask, how, count_padding=True)


@wrong_answer("layer_features", hint="LAST four")
def layer_features_of_the_first_four(hidden_states, attention_mask, how):
    if how == "last":
        return _layer_features(hidden_states, attention_mask, how)
    return _layer_features(hidden_states, attention_mask, how, layers=slice(0, 4))


@wrong_answer("layer_features", hint="do not average")
def layer_features_averaging_the_last_four(hidden_states, attention_mask, how):
    return _layer_features(hidden_states, attention_mask, how, average=True)


@wrong_answer("layer_features", hint="embedding layer")
def layer_features_with_the_embedding_layer_as_last(hidden_states, attention_mask, how):
    if how == "last":
        return _masked_mean(np.asarray(hidden_states[0]), np.asarray(attention_mask))
    return _layer_features(hidden_states, attention_mask, how)


@wrong_answer("layer_features", hint="hidden axis")
def layer_features_concatenated_over_tokens(hidden_states, attention_mask, how):
    if how != "concat_last_four":
        return _layer_features(hidden_states, attention_mask, how)
    stacked = np.concatenate([np.asarray(s) for s in hidden_states[-4:]], axis=1)
    return _masked_mean(stacked, np.tile(np.asarray(attention_mask), 4))


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
