"""Training and inference speed of the lesson-05 classifier on this CPU, per TensorFlow setting,
against the machine's measured matmul peak.

    .venv/bin/python benchmarks/cpu_speed.py [--rounds 5] [--steps 3]
    .venv/bin/python benchmarks/cpu_speed.py --quick      # tiny model, one round: checks the script runs

Settings (one worker process each, since TensorFlow reads TF_ENABLE_ONEDNN_OPTS when it is imported):

* ``onednn_off_fp32``: TF_ENABLE_ONEDNN_OPTS=0, float32 (what bertlab used to force);
* ``onednn_on_fp32``: TF_ENABLE_ONEDNN_OPTS=1, float32;
* ``onednn_on_bf16``: TF_ENABLE_ONEDNN_OPTS=1, Keras policy ``mixed_bfloat16``.

Model: ``bertlab.finetuning.build_functional_classifier`` (the embedded model, mean pooling) with
AdamW, one fixed batch of 32 sequences x 64 tokens (random WordPiece ids, every token real: speed
depends on shapes, not on the words). Each worker builds and warms up its model once; then the
settings take turns (A B C, B C A, ...) for ``--rounds`` rounds, each timing ``--steps`` training
steps, ``--steps`` inference batches and a 2048 x 2048 ``tf.linalg.matmul`` in float32 and
bfloat16. Speed-ups are taken round by round (pairs measured seconds apart), so the machine's
drifting load cancels out; the JSON keeps every round. Training FLOPs are counted analytically:
6 x (weights used in matmuls) x tokens, plus the attention products (QK^T and AV, 2 x 2 x seq^2 x
hidden per sequence and layer, x 3 for forward + backward); embedding look-ups, layer norms,
softmax and GELU are left out, so the achieved FLOP/s is a slight underestimate.
Writes benchmarks/results/cpu_speed.json (``--quick``: cpu_speed_quick.json).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = {
    "onednn_off_fp32": {"TF_ENABLE_ONEDNN_OPTS": "0", "policy": "float32"},
    "onednn_on_fp32": {"TF_ENABLE_ONEDNN_OPTS": "1", "policy": "float32"},
    "onednn_on_bf16": {"TF_ENABLE_ONEDNN_OPTS": "1", "policy": "mixed_bfloat16"},
}
SIZES = {  # batch, tokens, matmul size
    "full": {"batch": 32, "seq": 64, "matmul": 2048},
    "quick": {"batch": 4, "seq": 16, "matmul": 256},
}
REPLY = "@@cpu_speed "  # worker replies start with this, so stray prints on stdout are ignored


# --------------------------------------------------------------------------- worker (one per setting)
def _tiny_encoder():
    from transformers import BertConfig, TFBertModel

    config = BertConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    return TFBertModel(config)


def training_flops(model, batch: int, seq: int, num_layers: int, hidden: int) -> tuple[int, int]:
    """(weights used in matmuls, training FLOPs of one batch): see the module docstring."""
    matmul_weights = sum(int(v.shape.num_elements()) for v in model.trainable_variables
                         if len(v.shape) == 2 and "embeddings" not in v.name)
    tokens = batch * seq
    attention = 3 * num_layers * batch * 2 * 2 * seq * seq * hidden
    return matmul_weights, 6 * matmul_weights * tokens + attention


def worker(setting: str, quick: bool) -> None:
    import numpy as np

    import bertlab
    import tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port

    from bertlab import finetuning as ft

    size = SIZES["quick" if quick else "full"]
    policy = SETTINGS[setting]["policy"]
    tf.keras.mixed_precision.set_global_policy(policy)
    bertlab.set_seed(0)
    encoder = _tiny_encoder() if quick else None
    model = ft.build_functional_classifier(pooling="mean", encoder=encoder)
    config = model.encoder.config
    model.compile(optimizer=ft.create_optimizer(5e-5, total_steps=100_000),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    batch, seq = size["batch"], size["seq"]
    ids = rng.integers(1000, config.vocab_size, (batch, seq)) if not quick else rng.integers(5, 1000, (batch, seq))
    ids[:, 0], ids[:, -1] = 101 if not quick else 1, 102 if not quick else 2
    x = {"input_ids": ids.astype(np.int32), "attention_mask": np.ones((batch, seq), np.int32),
         "token_type_ids": np.zeros((batch, seq), np.int32)}
    y = rng.integers(0, 2, batch).astype(np.int32)
    n = size["matmul"]
    mats = {dtype: [tf.cast(tf.random.stateless_normal((n, n), seed=(i, 0)), dtype) for i in range(2)]
            for dtype in (tf.float32, tf.bfloat16)}

    def matmul_seconds(dtype) -> float:
        a, b = mats[dtype]
        start = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        return time.perf_counter() - start

    def train(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            loss = model.train_on_batch(x, y)
        if not np.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss}")
        return (time.perf_counter() - start) / steps

    def infer(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            model.predict_on_batch(x)
        return (time.perf_counter() - start) / steps

    train(1), infer(1), matmul_seconds(tf.float32), matmul_seconds(tf.bfloat16)  # build graphs, warm caches
    weights, flops = training_flops(model, batch, seq, config.num_hidden_layers, config.hidden_size)
    _reply({"onednn_enabled": bool(_pywrap_util_port.IsMklEnabled()), "policy": tf.keras.mixed_precision.global_policy().name,
            "sequence_output_dtype": model.encoder(x).last_hidden_state.dtype.name,
            "matmul_weights": weights, "train_flops_per_step": flops, "batch": batch, "seq": seq, "matmul_size": n})
    for line in sys.stdin:
        command = json.loads(line)
        if command["do"] == "quit":
            return
        steps = command["steps"]
        _reply({"train_seconds_per_step": train(steps), "inference_seconds_per_batch": infer(steps),
                "matmul_fp32_seconds": min(matmul_seconds(tf.float32) for _ in range(2)),
                "matmul_bf16_seconds": min(matmul_seconds(tf.bfloat16) for _ in range(2))})


def _reply(obj) -> None:
    sys.stdout.write(REPLY + json.dumps(obj) + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------- parent: interleaved rounds
class Worker:
    def __init__(self, setting: str, quick: bool):
        self.setting = setting
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": SETTINGS[setting]["TF_ENABLE_ONEDNN_OPTS"]}
        self.log = tempfile.TemporaryFile(mode="w+")
        args = [sys.executable, str(Path(__file__).resolve()), "--worker", setting] + (["--quick"] if quick else [])
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)

    def read(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith(REPLY):
                return json.loads(line[len(REPLY):])
        self.log.seek(0)
        raise RuntimeError(f"worker {self.setting} exited ({self.proc.wait()}):\n{self.log.read()[-3000:]}")

    def ask(self, **command) -> dict:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write(json.dumps({"do": "quit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def tensorflow_default_onednn() -> bool:
    """What TensorFlow itself picks on this CPU when TF_ENABLE_ONEDNN_OPTS is unset."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    code = "import bertlab, tensorflow; from tensorflow.python.util import _pywrap_util_port as p; print(p.IsMklEnabled())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    return out.split()[-1] == "True"


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in flags if f.startswith(("avx", "amx", "fma")))


def spread(values) -> dict:
    import numpy as np

    return {"median": float(np.median(values)), "min": float(np.min(values)), "max": float(np.max(values))}


def summarize(setup: dict, rounds: list[dict]) -> dict:
    """Medians with min/max per setting, round-by-round speed-ups, FLOP/s against the matmul peak."""
    metrics = {}
    n = next(iter(setup.values()))["matmul_size"]
    peak = {}
    for dtype in ("fp32", "bf16"):
        rates = {s: [2 * n**3 / r[s][f"matmul_{dtype}_seconds"] / 1e9 for r in rounds] for s in setup}
        for s, values in rates.items():
            metrics[f"{s}_matmul_{dtype}_gflops_per_second"] = spread(values)
        peak[dtype] = max(v["median"] for k, v in metrics.items() if k.endswith(f"_matmul_{dtype}_gflops_per_second"))
        metrics[f"matmul_peak_{dtype}_gflops_per_second"] = peak[dtype]
    for s, info in setup.items():
        batch = info["batch"]
        train = [batch / r[s]["train_seconds_per_step"] for r in rounds]
        metrics[f"{s}_train_examples_per_second"] = spread(train)
        metrics[f"{s}_inference_examples_per_second"] = spread([batch / r[s]["inference_seconds_per_batch"] for r in rounds])
        achieved = [info["train_flops_per_step"] / r[s]["train_seconds_per_step"] / 1e9 for r in rounds]
        metrics[f"{s}_train_gflops_per_second"] = spread(achieved)
        metrics[f"{s}_train_fraction_of_fp32_matmul_peak"] = metrics[f"{s}_train_gflops_per_second"]["median"] / peak["fp32"]
    pairs = {"onednn_on_vs_off_fp32": ("onednn_on_fp32", "onednn_off_fp32"),
             "bf16_vs_fp32_onednn_on": ("onednn_on_bf16", "onednn_on_fp32")}
    for name, (a, b) in pairs.items():
        for kind, key in (("train", "train_seconds_per_step"), ("inference", "inference_seconds_per_batch")):
            metrics[f"{name}_{kind}_speedup"] = spread([r[b][key] / r[a][key] for r in rounds])
    return metrics


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="interleaved repeats of every setting")
    p.add_argument("--steps", type=int, default=3, help="training steps (and inference batches) timed per round")
    p.add_argument("--quick", action="store_true", help="tiny random BERT, batch 4 x 16 tokens, 1 round, 1 step")
    p.add_argument("--worker", choices=list(SETTINGS), help=argparse.SUPPRESS)
    p.add_argument("--results-dir", default=None, help="where to write the JSON (default benchmarks/results)")
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.quick)
    if args.quick:
        args.rounds, args.steps = 1, 1

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import load_average, print_table, write_result

    load = {"before": load_average()}
    start = time.perf_counter()
    workers = {s: Worker(s, args.quick) for s in SETTINGS}  # start together; timing starts once all are ready
    try:
        default_onednn = tensorflow_default_onednn()
        setup = {s: w.read() for s, w in workers.items()}
        order = list(SETTINGS)
        rounds = []
        for r in range(args.rounds):
            turn = order[r % len(order):] + order[:r % len(order)]  # A B C, B C A, C A B, ...
            rounds.append({s: workers[s].ask(do="measure", steps=args.steps) for s in turn})
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                f"{s} {rounds[-1][s]['train_seconds_per_step']:.2f} s/step" for s in order), flush=True)
    finally:
        for w in workers.values():
            w.close()
    load["after"] = load_average()
    metrics = summarize(setup, rounds)
    path = write_result(
        "cpu_speed_quick" if args.quick else "cpu_speed", "tiny random BERT" if args.quick else "minilm-l6", metrics,
        run="quick (tiny model, 1 round)" if args.quick else "full",
        config={**vars(args), **{k: setup["onednn_off_fp32"][k] for k in ("batch", "seq", "matmul_size")}},
        settings={s: {**SETTINGS[s], **setup[s]} for s in SETTINGS},
        tensorflow_default_onednn_on_this_cpu=default_onednn, cpu_flags=cpu_flags(),
        rounds=rounds, wall_minutes=round((time.perf_counter() - start) / 60, 2),
        load_average_1min=load,
        notes="machine shared with other developers' jobs: compare the speed-ups (pairs measured within one "
              "round, seconds apart), not the absolute rates; training FLOPs counted analytically "
              "(6 x matmul weights x tokens + attention products), not profiled",
        directory=args.results_dir)
    rows = [(k, v["median"] if isinstance(v, dict) else v) for k, v in metrics.items()
            if "examples" in k or "speedup" in k or "peak" in k or "fraction" in k]
    print_table(f"CPU speed, batch {setup['onednn_off_fp32']['batch']} x {setup['onednn_off_fp32']['seq']} tokens, "
                f"medians of {args.rounds} interleaved rounds", rows)
    print(f"TensorFlow's own oneDNN default on this CPU: {'on' if default_onednn else 'off'}; wrote {path}")


if __name__ == "__main__":
    main()
