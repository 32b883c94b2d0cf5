"""Print the README's benchmark table (Markdown) from benchmarks/results/{mrpc,padding,spam,embed}.json.

    .venv/bin/python benchmarks/table.py
"""
from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROWS = {
    "mrpc": [("dev_accuracy", "MRPC validation accuracy", "≥ 0.84"), ("dev_f1", "MRPC validation F1", "≥ 0.88"),
             ("train_minutes", "MRPC training minutes", "≤ 15"), ("minutes_per_epoch", "MRPC minutes per epoch", "")],
    "padding": [("fixed_minutes_per_epoch", "fixed-128 padding, minutes per epoch", ""),
                ("dynamic_minutes_per_epoch", "dynamic padding, minutes per epoch", ""),
                ("speedup", "dynamic vs fixed padding speed-up", "≥ 2"),
                ("fixed_dev_accuracy", "accuracy after that epoch, fixed", "equal"),
                ("dynamic_dev_accuracy", "accuracy after that epoch, dynamic", "equal")],
    "spam": [("tfidf_spam_f1", "spam F1, TF-IDF + logistic regression", "(baseline)"),
             ("features_spam_f1", "spam F1, frozen BERT features + logistic regression", "≥ 0.95"),
             ("finetune_spam_f1", "spam F1, full fine-tuning", ""),
             ("tfidf_train_minutes", "training minutes, TF-IDF", ""),
             ("features_train_minutes", "training minutes, features (encoding + fit)", ""),
             ("finetune_train_minutes", "training minutes, fine-tuning", "")],
    "embed": [("batched_per_second", "SMS encoded per second, batches of 64", ""),
              ("single_per_second", "SMS encoded per second, one at a time", "")],
}


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
            value = record["metrics"].get(key)
            shown = "—" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
            lines.append(f"| `{name}` | {label} | {shown} | {target} | {record.get('run', '')} | {where} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
