"""Keras 2 selection, seeds, devices and the distribution strategy."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import bertlab
from bertlab import env


def run_python(code: str) -> subprocess.CompletedProcess:
    """A fresh interpreter: what Keras is loaded, and how TF's devices are set, is per process."""
    clean = {k: v for k, v in os.environ.items() if k not in env.KERAS2_VARIABLES}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=clean, timeout=300)


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


@pytest.mark.parametrize("value, on", [("1", True), ("TRUE", True), (" yes ", True), ("0", False), ("no", False), ("", False)])
def test_env_flag_reads_one_true_yes_in_any_case(monkeypatch, value, on):
    monkeypatch.setenv("BERTLAB_SOME_FLAG", value)
    assert env.env_flag("BERTLAB_SOME_FLAG") is on
