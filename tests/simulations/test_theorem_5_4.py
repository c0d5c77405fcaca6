"""Theorem 5.4 on tiny agnostic data: the claims reach their statuses from the exact losses, and a
broken row (a wrong loss, a split that does not move the loss, a corollary weight that does not
help, a relabelling that keeps the split) makes a package check fail or a claim change status."""

import matplotlib
import numpy as np
import pytest

import simulations.theorem_5_4 as sim
from clustertheory.simulation import RunContext

matplotlib.use("Agg")

TINY = sim.Config(
    dims=(2,),
    points_per_cluster=4,
    teeth=2,
    leaks=(0.0, 0.05, 0.45),
    moved=(2,),
    negatives=(1, 4, 64),
    betas=(0.5, 1.0, 8.0),
    reference_negatives=(2,),
    reference_betas=(1.0,),
)


@pytest.fixture(scope="module")
def rows():
    return sim.run(TINY, RunContext.for_tests())


def statuses(rows, config=TINY):
    return {c.name: c.status for c in sim.verdict(rows, config).claims}


def changed(rows, keep=lambda r: True, **values):
    return [{**r, **values} if keep(r) else r for r in rows]


def test_tiny_run_passes_and_reaches_the_expected_statuses(rows):
    result = sim.verdict(rows, TINY)
    assert result.passed, result.report()
    assert statuses(rows) == {
        "sufficient-conditions": "reproduced",
        "beta-alone-suffices": "reproduced",
        "more-negatives-help": "not-reproduced",  # beta = 0.5: wins at l = 1 and 4, loses at l = 64
        "corollary-in-cluster": "reproduced",
        "corollary-cross-cluster": "not-testable",
        "free-split-control": "reproduced",
    }


def test_regular_split_wins_at_large_beta_and_the_free_split_never(rows):
    grid = [r for r in rows if r["kind"] == "grid"]
    regular = [r for r in grid if r["leak"] == 0.45]
    assert regular[0]["delta"] >= 0.6 and all(r["delta_loss"] < -0.1 for r in regular if r["beta"] == 8.0)
    free = [r for r in grid if r["leak"] == 0.0]
    assert abs(free[0]["delta_in_cluster"]) < 1e-12 and min(r["delta_loss"] for r in free) > 0


def test_split_summaries_report_the_thresholds(rows):
    summary = {s["leak"]: s for s in rows if s["kind"] == "split"}
    assert summary[0.45]["beta_star"] == 1.0 and summary[0.45]["beta_star_lmin"] == 0.5
    assert summary[0.45]["l_flip_beta_max"] == 0.5
    assert summary[0.0]["beta_star"] is None


def test_wrong_exact_loss_fails_the_reference_check(rows):
    broken = changed(rows, lambda r: r["kind"] == "reference", loss_reference=1.0)
    failed = [c.name for c in sim.verdict(broken, TINY).checks if not c.passed]
    assert failed == ["fast exact loss vs population_infonce multinomial sum (max |diff|)"]


def test_relabelling_that_keeps_the_split_fails_a_check(rows):
    broken = changed(rows, lambda r: r["leak"] == 0.45, relabelled_preserves=False)
    assert not sim.verdict(broken, TINY).passed


def test_split_that_does_not_move_the_loss_is_not_reproduced(rows):
    inert = changed(rows, lambda r: r["kind"] in ("grid", "paper"), delta_loss=0.0, delta_loss_weighted=0.0)
    found = statuses(inert)
    assert found["sufficient-conditions"] == found["beta-alone-suffices"] == "not-reproduced"
    assert found["corollary-in-cluster"] == "not-testable"  # L alone no longer prefers the split anywhere
    assert found["free-split-control"] == "not-reproduced"


def test_more_negatives_help_is_reproduced_when_wins_persist_in_l(rows):
    monotone = [dict(r) for r in rows]
    for r in monotone:
        if r["kind"] == "grid" and r["leak"] == 0.45 and r["beta"] <= 1.0:
            r["delta_loss"] = 0.01 if r["l"] == 1 else -0.01  # losing at l = 1, winning from l = 4 on
    assert statuses(monotone)["more-negatives-help"] == "reproduced"


def test_corollary_weight_that_does_not_help_is_not_reproduced(rows):
    weak = changed(rows, lambda r: r["kind"] == "grid" and r["leak"] == 0.05, delta_loss_weighted=0.02)
    assert statuses(weak)["corollary-in-cluster"] == "not-reproduced"


def test_no_regular_split_makes_the_theorem_not_testable(rows):
    config = TINY.replace(delta_min=5.0)
    assert statuses(rows, config)["sufficient-conditions"] == "not-testable"


def test_plot_builds(rows):
    import matplotlib.pyplot as plt

    figure = sim.plot(rows, TINY)
    assert len(figure.axes) >= 3 and figure.axes[0].images
    plt.close(figure)


def test_config_validation():
    with pytest.raises(ValueError, match="moved"):
        sim.Config(points_per_cluster=4, moved=(4,))
    with pytest.raises(ValueError, match="dims"):
        sim.Config(dims=(1,))
    with pytest.raises(ValueError, match="leaks"):
        sim.Config(leaks=(0.99,), noise=0.02)
    with pytest.raises(ValueError, match="negatives"):
        sim.Config(negatives=(4,))
    assert np.isfinite(sim.SCALES["paper"].minimal_loss_change)
