"""PairSampler: empirical frequencies of anchors, positives and negatives against the exact law;
invalid arguments refused naming their range; seeded batches independent of global RNG state."""

import numpy as np
import pytest
import torch
from helpers import NONNEG_INT, ONE_OF, POSITIVE_INT, raises, scramble_global_rngs

from clustertheory.data import PairSampler, comb_dataset
from clustertheory.data.sampling import negatives_excluding_anchor

Z_MAX = 4.5  # |z| bound per cell; with ~100 cells a correct sampler exceeds it with prob ~ 1e-3


def unbalanced():
    """Unequal cluster weights and a leak, so the laws checked are not all uniform."""
    return comb_dataset(3, 4, 2, leak=0.2, noise=0.1, cluster_weights=[1, 2, 5])


def z_scores(counts: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(count - n p) / sqrt(n p (1 - p)) per cell; cells with p = 0 must have count 0."""
    total = counts.sum()
    assert counts[probs == 0].sum() == 0
    keep = probs > 0
    p = probs[keep]
    return (counts[keep] - total * p) / np.sqrt(total * p * (1 - p))


def base_index(data) -> np.ndarray:
    """(V,) natural-image index of a view that is a natural image, -1 otherwise."""
    index = np.full(data.num_views, -1)
    index[data.base_view] = np.arange(data.num_base)
    return index


def test_iid_anchors_positives_and_negatives_follow_the_theorem_law():
    data = unbalanced()
    sampler = PairSampler(data, num_negatives=5, device="cpu", seed=1)
    anchors, positives, negatives = [], [], []
    for _ in range(40):
        a, p, n = sampler.sample(1000)
        anchors.append(a.numpy())
        positives.append(p.numpy())
        negatives.append(n.numpy())
    anchor, positive, negative = map(np.concatenate, (anchors, positives, negatives))
    to_base = base_index(data)
    assert (to_base[anchor] >= 0).all() and (to_base[negative] >= 0).all()  # natural images only
    w = data.base_weight
    assert np.abs(z_scores(np.bincount(to_base[anchor], minlength=data.num_base), w)).max() < Z_MAX
    assert np.abs(z_scores(np.bincount(to_base[negative].ravel(), minlength=data.num_base), w)).max() < Z_MAX
    # joint law of (anchor, positive) = diag(w) A
    joint = (data.augment.multiply(w[:, None])).toarray()
    counts = np.zeros_like(joint)
    np.add.at(counts, (to_base[anchor], positive), 1)
    assert np.abs(z_scores(counts.ravel(), joint.ravel())).max() < Z_MAX


def test_iid_negatives_are_independent_of_the_anchor():
    """Same-cluster share of negatives equals sum_c pi_c^2 (not 1/m, not 0)."""
    data = unbalanced()
    sampler = PairSampler(data, num_negatives=8, device="cpu", seed=2)
    a, _, n = sampler.sample(20000)
    same = (data.content[n.numpy()] == data.content[a.numpy()][:, None]).mean(axis=1)
    expected = float((data.cluster_weight**2).sum())
    se = same.std(ddof=1) / np.sqrt(len(same))
    assert abs(same.mean() - expected) < 4 * se
    assert abs(expected - 1 / 3) > 10 * se  # the check can tell unequal weights apart


def test_in_batch_negatives_are_the_other_anchors_in_order():
    data = unbalanced()
    sampler = PairSampler(data, negative_mode="in-batch", device="cpu", seed=3)
    anchor, positive, negatives = sampler.sample(7)
    assert anchor.shape == (7,) and positive.shape == (7,) and negatives.shape == (7, 6)
    for b in range(7):
        expected = torch.cat([anchor[:b], anchor[b + 1 :]])
        assert torch.equal(negatives[b], expected)


def test_in_batch_negatives_have_the_same_same_cluster_rate_as_iid():
    data = unbalanced()
    sampler = PairSampler(data, negative_mode="in-batch", device="cpu", seed=4)
    rates = []
    for _ in range(400):
        a, _, n = sampler.sample(16)
        rates.append((data.content[n.numpy()] == data.content[a.numpy()][:, None]).mean())
    rates = np.asarray(rates)
    se = rates.std(ddof=1) / np.sqrt(len(rates))
    assert abs(rates.mean() - float((data.cluster_weight**2).sum())) < 4 * se


@pytest.mark.parametrize("mode", ["iid", "in-batch"])
def test_groups_are_independent_batches_with_ensemble_shapes(mode):
    data = unbalanced()
    sampler = PairSampler(data, num_negatives=3, negative_mode=mode, device="cpu", seed=5)
    anchor, positive, negatives = sampler.sample(6, groups=4)
    K = 3 if mode == "iid" else 5
    assert anchor.shape == (4, 6) and positive.shape == (4, 6) and negatives.shape == (4, 6, K)
    assert anchor.dtype == torch.long and negatives.dtype == torch.long
    assert len({tuple(row.tolist()) for row in anchor}) > 1  # groups are different draws
    if mode == "in-batch":
        for e in range(4):
            for b in range(6):
                assert torch.equal(negatives[e, b], torch.cat([anchor[e, :b], anchor[e, b + 1 :]]))


def test_positives_stay_in_the_anchor_augmentation_set():
    data = comb_dataset(2, 4, 5)
    sampler = PairSampler(data, device="cpu", seed=6)
    anchor, positive, _ = sampler.sample(2000)
    to_base = base_index(data)
    A = data.augment.toarray()
    assert (A[to_base[anchor.numpy()], positive.numpy()] > 0).all()


def test_same_seed_same_draws_and_different_seed_different_draws():
    data = unbalanced()
    draws = [PairSampler(data, num_negatives=4, device="cpu", seed=s).sample(64) for s in (7, 7, 8)]
    assert all(torch.equal(x, y) for x, y in zip(draws[0], draws[1]))
    assert not torch.equal(draws[0][0], draws[2][0])


SMALL = comb_dataset(num_clusters=2, points_per_cluster=2, teeth=2)


@pytest.mark.parametrize(
    "kwargs,name,allowed",
    [
        ({"num_negatives": 0}, "num_negatives", POSITIVE_INT),
        ({"negative_mode": "hard"}, "negative_mode", ONE_OF),
        ({"seed": -1}, "seed", NONNEG_INT),
        ({"seed": 0.5}, "seed", NONNEG_INT),
    ],
)
def test_pair_sampler_rejects_invalid_arguments(kwargs, name, allowed):
    with raises(name, allowed):
        PairSampler(SMALL, **kwargs)


def test_pair_sampler_rejects_invalid_batches():
    with raises("batch_size", POSITIVE_INT):
        PairSampler(SMALL, 2).sample(0)
    with raises("groups", POSITIVE_INT):
        PairSampler(SMALL, 2).sample(4, groups=0)
    with pytest.raises(ValueError, match=r"batch_size must be >= 2 for in-batch negatives"):
        PairSampler(SMALL, 2, negative_mode="in-batch").sample(1)


DETERMINISM_DATA = comb_dataset(num_clusters=4, points_per_cluster=2, teeth=2)


@pytest.mark.parametrize("negatives", ["iid", "in-batch"])
def test_sampler_with_a_fixed_seed_repeats_its_batches(negatives):
    def batches(seed: int) -> list[torch.Tensor]:
        sampler = PairSampler(DETERMINISM_DATA, num_negatives=3, negative_mode=negatives, seed=seed)
        scramble_global_rngs()
        return [t for _ in range(3) for t in (*sampler.sample(8), *sampler.sample(5, groups=2))]

    first, second, other = batches(7), batches(7), batches(8)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


# ----------------------------------------------------------------------------- candidates excluding the anchor


def test_never_the_anchor_and_uniform_over_the_others():
    data = comb_dataset(2, 4, 2, leak=0.5)
    anchor = torch.as_tensor(data.base_view[[0, 3, 5]]).repeat(400)  # (1200,)
    drawn = negatives_excluding_anchor(data, anchor, 20, torch.Generator().manual_seed(0))
    assert drawn.shape == (1200, 20)
    assert not (drawn == anchor[:, None]).any()
    assert set(drawn.unique().tolist()) <= set(data.base_view.tolist())
    for a in data.base_view[[0, 3, 5]]:
        rows = drawn[anchor == int(a)].flatten().numpy()
        counts = np.array([np.sum(rows == v) for v in data.base_view if v != a])
        expected = len(rows) / (data.num_base - 1)
        assert np.abs(counts - expected).max() < 5 * np.sqrt(expected)  # uniform over the 7 other natural images


def test_unequal_weights_keep_the_conditional_law():
    data = comb_dataset(2, 2, 2, cluster_weights=[0.8, 0.2])
    anchor = torch.as_tensor(data.base_view[[0]]).repeat(4000)
    drawn = negatives_excluding_anchor(data, anchor, 5, torch.Generator().manual_seed(1)).flatten().numpy()
    weights = data.base_weight[1:] / data.base_weight[1:].sum()  # D_o conditioned on not the anchor (natural image 0)
    shares = np.array([np.mean(drawn == v) for v in data.base_view[1:]])
    assert np.allclose(shares, weights, atol=0.02)


def test_anchor_must_be_a_natural_image():
    data = comb_dataset(2, 2, 2)
    augmented = torch.tensor([int(data.base_view[0]) + 2])  # the second tooth of base point 0: not a natural image
    with pytest.raises(ValueError, match="natural images"):
        negatives_excluding_anchor(data, augmented, 3, torch.Generator().manual_seed(0))
