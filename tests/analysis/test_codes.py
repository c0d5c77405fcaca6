"""The realizable comb setting and the code measurements shared by the theorem simulations."""

import itertools

import numpy as np
import pytest

from clustertheory.analysis.blurring import reduced_loss
from clustertheory.analysis.codes import (
    IN_CLASS_KINDS,
    RealizableComb,
    band_limited_codes,
    cluster_constant_law_count,
    cluster_constant_laws,
    code_summaries,
    code_summary,
    crosscheck_method_gap,
    crosscheck_z,
    law_margins,
    loss_crosscheck,
)
from clustertheory.analysis.exact_loss import population_infonce, uniform_minimum
from clustertheory.analysis.hypercube import vertex_codes

COMB = RealizableComb()


def test_realizable_comb_builds_k_clusters_per_vertex_and_says_when_it_is_intertwined():
    data = RealizableComb(clusters_per_vertex=2, points_per_cluster=3, teeth=4).dataset(2)
    assert data.num_clusters == 8 and data.num_base == 8 * 3 and data.num_views == 8 * 3 * 4
    assert COMB.class_options() == {"bandwidth": 2}
    assert COMB.intertwined().passed and not RealizableComb(bandwidth=5).intertwined().passed
    with pytest.raises(ValueError, match="bandwidth"):
        RealizableComb(bandwidth=-1)
    with pytest.raises(ValueError, match="teeth"):
        COMB.replace(teeth=0)


def test_code_summaries_measure_the_minimiser_and_other_codes():
    data = COMB.dataset(2)
    preserving = vertex_codes(2)[data.content]
    collapsed = np.ones((data.num_views, 2))
    split = preserving.copy()
    split[(data.content == 0) & (np.arange(data.num_views) % 2 == 0)] = vertex_codes(2)[1]  # half of cluster 0 moves
    augmented = preserving.copy()
    augmented[np.setdiff1d(np.flatnonzero(data.content == 0), data.base_view)[0]] = vertex_codes(2)[3]  # natural images untouched
    rows = code_summaries(np.stack([preserving, collapsed, split, augmented]), data, 8, 1.5)
    best, flat, half, off = rows
    assert best["minimiser_shape"] and abs(best["gap"]) < 1e-12 and best["minimum"] == uniform_minimum(2, 8, 1.5)
    assert flat["tv"] == pytest.approx(0.75) and not flat["uniform"] and flat["gap"] > 0
    assert not half["preserving"] and half["min_purity"] == pytest.approx(0.5) and half["gap"] > 0
    assert not off["preserving"] and off["alignment_error"] > 0  # preservation counts augmented views
    assert half["exact_loss"] == pytest.approx(population_infonce(split, data, 8, 1.5), abs=1e-12)
    assert code_summary(split, data, 8, 1.5) == half


def test_loss_crosscheck_agrees_with_the_exact_loss():
    data = COMB.dataset(2)
    codes = vertex_codes(2)[np.random.default_rng(0).integers(0, 4, data.num_views)]
    check = loss_crosscheck(codes, data, 6, 2.0, 8000, seed=3)
    exact = population_infonce(codes, data, 6, 2.0)
    assert abs(check["loss_multinomial"] - exact) < 1e-12 and abs(check["loss_laplace"] - exact) < 1e-12
    assert abs(check["loss_mc"] - exact) < 4 * check["loss_mc_se"]
    assert np.isnan(loss_crosscheck(codes, data, 2000, 2.0, 100)["loss_multinomial"])  # too many multinomial terms


def test_crosscheck_readers_take_the_largest_method_gap_and_the_monte_carlo_z():
    row = {"exact_loss": 1.0, "loss_multinomial": 1.0 + 2e-10, "loss_laplace": 1.0 - 5e-10, "loss_mc": 1.03, "loss_mc_se": 0.01}
    assert crosscheck_method_gap(row) == pytest.approx(5e-10, rel=1e-6)
    assert crosscheck_method_gap({**row, "loss_multinomial": float("nan")}) == pytest.approx(5e-10, rel=1e-6)  # nan skipped
    assert crosscheck_z(row, row["exact_loss"], 1e-12) == pytest.approx(3.0)
    assert crosscheck_z(row, 1.05, 1e-12) == pytest.approx(2.0)
    assert crosscheck_z({**row, "loss_mc_se": 0.0}, 1.0, 1e-2) == pytest.approx(3.0)  # the floor stands in for se = 0


def test_band_limited_codes_are_in_the_class_and_split_codes_split():
    data = COMB.dataset(2)
    codes = band_limited_codes(2, data, COMB, 8, 300, np.random.default_rng(1))
    assert set(codes) == set(IN_CLASS_KINDS)
    assert len(codes["clean-assignment"]) == 4**4 and len(codes["random-in-class"]) == len(codes["split-cluster"]) == 8
    for table in codes.values():
        assert table.shape[1:] == (data.num_views, 2) and set(np.unique(table)) <= {-1.0, 1.0}
    clean = code_summaries(codes["clean-assignment"], data, 4, 1.0)
    assert all(r["alignment_error"] == 0 for r in clean) and sum(r["minimiser_shape"] for r in clean) == 24  # the 4! bijections
    split = code_summaries(codes["split-cluster"], data, 4, 1.0)
    assert sum(not r["preserving"] for r in split) >= len(split) // 2
    assert "split-cluster" not in band_limited_codes(2, data, RealizableComb(bandwidth=0), 4, 300, np.random.default_rng(1))


def test_cluster_constant_laws_cover_every_orbit_once():
    laws = cluster_constant_laws(2, 1, 20000, 10, np.random.default_rng(0))
    assert np.allclose(laws.sum(axis=1), 1.0) and np.any(np.all(np.isclose(laws, 0.25), axis=1))
    assert cluster_constant_law_count(2, 1) == 35
    listed = np.round(reduced_loss(laws, 3, 1.0), 12)
    assert len(set(listed)) == len(laws)  # distinct orbits have distinct losses here
    every = np.array([c for c in itertools.product(range(5), repeat=4) if sum(c) == 4]) / 4
    assert set(np.round(reduced_loss(every, 3, 1.0), 12)) == set(listed)


def test_sampled_laws_include_uniform_and_its_neighbours():
    laws = cluster_constant_laws(2, 2, 10, 20, np.random.default_rng(0))
    uniform = np.full(4, 0.25)
    assert np.any(np.all(np.isclose(laws, uniform), axis=1))
    assert np.any(np.isclose(np.abs(laws - uniform).sum(axis=1), 2 / 8))  # one cluster (weight 1/8) moved


def test_law_margins_put_the_uniform_law_at_the_minimum_and_others_above():
    laws = cluster_constant_laws(2, 1, 1000, 10, np.random.default_rng(0))
    margins = law_margins(laws, 2, 4, 1.0)
    assert margins["minimum"] == uniform_minimum(2, 4, 1.0) and margins["laws"] == len(laws)
    assert abs(margins["uniform_gap"]) < 1e-9
    gaps = np.asarray(reduced_loss(laws, 4, 1.0, method="laplace")) - margins["minimum"]
    assert margins["min_nonuniform_gap"] == gaps[~np.all(np.isclose(laws, 0.25), axis=1)].min() > 0
    with pytest.raises(ValueError, match="uniform"):
        law_margins(np.full((1, 4), 0.25), 2, 4, 1.0)
