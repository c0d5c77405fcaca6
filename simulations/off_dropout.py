"""Off-dropout negatives (SimCSE++, Xu et al. EMNLP 2023, arXiv 2305.13192).

Dropout is the only augmentation: an MLP encoder with dropout is run twice on the same latent
sentence (clustertheory.data.dropout) and the two passes are the positive pair. Unsupervised
SimCSE takes its in-batch negatives s(h_i, h_j+) from the same dropout passes; SimCSE++
computes the negatives s(hbar_i, hbar_j) from an extra pass with dropout switched off.
The paper's claim (an empirical observation, not a theorem) is that dropout noise in the
negative pairs only adds variance and hurts. We measure, at the same parameters and the same
fixed batch, the variance over repeated dropout draws of the negative similarities and of
the loss gradient w.r.t. the encoder parameters, for both losses, at initialisation and
during training (training with either loss); and downstream quality after training both
ways from the same initialisation and batch stream: a linear probe on the content
clusters (C chosen on a validation split) and the Spearman correlation of embedding cosine
with latent content cosine (an STS analogue).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr

from clustertheory.analysis.embedding import (
    draw_variance,
    effective_rank,
    gradient_noise,
    linear_probe_accuracy,
    probe_split,
)
from clustertheory.config import (
    check_nonneg,
    check_positive,
    check_positive_int,
    check_probability,
)
from clustertheory.data import latent_sentences
from clustertheory.functions import MLPEncoder, dropout_pair, embed
from clustertheory.losses import infonce, off_dropout_infonce
from clustertheory.simulation import Check, RunContext, SimulationConfig, Verdict

NAME = "off-dropout"
SUMMARY = "SimCSE++ off-dropout negatives: dropout-noise variance of negatives and gradients, and downstream probes"

LOSSES = ("simcse", "off-dropout")
SPEARMAN_POINTS = 512  # pairs among this many probe sentences for the STS analogue


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Latent sentences, a dropout MLP encoder, and the training / measurement schedule."""

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
    embed_dim: int = 32
    dropout: float = 0.1
    temperature: float = 0.05
    positive_weight: float = 1.0
    steps: int = 500
    batch_size: int = 64
    lr: float = 1e-3
    noise_steps: tuple = (0, 25, 100, 250, 500)
    noise_draws: int = 24
    seeds: int = 6

    def validate(self) -> None:
        for name in ("num_clusters", "train_sentences", "content_dim", "style_dim", "obs_dim", "width", "depth", "embed_dim", "steps", "seeds"):
            check_positive_int(name, getattr(self, name))
        for name in ("spread", "style_scale"):
            check_nonneg(name, getattr(self, name))
        for name in ("temperature", "positive_weight", "lr"):
            check_positive(name, getattr(self, name))
        check_probability("dropout", self.dropout, open_right=True)
        if self.dropout == 0:
            raise ValueError("dropout must be > 0 (dropout is the augmentation), got 0")
        if check_positive_int("num_clusters", self.num_clusters) < 2:
            raise ValueError(f"num_clusters must be >= 2 for a probe, got {self.num_clusters}")
        if check_positive_int("probe_sentences", self.probe_sentences) < 4 * self.num_clusters:
            raise ValueError(f"probe_sentences must be >= 4 * num_clusters = {4 * self.num_clusters}, got {self.probe_sentences}")
        if check_positive_int("batch_size", self.batch_size) < 2:
            raise ValueError(f"batch_size must be >= 2 (in-batch negatives), got {self.batch_size}")
        if self.batch_size > self.train_sentences:
            raise ValueError(f"batch_size must be <= train_sentences = {self.train_sentences}, got {self.batch_size}")
        if check_positive_int("noise_draws", self.noise_draws) < 2:
            raise ValueError(f"noise_draws must be >= 2 (a variance), got {self.noise_draws}")
        if 0 not in self.noise_steps or len(set(self.noise_steps)) < 2 or any(not 0 <= int(s) <= self.steps for s in self.noise_steps):
            raise ValueError(f"noise_steps must hold 0 and a later step, all in [0, steps = {self.steps}], got {self.noise_steps}")


SCALES = {
    "default": Config(),
    "paper": Config(train_sentences=8192, probe_sentences=4096, embed_dim=64, width=256, steps=2000, noise_steps=(0, 250, 1000, 2000), noise_draws=64, seeds=10),
}


# ----------------------------------------------------------------------------- shared with dimension-wise / hard-negatives


@contextmanager
def single_cpu_thread(device: torch.device) -> Iterator[None]:
    """Run torch on one intra-op CPU thread, restoring the setting afterwards.

    The models here are tiny: a second thread only adds synchronisation, and on a loaded
    2-core machine it made training 10-20x slower (measured). GPUs are unaffected.
    """
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def sentence_setting(config, seed: int, device: torch.device):
    """Data and a fresh encoder for one seed: (train inputs (N, D), probe inputs (M, D),
    probe sentences' clusters (M,), probe content latents (M, k), encoder)."""
    data = latent_sentences(
        num_clusters=config.num_clusters, num_sentences=config.train_sentences + config.probe_sentences,
        content_dim=config.content_dim, style_dim=config.style_dim, obs_dim=config.obs_dim,
        spread=config.spread, style_scale=config.style_scale, seed=seed,
    )
    x = torch.as_tensor(data.obs, device=device)
    n = config.train_sentences
    encoder = MLPEncoder(config.obs_dim, config.embed_dim, width=config.width, depth=config.depth, dropout=config.dropout, seed=seed, device=device)
    return x[:n], x[n:], data.content[n:], data.content_latent[n:], encoder


def downstream(encoder, probe_x: torch.Tensor, clusters: np.ndarray, content: np.ndarray, seed: int) -> dict:
    """Probe accuracy on clusters (validation-chosen C), STS analogue, effective rank; dropout off."""
    z = embed(encoder, probe_x).cpu().numpy()
    probe = linear_probe_accuracy(z, clusters, probe_split(len(z), seed=seed))
    k = min(SPEARMAN_POINTS, len(z))
    unit = z[:k] / np.linalg.norm(z[:k], axis=1, keepdims=True)
    latent = content[:k] / np.linalg.norm(content[:k], axis=1, keepdims=True)
    upper = np.triu_indices(k, 1)
    rho = spearmanr((unit @ unit.T)[upper], (latent @ latent.T)[upper]).statistic
    return {"probe_accuracy": probe["accuracy"], "probe_val_accuracy": probe["val_accuracy"], "content_spearman": float(rho), "effective_rank": effective_rank(z)}


# ----------------------------------------------------------------------------- losses and noise


def loss_value(kind: str, encoder, inputs: torch.Tensor, config: Config) -> torch.Tensor:
    """simcse: in-batch InfoNCE of two dropout passes (negatives s(h_i, h_j+) from dropout passes);
    off-dropout: the same positive, negatives s(hbar_i, hbar_j) from a dropout-off pass."""
    if kind == "simcse":
        h, h_pos = dropout_pair(encoder, inputs)
        return infonce(h, h_pos, temperature=config.temperature)
    return off_dropout_infonce(encoder, inputs, temperature=config.temperature, positive_weight=config.positive_weight)


def _similarities(kind: str, encoder, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines of one draw: (B, B) matrix whose off-diagonal entries are the loss's negatives,
    and the (B,) positive similarities s(h_i, h_i+) (a dropout pair for both losses)."""
    with torch.no_grad():
        h, h_pos = (torch.nn.functional.normalize(v, dim=1) for v in dropout_pair(encoder, inputs))
        positives = (h * h_pos).sum(dim=1)
        if kind == "simcse":
            return h @ h_pos.T, positives
        h_bar = torch.nn.functional.normalize(embed(encoder, inputs), dim=1)
        return h_bar @ h_bar.T, positives


def measure_noise(kind: str, encoder, inputs: torch.Tensor, config: Config) -> dict:
    """Over ``noise_draws`` dropout draws at fixed parameters and batch: variance of the
    negative similarities, of the positive similarity, and of the loss gradient."""
    state = encoder.mask_generator.get_state()  # measuring must not shift the training masks
    grads, sims, positives = [], [], []
    for _ in range(config.noise_draws):
        encoder.zero_grad(set_to_none=True)
        loss_value(kind, encoder, inputs, config).backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in encoder.parameters()]).cpu().numpy())
        negative, positive = _similarities(kind, encoder, inputs)
        sims.append(negative.cpu().numpy())
        positives.append(positive.cpu().numpy())
    encoder.zero_grad(set_to_none=True)
    encoder.mask_generator.set_state(state)
    sims = np.stack(sims)  # (R, B, B)
    off = ~np.eye(sims.shape[1], dtype=bool)
    noise = gradient_noise(np.stack(grads))
    return {
        "grad_total_variance": noise["total_variance"],
        "grad_mean_sq_norm": noise["mean_sq_norm"],
        "grad_relative_variance": noise["relative"],
        "neg_sim_variance": draw_variance(sims[:, off]),
        "pos_sim_variance": draw_variance(np.stack(positives)),
    }


def _run_unit(config: Config, unit: dict, ctx: RunContext) -> list[dict]:
    """Train with one loss from the seed's initialisation; noise of both losses at checkpoints."""
    seed = ctx.seed_for(NAME, unit["seed"])  # shared by both losses: paired comparison
    train_x, probe_x, clusters, content, encoder = sentence_setting(config, seed, ctx.device)
    noise_batch = train_x[: config.batch_size]
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.lr)
    batches = torch.Generator(device="cpu").manual_seed(seed)
    rows = [{"kind": "init", **downstream(encoder, probe_x, clusters, content, seed)}]
    for step in ctx.progress(range(config.steps + 1), desc=f"{unit['loss']} seed {unit['seed']}"):
        if step in config.noise_steps:
            for measured in LOSSES:
                rows.append({"kind": "noise", "step": step, "measured": measured, **measure_noise(measured, encoder, noise_batch, config)})
        if step == config.steps:
            break
        index = torch.randint(len(train_x), (config.batch_size,), generator=batches).to(ctx.device)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_value(unit["loss"], encoder, train_x[index], config)
        loss.backward()
        optimizer.step()
    rows.append({"kind": "final", "train_loss": float(loss.detach()), **downstream(encoder, probe_x, clusters, content, seed)})
    return rows


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [{"seed": s, "loss": loss} for s in range(config.seeds) for loss in LOSSES]
    with single_cpu_thread(ctx.device):
        return ctx.sweep(units, lambda u: _run_unit(config, u, ctx), desc=NAME)


# ----------------------------------------------------------------------------- verdict


def _select(rows, **where) -> list[dict]:
    return [r for r in rows if all(r.get(k) == v for k, v in where.items())]


def noise_ratios(rows: list[dict], key: str, trained: bool) -> np.ndarray:
    """off-dropout / simcse ratio of ``key`` at every (seed, trained-with loss, step), at
    step 0 (``trained=False``) or at the steps > 0 (``trained=True``)."""
    out = []
    for r in _select(rows, kind="noise", measured="off-dropout"):
        if (r["step"] > 0) != trained or (not trained and r["loss"] != LOSSES[0]):
            continue  # at step 0 both runs of a seed sit at the same parameters: count once
        twin = _select(rows, kind="noise", measured="simcse", seed=r["seed"], loss=r["loss"], step=r["step"])
        out.append(r[key] / twin[0][key])
    return np.asarray(out)


def paired_differences(rows: list[dict], key: str) -> np.ndarray:
    """Per seed: final ``key`` with off-dropout minus with simcse."""
    finals = {(r["seed"], r["loss"]): r[key] for r in _select(rows, kind="final")}
    seeds = sorted({s for s, _ in finals})
    return np.asarray([finals[(s, "off-dropout")] - finals[(s, "simcse")] for s in seeds if (s, "off-dropout") in finals and (s, "simcse") in finals])


def _range(x: np.ndarray) -> str:
    return f"max {x.max():.3f} (min {x.min():.3f}, median {np.median(x):.3f}, n={len(x)})"


def mean_se(x: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of paired differences (se = nan for a single one)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return float("nan"), float("nan")
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")


def resolved_gain(x: np.ndarray) -> tuple[str, bool]:
    """``mean +- se`` as text, and whether the gain is resolved: mean > 2 se (a coin flip
    of seeds must not count as reproducing an improvement)."""
    mean, se = mean_se(x)
    return f"{mean:+.4f} +- {se:.4f} (n={len(x)})", bool(len(x) > 1 and mean > 2 * se)


def _gain(x: np.ndarray, meaning: str) -> tuple[str, str, bool]:
    text, passed = resolved_gain(x)
    return text, f"mean > 2 se > 0 ({meaning})", passed


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Package checks (off-dropout negatives noiseless, SimCSE negatives noisy, probes above
    chance) and the paper's expectations (less gradient noise, better downstream)."""
    off_neg = [r["neg_sim_variance"] for r in _select(rows, kind="noise", measured="off-dropout")]
    on_neg = [r["neg_sim_variance"] for r in _select(rows, kind="noise", measured="simcse")]
    finals = _select(rows, kind="final")
    chance = 1.0 / config.num_clusters
    relative = noise_ratios(rows, "grad_relative_variance", trained=True)
    total = noise_ratios(rows, "grad_total_variance", trained=True)
    relative_init = noise_ratios(rows, "grad_relative_variance", trained=False)
    probe = paired_differences(rows, "probe_accuracy")
    sts = paired_differences(rows, "content_spearman")
    return Verdict([
        Check("package: off-dropout negatives carry no dropout noise (max Var over draws of s(hbar_i, hbar_j))", max(off_neg), "0 (<= 1e-12)", max(off_neg) <= 1e-12),
        Check("package: SimCSE negatives carry dropout noise (min Var over draws of s(h_i, h_j+))", min(on_neg), "> 0", min(on_neg) > 0),
        Check("package: every trained probe beats chance (min accuracy)", min(r["probe_accuracy"] for r in finals), f"> 1/m + 0.1 = {chance + 0.1:.3f}", min(r["probe_accuracy"] for r in finals) > chance + 0.1),
        Check("paper: gradient noise-to-signal off-dropout / SimCSE, same parameters, steps > 0 (max over seeds, checkpoints, trained-with)", _range(relative), "< 1 everywhere", bool((relative < 1).all())),
        Check("paper: gradient total variance off-dropout / SimCSE, same parameters, steps > 0 (max)", _range(total), "< 1 everywhere", bool((total < 1).all())),
        Check("paper: gradient noise-to-signal off-dropout / SimCSE at initialisation (max over seeds)", _range(relative_init), "< 1 everywhere", bool((relative_init < 1).all())),
        Check("paper: probe accuracy off-dropout - SimCSE (paired over seeds, mean +- se)", *_gain(probe, "off-dropout helps")),
        Check("paper: content-similarity Spearman off-dropout - SimCSE (paired, mean +- se)", *_gain(sts, "STS analogue improves")),
    ])


# ----------------------------------------------------------------------------- figure

COLORS = {"simcse": "tab:red", "off-dropout": "tab:blue"}


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(19, 3.9))
    steps = sorted(config.noise_steps)
    noise_panels = (
        (axes[0], "grad_relative_variance", "gradient noise / signal  tr Var(g) / ||E g||^2"),
        (axes[1], "grad_total_variance", "gradient noise  tr Var(g)"),
        (axes[2], "grad_mean_sq_norm", "gradient signal  ||E g||^2"),
    )
    for ax, key, title in noise_panels:
        for measured in LOSSES:
            for trained, style in zip(LOSSES, ("-", "--")):
                values = [[r[key] for r in _select(rows, kind="noise", measured=measured, loss=trained, step=s)] for s in steps]
                mean = [np.mean(v) if v else np.nan for v in values]
                ax.plot(steps, mean, style, marker="o", color=COLORS[measured], label=f"{measured} loss (trained with {trained})")
        ax.set(yscale="log", xlabel="training step (same batch, draws of dropout)", title=title)
        ax.title.set_fontsize(9)
    axes[0].legend(fontsize=7)
    on_neg = np.mean([r["neg_sim_variance"] for r in _select(rows, kind="noise", measured="simcse")])
    axes[1].text(0.98, 0.98, f"Var of negative similarities over dropout draws:\nSimCSE {on_neg:.2e}, off-dropout "
                 f"{max(r['neg_sim_variance'] for r in _select(rows, kind='noise', measured='off-dropout')):.0e}",
                 transform=axes[1].transAxes, fontsize=7, va="top", ha="right")
    for ax, key, title in ((axes[3], "probe_accuracy", "linear probe on clusters (test)"), (axes[4], "content_spearman", "Spearman(cos f, cos content)")):
        seeds = sorted({r["seed"] for r in _select(rows, kind="final")})
        for s in seeds:
            init = next((r[key] for r in _select(rows, kind="init", seed=s)), np.nan)
            pair = [next((r[key] for r in _select(rows, kind="final", seed=s, loss=loss)), np.nan) for loss in LOSSES]
            ax.plot([0, 1, 2], [init, *pair], color="grey", lw=0.8, alpha=0.6)
            ax.scatter([0, 1, 2], [init, *pair], color=["black", *(COLORS[loss] for loss in LOSSES)], zorder=3, s=18)
        means = [np.mean([r[key] for r in _select(rows, kind="final", loss=loss)] or [np.nan]) for loss in LOSSES]
        ax.scatter([1, 2], means, marker="_", s=600, color=[COLORS[loss] for loss in LOSSES], zorder=4, label="mean over seeds")
        ax.legend(fontsize=7)
        ax.set(xticks=[0, 1, 2], xticklabels=["init", *LOSSES], xlim=(-0.4, 2.4), title=title + " (lines: seeds)")
        ax.title.set_fontsize(9)
    fig.suptitle(f"Off-dropout negatives (SimCSE++): m={config.num_clusters} clusters, dropout {config.dropout}, B={config.batch_size}, {config.seeds} seeds", fontsize=10)
    fig.tight_layout()
    return fig
