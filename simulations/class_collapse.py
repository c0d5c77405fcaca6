"""Class collapse in supervised CL (Xue et al. 2023): the subclass is learned, then unlearned - in both regimes.

The linear model f(x) = W x + b is trained by full-batch gradient descent from a small
initialisation on the spectral L_SCL of n originals with m views each (data model of
clustertheory.data.collapse), in the two regimes of clustertheory.analysis.min_norm:
n m > dim + 1 ("many-views": the minimiser is unique) and n m <= dim + 1 ("many-dims": a
family of minimisers, its minimum-norm member is the content). Per regime and seed:
the exact minimum-norm minimiser of the training set (and its population limit), the GD
trace (||W_t v_1||, ||W_t v_2||, probes of class and subclass on fresh examples, collapse of
the training embeddings), and GD's endpoint held against the minimiser. A sweep of phi_1
across sqrt(1 + mu^2) shows what that condition decides, and a small MLP trained with SupCon
asks whether the rise-then-fall survives beyond the linear spectral model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from clustertheory.analysis.arms import select
from clustertheory.analysis.embedding import (
    linear_probe_accuracy,
    probe_split,
    subclass_separation,
    within_between_ratio,
)
from clustertheory.analysis.min_norm import (
    DescentConfig,
    population_moments,
    range_basis,
    regime_check,
    spectral_gradient_descent,
    spectral_min_norm,
)
from clustertheory.config import Integer, Real, TupleOf
from clustertheory.data.collapse import (
    REGIMES,
    CollapseConfig,
    collapse_dataset,
    draw_view_pairs,
    stack_training_sets,
)
from clustertheory.functions.ensemble import EncoderSettings
from clustertheory.losses.ensemble import ensemble_supcon
from clustertheory.losses.spectral import scl_moments, with_bias
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.training.fitting import FitConfig, fit

NAME = "class-collapse"
SUMMARY = "supervised CL: GD learns the subclass early and collapses it late, in both regimes (n m > dim, dim > n m); exact min-norm; MLP + SupCon"
SOURCE = "Xue et al. 2023 (ICML), class collapse"
FIELDS = {"many-views": "many_views", "many-dims": "many_dims"}
MODEL = ("num_features", "class_strength", "subclass_strength", "irrelevant_strength", "class_mean", "subclass_mean", "irrelevant_mean", "noise", "noise_kind", "augmentation_noise")


@dataclass(frozen=True)
class Config(SimulationConfig):
    """The paper's feature setting (phi = 1, mu = 1, sigma = 2, K = 4, p = 3, init 0.001, step
    0.05) at two sizes: ``many_views`` (n m = 2500 > dim + 1 = 101) and ``many_dims``
    (n m = 250 <= dim + 1 = 401). The paper's own size (dim 2000, n 1000, m 5) is the
    ``paper`` scale. ``class_strengths`` sweeps phi_1 across sqrt(1 + mu^2) = 1.41 in the
    many-views regime. ``mlp_*``: SupCon with a small MLP (see ``mlp_data``)."""

    many_views: CollapseConfig = CollapseConfig(dim=100, num_originals=500, num_augmentations=5)
    many_dims: CollapseConfig = CollapseConfig(dim=400, num_originals=50, num_augmentations=5)
    p: int = 3
    descent: DescentConfig = DescentConfig(steps=200, lr=0.05, init_scale=0.001)
    record_steps: tuple = (0, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 100, 150, 200)
    probe_examples: int = 750
    probe_cs: tuple = (1.0,)
    seeds: int = 10
    class_strengths: tuple = (0.75, 1.0, 1.25, 1.75, 2.5)
    sweep_every: int = 2
    # SupCon + MLP. mlp_data: phi_2 = 0.5 so that a random network does not already read the
    # subclass (with phi_2 = 1 it reads it at 0.85 at initialisation: nothing could rise), and
    # mu = 2 so that the condition 1 + mu^2 > phi_1^2 holds with a margin.
    mlp_data: CollapseConfig = CollapseConfig(dim=100, num_originals=500, num_augmentations=5, subclass_strength=0.5, subclass_mean=2.0)
    mlp_encoder: EncoderSettings = EncoderSettings(out_dim=8, width=64, depth=1, init_scale=0.1)
    mlp_fit: FitConfig = FitConfig(steps=200, lr=1e-3, optimizer="adam", batch_size=64)
    mlp_checkpoints: tuple = (0, 5, 10, 20, 40, 80, 120, 200)
    temperature: float = 0.2
    # Claims. A probe gain counts when it reaches 0.1 of accuracy (a tenth of the way from
    # chance to perfect, four times the probe's sampling sd on 300 test points).
    minimal_probe_gain: float = 0.1
    # ||W v2|| / ||W v1|| of the min-norm minimiser: 1 = the subclass kept like the class (no
    # collapse); collapse means below 0.05.
    collapse_null: float = 1.0
    minimal_collapse: float = 0.05
    # Training-set embeddings: within/between class ratio 1 = as much spread inside classes as
    # between them; the paper's "collapse" needs it below 0.1.
    minimal_class_collapse: float = 0.1
    # Share of (phi_1, seed) cells in which the condition predicts which feature GD learns first.
    order_null: float = 0.5
    minimal_order_share: float = 0.9
    # Package tolerances: GD endpoint vs min-norm (absolute, on ||W v||), training set vs
    # population limit (relative, finite n).
    gd_tolerance: float = 0.05
    population_tolerance: float = 0.1
    # The setting works: the class is read from the final embeddings (fresh examples).
    min_class_probe: float = 0.95

    constraints = {
        "p": Integer(2), "record_steps": TupleOf(Integer(0), min_len=3, increasing=True),
        "probe_examples": Integer(12), "probe_cs": TupleOf(Real(0, open_lo=True)),
        "seeds": Integer(2), "class_strengths": TupleOf(Real(0, open_lo=True), min_len=2, increasing=True),
        "sweep_every": Integer(1), "mlp_checkpoints": TupleOf(Integer(0), min_len=3, increasing=True),
        "temperature": Real(0, open_lo=True), "minimal_probe_gain": Real(0, 1, open_lo=True),
        "collapse_null": Real(0, open_lo=True), "minimal_collapse": Real(0, open_lo=True),
        "minimal_class_collapse": Real(0, open_lo=True), "order_null": Real(0, 1), "minimal_order_share": Real(0, 1),
        "gd_tolerance": Real(0, open_lo=True), "population_tolerance": Real(0, open_lo=True), "min_class_probe": Real(0.5, 1),
    }

    def validate(self) -> None:
        for regime, field in FIELDS.items():
            if getattr(self, field).regime != regime:
                data = getattr(self, field)
                raise ValueError(f"{field} must be in the {regime} regime, got n m = {data.num_views} against dim + 1 = {data.dim + 1}")
        differ = [k for k in MODEL if getattr(self.many_views, k) != getattr(self.many_dims, k)]
        if differ:
            raise ValueError(f"many_views and many_dims must share the feature model; they differ in {differ}")
        if self.record_steps[0] != 0 or self.record_steps[-1] != self.descent.steps:
            raise ValueError(f"record_steps must run from 0 to descent.steps = {self.descent.steps}, got {self.record_steps}")
        if self.mlp_checkpoints[0] != 0 or self.mlp_checkpoints[-1] != self.mlp_fit.steps:
            raise ValueError(f"mlp_checkpoints must run from 0 to mlp_fit.steps = {self.mlp_fit.steps}, got {self.mlp_checkpoints}")
        if not self.class_strengths[0] ** 2 < 1 + self.many_views.subclass_mean**2 < self.class_strengths[-1] ** 2:
            raise ValueError(f"class_strengths must straddle sqrt(1 + mu^2) = {np.sqrt(1 + self.many_views.subclass_mean**2):.3g}, got {self.class_strengths}")

    def data(self, regime: str) -> CollapseConfig:
        return getattr(self, FIELDS[regime])


SCALES = {
    "default": Config(),
    "paper": Config(
        many_views=CollapseConfig(dim=2000, num_originals=1000, num_augmentations=5),
        many_dims=CollapseConfig(dim=2000, num_originals=200, num_augmentations=5),
        descent=DescentConfig(steps=2000, lr=0.05, init_scale=0.001),
        record_steps=(0, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 100, 150, 200, 300, 500, 1000, 2000),
        probe_examples=3500,
        mlp_fit=FitConfig(steps=600, lr=1e-3, optimizer="adam", batch_size=128),
        mlp_checkpoints=(0, 5, 10, 20, 40, 80, 120, 200, 400, 600),
    ),
}



def _probe(z: np.ndarray, labels: np.ndarray, config: Config) -> float:
    """Test accuracy of the library's linear probe on fresh examples (random half / quarter / quarter split)."""
    return linear_probe_accuracy(z, labels, probe_split(len(labels)), cs=config.probe_cs)["accuracy"]


def _collapse_measures(W: np.ndarray, train, probe_x: np.ndarray, probe, config: Config) -> dict:
    """Feature norms, collapse of the training embeddings and probes on fresh examples."""
    z_train = with_bias(train.flat_views) @ W.T
    labels, sublabels = np.repeat(train.y, train.views.shape[1]), np.repeat(train.y_sub, train.views.shape[1])
    z = probe_x @ W.T
    return {
        "norm_v1": float(np.linalg.norm(W[:, 0])), "norm_v2": float(np.linalg.norm(W[:, 1])),
        "class_ratio": within_between_ratio(z_train, labels), "subclass_separation": subclass_separation(z_train, labels, sublabels),
        "probe_subclass": _probe(z, probe.y_sub, config), "probe_class": _probe(z, probe.y, config),
    }


def collapse_traces(config: Config, regime: str, ctx: RunContext) -> list[dict]:
    """Exact minimiser and GD traces of L_SCL for every seed of one regime (one batched GD pass per p)."""
    data = config.data(regime)
    seeds = [ctx.seed_for(NAME, regime, s) for s in range(config.seeds)]
    trains = [collapse_dataset(data, s) for s in seeds]
    probes = [collapse_dataset(data.replace(num_originals=config.probe_examples), s + 1) for s in seeds]
    xs = [with_bias(pr.originals) for pr in probes]
    moments = [scl_moments(t.views, t.y) for t in trains]
    bases = [range_basis(S) for S, _ in moments]
    S_pop, M_pop = population_moments(data, "scl", limit=regime)
    population = spectral_min_norm(S_pop, M_pop, config.p)
    rows = []
    for e, ((S, M), basis) in enumerate(zip(moments, bases)):
        best = spectral_min_norm(S, M, config.p, basis=basis)
        rows.append({"kind": "min_norm", "regime": regime, "seed": e, "p": config.p, "loss_min": best.loss, "tie_size": best.tie_size,
                     "population_v1": population.norm_along(np.eye(len(S_pop))[0]), "population_v2": population.norm_along(np.eye(len(S_pop))[1]),
                     **_collapse_measures(best.weights, trains[e], xs[e], probes[e], config)})
    for step, Ws in spectral_gradient_descent(moments, config.p, config.descent, seeds=seeds, record_at=config.record_steps, bases=bases, device=ctx.device):
        for e, W in enumerate(Ws):
            rows.append({"kind": "trace", "regime": regime, "seed": e, "p": config.p, "step": step, **_collapse_measures(W, trains[e], xs[e], probes[e], config)})
    return rows


def phi_sweep(config: Config, ctx: RunContext) -> list[dict]:
    """GD on L_SCL for each class strength phi_1 (many-views regime): which feature rises first,
    and the subclass probe at initialisation and at the peak of ||W_t v_2||."""
    rows = []
    steps = sorted(set(range(0, config.descent.steps + 1, config.sweep_every)) | {config.descent.steps})
    for strength in config.class_strengths:
        data = config.many_views.replace(class_strength=strength)
        seeds = [ctx.seed_for(NAME, "sweep", strength, s) for s in range(config.seeds)]
        trains = [collapse_dataset(data, s) for s in seeds]
        probes = [collapse_dataset(data.replace(num_originals=config.probe_examples), s + 1) for s in seeds]
        moments = [scl_moments(t.views, t.y) for t in trains]
        trace = list(spectral_gradient_descent(moments, config.p, config.descent, seeds=seeds, record_at=steps, device=ctx.device))
        for e in range(config.seeds):
            v1 = np.array([np.linalg.norm(Ws[e][:, 0]) for _, Ws in trace])
            v2 = np.array([np.linalg.norm(Ws[e][:, 1]) for _, Ws in trace])
            peak = int(np.argmax(v2))
            x = with_bias(probes[e].originals)
            init_probe, peak_probe = (_probe(x @ trace[i][1][e].T, probes[e].y_sub, config) for i in (0, peak))
            rows.append({
                "kind": "sweep", "class_strength": strength, "seed": e, "peak_step": steps[peak], "peak_ratio": float(v2.max() / v1.max()),
                "half_v1_step": steps[int(np.argmax(v1 >= v1[-1] / 2))], "half_v2_step": steps[int(np.argmax(v2 >= v2.max() / 2))],
                "probe_init": init_probe, "probe_peak": peak_probe,
            })
    return rows


def supcon_mlp(config: Config, ctx: RunContext) -> list[dict]:
    """An ensemble of MLPs (one per seed) trained with SupCon on the views; probes of the class and
    subclass on fresh examples, and the subclass separation of the training views, at checkpoints."""
    data = config.mlp_data
    seeds = [ctx.seed_for(NAME, "mlp", s) for s in range(config.seeds)]
    trains = [collapse_dataset(data, s) for s in seeds]
    probes = [collapse_dataset(data.replace(num_originals=config.probe_examples), s + 1) for s in seeds]
    views, y = stack_training_sets(trains, ctx.device)
    net = config.mlp_encoder.build(data.dim, seeds, ctx.device)
    generator = torch.Generator().manual_seed(seeds[0])
    fresh = torch.tensor(np.stack([pr.originals for pr in probes]), dtype=torch.float32, device=ctx.device)
    train_x = views[:, :, 0]  # first augmentation of each original: the training-set measurement

    def loss(step: int) -> torch.Tensor:
        first, second, originals = draw_view_pairs(views, config.mlp_fit.batch_size, generator)
        z = net(torch.cat([first, second], dim=1))
        labels = torch.gather(y, 1, originals).repeat(1, 2)
        return ensemble_supcon(z, labels, temperature=config.temperature).sum()

    def measure(step: int) -> list[dict]:
        with torch.no_grad():
            z, z_train = net(fresh).cpu().numpy(), net(train_x).cpu().numpy()
        return [{"kind": "mlp", "seed": e, "probe_subclass": _probe(z[e], pr.y_sub, config), "probe_class": _probe(z[e], pr.y, config),
                 "train_probe_subclass": linear_probe_accuracy(z_train[e], tr.y_sub, probe_split(len(tr.y_sub)), cs=config.probe_cs)["accuracy"],
                 "subclass_separation": subclass_separation(z_train[e], tr.y, tr.y_sub)}
                for e, (pr, tr) in enumerate(zip(probes, trains))]

    return fit(net, loss, config.mlp_fit, checkpoints=config.mlp_checkpoints, on_checkpoint=measure)


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [{"part": "trace", "regime": r} for r in REGIMES] + [{"part": "sweep"}, {"part": "mlp"}]

    def work(unit: dict) -> list[dict]:
        if unit["part"] == "trace":
            return collapse_traces(config, unit["regime"], ctx)
        return phi_sweep(config, ctx) if unit["part"] == "sweep" else supcon_mlp(config, ctx)

    return ctx.sweep(units, work, desc=NAME)


# ----------------------------------------------------------------------------- verdict


def _by_seed(rows) -> dict:
    """{seed: [rows sorted by step]}."""
    out: dict = {}
    for r in sorted(rows, key=lambda r: r["step"]):
        out.setdefault(r["seed"], []).append(r)
    return out


def _peak_and_ends(traces: list[dict], peak_key: str) -> tuple[dict, dict, dict]:
    """The rows at step 0, at the step where ``peak_key`` is largest, and at the last step."""
    peak = max(traces, key=lambda r: r[peak_key])
    return traces[0], peak, traces[-1]


def regime_claims(rows: list[dict], config: Config, regime: str) -> tuple[list[Check], list[Claim]]:
    """Package checks and claims of one regime from its min-norm and trace rows."""
    tag = f"({regime})"
    data = config.data(regime)
    best = sorted(select(rows, kind="min_norm", regime=regime), key=lambda r: r["seed"])
    traces = _by_seed(select(rows, kind="trace", regime=regime, p=config.p))
    ends = [_peak_and_ends(traces[s], "norm_v2") for s in sorted(traces)]
    finals = [t[-1] for t in ends]
    gd_gap = max(max(abs(f["norm_v1"] - b["norm_v1"]), abs(f["norm_v2"] - b["norm_v2"])) for f, b in zip(finals, best))
    pop_gap = max(abs(b["norm_v1"] - b["population_v1"]) / b["population_v1"] for b in best)
    in_regime = regime_check(data, regime)
    condition = Check.holds("1 + mu^2 > phi_1^2 (the subclass direction grows first)", 1 + data.subclass_mean**2 > data.class_strength**2,
                            f"1 + mu^2 = {1 + data.subclass_mean**2:g}, phi_1^2 = {data.class_strength**2:g}", "1 + mu^2 > phi_1^2")
    converged = Check.at_most(f"GD endpoint vs min-norm, max |d ||W v_j|| | {tag}", gd_gap, config.gd_tolerance)
    checks = [
        converged,
        Check.at_most(f"training-set min-norm ||W* v1|| vs its population limit (max relative gap) {tag}", pop_gap, config.population_tolerance),
        Check.at_least(f"final class probe (min over seeds) {tag}", min(f["probe_class"] for f in finals), config.min_class_probe),
    ]
    claims = [
        Claim.from_mean(f"min-norm-collapses-subclass {tag}", SOURCE, "the minimum-norm minimiser of L_SCL has ||W v2|| = 0 (class collapse)",
                        [b["norm_v2"] / b["norm_v1"] for b in best], "||W* v2|| / ||W* v1||, training set", null=config.collapse_null,
                        minimal_effect=config.minimal_collapse, direction="less", preconditions=[in_regime]),
        Claim.from_mean(f"training-set-classes-collapse {tag}", SOURCE, "minimisers collapse each class of the training set (GD endpoint)",
                        [f["class_ratio"] for f in finals], "within / between class sum of squares, training views", null=1.0,
                        minimal_effect=config.minimal_class_collapse, direction="less", preconditions=[in_regime, converged]),
        Claim.from_mean(f"training-set-subclasses-merge {tag}", SOURCE, "at the GD endpoint the subclasses of a class share one mean",
                        [f["subclass_separation"] for f in finals], "subclass / class separation, training views", null=config.collapse_null,
                        minimal_effect=config.minimal_collapse, direction="less", preconditions=[in_regime, converged]),
        Claim.from_paired(f"subclass-learned-early {tag}", SOURCE, "GD from small initialisation first learns the subclass (probe at the peak of ||W_t v2|| above the probe at initialisation)",
                          [t[1]["probe_subclass"] for t in ends], [t[0]["probe_subclass"] for t in ends], "subclass probe accuracy",
                          minimal_effect=config.minimal_probe_gain, preconditions=[in_regime, condition]),
        Claim.from_paired(f"subclass-unlearned-late {tag}", SOURCE, "GD then unlearns the subclass (probe at the peak of ||W_t v2|| above the final probe)",
                          [t[1]["probe_subclass"] for t in ends], [t[2]["probe_subclass"] for t in ends], "subclass probe accuracy",
                          minimal_effect=config.minimal_probe_gain, preconditions=[in_regime, condition]),
    ]
    return checks, claims


def sweep_claims(rows: list[dict], config: Config) -> list[Claim]:
    """What the condition 1 + mu^2 > phi_1^2 decides: the order of learning, not whether."""
    mu2 = config.many_views.subclass_mean ** 2
    cells = select(rows, kind="sweep")
    predicted = [1 + mu2 > r["class_strength"] ** 2 for r in cells]
    first = [r["half_v2_step"] < r["half_v1_step"] for r in cells]
    below = {r["seed"]: [] for r in cells}
    above = {r["seed"]: [] for r in cells}
    for r, holds in zip(cells, predicted):
        (below if holds else above)[r["seed"]].append(r["probe_peak"] - r["probe_init"])
    seeds = sorted(below)
    straddles = Check.holds("the sweep has phi_1 on both sides of sqrt(1 + mu^2)", any(predicted) and not all(predicted),
                            f"{sum(predicted)} of {len(predicted)} cells with 1 + mu^2 > phi_1^2", "some cells on each side")
    return [
        Claim.from_proportion("condition-decides-order", SOURCE, "1 + mu^2 > phi_1^2 decides whether ||W v2|| rises before ||W v1|| (our reading of the condition)",
                              sum(a == b for a, b in zip(predicted, first)), len(cells), "share of (phi_1, seed) cells", null=config.order_null,
                              minimal_effect=config.minimal_order_share, preconditions=[straddles]),
        Claim.from_paired("condition-decides-early-learning", SOURCE, "the subclass is learned early only when 1 + mu^2 > phi_1^2 (probe gain below minus above the threshold)",
                          [np.mean(below[s]) for s in seeds], [np.mean(above[s]) for s in seeds], "subclass probe gain (peak - init)",
                          minimal_effect=config.minimal_probe_gain, preconditions=[straddles]),
    ]


def mlp_claims(rows: list[dict], config: Config) -> tuple[list[Check], list[Claim]]:
    traces = _by_seed(select(rows, kind="mlp"))
    ends = [_peak_and_ends(traces[s], "train_probe_subclass") for s in sorted(traces)]
    learned = Check.at_least("MLP + SupCon: final class probe (min over seeds)", min(t[2]["probe_class"] for t in ends), config.min_class_probe)
    trained = Check.below("MLP + SupCon: final / first training loss (max over seeds)", max(
        traces[s][-1]["train_loss"] / traces[s][1]["train_loss"] for s in traces), 1.0)
    source = "Xue et al. 2023 (ICML), class collapse with SupCon and networks"
    claims = [
        Claim.from_paired("supcon-mlp-subclass-rises", source, "an MLP trained with SupCon first learns the subclass (fresh-example probe at the step where the training-set subclass probe peaks, above the probe at initialisation)",
                          [t[1]["probe_subclass"] for t in ends], [t[0]["probe_subclass"] for t in ends], "subclass probe accuracy",
                          minimal_effect=config.minimal_probe_gain, preconditions=[learned]),
        Claim.from_paired("supcon-mlp-subclass-falls", source, "then unlearns it (probe at that peak above the final probe)",
                          [t[1]["probe_subclass"] for t in ends], [t[2]["probe_subclass"] for t in ends], "subclass probe accuracy",
                          minimal_effect=config.minimal_probe_gain, preconditions=[learned]),
    ]
    return [trained, learned], claims


def verdict(rows: list[dict], config: Config) -> Verdict:
    checks, claims = [], []
    for regime in REGIMES:
        more_checks, more_claims = regime_claims(rows, config, regime)
        checks += more_checks
        claims += more_claims
    claims += sweep_claims(rows, config)
    more_checks, more_claims = mlp_claims(rows, config)
    return Verdict(checks + more_checks, claims + more_claims)


# ----------------------------------------------------------------------------- figure


def _mean_trace(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    steps = sorted({r["step"] for r in rows})
    return np.array(steps), np.array([np.mean([r[key] for r in rows if r["step"] == s]) for s in steps])


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(14, 8))
    styles = {"many-views": "-", "many-dims": "--"}
    for regime in REGIMES:
        tr = select(rows, kind="trace", regime=regime, p=config.p)
        best = select(rows, kind="min_norm", regime=regime)
        ls, label = styles[regime], f"{regime} (n m {'>' if regime == 'many-views' else '<='} dim+1)"
        for key, color, name in (("norm_v1", "tab:red", "||W v1|| class"), ("norm_v2", "tab:blue", "||W v2|| subclass")):
            steps, mean = _mean_trace(tr, key)
            axes[0, 0].plot(steps + 1, mean, ls, color=color, label=f"{name}, {label}")
        axes[0, 0].axhline(np.mean([b["norm_v2"] for b in best]), color="tab:blue", ls=ls, lw=0.6, alpha=0.6)
        for key, color, name in (("probe_subclass", "tab:blue", "subclass"), ("probe_class", "tab:red", "class")):
            steps, mean = _mean_trace(tr, key)
            axes[0, 1].plot(steps + 1, mean, ls, color=color, label=f"{name}, {regime}")
        for key, color, name in (("class_ratio", "tab:purple", "within/between class"), ("subclass_separation", "tab:green", "subclass separation")):
            steps, mean = _mean_trace(tr, key)
            axes[0, 2].plot(steps + 1, mean, ls, color=color, label=f"{name}, {regime}")
    axes[0, 0].set(xscale="log", yscale="log", xlabel="GD step + 1", ylabel="norm (mean over seeds)", ylim=(1e-4, 2),
                   title=f"L_SCL, p = {config.p}: feature norms (thin: min-norm ||W* v2||)")
    axes[0, 1].axhline(0.5, color="grey", lw=0.6)
    axes[0, 1].set(xscale="log", xlabel="GD step + 1", ylabel="probe accuracy, fresh examples", ylim=(0.4, 1.02), title="linear probes (step 0 = the baseline)")
    axes[0, 2].set(xscale="log", yscale="log", xlabel="GD step + 1", ylabel="training views", title="collapse of the training embeddings")
    for ax in axes[0]:
        ax.legend(fontsize=6)

    ax = axes[1, 0]
    sweep = select(rows, kind="sweep")
    strengths = sorted({r["class_strength"] for r in sweep})
    for key, color, name in (("half_v1_step", "tab:red", "||W v1|| reaches half its final"), ("half_v2_step", "tab:blue", "||W v2|| reaches half its peak")):
        ax.plot(strengths, [np.mean([r[key] for r in sweep if r["class_strength"] == s]) for s in strengths], "-o", color=color, ms=4, label=name)
    ax.axvline(np.sqrt(1 + config.many_views.subclass_mean**2), color="grey", ls=":", label="phi_1 = sqrt(1 + mu^2)")
    ax.set(xlabel="class strength phi_1", ylabel="GD step (mean over seeds)", title="what 1 + mu^2 > phi_1^2 decides: the order")
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    for key, color, name in (("probe_init", "grey", "at initialisation"), ("probe_peak", "tab:blue", "at the peak of ||W v2||")):
        ax.plot(strengths, [np.mean([r[key] for r in sweep if r["class_strength"] == s]) for s in strengths], "-o", color=color, ms=4, label=f"subclass probe {name}")
    ax.axvline(np.sqrt(1 + config.many_views.subclass_mean**2), color="grey", ls=":")
    ax.set(xlabel="class strength phi_1", ylabel="probe accuracy", ylim=(0.4, 1.02), title="... and not whether the subclass is learned")
    ax.legend(fontsize=7)

    ax = axes[1, 2]
    mlp = select(rows, kind="mlp")
    for key, color, name in (("probe_subclass", "tab:blue", "subclass probe"), ("probe_class", "tab:red", "class probe")):
        steps, mean = _mean_trace(mlp, key)
        per_seed = [[r[key] for r in sorted(select(mlp, seed=s), key=lambda r: r["step"])] for s in sorted({r["seed"] for r in mlp})]
        ax.fill_between(steps + 1, np.min(per_seed, axis=0), np.max(per_seed, axis=0), color=color, alpha=0.15)
        ax.plot(steps + 1, mean, "-o", color=color, ms=3, label=name)
    ax.axhline(0.5, color="grey", lw=0.6)
    ax.set(xscale="log", xlabel="Adam step + 1", ylabel="probe accuracy (mean, band: min-max over seeds)", ylim=(0.4, 1.02),
           title=f"MLP + SupCon ({config.seeds} seeds, phi_2 = {config.mlp_data.subclass_strength:g}, mu = {config.mlp_data.subclass_mean:g})")
    ax.legend(fontsize=7)
    for ax in axes.flat:
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig
