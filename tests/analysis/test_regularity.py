"""delta-regularity: spectral delta on cases with known answers, exact split statistics against loops,
the Theorem 5.4 relabelling and weighted loss against enumeration, and the adversarial search."""

import itertools
import math

import numpy as np
import pytest

from clustertheory.analysis.exact_loss import population_infonce
from clustertheory.analysis.hypercube import vertex_codes
from clustertheory.analysis.regularity import (
    CodeLaw,
    alignment_weight_term,
    augmentation_moments,
    changes_after_win,
    classify_splits,
    empirical_delta,
    grid_table,
    implied_c,
    leaky_comb_delta,
    leaky_comb_spectral_delta,
    near_uniform_c,
    relabel_cluster,
    relabelling_rows,
    rows_by_split,
    search_split,
    spectral_delta,
    split_code,
    split_ratio_bounds,
    split_statistics,
    split_summaries,
    sufficient_conditions,
    threshold_from,
    weighted_population_infonce,
)
from clustertheory.data import agnostic_comb, comb_dataset, jitter_dataset
from clustertheory.functions import LinearScore
from clustertheory.functions.features import (
    content_features,
    fourier_features,
    linear_features,
)

# ----------------------------------------------------------------------------- spectral delta


@pytest.mark.parametrize("teeth", [1, 2, 3, 5])
def test_band_limited_spectral_delta_is_one_below_teeth_and_zero_from_teeth_on(teeth):
    data = comb_dataset(4, 4, teeth)
    deltas = [spectral_delta(fourier_features(data, B), data).delta for B in range(teeth + 2)]
    assert deltas[: teeth] == pytest.approx([1.0] * teeth, abs=1e-9)
    assert deltas[teeth:] == pytest.approx([0.0, 0.0], abs=1e-9)


def test_content_features_cannot_split():
    data = comb_dataset(4, 4, 3)
    result = spectral_delta(content_features(data), data)
    assert result.delta == 1.0 and result.rank == 4
    assert result.eigenvalues == pytest.approx(np.ones(4), abs=1e-12)  # cluster indicators keep their value


@pytest.mark.parametrize("leak", [0.0, 0.1, 0.3])
def test_leak_restores_delta_by_the_closed_form(leak):
    # at B = T the splitting direction is cos(T s) with E[f | i] = a_i (1 - p n / (n - 1)) and E f^2 = E a_i^2,
    # so lambda_(m+1) = (1 - p n / (n - 1))^2
    n = 4
    data = comb_dataset(4, n, 3, leak=leak)
    expected = 1 - (1 - leak * n / (n - 1)) ** 2
    assert spectral_delta(fourier_features(data, 3), data).delta == pytest.approx(expected, abs=1e-9)


def test_rank_deficient_features_restrict_to_the_range():
    data = comb_dataset(3, 4, 2, leak=0.2)
    phi = fourier_features(data, 2)
    redundant = np.concatenate([phi, phi[:, :2] + phi[:, 3:5], np.ones((data.num_views, 1))], axis=1)  # constant = sum of one-hots
    plain, padded = spectral_delta(phi, data), spectral_delta(redundant, data)
    assert padded.rank == plain.rank == phi.shape[1]
    assert padded.eigenvalues == pytest.approx(plain.eigenvalues, abs=1e-9)
    assert padded.delta == pytest.approx(plain.delta, abs=1e-9)


def test_moments_match_a_direct_sum_over_pairs_of_views():
    data = jitter_dataset(2, 3, bins_per_point=2, width=2)
    phi = linear_features(data)
    sigma, cross = augmentation_moments(phi, data)
    A = data.augment.toarray()
    direct_sigma = sum(w * A[i, v] * np.outer(phi[v], phi[v]) for i, w in enumerate(data.base_weight) for v in range(data.num_views))
    direct_cross = sum(
        w * A[i, u] * A[i, v] * np.outer(phi[u], phi[v]) for i, w in enumerate(data.base_weight) for u in range(data.num_views) for v in range(data.num_views)
    )
    assert sigma == pytest.approx(direct_sigma, abs=1e-12)
    assert cross == pytest.approx(direct_cross, abs=1e-12)


def test_eigenvalues_are_rayleigh_quotients_in_unit_interval():
    data = comb_dataset(3, 5, 2, leak=0.15, noise=0.1, observation="embedding", obs_dim=8)
    phi = linear_features(data)
    result = spectral_delta(phi, data)
    assert (result.eigenvalues >= 0).all() and (result.eigenvalues <= 1).all()
    sigma, cross = augmentation_moments(phi, data)
    rng = np.random.default_rng(0)
    quotients = [v @ cross @ v / (v @ sigma @ v) for v in rng.normal(size=(200, phi.shape[1]))]
    assert max(quotients) <= result.eigenvalues[0] + 1e-9
    assert min(quotients) >= result.eigenvalues[-1] - 1e-9


# ----------------------------------------------------------------------------- split statistics


def naive_split(labels, data, cluster):
    """R, Delta by explicit loops over natural images and views."""
    A = data.augment.toarray()
    R = plus = minus = 0.0
    for i, (v0, w) in enumerate(zip(data.base_view, data.base_weight)):
        if data.content[v0] != cluster:
            continue
        plus += w * (labels[v0] > 0)
        minus += w * (labels[v0] < 0)
        for v in range(data.num_views):
            R += w * A[i, v] * (labels[v] != labels[v0])
    return R, min(plus, minus)


@pytest.mark.parametrize("seed", range(4))
def test_split_statistics_match_loops(seed):
    rng = np.random.default_rng(seed)
    data = comb_dataset(3, 4, 3, leak=0.2, noise=0.1, cluster_weights=[0.5, 0.3, 0.2])
    labels = np.where(rng.random((5, data.num_views)) < 0.5, 1, -1)
    clusters = rng.integers(0, 3, 5)
    stats = split_statistics(labels, data, clusters)
    for k in range(5):
        R, delta = naive_split(labels[k], data, clusters[k])
        assert stats.disagreement[k] == pytest.approx(R, abs=1e-12)
        assert stats.relabel_mass[k] == pytest.approx(delta, abs=1e-12)


@pytest.mark.parametrize("leak,moved", [(0.0, 2), (0.3, 2), (0.3, 1), (0.6, 3)])
def test_split_ratio_of_base_point_splits_on_the_leaky_comb(leak, moved):
    # moving r of n base points: R = 2 pi p r (n - r) / (n (n - 1)), Delta = pi min(r, n - r) / n
    n = 6
    data = comb_dataset(2, n, 3, leak=leak)
    owner = (np.arange(data.num_views) % (n * 3)) % n
    labels = np.where((data.content == 0) & (owner < moved), -1, 1)
    stats = split_statistics(labels, data, 0)
    assert stats.splits[0]
    assert stats.ratio[0] == pytest.approx(2 * leak * moved * (n - moved) / ((n - 1) * min(moved, n - moved)), abs=1e-12)
    assert stats.residual[0] == 0.0


def test_non_split_has_infinite_ratio_and_residual_counts_foreign_views():
    data = comb_dataset(2, 3, 2, noise=0.2)
    labels = np.where(data.content == 0, 1, -1)  # constant on each cluster, opposite constants
    stats = split_statistics(labels, data, 0)
    assert not stats.splits[0] and math.isinf(stats.ratio[0])
    # every cross-cluster augmentation (mass q of cluster 0's pairs) lands on the other constant
    assert stats.disagreement[0] == pytest.approx(0.2 * 0.5, abs=1e-12)
    assert stats.residual[0] == pytest.approx(0.2 * 0.5, abs=1e-12)


def test_split_statistics_validation():
    data = comb_dataset(2, 3, 2)
    with pytest.raises(ValueError, match="labels"):
        split_statistics(np.zeros(data.num_views), data, 0)
    with pytest.raises(ValueError, match="labels"):
        split_statistics(np.ones(data.num_views + 1), data, 0)
    with pytest.raises(ValueError, match="cluster"):
        split_statistics(np.ones(data.num_views), data, 2)
    with pytest.raises(ValueError, match="features"):
        spectral_delta(np.ones((3, 2)), data)
    with pytest.raises(ValueError, match="rtol"):
        spectral_delta(content_features(data), data, rtol=0.0)


# ----------------------------------------------------------------------------- Theorem 5.4 perturbation


def test_relabel_cluster_moves_exactly_the_cheaper_side():
    data = comb_dataset(3, 4, 2, cluster_weights=[0.5, 0.3, 0.2])
    codes = vertex_codes(2)[np.array([0, 2, 3])[data.content]].copy()
    owner = (np.arange(data.num_views) % 8) % 4
    codes[(data.content == 0) & (owner == 0), 0] = -1.0  # one of four base points moved
    out = relabel_cluster(codes, data, 0, 0)
    assert (out[data.content == 0, 0] == 1.0).all()
    assert (out[data.content != 0] == codes[data.content != 0]).all() and (out[:, 1] == codes[:, 1]).all()
    changed = (out[data.base_view] != codes[data.base_view]).any(axis=1)
    assert data.base_weight[changed].sum() == pytest.approx(split_statistics(codes[:, 0], data, 0).relabel_mass[0])
    with pytest.raises(ValueError, match="coordinate"):
        relabel_cluster(codes, data, 0, 2)


def brute_weighted_infonce(codes, data, l, beta, rho):
    """E[-rho beta g.g+ + log(exp(beta g.g+) + sum_i exp(beta g.g_i))] enumerating all N^l negatives."""
    anchor, positive, weight = data.pair_weights()
    negatives = codes[data.base_view]
    total = 0.0
    for a, p, w in zip(anchor, positive, weight):
        align = codes[a] @ codes[p]
        for combo in itertools.product(range(data.num_base), repeat=l):
            prob = np.prod(data.base_weight[list(combo)])
            logits = [beta * align] + [beta * codes[a] @ negatives[j] for j in combo]
            total += w * prob * (-rho * beta * align + np.logaddexp.reduce(logits))
    return total


@pytest.mark.parametrize("l,beta,rho", [(1, 1.0, 1.0), (2, 0.7, 3.5), (1, 2.0, 9.0)])
def test_weighted_infonce_matches_enumeration(l, beta, rho):
    data = comb_dataset(3, 2, 2, leak=0.3, noise=0.1, cluster_weights=[0.5, 0.3, 0.2])
    rng = np.random.default_rng(l)
    codes = vertex_codes(2)[rng.integers(0, 4, data.num_views)]
    assert weighted_population_infonce(codes, data, l, beta, rho) == pytest.approx(brute_weighted_infonce(codes, data, l, beta, rho), rel=1e-9)


def test_weighted_infonce_at_rho_one_is_the_infonce():
    data = comb_dataset(4, 3, 2, leak=0.2)
    codes = vertex_codes(2)[np.random.default_rng(1).integers(0, 4, data.num_views)]
    assert weighted_population_infonce(codes, data, 8, 1.5, 1.0) == pytest.approx(population_infonce(codes, data, 8, 1.5), rel=1e-12)
    with pytest.raises(ValueError, match="rho"):
        weighted_population_infonce(codes, data, 8, 1.5, -1.0)


# ----------------------------------------------------------------------------- empirical delta


def test_lookup_table_splits_disjoint_sets_for_free():
    data = comb_dataset(2, 4, 3)
    result = empirical_delta(data, "lookup", restarts=2, steps=150)
    assert result.delta == 0.0 and result.relabel_mass > 0
    assert split_statistics(result.labels, data, result.cluster).ratio[0] == 0.0


def test_band_limited_adversary_finds_free_split_exactly_from_bandwidth_teeth_on():
    data = comb_dataset(2, 4, 3)
    below = empirical_delta(data, "band-limited", restarts=4, steps=200, bandwidth=2)
    at = empirical_delta(data, "band-limited", restarts=4, steps=200, bandwidth=3)
    # a degree-2 trigonometric polynomial has at most 4 sign changes on the circle, a split that
    # agrees with every comb set needs 2T = 6: every split found below T must pay
    assert below.splits_found > 0 and below.delta > 0
    assert at.delta == 0.0


def test_split_ratio_bounds_search_several_classes_in_one_pass_as_alone():
    data = comb_dataset(2, 4, 3)
    seeds = [[7 * 100_003 + k for k in range(4)], [100 + k for k in range(4)]]
    classes = [("band-limited", {"bandwidth": 2}), ("band-limited", {"bandwidth": 3})]
    bounds = split_ratio_bounds(data, classes, seeds, restarts=2, steps=120)
    alone = empirical_delta(data, "band-limited", restarts=2, steps=120, seed=7, bandwidth=2)
    assert bounds.shape == (2,) and bounds[0] == alone.delta and bounds[0] > 0  # class 0: the seeds empirical_delta uses
    assert bounds[1] == 0.0  # B = T splits for free
    assert split_ratio_bounds(data, classes[1:], seeds[1:], restarts=2, steps=120)[0] == bounds[1]
    with pytest.raises(ValueError, match="seeds"):
        split_ratio_bounds(data, classes, [seeds[0]], restarts=2, steps=10)


def test_leaky_comb_deltas_match_the_spectral_delta_at_b_equal_t():
    n, teeth = 4, 2
    for leak in (0.0, 0.1, 0.4):
        data = comb_dataset(4, n, teeth, leak=leak)
        assert leaky_comb_delta(leak, n) == pytest.approx(leak * n / (n - 1))
        spectral = spectral_delta(fourier_features(data, teeth), data).delta
        assert spectral == pytest.approx(leaky_comb_spectral_delta(leak, n), abs=1e-9)
    with pytest.raises(ValueError, match="points_per_cluster"):
        leaky_comb_delta(0.1, 1)
    with pytest.raises(ValueError, match="leak"):
        leaky_comb_delta(-0.1, 4)


def test_found_ratio_is_the_exact_ratio_of_the_returned_labels():
    data = comb_dataset(3, 4, 2, leak=0.2, noise=0.05, cluster_weights=[0.5, 0.3, 0.2])
    result = empirical_delta(data, "linear", clusters=[1, 2], restarts=3, steps=120, seed=3)
    assert math.isfinite(result.delta)
    assert split_statistics(result.labels, data, result.cluster).ratio[0] == pytest.approx(result.delta, abs=1e-12)
    assert len(result.per_cluster) == 2 and result.delta == pytest.approx(result.per_cluster.min())


def test_content_only_class_never_splits():
    data = comb_dataset(4, 3, 2)
    model = LinearScore(content_features(data), 1, seeds=[0, 1, 2, 3], init_scale=1.0)
    found = search_split(model, data, [0, 1, 2, 3], steps=60)
    assert np.isinf(found.ratio).all()


def test_a_cluster_without_natural_views_is_not_searched():
    """A subsample may miss a cluster (here digit 3 among 40 digits): its objective would be
    0 / 0, so search_split refuses it by name and empirical_delta searches the others (these
    weights once turned NaN and the MLP's spectral cap raised a LinAlgError)."""
    import functools

    from clustertheory.data.digits import digits_dataset
    from clustertheory.functions.images import image_function_class

    data = digits_dataset(40, 2, seed=1)
    mass = np.bincount(data.base_cluster, weights=data.base_weight, minlength=data.num_clusters)
    assert mass[3] == 0 and (np.delete(mass, 3) > 0).all()
    build = functools.partial(image_function_class, "mlp")
    result = empirical_delta(data, build, restarts=1, steps=20, width=4, depth=1, lipschitz=1.0)
    assert result.clusters.tolist() == [0, 1, 2, 4, 5, 6, 7, 8, 9] and len(result.per_cluster) == 9 and not np.isnan(result.per_cluster).any()
    with pytest.raises(ValueError, match=r"clusters \[3\] have no natural view"):
        empirical_delta(data, build, clusters=[2, 3], restarts=1, steps=2, width=4, depth=1, lipschitz=1.0)


def test_search_validation():
    data = comb_dataset(2, 3, 2)
    with pytest.raises(ValueError, match="dim"):
        search_split(LinearScore(content_features(data), 2, seeds=[0]), data, [0])
    with pytest.raises(ValueError, match="restarts"):
        empirical_delta(data, "lookup", restarts=0)
    with pytest.raises(ValueError, match="cluster"):
        empirical_delta(data, "lookup", clusters=[5], restarts=1, steps=2)


def test_smallest_split_ratio_of_codes_is_the_cheapest_split_of_any_coordinate():
    from clustertheory.analysis.regularity import smallest_split_ratio
    from clustertheory.data import comb_dataset

    data = comb_dataset(2, 4, 2)  # disjoint sets, 2 teeth each
    constant = np.where(data.content[:, None] == 0, 1, -1) * np.ones((1, 2), dtype=np.int64)
    assert smallest_split_ratio(constant, data) == np.inf  # constant on clusters: no split at all
    owner = np.asarray(data.augment.argmax(axis=0)).ravel()  # the natural image whose set holds each view
    clean = constant.copy()
    clean[:, 1] = np.where(owner % 4 < 2, 1, -1)  # splits every cluster along whole sets: free
    assert smallest_split_ratio(clean, data) == 0.0
    noisy = constant.copy()
    noisy[:, 1] = np.where(np.isin(np.arange(data.num_views) % 8, [0, 1, 4]), 1, -1)  # images 0, 1 vs 2, 3; view 5 of image 1 crosses
    expected = min(split_statistics(noisy[:, 1], data, c).ratio[0] for c in range(2))
    assert 0 < smallest_split_ratio(np.stack([constant, noisy]), data) == expected
    with pytest.raises(ValueError, match="codes"):
        smallest_split_ratio(constant[:-1], data)


# ----------------------------------------------------------------------------- exact loss on a grid, Theorem 5.4 conditions


def _noisy_split_code(d=2):
    data = comb_dataset(2**d - 1, 4, 2, leak=0.2, noise=0.05, cluster_weights=0.6 ** np.arange(2**d - 1))
    vertex = np.concatenate([[0], np.arange(2, 2**d)])
    codes = vertex_codes(d)[vertex[data.content]].copy()
    codes[(data.content == 0) & (np.arange(data.num_views) % 4 == 0), 0] = -1.0  # base point 0's views of cluster 0
    return codes, data


@pytest.mark.parametrize("d", [2, 3])
def test_code_law_grid_equals_population_infonce(d):
    codes, data = _noisy_split_code(d)
    for table in (codes, relabel_cluster(codes, data, 0, 0)):
        law = CodeLaw.of(table, data)
        ls, betas = (1, 3, 40, 700), (0.0, 0.3, 2.0, 25.0)
        grid = law.infonce_grid(ls, betas)
        expected = [[population_infonce(table, data, l, b) for b in betas] for l in ls]
        assert grid == pytest.approx(np.array(expected), rel=1e-11, abs=1e-12)
        assert law.infonce(3, 2.0) == pytest.approx(expected[1][2], rel=1e-11)


def test_code_law_alignment_term_is_the_weighted_loss_term():
    codes, data = _noisy_split_code()
    law = CodeLaw.of(codes, data)
    assert law.alignment_term(1.5, 7.0) == pytest.approx(alignment_weight_term(codes, data, 1.5, 7.0), rel=1e-12)


def test_code_law_validation():
    codes, data = _noisy_split_code()
    with pytest.raises(ValueError, match="codes"):
        CodeLaw.of(codes[:-1], data)
    with pytest.raises(ValueError, match="negatives"):
        CodeLaw.of(codes, data).infonce_grid([0], [1.0])
    with pytest.raises(ValueError, match="betas"):
        CodeLaw.of(codes, data).infonce_grid([1], [-1.0])


def test_near_uniform_c_is_set_by_the_lightest_occupied_vertex():
    law = np.array([0.5, 0.3, 0.2, 0.0])
    c = near_uniform_c(law, 2)
    assert c == pytest.approx(10 / (2 * 4 * 0.2))
    assert law[law > 0].min() == pytest.approx(10 / (c * 2 * 4))
    with pytest.raises(ValueError, match="law"):
        near_uniform_c(np.ones(3) / 3, 2)


def test_implied_c_inverts_the_sufficient_conditions():
    eps, d = 0.05, 3
    for c in (0.3, 2.0, 17.0):
        l, beta = sufficient_conditions(c, eps, d)
        c_l, c_beta = implied_c(l, beta, eps, d)
        assert c_beta == pytest.approx(c, rel=1e-9)
        assert c <= c_l < c + eps / (d * 2**d) + 1e-12
    assert all(math.isnan(v) for v in implied_c(None, None, eps, d))


def test_threshold_from_needs_the_property_at_every_larger_value():
    assert threshold_from([1, 2, 4, 8], [True, False, True, True]) == 4
    assert threshold_from([1, 2, 4], [True, True, True]) == 1
    assert threshold_from([1, 2, 4], [True, True, False]) is None
    with pytest.raises(ValueError, match="increasing"):
        threshold_from([2, 1], [True, True])


# ----------------------------------------------------------------------------- Theorem 5.4 experiment rows


def test_split_code_moves_base_points_of_cluster_zero_to_the_free_vertex():
    data = agnostic_comb(2, 4, 2, leak=0.0, noise=0.0, imbalance=0.7)
    code = split_code(data, 2, 1)
    vertices = {tuple(v) for v in code[data.content == 0]}
    assert vertices == {tuple(vertex_codes(2)[0]), tuple(vertex_codes(2)[1])}  # the split: vertex 0 and the free vertex 1
    for c in (1, 2):
        assert (code[data.content == c] == vertex_codes(2)[c + 1]).all()
    with pytest.raises(ValueError, match="clusters"):
        split_code(comb_dataset(4, 4, 2), 2, 1)


@pytest.mark.parametrize("moved", [1, 2])
def test_split_ratio_without_noise_is_the_closed_form(moved):
    n, leak = 4, 0.45
    data = agnostic_comb(2, n, 2, leak=leak, noise=0.0, imbalance=0.7)
    code = split_code(data, 2, moved)
    assert split_statistics(code[:, 0], data, 0).ratio[0] == pytest.approx(2 * leak * (n - moved) / (n - 1), abs=1e-12)


def test_relabelling_rows_are_the_exact_loss_changes():
    data = agnostic_comb(2, 4, 2, leak=0.3, noise=0.05, imbalance=0.7)
    code = split_code(data, 2, 2)
    relabelled = relabel_cluster(code, data, 0, 0)
    rows = relabelling_rows(data, code, 0.3, 2, (1, 4), (0.5, 2.0), (2,), (1.0,))
    assert [r["kind"] for r in rows] == ["grid"] * 4 + ["paper", "reference"]
    assert any(r["delta_loss"] > 0 for r in rows[:4])  # some grid point where L alone prefers the split: rho_needed > 1
    for r in rows[:5]:
        change = population_infonce(relabelled, data, r["l"], r["beta"]) - population_infonce(code, data, r["l"], r["beta"])
        assert r["delta_loss"] == pytest.approx(change, abs=1e-10)
        rho = r["rho_corollary"]
        args = (r["l"], r["beta"], rho)
        weighted = weighted_population_infonce(relabelled, data, *args) - weighted_population_infonce(code, data, *args)
        assert r["delta_loss_weighted"] == pytest.approx(weighted, abs=1e-10)
        if r["delta_loss"] >= 0 and math.isfinite(r["rho_needed"]):  # at rho_needed, L_rho does not change
            args = (r["l"], r["beta"], r["rho_needed"])
            at = weighted_population_infonce(relabelled, data, *args) - weighted_population_infonce(code, data, *args)
            assert at == pytest.approx(0.0, abs=1e-9)
    first = rows[0]
    assert first["eps"] == pytest.approx(first["eps_closed_form"], abs=1e-12)
    assert first["delta_in_cluster"] == pytest.approx(first["delta_in_cluster_closed_form"], abs=1e-12)
    assert not first["split_preserves"] and first["relabelled_preserves"]
    assert first["rho_corollary"] == pytest.approx(8 + 1 / first["delta"])
    assert (rows[4]["l"], rows[4]["beta"]) == pytest.approx(sufficient_conditions(first["c_near_uniform"], first["eps"], 2))
    assert rows[5]["loss"] == pytest.approx(rows[5]["loss_reference"], abs=1e-10)


def _grid(d, leak, moved, delta, changes, needed=None, in_cluster=None, ls=(1, 4), betas=(0.5, 1.0, 2.0)):
    """Synthetic grid rows of one split: changes[i][j] = Delta L at (ls[i], betas[j])."""
    needed = needed or [[1.0] * len(betas)] * len(ls)
    return [{"kind": "grid", "d": d, "leak": leak, "moved": moved, "l": l, "beta": b, "delta": delta, "eps": 0.1,
             "delta_in_cluster": delta if in_cluster is None else in_cluster, "c_near_uniform": 2.0, "rho_corollary": 10.0,
             "delta_loss": changes[i][j], "rho_needed": needed[i][j]} for i, l in enumerate(ls) for j, b in enumerate(betas)]


def test_rows_by_split_and_grid_table():
    rows = _grid(2, 0.1, 1, 0.5, [[1, 2, 3], [4, 5, 6]])[::-1] + _grid(2, 0.2, 1, 0.5, [[0] * 3] * 2)
    rows += [{"kind": "paper", "d": 2, "leak": 0.1, "moved": 1}]
    groups = rows_by_split(rows, "grid")
    assert list(groups) == [(2, 0.1, 1), (2, 0.2, 1)] and len(groups[(2, 0.1, 1)]) == 6
    ls, betas, values = grid_table(groups[(2, 0.1, 1)], "delta_loss")
    assert ls == [1, 4] and betas == [0.5, 1.0, 2.0]
    assert values.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert np.isnan(grid_table(groups[(2, 0.1, 1)][:5], "delta_loss")[2][0, 0])  # the row of (l, beta) = (1, 0.5) left out: nan


def test_changes_after_win_reports_losses_at_larger_l():
    rows = _grid(2, 0.1, 1, 0.5, [[-1, -1, 1], [2, -3, 1]], ls=(1, 4))
    assert changes_after_win(rows) == [2.0, -3.0]  # beta 0.5: win at l=1, loss 2 at l=4; beta 1: win kept; beta 2: no win
    assert changes_after_win(_grid(2, 0.1, 1, 0.5, [[1, 1, 1], [-1, -1, -1]])) == []  # wins only at the largest l


def test_split_summaries_read_the_thresholds():
    rows = _grid(2, 0.1, 1, 0.5, [[-1, 1, -1], [1, -1, -1]], needed=[[1, 20, 5], [1, 1, 1]])
    rows += [{"kind": "paper", "d": 2, "leak": 0.1, "moved": 1, "l": 100, "beta": 7.0, "delta_loss": -0.5}]
    (summary,) = split_summaries(rows)
    assert summary["beta_star"] == 2.0 and summary["beta_star_lmin"] == 2.0 and summary["beta_star_lmax"] == 1.0
    assert summary["l_flip_beta_max"] == 0.5  # wins at l = 1, loses at l = 4
    assert summary["beta_star_weighted"] == 2.0  # needed rho 20 > 10 at beta 1
    assert (summary["l_paper"], summary["beta_paper"], summary["delta_loss_paper"]) == (100, 7.0, -0.5)
    assert summary["c_beta"] == pytest.approx(implied_c(None, 1.0, 0.1, 2)[1])


def test_classify_splits_by_delta_and_in_cluster_share():
    rows = (_grid(2, 0.4, 1, 0.6, [[0] * 3] * 2) + _grid(2, 0.1, 1, 0.2, [[0] * 3] * 2, in_cluster=0.15)
            + _grid(2, 0.05, 1, 0.2, [[0] * 3] * 2, in_cluster=0.05) + _grid(2, 0.0, 1, 0.1, [[0] * 3] * 2, in_cluster=0.0))
    first, regular, share, inside, crossing, free = classify_splits(rows_by_split(rows, "grid"), 0.4, 0.5)
    assert regular == [(2, 0.4, 1)] and set(first) == {(2, p, 1) for p in (0.4, 0.1, 0.05, 0.0)}
    assert share == pytest.approx({(2, 0.1, 1): 0.75, (2, 0.05, 1): 0.25, (2, 0.0, 1): 0.0})
    assert inside == [(2, 0.1, 1)] and crossing == [(2, 0.05, 1), (2, 0.0, 1)] and free == [(2, 0.0, 1)]
