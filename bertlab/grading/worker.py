"""The judge: scores one notebook; started once per notebook by ``python -m bertlab.grading score``.

Threat model. A notebook's code is the learner's and may try anything Python and the OS allow:
replace the graders (``core.run_grader.__code__ = ...``), write fake result lines to any file
descriptor, read the graders' stack frames or ``gc`` objects for the expected answers, overwrite a
classmate's notebook or the gradebook, leave a detached process behind (double fork + ``setsid``)
that acts after the scorer has exited, copy the course's own implementation. So the notebook's
code never runs in this process:

* **Two processes.** This process (the judge, trusted) loads the graders, computes the expected
  answers (``prepare``), runs each grader function, compares, and writes the events below to the
  scorer. The notebook's scored cells run in a second process, the *learner process*
  (:mod:`bertlab.grading.learner`), which this one starts with only its end of a socketpair (no
  other file descriptor of ours: not this answer channel, not the scorer's). A grader's
  ``learner_fn(*args)`` is a call over the socket (:class:`RemoteFunction`): arguments go there
  pickled, results come back as JSON + ``np.load(allow_pickle=False)`` arrays
  (:mod:`bertlab.grading.sealed`, never unpickled here), then the arguments as the function left
  them (so graders still see what it modified). Objects (a model, a tokenizer) are built there from
  the grader's recipe (:func:`bertlab.grading.core.built`), objects it returns stay there
  (:class:`bertlab.grading.core.Handle`) and are measured by probes
  (:func:`bertlab.grading.core.probe`): probe code runs in the learner's process, so a probe returns
  observations and this process judges them. The learner process never holds the expected answers,
  the graders' frames or this channel.
* **A private folder.** The scorer reads every notebook before any is run and sends its content;
  the learner process works in a fresh folder holding a copy (its cwd).
* **The OS.** Where user namespaces are allowed (``unshare -r`` works; most Linux machines and
  GitHub's runners), the learner process runs in new user, mount, PID and network namespaces
  (util-linux ``unshare --fork --kill-child --mount-proc``): every mount read-only, a fresh
  tmpfs on ``/tmp`` and ``/dev/shm`` (its folder is ``/tmp/notebook``), the course's solution
  notebooks and the scored notebooks' folders covered by an empty read-only tmpfs, no network, and
  every process it starts dies with it (the PID namespace ends when its first process does; it is
  killed when this process ends). **Fallback** where namespaces are refused (some containers,
  Colab): its own session, PR_SET_PDEATHSIG, this process a child subreaper
  (PR_SET_CHILD_SUBREAPER) that kills every process left (detached ones are re-parented to it)
  before it ends, and not dumpable (no ptrace or /proc/PID/mem by the same user). There the
  notebook *can* write outside its folder (a classmate's copy is safe: the scorer read it before;
  the gradebook is written after every process is gone); the scorer says so
  (``sandbox: fallback``), and ``BERTLAB_SANDBOX=fallback`` forces it.
* **Advisory.** An audit hook in the learner process records writes outside its folder (the
  teacher's "wrote outside its folder" flag); it runs in the learner's process, so it is a report,
  not a wall: the read-only mounts are the wall.
* **The course's own answer.** A graded function that calls one of the exercise's ``uses`` of
  bertlab, or runs a copy of its code (the same code at another line number, ``exec`` of its
  source, renamed locals: compared as code objects without positions, names or docstrings), earns
  no points and is flagged.

What is *not* sealed, and why: the learner process needs the course's package (the notebook
imports it, objects are built from its recipes), so its code can import the grading modules and
recompute the graders' seeded cases and references *in its own process* (nothing of ours is
read: it is the same as calling the course's answer, which ``uses`` detects only for the named
functions). A call that switches off the profiler (``sys.setprofile``) before calling a ``uses``
function hides that call; a copy of the code is still recognised by the judge when it is in the
notebook's source. In the fallback, the solution notebooks are readable.

The request comes as one JSON line on stdin: ``{"notebook", "name", "lesson", "timeout", "log",
"hide"}``. The answer goes, one JSON line per event, to a private copy of stdout; everything this
process and the learner process print goes to the log file:

* ``{"kind": "run_error", "message"}``: the graders could not compute their expected answers
  (data missing, a broken installation) before any of the notebook's code ran;
* ``{"kind": "sandbox", ...}``: how the learner process was sealed;
* ``{"kind": "note", "message"}``: a cell that could not run;
* ``{"kind": "flag", "message"}``: for the teacher (wrote outside its folder, the course's answer);
* ``{"kind": "result", ...}``: one exercise (:meth:`core.Result.to_dict`);
* ``{"kind": "stopped", "message"}``: the learner process ended (``os._exit``, a crash) or did not
  end a call in time; the exercises not yet graded are not graded;
* ``{"kind": "done"}``: the end.

Order: the learner process starts first (it imports TensorFlow while the graders' ``prepare``
computes references here), then the notebook's cells run there as the scoring rule says
(:mod:`bertlab.grading.cells`), each exercise graded where the notebook checks it.
"""
from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

GRACE_SECONDS = 10  # how long past its own time limit the learner process may take to answer
NAMESPACES = ["unshare", "--user", "--map-root-user", "--mount", "--pid", "--net", "--fork", "--kill-child",
              "--mount-proc"]
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_CHILD_SUBREAPER = 1, 4, 36


def _send(channel, kind: str, **data) -> None:
    channel.write(json.dumps({"kind": kind, **data}, ensure_ascii=False) + "\n")
    channel.flush()


@contextlib.contextmanager
def _time_limit(seconds, error_class):
    """Raise `error_class` (a BaseException) after `seconds`; the parent kills the process if it is swallowed."""
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


def _prctl(option: int, value: int) -> bool:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        return False


def namespaces_allowed() -> bool:
    """Whether this machine lets us start the learner process in new namespaces."""
    if os.environ.get("BERTLAB_SANDBOX", "").lower() in ("fallback", "none", "off"):
        return False
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run([*NAMESPACES, "true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


class LearnerGone(BaseException):
    """The learner process ended or stopped answering; nothing more can be graded. A BaseException,
    so that no grader's ``except Exception`` turns it into a wrong answer."""


class Link:
    """The judge's end of the learner process: start it, send requests, read safe replies."""

    def __init__(self, request: dict, log):
        self.timeout = request.get("timeout") or None
        self.dead: str | None = None
        self.workdir = None
        self.namespaces = namespaces_allowed()
        ours, theirs = socket.socketpair()
        self.sock = ours
        env = dict(os.environ)
        command = [sys.executable, "-m", "bertlab.grading.learner", str(theirs.fileno())]
        if self.namespaces:
            command = [*NAMESPACES, *command]
            env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLCONFIGDIR="/tmp/matplotlib")
            cwd = "/"
        else:
            self.workdir = cwd = tempfile.mkdtemp(prefix="bertlab-notebook-")
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=cwd, env=env,
                                        pass_fds=(theirs.fileno(),), close_fds=True, start_new_session=True,
                                        preexec_fn=lambda: _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL))
        theirs.close()

    # -- the wire
    def _reply(self):
        from bertlab.grading import core, sealed

        return sealed.decode(sealed.recv_bytes(self.sock), lambda number, kind: core.Handle(self, number, kind))

    def request(self, message: tuple):
        from bertlab.grading import core, sealed

        if self.dead:
            raise LearnerGone(self.dead)
        try:
            sealed.send_bytes(self.sock, pickle.dumps(message))
            reply = self._reply()
        except core.ScoringTimeout:  # our own limit, mid-call: wait briefly for the learner's answer, then stop it
            self._drain()
            raise
        except (sealed.ChannelClosed, OSError):
            self.stop(None)
            raise LearnerGone(self.dead) from None
        except sealed.BadMessage as error:
            self.stop(f"the notebook's process sent a malformed answer ({error}): it was stopped")
            raise LearnerGone(self.dead) from None
        if not isinstance(reply, dict):
            self.stop("the notebook's process sent a malformed answer: it was stopped")
            raise LearnerGone(self.dead)
        return reply

    def _drain(self) -> None:
        from bertlab.grading import sealed

        self.sock.settimeout(GRACE_SECONDS)
        try:
            self._reply()
            self.sock.settimeout(None)
        except (OSError, sealed.ChannelClosed, sealed.BadMessage):
            self.stop(f"stopped after {self.timeout:g} s (--timeout): the notebook's code did not end")

    def stop(self, why: str | None) -> None:
        """End the learner process (and everything it started); `why` None: it ended by itself."""
        if self.dead:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        status = self.process.wait()
        self.dead = why or (f"the scoring process ended early (exit status {status}): "
                            "the notebook's code ended it (os._exit, a crash)")

    def close(self) -> None:
        if not self.dead:
            self.stop("closed")
        self.sock.close()
        _kill_children()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- what graders use (through core)
    def probe(self, fn, args, kwargs):
        from bertlab.grading import sealed

        payload = sealed.dumps_for_learner((args, kwargs))
        return _value_or_raise(self.request(("probe", fn.__module__, fn.__qualname__, payload)))


def _remote_error(raised: dict) -> BaseException:
    """The exception a learner's function raised, rebuilt here from its type name and message only."""
    name = str(raised.get("error_type") or "Exception")
    name = name if name.isidentifier() else "Exception"
    message = str(raised.get("message", ""))
    if name == "NameError":
        return NameError(message, name=raised.get("name") if isinstance(raised.get("name"), str) else None)
    return type(name, (Exception,), {"__module__": "learner"})(message)


def _value_or_raise(reply: dict):
    from bertlab.grading import core

    raised = reply.get("raised")
    if isinstance(raised, dict):
        kind = raised.get("type")
        if kind == "NotImplementedYet":
            raise core.NotImplementedYet(NotImplementedError(str(raised.get("message", ""))))
        if kind == "NotPlainData":
            raise core.NotPlainData(str(raised.get("message", "")))
        if kind == "ScoringTimeout":
            raise core.ScoringTimeout(str(raised.get("message", "")))
        raise core.LearnerError(_remote_error(raised))
    return reply.get("value")


def _write_back(local, new) -> None:
    """Apply what the learner's function did to an argument (its copy there) to ours."""
    import numpy as np

    if new is None:
        return
    if isinstance(local, np.ndarray) and isinstance(new, np.ndarray):
        if local.shape == new.shape and local.flags.writeable:
            with contextlib.suppress(TypeError, ValueError):
                local[...] = new
    elif type(local) is list and isinstance(new, list):
        local[:] = new
    elif type(local) is dict and isinstance(new, dict):
        local.clear()
        local.update(new)
    elif type(local) is set and isinstance(new, set):
        local.clear()
        local.update(new)


class RemoteFunction:
    """The notebook's function `name`, called in the learner process (see the module docstring)."""

    def __init__(self, link: Link, name: str, uses):
        self.link, self.__name__, self.uses = link, name, list(uses)

    def __call__(self, *args, **kwargs):
        return self.sealed_call(args, kwargs, None)

    def sealed_call(self, args, kwargs, used):
        from bertlab.grading import sealed

        payload = sealed.dumps_for_learner((args, kwargs, self.uses))
        reply = self.link.request(("call", self.__name__, payload))
        value = _value_or_raise(reply)
        if used is not None:
            used.update(str(u) for u in reply.get("used") or [] if isinstance(u, str))
        after = reply.get("args")
        if isinstance(after, list) and len(after) == len(args):
            for local, new in zip(args, after):
                _write_back(local, new)
        after = reply.get("kwargs")
        if isinstance(after, dict):
            for key, local in kwargs.items():
                _write_back(local, after.get(key))
        return value


def _kill_children() -> None:
    """Kill every process left that is our child (with PR_SET_CHILD_SUBREAPER: also the notebook's
    detached processes, re-parented to us), until none is left."""
    me = str(os.getpid())
    for _ in range(50):
        children = []
        for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as file:
                    stat = file.read()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[-1].split()
            if len(fields) > 1 and fields[1] == me:
                children.append(int(entry))
        if not children:
            return
        for pid in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _usable_hides(folders) -> list[str]:
    """The folders to hide from the notebook, less any that holds what the learner process needs
    (the Python installation, this package, the data and model caches)."""
    needed = [os.path.realpath(p) for p in [sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(__file__)),
                                             *[p for p in sys.path if p],
                                             *[os.environ[v] for v in ("BERTLAB_DATA", "BERTLAB_HOME", "HF_HOME")
                                               if os.environ.get(v)], os.path.expanduser("~/.cache")]]
    keep = []
    for folder in folders:
        folder = os.path.realpath(folder)
        if folder == "/" or any((p + os.sep).startswith(folder + os.sep) for p in needed):
            continue
        if folder not in keep:
            keep.append(folder)
    return keep


def score(request: dict, channel, link: Link) -> None:
    lesson, timeout = request["lesson"], request.get("timeout") or None
    nb = request["notebook"]
    setup = ("setup", {"notebook": nb, "name": request.get("name"), "timeout": timeout,
                       "sandbox": "namespaces" if link.namespaces else "fallback",
                       "workdir": link.workdir, "hide": _usable_hides(request.get("hide", []))})
    from bertlab.grading import sealed

    sealed.send_bytes(link.sock, pickle.dumps(setup))  # the learner process sets up while the graders prepare
    try:
        import bertlab  # noqa: F401  (Keras 2)
        from bertlab.grading import cells, core

        graders = [dataclasses.replace(g) for g in core.load_lesson(lesson)]
    except Exception as error:  # nothing of the notebook has run: the installation is broken
        _send(channel, "run_error", message=f"cannot load the graders of {lesson}: {_error_line(error)}")
        return
    run_grader, Result, ScoringTimeout, NOT_IMPLEMENTED = core.run_grader, core.Result, core.ScoringTimeout, core.NOT_IMPLEMENTED
    one_line = core._one_line

    modules, errors, graded_cells = cells.scored_modules(nb.get("cells", []))
    errors = {index: _error_line(error) for index, error in errors.items()}
    stubs = cells.static_stubs(modules.values(), {g.name for g in graders})
    copies = course_copies(modules, graders)

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

    try:
        hello = link._reply()
    except Exception as error:  # noqa: BLE001 - the learner process could not start
        _send(channel, "run_error", message=f"the notebook's process did not start: {_error_line(error)}")
        return
    if not isinstance(hello, dict) or "raised" in hello:  # before any of the notebook's code: the installation
        why = hello.get("raised", {}) if isinstance(hello, dict) else {}
        _send(channel, "run_error", message=f"the notebook's process could not start: {why.get('error_type', '')}: "
                                            f"{why.get('message', '')}")
        return
    sandbox = dict(hello.get("sandbox") or {})
    _send(channel, "sandbox", mode="namespaces" if link.namespaces else "fallback",
          readonly=bool(sandbox.get("readonly")), hidden=[str(h) for h in sandbox.get("hidden", [])],
          error=sandbox.get("error"))
    core.SEALED.update(link=link, types=(RemoteFunction,))
    pending = {g.name: g for g in graders}

    def grade(name: str) -> None:
        g = pending.pop(name)
        if name in stubs:
            result = Result(name, 0, g.points, "not implemented", NOT_IMPLEMENTED)
        elif graded_cells.get(name) in errors:
            result = Result(name, 0, g.points, "failed", one_line(f"its cell raised {errors[graded_cells[name]]}"))
        elif name in copies:
            dotted = copies[name]
            result = Result(name, 0, g.points, "failed",
                            f"is a copy of {dotted}, the course's own answer: write {name} yourself", [f"copied {dotted}"])
        else:
            found = link.request(("has", name))
            if found.get("kind") == "missing":
                result = Result(name, 0, g.points, "missing",
                                f"no function named {name} (is its '{cells.GRADED_PREFIX}' cell there?)")
            elif found.get("kind") != "function":
                result = Result(name, 0, g.points, "failed", f"{name} should be a function, got {found.get('type')}")
            else:
                try:
                    with _time_limit(timeout, ScoringTimeout):
                        result = run_grader(g, RemoteFunction(link, name, g.uses))
                except ScoringTimeout as error:
                    result = Result(name, 0, g.points, "failed", f"raised ScoringTimeout: {error}")
        _send(channel, "result", **result.to_dict())

    try:
        for index, cell in enumerate(nb.get("cells", [])):
            if index in modules:
                try:
                    with _time_limit(timeout + GRACE_SECONDS if timeout else None, ScoringTimeout):
                        reply = link.request(("exec", index))
                    if reply.get("error"):
                        errors[index] = str(reply["error"])
                except ScoringTimeout:
                    errors[index] = f"ScoringTimeout: took longer than {timeout:g} s"
            if index in errors and index not in graded_cells.values():
                _send(channel, "note", message=f"cell {index}: {errors[index]}")
            checked = cells.checked_exercise(cell)
            if checked in pending:
                grade(checked)
        for name in list(pending):
            grade(name)
        report = link.request(("report",))
        outside = [str(p) for p in report.get("outside") or []][:5]
        if outside:
            _send(channel, "flag", message="wrote outside its folder: " + ", ".join(outside))
    except LearnerGone as gone:
        _send(channel, "stopped", message=str(gone))
    finally:
        core.SEALED.update(link=None, types=())


def course_copies(modules: dict, graders) -> dict[str, str]:
    """{exercise: dotted name} for graded functions whose code is a copy of one of their exercise's
    bertlab ``uses`` (or that call, by name, a notebook function that is one), compared as
    normalised code (:func:`bertlab.grading.core.code_key`)."""
    from bertlab.grading import core

    compiled = {}
    for index, module in modules.items():
        try:
            code = compile(module, f"<cell {index}>", "exec")
        except (SyntaxError, ValueError, TypeError):
            continue
        for const in code.co_consts:
            if hasattr(const, "co_code"):
                compiled[const.co_name] = const
    found = {}
    for g in graders:
        answers = {}
        for dotted in g.uses:
            if dotted.startswith("bertlab."):
                for code in core.answer_codes(dotted):
                    answers[core.code_key(code)] = dotted
        if not answers or g.name not in compiled:
            continue
        todo, seen = [g.name], set()
        while todo:
            name = todo.pop()
            if name in seen or name not in compiled:
                continue
            seen.add(name)
            dotted = answers.get(core.code_key(compiled[name]))
            if dotted:
                found[g.name] = dotted
                break
            todo.extend(compiled[name].co_names)
    return found


def main() -> None:
    request = json.loads(sys.stdin.readline())
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    # What this process, the learner process and TensorFlow print goes to the log, not the channel.
    log = open(request.get("log") or os.devnull, "w", encoding="utf-8")
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    _prctl(_PR_SET_DUMPABLE, 0)
    start = time.perf_counter()
    link = Link(request, log)
    try:
        score(request, channel, link)
    finally:
        link.close()
    _send(channel, "done", seconds=time.perf_counter() - start)
    channel.close()
    log.flush()
    # Not sys.exit: a thread must not keep the process (and the run) alive.
    os._exit(0)


if __name__ == "__main__":
    main()
