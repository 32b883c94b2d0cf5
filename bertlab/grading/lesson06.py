"""Graders for lesson 06 "Spam classifier": a stratified split, features from several BERT layers, a threshold
for a precision.

All three grade plain NumPy/scikit-learn functions on seeded, varied arrays (well under a second).
"""
from __future__ import annotations

import functools

import numpy as np

from bertlab.grading.core import GradingError, LearnerError, NotImplementedYet, grader, right_answer, wrong_answer


# ---------------------------------------------------------------------------------------
# stratified_split(labels, test_share, seed) -> (train_positions, test_positions)
# ---------------------------------------------------------------------------------------
SIGMAS = 4  # tolerances: this many standard deviations of what an exact shuffle gives
SPLIT_SEEDS = 40  # seeds of the randomness checks, run on the cases named in RANDOMNESS_CASES
RANDOMNESS_CASES = ("sorted labels (an ordered file)", "the rarest class first and last, test_share 0.5",
                    "SMS-like, 13 % spam", "three classes")


@functools.lru_cache(maxsize=1)
def _split_cases():
    """(name, labels, test_share): the named edge cases first, then label vectors like the lesson's."""
    rng = np.random.default_rng(606)
    return [
        ("sorted labels (an ordered file)", np.array([0] * 87 + [1] * 13), 0.2),
        ("two classes of 5 rows, test_share 0.2: one row of each", np.array([0, 1] * 5), 0.2),
        ("class ids 3 and 7, not 0 and 1", np.array([7] * 12 + [3] * 28), 0.25),
        ("test_share 0.5", rng.permutation(np.array([0] * 30 + [1] * 10)), 0.5),
        ("the rarest class first and last, test_share 0.5", np.array([1, 1] + [0] * 36 + [1, 1], dtype=np.int32), 0.5),
        ("an odd share 0.37 of 101 rows", rng.permutation(np.array([0] * 70 + [1] * 31)), 0.37),
        ("SMS-like, 13 % spam", (rng.random(400) < 0.13).astype(np.int64), 0.25),
        ("three classes", rng.permutation(np.array([0] * 60 + [1] * 25 + [2] * 15)), 0.3),
    ]


def _as_positions(value, what: str) -> np.ndarray:
    positions = np.asarray(value)
    if positions.ndim != 1 or (positions.size and not np.issubdtype(positions.dtype, np.integer)):
        raise GradingError(f"{what} should be a 1-D array of integer row positions, got {positions.dtype} of shape {positions.shape}")
    return positions


def adjacent_pairs_moments(n: int, k: int) -> tuple[float, float]:
    """Mean and variance of how many of the n - 1 neighbouring pairs (i, i+1) of a class's n rows
    (in file order) are both in a uniformly random test subset of k rows: hypergeometric
    probabilities of 2, 3 (overlapping pairs) and 4 rows."""
    def both(m):  # probability that m given rows are all in the subset
        return float(np.prod([(k - i) / (n - i) for i in range(m)])) if k >= m and n >= m else 0.0

    pairs = n - 1
    mean = pairs * both(2)
    overlapping, disjoint = 2 * max(n - 2, 0), pairs * (pairs - 1) - 2 * max(n - 2, 0)
    variance = mean + overlapping * both(3) + disjoint * both(4) - mean * mean
    return mean, max(variance, 0.0)


def _call_split(learner_fn, labels, share, seed):
    given = labels.copy()
    got = learner_fn(given, share, seed)
    if not np.array_equal(given, labels):
        raise GradingError("stratified_split changed the labels it was given: leave its input as it is.")
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise GradingError("return a pair (train_positions, test_positions)")
    return tuple(_as_positions(part, name) for part, name in zip(got, ("train_positions", "test_positions")))


@grader("stratified_split", points=2, prepare=_split_cases)
def grade_stratified_split(learner_fn):
    """On the named cases: a partition of the rows, each class's share kept in the test part, the
    same split for the same seed. Over 60 seeds: every row of every case in both parts at some seed,
    each class's test rows a uniformly random subset of it (per-row counts and neighbouring pairs
    within 4 standard deviations of an exact shuffle)."""
    cases = _split_cases()
    for name, labels, share in cases:
        train, test = _call_split(learner_fn, labels, share, 7)
        n = len(labels)
        if len(np.intersect1d(train, test)) or sorted(np.concatenate([train, test]).tolist()) != list(range(n)):
            raise GradingError(f"{name}: every row position 0..{n - 1} must be in exactly one of the two parts "
                               "(no duplicates, none lost)")
        classes = np.unique(labels)
        if abs(len(test) - share * n) >= len(classes):  # each class's count may be rounded either way
            raise GradingError(f"{name}: the test part should hold {share:.0%} of the {n} rows ({share * n:g}), got {len(test)}")
        for label in classes:
            in_class = np.flatnonzero(labels == label)
            expected = len(test) * len(in_class) / n
            held_out = np.isin(in_class, test)
            if abs(held_out.sum() - expected) >= 1:
                raise GradingError(
                    f"{name}: class {label}: {held_out.sum()} of its {len(in_class)} rows are in the test part, expected "
                    f"about {expected:.1f}: keep each class's share in both parts (stratify by the labels)")
            k = int(held_out.sum())
            if k >= 3 and (held_out[:k].all() or held_out[-k:].all()):
                raise GradingError(f"{name}: class {label}: the test part is the first or last {k} of its rows: shuffle "
                                   "(with the seed) before splitting, or an ordered file gives a biased split")
        again = _call_split(learner_fn, labels, share, 7)[1]
        if not np.array_equal(np.sort(again), np.sort(test)):
            raise GradingError(f"{name}: the same seed gave a different split: draw the random numbers from the seed, so "
                               "that every run (and every reader) gets the same parts")
    name, labels, share = cases[-1]
    splits = {tuple(np.sort(_call_split(learner_fn, labels, share, seed)[1]).tolist()) for seed in (1, 2, 3)}
    if len(splits) == 1:
        raise GradingError("seeds 1, 2 and 3 gave the same split: use the seed argument to shuffle")
    for name, labels, share in [case for case in cases if case[0] in RANDOMNESS_CASES]:
        in_test = np.zeros(len(labels), int)
        pairs = pairs_mean = pairs_variance = 0.0
        per_row, per_row_trials = [], []
        for seed in range(SPLIT_SEEDS):
            held_out = np.isin(np.arange(len(labels)), _call_split(learner_fn, labels, share, 100 + seed)[1])
            in_test += held_out
            for label in np.unique(labels):
                in_class = held_out[labels == label]
                mean, variance = adjacent_pairs_moments(len(in_class), int(in_class.sum()))
                pairs += int((in_class[:-1] & in_class[1:]).sum())
                pairs_mean += mean
                pairs_variance += variance
        share_of_class = {label: in_test[labels == label].mean() / SPLIT_SEEDS for label in np.unique(labels)}
        decisive = np.array([max(share_of_class[label], 1 - share_of_class[label]) ** SPLIT_SEEDS < 1e-7 for label in labels])
        never = np.flatnonzero(decisive & ((in_test == 0) | (in_test == SPLIT_SEEDS)))
        if len(never):
            row = int(never[0])
            raise GradingError(f"{name}: row {row} was in the {'train' if in_test[row] == 0 else 'test'} part for all "
                               f"{SPLIT_SEEDS} seeds: every row should land in either part depending on the seed")
        spread = SIGMAS * pairs_variance ** 0.5
        if abs(pairs - pairs_mean) > spread:
            raise GradingError(f"{name}: over {SPLIT_SEEDS} seeds, {pairs:.0f} pairs of neighbouring rows of a class were "
                               f"both in the test part, expected {pairs_mean:.0f} ± {spread:.0f} for a shuffled class: "
                               "the test rows follow a pattern (every k-th row, a block): shuffle each class's rows")
        for label in np.unique(labels):
            counts = in_test[labels == label]
            p = counts.mean() / SPLIT_SEEDS
            if 0 < p < 1 and len(counts) > 1:
                deviation = counts.var() * len(counts) / (SPLIT_SEEDS * p * (1 - p))  # chi-square, len(counts) - 1 dof
                dof = len(counts) - 1
                if deviation > dof + SIGMAS * (2 * dof) ** 0.5:
                    raise GradingError(f"{name}: class {label}: some rows are in the test part far more often than "
                                       f"others over {SPLIT_SEEDS} seeds (dispersion {deviation:.0f}, expected "
                                       f"{dof} ± {SIGMAS * (2 * dof) ** 0.5:.0f}): shuffle each class's rows")


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


@wrong_answer("stratified_split", hint="every k-th row")
def every_kth_row_of_each_class(labels, test_share, seed):
    """Systematic sampling: evenly spaced rows of each class from a seeded offset. The shares are
    right, and so is each row's chance over seeds; neighbouring rows are never both in the test part."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    test = []
    for label in np.unique(labels):
        in_class = np.flatnonzero(labels == label)
        m = max(1, round(test_share * len(in_class)))
        step = len(in_class) / m
        test.extend(in_class[np.floor(np.arange(m) * step + rng.random() * step).astype(int)])
    test = np.sort(np.array(test))
    return np.setdiff1d(np.arange(len(labels)), test), test


@wrong_answer("stratified_split", hint="changed the labels it was given")
def split_sorting_the_labels_in_place(labels, test_share, seed):
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(np.arange(len(labels)), test_size=test_share, stratify=labels, random_state=seed)
    labels.sort()  # "tidy" for a later look at the classes
    return train, test


@right_answer("stratified_split", why="a NumPy shuffle of each class with round(test_share * n) rows, lists returned")
def split_shuffling_each_class_in_numpy(labels, test_share, seed):
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    test = []
    for label in np.unique(labels):
        in_class = rng.permutation(np.flatnonzero(labels == label))
        test.extend(in_class[:round(test_share * len(in_class))].tolist())
    test_set = set(test)
    return [i for i in range(len(labels)) if i not in test_set], sorted(test)


@right_answer("stratified_split", why="sklearn's StratifiedShuffleSplit, int32 positions")
def split_with_stratified_shuffle_split(labels, test_share, seed):
    from sklearn.model_selection import StratifiedShuffleSplit

    splitter = StratifiedShuffleSplit(n_splits=1, test_size=test_share, random_state=seed)
    train, test = next(splitter.split(np.zeros(len(labels)), labels))
    return train.astype(np.int32), test.astype(np.int32)


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


def _layer_edge_cases() -> list[tuple[str, tuple, int, int, int, np.ndarray]]:
    """Named (name, (batch, length, hidden, layers), mask) cases from the exercise's definition."""
    return [
        ("a batch of one, no padding", (1, 6, 4, 4), np.ones((1, 6), np.int32)),
        ("a row with a single real token", (2, 5, 3, 6), np.array([[1, 0, 0, 0, 0], [1, 1, 1, 1, 1]], np.int32)),
        ("holes in the mask (1 0 1 1 0 1)", (2, 6, 5, 4), np.array([[1, 0, 1, 1, 0, 1], [0, 1, 1, 0, 1, 0]], np.int32)),
        ("exactly four entries (the embedding output among the last four)", (2, 4, 3, 3), np.array([[1, 1, 1, 0], [1, 1, 0, 0]])),
        ("a float32 mask, odd hidden size 7", (3, 5, 7, 5), np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], np.float32)),
    ]


@functools.lru_cache(maxsize=1)
def _hidden_state_cases():
    """Hidden states shaped like an encoder's (embedding output first, then one per layer), with padded rows whose
    padding positions hold large values, and layers that differ in scale so that a wrong choice of layers shows:
    the named edge cases, then seeded random ones from encoders of 6, 12 and 4 layers."""
    rng = np.random.default_rng(6060)
    shapes = [(name, shape, mask) for name, shape, mask in _layer_edge_cases()]
    for batch, length, hidden, layers in [(3, 7, 5, 6), (2, 9, 8, 12), (4, 5, 3, 4)]:
        lengths = rng.integers(2, length, size=batch)
        lengths[0] = length
        mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.int32)
        shapes.append((f"{layers} layers, batch {batch}", (batch, length, hidden, layers), mask))
    cases = []
    for name, (batch, length, hidden, layers), mask in shapes:
        states = [rng.normal(size=(batch, length, hidden)).astype(np.float32) * (1 + i) for i in range(layers + 1)]
        for state in states:
            state[mask == 0] += 40.0
        cases.append((name, states, mask, {how: _reference_features(states, mask, how) for how in FEATURE_CHOICES}))
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
    for case, (name, states, mask, expected) in enumerate(_hidden_state_cases()):
        for how in FEATURE_CHOICES:
            want = expected[how]
            given_states, given_mask = [s.copy() for s in states], mask.copy()
            got = learner_fn(tuple(given_states) if case % 2 else given_states, given_mask, how)
            if not (np.array_equal(given_mask, mask) and all(np.array_equal(a, b) for a, b in zip(given_states, states))):
                raise GradingError(f"{name}: layer_features changed the hidden states or the mask it was given.")
            got = np.asarray(got.numpy() if hasattr(got, "numpy") else got, dtype=np.float64)
            if got.shape != want.shape:
                if how == "concat_last_four" and got.shape == want.shape[:1] + (want.shape[1] // 4,):
                    raise GradingError(f"{name}, concat_last_four: put the four layers side by side on the hidden axis "
                                       f"(np.concatenate(..., axis=-1)), giving (batch, 4 × hidden) = {want.shape}")
                raise GradingError(f"{name}, {how}: expected shape {want.shape} (batch, features), got {got.shape}")
            if np.allclose(got, want, rtol=1e-4, atol=1e-4):
                continue
            if how == "concat_last_four":
                hidden = want.shape[1] // 4
                reversed_order = np.concatenate([want[:, i * hidden:(i + 1) * hidden] for i in range(3, -1, -1)], axis=1)
                if np.allclose(got, reversed_order, rtol=1e-4, atol=1e-4):
                    continue  # the order of the four blocks does not matter to a linear classifier
            if np.allclose(got, _reference_features(states, np.ones_like(mask), how), rtol=1e-4, atol=1e-4):
                raise GradingError(f"{name}, {how}: equal to the mean over every position, padding included: weight "
                                   "the mean by attention_mask (the padding positions were averaged in)")
            prefix = np.arange(mask.shape[1])[None, :] < mask.sum(axis=1, keepdims=True)
            if not np.array_equal(prefix, mask) and np.allclose(got, _reference_features(states, prefix.astype(int), how),
                                                                rtol=1e-4, atol=1e-4):
                raise GradingError(f"{name}, {how}: equal to the mean of each row's first mask.sum() positions; the "
                                   "real tokens are where attention_mask is 1, wherever they are")
            first_four = _reference_features(states[:4], mask, how)
            if how != "last" and np.allclose(got, first_four, rtol=1e-4, atol=1e-4):
                raise GradingError(f"{name}, {how}: those are the first four entries (the embedding layer and layers 1-3): "
                                   "take the LAST four, hidden_states[-4:]")
            if how == "sum_last_four" and np.allclose(got, want / 4, rtol=1e-4, atol=1e-4):
                raise GradingError(f"{name}, sum_last_four: add the four layers (the BERT paper's 'sum'), do not average them")
            if how == "last" and np.allclose(got, _masked_mean(states[0], mask), rtol=1e-4, atol=1e-4):
                raise GradingError(f"{name}, last: hidden_states[0] is the embedding layer's output; the last layer is hidden_states[-1]")
            raise GradingError(f"{name}, {how}: differs from the masked mean over real tokens of "
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


@wrong_answer("layer_features", hint="first mask.sum() positions")
def layer_features_of_the_first_tokens(hidden_states, attention_mask, how):
    """Averages each row's first `length` tokens: right for padding at the end, wrong for a mask with holes."""
    lengths = np.asarray(attention_mask).sum(axis=1).astype(int)
    prefix = np.arange(np.shape(attention_mask)[1])[None, :] < lengths[:, None]
    return _layer_features(hidden_states, prefix.astype(np.float64), how)


@wrong_answer("layer_features", hint="changed the hidden states or the mask")
def layer_features_zeroing_padding_in_place(hidden_states, attention_mask, how):
    for state in hidden_states:
        state[np.asarray(attention_mask) == 0] = 0.0
    return _layer_features(hidden_states, attention_mask, how)


@right_answer("layer_features", why="TensorFlow ops, a float32 tensor returned")
def layer_features_in_tensorflow(hidden_states, attention_mask, how):
    import tensorflow as tf

    mask = tf.cast(attention_mask, tf.float32)[:, :, None]
    pooled = [tf.reduce_sum(tf.cast(h, tf.float32) * mask, axis=1) / tf.reduce_sum(mask, axis=1) for h in hidden_states[-4:]]
    return {"last": lambda: pooled[-1], "sum_last_four": lambda: tf.add_n(pooled),
            "concat_last_four": lambda: tf.concat(pooled, axis=-1)}[how]()


@right_answer("layer_features", why="np.stack and einsum, the four blocks last layer first")
def layer_features_with_einsum(hidden_states, attention_mask, how):
    stacked = np.stack([np.asarray(h) for h in hidden_states[-4:]])  # (4, batch, tokens, hidden)
    mask = np.asarray(attention_mask, dtype=np.float64)
    pooled = np.einsum("lbth,bt->lbh", stacked, mask) / mask.sum(axis=1)[None, :, None]
    if how == "last":
        return pooled[-1]
    if how == "sum_last_four":
        return pooled.sum(axis=0)
    return np.concatenate(list(pooled[::-1]), axis=-1)


# ---------------------------------------------------------------------------------------
# threshold_for_precision(y_true, scores, target_precision) -> a threshold whose predictions
# (spam when score >= threshold) are those of the lowest threshold reaching the precision
# ---------------------------------------------------------------------------------------
def _threshold_edge_cases() -> list[tuple[str, np.ndarray, np.ndarray, float]]:
    """Named (name, y, scores, target) cases from the exercise's definition."""
    rng = np.random.default_rng(67)
    y = (rng.random(300) < 0.3).astype(int)
    tied = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1).round(1)  # eleven distinct scores: many ties
    # The top ten scores hold 9 spam: precision exactly 0.9 there, below it at every lower threshold.
    exact_y = np.array([1] * 9 + [0] + [0, 0, 1, 0, 0, 1, 0, 0, 0, 0])
    exact_scores = np.linspace(0.99, 0.05, len(exact_y))
    return [
        ("ties: scores rounded to one decimal", y, tied, 0.8),
        ("a precision exactly equal to the target (>=, not >)", exact_y, exact_scores, 0.9),
        ("the lowest score reaches the target (everything flagged)", np.array([1, 1, 0, 1, 1, 1, 1, 1]),
         np.array([0.2, 0.9, 0.5, 0.4, 0.8, 0.3, 0.7, 0.6]), 0.8),
        ("target 1.0: only the highest scores", np.array([0, 1, 1, 0, 1, 0]), np.array([0.1, 0.95, 0.9, 0.85, 0.5, 0.3]), 1.0),
        ("scores with many decimals", (rng.random(200) < 0.2).astype(int), rng.random(200), 0.3),
        ("precision not monotonic: dips below the target between two thresholds that reach it",
         np.array([1, 0, 1, 1, 0, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]), 0.75),
        # The last threshold of precision_recall_curve is the one a slice such as precision[:-2] drops.
        ("only the highest threshold reaches the target (the last of precision_recall_curve's)",
         np.array([1, 0, 1, 0, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2]), 0.9),
    ]


@functools.lru_cache(maxsize=1)
def _threshold_cases():
    """(y, scores, target, reference threshold) per case: the named edge cases, then seeded random ones."""
    return [case[1:] for case in _named_threshold_cases()]


@functools.lru_cache(maxsize=1)
def _named_threshold_cases():
    """(name, y, scores, target, reference threshold) per case."""
    rng = np.random.default_rng(66)
    cases = [(name, y, scores, target, float(_reference_threshold(y, scores, target)))
             for name, y, scores, target in _threshold_edge_cases()]
    for n, spam_share, target in [(400, 0.13, 0.95), (250, 0.3, 0.9), (600, 0.13, 0.99)]:
        y = (rng.random(n) < spam_share).astype(int)
        scores = np.clip(rng.normal(0.25 + 0.5 * y, 0.18), 0, 1).round(4)
        cases.append((f"{n} messages, {spam_share:.0%} spam, target {target}", y, scores, target,
                      float(_reference_threshold(y, scores, target))))
    return cases


def _precision_at(y, scores, threshold):
    predicted = scores >= threshold
    return y[predicted].mean() if predicted.any() else 0.0


def _reference_threshold(y, scores, target):
    from bertlab.spam import threshold_for_precision

    return threshold_for_precision(y, scores, target)


@grader("threshold_for_precision", points=2, prepare=_named_threshold_cases, uses=["bertlab.spam.threshold_for_precision"])
def grade_threshold_for_precision(learner_fn):
    """A threshold that makes the predictions (spam if score >= threshold) of the lowest score
    threshold whose precision reaches the target: any value between the score below it
    (excluded) and it (included) predicts the same and is right."""
    for name, y, scores, target, want in _named_threshold_cases():
        given_y, given_scores = y.copy(), scores.copy()
        try:
            got = float(learner_fn(given_y, given_scores, target))
        except LearnerError as wrapped:  # name the case: a slice one short fails only where the top threshold alone reaches
            if isinstance(wrapped, NotImplementedYet):
                raise
            raise GradingError(f"{name}: threshold_for_precision raised {type(wrapped.error).__name__}: {wrapped.error} "
                               f"(here {int(y.sum())} of {len(y)} are spam and threshold {want:.4f} reaches {target})") from None
        if not (np.array_equal(given_y, y) and np.array_equal(given_scores, scores)):
            raise GradingError(f"{name}: threshold_for_precision changed y_true or scores (sort a copy).")
        if np.array_equal(scores >= got, scores >= want):
            continue
        precision = _precision_at(y, scores, got)
        if precision < target:
            raise GradingError(
                f"{name}: at threshold {got:.4f} precision is {precision:.3f}, below the target {target}: predict spam "
                "when score >= threshold and check precision, not recall"
            )
        raise GradingError(
            f"{name}: threshold {got:.4f} (precision {precision:.3f}, {int((scores >= got).sum())} flagged) reaches "
            f"{target}, and so does the lower {want:.4f} ({int((scores >= want).sum())} flagged): choose the lowest "
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


@wrong_answer("threshold_for_precision", hint="a precision exactly equal to the target")
def threshold_with_precision_above_the_target(y_true, scores, target_precision):
    from sklearn.metrics import precision_recall_curve

    precision, _, thresholds = precision_recall_curve(y_true, scores)
    return float(thresholds[np.flatnonzero(precision[:-1] > target_precision)[0]])  # > for >=


@wrong_answer("threshold_for_precision", hint="ties")
def threshold_over_single_scores_ignoring_ties(y_true, scores, target_precision):
    """Walks the messages from the highest score down, one message at a time: tied scores are split."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    y, s = np.asarray(y_true)[order], np.asarray(scores)[order]
    precision = np.cumsum(y) / np.arange(1, len(y) + 1)
    return float(s[np.flatnonzero(precision >= target_precision)[-1]])


@wrong_answer("threshold_for_precision", hint="changed y_true or scores")
def threshold_sorting_in_place(y_true, scores, target_precision):
    from sklearn.metrics import precision_recall_curve

    precision, _, thresholds = precision_recall_curve(y_true, scores)
    scores.sort()
    return float(thresholds[np.flatnonzero(precision[:-1] >= target_precision)[0]])


@right_answer("threshold_for_precision", why="NumPy over the distinct scores, np.float64 returned")
def threshold_over_distinct_scores(y_true, scores, target_precision):
    y, s = np.asarray(y_true), np.asarray(scores)
    for t in np.unique(s):  # ascending: the first that reaches the target is the lowest
        flagged = s >= t
        if y[flagged].mean() >= target_precision:
            return np.float64(t)
    raise ValueError("no threshold reaches the target")


@right_answer("threshold_for_precision", why="a threshold between two scores, with the same predictions")
def threshold_halfway_below(y_true, scores, target_precision):
    from sklearn.metrics import precision_recall_curve

    precision, _, thresholds = precision_recall_curve(y_true, scores)
    t = thresholds[np.flatnonzero(precision[:-1] >= target_precision)[0]]
    below = np.asarray(scores)[np.asarray(scores) < t]
    return float((t + below.max()) / 2) if len(below) else float(t)


@wrong_answer("threshold_for_precision", hint="only the highest threshold reaches the target")
def threshold_skipping_the_highest_threshold(y_true, scores, target_precision):
    """precision[:-2]: drops the highest threshold's precision with the extra final 1."""
    from sklearn.metrics import precision_recall_curve

    precision, _, thresholds = precision_recall_curve(y_true, scores)
    return float(thresholds[np.flatnonzero(precision[:-2] >= target_precision)[0]])
