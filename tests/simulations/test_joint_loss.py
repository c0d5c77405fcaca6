"""joint-loss on a tiny setting: runs, draws, passes its package checks; every check and claim can fail."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from clustertheory.analysis.min_norm import DescentConfig  # noqa: E402
from clustertheory.data.collapse import CollapseConfig  # noqa: E402
from clustertheory.simulation import RunContext  # noqa: E402
from simulations import joint_loss as jl  # noqa: E402

MODEL = dict(num_features=3, num_augmentations=2, class_strength=0.8, subclass_strength=2.0, irrelevant_strength=1.25, subclass_mean=0.0, noise=5.0)
TINY = jl.Config(
    many_views=CollapseConfig(dim=20, num_originals=3000, **MODEL), many_dims=CollapseConfig(dim=120, num_originals=30, **MODEL),
    scl_weights=(0.0, 0.1, 0.5, 0.75, 1.0), gd_weights=(0.0, 0.5, 1.0), descent=DescentConfig(steps=800, lr=0.05, init_scale=0.001),
    seeds=2, probe_examples=200,
)


@pytest.fixture(scope="module")
def rows():
    return jl.run(TINY, RunContext.for_tests())


def _checks(rows):
    """Checks by name, the GD checks also by their name up to the list of weights."""
    checks = {c.name: c for c in jl.verdict(rows, TINY).checks}
    return {**checks, **{c.name.split(" (w in")[0]: c for c in checks.values()}}


def _status(rows, name):
    return jl.verdict(rows, TINY).claim(name).status


def _edit(rows, where, **changes):
    return [{**r, **changes} if where(r) else r for r in rows]


def test_tiny_run_passes_its_package_checks_and_draws(rows):
    verdict = jl.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    threshold, grid, _ = TINY.weights("many-views")
    assert 0.1 < threshold < 0.5 and any(0 < w < threshold for w in grid) and any(w > threshold for w in grid)
    assert verdict.claim("joint-keeps-both (population) (many-views)").status == "not-reproduced"  # below w* v1 is dropped
    assert verdict.claim("joint-keeps-both (population) (many-dims)").status == "reproduced"
    jl.plot(rows, TINY)


def _w_star(regime):
    return TINY.weights(regime)[0]


@pytest.mark.parametrize("name, where, changes", [
    ("UCL (w = 0) suppresses v1 and SCL (w = 1) collapses v2, population (many-views)",
     lambda r: r["kind"] == "population" and r["regime"] == "many-views" and r["scl_weight"] == 0.0, {"min_norm_v1": 0.5}),
    ("population min-norm keeps v1 exactly above the closed-form w* (grid weights) (many-views)",
     lambda r: r["kind"] == "population" and r["regime"] == "many-views" and 0 < r["scl_weight"] < _w_star("many-views"), {"min_norm_v1": 0.8}),
    ("GD endpoint vs training-set min-norm, max |d ||W v_j|| |",
     lambda r: r["kind"] == "gd" and r["regime"] == "many-views", {"gd_v2": 3.0}),
    ("GD endpoint reaches the minimum value: max relative loss gap",
     lambda r: r["kind"] == "gd" and r["regime"] == "many-dims", {"loss_gap": 0.5}),
])
def test_each_package_check_fails_on_broken_rows(rows, name, where, changes):
    assert _checks(rows)[name].passed, sorted(_checks(rows))
    assert not _checks(_edit(rows, where, **changes))[name].passed


def test_claims_change_status_when_their_effect_is_removed(rows):
    def below(r):
        return r["kind"] in ("sample", "population") and r["regime"] == "many-views" and 0 < r["scl_weight"] < _w_star("many-views")

    kept = _edit(rows, below, min_norm_v1=0.8)
    assert _status(kept, "joint-keeps-both (population) (many-views)") == "reproduced"
    assert _status(kept, "class-kept-iff-above-threshold (many-views)") != "reproduced"
    dropped = _edit(rows, lambda r: r["kind"] == "sample" and r["regime"] == "many-dims" and 0 < r["scl_weight"] < 1, min_norm_v1=0.0)
    assert _status(dropped, "joint-keeps-both (training sets) (many-dims)") == "not-reproduced"
    elsewhere = _edit(rows, lambda r: r["kind"] == "gd" and r["regime"] == "many-views", gram_gap=0.9)
    assert _status(elsewhere, "gd-selects-min-norm (many-views)") == "not-reproduced"


@pytest.mark.parametrize("changes, field", [
    ({"scl_weights": (0.1, 0.5, 1.0)}, "scl_weights"), ({"gd_weights": (0.3,)}, "gd_weights"), ({"p": 2}, "p"),
    ({"many_dims": CollapseConfig(dim=20, num_originals=3000, **MODEL)}, "many_dims"), ({"bracket": 0.0}, "bracket"),
])
def test_config_rejects_bad_values_by_name(changes, field):
    with pytest.raises(ValueError, match=field):
        jl.Config(**changes)
