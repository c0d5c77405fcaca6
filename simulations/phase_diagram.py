"""Phase diagram: function-class capacity against intertwining of the augmentations.

Realizable comb data (m = 2^d clusters, balanced, n base points each, disjoint augmentation sets
with T teeth). Every cell trains its seeds with the paper's InfoNCE (the seeds of up to
CELLS_PER_PASS cells of a panel in one batched pass, each exactly as it would train alone),
and the cell's colour is the fraction of seeds whose hard code is
cluster-preserving (the paper's definition: g constant on every cluster; whether the clusters
also sit on distinct vertices is recorded too). Contours show the measured delta of the class:

    teeth panel  band-limited class, x = bandwidth B, y = teeth T: spectral delta_F
    leak panel   band-limited class, x = B, y = leak p (T fixed): spectral delta_F
    mlp panel    ReLU MLP on the observation, x = width, y = T: empirical delta (the smallest
                 split ratio a trained adversary finds, an upper bound); the spectral delta
                 needs a feature map and does not apply

Prediction (Theorems 4.5 / 5.4 read together with delta-regularity): trained codes preserve
clusters where no function in the class splits a cluster for free (delta_F = 1 on the comb for
B < T) and split them where delta drops to 0 (B >= T); a positive leak restores delta and
preservation. The verdict measures how well "preserving" and "delta" agree across cells.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from clustertheory.analysis.metrics import alignment_error, cluster_purity, preserves_clusters
from clustertheory.analysis.regularity import empirical_delta, spectral_delta
from clustertheory.config import check_in, check_int_range, check_nonneg_int, check_positive, check_positive_int, check_probability
from clustertheory.data import comb_dataset
from clustertheory.functions.features import fourier_features
from clustertheory.simulation import Check, RunContext, SimulationConfig, Verdict
from clustertheory.training import TrainConfig
from clustertheory.training.batched import Member, train_members

NAME = "phase-diagram"
SUMMARY = "capacity (B, MLP width) vs intertwining (teeth T, leak p): trained codes preserve clusters exactly where delta stays up"

PANELS = ("teeth", "leak", "mlp")
DELTA_ONE = 1.0 - 1e-9  # spectral delta counted as 1 (exact up to rounding)
DELTA_ZERO = 1e-9  # spectral delta counted as 0
CELLS_PER_PASS = 16  # cells whose seeds train together in one batched pass (and are stored together)


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Data: dim d (m = 2^d clusters), points_per_cluster n. Grids: bandwidths B (teeth and leak
    panels), teeth T (teeth and mlp panels), leaks p at leak_teeth, widths (mlp panel, depth
    mlp_depth). Training: seeds per cell (one ensemble), steps, batch_size, num_negatives l,
    beta, lr. Adversary (empirical delta): adversary_restarts per cluster, adversary_steps.
    Verdict: a cell "preserves" when at least preserve_level of its seeds do; agreement_min and
    mlp_agreement_min are the required agreement rates; regular_delta the hard (empirical) delta
    above which leak-panel cells must preserve (the agnostic theorem's 0.4).
    """

    panels: tuple = PANELS
    dim: int = 2
    points_per_cluster: int = 4
    bandwidths: tuple = (0, 1, 2, 3, 4, 5, 6)
    teeth: tuple = (1, 2, 3, 4, 5, 6)
    leaks: tuple = (0.0, 0.05, 0.1, 0.2, 0.4)
    leak_teeth: int = 2
    widths: tuple = (1, 2, 4, 8, 16)
    mlp_depth: int = 2
    seeds: int = 4
    steps: int = 300
    batch_size: int = 64
    num_negatives: int = 16
    beta: float = 2.0
    lr: float = 0.05
    adversary_restarts: int = 4
    adversary_steps: int = 200
    preserve_level: float = 0.5
    agreement_min: float = 0.9
    mlp_agreement_min: float = 0.8
    regular_delta: float = 0.4

    def validate(self) -> None:
        if not self.panels:
            raise ValueError(f"panels must name at least one of {PANELS}")
        for panel in self.panels:
            check_in("panels", panel, PANELS)
        check_int_range("dim", self.dim, 1, 4)
        check_positive_int("points_per_cluster", self.points_per_cluster)
        for name in ("bandwidths", "teeth", "leaks", "widths"):
            if not getattr(self, name):
                raise ValueError(f"{name} must hold at least one value")
        for B in self.bandwidths:
            check_nonneg_int("bandwidths", B)
        for T in self.teeth:
            check_positive_int("teeth", T)
        for p in self.leaks:
            check_probability("leaks", p)
        check_positive_int("leak_teeth", self.leak_teeth)
        for w in self.widths:
            check_positive_int("widths", w)
        check_positive_int("mlp_depth", self.mlp_depth)
        check_positive_int("seeds", self.seeds)
        check_positive_int("steps", self.steps)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("num_negatives", self.num_negatives)
        check_positive("beta", self.beta)
        check_positive("lr", self.lr)
        check_positive_int("adversary_restarts", self.adversary_restarts)
        check_positive_int("adversary_steps", self.adversary_steps)
        check_probability("preserve_level", self.preserve_level)
        check_probability("agreement_min", self.agreement_min)
        check_probability("mlp_agreement_min", self.mlp_agreement_min)
        check_probability("regular_delta", self.regular_delta)

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            steps=self.steps, batch_size=self.batch_size, num_negatives=self.num_negatives, beta=self.beta, lr=self.lr, log_every=self.steps
        )


SCALES = {
    "default": Config(),
    "paper": Config(
        dim=3,
        points_per_cluster=6,
        bandwidths=tuple(range(11)),
        teeth=tuple(range(1, 11)),
        leaks=(0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6),
        leak_teeth=3,
        widths=(1, 2, 4, 8, 16, 32, 64, 128),
        seeds=16,
        steps=1000,
        adversary_restarts=16,
        adversary_steps=400,
    ),
}


# ----------------------------------------------------------------------------- one cell


def cell_setting(unit: dict, config: Config) -> tuple[object, str, dict]:
    """(data, class name, class keyword arguments) of one cell of the diagram."""
    m = 2**config.dim
    panel, capacity, intertwining = unit["panel"], unit["capacity"], unit["intertwining"]
    if panel == "leak":
        data = comb_dataset(m, config.points_per_cluster, config.leak_teeth, leak=float(intertwining))
    else:
        data = comb_dataset(m, config.points_per_cluster, int(intertwining))
    if panel == "mlp":
        return data, "mlp", {"width": int(capacity), "depth": config.mlp_depth}
    return data, "band-limited", {"bandwidth": int(capacity)}


def train_cells(cells: list[tuple], dim: int, train_config: TrainConfig, seed: int, device) -> list[np.ndarray]:
    """Train the seeds of many cells in one batched pass; per cell its (seeds, V, d) hard codes.

    cells: (data, class name, class keyword arguments, member seeds) per cell. Every member
    trains exactly as ``train`` would train it alone (its own init seed, data and batches;
    clustertheory.training.batched), with the view score table; ``seed`` seeds the pass's
    sampler. The only training in this simulation.
    """
    members = [Member(name, data, train_config, s, kwargs) for data, name, kwargs, seeds in cells for s in seeds]
    codes = train_members(members, dim, seed=seed, device=device, evaluate=lambda c: [{} for _ in c], score_table=True).codes
    ends = np.cumsum([len(seeds) for *_, seeds in cells])
    return [codes[end - len(seeds) : end, : data.num_views] for (data, *_, seeds), end in zip(cells, ends)]


def cell_key(unit: dict) -> tuple:
    return unit["panel"], unit["capacity"], unit["intertwining"]


def measure_cell(unit: dict, config: Config, ctx: RunContext, codes: np.ndarray) -> dict:
    """Score the cell's trained codes (seeds, V, d) and measure the class's delta on the cell's data."""
    data, class_name, class_kwargs = cell_setting(unit, config)
    preserving = [preserves_clusters(c, data, distinct=False) for c in codes]
    distinct = [preserves_clusters(c, data, distinct=True) for c in codes]
    adversary = empirical_delta(
        data, class_name, restarts=config.adversary_restarts, steps=config.adversary_steps, seed=ctx.seed_for(*cell_key(unit), "adversary"), device=ctx.device, **class_kwargs
    )
    spectral = spectral_delta(fourier_features(data, class_kwargs["bandwidth"]), data).delta if class_name == "band-limited" else float("nan")
    return {
        "preserving_fraction": float(np.mean(preserving)),
        "distinct_fraction": float(np.mean(distinct)),
        "min_purity": float(np.mean([np.nanmin(cluster_purity(c, data)) for c in codes])),
        "alignment_error": float(np.mean([alignment_error(c, data) for c in codes])),
        "delta_spectral": spectral,
        "delta_empirical": adversary.delta,
        "adversary_splits": adversary.splits_found,
    }


def measure_cells(batch: list[dict], config: Config, ctx: RunContext) -> list[dict]:
    """Train the seeds of a batch of cells together, then measure each cell."""
    cells = [(*cell_setting(u, config), [ctx.seed_for(*cell_key(u), "member", k) for k in range(config.seeds)]) for u in batch]
    codes = train_cells(cells, config.dim, config.train_config(), ctx.seed_for("pass", *cell_key(batch[0])), ctx.device)
    return [measure_cell(u, config, ctx, c) for u, c in zip(batch, codes)]


def cell_units(config: Config) -> list[dict]:
    """Every cell of every requested panel, as flat sweep units."""
    grids = {
        "teeth": (config.bandwidths, config.teeth),
        "leak": (config.bandwidths, config.leaks),
        "mlp": (config.widths, config.teeth),
    }
    return [{"panel": panel, "capacity": x, "intertwining": y} for panel in config.panels for y in grids[panel][1] for x in grids[panel][0]]


def run(config: Config, ctx: RunContext) -> list[dict]:
    """One sweep unit per cell; the cells of a panel are trained CELLS_PER_PASS at a time in
    one batched pass (ctx.max_batch overrides), and every finished pass is stored, so an
    interrupted run resumes. On CPU torch runs single-threaded meanwhile: the tensors are
    tiny and intra-op threads only add overhead (a cell trained 4x slower with two threads
    than with one on the 2-core reference machine)."""
    threads = torch.get_num_threads()
    if ctx.device.type == "cpu":
        torch.set_num_threads(1)
    try:
        return ctx.sweep_batched(
            cell_units(config), lambda unit: unit["panel"], lambda batch: measure_cells(batch, config, ctx),
            desc="phase-diagram cells", max_batch=ctx.max_batch or CELLS_PER_PASS,
        )
    finally:
        torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- verdict


def cell_delta(row: dict) -> float:
    """The delta shown for a cell: spectral where defined, else the empirical bound clipped to
    [0, 1] (no split found counts as 1)."""
    if not math.isnan(row["delta_spectral"]):
        return row["delta_spectral"]
    return min(1.0, row["delta_empirical"])


def agreement(rows: list[dict], config: Config, free: Callable[[dict], bool]) -> tuple[float, int]:
    """Share of cells where "preserving" (>= preserve_level of seeds) equals "no free split"."""
    if not rows:
        return float("nan"), 0
    hits = [(r["preserving_fraction"] >= config.preserve_level) == (not free(r)) for r in rows]
    return float(np.mean(hits)), len(rows)


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Agreement between preservation and delta, per panel; leak-panel cells with regular hard delta preserve."""
    checks = []
    teeth = [r for r in rows if r["panel"] == "teeth"]
    if teeth:
        rate, count = agreement(teeth, config, lambda r: r["delta_spectral"] < DELTA_ONE)
        checks.append(
            Check(
                name=f"teeth panel: cells where 'preserving (>= {config.preserve_level:g} of seeds)' == 'delta_F = 1'",
                measured=f"{rate:.3f} of {count} cells",
                requirement=f">= {config.agreement_min:g}",
                passed=rate >= config.agreement_min,
            )
        )
    spectral = [r for r in rows if r["panel"] in ("teeth", "leak")]
    free = [r for r in spectral if r["delta_spectral"] <= DELTA_ZERO]
    if free:
        mean_free = float(np.mean([r["preserving_fraction"] for r in free]))
        checks.append(
            Check(
                name="band-limited cells with delta_F = 0 (a free split exists): mean preserving fraction",
                measured=f"{mean_free:.3f} over {len(free)} cells",
                requirement=f"< {config.preserve_level:g}",
                passed=mean_free < config.preserve_level,
            )
        )
    leak = [r for r in rows if r["panel"] == "leak"]
    # B >= T: without leak the class splits for free; the leak gives every split a hard cost
    restored = [r for r in leak if r["capacity"] >= config.leak_teeth and r["delta_empirical"] >= config.regular_delta]
    if leak:
        mean_restored = float(np.mean([r["preserving_fraction"] for r in restored])) if restored else float("nan")
        checks.append(
            Check(
                name=f"leak panel, B >= T cells whose leak makes the hard (empirical) delta >= {config.regular_delta:g}: mean preserving fraction",
                measured=f"{mean_restored:.3f} over {len(restored)} cells",
                requirement=">= 0.75",
                passed=bool(restored) and mean_restored >= 0.75,
            )
        )
    mlp = [r for r in rows if r["panel"] == "mlp"]
    if mlp:
        rate, count = agreement(mlp, config, lambda r: r["delta_empirical"] <= DELTA_ZERO)
        checks.append(
            Check(
                name="mlp panel: cells where 'preserving' == 'adversary finds no free split (empirical delta > 0)'",
                measured=f"{rate:.3f} of {count} cells",
                requirement=f">= {config.mlp_agreement_min:g}",
                passed=rate >= config.mlp_agreement_min,
            )
        )
    return Verdict(checks)


# ----------------------------------------------------------------------------- figure

_PANEL_LABELS = {
    "teeth": ("bandwidth B (band-limited)", "teeth T", "spectral delta_F"),
    "leak": ("bandwidth B (band-limited), T = {teeth}", "leak p", "spectral delta_F"),
    "mlp": ("MLP width", "teeth T", "empirical delta (no split found = 1)"),
}


def _draw_level_boundary(ax, values: np.ndarray, level: float, **style) -> None:
    """Draw the cell edges that separate {values >= level} from the rest (a step contour)."""
    above = values >= level
    rows, cols = above.shape
    for i in range(rows):
        for j in range(cols):
            if j + 1 < cols and above[i, j] != above[i, j + 1]:
                ax.plot([j + 0.5, j + 0.5], [i - 0.5, i + 0.5], **style)
            if i + 1 < rows and above[i, j] != above[i + 1, j]:
                ax.plot([j - 0.5, j + 0.5], [i + 0.5, i + 0.5], **style)


def plot(rows: list[dict], config: Config):
    """One heat map per panel: colour = preserving fraction; step contours where delta crosses
    0.9 (white) and the regular level (red, dashed); cell text = preserving fraction, then the
    spectral delta_F and the hard empirical delta (d)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    panels = [p for p in PANELS if any(r["panel"] == p for r in rows)]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.8), squeeze=False)
    image = None
    for ax, panel in zip(axes[0], panels):
        mine = [r for r in rows if r["panel"] == panel]
        xs, ys = sorted({r["capacity"] for r in mine}), sorted({r["intertwining"] for r in mine})
        colour = np.full((len(ys), len(xs)), np.nan)
        delta = np.full((len(ys), len(xs)), np.nan)
        for r in mine:
            i, j = ys.index(r["intertwining"]), xs.index(r["capacity"])
            colour[i, j], delta[i, j] = r["preserving_fraction"], cell_delta(r)
            hard = "none" if math.isinf(r["delta_empirical"]) else f"{r['delta_empirical']:.2f}"
            spectral = "" if math.isnan(r["delta_spectral"]) else f"\ndF {r['delta_spectral']:.2f}"
            ax.text(j, i, f"{r['preserving_fraction']:.2f}{spectral}\nd {hard}", ha="center", va="center", fontsize=5.5, color="k" if r["preserving_fraction"] > 0.6 else "w")
        image = ax.imshow(colour, origin="lower", cmap="viridis", vmin=0, vmax=1, aspect="auto")
        _draw_level_boundary(ax, delta, 0.9, color="w", lw=2.5)
        _draw_level_boundary(ax, delta, config.regular_delta, color="#d62728", lw=1.5, ls="--")
        xlabel, ylabel, delta_label = _PANEL_LABELS[panel]
        ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
        ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys])
        ax.set_xlim(-0.5, len(xs) - 0.5)
        ax.set_ylim(-0.5, len(ys) - 0.5)
        ax.set_xlabel(xlabel.format(teeth=config.leak_teeth))
        ax.set_ylabel(ylabel)
        ax.set_title(f"{panel} panel: colour = preserving fraction\nlines: {delta_label}", fontsize=9)
    handles = [
        Line2D([], [], color="w", lw=2.5, label="delta = 0.9 boundary"),
        Line2D([], [], color="#d62728", lw=1.5, ls="--", label=f"delta = {config.regular_delta:g} boundary"),
    ]
    legend = fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, facecolor="0.6", bbox_to_anchor=(0.45, -0.1))
    legend.get_frame().set_alpha(1.0)
    fig.colorbar(image, ax=axes[0].tolist(), fraction=0.02, label="fraction of seeds cluster-preserving")
    fig.text(0.01, -0.06, "cell text: preserving fraction / dF spectral delta_F / d hard empirical delta (adversary bound)", fontsize=7)
    return fig
