"""Lesson 05's MRPC recipe in Keras 3 + KerasHub (lesson 07): one run per seed, validation accuracy/F1.

    BERTLAB_DATA=/work/shared/data .venv/bin/python benchmarks/mrpc_keras3.py --seeds 1 2
    .venv/bin/python benchmarks/mrpc_keras3.py --seeds 1 --train-limit 300 --epochs 1 --label small

The same recipe as benchmarks/mrpc.py's "lesson" (masked mean pooling, dropout 0.1, AdamW with peak LR
1e-4, 10 % warm-up then linear decay, weight decay 0.01 except LayerNorm and biases, batch 32, length
buckets, 3 epochs), the same tokenizer and data; the model is KerasHub's BertBackbone loaded from the
embedded model's Hugging Face files with the exact GELU (``--activation gelu_approximate`` keeps
KerasHub's default). Each seed sets the head's initial weights, the batch order and dropout; nothing is
chosen on validation. Lesson 05's five-seed figure is benchmarks/results/mrpc.json. Writes
benchmarks/results/<name>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import time

if __name__ == "__main__":  # run as a script: a Keras 3 process, bertlab selects no Keras 2 (imported: left alone)
    os.environ["BERTLAB_KERAS"] = "3"
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

import bertlab  # noqa: E402,F401
from common import RESULTS, load_average, print_table, write_result  # noqa: E402


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[1])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--warmup", type=float, default=0.1)
    p.add_argument("--activation", choices=["gelu", "gelu_approximate"], default="gelu")
    p.add_argument("--train-limit", type=int, default=None)
    p.add_argument("--label", default="full")
    p.add_argument("--name", default="mrpc_keras3")
    p.add_argument("--results-dir", default=None)
    return p.parse_args(argv)


def spread(values) -> dict:
    values = np.asarray(values, dtype=float)
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()), "max": float(values.max())}


def record(args, members, history, started, load_before, loads, kh, keras):
    lesson05 = json.loads((RESULTS / "mrpc.json").read_text())["metrics"]
    metrics = {
        "dev_accuracy": spread([m["dev_accuracy"] for m in members]),
        "dev_f1": spread([m["dev_f1"] for m in members]),
        "train_minutes_per_run": spread([m["train_minutes"] for m in members]),
        "minutes_per_epoch": sum(m["train_minutes"] for m in members) / (len(members) * args.epochs),
        "wall_minutes": (time.perf_counter() - started) / 60,
    }
    path = write_result(args.name, "minilm-l6", metrics, directory=args.results_dir, run=args.label,
                        config={k: v for k, v in vars(args).items() if k not in ("name", "label", "results_dir")},
                        seeds_done=[m["seed"] for m in members], members=members, backend=keras.backend.backend(),
                        keras_version=keras.__version__, keras_hub_version=kh.keras_hub.__version__,
                        lesson05_five_seeds={"dev_accuracy": lesson05["dev_accuracy"], "dev_f1": lesson05["dev_f1"],
                                             "train_minutes_per_run": lesson05["train_minutes_per_run"]},
                        std="sample standard deviation over the runs (ddof=1); 0 for one run",
                        load_average_1min={"before": load_before, "after_each_run": loads},
                        history_last_run={k: [round(x, 4) for x in v] for k, v in history.items()},
                        notes="2 CPU cores shared with other jobs (see the load averages): minutes drift with the load")
    return metrics, path


def main(argv=None):
    args = parse(argv)
    import keras

    from bertlab import kerashub as kh
    from bertlab.data import load_mrpc

    train, dev = load_mrpc("train"), load_mrpc("validation")
    if args.train_limit:
        train = train.sample(n=min(args.train_limit, len(train)), random_state=0)
    load_before, loads, members = load_average(), [], []
    started = time.perf_counter()
    for seed in args.seeds:
        run = kh.fine_tune_mrpc(train, dev, seed=seed, epochs=args.epochs, peak_lr=args.lr, batch_size=args.batch_size,
                                warmup_ratio=args.warmup, hidden_activation=args.activation, verbose=2)
        members.append({"seed": seed, "dev_accuracy": round(run["dev_accuracy"], 4), "dev_f1": round(run["dev_f1"], 4),
                        "train_minutes": round(run["train_minutes"], 3)})
        loads.append(load_average())
        print(f"seed {seed}: accuracy {run['dev_accuracy']:.4f}, F1 {run['dev_f1']:.4f}, {run['train_minutes']:.1f} min", flush=True)
        history = run["history"]
        del run
        keras.backend.clear_session()
        # written after every seed, so that a long run interrupted later keeps the seeds it finished
        metrics, path = record(args, members, history, started, load_before, loads, kh, keras)
    m = metrics
    lesson05 = json.loads((RESULTS / "mrpc.json").read_text())["metrics"]
    rows = [(f"dev {key} (mean ± sd over {len(members)} seed(s))", f"{m[f'dev_{key}']['mean']:.4f} ± {m[f'dev_{key}']['std']:.4f}")
            for key in ("accuracy", "f1")]
    rows += [("lesson 05, 5 seeds: accuracy / F1", f"{lesson05['dev_accuracy']['mean']:.4f} ± {lesson05['dev_accuracy']['std']:.4f} / "
              f"{lesson05['dev_f1']['mean']:.4f} ± {lesson05['dev_f1']['std']:.4f}"),
             ("train minutes per run (max)", f"{m['train_minutes_per_run']['mean']:.2f} ({m['train_minutes_per_run']['max']:.2f})"),
             ("load average before / after runs", f"{load_before} / {loads}")]
    print_table(f"MRPC in Keras 3 + KerasHub (seeds {args.seeds}, run: {args.label})", rows)
    print(f"wrote {path}")
    return metrics


if __name__ == "__main__":
    main()
