"""Score one notebook in this process; started once per notebook by ``python -m bertlab.grading score``.

The request comes as one JSON line on stdin: ``{"path", "lesson", "timeout", "log"}``. The
answer goes, one JSON line per event, to a private copy of stdout; everything the notebook
(or TensorFlow) prints goes to the log file instead, so it can never garble the answer:

* ``{"kind": "run_error", "message"}``: the graders could not compute their expected answers
  (data missing, a broken installation) before any of the notebook's code ran;
* ``{"kind": "note", "message"}``: a cell that could not run;
* ``{"kind": "result", ...}``: one exercise (:meth:`core.Result.to_dict`);
* ``{"kind": "done"}``: the end. A process that stops without it was ended by the notebook's code.

Order: the graders' ``prepare`` (references, data) first, then the notebook's cells as the scoring
rule says (:mod:`bertlab.grading.cells`), each exercise graded where the notebook checks it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time


def _send(channel, kind: str, **data) -> None:
    channel.write(json.dumps({"kind": kind, **data}, ensure_ascii=False) + "\n")
    channel.flush()


@contextlib.contextmanager
def _time_limit(seconds, error_class):
    """Raise `error_class` (a BaseException) after `seconds`; the parent kills the process if it is swallowed."""
    import signal

    if not seconds:
        yield
        return

    def expire(signum, frame):
        raise error_class(f"took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _error_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


def score(request: dict, channel) -> None:
    path, lesson, timeout = request["path"], request["lesson"], request.get("timeout") or None
    try:
        import bertlab  # noqa: F401  (Keras 2 before anything the notebook imports)
        from bertlab.grading import cells, core

        graders = [dataclasses.replace(g) for g in core.load_lesson(lesson)]
    except Exception as error:  # nothing of the notebook has run: the installation is broken
        _send(channel, "run_error", message=f"cannot load the graders of {lesson}: {_error_line(error)}")
        return
    # Our own references, taken before any notebook code runs: a cell that replaces
    # core.run_grader or core.Result changes nothing here.
    run_grader, Result, ScoringTimeout, NOT_IMPLEMENTED = core.run_grader, core.Result, core.ScoringTimeout, core.NOT_IMPLEMENTED
    restore, one_line = core.restore_modules, core._one_line

    with open(path, encoding="utf-8") as file:
        nb = json.load(file)
    modules, errors, graded_cells = cells.scored_modules(nb.get("cells", []))
    errors = {index: _error_line(error) for index, error in errors.items()}
    stubs = cells.static_stubs(modules.values(), {g.name for g in graders})

    for g in graders:
        if g.name in stubs or g.prepare is None:
            continue
        try:
            with _time_limit(timeout, ScoringTimeout):
                g.prepare()
        except BaseException as error:  # data missing, model cache broken: not the learner's doing
            _send(channel, "run_error", message=f"the {lesson} graders could not compute their expected answers "
                                                f"({g.name}): {_error_line(error)}")
            return
    core.snapshot_modules()

    namespace: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    pending = {g.name: g for g in graders}

    def grade(name: str) -> None:
        g = pending.pop(name)
        if name in stubs:
            result = Result(name, 0, g.points, "not implemented", NOT_IMPLEMENTED)
        elif graded_cells.get(name) in errors:
            result = Result(name, 0, g.points, "failed", one_line(f"its cell raised {errors[graded_cells[name]]}"))
        elif name not in namespace:
            result = Result(name, 0, g.points, "missing",
                            f"no function named {name} (is its '{cells.GRADED_PREFIX}' cell there?)")
        else:
            try:
                with _time_limit(timeout, ScoringTimeout):
                    result = run_grader(g, namespace[name])
            except ScoringTimeout as error:
                result = Result(name, 0, g.points, "failed", f"raised ScoringTimeout: {error}")
            restore()
        _send(channel, "result", **result.to_dict())

    for index, cell in enumerate(nb.get("cells", [])):
        if index in modules:
            try:
                code = compile(modules[index], f"<cell {index}>", "exec")
                with _time_limit(timeout, ScoringTimeout):
                    exec(code, namespace)
            except BaseException as error:  # SystemExit and KeyboardInterrupt too: a broken cell, not the end
                errors[index] = _error_line(error)
            restore()
        if index in errors and index not in graded_cells.values():
            _send(channel, "note", message=f"cell {index}: {errors[index]}")
        checked = cells.checked_exercise(cell)
        if checked in pending:
            grade(checked)
    for name in list(pending):
        grade(name)


def main() -> None:
    request = json.loads(sys.stdin.readline())
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    # What the notebook and TensorFlow print (Python or C level) goes to the log, not the channel.
    log = open(request.get("log") or os.devnull, "w", encoding="utf-8")
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    start = time.perf_counter()
    score(request, channel)
    _send(channel, "done", seconds=time.perf_counter() - start)
    channel.close()
    log.flush()
    # Not sys.exit: a thread the notebook started must not keep the process (and the run) alive.
    os._exit(0)


if __name__ == "__main__":
    main()
