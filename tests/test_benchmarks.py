"""The benchmark scripts still run (tiny settings, results written to a temporary folder)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

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
