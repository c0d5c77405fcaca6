"""The class / subclass / irrelevant-feature data model of Xue et al. (2023)."""

import numpy as np
import pytest
import torch

from clustertheory.data import CollapseConfig, collapse_dataset
from clustertheory.data.collapse import (
    NOISE_KINDS,
    draw_view_pairs,
    stack_training_sets,
)

SMALL = CollapseConfig(dim=40, num_features=6, num_originals=300, num_augmentations=3)


def test_shapes_labels_and_seeding():
    data = collapse_dataset(SMALL, seed=3)
    assert data.originals.shape == (300, 40) and data.views.shape == (300, 3, 40)
    assert set(np.unique(data.y)) == {-1, 1} and set(np.unique(data.y_sub)) == {-1, 1}
    assert data.irrelevant.min() >= 3 and data.irrelevant.max() <= 6
    assert set(np.unique(data.group)) == {0, 1, 2, 3}
    assert data.flat_views.shape == (900, 40) and (data.view_original == np.repeat(np.arange(300), 3)).all()
    again = collapse_dataset(SMALL, seed=3)
    assert np.array_equal(again.views, data.views) and np.array_equal(again.y, data.y)
    assert not np.array_equal(collapse_dataset(SMALL, seed=4).views, data.views)


def test_noiseless_coordinates_follow_the_formula():
    config = CollapseConfig(dim=12, num_features=5, num_originals=200, num_augmentations=2, class_strength=1.5, subclass_strength=0.7,
                            irrelevant_strength=2.0, class_mean=0.3, subclass_mean=1.0, irrelevant_mean=-0.5, noise=0.0)
    data = collapse_dataset(config, seed=0)
    u = data.originals
    assert np.allclose(u[:, 0], 1.5 * data.y + 0.3)
    assert np.allclose(u[:, 1], 0.7 * data.y_sub + 1.0)
    rows = np.arange(200)
    assert np.allclose(u[rows, data.irrelevant - 1], 2.0 * data.rho - 0.5)
    rest = u.copy()
    rest[:, :2] = 0
    rest[rows, data.irrelevant - 1] = 0
    assert np.all(rest == 0)  # exactly one irrelevant coordinate per example
    assert np.array_equal(data.views[:, 0], u) and np.array_equal(data.views[:, 1], u)  # perfect augmentation, no noise


def test_imperfect_augmentation_jitters_class_and_subclass_only():
    config = CollapseConfig(dim=10, num_features=4, num_originals=500, num_augmentations=2, noise=0.0, augmentation_noise=0.5)
    data = collapse_dataset(config, seed=1)
    diff = data.views - data.originals[:, None, :]
    assert np.all(diff[:, :, 2:] == 0)  # irrelevant coordinates kept exactly
    assert diff[:, :, :2].std() == pytest.approx(0.5, rel=0.1)


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_noise_second_moment_is_sigma2_over_dim(kind):
    config = CollapseConfig(dim=20, num_features=3, num_originals=20000, num_augmentations=1, class_strength=0.0,
                            subclass_strength=0.0, irrelevant_strength=0.0, subclass_mean=0.0, noise=2.0, noise_kind=kind)
    xi = collapse_dataset(config, seed=0).originals
    second = xi.T @ xi / len(xi)
    assert np.allclose(np.diag(second), 4.0 / 20, rtol=0.1)
    assert np.abs(second - np.diag(np.diag(second))).max() < 0.01
    if kind != "gaussian":
        assert np.allclose(np.linalg.norm(xi, axis=1), 2.0)  # one coordinate hit, norm sigma
    expected_mean = 2.0 / 20 if kind == "basis" else 0.0
    assert np.allclose(xi.mean(axis=0), expected_mean, atol=0.01)


@pytest.mark.parametrize(
    "changes, name",
    [({"num_features": 2}, "num_features"), ({"dim": 3, "num_features": 4}, "dim"), ({"noise": -1.0}, "noise"),
     ({"noise_kind": "uniform"}, "noise_kind"), ({"num_originals": 0}, "num_originals"), ({"subclass_mean": float("nan")}, "subclass_mean")],
)
def test_invalid_config_names_the_parameter(changes, name):
    with pytest.raises(ValueError, match=name):
        CollapseConfig(**changes)


def test_pair_sampler_positives_negatives_and_seed():
    data = collapse_dataset(SMALL, seed=0)
    anchor, positive, negatives = data.pair_sampler(num_negatives=5, seed=7, device="cpu").sample(512)
    assert anchor.shape == (512,) and positive.shape == (512,) and negatives.shape == (512, 5)
    assert anchor.dtype == torch.long
    owner = torch.as_tensor(data.view_original)
    assert torch.equal(owner[anchor], owner[positive]) and bool((anchor != positive).all())
    again = data.pair_sampler(num_negatives=5, seed=7, device="cpu").sample(512)
    assert torch.equal(again[0], anchor) and torch.equal(again[2], negatives)

    a, p, _ = data.pair_sampler(supervised=True, seed=1, device="cpu").sample(2000)
    view_class = torch.as_tensor(np.repeat(data.y, 3))
    assert torch.equal(view_class[a], view_class[p])
    assert (owner[a] != owner[p]).float().mean() > 0.9  # mostly other originals of the class


def test_unsupervised_sampler_needs_two_views():
    data = collapse_dataset(CollapseConfig(dim=8, num_features=3, num_originals=10, num_augmentations=1), seed=0)
    with pytest.raises(ValueError, match="num_augmentations"):
        data.pair_sampler()
    with pytest.raises(ValueError, match="batch_size"):
        collapse_dataset(SMALL).pair_sampler(device="cpu").sample(0)


def test_regime_compares_views_with_lifted_dimension():
    assert CollapseConfig(dim=100, num_originals=500, num_augmentations=2).regime == "many-views"
    assert CollapseConfig(dim=400, num_originals=100, num_augmentations=2).regime == "many-dims"
    assert CollapseConfig(dim=199, num_originals=100, num_augmentations=2).regime == "many-dims"  # n m = dim + 1: every view independent
    assert CollapseConfig(dim=400, num_originals=100, num_augmentations=2).num_views == 200


def test_settings_block_replaces_and_checks_fields():
    config = CollapseConfig(dim=40, num_features=6).replace(noise=1.5)
    assert config.noise == 1.5 and config.dim == 40
    with pytest.raises(ValueError, match="noise"):
        config.replace(noise=-1.0)


def test_view_pairs_are_two_distinct_augmentations_of_one_original():
    datasets = [collapse_dataset(SMALL, seed=s) for s in range(3)]
    views, y = stack_training_sets(datasets, device="cpu")
    assert views.shape == (3, 300, 3, 40) and views.dtype == torch.float32 and y.shape == (3, 300)
    first, second, originals = draw_view_pairs(views, 64, torch.Generator().manual_seed(0))
    assert first.shape == second.shape == (3, 64, 40) and originals.shape == (3, 64)
    for e in range(3):
        for b in range(64):
            own = views[e, originals[e, b]]
            slot_a = int((own == first[e, b]).all(dim=1).nonzero())
            slot_b = int((own == second[e, b]).all(dim=1).nonzero())
            assert slot_a != slot_b
    assert torch.equal(y[1], torch.tensor(datasets[1].y))
    with pytest.raises(ValueError, match="views"):
        draw_view_pairs(views[:, :, :1], 4, torch.Generator())
    with pytest.raises(ValueError, match="datasets"):
        stack_training_sets([datasets[0], collapse_dataset(CollapseConfig(dim=8, num_features=3, num_originals=10, num_augmentations=2))])


def test_check_regime_names_the_field():
    from clustertheory.data.collapse import check_regime

    check_regime("many_views", CollapseConfig(dim=10, num_originals=20, num_augmentations=2), "many-views")
    with pytest.raises(ValueError, match="many_dims must be in the many-dims regime"):
        check_regime("many_dims", CollapseConfig(dim=10, num_originals=20, num_augmentations=2), "many-dims")
