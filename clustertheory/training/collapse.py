"""Ensembles of encoders trained on the views of the data model of :mod:`clustertheory.data.collapse`
(Xue et al. 2023), one member per training set, probed on fresh examples.

Every function draws member e's training set as ``collapse_dataset(data_e, seeds[e])``, builds
the ensemble with :meth:`EncoderSettings.build` from ``seeds``, samples batches with
:func:`clustertheory.data.collapse.draw_view_pairs` from one ``torch.Generator`` seeded with
``seeds[0]``, trains with :func:`clustertheory.training.fitting.fit`, and probes with
:func:`clustertheory.analysis.collapse.fresh_probe` (logistic probe, regularisation from ``cs``).

    supcon_probe_trace    SupCon; class and subclass probes at checkpoints (class collapse with networks)
    joint_nce_probes      w SupCon + (1 - w) InfoNCE, one member per (w, seed); feature norms and probes
    shared_bits_probes    InfoNCE on views with random bits appended, shared or resampled; class probes
    infonce_class_probes  InfoNCE on each member's training set; class probes on one probe set
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..analysis.collapse import feature_norms, fresh_probe
from ..analysis.embedding import subclass_separation
from ..data.collapse import (
    CollapseConfig,
    collapse_dataset,
    draw_view_pairs,
    stack_training_sets,
)
from ..functions.ensemble import EncoderSettings
from ..losses.ensemble import ensemble_infonce, ensemble_supcon
from .fitting import FitConfig, fit


def supcon_probe_trace(
    data: CollapseConfig, encoder: EncoderSettings, fit_config: FitConfig, seeds: Sequence[int], checkpoints: Sequence[int],
    temperature: float, probe_examples: int, cs: Sequence[float], tags: dict | None = None, device="cpu",
) -> list[dict]:
    """An ensemble (one member per seed) trained with SupCon on the 2B views of B positive pairs a
    step, with their classes; at every checkpoint one row per member: ``{step, train_loss, **tags,
    seed (index), probe_subclass, probe_class}`` (probes on ``probe_examples`` fresh originals drawn
    with seed ``seeds[e] + 1``), ``train_probe_subclass`` (the probe on the embeddings of the first
    augmentation of each training original) and their ``subclass_separation``.
    """
    trains = [collapse_dataset(data, s) for s in seeds]
    probes = [collapse_dataset(data.replace(num_originals=probe_examples), s + 1) for s in seeds]
    views, y = stack_training_sets(trains, device)
    net = encoder.build(data.dim, seeds, device)
    generator = torch.Generator().manual_seed(seeds[0])
    fresh = torch.tensor(np.stack([pr.originals for pr in probes]), dtype=torch.float32, device=device)
    train_x = views[:, :, 0]  # first augmentation of each original: the training-set measurement

    def loss(step: int) -> torch.Tensor:
        first, second, originals = draw_view_pairs(views, fit_config.batch_size, generator)
        z = net(torch.cat([first, second], dim=1))
        labels = torch.gather(y, 1, originals).repeat(1, 2)
        return ensemble_supcon(z, labels, temperature=temperature).sum()

    def measure(step: int) -> list[dict]:
        with torch.no_grad():
            z, z_train = net(fresh).cpu().numpy(), net(train_x).cpu().numpy()
        return [{**(tags or {}), "seed": e, "probe_subclass": fresh_probe(z[e], pr.y_sub, cs), "probe_class": fresh_probe(z[e], pr.y, cs),
                 "train_probe_subclass": fresh_probe(z_train[e], tr.y_sub, cs),
                 "subclass_separation": subclass_separation(z_train[e], tr.y, tr.y_sub)}
                for e, (pr, tr) in enumerate(zip(probes, trains))]

    return fit(net, loss, fit_config, checkpoints=checkpoints, on_checkpoint=measure)


def joint_nce_probes(
    data: CollapseConfig, encoder: EncoderSettings, fit_config: FitConfig, members: Sequence[tuple[float, int]], temperature: float,
    probe_examples: int, cs: Sequence[float], device="cpu",
) -> list[dict]:
    """The encoder (linear for depth 0: f(x) = W x + b) trained on w SupCon + (1 - w) InfoNCE, one
    member per ``(w, seed)`` of ``members`` (training set ``collapse_dataset(data, seed)``, initial
    weights from ``seed + int(1000 w)``). SupCon runs on the 2B views of a batch with their
    classes, InfoNCE on its B positive pairs (NT-Xent: cosine, in-batch, symmetric, same-view
    negatives). One row per member: ``nce_v1..nce_v3`` (:func:`feature_norms` of the first layer's
    (p, dim) weights) and the class / subclass probes on ``probe_examples`` fresh originals (seed + 1).
    """
    seeds = [seed for _, seed in members]
    views, y = stack_training_sets([collapse_dataset(data, seed) for seed in seeds], device)
    net = encoder.build(data.dim, [seed + int(1000 * w) for w, seed in members], device)
    weight = torch.tensor([w for w, _ in members], dtype=torch.float32, device=device)
    g = torch.Generator().manual_seed(seeds[0])

    def loss(step: int) -> torch.Tensor:
        first, second, originals = draw_view_pairs(views, fit_config.batch_size, g)
        za, zb = net(first), net(second)
        labels = torch.gather(y, 1, originals).repeat(1, 2)
        supcon = ensemble_supcon(torch.cat([za, zb], 1), labels, temperature=temperature)
        nce = ensemble_infonce(za, zb, temperature=temperature, symmetric=True, same_view_negatives=True)
        return (weight * supcon + (1 - weight) * nce).sum()

    fit(net, loss, fit_config)
    rows = []
    for e in range(len(members)):
        probe = collapse_dataset(data.replace(num_originals=probe_examples), seeds[e] + 1)
        with torch.no_grad():
            z = net(torch.tensor(probe.originals, dtype=torch.float32, device=device))[e].cpu().numpy()
        W = net.weights[0][e].detach().double().cpu().numpy().T  # (p, dim)
        rows.append({**feature_norms(W, "nce"), "probe_class": fresh_probe(z, probe.y, cs), "probe_subclass": fresh_probe(z, probe.y_sub, cs)})
    return rows


def shared_bits_probes(
    data: CollapseConfig, encoder: EncoderSettings, fit_config: FitConfig, arms: Sequence[tuple[str, int, int]], seeds: Sequence[int],
    temperature: float, probe_examples: int, cs: Sequence[float], device="cpu",
) -> list[float]:
    """Shared random bits (Chen, Luo, Li 2021): an ensemble trained with symmetric InfoNCE on views
    [x, b], one member per ``(mode, bits, outputs)`` of ``arms`` with seed ``seeds[e]``; returns
    each member's class probe on ``probe_examples`` fresh originals (seed ``seeds[0] + 1``, with
    fresh bits).

    mode "shared": each original owns ``bits`` random signs, copied into both views; "fresh":
    new bits in every view (an augmentation that resamples them); "none" with bits = 0: no bits.
    Members carry the widest arm's bit columns, the unused ones 0. Only the first ``outputs``
    embedding coordinates are read (the rest masked to 0, which leaves cosine similarities those
    of an ``outputs``-dimensional embedding).
    """
    width, E, n = max(b for _, b, _ in arms), len(arms), data.num_originals
    views, _ = stack_training_sets([collapse_dataset(data, s) for s in seeds], device)
    g = torch.Generator().manual_seed(seeds[0])
    columns = (torch.arange(width)[None, :] < torch.tensor([bits for _, bits, _ in arms])[:, None]).float()[:, None, :]  # (E, 1, width)
    fresh = torch.tensor([mode == "fresh" for mode, _, _ in arms])[:, None, None]
    outputs = (torch.arange(encoder.out_dim)[None, :] < torch.tensor([k for _, _, k in arms])[:, None]).float()[:, None, :]

    def draw_bits(count: int) -> torch.Tensor:
        return (torch.randint(0, 2, (E, count, width), generator=g).float() * 2 - 1) * columns

    own = draw_bits(n)
    net = encoder.build(data.dim + width, seeds, device)

    def loss(step: int) -> torch.Tensor:
        first, second, originals = draw_view_pairs(views, fit_config.batch_size, g)
        shared = torch.gather(own, 1, originals[..., None].expand(-1, -1, width))
        bits_a = torch.where(fresh, draw_bits(originals.shape[1]), shared)
        bits_b = torch.where(fresh, draw_bits(originals.shape[1]), shared)
        za, zb = net(torch.cat([first, bits_a], 2)) * outputs, net(torch.cat([second, bits_b], 2)) * outputs
        return ensemble_infonce(za, zb, temperature=temperature, symmetric=True).sum()

    fit(net, loss, fit_config)
    probe = collapse_dataset(data.replace(num_originals=probe_examples), seeds[0] + 1)
    x = torch.tensor(probe.originals, dtype=torch.float32)[None].expand(E, -1, -1)
    with torch.no_grad():
        z = (net(torch.cat([x, draw_bits(len(probe.y))], 2)) * outputs).numpy()
    return [fresh_probe(z[e], probe.y, cs) for e in range(E)]


def infonce_class_probes(
    datas: Sequence[CollapseConfig], encoder: EncoderSettings, fit_config: FitConfig, seeds: Sequence[int], temperature: float,
    probe_data: CollapseConfig, cs: Sequence[float], device="cpu",
) -> list[float]:
    """An ensemble trained with symmetric InfoNCE on the positive pairs of ``datas[e]`` (member e,
    seed ``seeds[e]``; every data set of one shape); returns each member's class probe on one
    probe set, ``collapse_dataset(probe_data, seeds[0] + 1)``."""
    views, _ = stack_training_sets([collapse_dataset(data, seed) for data, seed in zip(datas, seeds)], device)
    net = encoder.build(datas[0].dim, seeds, device)
    g = torch.Generator().manual_seed(seeds[0])

    def loss(step: int) -> torch.Tensor:
        first, second, _ = draw_view_pairs(views, fit_config.batch_size, g)
        return ensemble_infonce(net(first), net(second), temperature=temperature, symmetric=True).sum()

    fit(net, loss, fit_config)
    probe = collapse_dataset(probe_data, seeds[0] + 1)
    with torch.no_grad():
        z = net(torch.tensor(probe.originals, dtype=torch.float32)).numpy()
    return [fresh_probe(z[e], probe.y, cs) for e in range(len(seeds))]
