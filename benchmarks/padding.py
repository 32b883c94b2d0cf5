"""One epoch of MRPC fine-tuning with fixed padding to 128 tokens vs dynamic padding (per batch).

    BERTLAB_DATA=/work/shared/data .venv/bin/python benchmarks/padding.py [--train-limit N]

Same model, data, seed and schedule; only the padding differs. Target: speedup >= 2x with
equal accuracy within noise. Writes benchmarks/results/padding.json.
"""
from __future__ import annotations

import argparse

import bertlab  # noqa: F401

import mrpc
from common import print_table, write_result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-limit", type=int, default=None, help="train on N pairs (a smaller, labelled run)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--bucket", action="store_true", help="dynamic arm also groups similar lengths (bucketing)")
    args = p.parse_args(argv)
    common = ["--epochs", "1", "--batch-size", str(args.batch_size), "--lr", str(args.lr)]
    if args.train_limit:
        common += ["--train-limit", str(args.train_limit)]
    runs = {}
    for kind, extra in [("dynamic", ["--bucket"] if args.bucket else []), ("fixed", ["--fixed-padding"])]:
        print(f"--- {kind} padding")
        runs[kind] = mrpc.run(mrpc.parse(common + extra))
    fixed, dynamic = runs["fixed"]["metrics"], runs["dynamic"]["metrics"]
    metrics = {
        "fixed_minutes_per_epoch": fixed["minutes_per_epoch"],
        "dynamic_minutes_per_epoch": dynamic["minutes_per_epoch"],
        "speedup": fixed["minutes_per_epoch"] / dynamic["minutes_per_epoch"],
        "fixed_dev_accuracy": fixed["dev_accuracy"],
        "dynamic_dev_accuracy": dynamic["dev_accuracy"],
        "fixed_dev_f1": fixed["dev_f1"],
        "dynamic_dev_f1": dynamic["dev_f1"],
    }
    label = f"1 epoch on {args.train_limit} training pairs" if args.train_limit else "1 epoch on all 3,668 training pairs"
    if args.bucket:
        label += ", dynamic padding with length bucketing"
    path = write_result("padding", runs["fixed"]["spec"], metrics, run=label, config=vars(args),
                        load_average_1min={k: v["load"] for k, v in runs.items()},
                        notes="2 shared CPU cores with other jobs running: both timings are noisy; "
                              "the two runs ran one after the other under similar load")
    print_table(f"Fixed (128) vs dynamic padding, {label}", [(k, v) for k, v in metrics.items()])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
