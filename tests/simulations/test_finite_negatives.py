"""Simulation finite-negatives on a tiny grid: package checks pass, and each check or claim
changes when one row is broken."""

import pytest

from clustertheory.simulation import RunContext
from clustertheory.training import TrainConfig
from clustertheory.verdict import STATUSES
from simulations import finite_negatives as sim
from helpers import failed

TINY = sim.Config(
    d=2, negatives_grid=(1, 8), small_batch_negatives=(1,), betas=(1.0, 5.0), exact_negatives=(1, 8, 64), seeds=4,
    train=TrainConfig(steps=300, batch_size=32, lr=0.05), rate_pairs=4000, crosscheck_samples=4000, small_l=1,
)


@pytest.fixture(scope="module")
def rows():
    return sim.run(TINY, RunContext.for_tests())


def status(rows, name, config=TINY) -> str:
    return sim.verdict(rows, config).claim(name).status


def trained(r, mode=None) -> bool:
    return r["kind"] == "trained" and (mode is None or r["mode"] == mode)


def test_tiny_run_passes_with_every_row_kind(rows):
    verdict = sim.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    assert verdict.claim("same-minimiser-every-l").status == "reproduced"
    assert all(c.status in STATUSES for c in verdict.claims) and len(verdict.claims) == 5
    counts = {kind: sum(r["kind"] == kind for r in rows) for kind in ("exact", "rates", "trained")}
    assert counts == {"exact": 3 * 2, "rates": 2 + 1 + 1, "trained": (2 + 1 + 1) * 2 * 4}
    assert {r["batch_size"] for r in rows if trained(r) and r["mode"] != "iid"} == {2}
    assert sum("loss_mc" in r for r in rows) == 2 * 2  # member 0 of every i.i.d. cell
    import matplotlib.pyplot as plt

    plt.close(sim.plot(rows, TINY))


def test_a_code_at_the_minimum_that_is_not_preserving_fails(rows):
    target = next(r for r in rows if trained(r) and r["minimiser_shape"])
    broken = [{**r, "minimiser_shape": False} if r is target else r for r in rows]
    assert any("iff" in n for n in failed(sim.verdict(broken, TINY)))


def test_negatives_that_avoid_the_anchor_cluster_fail_the_rate_check(rows):
    broken = [{**r, "same_cluster_rate": 0.0} if r["kind"] == "rates" and r["l"] == 8 else r for r in rows]
    names = failed(sim.verdict(broken, TINY))
    assert len(names) == 1 and "same-cluster" in names[0]


def test_a_wrong_exact_loss_fails_the_monte_carlo_check(rows):
    target = next(r for r in rows if "loss_mc" in r)
    shift = 6 * target["loss_mc_se"]
    broken = [{**r, "exact_loss": r["exact_loss"] + shift} if r is target else r for r in rows]
    names = failed(sim.verdict(broken, TINY))
    assert any("Monte Carlo" in n for n in names) and any("Laplace" in n for n in names)


def test_a_non_uniform_law_at_the_minimum_refutes_the_exact_claim(rows):
    broken = [{**r, "min_nonuniform_gap": 0.0} if r["kind"] == "exact" and r["l"] == 8 else r for r in rows]
    assert status(broken, "same-minimiser-every-l") == "not-reproduced"
    assert status(rows, "same-minimiser-every-l", TINY.replace(enumerate_limit=10)) == "not-testable"


def test_training_predictions_follow_the_trained_rows(rows):
    def with_success(keep, success: bool):
        return [{**r, "minimiser_shape": success, "gap": 0.0 if success else 0.1} if trained(r) and keep(r) else r for r in rows]

    assert status(with_success(lambda r: r["mode"] == "iid", True), "large-beta-hurts") == "not-reproduced"
    assert status(with_success(lambda r: r["mode"] == "iid", False), "iid-reaches-minimum") == "not-reproduced"
    assert status(with_success(lambda r: r["mode"] != "in-batch", True), "batch-size-matters") == "not-reproduced"
    in_batch_fails = [{**r, "minimiser_shape": r["mode"] == "iid-small-batch", "gap": 0.0 if r["mode"] == "iid-small-batch" else 0.1}
                      if trained(r) and r["mode"] != "iid" else r for r in rows]
    assert status(in_batch_fails, "in-batch-like-iid") == "not-reproduced"


def test_seed_shares_count_cells_per_member():
    rows = [{"kind": "trained", "mode": "iid", "l": l, "beta": 1.0, "member": s, "minimiser_shape": s == 0 or l == 1, "gap": 0.0}
            for l in (1, 2) for s in range(2)]
    config = TINY.replace(seeds=2)
    assert sim.seed_shares(rows, "iid", lambda l, b: True, config).tolist() == [1.0, 0.5]
    assert sim.seed_shares(rows, "iid", lambda l, b: l == 2, config).tolist() == [1.0, 0.0]


@pytest.mark.parametrize(
    "changes,field",
    [({"d": 0}, "d"), ({"negatives_grid": (0,)}, "negatives_grid"), ({"betas": (-1.0,)}, "betas"), ({"seeds": 1}, "seeds"),
     ({"betas": (0.5, 1.0)}, "claim_max_beta"), ({"small_l": 0}, "small_l"), ({"train.lr": -1.0}, "lr")],
)
def test_config_validation_names_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        sim.Config().replace(**changes)
