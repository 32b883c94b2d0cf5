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

    @right_answer("pack_pair", why="tuples instead of lists")  # must pass with full points
    def pack_pair_returning_tuples(first, second):
        ...

A grader takes the learner's function (no notebook globals), raises :class:`GradingError`
with a hint when the answer is wrong and returns normally when it is right. The core turns
what happens into one :class:`Result`:

* the grader returned -> passed, full points;
* :class:`GradingError` or the grader's own ``AssertionError`` (``np.testing``) -> failed, the hint;
* ``NotImplementedError`` raised by the learner's own code (the stub) -> "not implemented yet";
* any exception from the learner's function (a library's ``NotImplementedError``, the learner's
  own ``assert``, ``SystemExit``) -> failed, ``"raised <ExceptionType>: <message>"`` on one line,
  never shown as a hint.

Graders never see the learner's function itself but a guarded call (:func:`guarded`): every call
returns plain data (arrays, lists, numbers), and afterwards the modules graders rely on
(``numpy``, ``builtins``, ``math``, ``tensorflow``, scikit-learn's metrics, this package) are put
back as they were when ``bertlab.grading`` was imported, so ``np.allclose = lambda *a: True`` in
a notebook cannot make a grader accept anything. An exercise may name the library functions that
*are* its answer (``@grader(..., uses=[...])``): a call to one of bertlab's own is the course's
answer, not the learner's, so it earns no points; a call to another library's is reported
("used tensorflow_text.WordpieceTokenizer") with the points kept.

In a notebook, ``check("lesson02.pack_pair", pack_pair)`` grades and shows that one line. In
Jupyter it grades the function the scorer would build from the session's cells (the scoring rule,
:mod:`bertlab.grading.cells`), so a pass there is a pass in ``python -m bertlab.grading score``.
"""
from __future__ import annotations

import builtins
import html
import importlib
import pkgutil
import re
import sys
import types
import weakref
from dataclasses import dataclass, field
from typing import Callable

from bertlab.grading.cells import SCORING_RULE
from bertlab.errors import BertlabError

NOT_IMPLEMENTED = "not implemented yet"
MAX_MESSAGE = 300  # characters of a hint shown on the one line
_LESSON_RE = re.compile(r"^lesson\d\d$")


class GradingError(BertlabError, AssertionError):
    """A wrong answer. Its message is the hint shown to the learner, so make it help."""


class LearnerError(BertlabError):
    """The learner's function raised `error` (any BaseException) when a grader called it."""

    def __init__(self, error: BaseException):
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


class NotImplementedYet(LearnerError):
    """The learner's own code raised NotImplementedError: the exercise stub."""


class NotPlainData(GradingError):
    """A learner's function returned an object that is not plain data."""


class ScoringTimeout(BaseException):
    """A scored cell or grader ran past the time limit. A BaseException, so that a learner's
    ``except Exception`` cannot swallow it (the scorer also kills the process at a hard limit)."""


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
class RightAnswer:
    """A right answer the exercise text allows (another method, another return type); the grader
    must pass it with full points. The positive controls beside the known-wrong answers."""

    lesson: str
    name: str
    why: str
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
    prepare: Callable | None = None  # computes (and caches) the expected answers, before learner code
    uses: tuple[str, ...] = ()  # dotted names of library functions that ARE this exercise's answer
    right_answers: list[RightAnswer] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.lesson}.{self.name}"


@dataclass
class Result:
    """The outcome of grading one exercise."""

    name: str
    points: int
    max_points: int
    status: str  # "passed" | "failed" | "not implemented" | "missing" | "error"
    message: str = ""
    notes: list[str] = field(default_factory=list)  # e.g. "used tensorflow_text.WordpieceTokenizer"

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def line(self) -> str:
        """The one line a learner sees, without colour."""
        if self.passed:
            notes = "".join(f"; {note}" for note in self.notes)
            return f"✓ {self.name}: passed ({self.points}/{self.max_points} points{notes})"
        return f"✗ {self.name}: {self.message}"

    def to_dict(self) -> dict:
        return {"name": self.name, "points": self.points, "max_points": self.max_points,
                "status": self.status, "message": self.message, "notes": list(self.notes)}

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
_RIGHT: dict[str, list[RightAnswer]] = {}  # "lesson02.pack_pair" -> right answers


def _lesson_of(fn: Callable) -> str:
    """`bertlab.grading.lesson02` -> `lesson02`; any other module keeps its last component."""
    return fn.__module__.rsplit(".", 1)[-1]


def grader(name: str, points: int = 1, *, prepare: Callable | None = None, uses=()):
    """Register the decorated function as the grader of exercise `name` (the learner's function name).

    `prepare`: a function without arguments that computes and caches the grading cases and their
    expected answers; the scorer calls it before any of the learner's code runs, so a notebook
    can neither change the references nor the data they come from. `uses`: dotted names of the
    library functions or classes that are this exercise's answer (see the module docstring).
    """
    if not isinstance(points, int) or points < 1:
        raise ValueError(f"points must be a positive integer, got {points!r}")

    def register(fn: Callable) -> Callable:
        lesson = _lesson_of(fn)
        key = f"{lesson}.{name}"
        existing = _GRADERS.get(key)
        if existing is not None and existing.fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"two graders for {key}: {existing.fn.__qualname__} and {fn.__qualname__}")
        _GRADERS[key] = Grader(lesson, name, points, fn, _WRONG.setdefault(key, []), prepare, tuple(uses),
                               _RIGHT.setdefault(key, []))
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


def right_answer(name: str, why: str):
    """Register the decorated function as a right answer to exercise `name` that the exercise
    text allows (`why` says which variant: "[CLS] pooling", "returns tuples", "float64").

    CI feeds it to the grader, which must pass it with full points.
    """
    if not why:
        raise ValueError("a right answer needs the variant it stands for")

    def register(fn: Callable) -> Callable:
        key = f"{_lesson_of(fn)}.{name}"
        answers = _RIGHT.setdefault(key, [])
        answers[:] = [a for a in answers if a.fn.__qualname__ != fn.__qualname__]
        answers.append(RightAnswer(_lesson_of(fn), name, why, fn))
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


# ---------------------------------------------------------------------------------------
# The guard between graders and the learner's code
# ---------------------------------------------------------------------------------------
# Modules whose attributes graders rely on. Their namespaces are recorded when this module is
# first imported (the notebook's setup cell, or the scorer before any learner code) and put
# back after every call of a learner's function.
PROTECTED_MODULES = ("builtins", "math", "copy", "numpy", "numpy.linalg", "numpy.random", "numpy.testing",
                     "tensorflow", "sklearn.metrics", "sklearn.model_selection", "bertlab.grading",
                     "bertlab.grading.cells", "bertlab.grading.core")
_SNAPSHOTS: dict[str, tuple[types.ModuleType, dict]] = {}
# A learner can rebind names in builtins too: keep our own references to the few used here.
_dict, _id, _items, _modules = dict, id, dict.items, sys.modules
# Innermost frames of code written in a notebook: scored cells, IPython's cells.
_LEARNER_FILE = re.compile(r"^<|[/\\]ipykernel_\d+[/\\]\d+\.py$")


def _protected_names() -> list[str]:
    return [*PROTECTED_MODULES, *(name for name in list(_modules) if name.startswith("bertlab.grading.lesson"))]


def snapshot_modules() -> None:
    """Record the namespaces of the protected modules that are loaded and not yet recorded."""
    for name in _protected_names():
        module = _modules.get(name)
        if module is not None and name not in _SNAPSHOTS:
            _SNAPSHOTS[name] = (module, _dict(module.__dict__))


def restore_modules() -> None:
    """Put back every attribute of a protected module that was rebound since its snapshot."""
    for module, saved in list(_SNAPSHOTS.values()):
        current = module.__dict__
        for key, value in _items(saved):
            if current.get(key, _SNAPSHOTS) is not value:
                current[key] = value
    snapshot_modules()  # modules first imported since (scikit-learn's metrics, a lesson's graders)


def _plain(value, depth: int = 0):
    """`value` as plain data (built-in containers, NumPy arrays and scalars), so that no method
    of the learner's (an ``__eq__``, an ndarray subclass) runs inside a grader."""
    import numpy as np

    if depth > 20:
        raise NotPlainData("return plain values: the result is nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, int, float, complex, str, bytes):
        return value
    if isinstance(value, np.generic) and kind.__module__ == "numpy":
        return value
    if isinstance(value, np.ndarray):
        return np.array(value, copy=True, subok=False)
    if isinstance(value, (list, tuple, set, frozenset, range, types.GeneratorType, map, zip, filter)):
        items = [_plain(v, depth + 1) for v in value]
        return tuple(items) if isinstance(value, tuple) else set(items) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, dict):
        return {_plain(k, depth + 1): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if hasattr(value, "numpy") and kind.__module__.startswith(("tensorflow", "tf_keras", "keras")):
        return np.array(value.numpy(), copy=True, subok=False)  # a tensor or a variable
    if hasattr(value, "to_numpy") and kind.__module__.startswith("pandas"):
        return np.array(value.to_numpy(), copy=True, subok=False)
    if kind.__module__.startswith(("tf_keras.", "keras.")):
        import importlib

        # An exercise that builds a model returns it; only Keras' own classes (a functional or
        # Sequential model), never a learner's subclass whose methods could answer for the grader.
        # tf_keras: Keras 2 (lessons 01-06); keras: Keras 3 (lesson 07).
        if isinstance(value, importlib.import_module(kind.__module__.split(".")[0]).Model):
            return value
    raise NotPlainData(f"return plain values (numbers, strings, NumPy arrays, lists, tuples, dicts), "
                       f"got {kind.__name__}")


def _answer_code(dotted: str) -> tuple[str, set]:
    """(name, code objects) of a library function or class named in `uses`, if its module is loaded."""
    module_name, _, attr = dotted.rpartition(".")
    obj = _modules.get(module_name)
    for part in [attr] if obj is not None else []:
        obj = getattr(obj, part, None)
    codes = set()
    functions = [obj] if callable(obj) and not isinstance(obj, type) else list(vars(obj).values()) if isinstance(obj, type) else []
    for fn in functions:
        fn = getattr(fn, "__func__", fn)
        while fn is not None:
            if isinstance(getattr(fn, "__code__", None), types.CodeType):
                codes.add(fn.__code__)
            fn = getattr(fn, "__wrapped__", None)
    return dotted, codes


def answer_codes(dotted: str) -> set:
    """The code objects of a `uses` entry (a function, or a class's methods), importing a bertlab module."""
    if dotted.startswith("bertlab."):
        with __import__("contextlib").suppress(ImportError):
            importlib.import_module(dotted.rpartition(".")[0])
    return _answer_code(dotted)[1]


_LOCAL_OPS = ("LOAD_FAST", "STORE_FAST", "DELETE_FAST", "LOAD_CLOSURE", "LOAD_DEREF", "STORE_DEREF",
              "DELETE_DEREF", "MAKE_CELL", "LOAD_CLASSDEREF", "LOAD_FAST_CHECK", "LOAD_FAST_AND_CLEAR",
              "LOAD_FAST_LOAD_FAST", "STORE_FAST_LOAD_FAST", "STORE_FAST_STORE_FAST")
_SKIPPED_OPS = ("CACHE", "NOP", "RESUME", "EXTENDED_ARG", "PUSH_NULL", "COPY_FREE_VARS")


def code_key(code: types.CodeType) -> tuple:
    """A code object without what a copy changes: its name, file, line numbers, docstring and the
    names of its locals. Its instructions, with jumps as instruction numbers, locals by position,
    globals, attributes and constants by value (nested code recursively), and ``obj.method()``
    calls one way whether the compiler used LOAD_METHOD (it depends on the imports around)."""
    import dis

    instructions = [i for i in dis.get_instructions(code) if i.opname not in _SKIPPED_OPS]
    number = {ins.offset: n for n, ins in enumerate(instructions)}
    jumps = set(dis.hasjrel) | set(dis.hasjabs)
    key = []
    for ins in instructions:
        op = "LOAD_ATTR" if ins.opname == "LOAD_METHOD" else ins.opname
        if ins.opname in _LOCAL_OPS:
            arg = ins.arg
        elif isinstance(ins.argval, types.CodeType):
            arg = code_key(ins.argval)
        elif ins.opcode in jumps:
            arg = number.get(ins.argval)
        else:
            arg = repr(ins.argval)
        key.append((op, arg))
    return (tuple(key), code.co_argcount, code.co_kwonlyargcount, code.co_posonlyargcount)


def answer_uses(uses, codes) -> list[str]:
    """Which `uses` the code objects `codes` (what a learner's function ran) called ("dotted") or
    ran a copy of ("copy:dotted": notebook code whose :func:`code_key` is the course's)."""
    learner_keys = {code_key(c) for c in codes if isinstance(c, types.CodeType)
                    and _LEARNER_FILE.search(c.co_filename)}
    found = []
    for dotted in uses:
        answer = answer_codes(dotted)
        if answer & codes:
            found.append(dotted)
        elif learner_keys and any(code_key(c) in learner_keys for c in answer):
            found.append(f"copy:{dotted}")
    return found


def _from_a_stub(error: BaseException) -> bool:
    """Whether a NotImplementedError was raised by code written in a notebook (the stub)."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and bool(_LEARNER_FILE.search(tb.tb_frame.f_code.co_filename))


def guarded(learner_fn, used: set | None = None):
    """`learner_fn` as graders must call it: plain-data results, any exception as LearnerError,
    the protected modules restored after the call, the code objects it ran added to `used`.

    A sealed learner function (the judge's proxy of a function in the learner process, see
    :mod:`bertlab.grading.worker`) does all of that in the learner process: its ``sealed_call``
    raises the same errors here, and adds the dotted names of the ``uses`` it ran to `used`."""
    if type(learner_fn) in SEALED["types"]:
        def remote(*args, **kwargs):
            return learner_fn.sealed_call(args, kwargs, used)

        remote.__name__ = getattr(learner_fn, "__name__", "learner_fn")
        return remote

    def call(*args, **kwargs):
        seen: set = set()

        def profile(frame, event, arg):
            if event == "call":
                seen.add(frame.f_code)

        previous = sys.getprofile()
        try:
            if used is not None:
                sys.setprofile(profile)
            try:
                return _plain(learner_fn(*args, **kwargs))
            finally:
                sys.setprofile(previous)
        except NotPlainData:
            raise
        except NotImplementedError as error:
            if _from_a_stub(error):
                raise NotImplementedYet(error) from None
            raise LearnerError(error) from None
        except ScoringTimeout:  # the scorer's time limit, reported as such
            raise
        except BaseException as error:  # SystemExit, KeyboardInterrupt, the learner's own assert
            raise LearnerError(error) from None
        finally:
            restore_modules()
            if used is not None:
                used.update(seen)

    call.__name__ = getattr(learner_fn, "__name__", "learner_fn")
    call.__wrapped_learner__ = learner_fn
    return call


def _learner_message(error: BaseException, name: str) -> str:
    message = f"raised {type(error).__name__}: {error}"
    if isinstance(error, NameError) and getattr(error, "name", None):
        message += f" ({SCORING_RULE})"
    return message


def run_grader(g: Grader, learner_fn) -> Result:
    """Grade `learner_fn` with `g` and return a Result; never raises for a wrong answer."""
    name, points = g.name, g.points
    if learner_fn is None:
        return Result(name, 0, points, "missing", f"no function named {name} was defined")
    if not callable(learner_fn):
        return Result(name, 0, points, "failed", f"{name} should be a function, got {type(learner_fn).__name__}")
    restore_modules()
    used: set = set()
    try:
        g.fn(guarded(learner_fn, used))
    except NotImplementedYet:  # the learner stub (or a helper of the notebook) is not written yet
        return Result(name, 0, points, "not implemented", NOT_IMPLEMENTED)
    except LearnerError as error:
        return Result(name, 0, points, "failed", _one_line(_learner_message(error.error, name)))
    except GradingError as error:
        return Result(name, 0, points, "failed", _one_line(str(error)) or "wrong answer")
    except AssertionError as error:  # the grader's own np.testing assertion
        return Result(name, 0, points, "failed", _one_line(_assertion_message(error)))
    except Exception as error:  # an error while handling the learner's result (or a grader bug)
        return Result(name, 0, points, "failed", _one_line(f"raised {type(error).__name__}: {error}"))
    finally:
        restore_modules()
    notes = []
    # Code objects when graded here, dotted names ("copy:" for copies) from a sealed learner process.
    found = set(answer_uses(g.uses, used)) | {u for u in used if isinstance(u, str)}
    for dotted in g.uses:
        if f"copy:{dotted}" in found and dotted.startswith("bertlab."):
            return Result(name, 0, points, "failed",
                          f"runs a copy of {dotted}, the course's own answer: write {name} yourself", [f"copied {dotted}"])
        if dotted in found:
            if dotted.startswith("bertlab."):
                return Result(name, 0, points, "failed",
                              f"calls {dotted}, the course's own answer: write {name} yourself", [f"used {dotted}"])
            notes.append(f"used {dotted}")
    return Result(name, points, points, "passed", notes=notes)


# ---------------------------------------------------------------------------------------
# Objects shared with the learner's function: recipes, handles and probes
# ---------------------------------------------------------------------------------------
# Graders call the learner's function in this process (tests, check(), mutants) or, when a
# notebook is scored, over a socket in the learner process (bertlab.grading.worker). Arguments
# that are plain data are copied there; objects (a model, a tokenizer) are built there from a
# recipe, and objects a learner's function returns (a compiled model) stay there as a Handle.
# Graders look at such objects only through probes. The same grader code runs in both modes.
_RECIPES: dict[int, tuple] = {}  # id(obj) -> (obj or a weak reference, token, module, qualname, args, kwargs)
_BUILT = __import__("itertools").count(1)  # advanced in place: restore_modules rebinds nothing here
# While the judge scores a notebook: {"link": its link to the learner process, "types": (its proxy
# class,)}. Changed in place (restore_modules puts back rebound attributes of this module).
SEALED: dict = {"link": None, "types": ()}


class Handle:
    """An object that lives in the learner process (what a sealed learner's function returned,
    when it is not plain data). Pass it to :func:`probe` or back to the learner's function."""

    def __init__(self, link, number: int, type_name: str):
        self._link, self.number, self.type_name = link, number, type_name

    def __repr__(self) -> str:
        return f"<{self.type_name} in the learner process>"


def built(fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)``, remembered as a recipe: when a grader passes the object to a sealed
    learner's function, the learner process builds its own copy by calling the same `fn` (a
    module-level function or class of the course, imported by name) with the same arguments
    (plain data, or other built objects), once per object. `fn` must build the same object in
    another process (seeded weights), and must not compute expected answers (it runs there)."""
    obj = fn(*args, **kwargs)
    key, number = _id(obj), next(_BUILT)
    try:  # forgotten with the object (graders run thousands of times by the tests and the mutation tool)
        weakref.finalize(obj, _RECIPES.pop, key, None)
        kept = weakref.ref(obj)
    except TypeError:  # not weak-referenceable: kept
        kept = obj
    _RECIPES[key] = (kept, f"{number}:{key}", fn.__module__, fn.__qualname__, args, kwargs)
    return obj


def _recipe_of(obj):
    """(token, module, qualname, args, kwargs) of an object made by :func:`built`, else None."""
    entry = _RECIPES.get(_id(obj))
    if entry is None:
        return None
    kept = entry[0]
    if (kept() if isinstance(kept, weakref.ref) else kept) is not obj:
        return None
    return entry[1:]


def probe(fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)`` where the learner's objects are: in this process when graders run
    in-process, in the learner process when a notebook is scored (sealed). `fn` is a module-level
    function of the course that returns plain *observations* (logits on batches the grader chose,
    the learning rate at given steps, which weights are trainable), never a verdict: in the sealed
    case it runs in the learner's process, whose code may have replaced anything there, so the
    grader compares what it returns with what it expects, here. Raises LearnerError when `fn`
    raises (the learner's object misbehaved)."""
    if SEALED["link"] is not None:
        return SEALED["link"].probe(fn, args, kwargs)
    try:
        return _plain(fn(*args, **kwargs))
    except (NotPlainData, ScoringTimeout):
        raise
    except BaseException as error:
        raise LearnerError(error) from None
    finally:
        restore_modules()


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
    for answer in g.right_answers:
        result = run_grader(g, answer.fn)
        if result.points != g.points:
            problems.append(f"{answer.label} ({answer.why}): the grader rejected this right answer: {result.message!r}")
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


def _session_sources() -> list[str] | None:
    """The raw sources of the cells run so far in this IPython session, in the order they ran
    (None outside IPython or before any cell ran)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - check() outside Jupyter
        return None
    history = getattr(getattr(get_ipython(), "history_manager", None), "input_hist_raw", None)
    return [str(raw) for raw in history] if history else None


def _error_line(error: BaseException) -> str:
    """`NameError: name 'x' is not defined` on one line, as the scorer reports a cell's error."""
    return " ".join(f"{type(error).__name__}: {error}".split())


def _failing_line(error: BaseException, filename: str) -> int | None:
    """The line of the cell's module code (`filename`) where `error` was raised, if known."""
    tb = error.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == filename and code.co_name == "<module>":
            return tb.tb_lineno
        tb = tb.tb_next
    return None


_IPYTHON_BUILTINS = ("get_ipython", "display", "__IPYTHON__")


@dataclass
class ScoredSession:
    """What the scorer would define from a session's cells: `namespace` (the scorer's globals),
    `errors` ({name: the error of the latest cell meant to define it, which raised before it did})."""

    namespace: dict
    errors: dict[str, str]


def scored_session(sources: list[str]) -> ScoredSession:
    """Run the cell `sources` by the scoring rule, as the scorer does, in a fresh namespace.

    Each source goes through :func:`bertlab.grading.cells.scored_module` (the scorer's own
    extractor: imports, def/class statements, literal constants; ``# GRADING SETUP`` cells
    whole), is compiled as ``<cell N>`` and run in one namespace ``{"__name__": "__main__"}``;
    a cell that raises (``SystemExit`` too) stops there, as it does in the scorer, and the
    protected modules are restored after each cell. What the cells print is discarded.

    A session's history holds every version of a cell that was run: the latest wins. When a
    version raises, the names it would have bound from the failing statement on are removed
    (the notebook now holds that version) and recorded in `errors`. Raises KeyboardInterrupt
    (the learner's interrupt) and nothing else.
    """
    import contextlib
    import io

    from bertlab.grading import cells

    # IPython adds get_ipython and display to builtins; the scorer's process has neither.
    scorer_builtins = {key: value for key, value in _items(vars(builtins)) if key not in _IPYTHON_BUILTINS}
    namespace: dict = {"__name__": "__main__", "__builtins__": scorer_builtins}
    errors: dict[str, str] = {}
    for index, raw in enumerate(sources):
        cell = {"cell_type": "code", "source": raw}
        try:
            module = cells.scored_module(cell)
        except SyntaxError as error:  # `f?` or `x = !ls` run in Jupyter, not in the scorer
            graded = cells.graded_name(cell)
            if graded:  # the scorer reports the graded cell's error; what else it binds is unknown
                namespace.pop(graded, None)
                errors[graded] = _error_line(error)
            continue
        if module is None:
            continue
        filename = f"<cell {index}>"
        failed, line = None, None
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                exec(compile(module, filename, "exec"), namespace)
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # as the scorer: SystemExit in a default argument is a broken cell
            failed, line = _error_line(error), _failing_line(error, filename)
        finally:
            restore_modules()
        for node in module.body:
            names = cells.defined_names([node])
            if failed is not None and (line is None or getattr(node, "end_lineno", line) >= line):
                for name in names:
                    namespace.pop(name, None)
                    errors[name] = failed
            else:
                for name in names:
                    errors.pop(name, None)
    return ScoredSession(namespace, errors)


def unscored_globals(learner_fn, scored: set[str]) -> list[str]:
    """Globals that `learner_fn` (and the notebook functions it calls) reads but scoring would not define.

    A static look at the functions' code only: it does not see default arguments, decorators,
    class bodies or methods, which run when a cell is defined. ``check()`` does not use it; it
    grades the function the scorer would build (:func:`scored_session`).
    """
    import dis

    namespace = getattr(learner_fn, "__globals__", None)
    if namespace is None:
        return []
    missing: list[str] = []
    seen_fns, todo = set(), [learner_fn]
    while todo:
        fn = todo.pop()
        if _id(fn) in seen_fns:
            continue
        seen_fns.add(_id(fn))
        codes = [fn.__code__]
        while codes:
            code = codes.pop()
            codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
            for ins in dis.get_instructions(code):
                if ins.opname not in ("LOAD_GLOBAL", "LOAD_NAME"):
                    continue
                name = ins.argval
                if name not in namespace or name in missing:
                    continue  # a builtin, or a NameError in Jupyter as well
                if name not in scored:
                    missing.append(name)
                    continue
                value = namespace[name]
                if isinstance(value, types.FunctionType) and value.__globals__ is namespace:
                    todo.append(value)  # a helper from the notebook: the same rule applies to it
    return missing


_NAME_ERROR = re.compile(r"^raised NameError: name '(\w+)' is not defined")


def _as_scored(g: Grader, learner_fn) -> Result | None:
    """`learner_fn` graded as the scorer would grade it, from this Jupyter session's cells;
    None where the rule cannot be applied (outside Jupyter, or no cell of the history defines it).

    The function is rebuilt, not inspected: the session's cells go through the scorer's own
    extractor and run in a fresh namespace (:func:`scored_session`), and the function that
    namespace holds is graded. So everything the scorer evaluates is evaluated the same way --
    default arguments, decorators and class bodies at definition time, helpers, methods,
    closures and module-level lambdas at call time -- and nothing the scorer would not evaluate is
    (a branch the graders never reach). Definitions run twice (in the session, and here): their
    side effects (a default argument's call) happen again, as they do in the scorer. Messages:
    a cell that raised is reported as the scorer reports it (``its cell raised NameError: ...``);
    a NameError for a name the session has gets the name of the notebook variable and the rule.
    """
    sources = _session_sources() if _in_notebook() and callable(learner_fn) else None
    if sources is None:
        return None
    from IPython import get_ipython

    session = getattr(get_ipython(), "user_ns", {})
    # The global the learner bound it to (a decorator may have renamed it), the exercise name first.
    names = [g.name, getattr(learner_fn, "__name__", None), *session]
    name = next((n for n in names if isinstance(n, str) and session.get(n) is learner_fn), None)
    if name is None:
        return None
    scored = scored_session(sources)
    if name in scored.errors:
        return Result(g.name, 0, g.points, "failed", _one_line(f"its cell raised {scored.errors[name]} ({SCORING_RULE})"))
    rebuilt = scored.namespace.get(name)
    if rebuilt is None:
        return None  # defined outside the cells (exec, a module): the rule cannot be applied
    result = run_grader(g, rebuilt)
    missing = _NAME_ERROR.match(result.message) if result.status == "failed" else None
    if missing:
        variable = missing.group(1)
        if variable in scored.errors:
            result.message = _one_line(f"{g.name} uses {variable}, whose cell raised {scored.errors[variable]} "
                                       f"when scored: {SCORING_RULE}")
        elif variable in session:
            result.message = f"{g.name} uses {variable}, which scoring does not define: {SCORING_RULE}"
    return result


def check(key: str, learner_fn) -> None:
    """Grade a notebook exercise and show one short line: a green pass with points or a red hint.

    ``check("lesson02.pack_pair", pack_pair)``. It never raises for a wrong answer, so
    "Run all" goes on to the next section. In Jupyter it applies the scoring rule
    (``bertlab.grading.cells``) by grading the function the scorer would build from the cells
    run in this session (:func:`_as_scored`), so a pass here is a pass in
    ``python -m bertlab.grading score``: a function, default argument, decorator or class body
    that reads a notebook variable the scorer would not define fails here as it does there.
    Outside Jupyter (or for a function no cell defined) it grades `learner_fn` itself.
    """
    try:
        g = get_grader(key)
    except Exception as error:  # a wrong key, or a broken grading module: still one line
        name = str(key).rpartition(".")[2] or str(key)
        why = str(error) if isinstance(error, (LookupError, ValueError)) else f"{type(error).__name__}: {error}"
        show(Result(name, 0, 0, "failed", _one_line(f"cannot grade: {why}")))
        return None
    try:
        result = _as_scored(g, learner_fn)
    except Exception:  # a history the extractor cannot read (a null byte): grade the function itself
        result = None
    show(result if result is not None else run_grader(g, learner_fn))
    return None
