"""Class collapse in supervised spectral CL (Xue et al. 2023): the subclass is learned, then unlearned.

The linear model f(x) = W x + b is trained by full-batch gradient descent from a small
initialisation on L_SCL over n originals with m augmentations each (data model of
clustertheory.data.collapse; paper setting p = 3, n = 1000, m = 5, dim = 2000, K = 4,
phi = 1, mu = 1, sigma = 2, init 0.001, step 0.05). Theorem: the minimum-norm minimiser has
||W v_2|| = 0 (the subclass is invisible); we compute it exactly. Observation of the
paper: gradient descent first grows W along the top eigenvector of the positive-pair moment
M_SCL, which mixes v_2 with the bias when 1 + mu^2 > phi_1^2, so ||W_t v_2|| rises and a
linear probe reads the subclass early; later ||W_t v_2|| falls and the subclass probe drops
to chance-like levels while the class stays perfectly readable. Measured for p = 3 and
p = 500 over training time, with an embedding snapshot panel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from clustertheory.analysis.min_norm import range_basis, spectral_gradient_descent, spectral_min_norm
from clustertheory.config import check_in, check_nonneg, check_positive, check_positive_int
from clustertheory.data.collapse import NOISE_KINDS, CollapseConfig, collapse_dataset
from clustertheory.losses.spectral import scl_moments, with_bias
from clustertheory.simulation import Check, RunContext, SimulationConfig, Verdict

NAME = "class-collapse"
SUMMARY = "supervised spectral CL: GD learns the subclass feature early and collapses it late; exact min-norm has ||W v2|| = 0"

PROBE_CS = (0.01, 1.0, 100.0, 10000.0)


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Paper setting by default; ``snapshot_steps`` are drawn for the smallest p."""

    dim: int = 2000
    num_originals: int = 1000
    num_augmentations: int = 5
    num_features: int = 4
    class_strength: float = 1.0
    subclass_strength: float = 1.0
    irrelevant_strength: float = 1.0
    subclass_mean: float = 1.0
    noise: float = 2.0
    noise_kind: str = "gaussian"
    embedding_sizes: tuple = (3, 500)
    steps: int = 200
    lr: float = 0.05
    init_scale: float = 0.001
    record_steps: tuple = (0, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 100, 150, 200)
    snapshot_steps: tuple = (15, 30, 50, 200)
    snapshot_points: int = 60
    probe_train: int = 500
    probe_val: int = 300
    probe_test: int = 1000
    seeds: int = 2

    def validate(self) -> None:
        for name in ("dim", "num_originals", "num_augmentations", "num_features", "steps", "snapshot_points", "probe_train", "probe_val", "probe_test", "seeds"):
            check_positive_int(name, getattr(self, name))
        for name in ("class_strength", "subclass_strength", "irrelevant_strength", "noise", "init_scale"):
            check_nonneg(name, getattr(self, name))
        check_positive("lr", self.lr)
        check_in("noise_kind", self.noise_kind, NOISE_KINDS)
        if not self.embedding_sizes:
            raise ValueError("embedding_sizes must hold at least one p")
        for p in self.embedding_sizes:
            check_positive_int("embedding_sizes", p)
        for name in ("record_steps", "snapshot_steps"):
            steps = getattr(self, name)
            if not steps or any(not 0 <= int(s) <= self.steps for s in steps):
                raise ValueError(f"{name} must be non-empty with every entry in [0, steps = {self.steps}], got {steps}")

    def data_config(self, num_originals: int | None = None) -> CollapseConfig:
        return CollapseConfig(
            dim=self.dim,
            num_features=self.num_features,
            num_originals=num_originals or self.num_originals,
            num_augmentations=self.num_augmentations,
            class_strength=self.class_strength,
            subclass_strength=self.subclass_strength,
            irrelevant_strength=self.irrelevant_strength,
            subclass_mean=self.subclass_mean,
            noise=self.noise,
            noise_kind=self.noise_kind,
        )


SCALES = {
    "default": Config(),
    "paper": Config(
        seeds=5,
        steps=2000,
        record_steps=(0, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 100, 150, 200, 300, 500, 1000, 2000),
        snapshot_steps=(15, 30, 50, 2000),
        probe_train=1000,
        probe_val=500,
        probe_test=2000,
    ),
}


def probe_accuracy(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], cs=PROBE_CS) -> float:
    """Linear probe: standardise, fit logistic regression for each C on ``train``, keep the C
    with the best ``val`` accuracy, report its ``test`` accuracy (nothing is tuned on test).

    Each argument is ``(features (N, p), labels (N,))``.
    """
    best_val, best_model = -1.0, None
    # One BLAS thread: these fits are tiny, and on a busy machine threads make them 20x slower.
    with threadpool_limits(1):
        for c in cs:
            model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
            model.fit(*train)
            score = model.score(*val)
            if score > best_val:
                best_val, best_model = score, model
        return float(best_model.score(*test))


def _probe_sets(config: Config, seed: int):
    """Fresh originals (test-time examples) split into probe train / val / test."""
    total = config.probe_train + config.probe_val + config.probe_test
    data = collapse_dataset(config.data_config(total), seed)
    x = with_bias(data.originals)
    cuts = np.cumsum([config.probe_train, config.probe_val])
    parts = np.split(np.arange(total), cuts)
    return x, data, parts


def _run_seed(config: Config, seed: int, device: torch.device) -> list[dict]:
    train = collapse_dataset(config.data_config(), seed)
    S, M = scl_moments(train.views, train.y)
    basis = range_basis(S)
    x, probe, parts = _probe_sets(config, seed + 10_000)
    groups = probe.group
    snap_rng = np.random.default_rng(seed)
    snap_index = np.concatenate([snap_rng.choice(np.flatnonzero(groups == g), config.snapshot_points // 4, replace=False) for g in range(4)])
    rows: list[dict] = []
    for p in config.embedding_sizes:
        best = spectral_min_norm(S, M, p, basis=basis)
        rows.append({"kind": "min_norm", "p": p, "norm_v1": best.norm_along(_unit(0, S)), "norm_v2": best.norm_along(_unit(1, S)), "loss": best.loss})
        record = sorted(set(config.record_steps) | set(config.snapshot_steps) | {config.steps})
        # Large p: float32 halves the cost of the O(p^2 r) step; its rounding (1e-7) is far below
        # the init scale, and the exact minimiser it is compared with is computed in float64.
        runs = spectral_gradient_descent(
            S, M, p, steps=config.steps, lr=config.lr, init_scale=config.init_scale, seed=seed,
            record_at=record, basis=basis, device=device, dtype=torch.float32 if p > 50 else torch.float64,
        )
        for step, W in runs:
            z = x @ W.T
            if step in config.record_steps:
                labels = {"probe_subclass": probe.y_sub, "probe_class": probe.y}
                accs = {k: probe_accuracy(*[(z[idx], lab[idx]) for idx in parts]) for k, lab in labels.items()}
                rows.append({"kind": "trace", "p": p, "step": step, "norm_v1": float(np.linalg.norm(W[:, 0])), "norm_v2": float(np.linalg.norm(W[:, 1])), **accs})
            if step in config.snapshot_steps and p == min(config.embedding_sizes):
                rows.extend(_snapshot_rows(z[snap_index], groups[snap_index], p, step))
        rows.append({"kind": "gd_vs_min_norm", "p": p, **_compare(W, best.weights, config.num_features)})
    return rows


def _unit(i: int, S: np.ndarray) -> np.ndarray:
    e = np.zeros(S.shape[0])
    e[i] = 1.0
    return e


def _snapshot_rows(z: np.ndarray, groups: np.ndarray, p: int, step: int) -> list[dict]:
    """2-D view of embeddings: their top-2 principal axes (centred, sign-fixed by the first point)."""
    centred = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:2].T
    coords *= np.sign(coords[0] + 1e-300)
    return [{"kind": "snapshot", "p": p, "step": step, "group": int(g), "x": float(a), "y": float(b)} for g, (a, b) in zip(groups, coords)]


def _compare(W: np.ndarray, W_star: np.ndarray, num_features: int) -> dict:
    """Relative Gram distance ||A_GD - A*||_F / ||A*||_F on the feature + bias block and on the rest."""
    A, A_star = W.T @ W, W_star.T @ W_star
    block = list(range(num_features)) + [A.shape[0] - 1]
    rest = np.setdiff1d(np.arange(A.shape[0]), block)
    fb = np.ix_(block, block)
    return {
        "gram_gap_features": float(np.linalg.norm(A[fb] - A_star[fb]) / np.linalg.norm(A_star[fb])),
        "weight_rest_gd": float(np.linalg.norm(W[:, rest])),
        "weight_rest_min_norm": float(np.linalg.norm(W_star[:, rest])),
    }


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [{"seed": s} for s in range(config.seeds)]
    return ctx.sweep(units, lambda u: _run_seed(config, ctx.seed_for("class-collapse", u["seed"]), ctx.device), desc=NAME)


def _select(rows, **where) -> list[dict]:
    return [r for r in rows if all(r.get(k) == v for k, v in where.items())]


def _trace(rows, p, seed, key) -> tuple[np.ndarray, np.ndarray]:
    tr = sorted(_select(rows, kind="trace", p=p, seed=seed), key=lambda r: r["step"])
    return np.array([r["step"] for r in tr]), np.array([r[key] for r in tr])


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Per seed: subclass probe high early and low at the end (smallest p); ||W v2|| rises to a
    sizeable fraction of ||W v1|| and falls by 10x for every p while the class stays readable;
    exact min-norm ||W* v2|| ~ 0 and GD agrees with it on the feature block."""
    p_small = min(config.embedding_sizes)
    seeds = sorted({r["seed"] for r in rows if r["kind"] == "trace"})
    early, late, fall, size, cls, gd_gap = [], [], [], [], [], []
    for seed in seeds:
        steps, sub = _trace(rows, p_small, seed, "probe_subclass")
        peak_at = int(np.argmax(sub))
        early.append(float(sub.max()))
        late.append(float(sub[-1]) if peak_at < len(sub) - 1 else 1.0)
        for p in config.embedding_sizes:
            _, v1 = _trace(rows, p, seed, "norm_v1")
            _, v2 = _trace(rows, p, seed, "norm_v2")
            size.append(float(v2.max() / v1.max()))
            fall.append(float(v2.max() / max(v2[-1], 1e-300)) if int(np.argmax(v2)) < len(v2) - 1 else 1.0)
            cls.append(_trace(rows, p, seed, "probe_class")[1][-1])
            gd_gap.extend(r["gram_gap_features"] for r in _select(rows, kind="gd_vs_min_norm", p=p, seed=seed))
    ratio = [r["norm_v2"] / r["norm_v1"] for r in rows if r["kind"] == "min_norm"]
    return Verdict([
        Check(f"p={p_small}: peak subclass probe accuracy (min over seeds)", min(early), ">= 0.9 (learned early)", min(early) >= 0.9),
        Check(f"p={p_small}: final subclass probe accuracy (max over seeds)", max(late), "<= 0.75 and after the peak (collapsed late)", max(late) <= 0.75),
        Check("every p: peak ||W_t v2|| / peak ||W_t v1|| (min over seeds)", min(size), ">= 0.1 (the subclass feature is really learned)", min(size) >= 0.1),
        Check("every p: peak ||W_t v2|| / final ||W_t v2|| (min over seeds)", min(fall), ">= 10 (rise then fall)", min(fall) >= 10),
        Check("every p: final class probe accuracy (min)", float(min(cls)), ">= 0.95", min(cls) >= 0.95),
        Check("exact min-norm ||W* v2|| / ||W* v1|| (max)", max(ratio), "<= 0.01 (theorem: 0)", max(ratio) <= 0.01),
        Check("GD vs min-norm Gram gap on features+bias (max)", max(gd_gap), "<= 0.05", max(gd_gap) <= 0.05),
    ])


GROUP_STYLE = [("tab:blue", "y=-1, sub=-1"), ("tab:cyan", "y=-1, sub=+1"), ("tab:red", "y=+1, sub=-1"), ("tab:orange", "y=+1, sub=+1")]


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    snaps = sorted(config.snapshot_steps)
    fig = plt.figure(figsize=(11, 6.5))
    grid = fig.add_gridspec(2, max(len(snaps), 2), height_ratios=[1.25, 1])
    half = max(len(snaps), 2) // 2
    ax_norm, ax_probe = fig.add_subplot(grid[0, :half]), fig.add_subplot(grid[0, half:])
    seeds = sorted({r["seed"] for r in rows if r["kind"] == "trace"})
    styles = ["-", "--", ":", "-."]
    for i, p in enumerate(config.embedding_sizes):
        ls = styles[i % len(styles)]
        for j, seed in enumerate(seeds):
            steps, v1 = _trace(rows, p, seed, "norm_v1")
            _, v2 = _trace(rows, p, seed, "norm_v2")
            _, sub = _trace(rows, p, seed, "probe_subclass")
            _, cls = _trace(rows, p, seed, "probe_class")
            label = (lambda s: f"{s}, p={p}") if j == 0 else (lambda s: None)
            x = steps + 1
            ax_norm.plot(x, v1, ls, color="tab:red", label=label("||W v1|| class"), alpha=0.8)
            ax_norm.plot(x, v2, ls, color="tab:blue", label=label("||W v2|| subclass"), alpha=0.8)
            ax_probe.plot(x, sub, ls, color="tab:blue", label=label("subclass probe"), alpha=0.8)
            ax_probe.plot(x, cls, ls, color="tab:red", label=label("class probe"), alpha=0.8)
    for r in _select(rows, kind="min_norm"):
        if r["seed"] == seeds[0]:
            ax_norm.axhline(max(r["norm_v2"], 1e-6), color="tab:blue", lw=0.6, ls=":")
    ax_norm.set(xscale="log", yscale="log", xlabel="GD step + 1", ylabel="norm", title="L_SCL: feature norms (dotted: exact min-norm ||W* v2||)")
    ax_norm.legend(fontsize=7, loc="lower right")
    ax_probe.axhline(0.5, color="grey", lw=0.6)
    ax_probe.set(xscale="log", xlabel="GD step + 1", ylabel="test accuracy", ylim=(0.4, 1.02), title="linear probes on fresh examples (C chosen on validation)")
    ax_probe.legend(fontsize=7, loc="lower left")
    p_small = min(config.embedding_sizes)
    for k, step in enumerate(snaps):
        ax = fig.add_subplot(grid[1, k])
        pts = _select(rows, kind="snapshot", p=p_small, step=step, seed=seeds[0])
        for g, (color, label) in enumerate(GROUP_STYLE):
            sel = [r for r in pts if r["group"] == g]
            ax.scatter([r["x"] for r in sel], [r["y"] for r in sel], s=8, color=color, label=label if k == 0 else None)
        ax.set(title=f"step {step} (p={p_small})", xticks=[], yticks=[])
    fig.legend(*fig.axes[2].get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=8, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle("Class collapse: embeddings of fresh examples on their top-2 principal axes (bottom)", fontsize=10)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    return fig
