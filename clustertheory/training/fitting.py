"""One small fitting loop for the real-valued embedding simulations.

The hypercube simulations train with :mod:`clustertheory.training.trainer` (relaxed codes,
batched ensembles). The embedding simulations (SimCSE++, hard negatives, class collapse and
feature suppression with networks) minimise a loss over a module's parameters with Adam or
SGD and take measurements at a few checkpoints; :func:`fit` is that loop, once:

    for step = 1..steps:  loss = loss_fn(step); zero_grad; loss.backward(); optimiser.step()

with ``on_checkpoint(step)`` called at every step listed in ``checkpoints`` (step 0: before
the first update) and its rows collected, each row carrying ``step`` and the mean training
loss since the previous checkpoint (``train_loss``; nan at step 0).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..config import Integer, OneOf, Real, Settings, setting

OPTIMIZERS = ("adam", "sgd")  # every trainer's choice (FitConfig, TrainConfig)


@dataclass(frozen=True)
class FitConfig(Settings):
    """Optimisation settings of an embedding simulation."""

    steps: int = setting(300, Integer(1), "parameter updates")
    lr: float = setting(1e-3, Real(0, open_lo=True), "learning rate")
    optimizer: str = setting("adam", OneOf(*OPTIMIZERS), "adam or sgd")
    weight_decay: float = setting(0.0, Real(0), "L2 penalty of the optimiser")
    batch_size: int = setting(256, Integer(1), "examples per step, for the simulation's sampler")


def make_optimizer(parameters: Iterable[torch.Tensor], config: FitConfig) -> torch.optim.Optimizer:
    """The optimiser ``config`` names, over ``parameters``."""
    params = list(parameters)
    if not params:
        raise ValueError("parameters must hold at least one tensor to fit")
    return torch_optimizer(config.optimizer, params, config.lr, config.weight_decay)


def torch_optimizer(name: str, params: list[torch.Tensor], lr: float, weight_decay: float = 0) -> torch.optim.Optimizer:
    """torch's Adam (``name`` "adam") or SGD (any other of OPTIMIZERS) over ``params``."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)


def fit(
    parameters: nn.Module | Iterable[torch.Tensor],
    loss_fn: Callable[[int], torch.Tensor],
    config: FitConfig,
    checkpoints: Sequence[int] = (),
    on_checkpoint: Callable[[int], dict | list[dict] | None] | None = None,
    progress: Callable[..., Iterable] | None = None,
) -> list[dict]:
    """Minimise ``loss_fn(step)`` (a scalar tensor) over ``parameters`` for ``config.steps`` steps.

    checkpoints    steps in [0, steps] at which ``on_checkpoint(step)`` is called (after that
                   step's update; 0 = at the start); duplicates are ignored
    on_checkpoint  returns a row, a list of rows or None; each row gets ``step`` and
                   ``train_loss`` (mean loss of the steps since the previous checkpoint)
    progress       a tqdm-like wrapper (e.g. ``RunContext.progress``), or None

    Returns the collected rows in step order. A non-finite loss raises ValueError naming the
    step, instead of silently training on nan.
    """
    params = list(parameters.parameters()) if isinstance(parameters, nn.Module) else list(parameters)
    marks = sorted(set(int(s) for s in checkpoints))
    if any(not 0 <= s <= config.steps for s in marks):
        raise ValueError(f"checkpoints must lie in [0, steps = {config.steps}], got {marks}")
    optimiser = make_optimizer(params, config)
    rows: list[dict] = []
    running, count = 0.0, 0

    def record(step: int) -> None:
        nonlocal running, count
        if on_checkpoint is None:
            return
        produced = on_checkpoint(step)
        produced = [] if produced is None else ([produced] if isinstance(produced, dict) else produced)
        mean_loss = running / count if count else float("nan")
        rows.extend({"step": step, "train_loss": mean_loss, **row} for row in produced)
        running, count = 0.0, 0

    if 0 in marks:
        record(0)
    steps = range(1, config.steps + 1)
    for step in progress(steps, desc="fit", total=config.steps) if progress else steps:
        loss = loss_fn(step)
        value = float(loss.detach())
        if not torch.isfinite(loss.detach()):
            raise ValueError(f"the loss is not finite at step {step} ({value}); lower lr or check the inputs")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        running, count = running + value, count + 1
        if step in marks:
            record(step)
    return rows


def fit_regression(encoder: nn.Module, x: torch.Tensor, targets: torch.Tensor, config: FitConfig, generator: torch.Generator) -> list[dict]:
    """Regress an ensemble of E members onto targets in training mode (dropout on), with :func:`fit`:

        loss(step) = sum_e (1/B) sum_b || f_e(x[e, i_eb]) - targets[e, i_eb] ||^2,
        i_eb ~ U{0..N-1} i.i.d. (with replacement), B = config.batch_size, drawn from ``generator``

    x (E, N, D), targets (E, N, d), on the generator's device; ``encoder`` maps (E, B, D) to (E, B, d).
    Each member sees its own rows. Returns what :func:`fit` returns (no checkpoints: [])."""
    if x.dim() != 3 or targets.dim() != 3 or x.shape[:2] != targets.shape[:2]:
        raise ValueError(f"x (E, N, D) and targets (E, N, d) must agree in E and N, got {tuple(x.shape)} and {tuple(targets.shape)}")
    members = torch.arange(x.shape[0], device=x.device)[:, None]

    def loss(step: int) -> torch.Tensor:
        index = torch.randint(x.shape[1], (x.shape[0], config.batch_size), generator=generator, device=x.device)
        return (encoder.train()(x[members, index]) - targets[members, index]).pow(2).sum(-1).mean(-1).sum()

    return fit(encoder, loss, config)
