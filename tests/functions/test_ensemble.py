"""EnsembleMLP and EncoderSettings: members are independent networks, each started from its own seed."""

import pytest
import torch

from clustertheory.functions import EncoderSettings, EnsembleMLP


def test_members_start_like_their_seed_alone_and_stay_independent():
    both = EnsembleMLP(5, 3, seeds=[7, 8], width=4, depth=1, dropout=0.0)
    alone = EnsembleMLP(5, 3, seeds=[8], width=4, depth=1, dropout=0.0)
    for w_both, w_alone in zip(both.parameters(), alone.parameters()):
        assert torch.equal(w_both[1], w_alone[0])
    x = torch.randn(2, 6, 5)
    out = both(x)
    assert out.shape == (2, 6, 3) and torch.allclose(out[1], alone(x[1:])[0])
    out[0].sum().backward()  # member 0's loss reaches member 0's weights only
    assert all(p.grad[1].abs().max() == 0 and p.grad[0].abs().max() > 0 for p in both.parameters())


def test_depth_zero_is_linear_and_init_scale_shrinks_the_start():
    linear = EnsembleMLP(4, 2, seeds=[0], depth=0, dropout=0.0)
    x = torch.randn(5, 4)
    w, b = linear.weights[0][0], linear.biases[0][0]
    assert torch.allclose(linear(x)[0], x @ w + b)
    small = EnsembleMLP(4, 2, seeds=[0], depth=0, dropout=0.0, init_scale=0.01)
    assert torch.allclose(small.weights[0], 0.01 * linear.weights[0])
    assert EncoderSettings(out_dim=2, depth=0).build(4, [0, 1])(x).shape == (2, 5, 2)


def test_invalid_shapes_and_settings_name_the_parameter():
    net = EnsembleMLP(4, 2, seeds=[0, 1])
    with pytest.raises(ValueError, match="inputs must"):
        net(torch.randn(3, 2, 4))
    with pytest.raises(ValueError, match="seeds"):
        EnsembleMLP(4, 2, seeds=[])
    with pytest.raises(ValueError, match="init_scale"):
        EncoderSettings(init_scale=0.0)


def test_settings_build_the_dropout_and_layer_norm_network():
    settings = EncoderSettings(out_dim=3, width=4, depth=2, dropout=0.2, layer_norm=True)
    net = settings.build(5, [0, 1], mask_seed=9)
    direct = EnsembleMLP(5, 3, [0, 1], width=4, depth=2, dropout=0.2, layer_norm=True, mask_seed=9)
    x = torch.randn(6, 5)
    assert torch.equal(net(x), direct(x))  # same weights, same masks
    net.eval()
    assert torch.equal(net(x), net(x))  # dropout off in eval mode
    with pytest.raises(ValueError, match="dropout"):
        EncoderSettings(dropout=1.0)


def test_copy_members_copies_the_chosen_members_and_leaves_the_start_alone():
    settings = EncoderSettings(out_dim=3, width=5, depth=1, dropout=0.2)
    start = settings.build(4, [0, 1, 2])
    x = torch.randn(7, 4)
    copy = settings.copy_members(start, [2, 0], [9, 9], mask_seed=5)
    assert copy.members == 2 and torch.equal(copy.mask_generator.get_state(), torch.Generator().manual_seed(5).get_state())
    copy.eval(), start.eval()
    assert torch.equal(copy(x), start(x)[[2, 0]])
    with torch.no_grad():
        copy.weights[0].add_(1.0)
    assert not torch.equal(copy(x), start(x)[[2, 0]])  # separate tensors
    with pytest.raises(ValueError, match="one item per copied member"):
        settings.copy_members(start, [0], [1, 2])


def test_dropout_augmentation_needs_dropout_depth_and_two_dimensions():
    EncoderSettings(out_dim=2, depth=1, dropout=0.1).check_dropout_augmentation()
    for settings in (EncoderSettings(out_dim=2, depth=1), EncoderSettings(out_dim=1, depth=1, dropout=0.1), EncoderSettings(out_dim=2, depth=0, dropout=0.1)):
        with pytest.raises(ValueError, match="dropout is the only augmentation"):
            settings.check_dropout_augmentation()
