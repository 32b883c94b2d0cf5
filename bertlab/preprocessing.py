"""From text to BERT inputs (lesson 02): WordPiece ids, the input mask and the segment ids.

:func:`get_inputs` is the one helper later lessons call: texts, or text pairs, as lists or
DataFrame columns (:func:`get_inputs_from_frame`) become a dict of ``int32`` arrays

* ``input_word_ids``  ``[CLS] a [SEP]`` or ``[CLS] a [SEP] b [SEP]``, then ``[PAD]`` (id 0),
* ``input_mask``      1 on real tokens, 0 on padding,
* ``input_type_ids``  0 on the first segment (with ``[CLS]`` and its ``[SEP]``), 1 on the second,

the names TF Hub's BERT encoders take (``names="transformers"`` gives ``input_ids``,
``attention_mask``, ``token_type_ids`` for transformers' TF models). It is the ``_get_inputs``
of the classic Keras tutorials, done with the transformers fast tokenizer: checked input,
``int32``, truncation of pairs longest-first, fixed (``padding="max_length"``) or dynamic
(``padding="longest"``) padding, and a report of what was truncated.

The lesson also shows that the three real ways to tokenize agree token for token:
:func:`tokenize_with_hub` (the TF Hub preprocessing model), :func:`tokenize_with_tf_text`
(``tensorflow_text.BertTokenizer``) and :func:`tokenize_with_transformers`;
:func:`compare_tokenizers` counts the examples on which they agree. :func:`token_lengths`,
:func:`length_summary` and :func:`plot_token_lengths` give the figure of token lengths.
:func:`to_tf_dataset` is the same job as a batched ``tf.data`` pipeline (lessons 05 and 06).
"""
from __future__ import annotations

import functools
import math
import warnings

import numpy as np

HUB_KEYS = ("input_word_ids", "input_mask", "input_type_ids")
TRANSFORMERS_KEYS = ("input_ids", "attention_mask", "token_type_ids")
# BERT has learned position embeddings for 512 positions: no input may be longer.
MAX_POSITIONS = 512
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = 0, 100, 101, 102, 103


class TruncationWarning(UserWarning):
    """Some texts were longer than ``max_length`` tokens and were truncated."""

__all__ = [
    "HUB_KEYS",
    "MAX_POSITIONS",
    "TOKENIZE_WAYS",
    "TRANSFORMERS_KEYS",
    "BertInputs",
    "TruncationWarning",
    "check_texts",
    "compare_tokenizers",
    "get_inputs",
    "get_inputs_from_frame",
    "length_summary",
    "to_tf_dataset",
    "plot_token_lengths",
    "token_lengths",
    "tokenize_with_hub",
    "tokenize_with_tf_text",
    "tokenize_with_transformers",
    "tokenizer_differences",
]


# ---------------------------------------------------------------------------------------------
# Checking the input
# ---------------------------------------------------------------------------------------------
def _text_list(values, what: str, *, single: bool = True, blank: bool = True) -> list[str]:
    """``values`` as a list of str, or a clear error naming the first bad entry.

    ``single=False`` rejects a lone string (where a batch is meant); ``blank=False`` rejects
    empty and whitespace-only texts (where a prediction from nothing would mislead).
    """
    import pandas as pd

    if isinstance(values, str):
        if not single:
            raise TypeError(f"{what} must be a list of strings, not a single string (wrap it in a list)")
        values = [values]  # one text: a batch of one
    if isinstance(values, pd.DataFrame):
        raise TypeError(
            f"{what} is a whole DataFrame; pass one column (df['sentence1']) or use "
            "get_inputs_from_frame(df, 'sentence1', 'sentence2')"
        )
    if values is None:
        raise TypeError(f"{what} is None; pass a string or a list of strings")
    if isinstance(values, (bytes, dict)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{what} must be a string or a list of strings, not {type(values).__name__}")
    index = list(values.index) if isinstance(values, pd.Series) else None
    values = list(values)
    if not values:
        raise ValueError(f"{what} is empty: there is nothing to tokenize")
    for position, value in enumerate(values):
        where = f"{what}[{position}]" + (f" (index {index[position]!r})" if index is not None else "")
        if isinstance(value, str):
            if not blank and not value.strip():
                raise ValueError(f"{where} is an empty string: there is nothing to classify")
            continue
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            raise TypeError(f"{where} is missing ({value!r}), not a string: drop or fill missing texts first")
        if isinstance(value, bytes):
            raise TypeError(f"{where} is bytes, not a string: decode it first (value.decode('utf-8'))")
        raise TypeError(f"{where} is of type {type(value).__name__} ({value!r:.40}), not a string")
    return values


def check_texts(texts, pairs=None, *, names: tuple[str, str] = ("texts", "pairs"), single: bool = True,
                blank: bool = True) -> tuple[list[str], list[str] | None]:
    """Texts (and second segments) as lists of str; raise a clear error on bad input.

    The one input check of the package (tokenizing, tf.data, features, prediction all use it).
    A single string is a batch of one (``single=False`` makes it an error). Errors:
    ``ValueError`` for an empty list, pair lists of different lengths, or (with ``blank=False``)
    an empty text; ``TypeError`` for ``None``, a non-string or a missing (NaN) entry. ``names``
    are the argument names the messages use.
    """
    first = _text_list(texts, names[0], single=single, blank=blank)
    if pairs is None:
        return first, None
    second = _text_list(pairs, names[1], single=single, blank=blank)
    if len(second) != len(first):
        raise ValueError(
            f"{names[0]} has {len(first)} entries but {names[1]} has {len(second)}: each text needs exactly one partner"
        )
    return first, second


def _check_max_length(max_length: int, pairs: bool) -> int:
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
        raise TypeError(f"max_length must be an int, not {type(max_length).__name__}")
    smallest = 3 if pairs else 2  # room for [CLS] and the [SEP](s)
    if not smallest <= max_length <= MAX_POSITIONS:
        raise ValueError(
            f"max_length must be between {smallest} ([CLS] and [SEP]{' twice' if pairs else ''}) and "
            f"{MAX_POSITIONS} (BERT has position embeddings for {MAX_POSITIONS} tokens only), got {max_length}"
        )
    return int(max_length)


@functools.lru_cache(maxsize=4)
def _tokenizer(model: str | None):
    from bertlab.models import load_tokenizer

    return load_tokenizer(model)


# ---------------------------------------------------------------------------------------------
# The helper: texts -> BERT inputs
# ---------------------------------------------------------------------------------------------
class BertInputs(dict):
    """A dict of ``int32`` arrays (the model's inputs) that also knows what was truncated.

    ``lengths`` holds each example's token count with special tokens *before* truncation and
    ``truncated`` whether it was cut to ``max_length``.
    """

    def __init__(self, arrays: dict, lengths: np.ndarray, max_length: int):
        super().__init__(arrays)
        self.lengths = lengths
        self.max_length = max_length
        self.truncated = lengths > max_length

    @property
    def n_truncated(self) -> int:
        return int(self.truncated.sum())

    def report(self) -> str:
        """One line: how many examples were truncated to ``max_length``."""
        n = len(self.lengths)
        return (
            f"{self.n_truncated} of {n} examples ({self.n_truncated / n:.1%}) were longer than "
            f"max_length={self.max_length} tokens and were truncated (longest {int(self.lengths.max())} tokens)"
        )


def token_lengths(texts, pairs=None, *, tokenizer=None, model: str | None = None) -> np.ndarray:
    """Number of tokens of each text (or pair) with ``[CLS]``/``[SEP]``, before any truncation."""
    first, second = check_texts(texts, pairs)
    tokenizer = tokenizer or _tokenizer(model)
    # verbose=False: no warning for texts longer than the model's limit; we only count them.
    ids = tokenizer(first, second, truncation=False, padding=False, verbose=False)["input_ids"]
    return np.array([len(row) for row in ids], dtype=np.int64)


def get_inputs(
    texts,
    pairs=None,
    *,
    max_length: int = 128,
    padding: str = "max_length",
    names: str = "hub",
    tokenizer=None,
    model: str | None = None,
    warn: bool = True,
) -> BertInputs:
    """Turn texts (or text pairs) into BERT's three ``int32`` inputs, shape ``(batch, length)``.

    ``texts``/``pairs``: a string or a list / Series / array of strings (``pairs`` = the second
    segments, same length). ``padding="max_length"`` pads every row to ``max_length``;
    ``padding="longest"`` pads to the longest row of this batch (dynamic padding: less work).
    Longer inputs are truncated to ``max_length`` tokens (at most 512): a single text loses its
    end; a pair is cut longest-first (tokens come off the longer segment until both fit).
    Truncation is reported: a :class:`TruncationWarning` (``warn=False`` silences it) and the
    result's ``truncated``/``lengths``/``report()``. ``names="hub"`` gives the TF Hub keys
    (``input_word_ids``, ``input_mask``, ``input_type_ids``), ``names="transformers"`` the
    transformers keys (``input_ids``, ``attention_mask``, ``token_type_ids``).
    """
    if padding not in ("max_length", "longest"):
        raise ValueError(f"padding must be 'max_length' (fixed) or 'longest' (dynamic), not {padding!r}")
    if names not in ("hub", "transformers"):
        raise ValueError(f"names must be 'hub' or 'transformers', not {names!r}")
    first, second = check_texts(texts, pairs)
    max_length = _check_max_length(max_length, second is not None)
    tokenizer = tokenizer or _tokenizer(model)
    lengths = token_lengths(first, second, tokenizer=tokenizer)
    encoded = tokenizer(
        first,
        second,
        truncation="longest_first" if second is not None else True,
        max_length=max_length,
        padding=padding,
        return_tensors="np",
    )
    keys = HUB_KEYS if names == "hub" else TRANSFORMERS_KEYS
    arrays = {key: encoded[source].astype(np.int32) for key, source in zip(keys, TRANSFORMERS_KEYS)}
    result = BertInputs(arrays, lengths, max_length)
    if warn and result.n_truncated:
        warnings.warn(result.report(), TruncationWarning, stacklevel=2)
    return result


def get_inputs_from_frame(frame, text_column: str, pair_column: str | None = None, **kwargs) -> BertInputs:
    """:func:`get_inputs` on DataFrame columns: ``get_inputs_from_frame(mrpc, "sentence1", "sentence2")``."""
    for column in (text_column, pair_column):
        if column is not None and column not in frame.columns:
            raise KeyError(f"no column {column!r}; the frame has {list(frame.columns)}")
    pairs = frame[pair_column] if pair_column is not None else None
    return get_inputs(frame[text_column], pairs, **kwargs)


# ---------------------------------------------------------------------------------------------
# tf.data pipelines
# ---------------------------------------------------------------------------------------------
def to_tf_dataset(
    texts,
    texts_pair=None,
    labels=None,
    *,
    tokenizer=None,
    batch_size: int = 32,
    max_length: int = 128,
    shuffle: bool = False,
    seed: int = 0,
    dynamic_padding: bool = True,
    bucket: bool = False,
):
    """Tokenize texts (or text pairs) into a batched ``tf.data.Dataset``.

    Elements are ``(features, labels)`` with ``features = {"input_ids", "attention_mask",
    "token_type_ids"}`` (int32, the keyword inputs of transformers' TF BERT models), or just
    ``features`` when ``labels`` is None. Texts longer than ``max_length`` tokens are truncated
    (a :class:`TruncationWarning` says how many). ``dynamic_padding=True`` pads each batch to
    its longest sequence (``padded_batch``); ``False`` pads every batch to ``max_length``, the
    classic fixed padding. ``bucket=True`` groups similar lengths with tf.data's
    ``bucket_by_sequence_length`` (less padding; batch order then depends on lengths).
    ``shuffle`` shuffles the examples with ``seed`` before batching.
    """
    import pandas as pd
    import tensorflow as tf

    if tokenizer is None:
        tokenizer = _tokenizer(None)
    first, second = check_texts(texts, texts_pair, names=("texts", "texts_pair"), single=False)
    limit = getattr(tokenizer, "model_max_length", None)
    if not limit or limit > 10**6:  # tokenizers built from a bare vocab.txt say "no limit"
        limit = MAX_POSITIONS
    if max_length > limit:
        raise ValueError(f"max_length={max_length} is more than the model's maximum of {limit} tokens")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")

    encoded = tokenizer(first, second, truncation=True, max_length=max_length, padding=False)
    ids = encoded["input_ids"]
    # Only texts that reached max_length may have been cut: re-tokenize those without truncation.
    full = [i for i, row in enumerate(ids) if len(row) >= max_length]
    truncated = 0
    if full:
        again = tokenizer(
            [first[i] for i in full], [second[i] for i in full] if second else None, truncation=False
        )["input_ids"]
        truncated = sum(len(row) > max_length for row in again)
    if truncated:
        warnings.warn(
            f"{truncated} of {len(first)} texts were longer than max_length={max_length} tokens and were truncated",
            TruncationWarning,
            stacklevel=2,
        )
    keys = ("input_ids", "attention_mask", "token_type_ids")
    # Store the tokenized rows as one dense array padded to the longest row, plus each row's
    # length; a map slices each example back to its own length before (re)padding per batch.
    lengths = np.array([len(row) for row in ids], dtype=np.int32)
    dense = {}
    for key in keys:
        rows = encoded[key] if key in encoded else [[0] * len(row) for row in ids]
        array = np.zeros((len(rows), int(lengths.max())), dtype=np.int32)
        for i, row in enumerate(rows):
            array[i, : len(row)] = row
        dense[key] = array
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(first):
            raise ValueError(f"texts has {len(first)} entries but labels has {len(labels)}; they must match")
        for position, value in enumerate(labels):
            if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and math.isnan(value)):
                raise ValueError(f"labels: row {position} is missing ({value!r}); unlabelled data takes labels=None")
        labels = np.asarray(labels)
        if labels.dtype.kind in "iub":
            labels = labels.astype(np.int32)
        dataset = tf.data.Dataset.from_tensor_slices((dense, lengths, labels))
    else:
        dataset = tf.data.Dataset.from_tensor_slices((dense, lengths))
    if shuffle:  # the whole set fits in the buffer: a full shuffle, a new order each epoch
        dataset = dataset.shuffle(len(first), seed=seed, reshuffle_each_iteration=True)
    if labels is not None:
        dataset = dataset.map(lambda f, n, y: ({k: v[:n] for k, v in f.items()}, y))
    else:
        dataset = dataset.map(lambda f, n: {k: v[:n] for k, v in f.items()})
    pad_id = int(getattr(tokenizer, "pad_token_id", 0) or 0)
    width = None if dynamic_padding else max_length
    feature_shapes = {k: [width] for k in keys}
    feature_values = {"input_ids": pad_id, "attention_mask": 0, "token_type_ids": 0}
    if labels is not None:
        shapes = (feature_shapes, [])
        values = (feature_values, tf.constant("" if labels.dtype.kind in "USO" else 0, dtype=dataset.element_spec[1].dtype))
        length = lambda features, label: tf.shape(features["input_ids"])[0]  # noqa: E731
    else:
        shapes, values = feature_shapes, feature_values
        length = lambda features: tf.shape(features["input_ids"])[0]  # noqa: E731
    if bucket:
        boundaries = [b for b in (16, 32, 48, 64, 96, 128, 192, 256, 384) if b < max_length] + [max_length + 1]
        dataset = dataset.bucket_by_sequence_length(
            length,
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padded_shapes=shapes,
            padding_values=values,
        )
    else:
        dataset = dataset.padded_batch(batch_size, padded_shapes=shapes, padding_values=values)
    return dataset.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------------------------------------
# The three real ways to tokenize
# ---------------------------------------------------------------------------------------------
def tokenize_with_transformers(texts, pairs=None, *, seq_length: int = 128, model: str | None = None) -> dict:
    """The transformers fast tokenizer, ``tokenizer(a, b, ...)``, padded to ``seq_length`` (TF Hub keys)."""
    return dict(get_inputs(texts, pairs, max_length=seq_length, model=model, warn=False))


@functools.lru_cache(maxsize=4)
def _hub_preprocessor(model: str | None):
    import tensorflow_hub as hub
    import tensorflow_text  # noqa: F401  (registers the ops the preprocessing SavedModel uses)

    from bertlab.models import hub_handles

    return hub.load(hub_handles(model)["preprocess"])


def tokenize_with_hub(texts, pairs=None, *, seq_length: int = 128, model: str | None = None) -> dict:
    """The TF Hub preprocessing model: ``.tokenize`` each segment, then ``.bert_pack_inputs``.

    For single texts at the default length this is what ``hub.KerasLayer(handle)`` does in one
    step. TF Hub trims pairs round-robin, which differs from transformers' longest-first by one
    token per segment, and only when both segments are longer than half the room (see the lesson).
    """
    import tensorflow as tf

    first, second = check_texts(texts, pairs)
    _check_max_length(seq_length, second is not None)
    preprocessor = _hub_preprocessor(model)
    segments = [preprocessor.tokenize(tf.constant(first))]
    if second is not None:
        segments.append(preprocessor.tokenize(tf.constant(second)))
    packed = preprocessor.bert_pack_inputs(segments, seq_length=tf.constant(seq_length))
    return {key: packed[key].numpy().astype(np.int32) for key in HUB_KEYS}


@functools.lru_cache(maxsize=4)
def _tf_text_tokenizer(model: str | None):
    import tensorflow as tf
    import tensorflow_text as text

    from bertlab.models import get_spec, vocab_path

    tokenizer = _tokenizer(model)
    if get_spec(model).embedded:
        vocab = str(vocab_path(model))
    else:  # online models: the same vocabulary, taken from the transformers tokenizer
        tokens = tokenizer.convert_ids_to_tokens(list(range(tokenizer.vocab_size)))
        vocab = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tokens, tf.range(len(tokens), dtype=tf.int64)), default_value=UNK_ID
        )
    return text.BertTokenizer(vocab, lower_case=getattr(tokenizer, "do_lower_case", True), token_out_type=tf.int64)


def tokenize_with_tf_text(texts, pairs=None, *, seq_length: int = 128, model: str | None = None) -> dict:
    """``tensorflow_text.BertTokenizer`` + ``RoundRobinTrimmer`` + ``combine_segments`` + ``pad_model_inputs``.

    The TF ops that TF Hub's preprocessing model is made of, called one by one.
    """
    import tensorflow as tf
    import tensorflow_text as text

    first, second = check_texts(texts, pairs)
    _check_max_length(seq_length, second is not None)
    tokenizer = _tf_text_tokenizer(model)
    # tokenize gives [batch, words, wordpieces]; merge the last two axes into one list per text.
    segments = [tokenizer.tokenize(tf.constant(first)).merge_dims(-2, -1)]
    if second is not None:
        segments.append(tokenizer.tokenize(tf.constant(second)).merge_dims(-2, -1))
    trimmed = text.RoundRobinTrimmer(max_seq_length=seq_length - 1 - len(segments)).trim(segments)
    ids, type_ids = text.combine_segments(trimmed, start_of_sequence_id=CLS_ID, end_of_segment_id=SEP_ID)
    word_ids, mask = text.pad_model_inputs(ids, max_seq_length=seq_length, pad_value=PAD_ID)
    type_ids, _ = text.pad_model_inputs(type_ids, max_seq_length=seq_length, pad_value=0)
    return {
        "input_word_ids": word_ids.numpy().astype(np.int32),
        "input_mask": mask.numpy().astype(np.int32),
        "input_type_ids": type_ids.numpy().astype(np.int32),
    }


TOKENIZE_WAYS = {
    "transformers": tokenize_with_transformers,
    "tf_text": tokenize_with_tf_text,
    "tf_hub": tokenize_with_hub,
}


def tokenizer_differences(
    texts, pairs=None, *, way: str = "tf_text", seq_length: int = 128, context: int | None = None, model: str | None = None
):
    """The examples that ``way`` tokenizes differently from transformers, tokens side by side.

    Returns a DataFrame(position, text, transformers, <way>) with the tokens (no padding); with
    ``context=n`` only the tokens from ``n`` before the first difference to ``n`` after it.
    """
    import pandas as pd

    first, second = check_texts(texts, pairs)
    reference = tokenize_with_transformers(first, second, seq_length=seq_length, model=model)
    got = TOKENIZE_WAYS[way](first, second, seq_length=seq_length, model=model)
    differ = np.zeros(len(first), dtype=bool)
    for key in HUB_KEYS:
        differ |= (got[key] != reference[key]).any(axis=1)
    tokenizer = _tokenizer(model)

    def tokens(ids, mask):
        return tokenizer.convert_ids_to_tokens([int(i) for i, m in zip(ids, mask) if m])

    rows = []
    for i in np.flatnonzero(differ):
        ours = tokens(reference["input_word_ids"][i], reference["input_mask"][i])
        theirs = tokens(got["input_word_ids"][i], got["input_mask"][i])
        if context is not None:
            at = next((k for k, (x, y) in enumerate(zip(ours, theirs)) if x != y), min(len(ours), len(theirs)))
            start = max(0, at - context)
            ours, theirs = " ".join(ours[start : at + context + 1]), " ".join(theirs[start : at + context + 1])
        rows.append(
            {
                "position": int(i),
                "text": first[i] if second is None else f"{first[i]} || {second[i]}",
                "transformers": ours,
                way: theirs,
            }
        )
    return pd.DataFrame(rows, columns=["position", "text", "transformers", way])


def compare_tokenizers(texts, pairs=None, *, seq_length: int = 128, ways=None, model: str | None = None):
    """How many examples each way tokenizes exactly as the transformers tokenizer does.

    Returns a DataFrame, one row per way: ``examples``, and ``identical`` = examples whose three
    inputs (ids, mask, type ids) are equal to the transformers ones, position by position.
    """
    import pandas as pd

    first, second = check_texts(texts, pairs)
    ways = list(ways or TOKENIZE_WAYS)
    reference = tokenize_with_transformers(first, second, seq_length=seq_length, model=model)
    rows = []
    for way in ways:
        got = TOKENIZE_WAYS[way](first, second, seq_length=seq_length, model=model)
        same = np.ones(len(first), dtype=bool)
        for key in HUB_KEYS:
            same &= (got[key] == reference[key]).all(axis=1)
        rows.append({"way": way, "examples": len(first), "identical": int(same.sum())})
    return pd.DataFrame(rows).set_index("way")


# ---------------------------------------------------------------------------------------------
# Token lengths: the figure
# ---------------------------------------------------------------------------------------------
def length_summary(lengths, max_length: int = 128) -> dict:
    """Count, mean, median, 95th percentile, max of token lengths and the share over ``max_length``."""
    lengths = np.asarray(lengths)
    if lengths.size == 0:
        raise ValueError("no lengths to summarize")
    return {
        "examples": int(lengths.size),
        "mean": float(lengths.mean()),
        "median": float(np.median(lengths)),
        "p95": float(np.percentile(lengths, 95)),
        "max": int(lengths.max()),
        "truncated": int((lengths > max_length).sum()),
        "truncated_share": float((lengths > max_length).mean()),
    }


def plot_token_lengths(lengths_by_name: dict, max_length: int = 128, *, bins: int = 40, figsize=(8, 3.2)):
    """Histograms of token lengths (one panel per data set), ``max_length`` marked, share truncated in the legend."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(lengths_by_name), figsize=figsize, squeeze=False)
    for ax, (name, lengths) in zip(axes[0], lengths_by_name.items()):
        lengths = np.asarray(lengths)
        summary = length_summary(lengths, max_length)
        ax.hist(lengths, bins=bins, color="tab:blue", alpha=0.8)
        ax.axvline(
            max_length,
            color="tab:red",
            linestyle="--",
            label=f"max_length={max_length}\n{summary['truncated_share']:.2%} truncated",
        )
        ax.set_title(f"{name} ({summary['examples']:,} examples)")
        ax.set_xlabel("tokens, with [CLS]/[SEP]")
        ax.set_ylabel("examples")
        ax.legend(fontsize=8)
    fig.suptitle("How long are the inputs? Token lengths")
    fig.tight_layout()
    return fig
