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

from ..config import check_int_range
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
