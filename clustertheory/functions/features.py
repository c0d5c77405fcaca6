"""Fixed feature maps phi: views -> R^p for the classes that are linear in features.

Each is a pure function of a ViewDataset returning a (V, p) float64 array. The span of the
features is the function class F (before the sign); its size is the capacity dial.
"""

from __future__ import annotations

import numpy as np

from ..config import check_nonneg_int, check_positive, check_positive_int
from ..data.views import ViewDataset


def content_features(data: ViewDataset) -> np.ndarray:
    """(V, m) one-hot content: functions constant on every cluster (never split one)."""
    return np.eye(data.num_clusters)[data.content]


def fourier_features(data: ViewDataset, bandwidth: int) -> np.ndarray:
    """(V, m + 2B) band-limited class: phi(c, s) = [one_hot(c), cos(k s), sin(k s) for k = 1..B].

    A function in the span is a_c + sum_{k<=B} (b_k cos ks + c_k sin ks): per-cluster offsets plus
    one style profile of bandwidth B. On the comb with T teeth it can split a cluster without
    disagreeing with any augmentation exactly when B >= T (cos(T s) is constant on every set).
    """
    B = check_nonneg_int("bandwidth", bandwidth)
    if data.style_space != "circle":
        raise ValueError("fourier_features needs style_space='circle'")
    k = np.arange(1, B + 1)
    angles = data.style[:, None] * k[None, :]
    return np.concatenate([content_features(data), np.cos(angles), np.sin(angles)], axis=1)


def linear_features(data: ViewDataset) -> np.ndarray:
    """(V, D + 1) linear class on observations: phi(x) = [x, 1]."""
    return np.concatenate([data.obs.astype(np.float64), np.ones((data.num_views, 1))], axis=1)


def random_features(data: ViewDataset, num_features: int, bandwidth: float, seed: int = 0) -> np.ndarray:
    """(V, P + 1) random Fourier features of the observation: phi(x) = [cos(W x + b), 1].

    W ~ N(0, bandwidth^2 I), b ~ U[0, 2 pi): a larger bandwidth resolves finer detail.
    """
    P = check_positive_int("num_features", num_features)
    scale = check_positive("bandwidth", bandwidth)
    rng = np.random.default_rng(seed)
    x = data.obs.astype(np.float64)
    W = rng.normal(0.0, scale, size=(x.shape[1], P))
    b = rng.uniform(0.0, 2 * np.pi, size=P)
    return np.concatenate([np.sqrt(2.0 / P) * np.cos(x @ W + b), np.ones((data.num_views, 1))], axis=1)
