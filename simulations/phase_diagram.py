"""Phase diagram: function-class capacity against intertwining of the augmentations.

Realizable comb data (m = 2^d clusters, balanced, n base points each, disjoint augmentation sets
with T teeth; a leak p mixes in views of the cluster's other base points). Every cell trains
``seeds`` members with the paper's InfoNCE (all cells in one batched pass, each member exactly as
it would train alone) and scores each hard code with analysis.metrics.preserves_clusters (the
paper's definition: g constant on every cluster, natural images; distinct vertices not required).

    teeth panel  band-limited class, x = bandwidth B, y = teeth T: spectral delta_F (exact)
    leak panel   band-limited class, x = B >= T (below T nothing splits: teeth panel), y = leak p
                 (T = leak_teeth): delta_F, and the hard delta of Definition 5.2
                 (analysis.regularity.leaky_comb_delta; an adversary checks it on one cell)
    mlp panel    ReLU MLP, x = width, y = T: the empirical delta (smallest split ratio a trained
                 adversary finds, an upper bound; no feature map, so no spectral delta)

The unit of independence is a replicate: seed k of every cell (members train independently, so
replicate k is one independent run of the whole diagram). Each claim compares the preserving
share of two groups of cells within each replicate and puts a paired t interval over replicates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis.arms import group, seed_means
from clustertheory.analysis.metrics import alignment_error, preserves_clusters
from clustertheory.analysis.regularity import leaky_comb_delta, leaky_comb_spectral_delta, spectral_delta, split_ratio_bounds
from clustertheory.config import Integer, OneOf, Real, TupleOf, setting
from clustertheory.data import comb_dataset
from clustertheory.functions.features import fourier_features
from clustertheory.plotting import cell_mean_heatmap
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.verdict import largest
from clustertheory.training import TrainConfig
from clustertheory.training.batched import Member, no_evaluation, train_members

NAME = "phase-diagram"
SUMMARY = "capacity (B, MLP width) vs intertwining (teeth T, leak p): trained codes preserve clusters exactly where delta stays up"

PANELS = ("teeth", "leak", "mlp")
ZERO = 1e-9  # a delta within this of 0 (or 1) counts as exactly 0 (or 1): the spectral values are exact up to rounding
CELL = ("panel", "capacity", "intertwining")  # the fields that name a cell of the diagram
SOURCE = "package prediction from Parulekar et al. 2023, Theorems 4.5 and 5.4 (intertwined augmentations, delta-regularity)"


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Data, the three grids, the training of every member, the adversary, and the thresholds.

    minimal_preservation_gap: the transition the diagram is about goes from (nearly) all seeds
    preserving to (nearly) none, so a gap of half the seeds is the least that deserves the name.
    """

    panels: tuple = setting(PANELS, TupleOf(OneOf(*PANELS), distinct=True), "the panels to run")
    dim: int = setting(2, Integer(1, 4), "code dimension d (m = 2^d clusters)")
    points_per_cluster: int = setting(4, Integer(2), "n base points per cluster")
    bandwidths: tuple = setting((0, 1, 2, 3), TupleOf(Integer(0), increasing=True), "teeth panel: bandwidths B (x)")
    teeth: tuple = setting((1, 2, 3, 4), TupleOf(Integer(1), increasing=True), "teeth panel: teeth T (y)")
    leak_bandwidths: tuple = setting((2, 3), TupleOf(Integer(0), increasing=True), "leak panel: bandwidths B (x)")
    leaks: tuple = setting((0.0, 0.05, 0.1, 0.2, 0.4), TupleOf(Real(0, 1), increasing=True), "leak panel: leaks p (y)")
    leak_teeth: int = setting(2, Integer(1), "leak panel: teeth T of every cell")
    widths: tuple = setting((2, 4, 8, 16), TupleOf(Integer(1), increasing=True), "mlp panel: MLP widths (x)")
    mlp_teeth: tuple = setting((1, 2, 3), TupleOf(Integer(1), increasing=True), "mlp panel: teeth T (y)")
    mlp_depth: int = setting(2, Integer(1), "mlp panel: MLP depth")
    seeds: int = setting(10, Integer(2), "members per cell (= replicates of the diagram)")
    train: TrainConfig = setting(TrainConfig(steps=300, batch_size=64, num_negatives=16, beta=2.0, lr=0.05, log_every=300),
                                 doc="the InfoNCE training of every member")
    adversary_restarts: int = setting(4, Integer(1), "empirical delta: adversary restarts per cluster")
    adversary_steps: int = setting(200, Integer(1), "empirical delta: adversary steps")
    delta_min: float = setting(0.4, Real(0, 1, open_lo=True), "agnostic theorem's regularity level: leak cells with hard delta >= this are regular")
    null_gap: float = setting(0.0, Real(-1, 1), "no difference in preserving share between two groups of cells")
    minimal_preservation_gap: float = setting(0.5, Real(0, 1), "the smallest difference in preserving share that counts")
    max_alignment_error: float = setting(0.05, Real(0, 1), "training reached clean codes where nothing splits for free (the regime of the "
                                         "claims): mean P[g(x) != g(x+)] in delta_F = 1 cells")

    def validate(self) -> None:
        if self.minimal_preservation_gap < self.null_gap:
            raise ValueError(f"minimal_preservation_gap must be >= null_gap, got {self.minimal_preservation_gap} < {self.null_gap}")


SCALES = {
    "default": Config(),
    "paper": Config(
        dim=3, points_per_cluster=6, bandwidths=tuple(range(11)), teeth=tuple(range(1, 11)), leak_bandwidths=tuple(range(3, 8)),
        leaks=(0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6), leak_teeth=3, widths=(1, 2, 4, 8, 16, 32, 64, 128),
        mlp_teeth=tuple(range(1, 7)), seeds=16, train=TrainConfig(steps=1000, batch_size=64, num_negatives=16, beta=2.0, lr=0.05, log_every=1000),
        adversary_restarts=16, adversary_steps=400,
    ),
}


def cell_units(config: Config) -> list[dict]:
    """Every cell of every requested panel: panel, capacity (x) and intertwining (y)."""
    grids = {"teeth": (config.bandwidths, config.teeth), "leak": (config.leak_bandwidths, config.leaks), "mlp": (config.widths, config.mlp_teeth)}
    return [{"panel": p, "capacity": x, "intertwining": y} for p in config.panels for y in grids[p][1] for x in grids[p][0]]


def cell_setting(unit: dict, config: Config) -> tuple[object, str, dict]:
    """(data, class name, class keyword arguments) of one cell."""
    m, n = 2**config.dim, config.points_per_cluster
    if unit["panel"] == "leak":
        data = comb_dataset(m, n, config.leak_teeth, leak=float(unit["intertwining"]))
    else:
        data = comb_dataset(m, n, int(unit["intertwining"]))
    if unit["panel"] == "mlp":
        return data, "mlp", {"width": int(unit["capacity"]), "depth": config.mlp_depth}
    return data, "band-limited", {"bandwidth": int(unit["capacity"])}


def adversary_deltas(batch: list[dict], config: Config, ctx: RunContext) -> dict[tuple, float]:
    """The adversary's smallest split ratio (an upper bound on the class's delta) for the mlp cells
    and for the leak cell at B = T with the largest leak (where it checks p n / (n - 1)). The mlp
    widths of one T share a dataset and are searched in one pass (analysis.regularity.split_ratio_bounds)."""
    top = max(config.leaks)
    searched = [u for u in batch if u["panel"] == "mlp"
                or (u["panel"] == "leak" and u["capacity"] == config.leak_teeth and u["intertwining"] == top > 0)]
    out: dict[tuple, float] = {}
    for (panel, y), cells in group(searched, "panel", "intertwining").items():
        data = cell_setting(cells[0], config)[0]
        members = range(config.adversary_restarts * data.num_clusters)
        seeds = [[ctx.seed_for(panel, u["capacity"], y, "adversary", k) for k in members] for u in cells]
        classes = [cell_setting(u, config)[1:] for u in cells]
        bounds = split_ratio_bounds(data, classes, seeds, config.adversary_restarts, config.adversary_steps, device=ctx.device)
        out.update({cell_key(u): float(bound) for u, bound in zip(cells, bounds)})
    return out


def cell_key(unit: dict) -> tuple:
    return unit["panel"], unit["capacity"], unit["intertwining"]


def measure_cells(batch: list[dict], config: Config, ctx: RunContext) -> list[list[dict]]:
    """Train every seed of every cell of the batch in one pass; measure the cells' deltas (spectral
    delta_F of the band-limited class; the hard delta p n / (n - 1) of a leaky comb at B >= T: the
    best split moves half the base points; the adversary's bound); one row per (cell, seed)."""
    settings = [cell_setting(u, config) for u in batch]
    seeds = [[ctx.seed_for(*cell_key(u), "member", k) for k in range(config.seeds)] for u in batch]
    members = [Member(name, data, config.train, s, kwargs) for (data, name, kwargs), cell in zip(settings, seeds) for s in cell]
    codes = train_members(members, config.dim, seed=ctx.seed_for("pass", *cell_key(batch[0])), device=ctx.device,
                          evaluate=no_evaluation, score_table=True).codes
    adversary = adversary_deltas(batch, config, ctx)
    n = config.points_per_cluster
    out = []
    for i, (unit, (data, name, kwargs)) in enumerate(zip(batch, settings)):
        deltas = {
            "delta_spectral": spectral_delta(fourier_features(data, kwargs["bandwidth"]), data).delta if name == "band-limited" else np.nan,
            "delta_hard": leaky_comb_delta(unit["intertwining"], n) if unit["panel"] == "leak" and unit["capacity"] >= config.leak_teeth else np.nan,
            "delta_adversary": adversary.get(cell_key(unit), np.nan),
        }
        mine = codes[i * config.seeds : (i + 1) * config.seeds, : data.num_views]
        out.append([{"seed": k, **deltas, "preserving": preserves_clusters(c, data, distinct=False), "distinct": preserves_clusters(c, data),
                     "alignment_error": alignment_error(c, data)} for k, c in enumerate(mine)])
    return out


def run(config: Config, ctx: RunContext) -> list[dict]:
    """All cells train together in one batched pass (ctx.max_batch cuts it; every finished batch
    is stored, so an interrupted run resumes)."""
    return ctx.sweep_batched(cell_units(config), None, lambda batch: measure_cells(batch, config, ctx), desc="phase-diagram cells")


# ----------------------------------------------------------------------------- verdict


def gap_claim(name: str, statement: str, rows: list[dict], treated, control, config: Config, labels: tuple[str, str], extra=()) -> Claim:
    """Paired claim: preserving share of the ``treated`` cells minus that of the ``control`` cells, per replicate."""
    high, n_high = seed_means(rows, "preserving", config.seeds, CELL, where=treated)
    low, n_low = seed_means(rows, "preserving", config.seeds, CELL, where=control)
    preconditions = [Check.at_least(f"cells {labels[0]}", n_high, 1), Check.at_least(f"cells {labels[1]}", n_low, 1), *extra]
    units = f"share of seeds preserving clusters, ({labels[0]}) - ({labels[1]})"
    if not (n_high and n_low):
        return Claim.untestable(name, SOURCE, statement, units, null=config.null_gap, minimal_effect=config.minimal_preservation_gap, preconditions=preconditions)
    return Claim.from_paired(name, SOURCE, statement, high, low, units, null=config.null_gap, minimal_effect=config.minimal_preservation_gap,
                             preconditions=preconditions)


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Package checks on the deltas; three paired claims on preservation against delta."""
    first = {(r["panel"], r["capacity"], r["intertwining"]): r for r in rows}
    teeth = [r for r in first.values() if r["panel"] == "teeth"]
    expected = [1.0 if r["capacity"] < r["intertwining"] else 0.0 for r in teeth]
    n = config.points_per_cluster
    at_t = [r for r in first.values() if r["panel"] == "leak" and r["capacity"] == config.leak_teeth]
    checked = [r for r in first.values() if r["panel"] == "leak" and not np.isnan(r["delta_adversary"])]
    checks = [
        Check.at_most("teeth panel: |delta_F - [B < T]| (max)", largest(abs(r["delta_spectral"] - e) for r, e in zip(teeth, expected)), ZERO),
        Check.at_most("leak panel at B = T: |delta_F - (1 - (1 - p n/(n-1))^2)| (max)",
                      largest(abs(r["delta_spectral"] - leaky_comb_spectral_delta(r["intertwining"], n)) for r in at_t), ZERO),
        Check.at_most("leak panel: |adversary's best split ratio - p n/(n-1)| (max)", largest(abs(r["delta_adversary"] - r["delta_hard"]) for r in checked), 1e-9),
    ]

    def band(r: dict) -> bool:
        return r["panel"] in ("teeth", "leak")

    aligned = [r["alignment_error"] for r in rows if band(r) and r["delta_spectral"] >= 1 - ZERO]
    converged = Check.at_most("mean alignment error where delta_F = 1 (training reached clean codes)", float(np.mean(aligned)) if aligned else np.nan, config.max_alignment_error)

    def regular(r: dict) -> bool:
        return r["panel"] == "leak" and r["delta_hard"] >= config.delta_min

    claims = [
        gap_claim("preserve-where-delta-one", "band-limited codes preserve clusters where no function in the class splits one for free "
                  "(delta_F = 1) and split them where one does (delta_F = 0)",
                  rows, lambda r: band(r) and r["delta_spectral"] >= 1 - ZERO, lambda r: band(r) and r["delta_spectral"] <= ZERO,
                  config, ("delta_F = 1", "delta_F = 0"), [converged]),
        gap_claim("leak-restores-preservation", f"a leak that makes every split pay (hard delta >= {config.delta_min:g}) restores preservation "
                  "where the class could split for free without it (B >= T)",
                  rows, regular, lambda r: r["panel"] == "leak" and r["delta_hard"] == 0.0, config, (f"hard delta >= {config.delta_min:g}", "p = 0, B >= T")),
        gap_claim("mlp-free-split-predicts", "MLP codes preserve clusters where the adversary finds no free split and split them where it finds one",
                  rows, lambda r: r["panel"] == "mlp" and r["delta_adversary"] > ZERO, lambda r: r["panel"] == "mlp" and r["delta_adversary"] <= ZERO,
                  config, ("no free split found", "free split found")),
    ]
    return Verdict(checks, claims)


# ----------------------------------------------------------------------------- figure

_AXES = {  # x label, y label, title
    "teeth": ("bandwidth B (band-limited class)", "teeth T", "white line: delta_F drops from 1 to 0 (B = T)"),
    "leak": ("bandwidth B (band-limited class), T = {teeth}", "leak p", "red dashes: hard delta d = p n/(n-1) reaches {delta_min:g}"),
    "mlp": ("MLP width (depth {depth})", "teeth T", "white line: around cells where an adversary\nfound a free split (d = 0)"),
}


def _cell_text(r: dict, share: float) -> str:
    if r["panel"] == "teeth":
        return f"{share:.1f}\ndF {r['delta_spectral']:.0f}"
    if r["panel"] == "leak":
        return f"{share:.1f}\ndF {r['delta_spectral']:.2f}\nd {r['delta_hard']:.2f}"
    return f"{share:.1f}\nd {'none' if np.isinf(r['delta_adversary']) else format(r['delta_adversary'], '.2f')}"


def plot(rows: list[dict], config: Config):
    """One heat map per panel: colour = share of seeds whose code preserves every cluster. Lines:
    teeth panel, where delta_F drops from 1 to 0 (B = T); leak panel, where the hard delta reaches
    delta_min; mlp panel, around the cells where the adversary found a free split."""
    import matplotlib.pyplot as plt

    panels = [p for p in PANELS if any(r["panel"] == p for r in rows)]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 4.6), squeeze=False)
    fig.subplots_adjust(wspace=0.3)
    inside = {"teeth": lambda r: r["delta_spectral"] >= 0.5, "leak": lambda r: r["delta_hard"] >= config.delta_min,
              "mlp": lambda r: r["delta_adversary"] <= ZERO}
    image = None
    for ax, panel in zip(axes[0], panels):
        boundary = {"color": "#d62728" if panel == "leak" else "w", "lw": 2.5, "ls": "--" if panel == "leak" else "-"}
        image = cell_mean_heatmap(ax, [r for r in rows if r["panel"] == panel], "capacity", "intertwining", "preserving", text=_cell_text,
                                  inside=inside[panel], boundary=boundary, vmin=0, vmax=1, fontsize=6.5)
        xlabel, ylabel, title = _AXES[panel]
        ax.set(xlabel=xlabel.format(teeth=config.leak_teeth, depth=config.mlp_depth), ylabel=ylabel)
        ax.set_title(title.format(delta_min=config.delta_min), fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist(), fraction=0.02, label=f"share of {config.seeds} seeds whose code keeps every cluster whole")
    fig.suptitle("Trained codes keep clusters whole exactly where no function in the class splits one for free\n"
                 "(cell text: share preserving; dF spectral delta_F; d hard delta of Definition 5.2, or the adversary's bound)", fontsize=10, y=1.04)
    return fig
