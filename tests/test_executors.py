"""Executors: the local default, and Ray (tested on a local 2-CPU Ray instance when installed)."""

import numpy as np
import pytest
import torch

from clustertheory.data import comb_dataset
from clustertheory.simulation import RunContext, SweepStore
from clustertheory.training import TrainConfig
from clustertheory.training.batched import Member, train_members
from clustertheory.executors import LocalExecutor, RayExecutor, make_executor
from clustertheory.sweep import expand_grid


def test_local_executor_runs_batches_in_order():
    assert list(LocalExecutor().map_unordered(sum, [[1, 2], [3], []])) == [(0, 3), (1, 3), (2, 0)]


def test_make_executor_validates_its_arguments():
    assert isinstance(make_executor(), LocalExecutor)
    assert isinstance(make_executor("ray", num_cpus_per_task=0.5), RayExecutor)
    with pytest.raises(ValueError, match="executor must be one of"):
        make_executor("dask")
    with pytest.raises(ValueError, match="takes no options"):
        make_executor("local", address="auto")
    with pytest.raises(ValueError, match="num_gpus_per_task"):
        RayExecutor(num_gpus_per_task=-1)
    with pytest.raises(ValueError, match="max_in_flight"):
        RayExecutor(max_in_flight=0)


def _make_train_batch():
    """One ensemble per batch: member e is the unit (teeth, seed); rows carry its hard codes.

    Built in a closure so that Ray ships the function by value (workers cannot import a
    test module; real simulations live in the installed ``simulations`` package).
    """

    def train_batch(batch: list[dict]) -> list[dict]:
        torch.set_num_threads(1)
        config = TrainConfig(steps=15, batch_size=16, log_every=15)
        data = comb_dataset(2, 2, batch[0]["teeth"])
        members = [Member("band-limited", data, config, u["seed"], {"bandwidth": 1}) for u in batch]
        result = train_members(members, 2, seed=batch[0]["teeth"], evaluate=lambda codes: [{} for _ in codes])
        return [
            {"codes": "".join("1" if c > 0 else "0" for c in codes.ravel()), "loss": row["train_loss"]}
            for codes, row in zip(result.codes, result.history)
        ]

    return train_batch


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_executor_runs_a_batched_sweep_like_the_local_one(ray_instance, tmp_path):
    torch.set_num_threads(1)
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
