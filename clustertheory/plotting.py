"""Shared figure conventions and the training animation.

Simulations build their own figures from result rows; what they share lives here: cluster
colours, the annotated heatmap of a grid of cells, and the animation of relaxed codes moving
to vertices. Importing this module leaves matplotlib's backend alone (a notebook keeps its
inline figures); the command line and reproduce's workers, which only write files, choose
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
