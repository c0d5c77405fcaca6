"""Off-dropout InfoNCE of SimCSE++ (Xu et al. 2023): dropout gives the positive pair,
negatives are similarities between embeddings computed with dropout switched off.

The claim under test is that dropout noise in *negative* pairs only adds variance;
removing it is the whole difference from unsupervised SimCSE.
"""

from __future__ import annotations

import torch

from clustertheory.config import check_positive
from clustertheory.losses.primitives import (
    check_embeddings,
    check_same_shape,
    log1p_exp,
    masked_logsumexp,
    prepare,
    reduce_rows,
)


def off_dropout_infonce_from_embeddings(
    h: torch.Tensor,
    h_pos: torch.Tensor,
    h_bar: torch.Tensor,
    *,
    temperature: float = 0.05,
    positive_weight: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Off-dropout InfoNCE from precomputed embeddings.

    h, h_pos (B, d): two dropout-on passes of the same inputs; h_bar (B, d): a
    dropout-off pass. With cosine similarity s and positive weight r:

        l_i = -log( exp(r s(h_i, h_i+)/t)
                    / (exp(r s(h_i, h_i+)/t) + sum_{j != i} exp(s(hbar_i, hbar_j)/t)) )

    Denominator: the positive and B - 1 off-dropout negatives (the negatives do not
    involve h at all). Chance value (all similarities equal, r = 1): ``log B``.
    reduction: "mean", "sum", "none" (B,).

    Raises ValueError for temperature <= 0, positive_weight <= 0, B < 2 or
    mismatched shapes.
    """
    check_positive("temperature", temperature)
    check_positive("positive_weight", positive_weight)
    for name, tensor in (("h", h), ("h_pos", h_pos), ("h_bar", h_bar)):
        check_embeddings(name, tensor, 2)
    check_same_shape("h", h, "h_pos", h_pos)
    check_same_shape("h", h, "h_bar", h_bar)
    batch = h.shape[0]
    if batch < 2:
        raise ValueError(f"off-dropout InfoNCE needs batch size B >= 2 (B - 1 negatives), got h shape {tuple(h.shape)}")
    h, h_pos, h_bar = prepare(True, h, h_pos, h_bar)
    positive_logit = positive_weight * (h * h_pos).sum(dim=-1) / temperature  # (B,)
    negative_logits = h_bar @ h_bar.T / temperature  # (B, B); the diagonal is not a negative
    off_diagonal = ~torch.eye(batch, dtype=torch.bool, device=h.device)
    gap = masked_logsumexp(negative_logits - positive_logit.unsqueeze(1), off_diagonal)
    rows = log1p_exp(gap)  # log(1 + sum_neg exp(neg - pos)): the positive is in the denominator
    return reduce_rows(rows, reduction)


def off_dropout_infonce(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    *,
    temperature: float = 0.05,
    positive_weight: float = 1.0,
    detach_negatives: bool = False,
    reduction: str = "mean",
) -> torch.Tensor:
    """Run the three passes and return the off-dropout InfoNCE loss.

    model: a ``torch.nn.Module`` mapping inputs (B, ...) to embeddings (B, d).
    Two passes in train mode (dropout on, independent masks) give h and h_pos; one
    pass in eval mode (dropout off) gives h_bar. Loss as in
    ``off_dropout_infonce_from_embeddings``.

    Gradients flow through h_bar by default, as in the SimCSE++ objective (the
    negatives are part of the loss being minimised); ``detach_negatives=True`` makes
    the negatives constants (a cheaper variant; the pass then runs under no_grad).
    Eval mode also switches every other train/eval-dependent layer (BatchNorm uses
    running statistics). The train/eval flag of every submodule is restored on
    exit, also when a pass raises.
    """
    check_positive("temperature", temperature)
    check_positive("positive_weight", positive_weight)
    modules = list(model.modules())
    original_modes = [module.training for module in modules]
    try:
        model.train()
        h = model(inputs)
        h_pos = model(inputs)
        model.eval()
        with torch.set_grad_enabled(torch.is_grad_enabled() and not detach_negatives):
            h_bar = model(inputs)
    finally:
        for module, mode in zip(modules, original_modes):
            module.training = mode
    return off_dropout_infonce_from_embeddings(
        h, h_pos, h_bar, temperature=temperature, positive_weight=positive_weight, reduction=reduction
    )
