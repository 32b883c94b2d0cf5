"""Fine-tune BERT for sequence classification (lessons 05 and 06).

:func:`build_functional_classifier` is the package's version of the classifier lesson 05's
learners write: a Keras functional model over transformers' ``TFBertModel`` with a choice of
pooling (mean pooling over real tokens, the ``[CLS]`` pooler, or the raw ``[CLS]`` vector), saved
and reloaded with :func:`save_functional_classifier` / :func:`load_functional_classifier`.
:func:`create_optimizer` is AdamW with linear warm-up and decay (:class:`WarmupLinearDecay`).
Lessons 05 and 06 compile and fit in their own cells; :func:`train_classifier` does the same for
the benchmarks, with validation each epoch, early stopping and checkpointing, and gives back the
best weights. :func:`classification_metrics` scores predictions with scikit-learn, and
:func:`predict` labels new texts or text pairs.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf

from bertlab.errors import check_batch_size
from bertlab.env import require_tf_keras
from bertlab.preprocessing import TRANSFORMERS_KEYS, encode_texts, max_positions

# The sentence vectors of a BERT output, one name each wherever they are chosen: the raw [CLS] vector,
# the pooler's (tanh dense over [CLS]) and the mean over real tokens (lesson 03's masked mean).
POOLINGS = ("cls", "pooled", "mean")


# --------------------------------------------------------------------------- schedule, optimizer
def warmup_linear_decay(step, *, peak_lr: float, warmup_steps: int, total_steps: int):
    """Learning rate at ``step`` (scalar or array): linear rise from 0 to ``peak_lr`` over
    ``warmup_steps``, then linear decay to 0 at ``total_steps`` (and 0 after)."""
    if total_steps <= 0 or warmup_steps < 0 or warmup_steps > total_steps:
        raise ValueError(f"Need 0 <= warmup_steps <= total_steps and total_steps > 0; got {warmup_steps}, {total_steps}.")
    step = np.asarray(step, dtype=np.float64)
    rise = step / warmup_steps if warmup_steps else np.ones_like(step)
    fall = (total_steps - step) / max(total_steps - warmup_steps, 1)
    return peak_lr * np.clip(np.minimum(rise, fall), 0.0, 1.0)


# Registered, so that a model saved with model.save after train_classifier (whose optimizer holds
# this schedule) reloads with tf.keras.models.load_model once bertlab.finetuning is imported.
@tf.keras.utils.register_keras_serializable(package="bertlab")
class WarmupLinearDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Keras learning-rate schedule: linear warm-up to ``peak_lr``, then linear decay to 0.

    The one schedule of the package (fine-tuning and pretraining): BERT's recipe, the same
    learning rates as transformers' ``create_optimizer`` (checked step by step in the tests), and
    the one lesson 05's learners write as ``warmup_linear_decay``.
    """

    def __init__(self, peak_lr: float, total_steps: int, warmup_steps: int = 0):
        super().__init__()
        if total_steps <= 0 or not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"Need 0 <= warmup_steps <= total_steps and total_steps > 0; got {warmup_steps}, {total_steps}.")
        self.peak_lr, self.total_steps, self.warmup_steps = float(peak_lr), int(total_steps), int(warmup_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        rise = step / self.warmup_steps if self.warmup_steps else tf.ones_like(step)
        fall = (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1)
        return self.peak_lr * tf.clip_by_value(tf.minimum(rise, fall), 0.0, 1.0)

    def get_config(self):
        return {"peak_lr": self.peak_lr, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}


def create_optimizer(peak_lr: float, total_steps: int, *, warmup_ratio: float = 0.1, weight_decay: float = 0.01):
    """AdamW with :class:`WarmupLinearDecay` (``round(warmup_ratio * total_steps)`` warm-up steps);
    LayerNorm weights and biases get no weight decay (as in BERT). Used by fine-tuning and pretraining."""
    if not 0 <= warmup_ratio <= 1:
        raise ValueError(f"warmup_ratio must be between 0 and 1, got {warmup_ratio}.")
    schedule = WarmupLinearDecay(peak_lr, total_steps, int(round(warmup_ratio * total_steps)))
    optimizer = tf.keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay, epsilon=1e-6)
    optimizer.exclude_from_weight_decay(var_names=["LayerNorm", "layer_norm", "bias"])
    return optimizer


# --------------------------------------------------------------------------- model builders
def _head(pooled, num_labels: int, dropout: float):
    pooled = tf.keras.layers.Dropout(dropout, name="head_dropout")(pooled)
    init = tf.keras.initializers.TruncatedNormal(stddev=0.02)
    # float32 logits even under mixed precision, so that the softmax and the loss stay stable.
    return tf.keras.layers.Dense(num_labels, kernel_initializer=init, dtype="float32", name="classifier")(pooled)


def masked_mean(hidden, attention_mask):
    """Mean of ``hidden`` [batch, seq, dim] over the positions where ``attention_mask`` is 1."""
    mask = tf.cast(attention_mask, hidden.dtype)[:, :, None]
    total = tf.reduce_sum(hidden * mask, axis=1)
    count = tf.maximum(tf.reduce_sum(mask, axis=1), tf.cast(1.0, hidden.dtype))
    return total / count


def build_functional_classifier(model: str | None = None, num_labels: int = 2, *, pooling: str = "mean",
                                dropout: float = 0.1, encoder=None):
    """Keras functional classifier over ``TFBertModel``: token ids in, logits out.

    Call it with a dict keyed by :data:`TRANSFORMERS_KEYS` (``input_ids``, ``attention_mask``,
    ``token_type_ids``; int32, shape (batch, length)) or with a list in that order.

    ``pooling="mean"`` averages the last layer over real tokens (how all-MiniLM-L6-v2, the
    embedded model, was trained), ``"pooled"`` takes BERT's pooler output (tanh dense over
    [CLS], what ``TFBertForSequenceClassification`` uses), ``"cls"`` the raw [CLS] vector.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}.")
    if encoder is None:
        from bertlab.models import load_tf_model

        encoder = load_tf_model(model, task="base")
    bert = getattr(encoder, "bert", None)  # the main layer of a transformers TFBertModel
    pooler = getattr(bert, "pooler", None)
    if pooler is not None:  # unused by mean/[CLS] pooling: freeze it, so it gets no (missing) gradients
        pooler.trainable = pooling == "pooled"
    # A list in the documented order, not a dict: Keras orders dict-built inputs by name, so a
    # list call [ids, mask, types] would be read as (mask, ids, types). Dict calls still match by name.
    inputs = [tf.keras.Input(shape=(None,), dtype=tf.int32, name=name) for name in TRANSFORMERS_KEYS]
    named = dict(zip(TRANSFORMERS_KEYS, inputs))
    outputs = encoder(**named)
    if pooling == "mean":
        pooled = masked_mean(outputs.last_hidden_state, named["attention_mask"])
    elif pooling == "pooled":
        pooled = outputs.pooler_output
    else:
        pooled = outputs.last_hidden_state[:, 0]
    classifier = tf.keras.Model(inputs, _head(pooled, num_labels, dropout), name=f"bert_{pooling}_classifier")
    classifier.encoder = encoder  # kept for save_functional_classifier
    return classifier


def save_functional_classifier(classifier, directory: str | os.PathLike) -> Path:
    """Save a :func:`build_functional_classifier` model: the encoder with ``save_pretrained``
    and the head (pooling, weights) beside it."""
    directory = Path(directory)
    classifier.encoder.save_pretrained(str(directory))
    dense = classifier.get_layer("classifier")
    pooling = classifier.name.removeprefix("bert_").removesuffix("_classifier")
    kernel, bias = dense.get_weights()
    np.savez(directory / "classifier_head.npz", kernel=kernel, bias=bias, pooling=pooling)
    return directory


def load_functional_classifier(directory: str | os.PathLike):
    """Rebuild a classifier saved with :func:`save_functional_classifier`."""
    from transformers import TFBertModel

    directory = Path(directory)
    if not (directory / "classifier_head.npz").is_file():
        raise FileNotFoundError(f"{directory} holds no saved classifier head (classifier_head.npz).")
    head = np.load(directory / "classifier_head.npz")
    from bertlab.models import quiet_transformers

    with quiet_transformers():
        encoder = TFBertModel.from_pretrained(str(directory))
    classifier = build_functional_classifier(num_labels=head["kernel"].shape[1], pooling=str(head["pooling"]), encoder=encoder)
    classifier.get_layer("classifier").set_weights([head["kernel"], head["bias"]])
    return classifier


# --------------------------------------------------------------------------- training
def use_jit_compile(dataset=None) -> bool:
    """Whether to compile the training step with XLA: on a GPU/TPU, and only when the batches
    have a fixed shape (XLA compiles once per input shape, so with dynamic padding it would
    recompile for every new batch length and lose more than it gains). On the CPU, never."""
    if not (tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU")):
        return False
    if dataset is None:
        return True
    features = dataset.element_spec[0] if isinstance(dataset.element_spec, tuple) else dataset.element_spec
    specs = features.values() if isinstance(features, dict) else [features]
    return all(spec.shape.is_fully_defined() or (spec.shape.rank == 2 and spec.shape[1] is not None) for spec in specs)


def compile_classifier(model, *, peak_lr: float = 5e-5, total_steps: int, warmup_ratio: float = 0.1,
                       weight_decay: float = 0.01, jit_compile: bool | None = None, optimizer=None):
    """Compile with AdamW + warm-up/decay, cross-entropy on logits and accuracy.

    ``optimizer`` replaces the AdamW that :func:`create_optimizer` would build (then ``peak_lr``,
    ``total_steps``, ``warmup_ratio`` and ``weight_decay`` are not used).
    Raises :class:`bertlab.env.Keras3ObjectError` for a Keras 3 model or optimizer (from ``import keras``)."""
    require_tf_keras(model, "the model")
    require_tf_keras(optimizer, "the optimizer")
    model.compile(
        optimizer=optimizer or create_optimizer(peak_lr, total_steps, warmup_ratio=warmup_ratio, weight_decay=weight_decay),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy"), BatchLoss()],
        jit_compile=use_jit_compile() if jit_compile is None else jit_compile,
    )
    return model


class EpochTimer(tf.keras.callbacks.Callback):
    """Records the wall-clock seconds of each training epoch (validation excluded)."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_test_begin(self, logs=None):
        # validation runs after the epoch's training steps: stop the clock there
        if len(self.seconds) < self.params.get("epochs", 0) and hasattr(self, "_start"):
            self.seconds.append(time.perf_counter() - self._start)
            del self._start

    def on_epoch_end(self, epoch, logs=None):
        if hasattr(self, "_start"):  # no validation data
            self.seconds.append(time.perf_counter() - self._start)
            del self._start
        if logs is not None:
            logs["epoch_minutes"] = self.seconds[-1] / 60


@tf.keras.utils.register_keras_serializable(package="bertlab")
class BatchLoss(tf.keras.metrics.Metric):
    """The loss of the latest training batch alone.

    Keras logs ``loss`` as a running mean over the epoch so far, which hides how noisy single
    batches are and resets at every epoch. Compiled as a metric, this one holds only the last
    batch's cross-entropy on logits (weighted like the loss when ``class_weight`` is given);
    :class:`BatchLosses` records it after every batch.
    """

    def __init__(self, name: str = "batch_loss", from_logits: bool = True, **kwargs):
        super().__init__(name=name, **kwargs)
        self.from_logits = from_logits
        self._loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
        self.value = self.add_weight(name="value", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.value.assign(tf.cast(self._loss(y_true, y_pred, sample_weight=sample_weight), self.dtype))

    def result(self):
        return self.value

    def reset_state(self):
        self.value.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


class BatchLosses(tf.keras.callbacks.Callback):
    """Records each training batch's own loss (the :class:`BatchLoss` metric) after every batch.

    Without that metric compiled in, it records Keras' ``loss``, the running mean within the epoch.
    """

    def on_train_begin(self, logs=None):
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        key = "batch_loss" if "batch_loss" in logs else "loss"
        if key in logs:
            self.losses.append(float(logs[key]))


class CompactProgress(tf.keras.callbacks.Callback):
    """One short line per epoch: losses, accuracies and minutes."""

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = [f"{k} {v:.4f}" for k, v in logs.items() if k != "epoch_minutes" and not k.endswith("batch_loss")]
        minutes = logs.get("epoch_minutes")
        tail = f" ({minutes:.1f} min)" if minutes is not None else ""
        print(f"epoch {epoch + 1}/{self.params.get('epochs')}: " + ", ".join(parts) + tail, flush=True)


@dataclass
class TrainResult:
    """What :func:`train_classifier` returns: per-epoch history, timings and the best epoch."""

    history: dict
    epoch_minutes: list = field(default_factory=list)
    best_epoch: int = 0
    checkpoint: str | None = None
    batch_losses: list = field(default_factory=list)

    @property
    def train_minutes(self) -> float:
        return float(sum(self.epoch_minutes))

    @property
    def minutes_per_epoch(self) -> float:
        return self.train_minutes / max(len(self.epoch_minutes), 1)


# Counting an unknown-cardinality dataset is a full pass over it; past this many batches it is taken
# to repeat forever (the lessons' data sets have a few hundred batches at most).
MAX_COUNTED_BATCHES = 10_000


TRAIN_FIX = "pass steps_per_epoch=<batches per epoch>, or leave out the .repeat()"


def check_finite(dataset, name: str = "train_data", fix: str = TRAIN_FIX) -> int:
    """``dataset.cardinality()`` as an int (-2: unknown); ``ValueError`` ending with ``fix`` if the
    dataset repeats forever (``tf.data.INFINITE_CARDINALITY``, e.g. after ``.repeat()``)."""
    known = int(dataset.cardinality())
    if known == tf.data.INFINITE_CARDINALITY:
        raise ValueError(f"{name} repeats forever (infinite cardinality, e.g. after .repeat()), "
                         f"so one pass over it never ends: {fix}.")
    return known


def count_batches(dataset, name: str = "train_data") -> int:
    """Batches in one pass over ``dataset``: its cardinality when tf.data knows it, else counted
    (length bucketing makes it unknown; a pass over tokenized data takes a moment).

    Raises ``ValueError`` for a dataset that repeats forever, and for one of unknown cardinality
    that has not ended after :data:`MAX_COUNTED_BATCHES` batches (such as ``.repeat().filter(...)``).
    """
    known = check_finite(dataset, name)
    if known >= 0:
        return known
    counted = int(dataset.take(MAX_COUNTED_BATCHES + 1).reduce(np.int64(0), lambda count, _: count + 1))
    if counted > MAX_COUNTED_BATCHES:
        raise ValueError(
            f"{name} has unknown cardinality and had not ended after {MAX_COUNTED_BATCHES} batches: it probably repeats "
            f"forever. Pass steps_per_epoch=<batches per epoch>, or, if it really is that long, declare its size with "
            f"dataset.apply(tf.data.experimental.assert_cardinality(number_of_batches)).")
    return counted


def train_classifier(model, train_data, validation_data=None, *, epochs: int = 3, peak_lr: float = 5e-5,
                     warmup_ratio: float = 0.1, weight_decay: float = 0.01, steps_per_epoch: int | None = None,
                     monitor: str = "val_accuracy", patience: int = 2, checkpoint_dir: str | os.PathLike | None = None,
                     verbose: int | str = "compact", jit_compile: bool | None = None, compile: bool = True,
                     class_weight: dict | None = None, callbacks: Sequence = (),
                     restore_best: bool = True) -> TrainResult:
    """Fine-tune ``model`` with ``model.fit`` and keep the best weights.

    ``train_data`` and ``validation_data`` are batched ``tf.data`` datasets of (inputs, labels)
    (see :func:`bertlab.preprocessing.to_tf_dataset`). Each epoch is validated; EarlyStopping stops after
    ``patience`` epochs without improvement of ``monitor``; ModelCheckpoint writes the best weights
    to ``checkpoint_dir`` (a temporary folder if None), and they are loaded back at the end, so the
    model ends with the weights of its best epoch (``TrainResult.best_epoch``). ``train_data`` must
    end (or give ``steps_per_epoch``): ``ValueError`` otherwise, see :func:`count_batches`.
    ``callbacks`` are more Keras callbacks, run after the package's own.
    ``verbose="compact"`` prints one line per epoch; 0, 1, 2 are Keras' own modes.
    ``class_weight`` ({class: weight}) weights the loss per class, e.g. for rare spam.
    ``restore_best=False`` trains all ``epochs`` and keeps the last weights: no checkpoint, no
    early stopping, nothing chosen on validation (how seeds are compared in benchmarks/mrpc.py).
    A Keras 3 model or callback (from ``import keras``) raises :class:`bertlab.env.Keras3ObjectError`.
    """
    require_tf_keras(model, "the model")
    for i, callback in enumerate(callbacks):
        require_tf_keras(callback, f"callbacks[{i}]")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}.")
    batches_per_epoch = steps_per_epoch or count_batches(train_data)
    if validation_data is not None:  # Keras validates with a full pass: one that never ends would hang
        check_finite(validation_data, "validation_data", "validate on a finite dataset (no .repeat(), or .take(n))")
    if compile:
        if jit_compile is None:
            jit_compile = use_jit_compile(train_data)
        compile_classifier(model, peak_lr=peak_lr, total_steps=batches_per_epoch * epochs, warmup_ratio=warmup_ratio,
                           weight_decay=weight_decay, jit_compile=jit_compile)
    if validation_data is None and monitor.startswith("val_"):
        monitor = monitor.removeprefix("val_")
    mode = "min" if "loss" in monitor else "max"
    checkpoint, keep_best = None, []
    if restore_best:
        checkpoint_dir = Path(checkpoint_dir or tempfile.mkdtemp(prefix="bertlab-ckpt-"))
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = str(checkpoint_dir / "best.ckpt")
        keep_best = [
            tf.keras.callbacks.ModelCheckpoint(checkpoint, monitor=monitor, mode=mode, save_best_only=True, save_weights_only=True),
            # No restore_best_weights: the checkpoint above is the one place the best weights come back from.
            tf.keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience),
        ]
    timer, batches = EpochTimer(), BatchLosses()
    every_callback = [timer, batches, *keep_best, *callbacks]
    if verbose == "compact":
        every_callback.append(CompactProgress())
        verbose = 0
    fit = model.fit(train_data, validation_data=validation_data, epochs=epochs, steps_per_epoch=steps_per_epoch,
                    callbacks=every_callback, verbose=verbose, class_weight=class_weight)
    history = {k: [float(v) for v in values] for k, values in fit.history.items()}
    scores = history.get(monitor, [])
    best = int(np.argmin(scores) if mode == "min" else np.argmax(scores)) + 1 if scores else len(timer.seconds)
    if not restore_best:
        best = len(timer.seconds)
    elif Path(checkpoint + ".index").exists():
        model.load_weights(checkpoint)
    return TrainResult(history=history, epoch_minutes=[s / 60 for s in timer.seconds], best_epoch=best,
                       checkpoint=checkpoint, batch_losses=batches.losses)


# --------------------------------------------------------------------------- metrics
def classification_metrics(y_true, y_pred, *, positive_label=1) -> dict:
    """Accuracy, and precision, recall and F1 of the positive class, plus the confusion matrix
    (rows: true label, columns: predicted label, labels sorted), all from scikit-learn.

    ``y_true`` and ``y_pred`` are both class ids (``positive_label`` an id) or both strings
    (``positive_label`` one of them, e.g. ``'spam'``); a mix raises ``ValueError`` naming the fix."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError(f"y_true and y_pred must be 1-D and of the same non-zero length; got shapes {y_true.shape} and {y_pred.shape}.")
    kinds = {name: "strings" if values.dtype.kind in "US" or (values.dtype.kind == "O" and isinstance(values[0], str))
             else "class ids" for name, values in (("y_true", y_true), ("y_pred", y_pred))}
    if len(set(kinds.values())) > 1:  # e.g. load_sms_spam's 'ham'/'spam' against predict's 0/1
        raise ValueError(f"y_true holds {kinds['y_true']} but y_pred {kinds['y_pred']}: give both in one form, e.g. "
                         "class ids with bertlab.spam.spam_labels(df.label) for the SMS 'ham'/'spam' labels.")
    if kinds["y_true"] == "strings" and not isinstance(positive_label, str):
        raise ValueError(f"The labels are strings, so positive_label must be one of them (e.g. 'spam'), not {positive_label!r}.")
    if kinds["y_true"] == "class ids":  # scikit-learn cannot type ids held in an object array (a pandas column)
        y_true, y_pred = (values.astype(np.int64) if values.dtype.kind == "O" else values for values in (y_true, y_pred))
    labels = sorted(set(y_true.tolist()) | set(y_pred.tolist()) | {positive_label})
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=[positive_label], average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision[0]),
        "recall": float(recall[0]),
        "f1": float(f1[0]),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels),
    }


# --------------------------------------------------------------------------- prediction
@dataclass
class Predictions:
    labels: np.ndarray  # [n] predicted class ids
    probabilities: np.ndarray  # [n, num_labels]

    def __len__(self) -> int:
        return len(self.labels)


def logits_of(model, inputs, training: bool = False):
    """The logits of a Keras functional model or a transformers model (whose output has ``.logits``)."""
    require_tf_keras(model, "the model")
    outputs = model(inputs, training=training)
    return getattr(outputs, "logits", outputs)


def predict(model, texts, text_pair=None, *, tokenizer=None, batch_size: int = 32, max_length: int = 128) -> Predictions:
    """Class ids and probabilities for ``texts`` (or pairs ``texts[i]``, ``text_pair[i]``).

    ``model`` takes the tokenizer's ``input_ids``, ``attention_mask`` and ``token_type_ids`` (a
    Keras functional classifier such as :func:`build_functional_classifier`'s, or a transformers
    ``TFBertForSequenceClassification``). A single string (or a single pair of strings) is treated
    as a list of one. Inputs longer than ``max_length`` tokens are cut and a
    :class:`~bertlab.preprocessing.TruncationWarning` says how many.
    Errors: ``ValueError`` for ``max_length`` beyond the model's position embeddings (checked
    before anything runs) and for a text with no word pieces (nothing to classify);
    :class:`bertlab.env.Keras3ObjectError` for a Keras 3 model (from ``import keras``).
    """
    require_tf_keras(model, "the model")
    batch_size = check_batch_size(batch_size)
    if tokenizer is None:
        from bertlab.models import load_tokenizer

        tokenizer = load_tokenizer()
    encoding = encode_texts(texts, text_pair, tokenizer=tokenizer, max_length=max_length, blank=False,
                            limit=max_positions(model, tokenizer))
    encoding.truncation.warn(stacklevel=2)
    chunks = []
    for start in range(0, len(encoding), batch_size):
        rows = range(start, min(start + batch_size, len(encoding)))
        inputs = {name: tf.constant(array) for name, array in encoding.padded(rows).items()}
        chunks.append(tf.nn.softmax(tf.cast(logits_of(model, inputs), tf.float32), axis=-1).numpy())
    probabilities = np.concatenate(chunks)
    return Predictions(labels=probabilities.argmax(axis=-1), probabilities=probabilities)


def padding_speed(model, texts, text_pair=None, *, tokenizer=None, batch_size: int = 32, fixed_length: int = 128,
                  repeats: int = 3) -> dict:
    """Steady-state inference time of ``model`` with dynamic and with fixed padding, on the same batches.

    The pairs are batched as lesson 05 trains (``to_tf_dataset(..., bucket=True)``: grouped by length,
    each batch padded to its longest pair); the fixed arm is the same batches padded to ``fixed_length``,
    so the arms differ only in padding. Every batch of both arms runs once untimed first (graph tracing
    for each new shape is not what padding costs), then the arms are timed in turns, ``repeats`` times,
    alternating which goes first. Returns ``{"seconds": {arm: median seconds per pass}, "speedup": median
    of the per-repeat ratios fixed / dynamic, "speedup_min", "speedup_max", "probabilities": {arm: array
    in batch order, the same rows in both}, "pairs", "batches"}``, arms ``"fixed <fixed_length>"`` and
    ``"dynamic"``. (``benchmarks/padding.py`` measures training steps the same way.)"""
    from bertlab.preprocessing import to_tf_dataset

    require_tf_keras(model, "the model")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}.")
    dataset = to_tf_dataset(texts, text_pair, tokenizer=tokenizer, batch_size=batch_size, max_length=fixed_length,
                            bucket=True)
    fixed = f"fixed {fixed_length}"
    arms = {"dynamic": [dict(batch) for batch in dataset]}
    arms[fixed] = [{k: tf.pad(v, [[0, 0], [0, fixed_length - v.shape[1]]]) for k, v in batch.items()}
                   for batch in arms["dynamic"]]

    def one_pass(batches):
        return np.concatenate([np.asarray(model.predict_on_batch(batch), dtype=np.float32) for batch in batches])

    for batches in arms.values():  # untimed: trace every shape once
        one_pass(batches)
    seconds, ratios, logits = {fixed: [], "dynamic": []}, [], {}
    for repeat in range(repeats):
        order = [fixed, "dynamic"] if repeat % 2 == 0 else ["dynamic", fixed]
        for name in order:
            start = time.perf_counter()
            logits[name] = one_pass(arms[name])
            seconds[name].append(time.perf_counter() - start)
        ratios.append(seconds[fixed][-1] / seconds["dynamic"][-1])
    return {"seconds": {name: float(np.median(s)) for name, s in seconds.items()},
            "speedup": float(np.median(ratios)), "speedup_min": float(min(ratios)), "speedup_max": float(max(ratios)),
            "probabilities": {name: tf.nn.softmax(values, axis=-1).numpy() for name, values in logits.items()},
            "pairs": int(sum(len(b["input_ids"]) for b in arms["dynamic"])), "batches": len(arms["dynamic"])}

