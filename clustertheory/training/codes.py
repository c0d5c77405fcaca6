"""Trained codes of the realizable comb (Theorems 4.5-4.7): members of the comb's band-limited
class and of the lookup table trained together in one batched pass; what is measured on
them is in :mod:`clustertheory.analysis.codes`.
"""

from __future__ import annotations

import numpy as np

from ..analysis.codes import RealizableComb
from ..config import check_in
from ..data.views import ViewDataset
from .batched import Member, no_evaluation, train_members
from .trainer import TrainConfig


def train_codes(comb: RealizableComb, data: ViewDataset, d: int, train: TrainConfig, member_seeds, seed: int, device="cpu",
                classes=("band-limited",)) -> np.ndarray:
    """(len(classes) * S, V, d) float64 hard codes of members trained together in one pass.

    For each class of ``classes`` in turn ("band-limited": the class of ``comb``, with
    ``comb.class_options()``; "lookup": the unrestricted table), one member per seed of
    ``member_seeds`` (S seeds), trained with ``train`` on ``data`` (``comb.dataset(d)``);
    ``seed`` seeds the batch's sampler (:func:`~clustertheory.training.batched.train_members`,
    score-table codes, no evaluation during training). Row c * S + s is class c, seed s.
    """
    options = {"band-limited": comb.class_options(), "lookup": {}}
    for name in classes:
        check_in("classes", name, tuple(options))
    members = [Member(name, data, train, s, options[name]) for name in classes for s in member_seeds]
    result = train_members(members, d, seed=seed, device=device, evaluate=no_evaluation, score_table=True)
    return result.codes.astype(np.float64)
