"""Spectral contrastive losses (HaoChen et al. 2021) in the form of Xue et al. (2023).

For embeddings ``f(x)`` and independent draws ``x, x-`` from the training views:

    L_UCL   = -2 E_{x, x+ two distinct augmentations of one original}[f(x).f(x+)] + E_{x, x-}[(f(x).f(x-))^2]
    L_SCL   = -2 E_{x, x+ independent views of one class}[f(x).f(x+)]           + E_{x, x-}[(f(x).f(x-))^2]
    L_joint = w L_SCL + (1 - w) L_UCL          (w = scl_weight in [0, 1])

Every expectation is the exact average over the finite training set (no sampling): the
negative term averages over all ordered pairs of views, the pair of a view with itself
included (that is what "x, x- independent" means on a finite set); the SCL positive is any
view of the class, itself included, so that its term is ``sum_c pi_c ||mean_c f||^2``.

For the linear model ``f(x) = W x + b`` write ``xt = (x, 1)`` and ``Wt = [W b]`` (p, D+1).
Each loss is then a quadratic form in ``A = Wt^T Wt`` with two second moments of the data,

    L(Wt) = -2 tr(Wt M Wt^T) + ||Wt S Wt^T||_F^2 ,   S = E[xt xt^T],  M = E[xt xt+^T] (symmetric),

which is what ``*_moments`` compute (the joint loss has the same S and M = w M_SCL +
(1 - w) M_UCL). ``clustertheory.analysis.min_norm`` minimises it exactly.
"""

from __future__ import annotations

import numpy as np
import torch

from clustertheory.config import check_probability


def with_bias(x: np.ndarray) -> np.ndarray:
    """Append a constant coordinate: (..., D) -> (..., D + 1), so that W x + b = Wt xt."""
    return np.concatenate([x, np.ones((*x.shape[:-1], 1), dtype=x.dtype)], axis=-1)


def _check_views(views: np.ndarray, min_views: int) -> None:
    if views.ndim != 3:
        raise ValueError(f"views must have shape (n, m, D), got {views.shape}")
    if views.shape[1] < min_views:
        raise ValueError(f"views must have m >= {min_views} augmentations per original, got shape {views.shape}")


def _lift(views: np.ndarray, bias: bool) -> np.ndarray:
    views = np.asarray(views, dtype=np.float64)
    return with_bias(views) if bias else views


def second_moment(views: np.ndarray, bias: bool = True) -> np.ndarray:
    """S = (1/(n m)) sum_{i,a} xt_{ia} xt_{ia}^T, shape (D', D') with D' = D + bias."""
    _check_views(views, 1)
    x = _lift(views, bias).reshape(-1, views.shape[-1] + bias)
    return x.T @ x / len(x)


def ucl_moments(views: np.ndarray, bias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(S, M_UCL) for views (n, m, D), m >= 2.

    M_UCL = 1/(n m (m-1)) sum_i sum_{a != a'} xt_{ia} xt_{ia'}^T
          = m/(m-1) Sbar - 1/(m-1) S,   Sbar = (1/n) sum_i xbar_i xbar_i^T, xbar_i = mean_a xt_{ia}.
    """
    _check_views(views, 2)
    m = views.shape[1]
    x = _lift(views, bias)
    S = second_moment(views, bias)
    means = x.mean(axis=1)
    Sbar = means.T @ means / len(means)
    return S, m / (m - 1) * Sbar - S / (m - 1)


def scl_moments(views: np.ndarray, labels: np.ndarray, bias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(S, M_SCL) for views (n, m, D) and class labels (n,) of the originals.

    M_SCL = sum_c pi_c xbar_c xbar_c^T, pi_c the fraction of views in class c and xbar_c the
    mean lifted view of class c (rank <= number of classes).
    """
    _check_views(views, 1)
    labels = np.asarray(labels)
    if labels.shape != views.shape[:1]:
        raise ValueError(f"labels must have shape ({views.shape[0]},), got {labels.shape}")
    x = _lift(views, bias)
    S = second_moment(views, bias)
    M = np.zeros_like(S)
    for label in np.unique(labels):
        members = x[labels == label].reshape(-1, x.shape[-1])
        weight = len(members) / (x.shape[0] * x.shape[1])
        mean = members.mean(axis=0)
        M += weight * np.outer(mean, mean)
    return S, M


def joint_moments(views: np.ndarray, labels: np.ndarray, scl_weight: float, bias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(S, w M_SCL + (1 - w) M_UCL) with w = scl_weight: both losses share the negative term."""
    check_probability("scl_weight", scl_weight)
    S, M_ucl = ucl_moments(views, bias)
    _, M_scl = scl_moments(views, labels, bias)
    return S, scl_weight * M_scl + (1 - scl_weight) * M_ucl


def spectral_loss_from_moments(weights, S, M):
    """L(Wt) = -2 tr(Wt M Wt^T) + ||Wt S Wt^T||_F^2 for Wt (p, D') and S, M (D', D').

    Works on numpy arrays and torch tensors alike; equals the matching embedding-level loss
    below exactly (up to rounding).
    """
    gram = weights @ S @ weights.T
    return -2 * (weights @ M * weights).sum() + (gram * gram).sum()


def spectral_gradient(weights, S, M):
    """dL/dWt = -4 Wt M + 4 (Wt S Wt^T) Wt S, shape (p, D') (S and M symmetric)."""
    WS = weights @ S
    return -4 * weights @ M + 4 * (WS @ weights.T) @ WS


def _negative_term(z: torch.Tensor) -> torch.Tensor:
    """E_{u,v}(z_u . z_v)^2 over all ordered pairs of rows of z (N, p) = ||z^T z / N||_F^2."""
    cov = z.T @ z / z.shape[0]
    return (cov * cov).sum()


def spectral_ucl(z: torch.Tensor) -> torch.Tensor:
    """L_UCL of embeddings z (n, m, p), m >= 2 (module docstring; exact finite-set average).

    -2/(n m (m-1)) sum_i (||sum_a z_ia||^2 - sum_a ||z_ia||^2) + ||Z^T Z / (n m)||_F^2.
    The loss is 0 at z = 0 and negative at its minimisers.
    """
    if z.dim() != 3 or z.shape[1] < 2:
        raise ValueError(f"z must have shape (n, m, p) with m >= 2, got {tuple(z.shape)}")
    n, m, p = z.shape
    sums = z.sum(dim=1)
    positive = ((sums * sums).sum() - (z * z).sum()) / (n * m * (m - 1))
    return -2 * positive + _negative_term(z.reshape(n * m, p))


def spectral_scl(z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_SCL of embeddings z (N, p) with class labels (N,): -2 sum_c pi_c ||mean_c z||^2 + ||Z^T Z / N||_F^2."""
    if z.dim() != 2:
        raise ValueError(f"z must have shape (N, p), got {tuple(z.shape)}")
    if labels.shape != z.shape[:1]:
        raise ValueError(f"labels must have shape ({z.shape[0]},), got {tuple(labels.shape)}")
    positive = z.new_zeros(())
    for label in torch.unique(labels):
        members = z[labels == label]
        mean = members.mean(dim=0)
        positive = positive + members.shape[0] / z.shape[0] * (mean * mean).sum()
    return -2 * positive + _negative_term(z)


def spectral_joint(z: torch.Tensor, labels: torch.Tensor, scl_weight: float) -> torch.Tensor:
    """w L_SCL + (1 - w) L_UCL (w = scl_weight) for z (n, m, p) and labels (n,) of the originals."""
    check_probability("scl_weight", scl_weight)
    n, m, p = z.shape
    return scl_weight * spectral_scl(z.reshape(n * m, p), labels.repeat_interleave(m)) + (1 - scl_weight) * spectral_ucl(z)


def spectral_contrastive(anchor: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """Sampled spectral contrastive loss with K explicit negatives per anchor.

    anchor (B, p), positive (B, p), negatives (B, K, p):

        L = mean_b [ -2 a_b.p_b + mean_k (a_b.n_bk)^2 ]

    an unbiased estimate of L_UCL / L_SCL when the triples come from
    ``CollapseData.pair_sampler`` (unsupervised / supervised).
    """
    if anchor.shape != positive.shape or anchor.dim() != 2:
        raise ValueError(f"anchor and positive must both have shape (B, p), got {tuple(anchor.shape)} and {tuple(positive.shape)}")
    if negatives.dim() != 3 or negatives.shape[0] != anchor.shape[0] or negatives.shape[2] != anchor.shape[1]:
        raise ValueError(f"negatives must have shape (B, K, p) = ({anchor.shape[0]}, K, {anchor.shape[1]}), got {tuple(negatives.shape)}")
    aligned = (anchor * positive).sum(dim=1)
    repelled = torch.einsum("bp,bkp->bk", anchor, negatives).square().mean(dim=1)
    return (-2 * aligned + repelled).mean()
