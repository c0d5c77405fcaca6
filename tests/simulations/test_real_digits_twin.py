"""Simulation real-digits-twin: a tiny run, and a verdict whose check fails and claim changes status on broken rows."""

import math

import pytest

from clustertheory.simulation import RunContext
from clustertheory.training import TrainConfig
from simulations import real_digits_twin as sim

TINY = sim.Config(teeth=(1, 2), bandwidths=(0, 1), seeds=3,
                  train=TrainConfig(steps=20, batch_size=16, num_negatives=4, beta=2.0, lr=0.05, log_every=20))


@pytest.fixture(scope="module")
def rows():
    return sim.run(TINY, RunContext.for_tests())


def edit(rows, kind, change, **where):
    """Rows with ``change`` (a dict, or a function of the row) applied to those of ``kind`` matching ``where``."""
    return [{**r, **(change(r) if callable(change) else change)} if r["kind"] == kind and all(r.get(k) == v for k, v in where.items()) else r
            for r in rows]


def test_tiny_run_passes_its_check_and_covers_every_cell_and_seed(rows):
    verdict = sim.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    assert [c.name for c in verdict.claims] == ["twin-preserves-below-teeth"]
    claim = verdict.claims[0]
    assert claim.status == "not-testable" or (math.isfinite(claim.effect) and claim.low <= claim.effect <= claim.high)
    counts = {kind: sum(r["kind"] == kind for r in rows) for kind in ("twin", "twin-class")}
    assert counts == {"twin": 4 * 3, "twin-class": 4}
    assert {(r["teeth"], r["bandwidth"]) for r in rows if r["kind"] == "twin-class"} == {(1, 0), (1, 1), (2, 0), (2, 1)}


def test_a_wrong_comb_fails_the_check(rows):
    broken = sim.verdict(edit(rows, "twin-class", {"delta": 0.5}, teeth=2, bandwidth=1), TINY)
    assert not broken.passed and "twin setting" in broken.checks[0].name


def test_claim_fails_when_codes_ignore_the_teeth(rows):
    assert sim.verdict(edit(rows, "twin", lambda r: {"preserving": r["bandwidth"] < r["teeth"]}), TINY).claims[0].status == "reproduced"
    assert sim.verdict(edit(rows, "twin", {"preserving": True}), TINY).claims[0].status == "not-reproduced"  # a class that never splits


def test_claim_is_not_testable_without_cells_on_both_sides(rows):
    only_below = [r for r in rows if r["kind"] != "twin" or r["bandwidth"] < r["teeth"]]
    assert sim.verdict(only_below, TINY).claims[0].status == "not-testable"


@pytest.mark.parametrize(
    "changes,field", [({"teeth": (2, 1)}, "teeth"), ({"seeds": 1}, "seeds"), ({"dim": 3}, "dim"), ({"minimal_gap": 0.0}, "minimal_gap")],
)
def test_config_validation_names_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        sim.Config(**changes)


def test_plot_builds(rows):
    import matplotlib.pyplot as plt

    fig = sim.plot(rows, TINY)
    assert len(fig.axes) == 1
    plt.close(fig)
