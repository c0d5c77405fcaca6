"""Exact minimum-norm minimisers of the spectral losses, population moments, gradient descent."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from clustertheory.analysis.min_norm import (
    DescentConfig,
    basis_names,
    gram_gap,
    joint_threshold,
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
    S_pop, M_pop = population_moments(config, loss, scl_weight=0.3)
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


def _rule_suppressed(config, p, limit):
    """The two rules, stated independently. many-views: the bias carries no noise, so it takes
    the first slot whatever phi_1 is, and v_1 must be among the p - 1 largest of the feature
    variances. many-dims: the rule as the paper states it, phi_1^2 not among the p largest of
    (1, phi_2^2, phi_k^2/(K-2), ...) with the bias as a variance-1 entry."""
    variances = [config.subclass_strength**2] + [config.irrelevant_variance] * (config.num_features - 2)
    above = sum(v > config.class_strength**2 for v in variances)
    if limit == "many-views":
        return p <= 1 + above
    return p <= above + (1.0 > config.class_strength**2)


@pytest.mark.parametrize("limit", ["many-views", "many-dims"])
@pytest.mark.parametrize("K", [3, 6])
def test_ucl_suppression_follows_the_rule_of_each_limit(K, limit):
    checked = 0
    for phi1 in (0.8, 1.3):
        for phi2 in (0.5, 1.5):
            for irr in (0.3, 0.9, 1.1, 2.0):
                strength = float(np.sqrt(irr * (K - 2)))
                config = CollapseConfig(dim=50, num_features=K, class_strength=phi1, subclass_strength=phi2, irrelevant_strength=strength, subclass_mean=0.0, noise=1.0)
                S, M = population_moments(config, "ucl", limit=limit)
                for p in range(1, K + 2):
                    zero = spectral_min_norm(S, M, p).norm_along(_unit(0, len(S))) < 1e-9
                    assert zero == _rule_suppressed(config, p, limit) == (p <= outranking_directions(config, limit)), (phi1, phi2, irr, p)
                    checked += 1
    assert checked == 16 * (K + 1)


def test_the_two_rules_disagree_only_when_phi1_squared_exceeds_one():
    config = CollapseConfig(dim=50, num_features=3, class_strength=float(np.sqrt(2.5)), subclass_strength=2.0, irrelevant_strength=0.5, subclass_mean=0.0)
    assert outranking_directions(config, "many-views") == 2 and outranking_directions(config, "many-dims") == 1  # p = 2: suppressed / kept
    weak = config.replace(class_strength=0.8)
    assert outranking_directions(weak, "many-views") == outranking_directions(weak, "many-dims") == 2


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
    for w in (0.0, 0.2, 0.5, 0.8, 1.0):
        S, M = population_moments(config, "joint", scl_weight=w)
        sol = spectral_min_norm(S, M, 3)
        norms[w] = (sol.norm_along(_unit(0, len(S))), sol.norm_along(_unit(1, len(S))))
    assert norms[0.0][0] < 1e-9 and norms[0.0][1] > 0.3  # UCL: class suppressed
    assert norms[1.0][1] < 1e-9 and norms[1.0][0] > 0.3  # SCL: subclass collapsed
    assert all(min(norms[w]) > 0.1 for w in (0.2, 0.5, 0.8))  # joint: both kept above the threshold


@pytest.mark.parametrize("loss", ["scl", "ucl"])
def test_gradient_descent_from_small_init_reaches_the_min_norm_solution(loss):
    config = CollapseConfig(dim=10, num_features=4, num_originals=400, num_augmentations=2, subclass_mean=1.0, irrelevant_strength=1.5)
    data = collapse_dataset(config, seed=0)
    S, M = scl_moments(data.views, data.y) if loss == "scl" else ucl_moments(data.views)
    basis = range_basis(S)
    best = spectral_min_norm(S, M, 2, basis=basis)
    (_, (W0,)), (_, (W,)) = spectral_gradient_descent([(S, M)], 2, DescentConfig(steps=4000), seeds=[0], record_at=[0, 4000], bases=[basis])
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
    """The literal 'basis' noise has mean sigma/dim on every coordinate: the sum of the coordinates
    is a second constant, a second eigenvalue T = 1 tied with the bias, which takes a slot of the
    embedding (documented in paper_notes). At p = 1 the least-norm constant is the bias itself."""
    gauss = CollapseConfig(num_features=3, subclass_strength=0.5, irrelevant_strength=0.5, subclass_mean=0.0)
    basis = gauss.replace(noise_kind="basis")
    S, M = population_moments(gauss, "ucl")
    assert np.sum(np.isclose(spectral_min_norm(S, M, 2).eigenvalues, 1.0)) == 1
    S, M = population_moments(basis, "ucl")
    assert np.sum(np.isclose(spectral_min_norm(S, M, 2).eigenvalues, 1.0)) == 2
    first = spectral_min_norm(S, M, 1)
    assert first.tie_size == 2 and abs(first.weights[0, -1]) > 0.99 and first.norm_along(_unit(0, len(S))) < 0.01


def test_invalid_arguments_name_the_parameter():
    S, M = _random_problem()
    with pytest.raises(ValueError, match="p must"):
        spectral_min_norm(S, M, 0)
    with pytest.raises(ValueError, match="S and M"):
        spectral_min_norm(S, M[:3, :3], 1)
    with pytest.raises(ValueError, match="record_at"):
        next(spectral_gradient_descent([(S, M)], 1, DescentConfig(steps=5), seeds=[0], record_at=[6]))
    with pytest.raises(ValueError, match="seeds"):
        next(spectral_gradient_descent([(S, M)], 1, DescentConfig(steps=5), seeds=[0, 1], record_at=[5]))
    with pytest.raises(ValueError, match="loss"):
        population_moments(CollapseConfig(), "infonce")
    with pytest.raises(ValueError, match="augmentation_noise"):
        population_moments(CollapseConfig(augmentation_noise=1.0), limit="many-dims")
    with pytest.raises(ValueError, match="class_mean"):
        outranking_directions(CollapseConfig(subclass_mean=1.0))
    with pytest.raises(ValueError, match="p must"):
        joint_threshold(CollapseConfig(subclass_mean=0.0), 1)
    with pytest.raises(ValueError, match="tie_tol"):
        spectral_min_norm(S, M, 1, tie_tol=0.0)
    with pytest.raises(ValueError, match="steps"):
        DescentConfig(steps=0)


# ----------------------------------------------------------------------------- ties: the least-norm member


def _tied_problem(seed=0):
    """S with distinct eigenvalues, M = S^{1/2} T S^{1/2} with T tied at the top (eigenvalue 1, three-fold)."""
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    S = Q @ np.diag([4.0, 2.5, 1.5, 1.0, 0.6, 0.3]) @ Q.T
    E = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    T = E @ np.diag([1.0, 1.0, 1.0, 0.4, -0.2, 0.0]) @ E.T
    half = Q @ np.diag(np.sqrt([4.0, 2.5, 1.5, 1.0, 0.6, 0.3])) @ Q.T
    return S, half @ T @ half, half, E


def test_a_tie_at_the_cut_is_broken_towards_the_least_norm_minimiser():
    S, M, half, E = _tied_problem()
    sol = spectral_min_norm(S, M, 2)
    assert sol.tie_size == 3 and sol.tie and sol.selection_gap > 0
    assert spectral_loss_from_moments(sol.weights, S, M) == pytest.approx(-2.0, rel=1e-10)
    inv_half = np.linalg.inv(half)
    rng = np.random.default_rng(1)
    for _ in range(300):  # every other minimiser: any 2-plane of the tied eigenspace, any rotation
        plane = E[:, :3] @ np.linalg.qr(rng.standard_normal((3, 2)))[0]
        other = plane.T @ inv_half
        assert spectral_loss_from_moments(other, S, M) == pytest.approx(-2.0, rel=1e-9)
        assert np.linalg.norm(other) >= np.linalg.norm(sol.weights) - 1e-12
    untied = spectral_min_norm(S, M, 3)
    assert untied.tie_size == 0 and np.isnan(untied.selection_gap)


def test_the_issue_example_many_dims_ucl_min_norm_is_what_gd_reaches():
    """dim 400 with 100 views: the top eigenvalue of T has multiplicity n = 50; the minimum-norm
    member (not an arbitrary eigenbasis) is what GD from 1e-3 reaches."""
    config = CollapseConfig(dim=400, num_features=4, num_originals=50, num_augmentations=2, class_strength=1.4, subclass_strength=0.7,
                            irrelevant_strength=0.5, subclass_mean=0.0, noise=1.0)
    assert config.regime == "many-dims"
    S, M = ucl_moments(collapse_dataset(config, seed=0).views)
    basis = range_basis(S)
    sol = spectral_min_norm(S, M, 3, basis=basis)
    assert sol.tie_size == 50
    lam, U = basis
    T = (U / np.sqrt(lam)).T @ M @ (U / np.sqrt(lam))
    t, vecs = np.linalg.eigh(T)
    arbitrary = (vecs[:, ::-1][:, :3].T @ (U / np.sqrt(lam)).T)  # an eigenbasis as LAPACK returns it
    assert spectral_loss_from_moments(arbitrary, S, M) == pytest.approx(sol.loss, rel=1e-8)
    assert np.linalg.norm(arbitrary) > 2 * np.linalg.norm(sol.weights)
    (_, (W,)), = spectral_gradient_descent([(S, M)], 3, DescentConfig(steps=1500), seeds=[0], record_at=[1500], bases=[basis])
    assert np.linalg.norm(W) == pytest.approx(np.linalg.norm(sol.weights), rel=0.03)
    assert gram_gap(W, sol.weights, [0, 1, 2, 3, 400]) < 0.05


@pytest.mark.parametrize("loss", ["ucl", "scl", "joint"])
def test_gd_from_small_init_equals_the_closed_form_when_dim_exceeds_views(loss):
    """dim > n m: the closed-form minimum-norm minimiser, ties included, against GD from 1e-3, where the
    cut of each tie falls between well-separated variances (4, 2.25, 1 [bias] | 0.25): GD grows the
    kept directions first. Where two candidates are close, GD may end at another member (next test)."""
    config = CollapseConfig(dim=300, num_features=3, num_originals=60, num_augmentations=2, class_strength=2.0, subclass_strength=1.5,
                            irrelevant_strength=0.5, subclass_mean=0.0, noise=1.0)
    data = collapse_dataset(config, seed=1)
    S, M = {"ucl": lambda: ucl_moments(data.views), "scl": lambda: scl_moments(data.views, data.y),
            "joint": lambda: joint_moments(data.views, data.y, 0.5)}[loss]()
    basis = range_basis(S)
    sol = spectral_min_norm(S, M, 3, basis=basis)
    (_, (W,)), = spectral_gradient_descent([(S, M)], 3, DescentConfig(steps=2000), seeds=[3], record_at=[2000], bases=[basis])
    assert spectral_loss_from_moments(W, S, M) == pytest.approx(sol.loss, rel=2e-4)
    assert gram_gap(W, sol.weights, [0, 1, 2, 300]) < 0.05
    for i in range(3):
        assert np.linalg.norm(W[:, i]) == pytest.approx(sol.norm_along(_unit(i, 301)), abs=0.03)


def test_gd_ends_at_another_minimiser_of_the_joint_loss_when_the_class_feature_is_weak():
    """A limit of the simplicity bias (documented in paper_notes/joint_loss.md): with a weak class
    feature GD grows v_3 before v_1; within the tied (1 - w) eigenspace nothing removes it, so GD
    ends at a minimiser (same loss) that keeps part of v_3, not at the least-norm one."""
    config = CollapseConfig(dim=300, num_features=3, num_originals=75, num_augmentations=2, class_strength=0.8, subclass_strength=2.0,
                            irrelevant_strength=1.25, subclass_mean=0.0, noise=5.0)
    data = collapse_dataset(config, seed=0)
    S, M = joint_moments(data.views, data.y, 0.5)
    basis = range_basis(S)
    sol = spectral_min_norm(S, M, 3, basis=basis)
    (_, (W,)), = spectral_gradient_descent([(S, M)], 3, DescentConfig(steps=2000), seeds=[0], record_at=[2000], bases=[basis])
    assert spectral_loss_from_moments(W, S, M) == pytest.approx(sol.loss, rel=1e-4)
    assert np.linalg.norm(W[:, 2]) > 3 * sol.norm_along(_unit(2, 301))


def test_many_dims_limit_is_the_noiseless_min_norm_minimiser():
    """dim >> n m: the training-set min-norm minimiser approaches population_moments(limit='many-dims')."""
    config = CollapseConfig(dim=1200, num_features=4, num_originals=100, num_augmentations=2, class_strength=1.5, subclass_strength=0.6,
                            irrelevant_strength=1.0, subclass_mean=0.0, noise=0.5)
    S_pop, M_pop = population_moments(config, "ucl", limit="many-dims")
    S, M = ucl_moments(collapse_dataset(config, seed=0).views)
    for p in (1, 2):
        exact = spectral_min_norm(S_pop, M_pop, p)
        sample = spectral_min_norm(S, M, p)
        for i in (0, 1):
            assert sample.norm_along(_unit(i, 1201)) == pytest.approx(exact.norm_along(_unit(i, len(S_pop))), abs=0.15)  # n = 100: sampling
    assert spectral_min_norm(S_pop, M_pop, 1).norm_along(_unit(0, len(S_pop))) == pytest.approx(1 / 1.5)  # ||W v|| = 1/phi_1


def test_joint_threshold_matches_the_population_jump():
    config = CollapseConfig(dim=100, num_features=3, class_strength=0.8, subclass_strength=2.0, irrelevant_strength=1.25, subclass_mean=0.0, noise=5.0)
    w_star = joint_threshold(config, 3)
    assert 0.1 < w_star < 0.3
    for w, kept in ((w_star - 1e-3, False), (w_star + 1e-3, True)):
        S, M = population_moments(config, "joint", scl_weight=w)
        assert (spectral_min_norm(S, M, 3).norm_along(_unit(0, len(S))) > 0.1) == kept
    assert joint_threshold(config, 3, "many-dims") == 0.0
    S, M = population_moments(config, "joint", scl_weight=0.01, limit="many-dims")
    assert spectral_min_norm(S, M, 3).norm_along(_unit(0, len(S))) > 0.5
    assert joint_threshold(config, 4) == 0.0  # a slot for every feature


def test_batched_descent_runs_each_member_as_alone():
    S1, M1 = _random_problem(D=5, seed=0)
    S2, M2 = _random_problem(D=5, rank=3, seed=1)
    descent = DescentConfig(steps=50, lr=0.01, init_scale=0.1)
    (_, both), = spectral_gradient_descent([(S1, M1), (S2, M2)], 2, descent, seeds=[4, 5], record_at=[50])
    (_, (alone,)), = spectral_gradient_descent([(S2, M2)], 2, descent, seeds=[5], record_at=[50])
    assert np.allclose(both[1], alone, atol=1e-12)


def test_gram_gap_is_rotation_invariant_and_names_its_input():
    W = np.random.default_rng(0).standard_normal((2, 4))
    Q = np.linalg.qr(np.random.default_rng(1).standard_normal((2, 2)))[0]
    assert gram_gap(Q @ W, W, [0, 1, 2]) < 1e-12 and gram_gap(2 * W, W, [0, 1]) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="reference"):
        gram_gap(W, np.zeros((2, 4)), [0])
