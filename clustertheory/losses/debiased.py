"""Debiased (Chuang et al. 2020) and hardness-weighted debiased (Robinson et al. 2021)
contrastive losses with N explicit negatives per anchor, computed in log space.

With ``pos = exp(s+/t)``, negatives ``s_j`` (j = 1..N) and class prior ``tau+``:

    S      = sum_j w_j exp(s_j/t),   w_j = exp(beta s_j/t) / mean_k exp(beta s_k/t)
    N_g    = max( (S - tau+ N pos) / (1 - tau+),  N exp(-1/t) )
    loss   = -log( pos / (pos + N_g) ) = log(1 + N_g / pos)

beta = 0 gives w_j = 1 (debiased); tau+ = 0 and beta = 0 give plain InfoNCE with the
positive and the N negatives in the denominator. The floor ``N exp(-1/t)`` is the
smallest value the negative sum can take on the unit sphere (s_j >= -1).
"""

from __future__ import annotations

import math

import torch

from clustertheory.config import check_nonneg, check_positive, check_probability
from clustertheory.losses.primitives import (
    check_negatives,
    check_pair,
    log1p_exp,
    masked_logsumexp,
    prepare,
    reduce_rows,
)


def _log_negative_sum(negative_logits: torch.Tensor, beta: float) -> torch.Tensor:
    """``log S`` (B,) from logits s_j/t (B, N): ``lse((1+beta) x) - lse(beta x) + log N``."""
    if beta == 0:
        return masked_logsumexp(negative_logits)
    log_n = math.log(negative_logits.shape[1])
    return masked_logsumexp((1 + beta) * negative_logits) - masked_logsumexp(beta * negative_logits) + log_n


def _log_debiased_negatives(
    log_sum: torch.Tensor, positive_logit: torch.Tensor, num_negatives: int, scale: float, tau_plus: float
) -> torch.Tensor:
    """``log N_g`` (B,) without leaving log space.

    ``log(S - b) = log S + log1p(-exp(log b - log S))`` where S > b, with
    ``b = tau+ N pos``; where S <= b the difference is not positive and the floor
    applies. The ratio is kept <= -eps so that the unused branch stays finite
    (a NaN there would leak into the gradient through ``where``); a difference
    below float resolution is thereby read as ``eps * S``.
    """
    log_n = math.log(num_negatives)
    log_floor = torch.full_like(log_sum, math.log(1 - tau_plus) + log_n - scale)
    if tau_plus == 0:
        log_difference = log_sum
    else:
        log_bias = math.log(tau_plus) + log_n + positive_logit
        eps = torch.finfo(log_sum.dtype).eps
        ratio = (log_bias - log_sum).clamp(max=-eps)
        log_difference = torch.where(
            log_sum > log_bias,
            log_sum + torch.log1p(-torch.exp(ratio)),
            torch.full_like(log_sum, torch.finfo(log_sum.dtype).min),
        )
    return torch.maximum(log_difference, log_floor) - math.log(1 - tau_plus)


def _debiased_rows(anchor, positive, negatives, temperature, tau_plus, beta, normalize) -> torch.Tensor:
    check_positive("temperature", temperature)
    check_probability("tau_plus", tau_plus, open_right=True)
    check_nonneg("beta", beta)
    check_pair(anchor, positive)
    num_negatives = check_negatives("anchor", anchor, "negatives", negatives)
    anchor, positive, negatives = prepare(normalize, anchor, positive, negatives)
    scale = 1.0 / temperature
    positive_logit = scale * (anchor * positive).sum(dim=-1)  # s+/t, (B,)
    negative_logits = scale * torch.einsum("bd,bnd->bn", anchor, negatives)  # s_j/t, (B, N)
    log_sum = _log_negative_sum(negative_logits, float(beta))
    log_ng = _log_debiased_negatives(log_sum, positive_logit, num_negatives, scale, float(tau_plus))
    return log1p_exp(log_ng - positive_logit)  # log(1 + N_g / pos)


def debiased(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negatives: torch.Tensor,
    *,
    temperature: float = 0.5,
    tau_plus: float = 0.1,
    normalize: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    """Debiased contrastive loss (Chuang et al. 2020), one direction, N explicit negatives.

    anchor (B, d), positive (B, d), negatives (B, N, d); cosine similarity when
    ``normalize``. With ``pos = exp(s(a, p)/t)``:

        N_g = max( (sum_j exp(s(a, n_j)/t) - tau+ N pos) / (1 - tau+),  N exp(-1/t) )
        l   = -log( pos / (pos + N_g) )

    The positive is in the denominator once (``pos + N_g``); N_g estimates the sum
    over true negatives by removing the expected ``tau+`` share of false ones.
    tau_plus = 0 is InfoNCE over the positive and the N negatives. Value with
    identical embeddings: ``log(N + 1)``. reduction: "mean", "sum", "none" (B,).

    Raises ValueError for temperature <= 0, tau_plus outside [0, 1), N = 0 or
    mismatched shapes.
    """
    rows = _debiased_rows(anchor, positive, negatives, temperature, tau_plus, 0.0, normalize)
    return reduce_rows(rows, reduction)


def hard_debiased(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negatives: torch.Tensor,
    *,
    temperature: float = 0.5,
    tau_plus: float = 0.1,
    beta: float = 1.0,
    normalize: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    """Hardness-weighted debiased loss (Robinson et al. 2021), N explicit negatives.

    As ``debiased`` with the negative sum replaced by an importance-weighted one:

        S   = sum_j w_j exp(s_j/t),  w_j = exp(beta s_j/t) / ((1/N) sum_k exp(beta s_k/t))
        N_g = max( (S - tau+ N pos) / (1 - tau+),  N exp(-1/t) )
        l   = -log( pos / (pos + N_g) )

    beta = 0 gives ``debiased``; beta = 0 and tau_plus = 0 give InfoNCE over the
    positive and the N negatives. Value with identical embeddings: ``log(N + 1)``.
    reduction: "mean", "sum", "none" (B,).

    Raises ValueError for temperature <= 0, tau_plus outside [0, 1), beta < 0,
    N = 0 or mismatched shapes.
    """
    rows = _debiased_rows(anchor, positive, negatives, temperature, tau_plus, beta, normalize)
    return reduce_rows(rows, reduction)
