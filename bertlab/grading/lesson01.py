"""Graders for lesson 01 "Installation": counting one encoder block's and the whole BERT's
parameters, and feeding its input layers.

The graders build small keras-bert models from seeded, varied configurations (a few
seconds on a CPU) and compare the learner's answer with what Keras reports.

Beside those, each grader has NAMED edge cases chosen from its exercise's definition, in the
module-level lists ``COUNT_EDGE_CASES``, ``BLOCK_EDGE_CASES`` and ``DUMMY_EDGE_CASES``: sizes of 1,
a feed-forward layer narrower than the hidden one, as many heads as hidden units, one argument
changed at a time, inputs of different lengths, a single input, a batch of one. Their expected
counts come from the exercise's formula (``_reference_count``, ``_reference_block``), so that no
keras-bert model is built for them while grading; tests/test_grader_cases_01_03.py checks every
one against keras-bert's count. A hint starts with the case's name and what was measured.
"""
from __future__ import annotations

import functools
import itertools
import warnings

import numpy as np

from bertlab.grading.core import GradingError, built, grader, right_answer, wrong_answer

# Small configurations (vocab, hidden, heads, layers, feed-forward, max positions), drawn once
# from a seeded generator so every run grades the same varied set; a hard-coded number or a
# formula that only fits BERT-base cannot pass all of them.
_RNG = np.random.default_rng(2026)


def _draw_config(rng) -> dict:
    heads = int(rng.choice([1, 2, 4]))
    return dict(
        vocab_size=int(rng.integers(50, 400)),
        hidden_size=heads * int(rng.integers(4, 13)),
        num_heads=heads,
        num_layers=int(rng.integers(1, 4)),
        ff_size=int(rng.integers(16, 129)),
        max_positions=int(rng.integers(16, 129)),
    )


COUNT_CONFIGS = [_draw_config(_RNG) for _ in range(3)]


@functools.lru_cache(maxsize=None)
def _keras_bert_count(vocab_size, hidden_size, num_heads, num_layers, ff_size, max_positions) -> int:
    """count_params() of keras-bert's pretraining model (MLM + NSP heads) for one configuration."""
    from keras_bert import get_model

    with warnings.catch_warnings():  # keras-bert's unseeded-initializer warning is noise here
        warnings.simplefilter("ignore")
        model = get_model(
            token_num=vocab_size,
            pos_num=max_positions,
            seq_len=max_positions,
            embed_dim=hidden_size,
            transformer_num=num_layers,
            head_num=num_heads,
            feed_forward_dim=ff_size,
        )
    return int(model.count_params())


def _learner_args(config: dict) -> dict:
    return {k: v for k, v in config.items() if k != "num_heads"}


def _candidate_terms(V, H, L, F, P) -> dict[str, int]:
    """Pieces a count can miss or add twice, for the hint. Equal-sized pieces share a name."""
    heads = (H * H + H) + 2 * H + V + (H * H + H) + (2 * H + 2)
    return {
        "the MLM output bias (one per vocabulary token)": V,
        "the token embedding (vocab_size × hidden_size)": V * H,
        "the position embedding (max_positions × hidden_size)": P * H,
        "2 × hidden_size: the segment embedding or a LayerNorm (gamma, beta)": 2 * H,
        "4 × hidden_size per layer: the attention biases or the blocks' LayerNorms": 4 * H * L,
        "the attention output projection (hidden_size² + hidden_size per layer)": L * (H * H + H),
        "all attention projections (4 × (hidden_size² + hidden_size) per layer)": 4 * L * (H * H + H),
        "the feed-forward biases (ff_size + hidden_size per layer)": L * (F + H),
        "the feed-forward layers (2 × hidden_size × ff_size + ff_size + hidden_size per layer)": L * (2 * H * F + F + H),
        "the pretraining heads (MLM and NSP)": heads,
        "the NSP head (pooler and classifier)": (H * H + H) + (2 * H + 2),
        "the MLM head (transform, LayerNorm and output bias)": (H * H + H) + 2 * H + V,
        "one hidden_size × hidden_size dense layer (MLM transform or NSP pooler)": H * H + H,
    }


def _diagnose(cases: list[tuple[dict, int, int]]) -> str | None:
    """Name the piece(s) whose size equals expected - answer in every configuration."""
    terms = [_candidate_terms(c["vocab_size"], c["hidden_size"], c["num_layers"], c["ff_size"], c["max_positions"])
             for c, _, _ in cases]
    names = list(terms[0])
    diffs = [expected - got for _, expected, got in cases]
    for size in (1, 2):
        for combo in itertools.combinations(names, size):
            for sign in (1, -1):
                if all(sign * sum(t[n] for n in combo) == d for t, d in zip(terms, diffs)):
                    what = " and ".join(combo)
                    return f"missing {what}" if sign > 0 else f"counted in excess: {what}"
    return None


def _describe(config: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in _learner_args(config).items())


def _config(vocab_size, hidden_size, num_heads, num_layers, ff_size, max_positions) -> dict:
    return dict(vocab_size=vocab_size, hidden_size=hidden_size, num_heads=num_heads, num_layers=num_layers,
                ff_size=ff_size, max_positions=max_positions)


_BASE = _config(100, 8, 2, 2, 32, 16)
# Named edge cases: (name, configuration). One argument at a time from _BASE shows that each
# argument has its effect; the others are the smallest and the lopsided sizes.
COUNT_EDGE_CASES = [
    ("the base configuration", _BASE),
    ("vocab_size + 1", {**_BASE, "vocab_size": 101}),
    ("hidden_size + 2", {**_BASE, "hidden_size": 10}),
    ("num_layers + 1", {**_BASE, "num_layers": 3}),
    ("ff_size + 1", {**_BASE, "ff_size": 33}),
    ("max_positions + 1", {**_BASE, "max_positions": 17}),
    ("every size 1 or 2: hidden 1, one layer", _config(30, 1, 1, 1, 2, 2)),
    ("four layers, ff_size and vocab_size smaller than hidden_size, 512 positions", _config(5, 12, 3, 4, 6, 512)),
]


def _prepare_counts():
    """(name, configuration, expected) for the random configurations (keras-bert) and the named ones (formula)."""
    cases = [(f"random configuration {i + 1}", config, _keras_bert_count(**config)) for i, config in enumerate(COUNT_CONFIGS)]
    return cases + [(name, config, _reference_count(**_learner_args(config))) for name, config in COUNT_EDGE_CASES]


@grader("count_bert_parameters", points=3, prepare=_prepare_counts, uses=["keras_bert.get_model"])
def grade_count_bert_parameters(learner_fn):
    """Match keras-bert's count_params() (pretraining model) on seeded small configurations and
    on the named edge cases (COUNT_EDGE_CASES)."""
    cases = []
    for name, config, expected in _prepare_counts():
        got = learner_fn(**_learner_args(config))
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, np.integer)):
            raise GradingError(f"case '{name}': return the count as an int, got {type(got).__name__} {got!r}")
        cases.append((name, config, expected, int(got)))
    wrong = [case for case in cases if case[2] != case[3]]
    if not wrong:
        return
    name, config, expected, got = wrong[0]
    diagnosis = _diagnose([case[1:] for case in cases]) or "compare your terms with the layer-by-layer counts of model.summary()"
    raise GradingError(f"case '{name}' ({_describe(config)}): expected {expected:,}, got {got:,}; {diagnosis}")


def _reference_count(vocab_size, hidden_size, num_layers, ff_size, max_positions):
    """The exercise's formula: the expected count of the named cases, and the base of the wrong answers below."""
    H, F = hidden_size, ff_size
    embeddings = vocab_size * H + 2 * H + max_positions * H + 2 * H
    block = 4 * (H * H + H) + 2 * H + (H * F + F + F * H + H) + 2 * H
    heads = (H * H + H) + 2 * H + vocab_size + (H * H + H) + (2 * H + 2)
    return embeddings + num_layers * block + heads


@wrong_answer("count_bert_parameters", hint="MLM output bias")
def count_without_mlm_output_bias(vocab_size, hidden_size, num_layers, ff_size, max_positions):
    # Believes the tied output layer adds nothing at all (it reuses the weights, not the bias).
    return _reference_count(vocab_size, hidden_size, num_layers, ff_size, max_positions) - vocab_size


@wrong_answer("count_bert_parameters", hint="pretraining heads")
def count_encoder_only(vocab_size, hidden_size, num_layers, ff_size, max_positions):
    H = hidden_size
    heads = (H * H + H) + 2 * H + vocab_size + (H * H + H) + (2 * H + 2)
    return _reference_count(vocab_size, hidden_size, num_layers, ff_size, max_positions) - heads


@wrong_answer("count_bert_parameters", hint="attention output projection")
def count_three_attention_projections(vocab_size, hidden_size, num_layers, ff_size, max_positions):
    # Counts Q, K and V but forgets the projection that recombines the heads.
    H = hidden_size
    return _reference_count(vocab_size, hidden_size, num_layers, ff_size, max_positions) - num_layers * (H * H + H)


@wrong_answer("count_bert_parameters", hint="return the count as an int")
def count_as_float(vocab_size, hidden_size, num_layers, ff_size, max_positions):
    return float(_reference_count(vocab_size, hidden_size, num_layers, ff_size, max_positions))


# ---------------------------------------------------------------------------------------
# encoder_block_parameters(hidden_size, ff_size, num_heads): one Transformer encoder block.
# ---------------------------------------------------------------------------------------
_BLOCK_RNG = np.random.default_rng(101)  # its own generator: the other exercises' configurations stay as they were
BLOCK_CONFIGS = [(int(h) * int(_BLOCK_RNG.integers(4, 13)), int(_BLOCK_RNG.integers(16, 129)), int(h))
                 for h in _BLOCK_RNG.choice([2, 3, 4], size=3)]


@functools.lru_cache(maxsize=None)
def _keras_bert_block_count(hidden_size: int, ff_size: int, num_heads: int) -> int:
    """Parameters of the layers of keras-bert's first encoder block (``Encoder-1-*``) for one configuration."""
    from keras_bert import get_model

    from bertlab.installation import summary_by_group

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = get_model(token_num=30, pos_num=16, seq_len=16, embed_dim=hidden_size, transformer_num=1,
                          head_num=num_heads, feed_forward_dim=ff_size)
    return int(summary_by_group(model).loc["Encoder-1", "parameters"])


def _block_terms(H: int, F: int, heads: int) -> dict[str, int]:
    """Pieces of one block an answer can miss (positive) or add in excess, for the hint."""
    return {
        "the biases (4 × hidden_size for attention, ff_size + hidden_size for the feed-forward layers)": 4 * H + F + H,
        "the two LayerNorms (a scale and a shift per hidden unit each: 4 × hidden_size)": 4 * H,
        "the attention output projection (hidden_size² + hidden_size)": H * H + H,
        "one of the two feed-forward layers (hidden_size × ff_size plus its bias)": H * F + F,
        "the heads: they split hidden_size between them and add no parameters": -(heads - 1) * 4 * (H * H + H),
    }


# Named edge cases: (name, hidden_size, ff_size, num_heads).
BLOCK_EDGE_CASES = [
    ("one head", 8, 16, 1),
    ("as many heads as hidden units (d_head 1)", 4, 8, 4),
    ("ff_size smaller than hidden_size", 24, 8, 2),
    ("ff_size equal to hidden_size", 12, 12, 3),
    ("hidden size 1", 1, 3, 1),
    ("the same sizes with 1, 2 and 8 heads: 8 heads", 16, 40, 8),
    ("the same sizes with 1, 2 and 8 heads: 2 heads", 16, 40, 2),
    ("the same sizes with 1, 2 and 8 heads: 1 head", 16, 40, 1),
]


@functools.lru_cache(maxsize=1)
def _block_cases():
    """(name, hidden, feed-forward, heads, expected count): BERT-base's published block, keras-bert's
    on small sizes, then the named edge cases (the exercise's formula)."""
    return ([("BERT-base (768, 3072, 12 heads)", 768, 3072, 12, 7_087_872)]
            + [(f"random configuration {i + 1}", H, F, heads, _keras_bert_block_count(H, F, heads))
               for i, (H, F, heads) in enumerate(BLOCK_CONFIGS)]
            + [(name, H, F, heads, _reference_block(H, F, heads)) for name, H, F, heads in BLOCK_EDGE_CASES])


@grader("encoder_block_parameters", points=2, prepare=_block_cases)
def grade_encoder_block_parameters(learner_fn):
    """Match keras-bert's count for one encoder block on BERT-base, on seeded small configurations
    and on the named edge cases (BLOCK_EDGE_CASES)."""
    for name, H, F, heads, want in _block_cases():
        got = learner_fn(H, F, heads)
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, np.integer)):
            raise GradingError(f"case '{name}': return the count as an int, got {type(got).__name__} {got!r}")
        if int(got) == want:
            continue
        measured = f"case '{name}' (hidden_size={H}, ff_size={F}, num_heads={heads}): expected {want:,}, got {int(got):,}"
        for what, size in _block_terms(H, F, heads).items():
            if size and want - int(got) == size:
                raise GradingError(f"{measured}; " + (what if size < 0 else f"missing {what}"))
        raise GradingError(f"{measured}; count 4 attention projections, 2 feed-forward layers, their biases and 2 LayerNorms")


def _reference_block(hidden_size, ff_size, num_heads):
    """The exercise's formula: the expected count of the named cases, and the base of the wrong answers below."""
    H, F = hidden_size, ff_size
    return 4 * (H * H + H) + (H * F + F) + (F * H + H) + 2 * (2 * H)


@wrong_answer("encoder_block_parameters", hint="missing the biases")
def block_without_biases(hidden_size, ff_size, num_heads):
    H, F = hidden_size, ff_size
    return 4 * H * H + 2 * H * F + 4 * H


@wrong_answer("encoder_block_parameters", hint="LayerNorms")
def block_without_layer_norms(hidden_size, ff_size, num_heads):
    return _reference_block(hidden_size, ff_size, num_heads) - 4 * hidden_size


@wrong_answer("encoder_block_parameters", hint="add no parameters")
def block_with_weights_per_head(hidden_size, ff_size, num_heads):
    # Gives every head its own full-size Q, K, V and output matrices.
    H = hidden_size
    return _reference_block(hidden_size, ff_size, num_heads) + (num_heads - 1) * 4 * (H * H + H)


@wrong_answer("encoder_block_parameters", hint="output projection")
def block_with_three_projections(hidden_size, ff_size, num_heads):
    H = hidden_size
    return _reference_block(hidden_size, ff_size, num_heads) - (H * H + H)


# ---------------------------------------------------------------------------------------
# dummy_inputs(model, batch_size): one all-zero array per input layer, shaped as declared.
# ---------------------------------------------------------------------------------------
INPUT_CONFIGS = [
    # (training, seq_len, batch_size): the pretraining model has 3 inputs, the encoder 2.
    (True, int(_RNG.integers(5, 20)), int(_RNG.integers(2, 5))),
    (False, int(_RNG.integers(20, 40)), 1),
]


@functools.lru_cache(maxsize=None)
def _small_bert(training: bool, max_length: int):
    import tensorflow as tf
    from keras_bert import get_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = get_model(token_num=60, pos_num=64, seq_len=max_length, embed_dim=8, transformer_num=1,
                          head_num=2, feed_forward_dim=16, training=training)
    if training:
        return built
    inputs, outputs = built  # training=False returns the encoder's inputs and output tensor
    return tf.keras.Model(inputs, outputs)


def _model_with_inputs(lengths: tuple[int, ...]):
    """A small functional tf-keras model with one int input per entry of `lengths`."""
    import tensorflow as tf

    inputs = [tf.keras.Input(shape=(n,), name=f"input_{i + 1}_of_length_{n}") for i, n in enumerate(lengths)]
    pooled = [tf.keras.layers.GlobalAveragePooling1D()(tf.keras.layers.Embedding(50, 4)(x)) for x in inputs]
    joined = pooled[0] if len(pooled) == 1 else tf.keras.layers.Concatenate()(pooled)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(2)(joined))


# Named edge cases: (name, input lengths, batch_size); each a small functional model.
DUMMY_EDGE_CASES = [
    ("inputs of different lengths (7, 3)", (7, 3), 2),
    ("a single input", (5,), 4),
    ("three inputs, the last longest, batch of one", (4, 4, 9), 1),
    ("a batch of 16", (6, 6), 16),
]


@functools.lru_cache(maxsize=1)
def _prepare_models():
    """(name, model, its input names, their sequence lengths, batch_size) per case, read before any learner call."""
    cases = []
    for training, max_length, batch_size in INPUT_CONFIGS:
        model = built(_small_bert, training, max_length)  # built again in a sealed learner process (core.built)
        name = f"keras-bert {'pretraining model' if training else 'encoder'}, seq_len {max_length}, batch of {batch_size}"
        cases.append((name, model, [t.name.split(":")[0] for t in model.inputs], [int(t.shape[1]) for t in model.inputs],
                      batch_size))
    for name, lengths, batch_size in DUMMY_EDGE_CASES:
        model = built(_model_with_inputs, lengths)
        cases.append((name, model, [t.name.split(":")[0] for t in model.inputs], list(lengths), batch_size))
    return cases


@grader("dummy_inputs", points=2, prepare=_prepare_models)
def grade_dummy_inputs(learner_fn):
    """One zero array per model input, shape (batch_size, seq_len), that the model accepts: two
    keras-bert models, then the named edge cases (DUMMY_EDGE_CASES)."""
    for case, model, names, lengths, batch_size in _prepare_models():
        arrays = learner_fn(model, batch_size)
        if isinstance(arrays, np.ndarray) or not isinstance(arrays, (list, tuple)):
            raise GradingError(f"case '{case}': return a list with one array per model input, got {type(arrays).__name__}")
        if len(arrays) != len(names):
            raise GradingError(
                f"case '{case}': this model has {len(names)} inputs ({', '.join(names)}) but you returned "
                f"{len(arrays)} arrays: make one array per entry of model.inputs"
            )
        for name, length, array in zip(names, lengths, arrays):
            array = np.asarray(array)
            expected = (batch_size, length)
            if array.shape != expected:
                if array.shape == expected[::-1]:
                    raise GradingError(f"case '{case}': {name}: the batch dimension comes first, (batch_size, seq_len) "
                                       f"= {expected}, got {array.shape}")
                raise GradingError(
                    f"case '{case}': {name} expects shape (batch_size, seq_len) = {expected}, got {array.shape}: "
                    "read each input's seq_len from model.inputs" + (", do not assume 512" if 512 in array.shape else "")
                )
            if not np.issubdtype(array.dtype, np.number) or np.any(array != 0):
                raise GradingError(f"case '{case}': {name}: fill the arrays with zeros (numbers), got dtype {array.dtype}")
        outputs = model(list(arrays), training=False)
        first = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
        if int(first.shape[0]) != batch_size:  # pragma: no cover - guarded by the shape checks
            raise GradingError(f"case '{case}': the model did not return one output row per example")


@wrong_answer("dummy_inputs", hint="one array per entry of model.inputs")
def dummy_inputs_always_two(model, batch_size):
    max_length = model.inputs[0].shape[1]
    return [np.zeros((batch_size, max_length)), np.zeros((batch_size, max_length))]


@wrong_answer("dummy_inputs", hint="do not assume 512")
def dummy_inputs_bert_base_length(model, batch_size):
    return [np.zeros((batch_size, 512)) for _ in model.inputs]


@wrong_answer("dummy_inputs", hint="the batch dimension comes first")
def dummy_inputs_transposed(model, batch_size):
    return [np.zeros((t.shape[1], batch_size)) for t in model.inputs]


@wrong_answer("dummy_inputs", hint="case 'inputs of different lengths (7, 3)': input_2_of_length_3 expects shape")
def dummy_inputs_first_inputs_length(model, batch_size):
    # Reads the length of the first input only: right while every model's inputs had one length.
    max_length = int(model.inputs[0].shape[1])
    return [np.zeros((batch_size, max_length)) for _ in model.inputs]


@right_answer("dummy_inputs", why="int32 zeros, the lengths from tensor.shape.as_list()")
def dummy_inputs_int32(model, batch_size):
    return [np.zeros([batch_size] + tensor.shape.as_list()[1:], dtype=np.int32) for tensor in model.inputs]


@right_answer("dummy_inputs", why="float64 zeros (np.zeros' default), the lengths from model.input_shape")
def dummy_inputs_from_input_shape(model, batch_size):
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    return [np.zeros((batch_size, shape[1])) for shape in shapes]


@right_answer("count_bert_parameters", why="a NumPy integer, summed over a table of the layers' shapes")
def count_from_a_table_of_shapes(vocab_size, hidden_size, num_layers, ff_size, max_positions):
    H, F = hidden_size, ff_size
    dense = lambda n_in, n_out: n_in * n_out + n_out  # noqa: E731 - weights and bias
    norm = 2 * H
    embeddings = [vocab_size * H, 2 * H, max_positions * H, norm]
    block = [dense(H, H)] * 4 + [norm, dense(H, F), dense(F, H), norm]
    heads = [dense(H, H), norm, vocab_size, dense(H, H), dense(H, 2)]
    return np.sum(np.array(embeddings + block * num_layers + heads, dtype=np.int64))


@right_answer("encoder_block_parameters", why="per-head matrices summed over the heads (d_head = hidden_size // num_heads)")
def block_counted_per_head(hidden_size, ff_size, num_heads):
    H, F, d_head = hidden_size, ff_size, hidden_size // num_heads
    per_head = 3 * (H * d_head + d_head)  # this head's queries, keys and values
    output = H * H + H  # the projection that recombines the heads
    return num_heads * per_head + output + (H * F + F) + (F * H + H) + 2 * (2 * H)


@right_answer("encoder_block_parameters", why="returns a NumPy int64")
def block_as_numpy_int(hidden_size, ff_size, num_heads):
    H, F = np.int64(hidden_size), np.int64(ff_size)
    return 4 * (H * H + H) + (H * F + F) + (F * H + H) + 4 * H
