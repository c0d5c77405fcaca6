"""class-collapse, feature-suppression and joint-loss on tiny settings: run, verdict, and verdicts that fail."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from clustertheory.simulation import RunContext  # noqa: E402
from simulations import class_collapse, feature_suppression, joint_loss  # noqa: E402

CC_TINY = class_collapse.Config(
    dim=200, num_originals=400, num_augmentations=3, embedding_sizes=(3, 20), steps=200,
    record_steps=(0, 10, 20, 30, 40, 60, 100, 200), snapshot_steps=(20, 200), snapshot_points=20,
    probe_train=200, probe_val=100, probe_test=300, seeds=1,
)


@pytest.fixture(scope="module")
def cc_rows():
    return class_collapse.run(CC_TINY, RunContext.for_tests())


def _by_name(verdict):
    return {c.name: c for c in verdict.checks}


def test_class_collapse_tiny_passes_and_draws(cc_rows):
    verdict = class_collapse.verdict(cc_rows, CC_TINY)
    assert verdict.passed, verdict.report()
    assert {r["kind"] for r in cc_rows} == {"trace", "snapshot", "min_norm", "gd_vs_min_norm"}
    class_collapse.plot(cc_rows, CC_TINY)


def test_class_collapse_verdict_fails_when_the_subclass_never_collapses(cc_rows):
    frozen = [{**r, "probe_subclass": 1.0} if r["kind"] == "trace" else r for r in cc_rows]
    checks = _by_name(class_collapse.verdict(frozen, CC_TINY))
    assert not checks["p=3: final subclass probe accuracy (max over seeds)"].passed
    rising = [{**r, "norm_v2": r["step"] + 1.0} if r["kind"] == "trace" else r for r in cc_rows]
    assert not class_collapse.verdict(rising, CC_TINY).passed


def test_class_collapse_verdict_fails_without_the_subclass_mean():
    """With mu = 0, M_SCL has no v_2 direction: gradient descent never learns the subclass."""
    config = CC_TINY.replace(subclass_mean=0.0, embedding_sizes=(3,))
    verdict = class_collapse.verdict(class_collapse.run(config, RunContext.for_tests()), config)
    assert not _by_name(verdict)["every p: peak ||W_t v2|| / peak ||W_t v1|| (min over seeds)"].passed


FS_TINY = feature_suppression.Config(
    size_dim=20, size_originals=2000, feature_counts=(3, 10), embedding_sizes=(2, 10), ratios=(0.0, 2.0),
    gd_features=10, gd_size=2, gd_ratios=(2.0,), gd_steps=500, leak_size=2, leak_draws=1,
    hd_dim=30, hd_originals=1500, hd_sizes=(2, 30), hd_gd_size=2, hd_gd_steps=1000,
    bits=(0, 8), bits_sizes=(2, 4), bits_dim=8, bits_originals=200, bits_steps=20, bits_batch=64, bits_hidden=16,
)


@pytest.fixture(scope="module")
def fs_rows():
    return feature_suppression.run(FS_TINY, RunContext.for_tests())


def test_feature_suppression_tiny_exact_checks_pass_and_draws(fs_rows):
    checks = _by_name(feature_suppression.verdict(fs_rows, FS_TINY))
    assert checks["population min-norm: ||W* v1|| = 0 exactly where the ranking rule predicts (mismatches)"].measured == 0
    assert checks["GD endpoint vs min-norm ||W v1|| (max abs gap)"].passed
    feature_suppression.plot(fs_rows, FS_TINY)


def test_feature_suppression_verdict_fails_on_a_wrong_rule(fs_rows):
    flipped = [{**r, "predicted_suppressed": not r["predicted_suppressed"]} if "predicted_suppressed" in r else r for r in fs_rows]
    checks = _by_name(feature_suppression.verdict(flipped, FS_TINY))
    assert not checks["population min-norm: ||W* v1|| = 0 exactly where the ranking rule predicts (mismatches)"].passed
    untouched_bits = [{**r, "probe_class": 1.0} if r["part"] == "bits" else r for r in fs_rows]
    assert not _by_name(feature_suppression.verdict(untouched_bits, FS_TINY))["bits: 8 shared bits, p = 2: class probe"].passed


JL_TINY = joint_loss.Config(dim=30, num_originals=6000, betas=(0.0, 0.5, 1.0), gd_steps=1000, nce_betas=(0.5,), nce_steps=10,
                            nce_batch=32, probe_sizes=(200, 100, 300), seeds=1)


def test_joint_loss_tiny_passes_and_fails_when_the_losses_are_swapped():
    rows = joint_loss.run(JL_TINY, RunContext.for_tests())
    verdict = joint_loss.verdict(rows, JL_TINY)
    spectral = [c for c in verdict.checks if "probe" not in c.name]
    assert all(c.passed for c in spectral), verdict.report()
    swapped = [{**r, "beta": 1.0 - r["beta"]} for r in rows]
    assert not joint_loss.verdict(swapped, JL_TINY).passed
    joint_loss.plot(rows, JL_TINY)


@pytest.mark.parametrize("module, field, value", [
    (class_collapse, "record_steps", (0, 999)), (class_collapse, "embedding_sizes", ()),
    (feature_suppression, "leak_ratio", 0.5), (feature_suppression, "dial_bits", 3),
    (joint_loss, "betas", (0.0, 1.0)), (joint_loss, "num_augmentations", 1),
])
def test_configs_reject_bad_values_by_name(module, field, value):
    with pytest.raises(ValueError, match=field):
        module.Config(**{field: value})
