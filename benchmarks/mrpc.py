"""Fine-tune the default model on MRPC train on this machine; report validation accuracy/F1 and minutes.

    BERTLAB_DATA=/work/shared/data .venv/bin/python benchmarks/mrpc.py --lr 1e-4 --bucket   # the recorded configuration
    .venv/bin/python benchmarks/mrpc.py --epochs 2 --train-limit 1000 --label small   # a smaller, labelled run
    .venv/bin/python benchmarks/mrpc.py --lr 1e-4 --bucket --seeds 4 5 6 --name mrpc_ensemble   # three models, averaged

Target (issue 7): accuracy >= 84 % and F1 >= 88 % within 15 minutes of training on a 2-core CPU.
Always answering "paraphrase" gives 68.4 % / 81.2. Writes benchmarks/results/mrpc.json.
"""
from __future__ import annotations

import argparse
import time

import bertlab  # noqa: F401  (Keras 2 first)
import numpy as np

from common import load_average, print_table, write_result


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="registry name (default: BERTLAB_MODEL or minilm-l6)")
    p.add_argument("--route", choices=["functional", "transformers"], default="functional")
    p.add_argument("--pooling", choices=["mean", "pooled", "cls"], default="mean", help="functional route only")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--warmup", type=float, default=0.1, help="warm-up share of all steps")
    p.add_argument("--swap", action="store_true", help="add every pair again with its sentences swapped")
    p.add_argument("--freeze-embeddings", action="store_true", help="keep the embedding layer as pretrained (functional route)")
    p.add_argument("--bucket", action="store_true", help="bucket by length (tf.data bucket_by_sequence_length)")
    p.add_argument("--fixed-padding", action="store_true", help="pad every batch to 128 (the classic way)")
    p.add_argument("--train-limit", type=int, default=None, help="train on the first N pairs only (smaller run)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="train one model per seed, each for all epochs with no selection on validation, "
                        "and average their probabilities (an ensemble)")
    p.add_argument("--label", default="full", help="recorded with the result: 'full' or what was cut")
    p.add_argument("--name", default="mrpc", help="results file name")
    return p.parse_args(argv)


def train_member(args, spec, tokenizer, train, dev, seed: int, *, validate: bool):
    """Fine-tune one model with ``seed``; return its TrainResult and validation probabilities.

    ``validate=True`` scores the validation pairs each epoch and keeps the best epoch (selected
    on those same pairs); ``False`` keeps the last epoch, so nothing is chosen on validation.
    """
    import tensorflow as tf

    from bertlab import finetuning as ft
    from bertlab.preprocessing import to_tf_dataset

    bertlab.set_seed(seed)
    s1, s2, y = list(train.sentence1), list(train.sentence2), train.label.to_numpy()
    if args.swap:
        s1, s2, y = ft.swap_augment(s1, s2, y)
    padding = dict(dynamic_padding=not args.fixed_padding, bucket=args.bucket)
    train_ds = to_tf_dataset(s1, s2, y, tokenizer=tokenizer, batch_size=args.batch_size, shuffle=True, seed=seed, **padding)
    dev_ds = to_tf_dataset(list(dev.sentence1), list(dev.sentence2), dev.label.to_numpy(), tokenizer=tokenizer,
                           batch_size=64, **padding) if validate else None
    if args.route == "transformers":
        model = ft.build_transformers_classifier(spec.name)
    else:
        model = ft.build_functional_classifier(spec.name, pooling=args.pooling, freeze_embeddings=args.freeze_embeddings)
    result = ft.train_classifier(model, train_ds, dev_ds, epochs=args.epochs, peak_lr=args.lr, warmup_ratio=args.warmup,
                                 patience=args.epochs, verbose="compact")
    probabilities = ft.predict(model, list(dev.sentence1), list(dev.sentence2), tokenizer=tokenizer, batch_size=64).probabilities
    tf.keras.backend.clear_session()  # the next member starts from a clean graph
    return result, probabilities


def run(args) -> dict:
    from bertlab import finetuning as ft
    from bertlab.data import load_mrpc
    from bertlab.models import get_spec, load_tokenizer

    seeds = args.seeds or [args.seed]
    spec = get_spec(args.model)
    tokenizer = load_tokenizer(spec.name)
    train, dev = load_mrpc("train"), load_mrpc("validation")
    if args.train_limit:
        train = train.sample(n=min(args.train_limit, len(train)), random_state=args.seed)
    labels = dev.label.to_numpy()
    load_before = load_average()
    started = time.perf_counter()
    results, members, probabilities = [], [], []
    for seed in seeds:
        result, member_probabilities = train_member(args, spec, tokenizer, train, dev, seed, validate=len(seeds) == 1)
        scores = ft.classification_metrics(labels, member_probabilities.argmax(axis=1))
        results.append(result)
        probabilities.append(member_probabilities)
        members.append({"seed": seed, "dev_accuracy": round(scores["accuracy"], 4), "dev_f1": round(scores["f1"], 4),
                        "train_minutes": round(result.train_minutes, 3)})
        print(f"seed {seed}: accuracy {scores['accuracy']:.4f}, F1 {scores['f1']:.4f}, {result.train_minutes:.1f} min", flush=True)
    wall = (time.perf_counter() - started) / 60
    # An ensemble averages its members' probabilities (a single model is an ensemble of one).
    metrics = ft.classification_metrics(labels, np.mean(probabilities, axis=0).argmax(axis=1))
    train_minutes = sum(r.train_minutes for r in results)
    return {
        "spec": spec.name,
        "metrics": {
            "dev_accuracy": metrics["accuracy"],
            "dev_f1": metrics["f1"],
            "train_minutes": train_minutes,
            "minutes_per_epoch": train_minutes / sum(len(r.epoch_minutes) for r in results),
            "wall_minutes_with_validation": wall,
            "epochs_run": len(results[0].epoch_minutes),
            "best_epoch": results[0].best_epoch if len(seeds) == 1 else "last (no selection on validation)",
        },
        "members": members if len(seeds) > 1 else None,
        "history": results[0].history if len(seeds) == 1 else {},
        "load": {"before": load_before, "after": load_average()},
    }


def main(argv=None):
    args = parse(argv)
    out = run(args)
    m = out["metrics"]
    config = {k: v for k, v in vars(args).items() if k not in ("name", "label", "model")}
    path = write_result(args.name, out["spec"], m, run=args.label, config=config, train_pairs=None,
                        load_average_1min=out["load"],
                        history={k: [round(x, 4) for x in v] for k, v in out["history"].items()},
                        **({"members": out["members"]} if out["members"] else {}),
                        notes="2 CPU cores; the load average before/after says whether other jobs ran at the same time")
    print_table(f"MRPC fine-tuning ({out['spec']}, {args.route}/{args.pooling}, run: {args.label})", [
        ("dev accuracy", m["dev_accuracy"]), ("dev F1", m["dev_f1"]),
        ("train minutes", m["train_minutes"]), ("minutes per epoch", m["minutes_per_epoch"]),
        ("epochs (best)", f"{m['epochs_run']} ({m['best_epoch']})"),
        ("load average before/after", f"{out['load']['before']} / {out['load']['after']}"),
    ])
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    main()
