"""Graders for lesson 03 "Encoder outputs": masked mean pooling, a cosine-similarity matrix,
the layer where two meanings of a word are furthest apart.

All three grade NumPy functions on seeded, varied NumPy arrays shaped like the encoder's
outputs (the lesson passes NumPy arrays, so a plain NumPy answer is right); each runs in well
under a second. Cases and expected answers are computed once, before any learner code.
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
# cosine_similarity_matrix(a, b) -> (len(a), len(b))
# ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _cosine_cases():
    """(a, b, expected matrix) per case."""
    rng = np.random.default_rng(33)
    cases = []
    for n, m, dim in [(4, 4, 8), (3, 5, 16), (6, 2, 384)]:
        a = (rng.normal(size=(n, dim)) * rng.uniform(0.2, 5.0, size=(n, 1))).astype(np.float32)  # varied lengths
        b = (rng.normal(size=(m, dim)) * rng.uniform(0.2, 5.0, size=(m, 1))).astype(np.float32)
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        want = (a64 / np.linalg.norm(a64, axis=1, keepdims=True)) @ (b64 / np.linalg.norm(b64, axis=1, keepdims=True)).T
        cases.append((a, b, want))
    return cases


@grader("cosine_similarity_matrix", points=2, prepare=_cosine_cases,
        uses=["bertlab.encoder.cosine_similarity_matrix", "sklearn.metrics.pairwise.cosine_similarity"])
def grade_cosine_similarity_matrix(learner_fn):
    """Every row of a against every row of b, for vectors of varied lengths and sizes."""
    for a, b, want in _cosine_cases():
        got = _to_numpy(learner_fn(a.copy(), b.copy()))
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        an = a64 / np.linalg.norm(a64, axis=1, keepdims=True)
        bn = b64 / np.linalg.norm(b64, axis=1, keepdims=True)
        if got.shape != want.shape:
            hint = " (did you compare a with itself?)" if got.shape == (len(a), len(a)) else ""
            raise GradingError(f"for a of {a.shape[0]} rows and b of {b.shape[0]} rows return shape {want.shape}, "
                               f"got {got.shape}{hint}")
        if np.allclose(got, want, atol=1e-4):
            continue
        if np.allclose(got, a64 @ b64.T, rtol=1e-3):
            raise GradingError("that is the dot product: divide each vector by its length (norm) first")
        if np.allclose(got, an @ b64.T, rtol=1e-3) or np.allclose(got, a64 @ bn.T, rtol=1e-3):
            raise GradingError("normalize both a and b (each row to length 1), not just one of them")
        raise GradingError("cosine similarity = dot(x, y) / (|x| |y|); values lie in [-1, 1]")


@wrong_answer("cosine_similarity_matrix", hint="dot product")
def dot_products(a, b):
    return np.asarray(a) @ np.asarray(b).T


@wrong_answer("cosine_similarity_matrix", hint="both a and b")
def normalize_only_a(a, b):
    a = np.asarray(a)
    return (a / np.linalg.norm(a, axis=1, keepdims=True)) @ np.asarray(b).T


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
