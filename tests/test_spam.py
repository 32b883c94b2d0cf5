"""Tests of bertlab.spam: labels, TF-IDF baseline, class weights, frozen features, thresholds."""
import numpy as np
import pytest

import bertlab  # noqa: F401
import tensorflow as tf

from bertlab import spam


def test_spam_labels_map_ham_and_spam_to_zero_and_one():
    np.testing.assert_array_equal(spam.spam_labels(["ham", "spam", "ham"]), [0, 1, 0])
    np.testing.assert_array_equal(spam.spam_labels(np.array([1, 0])), [1, 0])


def test_spam_labels_reject_unknown_labels():
    with pytest.raises(ValueError, match="'ham' or 'spam'"):
        spam.spam_labels(["ham", "eggs"])


def test_balanced_class_weights_give_each_class_equal_total_weight():
    labels = np.array([0] * 87 + [1] * 13)
    weights = spam.balanced_class_weights(labels)
    assert weights == pytest.approx({0: 100 / (2 * 87), 1: 100 / (2 * 13)})
    assert 87 * weights[0] == pytest.approx(13 * weights[1])


def test_balanced_class_weights_take_the_loader_labels_as_they_come(shared_data_dir):
    from bertlab.data import load_sms_spam

    labels = load_sms_spam(shared_data_dir).label  # 'ham' / 'spam' strings
    n, n_spam = len(labels), int((labels == "spam").sum())
    weights = spam.balanced_class_weights(labels)  # failed: invalid literal for int(): 'ham'
    assert weights == spam.balanced_class_weights(spam.spam_labels(labels))
    assert weights == pytest.approx({0: n / (2 * (n - n_spam)), 1: n / (2 * n_spam)})


def test_balanced_class_weights_of_ham_spam_strings_equal_those_of_their_ids():
    import pandas as pd

    strings = ["ham"] * 87 + ["spam"] * 13
    ids = np.array([0] * 87 + [1] * 13)
    assert spam.balanced_class_weights(strings) == spam.balanced_class_weights(ids)
    assert spam.balanced_class_weights(pd.Series(ids.tolist(), dtype=object)) == spam.balanced_class_weights(ids)
    with pytest.raises(ValueError, match="'ham' or 'spam'.*class ids 0/1"):
        spam.balanced_class_weights(["ham", "eggs"])


def test_threshold_takes_ham_spam_strings_too():
    scores = np.array([0.1, 0.2, 0.3, 0.45, 0.5, 0.8, 0.9])
    strings = ["ham", "ham", "spam", "ham", "spam", "spam", "spam"]
    assert spam.threshold_for_precision(strings, scores, 1.0) == spam.threshold_for_precision(spam.spam_labels(strings), scores, 1.0) == 0.5


def test_metrics_refuse_loader_strings_against_predicted_ids_and_name_the_fix():
    from bertlab.finetuning import classification_metrics

    with pytest.raises(ValueError, match="y_true holds strings but y_pred class ids.*spam_labels"):
        classification_metrics(["ham", "spam", "spam"], [0, 1, 0])
    with pytest.raises(ValueError, match="positive_label must be one of them"):
        classification_metrics(["ham", "spam", "spam"], ["ham", "spam", "ham"])
    ids_as_objects = classification_metrics(np.array([0, 1, 1], dtype=object), [0, 1, 0])  # a pandas column of dtype object
    assert ids_as_objects["f1"] == 2 / 3
    by_name = classification_metrics(["ham", "spam", "spam"], ["ham", "spam", "ham"], positive_label="spam")
    by_id = classification_metrics([0, 1, 1], [0, 1, 0])
    assert (by_name["f1"], by_name["precision"], by_name["recall"]) == (by_id["f1"], by_id["precision"], by_id["recall"]) == (2 / 3, 1.0, 0.5)


def test_tfidf_baseline_separates_obvious_spam():
    texts = ["WIN a FREE prize now, txt 80082", "Call 0906 to claim your cash award", "FREE entry: text WIN to 8007",
             "see you at lunch", "ok i'll call you later", "are we still on for tonight?"] * 3
    labels = ["spam", "spam", "spam", "ham", "ham", "ham"] * 3
    model = spam.tfidf_baseline(texts, labels)
    np.testing.assert_array_equal(model.predict(["Claim your FREE cash prize, txt WIN", "see you tonight at lunch"]), [1, 0])


def test_threshold_is_the_lowest_reaching_the_target_precision():
    y = np.array([0, 0, 1, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.45, 0.5, 0.8, 0.9])
    # predicting spam for scores >= 0.5 gives precision 3/3; >= 0.45 gives 3/4; >= 0.3 gives 4/5
    assert spam.threshold_for_precision(y, scores, 1.0) == 0.5
    assert spam.threshold_for_precision(y, scores, 0.8) == 0.3
    assert spam.threshold_for_precision(y, scores, 0.5) == 0.1 or spam.threshold_for_precision(y, scores, 0.5) <= 0.3


def test_threshold_raises_when_no_threshold_reaches_the_target():
    with pytest.raises(ValueError, match="No threshold reaches precision"):
        spam.threshold_for_precision(np.array([1, 0, 0]), np.array([0.1, 0.9, 0.8]), 0.99)


def tiny_encoder():
    from transformers import BertConfig, TFBertModel

    tf.keras.utils.set_random_seed(3)
    return TFBertModel(BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=128))


@pytest.fixture(scope="module")
def tokenizer():
    from bertlab.models import load_tokenizer

    return load_tokenizer()


def test_pool_features_mean_ignores_padding_positions():
    class Out:
        last_hidden_state = tf.constant([[[1.0, 1.0], [3.0, 5.0], [99.0, 99.0]]])
        pooler_output = tf.constant([[0.5, -0.5]])

    pooled = spam.pool_features(Out, tf.constant([[1, 1, 0]]))
    np.testing.assert_allclose(pooled["mean"].numpy(), [[2.0, 3.0]])
    np.testing.assert_allclose(pooled["cls"].numpy(), [[1.0, 1.0]])
    np.testing.assert_allclose(pooled["pooled"].numpy(), [[0.5, -0.5]])


def test_features_keep_input_order_and_do_not_depend_on_batching(tokenizer):
    encoder = tiny_encoder()
    texts = ["a much longer message with quite a few more words in it", "hi", "medium length text here", "ok ok"]
    batched = spam.extract_features(texts, encoder=encoder, tokenizer=tokenizer, batch_size=3)
    singles = [spam.extract_features([t], encoder=encoder, tokenizer=tokenizer, batch_size=1) for t in texts]
    for name in spam.POOLINGS:
        assert batched[name].shape == (4, 16)
        np.testing.assert_allclose(batched[name], np.concatenate([s[name] for s in singles]), atol=1e-5)


def test_features_reject_unknown_pooling_and_empty_input(tokenizer):
    with pytest.raises(ValueError, match="Unknown pooling"):
        spam.extract_features(["x"], encoder=object(), tokenizer=tokenizer, poolings=("max",))
    with pytest.raises(ValueError, match="empty"):
        spam.extract_features([], encoder=object(), tokenizer=tokenizer)


@pytest.mark.slow
def test_frozen_minilm_features_separate_real_spam(shared_data_dir):
    """The embedded model's mean-pooled vectors + logistic regression on 300 real messages."""
    from bertlab.data import load_sms_spam, split_sms_spam
    from bertlab.finetuning import classification_metrics

    train, _, test = split_sms_spam(load_sms_spam(shared_data_dir), seed=42)
    train = train.groupby("label", group_keys=False).head(150)
    test = test.groupby("label", group_keys=False).head(60)
    train_x = spam.extract_features(train.text, poolings=("mean",))["mean"]
    test_x = spam.extract_features(test.text, poolings=("mean",))["mean"]
    assert train_x.shape == (len(train), 384)
    clf = spam.feature_classifier(train_x, train.label)
    assert classification_metrics(spam.spam_labels(test.label), clf.predict(test_x))["f1"] > 0.85


# --------------------------------------------------------------------------- cross-validation (issue 17)
def test_layer_features_give_every_layer_in_one_pass_and_the_last_matches_extract_features(tokenizer):
    from transformers import BertConfig, TFBertModel

    tf.keras.utils.set_random_seed(5)
    encoder = TFBertModel(BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=128))
    texts = ["a much longer message with quite a few more words in it", "hi", "medium length text here"]
    layers = spam.extract_layer_features(texts, encoder=encoder, tokenizer=tokenizer, batch_size=2)
    last = spam.extract_features(texts, encoder=encoder, tokenizer=tokenizer, batch_size=2)
    assert sorted(layers) == sorted([f"layer{k}_{p}" for k in range(4) for p in ("mean", "cls")] + ["pooled"])
    assert all(v.shape == (3, 16) for v in layers.values())
    np.testing.assert_allclose(layers["layer3_mean"], last["mean"], atol=1e-5)
    np.testing.assert_allclose(layers["layer3_cls"], last["cls"], atol=1e-5)
    np.testing.assert_allclose(layers["pooled"], last["pooled"], atol=1e-5)
    # layer 0 is the embedding output: its [CLS] vector is the same for every message
    np.testing.assert_allclose(layers["layer0_cls"][0], layers["layer0_cls"][1], atol=1e-5)
    assert not np.allclose(layers["layer0_mean"], layers["layer3_mean"], atol=1e-3)
