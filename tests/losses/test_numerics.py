"""Extreme settings in float32 (temperature 0.01, beta 50) and a float16 / bfloat16 sweep."""

import pytest
import torch

from clustertheory.losses import (
    decoupled,
    dimension_wise,
    hypercube_infonce,
    infonce,
    dropout_infonce,
    supcon_out,
)


def draw(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def leaves(*tensors):
    return [t.clone().requires_grad_(True) for t in tensors]


def assert_finite_with_gradients(loss, inputs):
    loss.backward()
    assert torch.isfinite(loss), loss
    for x in inputs:
        assert torch.isfinite(x.grad).all()


CASES = {
    "infonce explicit": lambda a, p, n: infonce(a, p, n, temperature=0.01),
    "infonce unnormalised": lambda a, p, n: infonce(a, p, n, temperature=0.01, normalize=False),
    "nt-xent": lambda a, p, n: infonce(a, p, temperature=0.01, symmetric=True, same_view_negatives=True),
    "decoupled": lambda a, p, n: decoupled(a, p, temperature=0.01),
    "supcon": lambda a, p, n: supcon_out(torch.cat([a, p]), torch.arange(a.shape[0]).repeat(2), temperature=0.01),
    "off-dropout": lambda a, p, n: dropout_infonce(a, p, n[:, 0], temperature=0.01),
    "dimension-wise": lambda a, p, n: dimension_wise(a, p, 0.01),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("aligned", [0.0, 10.0])
def test_float32_temperature_001_is_finite(name, aligned):
    a = draw(16, 8, seed=1)
    p = aligned * a + draw(16, 8, seed=2)
    a, p, n = leaves(a, p, 3 * draw(16, 32, 8, seed=3))
    loss = CASES[name](a, p, n)
    assert_finite_with_gradients(loss, [a, p] if name != "infonce explicit" else [a, p, n])
    exact = CASES[name](*(x.detach().double() for x in (a, p, n)))
    assert loss.item() == pytest.approx(exact.item(), rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("beta", [1.0, 10.0, 50.0])
def test_hypercube_float32_large_beta_is_finite_and_exact(beta):
    gen = torch.Generator().manual_seed(4)
    shapes = [(32, 16), (32, 16), (32, 8, 16)]
    z, zp, zn = (torch.randint(0, 2, shape, generator=gen).float() * 2 - 1 for shape in shapes)
    z, zp, zn = leaves(z, zp, zn)
    loss = hypercube_infonce(z, zp, zn, beta)
    assert_finite_with_gradients(loss, [z, zp, zn])
    exact = hypercube_infonce(z.detach().double(), zp.detach().double(), zn.detach().double(), beta)
    assert loss.item() == pytest.approx(exact.item(), rel=1e-5)


HALF_CASES = {
    "explicit": lambda a, p, n: infonce(a, p, n, temperature=0.1),
    "in-batch": lambda a, p, n: infonce(a, p, temperature=0.1),
    "nt-xent": lambda a, p, n: infonce(a, p, temperature=0.1, symmetric=True, same_view_negatives=True),
    "low temperature": lambda a, p, n: infonce(a, p, n, temperature=0.01),
    "unnormalised": lambda a, p, n: infonce(a, p, n, temperature=0.5, normalize=False),
}


@pytest.mark.parametrize("name", sorted(HALF_CASES))
@pytest.mark.parametrize("dtype,rel", [(torch.float16, 2e-3), (torch.bfloat16, 2e-2)])
def test_infonce_half_precision_sweep(name, dtype, rel):
    a, p, n = draw(64, 16, seed=5), draw(64, 16, seed=6), draw(64, 32, 16, seed=7)
    p = a + 1.5 * p  # positives about as similar as the hardest negatives: loss of order 1 at every temperature
    reference = HALF_CASES[name](a, p, n)
    half = leaves(a.to(dtype), p.to(dtype), n.to(dtype))
    loss = HALF_CASES[name](*half)
    assert loss.dtype == torch.float32
    # against float32 on the unrounded inputs: only the input rounding differs
    assert loss.item() == pytest.approx(reference.item(), rel=rel)
    # against float32 on the rounded inputs: the reduction itself loses nothing
    rounded = HALF_CASES[name](*(x.detach().float() for x in half))
    assert loss.item() == pytest.approx(rounded.item(), rel=1e-6)
    loss.backward()
    for x in half:
        assert x.grad is None or torch.isfinite(x.grad.float()).all()
