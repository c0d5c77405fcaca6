"""Losses on the (d x d) cross-correlation of two views' embeddings.

``dimension_wise`` is the dimension-wise contrastive term of SimCSE++ (Xu et al.
2023): InfoNCE over embedding *dimensions* (never call it "DCL", which also names
the debiased and decoupled losses). ``barlow_decorrelation`` is the Barlow Twins
objective (Zbontar et al. 2021) that pushes the same matrix to the identity, kept
for comparison: it needs rank d, which a batch of N < d rows cannot give.

Both standardise every dimension over the batch, each view separately, exactly like
``BatchNorm1d(affine=False)`` in training mode:
``zhat = (z - mean) / sqrt(var + eps)`` with the biased (1/N) variance.

Views are (N, d), or (..., N, d) for independent batches (e.g. the members of an
ensemble); the losses are then computed per leading index and returned with shape (...).
"""

from __future__ import annotations

import torch

from clustertheory.config import check_nonneg, check_positive
from clustertheory.losses.primitives import (
    check_same_shape,
    masked_logsumexp,
    upcast,
)


def standardize_batch(z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``(z - mean_n z) / sqrt(var_n z + eps)`` per column of z (..., N, d); biased variance."""
    mean = z.mean(dim=-2, keepdim=True)
    var = (z - mean).pow(2).mean(dim=-2, keepdim=True)
    return (z - mean) / torch.sqrt(var + eps)


def _check_views(z1: torch.Tensor, z2: torch.Tensor, min_dim: int) -> None:
    for name, z in (("z1", z1), ("z2", z2)):
        if not isinstance(z, torch.Tensor) or not z.is_floating_point() or z.dim() < 2:
            raise ValueError(f"{name} must be a floating-point tensor of shape (N, d) or (..., N, d), got {getattr(z, 'shape', type(z).__name__)}")
    check_same_shape("z1", z1, "z2", z2)
    if z1.shape[-2] < 2:
        raise ValueError(f"z1 and z2 need N >= 2 rows to standardise over the batch, got {tuple(z1.shape)}")
    if z1.shape[-1] < min_dim:
        raise ValueError(
            f"z1 and z2 need d >= {min_dim} dimensions (with d = 1 the dimension-wise "
            f"softmax has a single candidate and the loss is identically 0), got {tuple(z1.shape)}"
        )


def cross_correlation(z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``C = Zhat1^T Zhat2 / N`` (..., d, d) for views z1, z2 (..., N, d); C_kk in [-1, 1] up to eps."""
    z1, z2 = upcast(z1, z2)
    return standardize_batch(z1, eps).transpose(-1, -2) @ standardize_batch(z2, eps) / z1.shape[-2]


def dimension_wise(
    z1: torch.Tensor, z2: torch.Tensor, temperature_d: float = 5.0, *, eps: float = 1e-5
) -> torch.Tensor:
    """Dimension-wise contrastive loss (SimCSE++): a scalar, or (...) for views (..., N, d).

    z1, z2 (N, d): two views of the same N inputs. With the standardised views,

        C     = Zhat1^T Zhat2 / (N tau_d)                      (d, d)
        L_dim = (1/d) sum_k [ -C_kk + log sum_{j=1..d} exp(C_kj) ]

    Dimension k of view 1 is the anchor, dimension k of view 2 its positive, the
    other d - 1 dimensions of view 2 its negatives; the positive is in the
    denominator. One direction. Chance value (C = 0): ``log d``.

    Raises ValueError for temperature_d <= 0, eps < 0, N < 2, d < 2 or mismatched shapes.
    """
    check_positive("temperature_d", temperature_d)
    check_nonneg("eps", eps)
    _check_views(z1, z2, min_dim=2)
    logits = cross_correlation(z1, z2, eps) / temperature_d  # (..., d, d)
    d = logits.shape[-1]
    rows = masked_logsumexp(logits.reshape(-1, d)).reshape(logits.shape[:-1]) - logits.diagonal(dim1=-2, dim2=-1)
    return rows.mean(dim=-1)


def barlow_decorrelation(
    z1: torch.Tensor, z2: torch.Tensor, lambda_offdiag: float = 5e-3, *, eps: float = 1e-5
) -> torch.Tensor:
    """Barlow Twins loss, ``sum_k (1 - C_kk)^2 + lambda sum_{k != j} C_kj^2``: a scalar, or
    (...) for views (..., N, d).

    z1, z2 (N, d); ``C = Zhat1^T Zhat2 / N`` with the standardisation above (equal to
    lightly.loss.BarlowTwinsLoss, lambda_param = lambda_offdiag). Minimum 0, reached
    only when C = I, which needs rank d, so N > d. Raises ValueError for
    lambda_offdiag < 0, eps < 0, N < 2 or mismatched shapes.
    """
    check_nonneg("lambda_offdiag", lambda_offdiag)
    check_nonneg("eps", eps)
    _check_views(z1, z2, min_dim=1)
    c = cross_correlation(z1, z2, eps)
    diagonal = c.diagonal(dim1=-2, dim2=-1)
    on_diagonal = (1 - diagonal).pow(2).sum(dim=-1)
    off_diagonal = c.pow(2).sum(dim=(-2, -1)) - diagonal.pow(2).sum(dim=-1)
    return on_diagonal + lambda_offdiag * off_diagonal
