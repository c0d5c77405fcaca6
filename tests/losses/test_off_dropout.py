"""Off-dropout InfoNCE: formula, the three passes, gradient routing, state restoration."""

import math

import pytest
import torch

from clustertheory.losses import dropout_arm_loss, dropout_infonce, infonce, off_dropout_infonce

from . import references as ref


def draw(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def dropout_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 4)
    ).double()


@pytest.mark.parametrize("batch", [2, 6])
@pytest.mark.parametrize("temperature", [0.05, 0.5])
@pytest.mark.parametrize("positive_weight", [1.0, 2.5])
def test_from_embeddings_matches_reference(batch, temperature, positive_weight):
    h, hp, hb = draw(batch, 5, seed=1), draw(batch, 5, seed=2), draw(batch, 5, seed=3)
    got = dropout_infonce(
        h, hp, hb, temperature=temperature, positive_weight=positive_weight, reduction="none"
    )
    assert got.tolist() == pytest.approx(ref.off_dropout(h, hp, hb, temperature, positive_weight), rel=1e-9)


@pytest.mark.parametrize("temperature", [0.05, 0.5])
def test_without_h_bar_it_is_simcse_in_batch_infonce(temperature):
    h, hp = draw(6, 5, seed=1), draw(6, 5, seed=2)
    torch.testing.assert_close(
        dropout_infonce(h, hp, temperature=temperature, reduction="none"),
        infonce(h, hp, temperature=temperature, reduction="none"),
    )


def test_leading_dimensions_are_independent_batches():
    h, hp, hb = draw(3, 5, 4, seed=1), draw(3, 5, 4, seed=2), draw(3, 5, 4, seed=3)
    for h_bar in (None, hb):
        rows = dropout_infonce(h, hp, h_bar, temperature=0.2, positive_weight=0.9, reduction="none")
        assert rows.shape == (3, 5)
        for e in range(3):
            single = dropout_infonce(h[e], hp[e], None if h_bar is None else h_bar[e], temperature=0.2, positive_weight=0.9, reduction="none")
            torch.testing.assert_close(rows[e], single)
        assert dropout_infonce(h, hp, h_bar, temperature=0.2, positive_weight=0.9).item() == pytest.approx(rows.mean().item())


def test_identical_embeddings_give_log_b():
    v = draw(1, 3, seed=0).expand(5, 3)
    assert dropout_infonce(v, v, v).item() == pytest.approx(math.log(5), rel=1e-12)


def test_batch_permutation_equivariance():
    h, hp, hb = draw(6, 4, seed=4), draw(6, 4, seed=5), draw(6, 4, seed=6)
    order = torch.randperm(6, generator=torch.Generator().manual_seed(0))
    base = dropout_infonce(h, hp, hb, reduction="none")
    permuted = dropout_infonce(h[order], hp[order], hb[order], reduction="none")
    torch.testing.assert_close(permuted, base[order])


def test_uses_two_dropout_passes_and_one_clean_pass():
    model, x = dropout_model(), draw(5, 6, seed=7)
    torch.manual_seed(11)
    loss = off_dropout_infonce(model, x, temperature=0.1)
    torch.manual_seed(11)
    model.train()
    h, hp = model(x), model(x)
    model.eval()
    hb = model(x)
    assert not torch.allclose(h, hp)  # independent dropout masks
    torch.testing.assert_close(loss, dropout_infonce(h, hp, hb, temperature=0.1))


def _parameter_grads(model, loss):
    model.zero_grad()
    loss.backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def test_gradients_flow_through_negatives_unless_detached():
    model, x = dropout_model(), draw(5, 6, seed=8)
    torch.manual_seed(3)
    flowing = _parameter_grads(model, off_dropout_infonce(model, x))
    torch.manual_seed(3)
    detached = _parameter_grads(model, off_dropout_infonce(model, x, detach_negatives=True))
    torch.manual_seed(3)
    model.train()
    h, hp = model(x), model(x)
    model.eval()
    hb = model(x)
    manual = _parameter_grads(model, dropout_infonce(h, hp, hb.detach()))
    torch.testing.assert_close(detached, manual)
    assert not torch.allclose(flowing, detached)


@pytest.mark.parametrize("start_training", [True, False])
def test_restores_the_starting_mode(start_training):
    model, x = dropout_model(), draw(4, 6, seed=9)
    model.train(start_training)
    off_dropout_infonce(model, x)
    assert all(module.training == start_training for module in model.modules())


def test_restores_mixed_submodule_modes():
    model, x = dropout_model(), draw(4, 6, seed=10)
    model.train()
    model[2].eval()  # dropout frozen by the caller, the rest training
    before = [module.training for module in model.modules()]
    off_dropout_infonce(model, x)
    assert [module.training for module in model.modules()] == before


class FailsInEval(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 3)

    def forward(self, x):
        if not self.training:
            raise RuntimeError("eval pass failed")
        return self.linear(x)


@pytest.mark.parametrize("start_training", [True, False])
def test_restores_mode_when_a_pass_raises(start_training):
    model = FailsInEval()
    model.train(start_training)
    with pytest.raises(RuntimeError, match="eval pass failed"):
        off_dropout_infonce(model, torch.randn(4, 3))
    assert model.training == start_training and model.linear.training == start_training


def test_gradcheck():
    h, hp, hb = (draw(3, 4, seed=s).requires_grad_(True) for s in (11, 12, 13))
    assert torch.autograd.gradcheck(
        lambda a, b, c: dropout_infonce(a, b, c, temperature=0.5, positive_weight=1.5),
        (h, hp, hb),
    )


def test_negative_views_of_each_source():
    from clustertheory.losses import negative_views

    model, x = dropout_model(), draw(5, 6, seed=14)
    model.train()
    assert negative_views("simcse", model, x) is None
    model.eval()
    clean = model(x)
    model.train()
    torch.testing.assert_close(negative_views("off-dropout", model, x), clean)
    assert model.training  # restored
    torch.manual_seed(5)
    averaged = negative_views("averaged-dropout", model, x, passes=3)
    torch.manual_seed(5)
    passes = [model(x) for _ in range(3)]
    torch.testing.assert_close(averaged, sum(passes) / 3)
    assert not negative_views("off-dropout", model, x, detach=True).requires_grad
    with pytest.raises(ValueError, match="source"):
        negative_views("dropout-free", model, x)


def _ensemble():
    from clustertheory.functions import EnsembleMLP

    return EnsembleMLP(12, 6, [0, 1], width=16, dropout=0.2, layer_norm=True)


def test_arm_loss_is_the_off_dropout_loss_per_member():
    x = torch.randn(2, 8, 12)
    losses, _ = dropout_arm_loss("off-dropout", _ensemble(), x, temperature=0.1, positive_weight=0.9)
    expected = off_dropout_infonce(_ensemble(), x, temperature=0.1, positive_weight=0.9, reduction="none").mean(-1)
    assert torch.allclose(losses, expected) and losses.shape == (2,)
    assert dropout_arm_loss("simcse", _ensemble(), x, temperature=0.1)[1][2] is None
