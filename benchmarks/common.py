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
