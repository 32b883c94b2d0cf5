"""Lesson 07: the course's BERT in Keras 3 and KerasHub, from the same files, with the same numbers.

This module runs in a **Keras 3 kernel**: the lesson's setup cell sets ``BERTLAB_KERAS=3`` before
``import bertlab``, so bertlab selects no Keras 2 (see :func:`bertlab.env.keras3_mode`). Lessons
01-06 run in a Keras 2 kernel; a function here called there raises :class:`KernelMixError`, a
one-line message saying which kernel to restart (Jupyter shows no traceback for it).

What it gives the lesson:

* :func:`load_backbone`: ``keras_hub.models.BertBackbone.from_preset(<the embedded model's folder>)``
  (Hugging Face's config.json, model.safetensors, vocab.txt; offline), as a :class:`BertBackbone`
  whose feed-forward activation is chosen: ``"gelu"`` (exact, erf: what the checkpoint's
  ``"hidden_act": "gelu"`` means in transformers, and what lesson 03's encoder computes) or
  ``"gelu_approximate"`` (the tanh formula that KerasHub's BERT hard-codes, as google-research/bert's
  modeling.py did). The choice is part of the saved config, so a ``.keras`` file reloads with it.
* :func:`hub_reference`: lesson 03's TF Hub encoder run on sentences, without Keras (the SavedModel
  through ``tf.saved_model.load``), for the comparison.
* :func:`build_classifier`, :func:`create_optimizer`, :func:`mrpc_dataset`: lesson 05's recipe in Keras 3
  (masked mean pooling, dropout 0.1, AdamW 1e-4 with 10 % warm-up and linear decay, batch 32, bucketed
  dynamic padding).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bertlab import env as _env
from bertlab.errors import BertlabError

# Which GELU each library means (measured in tests/test_kerashub.py).
EXACT_GELU = "gelu"  # x * Phi(x), Phi through erf: transformers' "gelu", keras.activations.gelu(approximate=False)
APPROXIMATE_GELU = "gelu_approximate"  # the tanh formula: KerasHub's BertBackbone, google-research/bert's modeling.py
ACTIVATIONS = (EXACT_GELU, APPROXIMATE_GELU)

# TF Hub / lesson 02 input names -> KerasHub's.
HUB_TO_KERASHUB = {"input_word_ids": "token_ids", "input_type_ids": "segment_ids", "input_mask": "padding_mask"}
# transformers' (lesson 05's datasets) -> KerasHub's.
TRANSFORMERS_TO_KERASHUB = {"input_ids": "token_ids", "token_type_ids": "segment_ids", "attention_mask": "padding_mask"}



KernelMixError = _env.KernelMixError


class KerasHubMissingError(BertlabError, ImportError):
    """KerasHub, or one of the modules it imports when it loads, is not installed."""

    def _render_traceback_(self):
        return [f"{type(self).__name__}: {self}"]


def require_keras3_kernel(what: str = "lesson 07's Keras 3 code") -> None:
    """Raise :class:`KernelMixError` unless this process is a Keras 3 kernel (``BERTLAB_KERAS=3`` was set
    before ``import bertlab``, so no Keras 2 was selected)."""
    if _env.keras3_mode() and os.environ.get("TF_USE_LEGACY_KERAS", "") != "1":
        return
    raise KernelMixError(
        f"This kernel runs Keras 2: `import bertlab` selected tf-keras for lessons 01-06, and {what} needs Keras 3. "
        "Restart the kernel (Kernel > Restart, or Runtime > Restart session on Colab) and run lesson 07 from its "
        "first cell: its setup cell sets BERTLAB_KERAS=3 before `import bertlab`."
    )


KERASHUB_NEEDS = ("keras-hub 0.32 needs regex and rich to be imported, sentencepiece to read a folder of Hugging Face "
                  "files (its converters import it), and kagglehub with kagglesdk for presets from Kaggle")
KERASHUB_INSTALL = "pip install keras-hub==0.32.0 sentencepiece==0.2.3 kagglehub==1.0.2 kagglesdk==0.1.28"


def missing_module_error(error: ImportError, doing: str) -> KerasHubMissingError:
    """One clear :class:`KerasHubMissingError` for an ImportError raised while KerasHub was ``doing`` something."""
    missing = error.name or str(error)
    return KerasHubMissingError(
        f"KerasHub could not {doing}: the module {missing!r} is missing or broken ({str(error).splitlines()[0][:160]}). "
        f"{KERASHUB_NEEDS}. Install them with `{KERASHUB_INSTALL}` (on Colab the lesson's setup cell does it), then "
        "restart the kernel.")


def import_keras_hub():
    """``import keras_hub``, or one clear :class:`KerasHubMissingError` naming what to install (measured with
    keras-hub 0.32: the import itself fails without regex or rich, or with a broken kagglesdk)."""
    try:
        with _env.quiet_native_stderr():  # native start-up lines of the backends it loads
            import keras_hub
    except ImportError as error:
        raise missing_module_error(error, "be imported") from None
    return keras_hub


def _from_preset(cls, what: str):
    try:
        with _env.quiet_native_stderr():
            return cls.from_preset(str(preset_dir()))
    except ImportError as error:  # sentencepiece: imported by the Hugging Face converters
        raise missing_module_error(error, f"load the {what} from {preset_dir()}") from None


keras_hub = import_keras_hub()
import keras  # noqa: E402  (after keras_hub's import check: Keras 3, whatever the backend)


def backend() -> str:
    """The Keras 3 backend in use: ``"tensorflow"``, ``"jax"`` or ``"torch"`` (``KERAS_BACKEND``)."""
    return keras.backend.backend()


def preset_dir(model: str | None = None) -> Path:
    """The folder KerasHub loads: the embedded model's own Hugging Face files (offline)."""
    from bertlab import models

    spec = models.get_spec(model)
    if not spec.embedded:
        raise models.ModelUnavailableError(
            f"Lesson 07 loads the embedded model's files; for {spec.name!r} use "
            f"keras_hub.models.BertBackbone.from_preset('hf://{spec.hf_name}') online.")
    return models.embedded_files_dir()


# ------------------------------------------------------------------------------------ the backbone
@keras.saving.register_keras_serializable(package="bertlab")
class BertBackbone(keras_hub.models.BertBackbone):
    """KerasHub's BertBackbone with its feed-forward activation as a setting (``hidden_activation``).

    KerasHub builds every ``TransformerEncoder`` with ``gelu_approximate``, whatever the checkpoint's
    config says; here ``"gelu"`` (the default) is the exact GELU that transformers and the TF Hub
    encoder use for this checkpoint, and ``"gelu_approximate"`` keeps KerasHub's. Saved in the config.
    """

    def __init__(self, *args, hidden_activation: str = EXACT_GELU, trainable_pooler: bool = True, **kwargs):
        if hidden_activation not in ACTIVATIONS:
            raise ValueError(f"hidden_activation must be one of {ACTIVATIONS}, not {hidden_activation!r}")
        super().__init__(*args, **kwargs)
        self.hidden_activation = hidden_activation
        function = activation_function(hidden_activation)
        for layer in self.transformer_layers:
            layer.activation = function
            layer._feedforward_intermediate_dense.activation = function
        self.set_pooler_trainable(trainable_pooler)

    def set_pooler_trainable(self, trainable: bool) -> None:
        """Freeze (False) or unfreeze the pooler (the tanh dense over [CLS]); kept in the saved config, so that a
        reloaded classifier has the same trainable weights (and its optimizer state fits)."""
        self.trainable_pooler = bool(trainable)
        self.pooled_dense.trainable = self.trainable_pooler

    def get_config(self):
        return {**super().get_config(), "hidden_activation": self.hidden_activation,
                "trainable_pooler": self.trainable_pooler}


def activation_function(name: str):
    """The Keras 3 function for one of :data:`ACTIVATIONS`."""
    if name == EXACT_GELU:
        return keras.activations.gelu  # approximate=False
    if name == APPROXIMATE_GELU:
        return keras_hub.src.utils.keras_utils.gelu_approximate  # what BertBackbone passes
    raise ValueError(f"unknown activation {name!r}; one of {ACTIVATIONS}")


def feedforward_activation(backbone) -> str:
    """Which GELU the backbone's feed-forward layers compute: ``"gelu"`` or ``"gelu_approximate"``, measured
    on a few numbers (not read from a name)."""
    layer = backbone.transformer_layers[0]._feedforward_intermediate_dense
    x = np.linspace(-4, 4, 17).astype("float32")
    got = keras.ops.convert_to_numpy(layer.activation(keras.ops.convert_to_tensor(x)))
    exact = gelu_numpy(x, approximate=False)
    return EXACT_GELU if np.abs(got - exact).max() < 1e-6 else APPROXIMATE_GELU


def load_backbone(hidden_activation: str = EXACT_GELU, model: str | None = None) -> BertBackbone:
    """The embedded BERT as a KerasHub backbone, from its Hugging Face files, offline.

    ``keras_hub.models.BertBackbone.from_preset(folder)`` reads config.json and converts model.safetensors;
    the result is rebuilt as :class:`BertBackbone` with ``hidden_activation`` and the same weights."""
    require_keras3_kernel("load_backbone()")
    upstream = _from_preset(keras_hub.models.BertBackbone, "backbone") if model is None else \
        keras_hub.models.BertBackbone.from_preset(str(preset_dir(model)))
    backbone = BertBackbone(**{**upstream.get_config(), "hidden_activation": hidden_activation})
    backbone.set_weights(upstream.get_weights())
    return backbone


def load_upstream_backbone(model: str | None = None):
    """Exactly what ``keras_hub.models.BertBackbone.from_preset(folder)`` gives (KerasHub's own class)."""
    require_keras3_kernel("load_upstream_backbone()")
    return _from_preset(keras_hub.models.BertBackbone, "backbone") if model is None else \
        keras_hub.models.BertBackbone.from_preset(str(preset_dir(model)))


def load_tokenizer(model: str | None = None):
    """``keras_hub.models.BertTokenizer.from_preset(folder)``: the same WordPiece vocabulary as lesson 02."""
    require_keras3_kernel("load_tokenizer()")
    return _from_preset(keras_hub.models.BertTokenizer, "tokenizer") if model is None else \
        keras_hub.models.BertTokenizer.from_preset(str(preset_dir(model)))


def to_kerashub_inputs(inputs: dict) -> dict:
    """A dict with TF Hub's (lesson 02/03) or transformers' (lesson 05) input names, renamed for KerasHub."""
    out = {}
    for key, value in inputs.items():
        new = HUB_TO_KERASHUB.get(key) or TRANSFORMERS_TO_KERASHUB.get(key) or key
        out[new] = value
    missing = {"token_ids", "segment_ids", "padding_mask"} - set(out)
    if missing:
        raise KeyError(f"inputs lack {sorted(missing)}; got {sorted(inputs)}")
    return {key: out[key] for key in ("token_ids", "segment_ids", "padding_mask")}


def sequence_output(backbone, inputs: dict) -> np.ndarray:
    """The backbone's ``sequence_output`` as a NumPy array (inference: no dropout)."""
    out = backbone(to_kerashub_inputs(inputs), training=False)
    return keras.ops.convert_to_numpy(out["sequence_output"])


def max_gap(a, b, mask) -> float:
    """Largest absolute difference between two (batch, length, hidden) arrays on the real tokens (mask 1)."""
    a, b, mask = np.asarray(a), np.asarray(b), np.asarray(mask).astype(bool)
    return float(np.abs(a - b)[mask].max())


# ------------------------------------------------------------------------------------ lesson 03's encoder
def _hub_folders(model: str | None = None) -> dict:
    from bertlab import models

    folder = models.build_dir(model)
    if not models.is_built(model):
        # The build needs transformers' TF classes (Keras 2): it runs in its own Keras 2 process.
        code = "import bertlab.models as m; m.ensure_built(quiet=True)"
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, _env.KERAS3_SWITCH: ""},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"preprocess": folder / "hub_preprocess", "encoder": folder / "hub_encoder"}


def hub_reference(sentences, model: str | None = None) -> dict:
    """Lesson 03's TF Hub preprocessor and encoder run on ``sentences`` without Keras: the two SavedModels
    through ``tf.saved_model.load`` (what ``hub.KerasLayer`` wraps). Returns NumPy arrays: the three
    inputs (TF Hub's names, 128 positions) and ``sequence_output``, ``pooled_output``."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the ops the preprocessor needs)

    folders = _hub_folders(model)
    with _env.quiet_native_stderr():
        preprocess = tf.saved_model.load(str(folders["preprocess"]))
        encoder = tf.saved_model.load(str(folders["encoder"]))
    inputs = preprocess(tf.constant(list(sentences)))
    outputs = encoder(inputs)
    result = {key: value.numpy() for key, value in inputs.items()}
    result.update(sequence_output=outputs["sequence_output"].numpy(), pooled_output=outputs["pooled_output"].numpy())
    return result


# ------------------------------------------------------------------------------------ GELU
def gelu_numpy(x, approximate: bool = False):
    """GELU in NumPy (float64 inside): exact ``x * Phi(x)`` or the tanh approximation."""
    from math import erf

    x64 = np.asarray(x, dtype=np.float64)
    if approximate:
        y = 0.5 * x64 * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x64 + 0.044715 * x64 ** 3)))
    else:
        y = 0.5 * x64 * (1.0 + np.vectorize(erf, otypes=[np.float64])(x64 / np.sqrt(2.0)))
    return y.astype(np.asarray(x).dtype) if np.asarray(x).dtype.kind == "f" else y


# ------------------------------------------------------------------------------------ the weight map
def hf_qkv_to_kerashub(weight, bias, num_heads: int):
    """A Hugging Face query/key/value Linear (weight (hidden, hidden) stored (out, in); bias (hidden,)) as
    KerasHub's EinsumDense kernel (hidden, heads, head_dim) and bias (heads, head_dim).

    Raises ValueError when the weight is not square, the bias does not match it, or the hidden size
    does not split into `num_heads` heads."""
    weight, bias = np.asarray(weight), np.asarray(bias)
    if weight.ndim != 2 or weight.shape[0] != weight.shape[1] or bias.shape != weight.shape[:1]:
        raise ValueError(f"expected a (hidden, hidden) weight and a (hidden,) bias, got {weight.shape} and {bias.shape}.")
    hidden_in, hidden_out = weight.shape[1], weight.shape[0]
    if num_heads < 1 or hidden_out % num_heads:
        raise ValueError(f"hidden size {hidden_out} does not split into {num_heads} heads.")
    head_dim = hidden_out // num_heads
    # Hugging Face stores (out, in) for y = x W^T; EinsumDense keeps (in, heads, head_dim) for y = x K.
    kernel = np.transpose(weight).reshape((hidden_in, num_heads, head_dim))
    return kernel, np.reshape(bias, (num_heads, head_dim))


def weight_map(backbone) -> list[tuple[str, str, tuple, tuple]]:
    """(Hugging Face name, KerasHub variable path, HF shape, KerasHub shape) for layer 0 and the embeddings:
    where lesson 03's hand-built layer's weights live in KerasHub."""
    from safetensors.numpy import load_file

    hf = load_file(str(preset_dir() / "model.safetensors"))
    prefix = "" if "embeddings.word_embeddings.weight" in hf else "bert."
    names = {
        "embeddings.word_embeddings.weight": "token_embedding/embeddings",
        "embeddings.position_embeddings.weight": "position_embedding/embeddings",
        "embeddings.token_type_embeddings.weight": "segment_embedding/embeddings",
        "encoder.layer.0.attention.self.query.weight": "transformer_layer_0/self_attention_layer/query/kernel",
        "encoder.layer.0.attention.self.key.weight": "transformer_layer_0/self_attention_layer/key/kernel",
        "encoder.layer.0.attention.self.value.weight": "transformer_layer_0/self_attention_layer/value/kernel",
        "encoder.layer.0.attention.output.dense.weight": "transformer_layer_0/self_attention_layer/attention_output/kernel",
        "encoder.layer.0.attention.output.LayerNorm.weight": "transformer_layer_0/self_attention_layer_norm/gamma",
        "encoder.layer.0.intermediate.dense.weight": "transformer_layer_0/feedforward_intermediate_dense/kernel",
        "encoder.layer.0.output.dense.weight": "transformer_layer_0/feedforward_output_dense/kernel",
        "encoder.layer.0.output.LayerNorm.weight": "transformer_layer_0/feedforward_layer_norm/gamma",
    }
    by_path = {}
    for variable in backbone.weights:
        path = variable.path
        by_path.setdefault(path.split("/", 1)[1] if path.startswith(backbone.name + "/") else path, variable)
    rows = []
    for hf_name, kh_path in names.items():
        variable = by_path[kh_path] if kh_path in by_path else next(v for p, v in by_path.items() if p.endswith(kh_path))
        rows.append((hf_name, kh_path, tuple(hf[prefix + hf_name].shape), tuple(variable.shape)))
    return rows


# ------------------------------------------------------------------------------------ classifier (lesson 05's recipe)
@keras.saving.register_keras_serializable(package="bertlab")
class MaskedMeanPooling(keras.layers.Layer):
    """Mean of ``sequence_output`` (batch, length, hidden) over the positions where ``padding_mask`` is 1."""

    def call(self, sequence_output, padding_mask):
        ops = keras.ops
        mask = ops.expand_dims(ops.cast(padding_mask, sequence_output.dtype), -1)
        total = ops.sum(sequence_output * mask, axis=1)
        return total / ops.maximum(ops.sum(mask, axis=1), 1.0)


@keras.saving.register_keras_serializable(package="bertlab")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``peak_lr`` over ``warmup_steps``, then linear decay to 0 at ``total_steps``
    (lesson 05's schedule, in Keras 3 ops)."""

    def __init__(self, peak_lr: float, total_steps: int, warmup_steps: int = 0):
        if total_steps <= 0 or not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"Need 0 <= warmup_steps <= total_steps and total_steps > 0; got {warmup_steps}, {total_steps}.")
        self.peak_lr, self.total_steps, self.warmup_steps = float(peak_lr), int(total_steps), int(warmup_steps)

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        rise = step / self.warmup_steps if self.warmup_steps else ops.ones_like(step)
        fall = (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1)
        return self.peak_lr * ops.clip(ops.minimum(rise, fall), 0.0, 1.0)

    def get_config(self):
        return {"peak_lr": self.peak_lr, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}


def create_optimizer(peak_lr: float, total_steps: int, *, warmup_ratio: float = 0.1, weight_decay: float = 0.01):
    """Keras 3 AdamW with :class:`WarmupLinearDecay`; LayerNorm weights (gamma, beta) and biases get no
    weight decay, as in BERT and lesson 05."""
    schedule = WarmupLinearDecay(peak_lr, total_steps, int(round(warmup_ratio * total_steps)))
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay, epsilon=1e-6)
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return optimizer


def build_classifier(backbone, num_labels: int = 2, *, dropout: float = 0.1):
    """Lesson 05's classifier in Keras 3: masked mean pooling of ``sequence_output``, dropout, a dense layer
    giving logits (truncated-normal 0.02 init). The unused pooler is frozen. Inputs: KerasHub's dict."""
    if isinstance(backbone, BertBackbone):
        backbone.set_pooler_trainable(False)
    else:
        backbone.get_layer("pooled_dense").trainable = False
    inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in ("token_ids", "segment_ids", "padding_mask")}
    hidden = backbone(inputs)["sequence_output"]
    pooled = MaskedMeanPooling(name="mean_pooling")(hidden, inputs["padding_mask"])
    pooled = keras.layers.Dropout(dropout, name="head_dropout")(pooled)
    logits = keras.layers.Dense(num_labels, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                                dtype="float32", name="classifier")(pooled)
    return keras.Model(inputs, logits, name="kerashub_mean_classifier")


def backbone_of(model):
    """The KerasHub backbone inside a classifier built by :func:`build_classifier` (or reloaded from a ``.keras`` file)."""
    return next(layer for layer in model.layers if isinstance(layer, keras_hub.models.Backbone))


def compile_classifier(model, optimizer) -> None:
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")], jit_compile=False)


def mrpc_dataset(frame, *, batch_size: int = 32, shuffle: bool = False, seed: int = 0, max_length: int = 128):
    """MRPC pairs as lesson 05 batches them (the course's tokenizer, truncation to 128, length buckets for
    training), with KerasHub's input names. Backend-neutral: a ``tf.data.Dataset`` Keras 3 reads on any backend."""
    from bertlab.preprocessing import to_tf_dataset

    dataset = to_tf_dataset(list(frame.sentence1), list(frame.sentence2), frame.label.to_numpy(), batch_size=batch_size,
                            max_length=max_length, shuffle=shuffle, seed=seed, bucket=shuffle)
    import tensorflow as tf

    dataset = dataset.map(lambda features, label: (to_kerashub_inputs(features), label))
    # Length buckets hide the number of batches from tf.data; counted once and stated, so that Keras knows the
    # epoch's length (its progress bar, and no "input ran out of data" warning after the first epoch).
    return dataset.apply(tf.data.experimental.assert_cardinality(sum(1 for _ in dataset)))


def predict_probabilities(model, dataset) -> np.ndarray:
    """Softmax of the model's logits over ``dataset``. TensorFlow's "triggered tf.function retracing" warning (each
    new batch length of a freshly loaded model is traced once) is not shown."""
    import logging

    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        logits = model.predict(dataset, verbose=0)
    finally:
        logger.setLevel(level)
    logits = logits - logits.max(axis=1, keepdims=True)
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def dataset_labels(dataset) -> np.ndarray:
    return np.concatenate([np.asarray(label) for _, label in dataset.as_numpy_iterator()])


def classification_scores(labels, predictions) -> dict:
    """Accuracy and F1 of the positive class (1: paraphrase)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    tp = int(((predictions == 1) & (labels == 1)).sum())
    fp = int(((predictions == 1) & (labels == 0)).sum())
    fn = int(((predictions == 0) & (labels == 1)).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {"accuracy": float((predictions == labels).mean()), "f1": float(f1)}


def fine_tune_mrpc(train, dev, *, seed: int = 1, epochs: int = 3, peak_lr: float = 1e-4, batch_size: int = 32,
                   warmup_ratio: float = 0.1, hidden_activation: str = EXACT_GELU, verbose=2) -> dict:
    """Lesson 05's recipe in Keras 3 on DataFrames ``train`` / ``dev`` (MRPC's columns): one run with ``seed``
    (it sets the head's initial weights, the batch order and dropout). Returns the model, the dev
    probabilities and labels, accuracy, F1, the history and the training minutes."""
    require_keras3_kernel("fine_tune_mrpc()")
    keras.utils.set_random_seed(seed)
    backbone = load_backbone(hidden_activation)
    model = build_classifier(backbone)
    train_ds = mrpc_dataset(train, batch_size=batch_size, shuffle=True, seed=seed)
    dev_ds = mrpc_dataset(dev, batch_size=64)
    steps = len(train_ds) * epochs
    compile_classifier(model, create_optimizer(peak_lr, steps, warmup_ratio=warmup_ratio))
    started = time.perf_counter()
    history = model.fit(train_ds, epochs=epochs, verbose=verbose, shuffle=False)  # the dataset shuffles itself
    minutes = (time.perf_counter() - started) / 60
    probabilities = predict_probabilities(model, dev_ds)
    labels = dataset_labels(dev_ds)
    scores = classification_scores(labels, probabilities.argmax(axis=1))
    return {"model": model, "probabilities": probabilities, "labels": labels, "dev_accuracy": scores["accuracy"],
            "dev_f1": scores["f1"], "train_minutes": minutes, "steps": steps,
            "history": {key: [float(v) for v in values] for key, values in history.history.items()}}
