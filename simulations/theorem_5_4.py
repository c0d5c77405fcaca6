"""Theorem 5.4 (agnostic): relabelling a split cluster to its cheaper constant lowers the exact loss.

Agnostic comb data: m = 2^d - 1 clusters (one vertex more than clusters), weights pi_c ~
imbalance^c, cross-cluster noise q, T teeth, leak p. A split code g puts every cluster on its
own vertex except that coordinate 0 moves the first r base points of the heaviest cluster to the
free vertex (a more uniform law: the loss has a reason to like the split). Its ratio
delta = R / Delta (analysis.regularity.split_statistics) grows with the leak; with p = 0 the
only disagreement is cross-cluster noise, which relabelling cannot remove (a free split). For
every split the exact change Delta L = L(g') - L(g) under the closure perturbation g -> g'
(coordinate 0 constant on the cluster) is computed on an (l, beta) grid, at the paper's
sufficient (l, beta) for the smallest c that makes g near-uniform, and for the weighted InfoNCE
L_rho at the corollary's rho = 2^(d+1) + 1/delta. Everything is exact (no training, no
randomness), so each claim is the worst case over the splits it covers (Claim.from_exact).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from clustertheory.analysis.exact_loss import population_infonce
from clustertheory.analysis.hypercube import vertex_codes
from clustertheory.analysis.metrics import natural_vertex_law, preserves_clusters
from clustertheory.analysis.regularity import (
    CodeLaw,
    implied_c,
    near_uniform_c,
    relabel_cluster,
    split_statistics,
    sufficient_conditions,
    threshold_from,
)
from clustertheory.config import Integer, Real, TupleOf
from clustertheory.data import comb_dataset
from clustertheory.plotting import annotated_heatmap
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict

NAME = "theorem-5.4"
SUMMARY = "agnostic data: relabelling a split cluster lowers the exact loss once delta and beta are large; l works the other way"

SOURCE = "Parulekar et al. 2023, Theorem 5.4"
COROLLARY = "Parulekar et al. 2023, corollary of Theorem 5.4 (weighted InfoNCE)"
SPLIT_KEYS = ("d", "leak", "moved")


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Data: dims d (m = 2^d - 1 clusters), points_per_cluster n, teeth T, noise q, imbalance
    (pi_c ~ imbalance^c); leaks p and moved (r base points split off) define the splits;
    negatives (l) and betas the grid. reference_negatives, reference_betas: grid points where the
    fast exact loss is checked against population_infonce's multinomial sum.

    delta_min            the theorem's regularity level (0.4, Theorem 5.4's hypothesis)
    in_cluster_min       the corollary's regime: at least this share of a split's disagreement R
                         comes from augmentations that stay in the cluster (in the paper's model
                         augmentations keep the content, so the share is 1; cross-cluster noise
                         is the package's addition)
    null_loss_change     no change of the loss (0 by definition)
    minimal_loss_change  the smallest loss change that counts: exact losses agree to ~1e-13,
                         every effect the theorem is about is > 1e-4, so 1e-9 separates the two
    """

    dims: tuple = (2, 3)
    points_per_cluster: int = 8
    teeth: int = 3
    noise: float = 0.02
    imbalance: float = 0.7
    leaks: tuple = (0.0, 0.05, 0.1, 0.2, 0.4, 0.6)
    moved: tuple = (1, 4)
    negatives: tuple = (1, 2, 4, 8, 16, 64, 256, 1024, 4096)
    betas: tuple = (0.25, 0.5, 0.75, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
    reference_negatives: tuple = (1, 4)
    reference_betas: tuple = (0.5, 8.0)
    delta_min: float = 0.4
    in_cluster_min: float = 0.5
    null_loss_change: float = 0.0
    minimal_loss_change: float = 1e-9

    constraints = {
        "dims": TupleOf(Integer(2, 4), increasing=True),
        "points_per_cluster": Integer(2),
        "teeth": Integer(1),
        "noise": Real(0, 1, open_hi=True),
        "imbalance": Real(1e-3, 1),
        "leaks": TupleOf(Real(0, 1), increasing=True),
        "moved": TupleOf(Integer(1), increasing=True),
        "negatives": TupleOf(Integer(1), min_len=2, increasing=True),
        "betas": TupleOf(Real(0, open_lo=True), min_len=2, increasing=True),
        "reference_negatives": TupleOf(Integer(1, 8), distinct=True),
        "reference_betas": TupleOf(Real(0, 20, open_lo=True), distinct=True),
        "delta_min": Real(0, open_lo=True),
        "in_cluster_min": Real(0, 1, open_lo=True),
        "null_loss_change": Real(),
        "minimal_loss_change": Real(0, open_lo=True),
    }

    def validate(self) -> None:
        if max(self.moved) >= self.points_per_cluster:
            raise ValueError(f"moved must be < points_per_cluster = {self.points_per_cluster}, got {self.moved}")
        if max(self.leaks) + self.noise > 1:
            raise ValueError(f"leaks + noise must be <= 1, got {max(self.leaks)} + {self.noise}")


SCALES = {
    "default": Config(),
    "paper": Config(
        dims=(2, 3, 4),
        points_per_cluster=12,
        leaks=(0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8),
        moved=(1, 2, 3, 6),
        negatives=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096, 16384),
        betas=(0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0, 32.0, 64.0, 128.0),
    ),
}


def agnostic_data(d: int, leak: float, config: Config):
    """The agnostic comb for code dimension d: 2^d - 1 clusters with pi_c ~ imbalance^c."""
    weights = config.imbalance ** np.arange(2**d - 1)
    return comb_dataset(2**d - 1, config.points_per_cluster, config.teeth, leak=leak, noise=config.noise, cluster_weights=weights)


def split_code(data, d: int, moved: int) -> np.ndarray:
    """(V, d) code: cluster 0 at vertex 0 except its first ``moved`` base points (every view they
    own) at the free vertex 1 (coordinate 0 flipped); cluster c >= 1 at vertex c + 1. On cluster 0
    the split coordinate is the sign of a band-limited function of bandwidth T (an arc of base
    points), and so is its relabelling: closure holds in the band-limited class."""
    cluster_vertex = np.concatenate([[0], np.arange(2, data.num_clusters + 1)])
    codes = vertex_codes(d)[cluster_vertex[data.content]].copy()
    owner = (np.arange(data.num_views) % (data.num_views // data.num_clusters)) % (data.num_base // data.num_clusters)
    codes[(data.content == 0) & (owner < moved), 0] = -1.0
    return codes


def measure_split(unit: dict, config: Config) -> list[dict]:
    """One split code: its statistics, Delta L and Delta L_rho on the grid, at the paper's point,
    and the fast exact loss against the multinomial reference."""
    d, leak, moved = unit["d"], unit["leak"], unit["moved"]
    data = agnostic_data(d, leak, config)
    code = split_code(data, d, moved)
    relabelled = relabel_cluster(code, data, 0, 0)
    stats = split_statistics(code[:, 0], data, 0)
    delta, eps = float(stats.ratio[0]), float(stats.relabel_mass[0])
    c_near = near_uniform_c(natural_vertex_law(code, data), d)
    rho = 2.0 ** (d + 1) + 1.0 / delta
    n = config.points_per_cluster
    common = {
        "delta": delta,
        "delta_in_cluster": float(stats.disagreement[0] - stats.residual[0]) / eps,
        "delta_in_cluster_closed_form": 2 * leak * (n - moved) / (n - 1),
        "eps": eps,
        "eps_closed_form": float(data.cluster_weight[0]) * moved / n,
        "split_preserves": preserves_clusters(code, data),
        "relabelled_preserves": preserves_clusters(relabelled, data),
        "c_near_uniform": c_near,
        "rho_corollary": rho,
    }
    before, after = CodeLaw.of(code, data), CodeLaw.of(relabelled, data)
    l_paper, beta_paper = sufficient_conditions(c_near, eps, d)
    points = [("grid", config.negatives, config.betas), ("paper", (l_paper,), (beta_paper,))]
    rows = []
    for kind, ls, betas in points:
        change = after.infonce_grid(ls, betas) - before.infonce_grid(ls, betas)
        for j, beta in enumerate(betas):
            # L_rho = L + (rho - 1) beta (2 E h - d): affine in rho, so the rho at which relabelling starts to help is exact
            gain = before.alignment_term(beta, rho) - after.alignment_term(beta, rho)
            for i, l in enumerate(ls):
                slope = gain / (rho - 1.0)
                needed = 1.0 if change[i, j] < 0 else (1.0 + change[i, j] / slope if slope > 0 else math.inf)
                rows.append({"kind": kind, "l": int(l), "beta": float(beta), **common, "delta_loss": float(change[i, j]),
                             "delta_loss_weighted": float(change[i, j] - gain), "rho_needed": needed})
    for l in config.reference_negatives:
        for beta in config.reference_betas:
            exact = population_infonce(code, data, l, beta, method="multinomial")
            rows.append({"kind": "reference", "l": l, "beta": beta, **common, "loss": before.infonce(l, beta), "loss_reference": exact})
    return rows


def run(config: Config, ctx: RunContext) -> list[dict]:
    """One sweep unit per split code (d, leak, moved); per-split threshold rows appended."""
    units = [{"d": d, "leak": p, "moved": r} for d in config.dims for p in config.leaks for r in config.moved]
    rows = ctx.sweep(units, lambda unit: measure_split(unit, config), desc="theorem-5.4 splits")
    return rows + [{"kind": "split", **s} for s in split_summaries(rows)]


# ----------------------------------------------------------------------------- thresholds


def _by_split(rows: list[dict], kind: str) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["kind"] == kind:
            groups.setdefault(tuple(r[k] for k in SPLIT_KEYS), []).append(r)
    return groups


def _table(grid: list[dict], key: str) -> tuple[list, list, np.ndarray]:
    """(ls, betas, values (L, B)) of one split's grid rows."""
    ls, betas = sorted({r["l"] for r in grid}), sorted({r["beta"] for r in grid})
    values = np.full((len(ls), len(betas)), np.nan)
    for r in grid:
        values[ls.index(r["l"]), betas.index(r["beta"])] = r[key]
    return ls, betas, values


def split_summaries(rows: list[dict]) -> list[dict]:
    """Per split the measured thresholds (None: none on the grid):

    beta_star        smallest grid beta from which relabelling lowers L at every grid l
    beta_star_lmin/lmax  the same at the smallest / largest l only
    l_flip_beta_max  the largest beta at which a win at the smallest l turns into a loss at a larger l
    c_beta           the c for which the paper's beta condition equals beta_star_lmax
    beta_star_weighted  smallest grid beta from which rho_corollary suffices at every l
    """
    out = []
    paper = _by_split(rows, "paper")
    for key, grid in _by_split(rows, "grid").items():
        _, betas, change = _table(grid, "delta_loss")
        _, _, needed = _table(grid, "rho_needed")
        first = grid[0]
        wins = change < 0
        flips = [b for j, b in enumerate(betas) if wins[0, j] and not wins[:, j].all()]
        beta_star_lmax = threshold_from(betas, list(wins[-1]))
        out.append({
            **dict(zip(SPLIT_KEYS, key)), **{k: first[k] for k in ("delta", "delta_in_cluster", "eps", "c_near_uniform", "rho_corollary")},
            "beta_star": threshold_from(betas, list(wins.all(axis=0))),
            "beta_star_lmin": threshold_from(betas, list(wins[0])),
            "beta_star_lmax": beta_star_lmax,
            "l_flip_beta_max": max(flips) if flips else None,
            "c_beta": implied_c(None, beta_star_lmax, first["eps"], first["d"])[1],
            "beta_star_weighted": threshold_from(betas, list((needed <= first["rho_corollary"]).all(axis=0))),
            "l_paper": paper[key][0]["l"], "beta_paper": paper[key][0]["beta"], "delta_loss_paper": paper[key][0]["delta_loss"],
        })
    return out


# ----------------------------------------------------------------------------- verdict


def _max(values) -> float:
    values = [float(v) for v in values]
    return max(values) if values else float("nan")


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Package checks on the construction and the exact loss; the theorem, our reading of its l
    condition, the corollary and a free-split control as claims (worst case over splits)."""
    grid, paper = _by_split(rows, "grid"), _by_split(rows, "paper")
    reference = [r for r in rows if r["kind"] == "reference"]
    first = {k: g[0] for k, g in grid.items()}
    regular = [k for k, r in first.items() if r["delta"] >= config.delta_min]
    irregular = [k for k, r in first.items() if r["delta"] < config.delta_min]
    share = {k: first[k]["delta_in_cluster"] / first[k]["delta"] for k in irregular}
    inside = [k for k in irregular if share[k] >= config.in_cluster_min]
    crossing = [k for k in irregular if share[k] < config.in_cluster_min]
    free = [k for k, r in first.items() if r["delta_in_cluster"] <= 1e-12]
    null, step = config.null_loss_change, config.minimal_loss_change
    lower = {"null": null, "minimal_effect": null - step, "direction": "less"}
    units = "nats: L(relabelled) - L(split), worst split"

    checks = [
        Check.at_most("fast exact loss vs population_infonce multinomial sum (max |diff|)", _max(abs(r["loss"] - r["loss_reference"]) for r in reference), 1e-10),
        Check.at_most("relabelled mass Delta vs pi_0 r / n (max |diff|)", _max(abs(r["eps"] - r["eps_closed_form"]) for r in first.values()), 1e-12),
        Check.at_most("in-cluster ratio (R - residual) / Delta vs 2 p (n - r) / (n - 1) (max |diff|)",
                      _max(abs(r["delta_in_cluster"] - r["delta_in_cluster_closed_form"]) for r in first.values()), 1e-12),
        Check.none_of("split codes that preserve clusters", [r["split_preserves"] for r in first.values()]),
        Check.all_of("relabelled codes that preserve clusters", [r["relabelled_preserves"] for r in first.values()]),
    ]

    has_regular = Check.at_least(f"splits with delta >= {config.delta_min:g}", len(regular), 1)
    beta_max = max(config.betas)
    below_paper = min((paper[k][0]["beta"] for k in regular), default=float("nan"))
    after_win = []  # Delta L at larger l after relabelling won at a smaller l (same split, same beta)
    for k in regular:
        ls, betas, change = _table(grid[k], "delta_loss")
        for j in range(len(betas)):
            won = np.flatnonzero(change[:, j] < 0)
            if len(won) and won[0] < len(ls) - 1:
                after_win.append(float(change[won[0] + 1 :, j].max()))

    def weighted(keys) -> float:
        return _max(r["delta_loss_weighted"] for k in keys for r in grid[k])

    def corollary_regime(keys) -> Check:
        return Check.at_least("smallest in-cluster share of R", min((share[k] for k in keys), default=float("nan")), config.in_cluster_min)

    crossing_ok = sum(r["rho_needed"] <= r["rho_corollary"] for k in crossing for r in grid[k])
    crossing_from = [s["beta_star_weighted"] for s in split_summaries(rows) if tuple(s[k] for k in SPLIT_KEYS) in crossing]
    claims = [
        Claim.from_exact(
            "sufficient-conditions", SOURCE,
            "a near-uniform split code with delta >= 0.4 is not a minimiser once l >= (c/eps) d 2^d and beta >= c log(c/eps) 2^d "
            "(c: the smallest c making the code near-uniform): relabelling lowers L there",
            _max(paper[k][0]["delta_loss"] for k in regular), units, **lower, preconditions=[has_regular], n=len(regular)),
        Claim.from_exact(
            "beta-alone-suffices", "package prediction from the proof of Theorem 5.4",
            f"for delta >= 0.4 a large beta alone makes relabelling win, at every l down to l = 1 (tested at beta = {beta_max:g})",
            _max(r["delta_loss"] for k in regular for r in grid[k] if r["beta"] == beta_max), units, **lower, n=len(regular),
            preconditions=[has_regular, Check.below("largest grid beta / smallest sufficient beta of the regular splits", beta_max / below_paper, 1.0)]),
        Claim.from_exact(
            "more-negatives-help", f"{SOURCE}, its condition l >= (c/eps) d 2^d read as a monotone effect",
            "for delta >= 0.4, once relabelling wins at some l it wins at every larger l (same beta)",
            _max(after_win), "nats: largest Delta L at a larger l after a win", **lower, n=len(after_win),
            preconditions=[has_regular, Check.at_least("(split, beta) pairs that win below the largest l", len(after_win), 1)]),
        Claim.from_exact(
            "corollary-in-cluster", COROLLARY,
            "with rho = 2^(d+1) + 1/delta relabelling lowers L_rho for splits with delta < 0.4 (where L alone may prefer the split)",
            weighted(inside), "nats: L_rho(relabelled) - L_rho(split), worst grid point", **lower, n=len(inside),
            preconditions=[Check.at_least("splits with delta < 0.4 and in-cluster disagreement", len(inside), 1), corollary_regime(inside),
                           Check.above("largest Delta L of these splits (L alone prefers the split somewhere)", _max(r["delta_loss"] for k in inside for r in grid[k]), null + step)]),
        Claim.from_exact(
            "corollary-cross-cluster", COROLLARY,
            "the same for splits whose disagreement comes from augmentations that leave the cluster (outside the paper's model)",
            weighted(crossing), "nats: L_rho(relabelled) - L_rho(split), worst grid point", **lower, n=len(crossing),
            preconditions=[Check.at_least("splits with delta < 0.4 and cross-cluster disagreement", len(crossing), 1), corollary_regime(crossing)],
            note=f"rho_corollary suffices at {crossing_ok} of {sum(len(grid[k]) for k in crossing)} grid points; "
                 f"at every l only from beta = {', '.join('none' if b is None else f'{b:g}' for b in crossing_from)} (per split)"),
        Claim.from_exact(
            "free-split-control", "package prediction (control for Theorem 5.4)",
            "a split that no augmentation inside the cluster crosses (delta_in_cluster = 0) is preferred to its relabelling "
            "at every grid point and at the paper's sufficient (l, beta)",
            min((r["delta_loss"] for k in free for r in grid[k] + paper[k]), default=float("nan")), "nats: L(relabelled) - L(split), smallest over splits and points",
            null=null, minimal_effect=null + step, direction="greater", n=len(free),
            preconditions=[Check.at_least("free splits (delta_in_cluster = 0)", len(free), 1)]),
    ]
    return Verdict(checks, claims)


# ----------------------------------------------------------------------------- figure


def plot(rows: list[dict], config: Config):
    """(a) sign of Delta L over (beta, l) for the regular split whose win flips with l at the
    largest beta; (b) measured beta thresholds against delta; (c) the corollary's rho on the
    splits with delta < delta_min."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    summaries = split_summaries(rows)
    grid = _by_split(rows, "grid")
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    regular = [s for s in summaries if s["delta"] >= config.delta_min] or summaries
    pick = max(regular, key=lambda s: (s["l_flip_beta_max"] or 0, -s["delta"]))
    ls, betas, change = _table(grid[tuple(pick[k] for k in SPLIT_KEYS)], "delta_loss")
    shown = np.arcsinh(change / 1e-3)  # sign-preserving compression: small and large changes both visible
    bound = float(np.abs(shown).max()) or 1.0
    text = np.where(change < 0, "-", "+")
    image = annotated_heatmap(axes[0], shown, [f"{b:g}" for b in betas], ls, text=text, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -bound, bound), fontsize=9)
    axes[0].set(xlabel="beta", ylabel="negatives l")
    axes[0].set_title(f"(a) sign of L(relabelled) - L(split): d={pick['d']}, p={pick['leak']:g}, r={pick['moved']}, delta={pick['delta']:.2f}\n"
                      "'-': relabelling wins. More negatives make it LOSE at small beta", fontsize=9)
    colourbar = fig.colorbar(image, ax=axes[0], fraction=0.046)
    colourbar.set_label("arcsinh(Delta L / 0.001)")

    ax = axes[1]
    top = max(config.betas) * 2
    for d, marker in zip(config.dims, "osd^"):
        mine = [s for s in summaries if s["d"] == d]
        for key, colour, label in (("beta_star_lmin", "tab:blue", f"l = {min(config.negatives)}"), ("beta_star_lmax", "tab:red", f"l = {max(config.negatives)}")):
            ax.scatter([s["delta"] for s in mine], [s[key] or top for s in mine], marker=marker, color=colour, s=30, alpha=0.8, label=f"measured beta*, {label}, d={d}")
        ax.scatter([s["delta"] for s in mine], [s["beta_paper"] for s in mine], marker=marker, facecolors="none", edgecolors="k", s=30, label=f"paper's sufficient beta, d={d}")
    ax.axhline(top, color="0.6", ls=":", lw=1)
    ax.text(0.02, top * 1.15, f"no threshold up to beta = {max(config.betas):g}", fontsize=7, color="0.3", transform=ax.get_yaxis_transform())
    ax.axvline(config.delta_min, color="k", ls="--", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="delta = R / Delta of the split", ylabel="beta")
    ax.set_title("(b) beta from which relabelling wins (at that l and every larger beta)", fontsize=9)
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3)

    ax = axes[2]
    for key, rows_of in grid.items():
        first = rows_of[0]
        if first["delta"] >= config.delta_min:
            continue
        ls, betas, needed = _table(rows_of, "rho_needed")
        inside = first["delta_in_cluster"] / first["delta"] >= config.in_cluster_min
        style = {"color": "tab:green", "ls": "-"} if inside else {"color": "tab:red", "ls": "--"}
        ax.plot(betas, needed.max(axis=0) / first["rho_corollary"], marker="o", ms=3, alpha=0.7, **style)
    ax.plot([], [], color="tab:green", label="leak p > 0: disagreement inside the cluster")
    ax.plot([], [], color="tab:red", ls="--", label="p = 0: only cross-cluster noise (outside the paper's model)")
    ax.axhline(1.0, color="k", lw=1)
    ax.text(0.02, 1.08, "above: the corollary's rho is not enough", fontsize=7, transform=ax.get_yaxis_transform())
    ax.set(xscale="log", yscale="log", xlabel="beta", ylabel="needed rho / (2^(d+1) + 1/delta), worst l")
    ax.set_title(f"(c) weighted InfoNCE on every split with delta < {config.delta_min:g} (one line each)", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    fig.tight_layout()
    return fig
