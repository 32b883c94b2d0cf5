"""The course's own exceptions share one base class, and the batch-size check is worded once (issue 26 part 5)."""
import importlib
import inspect
import pkgutil
import warnings

import pytest

import bertlab
from bertlab import errors
from bertlab.errors import BertlabError, BertlabWarning, check_batch_size

# Deliberately BaseException: a learner's `except Exception:` must not swallow the scorer stopping a notebook.
SCORER_SIGNALS = {"bertlab.grading.worker.LearnerGone", "bertlab.grading.core.ScoringTimeout"}
KERAS3_ONLY = {"bertlab.kerashub"}  # imports Keras 3, refused in this (Keras 2) process; checked by source below


def _bertlab_modules():
    for info in pkgutil.walk_packages(bertlab.__path__, "bertlab."):
        if info.name in KERAS3_ONLY or info.name.endswith("__main__"):
            continue
        yield importlib.import_module(info.name)


def _own_classes(base):
    found = {}
    for module in _bertlab_modules():
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, base) and obj.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = obj
    return found


def test_every_exception_bertlab_defines_derives_from_bertlab_error():
    exceptions = _own_classes(BaseException)
    warning_classes = {name for name, cls in exceptions.items() if issubclass(cls, Warning)}
    stray = sorted(name for name, cls in exceptions.items()
                   if name not in warning_classes and name not in SCORER_SIGNALS
                   and cls is not BertlabError and not issubclass(cls, BertlabError))
    assert stray == []
    assert len(exceptions) - len(warning_classes) >= 12  # the walk found the course's exceptions


def test_every_warning_bertlab_defines_derives_from_bertlab_warning():
    found = {name: cls for name, cls in _own_classes(Warning).items() if cls is not BertlabWarning}
    assert sorted(name for name, cls in found.items() if not issubclass(cls, BertlabWarning)) == []
    assert {"bertlab.data.SampleDataWarning", "bertlab.models.RandomWeightsWarning",
            "bertlab.preprocessing.TruncationWarning"} <= set(found)


def test_kerashub_missing_error_derives_from_bertlab_error_by_source():
    source = (errors.__file__.replace("errors.py", "kerashub.py"))
    with open(source) as handle:
        assert "class KerasHubMissingError(BertlabError, ImportError):" in handle.read()


def test_course_errors_keep_their_builtin_base_so_old_except_clauses_still_catch_them():
    from bertlab.data import DataFormatError, DataUnavailableError
    from bertlab.models import HubLoadError

    assert issubclass(DataFormatError, ValueError) and issubclass(DataUnavailableError, FileNotFoundError)
    assert issubclass(HubLoadError, RuntimeError) and issubclass(HubLoadError, BertlabError)


@pytest.mark.parametrize("value", [0, -3, 2.5, "8", None, True])
def test_check_batch_size_refuses_what_is_not_a_whole_number_of_examples(value):
    with pytest.raises(ValueError, match=r"batch_size must be a whole number of examples, at least 1; got "):
        check_batch_size(value)


def test_check_batch_size_returns_a_plain_int():
    import numpy as np

    assert check_batch_size(np.int64(16)) == 16 and type(check_batch_size(np.int64(16))) is int


def test_the_lessons_batch_size_checks_share_one_wording():
    from bertlab import finetuning, preprocessing, pretraining

    calls = [lambda: preprocessing.to_tf_dataset(["a"], batch_size=0),
             lambda: pretraining.pretraining_dataset(None, None, batch_size=0),
             lambda: finetuning.predict(None, ["a"], batch_size=0)]
    messages = []
    for call in calls:
        with warnings.catch_warnings(), pytest.raises((ValueError, TypeError)) as caught:
            warnings.simplefilter("ignore")
            call()
        messages.append(str(caught.value))
    assert all(m.startswith("batch_size must be a whole number of examples, at least 1") for m in messages), messages
