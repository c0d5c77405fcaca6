"""class-collapse-dynamics on a tiny setting: runs, draws, passes its package checks; every check and claim can fail."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from clustertheory.analysis.min_norm import DescentConfig  # noqa: E402
from clustertheory.data.collapse import CollapseConfig  # noqa: E402
from clustertheory.functions.ensemble import EncoderSettings  # noqa: E402
from clustertheory.simulation import RunContext  # noqa: E402
from clustertheory.training.fitting import FitConfig  # noqa: E402
from simulations import class_collapse_dynamics as cd  # noqa: E402

TINY = cd.Config(
    sweep_data=CollapseConfig(dim=20, num_originals=150, num_augmentations=2),
    descent=DescentConfig(steps=120, lr=0.05, init_scale=0.001), probe_examples=200, seeds=2, class_strengths=(1.0, 2.0), sweep_every=5,
    mlp_data=CollapseConfig(dim=20, num_originals=150, num_augmentations=2, subclass_strength=0.5, subclass_mean=2.0),
    mlp_encoder=EncoderSettings(out_dim=4, width=16, depth=1, init_scale=0.1), mlp_fit=FitConfig(steps=30, lr=1e-2, batch_size=32),
    mlp_checkpoints=(0, 5, 10, 30), min_class_probe=0.85,
)


@pytest.fixture(scope="module")
def rows():
    return cd.run(TINY, RunContext.for_tests())


def _checks(rows):
    return {c.name: c for c in cd.verdict(rows, TINY).checks}


def _status(rows, name):
    return cd.verdict(rows, TINY).claim(name).status


def _edit(rows, where, **changes):
    return [{**r, **changes} if where(r) else r for r in rows]


def test_tiny_run_passes_its_package_checks_and_draws(rows):
    verdict = cd.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    assert {r["kind"] for r in rows} == {"sweep", "mlp"}
    assert {c.status for c in verdict.claims} <= {"reproduced", "not-reproduced", "inconclusive", "not-testable"}
    cd.plot(rows, TINY)


@pytest.mark.parametrize("name, where, changes", [
    ("MLP + SupCon: final / first training loss (max over seeds)", lambda r: r["kind"] == "mlp" and r["step"] == 30, {"train_loss": 1e9}),
    ("MLP + SupCon: final class probe (min over seeds)", lambda r: r["kind"] == "mlp" and r["step"] == 30, {"probe_class": 0.5}),
])
def test_each_package_check_fails_on_broken_rows(rows, name, where, changes):
    assert _checks(rows)[name].passed
    assert not _checks(_edit(rows, where, **changes))[name].passed


def test_claims_turn_not_reproduced_when_their_effect_is_removed(rows):
    swapped = [{**r, "half_v1_step": r["half_v2_step"], "half_v2_step": r["half_v1_step"]} if r["kind"] == "sweep" else r for r in rows]
    assert _status(swapped, "condition-decides-order") == "not-reproduced"
    mlp_flat = _edit(rows, lambda r: r["kind"] == "mlp", probe_subclass=0.7)
    assert _status(mlp_flat, "supcon-mlp-subclass-rises") == "not-reproduced"


@pytest.mark.parametrize("changes, field", [
    ({"class_strengths": (1.0, 1.2)}, "class_strengths"), ({"mlp_checkpoints": (0, 5, 999)}, "mlp_checkpoints"),
    ({"sweep_data": CollapseConfig(dim=400, num_originals=50, num_augmentations=5)}, "sweep_data"),
    ({"seeds": 1}, "seeds"), ({"probe_examples": 5}, "probe_examples"),
])
def test_config_rejects_bad_values_by_name(changes, field):
    with pytest.raises(ValueError, match=field):
        cd.Config(**changes)
