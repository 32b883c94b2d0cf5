"""Print the README's benchmark table (Markdown) from benchmarks/results/{mrpc,padding,spam,embed,cpu_speed}.json.

    .venv/bin/python benchmarks/table.py
"""
from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROWS = {
    "mrpc": [("dev_accuracy", "MRPC validation accuracy over 5 seeds, mean ± sd (min–max)", "mean ≥ 0.820, sd ≤ 0.010"),
             ("dev_f1", "MRPC validation F1 over 5 seeds", "mean ≥ 0.875"),
             ("train_minutes_per_run", "MRPC training minutes per run", "≤ 10"),
             ("minutes_per_epoch", "MRPC minutes per epoch", "")],
    "padding": [("fixed_minutes_per_epoch", "fixed-128 padding, minutes per epoch", ""),
                ("dynamic_minutes_per_epoch", "dynamic padding, minutes per epoch", ""),
                ("speedup", "dynamic vs fixed padding speed-up (median of repeats)", "≥ 2"),
                ("speedup_min", "  its smallest repeat", ""), ("speedup_max", "  its largest repeat", ""),
                ("fixed_dev_accuracy", "accuracy after that epoch, fixed", "equal"),
                ("dynamic_dev_accuracy", "accuracy after that epoch, dynamic", "equal")],
    "spam": [("tfidf_spam_f1", "spam F1, TF-IDF + logistic regression", "(baseline)"),
             ("features_spam_f1", "spam F1, frozen BERT features + logistic regression", "≥ 0.95"),
             ("finetune_spam_f1", "spam F1, full fine-tuning", ""),
             ("tfidf_train_minutes", "training minutes, TF-IDF", ""),
             ("features_train_minutes", "training minutes, features (encoding + fit)", ""),
             ("finetune_train_minutes", "training minutes, fine-tuning", ""),
             ("cv_features_spam_f1_mean", "5-fold CV spam F1, frozen features + LR (mean)", "≥ 0.95"),
             ("cv_features_spam_f1_std", "  its standard deviation over folds", ""),
             ("cv_tfidf_spam_f1_mean", "5-fold CV spam F1, TF-IDF + LR, same folds (mean)", ""),
             ("cv_tfidf_spam_f1_std", "  its standard deviation over folds", "")],
    "embed": [("batched_per_second", "SMS encoded per second, batches of 64", ""),
              ("single_per_second", "SMS encoded per second, one at a time", "")],
    "cpu_speed": [("onednn_on_vs_off_fp32_train_speedup", "training speed-up, oneDNN on vs off (float32)", ""),
                  ("onednn_on_vs_off_fp32_inference_speedup", "inference speed-up, oneDNN on vs off (float32)", ""),
                  ("bf16_vs_fp32_onednn_on_train_speedup", "training speed-up, mixed_bfloat16 vs float32", ""),
                  ("bf16_vs_fp32_onednn_on_inference_speedup", "inference speed-up, mixed_bfloat16 vs float32", ""),
                  ("onednn_off_fp32_train_examples_per_second", "training examples/s, 32 x 64 tokens (oneDNN off)", ""),
                  ("onednn_off_fp32_inference_examples_per_second", "inference examples/s (oneDNN off)", ""),
                  ("matmul_peak_fp32_gflops_per_second", "measured float32 matmul peak, GFLOP/s", ""),
                  ("onednn_off_fp32_train_fraction_of_fp32_matmul_peak", "training FLOP/s as a share of that peak", "")],
}


def shown(value) -> str:
    """A number with 3 decimals; a spread as "median (min–max)" or "mean ± sd (min–max)"."""
    if value is None:
        return "—"
    if isinstance(value, dict) and "mean" in value:
        return f"{value['mean']:.3f} ± {value['std']:.3f} ({value['min']:.3f}–{value['max']:.3f})"
    if isinstance(value, dict):
        return f"{value['median']:.3f} ({value['min']:.3f}–{value['max']:.3f})"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def main():
    lines = ["| benchmark | figure | value | target | run | machine, date |", "|---|---|---|---|---|---|"]
    for name, rows in ROWS.items():
        path = RESULTS / f"{name}.json"
        if not path.is_file():
            lines.append(f"| {name} | (not run yet) | | | | |")
            continue
        record = json.loads(path.read_text())
        where = f"{record['machine']}, {record['date']}"
        for key, label, target in rows:
            lines.append(f"| `{name}` | {label} | {shown(record['metrics'].get(key))} | {target} | {record.get('run', '')} | {where} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
