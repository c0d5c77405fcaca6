"""feature-suppression-imperfect on a tiny setting: runs, draws, passes its package checks; every check and claim can fail."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from clustertheory.analysis.min_norm import DescentConfig  # noqa: E402
from clustertheory.data.collapse import CollapseConfig  # noqa: E402
from clustertheory.simulation import RunContext  # noqa: E402
from clustertheory.training.fitting import FitConfig  # noqa: E402
from simulations import feature_suppression_imperfect as fi  # noqa: E402

IMPERFECT = dict(num_features=10, num_augmentations=2, class_strength=float(np.sqrt(2)), subclass_strength=0.5, irrelevant_strength=1.0,
                 subclass_mean=0.0, noise=0.5, augmentation_noise=1.0)
TINY = fi.Config(
    imperfect_views=CollapseConfig(dim=10, num_originals=600, **IMPERFECT), imperfect_dims=CollapseConfig(dim=150, num_originals=40, **IMPERFECT),
    imperfect_sizes=(2, 9, 10), imperfect_p=2, imperfect_descent=DescentConfig(steps=800, lr=0.05, init_scale=0.001), seeds=2,
    infonce_fit=FitConfig(steps=60, lr=1e-2, batch_size=64), probe_examples=200, restored_probe=0.7,
)


@pytest.fixture(scope="module")
def rows():
    return fi.run(TINY, RunContext.for_tests())


def _checks(rows):
    return {c.name: c for c in fi.verdict(rows, TINY).checks}


def _status(rows, name):
    return fi.verdict(rows, TINY).claim(name).status


def _edit(rows, where, **changes):
    return [{**r, **changes} if where(r) else r for r in rows]


def test_tiny_run_passes_its_package_checks_and_draws(rows):
    verdict = fi.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    assert {r["kind"] for r in rows} == {"imperfect-population", "imperfect-sample", "imperfect-gd", "infonce"}
    fi.plot(rows, TINY)


@pytest.mark.parametrize("name, where, changes", [
    ("imperfect augmentation, population: the closed form counts K - 1 directions above v1 (p < K)",
     lambda r: r["kind"] == "imperfect-population", {"outranking": 0}),
    ("InfoNCE, perfect augmentation: class probe (min over seeds)", lambda r: r["kind"] == "infonce" and r["arm"] == "perfect", {"probe_class": 0.5}),
])
def test_each_package_check_fails_on_broken_rows(rows, name, where, changes):
    assert _checks(rows)[name].passed
    assert not _checks(_edit(rows, where, **changes))[name].passed


def test_claims_change_status_when_their_effect_is_removed(rows):
    kept_sample = _edit(rows, lambda r: r["kind"] == "imperfect-sample", sample_v1=1.0)
    assert _status(kept_sample, "imperfect-augmentation-suppresses (many-views)") == "not-reproduced"
    steady = _edit(rows, lambda r: r["kind"] == "imperfect-gd", gd_v1=0.5)
    assert _status(steady, "gd-learns-class-then-suppresses (many-dims)") == "not-reproduced"
    inert = _edit(rows, lambda r: r["kind"] == "infonce", probe_class=0.95)
    assert _status(inert, "infonce-imperfect-augmentation-suppresses") == "not-reproduced"


@pytest.mark.parametrize("changes, field", [
    ({"imperfect_p": 3}, "imperfect_p"), ({"seeds": 1}, "seeds"),
    ({"imperfect_views": CollapseConfig(dim=400, num_originals=50, num_augmentations=2)}, "imperfect_views"),
])
def test_config_rejects_bad_values_by_name(changes, field):
    with pytest.raises(ValueError, match=field):
        fi.Config(**changes)
