"""Spam detection (lesson 06): a TF-IDF baseline, frozen-BERT features + a small classifier,
class weights for the imbalanced classes, and picking a decision threshold for a precision.

Labels are 0 = ham, 1 = spam throughout (spam is the positive class, about 13 % of messages).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from bertlab.data import SMS_LABELS
from bertlab.finetuning import POOLINGS, masked_mean
from bertlab.preprocessing import encode_texts, max_positions


def spam_labels(labels) -> np.ndarray:
    """Labels as :func:`bertlab.data.load_sms_spam` gives them (``'ham'``/``'spam'`` strings), or
    class ids 0/1 (NumPy, lists, pandas columns, also of dtype object) -> int32 array, 1 = spam.

    Raises ``ValueError`` for anything else (another string, a missing value, an id other than 0/1).
    """
    values = np.asarray(labels)
    if values.ndim != 1:
        raise ValueError(f"labels must be 1-D (one per message), got shape {values.shape}.")
    if values.dtype.kind == "O" and all(isinstance(v, (int, np.integer)) for v in values.tolist()):
        values = values.astype(np.int64)  # a pandas column of dtype object holding ids
    if values.dtype.kind in "iub":
        out = values.astype(np.int32)
    else:
        unknown = sorted({repr(v) for v in values.tolist()} - {repr(label) for label in SMS_LABELS})
        if unknown:
            raise ValueError(f"Labels must be 'ham' or 'spam' (as load_sms_spam gives them) or class ids 0/1; found {', '.join(unknown[:3])}.")
        out = (values == "spam").astype(np.int32)
    if not set(np.unique(out).tolist()) <= {0, 1}:
        raise ValueError("Integer labels must be 0 (ham) or 1 (spam).")
    return out


# --------------------------------------------------------------------------- baseline
def tfidf_baseline(train_texts, train_labels, *, C: float = 10.0, class_weight="balanced", seed: int = 0):
    """Fit TF-IDF (word 1-2-grams + character 2-5-grams) + logistic regression; return the sklearn pipeline."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.feature_extraction.text import TfidfVectorizer

    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
    )
    classifier = LogisticRegression(C=C, class_weight=class_weight, max_iter=2000, random_state=seed)
    pipeline = make_pipeline(features, classifier)
    return pipeline.fit(list(train_texts), spam_labels(train_labels))


# --------------------------------------------------------------------------- class weights
def balanced_class_weights(labels) -> dict:
    """``{class: n_samples / (n_classes * count(class))}`` -- the weights Keras' ``class_weight`` takes.

    ``labels``: class ids (any integers), or ``'ham'``/``'spam'`` strings as
    :func:`bertlab.data.load_sms_spam` gives them, which become 0/1 (:func:`spam_labels`), so the
    keys are always the class ids the model predicts.
    """
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.asarray(labels)
    if labels.dtype.kind not in "iub":
        labels = spam_labels(labels)
    classes = np.unique(labels)
    weights = compute_class_weight("balanced", classes=classes, y=labels)
    return {int(c): float(w) for c, w in zip(classes, weights)}


# --------------------------------------------------------------------------- frozen features
def pool_features(outputs, attention_mask) -> dict:
    """The three sentence vectors of a BERT output: raw [CLS], the pooler's, and the masked mean."""
    return {
        "cls": outputs.last_hidden_state[:, 0],
        "pooled": outputs.pooler_output,
        "mean": masked_mean(outputs.last_hidden_state, attention_mask),
    }


def extract_features(texts, *, encoder=None, tokenizer=None, batch_size: int = 64, max_length: int = 128,
                     poolings=POOLINGS) -> dict:
    """Encode ``texts`` with a frozen ``TFBertModel`` in batches; return {pooling: array [n, hidden]}.

    Texts are sorted by length before batching (less padding), and the rows put back in order.
    Texts longer than ``max_length`` tokens are cut, with a :class:`~bertlab.preprocessing.TruncationWarning`;
    ``max_length`` beyond the encoder's position embeddings and texts with no word pieces raise ``ValueError``.
    """
    unknown = set(poolings) - set(POOLINGS)
    if unknown:
        raise ValueError(f"Unknown pooling(s) {sorted(unknown)}; choose from {POOLINGS}.")
    if encoder is None:
        from bertlab.models import load_tf_model

        encoder = load_tf_model(task="base")
    if tokenizer is None:
        from bertlab.models import load_tokenizer

        tokenizer = load_tokenizer()
    encoding = encode_texts(texts, tokenizer=tokenizer, max_length=max_length, blank=False,
                            limit=max_positions(encoder, tokenizer))
    encoding.truncation.warn(stacklevel=2)
    order = np.argsort([len(t) for t in encoding.texts], kind="stable")
    chunks = {name: [] for name in poolings}
    for start in range(0, len(order), batch_size):
        inputs = {k: tf.constant(v) for k, v in encoding.padded(order[start:start + batch_size]).items()}
        pooled = _encode(encoder, inputs)
        for name in poolings:
            chunks[name].append(pooled[name].numpy())
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return {name: np.concatenate(parts)[inverse] for name, parts in chunks.items()}


def _encode(encoder, inputs):
    outputs = encoder(inputs, training=False)
    return pool_features(outputs, inputs["attention_mask"])


def feature_classifier(features, labels, *, C: float = 1.0, class_weight="balanced", seed: int = 0):
    """A small classifier on frozen sentence vectors: standardize + logistic regression (sklearn)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight=class_weight, max_iter=3000, random_state=seed))
    return model.fit(np.asarray(features), spam_labels(labels))


# --------------------------------------------------------------------------- thresholds
def threshold_for_precision(y_true, scores, target_precision: float) -> float:
    """The lowest threshold t such that predicting spam for ``scores >= t`` reaches ``target_precision``
    (so recall is as high as that precision allows). Raises if no threshold reaches it.
    ``y_true``: 0/1 or ``'ham'``/``'spam'`` (:func:`spam_labels`); ``scores``: spam probabilities."""
    from sklearn.metrics import precision_recall_curve

    if not 0 < target_precision <= 1:
        raise ValueError(f"target_precision must be in (0, 1], got {target_precision}.")
    y_true, scores = spam_labels(y_true), np.asarray(scores, dtype=np.float64)
    if y_true.shape != scores.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError("y_true and scores must be 1-D arrays of the same non-zero length.")
    precision, _, thresholds = precision_recall_curve(y_true, scores)
    reached = np.flatnonzero(precision[:-1] >= target_precision)
    if len(reached) == 0:
        raise ValueError(f"No threshold reaches precision {target_precision}: the best is {precision[:-1].max():.3f}.")
    return float(thresholds[reached[0]])


# --------------------------------------------------------------------------- every layer at once
def extract_layer_features(texts, *, encoder=None, tokenizer=None, batch_size: int = 64, max_length: int = 128) -> dict:
    """Every layer's sentence vectors in one pass of the frozen encoder (what a layer/pooling search needs).

    Returns float32 arrays [n, hidden] named ``layer{k}_mean`` and ``layer{k}_cls`` for k = 0 (the
    embedding output) to the number of layers (k = last is :func:`extract_features`' ``mean``/``cls``),
    and ``pooled`` (the pooler over the last layer's [CLS]). Batching as in :func:`extract_features`,
    which does the work: the encoder's hidden states are handed to it side by side as one wide
    "last layer", so its masked mean and [CLS] give every layer's at once, split here afterwards.
    """
    if encoder is None:
        from bertlab.models import load_tf_model

        encoder = load_tf_model(task="base")
    wide = extract_features(texts, encoder=_AllLayers(encoder), tokenizer=tokenizer, batch_size=batch_size,
                            max_length=max_length)
    hidden = wide["pooled"].shape[1]
    out = {"pooled": wide["pooled"]}
    for pooling in ("mean", "cls"):
        for k, part in enumerate(np.split(wide[pooling], wide[pooling].shape[1] // hidden, axis=1)):
            out[f"layer{k}_{pooling}"] = part
    return out


class _AllLayers:
    """Calls a ``TFBertModel`` and answers with all its hidden states concatenated on the last axis."""

    def __init__(self, encoder):
        self.encoder = encoder

    def __call__(self, inputs, training=False):
        from types import SimpleNamespace

        outputs = self.encoder(inputs, training=training, output_hidden_states=True)
        return SimpleNamespace(last_hidden_state=tf.concat(outputs.hidden_states, axis=-1), pooler_output=outputs.pooler_output)
