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

Training with the ways of using K negatives of :mod:`clustertheory.losses.hard_negatives`,
measuring what the negatives were: :func:`clustertheory.training.negatives.train_negative_methods`.
"""

from __future__ import annotations

import math

import numpy as np

from clustertheory.config import check_in, check_nonneg_int, check_positive_int
from clustertheory.data import PairSampler, ViewDataset
from clustertheory.data.sampling import NEGATIVE_MODES

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
