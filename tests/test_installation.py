"""bertlab.installation: lesson 01's parameter accounting and its figure."""
from __future__ import annotations

import warnings

import pytest

import bertlab  # noqa: F401  (Keras 2 before keras_bert)
from bertlab import installation


@pytest.fixture(scope="module")
def tiny_bert():
    from keras_bert import get_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_model(token_num=50, pos_num=16, seq_len=16, embed_dim=8, transformer_num=2,
                         head_num=2, feed_forward_dim=12)


def test_layer_names_map_to_components():
    assert installation.component_of("Embedding-Token") == "token embedding"
    assert installation.component_of("Embedding-Norm") == "segment embedding + LayerNorm"
    assert installation.component_of("Encoder-11-MultiHeadSelfAttention-Norm") == "self-attention (all blocks)"
    assert installation.component_of("Encoder-2-FeedForward") == "feed-forward (all blocks)"
    assert installation.component_of("MLM-Sim") == "MLM head"
    assert installation.component_of("NSP-Dense") == "NSP head"
    assert installation.component_of("Input-Token") is None


@pytest.mark.slow
def test_components_add_up_to_count_params_with_the_expected_sizes(tiny_bert):
    counts = installation.parameters_by_component(tiny_bert)
    H, F, V, P, L = 8, 12, 50, 16, 2
    assert counts == {
        "token embedding": V * H,
        "position embedding": P * H,
        "segment embedding + LayerNorm": 2 * H + 2 * H,
        "self-attention (all blocks)": L * (4 * (H * H + H) + 2 * H),
        "feed-forward (all blocks)": L * (2 * H * F + F + H + 2 * H),
        "MLM head": H * H + H + 2 * H + V,
        "NSP head": H * H + H + 2 * H + 2,
    }
    assert sum(counts.values()) == tiny_bert.count_params()


@pytest.mark.slow
def test_summary_by_group_has_one_row_per_block_and_the_total(tiny_bert):
    frame = installation.summary_by_group(tiny_bert)
    assert list(frame.index) == ["Inputs", "Embeddings", "Encoder-1", "Encoder-2", "MLM head", "NSP head", "total"]
    assert frame.loc["total", "parameters"] == tiny_bert.count_params()
    assert frame.loc["total", "layers"] == len(tiny_bert.layers)
    assert frame.loc["Encoder-1", "parameters"] == frame.loc["Encoder-2", "parameters"] == 8 * 8 * 4 + 4 * 8 + 16 + 2 * 8 * 12 + 12 + 8 + 16


@pytest.mark.slow
def test_the_summary_excerpt_keeps_head_and_tail(tiny_bert, capsys):
    lines = installation.summary_lines(tiny_bert)
    installation.print_summary_excerpt(tiny_bert, head=5, tail=3)
    out = capsys.readouterr().out.splitlines()
    assert out[:5] == lines[:5] and out[-3:] == lines[-3:]
    assert out[5] == f"... {len(lines) - 8} more lines ..."


def test_the_parameter_figure_is_labelled():
    import matplotlib

    matplotlib.use("Agg")
    ax = installation.plot_parameter_breakdown({"token embedding": 768_000, "segment embedding + LayerNorm": 3_072})
    assert ax.get_title() == "Where BERT's parameters live (total 0.77 M)"
    assert ax.get_xlabel() == "parameters (millions)" and ax.get_ylabel() == "component"
    assert [t.get_text() for t in ax.texts] == [" 0.77 M (99.6 %)", " 3,072 (0.4 %)"]
    with pytest.raises(ValueError, match="empty"):
        installation.plot_parameter_breakdown({})
