"""InfoNCE forward + backward: clustertheory.losses against peer libraries and the plain computation.

Every implementation computes the same number on the same float32 inputs (cosine
similarity, temperature 0.1, mean over anchors); the results file records each one's value
relative to ours, so "equal work" is checked, not assumed.

Explicit negatives, anchor (B, d), positive (B, d), negatives (B, K, d) per anchor:
    ours         clustertheory.losses.infonce(a, p, n)
    info-nce     info_nce(a, p, n, negative_mode="paired")       (info-nce-pytorch)
    pml          pytorch-metric-learning NTXentLoss on cat([a, p, n]) with the explicit
                 (anchor, positive) and (anchor, negative) pairs as indices_tuple. It builds the
                 full N x N similarity matrix (N = B (K + 2)) and a (pairs x negatives) mask,
                 so it is skipped where that estimate exceeds --pml-limit-gb.
    lightly      no per-anchor explicit-negative API (its memory bank shares one set of negatives
                 across anchors): not applicable.
    plain        the textbook computation, no checks: normalize all three, einsum, cat the positive
                 logit in front, logsumexp - positive logit, mean.
In-batch, one direction (candidates: all B positives):
    ours infonce(a, p); info-nce info_nce(a, p); plain cross_entropy(a p^T / t, arange(B)).
In-batch NT-Xent (SimCLR, both directions, 2B - 1 candidates):
    ours infonce(a, p, symmetric=True, same_view_negatives=True); lightly NTXentLoss;
    pml NTXentLoss(cat([a, p]), labels) (O(B^3) pair mask: skipped above --pml-limit-gb);
    plain cross_entropy over the (2B, 2B) cosine matrix with its diagonal masked.

Time: forward + backward (gradients w.r.t. all inputs), ours against one peer at a time. Each
pair (ours, peer) runs in --processes fresh processes; in each, the two calls are interleaved
(one call each per round in a shuffled order, at least --repeats rounds and 5 s, at most 60 s,
after one warm-up call each), so both run under the same machine load and neither always follows
the same neighbour. Pairs, not all implementations in one rotation: at B = 64 a call takes about
0.5 ms, and an implementation whose sibling shares the rotation runs faster (plain and
info-nce-pytorch are the same normalize + cross_entropy code; with plain in the rotation ours
measured 1.00x / 1.08x of info-nce-pytorch's time (minimum / median), with a second copy of ours
in it 0.92x / 0.89x, alone as a pair 0.95x / 0.97x; 6 processes each, 2026-11-30). A fresh process
per pair keeps an earlier case's allocations (PML's gigabytes) and the memory profiler away.
Recorded per pair and process: wall time and this thread's CPU time (time.thread_time, far less
inflated by other processes on a shared machine), median and minimum, and the ratios ours / peer;
per peer, the median and range of those ratios over the processes. Memory: peak bytes of torch
tensors allocated during one forward + backward beyond those alive before it (inputs excluded),
from the torch profiler's memory timeline on CPU (torch.cuda.max_memory_allocated on CUDA).
benchmarks/gpu_run.py times all implementations of a case in one rotation (run_case without
``only``), on CUDA, where the cost is kernels, not the CPU caches.

    python benchmarks/bench_infonce.py [--device cpu] [--threads 1] [--processes 5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from common import environment, peak_memory_bytes, time_interleaved, write_results

from clustertheory.losses import infonce
from clustertheory.utils import resolve_device

ROOT = Path(__file__).resolve().parents[1]
TEMPERATURE = 0.1
EXPLICIT_SIZES = [(64, 16, 64), (256, 64, 128), (1024, 256, 64), (4096, 64, 32)]
IN_BATCH_SIZES = [(64, 128), (256, 128), (1024, 128), (4096, 128)]


def lightly_ntxent():
    """lightly's NTXentLoss class, or None. lightly 1.6 imports torchvision from its package
    __init__; without torchvision the loss file is loaded the way the peer cross-check tests
    load it (tests/losses/test_peer_crosschecks.py)."""
    try:
        import lightly.loss as loss_package

        return loss_package.NTXentLoss
    except ModuleNotFoundError as error:
        if error.name == "lightly":
            return None
        if error.name != "torchvision":
            raise
    sys.path.insert(0, str(ROOT))
    from tests.losses.test_peer_crosschecks import _load_lightly_files

    return _load_lightly_files().NTXentLoss


def plain_explicit(a, p, n):
    a, p, n = F.normalize(a, dim=-1), F.normalize(p, dim=-1), F.normalize(n, dim=-1)
    logits = torch.cat([(a * p).sum(-1, keepdim=True), torch.einsum("bd,bkd->bk", a, n)], dim=1) / TEMPERATURE
    return (torch.logsumexp(logits, dim=1) - logits[:, 0]).mean()


def plain_in_batch(a, p):
    logits = F.normalize(a, dim=-1) @ F.normalize(p, dim=-1).T / TEMPERATURE
    return F.cross_entropy(logits, torch.arange(a.shape[0], device=a.device))


def plain_nt_xent(a, p):
    B = a.shape[0]
    z = F.normalize(torch.cat([a, p]), dim=-1)
    logits = (z @ z.T / TEMPERATURE).masked_fill(torch.eye(2 * B, dtype=torch.bool, device=a.device), torch.finfo(z.dtype).min)
    targets = torch.cat([torch.arange(B, 2 * B), torch.arange(B)]).to(a.device)
    return F.cross_entropy(logits, targets)


def pml_explicit(loss_cls):
    def loss(a, p, n):
        B, K, d = n.shape
        anchors = torch.arange(B, device=a.device)
        negatives = 2 * B + torch.arange(B * K, device=a.device)
        indices = (anchors, anchors + B, anchors.repeat_interleave(K), negatives)
        return loss_cls(temperature=TEMPERATURE)(torch.cat([a, p, n.reshape(B * K, d)]), indices_tuple=indices)

    return loss


def pml_nt_xent(loss_cls):
    return lambda a, p: loss_cls(temperature=TEMPERATURE)(torch.cat([a, p]), torch.arange(a.shape[0], device=a.device).repeat(2))


def implementations(kind: str) -> dict[str, Callable | str]:
    """name -> loss function, or a string saying why it is not applicable / not installed."""
    try:
        from info_nce import info_nce
    except ImportError:
        info_nce = None
    try:
        from pytorch_metric_learning.losses import NTXentLoss as PmlNTXent
    except ImportError:
        PmlNTXent = None
    lightly = lightly_ntxent()
    missing = "not installed"
    if kind == "explicit":
        return {
            "ours": lambda a, p, n: infonce(a, p, n, temperature=TEMPERATURE),
            "info-nce": (lambda a, p, n: info_nce(a, p, n, temperature=TEMPERATURE, negative_mode="paired")) if info_nce else missing,
            "pml": pml_explicit(PmlNTXent) if PmlNTXent else missing,
            "lightly": "no per-anchor explicit-negative API (its memory bank shares negatives across anchors)",
            "plain": plain_explicit,
        }
    if kind == "in-batch":
        return {
            "ours": lambda a, p: infonce(a, p, temperature=TEMPERATURE),
            "info-nce": (lambda a, p: info_nce(a, p, temperature=TEMPERATURE)) if info_nce else missing,
            "pml": "no one-direction in-batch InfoNCE (its NTXentLoss is the symmetric NT-Xent: see nt-xent)",
            "lightly": "no one-direction in-batch InfoNCE (its NTXentLoss is the symmetric NT-Xent: see nt-xent)",
            "plain": plain_in_batch,
        }
    return {
        "ours": lambda a, p: infonce(a, p, temperature=TEMPERATURE, symmetric=True, same_view_negatives=True),
        "info-nce": "no NT-Xent (same-view negatives) option",
        "pml": pml_nt_xent(PmlNTXent) if PmlNTXent else missing,
        "lightly": (lambda a, p: lightly(temperature=TEMPERATURE)(a, p)) if lightly else missing,
        "plain": plain_nt_xent,
    }


def pml_estimate_bytes(kind: str, shape: tuple) -> float:
    """Rough float32 bytes PML allocates: its N x N matrix plus the (pairs x negatives) mask and
    the copies made from it (see pytorch_metric_learning NTXentLoss._compute_loss)."""
    if kind == "explicit":
        B, K, _ = shape
        return 4.0 * ((B * (K + 2)) ** 2 + 3 * B * B * K)
    B = shape[0]
    return 4.0 * (4 * B * B + 3 * (2 * B) * (4 * B * B))


def run_case(kind: str, shape: tuple, device, repeats: int, pml_limit: float, only: tuple[str, ...] | None = None, seed: int = 0) -> list[dict]:
    """Value, time and memory of the implementations of one case (those named in ``only``, or all),
    timed in one interleaved rotation (``seed`` shuffles its order); one row per implementation."""
    gen = torch.Generator().manual_seed(0)
    if kind == "explicit":
        B, K, d = shape
        tensors = [torch.randn(B, d, generator=gen), torch.randn(B, d, generator=gen), torch.randn(B, K, d, generator=gen)]
    else:
        B, d = shape
        tensors = [torch.randn(B, d, generator=gen), torch.randn(B, d, generator=gen)]
    inputs = [t.to(device).requires_grad_(True) for t in tensors]
    rows, steps = {}, {}
    for name, fn in implementations(kind).items():
        if only is not None and name not in only:
            continue
        row = {"kind": kind, "shape": list(shape), "implementation": name}
        if isinstance(fn, str):
            rows[name] = {**row, "status": "n/a", "reason": fn}
        elif name == "pml" and pml_estimate_bytes(kind, shape) > pml_limit:
            gb = pml_estimate_bytes(kind, shape) / 1e9
            rows[name] = {**row, "status": "skipped", "reason": f"estimated {gb:.1f} GB for its N x N matrix and pair mask (limit {pml_limit / 1e9:.1f} GB)"}
        else:
            rows[name] = row

            def step(fn=fn):
                for x in inputs:
                    x.grad = None
                value = fn(*inputs)
                value.backward()
                return value

            steps[name] = step
    values = {name: float(step().detach()) for name, step in steps.items()}
    load_before = os.getloadavg()[0]
    timings = time_interleaved(steps, device, repeats=repeats, seed=seed)
    load_after = os.getloadavg()[0]
    for name, timing in timings.items():
        cpu = timing["cpu_min_s"]
        rows[name].update({
            "status": "ok",
            "loss": values[name],
            "relative_difference_to_ours": abs(values[name] - values["ours"]) / abs(values["ours"]),
            "median_ms": round(1e3 * timing["median_s"], 3),
            "min_ms": round(1e3 * timing["min_s"], 3),
            "cpu_median_ms": None if cpu is None else round(1e3 * timing["cpu_median_s"], 3),
            "cpu_min_ms": None if cpu is None else round(1e3 * cpu, 3),
            "repeats": timing["repeats"],
            "peak_mib": round(peak_memory_bytes(steps[name], device) / 2**20, 2),
            "load_average_1min": [round(load_before, 2), round(load_after, 2)],
        })
        print(rows[name], flush=True)
    return list(rows.values())


def _run_pair_alone(kind: str, shape: tuple, device: str, threads: int, repeats: int, pml_limit: float, peer: str, seed: int) -> list[dict]:
    """run_case for ours and one peer in this (fresh) process, with its own thread setting."""
    torch.set_num_threads(threads)
    return run_case(kind, shape, resolve_device(device), repeats, pml_limit, only=("ours", peer), seed=seed)


def _spread(values: list[float]) -> dict:
    """Median and range of per-process ratios."""
    return {"median": round(statistics.median(values), 4), "lowest": round(min(values), 4), "highest": round(max(values), 4),
            "per_process": [round(v, 4) for v in values]}


def summarize_pairs(kind: str, shape: tuple, runs: dict[str, list[list[dict]]]) -> list[dict]:
    """One row per implementation of a case from its pair runs (peer -> one row list per process).

    A peer's times are medians over its processes; ``ours_over_peer`` holds the per-process
    ratios ours / peer of the minimum and of the median time (thread CPU time where measured,
    else wall time) and of the peak memory, with their median and range. Ours' row: medians of
    its times over every pair process of the case.
    """
    def median_of(rows, key):
        values = [r[key] for r in rows if r.get(key) is not None]
        return round(statistics.median(values), 3) if values else None

    out, ours_rows = [], []
    for peer, processes in runs.items():
        by_name = [{r["implementation"]: r for r in rows} for rows in processes]
        if by_name[0][peer]["status"] != "ok":
            out.append(by_name[0][peer])
            continue
        ours, theirs = [p["ours"] for p in by_name], [p[peer] for p in by_name]
        ours_rows += ours
        cpu = ours[0].get("cpu_min_ms") is not None
        fast, typical = ("cpu_min_ms", "cpu_median_ms") if cpu else ("min_ms", "median_ms")
        row = {key: theirs[0][key] for key in ("kind", "shape", "implementation", "status", "loss", "relative_difference_to_ours", "peak_mib")}
        row.update({key: median_of(theirs, key) for key in ("median_ms", "min_ms", "cpu_median_ms", "cpu_min_ms")})
        row.update({
            "processes": len(theirs),
            "rounds": [r["repeats"] for r in theirs],
            "ours_in_pair": {key: median_of(ours, key) for key in ("median_ms", "min_ms", "cpu_median_ms", "cpu_min_ms")},
            "ratio_time": "thread CPU time" if cpu else "wall time",
            "ours_over_peer": {
                "minimum_time": _spread([o[fast] / t[fast] for o, t in zip(ours, theirs)]),
                "median_time": _spread([o[typical] / t[typical] for o, t in zip(ours, theirs)]),
                "peak_memory": round(ours[0]["peak_mib"] / theirs[0]["peak_mib"], 3) if theirs[0]["peak_mib"] else None,
            },
            "load_average_1min": [theirs[0]["load_average_1min"][0], theirs[-1]["load_average_1min"][1]],
        })
        out.append(row)
    if ours_rows:
        ours = {key: ours_rows[0][key] for key in ("kind", "shape", "implementation", "status", "loss", "peak_mib")}
        ours.update({key: median_of(ours_rows, key) for key in ("median_ms", "min_ms", "cpu_median_ms", "cpu_min_ms")})
        out.insert(0, {**ours, "processes": len(ours_rows)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the machine is shared)")
    parser.add_argument("--repeats", type=int, default=20, help="at least this many rounds per pair and process")
    parser.add_argument("--processes", type=int, default=5, help="fresh processes per (case, peer) pair; ratios are reported as their median and range")
    parser.add_argument("--pml-limit-gb", type=float, default=1.5, help="skip PML where its estimated memory exceeds this")
    parser.add_argument("--quick", action="store_true", help="only the smallest size of each kind")
    parser.add_argument("--output", default="infonce")
    args = parser.parse_args()
    if args.processes < 1:
        parser.error(f"--processes must be >= 1, got {args.processes}")
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cases = [("explicit", s) for s in EXPLICIT_SIZES] + [(k, s) for s in IN_BATCH_SIZES for k in ("in-batch", "nt-xent")]
    if args.quick:
        cases = [("explicit", EXPLICIT_SIZES[0]), ("in-batch", IN_BATCH_SIZES[0]), ("nt-xent", IN_BATCH_SIZES[0])]
    context = multiprocessing.get_context("spawn")
    rows = []
    for kind, shape in cases:
        runs = {}
        for peer in (name for name in implementations(kind) if name != "ours"):
            runs[peer] = []
            for process in range(args.processes):
                with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                    pair = pool.submit(_run_pair_alone, kind, shape, args.device, args.threads, args.repeats, args.pml_limit_gb * 1e9, peer, process).result()
                runs[peer].append(pair)
                if any(r["implementation"] == peer and r["status"] != "ok" for r in pair):
                    break  # not applicable or skipped: nothing to repeat
        rows += summarize_pairs(kind, shape, runs)
        print(json.dumps(rows[-len(runs) - 1:]), flush=True)
    payload = {
        "benchmark": "InfoNCE forward + backward against peers and the plain einsum / cross-entropy computation",
        "method": {
            "dtype": "float32", "temperature": TEMPERATURE, "similarity": "cosine",
            "time": f"forward + backward of ours and one peer at a time, each pair in {args.processes} fresh processes, the two "
                    "interleaved in a shuffled order per round (at least --repeats rounds and 5 s, at most 60 s, after 1 warm-up "
                    "call each); wall and thread CPU time (time.thread_time), median and minimum; ratios ours / peer per process, "
                    "reported as median and range over the processes",
            "memory": "peak bytes of torch tensors allocated during one forward + backward beyond those alive before "
                      "(torch.profiler memory timeline, profile_memory=True, on CPU; max_memory_allocated on CUDA)",
        },
        "peers": peer_versions(),
        "environment": environment(device, args.threads),
        "rows": rows,
    }
    print("wrote", write_results(args.output, payload))


def peer_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("lightly", "pytorch-metric-learning", "info-nce-pytorch"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


if __name__ == "__main__":
    main()
