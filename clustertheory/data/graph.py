"""The exact augmentation graph of a ViewDataset and the Markov kernels it induces.

    bipartite graph    base point i -- view v with weight A[i, v]
    view kernel        P(v' | v) = sum_i P(i | v) A[i, v'],  P(i | v) = w_i A[i, v] / mu(v)
                       (draw a natural image that could have produced v, then augment it again)
    stationary law     mu(v) = sum_i w_i A[i, v]   (reversible for the view kernel)
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from ..config import check_int_range, check_nonneg
from .views import ViewDataset


def augmentation_graph(data: ViewDataset) -> nx.Graph:
    """Bipartite networkx graph: nodes ("base", i) (bipartite=0) and ("view", v) (bipartite=1).

    Base nodes carry ``cluster`` and ``weight``; view nodes carry ``cluster`` and ``style``;
    edge (("base", i), ("view", v)) carries ``weight = A[i, v]``.
    """
    graph = nx.Graph()
    for i, (v, w) in enumerate(zip(data.base_view, data.base_weight)):
        graph.add_node(("base", i), bipartite=0, cluster=int(data.content[v]), weight=float(w))
    for v in range(data.num_views):
        graph.add_node(("view", v), bipartite=1, cluster=int(data.content[v]), style=float(data.style[v]))
    coo = data.augment.tocoo()
    graph.add_weighted_edges_from((("base", int(i)), ("view", int(v)), float(a)) for i, v, a in zip(coo.row, coo.col, coo.data))
    return graph


def stationary_law(data: ViewDataset) -> np.ndarray:
    """(V,) mu(v) = sum_i w_i A[i, v], the law of an augmented view; stationary for view_kernel."""
    return data.view_weight


def view_kernel(data: ViewDataset) -> sp.csr_matrix:
    """(V, V) two-step kernel P(v' | v) through a natural image; rows of unreachable views are 0."""
    mu = stationary_law(data)
    inv_mu = np.divide(1.0, mu, out=np.zeros_like(mu), where=mu > 0)
    back = sp.diags(inv_mu) @ data.augment.T @ sp.diags(data.base_weight)  # (V, N): P(i | v)
    return sp.csr_matrix(back @ data.augment)


def base_kernel(data: ViewDataset) -> sp.csr_matrix:
    """(N, N) P(j | i): augment x_i to v, then draw the natural image j that produced v."""
    mu = stationary_law(data)
    inv_mu = np.divide(1.0, mu, out=np.zeros_like(mu), where=mu > 0)
    return sp.csr_matrix(data.augment @ sp.diags(inv_mu) @ data.augment.T @ sp.diags(data.base_weight))


def base_components(data: ViewDataset) -> np.ndarray:
    """(N,) connected-component label of each natural image in the augmentation graph."""
    linked = data.augment @ data.augment.T  # i ~ j when their augmentation sets share a view
    _, labels = csgraph.connected_components(sp.csr_matrix(linked), directed=False)
    return labels


def cluster_components(data: ViewDataset) -> np.ndarray:
    """(m,) number of connected components among each cluster's natural images.

    1 means the augmentation graph alone connects the cluster (overlapping sets); the comb
    has n components per cluster (disjoint sets) - there it is the function class that
    glues a cluster together.
    """
    labels = base_components(data)
    return np.array([len(np.unique(labels[data.base_cluster == c])) for c in range(data.num_clusters)])


def spectral_gap(data: ViewDataset, cluster: int | None = None) -> float:
    """1 - lambda_2 of the base kernel (restricted to one cluster's natural images if given).

    The kernel is reversible with respect to w, so D^{1/2} P D^{-1/2} is symmetric and its
    eigenvalues are real; 0 means the (sub)graph is disconnected.
    """
    kernel = base_kernel(data).toarray()
    weights = data.base_weight
    if cluster is not None:
        check_int_range("cluster", cluster, 0, data.num_clusters - 1)
        keep = data.base_cluster == cluster
        kernel = kernel[np.ix_(keep, keep)]
        kernel = kernel / kernel.sum(axis=1, keepdims=True)
        weights = weights[keep]
    root = np.sqrt(weights)
    symmetric = (root[:, None] * kernel) / root[None, :]
    eigenvalues = np.sort(np.linalg.eigvalsh((symmetric + symmetric.T) / 2))[::-1]
    return float(1.0 - eigenvalues[1]) if len(eigenvalues) > 1 else 1.0


def augmentation_proximity(data: ViewDataset, radius: float) -> sp.csr_matrix:
    """(N, N) bool: the empirical augmentation graph of natural images at distance ``radius``.

    Natural images i != j are linked when their sets S_i = {x_i} u supp A(x_i) come within
    ``radius`` in observation space: min_{u in S_i, v in S_j} ||obs_u - obs_v||_2 <= radius
    (a view in both sets counts as distance 0). On the synthetic families the sets are known
    exactly; on real images (``clustertheory.data.digits``) they are disjoint by index only,
    and this is how close they actually come.
    """
    from sklearn.neighbors import radius_neighbors_graph

    r = check_nonneg("radius", radius)
    support = sp.csr_matrix(data.augment > 0, dtype=np.float64)
    support = support + sp.csr_matrix((np.ones(data.num_base), (np.arange(data.num_base), data.base_view)), shape=support.shape)
    owner = sp.csr_matrix(support.T > 0, dtype=np.float64)  # (V, N)
    near = radius_neighbors_graph(np.asarray(data.obs, dtype=np.float64), r, mode="connectivity", include_self=True)
    linked = sp.csr_matrix(owner.T @ near @ owner > 0)
    linked.setdiag(False)
    linked.eliminate_zeros()
    return linked


def proximity_summary(data: ViewDataset, radius: float) -> dict[str, float]:
    """What :func:`augmentation_proximity` at ``radius`` says about the clusters:

        links_per_image     mean number of other natural images an image is linked to
        cross_cluster_share share of links joining two different clusters (0 on realizable data)
        mass_linked_across  natural-image mass linked to at least one image of another cluster
        isolated_mass       natural-image mass linked to no other image
        components          mean over clusters of the number of connected components among the
                            cluster's natural images (1: the graph alone glues the cluster)
    """
    linked = augmentation_proximity(data, radius).tocoo()
    cluster = data.base_cluster
    cross = cluster[linked.row] != cluster[linked.col]
    degree = np.bincount(linked.row, minlength=data.num_base)
    across = np.bincount(linked.row[cross], minlength=data.num_base) > 0
    components = []
    for c in np.unique(cluster):
        keep = np.flatnonzero(cluster == c)
        within = sp.csr_matrix(linked)[keep][:, keep]
        components.append(csgraph.connected_components(within, directed=False)[0])
    return {
        "links_per_image": float(degree.mean()),
        "cross_cluster_share": float(cross.mean()) if len(cross) else 0.0,
        "mass_linked_across": float(data.base_weight @ across),
        "isolated_mass": float(data.base_weight @ (degree == 0)),
        "components": float(np.mean(components)),
    }
