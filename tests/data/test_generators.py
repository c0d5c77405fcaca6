"""Generators of ViewDatasets: the augmentation law each promises, measured on its output; invalid
arguments refused naming their range; seeded observation maps."""

import math

import numpy as np
import pytest
from helpers import NONNEG_INT, ONE_OF, POSITIVE_INT, raises, scramble_global_rngs

from clustertheory.data import agnostic_comb, comb_dataset, jitter_dataset


def supports(data) -> list[set[int]]:
    """The set of views each natural image can be augmented to."""
    augment = data.augment.tocsr()
    return [set(augment.indices[augment.indptr[i] : augment.indptr[i + 1]].tolist()) for i in range(data.num_base)]


def group_masses(data, i: int) -> tuple[float, float, float]:
    """Mass of A(x_i) on its own teeth, on other base points of its cluster, on other clusters."""
    row = data.augment.getrow(i).toarray().ravel()
    n = int(np.sum(data.base_cluster == data.base_cluster[i]))
    bins = np.flatnonzero(data.content == data.base_cluster[i])
    offset = bins[0]
    own = [v for v in bins if (v - offset) % n == i % n]
    same_other = [v for v in bins if (v - offset) % n != i % n]
    foreign = np.flatnonzero(data.content != data.base_cluster[i])
    return float(row[own].sum()), float(row[same_other].sum()), float(row[foreign].sum())


@pytest.mark.parametrize("leak,noise", [(0.0, 0.0), (0.2, 0.0), (0.0, 0.3), (0.25, 0.15), (0.5, 0.5)])
def test_augment_rows_are_probability_vectors(leak, noise):
    data = comb_dataset(3, 4, 5, leak=leak, noise=noise)
    rows = np.asarray(data.augment.sum(axis=1)).ravel()
    assert np.allclose(rows, 1.0, atol=1e-12)
    assert data.augment.data.min() > 0
    assert np.isclose(data.base_weight.sum(), 1.0)


def test_comb_teeth_are_disjoint_and_spread_around_the_circle():
    m, n, T = 3, 4, 5
    data = comb_dataset(m, n, T)
    sets = supports(data)
    for i, own in enumerate(sets):
        assert len(own) == T
        assert data.base_view[i] in own  # the natural image is one of its own augmentations
        angles = np.sort(data.style[sorted(own)])
        assert np.allclose(np.diff(angles), 2 * np.pi / T)  # T teeth, evenly spaced
        assert {int(data.content[v]) for v in own} == {int(data.base_cluster[i])}
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            assert not sets[i] & sets[j]
    assert set().union(*sets) == set(range(data.num_views))  # every view belongs to one set


@pytest.mark.parametrize("leak,noise", [(0.2, 0.0), (0.0, 0.3), (0.25, 0.15)])
def test_leak_and_noise_masses_are_exact(leak, noise):
    data = comb_dataset(3, 4, 2, leak=leak, noise=noise)
    for i in range(data.num_base):
        own, same_other, foreign = group_masses(data, i)
        assert own == pytest.approx(1 - leak - noise, abs=1e-12)
        assert same_other == pytest.approx(leak, abs=1e-12)
        assert foreign == pytest.approx(noise, abs=1e-12)


def test_leak_with_one_point_per_cluster_stays_on_own_teeth():
    data = comb_dataset(2, 1, 3, leak=0.4)
    own, same_other, foreign = group_masses(data, 0)
    assert (own, same_other, foreign) == pytest.approx((1.0, 0.0, 0.0))


def test_cluster_weights_are_shared_equally_by_natural_images():
    data = comb_dataset(3, 4, 2, cluster_weights=[1, 2, 5])
    assert np.allclose(data.cluster_weight, np.array([1, 2, 5]) / 8)
    for c in range(3):
        w = data.base_weight[data.base_cluster == c]
        assert np.allclose(w, w[0])


@pytest.mark.parametrize("n,T", [(4, 5), (3, 2), (5, 3)])
def test_frequency_T_style_function_is_clean_but_splits_each_cluster(n, T):
    """cos(T s) is constant on every augmentation set (clean), yet varies inside a cluster;
    the pair (cos T s, sin T s) even tells every base point of a cluster apart."""
    data = comb_dataset(2, n, T)
    cos_t, sin_t = np.cos(T * data.style), np.sin(T * data.style)
    per_base = []
    for own in supports(data):
        idx = sorted(own)
        assert np.ptp(cos_t[idx]) < 1e-9 and np.ptp(sin_t[idx]) < 1e-9
        per_base.append((round(cos_t[idx[0]], 9), round(sin_t[idx[0]], 9)))
    for c in range(data.num_clusters):
        members = [per_base[i] for i in np.flatnonzero(data.base_cluster == c)]
        assert len(set(members)) == n  # every base point distinct
        assert len({cs for cs, _ in members}) > 1  # cos(T s) alone already splits the cluster


def test_lower_frequency_is_not_constant_on_augmentation_sets():
    data = comb_dataset(2, 4, 5)
    for k in range(1, 5):
        spread = max(np.ptp(np.cos(k * data.style[sorted(own)])) for own in supports(data))
        assert spread > 0.1


def test_contiguous_comb_owns_one_arc():
    data = comb_dataset(2, 4, 1)
    for own in supports(data):
        assert len(own) == 1


def test_finite_style_space_labels_bins():
    data = comb_dataset(2, 3, 2, style_space="finite")
    assert np.array_equal(data.style, np.tile(np.arange(6.0), 2))
    assert data.obs.shape == (12, 2 + 6)


@pytest.mark.parametrize("observation,dim", [("identity", None), ("embedding", 16), ("mlp", 16)])
def test_observations_are_injective_and_seeded(observation, dim):
    kwargs = {"observation": observation, "obs_dim": dim or 16}
    data = comb_dataset(3, 4, 5, seed=3, **kwargs)
    again = comb_dataset(3, 4, 5, seed=3, **kwargs)
    assert data.obs.dtype == np.float32
    assert data.obs.shape == (data.num_views, 3 + 2 if observation == "identity" else 16)
    assert len(np.unique(data.obs.round(5), axis=0)) == data.num_views
    assert np.array_equal(data.obs, again.obs)
    if observation != "identity":
        assert not np.allclose(data.obs, comb_dataset(3, 4, 5, seed=4, **kwargs).obs)


def test_jitter_sets_overlap_between_neighbours():
    data = jitter_dataset(2, 4, bins_per_point=4, width=3)
    sets = supports(data)
    assert all(len(s) == 7 for s in sets)
    assert sets[0] & sets[1] and sets[0] & sets[3]  # cyclic neighbours share views
    assert not sets[0] & sets[4]  # different clusters never do
    assert np.allclose(np.asarray(data.augment.sum(axis=1)).ravel(), 1.0)


@pytest.mark.parametrize(
    "kwargs,parameter",
    [
        ({"teeth": 0}, "teeth"),
        ({"teeth": 1.5}, "teeth"),
        ({"points_per_cluster": 0}, "points_per_cluster"),
        ({"num_clusters": -1}, "num_clusters"),
        ({"leak": -0.1}, "leak"),
        ({"noise": 1.5}, "noise"),
        ({"leak": 0.6, "noise": 0.5}, "leak + noise"),
        ({"observation": "pixels"}, "observation"),
        ({"cluster_weights": [1.0, 2.0]}, "cluster_weights"),
        ({"cluster_weights": [1.0, -1.0, 1.0]}, "cluster_weights"),
        ({"observation": "embedding", "obs_dim": 2}, "obs_dim"),
        ({"style_space": "torus"}, "style_space"),
    ],
)
def test_comb_validation_names_the_parameter(kwargs, parameter):
    settings = {"num_clusters": 3, "points_per_cluster": 4, "teeth": 5, **kwargs}
    with pytest.raises(ValueError, match=parameter.replace("+", r"\+")):
        comb_dataset(**settings)


def test_noise_needs_a_second_cluster():
    with pytest.raises(ValueError, match="num_clusters"):
        comb_dataset(1, 4, 5, noise=0.1)


def test_jitter_validation_names_the_parameter():
    with pytest.raises(ValueError, match="width"):
        jitter_dataset(2, 2, bins_per_point=2, width=3)
    with pytest.raises(ValueError, match="bins_per_point"):
        jitter_dataset(2, 2, bins_per_point=0)


COMB_CASES = [
    ({"num_clusters": 0}, "num_clusters", POSITIVE_INT),
    ({"num_clusters": 2.0}, "num_clusters", POSITIVE_INT),
    ({"points_per_cluster": 0}, "points_per_cluster", POSITIVE_INT),
    ({"teeth": 0}, "teeth", POSITIVE_INT),
    ({"teeth": -2}, "teeth", POSITIVE_INT),
    ({"leak": -0.1}, "leak", r"in \[0, 1\]"),
    ({"leak": 1.5}, "leak", r"in \[0, 1\]"),
    ({"noise": math.nan}, "noise", r"in \[0, 1\]"),
    ({"leak": 0.6, "noise": 0.6}, "leak \\+ noise", r"<= 1"),
    ({"num_clusters": 1, "noise": 0.1}, "noise", r"num_clusters >= 2"),
    ({"cluster_weights": [1.0]}, "cluster_weights", r"2 positive numbers"),
    ({"cluster_weights": [1.0, -1.0]}, "cluster_weights", r"2 positive numbers"),
    ({"cluster_weights": [1.0, math.nan]}, "cluster_weights", r"2 positive numbers"),
    ({"cluster_weights": [1.0, math.inf]}, "cluster_weights", r"2 positive numbers"),
    ({"observation": "pixels"}, "observation", ONE_OF),
    ({"observation": "embedding", "obs_dim": 0}, "obs_dim", POSITIVE_INT),
    ({"observation": "embedding", "obs_dim": 8.5}, "obs_dim", POSITIVE_INT),
    ({"obs_dim": -1}, "obs_dim", POSITIVE_INT),
    ({"observation": "mlp", "obs_dim": 3}, "obs_dim", r">= 4 \(the latent dimension\)"),
    ({"style_space": "torus"}, "style_space", ONE_OF),
    ({"seed": -1}, "seed", NONNEG_INT),
    ({"observation": "embedding", "seed": -1}, "seed", NONNEG_INT),
]


@pytest.mark.parametrize("change,name,allowed", COMB_CASES, ids=[repr(c) for c, _, _ in COMB_CASES])
def test_comb_dataset_rejects_invalid_arguments(change, name, allowed):
    with raises(name, allowed):
        comb_dataset(**{"num_clusters": 2, "points_per_cluster": 2, "teeth": 2, **change})


JITTER_CASES = [
    ({"num_clusters": 0}, "num_clusters", POSITIVE_INT),
    ({"points_per_cluster": -1}, "points_per_cluster", POSITIVE_INT),
    ({"bins_per_point": 0}, "bins_per_point", POSITIVE_INT),
    ({"width": 0}, "width", POSITIVE_INT),
    ({"width": 6}, "width", r"2\*width \+ 1 <= points_per_cluster\*bins_per_point = 12"),
    ({"cluster_weights": [1.0, 2.0, 3.0]}, "cluster_weights", r"2 positive numbers"),
    ({"observation": "pixels"}, "observation", ONE_OF),
    ({"obs_dim": 0}, "obs_dim", POSITIVE_INT),
    ({"seed": -5}, "seed", NONNEG_INT),
]


@pytest.mark.parametrize("change,name,allowed", JITTER_CASES, ids=[repr(c) for c, _, _ in JITTER_CASES])
def test_jitter_dataset_rejects_invalid_arguments(change, name, allowed):
    with raises(name, allowed):
        jitter_dataset(**{"num_clusters": 2, "points_per_cluster": 3, "bins_per_point": 4, "width": 2, **change})


def test_generators_accept_their_boundary_values():
    assert comb_dataset(1, 1, 1).num_views == 1
    assert comb_dataset(2, 2, 2, leak=0.5, noise=0.5).num_views == 8
    assert jitter_dataset(1, 1, bins_per_point=3, width=1).num_views == 3


@pytest.mark.parametrize("observation", ["embedding", "mlp"])
def test_seeded_observation_maps_repeat(observation):
    first = comb_dataset(2, 2, 2, observation=observation, obs_dim=8, seed=4).obs
    scramble_global_rngs()
    np.testing.assert_array_equal(first, comb_dataset(2, 2, 2, observation=observation, obs_dim=8, seed=4).obs)
    assert not np.array_equal(first, comb_dataset(2, 2, 2, observation=observation, obs_dim=8, seed=5).obs)


def test_agnostic_comb_has_one_free_vertex_and_geometric_weights():
    data = agnostic_comb(3, 4, 2, leak=0.1, noise=0.02, imbalance=0.5)
    assert data.num_clusters == 7 and data.num_base == 28
    weights = np.asarray(data.cluster_weight)
    assert weights == pytest.approx(0.5 ** np.arange(7) / (0.5 ** np.arange(7)).sum())
