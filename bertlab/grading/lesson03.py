"""Graders for lesson 03 "Encoder outputs": the layer where two meanings of a word are furthest
apart, masked scaled dot-product attention, masked mean pooling.

They grade functions on seeded, varied NumPy arrays shaped like the encoder's tensors (the
attention exercise gets TensorFlow tensors, as the lesson passes them); the attention grader
also compares with the embedded model's own attention on a real sentence pair. Cases and
expected answers are computed once, before any learner code.
"""
from __future__ import annotations

import functools

import numpy as np

from bertlab.grading.core import GradingError, grader, wrong_answer


def _to_numpy(value):
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)


# ---------------------------------------------------------------------------------------
# masked_mean_pool(sequence_output, input_mask) -> (batch, hidden)
# ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _pool_cases():
    """(states, mask, expected mean) per case."""
    rng = np.random.default_rng(303)
    cases = []
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
        weights = mask[:, :, None].astype(np.float64)
        cases.append((states, mask, (states * weights).sum(axis=1) / weights.sum(axis=1)))
    return cases


@grader("masked_mean_pool", points=2, prepare=_pool_cases,
        uses=["bertlab.encoder.masked_mean_pool", "bertlab.finetuning.masked_mean"])
def grade_masked_mean_pool(learner_fn):
    """The mean over positions where the mask is 1, for padded and randomly masked batches."""
    for states, mask, want in _pool_cases():
        got = _to_numpy(learner_fn(states.copy(), mask.copy()))
        weights = mask[:, :, None].astype(np.float64)
        if got.shape != want.shape:
            raise GradingError(f"for sequence_output of shape {states.shape} return (batch, hidden) = {want.shape}, "
                               f"got {got.shape}: average over axis 1, the tokens")
        if np.allclose(got, want, rtol=1e-4, atol=1e-4):
            continue
        if np.allclose(got, states.mean(axis=1), atol=1e-3):
            raise GradingError("the padding positions were averaged in: weight each position by input_mask")
        if np.allclose(got, (states * weights).sum(axis=1) / states.shape[1], atol=1e-3):
            raise GradingError("divide by the number of real tokens (the sum of input_mask per row), not by the padded length")
        if not np.allclose(mask, np.sort(mask, axis=1)[:, ::-1]):
            raise GradingError("with this mask the real tokens are not all at the start: use input_mask as weights, "
                               "not a length to slice by")
        raise GradingError("sum sequence_output * input_mask over the tokens and divide by the sum of input_mask")


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


# ---------------------------------------------------------------------------------------
# most_different_layer(vectors_a, vectors_b) -> int (0 = embedding layer)
# ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _layer_cases():
    """Word vectors per layer (layers + 1, hidden) for two uses of a word. The vectors change
    length from layer to layer, so the lowest dot product and the largest distance point to
    other layers than the lowest cosine similarity."""
    rng = np.random.default_rng(3003)
    cases = []
    for layers, hidden in [(6, 16), (12, 32), (4, 8), (12, 768)]:
        for _ in range(5):
            base = rng.normal(size=(layers + 1, hidden))
            noise = rng.normal(size=(layers + 1, hidden)) * rng.uniform(0.1, 1.5, size=(layers + 1, 1))
            scale_a = rng.uniform(0.5, 8.0, size=(layers + 1, 1))
            scale_b = rng.uniform(0.5, 8.0, size=(layers + 1, 1))
            a, b = base * scale_a, (base + noise) * scale_b
            cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            others = {int(np.argmin((a * b).sum(1))), int(np.argmax(np.linalg.norm(a - b, axis=1)))}
            if int(np.argmin(cosine)) not in others and int(np.argmin(cosine)) != 0:
                cases.append((a.astype(np.float32), b.astype(np.float32), int(np.argmin(cosine))))
    return cases


@grader("most_different_layer", points=2, prepare=_layer_cases)
def grade_most_different_layer(learner_fn):
    """The index of the layer with the lowest cosine similarity, on vectors whose lengths vary by layer."""
    cases = _layer_cases()
    if len(cases) < 4:  # pragma: no cover - guards the seeded draw above
        raise RuntimeError("too few grading cases; change the seed")
    for a, b, want in cases:
        got = learner_fn(a.copy(), b.copy())
        if isinstance(got, (np.ndarray,)) and got.ndim == 0:
            got = got.item()
        if not isinstance(got, (int, np.integer)) or isinstance(got, bool):
            raise GradingError(f"return the layer number as an int, got {type(got).__name__}")
        got = int(got)
        if got == want:
            continue
        cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        if got == want + 1:
            raise GradingError("off by one: row 0 is layer 0 (the embedding layer), so return the row index")
        if got == int(np.argmax(cosine)):
            raise GradingError("furthest apart = the LOWEST cosine similarity, not the highest")
        if got in (int(np.argmin((a * b).sum(1))), int(np.argmax(np.linalg.norm(a - b, axis=1)))):
            raise GradingError("the vectors' lengths differ from layer to layer: compare directions with the cosine "
                               "similarity, not dot products or distances")
        raise GradingError(f"expected layer {want} (cosine {cosine[want]:.3f}), got {got} (cosine {cosine[got]:.3f})")


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


@functools.lru_cache(maxsize=1)
def _attention_cases():
    """(q, k, v, mask, expected context, expected probabilities): random (batch, heads, length, d_head) inputs with padded rows; keys and values at padded positions are large,
    as in a real batch where padding tokens also get vectors."""
    rng = np.random.default_rng(3030)
    cases = []
    for batch, heads, length, d_head in [(2, 3, 7, 8), (3, 2, 5, 16), (1, 4, 6, 64)]:
        q, k, v = (rng.normal(size=(batch, heads, length, d_head)).astype(np.float32) * 2.0 for _ in range(3))
        lengths = rng.integers(2, length, size=batch)
        lengths[0] = length  # one row without padding
        mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.int32)
        k[mask[:, None, :, None].repeat(heads, 1).repeat(d_head, 3) == 0] += 3.0
        want_context, want_p = _attention_reference(*(x.astype(np.float64) for x in (q, k, v)), mask)
        cases.append((q, k, v, mask, want_context, want_p))
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
    """Name the mistake behind wrong probabilities, by comparing them with the classic wrong versions."""
    scale = np.sqrt(q.shape[-1])
    raw = q.astype(np.float64) @ np.swapaxes(k, -1, -2).astype(np.float64)

    def softmax(x, axis=-1):
        x = x - np.max(x, axis=axis, keepdims=True)
        e = np.exp(x)
        return e / e.sum(axis=axis, keepdims=True)

    keys_masked = np.where(mask[:, None, None, :] > 0, 0.0, -1e9)
    if np.allclose(got_p, softmax(raw + keys_masked), atol=1e-4):
        return "divide the scores by sqrt(d_head) (the size of the last axis) before the softmax"
    if np.allclose(got_p, softmax(raw / scale), atol=1e-4):
        # Masking the queries (the wrong axis) shifts whole softmax rows, so it has no effect either.
        return ("the padding mask had no effect: add a large negative number to the scores of padded keys "
                "(the last axis; masking the queries changes nothing)")
    if np.allclose(got_p, softmax(raw / scale + np.where(mask[:, None, None, :] > 0, -1e9, 0.0)), atol=1e-4):
        return "the mask has the wrong sign: the large negative number goes where attention_mask is 0 (padding)"
    if np.allclose(got_p, softmax(raw / scale + keys_masked, axis=-2), atol=1e-4):
        return "take the softmax over the last axis (the keys), so that each query's weights sum to 1"
    return "probabilities = softmax(Q K^T / sqrt(d_head) + mask) over the keys, with padded keys masked out"


def _prepare_attention():
    return _attention_cases(), _real_attention_case()


@grader("scaled_dot_product_attention", points=2, prepare=_prepare_attention,
        uses=["bertlab.encoder.scaled_dot_product_attention"])
def grade_scaled_dot_product_attention(learner_fn):
    """Context and probabilities on random padded inputs, then the model's own attention on a real sentence pair."""
    import tensorflow as tf

    for q, k, v, mask, want_context, want_p in _attention_cases():
        got = learner_fn(tf.constant(q), tf.constant(k), tf.constant(v), tf.constant(mask))
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise GradingError("return two things: (context, probabilities)")
        got_context, got_p = _to_numpy(got[0]), _to_numpy(got[1])
        if got_p.shape != want_p.shape:
            raise GradingError(f"probabilities for inputs of shape {q.shape} are (batch, heads, length, length) = "
                               f"{want_p.shape}, got {got_p.shape}")
        if not np.allclose(got_p, want_p, atol=1e-4):
            raise GradingError(_attention_hint(got_p, q, k, v, mask))
        if got_context.shape != want_context.shape or not np.allclose(got_context, want_context, atol=1e-3):
            raise GradingError("the probabilities are right; the context is probabilities @ values, "
                               f"shape (batch, heads, length, d_head) = {want_context.shape}")
    q, k, v, mask, model_p = _real_attention_case()
    got_p = _to_numpy(learner_fn(tf.constant(q), tf.constant(k), tf.constant(v), tf.constant(mask))[1])
    if got_p.shape != model_p.shape or not np.allclose(got_p, model_p, atol=1e-4):
        raise GradingError("right on random inputs but not on the model's real queries and keys: "
                           + _attention_hint(got_p, q, k, v, mask))


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
