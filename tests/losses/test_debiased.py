"""debiased / hard_debiased (log space) against Robinson et al.'s float64 exp-space code."""

import math

import pytest
import torch

from clustertheory.losses import debiased, hard_debiased, infonce
from clustertheory.losses.debiased import debiased_from_similarities

from . import references as ref


def draw(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def batch(n_neg, seed=0, b=6, d=5, aligned=0.0, dtype=torch.float64):
    """Anchors, positives pulled towards the anchor by ``aligned``, and random negatives."""
    a = draw(b, d, seed=seed, dtype=dtype)
    p = aligned * a + draw(b, d, seed=seed + 1, dtype=dtype)
    return a, p, draw(b, n_neg, d, seed=seed + 2, dtype=dtype)


@pytest.mark.parametrize("n_neg", [1, 4, 16])
@pytest.mark.parametrize("tau_plus", [0.0, 0.05, 0.3, 0.9])
@pytest.mark.parametrize("hardness", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("aligned", [0.0, 3.0])
def test_matches_exp_space_reference(n_neg, tau_plus, hardness, aligned):
    a, p, n = batch(n_neg, seed=n_neg, aligned=aligned)
    expected, _ = ref.debiased_exp_space(a, p, n, 0.5, tau_plus, hardness)
    got = hard_debiased(a, p, n, temperature=0.5, tau_plus=tau_plus, hardness=hardness, reduction="none")
    assert got.tolist() == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_reference_grid_exercises_both_sides_of_the_floor():
    """The grid above is only a check of the clamp if the clamp is active for some rows and not others."""
    flags = []
    for n_neg, tau_plus, aligned in [(4, 0.9, 3.0), (16, 0.3, 3.0), (4, 0.05, 0.0)]:
        a, p, n = batch(n_neg, seed=n_neg, aligned=aligned)
        flags += ref.debiased_exp_space(a, p, n, 0.5, tau_plus)[1]
    assert any(flags) and not all(flags)


@pytest.mark.parametrize("tau_plus", [0.0, 0.1, 0.6])
@pytest.mark.parametrize("normalize", [True, False])
def test_debiased_matches_reference_and_equals_hardness_zero(tau_plus, normalize):
    a, p, n = batch(7, seed=3, aligned=1.0)
    expected, _ = ref.debiased_exp_space(a, p, n, 0.5, tau_plus, 0.0, normalize)
    got = debiased(a, p, n, temperature=0.5, tau_plus=tau_plus, normalize=normalize, reduction="none")
    assert got.tolist() == pytest.approx(expected, rel=1e-9, abs=1e-12)
    torch.testing.assert_close(
        hard_debiased(a, p, n, temperature=0.5, tau_plus=tau_plus, hardness=0.0, normalize=normalize, reduction="none"),
        got,
    )


@pytest.mark.parametrize("temperature", [0.2, 0.5, 1.0])
def test_no_debiasing_no_hardness_is_infonce(temperature):
    """Above the floor (which InfoNCE does not have), tau+ = 0, hardness = 0 is plain InfoNCE."""
    a, p, n = batch(9, seed=4)
    got = hard_debiased(a, p, n, temperature=temperature, tau_plus=0.0, hardness=0.0, reduction="none")
    torch.testing.assert_close(got, infonce(a, p, n, temperature=temperature, reduction="none"))


@pytest.mark.parametrize("tau_plus", [0.0, 0.4])
@pytest.mark.parametrize("hardness", [0.0, 3.0])
def test_identical_embeddings_give_log_n_plus_one(tau_plus, hardness):
    v = draw(1, 4, seed=0).expand(3, 4)
    loss = hard_debiased(v, v, v.unsqueeze(1).expand(3, 6, 4), tau_plus=tau_plus, hardness=hardness)
    assert loss.item() == pytest.approx(math.log(7), rel=1e-12)


def test_negative_permutation_invariance_and_batch_equivariance():
    a, p, n = batch(8, seed=5, aligned=1.0)
    base = hard_debiased(a, p, n, tau_plus=0.2, hardness=1.5, reduction="none")
    shuffled = n[:, torch.randperm(8, generator=torch.Generator().manual_seed(0))]
    torch.testing.assert_close(hard_debiased(a, p, shuffled, tau_plus=0.2, hardness=1.5, reduction="none"), base)
    order = torch.randperm(6, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(
        hard_debiased(a[order], p[order], n[order], tau_plus=0.2, hardness=1.5, reduction="none"), base[order]
    )


@pytest.mark.parametrize("tau_plus", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("hardness", [0.0, 1.0, 50.0])
@pytest.mark.parametrize("aligned", [0.0, 5.0])
def test_finite_at_low_temperature_in_float32(tau_plus, hardness, aligned):
    a, p, n = (x.requires_grad_(True) for x in batch(32, seed=6, aligned=aligned, dtype=torch.float32))
    loss = hard_debiased(a, p, n, temperature=0.01, tau_plus=tau_plus, hardness=hardness)
    loss.backward()
    assert torch.isfinite(loss)
    for x in (a, p, n):
        assert torch.isfinite(x.grad).all()
    exact = hard_debiased(*(x.detach().double() for x in (a, p, n)), temperature=0.01, tau_plus=tau_plus, hardness=hardness)
    assert loss.item() == pytest.approx(exact.item(), rel=1e-3, abs=1e-3)


def test_float32_low_temperature_agrees_with_float64_exp_space():
    """t = 0.05 keeps exp() inside float64, so the exp-space formula is an exact referee."""
    a, p, n = batch(10, seed=7, aligned=2.0)
    expected, _ = ref.debiased_exp_space(a, p, n, 0.05, 0.1, 2.0)
    got = hard_debiased(a.float(), p.float(), n.float(), temperature=0.05, tau_plus=0.1, hardness=2.0, reduction="none")
    assert got.tolist() == pytest.approx(expected, rel=1e-4, abs=1e-4)


def test_gradcheck():
    a, p, n = (x.requires_grad_(True) for x in batch(3, seed=8, b=3, d=4, aligned=1.0))
    assert torch.autograd.gradcheck(lambda x, y, z: debiased(x, y, z, tau_plus=0.1), (a, p, n))
    assert torch.autograd.gradcheck(lambda x, y, z: hard_debiased(x, y, z, tau_plus=0.1, hardness=1.3), (a, p, n))


@pytest.mark.parametrize("n_neg, tau_plus, aligned", [(4, 0.9, 3.0), (16, 0.3, 3.0), (4, 0.05, 0.0), (8, 0.0, 3.0)])
@pytest.mark.parametrize("hardness", [0.0, 1.5])
def test_floor_flags_match_the_reference_clamp(n_neg, tau_plus, aligned, hardness):
    a, p, n = batch(n_neg, seed=n_neg, aligned=aligned)
    _, clamped = ref.debiased_exp_space(a, p, n, 0.5, tau_plus, hardness)
    unit = torch.nn.functional.normalize
    positive = (unit(a, dim=-1) * unit(p, dim=-1)).sum(-1)
    negatives = torch.einsum("bd,bnd->bn", unit(a, dim=-1), unit(n, dim=-1))
    rows, floor = debiased_from_similarities(positive, negatives, temperature=0.5, tau_plus=tau_plus, hardness=hardness)
    assert floor.tolist() == clamped
    torch.testing.assert_close(rows, hard_debiased(a, p, n, temperature=0.5, tau_plus=tau_plus, hardness=hardness, reduction="none"))


def test_similarities_take_leading_dimensions():
    positive, negatives = draw(2, 3).tanh(), draw(2, 3, 5, seed=1).tanh()
    rows, floor = debiased_from_similarities(positive, negatives, temperature=0.2, tau_plus=0.3, hardness=1.0)
    assert rows.shape == floor.shape == (2, 3)
    flat, _ = debiased_from_similarities(positive.reshape(6), negatives.reshape(6, 5), temperature=0.2, tau_plus=0.3, hardness=1.0)
    torch.testing.assert_close(rows.reshape(6), flat)
    with pytest.raises(ValueError, match="negatives must have shape"):
        debiased_from_similarities(positive, negatives[:1])


def test_detached_weights_keep_the_value_and_change_the_gradient():
    a, p, n = (x.requires_grad_(True) for x in batch(6, seed=9, aligned=1.0))
    hcl = hard_debiased(a, p, n, temperature=0.5, tau_plus=0.1, hardness=2.0)
    detached = hard_debiased(a, p, n, temperature=0.5, tau_plus=0.1, hardness=2.0, detach_weights=True)
    assert hcl.item() == pytest.approx(detached.item(), rel=1e-12)
    assert not torch.allclose(torch.autograd.grad(hcl, a)[0], torch.autograd.grad(detached, a)[0])


def test_detached_weights_are_importance_weights_held_constant():
    """The detached gradient is that of log(pos + (sum_j w_j e^{s_j/t} - tau+ N pos)/(1 - tau+)) with w fixed."""
    a, p, n = batch(5, seed=10, aligned=2.0)
    a.requires_grad_(True)
    t, tau_plus, h = 0.5, 0.1, 2.0
    unit = torch.nn.functional.normalize
    with torch.no_grad():
        x = torch.einsum("bd,bnd->bn", unit(a, dim=-1), unit(n, dim=-1)) / t
        w = torch.softmax(h * x, dim=1) * x.shape[1]
    pos = torch.exp((unit(a, dim=-1) * unit(p, dim=-1)).sum(-1) / t)
    s = (w * torch.exp(torch.einsum("bd,bnd->bn", unit(a, dim=-1), unit(n, dim=-1)) / t)).sum(1)
    ng = torch.clamp((s - tau_plus * 5 * pos) / (1 - tau_plus), min=5 * math.exp(-1 / t))
    manual = torch.autograd.grad((-torch.log(pos / (pos + ng))).mean(), a)[0]
    got = torch.autograd.grad(hard_debiased(a, p, n, temperature=t, tau_plus=tau_plus, hardness=h, detach_weights=True), a)[0]
    torch.testing.assert_close(got, manual)


def test_per_anchor_settings_equal_one_call_per_setting():
    """tau_plus, hardness and detach_weights given per anchor: each row is the scalar call's row,
    in value, floor flag and gradient."""
    settings = [(0.0, 0.0, False), (0.3, 0.0, False), (0.0, 1.5, False), (0.3, 1.5, False), (0.3, 1.5, True)]
    positive = draw(5, 4, seed=30).tanh().requires_grad_(True)
    negatives = draw(5, 4, 6, seed=31).tanh().requires_grad_(True)
    tau, hardness, detach = (torch.tensor([s[i] for s in settings])[:, None].expand(5, 4) for i in range(3))
    rows, floor = debiased_from_similarities(positive, negatives, temperature=0.5, tau_plus=tau, hardness=hardness.double(), detach_weights=detach)
    grads = torch.autograd.grad(rows.sum(), (positive, negatives))
    for i, (t, h, d) in enumerate(settings):
        single, single_floor = debiased_from_similarities(positive[i], negatives[i], temperature=0.5, tau_plus=t, hardness=h, detach_weights=d)
        torch.testing.assert_close(rows[i], single)
        assert floor[i].tolist() == single_floor.tolist()
        single_grads = torch.autograd.grad(single.sum(), (positive, negatives))
        torch.testing.assert_close(grads[0][i], single_grads[0][i])
        torch.testing.assert_close(grads[1][i], single_grads[1][i])
    with pytest.raises(ValueError, match="tau_plus"):
        debiased_from_similarities(positive, negatives, tau_plus=torch.full((5, 4), 1.0))
