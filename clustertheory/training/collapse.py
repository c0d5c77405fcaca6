"""Ensembles of encoders trained on the views of the data model of :mod:`clustertheory.data.collapse`
(Xue et al. 2023), one member per training set, probed on fresh examples.

Every function draws member e's training set as ``collapse_dataset(data_e, seeds[e])``, builds
the ensemble with :meth:`EncoderSettings.build` from ``seeds``, samples batches with
:func:`clustertheory.data.collapse.draw_view_pairs` from one ``torch.Generator`` seeded with
``seeds[0]``, trains with :func:`clustertheory.training.fitting.fit`, and probes with
:func:`clustertheory.analysis.collapse.fresh_probe` (logistic probe, regularisation from ``cs``).

    supcon_probe_trace    SupCon; class and subclass probes at checkpoints (class collapse with networks)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..analysis.collapse import fresh_probe
from ..analysis.embedding import subclass_separation
from ..data.collapse import (
    CollapseConfig,
    collapse_dataset,
    draw_view_pairs,
    stack_training_sets,
)
from ..functions.ensemble import EncoderSettings
from ..losses.ensemble import ensemble_supcon
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
                 "train_probe_subclass": fresh_probe(z_train[e], tr.y_sub, cs), "subclass_separation": subclass_separation(z_train[e], tr.y, tr.y_sub)}
                for e, (pr, tr) in enumerate(zip(probes, trains))]

    return fit(net, loss, fit_config, checkpoints=checkpoints, on_checkpoint=measure)
