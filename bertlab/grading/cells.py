"""The cell vocabulary shared by the scorer and the notebook build tool, and the scoring rule.

* ``# GRADED FUNCTION: name`` as the first line of a code cell marks an exercise;
* the ``bertlab-setup`` tag marks the generated setup cell;
* ``# GRADING SETUP`` as the first line marks a cell the scorer runs whole (authors only).

**The scoring rule** (the same for ``python -m bertlab.grading score`` and for ``check()`` in
Jupyter): of every code cell the scorer runs only the statements that *define* things --
imports, ``def`` and ``class`` statements, and constants assigned a literal (``MAX = 128``) --
never the demos, training or ``print`` calls around them. A graded function may therefore use
helpers and constants from any cell, but anything else (a loaded model, a data frame) must come
in through its arguments. :data:`SCORING_RULE` is the sentence learners are shown.

One extractor, :func:`scored_module`, serves both: the scorer's worker runs what it returns for
each notebook cell, and ``check()`` runs what it returns for each cell of the Jupyter session's
history (:func:`bertlab.grading.core.scored_session`) and grades the function that results.
"""
from __future__ import annotations

import ast
import re

GRADED_PREFIX = "# GRADED FUNCTION:"
GRADING_SETUP = "# GRADING SETUP"
SETUP_TAG = "bertlab-setup"
SCORING_RULE = ("the scorer runs only the imports, def/class statements and literal constants of your cells, "
                "so a graded function gets everything else (models, data, results of other cells) as arguments")

# Cell magics that only wrap Python code; the scorer drops the magic line and keeps the code.
TRANSPARENT_CELL_MAGICS = ("%%time", "%%timeit", "%%capture")
CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](lesson\d\d)\.(\w+)["']""")


def source(cell) -> str:
    """A cell's source as one string (nbformat stores a string or a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def python_source(text: str) -> str | None:
    """The Python code of a cell: transparent cell magics and ``%line``/``!shell`` lines dropped.

    None for a cell that is not Python at all (``%%bash``, ``%%writefile``, ``%%html`` ...).
    """
    lines = text.lstrip("\n").split("\n")
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].split()[0]
        if magic not in TRANSPARENT_CELL_MAGICS:
            return None
        lines = lines[1:]
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))


def graded_name(cell) -> str | None:
    """`pack_pair` for a code cell whose first line (after a cell magic) is `# GRADED FUNCTION: pack_pair`."""
    if cell.get("cell_type") != "code":
        return None
    code = python_source(source(cell))
    if code is None:
        return None
    first = code.lstrip().split("\n", 1)[0].strip()
    if first.startswith(GRADED_PREFIX):
        return first[len(GRADED_PREFIX):].strip() or None
    return None


def _is_literal_assignment(node: ast.stmt) -> bool:
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets, value = [node.target], node.value
    else:
        return False
    if not all(isinstance(t, ast.Name) for t in targets):
        return False
    try:
        ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


DEFINING = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def scored_statements(code: str) -> list[ast.stmt]:
    """The statements of `code` that the scoring rule runs (raises SyntaxError like Python)."""
    tree = ast.parse(code)
    return [node for node in tree.body if isinstance(node, DEFINING) or _is_literal_assignment(node)]


def scored_module(cell) -> ast.Module | None:
    """What the scorer runs of one cell, as a module to compile; None when it runs nothing.

    ``# GRADING SETUP`` cells run whole. Raises SyntaxError for a Python cell that does not parse.
    """
    if cell.get("cell_type") != "code":
        return None
    code = python_source(source(cell))
    if code is None:
        return None
    if code.lstrip().startswith(GRADING_SETUP):
        tree = ast.parse(code)
    else:
        tree = ast.Module(body=scored_statements(code), type_ignores=[])
    return tree if tree.body else None


def defined_names(statements: list[ast.stmt]) -> set[str]:
    """The global names that `statements` bind."""
    names: set[str] = set()
    for node in statements:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def is_stub(node: ast.stmt) -> bool:
    """A function whose body is only a docstring, ``pass``/``...`` and ``raise NotImplementedError``."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    raises = False
    for statement in node.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # docstring, `...`
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.Raise) and statement.exc is not None:
            exc = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                raises = True
                continue
        return False
    return raises


def check_lessons(cells) -> set[str]:
    """The lessons named by the notebook's ``check("lessonNN.name", ...)`` calls."""
    return {m.group(1) for cell in cells if cell.get("cell_type") == "code" for m in CHECK_CALL.finditer(source(cell))}


def checked_exercise(cell) -> str | None:
    """`pack_pair` for a cell that calls ``check("lessonNN.pack_pair", ...)``."""
    if cell.get("cell_type") != "code":
        return None
    match = CHECK_CALL.search(source(cell))
    return match.group(2) if match else None


def scored_modules(cells) -> tuple[dict, dict, dict]:
    """For a notebook's cells: {index: what the scorer runs of it}, {index: SyntaxError},
    {exercise name: index of its graded cell}."""
    modules, errors, graded = {}, {}, {}
    for index, cell in enumerate(cells):
        name = graded_name(cell)
        if name:
            graded[name] = index
        try:
            module = scored_module(cell)
        except SyntaxError as error:
            errors[index] = error
            continue
        if module is not None:
            modules[index] = module
    return modules, errors, graded


def static_stubs(modules, names: set[str]) -> set[str]:
    """Exercises whose every binding in the scored code is a stub function: "not implemented yet"
    without preparing or running anything (an untouched learner notebook costs no grading)."""
    bindings: dict[str, list] = {name: [] for name in names}
    for module in modules:
        for node in module.body:
            for name in defined_names([node]) & set(names):
                bindings[name].append(node)
    return {name for name, nodes in bindings.items() if nodes and all(is_stub(node) for node in nodes)}
