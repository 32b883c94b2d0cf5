"""Tests of bertlab.encoder: the TF Hub encoder's outputs, contextual vectors, attention, sentence embeddings."""
import bertlab  # noqa: F401  (Keras 2 before tensorflow)

import numpy as np
import pytest

from bertlab import encoder as E
from bertlab.models import get_spec
from bertlab.preprocessing import get_inputs

SPEC = get_spec()
SENTENCES = ["How are you?", "I want to embed. Maybe now", "The river bank was muddy."]


# --- fast: pooling and similarity -------------------------------------------------------------
def test_masked_mean_pool_ignores_padding_positions():
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(2, 5, 4))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    pooled = E.masked_mean_pool(hidden, mask)
    np.testing.assert_allclose(pooled[0], hidden[0, :3].mean(axis=0))
    np.testing.assert_allclose(pooled[1], hidden[1].mean(axis=0))
    hidden[0, 3:] = 1e6  # whatever sits on padding must not matter
    np.testing.assert_allclose(E.masked_mean_pool(hidden, mask)[0], pooled[0])


def test_masked_mean_pool_refuses_an_all_padding_row_and_bad_shapes():
    with pytest.raises(ValueError, match="all zeros"):
        E.masked_mean_pool(np.ones((1, 3, 2)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="batch, length"):
        E.masked_mean_pool(np.ones((3, 2)), np.ones((3, 2)))


def test_cosine_similarity_matrix_matches_the_definition():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    matrix = E.cosine_similarity_matrix(a)
    expected = np.array([[1, 1 / np.sqrt(2), 0], [1 / np.sqrt(2), 1, 1 / np.sqrt(2)], [0, 1 / np.sqrt(2), 1]])
    np.testing.assert_allclose(matrix, expected, atol=1e-12)
    assert E.cosine_similarity_matrix(a, a[:1]).shape == (3, 1)
    with pytest.raises(ValueError, match="zero vector"):
        E.cosine_similarity_matrix(np.zeros((1, 2)))


# --- the TF Hub encoder -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def outputs():
    return E.run_encoder(SENTENCES)


@pytest.mark.slow
def test_hub_encoder_returns_the_four_keys_with_their_shapes(outputs):
    hidden = SPEC.hidden_size
    assert sorted(outputs) == sorted(E.OUTPUT_KEYS)
    assert outputs["sequence_output"].shape == (3, 128, hidden)
    assert outputs["pooled_output"].shape == (3, hidden)
    np.testing.assert_array_equal(outputs["default"], outputs["pooled_output"])
    assert len(outputs["encoder_outputs"]) == SPEC.num_layers
    assert all(layer.shape == (3, 128, hidden) for layer in outputs["encoder_outputs"])
    np.testing.assert_array_equal(outputs["encoder_outputs"][-1], outputs["sequence_output"])
    table = E.describe_outputs(outputs)
    assert table.loc["encoder_outputs", "shape"] == f"{SPEC.num_layers} x (3, 128, {hidden})"


@pytest.mark.slow
def test_pooled_output_is_tanh_of_a_dense_layer_on_the_cls_vector(outputs):
    pooler = E.load_model().bert.pooler.dense
    expected = np.tanh(outputs["sequence_output"][:, 0] @ pooler.kernel.numpy() + pooler.bias.numpy())
    np.testing.assert_allclose(outputs["pooled_output"], expected, atol=1e-4)
    assert np.abs(outputs["pooled_output"]).max() <= 1.0


@pytest.mark.slow
def test_transformers_model_gives_the_same_sequence_output_as_the_hub_encoder(outputs):
    inputs = get_inputs(SENTENCES, names="transformers", max_length=128)
    hidden = E.load_model()(inputs).last_hidden_state.numpy()
    mask = inputs["attention_mask"].astype(bool)
    np.testing.assert_allclose(hidden[mask], outputs["sequence_output"][mask], atol=1e-3)


# --- a word in context ------------------------------------------------------------------------
@pytest.mark.slow
def test_static_embedding_is_identical_but_contextual_vectors_of_bank_differ():
    river, money = "We sat on the bank of the river.", "She put the money in her bank account."
    similarity = E.word_similarity_by_layer(river, money, "bank")
    assert similarity.shape == (SPEC.num_layers + 1,)
    assert similarity[1:].max() < 0.95  # every layer tells the two uses apart
    static = E.static_word_vector("bank")
    assert static.shape == (SPEC.hidden_size,)
    # the static vector is the table row of the token "bank": the same whatever the sentence
    bank_id = E._tokenizer(None).convert_tokens_to_ids("bank")
    np.testing.assert_array_equal(static, E.load_model().bert.embeddings.weight.numpy()[bank_id])
    # a word of several pieces gets the mean of its pieces' rows
    pieces = E._tokenizer(None)("unaffable", add_special_tokens=False)["input_ids"]
    assert len(pieces) == 3
    np.testing.assert_allclose(
        E.static_word_vector("unaffable"), E.load_model().bert.embeddings.weight.numpy()[pieces].mean(axis=0), rtol=1e-6
    )


@pytest.mark.slow
def test_same_meaning_is_closer_than_different_meaning_in_the_middle_layers():
    table = E.sense_similarity_by_layer(
        "bank",
        ["We sat on the bank of the river.", "The boat drifted towards the muddy bank."],
        ["She put the money in her bank account.", "The bank approved my loan yesterday."],
    )
    assert list(table.columns) == ["same_meaning", "different_meaning", "gap"]
    assert len(table) == SPEC.num_layers + 1
    middle = table.loc[2 : SPEC.num_layers - 1, "gap"]
    assert (middle > 0.02).all()


@pytest.mark.slow
def test_a_word_of_several_pieces_is_the_mean_of_its_pieces_at_every_layer():
    vectors = E.word_layer_vectors("I want to embed it", "embed")  # [CLS] i want to em ##bed it [SEP]
    inputs = get_inputs(["I want to embed it"], names="transformers", padding="longest")
    hidden = E.load_model()(inputs, output_hidden_states=True).hidden_states
    expected = np.stack([h.numpy()[0, 4:6].mean(axis=0) for h in hidden])
    assert vectors.shape == (SPEC.num_layers + 1, SPEC.hidden_size)
    np.testing.assert_allclose(vectors, expected, atol=1e-6)


def test_a_word_missing_from_the_sentence_is_named_in_the_error():
    with pytest.raises(ValueError, match="'mole'"):
        E._word_positions(E._tokenizer(None), [101, 2129, 102], "mole")


# --- attention and search ---------------------------------------------------------------------
@pytest.mark.slow
def test_attention_weights_have_one_softmax_row_per_token_per_head_and_layer():
    tokens, weights = E.attention_weights("The mole dug a tunnel.")
    assert tokens == ["[CLS]", "the", "mole", "dug", "a", "tunnel", ".", "[SEP]"]
    assert weights.shape == (SPEC.num_layers, 12, 8, 8)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)
    fig = E.plot_attention(tokens, weights, layers=(0,), heads=(0, 1))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == tokens


@pytest.mark.slow
def test_semantic_search_finds_the_paraphrase_of_a_real_mrpc_sentence():
    from bertlab.data import load_mrpc

    dev = load_mrpc("validation")
    pairs = dev[dev.label == 1].head(20)
    corpus = list(pairs.sentence2)
    results = E.semantic_search(list(pairs.sentence1), corpus, top_k=1)
    hits = (results["sentence"].tolist() == np.array(corpus)).mean()
    assert hits >= 0.9
    assert results["score"].between(-1, 1).all()


# --- inside the encoder: one layer rebuilt from its weights -------------------------------------
def _reference_attention(q, k, v, mask):
    """Masked scaled dot-product attention in float64 NumPy, written independently of bertlab."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    scores = np.where(mask[:, None, None, :] == 1, scores, -np.inf)
    probabilities = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    return probabilities @ v, probabilities


def test_scaled_dot_product_attention_matches_a_numpy_reference_and_ignores_padded_keys():
    import tensorflow as tf

    rng = np.random.default_rng(3)
    q, k, v = (rng.normal(size=(2, 3, 5, 4)).astype(np.float32) for _ in range(3))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    context, probabilities = E.scaled_dot_product_attention(tf.constant(q), tf.constant(k), tf.constant(v), mask)
    expected_context, expected_probabilities = _reference_attention(q, k, v, mask)
    np.testing.assert_allclose(probabilities.numpy(), expected_probabilities, atol=1e-6)
    np.testing.assert_allclose(context.numpy(), expected_context, atol=1e-5)
    assert probabilities.shape == (2, 3, 5, 5)
    np.testing.assert_array_equal(probabilities.numpy()[0, :, :, 3:], 0.0)
    np.testing.assert_allclose(probabilities.numpy().sum(axis=-1), 1.0, atol=1e-6)
    # Whatever sits at padded positions of the keys and values must not change the real tokens' context.
    k[0, :, 3:], v[0, :, 3:] = 1e3, -1e3
    moved, _ = E.scaled_dot_product_attention(tf.constant(q), tf.constant(k), tf.constant(v), mask)
    np.testing.assert_allclose(moved.numpy()[0], context.numpy()[0], atol=1e-5)


def test_split_and_merge_heads_are_inverse_and_refuse_an_uneven_split():
    import tensorflow as tf

    x = tf.reshape(tf.range(2 * 3 * 12, dtype=tf.float32), (2, 3, 12))
    heads = E.split_heads(x, 4)
    assert heads.shape == (2, 4, 3, 3)
    np.testing.assert_array_equal(heads.numpy()[0, 1, 2], x.numpy()[0, 2, 3:6])  # head 1 = hidden units 3..5
    np.testing.assert_array_equal(E.merge_heads(heads).numpy(), x.numpy())
    with pytest.raises(ValueError, match="not divisible"):
        E.split_heads(x, 5)


def test_layer_norm_and_gelu_match_keras_and_tensorflow():
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(1).normal(size=(2, 3, 8)), tf.float32)
    gamma, beta = tf.linspace(0.5, 1.5, 8), tf.linspace(-1.0, 1.0, 8)
    keras_norm = tf.keras.layers.LayerNormalization(epsilon=1e-12)
    keras_norm.build(x.shape)
    keras_norm.set_weights([gamma.numpy(), beta.numpy()])
    np.testing.assert_allclose(E.layer_norm(x, gamma, beta).numpy(), keras_norm(x).numpy(), atol=1e-5)
    np.testing.assert_allclose(E.gelu(x).numpy(), tf.nn.gelu(x, approximate=False).numpy(), atol=1e-6)


@pytest.mark.slow
def test_first_layer_rebuilt_from_its_weights_matches_the_model():
    result = E.rebuild_first_layer(["The river bank was muddy.", "Hi there, how are you doing today?"])
    mask = result["attention_mask"][:, :, None]
    assert mask[0].sum() < mask[1].sum()  # the batch has padding, so the mask is exercised
    assert result["attention"].shape == result["model_attention"].shape == (2, 12, mask.shape[1], mask.shape[1])
    assert result["output"].shape == (2, mask.shape[1], SPEC.hidden_size)
    np.testing.assert_allclose(result["embeddings"] * mask, result["model_embeddings"] * mask, atol=1e-4)
    np.testing.assert_allclose(result["attention"], result["model_attention"], atol=1e-4)
    np.testing.assert_allclose(result["output"] * mask, result["model_output"] * mask, atol=1e-4)


def test_encoder_layer_figure_shows_the_model_shapes():
    from types import SimpleNamespace

    config = SimpleNamespace(hidden_size=768, num_attention_heads=12, intermediate_size=3072, num_hidden_layers=12)
    fig = E.plot_encoder_layer(config)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "(B, T, 768)" in texts and "(B, T, 3072)" in texts and "(B, 12, T, T)" in texts
    assert "3 x (B, 12, T, 64)" in texts
    assert "12 layers" in fig.axes[0].texts[-1].get_text()
    assert "hidden 768" in fig.axes[0].get_title()


@pytest.mark.slow
def test_the_model_is_loaded_once_however_it_is_named():
    assert E.load_model() is E.load_model(None) is E.load_model(model=SPEC.name)
