"""The sweep runner: grids, batching, atomic per-unit storage, and resuming a killed sweep."""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from clustertheory.simulation import RunContext, SweepStore
from clustertheory.sweep import expand_grid, group_units, run_sweep, to_jsonable

ROOT = Path(__file__).resolve().parents[2]


def test_expand_grid_is_the_cartesian_product_first_axis_outermost():
    units = expand_grid(teeth=[1, 2], seed=range(3), observation="identity")
    assert len(units) == 6
    assert units[0] == {"teeth": 1, "seed": 0, "observation": "identity"}
    assert units[3] == {"teeth": 2, "seed": 0, "observation": "identity"}
    with pytest.raises(ValueError, match="axis seed"):
        expand_grid(teeth=[1], seed=[])


def test_group_units_batches_equal_keys_in_near_equal_pieces():
    units = expand_grid(b=[1, 2], seed=range(7))
    batches = group_units(units, lambda u: u["b"], max_batch=3)
    assert [len(b) for b in batches] == [3, 2, 2, 3, 2, 2]
    assert all(len({u["b"] for u in batch}) == 1 for batch in batches)
    assert [u for batch in batches for u in batch] == units  # nothing lost, order kept
    assert [len(b) for b in group_units(units, None, None)] == [14]
    with pytest.raises(ValueError, match="max_batch"):
        group_units(units, None, 0)


def test_run_sweep_merges_units_keeps_order_and_runs_each_unit_once():
    calls = []

    def batch_fn(batch):
        calls.append([u["i"] for u in batch])
        return [{"square": u["i"] ** 2} if u["i"] % 2 else [{"part": 0}, {"part": 1}] for u in batch]

    units = [{"i": i, "g": i % 2} for i in range(5)] + [{"i": 0, "g": 0}]  # a repeated unit
    rows = run_sweep(units, batch_fn, SweepStore(None), group_key=lambda u: u["g"], max_batch=2)
    assert sorted(i for c in calls for i in c) == [0, 1, 2, 3, 4]
    assert calls == [[0, 2], [4], [1, 3]]
    assert [r["i"] for r in rows] == [0, 0, 1, 2, 2, 3, 4, 4, 0, 0]
    assert rows[2] == {"i": 1, "g": 1, "square": 1}
    with pytest.raises(ValueError, match="one result per unit"):
        run_sweep([{"i": 9}], lambda batch: [], SweepStore(None))


def test_interrupted_batched_sweep_repeats_only_the_batch_in_flight(tmp_path):
    path = tmp_path / "s.partial.jsonl"
    ran = []

    def batch_fn(batch):
        ran.append(tuple(u["i"] for u in batch))
        if len(ran) == 3:
            raise KeyboardInterrupt
        return [{"v": u["i"]} for u in batch]

    units = expand_grid(i=range(8))
    with pytest.raises(KeyboardInterrupt):
        RunContext(store=SweepStore(path)).sweep_batched(units, None, batch_fn, max_batch=2)
    assert len(SweepStore(path)) == 4
    rows = RunContext(store=SweepStore(path), max_batch=2).sweep_batched(units, None, batch_fn)
    assert ran == [(0, 1), (2, 3), (4, 5), (4, 5), (6, 7)]
    assert [r["v"] for r in rows] == list(range(8))


def test_store_repairs_a_truncated_line_so_later_appends_are_kept(tmp_path):
    path = tmp_path / "p.jsonl"
    SweepStore(path).put({"i": 0}, [{"i": 0, "v": 1}])
    with open(path, "a") as handle:
        handle.write('{"key": "{\\"i\\": 1}", "rows": [{"i"')  # killed mid-write
    store = SweepStore(path)
    assert store.get({"i": 1}) is None and path.read_text().endswith("\n")
    store.put({"i": 2}, [{"i": 2, "v": 3}])
    reloaded = SweepStore(path)
    assert reloaded.get({"i": 0}) == [{"i": 0, "v": 1}] and reloaded.get({"i": 2}) == [{"i": 2, "v": 3}]


SWEEP_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    from clustertheory.simulation import RunContext, SweepStore
    from clustertheory.sweep import expand_grid

    store_path, ledger_path = sys.argv[1], sys.argv[2]

    def batch_fn(batch):
        fd = os.open(ledger_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, (json.dumps([u["i"] for u in batch]) + "\\n").encode())
        os.fsync(fd)
        os.close(fd)
        time.sleep(0.1)
        return [{"square": u["i"] ** 2} for u in batch]

    units = expand_grid(i=range(30))
    ctx = RunContext(store=SweepStore(store_path))
    rows = ctx.sweep_batched(units, lambda u: u["i"] % 3, batch_fn, max_batch=2)
    print(json.dumps(rows))
    """
)


def _ledger(path: Path) -> list[int]:
    return [i for line in path.read_text().splitlines() for i in json.loads(line)] if path.exists() else []


def _stored(path: Path) -> set[int]:
    return {json.loads(record["key"])["i"] for record in map(json.loads, path.read_text().splitlines())}


def test_to_jsonable_writes_non_finite_floats_as_text_and_the_store_keeps_them_floats(tmp_path):
    summary = {"a": float("nan"), "b": [np.float32("inf"), torch.tensor(-math.inf), np.int64(3)], "c": {"d": (1.5, np.bool_(True))}}
    text = json.dumps(to_jsonable(summary))
    assert json.loads(text) == {"a": "nan", "b": ["inf", "-inf", 3], "c": {"d": [1.5, True]}}
    assert "NaN" not in text and "Infinity" not in text
    store = SweepStore(tmp_path / "store.jsonl")
    store.put({"seed": 0}, [{"loss": np.float32("nan"), "gap": torch.tensor(math.inf)}])
    (row,) = SweepStore(tmp_path / "store.jsonl").get({"seed": 0})  # read back: floats, as a fresh run's rows
    assert math.isnan(row["loss"]) and row["gap"] == math.inf


def test_sigkilled_sweep_resumes_without_running_any_finished_unit_again(tmp_path):
    """A real subprocess is killed with SIGKILL mid-sweep, then run again to the end."""
    store, first, second = tmp_path / "run.partial.jsonl", tmp_path / "ledger1", tmp_path / "ledger2"
    script = tmp_path / "sweep.py"
    script.write_text(SWEEP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, str(script), str(store), str(first)], env=env, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not store.exists() or len(store.read_text().splitlines()) < 6):
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    finished_before = _stored(store)
    assert 6 <= len(finished_before) < 30  # killed midway

    resumed = subprocess.run([sys.executable, str(script), str(store), str(second)], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr
    rows = json.loads(resumed.stdout)
    ran_again = _ledger(second)
    assert not set(ran_again) & finished_before  # no finished unit ran twice
    assert len(ran_again) == len(set(ran_again))  # nothing ran twice within the resumed run
    assert finished_before | set(ran_again) == set(range(30))
    assert len(set(_ledger(first)) - finished_before) <= 2  # lost at most the batch in flight
    assert [(r["i"], r["square"]) for r in rows] == [(i, i * i) for i in range(30)]
