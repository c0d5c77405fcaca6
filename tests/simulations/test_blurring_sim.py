"""The blurring simulation on tiny settings: package checks pass with the package's kernel and loss
and fail with the printed kernel entry (propagated distance laws) or a wrong loss; each claim
changes status when its rows are broken (a raising step where none should be, a search that finds
nothing). The kernel and Lemma 18 are tested in test_blurring_kernel.py."""

import matplotlib
import pytest

from clustertheory.analysis import blurring as bl
from clustertheory.simulation import RunContext
from simulations import blurring

matplotlib.use("Agg")

TINY = blurring.Config(
    chain_dims=(4,),
    chain_negatives=(1,),
    chain_betas=(0.2, 3.0),
    chain_steps=5,
    mc_samples=5_000,
    fd_dims=(4,),
    fd_betas=(0.3,),
    threshold_dims=(4, 6),
    threshold_negatives=(1,),
    search_dims=(4,),
    search_negatives=(1,),
    search_betas=(0.2, 1.0, 3.0),
    search_steps=8,
    search_restarts=1,
)
# what the kernel variants change is cheap; keep the rest minimal there
KERNEL_ONLY = TINY.replace(search_betas=(0.2, 3.0), chain_betas=(3.0,), threshold_dims=(4,))


def statuses(rows, config=TINY):
    return {c.name: c.status for c in blurring.verdict(rows, config).claims}


def failed(rows, config=TINY):
    return {c.name for c in blurring.verdict(rows, config).checks if not c.passed}


def changed(rows, kind, select, **values):
    return [{**r, **values} if r["kind"] == kind and select(r) else r for r in rows]


@pytest.fixture(scope="module")
def tiny_rows():
    return blurring.run(TINY, RunContext.for_tests())


def test_tiny_run_passes_and_reaches_the_expected_statuses(tiny_rows):
    result = blurring.verdict(tiny_rows, TINY)
    assert result.passed, result.report()
    assert statuses(tiny_rows) == {
        "blurring-lowers-inside": "reproduced",
        "raises-below-threshold": "reproduced",
        "lowers-above-threshold": "reproduced",
        "threshold-below-log-d": "reproduced",
    }
    search = {r["beta"]: r for r in tiny_rows if r["kind"] == "search"}
    assert search[0.2]["relative_curvature"] < 0 and search[0.2]["tilt_increase"] > 1e-6
    assert search[3.0]["inside"] and search[3.0]["search_increase_exact"] < 0


@pytest.mark.parametrize("variant", ["paper", "paper-remainder"])
def test_printed_kernel_entry_fails_the_propagation_check(variant):
    config = KERNEL_ONLY.replace(kernel=variant)
    rows = blurring.run(config, RunContext.for_tests())
    assert failed(rows, config) == {"distance law of D_t vs that of D_0 times K^t (max |diff|)"}


def test_wrong_loss_computation_fails_the_package(monkeypatch):
    """A loss computed with exp(-beta h) instead of exp(-2 beta h) must be caught."""
    exact = bl.reduced_loss
    monkeypatch.setattr(bl, "reduced_loss", lambda law, l, beta, method="auto": exact(law, l, beta / 2, method))
    rows = blurring.run(KERNEL_ONLY, RunContext.for_tests())
    assert {"exact Ltilde vs Monte Carlo along the chains (max |z|)", "Ltilde(uniform) vs the closed-form minimum (max rel. error)",
            "curvature formula vs second difference of Ltilde (max |diff| / max_k |c_k|)"} <= failed(rows, KERNEL_ONLY)


def test_a_raising_step_changes_the_blurring_claims(tiny_rows):
    inside = changed(tiny_rows, "search", lambda r: r["beta"] == 3.0, tilt_increase=1e-6)
    assert statuses(inside)["blurring-lowers-inside"] == "not-reproduced"
    outside = changed(tiny_rows, "search", lambda r: r["beta"] == 1.0, tilt_increase=1e-6)
    assert statuses(outside)["lowers-above-threshold"] == "not-reproduced"
    flat = changed(tiny_rows, "search", lambda r: r["beta"] == 0.2, tilt_increase=-1e-6, search_increase_exact=-1e-6)
    flat = changed(flat, "chain", lambda r: r["beta"] == 0.2, increase=-1e-6)
    found = statuses(flat)
    assert found["raises-below-threshold"] == "not-reproduced"
    assert found["blurring-lowers-inside"] == "not-testable"  # the search no longer shows it can find a raising step


def test_wrong_curvature_and_search_fail_checks(tiny_rows):
    bent = [{**r, "curvature": 1.1 * r["curvature"]} if r["kind"] == "curvature" else r for r in tiny_rows]
    assert "curvature formula vs second difference of Ltilde (max |diff| / max_k |c_k|)" in failed(bent)
    off = changed(tiny_rows, "search", lambda r: r["beta"] == 3.0, search_increase=0.5)
    assert "search's loss change vs the exact one on the laws it reports (max |diff|)" in failed(off)


def test_plot_builds_a_figure(tiny_rows):
    import matplotlib.pyplot as plt

    figure = blurring.plot(tiny_rows, TINY)
    assert len(figure.axes) == 4
    plt.close(figure)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"kernel": "printed"}, "kernel"),
        ({"chain_dims": (1,)}, "chain_dims"),
        ({"search_betas": ()}, "search_betas"),
        ({"minimal_increase": 0.0}, "minimal_increase"),
        ({"mc_samples": 10}, "mc_samples"),
        ({"threshold_dims": (41,)}, "threshold_dims"),
    ],
)
def test_config_validation(change, match):
    with pytest.raises(ValueError, match=match):
        blurring.Config(**change)


def test_scales_are_valid():
    assert set(blurring.SCALES) >= {"default", "paper"}
    assert max(blurring.SCALES["paper"].search_dims) > max(blurring.SCALES["default"].search_dims)
