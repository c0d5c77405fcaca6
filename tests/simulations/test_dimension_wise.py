"""The dimension-wise simulation on a tiny setting: package checks pass on a real run and each can
fail; an inert regulariser or a missing rank deficit makes the claims not-testable."""

import numpy as np
import pytest
import torch

import simulations.dimension_wise as dw
from clustertheory.data import SentenceSettings
from clustertheory.functions import EncoderSettings
from clustertheory.simulation import RunContext
from clustertheory.training.fitting import FitConfig
from helpers import doctored

TINY = dw.Config(
    data=SentenceSettings(content_dim=4, style_dim=4, train_sentences=128, probe_sentences=48),
    encoder=EncoderSettings(out_dim=8, width=16, depth=2, dropout=0.1, layer_norm=True),
    batch_sizes=(4, 16), seeds=2, train=FitConfig(steps=6, lr=1e-3, batch_size=16),
)


@pytest.fixture(scope="module")
def rows():
    return dw.run(TINY, RunContext.for_tests())


def test_tiny_run_passes_the_package_checks_and_has_every_row(rows):
    verdict = dw.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    finals = [r for r in rows if r["kind"] == "final"]
    assert len(finals) == len(TINY.batch_sizes) * len(dw.METHODS) * TINY.seeds
    assert len([r for r in rows if r["kind"] == "spectrum"]) == len(finals) * TINY.encoder.out_dim
    assert all(r["weight"] == 0 for r in finals if r["method"] == "infonce")
    assert all(r["weight"] > 0 and abs(r["start_share"] - TINY.gradient_share) < 1e-6 for r in finals if r["method"] != "infonce")


def test_every_package_check_can_fail(rows):
    below_bound = doctored(rows, lambda r: r.update(identity_gap=r["identity_gap_bound"] - 1.0), kind="final", batch_size=4)
    assert not dw.verdict(below_bound, TINY).checks[0].passed  # impossible with rank C <= B - 1
    miscalibrated = doctored(rows, lambda r: r.update(start_share=0.05), kind="final", method="barlow")
    assert not dw.verdict(miscalibrated, TINY).checks[1].passed


def test_claims_follow_the_measured_effects(rows):
    def regime(r):  # a clear rank deficit at the small batch, and active regularisers
        if r["method"] == "infonce":
            r["effective_rank"] = 5.0 if r["batch_size"] == 4 else 7.0
        else:
            r["end_share"] = 0.3

    base = doctored(rows, regime, kind="final")
    rank = {(r["seed"], r["batch_size"]): r["effective_rank"] for r in base if r["kind"] == "final" and r["method"] == "infonce"}
    helped = doctored(base, lambda r: r.update(effective_rank=rank[(r["seed"], 4)] + 2.0), kind="final", method="dimension-wise", batch_size=4)
    assert dw.verdict(helped, TINY).claim("dimension-wise-raises-rank").status == "reproduced"
    hurt = doctored(base, lambda r: r.update(effective_rank=rank[(r["seed"], 4)] - 2.0), kind="final", method="dimension-wise", batch_size=4)
    assert dw.verdict(hurt, TINY).claim("dimension-wise-raises-rank").status == "not-reproduced"
    inert = doctored(helped, lambda r: r.update(end_share=0.0), kind="final", method="dimension-wise")
    assert dw.verdict(inert, TINY).claim("dimension-wise-raises-rank").status == "not-testable"  # an inert regulariser
    no_deficit = doctored(helped, lambda r: r.update(effective_rank=6.0), kind="final", method="infonce")
    assert dw.verdict(no_deficit, TINY).claim("dimension-wise-raises-rank").status == "not-testable"


def test_barlow_weight_is_scaled_to_d_and_batch_statistics_respect_the_rank_bound():
    assert dw.Config().barlow_offdiag == pytest.approx(5e-3 * 8191 / 31)
    from clustertheory.losses import cross_correlation

    c = cross_correlation(torch.randn(3, 5, 8), torch.randn(3, 5, 8)).numpy()
    assert all(np.linalg.matrix_rank(m, tol=1e-6) <= 4 and np.square(m - np.eye(8)).sum() >= 8 - 4 - 1e-6 for m in c)


def test_plot_builds(rows):
    import matplotlib.pyplot as plt

    figure = dw.plot(rows, TINY)
    assert len(figure.axes) == 4
    plt.close(figure)


@pytest.mark.parametrize("change, match", [
    ({"batch_sizes": (8, 16)}, "batch_sizes"),
    ({"batch_sizes": (7, 64)}, "divide"),
    ({"encoder": EncoderSettings(out_dim=64, depth=2, dropout=0.1)}, "latent dimension"),
    ({"encoder": EncoderSettings(out_dim=32, depth=2, dropout=0.0)}, "dropout > 0"),
    ({"gradient_share": 1.0}, "gradient_share"),
    ({"train": FitConfig(steps=100, lr=1e-3, batch_size=32)}, "train.batch_size"),
])
def test_config_validation(change, match):
    with pytest.raises(ValueError, match=match):
        dw.Config(**change)
    assert dw.SCALES["paper"].seeds > dw.SCALES["default"].seeds >= 10
