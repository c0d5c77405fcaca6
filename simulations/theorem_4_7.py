"""Theorem 4.7: with an unrestricted function class a global minimiser can be useless downstream.

On comb data with 2^d balanced clusters, each made of n disjoint augmentation sets (n a
multiple of 2^d), the code of the theorem's proof sends the augmentation set of natural image i
of cluster c to vertex (c + i) mod 2^d: clean and uniform, so its exact InfoNCE is the minimum
L* of Theorem 4.5 (checked against Monte Carlo, independently of the exact routine), yet every
vertex carries every cluster in equal parts, so on every balanced cluster-faithful task the best
possible head errs with probability exactly 1/2 (the exact Bayes error). The same data also
train both classes from random initialisations: the bounded band-limited class (B < T) and the
unrestricted lookup table (the theorem's class), with untrained tables as a baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis.codes import RealizableComb, code_summaries, loss_crosscheck
from clustertheory.analysis.downstream import (
    all_tasks,
    bayes_errors,
    cluster_vertex_mass,
    mixing_code,
    natural_view_weights,
    partner_split_code,
    preserving_code,
)
from clustertheory.config import Integer, OneOf, Real, TupleOf
from clustertheory.functions import make_function_class
from clustertheory.plotting import annotated_heatmap
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.statistics import z_score
from clustertheory.training import TrainConfig
from clustertheory.training.batched import Member, train_members

NAME = "theorem-4.7"
SUMMARY = "unrestricted class: a cluster-mixing code sits at the exact InfoNCE minimum (Monte Carlo agrees) with Bayes error 1/2 on every balanced task; trained bounded codes keep clusters, trained lookup tables do not"

SOURCE = "Parulekar et al. 2023, Theorem 4.7"
CONSTRUCTIONS = ("mixing", "partner-split")
TRAINED = ("band-limited", "lookup")
ROUNDING = 1e-12  # float64 rounding of exact sums of weights (TV, alignment, Bayes error, MC standard error floor)


@dataclass(frozen=True)
class Config(SimulationConfig):
    """dims: code dimensions d (m = 2^d clusters; comb.points_per_cluster a multiple of 2^d).
    construction: the hand-built code held against the theorem ("mixing" is the theorem's;
    "partner-split", clean and uniform but splitting clusters only in pairs, shows the claim
    failing). seeds: trained members per class and d (lookup and band-limited train together).
    mc_samples, crosscheck_z: Monte Carlo draws behind the independent loss check and its
    allowed |z|. loss_tolerance: |L - L*| counted as zero.
    minimal_error: the theorem's bound 1/2 on the error of any head, less rounding.
    minimal_purity_gain: the least difference in cluster purity (bounded minus unrestricted,
    trained alike) that counts as "capacity decides whether training keeps clusters": a
    quarter of the range [1/2^d, 1]. null_share / minimal_share / min_minimal_tables: for the
    share of trained tables at L* that split clusters (a coin flip is no effect; 0.8 the
    least share that counts; tables at L* needed to test it)."""

    dims: tuple = (2, 3)
    comb: RealizableComb = RealizableComb(points_per_cluster=8)
    construction: str = "mixing"
    seeds: int = 10
    train: TrainConfig = TrainConfig(steps=600, batch_size=128, num_negatives=16, beta=2.0, lr=0.05)
    mc_samples: int = 40000
    crosscheck_z: float = 4.0
    loss_tolerance: float = 1e-9
    minimal_error: float = 0.5 - 1e-9
    minimal_purity_gain: float = 0.25
    null_share: float = 0.5
    minimal_share: float = 0.8
    min_minimal_tables: int = 5

    constraints = {
        "dims": TupleOf(Integer(1, 4), increasing=True),
        "construction": OneOf(*CONSTRUCTIONS),
        "seeds": Integer(2),
        "mc_samples": Integer(2),
        "crosscheck_z": Real(0, open_lo=True),
        "loss_tolerance": Real(0, open_lo=True),
        "minimal_error": Real(0, 0.5),
        "minimal_purity_gain": Real(0, 1),
        "null_share": Real(0, 1),
        "minimal_share": Real(0, 1),
        "min_minimal_tables": Integer(1),
    }

    def validate(self) -> None:
        if self.comb.clusters_per_vertex != 1:
            raise ValueError(f"comb.clusters_per_vertex must be 1 (the theorem's 2^d clusters), got {self.comb.clusters_per_vertex}")
        for d in self.dims:
            if self.comb.points_per_cluster % 2**d:
                raise ValueError(f"comb.points_per_cluster must be a multiple of 2^d = {2**d} (equal shares), got {self.comb.points_per_cluster}")
        if self.minimal_share < self.null_share:
            raise ValueError(f"minimal_share ({self.minimal_share}) must be >= null_share ({self.null_share})")


SCALES = {
    "default": Config(),
    "paper": Config(dims=(2, 3, 4), comb=RealizableComb(points_per_cluster=16), seeds=32,
                    train=TrainConfig(steps=2000, batch_size=128, num_negatives=16, beta=2.0, lr=0.05)),
}


# ----------------------------------------------------------------------------- measurements


def _downstream(codes: np.ndarray, data) -> dict:
    """Exact Bayes errors (any head) and how the natural mass of clusters spreads over vertices."""
    tasks = all_tasks(data.num_clusters)
    balanced = tasks[tasks.sum(axis=1) == 0]
    shares = cluster_vertex_mass(codes, data, weights=natural_view_weights(data))
    return {
        "bayes_balanced_min": float(bayes_errors(codes, data, balanced).min()),
        "bayes_sup": float(bayes_errors(codes, data, tasks).max()),
        "vertices_per_cluster": float((shares > ROUNDING).sum(axis=1).mean()),
        "share_deviation": float(np.abs(shares - data.cluster_weight[:, None] / shares.shape[1]).max()),
    }


def _mass_rows(codes: np.ndarray, data, representation: str) -> list[dict]:
    """One row per (cluster, vertex): P[g(x) = v | cluster c] over natural images."""
    mass = cluster_vertex_mass(codes, data, weights=natural_view_weights(data)) / data.cluster_weight[:, None]
    return [{"kind": "mass", "representation": representation, "cluster": c, "vertex": v, "mass": float(mass[c, v])}
            for c in range(mass.shape[0]) for v in range(mass.shape[1])]


def measure_dimension(d: int, config: Config, ctx: RunContext) -> list[dict]:
    """The construction and the preserving reference (with loss cross-checks); trained
    band-limited and lookup members (one pass) and the lookup tables they start from."""
    data = config.comb.dataset(d, config.seed)
    l, beta = config.train.num_negatives, config.train.beta
    built = {config.construction: (mixing_code if config.construction == "mixing" else partner_split_code)(data, d),
             "preserving-reference": preserving_code(data, d)}
    init = [ctx.seed_for("member", d, s) for s in range(config.seeds)]
    members = [Member("band-limited", data, config.train, s, config.comb.class_options()) for s in init]
    members += [Member("lookup", data, config.train, s) for s in init]
    trained = train_members(members, d, seed=ctx.seed_for("train", d), device=ctx.device, evaluate=lambda c: [{} for _ in c], score_table=True).codes
    tables = {
        **{name: codes[None] for name, codes in built.items()},
        "band-limited": trained[: config.seeds],
        "lookup": trained[config.seeds:],
        "lookup-untrained": make_function_class("lookup", data, d, seeds=init).codes().numpy(),
    }
    rows = []
    for name, table in tables.items():
        table = table.astype(np.float64)
        for member, (codes, summary) in enumerate(zip(table, code_summaries(table, data, l, beta))):
            row = {"kind": "code", "representation": name, "member": member, **summary, **_downstream(codes, data)}
            if name in built:
                row.update(loss_crosscheck(codes, data, l, beta, config.mc_samples, seed=ctx.seed_for("mc", d, name)))
            rows.append(row)
        if name in built or name == "lookup":
            rows += _mass_rows(table[0], data, name)
    return rows


def run(config: Config, ctx: RunContext) -> list[dict]:
    """Per d: "code" rows (one per code) and "mass" rows (cluster x vertex shares)."""
    return ctx.sweep([{"d": d} for d in config.dims], lambda unit: measure_dimension(unit["d"], config, ctx), desc=NAME)


# ----------------------------------------------------------------------------- verdict


def _codes(rows: list[dict], representation: str) -> list[dict]:
    return [r for r in rows if r["kind"] == "code" and r["representation"] == representation]


def _mc_z(row: dict, reference: float) -> float:
    return abs(z_score(row["loss_mc"], reference, max(row["loss_mc_se"], ROUNDING)))


def verdict(rows: list[dict], config: Config) -> Verdict:
    built, reference = _codes(rows, config.construction), _codes(rows, "preserving-reference")
    both = built + reference
    checks = [
        Check.at_most("exact loss vs Monte Carlo, construction and preserving code (max |z|)", max((_mc_z(r, r["exact_loss"]) for r in both), default=np.nan), config.crosscheck_z),
        Check.at_most("exact loss = multinomial sum = Laplace quadrature (max |diff|)",
                      max((np.nanmax([abs(r["exact_loss"] - r["loss_multinomial"]), abs(r["exact_loss"] - r["loss_laplace"])]) for r in both), default=np.nan), 1e-9),
        Check.at_most("preserving code: exact loss - analytic L* (max |gap|)", max((abs(r["gap"]) for r in reference), default=np.nan), config.loss_tolerance),
        Check.at_most("preserving code: Bayes error, sup over all tasks", max((r["bayes_sup"] for r in reference), default=np.nan), ROUNDING),
    ]
    minimiser = [
        config.comb.intertwined(),
        Check.at_most(f"{config.construction} code clean (max alignment error)", max((r["alignment_error"] for r in built), default=np.nan), 0.0),
        Check.at_most(f"{config.construction} code uniform (max TV from uniform)", max((r["tv"] for r in built), default=np.nan), ROUNDING),
        Check.at_most(f"{config.construction} code at L* (max |exact loss - L*|)", max((abs(r["gap"]) for r in built), default=np.nan), config.loss_tolerance),
        Check.at_most(f"{config.construction} code at L* by Monte Carlo (max |z|)", max((_mc_z(r, r["minimum"]) for r in built), default=np.nan), config.crosscheck_z),
    ]
    bounded, lookup = _codes(rows, "band-limited"), _codes(rows, "lookup")
    minimal_tables = [r for r in lookup if abs(r["gap"]) <= config.loss_tolerance]
    claims = [
        Claim.from_exact(
            "minimiser-useless", SOURCE, "an unrestricted global minimiser can mix clusters: the clean uniform mixing code has error >= 1/2 with any head",
            min((r["bayes_balanced_min"] for r in built), default=np.nan), "least Bayes error over balanced tasks and d",
            null=0.0, minimal_effect=config.minimal_error, preconditions=minimiser, n=len(built),
        ),
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

_STYLE = {
    "mixing": ("tab:red", "D"), "partner-split": ("tab:orange", "D"), "preserving-reference": ("tab:green", "s"),
    "band-limited": ("tab:blue", "o"), "lookup": ("tab:purple", "^"), "lookup-untrained": ("0.55", "v"),
}


def _strip(ax, rows: list[dict], dims: list[int], key: str, representations: list[str]) -> None:
    """One column of points per (d, representation), members spread sideways."""
    width = 0.8 / len(representations)
    for j, name in enumerate(representations):
        colour, marker = _STYLE[name]
        for i, d in enumerate(dims):
            values = [r[key] for r in _codes(rows, name) if r["d"] == d]
            x = i + (j - (len(representations) - 1) / 2) * width + np.linspace(-0.3, 0.3, len(values)) * width
            ax.plot(x, values, marker, color=colour, ms=5, alpha=0.8, ls="none", label=name if i == 0 else None)
    ax.set_xticks(range(len(dims)), [f"d={d}, m={2**d}" for d in dims])


def _heatmap(ax, rows: list[dict], d: int, representation: str, title: str):
    cells = [r for r in rows if r["kind"] == "mass" and r["d"] == d and r["representation"] == representation]
    m, V = 2**d, 2**d
    mass = np.zeros((m, V))
    for r in cells:
        mass[r["cluster"], r["vertex"]] = r["mass"]
    text = np.vectorize(lambda x: f"{x:.2f}" if x > 0 else "")(mass) if m <= 4 else None
    image = annotated_heatmap(ax, mass, range(V), range(m), text=text, vmin=0, vmax=1)
    ax.set(xlabel="vertex of g(x)", ylabel="cluster")
    ax.set_title(title, fontsize=9)
    return image


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    dims = sorted({r["d"] for r in rows if r["kind"] == "code"})
    built = [config.construction, "preserving-reference"]
    fig, axes = plt.subplots(2, 3, figsize=(16, 9), layout="constrained")
    ax = axes[0, 0]
    _strip(ax, rows, dims, "gap", built + ["band-limited", "lookup"])
    ax.axhline(0, color="black", lw=0.7)
    ax.set_yscale("symlog", linthresh=1e-6)
    ax.set_ylim(-1e-5, 1.0)
    ax.set_ylabel("exact InfoNCE - analytic minimum L*")
    ax.set_title(f"exact population loss (l={config.train.num_negatives}, beta={config.train.beta:g}):\n{config.construction} and preserving codes both sit at L*", fontsize=9)
    ax.legend(fontsize=7, loc="center left")
    ax = axes[0, 1]
    _strip(ax, rows, dims, "bayes_balanced_min", built + ["band-limited", "lookup", "lookup-untrained"])
    ax.axhline(0.5, color="black", ls=":", lw=0.8)
    ax.set_ylim(-0.03, 0.7)
    ax.set_ylabel("least Bayes error over balanced tasks (exact)")
    ax.set_title("the best error ANY head can reach on the code,\nleast over the balanced cluster-faithful tasks", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=2)
    ax = axes[0, 2]
    _strip(ax, rows, dims, "min_purity", ["band-limited", "lookup", "lookup-untrained"])
    for i, d in enumerate(dims):
        members = [r for r in _codes(rows, "lookup") if r["d"] == d]
        at_minimum = sum(abs(r["gap"]) <= config.loss_tolerance for r in members)
        ax.annotate(f"lookup: {sum(not r['preserving'] for r in members)}/{len(members)} split, {at_minimum} at L*", (i, 1.05), ha="center", fontsize=7)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("least cluster purity of the code")
    ax.set_title(f"trained from random init, same data: bounded class (B={config.comb.bandwidth} < T={config.comb.teeth})\nvs lookup table, and the untrained tables", fontsize=9)
    ax.legend(fontsize=7, loc="center right")
    d = max(dims)
    image = _heatmap(axes[1, 0], rows, d, config.construction, f"{config.construction} code, d={d}: P[vertex | cluster] (mixing: every cell 1/{2**d})")
    _heatmap(axes[1, 1], rows, d, "preserving-reference", f"cluster-preserving code, d={d}")
    _heatmap(axes[1, 2], rows, d, "lookup", f"trained lookup table (member 0), d={d}")
    fig.colorbar(image, ax=axes[1].tolist(), fraction=0.02, label="P[g(x) = v | cluster]")
    fig.suptitle("Theorem 4.7: an unrestricted class has global minimisers that mix clusters (same exact loss, error 1/2 with any head)", fontsize=11)
    return fig
