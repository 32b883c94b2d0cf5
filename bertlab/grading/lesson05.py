"""Graders for lesson 05 "Fine-tuning on MRPC": metrics, the learning-rate schedule, predicting a pair.

All three run in seconds: the pair predictor is graded with tiny randomly initialised BERT
classifiers of the lesson's kind (``bertlab.finetuning.build_functional_classifier``, token ids
in, logits out), built here from seeded configurations, not with a fine-tuned model.
"""
from __future__ import annotations

import functools

import numpy as np

from bertlab.grading.core import GradingError, grader, wrong_answer

_RNG = np.random.default_rng(505)


# ---------------------------------------------------------------------------------------
# accuracy_and_f1(y_true, y_pred) -> (accuracy, f1 of the positive class 1)
# ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _metric_cases():
    """(y_true, y_pred, expected accuracy, expected F1) per case."""
    rng = np.random.default_rng(2026)
    cases = []
    for n, p_true, flip in [(40, 0.7, 0.2), (123, 0.3, 0.35), (17, 0.5, 0.1), (64, 0.68, 0.5)]:
        y_true = (rng.random(n) < p_true).astype(int)
        y_pred = np.where(rng.random(n) < flip, 1 - y_true, y_true)
        cases.append((y_true, y_pred))
    cases.append((np.array([1, 0, 1, 1]), np.array([0, 0, 0, 0])))  # never predicts the positive class
    return [(y_true, y_pred, *_reference_metrics(y_true, y_pred)) for y_true, y_pred in cases]


def _reference_metrics(y_true, y_pred):
    from sklearn.metrics import accuracy_score, f1_score

    return accuracy_score(y_true, y_pred), f1_score(y_true, y_pred, pos_label=1, zero_division=0)


@grader("accuracy_and_f1", points=2, prepare=_metric_cases)
def grade_accuracy_and_f1(learner_fn):
    """(accuracy, F1 of class 1) on seeded label vectors of varied length and balance."""
    for y_true, y_pred, want_accuracy, want_f1 in _metric_cases():
        got = learner_fn(y_true.copy(), y_pred.copy())
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise GradingError(f"return a pair (accuracy, f1), got {type(got).__name__}")
        accuracy, f1 = (float(v) for v in got)
        if not np.isclose(accuracy, want_accuracy, atol=1e-6):
            if np.isclose(accuracy, want_accuracy * len(y_true), atol=1e-6):
                raise GradingError("accuracy is a fraction between 0 and 1, not a count of correct predictions")
            raise GradingError(f"accuracy {accuracy:.4f} should be {want_accuracy:.4f} for {len(y_true)} labels")
        if not np.isclose(f1, want_f1, atol=1e-6):
            raise GradingError(
                f"F1 {f1:.4f} should be {want_f1:.4f}: MRPC's F1 is that of the positive class "
                "(label 1, 'paraphrase'), not a macro or weighted average; it is 0 when no 1 is predicted"
            )


@wrong_answer("accuracy_and_f1", hint="positive class")
def accuracy_and_macro_f1(y_true, y_pred):
    from sklearn.metrics import accuracy_score, f1_score

    return accuracy_score(y_true, y_pred), f1_score(y_true, y_pred, average="macro")


@wrong_answer("accuracy_and_f1", hint="not a count")
def correct_count_and_f1(y_true, y_pred):
    from sklearn.metrics import f1_score

    return int((np.asarray(y_true) == np.asarray(y_pred)).sum()), f1_score(y_true, y_pred, zero_division=0)


@wrong_answer("accuracy_and_f1", hint="positive class")
def accuracy_and_precision(y_true, y_pred):
    from sklearn.metrics import accuracy_score, precision_score

    return accuracy_score(y_true, y_pred), precision_score(y_true, y_pred, zero_division=0)


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
    import bertlab  # noqa: F401
    import tensorflow as tf
    from transformers import BertConfig, TFBertModel

    from bertlab.finetuning import build_functional_classifier

    tf.keras.utils.set_random_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128, initializer_range=0.6,
                        hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
    return build_functional_classifier(num_labels=num_labels, pooling=pooling, encoder=TFBertModel(config), dropout=0.3)


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
