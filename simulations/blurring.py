"""Markov-chain blurring (proof of Lemma 4.4): does every lazy-walk step lower the loss?

For clean codes the InfoNCE is Ltilde(D) = E log(1 + sum_{i<=l} exp(-2 beta h(y, ybar_i))) with
y, ybar_i ~ D on the hypercube. The printed proof of Lemma 4.4 blurs D with the lazy walk and
claims each step strictly lowers Ltilde unless D is uniform (beta > c log d, d > 3). Three
experiments, each a function the run calls: chain_experiment (the loss along the walk),
curvature_experiment (the Walsh curvature of Ltilde at the uniform law and the threshold beta*(d, l)
below which one is negative) and search_experiment (laws whose step raises Ltilde). Library:
clustertheory.analysis.blurring; the distance chain's kernel and Lemma 18 are the simulation
`blurring-kernel`. Everything is exact (Monte Carlo only as a check), so each claim is the extreme
over the laws and cells it covers (Claim.from_exact).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np

from clustertheory.analysis import blurring as bl
from clustertheory.analysis.arms import select
from clustertheory.analysis.hypercube import MAX_EXACT_DIM
from clustertheory.config import Integer, OneOf, Real, TupleOf, setting
from clustertheory.plotting import hit_map, named_curves
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.verdict import largest

NAME = "blurring"
SUMMARY = "Lemma 4.4's blurring chain, exactly: where a lazy-walk step lowers the loss and where it raises it (below a Walsh-curvature threshold)"
LEMMA = "Parulekar et al. 2023, proof of Lemma 4.4"
MARGINAL = 1e-6  # curvatures within this fraction of max_k |c_k| of 0 are neither negative nor positive
DIMS, BETAS = TupleOf(Integer(2, MAX_EXACT_DIM), increasing=True), TupleOf(Real(1e-3, 100), increasing=True)
NEGATIVES = TupleOf(Integer(1), increasing=True)


@dataclass(frozen=True)
class Config(SimulationConfig):
    """minimal_increase: the exact losses agree to ~1e-15, the effects in question are > 1e-10, so 1e-12."""

    kernel: str = setting("exact", OneOf(*bl.KERNEL_VARIANTS), "the Hamming kernel the chains' distance laws are propagated with")
    chain_dims: tuple = setting((4, 6), DIMS, "dims of the loss curves along the walk")
    chain_negatives: tuple = setting((1, 16), NEGATIVES, "l of the loss curves")
    chain_betas: tuple = setting((0.2, 3.0), BETAS, "betas of the loss curves")
    chain_steps: int = setting(25, Integer(1), "blurring steps per curve")
    mc_samples: int = setting(20_000, Integer(100), "Monte Carlo draws of the loss check (at step T/5)")
    loss_z_limit: float = setting(4.5, Real(0, open_lo=True), "the |z| limit of exact loss vs Monte Carlo")
    fd_dims: tuple = setting((4, 6), DIMS, "dims of the finite-difference check of the curvature")
    fd_betas: tuple = setting((0.3, 2.0), BETAS, "betas of that check")
    threshold_dims: tuple = setting((3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40), TupleOf(Integer(2, bl.MAX_CURVATURE_DIM), increasing=True),
                                    "dims where the curvature threshold beta*(d, l) is found")
    threshold_negatives: tuple = setting((1, 4, 16, 64), NEGATIVES, "l of the thresholds")
    search_dims: tuple = setting((2, 3, 4, 5), DIMS, "dims of the cells searched for a raising step")
    search_negatives: tuple = setting((1, 4, 16, 64), NEGATIVES, "l of the searched cells")
    search_betas: tuple = setting((0.05, 0.2, 0.5, 1.0, 3.0, 10.0), BETAS, "betas of the searched cells")
    search_steps: int = setting(25, Integer(1), "gradient steps of the search")
    search_restarts: int = setting(2, Integer(0), "Dirichlet restarts of the search")
    tilt_amplitudes: tuple = setting((0.05, 0.2, 0.5), TupleOf(Real(0, 1, open_lo=True), increasing=True),
                                     "tilts of the uniform law along its worst Walsh direction")
    log_d_factor: float = setting(1.0, Real(0, open_lo=True), "c in the paper's condition beta > c log d (the paper leaves c open; 1 is tested)")
    null_increase: float = setting(0.0, Real(), "no change of Ltilde over a step (0 by definition)")
    minimal_increase: float = setting(1e-12, Real(0, open_lo=True), "the smallest change that counts as raising or lowering")


SCALES = {
    "default": Config(),
    "paper": Config(
        chain_dims=(4, 6, 8, 10), chain_negatives=(1, 4, 16, 64), chain_betas=(0.05, 0.2, 1.0, 3.0, 10.0), chain_steps=40,
        mc_samples=50_000, fd_dims=(4, 6, 8), fd_betas=(0.1, 0.3, 1.0, 2.0),
        threshold_dims=(3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 20, 24, 28, 32, 36, 40), threshold_negatives=(1, 2, 4, 8, 16, 32, 64),
        search_dims=(2, 3, 4, 5, 6, 7, 8), search_negatives=(1, 2, 4, 8, 16, 32, 64),
        search_betas=(0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 2.0, 3.0, 10.0), search_steps=150, search_restarts=16,
    ),
}


def chain_experiment(config: Config, ctx: RunContext) -> list[dict]:
    """Per (d, l, beta): Ltilde(u), then per starting law and step exact Ltilde(D_t), the step's change,
    the distance law (propagated by the kernel, against Binomial(d, 1/2)) and, at step T/5, Monte Carlo."""
    rows = []
    for d, l, beta in itertools.product(config.chain_dims, config.chain_negatives, config.chain_betas):
        mc_seed = functools.partial(ctx.seed_for, "mc", d, l, beta)  # (start, t) -> the Monte Carlo seed
        rows += bl.chain_rows(d, l, beta, config.chain_steps, config.kernel, ctx.seed_for("laws", d), config.mc_samples, mc_seed)
    return rows


def curvature_experiment(config: Config, ctx: RunContext) -> list[dict]:
    """The curvature formula against a second difference of the exact loss along each Walsh direction
    (l = 1 and the largest threshold l), and the threshold beta*(d, l) per (d, l)."""
    cells = itertools.product(config.fd_dims, (1, max(config.threshold_negatives)), config.fd_betas)
    rows = [r for d, l, beta in cells for r in bl.curvature_fd_rows(d, l, beta)]
    return rows + [bl.threshold_row(d, l) for d, l in itertools.product(config.threshold_dims, config.threshold_negatives)]


def search_experiment(config: Config, ctx: RunContext) -> list[dict]:
    """Per (d, l, beta): the largest exact one-step change of Ltilde found from the batched search
    (every reported law re-evaluated exactly) and from tilts u + a eta_k along the worst degree k."""
    return [r for d in config.search_dims for r in bl.search_rows(
        d, config.search_negatives, config.search_betas, config.search_steps, config.search_restarts, config.tilt_amplitudes,
        ctx.seed_for("search", d), config.log_d_factor, ctx.device)]


def run(config: Config, ctx: RunContext) -> list[dict]:
    """The three experiments, one sweep unit each."""
    experiments = {"chain": chain_experiment, "curvature": curvature_experiment, "search": search_experiment}
    units = [{"experiment": name} for name in experiments]
    rows = ctx.sweep(units, lambda unit: experiments[unit["experiment"]](config, ctx), desc="blurring experiments")
    return [{k: v for k, v in r.items() if k != "experiment"} for r in rows]


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Package checks (loss, curvature, search against exact and simulated references) and the
    claims: blurring inside the conditions, and our thresholds."""
    search, chain, uniform = select(rows, kind="search"), select(rows, kind="chain"), select(rows, kind="uniform")
    thresholds = select(rows, kind="threshold")
    checks = [
        Check.at_most("distance law of D_t vs that of D_0 times K^t (max |diff|)", largest(r["propagation_error"] for r in chain), 1e-10),
        Check.at_most("exact Ltilde vs Monte Carlo along the chains (max |z|)",
                      largest(bl.monte_carlo_z(r) for r in chain if not math.isnan(r["mc_loss"])), config.loss_z_limit),
        Check.at_most("Ltilde(uniform) vs the closed-form minimum (max rel. error)", largest(abs(r["loss"] / r["uniform_minimum"] - 1) for r in uniform), 1e-10),
        Check.at_most("curvature formula vs second difference of Ltilde (max |diff| / max_k |c_k|)", largest(bl.curvature_fd_errors(rows)), 1e-4),
        Check.at_most("search's loss change vs the exact one on the laws it reports (max |diff|)", largest(abs(r["search_increase"] - r["search_increase_exact"]) for r in search), 1e-10),
    ]

    cells = bl.cell_increases(rows, config.log_d_factor)
    negative = {k: v for k, v in cells.items() if v["curvature"] < -MARGINAL}
    positive_outside = {k: v for k, v in cells.items() if v["curvature"] > MARGINAL and not v["inside"]}
    inside = {k: v for k, v in cells.items() if v["inside"]}
    searched_negative = [r["search_increase_exact"] > config.null_increase + config.minimal_increase for r in search if r["relative_curvature"] < -MARGINAL]
    sensitive = Check.all_of("searched cells with a negative curvature where the search finds a raising law", searched_negative)
    null, step = config.null_increase, config.minimal_increase
    lowers = {"null": null, "minimal_effect": null - step, "direction": "less"}
    units = "nats: largest Ltilde(K D) - Ltilde(D) over the laws tried"
    claims = [
        Claim.from_exact(
            "blurring-lowers-inside", LEMMA, f"for d > 3 and beta > c log d (c = {config.log_d_factor:g}) every blurring step strictly lowers Ltilde unless D is uniform",
            largest(v["increase"] for v in inside.values()), units, **lowers, n=len(inside),
            preconditions=[Check.at_least("cells inside the conditions", len(inside), 1), sensitive]),
        Claim.from_exact(
            "raises-below-threshold", "package prediction (Walsh curvature of Ltilde at the uniform law)",
            "where the uniform law has a negative Walsh curvature (beta < beta*(d, l)), some blurring step raises Ltilde",
            min((v["increase"] for v in negative.values()), default=math.nan), units.replace("largest", "smallest over cells of the largest"),
            null=null, minimal_effect=null + step, direction="greater", n=len(negative),
            preconditions=[Check.at_least("cells with a negative curvature", len(negative), 1)]),
        Claim.from_exact(
            "lowers-above-threshold", "package prediction (Walsh curvature of Ltilde at the uniform law)",
            "outside the paper's conditions, wherever every Walsh curvature at the uniform law is positive, every step lowers Ltilde",
            largest(v["increase"] for v in positive_outside.values()), units, **lowers, n=len(positive_outside),
            preconditions=[Check.at_least("cells outside the conditions with positive curvature", len(positive_outside), 1), sensitive]),
        Claim.from_exact(
            "threshold-below-log-d", f"{LEMMA} (its condition beta > c log d, c = {config.log_d_factor:g}, at the uniform law)",
            "for d > 3 the uniform law is a local minimiser of Ltilde once beta > c log d: beta*(d, l) <= c log d",
            largest(r["beta_star"] / (config.log_d_factor * r["log_d"]) for r in thresholds if r["d"] > 3), "beta*(d, l) / (c log d), largest over d > 3 and l",
            null=1.0, minimal_effect=1.0, direction="less", n=sum(r["d"] > 3 for r in thresholds),
            preconditions=[Check.at_most("sign changes of the smallest curvature along the beta scan (max)", largest(r["sign_changes"] for r in thresholds), 1)]),
    ]
    return Verdict(checks, claims)


def _chain_panel(ax, rows: list[dict], d: int, l: int, beta: float, symlog: bool, log_d_factor: float) -> None:
    """Ltilde(D_t) - L* along the walk from every starting law (thick: a curve that rises somewhere)."""
    curves = bl.chain_curves(rows, d, l, beta, "loss_minus_minimum", lambda r: symlog or r["loss_minus_minimum"] > 0)
    named_curves(ax, curves, bl.rising_starts(rows, d, l, beta), " (rises)")
    if symlog:
        ax.axhline(0, color="k", lw=0.6)
        ax.set_yscale("symlog", linthresh=1e-7)
    else:
        ax.set_yscale("log")
    inside = "inside" if bl.inside_conditions(d, beta, log_d_factor) else "outside"
    ax.set(xlabel="blurring step t", ylabel="Ltilde(D_t) - L*  (L*: the uniform law)")
    ax.set_title(f"loss along the walk, d={d}, l={l}, beta={beta:g} ({inside} beta > log d)", fontsize=9)
    ax.legend(fontsize=6, loc="best")


def _threshold_panel(ax, rows: list[dict], config: Config) -> None:
    """beta*(d, l) per l, the paper's c log d and the parity asymptote, and per searched cell whether a step raises Ltilde."""
    for i, (l, (dims, beta_star)) in enumerate(bl.threshold_curves(rows).items()):
        ax.plot(dims, beta_star, "-s", ms=3, color=f"C{i}", label=f"beta*(d, l), l={l}")
    dims = np.arange(3, max(r["d"] for r in select(rows, kind="threshold")) + 1)
    ax.plot(dims, config.log_d_factor * np.log(dims), ":", color="k", label=f"paper: beta = {config.log_d_factor:g} log d")
    ax.plot(dims, [bl.parity_asymptote(int(d)) for d in dims], "--", color="grey", label="1/2 log(d / 1.18)")
    negatives, search = sorted(config.search_negatives), select(rows, kind="search")
    raises = [max(r["tilt_increase"], r["search_increase_exact"]) > config.minimal_increase for r in search]
    hit_map(ax, [r["d"] for r in search], [r["beta"] for r in search], raises, [negatives.index(r["l"]) for r in search], len(negatives),
            hit_label="a step raises Ltilde", miss_label=f"none found (l = {', '.join(map(str, negatives))}, left to right)")
    ax.set(xscale="log", yscale="log", xlabel="d", ylabel="beta")
    ticks = [d for d in (2, 3, 4, 6, 8, 12, 16, 24, 32, 40) if d <= dims[-1]]
    ax.set_xticks(ticks, [str(d) for d in ticks])
    ax.set_xticks([], minor=True)
    ax.set_title("a blurring step raises the loss exactly below beta*(d, l),\nwhere the uniform law has a negative curvature", fontsize=9)
    ax.legend(fontsize=6, loc="lower right")


def plot(rows: list[dict], config: Config):
    """Four panels: loss along the walk inside / below the threshold, the distance law, and the
    (d, beta) map of steps that raise the loss."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    d, cell = max(config.chain_dims), (max(config.chain_negatives), max(config.chain_betas))
    _chain_panel(axes[0, 0], rows, d, *cell, symlog=False, log_d_factor=config.log_d_factor)
    _chain_panel(axes[0, 1], rows, d, min(config.chain_negatives), min(config.chain_betas), symlog=True, log_d_factor=config.log_d_factor)
    # below 1e-14: the parity tilt lands on u
    named_curves(axes[1, 0], bl.chain_curves(rows, d, *cell, "distance_tv_binomial", lambda r: r["distance_tv_binomial"] > 1e-14))
    axes[1, 0].set(yscale="log", xlabel="blurring step t", ylabel="TV(law of h(y, ybar), Binomial(d, 1/2))")
    axes[1, 0].set_title(f"the distance law approaches Binomial(d, 1/2), d={d}", fontsize=9)
    _threshold_panel(axes[1, 1], rows, config)
    fig.suptitle("Blurring on the hypercube (Lemma 4.4), computed exactly", fontsize=11)
    fig.tight_layout()
    return fig
