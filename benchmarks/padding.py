"""MRPC training speed with fixed padding to 128 tokens vs dynamic padding with length bucketing,
measured as a ratio in one run over the same batches.

    BERTLAB_DATA=/work/shared/data .venv/bin/python benchmarks/padding.py [--sample-batches 10] [--repeats 4]

The training pairs are batched once the way lesson 05 trains (``to_tf_dataset(..., bucket=True)``:
shuffled, grouped by length, each batch padded to its longest pair). The same batches are also
padded to 128 (the classic fixed padding), so the two arms differ only in padding. A systematic
sample of ``--sample-batches`` batches (every k-th batch in order of length, so the sample keeps
the epoch's length mix) is trained on in turns, fixed then dynamic, dynamic then fixed, ... for
``--repeats`` repeats after one untimed warm-up pass (graph tracing for every batch shape). The
speed-up is taken repeat by repeat (both arms measured minutes apart on the same model), and its
median and min/max are reported; minutes per epoch are the sample's median seconds per batch
times the epoch's batches. Target: speed-up >= 2x at equal accuracy.

Accuracy is not re-measured here (one full epoch each way costs ~15 minutes on 2 cores): the
accuracies after one epoch of each arm recorded by the previous version of this benchmark
(full epoch each way, 2026-11-22) are carried over and labelled so in the JSON.
Writes benchmarks/results/padding.json.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import bertlab  # noqa: F401

from common import load_average, print_table, write_result

FIXED_LENGTH = 128
# The full-epoch accuracies of each arm, from padding.json of 2026-11-22 (run: 1 epoch on all
# 3,668 training pairs, lr 5e-5, batch 32, dynamic arm with bucketing, seed 42).
RECORDED_ACCURACY = {"fixed_dev_accuracy": 0.7059, "dynamic_dev_accuracy": 0.7108,
                     "fixed_dev_f1": 0.8176, "dynamic_dev_f1": 0.8179}


def pad_to(features: dict, length: int) -> dict:
    """Right-pad every [batch, seq] int array of ``features`` with zeros to ``length`` positions."""
    return {k: np.pad(v, ((0, 0), (0, length - v.shape[1]))) for k, v in features.items()}


def systematic_sample(lengths, count: int) -> list[int]:
    """Indices of ``count`` batches spread evenly over the batches sorted by length."""
    order = np.argsort(lengths, kind="stable")
    picks = np.linspace(0, len(order) - 1, num=min(count, len(order))).round().astype(int)
    return [int(order[i]) for i in picks]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sample-batches", type=int, default=10, help="batches timed in each arm and repeat")
    p.add_argument("--repeats", type=int, default=4, help="timed repeats, arms alternating")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--train-limit", type=int, default=None, help="batch only the first N pairs (a smaller, labelled run)")
    args = p.parse_args(argv)

    import tensorflow as tf

    from bertlab import finetuning as ft
    from bertlab.data import load_mrpc, to_tf_dataset
    from bertlab.models import get_spec, load_tokenizer

    train = load_mrpc("train")
    if args.train_limit:
        train = train.head(args.train_limit)
    bertlab.set_seed(args.seed)
    dataset = to_tf_dataset(list(train.sentence1), list(train.sentence2), train.label.to_numpy(), tokenizer=load_tokenizer(),
                            batch_size=args.batch_size, shuffle=True, seed=args.seed, bucket=True)
    batches = [({k: v.numpy() for k, v in x.items()}, y.numpy()) for x, y in dataset]
    lengths = [x["input_ids"].shape[1] for x, _ in batches]
    if max(lengths) > FIXED_LENGTH:
        raise ValueError(f"a batch is {max(lengths)} tokens long, more than the fixed length {FIXED_LENGTH}")
    sample = systematic_sample(lengths, args.sample_batches)
    arms = {"dynamic": [batches[i] for i in sample],
            "fixed": [(pad_to(x, FIXED_LENGTH), y) for x, y in (batches[i] for i in sample)]}

    model = ft.build_functional_classifier(pooling="mean")
    model.compile(optimizer=ft.create_optimizer(args.lr, total_steps=len(batches) * (args.repeats + 1) * 2),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    def seconds_per_batch(arm: str) -> float:
        start = time.perf_counter()
        for x, y in arms[arm]:
            model.train_on_batch(x, y)
        return (time.perf_counter() - start) / len(arms[arm])

    load = {"before": load_average()}
    for arm in arms:  # warm-up: trace the training step for every batch shape
        seconds_per_batch(arm)
    repeats = []
    for r in range(args.repeats):
        order = ("fixed", "dynamic") if r % 2 == 0 else ("dynamic", "fixed")
        timed = {arm: seconds_per_batch(arm) for arm in order}
        repeats.append({**{f"{arm}_seconds_per_batch": round(t, 4) for arm, t in timed.items()}, "order": list(order),
                        "speedup": round(timed["fixed"] / timed["dynamic"], 4)})
        print(f"repeat {r + 1}/{args.repeats}: fixed {timed['fixed']:.2f} s/batch, dynamic {timed['dynamic']:.2f} s/batch, "
              f"speed-up {repeats[-1]['speedup']:.2f}", flush=True)
    load["after"] = load_average()

    speedups = [r["speedup"] for r in repeats]
    per_epoch = {arm: float(np.median([r[f"{arm}_seconds_per_batch"] for r in repeats])) * len(batches) / 60 for arm in arms}
    epoch_tokens = {"fixed": len(train) * FIXED_LENGTH, "dynamic": sum(x["input_ids"].size for x, _ in batches)}
    metrics = {
        "fixed_minutes_per_epoch": per_epoch["fixed"],
        "dynamic_minutes_per_epoch": per_epoch["dynamic"],
        "speedup": float(np.median(speedups)),
        "speedup_min": float(min(speedups)),
        "speedup_max": float(max(speedups)),
        "padded_positions_ratio": epoch_tokens["fixed"] / epoch_tokens["dynamic"],
        **RECORDED_ACCURACY,
    }
    label = (f"{args.repeats} alternating repeats over {len(sample)} of the epoch's {len(batches)} batches "
             f"({'first ' + str(args.train_limit) if args.train_limit else 'all ' + format(len(train), ',')} training pairs), "
             "dynamic padding with length bucketing")
    path = write_result(
        "padding", get_spec().name, metrics, run=label, config=vars(args),
        sample={"batch_lengths": [lengths[i] for i in sample], "epoch_batches": len(batches),
                "epoch_mean_batch_length": round(float(np.mean(lengths)), 2)},
        repeats=repeats, load_average_1min=load,
        accuracy_source="carried over from the previous padding.json (2026-11-22: one full epoch each way, "
                        "lr 5e-5, batch 32, seed 42), not re-measured in this run",
        notes="machine shared with other developers' jobs: the speed-up is the median of per-repeat ratios "
              "(both arms timed back to back on the same model and batches), minutes per epoch are "
              "extrapolated from the sample and drift with the load; padded_positions_ratio counts "
              "positions over the whole epoch (fixed 128 vs each bucketed batch's longest pair)")
    print_table(f"Fixed (128) vs dynamic padding with bucketing, {label}", list(metrics.items()))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
