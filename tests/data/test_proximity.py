"""The empirical augmentation graph: which natural images' augmentation sets come within a distance."""

import numpy as np
import pytest

from clustertheory.data import comb_dataset
from clustertheory.data.digits import digits_dataset
from clustertheory.data.graph import augmentation_proximity, base_components, proximity_summary


def test_disjoint_sets_are_not_linked_at_distance_zero():
    data = comb_dataset(3, 4, 2)  # identity observations: distinct bins are distinct points
    assert augmentation_proximity(data, 0.0).nnz == 0
    summary = proximity_summary(data, 0.0)
    assert summary["isolated_mass"] == pytest.approx(1.0) and summary["components"] == 4


def test_shared_views_link_images_and_match_the_exact_graph():
    """With a leak the sets share views (distance 0): the proximity graph at radius 0 is the
    exact augmentation graph's base-base adjacency, and the noise adds cross-cluster links."""
    leaky = comb_dataset(3, 4, 2, leak=0.2)
    linked = augmentation_proximity(leaky, 0.0).toarray()
    cluster = leaky.base_cluster
    assert np.array_equal(linked, (cluster[:, None] == cluster[None, :]) & ~np.eye(len(cluster), dtype=bool))
    assert proximity_summary(leaky, 0.0)["cross_cluster_share"] == 0.0
    assert len(np.unique(base_components(leaky))) == 3
    noisy = comb_dataset(3, 4, 2, noise=0.1)
    summary = proximity_summary(noisy, 0.0)
    assert summary["cross_cluster_share"] > 0 and summary["mass_linked_across"] == pytest.approx(1.0)


def test_the_graph_grows_with_the_radius_and_is_symmetric():
    data = digits_dataset(num_images=40, views_per_image=2, strength=1.0, seed=0)
    small, large = augmentation_proximity(data, 0.8), augmentation_proximity(data, 2.0)
    assert (small != small.T).nnz == 0 and small.diagonal().sum() == 0
    assert (small.multiply(large) != small).nnz == 0  # every link at 0.8 is a link at 2.0
    assert large.nnz > small.nnz
    everything = proximity_summary(data, 100.0)
    assert everything["links_per_image"] == 39 and everything["components"] == 1


def test_a_link_means_some_pair_of_points_within_the_radius():
    data = digits_dataset(num_images=12, views_per_image=2, strength=1.0, seed=3)
    radius = 1.5
    linked = augmentation_proximity(data, radius).toarray()
    members = [np.concatenate([[i], data.augment[i].indices]) for i in range(12)]
    obs = data.obs.astype(np.float64)
    for i in range(12):
        for j in range(12):
            if i != j:
                gap = min(np.linalg.norm(obs[u] - obs[v]) for u in members[i] for v in members[j])
                assert linked[i, j] == (gap <= radius)


def test_negative_radius_is_rejected():
    with pytest.raises(ValueError, match="radius"):
        augmentation_proximity(comb_dataset(2, 2, 1), -1.0)
