

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
