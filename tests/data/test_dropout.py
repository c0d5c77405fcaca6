"""Latent sentences: the data of the SimCSE++ simulations (dropout is the only augmentation)."""

import numpy as np
import pytest

from clustertheory.data import latent_sentences


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


def test_sentence_settings_draw_train_and_fresh_probe_sentences_of_one_generator():
    from clustertheory.data import SentenceSettings

    settings = SentenceSettings(num_clusters=3, train_sentences=50, probe_sentences=20, content_dim=2, style_dim=3, obs_dim=6)
    train, probe = settings.draw(seed=4)
    assert (train.num_sentences, probe.num_sentences) == (50, 20)
    whole = latent_sentences(num_clusters=3, num_sentences=70, content_dim=2, style_dim=3, obs_dim=6, seed=4)
    assert np.array_equal(np.concatenate([train.obs, probe.obs]), whole.obs)
    assert probe.latent.shape == (20, 5) and np.array_equal(probe.latent[:, :2], probe.content_latent)
    with pytest.raises(ValueError, match="probe_sentences"):
        SentenceSettings(probe_sentences=2)


@pytest.mark.parametrize("anisotropy", [0.0, 0.6, 0.9])
def test_anisotropic_targets_have_the_asked_mean_cosine(anisotropy):
    from clustertheory.data.dropout import anisotropic_targets

    latent = np.random.default_rng(0).standard_normal((2000, 8)) + 3.0  # an offset in the latent is removed first
    targets = anisotropic_targets(latent, dim=16, anisotropy=anisotropy, seed=1)
    unit = targets / np.linalg.norm(targets, axis=1, keepdims=True)
    cosines = unit[:1000] @ unit[1000:].T
    assert abs(cosines.mean() - anisotropy) < 0.05
    centred = targets - targets.mean(axis=0)
    assert np.linalg.matrix_rank(centred) == 8  # content-aware: a linear image of the whole latent
    with pytest.raises(ValueError, match="anisotropy"):
        anisotropic_targets(latent, 4, 1.0)


def test_observations_stack_the_draws_for_an_ensemble():
    from clustertheory.data import SentenceSettings
    from clustertheory.data.dropout import observations

    settings = SentenceSettings(train_sentences=10, probe_sentences=8)
    (a, _), (b, _) = settings.draw(0), settings.draw(1)
    x = observations([a, b])
    assert x.shape == (2, 10, settings.obs_dim) and np.array_equal(x[1].numpy(), b.obs)
    with pytest.raises(ValueError, match="same number of sentences"):
        observations([a, b.take(slice(0, 3))])
