"""Hard, debiased and synthetic hard negatives on clustered data with known false negatives.

Dong, Long, Li, Chen (arXiv 2304.02971) synthesise hard negatives by mixing the hardest ones
and debias the estimator (Chuang et al. 2020); Robinson et al. (2021) reweight negatives by
hardness, with debiasing. On comb data (clustertheory.data.comb_dataset, "mlp" observation)
with a small MLP encoder onto the unit sphere, the false negatives are known exactly: a
negative is false when it shares the anchor's cluster (rate 1/m for uniform negatives of m
equal clusters). Seven ways of using K negatives per anchor, all from the same stream of
P = pool_factor K i.i.d. candidates: plain (the first K, InfoNCE), debiased (Chuang,
tau+ = 1/m), hard-select (top-K of the P by similarity, InfoNCE), hard-weight (Robinson,
beta, tau+ = 0), hard-debiased (Robinson, beta, tau+ = 1/m), synthetic (the first K plus K
mixtures of the top-K, Dong et al.) and synthetic-debiased. Measured across the number of
clusters m and K: the false-negative rate of the negatives each loss sees, cluster
preservation (within / between cluster cosine, k-means purity), linear-probe error, and
how fast the least separated pair of clusters moves apart. The papers' expectations are
empirical: hard negatives without debiasing push same-cluster points apart, debiasing
counters it, synthetic hard negatives speed up separation of nearby clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from clustertheory.analysis.embedding import (
    cluster_similarity,
    kmeans_purity,
    linear_probe_accuracy,
    nearest_cluster,
    probe_split,
)
from clustertheory.config import (
    check_in,
    check_nonneg,
    check_positive,
    check_positive_int,
)
from clustertheory.data import PairSampler, comb_dataset
from clustertheory.functions import MLPEncoder
from clustertheory.losses import (
    debiased,
    hard_debiased,
    hard_negative_indices,
    infonce,
    synthesize_hard_negatives,
)
from clustertheory.losses.hard_negatives import SYNTHESIS_MODES
from clustertheory.simulation import Check, RunContext, SimulationConfig, Verdict
from clustertheory.utils import torch_generator
from simulations.off_dropout import single_cpu_thread

NAME = "hard-negatives"
SUMMARY = "plain / debiased / hard / synthetic-hard negatives on clustered data: false negatives, cluster splitting, separation speed"

METHODS = ("plain", "debiased", "hard-select", "hard-weight", "hard-debiased", "synthetic", "synthetic-debiased")
OBSERVATIONS = ("embedding", "mlp")
MAX_FNR_Z = 4.0  # |FNR of uniform negatives - 1/m| in binomial standard errors (negatives are i.i.d.)


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Comb data (m clusters x points_per_cluster base points x teeth), MLP encoder on S^{d-1}."""

    num_clusters: tuple = (2, 8)
    negatives: tuple = (4, 16)
    points_per_cluster: int = 16
    teeth: int = 4
    observation: str = "mlp"
    obs_dim: int = 16
    embed_dim: int = 8
    width: int = 64
    depth: int = 2
    temperature: float = 0.2
    beta: float = 1.0
    pool_factor: int = 4
    synthesis: str = "mix-negatives"
    steps: int = 300
    batch_size: int = 64
    lr: float = 3e-3
    checkpoints: tuple = (0, 25, 50, 100, 200, 300)
    early_step: int = 50
    seeds: int = 3

    def validate(self) -> None:
        if not self.num_clusters or any(not isinstance(m, int) or m < 2 for m in self.num_clusters):
            raise ValueError(f"num_clusters must be non-empty integers >= 2, got {self.num_clusters}")
        if not self.negatives or any(not isinstance(k, int) or k < 2 for k in self.negatives):
            raise ValueError(f"negatives must be non-empty integers >= 2 (synthesis mixes two hard negatives), got {self.negatives}")
        for name in ("points_per_cluster", "teeth", "obs_dim", "embed_dim", "width", "depth", "steps", "batch_size", "seeds"):
            check_positive_int(name, getattr(self, name))
        check_in("observation", self.observation, OBSERVATIONS)
        check_in("synthesis", self.synthesis, SYNTHESIS_MODES)
        check_positive("temperature", self.temperature)
        check_positive("lr", self.lr)
        check_nonneg("beta", self.beta)
        if check_positive_int("pool_factor", self.pool_factor) < 2:
            raise ValueError(f"pool_factor must be >= 2 (hard selection needs more candidates than K), got {self.pool_factor}")
        if not self.checkpoints or any(not 0 <= int(s) <= self.steps for s in self.checkpoints):
            raise ValueError(f"checkpoints must be non-empty with entries in [0, steps = {self.steps}], got {self.checkpoints}")
        if self.early_step not in self.checkpoints or self.early_step == 0:
            raise ValueError(f"early_step must be one of the non-zero checkpoints {self.checkpoints}, got {self.early_step}")


SCALES = {
    "default": Config(),
    "paper": Config(num_clusters=(2, 4, 8, 16), negatives=(4, 16, 64), steps=1000, checkpoints=(0, 25, 50, 100, 200, 400, 700, 1000), seeds=5),
}


# ----------------------------------------------------------------------------- one training step


def _same(negative_views: torch.Tensor, anchor_cluster: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """(B, k) bool: negative view shares the anchor's cluster (a false negative)."""
    return content[negative_views] == anchor_cluster[:, None]


def method_loss(method: str, z: torch.Tensor, anchor, positive, candidates, content: torch.Tensor, m: int, K: int, config: Config, generator) -> tuple[torch.Tensor, float]:
    """Loss of one step and the false-negative rate of the negatives it sees.

    z (V, d) unit embeddings of every view; anchor, positive (B,), candidates (B, P) view indices.
    FNR: uniform and selected negatives, the share in the anchor's cluster; hardness-weighted
    ones, the share under the tilted law q_j = softmax_j(beta s_j / t); synthetic ones, the
    cluster of the nearest real candidate of the anchor's pool (its dominant mixing source).
    """
    za, zp = z[anchor], z[positive]
    anchor_cluster = content[anchor]
    t, tau_plus = config.temperature, 1.0 / m  # equal clusters: the same-cluster prior is 1/m
    uniform = candidates[:, :K]
    if method in ("plain", "debiased"):
        fnr = _same(uniform, anchor_cluster, content).float().mean()
        kwargs = {"tau_plus": tau_plus} if method == "debiased" else {}
        loss = (debiased if method == "debiased" else infonce)(za, zp, z[uniform], temperature=t, **kwargs)
    elif method == "hard-select":
        chosen = candidates.gather(1, hard_negative_indices(za, z[candidates], K))
        fnr = _same(chosen, anchor_cluster, content).float().mean()
        loss = infonce(za, zp, z[chosen], temperature=t)
    elif method in ("hard-weight", "hard-debiased"):
        with torch.no_grad():
            tilt = torch.softmax(config.beta * torch.einsum("bd,bkd->bk", za, z[uniform]) / t, dim=1)
            fnr = (tilt * _same(uniform, anchor_cluster, content)).sum(dim=1).mean()
        loss = hard_debiased(za, zp, z[uniform], temperature=t, beta=config.beta, tau_plus=tau_plus if method == "hard-debiased" else 0.0)
    else:
        pool_views = candidates.gather(1, hard_negative_indices(za, z[candidates], K))
        synthetic = synthesize_hard_negatives(za, z[pool_views], K, generator, mode=config.synthesis)
        pool = z[candidates].detach()
        synthetic_cluster = torch.as_tensor(nearest_cluster(synthetic.cpu().numpy(), pool.cpu().numpy(), content[candidates].cpu().numpy()), device=z.device)
        same = torch.cat([_same(uniform, anchor_cluster, content), synthetic_cluster == anchor_cluster[:, None]], dim=1)
        fnr = same.float().mean()
        negatives = torch.cat([z[uniform], synthetic], dim=1)
        loss = debiased(za, zp, negatives, temperature=t, tau_plus=tau_plus) if method == "synthetic-debiased" else infonce(za, zp, negatives, temperature=t)
    return loss, float(fnr)


# ----------------------------------------------------------------------------- a run


def cluster_state(z: np.ndarray, labels: np.ndarray) -> dict:
    s = cluster_similarity(z, labels)
    return {"within": s["within"], "between": s["between"], "gap": s["gap"], "closest_pair": s["closest_pair"]}


def _run_unit(config: Config, unit: dict, ctx: RunContext) -> list[dict]:
    m, K = unit["num_clusters"], unit["negatives"]
    seed = ctx.seed_for(NAME, unit["seed"], m, K)  # shared by the seven methods: paired comparison
    data = comb_dataset(m, config.points_per_cluster, config.teeth, observation=config.observation, obs_dim=config.obs_dim, seed=seed)
    x = torch.as_tensor(data.obs, device=ctx.device)
    content = torch.as_tensor(data.content, device=ctx.device)
    encoder = MLPEncoder(config.obs_dim, config.embed_dim, width=config.width, depth=config.depth, dropout=0.0, normalize=True, seed=seed, device=ctx.device)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.lr)
    sampler = PairSampler(data, num_negatives=config.pool_factor * K, device=ctx.device, seed=seed)
    generator = torch_generator(seed + 1, ctx.device)
    rows, fnrs = [], []
    for step in ctx.progress(range(config.steps + 1), desc=f"{unit['method']} m={m} K={K}"):
        if step in config.checkpoints:
            with torch.no_grad():
                rows.append({"kind": "curve", "step": step, **cluster_state(encoder(x).cpu().numpy(), data.content)})
        if step == config.steps:
            break
        anchor, positive, candidates = sampler.sample(config.batch_size)
        z = encoder(x)  # every view once (V <= B P): each loss indexes its anchors / negatives
        loss, fnr = method_loss(unit["method"], z, anchor, positive, candidates, content, m, K, config, generator)
        if step >= config.steps // 2:  # once the embedding has structure
            fnrs.append(fnr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        z = encoder(x).cpu().numpy()
    probe = linear_probe_accuracy(z, data.content, probe_split(len(z), seed=seed))
    rows.append({
        "kind": "final",
        "false_negative_rate": float(np.mean(fnrs)),
        "fnr_samples": len(fnrs) * config.batch_size * K,
        "uniform_rate": 1.0 / m,
        **cluster_state(z, data.content),
        "kmeans_purity": kmeans_purity(z, data.content, seed=seed),
        "probe_error": 1.0 - probe["accuracy"],
        "train_loss": float(loss.detach()),
    })
    return rows


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [
        {"seed": s, "num_clusters": m, "negatives": k, "method": method}
        for s in range(config.seeds) for m in config.num_clusters for k in config.negatives for method in METHODS
    ]
    with single_cpu_thread(ctx.device):
        return ctx.sweep(units, lambda u: _run_unit(config, u, ctx), desc=NAME)


# ----------------------------------------------------------------------------- verdict


def _rows(rows, **where) -> list[dict]:
    return [r for r in rows if all(r.get(k) == v for k, v in where.items())]


def cell_means(rows: list[dict], method: str, key: str, step: int | None = None) -> dict[tuple[int, int], float]:
    """Mean over seeds of ``key`` per (m, K): the final row, or the curve at ``step``."""
    selected = _rows(rows, kind="final", method=method) if step is None else _rows(rows, kind="curve", method=method, step=step)
    cells: dict[tuple[int, int], list[float]] = {}
    for r in selected:
        cells.setdefault((r["num_clusters"], r["negatives"]), []).append(r[key])
    return {cell: float(np.mean(v)) for cell, v in cells.items()}


def _worst(first: dict, second: dict) -> tuple[float, str]:
    """min over cells of first - second, and the per-cell differences as text."""
    diffs = {cell: first[cell] - second[cell] for cell in first if cell in second}
    text = ", ".join(f"m={m},K={k}: {d:+.3f}" for (m, k), d in sorted(diffs.items()))
    return (min(diffs.values()) if diffs else float("nan")), text


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Package checks (the uniform false-negative rate is 1/m; probes beat chance) and the
    papers' expectations, each required in every (m, K) cell (mean over seeds)."""
    finals = _rows(rows, kind="final")
    uniform = [r for r in finals if r["method"] in ("plain", "debiased")]
    fnr_z = max(abs(r["false_negative_rate"] - r["uniform_rate"]) / np.sqrt(r["uniform_rate"] * (1 - r["uniform_rate"]) / r["fnr_samples"]) for r in uniform)
    chance_margin = min((1 - r["probe_error"]) - 1.0 / r["num_clusters"] for r in finals)
    within = {method: cell_means(rows, method, "within") for method in METHODS}
    fnr = {method: cell_means(rows, method, "false_negative_rate") for method in ("plain", "hard-select")}
    early = {method: cell_means(rows, method, "closest_pair", step=config.early_step) for method in ("plain", "synthetic")}
    checks = []

    def expect(name: str, pair: tuple[float, str], predicted: str) -> None:
        value, text = pair
        checks.append(Check(name, text, predicted, bool(value > 0)))

    checks.append(Check("package: FNR of uniform negatives vs the exact rate 1/m (max |z| in binomial se)", float(fnr_z), f"<= {MAX_FNR_Z}", fnr_z <= MAX_FNR_Z))
    checks.append(Check("package: every probe beats chance (min accuracy - 1/m)", chance_margin, "> 0", chance_margin > 0))
    expect("paper: hard selection raises the FNR (hard-select - plain)", _worst(fnr["hard-select"], fnr["plain"]), "> 0 in every (m, K)")
    expect("paper: hard-select splits clusters (within-cluster cosine, plain - hard-select)", _worst(within["plain"], within["hard-select"]), "> 0 in every (m, K)")
    expect("paper: hardness weighting splits clusters (plain - hard-weight)", _worst(within["plain"], within["hard-weight"]), "> 0 in every (m, K)")
    expect("paper: debiasing counters it (within, hard-debiased - hard-weight)", _worst(within["hard-debiased"], within["hard-weight"]), "> 0 in every (m, K)")
    expect("paper: debiasing synthetic negatives keeps clusters tighter (synthetic-debiased - synthetic)", _worst(within["synthetic-debiased"], within["synthetic"]), "> 0 in every (m, K)")
    expect(f"paper: synthetic negatives separate the closest clusters faster (closest-pair cosine at step {config.early_step}, plain - synthetic)", _worst(early["plain"], early["synthetic"]), "> 0 in every (m, K)")
    return Verdict(checks)


# ----------------------------------------------------------------------------- figure

COLORS = dict(zip(METHODS, ("tab:grey", "tab:green", "tab:red", "tab:orange", "tab:brown", "tab:blue", "tab:purple")))


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    cells = [(m, k) for m in config.num_clusters for k in config.negatives]
    fig = plt.figure(figsize=(17, 7.5))
    grid = fig.add_gridspec(2, max(4, len(cells)))
    width = 0.8 / len(METHODS)
    panels = (
        ("false_negative_rate", "false-negative rate of the negatives seen (dotted: 1/m)"),
        ("within", "within-cluster cosine (final; lower = split)"),
        ("gap", "within - between cosine (final)"),
        ("kmeans_purity", "k-means purity (final)"),
    )
    for i, (key, title) in enumerate(panels):
        ax = fig.add_subplot(grid[0, i])
        for j, method in enumerate(METHODS):
            means = cell_means(rows, method, key)
            values = [means.get(cell, np.nan) for cell in cells]
            ax.bar(np.arange(len(cells)) + (j - (len(METHODS) - 1) / 2) * width, values, width, color=COLORS[method], label=method)
        ax.set_xticks(np.arange(len(cells)), [f"m={m}, K={k}" for m, k in cells], fontsize=7)
        ax.set_title(title, fontsize=9)
        if key == "false_negative_rate":
            for c, (m, _) in enumerate(cells):
                ax.hlines(1.0 / m, c - 0.45, c + 0.45, color="black", ls=":", lw=1)
            ax.legend(fontsize=6, ncol=2)
    steps = sorted(config.checkpoints)
    for i, (m, k) in enumerate(cells):
        ax = fig.add_subplot(grid[1, i])
        for method in METHODS:
            curve = [cell_means(rows, method, "closest_pair", step=s).get((m, k), np.nan) for s in steps]
            ax.plot(steps, curve, marker="o", ms=2.5, lw=1.2, color=COLORS[method], label=method)
        ax.axvline(config.early_step, color="black", ls=":", lw=0.8)
        ax.set_xlabel("training step")
        ax.set_title(f"closest cluster pair cosine, m={m}, K={k}", fontsize=9)
    fig.axes[len(panels)].set_ylabel("mean cosine of the least separated pair")
    fig.suptitle(
        f"Hard / debiased / synthetic negatives on comb data ({config.observation} observation, d={config.embed_dim}, "
        f"t={config.temperature}, beta={config.beta}; mean over {config.seeds} seeds; probe error is in the table)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
