"""The fitting loop of the embedding simulations: it minimises, records checkpoints, refuses nan."""

import pytest
import torch

from clustertheory.training.fitting import FitConfig, fit


def test_fit_reaches_the_least_squares_solution_and_records_checkpoints():
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    target = x @ torch.tensor([1.0, -2.0, 0.5])
    w = torch.zeros(3, requires_grad=True)
    rows = fit([w], lambda step: ((x @ w - target) ** 2).mean(), FitConfig(steps=400, lr=0.05),
               checkpoints=(0, 200, 400), on_checkpoint=lambda step: {"w0": float(w[0].detach())})
    assert torch.allclose(w.detach(), torch.tensor([1.0, -2.0, 0.5]), atol=1e-3)
    assert [r["step"] for r in rows] == [0, 200, 400]
    assert rows[0]["w0"] == 0.0 and rows[0]["train_loss"] != rows[0]["train_loss"]  # nan before any step
    assert rows[1]["train_loss"] > rows[2]["train_loss"] >= 0


def test_fit_with_sgd_matches_a_hand_written_step():
    w = torch.tensor([1.0], requires_grad=True)
    fit([w], lambda step: (w**2).sum(), FitConfig(steps=1, lr=0.1, optimizer="sgd"))
    assert torch.allclose(w.detach(), torch.tensor([0.8]))  # w - lr * 2w


def test_fit_refuses_a_non_finite_loss_and_bad_checkpoints():
    w = torch.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="not finite at step 1"):
        fit([w], lambda step: w.sum() * float("nan"), FitConfig(steps=3))
    with pytest.raises(ValueError, match="checkpoints"):
        fit([w], lambda step: w.sum(), FitConfig(steps=3), checkpoints=(5,))
    with pytest.raises(ValueError, match="optimizer"):
        FitConfig(optimizer="lbfgs")


def test_fit_regression_fits_each_member_to_its_own_targets():
    from clustertheory.training.fitting import fit_regression

    x = torch.randn(2, 32, 3, generator=torch.Generator().manual_seed(0))
    weights = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, 1.0]])
    targets = (x * weights[:, None, :]).sum(-1, keepdim=True)  # (2, 32, 1): member e's own linear map
    model = torch.nn.Linear(3, 1, bias=False)
    ensemble = torch.nn.ModuleList([torch.nn.Linear(3, 1, bias=False) for _ in range(2)])

    class Stacked(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.members = ensemble

        def forward(self, inputs):
            return torch.stack([m(inputs[e]) for e, m in enumerate(self.members)])

    fit_regression(Stacked(), x, targets, FitConfig(steps=600, lr=0.05, batch_size=16), torch.Generator().manual_seed(1))
    assert torch.allclose(torch.cat([m.weight for m in ensemble]).detach(), weights, atol=1e-2)
    with pytest.raises(ValueError, match="must agree"):
        fit_regression(model, x, targets[:, :5], FitConfig(), torch.Generator())
