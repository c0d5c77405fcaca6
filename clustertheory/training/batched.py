"""Train many independent models in one pass: seeds x configurations x function classes.

A batch is one ensemble model of E members trained with per-member data and settings:

    model     one ensemble: members of one class shape share weight tensors (every function
              class holds batched weights (E, ...); ``functions.stacking.stack_models``), members
              of different classes or shapes sit side by side (``ConcatenatedScores``;
              ``combine_models`` picks), each scoring only its own views
    data      one ViewDataset shared by every member, or one per member (view counts may
              differ between members of different shapes)
    configs   one TrainConfig, or one per member. Members may differ in the fields of
              :data:`MEMBER_FIELDS` (``beta``, ``lr``, ``num_negatives`` - l, for iid negatives -,
              ``anneal_start``, ``anneal_end``); they must agree on the fields that fix the shape
              of the pass (:data:`SHAPE_FIELDS`). Every TrainConfig field is in exactly one.

Why each member trains exactly as it would alone: the loss is a sum over members, member e's
term depends only on its own parameters, batches and settings, and both optimisers act
coordinate-wise, so no gradient or optimiser state crosses members. Member e starts from the
weights a single model with its seed would have, draws batches from its own data with the
law ``PairSampler`` uses, sees its own l negatives (the first l of a shared draw of max(l)
i.i.d. negatives; the rest are masked out of its loss) and its own beta, sharpness schedule
and learning rate. With one dataset and uniform settings the pass uses the single-model
sampler stream and torch's own optimiser; ``train()`` is exactly that case.
``train_members`` builds and trains a list of :class:`Member` s in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..config import check_nonneg_int
from ..data.sampling import MemberPairSampler, PairSampler
from ..data.views import ViewDataset
from ..functions.classes import ScoreModel, make_function_class
from ..functions.stacking import ConcatenatedScores, combine_models, member_views
from ..losses import hypercube_infonce
from ..utils import seed_everything
from .fitting import torch_optimizer
from .trainer import TrainConfig, TrainResult, default_evaluator, relax

SHAPE_FIELDS = ("steps", "batch_size", "negative_mode", "optimizer", "relaxation", "log_every")
MEMBER_FIELDS = ("beta", "lr", "num_negatives", "anneal_start", "anneal_end")


# ----------------------------------------------------------------------------- optimisers


def _broadcast_rates(params: list[torch.Tensor], lr) -> list[torch.Tensor]:
    rates = [lr] * len(params) if torch.is_tensor(lr) else list(lr)
    if len(rates) != len(params) or any(r.numel() != p.shape[0] for r, p in zip(rates, params)):
        raise ValueError("lr must hold one learning rate per member of every parameter (its first dimension)")
    return [r.to(p.dtype).view(-1, *([1] * (p.dim() - 1))) for r, p in zip(rates, params)]


def member_parameters(model: ScoreModel) -> list[tuple[torch.Tensor, int, int]]:
    """(parameter, first member, end member) for every parameter: each parameter holds the
    members [first, end) of the ensemble along its first dimension."""
    if isinstance(model, ConcatenatedScores):
        return [(p, a, b) for part, (a, b) in zip(model.parts, model._spans) for p in part.parameters()]
    return [(p, 0, model.ensemble) for p in model.parameters()]


class MemberAdam:
    """Adam with one learning rate per ensemble member (parameters are (E, ...) tensors).

        m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
        p <- p - lr_e / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    torch.optim.Adam's update (no weight decay) with lr_e broadcast over member e's slice.
    ``lr``: one (E,) tensor for every parameter, or one tensor per parameter (the learning
    rates of the members that parameter holds).
    """

    def __init__(self, params: Sequence[torch.Tensor], lr, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params, self.betas, self.eps, self.t = list(params), betas, eps, 0
        self.lr = _broadcast_rates(self.params, lr)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        correction1, correction2_sqrt = 1 - b1**self.t, (1 - b2**self.t) ** 0.5
        for p, lr, m, v in zip(self.params, self.lr, self.exp_avg, self.exp_avg_sq):
            if p.grad is None:
                continue
            m.lerp_(p.grad, 1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            denom = (v.sqrt() / correction2_sqrt).add_(self.eps)
            p.sub_((lr / correction1) * m / denom)


class MemberSGD:
    """Plain SGD with one learning rate per member: p <- p - lr_e g (``lr`` as for MemberAdam)."""

    def __init__(self, params: Sequence[torch.Tensor], lr):
        self.params = list(params)
        self.lr = _broadcast_rates(self.params, lr)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for p, lr in zip(self.params, self.lr):
            if p.grad is not None:
                p.sub_(lr * p.grad)


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class MemberSettings:
    """The per-member part of E TrainConfigs, as floats when uniform and tensors otherwise.

    beta: float or (E,); lr: float or (E,); anneal: (start, end) floats or (E,) tensors;
    num_negatives: K = max l_e drawn per anchor; active: (E, K) mask or None when every
    member uses all K.
    """

    shape: TrainConfig
    beta: float | torch.Tensor
    lr: float | torch.Tensor
    anneal_start: float | torch.Tensor
    anneal_end: float | torch.Tensor
    num_negatives: int
    active: torch.Tensor | None

    @classmethod
    def from_configs(cls, configs: Sequence[TrainConfig], device) -> MemberSettings:
        first = configs[0]
        for e, c in enumerate(configs):
            for name in SHAPE_FIELDS:
                if getattr(c, name) != getattr(first, name):
                    raise ValueError(
                        f"configs must agree on {name} (fields fixing the shape of one pass: {', '.join(SHAPE_FIELDS)}); "
                        f"member 0 has {getattr(first, name)!r}, member {e} has {getattr(c, name)!r}"
                    )

        def per_member(name: str) -> float | torch.Tensor:
            values = [float(getattr(c, name)) for c in configs]
            if all(v == values[0] for v in values):
                return values[0]
            return torch.tensor(values, dtype=torch.float64, device=device)

        counts = [c.num_negatives for c in configs]
        K, active = max(counts), None
        if first.negative_mode == "iid" and min(counts) != K:
            active = torch.arange(K, device=device)[None, :] < torch.tensor(counts, device=device)[:, None]
        return cls(first, per_member("beta"), per_member("lr"), per_member("anneal_start"), per_member("anneal_end"), K, active)

    def sharpness(self, step: int) -> float | torch.Tensor:
        """beta_t per member: anneal_start * (anneal_end / anneal_start)^(step / steps); (E, 1, 1) or float."""
        if not torch.is_tensor(self.anneal_start) and not torch.is_tensor(self.anneal_end):
            return self.shape.sharpness(step)
        value = self.anneal_start * (self.anneal_end / self.anneal_start) ** (step / self.shape.steps)
        return value.to(torch.float32).view(-1, 1, 1)

    def optimiser(self, model: ScoreModel):
        """torch's optimiser when the learning rate is uniform (exactly ``train``), else a per-member one."""
        held = member_parameters(model)
        params = [p for p, _, _ in held]
        if not torch.is_tensor(self.lr):
            return torch_optimizer(self.shape.optimizer, params, self.lr)
        rates = [self.lr[a:b] for _, a, b in held]
        return MemberAdam(params, rates) if self.shape.optimizer == "adam" else MemberSGD(params, rates)


# ----------------------------------------------------------------------------- training


def relaxed_codes(model: ScoreModel, view_idx: torch.Tensor, sharpness, relaxation: str, score_table: bool) -> torch.Tensor:
    """Relaxed codes (E, R, d) of the views ``view_idx`` (E, R).

    score_table=False: ``relax(model(view_idx))`` as ``train`` computes it, one score per row.
    score_table=True: relax the scores of every view once, ``relax(model.scores())`` (E, V, d),
    and gather the rows. Equal in value (a view's score and code do not depend on the row
    asking for it; every class here is a function of the view index), far cheaper when a
    step touches more rows than there are views (B (2 + l) vs V), but the gradient sums
    rows per view first, so floats round differently from ``train``.
    """
    if not score_table:
        return relax(model(view_idx), sharpness, relaxation)
    table = relax(model.scores(), sharpness, relaxation)
    return table.gather(1, view_idx[..., None].expand(-1, -1, table.shape[-1]))


def _per_member(value, ensemble: int, name: str) -> list:
    if isinstance(value, (ViewDataset, TrainConfig)):
        return [value] * ensemble
    values = list(value)
    if len(values) != ensemble:
        raise ValueError(f"{name} must be one value or one per ensemble member ({ensemble}), got {len(values)}")
    return values


def member_evaluator(datasets: Sequence[ViewDataset]) -> Callable[[np.ndarray], list[dict]]:
    """Default metrics (alignment error, minimum purity) of member e's codes on its own dataset
    (codes (E, V, d); member e's rows beyond its dataset's view count are ignored)."""
    if all(d is datasets[0] for d in datasets):
        return default_evaluator(datasets[0])
    evaluators = {id(d): default_evaluator(d) for d in datasets}
    return lambda codes: [evaluators[id(d)](c[None, : d.num_views])[0] for d, c in zip(datasets, codes)]


def hard_member_codes(model: ScoreModel) -> np.ndarray:
    """(E, V, d) int8 hard codes; rows past member e's own view count are 0 (not a code)."""
    codes = model.codes().cpu().numpy().astype(np.int8)
    for e, views in enumerate(member_views(model)):
        codes[e, views:] = 0
    return codes


def check_member_views(model: ScoreModel, datasets: Sequence[ViewDataset], shared: bool) -> None:
    """Require member e of ``model`` to score exactly the views of its dataset (ValueError)."""
    views = member_views(model)
    if shared and any(v != datasets[0].num_views for v in views):
        over = views[0] if len(set(views)) == 1 else f"{sorted(set(views))}"
        raise ValueError(f"model must score the {datasets[0].num_views} views of data, got a model over {over} views")
    for e, (d, v) in enumerate(zip(datasets, views)):
        if d.num_views != v:
            raise ValueError(f"data[{e}] has {d.num_views} views but member {e} of the model scores {v}")


def no_evaluation(codes: np.ndarray) -> list[dict]:
    """An ``evaluate`` for :func:`train_batched` that reports nothing: one empty dict per member
    of the (E, V, d) codes (a caller that scores the codes itself skips the default metrics)."""
    return [{} for _ in codes]


def train_batched(
    model: ScoreModel,
    data: ViewDataset | Sequence[ViewDataset],
    configs: TrainConfig | Sequence[TrainConfig] | None = None,
    seed: int = 0,
    progress: bool = False,
    evaluate: Callable[[np.ndarray], list[dict]] | None = None,
    score_table: bool = False,
    on_log: Callable[[int, ScoreModel, float | torch.Tensor], None] | None = None,
) -> TrainResult:
    """Train the E members of ``model``, member e on ``data[e]`` with ``configs[e]``.

    The package's one training loop (``train`` is its one-dataset, one-config case). Each
    step: draw anchors, positives and negatives per member, relax their scores
    (:func:`relaxed_codes`), take the mean over anchors of ``hypercube_infonce`` with the
    member's beta and active negatives, sum over members, one optimiser step.

    ``data`` / ``configs``: one value for all members or a sequence of E (configs default:
    ``TrainConfig()``); member e's dataset must have the member's view count. Returns a
    TrainResult: codes (E, V, d) int8 (member e's codes are ``codes[e, :data[e].num_views]``;
    padding rows are 0) and a history with one row per logged step (every ``log_every``
    steps and at the end) and member: the step, the member's mean training loss since the
    last log, and what ``evaluate(codes) -> E dicts`` reports (default: alignment error and
    minimum purity of member e on its own dataset). ``on_log(step, model, sharpness)``, if
    given, is called at the same moments (sharpness: a float, or (E, 1, 1) when members
    anneal differently); it must not change the model. ``score_table``: see
    :func:`relaxed_codes` (False keeps the pass bitwise equal to training each member
    alone). Raises ValueError when configs disagree on a shape field or a dataset's view
    count differs from its member's.
    """
    from tqdm.auto import tqdm

    check_nonneg_int("seed", seed)
    E, device = model.ensemble, next(model.parameters()).device
    shared = isinstance(data, ViewDataset) or all(d is data[0] for d in data)
    datasets = _per_member(data, E, "data")
    settings = MemberSettings.from_configs(_per_member(configs or TrainConfig(), E, "configs"), device)
    check_member_views(model, datasets, shared)
    shape = settings.shape
    seed_everything(seed)
    if shared:
        sampler = PairSampler(datasets[0], settings.num_negatives, shape.negative_mode, device=device, seed=seed)
    else:
        sampler = MemberPairSampler(datasets, settings.num_negatives, shape.negative_mode, device=device, seed=seed)
    optimiser = settings.optimiser(model)
    evaluate = evaluate or member_evaluator(datasets)
    history, running, since_log = [], torch.zeros(E, device=device), 0
    for step in tqdm(range(1, shape.steps + 1), disable=not progress, desc="train", leave=False, dynamic_ncols=True):
        anchor, positive, negatives = sampler.sample(shape.batch_size, groups=E)
        B, K = negatives.shape[1], negatives.shape[2]
        rows = torch.cat([anchor, positive, negatives.reshape(E, B * K)], dim=1)
        sharpness = settings.sharpness(step)
        z = relaxed_codes(model, rows, sharpness, shape.relaxation, score_table)
        z_anchor, z_pos, z_neg = z[:, :B], z[:, B : 2 * B], z[:, 2 * B :].reshape(E, B, K, -1)
        per_member = hypercube_infonce(z_anchor, z_pos, z_neg, settings.beta, reduction="none", active=settings.active).mean(dim=1)
        optimiser.zero_grad(set_to_none=True)
        per_member.sum().backward()
        optimiser.step()
        running += per_member.detach()
        since_log += 1
        if step % shape.log_every == 0 or step == shape.steps:
            losses = (running / since_log).cpu().numpy()
            for member, metrics in enumerate(evaluate(hard_member_codes(model))):
                history.append({"step": step, "member": member, "train_loss": float(losses[member]), **metrics})
            running.zero_()
            since_log = 0
            if on_log is not None:
                with torch.no_grad():
                    on_log(step, model, sharpness)
    return TrainResult(codes=hard_member_codes(model), history=history)


# ----------------------------------------------------------------------------- members


@dataclass(frozen=True)
class Member:
    """One model of a batch: its function class and class options, dataset, training
    settings and initialisation seed (``make_function_class(function_class, data, dim,
    seeds=[init_seed], **class_options)`` alone)."""

    function_class: str
    data: ViewDataset
    config: TrainConfig
    init_seed: int
    class_options: Mapping[str, Any] = field(default_factory=dict)


def build_member_model(members: Sequence[Member], dim: int, device="cpu") -> ScoreModel:
    """One ensemble whose member e is built exactly as member e alone would be.

    Consecutive members with the same class, options and dataset object are built by one
    ``make_function_class`` call with their seeds (member e of an ensemble starts where the
    same seed alone would); the pieces are joined by :func:`combine_models`.
    """
    pieces: list[tuple[Member, list[int]]] = []
    for m in members:
        last = pieces[-1][0] if pieces else None
        if last is not None and (last.function_class, dict(last.class_options)) == (m.function_class, dict(m.class_options)) and last.data is m.data:
            pieces[-1][1].append(m.init_seed)
        else:
            pieces.append((m, [m.init_seed]))
    return combine_models(
        [make_function_class(m.function_class, m.data, dim, seeds=seeds, device=device, **m.class_options) for m, seeds in pieces]
    )


def train_members(
    members: Sequence[Member],
    dim: int,
    seed: int = 0,
    device="cpu",
    progress: bool = False,
    evaluate: Callable[[np.ndarray], list[dict]] | None = None,
    score_table: bool = False,
) -> TrainResult:
    """Build and train a batch of members (any classes, datasets and settings) in one pass.

    Equivalent in law to ``train(make_function_class(m.function_class, m.data, dim,
    seeds=[m.init_seed], **m.class_options), m.data, m.config)`` for every member m
    separately. Result row e is member e (its codes: ``codes[e, :m.data.num_views]``).
    ``seed`` seeds the batch's sampler; ``score_table`` goes to :func:`train_batched`.
    """
    members = list(members)
    if not members:
        raise ValueError("members must hold at least one Member")
    shared = members[0].data if all(m.data is members[0].data for m in members) else [m.data for m in members]
    model = build_member_model(members, dim, device=device)
    return train_batched(model, shared, [m.config for m in members], seed=seed, progress=progress, evaluate=evaluate, score_table=score_table)
