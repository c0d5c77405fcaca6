"""Theorem 4.7: with an unrestricted function class a global minimiser can be useless downstream.

On comb data with 2^d balanced clusters, each made of n disjoint augmentation sets (n a
multiple of 2^d), the code of the theorem's proof sends the augmentation set of natural image i
of cluster c to vertex (c + i) mod 2^d: clean and uniform, so its exact InfoNCE is the minimum
L* of Theorem 4.5 (checked against Monte Carlo, independently of the exact routine), yet every
vertex carries every cluster in equal parts, so on every balanced cluster-faithful task the best
possible head errs with probability exactly 1/2 (the exact Bayes error). What gradient training
finds on the same data (the bounded class against the lookup table) is the simulation
theorem-4.7-training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis.arms import select
from clustertheory.analysis.codes import RealizableComb, code_summaries, crosscheck_method_gap, crosscheck_z, loss_crosscheck
from clustertheory.analysis.downstream import code_bayes_summary, mixing_code, partner_split_code, preserving_code, vertex_law_rows
from clustertheory.config import Integer, OneOf, Real, TupleOf, setting
from clustertheory.plotting import code_strip, vertex_law_heatmap
from clustertheory.statistics import ROUNDING
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.verdict import largest

NAME = "theorem-4.7"
SUMMARY = "unrestricted class: a cluster-mixing code sits at the exact InfoNCE minimum (Monte Carlo agrees) with Bayes error 1/2 on every balanced task"

SOURCE = "Parulekar et al. 2023, Theorem 4.7"
CONSTRUCTIONS = ("mixing", "partner-split")


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Settings of the construction, its exact loss and the checks on it."""

    dims: tuple = setting((2, 3), TupleOf(Integer(1, 4), increasing=True), "code dimensions d (m = 2^d clusters)")
    comb: RealizableComb = setting(RealizableComb(points_per_cluster=8), doc="the realizable comb data and the band-limited class")
    construction: str = setting("mixing", OneOf(*CONSTRUCTIONS), "the hand-built code: mixing (the theorem's), or partner-split "
                                 "(clean and uniform but splitting clusters only in pairs: shows the claim failing)")
    num_negatives: int = setting(16, Integer(1), "l i.i.d. natural-image negatives of the exact loss")
    beta: float = setting(2.0, Real(0, open_lo=True), "inverse temperature of the exact loss")
    mc_samples: int = setting(40000, Integer(2), "Monte Carlo draws behind the independent loss check")
    crosscheck_z: float = setting(4.0, Real(0, open_lo=True), "largest |z| of the Monte Carlo loss check")
    loss_tolerance: float = setting(1e-9, Real(0, open_lo=True), "|L - L*| counted as zero")
    minimal_error: float = setting(0.5 - 1e-9, Real(0, 0.5), "the theorem's bound 1/2 on the error of any head, less rounding")

    def validate(self) -> None:
        if self.comb.clusters_per_vertex != 1:
            raise ValueError(f"comb.clusters_per_vertex must be 1 (the theorem's 2^d clusters), got {self.comb.clusters_per_vertex}")
        for d in self.dims:
            if self.comb.points_per_cluster % 2**d:
                raise ValueError(f"comb.points_per_cluster must be a multiple of 2^d = {2**d} (equal shares), got {self.comb.points_per_cluster}")


SCALES = {
    "default": Config(),
    "paper": Config(dims=(2, 3, 4), comb=RealizableComb(points_per_cluster=16)),
}


# ----------------------------------------------------------------------------- measurements


def measure_dimension(d: int, config: Config, ctx: RunContext) -> list[dict]:
    """The construction and the preserving reference: a "code" row each (summary, Bayes facts,
    loss cross-checks), then its "mass" rows (P[g(x) = v | cluster c])."""
    data = config.comb.dataset(d, config.seed)
    l, beta = config.num_negatives, config.beta
    built = {config.construction: (mixing_code if config.construction == "mixing" else partner_split_code)(data, d),
             "preserving-reference": preserving_code(data, d)}
    rows = []
    for name, codes in built.items():
        codes = codes.astype(np.float64)
        summary = code_summaries(codes[None], data, l, beta)[0]
        crosscheck = loss_crosscheck(codes, data, l, beta, config.mc_samples, seed=ctx.seed_for("mc", d, name))
        rows.append({"kind": "code", "representation": name, "member": 0, **summary, **code_bayes_summary(codes, data, ROUNDING), **crosscheck})
        rows += [{"kind": "mass", "representation": name, **cell} for cell in vertex_law_rows(codes, data)]
    return rows


def run(config: Config, ctx: RunContext) -> list[dict]:
    """Per d: "code" rows (one per code) and "mass" rows (cluster x vertex shares)."""
    return ctx.sweep([{"d": d} for d in config.dims], lambda unit: measure_dimension(unit["d"], config, ctx), desc=NAME)


# ----------------------------------------------------------------------------- verdict


def verdict(rows: list[dict], config: Config) -> Verdict:
    built, reference = select(rows, kind="code", representation=config.construction), select(rows, kind="code", representation="preserving-reference")
    both = built + reference
    checks = [
        Check.at_most("exact loss vs Monte Carlo, construction and preserving code (max |z|)",
                      largest(crosscheck_z(r, r["exact_loss"], ROUNDING) for r in both), config.crosscheck_z),
        Check.at_most("exact loss = multinomial sum = Laplace quadrature (max |diff|)",
                      largest(crosscheck_method_gap(r) for r in both), 1e-9),
        Check.at_most("preserving code: exact loss - analytic L* (max |gap|)", largest(abs(r["gap"]) for r in reference), config.loss_tolerance),
        Check.at_most("preserving code: Bayes error, sup over all tasks", largest(r["bayes_sup"] for r in reference), ROUNDING),
    ]
    minimiser = [
        config.comb.intertwined(),
        Check.at_most(f"{config.construction} code clean (max alignment error)", largest(r["alignment_error"] for r in built), 0.0),
        Check.at_most(f"{config.construction} code uniform (max TV from uniform)", largest(r["tv"] for r in built), ROUNDING),
        Check.at_most(f"{config.construction} code at L* (max |exact loss - L*|)", largest(abs(r["gap"]) for r in built), config.loss_tolerance),
        Check.at_most(f"{config.construction} code at L* by Monte Carlo (max |z|)",
                      largest(crosscheck_z(r, r["minimum"], ROUNDING) for r in built), config.crosscheck_z),
    ]
    claims = [
        Claim.from_exact(
            "minimiser-useless", SOURCE, "an unrestricted global minimiser can mix clusters: the clean uniform mixing code has error >= 1/2 with any head",
            min((r["bayes_balanced_min"] for r in built), default=np.nan), "least Bayes error over balanced tasks and d",
            null=0.0, minimal_effect=config.minimal_error, preconditions=minimiser, n=len(built),
        ),
    ]
    return Verdict(checks, claims)


# ----------------------------------------------------------------------------- figure

_STYLE = {"mixing": ("tab:red", "D"), "partner-split": ("tab:orange", "D"), "preserving-reference": ("tab:green", "s")}


def plot(rows: list[dict], config: Config):
    """Top: exact gap to L* and least balanced Bayes error of both codes; bottom: P[vertex | cluster]."""
    import matplotlib.pyplot as plt

    dims = sorted({r["d"] for r in rows if r["kind"] == "code"})
    built = [config.construction, "preserving-reference"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 9), layout="constrained")
    ax = axes[0, 0]
    code_strip(ax, rows, "gap", dims, built, _STYLE)
    ax.axhline(0, color="black", lw=0.7)
    ax.set_yscale("symlog", linthresh=1e-6)
    ax.set_ylim(-1e-5, 1.0)
    ax.set_ylabel("exact InfoNCE - analytic minimum L*")
    ax.set_title(f"exact population loss (l={config.num_negatives}, beta={config.beta:g}):\n{config.construction} and preserving codes both sit at L*", fontsize=9)
    ax.legend(fontsize=7, loc="center left")
    ax = axes[0, 1]
    code_strip(ax, rows, "bayes_balanced_min", dims, built, _STYLE)
    ax.axhline(0.5, color="black", ls=":", lw=0.8)
    ax.set_ylim(-0.03, 0.7)
    ax.set_ylabel("least Bayes error over balanced tasks (exact)")
    ax.set_title("the best error ANY head can reach on the code,\nleast over the balanced cluster-faithful tasks", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=2)
    d = max(dims)
    image = vertex_law_heatmap(axes[1, 0], rows, d, config.construction, f"{config.construction} code, d={d}: P[vertex | cluster] (mixing: every cell 1/{2**d})")
    vertex_law_heatmap(axes[1, 1], rows, d, "preserving-reference", f"cluster-preserving code, d={d}")
    fig.colorbar(image, ax=axes[1].tolist(), fraction=0.02, label="P[g(x) = v | cluster]")
    fig.suptitle("Theorem 4.7: an unrestricted class has global minimisers that mix clusters (same exact loss, error 1/2 with any head)", fontsize=11)
    return fig
