"""Metrics of hypercube codes: hand-computed cases, bounds and identities, invalid arguments,
degenerate codes (no warnings, no NaN), and symmetries (hypothesis)."""

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import raises
from hypercube_strategies import SETTINGS, apply, code_tables, signed_permutations
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

from clustertheory.analysis.hypercube import (
    MAX_EXACT_DIM,
    hamming_matrix,
    vertex_codes,
    vertex_index,
)
from clustertheory.analysis.metrics import (
    code_metrics,
    alignment_error,
    cluster_agreement,
    cluster_purity,
    mean_hamming_alignment,
    natural_vertex_law,
    preserves_clusters,
    uniformity,
    vertex_law,
)
from clustertheory.data import ViewDataset, comb_dataset
from clustertheory.training.trainer import default_evaluator


def tiny_dataset() -> ViewDataset:
    """Views 0..3; natural images 0 (cluster 0) and 2 (cluster 1), each with weight 1/2.

    A(x_0) = 1/2 view 0 + 1/2 view 1;  A(x_2) = 1/4 view 2 + 3/4 view 3.
    """
    augment = sp.csr_matrix(np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.25, 0.75]]))
    return ViewDataset(
        content=np.array([0, 0, 1, 1]),
        style=np.zeros(4),
        obs=np.zeros((4, 1), dtype=np.float32),
        base_view=np.array([0, 2]),
        base_weight=np.array([0.5, 0.5]),
        augment=augment,
        num_clusters=2,
    )


def cluster_codes(data: ViewDataset, d: int, vertices=None) -> np.ndarray:
    """(V, d): every view gets the code of its cluster's vertex (vertex c by default)."""
    vertices = np.arange(data.num_clusters) if vertices is None else np.asarray(vertices)
    return vertex_codes(d)[vertices[data.content]]


def test_vertex_encoding_round_trip_and_hamming():
    codes = vertex_codes(4)
    assert (vertex_index(codes) == np.arange(16)).all()
    assert (codes[0] == 1).all()  # +1 is bit 0
    distance = hamming_matrix(4)
    assert (codes @ codes.T == 4 - 2 * distance).all()  # y.y' = d - 2 h


def test_vertex_law_hand_case():
    codes = np.array([[1, 1], [1, -1], [1, 1]])
    law = vertex_law(codes, np.array([0.2, 0.3, 0.5]))
    assert law == pytest.approx([0.7, 0.0, 0.3, 0.0])


@pytest.mark.parametrize(
    "codes, weights, match",
    [
        (np.array([[1, 0]]), np.array([1.0]), "codes"),
        (np.array([[1, 1]]), np.array([0.5, 0.5]), "weights"),
        (np.ones((2, 13)), np.array([0.5, 0.5]), "d"),
        (np.array([[1, 1]]), np.array([-1.0]), "weights"),
    ],
)
def test_vertex_law_rejects_bad_input(codes, weights, match):
    with pytest.raises(ValueError, match=match):
        vertex_law(codes, weights)


def test_alignment_hand_case():
    data = tiny_dataset()
    codes = np.array([[1, 1], [1, -1], [-1, -1], [1, 1]])
    # x_0 -> view 1 differs in 1 bit (mass 1/4); x_2 -> view 3 differs in 2 bits (mass 3/8)
    assert alignment_error(codes, data) == pytest.approx(0.25 + 0.375)
    assert mean_hamming_alignment(codes, data) == pytest.approx(0.25 * 1 + 0.375 * 2)
    assert natural_vertex_law(codes, data) == pytest.approx([0.5, 0.0, 0.0, 0.5])


def test_cluster_code_is_aligned_pure_and_preserving():
    data = comb_dataset(num_clusters=4, points_per_cluster=3, teeth=2)
    codes = cluster_codes(data, d=2)
    assert alignment_error(codes, data) == 0.0
    assert mean_hamming_alignment(codes, data) == 0.0
    assert cluster_purity(codes, data) == pytest.approx(np.ones(4))
    assert preserves_clusters(codes, data)
    agreement = cluster_agreement(codes, data)
    assert agreement["ari"] == pytest.approx(1.0) and agreement["ami"] == pytest.approx(1.0)


def test_purity_and_preserving_flag_detect_a_split_cluster():
    data = comb_dataset(num_clusters=2, points_per_cluster=4, teeth=2)
    codes = cluster_codes(data, d=2)
    split_view = data.base_view[0]  # one of the four natural images of cluster 0 moves to vertex 3
    codes[split_view] = vertex_codes(2)[3]
    assert cluster_purity(codes, data) == pytest.approx([0.75, 1.0])
    assert not preserves_clusters(codes, data)
    assert preserves_clusters(codes, data, tol=0.25)
    # the moved natural image keeps its second tooth on the old vertex: half its augmentations differ
    assert alignment_error(codes, data) == pytest.approx(data.base_weight[0] * 0.5)


def test_preserving_flag_requires_distinct_vertices_when_possible():
    data = comb_dataset(num_clusters=2, points_per_cluster=2, teeth=2)
    merged = cluster_codes(data, d=2, vertices=[1, 1])
    assert not preserves_clusters(merged, data)
    assert preserves_clusters(merged, data, distinct=False)
    many = comb_dataset(num_clusters=3, points_per_cluster=2, teeth=2)  # 3 clusters > 2 vertices of H_1
    assert preserves_clusters(cluster_codes(many, d=1, vertices=[0, 1, 1]), many)


def test_agreement_matches_sklearn_on_equal_weights():
    data = comb_dataset(num_clusters=4, points_per_cluster=3, teeth=2)
    rng = np.random.default_rng(0)
    codes = vertex_codes(2)[rng.integers(0, 4, data.num_views)]
    labels = vertex_index(codes[data.base_view])
    agreement = cluster_agreement(codes, data)
    assert agreement["ari"] == pytest.approx(adjusted_rand_score(data.base_cluster, labels))
    assert agreement["ami"] == pytest.approx(adjusted_mutual_info_score(data.base_cluster, labels))


def test_agreement_weights_natural_images():
    data = comb_dataset(num_clusters=2, points_per_cluster=2, teeth=1, cluster_weights=[1, 3])
    codes = cluster_codes(data, d=2)
    codes[data.base_view[0]] = vertex_codes(2)[2]  # split the light cluster
    # each natural image of cluster 1 weighs 3 times one of cluster 0: repeat the labels by hand
    repeat = np.array([1, 1, 3, 3])
    clusters = np.repeat(data.base_cluster, repeat)
    vertices = np.repeat(vertex_index(codes[data.base_view]), repeat)
    assert cluster_agreement(codes, data)["ari"] == pytest.approx(adjusted_rand_score(clusters, vertices))


def test_metrics_reject_codes_of_the_wrong_length():
    data = tiny_dataset()
    with pytest.raises(ValueError, match="one row per view"):
        alignment_error(np.ones((3, 2)), data)
    with pytest.raises(ValueError, match="tol"):
        preserves_clusters(np.ones((4, 2)), data, tol=1.0)


def test_uniformity_hand_cases():
    point = uniformity(np.array([1.0, 0.0]))
    assert point["tv"] == pytest.approx(0.5)
    assert point["kl"] == pytest.approx(math.log(2))
    assert point["entropy_gap"] == pytest.approx(math.log(2))
    assert point["collision_excess"] == pytest.approx(0.5)
    flat = uniformity(np.full(8, 1 / 8))
    assert all(abs(v) < 1e-15 for v in flat.values())
    skew = uniformity(np.array([0.5, 0.25, 0.25, 0.0]))
    assert skew["tv"] == pytest.approx(0.25)
    assert skew["kl"] == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(1))
    assert skew["collision_excess"] == pytest.approx(0.0625 + 0 + 0 + 0.0625)


@pytest.mark.parametrize("law", [np.ones(3) / 3, np.array([0.5, 0.6]), np.array([[0.5, 0.5]])])
def test_uniformity_rejects_non_laws(law):
    with pytest.raises(ValueError, match="law"):
        uniformity(law)


@settings(max_examples=60, deadline=None)
@given(d=st.integers(1, 6), seed=st.integers(0, 10**6), concentration=st.sampled_from([0.05, 0.5, 5.0]))
def test_uniformity_properties(d, seed, concentration):
    law = np.random.default_rng(seed).dirichlet(np.full(2**d, concentration))
    law = law / law.sum()
    stats = uniformity(law)
    assert 0.0 <= stats["tv"] <= 1.0 - 2.0**-d + 1e-12
    assert stats["kl"] >= -1e-12
    assert stats["kl"] == pytest.approx(stats["entropy_gap"], abs=1e-12)
    # collision identity: sum_v (p_v - 2^-d)^2 = sum_v p_v^2 - 2^-d
    assert stats["collision_excess"] == pytest.approx((law**2).sum() - 2.0**-d, abs=1e-15)
    # Pinsker: tv <= sqrt(kl / 2)
    assert stats["tv"] <= math.sqrt(stats["kl"] / 2) + 1e-12


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), d=st.integers(1, 3), teeth=st.integers(1, 3))
def test_purity_bounds(seed, d, teeth):
    data = comb_dataset(num_clusters=3, points_per_cluster=4, teeth=teeth)
    codes = vertex_codes(d)[np.random.default_rng(seed).integers(0, 2**d, data.num_views)]
    purity = cluster_purity(codes, data)
    natural = vertex_index(codes[data.base_view])
    for c in range(3):
        used = len(np.unique(natural[data.base_cluster == c]))
        assert 1.0 / used - 1e-12 <= purity[c] <= 1.0 + 1e-12
    assert 0.0 <= alignment_error(codes, data) <= 1.0
    assert 0.0 <= mean_hamming_alignment(codes, data) <= d


def test_preserves_clusters_on_all_views_also_sees_augmented_views():
    """A code pure on natural images but with one augmented view off its cluster's vertex
    preserves clusters on natural images and not on all views; tol admits that one view."""
    data = comb_dataset(num_clusters=2, points_per_cluster=2, teeth=2)
    codes = np.where(data.content[:, None] == 0, 1, -1) * np.ones((data.num_views, 2), dtype=np.int64)
    assert preserves_clusters(codes, data, views="all")
    augmented = np.setdiff1d(np.flatnonzero(data.content == 0), data.base_view)
    codes[augmented[0]] = -codes[augmented[0]]
    assert preserves_clusters(codes, data, views="natural")
    assert not preserves_clusters(codes, data, views="all")
    share = 1 / np.sum(data.content == 0)
    assert preserves_clusters(codes, data, views="all", tol=share)
    with pytest.raises(ValueError, match="views"):
        preserves_clusters(codes, data, views="some")


# ----------------------------------------------------------------------------- validation

SMALL = comb_dataset(num_clusters=2, points_per_cluster=2, teeth=2)
SMALL_CODES = np.ones((SMALL.num_views, 2))


@pytest.mark.parametrize(
    "call,name,allowed",
    [
        (lambda: alignment_error(np.ones((SMALL.num_views, MAX_EXACT_DIM + 1)), SMALL), r"\(d\)", rf"integer in \[1, {MAX_EXACT_DIM}\]"),
        (lambda: cluster_purity(np.zeros((SMALL.num_views, 2)), SMALL), "codes", r"only -1 and \+1"),
        (lambda: natural_vertex_law(SMALL_CODES[:3], SMALL), "codes", r"one row per view \(8\)"),
        (lambda: vertex_law(np.ones((2, 2)), [0.5, -0.5]), "weights", r"non-negative"),
        (lambda: vertex_law(np.ones((2, 2)), [1.0]), "weights", r"shape \(2,\)"),
        (lambda: uniformity([0.2, 0.2, 0.2]), "law", r"length 2\^d"),
        (lambda: uniformity([0.5, 0.6]), "law", r"sum to 1"),
        (lambda: uniformity(np.full(2 ** (MAX_EXACT_DIM + 1), 2.0 ** -(MAX_EXACT_DIM + 1))), r"\(d\)", rf"integer in \[1, {MAX_EXACT_DIM}\]"),
        (lambda: preserves_clusters(SMALL_CODES, SMALL, tol=1.0), "tol", r"in \[0, 1\)"),
        (lambda: preserves_clusters(SMALL_CODES, SMALL, tol=-0.1), "tol", r"in \[0, 1\)"),
    ],
    ids=["d-too-large", "not-codes", "rows", "neg-weights", "weight-shape", "law-length", "law-sum", "law-d-too-large", "tol=1", "tol<0"],
)
def test_metrics_reject_invalid_arguments(call, name, allowed):
    with raises(name, allowed):
        call()


# ----------------------------------------------------------------------------- degenerate codes

FOUR_CLUSTERS = comb_dataset(num_clusters=4, points_per_cluster=2, teeth=2)


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("data", [FOUR_CLUSTERS, comb_dataset(num_clusters=1, points_per_cluster=3, teeth=2)], ids=["4 clusters", "1 cluster"])
def test_metrics_on_codes_that_put_every_view_on_one_vertex(d, data):
    codes = -np.ones((data.num_views, d))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division-by-zero or invalid-value warnings either
        law = natural_vertex_law(codes, data)
        stats = uniformity(law)
        agreement = cluster_agreement(codes, data)
        purity = cluster_purity(codes, data)
        evaluated = default_evaluator(data)(codes[None].astype(np.int8))
    assert law[2**d - 1] == pytest.approx(1.0) and law.sum() == pytest.approx(1.0)
    assert alignment_error(codes, data) == 0.0 and mean_hamming_alignment(codes, data) == 0.0
    np.testing.assert_array_equal(purity, np.ones(data.num_clusters))
    assert stats["tv"] == pytest.approx(1 - 2.0**-d)
    assert stats["kl"] == pytest.approx(d * math.log(2)) and stats["entropy_gap"] == pytest.approx(d * math.log(2))
    assert stats["collision_excess"] == pytest.approx(1 - 2.0**-d)
    assert all(math.isfinite(v) for v in (*stats.values(), *agreement.values()))
    if data.num_clusters > 1:
        assert agreement["ari"] == pytest.approx(0.0, abs=1e-12) and agreement["ami"] == pytest.approx(0.0, abs=1e-12)
    # pure clusters, but on one shared vertex: preserving only when distinct vertices are not required
    assert preserves_clusters(codes, data, distinct=False)
    assert preserves_clusters(codes, data) == (data.num_clusters == 1 or data.num_clusters > 2**d)
    assert evaluated == [{"alignment_error": 0.0, "min_purity": 1.0}]


# ----------------------------------------------------------------------------- properties


@SETTINGS
@given(table=code_tables(max_d=4))
def test_metric_bounds(table):
    dataset, codes, d = table
    purity = cluster_purity(codes, dataset)
    natural = vertex_index(codes[dataset.base_view])
    for c in range(dataset.num_clusters):
        used = len(np.unique(natural[dataset.base_cluster == c]))
        assert 1.0 / used - 1e-12 <= purity[c] <= 1.0 + 1e-12
    stats = uniformity(natural_vertex_law(codes, dataset))
    assert 0.0 <= stats["tv"] <= 1.0 - 2.0**-d + 1e-12
    assert 0.0 <= alignment_error(codes, dataset) <= mean_hamming_alignment(codes, dataset) + 1e-12
    assert mean_hamming_alignment(codes, dataset) <= d * alignment_error(codes, dataset) + 1e-12
    agreement = cluster_agreement(codes, dataset)
    assert agreement["ari"] <= 1.0 + 1e-12 and agreement["ami"] <= 1.0 + 1e-12
    if preserves_clusters(codes, dataset):
        np.testing.assert_allclose(purity, 1.0)


@SETTINGS
@given(table=code_tables(max_d=4), data=st.data())
def test_metrics_are_invariant_under_hypercube_automorphisms(table, data):
    dataset, codes, d = table
    moved = apply(data.draw(signed_permutations(d)), codes)
    assert alignment_error(moved, dataset) == pytest.approx(alignment_error(codes, dataset), abs=1e-12)
    assert mean_hamming_alignment(moved, dataset) == pytest.approx(mean_hamming_alignment(codes, dataset), abs=1e-12)
    np.testing.assert_allclose(cluster_purity(moved, dataset), cluster_purity(codes, dataset), atol=1e-12)
    assert preserves_clusters(moved, dataset) == preserves_clusters(codes, dataset)
    before, after = uniformity(natural_vertex_law(codes, dataset)), uniformity(natural_vertex_law(moved, dataset))
    assert after == pytest.approx(before, abs=1e-12)
    assert cluster_agreement(moved, dataset) == pytest.approx(cluster_agreement(codes, dataset), abs=1e-12)


@SETTINGS
@given(d=st.integers(1, 5), n=st.integers(1, 20), seed=st.integers(0, 2**32 - 1), scale=st.floats(1e-3, 1e3))
def test_vertex_law_ignores_row_order_and_is_linear_in_the_weights(d, n, seed, scale):
    rng = np.random.default_rng(seed)
    codes = vertex_codes(d)[rng.integers(0, 2**d, n)]
    weights = rng.random(n)
    law = vertex_law(codes, weights)
    order = rng.permutation(n)
    np.testing.assert_allclose(vertex_law(codes[order], weights[order]), law, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(vertex_law(codes, scale * weights), scale * law, rtol=1e-12, atol=1e-15)
    assert law.sum() == pytest.approx(weights.sum(), rel=1e-12) and (law >= 0).all()


def test_code_metrics_of_a_preserving_and_of_a_constant_code():
    data = comb_dataset(num_clusters=4, points_per_cluster=3, teeth=2)
    good = code_metrics(cluster_codes(data, 2), data)
    assert good["ari"] == good["ami"] == 1.0 and good["mean_purity"] == good["min_purity"] == 1.0
    assert good["tv"] == 0.0 and good["vertices_used"] == good["distinct_cluster_vertices"] == 4 and good["alignment_error"] == 0.0
    padded = np.concatenate([cluster_codes(data, 2), -np.ones((3, 2))])  # rows past the views are ignored
    assert code_metrics(padded, data) == good
    flat = code_metrics(np.ones((data.num_views, 2)), data)
    assert flat["ari"] == 0.0 and flat["vertices_used"] == flat["distinct_cluster_vertices"] == 1 and flat["tv"] == 0.75
