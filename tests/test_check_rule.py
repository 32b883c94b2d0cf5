"""check() in Jupyter and the terminal scorer apply one scoring rule (issue 23): the same cells,
run in a Jupyter kernel and checked there, then written to a notebook and scored by
``python -m bertlab.grading score``, get the same verdict; a failure names the notebook variable.

Each kind below is something the scorer evaluates that a look at the graded function's own code
does not see: a default argument, a class body, a decorator (all run when the cell is defined),
a helper's method or default, a module-level lambda or closure. Lesson 02's
attention_mask_from_ids needs no model, so each notebook costs only the tokenizer.
"""
from __future__ import annotations

import nbformat
import pytest
from kernel_helpers import kernel_runner

from bertlab.grading import core

EXERCISE = "attention_mask_from_ids"
SETUP = "import functools\nimport numpy as np\nfrom bertlab.grading import check"
# The other lesson-02 exercises stay stubs: the scorer then skips computing their answers.
STUBS = ["# GRADED FUNCTION: pack_pair\ndef pack_pair(ids_a, ids_b, max_length):\n    raise NotImplementedError()",
         "# GRADED FUNCTION: wordpiece\ndef wordpiece(word, vocab):\n    raise NotImplementedError()"]
GRADED = f"# GRADED FUNCTION: {EXERCISE}\n"
RIGHT = "(np.asarray(input_word_ids) != 0).astype(np.int32)"

# kind: (cells before the check cell, the notebook variable a failure must name, or None for a pass)
KINDS = {
    "control": ([
        "PAD_ID = 0\ndemo = np.array([[101, 7, 102, 0]])",  # a literal constant is scored, the demo is not
        "class Rule:\n    pad = PAD_ID\n    def keep(self, ids):\n        return np.asarray(ids) != self.pad",
        "def as_int32(fn):\n    @functools.wraps(fn)\n    def wrapper(*args):\n"
        "        return np.asarray(fn(*args)).astype(np.int32)\n    return wrapper",
        GRADED + f"@as_int32\ndef {EXERCISE}(input_word_ids, pad=PAD_ID):\n"
                 "    return Rule().keep(input_word_ids)\nprint(attention_mask_from_ids(demo))",
    ], None),
    "default_argument": ([
        "PAD = int('0')",
        GRADED + f"def {EXERCISE}(input_word_ids, pad=PAD):\n    return (np.asarray(input_word_ids) != pad).astype(np.int32)",
    ], "PAD"),
    "class_body": ([
        "pad_id = int('0')",
        "class Rule:\n    pad = pad_id\n    @staticmethod\n    def mask(ids):\n"
        "        return (np.asarray(ids) != Rule.pad).astype(np.int32)",
        GRADED + f"def {EXERCISE}(input_word_ids):\n    return Rule.mask(input_word_ids)",
    ], "pad_id"),
    "decorator": ([
        "def cast(dtype):\n    def decorate(fn):\n        return lambda ids: np.asarray(fn(ids)).astype(dtype)\n"
        "    return decorate\n\nint_mask = cast(np.int32)",
        GRADED + f"@int_mask\ndef {EXERCISE}(input_word_ids):\n    return np.asarray(input_word_ids) != 0",
    ], "int_mask"),
    "helper_function": ([
        "pad = int('0')",
        "def is_real(ids):\n    return np.asarray(ids) != pad",
        GRADED + f"def {EXERCISE}(input_word_ids):\n    return is_real(input_word_ids).astype(np.int32)",
    ], "pad"),
    "helper_method": ([
        "pad = int('0')",
        "class Masker:\n    def __call__(self, ids):\n        return (np.asarray(ids) != pad).astype(np.int32)",
        GRADED + f"def {EXERCISE}(input_word_ids):\n    return Masker()(input_word_ids)",
    ], "pad"),
    "helper_default": ([
        "pad_value = int('0')",
        "def is_real(ids, pad=pad_value):\n    return np.asarray(ids) != pad",
        GRADED + f"def {EXERCISE}(input_word_ids):\n    return is_real(input_word_ids).astype(np.int32)",
    ], "pad_value"),
    "module_lambda": ([
        f"to_mask = lambda input_word_ids: {RIGHT}",
        GRADED + f"def {EXERCISE}(input_word_ids):\n    return to_mask(input_word_ids)",
    ], "to_mask"),
    "module_closure": ([
        "def make_mask(pad):\n    def mask(ids):\n        return (np.asarray(ids) != pad).astype(np.int32)\n"
        "    return mask\n\nmask_pad = make_mask(0)",
        GRADED + f"def {EXERCISE}(input_word_ids):\n    return mask_pad(input_word_ids)",
    ], "mask_pad"),
    "nested_function": ([
        "pad = int('0')",
        GRADED + f"def {EXERCISE}(input_word_ids):\n    def real(ids):\n        return ids != pad\n"
                 "    return real(np.asarray(input_word_ids)).astype(np.int32)",
    ], "pad"),
}


def _cells(kind: str) -> list[str]:
    return [SETUP, *STUBS, *KINDS[kind][0], f'check("lesson02.{EXERCISE}", {EXERCISE})']


@pytest.fixture(scope="module")
def terminal(tmp_path_factory):
    """{kind: the scorer's result for the exercise}, every notebook scored in one run."""
    from bertlab.grading.__main__ import score_all

    folder = tmp_path_factory.mktemp("onerule")
    paths = {}
    for kind in KINDS:
        nb = nbformat.v4.new_notebook()
        nb.cells.extend(nbformat.v4.new_code_cell(source) for source in _cells(kind))
        paths[kind] = folder / f"02_{kind}.ipynb"
        nbformat.write(nb, paths[kind])
    scores = score_all(list(paths.values()), jobs=2, lesson="lesson02", timeout=60, notebook_timeout=180)
    found = {}
    for kind, score in zip(paths, scores):
        assert score.error is None, score.error
        (result,) = [r for r in score.results if r.name == EXERCISE]
        found[kind] = (result, score.cell_errors)
    return found


@pytest.fixture(scope="module")
def kernel():
    """run(cells) -> what the last cell showed, each call in a fresh session of one Jupyter kernel."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")

    execute = kernel_runner(client)

    def run(sources: list[str]) -> str:
        # A new session: an empty namespace and history, as after restarting the kernel.
        execute("get_ipython().reset(new_session=True)")
        return [execute(source) for source in sources][-1]

    try:
        yield run
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(KINDS))
def test_check_in_jupyter_and_the_scorer_give_the_same_verdict(kind, terminal, kernel):
    variable = KINDS[kind][1]
    result, cell_errors = terminal[kind]
    line = kernel(_cells(kind)).strip()

    if variable is None:
        assert result.passed, result.message
        assert line == f"✓ {EXERCISE}: passed (1/1 points)"
        return
    # The terminal: no points, and the variable named in the exercise's message or its cell's note.
    assert result.status == "failed" and result.points == 0
    assert f"'{variable}'" in " ".join([result.message, *cell_errors])
    # Jupyter: the same verdict, the variable in the one line, and why.
    assert line.startswith(f"✗ {EXERCISE}: "), line
    assert variable in line and core.SCORING_RULE[:40] in line, line


def test_the_session_keeps_the_latest_version_of_a_cell():
    broken = "def helper(x, table=TABLE):\n    return table"
    fixed = "def helper(x):\n    return x"
    scored = core.scored_session(["", fixed, broken])
    assert "helper" not in scored.namespace
    assert scored.errors == {"helper": "NameError: name 'TABLE' is not defined"}
    scored = core.scored_session([broken, fixed])
    assert scored.namespace["helper"](3) == 3 and scored.errors == {}


def test_the_session_runs_only_what_the_scorer_runs():
    cells = ["import math\nLIMIT = 3\nvocab = open('/nonexistent')\nprint('demo')",
             "%%time\ndef first(x):\n    return x[:LIMIT]\nfirst(vocab)",
             "%%bash\necho not python", "def broken(:\n    pass",
             "def ok():\n    return 1\nclass C:\n    v = vocab\ndef after():\n    return 2"]
    scored = core.scored_session(cells)
    defined = set(scored.namespace) - {"__name__", "__builtins__"}
    # The statements before the failing one (the class body) stay bound, as in the scorer.
    assert defined == {"math", "LIMIT", "first", "ok"}
    assert scored.errors == {"C": "NameError: name 'vocab' is not defined",
                             "after": "NameError: name 'vocab' is not defined"}
    assert scored.namespace["first"]([1, 2, 3, 4]) == [1, 2, 3]


def test_the_session_has_no_ipython_builtins(monkeypatch):
    import builtins

    # IPython puts these in builtins; the scorer's process has neither, so neither may the rebuild.
    monkeypatch.setattr(builtins, "get_ipython", lambda: "shell", raising=False)
    monkeypatch.setattr(builtins, "display", print, raising=False)
    scored = core.scored_session(["def f():\n    return get_ipython()", "def g():\n    return len('ab')"])
    with pytest.raises(NameError, match="get_ipython"):
        scored.namespace["f"]()
    assert scored.namespace["g"]() == 2


def test_a_graded_cell_that_only_ipython_can_parse_fails_as_in_the_scorer():
    from bertlab.grading import cells

    source = "# GRADED FUNCTION: f\ndef f():\n    return 1\n\nf?"
    with pytest.raises(SyntaxError) as raised:
        cells.scored_module({"cell_type": "code", "source": source})  # what the scorer's worker reports
    scored = core.scored_session(["# GRADED FUNCTION: f\ndef f():\n    return 0", source])
    assert "f" not in scored.namespace
    assert scored.errors == {"f": " ".join(f"SyntaxError: {raised.value}".split())}
