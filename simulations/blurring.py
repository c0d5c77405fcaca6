"""Markov-chain blurring (proof of Lemma 4.4): does every lazy-walk step lower the loss?

For clean codes the InfoNCE is Ltilde(D) = E log(1 + sum_{i<=l} exp(-2 beta h(y, ybar_i))) with
y, ybar_i ~ D on the hypercube. The printed proof of Lemma 4.4 blurs D with the lazy walk and
claims each step strictly lowers Ltilde unless D is uniform (beta > c log d, d > 3). Five
experiments, each a function the run calls (library: clustertheory.analysis.blurring):

    kernel_experiment     the Hamming-distance kernel against enumeration and two simulated walkers
    lemma18_experiment    the Lemma 18 sum sum_k C(d,k) Delta_C(k) with that kernel
    chain_experiment      exact Ltilde along the walk from several starting laws (Monte Carlo check)
    curvature_experiment  the curvature of Ltilde at the uniform law per Walsh degree (finite-
                          difference check) and the beta*(d, l) below which one is negative
    search_experiment     per (d, l, beta) cell, laws whose step raises Ltilde: a batched gradient
                          search and tilts of the uniform law along its worst Walsh direction

Everything is exact (Monte Carlo only as a check), so each claim is the extreme over the laws and
cells it covers (Claim.from_exact), except the printed kernel entry, held against simulation.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from clustertheory import statistics as st
from clustertheory.analysis import blurring as bl
from clustertheory.analysis.exact_loss import uniform_minimum
from clustertheory.analysis.hypercube import MAX_EXACT_DIM
from clustertheory.analysis.metrics import uniformity
from clustertheory.config import Integer, OneOf, Real, TupleOf
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict

NAME = "blurring"
SUMMARY = "Lemma 4.4's blurring chain, exactly: kernel vs simulation, the Lemma 18 sum (= 0), and where a step raises the loss"
LEMMA = "Parulekar et al. 2023, proof of Lemma 4.4"
UNIFORM = 1e-20  # a law with collision excess below this is the uniform law (the statement excludes it)


@dataclass(frozen=True)
class Config(SimulationConfig):
    """kernel: the Hamming kernel the package uses ("paper" / "paper-remainder": the printed +2 entry).
    kernel_*: dims, simulated steps per row, the |z| limit (hundreds of entries: chance max ~ 3.5),
    the row h of the printed-entry claim (at the largest d; h = 0 is where printed and derived
    differ most, by 1/(2d)) and its margin; lemma_*: the Lemma 18 grid; chain_*: loss curves,
    mc_samples / loss_z_limit: their Monte Carlo check; fd_*: finite-difference check of the
    curvature; threshold_*: where the curvature changes sign; search_*: the cells searched for a
    raising step, tilt_amplitudes: tilts of the uniform law along its worst Walsh direction.

    log_d_factor     c in the paper's condition beta > c log d (the paper leaves c open; 1 is tested)
    kernel_margin    an equivalence margin: the printed entry counts as right when it is within this
                     of the walk's frequency (null = minimal effect = margin). 0.01 is a fifth of
                     the printed entry's excess 1/(2d) at h = 0, d = 10, and 5 standard errors of a
                     40 000-step frequency
    lemma_minimal    how negative (relative to sum_k C(d,k) |Delta_C(k)|) the sum must be to count as
                     < 0: 1e-9, far above rounding (1e-16), far below any real effect
    null_increase    no change of Ltilde over a step (0 by definition)
    minimal_increase the smallest change that counts as raising or lowering: the exact losses agree
                     to ~1e-15, the effects in question are > 1e-10, so 1e-12
    """

    kernel: str = "exact"
    kernel_dims: tuple = (3, 6, 10)
    kernel_samples: int = 40_000
    kernel_z_limit: float = 5.0
    kernel_claim_h: int = 0
    kernel_margin: float = 0.01
    lemma_dims: tuple = (2, 4, 6, 8, 10)
    lemma_betas: tuple = (0.05, 0.2, 1.0, 3.0, 10.0)
    lemma_cs: tuple = (1.001, 2.0, 10.0, 100.0)
    lemma_minimal: float = 1e-9
    chain_dims: tuple = (4, 6)
    chain_negatives: tuple = (1, 16)
    chain_betas: tuple = (0.2, 3.0)
    chain_steps: int = 25
    mc_samples: int = 20_000
    loss_z_limit: float = 4.5
    fd_dims: tuple = (4, 6)
    fd_betas: tuple = (0.3, 2.0)
    threshold_dims: tuple = (3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40)
    threshold_negatives: tuple = (1, 4, 16, 64)
    search_dims: tuple = (2, 3, 4, 5)
    search_negatives: tuple = (1, 4, 16, 64)
    search_betas: tuple = (0.05, 0.2, 0.5, 1.0, 3.0, 10.0)
    search_steps: int = 25
    search_restarts: int = 2
    tilt_amplitudes: tuple = (0.05, 0.2, 0.5)
    log_d_factor: float = 1.0
    null_increase: float = 0.0
    minimal_increase: float = 1e-12

    constraints = {
        "kernel": OneOf(*bl.KERNEL_VARIANTS),
        "kernel_dims": TupleOf(Integer(2, MAX_EXACT_DIM), increasing=True),
        "kernel_samples": Integer(100),
        "kernel_z_limit": Real(0, open_lo=True),
        "kernel_claim_h": Integer(0),
        "kernel_margin": Real(0, 1, open_lo=True),
        "lemma_dims": TupleOf(Integer(2, MAX_EXACT_DIM), increasing=True),
        "lemma_betas": TupleOf(Real(1e-3, 100), increasing=True),
        "lemma_cs": TupleOf(Real(1, 1e12, open_lo=True), increasing=True),
        "lemma_minimal": Real(0, open_lo=True),
        "chain_dims": TupleOf(Integer(2, MAX_EXACT_DIM), increasing=True),
        "chain_negatives": TupleOf(Integer(1), increasing=True),
        "chain_betas": TupleOf(Real(1e-3, 100), increasing=True),
        "chain_steps": Integer(1),
        "mc_samples": Integer(100),
        "loss_z_limit": Real(0, open_lo=True),
        "fd_dims": TupleOf(Integer(2, MAX_EXACT_DIM), increasing=True),
        "fd_betas": TupleOf(Real(1e-3, 100), increasing=True),
        "threshold_dims": TupleOf(Integer(2, bl.MAX_CURVATURE_DIM), increasing=True),
        "threshold_negatives": TupleOf(Integer(1), increasing=True),
        "search_dims": TupleOf(Integer(2, MAX_EXACT_DIM), increasing=True),
        "search_negatives": TupleOf(Integer(1), increasing=True),
        "search_betas": TupleOf(Real(1e-3, 100), increasing=True),
        "search_steps": Integer(1),
        "search_restarts": Integer(0),
        "tilt_amplitudes": TupleOf(Real(0, 1, open_lo=True), increasing=True),
        "log_d_factor": Real(0, open_lo=True),
        "null_increase": Real(),
        "minimal_increase": Real(0, open_lo=True),
    }

    def validate(self) -> None:
        if self.kernel_claim_h > max(self.kernel_dims) - 2:
            raise ValueError(f"kernel_claim_h must be <= max(kernel_dims) - 2 (a +2 move must exist), got {self.kernel_claim_h}")


SCALES = {
    "default": Config(),
    "paper": Config(
        kernel_dims=(2, 3, 4, 6, 8, 10, 12), kernel_samples=200_000, lemma_dims=(2, 3, 4, 5, 6, 8, 10, 12),
        lemma_betas=(0.01, 0.05, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0), lemma_cs=(1.001, 1.1, 2.0, 10.0, 100.0, 1e4),
        chain_dims=(4, 6, 8, 10), chain_negatives=(1, 4, 16, 64), chain_betas=(0.05, 0.2, 1.0, 3.0, 10.0), chain_steps=40,
        mc_samples=50_000, fd_dims=(4, 6, 8), fd_betas=(0.1, 0.3, 1.0, 2.0),
        threshold_dims=(3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 20, 24, 28, 32, 36, 40), threshold_negatives=(1, 2, 4, 8, 16, 32, 64),
        search_dims=(2, 3, 4, 5, 6, 7, 8), search_negatives=(1, 2, 4, 8, 16, 32, 64),
        search_betas=(0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 2.0, 3.0, 10.0), search_steps=150, search_restarts=16,
    ),
}


def inside_conditions(d: int, beta: float, config: Config) -> bool:
    """The paper's conditions d > 3 and beta > c log d, with c = log_d_factor."""
    return d > 3 and beta > config.log_d_factor * math.log(d)


# ----------------------------------------------------------------------------- experiments


def kernel_experiment(config: Config, ctx: RunContext) -> list[dict]:
    """Per (d, h): the package kernel row against the enumerated joint moves, the stationarity of
    Binomial(d, 1/2), and one simulated step of two bit-flip walkers (counts, z-scores, the +2 move)."""
    rows = []
    for d in config.kernel_dims:
        kernel, enumerated = bl.hamming_kernel(d, config.kernel), bl.hamming_kernel_enumerated(d)
        counts = bl.hamming_kernel_monte_carlo(d, config.kernel_samples, ctx.seed_for("kernel", d))
        z, z_enumerated = bl.kernel_z_scores(kernel, counts), bl.kernel_z_scores(enumerated, counts)
        binomial = binom.pmf(np.arange(d + 1), d, 0.5)
        stationary = binomial @ kernel - binomial
        for h in range(d + 1):
            rows.append({"kind": "kernel", "d": d, "h": h, "row_sum": float(kernel[h].sum()), "enumeration_error": float(np.abs(kernel[h] - enumerated[h]).max()),
                         "stationarity_residual": float(abs(stationary[h])), "max_abs_z": float(np.abs(z[h]).max()), "max_abs_z_enumerated": float(np.abs(z_enumerated[h]).max()),
                         "plus2_derived": float(bl.hamming_step_probs(d, h, "exact")[4]), "plus2_printed": float(bl.hamming_step_probs(d, h, "paper")[4]),
                         "plus2_count": int(counts[h, h + 2]) if h + 2 <= d else 0, "samples": int(counts[h].sum())})
    return rows


def lemma18_experiment(config: Config) -> list[dict]:
    """Per (d, beta, C): the sum over the kernel relative to its scale, and with the printed kernel."""
    rows = []
    for d, beta, c in itertools.product(config.lemma_dims, config.lemma_betas, config.lemma_cs):
        total, scale = bl.lemma18_sum(d, beta, c, config.kernel)
        printed, printed_scale = bl.lemma18_sum(d, beta, c, "paper")
        rows.append({"kind": "lemma18", "d": d, "beta": beta, "C": c, "lemma18_relative": total / scale, "lemma18_relative_printed": printed / printed_scale})
    return rows


def chain_experiment(config: Config, ctx: RunContext) -> list[dict]:
    """Per (d, l, beta, starting law, step t): exact Ltilde(D_t), the step's change, the distance law
    (propagated by the kernel and against Binomial(d, 1/2)) and, at step T/5, Monte Carlo. The
    starting laws are bl.starting_laws and a tilt of the uniform law along its worst Walsh degree."""
    rows = []
    for d, l, beta in itertools.product(config.chain_dims, config.chain_negatives, config.chain_betas):
        kernel, binomial = bl.hamming_kernel(d, config.kernel), binom.pmf(np.arange(d + 1), d, 0.5)
        minimum = uniform_minimum(d, l, beta)
        curvature = bl.uniform_curvatures(d, l, beta)
        relative = float(curvature.min() / np.abs(curvature).max())
        rows.append({"kind": "uniform", "d": d, "l": l, "beta": beta, "loss": bl.reduced_loss(np.full(2**d, 2.0**-d), l, beta), "uniform_minimum": minimum})
        laws = bl.starting_laws(d, ctx.seed_for("laws", d))
        worst = int(np.argmin(curvature)) + 1
        if worst < d:  # k = d is the parity tilt, already a starting law
            laws[f"walsh-tilt-k{worst}"] = 2.0**-d + 0.9 * bl.walsh_direction(d, worst)
        for name, law in laws.items():
            path = bl.walk_path(law, config.chain_steps)
            losses, distances = np.asarray(bl.reduced_loss(path, l, beta)), bl.distance_law(path)
            propagated = distances[0][None] @ np.stack([np.linalg.matrix_power(kernel, t) for t in range(len(path))])
            for t, p in enumerate(path):
                row = {"kind": "chain", "d": d, "l": l, "beta": beta, "start": name, "step": t, "loss": float(losses[t]), "loss_minus_minimum": float(losses[t] - minimum),
                       "increase": float(losses[t + 1] - losses[t]) if t < len(path) - 1 else math.nan, "collision_excess": uniformity(p)["collision_excess"],
                       "distance_tv_binomial": float(0.5 * np.abs(distances[t] - binomial).sum()), "propagation_error": float(np.abs(propagated[t, 0] - distances[t]).max()),
                       "relative_curvature": relative, "mc_loss": math.nan, "mc_stderr": math.nan}
                if t == max(1, config.chain_steps // 5):
                    row["mc_loss"], row["mc_stderr"] = bl.monte_carlo_reduced_loss(p, l, beta, config.mc_samples, ctx.seed_for("mc", d, l, beta, name, t))
                rows.append(row)
    return rows


def curvature_experiment(config: Config) -> list[dict]:
    """The curvature formula against a central second difference of the exact loss along each Walsh
    direction, and the threshold beta*(d, l) per (d, l)."""
    rows = []
    for d, l, beta in itertools.product(config.fd_dims, (1, max(config.threshold_negatives)), config.fd_betas):
        step, uniform = 1e-3, np.full(2**d, 2.0**-d)
        for k, curvature in enumerate(bl.uniform_curvatures(d, l, beta), start=1):
            tilt = bl.walsh_direction(d, k)
            second = (bl.reduced_loss(uniform + step * tilt, l, beta) - 2 * bl.reduced_loss(uniform, l, beta) + bl.reduced_loss(uniform - step * tilt, l, beta)) / step**2
            rows.append({"kind": "curvature", "d": d, "l": l, "beta": beta, "k": k, "curvature": float(curvature), "curvature_fd": float(second)})
    for d, l in itertools.product(config.threshold_dims, config.threshold_negatives):
        rows.append({"kind": "threshold", "d": d, "l": l, **bl.curvature_threshold(d, l), "log_d": math.log(d), "asymptote": bl.parity_asymptote(d)})
    return rows


def search_experiment(config: Config, ctx: RunContext) -> list[dict]:
    """Per (d, l, beta): the largest exact one-step change of Ltilde found from the batched search
    (every reported law re-evaluated exactly) and from tilts u + a eta_k along the worst degree k."""
    rows = []
    for d in config.search_dims:
        cells = list(itertools.product(config.search_negatives, config.search_betas))
        rng = np.random.default_rng(ctx.seed_for("search", d))
        named = bl.starting_laws(d, rng)
        starts = [named[k] for k in ("point", "dirichlet-0.1", "code-half", "code-skewed")]
        starts += [2.0**-d + 0.5 * bl.walsh_direction(d, k) for k in range(1, d + 1)] + list(rng.dirichlet(np.full(2**d, 0.3), config.search_restarts))
        found = bl.search_blurring_increases(d, [l for l, _ in cells], [b for _, b in cells], np.stack(starts), steps=config.search_steps, device=ctx.device)
        for (l, beta), result in zip(cells, found):
            curvature = bl.uniform_curvatures(d, l, beta)
            worst = int(np.argmin(curvature)) + 1
            tilts = [2.0**-d + a * bl.walsh_direction(d, worst) for a in config.tilt_amplitudes]
            exact = float(bl.step_increase(result["law"], l, beta))
            rows.append({"kind": "search", "d": d, "l": l, "beta": beta, "relative_curvature": float(curvature.min() / np.abs(curvature).max()), "worst_k": worst,
                         "inside": inside_conditions(d, beta, config), "search_increase": result["max_increase"], "search_increase_exact": exact,
                         "search_law_excess": uniformity(result["law"])["collision_excess"],
                         "tilt_increase": float(np.max(bl.step_increase(np.stack(tilts), l, beta)))})
    return rows


def run(config: Config, ctx: RunContext) -> list[dict]:
    """The five experiments, one sweep unit each."""
    experiments = {
        "kernel": lambda: kernel_experiment(config, ctx),
        "lemma18": lambda: lemma18_experiment(config),
        "chain": lambda: chain_experiment(config, ctx),
        "curvature": lambda: curvature_experiment(config),
        "search": lambda: search_experiment(config, ctx),
    }
    rows = ctx.sweep([{"experiment": name} for name in experiments], lambda unit: experiments[unit["experiment"]](), desc="blurring experiments")
    return [{k: v for k, v in r.items() if k != "experiment"} for r in rows]


# ----------------------------------------------------------------------------- verdict

MARGINAL = 1e-6  # curvatures within this fraction of max_k |c_k| of 0 are neither negative nor positive


def _select(rows: list[dict], kind: str) -> list[dict]:
    return [r for r in rows if r["kind"] == kind]


def _max(values, empty: float = math.nan) -> float:
    values = [float(v) for v in values]
    return max(values) if values else empty


def _monte_carlo_z(r: dict) -> float:
    """|exact - Monte Carlo| in standard errors; a zero-spread sample (a point law) must match to rounding."""
    if r["mc_stderr"] > 1e-12:
        return abs(st.z_score(r["mc_loss"], r["loss"], r["mc_stderr"]))
    return 0.0 if abs(r["mc_loss"] - r["loss"]) < 1e-12 else math.inf


def cell_increases(rows: list[dict], config: Config) -> dict[tuple, dict]:
    """Per (d, l, beta) cell: the largest exact one-step change of Ltilde over every non-uniform law
    tried (chain steps, search, tilts), its curvature at u relative to max_k |c_k|, and whether the
    cell lies inside the paper's conditions."""
    cells: dict[tuple, dict] = {}

    def add(r: dict, value: float) -> None:
        cell = cells.setdefault((r["d"], r["l"], r["beta"]), {"increase": -math.inf, "curvature": r["relative_curvature"], "inside": inside_conditions(r["d"], r["beta"], config)})
        cell["increase"] = max(cell["increase"], value)

    for r in _select(rows, "chain"):
        if not math.isnan(r["increase"]) and r["collision_excess"] > UNIFORM:
            add(r, r["increase"])
    for r in _select(rows, "search"):
        add(r, r["tilt_increase"])
        if r["search_law_excess"] > UNIFORM:
            add(r, r["search_increase_exact"])
    return cells


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Package checks (kernel, loss, curvature, search against exact and simulated references) and the
    claims: the printed kernel entry, Lemma 18, blurring inside the conditions, and our thresholds."""
    kernel, lemma, search = _select(rows, "kernel"), _select(rows, "lemma18"), _select(rows, "search")
    chain, uniform, curvature = _select(rows, "chain"), _select(rows, "uniform"), _select(rows, "curvature")
    thresholds = _select(rows, "threshold")
    scale = {}
    for r in curvature:
        scale[(r["d"], r["l"], r["beta"])] = max(scale.get((r["d"], r["l"], r["beta"]), 0.0), abs(r["curvature"]))
    kernel_check = Check.at_most("kernel vs simulated bit-flip walkers (max |z|)", _max(r["max_abs_z"] for r in kernel), config.kernel_z_limit)
    checks = [
        Check.at_most("kernel rows sum to 1 (max |sum - 1|)", _max(abs(r["row_sum"] - 1) for r in kernel), 1e-12),
        Check.at_most("kernel vs the enumerated joint moves of two walkers (max |diff|)", _max(r["enumeration_error"] for r in kernel), 1e-12),
        Check.at_most("Binomial(d, 1/2) is stationary for the kernel (max |pi K - pi|)", _max(r["stationarity_residual"] for r in kernel), 1e-12),
        kernel_check,
        Check.at_most("distance law of D_t vs that of D_0 times K^t (max |diff|)", _max(r["propagation_error"] for r in chain), 1e-10),
        Check.at_most("exact Ltilde vs Monte Carlo along the chains (max |z|)", _max(_monte_carlo_z(r) for r in chain if not math.isnan(r["mc_loss"])), config.loss_z_limit),
        Check.at_most("Ltilde(uniform) vs the closed-form minimum (max rel. error)", _max(abs(r["loss"] / r["uniform_minimum"] - 1) for r in uniform), 1e-10),
        Check.at_most("curvature formula vs second difference of Ltilde (max |diff| / max_k |c_k|)",
                      _max(abs(r["curvature"] - r["curvature_fd"]) / scale[(r["d"], r["l"], r["beta"])] for r in curvature), 1e-4),
        Check.at_most("search's loss change vs the exact one on the laws it reports (max |diff|)", _max(abs(r["search_increase"] - r["search_increase_exact"]) for r in search), 1e-10),
    ]

    cells = cell_increases(rows, config)
    negative = {k: v for k, v in cells.items() if v["curvature"] < -MARGINAL}
    positive_outside = {k: v for k, v in cells.items() if v["curvature"] > MARGINAL and not v["inside"]}
    inside = {k: v for k, v in cells.items() if v["inside"]}
    searched_negative = [r["search_increase_exact"] > config.null_increase + config.minimal_increase for r in search if r["relative_curvature"] < -MARGINAL]
    sensitive = Check.all_of("searched cells with a negative curvature where the search finds a raising law", searched_negative)
    null, step = config.null_increase, config.minimal_increase
    lowers = {"null": null, "minimal_effect": null - step, "direction": "less"}
    units = "nats: largest Ltilde(K D) - Ltilde(D) over the laws tried"
    last = max(config.kernel_dims)
    entry = next(r for r in kernel if r["d"] == last and r["h"] == config.kernel_claim_h)
    frequency = st.wilson_interval(entry["plus2_count"], entry["samples"])
    low, high = entry["plus2_printed"] - frequency.high, entry["plus2_printed"] - frequency.low
    gap = st.Interval(abs(entry["plus2_printed"] - frequency.estimate), max(0.0, low, -high), max(abs(low), abs(high)), frequency.level, "wilson", frequency.n)
    in_regime = [r for r in lemma if r["beta"] > config.log_d_factor * math.log(r["d"])]
    claims = [
        Claim.from_interval(
            "printed-kernel-entry", f"{LEMMA} (the distance chain's +2 entry)",
            "two independent lazy walkers at distance h move to h + 2 with probability (d-h)(d-h+1)/(4d^2)",
            gap, f"probability: |printed entry - simulated frequency| at d = {last}, h = {config.kernel_claim_h}",
            null=config.kernel_margin, minimal_effect=config.kernel_margin, direction="less", detectable=st.detectable_proportion(frequency.estimate, frequency.n),
            preconditions=[Check.at_most("simulated walkers vs the enumerated joint moves (max |z|)", _max(r["max_abs_z_enumerated"] for r in kernel), config.kernel_z_limit)]),
        Claim.from_exact(
            "lemma-18-negative", "Parulekar et al. 2023, Lemma 18",
            "sum_k C(d,k) Delta_C(k) < 0 for every C > 1 once beta > c log d",
            _max(r["lemma18_relative"] for r in in_regime), "largest sum_k C(d,k) Delta_C(k) / sum_k C(d,k) |Delta_C(k)| on the grid",
            null=0.0, minimal_effect=-config.lemma_minimal, direction="less", n=len(in_regime),
            preconditions=[Check.at_least("grid points with beta > c log d", len(in_regime), 1), kernel_check]),
        Claim.from_exact(
            "blurring-lowers-inside", LEMMA, f"for d > 3 and beta > c log d (c = {config.log_d_factor:g}) every blurring step strictly lowers Ltilde unless D is uniform",
            _max(v["increase"] for v in inside.values()), units, **lowers, n=len(inside),
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
            _max(v["increase"] for v in positive_outside.values()), units, **lowers, n=len(positive_outside),
            preconditions=[Check.at_least("cells outside the conditions with positive curvature", len(positive_outside), 1), sensitive]),
        Claim.from_exact(
            "threshold-below-log-d", f"{LEMMA} (its condition beta > c log d, c = {config.log_d_factor:g}, at the uniform law)",
            "for d > 3 the uniform law is a local minimiser of Ltilde once beta > c log d: beta*(d, l) <= c log d",
            _max((r["beta_star"] / (config.log_d_factor * r["log_d"]) for r in thresholds if r["d"] > 3), math.nan), "beta*(d, l) / (c log d), largest over d > 3 and l",
            null=1.0, minimal_effect=1.0, direction="less", n=sum(r["d"] > 3 for r in thresholds),
            preconditions=[Check.at_most("sign changes of the smallest curvature along the beta scan (max)", _max(r["sign_changes"] for r in thresholds), 1)]),
    ]
    return Verdict(checks, claims)


# ----------------------------------------------------------------------------- figure


def _chain_panel(ax, rows: list[dict], d: int, l: int, beta: float, symlog: bool) -> None:
    """Ltilde(D_t) - L* along the walk from every starting law (thick: a curve that rises somewhere)."""
    curves: dict[str, list[dict]] = {}
    for r in _select(rows, "chain"):
        if (r["d"], r["l"], r["beta"]) == (d, l, beta):
            curves.setdefault(r["start"], []).append(r)
    for i, (name, points) in enumerate(curves.items()):
        rising = any(p["increase"] > 1e-12 for p in points if not math.isnan(p["increase"]))
        points = [p for p in points if symlog or p["loss_minus_minimum"] > 0]
        ax.plot([p["step"] for p in points], [p["loss_minus_minimum"] for p in points], marker="o", ms=2.5, lw=2.4 if rising else 1.0, label=name + (" (rises)" if rising else ""), color=f"C{i}")
    if symlog:
        ax.axhline(0, color="k", lw=0.6)
        ax.set_yscale("symlog", linthresh=1e-7)
    else:
        ax.set_yscale("log")
    inside = "inside" if inside_conditions(d, beta, Config()) else "outside"
    ax.set(xlabel="blurring step t", ylabel="Ltilde(D_t) - L*  (L*: the uniform law)")
    ax.set_title(f"loss along the walk, d={d}, l={l}, beta={beta:g} ({inside} beta > log d)", fontsize=9)
    ax.legend(fontsize=6, loc="best")


def _kernel_panel(ax, rows: list[dict], config: Config) -> None:
    d = max(config.kernel_dims)
    points = [r for r in _select(rows, "kernel") if r["d"] == d]
    h = [r["h"] for r in points]
    ax.plot(h, [r["plus2_derived"] for r in points], "-", color="tab:green", label="(d-h)(d-h-1)/(4d^2)  derived")
    ax.plot(h, [r["plus2_printed"] for r in points], "--", color="tab:red", label="(d-h)(d-h+1)/(4d^2)  printed")
    freq = [r["plus2_count"] / r["samples"] for r in points]
    errors = [2 * math.sqrt(f * (1 - f) / r["samples"]) for f, r in zip(freq, points)]
    ax.errorbar(h, freq, yerr=errors, fmt="o", color="k", ms=4, capsize=2, label="two simulated walkers (+-2 s.e.)")
    ax.set(xlabel="current distance h", ylabel="P[h -> h + 2] in one step")
    ax.set_title(f"the distance chain's +2 entry, d={d}: the printed one is wrong", fontsize=9)
    ax.legend(fontsize=7)


def _lemma_panel(ax, rows: list[dict], config: Config) -> None:
    lemma = _select(rows, "lemma18")
    c = sorted(config.lemma_cs)[len(config.lemma_cs) // 2]
    for i, d in enumerate(config.lemma_dims):
        points = sorted((r for r in lemma if r["d"] == d and r["C"] == c), key=lambda r: r["beta"])
        betas = [r["beta"] for r in points]
        ax.plot(betas, [r["lemma18_relative_printed"] for r in points], "--v", ms=3, color=f"C{i}", label=f"d={d}")
        ax.plot(betas, [r["lemma18_relative"] for r in points], "-o", ms=3, color=f"C{i}")
    ax.plot([], [], "--v", color="grey", label="printed kernel")
    ax.plot([], [], "-o", color="grey", label=f"{config.kernel} kernel: 0 to rounding")
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xscale="log", xlabel="beta", ylabel="sum_k C(d,k) Delta_C(k) / sum_k C(d,k) |Delta_C(k)|")
    ax.set_title(f"Lemma 18 claims this sum < 0 (C = {c:g}); with the right kernel it is 0", fontsize=9)
    ax.legend(fontsize=6, ncol=2)


def _threshold_panel(ax, rows: list[dict], config: Config) -> None:
    thresholds = _select(rows, "threshold")
    for i, l in enumerate(sorted({r["l"] for r in thresholds})):
        points = sorted((r for r in thresholds if r["l"] == l and 0 < r["beta_star"] < math.inf), key=lambda r: r["d"])
        ax.plot([r["d"] for r in points], [r["beta_star"] for r in points], "-s", ms=3, color=f"C{i}", label=f"beta*(d, l), l={l}")
    dims = np.arange(3, max(r["d"] for r in thresholds) + 1)
    ax.plot(dims, config.log_d_factor * np.log(dims), ":", color="k", label=f"paper: beta = {config.log_d_factor:g} log d")
    ax.plot(dims, [bl.parity_asymptote(int(d)) for d in dims], "--", color="grey", label="1/2 log(d / 1.18)")
    negatives = sorted(config.search_negatives)
    for r in _select(rows, "search"):
        raises = max(r["tilt_increase"], r["search_increase_exact"]) > config.minimal_increase
        x = r["d"] * 1.05 ** (negatives.index(r["l"]) - (len(negatives) - 1) / 2)  # side by side: l increases to the right
        ax.plot(x, r["beta"], ls="none", **({"marker": "x", "color": "tab:red", "ms": 6} if raises else {"marker": "o", "color": "grey", "ms": 3, "alpha": 0.5}))
    ax.plot([], [], "x", color="tab:red", label="a step raises Ltilde")
    ax.plot([], [], "o", color="grey", alpha=0.5, label=f"none found (l = {', '.join(map(str, negatives))}, left to right)")
    ax.set(xscale="log", yscale="log", xlabel="d", ylabel="beta")
    ticks = [d for d in (2, 3, 4, 6, 8, 12, 16, 24, 32, 40) if d <= dims[-1]]
    ax.set_xticks(ticks, [str(d) for d in ticks])
    ax.set_xticks([], minor=True)
    ax.set_title("a blurring step raises the loss exactly below beta*(d, l),\nwhere the uniform law has a negative curvature", fontsize=9)
    ax.legend(fontsize=6, loc="lower right")


def _distance_panel(ax, rows: list[dict], d: int, l: int, beta: float) -> None:
    starts: dict[str, list[dict]] = {}
    for r in _select(rows, "chain"):
        if (r["d"], r["l"], r["beta"]) == (d, l, beta) and r["distance_tv_binomial"] > 1e-14:  # below: the parity tilt lands on u
            starts.setdefault(r["start"], []).append(r)
    for i, (name, points) in enumerate(starts.items()):
        ax.plot([r["step"] for r in points], [r["distance_tv_binomial"] for r in points], "-o", ms=2.5, lw=1.0, color=f"C{i}", label=name)
    ax.set(yscale="log", xlabel="blurring step t", ylabel="TV(law of h(y, ybar), Binomial(d, 1/2))")
    ax.set_title(f"the distance law approaches Binomial(d, 1/2), d={d}", fontsize=9)


def plot(rows: list[dict], config: Config):
    """Six panels: loss along the walk inside / below the threshold, the distance law, the +2 kernel
    entry, the Lemma 18 sum, and the (d, beta) map of steps that raise the loss."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    d = max(config.chain_dims)
    _chain_panel(axes[0, 0], rows, d, max(config.chain_negatives), max(config.chain_betas), symlog=False)
    _chain_panel(axes[0, 1], rows, d, min(config.chain_negatives), min(config.chain_betas), symlog=True)
    _distance_panel(axes[0, 2], rows, d, max(config.chain_negatives), max(config.chain_betas))
    _kernel_panel(axes[1, 0], rows, config)
    _lemma_panel(axes[1, 1], rows, config)
    _threshold_panel(axes[1, 2], rows, config)
    fig.suptitle("Blurring on the hypercube (Lemma 4.4), computed exactly", fontsize=11)
    fig.tight_layout()
    return fig
