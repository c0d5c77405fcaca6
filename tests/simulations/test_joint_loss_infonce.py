"""joint-loss-infonce on a tiny setting: runs, draws, passes its package check; the check and the claims can fail."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from clustertheory.data.collapse import CollapseConfig  # noqa: E402
from clustertheory.simulation import RunContext  # noqa: E402
from clustertheory.training.fitting import FitConfig  # noqa: E402
from simulations import joint_loss_infonce as ji  # noqa: E402

MODEL = dict(num_features=3, num_augmentations=2, class_strength=0.8, subclass_strength=2.0, irrelevant_strength=1.25, subclass_mean=0.0, noise=5.0)
TINY = ji.Config(nce_data=CollapseConfig(dim=20, num_originals=200, **MODEL), seeds=2, nce_fit=FitConfig(steps=40, lr=1e-2, batch_size=32),
                 probe_examples=200, min_class_probe=0.6)


@pytest.fixture(scope="module")
def rows():
    return ji.run(TINY, RunContext.for_tests())


def _edit(rows, where, **changes):
    return [{**r, **changes} if where(r) else r for r in rows]


def test_tiny_run_passes_its_package_check_and_draws(rows):
    verdict = ji.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    assert {(r["scl_weight"], r["seed"]) for r in rows} == {(w, s) for w in (0.0, 0.5, 1.0) for s in (0, 1)}
    ji.plot(rows, TINY)


def test_the_check_and_the_claims_can_fail(rows):
    name = "SupCon/InfoNCE linear: class probe at w = 0.5 (min over seeds)"
    assert {c.name: c for c in ji.verdict(rows, TINY).checks}[name].passed
    broken = _edit(rows, lambda r: r["kind"] == "nce", probe_class=0.5)
    assert not {c.name: c for c in ji.verdict(broken, TINY).checks}[name].passed
    same = _edit(rows, lambda r: r["kind"] == "nce", probe_subclass=0.9)
    assert ji.verdict(same, TINY).claim("supcon-collapses-subclass").status == "not-reproduced"


@pytest.mark.parametrize("changes, field", [
    ({"nce_weights": (0.0, 1.0)}, "nce_weights"), ({"nce_weights": (0.1, 0.5, 1.0)}, "nce_weights"), ({"seeds": 1}, "seeds"),
    ({"nce_data": CollapseConfig(dim=20, num_originals=200, **{**MODEL, "num_augmentations": 1})}, "nce_data"),
])
def test_config_rejects_bad_values_by_name(changes, field):
    with pytest.raises(ValueError, match=field):
        ji.Config(**changes)
