"""Hard, debiased and synthetic hard negatives on data whose clusters are the latent classes.

Comb data with leak (clustertheory.data.comb_dataset): a positive of base point i is, with
probability ``leak``, a view of another base point of its cluster, so the augmentation graph
joins each cluster into one latent class and a negative from the anchor's cluster is a real
false negative (with leak 0 each base point is its own class and spreading a cluster is the
optimum, not damage). An MLP encoder onto the unit sphere is trained, every seed and method of
one (m, K) cell as one ensemble, with K negatives per anchor taken from P = pool_factor K
candidates drawn from the natural images, never the anchor itself. The ways of using them
(clustertheory.losses.hard_negatives.NEGATIVE_METHODS: plain, debiased with the data's exact
false-negative prior and with an over-estimate, Robinson's hardness weighting without and with
debiasing, with the weights' gradient as in the HCL code or detached, hard selection, and Dong
et al.'s synthetic negatives without and with debiasing) all score K negatives; ``methods``
names the ones trained (by default the eight the claims compare).

Measured per run: the false-negative rate of the negatives each loss sees, the share of
anchors at the Chuang floor, the cosine of the negatives to their anchor (on fresh batches in
the second half of training), and what happened to the classes: within- and between-class
cosine, the separation of the closest pair (the merge detector), k-means purity and the state
(preserved / merged / split / mixed, clustertheory.analysis.embedding.cluster_state).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from clustertheory.analysis import arms
from clustertheory.analysis.embedding import (
    cluster_similarity,
    cluster_state,
    false_negative_prior,
    false_negative_rate,
    kmeans_purity,
    nearest_cluster,
)
from clustertheory.config import Integer, OneOf, Real, TupleOf
from clustertheory.data import PairSampler, base_components, comb_dataset
from clustertheory.data.sampling import negatives_excluding_anchor
from clustertheory.functions import EnsembleMLP
from clustertheory.losses import debiased_from_similarities
from clustertheory.losses.hard_negatives import (
    NEGATIVE_METHODS,
    SYNTHESIS_MODES,
    method_settings,
    select_negatives,
)
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.training.fitting import FitConfig, fit
from clustertheory.utils import torch_generator

NAME = "hard-negatives"
SUMMARY = "plain / debiased / hard / synthetic negatives where clusters are latent classes: false negatives, floor share, split / merge / preserve"

CELL = ("num_clusters", "num_negatives")
CLAIMED = ("plain", "debiased", "debiased-overestimated", "hard-weight", "hard-debiased", "hard-debiased-detached", "hard-select", "synthetic")


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Comb data (m clusters x points_per_cluster base points x teeth, leaking positives), an
    MLP encoder onto the sphere, its fitting settings (``train``), and the claims' thresholds.

    leak 0.5: half of the positive pairs join two base points of a cluster (any leak > 0
    connects a cluster; 0.5 makes class and instance signal equally strong). temperature 0.5
    and hardness 1 are the defaults of Robinson et al.'s HCL code (temperature, beta). pool_factor 4: hard
    selection keeps the hardest quarter of the candidates. overestimate 1.5: the mis-specified
    arm's tau+ is 50 % above the truth, the direction that drives anchors to the floor of
    Chuang's estimator. m in {2, 8}, K in {4, 16}: few clusters = many false negatives.
    methods: the methods trained; every one a claim compares must be there (add
    "synthetic-debiased" for Dong et al.'s debiased synthetic negatives, which no claim uses).
    Measurements (false negatives, floor, negative cosine) use ``measure_batch`` fresh anchors
    at every checkpoint from train.steps / 2 on. minimal_cosine, minimal_purity and
    minimal_separation are the smallest effects counted as a paper's (fixed before any run):
    0.05 of cosine or purity (5 % of the range from orthogonal to identical, or of the points
    k-means places), and 0.05 of separation (the merge detector's own threshold).
    """

    num_clusters: tuple = (2, 8)
    num_negatives: tuple = (4, 16)
    methods: tuple = CLAIMED
    points_per_cluster: int = 8
    teeth: int = 2
    leak: float = 0.5
    obs_dim: int = 16
    width: int = 32
    depth: int = 2
    embed_dim: int = 8
    temperature: float = 0.5
    hardness: float = 1.0
    pool_factor: int = 4
    overestimate: float = 1.5
    synthesis: str = "mix-negatives"
    train: FitConfig = FitConfig(steps=300, lr=3e-3, batch_size=64)
    checkpoints: tuple = (0, 25, 50, 100, 150, 200, 300)
    measure_batch: int = 128
    seeds: int = 10
    minimal_cosine: float = 0.05
    minimal_purity: float = 0.05
    minimal_separation: float = 0.05
    min_fnr_gain: float = 0.05
    max_floor_share: float = 0.5

    constraints = {
        "num_clusters": TupleOf(Integer(2), increasing=True),
        "num_negatives": TupleOf(Integer(2), increasing=True),
        "methods": TupleOf(OneOf(*NEGATIVE_METHODS), distinct=True),
        "points_per_cluster": Integer(2),
        "teeth": Integer(1),
        "leak": Real(0, 1, open_lo=True, open_hi=True),
        "obs_dim": Integer(1),
        "width": Integer(1),
        "depth": Integer(1),
        "embed_dim": Integer(2),
        "temperature": Real(0, open_lo=True),
        "hardness": Real(0, open_lo=True),
        "pool_factor": Integer(2),
        "overestimate": Real(1, open_lo=True),
        "synthesis": OneOf(*SYNTHESIS_MODES),
        "checkpoints": TupleOf(Integer(0), min_len=2, increasing=True),
        "measure_batch": Integer(2),
        "seeds": Integer(2),
        "minimal_cosine": Real(0, open_lo=True),
        "minimal_purity": Real(0, open_lo=True),
        "minimal_separation": Real(0, open_lo=True),
        "min_fnr_gain": Real(0, 1, open_lo=True),
        "max_floor_share": Real(0, 1, open_lo=True),
    }

    def validate(self) -> None:
        if not set(CLAIMED) <= set(self.methods):
            raise ValueError(f"methods must include every method the claims compare, {CLAIMED}; got {self.methods}")
        if self.checkpoints[0] != 0 or self.checkpoints[-1] != self.train.steps:
            raise ValueError(f"checkpoints must run from 0 to train.steps = {self.train.steps}, got {self.checkpoints}")


SCALES = {
    "default": Config(),
    "paper": Config(num_clusters=(2, 4, 8, 16), num_negatives=(4, 16, 64), points_per_cluster=16, seeds=20,
                    train=FitConfig(steps=1000, lr=3e-3, batch_size=64), checkpoints=(0, 50, 100, 200, 400, 700, 1000)),
}


# ----------------------------------------------------------------------------- one cell


def train_cell(config: Config, units: list[dict], ctx: RunContext) -> list[list[dict]]:
    """One ensemble for the units (method x seed) of one (m, K) cell; rows per unit."""
    m, K = units[0]["num_clusters"], units[0]["num_negatives"]
    cell_seed = ctx.seed_for(NAME, m, K)
    datasets = [comb_dataset(m, config.points_per_cluster, config.teeth, leak=config.leak, observation="mlp",
                             obs_dim=config.obs_dim, seed=ctx.seed_for(NAME, m, K, s)) for s in range(config.seeds)]
    data = datasets[0]  # every seed has the same structure; only the observation map differs
    component = base_components(data)
    view_class = torch.full((data.num_views,), -1, dtype=torch.long, device=ctx.device)
    view_class[torch.as_tensor(data.base_view, device=ctx.device)] = torch.as_tensor(component, dtype=torch.long, device=ctx.device)
    tau_plus = false_negative_prior(component, data.base_weight)
    base_view = torch.as_tensor(data.base_view, device=ctx.device)
    base_of_view = torch.zeros(data.num_views, dtype=torch.long, device=ctx.device)
    base_of_view[base_view] = torch.arange(data.num_base, device=ctx.device)
    seeds = [u["seed"] for u in units]
    x = torch.stack([torch.as_tensor(datasets[s].obs) for s in seeds]).to(ctx.device)
    encoder = EnsembleMLP(config.obs_dim, config.embed_dim, [ctx.seed_for(NAME, m, K, s) for s in seeds],
                          width=config.width, depth=config.depth, dropout=0.0, normalize=True, device=ctx.device)
    methods = [u["method"] for u in units]
    if sorted(range(len(units)), key=lambda i: NEGATIVE_METHODS.index(methods[i])) != list(range(len(units))):
        raise ValueError("units of a cell must come grouped by method (as run() lists them)")
    settings = [method_settings(method, tau_plus, config.hardness, config.overestimate) for method in methods]
    blocks = {}  # selection -> the members using it (contiguous: NEGATIVE_METHODS lists the selections in runs)
    for i, (selection, *_) in enumerate(settings):
        blocks[selection] = slice(blocks.get(selection, slice(i, i)).start, i + 1)
    B_train, B_measure = config.train.batch_size, config.measure_batch
    per_anchor = {B: [torch.tensor([s[i] for s in settings], device=ctx.device)[:, None].expand(-1, B) for i in (1, 2, 3)] for B in (B_train, B_measure)}
    samplers = [PairSampler(data, seed=cell_seed + i, device=ctx.device) for i in range(2)]  # training, measuring
    candidate_draws, mixing_draws = ([torch_generator(cell_seed + offset + i, ctx.device) for i in range(2)] for offset in (2, 4))  # training, measuring
    P = config.pool_factor * K
    curves, measured = [[] for _ in units], [[] for _ in units]

    def losses(z, size: int, stream: int):
        """Every member's per-anchor losses (E, B) on a fresh batch (the same for every member of a
        seed), the floor flags (E, B), and what the negatives were."""
        anchor, positive, _ = samplers[stream].sample(size, groups=config.seeds)
        candidates = negatives_excluding_anchor(data, anchor, P, candidate_draws[stream])
        anchor, positive, candidates = anchor[seeds], positive[seeds], candidates[seeds]  # (E, B), (E, B), (E, B, P)
        d = z.shape[-1]
        za = z.gather(1, anchor[..., None].expand(-1, -1, d))  # gather, not advanced indexing: a cheap backward
        s_pos = (za * z.gather(1, positive[..., None].expand(-1, -1, d))).sum(-1)  # (E, B)
        s_pool = torch.bmm(za, z.index_select(1, base_view).transpose(1, 2)).gather(2, base_of_view[candidates])  # (E, B, P) via (E, B, N)
        negatives, picked = [], []
        for selection, g in blocks.items():
            n = (g.stop - g.start) * size
            pool = candidates[g].reshape(n, P)

            def views(index, pool=pool, g=g, n=n):  # detached embeddings of candidates (n, k) -> (n, k, d)
                return z.detach()[g][torch.arange(n, device=z.device)[:, None] // size, pool.gather(1, index)]

            sims, chosen, mixed = select_negatives(selection, za[g].reshape(n, -1), s_pool[g].reshape(n, P), views, K, mixing_draws[stream], config.synthesis)
            negatives.append(sims.view(-1, size, K))
            picked.append((g, pool, chosen, mixed, views))
        negatives = torch.cat(negatives)
        tau, hardness, detach = per_anchor[size]
        rows, floor = debiased_from_similarities(s_pos, negatives, temperature=config.temperature, tau_plus=tau, hardness=hardness, detach_weights=detach)
        return rows, floor, negatives, anchor, picked

    def measure(z) -> None:
        """False negatives, floor share and negative cosine of every member on a measurement batch;
        hardness-weighted negatives count with their weights."""
        _, floor, negatives, anchor, picked = losses(z, B_measure, 1)
        weights = torch.softmax(per_anchor[B_measure][1][..., None] * negatives / config.temperature, dim=-1)  # hardness 0: uniform
        for g, pool, chosen, mixed, views in picked:
            classes = view_class[pool.gather(1, chosen)]
            if mixed is not None:  # a synthetic negative counts in the class of its nearest real candidate
                nearest = nearest_cluster(mixed, views(torch.arange(P, device=z.device).expand(len(pool), P)), view_class[pool])
                classes = torch.cat([classes, torch.as_tensor(nearest, device=z.device)], dim=1)
            for j, member in enumerate(range(g.start, g.stop)):
                measured[member].append({
                    "false_negative_rate": false_negative_rate(view_class[anchor[member]], classes[j * B_measure : (j + 1) * B_measure], weights[member]),
                    "floor_share": float(floor[member].float().mean()),
                    "negative_cosine": float((negatives[member] * weights[member]).sum(dim=1).mean()),
                })

    def checkpoint(step: int) -> None:
        with torch.no_grad():
            z = encoder(x)
            similarity = cluster_similarity(z.cpu().numpy(), data.content)
            for i in range(len(units)):
                curves[i].append({"kind": "curve", "step": step, **{key: float(value[i]) for key, value in similarity.items()}})
            if step >= config.train.steps / 2:
                measure(z)

    fit(encoder, lambda step: losses(encoder(x), B_train, 0)[0].mean(dim=1).sum(), config.train, checkpoints=config.checkpoints, on_checkpoint=checkpoint)
    with torch.no_grad():
        z = encoder(x).cpu().numpy()
    purity = kmeans_purity(z, data.content, seed=cell_seed, restarts=4)
    results = []
    for i in range(len(units)):
        final = {key: float(np.mean([r[key] for r in measured[i]])) for key in ("false_negative_rate", "floor_share", "negative_cosine")}
        final.update({key: curves[i][-1][key] for key in ("within", "between", "separation")})
        final.update(kind="final", kmeans_purity=float(purity[i]), prior=tau_plus, classes=len(set(component.tolist())),
                     negatives_seen=len(measured[i]) * B_measure * K, state=cluster_state(final["within"], final["separation"], float(purity[i])),
                     separation_area=float(np.mean([r["separation"] for r in curves[i][1:]])))
        results.append(curves[i] + [final])
    return results


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [{"num_clusters": m, "num_negatives": k, "method": method, "seed": s}
             for m in config.num_clusters for k in config.num_negatives for method in NEGATIVE_METHODS if method in config.methods for s in range(config.seeds)]
    return ctx.sweep_batched(units, lambda u: (u["num_clusters"], u["num_negatives"]), lambda batch: train_cell(config, batch, ctx), desc=NAME)


# ----------------------------------------------------------------------------- verdict

SOURCES = {
    "robinson": "Robinson et al. 2021 (hard negatives, HCL), Sec. 3",
    "chuang": "Chuang et al. 2020 (debiased contrastive learning), Sec. 3",
    "dong": "Dong et al. 2023 (synthetic hard negatives), Sec. 3",
    "ours": "this package's prediction (from the estimator and the HCL code)",
}


def worst_cell(finals: list[dict], key: str, method: str, control: str | None = None) -> float:
    """min over (m, K) cells of the mean over seeds of ``key`` for ``method`` (minus ``control``'s)."""
    treated = arms.cell_means(finals, key, CELL, method=method)
    base = arms.cell_means(finals, key, CELL, method=control) if control else {c: 0.0 for c in treated}
    return min(treated[c] - base[c] for c in treated)


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Package checks (the classes are the clusters; uniform negatives carry exactly the prior's
    false negatives) and the papers' claims, each pooled over the (m, K) sweep per seed."""
    finals = arms.select(rows, kind="final")
    plain = arms.select(finals, method="plain")
    cells = sorted({tuple(r[c] for c in CELL) for r in finals})
    z_scores = []
    for cell in cells:
        runs = [r for r in plain if tuple(r[c] for c in CELL) == cell]
        prior, seen = runs[0]["prior"], sum(r["negatives_seen"] for r in runs)
        z_scores.append(abs(np.mean([r["false_negative_rate"] for r in runs]) - prior) / np.sqrt(prior * (1 - prior) / seen))
    checks = [
        Check.all_of("every cluster is one latent class (the augmentation graph joins its base points)", [r["classes"] == r["num_clusters"] for r in finals]),
        Check.at_most("false-negative rate of uniform negatives vs the exact prior (max |z| over cells, binomial se)", float(max(z_scores)), 4.0),
    ]

    def fnr_gain(method):
        return Check.at_least(f"{method} picks more false negatives than uniform sampling (FNR gain, worst cell)", worst_cell(finals, "false_negative_rate", method, "plain"), config.min_fnr_gain)

    def preserved(method):
        runs = arms.select(finals, method=method)
        return Check.at_least(f"{method} keeps the classes (share of runs 'preserved': no merge, no split)", float(np.mean([r["state"] == "preserved" for r in runs])), 0.9)

    def claim(name, source, statement, key, treated, control, units, minimal, direction, preconditions):
        t, c = arms.paired(finals, key, "method", treated, control)
        return Claim.from_paired(name, SOURCES[source], statement, t, c, units, minimal_effect=minimal if direction == "greater" else -minimal,
                                 direction=direction, preconditions=preconditions)

    claims = [
        claim("hard-selection-splits-classes", "robinson", "hard negatives without debiasing push same-class points apart",
              "within", "hard-select", "plain", "within-class cosine, hard-select - plain", config.minimal_cosine, "less", [fnr_gain("hard-select"), preserved("plain")]),
        claim("hard-selection-breaks-classes", "robinson", "hard negatives without debiasing damage the class structure (k-means no longer recovers it)",
              "kmeans_purity", "hard-select", "plain", "k-means purity, hard-select - plain", config.minimal_purity, "less", [fnr_gain("hard-select"), preserved("plain")]),
        claim("debiasing-counters-hardness", "robinson", "debiasing the hardness-weighted loss keeps same-class points together",
              "within", "hard-debiased", "hard-weight", "within-class cosine, hard-debiased - hard-weight", config.minimal_cosine, "greater", [fnr_gain("hard-weight"), preserved("hard-debiased")]),
        claim("hcl-gradient-drifts-classes", "ours", "differentiating through the hardness weights (as the HCL code does) pulls the classes together",
              "between", "hard-debiased", "hard-debiased-detached", "between-class cosine, HCL - detached weights", config.minimal_cosine, "greater", [fnr_gain("hard-debiased-detached")]),
        claim("debiasing-tightens-classes", "chuang", "the debiased loss (true class prior) keeps same-class points closer than InfoNCE",
              "within", "debiased", "plain", "within-class cosine, debiased - plain", config.minimal_cosine, "greater",
              [Check.at_least("uniform negatives hold false negatives (FNR of plain, worst cell)", worst_cell(finals, "false_negative_rate", "plain"), 0.1), preserved("debiased")]),
        claim("overestimated-prior-merges", "ours", "an over-estimated tau+ sends anchors to the estimator's floor, where nothing repels, and the classes move together",
              "separation", "debiased-overestimated", "debiased", "closest-pair separation, overestimated - true tau+", config.minimal_separation, "less",
              [Check.at_least("the over-estimate sends more anchors to the floor (floor share gain, worst cell)", worst_cell(finals, "floor_share", "debiased-overestimated", "debiased"), 0.1)]),
        claim("synthetic-speeds-separation", "dong", "synthetic hard negatives (mixed from the hardest) separate the classes faster, at equal negative count",
              "separation_area", "synthetic", "plain", "closest-pair separation averaged over the checkpoints, synthetic - plain", config.minimal_separation, "greater",
              [Check.at_least("synthetic negatives are harder than uniform ones (mean cosine to the anchor, gain, worst cell)", worst_cell(finals, "negative_cosine", "synthetic", "plain"), 0.1)]),
    ]
    return Verdict(checks, claims)


# ----------------------------------------------------------------------------- figure

COLORS = {"plain": "tab:grey", "debiased": "tab:green", "debiased-overestimated": "yellowgreen", "hard-weight": "tab:orange", "hard-debiased": "tab:brown",
          "hard-debiased-detached": "burlywood", "hard-select": "tab:red", "synthetic": "tab:blue", "synthetic-debiased": "tab:purple"}


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    finals = arms.select(rows, kind="final")
    cells = sorted({tuple(r[c] for c in CELL) for r in finals})
    fig, axes = plt.subplots(2, 5, figsize=(22, 8))
    width = 0.85 / len(config.methods)
    panels = (("false_negative_rate", "false-negative rate of the negatives seen (dotted: prior)"), ("floor_share", "share of anchors at Chuang's floor"),
              ("within", "within-class cosine (low: split)"), ("between", "between-class cosine (high: drift together)"),
              ("separation", "closest-pair separation (~0: merged)"))
    for ax, (key, title) in zip(axes[0], panels):
        for j, method in enumerate(config.methods):
            means = arms.cell_means(finals, key, CELL, method=method)
            ax.bar(np.arange(len(cells)) + (j - (len(config.methods) - 1) / 2) * width, [means.get(c, np.nan) for c in cells], width, color=COLORS[method], label=method)
        ax.set_xticks(np.arange(len(cells)), [f"m={m}, K={k}" for m, k in cells], fontsize=8)
        ax.set_title(title, fontsize=9)
    for c, cell in enumerate(cells):
        prior = next(r["prior"] for r in finals if tuple(r[k] for k in CELL) == cell)
        axes[0, 0].hlines(prior, c - 0.45, c + 0.45, color="black", ls=":", lw=1)
    axes[0, 0].legend(fontsize=6, ncol=2)
    curves = arms.select(rows, kind="curve")
    for ax, cell in zip(axes[1], cells):
        for method in ("plain", "debiased", "hard-select", "hard-debiased", "synthetic"):
            series = [arms.cell_means(curves, "separation", CELL, method=method, step=s).get(cell, np.nan) for s in config.checkpoints]
            ax.plot(config.checkpoints, series, marker="o", ms=3, color=COLORS[method], label=method)
        ax.set(xlabel="training step", title=f"closest-pair separation during training, m={cell[0]}, K={cell[1]}")
        ax.title.set_fontsize(9)
    axes[1, 0].legend(fontsize=7)
    axes[1, 0].set_ylabel("separation of the closest class pair")
    states = ("preserved", "merged", "split", "mixed")
    table = [[method] + [str(sum(r["state"] == s for r in finals if r["method"] == method)) for s in states] for method in config.methods]
    axes[1, -1].axis("off")
    shown = axes[1, -1].table(cellText=table, colLabels=["method", *states], loc="center")
    shown.auto_set_font_size(False)
    shown.set_fontsize(8)
    shown.scale(1, 1.3)
    axes[1, -1].set_title(f"final state of the classes (runs over all cells); k-means purity min {min(r['kmeans_purity'] for r in finals):.2f}", fontsize=9)
    fig.suptitle(f"Hard, debiased and synthetic negatives on comb data with leak {config.leak} (clusters = latent classes), t={config.temperature}, "
                 f"hardness={config.hardness}, {config.seeds} seeds", fontsize=11)
    fig.tight_layout()
    return fig
