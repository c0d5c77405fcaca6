"""Write benchmarks/results/SUMMARY.md from the results files and the simulations' scales.

    python benchmarks/summarize.py
"""

from __future__ import annotations

import dataclasses
import json

from common import NO_GPU, RESULTS

from clustertheory.simulation import discover


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _environment_line(env: dict) -> str:
    return (
        f"{env['date']}; device {env['device']} ({env['cpu']}, {env['cpu_count']} cores, "
        f"{env['torch_threads']} torch thread(s)); torch {env['torch']}, python {env['python']}; "
        f"load average {env['load_average_1_5_15_min']} (1/5/15 min), nice {env['nice']}"
    )


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(map(str, r)) + " |" for r in rows]


def training_section(result: dict) -> list[str]:
    lines = ["## Batched vs sequential training (phase-diagram workload)", "", _environment_line(result["environment"]), ""]
    lines += [f"Workload: {json.dumps(result['workload'])}", "", f"Method: {result['method']}.", ""]
    header = ["E", "one train() s", "sequential train() s", "batched (rows) s", "batched (table) s", "speedup rows", "speedup table", "speedup table vs seq. table", "model-steps/s (table)", "load (1 min)"]
    for title, clock in (("Wall time:", ""), ("Thread CPU time (less inflated by other processes):", "cpu_")):
        if f"{clock}sequential_s_per_model" not in result["rows"][0]:
            continue
        rows = [
            [r["E"], r[f"{clock}sequential_s_per_model"], r[f"{clock}sequential_train_s"], r[f"{clock}batched_rows_s"], r[f"{clock}batched_table_s"],
             r[f"{clock}speedup_batched_rows_vs_sequential_train"], r[f"{clock}speedup_batched_table_vs_sequential_train"],
             r[f"{clock}speedup_batched_table_vs_sequential_table"], r[f"{clock}batched_table_model_steps_per_s"], r["load_average_1min"]]
            for r in result["rows"]
        ]
        lines += [title, ""] + _table(header, rows) + [""]
    return lines


def _ratio(spread: dict) -> str:
    return f"{spread['median']:.2f} [{spread['lowest']:.2f}, {spread['highest']:.2f}]"


def infonce_section(result: dict) -> list[str]:
    lines = ["## InfoNCE forward + backward (float32)", "", _environment_line(result["environment"]), ""]
    lines += [f"Peers: {json.dumps(result['peers'])}. Time: {result['method']['time']}. Memory: {result['method']['memory']}.", ""]
    rows = []
    for r in result["rows"]:
        shape = "x".join(map(str, r["shape"]))
        if r["status"] == "ok":
            rows.append([r["kind"], shape, r["implementation"], r["median_ms"], r["min_ms"], r["cpu_median_ms"], r["cpu_min_ms"], r["processes"],
                         r["peak_mib"], f"{r['relative_difference_to_ours']:.1e}" if "relative_difference_to_ours" in r else ""])
        else:
            rows.append([r["kind"], shape, r["implementation"], r["status"], "", "", "", "", "", r["reason"]])
    header = ["kind", "shape (B,K,d) / (B,d)", "implementation", "wall median ms", "wall min ms", "CPU median ms", "CPU min ms", "processes", "peak MiB", "rel. diff. to ours"]
    lines += _table(header, rows)
    lines += [
        "",
        "Ours relative to each peer, from the rounds in which the two ran interleaved (pairs, one peer at a time); > 1 means",
        "ours is slower. Per process the ratio of the minimum and of the median time over the rounds (thread CPU time where",
        "measured, else wall time); shown as the median over the processes [lowest, highest].",
        "",
    ]
    ratios = [
        [r["kind"], "x".join(map(str, r["shape"])), r["implementation"], r["ours_in_pair"]["cpu_min_ms"] or r["ours_in_pair"]["min_ms"],
         r["cpu_min_ms"] or r["min_ms"], _ratio(r["ours_over_peer"]["minimum_time"]), _ratio(r["ours_over_peer"]["median_time"]),
         r["ours_over_peer"]["peak_memory"] or "", r["load_average_1min"]]
        for r in result["rows"] if "ours_over_peer" in r
    ]
    header = ["kind", "shape", "peer", "ours min ms", "peer min ms", "ours/peer, minimum time", "ours/peer, median time", "memory ours/peer", "load (1 min) first, last"]
    return lines + _table(header, ratios) + [""]


def exact_section(result: dict) -> list[str]:
    lines = ["## Exact population loss", "", _environment_line(result["environment"]), ""]
    verdict = "met" if result["all_auto_under_target"] else "NOT met"
    lines += [f"Target: {result['target']}: {verdict} (slowest 'auto' case {result['slowest_auto_s']:.4f} s). {result['method']}.", ""]
    rows = [[r["d"], r["l"], r["codes"], r["method"], r["views"], r["median_s"], f"{r['loss']:.6f}"] for r in result["rows"] if r["method"] == "auto"]
    lines += _table(["d", "l", "codes", "method", "views", "median s", "loss"], rows)
    return lines + [""]


def _short(value) -> str:
    if isinstance(value, tuple) and len(value) > 4:
        return f"({value[0]}, {value[1]}, ..., {value[-1]}: {len(value)} values)"
    return str(value)


def phase_diagram_section(result: dict) -> list[str]:
    lines = ["## Phase-diagram simulation end to end", "", _environment_line(result["environment"]), ""]
    lines += [f"{result['benchmark']}: speedup {result['speedup']}x.", ""]
    rows = [[r["layout"], r["wall_s"], r["verdict"], r["cells"], r["load_average_1min"]] for r in result["rows"]]
    return lines + _table(["layout", "wall s", "verdict", "cells", "load (1 min)"], rows) + [""]


def reproduce_section(result: dict) -> list[str]:
    lines = ["## `clustertheory reproduce` end to end", "", _environment_line(result["environment"]), ""]
    targets = result["targets"]
    lines += [f"{result['benchmark']}. Targets: total under {targets['total_wall_s']:.0f} s wall, every simulation under "
              f"{targets['per_simulation_wall_s']:.0f} s ({targets['applies_to']}). Before issue 14: "
              f"{result['before_issue_14']['total_wall_s']} s ({result['before_issue_14']['note']}).", ""]
    rows = [[r["jobs"], r["total_wall_s"], r["sum_of_simulation_cpu_s"], f"{r['slowest_simulation']} ({r['slowest_wall_s']} s)",
             r["exit_code"], f"{r['load_average_1min_before']} -> {r['load_average_1min_after']}"] for r in result["rows"]]
    lines += _table(["--jobs", "total wall s", "sum of simulations' CPU s", "slowest simulation", "exit", "load (1 min)"], rows) + [""]
    names = sorted({name for r in result["rows"] for name in r["simulations"]})
    header = ["simulation"] + [f"wall s (jobs {r['jobs']})" for r in result["rows"]] + [f"CPU s (jobs {r['jobs']})" for r in result["rows"]]
    per = [[name] + [r["simulations"].get(name, {}).get("wall_s", "") for r in result["rows"]]
           + [r["simulations"].get(name, {}).get("cpu_s", "") for r in result["rows"]] for name in names]
    return lines + _table(header, per) + [""]


def scales_section() -> list[str]:
    lines = ["## Simulation scales (`clustertheory run NAME --scale S`)", ""]
    lines += ["Paper-scale GPU timings are not recorded here.", ""]
    rows = []
    for name, module in discover().items():
        default = module.SCALES["default"]
        for scale, config in module.SCALES.items():
            changed = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if getattr(config, f.name) != getattr(default, f.name)}
            rows.append([name, scale, ", ".join(f"{k}={_short(v)}" for k, v in changed.items()) or "(the default settings)"])
    return lines + _table(["simulation", "scale", "settings that differ from default"], rows) + [""]


def main() -> None:
    lines = ["# Benchmark summary", "", f"**GPU:** {NO_GPU}", "", "Generated by `python benchmarks/summarize.py` from benchmarks/results/*.json.", ""]
    sections = (
        ("batched_training", training_section),
        ("reproduce", reproduce_section),
        ("phase_diagram", phase_diagram_section),
        ("infonce", infonce_section),
        ("exact_loss", exact_section),
    )
    for name, section in sections:
        result = _load(name)
        lines += section(result) if result else [f"## {name}", "", "not run yet", ""]
    lines += scales_section()
    (RESULTS / "SUMMARY.md").write_text("\n".join(lines))
    print("wrote", RESULTS / "SUMMARY.md")


if __name__ == "__main__":
    main()
