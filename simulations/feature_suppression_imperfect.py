"""Feature suppression by imperfect augmentation (Xue et al. 2023): a jittered class coordinate is
suppressed at every embedding size below the number of irrelevant features - exactly, on
training sets, by gradient descent, and with InfoNCE.

Part of the feature-suppression study (simulations/feature_suppression.py: which rule the
min-norm minimiser follows; simulations/feature_suppression_bits.py: shared random bits; all in
paper_notes/feature_suppression.md). Data model of clustertheory.data.collapse with K = 20
features (phi_1^2 = 2, phi_k = 1, sigma = 0.5) and class jitter tau = 1 in the two regimes of
clustertheory.analysis.min_norm: the exact min-norm L_UCL minimiser's ||W* v1|| over p
(population for many-views; training sets), GD from small initialisation at one p, and a
linear encoder trained with InfoNCE with and without the jitter (paired by seed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis.arms import select
from clustertheory.analysis.collapse import (
    final_rows,
    kept_class_norm,
    ucl_class_norms,
    ucl_descent_against_min_norm,
)
from clustertheory.analysis.min_norm import (
    DescentConfig,
    outranking_directions,
    regime_check,
)
from clustertheory.config import Integer, Real, TupleOf, setting
from clustertheory.data.collapse import REGIMES, CollapseConfig, check_regime
from clustertheory.functions.ensemble import EncoderSettings
from clustertheory.plotting import plot_mean, strip_plot
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.training.collapse import infonce_class_probes
from clustertheory.training.fitting import FitConfig

NAME = "feature-suppression-imperfect"
SUMMARY = "imperfect augmentation suppresses the class for every p below the irrelevant features: exact, training sets, GD, InfoNCE"
SOURCE = "Xue et al. 2023 (ICML), feature suppression"
SEEDS_OF = "feature-suppression"  # the seeds' root name: these experiments ran inside feature-suppression, the split left their rows unchanged
FIELDS = {"many-views": "imperfect_views", "many-dims": "imperfect_dims"}


@dataclass(frozen=True)
class Config(SimulationConfig):
    """K = 20 features, phi_1^2 = 2, phi_2 = 0.5, phi_k = 1, sigma = 0.5, class jitter tau = 1.
    "Restored" / learned = class probe of 0.9 (chance 0.5)."""

    imperfect_views: CollapseConfig = setting(
        CollapseConfig(dim=20, num_features=20, num_originals=1000, num_augmentations=2, class_strength=float(np.sqrt(2)),
                       subclass_strength=0.5, irrelevant_strength=1.0, subclass_mean=0.0, noise=0.5, augmentation_noise=1.0),
        None, "data, n m > dim + 1 (also InfoNCE's)")
    imperfect_dims: CollapseConfig = setting(
        CollapseConfig(dim=300, num_features=20, num_originals=75, num_augmentations=2, class_strength=float(np.sqrt(2)),
                       subclass_strength=0.5, irrelevant_strength=1.0, subclass_mean=0.0, noise=0.5, augmentation_noise=1.0),
        None, "data, n m <= dim + 1")
    imperfect_sizes: tuple = setting((2, 5, 10, 19, 20), TupleOf(Integer(1), increasing=True), "embedding sizes p of the exact minimisers")
    imperfect_p: int = setting(5, Integer(1), "embedding size of GD and of the training-set claim (one of imperfect_sizes)")
    imperfect_descent: DescentConfig = setting(DescentConfig(steps=3000, lr=0.05, init_scale=0.001), None, "gradient descent on L_UCL")
    seeds: int = setting(10, Integer(2), "training sets per regime, and InfoNCE seeds per arm")
    infonce_encoder: EncoderSettings = setting(EncoderSettings(out_dim=5, width=1, depth=0, init_scale=1.0), None, "InfoNCE's linear encoder")
    infonce_fit: FitConfig = setting(FitConfig(steps=200, lr=1e-2, optimizer="adam", batch_size=64), None, "InfoNCE training")
    temperature: float = setting(0.2, Real(0, open_lo=True), "InfoNCE temperature")
    probe_examples: int = setting(750, Integer(12), "fresh examples of a probe")
    probe_cs: tuple = setting((1.0,), TupleOf(Real(0, open_lo=True)), "inverse regularisations the probe picks from")
    minimal_probe_gain: float = setting(0.1, Real(0, 1, open_lo=True), "a probe effect (accuracy) counts from this")
    restored_probe: float = setting(0.9, Real(0.5, 1), "package: InfoNCE learns the class without jitter (class probe)")
    minimal_transient: float = setting(0.2, Real(0, open_lo=True), "GD's peak - final ||W_t v1|| that counts as learned, then suppressed")

    def validate(self) -> None:
        for regime, field in FIELDS.items():
            check_regime(field, getattr(self, field), regime)
        if self.imperfect_p not in self.imperfect_sizes:
            raise ValueError(f"imperfect_p must be one of imperfect_sizes {self.imperfect_sizes}, got {self.imperfect_p}")

    def data(self, regime: str) -> CollapseConfig:
        return getattr(self, FIELDS[regime])


SCALES = {
    "default": Config(),
    "paper": Config(imperfect_descent=DescentConfig(steps=20000, lr=0.05, init_scale=0.001),
                    infonce_fit=FitConfig(steps=1000, lr=1e-2, optimizer="adam", batch_size=256)),
}


def imperfect(config: Config, ctx: RunContext, regime: str) -> list[dict]:
    """Imperfect augmentation: exact ||W* v1|| over p (population for many-views, training sets) and GD."""
    data = config.data(regime)
    seeds = [ctx.seed_for(SEEDS_OF, "imperfect", regime, s) for s in range(config.seeds)]
    limit = "many-views" if regime == "many-views" else None  # the many-dims limit needs perfect augmentation
    population, sample = ucl_class_norms(data, config.imperfect_sizes, seeds, limit)
    rows = [{"kind": "imperfect-population", "regime": regime, **r, "outranking": outranking_directions(data)} for r in population]
    rows += [{"kind": "imperfect-sample", "regime": regime, **r} for r in sample]
    gd_seeds = [ctx.seed_for(SEEDS_OF, "imperfect-gd", regime, s) for s in range(config.seeds)]
    gd = ucl_descent_against_min_norm(data, config.imperfect_p, config.imperfect_descent, gd_seeds, ctx.device)
    return rows + [{"kind": "imperfect-gd", "regime": regime, **r} for r in gd]


def infonce_imperfect(config: Config, ctx: RunContext) -> list[dict]:
    """A linear encoder trained with InfoNCE on the imperfect-augmentation data (many-views size),
    with the class jittered (tau) and without (tau = 0); class probe on fresh examples."""
    base = config.imperfect_views
    members = [(name, data, s) for name, data in (("jittered", base), ("perfect", base.replace(augmentation_noise=0.0))) for s in range(config.seeds)]
    seeds = [ctx.seed_for(SEEDS_OF, "infonce", s) for _, _, s in members]  # the two arms share seed s: a paired design
    probes = infonce_class_probes([data for _, data, _ in members], config.infonce_encoder, config.infonce_fit, seeds, config.temperature,
                                  base.replace(num_originals=config.probe_examples), config.probe_cs, ctx.device)
    return [{"kind": "infonce", "arm": name, "seed": s, "probe_class": probe} for (name, _, s), probe in zip(members, probes)]


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [{"part": "imperfect", "regime": r} for r in REGIMES] + [{"part": "infonce"}]
    return ctx.sweep(units, lambda u: imperfect(config, ctx, u["regime"]) if u["part"] == "imperfect" else infonce_imperfect(config, ctx), desc=NAME)


# ----------------------------------------------------------------------------- verdict


def imperfect_verdict(rows: list[dict], config: Config) -> tuple[list[Check], list[Claim]]:
    checks, claims = [], []
    pop = select(rows, kind="imperfect-population")
    below = [r for r in pop if r["p"] < config.imperfect_views.num_features]
    checks.append(Check.all_of("imperfect augmentation, population: the closed form counts K - 1 directions above v1 (p < K)",
                               [r["outranking"] == config.imperfect_views.num_features - 1 for r in pop]))
    for regime in REGIMES:
        tag = f"({regime})"
        data = config.data(regime)
        kept = kept_class_norm(data.replace(augmentation_noise=0.0), "many-views")
        sample = [r for r in select(rows, kind="imperfect-sample", regime=regime) if r["p"] == config.imperfect_p]
        finals = final_rows(select(rows, kind="imperfect-gd", regime=regime))
        traces = {s: [r["gd_v1"] for r in select(rows, kind="imperfect-gd", regime=regime, seed=s)] for s in sorted({r["seed"] for r in finals})}
        in_regime = regime_check(data, regime)
        jittered = Check.above("class jitter tau", data.augmentation_noise, 0.0)
        if regime == "many-views":
            claims.append(Claim.from_exact(
                "imperfect-augmentation-suppresses (population)", SOURCE, "with imperfect augmentation the class feature is suppressed for every p below the number of irrelevant features",
                max(r["population_v1"] for r in below) / kept, "max over p < K of ||W* v1|| / kept value, population", null=1.0, minimal_effect=0.1,
                direction="less", preconditions=[in_regime, jittered]))
        claims.append(Claim.from_mean(
            f"imperfect-augmentation-suppresses {tag}", SOURCE, f"... on training sets, at p = {config.imperfect_p}",
            [r["sample_v1"] / kept for r in sample], "||W* v1|| / kept value, training set", null=1.0, minimal_effect=0.1, direction="less",
            preconditions=[in_regime, jittered]))
        claims.append(Claim.from_mean(
            f"gd-learns-class-then-suppresses {tag}", "our observation on Xue et al.'s model", "GD from small initialisation first learns the class feature, then suppresses it",
            [max(t) - t[-1] for t in traces.values()], "peak - final ||W_t v1||", null=0.0, minimal_effect=config.minimal_transient, preconditions=[in_regime, jittered]))
    perfect, jittered_runs = ([r["probe_class"] for r in sorted(select(rows, kind="infonce", arm=arm), key=lambda r: r["seed"])]
                              for arm in ("perfect", "jittered"))
    learns = Check.at_least("InfoNCE, perfect augmentation: class probe (min over seeds)", min(perfect), config.restored_probe)
    claims.append(Claim.from_paired("infonce-imperfect-augmentation-suppresses", "Xue et al. 2023 (feature suppression 2), with InfoNCE",
                                    f"with a jittered class coordinate InfoNCE (linear encoder, p = {config.infonce_encoder.out_dim}) suppresses the class feature",
                                    perfect, jittered_runs, "class probe, tau = 0 - tau > 0",
                                    minimal_effect=config.minimal_probe_gain, preconditions=[learns]))
    return checks + [learns], claims


def verdict(rows: list[dict], config: Config) -> Verdict:
    return Verdict(*imperfect_verdict(rows, config))


# ----------------------------------------------------------------------------- figure


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4), gridspec_kw={"width_ratios": [1, 1, 0.5]})
    ax = axes[0]
    pop = sorted(select(rows, kind="imperfect-population"), key=lambda r: r["p"])
    ax.plot([r["p"] for r in pop], [r["population_v1"] for r in pop], "k-", label="population (many-views)")
    for regime, color in zip(REGIMES, ("tab:purple", "tab:green")):
        sample = select(rows, kind="imperfect-sample", regime=regime)
        plot_mean(ax, sample, "p", "sample_v1", "o--", color=color, label=f"training sets, {regime}")
        plot_mean(axes[1], select(rows, kind="imperfect-gd", regime=regime), "step", "gd_v1", shift=1, color=color, label=f"GD, {regime}")
    ax.axvline(config.imperfect_views.num_features, color="grey", lw=0.7, ls=":")
    ax.set(xlabel="embedding size p", ylabel="||W* v1||", title=f"imperfect augmentation (tau = {config.imperfect_views.augmentation_noise:g}, K = {config.imperfect_views.num_features})")
    ax.legend(fontsize=7)
    axes[1].set(xscale="log", xlabel="GD step + 1", ylabel="||W_t v1|| (mean over seeds)", title=f"imperfect augmentation, GD p = {config.imperfect_p}: learned, then suppressed")
    axes[1].legend(fontsize=7)

    ax = axes[2]
    values = [[r["probe_class"] for r in select(rows, kind="infonce", arm=arm)] for arm in ("perfect", "jittered")]
    strip_plot(ax, values, ["InfoNCE\nlinear\ntau=0", "InfoNCE\nlinear\njittered"], colors=["tab:orange"] * 2)
    ax.axhline(0.5, color="grey", lw=0.6)
    ax.set(ylabel="class probe, fresh examples", ylim=(0.4, 1.02), title=f"imperfect augmentation with InfoNCE ({config.seeds} seeds)")
    for ax in axes.flat:
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig
