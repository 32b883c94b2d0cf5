"""Spam detection, three ways, on the seeded stratified split of the SMS Spam Collection (test part):
TF-IDF + logistic regression, frozen-BERT features + logistic regression, and full fine-tuning.

    BERTLAB_DATA=/work/shared/data .venv/bin/python benchmarks/spam.py [--epochs 2]
    BERTLAB_DATA=/work/shared/data .venv/bin/python benchmarks/spam.py --cv 5   # only the cross-validation below

Reports spam-class F1 (spam is ~13 % of messages) and each approach's training minutes (for the
features approach: encoding the training messages + fitting). Target: features + classifier >= 0.95.
The fine-tuning is lesson 06's cells (build, compile, fit with class weights, keep the best epoch on
validation), with the lesson's settings (its Configuration cell, full mode) unless flags say otherwise.
Writes benchmarks/results/spam.json.

``--cv K`` runs only the cross-validated comparison (issue 17) and adds it to spam.json as ``cv``
(the other keys are kept): stratified K-fold over all the course's messages, frozen features +
logistic regression tuned on the training folds only (feature variant: layer and pooling;
scaling; C; see cross_validate_spam below) against TF-IDF + logistic regression in the
same folds. The encoder runs once over all messages (every layer's vectors in one pass).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import bertlab  # noqa: F401
import numpy as np

from bertlab import spam

from common import RESULTS, lesson_configuration, load_average, print_table, write_result


LESSON = "06_spam_classifier"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=None, help="default: the lesson's full-mode EPOCHS")
    p.add_argument("--lr", type=float, default=None, help="default: the lesson's PEAK_LR")
    p.add_argument("--pooling", default="mean", choices=spam.POOLINGS, help="feature vector for the classifier")
    p.add_argument("--seed", type=int, default=None, help="default: the lesson's SEED")
    p.add_argument("--skip-finetune", action="store_true", help="a smaller, labelled run without fine-tuning")
    p.add_argument("--cv", type=int, default=None, metavar="K", help="only the K-fold cross-validation, added to spam.json")
    p.add_argument("--inner-folds", type=int, default=3, help="--cv: folds of the tuning inside each training part (1: one 25 %% hold-out)")
    p.add_argument("--features-cache", default=None, help="--cv: .npz to reuse the encoded features from (written if absent)")
    args = p.parse_args(argv)
    # The settings not given come from lesson 06's Configuration cell, the one place they are written.
    lesson = lesson_configuration(LESSON)
    for name, key in (("epochs", "EPOCHS"), ("lr", "PEAK_LR"), ("seed", "SEED")):
        if getattr(args, name) is None:
            setattr(args, name, lesson[key])
    if args.cv:
        return cross_validation(args)

    from bertlab import finetuning as ft
    from bertlab.data import load_sms_spam, split_sms_spam
    from bertlab.preprocessing import to_tf_dataset
    from bertlab.models import get_spec, load_tf_model, load_tokenizer

    bertlab.set_seed(args.seed)
    train, validation, test = split_sms_spam(load_sms_spam(), seed=args.seed)
    y_train, y_val, y_test = (spam.spam_labels(d.label) for d in (train, validation, test))
    metrics, load = {}, {"before": load_average()}

    def score(prefix, predicted, minutes):
        m = ft.classification_metrics(y_test, predicted)
        metrics.update({f"{prefix}_spam_f1": m["f1"], f"{prefix}_spam_precision": m["precision"],
                        f"{prefix}_spam_recall": m["recall"], f"{prefix}_accuracy": m["accuracy"],
                        f"{prefix}_train_minutes": minutes})

    start = time.perf_counter()
    baseline = spam.tfidf_baseline(train.text, y_train, seed=args.seed)
    score("tfidf", baseline.predict(test.text.tolist()), (time.perf_counter() - start) / 60)

    tokenizer, encoder = load_tokenizer(), load_tf_model(task="base")
    start = time.perf_counter()
    train_features = spam.extract_features(train.text, encoder=encoder, tokenizer=tokenizer)
    classifiers = {name: spam.feature_classifier(train_features[name], y_train, seed=args.seed) for name in ft.POOLINGS}
    features_minutes = (time.perf_counter() - start) / 60
    test_features = spam.extract_features(test.text, encoder=encoder, tokenizer=tokenizer)
    for name, clf in classifiers.items():
        metrics[f"features_{name}_spam_f1"] = ft.classification_metrics(y_test, clf.predict(test_features[name]))["f1"]
    score("features", classifiers[args.pooling].predict(test_features[args.pooling]), features_minutes)

    if not args.skip_finetune:  # lesson 06's fine-tuning cells, step for step, on every training message
        import tempfile

        import tensorflow as tf

        train_ds = to_tf_dataset(train.text, labels=y_train, tokenizer=tokenizer, batch_size=lesson["BATCH_SIZE"],
                                 shuffle=True, seed=args.seed)
        val_ds = to_tf_dataset(validation.text, labels=y_val, tokenizer=tokenizer, batch_size=64)
        model = ft.build_functional_classifier(get_spec().name, pooling="mean")
        total_steps = ft.count_batches(train_ds) * args.epochs
        model.compile(optimizer=ft.create_optimizer(args.lr, total_steps, warmup_ratio=lesson["WARMUP"]),
                      loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        best_weights = str(Path(tempfile.mkdtemp(prefix="spam-")) / "best")
        keep_best = tf.keras.callbacks.ModelCheckpoint(best_weights, monitor="val_accuracy", save_best_only=True,
                                                       save_weights_only=True)
        timer = ft.EpochTimer()
        model.fit(train_ds, validation_data=val_ds, epochs=args.epochs, class_weight=spam.balanced_class_weights(y_train),
                  callbacks=[keep_best, timer], verbose=2)
        model.load_weights(best_weights)
        score("finetune", ft.predict(model, test.text.tolist(), tokenizer=tokenizer, batch_size=64).labels,
              sum(timer.seconds) / 60)
    load["after"] = load_average()
    label = "full" if not args.skip_finetune else "without fine-tuning"
    path = write_result("spam", get_spec().name, metrics, run=label, config=vars(args),
                        split={"train": len(train), "validation": len(validation), "test": len(test),
                               "test_spam": int(y_test.sum())},
                        load_average_1min=load,
                        notes="scores on the test part of split_sms_spam(seed); features_* = frozen encoder + "
                              "logistic regression (the headline uses --pooling); 2 shared CPU cores, timings noisy")
    print_table(f"SMS spam, test set of {len(test)} messages ({int(y_test.sum())} spam)", [(k, v) for k, v in metrics.items()])
    print(f"wrote {path}")


def cross_validation(args):
    from bertlab.data import load_sms_spam
    from bertlab.models import get_spec, load_tf_model, load_tokenizer

    messages = load_sms_spam()
    load = {"before": load_average()}
    start = time.perf_counter()
    cache = args.features_cache
    cached = bool(cache and Path(cache).is_file())
    if cached:
        layer_features = dict(np.load(cache))
    else:
        layer_features = spam.extract_layer_features(messages.text, encoder=load_tf_model(task="base"), tokenizer=load_tokenizer())
        if cache:
            np.savez(cache, **layer_features)
    encode_minutes = (time.perf_counter() - start) / 60
    start = time.perf_counter()
    result = cross_validate_spam(messages.text, messages.label, feature_variants(layer_features), folds=args.cv, seed=args.seed,
                                  inner_folds=args.inner_folds)
    load["after"] = load_average()
    path = RESULTS / "spam.json"
    record = json.loads(path.read_text())
    record["cv"] = {
        "date": time.strftime("%Y-%m-%d"), "model": get_spec().name, "folds": args.cv, "seed": args.seed,
        "messages": len(messages), "spam": int(spam.spam_labels(messages.label).sum()),
        "inner_folds": args.inner_folds, "features_spam_f1": result["features_spam_f1"], "tfidf_spam_f1": result["tfidf_spam_f1"],
        "members": result["members"],
        "encode_minutes": None if cached else round(encode_minutes, 2), "features_from_cache": cached, "cv_minutes": round((time.perf_counter() - start) / 60, 2),
        "load_average_1min": load,
        "notes": "stratified K-fold over all messages of the course's file; per fold, the features' classifier "
                 "(variant, scaling, C) is chosen on the training folds only (inner_folds-fold CV; 1 = one stratified 25 % hold-out), then scored once on the "
                 "held-out fold; TF-IDF + LR keeps its fixed settings (bertlab.spam.tfidf_baseline); std over folds "
                 "(ddof=1); 2 shared CPU cores, minutes noisy",
    }
    for key in ("features_spam_f1", "tfidf_spam_f1"):
        record["metrics"][f"cv_{key}_mean"] = round(result[key]["mean"], 4)
        record["metrics"][f"cv_{key}_std"] = round(result[key]["std"], 4)
    path.write_text(json.dumps(record, indent=2) + "\n")
    rows = [(f"fold {m['fold']} features / TF-IDF", f"{m['features_spam_f1']:.4f} / {m['tfidf_spam_f1']:.4f}  "
             f"({m['chosen']['variant']}, {m['chosen']['scaling']}, C={m['chosen']['C']})") for m in result["members"]]
    rows += [(f"{key} mean +- std", f"{result[key]['mean']:.4f} +- {result[key]['std']:.4f}") for key in ("features_spam_f1", "tfidf_spam_f1")]
    print_table(f"SMS spam, {args.cv}-fold cross-validation over {len(messages)} messages", rows)
    print(f"wrote {path}")


# --------------------------------------------------------------------------- the cross-validation's helpers (issue 17)
# Maintainers' code: the lesson compares a few feature choices on its validation split; this search over
# layers, scalings and C inside each training part is what ``--cv`` records.
def feature_variants(layer_features: dict) -> dict:
    """Candidate feature sets for the classifier, from ``bertlab.spam.extract_layer_features``' output:
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

    y = spam.spam_labels(labels)
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
    TF-IDF baseline (``bertlab.spam.tfidf_baseline``, its own fixed settings) in the same folds.

    In each fold the features' classifier is tuned on the training folds only
    (:func:`tune_feature_classifier`; ``tuning`` is passed on) and scored once on the held-out fold.
    ``variants`` maps names to arrays [n, dim] whose rows are ``texts``' rows.
    Returns {"members": [{"fold", "features_spam_f1", "tfidf_spam_f1", "chosen"}...],
    "features_spam_f1": {"mean", "std"}, "tfidf_spam_f1": {"mean", "std"}} (std over folds, ddof=1).
    """
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    texts, y = np.asarray(list(texts), dtype=object), spam.spam_labels(labels)
    for name, x in variants.items():
        if len(x) != len(y):
            raise ValueError(f"Feature variant {name!r} has {len(x)} rows for {len(y)} texts.")
    members = []
    for fold, (train, test) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, y)):
        model, chosen = tune_feature_classifier({k: v[train] for k, v in variants.items()}, y[train], seed=seed, **tuning)
        features_f1 = f1_score(y[test], model.predict(variants[chosen["variant"]][test]))
        baseline = spam.tfidf_baseline(texts[train], y[train], seed=seed)
        tfidf_f1 = f1_score(y[test], baseline.predict(list(texts[test])))
        members.append({"fold": fold, "test_messages": int(len(test)), "test_spam": int(y[test].sum()),
                        "features_spam_f1": float(features_f1), "tfidf_spam_f1": float(tfidf_f1), "chosen": chosen})
    summary = {"members": members}
    for key in ("features_spam_f1", "tfidf_spam_f1"):
        values = np.array([m[key] for m in members])
        summary[key] = {"mean": float(values.mean()), "std": float(values.std(ddof=1))}
    return summary


if __name__ == "__main__":
    main()
