"""One name per idea (issue 26 part 3): the sequence length and the input-name tuples have one name each.

An AST scan of the package and the solution notebooks' code cells, so a new module or cell that brings
back ``seq_length``/``SEQ_LENGTH`` or a second copy of the input names fails here.
"""
import ast
import json
from pathlib import Path

import pytest

from bertlab import bert_inputs

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = sorted((ROOT / "bertlab").rglob("*.py"))
NOTEBOOKS = sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))
# Libraries' own keywords (TF Hub's seq_length, keras-bert's seq_len) stay where their API is called; the
# course's export of a TF Hub preprocessor (hub_export.py) keeps TF Hub's signature, so it is not scanned.
TF_HUB_API_CALLS = {"bert_pack_inputs", "save_preprocessor", "get_model"}  # get_model: keras-bert's seq_len
TF_HUB_API_MODULES = {"hub_export.py"}
OTHER_LENGTH_NAMES = {"seq_length", "SEQ_LENGTH", "HUB_SEQ_LENGTH", "seq_len", "sequence_length"}


def _notebook_code(path):
    cells = json.loads(path.read_text())["cells"]
    source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("!", "%")))


def _sources():
    for path in PACKAGE:
        if path.name in TF_HUB_API_MODULES:
            continue
        yield path.relative_to(ROOT), path.read_text()
    for path in NOTEBOOKS:
        yield path.relative_to(ROOT), _notebook_code(path)


def _length_names(tree):
    """(line, name) of every binding, parameter, attribute or keyword spelled like another length name."""
    allowed_keywords = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if func in TF_HUB_API_CALLS:
                allowed_keywords |= {id(k) for k in node.keywords}
            if func == "KerasLayer":  # hub.KerasLayer(..., arguments=dict(seq_length=...))
                for k in node.keywords:
                    if k.arg == "arguments" and isinstance(k.value, ast.Call):
                        allowed_keywords |= {id(kk) for kk in k.value.keywords}
    for node in ast.walk(tree):
        name = (node.id if isinstance(node, ast.Name) else node.arg if isinstance(node, (ast.arg, ast.keyword))
                else node.attr if isinstance(node, ast.Attribute) else None)
        if name in OTHER_LENGTH_NAMES and id(node) not in allowed_keywords:
            yield node.lineno if hasattr(node, "lineno") else 0, name


@pytest.mark.parametrize("where, source", list(_sources()), ids=lambda v: str(v) if isinstance(v, Path) else "")
def test_sequence_length_is_called_max_length(where, source):
    assert list(_length_names(ast.parse(source))) == []


def test_the_length_names_scan_finds_a_seq_length():
    code = "def f(seq_length=128):\n    SEQ_LENGTH = 1\n    return pre.bert_pack_inputs(x, seq_length=8)\n"
    assert [name for _, name in _length_names(ast.parse(code))] == ["seq_length", "SEQ_LENGTH"]


def _tuple_of_strings(node):
    if isinstance(node, (ast.Tuple, ast.List)) and all(isinstance(e, ast.Constant) for e in node.elts):
        return tuple(e.value for e in node.elts)
    return None


@pytest.mark.parametrize("where, source", list(_sources()), ids=lambda v: str(v) if isinstance(v, Path) else "")
def test_input_names_are_written_once_in_bert_inputs(where, source):
    if where.name == "bert_inputs.py":
        return
    keys = {bert_inputs.HUB_KEYS, bert_inputs.TRANSFORMERS_KEYS}
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            if _tuple_of_strings(node.value) in keys:
                found.append((node.lineno, "a copy of the key tuple"))
            found += [(node.lineno, t.id) for t in node.targets if isinstance(t, ast.Name) and t.id == "INPUT_NAMES"]
    assert found == []


def test_the_course_length_is_one_constant():
    assert bert_inputs.MAX_LENGTH == 128 and bert_inputs.MAX_LENGTH <= bert_inputs.MAX_POSITIONS
