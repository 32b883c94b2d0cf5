"""Pretrain a BERT-Tiny-shaped model (2 layers, hidden 128) from scratch on Pride and Prejudice
with masked-LM and next-sentence prediction, then measure it on held-out paragraphs.

    BERTLAB_DATA=/work/shared/data .venv/bin/python benchmarks/pretraining.py        # full: <= 10 min
    BERTLAB_QUICK=1 BERTLAB_DATA=/work/shared/data .venv/bin/python benchmarks/pretraining.py  # CI size

Prints masked-token accuracy against the unigram baseline (always the most frequent training
token) on the same masked positions, and NSP accuracy against 50 %, each with its number of
evaluation examples and binomial standard error. Writes benchmarks/results/pretraining.json
(the quick mode writes pretraining_quick.json, so it never overwrites the quoted full run).
"""
from __future__ import annotations

import bertlab  # noqa: F401  (Keras 2 first)

from bertlab import pretraining as P
from bertlab.data import load_corpus
from bertlab.env import quick_mode, set_seed
from bertlab.models import load_tokenizer
from common import load_average, print_table, write_result


def main() -> None:
    settings = P.run_settings()
    mode = "quick" if quick_mode() else "full"
    set_seed(0)
    tokenizer = load_tokenizer()
    data = P.prepare_pretraining_data(load_corpus(), tokenizer, duplicates=settings.pop("duplicates"), seed=0)
    load_before = load_average()
    model, history, minutes = P.pretrain(data, seed=0, **settings)
    result = P.evaluate_pretraining(model, P.heldout_dataset(data), data.vocab)
    load_after = load_average()
    rows = [
        ("mode", mode),
        ("epochs x steps", f"{settings['epochs']} x {-(-data.pairs_per_pass // settings['batch_size'])}"),
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
        settings={**settings, "duplicates": data.duplicates, "max_length": data.max_length},
        notes=f"CPU shared with other engineers' jobs: load average {load_before} before, {load_after} after training.",
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
