"""Issue 8.3: a fixed seed gives identical results on CPU, run to run, whatever the global RNG
state; and every result row carries the seed and the full config."""

import csv
import dataclasses
import json
import random
import re
import types

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from clustertheory.analysis.min_norm import DescentConfig
from clustertheory.data import CollapseConfig, PairSampler, comb_dataset
from clustertheory.functions import make_function_class
from clustertheory.functions.ensemble import EncoderSettings
from clustertheory.simulation import run_simulation
from clustertheory.training import TrainConfig, train
from clustertheory.training.fitting import FitConfig
from simulations import blurring, class_collapse

DATA = comb_dataset(num_clusters=4, points_per_cluster=2, teeth=2)
CONFIG = TrainConfig(steps=30, batch_size=16, num_negatives=4, log_every=10)


def scramble_global_rngs() -> None:
    """Advance every global generator, so a result that depends on global state changes."""
    random.random()
    np.random.rand(7)
    torch.rand(13)


def trained(seed: int, config: TrainConfig = CONFIG):
    model = make_function_class("band-limited", DATA, 2, seeds=[3, 4], bandwidth=2)
    scramble_global_rngs()
    return train(model, DATA, config, seed=seed), model


@pytest.mark.parametrize("config", [CONFIG, dataclasses.replace(CONFIG, negative_mode="in-batch", relaxation="ste", optimizer="sgd")], ids=["iid-tanh-adam", "in-batch-ste-sgd"])
def test_training_twice_gives_identical_codes_history_and_weights(config):
    first, model_a = trained(0, config)
    second, model_b = trained(0, config)
    np.testing.assert_array_equal(first.codes, second.codes)
    assert first.history == second.history  # exact float equality, row by row
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(a, b)
    other, _ = trained(1, config)
    assert other.history != first.history  # the seed matters: the check above can fail


@pytest.mark.parametrize("name", ["band-limited", "linear", "mlp", "lookup"])
def test_model_initialisation_is_seeded_per_member(name):
    data = comb_dataset(4, 2, 2, observation="embedding", obs_dim=8)
    ensemble = make_function_class(name, data, 2, seeds=[5, 6])
    scramble_global_rngs()
    again = make_function_class(name, data, 2, seeds=[5, 6])
    alone = make_function_class(name, data, 2, seeds=[6])
    for a, b in zip(ensemble.parameters(), again.parameters()):
        assert torch.equal(a, b)
    with torch.no_grad():
        scores = ensemble.scores()
        torch.testing.assert_close(scores[1:], alone.scores(), rtol=0, atol=0)  # member 1 = seed 6 alone
        assert not torch.equal(scores[0], scores[1])


@pytest.mark.parametrize("negatives", ["iid", "in-batch"])
def test_sampler_with_a_fixed_seed_repeats_its_batches(negatives):
    def batches(seed: int) -> list[torch.Tensor]:
        sampler = PairSampler(DATA, num_negatives=3, negative_mode=negatives, seed=seed)
        scramble_global_rngs()
        return [t for _ in range(3) for t in (*sampler.sample(8), *sampler.sample(5, groups=2))]

    first, second, other = batches(7), batches(7), batches(8)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


@pytest.mark.parametrize("observation", ["embedding", "mlp"])
def test_seeded_observation_maps_repeat(observation):
    first = comb_dataset(2, 2, 2, observation=observation, obs_dim=8, seed=4).obs
    scramble_global_rngs()
    np.testing.assert_array_equal(first, comb_dataset(2, 2, 2, observation=observation, obs_dim=8, seed=4).obs)
    assert not np.array_equal(first, comb_dataset(2, 2, 2, observation=observation, obs_dim=8, seed=5).obs)


# ----------------------------------------------------------------------------- run_simulation

TINY = {
    "blurring": blurring.Config(
        seed=5,
        chain_dims=(3,),
        chain_negatives=(1,),
        chain_betas=(3.0,),
        chain_steps=2,
        mc_samples=200,
        kernel_dims=(3,),
        kernel_samples=200,
        lemma_dims=(3,),
        lemma_betas=(1.0,),
        lemma_cs=(2.0,),
        search_dims=(2,),
        search_negatives=(1,),
        search_betas=(3.0,),
        search_steps=2,
        search_restarts=1,
        threshold_dims=(3,),
        threshold_negatives=(1,),
    ),
    "class-collapse": class_collapse.Config(
        seed=5,
        many_views=CollapseConfig(dim=10, num_originals=40, num_augmentations=2),
        many_dims=CollapseConfig(dim=60, num_originals=10, num_augmentations=2),
        descent=DescentConfig(steps=10),
        record_steps=(0, 5, 10),
        probe_examples=40,
        seeds=2,
        class_strengths=(1.0, 2.0),
        mlp_data=CollapseConfig(dim=10, num_originals=40, num_augmentations=2),
        mlp_encoder=EncoderSettings(out_dim=2, width=4),
        mlp_fit=FitConfig(steps=4, batch_size=8),
        mlp_checkpoints=(0, 2, 4),
    ),
}
MODULES = {"blurring": blurring, "class-collapse": class_collapse}
TIMING_COLUMN = re.compile(r"(time|elapsed|seconds|duration|wall|_s$)", re.IGNORECASE)


def tiny_module(name: str, config) -> types.ModuleType:
    """The real simulation with ``config`` as its default scale (keeps the run name short).

    Its figure is replaced by an empty one: the rows are under test here, and laying out
    the real figure takes most of the time of a tiny run.
    """
    real = MODULES[name]
    module = types.ModuleType(f"{real.__name__}_tiny")
    for attribute in ("NAME", "SUMMARY", "Config", "run", "verdict"):
        setattr(module, attribute, getattr(real, attribute))
    module.SCALES = {"default": config}
    module.plot = lambda rows, config: plt.figure(figsize=(1, 1))
    return module


def simulate(name: str, config, directory):
    outcome = run_simulation(
        tiny_module(name, config), results_dir=directory / "results", figures_dir=directory / "figures", progress=False, echo=lambda _: None
    )
    with open(outcome.paths["csv"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    return outcome, rows, json.loads(outcome.paths["json"].read_text())


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if not TIMING_COLUMN.search(k)} for row in rows]


def _as_csv_text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def measured_columns(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if not k.startswith("cfg_")} for row in without_timing(rows)]


@pytest.mark.parametrize("name", sorted(TINY))
def test_run_simulation_twice_writes_identical_rows_with_seed_and_config(name, tmp_path):
    config = TINY[name]
    outcome, first, summary_a = simulate(name, config, tmp_path / "a")
    scramble_global_rngs()
    _, second, summary_b = simulate(name, config, tmp_path / "b")
    assert len(first) == len(outcome.rows) > 0
    assert without_timing(first) == without_timing(second)
    assert summary_a["config"] == summary_b["config"] and summary_a["verdict"] == summary_b["verdict"]
    # every row carries the seed and every config field (nested settings dotted), as the config has them
    expected = {f"cfg_{key}": _as_csv_text(value) for key, value in config.flat_dict().items()}
    assert expected["cfg_seed"] == "5"
    for row in first:
        assert {k: row[k] for k in expected} == expected
    assert summary_a["config"] == json.loads(json.dumps(config.as_dict()))  # tuples become lists


def test_the_seed_changes_the_rows(tmp_path):
    """Blurring's Monte Carlo rows depend on the seed, so the comparison above can fail."""
    _, first, _ = simulate("blurring", TINY["blurring"], tmp_path / "a")
    _, reseeded, _ = simulate("blurring", TINY["blurring"].replace(seed=6), tmp_path / "b")
    assert measured_columns(first) != measured_columns(reseeded)
