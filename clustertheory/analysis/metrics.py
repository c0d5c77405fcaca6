"""Measurements of hypercube codes on a ViewDataset (docs/theory.md, 4.3 Measurements of codes).

``codes`` is always a (V, d) array in {-1,+1}: the code g(v) of every view v of ``data``.
Natural images x ~ D_o are ``data.base_view`` with ``data.base_weight``; positives
x^+ ~ A(x) come from ``data.pair_weights()``.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

from clustertheory.analysis.hypercube import check_codes, check_law, popcount, vertex_index
from clustertheory.config import check_in, check_probability

_ARI_RESOLUTION = 100_000  # sample count used when natural-image weights are not commensurable


def vertex_law(codes, weights) -> np.ndarray:
    """(2^d,) law of g(x): p_v = sum_n weights_n [code_n = v], for codes (N, d), weights (N,)."""
    codes = check_codes("codes", codes)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(codes),):
        raise ValueError(f"weights must have shape ({len(codes)},), got {weights.shape}")
    if (weights < 0).any():
        raise ValueError("weights must be non-negative")
    return np.bincount(vertex_index(codes), weights=weights, minlength=2 ** codes.shape[1])


def _view_codes(codes, data) -> np.ndarray:
    codes = check_codes("codes", codes)
    if len(codes) != data.num_views:
        raise ValueError(f"codes must have one row per view ({data.num_views}), got {len(codes)}")
    return codes


def natural_vertex_law(codes, data) -> np.ndarray:
    """(2^d,) law of g(x) for natural x ~ D_o."""
    codes = _view_codes(codes, data)
    return vertex_law(codes[data.base_view], data.base_weight)


def _pair_distances(codes, data) -> tuple[np.ndarray, np.ndarray]:
    codes = _view_codes(codes, data)
    anchor, positive, weight = data.pair_weights()
    return popcount(vertex_index(codes[anchor]) ^ vertex_index(codes[positive])), weight


def alignment_error(codes, data) -> float:
    """P[g(x) != g(x^+)], x ~ D_o natural, x^+ ~ A(x)."""
    distance, weight = _pair_distances(codes, data)
    return float(weight @ (distance > 0))


def mean_hamming_alignment(codes, data) -> float:
    """E h(g(x), g(x^+)) (mean Hamming distance between a natural image and its augmentation)."""
    distance, weight = _pair_distances(codes, data)
    return float(weight @ distance)


def _cluster_vertex_mass(codes, data) -> np.ndarray:
    """(m, 2^d): mass[c, v] = P_{x ~ D_o}[cluster(x) = c, g(x) = v]."""
    codes = _view_codes(codes, data)
    d = codes.shape[1]
    vertex = vertex_index(codes[data.base_view])
    flat = data.base_cluster * 2**d + vertex
    return np.bincount(flat, weights=data.base_weight, minlength=data.num_clusters * 2**d).reshape(data.num_clusters, 2**d)


def cluster_purity(codes, data) -> np.ndarray:
    """(m,) purity_c = max_v P[g(x) = v | cluster(x) = c], x ~ D_o natural.

    Lies in [1/V_c, 1] with V_c the number of vertices cluster c uses; NaN for a cluster
    without natural-image mass.
    """
    mass = _cluster_vertex_mass(codes, data)
    total = mass.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, mass.max(axis=1) / total, np.nan)


PRESERVATION_VIEWS = ("natural", "all")


def preserves_clusters(codes, data, views: str = "natural", distinct: bool = True, tol: float = 0.0) -> bool:
    """Cluster-preserving, the one definition every simulation uses: g(x) = g(x') whenever x
    and x' share a cluster.

    views     "natural": over natural images x ~ D_o (every cluster with natural mass has
              purity >= 1 - tol); "all": also every augmented view of a cluster carries that
              cluster's vertex (g constant on all views of each cluster; ``tol`` then bounds
              the share of a cluster's views off its vertex)
    distinct  also require the clusters' vertices to be pairwise distinct, where that is
              possible at all (m <= 2^d); the theorems' minimisers are uniform, so with
              m <= 2^d they put different clusters on different vertices
    """
    check_in("views", views, PRESERVATION_VIEWS)
    tol = check_probability("tol", tol, open_right=True)
    mass = _cluster_vertex_mass(codes, data)
    present = mass.sum(axis=1) > 0
    purity = cluster_purity(codes, data)[present]
    if (purity < 1 - tol - 1e-12).any():
        return False
    modes = mass.argmax(axis=1)
    if views == "all":
        vertex = vertex_index(_view_codes(codes, data))
        off = vertex != modes[data.content]
        views_per_cluster = np.bincount(data.content, minlength=data.num_clusters)
        off_share = np.bincount(data.content, weights=off, minlength=data.num_clusters) / np.maximum(views_per_cluster, 1)
        if (off_share[present] > tol + 1e-12).any():
            return False
    if distinct and data.num_clusters <= mass.shape[1]:
        chosen = modes[present]
        return len(np.unique(chosen)) == len(chosen)
    return True


def _sample_counts(weights: np.ndarray) -> np.ndarray:
    """Integer multiplicities proportional to ``weights`` (exact when commensurable).

    Weights that are integer multiples of the smallest one (within 1e-6) are used
    exactly; otherwise each natural image is repeated round(w * 1e5) times.
    """
    positive = weights[weights > 0]
    ratio = weights / positive.min()
    if np.allclose(ratio, np.rint(ratio), rtol=0, atol=1e-6) and ratio.sum() <= 10 * _ARI_RESOLUTION:
        return np.rint(ratio).astype(np.int64)
    return np.rint(weights / weights.sum() * _ARI_RESOLUTION).astype(np.int64)


def cluster_agreement(codes, data) -> dict[str, float]:
    """Adjusted Rand index and adjusted mutual information between clusters and vertices.

    Computed with scikit-learn over the natural images, each counted in proportion to its
    weight (see :func:`_sample_counts`): labels_true = cluster, labels_pred = vertex of g(x).
    """
    codes = _view_codes(codes, data)
    counts = _sample_counts(data.base_weight)
    clusters = np.repeat(data.base_cluster, counts)
    vertices = np.repeat(vertex_index(codes[data.base_view]), counts)
    return {
        "ari": float(adjusted_rand_score(clusters, vertices)),
        "ami": float(adjusted_mutual_info_score(clusters, vertices)),
    }


def uniformity(law) -> dict[str, float]:
    """Distances of a vertex law p (2^d,) from the uniform law u = 2^-d:

        tv               = 1/2 sum_v |p_v - 2^-d|                    in [0, 1 - 2^-d]
        kl               = KL(p || u) = sum_v p_v log(p_v 2^d)     (0 log 0 = 0)
        entropy_gap      = d log 2 - H(p)                          (equals kl)
        collision_excess = sum_v (p_v - 2^-d)^2 = P_{y,y'~p}[y = y'] - 2^-d
    """
    p, d = check_law("law", law)
    u = 2.0**-d
    positive = p[p > 0]
    entropy = float(-(positive * np.log(positive)).sum())
    return {
        "tv": float(0.5 * np.abs(p - u).sum()),
        "kl": float((positive * np.log(positive / u)).sum()),
        "entropy_gap": d * math.log(2) - entropy,
        "collision_excess": float(((p - u) ** 2).sum()),
    }


def code_metrics(codes, data) -> dict[str, float]:
    """One code's preservation, uniformity and alignment on ``data``, as one row of numbers:

        ari, ami                    :func:`cluster_agreement` (clusters vs vertices, natural images)
        mean_purity, min_purity     mean / least of :func:`cluster_purity` over the clusters
        tv                          total variation of the natural vertex law from uniform
        vertices_used               distinct vertices of the natural images
        distinct_cluster_vertices   distinct most-common vertices of the clusters
                                    (:func:`clustertheory.analysis.downstream.cluster_codes_of`)
        alignment_error             :func:`alignment_error`

    ``codes``: (V', d) in {-1,+1} with V' >= V; rows past ``data.num_views`` are ignored.
    """
    from clustertheory.analysis.downstream import cluster_codes_of

    codes = np.asarray(codes)[: data.num_views].astype(np.float64)
    purity = cluster_purity(codes, data)
    modes = vertex_index(cluster_codes_of(codes, data))
    return {
        **cluster_agreement(codes, data),
        "mean_purity": float(np.nanmean(purity)),
        "min_purity": float(np.nanmin(purity)),
        "tv": uniformity(natural_vertex_law(codes, data))["tv"],
        "vertices_used": len(np.unique(vertex_index(codes[data.base_view]))),
        "distinct_cluster_vertices": len(np.unique(modes)),
        "alignment_error": alignment_error(codes, data),
    }
