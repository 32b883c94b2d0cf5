"""Graders for lesson 07 "Keras 3 and KerasHub": the Hugging Face -> KerasHub query/key/value weight map,
the two GELUs, and lesson 05's classifier head in Keras 3.

* ``qkv_kernel_from_hf`` is graded by matching outputs: the learner's (kernel, bias), used the way KerasHub's
  ``EinsumDense`` uses them (``einsum("btd,dhk->bthk", x, kernel) + bias``), must give the Hugging Face
  Linear layer's projection ``x @ weight.T + bias`` split into heads, on seeded random layers and on the
  embedded model's real layer-1 query weights (read from its safetensors file).
* ``gelu`` is graded on named points (0, far out on both sides, where the two formulas differ most) and
  seeded random arrays, both ``approximate=False`` (erf) and ``approximate=True`` (tanh), against float64
  references computed here.
* ``build_mean_classifier`` gets a tiny random KerasHub ``BertBackbone`` (Keras 3) and must return a Keras 3
  model whose logits, at inference, equal the masked mean of the backbone's ``sequence_output`` through its
  last Dense layer (the grader reads that layer's weights), with a Dropout of 0.1 before it.

Hints start with the case's name and what was measured, never a guess at the cause alone.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from bertlab.grading.core import GradingError, built, grader, probe, right_answer, wrong_answer


# ---------------------------------------------------------------------------------------
# qkv_kernel_from_hf(weight, bias, num_heads) -> (kernel (hidden, heads, head_dim), bias (heads, head_dim))
# ---------------------------------------------------------------------------------------
# Named edge cases: (name, hidden, heads). Hugging Face's query/key/value Linear maps hidden -> hidden.
QKV_EDGE_CASES = [
    ("one head (head_dim = hidden)", 6, 1),
    ("head_dim 1 (as many heads as hidden units)", 4, 4),
    ("two heads of 3", 6, 2),
    ("12 heads of 2, like BERT's 12", 24, 12),
]


def _qkv_case(rng, name, hidden, heads, weight=None, bias=None):
    weight = rng.normal(size=(hidden, hidden)) if weight is None else np.asarray(weight, dtype=np.float64)
    bias = rng.normal(size=hidden) if bias is None else np.asarray(bias, dtype=np.float64)
    x = rng.normal(size=(2, 3, hidden))
    projection = (x @ weight.T + bias).reshape(2, 3, heads, hidden // heads)
    return {"name": name, "weight": weight, "bias": bias, "heads": heads, "x": x, "expected": projection}


@functools.lru_cache(maxsize=1)
def _qkv_cases():
    rng = np.random.default_rng(7)
    cases = [_qkv_case(rng, *case) for case in QKV_EDGE_CASES]
    for i in range(3):
        heads = int(rng.choice([2, 3, 4]))
        cases.append(_qkv_case(rng, f"random layer {i + 1}", heads * int(rng.integers(2, 6)), heads))
    try:  # the embedded model's real layer-1 query weights, if its package is installed
        from safetensors.numpy import load_file

        from bertlab.models import embedded_files_dir

        hf = load_file(str(embedded_files_dir() / "model.safetensors"))
        prefix = "" if "encoder.layer.0.attention.self.query.weight" in hf else "bert."
        cases.append(_qkv_case(rng, "the embedded model's layer-1 query", 384, 12,
                               hf[f"{prefix}encoder.layer.0.attention.self.query.weight"],
                               hf[f"{prefix}encoder.layer.0.attention.self.query.bias"]))
    except Exception:  # noqa: BLE001  (graded on the random layers alone)
        pass
    return tuple(cases)


def _as_array(value, what: str, case: str):
    try:
        return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise GradingError(f"case '{case}': {what} is not an array of numbers ({type(value).__name__}: {error})") from None


@grader("qkv_kernel_from_hf", points=2, prepare=_qkv_cases, uses=("bertlab.kerashub.hf_qkv_to_kerashub",))
def grade_qkv_kernel_from_hf(learner_fn):
    for case in _qkv_cases():
        name, hidden, heads = case["name"], case["weight"].shape[1], case["heads"]
        weight, bias = case["weight"].copy(), case["bias"].copy()
        got = learner_fn(weight, bias, heads)
        if not np.array_equal(weight, case["weight"]) or not np.array_equal(bias, case["bias"]):
            raise GradingError(f"case '{name}': your function changed its input weight or bias; work on copies")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise GradingError(f"case '{name}': expected a pair (kernel, bias), got {type(got).__name__}")
        kernel, kbias = _as_array(got[0], "the kernel", name), _as_array(got[1], "the bias", name)
        want_k, want_b = (hidden, heads, hidden // heads), (heads, hidden // heads)
        if kernel.shape != want_k:
            raise GradingError(f"case '{name}': kernel shape {kernel.shape}, expected {want_k} = (hidden, heads, head_dim), "
                               "KerasHub's EinsumDense layout")
        if kbias.shape != want_b:
            raise GradingError(f"case '{name}': bias shape {kbias.shape}, expected {want_b} = (heads, head_dim)")
        out = np.einsum("btd,dhk->bthk", case["x"], kernel) + kbias
        gap = float(np.abs(out - case["expected"]).max())
        if gap > 1e-6 * max(1.0, float(np.abs(case["expected"]).max())):
            bias_only = float(np.abs(np.einsum("btd,dhk->bthk", case["x"], kernel) - (case["x"] @ case["weight"].T).reshape(out.shape)).max())
            if bias_only < 1e-6 * max(1.0, float(np.abs(case["expected"]).max())):
                raise GradingError(f"case '{name}': the kernel gives the Linear's projection but the outputs differ by "
                                   f"{gap:.3g}: the bias of head h must be bias[h * head_dim:(h + 1) * head_dim]")
            raise GradingError(f"case '{name}': the projection differs from the Linear layer's x @ weight.T + bias by "
                               f"{gap:.3g}; Hugging Face stores weight as (out, in), KerasHub's kernel is (in, heads, head_dim)")


@wrong_answer("qkv_kernel_from_hf", hint="(out, in)")
def qkv_without_transpose(weight, bias, num_heads):
    weight = np.asarray(weight)
    return weight.reshape(weight.shape[0], num_heads, -1), np.asarray(bias).reshape(num_heads, -1)


@wrong_answer("qkv_kernel_from_hf", hint="kernel shape")
def qkv_heads_first(weight, bias, num_heads):
    weight = np.asarray(weight)
    return weight.reshape(num_heads, -1, weight.shape[1]), np.asarray(bias).reshape(num_heads, -1)


@wrong_answer("qkv_kernel_from_hf", hint="differs from the Linear layer's x @ weight.T + bias")
def qkv_heads_interleaved(weight, bias, num_heads):
    # splits the output units as (head_dim, heads): unit j goes to head j % heads
    weight, bias = np.asarray(weight), np.asarray(bias)
    hidden = weight.shape[1]
    kernel = weight.T.reshape(hidden, -1, num_heads).transpose(0, 2, 1)
    return kernel, bias.reshape(num_heads, -1)


@wrong_answer("qkv_kernel_from_hf", hint="bias[h * head_dim")
def qkv_bias_interleaved(weight, bias, num_heads):
    weight, bias = np.asarray(weight), np.asarray(bias)
    return weight.T.reshape(weight.shape[1], num_heads, -1), bias.reshape(-1, num_heads).T


@wrong_answer("qkv_kernel_from_hf", hint="bias shape")
def qkv_flat_bias(weight, bias, num_heads):
    weight = np.asarray(weight)
    return weight.T.reshape(weight.shape[1], num_heads, -1), np.asarray(bias)


@right_answer("qkv_kernel_from_hf", why="reshape to (heads, head_dim, in), then move the input axis first")
def qkv_reshape_then_transpose(weight, bias, num_heads):
    weight, bias = np.asarray(weight), np.asarray(bias)
    return weight.reshape(num_heads, -1, weight.shape[1]).transpose(2, 0, 1), bias.reshape(num_heads, -1)


@right_answer("qkv_kernel_from_hf", why="a list [kernel, bias] of float32 arrays, built with np.einsum")
def qkv_einsum_float32(weight, bias, num_heads):
    weight, bias = np.asarray(weight, dtype=np.float32), np.asarray(bias, dtype=np.float32)
    heads = np.stack(np.split(weight, num_heads, axis=0))  # (heads, head_dim, in)
    return [np.einsum("hki->ihk", heads), bias.reshape(num_heads, -1)]


# ---------------------------------------------------------------------------------------
# gelu(x, approximate=False)
# ---------------------------------------------------------------------------------------
# Named points: (name, values). The two formulas differ most near |x| = 2.4 (by about 4e-4).
GELU_EDGE_CASES = [
    ("x = 0", [0.0]),
    ("large positive x (gelu(x) -> x)", [6.0, 10.0]),
    ("large negative x (gelu(x) -> 0)", [-6.0, -10.0]),
    ("where the two formulas differ most", [-2.4, -1.5, 1.5, 2.4]),
    ("a 2-D array", [[-1.0, 0.5], [2.0, -0.25]]),
    ("an empty array", []),
]


def _gelu_exact(x):
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + np.vectorize(math.erf, otypes=[np.float64])(x / math.sqrt(2.0)))


def _gelu_tanh(x):
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


@functools.lru_cache(maxsize=1)
def _gelu_cases():
    rng = np.random.default_rng(11)
    cases = [(name, np.asarray(values, dtype=np.float64)) for name, values in GELU_EDGE_CASES]
    for i in range(3):
        cases.append((f"random array {i + 1}", rng.normal(scale=2.0, size=int(rng.integers(5, 40)))))
    cases.append(("float32 values", rng.normal(size=(3, 4)).astype(np.float32)))
    return tuple((name, x, _gelu_exact(x), _gelu_tanh(x)) for name, x in cases)


@grader("gelu", points=2, prepare=_gelu_cases)
def grade_gelu(learner_fn):
    for name, x, exact, tanh in _gelu_cases():
        for approximate, expected in ((False, exact), (True, tanh)):
            given = np.array(x, copy=True)
            got = learner_fn(given, approximate=approximate)
            if not np.array_equal(given, x):
                raise GradingError(f"case '{name}': your function changed its input x; work on a copy")
            got = _as_array(got, "the result", name)
            if got.shape != x.shape:
                raise GradingError(f"case '{name}', approximate={approximate}: shape {got.shape}, expected {x.shape}")
            if x.size == 0:
                continue
            tolerance = 1e-6  # the two formulas differ by up to 4e-4; float32 rounding is below 1e-6 here
            gap = np.abs(got - expected)
            if gap.max() > tolerance:
                at = np.unravel_index(int(gap.argmax()), gap.shape)
                other = tanh if approximate is False else exact
                which = (" (that is the other formula's value)" if abs(got[at] - other[at]) <= tolerance
                         and abs(other[at] - expected[at]) > tolerance else "")
                raise GradingError(f"case '{name}', approximate={approximate}: at x = {float(x[at]):g} got "
                                   f"{float(got[at]):.10g}, expected {float(expected[at]):.10g}{which}")


@wrong_answer("gelu", hint="approximate=False: at x = ")
def gelu_tanh_always(x, approximate=False):
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


@wrong_answer("gelu", hint="(that is the other formula's value)")
def gelu_flags_swapped(x, approximate=False):
    x = np.asarray(x, dtype=np.float64)
    if not approximate:
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / np.sqrt(2.0)))


@wrong_answer("gelu", hint="approximate=True: at x = ")
def gelu_sigmoid_approximation(x, approximate=False):
    x = np.asarray(x, dtype=np.float64)
    if approximate:
        return x / (1.0 + np.exp(-1.702 * x))  # another approximation, not BERT's
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / np.sqrt(2.0)))


@wrong_answer("gelu", hint="case 'large positive x (gelu(x) -> x)'")
def gelu_erf_of_x_over_2(x, approximate=False):
    x = np.asarray(x, dtype=np.float64)
    if approximate:
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / 2.0))  # Phi(x) is (1 + erf(x / sqrt(2))) / 2


@wrong_answer("gelu", hint="approximate=True: at x = ")
def gelu_tanh_without_the_cubic_term(x, approximate=False):
    x = np.asarray(x, dtype=np.float64)
    if approximate:
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * x))
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / np.sqrt(2.0)))


@right_answer("gelu", why="the standard normal CDF through math.erfc, element by element")
def gelu_with_erfc(x, approximate=False):
    x = np.asarray(x, dtype=np.float64)
    if approximate:
        inner = np.sqrt(2.0 / np.pi) * (x + 0.044715 * np.power(x, 3))
        return x * 0.5 * (1.0 + np.tanh(inner))
    return x * 0.5 * np.array([math.erfc(-v / math.sqrt(2.0)) for v in x.ravel()]).reshape(x.shape)


@right_answer("gelu", why="TensorFlow's tf.nn.gelu, with its approximate flag")
def gelu_with_tensorflow(x, approximate=False):
    import tensorflow as tf

    return tf.nn.gelu(tf.constant(np.asarray(x, dtype=np.float64)), approximate=approximate).numpy()


# ---------------------------------------------------------------------------------------
# build_mean_classifier(backbone, num_labels) -> keras.Model (Keras 3), logits
# ---------------------------------------------------------------------------------------
CLASSIFIER_CASES = [("two labels, rows with and without padding", 2), ("three labels", 3)]


@functools.lru_cache(maxsize=1)
def _tiny_backbone_inputs():
    rng = np.random.default_rng(5)
    ids = rng.integers(3, 60, size=(4, 7)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, 4:] = 0
    mask[2, 2:] = 0
    mask[3, 1:] = 0  # one real token: a mean of one vector
    ids[mask == 0] = 0
    return {"token_ids": ids, "segment_ids": (rng.random(ids.shape) < 0.3).astype("int32") * mask, "padding_mask": mask}


def _tiny_backbone():
    import keras
    import keras_hub

    keras.utils.set_random_seed(9)
    return keras_hub.models.BertBackbone(vocabulary_size=64, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16,
                                         max_sequence_length=16, name="tiny_backbone")


def _prepare_classifier():
    _tiny_backbone_inputs()
    import keras_hub  # noqa: F401  (imported before the learner's code runs)


def _keras3(obj) -> bool:
    return any((cls.__module__ or "").split(".")[0] == "keras" for cls in type(obj).__mro__)


def _observe_mean_classifier(model, backbone, x, num_labels) -> dict:
    """A probe (core.probe): what build_mean_classifier's grader measures of the model the learner's
    function returned, run where the model is (the learner process when a notebook is scored).
    Observations only (the layers the learner added, the inputs, the logits): the grader compares."""
    import keras

    seen: dict = {"keras3_model": _keras3(model) and isinstance(model, keras.Model),
                  "type": f"{type(model).__module__}.{type(model).__name__}"}
    if not seen["keras3_model"]:
        return seen
    inside = {id(layer) for layer in backbone._flatten_layers(include_self=True)}
    added = [layer for layer in model._flatten_layers(include_self=False) if id(layer) not in inside]
    dense = [layer for layer in added if isinstance(layer, keras.layers.Dense) and getattr(layer, "units", None) == num_labels]
    if dense:
        head = dense[-1]
        seen["kernel"] = keras.ops.convert_to_numpy(head.kernel).astype(np.float64)
        seen["bias"] = keras.ops.convert_to_numpy(head.bias).astype(np.float64) if head.use_bias else None
    inputs = model.inputs if isinstance(model.inputs, (list, tuple)) else list(model.inputs)
    seen["input_names"] = sorted(getattr(t, "name", "") for t in inputs)
    seen["input_dtypes"] = sorted({str(getattr(t, "dtype", "")) for t in inputs})
    seen["dropout_rates"] = [float(layer.rate) for layer in added if isinstance(layer, keras.layers.Dropout)]
    try:
        seen["logits"] = keras.ops.convert_to_numpy(model(x, training=False)).astype(np.float64)
    except Exception as error:  # noqa: BLE001 - the learner's model
        seen["call_error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"
    return seen


@grader("build_mean_classifier", points=3, prepare=_prepare_classifier, uses=("bertlab.kerashub.build_classifier",))
def grade_build_mean_classifier(learner_fn):
    """Two builds (2 and 3 labels) on a tiny seeded KerasHub backbone: a Keras 3 model with inputs named and
    typed as KerasHub's, Dropout(0.1), a Dense layer with num_labels units, and logits equal to the masked
    mean of sequence_output through that layer (rows with padding, one with a single real token). The
    model is measured by a probe (_observe_mean_classifier, where the model is) and judged here."""
    import keras

    x = _tiny_backbone_inputs()
    for name, num_labels in CLASSIFIER_CASES:
        backbone = built(_tiny_backbone)
        hidden = keras.ops.convert_to_numpy(backbone(x, training=False)["sequence_output"]).astype(np.float64)
        model = learner_fn(backbone, num_labels)
        seen = probe(_observe_mean_classifier, model, backbone, x, num_labels)
        if not seen["keras3_model"]:
            raise GradingError(f"case '{name}': got a {seen['type']}, not a Keras 3 "
                               "keras.Model (build it with `import keras`: keras.layers, keras.Model; tf_keras is Keras 2)")
        if "kernel" not in seen:
            raise GradingError(f"case '{name}': the model has no Dense layer with {num_labels} units (num_labels)")
        names = seen["input_names"]
        if names != ["padding_mask", "segment_ids", "token_ids"]:
            raise GradingError(f"case '{name}': the model's inputs are named {names}; name them token_ids, segment_ids and "
                               "padding_mask (keras.Input(..., name=...)), as KerasHub's backbone and preprocessors do")
        dtypes = seen["input_dtypes"]
        if dtypes != ["int32"]:
            raise GradingError(f"case '{name}': the inputs' dtypes are {dtypes}; token ids and masks are int32 "
                               "(keras.Input(..., dtype=\"int32\"))")
        dropouts = seen["dropout_rates"]
        if not any(abs(rate - 0.1) < 1e-9 for rate in dropouts):
            raise GradingError(f"case '{name}': found Dropout rates {dropouts}; lesson 05's head has Dropout(0.1) before the Dense layer (the backbone's own do not count)")
        if "call_error" in seen:
            raise GradingError(f"case '{name}': calling the model on KerasHub's input dict (token_ids, segment_ids, "
                               f"padding_mask) raised {seen['call_error']}")
        got = np.asarray(seen["logits"], dtype=np.float64)
        if not np.all(np.isfinite(got)):
            rows = sorted({int(i) for i in np.argwhere(~np.isfinite(got))[:, 0]})
            raise GradingError(f"case '{name}': the logits of rows {rows} are not finite (inf or nan); rows 1-3 have padding")
        if got.shape != (4, num_labels):
            raise GradingError(f"case '{name}': logits of shape {got.shape}, expected (4, {num_labels}) = (batch, num_labels)")
        mask = x["padding_mask"].astype(np.float64)[:, :, None]
        pooled = (hidden * mask).sum(axis=1) / mask.sum(axis=1)
        kernel = np.asarray(seen["kernel"], dtype=np.float64)
        bias = 0.0 if seen["bias"] is None else np.asarray(seen["bias"], dtype=np.float64)
        expected = pooled @ kernel + bias
        gap = float(np.abs(got - expected).max())
        if gap > 1e-4:
            cls = hidden[:, 0] @ kernel + bias
            plain = hidden.mean(axis=1) @ kernel + bias
            probabilities = np.exp(expected) / np.exp(expected).sum(axis=1, keepdims=True)
            if np.abs(got - probabilities).max() < 1e-4:
                raise GradingError(f"case '{name}': the outputs are softmax probabilities (rows sum to 1); the loss takes "
                                   "logits (from_logits=True): no activation on the Dense layer")
            if np.abs(got - plain).max() < 1e-4:
                raise GradingError(f"case '{name}': the outputs equal the plain mean over all positions, padding positions "
                                   "included (rows 1-3 are padded); weight the mean by padding_mask")
            if np.abs(got - cls).max() < 1e-4:
                raise GradingError(f"case '{name}': the outputs equal the [CLS] vector's logits; the exercise asks for the "
                                   "masked mean of sequence_output")
            raise GradingError(f"case '{name}': the logits differ by {gap:.3g} from the masked mean of sequence_output "
                               "through your last Dense layer")


def _masked_mean(keras, hidden, padding_mask):
    """The right pooling, shared by the wrong answers that go wrong elsewhere (head, dropout, labels)."""
    mask = keras.ops.expand_dims(keras.ops.cast(padding_mask, "float32"), -1)
    return keras.ops.sum(hidden * mask, axis=1) / keras.ops.sum(mask, axis=1)


def _inputs(keras):
    return {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in ("token_ids", "segment_ids", "padding_mask")}


@wrong_answer("build_mean_classifier", hint="[CLS] vector")
def classifier_on_cls(backbone, num_labels):
    import keras

    inputs = _inputs(keras)
    hidden = backbone(inputs)["sequence_output"]
    pooled = keras.layers.Dropout(0.1)(hidden[:, 0, :])
    return keras.Model(inputs, keras.layers.Dense(num_labels)(pooled))


@wrong_answer("build_mean_classifier", hint="padding positions included")
def classifier_on_plain_mean(backbone, num_labels):
    import keras

    inputs = _inputs(keras)
    hidden = backbone(inputs)["sequence_output"]
    pooled = keras.layers.Dropout(0.1)(keras.ops.mean(hidden, axis=1))
    return keras.Model(inputs, keras.layers.Dense(num_labels)(pooled))


@wrong_answer("build_mean_classifier", hint="softmax probabilities")
def classifier_with_softmax(backbone, num_labels):
    import keras

    inputs = _inputs(keras)
    hidden = backbone(inputs)["sequence_output"]
    pooled = _masked_mean(keras, hidden, inputs["padding_mask"])
    pooled = keras.layers.Dropout(0.1)(pooled)
    return keras.Model(inputs, keras.layers.Dense(num_labels, activation="softmax")(pooled))


@wrong_answer("build_mean_classifier", hint="Dropout rates")
def classifier_without_dropout(backbone, num_labels):
    import keras

    inputs = _inputs(keras)
    hidden = backbone(inputs)["sequence_output"]
    pooled = _masked_mean(keras, hidden, inputs["padding_mask"])
    return keras.Model(inputs, keras.layers.Dense(num_labels)(pooled))


@wrong_answer("build_mean_classifier", hint="no Dense layer with 3 units")
def classifier_with_two_labels_always(backbone, num_labels):
    import keras

    inputs = _inputs(keras)
    hidden = backbone(inputs)["sequence_output"]
    pooled = keras.layers.Dropout(0.1)(_masked_mean(keras, hidden, inputs["padding_mask"]))
    return keras.Model(inputs, keras.layers.Dense(2)(pooled))


@wrong_answer("build_mean_classifier", hint="not a Keras 3 keras.Model")
def classifier_in_tf_keras(backbone, num_labels):
    import tf_keras

    inputs = tf_keras.Input(shape=(8,))
    return tf_keras.Model(inputs, tf_keras.layers.Dense(num_labels)(tf_keras.layers.Dropout(0.1)(inputs)))


@right_answer("build_mean_classifier", why="the masked mean in a small custom layer, the pooler frozen")
def classifier_with_a_pooling_layer(backbone, num_labels):
    import keras

    class MeanPool(keras.layers.Layer):
        def call(self, hidden, mask):
            mask = keras.ops.expand_dims(keras.ops.cast(mask, hidden.dtype), -1)
            return keras.ops.sum(hidden * mask, axis=1) / keras.ops.maximum(keras.ops.sum(mask, axis=1), 1.0)

    backbone.get_layer("pooled_dense").trainable = False
    inputs = _inputs(keras)
    pooled = MeanPool()(backbone(inputs)["sequence_output"], inputs["padding_mask"])
    pooled = keras.layers.Dropout(0.1)(pooled)
    init = keras.initializers.TruncatedNormal(stddev=0.02)
    return keras.Model(inputs, keras.layers.Dense(num_labels, kernel_initializer=init, name="classifier")(pooled))


@right_answer("build_mean_classifier", why="the backbone's own inputs (backbone.input), ops in the functional graph")
def classifier_on_backbone_inputs(backbone, num_labels):
    import keras

    inputs = backbone.input
    hidden = backbone.output["sequence_output"]
    weights = keras.ops.cast(inputs["padding_mask"], "float32")[:, :, None]
    pooled = keras.ops.sum(hidden * weights, axis=1) / keras.ops.sum(weights, axis=1)
    return keras.Model(inputs, keras.layers.Dense(num_labels)(keras.layers.Dropout(rate=0.1)(pooled)))
