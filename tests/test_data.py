"""Tests of bertlab.data: the loaders on the real data, strict parsing of bad files."""
from __future__ import annotations

import pandas as pd
import pytest

from bertlab import data

MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
BOM = "\ufeff"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No real cache, no ambient data folder, no downloads, unless a test asks for them."""
    monkeypatch.setenv("BERTLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BERTLAB_DATA", raising=False)
    monkeypatch.delenv("BERTLAB_DATA_MIRROR", raising=False)
    monkeypatch.setenv("BERTLAB_OFFLINE", "1")


def write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


# --------------------------------------------------------------------------- MRPC, real data
@pytest.mark.parametrize("split, rows, paraphrases", [("train", 3668, 2474), ("validation", 408, 279)])
def test_mrpc_from_shared_data_has_the_published_counts(shared_data_dir, split, rows, paraphrases):
    frame = data.load_mrpc(split, data_dir=shared_data_dir)
    assert list(frame.columns) == ["label", "id1", "id2", "sentence1", "sentence2"]
    assert len(frame) == rows
    assert int(frame["label"].sum()) == paraphrases
    assert set(frame["label"]) == {0, 1}


@pytest.mark.parametrize("split", ["train", "validation"])
def test_mrpc_raw_route_reproduces_glue_files_row_for_row(shared_data_dir, split):
    glue = data.load_mrpc(split, data_dir=shared_data_dir, form="glue")
    raw = data.load_mrpc(split, data_dir=shared_data_dir, form="raw")
    pd.testing.assert_frame_equal(raw, glue)


def test_mrpc_keeps_quotes_because_it_reads_with_quote_none(shared_data_dir):
    dev = data.load_mrpc("validation", data_dir=shared_data_dir)
    assert dev.loc[0, "id1"] == 1355540
    assert dev.loc[0, "sentence2"] == '"The foodservice pie business does not fit our long-term growth strategy.'
    assert not dev.loc[0, "sentence1"].startswith(BOM)


def test_mrpc_reads_the_environment_variable_when_no_data_dir_is_given(shared_data_dir, monkeypatch):
    monkeypatch.setenv("BERTLAB_DATA", str(shared_data_dir))
    assert len(data.load_mrpc("validation")) == 408


def test_data_dir_argument_takes_precedence_over_environment(shared_data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("BERTLAB_DATA", str(shared_data_dir))
    write(tmp_path / "mine/mrpc/dev.tsv", MRPC_HEADER + "1\t1\t2\ta\tb\n")
    frame = data.load_mrpc("validation", data_dir=tmp_path / "mine")
    assert frame.values.tolist() == [[1, 1, 2, "a", "b"]]


def test_cache_is_used_when_no_folder_is_given(tmp_path):
    write(tmp_path / "home/data/mrpc/train.tsv", BOM + MRPC_HEADER + "0\t7\t8\tx\ty\n1\t9\t10\tp\tq\n")
    frame = data.load_mrpc("train")
    assert frame["id1"].tolist() == [7, 9]
    assert frame["label"].tolist() == [0, 1]


def test_mrpc_test_split_reads_the_labelled_file(tmp_path):
    write(tmp_path / "d/mrpc/msr_paraphrase_test.txt", BOM + MRPC_HEADER + "1\t5\t6\tu\tv\n0\t7\t8\tw\tx\n")
    frame = data.load_mrpc("test", data_dir=tmp_path / "d")
    assert frame["label"].tolist() == [1, 0]


def test_mrpc_test_split_without_labels_says_so_and_invents_none(tmp_path):
    write(tmp_path / "d/mrpc/test.tsv", BOM + "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t5\t6\tu\tv\n")
    with pytest.warns(UserWarning, match="no labels"):
        frame = data.load_mrpc("test", data_dir=tmp_path / "d")
    assert frame["label"].isna().all()
    assert frame["id2"].tolist() == [6]


def test_missing_mrpc_test_names_every_place_tried_and_the_manual_fix(tmp_path):
    with pytest.raises(data.DataUnavailableError) as caught:
        data.load_mrpc("test", data_dir=tmp_path / "empty")
    message = str(caught.value)
    assert str(tmp_path / "empty") in message and str(tmp_path / "home" / "data") in message
    assert "msr_paraphrase_test.txt" in message and "BERTLAB_OFFLINE" in message and "by hand" in message


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_mrpc("dev")


# --------------------------------------------------------------------------- bad files
def test_missing_file_error_names_the_file(tmp_path):
    with pytest.raises(data.DataUnavailableError, match="nope.tsv"):
        data.read_mrpc_file(tmp_path / "nope.tsv")


def test_wrong_columns_error_names_file_and_line(tmp_path):
    path = write(tmp_path / "train.tsv", "label\tid1\tid2\ts1\ts2\n1\t1\t2\ta\tb\n")
    with pytest.raises(data.DataFormatError, match=r"train\.tsv, line 1: expected the header"):
        data.read_mrpc_file(path)


def test_wrong_delimiter_error_suggests_tabs(tmp_path):
    path = write(tmp_path / "train.tsv", MRPC_HEADER.replace("\t", ",") + "1,1,2,a,b\n")
    with pytest.raises(data.DataFormatError, match=r"train\.tsv, line 1: .*tab-separated"):
        data.read_mrpc_file(path)


def test_row_with_missing_field_error_names_its_line(tmp_path):
    path = write(tmp_path / "dev.tsv", MRPC_HEADER + "1\t1\t2\ta\tb\n0\t3\t4\tc\td\n1\t5\t6\tonly one\n")
    with pytest.raises(data.DataFormatError, match=r"dev\.tsv, line 4: expected 5 tab-separated fields, found 4"):
        data.read_mrpc_file(path)


def test_bad_label_error_names_its_line(tmp_path):
    path = write(tmp_path / "dev.tsv", MRPC_HEADER + "1\t1\t2\ta\tb\nyes\t3\t4\tc\td\n")
    with pytest.raises(data.DataFormatError, match=r"dev\.tsv, line 3: label"):
        data.read_mrpc_file(path)


def test_empty_file_error_names_the_file(tmp_path):
    path = write(tmp_path / "dev.tsv", "")
    with pytest.raises(data.DataFormatError, match=r"dev\.tsv, line 1: the file is empty"):
        data.read_mrpc_file(path)


def test_header_only_file_has_no_data_rows(tmp_path):
    path = write(tmp_path / "dev.tsv", MRPC_HEADER)
    with pytest.raises(data.DataFormatError, match=r"dev\.tsv, line 2: no data rows"):
        data.read_mrpc_file(path)


def test_non_utf8_file_error_names_file_and_line(tmp_path):
    path = write(tmp_path / "SMSSpamCollection", "ham\tfine\nham\tok\nspam\tcaf\xe9 prize\n", encoding="latin-1")
    with pytest.raises(data.DataFormatError, match=r"SMSSpamCollection, line 3: not UTF-8"):
        data.read_sms_file(path)


def test_sms_file_with_unknown_label_names_the_line(tmp_path):
    path = write(tmp_path / "SMSSpamCollection", "ham\tfine\nscam\tpay now\n")
    with pytest.raises(data.DataFormatError, match=r"line 2: label 'scam' is not 'ham' or 'spam'"):
        data.read_sms_file(path)


def test_sms_text_keeps_tabs_and_quotes(tmp_path):
    path = write(tmp_path / "SMSSpamCollection", 'ham\tsaid "hi"\tthen left\nspam\tWIN!\n')
    frame = data.read_sms_file(path)
    assert frame.values.tolist() == [["ham", 'said "hi"\tthen left'], ["spam", "WIN!"]]


# --------------------------------------------------------------------------- SMS spam
def test_sms_spam_from_shared_data_has_the_expected_counts(shared_data_dir):
    frame = data.load_sms_spam(data_dir=shared_data_dir)
    assert list(frame.columns) == ["label", "text"]
    assert frame["label"].value_counts().to_dict() == {"ham": 3957, "spam": 617}
    assert frame.loc[1, "text"] == "Ok lar... Joking wif u oni..."


def test_sms_split_is_stratified_disjoint_and_repeatable(shared_data_dir):
    frame = data.load_sms_spam(data_dir=shared_data_dir)
    train, validation, test = data.split_sms_spam(frame, seed=42)
    assert (len(train), len(validation), len(test)) == (3201, 458, 915)
    union = pd.concat([train, validation, test])["text"]
    assert sorted(union) == sorted(frame["text"])  # a partition: every message in exactly one part
    for part in (train, validation, test):
        assert abs((part["label"] == "spam").mean() - 617 / 4574) < 0.005
    again = data.split_sms_spam(frame, seed=42)
    for first, second in zip((train, validation, test), again):
        pd.testing.assert_frame_equal(first, second)
    other = data.split_sms_spam(frame, seed=7)[2]
    assert other["text"].tolist() != test["text"].tolist()


# --------------------------------------------------------------------------- corpus
def test_corpus_is_paragraphs_of_sentences_without_gutenberg_text(shared_data_dir):
    documents = data.load_corpus(data_dir=shared_data_dir)
    sentences = [s for document in documents for s in document]
    assert len(documents) == 2053
    assert len(sentences) == 5828
    assert documents[0] == [
        "It is a truth universally acknowledged, that a single man in possession of a good fortune must be in want of a wife."
    ]
    assert documents[-1][0] == "With the Gardiners they were always on the most intimate terms."
    assert not [s for s in sentences if "Gutenberg" in s or "Illustration" in s or "[" in s or "CHAPTER" in s]
    assert sum(len(document) >= 2 for document in documents) == 1283  # pairs for next-sentence prediction


def test_corpus_by_chapter_has_the_novels_61_chapters(shared_data_dir):
    chapters = data.load_corpus(data_dir=shared_data_dir, unit="chapter")
    assert len(chapters) == 61
    assert chapters[0][0].startswith("It is a truth universally acknowledged")


def test_sentence_splitter_keeps_titles_and_splits_after_quotes():
    text = "“My dear Mr. Bennet,” said his lady. “Have you heard?” Mr. Bennet replied that he had not."
    assert data.split_sentences(text) == [
        "“My dear Mr. Bennet,” said his lady.",
        "“Have you heard?”",
        "Mr. Bennet replied that he had not.",
    ]


def test_corpus_file_without_gutenberg_markers_is_rejected_with_its_name(tmp_path):
    write(tmp_path / "d/corpus/pride_and_prejudice.txt", "Just some text.\n\nAnother paragraph.\n")
    with pytest.raises(data.DataFormatError, match=r"pride_and_prejudice\.txt: .*START/END"):
        data.load_corpus(data_dir=tmp_path / "d")


# --------------------------------------------------------------------------- samples and status
def test_samples_load_with_a_visible_warning():
    with pytest.warns(data.SampleDataWarning, match="not comparable with published numbers"):
        train = data.load_mrpc("train", sample=True)
    assert (len(train), int(train["label"].sum())) == (30, 18)
    with pytest.warns(data.SampleDataWarning):
        sms = data.load_sms_spam(sample=True)
    assert sms["label"].value_counts().to_dict() == {"ham": 29, "spam": 11}
    with pytest.warns(data.SampleDataWarning):
        corpus = data.load_corpus(sample=True)
    assert len(corpus) == 10 and corpus[1][0] == "Mrs. Hale kept the small shop beside the church."


def test_data_status_reports_where_each_data_set_was_found(shared_data_dir, monkeypatch):
    monkeypatch.setenv("BERTLAB_DATA", str(shared_data_dir))
    status = {row.name: row for row in data.data_status()}
    assert list(status) == ["mrpc", "mrpc-test", "sms_spam", "pride_and_prejudice"]
    assert status["mrpc"].location == str(shared_data_dir / "mrpc")
    assert status["mrpc"].source.startswith("BERTLAB_DATA")
    assert status["sms_spam"].location == str(shared_data_dir / "sms_spam")
    assert status["mrpc-test"].location is None
    assert "msr_paraphrase_test.txt" in status["mrpc-test"].source


def test_data_status_without_data_names_the_origins(monkeypatch):
    monkeypatch.delenv("BERTLAB_OFFLINE")
    status = data.data_status()
    assert [row.location for row in status] == [None, None, None, None]
    assert "https://www.gutenberg.org/cache/epub/1342/pg1342.txt" in status[3].source
    assert "downloaded on first use" in status[2].source
