"""Class collapse in supervised CL (Xue et al. 2023): the subclass is learned, then unlearned - in both regimes.

The linear model f(x) = W x + b is trained by full-batch gradient descent from a small
initialisation on the spectral L_SCL of n originals with m views each (data model of
clustertheory.data.collapse), in the two regimes of clustertheory.analysis.min_norm:
n m > dim + 1 ("many-views": the minimiser is unique) and n m <= dim + 1 ("many-dims": a
family of minimisers, its minimum-norm member is the content). Per regime and seed:
the exact minimum-norm minimiser of the training set (and its population limit), the GD
trace (||W_t v_1||, ||W_t v_2||, probes of class and subclass on fresh examples, collapse of
the training embeddings), and GD's endpoint held against the minimiser
(clustertheory.analysis.collapse.scl_collapse_traces). What 1 + mu^2 > phi_1^2 decides, and
an MLP trained with SupCon, are simulations/class_collapse_dynamics.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis.arms import select
from clustertheory.analysis.collapse import (
    peak_and_ends,
    scl_collapse_traces,
    seed_traces,
)
from clustertheory.analysis.min_norm import DescentConfig, regime_check
from clustertheory.config import Integer, Real, TupleOf, setting
from clustertheory.data.collapse import REGIMES, CollapseConfig, check_regime
from clustertheory.plotting import plot_mean
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict

NAME = "class-collapse"
SUMMARY = "supervised CL: GD learns the subclass early and collapses it late, in both regimes (n m > dim, dim > n m); exact min-norm"
SOURCE = "Xue et al. 2023 (ICML), class collapse"
FIELDS = {"many-views": "many_views", "many-dims": "many_dims"}
MODEL = ("num_features", "class_strength", "subclass_strength", "irrelevant_strength", "class_mean", "subclass_mean", "irrelevant_mean", "noise", "noise_kind", "augmentation_noise")


@dataclass(frozen=True)
class Config(SimulationConfig):
    """The paper's feature setting (phi = 1, mu = 1, sigma = 2, K = 4, p = 3, init 0.001, step
    0.05) at two sizes: ``many_views`` (n m = 2500 > dim + 1 = 101) and ``many_dims``
    (n m = 250 <= dim + 1 = 401). The paper's own size (dim 2000, n 1000, m 5) is the
    ``paper`` scale. A probe gain of 0.1 is a tenth of the way from chance to perfect, four
    times the probe's sampling sd on 300 test points."""

    many_views: CollapseConfig = setting(CollapseConfig(dim=100, num_originals=500, num_augmentations=5), None, "data, n m > dim + 1")
    many_dims: CollapseConfig = setting(CollapseConfig(dim=400, num_originals=50, num_augmentations=5), None, "data, n m <= dim + 1")
    p: int = setting(3, Integer(2), "embedding size")
    descent: DescentConfig = setting(DescentConfig(steps=200, lr=0.05, init_scale=0.001), None, "gradient descent on L_SCL")
    record_steps: tuple = setting((0, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 100, 150, 200), TupleOf(Integer(0), min_len=3, increasing=True),
                                  "GD steps measured, 0 to descent.steps")
    probe_examples: int = setting(750, Integer(12), "fresh examples of a probe")
    probe_cs: tuple = setting((1.0,), TupleOf(Real(0, open_lo=True)), "inverse regularisations the probe picks from")
    seeds: int = setting(10, Integer(2), "seeds (training sets) per regime")
    minimal_probe_gain: float = setting(0.1, Real(0, 1, open_lo=True), "a probe gain (accuracy) counts from this")
    collapse_null: float = setting(1.0, Real(0, open_lo=True), "||W v2|| / ||W v1|| of the min-norm minimiser without collapse")
    minimal_collapse: float = setting(0.05, Real(0, open_lo=True), "collapse: ||W v2|| / ||W v1|| (or the subclass separation) below this")
    minimal_class_collapse: float = setting(0.1, Real(0, open_lo=True),
                                            "classes collapse: within/between class ratio of the training views below this (1: no collapse)")
    gd_tolerance: float = setting(0.05, Real(0, open_lo=True), "package: GD endpoint vs min-norm, absolute on ||W v||")
    population_tolerance: float = setting(0.1, Real(0, open_lo=True), "package: training set vs population limit, relative (finite n)")
    min_class_probe: float = setting(0.95, Real(0.5, 1), "package: the class is read from the final embeddings (fresh examples)")

    def validate(self) -> None:
        for regime, field in FIELDS.items():
            check_regime(field, getattr(self, field), regime)
        differ = [k for k in MODEL if getattr(self.many_views, k) != getattr(self.many_dims, k)]
        if differ:
            raise ValueError(f"many_views and many_dims must share the feature model; they differ in {differ}")
        if self.record_steps[0] != 0 or self.record_steps[-1] != self.descent.steps:
            raise ValueError(f"record_steps must run from 0 to descent.steps = {self.descent.steps}, got {self.record_steps}")
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
    ),
}


def collapse_traces(config: Config, regime: str, ctx: RunContext) -> list[dict]:
    """Exact minimiser and GD traces of L_SCL for every seed of one regime (one batched GD pass per p)."""
    seeds = [ctx.seed_for(NAME, regime, s) for s in range(config.seeds)]
    return scl_collapse_traces(config.data(regime), regime, config.p, config.descent, seeds, config.record_steps, config.probe_examples,
                               config.probe_cs, ctx.device)


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [{"part": "trace", "regime": r} for r in REGIMES]
    return ctx.sweep(units, lambda unit: collapse_traces(config, unit["regime"], ctx), desc=NAME)


# ----------------------------------------------------------------------------- verdict


def regime_claims(rows: list[dict], config: Config, regime: str) -> tuple[list[Check], list[Claim]]:
    """Package checks and claims of one regime from its min-norm and trace rows."""
    tag = f"({regime})"
    data = config.data(regime)
    best = sorted(select(rows, kind="min_norm", regime=regime), key=lambda r: r["seed"])
    traces = seed_traces(select(rows, kind="trace", regime=regime, p=config.p))
    ends = [peak_and_ends(traces[s], "norm_v2") for s in sorted(traces)]
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


def verdict(rows: list[dict], config: Config) -> Verdict:
    checks, claims = [], []
    for regime in REGIMES:
        more_checks, more_claims = regime_claims(rows, config, regime)
        checks += more_checks
        claims += more_claims
    return Verdict(checks, claims)


# ----------------------------------------------------------------------------- figure


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    styles = {"many-views": "-", "many-dims": "--"}
    for regime in REGIMES:
        tr = select(rows, kind="trace", regime=regime, p=config.p)
        best = select(rows, kind="min_norm", regime=regime)
        ls, label = styles[regime], f"{regime} (n m {'>' if regime == 'many-views' else '<='} dim+1)"
        for key, color, name in (("norm_v1", "tab:red", "||W v1|| class"), ("norm_v2", "tab:blue", "||W v2|| subclass")):
            plot_mean(axes[0], tr, "step", key, ls, shift=1, color=color, label=f"{name}, {label}")
        axes[0].axhline(np.mean([b["norm_v2"] for b in best]), color="tab:blue", ls=ls, lw=0.6, alpha=0.6)
        for key, color, name in (("probe_subclass", "tab:blue", "subclass"), ("probe_class", "tab:red", "class")):
            plot_mean(axes[1], tr, "step", key, ls, shift=1, color=color, label=f"{name}, {regime}")
        for key, color, name in (("class_ratio", "tab:purple", "within/between class"), ("subclass_separation", "tab:green", "subclass separation")):
            plot_mean(axes[2], tr, "step", key, ls, shift=1, color=color, label=f"{name}, {regime}")
    axes[0].set(xscale="log", yscale="log", xlabel="GD step + 1", ylabel="norm (mean over seeds)", ylim=(1e-4, 2),
                   title=f"L_SCL, p = {config.p}: feature norms (thin: min-norm ||W* v2||)")
    axes[1].axhline(0.5, color="grey", lw=0.6)
    axes[1].set(xscale="log", xlabel="GD step + 1", ylabel="probe accuracy, fresh examples", ylim=(0.4, 1.02), title="linear probes (step 0 = the baseline)")
    axes[2].set(xscale="log", yscale="log", xlabel="GD step + 1", ylabel="training views", title="collapse of the training embeddings")
    for ax in axes:
        ax.legend(fontsize=6)
    for ax in axes.flat:
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig
