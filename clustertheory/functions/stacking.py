"""One ensemble model from many: members of one class shape stacked into shared batched weights
(:func:`stack_models`), members that cannot share weights side by side
(:class:`ConcatenatedScores`); :func:`combine_models` picks. The batched trainer
(:mod:`clustertheory.training.batched`) and the delta adversary
(:mod:`clustertheory.analysis.regularity`) train such an ensemble in one pass.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .classes import LinearScore, ScoreModel


class MemberLinearScore(ScoreModel):
    """score_e(v) = phi_e(v) W_e with a feature map per member.

    features (E, V, p) buffer (e.g. member e's features computed on its own dataset),
    weight (E, p, d) parameter. Used by :func:`stack_models` when linear-in-features
    members do not share one feature table.
    """

    def __init__(self, features: torch.Tensor, weight: torch.Tensor):
        super().__init__()
        if features.dim() != 3 or weight.dim() != 3 or features.shape[0] != weight.shape[0] or features.shape[2] != weight.shape[1]:
            raise ValueError(f"features must be (E, V, p) and weight (E, p, d), got {tuple(features.shape)} and {tuple(weight.shape)}")
        self.ensemble, self.num_views, self.dim = features.shape[0], features.shape[1], weight.shape[2]
        self.register_buffer("features", features)
        self.weight = nn.Parameter(weight)

    def forward(self, view_idx: torch.Tensor) -> torch.Tensor:
        idx = self._as_ensemble_index(view_idx, self.ensemble)
        member = torch.arange(self.ensemble, device=idx.device)[:, None]
        return torch.bmm(self.features[member, idx], self.weight)


def _member_features(model: ScoreModel) -> torch.Tensor:
    """(E, V, p) feature table of a linear-in-features model."""
    if isinstance(model, MemberLinearScore):
        return model.features
    return model.features.expand(model.ensemble, -1, -1)


def _set_parameter(module: nn.Module, name: str, value: torch.Tensor) -> None:
    owner, _, leaf = name.rpartition(".")
    setattr(module.get_submodule(owner) if owner else module, leaf, nn.Parameter(value))


def _linear(model: ScoreModel) -> bool:
    return isinstance(model, (LinearScore, MemberLinearScore))


def _stack_problem(first: ScoreModel, other: ScoreModel) -> str | None:
    """Why ``other``'s members cannot join ``first``'s weight tensors (None when they can)."""
    if type(other) is not type(first) and not (_linear(first) and _linear(other)):
        return f"models must be of one class, got {type(first).__name__} and {type(other).__name__}"
    if (other.dim, other.num_views) != (first.dim, first.num_views):
        return f"models must share dim and num_views, got {(first.dim, first.num_views)} and {(other.dim, other.num_views)}"
    if getattr(other, "lipschitz", None) != getattr(first, "lipschitz", None):
        return "models must share their lipschitz bound to be stacked"
    shapes = [(n, tuple(p.shape[1:])) for n, p in other.named_parameters()]
    if shapes != [(n, tuple(p.shape[1:])) for n, p in first.named_parameters()]:
        return "models must have parameters of the same shapes (same width, depth, features) to be stacked"
    if _linear(first):
        return None
    buffers = dict(other.named_buffers())
    if not all(torch.equal(b, buffers[n]) for n, b in first.named_buffers()):
        return f"{type(first).__name__} models must share their fixed inputs (observations) to be stacked"
    return None


def stack_models(models: Sequence[ScoreModel]) -> ScoreModel:
    """One ensemble whose members are those of ``models``, in order, in shared weight tensors.

    Every member keeps its weights exactly, so member e starts where it would alone. The
    models must be of one class with the same dim, view count and hyper-parameters (else
    ValueError saying what differs; :func:`combine_models` accepts any mix). Fixed inputs
    (observations) must be equal, except for linear-in-features classes, whose members may
    carry different feature tables (then the result is a :class:`MemberLinearScore`).
    """
    models = list(models)
    if not models:
        raise ValueError("models must hold at least one model")
    if len(models) == 1:
        return models[0]
    first = models[0]
    for m in models[1:]:
        problem = _stack_problem(first, m)
        if problem:
            raise ValueError(problem)
    weights = {n: torch.cat([dict(m.named_parameters())[n].detach() for m in models]) for n, _ in first.named_parameters()}
    shared = all(type(m) is type(first) for m in models) and all(
        torch.equal(b, dict(m.named_buffers())[n]) for m in models[1:] for n, b in first.named_buffers()
    )
    if not shared:
        return MemberLinearScore(torch.cat([_member_features(m) for m in models]), weights["weight"])
    stacked = copy.deepcopy(first)
    for name, value in weights.items():
        _set_parameter(stacked, name, value)
    stacked.ensemble = sum(m.ensemble for m in models)
    return stacked


class ConcatenatedScores(ScoreModel):
    """Ensembles of any classes and shapes side by side: E = sum of their members.

    Part k scores its own members exactly as it would alone (``forward`` hands each part its
    rows of ``view_idx``). Parts may differ in view count: ``scores()`` pads a part's missing
    views with zero scores up to V = max view count, and ``member_views[e]`` is member e's
    own count (views beyond it are never sampled when member e trains on its own dataset).
    Built by :func:`combine_models` when members cannot share weight tensors (different
    bandwidths, widths or view counts).
    """

    def __init__(self, parts: Sequence[ScoreModel]):
        super().__init__()
        dims = sorted({p.dim for p in parts})
        if len(dims) != 1:
            raise ValueError(f"parts must share the code dimension d, got {dims}")
        self.parts = nn.ModuleList(parts)
        self.ensemble, self.dim, self.num_views = sum(p.ensemble for p in parts), dims[0], max(p.num_views for p in parts)
        self.member_views = [p.num_views for p in parts for _ in range(p.ensemble)]
        ends = np.cumsum([p.ensemble for p in parts]).tolist()
        self._spans = list(zip([0] + ends[:-1], ends))

    def forward(self, view_idx: torch.Tensor) -> torch.Tensor:
        idx = self._as_ensemble_index(view_idx, self.ensemble)
        return torch.cat([part(idx[a:b]) for part, (a, b) in zip(self.parts, self._spans)])

    def scores(self) -> torch.Tensor:
        """(E, V, d): each part's scores of its own views, zeros for views it does not have."""
        return torch.cat([nn.functional.pad(part.scores(), (0, 0, 0, self.num_views - part.num_views)) for part in self.parts])


def combine_models(models: Sequence[ScoreModel]) -> ScoreModel:
    """One ensemble of all members of ``models``, in order, batched as far as shapes allow.

    Consecutive models that can share weight tensors are stacked (:func:`stack_models`: one
    batched matrix product for all of them); runs that cannot are placed side by side in a
    :class:`ConcatenatedScores` (one small product per run, everything else of a training
    step still batched).
    """
    runs: list[list[ScoreModel]] = []
    for model in models:
        if runs and _stack_problem(runs[-1][0], model) is None:
            runs[-1].append(model)
        else:
            runs.append([model])
    if not runs:
        raise ValueError("models must hold at least one model")
    parts = [stack_models(run) for run in runs]
    return parts[0] if len(parts) == 1 else ConcatenatedScores(parts)


def member_views(model: ScoreModel) -> list[int]:
    """Member e's own view count (a :class:`ConcatenatedScores` pads shorter members)."""
    return list(getattr(model, "member_views", [model.num_views] * model.ensemble))
