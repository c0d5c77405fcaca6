"""Latent sentences and the dropout encoder: the properties the SimCSE++ simulations rely on."""

import numpy as np
import pytest
import torch

from clustertheory.data import (
    MLPEncoder,
    SeededDropout,
    dropout_pair,
    embed,
    latent_sentences,
)
from clustertheory.losses import off_dropout_infonce
from clustertheory.utils import torch_generator


def within_cluster_variance(data) -> float:
    return float(np.mean([data.obs[data.content == c].var(axis=0).sum() for c in range(data.num_clusters)]))


def test_latent_sentences_shapes_balance_and_determinism():
    data = latent_sentences(num_clusters=5, num_sentences=103, content_dim=3, style_dim=4, obs_dim=9, seed=7)
    assert data.obs.shape == (103, 9) and data.obs.dtype == np.float32
    assert data.content_latent.shape == (103, 3) and data.style.shape == (103, 4)
    counts = np.bincount(data.content, minlength=5)
    assert counts.max() - counts.min() <= 1  # balanced clusters
    again = latent_sentences(num_clusters=5, num_sentences=103, content_dim=3, style_dim=4, obs_dim=9, seed=7)
    assert np.array_equal(again.obs, data.obs) and np.array_equal(again.content, data.content)
    other = latent_sentences(num_clusters=5, num_sentences=103, content_dim=3, style_dim=4, obs_dim=9, seed=8)
    assert not np.allclose(other.obs, data.obs)


def test_without_spread_and_style_a_sentence_is_its_cluster():
    data = latent_sentences(num_clusters=4, num_sentences=40, spread=0.0, style_scale=0.0, seed=1)
    for c in range(4):
        rows = data.obs[data.content == c]
        assert np.allclose(rows, rows[0], atol=1e-6)
    firsts = np.stack([data.obs[data.content == c][0] for c in range(4)])
    distances = np.linalg.norm(firsts[:, None] - firsts[None], axis=2)
    assert distances[~np.eye(4, dtype=bool)].min() > 1e-2


def test_style_moves_the_observation_and_content_latent_follows_the_centres():
    data = latent_sentences(num_clusters=3, num_sentences=3000, spread=0.2, style_scale=1.0, seed=2)
    centres = np.stack([data.content_latent[data.content == c].mean(axis=0) for c in range(3)])
    spread = np.linalg.norm(data.content_latent - centres[data.content], axis=1)
    assert abs(np.sqrt(np.mean(spread**2)) - 0.2 * np.sqrt(8)) < 0.02  # E||spread eps||^2 = spread^2 k
    no_style = latent_sentences(num_clusters=3, num_sentences=3000, spread=0.2, style_scale=0.0, seed=2)
    assert within_cluster_variance(data) > 1.5 * within_cluster_variance(no_style)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_clusters": 0}, "num_clusters"),
        ({"num_sentences": 3, "num_clusters": 4}, "num_sentences"),
        ({"spread": -1.0}, "spread"),
        ({"style_scale": float("nan")}, "style_scale"),
        ({"obs_dim": 0}, "obs_dim"),
        ({"seed": -1}, "seed"),
    ],
)
def test_latent_sentences_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        latent_sentences(**kwargs)


def test_seeded_dropout_masks_rate_scale_and_eval_identity():
    layer = SeededDropout(0.25, torch_generator(3))
    x = torch.ones(200, 100)
    y = layer(x)
    assert abs(float((y == 0).float().mean()) - 0.25) < 0.01
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / 0.75))
    assert abs(float(y.mean()) - 1.0) < 0.02  # inverted dropout keeps the mean
    assert torch.equal(SeededDropout(0.25, torch_generator(3))(x), y)  # same seed, same mask
    layer.eval()
    assert torch.equal(layer(x), x)
    with pytest.raises(ValueError, match="dropout"):
        SeededDropout(1.0, torch_generator(0))


def test_encoder_is_seeded_and_leaves_the_global_stream_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = MLPEncoder(6, 4, width=8, depth=2, dropout=0.2, seed=5)
    assert torch.equal(torch.rand(3), expected)
    b = MLPEncoder(6, 4, width=8, depth=2, dropout=0.2, seed=5)
    x = torch.randn(10, 6)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert torch.equal(a(x), b(x))  # dropout masks are seeded too
    c = MLPEncoder(6, 4, width=8, depth=2, dropout=0.2, seed=6)
    assert not torch.equal(a.net[1].weight, c.net[1].weight)


def test_dropout_pair_is_the_augmentation_and_embed_is_dropout_off():
    encoder = MLPEncoder(6, 4, width=16, dropout=0.3, seed=0)
    encoder.eval()
    x = torch.randn(12, 6)
    h1, h2 = dropout_pair(encoder, x)
    assert not encoder.training  # flag restored
    assert not torch.allclose(h1, h2)  # independent masks
    assert h1.requires_grad
    z1, z2 = embed(encoder, x), embed(encoder, x, batch_size=5)
    assert torch.allclose(z1, z2) and not z1.requires_grad
    encoder.train()
    embed(encoder, x)
    assert encoder.training
    silent = MLPEncoder(6, 4, width=16, dropout=0.0, seed=0)
    assert torch.equal(*dropout_pair(silent, x))


def test_sphere_encoder_outputs_unit_vectors():
    encoder = MLPEncoder(5, 3, width=8, dropout=0.0, normalize=True, seed=1)
    z = encoder(torch.randn(20, 5))
    assert torch.allclose(z.norm(dim=1), torch.ones(20), atol=1e-6)


def test_encoder_validation():
    for kwargs, match in (({"in_dim": 0}, "in_dim"), ({"dropout": -0.1}, "dropout"), ({"depth": 0}, "depth"), ({"seed": -2}, "seed")):
        args = {"in_dim": 4, "out_dim": 2, **kwargs}
        with pytest.raises(ValueError, match=match):
            MLPEncoder(**args)


def test_off_dropout_loss_runs_on_the_encoder_with_noiseless_negatives():
    """The off-dropout pass of the loss is the encoder in eval mode: deterministic."""
    encoder = MLPEncoder(6, 4, width=16, dropout=0.3, seed=2)
    x = torch.randn(8, 6)
    loss = off_dropout_infonce(encoder, x, temperature=0.1)
    loss.backward()
    assert torch.isfinite(loss) and encoder.training
    assert all(p.grad is not None for p in encoder.parameters())
    assert torch.equal(embed(encoder, x), embed(encoder, x))
