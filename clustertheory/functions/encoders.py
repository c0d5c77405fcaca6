"""Real-valued encoders for the embedding simulations (SimCSE++, hard negatives).

    SeededDropout  inverted dropout with masks from a seeded torch.Generator
    EnsembleMLP    E independent MLPs f_e: R^D -> R^d with stacked weights (one batched matmul
                   per layer trains every seed of a simulation at once); optional layer norm
    MLPEncoder     one such MLP: input (B, D) -> (B, d)
    dropout_pair   the dropout augmentation: two training-mode passes of one encoder
    embed          dropout-off embeddings (eval mode, no gradient)
    modes          set a model's train/eval flag for a block, every submodule's own flag restored after

Hypercube representations g = sign(score) live in :mod:`clustertheory.functions.classes`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ..config import check_nonneg_int, check_positive, check_positive_int, check_probability
from ..utils import resolve_device, torch_generator


class SeededDropout(nn.Module):
    """Inverted dropout whose masks come from a torch.Generator (reproducible, seedable).

    Training mode: ``x * b / (1 - p)`` with b_j ~ Bernoulli(1 - p) i.i.d.; eval mode: ``x``.
    """

    def __init__(self, p: float, generator: torch.Generator):
        super().__init__()
        self.p = check_probability("dropout", p, open_right=True)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand(x.shape, generator=self.generator, device=self.generator.device).to(x.device) >= self.p
        return x * keep.to(x.dtype) / (1 - self.p)


class EnsembleMLP(nn.Module):
    """E independent MLPs with stacked weights: member e maps R^D -> R^d,

        h_0 = drop(x),  h_l = drop(relu(N(h_{l-1} W_l^e + b_l^e)))  (l = 1..depth),
        f_e(x) = h_depth W_out^e + b_out^e

    ``depth = 0`` is the linear model f_e(x) = drop(x) W^e + b^e. N is a layer norm with its
    own gain and bias per member (``layer_norm=True``; the identity otherwise), and
    f_e(x)/||f_e(x)|| is returned when ``normalize``. Member e is initialised from ``seeds[e]``
    with ``init_scale`` times PyTorch's default Linear law (weights and biases
    ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); init_scale < 1 gives the "small initialisation" of
    the simplicity-bias theory), so two members with equal seeds start equal and
    ``MLPEncoder(seed=s)`` is the member of seed s. Dropout masks come from one generator
    (``mask_generator``, seeded with ``mask_seed``; default ``seeds[0] + 1``), drawn
    independently for every member; in eval mode dropout is off.

    Input (B, D) (the same inputs for every member) or (E, B, D) -> output (E, B, d).
    Summing the members' losses trains them independently: each parameter tensor's slice e
    only receives member e's gradient, and Adam acts elementwise.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        seeds: Sequence[int],
        width: int = 128,
        depth: int = 2,
        dropout: float = 0.1,
        layer_norm: bool = False,
        normalize: bool = False,
        mask_seed: int | None = None,
        init_scale: float = 1.0,
        device=None,
    ):
        super().__init__()
        check_positive_int("in_dim", in_dim)
        check_positive_int("out_dim", out_dim)
        check_positive_int("width", width)
        check_nonneg_int("depth", depth)
        check_probability("dropout", dropout, open_right=True)
        check_positive("init_scale", init_scale)
        seeds = [check_nonneg_int("seed", s) for s in seeds]
        if not seeds:
            raise ValueError("seeds must name at least one member")
        device = resolve_device(device)
        self.members, self.in_dim, self.out_dim = len(seeds), in_dim, out_dim
        self.layer_norm, self.normalize = bool(layer_norm), bool(normalize)
        self.mask_generator = torch_generator(seeds[0] + 1 if mask_seed is None else check_nonneg_int("mask_seed", mask_seed), device)
        self.drop = SeededDropout(dropout, self.mask_generator)
        sizes = [in_dim] + [width] * depth + [out_dim]
        weights, biases = zip(*(self._init_member(s, sizes, init_scale) for s in seeds))
        self.weights = nn.ParameterList(nn.Parameter(torch.stack(w).to(device)) for w in zip(*weights))  # (E, fan_in, fan_out)
        self.biases = nn.ParameterList(nn.Parameter(torch.stack(b).to(device)) for b in zip(*biases))  # (E, 1, fan_out)
        if self.layer_norm:
            self.norm_gains = nn.ParameterList(nn.Parameter(torch.ones(self.members, 1, width, device=device)) for _ in range(depth))
            self.norm_biases = nn.ParameterList(nn.Parameter(torch.zeros(self.members, 1, width, device=device)) for _ in range(depth))

    @staticmethod
    def _init_member(seed: int, sizes: list[int], init_scale: float) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        generator = torch_generator(seed)
        weights, biases = [], []
        for fan_in, fan_out in zip(sizes, sizes[1:]):
            bound = init_scale / math.sqrt(fan_in)
            weights.append((2 * torch.rand(fan_in, fan_out, generator=generator) - 1) * bound)
            biases.append((2 * torch.rand(1, fan_out, generator=generator) - 1) * bound)
        return weights, biases

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.members, -1, -1)
        if x.dim() != 3 or x.shape[0] != self.members or x.shape[2] != self.in_dim:
            raise ValueError(f"inputs must have shape (B, {self.in_dim}) or ({self.members}, B, {self.in_dim}), got {tuple(x.shape)}")
        h = self.drop(x)
        last = len(self.weights) - 1
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(bias, h, weight)
            if layer < last:
                if self.layer_norm:
                    h = F.layer_norm(h, h.shape[-1:]) * self.norm_gains[layer] + self.norm_biases[layer]
                h = self.drop(torch.relu(h))
        return F.normalize(h, dim=-1) if self.normalize else h


class MLPEncoder(EnsembleMLP):
    """One MLP f: R^D -> R^d (an :class:`EnsembleMLP` of the single member ``seed``):
    input (B, D) -> output (B, d). Dropout masks come from a generator seeded with
    ``seed + 1``; in eval mode (``.eval()``) dropout is off: that is the "dropout-off" pass.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        width: int = 128,
        depth: int = 2,
        dropout: float = 0.1,
        layer_norm: bool = False,
        normalize: bool = False,
        seed: int = 0,
        device=None,
    ):
        check_nonneg_int("seed", seed)
        super().__init__(in_dim, out_dim, [seed], width=width, depth=depth, dropout=dropout, layer_norm=layer_norm, normalize=normalize, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise ValueError(f"inputs must have shape (B, {self.in_dim}), got {tuple(x.shape)}")
        return super().forward(x)[0]


@contextmanager
def modes(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """``model.train(training)`` for the block; on exit every submodule gets back its own
    train/eval flag (also a model whose submodules were in mixed modes), also when the block raises."""
    saved = [(module, module.training) for module in model.modules()]
    try:
        model.train(training)
        yield model
    finally:
        for module, flag in saved:
            module.training = flag


def dropout_pair(encoder: nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The augmentation of this setting: two training-mode passes (independent masks).

    Every submodule's train/eval flag is restored afterwards (:func:`modes`).
    """
    with modes(encoder, True):
        return encoder(inputs), encoder(inputs)


@torch.no_grad()
def embed(encoder: nn.Module, inputs: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Dropout-off embeddings f(x) in eval mode, without gradient; flags restored (:func:`modes`).

    inputs (N, D) or (E, N, D); chunks of ``batch_size`` rows along N are concatenated."""
    check_positive_int("batch_size", batch_size)
    with modes(encoder, False):
        chunks = [encoder(inputs[..., i : i + batch_size, :]) for i in range(0, inputs.shape[-2], batch_size)]
        return torch.cat(chunks, dim=-2)
