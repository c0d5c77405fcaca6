"""Simulation theorem-4.6 on a tiny seeded instance: learned codes are minimisers, the explicit
and trained ReLU heads are exact on every task, linear heads fail on parity; a broken head,
construction, reference or code changes a check or a claim."""

import pytest

import simulations.theorem_4_6 as sim
from clustertheory.analysis.downstream import HeadConfig
from clustertheory.simulation import RunContext
from clustertheory.training import TrainConfig
from helpers import failed

TINY = sim.Config(dims=(2,), seeds=3, train=TrainConfig(steps=300, batch_size=128, num_negatives=16, beta=2.0, lr=0.05),
                  heads=HeadConfig("relu", restarts=4, steps=200), min_minimisers=2, minimal_share=0.3, null_share=0.1)


@pytest.fixture(scope="module")
def rows():
    return sim.run(TINY, RunContext.for_tests())


def status(rows, name) -> str:
    return sim.verdict(rows, TINY).claim(name).status


def learned(r, member=None) -> bool:
    return r["representation"] == "learned" and (member is None or r["member"] == member)


def test_tiny_run_passes_with_the_measured_facts(rows):
    verdict = sim.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    assert {c.name: c.status for c in verdict.claims} == {"explicit-head-exact": "reproduced", "trained-relu-exact": "reproduced", "linear-fails-parity": "reproduced"}
    task_rows = [r for r in rows if learned(r)]
    assert len(task_rows) == 3 * 14 and all(r["minimiser"] for r in task_rows)
    parity = [r for r in task_rows if r["parity"]]
    assert len(parity) == 3 * 2 and all(r["min_linear_error"] == 0.25 and r["linear_test_error"] > 0 for r in parity)
    assert all(r["linear_test_error"] == 0 for r in task_rows if not r["parity"])
    assert max(r["relu_test_error"] for r in task_rows) == 0.0 and max(r["explicit_error"] for r in task_rows) == 0.0
    assert next(r for r in task_rows if r["member"] == 0)["lp_checked"] == 14
    import matplotlib.pyplot as plt

    plt.close(sim.plot(rows, TINY))


def test_a_broken_explicit_head_fails(rows):
    two_active = [{**r, "explicit_max_active": 2} if learned(r, 0) else r for r in rows]
    assert any("one neuron active" in n for n in failed(sim.verdict(two_active, TINY)))
    erring = [{**r, "explicit_sup_all_tasks": 0.25} if learned(r, 1) else r for r in rows]
    assert status(erring, "explicit-head-exact") == "not-reproduced"


def test_a_linear_head_that_fits_parity_refutes_the_remark_and_fails_the_cross_check(rows):
    fitted = [{**r, "min_linear_error": 0.0} if learned(r) and r["parity"] else r for r in rows]
    assert status(fitted, "linear-fails-parity") == "not-reproduced"
    lucky = [{**r, "linear_test_error": 0.0} if learned(r, 0) and r["parity"] else r for r in rows]
    assert any("trained linear heads" in n for n in failed(sim.verdict(lucky, TINY)))
    disagreeing = [{**r, "lp_disagreements": 1} if learned(r, 0) else r for r in rows]
    assert any("linear programming" in n for n in failed(sim.verdict(disagreeing, TINY)))


def test_trained_relu_heads_that_err_make_the_prediction_fail(rows):
    erring = [{**r, "relu_test_error": 0.25} if learned(r) and r["parity"] else r for r in rows]
    config = TINY.replace(null_share=0.5, minimal_share=0.8)
    assert sim.verdict(rows, config).claim("trained-relu-exact").status == "inconclusive"  # 3 of 3 cannot show 0.8
    assert sim.verdict(erring, config).claim("trained-relu-exact").status == "not-reproduced"


def test_codes_that_are_not_minimisers_make_the_claims_not_testable(rows):
    split = [{**r, "minimiser": False} if learned(r) else r for r in rows]
    assert {c.status for c in sim.verdict(split, TINY).claims} == {"not-testable"}


def test_a_partner_split_that_does_not_split_fails_the_sanity_check(rows):
    merged = [{**r, "bayes_sup_all_tasks": 0.0} if r["representation"] == "partner-split" else r for r in rows]
    assert any("sanity" in n for n in failed(sim.verdict(merged, TINY)))


@pytest.mark.parametrize(
    "changes,match",
    [({"comb.points_per_cluster": 3}, "points_per_cluster"), ({"dims": (5,)}, "dims"), ({"comb.clusters_per_vertex": 2}, "clusters_per_vertex"),
     ({"heads.kind": "linear"}, "heads.kind"), ({"split_fractions": (0.5, 0.5, 0.5)}, "split_fractions"), ({"heads.restarts": 0}, "restarts")],
)
def test_config_is_validated(changes, match):
    with pytest.raises(ValueError, match=match):
        sim.Config().replace(**changes)
