"""Fixtures shared by the test modules."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import bertlab  # noqa: F401  (Keras 2 before anything imports tensorflow)

SHARED_LAYOUT = ("mrpc/train.tsv", "mrpc/dev.tsv", "sms_spam/SMSSpamCollection", "corpus/pride_and_prejudice.txt")


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real data sets, from ``BERTLAB_DATA`` (layout of ../shared/data).

    In CI (``CI=true``) their absence fails the test; elsewhere the test is skipped, saying
    where the data would come from.
    """
    value = os.environ.get("BERTLAB_DATA", "").strip()
    folder = Path(value).expanduser() if value else None
    missing = [] if folder is None else [rel for rel in SHARED_LAYOUT if not (folder / rel).is_file()]
    if folder is not None and not missing:
        return folder
    why = (
        "BERTLAB_DATA is not set"
        if folder is None
        else f"BERTLAB_DATA={folder} lacks {', '.join(missing)}"
    )
    message = (
        f"{why}: this test reads the real data sets. Set BERTLAB_DATA to a folder with the layout of "
        "../shared/data (mrpc/train.tsv, mrpc/dev.tsv, sms_spam/SMSSpamCollection, corpus/pride_and_prejudice.txt); "
        ".ci/run sets it to ../shared/data when that folder sits beside the clone. Outside the tests, the loaders "
        "would read the cache (BERTLAB_HOME/data) or download the files from the origins listed in data/README.md."
    )
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
