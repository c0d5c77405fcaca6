"""The main job end to end: ``clustertheory reproduce`` at a scale, wall time per simulation and in total.

Runs the command as a new user would (a subprocess, fresh interpreter, all simulations, the
results page included), into a temporary folder so the committed results stay as they are.
By default it runs twice, first with ``--jobs 2`` (the default on a 2-core machine), then
with ``--jobs 1`` (one simulation after another, as ``reproduce`` did before issue 14, but
each simulation allowed both cores' threads: a worker keeps to ``cores // jobs`` threads), so
the gain of running simulations side by side is a ratio measured in one sitting. Each row keeps
the wall and CPU time of every simulation (from ``--event-log``), the total wall time and
the 1-minute load average before and after.

    python benchmarks/bench_reproduce.py [--scale default] [--jobs 2 1]

Target (issue 14): the default scale under 4 minutes wall on a quiet 2-core machine, no
simulation over 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import environment, write_results

TARGET_TOTAL_S = 240.0
TARGET_PER_SIMULATION_S = 60.0


def run_reproduce(scale: str, jobs: int) -> dict:
    """One ``clustertheory reproduce`` in a temporary folder; its times, verdicts and load."""
    with tempfile.TemporaryDirectory() as folder:
        events = Path(folder) / "events.jsonl"
        command = [sys.executable, "-m", "clustertheory", "reproduce", "--scale", scale, "--jobs", str(jobs),
                   "--no-progress", "--event-log", str(events),
                   "--results-dir", f"{folder}/results", "--figures-dir", f"{folder}/figures"]
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        load_after = os.getloadavg()[0]
        ends = [json.loads(line) for line in events.read_text().splitlines() if '"event": "end"' in line]
    simulations = {
        end["name"]: {"wall_s": round(end["elapsed_s"], 1), "cpu_s": round(end["cpu_s"], 1),
                      "package_passed": end["package_passed"], "claims": end["claims"], "error": end["error"]}
        for end in ends
    }
    return {
        "jobs": jobs, "exit_code": completed.returncode, "total_wall_s": round(wall, 1),
        "sum_of_simulation_cpu_s": round(sum(s["cpu_s"] for s in simulations.values()), 1),
        "slowest_simulation": max(simulations, key=lambda name: simulations[name]["wall_s"]) if simulations else None,
        "slowest_wall_s": max((s["wall_s"] for s in simulations.values()), default=None),
        "load_average_1min_before": round(load_before, 2), "load_average_1min_after": round(load_after, 2),
        "simulations": simulations,
        "stderr_tail": completed.stderr[-2000:] if completed.returncode else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="default")
    parser.add_argument("--jobs", type=int, nargs="+", default=[2, 1], help="one run per value, in this order (default: 2 1)")
    parser.add_argument("--output", default="reproduce")
    args = parser.parse_args()
    if any(jobs < 1 for jobs in args.jobs):
        parser.error("--jobs values must be >= 1")
    rows = []
    for jobs in args.jobs:
        rows.append(run_reproduce(args.scale, jobs))
        row = rows[-1]
        print(f"jobs={jobs}: {row['total_wall_s']} s wall (exit {row['exit_code']}), slowest {row['slowest_simulation']} "
              f"{row['slowest_wall_s']} s, load {row['load_average_1min_before']} -> {row['load_average_1min_after']}", flush=True)
    import torch

    payload = {
        "benchmark": f"clustertheory reproduce --scale {args.scale}, end to end, per --jobs value",
        "targets": {"total_wall_s": TARGET_TOTAL_S, "per_simulation_wall_s": TARGET_PER_SIMULATION_S,
                    "applies_to": "default scale, quiet 2-core machine, --jobs 2"},
        "before_issue_14": {"total_wall_s": 423, "note": "7 min 3 s, one simulation after another, quiet 2-core machine (issue 14's measurement)"},
        "environment": environment(torch.device("cpu"), 1),  # every simulation process pins one torch thread
        "rows": rows,
    }
    if len(rows) >= 2 and rows[0]["total_wall_s"]:
        payload["speedup_first_over_last"] = round(rows[-1]["total_wall_s"] / rows[0]["total_wall_s"], 2)
    print("wrote", write_results(args.output, payload))


if __name__ == "__main__":
    main()
