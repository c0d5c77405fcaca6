"""What the trainer's negatives are: how often a negative shares the anchor's cluster or is the
anchor's own natural image, measured from the trainer's own sampler.

With l i.i.d. natural-image negatives (the theorem's loss) a negative shares the anchor's
cluster with probability sum_c pi_c^2 and is the anchor's own natural image with probability
sum_i w_i^2; negatives are never filtered. In-batch negatives (the other anchors of a batch,
drawn with replacement) have the same rates.

The regimes a simulation compares (:data:`NEGATIVE_REGIMES`, trainer settings by
:func:`regime_settings`): "iid" (l i.i.d. negatives, the configured batch of anchors),
"in-batch" (the other anchors, B = l + 1, so each anchor has l negatives) and
"iid-small-batch" (l i.i.d. negatives with B = l + 1 anchors: in-batch's batch size without
its shared negatives).

:func:`train_negative_methods` trains with the ways of using K negatives of
:mod:`clustertheory.losses.hard_negatives` and measures what the negatives were (false
negatives, the debiased estimator's floor, hardness) and what happened to the classes.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from clustertheory.analysis.embedding import (
    cluster_similarity,
    cluster_state,
    false_negative_prior,
    false_negative_rate,
    kmeans_purity,
    nearest_cluster,
)
from clustertheory.config import check_in, check_nonneg_int, check_positive_int
from clustertheory.data import PairSampler, ViewDataset, base_components
from clustertheory.data.sampling import NEGATIVE_MODES, negatives_excluding_anchor
from clustertheory.losses import debiased_from_similarities
from clustertheory.losses.hard_negatives import (
    NEGATIVE_METHODS,
    method_settings,
    select_negatives,
)
from clustertheory.training.fitting import fit
from clustertheory.utils import torch_generator

NEGATIVE_REGIMES = ("iid", "in-batch", "iid-small-batch")
MIN_BATCHES = 50  # at least this many independent batches behind each standard error


def negative_rates(data: ViewDataset, num_negatives: int, negative_mode: str, batch_size: int, pairs: int, seed: int = 0, device="cpu") -> dict:
    """Shares of (anchor, negative) pairs with the same cluster and with the same natural image.

    Draws about ``pairs`` pairs (at least MIN_BATCHES batches) from ``PairSampler(data,
    num_negatives, negative_mode)`` with ``batch_size`` anchors per batch. Standard errors come
    from the spread of per-batch shares: pairs within a batch may be dependent (in-batch
    negatives), batches are independent. Returns the measured rates, their standard errors and
    the predictions sum_c pi_c^2 and sum_i w_i^2.
    """
    check_positive_int("num_negatives", num_negatives)
    check_in("negative_mode", negative_mode, NEGATIVE_MODES)
    check_positive_int("batch_size", batch_size)
    check_positive_int("pairs", pairs)
    check_nonneg_int("seed", seed)
    sampler = PairSampler(data, num_negatives, negative_mode, device=device, seed=seed)
    negatives_per_batch = batch_size * (num_negatives if negative_mode == "iid" else batch_size - 1)
    batches = max(MIN_BATCHES, math.ceil(pairs / negatives_per_batch))
    anchor, _, negatives = sampler.sample(batch_size, groups=batches)  # (G, B), (G, B, K): G independent batches
    anchor, negatives = anchor.cpu().numpy(), negatives.cpu().numpy()
    same_cluster = (data.content[negatives] == data.content[anchor][..., None]).mean(axis=(1, 2))
    same_image = (negatives == anchor[..., None]).mean(axis=(1, 2))  # natural images are distinct views
    return {
        "pairs": batches * negatives_per_batch,
        "same_cluster_rate": float(same_cluster.mean()),
        "same_cluster_se": float(same_cluster.std(ddof=1) / math.sqrt(batches)),
        "same_cluster_expected": float((data.cluster_weight**2).sum()),
        "self_rate": float(same_image.mean()),
        "self_se": float(same_image.std(ddof=1) / math.sqrt(batches)),
        "self_expected": float((data.base_weight**2).sum()),
    }


def regime_settings(train, regime: str, num_negatives: int, beta: float):
    """The trainer settings (a TrainConfig) of one negative regime with l = ``num_negatives``
    negatives per anchor and ``beta``: B = ``train.batch_size`` anchors for "iid", B = l + 1 for
    "in-batch" and "iid-small-batch"; negatives in-batch for "in-batch", i.i.d. otherwise."""
    check_in("regime", regime, NEGATIVE_REGIMES)
    l = check_positive_int("num_negatives", num_negatives)
    return train.replace(batch_size=train.batch_size if regime == "iid" else l + 1, num_negatives=l, beta=beta,
                         negative_mode="in-batch" if regime == "in-batch" else "iid")


def train_negative_methods(datasets, seeds: list[int], methods: list[str], encoder, config, *, num_negatives: int, pool_factor: int,
                           temperature: float, hardness: float, overestimate: float, synthesis: str, checkpoints, measure_batch: int,
                           cell_seed: int, device=None) -> list[list[dict]]:
    """Train one ensemble, member e with the negatives of ``methods[e]`` on the data ``datasets[seeds[e]]``,
    and measure what its negatives were and what happened to the classes; the hard-negative
    simulation's (m, K) cell.

    datasets: one comb data set per seed (the same structure, their own observation maps);
    the latent classes are the components of the augmentation graph
    (:func:`~clustertheory.data.base_components`), tau+ = ``false_negative_prior`` of them.
    encoder: an ensemble onto the unit sphere with one member per e (inputs (E, V, D), the views'
    observations). methods: names of :data:`~clustertheory.losses.hard_negatives.NEGATIVE_METHODS`,
    grouped in that order. Each step (config a FitConfig) draws config.batch_size anchors per
    seed (``PairSampler``, the same for every member of a seed), P = pool_factor x K candidates per
    anchor (never the anchor), K = ``num_negatives`` of them selected or synthesised per method
    (``select_negatives``, ``synthesis``), scored by ``debiased_from_similarities`` at the
    method's settings (``method_settings(method, tau+, hardness, overestimate)``, temperature).

    At each step of ``checkpoints``: a row {"kind": "curve", "step", within, between, separation}
    (``cluster_similarity``); from config.steps / 2 on also, on ``measure_batch`` fresh anchors
    (streams of their own), the false-negative rate (hardness-weighted negatives with their weights;
    a synthetic negative in the class of its nearest real candidate), the share of anchors at the
    floor and the mean cosine of the negatives. Returns per member its curve rows, then
    {"kind": "final"}: those measurements' means, the last within / between / separation,
    k-means purity (seeded ``cell_seed``), prior, classes, negatives_seen, state
    (``cluster_state``) and separation_area (the mean separation over the checkpoints after the first).
    All draws come from generators seeded from ``cell_seed``, on ``device`` (None: the encoder's).
    """
    K = num_negatives
    device = next(encoder.parameters()).device if device is None else device
    data = datasets[0]  # every seed has the same structure; only the observation map differs
    component = base_components(data)
    view_class = torch.full((data.num_views,), -1, dtype=torch.long, device=device)
    view_class[torch.as_tensor(data.base_view, device=device)] = torch.as_tensor(component, dtype=torch.long, device=device)
    tau_plus = false_negative_prior(component, data.base_weight)
    base_view = torch.as_tensor(data.base_view, device=device)
    base_of_view = torch.zeros(data.num_views, dtype=torch.long, device=device)
    base_of_view[base_view] = torch.arange(data.num_base, device=device)
    x = torch.stack([torch.as_tensor(datasets[s].obs) for s in seeds]).to(device)
    if sorted(range(len(methods)), key=lambda i: NEGATIVE_METHODS.index(methods[i])) != list(range(len(methods))):
        raise ValueError("methods must come grouped in the order of NEGATIVE_METHODS")
    settings = [method_settings(method, tau_plus, hardness, overestimate) for method in methods]
    blocks = {}  # selection -> the members using it (contiguous: NEGATIVE_METHODS lists the selections in runs)
    for i, (selection, *_) in enumerate(settings):
        blocks[selection] = slice(blocks.get(selection, slice(i, i)).start, i + 1)
    B_train, B_measure = config.batch_size, measure_batch
    per_anchor = {B: [torch.tensor([s[i] for s in settings], device=device)[:, None].expand(-1, B) for i in (1, 2, 3)] for B in (B_train, B_measure)}
    samplers = [PairSampler(data, seed=cell_seed + i, device=device) for i in range(2)]  # training, measuring
    candidate_draws, mixing_draws = ([torch_generator(cell_seed + offset + i, device) for i in range(2)] for offset in (2, 4))  # training, measuring
    P = pool_factor * K
    curves, measured = [[] for _ in seeds], [[] for _ in seeds]

    def losses(z, size: int, stream: int):
        """Every member's per-anchor losses (E, B) on a fresh batch (the same for every member of a
        seed), the floor flags (E, B), and what the negatives were."""
        anchor, positive, _ = samplers[stream].sample(size, groups=len(datasets))
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

            sims, chosen, mixed = select_negatives(selection, za[g].reshape(n, -1), s_pool[g].reshape(n, P), views, K, mixing_draws[stream], synthesis)
            negatives.append(sims.view(-1, size, K))
            picked.append((g, pool, chosen, mixed, views))
        negatives = torch.cat(negatives)
        tau, hardness, detach = per_anchor[size]
        rows, floor = debiased_from_similarities(s_pos, negatives, temperature=temperature, tau_plus=tau, hardness=hardness, detach_weights=detach)
        return rows, floor, negatives, anchor, picked

    def measure(z) -> None:
        """False negatives, floor share and negative cosine of every member on a measurement batch;
        hardness-weighted negatives count with their weights."""
        _, floor, negatives, anchor, picked = losses(z, B_measure, 1)
        weights = torch.softmax(per_anchor[B_measure][1][..., None] * negatives / temperature, dim=-1)  # hardness 0: uniform
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
            for i in range(len(seeds)):
                curves[i].append({"kind": "curve", "step": step, **{key: float(value[i]) for key, value in similarity.items()}})
            if step >= config.steps / 2:
                measure(z)

    fit(encoder, lambda step: losses(encoder(x), B_train, 0)[0].mean(dim=1).sum(), config, checkpoints=checkpoints, on_checkpoint=checkpoint)
    with torch.no_grad():
        z = encoder(x).cpu().numpy()
    purity = kmeans_purity(z, data.content, seed=cell_seed, restarts=4)
    results = []
    for i in range(len(seeds)):
        final = {key: float(np.mean([r[key] for r in measured[i]])) for key in ("false_negative_rate", "floor_share", "negative_cosine")}
        final.update({key: curves[i][-1][key] for key in ("within", "between", "separation")})
        final.update(kind="final", kmeans_purity=float(purity[i]), prior=tau_plus, classes=len(set(component.tolist())),
                     negatives_seen=len(measured[i]) * B_measure * K, state=cluster_state(final["within"], final["separation"], float(purity[i])),
                     separation_area=float(np.mean([r["separation"] for r in curves[i][1:]])))
        results.append(curves[i] + [final])
    return results


def prior_z_scores(rows, cell: tuple[str, ...]) -> list[float]:
    """Per cell of a sweep (sorted), how far uniform negatives' false-negative rate sits from the
    exact prior, in binomial standard errors: over the rows of the cell (runs with the fields
    false_negative_rate, prior, negatives_seen),

        z = |mean false_negative_rate - prior| / sqrt(prior (1 - prior) / sum negatives_seen)
    """
    rows = list(rows)
    z_scores = []
    for values in sorted({tuple(r[c] for c in cell) for r in rows}):
        runs = [r for r in rows if tuple(r[c] for c in cell) == values]
        prior, seen = runs[0]["prior"], sum(r["negatives_seen"] for r in runs)
        z_scores.append(abs(np.mean([r["false_negative_rate"] for r in runs]) - prior) / np.sqrt(prior * (1 - prior) / seen))
    return z_scores
