"""The grading core: a registry of graders and known-wrong answers, and `check` for notebooks.

A lesson's graders live in ``bertlab/grading/lessonNN.py``::

    from bertlab.grading.core import GradingError, grader, wrong_answer

    @grader("pack_pair", points=2)            # the learner's function name in the notebook
    def grade_pack_pair(learner_fn):
        ...                                   # call learner_fn on seeded, varied inputs
        raise GradingError("did you add [SEP] after the second segment?")

    @wrong_answer("pack_pair", hint="[SEP]")  # its GradingError must contain "[SEP]"
    def pack_pair_without_final_sep(first, second):
        ...

A grader takes the learner's function (no notebook globals), raises :class:`GradingError`
with a hint when the answer is wrong and returns normally when it is right. The core turns
what happens into one :class:`Result`:

* the grader returned -> passed, full points;
* :class:`GradingError` or ``AssertionError`` (``np.testing``) -> failed, the hint;
* ``NotImplementedError`` (the learner stub) -> "not implemented yet";
* any other exception -> failed, ``"<ExceptionType>: <message>"`` on one line.

In a notebook, ``check("lesson02.pack_pair", pack_pair)`` grades and shows that one line.
"""
from __future__ import annotations

import html
import importlib
import pkgutil
import re
import sys
from dataclasses import dataclass, field
from typing import Callable

NOT_IMPLEMENTED = "not implemented yet"
MAX_MESSAGE = 300  # characters of a hint shown on the one line
_LESSON_RE = re.compile(r"^lesson\d\d$")


class GradingError(AssertionError):
    """A wrong answer. Its message is the hint shown to the learner, so make it help."""


@dataclass
class WrongAnswer:
    """A known-wrong answer kept next to its grader; the grader must reject it with `hint`."""

    lesson: str
    name: str
    hint: str
    fn: Callable

    @property
    def label(self) -> str:
        return f"{self.lesson}.{self.name}:{self.fn.__name__}"


@dataclass
class Grader:
    lesson: str
    name: str
    points: int
    fn: Callable
    wrong_answers: list[WrongAnswer] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.lesson}.{self.name}"


@dataclass
class Result:
    """The outcome of grading one exercise."""

    name: str
    points: int
    max_points: int
    status: str  # "passed" | "failed" | "not implemented" | "missing"
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def line(self) -> str:
        """The one line a learner sees, without colour."""
        if self.passed:
            return f"✓ {self.name}: passed ({self.points}/{self.max_points} points)"
        return f"✗ {self.name}: {self.message}"

    def ansi(self) -> str:
        colour = "32" if self.passed else "31"
        return f"\x1b[{colour}m{self.line()}\x1b[0m"

    def html(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        return f'<pre style="color: {colour}; margin: 0">{html.escape(self.line())}</pre>'

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": self.line(), "text/html": self.html()}


# ---------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------
_GRADERS: dict[str, Grader] = {}  # "lesson02.pack_pair" -> Grader
_WRONG: dict[str, list[WrongAnswer]] = {}  # "lesson02.pack_pair" -> wrong answers


def _lesson_of(fn: Callable) -> str:
    """`bertlab.grading.lesson02` -> `lesson02`; any other module keeps its last component."""
    return fn.__module__.rsplit(".", 1)[-1]


def grader(name: str, points: int = 1):
    """Register the decorated function as the grader of exercise `name` (the learner's function name)."""
    if not isinstance(points, int) or points < 1:
        raise ValueError(f"points must be a positive integer, got {points!r}")

    def register(fn: Callable) -> Callable:
        lesson = _lesson_of(fn)
        key = f"{lesson}.{name}"
        existing = _GRADERS.get(key)
        if existing is not None and existing.fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"two graders for {key}: {existing.fn.__qualname__} and {fn.__qualname__}")
        _GRADERS[key] = Grader(lesson, name, points, fn, _WRONG.setdefault(key, []))
        return fn

    return register


def wrong_answer(name: str, hint: str):
    """Register the decorated function as a known-wrong answer to exercise `name`.

    CI feeds it to the grader, which must fail it with a message containing `hint`.
    """
    if not hint:
        raise ValueError("a wrong answer needs the hint its grader must give")

    def register(fn: Callable) -> Callable:
        lesson = _lesson_of(fn)
        key = f"{lesson}.{name}"
        answers = _WRONG.setdefault(key, [])
        # Re-importing a module (autoreload, importlib.reload) must not duplicate entries.
        answers[:] = [a for a in answers if a.fn.__qualname__ != fn.__qualname__]
        answers.append(WrongAnswer(lesson, name, hint, fn))
        return fn

    return register


def lesson_modules() -> list[str]:
    """Names of every grading module (`lesson01`, `lesson02`, ...) in this package."""
    import bertlab.grading as package

    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if _LESSON_RE.match(m.name))


def load_lesson(lesson: str) -> list[Grader]:
    """Import `bertlab.grading.<lesson>` and return its graders in definition order."""
    if not _LESSON_RE.match(lesson):
        raise ValueError(f"a lesson is named like 'lesson02', got {lesson!r}")
    try:
        importlib.import_module(f"bertlab.grading.{lesson}")
    except ModuleNotFoundError as error:
        if error.name == f"bertlab.grading.{lesson}":
            raise LookupError(f"there are no graders for {lesson} (no bertlab/grading/{lesson}.py)") from None
        raise
    return [g for g in _GRADERS.values() if g.lesson == lesson]


def get_grader(key: str) -> Grader:
    """The grader for "lessonNN.name"."""
    lesson, _, name = key.partition(".")
    if not name:
        raise ValueError(f'check needs "lessonNN.function_name", got {key!r}')
    graders = {g.name: g for g in load_lesson(lesson)}
    if name not in graders:
        known = ", ".join(sorted(graders)) or "none"
        raise LookupError(f"{lesson} has no exercise {name!r} (its exercises: {known})")
    return graders[name]


# ---------------------------------------------------------------------------------------
# Grading
# ---------------------------------------------------------------------------------------
def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _assertion_message(error: AssertionError) -> str:
    """A compact message from an AssertionError (np.testing's are many lines long)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return "wrong answer"
    # np.testing: "Not equal to tolerance rtol=1e-07, atol=0", "Mismatched elements: ...", "Max absolute ..."
    keep = [line for line in lines if not line.startswith(("x:", "y:", "ACTUAL", "DESIRED"))]
    return "; ".join(keep[:4]) or lines[0]


def run_grader(g: Grader, learner_fn) -> Result:
    """Grade `learner_fn` with `g` and return a Result; never raises for a wrong answer."""
    name, points = g.name, g.points
    if learner_fn is None:
        return Result(name, 0, points, "missing", f"no function named {name} was defined")
    if not callable(learner_fn):
        return Result(name, 0, points, "failed", f"{name} should be a function, got {type(learner_fn).__name__}")
    try:
        g.fn(learner_fn)
    except NotImplementedError:  # the learner stub (or a helper it calls) is not written yet
        return Result(name, 0, points, "not implemented", NOT_IMPLEMENTED)
    except GradingError as error:
        return Result(name, 0, points, "failed", _one_line(str(error)) or "wrong answer")
    except AssertionError as error:
        return Result(name, 0, points, "failed", _one_line(_assertion_message(error)))
    except Exception as error:  # an error inside the learner's code (or a grader bug)
        return Result(name, 0, points, "failed", _one_line(f"raised {type(error).__name__}: {error}"))
    return Result(name, points, points, "passed")


MIN_WRONG_ANSWERS = 2


def audit(g: Grader) -> list[str]:
    """Problems with a grader's known-wrong answers (CI requires an empty list for every grader).

    Each exercise needs at least MIN_WRONG_ANSWERS wrong answers, and the grader must fail
    every one of them with a message that contains its hint.
    """
    problems = []
    if len(g.wrong_answers) < MIN_WRONG_ANSWERS:
        problems.append(
            f"{g.key}: {len(g.wrong_answers)} known-wrong answer(s); add at least {MIN_WRONG_ANSWERS} with @wrong_answer"
        )
    for answer in g.wrong_answers:
        result = run_grader(g, answer.fn)
        if result.passed:
            problems.append(f"{answer.label}: the grader accepted this wrong answer")
        elif answer.hint not in result.message:
            problems.append(f"{answer.label}: expected the hint {answer.hint!r}, got {result.message!r}")
    return problems


def grade(key: str, learner_fn) -> Result:
    """Grade `learner_fn` against the grader registered as "lessonNN.name"."""
    return run_grader(get_grader(key), learner_fn)


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        from IPython import get_ipython

        ip = get_ipython()
    except Exception:  # pragma: no cover - IPython broken
        return False
    return ip is not None and getattr(ip, "kernel", None) is not None


def show(result: Result) -> None:
    """Display one result: HTML in Jupyter/Colab, ANSI colours on a terminal, plain text otherwise."""
    if _in_notebook():
        from IPython.display import display

        display(result)
    elif sys.stdout.isatty():
        print(result.ansi())
    else:
        print(result.line())


def check(key: str, learner_fn) -> None:
    """Grade a notebook exercise and show one short line: a green pass with points or a red hint.

    ``check("lesson02.pack_pair", pack_pair)``. It never raises for a wrong answer, so
    "Run all" goes on to the next section.
    """
    try:
        g = get_grader(key)
    except Exception as error:  # a wrong key, or a broken grading module: still one line
        name = str(key).rpartition(".")[2] or str(key)
        why = str(error) if isinstance(error, (LookupError, ValueError)) else f"{type(error).__name__}: {error}"
        show(Result(name, 0, 0, "failed", _one_line(f"cannot grade: {why}")))
        return None
    show(run_grader(g, learner_fn))
    return None
