"""A BERT-base stand-in for maintainers: the real shape and vocabulary, seeded RANDOM weights.

Run from the repository root (``tools`` is not part of the installed package).

The machines that test the course have no internet, so the BERT-base route
(``BERTLAB_MODEL=bert-base-uncased``) could never run there. This command writes a model
with the exact ``bert-base-uncased`` configuration (30,522 WordPieces, 12 layers, hidden 768,
12 heads, feed-forward 3,072, 512 positions) and the real uncased vocabulary (the embedded
model ships the same ``vocab.txt``) into the two caches the libraries read before the network:

* a Hugging Face snapshot under ``HF_HOME`` (``hub/models--bert-base-uncased/snapshots/<rev>/``
  with ``config.json``, ``tf_model.h5`` and the tokenizer files, ``refs/main`` naming ``<rev>``),
  so ``TFAutoModel.from_pretrained("bert-base-uncased")`` loads it offline;
* TF Hub SavedModels with the published preprocessor and encoder interfaces under
  ``TFHUB_CACHE_DIR``, in folders named by the SHA-1 of the real handle URLs (how
  ``tensorflow_hub`` finds a module it has already downloaded), so
  ``hub.KerasLayer("https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4")`` loads it.

Every folder gets a :data:`MARKER` file, and :mod:`bertlab.models` warns
(:class:`~bertlab.models.RandomWeightsWarning`) whenever it hands out a model that has one.
It proves that the code path, shapes, memory and time work for BERT-base; it proves nothing
about accuracy. Never build it into a learner's caches: both destinations must be given
explicitly::

    python -m tools.standin build --hf-home /tmp/x/hf --tfhub-cache-dir /tmp/x/tfhub
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bertlab import models
from bertlab.bert_inputs import MAX_LENGTH

REPO_ID = "bert-base-uncased"
MARKER = models.STANDIN_MARKER
# The published bert-base-uncased config.json, field for field.
BERT_BASE_CONFIG = {
    "architectures": ["BertForMaskedLM"],
    "attention_probs_dropout_prob": 0.1,
    "gradient_checkpointing": False,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512,
    "model_type": "bert",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "type_vocab_size": 2,
    "use_cache": True,
    "vocab_size": 30522,
}
# For the package's own tests of the loading mechanics: the same vocabulary, a tiny body.
TINY_OVERRIDES = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


def _replace(staging: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(target)


def build(hf_home: Path, tfhub_cache_dir: Path, *, seed: int = 0, tiny: bool = False, say=print) -> dict:
    """Write the stand-in into both caches; return a summary (paths, seconds, megabytes).

    ``tiny=True`` keeps the vocabulary and the interfaces but a 2-layer, hidden-32 body
    (for tests of the loading code). Existing stand-in folders are replaced; each folder
    is written beside its target and renamed into place when complete.
    """
    import tensorflow as tf
    from transformers import BertConfig, BertTokenizerFast, TFBertForPreTraining

    from bertlab import hub_export

    spec = models.get_spec(REPO_ID)
    hf_home, tfhub_cache_dir = Path(hf_home).expanduser().resolve(), Path(tfhub_cache_dir).expanduser().resolve()
    config_dict = dict(BERT_BASE_CONFIG, **(TINY_OVERRIDES if tiny else {}))
    label = {
        "what": "bertlab stand-in for bert-base-uncased: RANDOM weights, real configuration and vocabulary",
        "seed": seed,
        "tiny": tiny,
        "config": config_dict,
        "built_by": "python -m tools.standin build",
    }
    vocab = models.vocab_path(models.DEFAULT_MODEL)
    started = time.time()

    say(f"tools.standin: building {'a tiny' if tiny else 'the'} {REPO_ID} stand-in (random weights, seed {seed})")
    tf.keras.utils.set_random_seed(seed)
    model = TFBertForPreTraining(BertConfig(**config_dict))  # what the published tf_model.h5 holds
    model(model.dummy_inputs)

    # Hugging Face cache layout: refs/main names the snapshot folder; a 40-hex revision like a commit's.
    revision = hashlib.sha1(json.dumps(label, sort_keys=True).encode()).hexdigest()
    repo_dir = hf_home / "hub" / f"models--{REPO_ID}"
    repo_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".standin-", dir=repo_dir))
    say("  [1/3] Hugging Face snapshot (config.json, tf_model.h5, tokenizer files)")
    model.save_pretrained(str(staging))
    (staging / "config.json").write_text(json.dumps(config_dict, indent=2, sort_keys=True) + "\n")
    BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True, model_max_length=512).save_pretrained(str(staging))
    (staging / MARKER).write_text(json.dumps(label, indent=2) + "\n")
    snapshot = repo_dir / "snapshots" / revision
    _replace(staging, snapshot)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(revision)

    tfhub_cache_dir.mkdir(parents=True, exist_ok=True)
    folders = {}
    for step, (key, handle) in enumerate((("preprocess", spec.hub_preprocess), ("encoder", spec.hub_encoder)), start=2):
        say(f"  [{step}/3] TF Hub {key} SavedModel for {handle}")
        staging = Path(tempfile.mkdtemp(prefix=".standin-", dir=tfhub_cache_dir))
        if key == "preprocess":
            hub_export.save_preprocessor(vocab, staging / "module", seq_length=MAX_LENGTH)
        else:
            hub_export.save_encoder(model, staging / "module")
        (staging / "module" / MARKER).write_text(json.dumps(dict(label, handle=handle), indent=2) + "\n")
        folders[key] = models.hub_module_dir(handle, tfhub_cache_dir)
        _replace(staging / "module", folders[key])
        shutil.rmtree(staging)

    def megabytes(folder: Path) -> float:
        return round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20, 1)

    summary = {
        "snapshot": str(snapshot),
        "hub": {key: str(folder) for key, folder in folders.items()},
        "seconds": round(time.time() - started, 1),
        "megabytes": megabytes(snapshot) + sum(megabytes(folder) for folder in folders.values()),
        "parameters": int(model.bert.count_params()),
    }
    say(f"tools.standin: done in {summary['seconds']:.0f} s, {summary['megabytes']:.0f} MB on disk")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.standin", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("build", help="write the stand-in into the two caches given")
    # No defaults on purpose: the learner's own caches (~/.cache/huggingface, TF Hub's) must never get it.
    command.add_argument("--hf-home", required=True, type=Path, help="the HF_HOME the tests will use")
    command.add_argument("--tfhub-cache-dir", required=True, type=Path, help="the TFHUB_CACHE_DIR the tests will use")
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--tiny", action="store_true", help="2 layers, hidden 32 (tests of the loading code)")
    args = parser.parse_args(argv)
    summary = build(args.hf_home, args.tfhub_cache_dir, seed=args.seed, tiny=args.tiny,
                    say=lambda message: print(message, file=sys.stderr, flush=True))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":  # `from bertlab import models` above imported bertlab (Keras 2) first
    sys.exit(main())
