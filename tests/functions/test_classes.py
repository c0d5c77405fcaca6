"""Function classes: ensembles, capacity limits (Lipschitz, band limit) and the unrestricted lookup;
invalid arguments refused naming their range; seeded initialisation per member."""

import itertools
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from helpers import (
    NONNEG,
    NONNEG_INT,
    ONE_OF,
    POSITIVE,
    POSITIVE_INT,
    raises,
    scramble_global_rngs,
)

from clustertheory.data import comb_dataset
from clustertheory.functions import (
    CLASS_NAMES,
    fourier_features,
    hard_codes,
    make_function_class,
)


def augmentation_sets(data) -> list[np.ndarray]:
    augment = data.augment.tocsr()
    return [augment.indices[augment.indptr[i] : augment.indptr[i + 1]] for i in range(data.num_base)]


@pytest.fixture(scope="module")
def data():
    return comb_dataset(4, 4, 5, observation="embedding", obs_dim=8, seed=1)


@pytest.mark.parametrize("name", [n for n in CLASS_NAMES if n != "random-features"])
def test_ensemble_member_equals_single_model_with_its_seed(name, data):
    seeds = [3, 11, 5]
    kwargs = {"bandwidth": 2} if name == "band-limited" else {"bandwidth": 1.5} if name == "random-features" else {}
    ensemble = make_function_class(name, data, 3, seeds=seeds, **kwargs)
    assert ensemble.scores().shape == (3, data.num_views, 3)
    for e, seed in enumerate(seeds):
        single = make_function_class(name, data, 3, seeds=seed, **kwargs)
        assert torch.allclose(ensemble.scores()[e], single.scores()[0], atol=1e-6)
    assert not torch.allclose(ensemble.scores()[0], ensemble.scores()[1])


def test_random_features_map_is_part_of_the_class_and_members_match_single_models(data):
    """random-features draws the feature map (the class F) once, from feature_seed, shared by
    every member; member e then equals a single model with seeds[e] and the same feature_seed."""
    seeds = [3, 11, 5]
    ensemble = make_function_class("random-features", data, 3, seeds=seeds, bandwidth=1.5, feature_seed=7)
    for e, seed in enumerate(seeds):
        single = make_function_class("random-features", data, 3, seeds=seed, bandwidth=1.5, feature_seed=7)
        assert torch.equal(ensemble.features, single.features)
        assert torch.allclose(ensemble.scores()[e], single.scores()[0], atol=1e-6)
    other = make_function_class("random-features", data, 3, seeds=seeds, bandwidth=1.5, feature_seed=8)
    assert not torch.equal(ensemble.features, other.features)


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_forward_accepts_shared_or_per_member_indices(name, data):
    model = make_function_class(name, data, 2, seeds=[0, 1])
    idx = torch.tensor([0, 5, 7])
    shared = model(idx)
    per_member = model(torch.stack([idx, idx]))
    assert shared.shape == (2, 3, 2)
    assert torch.allclose(shared, per_member)
    different = model(torch.stack([idx, torch.tensor([1, 2, 3])]))
    assert torch.allclose(different[0], shared[0]) and torch.allclose(different[1], model.scores()[1, 1:4])
    with pytest.raises(ValueError, match="view_idx"):
        model(torch.zeros(3, 3, dtype=torch.long))


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_codes_are_hypercube_vertices(name, data):
    codes = make_function_class(name, data, 3, seeds=[0, 1]).codes()
    assert codes.shape == (2, data.num_views, 3)
    assert set(torch.unique(codes).tolist()) <= {-1.0, 1.0}


def test_hard_codes_send_zero_to_plus_one():
    assert torch.equal(hard_codes(torch.tensor([-0.5, 0.0, 2.0])), torch.tensor([-1.0, 1.0, 1.0]))


@pytest.mark.parametrize("lipschitz", [0.5, 2.0])
def test_mlp_lipschitz_bound_holds_on_every_pair_of_views(lipschitz, data):
    """max ||score(x) - score(x')|| / ||x - x'|| over all view pairs <= L, even with weights blown up."""
    model = make_function_class("mlp", data, 3, seeds=[0, 1], width=16, depth=2, lipschitz=lipschitz)
    with torch.no_grad():
        for weight in model.weights:
            weight.mul_(30.0)  # far outside the cap, so the rescaling must act
    scores = model.scores().detach().numpy()
    x = data.obs.astype(np.float64)
    i, j = np.triu_indices(data.num_views, k=1)
    gaps = np.linalg.norm(x[i] - x[j], axis=1)
    for member in scores:
        ratio = np.linalg.norm(member[i] - member[j], axis=1) / gaps
        assert ratio.max() <= lipschitz * (1 + 1e-5)
        assert ratio.max() > 0.05 * lipschitz  # not vacuous: the scores do vary


def test_unconstrained_mlp_exceeds_the_bound_after_blow_up(data):
    model = make_function_class("mlp", data, 3, seeds=[0], width=16, depth=2)
    with torch.no_grad():
        for weight in model.weights:
            weight.mul_(30.0)
    scores = model.scores().detach().numpy()[0]
    x = data.obs.astype(np.float64)
    i, j = np.triu_indices(data.num_views, k=1)
    ratio = np.linalg.norm(scores[i] - scores[j], axis=1) / np.linalg.norm(x[i] - x[j], axis=1)
    assert ratio.max() > 2.0


def test_lookup_represents_any_code(data):
    model = make_function_class("lookup", data, 4, seeds=[0, 1])
    rng = np.random.default_rng(0)
    target = rng.choice([-1.0, 1.0], size=(2, data.num_views, 4))
    with torch.no_grad():
        model.table.copy_(torch.as_tensor(target * rng.uniform(0.1, 2.0, size=target.shape), dtype=torch.float32))
    assert np.array_equal(model.codes().numpy(), target)


def clean_subspace(features: np.ndarray, data) -> np.ndarray:
    """Orthonormal basis of {w : phi(v) w = phi(v') w for v, v' in one augmentation set}."""
    rows = [features[s[1:]] - features[s[0]] for s in augmentation_sets(data) if len(s) > 1]
    return scipy.linalg.null_space(np.concatenate(rows), rcond=1e-9)


def within_cluster_spread(values: np.ndarray, data) -> float:
    """Largest range of any column of ``values`` (V, k) inside one cluster."""
    return max(float(np.ptp(values[data.content == c], axis=0).max()) for c in range(data.num_clusters))


@pytest.mark.parametrize("T", [3, 5])
def test_band_limited_below_T_has_only_cluster_constant_clean_scores(T):
    """Real-valued scores: with B < T every score constant on augmentation sets is constant on
    clusters (the class is intertwined); with B = T, cos(T s) is clean and splits clusters."""
    data = comb_dataset(3, 4, T)
    for B in range(T):
        basis = clean_subspace(fourier_features(data, B), data)
        assert basis.shape[1] == data.num_clusters  # only the content offsets survive
        assert within_cluster_spread(fourier_features(data, B) @ basis, data) < 1e-9
    features = fourier_features(data, T)
    basis = clean_subspace(features, data)
    assert basis.shape[1] == data.num_clusters + 2  # plus cos(T s) and sin(T s)
    assert within_cluster_spread(features @ basis, data) > 0.5


def test_band_limited_below_T_has_no_clean_splitting_binary_function():
    """Binary functions sign(phi w): search offsets and style profiles; none with B < T is both
    constant on every augmentation set and non-constant on a cluster. With B = T one exists."""
    T = 5
    data = comb_dataset(2, 4, T)
    sets = augmentation_sets(data)
    rng = np.random.default_rng(0)

    def clean_and_splitting(codes: np.ndarray) -> bool:
        clean = all(len(np.unique(codes[s])) == 1 for s in sets)
        splits = any(len(np.unique(codes[data.content == c])) > 1 for c in range(data.num_clusters))
        return clean and splits

    for B in (1, 2, 4):
        features = fourier_features(data, B)
        style = features[:, data.num_clusters :]
        # offsets at every level the style profile crosses, so every superlevel set is tried
        for _ in range(300):
            profile = style @ rng.normal(size=style.shape[1])
            for offset in np.unique(np.round(profile, 9)):
                assert not clean_and_splitting(np.where(profile - offset + 1e-7 >= 0, 1, -1))
    features = fourier_features(data, T)
    profile = features[:, data.num_clusters + T - 1]  # cos(T s)
    assert clean_and_splitting(np.where(profile >= 0, 1, -1))


def test_fourier_features_layout():
    data = comb_dataset(3, 2, 2)
    phi = fourier_features(data, 3)
    assert phi.shape == (data.num_views, 3 + 6)
    assert np.array_equal(phi[:, :3], np.eye(3)[data.content])
    assert np.allclose(phi[:, 3 + 1], np.cos(2 * data.style)) and np.allclose(phi[:, 6 + 2], np.sin(3 * data.style))
    with pytest.raises(ValueError, match="style_space"):
        fourier_features(comb_dataset(2, 2, 2, style_space="finite"), 1)


def test_band_limited_class_reaches_every_cluster_constant_code():
    """Content offsets alone place each cluster on any vertex (the realizable minimisers are in F)."""
    data = comb_dataset(4, 3, 5)
    model = make_function_class("band-limited", data, 2, seeds=[0], bandwidth=2)
    assignments = list(itertools.product(range(4), repeat=4))
    picks = np.random.default_rng(0).choice(len(assignments), size=24, replace=False)
    for assignment in [assignments[k] for k in picks] + [(0, 0, 0, 0), (0, 1, 2, 3)]:
        vertices = np.array([[1 - 2 * (v & 1), 1 - 2 * (v >> 1)] for v in assignment], dtype=np.float32)
        with torch.no_grad():
            model.weight.zero_()
            model.weight[0, :4] = torch.as_tensor(vertices)
        assert np.array_equal(model.codes()[0].numpy(), vertices[data.content])


@pytest.mark.parametrize(
    "kwargs,parameter",
    [
        ({"name": "transformer"}, "name"),
        ({"dim": 0}, "dim"),
        ({"seeds": []}, "seeds"),
        ({"name": "band-limited", "bandwidth": -1}, "bandwidth"),
        ({"name": "random-features", "num_features": 0}, "num_features"),
        ({"name": "random-features", "bandwidth": 0.0}, "bandwidth"),
        ({"name": "mlp", "width": 0}, "width"),
        ({"name": "mlp", "depth": 0}, "depth"),
        ({"name": "mlp", "lipschitz": -1.0}, "lipschitz"),
    ],
)
def test_validation_names_the_parameter(kwargs, parameter, data):
    settings = {"name": "linear", "dim": 2, "seeds": [0], **kwargs}
    with pytest.raises(ValueError, match=parameter):
        make_function_class(settings.pop("name"), data, **settings)


SMALL = comb_dataset(num_clusters=2, points_per_cluster=2, teeth=2)

FUNCTION_CASES = [
    ({"name": "transformer"}, "name", ONE_OF),
    ({"dim": 0}, "dim", POSITIVE_INT),
    ({"dim": -2}, "dim", POSITIVE_INT),
    ({"dim": 2.0}, "dim", POSITIVE_INT),
    ({"name": "mlp", "width": 0}, "width", POSITIVE_INT),
    ({"name": "mlp", "depth": 0}, "depth", POSITIVE_INT),
    ({"name": "mlp", "depth": 1.5}, "depth", POSITIVE_INT),
    ({"name": "mlp", "lipschitz": 0.0}, "lipschitz", POSITIVE),
    ({"name": "mlp", "lipschitz": -1.0}, "lipschitz", POSITIVE),
    ({"name": "mlp", "lipschitz": math.nan}, "lipschitz", POSITIVE),
    ({"name": "band-limited", "bandwidth": -1}, "bandwidth", NONNEG),
    ({"name": "band-limited", "bandwidth": 1.5}, "bandwidth", NONNEG_INT),
    ({"name": "random-features", "bandwidth": 0.0}, "bandwidth", POSITIVE),
    ({"name": "random-features", "num_features": 0}, "num_features", POSITIVE_INT),
    ({"init_scale": 0.0}, "init_scale", POSITIVE),
    ({"init_scale": -0.1}, "init_scale", POSITIVE),
    ({"init_scale": math.nan}, "init_scale", POSITIVE),
    ({"seeds": -1}, "seeds", NONNEG_INT),
    ({"seeds": [0, 1.5]}, "seeds", NONNEG_INT),
    ({"seeds": []}, "seeds", r"at least one ensemble member"),
    # a capacity argument the chosen class ignores is still checked
    ({"name": "lookup", "width": 0}, "width", POSITIVE_INT),
    ({"name": "linear", "lipschitz": -2.0}, "lipschitz", POSITIVE),
]


@pytest.mark.parametrize("change,name,allowed", FUNCTION_CASES, ids=[repr(c) for c, _, _ in FUNCTION_CASES])
def test_make_function_class_rejects_invalid_arguments(change, name, allowed):
    with raises(name, allowed):
        make_function_class(**{"name": "lookup", "data": SMALL, "dim": 2, **change})


def test_make_function_class_accepts_numpy_integer_seeds():
    model = make_function_class("lookup", SMALL, 2, seeds=np.int64(3))
    assert model.ensemble == 1
    assert make_function_class("lookup", SMALL, 2, seeds=np.arange(3)).ensemble == 3


def test_band_limited_needs_a_circle_style():
    finite = comb_dataset(2, 2, 2, style_space="finite")
    with pytest.raises(ValueError, match="style_space='circle'"):
        make_function_class("band-limited", finite, 2)


@pytest.mark.parametrize("name", ["band-limited", "linear", "mlp", "lookup"])
def test_model_initialisation_is_seeded_per_member(name):
    data = comb_dataset(4, 2, 2, observation="embedding", obs_dim=8)
    ensemble = make_function_class(name, data, 2, seeds=[5, 6])
    scramble_global_rngs()
    again = make_function_class(name, data, 2, seeds=[5, 6])
    alone = make_function_class(name, data, 2, seeds=[6])
    for a, b in zip(ensemble.parameters(), again.parameters()):
        assert torch.equal(a, b)
    with torch.no_grad():
        scores = ensemble.scores()
        torch.testing.assert_close(scores[1:], alone.scores(), rtol=0, atol=0)  # member 1 = seed 6 alone
        assert not torch.equal(scores[0], scores[1])
