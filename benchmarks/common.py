"""Shared by the benchmark scripts: the machine line, the load, and writing results JSON."""
from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    import bertlab  # noqa: F401
    from bertlab.env import device_summary

    return f"{device_summary()}, {platform.processor() or platform.machine()}, Python {platform.python_version()}"


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def write_result(name: str, model: str, metrics: dict, *, directory=None, **extra) -> Path:
    """Write <directory or benchmarks/results>/<name>.json in the format of shared/CONVENTIONS.md
    (plus config/notes). A metric given as a dict (median/min/max, mean/std) is rounded inside.
    Into benchmarks/results, a file a lesson reads (``bertlab.results.SHIPPED``) is also copied
    into the package, which carries it to learners (bertlab/results/)."""
    record = {
        "name": name,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "machine": machine(),
        "model": model,
        "metrics": _rounded(metrics),
        **extra,
    }
    directory = Path(directory) if directory else RESULTS
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    if directory.resolve() == RESULTS.resolve():  # a figure a lesson shows: its copy inside the package too
        from bertlab import results

        results.sync(RESULTS, [path.name])
    return path


def print_table(title: str, rows: list[tuple[str, object]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"\n{title}\n" + "-" * (width + 14))
    for key, value in rows:
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")


SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "solutions"


def lesson_configuration(notebook: str, cell_id: str = "configuration") -> dict:
    """The settings of a lesson's Configuration cell: its UPPER_CASE names after running it.

    The lesson is the one place its hyperparameters are written; a benchmark that measures the
    lesson's run reads them from there (``notebook`` names a solution notebook, e.g.
    ``"04_pretraining_tasks"``). The lesson's imports cell (every cell made only of imports) runs
    first, then the cell with id ``cell_id``; ``BERTLAB_QUICK`` decides the mode, as in the lesson.
    """
    import ast

    import bertlab

    cells = json.loads((SOLUTIONS / f"{notebook}.ipynb").read_text())["cells"]
    namespace: dict = {"bertlab": bertlab}
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or "bertlab-setup" in cell["metadata"].get("tags", []):
            continue
        body = ast.parse(source).body
        if body and all(isinstance(node, (ast.Import, ast.ImportFrom)) for node in body):
            exec(compile(source, f"{notebook}:imports", "exec"), namespace)
    configuration = [cell for cell in cells if cell.get("id") == cell_id]
    if len(configuration) != 1:
        raise LookupError(f"{notebook}.ipynb has no cell with id {cell_id!r}")
    exec(compile("".join(configuration[0]["source"]), f"{notebook}:{cell_id}", "exec"), namespace)
    return {name: value for name, value in namespace.items() if name.isupper() and not name.startswith("_")}
