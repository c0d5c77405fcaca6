"""Spectral contrastive losses L_UCL, L_SCL, L_joint: naive references, moment form, gradients."""

import itertools

import numpy as np
import pytest
import torch

from clustertheory.data import CollapseConfig, collapse_dataset
from clustertheory.losses import spectral_contrastive, spectral_joint, spectral_scl, spectral_ucl
from clustertheory.losses.spectral import (
    joint_moments,
    scl_moments,
    spectral_gradient,
    spectral_loss_from_moments,
    ucl_moments,
    with_bias,
)

TINY = CollapseConfig(dim=7, num_features=4, num_originals=6, num_augmentations=3, noise=1.0)


def _embed(views: np.ndarray, Wt: np.ndarray) -> torch.Tensor:
    return torch.tensor(with_bias(views) @ Wt.T)


def _naive_ucl(z: np.ndarray) -> float:
    """Loops over (i, a != a') and all ordered view pairs, float64."""
    n, m, _ = z.shape
    flat = z.reshape(n * m, -1)
    pos = np.mean([z[i, a] @ z[i, b] for i in range(n) for a in range(m) for b in range(m) if a != b])
    neg = np.mean([(u @ v) ** 2 for u, v in itertools.product(flat, flat)])
    return -2 * pos + neg


def _naive_scl(flat: np.ndarray, labels: np.ndarray) -> float:
    """x+ any view of the anchor's class (itself included); negatives all ordered pairs."""
    pos = np.mean([np.mean([flat[i] @ flat[j] for j in np.flatnonzero(labels == labels[i])]) for i in range(len(flat))])
    neg = np.mean([(u @ v) ** 2 for u, v in itertools.product(flat, flat)])
    return -2 * pos + neg


@pytest.fixture(scope="module")
def tiny():
    data = collapse_dataset(TINY, seed=0)
    Wt = np.random.default_rng(1).standard_normal((3, TINY.dim + 1)) * 0.5
    return data, Wt


def test_ucl_matches_naive_loops_and_moment_form(tiny):
    data, Wt = tiny
    z = _embed(data.views, Wt)
    naive = _naive_ucl(z.numpy())
    assert spectral_ucl(z).item() == pytest.approx(naive, rel=1e-10)
    assert spectral_loss_from_moments(Wt, *ucl_moments(data.views)) == pytest.approx(naive, rel=1e-10)


def test_scl_matches_naive_loops_and_moment_form(tiny):
    data, Wt = tiny
    z = _embed(data.views, Wt)
    flat, labels = z.reshape(-1, 3), torch.tensor(np.repeat(data.y, 3))
    naive = _naive_scl(flat.numpy(), labels.numpy())
    assert spectral_scl(flat, labels).item() == pytest.approx(naive, rel=1e-10)
    assert spectral_loss_from_moments(Wt, *scl_moments(data.views, data.y)) == pytest.approx(naive, rel=1e-10)


@pytest.mark.parametrize("scl_weight", [0.0, 0.3, 1.0])
def test_joint_is_the_convex_combination(tiny, scl_weight):
    data, Wt = tiny
    z = _embed(data.views, Wt)
    labels = torch.tensor(data.y)
    expected = scl_weight * spectral_scl(z.reshape(-1, 3), labels.repeat_interleave(3)) + (1 - scl_weight) * spectral_ucl(z)
    assert spectral_joint(z, labels, scl_weight).item() == pytest.approx(expected.item(), rel=1e-12)
    assert spectral_loss_from_moments(Wt, *joint_moments(data.views, data.y, scl_weight)) == pytest.approx(expected.item(), rel=1e-10)


def test_without_bias_matches_a_zero_bias_column(tiny):
    data, Wt = tiny
    W0 = Wt.copy()
    W0[:, -1] = 0
    lifted = spectral_loss_from_moments(W0, *ucl_moments(data.views))
    plain = spectral_loss_from_moments(W0[:, :-1], *ucl_moments(data.views, bias=False))
    assert plain == pytest.approx(lifted, rel=1e-12)


def test_losses_are_invariant_to_permuting_originals_and_views(tiny):
    data, Wt = tiny
    z = _embed(data.views, Wt)
    perm = torch.randperm(z.shape[0], generator=torch.Generator().manual_seed(0))
    shuffled = z[perm][:, torch.tensor([2, 0, 1])]
    assert spectral_ucl(shuffled).item() == pytest.approx(spectral_ucl(z).item(), rel=1e-12)
    labels = torch.tensor(data.y)
    assert spectral_joint(shuffled, labels[perm], 0.4).item() == pytest.approx(spectral_joint(z, labels, 0.4).item(), rel=1e-12)


def test_moment_gradient_matches_autograd(tiny):
    data, Wt = tiny
    for S, M in (ucl_moments(data.views), scl_moments(data.views, data.y)):
        W = torch.tensor(Wt, requires_grad=True)
        spectral_loss_from_moments(W, torch.tensor(S), torch.tensor(M)).backward()
        assert np.allclose(W.grad.numpy(), spectral_gradient(Wt, S, M), rtol=1e-9, atol=1e-12)


def test_gradcheck_embedding_losses():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(4, 3, 2, dtype=torch.float64, generator=gen, requires_grad=True)
    labels = torch.tensor([0, 1, 0, 1])
    assert torch.autograd.gradcheck(spectral_ucl, (z,))
    assert torch.autograd.gradcheck(lambda t: spectral_joint(t, labels, 0.5), (z,))
    a, p, n = (torch.randn(*s, dtype=torch.float64, generator=gen, requires_grad=True) for s in ((5, 3), (5, 3), (5, 4, 3)))
    assert torch.autograd.gradcheck(spectral_contrastive, (a, p, n))


def test_sampled_loss_matches_naive_and_is_unbiased():
    gen = torch.Generator().manual_seed(2)
    a, p, n = torch.randn(6, 3, generator=gen), torch.randn(6, 3, generator=gen), torch.randn(6, 4, 3, generator=gen)
    naive = np.mean([-2 * (a[b] @ p[b]).item() + np.mean([(a[b] @ n[b, k]).item() ** 2 for k in range(4)]) for b in range(6)])
    assert spectral_contrastive(a, p, n).item() == pytest.approx(naive, rel=1e-5)

    data = collapse_dataset(CollapseConfig(dim=6, num_features=3, num_originals=40, num_augmentations=2), seed=0)
    Wt = np.random.default_rng(0).standard_normal((2, 7)) * 0.3
    z = _embed(data.views, Wt).reshape(80, 2)
    for supervised, moments in ((False, ucl_moments(data.views)), (True, scl_moments(data.views, data.y))):
        anchor, positive, negatives = data.pair_sampler(num_negatives=8, supervised=supervised, seed=3, device="cpu").sample(200_000)
        estimate = spectral_contrastive(z[anchor], z[positive], z[negatives]).item()
        assert estimate == pytest.approx(spectral_loss_from_moments(Wt, *moments), abs=0.02)


def test_invalid_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="m >= 2"):
        spectral_ucl(torch.zeros(4, 1, 2))
    with pytest.raises(ValueError, match="labels"):
        spectral_scl(torch.zeros(4, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="scl_weight"):
        spectral_joint(torch.zeros(4, 2, 2), torch.zeros(4), 1.5)
    with pytest.raises(ValueError, match="negatives"):
        spectral_contrastive(torch.zeros(4, 2), torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="views"):
        ucl_moments(np.zeros((4, 1, 3)))
    with pytest.raises(ValueError, match="labels"):
        scl_moments(np.zeros((4, 2, 3)), np.zeros(5))
