"""Theorem 5.4 (agnostic): relabelling a split cluster to its cheaper constant lowers the exact loss.

Agnostic comb data: m = 2^d - 1 clusters (fewer than vertices), unbalanced weights pi_c ~
imbalance^c, cross-cluster noise q, T teeth, leak p. A non-cluster-preserving code g puts
every cluster on its own vertex except that coordinate 0 splits the heaviest cluster: its
first r base points (all their views) move to the one free vertex, which makes the vertex law
more uniform. The split coordinate is the hard sign of a band-limited function of bandwidth
T, and so is the relabelled one (closure). Its regularity ratio delta = R / Delta
(clustertheory.analysis.regularity.split_statistics) grows with the leak p. For every split
the exact InfoNCE change Delta L = L(g') - L(g) under the closure perturbation g -> g'
(coordinate 0 constant on the cluster) is computed on an (l, beta) grid, with the weighted
InfoNCE L_rho at the corollary's rho = 2^(d+1) + 1/delta, and at the paper's sufficient
(l, beta) = ((c/eps) d 2^d, c log(c/eps) 2^d) for the smallest c for which g is near-uniform
in the theorem's sense (every occupied vertex carries >= 10/(c d 2^d)), eps = Delta.
Prediction: Delta L < 0 once l and beta are large, for delta >= 0.4; measured thresholds and
the c they imply are reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from clustertheory.analysis.exact_loss import population_infonce
from clustertheory.analysis.hypercube import vertex_codes
from clustertheory.analysis.metrics import natural_vertex_law
from clustertheory.analysis.regularity import alignment_weight_term, relabel_cluster, split_statistics
from clustertheory.config import check_int_range, check_positive, check_positive_int, check_probability, check_range
from clustertheory.data import comb_dataset
from clustertheory.simulation import Check, RunContext, SimulationConfig, Verdict

NAME = "theorem-5.4"
SUMMARY = "agnostic data: relabelling a split cluster to its cheaper constant lowers the exact loss once delta, l, beta are large"

SPLIT_KEYS = ("d", "leak", "moved")  # the parameters that identify one split code


@dataclass(frozen=True)
class Config(SimulationConfig):
    """dims: code dimensions d (m = 2^d - 1 clusters each); points_per_cluster n, teeth T, noise q,
    imbalance (pi_c ~ imbalance^c); leaks p and moved (r base points split off) define the splits;
    negatives (l) and betas the grid; delta_min: the theorem's regularity level (0.4);
    control_delta: splits below this ratio are the "free split" control.
    """

    dims: tuple = (2, 3)
    points_per_cluster: int = 8
    teeth: int = 3
    noise: float = 0.02
    imbalance: float = 0.7
    leaks: tuple = (0.0, 0.05, 0.1, 0.2, 0.4, 0.6)
    moved: tuple = (1, 4)
    negatives: tuple = (1, 4, 16, 64, 256, 1024)
    betas: tuple = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    delta_min: float = 0.4
    control_delta: float = 0.1

    def validate(self) -> None:
        if not self.dims:
            raise ValueError("dims must name at least one dimension")
        for d in self.dims:
            check_int_range("dims", d, 2, 4)
        n = check_positive_int("points_per_cluster", self.points_per_cluster)
        check_positive_int("teeth", self.teeth)
        check_probability("noise", self.noise, open_right=True)
        check_range("imbalance", self.imbalance, 1e-3, 1.0)
        if not self.leaks or not self.moved or not self.negatives or not self.betas:
            raise ValueError("leaks, moved, negatives and betas must each hold at least one value")
        for p in self.leaks:
            check_probability("leaks", p)
            if p + self.noise > 1:
                raise ValueError(f"leaks + noise must be <= 1, got {p} + {self.noise}")
        for r in self.moved:
            check_int_range("moved", r, 1, n - 1)
        for l in self.negatives:
            check_positive_int("negatives", l)
        for beta in self.betas:
            check_positive("betas", beta)
        check_positive("delta_min", self.delta_min)
        check_positive("control_delta", self.control_delta)


SCALES = {
    "default": Config(),
    "paper": Config(
        dims=(2, 3, 4),
        points_per_cluster=12,
        leaks=(0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8),
        moved=(1, 2, 3, 6),
        negatives=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096),
        betas=(0.125, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0, 32.0),
    ),
}


def agnostic_data(d: int, leak: float, config: Config):
    """The agnostic comb for code dimension d: 2^d - 1 clusters with pi_c ~ imbalance^c."""
    m = 2**d - 1
    weights = config.imbalance ** np.arange(m)
    return comb_dataset(m, config.points_per_cluster, config.teeth, leak=leak, noise=config.noise, cluster_weights=weights)


def split_code(data, d: int, moved: int) -> np.ndarray:
    """(V, d) code: cluster 0 at vertex 0 except its first ``moved`` base points (every view they
    own: comb bin b with b mod n < moved) at vertex 1 (coordinate 0 flipped); cluster c >= 1 at
    vertex c + 1. The split coordinate is sign(cos(T (s - theta)) - b) on cluster 0 for suitable
    theta, b (an arc of base points in the angle 2 pi (i + 1/2) / n), so it is band-limited (B = T)."""
    vertices = vertex_codes(d)
    cluster_vertex = np.concatenate([[0], np.arange(2, data.num_clusters + 1)])
    codes = vertices[cluster_vertex[data.content]].copy()
    points = data.num_base // data.num_clusters
    owner = (np.arange(data.num_views) % (data.num_views // data.num_clusters)) % points
    codes[(data.content == 0) & (owner < moved), 0] = -1.0
    return codes


def near_uniform_c(law: np.ndarray, d: int) -> float:
    """Smallest c for which every occupied vertex carries >= 10 / (c d 2^d) (the theorem's
    near-uniformity, with no vertex in the tiny band): c = 10 / (d 2^d min_{p_v > 0} p_v)."""
    return 10.0 / (d * 2**d * law[law > 0].min())


def paper_conditions(c: float, eps: float, d: int) -> tuple[int, float]:
    """The paper's sufficient l >= (c/eps) d 2^d and beta >= c log(c/eps) 2^d."""
    return int(math.ceil(c / eps * d * 2**d)), c * math.log(c / eps) * 2**d


def implied_c(l_star: float | None, beta_star: float | None, eps: float, d: int) -> tuple[float, float]:
    """The c that makes the paper's conditions equal to the measured thresholds:
    c_l = l* eps / (d 2^d), and c_beta solving c log(c/eps) 2^d = beta* with c > eps (NaN if absent)."""
    c_l = float("nan") if l_star is None else l_star * eps / (d * 2**d)
    if beta_star is None:
        return c_l, float("nan")
    target = beta_star / 2**d
    c_beta = brentq(lambda c: c * math.log(c / eps) - target, eps * (1 + 1e-12), eps + target + 10.0)
    return c_l, float(c_beta)


def measure_split(unit: dict, config: Config) -> list[dict]:
    """Every grid point (and the paper's point) for one split code: exact losses before and after."""
    d, leak, moved = unit["d"], unit["leak"], unit["moved"]
    data = agnostic_data(d, leak, config)
    code = split_code(data, d, moved)
    relabelled = relabel_cluster(code, data, 0, 0)
    stats = split_statistics(code[:, 0], data, 0)
    delta, eps = float(stats.ratio[0]), float(stats.relabel_mass[0])
    law = natural_vertex_law(code, data)
    c_near = near_uniform_c(law, d)
    rho = 2.0 ** (d + 1) + 1.0 / delta if delta > 0 else float("inf")
    common = {
        "delta": delta,
        "disagreement": float(stats.disagreement[0]),
        "residual": float(stats.residual[0]),
        "eps": eps,
        "min_vertex_mass": float(law[law > 0].min()),
        "c_near_uniform": c_near,
        "rho_paper": rho,
    }
    l_paper, beta_paper = paper_conditions(c_near, eps, d)
    points = [("grid", l, beta) for l in config.negatives for beta in config.betas] + [("paper", l_paper, beta_paper)]
    rows = []
    for kind, l, beta in points:
        loss, loss_relabelled = population_infonce(code, data, l, beta), population_infonce(relabelled, data, l, beta)
        row = {"kind": kind, "l": int(l), "beta": float(beta), **common}
        row.update(loss=loss, loss_relabelled=loss_relabelled, delta_loss=loss_relabelled - loss)
        if math.isfinite(rho):
            # L_rho = L + alignment term (weighted_population_infonce), so L is computed once
            gain = alignment_weight_term(code, data, beta, rho) - alignment_weight_term(relabelled, data, beta, rho)
            row["delta_loss_weighted"] = row["delta_loss"] - gain
            # L_rho is affine in rho: the smallest rho at which relabelling helps follows exactly
            slope = gain / (rho - 1.0)
            row["rho_star"] = 1.0 + max(0.0, row["delta_loss"]) / slope if slope > 0 else (1.0 if row["delta_loss"] < 0 else float("inf"))
        else:
            row["delta_loss_weighted"], row["rho_star"] = float("nan"), float("inf")
        rows.append(row)
    return rows


def run(config: Config, ctx: RunContext) -> list[dict]:
    """One sweep unit per split code (d, leak, moved)."""
    units = [{"d": d, "leak": p, "moved": r} for d in config.dims for p in config.leaks for r in config.moved]
    return ctx.sweep(units, lambda unit: measure_split(unit, config), desc="theorem-5.4 splits")


# ----------------------------------------------------------------------------- thresholds


def _lower_threshold(values: list[float], holds: dict[float, bool]) -> float | None:
    """Smallest v in sorted values such that holds at v and at every larger value (None if none)."""
    threshold = None
    for v in sorted(values, reverse=True):
        if not holds[v]:
            break
        threshold = v
    return threshold


def split_summaries(rows: list[dict], config: Config) -> list[dict]:
    """One dict per split: delta, eps, measured thresholds and the c they imply.

    delta_recoverable: (R - residual) / Delta, the part of the ratio the relabelling removes
    beta_star:        smallest grid beta from which on Delta L < 0 at every grid l (uniform in l)
    beta_star_lmin, beta_star_lmax: the same at the smallest / largest l only
    l_star_betamax:   smallest grid l from which on Delta L < 0 at the largest beta
    c_l, c_beta:      c that makes the paper's conditions equal to l_star_betamax, beta_star_lmax
    """
    summaries = []
    keys = sorted({tuple(r[k] for k in SPLIT_KEYS) for r in rows})
    for key in keys:
        mine = [r for r in rows if tuple(r[k] for k in SPLIT_KEYS) == key]
        grid = [r for r in mine if r["kind"] == "grid"]
        paper = [r for r in mine if r["kind"] == "paper"]
        first = mine[0]
        betas, ls = sorted({r["beta"] for r in grid}), sorted({r["l"] for r in grid})
        lower = {(r["l"], r["beta"]): r["delta_loss"] < 0 for r in grid}
        beta_star = _lower_threshold(betas, {b: all(lower[(l, b)] for l in ls) for b in betas})
        beta_star_lmin = _lower_threshold(betas, {b: lower[(ls[0], b)] for b in betas})
        beta_star_lmax = _lower_threshold(betas, {b: lower[(ls[-1], b)] for b in betas})
        l_star = _lower_threshold(ls, {l: lower[(l, betas[-1])] for l in ls})
        d = first["d"]
        c_l, c_beta = implied_c(l_star, beta_star_lmax, first["eps"], d)
        l_paper, beta_paper = paper_conditions(first["c_near_uniform"], first["eps"], d)
        summaries.append(
            {
                **dict(zip(SPLIT_KEYS, key)),
                "delta": first["delta"],
                "eps": first["eps"],
                "c_near_uniform": first["c_near_uniform"],
                "delta_recoverable": (first["disagreement"] - first["residual"]) / first["eps"],
                "beta_star": beta_star,
                "beta_star_lmin": beta_star_lmin,
                "beta_star_lmax": beta_star_lmax,
                "l_star_betamax": l_star,
                "c_l": c_l,
                "c_beta": c_beta,
                "l_paper": l_paper,
                "beta_paper": beta_paper,
                "delta_loss_paper": paper[0]["delta_loss"] if paper else float("nan"),
                "corner_lowers": lower[(ls[-1], betas[-1])],
                "grid_lowers_somewhere": any(lower.values()),
                "grid_raises_somewhere": not all(lower.values()),
                "rho_paper": first["rho_paper"],
                "max_rho_ratio": max(r["rho_star"] / r["rho_paper"] for r in grid),
            }
        )
    return summaries


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Theorem 5.4 on the regular splits (delta >= delta_min), the corollary, and a free-split control."""
    summaries = split_summaries(rows, config)
    regular = [s for s in summaries if s["delta"] >= config.delta_min]
    control = [s for s in summaries if s["delta"] < config.control_delta]
    with_threshold = [s for s in regular if s["beta_star"] is not None]
    paper_ok = [s for s in regular if s["delta_loss_paper"] < 0]
    worst_rho = max((s["max_rho_ratio"] for s in regular), default=float("nan"))
    control_raise = [s for s in control if s["grid_raises_somewhere"]]
    beta_stars = sorted({s["beta_star"] for s in with_threshold})
    checks = [
        Check(
            name=f"splits with delta >= {config.delta_min}: relabelling lowers L at every l once beta >= beta* (beta* in grid)",
            measured=f"{len(with_threshold)}/{len(regular)} (beta* values {beta_stars})",
            requirement=f"{len(regular)}/{len(regular)}, at least one split",
            passed=bool(regular) and len(with_threshold) == len(regular),
        ),
        Check(
            name="at the paper's sufficient (l, beta), c = smallest near-uniform c: relabelling lowers L",
            measured=f"{len(paper_ok)}/{len(regular)}",
            requirement=f"{len(regular)}/{len(regular)}",
            passed=bool(regular) and len(paper_ok) == len(regular),
        ),
        Check(
            name="weighted InfoNCE, rho = 2^(d+1) + 1/delta: relabelling lowers L_rho on the whole grid (max rho*/rho)",
            measured=worst_rho,
            requirement="<= 1",
            passed=bool(regular) and worst_rho <= 1.0,
        ),
        Check(
            name=f"control: free splits (delta < {config.control_delta}) are not always removed by relabelling",
            measured=f"{len(control_raise)}/{len(control)} raise L somewhere on the grid",
            requirement=f"{len(control)}/{len(control)}, at least one split",
            passed=bool(control) and len(control_raise) == len(control),
        ),
    ]
    return Verdict(checks)


def plot(rows: list[dict], config: Config):
    """(a) Delta L over (beta, l) for the split with delta closest to 0.5 (d = min dim);
    (b) measured beta threshold vs delta, with the paper's sufficient beta; (c) rho* vs delta."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    summaries = split_summaries(rows, config)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    d0 = min(config.dims)
    candidates = [s for s in summaries if s["d"] == d0]
    pick = min(candidates, key=lambda s: abs(s["delta"] - 0.5))
    grid = [r for r in rows if r["kind"] == "grid" and all(r[k] == pick[k] for k in SPLIT_KEYS)]
    betas, ls = sorted({r["beta"] for r in grid}), sorted({r["l"] for r in grid})
    table = np.array([[next(r["delta_loss"] for r in grid if r["l"] == l and r["beta"] == b) for b in betas] for l in ls])
    ax = axes[0]
    bound = max(np.abs(table).max(), 1e-12)
    image = ax.imshow(table, origin="lower", cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -bound, bound), aspect="auto")
    for i in range(len(ls)):
        for j in range(len(betas)):
            ax.text(j, i, "-" if table[i, j] < 0 else "+", ha="center", va="center", fontsize=8, color="k")
    ax.set_xticks(range(len(betas)), [f"{b:g}" for b in betas])
    ax.set_yticks(range(len(ls)), [str(l) for l in ls])
    ax.set_xlabel("beta")
    ax.set_ylabel("negatives l")
    ax.set_title(f"(a) L(relabelled) - L(split), d={d0}, delta={pick['delta']:.2f}\n(- : relabelling lowers the loss)", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046)

    ax = axes[1]
    top = max(config.betas) * 2
    markers, sizes = {2: "o", 3: "s", 4: "^"}, {2: 60, 3: 25, 4: 12}
    for d in config.dims:
        mine = [s for s in summaries if s["d"] == d and s["delta"] > 0]
        found = [s for s in mine if s["beta_star"] is not None]
        missing = [s for s in mine if s["beta_star"] is None]
        scatter = ax.scatter([s["delta"] for s in found], [s["beta_star"] for s in found], marker=markers.get(d, "o"), s=sizes.get(d, 20), zorder=3, label=f"measured beta* (every l), d={d}")
        ax.scatter([s["delta"] for s in missing], [top] * len(missing), marker="^", s=sizes.get(d, 20), color=scatter.get_facecolor()[0], zorder=3)
        ax.scatter([s["delta"] for s in mine], [s["beta_paper"] for s in mine], marker=markers.get(d, "o"), s=sizes.get(d, 20), facecolors="none", edgecolors=scatter.get_facecolor()[0], label=f"paper's sufficient beta (smallest near-uniform c), d={d}")
    ax.axhline(top, color="0.6", ls=":", lw=1)
    ax.text(0.02, top * 1.15, "^ : no threshold up to beta = %g" % max(config.betas), fontsize=7, color="0.3", transform=ax.get_yaxis_transform())
    ax.axvline(config.delta_min, color="k", ls="--", lw=0.8)
    ax.text(config.delta_min * 1.05, 0.58, "delta = %g" % config.delta_min, fontsize=7, transform=ax.get_xaxis_transform())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("delta = R / Delta of the split")
    ax.set_ylabel("beta")
    ax.set_title("(b) beta from which relabelling lowers L at every l", fontsize=9)
    ax.legend(fontsize=6, loc="lower left")

    ax = axes[2]
    deltas = np.geomspace(min(s["delta"] for s in summaries if s["delta"] > 0), max(s["delta"] for s in summaries), 100)
    for d in config.dims:
        mine = [s for s in summaries if s["d"] == d and s["delta"] > 0]
        line = ax.plot(deltas, 2.0 ** (d + 1) + 1 / deltas, lw=1, label=f"corollary rho = 2^(d+1) + 1/delta, d={d}")
        rho_star = [s["max_rho_ratio"] * s["rho_paper"] for s in mine]
        ax.scatter([s["delta"] for s in mine], rho_star, color=line[0].get_color(), marker=markers.get(d, "o"), s=sizes.get(d, 20), label=f"measured rho* (max over grid), d={d}", zorder=3)
    ax.axvline(config.delta_min, color="k", ls="--", lw=0.8)
    ax.text(0.3, 0.55, "above its curve: the corollary's rho is not enough", fontsize=7, color="0.3", transform=ax.transAxes)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("delta = R / Delta of the split")
    ax.set_ylabel("alignment weight rho")
    ax.set_title("(c) weighted InfoNCE: smallest rho at which relabelling lowers L_rho", fontsize=9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig
