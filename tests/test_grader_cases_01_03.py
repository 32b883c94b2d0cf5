"""The named edge cases of the graders of lessons 01-03 (issue 23): each list exists and holds
the boundaries its exercise's definition has, the solution in the notebook passes them, and the
wrong answers that passed before these cases fail with a hint that names the case.

The proofs over every registered answer (each wrong answer rejected with its hint, each right
answer given full points) are in tests/test_grading.py; here are the properties of the cases.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from bertlab.grading import core, lesson01, lesson02, lesson03

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {"lesson01": "01_installation", "lesson02": "02_preprocessing", "lesson03": "03_encoder_outputs"}


def _solution(lesson: str, name: str):
    """The graded function as the solution notebook defines it (the cell's whole source, executed)."""
    cells = json.loads((ROOT / "notebooks" / "solutions" / f"{NOTEBOOKS[lesson]}.ipynb").read_text(encoding="utf-8"))["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    source = next(s for s in sources if re.match(rf"# GRADED FUNCTION: {name}\b", s))
    assert "### BEGIN SOLUTION" in source and "### END SOLUTION" in source
    import tensorflow as tf

    namespace = {"np": np, "tf": tf}
    exec(compile(source, f"<{lesson}.{name} solution>", "exec"), namespace)
    return namespace[name]


# ---------------------------------------------------------------------------------------
# The solutions pass
# ---------------------------------------------------------------------------------------
FAST = [("lesson03", "masked_mean_pool"), ("lesson03", "most_different_layer")]
NEEDS_DATA = [("lesson02", "pack_pair"), ("lesson02", "wordpiece"), ("lesson02", "attention_mask_from_ids")]
SLOW = [("lesson01", "count_bert_parameters"), ("lesson01", "encoder_block_parameters"), ("lesson01", "dummy_inputs"),
        ("lesson03", "scaled_dot_product_attention")]


@pytest.mark.parametrize("lesson, name", FAST)
def test_the_solution_passes_every_case(lesson, name):
    result = core.grade(f"{lesson}.{name}", _solution(lesson, name))
    assert result.passed and result.points == result.max_points, result.message


@pytest.mark.parametrize("lesson, name", NEEDS_DATA)
def test_the_solution_passes_every_case_on_the_real_data(lesson, name, shared_data_dir):
    result = core.grade(f"{lesson}.{name}", _solution(lesson, name))
    assert result.passed and result.points == result.max_points, result.message


@pytest.mark.slow
@pytest.mark.parametrize("lesson, name", SLOW)
def test_the_solution_passes_every_case_with_the_models(lesson, name):
    result = core.grade(f"{lesson}.{name}", _solution(lesson, name))
    assert result.passed and result.points == result.max_points, result.message


# ---------------------------------------------------------------------------------------
# The wrong answers these cases catch; each passed the grader before them
# ---------------------------------------------------------------------------------------
NEW_WRONG = [
    ("lesson03.most_different_layer", lesson03.skipping_the_embedding_layer,
     "case 'answer is layer 0 (the embedding layer)': got "),
    ("lesson03.most_different_layer", lesson03.lowest_absolute_cosine, "case 'the lowest cosine is negative': got 1, expected 3"),
    ("lesson03.most_different_layer", lesson03.normalising_in_place, "changed its input vectors_a"),
    ("lesson03.masked_mean_pool", lesson03.mean_zeroing_the_padding_in_place, "changed its input sequence_output"),
]
NEW_WRONG_WITH_DATA = [
    ("lesson02.pack_pair", lesson02.pack_pair_with_bankers_rounding,
     "case 'equal lengths, room 7 (≡ 3 mod 4): the second keeps the extra token'"),
    ("lesson02.pack_pair", lesson02.pack_pair_truncating_in_place, "changed its input ids_a"),
    ("lesson02.wordpiece", lesson02.wordpiece_backtracking,
     "case 'greedy dead end: no backtracking to a shorter first piece': 'abc' with a tiny vocabulary: expected ['[UNK]'], got ['a', '##bc']"),
    ("lesson02.wordpiece", lesson02.wordpiece_adding_the_word_to_the_vocabulary, "changed its input vocab"),
    ("lesson02.attention_mask_from_ids", lesson02.mask_from_the_lengths,
     "case 'left padding': row 0 (ids [0, 0, 101, 2023, 102]): got [1, 1, 1, 0, 0], expected [0, 0, 1, 1, 1]"),
    ("lesson02.attention_mask_from_ids", lesson02.mask_written_into_the_ids, "changed its input input_word_ids"),
]
NEW_WRONG_SLOW = [
    ("lesson03.scaled_dot_product_attention", lesson03.attention_masking_keys_after_the_length,
     "case 'mask with a hole' (attention_mask 110111 111101): probability"),
    ("lesson01.dummy_inputs", lesson01.dummy_inputs_first_inputs_length,
     "case 'inputs of different lengths (7, 3)': input_2_of_length_3 expects shape (batch_size, seq_len) = (2, 3), got (2, 7)"),
]


def _registered(key, fn):
    return any(w.fn is fn for w in core.get_grader(key).wrong_answers)


@pytest.mark.parametrize("key, fn, hint", NEW_WRONG, ids=lambda x: getattr(x, "__name__", None))
def test_a_wrong_answer_the_new_cases_catch_fails_naming_the_case(key, fn, hint):
    assert _registered(key, fn)
    result = core.grade(key, fn)
    assert not result.passed and hint in result.message, result.message


@pytest.mark.parametrize("key, fn, hint", NEW_WRONG_WITH_DATA, ids=lambda x: getattr(x, "__name__", None))
def test_a_wrong_answer_the_new_cases_catch_fails_naming_the_case_on_the_real_data(key, fn, hint, shared_data_dir):
    assert _registered(key, fn)
    result = core.grade(key, fn)
    assert not result.passed and hint in result.message, result.message


@pytest.mark.slow
@pytest.mark.parametrize("key, fn, hint", NEW_WRONG_SLOW, ids=lambda x: getattr(x, "__name__", None))
def test_a_wrong_answer_the_new_cases_catch_fails_naming_the_case_with_the_models(key, fn, hint):
    assert _registered(key, fn)
    result = core.grade(key, fn)
    assert not result.passed and hint in result.message, result.message


def test_the_hint_says_what_was_measured_not_a_guess():
    result = core.grade("lesson03.most_different_layer", lesson03.skipping_the_embedding_layer)
    got = int(re.search(r"got (\d+), expected 0 ", result.message).group(1))
    a, b = next((a, b) for name, a, b, _ in lesson03._layer_cases() if name.startswith("answer is layer 0"))
    assert got == 1 + int(np.argmin(lesson03._cosine(a, b)[1:]))  # the index the answer returned


# ---------------------------------------------------------------------------------------
# lesson03: the named cases hold the boundaries
# ---------------------------------------------------------------------------------------
def test_most_different_layer_cases_include_layer_0_the_last_layer_a_tie_and_negative_cosines():
    named = lesson03._layer_cases()[: len(lesson03.LAYER_EDGE_CASES)]
    assert [name for name, *_ in named] == [name for name, *_ in lesson03.LAYER_EDGE_CASES]
    accepted = {name: set(ok) for name, a, b, ok in named}
    assert accepted["answer is layer 0 (the embedding layer)"] == {0}
    last = next((name, a) for name, a, b, ok in named if name == "answer is the last layer")
    assert accepted[last[0]] == {len(last[1]) - 1}
    assert accepted["tie between layers 2 and 4"] == {2, 4}
    assert accepted["a single row (embedding layer only)"] == {0}
    a, b = next((a, b) for name, a, b, _ in named if name == "the lowest cosine is negative")
    cosine = lesson03._cosine(a, b)
    assert cosine.min() < -0.9 and np.abs(cosine).min() < 0.05  # |cosine| would pick another row
    # the lengths change from layer to layer in every case, so dot products are not cosines
    norms = np.linalg.norm(named[0][1].astype(np.float64), axis=1)
    assert norms.max() / norms.min() > 2


def test_every_layer_case_keeps_a_margin_between_the_answer_and_the_next_layer():
    for name, a, b, accepted in lesson03._layer_cases():
        cosine = np.sort(lesson03._cosine(a, b))
        if len(cosine) > len(accepted):
            assert cosine[len(accepted)] - cosine[0] > 1e-4, name  # float32 arithmetic cannot flip the answer


def test_masked_mean_pool_cases_include_holes_left_padding_full_masks_batch_of_one_and_other_dtypes():
    named = {name: (states, mask) for name, states, mask, _ in lesson03._pool_cases()[: len(lesson03.POOL_EDGE_CASES)]}
    assert (named["full mask (no padding)"][1] == 1).all()
    holes = named["mask with holes"][1]
    assert any(re.search("10+1", "".join(map(str, row))) for row in holes)
    assert (named["left padding"][1][:, 0] == 0).all() and (named["left padding"][1][:, -1] == 1).all()
    assert named["batch of one"][0].shape[0] == 1
    assert named["float mask (0.0 / 1.0)"][1].dtype == np.float32
    assert named["float64 states, int64 mask"][0].dtype == np.float64
    for states, mask in named.values():
        assert mask.sum(axis=1).min() >= 1  # an empty row has no mean: never graded


def test_attention_cases_include_a_hole_left_padding_a_batch_of_one_and_a_float_mask():
    named = {case[0]: case for case in lesson03._attention_cases()[: len(lesson03.ATTENTION_EDGE_CASES)]}
    hole = named["mask with a hole"][4]
    assert all(re.search("10+1", "".join(map(str, row))) for row in hole)
    assert (named["left padding"][4][:, 0] == 0).all()
    assert named["batch of one, no padding"][1].shape[0] == 1 and (named["batch of one, no padding"][4] == 1).all()
    assert named["float32 mask"][4].dtype == np.float32
    assert named["one head, odd d_head 5"][1].shape[1:2] == (1,) and named["one head, odd d_head 5"][1].shape[-1] == 5
    for name, q, k, v, mask, context, p in named.values():
        masked = np.broadcast_to((mask == 0)[:, None, None, :], p.shape)
        assert np.all(p[masked] == 0) and np.allclose(p.sum(-1), 1), name


def test_attention_masking_by_length_would_pass_right_padded_masks_only():
    """The wrong answer's mistake shows only where the mask is not a prefix of ones."""
    for name, q, k, v, mask, context, p in lesson03._attention_cases():
        _, got = lesson03.attention_masking_keys_after_the_length(q, k, v, mask)
        is_prefix = all(re.fullmatch("1*0*", "".join(str(int(m)) for m in row)) for row in mask)
        assert np.allclose(got, p, atol=1e-4) == is_prefix, name


# ---------------------------------------------------------------------------------------
# lesson02
# ---------------------------------------------------------------------------------------
def test_pack_pair_cases_include_rooms_3_mod_4_where_bankers_rounding_differs():
    named = {name: (a, b, max_length) for name, a, b, max_length, _ in lesson02._edge_pairs()}
    assert list(named) == [name for name, *_ in lesson02.PAIR_EDGE_CASES]
    odd = [(a, b, L) for a, b, L in named.values() if (L - 3) % 4 == 3 and len(a) + len(b) > L - 3]
    assert any(len(a) == len(b) for a, b, _ in odd) and any(len(a) != len(b) for a, b, _ in odd)
    assert all(round((L - 3) / 2) != (L - 3) // 2 for _, _, L in odd)
    assert any((L - 3) % 4 == 1 and len(a) == len(b) for a, b, L in named.values())
    assert any(not a for a, b, _ in named.values()) and any(not b for a, b, _ in named.values())
    assert any(L == 3 for *_, L in named.values()) and any(L == 512 for *_, L in named.values())
    assert any(len(a) + len(b) == L - 3 for a, b, L in named.values())  # exactly full: no padding
    ids = [i for a, b, _ in named.values() for i in a + b]
    assert {lesson02.UNK, lesson02.MASK} <= set(ids) and not {0, 101, 102} & set(ids)
    assert min(i for i in ids if i not in (100, 103)) > 2000  # whole-word ids of the real vocabulary


def test_pack_pair_named_cases_agree_with_the_fast_tokenizer():
    """The named cases' expected values come from the exercise's rule; where the tokenizer can
    encode the pair (a non-empty second text: it drops the pair's [SEP] for an empty one) it agrees."""
    tokenizer = lesson02._tokenizer()
    checked = 0
    for name, a, b, max_length, expected in lesson02._edge_pairs():
        if not b:
            assert expected["input_ids"].count(lesson02.SEP) == 2, name
            continue
        text_a, text_b = (" ".join(tokenizer.convert_ids_to_tokens(ids)) for ids in (a, b))
        want = tokenizer(text_a, text_b, truncation="longest_first", max_length=max_length, padding="max_length")
        assert {k: want[k] for k in expected} == expected, name
        checked += 1
    assert checked >= len(lesson02.PAIR_EDGE_CASES) - 2


def test_wordpiece_named_cases_mean_what_their_names_say():
    names = [name for name, word, which in lesson02.WORDPIECE_EDGE_CASES if which == "tiny"]
    words = [word for name, word, which in lesson02.WORDPIECE_EDGE_CASES if which == "tiny"]
    want = dict(zip(names, lesson02._tf_text_pieces(words, list(lesson02.TINY_VOCAB))))
    assert want["greedy dead end: no backtracking to a shorter first piece"] == ["[UNK]"]
    assert lesson02.wordpiece_backtracking("abc", set(lesson02.TINY_VOCAB)) == ["a", "##bc"]  # a split exists
    assert want["the longest piece, not the first one found"] == ["def", "##g"]
    assert want["a continuation that exists only without '##'"] == ["[UNK]"]
    assert want["a first piece that exists only with '##'"] == ["k", "##l"]
    assert want["single-character pieces all the way"] == ["m", "##n", "##o", "##p"]
    assert want["the last character is unknown"] == want["the first character is unknown"] == ["[UNK]"]
    assert want["a single character not in the vocabulary"] == ["[UNK]"]


def test_attention_mask_cases_include_left_padding_holes_an_empty_row_and_real_special_ids():
    named = {name: (np.array(rows), dtype) for name, rows, dtype in lesson02.MASK_EDGE_CASES}
    assert (named["left padding"][0][:, 0] == 0).all()
    assert any(re.search("10+1", "".join(str(int(i != 0)) for i in row)) for row in named["a [PAD] hole inside a row"][0])
    assert any((row == 0).all() for row in named["a row of only padding (empty mask)"][0])
    assert (named["no padding (full mask)"][0] != 0).all()
    assert named["batch of one"][0].shape[0] == 1
    assert {100, 101, 102, 103} <= set(np.concatenate([ids.ravel() for ids, _ in named.values()]).tolist())
    assert named["int64 ids"][1] is np.int64


# ---------------------------------------------------------------------------------------
# lesson01
# ---------------------------------------------------------------------------------------
def test_count_cases_change_each_argument_alone():
    base = dict(lesson01.COUNT_EDGE_CASES[0][1])
    changed = set()
    for name, config in lesson01.COUNT_EDGE_CASES[1:]:
        differs = [k for k in base if config[k] != base[k]]
        if len(differs) == 1:
            changed.add(differs[0])
    assert changed >= {"vocab_size", "hidden_size", "num_layers", "ff_size", "max_positions"}
    assert any(c["hidden_size"] == 1 for _, c in lesson01.COUNT_EDGE_CASES)
    assert any(c["ff_size"] < c["hidden_size"] for _, c in lesson01.COUNT_EDGE_CASES)


def test_dummy_input_cases_include_inputs_of_different_lengths_a_single_input_and_a_batch_of_one():
    lengths = {name: (ls, batch) for name, ls, batch in lesson01.DUMMY_EDGE_CASES}
    assert any(len(set(ls)) > 1 for ls, _ in lengths.values())
    assert any(len(ls) == 1 for ls, _ in lengths.values())
    assert any(batch == 1 for _, batch in lengths.values())


@pytest.mark.slow
def test_the_named_counts_are_keras_berts():
    """The graders take the named cases' expected counts from the exercise's formula (no model
    build while grading); keras-bert agrees with every one."""
    for name, config in lesson01.COUNT_EDGE_CASES:
        assert lesson01._reference_count(**lesson01._learner_args(config)) == lesson01._keras_bert_count(**config), name
    for name, H, F, heads in lesson01.BLOCK_EDGE_CASES:
        assert lesson01._reference_block(H, F, heads) == lesson01._keras_bert_block_count(H, F, heads), name
