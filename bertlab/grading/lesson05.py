"""Graders for lesson 05 "Fine-tuning on MRPC": the learning-rate schedule, the classifier the
learner builds and compiles, predicting a pair.

All three run in seconds: the classifier is built by the learner's function over a tiny randomly
initialised TFBertModel and trained a few steps on a separable toy batch; the pair predictor is
graded with tiny randomly initialised BERT classifiers of the lesson's kind (``bertlab.finetuning.build_functional_classifier``, token ids
in, logits out), built here from seeded configurations, not with a fine-tuned model.
"""
from __future__ import annotations

import functools
import re

import numpy as np

from bertlab.bert_inputs import TRANSFORMERS_KEYS
from bertlab.grading.core import GradingError, LearnerError, built, grader, probe, right_answer, wrong_answer

_RNG = np.random.default_rng(505)


# ---------------------------------------------------------------------------------------
# warmup_linear_decay(step, peak_lr, warmup_steps, total_steps) -> learning rate at step
# ---------------------------------------------------------------------------------------
SCHEDULES = [  # (name, peak_lr, warmup_steps, total_steps): named edge cases, then a seeded one
    ("the lesson's: 10 % warm-up of 345 steps", 5e-5, 34, 345),
    ("no warm-up (warmup_steps=0)", 1e-3, 0, 50),
    ("warm-up over the whole run (warmup_steps=total_steps)", 3e-4, 20, 20),
    ("a one-step warm-up", 2e-5, 1, 7),
    ("a single step, no warm-up", 1e-4, 0, 1),
    ("odd sizes, a peak with more decimals", 3.7125e-5, 13, 101),
    ("seeded", 2e-5, int(_RNG.integers(5, 30)), int(_RNG.integers(200, 400))),
]
PAST_END = 20  # steps checked after total_steps


def _reference_schedule(step, peak_lr, warmup_steps, total_steps):
    if warmup_steps and step < warmup_steps:
        return peak_lr * step / warmup_steps
    return peak_lr * max(0.0, (total_steps - step) / max(total_steps - warmup_steps, 1))


def _allowed_rates(step, peak_lr, warmup_steps, total_steps) -> tuple[float, ...]:
    """The rates the exercise's text allows at `step`: one, except where warm-up ends at total_steps
    (warmup_steps=total_steps): that step is both the peak and the end, so peak_lr or 0."""
    if warmup_steps and step == warmup_steps == total_steps:
        return (peak_lr, 0.0)
    return (_reference_schedule(step, peak_lr, warmup_steps, total_steps),)


def _schedule_steps(warmup: int, total: int) -> list[int]:
    """Every step of the first 60 and around each corner (warm-up's end, total_steps), every 5th
    elsewhere, up to PAST_END steps after the end."""
    corners = {s + d for s in (warmup, total) for d in (-2, -1, 0, 1, 2)}
    steps = set(range(min(total, 60))) | set(range(0, total + PAST_END, 5)) | corners | {total + PAST_END - 1}
    return sorted(s for s in steps if 0 <= s < total + PAST_END)


@grader("warmup_linear_decay", points=2,
        uses=["bertlab.finetuning.warmup_linear_decay", "bertlab.finetuning.WarmupLinearDecay"])
def grade_warmup_linear_decay(learner_fn):
    """The named schedules (no warm-up, warm-up over the whole run, one step, odd sizes) at every step
    near their corners and every 5th elsewhere, up to 20 steps past the end, within 1e-6 relative."""
    for name, peak, warmup, total in SCHEDULES:
        for step in _schedule_steps(warmup, total):
            got = float(learner_fn(step, peak, warmup, total))
            allowed = _allowed_rates(step, peak, warmup, total)
            if any(np.isclose(got, want, rtol=1e-6, atol=peak * 1e-9) for want in allowed):
                continue
            want = " or ".join(f"{w:.7g}" for w in allowed)
            where = f"{name}: step {step} (peak_lr={peak}, warmup_steps={warmup}, total_steps={total})"
            if step < warmup:
                rule = "during warm-up the rate rises linearly from 0 at step 0 to peak_lr at step warmup_steps"
            elif step > total:
                rule = "after total_steps the rate stays at 0 (never negative)"
            elif warmup == 0 and step == 0:
                rule = "with warmup_steps=0 there is no warm-up: the rate starts at peak_lr"
            else:
                rule = "after warm-up the rate decays linearly from peak_lr at step warmup_steps to 0 at step total_steps"
            raise GradingError(f"{where}: got {got:.7g}, expected {want}; {rule}")


@wrong_answer("warmup_linear_decay", hint="warm-up")
def decay_without_warmup(step, peak_lr, warmup_steps, total_steps):
    return peak_lr * max(0.0, 1 - step / total_steps)


@wrong_answer("warmup_linear_decay", hint="decays linearly from peak_lr at step warmup_steps")
def decay_counted_from_step_zero(step, peak_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    return peak_lr * max(0.0, 1 - step / total_steps)


@wrong_answer("warmup_linear_decay", hint="never negative")
def decay_below_zero(step, peak_lr, warmup_steps, total_steps):
    if warmup_steps and step < warmup_steps:
        return peak_lr * step / warmup_steps
    return peak_lr * (total_steps - step) / (total_steps - warmup_steps)


@wrong_answer("warmup_linear_decay", hint="ZeroDivisionError")
def decay_dividing_by_total_minus_warmup(step, peak_lr, warmup_steps, total_steps):
    """Right wherever warm-up ends before total_steps; divides by zero where it ends at total_steps."""
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    return peak_lr * max(0.0, (total_steps - step) / (total_steps - warmup_steps))


@right_answer("warmup_linear_decay", why="np.interp over the schedule's corners, a NumPy float returned")
def schedule_by_interpolation(step, peak_lr, warmup_steps, total_steps):
    if warmup_steps == 0:
        return np.interp(step, [0, total_steps], [peak_lr, 0.0])
    return np.interp(step, [0, warmup_steps, total_steps], [0.0, peak_lr, 0.0])


@right_answer("warmup_linear_decay", why="min of the rise and the fall, clipped to [0, peak_lr]")
def schedule_as_min_of_rise_and_fall(step, peak_lr, warmup_steps, total_steps):
    rise = step / warmup_steps if warmup_steps else 1.0
    fall = (total_steps - step) / max(total_steps - warmup_steps, 1)
    return peak_lr * min(max(min(rise, fall), 0.0), 1.0)


# ---------------------------------------------------------------------------------------
# build_classifier(encoder, num_labels, peak_lr, total_steps) -> a compiled Keras model
# ---------------------------------------------------------------------------------------


def _tiny_encoder(seed: int):
    """A 1-layer, hidden-16 transformers TFBertModel with seeded random weights (a stand-in for the real encoder)."""
    import tensorflow as tf
    from transformers import BertConfig, TFBertModel

    tf.keras.utils.set_random_seed(seed)
    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    from bertlab.models import quiet_transformers

    with quiet_transformers():
        encoder = TFBertModel(config)
    encoder(encoder.dummy_inputs)
    return encoder


def _batch(rng, labels, length: int, padding: int = 0):
    """Token ids whose class every real token tells (class c draws its words from its own range of
    ids, and the first token, in [CLS]'s place, is 1 + c), padded with ``padding`` extra positions:
    [CLS] pooling, the pooler and mean pooling all learn it in 8 steps (loss x 0.05 to 0.35 on the
    tiny encoder, against the 0.8 required), where a class told by one token only was learnt by
    mean pooling alone."""
    n, labels = len(labels), np.asarray(labels)
    real = rng.integers(4, length + 1, size=n)
    words = 10 + 10 * labels[:, None] + rng.integers(0, 10, size=(n, length + padding))
    mask = (np.arange(length + padding)[None, :] < real[:, None]).astype(np.int32)
    words[:, 0] = 1 + labels  # the first token tells the class too: [CLS] pooling learns it as fast as the mean
    ids = np.where(mask == 1, words, 0).astype(np.int32)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _model_inputs(model) -> dict:
    names = {}
    for tensor in model.inputs:
        names[tensor.name.split(":")[0]] = tensor.dtype
    return names


def _learning_rate_at(optimizer, step: int) -> float:
    """The learning rate `optimizer` applies at `step`: a schedule's value there, or the constant."""
    import tensorflow as tf

    rate = getattr(optimizer, "_learning_rate", None)
    if rate is None:
        rate = getattr(optimizer, "_hyper", {}).get("learning_rate")
    if rate is None:
        rate = optimizer.learning_rate
    if isinstance(rate, tf.keras.optimizers.schedules.LearningRateSchedule):
        return float(rate(step))
    if callable(rate) and not isinstance(rate, tf.Variable):
        return float(rate())
    return float(tf.keras.backend.get_value(rate))


# (num_labels, peak_lr, total_steps) of the builds the grader checks; the first is also trained.
CLASSIFIER_BUILDS = [(2, 3e-3, 40), (3, 7e-4, 123)]


def _expected_rates(peak_lr: float, total_steps: int) -> dict[int, float]:
    """The course optimizer's rate (ft.create_optimizer: 10 % warm-up, then linear decay) at a few steps."""
    from bertlab.finetuning import WarmupLinearDecay

    warmup = int(round(0.1 * total_steps))
    schedule = WarmupLinearDecay(peak_lr, total_steps, warmup)
    steps = sorted({0, max(warmup // 2, 1), warmup, (warmup + total_steps) // 2, total_steps - 1, total_steps + 3})
    return {step: float(schedule(step)) for step in steps}


def _allowed_poolings(encoder, batch) -> dict[str, np.ndarray]:
    """The three poolings the exercise allows (the masked mean of last_hidden_state, the [CLS]
    vector, BERT's pooler_output) of `encoder` on `batch`, in inference mode."""
    out = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                  token_type_ids=batch["token_type_ids"], training=False)
    hidden = out.last_hidden_state.numpy().astype(np.float64)
    mask = batch["attention_mask"][:, :, None].astype(np.float64)
    return {"the masked mean": (hidden * mask).sum(axis=1) / mask.sum(axis=1), "the [CLS] vector": hidden[:, 0],
            "pooler_output": out.pooler_output.numpy()}


def _pooling_distances(given, allowed: dict) -> str | None:
    """None when `given` (what the model's Dense layer is given) is one of the `allowed` poolings
    (relative error 1e-4), else how far it is from each; None too when there is nothing to measure
    (the logits do not come straight from a Dense layer: `given` is None)."""
    if given is None:
        return None
    errors = {}
    for name, want in allowed.items():
        if given.shape != want.shape:
            errors[name] = f"its shape (it is {given.shape}, {name} {want.shape})"
            continue
        error = float(np.abs(given - want).max() / max(1.0, float(np.abs(want).max())))
        if error <= 1e-4:
            return None
        errors[name] = f"{error:.3g}"
    return ", ".join(f"from {name} by {error}" for name, error in errors.items())


def _logits(model, batch) -> np.ndarray:
    import tensorflow as tf

    out = model(batch, training=False)
    return tf.cast(getattr(out, "logits", out), tf.float32).numpy()


def _observe_classifier(model, encoder, batch, padded, second_segment, targets, steps) -> dict:
    """A probe (core.probe): what build_classifier's grader measures of the model the learner's
    function returned, run where the model is (the learner process when a notebook is scored).
    Observations only: the grader compares them. Stops at the first thing it cannot measure."""
    import tensorflow as tf

    seen: dict = {"is_model": isinstance(model, tf.keras.Model), "type": type(model).__name__}
    if not seen["is_model"]:
        return seen
    inputs = _model_inputs(model)
    seen["inputs"] = {name: dtype.name for name, dtype in inputs.items()}
    seen["compiled"] = getattr(model, "optimizer", None) is not None and getattr(model, "loss", None) is not None
    if set(inputs) != set(TRANSFORMERS_KEYS) or any(dtype != tf.int32 for dtype in inputs.values()) or not seen["compiled"]:
        return seen
    values = _logits(model, batch)
    seen["logits"] = values
    try:
        loss_fn = tf.keras.losses.get(model.loss) if isinstance(model.loss, str) else model.loss
        seen["loss"] = float(loss_fn(targets, values))
    except Exception as error:  # noqa: BLE001 - the learner's loss choice
        seen["loss_error"] = type(error).__name__
    seen["dropout_rates"] = [float(layer.rate) for layer in model.layers if isinstance(layer, tf.keras.layers.Dropout)]
    trainable = {id(w) for w in model.trainable_weights}
    encoder_weights = {id(w) for w in encoder.weights}
    seen["encoder_trainable"] = bool(encoder.trainable)
    seen["frozen"] = len([w for w in encoder.trainable_weights if id(w) not in trainable]) if encoder.trainable else None
    seen["encoder_weights"] = len(encoder.weights)
    seen["trains_encoder"] = any(id(w) in encoder_weights for w in model.trainable_weights)
    short = {key: value[:, :10] for key, value in padded.items()}
    seen["padding_change"] = float(np.abs(_logits(model, padded) - _logits(model, short)).max())
    seen["segment_change"] = float(np.abs(_logits(model, second_segment) - values).max())
    history = getattr(model.outputs[0], "_keras_history", None)
    dense = getattr(history, "layer", None)
    seen["dense_input"] = (tf.keras.Model(model.inputs, dense.input)(padded, training=False).numpy()
                           if isinstance(dense, tf.keras.layers.Dense) else None)
    rates = {}
    for step in steps:
        try:
            rates[step] = _learning_rate_at(model.optimizer, step)
        except Exception as error:  # noqa: BLE001 - the learner's optimizer or schedule
            rates[step] = type(error).__name__
    seen["rates"] = rates
    return seen


def _observe_training(model, train, train_labels) -> dict:
    """A probe (core.probe): model.evaluate's scores, the accuracy of its logits, then the loss
    after 8 training steps (batches of 8) on `train`."""
    scores = model.evaluate(train, train_labels, batch_size=32, verbose=0, return_dict=True)
    accuracy = float(np.mean(np.argmax(_logits(model, train), axis=-1) == train_labels))
    model.fit(train, train_labels, batch_size=8, epochs=2, verbose=0, shuffle=False)
    after = model.evaluate(train, train_labels, batch_size=32, verbose=0, return_dict=True)["loss"]
    return {"scores": {str(k): float(v) for k, v in scores.items()}, "accuracy": accuracy, "after": float(after)}


@grader("build_classifier", points=3, uses=["bertlab.finetuning.build_functional_classifier"])
def grade_build_classifier(learner_fn):
    """Two builds (2 labels, peak 3e-3 over 40 steps; 3 labels, 7e-4 over 123): inputs, logits of shape
    (batch, num_labels), a loss that matches logits, a trainable encoder, pooling that ignores padding,
    logits that depend on token_type_ids, the Dense layer's input (the masked mean, the [CLS] vector
    or pooler_output, not a sum), the optimizer's learning rate at six steps (the course's warm-up
    and linear decay for that peak_lr and total_steps); then an accuracy metric in model.evaluate
    and 8 training steps of the first on a batch every allowed pooling ([CLS], pooler, masked mean)
    can learn lower its loss. The model is measured by probes (_observe_classifier, _observe_training:
    where the model is) and judged here."""
    import tensorflow as tf

    rng = np.random.default_rng(5050)
    trained = None
    for num_labels, peak_lr, total_steps in CLASSIFIER_BUILDS:
        encoder = built(_tiny_encoder, seed=num_labels)
        model = _calling(learner_fn, encoder, num_labels, peak_lr, total_steps)
        batch = _batch(rng, [0, 1, 1, 0, 1, 0], 10)
        padded = _batch(np.random.default_rng(7), [0, 1, 1, 0, 1, 0], 10, padding=6)
        second_segment = dict(batch, token_type_ids=(np.arange(10)[None, :] >= 5).astype(np.int32) * batch["attention_mask"])
        targets = np.arange(6) % num_labels
        expected_rates = _expected_rates(peak_lr, total_steps)
        seen = probe(_observe_classifier, model, encoder, batch, padded, second_segment, targets, list(expected_rates))
        if not seen["is_model"]:
            raise GradingError(f"return the Keras model, got {seen['type']}")
        inputs = seen["inputs"]
        if set(inputs) != set(TRANSFORMERS_KEYS):
            raise GradingError(f"the model's inputs must be named {', '.join(TRANSFORMERS_KEYS)}; got {', '.join(sorted(inputs))}")
        wrong_type = [name for name, dtype in inputs.items() if dtype != "int32"]
        if wrong_type:
            raise GradingError(f"token inputs are int32 (tf.keras.Input(..., dtype=tf.int32)); {wrong_type[0]} is "
                               f"{inputs[wrong_type[0]]}")
        if not seen["compiled"]:
            raise GradingError("compile the model (model.compile(optimizer=..., loss=...)) before returning it")
        values = np.asarray(seen["logits"], dtype=np.float32)
        if values.shape != (6, num_labels):
            hint = " (one output unit per class, even for two classes)" if values.shape[-1] == 1 else ""
            raise GradingError(f"for {num_labels} labels the output is (batch, num_labels) = (6, {num_labels}), "
                               f"got {values.shape}{hint}")
        if np.all(values >= 0) and np.allclose(values.sum(axis=-1), 1.0, atol=1e-4):
            raise GradingError("the model outputs probabilities (a softmax): output logits (no activation on the last "
                               "Dense layer) and let the loss take from_logits=True")
        want = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(targets, values).numpy()
        if "loss_error" in seen or seen.get("loss") is None:
            raise GradingError(f"the loss cannot score integer labels against logits ({seen.get('loss_error')}): use "
                               "SparseCategoricalCrossentropy(from_logits=True)")
        got = float(seen["loss"])
        if not np.isclose(got, want, rtol=1e-3):
            raise GradingError(f"the loss does not match logits: model.loss gives {got:.4f} on the model's logits, "
                               f"SparseCategoricalCrossentropy(from_logits=True) gives {want:.4f}")
        rates = seen["dropout_rates"]
        if not any(np.isclose(rate, 0.1) for rate in rates):
            raise GradingError(f"the model's own Dropout layers have rates {rates}, expected a "
                               "tf.keras.layers.Dropout(0.1) between the pooling and the Dense layer")
        frozen = seen["frozen"]
        if not seen["encoder_trainable"] or not seen["trains_encoder"] or (frozen or 0) > 4:
            raise GradingError(f"the encoder is frozen: {frozen if frozen is not None else 'all'} of its "
                               f"{seen['encoder_weights']} weights are not among the model's trainable weights; fine-tuning "
                               "trains the pretrained encoder too (leave it trainable)")
        change = float(seen["padding_change"])
        if change > 1e-4:
            raise GradingError(f"6 more padding positions changed the logits by up to {change:.2g}: the pooling counts "
                               "padding positions (weight the mean by attention_mask, or take the [CLS] vector)")
        change = float(seen["segment_change"])
        if change < 1e-6:
            raise GradingError(f"token_type_ids 1 on the second half of each pair changed the logits by {change:.2g}: "
                               "pass token_type_ids to the encoder (encoder(input_ids=..., attention_mask=..., "
                               "token_type_ids=...))")
        given = seen["dense_input"]
        distances = _pooling_distances(None if given is None else np.asarray(given, np.float64),
                                       _allowed_poolings(encoder, padded))
        if distances:
            raise GradingError(f"the vector the Dense layer is given (in inference mode, on a padded batch) differs {distances} "
                               "(relative to the largest value): pool with the mean over the tokens where attention_mask "
                               "is 1 (a sum divided by their count), or take the [CLS] vector")
        for step, want in expected_rates.items():
            got = seen["rates"].get(step)
            if isinstance(got, str) or got is None:
                raise GradingError(f"cannot read the optimizer's learning rate at step {step} "
                                   f"({got}): use ft.create_optimizer(peak_lr, total_steps)")
            if not np.isclose(got, want, rtol=1e-4, atol=peak_lr * 1e-6):
                raise GradingError(f"with peak_lr={peak_lr:g}, total_steps={total_steps}: model.optimizer's learning "
                                   f"rate at step {step} is {got:.4g}, expected {want:.4g} (ft.create_optimizer(peak_lr, "
                                   "total_steps): 10 % warm-up, then linear decay to 0)")
        trained = trained or model
    train_labels = np.array([i % 2 for i in range(32)])
    train = _batch(np.random.default_rng(11), train_labels, 10)
    seen = probe(_observe_training, trained, train, train_labels)
    scores, accuracy = seen["scores"], seen["accuracy"]
    reported = {name: value for name, value in scores.items() if name != "loss"}
    if not any(np.isclose(value, accuracy, atol=1e-6) for value in reported.values()):
        raise GradingError(f"model.evaluate reports {', '.join(sorted(scores))}, and no accuracy (the batch's accuracy "
                           f"is {accuracy:.3f}): compile with metrics=[\"accuracy\"]")
    before, after = scores["loss"], seen["after"]
    if not after < 0.8 * before:
        raise GradingError(f"8 training steps (batches of 8) on a batch whose every token tells its class: the loss went "
                           f"{before:.3f} -> {after:.3f}, expected below {0.8 * before:.3f}")


def _reference_classifier(encoder, num_labels, peak_lr, total_steps, *, softmax=False, freeze=False,
                          pooling="mean", units=None, optimizer=None, token_types=True, dropout=0.1,
                          metrics=("accuracy",), freeze_pooler=True):
    """The lesson's answer, with switches for the classic mistakes below."""
    import tensorflow as tf

    from bertlab.finetuning import create_optimizer

    encoder.trainable = not freeze
    encoder.bert.pooler.trainable = pooling == "pooler" or not freeze_pooler  # unused otherwise: no "no gradient" warnings
    inputs = {name: tf.keras.Input(shape=(None,), dtype=tf.int32, name=name) for name in TRANSFORMERS_KEYS}
    given = inputs if token_types else {k: v for k, v in inputs.items() if k != "token_type_ids"}
    out = encoder(**given)
    hidden = out.last_hidden_state
    if pooling == "cls":
        pooled = hidden[:, 0]
    elif pooling == "pooler":
        pooled = out.pooler_output
    elif pooling == "mean":
        mask = tf.cast(inputs["attention_mask"], hidden.dtype)[:, :, None]
        pooled = tf.reduce_sum(hidden * mask, axis=1) / tf.reduce_sum(mask, axis=1)
    elif pooling == "sum":  # ignores padding too, but is not the mean
        mask = tf.cast(inputs["attention_mask"], hidden.dtype)[:, :, None]
        pooled = tf.reduce_sum(hidden * mask, axis=1)
    else:  # the plain mean over every position, padding included
        pooled = tf.reduce_mean(hidden, axis=1)
    pooled = tf.keras.layers.Dropout(dropout)(pooled) if dropout else pooled
    outputs = tf.keras.layers.Dense(units or num_labels, activation="softmax" if softmax else None)(pooled)
    model = tf.keras.Model(inputs, outputs)
    model.compile(optimizer=optimizer or create_optimizer(peak_lr, total_steps),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=list(metrics))
    return model


@wrong_answer("build_classifier", hint="outputs probabilities")
def classifier_with_softmax_output(encoder, num_labels, peak_lr, total_steps):
    return _reference_classifier(encoder, num_labels, peak_lr, total_steps, softmax=True)


@wrong_answer("build_classifier", hint="encoder is frozen")
def classifier_with_frozen_encoder(encoder, num_labels, peak_lr, total_steps):
    return _reference_classifier(encoder, num_labels, peak_lr, total_steps, freeze=True)


@wrong_answer("build_classifier", hint="counts padding")
def classifier_averaging_padding(encoder, num_labels, peak_lr, total_steps):
    return _reference_classifier(encoder, num_labels, peak_lr, total_steps, pooling="all")


@wrong_answer("build_classifier", hint="dtype=tf.int32")
def classifier_with_float_inputs(encoder, num_labels, peak_lr, total_steps):
    """tf.keras.Input without dtype: float32 ids, which the encoder's embedding lookup refuses while the model is built."""
    import tensorflow as tf

    from bertlab.finetuning import create_optimizer

    inputs = {name: tf.keras.Input(shape=(None,), name=name) for name in TRANSFORMERS_KEYS}
    hidden = encoder(**inputs).last_hidden_state
    logits = tf.keras.layers.Dense(num_labels)(tf.keras.layers.Dropout(0.1)(hidden[:, 0]))
    model = tf.keras.Model(inputs, logits)
    model.compile(optimizer=create_optimizer(peak_lr, total_steps),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


@wrong_answer("build_classifier", hint="one output unit per class")
def classifier_with_one_output_unit(encoder, num_labels, peak_lr, total_steps):
    return _reference_classifier(encoder, num_labels, peak_lr, total_steps, units=1)


@wrong_answer("build_classifier", hint="learning rate at step 0 is 0.001, expected 0")
def classifier_with_a_fixed_adam(encoder, num_labels, peak_lr, total_steps):
    """Adam(1e-3), no schedule: it trains the easy batch, whatever peak_lr and total_steps say."""
    import tensorflow as tf

    return _reference_classifier(encoder, num_labels, peak_lr, total_steps, optimizer=tf.keras.optimizers.Adam(1e-3))


@wrong_answer("build_classifier", hint="pass token_type_ids to the encoder")
def classifier_dropping_token_type_ids(encoder, num_labels, peak_lr, total_steps):
    """Declares the token_type_ids input (the names check passes) and never gives it to the encoder."""
    return _reference_classifier(encoder, num_labels, peak_lr, total_steps, token_types=False)


@wrong_answer("build_classifier", hint="Dropout layers have rates []")
def classifier_without_dropout(encoder, num_labels, peak_lr, total_steps):
    return _reference_classifier(encoder, num_labels, peak_lr, total_steps, dropout=0)


@wrong_answer("build_classifier", hint="differs from the masked mean by")
def classifier_with_sum_pooling(encoder, num_labels, peak_lr, total_steps):
    """The masked sum: padding-free (the padding check passes) and trainable, but not the mean the text asks for."""
    return _reference_classifier(encoder, num_labels, peak_lr, total_steps, pooling="sum")


@wrong_answer("build_classifier", hint="and no accuracy")
def classifier_without_metrics(encoder, num_labels, peak_lr, total_steps):
    """Compiled without metrics=["accuracy"], which step 5 of the exercise asks for."""
    return _reference_classifier(encoder, num_labels, peak_lr, total_steps, metrics=())


@right_answer("build_classifier", why="[CLS] pooling: last_hidden_state[:, 0]")
def classifier_with_cls_pooling(encoder, num_labels, peak_lr, total_steps):
    return _reference_classifier(encoder, num_labels, peak_lr, total_steps, pooling="cls")


@right_answer("build_classifier", why="mean pooling with the unused pooler left trainable: the same logits and "
              "training (its weights get no gradient; Keras only warns)")
def classifier_with_mean_pooling_and_a_trainable_pooler(encoder, num_labels, peak_lr, total_steps):
    return _reference_classifier(encoder, num_labels, peak_lr, total_steps, freeze_pooler=False)


@right_answer("build_classifier", why="BERT's pooler: pooler_output (the dense layer over [CLS])")
def classifier_with_the_pooler(encoder, num_labels, peak_lr, total_steps):
    return _reference_classifier(encoder, num_labels, peak_lr, total_steps, pooling="pooler")


# ---------------------------------------------------------------------------------------
# predict_pair(model, tokenizer, sentence1, sentence2) -> (label, probabilities)
# ---------------------------------------------------------------------------------------
PAIRS = [
    ("This research was consistent with his findings.", "His findings were compatible with this research."),
    ("The cat sat on the mat.", "A dog slept in the garden all afternoon, as it always did."),
    ("Shares rose 3 percent on Tuesday.", "On Tuesday, the stock gained 3 percent."),
    ("He said the plan would fail.", "He said the plan would fail."),
]


@functools.lru_cache(maxsize=None)
def _tiny_classifier(num_labels: int, seed: int, pooling: str):
    """A 1-layer, hidden-16 BERT classifier (the lesson's functional model: token ids in, logits
    out) with large random weights, so that the order of the sentences, the segment ids and the
    [SEP] tokens all change its output. Dropout is high, so training=True shows too."""
    import tensorflow as tf
    from transformers import BertConfig, TFBertModel

    from bertlab.finetuning import build_functional_classifier

    tf.keras.utils.set_random_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128, initializer_range=0.6,
                        hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
    from bertlab.models import quiet_transformers

    with quiet_transformers():
        encoder = TFBertModel(config)
    return build_functional_classifier(num_labels=num_labels, pooling=pooling, encoder=encoder, dropout=0.3)


@functools.lru_cache(maxsize=None)
def _tokenizer():
    from bertlab.models import load_tokenizer

    return load_tokenizer("minilm-l6")


def _reference_pair(model, tokenizer, sentence1, sentence2):
    import tensorflow as tf

    encoded = tokenizer(sentence1, sentence2, return_tensors="tf")
    probabilities = tf.nn.softmax(model(dict(encoded), training=False), axis=-1).numpy()[0]
    return int(probabilities.argmax()), probabilities


def _shift_ids(ids):
    """Every ordinary word-piece id (>= 999 in bert-base-uncased) moved up by one, in the container it came in."""
    import tensorflow as tf

    if isinstance(ids, tf.Tensor):
        return tf.where(ids >= 999, ids + 1, ids)
    if isinstance(ids, np.ndarray):
        return np.where(ids >= 999, ids + 1, ids)
    if isinstance(ids, (list, tuple)):
        return type(ids)(_shift_ids(i) for i in ids)
    return ids + 1 if isinstance(ids, (int, np.integer)) and ids >= 999 else ids


class ShiftedTokenizer:
    """Another tokenizer than the lesson's: the real one with every ordinary id moved up by one, and
    a count of its calls. predict_pair must use the tokenizer it is given, so its answers for this
    one differ from the default's."""

    def __init__(self, tokenizer):
        self._tokenizer, self.calls = tokenizer, 0

    def _encoded(self, encoded):
        self.calls += 1
        if isinstance(encoded, (list, tuple)):  # encode(): a list of ids
            return _shift_ids(encoded)
        encoded["input_ids"] = _shift_ids(encoded["input_ids"])
        return encoded

    def __call__(self, *args, **kwargs):
        return self._encoded(self._tokenizer(*args, **kwargs))

    def encode_plus(self, *args, **kwargs):
        return self._encoded(self._tokenizer.encode_plus(*args, **kwargs))

    def batch_encode_plus(self, *args, **kwargs):
        return self._encoded(self._tokenizer.batch_encode_plus(*args, **kwargs))

    def encode(self, *args, **kwargs):
        return self._encoded(self._tokenizer.encode(*args, **kwargs))

    def __getattr__(self, name):  # vocabulary, special tokens, ...: the real tokenizer's
        return getattr(self._tokenizer, name)


MODELS = [(2, 11, "mean"), (3, 12, "pooled")]


@functools.lru_cache(maxsize=1)
def _pair_predictions():
    """Per model: (model, its weights, [(sentence1, sentence2, label, probabilities)]), computed
    before the learner's function ever holds the model."""
    tokenizer = _tokenizer()
    cases = []
    for num_labels, seed, pooling in MODELS:
        model = built(_tiny_classifier, num_labels, seed, pooling)  # built again in a sealed learner process
        expected = [(s1, s2, *_reference_pair(model, tokenizer, s1, s2)) for s1, s2 in PAIRS]
        cases.append((num_labels, model, [w.copy() for w in model.get_weights()], expected))
    return cases


@functools.lru_cache(maxsize=1)
def _shifted_pair_predictions():
    """[(sentence1, sentence2, label, probabilities)] of the first model with the ShiftedTokenizer."""
    _, model, _, _ = _pair_predictions()[0]
    shifted = ShiftedTokenizer(_tokenizer())
    return [(s1, s2, *_reference_pair(model, shifted, s1, s2)) for s1, s2 in PAIRS]


def _prepare_pairs():
    return _pair_predictions(), _shifted_pair_predictions()


def _calls(tokenizer) -> int:
    """A probe (core.probe): how many times a ShiftedTokenizer was called."""
    return int(tokenizer.calls)


def _weights_unchanged(model, weights) -> bool:
    """Whether the model still has `weights`; puts them back if not (the next check needs them).
    A probe (core.probe): it runs where the model is."""
    if all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights)):
        return True
    model.set_weights(weights)
    return False


def _check_prediction(got, num_labels, want_label, want_probabilities, where: str):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise GradingError(f"return a pair (label, probabilities), got {type(got).__name__}")
    label, probabilities = got
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if probabilities.shape != (num_labels,):
        raise GradingError(f"probabilities should have one value per class, shape ({num_labels},), "
                           f"got {probabilities.shape}")
    if not np.isclose(probabilities.sum(), 1.0, atol=1e-4) or probabilities.min() < 0:
        raise GradingError(f"the probabilities sum to {probabilities.sum():.4f}, not 1: apply a softmax to the logits")
    if not np.allclose(probabilities, want_probabilities, atol=1e-4):
        raise GradingError(
            f"{where}: probabilities {np.round(probabilities, 4).tolist()}, expected "
            f"{np.round(np.asarray(want_probabilities, np.float64), 4).tolist()}: tokenize the two sentences as a pair, "
            "tokenizer(sentence1, sentence2), in that order, and call model(dict(encoded), training=False)"
        )
    if int(label) != want_label:
        raise GradingError(f"{where}: label {int(label)} for probabilities {np.round(probabilities, 4).tolist()}: the "
                           "label is the index of the largest probability (argmax)")


# Keras' and transformers' messages for a learner's common slips: cut to one line they name a layer
# and a count or a dtype, not the slip behind them.
_INPUT_COUNT = re.compile(r"expects (\d+) input\(s\), but it received (\d+) input tensors")
_FLOAT_IDS = re.compile(r"parameter 'indices' has DataType (float\d+) not in list of allowed values")


def _calling(learner_fn, *args):
    """``learner_fn(*args)``, with a known Keras error turned into what it measured and means."""
    try:
        return learner_fn(*args)
    except LearnerError as error:
        message = str(error.error)
        if found := _INPUT_COUNT.search(message):
            expected, received = map(int, found.groups())
            if received > expected:
                cause = ("a tokenizer called without return_tensors gives Python lists, and Keras takes every token id in "
                         "them for an input of its own: call tokenizer(sentence1, sentence2, return_tensors=\"tf\")")
            else:
                cause = "give it all three, input_ids, attention_mask and token_type_ids: model(dict(encoded), training=False)"
            raise GradingError(f"the model takes {expected} inputs but was given {received} tensor{'s' * (received != 1)}: "
                               f"{cause}") from None
        if found := _FLOAT_IDS.search(message):
            raise GradingError(f"the encoder's embedding lookup got {found.group(1)} token ids: tf.keras.Input is float32 "
                               "unless told otherwise, and ids must be integers: "
                               "tf.keras.Input(shape=(None,), dtype=tf.int32, name=...)") from None
        raise


@grader("predict_pair", points=2, prepare=_prepare_pairs, uses=["bertlab.finetuning.predict"])
def grade_predict_pair(learner_fn):
    """The label and class probabilities of tiny seeded classifiers (2 and 3 labels) on four pairs, with
    the lesson's tokenizer and with another one (ShiftedTokenizer: other ids, calls counted)."""
    tokenizer = built(_tokenizer)
    for num_labels, model, weights, expected in _pair_predictions():
        for sentence1, sentence2, want_label, want_probabilities in expected:
            got = _calling(learner_fn, model, tokenizer, sentence1, sentence2)
            if not probe(_weights_unchanged, model, weights):
                raise GradingError("predict_pair changed the model's weights: predicting must leave the model as it is")
            _check_prediction(got, num_labels, want_label, want_probabilities, f"({sentence1!r}, {sentence2!r})")
    num_labels, model, weights, _ = _pair_predictions()[0]
    for sentence1, sentence2, want_label, want_probabilities in _shifted_pair_predictions():
        shifted = built(ShiftedTokenizer, tokenizer)
        got = _calling(learner_fn, model, shifted, sentence1, sentence2)
        if not probe(_weights_unchanged, model, weights):
            raise GradingError("predict_pair changed the model's weights: predicting must leave the model as it is")
        if probe(_calls, shifted) == 0:
            raise GradingError("given another tokenizer (ids shifted by one), predict_pair called it 0 times: "
                               "tokenize with the tokenizer argument")
        _check_prediction(got, num_labels, want_label, want_probabilities,
                          f"another tokenizer (ids shifted by one), ({sentence1!r}, {sentence2!r})")


@wrong_answer("predict_pair", hint="softmax")
def predict_pair_logits(model, tokenizer, sentence1, sentence2):
    encoded = tokenizer(sentence1, sentence2, return_tensors="tf")
    logits = model(dict(encoded), training=False).numpy()[0]
    return int(logits.argmax()), logits


@wrong_answer("predict_pair", hint="as a pair")
def predict_pair_joined_string(model, tokenizer, sentence1, sentence2):
    import tensorflow as tf

    encoded = tokenizer(sentence1 + " " + sentence2, return_tensors="tf")
    probabilities = tf.nn.softmax(model(dict(encoded), training=False), axis=-1).numpy()[0]
    return int(probabilities.argmax()), probabilities


@wrong_answer("predict_pair", hint="as a pair")
def predict_pair_with_dropout(model, tokenizer, sentence1, sentence2):
    import tensorflow as tf

    encoded = tokenizer(sentence1, sentence2, return_tensors="tf")
    probabilities = tf.nn.softmax(model(dict(encoded), training=True), axis=-1).numpy()[0]
    return int(probabilities.argmax()), probabilities


@wrong_answer("predict_pair", hint='return_tensors="tf"')
def predict_pair_with_python_lists(model, tokenizer, sentence1, sentence2):
    """Calls the tokenizer without return_tensors: the model gets lists of ints (Keras: "received 57 input tensors")."""
    import tensorflow as tf

    encoded = tokenizer(sentence1, sentence2)
    probabilities = tf.nn.softmax(model(dict(encoded), training=False), axis=-1).numpy()[0]
    return int(probabilities.argmax()), probabilities


@wrong_answer("predict_pair", hint="give it all three")
def predict_pair_with_input_ids_only(model, tokenizer, sentence1, sentence2):
    import tensorflow as tf

    encoded = tokenizer(sentence1, sentence2, return_tensors="tf")
    probabilities = tf.nn.softmax(model(encoded["input_ids"], training=False), axis=-1).numpy()[0]
    return int(probabilities.argmax()), probabilities


@wrong_answer("predict_pair", hint="called it 0 times")
def predict_pair_with_its_own_tokenizer(model, tokenizer, sentence1, sentence2):
    """Loads the lesson's tokenizer itself instead of using the one it is given."""
    import tensorflow as tf

    encoded = _tokenizer()(sentence1, sentence2, return_tensors="tf")
    probabilities = tf.nn.softmax(model(dict(encoded), training=False), axis=-1).numpy()[0]
    return int(probabilities.argmax()), probabilities


@right_answer("predict_pair", why="NumPy tensors, keyword arguments text= and text_pair=, model.predict, a list returned")
def predict_pair_with_numpy_and_predict(model, tokenizer, sentence1, sentence2):
    encoded = tokenizer(text=sentence1, text_pair=sentence2, return_tensors="np")
    logits = model.predict(dict(encoded), verbose=0)[0].astype(np.float64)
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    return np.int64(probabilities.argmax()), probabilities.tolist()


@right_answer("predict_pair", why="encode_plus, a tf tensor of probabilities, the model called without training=")
def predict_pair_with_encode_plus(model, tokenizer, sentence1, sentence2):
    import tensorflow as tf

    encoded = tokenizer.encode_plus(sentence1, sentence2, return_tensors="tf")
    probabilities = tf.nn.softmax(model({name: encoded[name] for name in TRANSFORMERS_KEYS}), axis=-1)[0]
    return tf.argmax(probabilities), probabilities
