"""Function classes on images: the DCT band-limited class, linear, Lipschitz MLPs; realisability."""

import dataclasses
import functools
import math

import numpy as np
import pytest
import torch
from scipy import fft

from clustertheory.analysis.metrics import cluster_agreement
from clustertheory.analysis.regularity import empirical_delta
from clustertheory.data import comb_dataset
from clustertheory.data.digits import IMAGE_SHAPE, digits_dataset
from clustertheory.functions.classes import LinearScore, MLPScore
from clustertheory.functions.images import (
    band_checks,
    band_locality,
    centred_images,
    class_features,
    class_label,
    class_regularity,
    dct_coefficients,
    dct_features,
    image_capacities,
    image_function_class,
    low_frequency_mask,
    supervised_code,
)
from clustertheory.training import TrainConfig
from clustertheory.functions.stacking import combine_models
from clustertheory.training.batched import no_evaluation, train_batched


@pytest.fixture(scope="module")
def data():
    return digits_dataset(num_images=40, views_per_image=2, strength=1.0, seed=1)


def test_dct_is_the_orthonormal_dct_ii_formula():
    rng = np.random.default_rng(0)
    image = rng.random((1, 4, 6))
    H, W = 4, 6
    expected = np.zeros((H, W))
    for u in range(H):
        for v in range(W):
            a_u = math.sqrt((1 if u == 0 else 2) / H)
            a_v = math.sqrt((1 if v == 0 else 2) / W)
            expected[u, v] = a_u * a_v * sum(
                image[0, r, s] * math.cos(math.pi * (2 * r + 1) * u / (2 * H)) * math.cos(math.pi * (2 * s + 1) * v / (2 * W)) for r in range(H) for s in range(W)
            )
    coefficients = dct_coefficients(image)
    assert np.allclose(coefficients[0], expected)
    assert np.isclose((coefficients**2).sum(), (image**2).sum())  # orthonormal: energy preserved


@pytest.mark.parametrize("bandwidth", [0, 1, 3, 7])
def test_low_frequency_mask_keeps_the_square_band(bandwidth):
    mask = low_frequency_mask(IMAGE_SHAPE, bandwidth)
    assert mask.sum() == (bandwidth + 1) ** 2
    assert mask[bandwidth, bandwidth] and (bandwidth == 7 or not mask[bandwidth + 1, 0])


@pytest.mark.parametrize("bandwidth", [0, 1, 3])
def test_dct_class_is_a_function_of_only_the_lowest_frequency_coefficients(data, bandwidth):
    """Adding to every view an image whose DCT vanishes at frequencies <= B changes no score of
    any member; adding one with energy there does."""
    rng = np.random.default_rng(bandwidth)
    noise = rng.standard_normal((data.num_views, *IMAGE_SHAPE))
    low = low_frequency_mask(IMAGE_SHAPE, bandwidth)

    def scores(obs):
        moved = dataclasses.replace(data, obs=obs.astype(np.float32))
        return image_function_class("dct", moved, 4, seeds=[0, 1], bandwidth=bandwidth).scores().detach()

    base = scores(data.obs)
    high_only = fft.idctn(np.where(low, 0.0, dct_coefficients(noise)), norm="ortho", axes=(1, 2)).reshape(data.num_views, -1)
    low_only = fft.idctn(np.where(low, dct_coefficients(noise), 0.0), norm="ortho", axes=(1, 2)).reshape(data.num_views, -1)
    assert torch.allclose(scores(data.obs + high_only), base, atol=1e-5)
    assert (scores(data.obs + low_only) - base).abs().max() > 1e-2


def test_band_locality_measures_what_the_band_ignores(data):
    high, low = band_locality(data, 2, seed=3)
    assert high <= 1e-5 < 1e-2 < low


def test_dct_features_are_the_low_coefficients_and_a_constant(data):
    features = dct_features(data, 1)
    assert features.shape == (data.num_views, 5)
    coefficients = dct_coefficients(data.obs.reshape(-1, *IMAGE_SHAPE).astype(np.float64))
    assert np.allclose(features[:, :4], coefficients[:, :2, :2].reshape(-1, 4))
    assert np.all(features[:, -1] == 1.0)


def test_full_band_dct_spans_the_linear_class(data):
    dct = class_features("dct", data, bandwidth=7)
    linear = class_features("linear", data)
    rank = np.linalg.matrix_rank
    assert rank(dct) == rank(linear) == rank(np.concatenate([dct, linear], axis=1))


def test_classes_see_centred_images(data):
    centred = centred_images(data)
    assert np.allclose(data.base_weight @ centred[data.base_view], 0.0, atol=1e-12)
    model = image_function_class("mlp", data, 3, seeds=[4, 5], width=8)
    natural = model(torch.as_tensor(data.base_view).expand(2, -1)).detach()
    assert torch.allclose(natural.mean(dim=1), torch.zeros(2, 3), atol=1e-5)  # the MLP starts centred on D_o


def test_mlp_keeps_its_lipschitz_bound(data):
    model = image_function_class("mlp", data, 2, seeds=[0], width=16, depth=2, lipschitz=0.5)
    assert isinstance(model, MLPScore) and model.lipschitz == 0.5
    x = torch.as_tensor(centred_images(data), dtype=torch.float32)
    scores = model.scores().detach()[0]
    pairs = torch.randint(0, data.num_views, (200, 2), generator=torch.Generator().manual_seed(0))
    ratio = (scores[pairs[:, 0]] - scores[pairs[:, 1]]).norm(dim=1) / (x[pairs[:, 0]] - x[pairs[:, 1]]).norm(dim=1).clamp_min(1e-9)
    assert ratio.max() <= 0.5 + 1e-5


def test_image_classes_plug_into_the_batched_trainer(data):
    models = [image_function_class("dct", data, 4, seeds=[0, 1], bandwidth=2), image_function_class("linear", data, 4, seeds=[0, 1]),
              image_function_class("mlp", data, 4, seeds=[0, 1], width=8)]
    result = train_batched(combine_models(models), data, TrainConfig(steps=5, batch_size=8, num_negatives=2, log_every=5), evaluate=no_evaluation)
    assert result.codes.shape == (6, data.num_views, 4) and set(np.unique(result.codes)) <= {-1, 1}
    assert isinstance(models[0], LinearScore)


def test_empirical_delta_accepts_an_image_class_builder(data):
    found = empirical_delta(data, functools.partial(image_function_class, "dct"), clusters=[0, 1], restarts=1, steps=20, bandwidth=2)
    assert found.per_cluster.shape == (2,)
    assert found.delta >= 0 and (found.splits_found == 0 or np.isfinite(found.delta))


def test_supervised_code_realises_separable_clusters_exactly():
    comb = comb_dataset(4, 3, 2)  # one-hot content is among the identity features: clusters are separable
    features = np.concatenate([comb.obs.astype(np.float64), np.ones((comb.num_views, 1))], axis=1)
    codes = supervised_code(features, comb, 2)
    assert cluster_agreement(codes, comb)["ari"] == pytest.approx(1.0)
    assert len({tuple(c) for c in codes}) == 4


def test_supervised_code_grows_with_the_band(data):
    ari = [cluster_agreement(supervised_code(class_features("dct", data, bandwidth=b), data, 4), data)["ari"] for b in (0, 7)]
    assert ari[0] < 0.2 < ari[1]


def test_labels_and_bad_arguments():
    assert class_label("dct", {"bandwidth": 2}) == "DCT B=2"
    assert class_label("mlp", {"width": 32}) == "MLP w=32"
    assert class_label("linear", {}) == "linear"
    data = digits_dataset(num_images=20, views_per_image=1, strength=0.5)
    with pytest.raises(ValueError, match="name"):
        image_function_class("lookup", data, 4)
    with pytest.raises(ValueError, match="bandwidth"):
        image_function_class("dct", data, 4, bandwidth=8)
    with pytest.raises(ValueError, match="seeds"):
        image_function_class("linear", data, 4, seeds=[])
    with pytest.raises(ValueError, match="image_shape"):
        dct_features(comb_dataset(2, 2, 1), 1)
    with pytest.raises(ValueError, match="dim"):
        supervised_code(class_features("linear", data), data, 3)  # 10 clusters need 2^d >= 10


def test_image_capacities_are_ordered_dct_linear_mlp():
    grid = image_capacities((0, 2), (8, 32), depth=2, lipschitz=0.5)
    assert [key for key, _, _ in grid] == ["dct-0", "dct-2", "linear", "mlp-8", "mlp-32"]
    assert grid[1] == ("dct-2", "dct", {"bandwidth": 2}) and grid[4] == ("mlp-32", "mlp", {"width": 32, "depth": 2, "lipschitz": 0.5})
    assert [class_label(name, opts) for _, name, opts in grid] == ["DCT B=0", "DCT B=2", "linear", "MLP w=8", "MLP w=32"]


def test_class_regularity_reports_the_search_and_the_supervised_fit(data):
    linear = class_regularity(data, "linear", {}, 4, restarts=1, steps=10, seed=0)
    found = empirical_delta(data, functools.partial(image_function_class, "linear"), restarts=1, steps=10, seed=0)
    assert linear["delta_adversary"] == found.delta and linear["splits_found"] == found.splits_found
    assert linear["supervised_ari"] == cluster_agreement(supervised_code(class_features("linear", data), data, 4), data)["ari"] > 0.5
    mean_only = class_regularity(data, "dct", {"bandwidth": 0}, 4, restarts=1, steps=10, seed=0)
    assert mean_only["supervised_ari"] < linear["supervised_ari"]
    other = digits_dataset(num_images=60, views_per_image=2, seed=0)
    mlp = class_regularity(other, "mlp", {"width": 8, "depth": 1, "lipschitz": 1.0}, 4, restarts=1, steps=10)
    assert math.isnan(mlp["supervised_ari"])  # no supervised fit for a class not linear in features


def test_band_checks_pass_on_the_dct_class_as_built(data):
    checks = band_checks(data, (1, 3), 4, seeds=(0, 1))
    assert checks["high_frequency_change"] < 1e-5 and checks["low_frequency_change"] > 1e-3
    assert checks["full_band_gap"] < 1e-6 and checks["nesting_violation"] < 1e-9
    with pytest.raises(ValueError):
        band_checks(data, (1, 3), 4, seeds=(0,))  # one seed per bandwidth
