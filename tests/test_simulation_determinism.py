"""run_simulation with a fixed seed writes identical rows on CPU, run to run, whatever the
global RNG state; every row carries the seed and the full config; and the seed matters.
Checked on tiny configurations of two real simulations (blurring: Monte Carlo and searches;
class-collapse: gradient descent and probes)."""

import csv
import json
import re
import types

import matplotlib.pyplot as plt
import pytest
from helpers import scramble_global_rngs

from clustertheory.analysis.min_norm import DescentConfig
from clustertheory.data import CollapseConfig
from clustertheory.simulation import run_simulation
from simulations import blurring, class_collapse

TINY = {
    "blurring": blurring.Config(
        seed=5,
        chain_dims=(3,),
        chain_negatives=(1,),
        chain_betas=(3.0,),
        chain_steps=2,
        mc_samples=200,
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
