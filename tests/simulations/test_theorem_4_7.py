"""Theorem 4.7 on a tiny seeded instance: the mixing code has the exact loss of the
cluster-preserving minimiser and Bayes error 1/2 on balanced tasks; trained lookup tables split
clusters, the bounded class does not; other constructions or relabelled rows make it FAIL."""

import matplotlib
import pytest

import simulations.theorem_4_7 as sim
from clustertheory.simulation import RunContext

matplotlib.use("Agg")

TINY = sim.Config(dims=(2,), points_per_cluster=4, seeds=2, steps=300, head_steps=150, head_restarts=2)


def failed(verdict) -> set[str]:
    return {c.name for c in verdict.checks if not c.passed}


@pytest.fixture(scope="module")
def rows():
    return sim.run(TINY, RunContext.for_tests())


def _code(rows, representation):
    return [r for r in rows if r.get("kind") == "code" and r["representation"] == representation]


def test_tiny_run_passes_with_the_measured_facts(rows):
    verdict = sim.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    (mixing,), (reference,) = _code(rows, "mixing"), _code(rows, "preserving-reference")
    assert abs(mixing["loss"] - reference["loss"]) <= 1e-12
    assert abs(mixing["loss_excess"]) <= 1e-10
    assert mixing["bayes_balanced_min"] == 0.5 and mixing["bayes_sup"] == 0.5
    assert mixing["alignment_error"] == 0 and mixing["tv_uniform"] == 0 and not mixing["preserving"]
    assert reference["bayes_sup"] == 0
    assert all(not r["preserving"] for r in _code(rows, "lookup"))
    assert all(r["preserving"] for r in _code(rows, "band-limited"))
    figure = sim.plot(rows, TINY)
    assert len(figure.axes) >= 6


def test_a_construction_that_keeps_clusters_apart_fails():
    config = TINY.replace(construction="partner-split", seeds=1, steps=50)
    verdict = sim.verdict(sim.run(config, RunContext.for_tests()), config)
    names = failed(verdict)
    assert any("least Bayes error" in n for n in names)
    assert any("every vertex holds" in n for n in names)


def test_lookup_tables_that_never_split_fail_the_verdict(rows):
    relabelled = [{**r, "preserving": True} if r.get("representation") == "lookup" else r for r in rows]
    assert "unrestricted lookup tables (random init) that split clusters" in failed(sim.verdict(relabelled, TINY))


def test_config_is_validated():
    with pytest.raises(ValueError, match="multiple of 2"):
        sim.Config(dims=(3,), points_per_cluster=4)
    with pytest.raises(ValueError, match="construction"):
        sim.Config(construction="random")
