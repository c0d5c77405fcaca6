"""Markov-chain blurring (proof of Lemma 4.4): does every lazy-walk step lower the loss?

For clean codes the InfoNCE is Ltilde(D) = E log(1 + sum_{i<=l} exp(-2 beta h(y, ybar_i)))
with y, ybar_i ~ D on the hypercube. The printed proof of Lemma 4.4 blurs D with the lazy
walk and claims each step strictly lowers Ltilde unless D is uniform (for beta > c log d,
d > 3). This simulation computes everything exactly: Ltilde along the walk from several
starting laws, the distance law approaching Binomial(d, 1/2), the Hamming-distance kernel
(against a direct simulation of two bit-flip walkers; the printed +2 entry
(d-h)(d-h+1)/(4d^2) is wrong, (d-h)(d-h-1)/(4d^2) is right), the Lemma 18 sum
sum_k C(d,k) Delta_C(k) (identically zero by stationarity, not negative), the curvature of
Ltilde at the uniform law in every Walsh direction, and a gradient-ascent search for a
starting law whose blurring step raises the loss. Finding: a step raises the loss exactly
where the uniform law has a direction of negative curvature, i.e. for beta below a threshold
beta*(d, l) (none for d <= 3; about 0.35 at d = 4, 1.1 at d = 12, 1.74 at d = 40, growing like
1/2 log d), and nowhere else on the grid; inside beta >= log d none.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from clustertheory.analysis.blurring import (
    KERNEL_VARIANTS,
    MAX_CURVATURE_DIM,
    distance_law,
    hamming_kernel,
    hamming_kernel_enumerated,
    hamming_kernel_monte_carlo,
    hamming_step_probs,
    kernel_z_scores,
    lemma18_sum,
    reduced_loss,
    search_blurring_increase,
    starting_laws,
    uniform_curvatures,
    walk_path,
    walk_step,
    walsh_direction,
)
from clustertheory.analysis.exact_loss import uniform_minimum
from clustertheory.analysis.hypercube import MAX_EXACT_DIM, hamming_matrix
from clustertheory.analysis.metrics import uniformity
from clustertheory.config import check_in, check_int_range, check_positive, check_positive_int, check_range
from clustertheory.simulation import Check, RunContext, SimulationConfig, Verdict

NAME = "blurring"
SUMMARY = "Lemma 4.4's blurring chain, exactly: kernel vs simulation, the Lemma 18 sum (= 0), and where a step raises the loss"

KERNEL_Z_LIMIT = 5.0  # |z| of simulated vs exact kernel entries (hundreds of entries: chance max ~ 3.5)
LOSS_Z_LIMIT = 4.5  # |z| of Monte Carlo vs exact loss (about a hundred checks)
CURVATURE_MARGIN = 1e-6  # curvatures within this fraction of max_k |c_k| of 0 are "marginal": not tested


@dataclass(frozen=True)
class Config(SimulationConfig):
    """kernel: the Hamming kernel the package uses ("paper" / "paper-remainder" = the printed +2 entry).

    chain_*: settings whose loss curves are computed from every starting law; kernel_*: the
    kernel check; lemma_*: the Lemma 18 grid; search_*: the monotonicity search grid;
    threshold_*: where the curvature at the uniform law changes sign; tolerance: a step
    "raises" the loss when Ltilde increases by more than this.
    """

    kernel: str = "exact"
    chain_dims: tuple = (4, 8)
    chain_negatives: tuple = (1, 16)
    chain_betas: tuple = (0.2, 3.0)
    chain_steps: int = 25
    mc_samples: int = 20_000
    kernel_dims: tuple = (3, 6, 10)
    kernel_samples: int = 40_000
    lemma_dims: tuple = (2, 4, 6, 8, 10)
    lemma_betas: tuple = (0.05, 0.2, 1.0, 3.0, 10.0)
    lemma_cs: tuple = (1.001, 2.0, 10.0, 100.0)
    search_dims: tuple = (2, 3, 4, 6)
    search_negatives: tuple = (1, 4, 16, 64)
    search_betas: tuple = (0.05, 0.2, 0.5, 1.0, 3.0, 10.0)
    search_steps: int = 30
    search_restarts: int = 3
    threshold_dims: tuple = (3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40)
    threshold_negatives: tuple = (1, 4, 16, 64)
    tolerance: float = 1e-12

    def validate(self) -> None:
        check_in("kernel", self.kernel, KERNEL_VARIANTS)
        for name in ("chain_dims", "kernel_dims", "lemma_dims", "search_dims", "threshold_dims"):
            values = getattr(self, name)
            if not values:
                raise ValueError(f"{name} must hold at least one d")
            for d in values:
                check_int_range(name, d, 2, MAX_CURVATURE_DIM if name == "threshold_dims" else MAX_EXACT_DIM)
        for name in ("chain_negatives", "search_negatives", "threshold_negatives"):
            if not getattr(self, name):
                raise ValueError(f"{name} must hold at least one l")
            for l in getattr(self, name):
                check_positive_int(name, l)
        for name in ("chain_betas", "lemma_betas", "search_betas"):
            if not getattr(self, name):
                raise ValueError(f"{name} must hold at least one beta")
            for beta in getattr(self, name):
                check_range(name, beta, 1e-3, 100.0)
        if not self.lemma_cs:
            raise ValueError("lemma_cs must hold at least one C")
        for c in self.lemma_cs:
            check_range("lemma_cs", c, 1.0, 1e12)
        for name in ("chain_steps", "mc_samples", "kernel_samples", "search_steps", "search_restarts"):
            check_positive_int(name, getattr(self, name))
        if self.mc_samples < 100 or self.kernel_samples < 100:
            raise ValueError("mc_samples and kernel_samples must be >= 100 for meaningful standard errors")
        check_positive("tolerance", self.tolerance)


SCALES = {
    "default": Config(),
    "paper": Config(
        chain_dims=(4, 6, 8, 10),
        chain_negatives=(1, 4, 16, 64),
        chain_betas=(0.05, 0.2, 1.0, 3.0, 10.0),
        chain_steps=40,
        mc_samples=50_000,
        kernel_dims=(2, 3, 4, 6, 8, 10, 12),
        kernel_samples=200_000,
        lemma_dims=(2, 3, 4, 5, 6, 8, 10, 12),
        lemma_betas=(0.01, 0.05, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
        lemma_cs=(1.0, 1.001, 1.1, 2.0, 10.0, 100.0, 1e4),
        search_dims=(2, 3, 4, 5, 6, 7, 8, 9, 10),
        search_negatives=(1, 2, 4, 8, 16, 32, 64),
        search_betas=(0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 2.0, 3.0, 10.0),
        search_steps=150,
        search_restarts=16,
        threshold_dims=(2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 20, 24, 28, 32, 36, 40),
        threshold_negatives=(1, 2, 4, 8, 16, 32, 64),
    ),
}


def inside_conditions(d: int, beta: float) -> bool:
    """The paper's conditions d > 3, beta > c log d read with c = 1."""
    return d > 3 and beta >= math.log(d)


# ----------------------------------------------------------------------------- measurements


def _kernel_rows(d: int, variant: str, samples: int, seed: int) -> list[dict]:
    """One row per starting distance h: the package kernel against enumeration and simulation."""
    kernel, enumerated = hamming_kernel(d, variant), hamming_kernel_enumerated(d)
    counts = hamming_kernel_monte_carlo(d, samples, seed)
    z = kernel_z_scores(kernel, counts)
    rows = []
    for h in range(d + 1):
        n = int(counts[h].sum())
        up2 = int(counts[h, h + 2]) if h + 2 <= d else 0
        rows.append(
            {
                "h": h,
                "row_sum": float(kernel[h].sum()),
                "enumeration_error": float(np.abs(kernel[h] - enumerated[h]).max()),
                "max_abs_z": float(np.abs(z[h]).max()),
                "plus2_exact": float(hamming_step_probs(d, h, "exact")[4]),
                "plus2_printed": float(hamming_step_probs(d, h, "paper")[4]),
                "plus2_simulated": up2 / n,
                "plus2_stderr": math.sqrt(up2 / n * (1 - up2 / n) / n),
                "samples": n,
            }
        )
    return rows


def _lemma_rows(d: int, beta: float, C: float, variant: str) -> dict:
    total, scale = lemma18_sum(d, beta, C, variant)
    printed, _ = lemma18_sum(d, beta, C, "paper")
    return {
        "lemma18_sum": total,
        "lemma18_scale": scale,
        "lemma18_relative": total / scale,
        "lemma18_uniform_weighted": total / 2**d,
        "lemma18_sum_printed_kernel": printed,
        "lemma18_relative_printed_kernel": printed / scale,
    }


def _monte_carlo_loss(law: np.ndarray, l: int, beta: float, samples: int, seed: int) -> tuple[float, float]:
    """Direct sampling of Ltilde: y, ybar_1..l ~ law, log(1 + sum exp(-2 beta h)) from the vertex indices."""
    rng = np.random.default_rng(seed)
    distance = hamming_matrix(int(len(law)).bit_length() - 1)
    y = rng.choice(len(law), samples, p=law)
    ybar = rng.choice(len(law), (samples, l), p=law)
    values = np.log1p(np.exp(-2.0 * beta * distance[y[:, None], ybar]).sum(axis=1))
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(samples))


def _chain_rows(d: int, l: int, beta: float, config: Config, ctx: RunContext) -> list[dict]:
    """Loss, distance law and checks along the walk from every starting law, at one (d, l, beta)."""
    curvature = uniform_curvatures(d, l, beta)
    worst = int(np.argmin(curvature)) + 1
    laws = starting_laws(d, ctx.seed_for("laws", d))
    if worst < d:  # k = d is the parity tilt, already a starting law
        laws[f"walsh-tilt-k{worst}"] = 2.0**-d + 0.9 * walsh_direction(d, worst)
    kernel = hamming_kernel(d, config.kernel)
    binomial = binom.pmf(np.arange(d + 1), d, 0.5)
    minimum = uniform_minimum(d, l, beta)
    check_steps = {0, max(1, config.chain_steps // 5)}
    rows = []
    for name, law in laws.items():
        path = walk_path(law, config.chain_steps)
        losses = np.asarray(reduced_loss(path, l, beta))
        distances = distance_law(path)
        propagated = distances[0]
        for t, p in enumerate(path):
            if t:
                propagated = propagated @ kernel
            row = {
                "start": name,
                "step": t,
                "loss": float(losses[t]),
                "loss_minus_minimum": float(losses[t] - minimum),
                "increase": float(losses[t] - losses[t - 1]) if t else 0.0,
                "collision_excess": uniformity(p)["collision_excess"],
                "distance_tv_binomial": float(0.5 * np.abs(distances[t] - binomial).sum()),
                "propagation_error": float(np.abs(propagated - distances[t]).max()),
                "min_curvature": float(curvature.min()),
                "relative_curvature": float(curvature.min() / np.abs(curvature).max()),
                "mc_loss": math.nan,
                "mc_stderr": math.nan,
            }
            if t in check_steps:
                row["mc_loss"], row["mc_stderr"] = _monte_carlo_loss(p, l, beta, config.mc_samples, ctx.seed_for("mc", d, l, beta, name, t))
            rows.append(row)
    rows.append({"start": "uniform", "step": -1, "loss": reduced_loss(np.full(2**d, 2.0**-d), l, beta), "uniform_minimum": minimum})
    return rows


def _search_row(d: int, l: int, beta: float, config: Config, ctx: RunContext) -> dict:
    """Adversarial search for a law whose blurring step raises Ltilde, plus the local prediction."""
    curvature = uniform_curvatures(d, l, beta)
    rng = np.random.default_rng(ctx.seed_for("search", d, l, beta))
    starts = list(starting_laws(d, rng).values())
    starts += [2.0**-d + 0.5 * walsh_direction(d, k) for k in range(1, d + 1)]
    starts += list(rng.dirichlet(np.full(2**d, 0.3), config.search_restarts))
    found = search_blurring_increase(d, l, beta, np.stack(starts), steps=config.search_steps, device=ctx.device)
    law = found["law"] / found["law"].sum()
    # confirm with the numpy path (direct distance laws, finite sums where affordable)
    confirmed = reduced_loss(walk_step(law), l, beta) - reduced_loss(law, l, beta)
    return {
        "max_increase": found["max_increase"],
        "max_ratio": found["max_ratio"],
        "confirmed_increase": float(confirmed),
        "violation": bool(confirmed > config.tolerance),
        "min_curvature": float(curvature.min()),
        "relative_curvature": float(curvature.min() / np.abs(curvature).max()),
        "worst_k": int(np.argmin(curvature)) + 1,
        "inside_conditions": inside_conditions(d, beta),
        "law_tv_from_uniform": uniformity(law)["tv"],
    }


def parity_asymptote(d: int) -> float:
    """Large-d estimate of beta*: for l = 1 the parity curvature is proportional to
    sum_n (-1)^(n+1) / n (1 - e^{-2 beta n})^d ~ exp(-d e^{-2 beta}) - (1 - log 2), which turns
    negative below beta = 1/2 log(d / log(1 / (1 - log 2))) = 1/2 log(d / 1.18).
    """
    return 0.5 * math.log(d / math.log(1.0 / (1.0 - math.log(2.0))))


def _threshold_row(d: int, l: int) -> dict:
    """Largest beta in [0.01, 10] with a negative curvature at u, by scan then bisection."""

    def negative(beta: float) -> bool:
        return bool(uniform_curvatures(d, l, beta).min() < 0)

    grid = np.geomspace(0.01, 10.0, 16)
    signs = [negative(float(b)) for b in grid]
    changes = int(sum(a != b for a, b in zip(signs, signs[1:])))
    if not any(signs):
        return {"beta_star": 0.0, "sign_changes": changes, "log_d": math.log(d), "asymptote": parity_asymptote(d)}
    last = max(i for i, s in enumerate(signs) if s)
    if last == len(grid) - 1:
        return {"beta_star": math.inf, "sign_changes": changes, "log_d": math.log(d), "asymptote": parity_asymptote(d)}
    lo, hi = float(grid[last]), float(grid[last + 1])
    for _ in range(14):  # the bracket shrinks to a factor 1.00003
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if negative(mid) else (lo, mid)
    return {"beta_star": math.sqrt(lo * hi), "sign_changes": changes, "log_d": math.log(d), "asymptote": parity_asymptote(d)}


def run(config: Config, ctx: RunContext) -> list[dict]:
    """Kernel check, Lemma 18 grid, loss along the chain, curvature thresholds, monotonicity search."""
    units = [{"kind": "kernel", "d": d} for d in config.kernel_dims]
    lemma = itertools.product(config.lemma_dims, config.lemma_betas, config.lemma_cs)
    units += [{"kind": "lemma18", "d": d, "beta": b, "C": c} for d, b, c in lemma]
    chain = itertools.product(config.chain_dims, config.chain_negatives, config.chain_betas)
    units += [{"kind": "chain", "d": d, "l": l, "beta": b} for d, l, b in chain]
    units += [{"kind": "threshold", "d": d, "l": l} for d, l in itertools.product(config.threshold_dims, config.threshold_negatives)]
    search = itertools.product(config.search_dims, config.search_negatives, config.search_betas)
    units += [{"kind": "search", "d": d, "l": l, "beta": b} for d, l, b in search]

    def measure(unit: dict):
        kind, d = unit["kind"], unit["d"]
        if kind == "kernel":
            return _kernel_rows(d, config.kernel, config.kernel_samples, ctx.seed_for("kernel", d))
        if kind == "lemma18":
            return _lemma_rows(d, unit["beta"], unit["C"], config.kernel)
        if kind == "chain":
            return _chain_rows(d, unit["l"], unit["beta"], config, ctx)
        if kind == "threshold":
            return _threshold_row(d, unit["l"])
        return _search_row(d, unit["l"], unit["beta"], config, ctx)

    return ctx.sweep(units, measure, desc="blurring")


# ----------------------------------------------------------------------------- verdict


def _select(rows: list[dict], kind: str, **match) -> list[dict]:
    return [r for r in rows if r.get("kind") == kind and all(r.get(k) == v for k, v in match.items())]


def _max(values, empty: float = 0.0) -> float:
    values = [float(v) for v in values]
    return max(values) if values else empty


def _z(exact: float, estimate: float, stderr: float) -> float:
    """|exact - estimate| / stderr; a zero-variance sample (a point law) must match exactly."""
    if stderr > 1e-12:
        return abs(exact - estimate) / stderr
    return 0.0 if abs(exact - estimate) < 1e-12 else math.inf


def verdict(rows: list[dict], config: Config) -> Verdict:
    """The chain claims of the package, each held against its prediction."""
    kernel = _select(rows, "kernel")
    lemma = _select(rows, "lemma18")
    chain = [r for r in _select(rows, "chain") if r["step"] >= 0]
    uniform = [r for r in _select(rows, "chain") if r["step"] == -1]
    search = _select(rows, "search")

    mc = [r for r in chain if not math.isnan(r["mc_loss"])]
    loss_z = [_z(r["loss"], r["mc_loss"], r["mc_stderr"]) for r in mc]
    uniform_error = [abs(r["loss"] - r["uniform_minimum"]) / r["uniform_minimum"] for r in uniform]

    # a cell's largest increase: the search, and every chain step of that (d, l, beta)
    cells: dict[tuple, dict] = {}
    for r in search:
        cells[(r["d"], r["l"], r["beta"])] = {"increase": r["confirmed_increase"], "curvature": r["relative_curvature"]}
    for r in chain:
        cell = cells.setdefault((r["d"], r["l"], r["beta"]), {"increase": -math.inf, "curvature": r["relative_curvature"]})
        if r["step"] > 0:
            cell["increase"] = max(cell["increase"], r["increase"])
    violations = {k for k, v in cells.items() if v["increase"] > config.tolerance}
    unexpected = [k for k in violations if cells[k]["curvature"] > CURVATURE_MARGIN]
    negative = [k for k, v in cells.items() if v["curvature"] < -CURVATURE_MARGIN]
    missed = [k for k in negative if k not in violations]
    inside = [k for k in violations if inside_conditions(k[0], k[2])]

    row_sum_error = _max(abs(r["row_sum"] - 1) for r in kernel)
    enumeration_error = _max(r["enumeration_error"] for r in kernel)
    kernel_z = _max(r["max_abs_z"] for r in kernel)
    propagation_error = _max(r["propagation_error"] for r in chain)
    lemma_relative = _max(abs(r["lemma18_relative"]) for r in lemma)
    checks = [
        Check("Hamming kernel rows sum to 1", row_sum_error, "<= 1e-12", row_sum_error <= 1e-12),
        Check("kernel equals the enumeration of joint moves", enumeration_error, "<= 1e-12", enumeration_error <= 1e-12),
        Check("kernel agrees with simulated bit-flip walkers (max |z|)", kernel_z, f"<= {KERNEL_Z_LIMIT}", kernel_z <= KERNEL_Z_LIMIT),
        Check("distance law of D_t = distance law of D_0 times K^t", propagation_error, "<= 1e-10", propagation_error <= 1e-10),
        Check(
            "Lemma 18 sum sum_k C(d,k) Delta_C(k) (max |sum| / scale)",
            lemma_relative,
            "0 by stationarity, eq. (15) (Lemma 18 claims < 0)",
            lemma_relative <= 1e-12,
        ),
        Check(
            "exact Ltilde agrees with Monte Carlo (max |z|)",
            _max(loss_z),
            f"<= {LOSS_Z_LIMIT}",
            bool(loss_z) and _max(loss_z) <= LOSS_Z_LIMIT,
        ),
        Check(
            "Ltilde(uniform) equals the closed-form minimum (max rel. error)",
            _max(uniform_error),
            "<= 1e-10",
            bool(uniform_error) and _max(uniform_error) <= 1e-10,
        ),
        Check("steps raising Ltilde where every curvature at u is > 0", len(unexpected), "0 (cells)", not unexpected),
        Check(
            "cells with a negative curvature at u where a raising step was found",
            f"{len(negative) - len(missed)} of {len(negative)}",
            "all",
            not missed,
        ),
        Check("steps raising Ltilde inside d > 3, beta >= log d", len(inside), "0 (cells)", not inside),
    ]
    return Verdict(checks)


# ----------------------------------------------------------------------------- figure


def _curves(rows: list[dict], d: int, l: int, beta: float) -> dict[str, list[dict]]:
    """Chain rows of one (d, l, beta), by starting law, in step order."""
    curves: dict[str, list[dict]] = {}
    for r in rows:
        if r["kind"] == "chain" and r["step"] >= 0 and (r["d"], r["l"], r["beta"]) == (d, l, beta):
            curves.setdefault(r["start"], []).append(r)
    return curves


def _chain_panel(ax, rows: list[dict], d: int, l: int, beta: float, symlog: bool) -> None:
    """Ltilde(D_t) - L* along the walk from every starting law (log scale, or symlog to show
    laws whose loss lies below the uniform minimum)."""
    curves = _curves(rows, d, l, beta)
    rising = [name for name, pts in curves.items() if max(r["increase"] for r in pts) > 1e-12]
    for i, (name, pts) in enumerate(curves.items()):
        pts = [r for r in pts if symlog or r["loss_minus_minimum"] > 0]
        width = 2.4 if name in rising else 1.2
        ax.plot([r["step"] for r in pts], [r["loss_minus_minimum"] for r in pts], marker="o", ms=2.5, lw=width, label=name, color=f"C{i}")
    if symlog:
        ax.axhline(0, color="black", lw=0.6)
        lowest = min(min(r["loss_minus_minimum"] for r in pts) for pts in curves.values())
        ax.set_yscale("symlog", linthresh=1e-7)
        ax.set_ylim(bottom=min(-1e-7, 3 * lowest))
    else:
        ax.set_yscale("log")
    relative = next(iter(curves.values()))[0]["relative_curvature"]
    ax.set(xlabel="blurring step t", ylabel="Ltilde(D_t) - L*  (L* = loss of the uniform law)")
    verdict = f"rising (thick): {', '.join(rising)}" if rising else "every curve falls"
    title = f"loss along the walk: d={d}, l={l}, beta={beta:g}; {verdict}\nmin curvature at u / max |curvature| = {relative:.2g}"
    ax.set_title(title, fontsize=9)


def _distance_panel(ax, rows: list[dict], d: int, l: int, beta: float) -> None:
    for i, (name, pts) in enumerate(_curves(rows, d, l, beta).items()):
        pts = [r for r in pts if r["distance_tv_binomial"] > 1e-14]  # below: rounding (the parity tilt lands on u)
        ax.plot([r["step"] for r in pts], [r["distance_tv_binomial"] for r in pts], marker="o", ms=2.5, lw=1.2, color=f"C{i}", label=name)
    ax.set(yscale="log", xlabel="blurring step t", ylabel="TV(law of h(y, ybar), Binomial(d, 1/2))")
    ax.set_title(f"the distance law approaches Binomial(d, 1/2), d={d}", fontsize=9)


def _kernel_panel(ax, rows: list[dict], config: Config) -> None:
    d = max(config.kernel_dims)
    pts = [r for r in _select(rows, "kernel") if r["d"] == d]
    h = [r["h"] for r in pts]
    ax.plot(h, [r["plus2_exact"] for r in pts], "-", color="tab:green", label="(d-h)(d-h-1)/(4d^2)  (derived)")
    ax.plot(h, [r["plus2_printed"] for r in pts], "--", color="tab:red", label="(d-h)(d-h+1)/(4d^2)  (printed)")
    simulated, errors = [r["plus2_simulated"] for r in pts], [2 * r["plus2_stderr"] for r in pts]
    ax.errorbar(h, simulated, yerr=errors, fmt="o", color="black", ms=4, capsize=2, label="two simulated walkers (+-2 s.e.)")
    ax.set(xlabel="current distance h", ylabel="P[h -> h + 2] in one step")
    title = f"Hamming-distance chain, the +2 entry, d={d}\n(package kernel: {config.kernel}; all entries and d: results table)"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def _lemma_panel(ax, rows: list[dict], config: Config) -> None:
    lemma = _select(rows, "lemma18")
    c_mid = sorted(config.lemma_cs)[len(config.lemma_cs) // 2]
    for i, d in enumerate(config.lemma_dims):
        pts = sorted((r for r in lemma if r["d"] == d and r["C"] == c_mid), key=lambda r: r["beta"])
        betas = [r["beta"] for r in pts]
        ax.plot(betas, [r["lemma18_relative_printed_kernel"] for r in pts], "--", marker="v", ms=3, color=f"C{i}", label=f"d={d}")
        ax.plot(betas, [r["lemma18_relative"] for r in pts], "-", marker="o", ms=3, color=f"C{i}")
    ax.plot([], [], "--v", color="grey", label="printed kernel")
    ax.plot([], [], "-o", color="grey", label=f"{config.kernel} kernel")
    worst = _max(abs(r["lemma18_relative"]) for r in lemma)
    ax.axhline(0, color="black", lw=0.6)
    ax.set(xscale="log", xlabel="beta", ylabel="sum_k C(d,k) Delta_C(k)  /  sum_k C(d,k) |Delta_C(k)|")
    title = f"Lemma 18 sum, C={c_mid:g}: claimed < 0; with the {config.kernel} kernel\nmax |sum| / scale over all d, beta, C = {worst:.1e}"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=2)


def _threshold_panel(ax, rows: list[dict], config: Config) -> None:
    thresholds = _select(rows, "threshold")
    for i, l in enumerate(sorted({r["l"] for r in thresholds})):
        pts = sorted((r for r in thresholds if r["l"] == l and r["beta_star"] > 0), key=lambda r: r["d"])
        ax.plot([r["d"] for r in pts], [r["beta_star"] for r in pts], "-", marker="s", ms=3, color=f"C{i}", label=f"beta*(d), l={l}")
    dims = np.arange(3, max([r["d"] for r in thresholds] + [MAX_EXACT_DIM]) + 1)
    ax.plot(dims, np.log(dims), ":", color="black", label="beta = log d")
    ax.plot(dims, [parity_asymptote(d) for d in dims], "--", color="grey", label="1/2 log(d / 1.18)")
    negatives = sorted(config.search_negatives)
    for r in _select(rows, "search"):
        x = r["d"] * 1.04 ** (negatives.index(r["l"]) - (len(negatives) - 1) / 2)  # spread the l values
        style = {"marker": "x", "color": "tab:red", "ms": 6}
        if not r["violation"]:
            style = {"marker": "o", "color": "grey", "ms": 3, "alpha": 0.5}
        ax.plot(x, r["beta"], ls="none", **style)
    ax.plot([], [], "x", color="tab:red", label="search: a step raises the loss")
    ax.plot([], [], "o", color="grey", alpha=0.5, label="search: none found")
    ax.set(xscale="log", yscale="log", xlabel="d", ylabel="beta")
    ticks = [d for d in (2, 3, 4, 6, 8, 12, 16, 24, 32, 40) if d <= dims[-1]]
    ax.set_xticks(ticks, [str(d) for d in ticks])
    ax.set_xticks([], minor=True)
    title = "where a blurring step raises the loss: beta < beta*(d, l),\nwhere the loss has a negative curvature at the uniform law"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, loc="lower right")


def plot(rows: list[dict], config: Config):
    """Six panels: loss along the walk inside / outside the conditions, distance law, kernel,
    Lemma 18 sum, and the (d, beta) map of steps that raise the loss."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    d_hi = max(config.chain_dims)
    inside = (d_hi, max(config.chain_negatives), max(config.chain_betas))
    outside = (d_hi, min(config.chain_negatives), min(config.chain_betas))
    _chain_panel(axes[0, 0], rows, *inside, symlog=False)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    _chain_panel(axes[0, 1], rows, *outside, symlog=True)
    axes[0, 1].legend(fontsize=7, loc="lower right")
    _distance_panel(axes[0, 2], rows, *inside)
    _kernel_panel(axes[1, 0], rows, config)
    _lemma_panel(axes[1, 1], rows, config)
    _threshold_panel(axes[1, 2], rows, config)
    fig.suptitle("Blurring on the hypercube (Lemma 4.4): exact loss, Hamming kernel, Lemma 18, monotonicity", fontsize=11)
    fig.tight_layout()
    return fig
