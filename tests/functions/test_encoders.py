"""The dropout encoder: the properties the SimCSE++ and hard-negative simulations rely on."""

import pytest
import torch

from clustertheory.functions import EnsembleMLP, MLPEncoder, SeededDropout, dropout_pair, embed, modes
from clustertheory.losses import off_dropout_infonce
from clustertheory.utils import torch_generator


def test_seeded_dropout_masks_rate_scale_and_eval_identity():
    layer = SeededDropout(0.25, torch_generator(3))
    x = torch.ones(200, 100)
    y = layer(x)
    assert abs(float((y == 0).float().mean()) - 0.25) < 0.01
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / 0.75))
    assert abs(float(y.mean()) - 1.0) < 0.02  # inverted dropout keeps the mean
    assert torch.equal(SeededDropout(0.25, torch_generator(3))(x), y)  # same seed, same mask
    layer.eval()
    assert torch.equal(layer(x), x)
    with pytest.raises(ValueError, match="dropout"):
        SeededDropout(1.0, torch_generator(0))


def test_encoder_is_seeded_and_leaves_the_global_stream_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = MLPEncoder(6, 4, width=8, depth=2, dropout=0.2, seed=5)
    assert torch.equal(torch.rand(3), expected)
    b = MLPEncoder(6, 4, width=8, depth=2, dropout=0.2, seed=5)
    x = torch.randn(10, 6)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert torch.equal(a(x), b(x))  # dropout masks are seeded too
    c = MLPEncoder(6, 4, width=8, depth=2, dropout=0.2, seed=6)
    assert not torch.equal(a.weights[0], c.weights[0])


def test_dropout_pair_is_the_augmentation_and_embed_is_dropout_off():
    encoder = MLPEncoder(6, 4, width=16, dropout=0.3, seed=0)
    encoder.eval()
    x = torch.randn(12, 6)
    h1, h2 = dropout_pair(encoder, x)
    assert not encoder.training  # flag restored
    assert not torch.allclose(h1, h2)  # independent masks
    assert h1.requires_grad
    z1, z2 = embed(encoder, x), embed(encoder, x, batch_size=5)
    assert torch.allclose(z1, z2) and not z1.requires_grad
    encoder.train()
    embed(encoder, x)
    assert encoder.training
    silent = MLPEncoder(6, 4, width=16, dropout=0.0, seed=0)
    assert torch.equal(*dropout_pair(silent, x))


def test_modes_gives_every_submodule_its_own_flag_back():
    encoder = MLPEncoder(6, 4, width=16, depth=2, dropout=0.3, layer_norm=True, seed=0)
    submodules = list(encoder.modules())
    assert len(submodules) > 3
    for i, module in enumerate(submodules):  # mixed: a flat .train(flag) could not restore this
        module.training = i % 2 == 0
    before = [module.training for module in submodules]
    assert len(set(before)) == 2
    x = torch.randn(12, 6)
    seen = []

    def spy(module, inputs):
        seen.append(all(m.training for m in submodules) or (not any(m.training for m in submodules) and "off"))

    handle = encoder.register_forward_pre_hook(spy)
    dropout_pair(encoder, x)
    assert [module.training for module in submodules] == before
    embed(encoder, x, batch_size=5)
    assert [module.training for module in submodules] == before
    handle.remove()
    assert seen == [True, True, "off", "off", "off"]  # train mode for the pair, eval mode for each chunk
    for training in (True, False):
        with pytest.raises(RuntimeError, match="inside"), modes(encoder, training) as model:
            assert model is encoder and all(m.training == training for m in submodules)
            raise RuntimeError("inside")
        assert [module.training for module in submodules] == before  # also when the block raises


def test_sphere_encoder_outputs_unit_vectors():
    encoder = MLPEncoder(5, 3, width=8, dropout=0.0, normalize=True, seed=1)
    z = encoder(torch.randn(20, 5))
    assert torch.allclose(z.norm(dim=1), torch.ones(20), atol=1e-6)


def test_encoder_validation():
    for kwargs, match in (({"in_dim": 0}, "in_dim"), ({"dropout": -0.1}, "dropout"), ({"depth": -1}, "depth"), ({"seed": -2}, "seed")):
        args = {"in_dim": 4, "out_dim": 2, **kwargs}
        with pytest.raises(ValueError, match=match):
            MLPEncoder(**args)


def test_off_dropout_loss_runs_on_the_encoder_with_noiseless_negatives():
    """The off-dropout pass of the loss is the encoder in eval mode: deterministic."""
    encoder = MLPEncoder(6, 4, width=16, dropout=0.3, seed=2)
    x = torch.randn(8, 6)
    loss = off_dropout_infonce(encoder, x, temperature=0.1)
    loss.backward()
    assert torch.isfinite(loss) and encoder.training
    assert all(p.grad is not None for p in encoder.parameters())
    assert torch.equal(embed(encoder, x), embed(encoder, x))


@pytest.mark.parametrize("layer_norm", [False, True])
def test_ensemble_member_of_seed_s_is_the_encoder_of_seed_s(layer_norm):
    ensemble = EnsembleMLP(6, 4, seeds=[3, 7, 3], width=16, depth=2, dropout=0.2, layer_norm=layer_norm)
    x = torch.randn(9, 6)
    z = embed(ensemble, x)
    assert z.shape == (3, 9, 4)
    single = embed(MLPEncoder(6, 4, width=16, depth=2, dropout=0.2, layer_norm=layer_norm, seed=7), x)
    torch.testing.assert_close(z[1], single)
    torch.testing.assert_close(z[0], z[2])  # equal seeds start equal
    torch.testing.assert_close(embed(ensemble, x.expand(3, 9, 6)), z)  # shared or per-member inputs


def test_ensemble_members_train_independently():
    """Summing the members' losses gives each member exactly its own gradient."""
    ensemble = EnsembleMLP(5, 3, seeds=[0, 1], width=8, dropout=0.0)
    x = torch.randn(2, 7, 5)
    ensemble(x).pow(2).sum(dim=(1, 2))[0].backward()
    assert all(float(p.grad[1].abs().max()) == 0 and float(p.grad[0].abs().max()) > 0 for p in ensemble.parameters())
    ensemble.zero_grad()
    ensemble(x).pow(2).sum().backward()
    alone = MLPEncoder(5, 3, width=8, dropout=0.0, seed=1)
    alone(x[1]).pow(2).sum().backward()
    for joint, own in zip(ensemble.parameters(), alone.parameters()):
        torch.testing.assert_close(joint.grad[1], own.grad[0])


def test_layer_norm_standardises_every_hidden_unit_row():
    ensemble = EnsembleMLP(4, 2, seeds=[0], width=32, depth=1, dropout=0.0, layer_norm=True)
    hidden = torch.nn.functional.layer_norm(torch.baddbmm(ensemble.biases[0], torch.randn(1, 50, 4) * 100, ensemble.weights[0]), (32,))
    assert torch.allclose(hidden.mean(-1), torch.zeros(1, 50), atol=1e-4)
    with pytest.raises(ValueError, match="inputs"):
        ensemble(torch.randn(2, 3, 4))
