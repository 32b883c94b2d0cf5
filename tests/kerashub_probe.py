"""Run by tests/test_kerashub.py in a fresh Keras 3 process (BERTLAB_KERAS=3, as lesson 07's setup cell sets it):
measures what the tests assert and prints it as one JSON line. Usage: python tests/kerashub_probe.py OUT_DIR"""
from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

os.environ["BERTLAB_KERAS"] = "3"

import numpy as np  # noqa: E402

import bertlab  # noqa: E402,F401

# lesson 07's sentences (the ones its comparison cell uses)
SENTENCES = ["How are you?", "I want to embed. Maybe now", "The river bank was muddy.",
             "The quick brown fox jumps over the lazy dog near the river bank."]


def main(out_dir: str) -> dict:
    import keras
    import tensorflow as tf

    from bertlab import kerashub as kh

    result = {"backend": kh.backend(), "tf_use_legacy_keras": os.environ.get("TF_USE_LEGACY_KERAS"),
              "tf_keras_model_module": tf.keras.Model.__module__ if kh.backend() == "tensorflow" else None}
    upstream = kh.load_upstream_backbone()
    exact = kh.load_backbone("gelu")
    result["parameters"] = int(upstream.count_params())
    result["upstream_activation"] = kh.feedforward_activation(upstream)
    result["exact_activation"] = kh.feedforward_activation(exact)
    result["ids"] = [int(i) for i in np.asarray(kh.load_tokenizer()("How are you?"))]

    if True:  # lesson 03's encoder is a TF SavedModel, run by TensorFlow whatever Keras' backend
        ref = kh.hub_reference(SENTENCES)
        result["gap_upstream"] = kh.max_gap(kh.sequence_output(upstream, ref), ref["sequence_output"], ref["input_mask"])
        result["gap_exact"] = kh.max_gap(kh.sequence_output(exact, ref), ref["sequence_output"], ref["input_mask"])
        pooled = keras.ops.convert_to_numpy(exact(kh.to_kerashub_inputs(ref))["pooled_output"])
        result["gap_pooled_exact"] = float(np.abs(pooled - ref["pooled_output"]).max())

    # the weight map: HF's query Linear, reshaped, is KerasHub's kernel exactly
    from safetensors.numpy import load_file

    hf = load_file(str(kh.preset_dir() / "model.safetensors"))
    prefix = "" if "encoder.layer.0.attention.self.query.weight" in hf else "bert."
    worst = 0.0
    for i, layer in enumerate(exact.transformer_layers):
        for part in ("query", "key", "value"):
            kernel, bias = kh.hf_qkv_to_kerashub(hf[f"{prefix}encoder.layer.{i}.attention.self.{part}.weight"],
                                                 hf[f"{prefix}encoder.layer.{i}.attention.self.{part}.bias"], exact.num_heads)
            dense = getattr(layer._self_attention_layer, f"_{part}_dense")
            worst = max(worst, float(np.abs(kernel - keras.ops.convert_to_numpy(dense.kernel)).max()),
                        float(np.abs(bias - keras.ops.convert_to_numpy(dense.bias)).max()))
    result["qkv_map_max_difference"] = worst
    result["weight_map_rows"] = len(kh.weight_map(exact))

    # a classifier trained one step, saved as .keras and reloaded: identical predictions
    keras.utils.set_random_seed(3)
    model = kh.build_classifier(exact)
    kh.compile_classifier(model, kh.create_optimizer(1e-4, total_steps=10))
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 5000, size=(8, 12)).astype("int32")
    ids[:, 0], ids[:, -1] = 101, 102
    mask = np.ones_like(ids)
    mask[::2, 9:] = 0
    ids[mask == 0] = 0
    x = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask}
    model.fit(x, rng.integers(0, 2, size=8), batch_size=8, epochs=1, verbose=0)
    before = model.predict(x, verbose=0)
    path = Path(out_dir) / "classifier.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    after = reloaded.predict(x, verbose=0)
    result["reload_max_difference"] = float(np.abs(before - after).max())
    result["reload_identical"] = bool(np.array_equal(before, after))
    result["reloaded_activation"] = kh.feedforward_activation(reloaded.get_layer(exact.name))
    result["logits_shape"] = list(before.shape)

    # lessons 01-06's modules refuse to load here, with the restart message
    try:
        importlib.import_module("bertlab.encoder")
    except Exception as error:  # noqa: BLE001
        result["encoder_import_error"] = [type(error).__name__, str(error), error._render_traceback_()]
    else:
        result["encoder_import_error"] = None
    try:
        importlib.import_module("bertlab.models").load_tf_model()
    except Exception as error:  # noqa: BLE001
        result["load_tf_model_error"] = [type(error).__name__, str(error)]
    return result


if __name__ == "__main__":
    print("PROBE " + json.dumps(main(sys.argv[1])))
