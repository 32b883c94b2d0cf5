"""The stored outputs of the solution notebooks are what a learner should read: no start-up noise.

TensorFlow's native start-up lines, transformers' loading reports and v5 notice, keras-bert's
unseeded-initializer warning and Jupyter's missing-widgets warning tell a learner nothing about
the lesson; ``bertlab`` hides them (``env.quiet_native_stderr``, ``models.quiet_transformers``,
a warnings filter, ipywidgets in the requirements). A notebook re-run without those fixes
shows them again, and this test names the cell.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb"))
NOISE = {
    "absl start-up line": re.compile(r"absl::InitializeLog|cudart_stub\.cc|cpu_feature_guard\.cc|oneDNN custom operations"),
    "transformers v5 notice": re.compile(r"TensorFlow and JAX classes are deprecated"),
    "transformers loading report": re.compile(r"All (the layers|model checkpoint layers) .*(initialized|were used)"),
    "unseeded initializer warning": re.compile(r"The initializer \w+ is unseeded"),
    "missing widgets warning": re.compile(r"IProgress not found"),
}


def _output_text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return "".join(output.get("text", ""))
    return "".join("".join(v) if isinstance(v, list) else str(v) for v in output.get("data", {}).values())


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_stored_outputs_hold_no_start_up_noise(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = []
    for number, cell in enumerate(cells):
        text = "".join(_output_text(o) for o in cell.get("outputs", []))
        found += [f"cell {number}: {what}" for what, pattern in NOISE.items() if pattern.search(text)]
    assert not found, f"{path.name}: " + "; ".join(found)


def test_the_noise_patterns_match_the_lines_they_name():
    lines = {
        "absl start-up line": "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "transformers v5 notice": "TensorFlow and JAX classes are deprecated and will be removed in Transformers v5.",
        "transformers loading report": "All the layers of TFBertModel were initialized from the model checkpoint at x.",
        "unseeded initializer warning": "UserWarning: The initializer GlorotNormal is unseeded and being called multiple times",
        "missing widgets warning": "TqdmWarning: IProgress not found. Please update jupyter and ipywidgets.",
    }
    for what, line in lines.items():
        assert NOISE[what].search(line), what
    assert not any(p.search("epoch 1/3: loss 0.52, accuracy 0.74") for p in NOISE.values())


# --- numbers a lesson quotes from a benchmark come from its results file, as committed -----------------
RESULTS = ROOT / "benchmarks" / "results"


def _cells_reading(notebook: str, results_file: str) -> list[dict]:
    cells = json.loads((ROOT / "notebooks" / "solutions" / notebook).read_text(encoding="utf-8"))["cells"]
    reading = [c for c in cells if c["cell_type"] == "code" and results_file in "".join(c["source"])]
    assert reading, f"{notebook} has no cell that reads {results_file}"
    return reading


def _outputs_of_cells_reading(notebook: str, results_file: str) -> str:
    return "".join(_output_text(o) for c in _cells_reading(notebook, results_file) for o in c.get("outputs", []))


def test_lesson_05_shows_the_committed_mrpc_seed_study_and_padding_figures():
    shown = _outputs_of_cells_reading("05_fine_tuning_mrpc.ipynb", "mrpc.json")
    recorded = json.loads((RESULTS / "mrpc.json").read_text())
    studies = sorted(RESULTS.glob("mrpc_recipe_*.json"))
    assert {"lesson", recorded["config"]["recipe"]} <= {json.loads(p.read_text())["config"]["recipe"] for p in studies}
    for path in studies:
        record = json.loads(path.read_text())
        accuracy, f1 = record["metrics"]["dev_accuracy"], record["metrics"]["dev_f1"]
        assert len(record["members"]) == 5, path.name
        line = (f"recipe {record['config']['recipe']!r:<10} 5 seeds: accuracy {accuracy['mean']:.1%} ± {100 * accuracy['std']:.1f} "
                f"points (range {accuracy['min']:.1%}-{accuracy['max']:.1%}), F1 {f1['mean']:.3f} ± {f1['std']:.3f}")
        assert line in shown, line
    assert f"recipe {recorded['config']['recipe']!r:<10}" in shown.split("<- recorded in mrpc.json")[0].splitlines()[-1]
    assert recorded["members"] == json.loads((RESULTS / f"mrpc_recipe_{recorded['config']['recipe']}.json").read_text())["members"]
    assert "image/png" in json.dumps(_cells_reading("05_fine_tuning_mrpc.ipynb", "mrpc.json"))  # the distribution plot
    # the prose's ensemble figure is the lesson recipe's, as committed
    ensemble = json.loads((RESULTS / "mrpc_recipe_lesson.json").read_text())["metrics"]["ensemble_of_the_runs"]
    cells = json.loads((ROOT / "notebooks" / "solutions" / "05_fine_tuning_mrpc.ipynb").read_text(encoding="utf-8"))["cells"]
    prose = " ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown").replace("\n", " ")
    assert f"to {100 * ensemble['dev_accuracy']:.1f} %" in prose
    padding = json.loads((RESULTS / "padding.json").read_text())["metrics"]
    assert f"'speedup': {padding['speedup']}" in _outputs_of_cells_reading("05_fine_tuning_mrpc.ipynb", "padding.json")


def test_lesson_06_shows_the_committed_cross_validated_spam_figures():
    cv = json.loads((RESULTS / "spam.json").read_text())["cv"]
    shown = _outputs_of_cells_reading("06_spam_classifier.ipynb", "spam.json")
    for key in ("features_spam_f1", "tfidf_spam_f1"):
        assert f"{cv[key]['mean']:.3f} ± {cv[key]['std']:.3f} over {cv['folds']} folds" in shown
