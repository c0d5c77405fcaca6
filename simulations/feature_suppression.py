"""Feature suppression in unsupervised CL (Xue et al. 2023): which rule the minimum-norm minimiser follows.

On the data model of clustertheory.data.collapse (K = 4 features, all means 0), in the two
regimes of clustertheory.analysis.min_norm (n m > dim + 1 "many-views", n m <= dim + 1
"many-dims"): the exact min-norm L_UCL minimiser over a grid of class variances phi_1^2 and
embedding sizes p, against the two closed forms (clustertheory.analysis.collapse.rule_predictions):
the unique many-views minimiser ranks the bias first (its T eigenvalue is exactly 1), the
many-dims least-norm selection ranks the bias as a variance-1 feature (the rule as the paper
states it). They differ when phi_1^2 > 1; the ``disagreement`` cell decides which rule holds
where, with gradient descent from small initialisation. Imperfect augmentation and InfoNCE are
simulations/feature_suppression_imperfect.py, shared random bits with an MLP
simulations/feature_suppression_bits.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis.arms import select
from clustertheory.analysis.collapse import (
    final_rows,
    kept_class_norm,
    rule_predictions,
    ucl_class_norms,
    ucl_descent_against_min_norm,
)
from clustertheory.analysis.min_norm import DescentConfig, regime_check
from clustertheory.config import Integer, Real, TupleOf, setting
from clustertheory.data.collapse import REGIMES, CollapseConfig, check_regime
from clustertheory.plotting import plot_mean
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict

NAME = "feature-suppression"
SUMMARY = "unsupervised CL suppresses the class feature: which rule the min-norm minimiser follows in each regime, and which GD follows"
SOURCE = "Xue et al. 2023 (ICML), feature suppression"
FIELDS = {"many-views": "many_views", "many-dims": "many_dims"}


@dataclass(frozen=True)
class Config(SimulationConfig):
    """K = 4, phi_2^2 = 4, phi_k^2/(K-2) = 0.25, sigma = 3, mu = 0, class variance phi_1^2 on
    ``class_variances`` (none at a tie: 1, 4 or 0.25); the disagreement cell phi_1^2 = 2.5, p = 2
    lies between the ties. ``descent``: step 0.02, below 2 / (8 t lambda) = 0.06 for the largest
    feature (lambda = phi_2^2 + s), where plain GD would oscillate."""

    many_views: CollapseConfig = setting(
        CollapseConfig(dim=20, num_features=4, num_originals=4000, num_augmentations=2, class_strength=float(np.sqrt(2.5)),
                       subclass_strength=2.0, irrelevant_strength=float(np.sqrt(0.5)), subclass_mean=0.0, noise=3.0),
        None, "data, n m > dim + 1 (class_strength: the disagreement cell)")
    many_dims: CollapseConfig = setting(
        CollapseConfig(dim=400, num_features=4, num_originals=100, num_augmentations=2, class_strength=float(np.sqrt(2.5)),
                       subclass_strength=2.0, irrelevant_strength=float(np.sqrt(0.5)), subclass_mean=0.0, noise=3.0),
        None, "data, n m <= dim + 1 (class_strength: the disagreement cell)")
    class_variances: tuple = setting((0.5, 1.5, 2.5, 6.0), TupleOf(Real(0, open_lo=True), min_len=2, increasing=True), "phi_1^2 of the rule grid")
    sizes: tuple = setting((1, 2, 3), TupleOf(Integer(1), increasing=True), "embedding sizes p of the rule grid")
    grid_seeds: int = setting(3, Integer(1), "training sets per rule-grid cell")
    disagreement_p: int = setting(2, Integer(1), "embedding size of the disagreement cell (one of sizes)")
    descent: DescentConfig = setting(DescentConfig(steps=3000, lr=0.02, init_scale=0.001), None, "gradient descent on L_UCL")
    seeds: int = setting(10, Integer(2), "training sets of the disagreement cell")
    minimal_kept: float = setting(0.5, Real(0, 1, open_lo=True), "kept: ||W v1|| at least this fraction of its value when nothing outranks it")
    gd_tolerance: float = setting(0.1, Real(0, open_lo=True), "package: GD endpoint vs the unique minimiser, ||W v1|| relative to its kept value")
    loss_tolerance: float = setting(1e-3, Real(0, open_lo=True), "package: GD's relative loss gap to the minimum (a family of minimisers)")

    def validate(self) -> None:
        for regime, field in FIELDS.items():
            check_regime(field, getattr(self, field), regime)
        if self.disagreement_p not in self.sizes:
            raise ValueError(f"disagreement_p must be one of sizes {self.sizes}, got {self.disagreement_p}")

    def data(self, regime: str) -> CollapseConfig:
        return getattr(self, FIELDS[regime])


SCALES = {
    "default": Config(),
    "paper": Config(grid_seeds=10, class_variances=(0.5, 0.75, 1.5, 2.0, 2.5, 3.0, 6.0, 12.0),
                    descent=DescentConfig(steps=20000, lr=0.02, init_scale=0.001)),
}


def rule_grid(config: Config, ctx: RunContext) -> list[dict]:
    """Exact ||W* v1|| over (regime, phi_1^2, p): population closed form of the regime's limit and
    training sets; with the predictions of the two rules."""
    rows = []
    for regime in REGIMES:
        for variance in config.class_variances:
            data = config.data(regime).replace(class_strength=float(np.sqrt(variance)))
            seeds = [ctx.seed_for(NAME, "rule", regime, variance, s) for s in range(config.grid_seeds)]
            population, sample = ucl_class_norms(data, config.sizes, seeds, regime)
            exact, kept = {r["p"]: r["population_v1"] for r in population}, kept_class_norm(data, regime)
            rows += [{"kind": "rule", "regime": regime, "class_variance": variance, "seed": r["seed"], "p": r["p"], "kept_value": kept,
                      "population_v1": exact[r["p"]], "sample_v1": r["sample_v1"], **rule_predictions(data, r["p"])} for r in sample]
    return rows


def disagreement(config: Config, ctx: RunContext, regime: str) -> list[dict]:
    """GD from small initialisation against the min-norm minimiser in the disagreement cell, every seed."""
    data = config.data(regime)
    seeds = [ctx.seed_for(NAME, "disagreement", regime, s) for s in range(config.seeds)]
    rows = ucl_descent_against_min_norm(data, config.disagreement_p, config.descent, seeds, ctx.device)
    kept, rules = kept_class_norm(data, regime), rule_predictions(data, config.disagreement_p)
    return [{"kind": "disagreement", "regime": regime, **r, "kept_value": kept, **rules} for r in rows]


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [{"part": "rule"}] + [{"part": "disagreement", "regime": r} for r in REGIMES]
    return ctx.sweep(units, lambda u: rule_grid(config, ctx) if u["part"] == "rule" else disagreement(config, ctx, u["regime"]), desc=NAME)


# ----------------------------------------------------------------------------- verdict


def rule_verdict(rows: list[dict], config: Config) -> tuple[list[Check], list[Claim]]:
    checks, claims = [], []
    for regime in REGIMES:
        tag = f"({regime})"
        grid = select(rows, kind="rule", regime=regime)
        rule = "stated_kept" if regime == "many-dims" else "bias_first_kept"
        closed = [(r["population_v1"] > 0.5 * r["kept_value"]) == r[rule] for r in grid]
        sample = [(r["sample_v1"] > 0.5 * r["kept_value"]) == r[rule] for r in grid]
        checks.append(Check.all_of(f"population min-norm keeps v1 exactly where the {regime} closed form says (cells) {tag}", closed))
        checks.append(Check.all_of(f"training-set min-norm keeps v1 (> half its kept value) where the {regime} closed form says (cells x seeds) {tag}", sample))
        finals = final_rows(select(rows, kind="disagreement", regime=regime))
        kept = finals[0]["kept_value"]
        gap = max(abs(f["gd_v1"] - f["min_norm_v1"]) / kept for f in finals)
        # a unique minimiser (many-views): GD must end at it; a family (many-dims): GD must reach
        # the minimum, and whether it picks the min-norm member is the claim below
        converged = (Check.at_most(f"disagreement cell: GD endpoint vs min-norm, max |d ||W v1|| | / kept value {tag}", gap, config.gd_tolerance)
                     if regime == "many-views" else
                     Check.at_most(f"disagreement cell: GD reaches the minimum value, max relative loss gap {tag}", max(f["loss_gap"] for f in finals), config.loss_tolerance))
        checks.append(converged)
        data = config.data(regime)
        in_regime = regime_check(data, regime)
        disagree = Check.holds("the two rules disagree in this cell", finals[0]["stated_kept"] != finals[0]["bias_first_kept"],
                               f"stated rule: {'kept' if finals[0]['stated_kept'] else 'suppressed'}, bias first: {'kept' if finals[0]['bias_first_kept'] else 'suppressed'}", "different")
        pre = [in_regime, disagree, converged]
        claims.append(Claim.from_mean(
            f"stated-rule-keeps-class {tag}", SOURCE,
            f"||W v1|| = 0 iff phi_1^2 is not among the p largest of (1, phi_1^2, phi_2^2, phi_k^2/(K-2)): at phi_1^2 = {data.class_strength**2:g}, p = {config.disagreement_p} the class is kept",
            [f["min_norm_v1"] / kept for f in finals], "||W* v1|| / its kept value, training set", null=0.0, minimal_effect=config.minimal_kept, preconditions=pre))
        claims.append(Claim.from_mean(
            f"gd-follows-stated-rule {tag}", SOURCE, "gradient descent from small initialisation keeps the class feature in that cell (the simplicity bias)",
            [f["gd_v1"] / kept for f in finals], "||W_GD v1|| / kept value", null=0.0, minimal_effect=config.minimal_kept, preconditions=[in_regime, disagree]))
    return checks, claims


def verdict(rows: list[dict], config: Config) -> Verdict:
    return Verdict(*rule_verdict(rows, config))


# ----------------------------------------------------------------------------- figure


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(config.sizes)))
    variances = list(config.class_variances)
    for ax, regime in zip(axes[:2], REGIMES):
        grid = select(rows, kind="rule", regime=regime)
        for k, (p, color) in enumerate(zip(config.sizes, colors)):
            shift = 0.25 * (k - (len(config.sizes) - 1) / 2)
            cells = sorted(select(grid, p=p, seed=0), key=lambda r: r["class_variance"])
            xs = [variances.index(r["class_variance"]) + shift for r in cells]
            ax.plot(xs, [r["population_v1"] / r["kept_value"] for r in cells], "s", color=color, ms=9, mfc="none", mew=1.5,
                    label=f"p={p}: closed form ({regime} limit)")
            sample = [r for r in grid if r["p"] == p]
            ax.plot([variances.index(r["class_variance"]) + shift for r in sample], [r["sample_v1"] / r["kept_value"] for r in sample], ".",
                    color=color, ms=5, label=f"p={p}: training sets ({config.grid_seeds})")
            ax.plot(xs, [1.12 if r["stated_kept"] else -0.12 for r in cells], "^", color=color, ms=5, mfc="none",
                    label="stated rule: kept (top) / suppressed (bottom)" if k == 0 else None)
        ax.set_xticks(range(len(variances)), [f"{v:g}" for v in variances])
        ax.set(xlabel=f"class variance phi_1^2 (phi_2^2 = {config.many_views.subclass_strength**2:g}, irrelevant {config.many_views.irrelevant_variance:g}; bias 1)",
               ylabel="||W* v1|| / kept value", ylim=(-0.2, 1.2), title=f"{regime}: which rule the min-norm L_UCL minimiser follows")
        ax.legend(fontsize=6, loc="center left")

    ax = axes[2]
    for regime, ls in zip(REGIMES, ("-", "--")):
        trace = select(rows, kind="disagreement", regime=regime)
        kept = trace[0]["kept_value"]
        plot_mean(ax, [{**r, "gd_v1": r["gd_v1"] / kept} for r in trace], "step", "gd_v1", ls, shift=1, color="tab:red", label=f"GD, {regime}")
        ax.axhline(np.mean([r["min_norm_v1"] for r in final_rows(trace)]) / kept, color="black", ls=ls, lw=0.8, label=f"min-norm, {regime}")
    ax.set(xscale="log", xlabel="GD step + 1", ylabel="||W v1|| / kept value (mean over seeds)", ylim=(-0.05, 1.2),
           title=f"disagreement cell phi_1^2 = {config.many_views.class_strength**2:g}, p = {config.disagreement_p}")
    ax.legend(fontsize=7)

    for ax in axes.flat:
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig
