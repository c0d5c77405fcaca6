"""Phase diagram on a handful of cells: trained codes preserve clusters where delta_F = 1 and split
them where delta_F = 0; a leak restores delta and preservation; the verdict fails on wrong rows."""

import math

import matplotlib
import pytest

import simulations.phase_diagram as sim
from clustertheory.simulation import RunContext, SweepStore

matplotlib.use("Agg")

TINY = sim.Config(
    bandwidths=(1, 2),
    teeth=(2,),
    leaks=(0.0, 0.4),
    leak_teeth=2,
    widths=(2,),
    seeds=4,
    adversary_restarts=3,
    adversary_steps=150,
)


@pytest.fixture(scope="module")
def rows():
    return sim.run(TINY, RunContext.for_tests())


def cell(rows, panel, capacity, intertwining):
    (row,) = [r for r in rows if r["panel"] == panel and r["capacity"] == capacity and r["intertwining"] == intertwining]
    return row


def test_transition_sits_where_spectral_delta_drops(rows):
    below, at = cell(rows, "teeth", 1, 2), cell(rows, "teeth", 2, 2)
    assert below["delta_spectral"] == pytest.approx(1.0, abs=1e-9)
    assert at["delta_spectral"] == pytest.approx(0.0, abs=1e-9)
    assert below["preserving_fraction"] >= 0.75 and below["alignment_error"] < 0.01
    assert at["preserving_fraction"] <= 0.25
    assert at["delta_empirical"] == 0.0  # the adversary finds the free split too


def test_leak_restores_delta_and_preservation(rows):
    leaky = cell(rows, "leak", 2, 0.4)
    # closed form at B = T: 1 - (1 - p n / (n - 1))^2 with n = 4
    assert leaky["delta_spectral"] == pytest.approx(1 - (1 - 0.4 * 4 / 3) ** 2, abs=1e-9)
    assert leaky["preserving_fraction"] >= 0.75
    # no split of the leaky comb beats p n / (n - 1) (the disagreement is linear in the share of
    # each base point's bins relabelled, so whole base points are optimal; the best moves n/2 of
    # them), and that split is band-limited at B = T: the adversary's bound sits at or above it
    assert 0.4 * 4 / 3 - 1e-9 <= leaky["delta_empirical"] <= 0.8
    assert cell(rows, "leak", 2, 0.0)["preserving_fraction"] <= 0.25


def test_mlp_cell_uses_the_empirical_delta(rows):
    mlp = cell(rows, "mlp", 2, 2)
    assert math.isnan(mlp["delta_spectral"])
    assert mlp["delta_empirical"] >= 0 and 0 <= mlp["preserving_fraction"] <= 1


def test_verdict_passes_and_fails(rows):
    spectral_rows = [r for r in rows if r["panel"] != "mlp"]
    assert sim.verdict(spectral_rows, TINY).passed
    # a deliberately wrong representation: preserving exactly where the class splits for free
    inverted = [{**r, "preserving_fraction": 1.0 - r["preserving_fraction"]} for r in rows]
    report = sim.verdict(inverted, TINY)
    assert not report.passed
    assert sum(not c.passed for c in report.checks) >= 3


def test_resumes_without_retraining(tmp_path, monkeypatch):
    config = TINY.replace(panels=("teeth",), bandwidths=(0,), teeth=(1,), seeds=2, steps=20, adversary_steps=5)
    path = tmp_path / "cells.jsonl"
    first = sim.run(config, RunContext(store=SweepStore(path)))

    def refuse(*args, **kwargs):
        raise AssertionError("a finished cell was trained again")

    monkeypatch.setattr(sim, "train_cells", refuse)
    assert sim.run(config, RunContext(store=SweepStore(path))) == first


def test_units_and_plot(rows):
    assert len(sim.cell_units(TINY)) == 2 + 4 + 1
    figure = sim.plot(rows, TINY)
    assert len([ax for ax in figure.axes if ax.images]) == 3


def test_config_validation():
    with pytest.raises(ValueError, match="panels"):
        sim.Config(panels=("width",))
    with pytest.raises(ValueError, match="leaks"):
        sim.Config(leaks=(1.5,))
    with pytest.raises(ValueError, match="bandwidths"):
        sim.Config(bandwidths=())
