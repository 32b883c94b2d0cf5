"""Pretrain a BERT-Tiny-shaped model (2 layers, hidden 128) from scratch on Pride and Prejudice
with masked-LM and next-sentence prediction, then measure it on held-out paragraphs.

    BERTLAB_DATA=/work/shared/data .venv/bin/python benchmarks/pretraining.py        # full: <= 10 min
    BERTLAB_QUICK=1 BERTLAB_DATA=/work/shared/data .venv/bin/python benchmarks/pretraining.py  # CI size

Lesson 04's run, step for step: its settings come from the lesson's Configuration cell
(``lesson_configuration``), and the split, data, model, ``compile`` and ``fit`` below are the
lesson's cells without the watching callback. Prints masked-token accuracy against the unigram
baseline (always the most frequent training token) on the same masked positions, and NSP accuracy
against 50 %, each with its number of evaluation examples and binomial standard error. Writes
benchmarks/results/pretraining.json (the quick mode writes pretraining_quick.json, so it never
overwrites the quoted full run).
"""
from __future__ import annotations

import math
import time

import bertlab  # noqa: F401  (Keras 2 first)
import tensorflow as tf

from bertlab import finetuning as ft
from bertlab import pretraining as P
from bertlab.data import load_corpus
from bertlab.env import quick_mode
from bertlab.models import load_tokenizer
from common import lesson_configuration, load_average, print_table, write_result

LESSON = "04_pretraining_tasks"


def main() -> None:
    c = lesson_configuration(LESSON)  # also seeds, as the lesson's cell does
    mode = "quick" if quick_mode() else "full"
    tokenizer = load_tokenizer()
    train_documents, heldout_documents = P.split_documents(load_corpus(), heldout_fraction=0.1, seed=c["SEED"])
    data = P.prepare_pretraining_data(train_documents, heldout_documents, tokenizer, max_length=c["MAX_LENGTH"],
                                      duplicates=c["DUPLICATES"], seed=c["SEED"])
    train_ds = P.pretraining_dataset(data.train, data.vocab, batch_size=c["BATCH_SIZE"], seed=c["SEED"], epochs=None)
    next(iter(train_ds))  # the lesson looks at one batch first, so fit's pass is the pipeline's second there too
    model = P.build_pretraining_model(data.vocab.size, data.max_length, seed=c["SEED"])
    steps_per_epoch = math.ceil(data.pairs_per_pass / c["BATCH_SIZE"])
    total_steps = c["EPOCHS"] * steps_per_epoch
    model.compile(
        optimizer=ft.create_optimizer(c["PEAK_LR"], total_steps, warmup_ratio=c["WARMUP"]),
        loss={"mlm": P.masked_lm_loss, "nsp": tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)},
        metrics={"mlm": [P.MaskedLMAccuracy()], "nsp": [tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")]},
    )
    load_before = load_average()
    start = time.perf_counter()
    model.fit(train_ds, epochs=c["EPOCHS"], steps_per_epoch=steps_per_epoch, verbose=2)
    minutes = (time.perf_counter() - start) / 60
    result = P.evaluate_pretraining(model, P.heldout_dataset(data), data.vocab)
    load_after = load_average()
    rows = [
        ("mode", mode),
        ("epochs x steps", f"{c['EPOCHS']} x {steps_per_epoch}"),
        ("compact vocabulary", data.vocab.size),
        ("train minutes", round(minutes, 2)),
        ("masked tokens (eval)", result["masked_tokens"]),
        ("MLM accuracy", f"{result['mlm_accuracy']:.3f} ± {result['mlm_se']:.3f}"),
        (f"unigram '{result['unigram_token']}'", f"{result['unigram_accuracy']:.3f} ± {result['unigram_se']:.3f}"),
        ("NSP pairs (eval)", result["nsp_pairs"]),
        ("NSP accuracy", f"{result['nsp_accuracy']:.3f} ± {result['nsp_se']:.3f} (chance 0.500)"),
        ("load average before/after", f"{load_before} / {load_after}"),
    ]
    print_table("Pretraining BERT-Tiny on Pride and Prejudice (held-out paragraphs)", rows)
    metrics = {
        "mlm_accuracy": result["mlm_accuracy"],
        "unigram_accuracy": result["unigram_accuracy"],
        "nsp_accuracy": result["nsp_accuracy"],
        "eval_examples": result["nsp_pairs"],  # held-out sentence pairs (the NSP examples)
        "eval_masked_tokens": result["masked_tokens"],  # the masked tokens in them (the MLM examples)
        "train_minutes": minutes,
        "mlm_standard_error": result["mlm_se"],
        "nsp_standard_error": result["nsp_se"],
    }
    path = write_result(
        "pretraining" if mode == "full" else "pretraining_quick",
        f"BERT-Tiny shape (2 layers, hidden 128, 2 heads) from scratch, compact vocabulary of {data.vocab.size} WordPieces",
        metrics,
        machine="2-core CPU, no GPU",
        mode=mode,
        settings={"epochs": c["EPOCHS"], "batch_size": c["BATCH_SIZE"], "learning_rate": c["PEAK_LR"],
                  "warmup_ratio": c["WARMUP"], "duplicates": data.duplicates, "max_length": data.max_length,
                  "seed": c["SEED"], "from": f"notebooks/solutions/{LESSON}.ipynb, Configuration cell"},
        notes=f"CPU shared with other engineers' jobs: load average {load_before} before, {load_after} after training.",
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
