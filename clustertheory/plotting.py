"""Shared figure conventions and the training animation.

Simulations build their own figures from result rows; what they share lives here: a
headless backend, cluster colours, and the animation of relaxed codes moving to vertices.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are written to files; no display is assumed
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter


def cluster_colours(num_clusters: int) -> np.ndarray:
    """(m, 4) RGBA colours, one per cluster, distinguishable for m <= 20."""
    cmap = plt.get_cmap("tab10" if num_clusters <= 10 else "tab20")
    return np.array([cmap(c % cmap.N) for c in range(num_clusters)])


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
