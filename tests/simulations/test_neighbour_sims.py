"""The SimCSE++ and hard-negative simulations on tiny settings: the package's own checks pass on
real runs and FAIL on doctored rows or broken computations; the paper checks read the
direction of the measured effect correctly."""

import matplotlib
import numpy as np
import pytest
import torch

import simulations.dimension_wise as dw
import simulations.hard_negatives as hn
import simulations.off_dropout as od
from clustertheory.data import PairSampler, comb_dataset
from clustertheory.functions import MLPEncoder
from clustertheory.simulation import RunContext

matplotlib.use("Agg")

OD_TINY = od.Config(train_sentences=256, probe_sentences=128, width=32, embed_dim=16, steps=30, noise_steps=(0, 30), noise_draws=4, seeds=1, batch_size=16)
DW_TINY = dw.Config(train_sentences=256, probe_sentences=128, width=32, embed_dim=16, steps=30, batch_sizes=(8, 32), seeds=1)
HN_TINY = hn.Config(num_clusters=(2, 4), negatives=(4,), points_per_cluster=4, steps=40, checkpoints=(0, 20, 40), early_step=20, seeds=1, batch_size=32)


def failed(verdict) -> set[str]:
    return {c.name for c in verdict.checks if not c.passed}


def package_failures(verdict) -> set[str]:
    return {name for name in failed(verdict) if name.startswith("package:")}


def named(verdict, prefix: str):
    return next(c for c in verdict.checks if c.name.startswith(prefix))


@pytest.fixture(scope="module")
def od_rows():
    return od.run(OD_TINY, RunContext.for_tests())


@pytest.fixture(scope="module")
def dw_rows():
    return dw.run(DW_TINY, RunContext.for_tests())


@pytest.fixture(scope="module")
def hn_rows():
    return hn.run(HN_TINY, RunContext.for_tests())


# ----------------------------------------------------------------------------- off-dropout


def test_off_dropout_tiny_run_passes_the_package_checks(od_rows):
    verdict = od.verdict(od_rows, OD_TINY)
    assert not package_failures(verdict), verdict.report()
    noise = [r for r in od_rows if r["kind"] == "noise"]
    assert len(noise) == 1 * 2 * 2 * 2  # seeds x trained-with x checkpoints x measured loss
    assert all(r["neg_sim_variance"] == 0 for r in noise if r["measured"] == "off-dropout")
    assert all(r["grad_total_variance"] > 0 for r in noise)


def test_off_dropout_noisy_negatives_fail_the_verdict(od_rows):
    rows = [dict(r) for r in od_rows]
    for r in rows:
        if r["kind"] == "noise" and r["measured"] == "off-dropout":
            r["neg_sim_variance"] = 1e-3  # as if the negatives came from dropout passes
    assert "package: off-dropout negatives carry no dropout noise (max Var over draws of s(hbar_i, hbar_j))" in failed(od.verdict(rows, OD_TINY))


def test_off_dropout_negatives_computed_with_dropout_on_are_caught(monkeypatch):
    """A dropout-off pass that forgot to switch dropout off shows noise in its negatives."""
    encoder = MLPEncoder(OD_TINY.obs_dim, 8, width=16, dropout=0.2, seed=0)
    x = torch.randn(6, OD_TINY.obs_dim)
    assert od.measure_noise("off-dropout", encoder, x, OD_TINY)["neg_sim_variance"] == 0
    monkeypatch.setattr(od, "embed", lambda model, inputs: model.train()(inputs))
    assert od.measure_noise("off-dropout", encoder, x, OD_TINY)["neg_sim_variance"] > 0


def test_noise_measurement_leaves_the_dropout_stream_alone():
    encoder = MLPEncoder(OD_TINY.obs_dim, 8, width=16, dropout=0.2, seed=1)
    state = encoder.mask_generator.get_state()
    od.measure_noise("simcse", encoder, torch.randn(6, OD_TINY.obs_dim), OD_TINY)
    assert torch.equal(encoder.mask_generator.get_state(), state)


def two_seeds(rows):
    """The rows again under a second seed: a resolved gain needs more than one paired difference."""
    return [dict(r) for r in rows] + [{**r, "seed": r["seed"] + 1} for r in rows]


def test_off_dropout_paper_checks_follow_the_measured_direction(od_rows):
    def shift(delta):
        rows = two_seeds(od_rows)
        simcse = {r["seed"]: r for r in rows if r["kind"] == "final" and r["loss"] == "simcse"}
        for r in rows:
            if r["kind"] == "final" and r["loss"] == "off-dropout":
                r["probe_accuracy"] = simcse[r["seed"]]["probe_accuracy"] + delta
        return od.verdict(rows, OD_TINY)

    name = "paper: probe accuracy off-dropout - SimCSE"
    assert named(shift(+0.05), name).passed
    assert not named(shift(-0.05), name).passed
    rows = [dict(r) for r in od_rows]
    for r in rows:
        if r["kind"] == "noise" and r["measured"] == "off-dropout":
            r["grad_relative_variance"] = 1e9
    assert not named(od.verdict(rows, OD_TINY), "paper: gradient noise-to-signal off-dropout / SimCSE, same parameters").passed


# ----------------------------------------------------------------------------- dimension-wise


def test_dimension_wise_tiny_run_passes_the_package_checks(dw_rows):
    verdict = dw.verdict(dw_rows, DW_TINY)
    assert not package_failures(verdict), verdict.report()
    finals = [r for r in dw_rows if r["kind"] == "final"]
    assert len(finals) == 1 * 2 * 3  # seeds x batch sizes x methods
    assert all(r["batch_rank"] <= r["batch_size"] - 1 for r in finals)
    spectra = [r for r in dw_rows if r["kind"] == "spectrum"]
    assert len(spectra) == len(finals) * DW_TINY.embed_dim


def test_identity_gap_below_the_rank_bound_fails_the_verdict(dw_rows):
    rows = [dict(r) for r in dw_rows]
    for r in rows:
        if r["kind"] == "final" and r["batch_size"] == 8:
            r["identity_gap"] = r["identity_gap_bound"] - 1.0  # impossible with rank C <= B - 1
    assert "package: ||C - I||_F^2 - max(d - (B - 1), 0) on every measured batch (min)" in failed(dw.verdict(rows, DW_TINY))


def test_dimension_wise_paper_check_follows_the_measured_direction(dw_rows):
    def shift(delta):
        rows = two_seeds(dw_rows)
        base = {(r["seed"], r["batch_size"]): r["probe_accuracy"] for r in rows if r["kind"] == "final" and r["method"] == "infonce"}
        for r in rows:
            if r["kind"] == "final" and r["method"] == "dimension-wise":
                r["probe_accuracy"] = base[(r["seed"], r["batch_size"])] + delta
        return dw.verdict(rows, DW_TINY)

    name = "paper: B < d=16: probe gain of dimension-wise over InfoNCE"
    assert named(shift(+0.05), name).passed
    assert not named(shift(-0.05), name).passed


def test_batch_statistics_respect_the_rank_bound():
    encoder = MLPEncoder(DW_TINY.obs_dim, 16, width=16, dropout=0.1, seed=0)
    stats = dw.batch_statistics(encoder, torch.randn(5, DW_TINY.obs_dim), DW_TINY)
    assert stats["batch_rank"] <= 4 and stats["identity_gap_bound"] == 16 - 4
    assert stats["identity_gap"] >= stats["identity_gap_bound"] - 1e-6
    assert stats["dimension_wise_at_identity"] == pytest.approx(-0.2 + np.log(np.exp(0.2) + 15))


# ----------------------------------------------------------------------------- hard negatives


def test_hard_negatives_tiny_run_passes_the_package_checks(hn_rows):
    verdict = hn.verdict(hn_rows, HN_TINY)
    assert not package_failures(verdict), verdict.report()
    finals = [r for r in hn_rows if r["kind"] == "final"]
    assert {r["method"] for r in finals} == set(hn.METHODS)
    assert all(0 <= r["false_negative_rate"] <= 1 and 0 <= r["probe_error"] <= 1 for r in finals)


def test_wrong_false_negative_rate_fails_the_verdict(hn_rows):
    rows = [dict(r) for r in hn_rows]
    for r in rows:
        if r["kind"] == "final" and r["method"] == "plain" and r["num_clusters"] == 4:
            r["false_negative_rate"] = 0.4  # e.g. a sampler that over-draws the anchor's cluster
    assert "package: FNR of uniform negatives vs the exact rate 1/m (max |z| in binomial se)" in failed(hn.verdict(rows, HN_TINY))


def test_hard_negative_paper_checks_follow_the_measured_direction(hn_rows):
    def with_within(method, delta):
        rows = [dict(r) for r in hn_rows]
        plain = {(r["seed"], r["num_clusters"], r["negatives"]): r["within"] for r in rows if r["kind"] == "final" and r["method"] == "plain"}
        for r in rows:
            if r["kind"] == "final" and r["method"] == method:
                r["within"] = plain[(r["seed"], r["num_clusters"], r["negatives"])] + delta
        return hn.verdict(rows, HN_TINY)

    name = "paper: hard-select splits clusters"
    assert named(with_within("hard-select", -0.1), name).passed
    assert not named(with_within("hard-select", +0.1), name).passed


def test_hard_selection_on_clustered_embeddings_picks_false_negatives():
    """With every cluster at one point, the hardest negatives are the anchor's cluster mates."""
    data = comb_dataset(2, 4, 2)
    content = torch.as_tensor(data.content)
    z = torch.nn.functional.one_hot(content, 2).float() + 0.01 * torch.randn(len(content), 2, generator=torch.Generator().manual_seed(0))
    z = torch.nn.functional.normalize(z, dim=1)
    anchor, positive, candidates = PairSampler(data, num_negatives=16, seed=0).sample(256)
    generator = torch.Generator().manual_seed(1)
    _, plain = hn.method_loss("plain", z, anchor, positive, candidates, content, 2, 4, HN_TINY, generator)
    _, hard = hn.method_loss("hard-select", z, anchor, positive, candidates, content, 2, 4, HN_TINY, generator)
    _, synthetic = hn.method_loss("synthetic", z, anchor, positive, candidates, content, 2, 4, HN_TINY, generator)
    assert abs(plain - 0.5) < 0.06
    assert hard > 0.99  # 16 candidates hold >= 4 cluster mates with probability > 0.99
    assert 0.6 < synthetic  # half uniform (~0.5), half mixed from cluster mates (~1)


def test_plots_build(od_rows, dw_rows, hn_rows):
    import matplotlib.pyplot as plt

    for module, rows, config, panels in ((od, od_rows, OD_TINY, 5), (dw, dw_rows, DW_TINY, 4), (hn, hn_rows, HN_TINY, 4 + 2)):
        figure = module.plot(rows, config)
        assert len(figure.axes) == panels
        plt.close(figure)


@pytest.mark.parametrize(
    "module, change, match",
    [
        (od, {"dropout": 0.0}, "dropout"),
        (od, {"noise_steps": (5,)}, "noise_steps"),
        (od, {"batch_size": 1}, "batch_size"),
        (dw, {"batch_sizes": (1,)}, "batch_sizes"),
        (dw, {"embed_dim": 1}, "embed_dim"),
        (hn, {"negatives": (1,)}, "negatives"),
        (hn, {"early_step": 7}, "early_step"),
        (hn, {"observation": "identity"}, "observation"),
    ],
)
def test_config_validation(module, change, match):
    with pytest.raises(ValueError, match=match):
        module.Config(**change)


def test_scales_are_valid_and_paper_is_bigger():
    for module in (od, dw, hn):
        assert set(module.SCALES) >= {"default", "paper"}
        assert module.SCALES["paper"].seeds > module.SCALES["default"].seeds
