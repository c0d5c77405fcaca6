"""Joint loss (Xue et al. 2023): SCL collapses the subclass, UCL suppresses the class, beta SCL + (1-beta) UCL keeps both.

Data: class v_1 (phi_1 = 1), a stronger subclass v_2 (phi_2 = 2) and one irrelevant feature
v_3 (phi_3 = 1.25), mu = 0, embedding size p = 3. For f(x) = W x + b the exact minimum-norm
minimisers (theorem, computed from the eigen-structure of the moments) are: L_SCL keeps only
v_1 and the bias (||W v_2|| = 0, class collapse); L_UCL keeps the bias, v_2 and v_3 and drops
v_1 (||W v_1|| = 0, feature suppression); L_joint for every 0 < beta < 1 keeps v_1 and v_2.
Measured across beta exactly (population and training set), by gradient descent, by linear
probes on fresh examples, and, beyond the spectral form, with the same linear model trained on
beta SupCon + (1 - beta) InfoNCE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from clustertheory.utils import one_thread_below
from clustertheory.analysis.min_norm import population_moments, range_basis, spectral_gradient_descent, spectral_min_norm
from clustertheory.config import check_nonneg, check_positive, check_positive_int, check_probability
from clustertheory.data.collapse import CollapseConfig, collapse_dataset
from clustertheory.losses import infonce, supcon_out
from clustertheory.losses.spectral import joint_moments, with_bias
from clustertheory.simulation import Check, RunContext, SimulationConfig, Verdict
from simulations.class_collapse import probe_accuracy

NAME = "joint-loss"
SUMMARY = "beta SCL + (1-beta) UCL keeps class and subclass features where SCL collapses and UCL suppresses"


@dataclass(frozen=True)
class Config(SimulationConfig):
    dim: int = 100
    num_originals: int = 20000
    num_augmentations: int = 2
    class_strength: float = 1.0
    subclass_strength: float = 2.0
    irrelevant_strength: float = 1.25
    subclass_mean: float = 0.0
    noise: float = 5.0
    p: int = 3
    betas: tuple = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
    gd_steps: int = 5000
    lr: float = 0.05
    init_scale: float = 0.001
    nce_betas: tuple = (0.0, 0.5, 1.0)
    nce_steps: int = 600
    nce_batch: int = 256
    temperature: float = 0.2
    probe_sizes: tuple = (600, 300, 900)
    seeds: int = 2

    def validate(self) -> None:
        for name in ("dim", "num_originals", "num_augmentations", "p", "gd_steps", "nce_steps", "seeds"):
            check_positive_int(name, getattr(self, name))
        if self.num_augmentations < 2:
            raise ValueError(f"num_augmentations must be >= 2 (UCL positive pairs), got {self.num_augmentations}")
        if self.nce_batch < 3:
            raise ValueError(f"nce_batch must be >= 3 (SupCon needs a positive and a negative), got {self.nce_batch}")
        for name in ("class_strength", "subclass_strength", "irrelevant_strength", "noise", "init_scale"):
            check_nonneg(name, getattr(self, name))
        check_positive("lr", self.lr)
        check_positive("temperature", self.temperature)
        for name in ("betas", "nce_betas"):
            if not getattr(self, name):
                raise ValueError(f"{name} must be non-empty")
            for beta in getattr(self, name):
                check_probability(name, beta)
        if 0.0 not in self.betas or 1.0 not in self.betas or not any(0 < b < 1 for b in self.betas):
            raise ValueError(f"betas must contain 0, 1 and at least one value in (0, 1), got {self.betas}")
        if len(self.probe_sizes) != 3:
            raise ValueError(f"probe_sizes must be (train, val, test), got {self.probe_sizes}")
        for size in self.probe_sizes:
            check_positive_int("probe_sizes", size)

    def data_config(self, num_originals: int | None = None) -> CollapseConfig:
        return CollapseConfig(
            dim=self.dim, num_features=3, num_originals=num_originals or self.num_originals,
            num_augmentations=self.num_augmentations, class_strength=self.class_strength,
            subclass_strength=self.subclass_strength, irrelevant_strength=self.irrelevant_strength,
            subclass_mean=self.subclass_mean, noise=self.noise,
        )


SCALES = {
    "default": Config(),
    "paper": Config(seeds=5, num_originals=50000, gd_steps=20000, nce_steps=2000, betas=(0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1.0)),
}


def _probes(z: np.ndarray, probe, parts) -> dict:
    return {
        f"probe_{name}": probe_accuracy(*[(z[i], labels[i]) for i in parts])
        for name, labels in (("class", probe.y), ("subclass", probe.y_sub))
    }


def _norms(W: np.ndarray) -> dict:
    return {f"norm_v{i + 1}": float(np.linalg.norm(W[:, i])) for i in range(3)}


def _run_seed(config: Config, seed: int) -> list[dict]:
    data = config.data_config()
    train = collapse_dataset(data, seed)
    probe = collapse_dataset(config.data_config(sum(config.probe_sizes)), seed + 1)
    x = with_bias(probe.originals)
    parts = np.split(np.arange(len(x)), np.cumsum(config.probe_sizes[:2]))
    rows = []
    for beta in config.betas:
        S_pop, M_pop = population_moments(data, "joint", beta=beta)
        rows.append({"source": "population", "beta": beta, **_norms(spectral_min_norm(S_pop, M_pop, config.p).weights)})
        S, M = joint_moments(train.views, train.y, beta)
        basis = range_basis(S)
        W = spectral_min_norm(S, M, config.p, basis=basis).weights
        rows.append({"source": "min-norm", "beta": beta, **_norms(W), **_probes(x @ W.T, probe, parts)})
        gd = spectral_gradient_descent(S, M, config.p, steps=config.gd_steps, lr=config.lr, init_scale=config.init_scale, seed=seed, record_at=[config.gd_steps], basis=basis)
        _, W = next(gd)
        rows.append({"source": "gd", "beta": beta, **_norms(W), **_probes(x @ W.T, probe, parts)})
    for beta in config.nce_betas:
        W = _train_nce(config, train, beta, seed)
        rows.append({"source": "supcon+infonce", "beta": beta, **_norms(W), **_probes(x @ W.T, probe, parts)})
    return rows


def _train_nce(config: Config, train, beta: float, seed: int) -> np.ndarray:
    """Linear f(x) = W x + b trained with Adam on beta SupCon_out + (1 - beta) InfoNCE (in-batch, cosine).

    Each step draws a batch of originals and their first two augmentations; SupCon runs on the
    2B views with class labels, InfoNCE on the B positive pairs (symmetric, NT-Xent style).
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    views = torch.tensor(with_bias(train.views[:, :2]), dtype=torch.float32)
    labels = torch.tensor(train.y)
    n = views.shape[0]
    W = torch.nn.Parameter(0.01 * torch.randn(config.p, views.shape[-1], generator=gen))
    opt = torch.optim.Adam([W], lr=1e-2)
    with one_thread_below(4 * config.nce_batch**2):
        for _ in range(config.nce_steps):
            idx = torch.randint(n, (config.nce_batch,), generator=gen)
            z1, z2 = views[idx, 0] @ W.T, views[idx, 1] @ W.T
            loss = z1.new_zeros(())
            if beta > 0:
                loss = loss + beta * supcon_out(torch.cat([z1, z2]), labels[idx].repeat(2), temperature=config.temperature)
            if beta < 1:
                loss = loss + (1 - beta) * infonce(z1, z2, temperature=config.temperature, symmetric=True, same_view_negatives=True)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return W.detach().double().numpy()


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [{"seed": s} for s in range(config.seeds)]
    return ctx.sweep(units, lambda u: _run_seed(config, ctx.seed_for(NAME, u["seed"])), desc=NAME)


def _select(rows, **where) -> list[dict]:
    return [r for r in rows if all(r.get(k) == v for k, v in where.items())]


def verdict(rows: list[dict], config: Config) -> Verdict:
    """SCL (beta = 1): v_2 gone, subclass unreadable; UCL (beta = 0): v_1 gone, class unreadable;
    joint (0 < beta < 1): both kept and both readable - exactly, and at the GD endpoint."""
    exact = _select(rows, source="population")
    sample = _select(rows, source="min-norm") + _select(rows, source="gd")
    # A feature's norm relative to the loss that keeps it: v1 against SCL, v2 against UCL.
    keeper = {(r["source"], r["seed"], i): r[f"norm_v{i}"] for r in rows for i, b in ((1, 1.0), (2, 0.0)) if r["beta"] == b}

    def rel(r: dict, i: int) -> float:
        return r[f"norm_v{i}"] / max(keeper[(r["source"], r["seed"], i)], 1e-300)

    def worst(rs: list[dict], i: int, beta: float) -> float:
        return max(rel(r, i) for r in rs if r["beta"] == beta)

    joint_both = min(min(rel(r, 1), rel(r, 2)) for r in exact + sample if 0 < r["beta"] < 1)
    best, gd = _select(rows, source="min-norm"), _select(rows, source="gd")
    scl_sub = max(r["probe_subclass"] for r in best if r["beta"] == 1.0)
    ucl_cls = max(r["probe_class"] for r in best if r["beta"] == 0.0)
    gd_lost = max([r["probe_subclass"] for r in gd if r["beta"] == 1.0] + [r["probe_class"] for r in gd if r["beta"] == 0.0])
    joint_probe = min(min(r["probe_class"], r["probe_subclass"]) for r in best + gd if 0 < r["beta"] < 1)
    return Verdict([
        Check("SCL (beta=1), population min-norm: ||W v2|| / ||W_UCL v2||", worst(exact, 2, 1.0), "<= 1e-9 (theorem: 0)", worst(exact, 2, 1.0) <= 1e-9),
        Check("UCL (beta=0), population min-norm: ||W v1|| / ||W_SCL v1||", worst(exact, 1, 0.0), "<= 1e-9 (theorem: 0)", worst(exact, 1, 0.0) <= 1e-9),
        Check("SCL, training-set min-norm and GD: ||W v2|| / ||W_UCL v2|| (max)", worst(sample, 2, 1.0), "<= 0.1 (class collapse)", worst(sample, 2, 1.0) <= 0.1),
        Check("UCL, training-set min-norm and GD: ||W v1|| / ||W_SCL v1|| (max)", worst(sample, 1, 0.0), "<= 0.1 (feature suppression)", worst(sample, 1, 0.0) <= 0.1),
        Check("joint (0<beta<1): min of both relative norms, exact, min-norm and GD", joint_both, ">= 0.1 (keeps both)", joint_both >= 0.1),
        Check("SCL min-norm: subclass probe accuracy (max)", scl_sub, "<= 0.65 (chance 0.5)", scl_sub <= 0.65),
        Check("UCL min-norm: class probe accuracy (max)", ucl_cls, "<= 0.65 (chance 0.5)", ucl_cls <= 0.65),
        Check("GD endpoint: lost feature's probe accuracy, SCL subclass / UCL class (max)", gd_lost, "<= 0.75 (init residue in the spare row)", gd_lost <= 0.75),
        Check("joint: class and subclass probe accuracy, min-norm and GD (min)", joint_probe, ">= 0.9", joint_probe >= 0.9),
    ])


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    seeds = sorted({r["seed"] for r in rows})
    betas = sorted(config.betas)

    def mean(source, beta, key):
        vals = [r[key] for r in _select(rows, source=source, beta=beta) if key in r]
        return float(np.mean(vals)) if vals else np.nan

    ax = axes[0]
    for i, (color, name) in enumerate([("tab:red", "v1 class"), ("tab:blue", "v2 subclass"), ("tab:grey", "v3 irrelevant")], start=1):
        ax.plot(betas, [mean("population", b, f"norm_v{i}") for b in betas], "-", color=color, label=f"||W* {name}|| exact")
        ax.plot(betas, [mean("gd", b, f"norm_v{i}") for b in betas], "x", color=color, ms=8, mew=2, label=f"GD, {config.gd_steps} steps")
    ax.set(xlabel="beta (0 = UCL, 1 = SCL)", ylabel="norm", title=f"spectral loss, p = {config.p}: min-norm and GD")
    ax.legend(fontsize=6)

    ax = axes[1]
    for key, color in (("probe_class", "tab:red"), ("probe_subclass", "tab:blue")):
        ax.plot(betas, [mean("min-norm", b, key) for b in betas], "-o", color=color, ms=4, label=f"{key[6:]}, min-norm")
        ax.plot(betas, [mean("gd", b, key) for b in betas], "x", color=color, ms=8, mew=2, label=f"{key[6:]}, GD")
    ax.axhline(0.5, color="grey", lw=0.6)
    ax.set(xlabel="beta", ylabel="probe accuracy (fresh examples)", ylim=(0.4, 1.02), title="linear probes on the spectral-loss embeddings")
    ax.legend(fontsize=7)

    ax = axes[2]
    nce = sorted(config.nce_betas)
    for key, color in (("probe_class", "tab:red"), ("probe_subclass", "tab:blue")):
        ax.plot(nce, [mean("supcon+infonce", b, key) for b in nce], "-o", color=color, label=key[6:])
    ax.axhline(0.5, color="grey", lw=0.6)
    ax.set(xlabel="beta (0 = InfoNCE, 1 = SupCon)", ylabel="probe accuracy", ylim=(0.4, 1.02), title=f"linear model, beta SupCon + (1-beta) InfoNCE ({len(seeds)} seeds)")
    ax.legend(fontsize=7)
    for ax in axes:
        ax.title.set_fontsize(10)
    fig.tight_layout()
    return fig
