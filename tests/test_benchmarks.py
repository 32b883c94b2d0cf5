"""The benchmark scripts still run (tiny settings, results written to a temporary folder)."""
import json
import subprocess
import sys
from pathlib import Path

import bertlab  # noqa: F401  (Keras 2 first)
import numpy as np
import pytest
import tensorflow as tf

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_cpu_speed_quick_measures_every_setting_in_interleaved_rounds(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cpu_speed.py"), "--quick", "--results-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "cpu_speed_quick.json").read_text())
    settings, metrics = record["settings"], record["metrics"]
    assert [settings[s]["onednn_enabled"] for s in ("onednn_off_fp32", "onednn_on_fp32", "onednn_on_bf16")] == [False, True, True]
    assert settings["onednn_on_bf16"]["sequence_output_dtype"] == "bfloat16"
    assert settings["onednn_on_fp32"]["sequence_output_dtype"] == "float32"
    assert len(record["rounds"]) == 1 and set(record["rounds"][0]) == set(settings)
    for s in settings:
        rate = metrics[f"{s}_train_examples_per_second"]
        assert 0 < rate["min"] <= rate["median"] <= rate["max"]
        assert metrics[f"{s}_inference_examples_per_second"]["median"] > 0
        assert 0 < metrics[f"{s}_train_fraction_of_fp32_matmul_peak"] < 1
    for pair in ("onednn_on_vs_off_fp32", "bf16_vs_fp32_onednn_on"):
        assert metrics[f"{pair}_train_speedup"]["median"] > 0
    # training FLOPs: 6 x matmul weights x tokens + attention products, as the docstring says
    tiny = settings["onednn_off_fp32"]
    tokens = tiny["batch"] * tiny["seq"]
    attention = 3 * 2 * tiny["batch"] * 4 * tiny["seq"] ** 2 * 32  # 2 layers, hidden 32
    assert tiny["train_flops_per_step"] == 6 * tiny["matmul_weights"] * tokens + attention
    assert record["load_average_1min"].keys() == {"before", "after"}


def _benchmark_module(name: str):
    """A script of benchmarks/ imported as a module (they import their neighbour `common`)."""
    import importlib

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_layerwise_decay_scales_by_depth_from_the_top():
    mrpc = _benchmark_module("mrpc")
    scale = lambda name: mrpc.llrd_scale(name, num_layers=6, decay=0.5)  # noqa: E731
    assert scale("classifier/kernel:0") == 1.0
    assert scale("tf_bert_model/bert/pooler/dense/kernel:0") == 1.0
    assert scale("tf_bert_model/bert/encoder/layer_._5/attention/self/query/kernel:0") == 0.5
    assert scale("tf_bert_model/bert/encoder/layer_._0/output/dense/bias:0") == 0.5 ** 6
    assert scale("tf_bert_model/bert/embeddings/word_embeddings/weight:0") == 0.5 ** 7


def test_layerwise_adamw_takes_a_smaller_step_for_lower_layers():
    import tensorflow as tf

    from bertlab import finetuning as ft

    mrpc = _benchmark_module("mrpc")
    with tf.name_scope("bert"):
        top = tf.Variable([1.0, 1.0], name="encoder/layer_._1/w")
        low = tf.Variable([1.0, 1.0], name="encoder/layer_._0/w")
        head = tf.Variable([1.0, 1.0], name="classifier/kernel")
    assert "/layer_._0/" in low.name
    optimizer = mrpc.layerwise_adamw(ft.create_optimizer(1e-2, total_steps=10, warmup_ratio=0.0, weight_decay=0.0),
                                     num_layers=2, decay=0.5)
    gradient = tf.constant([1.0, -1.0])
    optimizer.apply_gradients([(gradient, head), (gradient, top), (gradient, low)])
    steps = [1.0 - v.numpy()[0] for v in (head, top, low)]
    # Adam's first step is lr * sign(gradient): 1e-2 for the head, halved per layer below it
    np.testing.assert_allclose(steps, [1e-2, 5e-3, 2.5e-3], rtol=1e-3)


def test_reinitialising_the_top_layer_leaves_the_others_as_they_were():
    from transformers import BertConfig, TFBertModel

    mrpc = _benchmark_module("mrpc")
    config = BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32)
    encoder = TFBertModel(config)
    encoder(encoder.dummy_inputs)
    before = [[w.numpy() for w in layer.weights] for layer in encoder.bert.encoder.layer]
    mrpc.reinitialize_top_layers(encoder, 1)
    for old, layer in zip(before[:2], encoder.bert.encoder.layer[:2]):
        for a, w in zip(old, layer.weights):
            np.testing.assert_array_equal(a, w.numpy())
    top = {w.name.split("layer_._2/")[1]: w.numpy() for w in encoder.bert.encoder.layer[2].weights}
    assert all(not np.array_equal(a, b) for a, b in zip(before[2], top.values()) if a.ndim == 2)
    np.testing.assert_array_equal(top["output/LayerNorm/gamma:0"], 1.0)
    np.testing.assert_array_equal(top["attention/self/query/bias:0"], 0.0)
    assert abs(top["attention/self/query/kernel:0"].std() - 0.02) < 0.006
    assert not np.array_equal(top["attention/self/query/kernel:0"], top["attention/self/key/kernel:0"])


@pytest.mark.slow
def test_mrpc_reports_each_seed_and_their_spread(tmp_path, shared_data_dir):
    import os

    env = {**os.environ, "BERTLAB_DATA": str(shared_data_dir)}
    args = ["--recipe", "average", "--also-average", "0.25", "--seeds", "3", "4", "--soup", "2", "--llrd", "0.9", "--reinit-top", "1",
            "--epochs", "1", "--batch-size", "16", "--train-limit", "48", "--dev-limit", "40", "--label", "smoke",
            "--name", "mrpc_smoke", "--results-dir", str(tmp_path)]
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "mrpc.py"), *args], capture_output=True, text=True,
                            timeout=900, env=env, cwd=ROOT / "benchmarks")
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "mrpc_smoke.json").read_text())
    members, metrics = record["members"], record["metrics"]
    assert [m["seed"] for m in members] == [3, 4]
    accuracies = [m["dev_accuracy"] for m in members]
    assert metrics["dev_accuracy"]["mean"] == pytest.approx(np.mean(accuracies), abs=1e-4)
    assert metrics["dev_accuracy"]["std"] == pytest.approx(np.std(accuracies, ddof=1), abs=1e-4)
    assert all(0 <= m["dev_f1"] <= 1 and m["train_minutes"] > 0 for m in members)
    assert all(len(m["ingredient_variants"]) == 2 and "last" in m["ingredient_variants"][0] for m in members)  # a soup of two
    assert record["config"]["soup"] == 2 and record["config"]["llrd"] == 0.9 and record["config"]["reinit_top"] == 1
    assert record["target_met"] is False and record["majority_baseline"] == {"dev_accuracy": 0.684, "dev_f1": 0.812}
    assert "seed 3: accuracy" in result.stdout and "target met" in result.stdout


@pytest.mark.slow
def test_lesson_benchmark_reports_the_kernels_peak_memory_and_the_slowest_cell(tmp_path):
    import nbformat

    lessons = _benchmark_module("lessons")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("import time\nblock = bytearray(600 * 2**20)  # 600 MiB, touched\ntime.sleep(1.5)"),
                nbformat.v4.new_code_cell("del block")]
    path = tmp_path / "99_tiny.ipynb"
    nbformat.write(nb, path)
    member = lessons.run_lesson(path)
    assert 0.58 <= member["peak_rss_gb"] < 2.0  # the high-water mark, although the block was freed
    assert member["slowest_cells"][0]["cell"] == 1 and member["slowest_cells"][0]["seconds"] >= 1.4
    assert 0 < member["minutes"] < 2 and 0 < member["cpu_minutes"] < 2


def test_readme_and_contributing_quote_the_committed_lesson_and_ci_figures():
    """The lesson table's minutes and memory and the CI stage table come from benchmarks/results."""
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "readme_figures.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lessons = json.loads((ROOT / "benchmarks" / "results" / "lessons.json").read_text())
    for member in lessons["members"]:
        row = next(line for line in readme.splitlines() if line.startswith(f"| {member['notebook'][:2]} | ["))
        assert f"| {member['minutes']:.1f} min | {member['peak_rss_gb']:.1f} GB" in row


def test_readme_figure_blocks_are_rebuilt_from_the_results_files(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_figures", ROOT / "tools" / "readme_figures.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    (tmp_path / "lessons.json").write_text(json.dumps({
        "date": "2026-12-02", "over_goal": ["05_x.ipynb"],
        "metrics": {"goal_minutes_per_lesson": 15, "goal_gb_per_lesson": 4},
        "members": [{"notebook": "01_x.ipynb", "minutes": 1.24, "peak_rss_gb": 1.26, "load_1min_before": 0.5},
                    {"notebook": "05_x.ipynb", "minutes": 16.0, "peak_rss_gb": 2.0, "load_1min_before": 1.5}]}))
    monkeypatch.setattr(tool, "RESULTS", tmp_path)
    text = ("<!-- generated: lesson-table -->\n| # | lesson | you will | full run | peak |\n|---|---|---|---|---|\n"
            "| 01 | [One](a) | learn | 9 min | 9 GB |\n| 05 | [Five](b) | more | | |\n<!-- end: lesson-table -->\n"
            "goal:\n<!-- generated: lesson-goal -->\nold\n<!-- end: lesson-goal -->\n")
    out = tool.render(text)
    assert "| 01 | [One](a) | learn | 1.2 min | 1.3 GB |" in out
    assert "| 05 | [Five](b) | more | 16.0 min | 2.0 GB (over the goal) |" in out
    assert "over it: 05 (16.0 min, 2.0 GB) (measured 2026-12-02, 1-minute load 0.5–1.5" in out
    assert tool.render(out) == out


@pytest.mark.parametrize("quick", ["1", ""])
def test_the_pretraining_benchmark_reads_lesson_04s_configuration_in_its_mode(monkeypatch, quick):
    common = _benchmark_module("common")
    monkeypatch.setenv("BERTLAB_QUICK", quick)
    settings = common.lesson_configuration("04_pretraining_tasks")
    assert settings["EPOCHS"] == (3 if quick else 20) == settings["DUPLICATES"]
    assert {k: settings[k] for k in ("BATCH_SIZE", "PEAK_LR", "WARMUP", "MAX_LENGTH", "SEED")} == {
        "BATCH_SIZE": 32, "PEAK_LR": 1e-3, "WARMUP": 0.1, "MAX_LENGTH": 64, "SEED": 0}
    with pytest.raises(LookupError, match="no cell with id 'nowhere'"):
        common.lesson_configuration("04_pretraining_tasks", "nowhere")


# --------------------------------------------------------------------------- benchmarks/spam.py --cv
def spam_benchmark():
    """benchmarks/spam.py, whose cross-validation helpers are maintainers' code (not bertlab's)."""
    return _benchmark_module("spam")


def test_feature_variants_add_the_last_four_layers_average_and_the_last_two_side_by_side():
    rng = np.random.default_rng(0)
    layers = {f"layer{k}_{p}": rng.normal(size=(5, 4)) for k in range(7) for p in ("mean", "cls")}
    layers["pooled"] = rng.normal(size=(5, 4))
    variants = spam_benchmark().feature_variants(layers)
    np.testing.assert_allclose(variants["last4_mean_avg"], np.mean([layers[f"layer{k}_mean"] for k in (3, 4, 5, 6)], axis=0))
    np.testing.assert_array_equal(variants["layer5+6_mean"], np.hstack([layers["layer5_mean"], layers["layer6_mean"]]))
    assert sorted(variants) == sorted([f"layer{k}_mean" for k in range(1, 7)] + ["layer6_cls", "pooled", "last4_mean_avg",
                                                                                  "layer5+6_mean"])


def _separable(n=200, spam_share=0.15, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < spam_share).astype(int)
    signal = rng.normal(size=(n, 8)) + 2.5 * y[:, None]
    noise = rng.normal(size=(n, 8))
    texts = np.where(y == 1, "WIN a FREE prize, txt CLAIM now", "see you at lunch later")
    return texts, y, {"signal": signal, "noise": noise}


def test_tuning_picks_the_informative_features():
    _, y, variants = _separable()
    model, chosen = spam_benchmark().tune_feature_classifier(variants, y, Cs=(0.1, 1.0), scalings=("standard",))
    assert chosen["variant"] == "signal" and chosen["inner_spam_f1"] > 0.9
    assert (model.predict(variants["signal"]) == y).mean() > 0.95  # refit on all the rows given
    _, chosen = spam_benchmark().tune_feature_classifier(variants, y, Cs=(1.0,), scalings=("standard", "l2"), inner_folds=1)
    assert chosen["variant"] == "signal"  # one stratified hold-out instead of inner folds


def test_cross_validation_tunes_on_training_folds_only_and_reports_mean_and_spread(monkeypatch):
    texts, y, variants = _separable()
    variants["row"] = np.arange(len(y), dtype=float)[:, None]
    seen = []
    benchmark = spam_benchmark()
    real_tune = benchmark.tune_feature_classifier

    def spy(fold_variants, labels, **kwargs):
        seen.append(set(fold_variants.pop("row")[:, 0].astype(int)))
        return real_tune(fold_variants, labels, Cs=(1.0,), scalings=("standard",), **kwargs)

    monkeypatch.setattr(benchmark, "tune_feature_classifier", spy)
    result = benchmark.cross_validate_spam(texts, y, variants, folds=4, seed=1)
    members = result["members"]
    assert [m["fold"] for m in members] == [0, 1, 2, 3]
    assert sum(m["test_messages"] for m in members) == len(y)
    spam_per_fold = [m["test_spam"] for m in members]
    assert sum(spam_per_fold) == y.sum() and max(spam_per_fold) - min(spam_per_fold) <= 1  # stratified
    for rows, m in zip(seen, members):
        assert len(rows) == len(y) - m["test_messages"]  # the held-out fold never reaches the tuning
    assert set().union(*[set(range(len(y))) - rows for rows in seen]) == set(range(len(y)))
    f1 = [m["features_spam_f1"] for m in members]
    assert result["features_spam_f1"]["mean"] == pytest.approx(np.mean(f1))
    assert result["features_spam_f1"]["std"] == pytest.approx(np.std(f1, ddof=1))
    assert result["features_spam_f1"]["mean"] > 0.9 and result["tfidf_spam_f1"]["mean"] > 0.9


def test_cross_validation_rejects_features_that_do_not_match_the_texts():
    texts, y, variants = _separable()
    with pytest.raises(ValueError, match="has 199 rows for 200 texts"):
        spam_benchmark().cross_validate_spam(texts, y, {"short": variants["signal"][:-1]})


# --------------------------------------------------------------------------- benchmarks/mrpc.py --average-from
class WeightsAfterEachBatch(tf.keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.snapshots = []

    def on_train_batch_end(self, batch, logs=None):
        self.snapshots.append([v.numpy() for v in self.model.trainable_variables])


@pytest.mark.parametrize("start_step, every", [(0, 1), (5, 1), (3, 4)])
def test_weight_averaging_is_the_mean_of_the_snapshots_from_its_start_step(start_step, every):
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(4), tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.SGD(0.1), loss="mse")
    x, y = np.random.default_rng(0).normal(size=(24, 3)), np.random.default_rng(1).normal(size=(24, 1))
    snapshots, averaging = WeightsAfterEachBatch(), _benchmark_module("mrpc").WeightAveraging(start_step, every)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[snapshots, averaging])  # 12 steps
    chosen = snapshots.snapshots[start_step::every]
    assert averaging.count == len(chosen) > 0
    for got, *values in zip(averaging.averaged_weights(), *chosen):
        np.testing.assert_allclose(got, np.mean(values, axis=0), rtol=1e-5, atol=1e-6)
    last = [v.numpy() for v in model.trainable_variables]
    averaging.apply()
    for variable, got in zip(model.trainable_variables, averaging.averaged_weights()):
        np.testing.assert_allclose(variable.numpy(), got, rtol=1e-6)
    assert any(not np.allclose(a, b) for a, b in zip(last, averaging.averaged_weights()))
    averaging.restore()
    for variable, value in zip(model.trainable_variables, last):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_weight_averaging_says_when_nothing_was_averaged():
    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    averaging = _benchmark_module("mrpc").WeightAveraging(start_step=100)
    model.fit(np.zeros((4, 2)), np.zeros((4, 1)), batch_size=2, epochs=1, verbose=0, callbacks=[averaging])
    with pytest.raises(ValueError, match="training ran 2 steps, averaging starts at step 100"):
        averaging.averaged_weights()
    with pytest.raises(ValueError, match="start_step >= 0 and every >= 1"):
        _benchmark_module("mrpc").WeightAveraging(-1)
