"""Keras 2 selection, seeds, devices and the distribution strategy."""
import configparser
import json
import os
import re
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import bertlab
from bertlab import env


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TF_VARIABLES = (*env.KERAS2_VARIABLES, *env.QUIET_VARIABLES, "TF_ENABLE_ONEDNN_OPTS")


def run_python(code: str, **variables) -> subprocess.CompletedProcess:
    """A fresh interpreter: what Keras is loaded, and how TF's devices are set, is per process."""
    clean = {k: v for k, v in os.environ.items() if k not in TF_VARIABLES}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={**clean, **variables}, timeout=300)


def test_importing_bertlab_selects_tf_keras():
    assert os.environ["TF_USE_LEGACY_KERAS"] == "1" and os.environ["TF_KERAS"] == "1"
    assert tf.keras.Model is tf_keras.Model
    assert tf_keras.__version__.startswith("2.")


def test_importing_bertlab_after_keras3_raises_and_says_restart():
    result = run_python("import keras\nimport bertlab\n")
    assert result.returncode != 0
    assert "Keras3LoadedError" in result.stderr
    assert "Restart the kernel" in result.stderr and "import bertlab" in result.stderr


def test_importing_bertlab_first_in_a_fresh_process_gives_keras2_everywhere():
    result = run_python(
        """
        import bertlab, tensorflow as tf, tensorflow_hub, transformers, keras_bert, sys, tf_keras
        from bertlab.env import check_keras2
        print(tf.keras.Model is tf_keras.Model, check_keras2(), "keras" in sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", tf_keras.__version__, "False"]


def test_bertlab_leaves_onednn_to_tensorflow_and_prints_no_onednn_line_where_tensorflow_keeps_it_off():
    result = run_python(
        """
        import os, bertlab, tensorflow as tf
        from tensorflow.python.util import _pywrap_util_port
        print(os.environ.get("TF_ENABLE_ONEDNN_OPTS"), _pywrap_util_port.IsMklEnabled())
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    forced, onednn_on = result.stdout.split()
    assert forced == "None"  # not forced off (nor on): TensorFlow's own per-CPU default applies
    if onednn_on == "False":  # e.g. an AVX2-only CPU: TensorFlow keeps oneDNN off and says nothing
        assert "oneDNN" not in result.stderr


def test_tensorflow_native_start_up_lines_are_hidden_at_import_unless_bertlab_verbose():
    # TF_CPP_MIN_LOG_LEVEL=3 does not hide them (they are written before absl's logging starts):
    # import bertlab hides what TensorFlow's libraries write to stderr while they load.
    code = "import bertlab, tensorflow as tf; tf.constant(1.0) + 1"
    quiet = run_python(code, TF_ENABLE_ONEDNN_OPTS="1")
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    for line in ("oneDNN custom operations are on", "absl::InitializeLog", "cudart_stub"):
        assert line not in quiet.stderr
    verbose = run_python(code, TF_ENABLE_ONEDNN_OPTS="1", BERTLAB_VERBOSE="1")
    assert "oneDNN custom operations are on" in verbose.stderr  # the line exists: bertlab is what hides it
    sanitize = configparser.ConfigParser()  # and the notebook sanitizer would still remove it
    sanitize.read(os.path.join(ROOT, "notebooks", "sanitize.cfg"))
    assert "oneDNN" not in re.sub(sanitize["tensorflow_log_lines"]["regex"], "", verbose.stderr)


def test_a_python_error_inside_the_quiet_block_still_reaches_the_caller(capfd):
    import sys

    with pytest.raises(ImportError, match="no such module"):
        with env.quiet_native_stderr():
            print("hidden", file=sys.stderr, flush=True)
            raise ImportError("no such module")
    print("shown", file=sys.stderr, flush=True)
    err = capfd.readouterr().err
    assert "shown" in err



def test_set_seed_makes_numpy_and_tensorflow_repeatable():
    bertlab.set_seed(7)
    first = (np.random.rand(3), tf.random.uniform((3,)).numpy(), tf.keras.layers.Dense(2).build((None, 4)))
    bertlab.set_seed(7)
    second = (np.random.rand(3), tf.random.uniform((3,)).numpy())
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_distribution_strategy_mirrors_over_two_logical_cpus():
    result = run_python(
        """
        import bertlab, tensorflow as tf
        from bertlab.env import distribution_strategy
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = distribution_strategy(devices)
        with strategy.scope():
            model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(3,))])
            model.compile(optimizer="sgd", loss="mse")
        history = model.fit(tf.ones((8, 3)), tf.ones((8, 1)), batch_size=4, epochs=1, verbose=0)
        print(type(strategy).__name__, strategy.num_replicas_in_sync, len(devices), history.history["loss"][0] > 0)
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["MirroredStrategy", "2", "2", "True"]


def test_distribution_strategy_is_the_default_one_on_a_cpu_only_machine():
    strategy = env.distribution_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert not isinstance(strategy, (tf.distribute.MirroredStrategy, tf.distribute.TPUStrategy))


def test_mixed_precision_stays_off_without_a_gpu_and_can_be_forced():
    try:
        assert env.enable_mixed_precision() == "float32"
        assert env.enable_mixed_precision(force=True) == "mixed_float16"
        assert tf.keras.mixed_precision.global_policy().name == "mixed_float16"
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")


def test_device_summary_names_the_cpu_cores():
    assert env.device_summary() == f"CPU only ({os.cpu_count()} cores)"


def test_quick_mode_reads_bertlab_quick(monkeypatch):
    monkeypatch.setenv("BERTLAB_QUICK", "1")
    assert env.quick_mode()
    monkeypatch.setenv("BERTLAB_QUICK", "0")
    assert not env.quick_mode()


# --- training under a strategy: lesson 05's classifier on a tiny BERT ------------------------

# One script for the three runs below (each in its own interpreter: devices, policies and
# clusters are fixed per process). argv: mode (single, mirrored, worker, mixed), result file.
STRATEGY_JOB = """
import json, sys
import numpy as np
import bertlab, tensorflow as tf
from transformers import BertConfig, TFBertModel
from bertlab import env, finetuning

mode, result_file = sys.argv[1], sys.argv[2]
if mode == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
if mode == "mixed":
    env.enable_mixed_precision(force=True)
GLOBAL_BATCH, STEPS = 8, 3
rng = np.random.default_rng(0)
ids = rng.integers(1000, 2000, size=(GLOBAL_BATCH * STEPS, 12)).astype("int32")
ids[:, 0], ids[:, -1] = 101, 102
features = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
labels = (ids[:, 1] % 2).astype("int32")
examples = {"index": np.arange(len(ids)), **features}


def build(weights=None):
    tf.keras.utils.set_random_seed(0)
    # No dropout: replicas draw different masks, and the comparison is about the arithmetic.
    config = BertConfig(vocab_size=2048, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    model = finetuning.build_functional_classifier(encoder=TFBertModel(config), dropout=0.0)
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=tf.keras.optimizers.SGD(0.05),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def dataset():
    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(GLOBAL_BATCH)


result = {}
if mode == "mirrored":
    single = build()
    initial = single.get_weights()
    result["single"] = single.fit(dataset(), epochs=2, verbose=0).history["loss"]
    devices = [device.name for device in tf.config.list_logical_devices("CPU")]
    strategy = env.distribution_strategy(devices)
    with strategy.scope():
        mirrored = build(initial)
    result["mirrored"] = mirrored.fit(dataset(), epochs=2, verbose=0).history["loss"]
    result["replicas"] = strategy.num_replicas_in_sync
    result["max_weight_difference"] = max(float(np.abs(a - b).max()) for a, b in
                                          zip(single.get_weights(), mirrored.get_weights()))
elif mode == "worker":
    strategy = env.distribution_strategy()
    shard = {}

    def shard_of(context):
        # Each worker reads its own shard of the examples, at the per-worker batch.
        data = tf.data.Dataset.from_tensor_slices(examples).shard(context.num_input_pipelines, context.input_pipeline_id)
        shard["indices"] = [int(i) for i in data.map(lambda e: e["index"]).as_numpy_iterator()]
        data = data.map(lambda e: ({k: e[k] for k in features}, tf.gather(labels, e["index"])))
        return data.repeat().batch(context.get_per_replica_batch_size(GLOBAL_BATCH))

    with strategy.scope():
        model = build()
    initial = model.get_weights()
    history = model.fit(tf.keras.utils.experimental.DatasetCreator(shard_of), epochs=1, steps_per_epoch=STEPS, verbose=0)
    np.savez(result_file + ".npz", *model.get_weights())
    result.update(multi_worker=isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy), replicas=strategy.num_replicas_in_sync, shard=shard["indices"],
                  loss=history.history["loss"], changed=any(not np.allclose(a, b) for a, b in zip(initial, model.get_weights())))
elif mode == "mixed":
    model = build()
    history = model.fit(dataset(), epochs=1, verbose=0)
    result.update(policy=tf.keras.mixed_precision.global_policy().name, logits=model.output.dtype.name,
                  encoder_compute=model.encoder.compute_dtype, loss_scaled=isinstance(model.optimizer, tf.keras.mixed_precision.LossScaleOptimizer),
                  loss=history.history["loss"])
json.dump(result, open(result_file, "w"))
"""


def start_job(mode: str, result_file, extra_env: dict | None = None) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if k not in env.KERAS2_VARIABLES and k != "TF_CONFIG"}
    return subprocess.Popen([sys.executable, "-c", STRATEGY_JOB, mode, str(result_file)], env={**clean, **(extra_env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_job(process: subprocess.Popen, result_file) -> dict:
    try:
        _, stderr = process.communicate(timeout=480)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(result_file.read_text())


@pytest.mark.slow
def test_classifier_loss_under_mirrored_strategy_matches_one_device(tmp_path):
    result = finish_job(start_job("mirrored", tmp_path / "mirrored.json"), tmp_path / "mirrored.json")
    assert result["replicas"] == 2
    np.testing.assert_allclose(result["mirrored"], result["single"], rtol=1e-4)
    assert result["single"][1] < result["single"][0]  # it trained
    assert result["max_weight_difference"] < 1e-4


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.mark.slow
def test_two_workers_train_on_their_shards_and_end_with_identical_weights(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    jobs = []
    for index in range(2):
        config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        jobs.append(start_job("worker", tmp_path / f"worker{index}.json", {"TF_CONFIG": config}))
    results = [finish_job(job, tmp_path / f"worker{index}.json") for index, job in enumerate(jobs)]
    assert [r["multi_worker"] for r in results] == [True, True]
    assert [r["replicas"] for r in results] == [2, 2]
    assert sorted(results[0]["shard"] + results[1]["shard"]) == list(range(24))  # disjoint shards, all examples
    assert set(results[0]["shard"]).isdisjoint(results[1]["shard"])
    assert results[0]["changed"] and results[1]["changed"]
    first, second = (np.load(tmp_path / f"worker{index}.json.npz") for index in range(2))
    assert len(first.files) == len(second.files) > 0
    for name in first.files:
        np.testing.assert_array_equal(first[name], second[name])


@pytest.mark.slow
def test_classifier_trains_under_mixed_float16_with_float32_logits(tmp_path):
    result = finish_job(start_job("mixed", tmp_path / "mixed.json"), tmp_path / "mixed.json")
    assert result["policy"] == "mixed_float16" and result["encoder_compute"] == "float16"
    assert result["logits"] == "float32"
    assert result["loss_scaled"]  # Keras wraps the optimizer so float16 gradients do not underflow
    assert np.isfinite(result["loss"][0])


def test_tf_config_with_two_workers_asks_for_multi_worker_mirroring(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}))
    assert env.cluster_workers() == 2
    monkeypatch.setenv("TF_CONFIG", "not json")
    with pytest.raises(ValueError, match="TF_CONFIG is set but is not"):
        env.cluster_workers()
    monkeypatch.delenv("TF_CONFIG")
    assert env.cluster_workers() == 0


@pytest.mark.parametrize("value, on", [("1", True), ("TRUE", True), (" yes ", True), ("0", False), ("no", False), ("", False)])
def test_env_flag_reads_one_true_yes_in_any_case(monkeypatch, value, on):
    monkeypatch.setenv("BERTLAB_SOME_FLAG", value)
    assert env.env_flag("BERTLAB_SOME_FLAG") is on


def _no_gradient_warnings(records) -> list[str]:
    """Train a model whose "pooler" is tracked but unused on four batch shapes; the no-gradient lines logged."""
    import logging

    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    try:
        inputs = tf.keras.Input(shape=(None, 4))
        pooler = tf.keras.layers.Dense(4, name="pooler")
        pooler(inputs[:, 0])  # built, never on the path to the output
        head = tf.keras.layers.Dense(2, name="head")(tf.keras.layers.GlobalAveragePooling1D()(inputs))
        model = tf.keras.Model(inputs, head)
        model.pooler = pooler  # tracked: trainable weights of the model that get no gradient
        model.compile(optimizer="sgd", loss="mse")
        for width in (3, 5, 7, 9):  # a new shape each time: Keras traces again, and warned again
            model.fit(np.ones((4, width, 4)), np.zeros((4, 2)), epochs=1, verbose=0)
    finally:
        logger.removeHandler(handler)
    return [r.getMessage() for r in records if "gradient" in r.getMessage().lower()]


def test_keras_no_gradient_warning_comes_once_and_names_the_pooler_fix():
    """A classifier that pools token vectors leaves BERT's pooler unused; Keras warned at every trace."""
    import logging

    logger = logging.getLogger("tensorflow")
    note = next(f for f in logger.filters if isinstance(f, env._NoGradientNote))
    logger.removeFilter(note)
    try:
        assert len(_no_gradient_warnings([])) > 1  # what Keras alone prints
    finally:
        logger.addFilter(note)
    warned = _no_gradient_warnings([])
    assert len(warned) == 1, warned
    assert "pooler" in warned[0] and "trainable = False" in warned[0]


def test_the_course_warnings_print_as_one_line_without_the_file_that_raised_them():
    import warnings

    from bertlab.preprocessing import TruncationWarning

    assert getattr(warnings.formatwarning, "_bertlab", False)  # installed by import bertlab
    shown = warnings.formatwarning("7 of 10 examples were truncated", TruncationWarning, "/tmp/ipykernel_1/2.py", 3, "x()")
    assert shown == "TruncationWarning: 7 of 10 examples were truncated\n"
    other = warnings.formatwarning("deprecated", DeprecationWarning, "/somewhere/lib.py", 7, "f()")
    assert "/somewhere/lib.py:7" in other  # other libraries' warnings keep Python's format
