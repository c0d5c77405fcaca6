"""Real digits: does the theory's mechanism predict what InfoNCE learns on real images?

Data: scikit-learn's handwritten digits (clustertheory.data.digits), labels as the latent clusters
(never shown to the learner), K seeded augmented views per image at strength s. Function classes
(clustertheory.functions.images), in order of capacity: DCT band-limited (frequencies up to B),
linear in the pixels, Lipschitz-bounded ReLU MLPs of growing width; codes on H_d (d = 4). For
every strength the classes x seeds train in one batched pass with the paper's InfoNCE, and each
code is scored against the labels (ARI: 1 = the clusters exactly). Per class at the strongest
strength: the empirical delta and the supervised fit (realisability). Downstream: a two-layer
ReLU head against a linear head on the linear class's codes. The same questions on synthetic
comb data, where the augmentation graph is exact, are the simulation real-digits-twin.

Claims: stronger augmentation and lower capacity give higher ARI; classes with measured delta
>= 0.4 preserve better; the ReLU head beats the linear head. Package checks: the augmentations
keep the label, the strength dial works, the DCT class depends on its band only and spans the
linear class at B = 7, the heads train.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis import arms
from clustertheory.analysis.downstream import head_comparison
from clustertheory.analysis.hypercube import vertex_index
from clustertheory.analysis.metrics import code_metrics
from clustertheory.analysis.regularity import smallest_split_ratio
from clustertheory.config import Integer, Real, TupleOf, setting
from clustertheory.data.digits import IMAGE_SHAPE, NUM_CLASSES, DigitAugmentation, augmentation_summary, digits_dataset
from clustertheory.functions.images import band_checks, class_label, class_regularity, image_capacities, image_function_class
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.training import TrainConfig
from clustertheory.training.presets import DIGITS
from clustertheory.functions.stacking import combine_models
from clustertheory.training.batched import no_evaluation, train_batched

NAME = "real-digits"
SUMMARY = "real digits: capacity (DCT band, linear, MLP width) x augmentation strength; ARI vs labels, empirical delta, heads (twin: real-digits-twin)"
SOURCE = "Parulekar et al. 2023 (InfoNCE provably learns cluster-preserving representations)"
FULL_BAND = max(IMAGE_SHAPE) - 1  # DCT B = 7 on 8 x 8 images: every coefficient, the linear class's span
POSITIVE = Real(0, open_lo=True)
SHARE = Real(0, 1, open_lo=True)


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Data, classes, training, adversary and heads; the claim thresholds are fixed before the run (never fitted to it)."""

    num_images: int = setting(150, Integer(20, 1500), "natural digits (a seeded sample of the 1797)")
    views_per_image: int = setting(4, Integer(1), "augmented views K per natural image")
    strengths: tuple = setting((0.0, 0.5, 1.0), TupleOf(Real(0), min_len=2, increasing=True),
                               "augmentation strengths s (the kernel at s = 1 is the strongest that keeps labels readable)")
    augmentation: DigitAugmentation = DigitAugmentation()
    link_radius: float = setting(1.0, POSITIVE, "pixel L2 distance at which augmentation sets touch (1.0: a digit's median distance to its nearest)")
    dim: int = setting(4, Integer(4, 8), "code dimension d")
    bandwidths: tuple = setting((1, 3), TupleOf(Integer(0, FULL_BAND - 1), increasing=True), "DCT bandwidths B of the band-limited classes")
    widths: tuple = setting((16, 64), TupleOf(Integer(1), increasing=True), "hidden widths of the MLP classes")
    mlp_depth: int = setting(1, Integer(1, 4), "hidden layers of the MLP classes")
    lipschitz: float = setting(1.0, POSITIVE, "Lipschitz bound of the MLP classes")
    seeds: int = setting(10, Integer(2), "trained members per (class, strength) cell")
    train: TrainConfig = DIGITS["default"]
    adversary_restarts: int = setting(1, Integer(1), "split-search restarts per cluster (empirical delta at the strongest strength)")
    adversary_steps: int = setting(100, Integer(1), "steps of the split search")
    head_tasks: int = setting(8, Integer(1), "random cluster-faithful tasks of the heads (plus the codes' parity tasks)")
    max_label_loss: float = setting(0.1, Real(0, 1), "a 1-NN reader may lose at most this share of accuracy on augmented views (the label is kept)")
    realizable_ari: float = setting(0.5, Real(0, 1), "a class realises the labels when its supervised fit reaches this ARI")
    regular_delta: float = setting(0.4, POSITIVE, "the agnostic theorem's delta >= 0.4")
    minimal_ari_gain: float = setting(0.05, SHARE, "smallest ARI change that counts (a tenth of a supervised linear code's ARI, above seed noise)")
    minimal_head_gain: float = setting(0.02, SHARE, "a head that is better by two points of error on average")


SCALES = {
    "default": Config(),
    # for a GPU: 600 digits with 8 views, five strengths, DCT bands 0..5, MLP widths to 256, 20 seeds
    "paper": Config(
        num_images=600, views_per_image=8, strengths=(0.0, 0.25, 0.5, 0.75, 1.0), bandwidths=(0, 1, 2, 3, 5), widths=(16, 64, 256),
        seeds=20, train=DIGITS["paper"],
        adversary_restarts=4, adversary_steps=300, head_tasks=128,
    ),
}


def capacities(config: Config) -> list[tuple[str, str, dict]]:
    """(key, class name, options) in order of capacity: DCT bandwidths, linear, MLP widths."""
    return image_capacities(config.bandwidths, config.widths, config.mlp_depth, config.lipschitz)


def make_data(config: Config, strength: float):
    return digits_dataset(config.num_images, config.views_per_image, strength, config.augmentation, seed=config.seed)


# ----------------------------------------------------------------------------- measurements


def measure_strength(config: Config, strength: float, ctx: RunContext) -> list[dict]:
    """One strength: the data's own measurements, then every class x seed trained in one pass
    (member k of every class starts from seed k), scored; at the strongest strength also the
    downstream heads of the claim class ("linear") and its seed-0 codes for the figure."""
    data = make_data(config, strength)
    rows = [{"kind": "data", **augmentation_summary(data, config.link_radius)}]
    seeds = [ctx.seed_for("member", k) for k in range(config.seeds)]
    classes = capacities(config)
    model = combine_models([image_function_class(name, data, config.dim, seeds=seeds, device=ctx.device, **opts) for _, name, opts in classes])
    codes = train_batched(model, data, config.train, seed=ctx.seed_for("train", strength), evaluate=no_evaluation).codes
    for c, (key, _, _) in enumerate(classes):
        cell = codes[c * config.seeds : (c + 1) * config.seeds, : data.num_views]
        rows.append({"kind": "cell", "capacity": key, "delta_codes": smallest_split_ratio(cell, data)})
        heads = strength == max(config.strengths) and key == "linear"
        for k, member in enumerate(cell):
            row = {"kind": "trained", "capacity": key, "seed_index": k, **code_metrics(member, data)}
            if heads:
                row.update(head_comparison(member.astype(np.float64), data, config.head_tasks, ctx.seed_for("heads", k), ctx.device))
            rows.append(row)
            if heads and k == 0:
                vertex = vertex_index(member[data.base_view].astype(np.float64))
                rows += [{"kind": "gallery", "source": int(s), "label": int(y), "vertex": int(v)} for s, y, v in zip(data.source, data.base_cluster, vertex)]
    return rows


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = ([{"part": "strength", "strength": s} for s in config.strengths] + [{"part": "class", "capacity": key} for key, _, _ in capacities(config)]
             + [{"part": "dct"}])
    strongest = max(config.strengths)
    options = {key: (name, opts) for key, name, opts in capacities(config)}

    def measure(unit: dict):
        if unit["part"] == "strength":
            return measure_strength(config, unit["strength"], ctx)
        if unit["part"] == "class":  # a class's empirical delta and supervised fit at the strongest strength
            key = unit["capacity"]
            found = class_regularity(make_data(config, strongest), *options[key], config.dim, config.adversary_restarts, config.adversary_steps,
                                     ctx.seed_for("adversary", key), ctx.device)
            return {"kind": "class", "capacity": key, **found}
        # package checks of the DCT class as built, on the strongest strength's data
        seeds = [ctx.seed_for("dct", b) for b in config.bandwidths]
        return {"kind": "dct", **band_checks(make_data(config, strongest), config.bandwidths, config.dim, seeds)}

    return ctx.sweep(units, measure, desc="real-digits")


# ----------------------------------------------------------------------------- verdict


def _by_seed(rows: list[dict], value: str, **where) -> np.ndarray:
    """(seeds,) ``value`` of the trained rows matching ``where``, in seed order."""
    return arms.seed_values(rows, value, "seed_index", kind="trained", **where)


def class_deltas(rows: list[dict], config: Config) -> dict[str, float]:
    """Each class's empirical delta at the strongest strength: the smaller of the adversary's
    bound and the bound from the coordinates of its trained codes (both are functions of the
    class, so both bound delta from above)."""
    strongest = max(config.strengths)
    codes = {r["capacity"]: r["delta_codes"] for r in rows if r["kind"] == "cell" and r["strength"] == strongest}
    return {r["capacity"]: min(r["delta_adversary"], codes[r["capacity"]]) for r in rows if r["kind"] == "class"}


def package_checks(rows: list[dict], config: Config) -> list[Check]:
    data = sorted((r for r in rows if r["kind"] == "data"), key=lambda r: r["strength"])
    dct = next(r for r in rows if r["kind"] == "dct")
    heads = [r["relu_train_excess"] for r in rows if r["kind"] == "trained" and "relu_train_excess" in r]
    displacement = [r["median_displacement"] for r in data]
    return [
        Check.at_most("augmentations keep the label: largest 1-NN accuracy loss on augmented views (over strengths)", max(r["label_loss"] for r in data), config.max_label_loss),
        Check.holds("the strength dial moves views further: median view-to-image distance by strength", bool(np.all(np.diff(displacement) > 0)),
                    [round(x, 3) for x in displacement], "strictly increasing"),
        Check.at_most("the DCT class is a function of frequencies <= B only: largest score change when an image without them is added", dct["high_frequency_change"], 1e-5),
        Check.above("the DCT class sees frequencies <= B: smallest score change when an image with them is added", dct["low_frequency_change"], 1e-3),
        Check.at_most("DCT with every frequency spans the linear class: largest gap between their invariance eigenvalues", dct["full_band_gap"], 1e-6),
        Check.at_most("nested DCT bands: largest decrease of an invariance eigenvalue as B grows", dct["nesting_violation"], 1e-9),
        Check.at_most("trained ReLU heads reach the Bayes error of the training views (largest mean excess over seeds)", max(heads), 0.01),
    ]


def claims(rows: list[dict], config: Config) -> list[Claim]:
    weakest, strongest = min(config.strengths), max(config.strengths)
    keys = [key for key, _, _ in capacities(config)]
    classes = {r["capacity"]: r for r in rows if r["kind"] == "class"}
    loss_at_strongest = next(r["label_loss"] for r in rows if r["kind"] == "data" and r["strength"] == strongest)
    keeps_label = Check.at_most(f"augmentations at s = {strongest:g} keep the label: 1-NN accuracy loss", loss_at_strongest, config.max_label_loss)
    realises = Check.at_least("the linear class realises the labels: ARI of its supervised fit", classes["linear"]["supervised_ari"], config.realizable_ari)
    ari = {(k, s): _by_seed(rows, "ari", capacity=k, strength=s) for k in keys for s in config.strengths}
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
        out.append(Claim.untestable("delta-predicts-preservation", source, statement, "ARI", minimal_effect=gain, preconditions=sides))
    out.append(Claim.from_paired(
        "relu-head-beats-linear-head", SOURCE + ", Thm 4.6 (two-layer ReLU head)",
        f"on the linear class's codes at s = {strongest:g}, a two-layer ReLU head (2^d neurons) errs less on cluster-faithful tasks than a linear head",
        _by_seed(rows, "linear_error", capacity="linear", strength=strongest),
        _by_seed(rows, "relu_error", capacity="linear", strength=strongest), "mean test error", minimal_effect=config.minimal_head_gain))
    return out


def verdict(rows: list[dict], config: Config) -> Verdict:
    return Verdict(package_checks(rows, config), claims(rows, config))


# ----------------------------------------------------------------------------- figure


def plot(rows: list[dict], config: Config):
    """Top: phase diagram on real digits (ARI against the labels), ARI by capacity with the
    supervised ceiling (the synthetic twin's phase diagram is real-digits-twin's figure).
    Bottom: digits per vertex for one trained linear code; downstream head errors."""
    import matplotlib.pyplot as plt

    from clustertheory.data.digits import load_digit_images
    from clustertheory.plotting import annotated_heatmap, interval_lines, paired_dots, vertex_gallery

    keys = [key for key, _, _ in capacities(config)]
    labels = {key: class_label(name, opts) for key, name, opts in capacities(config)}
    classes = {r["capacity"]: r for r in rows if r["kind"] == "class"}
    strengths = list(config.strengths)
    fig = plt.figure(figsize=(16, 10))
    grid = fig.add_gridspec(2, 3, height_ratios=[1, 1.15], hspace=0.38, wspace=0.28)

    ax = fig.add_subplot(grid[0, 0])
    mean = np.array([[_by_seed(rows, "ari", capacity=k, strength=s).mean() for k in keys] for s in strengths])
    purity = np.array([[_by_seed(rows, "mean_purity", capacity=k, strength=s).mean() for k in keys] for s in strengths])
    text = np.array([[f"{a:.2f}\npur {p:.2f}" for a, p in zip(ra, rp)] for ra, rp in zip(mean, purity)])
    delta = class_deltas(rows, config)
    x_labels = [f"{labels[k]}\nδ ≤ {delta[k]:.2f}\n(search {classes[k]['delta_adversary']:.2f})" for k in keys]
    image = annotated_heatmap(ax, mean, x_labels, [f"{s:g}" for s in strengths], text=text, vmin=0, vmax=max(0.5, float(mean.max())), fontsize=7)
    ax.tick_params(axis="x", labelsize=6.5)
    ax.set_xlabel(f"capacity; δ: empirical delta at s = {max(strengths):g} (adversary and trained codes;\nsearch: the adversary alone, inf = no split found)", fontsize=8)
    ax.set_ylabel("augmentation strength s")
    ax.set_title(f"real digits: ARI of codes vs labels (mean of {config.seeds} seeds)", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04)

    ax = fig.add_subplot(grid[0, 1:3])
    x = np.arange(len(keys))
    for s, colour in zip(strengths, plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(strengths)))):
        interval_lines(ax, x, [_by_seed(rows, "ari", capacity=k, strength=s) for k in keys], f"InfoNCE, s = {s:g}", colour)
    ax.plot(x, [classes[k]["supervised_ari"] for k in keys], "k--", marker="s", ms=4, label="supervised fit (ceiling)")
    ax.set_xticks(x, [labels[k] for k in keys], fontsize=7)
    ax.set_ylabel("ARI against the labels (+- 95% CI)")
    ax.set_ylim(0, 1)
    ax.set_title("preservation by capacity", fontsize=9)
    ax.legend(fontsize=7)

    gallery = [r for r in rows if r["kind"] == "gallery"]
    images = load_digit_images()[0][[r["source"] for r in gallery]]
    vertex_gallery(fig, grid[1, 0:2], images, [r["vertex"] for r in gallery], [r["label"] for r in gallery], config.dim, NUM_CLASSES, noun="digits")
    fig.text(0.36, 0.475, f"the 16 vertices of one trained linear code (seed 0, s = {max(strengths):g}) and some of the natural digits on each", ha="center", fontsize=9)

    ax = fig.add_subplot(grid[1, 2])
    relu = _by_seed(rows, "relu_error", capacity="linear", strength=max(strengths))
    linear = _by_seed(rows, "linear_error", capacity="linear", strength=max(strengths))
    paired_dots(ax, relu, linear, ("ReLU head", "linear head"), ("two-layer ReLU head", "linear head"))
    ax.set_ylabel("mean test error over cluster-faithful tasks")
    data = {r["strength"]: r for r in rows if r["kind"] == "data"}
    strongest = data[max(strengths)]
    ax.set_title(f"downstream on the linear codes (one line per seed)\nlabel kept by 1-NN: {strongest['augmented_accuracy']:.0%} of views "
                 f"(natural {strongest['natural_accuracy']:.0%}); sets linked across labels: {strongest['mass_linked_across']:.0%}", fontsize=8)
    ax.legend(fontsize=7)
    fig.suptitle(f"InfoNCE on real digits ({config.num_images} images, {config.views_per_image} views each, d = {config.dim})", fontsize=12)
    return fig
