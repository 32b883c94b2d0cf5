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


def write_result(name: str, model: str, metrics: dict, **extra) -> Path:
    """Write benchmarks/results/<name>.json in the format of shared/CONVENTIONS.md (plus config/notes)."""
    record = {
        "name": name,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "machine": machine(),
        "model": model,
        "metrics": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()},
        **extra,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def print_table(title: str, rows: list[tuple[str, object]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"\n{title}\n" + "-" * (width + 14))
    for key, value in rows:
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
