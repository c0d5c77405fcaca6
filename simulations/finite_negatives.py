"""Finite negatives: what the number of negatives l and the inverse temperature beta change.

Theorem 4.5 holds for every l >= 1: with l i.i.d. natural-image negatives the global minimisers
are the uniform cluster-preserving codes, and their loss is L*(l, beta) = E log(1 + sum_{i<=l}
exp(-2 beta h_i)), h_i ~ Binomial(d, 1/2). A negative shares the anchor's cluster with
probability sum_c pi_c^2 (it is not excluded), which is why L* > 0. Three measurements on
realizable comb data (2^d balanced clusters, band-limited class B < T) over a grid of l and beta:

exact     the uniform law is the unique minimiser of the exact loss over all cluster-constant
          codes at every (l, beta) (enumerated up to hypercube symmetry), and by how much;
trained   per cell, the seeds trained as one ensemble: cluster preservation, TV distance of the
          vertex law from uniform, and the exact loss gap L(g) - L*; three negative regimes:
          "iid" (l i.i.d. negatives, 128 anchors per step), "in-batch" (the other B - 1
          anchors, B = l + 1, so K = l), and "iid-small-batch" (i.i.d., B = l + 1: the control
          with in-batch's anchors per step, separating batch size from negative correlation);
rates     the share of negatives from the anchor's own cluster (and the share that are the
          anchor's own natural image), measured from the sampler's draws in each regime, against
          sum_c pi_c^2 (and sum_i w_i^2).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from clustertheory.analysis.blurring import reduced_loss
from clustertheory.analysis.exact_loss import uniform_minimum
from clustertheory.config import (
    check_in,
    check_nonneg_int,
    check_positive,
    check_positive_int,
)
from clustertheory.data import PairSampler, ViewDataset, comb_dataset
from clustertheory.functions import make_function_class
from clustertheory.simulation import Check, RunContext, SimulationConfig, Verdict
from clustertheory.training import TrainConfig, train
from simulations.theorem_4_5 import measure_code

NAME = "finite-negatives"
SUMMARY = "l from 1 to 64 and beta: uniform law is the exact minimiser for every l; training finds it for l >= l*, beta moderate; same-cluster negatives at sum pi^2"

MODES = ("iid", "in-batch", "iid-small-batch")
MODE_LABEL = {"iid": "i.i.d., B=128", "in-batch": "in-batch, B=l+1", "iid-small-batch": "i.i.d., B=l+1"}


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Data: code dimension d, clusters_per_vertex * 2^d balanced clusters, comb (n, T), class
    bandwidth B. Grid: negatives_grid (l) x betas x modes; seeds per cell. Claims (checked by the
    verdict, over cells with beta <= claim_max_beta): with B = 128 i.i.d. every seed is uniform &
    preserving at L* for l >= claim_min_negatives; at l <= small_l the B = l + 1 modes succeed
    less often than B = 128 (by >= batch_effect_z standard errors); at equal B = l + 1, in-batch
    and i.i.d. negatives succeed equally often (|z| <= agreement_z).
    rate_pairs: (anchor, negative) pairs drawn per (mode, l) to measure negative rates;
    rate_z: allowed |z| of a measured rate. enumerate_limit: cluster-constant laws enumerated
    when at most this many, else random_laws sampled ones plus all one-move neighbours of uniform."""

    d: int = 3
    clusters_per_vertex: int = 1
    points_per_cluster: int = 4
    teeth: int = 5
    bandwidth: int = 2
    negatives_grid: tuple = (1, 2, 4, 8, 16, 64)
    betas: tuple = (0.5, 1.0, 2.0, 5.0)
    modes: tuple = MODES
    seeds: int = 8
    steps: int = 600
    batch_size: int = 128
    lr: float = 0.05
    rate_pairs: int = 40000
    rate_z: float = 3.0
    claim_max_beta: float = 2.0
    claim_min_negatives: int = 4
    small_l: int = 2
    batch_effect_z: float = 3.0
    agreement_z: float = 3.0
    enumerate_limit: int = 20000
    random_laws: int = 2000
    gap_tolerance: float = 1e-6

    def validate(self) -> None:
        if not isinstance(self.d, int) or not 1 <= self.d <= 6:
            raise ValueError(f"d must be an integer in [1, 6], got {self.d!r}")
        for name in ("clusters_per_vertex", "points_per_cluster", "teeth", "seeds", "steps", "batch_size", "rate_pairs", "claim_min_negatives", "small_l", "enumerate_limit", "random_laws"):
            check_positive_int(name, getattr(self, name))
        check_nonneg_int("bandwidth", self.bandwidth)
        if not self.negatives_grid or not self.betas or not self.modes:
            raise ValueError("negatives_grid, betas and modes must each hold at least one value")
        for l in self.negatives_grid:
            check_positive_int("negatives_grid", l)
        for beta in self.betas:
            check_positive("betas", beta)
        for mode in self.modes:
            check_in("modes", mode, MODES)
        for name in ("lr", "rate_z", "claim_max_beta", "batch_effect_z", "agreement_z", "gap_tolerance"):
            check_positive(name, getattr(self, name))


SCALES = {
    "default": Config(),
    # d = 4, one cluster per vertex (with two, beta = 2 leaves crowded vertices, see theorem-4.5).
    # CPU spot checks at d = 4, 32 seeds, 2000 steps, i.i.d. B = 128: l = 4 reached L* in 32/32
    # seeds at beta = 0.5 and 1, 31/32 at beta = 2, 24/32 at beta = 0.25; l = 256 in 63/64 at
    # beta 0.25 and 2 together. Hence the claim is made for beta <= 1 and beta = 0.25 is not on the grid.
    "paper": Config(
        d=4,
        negatives_grid=(1, 2, 4, 8, 16, 32, 64, 128, 256),
        betas=(0.5, 1.0, 2.0, 3.0, 5.0, 8.0),
        seeds=32,
        steps=2000,
        rate_pairs=200000,
        claim_max_beta=1.0,
    ),
}


def make_data(config: Config) -> ViewDataset:
    return comb_dataset(config.clusters_per_vertex * 2**config.d, config.points_per_cluster, config.teeth, seed=config.seed)


def train_config(mode: str, l: int, beta: float, config: Config) -> TrainConfig:
    """The trainer settings of one cell: B = 128 anchors for "iid", B = l + 1 otherwise."""
    batch = config.batch_size if mode == "iid" else l + 1
    negatives = "in-batch" if mode == "in-batch" else "iid"
    return TrainConfig(steps=config.steps, batch_size=batch, num_negatives=l, beta=beta, lr=config.lr, negative_mode=negatives)


# ----------------------------------------------------------------------------- units


def _trained(unit: dict, config: Config, ctx: RunContext) -> list[dict]:
    data = make_data(config)
    mode, l, beta = unit["mode"], unit["l"], unit["beta"]
    # the same initial weights for member s in every cell (common random numbers across the grid)
    members = [ctx.seed_for("member", s) for s in range(config.seeds)]
    model = make_function_class("band-limited", data, config.d, seeds=members, device=ctx.device, bandwidth=config.bandwidth)
    settings = train_config(mode, l, beta, config)
    result = train(model, data, settings, seed=ctx.seed_for("train", mode, l, beta))
    return [{"member": s, "batch_size": settings.batch_size, **measure_code(c.astype(np.float64), data, l, beta)} for s, c in enumerate(result.codes)]


def negative_rates(data: ViewDataset, settings: TrainConfig, pairs: int, seed: int, device="cpu") -> dict:
    """Share of (anchor, negative) pairs with the same cluster and with the same natural image,
    from the trainer's own sampler; standard errors from the spread of per-batch shares (pairs
    within a batch may be dependent, batches are independent)."""
    sampler = PairSampler(data, settings.num_negatives, settings.negative_mode, device=device, seed=seed)
    anchor, _, negatives = sampler.sample(settings.batch_size)
    per_batch = anchor.numel() * negatives.shape[-1]
    batches = max(50, math.ceil(pairs / per_batch))
    same_cluster, same_image = np.empty(batches), np.empty(batches)
    for b in range(batches):
        anchor, _, negatives = sampler.sample(settings.batch_size)
        anchor, negatives = anchor.cpu().numpy(), negatives.cpu().numpy()
        same_cluster[b] = (data.content[negatives] == data.content[anchor][:, None]).mean()
        same_image[b] = (negatives == anchor[:, None]).mean()  # natural images are distinct views
    return {
        "pairs": batches * per_batch,
        "same_cluster_rate": float(same_cluster.mean()),
        "same_cluster_se": float(same_cluster.std(ddof=1) / math.sqrt(batches)),
        "same_cluster_expected": float((data.cluster_weight**2).sum()),
        "self_rate": float(same_image.mean()),
        "self_se": float(same_image.std(ddof=1) / math.sqrt(batches)),
        "self_expected": float((data.base_weight**2).sum()),
    }


def _rates(unit: dict, config: Config, ctx: RunContext) -> dict:
    settings = train_config(unit["mode"], unit["l"], 1.0, config)
    return {"batch_size": settings.batch_size, **negative_rates(make_data(config), settings, config.rate_pairs, ctx.seed_for("rates", unit["mode"], unit["l"]), ctx.device)}


def cluster_constant_laws(config: Config, rng: np.random.Generator) -> np.ndarray:
    """(L, 2^d) vertex laws of cluster-constant codes (cluster weights 1/m), one per orbit of the
    hypercube's symmetries (XOR translations, coordinate permutations), which leave the loss
    unchanged. All of them when there are at most enumerate_limit count vectors; otherwise
    random_laws random assignments plus every law one cluster away from uniform."""
    d, m = config.d, config.clusters_per_vertex * 2**config.d
    V = 2**d
    if math.comb(m + V - 1, V - 1) <= config.enumerate_limit:
        bars = np.array(list(itertools.combinations(range(m + V - 1), V - 1)))
        edges = np.concatenate([np.full((len(bars), 1), -1), bars, np.full((len(bars), 1), m + V - 1)], axis=1)
        counts = np.diff(edges, axis=1) - 1
    else:
        counts = np.array([np.bincount(rng.integers(0, V, m), minlength=V) for _ in range(config.random_laws)])
        uniform = np.full(V, config.clusters_per_vertex)
        moves = [uniform + np.eye(V, dtype=int)[b] - np.eye(V, dtype=int)[a] for a in range(V) for b in range(V) if a != b]
        counts = np.concatenate([counts, np.array(moves), uniform[None]])
    vertex = np.arange(V)
    maps = []
    for shift in range(V):
        for perm in itertools.permutations(range(d)):
            moved = vertex ^ shift
            maps.append(sum(((moved >> j) & 1) << perm[j] for j in range(d)))
    orbits = {max(tuple(row[g]) for g in maps) for row in counts}
    return np.array(sorted(orbits), dtype=np.float64) / m


def _exact(unit: dict, config: Config, laws: np.ndarray) -> dict:
    l, beta = unit["l"], unit["beta"]
    minimum = uniform_minimum(config.d, l, beta)
    values = np.asarray(reduced_loss(laws, l, beta, method="laplace")) - minimum
    uniform = np.all(np.isclose(laws, 2.0**-config.d), axis=1)
    return {
        "minimum": minimum,
        "uniform_gap": float(values[uniform][0]),
        "min_nonuniform_gap": float(values[~uniform].min()),
        "laws": len(laws),
    }


def run(config: Config, ctx: RunContext) -> list[dict]:
    """Rows of three kinds: "exact" per (l, beta), "rates" per (mode, l), "trained" per seed."""
    laws = cluster_constant_laws(config, np.random.default_rng(ctx.seed_for("laws")))
    units = [{"kind": "exact", "l": l, "beta": b} for l in config.negatives_grid for b in config.betas]
    units += [{"kind": "rates", "mode": mode, "l": l} for mode in config.modes for l in config.negatives_grid]
    units += [{"kind": "trained", "mode": mode, "l": l, "beta": b} for mode in config.modes for l in config.negatives_grid for b in config.betas]

    def work(unit: dict):
        if unit["kind"] == "exact":
            return _exact(unit, config, laws)
        if unit["kind"] == "rates":
            return _rates(unit, config, ctx)
        return _trained(unit, config, ctx)

    return ctx.sweep(units, work, desc=NAME)


# ----------------------------------------------------------------------------- verdict


def _cells(rows: list[dict], mode: str) -> dict[tuple[int, float], list[dict]]:
    cells: dict[tuple[int, float], list[dict]] = {}
    for r in rows:
        if r["kind"] == "trained" and r["mode"] == mode:
            cells.setdefault((r["l"], r["beta"]), []).append(r)
    return cells


def threshold_negatives(rows: list[dict], mode: str, max_beta: float, tol: float) -> float:
    """Measured l*: the smallest l of the grid such that in every cell with l' >= l and
    beta <= max_beta every seed is uniform, cluster-preserving and at L* (inf if none)."""
    cells = _cells(rows, mode)
    ok = {key: all(r["minimiser_shape"] and abs(r["gap"]) <= tol for r in seeds) for key, seeds in cells.items() if key[1] <= max_beta}
    grid = sorted({l for l, _ in ok})
    for l in grid:
        if all(good for (l2, _), good in ok.items() if l2 >= l):
            return float(l)
    return math.inf


def _successes(rows: list[dict], modes: tuple, keep, tol: float) -> tuple[int, int]:
    """(seeds uniform & preserving at L*, seeds) over the cells (l, beta) of ``modes`` kept by ``keep``."""
    seeds = [r for mode in modes for (l, b), rs in _cells(rows, mode).items() if keep(l, b) for r in rs]
    return sum(r["minimiser_shape"] and abs(r["gap"]) <= tol for r in seeds), len(seeds)


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> float:
    """(k1/n1 - k2/n2) / SE with the pooled standard error; 0 for equal shares, +-inf when SE = 0
    but the shares differ, nan without data."""
    if n1 == 0 or n2 == 0:
        return math.nan
    diff = k1 / n1 - k2 / n2
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / se


def _rate_z(rate: float, expected: float, se: float) -> float:
    """|rate - expected| / se (0 when both agree exactly, inf when se = 0 and they differ)."""
    if se == 0:
        return 0.0 if rate == expected else math.inf
    return abs(rate - expected) / se


def verdict(rows: list[dict], config: Config) -> Verdict:
    tol, max_beta = config.gap_tolerance, config.claim_max_beta
    exact = [r for r in rows if r["kind"] == "exact"]
    rates = [r for r in rows if r["kind"] == "rates"]
    trained = [r for r in rows if r["kind"] == "trained"]
    checks = [
        Check(
            f"exact: uniform law attains L* at every (l, beta) (max |gap| over {len(exact)} cells)",
            max((abs(r["uniform_gap"]) for r in exact), default=float("nan")),
            f"<= {tol:g}",
            bool(exact) and all(abs(r["uniform_gap"]) <= tol for r in exact),
        ),
        Check(
            "exact: every non-uniform cluster-constant law lies above L* (min gap over cells)",
            min((r["min_nonuniform_gap"] for r in exact), default=float("nan")),
            f"> {tol:g}",
            bool(exact) and all(r["min_nonuniform_gap"] > tol for r in exact),
        ),
    ]
    thresholds = ", ".join(f"{MODE_LABEL[m]} {threshold_negatives(rows, m, max_beta, tol):g}" for m in config.modes)
    small_modes = tuple(m for m in ("in-batch", "iid-small-batch") if m in config.modes)
    if "iid" in config.modes:
        good, total = _successes(rows, ("iid",), lambda l, b: l >= config.claim_min_negatives and b <= max_beta, tol)
        checks.append(
            Check(
                f"{MODE_LABEL['iid']}: every seed uniform & preserving at L* for l >= {config.claim_min_negatives}, beta <= {max_beta:g} (measured l*: {thresholds})",
                f"{good}/{total}",
                "all",
                total > 0 and good == total,
            )
        )
        if small_modes:
            k1, n1 = _successes(rows, ("iid",), lambda l, b: l <= config.small_l and b <= max_beta, tol)
            k2, n2 = _successes(rows, small_modes, lambda l, b: l <= config.small_l and b <= max_beta, tol)
            z = two_proportion_z(k1, n1, k2, n2)
            checks.append(
                Check(
                    f"batch size matters at l <= {config.small_l}: seeds at L* with B=128 ({k1}/{n1}) vs B=l+1 ({k2}/{n2}), z",
                    z,
                    f">= {config.batch_effect_z:g}",
                    bool(z >= config.batch_effect_z),
                )
            )
    if len(small_modes) == 2:
        k1, n1 = _successes(rows, ("in-batch",), lambda l, b: b <= max_beta, tol)
        k2, n2 = _successes(rows, ("iid-small-batch",), lambda l, b: b <= max_beta, tol)
        z = two_proportion_z(k1, n1, k2, n2)
        checks.append(
            Check(
                f"equal B=l+1: in-batch ({k1}/{n1}) and i.i.d. ({k2}/{n2}) negatives succeed equally often, |z|",
                abs(z),
                f"<= {config.agreement_z:g}",
                bool(abs(z) <= config.agreement_z),
            )
        )
    mismatched = [r for r in trained if (abs(r["gap"]) <= tol) != r["minimiser_shape"]]
    checks += [
        Check(f"trained: at L* iff uniform & preserving (violations among {len(trained)} codes)", len(mismatched), 0, bool(trained) and not mismatched),
        Check("trained: no code below L* (min gap)", min((r["gap"] for r in trained), default=float("nan")), f">= -{tol:g}", bool(trained) and all(r["gap"] >= -tol for r in trained)),
    ]
    for name, key in (("same-cluster negative rate = sum pi_c^2", "same_cluster"), ("same-image negative rate = sum w_i^2", "self")):
        z = [_rate_z(r[f"{key}_rate"], r[f"{key}_expected"], r[f"{key}_se"]) for r in rates]
        checks.append(Check(f"{name} (max |z| over {len(rates)} (mode, l))", max(z, default=float("nan")), f"<= {config.rate_z:g}", bool(z) and max(z) <= config.rate_z))
    return Verdict(checks)


# ----------------------------------------------------------------------------- figure


def plot(rows: list[dict], config: Config):
    """Top: share of seeds uniform & preserving at L* per (l, beta), one heatmap per mode.
    Bottom: mean exact gap of trained codes; measured negative rates; exact margin of uniform."""
    import matplotlib.pyplot as plt

    ls, betas = list(config.negatives_grid), list(config.betas)
    fig = plt.figure(figsize=(13, 7.6))
    grid = fig.add_gridspec(2, max(3, len(config.modes)), height_ratios=[1, 1.05], hspace=0.5, wspace=0.32)
    for k, mode in enumerate(config.modes):
        ax = fig.add_subplot(grid[0, k])
        cells = _cells(rows, mode)
        share = np.full((len(betas), len(ls)), np.nan)
        for (l, b), seeds in cells.items():
            share[betas.index(b), ls.index(l)] = np.mean([r["minimiser_shape"] and abs(r["gap"]) <= config.gap_tolerance for r in seeds])
        ax.imshow(share, cmap="RdYlGn", vmin=0, vmax=1, origin="lower", aspect="auto")
        for i in range(len(betas)):
            for j in range(len(ls)):
                if not np.isnan(share[i, j]):
                    colour = "white" if share[i, j] > 0.85 or share[i, j] < 0.15 else "black"
                    ax.text(j, i, f"{round(share[i, j] * config.seeds)}", ha="center", va="center", fontsize=8, color=colour)
        ax.set_xticks(range(len(ls)), ls)
        ax.set_yticks(range(len(betas)), [f"{b:g}" for b in betas])
        ax.set_xlabel("negatives per anchor l (= K)")
        ax.set_ylabel("beta")
        ax.set_title(f"{MODE_LABEL[mode]}: seeds at L* (of {config.seeds})", fontsize=10)

    ax = fig.add_subplot(grid[1, 0])
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(betas)))
    for mode, style in (("iid", "-"), ("in-batch", "--"), ("iid-small-batch", ":")):
        cells = _cells(rows, mode)
        for colour, b in zip(colours, betas):
            mean_gap = [np.mean([r["gap"] for r in cells[(l, b)]]) if (l, b) in cells else np.nan for l in ls]
            ax.plot(ls, np.maximum(mean_gap, 0), style, color=colour, marker="o", ms=3, label=f"beta={b:g}" if mode == "iid" else None)
    ax.set_xscale("log", base=2)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_ylim(-1e-4, None)
    ax.set_xlabel("l")
    ax.set_ylabel("mean exact gap L(g) - L*")
    ax.set_title("trained codes (solid iid, dashed in-batch,\ndotted iid B=l+1)", fontsize=9)
    ax.legend(fontsize=7)

    ax = fig.add_subplot(grid[1, 1])
    rates = [r for r in rows if r["kind"] == "rates"]
    offsets = {m: (k - 1) * 0.06 for k, m in enumerate(MODES)}
    for mode, colour in zip(config.modes, ("tab:blue", "tab:orange", "tab:purple")):
        sub = sorted((r for r in rates if r["mode"] == mode), key=lambda r: r["l"])
        x = np.array([r["l"] for r in sub]) * 2 ** offsets[mode]
        ax.errorbar(x, [r["same_cluster_rate"] for r in sub], yerr=[3 * r["same_cluster_se"] for r in sub], fmt="o", ms=3, capsize=2, color=colour, label=MODE_LABEL[mode])
        ax.errorbar(x, [r["self_rate"] for r in sub], yerr=[3 * r["self_se"] for r in sub], fmt="s", ms=3, capsize=2, color=colour, alpha=0.6)
    if rates:
        ax.axhline(rates[0]["same_cluster_expected"], color="k", lw=0.8, label="same cluster (circles): sum pi_c^2")
        ax.axhline(rates[0]["self_expected"], color="k", lw=0.8, ls="--", label="same image (squares): sum w_i^2")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("l")
    ax.set_ylabel("share of negatives (+- 3 SE)")
    ax.set_title("negatives from the anchor's own cluster / image", fontsize=9)
    ax.legend(fontsize=6, loc="center right")

    ax = fig.add_subplot(grid[1, 2])
    exact = [r for r in rows if r["kind"] == "exact"]
    for colour, b in zip(colours, betas):
        sub = sorted((r for r in exact if r["beta"] == b), key=lambda r: r["l"])
        ax.plot([r["l"] for r in sub], [r["min_nonuniform_gap"] for r in sub], "-o", ms=3, color=colour, label=f"beta={b:g}")
        ax.plot([r["l"] for r in sub], [r["minimum"] for r in sub], ":", color=colour)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("l")
    ax.set_ylabel("loss")
    ax.set_title("exact: L* (dotted) and margin of the best\nnon-uniform clean law over L* (solid)", fontsize=9)
    ax.legend(fontsize=7)
    m = config.clusters_per_vertex * 2**config.d
    fig.suptitle(f"Finite negatives: comb with {m} clusters, d={config.d}, T={config.teeth}, band-limited B={config.bandwidth}, {config.steps} steps", fontsize=11)
    return fig
