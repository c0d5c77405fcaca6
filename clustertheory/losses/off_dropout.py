"""InfoNCE of the dropout augmentation: unsupervised SimCSE and the off-dropout negatives of
SimCSE++ (Xu et al. 2023).

Dropout gives the positive pair (two training-mode passes h, h+ of the same inputs). SimCSE
takes its negatives s(h_i, h_j+) from the same dropout passes; SimCSE++ computes them from
embeddings hbar taken with dropout switched off, s(hbar_i, hbar_j). The claim under test is
that dropout noise in *negative* pairs only adds variance; removing it is the whole
difference between the two losses.
"""

from __future__ import annotations

import torch

from clustertheory.config import check_in, check_positive
from clustertheory.functions.encoders import dropout_pair, modes
from clustertheory.losses.infonce import in_batch_gap
from clustertheory.losses.primitives import check_same_shape, log1p_exp, prepare, reduce_rows


def _check_views(name: str, tensor: torch.Tensor) -> None:
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point() or tensor.dim() < 2:
        raise ValueError(f"{name} must be a floating-point tensor of shape (..., B, d), got {getattr(tensor, 'shape', type(tensor).__name__)}")


def dropout_infonce(
    h: torch.Tensor,
    h_pos: torch.Tensor,
    h_bar: torch.Tensor | None = None,
    *,
    temperature: float = 0.05,
    positive_weight: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """In-batch InfoNCE with dropout positives and a choice of negative embeddings.

    h, h_pos (..., B, d): two dropout-on passes of the same B inputs (leading dimensions,
    e.g. ensemble members, are independent batches). With cosine similarity s and positive
    weight r:

        l_i = -log( exp(r s(h_i, h_i+)/t) / (exp(r s(h_i, h_i+)/t) + sum_{j != i} exp(s(u_i, v_j)/t)) )

    h_bar=None:   (u, v) = (h, h_pos), unsupervised SimCSE (with r = 1 this is
                  ``infonce(h, h_pos)`` with in-batch negatives);
    h_bar given:  (u, v) = (h_bar, h_bar), a third embedding of the same inputs (..., B, d):
                  the dropout-off pass of SimCSE++ (off-dropout negatives), or e.g. the mean
                  of several dropout passes (negatives in dropout mode with less noise).

    Denominator: the positive and B - 1 negatives. Chance value (all similarities equal,
    r = 1): ``log B``. reduction: "mean", "sum" (over every anchor of every leading index)
    or "none" (..., B).

    Raises ValueError for temperature <= 0, positive_weight <= 0, B < 2 or mismatched shapes.
    """
    check_positive("temperature", temperature)
    check_positive("positive_weight", positive_weight)
    for name, tensor in (("h", h), ("h_pos", h_pos)) + ((("h_bar", h_bar),) if h_bar is not None else ()):
        _check_views(name, tensor)
    check_same_shape("h", h, "h_pos", h_pos)
    if h_bar is not None:
        check_same_shape("h", h, "h_bar", h_bar)
    batch = h.shape[-2]
    if batch < 2:
        raise ValueError(f"dropout InfoNCE needs batch size B >= 2 (B - 1 negatives), got h shape {tuple(h.shape)}")
    h, h_pos, h_bar = prepare(True, h, h_pos, h_bar)
    left, right = (h, h_pos) if h_bar is None else (h_bar, h_bar)
    positive_logit = positive_weight * (h * h_pos).sum(dim=-1) / temperature  # (..., B)
    negative_logits = left @ right.mT / temperature  # (..., B, B); the diagonal is not a negative
    gap = in_batch_gap(negative_logits, positive_logit)  # log sum_{j != i} exp(neg - pos)
    return reduce_rows(log1p_exp(gap), reduction)  # the positive is in the denominator


NEGATIVE_SOURCES = ("simcse", "off-dropout", "averaged-dropout")


def negative_views(source: str, model: torch.nn.Module, inputs: torch.Tensor, *, passes: int = 4, detach: bool = False) -> torch.Tensor | None:
    """The embedding whose cosines are the negatives of ``dropout_infonce``:

        "simcse"            None: the negatives are the dropout passes h, h+ themselves
        "off-dropout"       one pass with dropout off (eval mode): SimCSE++'s hbar
        "averaged-dropout"  the mean of ``passes`` dropout-on passes: negatives in the same mode as
                            the positives with 1/passes of the dropout variance of one pass

    Gradients flow through the passes unless ``detach``. Eval mode also switches every other
    train/eval-dependent layer (BatchNorm uses running statistics). The train/eval flag of every
    submodule is restored on exit, also when a pass raises.
    """
    check_in("source", source, NEGATIVE_SOURCES)
    if source == "simcse":
        return None
    with modes(model, source == "averaged-dropout"), torch.set_grad_enabled(torch.is_grad_enabled() and not detach):
        return torch.stack([model(inputs) for _ in range(1 if source == "off-dropout" else passes)]).mean(dim=0)


def off_dropout_infonce(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    *,
    temperature: float = 0.05,
    positive_weight: float = 1.0,
    detach_negatives: bool = False,
    reduction: str = "mean",
) -> torch.Tensor:
    """Run the three passes and return the off-dropout InfoNCE loss of SimCSE++.

    model: a ``torch.nn.Module`` mapping inputs (B, ...) to embeddings (..., B, d).
    Two passes in train mode (dropout on, independent masks) give h and h_pos; one
    pass in eval mode (dropout off) gives hbar (``negative_views("off-dropout")``); the
    loss is ``dropout_infonce(h, h_pos, hbar)``.

    Gradients flow through hbar by default, as in the SimCSE++ objective (the
    negatives are part of the loss being minimised); ``detach_negatives=True`` makes
    the negatives constants (a cheaper variant; the pass then runs under no_grad).
    The train/eval flag of every submodule is restored on exit, also when a pass raises.
    """
    check_positive("temperature", temperature)
    check_positive("positive_weight", positive_weight)
    h, h_pos = dropout_pair(model, inputs)
    h_bar = negative_views("off-dropout", model, inputs, detach=detach_negatives)
    return dropout_infonce(h, h_pos, h_bar, temperature=temperature, positive_weight=positive_weight, reduction=reduction)


def dropout_arm_loss(source: str, encoder, inputs, *, temperature: float, positive_weight: float = 1.0, passes: int = 4):
    """Per-member losses (E,) of ``dropout_infonce`` with the negatives of ``source`` (mean over
    the B anchors), and the views they came from, (h, h_pos, h_bar):

        h, h_pos   two dropout-on passes (:func:`~clustertheory.functions.dropout_pair`), (E, B, d)
        h_bar      ``negative_views(source, ...)``: None for "simcse", the dropout-off pass for
                   "off-dropout", the mean of ``passes`` dropout-on passes for "averaged-dropout"

    The passes run in that order (the dropout stream is drawn in that order). One arm of the
    SimCSE++ simulations: :func:`off_dropout_infonce` for any negative source, per member.
    """
    h, h_pos = dropout_pair(encoder, inputs)
    h_bar = negative_views(source, encoder, inputs, passes=passes)
    rows = dropout_infonce(h, h_pos, h_bar, temperature=temperature, positive_weight=positive_weight, reduction="none")
    return rows.mean(dim=-1), (h, h_pos, h_bar)
