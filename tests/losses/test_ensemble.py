"""Ensemble InfoNCE and SupCon equal the per-member library losses."""

import pytest
import torch

from clustertheory.losses import infonce, supcon_out
from clustertheory.losses.ensemble import ensemble_infonce, ensemble_supcon


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("same_view_negatives", [False, True])
def test_ensemble_infonce_is_infonce_per_member(symmetric, same_view_negatives):
    gen = torch.Generator().manual_seed(0)
    a, p = torch.randn(3, 9, 4, dtype=torch.float64, generator=gen), torch.randn(3, 9, 4, dtype=torch.float64, generator=gen)
    got = ensemble_infonce(a, p, temperature=0.3, symmetric=symmetric, same_view_negatives=same_view_negatives)
    want = torch.stack([infonce(a[e], p[e], temperature=0.3, symmetric=symmetric, same_view_negatives=same_view_negatives) for e in range(3)])
    assert torch.allclose(got, want, atol=1e-12)


def test_ensemble_supcon_is_supcon_per_member_with_shared_or_own_labels():
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(2, 10, 3, dtype=torch.float64, generator=gen)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 3])  # label 3 once: that anchor has no positive
    got = ensemble_supcon(z, labels, temperature=0.2)
    want = torch.stack([supcon_out(z[e], labels, temperature=0.2) for e in range(2)])
    assert torch.allclose(got, want, atol=1e-12)
    own = torch.stack([labels, labels.flip(0)])
    assert torch.allclose(ensemble_supcon(z, own, temperature=0.2)[1], supcon_out(z[1], own[1], temperature=0.2), atol=1e-12)


def test_invalid_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="anchor"):
        ensemble_infonce(torch.randn(4, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match="labels"):
        ensemble_supcon(torch.randn(2, 5, 3), torch.arange(5))
    with pytest.raises(ValueError, match="temperature"):
        ensemble_supcon(torch.randn(2, 5, 3), torch.zeros(5, dtype=torch.long), temperature=0.0)
