"""Theorem 4.6 on a tiny seeded instance: the learned code preserves clusters, the ReLU head and
the explicit construction are perfect on every task, linear heads fail on XOR/XNOR, split codes
fail; a broken head, a broken construction or a split learned code make the verdict FAIL."""

import matplotlib
import pytest

import simulations.theorem_4_6 as sim
from clustertheory.simulation import RunContext

matplotlib.use("Agg")

TINY = sim.Config(dims=(2,), seeds=2, steps=300, head_steps=200, head_restarts=4)


def failed(verdict) -> set[str]:
    return {c.name.split(",")[0] for c in verdict.checks if not c.passed}


@pytest.fixture(scope="module")
def rows():
    return sim.run(TINY, RunContext.for_tests())


def test_tiny_run_passes_with_the_measured_facts(rows):
    verdict = sim.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    learned = [r for r in rows if r["representation"] == "learned"]
    assert len(learned) == 2 * 14 and all(r["preserving"] for r in learned)
    assert max(r["relu_test_error"] for r in learned) == 0.0
    assert max(r["explicit_error"] for r in learned) == 0.0
    parity = [r for r in learned if r["parity"]]
    for member in (0, 1):  # XOR and XNOR of the member's own cluster -> vertex assignment
        tasks = [r["task"] for r in parity if r["member"] == member]
        assert len(tasks) == 2 and tasks[0] == tasks[1].translate(str.maketrans("+-", "-+"))
        assert tasks[0] in ("+--+", "-++-", "++--", "--++", "+-+-", "-+-+")
    assert all(r["linear_test_error"] > 0 and r["min_linear_error"] == 0.25 for r in parity)
    assert all(r["linear_test_error"] == 0 for r in learned if not r["parity"])
    split = [r for r in rows if r["representation"] == "partner-split"]
    assert max(r["bayes_error"] for r in split) == 0.5 and max(r["relu_test_error"] for r in split) > 0
    figure = sim.plot(rows, TINY)
    assert len(figure.axes) == 3


def test_broken_heads_fail_the_verdict():
    config = TINY.replace(relu_width=1, explicit_bias_shift=-2.0, seeds=1)
    verdict = sim.verdict(sim.run(config, RunContext.for_tests()), config)
    assert not verdict.passed
    assert {"ReLU head (2^d neurons)", "explicit construction"} <= failed(verdict)


def test_a_split_learned_code_fails_the_verdict():
    config = TINY.replace(learned_class="lookup", seeds=1, steps=100)
    verdict = sim.verdict(sim.run(config, RunContext.for_tests()), config)
    assert "learned codes cluster-preserving and uniform" in failed(verdict)


def test_config_is_validated():
    with pytest.raises(ValueError, match="points_per_cluster"):
        sim.Config(points_per_cluster=3)
    with pytest.raises(ValueError, match="dims"):
        sim.Config(dims=(4,))
    with pytest.raises(ValueError, match="learned_class"):
        sim.Config(learned_class="mlp")
