"""How long one command takes to score the 6 solution and 6 learner notebooks (target: < 2 minutes on 2 cores).

    BERTLAB_DATA=/path/to/data python benchmarks/grading_speed.py [--jobs N] [--repeats 1]

Runs ``python -m bertlab.grading score`` as a teacher would (a fresh process, each notebook in
its own worker process, in parallel), checks that the solutions score 100 % and the learner
versions 0 %, prints a short table and writes ``benchmarks/results/grading_speed.json`` with
the 1-minute load average before and after (the machine may be shared: absolute times drift).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_average, print_table, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_MINUTES = 2.0


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the scorer and its workers, once waited for
    return usage.ru_utime + usage.ru_stime


def run_once(paths: list[Path], jobs: int | None) -> tuple[float, float, dict]:
    command = [sys.executable, "-m", "bertlab.grading", "score", "--json", *map(str, paths)]
    if jobs:
        command += ["--jobs", str(jobs)]
    start, cpu = time.perf_counter(), _cpu_seconds()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    if done.returncode not in (0, 1):
        raise SystemExit(f"scoring failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, cpu, json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=None, help="passed to score --jobs (default: the CPU count)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    solutions = sorted((ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb"))
    learners = [ROOT / "notebooks" / p.name for p in solutions]
    before = load_average()
    runs, cpu_runs, payload = [], [], None
    for _ in range(args.repeats):
        seconds, cpu, payload = run_once(solutions + learners, args.jobs)
        runs.append(seconds)
        cpu_runs.append(cpu)
    after = load_average()

    by_path = {Path(n["path"]).resolve(): n for n in payload["notebooks"]}
    solution_points = sum(by_path[p.resolve()]["points"] for p in solutions)
    solution_max = sum(by_path[p.resolve()]["max_points"] for p in solutions)
    learner_points = sum(by_path[p.resolve()]["points"] for p in learners)
    minutes = statistics.median(runs) / 60
    metrics = {
        "score_12_notebooks_minutes": minutes,
        # CPU time of the scorer and its workers: what the 2 cores must do, whatever else runs on them
        "cpu_minutes": statistics.median(cpu_runs) / 60,
        "idle_2_core_estimate_minutes": statistics.median(cpu_runs) / 60 / 2,
        "per_notebook_seconds_median": statistics.median(n["seconds"] for n in payload["notebooks"]),
        "solution_score_percent": 100 * solution_points / solution_max,
        "learner_score_percent": 100 * learner_points / solution_max,
        "notebooks": len(payload["notebooks"]),
        "jobs": args.jobs or os.cpu_count(),
    }
    print_table("Scoring 6 solution + 6 learner notebooks in one command", list(metrics.items()))
    print(f"target < {TARGET_MINUTES} min: {'met' if minutes < TARGET_MINUTES else 'NOT met'}")
    path = write_result(
        "grading_speed", "minilm-l6", metrics,
        runs_seconds=[round(s, 1) for s in runs],
        load_average_1min={"before": before, "after": after},
        sandbox=sorted({str(n.get("sandbox")) for n in payload["notebooks"] if n.get("sandbox")}),
        notes=("2 CPU cores shared with other developers' jobs while measured (see the load average): "
               "an idle machine is faster. Each notebook that is not all stubs is scored by two processes "
               "(the judge, and the learner process that runs its cells, sealed off: see "
               "bertlab/grading/worker.py); the time includes starting TensorFlow in both and the graders' "
               "reference answers."),
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
