"""The package's import graph (built by grimp from every import statement, lazy ones included)."""
from __future__ import annotations

import grimp
import pytest

# Modules whose job is turning text into model inputs: bertlab.data (which reads files) must reach none.
TOKENIZING = ("bertlab.preprocessing", "transformers", "tensorflow_text", "tensorflow_hub", "tokenizers")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("bertlab", include_external_packages=True)


def _is_ancestor(package: str, module: str) -> bool:
    return module.startswith(package + ".")


def import_cycles(graph) -> list[list[str]]:
    """Strongly connected groups of more than one module inside ``bertlab`` (Tarjan's algorithm).

    An import of a module's own parent package (``import bertlab`` in ``bertlab.spam``) is left
    out: Python has always finished importing the parent before the child starts, so it can
    never form a loop at import time.
    """
    modules = sorted(m for m in graph.modules if m == "bertlab" or m.startswith("bertlab."))
    edges = {
        m: sorted(
            n
            for n in graph.find_modules_directly_imported_by(m)
            if (n == "bertlab" or n.startswith("bertlab.")) and not _is_ancestor(n, m)
        )
        for m in modules
    }
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(m):
        index[m] = low[m] = len(index)
        stack.append(m)
        on_stack.add(m)
        for n in edges[m]:
            if n not in index:
                visit(n)
                low[m] = min(low[m], low[n])
            elif n in on_stack:
                low[m] = min(low[m], index[n])
        if low[m] == index[m]:
            group = []
            while True:
                n = stack.pop()
                on_stack.discard(n)
                group.append(n)
                if n == m:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for m in modules:
        if m not in index:
            visit(m)
    return cycles


def test_there_is_no_import_cycle_inside_bertlab(graph):
    assert import_cycles(graph) == []


def test_the_cycle_finder_sees_a_cycle():
    fake = grimp.ImportGraph()
    for name in ("bertlab", "bertlab.a", "bertlab.b", "bertlab.c"):
        fake.add_module(name)
    fake.add_import(importer="bertlab.a", imported="bertlab.b")
    fake.add_import(importer="bertlab.b", imported="bertlab.a")
    fake.add_import(importer="bertlab.c", imported="bertlab")  # a child importing its parent: no loop
    assert import_cycles(fake) == [["bertlab.a", "bertlab.b"]]


def test_data_imports_nothing_that_tokenizes(graph):
    direct = graph.find_modules_directly_imported_by("bertlab.data")
    assert not [m for m in direct if m.split(".")[0] in {t.split(".")[0] for t in TOKENIZING[1:]}]
    assert graph.find_shortest_chain(importer="bertlab.data", imported="bertlab.preprocessing") is None
