"""A learner's later `import keras` (Keras 3, even with TF_USE_LEGACY_KERAS=1) after `import bertlab`: a
Keras 3 optimizer, callback or model handed to the course's tf-keras code is refused with the fix, not
left to fail deep inside Keras (huggingface/notebooks#564). Real Keras 3 objects, in a child Python,
so that Keras 3 is never imported into the test process (bertlab's Keras 2 guard would trip there)."""
import json
import subprocess
import sys
import textwrap

import pytest

from bertlab import env

SCRIPT = textwrap.dedent("""
    import json
    import bertlab
    import tensorflow as tf
    import keras  # what a learner types later in the notebook: Keras 3
    from bertlab import env, finetuning

    assert keras.__version__.startswith("3."), keras.__version__
    model = tf.keras.Sequential([tf.keras.layers.Input((3,)), tf.keras.layers.Dense(2)])
    keras3_model = keras.Sequential([keras.layers.Input((3,)), keras.layers.Dense(2)])
    data = tf.data.Dataset.from_tensor_slices((tf.zeros((4, 3)), tf.zeros((4,), tf.int32))).batch(2)
    cases = {
        "optimizer": lambda: finetuning.compile_classifier(model, total_steps=4, optimizer=keras.optimizers.Adam(1e-3)),
        "callback": lambda: finetuning.train_classifier(model, data, epochs=1, verbose=0, restore_best=False,
                                                       callbacks=[keras.callbacks.EarlyStopping()]),
        "model_compile": lambda: finetuning.compile_classifier(keras3_model, total_steps=4),
        "model_logits": lambda: finetuning.logits_of(keras3_model, tf.zeros((1, 3))),
        "model_predict": lambda: finetuning.predict(keras3_model, ["hello"]),
        # The control: the same calls with tf.keras objects work.
        "tf_keras": lambda: finetuning.compile_classifier(model, total_steps=4, optimizer=tf.keras.optimizers.Adam(1e-3)),
    }
    results = {}
    for name, call in cases.items():
        try:
            call()
            results[name] = None
        except Exception as error:
            results[name] = [type(error).__name__, str(error)]
    families = {"keras3_layer": env.keras_of(keras.layers.Dense(2)), "tf_keras_layer": env.keras_of(tf.keras.layers.Dense(2)),
                "keras3_optimizer": env.keras_of(keras.optimizers.Adam()), "string": env.keras_of("adam")}
    print("RESULT " + json.dumps({"results": results, "families": families}))
""")


@pytest.fixture(scope="module")
def outcome():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


@pytest.mark.parametrize("case, what, example", [
    ("optimizer", "the optimizer", "tf.keras.optimizers.Adam(...)"),
    ("callback", "callbacks[0]", "tf.keras.callbacks.EarlyStopping(...)"),
    ("model_compile", "the model", "tf.keras.Model(...)"),
    ("model_logits", "the model", "tf.keras.Model(...)"),
    ("model_predict", "the model", "tf.keras.Model(...)"),
])
def test_keras3_objects_are_refused_with_the_fix(outcome, case, what, example):
    kind, message = outcome["results"][case]
    assert kind == "Keras3ObjectError"
    assert message.startswith(f"{what} is a Keras 3 object (keras.src.")
    assert f"Make it with tf.keras (for example {example}) or tf_keras instead" in message
    assert "`import keras` still gives Keras 3" in message


def test_tf_keras_objects_still_pass(outcome):
    assert outcome["results"]["tf_keras"] is None


def test_keras_of_tells_the_two_kerases_apart(outcome):
    assert outcome["families"] == {"keras3_layer": "keras 3", "tf_keras_layer": "tf_keras",
                                   "keras3_optimizer": "keras 3", "string": None}


def test_the_error_is_a_type_error_so_callers_catching_bad_arguments_see_it():
    assert issubclass(env.Keras3ObjectError, TypeError)
    env.require_tf_keras(None, "the optimizer")  # the default (no optimizer given) passes
