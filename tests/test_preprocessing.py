"""Tests of bertlab.preprocessing: texts -> BERT inputs, the three ways to tokenize, token lengths."""
import bertlab  # noqa: F401  (Keras 2 before tensorflow)

import warnings

import numpy as np
import pandas as pd
import pytest

from bertlab import encoder, finetuning, pretraining, spam
from bertlab import preprocessing as pp
from bertlab.data import load_mrpc, load_sms_spam


@pytest.fixture(scope="module")
def mrpc():
    return load_mrpc("train")


@pytest.fixture(scope="module")
def sms():
    return load_sms_spam()


# --- the seed examples -----------------------------------------------------------------------
def test_wordpiece_splits_embed_and_adds_cls_and_sep():
    inputs = pp.get_inputs(["I want to embed. Maybe now"], padding="longest")
    tokens = pp._tokenizer(None).convert_ids_to_tokens(inputs["input_word_ids"][0].tolist())
    assert tokens == ["[CLS]", "i", "want", "to", "em", "##bed", ".", "maybe", "now", "[SEP]"]
    assert inputs["input_word_ids"][0].tolist() == [101, 1045, 2215, 2000, 7861, 8270, 1012, 2672, 2085, 102]


def test_three_sentences_become_int32_arrays_of_shape_3_by_128():
    inputs = pp.get_inputs(["How are you?", "I want to embed. Maybe now", "Hello"])
    assert list(inputs) == ["input_word_ids", "input_mask", "input_type_ids"]
    for array in inputs.values():
        assert array.shape == (3, 128) and array.dtype == np.int32
    assert inputs["input_word_ids"][0, :8].tolist() == [101, 2129, 2024, 2017, 1029, 102, 0, 0]
    assert inputs["input_mask"][0].sum() == 6 and inputs["input_type_ids"].sum() == 0


def test_a_pair_gets_type_id_one_on_the_second_segment_and_its_sep():
    inputs = pp.get_inputs(["How are you?"], ["Fine."], max_length=12)
    assert inputs["input_word_ids"][0].tolist() == [101, 2129, 2024, 2017, 1029, 102, 2986, 1012, 102, 0, 0, 0]
    assert inputs["input_type_ids"][0].tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0]
    assert inputs["input_mask"][0].tolist() == [1] * 9 + [0] * 3


def test_transformers_names_are_available_for_tf_bert_models():
    inputs = pp.get_inputs("Hello there", names="transformers", max_length=8)
    assert list(inputs) == ["input_ids", "attention_mask", "token_type_ids"]


def test_dynamic_padding_pads_to_the_longest_in_the_batch(mrpc):
    texts = list(mrpc.sentence1[:16])
    fixed = pp.get_inputs(texts)
    dynamic = pp.get_inputs(texts, padding="longest")
    longest = int(pp.token_lengths(texts).max())
    assert dynamic["input_word_ids"].shape == (16, longest)
    np.testing.assert_array_equal(dynamic["input_word_ids"], fixed["input_word_ids"][:, :longest])
    assert fixed["input_word_ids"][:, longest:].sum() == 0


# --- truncation ------------------------------------------------------------------------------
def test_pairs_are_truncated_longest_first_as_transformers_does(mrpc):
    tokenizer = pp._tokenizer(None)
    firsts, seconds = list(mrpc.sentence1[:50]), list(mrpc.sentence2[:50])
    inputs = pp.get_inputs(firsts, seconds, max_length=40, warn=False)
    for i in range(50):
        a = tokenizer(firsts[i], add_special_tokens=False)["input_ids"]
        b = tokenizer(seconds[i], add_special_tokens=False)["input_ids"]
        room = 40 - 3
        if len(a) + len(b) > room:
            # the shorter keeps up to half the room, the longer takes the rest (ties: the first is "shorter")
            short, long_ = (b, a) if len(a) > len(b) else (a, b)
            keep_short = min(len(short), room // 2)
            keep = {id(short): keep_short, id(long_): room - keep_short}
            a, b = a[: keep[id(a)]], b[: keep[id(b)]]
        expected = [101] + a + [102] + b + [102]
        assert inputs["input_word_ids"][i, : len(expected)].tolist() == expected
        assert inputs["input_mask"][i].sum() == len(expected)


def test_a_text_far_longer_than_512_tokens_is_truncated_and_reported():
    long_text = "the quick brown fox jumps over the lazy dog " * 300  # 2,700 words
    with pytest.warns(pp.TruncationWarning, match="1 of 2 examples"):
        inputs = pp.get_inputs([long_text, "short"], max_length=512)
    assert inputs["input_word_ids"].shape == (2, 512)
    assert inputs["input_word_ids"][0, -1] == 102 and inputs["input_mask"][0].sum() == 512
    assert inputs.truncated.tolist() == [True, False]
    assert inputs.lengths[0] == 2 + 2700
    assert "longest 2702 tokens" in inputs.report()


def test_max_length_above_512_is_refused():
    with pytest.raises(ValueError, match="512"):
        pp.get_inputs(["hello"], max_length=1024)


# --- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "texts, pairs, error, message",
    [
        ([], None, ValueError, "empty"),
        (None, None, TypeError, "None"),
        (["fine", 3], None, TypeError, r"texts\[1\] is of type int"),
        (["fine", None], None, TypeError, r"texts\[1\] is missing"),
        (pd.Series(["a", float("nan")], index=[10, 11]), None, TypeError, "index 11"),
        ([b"bytes"], None, TypeError, "decode"),
        (["a", "b"], ["c"], ValueError, "texts has 2 entries but text_pair has 1"),
        (pd.DataFrame({"a": ["x"]}), None, TypeError, "get_inputs_from_frame"),
    ],
)
def test_bad_input_gives_a_clear_error(texts, pairs, error, message):
    with pytest.raises(error, match=message):
        pp.get_inputs(texts, pairs)


def test_check_texts_options_for_batches():
    assert pp.check_texts("one text") == (["one text"], None)
    assert pp.check_texts(np.array(["a", "b"]), ("c", "d")) == (["a", "b"], ["c", "d"])
    assert pp.check_texts(["", " "]) == (["", " "], None)  # tokenizing an empty text is fine
    with pytest.raises(TypeError, match="not a single string"):
        pp.check_texts("one text", single=False)
    with pytest.raises(ValueError, match="first has 1 entries but second has 2"):
        pp.check_texts(["a"], ["b", "c"], names=("first", "second"))
    with pytest.raises(TypeError, match="not dict"):
        pp.check_texts({"a": 1})


def test_frame_helper_reads_columns_and_names_a_missing_one(mrpc):
    inputs = pp.get_inputs_from_frame(mrpc.head(4), "sentence1", "sentence2", max_length=128)
    direct = pp.get_inputs(list(mrpc.sentence1[:4]), list(mrpc.sentence2[:4]), max_length=128)
    np.testing.assert_array_equal(inputs["input_word_ids"], direct["input_word_ids"])
    with pytest.raises(KeyError, match="sentence3"):
        pp.get_inputs_from_frame(mrpc.head(4), "sentence1", "sentence3")


# --- the three ways agree --------------------------------------------------------------------
def _unusual(text):
    """Characters outside printable ASCII: the only place the ways are allowed to differ."""
    return any(ord(c) > 126 or (ord(c) < 32 and c not in "\t\n") for c in text)


@pytest.mark.slow
def test_tf_hub_tf_text_and_transformers_agree_on_real_mrpc_pairs_and_sms(sms):
    dev = load_mrpc("validation")
    table = pp.compare_tokenizers(list(dev.sentence1), list(dev.sentence2))
    assert table["identical"].tolist() == [408, 407, 407]
    differing = pp.tokenizer_differences(list(dev.sentence1), list(dev.sentence2), way="tf_hub")
    assert all(_unusual(text) for text in differing["text"])
    messages = list(sms.text[:1000])
    table = pp.compare_tokenizers(messages, max_length=64)  # 64: some messages are truncated too
    differing = pp.tokenizer_differences(messages, way="tf_text", max_length=64)
    assert table.loc["tf_hub", "identical"] == table.loc["tf_text", "identical"] == 1000 - len(differing)
    assert 0 < len(differing) <= 10 and all(_unusual(text) for text in differing["text"])


@pytest.mark.slow
def test_the_ways_differ_only_on_rare_characters_that_tf_text_normalizes():
    differences = pp.tokenizer_differences(["contains 2 ½ servings", "I´m here", "plain text"], way="tf_text")
    assert differences["position"].tolist() == [0, 1]
    assert differences.loc[0, "tf_text"][2:6] == ["2", "1", "##⁄", "##2"]
    assert differences.loc[0, "transformers"][2:4] == ["2", "½"]


@pytest.mark.slow
def test_hub_trims_pairs_round_robin_one_token_apart_from_longest_first():
    a = "one two three four five six seven eight nine ten"
    hub = pp.tokenize_with_hub([a], [a], max_length=12)  # room for 9: round robin gives 5 + 4
    hf = pp.tokenize_with_transformers([a], [a], max_length=12)  # longest-first gives 4 + 5
    assert hub["input_word_ids"][0].tolist() == [101, 2028, 2048, 2093, 2176, 2274, 102, 2028, 2048, 2093, 2176, 102]
    assert hf["input_word_ids"][0].tolist() == [101, 2028, 2048, 2093, 2176, 102, 2028, 2048, 2093, 2176, 2274, 102]
    assert hub["input_type_ids"][0].sum() == 5 and hf["input_type_ids"][0].sum() == 6


def test_token_length_summary_counts_the_share_truncated():
    summary = pp.length_summary([10, 20, 30, 200], max_length=128)
    assert summary["truncated"] == 1 and summary["truncated_share"] == 0.25
    assert summary["max"] == 200 and summary["median"] == 25.0


@pytest.mark.slow
def test_real_token_lengths_mrpc_fits_128_and_few_sms_messages_exceed_it(mrpc, sms):
    mrpc_lengths = pp.token_lengths(mrpc.sentence1, mrpc.sentence2)
    sms_lengths = pp.token_lengths(sms.text)
    assert len(mrpc_lengths) == 3668 and mrpc_lengths.max() == 103
    assert pp.length_summary(mrpc_lengths, 128)["truncated"] == 0
    assert pp.length_summary(sms_lengths, 128)["truncated"] == 7
    fig = pp.plot_token_lengths({"MRPC pairs": mrpc_lengths, "SMS": sms_lengths}, max_length=128)
    assert [ax.get_xlabel() for ax in fig.axes] == ["tokens, with [CLS]/[SEP]"] * 2
    assert "0.15% truncated" in fig.axes[1].get_legend().get_texts()[0].get_text()


@pytest.fixture(scope="module")
def tokenizer():
    return pp._tokenizer(None)


# --------------------------------------------------------------------------- to_tf_dataset (tf.data pipelines)
def batches(dataset):
    return [(({k: v.numpy() for k, v in f.items()}), y.numpy()) for f, y in dataset]


def test_ids_for_a_known_sentence(tokenizer):
    [(features, labels)] = batches(pp.to_tf_dataset(["How are you?"], labels=[1], tokenizer=tokenizer))
    assert features["input_ids"].tolist() == [[101, 2129, 2024, 2017, 1029, 102]]
    assert features["attention_mask"].tolist() == [[1] * 6]
    assert features["input_ids"].dtype == np.int32 and labels.tolist() == [1]


def test_dynamic_padding_pads_each_batch_to_its_longest(tokenizer):
    texts = ["How are you?", "Hi", "a b c d e f g h i j", "ok"]
    result = batches(pp.to_tf_dataset(texts, labels=[0, 1, 0, 1], tokenizer=tokenizer, batch_size=2))
    assert [f["input_ids"].shape for f, _ in result] == [(2, 6), (2, 12)]
    assert result[0][0]["input_ids"][1].tolist() == [101, 7632, 102, 0, 0, 0]
    assert result[0][0]["attention_mask"][1].tolist() == [1, 1, 1, 0, 0, 0]


def test_fixed_padding_pads_every_batch_to_max_length(tokenizer):
    result = batches(pp.to_tf_dataset(["How are you?", "Hi"], labels=[0, 1], tokenizer=tokenizer, dynamic_padding=False))
    assert result[0][0]["input_ids"].shape == (2, 128)
    assert result[0][0]["attention_mask"].sum(axis=1).tolist() == [6, 3]


def test_pairs_mark_the_second_segment_with_token_type_one(tokenizer):
    [features] = [f for f in pp.to_tf_dataset(["How are you?"], ["Fine thanks"], tokenizer=tokenizer)]
    assert features["input_ids"].numpy().tolist() == [[101, 2129, 2024, 2017, 1029, 102, 2986, 4283, 102]]
    assert features["token_type_ids"].numpy().tolist() == [[0, 0, 0, 0, 0, 0, 1, 1, 1]]


def test_long_texts_are_truncated_and_counted(tokenizer):
    with pytest.warns(pp.TruncationWarning, match=r"2 of 3 examples \(66.7%\) were longer than max_length=16 tokens"):
        dataset = pp.to_tf_dataset(["word " * 40, "short", "a " * 15], tokenizer=tokenizer, max_length=16)
    [features] = list(dataset)
    assert features["input_ids"].shape == (3, 16)
    assert features["input_ids"].numpy()[0, -1] == 102


def test_text_of_exactly_max_length_is_not_reported_as_truncated(tokenizer):
    with warnings.catch_warnings():
        warnings.simplefilter("error", pp.TruncationWarning)
        [features] = list(pp.to_tf_dataset(["a " * 14], tokenizer=tokenizer, max_length=16))
    assert features["input_ids"].shape == (1, 16)


def test_empty_and_non_ascii_texts_are_encoded(tokenizer):
    [features] = list(pp.to_tf_dataset(["", "café 😀"], tokenizer=tokenizer))
    ids = features["input_ids"].numpy().tolist()
    assert ids[0] == [101, 102, 0, 0]
    assert ids[1] == [101, tokenizer.convert_tokens_to_ids("cafe"), 100, 102]  # accent stripped, emoji [UNK]


def test_max_length_beyond_bert_positions_is_rejected(tokenizer):
    with pytest.raises(ValueError, match=r"between 2 .* and 512 \(the model has position embeddings for 512 tokens only\), got 1024"):
        pp.to_tf_dataset(["a"], tokenizer=tokenizer, max_length=1024)


def test_missing_text_error_names_the_row(tokenizer):
    with pytest.raises(TypeError, match=r"texts\[2\] is missing"):
        pp.to_tf_dataset(["a", "b", None], tokenizer=tokenizer)
    series = pd.Series(["a", np.nan], index=[10, 11])
    with pytest.raises(TypeError, match=r"text_pair\[1\] \(index 11\) is missing"):
        pp.to_tf_dataset(["x", "y"], series, tokenizer=tokenizer)


def test_mismatched_lengths_are_rejected(tokenizer):
    with pytest.raises(ValueError, match="texts has 2 entries but text_pair has 1"):
        pp.to_tf_dataset(["a", "b"], ["c"], tokenizer=tokenizer)
    with pytest.raises(ValueError, match="texts has 2 entries but labels has 3"):
        pp.to_tf_dataset(["a", "b"], labels=[0, 1, 1], tokenizer=tokenizer)
    with pytest.raises(ValueError, match=r"labels: row 1 is missing"):
        pp.to_tf_dataset(["a", "b"], labels=pd.array([1, None], dtype="Int64"), tokenizer=tokenizer)
    with pytest.raises(ValueError, match=r"labels: row 0 is missing"):
        pp.to_tf_dataset(["a", "b"], labels=np.array([np.nan, 1.0], dtype=np.float32), tokenizer=tokenizer)
    with pytest.raises(TypeError, match="not a single string"):
        pp.to_tf_dataset("a sentence", tokenizer=tokenizer)


def test_shuffle_is_repeatable_for_a_seed(tokenizer):
    texts = [f"sentence number {i}" for i in range(20)]
    order = lambda seed: [y for _, ys in batches(pp.to_tf_dataset(texts, labels=list(range(20)), tokenizer=tokenizer, shuffle=True, seed=seed)) for y in ys]  # noqa: E731
    assert order(3) == order(3)
    assert sorted(order(3)) == list(range(20)) and order(3) != list(range(20)) and order(3) != order(4)


def test_bucketing_keeps_every_example_and_pads_less(shared_data_dir, tokenizer):
    dev = load_mrpc("validation", data_dir=shared_data_dir)
    plain = batches(pp.to_tf_dataset(dev["sentence1"], dev["sentence2"], dev["label"], tokenizer=tokenizer))
    bucketed = batches(pp.to_tf_dataset(dev["sentence1"], dev["sentence2"], dev["label"], tokenizer=tokenizer, bucket=True))
    assert sum(len(y) for _, y in bucketed) == 408 and sum(int(y.sum()) for _, y in bucketed) == 279
    padded = lambda result: sum(f["input_ids"].size for f, _ in result)  # noqa: E731
    real = sum(int(f["attention_mask"].sum()) for f, _ in plain)
    assert real == sum(int(f["attention_mask"].sum()) for f, _ in bucketed)
    assert padded(bucketed) < padded(plain)
    assert all(f["attention_mask"].sum(axis=1).max() == f["input_ids"].shape[1] for f, _ in bucketed)


@pytest.mark.slow
def test_features_are_keyword_inputs_of_a_transformers_tf_bert(tokenizer):
    from transformers import BertConfig, TFBertForSequenceClassification

    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=2)
    model = TFBertForSequenceClassification(config)
    features, labels = next(iter(pp.to_tf_dataset(["How are you?", "Hi"], ["Fine", "Hello"], [1, 0], tokenizer=tokenizer)))
    assert model(**features).logits.shape == (2, 2)


# --------------------------------------------------------------------------- one truncation policy, reported the same way
LONG = "word " * 300  # 302 tokens with [CLS] and [SEP]


@pytest.fixture(scope="module")
def tiny_bert():
    """A 1-layer, hidden-32 TFBertModel with random weights and the real vocabulary (128 positions)."""
    from transformers import BertConfig, TFBertModel

    return TFBertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=128))


def _encode_pairs(tokenizer, _):
    documents = [[LONG, "short"], ["a b", "c d"]]
    pairs = [pretraining.SentencePair(LONG, "short", 0, 0, 0), pretraining.SentencePair("a b", "c d", 0, 1, 1)]
    return pretraining.encode_pairs(pairs, tokenizer, pretraining.build_vocab(tokenizer, documents, min_count=1), 16)


def _predict(tokenizer, bert):
    model = finetuning.build_functional_classifier(encoder=bert)
    return finetuning.predict(model, [LONG, "short"], tokenizer=tokenizer, max_length=16)


def _encoder(name):
    calls = {
        "sentence_embeddings": lambda: encoder.sentence_embeddings([LONG, "short"]),
        "run_encoder": lambda: encoder.run_encoder([LONG, "short"]),
        "semantic_search": lambda: encoder.semantic_search([LONG, "short"], ["a corpus sentence"]),
        "attention_weights": lambda: encoder.attention_weights(LONG),
        "word_layer_vectors": lambda: encoder.word_layer_vectors(LONG, "word"),
    }
    return lambda tokenizer, bert: calls[name]()


TRUNCATING = {  # name: (call(tokenizer, tiny_bert), examples, max_length)
    "get_inputs": (lambda t, b: pp.get_inputs([LONG, "short"], max_length=16), 2, 16),
    "to_tf_dataset": (lambda t, b: pp.to_tf_dataset([LONG, "short"], max_length=16), 2, 16),
    "tokenize_with_transformers": (lambda t, b: pp.tokenize_with_transformers([LONG, "short"], max_length=16), 2, 16),
    "tokenize_with_tf_text": (lambda t, b: pp.tokenize_with_tf_text([LONG, "short"], max_length=16), 2, 16),
    "compare_tokenizers": (lambda t, b: pp.compare_tokenizers([LONG, "short"], max_length=16, ways=["tf_text"]), 2, 16),
    "tokenizer_differences": (lambda t, b: pp.tokenizer_differences([LONG, "short"], max_length=16), 2, 16),
    "finetuning.predict": (_predict, 2, 16),
    "spam.extract_features": (lambda t, b: spam.extract_features([LONG, "short"], encoder=b, tokenizer=t, max_length=16), 2, 16),
    "pretraining.encode_pairs": (_encode_pairs, 2, 16),
}
SLOW_TRUNCATING = {  # these load the real model or the TF Hub models
    "tokenize_with_hub": (lambda t, b: pp.tokenize_with_hub([LONG, "short"], max_length=16), 2, 16),
    **{f"encoder.{name}": (_encoder(name), 1 if name in ("attention_weights", "word_layer_vectors") else 2, 128)
       for name in ("sentence_embeddings", "run_encoder", "semantic_search", "attention_weights", "word_layer_vectors")},
}


@pytest.mark.parametrize(
    "name", list(TRUNCATING) + [pytest.param(name, marks=pytest.mark.slow) for name in SLOW_TRUNCATING]
)
def test_every_public_function_that_takes_texts_warns_the_same_way_when_it_truncates(name, tokenizer, tiny_bert):
    call, examples, max_length = {**TRUNCATING, **SLOW_TRUNCATING}[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call(tokenizer, tiny_bert)
    messages = [str(w.message) for w in caught if issubclass(w.category, pp.TruncationWarning)]
    share = f"{1 / examples:.1%}"
    assert len(messages) == 1, messages  # once per call, however many batches or ways
    assert messages[0].startswith(
        f"1 of {examples} examples ({share}) were longer than max_length={max_length} tokens and were truncated (longest "
    )


def test_nothing_is_reported_when_nothing_is_cut(tokenizer):
    with warnings.catch_warnings():
        warnings.simplefilter("error", pp.TruncationWarning)
        inputs = pp.get_inputs(["a " * 14, "b"], max_length=16)
    assert inputs.n_truncated == 0 and inputs.lengths.tolist() == [16, 3]


# --------------------------------------------------------------------------- what get_inputs returns goes straight into Keras
def _hub_keys_model():
    """A small Keras functional model on the TF Hub keys: embedding, masked mean over real tokens, dense."""
    import tensorflow as tf

    inputs = {key: tf.keras.Input(shape=(None,), dtype=tf.int32, name=key) for key in pp.HUB_KEYS}
    vectors = tf.keras.layers.Embedding(30522, 8)(inputs["input_word_ids"])
    mask = tf.cast(inputs["input_mask"], tf.float32)[:, :, None]
    pooled = tf.reduce_sum(vectors * mask, axis=1) / tf.reduce_sum(mask, axis=1)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(2)(pooled))


def _route(name, bert):
    import tensorflow as tf
    from transformers import TFBertForSequenceClassification

    if name == "functional":
        return finetuning.build_functional_classifier(encoder=bert), "transformers"
    if name == "transformers":
        return TFBertForSequenceClassification(bert.config), "transformers"
    tf.keras.utils.set_random_seed(0)
    return _hub_keys_model(), "hub"


@pytest.mark.parametrize("route", ["functional", "transformers", "hub-keys"])
def test_get_inputs_goes_straight_into_call_predict_fit_and_tf_data(route, tiny_bert):
    import tensorflow as tf

    model, names = _route(route, tiny_bert)
    x = pp.get_inputs(["hi", "How are you today?"], names=names, max_length=16)
    expected = finetuning.logits_of(model, dict(x)).numpy()
    np.testing.assert_allclose(finetuning.logits_of(model, x).numpy(), expected, atol=1e-6)
    predicted = model.predict(x, verbose=0)
    np.testing.assert_allclose(getattr(predicted, "logits", predicted), expected, atol=1e-5)
    [batch] = list(tf.data.Dataset.from_tensor_slices(x).batch(2))
    np.testing.assert_allclose(finetuning.logits_of(model, batch).numpy(), expected, atol=1e-6)
    model.compile(optimizer="sgd", loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, np.array([0, 1]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert x.n_truncated == 0 and x.lengths.tolist() == [3, 7]  # the report stays on the object get_inputs returned


def test_a_rebuilt_copy_of_the_inputs_says_it_has_no_report():
    import tensorflow as tf

    x = pp.get_inputs(["hi"], max_length=8)
    rebuilt = tf.nest.map_structure(lambda array: array, x)
    assert type(rebuilt) is pp.BertInputs and rebuilt.keys() == x.keys()
    with pytest.raises(AttributeError, match="rebuilt .* has no truncation report"):
        rebuilt.report()


# --------------------------------------------------------------------------- lengths past what the model can read
@pytest.fixture(scope="module")
def bert_512():
    """Like tiny_bert, with BERT's 512 positions."""
    from transformers import BertConfig, TFBertModel

    return TFBertModel(BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=512))


TOO_LONG = {  # name: call(tokenizer, model with 512 positions) with a length of 600
    "get_inputs": lambda t, b: pp.get_inputs(["word " * 700], max_length=600),
    "to_tf_dataset": lambda t, b: pp.to_tf_dataset(["word " * 700], max_length=600),
    "tokenize_with_hub": lambda t, b: pp.tokenize_with_hub(["word " * 700], max_length=600),
    "finetuning.predict": lambda t, b: finetuning.predict(
        finetuning.build_functional_classifier(encoder=b), ["word " * 700], tokenizer=t, max_length=600),
    "spam.extract_features": lambda t, b: spam.extract_features(["word " * 700], encoder=b, tokenizer=t, max_length=600),
    "pretraining.encode_pairs": lambda t, b: pretraining.encode_pairs(
        [pretraining.SentencePair("a", "b", 0, 0, 1)], t, None, max_length=600),
}


@pytest.mark.parametrize("name", list(TOO_LONG))
def test_every_length_past_the_model_positions_is_refused_up_front_with_one_message(name, tokenizer, bert_512):
    with pytest.raises(ValueError, match=r"and 512 \(the model has position embeddings for 512 tokens only\), got 600"):
        TOO_LONG[name](tokenizer, bert_512)


def test_the_limit_is_read_from_the_model_config(tokenizer, tiny_bert):
    model = finetuning.build_functional_classifier(encoder=tiny_bert)  # 128 positions
    assert pp.max_positions(model) == 128 and pp.max_positions(tokenizer=tokenizer) == pp.MAX_POSITIONS
    with pytest.raises(ValueError, match=r"and 128 \(the model has position embeddings for 128 tokens only\), got 200"):
        finetuning.predict(model, ["word " * 300], tokenizer=tokenizer, max_length=200)
    with pytest.raises(ValueError, match=r"and 128 .*, got 129"):
        spam.extract_features(["a text"], encoder=tiny_bert, tokenizer=tokenizer, max_length=129)


# --------------------------------------------------------------------------- text with nothing to classify
@pytest.mark.parametrize("text", ["", "   ", "\u200b", "\u200b \u200b", "\x00"])
def test_a_text_without_word_pieces_is_empty_wherever_blank_texts_are_refused(text, tokenizer, tiny_bert):
    model = finetuning.build_functional_classifier(encoder=tiny_bert)
    with pytest.raises(ValueError, match=r"texts\[1\] \(.*\) has no word pieces after tokenization"):
        finetuning.predict(model, ["a real text", text], tokenizer=tokenizer)
    with pytest.raises(ValueError, match=r"text_pair\[0\] \(.*\) has no word pieces"):
        finetuning.predict(model, ["a real text"], [text], tokenizer=tokenizer)
    with pytest.raises(ValueError, match=r"texts\[0\] \(.*\) has no word pieces"):
        spam.extract_features([text], encoder=tiny_bert, tokenizer=tokenizer)
    with pytest.raises(ValueError, match=r"texts\[0\] \(.*\) has no word pieces"):
        pp.encode_texts([text], tokenizer=tokenizer, blank=False)


def test_a_long_text_cut_short_still_counts_its_word_pieces(tokenizer):
    # Emptiness is judged on the whole text, not on what is left after a tiny max_length.
    encoding = pp.encode_texts(["word " * 10], ["\u200b"], tokenizer=tokenizer, max_length=3)
    assert encoding.input_ids == [[101, 102, 102]]
    with pytest.raises(ValueError, match=r"text_pair\[0\]"):
        pp.encode_texts(["word " * 10], ["\u200b"], tokenizer=tokenizer, max_length=3, blank=False)
