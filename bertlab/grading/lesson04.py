"""Graders for lesson 04, "Pretraining tasks": masking, next-sentence pairs, the masked-LM loss.

The masking and the pairs are random, so they are graded statistically over many seeded draws,
with BERT's own special ids and vocabulary: rates within stated tolerances (4 standard deviations
of the counts drawn, computed exactly: binomial, with the fourth moment for dispersions), every
random choice tested as random (independent across rows, positions and seeds; replacements
uniform over the vocabulary; random sentences from every other document, uniformly within it),
and rules (special tokens and padding never chosen, labels only where chosen, random sentences
never from the same document, inputs left unchanged) on every draw of seeded batches and of named
edge cases (a batch of one, rows without specials, all-padding rows, a single column, label 0...).
"""
from __future__ import annotations

import functools

import numpy as np

from bertlab.grading.core import GradingError, LearnerError, grader, right_answer, wrong_answer

IGNORE_INDEX = -100
# bert-base-uncased's special ids and vocabulary (the embedded MiniLM's), so that an answer that
# hard-codes small ids or a small vocabulary shows.
PAD, UNK, CLS, SEP, MASK = 0, 100, 101, 102, 103
SPECIAL_IDS = (PAD, UNK, CLS, SEP, MASK)
VOCAB_SIZE = 30522
FIRST_WORD_ID = 999  # ids below are [unused] slots and the specials


# --------------------------------------------------------------------------- masking
MASK_RATE, MASK_SPLIT = 0.15, (0.8, 0.1, 0.1)  # chosen; of those [MASK], random, unchanged
SIGMAS = 4  # tolerances: this many standard deviations of the count actually drawn
SEEDS_PER_POSITION = 40  # draws of one fixed batch, for the per-position and per-seed checks


def _word_ids(rng, size) -> np.ndarray:
    """Ordinary ids as skewed as real text's (Zipf over the vocabulary), with an occasional [UNK]: an
    answer that draws its random replacements from the batch's own tokens shows."""
    ranks = np.minimum(rng.zipf(1.3, size=size), VOCAB_SIZE - FIRST_WORD_ID) - 1
    ids = FIRST_WORD_ID + ranks
    return np.where(rng.random(size) < 0.01, UNK, ids)


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
            ids[row, :n] = _word_ids(rng, n)
            ids[row, 0] = CLS
            ids[row, n - 1] = SEP
            ids[row, int(rng.integers(2, n - 2))] = SEP
        batches.append(ids)
    return tuple(batches)


def _small_vocabulary_batches():
    """The same kind of batches in a 2,000-id vocabulary with specials 0-4 ([MASK] = 4): the
    answer must use the special_ids, mask_id and vocab_size it is given."""
    rng = np.random.default_rng(4041)
    batches = []
    for _ in range(12):
        ids = rng.integers(5, 2000, size=(6, 60))
        ids[:, 0], ids[:, -1] = 2, 3
        ids[:, 45:] = np.where(np.arange(15) < rng.integers(0, 15, size=(6, 1)), ids[:, 45:], 0)
        batches.append(ids)
    return tuple(batches), [0, 1, 2, 3, 4], 4, 2000  # special ids as a list this time


TINY_DRAWS = 20  # seeds of the vocab_size=4 batch


def _tiny_vocabulary_batch():
    """vocab_size=4, special ids 0 ([PAD]) and 1 ([MASK]), words 2 and 3, padded rows: a random id
    is each id of range(4) a quarter of the time, so one missing end (0 or vocab_size - 1) shows."""
    rng = np.random.default_rng(4042)
    ids = rng.integers(2, 4, size=(40, 50))
    ids[:, 40:] = np.where(np.arange(10) < rng.integers(0, 10, size=(40, 1)), ids[:, 40:], 0)
    return ids, [0, 1], 1, 4


def _mask_edge_cases() -> list[tuple[str, np.ndarray]]:
    """Named inputs from the exercise's definition; every rule is checked on each over many seeds,
    and every ordinary position must be chosen in some draw (first and last index included)."""
    row = lambda *ids: np.array([ids], dtype=np.int64)  # noqa: E731 - a one-row batch
    words = FIRST_WORD_ID + np.arange(1, 13)
    return [
        ("batch of one", row(CLS, *words[:6], SEP)),
        ("no special token at all: first and last column ordinary", np.array([words[:9], words[3:12]])),
        ("a row of padding and specials only beside an ordinary row",
         np.array([[CLS, SEP, PAD, PAD, PAD, PAD, PAD], [CLS, *words[:5], SEP]])),
        ("an all-padding row", np.array([[PAD] * 6, [CLS, *words[:4], SEP]])),
        ("[UNK] and [MASK] already in the text", row(CLS, words[0], UNK, words[1], MASK, words[2], SEP, PAD)),
        ("int32 ids, odd length 11", np.array([[CLS, *words[:9], SEP]] * 3, dtype=np.int32)),
        ("the same token repeated in every position", np.array([[CLS, *[words[0]] * 8, SEP]] * 2)),
        ("a single column", np.array([[words[0]], [PAD], [words[1]]])),
    ]


@functools.lru_cache(maxsize=1)
def _prepare_masking():
    return (_padded_batches(404, 120), _padded_batches(4040, 1), _small_vocabulary_batches(), _mask_edge_cases(),
            _tiny_vocabulary_batch())


def _call_mask(learner_fn, ids, seed, special_ids=SPECIAL_IDS, mask_id=MASK, vocab_size=VOCAB_SIZE):
    given = ids.copy()
    special_ids = list(special_ids) if isinstance(special_ids, list) else special_ids  # the cached list stays as it is
    out = learner_fn(given, special_ids, mask_id, vocab_size, np.random.default_rng(seed))
    if not np.array_equal(given, ids):
        raise GradingError("mask_tokens changed the ids array it was given: work on a copy (ids.copy()).")
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


def binomial_dispersion(counts, trials, p) -> tuple[float, float, float]:
    """(statistic, its mean, its standard deviation) for counts that should each be Binomial(trials, p),
    independently: the sum of (count - trials p)^2 / (trials p q). Exact moments: each term has mean 1
    and variance (1 + 3 (n - 2) p q) / (n p q) - 1 (the binomial's fourth central moment). Counts that
    move together (the same columns in every row, the same positions in every draw) make it large."""
    counts, trials = np.asarray(counts, dtype=np.float64), np.broadcast_to(np.asarray(trials, dtype=np.float64), np.shape(counts))
    keep = trials >= 2
    counts, trials = counts[keep], trials[keep]
    npq = trials * p * (1 - p)
    statistic = float(((counts - trials * p) ** 2 / npq).sum())
    variance = float(((1 + 3 * (trials - 2) * p * (1 - p)) / npq - 1).sum())
    return statistic, float(len(counts)), variance ** 0.5


def neighbour_pairs_window(pairs_per_row, selectable_per_row, rate) -> tuple[float, float]:
    """(low, high): how many neighbouring ordinary positions are both chosen when each is chosen
    independently at `rate`, or when a fixed count k = rate * n of each row's n is chosen (TF Text,
    BERT's own data code: k (k - 1) / (n (n - 1)) per pair), within SIGMAS standard deviations. The
    variance counts the overlap of the pairs (i, i+1) and (i+1, i+2)."""
    pairs, n = np.asarray(pairs_per_row, dtype=np.float64), np.asarray(selectable_per_row, dtype=np.float64)
    q = rate * rate
    k = rate * n
    independent = float((pairs * q).sum())
    fixed = float((pairs * k * (k - 1) / np.maximum(n * (n - 1), 1)).sum())
    sd = np.sqrt(pairs.sum() * (q * (1 - q) + 2 * (rate ** 3 - q * q)))
    return min(independent, fixed) - SIGMAS * sd, max(independent, fixed) + SIGMAS * sd


def uniform_bins_ok(values, low, high, bins=10) -> tuple[bool, str]:
    """Whether `values` spread uniformly over range(low, high): each of `bins` equal bins within SIGMAS
    binomial standard deviations of its expected count. Returns (ok, what was measured)."""
    values = np.asarray(values)
    edges = np.linspace(low, high, bins + 1)
    counts = np.histogram(values, bins=edges)[0]
    n, share = len(values), 1 / bins
    sd = np.sqrt(n * share * (1 - share))
    worst = int(np.argmax(np.abs(counts - n * share)))
    ok = bool(np.all(np.abs(counts - n * share) <= SIGMAS * sd)) and values.min() >= low and values.max() < high
    return ok, (f"{counts[worst]} of {n} in [{edges[worst]:.0f}, {edges[worst + 1]:.0f}), expected {n * share:.0f} ± "
                f"{SIGMAS * sd:.0f}; range {values.min()}..{values.max()}")


def _check_rules(masked, labels, ids, special_ids, vocab_size, where: str):
    is_special = np.isin(ids, special_ids)
    is_chosen = labels != IGNORE_INDEX
    if np.any(is_chosen & is_special):
        raise GradingError(f"{where}: a special token or padding ({sorted(set(ids[is_chosen & is_special].tolist()))}) "
                           "was chosen: only ids outside special_ids may be chosen.")
    if np.any(~is_chosen & (masked != ids)):
        raise GradingError(f"{where}: a token that was not chosen was changed (or its label is -100 although it was "
                           "masked): labels must mark every chosen position, and only chosen positions may change.")
    if not np.array_equal(labels[is_chosen], ids[is_chosen]):
        raise GradingError(f"{where}: at a chosen position the label should be the ORIGINAL token id.")
    outside = (masked < 0) | (masked >= vocab_size)
    if np.any(outside):
        raise GradingError(f"{where}: masked_ids hold {int(masked[outside][0])}, outside range(vocab_size={vocab_size}).")
    return is_special, is_chosen


@grader("mask_tokens", points=3, prepare=_prepare_masking,
        uses=["bertlab.pretraining.mask_tokens", "tensorflow_text.mask_language_model"])
def grade_mask_tokens(learner_fn):
    """About 15 % of the non-special tokens chosen, each independently (of its neighbours, of the other
    rows, over seeds) and from `rng`; of those 80 % [MASK], 10 % random ids drawn uniformly over the
    vocabulary (one draw per token), 10 % kept; the named edge cases obey every rule. Tolerances: 4
    standard deviations of the counts drawn; a fixed count per row may also follow its rounding of 15 %
    (TF Text's ceil, or the floor), independent draws are held to 15 % itself. vocab_size=4 shows a
    random id that is never 0 or never vocab_size - 1."""
    batches, (fixed,), (small_batches, small_special, small_mask, small_vocab), edge_cases, tiny = _prepare_masking()
    _check_generator_use(lambda seed: _call_mask(learner_fn, batches[0], seed), "masks")
    selectable = chosen = as_mask = kept = randomised = chosen_with_neighbour = 0
    neighbours = []
    random_values, equal_pairs, pairs = [], 0, 0
    rows_selectable, rows_chosen, column_counts, column_trials = [], [], [], []
    split_counts = {"row": ([], []), "column": ([], [])}  # per row / column: chosen tokens made [MASK], chosen
    for k, ids in enumerate(batches):
        masked, labels = _call_mask(learner_fn, ids, seed=1000 + k)
        is_special, is_chosen = _check_rules(masked, labels, ids, SPECIAL_IDS, VOCAB_SIZE, f"batch {k}")
        rows_selectable.extend((~is_special).sum(axis=1).tolist())
        rows_chosen.extend(is_chosen.sum(axis=1).tolist())
        selectable += int((~is_special).sum())
        chosen += int(is_chosen.sum())
        column_counts.extend(is_chosen.sum(axis=0).tolist())
        column_trials.extend((~is_special).sum(axis=0).tolist())
        both_selectable = ~is_special[:, :-1] & ~is_special[:, 1:]
        neighbours.extend(both_selectable.sum(axis=1).tolist())
        chosen_with_neighbour += int((is_chosen[:, :-1] & is_chosen[:, 1:] & both_selectable).sum())
        made_mask = is_chosen & (masked == MASK)
        for axis, key in ((1, "row"), (0, "column")):
            split_counts[key][0].extend(made_mask.sum(axis=axis).tolist())
            split_counts[key][1].extend(is_chosen.sum(axis=axis).tolist())
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
    rows, row_counts = np.array(rows_selectable), np.array(rows_chosen)
    sd = np.sqrt(MASK_RATE * (1 - MASK_RATE) / selectable)
    # A fixed count per row (BERT's round, TF Text's ceil, or a floor) may land off 15 % by its rounding;
    # counts that vary from row to row are independent draws, and those are held to 15 % itself.
    floor, ceil = np.floor(MASK_RATE * rows), np.maximum(np.ceil(MASK_RATE * rows), rows > 0)
    fixed_count = bool(np.all((floor <= row_counts) & (row_counts <= ceil)))
    if fixed_count:
        low = min(MASK_RATE, floor.sum() / rows.sum()) - SIGMAS * sd
        high = max(MASK_RATE, ceil.sum() / rows.sum()) + SIGMAS * sd
        how = "a fixed count per row"
    else:
        low, high = MASK_RATE - SIGMAS * sd, MASK_RATE + SIGMAS * sd
        off = int(np.argmax((row_counts < floor) | (row_counts > ceil)))
        how = (f"counts that vary per row (row {off}: {row_counts[off]} of {rows[off]}), so each token drawn on its own "
               "with probability 0.15")
    if not low <= rate <= high:
        raise GradingError(f"{rate:.1%} of the ordinary (non-special, non-padding) tokens were chosen; expected about 15 % "
                           f"(between {low:.1%} and {high:.1%} over {selectable} tokens for {how}). Take 15 % of the "
                           "ordinary tokens only.")
    shares = {"[MASK]": as_mask / chosen, "random": randomised / chosen, "unchanged": kept / chosen}
    for (name, share), want in zip(shares.items(), MASK_SPLIT):
        tolerance = SIGMAS * np.sqrt(want * (1 - want) / chosen)
        if abs(share - want) > tolerance:
            got = ", ".join(f"{k} {v:.1%}" for k, v in shares.items())
            raise GradingError(f"Of the chosen tokens: {got}; expected 80 % [MASK], 10 % random, 10 % unchanged "
                               f"(each within {tolerance:.1%} over {chosen} chosen tokens). Split with one uniform draw per chosen token.")
    for key, (made, of) in split_counts.items():
        statistic, mean, spread = binomial_dispersion(made, of, as_mask / chosen)
        if statistic > mean + SIGMAS * spread:
            raise GradingError(f"The chosen tokens of a {key} become [MASK] together: the count made [MASK] per {key} has "
                               f"dispersion {statistic:.0f}, expected {mean:.0f} ± {SIGMAS * spread:.0f} for one "
                               "independent draw per chosen token.")
    counts = sum((_call_mask(learner_fn, fixed, seed=7000 + k)[1] != IGNORE_INDEX).astype(int)
                 for k in range(SEEDS_PER_POSITION))
    positions = counts[~np.isin(fixed, SPECIAL_IDS)]
    statistic, mean, spread = binomial_dispersion(positions, SEEDS_PER_POSITION, positions.mean() / SEEDS_PER_POSITION)
    low_pairs, high_pairs = neighbour_pairs_window(neighbours, rows, rate)
    if statistic > mean + SIGMAS * spread or not low_pairs <= chosen_with_neighbour <= high_pairs:
        raise GradingError(f"The chosen positions follow a pattern (the same positions, or a fixed spacing such as every "
                           f"7th token): over {SEEDS_PER_POSITION} seeds the per-position dispersion is {statistic:.0f} "
                           f"(expected {mean:.0f} ± {SIGMAS * spread:.0f}), and {chosen_with_neighbour} neighbouring pairs "
                           f"were both chosen (expected {low_pairs:.0f} to {high_pairs:.0f}): choose each ordinary token "
                           "independently, with probability 0.15 drawn from `rng`.")
    statistic, mean, spread = binomial_dispersion(column_counts, column_trials, rate)
    if statistic > mean + SIGMAS * spread:
        raise GradingError(f"Rows of a batch are chosen together: the count chosen per column has dispersion "
                           f"{statistic:.0f}, expected {mean:.0f} ± {SIGMAS * spread:.0f} for rows drawn independently "
                           "(e.g. the same columns in every row): draw each position of each row on its own.")
    if pairs and equal_pairs / pairs > 0.05:
        raise GradingError("The random replacements of one batch share the same id: draw one random id per replaced token.")
    ok, measured = uniform_bins_ok(random_values, 0, VOCAB_SIZE)
    if not ok:
        raise GradingError(f"The random replacements are not spread uniformly over range(vocab_size={VOCAB_SIZE}): "
                           f"{measured}.")
    for name, ids in edge_cases:
        ever = np.zeros(ids.shape, bool)
        for seed in range(100):
            masked, labels = _call_mask(learner_fn, ids, seed=300 + seed)
            is_special, is_chosen = _check_rules(masked, labels, ids, SPECIAL_IDS, VOCAB_SIZE, f"edge case '{name}'")
            ever |= is_chosen
        never = np.argwhere(~ever & ~is_special)
        if len(never):
            raise GradingError(f"edge case '{name}': position {tuple(never[0].tolist())} (ordinary token) was never "
                               "chosen in 100 draws (each should be chosen with probability 0.15).")
    small_values = []
    for k, ids in enumerate(small_batches):
        masked, labels = _call_mask(learner_fn, ids, 2000 + k, small_special, small_mask, small_vocab)
        _, is_chosen = _check_rules(masked, labels, ids, small_special, small_vocab, f"vocab_size={small_vocab} batch {k}")
        new = masked[is_chosen]
        if is_chosen.any() and not np.any(new == small_mask):
            raise GradingError(f"With mask_id={small_mask} no chosen token became {small_mask}: use the mask_id argument.")
        small_values.extend(new[(new != small_mask) & (new != ids[is_chosen])].tolist())
    ok, measured = uniform_bins_ok(small_values, 0, small_vocab, bins=4)
    if not ok:
        raise GradingError(f"With vocab_size={small_vocab} the random replacements are not spread uniformly over "
                           f"range(vocab_size): {measured}.")
    tiny_ids, tiny_special, tiny_mask, tiny_vocab = tiny
    hits, trials = np.zeros(tiny_vocab, int), np.zeros(tiny_vocab, int)
    for seed in range(TINY_DRAWS):
        masked, labels = _call_mask(learner_fn, tiny_ids, 3000 + seed, tiny_special, tiny_mask, tiny_vocab)
        _, is_chosen = _check_rules(masked, labels, tiny_ids, tiny_special, tiny_vocab, f"vocab_size={tiny_vocab} batch")
        for value in range(tiny_vocab):
            could_change = is_chosen & (tiny_ids != value)  # a chosen token becomes `value` only by a random draw
            trials[value] += int(could_change.sum())
            hits[value] += int((could_change & (masked == value)).sum())
    share = MASK_SPLIT[1] / tiny_vocab
    for value in range(tiny_vocab):
        if value == tiny_mask:
            continue
        expected, tolerance = trials[value] * share, SIGMAS * np.sqrt(trials[value] * share * (1 - share))
        if abs(hits[value] - expected) > tolerance:
            raise GradingError(f"With vocab_size={tiny_vocab} (special ids {tiny_special}, mask_id={tiny_mask}): "
                               f"{hits[value]} of {trials[value]} chosen tokens other than {value} became {value}, "
                               f"expected {expected:.0f} ± {tolerance:.0f} (10 % random ids, each id of range({tiny_vocab}) "
                               "a quarter of them): draw the random id uniformly from range(vocab_size), 0 and "
                               "vocab_size - 1 included.")


def _reference_mask(ids, special_ids, mask_id, vocab_size, rng, rate=0.15, split=(0.8, 0.1)):
    ids = np.asarray(ids)
    candidates = ~np.isin(ids, special_ids)
    chosen = candidates & (rng.random(ids.shape) < rate)
    return _mask_chosen(ids, chosen, mask_id, vocab_size, rng, split)


def _mask_chosen(ids, chosen, mask_id, vocab_size, rng, split=(0.8, 0.1)):
    """BERT's replacement of the `chosen` positions ([MASK] / a random id / unchanged, by `split`),
    with their labels: the part the wrong answers below share while each chooses differently."""
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
    return _mask_chosen(ids, chosen.reshape(ids.shape), mask_id, vocab_size, rng)


@wrong_answer("mask_tokens", hint="do not create or reseed a generator")
def mask_tokens_reseeding_the_generator(ids, special_ids, mask_id, vocab_size, rng):
    rng = np.random.default_rng(0)  # "for reproducibility": every call now masks the same way
    return _reference_mask(ids, special_ids, mask_id, vocab_size, rng)


@wrong_answer("mask_tokens", hint="every 7th token")
def mask_tokens_every_seventh(ids, special_ids, mask_id, vocab_size, rng):
    ids = np.asarray(ids)
    chosen = ~np.isin(ids, special_ids) & (np.arange(ids.shape[1]) % 7 == 3)[None, :]
    return _mask_chosen(ids, chosen, mask_id, vocab_size, rng)


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


@wrong_answer("mask_tokens", hint="Rows of a batch are chosen together")
def mask_tokens_same_columns_in_every_row(ids, special_ids, mask_id, vocab_size, rng):
    """One draw per column, shared by the rows: the rate and the per-position rate over seeds are right."""
    ids = np.asarray(ids)
    chosen = ~np.isin(ids, special_ids) & (rng.random(ids.shape[1]) < 0.15)[None, :]
    return _mask_chosen(ids, chosen, mask_id, vocab_size, rng)


@wrong_answer("mask_tokens", hint="not spread uniformly over range(vocab_size=30522)")
def mask_tokens_random_ids_from_the_batch(ids, special_ids, mask_id, vocab_size, rng):
    """The "random token" drawn from the batch's own ordinary tokens: as skewed as the text."""
    ids = np.asarray(ids)
    masked, labels = _reference_mask(ids, special_ids, mask_id, vocab_size, rng)
    replaced = (labels != IGNORE_INDEX) & (masked != mask_id) & (masked != ids)
    ordinary = np.unique(ids[~np.isin(ids, special_ids)])  # each of the batch's words once
    masked[replaced] = rng.choice(ordinary, size=int(replaced.sum()))
    return masked, labels


@wrong_answer("mask_tokens", hint="of a row become [MASK] together")
def mask_tokens_one_split_draw_per_row(ids, special_ids, mask_id, vocab_size, rng):
    """Each row's chosen tokens all become [MASK], all random or all kept: 80/10/10 over the batch."""
    ids = np.asarray(ids)
    chosen = ~np.isin(ids, special_ids) & (rng.random(ids.shape) < 0.15)
    draw = np.repeat(rng.random((ids.shape[0], 1)), ids.shape[1], axis=1)
    masked = np.where(chosen & (draw < 0.8), mask_id, ids)
    random_pos = chosen & (draw >= 0.8) & (draw < 0.9)
    masked[random_pos] = rng.integers(0, vocab_size, size=int(random_pos.sum()))
    return masked, np.where(chosen, ids, IGNORE_INDEX)


@wrong_answer("mask_tokens", hint="changed the ids array it was given")
def mask_tokens_in_place(ids, special_ids, mask_id, vocab_size, rng):
    masked, labels = _reference_mask(ids, special_ids, mask_id, vocab_size, rng)
    ids[...] = masked
    return ids, labels


@wrong_answer("mask_tokens", hint="never chosen")
def mask_tokens_skipping_the_first_and_last_column(ids, special_ids, mask_id, vocab_size, rng):
    """Assumes [CLS] and [SEP] sit in the first and last column instead of reading special_ids there."""
    ids = np.asarray(ids)
    masked, labels = _reference_mask(ids, special_ids, mask_id, vocab_size, rng)
    labels[:, [0, -1]] = IGNORE_INDEX
    masked[:, [0, -1]] = ids[:, [0, -1]]
    return masked, labels


@right_answer("mask_tokens", why="a fixed count round(0.15 n) per row, as BERT's own data code (at least one)")
def mask_tokens_fixed_count_per_row(ids, special_ids, mask_id, vocab_size, rng):
    ids = np.asarray(ids)
    chosen = np.zeros(ids.shape, bool)
    for row in range(ids.shape[0]):
        candidates = np.flatnonzero(~np.isin(ids[row], list(special_ids)))
        if len(candidates):
            k = max(1, int(round(0.15 * len(candidates))))
            chosen[row, rng.permutation(candidates)[:k]] = True
    labels = np.where(chosen, ids, IGNORE_INDEX)
    masked = ids.copy()
    for row, col in zip(*np.nonzero(chosen)):
        draw = rng.random()
        if draw < 0.8:
            masked[row, col] = mask_id
        elif draw < 0.9:
            masked[row, col] = rng.integers(vocab_size)
    return masked.tolist(), labels.tolist()


@wrong_answer("mask_tokens", hint="chosen tokens other than 0 became 0")
def mask_tokens_random_ids_from_1(ids, special_ids, mask_id, vocab_size, rng):
    """Random ids from 1 ("never [PAD]"), where the text says range(vocab_size): shows only in a tiny vocabulary."""
    masked, labels = _reference_mask(ids, special_ids, mask_id, vocab_size, rng)
    replaced = (labels != IGNORE_INDEX) & (masked != mask_id) & (masked != np.asarray(ids))
    masked[replaced] = rng.integers(1, vocab_size, size=int(replaced.sum()))
    return masked, labels


@wrong_answer("mask_tokens", hint="counts that vary per row")
def mask_tokens_at_13_5_percent(ids, special_ids, mask_id, vocab_size, rng):
    """Independent draws at 0.135: within what a per-row floor of 15 % could give, not near 15 %."""
    return _reference_mask(ids, special_ids, mask_id, vocab_size, rng, rate=0.135)


@right_answer("mask_tokens", why="a fixed count max(1, int(0.15 n)) per row: the floor of 15 %")
def mask_tokens_fixed_floor_count_per_row(ids, special_ids, mask_id, vocab_size, rng):
    ids = np.asarray(ids)
    chosen = np.zeros(ids.shape, bool)
    for row in range(ids.shape[0]):
        candidates = np.flatnonzero(~np.isin(ids[row], special_ids))
        if len(candidates):
            chosen[row, rng.choice(candidates, size=max(1, int(0.15 * len(candidates))), replace=False)] = True
    labels = np.where(chosen, ids, IGNORE_INDEX)
    draw = rng.random(ids.shape)
    masked = np.where(chosen & (draw < 0.8), mask_id, ids)
    to_random = chosen & (draw >= 0.8) & (draw < 0.9)
    masked[to_random] = rng.integers(0, vocab_size, size=int(to_random.sum()))
    return masked, labels


@right_answer("mask_tokens", why="one uniform draw split by thresholds, special_ids as a set, TF tensors returned")
def mask_tokens_returning_tensors(ids, special_ids, mask_id, vocab_size, rng):
    import tensorflow as tf

    ids = np.asarray(ids)
    special = {int(i) for i in special_ids}
    ordinary = np.vectorize(lambda i: int(i) not in special, otypes=[bool])(ids)
    chosen = ordinary & (rng.random(ids.shape) < 0.15)
    draw = rng.random(ids.shape)
    random_ids = rng.integers(0, vocab_size, size=ids.shape)
    masked = np.where(chosen & (draw < 0.8), mask_id, np.where(chosen & (draw >= 0.9), ids, np.where(chosen, random_ids, ids)))
    return tf.constant(masked), tf.constant(np.where(chosen, ids, IGNORE_INDEX))


# --------------------------------------------------------------------------- NSP pairs
def _documents(seed: int):
    """Documents of distinct sentences named after where they are, e.g. 'doc 2 sentence 5'."""
    rng = np.random.default_rng(seed)
    n_docs = int(rng.integers(3, 6))
    return [[f"doc {d} sentence {i}" for i in range(int(rng.integers(1 if d else 2, 12)))] for d in range(n_docs)]


@functools.lru_cache(maxsize=1)
def _nsp_cases():
    return [_documents(seed=440 + k) for k in range(150)]


@functools.lru_cache(maxsize=1)
def _nsp_edge_cases() -> list[tuple[str, list]]:
    """Named inputs from the exercise's definition; every rule is checked on each over many seeds."""
    doc = lambda d, n: [f"doc {d} sentence {i}" for i in range(n)]  # noqa: E731
    return [
        ("two documents", [doc(0, 4), doc(1, 3)]),
        ("a one-sentence document (no pair of its own, still a source of random sentences)", [doc(0, 5), doc(1, 1)]),
        ("an empty document (never a source)", [doc(0, 3), [], doc(2, 2)]),
        ("only the first document has a next sentence", [doc(0, 2), doc(1, 1), doc(2, 1), doc(3, 1)]),
        ("a long document of 40 sentences", [doc(0, 40), doc(1, 2)]),
    ]


NEGATIVE_DOCUMENTS = (1, 2, 6, 9, 3)  # sentences per document of the case whose random sentences are counted
NEGATIVE_SEEDS = 200


def negative_source_windows(sizes, own: int, draws: int) -> list[tuple[float, float]]:
    """(low, high) of how many of `draws` random sentences (for a sentence of document `own`) come from
    each document: between "a random other document, then a random sentence of it" and "a random
    sentence of all the other documents", within SIGMAS binomial standard deviations."""
    others = [j for j, n in enumerate(sizes) if j != own and n]
    windows = []
    for j, n in enumerate(sizes):
        if j not in others:
            windows.append((0.0, 0.0))
            continue
        shares = (1 / len(others), n / sum(sizes[o] for o in others))
        sds = [SIGMAS * np.sqrt(draws * p * (1 - p)) for p in shares]
        windows.append((min(draws * p - s for p, s in zip(shares, sds)), max(draws * p + s for p, s in zip(shares, sds))))
    return windows


@functools.lru_cache(maxsize=1)
def _prepare_nsp():
    return _nsp_cases(), _nsp_edge_cases()


def _call_pairs(learner_fn, documents, seed):
    given = [list(doc) for doc in documents]
    pairs = learner_fn(given, np.random.default_rng(seed))
    if given != [list(doc) for doc in documents]:
        raise GradingError("make_nsp_pairs changed the documents it was given: leave the input lists as they are.")
    try:
        return [(a, b, int(label)) for a, b, label in pairs]
    except (TypeError, ValueError):
        raise GradingError("make_nsp_pairs should return a list of (sentence_a, sentence_b, label) tuples.") from None


def _check_pairs(pairs, documents, where: str):
    """The rules every call must keep; returns the pairs' (document of A, document of B, index of B, label)."""
    expected_a = [s for doc in documents for s in doc[:-1]]
    if sorted(a for a, _, _ in pairs) != sorted(expected_a):
        raise GradingError(f"{where}: expected one pair for every sentence that has a next sentence in its document "
                           f"({len(expected_a)} here), got {len(pairs)} pairs.")
    where_is = {s: (d, i) for d, doc in enumerate(documents) for i, s in enumerate(doc)}
    found = []
    for a, b, label in pairs:
        if b not in where_is:
            raise GradingError(f"{where}: sentence B {b!r} is not a sentence of the documents.")
        (da, ia), (db, ib) = where_is[a], where_is[b]
        if label not in (0, 1):
            raise GradingError(f"{where}: labels are 0 (B is the next sentence) or 1 (B is random); got {label}.")
        is_next = db == da and ib == ia + 1
        if label == 0 and not is_next:
            raise GradingError(f"{where}: ({a!r}, {b!r}) has label 0 but B is not the sentence after A: "
                               "label 0 means IsNext, label 1 means a random sentence.")
        if label == 1 and is_next:
            raise GradingError(f"{where}: ({a!r}, {b!r}) has label 1 but B is the sentence after A: "
                               "label 0 means IsNext, label 1 means a random sentence.")
        if label == 1 and db == da:
            raise GradingError(f"{where}: ({a!r}, {b!r}): the random sentence came from the same document. "
                               "Draw the random sentence from another document.")
        found.append((da, db, ib, label))
    return found


@grader("make_nsp_pairs", points=2, prepare=_prepare_nsp, uses=["bertlab.pretraining.make_nsp_pairs"])
def grade_make_nsp_pairs(learner_fn):
    """One pair per sentence that has a successor; label 0 = the true next sentence, label 1 = a
    random sentence from another document; each sentence independently random with probability
    1/2, drawn from `rng` (tolerances: 4 standard deviations of the counts drawn)."""
    cases = _nsp_cases()
    total = random_count = consecutive = consecutive_equal = 0
    other_docs_used = set()
    for k, documents in enumerate(cases):
        pairs = _call_pairs(learner_fn, documents, k)
        for da, db, _, label in _check_pairs(pairs, documents, f"case {k}"):
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
    for name, documents in _nsp_edge_cases():
        sources = set()
        for seed in range(60):
            sources |= {db for _, db, _, label in _check_pairs(_call_pairs(learner_fn, documents, 600 + seed), documents,
                                                               f"edge case '{name}'") if label == 1}
        usable = {j for j, doc in enumerate(documents) if doc and any(len(other) > 1 for i, other in enumerate(documents) if i != j)}
        if sources != usable:
            raise GradingError(f"edge case '{name}': in 60 draws the random sentences came from documents "
                               f"{sorted(sources)}, expected every other non-empty document: {sorted(usable)}.")
    documents = [[f"doc {d} sentence {i}" for i in range(n)] for d, n in enumerate(NEGATIVE_DOCUMENTS)]
    by_source = np.zeros((len(documents), len(documents)), int)
    by_sentence = [np.zeros(n, int) for n in NEGATIVE_DOCUMENTS]
    for seed in range(NEGATIVE_SEEDS):
        for da, db, ib, label in _check_pairs(_call_pairs(learner_fn, documents, 800 + seed), documents, "negatives case"):
            if label == 1:
                by_source[da, db] += 1
                by_sentence[db][ib] += 1
    for own, row in enumerate(by_source):
        draws = int(row.sum())
        for other, ((low, high), count) in enumerate(zip(negative_source_windows(NEGATIVE_DOCUMENTS, own, draws), row)):
            if not low <= count <= high:
                raise GradingError(f"For sentences of a document with {NEGATIVE_DOCUMENTS[own]} sentences, {count} of "
                                   f"{draws} random sentences came from the document of {NEGATIVE_DOCUMENTS[other]} "
                                   f"sentences, expected {max(low, 0):.0f} to {high:.0f} (documents of sizes "
                                   f"{list(NEGATIVE_DOCUMENTS)}): choose the other document and its sentence at random.")
    for d, counts in enumerate(by_sentence):
        n, total = len(counts), int(counts.sum())
        sd = np.sqrt(total * (1 / n) * (1 - 1 / n))
        worst = int(np.argmax(np.abs(counts - total / n)))
        if n > 1 and abs(counts[worst] - total / n) > SIGMAS * sd:
            raise GradingError(f"Of {total} random sentences from the document of {n} sentences, {counts[worst]} were "
                               f"its sentence {worst}, expected {total / n:.0f} ± {SIGMAS * sd:.0f}: draw the sentence "
                               "uniformly from the document.")


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


@wrong_answer("make_nsp_pairs", hint="random sentences came from")
def make_nsp_pairs_from_the_following_document(documents, rng):
    """The "random" sentence always from the next non-empty document (cyclically)."""
    pairs = []
    for d, doc in enumerate(documents):
        following = next(documents[(d + j) % len(documents)] for j in range(1, len(documents))
                         if documents[(d + j) % len(documents)])
        for i in range(len(doc) - 1):
            if rng.random() < 0.5:
                pairs.append((doc[i], following[int(rng.integers(len(following)))], 1))
            else:
                pairs.append((doc[i], doc[i + 1], 0))
    return pairs


@wrong_answer("make_nsp_pairs", hint="draw the sentence uniformly from the document")
def make_nsp_pairs_first_sentence_of_another_document(documents, rng):
    pairs = []
    for d, doc in enumerate(documents):
        others = [j for j in range(len(documents)) if j != d and documents[j]]
        for i in range(len(doc) - 1):
            if rng.random() < 0.5:
                pairs.append((doc[i], documents[others[int(rng.integers(len(others)))]][0], 1))
            else:
                pairs.append((doc[i], doc[i + 1], 0))
    return pairs


@wrong_answer("make_nsp_pairs", hint="changed the documents")
def make_nsp_pairs_popping_sentences(documents, rng):
    pairs = _reference_pairs(documents, rng)
    for doc in documents:
        doc.sort(reverse=True)
    return pairs


@right_answer("make_nsp_pairs", why="a random sentence of all the other documents (uniform over sentences), as tuples in a tuple")
def make_nsp_pairs_uniform_over_other_sentences(documents, rng):
    pairs = []
    for d, doc in enumerate(documents):
        pool = [s for j, other in enumerate(documents) if j != d for s in other]
        for i in range(len(doc) - 1):
            if rng.uniform() >= 0.5:
                pairs.append((doc[i], pool[rng.choice(len(pool))], np.int64(1)))
            else:
                pairs.append((doc[i], doc[i + 1], np.int64(0)))
    return tuple(pairs)


@right_answer("make_nsp_pairs", why="lists instead of tuples, the other document by rng.choice")
def make_nsp_pairs_as_lists(documents, rng):
    pairs = []
    for d, doc in enumerate(documents):
        others = [other for j, other in enumerate(documents) if j != d and other]
        for i in range(len(doc) - 1):
            if rng.random() < 0.5:
                other = others[rng.choice(len(others))]
                pairs.append([doc[i], str(rng.choice(other)), 1])
            else:
                pairs.append([doc[i], doc[i + 1], 0])
    return pairs


# --------------------------------------------------------------------------- masked-LM loss
def _loss_edge_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Named (labels, logits) from the exercise's definition: ids 0 and vocab - 1 are labels like
    any other (only -100 means "ignore"), full, empty and holed masks, a batch of one."""
    rng = np.random.default_rng(4005)
    logits = lambda *shape: rng.normal(0, 3, size=shape).astype(np.float32)  # noqa: E731
    ignore = IGNORE_INDEX
    return [
        ("label 0 at every chosen position", np.array([[0, ignore, 0], [ignore, 0, ignore]]), logits(2, 3, 6)),
        ("labels 0 and vocab - 1 beside ordinary ones", np.array([[0, 5, ignore, 9], [ignore, 0, 9, 3]]), logits(2, 4, 10)),
        ("every position chosen (a full mask)", rng.integers(0, 8, size=(3, 5)), logits(3, 5, 8)),
        ("nothing chosen (an empty mask)", np.full((2, 4), ignore), logits(2, 4, 7)),
        ("a batch of one with one chosen position", np.array([[ignore, ignore, 4, ignore]]), logits(1, 4, 5)),
        ("holes in the mask: chosen, ignored, chosen", np.array([[3, ignore, 1, ignore, 0, 2]]), logits(1, 6, 4)),
        ("a row with nothing chosen beside a full row", np.array([[ignore] * 5, [1, 2, 0, 3, 4]]), logits(2, 5, 5)),
        ("large logits (±60: a stable log-softmax)", np.array([[2, ignore], [0, 1]]), logits(2, 2, 3) * 20),
        ("int64 labels, odd vocabulary 31",
         np.where(rng.random((3, 7)) < 0.6, rng.integers(0, 31, size=(3, 7)), ignore).astype(np.int64), logits(3, 7, 31)),
    ]


@functools.lru_cache(maxsize=1)
def _loss_cases():
    """(name, labels, logits, expected loss) per case: the named edge cases, then seeded random ones."""
    rng = np.random.default_rng(4004)
    cases = [(name, labels if labels.dtype == np.int64 else labels.astype(np.int32), logits, _reference_loss(labels, logits))
             for name, labels, logits in _loss_edge_cases()]
    for k in range(6):
        batch, length, vocab = int(rng.integers(2, 6)), int(rng.integers(3, 12)), int(rng.integers(5, 40))
        logits = rng.normal(0, 3, size=(batch, length, vocab)).astype(np.float32)
        labels = rng.integers(0, vocab, size=(batch, length))
        labels[0, 0] = 0  # id 0 is a label like any other
        chosen = rng.random((batch, length)) < rng.uniform(0.1, 0.5)
        chosen[0, 0] = True  # at least one chosen position
        chosen[-1] = False if batch > 2 else chosen[-1]  # a row with nothing chosen
        labels = np.where(chosen, labels, IGNORE_INDEX).astype(np.int32)
        cases.append((f"random case {k}", labels, logits, _reference_loss(labels, logits)))
    return cases


def _reference_loss(labels, logits):
    chosen = labels != IGNORE_INDEX
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, np.where(chosen, labels, 0)[..., None], -1)[..., 0]
    return float(-(picked * chosen).sum() / max(chosen.sum(), 1)) + 0.0  # +0.0: no "-0.0" in a hint


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

    for name, labels, logits, expected in _loss_cases():
        got = call(labels, logits)
        if not np.isfinite(got):
            raise GradingError(f"{name}: the loss is {got}, expected {expected:.5f} (a finite number).")
        if np.isclose(got, expected, rtol=1e-4, atol=1e-5):
            continue
        measured = f"{name}: loss {got:.5f}, expected {expected:.5f}"
        if np.isclose(got, _reference_loss(np.where(labels == IGNORE_INDEX, 0, labels), logits), rtol=1e-4):
            raise GradingError(f"{measured}, which is the mean over ALL positions: average over the chosen positions "
                               "only (labels != -100).")
        if np.isclose(got, _reference_loss(np.where(labels == 0, IGNORE_INDEX, labels), logits), rtol=1e-4, atol=1e-5):
            raise GradingError(f"{measured}, which is the loss without the positions whose label is 0: only -100 "
                               "means ignore (labels != -100).")
        raise GradingError(f"{measured}: the mean cross-entropy of softmax(logits) (from_logits=True) over the "
                           "positions with labels != -100.")


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


@wrong_answer("masked_lm_loss", hint="nothing chosen (an empty mask): the loss is nan")
def masked_lm_loss_dividing_by_zero(labels, logits):
    import tensorflow as tf

    chosen = labels != IGNORE_INDEX
    per = tf.keras.losses.sparse_categorical_crossentropy(tf.where(chosen, labels, 0), logits, from_logits=True)
    weights = tf.cast(chosen, per.dtype)
    return tf.reduce_sum(per * weights) / tf.reduce_sum(weights)


@wrong_answer("masked_lm_loss", hint="without the positions whose label is 0")
def masked_lm_loss_treating_label_0_as_ignored(labels, logits):
    import tensorflow as tf

    chosen = labels > 0  # -100 and the id 0 both left out
    per = tf.keras.losses.sparse_categorical_crossentropy(tf.where(chosen, labels, 0), logits, from_logits=True)
    weights = tf.cast(chosen, per.dtype)
    return tf.reduce_sum(per * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


@right_answer("masked_lm_loss", why="tf.keras.losses.SparseCategoricalCrossentropy with sample_weight and reduction='sum'")
def masked_lm_loss_with_a_keras_loss_object(labels, logits):
    import tensorflow as tf

    chosen = tf.cast(labels != IGNORE_INDEX, tf.float32)
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    total = loss(tf.maximum(labels, 0), logits, sample_weight=chosen)
    return total / tf.maximum(tf.reduce_sum(chosen), 1.0)


@right_answer("masked_lm_loss", why="tf.boolean_mask and tf.nn.sparse_softmax_cross_entropy_with_logits")
def masked_lm_loss_with_boolean_mask(labels, logits):
    import tensorflow as tf

    chosen = tf.not_equal(labels, IGNORE_INDEX)
    per = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.boolean_mask(labels, chosen),
                                                         logits=tf.boolean_mask(logits, chosen))
    return tf.cond(tf.size(per) > 0, lambda: tf.reduce_mean(per), lambda: tf.constant(0.0))


@right_answer("masked_lm_loss", why="a NumPy log-softmax in float64")
def masked_lm_loss_in_numpy_float64(labels, logits):
    labels, logits = np.asarray(labels), np.asarray(logits, dtype=np.float64)
    chosen = labels != IGNORE_INDEX
    if not chosen.any():
        return np.float64(0.0)
    picked = logits[chosen]
    log_z = np.logaddexp.reduce(picked, axis=-1)
    return np.mean(log_z - picked[np.arange(len(picked)), labels[chosen]])
