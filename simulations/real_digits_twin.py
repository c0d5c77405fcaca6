"""The synthetic twin of real-digits: the same questions on comb data whose augmentation graph is exact.

Data: comb data (clustertheory.data.comb_dataset) with as many clusters as the digits have
labels (NUM_CLASSES = 10), points_per_cluster natural points each and T teeth; class:
band-limited with bandwidth B. Every (T, B) cell's seeds train in one batched pass with the
training settings of real-digits, and each code is scored: does it keep every cluster whole
(preserves_clusters), and its ARI against the clusters. The exact spectral delta of each cell's
class is 1 for B < T (the class cannot split a cluster without cutting augmentations) and 0 for
B >= T.

Claim: band-limited codes preserve the clusters when B < T and split them when B >= T (Theorem
4.5 on comb data). Package check: the twin is the comb it claims to be (its spectral delta).
The real-digits figure and note read the two side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis import arms
from clustertheory.analysis.metrics import cluster_agreement, preserves_clusters
from clustertheory.analysis.regularity import spectral_delta
from clustertheory.config import Integer, Real, TupleOf, setting
from clustertheory.data import comb_dataset
from clustertheory.data.digits import NUM_CLASSES
from clustertheory.functions.features import fourier_features
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.training import TrainConfig
from clustertheory.training.presets import DIGITS
from clustertheory.training.batched import Member, no_evaluation, train_members

NAME = "real-digits-twin"
SUMMARY = "synthetic twin of real-digits: comb with 10 clusters, teeth T x band-limited B; codes preserve iff B < T, exact spectral delta"
SOURCE = "Parulekar et al. 2023 (InfoNCE provably learns cluster-preserving representations)"


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Comb with NUM_CLASSES clusters x band-limited class; dim and train as in real-digits. The claim threshold is fixed before the run."""

    points_per_cluster: int = setting(4, Integer(2), "natural points per comb cluster")
    teeth: tuple = setting((1, 2, 3), TupleOf(Integer(1), increasing=True), "comb teeth T (intertwining)")
    bandwidths: tuple = setting((0, 1, 2), TupleOf(Integer(0), increasing=True), "bandwidths B of the band-limited class (capacity)")
    dim: int = setting(4, Integer(4, 8), "code dimension d")
    seeds: int = setting(10, Integer(2), "trained members per (T, B) cell")
    train: TrainConfig = DIGITS["default"]
    minimal_gap: float = setting(0.5, Real(0, 1, open_lo=True), "the theory predicts all-or-nothing preservation")


SCALES = {
    "default": Config(),
    "paper": Config(points_per_cluster=6, teeth=(1, 2, 3, 4), bandwidths=(0, 1, 2, 3, 4), seeds=20,
                    train=DIGITS["paper"]),
}


def measure_twin(config: Config, ctx: RunContext) -> list[dict]:
    """Comb data (NUM_CLASSES clusters) x band-limited B, every cell's seeds in one pass; the
    exact spectral delta of each cell."""
    cells = [(t, b) for t in config.teeth for b in config.bandwidths]
    datasets = {t: comb_dataset(NUM_CLASSES, config.points_per_cluster, t, seed=config.seed) for t in config.teeth}
    seeds = [ctx.seed_for("twin-member", k) for k in range(config.seeds)]
    members = [Member("band-limited", datasets[t], config.train, s, {"bandwidth": b}) for t, b in cells for s in seeds]
    codes = train_members(members, config.dim, seed=ctx.seed_for("twin"), device=ctx.device, evaluate=no_evaluation, score_table=True).codes
    rows = []
    for c, (t, b) in enumerate(cells):
        data = datasets[t]
        rows.append({"kind": "twin-class", "teeth": t, "bandwidth": b, "delta": spectral_delta(fourier_features(data, b), data).delta})
        for k in range(config.seeds):
            member = codes[c * config.seeds + k, : data.num_views].astype(np.float64)
            rows.append({"kind": "twin", "teeth": t, "bandwidth": b, "seed_index": k, "preserving": bool(preserves_clusters(member, data, distinct=False)),
                         "ari": cluster_agreement(member, data)["ari"]})
    return rows


def run(config: Config, ctx: RunContext) -> list[dict]:
    return ctx.sweep([{"part": "twin"}], lambda unit: measure_twin(config, ctx), desc=NAME)


def verdict(rows: list[dict], config: Config) -> Verdict:
    twin_off = max(abs(r["delta"] - float(r["bandwidth"] < r["teeth"])) for r in rows if r["kind"] == "twin-class")
    checks = [Check.at_most("twin setting: spectral delta is 1 for B < T and 0 for B >= T (largest deviation)", twin_off, 1e-6)]
    twin = [r for r in rows if r["kind"] == "twin"]
    below = [r for r in twin if r["bandwidth"] < r["teeth"]]
    above = [r for r in twin if r["bandwidth"] >= r["teeth"]]
    sides = [Check.at_least("twin cells with B < T", len(below), 1), Check.at_least("twin cells with B >= T", len(above), 1)]
    statement = "on the synthetic twin, band-limited codes preserve clusters when B < T and split them when B >= T"
    source = SOURCE + ", Thm 4.5 on comb data (package twin)"
    units = "share of cells preserving"
    if below and above:
        share = lambda side: arms.seed_means(twin, "preserving", config.seeds, ("teeth", "bandwidth"), "seed_index", where=side)[0]
        claim = Claim.from_paired("twin-preserves-below-teeth", source, statement, share(lambda r: r["bandwidth"] < r["teeth"]),
                                  share(lambda r: r["bandwidth"] >= r["teeth"]), units, minimal_effect=config.minimal_gap, preconditions=sides)
    else:  # a precondition left one arm empty: no effect can be formed
        claim = Claim.untestable("twin-preserves-below-teeth", source, statement, units, minimal_effect=config.minimal_gap, preconditions=sides)
    return Verdict(checks, [claim])


def plot(rows: list[dict], config: Config):
    """The twin's phase diagram: share of seeds preserving per (T, B), with the exact spectral delta."""
    import matplotlib.pyplot as plt

    from clustertheory.plotting import annotated_heatmap

    fig, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")
    teeth, bands = list(config.teeth), list(config.bandwidths)
    twin = [r for r in rows if r["kind"] == "twin"]
    share = np.array([[np.mean([r["preserving"] for r in twin if r["teeth"] == t and r["bandwidth"] == b]) for b in bands] for t in teeth])
    spectral = {(r["teeth"], r["bandwidth"]): r["delta"] for r in rows if r["kind"] == "twin-class"}
    text = np.array([[f"{share[i, j]:.1f}\ndF {spectral[t, b]:.0f}" for j, b in enumerate(bands)] for i, t in enumerate(teeth)])
    annotated_heatmap(ax, share, [f"B={b}" for b in bands], [f"T={t}" for t in teeth], text=text, vmin=0, vmax=1, fontsize=7)
    ax.set_xlabel("capacity: band-limited bandwidth B")
    ax.set_ylabel("intertwining: teeth T")
    ax.set_title(f"synthetic twin (comb, {NUM_CLASSES} clusters): share of seeds preserving\n(dF = exact spectral delta)", fontsize=9)
    return fig
