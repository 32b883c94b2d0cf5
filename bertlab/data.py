"""Which data, from where: the course's data sets as pandas / Python objects and tf.data pipelines.

Data sets: GLUE MRPC (:func:`load_mrpc`), the UCI SMS Spam Collection (:func:`load_sms_spam`,
:func:`split_sms_spam`) and a pretraining corpus, *Pride and Prejudice* (:func:`load_corpus`).
This module reads files and nothing else: turning texts into model inputs (tokenizing,
``tf.data`` pipelines) is :mod:`bertlab.preprocessing`'s job.

Each file is looked for, in this order (see data/README.md):

1. the ``data_dir=`` argument, then the ``BERTLAB_DATA`` environment variable, both with the
   layout ``mrpc/train.tsv``, ``mrpc/dev.tsv``, ``sms_spam/SMSSpamCollection``,
   ``corpus/pride_and_prejudice.txt``;
2. the local cache ``BERTLAB_HOME/data`` (same layout; ``BERTLAB_HOME`` defaults to
   ``~/.cache/bertlab``);
3. a download from the official origin into that cache (:mod:`bertlab.downloads`);
4. otherwise one :class:`DataUnavailableError` naming each place tried and the manual fix.

``sample=True`` reads the small illustrative samples in ``data/samples/`` instead (with a
warning: results are not comparable with published numbers).
"""
from __future__ import annotations

import csv
import os
import re
import warnings
import zipfile
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from bertlab import downloads
from bertlab.errors import BertlabError, BertlabWarning

MRPC_HEADER = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
MRPC_TEST_HEADER = ["index", "#1 ID", "#2 ID", "#1 String", "#2 String"]  # GLUE's unlabelled test.tsv
MRPC_COLUMNS = ["label", "id1", "id2", "sentence1", "sentence2"]
MRPC_SPLITS = ("train", "validation", "test")
SMS_LABELS = ("ham", "spam")
CORPORA = {"pride_and_prejudice": "corpus/pride_and_prejudice.txt"}
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "data" / "samples"


class DataFormatError(BertlabError, ValueError):
    """A data file is not in the expected format; the message names the file and the line."""


class DataUnavailableError(BertlabError, FileNotFoundError):
    """A data set could not be found nor downloaded; the message lists every place tried."""


class SampleDataWarning(BertlabWarning):
    """Results on the illustrative samples are not comparable with published numbers."""


# ---------------------------------------------------------------------------------------------
# Where the data is
# ---------------------------------------------------------------------------------------------
def bertlab_home() -> Path:
    """The course's cache folder: ``BERTLAB_HOME`` or ``~/.cache/bertlab`` (one definition, in bertlab.models)."""
    from bertlab.models import bertlab_home as home

    return Path(home())


def cache_dir() -> Path:
    """Where downloaded data sets are kept: ``BERTLAB_HOME/data`` (layout of ``BERTLAB_DATA``)."""
    return bertlab_home() / "data"


def _search_path(data_dir) -> list[tuple[Path, str]]:
    """The folders to look in, in order, each with how it was chosen."""
    places = []
    if data_dir is not None:
        places.append((Path(data_dir).expanduser(), "data_dir argument"))
    env = os.environ.get("BERTLAB_DATA", "").strip()
    if env:
        places.append((Path(env).expanduser(), "BERTLAB_DATA"))
    places.append((cache_dir(), "cache (BERTLAB_HOME/data)"))
    return places


def _find(relpaths: list[str], data_dir) -> tuple[Path, str] | None:
    """The first folder of the search path that holds every file in ``relpaths``."""
    for folder, how in _search_path(data_dir):
        if all((folder / rel).is_file() for rel in relpaths):
            return folder, how
    return None


def _unavailable(what: str, wanted: list[list[str]], data_dir, tried: list[str], manual: list[str]) -> DataUnavailableError:
    """One error for a data set: each folder looked in, each download tried and why it failed,
    and how to put the files (``manual``: paths relative to a data folder) in place by hand."""
    looked = "\n".join(
        f"  - {folder} ({how}): no {' or '.join(' + '.join(group) for group in wanted)}"
        for folder, how in _search_path(data_dir)
    )
    if not downloads.downloads_enabled():
        tried = tried + ["  - downloads are turned off (BERTLAB_OFFLINE is set)"]
    return DataUnavailableError(
        f"{what} is not available.\nLooked in:\n{looked}\nDownloads tried:\n"
        + ("\n".join(tried) if tried else "  (none)")
        + f"\nTo put the files in place by hand: on a machine with internet access, download "
        f"{', '.join(Path(f).name for f in manual)} (origins in data/README.md) and put the file(s) in "
        f"{cache_dir() / Path(manual[0]).parent}, or into <folder>/{Path(manual[0]).parent} and set "
        f"BERTLAB_DATA=<folder>. To work without the real data, pass sample=True (illustrative samples only)."
    )


def _download(name: str, dest: Path, tried: list[str], check=None) -> bool:
    if not downloads.downloads_enabled():
        return False
    try:
        downloads.fetch(name, dest, check=check)
    except downloads.DownloadError as error:
        tried.append(f"  - {error}")
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Reading tab-separated files strictly
# ---------------------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataUnavailableError(f"{path}: no such file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataFormatError(
            f"{path}, line {line}: not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start})"
        ) from None
    if not text.strip():
        raise DataFormatError(f"{path}, line 1: the file is empty")
    return text


def _read_tsv(path: Path, ncols: int, header: list[str] | None, maxsplit: bool = False) -> list[tuple[int, list[str]]]:
    """Rows as (line number, fields): UTF-8 with optional BOM, tab-separated, ``csv.QUOTE_NONE``.

    ``maxsplit`` joins extra fields into the last one (the SMS file's texts may contain tabs).
    """
    lines = _read_text(path).split("\n")
    while lines and not lines[-1].strip("\r"):  # blank lines at the very end are harmless
        lines.pop()
    rows = []
    reader = csv.reader((line.rstrip("\r") for line in lines), delimiter="\t", quoting=csv.QUOTE_NONE)
    for number, fields in enumerate(reader, start=1):
        if maxsplit and len(fields) > ncols:
            fields = fields[: ncols - 1] + ["\t".join(fields[ncols - 1 :])]
        if number == 1 and header is not None:
            if fields != header:
                hint = " (is the file tab-separated?)" if len(fields) < ncols else ""
                raise DataFormatError(
                    f"{path}, line 1: expected the header {'<TAB>'.join(header)!r}, found "
                    f"{'<TAB>'.join(fields)[:200]!r}{hint}"
                )
            continue
        if fields == [] or fields == [""]:
            raise DataFormatError(f"{path}, line {number}: empty line")
        if len(fields) != ncols:
            hint = " (is the file tab-separated?)" if len(fields) == 1 else ""
            raise DataFormatError(
                f"{path}, line {number}: expected {ncols} tab-separated fields, found {len(fields)}{hint}"
            )
        rows.append((number, fields))
    if not rows:
        raise DataFormatError(f"{path}, line {len(lines) + 1}: no data rows")
    return rows


def _int(path: Path, number: int, value: str, what: str, allowed=None) -> int:
    try:
        result = int(value)
    except ValueError:
        raise DataFormatError(f"{path}, line {number}: {what} {value!r} is not an integer") from None
    if allowed is not None and result not in allowed:
        raise DataFormatError(f"{path}, line {number}: {what} {value!r} is not one of {sorted(allowed)}")
    return result


def read_mrpc_file(path: str | os.PathLike) -> pd.DataFrame:
    """Parse one MRPC file in the published format (GLUE ``train.tsv``/``dev.tsv`` or the raw
    ``msr_paraphrase_*.txt``): header ``Quality #1 ID #2 ID #1 String #2 String``."""
    path = Path(path)
    rows = [
        (
            _int(path, n, f[0], "label (Quality)", {0, 1}),
            _int(path, n, f[1], "#1 ID"),
            _int(path, n, f[2], "#2 ID"),
            f[3],
            f[4],
        )
        for n, f in _read_tsv(path, 5, MRPC_HEADER)
    ]
    return pd.DataFrame(rows, columns=MRPC_COLUMNS)


def read_mrpc_dev_ids(path: str | os.PathLike) -> list[tuple[int, int]]:
    """GLUE's ``mrpc_dev_ids.tsv``: ``id1<TAB>id2`` per line, no header."""
    path = Path(path)
    return [(_int(path, n, f[0], "id1"), _int(path, n, f[1], "id2")) for n, f in _read_tsv(path, 2, None)]


def split_mrpc_raw(raw: pd.DataFrame, dev_ids: list[tuple[int, int]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """GLUE's split of the raw MSR training file: the pairs in ``dev_ids`` form dev, the rest train."""
    is_dev = pd.Series(list(zip(raw["id1"], raw["id2"]))).isin(set(dev_ids)).to_numpy()
    return raw[~is_dev].reset_index(drop=True), raw[is_dev].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# MRPC
# ---------------------------------------------------------------------------------------------
def _sample(name: str) -> Path:
    path = SAMPLES_DIR / name
    if not path.is_file():
        raise DataUnavailableError(
            f"{path}: the illustrative samples ship with the bertlab repository (data/samples/); clone it to use them"
        )
    warnings.warn(
        f"Using the small ILLUSTRATIVE sample {path.name} written for this course, not the real data set: "
        "results are not comparable with published numbers.",
        SampleDataWarning,
        stacklevel=3,
    )
    return path


def load_mrpc(split: str = "train", data_dir=None, *, form: str = "auto", sample: bool = False) -> pd.DataFrame:
    """MRPC ``split`` (``train``/``validation``/``test``) as a DataFrame(label, id1, id2, sentence1, sentence2).

    ``label`` is 1 for a paraphrase. ``form="glue"`` reads GLUE's ``train.tsv``/``dev.tsv``;
    ``form="raw"`` splits the raw ``msr_paraphrase_train.txt`` by ``mrpc_dev_ids.tsv`` as GLUE
    does (same rows); ``"auto"`` takes the first folder of the search path that has either.
    The test split comes from the labelled ``msr_paraphrase_test.txt`` (1,725 pairs); if only
    GLUE's unlabelled ``test.tsv`` is found, ``label`` is ``<NA>`` and a warning says so.
    A downloaded raw file is SentEval's copy, whose sentences are whitespace-tokenized.
    """
    if split not in MRPC_SPLITS:
        raise ValueError(f"split must be one of {MRPC_SPLITS}, not {split!r}")
    if form not in ("auto", "glue", "raw"):
        raise ValueError(f"form must be 'auto', 'glue' or 'raw', not {form!r}")
    if sample:
        return read_mrpc_file(_sample(f"mrpc_{split}.tsv"))
    if split == "test":
        return _load_mrpc_test(data_dir)
    glue = ["mrpc/train.tsv" if split == "train" else "mrpc/dev.tsv"]
    raw = ["mrpc/msr_paraphrase_train.txt", "mrpc/mrpc_dev_ids.tsv"]
    options = {"auto": [glue, raw], "glue": [glue], "raw": [raw]}[form]
    for folder, _how in _search_path(data_dir):
        for files in options:
            if all((folder / f).is_file() for f in files):
                if files is glue:
                    return read_mrpc_file(folder / files[0])
                return _mrpc_from_raw(folder, split)
    tried = []
    if form != "glue":
        target = cache_dir() / "mrpc"
        fetched = [  # a list, not all(): try every file, so the error can name every failure
            (target / name).is_file() or _download(name, target / name, tried)
            for name in ("msr_paraphrase_train.txt", "mrpc_dev_ids.tsv")
        ]
        if all(fetched):
            return _mrpc_from_raw(cache_dir(), split)
    raise _unavailable(f"MRPC {split}", options, data_dir, tried, options[-1])


def _mrpc_from_raw(folder: Path, split: str) -> pd.DataFrame:
    """GLUE's train/dev split of ``folder/mrpc/msr_paraphrase_train.txt`` by ``mrpc_dev_ids.tsv``."""
    train, dev = split_mrpc_raw(
        read_mrpc_file(folder / "mrpc" / "msr_paraphrase_train.txt"),
        read_mrpc_dev_ids(folder / "mrpc" / "mrpc_dev_ids.tsv"),
    )
    return train if split == "train" else dev


def _load_mrpc_test(data_dir) -> pd.DataFrame:
    found = _find(["mrpc/msr_paraphrase_test.txt"], data_dir)
    if found:
        return read_mrpc_file(found[0] / "mrpc/msr_paraphrase_test.txt")
    found = _find(["mrpc/test.tsv"], data_dir)
    if found:
        path = found[0] / "mrpc/test.tsv"
        rows = [
            (_int(path, n, f[1], "#1 ID"), _int(path, n, f[2], "#2 ID"), f[3], f[4])
            for n, f in _read_tsv(path, 5, MRPC_TEST_HEADER)
        ]
        warnings.warn(
            f"{path} is GLUE's test file, which has no labels: the label column is <NA>. "
            "The labelled test file is msr_paraphrase_test.txt.",
            UserWarning,
            stacklevel=3,
        )
        frame = pd.DataFrame(rows, columns=MRPC_COLUMNS[1:])
        frame.insert(0, "label", pd.array([pd.NA] * len(frame), dtype="Int64"))
        return frame
    tried = []
    dest = cache_dir() / "mrpc" / "msr_paraphrase_test.txt"
    if _download("msr_paraphrase_test.txt", dest, tried):
        return read_mrpc_file(dest)
    wanted = [["mrpc/msr_paraphrase_test.txt"], ["mrpc/test.tsv"]]
    raise _unavailable("MRPC test (labelled)", wanted, data_dir, tried, wanted[0])


# ---------------------------------------------------------------------------------------------
# SMS Spam Collection
# ---------------------------------------------------------------------------------------------
def read_sms_file(path: str | os.PathLike) -> pd.DataFrame:
    """Parse ``SMSSpamCollection``: ``label<TAB>text`` per line, no header, UTF-8."""
    path = Path(path)
    rows = []
    for number, (label, text) in _read_tsv(path, 2, None, maxsplit=True):
        if label not in SMS_LABELS:
            raise DataFormatError(f"{path}, line {number}: label {label[:40]!r} is not 'ham' or 'spam'")
        rows.append((label, text))
    return pd.DataFrame(rows, columns=["label", "text"])


def _check_sms_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            archive.getinfo("SMSSpamCollection")
    except (zipfile.BadZipFile, KeyError) as error:
        raise ValueError(f"not the SMS Spam Collection archive ({error})") from None


def load_sms_spam(data_dir=None, *, sample: bool = False) -> pd.DataFrame:
    """The SMS Spam Collection as a DataFrame(label ``'ham'``/``'spam'``, text), in file order."""
    if sample:
        return read_sms_file(_sample("sms_spam.tsv"))
    rel = "sms_spam/SMSSpamCollection"
    found = _find([rel], data_dir)
    if found:
        return read_sms_file(found[0] / rel)
    tried = []
    target = cache_dir() / rel
    archive = target.parent / "smsspamcollection.zip"
    if _download("smsspamcollection.zip", archive, tried, check=_check_sms_zip):
        # Extract next to the target and rename, so a reader never sees half a file.
        tmp = target.with_name(target.name + ".part")
        with zipfile.ZipFile(archive) as zipped, open(tmp, "wb") as out:
            out.write(zipped.read("SMSSpamCollection"))
        os.replace(tmp, target)
        return read_sms_file(target)
    raise _unavailable("The SMS Spam Collection", [[rel]], data_dir, tried, ["sms_spam/SMSSpamCollection (inside smsspamcollection.zip)"])


def split_sms_spam(
    df: pd.DataFrame, seed: int = 42, *, validation_size: float = 0.1, test_size: float = 0.2
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stratified (train, validation, test) split; the same ``seed`` gives the same split everywhere.

    Sizes are fractions of the whole; each part keeps the ham/spam ratio. Indexes are reset.
    """
    from sklearn.model_selection import train_test_split

    if not 0 < validation_size < 1 or not 0 < test_size < 1 or validation_size + test_size >= 1:
        raise ValueError("validation_size and test_size must be in (0, 1) and sum to less than 1")
    rest, test = train_test_split(df, test_size=test_size, stratify=df["label"], random_state=seed)
    train, validation = train_test_split(
        rest, test_size=validation_size / (1 - test_size), stratify=rest["label"], random_state=seed
    )
    return tuple(part.reset_index(drop=True) for part in (train, validation, test))


# ---------------------------------------------------------------------------------------------
# Pretraining corpus
# ---------------------------------------------------------------------------------------------
_START = re.compile(r"^\*\*\* ?START OF (?:THE|THIS) PROJECT GUTENBERG EBOOK[^\n]*$", re.M | re.I)
_END = re.compile(r"^\s*\*\*\* ?END OF (?:THE|THIS) PROJECT GUTENBERG EBOOK", re.M | re.I)
_CHAPTER = re.compile(r"^\s*CHAPTER\s+[IVXLC]+\.?\]?\s*$", re.M | re.I)
# Where the novel itself starts and ends inside the Gutenberg body (after the 1894 edition's
# front matter: title pages, preface, list of illustrations; before its closing plates).
_BOOK_BOUNDS = {
    "pride_and_prejudice": (re.compile(r"^\s*Chapter I\.\]?\s*$", re.M | re.I), re.compile(r"\[Illustration:\s*THE\s+END\s*\]")),
}
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "messrs", "esq", "col", "capt", "gen", "rev", "lt", "no", "edw"}
_SENTENCE_END = re.compile(r"[.!?]+[”’\"')\]]*\s+(?=[“‘\"'(]*[A-Z0-9])")


def check_gutenberg_text(path: Path, title: str = "Pride and Prejudice") -> None:
    """Reject a file that is not a Project Gutenberg plain-text eBook of ``title`` (``ValueError``)."""
    text = Path(path).read_bytes().decode("utf-8", errors="replace").replace("\r\n", "\n")
    if not _START.search(text):
        raise ValueError("no '*** START OF THE PROJECT GUTENBERG EBOOK' line (not a Gutenberg text?)")
    if not _END.search(text):
        raise ValueError("no '*** END OF THE PROJECT GUTENBERG EBOOK' line (the file is cut short)")
    if title.lower() not in text[:5000].lower():
        raise ValueError(f"the header does not name {title!r}")
    if Path(path).stat().st_size < 500_000:
        raise ValueError(f"only {Path(path).stat().st_size:,} bytes; the novel has about 750,000")


def split_sentences(paragraph: str) -> list[str]:
    """Split English prose into sentences at . ! ? followed by a capital, except after Mr., Mrs., ..."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(paragraph):
        word = re.search(r"(\w+)\W*$", paragraph[start : match.start() + 1])
        if word and word.group(1).lower() in _ABBREVIATIONS and paragraph[match.start()] == ".":
            continue
        if word and len(word.group(1)) == 1 and word.group(1).isupper():  # an initial: "F. Darcy"
            continue
        sentences.append(paragraph[start : match.end()].strip())
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _strip_illustrations(text: str) -> str:
    """Remove ``[Illustration ...]`` blocks, which span lines and nest brackets."""
    out, i = [], 0
    while True:
        j = text.find("[Illustration", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        depth, k = 0, j
        while k < len(text):
            depth += {"[": 1, "]": -1}.get(text[k], 0)
            k += 1
            if depth == 0:
                break
        i = k


def parse_gutenberg(text: str, name: str = "pride_and_prejudice", unit: str = "paragraph") -> list[list[str]]:
    """Documents (lists of sentences) from a Gutenberg eBook's text; see :func:`load_corpus`."""
    start, end = _START.search(text), _END.search(text)
    if not start or not end:
        raise DataFormatError("the text lacks the Project Gutenberg START/END lines")
    body = text[start.end() : end.start()]
    first, last = _BOOK_BOUNDS.get(name, (None, None))
    if first and (m := first.search(body)):
        body = body[m.start() :]
    if last and (m := last.search(body)):
        body = body[: m.start()]
    chapters = [_strip_illustrations(part) for part in _CHAPTER.split(body)]
    documents = []
    for chapter in chapters:
        texts = []
        for block in re.split(r"\n\s*\n", chapter):
            paragraph = " ".join(block.replace("_", "").split())
            if paragraph and texts and paragraph[0].islower():
                texts[-1] += " " + paragraph  # a paragraph that an illustration plate cut in two
            elif paragraph:
                texts.append(paragraph)
        paragraphs = [split_sentences(paragraph) for paragraph in texts]
        if unit == "paragraph":
            documents.extend(paragraphs)
        elif paragraphs:
            documents.append([s for p in paragraphs for s in p])
    return documents


def load_corpus(name: str = "pride_and_prejudice", data_dir=None, *, unit: str = "paragraph", sample: bool = False):
    """The pretraining corpus as documents, each a list of consecutive sentences.

    ``unit="paragraph"`` (default): one document per paragraph, so consecutive sentences for
    next-sentence prediction come from the same paragraph and a "random next sentence" from
    another paragraph; single-sentence paragraphs (much of the dialogue) are kept, as they are
    still useful for masked-LM and as random sentences. ``unit="chapter"``: one document per
    chapter (BERT's original notion of a document). The Project Gutenberg header and licence,
    the 1894 edition's front matter (preface, list of illustrations) and the illustration
    captions are removed; ``_italics_`` marks are dropped.
    """
    if unit not in ("paragraph", "chapter"):
        raise ValueError(f"unit must be 'paragraph' or 'chapter', not {unit!r}")
    if sample:
        text = _read_text(_sample("corpus_sample.txt"))
        body = "\n".join(line for line in text.split("\n") if not line.startswith("#"))
        paragraphs = [split_sentences(" ".join(b.split())) for b in re.split(r"\n\s*\n", body) if b.strip()]
        return paragraphs if unit == "paragraph" else [[s for p in paragraphs for s in p]]
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; known: {sorted(CORPORA)}")
    rel = CORPORA[name]
    found = _find([rel], data_dir)
    tried = []
    if found:
        path = found[0] / rel
    else:
        path = cache_dir() / rel
        if not _download("pg1342.txt", path, tried, check=check_gutenberg_text):
            raise _unavailable(f"The corpus {name!r}", [[rel]], data_dir, tried, [rel + " (pg1342.txt, renamed)"])
    try:
        return parse_gutenberg(_read_text(path).replace("\r\n", "\n"), name, unit)
    except DataFormatError as error:
        raise DataFormatError(f"{path}: {error}") from None


# ---------------------------------------------------------------------------------------------
# What is available (for `bertlab doctor`)
# ---------------------------------------------------------------------------------------------
class DataStatus(NamedTuple):
    name: str
    location: str | None  # the folder holding the files, or None when not found locally
    source: str  # how it was found, or where it would come from


_STATUS = [
    ("mrpc", [["mrpc/train.tsv", "mrpc/dev.tsv"], ["mrpc/msr_paraphrase_train.txt", "mrpc/mrpc_dev_ids.tsv"]],
     ["msr_paraphrase_train.txt", "mrpc_dev_ids.tsv"]),
    ("mrpc-test", [["mrpc/msr_paraphrase_test.txt"], ["mrpc/test.tsv"]], ["msr_paraphrase_test.txt"]),
    ("sms_spam", [["sms_spam/SMSSpamCollection"]], ["smsspamcollection.zip"]),
    ("pride_and_prejudice", [["corpus/pride_and_prejudice.txt"]], ["pg1342.txt"]),
]


def data_status(data_dir=None) -> list[DataStatus]:
    """For each data set: where it was found (first match in the search order) or where it would come from."""
    result = []
    for name, options, origins in _STATUS:
        for files in options:
            found = _find(files, data_dir)
            if found:
                what = ", ".join(Path(f).name for f in files)
                result.append(DataStatus(name, str(found[0] / Path(files[0]).parent), f"{found[1]}: {what}"))
                break
        else:
            urls = ", ".join(downloads.origin_url(o) for o in origins)
            how = "downloads are off (BERTLAB_OFFLINE)" if not downloads.downloads_enabled() else "downloaded on first use"
            result.append(DataStatus(name, None, f"not found locally; {how} from {urls}"))
    return result
