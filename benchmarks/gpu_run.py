"""The parts of the GPU run (``benchmarks/gpu.sh``), each time-boxed, each writing as it goes.

    python benchmarks/gpu_run.py env        --out DIR [--smoke]
    python benchmarks/gpu_run.py training   --out DIR --budget S [--smoke]
    python benchmarks/gpu_run.py infonce    --out DIR --budget S [--smoke]
    python benchmarks/gpu_run.py reproduce  --out DIR --budget S [--smoke] [--jobs N]
    python benchmarks/gpu_run.py summary    --out DIR

env        device, versions, and the device's copy bandwidth (bytes read + written per second
           by a large device-to-device copy): the memory-bandwidth floor of the loss benchmark.
training   batched vs sequential training, the phase-diagram workload of
           bench_batched_training.py (300 steps, V = 48 views), at E = 1, 8, 64, 512, 4096.
           Sequential time per model does not depend on E, so it is measured once, on a few
           models per variant before and after the batched passes, and multiplied by E.
infonce    bench_infonce.py's implementations (ours, info-nce-pytorch, pytorch-metric-learning,
           lightly, the plain einsum + logsumexp computation) at GPU-sized shapes; each explicit-K case also
           gets its memory-bandwidth floor: the bytes a fused forward + backward must move
           (read a, p, n once, write their gradients once: 2 x 4 (2 B d + B K d) bytes) over the
           measured copy bandwidth.
reproduce  ``clustertheory reproduce --scale paper --device cuda`` (every simulation; ``--jobs``
           worker processes share the GPU) until the time box ends; its event log gives every
           finished simulation's wall time and, for the unfinished, the stage and units reached.
summary    GPU_SUMMARY.md: every number against its target.

Every part writes its results file after each measurement, so a part stopped by its time box
(gpu.sh runs each under ``timeout``) keeps what it measured. ``--smoke`` runs the same code on
the CPU at toy sizes (the reproduce part over two toy simulations), in about a minute.
Results files follow the CPU benchmarks' layout (``benchmarks/results/<name>.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

TARGET_SPEEDUP = 300.0  # batched over sequential at E = 512 on an H100/H200
TARGET_FLOOR_RATIO = 2.0  # explicit-K InfoNCE forward + backward within 2x of the memory-bandwidth floor
TARGET_FIGURE_S = 600.0  # every figure at paper scale in under 10 minutes


def write_json(path: Path, payload: dict) -> None:
    """Write atomically, so a part killed mid-write leaves the previous version."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def device_for(smoke: bool):
    import torch

    if smoke:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible to torch: run gpu.sh --smoke for the CPU check")
    return torch.device("cuda")


# ----------------------------------------------------------------------------- env


def copy_bandwidth(device, megabytes: int, repeats: int = 10) -> float:
    """Bytes read + written per second by a device-to-device copy of ``megabytes`` MB (median)."""
    import statistics

    import torch
    from common import synchronize

    source = torch.empty(megabytes * 2**20 // 4, dtype=torch.float32, device=device).uniform_()
    target = torch.empty_like(source)
    target.copy_(source)
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        target.copy_(source)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return 2 * source.numel() * 4 / statistics.median(times)


def part_env(out: Path, smoke: bool) -> None:
    import torch
    from bench_infonce import peer_versions
    from common import environment

    device = device_for(smoke)
    env = environment(device, torch.get_num_threads())
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env["gpu_name"] = props.name
        env["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        env["gpu_multiprocessors"] = props.multi_processor_count
        env["torch_cuda"] = torch.version.cuda
    try:
        env["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version,clocks.max.sm", "--format=csv,noheader"],
                                           capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        env["nvidia_smi"] = None
    env["copy_bandwidth_bytes_per_s"] = copy_bandwidth(device, 64 if smoke else 4096)
    env["peers"] = peer_versions()
    env["mode"] = "smoke (CPU, toy sizes)" if smoke else "gpu"
    write_json(out / "environment.json", env)
    print(json.dumps({k: env[k] for k in ("device", "gpu", "copy_bandwidth_bytes_per_s", "peers")}, default=str), flush=True)


def load_env(out: Path) -> dict:
    path = out / "environment.json"
    return json.loads(path.read_text()) if path.exists() else {}


# ----------------------------------------------------------------------------- training


def part_training(out: Path, budget: float, smoke: bool) -> None:
    import torch
    from bench_batched_training import BANDWIDTH, LEAKS, batched_seconds, members, sequential_per_model
    from common import environment

    from clustertheory.data import comb_dataset
    from clustertheory.training import TrainConfig

    deadline = time.perf_counter() + budget
    margin = min(20.0, 0.2 * budget)  # no new E this close to the end of the box
    device = device_for(smoke)
    steps = 10 if smoke else 300
    sizes = [1, 4] if smoke else [1, 8, 64, 512, 4096]
    timed = 1 if smoke else 3
    config = TrainConfig(steps=steps, batch_size=128, num_negatives=16, log_every=max(1, steps // 3))
    datasets = [comb_dataset(4, 4, 3, leak=leak) for leak in LEAKS]
    payload = {
        "benchmark": "batched vs sequential training, phase-diagram workload",
        "workload": {
            "data": f"comb_dataset(4, 4, 3, leak) for leak in {LEAKS} (V = 48)",
            "function_class": f"band-limited, bandwidth {BANDWIDTH}",
            "dim": 2,
            "train_config": {"steps": steps, "batch_size": 128, "num_negatives": 16, "log_every": config.log_every},
            "members": "seed x leak, one dataset per leak (MemberPairSampler path)",
        },
        "method": (
            "wall time of whole trainings (model build, sampling, forward, backward, optimiser, evaluations), CUDA "
            f"synchronised; sequential per-model time measured once on {timed} models per variant before and {timed} after "
            "the batched passes (it does not depend on E), averaged and multiplied by E"
        ),
        "environment": environment(device, torch.get_num_threads()),
        "rows": [],
        "skipped": [],
    }
    path = out / f"batched_training_{device.type}.json"
    write_json(path, payload)  # a part stopped before its first measurement still says what it was
    warm = members(2, TrainConfig(steps=5, log_every=5), datasets)
    for table in (False, True):  # first calls pay for CUDA context, kernels and allocator
        batched_seconds(warm, 2, device, table)
        sequential_per_model(warm, 2, device, table)
    first = members(timed, config, datasets)
    before = {table: sequential_per_model(first, 2, device, table)[0] for table in (False, True)}  # wall time: on a GPU the work is not on this thread
    payload["sequential_s_per_model_before"] = {"train": before[False], "table": before[True]}
    write_json(path, payload)
    batched: dict[int, tuple[float, float]] = {}
    for size in sizes:
        if time.perf_counter() > deadline - margin:
            payload["skipped"].append({"E": size, "reason": "time box reached"})
            continue
        batch = members(size, config, datasets)
        table_s = batched_seconds(batch, 2, device, table=True)[0]
        rows_s = batched_seconds(batch, 2, device, table=False)[0] if time.perf_counter() < deadline - margin else float("nan")
        batched[size] = (rows_s, table_s)
        payload["rows"] = _training_rows(batched, before, steps, timed)
        write_json(path, payload)
        print(payload["rows"][-1], flush=True)
    after = {table: sequential_per_model(members(timed, config, datasets)[::-1], 2, device, table)[0] for table in (False, True)}
    payload["sequential_s_per_model_after"] = {"train": after[False], "table": after[True]}
    per_model = {table: (before[table] + after[table]) / 2 for table in (False, True)}
    payload["rows"] = _training_rows(batched, per_model, steps, 2 * timed)
    write_json(path, payload)
    print("wrote", path, flush=True)


def _training_rows(batched: dict, per_model: dict, steps: int, timed: int) -> list[dict]:
    rows = []
    for size, (rows_s, table_s) in batched.items():
        rows.append({
            "E": size,
            "sequential_models_timed": timed,
            "sequential_s_per_model": round(per_model[False], 4),
            "sequential_train_s": round(per_model[False] * size, 3),
            "sequential_table_s": round(per_model[True] * size, 3),
            "batched_rows_s": round(rows_s, 3),
            "batched_table_s": round(table_s, 3),
            "speedup_batched_table_vs_sequential_train": round(per_model[False] * size / table_s, 2),
            "speedup_batched_rows_vs_sequential_train": round(per_model[False] * size / rows_s, 2),
            "speedup_batched_table_vs_sequential_table": round(per_model[True] * size / table_s, 2),
            "batched_table_model_steps_per_s": round(size * steps / table_s, 1),
            "load_average_1min": round(os.getloadavg()[0], 2),
        })
    return rows


# ----------------------------------------------------------------------------- infonce

GPU_EXPLICIT = [(4096, 64, 32), (4096, 256, 128), (16384, 256, 128), (65536, 64, 128)]
GPU_IN_BATCH = [(4096, 128), (16384, 128)]


def robust(loader):
    """``loader`` (bench_infonce's lightly loader), returning None where lightly does not import at all."""

    def load():
        try:
            return loader()
        except Exception as error:  # a peer that does not import must not stop the benchmark
            print(f"lightly unavailable: {error!r}", flush=True)
            return None

    return load


def explicit_floor_s(shape: tuple, bandwidth: float) -> float:
    """Seconds to read a, p (B, d) and n (B, K, d) once and write their gradients once (float32)."""
    B, K, d = shape
    return 2 * 4 * (2 * B * d + B * K * d) / bandwidth


def part_infonce(out: Path, budget: float, smoke: bool) -> None:
    import bench_infonce
    import torch
    from common import environment

    deadline = time.perf_counter() + budget
    margin = min(10.0, 0.2 * budget)
    device = device_for(smoke)
    bench_infonce.lightly_ntxent = robust(bench_infonce.lightly_ntxent)
    bandwidth = load_env(out).get("copy_bandwidth_bytes_per_s")
    if smoke:
        cases = [("explicit", bench_infonce.EXPLICIT_SIZES[0]), ("in-batch", bench_infonce.IN_BATCH_SIZES[0]), ("nt-xent", bench_infonce.IN_BATCH_SIZES[0])]
    else:
        cases = [("explicit", s) for s in GPU_EXPLICIT] + [(k, s) for s in GPU_IN_BATCH for k in ("in-batch", "nt-xent")]
    payload = {
        "benchmark": "InfoNCE forward + backward against peers, the plain einsum + logsumexp computation and the memory-bandwidth floor",
        "method": {
            "dtype": "float32", "temperature": bench_infonce.TEMPERATURE, "similarity": "cosine",
            "time": "median wall time of forward + backward over up to 10 calls after 1 warm-up, CUDA synchronised",
            "memory": "torch.cuda.max_memory_allocated during one forward + backward beyond what was held before",
            "bandwidth_floor": "explicit K: 2 x 4 (2 B d + B K d) bytes (inputs read once, their gradients written once) "
                               "over the copy bandwidth measured in environment.json",
        },
        "copy_bandwidth_bytes_per_s": bandwidth,
        "peers": bench_infonce.peer_versions(),
        "environment": environment(device, torch.get_num_threads()),
        "rows": [],
        "skipped": [],
    }
    path = out / f"infonce_{device.type}.json"
    write_json(path, payload)  # a part stopped before its first measurement still says what it was
    for kind, shape in cases:
        if time.perf_counter() > deadline - margin:
            payload["skipped"].append({"kind": kind, "shape": list(shape), "reason": "time box reached"})
            continue
        rows = bench_infonce.run_case(kind, shape, device, repeats=2 if smoke else 10, pml_limit=(1.5 if smoke else 40.0) * 1e9)
        if kind == "explicit" and bandwidth:
            floor_ms = 1e3 * explicit_floor_s(shape, bandwidth)
            for row in rows:
                if row["status"] == "ok":
                    row["bandwidth_floor_ms"] = round(floor_ms, 4)
                    row["time_over_bandwidth_floor"] = round(row["min_ms"] / floor_ms, 2)
        payload["rows"] += rows
        write_json(path, payload)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print("wrote", path, flush=True)


# ----------------------------------------------------------------------------- reproduce


def part_reproduce(out: Path, budget: float, smoke: bool, jobs: int) -> None:
    """Run the reproduction in a child process; stop it at the time box; keep what it wrote."""
    work = out / "reproduce"
    work.mkdir(parents=True, exist_ok=True)
    events = work / "events.jsonl"
    events.unlink(missing_ok=True)
    if smoke:
        code = (
            "import sys; sys.path.insert(0, {toys!r}); import toy_alpha, toy_beta\n"
            "from clustertheory.reproduce import reproduce\n"
            "reproduce([toy_alpha, toy_beta], jobs=1, options={{'scale': 'paper', 'device': 'cpu', 'results_dir': {res!r}, "
            "'figures_dir': {fig!r}}}, interactive=False, event_log={ev!r})\n"
        ).format(toys=str(ROOT / "tests" / "toy_simulations"), res=str(work / "results"), fig=str(work / "figures"), ev=str(events))
        command = [sys.executable, "-c", code]
    else:
        command = [sys.executable, "-m", "clustertheory.cli", "reproduce", "--scale", "paper", "--device", "cuda", "--jobs", str(jobs),
                   "--results-dir", str(work / "results"), "--figures-dir", str(work / "figures"), "--event-log", str(events)]
    start = time.perf_counter()
    with open(work / "reproduce.log", "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            returncode = process.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 15)  # the worker processes too
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
            returncode = None
    wall = time.perf_counter() - start
    summarise_reproduce(out, events, wall, returncode, budget, jobs, smoke)


def summarise_reproduce(out: Path, events: Path, wall: float, returncode, budget: float, jobs: int, smoke: bool) -> dict:
    """Per simulation: wall time if it finished; stage and units reached if the time box stopped it."""
    jobs = 1 if smoke else jobs
    records = [json.loads(line) for line in events.read_text().splitlines() if line.strip()] if events.exists() else []
    simulations: dict[str, dict] = {}
    for record in records:
        entry = simulations.setdefault(record["name"], {"name": record["name"], "finished": False})
        if record["event"] == "start":
            entry["started_at_s"] = record["t"]
        elif record["event"] == "progress":
            entry.update(stage=record["stage"], units_done=record["done"], units_total=record["total"], last_progress_at_s=record["t"])
        elif record["event"] == "end":
            entry.update(finished=record["error"] is None, error=record["error"], wall_s=record["elapsed_s"], cpu_s=record["cpu_s"],
                         package_passed=record["package_passed"], claims=record["claims"])
    for entry in simulations.values():
        if not entry["finished"] and "started_at_s" in entry:
            entry["running_for_s_at_cutoff"] = round(wall - entry["started_at_s"], 1)
    payload = {
        "benchmark": "clustertheory reproduce --scale paper --device cuda" if not smoke else "reproduce over two toy simulations (smoke, CPU)",
        "jobs": jobs,
        "time_box_s": budget,
        "wall_s": round(wall, 1),
        "stopped_by_time_box": returncode is None,
        "returncode": returncode,
        "target": f"every figure at paper scale in under {TARGET_FIGURE_S:.0f} s on one GPU (simulations here share the GPU {jobs} at a time)",
        "simulations": sorted(simulations.values(), key=lambda e: e.get("started_at_s", 1e9)),
    }
    write_json(out / f"reproduce_paper_{'cpu' if smoke else 'cuda'}.json", payload)
    with tarfile.open(out / "reproduce.tar.gz", "w:gz") as archive:  # results, figures, page, log, events: one file back
        archive.add(events.parent, arcname="reproduce")
    print(json.dumps({k: payload[k] for k in ("wall_s", "stopped_by_time_box", "returncode")}), flush=True)
    return payload


# ----------------------------------------------------------------------------- summary


def part_summary(out: Path) -> None:
    lines = ["# GPU run", ""]
    env = load_env(out)
    if env:
        lines += [f"Device: {env.get('gpu_name') or env.get('device')} ({env.get('nvidia_smi') or 'no nvidia-smi'}); "
                  f"torch {env.get('torch')} (CUDA {env.get('torch_cuda')}), python {env.get('python')}; mode {env.get('mode')}; "
                  f"copy bandwidth {env.get('copy_bandwidth_bytes_per_s', 0) / 1e9:.1f} GB/s (read + write); peers {env.get('peers')}.", ""]
    for kind in ("cuda", "cpu"):
        training = out / f"batched_training_{kind}.json"
        if training.exists():
            result = json.loads(training.read_text())
            lines += ["## Batched vs sequential training", "", "| E | sequential s | batched (table) s | speedup | batched (rows) s | speedup rows |", "|---|---|---|---|---|---|"]
            lines += [f"| {r['E']} | {r['sequential_train_s']} | {r['batched_table_s']} | {r['speedup_batched_table_vs_sequential_train']} | "
                      f"{r['batched_rows_s']} | {r['speedup_batched_rows_vs_sequential_train']} |" for r in result["rows"]]
            at512 = [r for r in result["rows"] if r["E"] == 512]
            verdict = ("met" if at512[0]["speedup_batched_table_vs_sequential_train"] >= TARGET_SPEEDUP else "NOT met") if at512 else "not measured"
            lines += ["", f"Target >= {TARGET_SPEEDUP:.0f}x at E = 512: {verdict}. Skipped: {result.get('skipped') or 'none'}.", ""]
        infonce = out / f"infonce_{kind}.json"
        if infonce.exists():
            result = json.loads(infonce.read_text())
            lines += ["## InfoNCE forward + backward", "", "| kind | shape | implementation | min ms | peak MiB | ours / this | time / bandwidth floor |", "|---|---|---|---|---|---|---|"]
            ok = [r for r in result["rows"] if r["status"] == "ok"]
            for r in result["rows"]:
                shape = "x".join(map(str, r["shape"]))
                if r["status"] != "ok":
                    lines.append(f"| {r['kind']} | {shape} | {r['implementation']} | {r['status']}: {r['reason']} | | | |")
                    continue
                ours = next((o for o in ok if o["kind"] == r["kind"] and o["shape"] == r["shape"] and o["implementation"] == "ours"), None)
                ratio = f"{ours['min_ms'] / r['min_ms']:.2f}" if ours else ""
                lines.append(f"| {r['kind']} | {shape} | {r['implementation']} | {r['min_ms']} | {r['peak_mib']} | {ratio} | {r.get('time_over_bandwidth_floor', '')} |")
            explicit = [r for r in ok if r["kind"] == "explicit"]
            peers_beaten = all(o["min_ms"] <= r["min_ms"] for o in explicit if o["implementation"] == "ours"
                               for r in explicit if r["shape"] == o["shape"] and r["implementation"] not in ("ours", "plain"))
            floor_ok = all(o.get("time_over_bandwidth_floor", float("inf")) <= TARGET_FLOOR_RATIO for o in explicit if o["implementation"] == "ours")
            measured = any(o["implementation"] == "ours" for o in explicit)
            beaten = ("met" if peers_beaten else "NOT met") if measured else "not measured"
            floor = ("met" if floor_ok else "NOT met") if measured else "not measured"
            lines += ["", f"Targets (explicit K): faster than every peer at equal work: {beaten}; "
                          f"within {TARGET_FLOOR_RATIO:.0f}x of the memory-bandwidth floor at every shape: {floor}. "
                          f"Skipped: {result.get('skipped') or 'none'}.", ""]
        reproduce = out / f"reproduce_paper_{kind}.json"
        if reproduce.exists():
            result = json.loads(reproduce.read_text())
            lines += ["## reproduce --scale paper", "", f"{result['benchmark']}; {result['jobs']} at a time; time box {result['time_box_s']:.0f} s; "
                      f"wall {result['wall_s']} s; stopped by the time box: {result['stopped_by_time_box']}.", "",
                      "| simulation | finished | wall s | package | claims | reached (unfinished) |", "|---|---|---|---|---|---|"]
            for s in result["simulations"]:
                reached = "" if s["finished"] else f"{s.get('stage', '?')} {s.get('units_done', '?')}/{s.get('units_total', '?')} after {s.get('running_for_s_at_cutoff', '?')} s"
                package = "" if not s["finished"] else ("PASS" if s.get("package_passed") else "FAIL")
                claims = ", ".join(f"{n} {k}" for k, n in (s.get("claims") or {}).items() if n)
                lines.append(f"| {s['name']} | {s['finished']} | {s.get('wall_s', '')} | {package} | {claims} | {reached} |")
            lines += ["", f"Target: {result['target']}.", ""]
    (out / "GPU_SUMMARY.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("env", "training", "infonce", "reproduce", "summary"))
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--budget", type=float, default=120.0, help="seconds this part may take")
    parser.add_argument("--smoke", action="store_true", help="CPU, toy sizes")
    parser.add_argument("--jobs", type=int, default=4, help="reproduce: simulations side by side")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.part == "env":
        part_env(args.out, args.smoke)
    elif args.part == "training":
        part_training(args.out, args.budget, args.smoke)
    elif args.part == "infonce":
        part_infonce(args.out, args.budget, args.smoke)
    elif args.part == "reproduce":
        part_reproduce(args.out, args.budget, args.smoke, args.jobs)
    else:
        part_summary(args.out)


if __name__ == "__main__":
    main()
