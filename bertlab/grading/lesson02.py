"""Graders for lesson 02 "Preprocessing": packing a pair, WordPiece for one word, the attention mask.

* ``pack_pair`` is compared with the transformers fast tokenizer on real MRPC sentence pairs
  and lengths drawn with a fixed seed;
* ``wordpiece`` with ``tensorflow_text.WordpieceTokenizer`` on real words (MRPC and SMS),
  word pieces and unknown words, over the full BERT vocabulary and a small one;
* ``attention_mask_from_ids`` with the mask the tokenizer gives for real, padded batches.

Before those, each grader runs NAMED edge cases chosen from its exercise's definition (the
module-level lists ``PAIR_EDGE_CASES``, ``WORDPIECE_EDGE_CASES``, ``MASK_EDGE_CASES``: a name a
reviewer can read and the inputs), with BERT's real ids ([PAD]=0, [UNK]=100, [CLS]=101,
[SEP]=102, [MASK]=103). A hint starts with the case's name and what was measured. Inputs are
passed as the exercise names them (lists, a set, an array) and compared with a saved copy after
each call: a function that changes its input fails, whatever it returns.

Each runs in about a second once the tokenizer and the data are loaded.
"""
from __future__ import annotations

import functools
import re

import numpy as np

from bertlab.grading.core import GradingError, grader, right_answer, wrong_answer

from bertlab.bert_inputs import CLS_ID as CLS, HUB_KEYS as KEYS, PAD_ID as PAD, SEP_ID as SEP

UNK, MASK = 100, 103  # BERT's [UNK] and [MASK]: real tokens inside a segment


@functools.lru_cache(maxsize=1)
def _tokenizer():
    from bertlab.models import load_tokenizer

    return load_tokenizer("minilm-l6")  # the uncased BERT vocabulary, offline


@functools.lru_cache(maxsize=1)
def _mrpc():
    from bertlab.data import load_mrpc

    return load_mrpc("validation")


def _changed_input(case: str, name: str) -> GradingError:
    return GradingError(f"case '{case}': your function changed its input {name}; "
                        "work on a copy and leave the arguments as they were")


# ---------------------------------------------------------------------------------------
# pack_pair(ids_a, ids_b, max_length) -> {input_word_ids, input_mask, input_type_ids}
# ---------------------------------------------------------------------------------------
# Named edge cases: (name, len(ids_a), len(ids_b), max_length). The room is max_length - 3.
# Rooms ≡ 3 (mod 4) are where round(room / 2) (banker's rounding) differs from room // 2.
PAIR_EDGE_CASES = [
    ("equal lengths, room 7 (≡ 3 mod 4): the second keeps the extra token", 10, 10, 10),
    ("equal lengths, room 11 (≡ 3 mod 4)", 9, 9, 14),
    ("equal lengths, room 9 (≡ 1 mod 4)", 10, 10, 12),
    ("equal lengths, even room 8", 6, 6, 11),
    ("first longer, both over half of room 7", 12, 8, 10),
    ("second longer, both over half of room 11", 8, 12, 14),
    ("first longer, the second fits in half the room: kept whole", 20, 2, 10),
    ("second longer, the first fits in half the room: kept whole", 2, 20, 10),
    ("fits exactly: no truncation, no padding", 4, 3, 10),
    ("one token too many", 4, 4, 10),
    ("empty first segment", 0, 12, 10),
    ("empty second segment", 12, 0, 10),
    ("both segments empty", 0, 0, 5),
    ("max_length 3: no room for any token", 3, 2, 3),
    ("[UNK] (100) and [MASK] (103) inside the segments", 5, 4, 16),
    ("max_length 512 (BERT's limit), a short pair", 6, 5, 512),
]


def _reference_pack(a, b, max_length):
    """The exercise's definition (used for the named cases; checked against the tokenizer in
    tests/test_grader_cases_01_03.py wherever the tokenizer can encode the pair)."""
    room = max_length - 3
    a, b = list(a), list(b)
    if len(a) + len(b) > room:
        if len(a) > len(b):
            keep_b = min(len(b), room // 2)
            a, b = a[: room - keep_b], b[:keep_b]
        else:
            keep_a = min(len(a), room // 2)
            a, b = a[:keep_a], b[: room - keep_a]
    ids = [CLS] + a + [SEP] + b + [SEP]
    pad = max_length - len(ids)
    return {"input_ids": ids + [PAD] * pad, "attention_mask": [1] * len(ids) + [0] * pad,
            "token_type_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1) + [0] * pad}


@functools.lru_cache(maxsize=1)
def _edge_pairs():
    """(name, ids_a, ids_b, max_length, expected) for PAIR_EDGE_CASES: segments of real whole-word
    ids of the BERT vocabulary (each word one token), drawn with a fixed seed."""
    vocab = _tokenizer().get_vocab()
    words = sorted(i for t, i in vocab.items() if t.isalpha() and t.isascii() and len(t) > 2 and i > 2000)
    rng = np.random.default_rng(2022)
    cases = []
    for name, len_a, len_b, max_length in PAIR_EDGE_CASES:
        a, b = (rng.choice(words, n).tolist() for n in (len_a, len_b))
        if "[UNK]" in name:
            a[1], b[2], b[3] = UNK, MASK, UNK
        cases.append((name, [int(i) for i in a], [int(i) for i in b], max_length, _reference_pack(a, b, max_length)))
    return cases


@functools.lru_cache(maxsize=1)
def _pair_cases():
    """(name, ids_a, ids_b, max_length, expected): the named edge cases, then seeded real MRPC
    pairs and lengths with the fast tokenizer's answer."""
    tokenizer = _tokenizer()
    frame = _mrpc()
    rng = np.random.default_rng(202)
    rows = rng.choice(len(frame), size=14, replace=False)
    # lengths: no truncation, one side cut, both cut (odd and even room), tiny
    lengths = [128, 96, 64, 48, 41, 40, 33, 32, 25, 24, 17, 12, 7, 5]
    cases = list(_edge_pairs())
    for row, max_length in zip(rows, lengths):
        a, b = frame.sentence1.iloc[row], frame.sentence2.iloc[row]
        ids_a = tokenizer(a, add_special_tokens=False)["input_ids"]
        ids_b = tokenizer(b, add_special_tokens=False)["input_ids"]
        expected = tokenizer(a, b, truncation="longest_first", max_length=max_length, padding="max_length")
        cases.append((f"MRPC pair {int(row)}", ids_a, ids_b, max_length, expected))
    # equal lengths with an odd room: the second segment keeps the extra token
    a, b = "one two three four five six seven eight nine ten", "eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"
    expected = tokenizer(a, b, truncation="longest_first", max_length=12, padding="max_length")
    ids_a, ids_b = (tokenizer(t, add_special_tokens=False)["input_ids"] for t in (a, b))
    cases.append(("ten words and ten words, max_length 12", ids_a, ids_b, 12, expected))
    return cases


def _as_list(value, key, case):
    if hasattr(value, "numpy"):
        value = value.numpy()
    array = np.asarray(value)
    if array.ndim != 1:
        raise GradingError(f"case '{case}': {key} should be one flat list of ints (one example), got shape {array.shape}")
    return array.tolist()


@grader("pack_pair", points=3, prepare=_pair_cases)
def grade_pack_pair(learner_fn):
    """The named edge cases (PAIR_EDGE_CASES), then the same ids, mask and type ids as
    ``tokenizer(a, b, truncation="longest_first", padding="max_length")`` on MRPC pairs; the id
    lists must come back unchanged."""
    for case, ids_a, ids_b, max_length, expected in _pair_cases():
        given_a, given_b = list(ids_a), list(ids_b)
        got = learner_fn(given_a, given_b, max_length)
        for name, given, saved in (("ids_a", given_a, ids_a), ("ids_b", given_b, ids_b)):
            if given != list(saved):
                raise _changed_input(case, name)
        if not isinstance(got, dict) or set(got) != set(KEYS):
            raise GradingError(f"return a dict with the keys {list(KEYS)}, got {type(got).__name__}"
                               + (f" with keys {sorted(got)}" if isinstance(got, dict) else ""))
        ids = _as_list(got["input_word_ids"], "input_word_ids", case)
        want_ids = expected["input_ids"]
        where = f"case '{case}' (pair of {len(ids_a)} + {len(ids_b)} tokens, max_length={max_length})"
        if len(ids) != max_length:
            raise GradingError(f"{where}: input_word_ids has {len(ids)} entries, expected max_length={max_length}: pad with 0")
        if ids != want_ids:
            real = [i for i in ids if i != PAD]
            if real.count(SEP) < 2 or real[-1] != SEP:
                raise GradingError(f"{where}: got {real.count(SEP)} [SEP], last real id {real[-1] if real else None}; "
                                   "expected [CLS] first + [SEP] ([CLS]=101, [SEP]=102) after EACH segment")
            if ids[0] != CLS:
                raise GradingError(f"{where}: the first id is {ids[0]}; the sequence must start with [CLS] (101)")
            want_a, got_a = want_ids.index(SEP) - 1, ids.index(SEP) - 1
            want_b, got_b = want_ids.index(SEP, want_a + 2) - want_a - 2, ids.index(SEP, got_a + 2) - got_a - 2
            if (want_a, want_b) == (got_a, got_b):
                first = next(i for i, (g, w) in enumerate(zip(ids, want_ids)) if g != w)
                raise GradingError(f"{where}: position {first} holds id {ids[first]}, expected {want_ids[first]}: "
                                   "keep the first tokens of each segment, in order")
            raise GradingError(
                f"{where}: wrong truncation: the segments keep {got_a} + {got_b} tokens, expected {want_a} + {want_b}. "
                "Longest first: if the pair does not fit in max_length - 3, the shorter segment keeps "
                "min(its length, room // 2) and the longer one the rest of the room (equal lengths: the first counts as the shorter)"
            )
        mask = _as_list(got["input_mask"], "input_mask", case)
        if mask != expected["attention_mask"]:
            raise GradingError(f"{where}: input_mask has {sum(1 for m in mask if m == 1)} ones, expected "
                               f"{sum(expected['attention_mask'])}; it should be 1 on every real token ([CLS], [SEP] included) and 0 on padding")
        types = _as_list(got["input_type_ids"], "input_type_ids", case)
        if types != expected["token_type_ids"]:
            first = next(i for i, (g, w) in enumerate(zip(types, expected["token_type_ids"])) if g != w)
            raise GradingError(
                f"{where}: input_type_ids[{first}] = {types[first]}, expected {expected['token_type_ids'][first]}; "
                f"input_type_ids should be 0 for [CLS], the first segment and its [SEP], 1 for the second segment "
                f"and its [SEP], 0 on padding"
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


@wrong_answer("pack_pair", hint="case 'equal lengths, room 7 (≡ 3 mod 4): the second keeps the extra token' (pair "
                               "of 10 + 10 tokens, max_length=10): wrong truncation: the segments keep 4 + 3 tokens, "
                               "expected 3 + 4")
def pack_pair_with_bankers_rounding(ids_a, ids_b, max_length):
    # round(room / 2) instead of room // 2: Python rounds 3.5 to 4 but 4.5 to 4 (to even), so it
    # passed while every odd room of the cases was ≡ 1 (mod 4).
    room = max_length - 3
    a, b = list(ids_a), list(ids_b)
    if len(a) + len(b) > room:
        if len(a) > len(b):
            keep_b = min(len(b), round(room / 2))
            a, b = a[: room - keep_b], b[:keep_b]
        else:
            keep_a = min(len(a), round(room / 2))
            a, b = a[:keep_a], b[: room - keep_a]
    return _pack(a, b, max_length)


@wrong_answer("pack_pair", hint="changed its input ids_a")
def pack_pair_truncating_in_place(ids_a, ids_b, max_length):
    # Right answer, but it cuts the caller's lists (del) instead of copies.
    room = max_length - 3
    if len(ids_a) + len(ids_b) > room:
        if len(ids_a) > len(ids_b):
            keep_b = min(len(ids_b), room // 2)
            keep_a = room - keep_b
        else:
            keep_a = min(len(ids_a), room // 2)
            keep_b = room - keep_a
        del ids_a[keep_a:], ids_b[keep_b:]
    return _pack(ids_a, ids_b, max_length)


@right_answer("pack_pair", why="tuples instead of lists")
def pack_pair_returning_tuples(ids_a, ids_b, max_length):
    return {key: tuple(value) for key, value in _pack(*_truncate_longest_first(list(ids_a), list(ids_b), max_length - 3),
                                                      max_length).items()}


@right_answer("pack_pair", why="NumPy int32 arrays")
def pack_pair_returning_arrays(ids_a, ids_b, max_length):
    packed = _pack(*_truncate_longest_first(list(ids_a), list(ids_b), max_length - 3), max_length)
    return {key: np.array(value, dtype=np.int32) for key, value in packed.items()}


@right_answer("pack_pair", why="TensorFlow int32 tensors")
def pack_pair_returning_tensors(ids_a, ids_b, max_length):
    import tensorflow as tf

    packed = _pack(*_truncate_longest_first(list(ids_a), list(ids_b), max_length - 3), max_length)
    return {key: tf.constant(value, dtype=tf.int32) for key, value in packed.items()}


@right_answer("pack_pair", why="removes one token at a time from the longer segment (ties: the originally shorter one)")
def pack_pair_popping_tokens(ids_a, ids_b, max_length):
    a, b = list(ids_a), list(ids_b)
    first_is_shorter = len(a) <= len(b)  # equal lengths: the first counts as the shorter
    while len(a) + len(b) > max_length - 3:
        if len(a) > len(b) or (len(a) == len(b) and first_is_shorter):
            a.pop()
        else:
            b.pop()
    ids = [101, *a, 102, *b, 102]
    return {"input_word_ids": ids + [0] * (max_length - len(ids)),
            "input_mask": [1] * len(ids) + [0] * (max_length - len(ids)),
            "input_type_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1) + [0] * (max_length - len(ids))}


@right_answer("pack_pair", why="sorts the segments by length to find the shorter one")
def pack_pair_sorting_by_length(ids_a, ids_b, max_length):
    room = max_length - 3
    segments = [list(ids_a), list(ids_b)]
    if sum(map(len, segments)) > room:
        shorter = 0 if len(segments[0]) <= len(segments[1]) else 1
        keep = min(len(segments[shorter]), room // 2)
        segments[shorter] = segments[shorter][:keep]
        segments[1 - shorter] = segments[1 - shorter][: room - keep]
    return _pack(segments[0], segments[1], max_length)


# ---------------------------------------------------------------------------------------
# wordpiece(word, vocab) -> list of word pieces, greedy longest match first
# ---------------------------------------------------------------------------------------
# A tiny vocabulary whose pieces make the named cases below; 'z' is in none of them.
TINY_VOCAB = ("a", "ab", "##bc",          # "abc": "ab" leaves "c" with no "##c": [UNK], though a + ##bc exists
              "d", "de", "def", "##g",    # "defg": the longest first piece "def", then "##g"
              "hi", "j",                  # "hij": "j" exists only as a first piece, never as "##j"
              "##kl", "k", "##l",         # "kl": "##kl" does not count as a first piece
              "m", "##n", "##o", "##p")   # "mnop": one character at a time

# Named edge cases: (name, word, vocabulary): "bert" (the full one), "small" (see
# _vocabularies) or "tiny" (TINY_VOCAB). The expected pieces are TF Text's.
WORDPIECE_EDGE_CASES = [
    ("the whole word is one piece", "bank", "bert"),
    ("a single character in the vocabulary", "a", "bert"),
    ("a single character not in the vocabulary", "z", "tiny"),
    ("the first character is unknown", "zmn", "tiny"),
    ("the last character is unknown", "mnoz", "tiny"),
    ("greedy dead end: no backtracking to a shorter first piece", "abc", "tiny"),
    ("the longest piece, not the first one found", "defg", "tiny"),
    ("a continuation that exists only without '##'", "hij", "tiny"),
    ("a first piece that exists only with '##'", "kl", "tiny"),
    ("single-character pieces all the way", "mnop", "tiny"),
    ("a word of 30 characters", "pneumonoultramicroscopicsilico", "bert"),
    ("digits", "2026", "bert"),
    ("a non-ASCII letter", "naïve", "bert"),
    ("a word spelled like the suffix marker", "##", "bert"),
]


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
    small = chars + [str(t) for t in rng.choice(words, 300, replace=False)] + [str(t) for t in rng.choice(pieces, 100, replace=False)]
    return full, sorted(set(small))


@functools.lru_cache(maxsize=1)
def _words():
    """Seeded real words (MRPC, SMS), lowercased as BERT's basic tokenizer does, plus unknown ones."""
    from bertlab.data import load_sms_spam

    text = " ".join(_mrpc().sentence1.tolist()[:200]) + " " + " ".join(load_sms_spam().text.tolist()[:300])
    words = sorted({w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) <= 30})
    rng = np.random.default_rng(22)
    chosen = [str(w) for w in rng.choice(words, 120, replace=False)]
    return chosen + ["embed", "unaffable", "tokenization", "zzzqqxj", "naïve", "🙂", "x🙂y", "qatar", "a", "##"]


def _tf_text_pieces(words, vocab):
    import tensorflow as tf
    import tensorflow_text as text

    table = tf.lookup.StaticVocabularyTable(
        tf.lookup.KeyValueTensorInitializer(list(vocab), tf.range(len(vocab), dtype=tf.int64)), num_oov_buckets=1
    )
    tokenizer = text.WordpieceTokenizer(table, suffix_indicator="##", max_bytes_per_word=100,
                                        token_out_type=tf.string, unknown_token="[UNK]")
    return [[p.decode("utf-8") for p in row] for row in tokenizer.tokenize(tf.constant(words)).to_list()]


@functools.lru_cache(maxsize=1)
def _wordpiece_cases():
    """(vocabulary name, vocabulary as a frozenset, [(case name, word, TF Text's pieces)]): the
    real words, then the named edge cases of each vocabulary (the tiny vocabulary has only those)."""
    full, small = _vocabularies()
    vocabularies = {"bert": ("the BERT vocabulary", full), "small": ("a small vocabulary", small),
                    "tiny": ("a tiny vocabulary", list(TINY_VOCAB))}
    cases = []
    for key, (title, vocab) in vocabularies.items():
        edge = [(name, word) for name, word, which in WORDPIECE_EDGE_CASES if which == key]
        real = [(f"word {word!r}", word) for word in _words()] if key != "tiny" else []
        named = real + edge  # the real words first, so that the classic mistakes get their usual hints
        pieces = _tf_text_pieces([word for _, word in named], vocab)
        cases.append((title, frozenset(vocab), [(name, word, want) for (name, word), want in zip(named, pieces)]))
    return cases


@grader("wordpiece", points=3, prepare=_wordpiece_cases, uses=[
    "tensorflow_text.WordpieceTokenizer", "transformers.models.bert.tokenization_bert.WordpieceTokenizer"])
def grade_wordpiece(learner_fn):
    """The same pieces as ``tensorflow_text.WordpieceTokenizer`` on the named edge cases
    (WORDPIECE_EDGE_CASES) and ~130 real words, over three vocabularies; the vocabulary is passed
    as a set and must come back unchanged."""
    for title, saved, cases in _wordpiece_cases():
        vocab = set(saved)  # a set, as the exercise says; compared with the saved one after each call
        for case, word, want in cases:
            got = learner_fn(word, vocab)
            if len(vocab) != len(saved):  # cheap; the full comparison follows each vocabulary
                raise _changed_input(case, "vocab")
            if not isinstance(got, (list, tuple)) or not all(isinstance(p, str) for p in got):
                raise GradingError(f"case '{case}': return a list of strings (the word pieces), got {got!r:.60} for {word!r}")
            got = list(got)
            if got == want:
                continue
            where = f"case '{case}': {word!r} with {title}: expected {want}, got {got}"
            if want == ["[UNK]"]:
                raise GradingError(f"{where}. When some part of the word matches no piece, the whole word becomes ['[UNK]']")
            if "[UNK]" in got:
                raise GradingError(f"{where}. Only a word that cannot be split at all is unknown; use the whole word, not a piece, as [UNK]")
            if [p.removeprefix("##") for p in got] == [p.removeprefix("##") for p in want]:
                raise GradingError(f"{where}. Every piece after the first starts with '##' (and is looked up with it)")
            raise GradingError(f"{where}. At each position take the LONGEST piece in the vocabulary, then continue after it")
        if vocab != saved:
            raise _changed_input(f"{title}, after its {len(cases)} words", "vocab")


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


@wrong_answer("wordpiece", hint="case 'greedy dead end: no backtracking to a shorter first piece': 'abc'")
def wordpiece_backtracking(word, vocab):
    # Longest first, but backs up to a shorter piece at a dead end: the same as greedy wherever
    # greedy succeeds, so it passed while no case had a dead end that a shorter piece avoids.
    @functools.lru_cache(maxsize=None)
    def split(start):
        if start == len(word):
            return []
        for end in range(len(word), start, -1):
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                rest = split(end)
                if rest is not None:
                    return [piece] + rest
        return None

    pieces = split(0)
    return ["[UNK]"] if pieces is None else pieces


@wrong_answer("wordpiece", hint="changed its input vocab")
def wordpiece_adding_the_word_to_the_vocabulary(word, vocab):
    # Right pieces, but it "remembers" each split word by adding it to the caller's set.
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                pieces.append(piece)
                start = end
                break
        else:
            return ["[UNK]"]
    if len(pieces) > 1:
        vocab.add(word)
    return pieces


@right_answer("wordpiece", why="a for/else loop, returns a tuple")
def wordpiece_for_else_tuple(word, vocab):
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                pieces.append(piece)
                start = end
                break
        else:
            return ("[UNK]",)
    return tuple(pieces)


@right_answer("wordpiece", why="recursion on the rest of the word, shortest to longest keeping the last match")
def wordpiece_recursive(word, vocab):
    def split(rest, prefix):
        if not rest:
            return []
        longest = None
        for end in range(1, len(rest) + 1):  # scans every length, keeps the longest match
            if prefix + rest[:end] in vocab:
                longest = end
        if longest is None:
            return None
        tail = split(rest[longest:], "##")
        return None if tail is None else [prefix + rest[:longest]] + tail

    pieces = split(word, "")
    return ["[UNK]"] if pieces is None else pieces


# ---------------------------------------------------------------------------------------
# attention_mask_from_ids(input_word_ids) -> 0/1 int32 array of the same shape
# ---------------------------------------------------------------------------------------
# Named edge cases: (name, rows of ids, dtype of the ids). The expected mask is ids != [PAD].
MASK_EDGE_CASES = [
    ("batch of one", [[CLS, 2023, 2003, SEP, PAD, PAD]], np.int32),
    ("no padding (full mask)", [[CLS, 7592, SEP], [CLS, 2088, SEP]], np.int32),
    ("a row of only padding (empty mask)", [[CLS, 2023, SEP, PAD], [PAD, PAD, PAD, PAD]], np.int32),
    ("left padding", [[PAD, PAD, CLS, 2023, SEP], [PAD, CLS, 2023, 2003, SEP]], np.int32),
    ("a [PAD] hole inside a row", [[CLS, 2023, PAD, 2003, SEP, PAD], [CLS, PAD, PAD, 2003, SEP, PAD]], np.int32),
    ("[UNK] 100, [MASK] 103 and the last id 30521 are real tokens", [[CLS, UNK, MASK, 30521, SEP, PAD, PAD]], np.int32),
    ("length one", [[CLS], [PAD]], np.int32),
    ("int64 ids", [[CLS, 1996, 2924, SEP, PAD], [CLS, 2924, SEP, PAD, PAD]], np.int64),
]


@functools.lru_cache(maxsize=1)
def _mask_cases():
    """(name, ids, expected mask): the named edge cases, then real MRPC batches from the tokenizer."""
    cases = [(name, np.array(rows, dtype=dtype), (np.array(rows) != PAD).astype(np.int32))
             for name, rows, dtype in MASK_EDGE_CASES]
    tokenizer = _tokenizer()
    frame = _mrpc()
    rng = np.random.default_rng(2020)
    for size, max_length, padding in [(4, 32, "max_length"), (7, 64, "longest"), (3, 128, "max_length"), (1, 16, "longest")]:
        rows = rng.choice(len(frame), size=size, replace=False)
        a = frame.sentence1.iloc[rows].tolist()
        b = frame.sentence2.iloc[rows].tolist() if size % 2 else None
        encoded = tokenizer(a, b, truncation=True, max_length=max_length, padding=padding, return_tensors="np")
        cases.append((f"MRPC batch of {size}, padding={padding!r}, max_length={max_length}",
                      encoded["input_ids"].astype(np.int32), encoded["attention_mask"].astype(np.int32)))
    return cases


@grader("attention_mask_from_ids", points=1, prepare=_mask_cases)
def grade_attention_mask_from_ids(learner_fn):
    """The named edge cases (MASK_EDGE_CASES), then the tokenizer's attention mask for real padded
    batches (fixed and dynamic padding, pairs too); the ids must come back unchanged."""
    for case, ids, want in _mask_cases():
        given = ids.copy()
        got = learner_fn(given)
        if given.dtype != ids.dtype or not np.array_equal(given, ids):
            raise _changed_input(case, "input_word_ids")
        got = np.asarray(got.numpy() if hasattr(got, "numpy") else got)
        if got.shape != want.shape:
            raise GradingError(f"case '{case}': the mask must have the shape of the ids, {want.shape}, got {got.shape}")
        if got.dtype.kind not in "iu":
            raise GradingError(f"case '{case}': return integers 0/1 (int32, as BERT's inputs), got dtype {got.dtype}")
        if np.array_equal(got, want):
            continue
        row = int(np.argmax((got != want).any(axis=1)))
        measured = (f"case '{case}': row {row} (ids {ids[row].tolist()}): got {got[row].tolist()}, "
                    f"expected {want[row].tolist()}")
        if np.array_equal(got, 1 - want):
            raise GradingError(f"{measured}; the mask is inverted: 1 on real tokens, 0 on padding ([PAD] = 0)")
        wrong = ids[got != want]
        raise GradingError(f"{measured}; positions holding ids {sorted(set(wrong.tolist()))[:5]} are wrong: every id "
                           "except [PAD] = 0 is a real token ([CLS] and [SEP] too)")


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


@wrong_answer("attention_mask_from_ids", hint="case 'left padding': row 0")
def mask_from_the_lengths(input_word_ids):
    # Counts the real tokens and puts that many ones at the start: right for right-padded
    # batches, the only ones the cases had; wrong with left padding or a hole.
    ids = np.asarray(input_word_ids)
    lengths = (ids != 0).sum(axis=1, keepdims=True)
    return (np.arange(ids.shape[1])[None, :] < lengths).astype(np.int32)


@wrong_answer("attention_mask_from_ids", hint="changed its input input_word_ids")
def mask_written_into_the_ids(input_word_ids):
    # Right mask, but it overwrites the caller's ids with it.
    ids = np.asarray(input_word_ids)
    ids[ids != 0] = 1
    return ids.astype(np.int32)


@right_answer("attention_mask_from_ids", why="np.where(ids == 0, 0, 1) cast to int32")
def mask_with_where(input_word_ids):
    return np.where(np.asarray(input_word_ids) == 0, 0, 1).astype(np.int32)


@right_answer("attention_mask_from_ids", why="a TensorFlow int32 tensor (tf.cast(tf.not_equal(ids, 0)))")
def mask_with_tensorflow(input_word_ids):
    import tensorflow as tf

    return tf.cast(tf.not_equal(input_word_ids, 0), tf.int32)


@right_answer("attention_mask_from_ids", why="np.minimum(ids, 1): ids are never negative")
def mask_with_minimum(input_word_ids):
    return np.minimum(np.asarray(input_word_ids), 1).astype(np.int32)


@right_answer("attention_mask_from_ids", why="nested lists of ints")
def mask_as_lists(input_word_ids):
    return [[int(i != 0) for i in row] for row in np.asarray(input_word_ids).tolist()]
