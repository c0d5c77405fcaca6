"""Measurements of dropout sentence encoders: gradient noise over dropout draws, probe metrics,
gradient shares, and the arms' joint fine-tuning."""

import pytest
import torch

from clustertheory.analysis import sentences
from clustertheory.analysis.embedding import effective_rank, similarity_spearman
from clustertheory.data import SentenceSettings
from clustertheory.functions import EnsembleMLP, embed

DATA = SentenceSettings(train_sentences=64, probe_sentences=24, content_dim=4, style_dim=4, obs_dim=12, hidden=16)


def encoder(dropout=0.2, seeds=(0, 1)):
    return EnsembleMLP(DATA.obs_dim, 6, list(seeds), width=16, dropout=dropout, layer_norm=True)


def test_noise_measurement_leaves_the_dropout_stream_alone_and_sees_dropout_noise():
    model = encoder()
    state = model.mask_generator.get_state()
    rows = sentences.dropout_gradient_noise("simcse", model, torch.randn(2, 6, DATA.obs_dim), 4, temperature=0.05)
    assert torch.equal(model.mask_generator.get_state(), state)
    assert all(p.grad is None for p in model.parameters())
    assert len(rows) == 2 and all(r["neg_sim_variance"] > 0 and r["pos_sim_variance"] > 0 and r["total_variance"] > 0 for r in rows)
    still = sentences.dropout_gradient_noise("simcse", encoder(dropout=0.0), torch.randn(2, 6, DATA.obs_dim), 3, temperature=0.05)
    assert all(r["total_variance"] == 0 and r["neg_sim_variance"] == 0 for r in still)  # no dropout: every draw the same


def test_sentence_metrics_without_dropout_have_no_mode_gap():
    _, probe = DATA.draw(3)
    probes = [probe, probe]
    x = torch.stack([torch.as_tensor(p.obs) for p in probes])
    model = encoder(dropout=0.0)
    rows = sentences.sentence_metrics(model, x, probes)
    z = embed(model, x).numpy()
    assert rows[1]["content_spearman"] == pytest.approx(similarity_spearman(z[1], probe.content_latent))
    assert rows[0]["effective_rank"] == pytest.approx(effective_rank(z[0]))
    assert all(abs(r["mode_gap"]) < 1e-6 for r in rows)
    assert sentences.sentence_metrics(encoder(dropout=0.5), x, probes)[0]["mode_gap"] != pytest.approx(0, abs=1e-4)


def test_rank_metrics_respect_the_rank_bound():
    _, probe = DATA.draw(4)
    x = torch.stack([torch.as_tensor(probe.obs)] * 2)
    rows = sentences.rank_metrics(encoder(), x, [probe, probe], 4, [0, 1])
    for r in rows:
        assert r["identity_gap_bound"] == 6 - 3 and r["identity_gap"] >= r["identity_gap_bound"] - 1e-6
        assert r["spectrum"].shape == (6,) and r["spectrum"].sum() == pytest.approx(1.0)
        assert -1 < r["latent_r2"] <= 1


def test_gradient_norms_per_member_and_the_matched_share():
    model = encoder(dropout=0.0)
    x = torch.randn(2, 5, DATA.obs_dim)
    out = model(x)
    a, b = out.pow(2).sum((1, 2)), out.sum((1, 2)) * torch.tensor([1.0, 3.0])
    g_a, g_b = sentences.member_gradient_norms(model, a, b)
    alone = torch.autograd.grad(a[1], list(model.parameters()), retain_graph=True)
    assert float(g_a[1]) == pytest.approx(float(torch.sqrt(sum(g[1].pow(2).sum() for g in alone))), rel=1e-5)
    plain = sentences.member_gradient_norms(model, out.sum((1, 2)))[0]
    assert torch.allclose(g_b, plain * torch.tensor([1.0, 3.0]))  # member e's norm sees only member e's loss
    weight = sentences.matched_weight(g_a, g_b, 0.25)
    assert torch.allclose(sentences.gradient_share(g_a, weight * g_b), torch.full((2,), 0.25))
    assert sentences.matched_weight(g_a, torch.zeros(2), 0.25).tolist() == [0.0, 0.0]  # no regulariser: weight 0


