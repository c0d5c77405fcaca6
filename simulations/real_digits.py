"""Real digits: does the theory's mechanism predict what InfoNCE learns on real images?

Data: scikit-learn's handwritten digits (clustertheory.data.digits): natural images are a seeded
sample of the 1797, their labels the latent clusters (never shown to the learner), augmentation
sets K seeded views each (sub-pixel shift, small rotation, elastic warp, pixel noise) at strength
s. Function classes (clustertheory.functions.images), in order of capacity: band-limited on the
2-D DCT (frequencies up to B), linear in the pixels (= DCT with every frequency), and
Lipschitz-bounded ReLU MLPs of growing width; all map to codes on H_d (d = 4: 16 vertices for
10 classes). For every (class, strength) cell the seeds train in one batched pass per strength
with the paper's InfoNCE, and the codes are scored against the labels: adjusted Rand index (ARI,
the preservation measure; 1 = the clusters exactly), purity, uniformity of the vertex law. Per
class: the empirical delta at the strongest strength (adversarial split search) and how well
the class realises the labels when fitted with them (linear-in-feature classes); the
coordinates of the trained codes are functions of the class too and bound delta as well.
Downstream: a two-layer ReLU head (2^d neurons) against a linear head on the linear class's
codes at the strongest strength. Twin: the same questions on synthetic comb data (10 clusters,
band-limited B, teeth T) where the augmentation graph is known exactly.

Claims (``claims``): stronger augmentation and lower capacity give higher ARI; classes with
measured delta >= 0.4 preserve better; the ReLU head beats the linear head; the twin preserves
iff B < T. Package checks (``package_checks``): the augmentations keep the label, the strength
dial works, the DCT class depends on its band only and spans the linear class at B = 7, the
heads train, the twin is the comb it claims to be.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from clustertheory.analysis.downstream import (
    HeadConfig,
    bayes_errors,
    cluster_codes_of,
    cluster_faithful_tasks,
    fit_heads,
    parity_tasks,
    split_views,
)
from clustertheory.analysis.hypercube import vertex_index
from clustertheory.analysis.metrics import (
    alignment_error,
    cluster_agreement,
    cluster_purity,
    natural_vertex_law,
    preserves_clusters,
    uniformity,
)
from clustertheory.analysis.regularity import (
    empirical_delta,
    smallest_split_ratio,
    spectral_delta,
)
from clustertheory.config import Integer, Real, TupleOf
from clustertheory.data import comb_dataset
from clustertheory.data.digits import (
    IMAGE_SHAPE,
    NUM_CLASSES,
    DigitAugmentation,
    digits_dataset,
    label_retention,
    view_displacement,
)
from clustertheory.data.graph import proximity_summary
from clustertheory.functions.features import fourier_features
from clustertheory.functions.images import (
    band_locality,
    class_features,
    class_label,
    image_function_class,
    supervised_code,
)
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.statistics import mean_interval
from clustertheory.training import TrainConfig
from clustertheory.training.batched import (
    Member,
    combine_models,
    train_batched,
    train_members,
)

NAME = "real-digits"
SUMMARY = "real digits: capacity (DCT band, linear, MLP width) x augmentation strength; ARI against labels, empirical delta, heads; synthetic comb twin"
SOURCE = "Parulekar et al. 2023 (InfoNCE provably learns cluster-preserving representations)"
FULL_BAND = max(IMAGE_SHAPE) - 1  # DCT B = 7 on 8 x 8 images: every coefficient, the linear class's span


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Data: num_images natural digits (seeded sample), views_per_image K, strengths s (the
    kernel ``augmentation`` at strength 1 is the strongest that keeps labels readable), link_radius
    (pixel L2 distance at which augmentation sets count as touching; 1.0 is the median distance
    of a digit to its nearest other digit). Classes: DCT bandwidths B, linear, MLP widths (depth
    mlp_depth, Lipschitz bound lipschitz); code dimension dim. Training: seeds per cell, ``train``.
    Adversary (empirical delta, strongest strength): adversary_restarts per cluster,
    adversary_steps. Heads: head_tasks random cluster-faithful tasks plus the codes' parity tasks.
    Twin: comb with NUM_CLASSES clusters, twin_points natural images each, teeth T x bandwidths B.

    Fixed before the run (never fitted to it):
    max_label_loss     a 1-NN reader may lose at most this share of accuracy on augmented views
                       (the augmentations keep the label's information)
    realizable_ari     a class "realises" the labels when its supervised fit reaches this ARI
    regular_delta      the agnostic theorem's delta >= 0.4
    minimal_ari_gain   0.05 ARI: the smallest preservation change that counts (about a tenth
                       of the ARI a supervised linear code reaches, and above seed noise)
    minimal_head_gain  0.02: a head that is better by two points of error on average
    minimal_twin_gap   0.5: on the twin the theory predicts all-or-nothing preservation
    """

    num_images: int = 150
    views_per_image: int = 4
    strengths: tuple = (0.0, 0.5, 1.0)
    augmentation: DigitAugmentation = DigitAugmentation()
    link_radius: float = 1.0
    dim: int = 4
    bandwidths: tuple = (1, 3)
    widths: tuple = (16, 64)
    mlp_depth: int = 1
    lipschitz: float = 1.0
    seeds: int = 10
    train: TrainConfig = TrainConfig(steps=120, batch_size=32, num_negatives=8, beta=2.0, lr=0.05, log_every=120)
    adversary_restarts: int = 1
    adversary_steps: int = 100
    head_tasks: int = 8
    twin_points: int = 4
    twin_teeth: tuple = (1, 2, 3)
    twin_bandwidths: tuple = (0, 1, 2)
    twin_seeds: int = 10
    max_label_loss: float = 0.1
    realizable_ari: float = 0.5
    regular_delta: float = 0.4
    minimal_ari_gain: float = 0.05
    minimal_head_gain: float = 0.02
    minimal_twin_gap: float = 0.5

    constraints = {
        "num_images": Integer(20, 1500), "views_per_image": Integer(1), "strengths": TupleOf(Real(0), min_len=2, increasing=True),
        "link_radius": Real(0, open_lo=True), "dim": Integer(4, 8), "bandwidths": TupleOf(Integer(0, FULL_BAND - 1), increasing=True),
        "widths": TupleOf(Integer(1), increasing=True), "mlp_depth": Integer(1, 4), "lipschitz": Real(0, open_lo=True),
        "seeds": Integer(2), "adversary_restarts": Integer(1), "adversary_steps": Integer(1), "head_tasks": Integer(1),
        "twin_points": Integer(2), "twin_teeth": TupleOf(Integer(1), increasing=True), "twin_bandwidths": TupleOf(Integer(0), increasing=True),
        "twin_seeds": Integer(2), "max_label_loss": Real(0, 1), "realizable_ari": Real(0, 1), "regular_delta": Real(0, open_lo=True),
        "minimal_ari_gain": Real(0, 1, open_lo=True), "minimal_head_gain": Real(0, 1, open_lo=True), "minimal_twin_gap": Real(0, 1, open_lo=True),
    }


SCALES = {
    "default": Config(),
    # for a GPU: 600 digits with 8 views, five strengths, DCT bands 0..5, MLP widths to 256, 20 seeds
    "paper": Config(
        num_images=600, views_per_image=8, strengths=(0.0, 0.25, 0.5, 0.75, 1.0), bandwidths=(0, 1, 2, 3, 5), widths=(16, 64, 256),
        seeds=20, train=TrainConfig(steps=600, batch_size=128, num_negatives=16, beta=2.0, lr=0.05, log_every=600),
        adversary_restarts=4, adversary_steps=300, head_tasks=128, twin_points=6, twin_teeth=(1, 2, 3, 4), twin_bandwidths=(0, 1, 2, 3, 4), twin_seeds=20,
    ),
}


def capacities(config: Config) -> list[tuple[str, str, dict]]:
    """(key, class name, options) in order of capacity: DCT bandwidths, linear, MLP widths."""
    dct = [(f"dct-{b}", "dct", {"bandwidth": b}) for b in config.bandwidths]
    mlp = [(f"mlp-{w}", "mlp", {"width": w, "depth": config.mlp_depth, "lipschitz": config.lipschitz}) for w in config.widths]
    return dct + [("linear", "linear", {})] + mlp


def make_data(config: Config, strength: float):
    return digits_dataset(config.num_images, config.views_per_image, strength, config.augmentation, seed=config.seed)


# ----------------------------------------------------------------------------- measurements


def code_metrics(codes: np.ndarray, data) -> dict:
    """Preservation against the labels, uniformity and alignment of one member's codes (V, d)."""
    codes = codes[: data.num_views].astype(np.float64)
    purity = cluster_purity(codes, data)
    modes = vertex_index(cluster_codes_of(codes, data))
    return {
        **cluster_agreement(codes, data),
        "mean_purity": float(np.nanmean(purity)),
        "min_purity": float(np.nanmin(purity)),
        "tv": uniformity(natural_vertex_law(codes, data))["tv"],
        "vertices_used": len(np.unique(vertex_index(codes[data.base_view]))),
        "distinct_cluster_vertices": len(np.unique(modes)),
        "alignment_error": alignment_error(codes, data),
    }


def head_errors(codes: np.ndarray, data, config: Config, seed: int, device) -> dict:
    """Mean test error over tasks of a trained ReLU head (2^d neurons) and a linear head, and the
    ReLU heads' training error above the training views' Bayes error."""
    tasks = cluster_faithful_tasks(data.num_clusters, config.head_tasks, include=parity_tasks(cluster_codes_of(codes, data)), seed=seed)
    split = split_views(data, seed=seed)
    relu = fit_heads(codes, data, tasks, split, HeadConfig(kind="relu"), seed=seed, device=device)
    linear = fit_heads(codes, data, tasks, split, HeadConfig(kind="linear", restarts=1), seed=seed, device=device)
    bayes = bayes_errors(codes, data, tasks, views=split == 0)
    return {"relu_error": float(relu.test_error.mean()), "linear_error": float(linear.test_error.mean()),
            "relu_train_excess": float((relu.train_error - bayes).mean()), "tasks": len(tasks)}


def measure_strength(config: Config, strength: float, ctx: RunContext) -> list[dict]:
    """One strength: the data's own measurements, then every class x seed trained in one pass
    (member k of every class starts from seed k), scored; at the strongest strength also the
    downstream heads of the claim class ("linear") and its seed-0 codes for the figure."""
    data = make_data(config, strength)
    rows = [{"kind": "data", **label_retention(data), "median_displacement": float(np.median(view_displacement(data))),
             **proximity_summary(data, config.link_radius), "smallest_cluster": float(data.cluster_weight.min()), "largest_cluster": float(data.cluster_weight.max())}]
    seeds = [ctx.seed_for("member", k) for k in range(config.seeds)]
    classes = capacities(config)
    model = combine_models([image_function_class(name, data, config.dim, seeds=seeds, device=ctx.device, **opts) for _, name, opts in classes])
    codes = train_batched(model, data, config.train, seed=ctx.seed_for("train", strength), evaluate=lambda c: [{} for _ in c]).codes
    strongest = strength == max(config.strengths)
    for c, (key, _, _) in enumerate(classes):
        cell = codes[c * config.seeds : (c + 1) * config.seeds, : data.num_views]
        rows.append({"kind": "cell", "capacity": key, "delta_codes": smallest_split_ratio(cell, data)})
        for k in range(config.seeds):
            member = codes[c * config.seeds + k, : data.num_views]
            row = {"kind": "trained", "capacity": key, "seed_index": k, **code_metrics(member, data)}
            if strongest and key == "linear":
                row.update(head_errors(member.astype(np.float64), data, config, ctx.seed_for("heads", k), ctx.device))
            rows.append(row)
            if strongest and key == "linear" and k == 0:
                vertex = vertex_index(member[data.base_view].astype(np.float64))
                rows += [{"kind": "gallery", "source": int(s), "label": int(y), "vertex": int(v)} for s, y, v in zip(data.source, data.base_cluster, vertex)]
    return rows


def measure_class(config: Config, key: str, ctx: RunContext) -> dict:
    """A class's empirical delta at the strongest strength (adversarial split search) and, for
    classes linear in features, the ARI of its supervised fit (realisability)."""
    data = make_data(config, max(config.strengths))
    _, name, opts = next(c for c in capacities(config) if c[0] == key)
    found = empirical_delta(data, functools.partial(image_function_class, name), restarts=config.adversary_restarts, steps=config.adversary_steps,
                            seed=ctx.seed_for("adversary", key), device=ctx.device, **opts)
    supervised = float("nan")
    if name != "mlp":
        supervised = cluster_agreement(supervised_code(class_features(name, data, **opts), data, config.dim), data)["ari"]
    return {"kind": "class", "capacity": key, "delta_adversary": found.delta, "splits_found": found.splits_found, "supervised_ari": supervised}


def measure_dct(config: Config, ctx: RunContext) -> dict:
    """Package checks of the image classes as built, on the strongest strength's data: a DCT-B
    model's scores ignore an added image without energy at frequencies <= B and follow one with
    energy there (``band_locality``); at B = 7 the DCT class spans the linear class (equal
    spectral invariance eigenvalues); nested bands have non-decreasing invariance eigenvalues
    (Courant-Fischer for nested spans)."""
    data = make_data(config, max(config.strengths))
    moves = [band_locality(data, b, config.dim, seed=ctx.seed_for("dct", b)) for b in config.bandwidths]
    bands = [spectral_delta(class_features("dct", data, bandwidth=b), data).eigenvalues for b in (*config.bandwidths, FULL_BAND)]
    linear = spectral_delta(class_features("linear", data), data).eigenvalues
    span_gap = float(np.abs(linear - bands[-1]).max()) if len(linear) == len(bands[-1]) else float("inf")
    nested = max(float(np.max(small[: len(large)] - large[: len(small)], initial=0.0)) for small, large in itertools.pairwise(bands))
    return {"kind": "dct", "high_frequency_change": max(h for h, _ in moves), "low_frequency_change": min(lo for _, lo in moves),
            "full_band_gap": span_gap, "nesting_violation": nested}


def measure_twin(config: Config, ctx: RunContext) -> list[dict]:
    """The synthetic twin: comb data (NUM_CLASSES clusters) x band-limited B, every cell's seeds in
    one pass; the exact spectral delta of each cell."""
    cells = [(t, b) for t in config.twin_teeth for b in config.twin_bandwidths]
    datasets = {t: comb_dataset(NUM_CLASSES, config.twin_points, t, seed=config.seed) for t in config.twin_teeth}
    seeds = [ctx.seed_for("twin-member", k) for k in range(config.twin_seeds)]
    members = [Member("band-limited", datasets[t], config.train, s, {"bandwidth": b}) for t, b in cells for s in seeds]
    codes = train_members(members, config.dim, seed=ctx.seed_for("twin"), device=ctx.device, evaluate=lambda c: [{} for _ in c], score_table=True).codes
    rows = []
    for c, (t, b) in enumerate(cells):
        data = datasets[t]
        rows.append({"kind": "twin-class", "teeth": t, "bandwidth": b, "delta": spectral_delta(fourier_features(data, b), data).delta})
        for k in range(config.twin_seeds):
            member = codes[c * config.twin_seeds + k, : data.num_views].astype(np.float64)
            rows.append({"kind": "twin", "teeth": t, "bandwidth": b, "seed_index": k, "preserving": bool(preserves_clusters(member, data, distinct=False)),
                         "ari": cluster_agreement(member, data)["ari"]})
    return rows


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = ([{"part": "strength", "strength": s} for s in config.strengths] + [{"part": "class", "capacity": key} for key, _, _ in capacities(config)]
             + [{"part": "dct"}, {"part": "twin"}])

    def measure(unit: dict):
        if unit["part"] == "strength":
            return measure_strength(config, unit["strength"], ctx)
        if unit["part"] == "class":
            return measure_class(config, unit["capacity"], ctx)
        return measure_dct(config, ctx) if unit["part"] == "dct" else measure_twin(config, ctx)

    return ctx.sweep(units, measure, desc="real-digits")


# ----------------------------------------------------------------------------- verdict


def _by_seed(rows: list[dict], kind: str, value: str, **where) -> np.ndarray:
    """(seeds,) ``value`` of the rows of ``kind`` matching ``where``, in seed order."""
    chosen = sorted((r for r in rows if r["kind"] == kind and all(r[k] == v for k, v in where.items())), key=lambda r: r["seed_index"])
    return np.array([r[value] for r in chosen], dtype=np.float64)


def class_deltas(rows: list[dict], config: Config) -> dict[str, float]:
    """Each class's empirical delta at the strongest strength: the smaller of the adversary's
    bound and the bound from the coordinates of its trained codes (both are functions of the
    class, so both bound delta from above)."""
    strongest = max(config.strengths)
    codes = {r["capacity"]: r["delta_codes"] for r in rows if r["kind"] == "cell" and r["strength"] == strongest}
    return {r["capacity"]: min(r["delta_adversary"], codes[r["capacity"]]) for r in rows if r["kind"] == "class"}


def _untestable(name: str, source: str, statement: str, units: str, minimal: float, preconditions: list[Check]) -> Claim:
    """A claim whose effect cannot be formed because a precondition left one arm empty."""
    nan = float("nan")
    return Claim(name, source, statement, nan, units, nan, nan, 0.95, "paired t", 0, 0.0, minimal, preconditions=tuple(preconditions))


def package_checks(rows: list[dict], config: Config) -> list[Check]:
    data = sorted((r for r in rows if r["kind"] == "data"), key=lambda r: r["strength"])
    dct = next(r for r in rows if r["kind"] == "dct")
    heads = [r["relu_train_excess"] for r in rows if r["kind"] == "trained" and "relu_train_excess" in r]
    twin = [r for r in rows if r["kind"] == "twin-class"]
    displacement = [r["median_displacement"] for r in data]
    twin_off = max(abs(r["delta"] - float(r["bandwidth"] < r["teeth"])) for r in twin)
    return [
        Check.at_most("augmentations keep the label: largest 1-NN accuracy loss on augmented views (over strengths)", max(r["label_loss"] for r in data), config.max_label_loss),
        Check.holds("the strength dial moves views further: median view-to-image distance by strength", bool(np.all(np.diff(displacement) > 0)),
                    [round(x, 3) for x in displacement], "strictly increasing"),
        Check.at_most("the DCT class is a function of frequencies <= B only: largest score change when an image without them is added", dct["high_frequency_change"], 1e-5),
        Check.above("the DCT class sees frequencies <= B: smallest score change when an image with them is added", dct["low_frequency_change"], 1e-3),
        Check.at_most("DCT with every frequency spans the linear class: largest gap between their invariance eigenvalues", dct["full_band_gap"], 1e-6),
        Check.at_most("nested DCT bands: largest decrease of an invariance eigenvalue as B grows", dct["nesting_violation"], 1e-9),
        Check.at_most("trained ReLU heads reach the Bayes error of the training views (largest mean excess over seeds)", max(heads), 0.01),
        Check.at_most("twin setting: spectral delta is 1 for B < T and 0 for B >= T (largest deviation)", twin_off, 1e-6),
    ]


def claims(rows: list[dict], config: Config) -> list[Claim]:
    weakest, strongest = min(config.strengths), max(config.strengths)
    keys = [key for key, _, _ in capacities(config)]
    classes = {r["capacity"]: r for r in rows if r["kind"] == "class"}
    loss_at_strongest = next(r["label_loss"] for r in rows if r["kind"] == "data" and r["strength"] == strongest)
    keeps_label = Check.at_most(f"augmentations at s = {strongest:g} keep the label: 1-NN accuracy loss", loss_at_strongest, config.max_label_loss)
    realises = Check.at_least("the linear class realises the labels: ARI of its supervised fit", classes["linear"]["supervised_ari"], config.realizable_ari)
    ari = {(k, s): _by_seed(rows, "trained", "ari", capacity=k, strength=s) for k in keys for s in config.strengths}
    gain = config.minimal_ari_gain
    out = [
        Claim.from_paired(
            "stronger-augmentation-preserves", SOURCE + ", Sec. 4 (intertwined augmentations)",
            f"for the linear class, stronger augmentation (s = {strongest:g} vs {weakest:g}) gives codes closer to the labels",
            ari["linear", strongest], ari["linear", weakest], "ARI", minimal_effect=gain, preconditions=[keeps_label, realises]),
    ]
    top = keys[-1]
    delta = class_deltas(rows, config)
    splits = Check.below(f"the highest capacity ({top}) splits a class cheaply: its empirical delta", delta[top], config.regular_delta)
    out.append(Claim.from_paired(
        "lower-capacity-preserves", SOURCE + ", Sec. 1-4 (bounded function class)",
        f"at s = {strongest:g}, the linear class keeps the labels better than the highest capacity ({top})",
        ari["linear", strongest], ari[top, strongest], "ARI", minimal_effect=gain, preconditions=[splits, realises]))
    measured = [k for k in keys if np.isfinite(delta[k])]
    regular = [k for k in measured if delta[k] >= config.regular_delta]
    irregular = [k for k in measured if delta[k] < config.regular_delta]
    sides = [Check.at_least(f"classes with a found split and delta >= {config.regular_delta:g}", len(regular), 1),
             Check.at_least(f"classes with a found split and delta < {config.regular_delta:g}", len(irregular), 1)]
    statement = f"at s = {strongest:g}, classes with measured delta >= {config.regular_delta:g} keep the labels better than classes below it"
    source = SOURCE + ", Thm 5.4 (delta-regularity, delta >= 0.4)"
    if regular and irregular:
        high = np.mean([ari[k, strongest] for k in regular], axis=0)
        low = np.mean([ari[k, strongest] for k in irregular], axis=0)
        out.append(Claim.from_paired("delta-predicts-preservation", source, statement, high, low, "ARI", minimal_effect=gain, preconditions=sides))
    else:
        out.append(_untestable("delta-predicts-preservation", source, statement, "ARI", gain, sides))
    out.append(Claim.from_paired(
        "relu-head-beats-linear-head", SOURCE + ", Thm 4.6 (two-layer ReLU head)",
        f"on the linear class's codes at s = {strongest:g}, a two-layer ReLU head (2^d neurons) errs less on cluster-faithful tasks than a linear head",
        _by_seed(rows, "trained", "linear_error", capacity="linear", strength=strongest),
        _by_seed(rows, "trained", "relu_error", capacity="linear", strength=strongest), "mean test error", minimal_effect=config.minimal_head_gain))
    twin = [r for r in rows if r["kind"] == "twin"]
    below = [r for r in twin if r["bandwidth"] < r["teeth"]]
    above = [r for r in twin if r["bandwidth"] >= r["teeth"]]
    sides = [Check.at_least("twin cells with B < T", len(below), 1), Check.at_least("twin cells with B >= T", len(above), 1)]
    statement = "on the synthetic twin, band-limited codes preserve clusters when B < T and split them when B >= T"
    source = SOURCE + ", Thm 4.5 on comb data (package twin)"
    if below and above:
        def share(group: list[dict]) -> list[float]:
            return [np.mean([r["preserving"] for r in group if r["seed_index"] == k]) for k in range(config.twin_seeds)]

        out.append(Claim.from_paired("twin-preserves-below-teeth", source, statement, share(below), share(above), "share of cells preserving",
                                     minimal_effect=config.minimal_twin_gap, preconditions=sides))
    else:
        out.append(_untestable("twin-preserves-below-teeth", source, statement, "share of cells preserving", config.minimal_twin_gap, sides))
    return out


def verdict(rows: list[dict], config: Config) -> Verdict:
    return Verdict(package_checks(rows, config), claims(rows, config))


# ----------------------------------------------------------------------------- figure


def _gallery(fig, spec, rows: list[dict], dim: int, per_row: int = 4) -> None:
    """One cell per vertex (4 x 4 for d = 4), each showing up to 2 x ``per_row`` of the natural
    digits the seed-0 linear code puts there, titled with the vertex's count and majority label."""
    from clustertheory.data.digits import load_digit_images

    images, _ = load_digit_images()
    gallery = [r for r in rows if r["kind"] == "gallery"]
    side = 2 ** (dim // 2)
    cells = spec.subgridspec(2**dim // side, side, wspace=0.05, hspace=0.3)
    for v in range(2**dim):
        ax = fig.add_subplot(cells[v // side, v % side])
        members = [r for r in gallery if r["vertex"] == v]
        mosaic = np.ones((17, 9 * per_row - 1))
        for slot, r in enumerate(members[: 2 * per_row]):
            i, j = divmod(slot, per_row)
            mosaic[i * 9 : i * 9 + 8, j * 9 : j * 9 + 8] = 1 - images[r["source"]]
        ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        counts = np.bincount([r["label"] for r in members], minlength=NUM_CLASSES)
        title = f"vertex {v}: {len(members)} digits, {counts.max() / len(members):.0%} '{counts.argmax()}'" if members else f"vertex {v}: empty"
        ax.set_title(title, fontsize=7, pad=2)


def plot(rows: list[dict], config: Config):
    """Top: phase diagram on real digits (ARI against the labels), its synthetic twin
    (preserving share), ARI by capacity with the supervised ceiling. Bottom: digits per vertex
    for one trained linear code; downstream head errors."""
    import matplotlib.pyplot as plt

    from clustertheory.plotting import annotated_heatmap

    keys = [key for key, _, _ in capacities(config)]
    labels = {key: class_label(name, opts) for key, name, opts in capacities(config)}
    classes = {r["capacity"]: r for r in rows if r["kind"] == "class"}
    strengths = list(config.strengths)
    fig = plt.figure(figsize=(16, 10))
    grid = fig.add_gridspec(2, 3, height_ratios=[1, 1.15], hspace=0.38, wspace=0.28)

    ax = fig.add_subplot(grid[0, 0])
    mean = np.array([[_by_seed(rows, "trained", "ari", capacity=k, strength=s).mean() for k in keys] for s in strengths])
    purity = np.array([[_by_seed(rows, "trained", "mean_purity", capacity=k, strength=s).mean() for k in keys] for s in strengths])
    text = np.array([[f"{a:.2f}\npur {p:.2f}" for a, p in zip(ra, rp)] for ra, rp in zip(mean, purity)])
    delta = class_deltas(rows, config)
    x_labels = [f"{labels[k]}\nδ ≤ {delta[k]:.2f}\n(search {classes[k]['delta_adversary']:.2f})" for k in keys]
    image = annotated_heatmap(ax, mean, x_labels, [f"{s:g}" for s in strengths], text=text, vmin=0, vmax=max(0.5, float(mean.max())), fontsize=7)
    ax.tick_params(axis="x", labelsize=6.5)
    ax.set_xlabel(f"capacity; δ: empirical delta at s = {max(strengths):g} (adversary and trained codes;\nsearch: the adversary alone, inf = no split found)", fontsize=8)
    ax.set_ylabel("augmentation strength s")
    ax.set_title(f"real digits: ARI of codes vs labels (mean of {config.seeds} seeds)", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04)

    ax = fig.add_subplot(grid[0, 1])
    teeth, bands = list(config.twin_teeth), list(config.twin_bandwidths)
    twin = [r for r in rows if r["kind"] == "twin"]
    share = np.array([[np.mean([r["preserving"] for r in twin if r["teeth"] == t and r["bandwidth"] == b]) for b in bands] for t in teeth])
    spectral = {(r["teeth"], r["bandwidth"]): r["delta"] for r in rows if r["kind"] == "twin-class"}
    text = np.array([[f"{share[i, j]:.1f}\ndF {spectral[t, b]:.0f}" for j, b in enumerate(bands)] for i, t in enumerate(teeth)])
    annotated_heatmap(ax, share, [f"B={b}" for b in bands], [f"T={t}" for t in teeth], text=text, vmin=0, vmax=1, fontsize=7)
    ax.set_xlabel("capacity: band-limited bandwidth B")
    ax.set_ylabel("intertwining: teeth T")
    ax.set_title(f"synthetic twin (comb, {NUM_CLASSES} clusters): share of seeds preserving\n(dF = exact spectral delta)", fontsize=9)

    ax = fig.add_subplot(grid[0, 2])
    x = np.arange(len(keys))
    for s, colour in zip(strengths, plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(strengths)))):
        means = [mean_interval(_by_seed(rows, "trained", "ari", capacity=k, strength=s)) for k in keys]  # t intervals, as the claims
        half = np.array([[m.estimate - m.low for m in means], [m.high - m.estimate for m in means]])
        ax.errorbar(x, [m.estimate for m in means], yerr=half, marker="o", ms=4, capsize=3, color=colour, label=f"InfoNCE, s = {s:g}")
    ax.plot(x, [classes[k]["supervised_ari"] for k in keys], "k--", marker="s", ms=4, label="supervised fit (ceiling)")
    ax.set_xticks(x, [labels[k] for k in keys], fontsize=7)
    ax.set_ylabel("ARI against the labels (+- 95% CI)")
    ax.set_ylim(0, 1)
    ax.set_title("preservation by capacity", fontsize=9)
    ax.legend(fontsize=7)

    _gallery(fig, grid[1, 0:2], rows, config.dim)
    fig.text(0.36, 0.475, f"the 16 vertices of one trained linear code (seed 0, s = {max(strengths):g}) and some of the natural digits on each", ha="center", fontsize=9)

    ax = fig.add_subplot(grid[1, 2])
    relu = _by_seed(rows, "trained", "relu_error", capacity="linear", strength=max(strengths))
    linear = _by_seed(rows, "trained", "linear_error", capacity="linear", strength=max(strengths))
    for a, b in zip(relu, linear):
        ax.plot([0, 1], [a, b], color="0.6", lw=0.8)
    ax.scatter(np.zeros_like(relu), relu, color="tab:green", zorder=3, label="two-layer ReLU head")
    ax.scatter(np.ones_like(linear), linear, color="tab:red", zorder=3, label="linear head")
    ax.set_xticks([0, 1], ["ReLU head", "linear head"])
    ax.set_xlim(-0.5, 1.5)
    ax.set_ylabel("mean test error over cluster-faithful tasks")
    data = {r["strength"]: r for r in rows if r["kind"] == "data"}
    strongest = data[max(strengths)]
    ax.set_title(f"downstream on the linear codes (one line per seed)\nlabel kept by 1-NN: {strongest['augmented_accuracy']:.0%} of views "
                 f"(natural {strongest['natural_accuracy']:.0%}); sets linked across labels: {strongest['mass_linked_across']:.0%}", fontsize=8)
    ax.legend(fontsize=7)
    fig.suptitle(f"InfoNCE on real digits ({config.num_images} images, {config.views_per_image} views each, d = {config.dim}) and its synthetic twin", fontsize=12)
    return fig
