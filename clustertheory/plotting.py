"""Shared figure conventions and the training animation.

Simulations build their own figures from result rows; what they share lives here: cluster
colours, the annotated heatmap of a grid of cells (:func:`grid_of` builds the grid from
rows, :func:`region_boundary` outlines a region of it, :func:`cell_mean_heatmap` draws the mean
over seeds of each cell), generic panels (:func:`sup_per_item`:
the sup of several series per item; :func:`strip_columns`: a strip plot), and the animation
of relaxed codes moving to vertices.
Importing this module leaves matplotlib's backend alone (a notebook keeps its inline
figures); the command line and reproduce's workers, which only write files, choose
the headless "Agg" backend themselves (:func:`use_file_backend`).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter


def use_file_backend() -> None:
    """Draw without a display ("Agg"): for processes that only write figures to files."""
    matplotlib.use("Agg")


def cluster_colours(num_clusters: int) -> np.ndarray:
    """(m, 4) RGBA colours, one per cluster, distinguishable for m <= 20."""
    cmap = plt.get_cmap("tab10" if num_clusters <= 10 else "tab20")
    return np.array([cmap(c % cmap.N) for c in range(num_clusters)])


def grid_of(rows, y: str, x: str, value, ys, xs, fill: float = np.nan) -> np.ndarray:
    """(len(ys), len(xs)) array of one value per cell from rows that name their cell.

    Row r fills cell (ys.index(r[y]), xs.index(r[x])) with r[value] (``value`` a field name) or
    value(r) (a callable); a later row of the same cell overwrites an earlier one; cells no row
    names hold ``fill``. Rows whose cell is not in the grid raise ValueError.
    """
    ys, xs = list(ys), list(xs)
    grid = np.full((len(ys), len(xs)), fill, dtype=np.float64)
    for r in rows:
        grid[ys.index(r[y]), xs.index(r[x])] = value(r) if callable(value) else r[value]
    return grid


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


def cell_mean_heatmap(ax, rows, x: str, y: str, key: str, text=None, inside=None, boundary: dict | None = None, **options):
    """Heat map of a grid of cells whose rows repeat a measurement (seeds): colour = mean of
    ``key`` over the rows of each cell, a cell being the rows sharing (row[y], row[x]).

    Columns are the sorted values of ``x``, rows of the grid the sorted values of ``y`` (labels
    formatted with :g). ``text(first, mean)`` writes a cell from its first row and mean;
    ``inside(first)`` marks a region whose outline is drawn with ``region_boundary(**boundary)``.
    ``options`` go to :func:`annotated_heatmap`. Returns the image (for a colorbar).
    """
    xs, ys = sorted({r[x] for r in rows}), sorted({r[y] for r in rows})
    mean, line = np.full((len(ys), len(xs)), np.nan), np.zeros((len(ys), len(xs)), dtype=bool)
    written = np.full((len(ys), len(xs)), "", dtype=object)
    for first in {(r[y], r[x]): r for r in reversed(rows)}.values():
        i, j = ys.index(first[y]), xs.index(first[x])
        mean[i, j] = np.mean([r[key] for r in rows if (r[x], r[y]) == (first[x], first[y])])
        written[i, j] = text(first, mean[i, j]) if text is not None else ""
        line[i, j] = bool(inside(first)) if inside is not None else False
    image = annotated_heatmap(ax, mean, [f"{v:g}" for v in xs], [f"{v:g}" for v in ys], text=written if text is not None else None, **options)
    if inside is not None:
        region_boundary(ax, line, **(boundary or {}))
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
