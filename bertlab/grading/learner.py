"""The learner process: runs one notebook's scored cells and serves its functions to the judge.

Started by :mod:`bertlab.grading.worker` (the judge) as
``python -m bertlab.grading.learner FD`` (FD: its end of a socketpair), inside new user, mount,
PID and network namespaces where the machine allows (the ``unshare`` command), else in its own
session. Everything here is the notebook's territory: a notebook's code can change any of it,
so nothing here decides a grade. See the worker's docstring for the threat model.

Requests (pickled, from the judge) and replies (:func:`bertlab.grading.sealed.encode`):

* ``("setup", {"notebook", "timeout", "hide", "sandbox"})``: make the filesystem read-only but
  for a fresh private folder (the cwd, holding a copy of the notebook), hide the folders named
  in "hide", install the audit hook; reply ``{"sandbox": {...}}``;
* ``("exec", index)``: run cell `index` by the scoring rule; reply ``{"error": None | "..."}``;
* ``("has", name)``: ``{"kind": "function" | "missing" | "other", "type": ...}``;
* ``("call", name, payload)``: call the notebook's function with the pickled (args, kwargs, uses)
  as :func:`bertlab.grading.core.guarded` does; reply ``{"value", "used", "args"}`` (the
  arguments after the call, for the judge to see what the function changed) or ``{"raised"}``;
* ``("probe", module, qualname, payload)``: run a course probe on the objects here;
* ``("report",)``: what the audit hook saw (writes outside the private folder).
"""
from __future__ import annotations

import ctypes
import json
import os
import socket
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096
MS_NOSYMFOLLOW, MS_NOATIME, MS_NODIRATIME, MS_REC, MS_PRIVATE = 256, 1024, 2048, 16384, 1 << 18
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
          "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "nosymfollow": MS_NOSYMFOLLOW}
WORKDIR = "/tmp/notebook"  # inside the namespace's own /tmp


def _mount(libc, source, target, fstype, flags, data=None) -> None:
    if libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(), flags,
                  data and data.encode()) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error), target)


def _mount_points() -> list[tuple[str, int]]:
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as file:
        for line in file:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            flags = 0
            for option in fields[5].split(","):
                flags |= _FLAGS.get(option, 0)
            points.append((point, flags))
    return points


def _needed_under(points: list[str], hide: list[str]) -> list[str]:
    """The folders under `points` (/tmp, /dev/shm) that the learner process needs after a fresh tmpfs
    covers them: its interpreter and environment, the import path (the course's package in a
    checkout under /tmp, as on a CI runner), the data and model caches the environment names.
    Never the working folder it started in or a folder to hide (the class's notebooks)."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # an editable install
    candidates = [package_root, sys.prefix, sys.exec_prefix, sys.base_prefix, os.path.dirname(sys.executable),
                  *sys.path[1:]]
    for name in ("BERTLAB_DATA", "BERTLAB_HOME", "HOME", "XDG_CACHE_HOME", "HF_HOME", "HF_HUB_CACHE",
                 "TRANSFORMERS_CACHE", "TFHUB_CACHE_DIR", "KERAS_HOME", "MPLCONFIGDIR"):
        if os.environ.get(name):
            candidates.append(os.environ[name])
    candidates += [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    start, hidden = os.path.abspath(os.getcwd()), [os.path.abspath(folder) for folder in hide]
    found: list[str] = []
    for path in sorted({os.path.abspath(p) for p in candidates} | {os.path.realpath(p) for p in candidates}, key=len):
        if not os.path.isdir(path) or path == start or path in points:
            continue
        if not any((path + os.sep).startswith(point + os.sep) for point in points):
            continue
        if any((path + os.sep).startswith(h + os.sep) for h in hidden):  # a hidden folder inside is covered later
            continue
        if not any((path + os.sep).startswith(k + os.sep) for k in found):
            found.append(path)
    return found


def seal_filesystem(hide: list[str]) -> dict:
    """In a new mount namespace (we are root in our user namespace): every mount read-only, a
    fresh tmpfs on /tmp and /dev/shm, the folders in `hide` covered by an empty read-only tmpfs.
    Returns what was done, for the judge's record."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    failed = []
    for point, flags in _mount_points():
        if point == "/proc" or point.startswith(("/proc/", "/sys")):
            continue
        try:
            _mount(libc, None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
        except OSError:
            failed.append(point)
    fresh = [point for point in ("/tmp", "/dev/shm") if os.path.isdir(point)]
    kept = _needed_under(fresh, hide)
    before = {point: os.open(point, os.O_PATH) for point in fresh}  # the old /tmp, reachable after the tmpfs
    for point in fresh:
        _mount(libc, "tmpfs", point, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for path in kept:  # the course's code, its interpreter and data that live under /tmp: back, read-only
        root = next(point for point in fresh if (path + os.sep).startswith(point + os.sep))
        try:
            os.makedirs(path, exist_ok=True)
            _mount(libc, f"/proc/self/fd/{before[root]}/{os.path.relpath(path, root)}", path, None, MS_BIND | MS_REC)
        except OSError:
            failed.append(path)
    for fd in before.values():
        os.close(fd)
    hidden = []
    for folder in hide:
        if not os.path.isdir(folder):  # under /tmp: gone with the fresh tmpfs already
            continue
        try:
            _mount(libc, "tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=0555")
            hidden.append(folder)
        except OSError:
            failed.append(folder)
    return {"readonly": True, "unwritable_mounts_failed": failed, "hidden": hidden}


_NOTEBOOK_CODE = ("<cell ", "<string>")  # the scored cells' file names, and exec'd code


def _install_audit_hook(workdir: str, record: list) -> None:
    """Record the paths the notebook's own code opens for writing (or removes, renames, ...)
    outside its folder: an event whose caller, within 4 frames, is a scored cell (so a library's
    cache written during an import is not counted, a learner's ``Path(...).write_text`` is).
    Advisory: it runs in the learner's process, so a notebook can get around it (C code, ctypes,
    removing the hook's effect); the read-only mounts are what hold."""
    allowed = (os.path.realpath(workdir) + os.sep, "/dev/null", "/dev/shm/", "/proc/self/")
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
    getframe, realpath, fsdecode = sys._getframe, os.path.realpath, os.fsdecode

    def outside(path) -> bool:
        try:
            full = realpath(fsdecode(path))
        except Exception:  # noqa: BLE001 - a path we cannot read: count it
            return True
        return not (full + os.sep).startswith(allowed) and not full.startswith(allowed)

    def from_notebook() -> bool:
        frame = getframe(2)
        for _ in range(4):
            if frame is None:
                return False
            if frame.f_code.co_filename.startswith(_NOTEBOOK_CODE):
                return True
            frame = frame.f_back
        return False

    def hook(event, args):
        try:
            if len(record) >= 20 or not args or isinstance(args[0], int):
                return
            if event == "open" and len(args) >= 3:
                path, mode, flags = args[:3]
                writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                    isinstance(flags, int) and flags & write_flags)
            else:
                path = args[0]
                writing = event in ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "shutil.rmtree", "os.truncate",
                                    "os.symlink", "os.link", "os.chmod", "os.replace")
            if writing and isinstance(path, (str, bytes, os.PathLike)) and outside(path) and from_notebook():
                record.append(fsdecode(path))
        except Exception:  # noqa: BLE001 - the hook must never break the notebook's code
            pass

    sys.addaudithook(hook)


class Learner:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.namespace: dict = {"__name__": "__main__"}
        self.handles: dict[int, object] = {}
        self.built: dict[str, object] = {}
        self.outside: list[str] = []
        self.modules, self.errors = {}, {}
        self.timeout = None

    # -- replies
    def reply(self, message) -> None:
        from bertlab.grading import sealed

        def handle_of(obj) -> int:
            number = len(self.handles) + 1
            self.handles[number] = obj
            return number

        try:
            payload = sealed.encode(message, handle_of)
        except (TypeError, ValueError) as error:
            payload = sealed.encode({"raised": {"type": "NotPlainData", "message": f"return plain values: {error}"}})
        sealed.send_bytes(self.sock, payload)

    # -- requests
    def setup(self, request: dict) -> dict:
        sandbox = {"namespaces": request.get("sandbox") == "namespaces", "readonly": False, "hidden": []}
        if sandbox["namespaces"]:
            try:
                sandbox.update(seal_filesystem(request.get("hide", [])))
            except OSError as error:
                sandbox["error"] = f"{error}"
            workdir = WORKDIR
            os.makedirs(workdir, exist_ok=True)
        else:
            workdir = request["workdir"]
        os.chdir(workdir)
        with open(os.path.join(workdir, request.get("name") or "notebook.ipynb"), "w", encoding="utf-8") as file:
            json.dump(request["notebook"], file)
        self.timeout = request.get("timeout")
        _install_audit_hook(workdir, self.outside)
        import bertlab  # noqa: F401  (Keras 2 before anything the notebook imports)
        from bertlab.grading import cells, core

        self.namespace["__builtins__"] = __builtins__
        modules, errors, _ = cells.scored_modules(request["notebook"].get("cells", []))
        self.modules = modules
        core.snapshot_modules()
        sandbox["workdir"] = workdir
        return {"sandbox": sandbox}

    def exec_cell(self, index: int) -> dict:
        from bertlab.grading import core, worker

        try:
            code = compile(self.modules[index], f"<cell {index}>", "exec")
            with worker._time_limit(self.timeout, core.ScoringTimeout):
                exec(code, self.namespace)
            error = None
        except BaseException as raised:  # SystemExit and KeyboardInterrupt too: a broken cell, not the end
            error = worker._error_line(raised)
        core.restore_modules()
        return {"error": error}

    def has(self, name: str) -> dict:
        if name not in self.namespace:
            return {"kind": "missing"}
        value = self.namespace[name]
        return {"kind": "function" if callable(value) else "other", "type": type(value).__name__}

    def _raised(self, error: BaseException) -> dict:
        from bertlab.grading import core

        if isinstance(error, core.NotImplementedYet):
            return {"raised": {"type": "NotImplementedYet", "message": str(error)}}
        if isinstance(error, core.LearnerError):
            inner = error.error
            return {"raised": {"type": "LearnerError", "error_type": type(inner).__name__, "message": str(inner),
                               "name": getattr(inner, "name", None) if isinstance(inner, NameError) else None}}
        if isinstance(error, core.NotPlainData):
            return {"raised": {"type": "NotPlainData", "message": str(error)}}
        if isinstance(error, core.ScoringTimeout):
            return {"raised": {"type": "ScoringTimeout", "message": str(error)}}
        return {"raised": {"type": "LearnerError", "error_type": type(error).__name__, "message": str(error)}}

    def call(self, name: str, payload: bytes) -> dict:
        from bertlab.grading import core, sealed, worker

        args, kwargs, uses = sealed.loads_in_learner(payload, self.handles, self.built)
        fn = self.namespace.get(name)
        codes: set = set()
        try:
            with worker._time_limit(self.timeout, core.ScoringTimeout):
                value = core.guarded(fn, codes)(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - reported to the judge
            return self._raised(error)
        used = core.answer_uses(uses, codes)
        return {"value": value, "used": used, "args": [_mutable(a) for a in args],
                "kwargs": {k: _mutable(v) for k, v in kwargs.items()}}

    def probe(self, module: str, qualname: str, payload: bytes) -> dict:
        from bertlab.grading import core, sealed, worker

        args, kwargs = sealed.loads_in_learner(payload, self.handles, self.built)
        try:
            fn = sealed.resolve(module, qualname)
            with worker._time_limit(self.timeout, core.ScoringTimeout):
                return {"value": core._plain(fn(*args, **kwargs))}
        except BaseException as error:  # noqa: BLE001 - reported to the judge
            return self._raised(core.LearnerError(error) if not isinstance(error, core.ScoringTimeout) else error)
        finally:
            core.restore_modules()

    def serve(self) -> None:
        from bertlab.grading import sealed

        while True:
            try:
                request = pickle_loads(sealed.recv_bytes(self.sock))
            except sealed.ChannelClosed:
                return
            kind = request[0]
            try:
                if kind == "setup":
                    answer = self.setup(request[1])
                elif kind == "exec":
                    answer = self.exec_cell(request[1])
                elif kind == "has":
                    answer = self.has(request[1])
                elif kind == "call":
                    answer = self.call(request[1], request[2])
                elif kind == "probe":
                    answer = self.probe(*request[1:])
                elif kind == "report":
                    answer = {"outside": list(self.outside)}
                else:
                    return
            except Exception as error:  # noqa: BLE001 - e.g. an argument that cannot be rebuilt here
                answer = self._raised(error)
            self.reply(answer)


def _mutable(value):
    """An argument as it is after the call, for the judge to apply (None: nothing to send back)."""
    import numpy as np

    if isinstance(value, np.ndarray) and value.dtype != object:
        return value
    if type(value) in (list, dict, set):
        from bertlab.grading import core

        try:
            return core._plain(value)
        except Exception:  # noqa: BLE001 - not plain any more: the judge sees its own copy
            return None
    return None


def pickle_loads(payload: bytes):
    import pickle

    return pickle.loads(payload)  # from the judge only (trusted): requests are tuples of plain values and bytes


def main() -> None:
    fd = int(sys.argv[1])
    sock = socket.socket(fileno=fd)
    try:  # die with the judge (fallback mode; in a PID namespace the kernel does it)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except Exception:  # noqa: BLE001 - not Linux
        pass
    Learner(sock).serve()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
