"""Phase-diagram workload: E trainings as one batched pass vs E sequential trainings.

Workload (one phase-diagram cell batch): comb data (4 clusters, 4 base points, 3 teeth,
V = 48 views), band-limited class (bandwidth 2), d = 2, TrainConfig(steps=300,
batch_size=128, num_negatives=16, log_every=100). The E members are seeds x leak in
{0, 0.05, 0.1, 0.2} (one dataset per leak, as the phase diagram batches a cell's seeds and
leaks), so the batched pass uses per-member datasets (MemberPairSampler).

Four timings, all in this one process on the same device and thread count:

    sequential_train   E x train() on one model (the training loop with one member)
    sequential_table   E x train_batched(E=1, score_table=True) (one model, view score table)
    batched_rows       one train_members pass over E members, scoring every batch row (train's maths)
    batched_table      one train_members pass over E members with the view score table (what simulations use)

Sequential time per model does not depend on E, so for each E it is measured on
min(E, --sequential-models) models just before and again just after the batched passes,
averaged and multiplied by E (the results file says how many were timed): bracketing the
batched passes keeps both sides under the same machine load. Each timing is recorded as wall
time and as this thread's CPU time (time.thread_time), which other processes on a shared
machine inflate far less; the speedups are computed from both.

    python benchmarks/bench_batched_training.py [--sizes 1,8,64,512] [--device cpu] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from common import environment, write_results

from clustertheory.data import comb_dataset
from clustertheory.functions import make_function_class
from clustertheory.training import TrainConfig, train
from clustertheory.training.batched import Member, train_batched, train_members
from clustertheory.utils import resolve_device

LEAKS = (0.0, 0.05, 0.1, 0.2)
BANDWIDTH = 2


def members(count: int, config: TrainConfig, datasets: list) -> list[Member]:
    return [Member("band-limited", datasets[e % len(datasets)], config, 1000 + e, {"bandwidth": BANDWIDTH}) for e in range(count)]


def sequential_per_model(batch: list[Member], dim: int, device, table: bool) -> tuple[float, float]:
    """Mean (wall, CPU) seconds of one single-model training over ``batch``."""
    start, cpu_start = time.perf_counter(), time.thread_time()
    for e, m in enumerate(batch):
        model = make_function_class(m.function_class, m.data, dim, seeds=[m.init_seed], device=device, **m.class_options)
        if table:
            train_batched(model, m.data, m.config, seed=e, score_table=True)
        else:
            train(model, m.data, m.config, seed=e)
    return (time.perf_counter() - start) / len(batch), (time.thread_time() - cpu_start) / len(batch)


def batched_seconds(batch: list[Member], dim: int, device, table: bool) -> tuple[float, float]:
    """(wall, CPU) seconds of one batched pass over ``batch``."""
    start, cpu_start = time.perf_counter(), time.thread_time()
    train_members(batch, dim, seed=len(batch), device=device, score_table=table)
    return time.perf_counter() - start, time.thread_time() - cpu_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,8,64,512", help="ensemble sizes E (comma-separated)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the machine is shared)")
    parser.add_argument("--sequential-models", type=int, default=8, help="single-model trainings timed per variant, before and after the batched passes of each E")
    parser.add_argument("--output", default="batched_training")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    config = TrainConfig(steps=args.steps, batch_size=128, num_negatives=16, log_every=100)
    datasets = [comb_dataset(4, 4, 3, leak=leak) for leak in LEAKS]
    warm = members(2, TrainConfig(steps=5, log_every=5), datasets)
    for table in (False, True):
        batched_seconds(warm, args.dim, device, table)
        sequential_per_model(warm, args.dim, device, table)

    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        batch = members(size, config, datasets)
        timed = min(size, args.sequential_models)
        before = {table: sequential_per_model(batch[:timed], args.dim, device, table) for table in (False, True)}
        batched = {table: batched_seconds(batch, args.dim, device, table) for table in (False, True)}
        after = {table: sequential_per_model(batch[-timed:], args.dim, device, table) for table in (False, True)}
        row = {"E": size, "sequential_models_timed": 2 * timed}
        for clock, k in (("", 0), ("cpu_", 1)):
            per_model = {table: (before[table][k] + after[table][k]) / 2 for table in (False, True)}
            rows_s, table_s = batched[False][k], batched[True][k]
            row.update({
                f"{clock}sequential_s_per_model": round(per_model[False], 4),
                f"{clock}sequential_train_s": round(per_model[False] * size, 3),
                f"{clock}sequential_table_s": round(per_model[True] * size, 3),
                f"{clock}batched_rows_s": round(rows_s, 3),
                f"{clock}batched_table_s": round(table_s, 3),
                f"{clock}speedup_batched_table_vs_sequential_train": round(per_model[False] * size / table_s, 2),
                f"{clock}speedup_batched_rows_vs_sequential_train": round(per_model[False] * size / rows_s, 2),
                f"{clock}speedup_batched_table_vs_sequential_table": round(per_model[True] * size / table_s, 2),
                f"{clock}batched_table_model_steps_per_s": round(size * args.steps / table_s, 1),
            })
        row["load_average_1min"] = round(os.getloadavg()[0], 2)
        rows.append(row)
        print(row, flush=True)
    payload = {
        "benchmark": "batched vs sequential training, phase-diagram workload",
        "workload": {
            "data": f"comb_dataset(4, 4, 3, leak) for leak in {LEAKS} (V = 48)",
            "function_class": f"band-limited, bandwidth {BANDWIDTH}",
            "dim": args.dim,
            "train_config": {"steps": args.steps, "batch_size": 128, "num_negatives": 16, "log_every": 100},
            "members": "seed x leak, one dataset per leak (MemberPairSampler path)",
        },
        "method": (
            "wall time and thread CPU time (cpu_ keys) of whole trainings (model build, sampling, forward, backward, "
            "optimiser, 3 evaluations); "
            f"sequential per-model time measured on up to {args.sequential_models} models before and again after "
            "the batched passes of each E, averaged and multiplied by E"
        ),
        "environment": environment(device, args.threads),
        "rows": rows,
    }
    print("wrote", write_results(args.output, payload))


if __name__ == "__main__":
    main()
