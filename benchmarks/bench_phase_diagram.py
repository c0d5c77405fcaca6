"""The phase-diagram simulation at a scale, end to end: one cell per training pass vs batched passes.

Runs ``clustertheory run phase-diagram`` twice in this process on the same device: first with
``max_batch=1`` (each cell's seeds trained as one ensemble, one cell at a time: the layout
before the batched sweep runner), then with the simulation's default: every cell in one
batched pass. Both runs write to a temporary folder; the results file records both wall
times, both verdicts and the load.

    python benchmarks/bench_phase_diagram.py [--scale default] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch
from common import environment, write_results

from clustertheory.simulation import run_simulation
from clustertheory.utils import resolve_device
from simulations import phase_diagram


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", default="phase_diagram")
    args = parser.parse_args()
    device = resolve_device(args.device)
    rows = []
    cells = len(phase_diagram.cell_units(phase_diagram.SCALES[args.scale]))
    for label, max_batch in (("one cell per pass", 1), ("all cells in one pass", None)):
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            outcome = run_simulation(
                phase_diagram, scale=args.scale, results_dir=f"{folder}/results", figures_dir=f"{folder}/figures",
                device=device, progress=False, echo=lambda _: None, max_batch=max_batch,
            )
            elapsed = time.perf_counter() - start
        rows.append({"layout": label, "max_batch": max_batch or cells, "wall_s": round(elapsed, 1),
                     "verdict": outcome.verdict.label, "cells": cells, "load_average_1min": round(os.getloadavg()[0], 2)})
        print(rows[-1], flush=True)
    payload = {
        "benchmark": f"phase-diagram simulation, scale {args.scale}, per-cell vs batched training passes",
        "config": phase_diagram.SCALES[args.scale].as_dict(),
        "speedup": round(rows[0]["wall_s"] / rows[1]["wall_s"], 2),
        "environment": environment(device, 1 if device.type == "cpu" else torch.get_num_threads()),  # the simulation pins one CPU thread
        "rows": rows,
    }
    print("wrote", write_results(args.output, payload))


if __name__ == "__main__":
    main()
