"""Fetching the course's data sets from their official origins, safely.

Every file has one entry in :data:`ORIGINS`: the URL it is published at and, where the
dataset libraries publish one, its SHA-256. :func:`fetch` downloads with Keras'
``tf.keras.utils.get_file`` (its progress bar, its checksum check) and adds what
``get_file`` lacks for a shared cache:

* atomic writes: ``get_file`` writes straight to the final path, so a reader (another
  notebook, another process) could see a half-written file. We let it write into a
  private temporary folder inside the cache and ``os.replace`` the finished, verified
  file into place;
* nothing corrupt left behind: ``get_file`` deletes a failed transfer but *keeps* a file
  whose checksum does not match. We delete the temporary folder whatever happens;
* a timeout: ``get_file`` has none, so a stalled server would hang a notebook forever;
* one clear error (:class:`DownloadError`) naming the URL and the reason, instead of
  ``Exception("URL fetch failure ...")``.

Tests and mirrors point the origins elsewhere with the ``BERTLAB_DATA_MIRROR`` environment
variable (a base URL: each file is fetched from ``<mirror>/<file name>``) or by editing
:data:`ORIGINS`. ``BERTLAB_OFFLINE=1`` turns downloads off.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class Origin:
    """Where one file is published; ``sha256=None`` means "check its format instead"."""

    url: str
    sha256: str | None = None
    size: int | None = None
    note: str = ""


# File name (as fetched) -> official origin. Sizes and SHA-256 as published by the dataset
# libraries (TensorFlow Datasets, Hugging Face datasets).
ORIGINS: dict[str, Origin] = {
    "msr_paraphrase_train.txt": Origin(
        "https://dl.fbaipublicfiles.com/senteval/senteval_data/msr_paraphrase_train.txt",
        "60a9b09084528f0673eedee2b69cb941920f0b8cd0eeccefc464a98768457f89",
        1_047_044,
        "SentEval's copy of the raw MSR file (whitespace-tokenized sentences)",
    ),
    "msr_paraphrase_test.txt": Origin(
        "https://dl.fbaipublicfiles.com/senteval/senteval_data/msr_paraphrase_test.txt",
        "a04e271090879aaba6423d65b94950c089298587d9c084bf9cd7439bd785f784",
        441_275,
        "SentEval's copy of the labelled MRPC test file",
    ),
    "mrpc_dev_ids.tsv": Origin(
        "https://dl.fbaipublicfiles.com/glue/data/mrpc_dev_ids.tsv",
        "971d7767d81b997fd9060ade0ec23c4fc31cbb226a55d1bd4a1bac474eb81dc7",
        6_222,
        "GLUE's list of the 408 MRPC development pairs",
    ),
    "smsspamcollection.zip": Origin(
        "https://archive.ics.uci.edu/ml/machine-learning-databases/00228/smsspamcollection.zip",
        "1587ea43e58e82b14ff1f5425c88e17f8496bfcdb67a583dbff9eefaf9963ce3",
        None,
        "UCI Machine Learning Repository archive",
    ),
    "pg1342.txt": Origin(
        "https://www.gutenberg.org/cache/epub/1342/pg1342.txt",
        None,
        None,
        "Project Gutenberg eBook #1342 (no published checksum: its format is checked)",
    ),
}


class DownloadError(RuntimeError):
    """A download failed; the message names the URL and why. Nothing was left in the cache."""


def downloads_enabled() -> bool:
    return os.environ.get("BERTLAB_OFFLINE", "").strip().lower() not in {"1", "true", "yes"}


def origin_url(name: str) -> str:
    """The URL ``name`` is fetched from: ``BERTLAB_DATA_MIRROR/<name>`` if set, else the official one."""
    mirror = os.environ.get("BERTLAB_DATA_MIRROR", "").strip()
    if mirror:
        return mirror.rstrip("/") + "/" + name
    return ORIGINS[name].url


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# socket.setdefaulttimeout is process-wide: serialise our downloads while it is changed.
_TIMEOUT_LOCK = threading.Lock()


def fetch(name: str, dest: str | os.PathLike, *, check: Callable[[Path], None] | None = None) -> Path:
    """Download the file ``name`` (a key of :data:`ORIGINS`) to ``dest``, atomically.

    The SHA-256 is verified when the origin publishes one; ``check(path)`` may further
    inspect the temporary file (raise ``ValueError`` to reject it). On any failure the
    partial file is removed and :class:`DownloadError` is raised.
    """
    import bertlab  # noqa: F401  (Keras 2 before tensorflow)
    import tensorflow as tf

    origin = ORIGINS[name]
    url = origin_url(name)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
    try:
        with _TIMEOUT_LOCK:
            previous = socket.getdefaulttimeout()
            socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
            try:
                tmp = tf.keras.utils.get_file(
                    fname=str(tmpdir / name), origin=url, file_hash=origin.sha256, hash_algorithm="sha256"
                )
            finally:
                socket.setdefaulttimeout(previous)
        tmp = Path(tmp)
        if check is not None:
            check(tmp)
        os.replace(tmp, dest)
        return dest
    except ValueError as error:  # get_file's checksum mismatch, or check() rejecting the format
        # get_file's own reader stops quietly at a short body (it ignores Content-Length), so a
        # transfer cut short shows up here, as a wrong checksum (or format): say so when the size tells.
        part = tmpdir / name
        got = part.stat().st_size if part.is_file() else None
        if got is not None and origin.size is not None and got < origin.size:
            raise DownloadError(
                f"{url}: the transfer was cut short (received {got:,} of {origin.size:,} bytes)"
            ) from error
        raise DownloadError(f"{url}: the downloaded file is not the expected one: {error}") from error
    except Exception as error:  # HTTP errors, refused connections, bodies cut short, timeouts
        raise DownloadError(f"{url}: {_reason(error)}") from error
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _reason(error: BaseException) -> str:
    """get_file wraps urllib errors in a bare Exception("URL fetch failure on URL: code -- msg")."""
    text = str(error)
    cause = error.__cause__ or error.__context__
    if text.startswith("URL fetch failure on ") and " -- " in text:
        code, _, message = text.split(": ", 1)[1].partition(" -- ")
        if code.isdigit():
            return f"HTTP error {code} ({message})"
        if "retrieval incomplete" in message:
            return f"the transfer was cut short ({message})"
        return f"could not connect ({message})"
    if cause is not None and not text:
        text = str(cause)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
