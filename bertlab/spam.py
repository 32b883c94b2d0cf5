"""Spam detection (lesson 06): a TF-IDF baseline, frozen-BERT features + a small classifier,
class weights for the imbalanced classes, and picking a decision threshold for a precision.

Labels are 0 = ham, 1 = spam throughout (spam is the positive class, about 13 % of messages).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from bertlab.finetuning import masked_mean
from bertlab.preprocessing import encode_texts, max_positions

LABELS = ("ham", "spam")
FEATURE_POOLINGS = ("cls", "pooled", "mean")


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
        unknown = sorted({repr(v) for v in values.tolist()} - {repr(label) for label in LABELS})
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
                     poolings=FEATURE_POOLINGS) -> dict:
    """Encode ``texts`` with a frozen ``TFBertModel`` in batches; return {pooling: array [n, hidden]}.

    Texts are sorted by length before batching (less padding), and the rows put back in order.
    Texts longer than ``max_length`` tokens are cut, with a :class:`~bertlab.preprocessing.TruncationWarning`;
    ``max_length`` beyond the encoder's position embeddings and texts with no word pieces raise ``ValueError``.
    """
    unknown = set(poolings) - set(FEATURE_POOLINGS)
    if unknown:
        raise ValueError(f"Unknown pooling(s) {sorted(unknown)}; choose from {FEATURE_POOLINGS}.")
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


# --------------------------------------------------------------------------- cross-validation (issue 17)
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


def feature_variants(layer_features: dict) -> dict:
    """Candidate feature sets for the classifier, from :func:`extract_layer_features`' output:
    each transformer layer's mean (not the embedding output's), the last layer's [CLS], the pooler,
    the average of the last four layers' means, and the last two layers' means side by side.
    (Lower layers' [CLS] vectors are left out: before attention mixes the tokens, [CLS] is the same
    for every message, and the search's cost grows with each candidate.)"""
    layers = sorted(int(k[len("layer"):-len("_mean")]) for k in layer_features if k.endswith("_mean"))
    variants = {f"layer{k}_mean": layer_features[f"layer{k}_mean"] for k in layers if k > 0}
    variants[f"layer{layers[-1]}_cls"] = layer_features[f"layer{layers[-1]}_cls"]
    variants["pooled"] = layer_features["pooled"]
    last = layers[-4:]
    variants["last4_mean_avg"] = np.mean([layer_features[f"layer{k}_mean"] for k in last], axis=0)
    variants[f"layer{layers[-2]}+{layers[-1]}_mean"] = np.concatenate(
        [layer_features[f"layer{k}_mean"] for k in layers[-2:]], axis=1)
    return variants


def _feature_pipeline(scaling: str, C: float, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler

    scalers = {"standard": StandardScaler(), "l2": Normalizer(), "none": "passthrough"}
    if scaling not in scalers:
        raise ValueError(f"scaling must be one of {sorted(scalers)}, not {scaling!r}.")
    return make_pipeline(scalers[scaling], LogisticRegression(C=C, class_weight="balanced", max_iter=5000, random_state=seed))


def tune_feature_classifier(variants: dict, labels, *, Cs=(0.01, 0.1, 1.0), scalings=("standard", "l2"),
                            inner_folds: int = 3, seed: int = 0):
    """Pick (feature variant, scaling, C) by stratified ``inner_folds``-fold CV spam F1 on the data given
    (training folds only, when called from :func:`cross_validate_spam`); refit the best on all of it.
    ``inner_folds=1`` scores each candidate on one stratified 25 % hold-out instead (a third of the cost).

    Returns ``(fitted_pipeline, chosen)``, ``chosen`` = {"variant", "scaling", "C", "inner_spam_f1"}.
    Logistic regression is always class-balanced (spam is ~13 %).
    """
    from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit, cross_val_score

    y = spam_labels(labels)
    if inner_folds == 1:
        inner = StratifiedShuffleSplit(n_splits=1, test_size=0.25, random_state=seed)
    else:
        inner = StratifiedKFold(inner_folds, shuffle=True, random_state=seed)
    scores = {}
    for name, x in variants.items():
        for scaling in scalings:
            for C in Cs:
                scores[name, scaling, C] = cross_val_score(_feature_pipeline(scaling, C, seed), x, y, cv=inner,
                                                           scoring="f1").mean()
    (name, scaling, C), best = max(scores.items(), key=lambda item: item[1])
    model = _feature_pipeline(scaling, C, seed).fit(variants[name], y)
    return model, {"variant": name, "scaling": scaling, "C": C, "inner_spam_f1": float(best)}


def cross_validate_spam(texts, labels, variants: dict, *, folds: int = 5, seed: int = 0, **tuning) -> dict:
    """Stratified ``folds``-fold cross-validation of frozen features + logistic regression against the
    TF-IDF baseline (:func:`tfidf_baseline`, its own fixed settings) in the same folds.

    In each fold the features' classifier is tuned on the training folds only
    (:func:`tune_feature_classifier`; ``tuning`` is passed on) and scored once on the held-out fold.
    ``variants`` maps names to arrays [n, dim] whose rows are ``texts``' rows.
    Returns {"members": [{"fold", "features_spam_f1", "tfidf_spam_f1", "chosen"}...],
    "features_spam_f1": {"mean", "std"}, "tfidf_spam_f1": {"mean", "std"}} (std over folds, ddof=1).
    """
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    texts, y = np.asarray(list(texts), dtype=object), spam_labels(labels)
    for name, x in variants.items():
        if len(x) != len(y):
            raise ValueError(f"Feature variant {name!r} has {len(x)} rows for {len(y)} texts.")
    members = []
    for fold, (train, test) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, y)):
        model, chosen = tune_feature_classifier({k: v[train] for k, v in variants.items()}, y[train], seed=seed, **tuning)
        features_f1 = f1_score(y[test], model.predict(variants[chosen["variant"]][test]))
        baseline = tfidf_baseline(texts[train], y[train], seed=seed)
        tfidf_f1 = f1_score(y[test], baseline.predict(list(texts[test])))
        members.append({"fold": fold, "test_messages": int(len(test)), "test_spam": int(y[test].sum()),
                        "features_spam_f1": float(features_f1), "tfidf_spam_f1": float(tfidf_f1), "chosen": chosen})
    summary = {"members": members}
    for key in ("features_spam_f1", "tfidf_spam_f1"):
        values = np.array([m[key] for m in members])
        summary[key] = {"mean": float(values.mean()), "std": float(values.std(ddof=1))}
    return summary
