"""Tests of bertlab.finetuning: schedule, optimizer, builders, training, metrics, predict."""
import tempfile

import numpy as np
import pytest

import bertlab  # noqa: F401
import tensorflow as tf

from bertlab import finetuning as ft


@pytest.fixture(scope="module")
def tokenizer():
    from bertlab.models import load_tokenizer

    return load_tokenizer()


def tiny_encoder(seed=0):
    """A 2-layer, hidden-32 BERT with random weights and the real vocabulary: builds in a second."""
    from transformers import BertConfig, TFBertModel

    tf.keras.utils.set_random_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    return TFBertModel(config)


# --------------------------------------------------------------------------- schedule
def test_schedule_rises_linearly_during_warmup_then_decays_to_zero():
    steps = np.arange(0, 121)
    lr = ft.warmup_linear_decay(steps, peak_lr=1e-4, warmup_steps=20, total_steps=120)
    np.testing.assert_allclose(lr[[0, 10, 20, 70, 120]], [0.0, 5e-5, 1e-4, 5e-5, 0.0], atol=1e-12)
    assert np.all(np.diff(lr[:21]) > 0) and np.all(np.diff(lr[20:]) < 0)


def test_keras_schedule_matches_numpy_reference_on_every_step():
    schedule = ft.WarmupLinearDecay(3e-5, total_steps=345, warmup_steps=34)
    steps = np.arange(0, 400)
    expected = ft.warmup_linear_decay(steps, peak_lr=3e-5, warmup_steps=34, total_steps=345)
    np.testing.assert_allclose(schedule(tf.constant(steps)).numpy(), expected, rtol=1e-5, atol=1e-12)
    assert schedule.get_config() == {"peak_lr": 3e-5, "total_steps": 345, "warmup_steps": 34}


def test_schedule_without_warmup_starts_at_peak():
    np.testing.assert_allclose(ft.warmup_linear_decay([0, 50], peak_lr=2.0, warmup_steps=0, total_steps=100), [2.0, 1.0])


def test_schedule_rejects_warmup_longer_than_training():
    with pytest.raises(ValueError, match="warmup_steps"):
        ft.WarmupLinearDecay(1e-4, total_steps=10, warmup_steps=11)


def test_optimizer_is_adamw_without_decay_on_layer_norm_and_bias():
    opt = ft.create_optimizer(5e-5, 100, warmup_ratio=0.1, weight_decay=0.01)
    assert isinstance(opt, tf.keras.optimizers.AdamW)
    assert opt._learning_rate.warmup_steps == 10
    bias = tf.Variable(tf.zeros(3), name="dense/bias")
    norm = tf.Variable(tf.ones(3), name="LayerNorm/gamma")
    kernel = tf.Variable(tf.ones(3), name="dense/kernel")
    opt.build([bias, norm, kernel])
    assert [opt._use_weight_decay(v) for v in (bias, norm, kernel)] == [False, False, True]


@pytest.mark.parametrize("warmup_steps", [34, 0])
def test_schedule_gives_transformers_create_optimizer_rates_on_every_step(warmup_steps):
    from transformers import create_optimizer

    _, reference = create_optimizer(init_lr=3e-5, num_train_steps=345, num_warmup_steps=warmup_steps)
    ours = ft.WarmupLinearDecay(3e-5, total_steps=345, warmup_steps=warmup_steps)
    expected = [float(reference(step)) for step in range(360)]  # transformers' schedule takes one step at a time
    np.testing.assert_allclose(ours(tf.range(360)).numpy(), expected, rtol=1e-5, atol=1e-12)


def test_optimizer_with_its_schedule_survives_keras_serialization():
    optimizer = ft.create_optimizer(5e-5, 100, warmup_ratio=0.1)
    config = tf.keras.optimizers.serialize(optimizer)
    restored = tf.keras.optimizers.deserialize(config)
    assert isinstance(restored._learning_rate, ft.WarmupLinearDecay)  # .learning_rate is the current value
    assert restored._learning_rate.get_config() == {"peak_lr": 5e-5, "total_steps": 100, "warmup_steps": 10}


# --------------------------------------------------------------------------- metrics
def test_metrics_give_positive_class_scores_and_confusion_matrix():
    y_true = [1, 1, 1, 0, 0, 1, 0, 1]
    y_pred = [1, 0, 1, 0, 1, 1, 0, 1]
    m = ft.classification_metrics(y_true, y_pred)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["precision"] == pytest.approx(4 / 5)
    assert m["recall"] == pytest.approx(4 / 5)
    assert m["f1"] == pytest.approx(0.8)
    np.testing.assert_array_equal(m["confusion_matrix"], [[2, 1], [1, 4]])


def test_metrics_f1_is_zero_when_positive_class_never_predicted():
    m = ft.classification_metrics([1, 0, 1], [0, 0, 0])
    assert m["f1"] == 0.0 and m["accuracy"] == pytest.approx(1 / 3)


def test_metrics_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="same non-zero length"):
        ft.classification_metrics([1, 0], [1])


# --------------------------------------------------------------------------- builders, predict
@pytest.fixture(scope="module")
def tiny_classifier():
    return ft.build_functional_classifier(num_labels=2, pooling="mean", encoder=tiny_encoder())


@pytest.mark.parametrize("pooling", ["mean", "pooled", "cls"])
def test_functional_classifier_maps_token_ids_to_logits(pooling, tokenizer):
    model = ft.build_functional_classifier(num_labels=3, pooling=pooling, encoder=tiny_encoder())
    enc = tokenizer(["a short one", "a somewhat longer sentence here"], padding=True, return_tensors="np")
    logits = model({k: enc[k] for k in ft.TRANSFORMERS_KEYS})
    assert logits.shape == (2, 3) and logits.dtype == tf.float32


@pytest.mark.parametrize("pooling", ["mean", "pooled"])
def test_a_list_call_in_the_documented_order_gives_the_dict_call_logits(pooling, tokenizer):
    model = ft.build_functional_classifier(pooling=pooling, encoder=tiny_encoder(1))
    enc = tokenizer(["one pair", "and"], ["of sentences", "another much longer one"], padding=True, return_tensors="np")
    as_dict = {k: enc[k].astype(np.int32) for k in ft.TRANSFORMERS_KEYS}
    assert ft.TRANSFORMERS_KEYS == ("input_ids", "attention_mask", "token_type_ids")
    expected = model(as_dict, training=False).numpy()
    np.testing.assert_allclose(model([as_dict[k] for k in ft.TRANSFORMERS_KEYS], training=False).numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(model.predict([as_dict[k] for k in ft.TRANSFORMERS_KEYS], verbose=0), expected, atol=1e-5)
    assert [t.name.split(":")[0] for t in model.inputs] == list(ft.TRANSFORMERS_KEYS)
    saved = ft.save_functional_classifier(model, tempfile.mkdtemp())
    reloaded = ft.load_functional_classifier(saved)
    np.testing.assert_allclose(reloaded([as_dict[k] for k in ft.TRANSFORMERS_KEYS], training=False).numpy(), expected, atol=1e-5)


def test_mean_pooling_ignores_padding():
    hidden = tf.constant([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    np.testing.assert_allclose(ft.masked_mean(hidden, tf.constant([[1, 1, 0]])).numpy(), [[2.0, 3.0]])


def test_padding_does_not_change_predictions(tiny_classifier, tokenizer):
    texts, pairs = ["The cat sat.", "A much longer first sentence with many words"], ["It sat.", "Short."]
    together = ft.predict(tiny_classifier, texts, pairs, tokenizer=tokenizer, batch_size=2)
    alone = ft.predict(tiny_classifier, texts, pairs, tokenizer=tokenizer, batch_size=1)
    np.testing.assert_allclose(together.probabilities, alone.probabilities, atol=1e-5)


def test_padding_speed_times_the_same_rows_both_ways_after_tracing_every_shape(tiny_classifier, tokenizer, monkeypatch):
    texts = ["a short one", "a somewhat longer sentence than the first", "tiny", "and one more of middling length"] * 3
    pairs = ["ok", "a second segment with quite a few more words in it than most", "yes", "no"] * 3
    calls = []
    original = tiny_classifier.predict_on_batch
    monkeypatch.setattr(tiny_classifier, "predict_on_batch", lambda batch: calls.append(batch["input_ids"].shape) or original(batch))
    speed = ft.padding_speed(tiny_classifier, texts, pairs, tokenizer=tokenizer, batch_size=4, fixed_length=64, repeats=2)
    assert speed["pairs"] == 12 and speed["batches"] == len(calls) // 6  # 1 untimed + 2 timed passes per arm
    assert set(speed["seconds"]) == {"fixed 64", "dynamic"}
    widths = [shape[1] for shape in calls[:speed["batches"]]]  # the untimed dynamic pass: each batch its own width
    assert max(widths) < 64 and all(shape[1] == 64 for shape in calls[speed["batches"]:2 * speed["batches"]])
    # same rows in the same order: padding changes nothing
    np.testing.assert_allclose(speed["probabilities"]["fixed 64"], speed["probabilities"]["dynamic"], atol=1e-5)
    assert speed["speedup_min"] <= speed["speedup"] <= speed["speedup_max"]


def test_predict_returns_labels_and_probabilities_that_sum_to_one(tiny_classifier, tokenizer):
    out = ft.predict(tiny_classifier, ["one", "two", "three"], tokenizer=tokenizer)
    assert out.probabilities.shape == (3, 2) and out.labels.shape == (3,)
    np.testing.assert_allclose(out.probabilities.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(out.labels, out.probabilities.argmax(axis=1))


def test_predict_treats_a_single_string_pair_as_one_example(tiny_classifier, tokenizer):
    assert len(ft.predict(tiny_classifier, "This research was consistent.", "It was compatible.", tokenizer=tokenizer)) == 1


@pytest.mark.parametrize("texts, pairs, error, match", [
    (None, None, TypeError, "texts is None"),
    ([], None, ValueError, "texts is empty"),
    (["ok", 3], None, TypeError, r"texts\[1\] is of type int"),
    (["ok", "  "], None, ValueError, r"texts\[1\] \(.  .\) has no word pieces after tokenization"),
    (42, None, TypeError, "must be a string or a list"),
    (["a", "b"], ["only one"], ValueError, "texts has 2 entries but text_pair has 1"),
    (["a"], [None], TypeError, r"text_pair\[0\] is missing"),
])
def test_predict_rejects_bad_input_clearly(tiny_classifier, tokenizer, texts, pairs, error, match):
    with pytest.raises(error, match=match):
        ft.predict(tiny_classifier, texts, pairs, tokenizer=tokenizer)


# --------------------------------------------------------------------------- training
def test_training_learns_a_toy_task_and_restores_the_best_epoch(tmp_path, tokenizer):
    bertlab.set_seed(0)
    model = ft.build_functional_classifier(num_labels=2, pooling="mean", encoder=tiny_encoder(1))
    texts = ["good great fine nice"] * 16 + ["bad awful poor worse"] * 16
    labels = np.array([1] * 16 + [0] * 16, np.int32)
    enc = tokenizer(texts, padding=True, return_tensors="np")
    data = tf.data.Dataset.from_tensor_slices(({k: enc[k] for k in ft.TRANSFORMERS_KEYS}, labels)).shuffle(32, seed=0).batch(8)
    result = ft.train_classifier(model, data, data, epochs=4, peak_lr=3e-3, warmup_ratio=0.25, patience=4,
                                 checkpoint_dir=tmp_path, verbose=0)
    assert len(result.epoch_minutes) == 4 and result.train_minutes > 0
    assert set(result.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result.history["val_accuracy"][result.best_epoch - 1] == max(result.history["val_accuracy"]) == 1.0
    assert (tmp_path / "best.ckpt.index").exists()
    preds = ft.predict(model, ["good great fine nice", "bad awful poor worse"], tokenizer=tokenizer)
    np.testing.assert_array_equal(preds.labels, [1, 0])


def toy_batches(tokenizer, n=8):
    enc = tokenizer(["good"] * n, padding=True, return_tensors="np")
    return tf.data.Dataset.from_tensor_slices(({k: enc[k] for k in ft.TRANSFORMERS_KEYS}, np.ones(n, np.int32))).batch(2)


def test_training_on_a_dataset_that_repeats_forever_asks_for_steps_per_epoch(tiny_classifier, tokenizer):
    forever = toy_batches(tokenizer).repeat()
    assert forever.cardinality() == tf.data.INFINITE_CARDINALITY
    with pytest.raises(ValueError, match="train_data repeats forever.*steps_per_epoch="):
        ft.train_classifier(tiny_classifier, forever, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="validation_data repeats forever.*finite"):
        ft.train_classifier(tiny_classifier, toy_batches(tokenizer), forever, epochs=1, verbose=0)


def test_unknown_cardinality_is_counted_when_finite_and_refused_when_endless(monkeypatch):
    filtered = tf.data.Dataset.range(10).filter(lambda x: x % 3 > 0).batch(2)  # 1 2 4 5 7 8 -> 3 batches
    assert filtered.cardinality() == tf.data.UNKNOWN_CARDINALITY
    assert ft.count_batches(filtered) == 3
    monkeypatch.setattr(ft, "MAX_COUNTED_BATCHES", 50)
    endless = tf.data.Dataset.range(10).repeat().filter(lambda x: x % 3 > 0).batch(2)
    assert endless.cardinality() == tf.data.UNKNOWN_CARDINALITY
    with pytest.raises(ValueError, match="not ended after 50 batches.*steps_per_epoch=.*assert_cardinality"):
        ft.count_batches(endless)


def test_an_endless_dataset_trains_with_steps_per_epoch(tokenizer):
    model = ft.build_functional_classifier(num_labels=2, encoder=tiny_encoder(4))
    result = ft.train_classifier(model, toy_batches(tokenizer).repeat(), epochs=2, steps_per_epoch=3, verbose=0)
    assert len(result.history["loss"]) == 2
    assert int(model.optimizer.iterations) == 6


class WeightsAtEpochEnd(tf.keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def flipped_validation_task(tokenizer):
    """A toy task whose validation labels are the training labels flipped: the better the model
    learns, the higher the validation loss, so the first epoch is the best by validation loss."""
    texts = ["good great fine nice"] * 8 + ["bad awful poor worse"] * 8
    enc = {k: v for k, v in tokenizer(texts, padding=True, return_tensors="np").items() if k in ft.TRANSFORMERS_KEYS}
    labels = np.array([1] * 8 + [0] * 8, np.int32)
    train = tf.data.Dataset.from_tensor_slices((enc, labels)).batch(8)
    flipped = tf.data.Dataset.from_tensor_slices((enc, 1 - labels)).batch(8)
    return train, flipped


def test_training_ends_with_the_weights_of_the_best_epoch_not_the_last(tmp_path, tokenizer):
    model = ft.build_functional_classifier(num_labels=2, pooling="mean", encoder=tiny_encoder(2))
    train, flipped = flipped_validation_task(tokenizer)
    watch = WeightsAtEpochEnd()
    result = ft.train_classifier(model, train, flipped, epochs=3, peak_lr=3e-3, warmup_ratio=0.0, monitor="val_loss",
                                 patience=3, checkpoint_dir=tmp_path, verbose=0, callbacks=[watch])
    val_loss = result.history["val_loss"]
    assert len(val_loss) == 3 and result.best_epoch == int(np.argmin(val_loss)) + 1 == 1
    assert val_loss[-1] > val_loss[0]
    final = model.get_weights()
    for got, best in zip(final, watch.weights[0]):
        np.testing.assert_array_equal(got, best)
    assert any(not np.array_equal(got, last) for got, last in zip(final, watch.weights[-1]))


def test_restore_best_false_keeps_the_last_epoch_and_writes_no_checkpoint(tmp_path, tokenizer):
    # The best epoch by validation loss is the first, so keeping it would show.
    model = ft.build_functional_classifier(num_labels=2, pooling="mean", encoder=tiny_encoder(2))
    train, flipped = flipped_validation_task(tokenizer)
    watch = WeightsAtEpochEnd()
    result = ft.train_classifier(model, train, flipped, epochs=3, peak_lr=3e-3, warmup_ratio=0.0, monitor="val_loss",
                                 patience=1, checkpoint_dir=tmp_path, verbose=0, callbacks=[watch], restore_best=False)
    assert len(result.history["val_loss"]) == 3  # no early stopping either (patience 1 would have stopped it)
    assert result.best_epoch == 3 and result.checkpoint is None and not list(tmp_path.iterdir())
    for got, last in zip(model.get_weights(), watch.weights[-1]):
        np.testing.assert_array_equal(got, last)


def test_functional_classifier_survives_save_and_reload(tmp_path, tiny_classifier, tokenizer):
    before = ft.predict(tiny_classifier, ["a b c", "d e"], ["x", "y z"], tokenizer=tokenizer).probabilities
    ft.save_functional_classifier(tiny_classifier, tmp_path)
    reloaded = ft.load_functional_classifier(tmp_path)
    after = ft.predict(reloaded, ["a b c", "d e"], ["x", "y z"], tokenizer=tokenizer).probabilities
    np.testing.assert_allclose(before, after, atol=1e-5)


TOY_TEXTS = ["good great fine nice"] * 4 + ["bad awful poor worse"] * 4
TOY_LABELS = np.array([1] * 4 + [0] * 4, np.int32)
PROBES = ["good great", "awful poor", "neither here nor there"]


def train_toy(model, tokenizer):
    """One epoch on eight toy examples."""
    encoded = tokenizer(TOY_TEXTS, padding=True, return_tensors="np")
    features = {k: encoded[k].astype(np.int32) for k in ft.TRANSFORMERS_KEYS}
    data = tf.data.Dataset.from_tensor_slices((features, TOY_LABELS)).batch(4)
    ft.train_classifier(model, data, data, epochs=1, peak_lr=1e-3, warmup_ratio=0.0, verbose=0)
    return ft.predict(model, PROBES, tokenizer=tokenizer).probabilities


def served_probabilities(directory, tokenizer, output):
    """Probabilities from ``tf.saved_model.load(directory)``'s serving signature (no Keras, no bertlab)."""
    serve = tf.saved_model.load(str(directory)).signatures["serving_default"]
    encoded = tokenizer(PROBES, padding=True, return_tensors="np")
    logits = serve(**{k: tf.constant(encoded[k], tf.int32) for k in ft.TRANSFORMERS_KEYS})[output]
    return tf.nn.softmax(logits).numpy()


@pytest.mark.slow  # the SavedModel export takes ~30 s
def test_trained_functional_classifier_round_trips_and_serves(tmp_path, tokenizer):
    model = ft.build_functional_classifier(num_labels=2, encoder=tiny_encoder(5))
    before = train_toy(model, tokenizer)
    ft.save_functional_classifier(model, tmp_path / "lesson")
    reloaded = ft.load_functional_classifier(tmp_path / "lesson")
    np.testing.assert_allclose(ft.predict(reloaded, PROBES, tokenizer=tokenizer).probabilities, before, atol=1e-6)
    model.save(str(tmp_path / "serving"))
    np.testing.assert_allclose(served_probabilities(tmp_path / "serving", tokenizer, "classifier"), before, atol=1e-6)


@pytest.mark.slow  # the SavedModel export takes ~30 s
def test_trained_transformers_classifier_round_trips_and_serves(tmp_path, tokenizer):
    from transformers import BertConfig, TFBertForSequenceClassification

    tf.keras.utils.set_random_seed(0)
    model = TFBertForSequenceClassification(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2,
                                                       num_attention_heads=2, intermediate_size=64, num_labels=2))
    before = train_toy(model, tokenizer)
    model.save_pretrained(str(tmp_path / "lesson"))  # how lesson 05 says to save this kind of model
    reloaded = TFBertForSequenceClassification.from_pretrained(str(tmp_path / "lesson"))
    np.testing.assert_allclose(ft.predict(reloaded, PROBES, tokenizer=tokenizer).probabilities, before, atol=1e-6)
    model.save(str(tmp_path / "serving"))
    np.testing.assert_allclose(served_probabilities(tmp_path / "serving", tokenizer, "logits"), before, atol=1e-6)


def test_xla_is_off_on_the_cpu_and_for_dynamic_shapes():
    dynamic = tf.data.Dataset.from_tensors(({"input_ids": tf.zeros([2, 5], tf.int32)}, tf.zeros([2]))).map(
        lambda f, y: ({"input_ids": tf.reshape(f["input_ids"], [2, -1])}, y))
    if not tf.config.list_physical_devices("GPU"):
        assert ft.use_jit_compile() is False and ft.use_jit_compile(dynamic) is False
    else:  # on a GPU: on for fixed shapes, off when the sequence length varies
        assert ft.use_jit_compile(dynamic) is False


def test_training_works_for_transformers_sequence_classifiers_too(tokenizer):
    from transformers import BertConfig, TFBertForSequenceClassification

    tf.keras.utils.set_random_seed(0)
    model = TFBertForSequenceClassification(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2,
                                                       num_attention_heads=2, intermediate_size=64, num_labels=2))
    texts = ["good great fine nice"] * 16 + ["bad awful poor worse"] * 16
    enc = tokenizer(texts, padding=True, return_tensors="np")
    labels = np.array([1] * 16 + [0] * 16, np.int32)
    data = tf.data.Dataset.from_tensor_slices(({k: enc[k] for k in ft.TRANSFORMERS_KEYS}, labels)).shuffle(32, seed=0).batch(8)
    result = ft.train_classifier(model, data, data, epochs=3, peak_lr=3e-3, warmup_ratio=0.25, patience=3, verbose=0)
    assert max(result.history["val_accuracy"]) == 1.0
    np.testing.assert_array_equal(ft.predict(model, ["good great fine nice", "bad awful poor worse"], tokenizer=tokenizer).labels, [1, 0])


def test_batch_losses_records_each_batch_own_loss_not_the_running_mean():
    import tensorflow as tf

    from bertlab import finetuning as ft

    # A fixed linear model (learning rate 0) on two batches: one easy, one hard.
    model = tf.keras.Sequential([tf.keras.layers.Dense(2, use_bias=False, kernel_initializer="identity")])
    model.compile(optimizer=tf.keras.optimizers.SGD(0.0),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=[ft.BatchLoss()])
    x = np.array([[3.0, 0.0], [0.0, 3.0], [3.0, 0.0], [0.0, 3.0]], dtype="float32")
    y = np.array([0, 1, 1, 0])  # first batch right, second batch wrong
    recorder = ft.BatchLosses()
    history = model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, callbacks=[recorder])
    easy = float(tf.keras.losses.sparse_categorical_crossentropy(y[:2], x[:2], from_logits=True).numpy().mean())
    hard = float(tf.keras.losses.sparse_categorical_crossentropy(y[2:], x[2:], from_logits=True).numpy().mean())
    np.testing.assert_allclose(recorder.losses, [easy, hard], rtol=1e-5)
    np.testing.assert_allclose(history.history["loss"][0], (easy + hard) / 2, rtol=1e-5)  # Keras' running mean
