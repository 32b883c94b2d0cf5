"""Keras 2 selection, seeds, devices and the distribution strategy."""
import configparser
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
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


def test_the_onednn_line_where_tensorflow_prints_it_is_removed_by_the_notebook_sanitizer():
    # TF_CPP_MIN_LOG_LEVEL=3 does not hide it (it is logged before absl's logging starts), so
    # what keeps it out of checked notebook outputs is notebooks/sanitize.cfg.
    result = run_python("import bertlab, tensorflow as tf; tf.constant(1.0) + 1", TF_ENABLE_ONEDNN_OPTS="1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "oneDNN custom operations are on" in result.stderr
    sanitize = configparser.ConfigParser()
    sanitize.read(os.path.join(ROOT, "notebooks", "sanitize.cfg"))
    left = re.sub(sanitize["tensorflow_log_lines"]["regex"], "", result.stderr)
    assert "oneDNN" not in left, left


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
