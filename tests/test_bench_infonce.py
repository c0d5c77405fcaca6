"""benchmarks/bench_infonce.py: the pairwise protocol's bookkeeping (ratios per process, their
median and range) and one real pair at a toy size."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_infonce  # noqa: E402


def _row(name, cpu_min, cpu_median, peak=1.0, repeats=10):
    return {"kind": "in-batch", "shape": [4, 3], "implementation": name, "status": "ok", "loss": 1.0, "relative_difference_to_ours": 0.0,
            "median_ms": cpu_median, "min_ms": cpu_min, "cpu_median_ms": cpu_median, "cpu_min_ms": cpu_min, "repeats": repeats,
            "peak_mib": peak, "load_average_1min": [0.5, 0.7]}


def test_summarize_pairs_forms_one_ratio_per_process():
    processes = [[_row("ours", 1.0, 2.0, peak=0.5), _row("peer", 2.0, 2.0)],
                 [_row("ours", 3.0, 3.0, peak=0.5), _row("peer", 2.0, 6.0)],
                 [_row("ours", 1.0, 1.0, peak=0.5), _row("peer", 4.0, 4.0)]]
    skipped = [[_row("ours", 1.0, 1.0), {"kind": "in-batch", "shape": [4, 3], "implementation": "other", "status": "n/a", "reason": "none"}]]
    ours, peer, other = bench_infonce.summarize_pairs("in-batch", (4, 3), {"peer": processes, "other": skipped})
    ratios = peer["ours_over_peer"]
    assert ratios["minimum_time"]["per_process"] == [0.5, 1.5, 0.25]
    assert ratios["minimum_time"] | {"per_process": None} == {"median": 0.5, "lowest": 0.25, "highest": 1.5, "per_process": None}
    assert ratios["median_time"]["median"] == 0.5 and ratios["peak_memory"] == 0.5
    assert peer["cpu_min_ms"] == 2.0 and peer["processes"] == 3 and peer["ours_in_pair"]["cpu_min_ms"] == 1.0
    assert other["status"] == "n/a" and ours["implementation"] == "ours" and ours["processes"] == 3


def test_run_case_times_only_the_named_pair():
    rows = bench_infonce.run_case("in-batch", (8, 4), torch.device("cpu"), repeats=2, pml_limit=0.0, only=("ours", "plain"), seed=1)
    by_name = {r["implementation"]: r for r in rows}
    assert set(by_name) == {"ours", "plain"}
    assert by_name["plain"]["relative_difference_to_ours"] == pytest.approx(0.0, abs=1e-6) and by_name["ours"]["cpu_min_ms"] > 0
