"""Joint loss (Xue et al. 2023): w L_SCL + (1 - w) L_UCL against SCL's collapse and UCL's suppression.

Data: class v_1 (phi_1 = 0.8), a stronger subclass v_2 (phi_2 = 2) and one irrelevant feature
v_3 (phi_3 = 1.25), mu = 0, embedding size p = 3, so that L_SCL keeps v_1 and drops v_2 (class
collapse) and L_UCL keeps v_2, v_3 and the bias and drops v_1 (feature suppression) in both
regimes of clustertheory.analysis.min_norm. The paper: for every SCL weight 0 < w < 1 the
minimum-norm minimiser keeps both v_1 and v_2. Our derivation: in the many-views regime
(n m > dim + 1) v_1 is kept only above a threshold w* = 1 - t_1 / t_3 (the closed form of
``joint_threshold``), in the many-dims regime for every w > 0. Measured over a grid of w
that brackets w*: exactly (population limit of each regime), on training sets, and by
gradient descent (clustertheory.analysis.collapse.joint_weight_sweep). Beyond the spectral
form, w SupCon + (1 - w) InfoNCE: simulations/joint_loss_infonce.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from clustertheory.analysis.arms import select
from clustertheory.analysis.collapse import joint_weight_sweep, kept_fractions
from clustertheory.analysis.min_norm import DescentConfig, joint_threshold, regime_check
from clustertheory.config import Integer, Real, TupleOf, setting
from clustertheory.data.collapse import REGIMES, CollapseConfig, check_regime
from clustertheory.plotting import plot_mean
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict

NAME = "joint-loss"
SUMMARY = "w SCL + (1-w) UCL keeps class and subclass: above a closed-form threshold w* when n m > dim, for every w > 0 when dim > n m"
SOURCE = "Xue et al. 2023 (ICML), joint supervised + unsupervised loss"
FIELDS = {"many-views": "many_views", "many-dims": "many_dims"}
FEATURES = ("v1", "v2", "v3")


@dataclass(frozen=True)
class Config(SimulationConfig):
    """``scl_weights``: the grid of w (0 = UCL, 1 = SCL); the run adds w* -+ ``bracket`` (closed
    form of each regime, clipped to (0, 1)). sigma = 5 keeps the whitened eigenvalues of
    v_1, v_2, v_3 (0.72, 0.94, 0.86 in the many-views limit) apart, so w* = 0.166. The rule
    share 0.9: with 60 cells, 60/60 has the Wilson interval [0.94, 1]."""

    many_views: CollapseConfig = setting(CollapseConfig(dim=100, num_features=3, num_originals=10000, num_augmentations=2, class_strength=0.8,
                                                        subclass_strength=2.0, irrelevant_strength=1.25, subclass_mean=0.0, noise=5.0),
                                         None, "data, n m > dim + 1")
    many_dims: CollapseConfig = setting(CollapseConfig(dim=300, num_features=3, num_originals=75, num_augmentations=2, class_strength=0.8,
                                                       subclass_strength=2.0, irrelevant_strength=1.25, subclass_mean=0.0, noise=5.0),
                                        None, "data, n m <= dim + 1")
    p: int = setting(3, Integer(3), "embedding size")
    scl_weights: tuple = setting((0.0, 0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0), TupleOf(Real(0, 1), min_len=3, increasing=True),
                                 "the grid of SCL weights w, from 0 (UCL) to 1 (SCL)")
    bracket: float = setting(0.05, Real(0, 0.5, open_lo=True), "the run adds w* -+ bracket to the grids")
    gd_weights: tuple = setting((0.0, 0.5, 1.0), TupleOf(Real(0, 1), increasing=True), "weights (from scl_weights) also run by GD and probed")
    descent: DescentConfig = setting(DescentConfig(steps=3000, lr=0.05, init_scale=0.001), None, "gradient descent on the joint loss")
    seeds: int = setting(10, Integer(2), "training sets per regime")
    probe_examples: int = setting(750, Integer(12), "fresh examples of a probe")
    probe_cs: tuple = setting((1.0,), TupleOf(Real(0, open_lo=True)), "inverse regularisations the probe picks from")
    minimal_kept: float = setting(0.1, Real(0, 1, open_lo=True), "kept: this fraction of the norm under the loss that keeps it (SCL v1, UCL v2)")
    minimal_rule_share: float = setting(0.9, Real(0.5, 1), "share of cells away from w* where the threshold rule must hold")
    minimal_gram_gap: float = setting(0.1, Real(0, 1, open_lo=True), "GD ends at the min-norm minimiser: relative Gram gap below this (1: unrelated)")
    gd_tolerance: float = setting(0.05, Real(0, open_lo=True), "package: GD endpoint vs training-set min-norm, absolute on ||W v_j||")
    loss_tolerance: float = setting(1e-3, Real(0, open_lo=True), "package: GD's relative loss gap to the minimum (a family of minimisers)")

    def validate(self) -> None:
        for regime, field in FIELDS.items():
            data = getattr(self, field)
            check_regime(field, data, regime)
            if data.num_augmentations < 2:
                raise ValueError(f"{field}.num_augmentations must be >= 2 (UCL positive pairs), got {data.num_augmentations}")
        grid = self.scl_weights
        if grid[0] != 0.0 or grid[-1] != 1.0 or len(grid) < 3:
            raise ValueError(f"scl_weights must run from 0 (UCL) to 1 (SCL) with a weight in between, got {grid}")
        if not set(self.gd_weights) <= set(self.scl_weights):
            raise ValueError(f"gd_weights must be taken from scl_weights {self.scl_weights}, got {self.gd_weights}")

    def data(self, regime: str) -> CollapseConfig:
        return getattr(self, FIELDS[regime])

    def weights(self, regime: str) -> tuple[float, tuple[float, ...], tuple[float, ...]]:
        """(w*, the grid with w* -+ bracket added, the GD weights with the bracket added)."""
        threshold = joint_threshold(self.data(regime), self.p, regime)
        bracket = tuple(w for w in (threshold - self.bracket, threshold + self.bracket) if 0 < w < 1)
        return threshold, tuple(sorted(set(self.scl_weights) | set(bracket))), tuple(sorted(set(self.gd_weights) | set(bracket)))


SCALES = {
    "default": Config(),
    "paper": Config(
        many_views=CollapseConfig(dim=100, num_features=3, num_originals=50000, num_augmentations=2, class_strength=0.8, subclass_strength=2.0,
                                  irrelevant_strength=1.25, subclass_mean=0.0, noise=5.0),
        scl_weights=(0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 0.75, 0.9, 0.95, 1.0), descent=DescentConfig(steps=10000, lr=0.05, init_scale=0.001),
    ),
}


def weight_sweep(config: Config, regime: str, ctx: RunContext) -> list[dict]:
    """Exact min-norm norms across w (population limit and every training set) and GD at gd weights."""
    threshold, grid, gd_grid = config.weights(regime)
    seeds = [ctx.seed_for(NAME, regime, s) for s in range(config.seeds)]
    return joint_weight_sweep(config.data(regime), regime, config.p, grid, gd_grid, threshold, config.descent, seeds, config.probe_examples,
                              config.probe_cs, ctx.device)


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [{"part": "sweep", "regime": r} for r in REGIMES]
    return ctx.sweep(units, lambda u: weight_sweep(config, u["regime"], ctx), desc=NAME)


# ----------------------------------------------------------------------------- verdict


def regime_verdict(rows: list[dict], config: Config, regime: str) -> tuple[list[Check], list[Claim]]:
    tag = f"({regime})"
    data = config.data(regime)
    threshold, _, gd_grid = config.weights(regime)
    pop, sample, gd = (select(rows, kind=k, regime=regime) for k in ("population", "sample", "gd"))
    in_regime = regime_check(data, regime)
    ends = kept_fractions(pop, "min_norm")
    suppress = Check.at_most(f"UCL (w = 0) suppresses v1 and SCL (w = 1) collapses v2, population {tag}",
                             max(next(v1 for w, v1, _ in ends if w == 0.0), next(v2 for w, _, v2 in ends if w == 1.0)), 1e-9)
    below = [w for w, _, _ in ends if 0 < w < threshold]
    brackets = Check.holds(f"the grid holds weights on both sides of w* = {threshold:.4g} {tag}", bool(below) or threshold == 0,
                           f"{len(below)} weight(s) in (0, w*)", "some weight in (0, w*), or w* = 0")
    index = {(r["seed"], r["scl_weight"]): r for r in sample}
    gd_gap = max(max(abs(g[f"gd_{f}"] - index[(g["seed"], g["scl_weight"])][f"min_norm_{f}"]) for f in ("v1", "v2")) for g in gd)
    # With a unique minimiser (many-views) GD must end at it; with a family (many-dims) it must
    # end at a minimiser, and which one is a claim about its implicit bias, not a package check.
    reaches = (Check.at_most(f"GD endpoint vs training-set min-norm, max |d ||W v_j|| | (w in {gd_grid}) {tag}", gd_gap, config.gd_tolerance)
               if regime == "many-views" else
               Check.at_most(f"GD endpoint reaches the minimum value: max relative loss gap (w in {gd_grid}) {tag}", max(g["loss_gap"] for g in gd), config.loss_tolerance))
    rule = [(v1 >= 0.5) == (w > threshold) for w, v1, _ in kept_fractions(sample, "min_norm") if abs(w - threshold) >= config.bracket and 0 < w < 1]
    pop_rule = [(v1 > 1e-9) == (w > threshold) for w, v1, _ in ends if 0 < w < 1 and abs(w - threshold) >= config.bracket / 2]
    checks = [
        suppress,
        Check.all_of(f"population min-norm keeps v1 exactly above the closed-form w* (grid weights) {tag}", pop_rule),
        reaches,
    ]
    per_seed = {}
    for r, (w, v1, v2) in zip(sample, kept_fractions(sample, "min_norm")):
        if 0 < w < 1:
            per_seed.setdefault(r["seed"], []).append(min(v1, v2))
    claims = [
        Claim.from_exact(f"joint-keeps-both (population) {tag}", SOURCE, "for every 0 < w < 1 the min-norm minimiser of the joint loss keeps v1 and v2",
                         min(min(v1, v2) for w, v1, v2 in ends if 0 < w < 1), "min over the grid of the kept fraction of v1 and v2",
                         null=0.0, minimal_effect=config.minimal_kept, preconditions=[in_regime, suppress, brackets]),
        Claim.from_mean(f"joint-keeps-both (training sets) {tag}", SOURCE, "... on training sets (per seed the smallest kept fraction over 0 < w < 1)",
                        [min(v) for v in per_seed.values()], "min over the grid of the kept fraction of v1 and v2", null=0.0,
                        minimal_effect=config.minimal_kept, preconditions=[in_regime, suppress, brackets]),
        Claim.from_mean(f"gd-selects-min-norm {tag}", SOURCE + ": the simplicity bias (GD from small initialisation picks the minimum-norm minimiser)",
                        "GD from small initialisation ends at the minimum-norm minimiser of the joint loss (0 < w < 1)",
                        [max(g["gram_gap"] for g in gd if g["seed"] == s and 0 < g["scl_weight"] < 1) for s in sorted({g["seed"] for g in gd})],
                        "relative Gram gap on features + bias, worst w per seed", null=1.0, minimal_effect=config.minimal_gram_gap,
                        direction="less", preconditions=[in_regime, reaches]),
        Claim.from_proportion(f"class-kept-iff-above-threshold {tag}", "our closed form (clustertheory.analysis.min_norm.joint_threshold)",
                              f"the min-norm minimiser keeps v1 exactly when w > w* = {threshold:.4g}", sum(rule), len(rule), "share of (w, seed) cells",
                              null=0.5, minimal_effect=config.minimal_rule_share, preconditions=[in_regime]),
    ]
    return checks, claims


def verdict(rows: list[dict], config: Config) -> Verdict:
    parts = [regime_verdict(rows, config, regime) for regime in REGIMES]
    return Verdict([c for checks, _ in parts for c in checks], [c for _, claims in parts for c in claims])


# ----------------------------------------------------------------------------- figure


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.4))
    colors = {"v1": "tab:red", "v2": "tab:blue", "v3": "tab:grey"}
    names = {"v1": "v1 class", "v2": "v2 subclass", "v3": "v3 irrelevant"}
    for ax, regime in zip(axes[:2], REGIMES):
        threshold = config.weights(regime)[0]
        pop = sorted(select(rows, kind="population", regime=regime), key=lambda r: r["scl_weight"])
        for f in FEATURES:
            # the exact curve is drawn in pieces that never bridge the jump at w*
            for side in (lambda w: w <= threshold, lambda w: w > threshold):
                piece = [r for r in pop if side(r["scl_weight"])]
                ax.plot([r["scl_weight"] for r in piece], [r[f"min_norm_{f}"] for r in piece], "-", color=colors[f], lw=1.5,
                        label=f"||W* {names[f]}|| exact" if side(1.0) else None)
            plot_mean(ax, select(rows, kind="sample", regime=regime), "scl_weight", f"min_norm_{f}", "o", color=colors[f], ms=4, mfc="none")
            plot_mean(ax, select(rows, kind="gd", regime=regime), "scl_weight", f"gd_{f}", "x", color=colors[f], ms=8, mew=2)
        ax.axvline(threshold, color="black", ls=":", lw=0.8, label=f"closed-form w* = {threshold:.3g}")
        ax.set(xlabel="SCL weight w (0 = UCL, 1 = SCL)", ylabel="||W v|| (o: training sets, x: GD)",
               title=f"{regime}: min-norm minimiser of w SCL + (1-w) UCL, p = {config.p}")
        ax.legend(fontsize=6)
    ax = axes[2]
    for regime, ls in zip(REGIMES, ("-", "--")):
        sample = [r for r in select(rows, kind="sample", regime=regime) if "probe_class" in r]
        for key, color in (("probe_class", "tab:red"), ("probe_subclass", "tab:blue")):
            plot_mean(ax, sample, "scl_weight", key, ls, marker="o", ms=3, color=color, label=f"{key[6:]}, {regime}")
    ax.axhline(0.5, color="grey", lw=0.6)
    ax.set(xlabel="SCL weight w", ylabel="probe accuracy (fresh examples)", ylim=(0.4, 1.02), title="linear probes on the training-set min-norm embeddings")
    ax.legend(fontsize=6)
    for ax in axes:
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig
