"""The augmentation graph and its Markov kernels, checked against their defining properties."""

import itertools

import networkx as nx
import numpy as np
import pytest

from clustertheory.data import (
    augmentation_graph,
    base_components,
    base_kernel,
    cluster_components,
    comb_dataset,
    jitter_dataset,
    spectral_gap,
    stationary_law,
    view_kernel,
)

DATASETS = {
    "comb": lambda: comb_dataset(3, 4, 5),
    "comb-leak": lambda: comb_dataset(3, 4, 5, leak=0.2),
    "comb-noise": lambda: comb_dataset(3, 4, 2, leak=0.1, noise=0.1, cluster_weights=[1, 2, 3]),
    "jitter": lambda: jitter_dataset(2, 4, bins_per_point=4, width=3),
}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_view_kernel_is_stochastic_stationary_and_reversible(name):
    data = DATASETS[name]()
    P = view_kernel(data).toarray()
    mu = stationary_law(data)
    assert np.isclose(mu.sum(), 1.0)
    assert np.allclose(P.sum(axis=1), 1.0)  # every view of these datasets is reachable
    assert np.allclose(mu @ P, mu)
    flow = mu[:, None] * P
    assert np.allclose(flow, flow.T, atol=1e-15)  # detailed balance


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_base_kernel_is_stochastic_and_reversible_for_the_natural_weights(name):
    data = DATASETS[name]()
    K = base_kernel(data).toarray()
    w = data.base_weight
    assert np.allclose(K.sum(axis=1), 1.0)
    flow = w[:, None] * K
    assert np.allclose(flow, flow.T, atol=1e-15)


def test_view_kernel_matches_a_direct_two_step_simulation():
    """P(v'|v) = sum_i P(i|v) A[i, v']: estimate by drawing (i, v, v') forward and conditioning on v."""
    data = comb_dataset(2, 3, 2, leak=0.3)
    A = data.augment.toarray()
    rng = np.random.default_rng(0)
    samples = 200_000
    base = rng.choice(data.num_base, size=samples, p=data.base_weight)
    cdf = np.cumsum(A, axis=1)  # two independent augmentations of each base point, by inverse CDF
    u1, u2 = rng.random(samples), rng.random(samples)
    first = (u1[:, None] > cdf[base]).sum(axis=1)
    second = (u2[:, None] > cdf[base]).sum(axis=1)
    counts = np.zeros((data.num_views, data.num_views))
    np.add.at(counts, (first, second), 1)
    empirical = counts / counts.sum(axis=1, keepdims=True)
    P = view_kernel(data).toarray()
    se = np.sqrt(P * (1 - P) / counts.sum(axis=1, keepdims=True))
    assert np.all(np.abs(empirical - P) <= 5 * se + 1e-12)


def test_bipartite_graph_carries_the_augmentation_law():
    data = comb_dataset(2, 3, 4, leak=0.1)
    graph = augmentation_graph(data)
    base = [node for node, side in graph.nodes(data="bipartite") if side == 0]
    views = [node for node, side in graph.nodes(data="bipartite") if side == 1]
    assert len(base) == data.num_base and len(views) == data.num_views
    assert nx.is_bipartite(graph)
    A = data.augment.toarray()
    for (_, i) in base:
        assert graph.nodes[("base", i)]["weight"] == pytest.approx(data.base_weight[i])
        total = sum(graph.edges[("base", i), nbr]["weight"] for nbr in graph.neighbors(("base", i)))
        assert total == pytest.approx(1.0)
    for u, v, weight in graph.edges(data="weight"):
        (_, i), (_, view) = (u, v) if u[0] == "base" else (v, u)
        assert weight == pytest.approx(A[i, view])
    assert graph.number_of_edges() == np.count_nonzero(A)


@pytest.mark.parametrize("n,T", [(4, 5), (3, 2), (5, 1)])
def test_comb_has_n_components_per_cluster(n, T):
    data = comb_dataset(3, n, T)
    assert np.array_equal(cluster_components(data), np.full(3, n))
    assert len(np.unique(base_components(data))) == 3 * n


def test_leak_and_jitter_connect_each_cluster_but_not_across():
    for data in (comb_dataset(3, 4, 5, leak=0.05), jitter_dataset(3, 4, bins_per_point=4, width=3)):
        assert np.array_equal(cluster_components(data), np.ones(3))
        labels = base_components(data)
        assert len(np.unique(labels)) == 3
        for c in range(3):
            assert len(np.unique(labels[data.base_cluster == c])) == 1


def test_cross_cluster_noise_connects_everything():
    data = comb_dataset(3, 4, 5, noise=0.05)
    assert len(np.unique(base_components(data))) == 1


def test_spectral_gap_is_zero_exactly_for_disconnected_clusters():
    comb = comb_dataset(2, 4, 5)
    for c in range(2):
        assert spectral_gap(comb, cluster=c) == pytest.approx(0.0, abs=1e-12)
    assert spectral_gap(comb) == pytest.approx(0.0, abs=1e-12)
    jitter = jitter_dataset(2, 4, bins_per_point=4, width=3)
    gaps = [spectral_gap(jitter, cluster=c) for c in range(2)]
    assert min(gaps) > 0.05
    assert spectral_gap(jitter) == pytest.approx(0.0, abs=1e-12)  # two clusters: still disconnected overall


def test_spectral_gap_grows_with_leak():
    gaps = [spectral_gap(comb_dataset(2, 4, 5, leak=p), cluster=0) for p in (0.0, 0.05, 0.2, 0.5)]
    assert gaps[0] == pytest.approx(0.0, abs=1e-12)
    assert all(a < b for a, b in itertools.pairwise(gaps))


def test_spectral_gap_validates_cluster():
    with pytest.raises(ValueError, match="cluster"):
        spectral_gap(comb_dataset(2, 4, 5), cluster=2)
