"""Real-valued encoders for the embedding simulations (SimCSE++, hard negatives).

    SeededDropout  inverted dropout with masks from a seeded torch.Generator
    MLPEncoder     f: R^D -> R^d, an MLP with (seeded) dropout, optionally onto the unit sphere
    dropout_pair   the dropout augmentation: two training-mode passes of one encoder
    embed          dropout-off embeddings (eval mode, no gradient)

Hypercube representations g = sign(score) live in :mod:`clustertheory.functions.classes`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import check_nonneg_int, check_positive_int, check_probability
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


class MLPEncoder(nn.Module):
    """f: R^D -> R^d, an MLP with dropout on its input and after every hidden activation.

        h_0 = drop(x),  h_l = drop(relu(h_{l-1} W_l + b_l)) (l = 1..depth),  f(x) = h_depth W_out + b_out

    and f(x)/||f(x)|| when ``normalize``. Weights are initialised from ``seed`` (PyTorch's
    default Linear law); dropout masks come from a generator seeded with ``seed + 1``.
    In eval mode (``.eval()``) dropout is off: that is the "dropout-off" pass.
    Input (B, D) -> output (B, d). ``mask_generator`` is the generator of every dropout
    mask (save and restore its state to take measurements without shifting the stream).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        width: int = 128,
        depth: int = 2,
        dropout: float = 0.1,
        normalize: bool = False,
        seed: int = 0,
        device=None,
    ):
        super().__init__()
        check_positive_int("in_dim", in_dim)
        check_positive_int("out_dim", out_dim)
        check_positive_int("width", width)
        check_positive_int("depth", depth)
        check_probability("dropout", dropout, open_right=True)
        check_nonneg_int("seed", seed)
        device = resolve_device(device)
        self.normalize = bool(normalize)
        self.mask_generator = mask_generator = torch_generator(seed + 1, device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # Linear layers draw from the global stream; isolate it
            layers: list[nn.Module] = [SeededDropout(dropout, mask_generator)]
            width_in = in_dim
            for _ in range(depth):
                layers += [nn.Linear(width_in, width), nn.ReLU(), SeededDropout(dropout, mask_generator)]
                width_in = width
            layers.append(nn.Linear(width_in, out_dim))
        self.net = nn.Sequential(*layers).to(device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x)
        return F.normalize(z, dim=-1) if self.normalize else z


def dropout_pair(encoder: nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The augmentation of this setting: two training-mode passes, (B, d) each.

    The encoder's train/eval flag is restored afterwards.
    """
    was_training = encoder.training
    encoder.train()
    try:
        return encoder(inputs), encoder(inputs)
    finally:
        encoder.train(was_training)


@torch.no_grad()
def embed(encoder: nn.Module, inputs: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Dropout-off embeddings f(x) (N, d) in eval mode, without gradient; flag restored."""
    check_positive_int("batch_size", batch_size)
    was_training = encoder.training
    encoder.eval()
    try:
        return torch.cat([encoder(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)])
    finally:
        encoder.train(was_training)
