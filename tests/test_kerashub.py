"""bertlab.kerashub (lesson 07): the embedded BERT in Keras 3 + KerasHub, and Keras 2 / Keras 3 side by side.

The pytest process is a Keras 2 process (conftest imports bertlab), so what needs Keras 3 runs in one fresh
process, tests/kerashub_probe.py, with BERTLAB_KERAS=3 as lesson 07's setup cell sets it; the tests below
assert on what it measured.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bertlab import env

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "kerashub_probe.py"


def _python(args, **variables) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **variables}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=environment, timeout=900, cwd=ROOT)


def _probe(tmp_path_factory, **variables) -> dict:
    out = tmp_path_factory.mktemp("kerashub")
    result = _python([str(PROBE), str(out)], **variables)
    lines = [line for line in result.stdout.splitlines() if line.startswith("PROBE ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    return json.loads(lines[-1][len("PROBE "):])


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> dict:
    return _probe(tmp_path_factory, KERAS_BACKEND="tensorflow")


# ------------------------------------------------------------------ Keras 3 process (the probe)
@pytest.mark.slow
def test_lesson07_process_runs_keras3_with_no_keras2_selected(probe):
    assert probe["backend"] == "tensorflow"
    assert probe["tf_use_legacy_keras"] is None  # inherited from this Keras 2 process, and removed
    assert probe["tf_keras_model_module"].startswith("keras.")  # tf.keras is Keras 3 there


@pytest.mark.slow
def test_kerashub_loads_the_embedded_model_offline_with_22713216_parameters(probe):
    assert probe["parameters"] == 22_713_216


@pytest.mark.slow
def test_kerashub_tokenizer_gives_lesson02_ids(probe):
    assert probe["ids"] == [2129, 2024, 2017, 1029]


@pytest.mark.slow
def test_kerashub_bert_uses_the_tanh_gelu_and_bertlab_backbone_the_exact_one(probe):
    assert probe["upstream_activation"] == "gelu_approximate"
    assert probe["exact_activation"] == "gelu"


@pytest.mark.slow
def test_exact_gelu_matches_the_tf_hub_encoder_to_1e4_and_kerashubs_gelu_does_not(probe):
    # the lesson's claim: KerasHub as loaded differs by more than 1e-3 on real tokens; with the exact GELU, < 1e-4
    assert probe["gap_upstream"] > 1e-3
    assert probe["gap_exact"] < 1e-4
    assert probe["gap_pooled_exact"] < 1e-4


@pytest.mark.slow
def test_hf_query_key_value_reshaped_are_kerashubs_kernels_exactly(probe):
    assert probe["qkv_map_max_difference"] == 0.0
    assert probe["weight_map_rows"] == 11


@pytest.mark.slow
def test_saved_keras_classifier_reloads_with_identical_predictions_and_the_exact_gelu(probe):
    assert probe["logits_shape"] == [8, 2]
    assert probe["reload_identical"] and probe["reload_max_difference"] == 0.0
    assert probe["reloaded_activation"] == "gelu"


@pytest.mark.slow
def test_keras3_process_refuses_lessons_01_to_06_with_a_restart_message(probe):
    name, message, rendered = probe["encoder_import_error"]
    assert name == "KernelMixError"
    assert "Restart the kernel" in message and "Keras 2" in message and "lesson 07" in message
    assert rendered == [f"KernelMixError: {message}"]  # Jupyter shows this one line, no traceback
    name, message = probe["load_tf_model_error"]
    assert name == "KernelMixError" and "Restart the kernel" in message


# ------------------------------------------------------------------ Keras 2 process (this one)
@pytest.mark.slow
def test_kerashub_functions_in_a_keras2_kernel_say_what_to_restart():
    from bertlab import kerashub as kh

    assert os.environ["TF_USE_LEGACY_KERAS"] == "1"
    for call in (kh.load_backbone, kh.load_tokenizer, kh.load_upstream_backbone):
        with pytest.raises(env.KernelMixError, match="Restart the kernel") as caught:
            call()
        assert "BERTLAB_KERAS=3" in str(caught.value) and "Keras 2" in str(caught.value)
        assert caught.value._render_traceback_() == [f"KernelMixError: {caught.value}"]


def test_keras3_switch_after_tensorflow_was_imported_under_keras2_raises_kernel_mix_error():
    code = textwrap.dedent("""
        import os
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        import tensorflow
        os.environ["BERTLAB_KERAS"] = "3"
        try:
            import bertlab
        except Exception as error:
            print(type(error).__name__, "Restart the kernel" in str(error))
    """)
    result = _python(["-c", code])
    assert result.stdout.split() == ["KernelMixError", "True"], result.stderr[-2000:]


def test_keras3_mode_is_only_bertlab_keras_3(monkeypatch):
    for value, expected in [("3", True), (" 3 ", True), ("", False), ("2", False), ("yes", False)]:
        monkeypatch.setenv(env.KERAS3_SWITCH, value)
        assert env.keras3_mode() is expected
    monkeypatch.setenv(env.KERAS3_SWITCH, "3")
    with pytest.raises(env.KernelMixError, match="Restart the kernel"):
        env.require_keras2("hub.KerasLayer")
    monkeypatch.setenv(env.KERAS3_SWITCH, "")
    env.require_keras2("hub.KerasLayer")  # a Keras 2 process: nothing to say


@pytest.mark.slow
@pytest.mark.parametrize("module, when", [("rich", "import"), ("sentencepiece", "load")])
def test_a_missing_kerashub_dependency_gives_one_clear_message(module, when):
    # sys.modules[name] = None makes `import name` fail as if the package were not installed. Measured with
    # keras-hub 0.32: without rich (or regex) `import keras_hub` fails; without sentencepiece the import works
    # and reading the Hugging Face folder fails (kagglehub and tensorflow-text are not needed offline).
    code = textwrap.dedent(f"""
        import os, sys
        os.environ["BERTLAB_KERAS"] = "3"
        sys.modules["{module}"] = None
        import bertlab
        try:
            from bertlab import kerashub
            print("imported")
            kerashub.load_backbone()
        except ImportError as error:
            print(type(error).__name__)
            print(error)
            print(error._render_traceback_() == [f"KerasHubMissingError: {{error}}"])
    """)
    lines = _python(["-c", code]).stdout.splitlines()
    expected = ["imported"] if when == "load" else []
    assert lines[:len(expected) + 1] == [*expected, "KerasHubMissingError"], lines
    message = lines[len(expected) + 1]
    assert f"the module '{module}' is missing" in message and "pip install keras-hub==0.32.0 sentencepiece" in message
    assert "restart the kernel" in message and lines[-1] == "True"


# ------------------------------------------------------------------ pure functions
@pytest.mark.slow
def test_gelu_numpy_exact_and_tanh_differ_by_at_most_about_5e4():
    from bertlab import kerashub as kh

    x = np.linspace(-6, 6, 2001)
    exact, approximate = kh.gelu_numpy(x), kh.gelu_numpy(x, approximate=True)
    assert exact[1000] == 0.0 and abs(exact[-1] - 6.0) < 1e-6 and abs(exact[0]) < 1e-6
    gap = np.abs(exact - approximate)
    assert 1e-4 < gap.max() < 5e-4  # small per activation; 6 layers of it make lesson 07's 1e-3 gap
    assert abs(x[gap.argmax()]) > 1.0


@pytest.mark.slow
def test_hf_qkv_to_kerashub_gives_the_same_projection_as_the_linear_layer():
    from bertlab import kerashub as kh

    rng = np.random.default_rng(0)
    hidden, heads = 12, 3
    weight, bias, x = rng.normal(size=(hidden, hidden)), rng.normal(size=hidden), rng.normal(size=(2, 5, hidden))
    kernel, kbias = kh.hf_qkv_to_kerashub(weight, bias, heads)
    assert kernel.shape == (hidden, heads, hidden // heads) and kbias.shape == (heads, hidden // heads)
    linear = (x @ weight.T + bias).reshape(2, 5, heads, hidden // heads)
    np.testing.assert_allclose(np.einsum("btd,dhk->bthk", x, kernel) + kbias, linear, atol=1e-12)


@pytest.mark.slow
def test_lesson07_runs_top_to_bottom_on_the_jax_backend_with_the_same_checked_numbers(tmp_path):
    """Every cell of lesson 07 (quick mode) with KERAS_BACKEND=jax: the same parameters, ids, 1e-4 agreement with
    lesson 03's encoder, graded answers and identical reloaded predictions as on TensorFlow."""
    if importlib.util.find_spec("jax") is None:
        pytest.fail("jax is not installed: pip install -r requirements.txt (it pins jax and jaxlib)")
    import nbformat
    from nbclient import NotebookClient

    (path,) = (ROOT / "notebooks" / "solutions").glob("07_*.ipynb")
    nb = nbformat.read(path, as_version=4)
    variables = {"KERAS_BACKEND": "jax", "BERTLAB_QUICK": "1", "PYTHONPATH": str(ROOT)}
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        for name, value in saved.items():
            os.environ.pop(name) if value is None else os.environ.__setitem__(name, value)
    text = "\n".join(output.get("text", "") if output.get("output_type") == "stream" else output.get("data", {}).get("text/plain", "")
                     for cell in nb.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
                     if output.get("name") != "stderr")
    for line in ["backend jax", "22,713,216 parameters", "[2129, 2024, 2017, 1029]",
                 "KerasHub as loaded agrees with lesson 03's encoder to 1e-4: False",
                 "exact GELU agrees with lesson 03's encoder to 1e-4: True",
                 "largest difference from KerasHub's: 0.0", "reloaded model's predictions are identical: True",
                 "reloaded backbone's activation: gelu"]:
        assert line in text, line
    assert text.count("passed (") == 3, text


# ------------------------------------------------------------------ the doctor's lesson-07 rows
def test_doctor_reports_keras3_and_kerashub_with_its_extra_modules():
    from bertlab import doctor

    versions = {"keras": "3.15.1", "keras-hub": "0.32.0", "sentencepiece": "0.2.3", "kagglehub": "1.0.2",
                "kagglesdk": "0.1.28", "regex": "2026.11.19", "rich": "15.0.0"}
    assert doctor.check_keras3(versions.get).status == doctor.OK
    assert doctor.check_keras3({"keras": "2.15.0"}.get).status == doctor.WARN  # lesson 07 only: never a FAIL
    assert doctor.check_keras3({}.get).fix == doctor.KERASHUB_INSTALL
    ok = doctor.check_kerashub(versions.get)
    assert ok.status == doctor.OK and ok.detail.startswith("0.32.0")
    without = doctor.check_kerashub({k: v for k, v in versions.items() if k != "sentencepiece"}.get)
    assert without.status == doctor.WARN and "without sentencepiece" in without.detail
    assert without.fix == doctor.KERASHUB_INSTALL
    assert doctor.check_kerashub({}.get).status == doctor.WARN
    assert doctor.check_kerashub({**versions, "keras-hub": "0.33.1"}.get).status == doctor.WARN


def test_doctor_turns_a_kerashub_that_does_not_import_into_a_fail_with_the_install_line():
    from bertlab import doctor

    check = doctor.Check("KerasHub", doctor.OK, "0.32.0")
    [confirmed] = doctor.confirm_imports([check], problems=lambda modules: {"keras_hub": "ModuleNotFoundError: No module named 'rich'"})
    assert confirmed.status == doctor.FAIL and "import keras_hub" in confirmed.detail
    assert confirmed.fix.startswith(doctor.KERASHUB_INSTALL)
