"""InfoNCE and SupCon over an ensemble axis: one loss per member of a batched encoder.

The same losses as :func:`clustertheory.losses.infonce` (in-batch form) and
:func:`clustertheory.losses.supcon_out`, for embeddings of shape (E, B, d): member e's loss
only involves its own (B, d) slice. Returns (E,) per-member means; sum them to train an
ensemble (the members share no parameter, so each one receives exactly its own gradient).
Written with batched matrix products instead of a loop or ``torch.func.vmap`` (SupCon's
check for anchors without positives is data-dependent and cannot be vmapped); the InfoNCE
rows are those of :func:`~clustertheory.losses.infonce` itself, which keeps leading axes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from clustertheory.config import check_positive
from clustertheory.losses.infonce import _in_batch_rows
from clustertheory.losses.primitives import prepare


def _check(name: str, z: torch.Tensor) -> None:
    if z.dim() != 3:
        raise ValueError(f"{name} must have shape (E, B, d), got {tuple(z.shape)}")


def ensemble_infonce(anchor: torch.Tensor, positive: torch.Tensor, *, temperature: float = 0.1, symmetric: bool = False,
                     same_view_negatives: bool = False) -> torch.Tensor:
    """In-batch InfoNCE with cosine similarity per member: anchor, positive (E, B, d) -> (E,).

        l_eb = -s(a_eb, p_eb)/t + log( sum_j exp(s(a_eb, p_ej)/t) [+ sum_{j != b} exp(s(a_eb, a_ej)/t)] )

    the bracket with ``same_view_negatives``; ``symmetric`` averages with the roles swapped
    (NT-Xent with both options). Equal to ``infonce(anchor[e], positive[e], ...)`` for each e.
    """
    check_positive("temperature", temperature)
    _check("anchor", anchor)
    if positive.shape != anchor.shape:
        raise ValueError(f"positive must have the shape of anchor {tuple(anchor.shape)}, got {tuple(positive.shape)}")
    if anchor.shape[1] < 2:
        raise ValueError(f"in-batch InfoNCE needs B >= 2, got shape {tuple(anchor.shape)}")
    a, p = prepare(True, anchor, positive)
    return _in_batch_rows(a, p, 1.0 / temperature, same_view_negatives, symmetric, include_positive=True).mean(dim=-1)


def ensemble_supcon(embeddings: torch.Tensor, labels: torch.Tensor, *, temperature: float = 0.1) -> torch.Tensor:
    """SupCon L_out (Khosla et al. 2020) per member: embeddings (E, B, d), labels (B,) or (E, B) -> (E,).

        l_ei = -1/|P(i)| sum_{p in P(i)} [ s(z_ei, z_ep)/t - log sum_{a != i} exp(s(z_ei, z_ea)/t) ]

    with P(i) the other rows of i's label; anchors without a positive are left out of the
    mean. Equal to ``supcon_out(embeddings[e], labels[e])`` for each e.
    """
    check_positive("temperature", temperature)
    _check("embeddings", embeddings)
    E, B, _ = embeddings.shape
    if B < 3:
        raise ValueError(f"supcon needs B >= 3 embeddings per member, got shape {tuple(embeddings.shape)}")
    labels = labels.expand(E, B) if labels.dim() == 1 else labels
    if labels.shape != (E, B):
        raise ValueError(f"labels must have shape (B,) or (E, B) = ({E}, {B}), got {tuple(labels.shape)}")
    z = F.normalize(embeddings, dim=-1)
    eye = torch.eye(B, dtype=torch.bool, device=z.device)
    logits = (z @ z.transpose(1, 2) / temperature).masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=2, keepdim=True)
    positives = (labels.unsqueeze(1) == labels.unsqueeze(2)) & ~eye
    count = positives.sum(dim=2)
    if bool((count.sum(dim=1) == 0).any()):
        raise ValueError("every member's labels must contain some label at least twice (no anchor has a positive)")
    per_anchor = -torch.where(positives, log_prob, torch.zeros_like(log_prob)).sum(dim=2) / count.clamp(min=1)
    has = (count > 0).to(per_anchor.dtype)
    return (per_anchor * has).sum(dim=1) / has.sum(dim=1)
