"""What the encoder gives back (lesson 03): its outputs, contextual word vectors, attention, sentence embeddings.

* :func:`run_encoder` runs TF Hub's two layers, preprocessing then encoder, and returns the
  encoder's dict: ``sequence_output`` (batch, length, hidden), ``pooled_output`` and
  ``default`` (batch, hidden: the ``[CLS]`` vector through a dense tanh layer),
  ``encoder_outputs`` (one (batch, length, hidden) tensor per layer, the last equal to
  ``sequence_output``). :func:`describe_outputs` tabulates them.
* :func:`word_layer_vectors` / :func:`word_similarity_by_layer`: the vector of a word in a
  sentence at every layer (layer 0 = the embedding layer's output), and how similar two uses
  of a word are layer by layer; :func:`static_word_vector` is the input (word-piece)
  embedding, the same whatever the context.
* :func:`attention_weights`: transformers' ``output_attentions=True``, one
  (heads, length, length) array per layer, with the tokens for the axes.
* :func:`masked_mean_pool`, :func:`cosine_similarity_matrix`, :func:`sentence_embeddings`,
  :func:`semantic_search`: sentence embeddings and a small search over real sentences.

Figures: :func:`plot_layer_similarity`, :func:`plot_attention`, :func:`plot_similarity_matrix`.
"""
from __future__ import annotations

import functools

import numpy as np

from bertlab.bert_inputs import MAX_LENGTH
from bertlab.preprocessing import _tokenizer, check_texts, encode_texts

OUTPUT_KEYS = ("sequence_output", "pooled_output", "default", "encoder_outputs")

__all__ = [
    "OUTPUT_KEYS",
    "attention_weights",
    "cosine_similarity_matrix",
    "describe_outputs",
    "embed",
    "embedding_weights",
    "encoder_layer",
    "encoder_layer_weights",
    "gelu",
    "layer_norm",
    "load_encoder",
    "load_model",
    "load_preprocessor",
    "masked_mean_pool",
    "merge_heads",
    "plot_attention",
    "plot_encoder_layer",
    "plot_layer_similarity",
    "plot_similarity_matrix",
    "rebuild_first_layer",
    "run_encoder",
    "scaled_dot_product_attention",
    "semantic_search",
    "sense_similarity_by_layer",
    "sentence_embeddings",
    "split_heads",
    "static_word_vector",
    "word_layer_vectors",
    "word_similarity_by_layer",
]


# ---------------------------------------------------------------------------------------------
# The TF Hub encoder
# ---------------------------------------------------------------------------------------------
def _model_name(model: str | None) -> str:
    """The registry name ``model`` stands for, so that ``f()``, ``f(None)`` and ``f(model=name)`` share one cache entry."""
    from bertlab.models import get_spec

    return get_spec(model).name


def load_preprocessor(model: str | None = None):
    """``hub.KerasLayer`` of the preprocessing model: strings -> the three inputs (length 128). Loaded once per model."""
    return _load_preprocessor(_model_name(model))


@functools.lru_cache(maxsize=2)
def _load_preprocessor(model: str):
    from bertlab.models import hub_handles, hub_keras_layer

    return hub_keras_layer(hub_handles(model)["preprocess"], name="preprocessing")


def load_encoder(model: str | None = None):
    """``hub.KerasLayer`` of the encoder (frozen): the three inputs -> the output dict. Loaded once per model."""
    return _load_encoder(_model_name(model))


@functools.lru_cache(maxsize=2)
def _load_encoder(model: str):
    from bertlab.models import hub_handles, hub_keras_layer

    return hub_keras_layer(hub_handles(model)["encoder"], trainable=False, name="encoder")


def run_encoder(texts, *, model: str | None = None) -> dict:
    """Preprocess ``texts`` and run the encoder: the output dict as NumPy arrays (a list for ``encoder_outputs``).

    The preprocessing layer cuts inputs to 128 tokens; a :class:`~bertlab.preprocessing.TruncationWarning`
    says how many were longer.
    """
    import tensorflow as tf

    encoding = encode_texts(texts, model=model, max_length=MAX_LENGTH)  # what TF Hub's preprocessor pads and cuts to
    encoding.truncation.warn(stacklevel=2)
    outputs = load_encoder(model)(load_preprocessor(model)(tf.constant(encoding.texts)))
    return {
        key: [t.numpy() for t in value] if isinstance(value, (list, tuple)) else value.numpy()
        for key, value in outputs.items()
    }


def describe_outputs(outputs: dict):
    """A table of the encoder's outputs: key, what it holds, shape."""
    import pandas as pd

    rows = []
    for key in OUTPUT_KEYS:
        value = outputs[key]
        if isinstance(value, list):
            shape = f"{len(value)} x {tuple(value[0].shape)}"
        else:
            shape = str(tuple(value.shape))
        rows.append({"key": key, "shape": shape})
    return pd.DataFrame(rows).set_index("key")


# ---------------------------------------------------------------------------------------------
# Sentence embeddings
# ---------------------------------------------------------------------------------------------
def masked_mean_pool(sequence_output, mask) -> np.ndarray:
    """Average the token vectors of each row over the positions where ``mask`` is 1 (not padding).

    ``sequence_output`` (batch, length, hidden), ``mask`` (batch, length) -> (batch, hidden).
    """
    sequence_output = np.asarray(sequence_output, dtype=np.float64)
    mask = np.asarray(mask)
    if sequence_output.ndim != 3 or mask.shape != sequence_output.shape[:2]:
        raise ValueError(f"need (batch, length, hidden) and (batch, length); got {sequence_output.shape} and {mask.shape}")
    weights = mask.astype(np.float64)[:, :, None]
    counts = weights.sum(axis=1)
    if (counts == 0).any():
        raise ValueError("a row of the mask is all zeros: there is no token to average")
    return (sequence_output * weights).sum(axis=1) / counts


def cosine_similarity_matrix(a, b=None) -> np.ndarray:
    """Cosine similarity of every row of ``a`` with every row of ``b`` (default ``a``): (len a, len b)."""
    a = np.asarray(a, dtype=np.float64)
    b = a if b is None else np.asarray(b, dtype=np.float64)
    a_norm = np.linalg.norm(a, axis=-1, keepdims=True)
    b_norm = np.linalg.norm(b, axis=-1, keepdims=True)
    if (a_norm == 0).any() or (b_norm == 0).any():
        raise ValueError("a zero vector has no direction: its cosine similarity is undefined")
    return (a / a_norm) @ (b / b_norm).T


def load_model(model: str | None = None):
    """The ``transformers`` ``TFBertModel`` of the same weights (for hidden states and attention), loaded once per model."""
    return _load_model(_model_name(model))


@functools.lru_cache(maxsize=2)
def _load_model(model: str):
    from bertlab.models import load_tf_model

    return load_tf_model(model)


def _embed(encoding, model, batch_size: int, normalize: bool) -> np.ndarray:
    tf_model = load_model(model)
    rows = []
    for start in range(0, len(encoding), batch_size):
        inputs = encoding.padded(range(start, min(start + batch_size, len(encoding))))
        hidden = tf_model(inputs).last_hidden_state.numpy()
        rows.append(masked_mean_pool(hidden, inputs["attention_mask"]))
    vectors = np.concatenate(rows)
    if normalize:
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32)


def _encoded(texts, model, names=("texts", "text_pair"), stacklevel: int = 3):
    encoding = encode_texts(texts, model=model, max_length=MAX_LENGTH, names=names)
    encoding.truncation.warn(stacklevel=stacklevel)
    return encoding


def sentence_embeddings(texts, *, model: str | None = None, batch_size: int = 64, normalize: bool = True) -> np.ndarray:
    """Masked mean of the last layer's token vectors, one row per text (unit length when ``normalize``).

    ``texts``: a string or a list of strings; each is cut to 128 tokens (with a
    :class:`~bertlab.preprocessing.TruncationWarning`). Returns float32 (len(texts), hidden).
    """
    return _embed(_encoded(texts, model), model, batch_size, normalize)


def semantic_search(queries, corpus, corpus_embeddings=None, *, top_k: int = 3, model: str | None = None):
    """The ``top_k`` corpus sentences closest to each query (cosine of sentence embeddings).

    Returns a DataFrame(query, rank, score, sentence). Pass ``corpus_embeddings`` (from
    :func:`sentence_embeddings`) to embed the corpus once for many searches.
    """
    import pandas as pd

    queries = _encoded(queries, model, names=("queries", ""))
    if corpus_embeddings is None:
        corpus = _encoded(corpus, model, names=("corpus", ""))
        corpus_embeddings = _embed(corpus, model, 64, True)
        corpus = corpus.texts
    else:
        corpus, _ = check_texts(corpus, names=("corpus", ""))
    if len(corpus_embeddings) != len(corpus):
        raise ValueError(f"{len(corpus_embeddings)} embeddings for {len(corpus)} corpus sentences")
    scores = cosine_similarity_matrix(_embed(queries, model, 64, True), corpus_embeddings)
    queries = queries.texts
    top_k = min(top_k, len(corpus))
    rows = []
    for q, query in enumerate(queries):
        for rank, index in enumerate(np.argsort(-scores[q])[:top_k], start=1):
            rows.append({"query": query, "rank": rank, "score": round(float(scores[q, index]), 3), "sentence": corpus[index]})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# A word in context
# ---------------------------------------------------------------------------------------------
def _word_positions(tokenizer, ids: list[int], word: str) -> list[int]:
    """Positions of the word pieces of the first occurrence of ``word`` in ``ids``."""
    pieces = tokenizer(word, add_special_tokens=False)["input_ids"]
    for start in range(len(ids) - len(pieces) + 1):
        if ids[start : start + len(pieces)] == pieces:
            return list(range(start, start + len(pieces)))
    tokens = tokenizer.convert_ids_to_tokens(ids)
    raise ValueError(f"{word!r} (word pieces {tokenizer.convert_ids_to_tokens(pieces)}) is not in {tokens}")


def word_layer_vectors(sentence: str, word: str, *, model: str | None = None) -> np.ndarray:
    """The vector of ``word`` in ``sentence`` at every layer: (layers + 1, hidden).

    Row 0 is the embedding layer's output (word-piece + position + segment embeddings,
    normalized), row i the output of layer i. A word split into several pieces is their mean.
    """
    return _word_vectors(_encoded([sentence], model, names=("sentence", "")), 0, word, model)


def _word_vectors(encoding, row: int, word: str, model) -> np.ndarray:
    inputs = encoding.padded([row])
    positions = _word_positions(_tokenizer(model), inputs["input_ids"][0].tolist(), word)
    hidden = load_model(model)(inputs, output_hidden_states=True).hidden_states
    return np.stack([h.numpy()[0, positions].mean(axis=0) for h in hidden])


def static_word_vector(word: str, *, model: str | None = None) -> np.ndarray:
    """The input embedding of ``word`` (mean of its word pieces' rows): the same in every sentence."""
    tokenizer = _tokenizer(model)
    pieces = tokenizer(word, add_special_tokens=False)["input_ids"]
    table = load_model(model).bert.embeddings.weight.numpy()
    return table[pieces].mean(axis=0)


def word_similarity_by_layer(sentence_a: str, sentence_b: str, word: str, *, model: str | None = None) -> np.ndarray:
    """Cosine similarity of ``word`` in ``sentence_a`` vs in ``sentence_b``, per layer (0 = embeddings)."""
    a = word_layer_vectors(sentence_a, word, model=model)
    b = word_layer_vectors(sentence_b, word, model=model)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def sense_similarity_by_layer(word: str, sentences_a, sentences_b, *, model: str | None = None):
    """How well each layer separates two meanings of ``word``, given example sentences of each.

    Returns a DataFrame indexed by layer (0 = embeddings) with ``same_meaning`` (mean cosine of
    the word's vectors over pairs of sentences with the same meaning), ``different_meaning``
    (over pairs across the two lists) and ``gap`` = same - different (bigger: better separated).
    """
    import itertools

    import pandas as pd

    a, b = (
        [_word_vectors(encoding, i, word, model) for i in range(len(encoding))]
        for encoding in (_encoded(sentences_a, model, names=("sentences_a", "")),
                         _encoded(sentences_b, model, names=("sentences_b", "")))
    )
    if len(a) < 2 or len(b) < 2:
        raise ValueError("give at least two sentences for each meaning")

    def cos(x, y):
        return (x * y).sum(axis=1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))

    same = np.mean([cos(x, y) for group in (a, b) for x, y in itertools.combinations(group, 2)], axis=0)
    different = np.mean([cos(x, y) for x in a for y in b], axis=0)
    table = pd.DataFrame({"same_meaning": same, "different_meaning": different, "gap": same - different})
    table.index.name = "layer"
    return table


# ---------------------------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------------------------
def attention_weights(sentence: str, *, model: str | None = None) -> tuple[list[str], np.ndarray]:
    """Tokens of ``sentence`` and its attention weights, shape (layers, heads, tokens, tokens).

    Entry ``[l, h, i, j]`` is how much token ``i`` attends to token ``j`` in head ``h`` of
    layer ``l``; each row sums to 1 (softmax over ``j``).
    """
    inputs = _encoded([sentence], model, names=("sentence", "")).padded()
    outputs = load_model(model)(inputs, output_attentions=True)
    weights = np.stack([a.numpy()[0] for a in outputs.attentions])
    tokens = _tokenizer(model).convert_ids_to_tokens(inputs["input_ids"][0].tolist())
    return tokens, weights


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------
def plot_layer_similarity(curves: dict, *, static: float | None = None, figsize=(6.5, 3.6)):
    """One line per curve (label -> cosine similarity at each layer); ``static``: the static embedding's value."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    for label, values in curves.items():
        style = ":" if "same" in label else "-"
        ax.plot(range(len(values)), values, marker="o", linestyle=style, label=label)
    if static is not None:
        ax.axhline(static, color="grey", linestyle="--", linewidth=1, label="static (input) embedding, any context")
    ax.set_xlabel("layer (0 = embedding layer)")
    ax.set_ylabel("cosine similarity")
    ax.set_title("One word, two meanings: similarity layer by layer")
    ax.set_xticks(range(len(next(iter(curves.values())))))
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def plot_attention(tokens: list[str], weights: np.ndarray, *, layers=(0,), heads=(0, 1, 2), cell: float = 2.6):
    """Heatmaps of attention weights, one per (layer, head), tokens on both axes (rows attend to columns)."""
    import matplotlib.pyplot as plt

    layers, heads = list(layers), list(heads)
    fig, axes = plt.subplots(
        len(layers), len(heads), figsize=(cell * len(heads) + 1.2, (cell + 0.8) * len(layers)), squeeze=False,
        constrained_layout=True,
    )
    for r, layer in enumerate(layers):
        for c, head in enumerate(heads):
            ax = axes[r][c]
            image = ax.imshow(weights[layer, head], cmap="viridis", vmin=0, vmax=1)
            ax.set_xticks(range(len(tokens)))
            ax.set_xticklabels(tokens, rotation=90, fontsize=7)
            ax.set_yticks(range(len(tokens)))
            ax.set_yticklabels(tokens, fontsize=7)
            ax.set_title(f"layer {layer + 1}, head {head + 1}", fontsize=9)
            if c == 0:
                ax.set_ylabel("token attending")
            if r == len(layers) - 1:
                ax.set_xlabel("token attended to")
    fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    fig.suptitle("Attention weights")
    return fig


def plot_similarity_matrix(matrix: np.ndarray, labels: list[str], *, figsize=(7.5, 4.4), max_label: int = 38):
    """A heatmap of a similarity matrix with the (shortened) sentences as labels and the values written in."""
    import matplotlib.pyplot as plt

    short = [label if len(label) <= max_label else label[: max_label - 1] + "…" for label in labels]
    fig, ax = plt.subplots(figsize=figsize)
    image = ax.imshow(matrix, cmap="viridis", vmin=min(0.0, float(matrix.min())), vmax=1)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(range(1, len(labels) + 1))
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels([f"{i}. {s}" for i, s in enumerate(short, start=1)], fontsize=8)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if matrix[i, j] > 0.6 else "white")
    ax.set_xlabel("sentence")
    ax.set_ylabel("sentence")
    fig.colorbar(image, ax=ax, shrink=0.8, label="cosine similarity")
    fig.suptitle("Cosine similarity of sentence embeddings")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Inside the encoder: one layer rebuilt from its weights with plain TensorFlow ops
# ---------------------------------------------------------------------------------------------
# Written to be read: each function is one step of the BERT paper's encoder (Devlin et al. 2019,
# section 3, which reuses the Transformer encoder of Vaswani et al. 2017, section 3.2). Layers are
# numbered from 0, like ``model.bert.encoder.layer[i]`` and ``attentions[i]``; ``hidden_states[0]``
# is the embedding layer's output, so layer ``i``'s output is ``hidden_states[i + 1]``.
def layer_norm(x, gamma, beta, eps: float = 1e-12):
    """Normalise the last axis of ``x`` to mean 0 and variance 1, then scale by ``gamma`` and shift by ``beta``.

    ``x`` (..., hidden) float32; ``gamma``, ``beta`` (hidden,). ``eps`` is the model's ``layer_norm_eps``.
    """
    import tensorflow as tf

    mean = tf.reduce_mean(x, axis=-1, keepdims=True)
    variance = tf.reduce_mean(tf.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) / tf.sqrt(variance + eps) * gamma + beta


def gelu(x):
    """BERT's activation, the exact GELU: ``x * Phi(x)`` with Phi the standard normal CDF (Hendrycks & Gimpel 2016)."""
    import tensorflow as tf

    return 0.5 * x * (1.0 + tf.math.erf(x / tf.sqrt(2.0)))


def split_heads(x, num_heads: int):
    """(batch, length, hidden) -> (batch, heads, length, hidden / heads): each head gets its own slice."""
    import tensorflow as tf

    batch, length, hidden = tf.shape(x)[0], tf.shape(x)[1], x.shape[-1]
    if hidden % num_heads:
        raise ValueError(f"hidden size {hidden} is not divisible by {num_heads} heads")
    x = tf.reshape(x, (batch, length, num_heads, hidden // num_heads))
    return tf.transpose(x, (0, 2, 1, 3))


def merge_heads(x):
    """(batch, heads, length, d_head) -> (batch, length, heads * d_head): the inverse of :func:`split_heads`."""
    import tensorflow as tf

    x = tf.transpose(x, (0, 2, 1, 3))
    shape = tf.shape(x)
    return tf.reshape(x, (shape[0], shape[1], x.shape[2] * x.shape[3]))


def scaled_dot_product_attention(queries, keys, values, attention_mask):
    """Masked scaled dot-product attention (Vaswani et al. 2017, eq. 1), head by head.

    ``queries``, ``keys``, ``values``: float32 (batch, heads, length, d_head). ``attention_mask``:
    (batch, length), 1 on real tokens and 0 on padding. Scores ``Q K^T / sqrt(d_head)`` get a large
    negative number on the padded *keys* (the last axis), so that no token attends to padding; the
    softmax runs over that axis, so each row of the probabilities sums to 1.
    Returns ``(context, probabilities)``: (batch, heads, length, d_head) and (batch, heads, length, length).
    """
    import tensorflow as tf

    d_head = tf.cast(tf.shape(keys)[-1], queries.dtype)
    scores = tf.matmul(queries, keys, transpose_b=True) / tf.sqrt(d_head)
    # (batch, 1, 1, length): the same key mask for every head and every query position.
    padding = 1.0 - tf.cast(attention_mask, scores.dtype)[:, None, None, :]
    scores += padding * -1e9
    probabilities = tf.nn.softmax(scores, axis=-1)
    return tf.matmul(probabilities, values), probabilities


def embedding_weights(model) -> dict:
    """The embedding layer's weights of a transformers ``TFBertModel`` as NumPy arrays.

    Keys: ``word`` (vocab, hidden), ``position`` (max_positions, hidden), ``segment`` (type_vocab, hidden),
    ``gamma`` and ``beta`` (hidden,) of its LayerNorm.
    """
    embeddings = model.bert.embeddings
    return {
        "word": embeddings.weight.numpy(),
        "position": embeddings.position_embeddings.numpy(),
        "segment": embeddings.token_type_embeddings.numpy(),
        "gamma": embeddings.LayerNorm.gamma.numpy(),
        "beta": embeddings.LayerNorm.beta.numpy(),
    }


def encoder_layer_weights(model, layer: int = 0) -> dict:
    """The weights of encoder layer ``layer`` (0-based) of a transformers ``TFBertModel`` as NumPy arrays.

    Kernels are (inputs, outputs), so a dense layer is ``x @ kernel + bias``. Keys: ``query``, ``key``,
    ``value``, ``attention_output`` (hidden, hidden) and their ``_bias``; ``attention_gamma``/``_beta``;
    ``intermediate`` (hidden, feed-forward), ``output`` (feed-forward, hidden) and their ``_bias``;
    ``output_gamma``/``_beta``. Raises ``IndexError`` for a layer the model does not have.
    """
    layers = model.bert.encoder.layer
    if not 0 <= layer < len(layers):
        raise IndexError(f"layer {layer} does not exist: this model has layers 0 to {len(layers) - 1}")
    block = layers[layer]
    attention, projection = block.attention.self_attention, block.attention.dense_output
    weights = {}
    for name, dense in [("query", attention.query), ("key", attention.key), ("value", attention.value),
                        ("attention_output", projection.dense), ("intermediate", block.intermediate.dense),
                        ("output", block.bert_output.dense)]:
        weights[name], weights[name + "_bias"] = dense.kernel.numpy(), dense.bias.numpy()
    for name, norm in [("attention", projection.LayerNorm), ("output", block.bert_output.LayerNorm)]:
        weights[name + "_gamma"], weights[name + "_beta"] = norm.gamma.numpy(), norm.beta.numpy()
    return weights


def embed(input_ids, token_type_ids, weights: dict, eps: float = 1e-12):
    """BERT's input representation: token + position + segment embeddings, then LayerNorm.

    ``input_ids``, ``token_type_ids``: int (batch, length); ``weights`` from :func:`embedding_weights`.
    Returns float32 (batch, length, hidden), the model's ``hidden_states[0]``.
    """
    import tensorflow as tf

    length = tf.shape(input_ids)[1]
    summed = (tf.gather(weights["word"], input_ids) + tf.gather(weights["position"], tf.range(length))[None]
              + tf.gather(weights["segment"], token_type_ids))
    return layer_norm(summed, weights["gamma"], weights["beta"], eps)


def encoder_layer(hidden, attention_mask, weights: dict, *, num_heads: int, eps: float = 1e-12):
    """One BERT encoder layer (post-LayerNorm Transformer block) from its weights, in inference mode.

    ``hidden`` float32 (batch, length, hidden); ``attention_mask`` (batch, length); ``weights`` from
    :func:`encoder_layer_weights`. Steps: queries/keys/values, split into ``num_heads`` heads, masked
    scaled dot-product attention, heads merged back, output projection, residual + LayerNorm, then the
    feed-forward block (dense to the feed-forward size, GELU, dense back), residual + LayerNorm.
    Returns ``(output, probabilities)``: (batch, length, hidden) and (batch, heads, length, length).
    """
    def dense(x, name):
        return x @ weights[name] + weights[name + "_bias"]

    queries, keys, values = (split_heads(dense(hidden, name), num_heads) for name in ("query", "key", "value"))
    context, probabilities = scaled_dot_product_attention(queries, keys, values, attention_mask)
    attended = layer_norm(hidden + dense(merge_heads(context), "attention_output"),
                          weights["attention_gamma"], weights["attention_beta"], eps)
    feed_forward = dense(gelu(dense(attended, "intermediate")), "output")
    return layer_norm(attended + feed_forward, weights["output_gamma"], weights["output_beta"], eps), probabilities


def rebuild_first_layer(texts, *, model: str | None = None) -> dict:
    """Run the embeddings and layer 0 rebuilt from the model's weights, next to the model's own outputs.

    Returns a dict of NumPy arrays: ``embeddings`` and ``model_embeddings`` (batch, length, hidden),
    ``output`` and ``model_output`` (layer 0's output, ``hidden_states[1]``), ``attention`` and
    ``model_attention`` (batch, heads, length, length, ``attentions[0]``), and ``attention_mask``.
    The rebuilt and the model's values agree to about 1e-5 in float32.
    """
    tf_model = load_model(model)
    config = tf_model.config
    inputs = _encoded(texts, model).padded()
    outputs = tf_model(inputs, output_hidden_states=True, output_attentions=True)
    embeddings = embed(inputs["input_ids"], inputs["token_type_ids"], embedding_weights(tf_model), config.layer_norm_eps)
    output, attention = encoder_layer(embeddings, inputs["attention_mask"], encoder_layer_weights(tf_model, 0),
                                      num_heads=config.num_attention_heads, eps=config.layer_norm_eps)
    return {
        "embeddings": embeddings.numpy(), "model_embeddings": outputs.hidden_states[0].numpy(),
        "output": output.numpy(), "model_output": outputs.hidden_states[1].numpy(),
        "attention": attention.numpy(), "model_attention": outputs.attentions[0].numpy(),
        "attention_mask": np.asarray(inputs["attention_mask"]),
    }


def plot_encoder_layer(config=None, *, batch: str = "B", length: str = "T"):
    """A figure of one encoder layer's data flow, with tensor shapes from ``config`` (a ``BertConfig``).

    ``config`` defaults to the current model's. Boxes are the steps of :func:`encoder_layer`; the shape
    of the tensor leaving each step is written beside it; dashed arrows are the residual connections.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    if config is None:
        config = load_model().config
    hidden, heads, ff = config.hidden_size, config.num_attention_heads, config.intermediate_size
    d_head = hidden // heads
    steps = [
        ("input_word_ids, token_type_ids", f"({batch}, {length}) int32", "#eeeeee"),
        ("token + position + segment embeddings,\nthen LayerNorm", f"({batch}, {length}, {hidden})", "#dbe9f6"),
        ("queries, keys, values: three dense layers\nsplit into heads", f"3 x ({batch}, {heads}, {length}, {d_head})", "#fde2c8"),
        ("scores Q K^T / sqrt(d_head), padding masked,\nsoftmax over the keys", f"({batch}, {heads}, {length}, {length})", "#fde2c8"),
        ("probabilities x V, heads merged,\noutput projection", f"({batch}, {length}, {hidden})", "#fde2c8"),
        ("add the layer's input, LayerNorm", f"({batch}, {length}, {hidden})", "#e4f2dc"),
        ("feed-forward: dense, GELU", f"({batch}, {length}, {ff})", "#efe0f5"),
        ("dense back to hidden size", f"({batch}, {length}, {hidden})", "#efe0f5"),
        ("add the attention block's output, LayerNorm", f"({batch}, {length}, {hidden})", "#e4f2dc"),
    ]
    fig, ax = plt.subplots(figsize=(8.2, 8.4))
    ax.set_xlim(-0.8, 10)
    ax.set_ylim(-0.8, len(steps) * 1.1)
    ax.axis("off")
    ys = [(len(steps) - 1 - i) * 1.1 + 0.2 for i in range(len(steps))]
    for (label, shape, colour), y in zip(steps, ys):
        ax.add_patch(FancyBboxPatch((0.3, y - 0.32), 5.6, 0.64, boxstyle="round,pad=0.05", fc=colour, ec="#555555"))
        ax.text(3.1, y, label, ha="center", va="center", fontsize=8.5)
        ax.text(6.2, y, shape, ha="left", va="center", fontsize=8.5, family="monospace")
    for upper, lower in zip(ys, ys[1:]):
        ax.annotate("", xy=(3.1, lower + 0.37), xytext=(3.1, upper - 0.37), arrowprops={"arrowstyle": "->"})
    # Residual connections: around the attention block (embeddings -> first add) and the feed-forward block.
    for start, end in [(1, 5), (5, 8)]:
        ax.annotate("", xy=(0.3, ys[end]), xytext=(0.3, ys[start]),
                    arrowprops={"arrowstyle": "->", "linestyle": "--", "connectionstyle": "arc3,rad=0.35"})
    ax.text(3.1, -0.65, f"the output is the next layer's input: {config.num_hidden_layers} layers in all, "
            f"{heads} heads of size {d_head}", ha="center", fontsize=8.5)
    ax.set_title(f"One BERT encoder layer (hidden {hidden}, {heads} heads, feed-forward {ff})")
    fig.tight_layout()
    return fig
