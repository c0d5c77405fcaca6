"""benchmarks/gpu.sh --smoke: the whole GPU run on the CPU at toy sizes, every part time-boxed,
every results file written."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_script_smoke_mode_writes_every_results_file(tmp_path):
    out = tmp_path / "gpu"
    env = {**os.environ, "PYTHON": sys.executable, "GPU_WHEELS": str(tmp_path / "no-wheels")}
    # a generous budget: the toy parts end long before it on a quiet machine, and a busy one
    # (CI shares nothing, developers' machines do) still finishes every part
    command = ["bash", str(ROOT / "benchmarks" / "gpu.sh"), str(out), "--smoke", "--budget", "300"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    names = {path.name for path in out.iterdir()}
    assert {"environment.json", "batched_training_cpu.json", "infonce_cpu.json", "reproduce_paper_cpu.json", "reproduce.tar.gz", "GPU_SUMMARY.md", "gpu.log"} <= names
    assert len([p for p in out.iterdir() if p.is_file()]) <= 8  # what a device machine gives back
    environment = json.loads((out / "environment.json").read_text())
    assert environment["copy_bandwidth_bytes_per_s"] > 0 and environment["mode"].startswith("smoke")
    training = json.loads((out / "batched_training_cpu.json").read_text())
    assert [r["E"] for r in training["rows"]] == [1, 4] and all(r["speedup_batched_table_vs_sequential_train"] > 0 for r in training["rows"])
    infonce = json.loads((out / "infonce_cpu.json").read_text())
    assert {(r["kind"], r["implementation"]) for r in infonce["rows"] if r["status"] == "ok"} >= {("explicit", "ours"), ("explicit", "plain")}
    assert all("time_over_bandwidth_floor" in r for r in infonce["rows"] if r["kind"] == "explicit" and r["status"] == "ok")
    reproduce = json.loads((out / "reproduce_paper_cpu.json").read_text())
    assert {s["name"]: s["finished"] for s in reproduce["simulations"]} == {"toy-alpha": True, "toy-beta": True}
    with tarfile.open(out / "reproduce.tar.gz") as archive:
        assert "reproduce/results/index.html" in archive.getnames()
    summary = (out / "GPU_SUMMARY.md").read_text()
    assert "## reproduce --scale paper" in summary and "toy-beta" in summary
    assert "finished in" in done.stdout


def test_gpu_script_refuses_without_a_gpu_unless_smoke(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh"), str(tmp_path / "gpu")], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "--smoke" in done.stdout
