"""Theorem 4.7: with an unrestricted function class a global minimiser can be useless downstream.

On comb data with 2^d balanced clusters, each made of many disjoint augmentation sets
(n natural images per cluster, n a multiple of 2^d), the code of the theorem's proof sends the
whole augmentation set of natural image i of cluster c to vertex (c + i) mod 2^d: every
vertex receives an equal share of every cluster. The code is clean (constant on every
augmentation set) and uniform, so its exact population InfoNCE equals that of the
cluster-preserving minimiser (and the analytic minimum of Theorem 4.5); yet every vertex
carries every cluster in equal parts, so on any balanced cluster-faithful task the best
possible head - any function of the code - errs with probability exactly 1/2 (computed
exactly: per vertex, the minority label mass). The same data defeat training too: the
unrestricted lookup-table class trained from random initialisations splits clusters, while
the band-limited class (B < T) on the same data preserves them in every seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis.downstream import (
    HeadConfig,
    all_tasks,
    bayes_errors,
    cluster_vertex_mass,
    fit_heads,
    mixing_code,
    partner_split_code,
    preserves_clusters_on_views,
    preserving_code,
    split_views,
)
from clustertheory.analysis.exact_loss import population_infonce, uniform_minimum
from clustertheory.analysis.metrics import (
    alignment_error,
    cluster_purity,
    natural_vertex_law,
    uniformity,
)
from clustertheory.config import (
    check_in,
    check_int_range,
    check_nonneg_int,
    check_positive,
    check_positive_int,
)
from clustertheory.data import comb_dataset
from clustertheory.functions import make_function_class
from clustertheory.simulation import Check, RunContext, SimulationConfig, Verdict
from clustertheory.training import TrainConfig, train

NAME = "theorem-4.7"
SUMMARY = "unrestricted class: a cluster-mixing code has the minimal exact loss but Bayes error 1/2; trained lookup tables split clusters"

CONSTRUCTIONS = ("mixing", "partner-split", "preserving")
TRAINED = ("lookup", "band-limited")
LOSS_TOLERANCE = 1e-9  # |exact loss difference| counted as equal


@dataclass(frozen=True)
class Config(SimulationConfig):
    """dims: code dimensions d (m = 2^d clusters); comb data with points_per_cluster natural
    images per cluster (a multiple of 2^d) and ``teeth`` teeth per augmentation set.

    construction: the hand-built code held against the theorem ("mixing" is the theorem's;
    "partner-split" and "preserving" exist to show the verdict failing).
    seeds: trained members per class; steps, num_negatives, beta: the package trainer;
    bandwidth: B of the bounded (band-limited) class.
    head_steps, head_restarts: ReLU heads (2^d neurons) trained on the balanced tasks.
    """

    dims: tuple = (2, 3)
    points_per_cluster: int = 8
    teeth: int = 5
    construction: str = "mixing"
    seeds: int = 8
    steps: int = 600
    num_negatives: int = 16
    beta: float = 2.0
    bandwidth: int = 2
    head_steps: int = 300
    head_restarts: int = 4

    def validate(self) -> None:
        if not self.dims:
            raise ValueError("dims must hold at least one d")
        for d in self.dims:
            check_int_range("dims", d, 1, 4)  # 2^m - 2 tasks with m = 2^d clusters
            if self.points_per_cluster % 2**d:
                raise ValueError(f"points_per_cluster must be a multiple of 2^d = {2**d} (equal shares), got {self.points_per_cluster}")
        check_positive_int("points_per_cluster", self.points_per_cluster)
        check_positive_int("teeth", self.teeth)
        check_in("construction", self.construction, CONSTRUCTIONS)
        check_positive_int("seeds", self.seeds)
        check_positive_int("steps", self.steps)
        check_positive_int("num_negatives", self.num_negatives)
        check_positive("beta", self.beta)
        check_nonneg_int("bandwidth", self.bandwidth)
        check_positive_int("head_steps", self.head_steps)
        check_positive_int("head_restarts", self.head_restarts)


SCALES = {
    "default": Config(),
    "paper": Config(dims=(2, 3, 4), points_per_cluster=16, seeds=32, steps=1000),
}


# ----------------------------------------------------------------------------- measurements


def _construction(name: str, data, d: int) -> np.ndarray:
    if name == "mixing":
        return mixing_code(data, d)
    if name == "partner-split":
        return partner_split_code(data, d)
    return preserving_code(data, d)


def _natural_weights(data) -> np.ndarray:
    """(V,) the natural law D_o on views (zero on augmented-only views)."""
    weights = np.zeros(data.num_views)
    np.add.at(weights, data.base_view, data.base_weight)
    return weights


def _code_row(codes: np.ndarray, data, d: int, config: Config, seed: int | None, device) -> dict:
    """Cleanliness, uniformity, shares, exact loss, exact Bayes errors and (seed given) trained
    ReLU heads (2^d neurons) on the balanced tasks: mean and least test error."""
    tasks = all_tasks(data.num_clusters)
    balanced = tasks[tasks.sum(axis=1) == 0]
    shares = cluster_vertex_mass(codes, data, weights=_natural_weights(data))  # (m, 2^d) natural mass
    equal = data.cluster_weight[:, None] / 2**d
    bayes_all = bayes_errors(codes, data, tasks)
    bayes_balanced = bayes_errors(codes, data, balanced)
    relu = {"relu_balanced_test_min": float("nan"), "relu_balanced_test_mean": float("nan")}
    if seed is not None:
        heads = fit_heads(
            codes, data, balanced, split_views(data, seed=seed), HeadConfig("relu", restarts=config.head_restarts, steps=config.head_steps), seed=seed, device=device
        )
        relu = {"relu_balanced_test_min": float(heads.test_error.min()), "relu_balanced_test_mean": float(heads.test_error.mean())}
    loss = population_infonce(codes, data, config.num_negatives, config.beta)
    minimum = uniform_minimum(d, config.num_negatives, config.beta)
    return {
        "preserving": preserves_clusters_on_views(codes, data),
        "min_purity": float(np.nanmin(cluster_purity(codes, data))),
        "vertices_per_cluster": float(((shares > 0).sum(axis=1)).mean()),
        "alignment_error": alignment_error(codes, data),
        "tv_uniform": uniformity(natural_vertex_law(codes, data))["tv"],
        "share_deviation": float(np.abs(shares - equal).max()),
        "loss": loss,
        "uniform_minimum": minimum,
        "loss_excess": loss - minimum,
        "bayes_sup": float(bayes_all.max()),
        "bayes_mean": float(bayes_all.mean()),
        "bayes_balanced_min": float(bayes_balanced.min()),
        "bayes_balanced_mean": float(bayes_balanced.mean()),
        "balanced_tasks": len(balanced),
        **relu,
    }


def _mass_rows(codes: np.ndarray, data, representation: str) -> list[dict]:
    """One row per (cluster, vertex): the natural mass of cluster c on vertex v."""
    mass = cluster_vertex_mass(codes, data, weights=_natural_weights(data))
    return [
        {"kind": "mass", "representation": representation, "cluster": c, "vertex": v, "mass": float(mass[c, v])}
        for c in range(mass.shape[0])
        for v in range(mass.shape[1])
    ]


def run(config: Config, ctx: RunContext) -> list[dict]:
    """For every d: the construction and the cluster-preserving code; trained lookup and
    band-limited members (one ensemble each)."""
    units = [{"d": d, "part": part} for d in config.dims for part in ("constructions",) + TRAINED]

    def measure(unit: dict) -> list[dict]:
        d, part = unit["d"], unit["part"]
        data = comb_dataset(2**d, config.points_per_cluster, config.teeth)
        if part == "constructions":
            rows = []
            for name, codes in ((config.construction, _construction(config.construction, data, d)), ("preserving-reference", preserving_code(data, d))):
                rows.append({"kind": "code", "representation": name, "member": 0, **_code_row(codes, data, d, config, ctx.seed_for("heads", d, name), ctx.device)})
                rows += _mass_rows(codes, data, name)
            return rows
        seed = ctx.seed_for("train", d, part)
        model = make_function_class(part, data, d, seeds=[seed + e for e in range(config.seeds)], device=ctx.device, bandwidth=config.bandwidth)
        codes = train(model, data, TrainConfig(steps=config.steps, num_negatives=config.num_negatives, beta=config.beta), seed=seed).codes
        rows = []
        for member, member_codes in enumerate(codes.astype(np.float64)):
            rows.append({"kind": "code", "representation": part, "member": member, **_code_row(member_codes, data, d, config, None, ctx.device)})
        rows += _mass_rows(codes[0].astype(np.float64), data, part)
        return rows

    return ctx.sweep(units, measure, desc="theorem-4.7")


# ----------------------------------------------------------------------------- verdict


def _codes(rows: list[dict], representation: str) -> list[dict]:
    return [r for r in rows if r.get("kind") == "code" and r["representation"] == representation]


def verdict(rows: list[dict], config: Config) -> Verdict:
    """The construction is a clean uniform minimiser with Bayes error 1/2 on balanced tasks;
    the bounded class preserves clusters; trained lookup tables split them."""
    built = _codes(rows, config.construction)
    reference = {r["d"]: r for r in _codes(rows, "preserving-reference")}
    lookup, bounded = _codes(rows, "lookup"), _codes(rows, "band-limited")

    alignment = max((r["alignment_error"] for r in built), default=np.inf)
    tv = max((r["tv_uniform"] for r in built), default=np.inf)
    shares = max((r["share_deviation"] for r in built), default=np.inf)
    loss_gap = max((abs(r["loss"] - reference[r["d"]]["loss"]) for r in built if r["d"] in reference), default=np.inf)
    minimum_gap = max((abs(r["loss_excess"]) for r in built + list(reference.values())), default=np.inf)
    bayes = min((r["bayes_balanced_min"] for r in built), default=0.0)
    reference_bayes = max((r["bayes_sup"] for r in reference.values()), default=np.inf)
    bounded_split = sum(not r["preserving"] for r in bounded)
    lookup_split = sum(not r["preserving"] for r in lookup)
    checks = [
        Check(f"{config.construction} code is clean (max alignment error) and uniform (max TV)", (alignment, tv), "(0, 0)", alignment == 0 and tv <= 1e-12),
        Check(f"{config.construction} code: every vertex holds 1/2^d of every cluster (max deviation)", shares, "0", shares <= 1e-12),
        Check(f"|exact loss({config.construction}) - exact loss(cluster-preserving)|", loss_gap, f"<= {LOSS_TOLERANCE:g}", loss_gap <= LOSS_TOLERANCE),
        Check("both at the analytic minimum of Theorem 4.5 (max |loss - L*|)", minimum_gap, f"<= {LOSS_TOLERANCE:g}", minimum_gap <= LOSS_TOLERANCE),
        Check(f"{config.construction} code: least Bayes error over balanced tasks (any head)", bayes, ">= 0.5", bool(built) and bayes >= 0.5 - 1e-12),
        Check("cluster-preserving code: sup Bayes error over all tasks", reference_bayes, "0", reference_bayes <= 1e-12),
        Check(f"bounded class (band-limited, B={config.bandwidth} < T={config.teeth}) seeds that split clusters", f"{bounded_split} of {len(bounded)}", "0", bool(bounded) and bounded_split == 0),
        Check("unrestricted lookup tables (random init) that split clusters", f"{lookup_split} of {len(lookup)}", "> 0", lookup_split > 0),
    ]
    return Verdict(checks)


# ----------------------------------------------------------------------------- figure

_STYLE = {
    "mixing": ("tab:red", "D"),
    "partner-split": ("tab:orange", "D"),
    "preserving": ("tab:green", "D"),
    "preserving-reference": ("tab:green", "s"),
    "band-limited": ("tab:blue", "o"),
    "lookup": ("tab:purple", "^"),
}


def _strip(ax, rows: list[dict], dims: list[int], key: str, representations: list[str]) -> None:
    """One column of points per (d, representation), members jittered sideways."""
    width = 0.8 / len(representations)
    for j, name in enumerate(representations):
        colour, marker = _STYLE[name]
        for i, d in enumerate(dims):
            values = [r[key] for r in _codes(rows, name) if r["d"] == d]
            x = i + (j - (len(representations) - 1) / 2) * width + np.linspace(-0.25, 0.25, len(values)) * width if values else []
            ax.plot(x, values, marker, color=colour, ms=5, alpha=0.8, ls="none", label=name if i == 0 else None)
    ax.set_xticks(range(len(dims)), [f"d={d}, m={2**d}" for d in dims])


def _heatmap(ax, rows: list[dict], d: int, representation: str, title: str) -> None:
    cells = [r for r in rows if r.get("kind") == "mass" and r["d"] == d and r["representation"] == representation]
    if not cells:
        ax.set_axis_off()
        return
    m = max(r["cluster"] for r in cells) + 1
    V = max(r["vertex"] for r in cells) + 1
    mass = np.zeros((m, V))
    for r in cells:
        mass[r["cluster"], r["vertex"]] = r["mass"]
    image = ax.imshow(mass * m, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set(xlabel="vertex of g(x)", ylabel="cluster", xticks=range(V), yticks=range(m))
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, label="P[g = v | cluster]")


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    dims = sorted({r["d"] for r in rows if r.get("kind") == "code"})
    representations = [config.construction, "preserving-reference", "band-limited", "lookup"]
    fig, axes = plt.subplots(2, 3, figsize=(16, 9))

    ax = axes[0, 0]
    _strip(ax, rows, dims, "loss_excess", representations)
    ax.axhline(0, color="black", lw=0.7)
    ax.set_yscale("symlog", linthresh=1e-6)
    ax.set_ylabel("exact InfoNCE - analytic minimum L*")
    ax.set_ylim(-1e-5, 1.0)
    ax.set_title(f"exact population loss (l={config.num_negatives}, beta={config.beta:g}):\n{config.construction} and preserving codes both sit at L*", fontsize=9)
    ax.legend(fontsize=7, loc="center left")

    ax = axes[0, 1]
    _strip(ax, rows, dims, "bayes_balanced_min", representations)
    trained = [(i, r["relu_balanced_test_mean"]) for i, d in enumerate(dims) for r in _codes(rows, config.construction) if r["d"] == d]
    ax.plot([i - 0.3 for i, _ in trained], [v for _, v in trained], "o", mfc="none", color=_STYLE[config.construction][0], ms=7, ls="none",
            label=f"{config.construction}: trained ReLU heads,\nmean test error over balanced tasks")
    ax.axhline(0.5, color="black", ls=":", lw=0.8)
    ax.set_ylim(-0.03, 0.9)
    ax.set_ylabel("least Bayes error over balanced tasks (exact)")
    ax.set_title("best downstream error of ANY head on the code (exact),\nleast over the balanced cluster-faithful tasks", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=2)

    ax = axes[0, 2]
    _strip(ax, rows, dims, "min_purity", ["band-limited", "lookup"])
    for i, d in enumerate(dims):
        for name, dx in (("band-limited", -0.2), ("lookup", 0.2)):
            members = [r for r in _codes(rows, name) if r["d"] == d]
            split = sum(not r["preserving"] for r in members)
            minimal = sum(not r["preserving"] and abs(r["loss_excess"]) <= LOSS_TOLERANCE for r in members)
            ax.annotate(f"{split}/{len(members)} split\n{minimal} at L*", (i + dx, 1.04), ha="center", fontsize=7)
    ax.set_ylim(0, 1.18)
    ax.set_ylabel("least cluster purity of the trained code")
    ax.set_title(f"trained from random init, same data: bounded class (B={config.bandwidth} < T={config.teeth}) vs lookup", fontsize=9)
    ax.legend(fontsize=7, loc="center right")

    d = max(dims)
    _heatmap(axes[1, 0], rows, d, config.construction, f"{config.construction} code, d={d}: cluster -> vertex shares (mixing: 1/{2**d} each)")
    _heatmap(axes[1, 1], rows, d, "preserving-reference", f"cluster-preserving code, d={d}")
    _heatmap(axes[1, 2], rows, d, "lookup", f"trained lookup table (member 0), d={d}")
    fig.suptitle("Theorem 4.7: an unrestricted class has global minimisers that mix clusters (same exact loss, Bayes error 1/2)", fontsize=11)
    fig.tight_layout()
    return fig
