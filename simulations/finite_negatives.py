"""Finite negatives: what the number of negatives l and the inverse temperature beta change.

Theorem 4.5 holds for every l >= 1: with l i.i.d. natural-image negatives the minimisers are the
uniform cluster-preserving codes, with loss L*(l, beta) = E log(1 + sum_{i<=l} exp(-2 beta h_i)),
h_i ~ Binomial(d, 1/2). Negatives are not filtered: one shares the anchor's cluster with
probability sum_c pi_c^2. On realizable comb data (2^d balanced clusters, band-limited B < T):

exact    the margin over L* of the best non-uniform cluster-constant vertex law (up to the
         hypercube's symmetries; analysis.codes.law_margins), l up to exact_negatives, every beta;
trained  per cell, the seeds (same initial weights in every cell) trained in a few batched passes,
         in the three negative regimes of analysis.negatives: "iid" (train.batch_size anchors),
         "in-batch" (B = l + 1) and "iid-small-batch" (i.i.d. negatives with in-batch's B);
rates    the share of negatives from the anchor's own cluster and natural image, from the
         trainer's own sampler, against sum_c pi_c^2 and sum_i w_i^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis import arms
from clustertheory.analysis.codes import RealizableComb, cluster_constant_law_count, cluster_constant_laws, code_summaries, law_margins
from clustertheory.analysis.codes import crosscheck_method_gap, crosscheck_z, loss_crosscheck
from clustertheory.analysis.negatives import NEGATIVE_REGIMES, negative_rates, regime_settings
from clustertheory.config import Integer, Real, TupleOf, setting
from clustertheory.plotting import annotated_heatmap
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.verdict import largest
from clustertheory.statistics import ROUNDING, z_score
from clustertheory.training import TrainConfig
from clustertheory.training.batched import Member, no_evaluation, train_members

NAME = "finite-negatives"
SUMMARY = "l from 1 to 1024 and beta: the uniform law is the exact minimiser for every l; which l, beta and negative regime training reaches it with; same-cluster negatives at sum pi^2"

MODES = NEGATIVE_REGIMES
MODE_LABEL = {"iid": "i.i.d., B={B}", "in-batch": "in-batch, B=l+1", "iid-small-batch": "i.i.d., B=l+1"}


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Data: comb (d, comb.*). train: the trainer's settings; per cell, beta comes from betas,
    l from the grids, and B = train.batch_size for "iid" (train.beta and train.num_negatives
    are not used). The claim thresholds are fixed before the run."""

    d: int = setting(3, Integer(1, 4), "code dimension d of the comb and its codes")
    comb: RealizableComb = RealizableComb()
    train: TrainConfig = TrainConfig(steps=600, batch_size=32, num_negatives=16, beta=2.0, lr=0.05)
    negatives_grid: tuple = setting((1, 2, 4, 8, 16, 64), TupleOf(Integer(1), increasing=True), 'l of the "iid" regime')
    small_batch_negatives: tuple = setting((1, 2, 4, 8), TupleOf(Integer(1), increasing=True), "l (B = l + 1) of the two small-batch regimes")
    betas: tuple = setting((0.5, 1.0, 2.0, 5.0), TupleOf(Real(0, open_lo=True), increasing=True), "inverse temperatures beta of every part")
    exact_negatives: tuple = setting((1, 2, 4, 8, 16, 64, 256, 1024), TupleOf(Integer(1), increasing=True), "l of the exact part (any l, Laplace)")
    seeds: int = setting(10, Integer(2), "members per trained cell")
    rate_pairs: int = setting(40000, Integer(1), "(anchor, negative) pairs per (regime, l) for the rates")
    crosscheck_samples: int = setting(10000, Integer(2), "Monte Carlo draws for the exact loss of one trained code per iid cell")
    crosscheck_z: float = setting(4.0, Real(0, open_lo=True), "allowed |z| of that Monte Carlo cross-check and of the rates")
    enumerate_limit: int = setting(20000, Integer(1), "cluster-constant laws are enumerated when there are at most this many")
    random_laws: int = setting(2000, Integer(1), "else this many random cluster-constant laws are sampled")
    gap_tolerance: float = setting(1e-6, Real(0, open_lo=True), "|L - L*| counted as zero")
    minimal_margin: float = setting(1e-6, Real(0), 'the least margin that counts as "strictly above" (the numerical resolution)')
    claim_max_beta: float = setting(2.0, Real(0, open_lo=True), "the betas the training predictions are about (beta <= this)")
    null_share: float = setting(0.5, Real(0, 1), "per-seed share of cells at L* of no effect")
    minimal_share: float = setting(0.8, Real(0, 1), "the least per-seed share of cells at L* that counts")
    minimal_difference: float = setting(0.1, Real(0, 1), "the least paired difference of shares that counts (one cell in ten)")
    small_l: int = setting(2, Integer(1), "the l of the batch-size prediction")
    inbatch_margin: float = setting(0.15, Real(0, 1), "non-inferiority margin of in-batch against i.i.d. negatives at equal B")

    def validate(self) -> None:
        if self.minimal_share < self.null_share:
            raise ValueError(f"minimal_share ({self.minimal_share}) must be >= null_share ({self.null_share})")
        if not any(b <= self.claim_max_beta for b in self.betas) or not any(b > self.claim_max_beta for b in self.betas):
            raise ValueError(f"betas must hold values on both sides of claim_max_beta ({self.claim_max_beta}), got {self.betas}")
        if self.small_l < min(self.negatives_grid) or self.small_l < min(self.small_batch_negatives):
            raise ValueError(f"small_l ({self.small_l}) must reach the smallest l of negatives_grid and small_batch_negatives")


SCALES = {
    "default": Config(),
    # d = 4, one cluster per vertex; CPU spot checks (i.i.d., B = 128, 2000 steps, 32 seeds): l = 4
    # reached L* in 32/32 seeds at beta 0.5 and 1, 31/32 at 2, 24/32 at 0.25: the claims stop at beta 1
    "paper": Config(d=4, seeds=32, negatives_grid=(1, 2, 4, 8, 16, 32, 64, 128, 256), small_batch_negatives=(1, 2, 4, 8, 16, 32),
                    betas=(0.5, 1.0, 2.0, 3.0, 5.0, 8.0), train=TrainConfig(steps=2000, batch_size=128, lr=0.05), rate_pairs=200000, claim_max_beta=1.0),
}


# ----------------------------------------------------------------------------- measurements


def train_cells(cells: list[dict], config: Config, ctx: RunContext) -> list[list[dict]]:
    """One batched pass over every seed of every cell (cells share mode and batch size): the
    rows of each cell. Member s starts from the same weights in every cell."""
    data = config.comb.dataset(config.d, config.seed)
    members = [Member("band-limited", data, regime_settings(config.train, c["mode"], c["l"], c["beta"]), ctx.seed_for("member", s),
                      config.comb.class_options()) for c in cells for s in range(config.seeds)]
    first, shape = cells[0], members[0].config
    rows_per_member = shape.batch_size * (2 + max(c["l"] for c in cells))  # relaxing the score table pays off past the view count
    codes = train_members(members, config.d, seed=ctx.seed_for("train", first["mode"], first["l"], first["beta"]), device=ctx.device,
                          evaluate=no_evaluation, score_table=rows_per_member > data.num_views).codes.astype(np.float64)
    out = []
    for k, cell in enumerate(cells):
        table = codes[k * config.seeds:(k + 1) * config.seeds]
        rows = [{"member": s, "batch_size": members[k * config.seeds].config.batch_size, **summary}
                for s, summary in enumerate(code_summaries(table, data, cell["l"], cell["beta"]))]
        if cell["mode"] == "iid":
            rows[0].update(loss_crosscheck(table[0], data, cell["l"], cell["beta"], config.crosscheck_samples, seed=ctx.seed_for("mc", cell["l"], cell["beta"])))
        out.append(rows)
    return out


def exact_margins(config: Config, ctx: RunContext) -> list[dict]:
    """Per (l, beta): L*, the uniform law's reduced loss minus L*, and the least margin of a
    non-uniform cluster-constant law over L*."""
    laws = cluster_constant_laws(config.d, config.comb.clusters_per_vertex, config.enumerate_limit, config.random_laws, np.random.default_rng(ctx.seed_for("laws")))
    return [{"kind": "exact", "l": l, "beta": beta, **law_margins(laws, config.d, l, beta)} for l in config.exact_negatives for beta in config.betas]


def run(config: Config, ctx: RunContext) -> list[dict]:
    """Rows of three kinds: "exact" per (l, beta), "rates" per (mode, l), "trained" per seed."""
    rows = exact_margins(config, ctx)
    data = config.comb.dataset(config.d, config.seed)
    grids = {"iid": config.negatives_grid, "in-batch": config.small_batch_negatives, "iid-small-batch": config.small_batch_negatives}
    for mode, grid in grids.items():
        for l in grid:
            settings = regime_settings(config.train, mode, l, 1.0)
            rates = negative_rates(data, l, settings.negative_mode, settings.batch_size, config.rate_pairs, seed=ctx.seed_for("rates", mode, l), device=ctx.device)
            rows.append({"kind": "rates", "mode": mode, "l": l, "batch_size": settings.batch_size, **rates})
    cells = [{"kind": "trained", "mode": mode, "l": l, "beta": beta} for mode, grid in grids.items() for l in grid for beta in config.betas]
    # one pass per (mode, l), except that the cheap i.i.d. cells with l <= 8 share one pass
    return rows + ctx.sweep_batched(cells, lambda c: (c["mode"], c["l"] if c["mode"] != "iid" or c["l"] > 8 else 0),
                                    lambda batch: train_cells(batch, config, ctx), desc=NAME)


# ----------------------------------------------------------------------------- verdict


def seed_shares(rows: list[dict], mode: str, keep, config: Config) -> np.ndarray:
    """(seeds,) per seed, the share of its cells (l, beta) of ``mode`` kept by ``keep(l, beta)``
    where its code is uniform, cluster-preserving and at L*."""
    at_minimum = lambda r: r["minimiser_shape"] and abs(r["gap"]) <= config.gap_tolerance
    chosen = lambda r: r["kind"] == "trained" and r["mode"] == mode and keep(r["l"], r["beta"])
    return arms.seed_means(rows, at_minimum, config.seeds, ("l", "beta"), "member", where=chosen)[0]


def verdict(rows: list[dict], config: Config) -> Verdict:
    tol, max_beta = config.gap_tolerance, config.claim_max_beta
    exact = [r for r in rows if r["kind"] == "exact"]
    rates = [r for r in rows if r["kind"] == "rates"]
    trained = [r for r in rows if r["kind"] == "trained"]
    checked = [r for r in trained if "loss_mc" in r]
    checks = [
        Check.at_most(f"exact: uniform law's reduced loss - analytic L* (max |gap| over {len(exact)} cells)", largest(abs(r["uniform_gap"]) for r in exact), tol),
        Check.at_most(f"trained codes: exact loss = multinomial = Laplace ({len(checked)} codes, max |diff|)",
                      largest(crosscheck_method_gap(r) for r in checked), 1e-9),
        Check.at_most(f"trained codes: exact loss vs Monte Carlo ({len(checked)} codes, max |z|)",
                      largest(crosscheck_z(r, r["exact_loss"], ROUNDING) for r in checked), config.crosscheck_z),
        Check.at_most(f"trained codes: at L* iff uniform and preserving (violations among {len(trained)})", sum((abs(r["gap"]) <= tol) != r["minimiser_shape"] for r in trained), 0),
        Check.at_least("trained codes: none below L* (least gap)", min((r["gap"] for r in trained), default=np.nan), -tol),
    ]
    for name, key in (("same-cluster negative rate = sum_c pi_c^2", "same_cluster"), ("same-image negative rate = sum_i w_i^2", "self")):
        z = [abs(z_score(r[f"{key}_rate"], r[f"{key}_expected"], r[f"{key}_se"])) for r in rates]
        checks.append(Check.at_most(f"{name} (max |z| over {len(rates)} (regime, l))", largest(z), config.crosscheck_z))
    complete = cluster_constant_law_count(config.d, config.comb.clusters_per_vertex) <= config.enumerate_limit
    low, high = lambda l, b: b <= max_beta, lambda l, b: b > max_beta
    small = lambda l, b: l <= config.small_l and b <= max_beta
    claims = [
        Claim.from_exact(
            "same-minimiser-every-l", "Parulekar et al. 2023, Theorem 4.5 (any l >= 1)", "for every l and beta the uniform law is the unique minimiser over cluster-constant codes",
            min((r["min_nonuniform_gap"] for r in exact), default=np.nan), f"least margin over L* of a non-uniform law, l = {min(config.exact_negatives)}..{max(config.exact_negatives)}",
            null=0.0, minimal_effect=config.minimal_margin, n=len(exact),
            preconditions=[Check.holds("every cluster-constant law enumerated", complete, complete, "True"), Check.equal("smallest l", min(config.exact_negatives), 1)],
        ),
        Claim.from_mean(
            "iid-reaches-minimum", "package prediction", f"with l i.i.d. negatives and beta <= {max_beta:g}, training reaches L* for every l of the grid",
            seed_shares(rows, "iid", low, config), "per-seed share of cells at L*", null=config.null_share, minimal_effect=config.minimal_share,
        ),
        Claim.from_paired(
            "large-beta-hurts", "package prediction (relaxation saturates before clusters separate)", f"training reaches L* less often at beta > {max_beta:g}",
            seed_shares(rows, "iid", low, config), seed_shares(rows, "iid", high, config), "share of cells at L*, beta <= max minus beta > max",
            minimal_effect=config.minimal_difference,
        ),
        Claim.from_paired(
            "batch-size-matters", "package prediction (gradient noise)", f"at l <= {config.small_l}, B = {config.train.batch_size} anchors reach L* more often than B = l + 1",
            seed_shares(rows, "iid", small, config), seed_shares(rows, "iid-small-batch", small, config), "share of cells at L*, B large minus B = l + 1",
            minimal_effect=config.minimal_difference,
        ),
        Claim.from_paired(
            "in-batch-like-iid", "package prediction (each anchor's in-batch negatives are B - 1 i.i.d. draws)",
            f"at equal B = l + 1, in-batch negatives reach L* as often as i.i.d. ones (non-inferiority margin {config.inbatch_margin:g})",
            seed_shares(rows, "in-batch", low, config), seed_shares(rows, "iid-small-batch", low, config), "share of cells at L*, in-batch minus i.i.d.",
            null=-config.inbatch_margin, minimal_effect=-config.inbatch_margin,
        ),
    ]
    return Verdict(checks, claims)


# ----------------------------------------------------------------------------- figure


def plot(rows: list[dict], config: Config):
    """Top: seeds at L* per (l, beta), one heatmap per regime. Bottom: mean exact gap of
    trained codes; measured negative rates; exact L* and margin of the best non-uniform law."""
    import matplotlib.pyplot as plt

    betas = list(config.betas)
    fig, axes = plt.subplots(2, 3, figsize=(14, 8), layout="constrained")
    trained = [r for r in rows if r["kind"] == "trained"]
    for ax, mode in zip(axes[0], MODES):
        ls = sorted({r["l"] for r in trained if r["mode"] == mode})
        hits = arms.grid(arms.select(trained, mode=mode), "beta", "l", lambda r: r["minimiser_shape"] and abs(r["gap"]) <= config.gap_tolerance, betas, ls, 0.0, "sum")
        annotated_heatmap(ax, hits / config.seeds, ls, [f"{b:g}" for b in betas], text=hits.astype(int), cmap="RdYlGn", vmin=0, vmax=1, fontsize=8)
        ax.set(xlabel="negatives per anchor l", ylabel="beta")
        ax.set_title(f"{MODE_LABEL[mode].format(B=config.train.batch_size)}: seeds at L* (of {config.seeds})", fontsize=10)
    ax = axes[1, 0]
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(betas)))
    for mode, style in zip(MODES, ("-", "--", ":")):
        for colour, b in zip(colours, betas):
            gaps = arms.cell_means(trained, "gap", ("l",), mode=mode, beta=b)  # (l,) -> mean over seeds
            ax.plot([l for (l,) in gaps], np.maximum(list(gaps.values()), 0), style, color=colour, marker="o", ms=3, label=f"beta={b:g}" if mode == "iid" else None)
    ax.set(xlabel="l", ylabel="mean exact gap L(g) - L*")
    ax.set_xscale("log", base=2)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_ylim(-1e-4, None)
    ax.set_title("trained codes (solid i.i.d., dashed in-batch,\ndotted i.i.d. B=l+1)", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    rates = [r for r in rows if r["kind"] == "rates"]
    for k, (mode, colour) in enumerate(zip(MODES, ("tab:blue", "tab:orange", "tab:purple"))):
        sub = sorted((r for r in rates if r["mode"] == mode), key=lambda r: r["l"])
        x = np.array([r["l"] for r in sub]) * 2 ** ((k - 1) * 0.06)
        ax.errorbar(x, [r["same_cluster_rate"] for r in sub], yerr=[3 * r["same_cluster_se"] for r in sub], fmt="o", ms=3, capsize=2, color=colour,
                    label=MODE_LABEL[mode].format(B=config.train.batch_size))
        ax.errorbar(x, [r["self_rate"] for r in sub], yerr=[3 * r["self_se"] for r in sub], fmt="s", ms=3, capsize=2, color=colour, alpha=0.6)
    if rates:
        ax.axhline(rates[0]["same_cluster_expected"], color="k", lw=0.8, label="same cluster (circles): sum pi_c^2")
        ax.axhline(rates[0]["self_expected"], color="k", lw=0.8, ls="--", label="same image (squares): sum w_i^2")
    ax.set_xscale("log", base=2)
    ax.set(xlabel="l", ylabel="share of negatives (+- 3 SE)")
    ax.set_title("negatives from the anchor's own cluster / image", fontsize=9)
    ax.legend(fontsize=6, loc="center right")
    ax = axes[1, 2]
    exact = [r for r in rows if r["kind"] == "exact"]
    for colour, b in zip(colours, betas):
        sub = sorted((r for r in exact if r["beta"] == b), key=lambda r: r["l"])
        ax.plot([r["l"] for r in sub], [r["min_nonuniform_gap"] for r in sub], "-o", ms=3, color=colour, label=f"beta={b:g}")
        ax.plot([r["l"] for r in sub], [r["minimum"] for r in sub], ":", color=colour)
    ax.set_xscale("log", base=2)
    ax.set(yscale="log", xlabel="l", ylabel="loss")
    ax.set_title("exact: L* (dotted) and margin of the best\nnon-uniform cluster-constant law over L* (solid)", fontsize=9)
    ax.legend(fontsize=7)
    fig.suptitle(f"Finite negatives: comb with {config.comb.clusters(config.d)} clusters, d={config.d}, T={config.comb.teeth}, band-limited B={config.comb.bandwidth}, {config.train.steps} steps", fontsize=11)
    return fig
