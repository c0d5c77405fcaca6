"""Phase diagram on a handful of cells: trained codes preserve clusters where delta_F = 1 and split
them where delta_F = 0; a leak restores delta and preservation; a delta that does not predict
preservation changes the claims, a wrong delta fails a package check."""

import math

import matplotlib
import numpy as np
import pytest

import simulations.phase_diagram as sim
from clustertheory.simulation import RunContext, SweepStore

matplotlib.use("Agg")

TINY = sim.Config(
    bandwidths=(1, 2),
    teeth=(2,),
    leak_bandwidths=(2,),
    leaks=(0.0, 0.4),
    widths=(2,),
    mlp_teeth=(1, 3),
    seeds=4,
    adversary_restarts=3,
    adversary_steps=150,
)


@pytest.fixture(scope="module")
def rows():
    return sim.run(TINY, RunContext.for_tests())


def cell(rows, panel, capacity, intertwining):
    return [r for r in rows if (r["panel"], r["capacity"], r["intertwining"]) == (panel, capacity, intertwining)]


def statuses(rows, config=TINY):
    return {c.name: c.status for c in sim.verdict(rows, config).claims}


def test_transition_sits_where_spectral_delta_drops(rows):
    below, at = cell(rows, "teeth", 1, 2), cell(rows, "teeth", 2, 2)
    assert len(below) == TINY.seeds and below[0]["delta_spectral"] == pytest.approx(1.0, abs=1e-9)
    assert at[0]["delta_spectral"] == pytest.approx(0.0, abs=1e-9)
    assert np.mean([r["preserving"] for r in below]) >= 0.75 and max(r["alignment_error"] for r in below) < 0.01
    assert np.mean([r["preserving"] for r in at]) <= 0.25


def test_leak_restores_delta_and_preservation(rows):
    leaky = cell(rows, "leak", 2, 0.4)
    # closed forms at B = T with n = 4: delta_F = 1 - (1 - p n / (n - 1))^2, hard delta p n / (n - 1)
    assert leaky[0]["delta_spectral"] == pytest.approx(1 - (1 - 0.4 * 4 / 3) ** 2, abs=1e-9)
    assert leaky[0]["delta_hard"] == pytest.approx(0.4 * 4 / 3) and leaky[0]["delta_adversary"] == pytest.approx(0.4 * 4 / 3, abs=1e-9)
    assert np.mean([r["preserving"] for r in leaky]) >= 0.75
    assert np.mean([r["preserving"] for r in cell(rows, "leak", 2, 0.0)]) <= 0.25


def test_mlp_cells_use_the_adversary(rows):
    contiguous = cell(rows, "mlp", 2, 1)
    assert math.isnan(contiguous[0]["delta_spectral"]) and contiguous[0]["delta_adversary"] == 0.0  # T = 1: free split


def test_tiny_run_passes_and_reproduces(rows):
    result = sim.verdict(rows, TINY)
    assert result.passed, result.report()
    found = statuses(rows)
    assert found["preserve-where-delta-one"] == found["leak-restores-preservation"] == "reproduced"
    mlp = result.claim("mlp-free-split-predicts")  # one width, four seeds: the interval is wide
    assert mlp.status in ("reproduced", "inconclusive") and mlp.effect > TINY.minimal_preservation_gap


def test_a_delta_that_does_not_predict_preservation_changes_the_claims(rows):
    inverted = [{**r, "preserving": not r["preserving"]} for r in rows]
    assert set(statuses(inverted).values()) == {"not-reproduced"}
    rng = np.random.default_rng(0)
    coin = [{**r, "preserving": bool(rng.random() < 0.5)} for r in rows]
    assert "reproduced" not in statuses(coin).values()


def test_wrong_delta_fails_a_package_check(rows):
    shifted = [{**r, "delta_spectral": 0.5} if r["panel"] == "teeth" else r for r in rows]
    assert not sim.verdict(shifted, TINY).checks[0].passed
    weak = [{**r, "delta_adversary": 0.9} if r["panel"] == "leak" and r["intertwining"] == 0.4 else r for r in rows]
    assert not sim.verdict(weak, TINY).checks[2].passed


def test_unconverged_training_makes_the_claim_not_testable(rows):
    loose = [{**r, "alignment_error": 0.3} for r in rows]
    assert statuses(loose)["preserve-where-delta-one"] == "not-testable"


def test_resumes_without_retraining(tmp_path, monkeypatch):
    config = TINY.replace(panels=("teeth",), bandwidths=(0,), teeth=(1,), seeds=2, train=TINY.train.replace(steps=20, log_every=20))
    path = tmp_path / "cells.jsonl"
    first = sim.run(config, RunContext(store=SweepStore(path)))

    def refuse(*args, **kwargs):
        raise AssertionError("a finished cell was trained again")

    monkeypatch.setattr(sim, "train_members", refuse)
    assert repr(sim.run(config, RunContext(store=SweepStore(path)))) == repr(first)  # nan-aware equality


def test_units_and_plot(rows):
    assert len(sim.cell_units(TINY)) == 2 + 2 + 2
    figure = sim.plot(rows, TINY)
    assert len([ax for ax in figure.axes if ax.images]) == 3


def test_config_validation():
    with pytest.raises(ValueError, match="panels"):
        sim.Config(panels=("width",))
    with pytest.raises(ValueError, match="leaks"):
        sim.Config(leaks=(1.5,))
    with pytest.raises(ValueError, match="bandwidths"):
        sim.Config(bandwidths=())
    with pytest.raises(ValueError, match="seeds"):
        sim.Config(seeds=1)
    assert sim.Config().replace(**{"train.beta": 1.0}).train.beta == 1.0
