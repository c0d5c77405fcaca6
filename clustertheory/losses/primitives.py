"""The one numerically safe primitive every loss is built on, plus shared plumbing.

A contrastive loss is a row-wise cross-entropy over an ``(anchors x candidates)``
logit matrix. ``masked_logsumexp`` reduces such a matrix row by row: masked entries
are filled with the dtype's most negative *finite* value (never ``-inf``, whose
gradient through ``exp`` is NaN when a whole row is masked) and the reduction runs
in float32 or wider, so half-precision inputs do not overflow or lose the small
terms of the sum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from clustertheory.config import check_in

REDUCTIONS = ("mean", "sum", "none")


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half / bfloat16 (and any other narrower float), else ``dtype`` unchanged."""
    return torch.float64 if dtype == torch.float64 else torch.float32


WIDE_DTYPES = (torch.float32, torch.float64)


def upcast(*tensors: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
    """Cast floating tensors narrower than float32 to float32 (``None`` passes through)."""
    return tuple(t if t is None or t.dtype in WIDE_DTYPES else t.to(working_dtype(t.dtype)) for t in tensors)


def prepare(normalize: bool, *tensors: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
    """Upcast to float32 or wider, then L2-normalise the last dimension if ``normalize``."""
    tensors = upcast(*tensors)
    if not normalize:
        return tensors
    return tuple(None if t is None else F.normalize(t, dim=-1) for t in tensors)


LEAN_BACKWARD_MIN_ENTRIES = 1 << 16  # below this, the custom Function's Python overhead outweighs the saved buffers


class _RowLogSumExp(torch.autograd.Function):
    """``torch.logsumexp(x, dim=1)`` with a leaner backward.

    The gradient is torch's own, ``grad * exp(x - lse)``, computed by the same operations in
    the same order (so bit for bit the same), but in one buffer: torch's backward allocates
    ``x - lse``, its exp and the product, three (B, C) tensors, where this allocates one.
    Once differentiable (a second derivative raises).
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor) -> torch.Tensor:
        lse = torch.logsumexp(logits, dim=1)
        ctx.save_for_backward(logits, lse)
        return lse

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        logits, lse = ctx.saved_tensors
        return (logits - lse.unsqueeze(1)).exp_().mul_(grad.unsqueeze(1))


def masked_logsumexp(logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Row-wise ``log sum_{c : mask[b, c]} exp(logits[b, c])``.

    logits: (B, C) already scaled by the temperature. mask: (B, C) bool, True = keep,
    or None (keep everything). Returns (B,) in float32 (or float64 for float64 input).

    Masked entries are set to ``torch.finfo(dtype).min``; a row with no kept entry
    therefore returns a very negative finite number (about finfo.min), not NaN, and
    masked entries receive exactly zero gradient. The value and gradient are those of
    ``torch.logsumexp`` bit for bit; from ``LEAN_BACKWARD_MIN_ENTRIES`` entries on, the
    backward needs one (B, C) buffer instead of three (:class:`_RowLogSumExp`).
    """
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape (B, C), got {tuple(logits.shape)}")
    (logits,) = upcast(logits)
    if mask is not None:
        if mask.shape != logits.shape:
            raise ValueError(
                f"mask must have the shape of logits {tuple(logits.shape)}, got {tuple(mask.shape)}"
            )
        logits = logits.masked_fill(~mask.bool(), torch.finfo(logits.dtype).min)
    if logits.numel() < LEAN_BACKWARD_MIN_ENTRIES or not torch.is_grad_enabled():
        return torch.logsumexp(logits, dim=1)
    return _RowLogSumExp.apply(logits)


def log1p_exp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 + exp(x))`` accurate for every x (tiny positive values do not round to 0)."""
    return torch.logaddexp(x, torch.zeros_like(x))


def masked_log_softmax(logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Row-wise ``logits[b, c] - masked_logsumexp(logits, mask)[b]``, shape (B, C).

    Entries outside the mask are returned too (they are not a probability); callers
    select the entries they need.
    """
    logits = logits.to(working_dtype(logits.dtype))
    return logits - masked_logsumexp(logits, mask).unsqueeze(1)


def reduce_rows(losses: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply ``reduction`` ("mean", "sum" or "none") to per-anchor losses (B,)."""
    check_in("reduction", reduction, REDUCTIONS)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def check_embeddings(name: str, tensor: torch.Tensor, ndim: int) -> None:
    """Require a floating tensor with ``ndim`` dimensions."""
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
        raise ValueError(f"{name} must be a floating-point torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(tensor.shape)}")


def check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Require two tensors of identical shape, naming both shapes when they differ."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got "
            f"{name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)}"
        )


def check_negatives(anchor_name: str, anchor: torch.Tensor, name: str, negatives: torch.Tensor) -> int:
    """Require negatives of shape (B, K, d) matching an anchor (B, d), with K >= 1; return K."""
    check_embeddings(name, negatives, 3)
    batch, dim = anchor.shape
    if negatives.shape[0] != batch or negatives.shape[2] != dim:
        raise ValueError(
            f"{name} must have shape (B, K, d) = ({batch}, K, {dim}) to match "
            f"{anchor_name} {tuple(anchor.shape)}, got {tuple(negatives.shape)}"
        )
    if negatives.shape[1] < 1:
        raise ValueError(
            f"{name} must hold K >= 1 candidates per anchor, got K = 0 (shape {tuple(negatives.shape)})"
        )
    return negatives.shape[1]


def check_pair(anchor: torch.Tensor, positive: torch.Tensor) -> None:
    """Require anchor and positive embeddings of the same shape (B, d)."""
    check_embeddings("anchor", anchor, 2)
    check_embeddings("positive", positive, 2)
    check_same_shape("anchor", anchor, "positive", positive)


def check_hypercube_inputs(codes: torch.Tensor, positive_codes: torch.Tensor, negative_codes: torch.Tensor) -> None:
    """Require codes (*S, d), positive_codes of the same shape and negative_codes (*S, l, d),
    l >= 1, with a batch shape S of at least one dimension."""
    for name, tensor in (("codes", codes), ("positive_codes", positive_codes), ("negative_codes", negative_codes)):
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            raise ValueError(f"{name} must be a floating-point torch.Tensor, got {type(tensor).__name__}")
    if codes.dim() < 2:
        raise ValueError(f"codes must have shape (*S, d) with at least one batch dimension, got {tuple(codes.shape)}")
    check_same_shape("codes", codes, "positive_codes", positive_codes)
    expected = (*codes.shape[:-1], "l", codes.shape[-1])
    if negative_codes.dim() != codes.dim() + 1 or negative_codes.shape[:-2] != codes.shape[:-1] or negative_codes.shape[-1] != codes.shape[-1]:
        raise ValueError(f"negative_codes must have shape (*S, l, d) = {expected} to match codes {tuple(codes.shape)}, got {tuple(negative_codes.shape)}")
    if negative_codes.shape[-2] < 1:
        raise ValueError(f"negative_codes must hold l >= 1 negatives per anchor, got l = 0 (shape {tuple(negative_codes.shape)})")


def check_leading_shape(name: str, tensor: torch.Tensor, batch_shape: torch.Size, trailing: tuple = ()) -> None:
    """Require ``tensor.shape == batch_shape[:k] + trailing`` for some k >= 0 (a per-member or
    per-anchor parameter of a batch of shape ``batch_shape``)."""
    lead = tuple(tensor.shape[: tensor.dim() - len(trailing)])
    if tuple(tensor.shape[tensor.dim() - len(trailing) :]) != tuple(trailing) or lead != tuple(batch_shape[: len(lead)]):
        allowed = " or ".join(str((*batch_shape[:k], *trailing)) for k in range(len(batch_shape) + 1))
        raise ValueError(f"{name} must have shape {allowed} (a leading part of the batch shape), got {tuple(tensor.shape)}")
