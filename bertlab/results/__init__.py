"""The benchmark figures the lessons show, shipped with the package.

Lesson 05 draws the seed study (``mrpc.json``, ``mrpc_recipe_*.json``) and quotes the padding
benchmark (``padding.json``); lesson 06 quotes the spam cross-validation (``spam.json``). A lesson
may run from ``notebooks/`` (where ``make lab`` opens JupyterLab), from ``notebooks/solutions/``,
or on Colab after the setup cell pip-installs the package from GitHub, with no repository at all:
so these files travel inside the package (``[tool.setuptools.package-data]`` in pyproject.toml)
and the lessons read them only through :func:`load` and :func:`load_all`.

One source of truth: ``benchmarks/results/<name>.json``. ``benchmarks/common.write_result`` also
writes the shipped copy of every name matching :data:`SHIPPED`, ``python -m bertlab.results --sync``
copies them all again, and ``tests/test_results.py`` fails when a shipped copy differs from its
source.
"""
from __future__ import annotations

import fnmatch
import json
import shutil
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
#: The results files the lessons read (file-name patterns inside benchmarks/results).
SHIPPED = ("mrpc.json", "mrpc_keras3.json", "mrpc_recipe_*.json", "padding.json", "spam.json")


def is_shipped(file_name: str) -> bool:
    return any(fnmatch.fnmatchcase(file_name, pattern) for pattern in SHIPPED)


def load(name: str) -> dict:
    """The shipped results record ``name`` (``"padding"`` or ``"padding.json"``) as a dict."""
    file_name = name if name.endswith(".json") else f"{name}.json"
    path = FOLDER / file_name
    if not is_shipped(file_name) or not path.is_file():
        raise FileNotFoundError(f"bertlab ships no benchmark result {file_name!r} (it ships {', '.join(SHIPPED)}); "
                                "reinstall the course package if one of those is missing")
    return json.loads(path.read_text(encoding="utf-8"))


def load_all(pattern: str) -> dict[str, dict]:
    """{file name: record} of the shipped results matching ``pattern`` (``"mrpc_recipe_*.json"``), sorted by name."""
    return {p.name: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(FOLDER.glob(pattern)) if is_shipped(p.name)}


def sync(source: str | Path, names: list[str] | None = None) -> list[str]:
    """Copy the shipped results files from ``source`` (benchmarks/results) into the package; returns the names copied.

    With ``names``, only those files (that match :data:`SHIPPED`); otherwise every matching file, and shipped
    copies whose source is gone are removed."""
    source = Path(source)
    wanted = [n for n in (names if names is not None else [p.name for p in sorted(source.glob("*.json"))]) if is_shipped(n)]
    for name in wanted:
        shutil.copyfile(source / name, FOLDER / name)
    if names is None:
        for stale in FOLDER.glob("*.json"):
            if stale.name not in wanted:
                stale.unlink()
    return wanted


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bertlab.results", description="The benchmark results shipped with bertlab.")
    parser.add_argument("--sync", metavar="FOLDER", nargs="?", const=str(FOLDER.parents[1] / "benchmarks" / "results"),
                        help="copy them again from FOLDER (default: the checkout's benchmarks/results)")
    args = parser.parse_args(argv)
    if args.sync:
        print("copied:", ", ".join(sync(args.sync)))
    else:
        print("\n".join(p.name for p in sorted(FOLDER.glob("*.json"))))
    return 0
