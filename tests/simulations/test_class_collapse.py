"""class-collapse on a tiny setting: runs, draws, passes its package checks; every check and claim can fail."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from clustertheory.analysis.min_norm import DescentConfig  # noqa: E402
from clustertheory.data.collapse import CollapseConfig  # noqa: E402
from clustertheory.simulation import RunContext  # noqa: E402
from simulations import class_collapse as cc  # noqa: E402

TINY = cc.Config(
    many_views=CollapseConfig(dim=20, num_originals=150, num_augmentations=2),
    many_dims=CollapseConfig(dim=150, num_originals=30, num_augmentations=2),
    descent=DescentConfig(steps=120, lr=0.05, init_scale=0.001), record_steps=(0, 10, 20, 30, 45, 60, 120),
    probe_examples=200, seeds=2, population_tolerance=0.25, min_class_probe=0.85,
)


@pytest.fixture(scope="module")
def rows():
    return cc.run(TINY, RunContext.for_tests())


def _checks(rows):
    return {c.name: c for c in cc.verdict(rows, TINY).checks}


def _status(rows, name):
    return cc.verdict(rows, TINY).claim(name).status


def _edit(rows, where, **changes):
    return [{**r, **changes} if where(r) else r for r in rows]


def test_tiny_run_passes_its_package_checks_and_draws(rows):
    verdict = cc.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    assert {r["kind"] for r in rows} == {"min_norm", "trace"}
    assert {c.status for c in verdict.claims} <= {"reproduced", "not-reproduced", "inconclusive", "not-testable"}
    cc.plot(rows, TINY)


@pytest.mark.parametrize("name, where, changes", [
    ("GD endpoint vs min-norm, max |d ||W v_j|| | (many-views)", lambda r: r["kind"] == "trace" and r["step"] == 120 and r["regime"] == "many-views", {"norm_v2": 0.5}),
    ("training-set min-norm ||W* v1|| vs its population limit (max relative gap) (many-dims)", lambda r: r["kind"] == "min_norm" and r["regime"] == "many-dims", {"population_v1": 5.0}),
    ("final class probe (min over seeds) (many-views)", lambda r: r["kind"] == "trace" and r["step"] == 120, {"probe_class": 0.5}),
])
def test_each_package_check_fails_on_broken_rows(rows, name, where, changes):
    assert _checks(rows)[name].passed
    assert not _checks(_edit(rows, where, **changes))[name].passed


def test_claims_turn_not_reproduced_when_their_effect_is_removed(rows):
    regime = "many-views"
    flat = _edit(rows, lambda r: r["kind"] == "trace", probe_subclass=0.6)  # the subclass probe never moves
    assert _status(flat, f"subclass-learned-early ({regime})") == "not-reproduced"
    assert _status(flat, f"subclass-unlearned-late ({regime})") == "not-reproduced"
    kept = _edit(rows, lambda r: r["kind"] == "min_norm", norm_v2=1.0, norm_v1=1.0)  # no collapse
    assert _status(kept, f"min-norm-collapses-subclass ({regime})") == "not-reproduced"
    spread = _edit(rows, lambda r: r["kind"] == "trace", class_ratio=2.0, subclass_separation=1.5)
    assert _status(spread, f"training-set-classes-collapse ({regime})") == "not-reproduced"
    assert _status(spread, f"training-set-subclasses-merge ({regime})") == "not-reproduced"


def test_a_claim_outside_its_regime_is_not_testable(rows):
    """With phi_1^2 > 1 + mu^2 the early-learning claims are not about this setting."""
    config = TINY.replace(**{"many_views.class_strength": 1.5, "many_dims.class_strength": 1.5})
    assert cc.verdict(rows, config).claim("subclass-learned-early (many-views)").status == "not-testable"


@pytest.mark.parametrize("changes, field", [
    ({"record_steps": (0, 10, 999)}, "record_steps"),
    ({"many_dims": CollapseConfig(dim=20, num_originals=150, num_augmentations=2)}, "many_dims"),
    ({"many_dims": CollapseConfig(dim=400, num_originals=50, num_augmentations=5, noise=1.0)}, "feature model"),
    ({"seeds": 1}, "seeds"), ({"probe_examples": 5}, "probe_examples"),
])
def test_config_rejects_bad_values_by_name(changes, field):
    with pytest.raises(ValueError, match=field):
        cc.Config(**changes)
