"""feature-suppression-bits on a tiny setting: runs, draws, passes its package checks; every check and claim can fail."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from clustertheory.data.collapse import CollapseConfig  # noqa: E402
from clustertheory.functions.ensemble import EncoderSettings  # noqa: E402
from clustertheory.simulation import RunContext  # noqa: E402
from clustertheory.training.fitting import FitConfig  # noqa: E402
from simulations import feature_suppression_bits as fb  # noqa: E402

TINY = fb.Config(
    bits_data=CollapseConfig(dim=8, num_features=3, num_originals=300, num_augmentations=2, subclass_strength=0.0, subclass_mean=0.0,
                             irrelevant_strength=0.0, noise=1.0, augmentation_noise=0.5),
    bits_encoder=EncoderSettings(out_dim=8, width=16, depth=1), small_p=2, bits_fit=FitConfig(steps=60, lr=3e-3, batch_size=32), seeds=2,
    probe_examples=200, restored_probe=0.7,
)


@pytest.fixture(scope="module")
def rows():
    return fb.run(TINY, RunContext.for_tests())


def _checks(rows):
    return {c.name: c for c in fb.verdict(rows, TINY).checks}


def _status(rows, name):
    return fb.verdict(rows, TINY).claim(name).status


def _edit(rows, where, **changes):
    return [{**r, **changes} if where(r) else r for r in rows]


def test_tiny_run_passes_its_package_check_and_draws(rows):
    verdict = fb.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    assert len(rows) == len(fb.BIT_ARMS) * TINY.seeds
    fb.plot(rows, TINY)


def test_the_check_fails_on_broken_rows(rows):
    name = "bits: class probe without bits (min over seeds)"
    assert _checks(rows)[name].passed
    assert not _checks(_edit(rows, lambda r: r["kind"] == "bits" and r["mode"] == "none", probe_class=0.5))[name].passed


def test_claims_change_status_when_their_effect_is_removed(rows):
    untouched = _edit(rows, lambda r: r["kind"] == "bits", probe_class=0.99)
    assert _status(untouched, "shared-bits-suppress") == "not-reproduced"


@pytest.mark.parametrize("changes, field", [({"small_p": 40}, "small_p"), ({"seeds": 1}, "seeds")])
def test_config_rejects_bad_values_by_name(changes, field):
    with pytest.raises(ValueError, match=field):
        fb.Config(**changes)
