"""Exact population InfoNCE: two exact methods agree, Monte Carlo agrees, the minimum is the closed form;
invalid arguments are refused naming their range; finite at beta = 50; symmetries (hypothesis)."""

import itertools
import math
import time

import numpy as np
import pytest
import torch
from helpers import NONNEG, ONE_OF, POSITIVE_INT, raises
from hypercube_strategies import SETTINGS, apply, code_tables, signed_permutations
from hypothesis import given
from hypothesis import strategies as st

from clustertheory.analysis.exact_loss import (
    exact_code_infonce,
    expected_log_sum,
    laplace_log1p_sum,
    monte_carlo_code_infonce,
    monte_carlo_population_infonce,
    multinomial_term_count,
    population_infonce,
    population_infonce_batch,
    uniform_minimum,
)
from clustertheory.analysis.hypercube import MAX_EXACT_DIM, vertex_codes
from clustertheory.data import comb_dataset
from clustertheory.losses.infonce import hypercube_infonce


def brute_expected_log_sum(a, values, probs, l):
    """E log(a + sum_i X_i) by enumerating all n^l outcomes."""
    total = 0.0
    for outcome in itertools.product(range(len(values)), repeat=l):
        total += np.prod([probs[j] for j in outcome]) * math.log(a + sum(values[j] for j in outcome))
    return total


def random_problem(rng, d, pairs=40, negatives=30, flip=0.15):
    """Random anchor/positive/negative codes with random weights."""
    codes = vertex_codes(d)
    anchor = codes[rng.integers(0, 2**d, pairs)]
    positive = np.where(rng.random((pairs, d)) < flip, -anchor, anchor)
    return anchor, positive, rng.dirichlet(np.ones(pairs)), codes[rng.integers(0, 2**d, negatives)], rng.dirichlet(np.ones(negatives))


@pytest.mark.parametrize("seed", range(8))
def test_multinomial_equals_laplace(seed):
    rng = np.random.default_rng(seed)
    n, l = int(rng.integers(1, 6)), int(rng.integers(1, 10))
    values = np.exp(rng.normal(0.0, rng.uniform(0.1, 30.0), n))
    probs = rng.dirichlet(np.ones(n))
    a = float(rng.uniform(0.1, 5.0))
    multinomial = expected_log_sum(a, values, probs, l, method="multinomial")
    laplace = expected_log_sum(a, values, probs, l, method="laplace")
    assert laplace == pytest.approx(multinomial, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("l", [1, 2, 3])
def test_both_methods_match_enumeration(l):
    values, probs, a = np.array([0.0, 0.3, 2.0, 7.0]), np.array([0.1, 0.2, 0.3, 0.4]), 0.7
    expected = brute_expected_log_sum(a, values, probs, l)
    for method in ("multinomial", "laplace"):
        assert expected_log_sum(a, values, probs, l, method=method) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("log_value", [-100.0, -30.0, 0.0, 30.0, 100.0])
def test_laplace_over_extreme_values(log_value):
    """A point mass: E log(1 + l v) = log(1 + l v), for v from e^-100 to e^100."""
    value = math.exp(log_value)
    exact = math.log1p(7 * value)
    assert expected_log_sum(1.0, [value], [1.0], 7, method="laplace") == pytest.approx(exact, rel=1e-12)
    mixed = expected_log_sum(1.0, [math.exp(-100), 1.0, math.exp(100)], [0.3, 0.3, 0.4], 5, method="laplace")
    assert mixed == pytest.approx(
        expected_log_sum(1.0, [math.exp(-100), 1.0, math.exp(100)], [0.3, 0.3, 0.4], 5, method="multinomial"), rel=1e-12
    )


def test_laplace_cost_does_not_grow_with_l():
    probs = np.full(7, 1 / 7)
    values = np.exp(-np.arange(7.0))
    assert multinomial_term_count(7, 10_000) > 10**20
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        value = expected_log_sum(1.0, values, probs, 10_000, method="laplace")
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.5
    # law of large numbers: log(1 + sum) ~ log(1 + l E X) for large l
    assert value == pytest.approx(math.log1p(10_000 * values.mean()), rel=1e-3)


@pytest.mark.parametrize("l, beta", [(1, 1.0), (5, 0.5), (32, 2.0)])
def test_exact_matches_monte_carlo(l, beta):
    rng = np.random.default_rng(l)
    problem = random_problem(rng, d=4)
    exact = exact_code_infonce(*problem, l, beta)
    mean, stderr = monte_carlo_code_infonce(*problem, l, beta, num_samples=40_000, seed=7)
    assert abs(exact - mean) < 4 * stderr


def test_exact_matches_the_loss_module_on_sampled_batches():
    """The package's hypercube_infonce, averaged over a big sample, agrees with the exact value."""
    rng = np.random.default_rng(3)
    anchor, positive, pair_weight, negative, negative_weight = random_problem(rng, d=3)
    l, beta, n = 4, 1.5, 40_000
    pairs = rng.choice(len(anchor), n, p=pair_weight)
    negatives = negative[rng.choice(len(negative), (n, l), p=negative_weight)]
    losses = hypercube_infonce(
        torch.from_numpy(anchor[pairs]), torch.from_numpy(positive[pairs]), torch.from_numpy(negatives), beta, reduction="none"
    ).numpy()
    exact = exact_code_infonce(anchor, positive, pair_weight, negative, negative_weight, l, beta)
    assert abs(exact - losses.mean()) < 4 * losses.std() / math.sqrt(n)


def test_methods_agree_on_codes():
    problem = random_problem(np.random.default_rng(11), d=3)
    assert exact_code_infonce(*problem, 3, 0.8, method="multinomial") == pytest.approx(
        exact_code_infonce(*problem, 3, 0.8, method="laplace"), rel=1e-10
    )


def brute_uniform_minimum(d, l, beta):
    """E log(1 + sum_i exp(-2 beta h(y, ybar_i))) with y, ybar_i uniform: enumerate every tuple."""
    codes = vertex_codes(d)
    total = 0.0
    for y in codes:
        for tuple_ in itertools.product(codes, repeat=l):
            total += math.log1p(sum(math.exp(-beta * (d - y @ ybar)) for ybar in tuple_))
    return total / 2 ** (d * (l + 1))


@pytest.mark.parametrize("d, l, beta", [(1, 1, 0.7), (2, 2, 1.0), (2, 3, 0.3), (3, 2, 2.0)])
def test_uniform_minimum_closed_form(d, l, beta):
    assert uniform_minimum(d, l, beta) == pytest.approx(brute_uniform_minimum(d, l, beta), rel=1e-12)


def cluster_code(data, vertex_of_cluster, d):
    return vertex_codes(d)[np.asarray(vertex_of_cluster)[data.content]]


@pytest.mark.parametrize("l, beta", [(1, 1.0), (4, 2.0), (16, 0.5)])
def test_uniform_cluster_preserving_code_attains_the_minimum(l, beta):
    data = comb_dataset(num_clusters=4, points_per_cluster=3, teeth=2)
    value = population_infonce(cluster_code(data, [0, 1, 2, 3], d=2), data, l, beta)
    assert value == pytest.approx(uniform_minimum(2, l, beta), rel=1e-12)


@pytest.mark.parametrize("l, beta", [(1, 2.0), (4, 2.0), (16, 3.0)])
def test_non_uniform_and_split_codes_cost_more(l, beta):
    data = comb_dataset(num_clusters=4, points_per_cluster=3, teeth=2)
    best = uniform_minimum(2, l, beta)
    merged = population_infonce(cluster_code(data, [0, 1, 2, 2], d=2), data, l, beta)  # preserving, not uniform
    split = cluster_code(data, [0, 1, 2, 3], d=2)
    split[data.content == 0] = vertex_codes(2)[np.where(np.arange(data.num_views) % 2 == 0, 0, 1)][data.content == 0]
    assert merged > best + 1e-6
    assert population_infonce(split, data, l, beta) > best + 1e-6


def test_d6_l64_runs_under_a_second():
    rng = np.random.default_rng(0)
    problem = random_problem(rng, d=6, pairs=400, negatives=200)
    exact_code_infonce(*problem, 8, 1.0)  # warm-up (imports, allocator)
    timings = []
    for _ in range(3):  # best of three: a shared CI machine can stall any single run
        start = time.perf_counter()
        exact_code_infonce(*problem, 64, 1.0)
        timings.append(time.perf_counter() - start)
    assert min(timings) < 1.0


@pytest.mark.parametrize(
    "change, match",
    [
        ({"num_negatives": 0}, "num_negatives"),
        ({"beta": -1.0}, "beta"),
        ({"method": "sampling"}, "method"),
        ({"anchor_codes": np.ones((2, 13))}, "d"),
        ({"anchor_codes": np.zeros((2, 3))}, "anchor_codes"),
        ({"positive_codes": np.ones((3, 3))}, "positive_codes"),
        ({"pair_weight": np.array([0.5, 0.6])}, "pair_weight"),
        ({"negative_codes": np.ones((2, 2))}, "negative_codes"),
    ],
)
def test_exact_code_infonce_validation(change, match):
    args = {
        "anchor_codes": np.ones((2, 3)),
        "positive_codes": np.ones((2, 3)),
        "pair_weight": np.array([0.5, 0.5]),
        "negative_codes": np.ones((2, 3)),
        "negative_weight": np.array([0.5, 0.5]),
        "num_negatives": 2,
        "beta": 1.0,
    }
    with pytest.raises(ValueError, match=match):
        exact_code_infonce(**{**args, **change})


def test_primitive_validation():
    with pytest.raises(ValueError, match="a must"):
        expected_log_sum(0.0, [1.0], [1.0], 1)
    with pytest.raises(ValueError, match="values"):
        expected_log_sum(1.0, [-1.0], [1.0], 1)
    with pytest.raises(ValueError, match="probs"):
        expected_log_sum(1.0, [1.0, 2.0], [0.5, 0.4], 1)
    with pytest.raises(ValueError, match="d must"):
        uniform_minimum(0, 1, 1.0)


@pytest.mark.parametrize("d,l", [(2, 3), (3, 16), (3, 40)])
def test_batched_population_loss_equals_the_loss_of_each_table(d, l):
    data = comb_dataset(2**d, 3, 4)
    rng = np.random.default_rng(d + l)
    tables = vertex_codes(d)[rng.integers(0, 2**d, (6, data.num_views))]
    tables[0] = vertex_codes(d)[data.content]  # uniform and cluster-preserving
    tables[1] = vertex_codes(d)[np.zeros(data.num_views, dtype=int)]  # collapsed: a probability-0 distance
    for method in ("multinomial", "laplace"):
        batch = population_infonce_batch(tables, data, l, 1.5, method=method)
        single = [population_infonce(t, data, l, 1.5, method=method) for t in tables]
        assert np.allclose(batch, single, rtol=0, atol=1e-12)
    assert abs(batch[0] - uniform_minimum(d, l, 1.5)) < 1e-12
    with pytest.raises(ValueError, match="codes"):
        population_infonce_batch(tables[0], data, l, 1.5)


def test_monte_carlo_population_loss_agrees_with_the_exact_loss():
    data = comb_dataset(4, 3, 4)
    codes = vertex_codes(2)[np.random.default_rng(0).integers(0, 4, data.num_views)]
    mean, se = monte_carlo_population_infonce(codes, data, 5, 2.0, 20000, seed=1)
    assert abs(mean - population_infonce(codes, data, 5, 2.0)) < 4 * se
    shifted, _ = monte_carlo_population_infonce(codes, data, 6, 2.0, 20000, seed=1)  # one negative more: a different loss
    assert abs(shifted - population_infonce(codes, data, 5, 2.0)) > 4 * se


# ----------------------------------------------------------------------------- validation

SMALL = comb_dataset(num_clusters=2, points_per_cluster=2, teeth=2)
SMALL_CODES = np.ones((SMALL.num_views, 2))


@pytest.mark.parametrize(
    "call,name,allowed",
    [
        (lambda: population_infonce(np.ones((SMALL.num_views, MAX_EXACT_DIM + 1)), SMALL, 2, 1.0), r"\(d\)", rf"integer in \[1, {MAX_EXACT_DIM}\]"),
        (lambda: population_infonce(SMALL_CODES, SMALL, 0, 1.0), "num_negatives", POSITIVE_INT),
        (lambda: population_infonce(SMALL_CODES, SMALL, 2, -0.5), "beta", NONNEG),
        (lambda: population_infonce(SMALL_CODES, SMALL, 2, math.nan), "beta", NONNEG),
        (lambda: population_infonce(SMALL_CODES, SMALL, 2, 1.0, method="sampling"), "method", ONE_OF),
        (lambda: population_infonce(SMALL_CODES[:-1], SMALL, 2, 1.0), "codes", r"one row per view \(8\)"),
        (lambda: population_infonce(0.5 * SMALL_CODES, SMALL, 2, 1.0), "codes", r"only -1 and \+1"),
        (lambda: uniform_minimum(0, 2, 1.0), "d", POSITIVE_INT),
        (lambda: uniform_minimum(3, 0, 1.0), "num_negatives", POSITIVE_INT),
        (lambda: uniform_minimum(3, 2, -1.0), "beta", NONNEG),
        (lambda: monte_carlo_code_infonce(SMALL_CODES, SMALL_CODES, np.full(8, 1 / 8), SMALL_CODES, np.full(8, 1 / 8), 2, 1.0, 1), "num_samples", r">= 2"),
    ],
    ids=["d-too-large", "l<1", "beta<0", "beta-nan", "method", "rows", "not-codes", "min-d", "min-l", "min-beta", "mc-samples"],
)
def test_exact_loss_rejects_invalid_arguments(call, name, allowed):
    with raises(name, allowed):
        call()


# ----------------------------------------------------------------------------- stability at beta = 50

STABILITY_DATA = comb_dataset(num_clusters=4, points_per_cluster=2, teeth=2)


def _codes(kind: str, d: int, seed: int = 0) -> np.ndarray:
    vertices = vertex_codes(d)
    if kind == "uniform cluster code":
        return vertices[STABILITY_DATA.content % 2**d]
    if kind == "constant":
        return np.ones((STABILITY_DATA.num_views, d))
    return vertices[np.random.default_rng(seed).integers(0, 2**d, STABILITY_DATA.num_views)]


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("l", [1, 8])
@pytest.mark.parametrize("method", ["multinomial", "laplace"])
def test_exact_population_loss_at_beta_50_is_finite_and_above_the_minimum(d, l, method):
    beta = 50.0
    minimum = uniform_minimum(d, l, beta, method)
    assert math.isfinite(minimum) and minimum > 0
    values = {kind: population_infonce(_codes(kind, d), STABILITY_DATA, l, beta, method) for kind in ("uniform cluster code", "constant", "random")}
    for kind, value in values.items():
        assert math.isfinite(value), kind
        assert value >= minimum * (1 - 1e-12), (kind, value, minimum)
    # the constant code: every negative collides with the anchor, log(1 + l) exactly
    assert values["constant"] == pytest.approx(math.log1p(l), rel=1e-12)
    if d == 2:  # 4 clusters on the 4 vertices of H_2: uniform and cluster-preserving, so minimal
        assert values["uniform cluster code"] == pytest.approx(minimum, rel=1e-10)
    # the random code splits augmentation sets: alignment costs about 2 beta per mismatch
    assert values["random"] > values["constant"]


def test_laplace_primitive_gradient_is_finite_at_beta_50():
    """The differentiable path (used by the blurring search) at beta = 50, d = 6, l = 64."""
    d, l, beta = 6, 64, 50.0
    h = torch.arange(d + 1, dtype=torch.float64)
    log_ratio = -2.0 * beta * h
    probs = torch.distributions.Binomial(d, torch.tensor(0.5, dtype=torch.float64)).log_prob(h).exp()
    probs = torch.stack([probs, torch.nn.functional.one_hot(torch.tensor(d), d + 1).double()]).requires_grad_(True)
    value = laplace_log1p_sum(log_ratio, probs, l)
    value.sum().backward()
    assert torch.isfinite(value).all() and torch.isfinite(probs.grad).all()
    assert value[0].item() == pytest.approx(uniform_minimum(d, l, beta), rel=1e-10)
    assert value[1].item() == pytest.approx(math.log1p(l * math.exp(-2 * beta * d)), rel=1e-6)


# ----------------------------------------------------------------------------- properties


@SETTINGS
@given(table=code_tables(), l=st.integers(1, 4), beta=st.floats(0.0, 50.0), data=st.data())
def test_exact_loss_is_above_the_minimum_and_invariant_under_automorphisms(table, l, beta, data):
    dataset, codes, d = table
    value = population_infonce(codes, dataset, l, beta)
    minimum = uniform_minimum(d, l, beta)
    assert math.isfinite(value) and value >= minimum * (1 - 1e-12) - 1e-15
    assert value <= math.log1p(l) + 2 * beta * d + 1e-9
    auto = data.draw(signed_permutations(d))
    assert population_infonce(apply(auto, codes), dataset, l, beta) == pytest.approx(value, rel=1e-12, abs=1e-15)


@SETTINGS
@given(table=code_tables(), l=st.integers(1, 4))
def test_exact_loss_at_beta_zero_is_log_one_plus_l(table, l):
    dataset, codes, _ = table
    assert population_infonce(codes, dataset, l, 0.0) == pytest.approx(math.log1p(l), rel=1e-12)


@SETTINGS
@given(table=code_tables(), l=st.integers(1, 4), beta=st.floats(0.0, 10.0), seed=st.integers(0, 2**32 - 1))
def test_exact_code_loss_is_invariant_to_row_order_and_to_splitting_a_row(table, l, beta, seed):
    dataset, codes, _ = table
    anchor, positive, weight = dataset.pair_weights()
    negative, negative_weight = codes[dataset.base_view], dataset.base_weight
    value = exact_code_infonce(codes[anchor], codes[positive], weight, negative, negative_weight, l, beta)
    rng = np.random.default_rng(seed)
    pairs, negs = rng.permutation(len(weight)), rng.permutation(len(negative_weight))
    shuffled = exact_code_infonce(codes[anchor][pairs], codes[positive][pairs], weight[pairs], negative[negs], negative_weight[negs], l, beta)
    assert shuffled == pytest.approx(value, rel=1e-12, abs=1e-15)
    # the same pair listed twice with half the weight each is the same law
    split_weight = np.concatenate([weight, [weight[0] / 2]])
    split_weight[0] /= 2
    split = exact_code_infonce(
        np.vstack([codes[anchor], codes[anchor][:1]]), np.vstack([codes[positive], codes[positive][:1]]), split_weight, negative, negative_weight, l, beta
    )
    assert split == pytest.approx(value, rel=1e-12, abs=1e-15)
