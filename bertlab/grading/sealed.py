"""The wire between the judge (the graders' process) and the learner process (the notebook's code).

:mod:`bertlab.grading.worker` (the judge) starts :mod:`bertlab.grading.learner` and talks to it
over one socket. Threat model and the mechanisms are described in the worker's docstring; this
module holds what both sides share:

* framing: every message is an 8-byte length, then the payload;
* judge -> learner: ``pickle`` (the judge is trusted; the learner unpickles only what it is sent).
  Objects the graders built with :func:`bertlab.grading.core.built` travel as their *recipe*
  (a course function's name and plain arguments; the learner builds its own copy, once per object);
  handles of the learner's objects travel as their number; TensorFlow tensors as arrays;
* learner -> judge: never pickle. A JSON structure whose nodes are tagged (lists, tuples, dicts,
  sets, bytes, complex numbers, handles) and NumPy arrays stored with ``np.save`` and read with
  ``np.load(allow_pickle=False)`` (an object array is refused): :func:`encode` / :func:`decode`.
  The judge caps a message's size and its nesting, and a malformed message is the learner's failure,
  never the judge's.
"""
from __future__ import annotations

import base64
import io
import json
import pickle
import socket
import struct

from bertlab.errors import BertlabError

MAX_MESSAGE_BYTES = 1 << 30  # what the judge reads from the learner at most, per message
MAX_DEPTH = 64


class ChannelClosed(BertlabError, EOFError):
    """The other side closed the socket (the learner process ended)."""


class BadMessage(BertlabError, ValueError):
    """The learner sent something that is not a well-formed message."""


# ---------------------------------------------------------------------------------------
# Framing
# ---------------------------------------------------------------------------------------
def send_bytes(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack(">Q", len(payload)) + payload)


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ChannelClosed("the other process closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv_bytes(sock: socket.socket, limit: int = MAX_MESSAGE_BYTES) -> bytes:
    (size,) = struct.unpack(">Q", _read_exactly(sock, 8))
    if size > limit:
        raise BadMessage(f"a message of {size} bytes (the limit is {limit})")
    return _read_exactly(sock, size)


# ---------------------------------------------------------------------------------------
# Learner -> judge: plain data without pickle
# ---------------------------------------------------------------------------------------
def encode(message, handle_of=None) -> bytes:
    """`message` (plain data: None, bool, int, float, complex, str, bytes, list, tuple, dict, set,
    NumPy arrays and scalars) as bytes for :func:`decode`. `handle_of(obj)` -> int turns any other
    object into a handle (the learner keeps the object); without it such an object is a TypeError."""
    import numpy as np

    blobs: list[bytes] = []

    def array(value) -> int:
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        blobs.append(buffer.getvalue())
        return len(blobs) - 1

    def node(value, depth):
        if depth > MAX_DEPTH:
            raise TypeError("nested too deeply")
        kind = type(value)
        if value is None or kind in (bool, int, float, str):
            return value
        if kind is list:
            return {"l": [node(v, depth + 1) for v in value]}
        if kind is tuple:
            return {"t": [node(v, depth + 1) for v in value]}
        if kind is dict:
            return {"d": [[node(k, depth + 1), node(v, depth + 1)] for k, v in value.items()]}
        if kind in (set, frozenset):
            return {"s": [node(v, depth + 1) for v in value]}
        if kind is bytes:
            return {"b": base64.b64encode(value).decode("ascii")}
        if kind is complex:
            return {"c": [value.real, value.imag]}
        if isinstance(value, np.ndarray) and value.dtype != object:
            return {"a": array(np.array(value, copy=True, order="C", subok=False))}
        if isinstance(value, np.generic) and kind.__module__ == "numpy" and not isinstance(value, np.object_):
            return {"g": array(np.asarray(value))}
        if handle_of is not None:
            return {"h": int(handle_of(value)), "type": type(value).__name__}
        raise TypeError(f"not plain data: {kind.__name__}")

    header = json.dumps({"m": node(message, 0), "n": len(blobs)}).encode("utf-8")
    parts = [struct.pack(">Q", len(header)), header]
    for blob in blobs:
        parts += [struct.pack(">Q", len(blob)), blob]
    return b"".join(parts)


def decode(payload: bytes, make_handle=None):
    """What :func:`encode` wrote, rebuilt without running any code of the sender's: JSON and
    ``np.load(allow_pickle=False)``. `make_handle(number, type_name)` makes the judge's handle."""
    import numpy as np

    try:
        view, offset = memoryview(payload), 0

        def take() -> bytes:
            nonlocal offset
            (size,) = struct.unpack(">Q", view[offset:offset + 8])
            start, offset = offset + 8, offset + 8 + size
            if offset > len(view):
                raise BadMessage("truncated message")
            return bytes(view[start:offset])

        header = json.loads(take().decode("utf-8"))
        if not isinstance(header, dict) or not isinstance(header.get("n"), int) or not 0 <= header["n"] <= 1 << 20:
            raise BadMessage("no header")
        arrays = []
        for _ in range(header["n"]):
            value = np.load(io.BytesIO(take()), allow_pickle=False)
            if not isinstance(value, np.ndarray) or value.dtype == object:
                raise BadMessage("not an array")
            arrays.append(value)

        def node(value, depth):
            if depth > MAX_DEPTH:
                raise BadMessage("nested too deeply")
            if value is None or type(value) in (bool, int, float, str):
                return value
            if type(value) is not dict or len(value) not in (1, 2):
                raise BadMessage(f"unexpected node {type(value).__name__}")
            (tag, inner), = list(value.items())[:1]
            if tag == "l":
                return [node(v, depth + 1) for v in inner]
            if tag == "t":
                return tuple(node(v, depth + 1) for v in inner)
            if tag == "d":
                return {node(k, depth + 1): node(v, depth + 1) for k, v in inner}
            if tag == "s":
                return {node(v, depth + 1) for v in inner}
            if tag == "b":
                return base64.b64decode(inner.encode("ascii"), validate=True)
            if tag == "c":
                return complex(float(inner[0]), float(inner[1]))
            if tag == "a":
                return arrays[int(inner)].copy()
            if tag == "g":
                scalar = arrays[int(inner)]
                if scalar.ndim != 0:
                    raise BadMessage("a scalar with dimensions")
                return scalar[()]
            if tag == "h" and make_handle is not None:
                return make_handle(int(inner), str(value.get("type", "object"))[:100])
            raise BadMessage(f"unknown tag {tag!r}")

        return node(header["m"], 0)
    except BadMessage:
        raise
    except (ValueError, TypeError, KeyError, IndexError, struct.error, RecursionError, UnicodeDecodeError,
            AttributeError) as error:
        raise BadMessage(f"{type(error).__name__}: {error}") from None


# ---------------------------------------------------------------------------------------
# Judge -> learner: pickle, with recipes and handles
# ---------------------------------------------------------------------------------------
def dumps_for_learner(value) -> bytes:
    """`value` pickled for the learner process: recipe-built objects as their recipe, handles as
    their number, tensors as arrays (see the module docstring)."""
    from bertlab.grading import core

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, core.Handle):
                return ("handle", obj.number)
            recipe = core._recipe_of(obj)
            if recipe is not None:
                token, module, qualname, args, kwargs = recipe
                return ("recipe", token, module, qualname, dumps_for_learner((args, kwargs)))
            kind = type(obj)
            if kind.__module__.startswith("tensorflow") and hasattr(obj, "numpy") and hasattr(obj, "dtype"):
                return ("tensor", obj.numpy(), obj.dtype.name)
            return None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


def loads_in_learner(payload: bytes, handles: dict, built: dict):
    """The learner's side of :func:`dumps_for_learner`: `handles` {number: object}, `built`
    {recipe token: the object built from it}."""

    class Unpickler(pickle.Unpickler):
        def persistent_load(self, pid):
            kind = pid[0]
            if kind == "handle":
                return handles[pid[1]]
            if kind == "recipe":
                _, token, module, qualname, arguments = pid
                if token not in built:
                    args, kwargs = loads_in_learner(arguments, handles, built)
                    built[token] = resolve(module, qualname)(*args, **kwargs)
                return built[token]
            if kind == "tensor":
                import tensorflow as tf

                return tf.constant(pid[1], dtype=pid[2])
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")

    return Unpickler(io.BytesIO(payload)).load()


def resolve(module: str, qualname: str):
    """The object `module`.`qualname` (a course function or class)."""
    import importlib

    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj
