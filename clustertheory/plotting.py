"""Shared figure conventions and the training animation.

Simulations build their own figures from result rows; what they share lives here: cluster
colours; grids of cells (the annotated heatmap and its signed variant, the grid of cell means
built from rows with a region outlined, count tables); lines (one per named curve, the mean over
rows with a band, mean intervals along an axis, the largest of several series per item);
markers (hit / miss maps, strips and strip columns, paired values per seed, grouped bars); a
gallery of images per hypercube vertex; and the animation of relaxed codes moving to
vertices. Importing this module leaves matplotlib's backend alone (a notebook keeps its inline
figures); the command line and reproduce's workers, which only write files, choose the
headless "Agg" backend themselves (:func:`use_file_backend`).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter

from .analysis.arms import grid, group


def use_file_backend() -> None:
    """Draw without a display ("Agg"): for processes that only write figures to files."""
    matplotlib.use("Agg")


def cluster_colours(num_clusters: int) -> np.ndarray:
    """(m, 4) RGBA colours, one per cluster, distinguishable for m <= 20."""
    cmap = plt.get_cmap("tab10" if num_clusters <= 10 else "tab20")
    return np.array([cmap(c % cmap.N) for c in range(num_clusters)])


def annotated_heatmap(
    ax,
    values,
    x_labels,
    y_labels,
    text=None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    norm=None,
    fontsize: float = 7.0,
):
    """Draw a (rows, cols) grid of values as coloured cells, rows bottom to top, with labels.

    values: (R, C) array (nan cells stay blank); x_labels: C column labels; y_labels: R row
    labels; text: (R, C) strings written in the cells (None: no text, "" skips a cell).
    Cell text is black on light cells and white on dark ones. Returns the image (for a
    colorbar).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape != (len(y_labels), len(x_labels)):
        raise ValueError(f"values must be (len(y_labels), len(x_labels)) = ({len(y_labels)}, {len(x_labels)}), got {values.shape}")
    image = ax.imshow(values, origin="lower", cmap=cmap, vmin=None if norm else vmin, vmax=None if norm else vmax, norm=norm, aspect="auto")
    if text is not None:
        text = np.asarray(text, dtype=object)
        if text.shape != values.shape:
            raise ValueError(f"text must have the shape of values {values.shape}, got {text.shape}")
        colours = image.cmap(image.norm(np.nan_to_num(values)))
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                if text[i, j] and not np.isnan(values[i, j]):
                    r, g, b, _ = colours[i, j]
                    light = 0.299 * r + 0.587 * g + 0.114 * b > 0.5
                    ax.text(j, i, str(text[i, j]), ha="center", va="center", fontsize=fontsize, color="k" if light else "w")
    ax.set_xticks(range(len(x_labels)), [str(x) for x in x_labels])
    ax.set_yticks(range(len(y_labels)), [str(y) for y in y_labels])
    ax.set_xlim(-0.5, len(x_labels) - 0.5)
    ax.set_ylim(-0.5, len(y_labels) - 0.5)
    return image


def signed_heatmap(ax, values, x_labels, y_labels, scale: float, cmap: str = "RdBu_r", fontsize: float = 9.0):
    """:func:`annotated_heatmap` of the sign of a (rows, cols) grid: colour arcsinh(values / scale)
    (a sign-preserving compression: changes much smaller and much larger than ``scale`` both
    visible) on a diverging map centred at 0, each cell marked "-" (value < 0) or "+".
    Returns the image (for a colorbar)."""
    from matplotlib.colors import TwoSlopeNorm

    values = np.asarray(values, dtype=np.float64)
    shown = np.arcsinh(values / scale)
    bound = float(np.abs(shown).max()) or 1.0
    text = np.where(values < 0, "-", "+")
    return annotated_heatmap(ax, shown, x_labels, y_labels, text=text, cmap=cmap, norm=TwoSlopeNorm(0.0, -bound, bound), fontsize=fontsize)


def named_curves(ax, curves: dict, bold=(), suffix: str = "", ms: float = 2.5) -> None:
    """One line with dots per named curve, the i-th in colour "Ci": curves maps name -> (x, y);
    names in ``bold`` are drawn thicker (line width 2.4 instead of 1.0) and labelled name + ``suffix``."""
    for i, (name, (x, y)) in enumerate(curves.items()):
        strong = name in bold
        ax.plot(x, y, marker="o", ms=ms, lw=2.4 if strong else 1.0, label=name + (suffix if strong else ""), color=f"C{i}")


def hit_map(ax, x, y, hit, slot, slots: int, spread: float = 1.05, hit_label: str = "", miss_label: str = "") -> None:
    """Markers at (x_i spread^(slot_i - (slots - 1) / 2), y_i): a red cross where hit_i, a faded grey dot
    elsewhere, so the points of ``slots`` groups at one x stand side by side on a log x axis (slot 0
    leftmost); one legend entry each for hits and misses."""
    for xi, yi, h, s in zip(x, y, hit, slot):
        style = {"marker": "x", "color": "tab:red", "ms": 6} if h else {"marker": "o", "color": "grey", "ms": 3, "alpha": 0.5}
        ax.plot(xi * spread ** (s - (slots - 1) / 2), yi, ls="none", **style)
    ax.plot([], [], "x", color="tab:red", label=hit_label)
    ax.plot([], [], "o", color="grey", alpha=0.5, label=miss_label)


def cell_mean_heatmap(ax, rows, x: str, y: str, key: str, text=None, inside=None, boundary: dict | None = None, **options):
    """Heat map of a grid of cells whose rows repeat a measurement (seeds): colour = mean of
    ``key`` over the rows of each cell, a cell being the rows sharing (row[y], row[x]).

    Columns are the sorted values of ``x``, rows of the grid the sorted values of ``y`` (labels
    formatted with :g). ``text(first, mean)`` writes a cell from its first row and mean;
    ``inside(first)`` marks a region whose outline is drawn with ``region_boundary(**boundary)``.
    ``options`` go to :func:`annotated_heatmap`. Returns the image (for a colorbar).
    """
    xs, ys = sorted({r[x] for r in rows}), sorted({r[y] for r in rows})
    mean, line = grid(rows, y, x, key, ys, xs, reduce="mean"), np.zeros((len(ys), len(xs)), dtype=bool)
    written = np.full((len(ys), len(xs)), "", dtype=object)
    for first in {(r[y], r[x]): r for r in reversed(rows)}.values():
        i, j = ys.index(first[y]), xs.index(first[x])
        written[i, j] = text(first, mean[i, j]) if text is not None else ""
        line[i, j] = bool(inside(first)) if inside is not None else False
    image = annotated_heatmap(ax, mean, [f"{v:g}" for v in xs], [f"{v:g}" for v in ys], text=written if text is not None else None, **options)
    if inside is not None:
        region_boundary(ax, line, **(boundary or {}))
    return image


def vertex_law_heatmap(ax, rows, d: int, representation: str, title: str):
    """P[vertex | cluster] of one code as a (2^d clusters x 2^d vertices) heatmap, from its
    "mass" rows (``analysis.downstream.vertex_law_rows``, with ``d`` and ``representation``
    fields), cells written out up to d = 2. Returns the image (for a colorbar)."""
    cells = [r for r in rows if r["kind"] == "mass" and r["d"] == d and r["representation"] == representation]
    m = 2**d
    mass = grid(cells, "cluster", "vertex", "mass", range(m), range(m), fill=0.0)
    text = np.vectorize(lambda x: f"{x:.2f}" if x > 0 else "")(mass) if d <= 2 else None
    image = annotated_heatmap(ax, mass, range(m), range(m), text=text, vmin=0, vmax=1)
    ax.set(xlabel="vertex of g(x)", ylabel="cluster")
    ax.set_title(title, fontsize=9)
    return image


def region_boundary(ax, inside, **style) -> None:
    """Draw the cell edges between the cells of a heatmap (cell (i, j) centred at x = j, y = i)
    where the (R, C) boolean ``inside`` holds and the cells where it does not; ``style`` goes to
    ``ax.plot`` (one line per edge)."""
    inside = np.asarray(inside, dtype=bool)
    rows, cols = inside.shape
    for i in range(rows):
        for j in range(cols):
            if j + 1 < cols and inside[i, j] != inside[i, j + 1]:
                ax.plot([j + 0.5, j + 0.5], [i - 0.5, i + 0.5], **style)
            if i + 1 < rows and inside[i, j] != inside[i + 1, j]:
                ax.plot([j - 0.5, j + 0.5], [i + 0.5, i + 0.5], **style)


def sup_per_item(ax, rows, item: str, series, order: tuple[str, ...] = (), flag: str | None = None, flag_label: str = "",
                 flag_y: float = -0.06) -> list:
    """Per item (the rows sharing a value of the field ``item``), the largest value of each
    series over its rows: one point per item and series, items left to right.

    series: (key, label, colour, marker) per series (marker "_" drawn larger); each label gets
    ": sup <largest value>". Items are ordered by their sup of the ``order`` fields (which must
    be among the series keys), then by item. ``flag``: a boolean field; items where some row
    has it get a star at height ``flag_y``, labelled ``flag_label``. Returns the item order.
    """
    by_item: dict = {}
    for r in rows:
        entry = by_item.setdefault(r[item], {"flag": False, **{key: 0.0 for key, *_ in series}})
        for key, *_ in series:
            entry[key] = max(entry[key], r[key])
        entry["flag"] |= bool(flag is not None and r[flag])
    ordered = sorted(by_item, key=lambda t: (*(by_item[t][key] for key in order), t))
    x = np.arange(len(ordered))
    for key, label, colour, marker in series:
        y = [by_item[t][key] for t in ordered]
        ax.plot(x, y, marker, color=colour, ms=4 if marker != "_" else 7, alpha=0.8, ls="none", label=f"{label}: sup {max(y, default=0):.2f}")
    if flag is not None:
        flagged = [i for i, t in enumerate(ordered) if by_item[t]["flag"]]
        ax.plot(flagged, [flag_y] * len(flagged), "*", color="darkorange", ms=8, ls="none", label=flag_label)
    return ordered


def strip_columns(ax, columns, styles, x_labels, width: float = 0.8, spread: float = 0.3) -> None:
    """Strip plot: one column of points per (x position, series), the points of a column spread
    evenly sideways, the series of one position side by side within ``width``.

    columns: {series: [values at position 0, values at position 1, ...]} (one list per x label);
    styles: {series: (colour, marker)}. Each series is labelled once, by its name.
    """
    step = width / len(columns)
    for j, (name, per_x) in enumerate(columns.items()):
        colour, marker = styles[name]
        for i, values in enumerate(per_x):
            x = i + (j - (len(columns) - 1) / 2) * step + np.linspace(-spread, spread, len(values)) * step
            ax.plot(x, values, marker, color=colour, ms=5, alpha=0.8, ls="none", label=name if i == 0 else None)
    ax.set_xticks(range(len(x_labels)), list(x_labels))


def code_strip(ax, rows, key: str, dims, representations, styles) -> None:
    """:func:`strip_columns` of ``row[key]`` over the code rows (``kind == "code"``): one column
    per (d, representation), the rows with that ``d`` and ``representation`` in row order, x
    labels "d=.., m=2^d" (the Theorem 4.7 simulations)."""
    columns = {name: [[r[key] for r in rows if r["kind"] == "code" and r["representation"] == name and r["d"] == d] for d in dims]
               for name in representations}
    strip_columns(ax, columns, styles, [f"d={d}, m={2**d}" for d in dims])


def animate_relaxed_codes(
    frames: list[np.ndarray],
    steps: list[int],
    content: np.ndarray,
    path: str | Path,
    title: str = "",
    fps: int = 6,
) -> Path:
    """Write a GIF of 2-D relaxed codes u = tanh(beta_t score) moving to the vertices of [-1, 1]^2.

    frames: list of (V, 2) arrays (one per logged step), steps: the matching step numbers,
    content: (V,) cluster of each view (its colour). Returns the path written.
    """
    frames = [np.asarray(f) for f in frames]
    if not frames or any(f.ndim != 2 or f.shape[1] != 2 for f in frames):
        raise ValueError("frames must be a non-empty list of (V, 2) arrays (a 2-D code)")
    colours = cluster_colours(int(content.max()) + 1)[content]
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    fig.subplots_adjust(left=0.17, bottom=0.13, right=0.97, top=0.9)
    ax.set_xlim(-1.15, 1.15)
    ax.set_ylim(-1.15, 1.15)
    ax.set_aspect("equal")
    ax.plot([-1, 1, 1, -1, -1], [-1, -1, 1, 1, -1], color="0.6", lw=1)
    ax.scatter([-1, -1, 1, 1], [-1, 1, -1, 1], s=160, facecolors="none", edgecolors="0.3", lw=1.2)
    ax.set_xlabel("code coordinate 1")
    ax.set_ylabel("code coordinate 2")
    jitter = np.random.default_rng(0).normal(0, 0.015, size=frames[0].shape)  # separate overlapping dots
    dots = ax.scatter(*(frames[0] + jitter).T, c=colours, s=14, alpha=0.8)
    label = ax.set_title("")

    def draw(k):
        dots.set_offsets(frames[k] + jitter)
        label.set_text(f"{title}  step {steps[k]}".strip())
        return dots, label

    animation = FuncAnimation(fig, draw, frames=len(frames), blit=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    animation.save(path, writer=PillowWriter(fps=fps), dpi=80)
    plt.close(fig)
    return path


def plot_mean(ax, rows: list[dict], x: str, key: str, fmt: str = "-", shift: float = 0.0, band: bool = False, **kwargs):
    """Draw the mean of ``rows[key]`` over the rows sharing each value of the field ``x`` (e.g. over
    seeds), against ``x + shift`` with the x values in increasing order; ``band``: also shade the
    min..max of those rows (alpha 0.15, in ``kwargs["color"]``). ``fmt`` and ``kwargs`` go to
    ``ax.plot``. Returns (xs, means) as arrays.
    """
    by_x = sorted(group(rows, x).items())  # ((x value,), rows), x increasing
    xs = np.array([value for (value,), _ in by_x])
    values = [[r[key] for r in cell] for _, cell in by_x]
    means = np.array([np.mean(v) for v in values])
    if band:
        ax.fill_between(xs + shift, [min(v) for v in values], [max(v) for v in values], color=kwargs.get("color"), alpha=0.15)
    ax.plot(xs + shift, means, fmt, **kwargs)
    return xs, means


def strip_plot(ax, groups, labels, colors=None, fontsize: float = 6.0) -> None:
    """One column of points per group at x = 0, 1, ... (spread evenly over +-0.15) with a black bar
    at the group's mean (width 0.5); ``labels`` name the columns; ``colors`` one per group (None:
    matplotlib's cycle)."""
    if len(groups) != len(labels) or (colors is not None and len(colors) != len(groups)):
        raise ValueError(f"groups, labels and colors must have one entry per group, got {len(groups)}, {len(labels)}, {colors and len(colors)}")
    for i, vals in enumerate(groups):
        ax.plot(np.full(len(vals), i) + np.linspace(-0.15, 0.15, len(vals)), vals, "o", ms=3, color=None if colors is None else colors[i])
        ax.plot([i - 0.25, i + 0.25], [np.mean(vals)] * 2, "k-")
    ax.set_xticks(range(len(labels)), labels, fontsize=fontsize)


def interval_lines(ax, x, samples, label: str, colour, **style):
    """Means with 95% t intervals (:func:`clustertheory.statistics.mean_interval`, as the claims
    use) of one sample per x position, drawn as one line with error bars.

    x: (C,) positions; samples: C arrays of values (e.g. one value per seed). ``style`` goes to
    ``ax.errorbar`` (default: round markers of size 4, caps of 3). Returns the container.
    """
    from clustertheory.statistics import mean_interval

    means = [mean_interval(s) for s in samples]
    half = np.array([[m.estimate - m.low for m in means], [m.high - m.estimate for m in means]])
    style = {"marker": "o", "ms": 4, "capsize": 3, **style}
    return ax.errorbar(x, [m.estimate for m in means], yerr=half, color=colour, label=label, **style)


def paired_dots(ax, left, right, names: tuple[str, str], labels: tuple[str, str], colours=("tab:green", "tab:red")) -> None:
    """Two arms measured on the same seeds: a grey line per seed from left[k] (at x = 0) to
    right[k] (at x = 1), dots coloured per arm. left, right: (S,) values; names: the x tick
    labels; labels: the legend entries of the dots."""
    left, right = np.asarray(left, dtype=np.float64), np.asarray(right, dtype=np.float64)
    if left.shape != right.shape or left.ndim != 1:
        raise ValueError(f"left and right must be (S,) arrays of one shape, got {left.shape} and {right.shape}")
    for a, b in zip(left, right):
        ax.plot([0, 1], [a, b], color="0.6", lw=0.8)
    ax.scatter(np.zeros_like(left), left, color=colours[0], zorder=3, label=labels[0])
    ax.scatter(np.ones_like(right), right, color=colours[1], zorder=3, label=labels[1])
    ax.set_xticks([0, 1], list(names))
    ax.set_xlim(-0.5, 1.5)


def vertex_gallery(fig, spec, images, vertex, labels, dim: int, num_labels: int, per_row: int = 4, noun: str = "images") -> list:
    """One small panel per vertex of H_d (a 2^(d/2) x 2^(d - d/2) grid inside ``spec``), each
    showing up to 2 x ``per_row`` of the images the code puts there, dark on white, titled with
    the vertex's count of ``noun`` and its majority label's share.

    images: (N, h, w) in [0, 1]; vertex: (N,) vertex index of each image; labels: (N,) its
    label in 0..num_labels - 1. Returns the 2^d axes, vertex order.
    """
    images = np.asarray(images)
    vertex, labels = np.asarray(vertex), np.asarray(labels)
    if images.ndim != 3 or vertex.shape != (len(images),) or labels.shape != (len(images),):
        raise ValueError(f"images must be (N, h, w) with vertex and labels (N,), got {images.shape}, {vertex.shape}, {labels.shape}")
    h, w = images.shape[1:]
    side = 2 ** (dim // 2)
    cells = spec.subgridspec(2**dim // side, side, wspace=0.05, hspace=0.3)
    axes = []
    for v in range(2**dim):
        ax = fig.add_subplot(cells[v // side, v % side])
        members = np.flatnonzero(vertex == v)
        mosaic = np.ones((2 * h + 1, (w + 1) * per_row - 1))
        for slot, n in enumerate(members[: 2 * per_row]):
            i, j = divmod(slot, per_row)
            mosaic[i * (h + 1) : i * (h + 1) + h, j * (w + 1) : j * (w + 1) + w] = 1 - images[n]
        ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        counts = np.bincount(labels[members], minlength=num_labels)
        title = f"vertex {v}: {len(members)} {noun}, {counts.max() / len(members):.0%} '{counts.argmax()}'" if len(members) else f"vertex {v}: empty"
        ax.set_title(title, fontsize=7, pad=2)
        axes.append(ax)
    return axes


def paired_seeds(ax, per_seed: list[dict], labels: list[str], colours: list, title: str = "", fontsize: float = 8.0):
    """Arms side by side with their seeds joined: per_seed[a] = {seed: value} of arm a (at x = a).

    A thin grey line per seed through its value in every arm (nan where an arm lacks the seed;
    the seeds of arm 0 are drawn) and a wide dash at each arm's mean, in ``colours[a]``;
    ``labels`` under the arms; ``title`` gets " (lines: seeds; dashes: means)". Returns the dashes.
    """
    if not len(per_seed) == len(labels) == len(colours):
        raise ValueError(f"per_seed, labels and colours must have one item per arm, got {len(per_seed)}, {len(labels)}, {len(colours)}")
    x = range(len(per_seed))
    for seed in per_seed[0]:
        ax.plot(x, [p.get(seed, np.nan) for p in per_seed], color="grey", lw=0.6, alpha=0.5)
    dashes = ax.scatter(x, [np.mean(list(p.values())) for p in per_seed], marker="_", s=700, zorder=3, color=colours)
    ax.set_xticks(x, labels, fontsize=fontsize)
    ax.set_title(title + " (lines: seeds; dashes: means)", fontsize=9)
    return dashes


def grouped_bars(ax, groups: list[str], series: list[tuple[str, list[float], object]], span: float = 0.85, fontsize: float = 8.0) -> None:
    """Bars of several series side by side in each group: series = [(label, values, colour)], values
    one per group (nan: no bar). Series j of n sits at x = g + (j - (n - 1) / 2) span / n in group g,
    with width span / n; ``groups`` label the ticks."""
    width = span / len(series)
    for j, (label, values, colour) in enumerate(series):
        if len(values) != len(groups):
            raise ValueError(f"series {label!r} must have one value per group ({len(groups)}), got {len(values)}")
        ax.bar(np.arange(len(groups)) + (j - (len(series) - 1) / 2) * width, values, width, color=colour, label=label)
    ax.set_xticks(np.arange(len(groups)), groups, fontsize=fontsize)


def count_table(ax, corner: str, row_labels: list[str], column_labels: list[str], counts, fontsize: float = 8.0, scale: float = 1.3):
    """A table instead of a plot on ``ax`` (axes hidden): one row per row label, its counts
    (len(row_labels), len(column_labels)) under the column labels, ``corner`` over the row labels.
    Returns the matplotlib table."""
    counts = [[str(c) for c in row] for row in counts]
    if len(counts) != len(row_labels) or any(len(row) != len(column_labels) for row in counts):
        raise ValueError(f"counts must be ({len(row_labels)}, {len(column_labels)})")
    ax.axis("off")
    shown = ax.table(cellText=[[label] + row for label, row in zip(row_labels, counts)], colLabels=[corner, *column_labels], loc="center")
    shown.auto_set_font_size(False)
    shown.set_fontsize(fontsize)
    shown.scale(1, scale)
    return shown
