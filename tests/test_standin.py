"""The BERT-base stand-in loads offline through the real libraries' code, labelled as random."""
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from bertlab import models
from tools import standin

ROOT = Path(__file__).resolve().parents[1]
SPEC = models.get_spec("bert-base-uncased")
HOW_ARE_YOU = [101, 2129, 2024, 2017, 1029, 102]


def test_stand_in_configuration_is_bert_base_uncased():
    config = standin.BERT_BASE_CONFIG
    assert (config["vocab_size"], config["num_hidden_layers"], config["hidden_size"]) == (30522, 12, 768)
    assert (config["num_attention_heads"], config["intermediate_size"], config["max_position_embeddings"]) == (12, 3072, 512)
    assert (SPEC.num_layers, SPEC.hidden_size) == (config["num_hidden_layers"], config["hidden_size"])


def test_build_command_refuses_to_guess_the_caches(capsys):
    with pytest.raises(SystemExit):
        standin.main(["build"])
    assert "--hf-home" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_standin(tmp_path_factory):
    """The tiny stand-in (same vocabulary and interfaces, 2 layers of 32) in fresh caches."""
    root = tmp_path_factory.mktemp("standin")
    caches = {"HF_HOME": str(root / "hf"), "TFHUB_CACHE_DIR": str(root / "tfhub")}
    result = subprocess.run(
        [sys.executable, "-m", "tools.standin", "build", "--tiny", "--hf-home", caches["HF_HOME"],
         "--tfhub-cache-dir", caches["TFHUB_CACHE_DIR"]],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return caches, json.loads(result.stdout)


def run_offline(caches: dict, code: str) -> subprocess.CompletedProcess:
    """A fresh interpreter that sees only the stand-in caches and may not reach the network."""
    env = dict(os.environ, **caches, HF_HUB_OFFLINE="1", BERTLAB_MODEL="bert-base-uncased")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_stand_in_is_where_the_libraries_look(tiny_standin):
    caches, summary = tiny_standin
    snapshot = summary["snapshot"]
    refs = os.path.join(caches["HF_HOME"], "hub", "models--bert-base-uncased", "refs", "main")
    assert open(refs).read() == os.path.basename(snapshot)
    assert {"config.json", "tf_model.h5", "vocab.txt", "tokenizer.json", models.STANDIN_MARKER} <= set(os.listdir(snapshot))
    for key, handle in (("preprocess", SPEC.hub_preprocess), ("encoder", SPEC.hub_encoder)):
        assert summary["hub"][key] == str(models.hub_module_dir(handle, caches["TFHUB_CACHE_DIR"]))
        assert os.path.isfile(os.path.join(summary["hub"][key], "saved_model.pb"))
        assert json.load(open(os.path.join(summary["hub"][key], models.STANDIN_MARKER)))["handle"] == handle


@pytest.mark.slow
def test_transformers_and_tf_hub_load_the_stand_in_offline_by_their_real_names(tiny_standin):
    caches, _ = tiny_standin
    result = run_offline(caches, f"""
        import warnings, numpy as np
        import bertlab, tensorflow as tf, tensorflow_hub as hub, tensorflow_text, transformers
        from bertlab import models
        models.unreachable_reason = lambda url, timeout=3.0: "the test forbids the network"
        model = transformers.TFAutoModel.from_pretrained("bert-base-uncased")
        tokenizer = transformers.AutoTokenizer.from_pretrained("bert-base-uncased")
        assert tokenizer("How are you?")["input_ids"] == {HOW_ARE_YOU}, tokenizer("How are you?")
        assert model.config.vocab_size == 30522 and model.config.num_hidden_layers == 2
        assert models.vocab_path().read_text() == models.vocab_path("minilm-l6").read_text()  # the real vocabulary
        preprocess = hub.KerasLayer("{SPEC.hub_preprocess}")
        encoder = hub.KerasLayer("{SPEC.hub_encoder}")
        inputs = preprocess(tf.constant(["How are you?"]))
        assert inputs["input_word_ids"].numpy()[0, :6].tolist() == {HOW_ARE_YOU}
        outputs = encoder(inputs)
        assert len(outputs["encoder_outputs"]) == 2 and outputs["sequence_output"].shape == (1, 128, 32)
        reference = model(input_ids=inputs["input_word_ids"], attention_mask=inputs["input_mask"],
                          token_type_ids=inputs["input_type_ids"])
        np.testing.assert_allclose(outputs["sequence_output"], reference.last_hidden_state, atol=1e-5)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert bertlab.hub_handles() == {{"preprocess": "{SPEC.hub_preprocess}", "encoder": "{SPEC.hub_encoder}"}}
            bertlab.load_tf_model(task="sequence-classification", num_labels=3)
        labels = [w for w in caught if issubclass(w.category, models.RandomWeightsWarning)]
        print(len(labels), "RANDOM weights" in str(labels[0].message))
        """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-2:] == ["3", "True"]  # two hub handles + the Hugging Face model


# --- hub_handles: the cache first -------------------------------------------------------------


def no_network(monkeypatch):
    monkeypatch.setattr(models, "unreachable_reason", lambda url, timeout=3.0: "gaierror: no DNS")


def test_hub_handles_hands_out_cached_modules_without_the_network(monkeypatch, tmp_path):
    no_network(monkeypatch)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    for handle in (SPEC.hub_preprocess, SPEC.hub_encoder):
        folder = models.hub_module_dir(handle)
        folder.mkdir()
        (folder / "saved_model.pb").write_bytes(b"")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a real download carries no stand-in marker: no warning
        assert models.hub_handles("bert-base-uncased") == {"preprocess": SPEC.hub_preprocess, "encoder": SPEC.hub_encoder}


def test_hub_handles_names_the_handle_missing_from_both_cache_and_network(monkeypatch, tmp_path):
    no_network(monkeypatch)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    folder = models.hub_module_dir(SPEC.hub_preprocess)
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"")
    models.hub_module_dir(SPEC.hub_encoder).mkdir()  # an empty folder is not a download (TF Hub's own rule)
    with pytest.raises(models.ModelUnavailableError, match=r"L-12_H-768_A-12/4\), which is neither in the TF Hub cache"):
        models.hub_handles("bert-base-uncased")


def test_hub_module_dir_is_tensorflow_hubs_own_cache_folder(monkeypatch, tmp_path):
    from tensorflow_hub import compressed_module_resolver

    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    assert str(models.hub_module_dir(SPEC.hub_encoder)) == compressed_module_resolver._module_dir(SPEC.hub_encoder)


# --- make test-bertbase: the check on which BERT each lesson used ------------------------------


def notebook_runner():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tools" / "bertbase_notebooks.py"
    spec = importlib.util.spec_from_file_location("bertbase_notebooks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebook_check_fails_a_lesson_that_used_the_embedded_model_or_no_bert_base():
    runner = notebook_runner()
    assert runner.problems_with("05", [{"kind": "transformers", "layers": 12, "hidden": 768}]) == []
    assert runner.problems_with("04", [{"layers": 2, "hidden": 128}, {"layers": 12, "hidden": 768}]) == []
    assert runner.problems_with("02", []) == []  # tokenizing only
    embedded = runner.problems_with("06", [{"layers": 6, "hidden": 384}])
    assert len(embedded) == 2 and "embedded model" in embedded[0] and "12 layers and hidden 768" in embedded[1]
    assert runner.problems_with("03", []) != []


def _notebook(*cells):
    import nbformat

    nb = nbformat.v4.new_notebook()
    for source, tags in cells:
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)}))
    return nb


def test_model_cells_leave_out_tagged_cells_their_readers_and_check_cells_only():
    runner = notebook_runner()
    nb = _notebook(
        ("import numpy as np\nencoder = load()", ()),                       # 0 runs
        ("corpus = encoder(big_data)", ("bertbase-skip",)),                  # 1 tagged
        ("print(corpus.shape)", ()),                                         # 2 reads corpus
        ("top = [c for c in corpus]", ()),                                   # 3 reads corpus
        ("print(top)", ()),                                                  # 4 reads top (from 3)
        ("# NBVAL_CHECK_OUTPUT\ncheck(\"lesson05.f\", f)", ()),              # 5 a check cell
        ("corpus = encoder(['one'])\nprint(corpus)", ()),                    # 6 binds corpus itself
        ("print(corpus, [k for k in range(3)], np.pi)", ()),                 # 7 corpus is fresh again
        ("%%time\nvectors = encoder(['two'])", ()),                          # 8 a cell magic
    )
    run, left_out = runner.model_cells(nb)
    assert run == [0, 6, 7, 8]
    assert left_out[1] == "tagged bertbase-skip"
    assert left_out[2] == left_out[3] == "reads 'corpus' from cell 1, which was left out"
    assert left_out[4] == "reads 'top' from cell 3, which was left out"
    assert left_out[5].startswith("a check cell")


def test_every_lesson_that_loads_bert_keeps_its_model_cells_under_bert_base():
    import nbformat
    from pathlib import Path

    runner = notebook_runner()
    solutions = Path(__file__).resolve().parents[1] / "notebooks" / "solutions"
    loaders = ("load_encoder", "load_tf_model", "make_classifier", "build_functional_classifier",
               "from_pretrained", "hub_handles", "load_tokenizer")
    for lesson in runner.DEFAULT_LESSONS:
        (path,) = solutions.glob(f"{lesson}_*.ipynb")
        nb = nbformat.read(path, as_version=4)
        run, left_out = runner.model_cells(nb)
        kept = "\n".join(nb.cells[i].source for i in run)
        assert any(name in kept for name in loaders), f"{path.name}: no cell that loads a model is run"
        # Nothing that loads or trains the model is left out, except the tagged bulk cells.
        for index, why in left_out.items():
            source = nb.cells[index].source
            if "fit(" in source or "train_classifier(" in source:
                assert why == "tagged bertbase-skip", f"{path.name} cell {index}: training left out ({why})"
