"""The course's own exceptions share one base class, and each check shared by several lessons is worded once.

Every error bertlab raises on purpose derives from :class:`BertlabError` (and from the built-in class a
caller would expect, such as ``ValueError`` for bad input), so ``except BertlabError`` catches the course's
messages and nothing else; every warning derives from :class:`BertlabWarning`. A leaf module: it imports
nothing from bertlab, so any module may use it.
"""
from __future__ import annotations

import numbers


class BertlabError(Exception):
    """Base class of the exceptions bertlab raises with a message meant for the learner."""


class BertlabWarning(UserWarning):
    """Base class of the warnings bertlab shows (filter them all with ``warnings.filterwarnings``)."""


def check_batch_size(batch_size) -> int:
    """Return ``batch_size`` as an ``int`` after checking it is a whole number of examples, at least 1.

    Args:
      batch_size: examples per batch; an ``int`` or NumPy integer (``True``/``False`` are refused).

    Returns:
      ``int(batch_size)``.

    Raises:
      ValueError: when ``batch_size`` is not an integer or is below 1.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number of examples, at least 1; got {batch_size!r}.")
    return int(batch_size)
