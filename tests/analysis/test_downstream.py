"""Downstream heads and the codes of Theorems 4.6 / 4.7: exact references against brute force,
trained heads on small seeded instances, and the constructions' defining properties."""

import copy
import itertools

import numpy as np
import pytest
import torch

from clustertheory.analysis.downstream import (
    head_comparison,
    HeadConfig,
    ReLUHeads,
    _group_bayes,
    _train_chunk,
    all_tasks,
    bayes_errors,
    cluster_codes_of,
    cluster_faithful_tasks,
    cluster_vertex_mass,
    code_bayes_summary,
    code_groups,
    code_task_report,
    explicit_head_errors,
    explicit_head_summary,
    explicit_relu_head,
    fit_heads,
    linearly_separable,
    min_linear_errors,
    mixing_code,
    natural_view_weights,
    parity_tasks,
    partner_split_code,
    preserving_code,
    separable_tasks,
    set_code,
    split_views,
    task_errors,
    task_family,
    task_ids,
    task_string,
    tasks_from_ids,
    threshold_labellings,
    vertex_law_given_cluster,
    vertex_law_rows,
)
from clustertheory.analysis.exact_loss import population_infonce, uniform_minimum
from clustertheory.analysis.hypercube import vertex_codes, vertex_index
from clustertheory.analysis.metrics import (
    alignment_error,
    preserves_clusters,
    natural_vertex_law,
    uniformity,
)
from clustertheory.data import comb_dataset
from clustertheory.utils import torch_generator


@pytest.fixture(scope="module")
def comb3():
    return comb_dataset(8, 8, 3)


@pytest.fixture(scope="module")
def comb2():
    return comb_dataset(4, 4, 5)


# ----------------------------------------------------------------------------- tasks


def test_all_tasks_are_the_non_constant_labellings():
    tasks = all_tasks(4)
    assert tasks.shape == (14, 4)
    assert len({task_string(t) for t in tasks}) == 14
    assert not any(abs(t.sum()) == 4 for t in tasks)
    assert np.array_equal(task_ids(tasks), np.arange(1, 15))
    assert np.array_equal(tasks_from_ids(task_ids(tasks), 4), tasks)
    assert task_string(tasks_from_ids([5], 4)[0]) == "-+-+"


def test_parity_tasks_of_the_square_are_xor_and_xnor():
    tasks = parity_tasks(vertex_codes(2))
    assert {task_string(t) for t in tasks} == {"+--+", "-++-"}
    assert len(parity_tasks(vertex_codes(3))) == 2 * (8 - 3 - 1)


def test_sampled_task_family_keeps_parity_tasks_and_is_distinct():
    codes = vertex_codes(3)[np.arange(20) % 8]  # m = 20 clusters on 8 vertices
    parity = parity_tasks(codes)
    tasks = cluster_faithful_tasks(20, max_tasks=300, include=parity, seed=3)
    ids = task_ids(tasks)
    assert len(np.unique(ids)) == len(ids) and 300 <= len(ids) <= 300 + len(parity)
    assert set(task_ids(parity)) <= set(ids)
    assert ((ids > 0) & (ids < 2**20 - 1)).all()
    assert np.array_equal(cluster_faithful_tasks(20, 300, parity, seed=3), tasks)
    with pytest.raises(ValueError, match="max_tasks"):
        cluster_faithful_tasks(20)


# ----------------------------------------------------------------------------- splits and groups


def test_split_views_is_stratified_by_cluster_and_seeded(comb2):
    split = split_views(comb2, (0.5, 0.25, 0.25), seed=1)
    for c in range(comb2.num_clusters):
        counts = np.bincount(split[comb2.content == c], minlength=3)
        assert counts.tolist() == [10, 5, 5]
    assert np.array_equal(split, split_views(comb2, seed=1))
    assert not np.array_equal(split, split_views(comb2, seed=2))
    with pytest.raises(ValueError, match="fractions"):
        split_views(comb2, (0.5, 0.5, 0.0))


def test_code_groups_sum_the_view_law(comb2):
    codes = partner_split_code(comb2, 2)
    mask = split_views(comb2, seed=0) == 0
    groups = code_groups(codes, comb2, mask)
    assert np.isclose(groups.weight.sum(), 1.0)
    mu = np.where(mask, comb2.view_weight, 0.0)
    vertex = vertex_index(codes)
    for g in range(len(groups.weight)):
        members = (comb2.content == groups.cluster[g]) & (vertex == groups.vertex[g])
        assert np.isclose(groups.weight[g], mu[members].sum() / mu.sum())
        assert np.array_equal(groups.inputs[g], vertex_codes(2)[groups.vertex[g]])


# ----------------------------------------------------------------------------- exact references


def _brute_force_best_error(codes, data, task, labellings):
    """min over every vertex labelling s in ``labellings`` of the view mass with y != s(g(x))."""
    vertex = vertex_index(codes)
    y = task[data.content]
    mu = data.view_weight / data.view_weight.sum()
    return min(float(mu @ (s[vertex] != y)) for s in labellings)


def test_bayes_error_equals_the_best_of_all_vertex_labellings(comb2):
    all_labellings = np.array(list(itertools.product((-1, 1), repeat=4)))
    rng = np.random.default_rng(0)
    codes = vertex_codes(2)[rng.integers(0, 4, comb2.num_views)]  # an arbitrary (unclean) code
    tasks = all_tasks(4)
    bayes = bayes_errors(codes, comb2, tasks)
    expected = [_brute_force_best_error(codes, comb2, t, all_labellings) for t in tasks]
    assert np.allclose(bayes, expected)
    mask = split_views(comb2, seed=0) == 0  # the training target of fit_heads is the same quantity
    assert np.allclose(_group_bayes(code_groups(codes, comb2, mask), tasks), bayes_errors(codes, comb2, tasks, mask))


def test_min_linear_error_equals_the_best_threshold_labelling(comb2):
    assert [len(threshold_labellings(d)) for d in (1, 2, 3, 4)] == [4, 14, 104, 1882]  # threshold functions (OEIS A000609)
    rng = np.random.default_rng(1)
    codes = vertex_codes(2)[rng.integers(0, 4, comb2.num_views)]
    tasks = all_tasks(4)
    best = min_linear_errors(codes, comb2, tasks)
    expected = [_brute_force_best_error(codes, comb2, t, threshold_labellings(2)) for t in tasks]
    assert np.allclose(best, expected)
    # on the cluster-preserving code only XOR / XNOR are out of reach, each by one vertex of four
    best = min_linear_errors(preserving_code(comb2, 2), comb2, tasks)
    xor = np.isin(task_ids(tasks), task_ids(parity_tasks(vertex_codes(2))))
    assert np.allclose(best[xor], 0.25) and np.allclose(best[~xor], 0.0)


def test_linear_separability_by_lp_agrees_with_the_threshold_list():
    square = vertex_codes(2)
    assert not linearly_separable(square, [1, -1, -1, 1])  # XOR
    assert linearly_separable(square, [1, -1, -1, -1])  # AND
    assert linearly_separable(square, [1, 1, 1, 1])
    listed = {task_string(s) for s in threshold_labellings(2)}
    for labels in itertools.product((-1, 1), repeat=4):
        assert linearly_separable(square, labels) == (task_string(labels) in listed)
    listed = {task_string(s) for s in threshold_labellings(3)}
    rng = np.random.default_rng(0)
    for labels in tasks_from_ids(rng.choice(256, 40, replace=False), 8):
        assert linearly_separable(vertex_codes(3), labels) == (task_string(labels) in listed)
    listed = {task_string(s) for s in threshold_labellings(4)}
    sample = np.concatenate([rng.choice(2**16, 40, replace=False), task_ids(threshold_labellings(4)[::100])])
    for labels in tasks_from_ids(sample, 16):
        assert linearly_separable(vertex_codes(4), labels) == (task_string(labels) in listed)


# ----------------------------------------------------------------------------- the explicit head


@pytest.mark.parametrize("d", [2, 3])
def test_explicit_head_is_exact_on_every_task(d):
    data = comb_dataset(2**d, 2, 3)
    codes = preserving_code(data, d)[:, ::-1] * np.array([1, -1, 1][:d])  # some other bijection
    tasks = all_tasks(2**d)
    result = explicit_head_errors(codes, data, tasks)
    assert result.errors.max() == 0.0
    assert (result.active == 1).all() and np.all(result.active_pre == 2.0)
    a, _, b = explicit_relu_head(cluster_codes_of(codes, data), tasks)
    assert np.all(b == d - 2) and np.array_equal(a, tasks.astype(float))


def test_explicit_head_with_a_wrong_bias_or_a_split_code_errs(comb2):
    tasks = all_tasks(4)
    wrong_bias = explicit_head_errors(preserving_code(comb2, 2), comb2, tasks, bias=-2.0)
    assert wrong_bias.errors.max() > 0 and wrong_bias.active.max() > 1
    split = explicit_head_errors(partner_split_code(comb2, 2), comb2, tasks)
    assert split.errors.max() > 0


# ----------------------------------------------------------------------------- trained heads


def test_batched_heads_train_as_they_would_alone(comb2):
    """Training T heads together gives each task the parameters it gets alone (same init)."""
    groups = code_groups(preserving_code(comb2, 2), comb2)
    train = (torch.as_tensor(groups.inputs), torch.as_tensor(groups.cluster), torch.as_tensor(groups.weight, dtype=torch.float32))
    labels = torch.as_tensor(all_tasks(4)[:5], dtype=torch.float32)
    config = HeadConfig("relu", steps=7)
    together = ReLUHeads(5, 4, 2, torch_generator(0))
    alone = copy.deepcopy(together)
    never = torch.full((5,), -1.0)  # an unreachable target: no early stop
    _train_chunk(together, labels, train, never, config)
    for t in range(5):
        single = ReLUHeads(1, 4, 2, torch_generator(0))
        with torch.no_grad():
            for name, p in single.named_parameters():
                p.copy_(getattr(alone, name)[t : t + 1])
        _train_chunk(single, labels[t : t + 1], train, never[:1], config)
        for name, p in single.named_parameters():
            assert torch.allclose(p[0], getattr(together, name)[t], atol=1e-6)


def test_relu_heads_reach_zero_error_on_every_task_of_a_preserving_code(comb3):
    codes = preserving_code(comb3, 3)
    tasks = all_tasks(8)
    result = fit_heads(codes, comb3, tasks, split_views(comb3, seed=0), HeadConfig("relu"), seed=0)
    assert result.test_error.max() == 0.0 and result.train_error.max() == 0.0
    assert 1 <= result.restarts_used.min() and result.restarts_used.max() <= 8


def test_linear_heads_fail_exactly_on_the_non_separable_tasks(comb3):
    codes = preserving_code(comb3, 3)
    tasks = all_tasks(8)
    split = split_views(comb3, seed=0)
    result = fit_heads(codes, comb3, tasks, split, HeadConfig("linear", restarts=1), seed=0)
    separable = separable_tasks(codes, comb3, tasks, split == 0)
    assert separable.sum() == 102  # 104 threshold functions of 3 variables minus the 2 constants
    assert np.array_equal(result.test_error > 0, ~separable)
    parity = np.isin(task_ids(tasks), task_ids(parity_tasks(vertex_codes(3))))
    assert (result.test_error[parity] > 0).all()


def test_heads_on_a_split_code_cannot_beat_its_bayes_error(comb2):
    codes = partner_split_code(comb2, 2)
    tasks = all_tasks(4)
    split = split_views(comb2, seed=0)
    bayes_test = bayes_errors(codes, comb2, tasks, split == 2)
    for kind in ("relu", "linear"):
        result = fit_heads(codes, comb2, tasks, split, HeadConfig(kind, restarts=2, steps=150), seed=0)
        assert (result.test_error >= bayes_test - 1e-6).all()
        assert result.test_error.max() > 0


def test_head_config_and_inputs_are_validated(comb2):
    with pytest.raises(ValueError, match="kind"):
        HeadConfig("quadratic")
    with pytest.raises(ValueError, match="restarts"):
        HeadConfig(restarts=0)
    assert HeadConfig("linear").replace(steps=7) == HeadConfig("linear", steps=7)  # a nested settings block: heads.steps=7
    codes = preserving_code(comb2, 2)
    with pytest.raises(ValueError, match="split"):
        fit_heads(codes, comb2, all_tasks(4), np.zeros(3))
    with pytest.raises(ValueError, match="tasks"):
        bayes_errors(codes, comb2, np.ones((2, 3)))


# ----------------------------------------------------------------------------- constructions


@pytest.mark.parametrize("d", [2, 3])
def test_mixing_code_is_a_clean_uniform_minimiser_with_bayes_error_half(d):
    data = comb_dataset(2**d, 8, 3)
    mixing, preserving = mixing_code(data, d), preserving_code(data, d)
    assert alignment_error(mixing, data) == 0.0
    assert uniformity(natural_vertex_law(mixing, data))["tv"] == 0.0
    assert np.allclose(cluster_vertex_mass(mixing, data), 1.0 / 4**d)
    assert not preserves_clusters(mixing, data)
    loss_mixing = population_infonce(mixing, data, 8, 2.0)
    loss_preserving = population_infonce(preserving, data, 8, 2.0)
    assert abs(loss_mixing - loss_preserving) <= 1e-12
    assert abs(loss_preserving - uniform_minimum(d, 8, 2.0)) <= 1e-10
    tasks = all_tasks(2**d)
    balanced = tasks[tasks.sum(axis=1) == 0]
    assert np.allclose(bayes_errors(mixing, data, balanced), 0.5)
    assert bayes_errors(preserving, data, tasks).max() == 0.0


def test_set_code_needs_disjoint_augmentation_sets():
    leaky = comb_dataset(4, 4, 3, leak=0.2)
    with pytest.raises(ValueError, match="disjoint"):
        set_code(leaky, np.zeros(leaky.num_base, dtype=int), 2)
    with pytest.raises(ValueError, match="multiple"):
        mixing_code(comb_dataset(4, 6, 3), 2)


def test_natural_view_weights_put_the_natural_law_on_natural_images(comb2):
    weights = natural_view_weights(comb2)
    assert weights.sum() == pytest.approx(1.0) and np.allclose(weights[comb2.base_view], comb2.base_weight)
    assert np.count_nonzero(weights) == comb2.num_base


def test_partner_split_code_is_clean_uniform_and_splits_every_cluster(comb2):
    codes = partner_split_code(comb2, 2)
    assert alignment_error(codes, comb2) == 0.0
    assert np.allclose(natural_vertex_law(codes, comb2), 0.25)
    assert not preserves_clusters(codes, comb2, views="all")
    mass = cluster_vertex_mass(codes, comb2)
    assert np.allclose(mass[0, [0, 1]], [0.125, 0.125])  # half of cluster 0 on its partner's vertex


def test_task_errors_and_explicit_summary_of_a_preserving_code(comb2):
    codes = preserving_code(comb2, 2)
    tasks = all_tasks(4)
    errors = task_errors(codes, comb2, tasks, split_views(comb2, seed=0), HeadConfig("relu", restarts=4), HeadConfig("linear", restarts=1), seed=0)
    assert set(errors) >= {"relu_test_error", "linear_test_error", "explicit_error", "bayes_error", "min_linear_error", "separable", "parity"}
    assert all(len(v) == len(tasks) for v in errors.values())
    assert errors["parity"].sum() == 2 and not errors["separable"][errors["parity"]].any()
    assert np.all(errors["explicit_error"] == 0) and np.all(errors["bayes_error"] == 0)
    assert np.all((errors["linear_test_error"] > 0) == errors["parity"])
    summary = explicit_head_summary(codes, comb2)
    assert summary["explicit_sup_all_tasks"] == 0 and (summary["explicit_min_active"], summary["explicit_max_active"]) == (1, 1)
    assert summary["explicit_min_pre"] == summary["explicit_max_pre"] == 2.0 and summary["bayes_sup_all_tasks"] == 0
    assert explicit_head_summary(partner_split_code(comb2, 2), comb2)["bayes_sup_all_tasks"] == 0.5


def test_head_comparison_on_a_preserving_code_favours_the_relu_head(comb3):
    result = head_comparison(preserving_code(comb3, 3), comb3, num_tasks=6, seed=0)
    assert result["tasks"] >= 6 and result["relu_error"] == 0.0 and result["relu_train_excess"] == 0.0
    assert result["linear_error"] > 0.0  # the parity tasks of the cube are not linearly separable
    mixed = head_comparison(mixing_code(comb3, 3), comb3, num_tasks=6, seed=0)
    assert mixed["relu_error"] > 0.2  # a mixing code hides the clusters from every head


def test_task_family_is_every_task_up_to_max_tasks_else_a_sample_with_the_parity_tasks(comb2, comb3):
    assert np.array_equal(task_family(preserving_code(comb2, 2), comb2, 14), all_tasks(4))  # 2^4 - 2 = 14 tasks: all
    sample = task_family(preserving_code(comb2, 2), comb2, 13, seed=1)
    assert 13 <= len(sample) <= 15 and len(task_ids(sample)) == len(set(task_ids(sample)))  # 13 drawn, the parity tasks added
    assert set(task_ids(parity_tasks(vertex_codes(2)))) <= set(task_ids(sample))
    family = task_family(preserving_code(comb3, 3), comb3, 10, seed=0)
    assert 10 <= len(family) <= 10 + 8 and set(task_ids(parity_tasks(vertex_codes(3)))) <= set(task_ids(family))
    assert np.array_equal(family, task_family(preserving_code(comb3, 3), comb3, 10, seed=0))


def test_code_task_report_gives_the_code_facts_and_one_row_per_task(comb2):
    relu, linear = HeadConfig("relu", restarts=4), HeadConfig("linear", restarts=1)
    facts, rows = code_task_report(preserving_code(comb2, 2), comb2, 256, (0.5, 0.25, 0.25), relu, linear, seed=3, lp_check=True)
    assert facts == {**explicit_head_summary(preserving_code(comb2, 2), comb2), "lp_checked": 14, "lp_disagreements": 0}
    assert [r["task_id"] for r in rows] == list(range(1, 15)) and rows[0]["task"] == task_string(tasks_from_ids([1], 4)[0])
    errors = task_errors(preserving_code(comb2, 2), comb2, all_tasks(4), split_views(comb2, seed=3), relu, linear, seed=3)
    assert [r["linear_test_error"] for r in rows] == errors["linear_test_error"].tolist()  # the split and heads of seed 3
    assert sum(r["parity"] for r in rows) == 2 and all(r["min_linear_error"] > 0 for r in rows if r["parity"])
    facts, _ = code_task_report(preserving_code(comb2, 2), comb2, 256, (0.5, 0.25, 0.25), relu, linear, seed=3, rounding=-1.0, lp_check=True)
    assert facts["lp_disagreements"] == 12  # every separable task now disagrees: no error counts as zero
    assert code_task_report(preserving_code(comb2, 2), comb2, 256, (0.5, 0.25, 0.25), relu, linear)[0]["lp_checked"] == 0


def test_code_bayes_summary_tells_a_mixing_code_from_a_preserving_one():
    data = comb_dataset(4, 8, 3)
    mixing, preserving = code_bayes_summary(mixing_code(data, 2), data), code_bayes_summary(preserving_code(data, 2), data)
    assert mixing["bayes_balanced_min"] == pytest.approx(0.5) and mixing["bayes_sup"] == pytest.approx(0.5)
    assert mixing["vertices_per_cluster"] == 4.0 and mixing["share_deviation"] < 1e-15
    assert preserving == {"bayes_balanced_min": 0.0, "bayes_sup": 0.0, "vertices_per_cluster": 1.0, "share_deviation": pytest.approx(0.25 - 0.25 / 4)}
    law = vertex_law_given_cluster(partner_split_code(data, 2), data)
    assert np.allclose(law.sum(axis=1), 1.0) and np.allclose(law[0], [0.5, 0.5, 0.0, 0.0])
    assert code_bayes_summary(partner_split_code(data, 2), data)["vertices_per_cluster"] == 2.0
    rows = vertex_law_rows(partner_split_code(data, 2), data)
    assert len(rows) == 16 and rows[1] == {"cluster": 0, "vertex": 1, "mass": 0.5} and rows[4]["cluster"] == 1
