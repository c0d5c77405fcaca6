"""Ensembles trained on the collapse model's views: rows, determinism, and that training works."""

from clustertheory.data.collapse import CollapseConfig
from clustertheory.functions.ensemble import EncoderSettings
from clustertheory.training.collapse import supcon_probe_trace
from clustertheory.training.fitting import FitConfig

DATA = CollapseConfig(dim=10, num_originals=120, num_augmentations=2, class_strength=2.0)
ENCODER = EncoderSettings(out_dim=4, width=16, depth=1, init_scale=0.5)


def test_supcon_probe_trace_rows_and_learning():
    fit = FitConfig(steps=40, lr=1e-2, batch_size=32)
    rows = supcon_probe_trace(DATA, ENCODER, fit, [3, 4], (0, 40), 0.2, 120, (1.0,), tags={"kind": "mlp"})
    assert len(rows) == 4 and [(r["step"], r["seed"]) for r in rows] == [(0, 0), (0, 1), (40, 0), (40, 1)]
    assert list(rows[0])[:4] == ["step", "train_loss", "kind", "seed"]
    assert {"probe_subclass", "probe_class", "train_probe_subclass", "subclass_separation"} <= set(rows[0])
    assert all(r["probe_class"] > 0.9 for r in rows if r["step"] == 40)  # SupCon reads the class
    again = supcon_probe_trace(DATA, ENCODER, fit, [3, 4], (0, 40), 0.2, 120, (1.0,), tags={"kind": "mlp"})
    assert repr(again) == repr(rows)  # train_loss is nan at step 0


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


BITS = CollapseConfig(dim=8, num_features=3, num_originals=300, num_augmentations=2, subclass_strength=0.0, subclass_mean=0.0,
                      irrelevant_strength=0.0, noise=1.0, augmentation_noise=0.5)


def test_shared_bits_suppress_and_fresh_bits_do_not():
    from clustertheory.training.collapse import shared_bits_probes

    arms = [("none", 0, 2), ("shared", 8, 2), ("fresh", 8, 2)]
    encoder = EncoderSettings(out_dim=8, width=16, depth=1)
    probes = shared_bits_probes(BITS, encoder, FitConfig(steps=150, lr=3e-3, batch_size=32), arms, [1, 2, 3], 0.2, 200, (1.0,))
    assert len(probes) == 3 and probes[0] > 0.8 and probes[2] > 0.8
    assert probes[1] < probes[0] - 0.1  # the shared bits are the easier positive-pair feature


def test_infonce_class_probes_jitter_suppresses_the_class():
    from clustertheory.training.collapse import infonce_class_probes

    data = CollapseConfig(dim=10, num_features=10, num_originals=400, num_augmentations=2, class_strength=1.41, subclass_strength=0.5,
                          irrelevant_strength=1.0, subclass_mean=0.0, noise=0.5, augmentation_noise=1.0)
    encoder = EncoderSettings(out_dim=5, width=1, depth=0)
    datas = [data, data.replace(augmentation_noise=0.0)]
    probes = infonce_class_probes(datas, encoder, FitConfig(steps=100, lr=1e-2, batch_size=64), [6, 6], 0.2, data.replace(num_originals=200), (1.0,))
    assert len(probes) == 2 and probes[1] > 0.85 and probes[0] < probes[1] - 0.1
