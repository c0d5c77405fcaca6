"""Samplers for (anchor, positive, negatives) triples of view indices, on any torch device."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..config import check_in, check_nonneg_int, check_positive_int
from ..utils import resolve_device, torch_generator
from .views import ViewDataset

NEGATIVE_MODES = ("iid", "in-batch")


class PairSampler:
    """Draws anchors x ~ D_o, positives x+ ~ A(x) and negatives, as view indices.

    negative_mode="iid":      K i.i.d. natural images per anchor, x_i- ~ D_o (as in the theorem:
                          a negative can share the anchor's cluster); shape (B, K).
    negative_mode="in-batch": the other anchors of the batch; shape (B, B - 1).

    The augmentation law is held as padded per-row tables (N, R) so one batch is a single
    torch.multinomial call on the device.
    """

    def __init__(self, data: ViewDataset, num_negatives: int = 1, negative_mode: str = "iid", device=None, seed: int = 0):
        self.num_negatives = check_positive_int("num_negatives", num_negatives)
        self.negative_mode = check_in("negative_mode", negative_mode, NEGATIVE_MODES)
        self.device = resolve_device(device)
        self.generator = torch_generator(check_nonneg_int("seed", seed), self.device)
        augment = data.augment.tocsr()
        counts = np.diff(augment.indptr)
        width = int(counts.max())
        cols = np.zeros((data.num_base, width), dtype=np.int64)
        probs = np.zeros((data.num_base, width), dtype=np.float64)
        for i in range(data.num_base):
            start, stop = augment.indptr[i], augment.indptr[i + 1]
            cols[i, : stop - start] = augment.indices[start:stop]
            probs[i, : stop - start] = augment.data[start:stop]
        self._cols = torch.as_tensor(cols, device=self.device)
        self._probs = torch.as_tensor(probs, dtype=torch.float32, device=self.device)
        self._base_view = torch.as_tensor(data.base_view, device=self.device)
        self._base_weight = torch.as_tensor(data.base_weight, dtype=torch.float32, device=self.device)

    def sample(self, batch_size: int, groups: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``anchor (B,)``, ``positive (B,)``, ``negatives (B, K)`` long view indices.

        With ``groups = E`` draw E independent batches at once: shapes (E, B), (E, B),
        (E, B, K); in-batch negatives then come from the anchor's own group only.
        """
        B = check_positive_int("batch_size", batch_size)
        E = 1 if groups is None else check_positive_int("groups", groups)
        if self.negative_mode == "in-batch" and B < 2:
            raise ValueError(f"batch_size must be >= 2 for in-batch negatives, got {B}")
        base = torch.multinomial(self._base_weight, E * B, replacement=True, generator=self.generator)
        slot = torch.multinomial(self._probs[base], 1, generator=self.generator).squeeze(1)
        anchor = self._base_view[base].view(E, B)
        positive = self._cols[base, slot].view(E, B)
        if self.negative_mode == "iid":
            neg_base = torch.multinomial(self._base_weight, E * B * self.num_negatives, replacement=True, generator=self.generator)
            negatives = self._base_view[neg_base].view(E, B, self.num_negatives)
        else:
            others = ~torch.eye(B, dtype=torch.bool, device=self.device)
            negatives = anchor[:, None, :].expand(E, B, B)[:, others].view(E, B, B - 1)
        if groups is None:
            return anchor[0], positive[0], negatives[0]
        return anchor, positive, negatives


class MemberPairSampler:
    """:class:`PairSampler` with one dataset per ensemble member, all drawn in one call.

    Member e's anchors x ~ D_o(e), positives x+ ~ A_e(x) and i.i.d. natural-image negatives
    follow the law PairSampler uses on dataset e; in-batch negatives are the other anchors
    of the member's own batch. The laws are held as padded tables (E, N, R) (zero
    probability on padding, so padding is never drawn).
    """

    def __init__(self, datasets: Sequence[ViewDataset], num_negatives: int = 1, negative_mode: str = "iid", device="cpu", seed: int = 0):
        self.num_negatives = check_positive_int("num_negatives", num_negatives)
        self.negative_mode = check_in("negative_mode", negative_mode, NEGATIVE_MODES)
        self.device = torch.device(device)
        self.generator = torch_generator(seed, self.device)
        E, N = len(datasets), max(d.num_base for d in datasets)
        R = max(int(np.diff(d.augment.indptr).max()) for d in datasets)
        cols, probs = np.zeros((E, N, R), dtype=np.int64), np.zeros((E, N, R), dtype=np.float64)
        base_view, base_weight = np.zeros((E, N), dtype=np.int64), np.zeros((E, N), dtype=np.float64)
        for e, data in enumerate(datasets):
            augment = data.augment.tocsr()
            counts = np.diff(augment.indptr)
            row = np.repeat(np.arange(data.num_base), counts)
            slot = np.arange(augment.nnz) - np.repeat(augment.indptr[:-1], counts)
            cols[e, row, slot], probs[e, row, slot] = augment.indices, augment.data
            base_view[e, : data.num_base], base_weight[e, : data.num_base] = data.base_view, data.base_weight
        self._cols = torch.as_tensor(cols, device=self.device)
        self._probs = torch.as_tensor(probs, dtype=torch.float32, device=self.device)
        self._base_view = torch.as_tensor(base_view, device=self.device)
        self._base_weight = torch.as_tensor(base_weight, dtype=torch.float32, device=self.device)
        self.members = E

    def sample(self, batch_size: int, groups: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``anchor (E, B)``, ``positive (E, B)``, ``negatives (E, B, K)`` view indices, row e from dataset e.

        ``groups`` is accepted for PairSampler compatibility and must equal E.
        """
        B, E = check_positive_int("batch_size", batch_size), self.members
        if groups is not None and groups != E:
            raise ValueError(f"groups must equal the number of datasets ({E}), got {groups}")
        if self.negative_mode == "in-batch" and B < 2:
            raise ValueError(f"batch_size must be >= 2 for in-batch negatives, got {B}")
        member = torch.arange(E, device=self.device)[:, None]
        base = torch.multinomial(self._base_weight, B, replacement=True, generator=self.generator)  # (E, B)
        slot = torch.multinomial(self._probs[member, base].view(E * B, -1), 1, generator=self.generator).view(E, B)
        anchor = self._base_view.gather(1, base)
        positive = self._cols[member, base, slot]
        if self.negative_mode == "iid":
            neg_base = torch.multinomial(self._base_weight, B * self.num_negatives, replacement=True, generator=self.generator)
            negatives = self._base_view.gather(1, neg_base).view(E, B, self.num_negatives)
        else:
            others = ~torch.eye(B, dtype=torch.bool, device=self.device)
            negatives = anchor[:, None, :].expand(E, B, B)[:, others].view(E, B, B - 1)
        return anchor, positive, negatives

# Candidate negatives that are never the anchor. PairSampler draws i.i.d. negatives x- ~ D_o as
# in the theorem, so a negative can be the anchor's own natural image: with hard selection that
# candidate (cosine 1 to the anchor) is picked first. The hard-negative simulation draws its
# candidate pools here instead, from D_o conditioned on x- != x.


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
