"""Simulation theorem-4.7-training on a tiny seeded instance: trained bounded codes keep clusters
and lookup tables do not; a code below L* fails the package check, changed trained rows move
the claims."""

import pytest

import simulations.theorem_4_7_training as sim
from clustertheory.analysis.arms import select
from clustertheory.analysis.codes import RealizableComb
from clustertheory.simulation import RunContext
from clustertheory.training import TrainConfig
from helpers import failed, statuses

TINY = sim.Config(dims=(2,), comb=RealizableComb(points_per_cluster=4), seeds=4,
                  train=TrainConfig(steps=300, batch_size=128, num_negatives=16, beta=2.0, lr=0.05))


@pytest.fixture(scope="module")
def rows():
    return sim.run(TINY, RunContext.for_tests())


def test_tiny_run_passes_with_the_measured_facts(rows):
    verdict = sim.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    assert statuses(verdict) == {"bounded-keeps-clusters": "reproduced", "minimal-tables-split": "not-testable"}
    assert all(r["preserving"] for r in select(rows, kind="code", representation="band-limited"))
    assert len(select(rows, kind="code", representation="lookup-untrained")) == TINY.seeds and len(select(rows, kind="code", representation="lookup")) == TINY.seeds
    assert {r["representation"] for r in rows if r["kind"] == "mass"} == {"lookup"}
    import matplotlib.pyplot as plt

    plt.close(sim.plot(rows, TINY))


def test_a_code_below_the_analytic_minimum_fails_the_package_check(rows):
    below = [{**r, "gap": -1e-3} if r["kind"] == "code" and r["representation"] == "lookup-untrained" and r["member"] == 0 else r for r in rows]
    assert any("below the analytic minimum" in n for n in failed(sim.verdict(below, TINY)))


def test_trained_rows_move_the_training_claims(rows):
    lookup_like = [{**r, "min_purity": 0.3 + 0.05 * r["member"]} if r["kind"] == "code" and r["representation"] == "band-limited" else r for r in rows]
    assert statuses(sim.verdict(lookup_like, TINY))["bounded-keeps-clusters"] == "not-reproduced"
    minimal_preserving = [{**r, "gap": 0.0, "preserving": True} if r["kind"] == "code" and r["representation"] == "lookup" else r for r in rows]
    minimal_split = [{**r, "gap": 0.0} if r["kind"] == "code" and r["representation"] == "lookup" else r for r in rows]
    config = TINY.replace(min_minimal_tables=4, minimal_share=0.6)
    assert statuses(sim.verdict(minimal_preserving, config))["minimal-tables-split"] == "not-reproduced"
    assert statuses(sim.verdict(minimal_split, config))["minimal-tables-split"] in ("reproduced", "inconclusive")


def test_a_class_that_is_not_intertwined_makes_the_capacity_claim_not_testable(rows):
    config = TINY.replace(**{"comb.bandwidth": TINY.comb.teeth})
    assert statuses(sim.verdict(rows, config))["bounded-keeps-clusters"] == "not-testable"


@pytest.mark.parametrize(
    "changes,match",
    [({"comb.clusters_per_vertex": 2}, "clusters_per_vertex"), ({"train.lr": 0.0}, "lr"), ({"seeds": 1}, "seeds"),
     ({"minimal_share": 0.2}, "minimal_share"), ({"dims": (5,)}, "dims")],
)
def test_config_is_validated(changes, match):
    with pytest.raises(ValueError, match=match):
        sim.Config().replace(**changes)
