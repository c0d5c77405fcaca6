"""The Hamming-distance chain of Lemma 4.4's blurring proof: its +2 entry and Lemma 18, exactly.

Two independent lazy walkers on the hypercube H_d (each step, with probability 1/2, flip one
uniformly chosen bit) have a Hamming distance that is a Markov chain on 0..d. The printed proof
of Lemma 4.4 uses that chain with the +2 entry (d-h)(d-h+1)/(4d^2), and Lemma 18 claims
sum_k C(d,k) Delta_C(k) < 0 for every C > 1 once beta > c log d (Delta_C: the expected change of
log(C + e^{-2 beta h}) over one step). Two experiments, each a function the run calls (library:
clustertheory.analysis.blurring; the loss along the walk is the simulation `blurring`):

    kernel_experiment     the package kernel against enumeration and two simulated walkers
    lemma18_experiment    the Lemma 18 sum with that kernel and with the printed one

The Lemma 18 sum is exact (Claim.from_exact: the extreme over the grid); the printed kernel
entry is held against simulation (a Wilson interval).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from clustertheory import statistics as st
from clustertheory.analysis import blurring as bl
from clustertheory.analysis.arms import select
from clustertheory.analysis.hypercube import MAX_EXACT_DIM
from clustertheory.config import Integer, OneOf, Real, TupleOf, setting
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.verdict import largest

NAME = "blurring-kernel"
SUMMARY = "Lemma 4.4's distance chain, exactly: the printed +2 kernel entry vs simulated walkers, and the Lemma 18 sum (= 0, not < 0)"
LEMMA = "Parulekar et al. 2023, proof of Lemma 4.4"


@dataclass(frozen=True)
class Config(SimulationConfig):
    """kernel_margin: an equivalence margin (null = minimal effect = margin); 0.01 is a fifth of the
    printed entry's excess 1/(2d) at h = 0, d = 10, and 5 standard errors of a 40 000-step
    frequency. lemma_minimal: 1e-9 is far above rounding (1e-16), far below any real effect.
    """

    kernel: str = setting("exact", OneOf(*bl.KERNEL_VARIANTS), 'the Hamming kernel the package uses ("paper"/"paper-remainder": printed +2 entry)')
    kernel_dims: tuple = setting((3, 6, 10), TupleOf(Integer(2, MAX_EXACT_DIM), increasing=True), "dims of the kernel experiment")
    kernel_samples: int = setting(40_000, Integer(100), "simulated steps of two walkers per row h")
    kernel_z_limit: float = setting(5.0, Real(0, open_lo=True), "the |z| limit of kernel vs simulation (hundreds of entries: chance max ~ 3.5)")
    kernel_claim_h: int = setting(0, Integer(0),
                                  "the row h of the printed-entry claim (at the largest d; h = 0: printed and derived differ most, by 1/(2d))")
    kernel_margin: float = setting(0.01, Real(0, 1, open_lo=True), "the printed entry counts as right when it is within this of the walk's frequency")
    lemma_dims: tuple = setting((2, 4, 6, 8, 10), TupleOf(Integer(2, MAX_EXACT_DIM), increasing=True), "dims of the Lemma 18 grid")
    lemma_betas: tuple = setting((0.05, 0.2, 1.0, 3.0, 10.0), TupleOf(Real(1e-3, 100), increasing=True), "betas of the Lemma 18 grid")
    lemma_cs: tuple = setting((1.001, 2.0, 10.0, 100.0), TupleOf(Real(1, 1e12, open_lo=True), increasing=True), "C > 1 of the Lemma 18 grid")
    lemma_minimal: float = setting(1e-9, Real(0, open_lo=True),
                                   "how negative (relative to sum_k C(d,k) |Delta_C(k)|) the sum must be to count as < 0")
    log_d_factor: float = setting(1.0, Real(0, open_lo=True), "c in the paper's condition beta > c log d (the paper leaves c open; 1 is tested)")

    def validate(self) -> None:
        if self.kernel_claim_h > max(self.kernel_dims) - 2:
            raise ValueError(f"kernel_claim_h must be <= max(kernel_dims) - 2 (a +2 move must exist), got {self.kernel_claim_h}")


SCALES = {
    "default": Config(),
    "paper": Config(
        kernel_dims=(2, 3, 4, 6, 8, 10, 12), kernel_samples=200_000, lemma_dims=(2, 3, 4, 5, 6, 8, 10, 12),
        lemma_betas=(0.01, 0.05, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0), lemma_cs=(1.001, 1.1, 2.0, 10.0, 100.0, 1e4),
    ),
}


def kernel_experiment(config: Config, ctx: RunContext) -> list[dict]:
    """Per (d, h): the package kernel row against the enumerated joint moves, the stationarity of
    Binomial(d, 1/2), and one simulated step of two bit-flip walkers (counts, z-scores, the +2 move)."""
    return [r for d in config.kernel_dims for r in bl.kernel_rows(d, config.kernel, config.kernel_samples, ctx.seed_for("kernel", d))]


def lemma18_experiment(config: Config) -> list[dict]:
    """Per (d, beta, C): the sum over the kernel relative to its scale, and with the printed kernel."""
    return [bl.lemma18_row(d, beta, c, config.kernel) for d, beta, c in itertools.product(config.lemma_dims, config.lemma_betas, config.lemma_cs)]


def run(config: Config, ctx: RunContext) -> list[dict]:
    """The two experiments, one sweep unit each."""
    experiments = {"kernel": lambda: kernel_experiment(config, ctx), "lemma18": lambda: lemma18_experiment(config)}
    units = [{"experiment": name} for name in experiments]
    rows = ctx.sweep(units, lambda unit: experiments[unit["experiment"]](), desc="blurring-kernel experiments")
    return [{k: v for k, v in r.items() if k != "experiment"} for r in rows]


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Package checks (the kernel against enumeration, stationarity and simulated walkers) and the
    claims: the printed kernel entry and Lemma 18."""
    kernel, lemma = select(rows, kind="kernel"), select(rows, kind="lemma18")
    kernel_check = Check.at_most("kernel vs simulated bit-flip walkers (max |z|)", largest(r["max_abs_z"] for r in kernel), config.kernel_z_limit)
    checks = [
        Check.at_most("kernel rows sum to 1 (max |sum - 1|)", largest(abs(r["row_sum"] - 1) for r in kernel), 1e-12),
        Check.at_most("kernel vs the enumerated joint moves of two walkers (max |diff|)", largest(r["enumeration_error"] for r in kernel), 1e-12),
        Check.at_most("Binomial(d, 1/2) is stationary for the kernel (max |pi K - pi|)", largest(r["stationarity_residual"] for r in kernel), 1e-12),
        kernel_check,
    ]
    last = max(config.kernel_dims)
    entry = next(r for r in kernel if r["d"] == last and r["h"] == config.kernel_claim_h)
    frequency = st.wilson_interval(entry["plus2_count"], entry["samples"])
    gap = bl.entry_gap(entry["plus2_printed"], frequency)
    in_regime = [r for r in lemma if r["beta"] > config.log_d_factor * math.log(r["d"])]
    claims = [
        Claim.from_interval(
            "printed-kernel-entry", f"{LEMMA} (the distance chain's +2 entry)",
            "two independent lazy walkers at distance h move to h + 2 with probability (d-h)(d-h+1)/(4d^2)",
            gap, f"probability: |printed entry - simulated frequency| at d = {last}, h = {config.kernel_claim_h}",
            null=config.kernel_margin, minimal_effect=config.kernel_margin, direction="less", detectable=st.detectable_proportion(frequency.estimate, frequency.n),
            preconditions=[Check.at_most("simulated walkers vs the enumerated joint moves (max |z|)", largest(r["max_abs_z_enumerated"] for r in kernel), config.kernel_z_limit)]),
        Claim.from_exact(
            "lemma-18-negative", "Parulekar et al. 2023, Lemma 18",
            "sum_k C(d,k) Delta_C(k) < 0 for every C > 1 once beta > c log d",
            largest(r["lemma18_relative"] for r in in_regime), "largest sum_k C(d,k) Delta_C(k) / sum_k C(d,k) |Delta_C(k)| on the grid",
            null=0.0, minimal_effect=-config.lemma_minimal, direction="less", n=len(in_regime),
            preconditions=[Check.at_least("grid points with beta > c log d", len(in_regime), 1), kernel_check]),
    ]
    return Verdict(checks, claims)


def plot(rows: list[dict], config: Config):
    """Two panels: the +2 kernel entry (derived, printed, simulated) and the Lemma 18 sum."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    ax, d = axes[0], max(config.kernel_dims)
    points = [r for r in select(rows, kind="kernel") if r["d"] == d]
    h = [r["h"] for r in points]
    ax.plot(h, [r["plus2_derived"] for r in points], "-", color="tab:green", label="(d-h)(d-h-1)/(4d^2)  derived")
    ax.plot(h, [r["plus2_printed"] for r in points], "--", color="tab:red", label="(d-h)(d-h+1)/(4d^2)  printed")
    freq = [r["plus2_count"] / r["samples"] for r in points]
    errors = [2 * math.sqrt(f * (1 - f) / r["samples"]) for f, r in zip(freq, points)]
    ax.errorbar(h, freq, yerr=errors, fmt="o", color="k", ms=4, capsize=2, label="two simulated walkers (+-2 s.e.)")
    ax.set(xlabel="current distance h", ylabel="P[h -> h + 2] in one step")
    ax.set_title(f"the distance chain's +2 entry, d={d}: the printed one is wrong", fontsize=9)
    ax.legend(fontsize=7)

    ax, c = axes[1], sorted(config.lemma_cs)[len(config.lemma_cs) // 2]
    lemma = select(rows, kind="lemma18", C=c)
    for i, d in enumerate(config.lemma_dims):
        points = sorted((r for r in lemma if r["d"] == d), key=lambda r: r["beta"])
        betas = [r["beta"] for r in points]
        ax.plot(betas, [r["lemma18_relative_printed"] for r in points], "--v", ms=3, color=f"C{i}", label=f"d={d}")
        ax.plot(betas, [r["lemma18_relative"] for r in points], "-o", ms=3, color=f"C{i}")
    ax.plot([], [], "--v", color="grey", label="printed kernel")
    ax.plot([], [], "-o", color="grey", label=f"{config.kernel} kernel: 0 to rounding")
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xscale="log", xlabel="beta", ylabel="sum_k C(d,k) Delta_C(k) / sum_k C(d,k) |Delta_C(k)|")
    ax.set_title(f"Lemma 18 claims this sum < 0 (C = {c:g}); with the right kernel it is 0", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    fig.suptitle("The distance chain of Lemma 4.4's blurring proof, computed exactly", fontsize=11)
    fig.tight_layout()
    return fig
