"""Spam detection, three ways, on the seeded stratified split of the SMS Spam Collection (test part):
TF-IDF + logistic regression, frozen-BERT features + logistic regression, and full fine-tuning.

    BERTLAB_DATA=/work/shared/data .venv/bin/python benchmarks/spam.py [--epochs 2]
    BERTLAB_DATA=/work/shared/data .venv/bin/python benchmarks/spam.py --cv 5   # only the cross-validation below

Reports spam-class F1 (spam is ~13 % of messages) and each approach's training minutes (for the
features approach: encoding the training messages + fitting). Target: features + classifier >= 0.95.
Writes benchmarks/results/spam.json.

``--cv K`` runs only the cross-validated comparison (issue 17) and adds it to spam.json as ``cv``
(the other keys are kept): stratified K-fold over all the course's messages, frozen features +
logistic regression tuned on the training folds only (feature variant: layer and pooling;
scaling; C; see bertlab.spam.cross_validate_spam) against TF-IDF + logistic regression in the
same folds. The encoder runs once over all messages (every layer's vectors in one pass).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import bertlab  # noqa: F401

from common import RESULTS, load_average, print_table, write_result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--pooling", default="mean", choices=["cls", "pooled", "mean"], help="feature vector for the classifier")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--skip-finetune", action="store_true", help="a smaller, labelled run without fine-tuning")
    p.add_argument("--cv", type=int, default=None, metavar="K", help="only the K-fold cross-validation, added to spam.json")
    p.add_argument("--inner-folds", type=int, default=3, help="--cv: folds of the tuning inside each training part (1: one 25 %% hold-out)")
    p.add_argument("--features-cache", default=None, help="--cv: .npz to reuse the encoded features from (written if absent)")
    args = p.parse_args(argv)
    if args.cv:
        return cross_validation(args)

    from bertlab import finetuning as ft
    from bertlab import spam
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
    classifiers = {name: spam.feature_classifier(train_features[name], y_train, seed=args.seed) for name in spam.FEATURE_POOLINGS}
    features_minutes = (time.perf_counter() - start) / 60
    test_features = spam.extract_features(test.text, encoder=encoder, tokenizer=tokenizer)
    for name, clf in classifiers.items():
        metrics[f"features_{name}_spam_f1"] = ft.classification_metrics(y_test, clf.predict(test_features[name]))["f1"]
    score("features", classifiers[args.pooling].predict(test_features[args.pooling]), features_minutes)

    if not args.skip_finetune:
        model = ft.build_functional_classifier(pooling="mean")
        data = dict(tokenizer=tokenizer, batch_size=32)
        train_ds = to_tf_dataset(train.text, labels=y_train, shuffle=True, seed=args.seed, **data)
        val_ds = to_tf_dataset(validation.text, labels=y_val, **data)
        result = ft.train_classifier(model, train_ds, val_ds, epochs=args.epochs, peak_lr=args.lr, patience=args.epochs,
                                     class_weight=spam.balanced_class_weights(y_train))
        score("finetune", ft.predict(model, test.text.tolist(), tokenizer=tokenizer).labels, result.train_minutes)
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
    import numpy as np

    from bertlab import spam
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
    result = spam.cross_validate_spam(messages.text, messages.label, spam.feature_variants(layer_features), folds=args.cv, seed=args.seed,
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


if __name__ == "__main__":
    main()
