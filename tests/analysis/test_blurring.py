"""Blurring on the hypercube: the walk, the exact reduced loss, the Hamming chain, Lemma 18,
and the monotonicity of the loss along the chain."""

import math

import numpy as np
import pytest
import torch
from scipy.special import comb

from clustertheory.analysis.blurring import (
    cell_increases,
    chain_curves,
    chain_rows,
    curvature_fd_errors,
    curvature_fd_rows,
    curvature_threshold,
    delta_c,
    distance_law,
    distance_laws,
    distance_laws_torch,
    entry_gap,
    hamming_kernel,
    hamming_kernel_enumerated,
    hamming_kernel_monte_carlo,
    hamming_step_probs,
    inside_conditions,
    kernel_rows,
    kernel_z_scores,
    krawtchouk,
    lemma18_row,
    lemma18_sum,
    monte_carlo_reduced_loss,
    monte_carlo_z,
    parity_asymptote,
    reduced_loss,
    reduced_loss_path,
    search_blurring_increase,
    search_blurring_increases,
    search_losses,
    search_rows,
    starting_laws,
    step_increase,
    threshold_row,
    uniform_curvatures,
    walk_path,
    walk_step,
    walsh_direction,
)
from clustertheory.analysis.exact_loss import (
    exact_code_infonce,
    population_infonce,
    uniform_minimum,
)
from clustertheory.analysis.hypercube import hamming_matrix, vertex_codes, vertex_weight
from clustertheory.analysis.metrics import uniformity
from clustertheory.data import comb_dataset
from clustertheory.statistics import wilson_interval


def walk_matrix(d):
    """(2^d, 2^d) lazy-walk transition matrix straight from the definition."""
    distance = hamming_matrix(d)
    return 0.5 * (distance == 0) + (distance == 1) / (2 * d)


def random_law(d, seed, concentration=0.5):
    return np.random.default_rng(seed).dirichlet(np.full(2**d, concentration))


# ----------------------------------------------------------------------------- 1. walk and loss


@pytest.mark.parametrize("d", [1, 3, 6])
def test_walk_step_is_the_lazy_walk(d):
    law = random_law(d, d)
    stepped = walk_step(law)
    assert stepped == pytest.approx(law @ walk_matrix(d), abs=1e-15)
    assert walk_step(torch.from_numpy(law)).numpy() == pytest.approx(stepped, abs=1e-15)
    assert stepped.sum() == pytest.approx(1.0)


def test_walk_multiplies_walsh_coefficients_by_one_minus_k_over_d():
    d = 5
    for k in range(d + 1):
        eta = walsh_direction(d, k)
        assert walk_step(eta) == pytest.approx((1 - k / d) * eta, abs=1e-15)


def test_walk_converges_to_uniform_for_d10():
    path = walk_path(starting_laws(10, 0)["point"], 60)
    tv = [uniformity(law)["tv"] for law in path]
    assert np.all(np.diff(tv) <= 1e-15)  # the lazy walk contracts TV
    assert tv[-1] < tv[0] * 1e-1


def test_distance_laws_direct_and_walsh_agree():
    law = random_law(6, 1)
    direct = distance_laws(law)
    assert direct.sum(axis=-1) == pytest.approx(np.ones(64))
    assert distance_laws_torch(torch.from_numpy(law)).numpy() == pytest.approx(direct, abs=1e-15)
    # brute force for one anchor
    y = 5
    brute = np.bincount(hamming_matrix(6)[y], weights=law, minlength=7)
    assert direct[y] == pytest.approx(brute, abs=1e-16)


@pytest.mark.parametrize("d, l, beta", [(3, 1, 1.0), (4, 5, 0.5), (5, 16, 2.0)])
def test_reduced_loss_is_the_infonce_of_a_clean_code(d, l, beta):
    """Ltilde(D) = exact InfoNCE of codes with g(x) = g(x+) and law D (independent code path)."""
    law = random_law(d, l)
    codes = vertex_codes(d)
    expected = exact_code_infonce(codes, codes, law, codes, law, l, beta)
    assert reduced_loss(law, l, beta) == pytest.approx(expected, rel=1e-12)
    assert float(reduced_loss(torch.from_numpy(law), l, beta)) == pytest.approx(expected, rel=1e-12)


def test_reduced_loss_methods_agree():
    law = random_law(3, 9)
    assert reduced_loss(law, 3, 0.7, method="multinomial") == pytest.approx(reduced_loss(law, 3, 0.7, method="laplace"), rel=1e-12)


@pytest.mark.parametrize("d, l, beta", [(2, 3, 1.0), (7, 64, 0.2), (10, 8, 3.0)])
def test_uniform_law_gives_the_closed_form(d, l, beta):
    assert reduced_loss(np.full(2**d, 2.0**-d), l, beta) == pytest.approx(uniform_minimum(d, l, beta), rel=1e-12)


def test_reduced_loss_path_d10_is_fast_and_exact():
    path = reduced_loss_path(starting_laws(10, 0)["code-half"], 3, 16, 2.0)
    assert path.shape == (4,)
    assert np.all(np.diff(path) < 0)


# ----------------------------------------------------------------------------- 2. the Hamming chain


@pytest.mark.parametrize("d", range(1, 9))
def test_kernel_formula_matches_enumeration_and_rows_sum_to_one(d):
    kernel = hamming_kernel(d)
    assert kernel == pytest.approx(hamming_kernel_enumerated(d), abs=1e-15)
    assert kernel.sum(axis=1) == pytest.approx(np.ones(d + 1), abs=1e-15)
    assert (kernel >= 0).all()


@pytest.mark.parametrize("d", [4, 7])
def test_printed_plus_two_entry_breaks_the_rows(d):
    printed = np.array([hamming_step_probs(d, h, "paper").sum() for h in range(d + 1)])
    assert printed - 1 == pytest.approx([(d - h) / (2 * d * d) for h in range(d + 1)], abs=1e-15)
    assert np.abs(hamming_kernel(d, "paper") - hamming_kernel_enumerated(d)).max() > 0.01


@pytest.mark.parametrize("d", [3, 6])
def test_kernel_agrees_with_simulated_bit_flip_walkers(d):
    counts = hamming_kernel_monte_carlo(d, 40_000, seed=d)
    assert np.abs(kernel_z_scores(hamming_kernel(d), counts)).max() < 5.0
    for variant in ("paper", "paper-remainder"):
        assert np.abs(kernel_z_scores(hamming_kernel(d, variant), counts)).max() > 10.0


def test_binomial_is_stationary_and_the_distance_law_follows_the_kernel():
    d = 6
    binomial = comb(d, np.arange(d + 1)) / 2**d
    assert binomial @ hamming_kernel(d) == pytest.approx(binomial, abs=1e-15)
    path = walk_path(random_law(d, 4, 0.2), 8)
    from_walk = distance_law(path)  # (9, d+1), from the vertex laws
    from_chain = [from_walk[0]]
    for _ in range(8):
        from_chain.append(from_chain[-1] @ hamming_kernel(d))
    assert from_walk == pytest.approx(np.array(from_chain), abs=1e-14)
    wrong = from_walk[0] @ hamming_kernel(d, "paper")
    assert np.abs(wrong - from_walk[1]).max() > 1e-3


# ----------------------------------------------------------------------------- 3. collision excess, Delta_C


@pytest.mark.parametrize("seed", range(4))
def test_collision_excess_identity(seed):
    d = 5
    law = random_law(d, seed, concentration=0.3)
    assert distance_law(law)[0] - 2.0**-d == pytest.approx(uniformity(law)["collision_excess"], abs=1e-15)


@pytest.mark.parametrize("C", [1.0, 1.5, 1e6])
def test_delta_c_is_the_expected_change_over_one_step(C):
    """Delta_C(h) = sum_j K[h, j] (f(j) - f(h)), f(x) = log(C + e^{-2 beta x}), in 50-digit arithmetic."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    d, beta = 5, 0.8
    kernel = hamming_kernel_enumerated(d)
    f = [mpmath.log(C + mpmath.exp(-2 * mpmath.mpf(beta) * j)) for j in range(d + 1)]
    expected = [float(sum(mpmath.mpf(kernel[h, j]) * (f[j] - f[h]) for j in range(d + 1))) for h in range(d + 1)]
    assert delta_c(d, beta, C) == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_delta_c_validation():
    with pytest.raises(ValueError, match="C must"):
        delta_c(4, 1.0, 0.0)
    with pytest.raises(ValueError, match="variant"):
        delta_c(4, 1.0, 2.0, variant="printed")


# ----------------------------------------------------------------------------- 4. Lemma 18


@pytest.mark.parametrize("d", [2, 4, 7, 10])
@pytest.mark.parametrize("beta", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("C", [1.0001, 2.0, 100.0])
def test_lemma18_sum_is_zero_not_negative(d, beta, C):
    """sum_k C(d,k) Delta_C(k) = 2^d E_{Binomial} Delta_C = 0 by stationarity (eq. 15)."""
    total, scale = lemma18_sum(d, beta, C)
    assert scale > 1e-4
    assert abs(total) <= 1e-13 * scale
    printed, _ = lemma18_sum(d, beta, C, variant="paper")
    assert printed < -1e-3 * scale  # the printed +2 entry adds (d-k)/(2d^2) mass at f(k+2) - f(k) < 0


# ----------------------------------------------------------------------------- 5. monotonicity


@pytest.mark.parametrize("d, l", [(2, 1), (3, 4), (5, 16), (8, 64)])
def test_loss_decreases_along_the_chain_for_large_beta(d, l):
    beta = 2.0 * math.log(d) + 1.0
    for name, law in starting_laws(d, 1).items():
        path = walk_path(law, 6)
        increments = np.diff(reduced_loss(path, l, beta))
        moving = np.array([uniformity(p)["collision_excess"] > 1e-20 for p in path[:-1]])
        assert moving[0] and (increments[moving] < 0).all(), name
        assert np.abs(increments[~moving]).max(initial=0.0) < 1e-14  # (parity-tilt lands on u in one step)


def test_small_beta_blurring_raises_the_loss_along_a_negative_curvature():
    """d = 4, l = 1, beta = 0.2: the curvature of Ltilde at u along the parity of all 4 bits is
    negative, and a step from u + 0.9 eta_4 (which lands exactly on u) raises the loss."""
    d, l, beta = 4, 1, 0.2
    curvature = uniform_curvatures(d, l, beta)
    assert curvature[-1] < 0 < curvature[:-1].min()
    tilted = 2.0**-d + 0.9 * walsh_direction(d, d)
    before = reduced_loss(tilted, l, beta, method="multinomial")
    after = reduced_loss(walk_step(tilted), l, beta, method="multinomial")
    assert walk_step(tilted) == pytest.approx(np.full(16, 1 / 16))
    assert after - before > 1e-6
    # and it matches the second-order prediction (l = 1 makes Ltilde exactly quadratic)
    assert after - before == pytest.approx(-curvature[-1] * 0.9**2 / 2, rel=1e-9)


def test_curvatures_match_autograd_on_the_full_law():
    d, l, beta = 4, 3, 0.4
    uniform = torch.full((2**d,), 2.0**-d, dtype=torch.float64)
    for k, value in enumerate(uniform_curvatures(d, l, beta), start=1):
        eps = torch.zeros((), dtype=torch.float64, requires_grad=True)
        loss = reduced_loss(uniform + eps * torch.from_numpy(walsh_direction(d, k)), l, beta)
        (grad,) = torch.autograd.grad(loss, eps, create_graph=True)
        (second,) = torch.autograd.grad(grad, eps)
        assert float(second) == pytest.approx(value, rel=1e-8)


def test_search_finds_the_violation_and_no_other():
    d = 4
    starts = np.stack(list(starting_laws(d, 0).values()))
    found = search_blurring_increase(d, 1, 0.2, starts, steps=15)
    assert found["max_increase"] > 1e-6
    assert reduced_loss(walk_step(found["law"]), 1, 0.2) > reduced_loss(found["law"], 1, 0.2)
    clean = search_blurring_increase(d, 4, 3.0, starts, steps=15)
    assert clean["max_increase"] < 0 and clean["max_ratio"] < 0


def test_vertex_weight_matches_popcount():
    assert (vertex_weight(4) == hamming_matrix(4)[0]).all()


def test_curvatures_match_60_digit_values_up_to_d32():
    """l = 1: Ltilde = p^T A p, so c_k = 2^(1-d) lambda_k with the Walsh eigenvalue
    lambda_k = sum_i C(d-k, i) sum_j C(k, j) (-1)^j log(1 + e^{-2 beta (i+j)}) (no quadrature)."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 60
    d, beta = 32, 1.2
    a = [mpmath.log1p(mpmath.exp(-2 * mpmath.mpf(beta) * h)) for h in range(d + 1)]

    def eigenvalue(k):
        inner = [sum(mpmath.binomial(k, j) * (-1) ** j * a[i + j] for j in range(k + 1)) for i in range(d - k + 1)]
        return sum(mpmath.binomial(d - k, i) * inner[i] for i in range(d - k + 1))

    expected = [float(2 ** (1 - d) * eigenvalue(k)) for k in range(1, d + 1)]
    assert uniform_curvatures(d, 1, beta) == pytest.approx(expected, rel=1e-9)
    assert min(expected) < 0  # d = 32, beta = 1.2 is below the threshold


def test_below_the_threshold_a_non_uniform_cluster_code_beats_the_uniform_one():
    """Realizable data (160 equal clusters, a multiple of 2^4): putting 19 clusters on each even-parity
    vertex and 1 on each odd one gives a clean, cluster-preserving, non-uniform code whose exact
    InfoNCE is below the uniform minimum at beta = 0.2 (l = 1) - and above it at beta = 1."""
    d = 4
    per_vertex = np.where(walsh_direction(d, d) > 0, 19, 1)
    vertex_of_cluster = np.repeat(np.arange(2**d), per_vertex)
    data = comb_dataset(num_clusters=len(vertex_of_cluster), points_per_cluster=2, teeth=2)
    codes = vertex_codes(d)[vertex_of_cluster[data.content]]
    assert population_infonce(codes, data, 1, 0.2) < uniform_minimum(d, 1, 0.2) - 1e-5
    assert population_infonce(codes, data, 1, 1.0) > uniform_minimum(d, 1, 1.0) + 1e-3


# ----------------------------------------------------------------------------- batched search, thresholds


def test_search_losses_agree_with_the_exact_loss_in_every_cell():
    rng = np.random.default_rng(3)
    for d in (2, 4, 5):
        laws = rng.dirichlet(np.full(2**d, 0.5), size=(3, 2))
        laws[0, 0] = np.eye(2**d)[1]  # a point law: phi reaches its smallest values
        cells = [(1, 0.2), (16, 3.0), (64, 0.05)]
        got = search_losses(torch.from_numpy(laws), [l for l, _ in cells], [b for _, b in cells]).numpy()
        expected = [[reduced_loss(laws[i, j], l, b) for j in range(2)] for i, (l, b) in enumerate(cells)]
        assert got == pytest.approx(np.array(expected), abs=1e-11)


def test_batched_search_finds_the_violation_in_its_cell_only():
    d = 4
    starts = np.stack(list(starting_laws(d, 0).values()))
    raising, clean = search_blurring_increases(d, [1, 4], [0.2, 3.0], starts, steps=10)
    assert raising["max_increase"] > 1e-6 and clean["max_increase"] < 0 and clean["max_ratio"] < 0
    assert step_increase(raising["law"], 1, 0.2) == pytest.approx(raising["max_increase"], abs=1e-10)
    single = search_blurring_increase(d, 4, 3.0, starts, steps=10)
    assert single["max_increase"] == pytest.approx(clean["max_increase"], rel=1e-9)  # cells do not interact
    with pytest.raises(ValueError, match="same cells"):
        search_blurring_increases(d, [1, 4], [0.2], starts)


def test_step_increase_is_the_change_over_one_step():
    law = starting_laws(4, 1)["code-skewed"]
    assert step_increase(law, 4, 0.5) == pytest.approx(reduced_loss(walk_step(law), 4, 0.5) - reduced_loss(law, 4, 0.5), abs=1e-15)
    batch = np.stack([law, walsh_direction(4, 2) * 0.5 + 2.0**-4])
    assert step_increase(batch, 4, 0.5) == pytest.approx([step_increase(x, 4, 0.5) for x in batch], abs=1e-15)


def test_curvature_threshold_brackets_the_sign_change():
    found = curvature_threshold(4, 1)
    beta = found["beta_star"]
    assert 0.3 < beta < 0.4 and found["sign_changes"] == 1
    assert uniform_curvatures(4, 1, beta * 0.999).min() < 0 < uniform_curvatures(4, 1, beta * 1.001).min()
    assert curvature_threshold(3, 1)["beta_star"] == 0.0  # d <= 3: never negative
    assert parity_asymptote(40) == pytest.approx(0.5 * math.log(40 / math.log(1 / (1 - math.log(2)))))


def test_monte_carlo_reduced_loss_agrees_with_the_exact_loss():
    law = starting_laws(3, 2)["dirichlet-1"]
    mean, se = monte_carlo_reduced_loss(law, 4, 0.7, 40_000, seed=5)
    assert abs(mean - reduced_loss(law, 4, 0.7)) < 4 * se


def test_krawtchouk_is_cached_read_only():
    table = krawtchouk(6)
    assert table is krawtchouk(6) and not table.flags.writeable
    with pytest.raises(ValueError, match="d"):
        krawtchouk(0)


# ----------------------------------------------------------------------------- experiment rows


def test_inside_conditions_need_d_above_3_and_beta_above_c_log_d():
    assert inside_conditions(4, 1.4) and not inside_conditions(4, 1.38)  # log 4 = 1.386
    assert not inside_conditions(3, 10.0)
    assert not inside_conditions(4, 1.4, c=2.0) and inside_conditions(4, 2.8, c=2.0)


@pytest.mark.parametrize("variant", ["exact", "paper"])
def test_kernel_rows_hold_the_kernel_its_checks_and_the_plus2_entry(variant):
    d, samples = 4, 5000
    rows = kernel_rows(d, variant, samples, seed=3)
    counts = hamming_kernel_monte_carlo(d, samples, 3)
    assert [r["h"] for r in rows] == list(range(d + 1)) and {r["kind"] for r in rows} == {"kernel"}
    kernel = hamming_kernel(d, variant)
    for h, r in enumerate(rows):
        assert r["row_sum"] == pytest.approx(kernel[h].sum(), abs=1e-15)
        assert r["plus2_count"] == (counts[h, h + 2] if h + 2 <= d else 0) and r["samples"] == samples
        assert r["plus2_derived"] == pytest.approx((d - h) * (d - h - 1) / (4 * d * d))
        assert r["plus2_printed"] == pytest.approx((d - h) * (d - h + 1) / (4 * d * d))
        assert r["max_abs_z"] == pytest.approx(np.abs(kernel_z_scores(kernel, counts)[h]).max())
    exact = variant == "exact"
    assert (max(r["enumeration_error"] for r in rows) < 1e-12) == exact
    assert (max(r["stationarity_residual"] for r in rows) < 1e-12) == exact


def test_lemma18_row_is_the_relative_sum_for_both_kernels():
    row = lemma18_row(5, 2.0, 3.0, "exact")
    total, scale = lemma18_sum(5, 2.0, 3.0, "exact")
    printed, printed_scale = lemma18_sum(5, 2.0, 3.0, "paper")
    assert row["lemma18_relative"] == total / scale and row["lemma18_relative_printed"] == printed / printed_scale
    assert (row["d"], row["beta"], row["C"]) == (5, 2.0, 3.0) and row["lemma18_relative_printed"] < -1e-3


def test_chain_rows_follow_the_walk_exactly():
    d, l, beta, steps = 4, 2, 0.3, 5
    seeds = []
    rows = chain_rows(d, l, beta, steps, "exact", 7, 400, lambda name, t: seeds.append((name, t)) or 11)
    uniform, chain = rows[0], rows[1:]
    assert uniform["kind"] == "uniform" and uniform["loss"] == pytest.approx(uniform_minimum(d, l, beta), rel=1e-10)
    laws = starting_laws(d, 7)
    curvature = uniform_curvatures(d, l, beta)
    worst = int(np.argmin(curvature)) + 1
    names = list(laws) + ([f"walsh-tilt-k{worst}"] if worst < d else [])
    assert [r["start"] for r in chain] == [n for n in names for _ in range(steps + 1)]
    assert seeds == [(n, 1) for n in names]  # Monte Carlo at step max(1, steps // 5)
    point = [r for r in chain if r["start"] == "point"]
    path = walk_path(laws["point"], steps)
    for t, r in enumerate(point):
        assert r["loss"] == pytest.approx(reduced_loss(path[t], l, beta), abs=1e-14)
        assert r["loss_minus_minimum"] == pytest.approx(r["loss"] - reduced_loss(np.full(2**d, 2.0**-d), l, beta), abs=1e-12)
        assert r["propagation_error"] < 1e-12
        assert r["relative_curvature"] == pytest.approx(curvature.min() / np.abs(curvature).max())
    assert [r["increase"] for r in point[:-1]] == pytest.approx([b["loss"] - a["loss"] for a, b in zip(point, point[1:])])
    assert math.isnan(point[-1]["increase"])
    assert [math.isnan(r["mc_loss"]) for r in point] == [t != 1 for t in range(steps + 1)]
    assert (point[1]["mc_loss"], point[1]["mc_stderr"]) == monte_carlo_reduced_loss(path[1], l, beta, 400, 11)
    printed = chain_rows(d, l, beta, steps, "paper", 7, 400, lambda name, t: 11)
    assert max(r["propagation_error"] for r in printed[1:]) > 1e-4  # the printed kernel does not propagate distance laws


def test_curvature_fd_rows_agree_with_the_formula_and_threshold_row():
    rows = curvature_fd_rows(4, 1, 0.3)
    assert [r["k"] for r in rows] == [1, 2, 3, 4]
    assert [r["curvature"] for r in rows] == pytest.approx(list(uniform_curvatures(4, 1, 0.3)))
    assert max(curvature_fd_errors(rows)) < 1e-4
    bent = [{**r, "curvature": 1.1 * r["curvature"]} if r["k"] == 2 else r for r in rows]
    assert max(curvature_fd_errors(bent)) > 1e-3
    row = threshold_row(6, 4)
    assert row["beta_star"] == curvature_threshold(6, 4)["beta_star"] and row["log_d"] == math.log(6)
    assert row["asymptote"] == parity_asymptote(6)


def test_search_rows_re_evaluate_the_found_law_and_the_tilts():
    rows = search_rows(3, (1, 4), (0.2, 3.0), steps=3, restarts=1, tilt_amplitudes=(0.1, 0.5), seed=2)
    assert [(r["l"], r["beta"]) for r in rows] == [(1, 0.2), (1, 3.0), (4, 0.2), (4, 3.0)]
    for r in rows:
        curvature = uniform_curvatures(3, r["l"], r["beta"])
        worst = int(np.argmin(curvature)) + 1
        tilts = np.stack([2.0**-3 + a * walsh_direction(3, worst) for a in (0.1, 0.5)])
        assert r["worst_k"] == worst and r["tilt_increase"] == pytest.approx(float(np.max(step_increase(tilts, r["l"], r["beta"]))))
        assert abs(r["search_increase"] - r["search_increase_exact"]) < 1e-10
        assert not r["inside"]  # d = 3
    assert inside_conditions(4, 3.0) == search_rows(4, (1,), (3.0,), 1, 0, (0.5,), seed=0)[0]["inside"]


def test_monte_carlo_z_and_point_laws():
    assert monte_carlo_z({"loss": 1.0, "mc_loss": 1.3, "mc_stderr": 0.1}) == pytest.approx(3.0)
    assert monte_carlo_z({"loss": 1.0, "mc_loss": 1.0, "mc_stderr": 0.0}) == 0.0
    assert monte_carlo_z({"loss": 1.0, "mc_loss": 1.1, "mc_stderr": 0.0}) == math.inf


def test_cell_increases_take_the_largest_change_over_non_uniform_laws():
    chain = {"kind": "chain", "d": 4, "l": 1, "beta": 2.0, "relative_curvature": 0.5}
    search = {"kind": "search", "d": 4, "l": 1, "beta": 2.0, "relative_curvature": 0.5, "search_increase_exact": 0.3}
    rows = [{**chain, "increase": -0.2, "collision_excess": 0.1}, {**chain, "increase": 5.0, "collision_excess": 0.0},  # uniform: ignored
            {**chain, "increase": math.nan, "collision_excess": 0.1}, {**search, "tilt_increase": -0.1, "search_law_excess": 0.0},
            {**chain, "d": 3, "increase": -1.0, "collision_excess": 0.1}]
    cells = cell_increases(rows)
    assert cells[(4, 1, 2.0)] == {"increase": -0.1, "curvature": 0.5, "inside": True}  # log 4 < 2
    assert cells[(3, 1, 2.0)]["inside"] is False and cells[(3, 1, 2.0)]["increase"] == -1.0
    rows[3]["search_law_excess"] = 0.1  # the searched law is not uniform: its change counts
    assert cell_increases(rows)[(4, 1, 2.0)]["increase"] == 0.3
    assert cell_increases(rows, c=2.0)[(4, 1, 2.0)]["inside"] is False


def test_entry_gap_maps_the_interval_of_the_frequency():
    frequency = wilson_interval(40, 200)  # 0.2
    gap = entry_gap(0.3, frequency)
    assert gap.estimate == pytest.approx(0.1) and gap.low == pytest.approx(0.3 - frequency.high) and gap.high == pytest.approx(0.3 - frequency.low)
    assert (gap.level, gap.method, gap.n) == (frequency.level, "wilson", 200)
    inside = entry_gap(0.21, frequency)  # the interval contains the printed value: the gap may be 0
    assert inside.low == 0.0 and inside.high == pytest.approx(max(0.21 - frequency.low, frequency.high - 0.21))


def test_chain_curves_group_by_start_and_keep_empty_curves():
    rows = [{"kind": "chain", "d": 4, "l": 1, "beta": 2.0, "start": s, "step": t, "v": v}
            for s, values in (("a", [3, 2, 1]), ("b", [-1, -2, -3])) for t, v in enumerate(values)]
    rows += [{"kind": "chain", "d": 5, "l": 1, "beta": 2.0, "start": "a", "step": 0, "v": 9}, {"kind": "uniform", "d": 4}]
    assert chain_curves(rows, 4, 1, 2.0, "v") == {"a": ([0, 1, 2], [3, 2, 1]), "b": ([0, 1, 2], [-1, -2, -3])}
    assert chain_curves(rows, 4, 1, 2.0, "v", lambda r: r["v"] > 1) == {"a": ([0, 1], [3, 2]), "b": ([], [])}
