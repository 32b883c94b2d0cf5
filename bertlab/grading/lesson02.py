"""Graders for lesson 02 "Preprocessing": packing a pair, WordPiece for one word, the attention mask.

* ``pack_pair`` is compared with the transformers fast tokenizer on real MRPC sentence pairs
  and lengths drawn with a fixed seed;
* ``wordpiece`` with ``tensorflow_text.WordpieceTokenizer`` on real words (MRPC and SMS),
  word pieces and unknown words, over the full BERT vocabulary and a small one;
* ``attention_mask_from_ids`` with the mask the tokenizer gives for real, padded batches.

Each runs in about a second once the tokenizer and the data are loaded.
"""
from __future__ import annotations

import functools
import re

import numpy as np

from bertlab.grading.core import GradingError, grader, wrong_answer

from bertlab.bert_inputs import CLS_ID as CLS, HUB_KEYS as KEYS, PAD_ID as PAD, SEP_ID as SEP


@functools.lru_cache(maxsize=1)
def _tokenizer():
    from bertlab.models import load_tokenizer

    return load_tokenizer("minilm-l6")  # the uncased BERT vocabulary, offline


@functools.lru_cache(maxsize=1)
def _mrpc():
    from bertlab.data import load_mrpc

    return load_mrpc("validation")


# ---------------------------------------------------------------------------------------
# pack_pair(ids_a, ids_b, max_length) -> {input_word_ids, input_mask, input_type_ids}
# ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _pair_cases():
    """(ids_a, ids_b, max_length, expected) for seeded real MRPC pairs and lengths."""
    tokenizer = _tokenizer()
    frame = _mrpc()
    rng = np.random.default_rng(202)
    rows = rng.choice(len(frame), size=14, replace=False)
    # lengths: no truncation, one side cut, both cut (odd and even room), tiny
    lengths = [128, 96, 64, 48, 41, 40, 33, 32, 25, 24, 17, 12, 7, 5]
    cases = []
    for row, max_length in zip(rows, lengths):
        a, b = frame.sentence1.iloc[row], frame.sentence2.iloc[row]
        ids_a = tokenizer(a, add_special_tokens=False)["input_ids"]
        ids_b = tokenizer(b, add_special_tokens=False)["input_ids"]
        expected = tokenizer(a, b, truncation="longest_first", max_length=max_length, padding="max_length")
        cases.append((ids_a, ids_b, max_length, expected))
    # equal lengths with an odd room: the second segment keeps the extra token
    a, b = "one two three four five six seven eight nine ten", "eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"
    expected = tokenizer(a, b, truncation="longest_first", max_length=12, padding="max_length")
    ids_a, ids_b = (tokenizer(t, add_special_tokens=False)["input_ids"] for t in (a, b))
    cases.append((ids_a, ids_b, 12, expected))
    return cases


def _as_list(value, key):
    if hasattr(value, "numpy"):
        value = value.numpy()
    array = np.asarray(value)
    if array.ndim != 1:
        raise GradingError(f"{key} should be one flat list of ints (one example), got shape {array.shape}")
    return array.tolist()


@grader("pack_pair", points=3, prepare=_pair_cases)
def grade_pack_pair(learner_fn):
    """Same ids, mask and type ids as ``tokenizer(a, b, truncation="longest_first", padding="max_length")``."""
    for ids_a, ids_b, max_length, expected in _pair_cases():
        got = learner_fn(list(ids_a), list(ids_b), max_length)
        if not isinstance(got, dict) or set(got) != set(KEYS):
            raise GradingError(f"return a dict with the keys {list(KEYS)}, got {type(got).__name__}"
                               + (f" with keys {sorted(got)}" if isinstance(got, dict) else ""))
        ids = _as_list(got["input_word_ids"], "input_word_ids")
        want_ids = expected["input_ids"]
        where = f"(pair of {len(ids_a)} + {len(ids_b)} tokens, max_length={max_length})"
        if len(ids) != max_length:
            raise GradingError(f"input_word_ids has {len(ids)} entries, expected max_length={max_length} {where}: pad with 0")
        if ids != want_ids:
            real = [i for i in ids if i != PAD]
            if real.count(SEP) < 2 or real[-1] != SEP:
                raise GradingError(f"expected [CLS] first + [SEP] ([CLS]=101, [SEP]=102) after EACH segment {where}")
            if ids[0] != CLS:
                raise GradingError(f"the sequence must start with [CLS] (101) {where}")
            want_a = want_ids.index(SEP) - 1
            got_a = ids.index(SEP) - 1
            raise GradingError(
                f"wrong truncation {where}: the first segment should keep {want_a} tokens, yours keeps {got_a}. "
                "Longest first: if the pair does not fit in max_length - 3, the shorter segment keeps "
                "min(its length, room // 2) and the longer one the rest of the room (equal lengths: the first counts as the shorter)"
            )
        mask = _as_list(got["input_mask"], "input_mask")
        if mask != expected["attention_mask"]:
            raise GradingError(f"input_mask should be 1 on every real token ([CLS], [SEP] included) and 0 on padding {where}")
        types = _as_list(got["input_type_ids"], "input_type_ids")
        if types != expected["token_type_ids"]:
            raise GradingError(
                f"input_type_ids should be 0 for [CLS], the first segment and its [SEP], 1 for the second segment "
                f"and its [SEP], 0 on padding {where}"
            )


def _truncate_longest_first(a, b, room):
    if len(a) + len(b) <= room:
        return a, b
    if len(a) > len(b):
        keep_b = min(len(b), room // 2)
        return a[: room - keep_b], b[:keep_b]
    keep_a = min(len(a), room // 2)
    return a[:keep_a], b[: room - keep_a]


def _pack(a, b, max_length):
    ids = [CLS] + a + [SEP] + b + [SEP]
    types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    pad = max_length - len(ids)
    return {"input_word_ids": ids + [PAD] * pad, "input_mask": [1] * len(ids) + [0] * pad, "input_type_ids": types + [0] * pad}


@wrong_answer("pack_pair", hint="[SEP]")
def pack_pair_without_final_sep(ids_a, ids_b, max_length):
    a, b = _truncate_longest_first(ids_a, ids_b, max_length - 2)
    ids = [CLS] + a + [SEP] + b
    types = [0] * (len(a) + 2) + [1] * len(b)
    pad = max_length - len(ids)
    return {"input_word_ids": ids + [0] * pad, "input_mask": [1] * len(ids) + [0] * pad, "input_type_ids": types + [0] * pad}


@wrong_answer("pack_pair", hint="Longest first")
def pack_pair_cutting_only_the_second(ids_a, ids_b, max_length):
    room = max_length - 3
    a = ids_a[:room]
    return _pack(a, ids_b[: room - len(a)], max_length)


@wrong_answer("pack_pair", hint="input_type_ids")
def pack_pair_type_one_on_padding(ids_a, ids_b, max_length):
    packed = _pack(*_truncate_longest_first(ids_a, ids_b, max_length - 3), max_length)
    first_sep = packed["input_word_ids"].index(SEP)
    packed["input_type_ids"] = [0] * (first_sep + 1) + [1] * (max_length - first_sep - 1)
    return packed


# ---------------------------------------------------------------------------------------
# wordpiece(word, vocab) -> list of word pieces, greedy longest match first
# ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _vocabularies():
    """The full BERT vocabulary, and a small one (every single character and '##'+character of
    the full one plus 400 seeded whole words and continuations) that forces long splits."""
    from bertlab.models import vocab_path

    full = [line.rstrip("\n") for line in open(vocab_path("minilm-l6"), encoding="utf-8")]
    rng = np.random.default_rng(2)
    chars = [t for t in full if len(t) == 1 or (t.startswith("##") and len(t) == 3)]
    # drop a few letters, so that words with them are unknown in the small vocabulary
    chars = [t for t in chars if t[-1] not in "qxz"]
    words = [t for t in full if len(t) > 1 and t.isalpha()]
    pieces = [t for t in full if t.startswith("##") and len(t) > 3]
    small = chars + list(rng.choice(words, 300, replace=False)) + list(rng.choice(pieces, 100, replace=False))
    return full, sorted(set(small))


@functools.lru_cache(maxsize=1)
def _words():
    """Seeded real words (MRPC, SMS), lowercased as BERT's basic tokenizer does, plus unknown ones."""
    from bertlab.data import load_sms_spam

    text = " ".join(_mrpc().sentence1.tolist()[:200]) + " " + " ".join(load_sms_spam().text.tolist()[:300])
    words = sorted({w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) <= 30})
    rng = np.random.default_rng(22)
    chosen = list(rng.choice(words, 120, replace=False))
    return chosen + ["embed", "unaffable", "tokenization", "zzzqqxj", "naïve", "🙂", "x🙂y", "qatar", "a", "##"]


def _tf_text_pieces(words, vocab):
    import tensorflow as tf
    import tensorflow_text as text

    table = tf.lookup.StaticVocabularyTable(
        tf.lookup.KeyValueTensorInitializer(vocab, tf.range(len(vocab), dtype=tf.int64)), num_oov_buckets=1
    )
    tokenizer = text.WordpieceTokenizer(table, suffix_indicator="##", max_bytes_per_word=100,
                                        token_out_type=tf.string, unknown_token="[UNK]")
    return [[p.decode("utf-8") for p in row] for row in tokenizer.tokenize(tf.constant(words)).to_list()]


@functools.lru_cache(maxsize=1)
def _wordpiece_cases():
    """(vocabulary name, vocabulary as a frozenset, words, TF Text's pieces for each word)."""
    words = _words()
    return [(name, frozenset(vocab), words, _tf_text_pieces(words, vocab))
            for name, vocab in zip(("the BERT vocabulary", "a small vocabulary"), _vocabularies())]


@grader("wordpiece", points=3, prepare=_wordpiece_cases, uses=[
    "tensorflow_text.WordpieceTokenizer", "transformers.models.bert.tokenization_bert.WordpieceTokenizer"])
def grade_wordpiece(learner_fn):
    """The same pieces as ``tensorflow_text.WordpieceTokenizer`` for ~130 words and two vocabularies."""
    for name, vocab_set, words, expected in _wordpiece_cases():
        for word, want in zip(words, expected):
            got = learner_fn(word, vocab_set)
            if not isinstance(got, (list, tuple)) or not all(isinstance(p, str) for p in got):
                raise GradingError(f"return a list of strings (the word pieces), got {got!r:.60} for {word!r}")
            got = list(got)
            if got == want:
                continue
            where = f"{word!r} with {name}: expected {want}, got {got}"
            if want == ["[UNK]"]:
                raise GradingError(f"{where}. When some part of the word matches no piece, the whole word becomes ['[UNK]']")
            if "[UNK]" in got:
                raise GradingError(f"{where}. Only a word that cannot be split at all is unknown; use the whole word, not a piece, as [UNK]")
            if [p.removeprefix("##") for p in got] == [p.removeprefix("##") for p in want]:
                raise GradingError(f"{where}. Every piece after the first starts with '##' (and is looked up with it)")
            raise GradingError(f"{where}. At each position take the LONGEST piece in the vocabulary, then continue after it")


@wrong_answer("wordpiece", hint="'##'")
def wordpiece_without_prefix(word, vocab):
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            if word[start:end] in vocab:
                pieces.append(word[start:end])
                start = end
                break
        else:
            return ["[UNK]"]
    return pieces


@wrong_answer("wordpiece", hint="LONGEST")
def wordpiece_shortest_first(word, vocab):
    pieces, start = [], 0
    while start < len(word):
        for end in range(start + 1, len(word) + 1):
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                pieces.append(piece)
                start = end
                break
        else:
            return ["[UNK]"]
    return pieces


@wrong_answer("wordpiece", hint="whole word")
def wordpiece_unknown_piece_only(word, vocab):
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                pieces.append(piece)
                start = end
                break
        else:
            pieces.append("[UNK]")
            start += 1
    return pieces


# ---------------------------------------------------------------------------------------
# attention_mask_from_ids(input_word_ids) -> 0/1 int32 array of the same shape
# ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _mask_cases():
    tokenizer = _tokenizer()
    frame = _mrpc()
    rng = np.random.default_rng(2020)
    cases = []
    for size, max_length, padding in [(4, 32, "max_length"), (7, 64, "longest"), (3, 128, "max_length"), (1, 16, "longest")]:
        rows = rng.choice(len(frame), size=size, replace=False)
        a = frame.sentence1.iloc[rows].tolist()
        b = frame.sentence2.iloc[rows].tolist() if size % 2 else None
        encoded = tokenizer(a, b, truncation=True, max_length=max_length, padding=padding, return_tensors="np")
        cases.append((encoded["input_ids"].astype(np.int32), encoded["attention_mask"].astype(np.int32)))
    return cases


@grader("attention_mask_from_ids", points=1, prepare=_mask_cases)
def grade_attention_mask_from_ids(learner_fn):
    """The tokenizer's attention mask for real padded batches (fixed and dynamic padding, pairs too)."""
    for ids, want in _mask_cases():
        got = learner_fn(ids.copy())
        got = np.asarray(got.numpy() if hasattr(got, "numpy") else got)
        if got.shape != want.shape:
            raise GradingError(f"the mask must have the shape of the ids, {want.shape}, got {got.shape}")
        if got.dtype.kind not in "iu":
            raise GradingError(f"return integers 0/1 (int32, as BERT's inputs), got dtype {got.dtype}")
        if np.array_equal(got, 1 - want):
            raise GradingError("the mask is inverted: 1 on real tokens, 0 on padding ([PAD] = 0)")
        if not np.array_equal(got, want):
            wrong = ids[got != want]
            raise GradingError(f"positions holding ids {sorted(set(wrong.tolist()))[:5]} are wrong: every id except "
                               "[PAD] = 0 is a real token ([CLS] and [SEP] too)")


@wrong_answer("attention_mask_from_ids", hint="inverted")
def mask_inverted(input_word_ids):
    return (np.asarray(input_word_ids) == 0).astype(np.int32)


@wrong_answer("attention_mask_from_ids", hint="[CLS] and [SEP]")
def mask_without_special_tokens(input_word_ids):
    ids = np.asarray(input_word_ids)
    return ((ids != 0) & (ids != CLS) & (ids != SEP)).astype(np.int32)


@wrong_answer("attention_mask_from_ids", hint="integers")
def mask_as_booleans(input_word_ids):
    return np.asarray(input_word_ids) != 0
