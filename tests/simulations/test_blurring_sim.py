"""The blurring simulation on tiny settings: it passes with the package's kernel and loss, and
fails when fed the printed kernel entry or a wrong loss computation."""

import matplotlib
import pytest

import simulations.blurring as blurring
from clustertheory.simulation import RunContext

matplotlib.use("Agg")

TINY = blurring.Config(
    chain_dims=(4,),
    chain_negatives=(1,),
    chain_betas=(0.2, 3.0),
    chain_steps=4,
    mc_samples=20_000,
    kernel_dims=(3, 5),
    kernel_samples=20_000,
    lemma_dims=(3, 5),
    lemma_betas=(0.2, 3.0),
    lemma_cs=(1.001, 10.0),
    search_dims=(4,),
    search_negatives=(1,),
    search_betas=(0.2, 3.0),
    search_steps=8,
    search_restarts=1,
    threshold_dims=(4,),
    threshold_negatives=(1,),
)
# what the kernel variants change is cheap; keep the search minimal there
KERNEL_ONLY = TINY.replace(search_dims=(2,), search_betas=(3.0,), chain_betas=(3.0,))


def failed(verdict) -> set[str]:
    return {c.name for c in verdict.checks if not c.passed}


@pytest.fixture(scope="module")
def tiny_rows():
    return blurring.run(TINY, RunContext.for_tests())


def test_tiny_run_passes_and_finds_the_small_beta_violation(tiny_rows):
    verdict = blurring.verdict(tiny_rows, TINY)
    assert verdict.passed, verdict.report()
    search = {r["beta"]: r for r in tiny_rows if r["kind"] == "search"}
    assert search[0.2]["violation"] and search[0.2]["min_curvature"] < 0
    assert not search[3.0]["violation"] and search[3.0]["confirmed_increase"] < 0
    lemma = [r for r in tiny_rows if r["kind"] == "lemma18"]
    assert all(r["lemma18_sum_printed_kernel"] < 0 for r in lemma)
    threshold = next(r for r in tiny_rows if r["kind"] == "threshold")
    assert 0.2 < threshold["beta_star"] < 3.0


@pytest.mark.parametrize("variant", ["paper", "paper-remainder"])
def test_printed_kernel_entry_fails_the_verdict(variant):
    config = KERNEL_ONLY.replace(kernel=variant)
    verdict = blurring.verdict(blurring.run(config, RunContext.for_tests()), config)
    assert not verdict.passed
    assert "kernel agrees with simulated bit-flip walkers (max |z|)" in failed(verdict)
    assert "distance law of D_t = distance law of D_0 times K^t" in failed(verdict)
    assert "Lemma 18 sum sum_k C(d,k) Delta_C(k) (max |sum| / scale)" in failed(verdict)


def test_wrong_loss_computation_fails_the_verdict(monkeypatch):
    """A loss computed with exp(-beta h) instead of exp(-2 beta h) must be caught."""
    exact = blurring.reduced_loss
    monkeypatch.setattr(blurring, "reduced_loss", lambda law, l, beta, method="auto": exact(law, l, beta / 2, method))
    verdict = blurring.verdict(blurring.run(KERNEL_ONLY, RunContext.for_tests()), KERNEL_ONLY)
    assert not verdict.passed
    assert "exact Ltilde agrees with Monte Carlo (max |z|)" in failed(verdict)
    assert "Ltilde(uniform) equals the closed-form minimum (max rel. error)" in failed(verdict)


def test_verdict_fails_on_an_unexpected_violation(tiny_rows):
    """A raising step reported where every curvature is positive contradicts the package's claim."""
    rows = [dict(r) for r in tiny_rows]
    for r in rows:
        if r["kind"] == "search" and r["beta"] == 3.0:
            r["confirmed_increase"], r["violation"] = 1e-6, True
    assert "steps raising Ltilde where every curvature at u is > 0" in failed(blurring.verdict(rows, TINY))


def test_plot_builds_a_figure(tiny_rows):
    import matplotlib.pyplot as plt

    figure = blurring.plot(tiny_rows, TINY)
    assert len(figure.axes) == 6
    plt.close(figure)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"kernel": "printed"}, "kernel"),
        ({"chain_dims": (1,)}, "chain_dims"),
        ({"search_betas": ()}, "search_betas"),
        ({"lemma_cs": (0.5,)}, "lemma_cs"),
        ({"tolerance": 0.0}, "tolerance"),
        ({"mc_samples": 10}, "mc_samples"),
    ],
)
def test_config_validation(change, match):
    with pytest.raises(ValueError, match=match):
        blurring.Config(**change)


def test_scales_are_valid():
    assert set(blurring.SCALES) >= {"default", "paper"}
    assert max(blurring.SCALES["paper"].search_dims) == 10
