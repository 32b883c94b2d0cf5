"""Graders for lesson 05 "Fine-tuning on MRPC": the learning-rate schedule, the classifier the
learner builds and compiles, predicting a pair.

All three run in seconds: the classifier is built by the learner's function over a tiny randomly
initialised TFBertModel and trained a few steps on a separable toy batch; the pair predictor is
graded with tiny randomly initialised BERT classifiers of the lesson's kind (``bertlab.finetuning.build_functional_classifier``, token ids
in, logits out), built here from seeded configurations, not with a fine-tuned model.
"""
from __future__ import annotations

import functools

import numpy as np

from bertlab.grading.core import GradingError, grader, wrong_answer

_RNG = np.random.default_rng(505)


# ---------------------------------------------------------------------------------------
# warmup_linear_decay(step, peak_lr, warmup_steps, total_steps) -> learning rate at step
# ---------------------------------------------------------------------------------------
SCHEDULES = [(5e-5, 34, 345), (1e-3, 0, 50), (2e-5, int(_RNG.integers(5, 30)), int(_RNG.integers(200, 400)))]


def _reference_schedule(step, peak_lr, warmup_steps, total_steps):
    if warmup_steps and step < warmup_steps:
        return peak_lr * step / warmup_steps
    return peak_lr * max(0.0, (total_steps - step) / max(total_steps - warmup_steps, 1))


@grader("warmup_linear_decay", points=2,
        uses=["bertlab.finetuning.warmup_linear_decay", "bertlab.finetuning.WarmupLinearDecay"])
def grade_warmup_linear_decay(learner_fn):
    """Every step of three schedules (one without warm-up), past the end too, within 1e-9 relative."""
    for peak, warmup, total in SCHEDULES:
        for step in range(0, total + 20):
            got = float(learner_fn(step, peak, warmup, total))
            want = _reference_schedule(step, peak, warmup, total)
            if np.isclose(got, want, rtol=1e-6, atol=peak * 1e-9):
                continue
            where = f"step {step} (peak_lr={peak}, warmup_steps={warmup}, total_steps={total})"
            if step < warmup:
                hint = "during warm-up the rate rises linearly from 0 at step 0 to peak_lr at step warmup_steps"
            elif step > total:
                hint = "after total_steps the rate stays at 0 (never negative)"
            elif warmup == 0 and step == 0:
                hint = "with warmup_steps=0 there is no warm-up: start at peak_lr (and avoid dividing by 0)"
            else:
                hint = ("after warm-up the rate decays linearly from peak_lr at step warmup_steps "
                        "to 0 at step total_steps")
            raise GradingError(f"{where}: got {got:.3g}, expected {want:.3g}; {hint}")


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


# ---------------------------------------------------------------------------------------
# build_classifier(encoder, num_labels, peak_lr, total_steps) -> a compiled Keras model
# ---------------------------------------------------------------------------------------
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


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
    """Token ids whose class is told by one token (id 5 + label), padded with ``padding`` extra positions."""
    n = len(labels)
    real = rng.integers(3, length - 1, size=n)
    ids = rng.integers(10, 40, size=(n, length + padding))
    mask = (np.arange(length + padding)[None, :] < real[:, None]).astype(np.int32)
    ids[:, 0] = 1  # a stand-in for [CLS]
    ids[np.arange(n), 1 + rng.integers(0, 2, size=n)] = 5 + np.asarray(labels)
    ids = np.where(mask == 1, ids, 0).astype(np.int32)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _model_inputs(model) -> dict:
    names = {}
    for tensor in model.inputs:
        names[tensor.name.split(":")[0]] = tensor.dtype
    return names


@grader("build_classifier", points=3, uses=["bertlab.finetuning.build_functional_classifier"])
def grade_build_classifier(learner_fn):
    """Inputs, logits of shape (batch, num_labels), a loss that matches logits, a trainable encoder, pooling that
    ignores padding, and a few training steps that lower the loss on a tiny separable batch."""
    import tensorflow as tf

    rng = np.random.default_rng(5050)
    for num_labels in (2, 3):
        encoder = _tiny_encoder(seed=num_labels)
        model = learner_fn(encoder, num_labels, 3e-3, 40)
        if not isinstance(model, tf.keras.Model):
            raise GradingError(f"return the Keras model, got {type(model).__name__}")
        inputs = _model_inputs(model)
        if set(inputs) != set(INPUT_NAMES):
            raise GradingError(f"the model's inputs must be named {', '.join(INPUT_NAMES)}; got {', '.join(sorted(inputs))}")
        wrong_type = [name for name, dtype in inputs.items() if dtype != tf.int32]
        if wrong_type:
            raise GradingError(f"token inputs are int32 (tf.keras.Input(..., dtype=tf.int32)); {wrong_type[0]} is "
                               f"{inputs[wrong_type[0]].name}")
        if getattr(model, "optimizer", None) is None or getattr(model, "loss", None) is None:
            raise GradingError("compile the model (model.compile(optimizer=..., loss=...)) before returning it")
        batch = _batch(rng, [0, 1, 1, 0, 1, 0], 10)
        logits = model(batch, training=False)
        logits = getattr(logits, "logits", logits)
        if tuple(logits.shape) != (6, num_labels):
            hint = " (one output unit per class, even for two classes)" if logits.shape[-1] == 1 else ""
            raise GradingError(f"for {num_labels} labels the output is (batch, num_labels) = (6, {num_labels}), "
                               f"got {tuple(logits.shape)}{hint}")
        values = tf.cast(logits, tf.float32).numpy()
        if np.all(values >= 0) and np.allclose(values.sum(axis=-1), 1.0, atol=1e-4):
            raise GradingError("the model outputs probabilities (a softmax): output logits (no activation on the last "
                               "Dense layer) and let the loss take from_logits=True")
        loss_fn = tf.keras.losses.get(model.loss) if isinstance(model.loss, str) else model.loss
        targets = np.arange(6) % num_labels
        want = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(targets, values).numpy()
        try:
            got = float(loss_fn(targets, values))
        except Exception as error:  # noqa: BLE001 - any failure here is the learner's loss choice
            raise GradingError(f"the loss cannot score integer labels against logits ({type(error).__name__}): use "
                               "SparseCategoricalCrossentropy(from_logits=True)") from None
        if not np.isclose(got, want, rtol=1e-3):
            raise GradingError("the loss does not match logits: use SparseCategoricalCrossentropy(from_logits=True)")
        trainable = {id(w) for w in model.trainable_weights}
        frozen = [w.name for w in encoder.trainable_weights if id(w) not in trainable] if encoder.trainable else ["all"]
        encoder_weights = {id(w) for w in encoder.weights}
        if not encoder.trainable or not any(id(w) in encoder_weights for w in model.trainable_weights) or len(frozen) > 4:
            raise GradingError("the encoder is frozen: fine-tuning trains the pretrained encoder too (leave it trainable)")
        padded = _batch(np.random.default_rng(7), [0, 1, 1, 0, 1, 0], 10, padding=6)
        short = {key: value[:, :10] for key, value in padded.items()}
        long_logits = tf.cast(getattr(model(padded, training=False), "logits", model(padded, training=False)), tf.float32)
        short_logits = tf.cast(getattr(model(short, training=False), "logits", model(short, training=False)), tf.float32)
        if not np.allclose(long_logits.numpy(), short_logits.numpy(), atol=1e-4):
            raise GradingError("more padding changed the logits: the pooling counts padding positions (weight the "
                               "mean by attention_mask, or take the [CLS] vector)")
    train = _batch(np.random.default_rng(11), [i % 2 for i in range(32)], 10)
    train_labels = np.array([i % 2 for i in range(32)])
    encoder = _tiny_encoder(seed=9)
    model = learner_fn(encoder, 2, 3e-3, 40)
    before = model.evaluate(train, train_labels, batch_size=32, verbose=0, return_dict=True)["loss"]
    model.fit(train, train_labels, batch_size=8, epochs=2, verbose=0, shuffle=False)
    after = model.evaluate(train, train_labels, batch_size=32, verbose=0, return_dict=True)["loss"]
    if not after < 0.8 * before:
        raise GradingError(f"8 training steps on an easy batch did not lower the loss ({before:.3f} -> {after:.3f}): "
                           "check the optimizer (ft.create_optimizer(peak_lr, total_steps)) and that the encoder trains")


def _reference_classifier(encoder, num_labels, peak_lr, total_steps, *, softmax=False, freeze=False,
                          pooling="mean", units=None):
    """The lesson's answer, with switches for the classic mistakes below."""
    import tensorflow as tf

    from bertlab.finetuning import create_optimizer

    encoder.trainable = not freeze
    encoder.bert.pooler.trainable = False  # unused by mean pooling: no "gradients do not exist" warnings
    inputs = {name: tf.keras.Input(shape=(None,), dtype=tf.int32, name=name) for name in INPUT_NAMES}
    hidden = encoder(**inputs).last_hidden_state
    if pooling == "mean":
        mask = tf.cast(inputs["attention_mask"], hidden.dtype)[:, :, None]
        pooled = tf.reduce_sum(hidden * mask, axis=1) / tf.reduce_sum(mask, axis=1)
    else:  # the plain mean over every position, padding included
        pooled = tf.reduce_mean(hidden, axis=1)
    pooled = tf.keras.layers.Dropout(0.1)(pooled)
    outputs = tf.keras.layers.Dense(units or num_labels, activation="softmax" if softmax else None)(pooled)
    model = tf.keras.Model(inputs, outputs)
    model.compile(optimizer=create_optimizer(peak_lr, total_steps),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
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


@wrong_answer("build_classifier", hint="one output unit per class")
def classifier_with_one_output_unit(encoder, num_labels, peak_lr, total_steps):
    return _reference_classifier(encoder, num_labels, peak_lr, total_steps, units=1)


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


MODELS = [(2, 11, "mean"), (3, 12, "pooled")]


@functools.lru_cache(maxsize=1)
def _pair_predictions():
    """Per model: (model, its weights, [(sentence1, sentence2, label, probabilities)]), computed
    before the learner's function ever holds the model."""
    tokenizer = _tokenizer()
    cases = []
    for num_labels, seed, pooling in MODELS:
        model = _tiny_classifier(num_labels, seed, pooling)
        expected = [(s1, s2, *_reference_pair(model, tokenizer, s1, s2)) for s1, s2 in PAIRS]
        cases.append((num_labels, model, [w.copy() for w in model.get_weights()], expected))
    return cases


def _weights_unchanged(model, weights) -> bool:
    """Whether the model still has `weights`; puts them back if not (the next check needs them)."""
    if all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights)):
        return True
    model.set_weights(weights)
    return False


@grader("predict_pair", points=2, prepare=_pair_predictions, uses=["bertlab.finetuning.predict"])
def grade_predict_pair(learner_fn):
    """The label and class probabilities of tiny seeded classifiers (2 and 3 labels) on four pairs."""
    tokenizer = _tokenizer()
    for num_labels, model, weights, expected in _pair_predictions():
        for sentence1, sentence2, want_label, want_probabilities in expected:
            got = learner_fn(model, tokenizer, sentence1, sentence2)
            if not _weights_unchanged(model, weights):
                raise GradingError("predict_pair changed the model's weights: predicting must leave the model as it is")
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise GradingError(f"return a pair (label, probabilities), got {type(got).__name__}")
            label, probabilities = got
            probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
            if probabilities.shape != (num_labels,):
                raise GradingError(f"probabilities should have one value per class, shape ({num_labels},), "
                                   f"got {probabilities.shape}")
            if not np.isclose(probabilities.sum(), 1.0, atol=1e-4) or probabilities.min() < 0:
                raise GradingError("the probabilities do not sum to 1: apply a softmax to the logits")
            if not np.allclose(probabilities, want_probabilities, atol=1e-4):
                raise GradingError(
                    "the probabilities differ from the model's: tokenize the two sentences as a pair, "
                    "tokenizer(sentence1, sentence2), in that order, and call model(dict(encoded), training=False)"
                )
            if int(label) != want_label:
                raise GradingError("the label is the index of the largest probability (argmax)")


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
