"""Graders for lesson 03 "Encoder outputs": the layer where two meanings of a word are furthest
apart, masked scaled dot-product attention, masked mean pooling.

They grade functions on seeded, varied NumPy arrays shaped like the encoder's tensors (the
attention exercise gets TensorFlow tensors, as the lesson passes them); the attention grader
also compares with the embedded model's own attention on a real sentence pair. Cases and
expected answers are computed once, before any learner code.

Each grader first runs NAMED edge cases chosen from its exercise's definition (the module-level
lists ``POOL_EDGE_CASES``, ``LAYER_EDGE_CASES``, ``ATTENTION_EDGE_CASES``: a name a reviewer can
read, and how the case is built), then the seeded random cases. A hint starts with the case's
name and what was measured (``case 'answer is layer 0': got 3, expected 0``). NumPy inputs are
passed as arrays and compared with a saved copy after the call: a function that changes its
input fails, whatever it returns.
"""
from __future__ import annotations

import functools

import numpy as np

from bertlab.grading.core import GradingError, grader, right_answer, wrong_answer


def _to_numpy(value):
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)


def _check_unchanged(case: str, given: dict, saved: dict) -> None:
    """Fail if the learner's function wrote into one of the arrays it was given."""
    for name, array in given.items():
        if array.shape != saved[name].shape or not np.array_equal(array, saved[name], equal_nan=True):
            where = np.argwhere(array != saved[name]) if array.shape == saved[name].shape else []
            at = f" (first at index {tuple(int(i) for i in where[0])})" if len(where) else ""
            raise GradingError(f"case '{case}': your function changed its input {name}{at}; "
                               "compute on copies (x = x * w, not x *= w) and leave the arguments as they were")


def _call_with_arrays(learner_fn, case: str, *named_arrays):
    """Call learner_fn on fresh copies of the arrays, positionally (a learner may rename the
    parameters), then check that none of them was modified. `named_arrays`: (name, array) pairs."""
    given = {name: np.array(array, copy=True) for name, array in named_arrays}
    got = learner_fn(*given.values())
    _check_unchanged(case, given, dict(named_arrays))
    return got


# ---------------------------------------------------------------------------------------
# masked_mean_pool(sequence_output, input_mask) -> (batch, hidden)
# ---------------------------------------------------------------------------------------
# Named edge cases: (name, batch, length, hidden, mask rows as strings of 0/1 or None for a
# full mask, dtype of the states, dtype of the mask). A row whose mask is all zeros has no
# mean (0 / 0): the exercise does not define it, so no case has one.
POOL_EDGE_CASES = [
    ("full mask (no padding)", 2, 6, 4, ["111111", "111111"], np.float32, np.int32),
    ("only the first token counts", 2, 5, 3, ["10000", "10000"], np.float32, np.int32),
    ("only the last position counts", 2, 5, 3, ["00001", "00001"], np.float32, np.int32),
    ("mask with holes", 3, 7, 4, ["1010101", "1100011", "0110110"], np.float32, np.int32),
    ("left padding", 2, 6, 5, ["001111", "000011"], np.float32, np.int32),
    ("batch of one", 1, 4, 6, ["1110"], np.float32, np.int32),
    ("length one", 2, 1, 3, ["1", "1"], np.float32, np.int32),
    ("hidden size one", 3, 5, 1, ["11100", "10101", "11111"], np.float32, np.int32),
    ("float mask (0.0 / 1.0)", 2, 6, 4, ["111000", "101101"], np.float32, np.float32),
    ("float64 states, int64 mask", 2, 6, 4, ["111100", "011111"], np.float64, np.int64),
    ("values with more decimals (1234.5678 + small noise)", 2, 8, 3, ["11111100", "10111111"], np.float64, np.int32),
]


def _pool_edge(rng, name, batch, length, hidden, rows, states_dtype, mask_dtype):
    mask = np.array([[int(c) for c in row] for row in rows], dtype=mask_dtype)
    assert mask.shape == (batch, length)
    states = rng.normal(size=(batch, length, hidden))
    if "decimals" in name:
        states = 1234.5678 + states * 1e-3
    states[mask == 0] += 25.0
    return name, states.astype(states_dtype), mask


@functools.lru_cache(maxsize=1)
def _pool_cases():
    """(name, states, mask, expected float64 mean): the named edge cases, then seeded random ones."""
    rng = np.random.default_rng(303)
    cases = [_pool_edge(rng, *spec) for spec in POOL_EDGE_CASES]
    for batch, length, hidden, contiguous in [(3, 9, 6, True), (4, 16, 12, True), (5, 8, 4, False), (1, 5, 3, True)]:
        states = rng.normal(size=(batch, length, hidden)).astype(np.float32)
        if contiguous:  # as the tokenizer makes them: real tokens, then padding
            lengths = rng.integers(2, length + 1, size=batch)
            lengths[-1] = length if batch > 1 else lengths[-1]
            mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.int32)
        else:  # random masks: only the mask says which positions count
            mask = (rng.random((batch, length)) < 0.6).astype(np.int32)
            mask[:, 0] = 1
        states[mask == 0] += 25.0  # padding positions are not zeros in BERT's output
        cases.append((f"random {'padded' if contiguous else 'masked'} batch {states.shape}", states, mask))
    out = []
    for name, states, mask in cases:
        weights = mask[:, :, None].astype(np.float64)
        out.append((name, states, mask, (states.astype(np.float64) * weights).sum(axis=1) / weights.sum(axis=1)))
    return out


@grader("masked_mean_pool", points=2, prepare=_pool_cases,
        uses=["bertlab.encoder.masked_mean_pool", "bertlab.finetuning.masked_mean"])
def grade_masked_mean_pool(learner_fn):
    """The mean over positions where the mask is 1: the named edge cases (POOL_EDGE_CASES), then
    padded and randomly masked batches; the inputs must come back unchanged."""
    for name, states, mask, want in _pool_cases():
        got = _to_numpy(_call_with_arrays(learner_fn, name, ("sequence_output", states), ("input_mask", mask)))
        weights = mask[:, :, None].astype(np.float64)
        where = f"case '{name}' (sequence_output {states.shape} {states.dtype}, input_mask {mask.dtype})"
        if got.shape != want.shape:
            raise GradingError(f"{where}: expected shape (batch, hidden) = {want.shape}, got {got.shape}: "
                               "average over axis 1, the tokens")
        if np.allclose(got, want, rtol=1e-4, atol=1e-4):
            continue
        row = int(np.argmax(np.abs(got - want).max(axis=1)))
        measured = (f"{where}: row {row} (mask {''.join(str(int(m)) for m in mask[row])}) got "
                    f"{np.array2string(got[row][:3], precision=4)}, expected {np.array2string(want[row][:3], precision=4)}")
        if np.allclose(got, states.mean(axis=1), atol=1e-3):
            raise GradingError(f"{measured}; it equals the mean over all positions: the padding positions were "
                               "averaged in: weight each position by input_mask")
        if np.allclose(got, (states * weights).sum(axis=1) / states.shape[1], atol=1e-3):
            raise GradingError(f"{measured}; it equals the masked sum divided by the padded length: divide by the "
                               "number of real tokens (the sum of input_mask per row)")
        if not np.allclose(mask, np.sort(mask, axis=1)[:, ::-1]):
            raise GradingError(f"{measured}; in this mask the ones are not all at the start: use input_mask as "
                               "weights, not a length to slice by")
        raise GradingError(f"{measured}; sum sequence_output * input_mask over the tokens and divide by the sum of input_mask")


@wrong_answer("masked_mean_pool", hint="padding positions")
def mean_over_all_positions(sequence_output, input_mask):
    return np.asarray(sequence_output).mean(axis=1)


@wrong_answer("masked_mean_pool", hint="number of real tokens")
def mean_over_padded_length(sequence_output, input_mask):
    states, mask = np.asarray(sequence_output), np.asarray(input_mask)[:, :, None]
    return (states * mask).sum(axis=1) / states.shape[1]


@wrong_answer("masked_mean_pool", hint="as weights")
def mean_of_the_first_n(sequence_output, input_mask):
    states, mask = np.asarray(sequence_output), np.asarray(input_mask)
    return np.stack([row[: int(n)].mean(axis=0) for row, n in zip(states, mask.sum(axis=1))])


@wrong_answer("masked_mean_pool", hint="changed its input sequence_output")
def mean_zeroing_the_padding_in_place(sequence_output, input_mask):
    # Right values, but it zeroes the padding of the caller's array (the grader used to pass copies).
    sequence_output *= np.asarray(input_mask)[:, :, None]
    return sequence_output.sum(axis=1) / np.asarray(input_mask).sum(axis=1, keepdims=True)


@right_answer("masked_mean_pool", why="np.average with the mask broadcast as weights")
def mean_with_np_average(sequence_output, input_mask):
    states = np.asarray(sequence_output)
    weights = np.broadcast_to(np.asarray(input_mask, dtype=np.float64)[:, :, None], states.shape)
    return np.average(states, axis=1, weights=weights)


@right_answer("masked_mean_pool", why="np.mean(where=mask), float32 result")
def mean_with_where(sequence_output, input_mask):
    states = np.asarray(sequence_output)
    return states.mean(axis=1, where=np.asarray(input_mask)[:, :, None].astype(bool))


@right_answer("masked_mean_pool", why="TensorFlow ops, returns a float32 tensor")
def mean_with_tensorflow(sequence_output, input_mask):
    import tensorflow as tf

    states = tf.convert_to_tensor(sequence_output, dtype=tf.float32)
    weights = tf.cast(input_mask, tf.float32)[:, :, None]
    return tf.reduce_sum(states * weights, axis=1) / tf.reduce_sum(weights, axis=1)


@right_answer("masked_mean_pool", why="einsum and a count per row")
def mean_with_einsum(sequence_output, input_mask):
    mask = np.asarray(input_mask, dtype=np.float64)
    return np.einsum("blh,bl->bh", np.asarray(sequence_output, dtype=np.float64), mask) / mask.sum(axis=1)[:, None]


# ---------------------------------------------------------------------------------------
# most_different_layer(vectors_a, vectors_b) -> int (0 = embedding layer)
# ---------------------------------------------------------------------------------------
# Named edge cases: (name, layers + 1, hidden, what the case is). Built in _layer_edge; any
# index whose cosine is within TIE of the lowest is accepted (two tied layers: either).
LAYER_EDGE_CASES = [
    ("answer is layer 0 (the embedding layer)", 7, 16, "row 0 has the lowest cosine"),
    ("answer is the last layer", 7, 16, "the last row has the lowest cosine"),
    ("tie between layers 2 and 4", 7, 16, "rows 2 and 4 are equal in both arrays: either index is right"),
    ("the lowest cosine is negative", 5, 12, "one row points the opposite way (cosine < 0), another is orthogonal (~0)"),
    ("hidden size 1", 6, 1, "every cosine is +1 or -1; one row is -1"),
    ("a single row (embedding layer only)", 1, 8, "the only index is 0"),
    ("float64 vectors, 12 layers, hidden 768", 13, 768, "BERT-base's shape"),
]
TIE = 1e-6  # cosines closer than this to the lowest count as the lowest


def _layer_edge(rng, name, rows, hidden, _what):
    a = rng.normal(size=(rows, hidden))
    b = a + 0.1 * rng.normal(size=(rows, hidden))  # every layer similar (cosine ~0.99) ...
    target = {"answer is layer 0": 0, "answer is the last layer": rows - 1, "tie between": 2,
              "the lowest cosine is negative": 3, "float64": 5}
    row = next((r for key, r in target.items() if name.startswith(key)), None)
    if row is not None:  # ... except the answer's row, turned away from a
        b[row] = a[row] * 0.3 + rng.normal(size=hidden)
    if name.startswith("tie between"):
        a[4], b[4] = a[2], b[2]
    if name.startswith("the lowest cosine is negative"):
        b[3] = -a[3] + 0.1 * rng.normal(size=hidden)
        other = rng.normal(size=hidden)
        b[1] = other - (other @ a[1]) / (a[1] @ a[1]) * a[1]  # orthogonal to a[1]
    if name.startswith("hidden size 1"):
        a = rng.uniform(0.5, 2.0, size=(rows, 1)) * rng.choice([-1, 1], size=(rows, 1))
        b = a * rng.uniform(0.5, 2.0, size=(rows, 1))
        b[2] *= -1
    scale = rng.uniform(0.5, 8.0, size=(rows, 1))  # lengths change from layer to layer
    a, b = a * scale, b * rng.uniform(0.5, 8.0, size=(rows, 1))
    dtype = np.float64 if name.startswith("float64") else np.float32
    return name, a.astype(dtype), b.astype(dtype)


def _cosine(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@functools.lru_cache(maxsize=1)
def _layer_cases():
    """(name, vectors_a, vectors_b, accepted indices): the named edge cases, then word vectors per
    layer (layers + 1, hidden) for two uses of a word whose lengths change from layer to layer, so
    the lowest dot product and the largest distance point to other layers than the lowest cosine."""
    rng = np.random.default_rng(3003)
    cases = [_layer_edge(rng, *spec) for spec in LAYER_EDGE_CASES]
    for layers, hidden in [(6, 16), (12, 32), (4, 8), (12, 768)]:
        for _ in range(5):
            base = rng.normal(size=(layers + 1, hidden))
            noise = rng.normal(size=(layers + 1, hidden)) * rng.uniform(0.1, 1.5, size=(layers + 1, 1))
            scale_a = rng.uniform(0.5, 8.0, size=(layers + 1, 1))
            scale_b = rng.uniform(0.5, 8.0, size=(layers + 1, 1))
            a, b = base * scale_a, (base + noise) * scale_b
            cosine = _cosine(a, b)
            others = {int(np.argmin((a * b).sum(1))), int(np.argmax(np.linalg.norm(a - b, axis=1)))}
            if int(np.argmin(cosine)) not in others:  # so that a dot product or a distance fails
                cases.append((f"random, {layers + 1} rows of {hidden}", a.astype(np.float32), b.astype(np.float32)))
    out = []
    for name, a, b in cases:
        cosine = _cosine(a, b)
        accepted = frozenset(int(i) for i in np.flatnonzero(cosine <= cosine.min() + TIE))
        runner_up = np.sort(cosine)[len(accepted)] if len(cosine) > len(accepted) else np.inf
        assert runner_up - cosine.min() > 1e-4, name  # float32 learners must not flip the answer
        out.append((name, a, b, accepted))
    return out


@grader("most_different_layer", points=2, prepare=_layer_cases)
def grade_most_different_layer(learner_fn):
    """The index of the layer with the lowest cosine similarity: the named edge cases
    (LAYER_EDGE_CASES), then vectors whose lengths vary by layer; the inputs must come back unchanged."""
    cases = _layer_cases()
    if len(cases) < 4 + len(LAYER_EDGE_CASES):  # pragma: no cover - guards the seeded draw above
        raise RuntimeError("too few grading cases; change the seed")
    for name, a, b, accepted in cases:
        got = _call_with_arrays(learner_fn, name, ("vectors_a", a), ("vectors_b", b))
        if isinstance(got, (np.ndarray,)) and got.ndim == 0:
            got = got.item()
        if not isinstance(got, (int, np.integer)) or isinstance(got, bool):
            raise GradingError(f"case '{name}': return the layer number as an int, got {type(got).__name__}")
        got = int(got)
        if got in accepted:
            continue
        want = min(accepted)
        cosine = _cosine(a, b)
        expected = " or ".join(str(i) for i in sorted(accepted))
        measured = f"case '{name}': got {got}, expected {expected} (cosine {cosine[want]:.3f}"
        if not 0 <= got < len(cosine):
            measured += f"; there are {len(cosine)} rows, 0 to {len(cosine) - 1})"
        else:
            measured += f", at row {got}: {cosine[got]:.3f})"
        if got == want + 1:
            raise GradingError(f"{measured}; off by one: row 0 is layer 0 (the embedding layer), so return the row index")
        if got == int(np.argmax(cosine)):
            raise GradingError(f"{measured}; row {got} has the HIGHEST cosine: furthest apart = the LOWEST cosine "
                               "similarity, not the highest")
        if got == int(np.argmin(np.abs(cosine))):
            raise GradingError(f"{measured}; row {got} has the cosine closest to 0: the lowest cosine is the most "
                               "negative one, not the smallest in absolute value")
        if got in (int(np.argmin((a * b).sum(1))), int(np.argmax(np.linalg.norm(a - b, axis=1)))):
            raise GradingError(f"{measured}; row {got} has the lowest dot product or the largest distance: the "
                               "vectors' lengths differ from layer to layer: compare directions with the cosine similarity")
        raise GradingError(measured)


@wrong_answer("most_different_layer", hint="LOWEST")
def most_similar_layer(vectors_a, vectors_b):
    a, b = np.asarray(vectors_a), np.asarray(vectors_b)
    return int(np.argmax((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


@wrong_answer("most_different_layer", hint="cosine similarity")
def largest_distance(vectors_a, vectors_b):
    return int(np.argmax(np.linalg.norm(np.asarray(vectors_a) - np.asarray(vectors_b), axis=1)))


@wrong_answer("most_different_layer", hint="off by one")
def counting_layers_from_one(vectors_a, vectors_b):
    a, b = np.asarray(vectors_a), np.asarray(vectors_b)
    return int(np.argmin((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))) + 1


@wrong_answer("most_different_layer", hint="case 'answer is layer 0 (the embedding layer)': got")
def skipping_the_embedding_layer(vectors_a, vectors_b):
    # Searches the encoder layers only (rows 1..): never returns 0. Passed while no case's answer was 0.
    a, b = np.asarray(vectors_a, dtype=np.float64), np.asarray(vectors_b, dtype=np.float64)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return 1 + int(np.argmin(cosine[1:])) if len(cosine) > 1 else 0


@wrong_answer("most_different_layer", hint="case 'answer is the last layer': got")
def skipping_the_last_layer(vectors_a, vectors_b):
    # range(len - 1) instead of range(len): never returns the last row. The old cases rejected it
    # too, but with a hint about dot products; the named case says what happened.
    a, b = np.asarray(vectors_a, dtype=np.float64), np.asarray(vectors_b, dtype=np.float64)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return int(np.argmin(cosine[:-1])) if len(cosine) > 1 else 0


@wrong_answer("most_different_layer", hint="smallest in absolute value")
def lowest_absolute_cosine(vectors_a, vectors_b):
    # Treats a cosine near 0 as "furthest apart"; passed while every case's cosines were positive.
    a, b = np.asarray(vectors_a, dtype=np.float64), np.asarray(vectors_b, dtype=np.float64)
    return int(np.argmin(np.abs((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))))


@wrong_answer("most_different_layer", hint="changed its input vectors_a")
def normalising_in_place(vectors_a, vectors_b):
    # Right index, but it normalises the caller's arrays in place.
    vectors_a /= np.linalg.norm(vectors_a, axis=1, keepdims=True)
    vectors_b /= np.linalg.norm(vectors_b, axis=1, keepdims=True)
    return int(np.argmin((vectors_a * vectors_b).sum(1)))


@right_answer("most_different_layer", why="argmax of the cosine distance 1 - cosine, float32 arithmetic")
def largest_cosine_distance(vectors_a, vectors_b):
    a, b = np.asarray(vectors_a), np.asarray(vectors_b)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.argmax(1.0 - (a * b).sum(axis=1))  # a NumPy integer, not an int


@right_answer("most_different_layer", why="a loop over the rows with Python floats")
def loop_over_layers(vectors_a, vectors_b):
    best, best_cosine = 0, float("inf")
    for i, (a, b) in enumerate(zip(vectors_a, vectors_b)):
        cosine = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
        if cosine < best_cosine:
            best, best_cosine = i, cosine
    return best


@right_answer("most_different_layer", why="TensorFlow's cosine similarity (tf.keras.losses, negated)")
def with_tf_cosine_similarity(vectors_a, vectors_b):
    import tensorflow as tf

    # tf.keras.losses.cosine_similarity returns -cosine: the largest value is the lowest cosine.
    negated = tf.keras.losses.cosine_similarity(tf.constant(vectors_a, tf.float64), tf.constant(vectors_b, tf.float64), axis=1)
    return int(tf.argmax(negated))


# ---------------------------------------------------------------------------------------
# scaled_dot_product_attention(queries, keys, values, attention_mask) -> (context, probabilities)
# ---------------------------------------------------------------------------------------
def _attention_reference(q, k, v, mask):
    """float64 NumPy reference: softmax(Q K^T / sqrt(d) with padded keys excluded) V."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    scores = np.where(mask[:, None, None, :] > 0, scores, -np.inf)
    probabilities = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    return probabilities @ v, probabilities


# Named edge cases: (name, heads, d_head, mask rows as strings of 0/1, dtype of the mask).
# A row with no real key at all has no softmax (every score -1e9): the exercise does not
# define it, so no case has one. The inputs are TensorFlow tensors, which cannot be modified.
ATTENTION_EDGE_CASES = [
    ("batch of one, no padding", 2, 8, ["111111"], np.int32),
    ("mask with a hole", 2, 8, ["110111", "111101"], np.int32),
    ("left padding", 3, 4, ["0011111", "0000111"], np.int32),
    ("a single real key", 2, 6, ["00100", "10000"], np.int32),
    ("length one", 2, 4, ["1", "1"], np.int32),
    ("one head, odd d_head 5", 1, 5, ["1111100", "1110000"], np.int32),
    ("d_head 1", 2, 1, ["11110", "11111"], np.int32),
    ("float32 mask", 2, 8, ["111100", "101111"], np.float32),
]


def _attention_case(rng, name, heads, d_head, mask):
    batch, length = mask.shape
    q, k, v = (rng.normal(size=(batch, heads, length, d_head)).astype(np.float32) * 2.0 for _ in range(3))
    padded = np.broadcast_to((mask == 0)[:, None, :, None], k.shape)
    k[padded] += 3.0  # padded keys score high: masking them must matter
    want_context, want_p = _attention_reference(*(x.astype(np.float64) for x in (q, k, v)), mask.astype(np.float64))
    return name, q, k, v, mask, want_context, want_p


@functools.lru_cache(maxsize=1)
def _attention_cases():
    """(name, q, k, v, mask, expected context, expected probabilities): the named edge cases, then
    random (batch, heads, length, d_head) inputs with padded rows; keys and values at padded
    positions are large, as in a real batch where padding tokens also get vectors."""
    rng = np.random.default_rng(3030)
    cases = []
    for name, heads, d_head, rows, dtype in ATTENTION_EDGE_CASES:
        mask = np.array([[int(c) for c in row] for row in rows], dtype=dtype)
        cases.append(_attention_case(rng, name, heads, d_head, mask))
    for batch, heads, length, d_head in [(2, 3, 7, 8), (3, 2, 5, 16), (1, 4, 6, 64)]:
        lengths = rng.integers(2, length, size=batch)
        lengths[0] = length  # one row without padding
        mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.int32)
        cases.append(_attention_case(rng, f"random, right-padded {(batch, heads, length, d_head)}", heads, d_head, mask))
    return cases


@functools.lru_cache(maxsize=1)
def _real_attention_case():
    """Queries, keys, values of layer 0 of the course's model on a real padded batch, and the model's own attention."""
    from bertlab import encoder
    from bertlab.preprocessing import get_inputs

    model = encoder.load_model()
    config = model.config
    inputs = get_inputs(["The river bank was muddy.", "Money in the bank."], padding="longest", names="transformers")
    inputs = {key: np.asarray(inputs[key]) for key in ("input_ids", "attention_mask", "token_type_ids")}
    outputs = model(inputs, output_hidden_states=True, output_attentions=True)
    weights = encoder.encoder_layer_weights(model, 0)
    hidden = outputs.hidden_states[0].numpy()
    q, k, v = (encoder.split_heads(hidden @ weights[name] + weights[name + "_bias"], config.num_attention_heads).numpy()
               for name in ("query", "key", "value"))
    return q, k, v, inputs["attention_mask"], outputs.attentions[0].numpy()


def _attention_hint(got_p, q, k, v, mask):
    """Which classic wrong version the probabilities equal (measured), else the formula."""
    scale = np.sqrt(q.shape[-1])
    raw = q.astype(np.float64) @ np.swapaxes(k, -1, -2).astype(np.float64)
    mask = np.asarray(mask, dtype=np.float64)

    def softmax(x, axis=-1):
        x = x - np.max(x, axis=axis, keepdims=True)
        e = np.exp(x)
        return e / e.sum(axis=axis, keepdims=True)

    def same(p):
        return got_p.shape == p.shape and np.allclose(got_p, p, atol=1e-4)

    keys_masked = np.where(mask[:, None, None, :] > 0, 0.0, -1e9)
    if scale != 1 and same(softmax(raw + keys_masked)):
        return "divide the scores by sqrt(d_head) (the size of the last axis) before the softmax"
    if same(softmax(raw / scale)):
        # Masking the queries (the wrong axis) shifts whole softmax rows, so it has no effect either.
        return ("the padding mask had no effect: add a large negative number to the scores of padded keys "
                "(the last axis; masking the queries changes nothing)")
    if same(softmax(raw / scale + np.where(mask[:, None, None, :] > 0, -1e9, 0.0))):
        return "the mask has the wrong sign: the large negative number goes where attention_mask is 0 (padding)"
    if same(softmax(raw / scale + keys_masked, axis=-2)):
        return "take the softmax over the last axis (the keys), so that each query's weights sum to 1"
    return "probabilities = softmax(Q K^T / sqrt(d_head) + mask) over the keys, with padded keys masked out"


def _measured(name, got_p, want_p, mask):
    """What differs, as numbers: the weight on a masked key, or the largest difference."""
    where = f"case '{name}' (attention_mask {' '.join(''.join(str(int(m)) for m in row) for row in mask)})"
    masked = np.broadcast_to((mask == 0)[:, None, None, :], want_p.shape)
    if masked.any() and np.abs(got_p[masked]).max() > 1e-4:
        at = np.argwhere(masked & (np.abs(got_p) > 1e-4))[0]
        b, h, i, j = (int(x) for x in at)
        return (f"{where}: probability {got_p[b, h, i, j]:.3f} on key {j}, where attention_mask[{b}] is 0 "
                f"(batch {b}, head {h}, query {i}), expected 0")
    b, h, i, j = (int(x) for x in np.unravel_index(np.argmax(np.abs(got_p - want_p)), want_p.shape))
    return f"{where}: probability[{b}, {h}, {i}, {j}] = {got_p[b, h, i, j]:.4f}, expected {want_p[b, h, i, j]:.4f}"


def _prepare_attention():
    return _attention_cases(), _real_attention_case()


@grader("scaled_dot_product_attention", points=2, prepare=_prepare_attention,
        uses=["bertlab.encoder.scaled_dot_product_attention"])
def grade_scaled_dot_product_attention(learner_fn):
    """Context and probabilities on the named edge cases (ATTENTION_EDGE_CASES), on random padded
    inputs, then the model's own attention on a real sentence pair."""
    import tensorflow as tf

    for name, q, k, v, mask, want_context, want_p in _attention_cases():
        got = learner_fn(tf.constant(q), tf.constant(k), tf.constant(v), tf.constant(mask))
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise GradingError(f"case '{name}': return two things: (context, probabilities), got {type(got).__name__}")
        got_context, got_p = _to_numpy(got[0]), _to_numpy(got[1])
        if got_p.shape != want_p.shape:
            raise GradingError(f"case '{name}': probabilities for inputs of shape {q.shape} are (batch, heads, length, "
                               f"length) = {want_p.shape}, got {got_p.shape}")
        if not np.allclose(got_p, want_p, atol=1e-4):
            raise GradingError(f"{_measured(name, got_p, want_p, mask)}; {_attention_hint(got_p, q, k, v, mask)}")
        if got_context.shape != want_context.shape or not np.allclose(got_context, want_context, atol=1e-3):
            raise GradingError(f"case '{name}': the probabilities are right; the context is not probabilities @ values "
                               f"of shape (batch, heads, length, d_head) = {want_context.shape} (got shape {got_context.shape})")
    q, k, v, mask, model_p = _real_attention_case()
    got_p = _to_numpy(learner_fn(tf.constant(q), tf.constant(k), tf.constant(v), tf.constant(mask))[1])
    if got_p.shape != model_p.shape or not np.allclose(got_p, model_p, atol=1e-4):
        raise GradingError("case 'the model's layer 0 on a real sentence pair': right on random inputs but not on the "
                           "model's real queries and keys: " + _attention_hint(got_p, q, k, v, mask))


def _wrong_attention(q, k, v, mask, *, scale=True, mask_sign=-1.0, mask_axis="keys", softmax_axis=-1, use_mask=True):
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    mask = np.asarray(mask, dtype=np.float64)
    scores = q @ np.swapaxes(k, -1, -2) / (np.sqrt(q.shape[-1]) if scale else 1.0)
    if use_mask:
        where = mask[:, None, None, :] if mask_axis == "keys" else mask[:, None, :, None]
        padding = (1.0 - where) if mask_sign < 0 else where
        scores = scores + padding * -1e9
    scores = scores - scores.max(axis=softmax_axis, keepdims=True)
    probabilities = np.exp(scores) / np.exp(scores).sum(axis=softmax_axis, keepdims=True)
    return probabilities @ v, probabilities


@wrong_answer("scaled_dot_product_attention", hint="sqrt(d_head)")
def attention_without_scaling(queries, keys, values, attention_mask):
    return _wrong_attention(queries, keys, values, attention_mask, scale=False)


@wrong_answer("scaled_dot_product_attention", hint="mask had no effect")
def attention_without_the_mask(queries, keys, values, attention_mask):
    return _wrong_attention(queries, keys, values, attention_mask, use_mask=False)


@wrong_answer("scaled_dot_product_attention", hint="wrong sign")
def attention_with_the_mask_inverted(queries, keys, values, attention_mask):
    return _wrong_attention(queries, keys, values, attention_mask, mask_sign=1.0)


@wrong_answer("scaled_dot_product_attention", hint="masking the queries")
def attention_masking_the_queries(queries, keys, values, attention_mask):
    return _wrong_attention(queries, keys, values, attention_mask, mask_axis="queries")


@wrong_answer("scaled_dot_product_attention", hint="last axis")
def attention_softmax_over_the_queries(queries, keys, values, attention_mask):
    return _wrong_attention(queries, keys, values, attention_mask, softmax_axis=-2)


@wrong_answer("scaled_dot_product_attention", hint="case 'mask with a hole' (attention_mask 110111 111101): probability")
def attention_masking_keys_after_the_length(queries, keys, values, attention_mask):
    # Turns the mask into a length (its sum) and masks the keys after it: right for right-padded
    # masks, the only ones the cases had, wrong where the mask has a hole or left padding.
    mask = np.asarray(attention_mask, dtype=np.float64)
    lengths = mask.sum(axis=1, keepdims=True)
    as_prefix = (np.arange(mask.shape[1])[None, :] < lengths).astype(np.float64)
    return _wrong_attention(queries, keys, values, as_prefix)


@right_answer("scaled_dot_product_attention", why="tf.einsum and tf.where on a boolean mask")
def attention_with_einsum(queries, keys, values, attention_mask):
    import tensorflow as tf

    d_head = tf.cast(tf.shape(queries)[-1], tf.float32)
    scores = tf.einsum("bhqd,bhkd->bhqk", queries, keys) / tf.sqrt(d_head)
    real = tf.cast(attention_mask, tf.bool)[:, None, None, :]
    probabilities = tf.nn.softmax(tf.where(real, scores, -1e9), axis=-1)
    return tf.einsum("bhqk,bhkd->bhqd", probabilities, values), probabilities


@right_answer("scaled_dot_product_attention", why="-10000 for padded keys, as the original BERT code; a list")
def attention_as_original_bert(queries, keys, values, attention_mask):
    import tensorflow as tf

    scores = tf.matmul(queries, keys, transpose_b=True) * (1.0 / float(queries.shape[-1]) ** 0.5)
    adder = (1.0 - tf.cast(attention_mask[:, None, None, :], tf.float32)) * -10000.0
    probabilities = tf.nn.softmax(scores + adder)
    return [tf.matmul(probabilities, values), probabilities]


@right_answer("scaled_dot_product_attention", why="NumPy float64 arithmetic on the tensors' values")
def attention_in_numpy(queries, keys, values, attention_mask):
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (queries, keys, values))
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    scores = scores + (1.0 - np.asarray(attention_mask, dtype=np.float64))[:, None, None, :] * -1e9
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probabilities = e / e.sum(axis=-1, keepdims=True)
    return probabilities @ v, probabilities
