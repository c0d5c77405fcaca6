"""What the collapse simulations measure on the linear model: against direct computations."""

import numpy as np
import pytest

from clustertheory.analysis.collapse import (
    collapse_measures,
    feature_norms,
    fresh_probe,
    learning_order,
    peak_and_ends,
    scl_collapse_traces,
    seed_traces,
)
from clustertheory.analysis.embedding import linear_probe_accuracy, probe_split
from clustertheory.analysis.min_norm import DescentConfig, range_basis, spectral_gradient_descent, spectral_min_norm
from clustertheory.data.collapse import CollapseConfig, collapse_dataset
from clustertheory.losses.spectral import scl_moments, with_bias

DATA = CollapseConfig(dim=12, num_originals=60, num_augmentations=2)


def test_fresh_probe_is_the_library_probe_on_the_default_split():
    rng = np.random.default_rng(0)
    labels = rng.choice([-1, 1], size=200)
    z = np.stack([labels + 0.3 * rng.standard_normal(200), rng.standard_normal(200)], axis=1)
    expected = linear_probe_accuracy(z, labels, probe_split(200), cs=(1.0,))["accuracy"]
    assert fresh_probe(z, labels, (1.0,)) == expected > 0.95
    assert fresh_probe(rng.standard_normal((200, 2)), labels, (1.0,)) < 0.75  # nothing to read


def test_feature_norms_are_column_norms():
    W = np.array([[3.0, 0.0, 1.0, 5.0], [4.0, 2.0, 0.0, 5.0]])
    assert feature_norms(W, "gd") == {"gd_v1": 5.0, "gd_v2": 2.0, "gd_v3": 1.0}
    assert feature_norms(W, "x", names=("a",)) == {"x_a": 5.0}


def test_collapse_measures_read_a_class_only_encoder_as_collapsed():
    train, probe = collapse_dataset(DATA, 1), collapse_dataset(DATA.replace(num_originals=200), 2)
    W = np.zeros((2, DATA.dim + 1))
    W[0, 0] = 1.0  # reads v_1 (the class) only
    m = collapse_measures(W, train, with_bias(probe.originals), probe, (1.0,))
    assert m["norm_v1"] == 1.0 and m["norm_v2"] == 0.0
    assert m["probe_class"] > 0.9 and m["probe_subclass"] < 0.75
    assert m["subclass_separation"] < 0.05
    W[1, 1] = 1.0  # now the subclass too: no longer collapsed
    m = collapse_measures(W, train, with_bias(probe.originals), probe, (1.0,))
    assert m["subclass_separation"] > 0.5 and m["probe_subclass"] > 0.9


def test_scl_collapse_traces_hold_the_min_norm_minimiser_and_gd():
    descent = DescentConfig(steps=20, lr=0.05, init_scale=0.001)
    rows = scl_collapse_traces(DATA, "many-views", 3, descent, [5, 6], (0, 10, 20), 80, (1.0,))
    best = [r for r in rows if r["kind"] == "min_norm"]
    trace = [r for r in rows if r["kind"] == "trace"]
    assert len(best) == 2 and len(trace) == 6 and {r["step"] for r in trace} == {0, 10, 20}
    train = collapse_dataset(DATA, 6)
    S, M = scl_moments(train.views, train.y)
    direct = spectral_min_norm(S, M, 3, basis=range_basis(S))
    assert best[1]["seed"] == 1 and best[1]["loss_min"] == pytest.approx(direct.loss, rel=1e-12)
    assert best[1]["norm_v2"] == pytest.approx(np.linalg.norm(direct.weights[:, 1]), abs=1e-12)
    (_, (W,)), = spectral_gradient_descent([(S, M)], 3, descent, seeds=[6], record_at=[20])
    last = [r for r in trace if r["seed"] == 1 and r["step"] == 20][0]
    assert last["norm_v1"] == pytest.approx(np.linalg.norm(W[:, 0]), rel=1e-9)


def test_learning_order_matches_a_direct_descent():
    descent = DescentConfig(steps=60, lr=0.05, init_scale=0.001)
    data = DATA.replace(class_strength=0.5)
    (row,) = learning_order(data, 3, descent, [3], 2, 80, (1.0,))
    train = collapse_dataset(data, 3)
    steps = list(range(0, 61, 2))
    trace = list(spectral_gradient_descent([scl_moments(train.views, train.y)], 3, descent, seeds=[3], record_at=steps))
    v1, v2 = (np.array([np.linalg.norm(Ws[0][:, j]) for _, Ws in trace]) for j in (0, 1))
    assert row["peak_step"] == steps[int(np.argmax(v2))] and row["peak_ratio"] == pytest.approx(v2.max() / v1.max())
    assert row["half_v1_step"] == steps[int(np.argmax(v1 >= v1[-1] / 2))] and row["half_v2_step"] == steps[int(np.argmax(v2 >= v2.max() / 2))]
    assert 0.0 <= row["probe_init"] <= 1.0 and 0.0 <= row["probe_peak"] <= 1.0


def test_seed_traces_and_peak_and_ends():
    rows = [{"seed": s, "step": t, "x": x} for s, t, x in [(1, 5, 0.2), (0, 5, 3.0), (0, 0, 1.0), (0, 9, 2.0), (1, 0, 0.1)]]
    traces = seed_traces(rows)
    assert [r["step"] for r in traces[0]] == [0, 5, 9] and [r["step"] for r in traces[1]] == [0, 5]
    first, peak, last = peak_and_ends(traces[0], "x")
    assert (first["step"], peak["step"], last["step"]) == (0, 5, 9)


def test_joint_weight_sweep_rows_against_direct_minimisers():
    from clustertheory.analysis.collapse import joint_weight_sweep
    from clustertheory.analysis.min_norm import population_moments
    from clustertheory.losses.spectral import joint_moments

    data = CollapseConfig(dim=8, num_features=3, num_originals=200, num_augmentations=2, class_strength=0.8, subclass_strength=2.0,
                          irrelevant_strength=1.25, subclass_mean=0.0, noise=2.0)
    descent = DescentConfig(steps=400, lr=0.05, init_scale=0.001)
    rows = joint_weight_sweep(data, "many-views", 3, (0.0, 0.5, 1.0), (0.5,), 0.1, descent, [7], 100, (1.0,))
    assert [r["kind"] for r in rows] == ["population"] * 3 + ["sample"] * 3 + ["gd"]
    S, M = population_moments(data, "joint", scl_weight=0.5)
    assert rows[1]["min_norm_v2"] == pytest.approx(spectral_min_norm(S, M, 3).norm_along(np.eye(len(S))[1]), abs=1e-12)
    train = collapse_dataset(data, 7)
    S, M = joint_moments(train.views, train.y, 0.5)
    direct = spectral_min_norm(S, M, 3)
    sample = rows[4]
    assert sample["scl_weight"] == 0.5 and sample["min_norm_v1"] == pytest.approx(np.linalg.norm(direct.weights[:, 0]), rel=1e-8)
    assert "probe_class" in sample and "probe_class" not in rows[3]  # probes only at the GD weights
    gd = rows[-1]
    assert gd["threshold"] == 0.1 and gd["loss_gap"] < 1e-3 and gd["gram_gap"] < 0.05  # GD reached the unique minimiser


def test_kept_fractions_divide_by_the_same_seeds_scl_and_ucl_rows():
    from clustertheory.analysis.collapse import kept_fractions

    rows = [{"seed": s, "scl_weight": w, "m_v1": v1, "m_v2": v2}
            for s, scale in ((0, 1.0), (1, 2.0)) for w, v1, v2 in ((0.0, 0.0, 4.0 * scale), (0.5, 1.0, 1.0), (1.0, 2.0 * scale, 0.0))]
    fractions = kept_fractions(rows, "m")
    assert fractions[1] == (0.5, 0.5, 0.25) and fractions[4] == (0.5, 0.25, 0.125)
    assert fractions[0][1] == 0.0 and fractions[2][2] == 0.0


RULE = CollapseConfig(dim=12, num_features=4, num_originals=400, num_augmentations=2, class_strength=float(np.sqrt(2.5)), subclass_strength=2.0,
                      irrelevant_strength=float(np.sqrt(0.5)), subclass_mean=0.0, noise=3.0)


def test_kept_class_norm_and_rule_predictions():
    from clustertheory.analysis.collapse import kept_class_norm, rule_predictions
    from clustertheory.analysis.min_norm import population_moments

    S, M = population_moments(RULE, "ucl")
    kept = kept_class_norm(RULE, "many-views")
    assert kept > 0 and kept == pytest.approx(spectral_min_norm(S, M, 5).norm_along(np.eye(len(S))[0]), rel=1e-12)
    # phi_1^2 = 2.5: the stated rule ranks (phi_2^2 = 4) above v_1, the bias-first rule (bias, phi_2^2) above it
    assert rule_predictions(RULE, 2) == {"stated_kept": True, "bias_first_kept": False}
    assert rule_predictions(RULE, 1) == {"stated_kept": False, "bias_first_kept": False}
    assert rule_predictions(RULE, 3) == {"stated_kept": True, "bias_first_kept": True}


def test_ucl_class_norms_population_and_training_sets():
    from clustertheory.analysis.collapse import ucl_class_norms
    from clustertheory.losses.spectral import ucl_moments

    population, sample = ucl_class_norms(RULE, (1, 3), [4, 5], "many-views")
    assert [r["p"] for r in population] == [1, 3] and population[0]["population_v1"] < 1e-9 < population[1]["population_v1"]
    assert [(r["seed"], r["p"]) for r in sample] == [(0, 1), (0, 3), (1, 1), (1, 3)]
    S, M = ucl_moments(collapse_dataset(RULE, 5).views)
    assert sample[3]["sample_v1"] == pytest.approx(spectral_min_norm(S, M, 3).norm_along(np.eye(len(S))[0]), rel=1e-9)
    assert ucl_class_norms(RULE, (1,), [4], None)[0] == []


def test_ucl_descent_against_min_norm_and_final_rows():
    from clustertheory.analysis.collapse import final_rows, ucl_descent_against_min_norm

    descent = DescentConfig(steps=1500, lr=0.02, init_scale=0.001)
    rows = ucl_descent_against_min_norm(RULE, 3, descent, [8, 9])
    assert {r["step"] for r in rows} >= {0, 1, 1500} and len({r["step"] for r in rows}) <= 22
    last = final_rows(rows)
    assert [r["seed"] for r in last] == [0, 1] and all(r["step"] == 1500 for r in last)
    assert all(np.isnan(r["loss_gap"]) for r in rows if r["step"] < 1500)
    assert all(abs(r["gd_v1"] - r["min_norm_v1"]) < 0.05 * r["min_norm_v1"] and r["loss_gap"] < 1e-3 for r in last)  # unique minimiser reached
