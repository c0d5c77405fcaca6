"""Theorem 5.4 (agnostic): relabelling a split cluster to its cheaper constant lowers the exact loss.

Agnostic comb data with one vertex more than clusters; a split code moves r base points of the heaviest
cluster to the free vertex (a more uniform law: the loss has a reason to like the split), its ratio
delta = R / Delta grows with the leak p; with p = 0 the only disagreement is cross-cluster noise, which
relabelling cannot remove (a free split). Library: clustertheory.data.agnostic_comb, clustertheory.analysis.regularity
(split_code, relabelling_rows: Delta L = L(g') - L(g) on an (l, beta) grid, at the paper's sufficient
(l, beta) and for L_rho at the corollary's rho). Everything is exact (no training, no randomness), so
each claim is the worst case over the splits it covers (Claim.from_exact).
"""

from __future__ import annotations

from dataclasses import dataclass

from clustertheory.analysis import regularity as rg
from clustertheory.config import Integer, Real, TupleOf, setting
from clustertheory.data import agnostic_comb
from clustertheory.plotting import signed_heatmap
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.verdict import largest

NAME = "theorem-5.4"
SUMMARY = "agnostic data: relabelling a split cluster lowers the exact loss once delta and beta are large; l works the other way"

SOURCE = "Parulekar et al. 2023, Theorem 5.4"
COROLLARY = "Parulekar et al. 2023, corollary of Theorem 5.4 (weighted InfoNCE)"


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Agnostic comb data (data.agnostic_comb), the splits (leaks x moved), the (l, beta)
    grid and the reference points of the fast exact loss.

    in_cluster_min: in the paper's model augmentations keep the content, so the in-cluster share
    of R is 1; cross-cluster noise is the package's addition. minimal_loss_change: exact losses
    agree to ~1e-13, every effect the theorem is about is > 1e-4, so 1e-9 separates the two.
    """

    dims: tuple = setting((2, 3), TupleOf(Integer(2, 4), increasing=True), "code dimensions d (m = 2^d - 1 clusters)")
    points_per_cluster: int = setting(8, Integer(2), "base points per cluster n")
    teeth: int = setting(3, Integer(1), "teeth T of the comb")
    noise: float = setting(0.02, Real(0, 1, open_hi=True), "cross-cluster noise q")
    imbalance: float = setting(0.7, Real(1e-3, 1), "cluster weights pi_c ~ imbalance^c")
    leaks: tuple = setting((0.0, 0.05, 0.1, 0.2, 0.4, 0.6), TupleOf(Real(0, 1), increasing=True), "leaks p of the splits")
    moved: tuple = setting((1, 4), TupleOf(Integer(1), increasing=True), "base points r a split moves to the free vertex")
    negatives: tuple = setting((1, 2, 4, 8, 16, 64, 256, 1024, 4096), TupleOf(Integer(1), min_len=2, increasing=True), "grid of l")
    betas: tuple = setting((0.25, 0.5, 0.75, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0), TupleOf(Real(0, open_lo=True), min_len=2, increasing=True),
                           "grid of beta")
    reference_negatives: tuple = setting((1, 4), TupleOf(Integer(1, 8), distinct=True),
                                         "l where the fast exact loss is checked against population_infonce's multinomial sum")
    reference_betas: tuple = setting((0.5, 8.0), TupleOf(Real(0, 20, open_lo=True), distinct=True), "beta of those reference points")
    delta_min: float = setting(0.4, Real(0, open_lo=True), "the theorem's regularity level (0.4, Theorem 5.4's hypothesis)")
    in_cluster_min: float = setting(0.5, Real(0, 1, open_lo=True),
                                    "the corollary's regime: at least this share of a split's R comes from augmentations inside the cluster")
    null_loss_change: float = setting(0.0, Real(), "no change of the loss (0 by definition)")
    minimal_loss_change: float = setting(1e-9, Real(0, open_lo=True), "the smallest loss change that counts")

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


def measure_split(unit: dict, config: Config) -> list[dict]:
    """One split code (d, leak, moved): its statistics, Delta L and Delta L_rho on the grid and at the
    paper's point, and the fast exact loss against the multinomial reference (regularity.relabelling_rows)."""
    d, leak, moved = unit["d"], unit["leak"], unit["moved"]
    data = agnostic_comb(d, config.points_per_cluster, config.teeth, leak, config.noise, config.imbalance)
    return rg.relabelling_rows(data, rg.split_code(data, d, moved), leak, moved, config.negatives, config.betas,
                               config.reference_negatives, config.reference_betas)


def run(config: Config, ctx: RunContext) -> list[dict]:
    """One sweep unit per split code (d, leak, moved); per-split threshold rows appended."""
    units = [{"d": d, "leak": p, "moved": r} for d in config.dims for p in config.leaks for r in config.moved]
    rows = ctx.sweep(units, lambda unit: measure_split(unit, config), desc="theorem-5.4 splits")
    return rows + [{"kind": "split", **s} for s in rg.split_summaries(rows)]


# ----------------------------------------------------------------------------- verdict


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Package checks on the construction and the exact loss; the theorem, our reading of its l
    condition, the corollary and a free-split control as claims (worst case over splits)."""
    grid, paper = rg.rows_by_split(rows, "grid"), rg.rows_by_split(rows, "paper")
    reference = [r for r in rows if r["kind"] == "reference"]
    first, regular, share, inside, crossing, free = rg.classify_splits(grid, config.delta_min, config.in_cluster_min)
    null, step = config.null_loss_change, config.minimal_loss_change
    lower = {"null": null, "minimal_effect": null - step, "direction": "less"}
    units = "nats: L(relabelled) - L(split), worst split"

    checks = [
        Check.at_most("fast exact loss vs population_infonce multinomial sum (max |diff|)", largest(abs(r["loss"] - r["loss_reference"]) for r in reference), 1e-10),
        Check.at_most("relabelled mass Delta vs pi_0 r / n (max |diff|)", largest(abs(r["eps"] - r["eps_closed_form"]) for r in first.values()), 1e-12),
        Check.at_most("in-cluster ratio (R - residual) / Delta vs 2 p (n - r) / (n - 1) (max |diff|)",
                      largest(abs(r["delta_in_cluster"] - r["delta_in_cluster_closed_form"]) for r in first.values()), 1e-12),
        Check.none_of("split codes that preserve clusters", [r["split_preserves"] for r in first.values()]),
        Check.all_of("relabelled codes that preserve clusters", [r["relabelled_preserves"] for r in first.values()]),
    ]

    has_regular = Check.at_least(f"splits with delta >= {config.delta_min:g}", len(regular), 1)
    beta_max = max(config.betas)
    below_paper = min((paper[k][0]["beta"] for k in regular), default=float("nan"))
    after_win = [v for k in regular for v in rg.changes_after_win(grid[k])]  # Delta L at larger l after a win at a smaller l (same split, beta)

    def weighted(keys) -> float:
        return largest(r["delta_loss_weighted"] for k in keys for r in grid[k])

    def corollary_regime(keys) -> Check:
        return Check.at_least("smallest in-cluster share of R", min((share[k] for k in keys), default=float("nan")), config.in_cluster_min)

    crossing_ok = sum(r["rho_needed"] <= r["rho_corollary"] for k in crossing for r in grid[k])
    crossing_from = [s["beta_star_weighted"] for s in rg.split_summaries(rows) if tuple(s[k] for k in rg.SPLIT_KEYS) in crossing]
    claims = [
        Claim.from_exact(
            "sufficient-conditions", SOURCE,
            "a near-uniform split code with delta >= 0.4 is not a minimiser once l >= (c/eps) d 2^d and beta >= c log(c/eps) 2^d "
            "(c: the smallest c making the code near-uniform): relabelling lowers L there",
            largest(paper[k][0]["delta_loss"] for k in regular), units, **lower, preconditions=[has_regular], n=len(regular)),
        Claim.from_exact(
            "beta-alone-suffices", "package prediction from the proof of Theorem 5.4",
            f"for delta >= 0.4 a large beta alone makes relabelling win, at every l down to l = 1 (tested at beta = {beta_max:g})",
            largest(r["delta_loss"] for k in regular for r in grid[k] if r["beta"] == beta_max), units, **lower, n=len(regular),
            preconditions=[has_regular, Check.below("largest grid beta / smallest sufficient beta of the regular splits", beta_max / below_paper, 1.0)]),
        Claim.from_exact(
            "more-negatives-help", f"{SOURCE}, its condition l >= (c/eps) d 2^d read as a monotone effect",
            "for delta >= 0.4, once relabelling wins at some l it wins at every larger l (same beta)",
            largest(after_win), "nats: largest Delta L at a larger l after a win", **lower, n=len(after_win),
            preconditions=[has_regular, Check.at_least("(split, beta) pairs that win below the largest l", len(after_win), 1)]),
        Claim.from_exact(
            "corollary-in-cluster", COROLLARY,
            "with rho = 2^(d+1) + 1/delta relabelling lowers L_rho for splits with delta < 0.4 (where L alone may prefer the split)",
            weighted(inside), "nats: L_rho(relabelled) - L_rho(split), worst grid point", **lower, n=len(inside),
            preconditions=[Check.at_least("splits with delta < 0.4 and in-cluster disagreement", len(inside), 1), corollary_regime(inside),
                           Check.above("largest Delta L of these splits (L alone prefers the split somewhere)", largest(r["delta_loss"] for k in inside for r in grid[k]), null + step)]),
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

    summaries = rg.split_summaries(rows)
    grid = rg.rows_by_split(rows, "grid")
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    regular = [s for s in summaries if s["delta"] >= config.delta_min] or summaries
    pick = max(regular, key=lambda s: (s["l_flip_beta_max"] or 0, -s["delta"]))
    ls, betas, change = rg.grid_table(grid[tuple(pick[k] for k in rg.SPLIT_KEYS)], "delta_loss")
    image = signed_heatmap(axes[0], change, [f"{b:g}" for b in betas], ls, scale=1e-3)
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
    first, _, share, inside, _, _ = rg.classify_splits(grid, config.delta_min, config.in_cluster_min)
    for key in share:  # the splits with delta < delta_min
        ls, betas, needed = rg.grid_table(grid[key], "rho_needed")
        style = {"color": "tab:green", "ls": "-"} if key in inside else {"color": "tab:red", "ls": "--"}
        ax.plot(betas, needed.max(axis=0) / first[key]["rho_corollary"], marker="o", ms=3, alpha=0.7, **style)
    ax.plot([], [], color="tab:green", label="leak p > 0: disagreement inside the cluster")
    ax.plot([], [], color="tab:red", ls="--", label="p = 0: only cross-cluster noise (outside the paper's model)")
    ax.axhline(1.0, color="k", lw=1)
    ax.text(0.02, 1.08, "above: the corollary's rho is not enough", fontsize=7, transform=ax.get_yaxis_transform())
    ax.set(xscale="log", yscale="log", xlabel="beta", ylabel="needed rho / (2^(d+1) + 1/delta), worst l")
    ax.set_title(f"(c) weighted InfoNCE on every split with delta < {config.delta_min:g} (one line each)", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    fig.tight_layout()
    return fig
