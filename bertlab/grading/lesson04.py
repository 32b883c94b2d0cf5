"""Graders for lesson 04, "Pretraining tasks": masking, next-sentence pairs, the masked-LM loss.

The masking and the pairs are random, so they are graded statistically over many seeded
draws: rates within stated tolerances, and rules (special tokens and padding never chosen,
labels only where chosen, random sentences never from the same document) on every draw.
"""
from __future__ import annotations

import functools

import numpy as np

from bertlab.grading.core import GradingError, LearnerError, grader, wrong_answer

IGNORE_INDEX = -100
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
SPECIAL_IDS = (PAD, UNK, CLS, SEP, MASK)
VOCAB_SIZE = 500


# --------------------------------------------------------------------------- masking
MASK_RATE, MASK_SPLIT = 0.15, (0.8, 0.1, 0.1)  # chosen; of those [MASK], random, unchanged
SIGMAS = 4  # tolerances: this many standard deviations of the count actually drawn


@functools.lru_cache(maxsize=None)
def _padded_batches(seed: int, count: int) -> tuple:
    """Batches like a pipeline's: [CLS] A [SEP] B [SEP] of varied lengths (40 to 128 tokens), padded with [PAD]."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(count):
        batch, width = int(rng.integers(4, 9)), int(rng.integers(48, 129))
        ids = np.full((batch, width), PAD, dtype=np.int64)
        for row in range(batch):
            n = int(rng.integers(40, width + 1))
            ids[row, :n] = rng.integers(len(SPECIAL_IDS), VOCAB_SIZE, size=n)
            ids[row, 0] = CLS
            ids[row, n - 1] = SEP
            ids[row, int(rng.integers(2, n - 2))] = SEP
        batches.append(ids)
    return tuple(batches)


def _prepare_masking():
    return _padded_batches(404, 120), _padded_batches(4040, 1)


def _call_mask(learner_fn, ids, seed):
    out = learner_fn(ids.copy(), SPECIAL_IDS, MASK, VOCAB_SIZE, np.random.default_rng(seed))
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise GradingError("mask_tokens should return a pair (masked_ids, labels).")
    masked, labels = (np.asarray(x) for x in out)
    if masked.shape != ids.shape or labels.shape != ids.shape:
        raise GradingError(f"masked_ids and labels should both have the input's shape {ids.shape}; got {masked.shape} and {labels.shape}.")
    return masked, labels


def _check_generator_use(call, what: str):
    """The same seed gives the same result, other seeds other results: all randomness from `rng`."""
    for k in range(3):
        first, again, other = call(1000 + k), call(1000 + k), call(5000 + k)
        if not all(np.array_equal(x, y) for x, y in zip(first, again)):
            raise GradingError(f"Two calls with generators of the same seed gave different {what}: draw all randomness "
                               "from `rng` (not np.random or Python's random).")
        if all(np.array_equal(x, y) for x, y in zip(first, other)):
            raise GradingError(f"Generators with different seeds gave the same {what}: draw from the `rng` you are "
                               "given (do not create or reseed a generator).")


def _dispersion(counts: np.ndarray, draws: int) -> float:
    """Variance of per-position counts over the variance of independent draws (about 1 when independent)."""
    p = counts.mean() / draws
    return float(counts.var() / max(draws * p * (1 - p), 1e-12))


@grader("mask_tokens", points=3, prepare=_prepare_masking,
        uses=["bertlab.pretraining.mask_tokens", "tensorflow_text.mask_language_model"])
def grade_mask_tokens(learner_fn):
    """About 15 % of the non-special tokens chosen, each independently and from `rng`; of those
    80 % [MASK], 10 % random ids (one draw per token), 10 % kept. Tolerances: 4 standard deviations
    of the counts drawn; the rate may also follow TF Text's per-row rounding (ceil) or its floor."""
    batches, (fixed,) = _prepare_masking()
    _check_generator_use(lambda seed: _call_mask(learner_fn, batches[0], seed), "masks")
    selectable = chosen = as_mask = kept = randomised = neighbours = chosen_with_neighbour = 0
    random_values, equal_pairs, pairs = [], 0, 0
    rows_selectable = []
    for k, ids in enumerate(batches):
        masked, labels = _call_mask(learner_fn, ids, seed=1000 + k)
        is_special = np.isin(ids, SPECIAL_IDS)
        is_chosen = labels != IGNORE_INDEX
        if np.any(is_chosen & is_special):
            raise GradingError("A special token or padding ([CLS], [SEP], [PAD]) was chosen: only ordinary tokens may be chosen.")
        if np.any(~is_chosen & (masked != ids)):
            raise GradingError("A token that was not chosen was changed (or its label is -100 although it was masked): "
                               "labels must mark every chosen position, and only chosen positions may change.")
        if not np.array_equal(labels[is_chosen], ids[is_chosen]):
            raise GradingError("At a chosen position the label should be the ORIGINAL token id (what the model must recover).")
        rows_selectable.extend((~is_special).sum(axis=1).tolist())
        selectable += int((~is_special).sum())
        chosen += int(is_chosen.sum())
        both_selectable = ~is_special[:, :-1] & ~is_special[:, 1:]
        neighbours += int((is_chosen[:, :-1] & both_selectable).sum())
        chosen_with_neighbour += int((is_chosen[:, :-1] & is_chosen[:, 1:] & both_selectable).sum())
        new = masked[is_chosen]
        as_mask += int((new == MASK).sum())
        kept += int((new == ids[is_chosen]).sum())
        replaced = (new != MASK) & (new != ids[is_chosen])
        randomised += int(replaced.sum())
        values = new[replaced]
        random_values.extend(values.tolist())
        pairs += len(values) * (len(values) - 1) // 2
        equal_pairs += int(sum(c * (c - 1) // 2 for c in np.unique(values, return_counts=True)[1]))
    if chosen == 0:
        raise GradingError("No token was ever chosen: labels are all -100. Choose about 15 % of the ordinary tokens.")
    rate = chosen / selectable
    rows = np.array(rows_selectable)
    sd = np.sqrt(MASK_RATE * (1 - MASK_RATE) / selectable)
    low = min(MASK_RATE, np.floor(MASK_RATE * rows).sum() / rows.sum()) - SIGMAS * sd
    high = max(MASK_RATE, np.ceil(MASK_RATE * rows).sum() / rows.sum()) + SIGMAS * sd
    if not low <= rate <= high:
        raise GradingError(f"{rate:.1%} of the ordinary (non-special, non-padding) tokens were chosen; expected about 15 % "
                           f"(between {low:.1%} and {high:.1%} over {selectable} tokens). Take 15 % of the ordinary tokens only.")
    shares = {"[MASK]": as_mask / chosen, "random": randomised / chosen, "unchanged": kept / chosen}
    for (name, share), want in zip(shares.items(), MASK_SPLIT):
        tolerance = SIGMAS * np.sqrt(want * (1 - want) / chosen)
        if abs(share - want) > tolerance:
            got = ", ".join(f"{k} {v:.1%}" for k, v in shares.items())
            raise GradingError(f"Of the chosen tokens: {got}; expected 80 % [MASK], 10 % random, 10 % unchanged "
                               f"(each within {tolerance:.1%} over {chosen} chosen tokens). Split with one uniform draw per chosen token.")
    counts = sum((_call_mask(learner_fn, fixed, seed=7000 + k)[1] != IGNORE_INDEX).astype(int) for k in range(40))
    if _dispersion(counts[~np.isin(fixed, SPECIAL_IDS)], 40) > 2 or chosen_with_neighbour < 0.3 * rate * neighbours:
        raise GradingError("The chosen positions follow a pattern (the same positions, or a fixed spacing such as every "
                           "7th token): choose each ordinary token independently, with probability 0.15 drawn from `rng`.")
    if pairs and equal_pairs / pairs > 0.05:
        raise GradingError("The random replacements of one batch share the same id: draw one random id per replaced token.")
    values = np.array(random_values)
    if len(np.unique(values)) < 0.2 * min(len(values), VOCAB_SIZE) or values.max() >= VOCAB_SIZE or values.min() < 0:
        raise GradingError("The random replacements are not spread over the vocabulary: draw them uniformly from range(vocab_size).")


def _reference_mask(ids, special_ids, mask_id, vocab_size, rng, rate=0.15, split=(0.8, 0.1)):
    ids = np.asarray(ids)
    candidates = ~np.isin(ids, special_ids)
    chosen = candidates & (rng.random(ids.shape) < rate)
    labels = np.where(chosen, ids, IGNORE_INDEX)
    draw = rng.random(ids.shape)
    masked = ids.copy()
    masked[chosen & (draw < split[0])] = mask_id
    random_pos = chosen & (draw >= split[0]) & (draw < split[0] + split[1])
    masked[random_pos] = rng.integers(0, vocab_size, size=int(random_pos.sum()))
    return masked, labels


@wrong_answer("mask_tokens", hint="special token or padding")
def mask_tokens_choosing_any_position(ids, special_ids, mask_id, vocab_size, rng):
    return _reference_mask(ids, (), mask_id, vocab_size, rng)


@wrong_answer("mask_tokens", hint="80 % [MASK]")
def mask_tokens_always_mask(ids, special_ids, mask_id, vocab_size, rng):
    return _reference_mask(ids, special_ids, mask_id, vocab_size, rng, split=(1.0, 0.0))


@wrong_answer("mask_tokens", hint="labels must mark every chosen position")
def mask_tokens_labels_only_where_masked(ids, special_ids, mask_id, vocab_size, rng):
    masked, labels = _reference_mask(ids, special_ids, mask_id, vocab_size, rng)
    return masked, np.where(masked == mask_id, labels, IGNORE_INDEX)


@wrong_answer("mask_tokens", hint="expected about 15 %")
def mask_tokens_counting_15_percent_of_the_padded_batch(ids, special_ids, mask_id, vocab_size, rng):
    ids = np.asarray(ids)
    candidates = np.flatnonzero(~np.isin(ids, special_ids))
    k = min(len(candidates), round(0.15 * ids.size))  # 15 % of every position, padding included
    chosen = np.zeros(ids.size, bool)
    chosen[rng.choice(candidates, size=k, replace=False)] = True
    chosen = chosen.reshape(ids.shape)
    labels = np.where(chosen, ids, IGNORE_INDEX)
    draw = rng.random(ids.shape)
    masked = ids.copy()
    masked[chosen & (draw < 0.8)] = mask_id
    random_pos = chosen & (draw >= 0.8) & (draw < 0.9)
    masked[random_pos] = rng.integers(0, vocab_size, size=int(random_pos.sum()))
    return masked, labels


@wrong_answer("mask_tokens", hint="do not create or reseed a generator")
def mask_tokens_reseeding_the_generator(ids, special_ids, mask_id, vocab_size, rng):
    rng = np.random.default_rng(0)  # "for reproducibility": every call now masks the same way
    return _reference_mask(ids, special_ids, mask_id, vocab_size, rng)


@wrong_answer("mask_tokens", hint="every 7th token")
def mask_tokens_every_seventh(ids, special_ids, mask_id, vocab_size, rng):
    ids = np.asarray(ids)
    chosen = ~np.isin(ids, special_ids) & (np.arange(ids.shape[1]) % 7 == 3)[None, :]
    labels = np.where(chosen, ids, IGNORE_INDEX)
    draw = rng.random(ids.shape)
    masked = np.where(chosen & (draw < 0.8), mask_id, ids)
    random_pos = chosen & (draw >= 0.8) & (draw < 0.9)
    masked[random_pos] = rng.integers(0, vocab_size, size=int(random_pos.sum()))
    return masked, labels


@wrong_answer("mask_tokens", hint="share the same id")
def mask_tokens_one_random_id_per_batch(ids, special_ids, mask_id, vocab_size, rng):
    ids = np.asarray(ids)
    masked, labels = _reference_mask(ids, special_ids, mask_id, vocab_size, rng)
    replaced = (labels != IGNORE_INDEX) & (masked != mask_id) & (masked != ids)
    masked[replaced] = rng.integers(0, vocab_size)
    return masked, labels


@wrong_answer("mask_tokens", hint="expected about 15 %")
def mask_tokens_at_17_percent(ids, special_ids, mask_id, vocab_size, rng):
    return _reference_mask(ids, special_ids, mask_id, vocab_size, rng, rate=0.17)


@wrong_answer("mask_tokens", hint="expected 80 % [MASK]")
def mask_tokens_78_12_10(ids, special_ids, mask_id, vocab_size, rng):
    return _reference_mask(ids, special_ids, mask_id, vocab_size, rng, split=(0.78, 0.12))


# --------------------------------------------------------------------------- NSP pairs
def _documents(seed: int):
    """Documents of distinct sentences named after where they are, e.g. 'doc 2 sentence 5'."""
    rng = np.random.default_rng(seed)
    n_docs = int(rng.integers(3, 6))
    return [[f"doc {d} sentence {i}" for i in range(int(rng.integers(1 if d else 2, 12)))] for d in range(n_docs)]


@functools.lru_cache(maxsize=1)
def _nsp_cases():
    return [_documents(seed=440 + k) for k in range(150)]


def _call_pairs(learner_fn, documents, seed):
    pairs = learner_fn([list(doc) for doc in documents], np.random.default_rng(seed))
    try:
        return [(a, b, int(label)) for a, b, label in pairs]
    except (TypeError, ValueError):
        raise GradingError("make_nsp_pairs should return a list of (sentence_a, sentence_b, label) tuples.") from None


@grader("make_nsp_pairs", points=2, prepare=_nsp_cases, uses=["bertlab.pretraining.make_nsp_pairs"])
def grade_make_nsp_pairs(learner_fn):
    """One pair per sentence that has a successor; label 0 = the true next sentence, label 1 = a
    random sentence from another document; each sentence independently random with probability
    1/2, drawn from `rng` (tolerances: 4 standard deviations of the counts drawn)."""
    cases = _nsp_cases()
    total = random_count = consecutive = consecutive_equal = 0
    other_docs_used = set()
    for k, documents in enumerate(cases):
        pairs = _call_pairs(learner_fn, documents, k)
        expected_a = [s for doc in documents for s in doc[:-1]]
        if sorted(a for a, _, _ in pairs) != sorted(expected_a):
            raise GradingError(f"Expected one pair for every sentence that has a next sentence in its document "
                               f"({len(expected_a)} here), got {len(pairs)} pairs.")
        where = {s: (d, i) for d, doc in enumerate(documents) for i, s in enumerate(doc)}
        for a, b, label in pairs:
            (da, ia), (db, ib) = where[a], where[b]
            if label not in (0, 1):
                raise GradingError(f"Labels are 0 (B is the next sentence) or 1 (B is random); got {label}.")
            is_next = db == da and ib == ia + 1
            if label == 0 and not is_next:
                raise GradingError(f"({a!r}, {b!r}) has label 0 but B is not the sentence after A: "
                                   "label 0 means IsNext, label 1 means a random sentence.")
            if label == 1 and is_next:
                raise GradingError(f"({a!r}, {b!r}) has label 1 but B is the sentence after A: "
                                   "label 0 means IsNext, label 1 means a random sentence.")
            if label == 1 and db == da:
                raise GradingError(f"({a!r}, {b!r}): the random sentence came from the same document. "
                                   "Draw the random sentence from another document.")
            if label == 1:
                other_docs_used.add((len(documents), db))
        labels = {a: label for a, _, label in pairs}
        for doc in documents:
            for first, second in zip(doc[:-2], doc[1:-1]):
                consecutive += 1
                consecutive_equal += labels[first] == labels[second]
        total += len(pairs)
        random_count += sum(label for _, _, label in pairs)
    share = random_count / total
    tolerance = SIGMAS * np.sqrt(0.25 / total)
    share_error = GradingError(f"{share:.1%} of {total} pairs were random; expected about half (50 % within {tolerance:.1%}).")
    if abs(share - 0.5) > 0.15:  # far off: say so before looking for patterns
        raise share_error
    counts = np.zeros(sum(len(doc) - 1 for doc in cases[0] if doc), int)
    for seed in range(40):
        counts += np.array([label for _, _, label in sorted(_call_pairs(learner_fn, cases[0], 9000 + seed),
                                                                 key=lambda pair: pair[0])])
    equal_share = consecutive_equal / max(consecutive, 1)
    if _dispersion(counts, 40) > 2 or abs(equal_share - 0.5) > SIGMAS * np.sqrt(0.25 / max(consecutive, 1)):
        raise GradingError("The labels follow a pattern (the same sentences, or alternating): decide for each sentence "
                           "independently, with probability 1/2 drawn from `rng`, whether its partner is random.")
    if abs(share - 0.5) > tolerance:
        raise share_error
    _check_generator_use(lambda seed: [_call_pairs(learner_fn, cases[0], seed)], "pairs")
    if len({d for _, d in other_docs_used}) < 3:
        raise GradingError("The random sentences always come from the same few documents: pick the other document at random.")


def _reference_pairs(documents, rng, exclude_own=True, flip=False, rate=0.5):
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            if rng.random() < rate:
                others = [j for j in range(len(documents)) if documents[j] and (j != d or not exclude_own)]
                other = documents[others[int(rng.integers(len(others)))]]
                pairs.append((doc[i], other[int(rng.integers(len(other)))], 0 if flip else 1))
            else:
                pairs.append((doc[i], doc[i + 1], 1 if flip else 0))
    return pairs


@wrong_answer("make_nsp_pairs", hint="another document")
def make_nsp_pairs_random_from_any_document(documents, rng):
    return _reference_pairs(documents, rng, exclude_own=False)


@wrong_answer("make_nsp_pairs", hint="label 0 means IsNext")
def make_nsp_pairs_with_labels_swapped(documents, rng):
    return _reference_pairs(documents, rng, flip=True)


@wrong_answer("make_nsp_pairs", hint="expected about half")
def make_nsp_pairs_always_next(documents, rng):
    return _reference_pairs(documents, rng, rate=0.0)


@wrong_answer("make_nsp_pairs", hint="Python's random")
def make_nsp_pairs_with_pythons_random(documents, rng):
    import random

    return _reference_pairs(documents, np.random.default_rng(random.randrange(2**32)))


@wrong_answer("make_nsp_pairs", hint="alternating")
def make_nsp_pairs_alternating(documents, rng):
    pairs = []
    for d, doc in enumerate(documents):
        others = [j for j in range(len(documents)) if j != d and documents[j]]
        for i in range(len(doc) - 1):
            if i % 2:
                other = documents[others[int(rng.integers(len(others)))]]
                pairs.append((doc[i], other[int(rng.integers(len(other)))], 1))
            else:
                pairs.append((doc[i], doc[i + 1], 0))
    return pairs


# --------------------------------------------------------------------------- masked-LM loss
@functools.lru_cache(maxsize=1)
def _loss_cases():
    """(labels, logits, expected loss) per case."""
    rng = np.random.default_rng(4004)
    cases = []
    for _ in range(6):
        batch, length, vocab = int(rng.integers(2, 6)), int(rng.integers(3, 12)), int(rng.integers(5, 40))
        logits = rng.normal(0, 3, size=(batch, length, vocab)).astype(np.float32)
        labels = rng.integers(0, vocab, size=(batch, length))
        chosen = rng.random((batch, length)) < rng.uniform(0.1, 0.5)
        chosen[0, int(rng.integers(length))] = True  # at least one chosen position
        chosen[-1] = False if batch > 2 else chosen[-1]  # a row with nothing chosen
        labels = np.where(chosen, labels, IGNORE_INDEX).astype(np.int32)
        cases.append((labels, logits, _reference_loss(labels, logits)))
    return cases


def _reference_loss(labels, logits):
    chosen = labels != IGNORE_INDEX
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, np.where(chosen, labels, 0)[..., None], -1)[..., 0]
    return float(-(picked * chosen).sum() / max(chosen.sum(), 1))


@grader("masked_lm_loss", points=2, prepare=_loss_cases, uses=["bertlab.pretraining.masked_lm_loss"])
def grade_masked_lm_loss(learner_fn):
    """Mean cross-entropy (from logits) over the chosen positions only; 0.0 when nothing is chosen."""
    import tensorflow as tf

    def call(labels, logits):
        try:
            value = learner_fn(tf.constant(labels), tf.constant(logits))
        except LearnerError as wrapped:
            error = wrapped.error
            if not isinstance(error, tf.errors.InvalidArgumentError):
                raise
            if "-100" in str(error) or "label" in str(error).lower():
                raise GradingError("The cross-entropy received the label -100: replace ignored labels by a valid id "
                                   "(e.g. 0) before the loss and give those positions weight 0.") from None
            raise
        value = np.asarray(value, dtype=np.float64)
        if value.shape != ():
            raise GradingError(f"masked_lm_loss should return one number (a scalar tensor), got shape {value.shape}.")
        return float(value)

    for labels, logits, expected in _loss_cases():
        got = call(labels, logits)
        if not np.isfinite(got):
            raise GradingError("The loss is not finite: divide by max(number chosen, 1).")
        if not np.isclose(got, expected, rtol=1e-4, atol=1e-5):
            unweighted = _reference_loss(np.where(labels == IGNORE_INDEX, 0, labels), logits)
            hint = ("it matches the mean over ALL positions: average over the chosen positions only "
                    "(labels != -100)" if np.isclose(got, unweighted, rtol=1e-4) else
                    "average the cross-entropy of the logits (from_logits=True) over the chosen positions only (labels != -100)")
            raise GradingError(f"Loss {got:.5f}, expected {expected:.5f}: {hint}.")
    empty = np.full((2, 4), IGNORE_INDEX, dtype=np.int32)
    got = call(empty, np.zeros((2, 4, 7), np.float32))
    if not np.isfinite(got) or abs(got) > 1e-6:
        raise GradingError(f"With nothing chosen the loss should be 0.0 (got {got}): divide by max(number chosen, 1).")


@wrong_answer("masked_lm_loss", hint="over ALL positions")
def masked_lm_loss_over_all_positions(labels, logits):
    import tensorflow as tf

    safe = tf.where(labels == IGNORE_INDEX, 0, labels)
    return tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(safe, logits, from_logits=True))


@wrong_answer("masked_lm_loss", hint="from_logits=True")
def masked_lm_loss_on_probabilities(labels, logits):
    import tensorflow as tf

    chosen = labels != IGNORE_INDEX
    per = tf.keras.losses.sparse_categorical_crossentropy(tf.where(chosen, labels, 0), logits)  # treats logits as probabilities
    return tf.reduce_sum(per * tf.cast(chosen, per.dtype)) / tf.reduce_sum(tf.cast(chosen, per.dtype))


@wrong_answer("masked_lm_loss", hint="label -100")
def masked_lm_loss_without_replacing_ignored_labels(labels, logits):
    import tensorflow as tf

    per = tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    return tf.reduce_mean(per)


@wrong_answer("masked_lm_loss", hint="max(number chosen, 1)")
def masked_lm_loss_dividing_by_zero(labels, logits):
    import tensorflow as tf

    chosen = labels != IGNORE_INDEX
    per = tf.keras.losses.sparse_categorical_crossentropy(tf.where(chosen, labels, 0), logits, from_logits=True)
    weights = tf.cast(chosen, per.dtype)
    return tf.reduce_sum(per * weights) / tf.reduce_sum(weights)
