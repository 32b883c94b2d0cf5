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

from bertlab.errors import BertlabWarning, check_batch_size
from bertlab.bert_inputs import (  # noqa: F401  (re-exported: the names lessons and modules import from here)
    CLS_ID,
    HUB_KEYS,
    MASK_ID,
    MAX_POSITIONS,
    PAD_ID,
    SEP_ID,
    TRANSFORMERS_KEYS,
    UNK_ID,
)


class TruncationWarning(BertlabWarning):
    """Some texts were longer than ``max_length`` tokens and were truncated."""

__all__ = [
    "HUB_KEYS",
    "MAX_POSITIONS",
    "TOKENIZE_WAYS",
    "TRANSFORMERS_KEYS",
    "BertInputs",
    "TruncationWarning",
    "TRUNCATION",
    "Encoding",
    "TruncationReport",
    "check_max_length",
    "check_texts",
    "encode",
    "encode_texts",
    "compare_tokenizers",
    "get_inputs",
    "get_inputs_from_frame",
    "length_summary",
    "max_positions",
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
def _text_list(values, what: str, *, single: bool = True) -> list[str]:
    """``values`` as a list of str, or a clear error naming the first bad entry.

    ``single=False`` rejects a lone string (where a batch is meant). Whether a text is empty is
    decided after tokenization, by :func:`encode` (``blank=False``).
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
            continue
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            raise TypeError(f"{where} is missing ({value!r}), not a string: drop or fill missing texts first")
        if isinstance(value, bytes):
            raise TypeError(f"{where} is bytes, not a string: decode it first (value.decode('utf-8'))")
        raise TypeError(f"{where} is of type {type(value).__name__} ({value!r:.40}), not a string")
    return values


def check_texts(texts, text_pair=None, *, names: tuple[str, str] = ("texts", "text_pair"),
                single: bool = True) -> tuple[list[str], list[str] | None]:
    """Texts (and second segments) as lists of str; raise a clear error on bad input.

    The one input check of the package (tokenizing, tf.data, features, prediction all use it).
    A single string is a batch of one (``single=False`` makes it an error). Errors:
    ``ValueError`` for an empty list or pair lists of different lengths; ``TypeError`` for
    ``None``, a non-string or a missing (NaN) entry. ``names`` are the argument names the
    messages use. A text with nothing in it (``""``, whitespace, ``"\u200b"``) is refused where
    that matters by :func:`encode` with ``blank=False``, which looks at the word pieces.
    """
    first = _text_list(texts, names[0], single=single)
    if text_pair is None:
        return first, None
    second = _text_list(text_pair, names[1], single=single)
    if len(second) != len(first):
        raise ValueError(
            f"{names[0]} has {len(first)} entries but {names[1]} has {len(second)}: each text needs exactly one partner"
        )
    return first, second


TRUNCATION = "longest_first"
"""The one truncation policy of the package: tokens come off the longer segment until the input
fits (a single text simply loses its end), as in transformers and the BERT reference code."""


def check_max_length(max_length: int, *, pairs: bool = False, limit: int = MAX_POSITIONS) -> int:
    """``max_length`` as an int, or a clear error: at least room for the special tokens, at most
    ``limit`` (the model's position embeddings, :data:`MAX_POSITIONS` for BERT).

    Raises ``TypeError`` for a non-integer and ``ValueError`` outside ``[2 or 3, limit]``; every
    entry point of the package that takes a length checks it here, up front.
    """
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
        raise TypeError(f"max_length must be an int, not {type(max_length).__name__}")
    smallest = 3 if pairs else 2  # room for [CLS] and the [SEP](s)
    if not smallest <= max_length <= limit:
        raise ValueError(
            f"max_length must be between {smallest} ([CLS] and [SEP]{' twice' if pairs else ''}) and "
            f"{limit} (the model has position embeddings for {limit} tokens only), got {max_length}"
        )
    return int(max_length)


def max_positions(model=None, tokenizer=None) -> int:
    """The most tokens a model can read: ``config.max_position_embeddings`` of ``model`` (a
    transformers model, :func:`~bertlab.finetuning.build_functional_classifier`'s model through its
    ``.encoder``, or anything with a BERT ``config``), else the ``model_max_length`` that
    ``tokenizer`` states, else :data:`MAX_POSITIONS` (BERT's 512)."""
    for candidate in (model, getattr(model, "encoder", None)):
        limit = getattr(getattr(candidate, "config", None), "max_position_embeddings", None)
        if isinstance(limit, int) and limit > 0:
            return limit
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit <= 10**6:  # a tokenizer without a stated limit says 10**30
        return limit
    return MAX_POSITIONS


@functools.lru_cache(maxsize=4)
def _tokenizer(model: str | None):
    from bertlab.models import load_tokenizer

    return load_tokenizer(model)


# ---------------------------------------------------------------------------------------------
# The encode core: every text -> ids path of the package goes through encode()
# ---------------------------------------------------------------------------------------------
class TruncationReport:
    """What truncation did to a batch: each example's token count with special tokens *before*
    truncation (``lengths``, int64), the ``max_length`` it was cut to, and the one message."""

    def __init__(self, lengths: np.ndarray, max_length: int | None):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.max_length = max_length
        self.truncated = self.lengths > max_length if max_length is not None else np.zeros(len(self.lengths), bool)

    @property
    def n_truncated(self) -> int:
        return int(self.truncated.sum())

    def message(self) -> str:
        n = len(self.lengths)
        return (
            f"{self.n_truncated} of {n} examples ({self.n_truncated / n:.1%}) were longer than "
            f"max_length={self.max_length} tokens and were truncated (longest {int(self.lengths.max())} tokens)"
        )

    def warn(self, stacklevel: int = 2) -> None:
        """A :class:`TruncationWarning` with :meth:`message` when anything was cut (stacklevel as in ``warnings.warn``)."""
        if self.n_truncated:
            warnings.warn(self.message(), TruncationWarning, stacklevel=stacklevel + 1)


class Encoding:
    """Texts (or pairs) as unpadded token ids: ``input_ids`` and ``token_type_ids`` (lists of
    lists of int, ``[CLS] a [SEP] (b [SEP])``), ``truncation`` (a :class:`TruncationReport`),
    ``pad_id`` and the checked ``texts``/``text_pair``. :meth:`padded` gives the model's ``int32`` arrays."""

    def __init__(self, input_ids: list, token_type_ids: list, truncation: TruncationReport, pad_id: int,
                 texts: list[str], text_pair: list[str] | None):
        self.input_ids, self.token_type_ids = input_ids, token_type_ids
        self.truncation, self.pad_id = truncation, pad_id
        self.texts, self.text_pair = texts, text_pair  # the checked texts, for routes that take strings

    def __len__(self) -> int:
        return len(self.input_ids)

    def padded(self, rows=None, width: int | None = None) -> dict:
        """``{input_ids, attention_mask, token_type_ids}``: ``int32`` arrays (batch, width) of ``rows``
        (indices; default all), padded to ``width`` (default: the longest of those rows)."""
        rows = range(len(self)) if rows is None else rows
        ids = [self.input_ids[i] for i in rows]
        width = max(len(row) for row in ids) if width is None else width
        word_ids = np.full((len(ids), width), self.pad_id, np.int32)
        mask, type_ids = np.zeros((len(ids), width), np.int32), np.zeros((len(ids), width), np.int32)
        for k, i in enumerate(rows):
            n = len(self.input_ids[i])
            word_ids[k, :n], mask[k, :n], type_ids[k, :n] = self.input_ids[i], 1, self.token_type_ids[i]
        return dict(zip(TRANSFORMERS_KEYS, (word_ids, mask, type_ids)))


def encode(first: list[str], second: list[str] | None, *, tokenizer, max_length: int | None,
           blank: bool = True, names: tuple[str, str] = ("texts", "text_pair")) -> Encoding:
    """The one tokenizing core: already-checked texts (see :func:`check_texts`) -> :class:`Encoding`.

    ``max_length=None`` keeps every token (for counting); otherwise inputs are cut to
    ``max_length`` by :data:`TRUNCATION`, and ``truncation.lengths`` still counts the tokens
    before the cut. ``blank=False`` raises ``ValueError`` naming the first text (or segment) with
    no word pieces at all: ``""``, whitespace, or characters the tokenizer drops (``"\\u200b"``).
    Public functions validate their input once, call this once, and warn with
    ``encoding.truncation.warn()``.
    """
    cut = max_length is not None
    encoded = tokenizer(first, second, truncation=TRUNCATION if cut else False, max_length=max_length,
                        padding=False, return_token_type_ids=True, return_attention_mask=False, verbose=False)
    ids, types = encoded["input_ids"], encoded["token_type_ids"]
    lengths = np.array([len(row) for row in ids], dtype=np.int64)
    full_types = list(types)
    # Only rows that reached max_length may have been cut: tokenize those again, whole.
    full = np.flatnonzero(lengths >= max_length) if cut else []
    if len(full):
        again = tokenizer([first[i] for i in full], [second[i] for i in full] if second is not None else None,
                          truncation=False, padding=False, return_token_type_ids=True, return_attention_mask=False,
                          verbose=False)
        for i, row in zip(full, again["token_type_ids"]):
            lengths[i], full_types[i] = len(row), row
    if not blank:
        _refuse_no_word_pieces(full_types, second is not None, first, second, names)
    pad_id = getattr(tokenizer, "pad_token_id", None)
    return Encoding(list(ids), list(types), TruncationReport(lengths, max_length), PAD_ID if pad_id is None else pad_id,
                    first, second)


def _refuse_no_word_pieces(full_types, pairs: bool, first, second, names) -> None:
    """ValueError for the first text or segment without word pieces (type ids: 0 on [CLS] a [SEP], 1 on b [SEP])."""
    for i, row in enumerate(full_types):
        in_first = sum(1 for t in row if t == 0) - 2  # less [CLS] and its [SEP]
        in_second = sum(1 for t in row if t == 1) - 1 if pairs else 1
        for pieces, name, text in ((in_first, names[0], first[i]), (in_second, names[1], second[i] if pairs else "")):
            if pieces <= 0:
                raise ValueError(
                    f"{name}[{i}] ({text[:40]!r}) has no word pieces after tokenization: there is nothing to classify"
                )


def encode_texts(texts, text_pair=None, *, tokenizer=None, model: str | None = None, max_length: int | None = 128,
                 limit: int = MAX_POSITIONS, blank: bool = True, single: bool = True,
                 names: tuple[str, str] = ("texts", "text_pair")) -> Encoding:
    """:func:`check_texts`, :func:`check_max_length`, then :func:`encode`: the entry every public
    function that takes texts uses (once per call). Does not warn: the caller does, with the
    stacklevel that points at its own caller."""
    first, second = check_texts(texts, text_pair, names=names, single=single)
    if max_length is not None:
        max_length = check_max_length(max_length, pairs=second is not None, limit=limit)
    return encode(first, second, tokenizer=tokenizer or _tokenizer(model), max_length=max_length, blank=blank,
                  names=names)


# ---------------------------------------------------------------------------------------------
# The helper: texts -> BERT inputs
# ---------------------------------------------------------------------------------------------
class BertInputs(dict):
    """A dict of ``int32`` arrays (the model's inputs) that also carries the truncation report.

    It goes straight into ``model(...)``, ``model.predict``, ``model.fit`` and
    ``tf.data.Dataset.from_tensor_slices``: TensorFlow rebuilds dicts by calling their class with
    the (key, value) pairs, as it does ``dict``. ``lengths`` holds each example's token count with
    special tokens *before* truncation, ``truncated`` whether it was cut to ``max_length``; a copy
    that TensorFlow rebuilt carries no report (``truncation`` is None).
    """

    truncation: TruncationReport | None = None

    @classmethod
    def with_report(cls, arrays: dict, truncation: TruncationReport) -> "BertInputs":
        inputs = cls(arrays)
        inputs.truncation = truncation
        return inputs

    def _report(self) -> TruncationReport:
        if self.truncation is None:
            raise AttributeError("this copy of the inputs was rebuilt (e.g. by TensorFlow) and has no truncation report")
        return self.truncation

    lengths = property(lambda self: self._report().lengths)
    max_length = property(lambda self: self._report().max_length)
    truncated = property(lambda self: self._report().truncated)
    n_truncated = property(lambda self: self._report().n_truncated)

    def report(self) -> str:
        """One line: how many examples were truncated to ``max_length``."""
        return self._report().message()


def token_lengths(texts, text_pair=None, *, tokenizer=None, model: str | None = None) -> np.ndarray:
    """Number of tokens of each text (or pair) with ``[CLS]``/``[SEP]``, before any truncation (int64)."""
    return encode_texts(texts, text_pair, tokenizer=tokenizer, model=model, max_length=None).truncation.lengths


def get_inputs(
    texts,
    text_pair=None,
    *,
    max_length: int = 128,
    padding: str = "max_length",
    names: str = "hub",
    tokenizer=None,
    model: str | None = None,
    warn: bool = True,
) -> BertInputs:
    """Turn texts (or text pairs) into BERT's three ``int32`` inputs, shape ``(batch, length)``.

    ``texts``/``text_pair``: a string or a list / Series / array of strings (``text_pair`` = the second
    segments, same length). ``padding="max_length"`` pads every row to ``max_length``;
    ``padding="longest"`` pads to the longest row of this batch (dynamic padding: less work).
    Longer inputs are truncated to ``max_length`` tokens (at most 512) by :data:`TRUNCATION`: a
    single text loses its end; a pair is cut longest-first (tokens come off the longer segment
    until both fit). Truncation is reported: a :class:`TruncationWarning` (``warn=False`` leaves
    only the report) and the result's ``truncated``/``lengths``/``report()``. ``names="hub"``
    gives the TF Hub keys (:data:`HUB_KEYS`), ``names="transformers"`` the transformers keys
    (:data:`TRANSFORMERS_KEYS`). Errors: see :func:`check_texts` and :func:`check_max_length`.
    """
    if padding not in ("max_length", "longest"):
        raise ValueError(f"padding must be 'max_length' (fixed) or 'longest' (dynamic), not {padding!r}")
    if names not in ("hub", "transformers"):
        raise ValueError(f"names must be 'hub' or 'transformers', not {names!r}")
    encoding = encode_texts(texts, text_pair, tokenizer=tokenizer, model=model, max_length=max_length)
    arrays = encoding.padded(width=max_length if padding == "max_length" else None)
    keys = HUB_KEYS if names == "hub" else TRANSFORMERS_KEYS
    result = BertInputs.with_report(
        {key: arrays[source] for key, source in zip(keys, TRANSFORMERS_KEYS)}, encoding.truncation
    )
    if warn:
        encoding.truncation.warn(stacklevel=2)
    return result


def get_inputs_from_frame(frame, text_column: str, pair_column: str | None = None, **kwargs) -> BertInputs:
    """:func:`get_inputs` on DataFrame columns: ``get_inputs_from_frame(mrpc, "sentence1", "sentence2")``."""
    for column in (text_column, pair_column):
        if column is not None and column not in frame.columns:
            raise KeyError(f"no column {column!r}; the frame has {list(frame.columns)}")
    text_pair = frame[pair_column] if pair_column is not None else None
    return get_inputs(frame[text_column], text_pair, **kwargs)


# ---------------------------------------------------------------------------------------------
# tf.data pipelines
# ---------------------------------------------------------------------------------------------
def to_tf_dataset(
    texts,
    text_pair=None,
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
    as in :func:`get_inputs` (a :class:`TruncationWarning` says how many). ``dynamic_padding=True``
    pads each batch to its longest sequence (``padded_batch``); ``False`` pads every batch to
    ``max_length``, the classic fixed padding. ``bucket=True`` groups similar lengths with tf.data's
    ``bucket_by_sequence_length`` (less padding; batch order then depends on lengths).
    ``shuffle`` shuffles the examples with ``seed`` before batching.
    """
    import pandas as pd
    import tensorflow as tf

    batch_size = check_batch_size(batch_size)
    tokenizer = tokenizer or _tokenizer(None)
    encoding = encode_texts(texts, text_pair, tokenizer=tokenizer, max_length=max_length,
                            limit=max_positions(tokenizer=tokenizer), single=False, names=("texts", "text_pair"))
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(encoding):
            raise ValueError(f"texts has {len(encoding)} entries but labels has {len(labels)}; they must match")
        for position, value in enumerate(labels):
            if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and math.isnan(value)):
                raise ValueError(f"labels: row {position} is missing ({value!r}); unlabelled data takes labels=None")
    encoding.truncation.warn(stacklevel=2)
    # Store the tokenized rows as one dense array padded to the longest row, plus each row's
    # length; a map slices each example back to its own length before (re)padding per batch.
    dense = encoding.padded()
    lengths = np.array([len(row) for row in encoding.input_ids], dtype=np.int32)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.dtype.kind in "iub":
            labels = labels.astype(np.int32)
        dataset = tf.data.Dataset.from_tensor_slices((dense, lengths, labels))
    else:
        dataset = tf.data.Dataset.from_tensor_slices((dense, lengths))
    if shuffle:  # the whole set fits in the buffer: a full shuffle, a new order each epoch
        dataset = dataset.shuffle(len(encoding), seed=seed, reshuffle_each_iteration=True)
    if labels is not None:
        dataset = dataset.map(lambda f, n, y: ({k: v[:n] for k, v in f.items()}, y))
    else:
        dataset = dataset.map(lambda f, n: {k: v[:n] for k, v in f.items()})
    ids_key, mask_key, types_key = TRANSFORMERS_KEYS
    width = None if dynamic_padding else max_length
    feature_shapes = {k: [width] for k in TRANSFORMERS_KEYS}
    feature_values = {ids_key: encoding.pad_id, mask_key: 0, types_key: 0}
    if labels is not None:
        shapes = (feature_shapes, [])
        values = (feature_values, tf.constant("" if labels.dtype.kind in "USO" else 0, dtype=dataset.element_spec[1].dtype))
        length = lambda features, label: tf.shape(features[ids_key])[0]  # noqa: E731
    else:
        shapes, values = feature_shapes, feature_values
        length = lambda features: tf.shape(features[ids_key])[0]  # noqa: E731
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
def _transformers_way(first, second, max_length, model):
    encoding = encode(first, second, tokenizer=_tokenizer(model), max_length=max_length)
    arrays = encoding.padded(width=max_length)
    return {key: arrays[source] for key, source in zip(HUB_KEYS, TRANSFORMERS_KEYS)}, encoding.truncation.lengths


@functools.lru_cache(maxsize=4)
def _hub_preprocessor(model: str | None):
    from bertlab.models import hub_handles, load_hub

    return load_hub(hub_handles(model)["preprocess"])


def _hub_way(first, second, max_length, model):
    import tensorflow as tf

    preprocessor = _hub_preprocessor(model)
    segments = [preprocessor.tokenize(tf.constant(part)) for part in (first, second) if part is not None]
    packed = preprocessor.bert_pack_inputs(segments, seq_length=tf.constant(max_length))
    # .tokenize gives [batch, words, wordpieces]: merge the last two axes to count pieces per text.
    lengths = _packed_lengths([segment.merge_dims(-2, -1) for segment in segments])
    return {key: packed[key].numpy().astype(np.int32) for key in HUB_KEYS}, lengths


def _packed_lengths(segments) -> np.ndarray:
    """Tokens of ``[CLS] a [SEP] (b [SEP])`` before trimming, from the ragged word pieces of each segment."""
    return sum(segment.row_lengths().numpy() for segment in segments) + 1 + len(segments)


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


def _tf_text_way(first, second, max_length, model):
    import tensorflow as tf
    import tensorflow_text as text

    tokenizer = _tf_text_tokenizer(model)
    # tokenize gives [batch, words, wordpieces]; merge the last two axes into one list per text.
    segments = [tokenizer.tokenize(tf.constant(part)).merge_dims(-2, -1) for part in (first, second) if part is not None]
    trimmed = text.RoundRobinTrimmer(max_seq_length=max_length - 1 - len(segments)).trim(segments)
    ids, type_ids = text.combine_segments(trimmed, start_of_sequence_id=CLS_ID, end_of_segment_id=SEP_ID)
    word_ids, mask = text.pad_model_inputs(ids, max_seq_length=max_length, pad_value=PAD_ID)
    type_ids, _ = text.pad_model_inputs(type_ids, max_seq_length=max_length, pad_value=0)
    arrays = (word_ids, mask, type_ids)
    return {key: array.numpy().astype(np.int32) for key, array in zip(HUB_KEYS, arrays)}, _packed_lengths(segments)


_WAYS = {"transformers": _transformers_way, "tf_text": _tf_text_way, "tf_hub": _hub_way}


def _tokenize(ways, texts, text_pair, max_length, model) -> tuple[list[str], list[str] | None, list[dict]]:
    """Check once, tokenize with each of ``ways``, warn once (from the first way's lengths)."""
    unknown = sorted(set(ways) - set(_WAYS))
    if unknown:
        raise ValueError(f"unknown way(s) {unknown}; choose from {sorted(_WAYS)}")
    first, second = check_texts(texts, text_pair)
    max_length = check_max_length(max_length, pairs=second is not None)
    results = [_WAYS[way](first, second, max_length, model) for way in ways]
    TruncationReport(results[0][1], max_length).warn(stacklevel=3)
    return first, second, [arrays for arrays, _ in results]


def tokenize_with_transformers(texts, text_pair=None, *, max_length: int = 128, model: str | None = None) -> dict:
    """The transformers fast tokenizer, ``tokenizer(a, b, ...)``, padded to ``max_length`` (TF Hub keys)."""
    return _tokenize(["transformers"], texts, text_pair, max_length, model)[2][0]


def tokenize_with_hub(texts, text_pair=None, *, max_length: int = 128, model: str | None = None) -> dict:
    """The TF Hub preprocessing model: ``.tokenize`` each segment, then ``.bert_pack_inputs``.

    For single texts at the default length this is what ``hub.KerasLayer(handle)`` does in one
    step. TF Hub trims pairs round-robin, which differs from transformers' longest-first by one
    token per segment, and only when both segments are longer than half the room (see the lesson).
    """
    return _tokenize(["tf_hub"], texts, text_pair, max_length, model)[2][0]


def tokenize_with_tf_text(texts, text_pair=None, *, max_length: int = 128, model: str | None = None) -> dict:
    """``tensorflow_text.BertTokenizer`` + ``RoundRobinTrimmer`` + ``combine_segments`` + ``pad_model_inputs``.

    The TF ops that TF Hub's preprocessing model is made of, called one by one.
    """
    return _tokenize(["tf_text"], texts, text_pair, max_length, model)[2][0]


TOKENIZE_WAYS = {
    "transformers": tokenize_with_transformers,
    "tf_text": tokenize_with_tf_text,
    "tf_hub": tokenize_with_hub,
}


def tokenizer_differences(
    texts, text_pair=None, *, way: str = "tf_text", max_length: int = 128, context: int | None = None, model: str | None = None
):
    """The examples that ``way`` tokenizes differently from transformers, tokens side by side.

    Returns a DataFrame(position, text, transformers, <way>) with the tokens (no padding); with
    ``context=n`` only the tokens from ``n`` before the first difference to ``n`` after it.
    """
    import pandas as pd

    first, second, (reference, got) = _tokenize(["transformers", way], texts, text_pair, max_length, model)
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


def compare_tokenizers(texts, text_pair=None, *, max_length: int = 128, ways=None, model: str | None = None):
    """How many examples each way tokenizes exactly as the transformers tokenizer does.

    Returns a DataFrame, one row per way: ``examples``, and ``identical`` = examples whose three
    inputs (ids, mask, type ids) are equal to the transformers ones, position by position.
    """
    import pandas as pd

    ways = list(ways or TOKENIZE_WAYS)
    first, _, (reference, *results) = _tokenize(["transformers", *ways], texts, text_pair, max_length, model)
    rows = []
    for way, got in zip(ways, results):
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
