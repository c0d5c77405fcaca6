"""masked_logsumexp / masked_log_softmax: the primitive every loss reduces with."""

import math

import pytest
import torch

from clustertheory.losses import masked_log_softmax, masked_logsumexp
from clustertheory.losses.primitives import reduce_rows

from .references import logsumexp


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (4, 17)])
def test_matches_loop_reference_with_random_mask(shape):
    gen = torch.Generator().manual_seed(sum(shape))
    logits = 3 * torch.randn(*shape, generator=gen, dtype=torch.float64)
    mask = torch.rand(*shape, generator=gen) < 0.6
    mask[:, 0] = True  # every row keeps one entry
    got = masked_logsumexp(logits, mask)
    for b in range(shape[0]):
        kept = [float(logits[b, c]) for c in range(shape[1]) if mask[b, c]]
        assert got[b].item() == pytest.approx(logsumexp(kept), rel=1e-12, abs=1e-12)


def test_no_mask_equals_torch_logsumexp():
    logits = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(masked_logsumexp(logits), torch.logsumexp(logits, dim=1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(7, 33), (64, 1100)], ids=["small: torch's backward", "large: the lean backward"])
def test_value_and_gradient_are_torch_logsumexp_bit_for_bit(dtype, shape):
    """The lean backward must not move a training run by one bit: same value, same gradient."""
    gen = torch.Generator().manual_seed(3)
    logits = (5 * torch.randn(*shape, generator=gen)).to(dtype)
    upstream = torch.randn(shape[0], generator=gen).to(dtype)
    ours, theirs = logits.clone().requires_grad_(True), logits.clone().requires_grad_(True)
    value = masked_logsumexp(ours)
    value.backward(upstream)
    expected = torch.logsumexp(theirs, dim=1)
    expected.backward(upstream)
    assert torch.equal(value, expected) and torch.equal(ours.grad, theirs.grad)


def test_second_derivative_is_refused_not_wrong():
    logits = torch.randn(64, 1100, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(masked_logsumexp(logits).sum(), logits, create_graph=True)
    with pytest.raises(RuntimeError):
        grad.sum().backward()


def test_fully_masked_row_is_finite_with_zero_gradient():
    logits = torch.randn(3, 4, dtype=torch.float32, requires_grad=True)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False
    mask[2, 1:] = False
    out = masked_logsumexp(logits, mask)
    assert torch.isfinite(out).all()
    assert out[1].item() < -1e30
    out[[0, 2]].sum().backward()
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad[~mask] == 0).all()


def test_large_logits_do_not_overflow_in_float32():
    logits = torch.tensor([[1e4, 1e4 - 1.0, -1e4]], dtype=torch.float32)
    got = masked_logsumexp(logits).item()
    assert got == pytest.approx(1e4 + math.log(1 + math.exp(-1.0)), rel=1e-7)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_input_reduces_in_float32(dtype):
    logits = (20 * torch.randn(2, 50, generator=torch.Generator().manual_seed(1))).to(dtype)
    got = masked_logsumexp(logits)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, torch.logsumexp(logits.float(), dim=1))


def test_masked_log_softmax_normalises_over_kept_entries():
    logits = torch.randn(3, 5, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    probabilities = masked_log_softmax(logits, mask).exp() * mask
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(3, dtype=torch.float64))


def test_gradcheck():
    logits = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1, 0, 1], [0, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.bool)
    assert torch.autograd.gradcheck(lambda x: masked_logsumexp(x, mask), (logits,))


def test_bad_shapes_and_reduction_raise():
    with pytest.raises(ValueError, match="logits"):
        masked_logsumexp(torch.zeros(3))
    with pytest.raises(ValueError, match="mask"):
        masked_logsumexp(torch.zeros(2, 3), torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="reduction"):
        reduce_rows(torch.zeros(2), "avg")
