"""Shared plumbing of the benchmarks: environment record, timing, peak memory, results files."""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
NO_GPU = (
    "these results are CPU-only (a shared 2-core machine). The code paths take a device argument "
    "and run unchanged on CUDA; rerun these commands with --device cuda on a GPU machine to add GPU numbers."
)


def environment(device: torch.device, threads: int) -> dict:
    """Device, versions, date and machine load, recorded with every results file."""
    import numpy

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "device": str(device),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "load_average_1_5_15_min": [round(x, 2) for x in os.getloadavg()],
        "nice": os.nice(0),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cuda_available": torch.cuda.is_available(),
        "gpu": {"measured": device.type == "cuda", "note": None if device.type == "cuda" else NO_GPU},
    }


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1, budget_s: float = 20.0) -> dict:
    """Median / min wall time (s) of ``fn()`` over ``repeats`` calls after ``warmup`` calls,
    stopping early once ``budget_s`` is spent (at least one timed call)."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times, spent = [], 0.0
    while len(times) < repeats and (not times or spent < budget_s):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return {"median_s": statistics.median(times), "min_s": min(times), "repeats": len(times)}


def time_interleaved(fns: dict[str, Callable[[], object]], device: torch.device, repeats: int, budget_s: float = 60.0,
                     min_time_s: float = 5.0, seed: int = 0) -> dict[str, dict]:
    """Interleaved timing of several calls: one warm-up call each, then rounds in which every
    call runs once, in an order shuffled per round (seeded), until at least ``repeats`` rounds
    and ``min_time_s`` seconds are done, and never beyond ``budget_s`` seconds (at least one
    round). Interleaving puts every implementation under the same machine load; the shuffled
    order keeps "which call ran just before" (caches, allocator state) from favouring one of
    them; the minimum time gives a millisecond call thousands of rounds instead of ``repeats``.

    Returns, per name: median / min wall time (s), median / min CPU time of this thread (s;
    ``time.thread_time``, which other processes on a shared machine inflate far less than the
    wall clock; None on CUDA, where the work is not on this thread) and the number of rounds.
    """
    for fn in fns.values():
        fn()
    synchronize(device)
    wall = {name: [] for name in fns}
    cpu = {name: [] for name in fns}
    order, shuffle = list(fns), random.Random(seed).shuffle
    rounds, start = 0, time.perf_counter()
    while rounds == 0 or ((rounds < repeats or time.perf_counter() - start < min_time_s) and time.perf_counter() - start < budget_s):
        rounds += 1
        shuffle(order)
        for name in order:
            wall_start, cpu_start = time.perf_counter(), time.thread_time()
            fns[name]()
            synchronize(device)
            cpu[name].append(time.thread_time() - cpu_start)
            wall[name].append(time.perf_counter() - wall_start)
    on_thread = device.type != "cuda"
    return {
        name: {
            "median_s": statistics.median(wall[name]),
            "min_s": min(wall[name]),
            "cpu_median_s": statistics.median(cpu[name]) if on_thread else None,
            "cpu_min_s": min(cpu[name]) if on_thread else None,
            "repeats": rounds,
        }
        for name in fns
    }


def peak_memory_bytes(fn: Callable[[], object], device: torch.device) -> int:
    """Peak bytes held by tensors allocated while ``fn()`` runs, beyond what was held before.

    CUDA: torch.cuda.max_memory_allocated. CPU: the torch profiler's memory timeline
    (profile_memory=True; the maximum over time of the bytes of live tensors, minus its
    first sample), which tracks torch's CPU allocator exactly, unlike process RSS.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - before)
    import tempfile
    import warnings

    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True) as prof:
        fn()
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # export_memory_timeline is deprecated for CUDA, still the CPU tool
        path = Path(folder) / "timeline.json"
        prof.export_memory_timeline(str(path), device="cpu")
        _, sizes = json.loads(path.read_text())
    totals = [sum(per_category) for per_category in sizes] or [0]  # one list of bytes per category per sample
    return int(max(totals) - totals[0])


def write_results(name: str, payload: dict) -> Path:
    """Write ``results/<name>.json`` atomically."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, path)
    return path
