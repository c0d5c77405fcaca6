"""Simulation theorem-4.7 on a tiny seeded instance: the mixing code is a minimiser (exact loss
and Monte Carlo) with Bayes error 1/2; a broken construction or loss value changes a check or
the claim."""

import numpy as np
import pytest

import simulations.theorem_4_7 as sim
from clustertheory.analysis.arms import select
from clustertheory.analysis.codes import RealizableComb, code_summaries, loss_crosscheck
from clustertheory.analysis.downstream import code_bayes_summary, mixing_code, partner_split_code
from clustertheory.simulation import RunContext
from helpers import failed, statuses

TINY = sim.Config(dims=(2,), comb=RealizableComb(points_per_cluster=4), mc_samples=4000)


@pytest.fixture(scope="module")
def rows():
    return sim.run(TINY, RunContext.for_tests())


def code_row(codes, representation: str) -> dict:
    """A "code" row measured as the run measures a construction."""
    data = TINY.comb.dataset(2)
    l, beta = TINY.num_negatives, TINY.beta
    return {"d": 2, "kind": "code", "representation": representation, "member": 0, **code_summaries(codes[None], data, l, beta)[0],
            **code_bayes_summary(codes, data, sim.ROUNDING), **loss_crosscheck(codes, data, l, beta, TINY.mc_samples, seed=5)}


def test_tiny_run_passes_with_the_measured_facts(rows):
    verdict = sim.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    assert statuses(verdict) == {"minimiser-useless": "reproduced"}
    (mixing,) = select(rows, kind="code", representation="mixing")
    (reference,) = select(rows, kind="code", representation="preserving-reference")
    assert abs(mixing["exact_loss"] - reference["exact_loss"]) <= 1e-12 and abs(mixing["gap"]) <= 1e-10
    assert mixing["bayes_balanced_min"] == 0.5 and mixing["alignment_error"] == 0 and not mixing["preserving"]
    assert len([r for r in rows if r["kind"] == "mass"]) == 2 * 16
    import matplotlib.pyplot as plt

    plt.close(sim.plot(rows, TINY))


def test_a_construction_that_splits_clusters_only_in_pairs_does_not_reproduce_the_claim(rows):
    config = TINY.replace(construction="partner-split")
    split = code_row(partner_split_code(TINY.comb.dataset(2), 2), "partner-split")
    verdict = sim.verdict([r for r in rows if r.get("representation") != "mixing"] + [split], config)
    assert verdict.passed
    assert statuses(verdict)["minimiser-useless"] == "not-reproduced"  # clean, uniform, at L*, yet some balanced task is free


def test_a_mixing_code_off_the_minimum_makes_the_claim_not_testable(rows):
    data = TINY.comb.dataset(2)
    codes = mixing_code(data, 2)
    codes[data.content == 0] = codes[np.flatnonzero(data.content == 0)[0]]  # cluster 0 onto one vertex: not uniform
    broken = code_row(codes, "mixing")
    assert broken["gap"] > 1e-3
    verdict = sim.verdict([r for r in rows if r.get("representation") != "mixing"] + [broken], TINY)
    assert statuses(verdict)["minimiser-useless"] == "not-testable"


def test_a_wrong_exact_loss_fails_the_monte_carlo_check(rows):
    def shifted(r):
        shift = 6 * r["loss_mc_se"]
        return {**r, "exact_loss": r["exact_loss"] + shift, "gap": r["gap"] + shift}

    broken = [shifted(r) if r["kind"] == "code" and r["representation"] == "preserving-reference" else r for r in rows]
    names = failed(sim.verdict(broken, TINY))
    assert any("Monte Carlo" in n for n in names) and any("Laplace" in n for n in names) and any("analytic L*" in n for n in names)


@pytest.mark.parametrize(
    "changes,match",
    [({"dims": (3,), "comb.points_per_cluster": 4}, "multiple of 2"), ({"construction": "random"}, "construction"),
     ({"comb.clusters_per_vertex": 2}, "clusters_per_vertex"), ({"beta": 0.0}, "beta"), ({"num_negatives": 0}, "num_negatives")],
)
def test_config_is_validated(changes, match):
    with pytest.raises(ValueError, match=match):
        sim.Config().replace(**changes)
