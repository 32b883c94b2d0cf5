"""Mutation testing of the graders: how a grader is proven.

    python tools/mutate_graders.py                        # every exercise of every lesson
    python tools/mutate_graders.py --lesson 02 --exercise pack_pair --jobs 2
    python tools/mutate_graders.py --json benchmarks/results/grader_mutants.json --report-only
    python tools/mutate_graders.py --list --lesson 05     # the mutants, without grading them

For every exercise, the solution (the ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region of
its ``# GRADED FUNCTION:`` cell in ``notebooks/solutions/NN_*.ipynb``) is mutated with
:mod:`ast`, one small change at one place at a time (the operators are :data:`OPERATORS`: an
index or a constant off by one, ``<`` for ``<=``, argmin for argmax, another axis, a term
dropped, the first or last element skipped ...). Each mutant is graded by the real grader,
exactly as a learner's answer is (``core.run_grader``, after the grader's ``prepare`` and with
the notebook's definitions from the scoring rule, :mod:`bertlab.grading.cells`):

* **killed**: fewer than full points (a mutant that raises or runs past the time limit is killed);
* **equivalent**: full points, and the mutant is reviewed as computing the same thing
  (:data:`EQUIVALENT`, each with a one-line reason);
* **survived**: full points and not reviewed as equivalent: a wrong answer the grader accepts,
  to be killed by a better grading case.

Mutants whose code is the solution's again, or another mutant's, or does not compile are
dropped and counted. Each lesson is graded in its own process (``--jobs`` at a time); a
process that stops answering (an endless loop in C code) is killed, its mutant counted as
killed, and a new one goes on with the rest. After the last mutant the solution is graded
again: a mutant that damaged the grader's cached models or data would make it fail, and the
exercise is then reported as unreliable.

Exit status: 0 when every mutant is killed or equivalent, 1 when one survived (0 with
``--report-only``), 2 when an exercise could not be tested (its solution does not pass, its
worker could not start).
"""
from __future__ import annotations

import argparse
import ast
import concurrent.futures
import copy
import datetime
import json
import os
import platform
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python tools/mutate_graders.py`: the checkout's bertlab
    sys.path.insert(0, str(ROOT))

from bertlab.grading import cells  # noqa: E402  (no TensorFlow: cheap in the parent process)

SOLUTIONS = ROOT / "notebooks" / "solutions"
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "grader_mutants.json"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"

OPERATORS = {
    "constant": "an integer constant (index, slice bound, number) +1 and -1; a float x1.1 and x0.9 "
                "(0.0 -> 1.0, -1.0); True <-> False",
    "compare": "< <-> <=, > <-> >=, == <-> !=, in <-> not in, is <-> is not",
    "swap": "argmin <-> argmax, min <-> max, maximum <-> minimum, amin <-> amax, reduce_min <-> reduce_max, "
            ".sum <-> .mean, reduce_sum <-> reduce_mean",
    "axis": "axis=k changed to another of -1, 0, 1, 2",
    "term": "a binary term dropped: a + b -> a and b, a - b -> a and -b, a * b -> a and b, a / b -> a, "
            "a // b -> a, a % b -> a, a & b -> a and b, a | b -> a and b; x and y -> x, y",
    "operator": "+ <-> -, * <-> /, / <-> //, & <-> |, and <-> or",
    "unary": "-x, not x, ~x -> x",
    "index": "a computed index i -> i + 1 and i - 1 (constant indices: see constant)",
    "slice": "a slice bound dropped or moved by one; a[:b] -> a[1:b] (first element skipped), a[a:] -> a[a:-1] (last)",
    "range": "range(n) -> range(1, n) and range(n - 1); range(a, b) -> range(a + 1, b) and range(a, b - 1)",
    "iterate": "for x in xs -> xs[1:] and xs[:-1] (first or last element skipped)",
    "negate": "an if/while/conditional test, or a returned comparison, negated: c -> not c",
    "keyword": "a keyword argument removed: f(x, axis=1) -> f(x)",
    "statement": "a statement that has an effect removed (a call, x += ..., a[i] = ..., a reassignment): -> pass",
}

# Reviewed survivors that compute the same thing as the solution on every input the exercise
# allows: (exercise, line in the graded cell, before, after) -> why. Review each new survivor
# before adding it; an entry that matches no surviving mutant is reported as stale.
_MEASURE_ZERO = "a uniform draw equals the boundary with probability 0 (2**-53 per draw)"
_FLOAT32 = "float32 arithmetic on the float32 inputs gives the same result to float32 precision; the exercise does not ask for float64"
_GELU_FLOAT32 = ("the grader's arrays are NumPy arrays; on its float32 case, float32 arithmetic stays within its 1e-6 "
                 "tolerance of the float64 reference (a tolerance TensorFlow's own float64 GELU needs too)")
EQUIVALENT: dict[tuple, str] = {
    ("lesson01.dummy_inputs", 5, "np.zeros((batch_size, int(tensor.shape[1])), dtype='float32')",
     "np.zeros((batch_size, int(tensor.shape[1])))"):
        "float64 zeros are the same input: the exercise asks for np.zeros of the right shape, Keras casts them",
    ("lesson02.wordpiece", 9, "word[start:end]", "word[:end]"):
        "this branch runs only when start == 0, where word[:end] is word[start:end]",
    ("lesson02.pack_pair", 7, "len(a) + len(b) > room", "len(a) + len(b) >= room"):
        "a pair that fills the room exactly is kept whole by both branches of the truncation (keep = its own length)",
    ("lesson03.most_different_layer", 5, "np.asarray(vectors_a, dtype=np.float64)", "np.asarray(vectors_a)"): _FLOAT32,
    ("lesson03.most_different_layer", 6, "np.asarray(vectors_b, dtype=np.float64)", "np.asarray(vectors_b)"): _FLOAT32,
    ("lesson03.most_different_layer", 7, "(a * b).sum(axis=1)", "(a * b).sum(axis=-1)"):
        "the vectors are 2-D (layers, hidden): axis -1 is axis 1",
    ("lesson03.most_different_layer", 7, "(a * b).sum(axis=1)", "(a * b).mean(axis=1)"):
        "the mean is the sum / hidden size, the same positive factor for every layer: the argmin does not change",
    ("lesson03.most_different_layer", 7, "np.linalg.norm(a, axis=1)", "np.linalg.norm(a, axis=-1)"):
        "the vectors are 2-D (layers, hidden): axis -1 is axis 1",
    ("lesson03.most_different_layer", 7, "np.linalg.norm(b, axis=1)", "np.linalg.norm(b, axis=-1)"):
        "the vectors are 2-D (layers, hidden): axis -1 is axis 1",
    ("lesson03.scaled_dot_product_attention", 8, "tf.nn.softmax(scores + padded * -1000000000.0, axis=-1)",
     "tf.nn.softmax(scores + padded * -1000000000.0)"): "tf.nn.softmax's default axis is -1",
    ("lesson03.scaled_dot_product_attention", 8, "padded * -1000000000.0", "padded * -1100000000.0"):
        "any score below about -100 has exp() = 0 in float32: -1.1e9 masks exactly as -1e9 does",
    ("lesson03.scaled_dot_product_attention", 8, "padded * -1000000000.0", "padded * -900000000.0"):
        "any score below about -100 has exp() = 0 in float32: -9e8 masks exactly as -1e9 does",
    ("lesson03.masked_mean_pool", 5, "np.asarray(sequence_output, dtype=np.float64)", "np.asarray(sequence_output)"): _FLOAT32,
    ("lesson03.masked_mean_pool", 6, "np.asarray(input_mask, dtype=np.float64)", "np.asarray(input_mask)"): _FLOAT32,
    ("lesson04.make_nsp_pairs", 15, "rng.random() < 0.5", "not rng.random() < 0.5"):
        "r >= 0.5 has the same probability 1/2 as r < 0.5: the same distribution of true and random pairs",
    ("lesson04.make_nsp_pairs", 15, "rng.random() < 0.5", "rng.random() <= 0.5"): _MEASURE_ZERO,
    ("lesson04.make_nsp_pairs", 18, "others[rng.integers(len(others))]", "others[rng.integers(len(others)) - 1]"):
        "k - 1 for k uniform in range(n) is a cyclic shift (index -1 is the last): still a uniform choice",
    ("lesson04.make_nsp_pairs", 19, "other[rng.integers(len(other))]", "other[rng.integers(len(other)) - 1]"):
        "k - 1 for k uniform in range(n) is a cyclic shift (index -1 is the last): still a uniform choice",
    ("lesson04.mask_tokens", 13, "ids = np.asarray(ids)", "pass"):
        "the exercise passes ids as an int array: np.asarray returns it unchanged",
    ("lesson04.mask_tokens", 14, "rng.random(ids.shape) < 0.15", "rng.random(ids.shape) <= 0.15"): _MEASURE_ZERO,
    ("lesson04.mask_tokens", 18, "draw < 0.8", "draw <= 0.8"): _MEASURE_ZERO,
    ("lesson04.mask_tokens", 18, "draw < 0.8", "draw < 0.88"):
        "positions with 0.8 <= draw < 0.88 are masked, then overwritten by the random ids of the next line",
    ("lesson04.mask_tokens", 19, "draw >= 0.8", "draw > 0.8"): _MEASURE_ZERO,
    ("lesson04.mask_tokens", 19, "draw < 0.9", "draw <= 0.9"): _MEASURE_ZERO,
    ("lesson04.masked_lm_loss", 14, "tf.maximum(tf.reduce_sum(weights), 1.0)", "tf.maximum(tf.reduce_sum(weights), 0.9)"):
        "the count of chosen positions is 0 (then the sum of losses is 0 too) or at least 1, never in (0, 1)",
    ("lesson05.build_classifier", 11, "tf.keras.layers.Dense(num_labels, name='classifier')",
     "tf.keras.layers.Dense(num_labels)"): "the exercise asks for no layer name, and a name changes no output",
    ("lesson05.build_classifier", 12, "tf.keras.Model(inputs, logits, name='mrpc_classifier')",
     "tf.keras.Model(inputs, logits)"): "the exercise asks for no model name, and a name changes no output",
    ("lesson05.predict_pair", 7, "model(dict(encoded), training=False)", "model(dict(encoded))"):
        "a Keras model called outside fit() runs in inference mode: training defaults to False",
    ("lesson05.predict_pair", 8, "tf.nn.softmax(logits, axis=-1)", "tf.nn.softmax(logits, axis=1)"):
        "the logits are 2-D (1, num_labels): axis 1 is axis -1",
    ("lesson05.predict_pair", 8, "tf.nn.softmax(logits, axis=-1)", "tf.nn.softmax(logits)"):
        "tf.nn.softmax's default axis is -1",
    ("lesson05.predict_pair", 8, "tf.nn.softmax(logits, axis=-1).numpy()[0]", "tf.nn.softmax(logits, axis=-1).numpy()[-1]"):
        "the batch holds one pair: row -1 is row 0",
    ("lesson06.layer_features", 5, "np.asarray(attention_mask, dtype=np.float64)", "np.asarray(attention_mask)"):
        "the hidden states are float64 on the next line: an int mask gives the same products and token counts",
    ("lesson06.layer_features", 6, "np.asarray(h, dtype=np.float64)", "np.asarray(h)"):
        "the mask is float64, so h * mask is computed in float64 either way",
    ("lesson06.layer_features", 12, "np.concatenate(pooled, axis=-1)", "np.concatenate(pooled, axis=1)"):
        "the pooled vectors are 2-D (batch, hidden): axis 1 is axis -1",
    ("lesson06.threshold_for_precision", 6, "precision[:-1]", "precision[:]"):
        "the extra last precision is 1 (no threshold): it comes first only when no threshold reaches the target, "
        "and then both versions index past the end and raise IndexError",
    ("lesson07.gelu", 5, "x = np.asarray(x, dtype=np.float64)", "pass"): _GELU_FLOAT32,
    ("lesson07.gelu", 5, "np.asarray(x, dtype=np.float64)", "np.asarray(x)"): _GELU_FLOAT32,
    ("lesson07.qkv_kernel_from_hf", 5, "weight, bias = (np.asarray(weight), np.asarray(bias))", "pass"):
        "the exercise hands NumPy arrays (as the checkpoint's safetensors file gives them): np.asarray returns them as they are",
    ("lesson07.qkv_kernel_from_hf", 6, "weight.shape[1]", "weight.shape[0]"):
        "a query, key or value Linear maps hidden to hidden: the weight is square, so both axes have the same length",
    ("lesson07.qkv_kernel_from_hf", 7, "weight.T.reshape(hidden, num_heads, -1)", "weight.T.reshape(hidden, num_heads, -2)"):
        "NumPy's reshape reads any negative length as 'the rest': -2 is -1",
    ("lesson07.qkv_kernel_from_hf", 7, "bias.reshape(num_heads, -1)", "bias.reshape(num_heads, -2)"):
        "NumPy's reshape reads any negative length as 'the rest': -2 is -1",
    ("lesson07.build_mean_classifier", 9, "keras.ops.maximum(keras.ops.sum(mask, axis=1), 1.0)",
     "keras.ops.maximum(keras.ops.sum(mask, axis=1), 0.9)"):
        "the clamp acts only on a row without any real token (count 0), whose mean the exercise leaves undefined; "
        "every count of 1 or more is kept by both",
    ("lesson05.build_classifier", 7, "encoder.bert.pooler.trainable = False", "pass"):
        "mean pooling never uses the pooler: its weights get no gradient, logits and training are the same "
        "(only Keras's 'no gradient' warning, which the exercise text mentions, differs)",
    ("lesson05.build_classifier", 7, "encoder.bert.pooler.trainable = False", "encoder.bert.pooler.trainable = True"):
        "mean pooling never uses the pooler: its weights get no gradient, logits and training are the same "
        "(only Keras's 'no gradient' warning, which the exercise text mentions, differs)",
}

_SWAPS = {"argmin": "argmax", "min": "max", "maximum": "minimum", "amin": "amax", "reduce_min": "reduce_max",
          "nanargmin": "nanargmax", "nanmin": "nanmax", "fmin": "fmax", "reduce_sum": "reduce_mean"}
_SWAPS.update({b: a for a, b in list(_SWAPS.items())})
_ATTRIBUTE_ONLY_SWAPS = {"sum": "mean", "mean": "sum"}  # `sum(...)` <-> `mean(...)` would only be a NameError
_COMPARE_SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
                  ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_OPERATOR_SWAPS = {ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.Div], ast.Div: [ast.Mult, ast.FloorDiv],
                   ast.FloorDiv: [ast.Div], ast.BitAnd: [ast.BitOr], ast.BitOr: [ast.BitAnd]}
_DROP_RIGHT_TOO = (ast.Add, ast.Mult, ast.BitAnd, ast.BitOr)  # a + b -> b: the first term dropped
_DROPPABLE = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.BitAnd, ast.BitOr)
AXES = (-1, 0, 1, 2)


# ---------------------------------------------------------------------------------------
# Mutants
# ---------------------------------------------------------------------------------------
@dataclass
class Mutant:
    key: str  # "lesson02.pack_pair"
    number: int  # 1, 2, ... in source order
    operator: str  # a key of OPERATORS
    line: int  # line of the graded cell (1 = "# GRADED FUNCTION: ...")
    before: str  # the changed expression or statement, as ast.unparse writes it
    after: str
    source: str = field(repr=False, default="")  # the graded cell's scored code, mutated
    occurrence: int = 1  # 2 for the second mutant with the same line, before and after (the same text twice)

    @property
    def id(self) -> str:
        where = f"line {self.line}" + (f" (occurrence {self.occurrence})" if self.occurrence > 1 else "")
        return f"{self.key}#{self.number:02d} {where}: {self.before!r} -> {self.after!r}"

    @property
    def review_key(self) -> tuple:
        """How EQUIVALENT names it: (exercise, line, before, after), with the occurrence when above 1."""
        key = (self.key, self.line, self.before, self.after)
        return key if self.occurrence == 1 else (*key, self.occurrence)


@dataclass
class Exercise:
    key: str  # "lesson02.pack_pair"
    lesson: str
    name: str
    notebook: Path
    mutants: list[Mutant]
    dropped: dict  # {"identical": n, "duplicate": n, "compile": n}


def _nodes(tree: ast.AST):
    """Every node, depth-first in source order (the same order on a deep copy)."""
    yield tree
    for child in ast.iter_child_nodes(tree):
        yield from _nodes(child)


def _parents(tree: ast.AST) -> dict[int, ast.AST]:
    return {id(child): node for node in _nodes(tree) for child in ast.iter_child_nodes(node)}


def _int_value(node) -> int | None:
    """k for the literal `k` or `-k` (an int, not a bool); else None."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and _int_value(node.operand) is not None:
        return -_int_value(node.operand)
    return None


def _literal(value) -> ast.expr:
    return ast.UnaryOp(ast.USub(), ast.Constant(-value)) if isinstance(value, (int, float)) and value < 0 else ast.Constant(value)


def _plus(node: ast.expr, k: int) -> ast.expr:
    return ast.BinOp(copy.deepcopy(node), ast.Add() if k > 0 else ast.Sub(), ast.Constant(abs(k)))


def _with(node: ast.AST, **fields) -> ast.AST:
    new = copy.deepcopy(node)
    for name, value in fields.items():
        setattr(new, name, value)
    return new


def _is_axis(node: ast.AST, parents: dict) -> bool:
    parent = parents.get(id(node))
    if isinstance(parent, ast.UnaryOp):
        parent = parents.get(id(parent))
    return isinstance(parent, ast.keyword) and parent.arg == "axis"


def _expression_context(node: ast.AST, parents: dict) -> ast.AST:
    """What a constant's mutant is shown as: the expression around it (`room // 2`), not `2`."""
    parent = parents.get(id(node))
    if isinstance(parent, ast.UnaryOp):  # -1: show the expression around -1
        node, parent = parent, parents.get(id(parent))
    if isinstance(parent, ast.keyword):  # f(x, flag=True): the call, or the keyword when the call is long
        call = parents.get(id(parent))
        return call if len(ast.unparse(call)) <= 70 else parent
    if isinstance(parent, (ast.Assign, ast.AugAssign)) and len(ast.unparse(parent)) <= 70:
        return parent
    if isinstance(parent, (ast.BinOp, ast.Compare, ast.Subscript, ast.Slice, ast.Call, ast.BoolOp, ast.List, ast.Tuple)):
        if isinstance(parent, ast.Slice):
            parent = parents.get(id(parent), parent)
        if len(ast.unparse(parent)) <= 70:
            return parent
    return node


def _replace_in(context: ast.AST, old: ast.AST, new: ast.AST) -> ast.AST:
    """A copy of `context` with its descendant `old` replaced by `new` (`context` itself when it is `old`)."""
    if context is old:
        return new
    index = next(i for i, node in enumerate(_nodes(context)) if node is old)
    copied = copy.deepcopy(context)
    target = list(_nodes(copied))[index]
    _swap_child(_parents(copied)[id(target)], target, new)
    return copied


def _swap_child(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for name, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, name, new)
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is old:
                    value[i] = new
                    return
    raise ValueError("not a child")  # pragma: no cover - the walk found it there


def _bound_names(function: ast.FunctionDef) -> dict[str, int]:
    """Each name the function binds -> the first line that binds it (arguments: the def line)."""
    bound = {a.arg: function.lineno for a in [*function.args.posonlyargs, *function.args.args,
                                               *function.args.kwonlyargs]}
    for node in _nodes(function):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.comprehension)):
            targets = [node.target]
        for target in targets:
            for name in _nodes(target):
                if isinstance(name, ast.Name):
                    bound.setdefault(name.id, getattr(node, "lineno", function.lineno))
    return bound


def _site_mutations(node: ast.AST, parents: dict, bound: dict[str, int]):
    """(operator, the node to replace, its replacement, the node shown) for every mutation at `node`."""
    out = []

    def add(operator, new, old=node, shown=None):
        out.append((operator, old, new, shown if shown is not None else old))

    # constant: integers +-1, floats x1.1 / x0.9, booleans flipped (an axis: the axis operator)
    if isinstance(node, ast.Constant) and not _is_axis(node, parents):
        value, shown = node.value, _expression_context(node, parents)
        if type(value) is bool:
            add("constant", ast.Constant(not value), shown=shown)
        elif type(value) is int:
            for changed in (value + 1, value - 1):
                add("constant", _literal(changed), shown=shown)
        elif type(value) is float:
            for changed in ((value * 1.1, value * 0.9) if value else (1.0, -1.0)):
                add("constant", _literal(float(f"{changed:.12g}")), shown=shown)
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in _COMPARE_SWAPS:
                ops = list(node.ops)
                ops[i] = _COMPARE_SWAPS[type(op)]()
                add("compare", _with(node, ops=ops))
    call = parents.get(id(node))
    shown_call = call if isinstance(call, ast.Call) and call.func is node and len(ast.unparse(call)) <= 70 else None
    if isinstance(node, ast.Name) and node.id in ("min", "max") and isinstance(node.ctx, ast.Load):
        add("swap", ast.Name(_SWAPS[node.id], ast.Load()), shown=shown_call)
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and (
            node.attr in _SWAPS or node.attr in _ATTRIBUTE_ONLY_SWAPS):
        add("swap", _with(node, attr={**_SWAPS, **_ATTRIBUTE_ONLY_SWAPS}[node.attr]), shown=shown_call)
    if isinstance(node, ast.Call):
        for i, keyword in enumerate(node.keywords):
            if keyword.arg == "axis" and _int_value(keyword.value) is not None:
                for axis in AXES:
                    if axis != _int_value(keyword.value):
                        keywords = copy.deepcopy(node.keywords)
                        keywords[i].value = _literal(axis)
                        add("axis", _with(node, keywords=keywords))
    if isinstance(node, ast.BinOp) and isinstance(node.op, _DROPPABLE):
        add("term", copy.deepcopy(node.left))
        # In a chain a + b + c, `(a + b) + c -> c` would drop several terms: the inner `a + b -> b` drops one.
        chained = isinstance(node.left, ast.BinOp) and type(node.left.op) is type(node.op)
        if isinstance(node.op, _DROP_RIGHT_TOO) and not chained:
            add("term", copy.deepcopy(node.right))
        elif isinstance(node.op, ast.Sub) and not _sequence(node.right):
            add("term", ast.UnaryOp(ast.USub(), copy.deepcopy(node.right)))
    if isinstance(node, ast.BoolOp):
        for i in range(len(node.values)):
            rest = [copy.deepcopy(v) for j, v in enumerate(node.values) if j != i]
            add("term", rest[0] if len(rest) == 1 else _with(node, values=rest))
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATOR_SWAPS and not (
            _sequence(node.left) or _sequence(node.right)):  # [1] + a -> [1] - a: only a TypeError
        for op in _OPERATOR_SWAPS[type(node.op)]:
            add("operator", _with(node, op=op()))
    if isinstance(node, ast.BoolOp):
        add("operator", _with(node, op=ast.Or() if isinstance(node.op, ast.And) else ast.And()))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not, ast.Invert)) and not (
            isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)):
        add("unary", copy.deepcopy(node.operand))
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load | ast.Store):
        index = node.slice
        if not isinstance(index, (ast.Slice, ast.Tuple, ast.Constant)) and _int_value(index) is None:
            for k in (1, -1):
                add("index", _with(node, slice=_plus(index, k)))
        for slice_node in [index] if isinstance(index, ast.Slice) else (
                [e for e in index.elts if isinstance(e, ast.Slice)] if isinstance(index, ast.Tuple) else []):
            def moved(**bounds):
                return _replace_in(node, slice_node, _with(slice_node, **bounds))
            for bound_name, skip in (("lower", 1), ("upper", -1)):
                value = getattr(slice_node, bound_name)
                if value is None:
                    add("slice", moved(**{bound_name: _literal(skip)}))
                else:
                    add("slice", moved(**{bound_name: None}))
                    if _int_value(value) is None:
                        for k in (1, -1):
                            add("slice", moved(**{bound_name: _plus(value, k)}))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" and not node.keywords:
        if len(node.args) == 1:
            add("range", _with(node, args=[ast.Constant(1), copy.deepcopy(node.args[0])]))
            add("range", _with(node, args=[_plus(node.args[0], -1)]))
        elif len(node.args) == 2:
            add("range", _with(node, args=[_plus(node.args[0], 1), copy.deepcopy(node.args[1])]))
            add("range", _with(node, args=[copy.deepcopy(node.args[0]), _plus(node.args[1], -1)]))
    if isinstance(node, (ast.For, ast.comprehension)):
        iterable = node.iter
        targets = [iterable]
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and iterable.func.id in ("enumerate", "zip"):
            targets = iterable.args if iterable.func.id == "zip" else iterable.args[:1]
        elif isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and iterable.func.id == "range":
            targets = []  # the range operator
        for target in targets:
            if isinstance(target, (ast.Name, ast.Attribute, ast.Subscript, ast.List, ast.Tuple)):
                for part in (ast.Slice(ast.Constant(1), None, None), ast.Slice(None, _literal(-1), None)):
                    new = ast.Subscript(copy.deepcopy(target), part, ast.Load())
                    add("iterate", _replace_in(iterable, target, new), old=iterable)
    tests = []
    if isinstance(node, (ast.If, ast.While, ast.IfExp)):
        tests.append(node.test)
    if isinstance(node, ast.Return) and isinstance(node.value, (ast.Compare, ast.BoolOp)) or (
            isinstance(node, ast.Return) and isinstance(node.value, ast.UnaryOp) and isinstance(node.value.op, ast.Not)):
        tests.append(node.value)
    for test in tests:
        add("negate", ast.UnaryOp(ast.Not(), copy.deepcopy(test)), old=test)
    if isinstance(node, ast.Call):
        for i, keyword in enumerate(node.keywords):
            if keyword.arg is not None:
                add("keyword", _with(node, keywords=[copy.deepcopy(k) for j, k in enumerate(node.keywords) if j != i]))
    if isinstance(node, ast.stmt) and _has_effect(node, bound):
        add("statement", ast.Pass())
    return out


def _sequence(node: ast.AST) -> bool:
    """A list, tuple or string literal (or comprehension): `-` or `/` on it is only a TypeError."""
    return isinstance(node, (ast.List, ast.Tuple, ast.ListComp, ast.JoinedStr)) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str))


def _has_effect(statement: ast.stmt, bound: dict[str, int]) -> bool:
    """Whether removing `statement` leaves code that still runs: a call, an augmented
    assignment, an item or attribute set, or a name bound again (not its first binding)."""
    if isinstance(statement, ast.Expr):
        return isinstance(statement.value, ast.Call)
    if isinstance(statement, ast.AugAssign):
        return True
    if isinstance(statement, ast.Assign):
        for target in statement.targets:
            for node in _nodes(target):
                if isinstance(node, ast.Name) and bound.get(node.id, statement.lineno) >= statement.lineno:
                    return False
        return True
    return False


def solution_region(code: str) -> tuple[int, int] | None:
    """(line of BEGIN SOLUTION, line of END SOLUTION) in `code`, 1-based; None without markers."""
    lines = code.split("\n")
    begins = [i + 1 for i, line in enumerate(lines) if line.strip() == BEGIN]
    ends = [i + 1 for i, line in enumerate(lines) if line.strip() == END]
    if not begins or not ends or ends[0] < begins[0]:
        return None
    return begins[0], ends[0]


def mutate(code: str, key: str, name: str | None = None) -> tuple[list[Mutant], dict]:
    """The mutants of the solution region of a graded cell's code, and how many were dropped.

    `code`: the cell's Python source (``cells.python_source``), with ``### BEGIN SOLUTION`` /
    ``### END SOLUTION`` lines; only nodes lying wholly between them are mutated, inside the
    ``def name`` (default: the ``def`` that contains the region). Each mutant's ``source`` is
    the cell's scored code (``cells.scored_statements``) with one change, as ``ast.unparse``
    writes it. Raises ValueError when there are no markers, SyntaxError when `code` does not parse.
    """
    region = solution_region(code)
    if region is None:
        raise ValueError(f"{key}: no '{BEGIN}' ... '{END}' region")
    begin, end = region
    module = ast.Module(body=cells.scored_statements(code), type_ignores=[])
    functions = [n for n in module.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and (n.name == name if name else n.lineno < begin and n.end_lineno >= end - 1)]
    if not functions:
        raise ValueError(f"{key}: no def {name or ''} around the solution region")
    function = functions[0]
    original = ast.unparse(module)
    bound = _bound_names(function)
    nodes = list(_nodes(module))
    parents = _parents(module)
    seen, mutants = {original}, []
    dropped = {"identical": 0, "duplicate": 0, "compile": 0}
    for index, node in enumerate(nodes):
        located = node.iter if isinstance(node, ast.comprehension) else node  # comprehensions have no lines
        lineno = getattr(located, "lineno", None)
        if lineno is None or not (begin < lineno and located.end_lineno < end) or not _inside(node, function, parents):
            continue
        for operator, old, new, shown in _site_mutations(node, parents, bound):
            new_shown = _replace_in(shown, old, new)
            mutated = copy.deepcopy(module)
            copied = list(_nodes(mutated))
            target = copied[nodes.index(old)] if old is not node else copied[index]
            if target is mutated:
                continue
            _swap_child(_parents(mutated)[id(target)], target, copy.deepcopy(new))
            ast.fix_missing_locations(mutated)
            text = ast.unparse(mutated)
            if text == original:
                dropped["identical"] += 1
                continue
            if text in seen:
                dropped["duplicate"] += 1
                continue
            try:
                compile(text, "<mutant>", "exec")
            except (SyntaxError, ValueError):
                dropped["compile"] += 1
                continue
            seen.add(text)
            before = ast.unparse(shown).split("\n")[0]
            after = ast.unparse(new_shown).split("\n")[0] if not isinstance(new_shown, ast.Pass) else "pass"
            line = getattr(shown, "lineno", None) or lineno
            occurrence = 1 + sum((m.line, m.before, m.after) == (line, before, after) for m in mutants)
            mutants.append(Mutant(key, len(mutants) + 1, operator, line, before, after, text, occurrence))
    return mutants, dropped


def _inside(node: ast.AST, function: ast.AST, parents: dict) -> bool:
    while node is not None:
        if node is function:
            return True
        node = parents.get(id(node))
    return False


def exercises(lessons: list[str] | None = None, names: list[str] | None = None,
              solutions: Path = SOLUTIONS) -> list[Exercise]:
    """The graded cells of the solution notebooks (optionally of `lessons`, named `names`) and their mutants."""
    found = []
    for path in sorted(solutions.glob("[0-9][0-9]_*.ipynb")):
        lesson = f"lesson{path.name[:2]}"
        if lessons and lesson not in lessons:
            continue
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            name = cells.graded_name(cell)
            if not name or (names and name not in names):
                continue
            key = f"{lesson}.{name}"
            mutants, dropped = mutate(cells.python_source(cells.source(cell)), key, name)
            found.append(Exercise(key, lesson, name, path, mutants, dropped))
    return found


# ---------------------------------------------------------------------------------------
# Grading mutants (in a worker process per lesson)
# ---------------------------------------------------------------------------------------
def notebook_namespace(path: Path) -> tuple[dict, list[str]]:
    """What the scorer defines from a notebook (the scoring rule of :mod:`bertlab.grading.cells`),
    and the cells that raised ("cell 3: NameError: ...")."""
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    modules, errors, _ = cells.scored_modules(notebook.get("cells", []))
    notes = [f"cell {i}: {type(e).__name__}: {e}" for i, e in errors.items()]
    namespace: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    for index, module in modules.items():
        try:
            exec(compile(module, f"<cell {index}>", "exec"), namespace)
        except BaseException as error:  # noqa: BLE001 - reported; the solution's baseline grading decides
            notes.append(f"cell {index}: {type(error).__name__}: {error}")
    return namespace, notes


class _Alarm:
    """Raise `error` (a BaseException, so a mutant's ``except Exception`` cannot swallow it) after `seconds`."""

    def __init__(self, seconds: float, error):
        self.seconds, self.error = seconds, error

    def __enter__(self):
        def expire(signum, frame):
            raise self.error(f"took longer than {self.seconds:g} s")

        self.previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)
        return False


def grade_source(g, namespace: dict, source: str, limit: float | None) -> dict:
    """Grade the function `g.name` that `source` defines (run over a copy of `namespace`).

    Returns {"killed", "status", "message", "seconds"}: killed when the grader gives fewer than
    full points, the code raised while being defined, or grading ran past `limit` seconds.
    """
    from bertlab.grading import core

    start = time.perf_counter()
    scope = dict(namespace)
    try:
        exec(compile(source, f"<mutant of {g.key}>", "exec"), scope)
        fn = scope.get(g.name)
        if limit:
            with _Alarm(limit, core.ScoringTimeout):
                result = core.run_grader(g, fn)
        else:
            result = core.run_grader(g, fn)
        status, message, killed = result.status, result.message, result.points < g.points
    except core.ScoringTimeout as error:
        status, message, killed = "timeout", str(error), True
    except BaseException as error:  # noqa: BLE001 - the mutant's definition raised
        status, message, killed = "error", f"{type(error).__name__}: {error}", True
    finally:
        core.restore_modules()
    return {"killed": killed, "status": status, "message": " ".join(str(message).split())[:300],
            "seconds": round(time.perf_counter() - start, 3)}


def _send(channel, kind: str, **data) -> None:
    channel.write(json.dumps({"kind": kind, **data}) + "\n")
    channel.flush()


def worker(request: dict, channel) -> None:
    """Grade the mutants of one lesson's exercises; one JSON line per event on `channel`.

    Events: ``prepared`` (an exercise's prepare and solution grading, with its time limit),
    ``start`` and ``mutant`` (per mutant), ``finished`` (the solution graded again), ``error``.
    """
    import bertlab  # noqa: F401  (Keras 2 before TensorFlow)
    from bertlab.grading import core

    lesson = request["lesson"]
    try:
        graders = {g.name: g for g in core.load_lesson(lesson)}
        for item in request["exercises"]:
            g = graders[item["name"]]
            if g.prepare is not None:
                started = time.perf_counter()
                g.prepare()
                item["prepare_seconds"] = time.perf_counter() - started
        core.snapshot_modules()
        namespace, notes = notebook_namespace(Path(request["notebook"]))
    except BaseException as error:  # noqa: BLE001
        _send(channel, "error", message=f"cannot prepare {lesson}: {type(error).__name__}: {error}")
        return
    for item in request["exercises"]:
        g = graders[item["name"]]
        baseline = grade_source(g, namespace, item["solution"], request.get("baseline_limit"))
        limit = max(request["min_timeout"], request["timeout_factor"] * baseline["seconds"])
        _send(channel, "prepared", key=g.key, prepare_seconds=round(item.get("prepare_seconds", 0.0), 3),
              baseline=baseline, limit=round(limit, 1), notes=notes)
        if baseline["killed"]:
            continue
        for mutant in item["mutants"]:
            _send(channel, "start", key=g.key, number=mutant["number"])
            _send(channel, "mutant", key=g.key, number=mutant["number"],
                  **grade_source(g, namespace, mutant["source"], limit))
        _send(channel, "finished", key=g.key, after=grade_source(g, namespace, item["solution"], limit))


def _worker_main() -> None:
    request = json.loads(sys.stdin.readline())
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    log = open(os.devnull, "w", encoding="utf-8")  # TensorFlow's and the mutants' prints
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    worker(request, channel)
    channel.close()
    os._exit(0)  # a thread a grader started must not keep the process alive


def _solution_source(exercise: Exercise) -> str:
    notebook = json.loads(exercise.notebook.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cells.graded_name(cell) == exercise.name:
            code = cells.python_source(cells.source(cell))
            return ast.unparse(ast.Module(body=cells.scored_statements(code), type_ignores=[]))
    raise LookupError(exercise.key)  # pragma: no cover - exercises() found it


@dataclass
class Outcome:
    """What grading one exercise's mutants gave."""

    key: str
    mutants: list[Mutant]
    dropped: dict
    results: dict = field(default_factory=dict)  # mutant number -> grade_source's dict
    prepare_seconds: float = 0.0
    baseline: dict | None = None
    after: dict | None = None
    limit: float | None = None
    seconds: float = 0.0  # prepare + grading the solution and every mutant
    error: str | None = None
    notes: list = field(default_factory=list)

    def classify(self, equivalent: dict = EQUIVALENT) -> dict[str, list[Mutant]]:
        groups = {"killed": [], "survived": [], "equivalent": [], "not graded": []}
        for mutant in self.mutants:
            result = self.results.get(mutant.number)
            if result is None:
                groups["not graded"].append(mutant)
            elif result["killed"]:
                groups["killed"].append(mutant)
            elif mutant.review_key in equivalent:
                groups["equivalent"].append(mutant)
            else:
                groups["survived"].append(mutant)
        return groups


def run_lesson(lesson_exercises: list[Exercise], *, jobs: int = 1, timeout_factor: float = 10.0,
               min_timeout: float = 5.0, grace: float = 60.0, progress=None) -> list[Outcome]:
    """Grade the mutants of one lesson's exercises in a worker process (restarted after a hang or crash)."""
    from bertlab.grading.__main__ import _worker_env

    outcomes = {e.key: Outcome(e.key, e.mutants, e.dropped) for e in lesson_exercises}
    solutions = {e.key: _solution_source(e) for e in lesson_exercises}
    env = _worker_env(jobs)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    while True:
        todo = [e for e in lesson_exercises if outcomes[e.key].error is None
                and (outcomes[e.key].baseline is None or not outcomes[e.key].baseline["killed"])
                and (len(outcomes[e.key].results) < len(e.mutants) or outcomes[e.key].after is None)]
        if not todo:
            break
        request = {"lesson": todo[0].lesson, "notebook": str(todo[0].notebook), "timeout_factor": timeout_factor,
                   "min_timeout": min_timeout, "baseline_limit": 600,
                   "exercises": [{"name": e.name, "solution": solutions[e.key],
                                  "mutants": [{"number": m.number, "source": m.source} for m in e.mutants
                                              if m.number not in outcomes[e.key].results]} for e in todo]}
        process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"], cwd=ROOT, env=env,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   text=True, start_new_session=True)
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.close()
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in process.stdout] + [lines.put(None)],
                         daemon=True).start()
        current, wait, last = None, 900.0, time.perf_counter()  # the first wait: imports and prepare
        while True:
            try:
                line = lines.get(timeout=wait)
            except queue.Empty:
                line = "hang"
            if line is None or line == "hang":
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                how = "timeout" if line == "hang" else "crashed"
                if current is not None:
                    key, number = current
                    why = ("stopped answering on this mutant and was killed" if how == "timeout"
                           else "died on this mutant")
                    outcomes[key].results[number] = {"killed": True, "status": how, "seconds": round(wait, 1),
                                                     "message": f"the worker process {why}"}
                    outcomes[key].seconds += time.perf_counter() - last
                else:  # not on a mutant: the lesson itself cannot be graded
                    for e in todo:
                        if outcomes[e.key].baseline is None or outcomes[e.key].after is None:
                            outcomes[e.key].error = outcomes[e.key].error or f"the worker {how} outside a mutant"
                break
            event = json.loads(line)
            now = time.perf_counter()
            kind, key = event["kind"], event.get("key")
            if kind == "error":
                for e in todo:
                    outcomes[e.key].error = event["message"]
                process.wait()
                break
            outcome = outcomes[key]
            if kind == "prepared":
                if outcome.baseline is None:  # a restarted worker prepares again: count the first only
                    outcome.prepare_seconds = event["prepare_seconds"]
                    outcome.seconds += event["prepare_seconds"] + event["baseline"]["seconds"]
                outcome.baseline, outcome.limit, outcome.notes = event["baseline"], event["limit"], event["notes"]
                if event["baseline"]["killed"]:
                    outcome.error = f"the solution does not pass its grader: {event['baseline']['message']}"
                wait = event["limit"] + grace
            elif kind == "start":
                current, last = (key, event["number"]), now
            elif kind == "mutant":
                result = {k: event[k] for k in ("killed", "status", "message", "seconds")}
                outcome.results[event["number"]] = result
                outcome.seconds += result["seconds"]
                current = None
                if progress:
                    progress(outcome, event["number"])
            elif kind == "finished":
                outcome.after = event["after"]
                outcome.seconds += event["after"]["seconds"]
                if event["after"]["killed"]:
                    outcome.error = ("the solution failed when graded again after the mutants: a mutant changed "
                                     f"the grader's cached cases ({event['after']['message']}); kills are unreliable")
    return [outcomes[e.key] for e in lesson_exercises]


def run(selected: list[Exercise], *, jobs: int = 1, **options) -> list[Outcome]:
    """Grade every mutant of `selected`, a worker process per lesson, `jobs` lessons at a time."""
    by_lesson: dict[str, list[Exercise]] = {}
    for exercise in selected:
        by_lesson.setdefault(exercise.lesson, []).append(exercise)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run_lesson, group, jobs=jobs, **options) for group in by_lesson.values()]
        results = [f.result() for f in futures]
    return [outcome for group in results for outcome in group]


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------
def _mutant_dict(mutant: Mutant, result: dict | None = None, reason: str | None = None) -> dict:
    out = {"id": mutant.id, "operator": mutant.operator, "line": mutant.line, "before": mutant.before,
           "after": mutant.after}
    if reason:
        out["reason"] = reason
    if result is not None and not result["killed"]:
        out["seconds"] = result["seconds"]
    return out


def report(outcomes: list[Outcome], minutes: float, equivalent: dict = EQUIVALENT, command: str = "") -> dict:
    """The JSON report: per exercise counts, survivors, equivalents with reasons, killed per operator."""
    rows, totals = [], {"mutants": 0, "killed": 0, "survived": 0, "equivalent": 0, "not_graded": 0, "dropped": 0}
    matched = set()
    for outcome in outcomes:
        groups = outcome.classify(equivalent)
        by_operator: dict[str, list[int]] = {}
        for mutant in outcome.mutants:
            counts = by_operator.setdefault(mutant.operator, [0, 0])
            counts[0] += 1
            counts[1] += bool(outcome.results.get(mutant.number, {}).get("killed"))
        matched.update(m.review_key for m in groups["equivalent"])
        row = {"exercise": outcome.key, "mutants": len(outcome.mutants), "killed": len(groups["killed"]),
               "survived": len(groups["survived"]), "equivalent": len(groups["equivalent"]),
               "not_graded": len(groups["not graded"]), "dropped": dict(outcome.dropped),
               "timeouts": sum(r["status"] == "timeout" for r in outcome.results.values()),
               "seconds": round(outcome.seconds, 1), "prepare_seconds": round(outcome.prepare_seconds, 1),
               "solution_seconds": outcome.baseline["seconds"] if outcome.baseline else None,
               "time_limit_seconds": outcome.limit, "error": outcome.error,
               "killed_per_operator": {op: f"{k}/{n}" for op, (n, k) in sorted(by_operator.items())},
               "survivors": [_mutant_dict(m, outcome.results[m.number]) for m in groups["survived"]],
               "equivalents": [_mutant_dict(m, outcome.results[m.number], equivalent[m.review_key])
                               for m in groups["equivalent"]]}
        rows.append(row)
        for name in ("mutants", "killed", "survived", "equivalent"):
            totals[name] += row[name]
        totals["not_graded"] += row["not_graded"]
        totals["dropped"] += sum(outcome.dropped.values())
    keys = {o.key for o in outcomes}
    stale = [f"{k[0]} line {k[1]}: {k[2]!r} -> {k[3]!r}" + (f" (occurrence {k[4]})" if len(k) > 4 else "")
             for k in equivalent if k[0] in keys and k not in matched]
    return {"name": "grader_mutants", "date": datetime.date.today().isoformat(), "machine": machine(),
            "minutes": round(minutes, 2), "command": command, "operators": OPERATORS, "totals": totals, "exercises": rows,
            "stale_equivalents": stale,
            "notes": "killed = the grader gave fewer than full points (or the mutant raised / ran past the time "
                     "limit); equivalent = full points, reviewed as the same function (EQUIVALENT in "
                     "tools/mutate_graders.py); survived = full points for a wrong answer. seconds: prepare + "
                     "grading the solution twice and every mutant, without starting the lesson's process."}


def machine() -> str:
    try:
        load = f", load average {os.getloadavg()[0]:.1f}"
    except OSError:  # pragma: no cover
        load = ""
    return f"CPU only ({os.cpu_count()} cores{load}), {platform.machine()}, Python {platform.python_version()}"


def format_table(data: dict) -> str:
    rows = data["exercises"]
    width = max([len("exercise")] + [len(r["exercise"]) for r in rows])
    lines = [f"{'exercise':<{width}}  {'mutants':>7}  {'killed':>6}  {'survived':>8}  {'equivalent':>10}  {'seconds':>7}"]
    for r in rows:
        lines.append(f"{r['exercise']:<{width}}  {r['mutants']:>7}  {r['killed']:>6}  {r['survived']:>8}  "
                     f"{r['equivalent']:>10}  {r['seconds']:>7.1f}" + (f"  ERROR: {r['error']}" if r["error"] else ""))
    t = data["totals"]
    lines.append(f"{'total':<{width}}  {t['mutants']:>7}  {t['killed']:>6}  {t['survived']:>8}  {t['equivalent']:>10}"
                 f"  ({data['minutes']:.1f} min)")
    for r in rows:
        if r["survivors"]:
            lines.append(f"\nsurvivors of {r['exercise']} (graded with full points):")
            lines.extend(f"  {s['id']}  [{s['operator']}]" for s in r["survivors"])
    for r in rows:
        if r["equivalents"]:
            lines.append(f"\nequivalent mutants of {r['exercise']}:")
            lines.extend(f"  {s['id']}: {s['reason']}" for s in r["equivalents"])
    for entry in data["stale_equivalents"]:
        lines.append(f"stale EQUIVALENT entry (no such surviving mutant): {entry}")
    return "\n".join(lines)


def _lesson(value: str) -> str:
    from bertlab.grading.__main__ import normalize_lesson

    return normalize_lesson(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/mutate_graders.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lesson", action="append", type=_lesson, metavar="NN", help="only lesson NN (repeatable)")
    parser.add_argument("--exercise", action="append", metavar="NAME", help="only this exercise (repeatable)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the report as JSON to PATH")
    parser.add_argument("--jobs", "-j", type=int, default=1, metavar="N", help="lessons graded at the same time (default 1)")
    parser.add_argument("--report-only", action="store_true", help="exit 0 even when mutants survive")
    parser.add_argument("--list", action="store_true", help="print the mutants and exit, grading nothing")
    parser.add_argument("--timeout-factor", type=float, default=10.0, metavar="X",
                        help="a mutant is killed after X times the solution's grading time (default 10) ...")
    parser.add_argument("--min-timeout", type=float, default=5.0, metavar="SECONDS",
                        help="... or after SECONDS, whichever is longer (default 5)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    if argv is None and sys.argv[1:] == ["--worker"]:
        _worker_main()
    args = parser.parse_args(argv)
    selected = exercises(args.lesson, args.exercise)
    if not selected:
        print("no exercise matches --lesson/--exercise", file=sys.stderr)
        return 2
    if args.list:
        for exercise in selected:
            print(f"{exercise.key}: {len(exercise.mutants)} mutants (dropped: {exercise.dropped})")
            for mutant in exercise.mutants:
                print(f"  {mutant.id}  [{mutant.operator}]")
        return 0

    def progress(outcome: Outcome, number: int) -> None:
        if not args.quiet:
            result = outcome.results[number]
            print(f"{outcome.key}#{number:02d}/{len(outcome.mutants)} {'killed' if result['killed'] else 'SURVIVED'} "
                  f"({result['status']}, {result['seconds']:.1f} s)", file=sys.stderr, flush=True)

    start = time.perf_counter()
    outcomes = run(selected, jobs=args.jobs, timeout_factor=args.timeout_factor, min_timeout=args.min_timeout,
                   progress=progress)
    command = " ".join(["python tools/mutate_graders.py", *(argv if argv is not None else sys.argv[1:])])
    data = report(outcomes, (time.perf_counter() - start) / 60, command=command)
    print(format_table(data))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if any(r["error"] for r in data["exercises"]):
        return 2
    if args.report_only:
        return 0
    return 1 if data["totals"]["survived"] or data["totals"]["not_graded"] else 0


if __name__ == "__main__":
    sys.exit(main())
