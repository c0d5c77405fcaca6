"""Dropout as the only augmentation (SimCSE / SimCSE++): latent sentences and a dropout encoder.

Latent sentences: sentence i has a content cluster c_i in 0..m-1, a content vector
u_i = mu_{c_i} + spread * eps_i (eps_i ~ N(0, I_k)) around its cluster centre
mu_c ~ N(0, I_k), and a style vector s_i ~ style_scale * N(0, I_s). Its observation
(the "sentence") is

    x_i = G([u_i, s_i])        G: a fixed, seeded two-layer tanh MLP R^{k+s} -> R^D

There is no data augmentation: an encoder f with dropout is run twice on the same x_i in
training mode, and the two passes (independent dropout masks) are the positive pair.
The encoder and the dropout pair live in :mod:`clustertheory.functions.encoders`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import check_nonneg, check_nonneg_int, check_positive_int


@dataclass(frozen=True, eq=False)
class LatentSentences:
    """One draw of latent sentences.

    obs:            (N, D) float32  x_i = G([u_i, s_i]), the encoder's input
    content:        (N,) int64      cluster c_i in 0..m-1
    content_latent: (N, k) float64  u_i (what a good sentence embedding should keep)
    style:          (N, s) float64  s_i (nuisance)
    num_clusters:   m
    """

    obs: np.ndarray
    content: np.ndarray
    content_latent: np.ndarray
    style: np.ndarray
    num_clusters: int

    def __post_init__(self) -> None:
        n = len(self.content)
        if self.obs.shape[0] != n or self.content_latent.shape[0] != n or self.style.shape[0] != n:
            raise ValueError(f"obs, content_latent and style must have one row per sentence ({n})")
        if self.content.min() < 0 or self.content.max() >= self.num_clusters:
            raise ValueError(f"content must lie in 0..num_clusters-1 = {self.num_clusters - 1}")

    @property
    def num_sentences(self) -> int:
        return len(self.content)


def latent_sentences(
    num_clusters: int = 8,
    num_sentences: int = 2048,
    content_dim: int = 8,
    style_dim: int = 8,
    obs_dim: int = 32,
    spread: float = 0.5,
    style_scale: float = 1.0,
    hidden: int = 64,
    seed: int = 0,
) -> LatentSentences:
    """Draw ``num_sentences`` latent sentences (module docstring).

    Cluster centres mu_c ~ N(0, I_k) (k = content_dim); sentence i belongs to cluster
    i mod m after a seeded shuffle (balanced clusters); u_i = mu_{c_i} + spread N(0, I_k);
    s_i = style_scale N(0, I_s). The generator is

        G(z) = tanh(z W1 / sqrt(k + s)) W2 / sqrt(hidden),   W1, W2 ~ N(0, 1) fixed by ``seed``

    (the generator and the sample use separate streams derived from ``seed``, so the same
    seed gives the same G for any ``num_sentences``). ``spread`` sets how much clusters
    overlap in content, ``style_scale`` how much of x is nuisance.
    """
    m = check_positive_int("num_clusters", num_clusters)
    n = check_positive_int("num_sentences", num_sentences)
    k = check_positive_int("content_dim", content_dim)
    s = check_positive_int("style_dim", style_dim)
    D = check_positive_int("obs_dim", obs_dim)
    h = check_positive_int("hidden", hidden)
    check_nonneg("spread", spread)
    check_nonneg("style_scale", style_scale)
    check_nonneg_int("seed", seed)
    if n < m:
        raise ValueError(f"num_sentences must be >= num_clusters = {m}, got {n}")
    generator_rng, sample_rng = (np.random.default_rng([seed, stream]) for stream in (0, 1))
    centres = generator_rng.standard_normal((m, k))
    w1 = generator_rng.standard_normal((k + s, h))
    w2 = generator_rng.standard_normal((h, D))
    content = sample_rng.permutation(np.arange(n) % m).astype(np.int64)
    content_latent = centres[content] + spread * sample_rng.standard_normal((n, k))
    style = style_scale * sample_rng.standard_normal((n, s))
    latent = np.concatenate([content_latent, style], axis=1)
    obs = np.tanh(latent @ w1 / np.sqrt(k + s)) @ w2 / np.sqrt(h)
    return LatentSentences(obs=obs.astype(np.float32), content=content, content_latent=content_latent, style=style, num_clusters=m)
