"""Simulation real-digits: a tiny run, and verdicts whose checks fail and claims change status on broken rows."""

import math

import numpy as np
import pytest

from clustertheory.simulation import RunContext
from clustertheory.training import TrainConfig
from simulations import real_digits as sim

TINY = sim.Config(
    num_images=60, views_per_image=2, seeds=3, bandwidths=(1,), widths=(8,),
    train=TrainConfig(steps=20, batch_size=16, num_negatives=4, beta=2.0, lr=0.05, log_every=20),
    adversary_steps=10, head_tasks=4,
)


@pytest.fixture(scope="module")
def rows():
    return sim.run(TINY, RunContext.for_tests())


def check(verdict, start: str):
    return next(c for c in verdict.checks if c.name.startswith(start))


def edit(rows, kind, change, **where):
    """Rows with ``change`` (a dict, or a function of the row) applied to those of ``kind`` matching ``where``."""
    out = []
    for r in rows:
        if r["kind"] == kind and all(r.get(k) == v for k, v in where.items()):
            r = {**r, **(change(r) if callable(change) else change)}
        out.append(r)
    return out


def test_tiny_run_passes_its_package_checks_and_gives_every_claim_a_status(rows):
    verdict = sim.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    assert [c.name for c in verdict.claims] == [
        "stronger-augmentation-preserves", "lower-capacity-preserves", "delta-predicts-preservation", "relu-head-beats-linear-head",
    ]
    for claim in verdict.claims:
        assert claim.status in ("reproduced", "not-reproduced", "inconclusive", "not-testable")
        assert claim.status == "not-testable" or (math.isfinite(claim.effect) and claim.low <= claim.effect <= claim.high)


def test_rows_cover_every_cell_seed_and_piece(rows):
    counts = {kind: sum(r["kind"] == kind for r in rows) for kind in ("data", "trained", "cell", "class", "dct", "gallery")}
    keys = len(sim.capacities(TINY))
    assert counts == {"data": 3, "trained": 3 * keys * 3, "cell": 3 * keys, "class": keys, "dct": 1, "gallery": 60}
    heads = [r for r in rows if r["kind"] == "trained" and "relu_error" in r]
    assert len(heads) == 3 and {r["capacity"] for r in heads} == {"linear"} and {r["strength"] for r in heads} == {1.0}
    for r in (r for r in rows if r["kind"] == "trained"):
        assert -0.5 <= r["ari"] <= 1 and 0 < r["mean_purity"] <= 1 and 1 <= r["vertices_used"] <= 16


@pytest.mark.parametrize(
    "start,kind,change,where",
    [
        ("augmentations keep the label", "data", {"label_loss": 0.3}, {"strength": 1.0}),  # a kernel that destroys the digit
        ("the strength dial", "data", {"median_displacement": 0.0}, {"strength": 1.0}),  # an inert dial
        ("the DCT class is a function of frequencies <= B only", "dct", {"high_frequency_change": 0.2}, {}),  # a leaking band
        ("the DCT class sees", "dct", {"low_frequency_change": 0.0}, {}),  # a class blind to its band
        ("DCT with every frequency spans", "dct", {"full_band_gap": 0.1}, {}),
        ("nested DCT bands", "dct", {"nesting_violation": 0.05}, {}),
        ("trained ReLU heads reach", "trained", {"relu_train_excess": 0.2}, {"capacity": "linear", "strength": 1.0, "seed_index": 0}),
    ],
)
def test_each_package_check_fails_on_broken_rows(rows, start, kind, change, where):
    assert check(sim.verdict(rows, TINY), start).passed
    broken = sim.verdict(edit(rows, kind, change, **where), TINY)
    assert not check(broken, start).passed
    assert [c.name for c in broken.checks if not c.passed] == [check(broken, start).name]


def _status(rows, name):
    return sim.verdict(rows, TINY).claim(name).status


def _set_ari(rows, values):
    """Rows whose ARI is values[(capacity, strength)] + a small per-seed wobble (so intervals have width)."""
    return [
        {**r, "ari": values[(r["capacity"], r["strength"])] + 0.01 * r["seed_index"]} if r["kind"] == "trained" and (r["capacity"], r["strength"]) in values else r
        for r in rows
    ]


def test_strength_claim_follows_the_measured_effect(rows):
    good = _set_ari(rows, {("linear", 0.0): 0.1, ("linear", 1.0): 0.4})
    bad = _set_ari(rows, {("linear", 0.0): 0.4, ("linear", 1.0): 0.1})
    assert _status(good, "stronger-augmentation-preserves") == "reproduced"
    assert _status(bad, "stronger-augmentation-preserves") == "not-reproduced"
    lost = edit(good, "data", {"label_loss": 0.5}, strength=1.0)
    assert _status(lost, "stronger-augmentation-preserves") == "not-testable"  # the kernel destroyed the label


def test_capacity_claim_needs_the_top_class_to_split_cheaply(rows):
    good = _set_ari(rows, {("linear", 1.0): 0.4, ("mlp-8", 1.0): 0.1})
    good = edit(good, "class", {"delta_adversary": 0.0}, capacity="mlp-8")
    assert _status(good, "lower-capacity-preserves") == "reproduced"
    assert _status(_set_ari(good, {("linear", 1.0): 0.1, ("mlp-8", 1.0): 0.4}), "lower-capacity-preserves") == "not-reproduced"
    regular = edit(edit(good, "class", {"delta_adversary": 1.0}, capacity="mlp-8"), "cell", {"delta_codes": 1.0}, capacity="mlp-8", strength=1.0)
    assert _status(regular, "lower-capacity-preserves") == "not-testable"
    unrealisable = edit(good, "class", {"supervised_ari": 0.0}, capacity="linear")
    assert _status(unrealisable, "lower-capacity-preserves") == "not-testable"


def test_delta_claim_becomes_testable_when_a_class_is_regular(rows):
    irregular = edit(edit(rows, "class", {"delta_adversary": 0.0}), "cell", {"delta_codes": 0.0})
    assert _status(irregular, "delta-predicts-preservation") == "not-testable"
    regular = edit(edit(irregular, "class", {"delta_adversary": 0.9}, capacity="dct-1"), "cell", {"delta_codes": 0.9}, capacity="dct-1", strength=1.0)
    regular = _set_ari(regular, {("dct-1", 1.0): 0.5, ("linear", 1.0): 0.1, ("mlp-8", 1.0): 0.1})
    assert _status(regular, "delta-predicts-preservation") == "reproduced"
    assert _status(_set_ari(regular, {("dct-1", 1.0): 0.0, ("linear", 1.0): 0.5, ("mlp-8", 1.0): 0.5}), "delta-predicts-preservation") == "not-reproduced"


def test_head_claim_follows_the_errors(rows):
    better = edit(rows, "trained", lambda r: {"relu_error": 0.1, "linear_error": 0.3 + 0.01 * r["seed_index"]}, capacity="linear", strength=1.0)
    worse = edit(rows, "trained", lambda r: {"relu_error": 0.3 + 0.01 * r["seed_index"], "linear_error": 0.3}, capacity="linear", strength=1.0)
    assert _status(better, "relu-head-beats-linear-head") == "reproduced"
    assert _status(worse, "relu-head-beats-linear-head") == "not-reproduced"


def test_smallest_split_ratio_of_trained_codes_bounds_the_class_delta(rows):
    for r in (r for r in rows if r["kind"] == "cell"):
        assert r["delta_codes"] >= 0
    zero = [r for r in rows if r["kind"] == "cell" and r["strength"] == 0.0]
    assert all(r["delta_codes"] in (0.0, math.inf) for r in zero)  # copies: a split never disagrees with an augmentation


@pytest.mark.parametrize(
    "changes,field",
    [({"strengths": (1.0, 0.5)}, "strengths"), ({"strengths": (1.0,)}, "strengths"), ({"bandwidths": (7,)}, "bandwidths"), ({"dim": 3}, "dim"),
     ({"seeds": 1}, "seeds"), ({"minimal_ari_gain": 0.0}, "minimal_ari_gain"), ({"num_images": 5000}, "num_images")],
)
def test_config_validation_names_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        sim.Config(**changes)


def test_nested_settings_are_overridable():
    config = sim.Config().replace(**{"augmentation.noise": 0.0, "train.steps": 10})
    assert config.augmentation.noise == 0.0 and config.train.steps == 10


def test_plot_builds(rows):
    import matplotlib.pyplot as plt

    fig = sim.plot(rows, TINY)
    assert len(fig.axes) >= 4 + 16
    plt.close(fig)


def test_capacities_are_ordered_dct_linear_mlp():
    keys = [key for key, _, _ in sim.capacities(sim.Config(bandwidths=(1, 3), widths=(16, 64)))]
    assert keys == ["dct-1", "dct-3", "linear", "mlp-16", "mlp-64"]
    assert np.isfinite(sim.FULL_BAND)
