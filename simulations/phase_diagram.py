"""Phase diagram: function-class capacity against intertwining of the augmentations.

Realizable comb data (m = 2^d clusters, balanced, n base points each, disjoint augmentation sets
with T teeth; a leak p mixes in views of the cluster's other base points). Every cell trains
``seeds`` members with the paper's InfoNCE (all cells in one batched pass, each member exactly as
it would train alone) and scores each hard code with analysis.metrics.preserves_clusters (the
paper's definition: g constant on every cluster, natural images; distinct vertices not required).

    teeth panel  band-limited class, x = bandwidth B, y = teeth T: spectral delta_F (exact)
    leak panel   band-limited class, x = B >= T (below T nothing splits: teeth panel), y = leak p
                 (T = leak_teeth): delta_F, and the hard delta of Definition 5.2, p n / (n - 1)
                 (the best split moves half the base points; an adversary checks it on one cell)
    mlp panel    ReLU MLP, x = width, y = T: the empirical delta (smallest split ratio a trained
                 adversary finds, an upper bound; no feature map, so no spectral delta)

The unit of independence is a replicate: seed k of every cell (members train independently, so
replicate k is one independent run of the whole diagram). Each claim compares the preserving
share of two groups of cells within each replicate and puts a paired t interval over replicates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis.metrics import alignment_error, preserves_clusters
from clustertheory.analysis.regularity import search_split, spectral_delta
from clustertheory.config import Integer, OneOf, Real, TupleOf
from clustertheory.data import comb_dataset
from clustertheory.functions.classes import make_function_class
from clustertheory.functions.features import fourier_features
from clustertheory.plotting import annotated_heatmap
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.training import TrainConfig
from clustertheory.training.batched import Member, combine_models, train_members

NAME = "phase-diagram"
SUMMARY = "capacity (B, MLP width) vs intertwining (teeth T, leak p): trained codes preserve clusters exactly where delta stays up"

PANELS = ("teeth", "leak", "mlp")
ZERO = 1e-9  # a delta within this of 0 (or 1) counts as exactly 0 (or 1): the spectral values are exact up to rounding
SOURCE = "package prediction from Parulekar et al. 2023, Theorems 4.5 and 5.4 (intertwined augmentations, delta-regularity)"


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Data: dim d (m = 2^d clusters), points_per_cluster n. Grids: bandwidths x teeth (teeth
    panel), leak_bandwidths x leaks at leak_teeth (leak panel), widths x mlp_teeth (mlp panel, MLP
    depth mlp_depth). seeds: members per cell (= replicates of the diagram); train: the InfoNCE
    training of every member. Adversary (empirical delta): restarts per cluster and steps.

    delta_min                 the agnostic theorem's regularity level 0.4: leak cells with hard delta
                              at least this count as regular
    null_gap                  no difference in preserving share between two groups of cells
    minimal_preservation_gap  the smallest difference that counts: the transition the diagram is
                              about goes from (nearly) all seeds preserving to (nearly) none, so a
                              gap of half the seeds is the least that deserves the name
    max_alignment_error       training reached clean codes where nothing splits for free (the
                              regime of the claims): mean P[g(x) != g(x+)] in delta_F = 1 cells
    """

    panels: tuple = PANELS
    dim: int = 2
    points_per_cluster: int = 4
    bandwidths: tuple = (0, 1, 2, 3)
    teeth: tuple = (1, 2, 3, 4)
    leak_bandwidths: tuple = (2, 3)
    leaks: tuple = (0.0, 0.05, 0.1, 0.2, 0.4)
    leak_teeth: int = 2
    widths: tuple = (2, 4, 8, 16)
    mlp_teeth: tuple = (1, 2, 3)
    mlp_depth: int = 2
    seeds: int = 10
    train: TrainConfig = TrainConfig(steps=300, batch_size=64, num_negatives=16, beta=2.0, lr=0.05, log_every=300)
    adversary_restarts: int = 4
    adversary_steps: int = 200
    delta_min: float = 0.4
    null_gap: float = 0.0
    minimal_preservation_gap: float = 0.5
    max_alignment_error: float = 0.05

    constraints = {
        "panels": TupleOf(OneOf(*PANELS), distinct=True),
        "dim": Integer(1, 4),
        "points_per_cluster": Integer(2),
        "bandwidths": TupleOf(Integer(0), increasing=True),
        "teeth": TupleOf(Integer(1), increasing=True),
        "leak_bandwidths": TupleOf(Integer(0), increasing=True),
        "leaks": TupleOf(Real(0, 1), increasing=True),
        "leak_teeth": Integer(1),
        "widths": TupleOf(Integer(1), increasing=True),
        "mlp_teeth": TupleOf(Integer(1), increasing=True),
        "mlp_depth": Integer(1),
        "seeds": Integer(2),
        "adversary_restarts": Integer(1),
        "adversary_steps": Integer(1),
        "delta_min": Real(0, 1, open_lo=True),
        "null_gap": Real(-1, 1),
        "minimal_preservation_gap": Real(0, 1),
        "max_alignment_error": Real(0, 1),
    }

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
    widths of one T share a dataset and are searched in one pass (analysis.regularity.search_split
    on the combined ensemble): restarts x clusters members per cell, each its own initialisation."""
    out: dict[tuple, float] = {}
    groups: dict[tuple, list[dict]] = {}
    top = max(config.leaks)
    for unit in batch:
        if unit["panel"] == "mlp" or (unit["panel"] == "leak" and unit["capacity"] == config.leak_teeth and unit["intertwining"] == top > 0):
            groups.setdefault((unit["panel"], unit["intertwining"]), []).append(unit)
    for (panel, y), cells in groups.items():
        data = cell_setting(cells[0], config)[0]
        targets = np.tile(np.arange(data.num_clusters), config.adversary_restarts)
        models = [make_function_class(name, data, 1, seeds=[ctx.seed_for(panel, u["capacity"], y, "adversary", k) for k in range(len(targets))], device=ctx.device, **kwargs)
                  for u in cells for _, name, kwargs in [cell_setting(u, config)]]
        found = search_split(combine_models(models), data, np.tile(targets, len(cells)), steps=config.adversary_steps)
        for i, u in enumerate(cells):
            out[cell_key(u)] = float(found.ratio[i * len(targets) : (i + 1) * len(targets)].min())
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
                          evaluate=lambda c: [{} for _ in c], score_table=True).codes
    adversary = adversary_deltas(batch, config, ctx)
    n = config.points_per_cluster
    out = []
    for i, (unit, (data, name, kwargs)) in enumerate(zip(batch, settings)):
        deltas = {
            "delta_spectral": spectral_delta(fourier_features(data, kwargs["bandwidth"]), data).delta if name == "band-limited" else np.nan,
            "delta_hard": unit["intertwining"] * n / (n - 1) if unit["panel"] == "leak" and unit["capacity"] >= config.leak_teeth else np.nan,
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


def replicate_shares(rows: list[dict], select, seeds: int) -> tuple[np.ndarray, int]:
    """(seeds,) share of preserving codes among the selected cells in each replicate, and the
    number of cells selected."""
    chosen = [r for r in rows if select(r)]
    cells = {(r["panel"], r["capacity"], r["intertwining"]) for r in chosen}
    if not chosen:
        return np.full(seeds, np.nan), 0
    return np.array([np.mean([r["preserving"] for r in chosen if r["seed"] == k]) for k in range(seeds)]), len(cells)


def gap_claim(name: str, statement: str, rows: list[dict], treated, control, config: Config, labels: tuple[str, str], extra=()) -> Claim:
    """Paired claim: preserving share of the ``treated`` cells minus that of the ``control`` cells, per replicate."""
    high, n_high = replicate_shares(rows, treated, config.seeds)
    low, n_low = replicate_shares(rows, control, config.seeds)
    preconditions = [Check.at_least(f"cells {labels[0]}", n_high, 1), Check.at_least(f"cells {labels[1]}", n_low, 1), *extra]
    if not (n_high and n_low):
        high = low = np.zeros(config.seeds)
    return Claim.from_paired(name, SOURCE, statement, high, low, f"share of seeds preserving clusters, ({labels[0]}) - ({labels[1]})",
                             null=config.null_gap, minimal_effect=config.minimal_preservation_gap, preconditions=preconditions)


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Package checks on the deltas; three paired claims on preservation against delta."""
    first = {(r["panel"], r["capacity"], r["intertwining"]): r for r in rows}
    teeth = [r for r in first.values() if r["panel"] == "teeth"]
    expected = [1.0 if r["capacity"] < r["intertwining"] else 0.0 for r in teeth]
    n = config.points_per_cluster
    at_t = [r for r in first.values() if r["panel"] == "leak" and r["capacity"] == config.leak_teeth]
    checked = [r for r in first.values() if r["panel"] == "leak" and not np.isnan(r["delta_adversary"])]
    checks = [
        Check.at_most("teeth panel: |delta_F - [B < T]| (max)", max((abs(r["delta_spectral"] - e) for r, e in zip(teeth, expected)), default=np.nan), ZERO),
        Check.at_most("leak panel at B = T: |delta_F - (1 - (1 - p n/(n-1))^2)| (max)",
                      max((abs(r["delta_spectral"] - (1 - (1 - r["intertwining"] * n / (n - 1)) ** 2)) for r in at_t), default=np.nan), ZERO),
        Check.at_most("leak panel: |adversary's best split ratio - p n/(n-1)| (max)", max((abs(r["delta_adversary"] - r["delta_hard"]) for r in checked), default=np.nan), 1e-9),
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

_AXES = {
    "teeth": ("bandwidth B (band-limited class)", "teeth T"),
    "leak": ("bandwidth B (band-limited class), T = {teeth}", "leak p"),
    "mlp": ("MLP width (depth {depth})", "teeth T"),
}


def _boundary(ax, inside: np.ndarray, **style) -> None:
    """Draw the cell edges between cells where ``inside`` holds and cells where it does not."""
    rows, cols = inside.shape
    for i in range(rows):
        for j in range(cols):
            if j + 1 < cols and inside[i, j] != inside[i, j + 1]:
                ax.plot([j + 0.5, j + 0.5], [i - 0.5, i + 0.5], **style)
            if i + 1 < rows and inside[i, j] != inside[i + 1, j]:
                ax.plot([j - 0.5, j + 0.5], [i + 0.5, i + 0.5], **style)


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
    image = None
    for ax, panel in zip(axes[0], panels):
        mine = [r for r in rows if r["panel"] == panel]
        xs, ys = sorted({r["capacity"] for r in mine}), sorted({r["intertwining"] for r in mine})
        share, line = np.full((len(ys), len(xs)), np.nan), np.zeros((len(ys), len(xs)), dtype=bool)
        text = np.full((len(ys), len(xs)), "", dtype=object)
        for r in (r for r in mine if r["seed"] == 0):
            i, j = ys.index(r["intertwining"]), xs.index(r["capacity"])
            share[i, j] = np.mean([s["preserving"] for s in mine if (s["capacity"], s["intertwining"]) == (r["capacity"], r["intertwining"])])
            text[i, j] = _cell_text(r, share[i, j])
            line[i, j] = {"teeth": r["delta_spectral"] >= 0.5, "leak": r["delta_hard"] >= config.delta_min, "mlp": r["delta_adversary"] <= ZERO}[panel]
        image = annotated_heatmap(ax, share, [f"{x:g}" for x in xs], [f"{y:g}" for y in ys], text=text, vmin=0, vmax=1, fontsize=6.5)
        _boundary(ax, line, color="#d62728" if panel == "leak" else "w", lw=2.5, ls="--" if panel == "leak" else "-")
        xlabel, ylabel = _AXES[panel]
        ax.set(xlabel=xlabel.format(teeth=config.leak_teeth, depth=config.mlp_depth), ylabel=ylabel)
    if "teeth" in panels:
        axes[0][panels.index("teeth")].set_title("white line: delta_F drops from 1 to 0 (B = T)", fontsize=9)
    if "leak" in panels:
        axes[0][panels.index("leak")].set_title(f"red dashes: hard delta d = p n/(n-1) reaches {config.delta_min:g}", fontsize=9)
    if "mlp" in panels:
        axes[0][panels.index("mlp")].set_title("white line: around cells where an adversary\nfound a free split (d = 0)", fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist(), fraction=0.02, label=f"share of {config.seeds} seeds whose code keeps every cluster whole")
    fig.suptitle("Trained codes keep clusters whole exactly where no function in the class splits one for free\n"
                 "(cell text: share preserving; dF spectral delta_F; d hard delta of Definition 5.2, or the adversary's bound)", fontsize=10, y=1.04)
    return fig
