"""Dropout as the only augmentation (SimCSE / SimCSE++): latent sentences and a dropout encoder.

Latent sentences: sentence i has a content cluster c_i in 0..m-1, a content vector
u_i = mu_{c_i} + spread * eps_i (eps_i ~ N(0, I_k)) around its cluster centre
mu_c ~ N(0, I_k), and a style vector s_i ~ style_scale * N(0, I_s). Its observation
(the "sentence") is

    x_i = G([u_i, s_i])        G: a fixed, seeded two-layer tanh MLP R^{k+s} -> R^D

There is no data augmentation: an encoder f with dropout is run twice on the same x_i in
training mode, and the two passes (independent dropout masks) are the positive pair.
The encoder and the dropout pair live in :mod:`clustertheory.functions.encoders`.

:class:`SentenceSettings` is the data part of a simulation config (the off-dropout and
dimension-wise simulations share it): one seeded draw split into training sentences and
fresh probe sentences for the downstream measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..config import (
    Integer,
    Real,
    Settings,
    check_nonneg,
    check_nonneg_int,
    check_positive_int,
    setting,
)


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

    @property
    def latent(self) -> np.ndarray:
        """(N, k + s) the full latent [u_i, s_i]: everything the sentence is made of."""
        return np.concatenate([self.content_latent, self.style], axis=1)

    def take(self, index) -> LatentSentences:
        """The sentences ``index`` (a slice or index array) as a LatentSentences of their own."""
        return LatentSentences(self.obs[index], self.content[index], self.content_latent[index], self.style[index], self.num_clusters)


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


@dataclass(frozen=True)
class SentenceSettings(Settings):
    """Latent sentences for a dropout simulation: ``train_sentences`` to train on and
    ``probe_sentences`` fresh ones (same generator G, same cluster centres) to measure on.

    content_dim + style_dim is the intrinsic dimension of the data (the latent). Fields as
    in :func:`latent_sentences`.
    """

    num_clusters: int = setting(8, Integer(2), "m, content clusters")
    train_sentences: int = setting(2048, Integer(2), "sentences to train on")
    probe_sentences: int = setting(512, Integer(8), "fresh sentences (same G, same cluster centres) to measure on")
    content_dim: int = setting(8, Integer(1), "k, dimension of the content vector u_i")
    style_dim: int = setting(8, Integer(1), "s, dimension of the style vector s_i")
    obs_dim: int = setting(32, Integer(1), "D, dimension of the observation x_i = G([u_i, s_i])")
    hidden: int = setting(64, Integer(1), "width of the generator G")
    spread: float = setting(0.5, Real(0), "u_i = mu_c + spread N(0, I_k): how much clusters overlap in content")
    style_scale: float = setting(1.0, Real(0), "s_i = style_scale N(0, I_s): how much of x is nuisance")

    def draw(self, seed: int) -> tuple[LatentSentences, LatentSentences]:
        """(training sentences, probe sentences) of one seeded draw."""
        data = latent_sentences(
            num_clusters=self.num_clusters, num_sentences=self.train_sentences + self.probe_sentences,
            content_dim=self.content_dim, style_dim=self.style_dim, obs_dim=self.obs_dim, hidden=self.hidden,
            spread=self.spread, style_scale=self.style_scale, seed=seed,
        )
        return data.take(slice(0, self.train_sentences)), data.take(slice(self.train_sentences, None))


def anisotropic_targets(latent: np.ndarray, dim: int, anisotropy: float, seed: int = 0) -> np.ndarray:
    """Regression targets for a content-aware but anisotropic "pretrained" encoder (a stand-in
    for BERT, whose sentence embeddings know the content but share one dominant direction):

        t_i = A (l_i - mean_j l_j) + c,   A ~ N(0, 1/L) (dim x L, L = latent dimension),
        ||c||^2 = anisotropy / (1 - anisotropy) * mean_i ||A (l_i - mean l)||^2,  c along a random direction

    so that the mean cosine between the targets of two random sentences is about
    ``anisotropy`` (0: isotropic; BERT's last layer sits around 0.6 or more). latent (N, L)
    -> targets (N, dim) float32; A and the direction of c are fixed by ``seed``.
    """
    latent = np.asarray(latent, dtype=np.float64)
    if latent.ndim != 2 or len(latent) < 2:
        raise ValueError(f"latent must be (N, L) with N >= 2, got shape {latent.shape}")
    check_positive_int("dim", dim)
    if not 0 <= anisotropy < 1:
        raise ValueError(f"anisotropy must be in [0, 1), got {anisotropy!r}")
    rng = np.random.default_rng([check_nonneg_int("seed", seed), 2])
    centred = (latent - latent.mean(axis=0)) @ rng.standard_normal((latent.shape[1], dim)) / np.sqrt(latent.shape[1])
    direction = rng.standard_normal(dim)
    offset = direction / np.linalg.norm(direction) * np.sqrt(anisotropy / (1 - anisotropy) * np.mean(np.sum(centred**2, axis=1)))
    return (centred + offset).astype(np.float32)


def observations(sentences, device=None) -> torch.Tensor:
    """The encoder inputs of several draws, one per ensemble member: a sequence of E
    :class:`LatentSentences` of N sentences each -> (E, N, D) float32 tensor on ``device``."""
    if not sentences or len({s.num_sentences for s in sentences}) != 1:
        raise ValueError("sentences must be a non-empty sequence of draws with the same number of sentences")
    return torch.stack([torch.as_tensor(s.obs) for s in sentences]).to(device)
