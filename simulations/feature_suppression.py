"""Feature suppression in unsupervised CL (Xue et al. 2023): easy irrelevant features push out the class feature.

Three parts. (1) Embedding size: with mu = 0 and the exact minimum-norm minimiser of L_UCL for
f(x) = W x + b, ||W v_1|| = 0 exactly when phi_1^2 is not among the p largest of
(1, phi_1^2, phi_2^2, phi_3^2/(K-2), ..., phi_K^2/(K-2)) (theorem); measured against the
irrelevant strength r = phi_K^2 / ((K-2) phi_1^2) for K in {3, 50} and several p, exactly
(population and finite training set) and by gradient descent. (2) High-dimensional irrelevant
features with imperfect augmentation (class coordinate jittered by tau, irrelevant kept): the
class feature is suppressed for every p up to the number of irrelevant features (theorem); we
also watch gradient descent learn the class feature first and suppress it later. (3) Beyond the
linear model, the shared-random-bits dial (Chen, Luo, Li 2021) with a small MLP and InfoNCE:
bits copied into both views suppress the class feature; more embedding dimensions or
augmentations that resample the bits restore it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from clustertheory.utils import one_thread_below
from clustertheory.analysis.min_norm import (
    outranking_directions,
    population_moments,
    range_basis,
    spectral_gradient_descent,
    spectral_min_norm,
)
from clustertheory.config import check_nonneg, check_positive, check_positive_int
from clustertheory.data.collapse import CollapseConfig, collapse_dataset
from clustertheory.losses import infonce
from clustertheory.losses.spectral import ucl_moments
from clustertheory.simulation import Check, RunContext, SimulationConfig, Verdict
from simulations.class_collapse import probe_accuracy

NAME = "feature-suppression"
SUMMARY = "unsupervised CL suppresses the class feature: embedding size, imperfect augmentation, shared random bits"


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Part 1 (``size_*``), part 2 (``hd_*``: high-dimensional irrelevant features), part 3 (``bits_*``)."""

    size_dim: int = 100
    size_originals: int = 10000
    size_noise: float = 1.0
    feature_counts: tuple = (3, 50)
    embedding_sizes: tuple = (2, 3, 10, 50)
    ratios: tuple = (0.0, 0.25, 0.5, 0.75, 0.9, 1.1, 1.25, 1.5, 2.0, 3.0)
    margin: float = 0.5
    leak_ratio: float = 1.25
    leak_size: int = 10
    leak_draws: int = 4
    gd_features: int = 50
    gd_size: int = 10
    gd_ratios: tuple = (0.5, 2.0)
    gd_steps: int = 20000
    hd_dim: int = 200
    hd_originals: int = 4000
    hd_noise: float = 0.5
    hd_jitter: float = 1.0
    hd_sizes: tuple = (2, 5, 20, 50, 100, 150, 199, 200, 210)
    hd_gd_size: int = 5
    hd_gd_steps: int = 30000
    subclass_strength: float = 0.5
    lr: float = 0.05
    init_scale: float = 0.001
    bits: tuple = (0, 4, 8, 16)
    bits_sizes: tuple = (4, 64)
    dial_bits: int = 8
    bits_dim: int = 32
    bits_originals: int = 2000
    bits_jitter: float = 0.5
    bits_steps: int = 800
    bits_batch: int = 256
    bits_hidden: int = 128
    temperature: float = 0.2
    seeds: int = 1

    def validate(self) -> None:
        for name in ("size_dim", "size_originals", "gd_features", "gd_size", "gd_steps", "hd_dim", "hd_originals", "hd_gd_size", "hd_gd_steps", "bits_dim", "bits_originals", "bits_steps", "bits_hidden", "seeds"):
            check_positive_int(name, getattr(self, name))
        for name in ("size_noise", "hd_noise", "hd_jitter", "subclass_strength", "init_scale", "bits_jitter", "margin"):
            check_nonneg(name, getattr(self, name))
        check_positive("lr", self.lr)
        check_positive("temperature", self.temperature)
        check_positive_int("leak_size", self.leak_size)
        check_positive_int("leak_draws", self.leak_draws)
        if not self.leak_ratio > 1:
            raise ValueError(f"leak_ratio must be > 1 (a suppressed setting), got {self.leak_ratio}")
        if self.bits_batch < 2:
            raise ValueError(f"bits_batch must be >= 2 (in-batch negatives), got {self.bits_batch}")
        for K in self.feature_counts:
            if not 3 <= K <= self.size_dim:
                raise ValueError(f"feature_counts must lie in [3, size_dim = {self.size_dim}], got {K}")
        if self.gd_features not in self.feature_counts:
            raise ValueError(f"gd_features must be one of feature_counts {self.feature_counts}, got {self.gd_features}")
        for name in ("embedding_sizes", "hd_sizes", "bits_sizes"):
            if not getattr(self, name):
                raise ValueError(f"{name} must be non-empty")
            for p in getattr(self, name):
                check_positive_int(name, p)
        if any(r < 0 for r in self.ratios + self.gd_ratios) or not self.ratios:
            raise ValueError(f"ratios and gd_ratios must be >= 0 (ratios non-empty), got {self.ratios}, {self.gd_ratios}")
        if 0 not in self.bits or self.dial_bits not in self.bits:
            raise ValueError(f"bits must contain 0 and dial_bits = {self.dial_bits}, got {self.bits}")


SCALES = {
    "default": Config(),
    "paper": Config(seeds=3, size_originals=30000, hd_originals=10000, gd_steps=100000, hd_gd_steps=100000, bits_steps=2000, bits_sizes=(4, 16, 64, 256), bits=(0, 2, 4, 8, 16, 32)),
}


def _size_data(config: Config, K: int, ratio: float, scale: int = 1) -> CollapseConfig:
    """Part 1 data: phi_1 = 1, mu = 0, irrelevant strength with phi_K^2/(K-2) = ratio phi_1^2."""
    return CollapseConfig(
        dim=config.size_dim, num_features=K, num_originals=scale * config.size_originals, num_augmentations=2,
        subclass_strength=config.subclass_strength, subclass_mean=0.0,
        irrelevant_strength=float(np.sqrt(ratio * (K - 2))), noise=config.size_noise,
    )


def _hd_data(config: Config, jitter: float) -> CollapseConfig:
    """Part 2 data: an irrelevant feature for every remaining coordinate (K = dim), phi_k = 1."""
    return CollapseConfig(
        dim=config.hd_dim, num_features=config.hd_dim, num_originals=config.hd_originals, num_augmentations=2,
        subclass_strength=config.subclass_strength, subclass_mean=0.0, irrelevant_strength=1.0,
        noise=config.hd_noise, augmentation_noise=jitter,
    )


def _v1_norm(W: np.ndarray) -> float:
    return float(np.linalg.norm(W[:, 0]))


def _exact_rows(data: CollapseConfig, sizes, seed: int, part: str, **keys) -> list[dict]:
    """||W* v_1|| of the exact min-norm minimiser: population moments and one finite training set."""
    S_pop, M_pop = population_moments(data, "ucl")
    train = collapse_dataset(data, seed)
    S, M = ucl_moments(train.views)
    basis = range_basis(S)
    count = outranking_directions(data)
    rows = []
    for p in sizes:
        predicted = p <= count
        rows.append({"part": part, "source": "population", "p": p, "norm_v1": _v1_norm(spectral_min_norm(S_pop, M_pop, p).weights), "predicted_suppressed": predicted, **keys})
        rows.append({"part": part, "source": "sample", "p": p, "norm_v1": _v1_norm(spectral_min_norm(S, M, p, basis=basis).weights), "predicted_suppressed": predicted, **keys})
    return rows


def _gd_rows(data: CollapseConfig, p: int, steps: int, config: Config, seed: int, part: str, **keys) -> list[dict]:
    """Gradient descent on the training-set L_UCL: ||W_t v_1|| on a log grid, and the min-norm value."""
    train = collapse_dataset(data, seed)
    S, M = ucl_moments(train.views)
    basis = range_basis(S)
    best = _v1_norm(spectral_min_norm(S, M, p, basis=basis).weights)
    record = sorted({0, steps} | {int(t) for t in np.unique(np.logspace(0, np.log10(steps), 25).astype(int))})
    rows = []
    for step, W in spectral_gradient_descent(S, M, p, steps=steps, lr=config.lr, init_scale=config.init_scale, seed=seed, record_at=record, basis=basis):
        rows.append({"part": part, "source": "gd", "p": p, "step": step, "norm_v1": _v1_norm(W), "min_norm_v1": best, **keys})
    return rows


def _bits_rows(config: Config, bits: int, p: int, mode: str, seed: int) -> dict:
    """Train an MLP with in-batch InfoNCE on views [x, bits]; probe the class on fresh examples.

    mode "shared": each original owns B random +-1 bits, copied into both of its views.
    mode "fresh":  every view gets newly drawn bits at every step (an augmentation that
                   resamples them). Test examples carry fresh random bits.
    """
    data = CollapseConfig(
        dim=config.bits_dim, num_features=3, num_originals=config.bits_originals, num_augmentations=2,
        subclass_strength=0.0, subclass_mean=0.0, irrelevant_strength=0.0, noise=1.0, augmentation_noise=config.bits_jitter,
    )
    train = collapse_dataset(data, seed)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    views = torch.tensor(train.views, dtype=torch.float32)
    n = views.shape[0]
    own_bits = torch.randint(0, 2, (n, bits), generator=gen).float() * 2 - 1

    def draw_bits(size: int) -> torch.Tensor:
        return torch.randint(0, 2, (size, bits), generator=gen).float() * 2 - 1

    net = torch.nn.Sequential(torch.nn.Linear(config.bits_dim + bits, config.bits_hidden), torch.nn.ReLU(), torch.nn.Linear(config.bits_hidden, p))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    with one_thread_below(config.bits_batch * config.bits_hidden):
        for _ in range(config.bits_steps):
            idx = torch.randint(n, (config.bits_batch,), generator=gen)
            b1, b2 = (own_bits[idx], own_bits[idx]) if mode == "shared" else (draw_bits(len(idx)), draw_bits(len(idx)))
            z1, z2 = net(torch.cat([views[idx, 0], b1], 1)), net(torch.cat([views[idx, 1], b2], 1))
            loss = infonce(z1, z2, temperature=config.temperature, symmetric=True)
            opt.zero_grad()
            loss.backward()
            opt.step()
    sizes = (600, 300, 900)
    test = collapse_dataset(CollapseConfig(**{**data.__dict__, "num_originals": sum(sizes)}), seed + 1)
    x = torch.cat([torch.tensor(test.originals, dtype=torch.float32), draw_bits(sum(sizes))], 1)
    with torch.no_grad():
        z = net(x).numpy()
    parts = np.split(np.arange(sum(sizes)), np.cumsum(sizes[:2]))
    return {"part": "bits", "source": "mlp-infonce", "mode": mode, "bits": bits, "p": p, "probe_class": probe_accuracy(*[(z[i], test.y[i]) for i in parts]), "final_loss": loss.item()}


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = []
    for s in range(config.seeds):
        units += [{"task": "size", "seed": s, "K": K, "ratio": r} for K in config.feature_counts for r in config.ratios]
        units += [{"task": "size-gd", "seed": s, "K": config.gd_features, "ratio": r} for r in config.gd_ratios]
        units += [{"task": "size-leak", "seed": s, "K": config.gd_features, "ratio": config.leak_ratio, "scale": k} for k in (1, 4)]
        units += [{"task": "hd", "seed": s, "jitter": j} for j in (0.0, config.hd_jitter)]
        units += [{"task": "hd-gd", "seed": s, "jitter": config.hd_jitter}]
        units += [{"task": "bits", "seed": s, "bits": b, "p": p, "mode": m} for p in config.bits_sizes for b in config.bits for m in ("shared", "fresh") if b > 0 or m == "shared"]

    def work(u: dict) -> list[dict] | dict:
        seed = ctx.seed_for(NAME, *u.values())
        if u["task"] == "size":
            return _exact_rows(_size_data(config, u["K"], u["ratio"]), config.embedding_sizes, seed, "size")
        if u["task"] == "size-leak":
            data = _size_data(config, u["K"], u["ratio"], u["scale"])
            leaks = [_v1_norm(spectral_min_norm(*ucl_moments(collapse_dataset(data, seed + i).views), config.leak_size).weights) for i in range(config.leak_draws)]
            return {"part": "size", "source": "sample-leak", "p": config.leak_size, "norm_v1": float(np.mean(leaks))}
        if u["task"] == "size-gd":
            return _gd_rows(_size_data(config, u["K"], u["ratio"]), config.gd_size, config.gd_steps, config, seed, "size")
        if u["task"] == "hd":
            return _exact_rows(_hd_data(config, u["jitter"]), config.hd_sizes, seed, "hd")
        if u["task"] == "hd-gd":
            return _gd_rows(_hd_data(config, u["jitter"]), config.hd_gd_size, config.hd_gd_steps, config, seed, "hd")
        return _bits_rows(config, u["bits"], u["p"], u["mode"], seed)

    return ctx.sweep(units, work, desc=NAME)


def _select(rows, **where) -> list[dict]:
    return [r for r in rows if all(r.get(k) == v for k, v in where.items())]


def _final_gd(rows, part) -> list[dict]:
    """The last recorded GD row of every (seed, ratio / jitter) run of ``part``."""
    last: dict = {}
    for r in _select(rows, part=part, source="gd"):
        key = (r["seed"], r.get("ratio"), r.get("jitter"))
        if key not in last or r["step"] > last[key]["step"]:
            last[key] = r
    return list(last.values())


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Exact zeros where the ranking rule predicts them; finite-sample and GD agreement; bits dial."""
    pop = _select(rows, part="size", source="population") + _select(rows, part="hd", source="population")
    wrong = sum((r["norm_v1"] < 1e-9) != r["predicted_suppressed"] for r in pop)
    sample = [r for r in _select(rows, part="size", source="sample") if abs(r["ratio"] - 1) >= config.margin]
    supp = max([r["norm_v1"] for r in sample if r["predicted_suppressed"]], default=0.0)
    kept = min([r["norm_v1"] for r in sample if not r["predicted_suppressed"]], default=1.0)
    leak = {k: np.mean([r["norm_v1"] for r in _select(rows, source="sample-leak", scale=k)]) for k in (1, 4)}
    gd = _final_gd(rows, "size")
    gd_gap = max(abs(r["norm_v1"] - r["min_norm_v1"]) for r in gd)
    hd = _select(rows, part="hd", source="sample")
    hd_ref = {(r["seed"], r["p"]): r["norm_v1"] for r in hd if r["jitter"] == 0}
    small = [p for p in config.hd_sizes if p <= config.hd_dim // 10]
    hd_ratio = max(r["norm_v1"] / hd_ref[(r["seed"], r["p"])] for r in hd if r["jitter"] > 0 and r["p"] in small)
    hd_gd = _select(rows, part="hd", source="gd")
    hd_peak = max(r["norm_v1"] for r in hd_gd) / max(max(r["norm_v1"] for r in _final_gd(rows, "hd")), 1e-300)

    def acc(bits, p, mode):
        return float(np.mean([r["probe_class"] for r in _select(rows, part="bits", bits=bits, p=p, mode=mode)]))

    p_lo, p_hi, dial = min(config.bits_sizes), max(config.bits_sizes), config.dial_bits
    clean = min(acc(0, p, "shared") for p in config.bits_sizes)
    fresh = min(acc(b, p, "fresh") for b in config.bits if b > 0 for p in config.bits_sizes)
    return Verdict([
        Check("population min-norm: ||W* v1|| = 0 exactly where the ranking rule predicts (mismatches)", wrong, "0", wrong == 0),
        Check(f"training-set min-norm, |r - 1| >= {config.margin}: max ||W* v1|| where suppressed", supp, "<= 0.15 (exact 0 + O(n^-1/2) leak)", supp <= 0.15),
        Check(f"finite-sample leak ||W* v1|| (r={config.leak_ratio}, p={config.leak_size}, mean of {config.leak_draws} draws): 4n / n", leak[4] / leak[1], "<= 0.7 (shrinks like n^-1/2)", leak[4] / leak[1] <= 0.7),
        Check(f"training-set min-norm, |r - 1| >= {config.margin}: min ||W* v1|| where kept", kept, ">= 0.8", kept >= 0.8),
        Check("GD endpoint vs min-norm ||W v1|| (max abs gap)", gd_gap, "<= 0.1", gd_gap <= 0.1),
        Check(f"imperfect augmentation, p <= {config.hd_dim // 10}: ||W* v1|| / ||W* v1||(tau = 0) (max)", hd_ratio, "<= 0.2", hd_ratio <= 0.2),
        Check("imperfect augmentation, GD: peak ||W_t v1|| / final (learned, then suppressed)", hd_peak, ">= 5", hd_peak >= 5),
        Check("bits: class probe with no bits (min over p)", clean, ">= 0.9", clean >= 0.9),
        Check(f"bits: {dial} shared bits, p = {p_lo}: class probe", acc(dial, p_lo, "shared"), "<= 0.7 (suppressed)", acc(dial, p_lo, "shared") <= 0.7),
        Check(f"bits: {dial} shared bits, p = {p_hi}: class probe", acc(dial, p_hi, "shared"), ">= 0.9 (more dimensions restore)", acc(dial, p_hi, "shared") >= 0.9),
        Check("bits: resampled (fresh) bits, every B and p: class probe (min)", fresh, ">= 0.9 (augmentation restores)", fresh >= 0.9),
    ])


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    seed0 = min(r["seed"] for r in rows)
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(config.embedding_sizes)))
    for ax, K in zip(axes[0], config.feature_counts[:2]):
        for p, color in zip(config.embedding_sizes, colors):
            pop = sorted(_select(rows, part="size", source="population", K=K, p=p, seed=seed0), key=lambda r: r["ratio"])
            smp = sorted(_select(rows, part="size", source="sample", K=K, p=p, seed=seed0), key=lambda r: r["ratio"])
            ax.plot([r["ratio"] for r in pop], [r["norm_v1"] for r in pop], "-", color=color, lw=1.8, label=f"p={p} exact (population)")
            ax.plot([r["ratio"] for r in smp], [r["norm_v1"] for r in smp], "o", color=color, ms=4, alpha=0.8, label=f"p={p} training set")
        if K == config.gd_features:
            for r in _final_gd(rows, "size"):
                ax.plot(r["ratio"], r["norm_v1"], "x", color="red", ms=10, mew=2)
            ax.plot([], [], "x", color="red", ms=8, mew=2, label=f"GD end, p={config.gd_size}")
        ax.axvline(1.0, color="grey", lw=0.7)
        ax.set(xlabel="irrelevant strength  r = phi_K^2 / ((K-2) phi_1^2)", ylabel="||W* v1||  (min-norm L_UCL)", ylim=(-0.05, 1.1),
               title=f"(1) K = {K}: class feature for several p (exact lines for p <= {K - 1} coincide)")
        ax.legend(fontsize=6, ncol=2, loc="center left")

    ax = axes[1, 0]
    for jitter, color in zip((0.0, config.hd_jitter), ("tab:green", "tab:purple")):
        for source, style in (("population", "-"), ("sample", "o")):
            sel = sorted(_select(rows, part="hd", source=source, jitter=jitter, seed=seed0), key=lambda r: r["p"])
            ax.plot([r["p"] for r in sel], [r["norm_v1"] for r in sel], style, color=color, ms=4, label=f"tau={jitter:g}, {'exact' if source == 'population' else 'training set'}")
    ax.axvline(config.hd_dim, color="grey", lw=0.7)
    inset = ax.inset_axes([0.1, 0.25, 0.45, 0.4])
    trace = sorted(_select(rows, part="hd", source="gd", seed=seed0), key=lambda r: r["step"])
    inset.plot([r["step"] + 1 for r in trace], [r["norm_v1"] for r in trace], color="tab:purple")
    inset.axhline(trace[-1]["min_norm_v1"], color="black", ls=":", lw=0.8)
    inset.set_xscale("log")
    inset.set_title(f"GD (tau={config.hd_jitter:g}, p={config.hd_gd_size}): ||W_t v1|| vs step; dotted: min-norm", fontsize=7)
    inset.tick_params(labelsize=6)
    ax.set(xscale="log", xlabel="embedding size p", ylabel="||W* v1||", ylim=(-0.05, 1.1),
           title=f"(2) {config.hd_dim - 2} irrelevant features, class jittered by tau")
    ax.legend(fontsize=7, loc="upper left")

    ax = axes[1, 1]
    for p, ls in zip(config.bits_sizes, ["-", "--", ":", "-."]):
        for mode, color in (("shared", "tab:red"), ("fresh", "tab:blue")):
            xs = [b for b in config.bits if b > 0 or mode == "shared"]
            ys = [np.mean([r["probe_class"] for r in _select(rows, part="bits", bits=b, p=p, mode=("shared" if b == 0 else mode))]) for b in xs]
            ax.plot(xs, ys, ls, marker="o", color=color, ms=4, label=f"{mode} bits, p={p}")
    ax.axhline(0.5, color="grey", lw=0.6)
    ax.set(xlabel="number of random bits B appended to x", ylabel="class probe accuracy (fresh examples)", ylim=(0.4, 1.02),
           title="(3) MLP + InfoNCE: shared vs resampled random bits")
    ax.legend(fontsize=7)
    for ax in axes.flat:
        ax.title.set_fontsize(10)
    fig.tight_layout()
    return fig
