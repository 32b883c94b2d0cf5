"""BERT's two pretraining tasks, done for real on a small model: masked language modelling
(MLM) and next-sentence prediction (NSP).

The pipeline, as in the BERT paper (Devlin et al., 2019, section 3.1 and appendix A.1):

1. :func:`make_nsp_pairs` turns documents (lists of sentences) into sentence pairs: half the
   time sentence B is the sentence that really follows A, half the time it is a random
   sentence from *another* document (label :data:`IS_RANDOM`).
2. :func:`encode_pairs` tokenizes the pairs with the BERT WordPiece tokenizer
   (``[CLS] A [SEP] B [SEP]``, at most ``max_length`` tokens) and maps the ids into a
   :class:`CompactVocab`: only the WordPieces the training text uses, so that the output layer
   of a model trained for a few CPU minutes is small.
3. :func:`mask_tokens` (TF Text's ``mask_language_model``) chooses 15 % of the non-special
   tokens; of those, 80 % become ``[MASK]``, 10 % a random token, 10 % stay unchanged. The
   labels hold the original id at the chosen positions and :data:`IGNORE_INDEX` elsewhere.
4. :func:`pretraining_dataset` is the ``tf.data`` pipeline: shuffle, batch, mask (fresh masks
   every epoch), pad.
5. :func:`build_pretraining_model` wraps transformers' ``TFBertForPreTraining`` (both heads,
   outputs ``mlm`` and ``nsp``) for Keras. Lesson 04 compiles it itself, with
   :func:`bertlab.finetuning.create_optimizer`, :func:`masked_lm_loss` on ``mlm`` and
   :class:`MaskedLMAccuracy`, and trains it with ``model.fit`` (``benchmarks/pretraining.py`` does
   the same steps); :func:`evaluate_pretraining` scores it on the held-out pairs.
"""
from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_text as text

from bertlab.errors import check_batch_size
from bertlab.preprocessing import TRANSFORMERS_KEYS, check_max_length, check_texts, encode, max_positions

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
IGNORE_INDEX = -100  # label of positions the MLM loss ignores (the transformers convention)
IS_NEXT = 0  # next-sentence label: B really follows A (transformers' convention)
IS_RANDOM = 1  # next-sentence label: B is a random sentence from another document

# BERT-Tiny's shape (Turc et al., 2019), the smallest of Google's compact BERTs.
TINY_CONFIG = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512)


# --------------------------------------------------------------------------- documents -> pairs
class SentencePair(NamedTuple):
    sentence_a: str
    sentence_b: str
    label: int  # IS_NEXT or IS_RANDOM
    document: int  # index of the document sentence A comes from
    other_document: int  # index of the document sentence B comes from


def _check_documents(documents) -> list[list[str]]:
    if isinstance(documents, (str, bytes)) or not isinstance(documents, Sequence):
        raise TypeError("documents must be a list of documents, each a list of sentences (str).")
    checked = []
    for index, document in enumerate(documents):
        if isinstance(document, (str, bytes)) or not isinstance(document, Sequence):
            raise TypeError(f"document {index} is {type(document).__name__}, not a list of sentences.")
        if not all(isinstance(sentence, str) for sentence in document):
            raise TypeError(f"document {index} holds something other than sentences (str).")
        checked.append(list(document))
    return checked


def split_documents(documents, heldout_fraction: float = 0.1, seed: int = 0):
    """Split whole documents (never sentences of one document) into (train, held-out)."""
    documents = _check_documents(documents)
    if not 0 < heldout_fraction < 1:
        raise ValueError(f"heldout_fraction must be between 0 and 1, got {heldout_fraction}.")
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    n_heldout = max(1, round(len(documents) * heldout_fraction))
    heldout = set(order[:n_heldout])
    train = [doc for i, doc in enumerate(documents) if i not in heldout]
    held = [doc for i, doc in enumerate(documents) if i in heldout]
    return train, held


def make_nsp_pairs(documents, *, random_next_rate: float = 0.5, seed: int = 0, both: bool = False) -> list[SentencePair]:
    """Sentence pairs for next-sentence prediction.

    For every sentence that has a successor in its document, sentence B is that successor
    (label ``IS_NEXT``) or, with probability ``random_next_rate``, a random sentence of a
    random *other* document (label ``IS_RANDOM``). Seeded: the same seed gives the same pairs.
    ``both=True`` (for evaluation) makes both pairs for every sentence: exactly half are random.
    """
    documents = _check_documents(documents)
    sources = [i for i, doc in enumerate(documents) if doc]
    if len(sources) < 2:
        raise ValueError("Need at least two non-empty documents: random sentences come from another document.")
    if not 0 <= random_next_rate <= 1:
        raise ValueError(f"random_next_rate must be between 0 and 1, got {random_next_rate}.")
    rng = random.Random(seed)
    pairs = []
    for d, document in enumerate(documents):
        for i in range(len(document) - 1):
            is_random = rng.random() < random_next_rate
            if both or not is_random:
                pairs.append(SentencePair(document[i], document[i + 1], IS_NEXT, d, d))
            if both or is_random:
                other = rng.choice(sources[:-1])  # a uniform choice among the sources other than d:
                if other == d:  # map d onto the one source left out of the draw
                    other = sources[-1]
                pairs.append(SentencePair(document[i], rng.choice(documents[other]), IS_RANDOM, d, other))
    if not pairs:
        raise ValueError("No document has two sentences, so there are no sentence pairs.")
    return pairs


# --------------------------------------------------------------------------- vocabulary
@dataclass
class CompactVocab:
    """The WordPieces a corpus uses, renumbered 0..size-1 (special tokens first).

    ``to_compact[tokenizer_id]`` is the compact id ([UNK] for WordPieces not kept);
    ``tokens[compact_id]`` is the WordPiece.
    """

    tokens: list[str]
    tokenizer_ids: np.ndarray
    to_compact: np.ndarray
    counts: np.ndarray = field(repr=False)  # training-text frequency of each compact id

    @property
    def size(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        try:
            return self.tokens.index(token)
        except ValueError:
            raise KeyError(f"{token!r} is not in the compact vocabulary") from None

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    @property
    def cls_id(self) -> int:
        return 2

    @property
    def sep_id(self) -> int:
        return 3

    @property
    def mask_id(self) -> int:
        return 4

    @property
    def special_ids(self) -> list[int]:
        return list(range(len(SPECIAL_TOKENS)))

    def encode(self, tokenizer_ids) -> np.ndarray:
        return self.to_compact[np.asarray(tokenizer_ids, dtype=np.int64)]

    def decode(self, compact_ids) -> list[str]:
        return [self.tokens[int(i)] for i in compact_ids]

    def most_frequent(self, k: int = 1) -> list[int]:
        """The k most frequent non-special tokens of the training text (the unigram baseline)."""
        counts = self.counts.astype(np.int64).copy()
        counts[self.special_ids] = -1
        return [int(i) for i in np.argsort(-counts, kind="stable")[:k]]


def build_vocab(tokenizer, documents, *, max_size: int | None = 8000, min_count: int = 2) -> CompactVocab:
    """Keep the WordPieces that occur at least ``min_count`` times in the documents (at most
    ``max_size`` tokens in all, the most frequent first), after the five special tokens."""
    documents = _check_documents(documents)
    sentences = [s for doc in documents for s in doc]
    if not sentences:
        raise ValueError("The documents hold no sentences to build a vocabulary from.")
    counter: Counter = Counter()
    for ids in tokenizer(sentences, add_special_tokens=False)["input_ids"]:
        counter.update(ids)
    special_tokenizer_ids = tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
    for sid in special_tokenizer_ids:
        counter.pop(sid, None)
    kept = [tid for tid, count in counter.most_common() if count >= min_count]
    if max_size is not None:
        kept = kept[: max(0, max_size - len(SPECIAL_TOKENS))]
    tokenizer_ids = np.array(list(special_tokenizer_ids) + kept, dtype=np.int64)
    to_compact = np.full(len(tokenizer), 1, dtype=np.int64)  # [UNK]
    to_compact[tokenizer_ids] = np.arange(len(tokenizer_ids))
    counts = np.zeros(len(tokenizer_ids), dtype=np.int64)
    counts[len(SPECIAL_TOKENS):] = [counter[t] for t in kept]
    counts[1] = sum(c for t, c in counter.items() if to_compact[t] == 1)  # what became [UNK]
    tokens = tokenizer.convert_ids_to_tokens(tokenizer_ids.tolist())
    return CompactVocab(tokens=tokens, tokenizer_ids=tokenizer_ids, to_compact=to_compact, counts=counts)


# --------------------------------------------------------------------------- encoding
@dataclass
class EncodedPairs:
    input_ids: tf.RaggedTensor  # [examples, (tokens)], compact ids, [CLS] A [SEP] B [SEP]
    token_type_ids: tf.RaggedTensor  # 0 for [CLS] A [SEP], 1 for B [SEP]
    nsp_labels: np.ndarray  # IS_NEXT / IS_RANDOM

    def __len__(self) -> int:
        return len(self.nsp_labels)


def encode_pairs(pairs: Sequence[SentencePair], tokenizer, vocab: CompactVocab, max_length: int = 64) -> EncodedPairs:
    """Tokenize pairs as ``[CLS] A [SEP] B [SEP]`` (at most ``max_length`` tokens, cut by the package's
    one policy, :data:`bertlab.preprocessing.TRUNCATION`, with a ``TruncationWarning`` saying how
    many) and map the ids into ``vocab``."""
    if not pairs:
        raise ValueError("No sentence pairs to encode.")
    if max_length < 5:
        raise ValueError(f"max_length must leave room for [CLS], [SEP], [SEP] and two tokens; got {max_length}.")
    first, second = check_texts([p.sentence_a for p in pairs], [p.sentence_b for p in pairs],
                                names=("sentence_a", "sentence_b"), single=False)
    encoded = encode(first, second, tokenizer=tokenizer, max_length=check_max_length(max_length, pairs=True))
    encoded.truncation.warn(stacklevel=2)
    lengths = np.array([len(row) for row in encoded.input_ids], dtype=np.int64)
    flat_ids = vocab.encode(np.concatenate([np.asarray(row) for row in encoded.input_ids]))
    flat_types = np.concatenate([np.asarray(row) for row in encoded.token_type_ids])
    return EncodedPairs(
        input_ids=tf.RaggedTensor.from_row_lengths(flat_ids.astype(np.int32), lengths),
        token_type_ids=tf.RaggedTensor.from_row_lengths(flat_types.astype(np.int32), lengths),
        nsp_labels=np.array([p.label for p in pairs], dtype=np.int32),
    )


# --------------------------------------------------------------------------- masking
def _stateless_shuffle(seed):
    """A ``tf.random.shuffle`` replacement for TF Text's item selector, driven by ``seed``."""

    def shuffle(values):
        keys = tf.random.stateless_uniform(tf.shape(values)[:1], seed=seed)
        return tf.gather(values, tf.argsort(keys))

    return shuffle


class StatelessMaskValuesChooser(text.MaskValuesChooser):
    """TF Text's 80/10/10 chooser with stateless draws from ``seed`` (a shape-[2] integer tensor)."""

    def __init__(self, *args, seed, **kwargs):
        super().__init__(*args, **kwargs)
        self.seed = seed

    def get_mask_values(self, masked_lm_ids):
        ids = masked_lm_ids if masked_lm_ids.ragged_rank == 1 else masked_lm_ids.merge_dims(1, -1)
        flat = ids.flat_values
        decide_seed, token_seed = tf.unstack(tf.random.experimental.stateless_split(self.seed, 2))
        draw = tf.random.stateless_uniform(tf.shape(flat), seed=decide_seed)
        random_ids = tf.random.stateless_uniform(tf.shape(flat), seed=token_seed, maxval=self.vocab_size, dtype=tf.int64)
        mask_rate, random_rate = self._mask_token_rate, self.random_token_rate
        values = tf.where(draw < mask_rate, tf.cast(self.mask_token, flat.dtype), flat)
        values = tf.where((draw >= mask_rate) & (draw < mask_rate + random_rate), tf.cast(random_ids, flat.dtype), values)
        return ids.with_flat_values(values)


def mask_tokens(
    input_ids: tf.RaggedTensor,
    *,
    vocab_size: int,
    mask_id: int,
    unselectable_ids: Sequence[int],
    selection_rate: float = 0.15,
    mask_token_rate: float = 0.8,
    random_token_rate: float = 0.1,
    max_selections: int = 1024,
    seed=None,
):
    """BERT's masking with TF Text's ``mask_language_model``.

    In each sequence, ``ceil(selection_rate * n)`` of its ``n`` selectable tokens (never those in
    ``unselectable_ids``) are chosen at random; a chosen token becomes ``mask_id`` with probability
    ``mask_token_rate``, a uniformly random id in ``[0, vocab_size)`` with probability
    ``random_token_rate``, and stays as it is otherwise.

    Returns ``(masked_ids, labels)``, both ragged like ``input_ids``: ``labels`` holds the original
    id where a token was chosen and ``IGNORE_INDEX`` elsewhere. Randomness comes from TensorFlow's
    global seed (``tf.random.set_seed``), or, with ``seed`` (a shape-[2] integer tensor), from
    stateless random ops: the same seed gives the same masks wherever the call runs, which
    stateful ops inside a ``tf.data`` pipeline do not guarantee.
    """
    if not isinstance(input_ids, tf.RaggedTensor):
        raise TypeError("input_ids must be a tf.RaggedTensor [batch, (tokens)] (padding is added after masking).")
    if not 0 <= selection_rate <= 1:
        raise ValueError(f"selection_rate must be between 0 and 1, got {selection_rate}.")
    if mask_token_rate < 0 or random_token_rate < 0 or mask_token_rate + random_token_rate > 1:
        raise ValueError("mask_token_rate and random_token_rate must be >= 0 and add up to at most 1.")
    rates = dict(mask_token_rate=mask_token_rate, random_token_rate=random_token_rate)
    if seed is None:
        shuffle_fn, chooser = None, text.MaskValuesChooser(vocab_size, mask_id, **rates)
    else:
        shuffle_seed, chooser_seed = tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2))
        shuffle_fn = _stateless_shuffle(shuffle_seed)
        chooser = StatelessMaskValuesChooser(vocab_size, mask_id, seed=chooser_seed, **rates)
    selector = text.RandomItemSelector(
        max_selections_per_batch=max_selections,
        selection_rate=selection_rate,
        unselectable_ids=list(unselectable_ids),
        shuffle_fn=shuffle_fn,
    )
    masked_ids, positions, originals = text.mask_language_model(input_ids, selector, chooser)
    # Scatter the original ids back to their positions; IGNORE_INDEX everywhere else.
    starts = tf.cast(input_ids.row_starts(), positions.dtype)
    flat_positions = (positions + tf.expand_dims(starts, 1)).flat_values
    flat_labels = tf.tensor_scatter_nd_update(
        tf.fill(tf.shape(input_ids.flat_values), tf.constant(IGNORE_INDEX, input_ids.dtype)),
        tf.expand_dims(tf.cast(flat_positions, tf.int64), 1),
        tf.cast(originals.flat_values, input_ids.dtype),
    )
    return masked_ids, input_ids.with_flat_values(flat_labels)


def pretraining_dataset(
    encoded: EncodedPairs,
    vocab: CompactVocab,
    *,
    batch_size: int = 32,
    seed: int = 0,
    shuffle: bool = True,
    epochs: int | None = 1,
    selection_rate: float = 0.15,
    mask_token_rate: float = 0.8,
    random_token_rate: float = 0.1,
    gather: bool = True,
) -> tf.data.Dataset:
    """The ``tf.data`` pipeline: shuffle, batch, mask, pad.

    Yields ``({"input_ids", "attention_mask", "token_type_ids", "masked_positions"},
    {"mlm": labels, "nsp": labels})``: ``[batch, longest-in-batch]`` int32 tensors, and, as in
    BERT's own pretraining code, the positions of the chosen tokens ``[batch, most-chosen]``
    with ``labels["mlm"]`` their original ids (``IGNORE_INDEX`` where a row has fewer), so the
    model computes vocabulary logits only where there is something to predict. With
    ``gather=False`` there is no ``masked_positions`` and ``labels["mlm"]`` is
    ``[batch, longest-in-batch]`` with ``IGNORE_INDEX`` at the unchosen positions. ``epochs`` passes (``None``: forever) are
    made before masking, so each epoch gets fresh masks (dynamic masking, as RoBERTa does);
    the masks are reproducible: each batch is masked with stateless ops seeded from ``seed``.
    For evaluation use ``shuffle=False, epochs=1`` and ``.cache()`` the result to fix the masks.
    """
    batch_size = check_batch_size(batch_size)
    ds = tf.data.Dataset.from_tensor_slices((encoded.input_ids, encoded.token_type_ids, encoded.nsp_labels))
    if shuffle:
        ds = ds.shuffle(len(encoded), seed=seed, reshuffle_each_iteration=True)
    if epochs != 1:
        ds = ds.repeat(epochs)
    ds = ds.ragged_batch(batch_size)
    # One stateless seed per batch, from a seeded stream: the masks are reproducible and
    # every epoch (the batches after .repeat) gets fresh ones.
    batch_seeds = tf.data.Dataset.random(seed=seed).batch(2)
    ds = tf.data.Dataset.zip((ds, batch_seeds)).map(lambda batch, batch_seed: (*batch, batch_seed))

    def mask_and_pad(ids, types, nsp, batch_seed):
        masked, labels = mask_tokens(
            ids,
            seed=batch_seed,
            vocab_size=vocab.size,
            mask_id=vocab.mask_id,
            unselectable_ids=vocab.special_ids,
            selection_rate=selection_rate,
            mask_token_rate=mask_token_rate,
            random_token_rate=random_token_rate,
        )
        features = dict(zip(TRANSFORMERS_KEYS, (masked.to_tensor(vocab.pad_id), tf.ones_like(ids).to_tensor(0),
                                                types.to_tensor(0))))
        if not gather:
            return features, {"mlm": labels.to_tensor(IGNORE_INDEX), "nsp": nsp}
        chosen = tf.not_equal(labels, IGNORE_INDEX)
        positions = tf.ragged.boolean_mask(tf.ragged.range(labels.row_lengths()), chosen)
        features["masked_positions"] = tf.cast(positions.to_tensor(0), tf.int32)
        return features, {"mlm": tf.ragged.boolean_mask(labels, chosen).to_tensor(IGNORE_INDEX), "nsp": nsp}

    return ds.map(mask_and_pad, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


# --------------------------------------------------------------------------- loss and metric
def masked_lm_loss(labels, logits):
    """Mean cross-entropy over the chosen positions only (labels != IGNORE_INDEX)."""
    labels = tf.cast(labels, tf.int32)
    chosen = tf.not_equal(labels, IGNORE_INDEX)
    safe_labels = tf.where(chosen, labels, 0)
    per_token = tf.keras.losses.sparse_categorical_crossentropy(safe_labels, logits, from_logits=True)
    weights = tf.cast(chosen, per_token.dtype)
    return tf.reduce_sum(per_token * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


class MaskedLMAccuracy(tf.keras.metrics.Metric):
    """Top-1 accuracy over the chosen positions only."""

    def __init__(self, name="accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_weight(name="correct", initializer="zeros")
        self.total = self.add_weight(name="total", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.cast(y_true, tf.int32)
        chosen = tf.not_equal(y_true, IGNORE_INDEX)
        hits = tf.logical_and(chosen, tf.equal(tf.argmax(y_pred, axis=-1, output_type=tf.int32), y_true))
        self.correct.assign_add(tf.reduce_sum(tf.cast(hits, tf.float32)))
        self.total.assign_add(tf.reduce_sum(tf.cast(chosen, tf.float32)))

    def result(self):
        return tf.math.divide_no_nan(self.correct, self.total)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)


# --------------------------------------------------------------------------- model
class BertPretrainer(tf.keras.Model):
    """transformers' ``TFBertForPreTraining`` with its two heads as named Keras outputs."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        from transformers import TFBertForPreTraining

        self.config = config
        self.bert = TFBertForPreTraining(config)

    def call(self, inputs, training=False):
        """Logits ``{"mlm": [batch, positions, vocab], "nsp": [batch, 2]}``; with
        ``inputs["masked_positions"]`` only at those positions, else at every position."""
        if not isinstance(inputs, Mapping):  # dict() of a list of 2-row tensors would "work", wrongly
            raise TypeError(
                f"BertPretrainer takes a dict keyed by {TRANSFORMERS_KEYS} (and masked_positions), "
                f"not a {type(inputs).__name__}: positional inputs would be ambiguous"
            )
        inputs = dict(inputs)
        positions = inputs.pop("masked_positions", None)
        if positions is None:
            out = self.bert(inputs, training=training)
            return {"mlm": out.prediction_logits, "nsp": out.seq_relationship_logits}
        # TFBertForPreTraining's own parts: encoder, then each head on what it needs.
        encoded = self.bert.bert(**inputs, training=training)
        chosen = tf.gather(encoded.last_hidden_state, positions, batch_dims=1)
        return {"mlm": self.bert.mlm(chosen), "nsp": self.bert.nsp(encoded.pooler_output)}


def build_pretraining_model(vocab_size: int, max_length: int = 64, seed: int = 0, **config) -> BertPretrainer:
    """A BERT for pretraining from scratch; ``config`` overrides BERT-Tiny's shape (:data:`TINY_CONFIG`)."""
    from transformers import BertConfig

    tf.keras.utils.set_random_seed(seed)
    settings = {**TINY_CONFIG, **config}
    bert_config = BertConfig(vocab_size=vocab_size, max_position_embeddings=max_length, **settings)
    model = BertPretrainer(bert_config)
    model(dict(zip(TRANSFORMERS_KEYS, (tf.zeros((1, 4), tf.int32), tf.ones((1, 4), tf.int32), tf.zeros((1, 4), tf.int32)))))
    return model


# --------------------------------------------------------------------------- watching it learn
def predict_masked(model, tokenizer, vocab: CompactVocab, sentence: str, k: int = 5) -> list[list[str]]:
    """Top-k WordPieces for every ``[MASK]`` in ``sentence`` (one list per [MASK])."""
    ids = vocab.encode(tokenizer(sentence)["input_ids"])
    limit = max_positions(model)
    if len(ids) > limit:
        raise ValueError(
            f"{sentence[:40]!r}... has {len(ids)} tokens but the model has position embeddings for {limit} tokens only"
        )
    positions = np.flatnonzero(ids == vocab.mask_id)
    if len(positions) == 0:
        raise ValueError(f"No [MASK] in {sentence!r}.")
    inputs = dict(zip(TRANSFORMERS_KEYS, (tf.constant([ids], tf.int32), tf.ones((1, len(ids)), tf.int32),
                                          tf.zeros((1, len(ids)), tf.int32))))
    logits = model(inputs, training=False)["mlm"][0].numpy()
    return [vocab.decode(np.argsort(-logits[p])[:k]) for p in positions]


class TopPredictionsCallback(tf.keras.callbacks.Callback):
    """The top-k guesses for the [MASK] of a few fixed sentences after each epoch, as a compact log.

    Every epoch's guesses are kept in ``history``; the first epoch, every ``every``-th and the last
    are printed: one line with the epoch's loss and accuracies (``logs``), then one line per sentence.
    """

    def __init__(self, sentences: Sequence[str], tokenizer, vocab: CompactVocab, k: int = 5, width: int = 38,
                 print_fn: Callable = print, every: int = 1):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}.")
        self.sentences = list(sentences)
        self.tokenizer, self.vocab, self.k, self.width, self.print_fn = tokenizer, vocab, k, width, print_fn
        self.every = every
        self.history: list[list[list[str]]] = []

    def on_epoch_end(self, epoch, logs=None):
        guesses = [predict_masked(self.model, self.tokenizer, self.vocab, s, self.k)[0] for s in self.sentences]
        self.history.append(guesses)
        last = epoch + 1 == (self.params or {}).get("epochs")
        if epoch and (epoch + 1) % self.every and not last:
            return
        shown_logs = [f"{name} {logs[name]:.3f}" for name in ("loss", "mlm_accuracy", "nsp_accuracy") if name in (logs or {})]
        if shown_logs:
            self.print_fn(f"epoch {epoch + 1:>2}: " + ", ".join(shown_logs))
        for sentence, top in zip(self.sentences, guesses):
            shown = sentence if len(sentence) <= self.width else sentence[: self.width - 1] + "…"
            self.print_fn(f"  epoch {epoch + 1:>2} | {shown:<{self.width}} -> {', '.join(top)}")


def probe_sentences(sentences: Sequence[str], tokenizer, vocab: CompactVocab, *, words: Sequence[str], n: int = 3, max_words: int = 14) -> list[str]:
    """Up to ``n`` of ``sentences`` (short ones, at most ``max_words`` words) with one of ``words``
    replaced by ``[MASK]``: fixed fill-in-the-blank probes for :class:`TopPredictionsCallback`."""
    wanted = {w.lower() for w in words}
    probes = []
    for sentence in sentences:
        tokens = sentence.split()
        if not 5 <= len(tokens) <= max_words:
            continue
        for i, token in enumerate(tokens[1:], start=1):
            if token.lower() in wanted and token.lower() in vocab.tokens:
                probes.append(" ".join(tokens[:i] + ["[MASK]"] + tokens[i + 1:]))
                break
        if len(probes) == n:
            break
    return probes


# --------------------------------------------------------------------------- evaluation
def binomial_standard_error(accuracy: float, n: int) -> float:
    """Standard error of an accuracy measured on n independent examples."""
    return math.sqrt(accuracy * (1 - accuracy) / n) if n > 0 else float("nan")


def evaluate_pretraining(model, dataset: tf.data.Dataset, vocab: CompactVocab) -> dict:
    """Masked-token accuracy, the unigram baseline on the same masked positions, NSP accuracy,
    and how many masked tokens / sentence pairs each rests on.

    ``dataset`` must end (``ValueError`` for one that repeats forever), e.g. :func:`heldout_dataset`."""
    from bertlab.finetuning import check_finite

    check_finite(dataset, "dataset", "evaluate on a finite dataset, e.g. pretraining_dataset(..., epochs=1) or .take(n)")
    unigram = vocab.most_frequent(1)[0]
    mlm_hits = unigram_hits = mlm_n = nsp_hits = nsp_n = 0
    for features, labels in dataset:
        out = model(features, training=False)
        mlm_labels = labels["mlm"].numpy()
        chosen = mlm_labels != IGNORE_INDEX
        predicted = out["mlm"].numpy().argmax(-1)
        mlm_hits += int((predicted[chosen] == mlm_labels[chosen]).sum())
        unigram_hits += int((mlm_labels[chosen] == unigram).sum())
        mlm_n += int(chosen.sum())
        nsp_hits += int((out["nsp"].numpy().argmax(-1) == labels["nsp"].numpy()).sum())
        nsp_n += len(labels["nsp"])
    result = {
        "mlm_accuracy": mlm_hits / mlm_n,
        "unigram_accuracy": unigram_hits / mlm_n,
        "unigram_token": vocab.tokens[unigram],
        "masked_tokens": mlm_n,
        "nsp_accuracy": nsp_hits / nsp_n,
        "nsp_pairs": nsp_n,
    }
    result["mlm_se"] = binomial_standard_error(result["mlm_accuracy"], mlm_n)
    result["unigram_se"] = binomial_standard_error(result["unigram_accuracy"], mlm_n)
    result["nsp_se"] = binomial_standard_error(result["nsp_accuracy"], nsp_n)
    return result


# --------------------------------------------------------------------------- end to end
@dataclass
class PretrainingData:
    vocab: CompactVocab
    train: EncodedPairs  # `duplicates` pairings of the training documents, one after the other
    heldout: EncodedPairs
    train_pairs: list[SentencePair]  # the first pairing
    heldout_pairs: list[SentencePair]
    max_length: int
    duplicates: int = 1
    train_documents: list = field(default_factory=list, repr=False)
    heldout_documents: list = field(default_factory=list, repr=False)

    @property
    def pairs_per_pass(self) -> int:
        return len(self.train) // self.duplicates


def prepare_pretraining_data(
    train_documents,
    heldout_documents,
    tokenizer,
    *,
    max_length: int = 64,
    max_vocab: int | None = 8000,
    duplicates: int = 1,
    seed: int = 0,
) -> PretrainingData:
    """Lesson 04's data: the compact vocabulary from the training documents only, and NSP pairs
    encoded on each side of a split (:func:`split_documents` makes one).

    ``duplicates`` pairings of the training documents are drawn with different seeds (BERT's
    ``dupe_factor``), so that training sees new random "next" sentences on every pass; the
    held-out side has both a true and a random pair for every sentence (exactly 50 % random).
    """
    if duplicates < 1:
        raise ValueError(f"duplicates must be at least 1, got {duplicates}.")
    train_docs, heldout_docs = _check_documents(train_documents), _check_documents(heldout_documents)
    vocab = build_vocab(tokenizer, train_docs, max_size=max_vocab)
    pairings = [make_nsp_pairs(train_docs, seed=seed + 1000 * k) for k in range(duplicates)]
    heldout_pairs = make_nsp_pairs(heldout_docs, seed=seed + 1, both=True)
    return PretrainingData(
        vocab=vocab,
        train=encode_pairs([p for pairing in pairings for p in pairing], tokenizer, vocab, max_length),
        heldout=encode_pairs(heldout_pairs, tokenizer, vocab, max_length),
        train_pairs=pairings[0],
        heldout_pairs=heldout_pairs,
        max_length=max_length,
        duplicates=duplicates,
        train_documents=train_docs,
        heldout_documents=heldout_docs,
    )


def heldout_dataset(data: PretrainingData, batch_size: int = 64, seed: int = 1234) -> tf.data.Dataset:
    """The held-out pairs, masked once with a fixed seed (cached, so every pass sees the same masks)."""
    return pretraining_dataset(data.heldout, data.vocab, batch_size=batch_size, seed=seed, shuffle=False, epochs=1).cache()


# --------------------------------------------------------------------------- the lesson's probes
# Words masked in the held-out sentences that TopPredictionsCallback shows (probe_sentences).
PROBE_WORDS = ("the", "her", "his", "of", "to", "was", "not", "she", "he", "be", "a", "and", "in")


# --------------------------------------------------------------------------- figures for the lesson
MASK_COLOURS = {"unchosen": "#eeeeee", "[MASK]": "#f4a259", "random": "#bc4b51", "unchanged": "#5b8e7d", "special": "#8cb8d8"}


def masking_outcomes(original, masked, labels, special_ids, mask_id) -> list[str]:
    """Per position: 'special', 'unchosen', '[MASK]', 'random' or 'unchanged'."""
    outcomes = []
    for orig, new, label in zip(original, masked, labels):
        if label == IGNORE_INDEX:
            outcomes.append("special" if orig in special_ids else "unchosen")
        elif new == mask_id:
            outcomes.append("[MASK]")
        elif new == orig:
            outcomes.append("unchanged")
        else:
            outcomes.append("random")
    return outcomes


def mask_split(original, masked, labels, mask_id) -> dict:
    """Shares of the chosen tokens that became [MASK], a random token, or stayed (flat arrays)."""
    original, masked, labels = (np.asarray(x).ravel() for x in (original, masked, labels))
    chosen = labels != IGNORE_INDEX
    new, old = masked[chosen], original[chosen]
    n = max(int(chosen.sum()), 1)
    return {
        "[MASK]": float((new == mask_id).sum() / n),
        "random": float(((new != mask_id) & (new != old)).sum() / n),
        "unchanged": float(((new != mask_id) & (new == old)).sum() / n),
    }


def plot_masked_example(original_tokens, masked_tokens, outcomes, title="One pretraining example", per_row=12):
    """The input as token boxes: what the model sees, coloured by what masking did, with the
    original token (the label) under every chosen position."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    n = len(original_tokens)
    rows = math.ceil(n / per_row)
    fig, ax = plt.subplots(figsize=(10, 0.95 * rows + 1.3), dpi=80)
    for i, (orig, shown, outcome) in enumerate(zip(original_tokens, masked_tokens, outcomes)):
        r, c = divmod(i, per_row)
        y = -r * 1.0
        ax.add_patch(plt.Rectangle((c, y), 0.94, 0.55, color=MASK_COLOURS[outcome]))
        ax.text(c + 0.47, y + 0.27, shown, ha="center", va="center", fontsize=8)
        if outcome in ("[MASK]", "random", "unchanged"):
            ax.text(c + 0.47, y - 0.17, f"label: {orig}", ha="center", va="center", fontsize=6.5, color="#333333")
    ax.set_xlim(-0.1, per_row)
    ax.set_ylim(-rows + 0.6, 0.7)
    ax.set_title(title)
    ax.set_xlabel("position in the sequence (left to right, row by row)")
    ax.set_ylabel("input tokens")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(handles=[Patch(color=c, label=k) for k, c in MASK_COLOURS.items()], ncol=5, fontsize=8,
              loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    fig.tight_layout()
    return fig


def plot_mask_split(shares: dict, expected: dict, n: int, title: str):
    """Bar chart of measured shares of the chosen tokens next to the recipe's."""
    import matplotlib.pyplot as plt

    names = list(expected)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(6, 3), dpi=80)
    ax.bar(x - 0.2, [expected[k] for k in names], 0.4, label="BERT recipe", color="#cccccc")
    ax.bar(x + 0.2, [shares[k] for k in names], 0.4, label=f"measured (n = {n:,})", color="#5b8e7d")
    for xi, k in zip(x, names):
        ax.text(xi + 0.2, shares[k] + 0.015, f"{shares[k]:.1%}", ha="center", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_xticks(x, names)
    ax.set_ylabel("share")
    ax.set_xlabel("what happened to a token")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_pretraining_history(history: dict, baselines: dict | None = None):
    """Loss and accuracy of both heads per epoch (training), with chance/unigram lines."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), dpi=80)
    axes[0].plot(epochs, history["mlm_loss"], "o-", label="masked LM")
    axes[0].plot(epochs, history["nsp_loss"], "s-", label="next sentence")
    axes[0].set_title("Training loss of both heads")
    axes[0].set_ylabel("cross-entropy")
    axes[1].plot(epochs, history["mlm_accuracy"], "o-", label="masked LM (masked tokens)")
    axes[1].plot(epochs, history["nsp_accuracy"], "s-", label="next sentence (pairs)")
    for name, value in (baselines or {}).items():
        axes[1].axhline(value, ls="--", lw=1, color="grey")
        axes[1].text(epochs[0], value + 0.01, name, fontsize=7, color="grey")
    axes[1].set_title("Training accuracy of both heads")
    axes[1].set_ylabel("accuracy")
    axes[1].set_ylim(0, 1)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
