"""Simulation finite-negatives: its exact and sampling parts, a tiny run, and verdicts that fail."""

import itertools

import numpy as np
import pytest
import torch

from clustertheory.analysis.blurring import reduced_loss
from clustertheory.data import comb_dataset
from clustertheory.simulation import RunContext
from simulations import finite_negatives as sim
from simulations.theorem_4_5 import measure_code


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = sim.Config(
    d=3,
    negatives_grid=(1, 8),
    betas=(1.0,),
    seeds=4,
    steps=600,
    rate_pairs=4000,
    claim_min_negatives=8,
    small_l=1,
    batch_effect_z=1.0,  # 4 seeds per cell cannot reach 3 standard errors
)


@pytest.fixture(scope="module")
def tiny_rows():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = sim.run(TINY, RunContext.for_tests())
    torch.set_num_threads(threads)
    return rows


def test_tiny_run_passes_and_has_every_row_kind(tiny_rows):
    verdict = sim.verdict(tiny_rows, TINY)
    assert verdict.passed, verdict.report()
    counts = {kind: sum(r["kind"] == kind for r in tiny_rows) for kind in ("exact", "rates", "trained")}
    assert counts == {"exact": 2, "rates": 3 * 2, "trained": 3 * 2 * 4}
    assert {r["batch_size"] for r in tiny_rows if r["kind"] == "trained" and r["mode"] != "iid"} == {2, 9}


def test_verdict_fails_when_a_claimed_cell_holds_a_split_code(tiny_rows):
    data = sim.make_data(TINY)
    codes = np.where(data.content[:, None] % 2 == 0, 1.0, -1.0) * np.ones((1, 3))  # 8 clusters on 2 vertices
    bad = measure_code(codes, data, 8, 1.0)
    assert not bad["uniform"] and bad["gap"] > 1e-3
    target = next(r for r in tiny_rows if r["kind"] == "trained" and r["mode"] == "iid" and r["l"] == 8)
    rows = [{**r, **bad} if r is target else r for r in tiny_rows]
    verdict = sim.verdict(rows, TINY)
    failed = [c.name for c in verdict.checks if not c.passed]
    assert len(failed) == 1 and failed[0].startswith(sim.MODE_LABEL["iid"])


def test_verdict_fails_when_negatives_avoid_the_anchor_cluster(tiny_rows):
    """A debiased-style sampler that never draws the anchor's cluster has same-cluster rate 0."""
    rows = [{**r, "same_cluster_rate": 0.0} if r["kind"] == "rates" and r["l"] == 8 else r for r in tiny_rows]
    failed = [c.name for c in sim.verdict(rows, TINY).checks if not c.passed]
    assert len(failed) == 1 and "same-cluster" in failed[0]


def test_verdict_fails_when_a_code_at_the_minimum_is_not_uniform(tiny_rows):
    target = next(r for r in tiny_rows if r["kind"] == "trained")
    rows = [{**r, "minimiser_shape": False} if r is target else r for r in tiny_rows]
    failed = [c.name for c in sim.verdict(rows, TINY).checks if not c.passed]
    assert any("iff" in name for name in failed)


def test_verdict_fails_when_batch_size_makes_no_difference(tiny_rows):
    rows = [{**r, "minimiser_shape": True, "gap": 0.0} if r["kind"] == "trained" and r["mode"] != "iid" else r for r in tiny_rows]
    failed = [c.name for c in sim.verdict(rows, TINY).checks if not c.passed]
    assert len(failed) == 1 and failed[0].startswith("batch size matters")


def test_verdict_fails_when_in_batch_and_iid_disagree_at_equal_batch(tiny_rows):
    rows = [{**r, "minimiser_shape": r["mode"] == "iid-small-batch", "gap": 0.0 if r["mode"] == "iid-small-batch" else 0.1} if r["kind"] == "trained" and r["mode"] != "iid" else r for r in tiny_rows]
    failed = [c.name for c in sim.verdict(rows, TINY).checks if not c.passed]
    assert any(name.startswith("equal B=l+1") for name in failed)


def test_two_proportion_z():
    assert sim.two_proportion_z(8, 8, 8, 8) == 0.0
    assert sim.two_proportion_z(8, 8, 0, 8) == pytest.approx(4.0)  # pooled p = 1/2, SE = 1/4
    assert sim.two_proportion_z(0, 4, 2, 4) < 0
    assert np.isnan(sim.two_proportion_z(1, 0, 1, 2))


def test_threshold_negatives_is_the_smallest_l_from_which_all_cells_pass():
    def row(l, good):
        return {"kind": "trained", "mode": "iid", "l": l, "beta": 1.0, "minimiser_shape": good, "gap": 0.0 if good else 0.1}

    rows = [row(1, False), row(2, True), row(4, False), row(8, True), row(16, True)]
    assert sim.threshold_negatives(rows, "iid", 2.0, 1e-6) == 8
    assert sim.threshold_negatives([row(1, False)], "iid", 2.0, 1e-6) == float("inf")


def test_cluster_constant_laws_cover_every_orbit_once():
    config = sim.Config(d=2)
    laws = sim.cluster_constant_laws(config, np.random.default_rng(0))
    assert np.allclose(laws.sum(axis=1), 1.0)
    assert np.any(np.all(np.isclose(laws, 0.25), axis=1))
    # every composition of 4 clusters on the 4 vertices has the loss of one listed orbit
    listed = np.round(reduced_loss(laws, 3, 1.0), 12)
    assert len(set(listed)) == len(laws)  # distinct orbits have distinct losses here
    all_laws = np.array([c for c in itertools.product(range(5), repeat=4) if sum(c) == 4]) / 4
    assert set(np.round(reduced_loss(all_laws, 3, 1.0), 12)) == set(listed)


def test_sampled_laws_include_uniform_and_its_neighbours():
    config = sim.Config(d=2, clusters_per_vertex=2, enumerate_limit=10, random_laws=20)
    laws = sim.cluster_constant_laws(config, np.random.default_rng(0))
    uniform = np.full(4, 0.25)
    assert np.any(np.all(np.isclose(laws, uniform), axis=1))
    distances = np.abs(laws - uniform).sum(axis=1)
    assert np.any(np.isclose(distances, 2 / 8))  # one cluster (weight 1/8) moved


@pytest.mark.parametrize("mode", sim.MODES)
def test_negative_rates_match_sum_of_squared_weights_for_unbalanced_clusters(mode):
    data = comb_dataset(3, 4, 5, cluster_weights=[1, 2, 5])
    settings = sim.train_config(mode, 4, 1.0, sim.Config())
    rates = sim.negative_rates(data, settings, 20000, seed=3)
    assert rates["same_cluster_expected"] == pytest.approx((1 + 4 + 25) / 64)
    assert abs(rates["same_cluster_rate"] - rates["same_cluster_expected"]) < 4 * rates["same_cluster_se"]
    assert abs(rates["self_rate"] - rates["self_expected"]) < 4 * rates["self_se"]
    assert abs(rates["same_cluster_rate"] - 1 / 3) > 4 * rates["same_cluster_se"]  # not the balanced value


def test_train_config_matches_negatives_per_anchor_to_l():
    config = sim.Config()
    assert sim.train_config("iid", 4, 2.0, config).batch_size == config.batch_size
    for mode in ("in-batch", "iid-small-batch"):
        settings = sim.train_config(mode, 4, 2.0, config)
        assert settings.batch_size == 5
    assert sim.train_config("in-batch", 4, 2.0, config).negative_mode == "in-batch"


@pytest.mark.parametrize(
    "changes,field",
    [({"d": 0}, "d"), ({"negatives_grid": (0,)}, "negatives_grid"), ({"betas": (-1.0,)}, "betas"), ({"modes": ("hard",)}, "modes"), ({"seeds": 0}, "seeds"), ({"rate_z": 0.0}, "rate_z")],
)
def test_config_validation_names_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        sim.Config(**changes)


def test_plot_builds(tiny_rows):
    import matplotlib.pyplot as plt

    fig = sim.plot(tiny_rows, TINY)
    assert len(fig.axes) == 6
    plt.close(fig)
