"""Fetching the course's data sets from their official origins, safely.

Every file has one entry in :data:`ORIGINS`: the URL it is published at and, where the
dataset libraries publish one, its SHA-256. :func:`fetch` downloads it with the standard
library (``urllib.request`` + ``hashlib``), as a shared cache needs:

* atomic writes: the body goes to a private temporary file beside the destination, and
  only the finished, verified file is ``os.replace``-d into place, so a reader (another
  notebook, another process) never sees a half-written file;
* nothing corrupt left behind: the temporary file is deleted whatever happens;
* a timeout per request (:data:`DOWNLOAD_TIMEOUT_S` without a byte), so a stalled server
  cannot hang a notebook;
* a body shorter than its ``Content-Length`` is a transfer cut short, not a file;
* one clear error (:class:`DownloadError`) naming the URL and the reason.

Tests and mirrors point the origins elsewhere with the ``BERTLAB_DATA_MIRROR`` environment
variable (a base URL: each file is fetched from ``<mirror>/<file name>``) or by editing
:data:`ORIGINS`. ``BERTLAB_OFFLINE=1`` turns downloads off.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from bertlab.errors import BertlabError

DOWNLOAD_TIMEOUT_S = 60  # seconds without a byte from the server
CHUNK_BYTES = 1 << 16


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


class DownloadError(BertlabError, RuntimeError):
    """A download failed; the message names the URL and why. Nothing was left in the cache."""


def downloads_enabled() -> bool:
    from bertlab.env import env_flag

    return not env_flag("BERTLAB_OFFLINE")


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


def _copy_body(url: str, out: BinaryIO) -> tuple[int, int | None]:
    """Stream ``url``'s body into ``out``; return (bytes received, Content-Length or None)."""
    request = urllib.request.Request(url, headers={"User-Agent": "bertlab (course data download)"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
        length = response.headers.get("Content-Length")
        received = 0
        # read(n) returns b"" when the server closes early, even short of Content-Length: the
        # caller compares the count with the length.
        for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
            out.write(chunk)
            received += len(chunk)
    return received, int(length) if length and length.isdigit() else None


def _verify(path: Path, origin: Origin, check: Callable[[Path], None] | None) -> None:
    """ValueError if ``path`` is not the published file (SHA-256) or fails ``check``."""
    if origin.sha256 is not None:
        got = sha256_of(path)
        if got != origin.sha256:
            raise ValueError(f"its SHA-256 hash does not match the published one (got {got}, expected {origin.sha256})")
    if check is not None:
        check(path)


def fetch(name: str, dest: str | os.PathLike, *, check: Callable[[Path], None] | None = None) -> Path:
    """Download the file ``name`` (a key of :data:`ORIGINS`) to ``dest``, atomically.

    The SHA-256 is verified when the origin publishes one; ``check(path)`` may further
    inspect the temporary file (raise ``ValueError`` to reject it). On any failure the
    partial file is removed and :class:`DownloadError` is raised, naming the URL and why:
    an HTTP error, no connection, a timeout, a transfer cut short, or not the expected file.
    """
    origin = ORIGINS[name]
    url = origin_url(name)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, part = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    part = Path(part)
    try:
        with os.fdopen(handle, "wb") as out:
            received, length = _copy_body(url, out)
        expected = length if length is not None else origin.size
        cut = f"the transfer was cut short (received {received:,} of {expected:,} bytes)" if expected and received < expected else ""
        try:
            _verify(part, origin, check)
        except ValueError as error:
            raise DownloadError(f"{url}: {cut or 'the downloaded file is not the expected one'}: {error}") from error
        if cut:
            raise DownloadError(f"{url}: {cut}")
        os.replace(part, dest)
        return dest
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url}: HTTP error {error.code} ({error.reason})") from error
    except urllib.error.URLError as error:  # refused, unknown host, timeout while connecting
        raise DownloadError(f"{url}: could not connect ({error.reason})") from error
    except TimeoutError as error:
        raise DownloadError(f"{url}: the server sent nothing for {DOWNLOAD_TIMEOUT_S} s (timed out)") from error
    except (http.client.HTTPException, OSError) as error:  # connection reset, malformed response
        raise DownloadError(f"{url}: the transfer failed ({type(error).__name__}: {error})") from error
    finally:
        part.unlink(missing_ok=True)
