"""Training with the ways of using K negatives (:mod:`clustertheory.losses.hard_negatives`): one
(m, K) cell's encoders trained per method, with what their negatives were (false negatives,
the debiased estimator's floor, hardness) and what happened to the classes measured along
the way (:mod:`clustertheory.analysis.negatives`, :mod:`clustertheory.analysis.embedding`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..analysis.embedding import (
    cluster_similarity,
    cluster_state,
    false_negative_prior,
    false_negative_rate,
    kmeans_purity,
    nearest_cluster,
)
from ..data import PairSampler, base_components
from ..data.sampling import negatives_excluding_anchor
from ..losses import debiased_from_similarities
from ..losses.hard_negatives import NEGATIVE_METHODS, method_settings, select_negatives
from ..utils import torch_generator
from .fitting import fit


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
