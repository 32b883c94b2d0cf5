"""Sentences per second when encoding SMS messages with the frozen default model: batched vs one at a time.

    BERTLAB_DATA=/work/shared/data .venv/bin/python benchmarks/embed.py [--n 5000] [--single-n 5000]

The messages are the SMS Spam Collection's, repeated in order to reach --n. Batched encoding
sorts by length and pads per batch (bertlab.spam.extract_features). Writes benchmarks/results/embed.json.
"""
from __future__ import annotations

import argparse
import time

import bertlab  # noqa: F401

from common import load_average, print_table, write_result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=5000, help="messages encoded in batches")
    p.add_argument("--single-n", type=int, default=5000, help="messages encoded one at a time")
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args(argv)

    from bertlab.data import load_sms_spam
    from bertlab.models import get_spec, load_tf_model, load_tokenizer
    from bertlab.spam import extract_features

    texts = load_sms_spam().text.tolist()
    texts = (texts * (args.n // len(texts) + 1))[: args.n]
    encoder, tokenizer = load_tf_model(task="base"), load_tokenizer()
    extract_features(texts[:args.batch_size], encoder=encoder, tokenizer=tokenizer)  # warm-up (graph tracing)
    load_before = load_average()
    start = time.perf_counter()
    batched = extract_features(texts, encoder=encoder, tokenizer=tokenizer, batch_size=args.batch_size, poolings=("mean",))
    batched_seconds = time.perf_counter() - start
    single_texts = texts[: args.single_n]
    start = time.perf_counter()
    for text in single_texts:
        extract_features([text], encoder=encoder, tokenizer=tokenizer, batch_size=1, poolings=("mean",))
    single_seconds = time.perf_counter() - start
    metrics = {
        "batched_per_second": len(texts) / batched_seconds,
        "single_per_second": len(single_texts) / single_seconds,
        "speedup": (len(texts) / batched_seconds) / (len(single_texts) / single_seconds),
        "batched_messages": len(texts),
        "single_messages": len(single_texts),
        "embedding_dim": int(batched["mean"].shape[1]),
    }
    label = "full" if args.single_n >= args.n else f"batched {args.n}, one at a time {args.single_n} (rate measured on fewer)"
    path = write_result("embed", get_spec().name, metrics, run=label, config=vars(args),
                        load_average_1min={"before": load_before, "after": load_average()},
                        notes="2 shared CPU cores with other jobs running: rates are lower bounds")
    print_table(f"Encoding SMS messages ({label})", [(k, v) for k, v in metrics.items()])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
