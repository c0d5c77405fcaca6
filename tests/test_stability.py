"""Issue 8.2: no NaN or inf at extreme settings (beta up to 50 and beyond, hard annealing, degenerate codes).

The losses themselves are covered in tests/losses/test_numerics.py; here: the trainer, its
relaxation, the exact population loss and the metrics.
"""

import math
import warnings

import numpy as np
import pytest
import torch

from clustertheory.analysis.exact_loss import laplace_log1p_sum, population_infonce, uniform_minimum
from clustertheory.analysis.hypercube import vertex_codes
from clustertheory.analysis.metrics import (
    alignment_error,
    cluster_agreement,
    cluster_purity,
    preserves_clusters,
    mean_hamming_alignment,
    natural_vertex_law,
    uniformity,
)
from clustertheory.data import comb_dataset
from clustertheory.functions import make_function_class
from clustertheory.training import TrainConfig, relax, train
from clustertheory.training.trainer import default_evaluator

DATA = comb_dataset(num_clusters=4, points_per_cluster=2, teeth=2)


# ----------------------------------------------------------------------------- trainer


@pytest.mark.parametrize("relaxation", ["tanh", "ste"])
@pytest.mark.parametrize("beta,negatives", [(50.0, "iid"), (100.0, "iid"), (50.0, "in-batch")])
def test_trainer_at_large_beta_and_hard_annealing_stays_finite(relaxation, beta, negatives):
    """beta = 50 / 100 (temperature 0.02 / 0.01), sharpness annealed to 1e4: every logged loss,
    gradient and parameter finite; codes are valid vertices; metrics in range."""
    d, K = 2, 8
    model = make_function_class("band-limited", DATA, d, seeds=[0, 1], bandwidth=2)
    config = TrainConfig(
        steps=40, batch_size=16, num_negatives=K, beta=beta, anneal_end=1e4, relaxation=relaxation, negative_mode=negatives, log_every=10
    )
    gradients_finite = []

    def check_gradients(step, model, sharpness):
        gradients_finite.append(all(bool(torch.isfinite(p.grad).all()) for p in model.parameters()))

    result = train(model, DATA, config, seed=0, on_log=check_gradients)
    assert gradients_finite == [True] * 4
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    assert result.codes.dtype == np.int8 and result.codes.shape == (2, DATA.num_views, d)
    assert set(np.unique(result.codes)) <= {-1, 1}
    candidates = K if negatives == "iid" else config.batch_size - 1
    # ||z||^2 = d for every relaxed code, so |z.(z_i - z+)| <= 2d and 0 < loss <= log(1 + K) + 2 beta d
    upper = math.log1p(candidates) + 2 * beta * d
    assert len(result.history) == 8
    for row in result.history:
        assert math.isfinite(row["train_loss"]) and 0.0 <= row["train_loss"] <= upper
        assert 0.0 <= row["alignment_error"] <= 1.0
        assert 0.0 < row["min_purity"] <= 1.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("relaxation", ["tanh", "ste"])
def test_relaxation_is_finite_for_zero_tiny_and_huge_scores(dtype, relaxation):
    """The relaxed code and its gradient stay finite for sharpness up to 1e6 and scores from 0 to 1e30."""
    d = 3
    scores = torch.tensor([[0.0, 0.0, 0.0], [1e-30, -1e-30, 0.0], [1e-3, -2e-3, 5e-4], [1e30, -1e30, 1.0]], dtype=torch.float64)
    for sharpness in (1.0, 1e4, 1e6):
        leaf = scores.to(dtype).requires_grad_(True)
        z = relax(leaf, sharpness, relaxation)
        (z * torch.arange(1.0, d + 1, dtype=dtype)).sum().backward()
        assert torch.isfinite(z).all() and torch.isfinite(leaf.grad).all(), (sharpness, z, leaf.grad)
        norms = z[2:].double().norm(dim=-1)
        # scores that are not vanishingly small give codes on the sphere of radius sqrt(d)
        torch.testing.assert_close(norms, torch.full_like(norms, math.sqrt(d)), rtol=2e-2, atol=0.0)


# ----------------------------------------------------------------------------- exact population loss


def _codes(kind: str, d: int, seed: int = 0) -> np.ndarray:
    vertices = vertex_codes(d)
    if kind == "uniform cluster code":
        return vertices[DATA.content % 2**d]
    if kind == "constant":
        return np.ones((DATA.num_views, d))
    return vertices[np.random.default_rng(seed).integers(0, 2**d, DATA.num_views)]


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("l", [1, 8])
@pytest.mark.parametrize("method", ["multinomial", "laplace"])
def test_exact_population_loss_at_beta_50_is_finite_and_above_the_minimum(d, l, method):
    beta = 50.0
    minimum = uniform_minimum(d, l, beta, method)
    assert math.isfinite(minimum) and minimum > 0
    values = {kind: population_infonce(_codes(kind, d), DATA, l, beta, method) for kind in ("uniform cluster code", "constant", "random")}
    for kind, value in values.items():
        assert math.isfinite(value), kind
        assert value >= minimum * (1 - 1e-12), (kind, value, minimum)
    # the constant code: every negative collides with the anchor, log(1 + l) exactly
    assert values["constant"] == pytest.approx(math.log1p(l), rel=1e-12)
    if d == 2:  # 4 clusters on the 4 vertices of H_2: uniform and cluster-preserving, so minimal
        assert values["uniform cluster code"] == pytest.approx(minimum, rel=1e-10)
    # the random code splits augmentation sets: alignment costs about 2 beta per mismatch
    assert values["random"] > values["constant"]


def test_laplace_primitive_gradient_is_finite_at_beta_50():
    """The differentiable path (used by the blurring search) at beta = 50, d = 6, l = 64."""
    d, l, beta = 6, 64, 50.0
    h = torch.arange(d + 1, dtype=torch.float64)
    log_ratio = -2.0 * beta * h
    probs = torch.distributions.Binomial(d, torch.tensor(0.5, dtype=torch.float64)).log_prob(h).exp()
    probs = torch.stack([probs, torch.nn.functional.one_hot(torch.tensor(d), d + 1).double()]).requires_grad_(True)
    value = laplace_log1p_sum(log_ratio, probs, l)
    value.sum().backward()
    assert torch.isfinite(value).all() and torch.isfinite(probs.grad).all()
    assert value[0].item() == pytest.approx(uniform_minimum(d, l, beta), rel=1e-10)
    assert value[1].item() == pytest.approx(math.log1p(l * math.exp(-2 * beta * d)), rel=1e-6)


# ----------------------------------------------------------------------------- metrics on degenerate codes


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("data", [DATA, comb_dataset(num_clusters=1, points_per_cluster=3, teeth=2)], ids=["4 clusters", "1 cluster"])
def test_metrics_on_codes_that_put_every_view_on_one_vertex(d, data):
    codes = -np.ones((data.num_views, d))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division-by-zero or invalid-value warnings either
        law = natural_vertex_law(codes, data)
        stats = uniformity(law)
        agreement = cluster_agreement(codes, data)
        purity = cluster_purity(codes, data)
        evaluated = default_evaluator(data)(codes[None].astype(np.int8))
    assert law[2**d - 1] == pytest.approx(1.0) and law.sum() == pytest.approx(1.0)
    assert alignment_error(codes, data) == 0.0 and mean_hamming_alignment(codes, data) == 0.0
    np.testing.assert_array_equal(purity, np.ones(data.num_clusters))
    assert stats["tv"] == pytest.approx(1 - 2.0**-d)
    assert stats["kl"] == pytest.approx(d * math.log(2)) and stats["entropy_gap"] == pytest.approx(d * math.log(2))
    assert stats["collision_excess"] == pytest.approx(1 - 2.0**-d)
    assert all(math.isfinite(v) for v in (*stats.values(), *agreement.values()))
    if data.num_clusters > 1:
        assert agreement["ari"] == pytest.approx(0.0, abs=1e-12) and agreement["ami"] == pytest.approx(0.0, abs=1e-12)
    # pure clusters, but on one shared vertex: preserving only when distinct vertices are not required
    assert preserves_clusters(codes, data, distinct=False)
    assert preserves_clusters(codes, data) == (data.num_clusters == 1 or data.num_clusters > 2**d)
    assert evaluated == [{"alignment_error": 0.0, "min_purity": 1.0}]
