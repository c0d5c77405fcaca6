"""Exact minimum-norm minimisers of the spectral losses, population moments, gradient descent."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from clustertheory.analysis.min_norm import (
    basis_names,
    outranking_directions,
    population_moments,
    range_basis,
    spectral_gradient_descent,
    spectral_min_norm,
)
from clustertheory.data import CollapseConfig, collapse_dataset
from clustertheory.losses.spectral import (
    joint_moments,
    scl_moments,
    spectral_gradient,
    spectral_loss_from_moments,
    ucl_moments,
    with_bias,
)


def _random_problem(D=6, rank=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rank or 3 * D, D))
    S = X.T @ X / len(X)
    C = rng.standard_normal((len(X), len(X)))
    M = X.T @ (C + C.T) @ X / (2 * len(X))  # symmetric, indefinite, range inside range(S)
    return S, M


def _unit(i, size):
    e = np.zeros(size)
    e[i] = 1.0
    return e


def test_min_norm_attains_its_value_and_beats_random_weights():
    S, M = _random_problem()
    sol = spectral_min_norm(S, M, 2)
    assert spectral_loss_from_moments(sol.weights, S, M) == pytest.approx(sol.loss, rel=1e-10)
    assert np.abs(spectral_gradient(sol.weights, S, M)).max() < 1e-9
    rng = np.random.default_rng(1)
    for _ in range(200):
        W = rng.standard_normal((2, 6)) * rng.uniform(0.01, 2)
        assert spectral_loss_from_moments(W, S, M) >= sol.loss - 1e-12
    Q = np.linalg.qr(rng.standard_normal((2, 2)))[0]
    assert spectral_loss_from_moments(Q @ sol.weights, S, M) == pytest.approx(sol.loss, rel=1e-10)
    assert sol.loss == pytest.approx(-np.sum(np.clip(sol.eigenvalues[:2], 0, None) ** 2))


def test_min_norm_has_the_smallest_norm_among_minimisers():
    S, M = _random_problem(D=8, rank=5)
    lam, U = range_basis(S)
    assert len(lam) == 5
    sol = spectral_min_norm(S, M, 3)
    assert np.abs(sol.weights - sol.weights @ U @ U.T).max() < 1e-9  # rows inside range(S)
    null = np.eye(8) - U @ U.T
    shifted = sol.weights + np.random.default_rng(99).standard_normal((3, 8)) @ null
    assert spectral_loss_from_moments(shifted, S, M) == pytest.approx(sol.loss, rel=1e-9)
    assert np.linalg.norm(shifted) > np.linalg.norm(sol.weights)


def test_tie_across_the_cut_is_reported():
    S = np.eye(4)
    M = np.diag([1.0, 0.5, 0.5, 0.0])
    assert spectral_min_norm(S, M, 2).tie and not spectral_min_norm(S, M, 3).tie
    assert spectral_min_norm(S, M, 4).kept == 3


@pytest.mark.parametrize("kind", ["gaussian", "basis"])
@pytest.mark.parametrize("loss", ["ucl", "scl", "joint"])
def test_population_moments_match_a_large_sample(kind, loss):
    config = CollapseConfig(dim=9, num_features=5, num_originals=60000, num_augmentations=2, class_strength=1.2, subclass_strength=0.8,
                            irrelevant_strength=1.5, class_mean=0.4, subclass_mean=1.0, irrelevant_mean=0.6, noise=1.5, noise_kind=kind,
                            augmentation_noise=0.3)
    data = collapse_dataset(config, seed=0)
    S, M = {"ucl": lambda: ucl_moments(data.views), "scl": lambda: scl_moments(data.views, data.y),
            "joint": lambda: joint_moments(data.views, data.y, 0.3)}[loss]()
    B = np.zeros((10, 7))  # reduced basis v1..v5, w, bias inside the lifted space
    B[:5, :5] = np.eye(5)
    B[5:9, 5] = 0.5
    B[9, 6] = 1.0
    S_pop, M_pop = population_moments(config, loss, beta=0.3)
    assert basis_names(config) == ["v1", "v2", "v3", "v4", "v5", "w", "bias"]
    assert np.abs(B.T @ S @ B - S_pop).max() < 0.03
    assert np.abs(B.T @ M @ B - M_pop).max() < 0.03


@pytest.mark.parametrize("mean", [0.0, 1.0])
def test_scl_min_norm_collapses_the_subclass(mean):
    """Theorem: ||W* v2|| = 0. With a bias this holds for any subclass mean; without one only for mu = 0."""
    config = CollapseConfig(subclass_mean=mean)
    S, M = population_moments(config, "scl")
    sol = spectral_min_norm(S, M, 3)
    assert sol.norm_along(_unit(1, len(S))) < 1e-12 and sol.norm_along(_unit(0, len(S))) > 0.9
    S0, M0 = population_moments(config, "scl", bias=False)
    no_bias = spectral_min_norm(S0, M0, 3).norm_along(_unit(1, len(S0)))
    assert (no_bias < 1e-12) if mean == 0 else (no_bias > 0.3)


def test_scl_min_norm_on_a_training_set_is_close_to_collapsed():
    config = CollapseConfig(dim=60, num_originals=3000, num_augmentations=2, subclass_mean=0.0)
    data = collapse_dataset(config, seed=0)
    sol = spectral_min_norm(*scl_moments(data.views, data.y), 3)
    v1, v2 = sol.norm_along(_unit(0, 61)), sol.norm_along(_unit(1, 61))
    assert v2 < 0.05 * v1


def _rule_suppressed(config, p):
    """The variance rule, stated independently: phi_1^2 not among the p largest of
    (bias, phi_2^2, phi_k^2/(K-2), ...). The bias carries no noise, so it ranks first whatever
    phi_1 is (the '1' of the paper's list acts as the top entry)."""
    variances = [config.subclass_strength**2] + [config.irrelevant_variance] * (config.num_features - 2)
    return p <= 1 + sum(v > config.class_strength**2 for v in variances)


@pytest.mark.parametrize("K", [3, 6])
def test_ucl_suppression_follows_the_variance_ranking(K):
    checked = 0
    for phi2 in (0.5, 1.5):
        for irr in (0.3, 0.9, 1.1, 2.0):
            strength = float(np.sqrt(irr * (K - 2)))
            config = CollapseConfig(dim=50, num_features=K, subclass_strength=phi2, irrelevant_strength=strength, subclass_mean=0.0, noise=1.0)
            S, M = population_moments(config, "ucl")
            for p in range(1, K + 2):
                zero = spectral_min_norm(S, M, p).norm_along(_unit(0, len(S))) < 1e-9
                assert zero == _rule_suppressed(config, p) == (p <= outranking_directions(config)), (phi2, irr, p)
                checked += 1
    assert checked == 8 * (K + 1)


def test_imperfect_augmentation_suppresses_for_every_p_below_K():
    config = CollapseConfig(dim=200, num_features=200, irrelevant_strength=1.0, subclass_strength=0.5, subclass_mean=0.0, noise=0.5, augmentation_noise=1.0)
    S, M = population_moments(config, "ucl")
    assert outranking_directions(config) == 199
    norms = [spectral_min_norm(S, M, p).norm_along(_unit(0, len(S))) for p in (1, 2, 50, 199, 200)]
    assert max(norms[:4]) < 1e-9 and norms[4] > 0.4
    perfect = CollapseConfig(**{**config.__dict__, "augmentation_noise": 0.0})
    S, M = population_moments(perfect, "ucl")
    assert spectral_min_norm(S, M, 2).norm_along(_unit(0, len(S))) > 0.9


def test_joint_loss_keeps_both_features():
    config = CollapseConfig(dim=100, num_features=3, subclass_strength=2.0, irrelevant_strength=1.25, subclass_mean=0.0, noise=5.0)
    norms = {}
    for beta in (0.0, 0.2, 0.5, 0.8, 1.0):
        S, M = population_moments(config, "joint", beta=beta)
        sol = spectral_min_norm(S, M, 3)
        norms[beta] = (sol.norm_along(_unit(0, len(S))), sol.norm_along(_unit(1, len(S))))
    assert norms[0.0][0] < 1e-9 and norms[0.0][1] > 0.3  # UCL: class suppressed
    assert norms[1.0][1] < 1e-9 and norms[1.0][0] > 0.3  # SCL: subclass collapsed
    assert all(min(norms[b]) > 0.1 for b in (0.2, 0.5, 0.8))  # joint: both kept


@pytest.mark.parametrize("loss", ["scl", "ucl"])
def test_gradient_descent_from_small_init_reaches_the_min_norm_solution(loss):
    config = CollapseConfig(dim=10, num_features=4, num_originals=400, num_augmentations=2, subclass_mean=1.0, irrelevant_strength=1.5)
    data = collapse_dataset(config, seed=0)
    S, M = scl_moments(data.views, data.y) if loss == "scl" else ucl_moments(data.views)
    basis = range_basis(S)
    best = spectral_min_norm(S, M, 2, basis=basis)
    (_, W0), (_, W) = spectral_gradient_descent(S, M, 2, steps=4000, lr=0.05, init_scale=1e-3, seed=0, record_at=[0, 4000], basis=basis)
    assert np.abs(W0).max() < 0.01
    A, A_star = W.T @ W, best.gram
    assert np.linalg.norm(A - A_star) / np.linalg.norm(A_star) < 0.02
    assert spectral_loss_from_moments(W, S, M) == pytest.approx(best.loss, rel=1e-4)


def test_a_readable_minimiser_exists_when_views_do_not_span_the_space():
    """More dimensions than training views: shifting W* along the part of v2 that no training
    view reaches keeps the training loss exactly, yet lets a probe read the subclass."""
    config = CollapseConfig(dim=400, num_features=4, num_originals=60, num_augmentations=2, subclass_mean=0.0, noise=1.0)
    data = collapse_dataset(config, seed=0)
    S, M = scl_moments(data.views, data.y)
    lam, U = range_basis(S)
    best = spectral_min_norm(S, M, 3, basis=(lam, U))
    v2 = _unit(1, 401)
    hidden = v2 - U @ (U.T @ v2)
    readable = best.weights.copy()
    readable[2] += hidden / np.linalg.norm(hidden) ** 2  # so that readable[2] . v2 = 1
    assert spectral_loss_from_moments(readable, S, M) == pytest.approx(best.loss, rel=1e-9)
    assert best.norm_along(v2) < 0.05 and np.linalg.norm(readable @ v2) > 0.99
    test = collapse_dataset(CollapseConfig(**{**config.__dict__, "num_originals": 600}), seed=1)
    x = with_bias(test.originals)

    def probe(W):
        z = x @ W.T
        return LogisticRegression(max_iter=1000).fit(z[:300], test.y_sub[:300]).score(z[300:], test.y_sub[300:])

    assert probe(readable) > 0.9 and probe(best.weights) < 0.75


def test_spec_basis_noise_adds_a_second_bias():
    """The literal 'basis' noise has mean sigma/dim on every coordinate: the noise sum acts as a
    second constant feature and breaks the variance rule (documented in paper_notes)."""
    gauss = CollapseConfig(num_features=3, subclass_strength=0.5, irrelevant_strength=0.5, subclass_mean=0.0)
    basis = CollapseConfig(**{**gauss.__dict__, "noise_kind": "basis"})
    S, M = population_moments(gauss, "ucl")
    assert spectral_min_norm(S, M, 1).norm_along(_unit(0, len(S))) < 1e-9
    S, M = population_moments(basis, "ucl")
    assert spectral_min_norm(S, M, 1).norm_along(_unit(0, len(S))) > 0.1


def test_invalid_arguments_name_the_parameter():
    S, M = _random_problem()
    with pytest.raises(ValueError, match="p must"):
        spectral_min_norm(S, M, 0)
    with pytest.raises(ValueError, match="S and M"):
        spectral_min_norm(S, M[:3, :3], 1)
    with pytest.raises(ValueError, match="record_at"):
        next(spectral_gradient_descent(S, M, 1, steps=5, lr=0.1, init_scale=0.1, seed=0, record_at=[6]))
    with pytest.raises(ValueError, match="loss"):
        population_moments(CollapseConfig(), "infonce")
    with pytest.raises(ValueError, match="class_mean"):
        outranking_directions(CollapseConfig(subclass_mean=1.0))
