"""Hard, debiased and synthetic hard negatives on data whose clusters are the latent classes.

Comb data with leak (clustertheory.data.comb_dataset): a positive of base point i is, with
probability ``leak``, a view of another base point of its cluster, so the augmentation graph
joins each cluster into one latent class and a negative from the anchor's cluster is a real
false negative (with leak 0 each base point is its own class and spreading a cluster is the
optimum, not damage). An MLP encoder onto the unit sphere is trained, every seed and method of
one (m, K) cell as one ensemble, with K negatives per anchor taken from P = pool_factor K
candidates drawn from the natural images, never the anchor itself. The ways of using them
(clustertheory.losses.hard_negatives.NEGATIVE_METHODS: plain, debiased with the data's exact
false-negative prior and with an over-estimate, Robinson's hardness weighting without and with
debiasing, with the weights' gradient as in the HCL code or detached, hard selection, and Dong
et al.'s synthetic negatives without and with debiasing) all score K negatives; ``methods``
names the ones trained (by default the eight the claims compare).

Measured per run (clustertheory.training.negatives.train_negative_methods): the false negatives
each loss sees, the share of anchors at the Chuang floor, the negatives' cosine to their anchor,
and what happened to the classes (preserved / merged / split / mixed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis import arms
from clustertheory.analysis.negatives import prior_z_scores
from clustertheory.config import Integer, OneOf, Real, TupleOf, setting
from clustertheory.data import comb_dataset
from clustertheory.functions import EnsembleMLP
from clustertheory.losses.hard_negatives import NEGATIVE_METHODS, SYNTHESIS_MODES
from clustertheory.plotting import count_table, grouped_bars
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.training.fitting import FitConfig
from clustertheory.training.negatives import train_negative_methods

NAME = "hard-negatives"
SUMMARY = "plain / debiased / hard / synthetic negatives where clusters are latent classes: false negatives, floor share, split / merge / preserve"

CELL = ("num_clusters", "num_negatives")
CLAIMED = ("plain", "debiased", "debiased-overestimated", "hard-weight", "hard-debiased", "hard-debiased-detached", "hard-select", "synthetic")


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Comb data (m clusters x points_per_cluster base points x teeth, leaking positives), an
    MLP encoder onto the sphere, its fitting settings (``train``), and the claims' thresholds.

    leak 0.5: any leak > 0 connects a cluster; 0.5 makes class and instance signal equally
    strong. temperature 0.5 and hardness 1 are the defaults of Robinson et al.'s HCL code
    (temperature, beta). overestimate 1.5: 50 % above the truth, the direction that drives
    anchors to the floor of Chuang's estimator. m in {2, 8}, K in {4, 16}: few clusters = many
    false negatives. methods: every one a claim compares must be there (add "synthetic-debiased"
    for Dong et al.'s debiased synthetic negatives, which no claim uses). minimal_cosine,
    minimal_purity and minimal_separation are the smallest effects counted as a paper's (fixed
    before any run): 0.05 of cosine or purity (5 % of the range from orthogonal to identical, or
    of the points k-means places), and 0.05 of separation (the merge detector's own threshold).
    """

    num_clusters: tuple = setting((2, 8), TupleOf(Integer(2), increasing=True), "numbers of clusters m")
    num_negatives: tuple = setting((4, 16), TupleOf(Integer(2), increasing=True), "negatives per anchor K")
    methods: tuple = setting(CLAIMED, TupleOf(OneOf(*NEGATIVE_METHODS), distinct=True), "the methods trained")
    points_per_cluster: int = setting(8, Integer(2), "base points per cluster")
    teeth: int = setting(2, Integer(1), "views per base point (comb teeth)")
    leak: float = setting(0.5, Real(0, 1, open_lo=True, open_hi=True), "probability that a positive is a view of another base point of the cluster")
    obs_dim: int = setting(16, Integer(1), "observation dimension")
    width: int = setting(32, Integer(1), "encoder hidden units per layer")
    depth: int = setting(2, Integer(1), "encoder hidden layers")
    embed_dim: int = setting(8, Integer(2), "embedding dimension (unit sphere)")
    temperature: float = setting(0.5, Real(0, open_lo=True), "temperature of the loss")
    hardness: float = setting(1.0, Real(0, open_lo=True), "hardness beta of the hardness-weighted methods")
    pool_factor: int = setting(4, Integer(2), "candidates per negative (hard selection keeps the hardest 1/pool_factor)")
    overestimate: float = setting(1.5, Real(1, open_lo=True), "factor on the true tau+ of the mis-specified arm")
    synthesis: str = setting("mix-negatives", OneOf(*SYNTHESIS_MODES), "how synthetic negatives are mixed")
    train: FitConfig = FitConfig(steps=300, lr=3e-3, batch_size=64)
    checkpoints: tuple = setting((0, 25, 50, 100, 150, 200, 300), TupleOf(Integer(0), min_len=2, increasing=True),
                                 "steps of the curves; the measurements use those from train.steps / 2 on")
    measure_batch: int = setting(128, Integer(2), "fresh anchors per measurement")
    seeds: int = setting(10, Integer(2), "seeds per method and cell")
    minimal_cosine: float = setting(0.05, Real(0, open_lo=True), "smallest cosine effect counted")
    minimal_purity: float = setting(0.05, Real(0, open_lo=True), "smallest k-means purity effect counted")
    minimal_separation: float = setting(0.05, Real(0, open_lo=True), "smallest closest-pair separation effect counted")
    min_fnr_gain: float = setting(0.05, Real(0, 1, open_lo=True), "smallest false-negative-rate gain for a method to pick false negatives")

    def validate(self) -> None:
        if not set(CLAIMED) <= set(self.methods):
            raise ValueError(f"methods must include every method the claims compare, {CLAIMED}; got {self.methods}")
        if self.checkpoints[0] != 0 or self.checkpoints[-1] != self.train.steps:
            raise ValueError(f"checkpoints must run from 0 to train.steps = {self.train.steps}, got {self.checkpoints}")


SCALES = {
    "default": Config(),
    "paper": Config(num_clusters=(2, 4, 8, 16), num_negatives=(4, 16, 64), points_per_cluster=16, seeds=20,
                    train=FitConfig(steps=1000, lr=3e-3, batch_size=64), checkpoints=(0, 50, 100, 200, 400, 700, 1000)),
}


# ----------------------------------------------------------------------------- one cell


def train_cell(config: Config, units: list[dict], ctx: RunContext) -> list[list[dict]]:
    """One ensemble for the units (method x seed) of one (m, K) cell; rows per unit."""
    m, K = units[0]["num_clusters"], units[0]["num_negatives"]
    datasets = [comb_dataset(m, config.points_per_cluster, config.teeth, leak=config.leak, observation="mlp",
                             obs_dim=config.obs_dim, seed=ctx.seed_for(NAME, m, K, s)) for s in range(config.seeds)]
    seeds = [u["seed"] for u in units]
    encoder = EnsembleMLP(config.obs_dim, config.embed_dim, [ctx.seed_for(NAME, m, K, s) for s in seeds],
                          width=config.width, depth=config.depth, dropout=0.0, normalize=True, device=ctx.device)
    return train_negative_methods(datasets, seeds, [u["method"] for u in units], encoder, config.train, num_negatives=K,
                                  pool_factor=config.pool_factor, temperature=config.temperature, hardness=config.hardness,
                                  overestimate=config.overestimate, synthesis=config.synthesis, checkpoints=config.checkpoints,
                                  measure_batch=config.measure_batch, cell_seed=ctx.seed_for(NAME, m, K), device=ctx.device)


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [{"num_clusters": m, "num_negatives": k, "method": method, "seed": s}
             for m in config.num_clusters for k in config.num_negatives for method in NEGATIVE_METHODS if method in config.methods for s in range(config.seeds)]
    return ctx.sweep_batched(units, lambda u: (u["num_clusters"], u["num_negatives"]), lambda batch: train_cell(config, batch, ctx), desc=NAME)


# ----------------------------------------------------------------------------- verdict

SOURCES = {
    "robinson": "Robinson et al. 2021 (hard negatives, HCL), Sec. 3",
    "chuang": "Chuang et al. 2020 (debiased contrastive learning), Sec. 3",
    "dong": "Dong et al. 2023 (synthetic hard negatives), Sec. 3",
    "ours": "this package's prediction (from the estimator and the HCL code)",
}


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Package checks (the classes are the clusters; uniform negatives carry exactly the prior's
    false negatives) and the papers' claims, each pooled over the (m, K) sweep per seed."""
    finals = arms.select(rows, kind="final")
    z_scores = prior_z_scores(arms.select(finals, method="plain"), CELL)
    checks = [
        Check.all_of("every cluster is one latent class (the augmentation graph joins its base points)", [r["classes"] == r["num_clusters"] for r in finals]),
        Check.at_most("false-negative rate of uniform negatives vs the exact prior (max |z| over cells, binomial se)", float(max(z_scores)), 4.0),
    ]

    def worst(key, method, control=None):  # min over (m, K) cells of the mean over seeds (minus control's)
        return arms.worst_cell(finals, key, CELL, "method", method, control)

    def fnr_gain(method):
        return Check.at_least(f"{method} picks more false negatives than uniform sampling (FNR gain, worst cell)", worst("false_negative_rate", method, "plain"), config.min_fnr_gain)

    def preserved(method):
        runs = arms.select(finals, method=method)
        return Check.at_least(f"{method} keeps the classes (share of runs 'preserved': no merge, no split)", float(np.mean([r["state"] == "preserved" for r in runs])), 0.9)

    def claim(name, source, statement, key, treated, control, units, minimal, direction, preconditions):
        t, c = arms.paired(finals, key, "method", treated, control)
        return Claim.from_paired(name, SOURCES[source], statement, t, c, units, minimal_effect=minimal if direction == "greater" else -minimal,
                                 direction=direction, preconditions=preconditions)

    claims = [
        claim("hard-selection-splits-classes", "robinson", "hard negatives without debiasing push same-class points apart",
              "within", "hard-select", "plain", "within-class cosine, hard-select - plain", config.minimal_cosine, "less", [fnr_gain("hard-select"), preserved("plain")]),
        claim("hard-selection-breaks-classes", "robinson", "hard negatives without debiasing damage the class structure (k-means no longer recovers it)",
              "kmeans_purity", "hard-select", "plain", "k-means purity, hard-select - plain", config.minimal_purity, "less", [fnr_gain("hard-select"), preserved("plain")]),
        claim("debiasing-counters-hardness", "robinson", "debiasing the hardness-weighted loss keeps same-class points together",
              "within", "hard-debiased", "hard-weight", "within-class cosine, hard-debiased - hard-weight", config.minimal_cosine, "greater", [fnr_gain("hard-weight"), preserved("hard-debiased")]),
        claim("hcl-gradient-drifts-classes", "ours", "differentiating through the hardness weights (as the HCL code does) pulls the classes together",
              "between", "hard-debiased", "hard-debiased-detached", "between-class cosine, HCL - detached weights", config.minimal_cosine, "greater", [fnr_gain("hard-debiased-detached")]),
        claim("debiasing-tightens-classes", "chuang", "the debiased loss (true class prior) keeps same-class points closer than InfoNCE",
              "within", "debiased", "plain", "within-class cosine, debiased - plain", config.minimal_cosine, "greater",
              [Check.at_least("uniform negatives hold false negatives (FNR of plain, worst cell)", worst("false_negative_rate", "plain"), 0.1), preserved("debiased")]),
        claim("overestimated-prior-merges", "ours", "an over-estimated tau+ sends anchors to the estimator's floor, where nothing repels, and the classes move together",
              "separation", "debiased-overestimated", "debiased", "closest-pair separation, overestimated - true tau+", config.minimal_separation, "less",
              [Check.at_least("the over-estimate sends more anchors to the floor (floor share gain, worst cell)", worst("floor_share", "debiased-overestimated", "debiased"), 0.1)]),
        claim("synthetic-speeds-separation", "dong", "synthetic hard negatives (mixed from the hardest) separate the classes faster, at equal negative count",
              "separation_area", "synthetic", "plain", "closest-pair separation averaged over the checkpoints, synthetic - plain", config.minimal_separation, "greater",
              [Check.at_least("synthetic negatives are harder than uniform ones (mean cosine to the anchor, gain, worst cell)", worst("negative_cosine", "synthetic", "plain"), 0.1)]),
    ]
    return Verdict(checks, claims)


# ----------------------------------------------------------------------------- figure

COLORS = {"plain": "tab:grey", "debiased": "tab:green", "debiased-overestimated": "yellowgreen", "hard-weight": "tab:orange", "hard-debiased": "tab:brown",
          "hard-debiased-detached": "burlywood", "hard-select": "tab:red", "synthetic": "tab:blue", "synthetic-debiased": "tab:purple"}


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    finals = arms.select(rows, kind="final")
    cells = sorted({tuple(r[c] for c in CELL) for r in finals})
    fig, axes = plt.subplots(2, 5, figsize=(22, 8))
    panels = (("false_negative_rate", "false-negative rate of the negatives seen (dotted: prior)"), ("floor_share", "share of anchors at Chuang's floor"),
              ("within", "within-class cosine (low: split)"), ("between", "between-class cosine (high: drift together)"),
              ("separation", "closest-pair separation (~0: merged)"))
    for ax, (key, title) in zip(axes[0], panels):
        means = {method: arms.cell_means(finals, key, CELL, method=method) for method in config.methods}
        grouped_bars(ax, [f"m={m}, K={k}" for m, k in cells],
                     [(method, [means[method].get(c, np.nan) for c in cells], COLORS[method]) for method in config.methods])
        ax.set_title(title, fontsize=9)
    for c, cell in enumerate(cells):
        prior = next(r["prior"] for r in finals if tuple(r[k] for k in CELL) == cell)
        axes[0, 0].hlines(prior, c - 0.45, c + 0.45, color="black", ls=":", lw=1)
    axes[0, 0].legend(fontsize=6, ncol=2)
    curves = arms.select(rows, kind="curve")
    for ax, cell in zip(axes[1], cells):
        for method in ("plain", "debiased", "hard-select", "hard-debiased", "synthetic"):
            series = [arms.cell_means(curves, "separation", CELL, method=method, step=s).get(cell, np.nan) for s in config.checkpoints]
            ax.plot(config.checkpoints, series, marker="o", ms=3, color=COLORS[method], label=method)
        ax.set(xlabel="training step", title=f"closest-pair separation during training, m={cell[0]}, K={cell[1]}")
        ax.title.set_fontsize(9)
    axes[1, 0].legend(fontsize=7)
    axes[1, 0].set_ylabel("separation of the closest class pair")
    states = ("preserved", "merged", "split", "mixed")
    counts = [[sum(r["state"] == s for r in finals if r["method"] == method) for s in states] for method in config.methods]
    count_table(axes[1, -1], "method", list(config.methods), list(states), counts)
    axes[1, -1].set_title(f"final state of the classes (runs over all cells); k-means purity min {min(r['kmeans_purity'] for r in finals):.2f}", fontsize=9)
    fig.suptitle(f"Hard, debiased and synthetic negatives on comb data with leak {config.leak} (clusters = latent classes), t={config.temperature}, "
                 f"hardness={config.hardness}, {config.seeds} seeds", fontsize=11)
    fig.tight_layout()
    return fig
