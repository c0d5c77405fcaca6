"""Embedding metrics against hand-computed cases and naive loop references."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from clustertheory.analysis.embedding import (
    cluster_similarity,
    cluster_state,
    false_negative_prior,
    linear_regression_probe,
    similarity_spearman,
    covariance_spectrum,
    draw_variance,
    effective_rank,
    false_negative_rate,
    gradient_noise,
    kmeans_purity,
    linear_probe_accuracy,
    nearest_cluster,
    probe_split,
    subclass_separation,
    within_between_ratio,
)


def blobs(m=3, per=40, d=6, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((m, d))
    labels = np.repeat(np.arange(m), per)
    return centres[labels] + noise * rng.standard_normal((m * per, d)), labels


# ----------------------------------------------------------------------------- rank and spectrum


def test_effective_rank_hand_cases():
    assert effective_rank(np.eye(5), center=False) == pytest.approx(5.0)
    rank_one = np.outer(np.arange(1, 7), [1.0, -2.0, 0.5])
    assert effective_rank(rank_one, center=False) == pytest.approx(1.0)
    # singular values (3, 1): p = (3/4, 1/4)
    expected = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert effective_rank(np.diag([3.0, 1.0]), center=False) == pytest.approx(expected)
    assert effective_rank(np.zeros((4, 3))) == 0.0


def test_effective_rank_centres_and_is_scale_invariant():
    z = np.random.default_rng(1).standard_normal((50, 8))
    assert effective_rank(z + 100.0) == pytest.approx(effective_rank(z))  # the offset is removed
    assert effective_rank(3.0 * z) == pytest.approx(effective_rank(z))
    assert effective_rank(torch.as_tensor(z)) == pytest.approx(effective_rank(z))
    assert 1.0 <= effective_rank(z) <= 8.0


def test_covariance_spectrum_matches_numpy():
    z = np.random.default_rng(2).standard_normal((30, 4)) @ np.diag([3.0, 1.0, 0.5, 0.1])
    eig = covariance_spectrum(z, normalize=False)
    ref = np.sort(np.linalg.eigvalsh(np.cov(z.T, bias=True)))[::-1]
    assert np.allclose(eig, ref)
    normalised = covariance_spectrum(z)
    assert normalised.sum() == pytest.approx(1.0) and (np.diff(normalised) <= 1e-12).all()


# ----------------------------------------------------------------------------- noise


def test_draw_variance_and_gradient_noise_match_loops():
    rng = np.random.default_rng(3)
    samples = rng.standard_normal((7, 3, 2))
    naive = np.mean([np.var(samples[:, i, j], ddof=1) for i in range(3) for j in range(2)])
    assert draw_variance(samples) == pytest.approx(naive)
    assert draw_variance(np.ones((4, 5))) == 0.0
    grads = np.array([[1.0, 2.0], [3.0, 2.0], [2.0, 5.0]])
    noise = gradient_noise(grads)
    assert noise["total_variance"] == pytest.approx(1.0 + 3.0)  # var(1,3,2) = 1, var(2,2,5) = 3
    assert noise["signal"] == pytest.approx(2.0**2 + 3.0**2 - 4.0 / 3)  # ||gbar||^2 - tr Var / R
    assert noise["noise_to_signal"] == pytest.approx(4.0 / (13.0 - 4.0 / 3))
    assert gradient_noise(np.array([[1.0], [-1.0]]))["noise_to_signal"] == math.inf
    with pytest.raises(ValueError, match="R >= 2"):
        draw_variance(np.ones((1, 3)))
    with pytest.raises(ValueError, match="R >= 2"):
        gradient_noise(np.ones((1, 3)))


# ----------------------------------------------------------------------------- false negatives


def test_false_negative_rate_hand_case():
    anchor = np.array([0, 1])
    negatives = np.array([[0, 1, 0, 2], [1, 1, 1, 1]])
    assert false_negative_rate(anchor, negatives) == pytest.approx(6 / 8)
    assert false_negative_rate(torch.tensor(anchor), torch.tensor(negatives)) == pytest.approx(6 / 8)
    with pytest.raises(ValueError, match="anchor_cluster"):
        false_negative_rate(np.array([0]), negatives)


def test_nearest_cluster_shared_and_per_anchor_pools():
    reference = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    clusters = np.array([4, 5, 6])
    points = np.array([[0.9, 0.2], [0.1, 3.0], [-2.0, 0.5]])
    assert nearest_cluster(points, reference, clusters).tolist() == [4, 5, 6]
    # a mixture alpha a + (1 - alpha) b with alpha > 1/2 is nearest to its first source a
    pools = np.stack([reference[:2], reference[1:]])  # (2, 2, 2)
    pool_clusters = np.array([[4, 5], [5, 6]])
    mixes = np.stack([0.7 * pools[:, 0] + 0.3 * pools[:, 1], 0.2 * pools[:, 0] + 0.8 * pools[:, 1]], axis=1)  # (2, 2, 2)
    assert nearest_cluster(mixes, pools, pool_clusters).tolist() == [[4, 5], [5, 6]]
    with pytest.raises(ValueError, match="points/reference"):
        nearest_cluster(points, pools, pool_clusters)


# ----------------------------------------------------------------------------- clusters


def test_cluster_similarity_matches_naive_loops():
    z, labels = blobs(m=3, per=5, noise=0.5, seed=4)
    labels = labels.copy()
    labels[:2] = 2  # unequal cluster sizes
    unit = z / np.linalg.norm(z, axis=1, keepdims=True)
    cos = unit @ unit.T
    n = len(z)
    within = [cos[i, j] for i in range(n) for j in range(n) if i != j and labels[i] == labels[j]]
    between = [cos[i, j] for i in range(n) for j in range(n) if labels[i] != labels[j]]
    pairs = {(a, b): np.mean([cos[i, j] for i in range(n) for j in range(n) if labels[i] == a and labels[j] == b]) for a in range(3) for b in range(3) if a != b}
    result = cluster_similarity(z, labels)
    assert result["within"] == pytest.approx(np.mean(within))
    assert result["between"] == pytest.approx(np.mean(between))
    assert result["gap"] == pytest.approx(np.mean(within) - np.mean(between))
    assert result["closest_pair"] == pytest.approx(max(pairs.values()))
    with pytest.raises(ValueError, match="2 clusters"):
        cluster_similarity(z, np.zeros(n, dtype=int))


def test_kmeans_purity_separates_clusters_from_noise():
    z, labels = blobs(m=4, per=30, noise=0.05, seed=5)
    assert kmeans_purity(z, labels) == pytest.approx(1.0)
    shuffled = np.random.default_rng(0).permutation(labels)
    assert kmeans_purity(z, shuffled) < 0.5


# ----------------------------------------------------------------------------- probes


def test_probe_split_is_a_seeded_partition():
    train, val, test = probe_split(101, seed=3)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(101))
    assert (len(train), len(val), len(test)) == (50, 26, 25)  # cuts at rint(50.5), rint(75.75)
    again = probe_split(101, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(again, (train, val, test)))
    with pytest.raises(ValueError, match="fractions"):
        probe_split(10, fractions=(0.5, 0.5, 0.0))
    with pytest.raises(ValueError, match="n must be >= 3"):
        probe_split(2)


def test_linear_probe_reads_separable_clusters_and_not_random_labels():
    z, labels = blobs(m=3, per=60, noise=0.1, seed=6)
    split = probe_split(len(z), seed=0)
    good = linear_probe_accuracy(z, labels, split)
    assert good["accuracy"] == pytest.approx(1.0)
    noise = np.random.default_rng(1).standard_normal((600, 5))
    random_labels = np.random.default_rng(2).integers(0, 2, size=600)
    bad = linear_probe_accuracy(noise, random_labels, probe_split(600, seed=0))
    assert 0.35 < bad["accuracy"] < 0.65


def test_linear_probe_chooses_c_on_validation_only():
    z, labels = blobs(m=2, per=40, noise=2.0, seed=7)
    split = probe_split(len(z), seed=1)
    result = linear_probe_accuracy(z, labels, split, cs=(1e-4, 1.0))
    singles = {c: linear_probe_accuracy(z, labels, split, cs=(c,)) for c in (1e-4, 1.0)}
    best_c = max(singles, key=lambda c: (singles[c]["val_accuracy"], -list(singles).index(c)))
    assert result["c"] == best_c
    assert result["accuracy"] == singles[best_c]["accuracy"]
    with pytest.raises(ValueError, match="2 classes"):
        linear_probe_accuracy(z, np.zeros(len(z), dtype=int), split)


def test_gradient_signal_is_unbiased():
    """E[||gbar||^2 - tr Var / R] = ||E g||^2: the plain ||gbar||^2 would overstate it by tr Var / R."""
    rng = np.random.default_rng(8)
    mean = np.array([1.0, -2.0, 0.5])
    signals = [gradient_noise(mean + 3.0 * rng.standard_normal((4, 3)))["signal"] for _ in range(20000)]
    se = np.std(signals) / np.sqrt(len(signals))
    assert abs(np.mean(signals) - mean @ mean) < 4 * se  # the plain ||gbar||^2 would average 5.25 + 27/4


def test_weighted_false_negative_rate_and_the_exact_prior():
    anchor = np.array([0, 1])
    negatives = np.array([[0, 1], [1, 1]])
    weights = np.array([[3.0, 1.0], [1.0, 1.0]])
    assert false_negative_rate(anchor, negatives, weights) == pytest.approx((0.75 + 1.0) / 2)
    with pytest.raises(ValueError, match="weights"):
        false_negative_rate(anchor, negatives, -weights)
    classes, w = np.array([0, 0, 0, 1]), np.full(4, 0.25)
    assert false_negative_prior(classes, w, exclude_anchor=False) == pytest.approx(0.75**2 + 0.25**2)
    assert false_negative_prior(classes, w) == pytest.approx(0.75 * (2 / 3))  # the anchor is not its own negative
    loop = sum(w[i] * sum(w[j] for j in range(4) if j != i and classes[j] == classes[i]) / (1 - w[i]) for i in range(4))
    assert false_negative_prior(classes, w) == pytest.approx(loop)


def test_separation_detects_merged_clusters_whatever_their_spread():
    z, labels = blobs(m=3, per=40, noise=0.05, seed=9)
    apart = cluster_similarity(z, labels)
    assert apart["separation"] > 0.5
    merged = labels.copy()
    merged[labels == 1] = 0  # clusters 0 and 1 become one blob; relabel half of it as "1"
    merged[np.flatnonzero(merged == 0)[::2]] = 1
    on_top = cluster_similarity(z, merged)
    assert abs(on_top["separation"]) < 0.05 and on_top["within"] > 0.3  # tight, yet two classes sit on top of each other
    unit = z / np.linalg.norm(z, axis=1, keepdims=True)
    means = [unit[labels == c].mean(axis=0) for c in range(3)]
    closest = min(0.5 * np.sum((means[a] - means[b]) ** 2) for a in range(3) for b in range(3) if a != b)
    assert apart["separation"] == pytest.approx(closest, abs=0.02)  # ||mu_a - mu_b||^2 / 2 up to the self-pairs
    both = cluster_similarity(np.stack([z, z]), merged)  # every member at once
    assert both["separation"].tolist() == pytest.approx([on_top["separation"]] * 2) and both["within"][1] == pytest.approx(on_top["within"])


def test_kmeans_purity_batched_equals_one_by_one():
    z, labels = blobs(m=3, per=20, noise=0.3, seed=10)
    stack = np.stack([z, np.random.default_rng(1).standard_normal(z.shape)])
    batched = kmeans_purity(stack, labels, seed=2)
    assert batched.shape == (2,) and batched[0] == pytest.approx(1.0) and batched[1] < 0.7


def test_cluster_state_names():
    assert cluster_state(0.2, 0.5, 1.0) == "split"
    assert cluster_state(0.9, 0.01, 1.0) == "merged"
    assert cluster_state(0.9, 0.5, 1.0) == "preserved"
    assert cluster_state(0.9, 0.5, 0.6) == "mixed"


def test_similarity_spearman_matches_scipy():
    rng = np.random.default_rng(11)
    z, reference = rng.standard_normal((2, 30, 4)), rng.standard_normal((30, 3))
    iu = np.triu_indices(30, 1)
    for member in range(2):
        unit_z = z[member] / np.linalg.norm(z[member], axis=1, keepdims=True)
        unit_r = reference / np.linalg.norm(reference, axis=1, keepdims=True)
        expected = spearmanr((unit_z @ unit_z.T)[iu], (unit_r @ unit_r.T)[iu]).statistic
        assert similarity_spearman(z, reference)[member] == pytest.approx(expected)
    assert similarity_spearman(reference, reference) == pytest.approx(1.0)


def test_linear_regression_probe_reads_linear_latents_and_not_noise():
    rng = np.random.default_rng(12)
    latent = rng.standard_normal((400, 3))
    z = latent @ rng.standard_normal((3, 6)) + 0.01 * rng.standard_normal((400, 6))
    split = probe_split(400, seed=0)
    assert linear_regression_probe(z, latent, split)["r2"] > 0.99
    assert linear_regression_probe(rng.standard_normal((400, 6)), latent, split)["r2"] < 0.05
    with pytest.raises(ValueError, match="targets"):
        linear_regression_probe(z, latent[:10], split)


def test_unstandardised_probe_does_not_read_a_feature_carried_at_a_tiny_scale():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 900)
    z = np.stack([1e-4 * (2 * labels - 1) + 1e-5 * rng.standard_normal(900), rng.standard_normal(900)], axis=1)
    split = probe_split(900, seed=0)
    assert linear_probe_accuracy(z, labels, split, cs=(1.0,))["accuracy"] > 0.95
    assert linear_probe_accuracy(z, labels, split, cs=(1.0,), standardize=False)["accuracy"] < 0.65
    assert linear_probe_accuracy(1e4 * z, labels, split, cs=(1.0,), standardize=False)["accuracy"] > 0.95


def _naive_sums(z, groups):
    mean = z.mean(axis=0)
    within = sum(((z[groups == g] - z[groups == g].mean(axis=0)) ** 2).sum() for g in np.unique(groups))
    between = sum((groups == g).sum() * ((z[groups == g].mean(axis=0) - mean) ** 2).sum() for g in np.unique(groups))
    return within, between


def test_within_between_ratio_and_subclass_separation_match_naive_sums():
    rng = np.random.default_rng(1)
    y, sub = rng.integers(0, 2, 400), rng.integers(0, 2, 400)
    z = np.stack([3.0 * y, 0.7 * sub, rng.standard_normal(400)], axis=1) + 0.2 * rng.standard_normal((400, 3))
    within, between = _naive_sums(z, y)
    assert within_between_ratio(z, y) == pytest.approx(within / between, rel=1e-10)
    sub_part = sum((((y == c) & (sub == s)).sum() * ((z[(y == c) & (sub == s)].mean(axis=0) - z[y == c].mean(axis=0)) ** 2).sum())
                   for c in (0, 1) for s in (0, 1))
    assert subclass_separation(z, y, sub) == pytest.approx(sub_part / between, rel=1e-10)
    collapsed = np.stack([3.0 * y, np.zeros(400)], axis=1) + 0.1 * rng.standard_normal((400, 2))
    assert subclass_separation(collapsed, y, sub) < 1e-3 and within_between_ratio(np.outer(y, [1.0, 2.0]), y) == 0.0
    with pytest.raises(ValueError, match="2 classes"):
        within_between_ratio(z, np.zeros(400, dtype=int))
