"""Function classes producing hypercube representations g = sign(score), score: view -> R^d.

Every class is an *ensemble* of E independent members held in batched weight tensors, so a
sweep of seeds or settings trains in one pass; E = 1 is a single model. Inputs are view
indices (the data are finite), outputs scores of shape (E, B, d).

    band-limited     linear in fourier_features (capacity: bandwidth B)
    random-features  linear in random Fourier features of the observation (num_features, bandwidth)
    linear           linear in the observation
    mlp              ReLU MLP on the observation with width/depth and a Lipschitz bound L: every
                     layer's spectral norm is capped at L^(1/(depth+1)) (exact, per member)
    lookup           unrestricted: one free score vector per view (the Theorem 4.7 class)
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from torch import nn

from ..config import check_in, check_nonneg, check_nonneg_int, check_positive, check_positive_int
from ..data.views import ViewDataset
from ..utils import torch_generator
from .features import fourier_features, linear_features, random_features

CLASS_NAMES = ("band-limited", "random-features", "linear", "mlp", "lookup")


def hard_codes(scores: torch.Tensor) -> torch.Tensor:
    """sign(score) with sign(0) = +1, so every view lands on a vertex of {-1, 1}^d."""
    return torch.where(scores >= 0, 1.0, -1.0).to(scores.dtype)


class ScoreModel(nn.Module):
    """Base: ``forward(view_idx (E, B) or (B,)) -> scores (E, B, d)``; ``scores()`` on all views."""

    ensemble: int
    dim: int
    num_views: int

    def scores(self) -> torch.Tensor:
        """(E, V, d) scores of every view."""
        idx = torch.arange(self.num_views, device=self._device())
        return self.forward(idx.expand(self.ensemble, -1))

    @torch.no_grad()
    def codes(self) -> torch.Tensor:
        """(E, V, d) hard codes in {-1, 1} of every view (evaluation always uses hard signs)."""
        return hard_codes(self.scores())

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    @staticmethod
    def _as_ensemble_index(view_idx: torch.Tensor, ensemble: int) -> torch.Tensor:
        if view_idx.dim() == 1:
            return view_idx.expand(ensemble, -1)
        if view_idx.dim() != 2 or view_idx.shape[0] != ensemble:
            raise ValueError(f"view_idx must have shape (B,) or (E={ensemble}, B), got {tuple(view_idx.shape)}")
        return view_idx


def _member_normal(shape: tuple[int, ...], seeds: list[int], scale: float, device) -> torch.Tensor:
    """Stack one N(0, scale^2) tensor per member, each from its own seed (so a member of an
    ensemble starts exactly where the same seed alone would)."""
    return torch.stack([torch.randn(shape, generator=torch_generator(s)) * scale for s in seeds]).to(device)


class LinearScore(ScoreModel):
    """score_e(v) = phi(v) W_e with fixed features phi (V, p) and weights W (E, p, d)."""

    def __init__(self, features: np.ndarray, dim: int, seeds: list[int], init_scale: float = 0.1, device="cpu"):
        super().__init__()
        self.ensemble, self.dim, self.num_views = len(seeds), check_positive_int("dim", dim), features.shape[0]
        phi = torch.as_tensor(features, dtype=torch.float32)
        self.register_buffer("features", phi.to(device))
        self.weight = nn.Parameter(_member_normal((phi.shape[1], dim), seeds, init_scale, device))

    def forward(self, view_idx: torch.Tensor) -> torch.Tensor:
        idx = self._as_ensemble_index(view_idx, self.ensemble)
        return torch.bmm(self.features[idx], self.weight)


class LookupScore(ScoreModel):
    """Unrestricted class: score_e(v) = T_e[v], a free table (E, V, d)."""

    def __init__(self, num_views: int, dim: int, seeds: list[int], init_scale: float = 0.1, device="cpu"):
        super().__init__()
        self.ensemble, self.dim, self.num_views = len(seeds), check_positive_int("dim", dim), num_views
        self.table = nn.Parameter(_member_normal((num_views, dim), seeds, init_scale, device))

    def forward(self, view_idx: torch.Tensor) -> torch.Tensor:
        idx = self._as_ensemble_index(view_idx, self.ensemble)
        return torch.gather(self.table, 1, idx[..., None].expand(-1, -1, self.dim))


class MLPScore(ScoreModel):
    """score_e(x) = W_out relu(... relu(W_1 x + b_1) ...) + b_out with spectral norms capped.

    With ``lipschitz = L`` each of the depth + 1 weight matrices is rescaled on the fly to
    spectral norm <= L^(1/(depth+1)), so every member is L-Lipschitz in the observation
    (ReLU is 1-Lipschitz). ``lipschitz = None`` leaves the MLP unconstrained.
    """

    def __init__(self, obs: np.ndarray, dim: int, seeds: list[int], width: int = 32, depth: int = 2, lipschitz: float | None = None, device="cpu"):
        super().__init__()
        self.ensemble, self.dim, self.num_views = len(seeds), check_positive_int("dim", dim), obs.shape[0]
        check_positive_int("width", width)
        check_positive_int("depth", depth)
        self.lipschitz = None if lipschitz is None else check_positive("lipschitz", lipschitz)
        self.register_buffer("obs", torch.as_tensor(obs, dtype=torch.float32).to(device))
        sizes = [obs.shape[1]] + [width] * depth + [dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layer_seeds = [s * 7919 + layer for s in seeds]
            self.weights.append(nn.Parameter(_member_normal((fan_in, fan_out), layer_seeds, (2.0 / fan_in) ** 0.5, device)))
            self.biases.append(nn.Parameter(torch.zeros(self.ensemble, 1, fan_out, device=device)))

    def _capped(self, weight: torch.Tensor) -> torch.Tensor:
        if self.lipschitz is None:
            return weight
        cap = self.lipschitz ** (1.0 / len(self.weights))
        norms = torch.linalg.matrix_norm(weight, ord=2)  # (E,) exact largest singular values
        return weight / torch.clamp(norms / cap, min=1.0)[:, None, None]

    def forward(self, view_idx: torch.Tensor) -> torch.Tensor:
        h = self.obs[self._as_ensemble_index(view_idx, self.ensemble)]
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(bias, h, self._capped(weight))
            if layer < len(self.weights) - 1:
                h = torch.relu(h)
        return h


def make_function_class(
    name: str,
    data: ViewDataset,
    dim: int,
    seeds: list[int] | int = 0,
    device="cpu",
    bandwidth: float = 1,
    num_features: int = 64,
    width: int = 32,
    depth: int = 2,
    lipschitz: float | None = None,
    init_scale: float = 0.1,
    feature_seed: int = 0,
) -> ScoreModel:
    """Build an ensemble of one function class on ``data``; one member per seed.

    Capacity arguments used per class: band-limited -> bandwidth (int B); random-features ->
    num_features, bandwidth (float) and feature_seed (the random feature map is part of the
    class, shared by every member); mlp -> width, depth, lipschitz; linear, lookup -> none.
    """
    check_in("name", name, CLASS_NAMES)
    check_positive_int("dim", dim)
    seeds = [seeds] if isinstance(seeds, Integral) else list(seeds)
    if not seeds:
        raise ValueError("seeds must name at least one ensemble member")
    seeds = [check_nonneg_int("seeds", s) for s in seeds]
    # every capacity argument is checked whichever class uses it, so a bad value never passes silently
    check_nonneg("bandwidth", bandwidth)
    check_positive_int("num_features", num_features)
    check_positive_int("width", width)
    check_positive_int("depth", depth)
    if lipschitz is not None:
        check_positive("lipschitz", lipschitz)
    check_nonneg_int("feature_seed", feature_seed)
    check_positive("init_scale", init_scale)  # 0 starts every code at z = 0, where the gradient vanishes exactly
    if name == "band-limited":
        return LinearScore(fourier_features(data, check_nonneg_int("bandwidth", bandwidth)), dim, seeds, init_scale, device)
    if name == "random-features":
        return LinearScore(random_features(data, num_features, bandwidth, seed=feature_seed), dim, seeds, init_scale, device)
    if name == "linear":
        return LinearScore(linear_features(data), dim, seeds, init_scale, device)
    if name == "mlp":
        return MLPScore(data.obs, dim, seeds, width, depth, lipschitz, device)
    return LookupScore(data.num_views, dim, seeds, init_scale, device)
