"""Tests of bertlab.pretraining: NSP pairs, the compact vocabulary, TF Text masking measured
against the BERT recipe (statistics over many seeded draws), the tf.data pipeline, the loss,
and a tiny end-to-end pretraining run."""
import math

import numpy as np
import pytest

import bertlab  # noqa: F401  (Keras 2 first)
import tensorflow as tf

from bertlab import pretraining as P
from bertlab.grading import lesson04
from bertlab.grading.core import get_grader, guarded
from bertlab.models import load_tokenizer

DOCUMENTS = [
    ["It is a truth universally acknowledged.", "A single man must be in want of a wife.", "This truth is well fixed."],
    ["Mr. Bennet made no answer.", "Do you not want to know who has taken it?", "You want to tell me."],
    ["Netherfield Park is let at last.", "Mrs. Long has just been here.", "She told me all about it.", "He came down on Monday."],
    ["What is his name?", "Bingley."],
    ["Is he married or single?", "Oh, single, my dear, to be sure!", "A single man of large fortune."],
    ["How so?", "How can it affect them?"],
]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def vocab(tokenizer):
    return P.build_vocab(tokenizer, DOCUMENTS, min_count=1)


# --------------------------------------------------------------------------- pairs

def _passes_the_grader(key, fn):
    """The grader accepts ``fn`` (it raises on a wrong answer). run_grader itself would give it no points:
    calling bertlab's own answer is not the learner's work, which is what these tests use on purpose."""
    grader = get_grader(key)
    if grader.prepare is not None:
        grader.prepare()
    grader.fn(guarded(fn))

def test_nsp_pairs_give_one_pair_per_sentence_with_a_successor():
    pairs = P.make_nsp_pairs(DOCUMENTS, seed=3)
    assert len(pairs) == sum(len(d) - 1 for d in DOCUMENTS) == 11
    assert [p.sentence_a for p in pairs] == [s for d in DOCUMENTS for s in d[:-1]]


def test_nsp_true_pairs_follow_and_random_pairs_come_from_another_document():
    many = [p for seed in range(200) for p in P.make_nsp_pairs(DOCUMENTS, seed=seed)]
    for p in many:
        if p.label == P.IS_NEXT:
            doc = DOCUMENTS[p.document]
            assert doc[doc.index(p.sentence_a) + 1] == p.sentence_b
        else:
            assert p.other_document != p.document
            assert p.sentence_b in DOCUMENTS[p.other_document]
            assert p.sentence_b not in DOCUMENTS[p.document]
    share_random = np.mean([p.label for p in many])
    assert abs(share_random - 0.5) < 3 * math.sqrt(0.25 / len(many))
    # every other document is used as a source of random sentences
    assert {p.other_document for p in many if p.label == P.IS_RANDOM} == set(range(len(DOCUMENTS)))


def test_nsp_pairs_are_reproducible_and_depend_on_the_seed():
    assert P.make_nsp_pairs(DOCUMENTS, seed=1) == P.make_nsp_pairs(DOCUMENTS, seed=1)
    assert P.make_nsp_pairs(DOCUMENTS, seed=1) != P.make_nsp_pairs(DOCUMENTS, seed=2)


def test_nsp_pairs_with_both_give_exactly_half_random():
    pairs = P.make_nsp_pairs(DOCUMENTS, seed=0, both=True)
    assert len(pairs) == 22 and sum(p.label for p in pairs) == 11


def test_nsp_pairs_reject_bad_input():
    with pytest.raises(ValueError, match="two non-empty documents"):
        P.make_nsp_pairs([["One.", "Two."]])
    with pytest.raises(TypeError, match="list of sentences"):
        P.make_nsp_pairs(["a document given as one string"] * 2)
    with pytest.raises(TypeError, match="list of documents"):
        P.make_nsp_pairs("text")


def test_split_documents_keeps_documents_whole_and_is_seeded():
    train, held = P.split_documents(DOCUMENTS, 0.34, seed=5)
    assert len(held) == 2 and len(train) == 4
    assert sorted(map(tuple, train + held)) == sorted(map(tuple, DOCUMENTS))
    assert P.split_documents(DOCUMENTS, 0.34, seed=5) == (train, held)


# --------------------------------------------------------------------------- vocabulary and encoding
def test_compact_vocab_puts_special_tokens_first_and_maps_unknown_wordpieces_to_unk(tokenizer, vocab):
    assert vocab.tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert (vocab.pad_id, vocab.unk_id, vocab.cls_id, vocab.sep_id, vocab.mask_id) == (0, 1, 2, 3, 4)
    ids = tokenizer("bingley zebra", add_special_tokens=False)["input_ids"]
    assert vocab.decode(vocab.encode(ids)) == ["bing", "##ley", "[UNK]"]
    assert vocab.most_frequent(1) == [vocab.id(".")]  # '.' is the most frequent WordPiece of DOCUMENTS


def test_compact_vocab_respects_max_size(tokenizer):
    small = P.build_vocab(tokenizer, DOCUMENTS, max_size=20, min_count=1)
    assert small.size == 20 and small.to_compact.max() == 19


def test_encode_pairs_builds_cls_a_sep_b_sep_with_segment_ids(tokenizer, vocab):
    pairs = [P.SentencePair("How so?", "Bingley.", P.IS_RANDOM, 5, 3)]
    enc = P.encode_pairs(pairs, tokenizer, vocab, max_length=16)
    assert vocab.decode(enc.input_ids[0].numpy()) == ["[CLS]", "how", "so", "?", "[SEP]", "bing", "##ley", ".", "[SEP]"]
    assert enc.token_type_ids[0].numpy().tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert enc.nsp_labels.tolist() == [1]


def test_encode_pairs_truncates_to_max_length(tokenizer, vocab):
    enc = P.encode_pairs(P.make_nsp_pairs(DOCUMENTS, seed=0), tokenizer, vocab, max_length=9)
    assert enc.input_ids.row_lengths().numpy().max() == 9
    assert all(row[-1] == vocab.sep_id for row in enc.input_ids.numpy())


# --------------------------------------------------------------------------- masking (TF Text) vs the recipe
def _random_batch(seed, rows=64, vocab_size=1000):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(rows):
        n = int(rng.integers(8, 60))
        row = rng.integers(5, vocab_size, size=n)
        row[0], row[-1], row[n // 2] = 2, 3, 3  # [CLS] ... [SEP] ... [SEP]
        out.append(row)
    return tf.ragged.constant(out, dtype=tf.int32)


def _mask(ids, seed, stateless=False, **kw):
    """Global-seed masking (eager use in the lesson), or the stateless seeding the pipeline uses."""
    if stateless:
        kw["seed"] = tf.constant([seed, 0], tf.int64)
    else:
        tf.random.set_seed(seed)
    return P.mask_tokens(ids, vocab_size=1000, mask_id=4, unselectable_ids=[0, 1, 2, 3, 4], **kw)


@pytest.mark.parametrize("stateless", [False, True], ids=["global-seed", "stateless-seed"])
def test_tf_text_masking_agrees_with_the_bert_recipe_over_many_seeded_draws(stateless):
    # One call on 2,000 sequences (about 10,000 chosen tokens): the rates below are statistics
    # over many independent draws. (The lesson's grader uses numpy answers; TF Text is
    # measured here directly, which is much faster than 150 eager calls.)
    ids = _random_batch(0, rows=2000)
    masked, labels = _mask(ids, 11, stateless)
    ids, masked, labels = ids.flat_values.numpy(), masked.flat_values.numpy(), labels.flat_values.numpy()
    special = np.isin(ids, [0, 1, 2, 3, 4])
    is_chosen = labels != P.IGNORE_INDEX
    assert not np.any(is_chosen & special)  # special tokens never chosen
    assert np.array_equal(masked[~is_chosen], ids[~is_chosen])  # unchosen tokens untouched
    assert np.array_equal(labels[is_chosen], ids[is_chosen])  # labels are the original ids
    selectable, chosen = (~special).sum(), is_chosen.sum()
    new, old = masked[is_chosen], ids[is_chosen]
    as_mask, kept = (new == 4).sum(), (new == old).sum()
    randomised = ((new != 4) & (new != old)).sum()
    # TF Text chooses ceil(15 % of each row's selectable tokens): a little above 15 % on short rows.
    assert chosen > 9000 and 0.15 <= chosen / selectable < 0.17
    assert abs(as_mask / chosen - 0.8) < 4 * math.sqrt(0.8 * 0.2 / chosen)
    assert abs(kept / chosen - 0.1) < 4 * math.sqrt(0.09 / chosen) + 0.001  # + random draws equal to the original
    assert abs(randomised / chosen - 0.1) < 4 * math.sqrt(0.09 / chosen)
    # the random replacements are spread over the whole vocabulary
    replaced = new[(new != 4) & (new != old)]
    assert len(np.unique(replaced)) > 0.5 * len(replaced) and replaced.max() > 900


@pytest.mark.parametrize("stateless", [False, True], ids=["global-seed", "stateless-seed"])
def test_masking_is_reproducible_with_a_seed_and_differs_between_seeds(stateless):
    ids = _random_batch(0)
    first, again, other = (_mask(ids, seed, stateless)[0] for seed in (7, 7, 8))
    assert np.array_equal(first.flat_values.numpy(), again.flat_values.numpy())
    assert not np.array_equal(first.flat_values.numpy(), other.flat_values.numpy())


def test_mask_tokens_rejects_dense_input_and_bad_rates():
    with pytest.raises(TypeError, match="RaggedTensor"):
        P.mask_tokens(tf.constant([[2, 5, 3]]), vocab_size=10, mask_id=4, unselectable_ids=[0, 2, 3])
    with pytest.raises(ValueError, match="add up to at most 1"):
        P.mask_tokens(_random_batch(0), vocab_size=10, mask_id=4, unselectable_ids=[0], mask_token_rate=0.95)


# --------------------------------------------------------------------------- the tf.data pipeline
def _encoded(tokenizer, vocab, seed=0):
    return P.encode_pairs(P.make_nsp_pairs(DOCUMENTS, seed=seed), tokenizer, vocab, max_length=24)


def test_pipeline_yields_padded_inputs_positions_and_labels(tokenizer, vocab):
    enc = _encoded(tokenizer, vocab)
    features, labels = next(iter(P.pretraining_dataset(enc, vocab, batch_size=4, seed=0)))
    assert sorted(features) == ["attention_mask", "input_ids", "masked_positions", "token_type_ids"]
    batch, width = features["input_ids"].shape
    assert batch == 4 and features["attention_mask"].shape == (4, width) and labels["nsp"].shape == (4,)
    assert labels["mlm"].shape == features["masked_positions"].shape
    ids = features["input_ids"].numpy()
    assert np.all(ids[features["attention_mask"].numpy() == 0] == vocab.pad_id)  # padding only where masked out
    real = labels["mlm"].numpy() != P.IGNORE_INDEX
    assert real.sum(1).min() >= 1  # every pair has at least one chosen token
    at = np.take_along_axis(ids, features["masked_positions"].numpy(), 1)
    assert np.mean(at[real] == vocab.mask_id) > 0.5  # most chosen positions hold [MASK]


def test_pipeline_dense_labels_mark_only_chosen_positions(tokenizer, vocab):
    enc = _encoded(tokenizer, vocab)
    ds = P.pretraining_dataset(enc, vocab, batch_size=11, seed=0, shuffle=False, gather=False)
    features, labels = next(iter(ds))
    assert labels["mlm"].shape == features["input_ids"].shape
    original = enc.input_ids.to_tensor(0).numpy()
    chosen = labels["mlm"].numpy() != P.IGNORE_INDEX
    assert np.array_equal(labels["mlm"].numpy()[chosen], original[chosen])
    assert not np.any(chosen & (original < 5))  # never [PAD]/[CLS]/[SEP]


def test_pipeline_masks_are_reproducible_and_fresh_each_epoch(tokenizer, vocab):
    enc = _encoded(tokenizer, vocab)

    def two_epochs(seed):
        ds = P.pretraining_dataset(enc, vocab, batch_size=len(enc), seed=seed, shuffle=False, epochs=2, gather=False)
        return [f["input_ids"].numpy() for f, _ in ds]

    first = two_epochs(3)
    # Twice more: stateful random ops in tf.data functions could drift between calls.
    for again in (two_epochs(3), two_epochs(3)):
        assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], two_epochs(4)[0])
    assert not np.array_equal(first[0], first[1])  # dynamic masking: epoch 2 differs from epoch 1


# --------------------------------------------------------------------------- loss, metric, model
def test_masked_lm_loss_ignores_unchosen_positions_and_passes_the_grader():
    logits = tf.constant(np.random.default_rng(0).normal(size=(2, 3, 5)), tf.float32)
    labels = tf.constant([[1, -100, -100], [-100, 4, -100]])
    ce = tf.keras.losses.sparse_categorical_crossentropy([1, 4], tf.stack([logits[0, 0], logits[1, 1]]), from_logits=True)
    np.testing.assert_allclose(P.masked_lm_loss(labels, logits).numpy(), ce.numpy().mean(), rtol=1e-6)
    _passes_the_grader("lesson04.masked_lm_loss", P.masked_lm_loss)


def test_masked_accuracy_counts_chosen_positions_only():
    metric = P.MaskedLMAccuracy()
    logits = tf.one_hot([[1, 2, 3], [0, 0, 4]], 5)
    metric.update_state(tf.constant([[1, -100, 0], [-100, -100, 4]]), logits)
    assert metric.result().numpy() == pytest.approx(2 / 3)


def test_binomial_standard_error():
    assert P.binomial_standard_error(0.5, 100) == pytest.approx(0.05)


def test_the_grader_nsp_exercise_accepts_the_module_pairs():
    def pairs_from_module(documents, rng):
        return [(p.sentence_a, p.sentence_b, p.label) for p in P.make_nsp_pairs(documents, seed=int(rng.integers(2**31)))]

    _passes_the_grader("lesson04.make_nsp_pairs", pairs_from_module)


def test_lesson_graders_reject_their_known_wrong_answers():
    from bertlab.grading.core import audit, load_lesson

    graders = load_lesson("lesson04")
    assert [g.name for g in graders] == ["mask_tokens", "make_nsp_pairs", "masked_lm_loss"]
    assert all(audit(g) == [] for g in graders)
    assert lesson04.IGNORE_INDEX == P.IGNORE_INDEX


@pytest.mark.slow
def test_tiny_pretraining_compiles_and_fits_as_lesson_04_does_and_gathered_logits_match_the_full_model(tokenizer, vocab):
    from bertlab import finetuning

    data = P.PretrainingData(
        vocab=vocab,
        train=_encoded(tokenizer, vocab, seed=0),
        heldout=_encoded(tokenizer, vocab, seed=1),
        train_pairs=[],
        heldout_pairs=[],
        max_length=24,
    )
    model = P.build_pretraining_model(data.vocab.size, data.max_length, hidden_size=32, intermediate_size=64)
    steps = -(-data.pairs_per_pass // 4)
    # the lesson's compile cell
    model.compile(
        optimizer=finetuning.create_optimizer(1e-3, steps, warmup_ratio=0.1),
        loss={"mlm": P.masked_lm_loss, "nsp": tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)},
        metrics={"mlm": [P.MaskedLMAccuracy()], "nsp": [tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")]},
    )
    assert model.optimizer._learning_rate.get_config() == {"peak_lr": 1e-3, "total_steps": steps, "warmup_steps": round(0.1 * steps)}
    train_ds = P.pretraining_dataset(data.train, data.vocab, batch_size=4, seed=0, epochs=None)
    history = model.fit(train_ds, epochs=1, steps_per_epoch=steps, verbose=0)
    assert sorted(history.history) == ["loss", "mlm_accuracy", "mlm_loss", "nsp_accuracy", "nsp_loss"]
    assert len(history.history["loss"]) == 1 and all(np.isfinite(history.history["loss"]))
    np.testing.assert_allclose(history.history["loss"], np.add(history.history["mlm_loss"], history.history["nsp_loss"]), rtol=1e-5)
    assert model.bert.config.vocab_size == vocab.size and model.bert.config.hidden_size == 32
    # the gathered MLM head gives the full model's logits at the chosen positions
    features, _ = next(iter(P.heldout_dataset(data, batch_size=5)))
    gathered = model(features)["mlm"].numpy()
    full = model({k: v for k, v in features.items() if k != "masked_positions"})["mlm"].numpy()
    np.testing.assert_allclose(gathered, np.take_along_axis(full, features["masked_positions"].numpy()[..., None], 1), atol=1e-4)
    result = P.evaluate_pretraining(model, P.heldout_dataset(data), vocab)
    assert result["nsp_pairs"] == len(data.heldout) == 11
    assert result["masked_tokens"] >= 11 and 0 <= result["mlm_accuracy"] <= 1
    assert result["unigram_token"] == "."
    top = P.predict_masked(model, tokenizer, vocab, "how can it [MASK] them?", k=5)
    assert len(top) == 1 and len(top[0]) == 5


def test_masking_outcomes_and_split_name_what_happened_to_each_token():
    original = np.array([2, 10, 11, 12, 13, 3, 0])
    masked = np.array([2, 4, 99, 12, 13, 3, 0])
    labels = np.array([-100, 10, 11, 12, -100, -100, -100])
    outcomes = P.masking_outcomes(original, masked, labels, special_ids=[0, 2, 3, 4], mask_id=4)
    assert outcomes == ["special", "[MASK]", "random", "unchanged", "unchosen", "special", "special"]
    assert P.mask_split(original, masked, labels, mask_id=4) == pytest.approx({"[MASK]": 1 / 3, "random": 1 / 3, "unchanged": 1 / 3})


def test_prepare_draws_a_new_pairing_per_duplicate_and_balanced_heldout_pairs(tokenizer):
    train_documents, heldout_documents = P.split_documents(DOCUMENTS, heldout_fraction=0.34, seed=0)
    data = P.prepare_pretraining_data(train_documents, heldout_documents, tokenizer, duplicates=3, max_vocab=None, seed=0)
    assert len(data.heldout_documents) == 2 and len(data.train_documents) == 4
    per_pass = sum(len(d) - 1 for d in data.train_documents)
    assert data.pairs_per_pass == per_pass and len(data.train) == 3 * per_pass
    labels = data.train.nsp_labels.reshape(3, per_pass)
    assert len({tuple(row) for row in labels}) > 1  # the pairings differ
    assert data.heldout.nsp_labels.mean() == 0.5
    # the vocabulary comes from the training paragraphs only
    heldout_only = {w for d in data.heldout_documents for s in d for w in tokenizer.tokenize(s)} - {
        w for d in data.train_documents for s in d for w in tokenizer.tokenize(s)}
    assert heldout_only and not heldout_only & set(data.vocab.tokens)


def test_probe_sentences_mask_one_listed_word_in_short_sentences(vocab, tokenizer):
    probes = P.probe_sentences(["Do you not want to know who has taken it?", "Bingley."], tokenizer, vocab, words=["want", "it"], n=2)
    assert probes == ["Do you not [MASK] to know who has taken it?"]


def test_the_pretraining_model_refuses_a_positional_list_of_inputs():
    model = P.build_pretraining_model(vocab_size=50, max_length=16, hidden_size=16, num_hidden_layers=1,
                                      num_attention_heads=2, intermediate_size=32)
    ids = tf.constant([[2, 5, 3], [2, 6, 3]], tf.int32)
    with pytest.raises(TypeError, match="takes a dict keyed by .*input_ids"):
        model([ids, tf.ones_like(ids), tf.zeros_like(ids)])


def test_predict_masked_refuses_a_sentence_longer_than_the_model_positions(tokenizer, vocab):
    model = P.build_pretraining_model(vocab.size, max_length=16, hidden_size=16, num_hidden_layers=1,
                                      num_attention_heads=2, intermediate_size=32)
    with pytest.raises(ValueError, match="has 22 tokens but the model has position embeddings for 16 tokens only"):
        P.predict_masked(model, tokenizer, vocab, "a " * 19 + "[MASK]")


def test_evaluating_on_a_dataset_that_repeats_forever_is_refused(tokenizer, vocab):
    pairs = P.make_nsp_pairs(DOCUMENTS, seed=0)
    forever = P.pretraining_dataset(P.encode_pairs(pairs, tokenizer, vocab), vocab, batch_size=4, epochs=None)
    with pytest.raises(ValueError, match="dataset repeats forever.*epochs=1"):
        P.evaluate_pretraining(None, forever, vocab)


def test_top_predictions_log_prints_the_first_every_nth_and_last_epoch_but_keeps_all(monkeypatch):
    monkeypatch.setattr(P, "predict_masked", lambda model, tokenizer, vocab, sentence, k: ([sentence[:3], "the"],))
    printed = []
    watch = P.TopPredictionsCallback(["It [MASK] then.", "She [MASK] it."], None, None, k=2, print_fn=printed.append, every=3)
    watch.set_params({"epochs": 7})
    for epoch in range(7):
        watch.on_epoch_end(epoch, {"loss": 6.0 - epoch, "mlm_accuracy": 0.1, "nsp_accuracy": 0.5, "mlm_loss": 5.0})
    headers = [line for line in printed if line.startswith("epoch")]
    assert headers == [f"epoch {e:>2}: loss {6.0 - e + 1:.3f}, mlm_accuracy 0.100, nsp_accuracy 0.500" for e in (1, 3, 6, 7)]
    assert len(printed) == 4 * 3 and len(watch.history) == 7
    with pytest.raises(ValueError, match="every must be >= 1"):
        P.TopPredictionsCallback([], None, None, every=0)
