"""What gradient training finds on the data of Theorem 4.7: the bounded class keeps clusters, the
unrestricted lookup table does not.

The comb data of theorem-4.7 (2^d balanced clusters of n disjoint augmentation sets; the
band-limited class with B < T is intertwined and realizable on it) train both classes with the
paper's InfoNCE from the same random initialisations, in one batched pass per d: the bounded
band-limited class and the unrestricted lookup table (the theorem's class), with the untrained
tables as a baseline. Every code is measured exactly (cluster purity, exact loss against L*,
least Bayes error of any head). Theorem 4.7 says the unrestricted class has minimisers that mix
clusters; whether training reaches such a minimiser is asked of the tables trained to L*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis.arms import select
from clustertheory.analysis.codes import RealizableComb, code_summaries
from clustertheory.analysis.downstream import code_bayes_summary, vertex_law_rows
from clustertheory.config import Integer, Real, TupleOf, setting
from clustertheory.functions import make_function_class
from clustertheory.plotting import code_strip, vertex_law_heatmap
from clustertheory.statistics import ROUNDING
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.training import TrainConfig
from clustertheory.training.codes import train_codes

NAME = "theorem-4.7-training"
SUMMARY = "on Theorem 4.7's data, trained bounded codes keep clusters and trained lookup tables do not; tables trained to the minimum L* split clusters"

SOURCE = "Parulekar et al. 2023, Theorem 4.7"
TRAINED = ("band-limited", "lookup")


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Settings of the training and of the claims on what it finds."""

    dims: tuple = setting((2, 3), TupleOf(Integer(1, 4), increasing=True), "code dimensions d (m = 2^d clusters)")
    comb: RealizableComb = setting(RealizableComb(points_per_cluster=8), doc="the realizable comb data and the band-limited class")
    seeds: int = setting(10, Integer(2), "trained members per class and d (lookup and band-limited train together)")
    train: TrainConfig = setting(TrainConfig(steps=600, batch_size=128, num_negatives=16, beta=2.0, lr=0.05), doc="training of every member")
    loss_tolerance: float = setting(1e-9, Real(0, open_lo=True), "|L - L*| counted as zero")
    minimal_purity_gain: float = setting(0.25, Real(0, 1), "the least gain in cluster purity (bounded minus unrestricted, trained alike) that counts "
                                        "as \"capacity decides whether training keeps clusters\": a quarter of the range [1/2^d, 1]")
    null_share: float = setting(0.5, Real(0, 1), "share of tables that is no effect (a coin flip)")
    minimal_share: float = setting(0.8, Real(0, 1), "the least share of tables at L* that split clusters that counts")
    min_minimal_tables: int = setting(5, Integer(1), "trained lookup tables at L* needed to test that they split clusters")

    def validate(self) -> None:
        if self.comb.clusters_per_vertex != 1:
            raise ValueError(f"comb.clusters_per_vertex must be 1 (the theorem's 2^d clusters), got {self.comb.clusters_per_vertex}")
        if self.minimal_share < self.null_share:
            raise ValueError(f"minimal_share ({self.minimal_share}) must be >= null_share ({self.null_share})")


SCALES = {
    "default": Config(),
    "paper": Config(dims=(2, 3, 4), comb=RealizableComb(points_per_cluster=16), seeds=32,
                    train=TrainConfig(steps=2000, batch_size=128, num_negatives=16, beta=2.0, lr=0.05)),
}


# ----------------------------------------------------------------------------- measurements


def measure_dimension(d: int, config: Config, ctx: RunContext) -> list[dict]:
    """Trained band-limited and lookup members (one pass) and the lookup tables they start from:
    a "code" row each; "mass" rows (P[g(x) = v | cluster c]) of the first trained table."""
    data = config.comb.dataset(d, config.seed)
    l, beta = config.train.num_negatives, config.train.beta
    init = [ctx.seed_for("member", d, s) for s in range(config.seeds)]
    trained = train_codes(config.comb, data, d, config.train, init, ctx.seed_for("train", d), ctx.device, classes=TRAINED)
    tables = {
        "band-limited": trained[: config.seeds],
        "lookup": trained[config.seeds:],
        "lookup-untrained": make_function_class("lookup", data, d, seeds=init).codes().numpy(),
    }
    rows = []
    for name, table in tables.items():
        table = table.astype(np.float64)
        for member, (codes, summary) in enumerate(zip(table, code_summaries(table, data, l, beta))):
            rows.append({"kind": "code", "representation": name, "member": member, **summary, **code_bayes_summary(codes, data, ROUNDING)})
        if name == "lookup":
            rows += [{"kind": "mass", "representation": name, **cell} for cell in vertex_law_rows(table[0], data)]
    return rows


def run(config: Config, ctx: RunContext) -> list[dict]:
    """Per d: "code" rows (one per code) and "mass" rows (cluster x vertex shares)."""
    return ctx.sweep([{"d": d} for d in config.dims], lambda unit: measure_dimension(unit["d"], config, ctx), desc=NAME)


# ----------------------------------------------------------------------------- verdict


def verdict(rows: list[dict], config: Config) -> Verdict:
    codes = select(rows, kind="code")
    checks = [
        Check.at_least(f"no code below the analytic minimum L* (Theorem 4.5; least exact loss - L* over {len(codes)} codes)",
                       min((r["gap"] for r in codes), default=np.nan), -config.loss_tolerance),
    ]
    bounded, lookup = select(rows, kind="code", representation="band-limited"), select(rows, kind="code", representation="lookup")
    minimal_tables = [r for r in lookup if abs(r["gap"]) <= config.loss_tolerance]
    claims = [
        Claim.from_welch(
            "bounded-keeps-clusters", "package prediction from Theorems 4.5 and 4.7: capacity, not the loss, decides what training keeps",
            "trained alike on the same data, the bounded class keeps clusters whole and the unrestricted lookup table does not",
            [r["min_purity"] for r in bounded], [r["min_purity"] for r in lookup], "least cluster purity, bounded minus lookup",
            null=0.0, minimal_effect=config.minimal_purity_gain, preconditions=[config.comb.intertwined()],
        ),
        Claim.from_proportion(
            "minimal-tables-split", SOURCE + " (applied to what training finds)", "lookup tables trained to the global minimum L* split clusters",
            sum(not r["preserving"] for r in minimal_tables), len(minimal_tables), "share of tables at L*",
            null=config.null_share, minimal_effect=config.minimal_share,
            preconditions=[Check.at_least("trained lookup tables at L*", len(minimal_tables), config.min_minimal_tables)],
        ),
    ]
    return Verdict(checks, claims)


# ----------------------------------------------------------------------------- figure

_STYLE = {"band-limited": ("tab:blue", "o"), "lookup": ("tab:purple", "^"), "lookup-untrained": ("0.55", "v")}


def plot(rows: list[dict], config: Config):
    """Exact gap to L*, least balanced Bayes error and least cluster purity of every code; the
    vertex law of the first trained lookup table."""
    import matplotlib.pyplot as plt

    dims = sorted({r["d"] for r in rows if r["kind"] == "code"})
    fig, axes = plt.subplots(2, 2, figsize=(11, 9), layout="constrained")
    ax = axes[0, 0]
    code_strip(ax, rows, "gap", dims, ["band-limited", "lookup"], _STYLE)
    ax.axhline(0, color="black", lw=0.7)
    ax.set_yscale("symlog", linthresh=1e-6)
    ax.set_ylim(-1e-5, 1.0)
    ax.set_ylabel("exact InfoNCE - analytic minimum L*")
    ax.set_title(f"exact population loss (l={config.train.num_negatives}, beta={config.train.beta:g}) of the trained codes", fontsize=9)
    ax.legend(fontsize=7, loc="center left")
    ax = axes[0, 1]
    code_strip(ax, rows, "bayes_balanced_min", dims, ["band-limited", "lookup", "lookup-untrained"], _STYLE)
    ax.axhline(0.5, color="black", ls=":", lw=0.8)
    ax.set_ylim(-0.03, 0.7)
    ax.set_ylabel("least Bayes error over balanced tasks (exact)")
    ax.set_title("the best error ANY head can reach on the code,\nleast over the balanced cluster-faithful tasks", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=2)
    ax = axes[1, 0]
    code_strip(ax, rows, "min_purity", dims, ["band-limited", "lookup", "lookup-untrained"], _STYLE)
    for i, d in enumerate(dims):
        members = [r for r in select(rows, kind="code", representation="lookup") if r["d"] == d]
        at_minimum = sum(abs(r["gap"]) <= config.loss_tolerance for r in members)
        ax.annotate(f"lookup: {sum(not r['preserving'] for r in members)}/{len(members)} split, {at_minimum} at L*", (i, 1.05), ha="center", fontsize=7)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("least cluster purity of the code")
    ax.set_title(f"trained from random init, same data: bounded class (B={config.comb.bandwidth} < T={config.comb.teeth})\nvs lookup table, and the untrained tables", fontsize=9)
    ax.legend(fontsize=7, loc="center right")
    d = max(dims)
    image = vertex_law_heatmap(axes[1, 1], rows, d, "lookup", f"trained lookup table (member 0), d={d}: P[vertex | cluster]")
    fig.colorbar(image, ax=axes[1, 1], fraction=0.05, label="P[g(x) = v | cluster]")
    fig.suptitle("What training finds on Theorem 4.7's data: the bounded class keeps clusters, the unrestricted lookup table does not", fontsize=11)
    return fig
