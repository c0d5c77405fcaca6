"""The finite dataset every theorem check runs on: natural images, views, exact augmentation law.

Vocabulary (following the data-generating process):
    content c   the cluster of an image, 0..m-1
    style s     what augmentations change (an angle on the circle, or an index in a finite set)
    I(c, s)     the observation map (mixing) from latents to R^D
    base point  a natural image x_i = I(c_i, s_i), i = 0..N-1, drawn with probability w_i
    view        any image, natural or augmented, v = 0..V-1 (natural images are views too)
    A(x_i)      the augmentation law of base point i: a probability vector over views
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class ViewDataset:
    """A finite content/style dataset with an exact augmentation kernel.

    Attributes:
        content:     (V,) int64    cluster (content) of each view, in 0..m-1
        style:       (V,) float64  style of each view (angle in [0, 2 pi) when style_space == "circle")
        obs:         (V, D) float32  observation x = I(c, s) of each view
        base_view:   (N,) int64    view index of each natural image
        base_weight: (N,) float64  probability of each natural image (sums to 1)
        augment:     (N, V) csr    row i is the law of A(x_i) over views (rows sum to 1)
        num_clusters: m
        style_space: "circle" or "finite"
        description: a short human-readable summary of how the data was generated
    """

    content: np.ndarray
    style: np.ndarray
    obs: np.ndarray
    base_view: np.ndarray
    base_weight: np.ndarray
    augment: sp.csr_matrix
    num_clusters: int
    style_space: str = "circle"
    description: str = ""

    def __post_init__(self) -> None:
        V, N = len(self.content), len(self.base_view)
        if self.style.shape != (V,) or self.obs.shape[0] != V:
            raise ValueError(f"style and obs must have one row per view ({V}), got {self.style.shape}, {self.obs.shape}")
        if self.base_weight.shape != (N,) or self.augment.shape != (N, V):
            raise ValueError(f"base_weight must be ({N},) and augment ({N}, {V}); got {self.base_weight.shape}, {self.augment.shape}")
        if not np.isclose(self.base_weight.sum(), 1.0) or (self.base_weight < 0).any():
            raise ValueError("base_weight must be a probability vector")
        rows = np.asarray(self.augment.sum(axis=1)).ravel()
        if not np.allclose(rows, 1.0):
            raise ValueError("every row of augment must sum to 1")
        if self.content.min() < 0 or self.content.max() >= self.num_clusters:
            raise ValueError(f"content must lie in 0..num_clusters-1 = {self.num_clusters - 1}")

    @property
    def num_views(self) -> int:
        return len(self.content)

    @property
    def num_base(self) -> int:
        return len(self.base_view)

    @property
    def base_cluster(self) -> np.ndarray:
        """(N,) cluster of each natural image."""
        return self.content[self.base_view]

    @property
    def cluster_weight(self) -> np.ndarray:
        """(m,) natural-image mass of each cluster."""
        return np.bincount(self.base_cluster, weights=self.base_weight, minlength=self.num_clusters)

    @property
    def view_weight(self) -> np.ndarray:
        """(V,) law of a random augmentation x+ ~ A(x), x ~ D_o: mu(v) = sum_i w_i A[i, v]."""
        return np.asarray(self.augment.T @ self.base_weight).ravel()

    def pair_weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The law of (natural anchor, positive view) pairs as nonzero entries of diag(w) A.

        Returns ``anchor_view (P,)``, ``positive_view (P,)``, ``weight (P,)`` with
        ``weight`` summing to one and ``anchor_view = base_view[i]``.
        """
        coo = sp.diags(self.base_weight) @ self.augment
        coo = sp.coo_matrix(coo)
        keep = coo.data > 0
        return self.base_view[coo.row[keep]], coo.col[keep].astype(np.int64), coo.data[keep]
