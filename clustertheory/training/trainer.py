"""Minimise the paper's InfoNCE over an ensemble of hypercube representations.

Relaxation: during training a code is z = tanh(beta_t * score) rescaled to norm sqrt(d) (see
:func:`relax`; or the straight-through sign), with beta_t annealed geometrically from
``anneal_start`` to ``anneal_end`` so that z approaches the hard code sign(score) used at
evaluation. The loss per anchor is the theorem's

    log(1 + sum_{i<=l} exp(beta z.(z_i - z+)))          (clustertheory.losses.hypercube_infonce)

with l i.i.d. natural-image negatives (or in-batch negatives: ``negative_mode``). Every
ensemble member draws its own batches and has its own parameters; their losses are summed, so
gradients (and Adam's per-coordinate state) never mix between members. The loop itself is
:func:`clustertheory.training.batched.train_batched`; :func:`train` is its one-config case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..config import Integer, OneOf, Real, Settings, setting
from ..data.sampling import NEGATIVE_MODES
from ..data.views import ViewDataset
from ..functions.classes import ScoreModel, hard_codes
from .fitting import OPTIMIZERS

RELAXATIONS = ("tanh", "ste")


@dataclass(frozen=True)
class TrainConfig(Settings):
    """Optimisation settings (defaults reach the Theorem 4.5 minimiser on small combs). The
    sharpness beta_t of the relaxation tanh(beta_t * score) is annealed geometrically from
    ``anneal_start`` to ``anneal_end``."""

    steps: int = setting(400, Integer(1), "gradient steps")
    batch_size: int = setting(128, Integer(1), "anchors per step and member")
    num_negatives: int = setting(16, Integer(1), 'l, negatives per anchor (negative_mode="iid")')
    beta: float = setting(2.0, Real(0, open_lo=True), "inverse temperature of the loss on codes")
    lr: float = setting(0.05, Real(0, open_lo=True), "learning rate")
    optimizer: str = setting("adam", OneOf(*OPTIMIZERS), "adam or sgd")
    relaxation: str = setting("tanh", OneOf(*RELAXATIONS), "tanh (smooth, annealed) or ste (straight-through sign)")
    anneal_start: float = setting(1.0, Real(0, open_lo=True), "sharpness of tanh(beta_t * score) at the first step")
    anneal_end: float = setting(30.0, Real(0, open_lo=True), "sharpness at the last step (geometric in between)")
    negative_mode: str = setting("iid", OneOf(*NEGATIVE_MODES), "iid (the theorem: l i.i.d. natural images) or in-batch (the other anchors)")
    log_every: int = setting(50, Integer(1), "evaluate hard codes every this many steps")

    def validate(self) -> None:
        if self.negative_mode == "in-batch" and self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 for in-batch negatives, got {self.batch_size}")

    def sharpness(self, step: int) -> float:
        """beta_t = anneal_start * (anneal_end / anneal_start)^(step / steps)."""
        return self.anneal_start * (self.anneal_end / self.anneal_start) ** (step / self.steps)


@dataclass
class TrainResult:
    """codes: (E, V, d) int8 hard codes after training; history: rows per logged step and member."""

    codes: np.ndarray
    history: list[dict] = field(default_factory=list)


def relax(scores: torch.Tensor, sharpness: float, relaxation: str) -> torch.Tensor:
    """Differentiable stand-in for the hard code sign(score); scores (..., d) -> codes (..., d).

    "tanh": z = sqrt(d) u / ||u||, u = tanh(sharpness * score). The rescaling keeps ||z||^2 = d,
    as for every hard code: without it a code moving between vertices shrinks through the
    interior of the cube, its own alignment z.z+ drops, and that barrier traps clusters that
    share a vertex (non-uniform local minima; seen on 8 clusters in d = 3). As sharpness grows
    z tends to the vertex sign(score).
    "ste": the hard code forward, the gradient of the "tanh" code backward (straight-through).
    """
    soft = torch.tanh(sharpness * scores)
    soft = soft * (scores.shape[-1] ** 0.5) / soft.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    if relaxation == "tanh":
        return soft
    return soft + (hard_codes(scores) - soft).detach()


def default_evaluator(data: ViewDataset) -> Callable[[np.ndarray], list[dict]]:
    """Alignment error and minimum cluster purity of each member's hard codes."""
    from ..analysis.metrics import alignment_error, cluster_purity

    def evaluate(codes: np.ndarray) -> list[dict]:
        return [{"alignment_error": float(alignment_error(c, data)), "min_purity": float(np.min(cluster_purity(c, data)))} for c in codes]

    return evaluate


def train(
    model: ScoreModel,
    data: ViewDataset,
    config: TrainConfig = TrainConfig(),
    seed: int = 0,
    progress: bool = False,
    evaluate: Callable[[np.ndarray], list[dict]] | None = None,
    on_log: Callable[[int, ScoreModel, float], None] | None = None,
) -> TrainResult:
    """Train every member of ``model`` on ``data`` with ``config``; return hard codes and a history.

    The one-dataset, one-config case of :func:`clustertheory.training.batched.train_batched`
    (the package's one training loop): members differ only in their initial weights and
    draw independent batches. The history holds, every ``log_every`` steps and at the end,
    one row per member with the step, its mean training loss since the last log, and what
    ``evaluate`` reports on its hard codes (default: alignment error and minimum cluster
    purity). ``on_log(step, model, sharpness)``, if given, is called at the same moments
    (e.g. to record relaxed codes for an animation); it must not change the model.
    """
    # imported here: batched builds on this module's TrainConfig, TrainResult and relax
    from .batched import train_batched

    return train_batched(model, data, config, seed=seed, progress=progress, evaluate=evaluate, on_log=on_log)
