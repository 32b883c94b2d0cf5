"""A learner's wait: each solution notebook run top to bottom in full (not quick mode).

    BERTLAB_DATA=/work/shared/data .venv/bin/python benchmarks/lessons.py [LESSON ...]   (make bench-lessons)

For each notebook: wall minutes from the first cell to the last, the CPU minutes the kernel
used (which other jobs on a shared machine change much less than the wall time), the kernel's peak resident
memory (``ru_maxrss`` of the kernel process, read in a cell appended at the end: the high-water
mark of the whole run), the three slowest cells, and the 1-minute load before and after. Writes
benchmarks/results/lessons.json; the README's lesson table reads it (tests/test_benchmarks.py
keeps the two in step).

``--store`` makes that run the lesson's stored outputs too: the executed notebook is written back
over ``notebooks/solutions/NN_*.ipynb`` (without the measuring cell), and the lessons run replace
their own rows of lessons.json, keeping the others. So the minutes the README quotes for a lesson
and what its stored outputs show (a training cell's own minutes) come from one run.

The course's goal, stated in the README beside these figures: each lesson's full run within
15 minutes and 4 GB on a 2-core laptop.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from common import load_average, print_table, write_result

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "notebooks" / "solutions"
GOAL_MINUTES, GOAL_GB = 15, 4
REPORT_PREFIX = "BERTLAB_PEAK_RSS_KB "
# The kernel's peak resident memory (KiB on Linux) and the CPU seconds it and its children used.
PEAK_CELL = (f'import resource as _r; _s, _c = _r.getrusage(_r.RUSAGE_SELF), _r.getrusage(_r.RUSAGE_CHILDREN); '
             f'print("{REPORT_PREFIX}" + str(_s.ru_maxrss), _s.ru_utime + _s.ru_stime + _c.ru_utime + _c.ru_stime)')
CELL_TIMEOUT_S = 3600


def slowest_cells(notebook, count: int = 3) -> list[dict]:
    from datetime import datetime

    def when(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    timed = []
    for index, cell in enumerate(notebook.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        if timing.get("iopub.execute_input") and timing.get("shell.execute_reply"):
            seconds = (when(timing["shell.execute_reply"]) - when(timing["iopub.execute_input"])).total_seconds()
            timed.append({"cell": index, "seconds": round(seconds, 1), "first_line": cell.source.splitlines()[0][:80]})
    return sorted(timed, key=lambda item: -item["seconds"])[:count]


def run_lesson(path: Path, store: bool = False) -> dict:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    load_before = load_average()
    start = time.monotonic()
    NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    minutes = (time.monotonic() - start) / 60
    text = "".join(o.get("text", "") for o in notebook.cells[-1].get("outputs", []))
    peak_kb, cpu_seconds = text.split(REPORT_PREFIX, 1)[1].split()[:2]
    if store:  # the run's outputs become the lesson's stored outputs
        notebook.cells.pop()
        nbformat.write(notebook, path)
    return {"notebook": path.name, "minutes": round(minutes, 2), "peak_rss_gb": round(int(peak_kb) / 2**20, 2),
            "cpu_minutes": round(float(cpu_seconds) / 60, 2),
            "load_1min_before": load_before, "load_1min_after": load_average(),
            "slowest_cells": slowest_cells(notebook)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers (default: every lesson)")
    parser.add_argument("--output-dir", type=Path, help="where lessons.json goes (default: benchmarks/results)")
    parser.add_argument("--store", action="store_true",
                        help="write each executed notebook back as its stored outputs, and replace only these lessons' rows")
    args = parser.parse_args(argv)
    paths = sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))
    if args.lessons:
        paths = [p for p in paths if p.name[:2] in {lesson.zfill(2) for lesson in args.lessons}]
    os.environ["BERTLAB_QUICK"] = "0"  # the learner's full run
    members = []
    for path in paths:
        member = run_lesson(path, store=args.store)
        members.append(member)
        print(f"{member['notebook']:<30} {member['minutes']:6.1f} min ({member['cpu_minutes']:.1f} CPU min)  "
              f"{member['peak_rss_gb']:5.2f} GB peak  "
              f"(load {member['load_1min_before']} -> {member['load_1min_after']})", flush=True)
    if args.store:  # keep the rows of the lessons not run now
        previous = Path(args.output_dir or ROOT / "benchmarks" / "results") / "lessons.json"
        if previous.is_file():
            ran = {m["notebook"] for m in members}
            kept = [m for m in json.loads(previous.read_text())["members"] if m["notebook"] not in ran]
            members = sorted(kept + members, key=lambda m: m["notebook"])
    over = [m["notebook"] for m in members if m["minutes"] > GOAL_MINUTES or m["peak_rss_gb"] > GOAL_GB]
    metrics = {"total_minutes": round(sum(m["minutes"] for m in members), 1),
               "max_peak_rss_gb": max(m["peak_rss_gb"] for m in members),
               "goal_minutes_per_lesson": GOAL_MINUTES, "goal_gb_per_lesson": GOAL_GB}
    from bertlab.models import default_model_name

    write_result("lessons", default_model_name(), metrics, directory=args.output_dir, members=members,
                 over_goal=over, mode="full (BERTLAB_QUICK=0)",
                 notes="Wall time from the first cell to the last with nbclient; peak RSS of the kernel process.")
    print_table("Lessons in full", [(m["notebook"], f"{m['minutes']:.1f} min, {m['peak_rss_gb']:.2f} GB") for m in members])
    if over:
        print(f"over the goal ({GOAL_MINUTES} min, {GOAL_GB} GB): {', '.join(over)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
