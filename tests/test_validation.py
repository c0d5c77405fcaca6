"""Issue 8.1: every invalid value raises a ValueError naming the parameter and its allowed range,
before any work starts. Losses are covered in tests/losses/test_validation.py."""

import dataclasses
import math
from numbers import Real

import numpy as np
import pytest
import torch

from clustertheory.analysis.exact_loss import monte_carlo_code_infonce, population_infonce, uniform_minimum
from clustertheory.analysis.hypercube import MAX_EXACT_DIM
from clustertheory.analysis.metrics import alignment_error, cluster_purity, preserves_clusters, natural_vertex_law, uniformity, vertex_law
from clustertheory.data import PairSampler, comb_dataset, jitter_dataset
from clustertheory.functions import make_function_class
from clustertheory.simulation import SimulationConfig, discover
from clustertheory.training import TrainConfig, train

DATA = comb_dataset(num_clusters=2, points_per_cluster=2, teeth=2)
POSITIVE_INT = r"positive integer \(>= 1\)"
NONNEG_INT = r"non-negative integer \(>= 0\)"
POSITIVE = r"finite number > 0"
NONNEG = r"finite number >= 0"
ONE_OF = r"must be one of \["


def raises(name: str, allowed: str):
    """pytest.raises(ValueError) whose message names the parameter and then states the allowed range."""
    return pytest.raises(ValueError, match=rf"{name}(?!\w).*{allowed}")


# ----------------------------------------------------------------------------- TrainConfig / train

TRAIN_CONFIG_CASES = [
    ("steps", 0, POSITIVE_INT),
    ("steps", 2.5, POSITIVE_INT),
    ("steps", True, POSITIVE_INT),
    ("batch_size", 0, POSITIVE_INT),
    ("num_negatives", 0, POSITIVE_INT),
    ("num_negatives", -3, POSITIVE_INT),
    ("beta", 0.0, POSITIVE),
    ("beta", -1.0, POSITIVE),
    ("beta", math.inf, POSITIVE),
    ("beta", math.nan, POSITIVE),
    ("beta", "2", POSITIVE),
    ("lr", 0.0, POSITIVE),
    ("lr", -0.1, POSITIVE),
    ("optimizer", "lbfgs", ONE_OF),
    ("relaxation", "sigmoid", ONE_OF),
    ("anneal_start", 0.0, POSITIVE),
    ("anneal_end", -30.0, POSITIVE),
    ("anneal_end", math.inf, POSITIVE),
    ("negative_mode", "hard", ONE_OF),
    ("log_every", 0, POSITIVE_INT),
]


@pytest.mark.parametrize("field,value,allowed", TRAIN_CONFIG_CASES, ids=[f"{f}={v!r}" for f, v, _ in TRAIN_CONFIG_CASES])
def test_train_config_rejects_invalid_values(field, value, allowed):
    with raises(field, allowed):
        TrainConfig(**{field: value})


def test_train_config_is_frozen_and_checks_consistency():
    config = TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.beta = 3.0
    with pytest.raises(ValueError, match=r"batch_size must be >= 2 for in-batch negatives"):
        TrainConfig(negative_mode="in-batch", batch_size=1)
    assert TrainConfig(negative_mode="in-batch", batch_size=2).batch_size == 2


def _parameters(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"seed": -1}, rf"seed must be a {NONNEG_INT}"),
        ({"seed": 1.5}, rf"seed must be a {NONNEG_INT}"),
        ({"data": comb_dataset(3, 2, 2)}, r"model must score the 12 views of data, got a model over 8 views"),
    ],
)
def test_train_rejects_bad_seed_and_mismatched_model_before_any_step(kwargs, match):
    model = make_function_class("lookup", DATA, 2)
    before = _parameters(model)
    args = {"data": DATA, "config": TrainConfig(steps=2, batch_size=4, num_negatives=2), "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        train(model, **args)
    assert all(torch.equal(a, b) for a, b in zip(before, _parameters(model)))  # nothing was trained


# ----------------------------------------------------------------------------- data generators

COMB_CASES = [
    ({"num_clusters": 0}, "num_clusters", POSITIVE_INT),
    ({"num_clusters": 2.0}, "num_clusters", POSITIVE_INT),
    ({"points_per_cluster": 0}, "points_per_cluster", POSITIVE_INT),
    ({"teeth": 0}, "teeth", POSITIVE_INT),
    ({"teeth": -2}, "teeth", POSITIVE_INT),
    ({"leak": -0.1}, "leak", r"in \[0, 1\]"),
    ({"leak": 1.5}, "leak", r"in \[0, 1\]"),
    ({"noise": math.nan}, "noise", r"in \[0, 1\]"),
    ({"leak": 0.6, "noise": 0.6}, "leak \\+ noise", r"<= 1"),
    ({"num_clusters": 1, "noise": 0.1}, "noise", r"num_clusters >= 2"),
    ({"cluster_weights": [1.0]}, "cluster_weights", r"2 positive numbers"),
    ({"cluster_weights": [1.0, -1.0]}, "cluster_weights", r"2 positive numbers"),
    ({"cluster_weights": [1.0, math.nan]}, "cluster_weights", r"2 positive numbers"),
    ({"cluster_weights": [1.0, math.inf]}, "cluster_weights", r"2 positive numbers"),
    ({"observation": "pixels"}, "observation", ONE_OF),
    ({"observation": "embedding", "obs_dim": 0}, "obs_dim", POSITIVE_INT),
    ({"observation": "embedding", "obs_dim": 8.5}, "obs_dim", POSITIVE_INT),
    ({"obs_dim": -1}, "obs_dim", POSITIVE_INT),
    ({"observation": "mlp", "obs_dim": 3}, "obs_dim", r">= 4 \(the latent dimension\)"),
    ({"style_space": "torus"}, "style_space", ONE_OF),
    ({"seed": -1}, "seed", NONNEG_INT),
    ({"observation": "embedding", "seed": -1}, "seed", NONNEG_INT),
]


@pytest.mark.parametrize("change,name,allowed", COMB_CASES, ids=[repr(c) for c, _, _ in COMB_CASES])
def test_comb_dataset_rejects_invalid_arguments(change, name, allowed):
    with raises(name, allowed):
        comb_dataset(**{"num_clusters": 2, "points_per_cluster": 2, "teeth": 2, **change})


JITTER_CASES = [
    ({"num_clusters": 0}, "num_clusters", POSITIVE_INT),
    ({"points_per_cluster": -1}, "points_per_cluster", POSITIVE_INT),
    ({"bins_per_point": 0}, "bins_per_point", POSITIVE_INT),
    ({"width": 0}, "width", POSITIVE_INT),
    ({"width": 6}, "width", r"2\*width \+ 1 <= points_per_cluster\*bins_per_point = 12"),
    ({"cluster_weights": [1.0, 2.0, 3.0]}, "cluster_weights", r"2 positive numbers"),
    ({"observation": "pixels"}, "observation", ONE_OF),
    ({"obs_dim": 0}, "obs_dim", POSITIVE_INT),
    ({"seed": -5}, "seed", NONNEG_INT),
]


@pytest.mark.parametrize("change,name,allowed", JITTER_CASES, ids=[repr(c) for c, _, _ in JITTER_CASES])
def test_jitter_dataset_rejects_invalid_arguments(change, name, allowed):
    with raises(name, allowed):
        jitter_dataset(**{"num_clusters": 2, "points_per_cluster": 3, "bins_per_point": 4, "width": 2, **change})


def test_generators_accept_their_boundary_values():
    assert comb_dataset(1, 1, 1).num_views == 1
    assert comb_dataset(2, 2, 2, leak=0.5, noise=0.5).num_views == 8
    assert jitter_dataset(1, 1, bins_per_point=3, width=1).num_views == 3


# ----------------------------------------------------------------------------- function classes

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
        make_function_class(**{"name": "lookup", "data": DATA, "dim": 2, **change})


def test_make_function_class_accepts_numpy_integer_seeds():
    model = make_function_class("lookup", DATA, 2, seeds=np.int64(3))
    assert model.ensemble == 1
    assert make_function_class("lookup", DATA, 2, seeds=np.arange(3)).ensemble == 3


def test_band_limited_needs_a_circle_style():
    finite = comb_dataset(2, 2, 2, style_space="finite")
    with pytest.raises(ValueError, match="style_space='circle'"):
        make_function_class("band-limited", finite, 2)


# ----------------------------------------------------------------------------- sampler


@pytest.mark.parametrize(
    "kwargs,name,allowed",
    [
        ({"num_negatives": 0}, "num_negatives", POSITIVE_INT),
        ({"negative_mode": "hard"}, "negative_mode", ONE_OF),
        ({"seed": -1}, "seed", NONNEG_INT),
        ({"seed": 0.5}, "seed", NONNEG_INT),
    ],
)
def test_pair_sampler_rejects_invalid_arguments(kwargs, name, allowed):
    with raises(name, allowed):
        PairSampler(DATA, **kwargs)


def test_pair_sampler_rejects_invalid_batches():
    with raises("batch_size", POSITIVE_INT):
        PairSampler(DATA, 2).sample(0)
    with raises("groups", POSITIVE_INT):
        PairSampler(DATA, 2).sample(4, groups=0)
    with pytest.raises(ValueError, match=r"batch_size must be >= 2 for in-batch negatives"):
        PairSampler(DATA, 2, negative_mode="in-batch").sample(1)


# ----------------------------------------------------------------------------- analysis

CODES = np.ones((DATA.num_views, 2))


@pytest.mark.parametrize(
    "call,name,allowed",
    [
        (lambda: population_infonce(np.ones((DATA.num_views, MAX_EXACT_DIM + 1)), DATA, 2, 1.0), r"\(d\)", rf"integer in \[1, {MAX_EXACT_DIM}\]"),
        (lambda: population_infonce(CODES, DATA, 0, 1.0), "num_negatives", POSITIVE_INT),
        (lambda: population_infonce(CODES, DATA, 2, -0.5), "beta", NONNEG),
        (lambda: population_infonce(CODES, DATA, 2, math.nan), "beta", NONNEG),
        (lambda: population_infonce(CODES, DATA, 2, 1.0, method="sampling"), "method", ONE_OF),
        (lambda: population_infonce(CODES[:-1], DATA, 2, 1.0), "codes", r"one row per view \(8\)"),
        (lambda: population_infonce(0.5 * CODES, DATA, 2, 1.0), "codes", r"only -1 and \+1"),
        (lambda: uniform_minimum(0, 2, 1.0), "d", POSITIVE_INT),
        (lambda: uniform_minimum(3, 0, 1.0), "num_negatives", POSITIVE_INT),
        (lambda: uniform_minimum(3, 2, -1.0), "beta", NONNEG),
        (lambda: monte_carlo_code_infonce(CODES, CODES, np.full(8, 1 / 8), CODES, np.full(8, 1 / 8), 2, 1.0, 1), "num_samples", r">= 2"),
    ],
    ids=["d-too-large", "l<1", "beta<0", "beta-nan", "method", "rows", "not-codes", "min-d", "min-l", "min-beta", "mc-samples"],
)
def test_exact_loss_rejects_invalid_arguments(call, name, allowed):
    with raises(name, allowed):
        call()


@pytest.mark.parametrize(
    "call,name,allowed",
    [
        (lambda: alignment_error(np.ones((DATA.num_views, MAX_EXACT_DIM + 1)), DATA), r"\(d\)", rf"integer in \[1, {MAX_EXACT_DIM}\]"),
        (lambda: cluster_purity(np.zeros((DATA.num_views, 2)), DATA), "codes", r"only -1 and \+1"),
        (lambda: natural_vertex_law(CODES[:3], DATA), "codes", r"one row per view \(8\)"),
        (lambda: vertex_law(np.ones((2, 2)), [0.5, -0.5]), "weights", r"non-negative"),
        (lambda: vertex_law(np.ones((2, 2)), [1.0]), "weights", r"shape \(2,\)"),
        (lambda: uniformity([0.2, 0.2, 0.2]), "law", r"length 2\^d"),
        (lambda: uniformity([0.5, 0.6]), "law", r"sum to 1"),
        (lambda: uniformity(np.full(2 ** (MAX_EXACT_DIM + 1), 2.0 ** -(MAX_EXACT_DIM + 1))), r"\(d\)", rf"integer in \[1, {MAX_EXACT_DIM}\]"),
        (lambda: preserves_clusters(CODES, DATA, tol=1.0), "tol", r"in \[0, 1\)"),
        (lambda: preserves_clusters(CODES, DATA, tol=-0.1), "tol", r"in \[0, 1\)"),
    ],
    ids=["d-too-large", "not-codes", "rows", "neg-weights", "weight-shape", "law-length", "law-sum", "law-d-too-large", "tol=1", "tol<0"],
)
def test_metrics_reject_invalid_arguments(call, name, allowed):
    with raises(name, allowed):
        call()


# ----------------------------------------------------------------------------- simulations

# Fields that legitimately take negative values: {(simulation NAME, field): why}.
ACCEPTS_NEGATIVE: dict[tuple[str, str], str] = {}


def _simulations() -> dict:
    try:
        return discover()
    except Exception as error:  # noqa: BLE001 - reported by test_every_simulation_imports, not at collection
        return {"<discover failed>": error}


SIMULATIONS = _simulations()


def _numeric(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _positive_fields() -> list[tuple[str, str]]:
    """(simulation, field) for every int/float field (or tuple of them) whose default is > 0."""
    cases = []
    for name, module in SIMULATIONS.items():
        if not hasattr(module, "SCALES"):
            continue
        default = module.SCALES.get("default")
        for field in dataclasses.fields(default) if dataclasses.is_dataclass(default) else []:
            value = getattr(default, field.name)
            items = value if isinstance(value, tuple) and value else (value,)
            if field.name != "seed" and all(_numeric(v) and v > 0 for v in items):
                cases.append((name, field.name))
    return cases


def test_every_simulation_imports():
    failed = SIMULATIONS.get("<discover failed>")
    assert failed is None, f"discover() raised {failed!r}"
    assert SIMULATIONS, "no simulation was discovered"


@pytest.mark.parametrize("name", sorted(n for n in SIMULATIONS if not n.startswith("<")))
def test_simulation_module_follows_the_contract(name):
    module = SIMULATIONS[name]
    assert module.NAME == name
    assert isinstance(module.SUMMARY, str) and module.SUMMARY.strip() and "\n" not in module.SUMMARY
    assert (module.__doc__ or "").strip(), "the module docstring states the claim"
    assert issubclass(module.Config, SimulationConfig)
    assert dataclasses.is_dataclass(module.Config) and module.Config.__dataclass_params__.frozen
    for attribute in ("run", "verdict", "plot"):
        assert callable(getattr(module, attribute, None)), attribute
    assert "default" in module.SCALES
    for scale, config in module.SCALES.items():
        assert type(config) is module.Config, scale
        assert dataclasses.replace(config) == config  # every scale validates again
    with pytest.raises(dataclasses.FrozenInstanceError):
        module.SCALES["default"].seed = 1


@pytest.mark.parametrize("name", sorted(n for n in SIMULATIONS if not n.startswith("<")))
def test_simulation_config_rejects_a_negative_seed(name):
    module = SIMULATIONS[name]
    with raises("seed", NONNEG_INT):
        module.Config(seed=-1)
    with raises("seed", NONNEG_INT):
        module.SCALES["default"].replace(seed=-1)


@pytest.mark.parametrize("name,field", _positive_fields(), ids=[f"{n}.{f}" for n, f in _positive_fields()])
def test_simulation_config_rejects_minus_one_in_positive_fields(name, field):
    """A field whose default is > 0 set to -1 (or (-1,) for a tuple) raises a ValueError naming it."""
    module = SIMULATIONS[name]
    default = getattr(module.SCALES["default"], field)
    first = default[0] if isinstance(default, tuple) else default
    bad = -1 if isinstance(first, int) else -1.0
    bad = (bad,) if isinstance(default, tuple) else bad
    if (name, field) in ACCEPTS_NEGATIVE:
        assert module.SCALES["default"].replace(**{field: bad}) is not None
        return
    with pytest.raises(ValueError) as error:
        module.SCALES["default"].replace(**{field: bad})
    assert field in str(error.value), f"message does not name {field}: {error.value}"
