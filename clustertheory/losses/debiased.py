"""Debiased (Chuang et al. 2020) and hardness-weighted debiased (Robinson et al. 2021)
contrastive losses with N explicit negatives per anchor, computed in log space.

With ``pos = exp(s+/t)``, negatives ``s_j`` (j = 1..N) and class prior ``tau+``:

    S      = sum_j w_j exp(s_j/t),   w_j = exp(h s_j/t) / mean_k exp(h s_k/t)
    N_g    = max( (S - tau+ N pos) / (1 - tau+),  N exp(-1/t) )
    loss   = -log( pos / (pos + N_g) ) = log(1 + N_g / pos)

h is Robinson's hardness exponent (``hardness``; their beta). hardness = 0 gives w_j = 1
(debiased); tau+ = 0 and hardness = 0 give plain InfoNCE with the positive and the N
negatives in the denominator. The floor ``N exp(-1/t)`` is the smallest value the
negative sum can take on the unit sphere (s_j >= -1); :func:`debiased_from_similarities`
also says for which anchors it is active (there the negatives exert no repulsion at all).
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
    upcast,
)


def _log_negative_sum(negative_logits: torch.Tensor, hardness, detach_weights) -> torch.Tensor:
    """``log S`` (B,) from logits x_j = s_j/t (B, N); hardness and detach_weights are scalars or
    per-row tensors (B,).

    As in Robinson et al.'s code (gradient through the weights):
    ``lse((1+h) x) - lse(h x) + log N``. With ``detach_weights`` the log-weights
    ``log w_j = h x_j - lse(h x) + log N`` are constants: ``lse(log w + x)``, the same value.
    """
    per_row = isinstance(hardness, torch.Tensor) or isinstance(detach_weights, torch.Tensor)
    if not per_row and hardness == 0:
        return masked_logsumexp(negative_logits)
    h = hardness.unsqueeze(1) if isinstance(hardness, torch.Tensor) else hardness
    log_n = math.log(negative_logits.shape[1])
    tilted = masked_logsumexp(h * negative_logits)
    value = {}
    if detach_weights is not True:
        value[False] = masked_logsumexp((1 + h) * negative_logits) - tilted + log_n
    if detach_weights is not False:
        value[True] = masked_logsumexp((h * negative_logits - tilted.unsqueeze(1)).detach() + log_n + negative_logits)
    if isinstance(detach_weights, torch.Tensor):
        return torch.where(detach_weights, value[True], value[False])
    return value[bool(detach_weights)]


def _log_debiased_negatives(
    log_sum: torch.Tensor, positive_logit: torch.Tensor, num_negatives: int, scale: float, tau_plus
) -> tuple[torch.Tensor, torch.Tensor]:
    """``log N_g`` (B,) without leaving log space, and whether the floor is active (B,) bool;
    tau_plus is a scalar or a per-row tensor (B,).

    ``log(S - b) = log S + log1p(-exp(log b - log S))`` where S > b, with
    ``b = tau+ N pos``; where S <= b the difference is not positive and the floor
    applies. The ratio is kept <= -eps so that the unused branch stays finite
    (a NaN there would leak into the gradient through ``where``); a difference
    below float resolution is thereby read as ``eps * S``. Rows with tau+ = 0 keep S.
    """
    log_n = math.log(num_negatives)
    tau = torch.as_tensor(tau_plus, dtype=log_sum.dtype, device=log_sum.device).expand_as(log_sum)
    log_floor = torch.log1p(-tau) + log_n - scale
    if not isinstance(tau_plus, torch.Tensor) and tau_plus == 0:
        log_difference = log_sum
    else:
        log_bias = torch.log(tau) + log_n + positive_logit  # -inf where tau+ = 0
        eps = torch.finfo(log_sum.dtype).eps
        ratio = (log_bias - log_sum).clamp(max=-eps)
        log_difference = torch.where(
            log_sum > log_bias,
            log_sum + torch.log1p(-torch.exp(ratio)),
            torch.full_like(log_sum, torch.finfo(log_sum.dtype).min),
        )
    return torch.maximum(log_difference, log_floor) - torch.log1p(-tau), log_floor > log_difference


def debiased_from_similarities(
    positive: torch.Tensor,
    negatives: torch.Tensor,
    *,
    temperature: float = 0.5,
    tau_plus=0.1,
    hardness=0.0,
    detach_weights=False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The hardness-weighted debiased loss from similarities, and where its floor is active.

    positive (...,): s(a, p) per anchor; negatives (..., N): s(a, n_j), N >= 1 (cosines, so
    that the floor ``N exp(-1/t)`` is the smallest possible negative sum). Returns the
    per-anchor losses (...,) of the module docstring and a bool tensor (...,) that is True
    where N_g sits at the floor: there the loss no longer depends on the negatives (the
    estimate of the true-negative sum fell below the smallest possible value), i.e.
    repulsion is switched off for that anchor. With tau_plus = 0 the floor is never active
    on the unit sphere, and tau_plus = 0, hardness = 0 is InfoNCE over the positive and the
    N negatives. ``detach_weights`` as in ``hard_debiased``.

    Any leading dimensions (anchors of several ensemble members) are allowed, and tau_plus,
    hardness and detach_weights may be tensors of the shape of ``positive`` (a setting per
    anchor): one call then serves an ensemble whose members use different variants, from one
    (anchors x views) similarity matrix.

    Raises ValueError for temperature <= 0, tau_plus outside [0, 1), hardness < 0, N = 0 or
    shapes that do not match.
    """
    check_positive("temperature", temperature)
    if negatives.dim() < 1 or negatives.shape[:-1] != positive.shape or negatives.shape[-1] < 1:
        raise ValueError(f"negatives must have shape {tuple(positive.shape)} + (N,) with N >= 1, got {tuple(negatives.shape)}")
    settings = {}
    for name, value in (("tau_plus", tau_plus), ("hardness", hardness), ("detach_weights", detach_weights)):
        if isinstance(value, torch.Tensor):
            if value.shape != positive.shape:
                raise ValueError(f"{name} must be a scalar or have the shape of positive {tuple(positive.shape)}, got {tuple(value.shape)}")
            value = value.reshape(-1)
            if name == "tau_plus" and ((value < 0) | (value >= 1)).any():
                raise ValueError(f"tau_plus must be in [0, 1), got values from {float(value.min())} to {float(value.max())}")
            if name == "hardness" and (value < 0).any():
                raise ValueError(f"hardness must be >= 0, got {float(value.min())}")
        elif name == "tau_plus":
            check_probability("tau_plus", value, open_right=True)
        elif name == "hardness":
            check_nonneg("hardness", value)
        settings[name] = value
    num_negatives = negatives.shape[-1]
    (positive, negatives) = upcast(positive, negatives)
    scale = 1.0 / temperature
    positive_logit = scale * positive.reshape(-1)  # s+/t
    negative_logits = scale * negatives.reshape(-1, num_negatives)  # s_j/t
    hardness_ = settings["hardness"].to(negative_logits.dtype) if isinstance(settings["hardness"], torch.Tensor) else float(settings["hardness"])
    detach_ = settings["detach_weights"].bool() if isinstance(settings["detach_weights"], torch.Tensor) else bool(settings["detach_weights"])
    log_sum = _log_negative_sum(negative_logits, hardness_, detach_)
    tau_ = settings["tau_plus"].to(negative_logits.dtype) if isinstance(settings["tau_plus"], torch.Tensor) else float(settings["tau_plus"])
    log_ng, floor = _log_debiased_negatives(log_sum, positive_logit, num_negatives, scale, tau_)
    rows = log1p_exp(log_ng - positive_logit)  # log(1 + N_g / pos)
    return rows.view(positive.shape), floor.view(positive.shape)


def _debiased_rows(anchor, positive, negatives, temperature, tau_plus, hardness, normalize, detach_weights=False) -> torch.Tensor:
    """Per-anchor losses (B,) from embeddings."""
    check_pair(anchor, positive)
    check_negatives("anchor", anchor, "negatives", negatives)
    anchor, positive, negatives = prepare(normalize, anchor, positive, negatives)
    rows, _ = debiased_from_similarities(
        (anchor * positive).sum(dim=-1), torch.einsum("bd,bnd->bn", anchor, negatives),
        temperature=temperature, tau_plus=tau_plus, hardness=hardness, detach_weights=detach_weights,
    )
    return rows


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
    return reduce_rows(_debiased_rows(anchor, positive, negatives, temperature, tau_plus, 0.0, normalize), reduction)


def hard_debiased(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negatives: torch.Tensor,
    *,
    temperature: float = 0.5,
    tau_plus: float = 0.1,
    hardness: float = 1.0,
    detach_weights: bool = False,
    normalize: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    """Hardness-weighted debiased loss (Robinson et al. 2021), N explicit negatives.

    As ``debiased`` with the negative sum replaced by an importance-weighted one:

        S   = sum_j w_j exp(s_j/t),  w_j = exp(h s_j/t) / ((1/N) sum_k exp(h s_k/t))
        N_g = max( (S - tau+ N pos) / (1 - tau+),  N exp(-1/t) )
        l   = -log( pos / (pos + N_g) )

    h = ``hardness`` (Robinson's beta). hardness = 0 gives ``debiased``; hardness = 0 and
    tau_plus = 0 give InfoNCE over the positive and the N negatives. Value with identical
    embeddings: ``log(N + 1)``. reduction: "mean", "sum", "none" (B,).

    Gradient: as in Robinson et al.'s code (``detach_weights=False``) it also flows through
    the weights w_j, which adds a term pulling the anchor towards negatives whose weight is
    below average. ``detach_weights=True`` treats w_j as constants, i.e. as importance
    weights of negatives drawn from the tilted law q_j ~ exp(h s_j/t): the gradient is then
    that of InfoNCE-type repulsion from those negatives only. Both have the same value.

    Raises ValueError for temperature <= 0, tau_plus outside [0, 1), hardness < 0,
    N = 0 or mismatched shapes.
    """
    return reduce_rows(_debiased_rows(anchor, positive, negatives, temperature, tau_plus, hardness, normalize, detach_weights), reduction)
