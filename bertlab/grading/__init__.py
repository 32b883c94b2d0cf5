"""Graders for the course's exercises, one module per lesson (`lesson01.py`, `lesson02.py`, ...).

In a notebook::

    from bertlab.grading import check
    check("lesson01.count_bert_parameters", count_bert_parameters)

From a terminal: ``python -m bertlab.grading score notebooks/01_installation.ipynb``.
"""
from bertlab.grading.core import (
    NOT_IMPLEMENTED,
    Grader,
    GradingError,
    Result,
    RightAnswer,
    WrongAnswer,
    audit,
    check,
    get_grader,
    grade,
    grader,
    lesson_modules,
    load_lesson,
    right_answer,
    run_grader,
    wrong_answer,
)

__all__ = [
    "NOT_IMPLEMENTED",
    "Grader",
    "GradingError",
    "Result",
    "RightAnswer",
    "WrongAnswer",
    "audit",
    "check",
    "get_grader",
    "grade",
    "grader",
    "lesson_modules",
    "load_lesson",
    "right_answer",
    "run_grader",
    "wrong_answer",
]

# The namespaces graders rely on, as they are before any notebook code runs (see core.guarded).
from bertlab.grading.core import snapshot_modules as _snapshot_modules  # noqa: E402

_snapshot_modules()
