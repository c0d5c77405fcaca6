"""An ensemble of small real-valued encoders held in batched weights: E seeds train in one pass.

    EnsembleMLP   f_e: R^D -> R^d for e = 1..E; input (E, B, D) (or (B, D), shared by every
                  member) -> output (E, B, d)

With one weight tensor per layer of shape (E, fan_in, fan_out) every step is a few batched
matrix products whatever E is, where E separate modules cost E times the per-step overhead
of PyTorch (which dominates for the small networks of the simulations). Member e is
initialised from its own seed exactly as ``torch.nn.Linear`` would be, so a member of an
ensemble starts where the same seed alone would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..config import (
    Integer,
    Real,
    Settings,
    check_nonneg_int,
    check_positive,
    check_positive_int,
)
from ..utils import resolve_device


@dataclass(frozen=True)
class EncoderSettings(Settings):
    """Shape and start of an :class:`EnsembleMLP` (a nested settings block of a simulation).

    out_dim     embedding size p
    width       hidden units per layer
    depth       hidden layers (0: linear)
    init_scale  factor on torch.nn.Linear's initial law (1: the default; < 1: small initialisation)
    """

    out_dim: int = 8
    width: int = 64
    depth: int = 1
    init_scale: float = 1.0

    constraints = {"out_dim": Integer(1), "width": Integer(1), "depth": Integer(0), "init_scale": Real(0, open_lo=True)}

    def build(self, in_dim: int, seeds: Sequence[int], device=None) -> EnsembleMLP:
        """The ensemble these settings describe, one member per seed."""
        return EnsembleMLP(in_dim, self.out_dim, seeds, width=self.width, depth=self.depth, init_scale=self.init_scale, device=device)


class EnsembleMLP(nn.Module):
    """E independent ReLU MLPs with ``depth`` hidden layers of ``width`` units:

        h_0 = x,   h_l = relu(h_{l-1} W_{l,e} + b_{l,e})  (l = 1..depth),   f_e(x) = h_depth W_{out,e} + b_{out,e}

    ``depth = 0`` is the linear model f_e(x) = x W_e + b_e. Weights (E, fan_in, fan_out) and
    biases (E, 1, fan_out) start at ``init_scale`` U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    (``torch.nn.Linear``'s law for init_scale = 1; smaller values give the "small
    initialisation" of the simplicity-bias theory), member e from ``seeds[e]``.
    """

    def __init__(self, in_dim: int, out_dim: int, seeds: Sequence[int], width: int = 64, depth: int = 1,
                 init_scale: float = 1.0, device=None):
        super().__init__()
        check_positive_int("in_dim", in_dim)
        check_positive_int("out_dim", out_dim)
        check_positive_int("width", width)
        check_nonneg_int("depth", depth)
        check_positive("init_scale", init_scale)
        seeds = [check_nonneg_int("seeds", s) for s in seeds]
        if not seeds:
            raise ValueError("seeds must hold one seed per member (at least one)")
        device = resolve_device(device)
        self.ensemble, self.in_dim, self.out_dim = len(seeds), in_dim, out_dim
        sizes = [in_dim] + [width] * depth + [out_dim]
        weights, biases = [], []
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        for fan_in, fan_out in zip(sizes, sizes[1:]):
            bound = init_scale / math.sqrt(fan_in)
            w = torch.stack([(torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * bound for g in generators])
            b = torch.stack([(torch.rand(1, fan_out, generator=g) * 2 - 1) * bound for g in generators])
            weights.append(nn.Parameter(w.to(device)))
            biases.append(nn.Parameter(b.to(device)))
        self.weights, self.biases = nn.ParameterList(weights), nn.ParameterList(biases)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (E, B, D) or (B, D) -> (E, B, d)."""
        if x.dim() == 2:
            x = x.expand(self.ensemble, *x.shape)
        if x.dim() != 3 or x.shape[0] != self.ensemble or x.shape[2] != self.in_dim:
            raise ValueError(f"x must have shape (E, B, D) = ({self.ensemble}, B, {self.in_dim}) or (B, {self.in_dim}), got {tuple(x.shape)}")
        h = x
        last = len(self.weights) - 1
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if layer < last:
                h = torch.relu(h)
        return h
