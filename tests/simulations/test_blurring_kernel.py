"""The blurring-kernel simulation on tiny settings: package checks pass with the package's kernel and
fail with the printed kernel entry; each claim changes status when its rows are broken (the Lemma 18
sum with the printed kernel, a walk that follows the printed entry)."""

import matplotlib
import pytest

from clustertheory.simulation import RunContext
from simulations import blurring_kernel

matplotlib.use("Agg")

TINY = blurring_kernel.Config(
    kernel_dims=(3, 5),
    kernel_samples=20_000,
    lemma_dims=(3, 5),
    lemma_betas=(0.2, 3.0),
    lemma_cs=(1.001, 10.0),
)


def statuses(rows, config=TINY):
    return {c.name: c.status for c in blurring_kernel.verdict(rows, config).claims}


def failed(rows, config=TINY):
    return {c.name for c in blurring_kernel.verdict(rows, config).checks if not c.passed}


@pytest.fixture(scope="module")
def tiny_rows():
    return blurring_kernel.run(TINY, RunContext.for_tests())


def test_tiny_run_passes_and_reaches_the_expected_statuses(tiny_rows):
    result = blurring_kernel.verdict(tiny_rows, TINY)
    assert result.passed, result.report()
    assert statuses(tiny_rows) == {"printed-kernel-entry": "not-reproduced", "lemma-18-negative": "not-reproduced"}
    assert {r["kind"] for r in tiny_rows} == {"kernel", "lemma18"}


@pytest.mark.parametrize("variant", ["paper", "paper-remainder"])
def test_printed_kernel_entry_fails_the_package_and_untests_lemma_18(variant):
    config = TINY.replace(kernel=variant)
    rows = blurring_kernel.run(config, RunContext.for_tests())
    assert {"kernel vs simulated bit-flip walkers (max |z|)",
            "Binomial(d, 1/2) is stationary for the kernel (max |pi K - pi|)"} <= failed(rows, config)
    assert statuses(rows, config)["lemma-18-negative"] == "not-testable"


def test_lemma_18_sum_of_the_printed_kernel_would_reproduce_the_lemma(tiny_rows):
    printed = [{**r, "lemma18_relative": r["lemma18_relative_printed"]} if r["kind"] == "lemma18" else r for r in tiny_rows]
    assert statuses(printed)["lemma-18-negative"] == "reproduced"


def test_printed_entry_would_be_reproduced_by_a_walk_that_follows_it(tiny_rows):
    followed = [{**r, "plus2_count": round(r["plus2_printed"] * r["samples"])} if r["kind"] == "kernel" else r for r in tiny_rows]
    assert statuses(followed)["printed-kernel-entry"] == "reproduced"


def test_plot_builds_a_figure(tiny_rows):
    import matplotlib.pyplot as plt

    figure = blurring_kernel.plot(tiny_rows, TINY)
    assert len(figure.axes) == 2
    plt.close(figure)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"kernel": "printed"}, "kernel"),
        ({"kernel_dims": (1,)}, "kernel_dims"),
        ({"lemma_cs": (0.5,)}, "lemma_cs"),
        ({"kernel_samples": 10}, "kernel_samples"),
        ({"kernel_claim_h": 9}, "kernel_claim_h"),
    ],
)
def test_config_validation(change, match):
    with pytest.raises(ValueError, match=match):
        blurring_kernel.Config(**change)


def test_scales_are_valid():
    assert set(blurring_kernel.SCALES) >= {"default", "paper"}
    assert max(blurring_kernel.SCALES["paper"].kernel_dims) > max(blurring_kernel.SCALES["default"].kernel_dims)
