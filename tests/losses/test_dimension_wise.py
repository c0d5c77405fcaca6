"""dimension_wise (SimCSE++) and barlow_decorrelation against loop references."""

import math

import pytest
import torch

from clustertheory.losses import barlow_decorrelation, cross_correlation, dimension_wise

from . import references as ref


def draw(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("n", [2, 5, 12])
@pytest.mark.parametrize("d", [2, 6])
@pytest.mark.parametrize("temperature_d", [0.1, 5.0])
def test_dimension_wise_matches_reference(n, d, temperature_d):
    z1 = draw(n, d, seed=1)
    z2 = z1 + 0.5 * draw(n, d, seed=2)
    got = dimension_wise(z1, z2, temperature_d)
    assert got.item() == pytest.approx(ref.dimension_wise(z1, z2, temperature_d), rel=1e-10)


@pytest.mark.parametrize("n", [2, 9])
@pytest.mark.parametrize("d", [1, 4])
@pytest.mark.parametrize("lambda_offdiag", [0.0, 5e-3, 1.0])
def test_barlow_matches_reference(n, d, lambda_offdiag):
    z1, z2 = draw(n, d, seed=3), draw(n, d, seed=4)
    got = barlow_decorrelation(z1, z2, lambda_offdiag)
    assert got.item() == pytest.approx(ref.barlow(z1, z2, lambda_offdiag), rel=1e-10)


def test_uncorrelated_views_give_log_d():
    """C = 0 (chance): view 2's columns orthogonal to all of view 1's -> log d."""
    h2 = torch.tensor([[1, 1], [1, -1]], dtype=torch.float64)
    hadamard = torch.kron(torch.kron(h2, h2), h2)  # 8 x 8, columns 1..7 centred and orthogonal
    z1, z2 = hadamard[:, 1:4], hadamard[:, 4:7]
    assert cross_correlation(z1, z2).abs().max() < 1e-12
    assert dimension_wise(z1, z2).item() == pytest.approx(math.log(3), rel=1e-12)


def test_decorrelated_identical_views_have_closed_form():
    signs = torch.tensor([[1, 1, 1], [-1, 1, -1], [1, -1, -1], [-1, -1, 1]], dtype=torch.float64)
    tau = 2.0
    c = 1 / (1 + 1e-5)  # standardisation divides by sqrt(var + eps) with var = 1
    expected = -c / tau + math.log(math.exp(c / tau) + 2)
    assert dimension_wise(signs, signs, tau).item() == pytest.approx(expected, rel=1e-12)
    assert barlow_decorrelation(signs, signs).item() == pytest.approx(3 * (1 - c) ** 2, rel=1e-9)


def test_dimension_permutation_equivariance_and_batch_invariance():
    z1, z2 = draw(10, 5, seed=5), draw(10, 5, seed=6)
    dims = torch.randperm(5, generator=torch.Generator().manual_seed(0))
    rows = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    base = dimension_wise(z1, z2)
    torch.testing.assert_close(dimension_wise(z1[:, dims], z2[:, dims]), base)
    torch.testing.assert_close(dimension_wise(z1[rows], z2[rows]), base)
    torch.testing.assert_close(barlow_decorrelation(z1[rows][:, dims], z2[rows][:, dims]), barlow_decorrelation(z1, z2))


def test_barlow_cannot_reach_zero_with_fewer_rows_than_dimensions():
    """The rank bottleneck the SimCSE++ comparison is about: N <= d keeps C away from I."""
    z = draw(4, 6, seed=7)
    # ||C - I||_F^2 >= d - rank(C) >= d - (N - 1) = 3 (lambda = 1 weighs every entry)
    assert barlow_decorrelation(z, z, 1.0).item() >= 3 - 1e-9


def test_gradcheck():
    z1, z2 = draw(5, 3, seed=8).requires_grad_(True), draw(5, 3, seed=9).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, y: dimension_wise(x, y, 0.5), (z1, z2))
    assert torch.autograd.gradcheck(lambda x, y: barlow_decorrelation(x, y, 0.1), (z1, z2))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_runs_in_float32(dtype):
    z1, z2 = draw(16, 8, seed=10, dtype=torch.float32), draw(16, 8, seed=11, dtype=torch.float32)
    got = dimension_wise(z1.to(dtype), z2.to(dtype))
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(dimension_wise(z1, z2).item(), rel=1e-2)


def test_leading_dimensions_are_independent_batches():
    z1, z2 = draw(3, 7, 5, seed=21), draw(3, 7, 5, seed=22)
    dims, barlows = dimension_wise(z1, z2, temperature_d=0.5), barlow_decorrelation(z1, z2, lambda_offdiag=0.3)
    assert dims.shape == (3,) and barlows.shape == (3,)
    for e in range(3):
        assert dims[e].item() == pytest.approx(dimension_wise(z1[e], z2[e], temperature_d=0.5).item(), rel=1e-12)
        assert barlows[e].item() == pytest.approx(barlow_decorrelation(z1[e], z2[e], lambda_offdiag=0.3).item(), rel=1e-12)
    torch.testing.assert_close(cross_correlation(z1, z2)[1], cross_correlation(z1[1], z2[1]))
