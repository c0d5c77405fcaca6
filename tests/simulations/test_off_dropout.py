"""The off-dropout simulation on a tiny setting: its package checks pass on a real run and each
can fail (doctored rows, a broken dropout-off pass); the claims follow the measured effects and
become not-testable outside their regime."""

import pytest
import torch
from helpers import doctored

import simulations.off_dropout as od
from clustertheory.analysis import sentences
from clustertheory.data import SentenceSettings
from clustertheory.functions import EncoderSettings, EnsembleMLP
from clustertheory.losses import off_dropout
from clustertheory.simulation import RunContext
from clustertheory.training.fitting import FitConfig

TINY = od.Config(
    data=SentenceSettings(train_sentences=128, probe_sentences=48), encoder=EncoderSettings(out_dim=8, width=16, depth=2, dropout=0.1, layer_norm=True), seeds=2, noise_draws=4, sts_sentences=24,
    pretrain=FitConfig(steps=15, lr=3e-3, batch_size=16), train=FitConfig(steps=6, lr=1e-3, batch_size=16), checkpoints=(3, 6),
)


@pytest.fixture(scope="module")
def rows():
    return od.run(TINY, RunContext.for_tests())


def check(verdict, start):
    return next(c for c in verdict.checks if c.name.startswith(start))


def test_tiny_run_passes_the_package_checks_and_has_every_row(rows):
    verdict = od.verdict(rows, TINY)
    assert verdict.passed, verdict.report()
    arms = od.arm_names(TINY)
    assert len([r for r in rows if r["kind"] == "final"]) == len(arms) * TINY.seeds
    assert len([r for r in rows if r["kind"] == "noise"]) == 2 * len(od.MEASURED) * len(TINY.checkpoints) * TINY.seeds
    assert {c.name for c in verdict.claims} >= {"noise-to-signal", "off-dropout-content-sts", "less-noisy-negatives-content-sts"}


@pytest.mark.parametrize("measured, key, value, start", [
    ("off-dropout", "neg_sim_variance", 1e-3, "off-dropout negatives carry no dropout noise"),
    ("simcse", "neg_sim_variance", 0.0, "SimCSE negatives carry dropout noise"),
    ("averaged-dropout", "neg_embedding_variance", 1.0, "the control averages independent passes"),
    ("simcse", "signal", -1.0, "the gradient signal is resolved"),
])
def test_every_package_check_can_fail(rows, measured, key, value, start):
    broken = doctored(rows, lambda r: r.update({key: value}), kind="noise", measured=measured)
    assert not check(od.verdict(broken, TINY), start).passed


def test_a_dropout_off_pass_with_dropout_on_is_caught(monkeypatch):
    encoder = EnsembleMLP(TINY.data.obs_dim, 8, [0, 1], width=16, dropout=0.2, layer_norm=True)
    x = torch.randn(2, 6, TINY.data.obs_dim)
    options = {"temperature": TINY.temperature, "passes": TINY.average_passes}
    assert all(r["neg_sim_variance"] == 0 for r in sentences.dropout_gradient_noise("off-dropout", encoder, x, TINY.noise_draws, **options))
    real = off_dropout.negative_views  # called by losses.dropout_arm_loss, which the noise measurement uses
    monkeypatch.setattr(off_dropout, "negative_views", lambda kind, enc, inputs, passes: real("averaged-dropout" if kind == "off-dropout" else kind, enc, inputs, passes=passes))
    assert all(r["neg_sim_variance"] > 0 for r in sentences.dropout_gradient_noise("off-dropout", encoder, x, TINY.noise_draws, **options))


def test_claims_follow_the_measured_effects(rows):
    def with_gain(delta):
        simcse = {r["seed"]: r["content_spearman"] for r in rows if r["kind"] == "final" and r["loss"] == "simcse"}
        return doctored(rows, lambda r: r.update(content_spearman=simcse[r["seed"]] + delta), kind="final", loss="off-dropout")

    assert od.verdict(with_gain(0.05), TINY).claim("off-dropout-content-sts").status == "reproduced"
    assert od.verdict(with_gain(-0.05), TINY).claim("off-dropout-content-sts").status == "not-reproduced"
    same = doctored(rows, lambda r: r.update(noise_to_signal=1.0), kind="noise")
    assert od.verdict(same, TINY).claim("noise-to-signal").status == "not-reproduced"  # equal ratios: log ratio 0


def test_claims_outside_their_regime_are_not_testable(rows):
    shortcut = doctored(rows, lambda r: r.update(mode_gap=0.9), kind="final", loss="off-dropout")
    assert od.verdict(shortcut, TINY).claim("off-dropout-content-sts").status == "not-testable"
    start = {r["seed"]: r for r in rows if r["kind"] == "start"}
    frozen = doctored(rows, lambda r: r.update(content_spearman=start[r["seed"]]["content_spearman"]), kind="final")
    assert od.verdict(frozen, TINY).claim("off-dropout-content-sts").status == "not-testable"  # the metric does not move


def test_plot_builds(rows):
    import matplotlib.pyplot as plt

    figure = od.plot(rows, TINY)
    assert len(figure.axes) == 6
    plt.close(figure)


@pytest.mark.parametrize("change, match", [
    ({"encoder": EncoderSettings(out_dim=32, depth=2, dropout=0.0)}, "dropout > 0"),
    ({"checkpoints": (5, 400)}, "checkpoints"),
    ({"positive_weights": (1.0, 1.0)}, "positive_weights"),
    ({"sts_sentences": 5000}, "sts_sentences"),
    ({"seeds": 1}, "seeds"),
])
def test_config_validation(change, match):
    with pytest.raises(ValueError, match=match):
        od.Config(**change)
    assert od.SCALES["paper"].seeds > od.SCALES["default"].seeds >= 10
