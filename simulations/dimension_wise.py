"""Dimension-wise contrastive learning vs decorrelation, below and above the embedding dimension.

SimCSE++ (Xu et al. EMNLP 2023, arXiv 2305.13192) adds to the instance InfoNCE a
dimension-wise term: standardise every embedding dimension over the batch (each view), form
C = Zhat1^T Zhat2 / (N tau_d) and apply InfoNCE over dimensions, L = L_instance + lambda L_dim
(tau_d = 5, lambda = 0.1). Its argument: decorrelation objectives that push the (d x d)
cross-correlation to the identity (Barlow Twins) are rank-bottlenecked when the batch N is
smaller than d, since rank C <= N - 1 and ||C - I||_F^2 >= d - (N - 1) (a linear-algebra
fact, checked here on every measured batch); the softmax target of the dimension-wise term
is reachable at low rank. The benefit is an empirical claim of the paper. Measured on latent
sentences with dropout as the augmentation (clustertheory.data.dropout): effective rank and
covariance spectrum of the embeddings, and a linear probe on the content clusters, for
InfoNCE, InfoNCE + Barlow decorrelation and InfoNCE + dimension-wise, across batch sizes
below and above d.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from clustertheory.analysis.embedding import covariance_spectrum
from clustertheory.config import (
    check_nonneg,
    check_positive,
    check_positive_int,
    check_probability,
)
from clustertheory.functions import dropout_pair, embed
from clustertheory.losses import (
    barlow_decorrelation,
    cross_correlation,
    dimension_wise,
    infonce,
)
from clustertheory.simulation import Check, RunContext, SimulationConfig, Verdict
from simulations.off_dropout import (
    downstream,
    mean_se,
    resolved_gain,
    sentence_setting,
    single_cpu_thread,
)

NAME = "dimension-wise"
SUMMARY = "SimCSE++ dimension-wise term vs Barlow decorrelation: effective rank and probes for batch sizes below / above d"

METHODS = ("infonce", "barlow", "dimension-wise")


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Latent sentences and dropout encoder as in off-dropout; ``weight`` is lambda for both
    regularisers (the paper's 0.1 for the dimension-wise term; the same for Barlow)."""

    num_clusters: int = 8
    train_sentences: int = 2048
    probe_sentences: int = 1024
    content_dim: int = 8
    style_dim: int = 8
    obs_dim: int = 32
    spread: float = 0.5
    style_scale: float = 1.0
    width: int = 128
    depth: int = 2
    embed_dim: int = 64
    dropout: float = 0.1
    temperature: float = 0.05
    weight: float = 0.1
    temperature_d: float = 5.0
    barlow_offdiag: float = 5e-3
    batch_sizes: tuple = (16, 32, 128)
    steps: int = 300
    lr: float = 1e-3
    seeds: int = 4

    def validate(self) -> None:
        for name in ("num_clusters", "train_sentences", "content_dim", "style_dim", "obs_dim", "width", "depth", "steps", "seeds"):
            check_positive_int(name, getattr(self, name))
        for name in ("spread", "style_scale", "barlow_offdiag"):
            check_nonneg(name, getattr(self, name))
        for name in ("temperature", "weight", "temperature_d", "lr"):
            check_positive(name, getattr(self, name))
        if check_probability("dropout", self.dropout, open_right=True) == 0:
            raise ValueError("dropout must be > 0 (dropout is the augmentation), got 0")
        if self.num_clusters < 2:
            raise ValueError(f"num_clusters must be >= 2 for a probe, got {self.num_clusters}")
        if check_positive_int("embed_dim", self.embed_dim) < 2:
            raise ValueError(f"embed_dim must be >= 2 (the dimension-wise softmax needs 2 dimensions), got {self.embed_dim}")
        if check_positive_int("probe_sentences", self.probe_sentences) < 4 * self.num_clusters:
            raise ValueError(f"probe_sentences must be >= 4 * num_clusters = {4 * self.num_clusters}, got {self.probe_sentences}")
        if not self.batch_sizes or any(not isinstance(b, int) or not 2 <= b <= min(self.train_sentences, self.probe_sentences) for b in self.batch_sizes):
            raise ValueError(f"batch_sizes must be non-empty integers in [2, min(train_sentences, probe_sentences)], got {self.batch_sizes}")


SCALES = {
    "default": Config(),
    "paper": Config(train_sentences=8192, probe_sentences=4096, embed_dim=128, width=256, batch_sizes=(16, 32, 64, 256, 512), steps=1500, seeds=6),
}


def objective(method: str, h: torch.Tensor, h_pos: torch.Tensor, config: Config) -> torch.Tensor:
    """InfoNCE over the batch (+ lambda * Barlow, or + lambda * dimension-wise)."""
    loss = infonce(h, h_pos, temperature=config.temperature)
    if method == "barlow":
        loss = loss + config.weight * barlow_decorrelation(h, h_pos, lambda_offdiag=config.barlow_offdiag)
    elif method == "dimension-wise":
        loss = loss + config.weight * dimension_wise(h, h_pos, temperature_d=config.temperature_d)
    return loss


def dimension_wise_at_identity(d: int, temperature_d: float) -> float:
    """L_dim when C = I: -1/tau_d + log(exp(1/tau_d) + d - 1)."""
    return -1.0 / temperature_d + math.log(math.exp(1.0 / temperature_d) + d - 1)


def batch_statistics(encoder, inputs: torch.Tensor, config: Config) -> dict:
    """On one batch (two dropout passes, no gradient): the cross-correlation C, its distance
    to the Barlow target, the rank bound, and both regularisers' values."""
    with torch.no_grad():
        h, h_pos = dropout_pair(encoder, inputs)
        c = cross_correlation(h, h_pos).cpu().numpy()
        n, d = h.shape
        return {
            "identity_gap": float(np.square(c - np.eye(d)).sum()),
            "identity_gap_bound": float(max(d - (n - 1), 0)),
            "batch_rank": int(np.linalg.matrix_rank(c, tol=1e-6)),
            "barlow_value": float(barlow_decorrelation(h, h_pos, lambda_offdiag=config.barlow_offdiag)),
            "dimension_wise_value": float(dimension_wise(h, h_pos, temperature_d=config.temperature_d)),
            "dimension_wise_at_identity": dimension_wise_at_identity(d, config.temperature_d),
        }


def _run_unit(config: Config, unit: dict, ctx: RunContext) -> list[dict]:
    seed = ctx.seed_for(NAME, unit["seed"])  # same data and initialisation for every method and B
    train_x, probe_x, clusters, content, encoder = sentence_setting(config, seed, ctx.device)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.lr)
    batches = torch.Generator(device="cpu").manual_seed(seed)
    for _ in ctx.progress(range(config.steps), desc=f"{unit['method']} B={unit['batch_size']}"):
        index = torch.randint(len(train_x), (unit["batch_size"],), generator=batches).to(ctx.device)
        optimizer.zero_grad(set_to_none=True)
        loss = objective(unit["method"], *dropout_pair(encoder, train_x[index]), config)
        loss.backward()
        optimizer.step()
    z = embed(encoder, probe_x).cpu().numpy()
    spectrum = covariance_spectrum(z)
    final = {
        "kind": "final",
        "train_loss": float(loss.detach()),
        **downstream(encoder, probe_x, clusters, content, seed),
        **batch_statistics(encoder, probe_x[: unit["batch_size"]], config),
    }
    return [final] + [{"kind": "spectrum", "component": k + 1, "eigenvalue": float(v)} for k, v in enumerate(spectrum)]


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [{"seed": s, "batch_size": b, "method": m} for s in range(config.seeds) for b in config.batch_sizes for m in METHODS]
    with single_cpu_thread(ctx.device):
        return ctx.sweep(units, lambda u: _run_unit(config, u, ctx), desc=NAME)


# ----------------------------------------------------------------------------- verdict


def _finals(rows, **where) -> list[dict]:
    return [r for r in rows if r["kind"] == "final" and all(r.get(k) == v for k, v in where.items())]


def paired_gain(rows: list[dict], method: str, key: str, batch_sizes) -> np.ndarray:
    """``key`` with ``method`` minus with InfoNCE, per (seed, batch size) in ``batch_sizes``."""
    base = {(r["seed"], r["batch_size"]): r[key] for r in _finals(rows, method="infonce")}
    return np.asarray([r[key] - base[(r["seed"], r["batch_size"])] for r in _finals(rows, method=method) if r["batch_size"] in batch_sizes and (r["seed"], r["batch_size"]) in base])


def _gain(x: np.ndarray, meaning: str) -> tuple[str, str, bool]:
    text, passed = resolved_gain(x)
    return text, f"mean > 2 se > 0 ({meaning})", passed


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Package checks (the rank bound holds on every measured batch, probes beat chance) and
    the paper's expectations for B < d and B > d."""
    d = config.embed_dim
    below = [b for b in config.batch_sizes if b < d]
    above = [b for b in config.batch_sizes if b > d]
    finals = _finals(rows)
    slack = min(r["identity_gap"] - r["identity_gap_bound"] for r in finals)
    chance = 1.0 / config.num_clusters
    min_probe = min(r["probe_accuracy"] for r in finals)
    dim_probe = paired_gain(rows, "dimension-wise", "probe_accuracy", below)
    dim_rank = paired_gain(rows, "dimension-wise", "effective_rank", below)
    barlow_below = paired_gain(rows, "barlow", "probe_accuracy", below)
    barlow_above = paired_gain(rows, "barlow", "probe_accuracy", above)
    barlow_rank_above = paired_gain(rows, "barlow", "effective_rank", above)
    checks = [
        Check("package: ||C - I||_F^2 - max(d - (B - 1), 0) on every measured batch (min)", slack, ">= -1e-6 (rank C <= B - 1)", slack >= -1e-6),
        Check("package: every trained probe beats chance (min accuracy)", min_probe, f"> 1/m + 0.1 = {chance + 0.1:.3f}", min_probe > chance + 0.1),
    ]
    if below:
        checks += [
            Check(f"paper: B < d={d}: probe gain of dimension-wise over InfoNCE (paired mean +- se)", *_gain(dim_probe, "dimension-wise helps below d")),
            Check(f"paper: B < d={d}: effective-rank gain of dimension-wise over InfoNCE", *_gain(dim_rank, "less feature corruption")),
        ]
    if below and above:
        (above_mean, above_se), (below_mean, below_se) = mean_se(barlow_above), mean_se(barlow_below)
        gap, gap_se = above_mean - below_mean, float(np.hypot(above_se, below_se))
        checks.append(Check(
            "paper: Barlow probe gain over InfoNCE, (B > d) minus (B < d)",
            f"{gap:+.4f} +- {gap_se:.4f} (above {above_mean:+.4f}, below {below_mean:+.4f})",
            "> 2 se > 0 (decorrelation is rank-bottlenecked below d)", bool(gap > 2 * gap_se),
        ))
    if above:
        checks.append(Check(f"paper: B > d={d}: effective-rank gain of Barlow over InfoNCE", *_gain(barlow_rank_above, "decorrelation spreads the spectrum when not bottlenecked")))
    return Verdict(checks)


# ----------------------------------------------------------------------------- figure

COLORS = {"infonce": "tab:grey", "barlow": "tab:orange", "dimension-wise": "tab:blue"}


def _batch_axis(ax, sizes) -> None:
    """Log-scale batch-size axis labelled at the measured sizes only."""
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(sizes, [str(b) for b in sizes])


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    d = config.embed_dim
    sizes = sorted(config.batch_sizes)
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
    for method in METHODS:
        for ax, key in ((axes[0], "effective_rank"), (axes[1], "probe_accuracy")):
            values = [[r[key] for r in _finals(rows, method=method, batch_size=b)] for b in sizes]
            mean = np.array([np.mean(v) if v else np.nan for v in values])
            se = np.array([np.std(v, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0 for v in values])
            ax.errorbar(sizes, mean, yerr=se, marker="o", capsize=3, color=COLORS[method], label=method)
    for ax, title in ((axes[0], "effective rank of probe embeddings (mean +- se)"), (axes[1], "linear probe on clusters, test (mean +- se)")):
        ax.axvline(d, color="black", ls=":", lw=0.8)
        _batch_axis(ax, sizes)
        ax.set(xlabel="batch size B (dotted: d)", title=title)
        ax.title.set_fontsize(9)
    axes[0].legend(fontsize=7)
    for b, style in ((sizes[0], "-"), (sizes[-1], "--")):
        for method in METHODS:
            comps = sorted({r["component"] for r in rows if r["kind"] == "spectrum"})
            spec = [np.mean([r["eigenvalue"] for r in rows if r["kind"] == "spectrum" and r["method"] == method and r["batch_size"] == b and r["component"] == k]) for k in comps]
            axes[2].plot(comps, spec, style, color=COLORS[method], label=f"{method}, B={b}", lw=1)
    axes[2].set(yscale="log", xlabel="component", ylabel="eigenvalue / trace", title="covariance spectrum (mean over seeds)")
    axes[2].set_ylim(bottom=1e-6)
    axes[2].title.set_fontsize(9)
    axes[2].legend(fontsize=6)
    for method in METHODS:
        gaps = [np.mean([r["identity_gap"] for r in _finals(rows, method=method, batch_size=b)] or [np.nan]) for b in sizes]
        axes[3].plot(sizes, gaps, marker="o", color=COLORS[method], label=method)
    grid = np.arange(min(sizes), max(sizes) + 1)
    axes[3].plot(grid, np.maximum(d - (grid - 1), 0), color="black", ls=":", label="bound d - (B - 1)")
    _batch_axis(axes[3], sizes)
    axes[3].axvline(d, color="black", ls=":", lw=0.8)
    axes[3].set(xlabel="batch size B (dotted: d)", ylabel="||C - I||_F^2 on one batch", title="distance of C to the Barlow target")
    axes[3].title.set_fontsize(9)
    axes[3].legend(fontsize=7)
    fig.suptitle(f"Dimension-wise vs decorrelation: d={d}, lambda={config.weight}, tau_d={config.temperature_d}, {config.seeds} seeds", fontsize=10)
    fig.tight_layout()
    return fig
