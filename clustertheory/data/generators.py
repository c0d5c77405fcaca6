"""Generators of ViewDatasets whose augmentation graphs are known exactly (docs/theory.md, 4.1 Data with a known augmentation graph).

Families:
    comb_dataset      intertwined but disjoint augmentation sets ("comb"): the style circle of a
                      cluster is cut into n*T bins and base point i owns the bins b = i mod n, i.e.
                      T teeth spread around the circle. teeth=1 gives contiguous arcs (separable).
                      leak p and cross-cluster noise q mix other views into each set.
    jitter_dataset    overlapping local style jitters: the augmentation graph of a cluster is connected.
Observation maps (`observation`): "identity" (one-hot content, cos s, sin s), "embedding" (a fixed
seeded random linear map into R^D) or "mlp" (a fixed seeded invertible leaky-ReLU MLP into R^D).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..config import check_in, check_int_range, check_nonneg_int, check_positive_int, check_probability
from .views import ViewDataset

OBSERVATIONS = ("identity", "embedding", "mlp")
STYLE_SPACES = ("circle", "finite")


def _cluster_weights(num_clusters: int, cluster_weights) -> np.ndarray:
    if cluster_weights is None:
        return np.full(num_clusters, 1.0 / num_clusters)
    weights = np.asarray(cluster_weights, dtype=np.float64)
    if weights.shape != (num_clusters,) or not np.isfinite(weights).all() or (weights <= 0).any():
        raise ValueError(f"cluster_weights must be {num_clusters} positive numbers, got {cluster_weights!r}")
    return weights / weights.sum()


def _check_observation_args(observation: str, obs_dim: int, seed: int) -> None:
    """Validate the observation-map arguments up front (before any data is built)."""
    check_in("observation", observation, OBSERVATIONS)
    check_positive_int("obs_dim", obs_dim)
    check_nonneg_int("seed", seed)


def observe(
    content: np.ndarray, style: np.ndarray, num_clusters: int, observation: str, obs_dim: int, seed: int, style_space: str = "circle"
) -> np.ndarray:
    """The observation map I(c, s): latents (V,), (V,) -> (V, D) float32.

    identity:  [one_hot(c), cos s, sin s]  on the circle, [one_hot(c), one_hot(s)] on a finite set
    embedding: E [one_hot(c), cos s, sin s], E ~ N(0, 1/D) fixed   (D = obs_dim)
    mlp:       two leaky-ReLU layers with orthogonal weights after an injective lift (invertible)
    """
    _check_observation_args(observation, obs_dim, seed)
    check_in("style_space", style_space, STYLE_SPACES)
    if style_space == "circle":
        style_code = np.stack([np.cos(style), np.sin(style)], axis=1)
    else:
        style_code = np.eye(int(style.max()) + 1)[style.astype(np.int64)]
    latent = np.concatenate([np.eye(num_clusters)[content], style_code], axis=1)
    if observation == "identity":
        return latent.astype(np.float32)
    if obs_dim < latent.shape[1]:
        raise ValueError(f"obs_dim must be >= {latent.shape[1]} (the latent dimension) for an injective map, got {obs_dim}")
    rng = np.random.default_rng(seed)
    x = latent @ rng.normal(0.0, 1.0 / np.sqrt(latent.shape[1]), size=(latent.shape[1], obs_dim))
    if observation == "mlp":
        for _ in range(2):
            q, _r = np.linalg.qr(rng.normal(size=(obs_dim, obs_dim)))
            x = x @ q
            x = np.where(x > 0, x, 0.2 * x)
    return x.astype(np.float32)


def comb_dataset(
    num_clusters: int,
    points_per_cluster: int,
    teeth: int,
    leak: float = 0.0,
    noise: float = 0.0,
    cluster_weights=None,
    observation: str = "identity",
    obs_dim: int = 16,
    style_space: str = "circle",
    seed: int = 0,
) -> ViewDataset:
    """Comb data: m clusters, n base points each, T teeth per augmentation set.

    Views of cluster c are the bins b = 0..nT-1 of its style circle, at angles
    s_b = 2 pi (b + 1/2) / (nT). Base point i of cluster c is the natural image at bin i and
    owns the bins {i + n t : t = 0..T-1}. Its augmentation law is

        A(x_ci) = (1 - p - q) Unif(own teeth) + p Unif(bins of the other base points of c)
                  + q Unif(views of the other clusters)

    (with n = 1 the leak has nowhere to go and stays on the own teeth). With
    style_space="finite" the style of bin b is the label b itself (no geometry on the styles). Natural images of a
    cluster share its weight pi_c equally. A style function of frequency T, e.g. cos(T s),
    is constant on every augmentation set yet differs between base points: the comb is
    "intertwined" only for classes that cannot resolve frequency T.
    """
    m = check_positive_int("num_clusters", num_clusters)
    n = check_positive_int("points_per_cluster", points_per_cluster)
    T = check_positive_int("teeth", teeth)
    _check_observation_args(observation, obs_dim, seed)
    p = check_probability("leak", leak)
    q = check_probability("noise", noise)
    if p + q > 1:
        raise ValueError(f"leak + noise must be <= 1, got {p} + {q}")
    if q > 0 and m < 2:
        raise ValueError("noise > 0 needs num_clusters >= 2 (views of another cluster)")
    pi = _cluster_weights(m, cluster_weights)
    bins = n * T
    content = np.repeat(np.arange(m), bins)
    check_in("style_space", style_space, STYLE_SPACES)
    positions = np.arange(bins, dtype=np.float64)
    style = np.tile(2 * np.pi * (positions + 0.5) / bins if style_space == "circle" else positions, m)

    base_view, base_weight, rows, cols, vals = [], [], [], [], []
    for c in range(m):
        for i in range(n):
            row = len(base_view)
            base_view.append(c * bins + i)
            base_weight.append(pi[c] / n)
            own = [c * bins + i + n * t for t in range(T)]
            others = [c * bins + b for b in range(bins) if b % n != i]
            foreign = [v for v in range(m * bins) if content[v] != c]
            own_mass = 1 - q - (p if others else 0.0)
            for group, mass in ((own, own_mass), (others, p if others else 0.0), (foreign, q)):
                if mass > 0:
                    rows += [row] * len(group)
                    cols += group
                    vals += [mass / len(group)] * len(group)
    augment = sp.csr_matrix((vals, (rows, cols)), shape=(len(base_view), m * bins))
    augment.sum_duplicates()
    return ViewDataset(
        content=content.astype(np.int64),
        style=style,
        obs=observe(content, style, m, observation, obs_dim, seed, style_space),
        base_view=np.asarray(base_view, dtype=np.int64),
        base_weight=np.asarray(base_weight),
        augment=augment,
        num_clusters=m,
        style_space=style_space,
        description=f"comb m={m} n={n} T={T} leak={p} noise={q} obs={observation}",
    )


def agnostic_comb(d: int, points_per_cluster: int, teeth: int, leak: float, noise: float, imbalance: float) -> ViewDataset:
    """The agnostic comb for code dimension d: m = 2^d - 1 clusters (one vertex more than clusters)
    with weights pi_c proportional to imbalance^c, c = 0..m-1 (:func:`comb_dataset`)."""
    d = check_int_range("d", d, 2, 16)
    weights = imbalance ** np.arange(2**d - 1)
    return comb_dataset(2**d - 1, points_per_cluster, teeth, leak=leak, noise=noise, cluster_weights=weights)


def jitter_dataset(
    num_clusters: int,
    points_per_cluster: int,
    bins_per_point: int = 4,
    width: int = 4,
    cluster_weights=None,
    observation: str = "identity",
    obs_dim: int = 16,
    seed: int = 0,
) -> ViewDataset:
    """Overlapping augmentations: local style jitter on the circle.

    Cluster c has n * b bins; base point i sits at bin i b and its augmentation law is uniform
    on the 2w + 1 bins within distance w (cyclically). When 2w + 1 > b the sets of neighbouring
    base points overlap and the augmentation graph of each cluster is connected.
    """
    m = check_positive_int("num_clusters", num_clusters)
    n = check_positive_int("points_per_cluster", points_per_cluster)
    b = check_positive_int("bins_per_point", bins_per_point)
    w = check_positive_int("width", width)
    _check_observation_args(observation, obs_dim, seed)
    bins = n * b
    if 2 * w + 1 > bins:
        raise ValueError(f"width must satisfy 2*width + 1 <= points_per_cluster*bins_per_point = {bins}, got {w}")
    pi = _cluster_weights(m, cluster_weights)
    content = np.repeat(np.arange(m), bins)
    style = np.tile(2 * np.pi * (np.arange(bins) + 0.5) / bins, m)
    rows, cols, base_view, base_weight = [], [], [], []
    for c in range(m):
        for i in range(n):
            centre = i * b
            base_view.append(c * bins + centre)
            base_weight.append(pi[c] / n)
            rows += [len(base_view) - 1] * (2 * w + 1)
            cols += [c * bins + (centre + k) % bins for k in range(-w, w + 1)]
    vals = np.full(len(rows), 1.0 / (2 * w + 1))
    augment = sp.csr_matrix((vals, (rows, cols)), shape=(len(base_view), m * bins))
    return ViewDataset(
        content=content.astype(np.int64),
        style=style,
        obs=observe(content, style, m, observation, obs_dim, seed),
        base_view=np.asarray(base_view, dtype=np.int64),
        base_weight=np.asarray(base_weight),
        augment=augment,
        num_clusters=m,
        description=f"jitter m={m} n={n} b={b} w={w} obs={observation}",
    )
