"""feature-suppression on a tiny setting: runs, draws, passes its package checks; every check and claim can fail."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from clustertheory.analysis.min_norm import DescentConfig  # noqa: E402
from clustertheory.data.collapse import CollapseConfig  # noqa: E402
from clustertheory.simulation import RunContext  # noqa: E402
from simulations import feature_suppression as fs  # noqa: E402

RULE = dict(num_features=4, num_augmentations=2, class_strength=float(np.sqrt(2.5)), subclass_strength=2.0,
            irrelevant_strength=float(np.sqrt(0.5)), subclass_mean=0.0, noise=3.0)
TINY = fs.Config(
    many_views=CollapseConfig(dim=12, num_originals=2000, **RULE), many_dims=CollapseConfig(dim=150, num_originals=40, **RULE),
    class_variances=(0.5, 2.5), sizes=(1, 2), grid_seeds=1, descent=DescentConfig(steps=800, lr=0.02, init_scale=0.001), seeds=2,
)


@pytest.fixture(scope="module")
def rows():
    return fs.run(TINY, RunContext.for_tests())


def _checks(rows):
    return {c.name: c for c in fs.verdict(rows, TINY).checks}


def _status(rows, name):
    return fs.verdict(rows, TINY).claim(name).status


def _edit(rows, where, **changes):
    return [{**r, **changes} if where(r) else r for r in rows]


def test_tiny_run_passes_its_package_checks_and_draws(rows):
    verdict = fs.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    assert verdict.claim("stated-rule-keeps-class (many-dims)").effect > 0.5 > verdict.claim("stated-rule-keeps-class (many-views)").effect
    fs.plot(rows, TINY)


@pytest.mark.parametrize("name, where, changes", [
    ("population min-norm keeps v1 exactly where the many-views closed form says (cells) (many-views)",
     lambda r: r["kind"] == "rule" and r["regime"] == "many-views", {"population_v1": 10.0}),
    ("training-set min-norm keeps v1 (> half its kept value) where the many-dims closed form says (cells x seeds) (many-dims)",
     lambda r: r["kind"] == "rule" and r["regime"] == "many-dims", {"sample_v1": 0.0}),
    ("disagreement cell: GD endpoint vs min-norm, max |d ||W v1|| | / kept value (many-views)",
     lambda r: r["kind"] == "disagreement" and r["regime"] == "many-views", {"gd_v1": 1.0}),
    ("disagreement cell: GD reaches the minimum value, max relative loss gap (many-dims)",
     lambda r: r["kind"] == "disagreement" and r["regime"] == "many-dims", {"loss_gap": 0.1}),
])
def test_each_package_check_fails_on_broken_rows(rows, name, where, changes):
    assert _checks(rows)[name].passed
    assert not _checks(_edit(rows, where, **changes))[name].passed


def test_claims_change_status_when_their_effect_is_removed(rows):
    kept = _edit(rows, lambda r: r["kind"] == "disagreement" and r["regime"] == "many-views", min_norm_v1=1.0, gd_v1=1.0)
    assert _status(kept, "stated-rule-keeps-class (many-views)") == "reproduced"


def test_rule_claims_need_a_cell_where_the_rules_disagree(rows):
    agree = _edit(rows, lambda r: r["kind"] == "disagreement", stated_kept=False, bias_first_kept=False)
    assert _status(agree, "stated-rule-keeps-class (many-dims)") == "not-testable"


@pytest.mark.parametrize("changes, field", [
    ({"disagreement_p": 5}, "disagreement_p"),
    ({"many_views": CollapseConfig(dim=400, num_originals=50, num_augmentations=2)}, "many_views"), ({"seeds": 1}, "seeds"),
])
def test_config_rejects_bad_values_by_name(changes, field):
    with pytest.raises(ValueError, match=field):
        fs.Config(**changes)
