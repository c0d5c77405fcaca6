

def test_joint_nce_probes_one_row_per_member_and_supcon_keeps_the_class():
    from clustertheory.training.collapse import joint_nce_probes

    data = CollapseConfig(dim=10, num_features=3, num_originals=150, num_augmentations=2, class_strength=1.5, subclass_strength=2.0,
                          irrelevant_strength=1.25, subclass_mean=0.0, noise=1.0)
    encoder = EncoderSettings(out_dim=3, width=1, depth=0, init_scale=1.0)
    fit = FitConfig(steps=60, lr=1e-2, batch_size=32)
    rows = joint_nce_probes(data, encoder, fit, [(0.0, 5), (1.0, 5)], 0.2, 150, (1.0,))
    assert len(rows) == 2 and set(rows[0]) == {"nce_v1", "nce_v2", "nce_v3", "probe_class", "probe_subclass"}
    assert rows[1]["probe_class"] > 0.9  # SupCon (w = 1) reads the class
    assert rows[1]["nce_v1"] > rows[0]["nce_v1"]  # and weighs v1 more than InfoNCE does
    assert repr(joint_nce_probes(data, encoder, fit, [(0.0, 5), (1.0, 5)], 0.2, 150, (1.0,))) == repr(rows)
