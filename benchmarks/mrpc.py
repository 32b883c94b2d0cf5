"""Fine-tune the default model on MRPC train on this machine; report validation accuracy/F1 and minutes.

    BERTLAB_DATA=/work/shared/data .venv/bin/python benchmarks/mrpc.py            # the recorded configuration
    .venv/bin/python benchmarks/mrpc.py --epochs 2 --train-limit 1000 --label small   # a smaller, labelled run

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
    p.add_argument("--label", default="full", help="recorded with the result: 'full' or what was cut")
    p.add_argument("--name", default="mrpc", help="results file name")
    return p.parse_args(argv)


def run(args) -> dict:
    from bertlab import finetuning as ft
    from bertlab.data import load_mrpc, to_tf_dataset
    from bertlab.models import get_spec, load_tokenizer

    bertlab.set_seed(args.seed)
    spec = get_spec(args.model)
    tokenizer = load_tokenizer(spec.name)
    train, dev = load_mrpc("train"), load_mrpc("validation")
    if args.train_limit:
        train = train.sample(n=min(args.train_limit, len(train)), random_state=args.seed)
    s1, s2, y = list(train.sentence1), list(train.sentence2), train.label.to_numpy()
    if args.swap:
        s1, s2, y = ft.swap_augment(s1, s2, y)
    padding = dict(dynamic_padding=not args.fixed_padding, bucket=args.bucket)
    train_ds = to_tf_dataset(s1, s2, y, tokenizer=tokenizer, batch_size=args.batch_size, shuffle=True, seed=args.seed, **padding)
    dev_ds = to_tf_dataset(list(dev.sentence1), list(dev.sentence2), dev.label.to_numpy(), tokenizer=tokenizer,
                           batch_size=64, **padding)
    if args.route == "transformers":
        model = ft.build_transformers_classifier(spec.name)
    else:
        model = ft.build_functional_classifier(spec.name, pooling=args.pooling, freeze_embeddings=args.freeze_embeddings)
    load_before = load_average()
    started = time.perf_counter()
    result = ft.train_classifier(model, train_ds, dev_ds, epochs=args.epochs, peak_lr=args.lr, warmup_ratio=args.warmup,
                                 patience=args.epochs, verbose="compact")
    wall = (time.perf_counter() - started) / 60
    predictions = ft.predict(model, list(dev.sentence1), list(dev.sentence2), tokenizer=tokenizer, batch_size=64)
    metrics = ft.classification_metrics(dev.label.to_numpy(), predictions.labels)
    return {
        "spec": spec.name,
        "metrics": {
            "dev_accuracy": metrics["accuracy"],
            "dev_f1": metrics["f1"],
            "train_minutes": result.train_minutes,
            "minutes_per_epoch": result.minutes_per_epoch,
            "wall_minutes_with_validation": wall,
            "epochs_run": len(result.epoch_minutes),
            "best_epoch": result.best_epoch,
        },
        "history": result.history,
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
                        notes="2 shared CPU cores: other jobs ran at the same time, so minutes are upper bounds")
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
