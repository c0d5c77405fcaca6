"""Batched training: each member of a batch trains as it would alone.

Evidence, from strongest to weakest: with one dataset and uniform settings the batched pass
is ``train()`` bit for bit; stacked members start from exactly their single-model weights;
changing one member's settings leaves another member's trajectory bit for bit unchanged;
the per-member loss, optimiser and sampler equal their single-model counterparts; and the
outcome distribution over many seeds matches separate training.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from clustertheory.data import MemberPairSampler, PairSampler, comb_dataset
from clustertheory.functions import make_function_class
from clustertheory.losses import hypercube_infonce
from clustertheory.utils import seed_everything
from clustertheory.training import TrainConfig, relax, train
from clustertheory.functions.stacking import ConcatenatedScores, MemberLinearScore, stack_models
from clustertheory.training.batched import (
    Member,
    MemberAdam,
    MemberSGD,
    build_member_model,
    train_batched,
    train_members,
)

# Two datasets with the same view count V = 32 but different laws (N = 16 vs 8, leak).
DATA_A = comb_dataset(4, 4, 2)
DATA_B = comb_dataset(4, 2, 4, leak=0.2, cluster_weights=[0.4, 0.3, 0.2, 0.1])
DATA_EMBEDDED = comb_dataset(4, 4, 2, observation="embedding", obs_dim=8, seed=1)
DATA_WIDE = comb_dataset(4, 4, 3)  # V = 48
DATA_SMALL = comb_dataset(2, 2, 2)  # V = 8


@pytest.mark.parametrize(
    "options",
    [{}, {"negative_mode": "in-batch", "optimizer": "sgd", "lr": 0.5}, {"relaxation": "ste", "num_negatives": 3}],
)
@pytest.mark.parametrize("seeds", [[7], [7, 8, 9]])
def test_uniform_batch_is_bitwise_train(options, seeds):
    config = TrainConfig(steps=30, batch_size=16, log_every=10, **options)
    alone = make_function_class("band-limited", DATA_A, 2, seeds=seeds, bandwidth=1)
    batched = make_function_class("band-limited", DATA_A, 2, seeds=seeds, bandwidth=1)
    expected = train(alone, DATA_A, config, seed=3)
    got = train_batched(batched, DATA_A, config, seed=3)
    assert torch.equal(alone.weight, batched.weight)
    assert np.array_equal(expected.codes, got.codes)
    assert expected.history == got.history


def plain_loop(model, data, config: TrainConfig, seed: int) -> np.ndarray:
    """The training step written out once for E members with one config: seeded sampler,
    relaxed codes, mean hypercube loss per member summed over members, torch optimiser."""
    seed_everything(seed)
    sampler = PairSampler(data, config.num_negatives, config.negative_mode, seed=seed)
    optimiser_class = torch.optim.Adam if config.optimizer == "adam" else torch.optim.SGD
    optimiser = optimiser_class(list(model.parameters()), lr=config.lr)
    E = model.ensemble
    for step in range(1, config.steps + 1):
        anchor, positive, negatives = sampler.sample(config.batch_size, groups=E)
        B, K = negatives.shape[1:]
        z = relax(model(torch.cat([anchor, positive, negatives.reshape(E, B * K)], dim=1)), config.sharpness(step), config.relaxation)
        z_anchor, z_positive, z_negative = z[:, :B], z[:, B : 2 * B], z[:, 2 * B :].reshape(E, B, K, -1)
        loss = hypercube_infonce(z_anchor, z_positive, z_negative, config.beta, reduction="none").mean(dim=1).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return model.codes().numpy().astype(np.int8)


@pytest.mark.parametrize("options", [{}, {"negative_mode": "in-batch", "optimizer": "sgd", "lr": 0.5, "relaxation": "ste"}])
def test_train_is_bitwise_the_plain_training_loop(options):
    config = TrainConfig(steps=30, batch_size=16, log_every=10, **options)
    alone = make_function_class("band-limited", DATA_A, 2, seeds=[7, 8], bandwidth=1)
    reference = make_function_class("band-limited", DATA_A, 2, seeds=[7, 8], bandwidth=1)
    result = train(alone, DATA_A, config, seed=3)
    assert np.array_equal(result.codes, plain_loop(reference, DATA_A, config, seed=3))
    assert torch.equal(alone.weight, reference.weight)


def test_train_members_of_one_member_is_bitwise_train():
    config = TrainConfig(steps=25, batch_size=16, beta=3.0, lr=0.03)
    expected = train(make_function_class("lookup", DATA_B, 3, seeds=[11]), DATA_B, config, seed=2)
    got = train_members([Member("lookup", DATA_B, config, 11)], 3, seed=2)
    assert np.array_equal(expected.codes, got.codes) and expected.history == got.history


@pytest.mark.parametrize(
    "name, data, options",
    [
        ("band-limited", [DATA_A, DATA_B], {"bandwidth": 2}),
        ("random-features", [DATA_A, DATA_EMBEDDED], {"num_features": 8}),  # features differ per dataset
        ("lookup", [DATA_A, DATA_B], {}),
        ("mlp", [DATA_A, DATA_A], {"width": 8, "depth": 1, "lipschitz": 2.0}),
    ],
)
def test_stacked_members_start_exactly_where_they_would_alone(name, data, options):
    singles = [make_function_class(name, d, 2, seeds=[s], **options) for d, s in zip(data, [5, 6])]
    pair = make_function_class(name, data[0], 2, seeds=[1, 2], **options)
    stacked = stack_models([singles[0], pair, singles[1]])
    assert stacked.ensemble == 4
    scores = stacked.scores()
    assert torch.equal(scores[0], singles[0].scores()[0])
    assert torch.equal(scores[1:3], pair.scores())
    assert torch.equal(scores[3], singles[1].scores()[0])
    assert isinstance(stacked, MemberLinearScore) == (name == "random-features")


def test_stacking_refuses_models_that_cannot_share_a_pass():
    with pytest.raises(ValueError, match="lipschitz"):
        stack_models([make_function_class("mlp", DATA_A, 2, lipschitz=1.0), make_function_class("mlp", DATA_A, 2, lipschitz=2.0)])
    with pytest.raises(ValueError, match="shapes"):
        stack_models([make_function_class("band-limited", DATA_A, 2, bandwidth=1), make_function_class("band-limited", DATA_A, 2, bandwidth=2)])
    other_embedding = comb_dataset(4, 4, 2, observation="embedding", obs_dim=8, seed=2)  # same shapes, other observations
    with pytest.raises(ValueError, match="fixed inputs"):
        stack_models([make_function_class("mlp", DATA_EMBEDDED, 2, width=4), make_function_class("mlp", other_embedding, 2, width=4)])


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_member_optimisers_equal_torch_optimisers_run_per_member(kind):
    lrs = [0.1, 0.01, 0.05]
    start = torch.randn(3, 4, 2, generator=torch.Generator().manual_seed(1))
    batched = start.clone().requires_grad_(True)
    singles = [start[e : e + 1].clone().requires_grad_(True) for e in range(3)]
    member_cls, torch_cls = (MemberAdam, torch.optim.Adam) if kind == "adam" else (MemberSGD, torch.optim.SGD)
    optimiser = member_cls([batched], torch.tensor(lrs, dtype=torch.float64))
    references = [torch_cls([p], lr=lr) for p, lr in zip(singles, lrs)]
    gen = torch.Generator().manual_seed(2)
    for _ in range(20):
        grad = torch.randn(3, 4, 2, generator=gen)
        optimiser.zero_grad()
        batched.grad = grad.clone()
        optimiser.step()
        for e, (p, ref) in enumerate(zip(singles, references)):
            ref.zero_grad()
            p.grad = grad[e : e + 1].clone()
            ref.step()
    for e, p in enumerate(singles):
        torch.testing.assert_close(batched.detach()[e : e + 1], p.detach(), rtol=1e-5, atol=1e-6)


def test_member_sampler_draws_each_member_from_its_own_law():
    sampler = MemberPairSampler([DATA_A, DATA_B], num_negatives=4, seed=0)
    anchor, positive, negatives = sampler.sample(20000)
    assert anchor.shape == (2, 20000) and negatives.shape == (2, 20000, 4)
    for e, data in enumerate([DATA_A, DATA_B]):
        natural = np.zeros(data.num_views)
        np.add.at(natural, data.base_view, data.base_weight)
        anchor_freq = np.bincount(anchor[e].numpy(), minlength=data.num_views) / anchor.shape[1]
        negative_freq = np.bincount(negatives[e].flatten().numpy(), minlength=data.num_views) / negatives[e].numel()
        assert 0.5 * np.abs(anchor_freq - natural).sum() < 0.02
        assert 0.5 * np.abs(negative_freq - natural).sum() < 0.02
        a_view, p_view, weight = data.pair_weights()
        pair_law = np.zeros((data.num_views, data.num_views))
        np.add.at(pair_law, (a_view, p_view), weight)
        pair_freq = np.zeros_like(pair_law)
        np.add.at(pair_freq, (anchor[e].numpy(), positive[e].numpy()), 1.0 / anchor.shape[1])
        assert 0.5 * np.abs(pair_freq - pair_law).sum() < 0.05
    in_batch = MemberPairSampler([DATA_A, DATA_B], negative_mode="in-batch", seed=0)
    anchor, _, negatives = in_batch.sample(5)
    for e in range(2):
        for b in range(5):
            assert sorted(negatives[e, b].tolist()) == sorted(anchor[e, [j for j in range(5) if j != b]].tolist())


def test_changing_one_member_leaves_the_others_bitwise_unchanged():
    base = TrainConfig(steps=25, batch_size=16, log_every=25)

    def members(beta: float, lr: float) -> list[Member]:
        changed = replace(base, beta=beta, lr=lr, anneal_end=10.0)
        return [Member("band-limited", DATA_A, base, 1, {"bandwidth": 1}), Member("band-limited", DATA_B, changed, 2, {"bandwidth": 1})]

    first = train_members(members(3.0, 0.02), 2, seed=4)
    second = train_members(members(5.0, 0.2), 2, seed=4)
    assert np.array_equal(first.codes[0], second.codes[0])
    assert first.history[0] == second.history[0]  # member 0's row
    assert first.history[1] != second.history[1]  # member 1 did change


def _final_losses(results: list[dict]) -> np.ndarray:
    return np.array([r["train_loss"] for r in results])


def test_heterogeneous_batch_matches_separate_training_in_distribution():
    """Three configurations x 16 seeds, trained alone and in one batch of 48 (with the view
    score table, the fast path the simulations use). They differ in data, beta, lr, l,
    sharpness, and for C in bandwidth and view count (so the batch is a ConcatenatedScores).
    The final training-loss distributions agree per configuration (two-sample KS test),
    while two different configurations are told apart (the test has power)."""
    steps = 40
    configs = {
        "A": (DATA_A, TrainConfig(steps=steps, batch_size=32, log_every=steps), 1),
        "B": (DATA_B, TrainConfig(steps=steps, batch_size=32, log_every=steps, beta=3.0, lr=0.02, num_negatives=4, anneal_end=10.0), 1),
        "C": (DATA_WIDE, TrainConfig(steps=steps, batch_size=32, log_every=steps, beta=1.0, num_negatives=8), 3),
    }
    seeds = range(100, 116)
    alone = {name: [] for name in configs}
    for name, (data, config, bandwidth) in configs.items():
        for s in seeds:
            result = train(make_function_class("band-limited", data, 2, seeds=[s], bandwidth=bandwidth), data, config, seed=s)
            alone[name].append(result.history[-1])
    members = [Member("band-limited", data, config, s, {"bandwidth": bw}) for s in seeds for data, config, bw in configs.values()]
    batch = train_members(members, 2, seed=999, score_table=True)
    last = [row for row in batch.history if row["step"] == steps]
    together = {name: last[k::3] for k, name in enumerate(configs)}
    for name in configs:
        a, b = _final_losses(alone[name]), _final_losses(together[name])
        assert ks_2samp(a, b).pvalue > 1e-3, (name, a.mean(), b.mean())
        assert abs(a.mean() - b.mean()) < 4 * np.sqrt(a.var() / len(a) + b.var() / len(b)) + 1e-6
    assert ks_2samp(_final_losses(alone["A"]), _final_losses(together["B"])).pvalue < 1e-3


def test_members_of_different_shapes_are_combined_side_by_side():
    config = TrainConfig(steps=20, batch_size=16, log_every=20)
    members = [
        Member("band-limited", DATA_A, config, 1, {"bandwidth": 1}),
        Member("band-limited", DATA_A, config, 2, {"bandwidth": 1}),
        Member("band-limited", DATA_WIDE, config, 3, {"bandwidth": 3}),
        Member("mlp", DATA_B, config, 4, {"width": 4}),
        Member("lookup", DATA_SMALL, config, 5),
    ]
    model = build_member_model(members, 2)
    assert isinstance(model, ConcatenatedScores) and [p.ensemble for p in model.parts] == [2, 1, 1, 1]
    assert model.member_views == [32, 32, 48, 32, 8]
    scores = model.scores()
    for e, m in enumerate(members):
        alone = make_function_class(m.function_class, m.data, 2, seeds=[m.init_seed], **m.class_options).scores()[0]
        assert torch.equal(scores[e, : m.data.num_views], alone)
        assert not scores[e, m.data.num_views :].any()  # padding
    result = train_members(members, 2, seed=3)
    for e, m in enumerate(members):
        assert set(np.unique(result.codes[e, : m.data.num_views])) <= {-1, 1}
        assert not result.codes[e, m.data.num_views :].any()
        assert 0.0 <= result.history[e]["alignment_error"] <= 1.0
    table = train_members(members, 2, seed=3, score_table=True)
    assert table.codes.shape == result.codes.shape == (5, 48, 2)
    with pytest.raises(ValueError, match="member 1 of the model scores 32"):
        train_batched(build_member_model(members[:2], 2), [DATA_A, DATA_WIDE], config)


def test_score_table_gives_the_same_codes_and_loss_as_scoring_every_row():
    config = TrainConfig(steps=1, batch_size=16, log_every=1, relaxation="ste")
    per_row = train_batched(make_function_class("mlp", DATA_B, 3, seeds=[1, 2], width=8), DATA_B, config, seed=5)
    table = train_batched(make_function_class("mlp", DATA_B, 3, seeds=[1, 2], width=8), DATA_B, config, seed=5, score_table=True)
    # the logged loss is the first step's, computed before any update: identical forward values
    np.testing.assert_allclose([r["train_loss"] for r in per_row.history], [r["train_loss"] for r in table.history], rtol=1e-6)
    longer = replace(config, steps=30, log_every=30, relaxation="tanh")
    a = train_batched(make_function_class("band-limited", DATA_A, 2, seeds=[3], bandwidth=1), DATA_A, longer, seed=1)
    b = train_batched(make_function_class("band-limited", DATA_A, 2, seeds=[3], bandwidth=1), DATA_A, longer, seed=1, score_table=True)
    np.testing.assert_allclose(a.history[-1]["train_loss"], b.history[-1]["train_loss"], rtol=1e-3)  # rounding only


def test_invalid_batches_are_refused_with_the_field_named():
    model = make_function_class("lookup", DATA_A, 2, seeds=[0, 1])
    with pytest.raises(ValueError, match="steps"):
        train_batched(model, DATA_A, [TrainConfig(steps=5), TrainConfig(steps=6)])
    with pytest.raises(ValueError, match="configs must be one value or one per ensemble member"):
        train_batched(model, DATA_A, [TrainConfig(steps=5)] * 3)
    with pytest.raises(ValueError, match="views"):
        train_batched(model, [DATA_A, comb_dataset(4, 4, 1)], TrainConfig(steps=5))
    with pytest.raises(ValueError, match="code dimension"):
        ConcatenatedScores([make_function_class("lookup", DATA_A, 2), make_function_class("lookup", DATA_A, 3)])


def test_every_train_config_field_is_either_per_member_or_fixes_the_pass():
    """A new TrainConfig field must be declared per member or shape-fixing, or the batched
    trainer would silently train every member with the first member's value."""
    import dataclasses

    from clustertheory.training.batched import MEMBER_FIELDS, SHAPE_FIELDS

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert not set(MEMBER_FIELDS) & set(SHAPE_FIELDS)
    assert set(MEMBER_FIELDS) | set(SHAPE_FIELDS) == fields

