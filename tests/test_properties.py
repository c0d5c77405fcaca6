"""Issue 8.4: property tests (hypothesis) for losses, the exact loss and the metrics.

Symmetries: a signed permutation of the coordinates (an automorphism of the hypercube, an
isometry of R^d) changes no inner product, so no loss or metric may move; permutations of
rows that carry their weights along change nothing either. Scale: InfoNCE on normalised
embeddings ignores lengths, on raw embeddings a scale c acts as temperature / c, and the
hypercube loss of c z at beta equals that of z at c^2 beta. Bounds: purity in
[1 / #vertices a cluster uses, 1], TV in [0, 1 - 2^-d], exact loss >= the Theorem 4.5 minimum.
Tests already in tests/losses/test_properties.py and tests/analysis/test_metrics.py (negative
order, hypercube loss bounds, uniformity inequalities, purity on the uniform comb) are not repeated.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from clustertheory.analysis.exact_loss import exact_code_infonce, population_infonce, uniform_minimum
from clustertheory.analysis.hypercube import vertex_codes, vertex_index
from clustertheory.analysis.metrics import (
    alignment_error,
    cluster_agreement,
    cluster_purity,
    preserves_clusters,
    mean_hamming_alignment,
    natural_vertex_law,
    uniformity,
    vertex_law,
)
from clustertheory.data import comb_dataset, jitter_dataset
from clustertheory.losses import hypercube_infonce, infonce

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None)

# A few small datasets, built once: uniform and skewed cluster weights, disjoint and overlapping sets.
DATASETS = [
    comb_dataset(num_clusters=2, points_per_cluster=2, teeth=2),
    comb_dataset(num_clusters=3, points_per_cluster=2, teeth=1, leak=0.2, cluster_weights=[0.6, 0.3, 0.1]),
    comb_dataset(num_clusters=4, points_per_cluster=3, teeth=2, noise=0.1),
    jitter_dataset(num_clusters=3, points_per_cluster=2, bins_per_point=2, width=1, cluster_weights=[1.0, 2.0, 5.0]),
]


@st.composite
def signed_permutations(draw, d: int) -> tuple[list[int], np.ndarray]:
    """A hypercube automorphism y -> s * y[perm]: (perm, signs (d,) in {-1, +1})."""
    perm = draw(st.permutations(list(range(d))))
    signs = np.array(draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=d, max_size=d)))
    return perm, signs


@st.composite
def code_tables(draw, max_d: int = 3):
    """(data, codes (V, d) in {-1,+1}, d): a random code, mixed with cluster codes so that
    aligned and cluster-preserving tables are drawn too."""
    data = draw(st.sampled_from(DATASETS))
    d = draw(st.integers(1, max_d))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    vertices = vertex_codes(d)
    cluster_code = vertices[rng.permutation(2**d)[data.content % 2**d]]
    noise = vertices[rng.integers(0, 2**d, data.num_views)]
    keep = rng.random(data.num_views) < draw(st.sampled_from([0.0, 0.5, 0.9, 1.0]))
    return data, np.where(keep[:, None], cluster_code, noise), d


def apply(automorphism, codes):
    perm, signs = automorphism
    return codes[..., perm] * (signs if isinstance(codes, np.ndarray) else torch.as_tensor(signs, dtype=codes.dtype))


def gaussian(seed: int, *shape) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ----------------------------------------------------------------------------- losses


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), d=st.integers(1, 5), l=st.integers(1, 5), beta=st.floats(0.0, 50.0), data=st.data())
def test_hypercube_loss_is_invariant_under_hypercube_automorphisms(seed, d, l, beta, data):
    """Relaxed codes (any reals): a signed coordinate permutation keeps every z.z'."""
    z, zp, zn = gaussian(seed, 4, d), gaussian(seed + 1, 4, d), gaussian(seed + 2, 4, l, d)
    auto = data.draw(signed_permutations(d))
    rows = hypercube_infonce(z, zp, zn, beta, reduction="none")
    moved = hypercube_infonce(apply(auto, z), apply(auto, zp), apply(auto, zn), beta, reduction="none")
    torch.testing.assert_close(moved, rows, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.1, 3.0), beta=st.floats(0.0, 5.0))
def test_hypercube_loss_scale_acts_as_beta_times_scale_squared(seed, scale, beta):
    z, zp, zn = gaussian(seed, 5, 3), gaussian(seed + 1, 5, 3), gaussian(seed + 2, 5, 4, 3)
    scaled = hypercube_infonce(scale * z, scale * zp, scale * zn, beta, reduction="none")
    torch.testing.assert_close(scaled, hypercube_infonce(z, zp, zn, beta * scale**2, reduction="none"), rtol=1e-10, atol=1e-12)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 6), temperature=st.floats(0.01, 2.0), in_batch=st.booleans())
def test_normalised_infonce_ignores_lengths_and_rotations(seed, k, temperature, in_batch):
    a, p, n = gaussian(seed, 4, 5), gaussian(seed + 1, 4, 5), gaussian(seed + 2, 4, k, 5)
    negatives = None if in_batch else n
    rows = infonce(a, p, negatives, temperature=temperature, reduction="none")
    lengths = torch.exp(gaussian(seed + 3, 4, 1 + k + 1))  # a positive length per vector
    rotation, _ = torch.linalg.qr(gaussian(seed + 4, 5, 5))
    a2, p2, n2 = (lengths[:, :1] * a) @ rotation, (lengths[:, 1:2] * p) @ rotation, (lengths[:, 2:, None] * n) @ rotation
    moved = infonce(a2, p2, None if in_batch else n2, temperature=temperature, reduction="none")
    torch.testing.assert_close(moved, rows, rtol=1e-9, atol=1e-9)
    # bounds from |cos| <= 1: log(1 + K e^{-2/t}) <= l_b <= log(1 + K e^{2/t}), K candidates besides the positive
    candidates = 3 if in_batch else k
    assert (rows >= math.log1p(candidates * math.exp(-2 / temperature)) - 1e-9).all()
    assert (rows <= math.log(candidates) + math.log1p(math.exp(-2 / temperature) / candidates) + 2 / temperature + 1e-9).all()


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 6), temperature=st.floats(0.05, 2.0), scale=st.floats(0.1, 10.0))
def test_raw_infonce_scale_acts_as_temperature_over_scale(seed, k, temperature, scale):
    a, p, n = gaussian(seed, 4, 3), gaussian(seed + 1, 4, 3), gaussian(seed + 2, 4, k, 3)
    scaled = infonce(scale * a, p, n, temperature=temperature, normalize=False, reduction="none")
    reference = infonce(a, p, n, temperature=temperature / scale, normalize=False, reduction="none")
    torch.testing.assert_close(scaled, reference, rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------------- exact loss


@SETTINGS
@given(table=code_tables(), l=st.integers(1, 4), beta=st.floats(0.0, 50.0), data=st.data())
def test_exact_loss_is_above_the_minimum_and_invariant_under_automorphisms(table, l, beta, data):
    dataset, codes, d = table
    value = population_infonce(codes, dataset, l, beta)
    minimum = uniform_minimum(d, l, beta)
    assert math.isfinite(value) and value >= minimum * (1 - 1e-12) - 1e-15
    assert value <= math.log1p(l) + 2 * beta * d + 1e-9
    auto = data.draw(signed_permutations(d))
    assert population_infonce(apply(auto, codes), dataset, l, beta) == pytest.approx(value, rel=1e-12, abs=1e-15)


@SETTINGS
@given(table=code_tables(), l=st.integers(1, 4))
def test_exact_loss_at_beta_zero_is_log_one_plus_l(table, l):
    dataset, codes, _ = table
    assert population_infonce(codes, dataset, l, 0.0) == pytest.approx(math.log1p(l), rel=1e-12)


@SETTINGS
@given(table=code_tables(), l=st.integers(1, 4), beta=st.floats(0.0, 10.0), seed=st.integers(0, 2**32 - 1))
def test_exact_code_loss_is_invariant_to_row_order_and_to_splitting_a_row(table, l, beta, seed):
    dataset, codes, _ = table
    anchor, positive, weight = dataset.pair_weights()
    negative, negative_weight = codes[dataset.base_view], dataset.base_weight
    value = exact_code_infonce(codes[anchor], codes[positive], weight, negative, negative_weight, l, beta)
    rng = np.random.default_rng(seed)
    pairs, negs = rng.permutation(len(weight)), rng.permutation(len(negative_weight))
    shuffled = exact_code_infonce(codes[anchor][pairs], codes[positive][pairs], weight[pairs], negative[negs], negative_weight[negs], l, beta)
    assert shuffled == pytest.approx(value, rel=1e-12, abs=1e-15)
    # the same pair listed twice with half the weight each is the same law
    split_weight = np.concatenate([weight, [weight[0] / 2]])
    split_weight[0] /= 2
    split = exact_code_infonce(
        np.vstack([codes[anchor], codes[anchor][:1]]), np.vstack([codes[positive], codes[positive][:1]]), split_weight, negative, negative_weight, l, beta
    )
    assert split == pytest.approx(value, rel=1e-12, abs=1e-15)


# ----------------------------------------------------------------------------- metrics


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
