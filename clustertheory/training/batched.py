"""Train many independent models in one pass: seeds x configurations x function classes.

A batch is one ensemble model of E members trained with per-member data and settings:

    model     one ensemble: members of one class shape share weight tensors (every function
              class holds batched weights (E, ...); ``stack_models``), members of different
              classes or shapes sit side by side (``ConcatenatedScores``; ``combine_models``
              picks), each scoring only its own views
    data      one ViewDataset shared by every member, or one per member (view counts may
              differ between members of different shapes)
    configs   one TrainConfig, or one per member. Members may differ in ``beta``, ``lr``,
              ``num_negatives`` (l, for iid negatives), ``anneal_start`` and ``anneal_end``; they
              must agree on the fields that fix the shape of the pass (:data:`SHAPE_FIELDS`).

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

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import check_nonneg_int
from ..data.sampling import MemberPairSampler, PairSampler
from ..data.views import ViewDataset
from ..functions.classes import LinearScore, ScoreModel, make_function_class
from ..losses import hypercube_infonce
from ..utils import seed_everything
from .fitting import torch_optimizer
from .trainer import TrainConfig, TrainResult, default_evaluator, relax

SHAPE_FIELDS = ("steps", "batch_size", "negative_mode", "optimizer", "relaxation", "log_every")
MEMBER_FIELDS = ("beta", "lr", "num_negatives", "anneal_start", "anneal_end")


# ----------------------------------------------------------------------------- models


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
