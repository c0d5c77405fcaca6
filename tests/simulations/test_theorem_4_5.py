"""Simulation theorem-4.5 on a tiny realizable comb: package checks pass and claims are
reproduced, and each check or claim changes when one row is broken."""

import numpy as np
import pytest
import torch

from clustertheory.analysis.codes import code_summary
from clustertheory.analysis.hypercube import vertex_codes
from clustertheory.functions import make_function_class
from clustertheory.simulation import RunContext
from clustertheory.training import TrainConfig
from simulations import theorem_4_5 as sim
from helpers import failed, statuses

TINY = sim.Config(
    dims=(2,), seeds=10, train=TrainConfig(steps=300, batch_size=128, num_negatives=16, beta=2.0, lr=0.05),
    random_codes=8, enumerate_limit=300, crosscheck_codes=2, mc_samples=4000, minimal_share=0.6, min_at_minimum=5,
)


@pytest.fixture(scope="module")
def rows():
    return sim.run(TINY, RunContext.for_tests())


def row_of(codes, data, kind="split-cluster", index=99) -> dict:
    return {"d": 2, "kind": kind, "index": index, **code_summary(codes, data, TINY.train.num_negatives, TINY.train.beta)}


def test_tiny_run_passes_and_reproduces_every_claim(rows):
    verdict = sim.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    assert statuses(verdict) == {"converse": "reproduced", "minimisers-preserve": "reproduced", "training-reaches-minimum": "reproduced"}
    trained = [r for r in rows if r["kind"] == "trained"]
    assert len(trained) == 10 and all(r["minimiser_shape"] and abs(r["gap"]) < 1e-9 for r in trained)
    clean = [r for r in rows if r["kind"] == "clean-assignment"]
    assert len(clean) == 4**4 and sum(r["minimiser_shape"] for r in clean) == 24  # every assignment; 4! bijections
    assert sum("loss_mc" in r for r in rows) == 2 * 4


def test_a_clean_uniform_split_code_at_the_minimum_refutes_the_converse(rows):
    """With B = T the class holds sign(cos T s): coordinate 1 = sign(cos T s), coordinate 2 =
    +1 on clusters 0, 1 and -1 on 2, 3 is clean, uniform, not cluster-preserving and at L*
    (the Theorem 4.7 phenomenon inside a bounded class that is not intertwined)."""
    T = TINY.comb.teeth
    data = TINY.comb.dataset(2)
    weights = np.zeros((1, 4 + 2 * T, 2))
    weights[0, 4 + T - 1, 0] = 1.0  # cos(T s)
    weights[0, :4, 1] = [1.0, 1.0, -1.0, -1.0]
    model = make_function_class("band-limited", data, 2, seeds=[0], bandwidth=T)
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(weights, dtype=torch.float32))
    row = row_of(model.codes()[0].numpy(), data)
    assert row["alignment_error"] == 0.0 and row["uniform"] and not row["preserving"] and abs(row["gap"]) < 1e-9
    verdict = sim.verdict(rows + [row], TINY)
    assert verdict.passed and statuses(verdict)["converse"] == "not-reproduced"


def test_split_trained_codes_make_the_training_claim_inconclusive(rows):
    data = TINY.comb.dataset(2)
    codes = vertex_codes(2)[data.content].copy()
    codes[(data.content == 0) & (np.arange(data.num_views) % 2 == 0)] = vertex_codes(2)[1]  # half of cluster 0 moves
    split = row_of(codes, data, kind="trained")
    assert not split["preserving"] and split["gap"] > 1e-3
    broken = [{**r, **split} if r["kind"] == "trained" and r["index"] < 3 else r for r in rows]
    verdict = sim.verdict(broken, TINY)
    assert statuses(verdict)["training-reaches-minimum"] == "inconclusive"
    assert statuses(verdict)["minimisers-preserve"] == "reproduced"  # the 7 left at L* still preserve


def test_a_wrong_exact_loss_fails_the_independent_cross_checks(rows):
    target = next(r for r in rows if "loss_mc" in r and r["kind"] == "split-cluster")
    shift = 6 * target["loss_mc_se"]  # a wrong loss routine off by 6 Monte Carlo standard errors
    broken = [{**r, "exact_loss": r["exact_loss"] + shift, "gap": r["gap"] + shift} if r is target else r for r in rows]
    names = failed(sim.verdict(broken, TINY))
    assert any("Monte Carlo" in n for n in names) and any("Laplace" in n for n in names)


def test_a_wrong_analytic_minimum_fails_the_identity(rows):
    target = next(r for r in rows if r["minimiser_shape"])
    broken = [{**r, "gap": 1e-3} if r is target else r for r in rows]
    assert any("analytic L*" in n for n in failed(sim.verdict(broken, TINY)))


def test_a_class_that_is_not_intertwined_makes_the_converse_not_testable(rows):
    config = TINY.replace(**{"comb.bandwidth": TINY.comb.teeth})
    assert statuses(sim.verdict(rows, config))["converse"] == "not-testable"


def test_plot_draws_one_panel_per_dimension(rows):
    import matplotlib.pyplot as plt

    fig = sim.plot(rows, TINY)
    assert len(fig.axes) == 1
    plt.close(fig)


@pytest.mark.parametrize(
    "changes,field",
    [({"dims": ()}, "dims"), ({"dims": (0,)}, "dims"), ({"seeds": 0}, "seeds"), ({"comb.bandwidth": -1}, "bandwidth"),
     ({"train.beta": 0.0}, "beta"), ({"gap_tolerance": -1.0}, "gap_tolerance"), ({"minimal_share": 0.2}, "minimal_share")],
)
def test_config_validation_names_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        sim.Config().replace(**changes)
