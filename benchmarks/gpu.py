"""BERT-base fine-tuning speed on a GPU: float32 vs mixed precision, with and without XLA.

    .venv/bin/python benchmarks/gpu.py                 # on a GPU machine: writes benchmarks/results/gpu.json
    .venv/bin/python benchmarks/gpu.py --tiny --output /tmp/gpu_tiny.json   # CPU, tiny BERT (CI: make bench-gpu-tiny)

Trains lesson 05's functional classifier (mean pooling, AdamW with warm-up/decay, the
package's recipe) on MRPC-shaped batches: sentence pairs packed to a fixed length of 128
(XLA compiles once per input shape, so fixed shapes are what it is measured on), batch 32,
random token ids with MRPC-like lengths (speed does not depend on which ids). For each of
float32, float32 + XLA, mixed_float16 and mixed_float16 + XLA it reports examples per second,
peak GPU memory and the minutes one MRPC epoch (3,668 pairs) would take. Configurations are
interleaved over ``--repeats`` rounds (shared machines drift); the median is recorded.

The model is BERT-base from ``bertlab.load_tf_model("bert-base-uncased")`` (the real one
online; bertlab's stand-in where one is cached), else the same configuration with random
weights built in memory: speed and memory depend on the shape, not on the weights. The
record says which. ``--tiny`` uses a 2-layer, hidden-32 BERT on length 32 so the script runs
in a minute on a CPU and cannot rot; its figures mean nothing about GPUs.
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import bertlab  # noqa: F401  (Keras 2 first)
import numpy as np

from common import RESULTS, load_average, machine, print_table

MRPC_TRAIN_PAIRS = 3668
CONFIGS = [("float32", False), ("float32", True), ("mixed_float16", False), ("mixed_float16", True)]


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="2-layer hidden-32 BERT, length 32, batch 8, 3 steps (CPU, CI)")
    p.add_argument("--batch-size", type=int, default=None, help="default 32 (8 with --tiny)")
    p.add_argument("--seq-length", type=int, default=None, help="default 128 (32 with --tiny)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per configuration (default 20; 3 with --tiny)")
    p.add_argument("--warmup-steps", type=int, default=3, help="untimed steps first (graph tracing, XLA compilation)")
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 3; 1 with --tiny)")
    p.add_argument("--output", type=Path, default=None, help="results file (default benchmarks/results/gpu.json)")
    args = p.parse_args(argv)
    tiny = args.tiny
    args.batch_size = args.batch_size or (8 if tiny else 32)
    args.seq_length = args.seq_length or (32 if tiny else 128)
    args.steps = args.steps or (3 if tiny else 20)
    args.repeats = args.repeats or (1 if tiny else 3)
    args.output = args.output or RESULTS / ("gpu_tiny.json" if tiny else "gpu.json")
    return args


def mrpc_shaped_batch(batch_size: int, seq_length: int, seed: int = 0):
    """[CLS] a [SEP] b [SEP] pairs padded to ``seq_length``, MRPC-like lengths (22 + 22 tokens on average)."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((batch_size, seq_length), np.int32)
    types = np.zeros_like(ids)
    for row in range(batch_size):
        first, second = (int(n) for n in np.clip(rng.normal(22, 7, 2), 4, (seq_length - 3) // 2))
        ids[row, : first + second + 3] = [101, *rng.integers(1996, 29000, first), 102, *rng.integers(1996, 29000, second), 102]
        types[row, first + 2 : first + second + 3] = 1
    features = {"input_ids": ids, "attention_mask": (ids > 0).astype(np.int32), "token_type_ids": types}
    return features, rng.integers(0, 2, batch_size).astype(np.int32)


def encoder_factory(tiny: bool):
    """A function building a fresh encoder under the current precision policy, and what it is."""
    from transformers import BertConfig, TFBertModel

    from bertlab import models

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tools/
    from tools import standin

    if tiny:
        config = BertConfig(**dict(standin.BERT_BASE_CONFIG, **standin.TINY_OVERRIDES))
        return (lambda: TFBertModel(config)), "tiny BERT (2 layers, hidden 32), random weights"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            models.load_tf_model("bert-base-uncased")
        random = any(issubclass(w.category, models.RandomWeightsWarning) for w in caught)
        what = "bert-base-uncased " + ("stand-in from the cache (random weights)" if random else "(pretrained weights)")
        return (lambda: models.load_tf_model("bert-base-uncased")), what
    except models.ModelUnavailableError as error:
        print(f"bert-base-uncased cannot be loaded here ({str(error)[:120]}...): timing its shape with random weights",
              file=sys.stderr)
        config = BertConfig(**standin.BERT_BASE_CONFIG)
        return (lambda: TFBertModel(config)), "bert-base-uncased configuration, random weights (built in memory)"


def peak_gpu_gib() -> float | None:
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    return round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**30, 2)


def time_config(make_encoder, policy: str, xla: bool, args) -> dict:
    import tensorflow as tf

    from bertlab import finetuning as ft

    tf.keras.backend.clear_session()
    gc.collect()
    tf.keras.mixed_precision.set_global_policy(policy)
    if tf.config.list_physical_devices("GPU"):
        tf.config.experimental.reset_memory_stats("GPU:0")
    try:
        model = ft.build_functional_classifier(encoder=make_encoder(), pooling="mean")
        total = args.warmup_steps + args.steps
        ft.compile_classifier(model, peak_lr=3e-5, total_steps=total, jit_compile=xla)
        features, labels = mrpc_shaped_batch(args.batch_size, args.seq_length)
        data = tf.data.Dataset.from_tensors((features, labels)).repeat().prefetch(2)
        model.fit(data, epochs=1, steps_per_epoch=args.warmup_steps, verbose=0)
        started = time.perf_counter()
        history = model.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0)
        seconds = time.perf_counter() - started
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
    per_second = args.steps * args.batch_size / seconds
    return {"examples_per_second": per_second, "peak_gpu_memory_gib": peak_gpu_gib(),
            "mrpc_epoch_minutes": MRPC_TRAIN_PAIRS / per_second / 60, "loss": float(history.history["loss"][-1])}


def main(argv=None) -> int:
    args = parse(argv)
    make_encoder, what = encoder_factory(args.tiny)
    load_before = load_average()
    rounds = {f"{policy}{'_xla' if xla else ''}": [] for policy, xla in CONFIGS}
    for _ in range(args.repeats):
        for policy, xla in CONFIGS:
            rounds[f"{policy}{'_xla' if xla else ''}"].append(time_config(make_encoder, policy, xla, args))
    metrics = {}
    for name, runs in rounds.items():
        speeds = [run["examples_per_second"] for run in runs]
        if not all(np.isfinite(run["loss"]) for run in runs):
            raise RuntimeError(f"{name}: the training loss is not finite: {[run['loss'] for run in runs]}")
        metrics[f"{name}_examples_per_second"] = statistics.median(speeds)
        metrics[f"{name}_mrpc_epoch_minutes"] = MRPC_TRAIN_PAIRS / statistics.median(speeds) / 60
        memory = [run["peak_gpu_memory_gib"] for run in runs if run["peak_gpu_memory_gib"] is not None]
        metrics[f"{name}_peak_gpu_memory_gib"] = max(memory) if memory else None
    base = rounds["float32"]
    for name in ("float32_xla", "mixed_float16", "mixed_float16_xla"):
        ratios = [run["examples_per_second"] / ref["examples_per_second"] for run, ref in zip(rounds[name], base)]
        metrics[f"{name}_speedup"] = statistics.median(ratios)
        metrics[f"{name}_speedup_min"], metrics[f"{name}_speedup_max"] = min(ratios), max(ratios)
    record = {
        "name": args.output.stem,
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "model": what,
        "metrics": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()},
        "config": {"batch_size": args.batch_size, "seq_length": args.seq_length, "steps": args.steps,
                   "warmup_steps": args.warmup_steps, "repeats": args.repeats, "tiny": args.tiny},
        "rounds": rounds,
        "load_1min_before": load_before,
        "load_1min_after": load_average(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    print_table(f"{what}, batch {args.batch_size} x {args.seq_length} ({machine()})",
                [(k, v if v is not None else "-") for k, v in record["metrics"].items()])
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
