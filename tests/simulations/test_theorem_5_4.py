"""Theorem 5.4 on tiny agnostic data: relabelling lowers the exact loss for a regular split, not for a
free one; the measured ratio is the closed form; the verdict fails on wrong rows."""

import math

import matplotlib
import numpy as np
import pytest

import simulations.theorem_5_4 as sim
from clustertheory.analysis.regularity import split_statistics
from clustertheory.simulation import RunContext

matplotlib.use("Agg")

TINY = sim.Config(
    dims=(2,),
    points_per_cluster=4,
    teeth=2,
    leaks=(0.0, 0.45),
    moved=(2,),
    negatives=(1, 64),
    betas=(0.5, 8.0),
)


@pytest.fixture(scope="module")
def rows():
    return sim.run(TINY, RunContext.for_tests())


def split_rows(rows, leak):
    return [r for r in rows if r["leak"] == leak and r["kind"] == "grid"]


def test_regular_split_is_removed_by_relabelling_at_large_beta(rows):
    regular = split_rows(rows, 0.45)
    # 2 p (n - r) / (n - 1) = 0.6 from the leak, plus the cross-cluster noise
    assert regular[0]["delta"] >= 0.6
    at_large_beta = [r["delta_loss"] for r in regular if r["beta"] == 8.0]
    assert len(at_large_beta) == 2 and max(at_large_beta) < -0.1
    assert all(r["loss_relabelled"] < r["loss"] for r in regular if r["beta"] == 8.0)


def test_free_split_is_preferred_to_its_relabelling(rows):
    free = split_rows(rows, 0.0)
    assert free[0]["delta"] < 0.1  # only cross-cluster noise disagrees
    assert min(r["delta_loss"] for r in free) > 0  # the split's uniformity gain wins everywhere


def test_paper_point_and_weighted_loss(rows):
    paper = [r for r in rows if r["kind"] == "paper" and r["leak"] == 0.45][0]
    c = paper["c_near_uniform"]
    l, beta = sim.paper_conditions(c, paper["eps"], 2)
    assert (paper["l"], paper["beta"]) == (l, pytest.approx(beta))
    assert paper["delta_loss"] < 0
    regular = split_rows(rows, 0.45)
    assert all(r["rho_star"] <= r["rho_paper"] for r in regular)
    assert all(r["delta_loss_weighted"] < 0 for r in regular)


def test_split_ratio_without_noise_is_the_closed_form():
    config = TINY.replace(noise=0.0)
    data = sim.agnostic_data(2, 0.45, config)
    moved, n = 1, config.points_per_cluster
    code = sim.split_code(data, 2, moved)
    # R = 2 pi p r (n - r) / (n (n - 1)) and Delta = pi r / n
    assert split_statistics(code[:, 0], data, 0).ratio[0] == pytest.approx(2 * 0.45 * (n - moved) / (n - 1), abs=1e-12)
    # the moved base point is on the free vertex 1, the other clusters on vertices 2 and 3
    law = np.bincount(((code[data.base_view] < 0) * [1, 2]).sum(axis=1), weights=data.base_weight, minlength=4)
    assert (law > 0).all()


def test_implied_c_inverts_the_paper_conditions():
    eps, d = 0.05, 3
    for c in (0.3, 2.0, 17.0):
        l, beta = sim.paper_conditions(c, eps, d)
        c_l, c_beta = sim.implied_c(l, beta, eps, d)
        assert c_beta == pytest.approx(c, rel=1e-9)
        assert c <= c_l < c + eps / (d * 2**d) + 1e-12
    assert all(math.isnan(v) for v in sim.implied_c(None, None, eps, d))


def test_verdict_passes_and_fails(rows):
    assert sim.verdict(rows, TINY).passed
    summaries = {s["leak"]: s for s in sim.split_summaries(rows, TINY)}
    assert summaries[0.45]["beta_star"] in (0.5, 8.0) and summaries[0.0]["beta_star"] is None
    # a broken computation: the loss change with its sign flipped
    flipped = [{**r, "delta_loss": -r["delta_loss"]} for r in rows]
    report = sim.verdict(flipped, TINY)
    assert not report.passed
    assert not report.checks[0].passed and not report.checks[3].passed
    # a corollary that needed more weight than the paper's rho
    heavy = [{**r, "rho_star": 2 * r["rho_paper"]} for r in rows]
    assert not sim.verdict(heavy, TINY).checks[2].passed


def test_plot_builds(rows):
    figure = sim.plot(rows, TINY)
    assert len(figure.axes) >= 3


def test_config_validation():
    with pytest.raises(ValueError, match="moved"):
        sim.Config(points_per_cluster=4, moved=(4,))
    with pytest.raises(ValueError, match="dims"):
        sim.Config(dims=(1,))
    with pytest.raises(ValueError, match="leaks"):
        sim.Config(leaks=(0.99,), noise=0.02)
