"""Executors: local, Ray (a local 2-CPU instance) and Slurm (submitit's local executor) give the
same rows, from the library and from the command line, and an interrupted run resumes under each.

Ray and submitit are in the ``test`` extra. Outside CI these tests skip where the packages
are missing (a bare install); in CI (``CI`` set) a missing package fails them instead.
"""

import importlib
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from clustertheory import cli
from clustertheory.data import comb_dataset
from clustertheory.executors import InTask, LocalExecutor, RayExecutor, SlurmExecutor, is_local, make_executor
from clustertheory.simulation import RunContext, SweepStore, run_simulation
from clustertheory.sweep import expand_grid
from clustertheory.training import TrainConfig
from clustertheory.training.batched import Member, no_evaluation, train_members

TOYS = Path(__file__).resolve().parent / "toy_simulations"
ROOT = Path(__file__).resolve().parents[1]


def need(module: str):
    """Import ``module``; skip without it, except in CI, where it must be installed."""
    return importlib.import_module(module) if os.environ.get("CI") else pytest.importorskip(module)


def test_local_executor_runs_batches_in_order():
    assert list(LocalExecutor().map_unordered(sum, [[1, 2], [3], []])) == [(0, 3), (1, 3), (2, 0)]


def test_make_executor_validates_its_arguments(tmp_path):
    assert isinstance(make_executor(), LocalExecutor) and is_local(None) and is_local(LocalExecutor())
    assert isinstance(make_executor("ray", num_cpus_per_task=0.5), RayExecutor)
    assert isinstance(make_executor("slurm", folder=tmp_path, partition="gpu", account="lab"), SlurmExecutor)
    with pytest.raises(ValueError, match="executor must be one of"):
        make_executor("dask")
    with pytest.raises(ValueError, match="takes no options"):
        make_executor("local", address="auto")
    with pytest.raises(ValueError, match="num_gpus_per_task"):
        RayExecutor(num_gpus_per_task=-1)
    with pytest.raises(ValueError, match="max_in_flight"):
        RayExecutor(max_in_flight=0)
    with pytest.raises(ValueError, match="cluster must be one of"):
        SlurmExecutor(cluster="pbs")
    with pytest.raises(ValueError, match="whole number"):
        SlurmExecutor(gpus_per_task=0.5)
    with pytest.raises(ValueError, match="cpus_per_task"):
        SlurmExecutor(cpus_per_task=0)


def test_task_keeps_to_its_cpu_threads():
    threads = InTask(lambda _: torch.get_num_threads(), 1)(None)
    assert threads == 1


def test_run_context_travels_without_the_drivers_store_and_display(tmp_path):
    import pickle

    ctx = RunContext(store=SweepStore(tmp_path / "s.jsonl"), executor=RayExecutor(), show_progress=True, on_progress=print, base_seed=7)
    ctx.store.put({"i": 0}, [{"i": 0}])
    copy = pickle.loads(pickle.dumps(ctx))
    assert copy.base_seed == 7 and copy.seed_for("x") == ctx.seed_for("x") and copy.device == ctx.device
    assert copy.store.path is None and len(copy.store) == 0
    assert is_local(copy.executor) and copy.on_progress is None and not copy.show_progress
    assert len(ctx.store) == 1 and ctx.on_progress is print  # the driver's context is untouched


# ----------------------------------------------------------------------------- Ray and Slurm


@pytest.fixture(scope="module")
def toys_importable():
    """The toy simulations importable here and in every process started from here."""
    old_path, old_env = list(sys.path), os.environ.get("PYTHONPATH")
    sys.path.insert(0, str(TOYS))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(TOYS), str(ROOT)] + ([old_env] if old_env else []))
    yield
    sys.path[:] = old_path
    if old_env is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old_env


@pytest.fixture(scope="module")
def ray_instance(toys_importable):
    ray = need("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def slurm_local(tmp_path, **options) -> SlurmExecutor:
    need("submitit")
    return SlurmExecutor(folder=tmp_path / "submitit", cluster="local", poll_s=0.2, **options)


def _make_train_batch():
    """One ensemble per batch: member e is the unit (teeth, seed); rows carry its hard codes.

    Built in a closure so that Ray ships the function by value (workers cannot import a
    test module; real simulations live in the installed ``simulations`` package).
    """

    def train_batch(batch: list[dict]) -> list[dict]:
        config = TrainConfig(steps=15, batch_size=16, log_every=15)
        data = comb_dataset(2, 2, batch[0]["teeth"])
        members = [Member("band-limited", data, config, u["seed"], {"bandwidth": 1}) for u in batch]
        result = train_members(members, 2, seed=batch[0]["teeth"], evaluate=no_evaluation)
        return [
            {"codes": "".join("1" if c > 0 else "0" for c in codes.ravel()), "loss": row["train_loss"]}
            for codes, row in zip(result.codes, result.history)
        ]

    return train_batch


def test_ray_executor_runs_a_batched_sweep_like_the_local_one(ray_instance, tmp_path):
    units = expand_grid(teeth=[1, 2], seed=range(4))
    _train_batch = _make_train_batch()
    local = RunContext(store=SweepStore(None)).sweep_batched(units, lambda u: u["teeth"], _train_batch)
    path = tmp_path / "ray.partial.jsonl"
    ctx = RunContext(store=SweepStore(path), executor=RayExecutor(max_in_flight=2))
    remote = ctx.sweep_batched(units, lambda u: u["teeth"], _train_batch)  # two batches, one per worker
    assert [(r["teeth"], r["seed"]) for r in remote] == [(u["teeth"], u["seed"]) for u in units]
    assert [r["codes"] for r in remote] == [r["codes"] for r in local]  # same pass, same result
    np.testing.assert_allclose([r["loss"] for r in remote], [r["loss"] for r in local], rtol=1e-6)
    assert len(SweepStore(path)) == len(units)  # every unit stored by the driver as it came back


def test_ray_executor_plain_sweep_and_early_stop(ray_instance):
    ctx = RunContext(executor=RayExecutor())
    rows = ctx.sweep(expand_grid(i=range(5)), lambda u: {"double": 2 * u["i"]})
    assert [r["double"] for r in rows] == [0, 2, 4, 6, 8]
    stream = RayExecutor(max_in_flight=1).map_unordered(lambda b: b, list(range(4)))
    assert next(stream) == (0, 0)
    stream.close()  # cancels what is still in flight


class StopAfter:
    """A progress callback that interrupts the run (like Ctrl-C) once ``units`` are stored."""

    def __init__(self, units: int):
        self.units = units

    def __call__(self, desc: str, done: int, total: int | None) -> None:
        if done >= self.units:
            raise KeyboardInterrupt


def _rows(outcome) -> list[tuple]:
    return [(r["unit"], r["value"], r["batch_size"]) for r in outcome.rows]


@pytest.mark.parametrize("kind", ["ray", "slurm"])
def test_interrupted_run_resumes_and_matches_the_local_run(kind, toys_importable, tmp_path, request):
    """Stop a toy run after its first batch, run it again: only the rest runs, and every row is
    the one the local executor gives."""
    import toy_alpha

    if kind == "ray":
        request.getfixturevalue("ray_instance")
    make = (lambda: RayExecutor(max_in_flight=1)) if kind == "ray" else (lambda: slurm_local(tmp_path, max_in_flight=1))
    common = {"results_dir": tmp_path / "results", "figures_dir": tmp_path / "figures", "progress": False}
    reference = run_simulation(toy_alpha, echo=lambda _: None, **{**common, "results_dir": tmp_path / "local"})

    with pytest.raises(KeyboardInterrupt):
        run_simulation(toy_alpha, executor=make(), on_progress=StopAfter(2), echo=lambda _: None, **common)
    partial = tmp_path / "results" / "toy-alpha.partial.jsonl"
    assert len(SweepStore(partial)) == 2  # the first batch (2 units) was stored; the rest was cancelled

    said = []
    resumed = run_simulation(toy_alpha, executor=make(), echo=said.append, **common)
    assert "resuming, 2 finished unit(s)" in said[0]
    assert _rows(resumed) == _rows(reference)
    assert resumed.verdict.as_dict() == reference.verdict.as_dict()
    assert not partial.exists()
    if kind == "slurm":
        assert len(list((tmp_path / "submitit").iterdir())) <= 1  # finished jobs' files are gone; the cancelled one's stay


def test_failed_slurm_job_raises_with_its_error(tmp_path):
    executor = slurm_local(tmp_path)

    def broken(batch):
        raise RuntimeError(f"batch {batch} is broken")

    with pytest.raises(Exception, match="batch 1 is broken"):
        list(executor.map_unordered(broken, [1]))


def tiny_phase_diagram() -> list[str]:
    """--set overrides for a phase diagram of 4 cells trained briefly (2 batches of 2 cells)."""
    from simulations import phase_diagram

    wanted = {"panels": "teeth", "bandwidths": "0,2", "teeth": "1,3", "seeds": "2", "steps": "30",
              "adversary_restarts": "1", "adversary_steps": "10"}
    fields = phase_diagram.SCALES["default"].flat_dict()
    overrides = []
    for key, value in wanted.items():
        for candidate in (key, f"train.{key}", f"fit.{key}"):
            if candidate in fields:
                overrides += ["--set", f"{candidate}={value}"]
                break
    return overrides + ["--max-batch", "2", "--threads", "1", "--no-progress"]


def test_phase_diagram_gives_the_same_results_under_every_executor(ray_instance, tmp_path, capsys):
    """`clustertheory run phase-diagram --executor local|ray|slurm` (submitit's local cluster)."""
    need("submitit")
    tables = {}
    for kind, options in (
        ("local", []),
        ("ray", ["--executor", "ray", "--cpus-per-task", "1"]),
        ("slurm", ["--executor", "slurm", "--slurm-cluster", "local", "--max-in-flight", "2"]),
    ):
        results = tmp_path / kind
        argv = ["run", "phase-diagram", *tiny_phase_diagram(), "--results-dir", str(results), "--figures-dir", str(tmp_path / "figures"), *options]
        assert cli.main(argv) == 0, capsys.readouterr().err
        (table,) = results.glob("*.csv")
        tables[kind] = table.read_text()
    assert tables["ray"] == tables["local"]
    assert tables["slurm"] == tables["local"]
    assert len(tables["local"].splitlines()) == 1 + 4 * 2  # header, then 4 cells x 2 seeds (one row per trained seed)


def test_cli_rejects_options_of_another_executor(capsys):
    assert cli.main(["run", "phase-diagram", "--ray-address", "auto"]) == 2
    assert "--ray-address do(es) not apply to --executor local" in capsys.readouterr().err
    assert cli.main(["run", "phase-diagram", "--executor", "ray", "--slurm-partition", "gpu"]) == 2
    assert "--slurm-partition" in capsys.readouterr().err
    assert cli.main(["run", "phase-diagram", "--max-batch", "0"]) == 2
    assert "--max-batch must be >= 1" in capsys.readouterr().err
    assert cli.main(["run", "phase-diagram", "--executor", "slurm", "--slurm-option", "nonsense"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert cli.main(["reproduce", "--only", "phase-diagram", "--executor", "ray", "--jobs", "2"]) == 2
    assert "does not combine with a cluster executor" in capsys.readouterr().err
