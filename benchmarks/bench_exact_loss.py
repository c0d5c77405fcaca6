"""Exact population InfoNCE (clustertheory.analysis.exact_loss): wall time for d <= 6, l <= 64.

Target: every (d, l) with d <= 6 and l <= 64 under one second on CPU. Data: a comb with
2^d clusters (4 base points, 2 teeth, leak 0.1, so every anchor has several positives), and
two code tables per d: a uniform cluster-preserving code (cluster c -> vertex c) and a
random code (every view its own random vertex: the most (anchor vertex, alignment) groups).
Each configuration is timed for population_infonce with method "auto" (the default),
"multinomial" (only where it has <= 20000 count vectors per group) and "laplace".

    python benchmarks/bench_exact_loss.py [--threads 1]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from common import environment, time_call, write_results

from clustertheory.analysis.exact_loss import multinomial_term_count, population_infonce
from clustertheory.data import comb_dataset

BETA = 2.0
LIMIT_S = 1.0
MULTINOMIAL_MAX_TERMS = 20_000


def code_tables(data, d: int, seed: int) -> dict[str, np.ndarray]:
    vertices = ((np.arange(2**d)[:, None] >> np.arange(d)) & 1) * 2 - 1
    rng = np.random.default_rng(seed)
    return {
        "uniform cluster-preserving": vertices[data.content].astype(np.int8),
        "random per view": rng.choice([-1, 1], size=(data.num_views, d)).astype(np.int8),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dims", default="1,2,3,4,5,6")
    parser.add_argument("--negatives", default="1,4,16,64")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default="exact_loss")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for d in [int(x) for x in args.dims.split(",")]:
        data = comb_dataset(2**d, 4, 2, leak=0.1)
        for table, codes in code_tables(data, d, seed=d).items():
            for l in [int(x) for x in args.negatives.split(",")]:
                for method in ("auto", "multinomial", "laplace"):
                    if method == "multinomial" and multinomial_term_count(d + 1, l) > MULTINOMIAL_MAX_TERMS:
                        continue
                    value = population_infonce(codes, data, l, BETA, method=method)
                    def call(codes=codes, data=data, l=l, method=method):
                        return population_infonce(codes, data, l, BETA, method=method)

                    timing = time_call(call, torch.device("cpu"), args.repeats)
                    row = {
                        "d": d, "l": l, "codes": table, "method": method, "views": data.num_views,
                        "loss": value, "median_s": round(timing["median_s"], 5), "under_1s": timing["median_s"] < LIMIT_S,
                    }
                    rows.append(row)
                    print(row, flush=True)
    auto = [r for r in rows if r["method"] == "auto"]
    payload = {
        "benchmark": "exact population InfoNCE, d <= 6, l <= 64",
        "target": f"every (d, l, codes) with method 'auto' under {LIMIT_S} s",
        "all_auto_under_target": all(r["under_1s"] for r in auto),
        "slowest_auto_s": max(r["median_s"] for r in auto),
        "method": f"median wall time over {args.repeats} calls after one warm-up; beta = {BETA}",
        "environment": environment(torch.device("cpu"), args.threads),
        "rows": rows,
    }
    print("wrote", write_results(args.output, payload))


if __name__ == "__main__":
    main()
