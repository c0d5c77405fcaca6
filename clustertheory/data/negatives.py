"""Candidate negatives drawn from the natural images, never the anchor itself.

:class:`~clustertheory.data.sampling.PairSampler` draws i.i.d. negatives x- ~ D_o as in the
theorem, so a negative can be the anchor's own natural image: with hard selection that
candidate (cosine 1 to the anchor) is picked first. The hard-negative simulation draws its
candidate pools here instead, from D_o conditioned on x- != x.
"""

from __future__ import annotations

import torch

from ..config import check_positive_int
from .views import ViewDataset


def negatives_excluding_anchor(data: ViewDataset, anchor: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` i.i.d. natural images per anchor, x- ~ D_o( . | x- != x), as view indices.

    anchor (...,) view indices of natural images (as returned by PairSampler) -> (..., count).
    Candidates equal to the anchor are redrawn until none is left (each redraw keeps the law
    D_o conditioned on differing from the anchor). ``generator`` is a torch.Generator on the
    anchors' device. Raises ValueError when an anchor is not a natural image or when the
    anchor is the only natural image with positive weight.
    """
    check_positive_int("count", count)
    device = anchor.device
    base_view = torch.as_tensor(data.base_view, device=device)
    weight = torch.as_tensor(data.base_weight, dtype=torch.float64, device=device)
    base_of_view = torch.full((data.num_views,), -1, dtype=torch.long, device=device)
    base_of_view[base_view] = torch.arange(data.num_base, device=device)
    anchor_base = base_of_view[anchor]
    if (anchor_base < 0).any():
        raise ValueError("anchor must hold view indices of natural images")
    if (weight[anchor_base] >= 1).any():
        raise ValueError("an anchor with all the weight of D_o has no other natural image to draw")
    uniform = bool((weight == weight[0]).all())

    def draw(size: int) -> torch.Tensor:  # x- ~ D_o (randint when D_o is uniform: the same law, faster)
        if uniform:
            return torch.randint(data.num_base, (size,), generator=generator, device=device)
        return torch.multinomial(weight, size, replacement=True, generator=generator)

    drawn = draw(anchor.numel() * count).view(*anchor.shape, count)
    clash = drawn == anchor_base[..., None]
    while clash.any():
        drawn[clash] = draw(int(clash.sum()))
        clash = drawn == anchor_base[..., None]
    return base_view[drawn]
