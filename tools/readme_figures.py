"""The README's and CONTRIBUTING's figures that come from committed results files, kept in step.

    python tools/readme_figures.py          # rewrite the generated rows in README.md and CONTRIBUTING.md
    python tools/readme_figures.py --check  # exit 1 if they differ from the results files (CI, via the tests)

Each generated block sits between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->`` and is
rebuilt from ``benchmarks/results``: the lesson table's minutes and memory (``lessons.json``, from
``make bench-lessons``) and the CI stage table (``ci_stages.json``, from a clean run of ``.ci/run``).
The lesson descriptions are kept as written; only the figures are replaced.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end: (?P=name) -->)", re.S)


def _record(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))


def lesson_table(body: str) -> str:
    """The lesson rows with each lesson's full-run minutes and peak memory from lessons.json."""
    record = _record("lessons")
    by_lesson = {m["notebook"][:2]: m for m in record["members"]}
    goal_min, goal_gb = record["metrics"]["goal_minutes_per_lesson"], record["metrics"]["goal_gb_per_lesson"]
    lines = []
    for line in body.splitlines():
        cells = line.split(" | ")
        match = re.match(r"^\| (\d\d)$", cells[0]) if cells else None
        if match and len(cells) >= 3:
            member = by_lesson[match.group(1)]
            over = member["minutes"] > goal_min or member["peak_rss_gb"] > goal_gb
            mark = " (over the goal)" if over else ""
            line = " | ".join(cells[:3]) + f" | {member['minutes']:.1f} min | {member['peak_rss_gb']:.1f} GB{mark} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def lesson_goal(_: str) -> str:
    record = _record("lessons")
    over = [m for m in record["members"] if m["notebook"] in record["over_goal"]]
    loads = [m["load_1min_before"] for m in record["members"]]
    measured = f"measured {record['date']}, 1-minute load {min(loads):.1f}–{max(loads):.1f}"
    if not over:
        return f"every lesson meets it ({measured}).\n"
    names = ", ".join(f"{m['notebook'][:2]} ({m['minutes']:.1f} min, {m['peak_rss_gb']:.1f} GB)" for m in over)
    return f"over it: {names} ({measured}; under load, minutes are upper bounds).\n"


def ci_stages(_: str) -> str:
    record = _record("ci_stages")
    lines = ["| stage | minutes | 1-minute load at its start | status |", "|---|---|---|---|"]
    lines += [f"| `{m['stage']}` | {m['minutes']:.1f} | {m['load_1min_start']:.1f} | {m['status']} |" for m in record["members"]]
    lines.append(f"| **total** | **{record['metrics']['total_minutes']:.1f}** | | budget {record['metrics']['budget_minutes']} |")
    return "\n".join(lines) + f"\n\n({record['machine']}, {record['date']}, commit {record['commit']}.)\n"


GENERATORS = {"lesson-table": lesson_table, "lesson-goal": lesson_goal, "ci-stages": ci_stages}
FILES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md"]


def render(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + GENERATORS[m.group("name")](m.group("body")) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = []
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            stale.append(path.name)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.check and stale:
        print(f"out of date with benchmarks/results: {', '.join(stale)} (run python tools/readme_figures.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
