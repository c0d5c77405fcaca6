"""Hard negative selection (top-s) and synthesis (detached, unit-norm convex mixes)."""

import pytest
import torch

from clustertheory.losses import (
    hard_negative_indices,
    select_hard_negatives,
    synthesize_hard_negatives,
)


def draw(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def sorted_reference(anchor, candidates, s, normalize):
    """Sort every anchor's candidates by similarity with a plain loop, keep the first s."""
    picked = []
    for b in range(anchor.shape[0]):
        pool = candidates[b] if candidates.dim() == 3 else candidates
        a = anchor[b] / anchor[b].norm() if normalize else anchor[b]
        sims = [float(a @ (c / c.norm() if normalize else c)) for c in pool]
        order = sorted(range(len(sims)), key=lambda j: -sims[j])[:s]
        picked.append(pool[order])
    return torch.stack(picked)


@pytest.mark.parametrize("shared_pool", [False, True])
@pytest.mark.parametrize("s", [1, 3, 10])
@pytest.mark.parametrize("normalize", [True, False])
def test_selection_is_the_sorted_top_s(shared_pool, s, normalize):
    anchor = draw(5, 4, seed=1)
    candidates = draw(10, 4, seed=2) if shared_pool else draw(5, 10, 4, seed=2)
    got = select_hard_negatives(anchor, candidates, s, normalize=normalize)
    torch.testing.assert_close(got, sorted_reference(anchor, candidates, s, normalize))


def test_indices_point_at_the_selected_rows_and_gradients_reach_them():
    anchor, candidates = draw(3, 4, seed=3), draw(3, 6, 4, seed=4).requires_grad_(True)
    index = hard_negative_indices(anchor, candidates, 2)
    selected = select_hard_negatives(anchor, candidates, 2)
    torch.testing.assert_close(selected, torch.stack([candidates[b, index[b]] for b in range(3)]))
    selected.sum().backward()
    chosen = torch.zeros(3, 6, dtype=torch.bool)
    chosen[torch.arange(3).unsqueeze(1), index] = True
    assert (candidates.grad.abs().sum(-1) > 0).eq(chosen).all()


@pytest.mark.parametrize("mode", ["mix-negatives", "mix-anchor"])
def test_synthetic_negatives_are_detached_unit_and_seeded(mode):
    anchor = draw(4, 5, seed=5).requires_grad_(True)
    pool = draw(4, 3, 5, seed=6).requires_grad_(True)
    first = synthesize_hard_negatives(anchor, pool, 7, torch.Generator().manual_seed(0), mode=mode)
    again = synthesize_hard_negatives(anchor, pool, 7, torch.Generator().manual_seed(0), mode=mode)
    other = synthesize_hard_negatives(anchor, pool, 7, torch.Generator().manual_seed(1), mode=mode)
    assert first.shape == (4, 7, 5)
    assert not first.requires_grad and first.grad_fn is None
    torch.testing.assert_close(first.norm(dim=-1), torch.ones(4, 7, dtype=torch.float64))
    torch.testing.assert_close(first, again)
    assert not torch.allclose(first, other)


def _coefficients(target, basis):
    """Least-squares coefficients of ``target`` (d,) in the span of ``basis`` (2, d) and the residual."""
    solution = torch.linalg.lstsq(basis.T, target.unsqueeze(1)).solution.squeeze(1)
    return solution, (basis.T @ solution - target).norm()


def test_mix_negatives_are_positive_mixes_of_two_distinct_pool_members():
    anchor, pool = draw(3, 6, seed=7), draw(3, 2, 6, seed=8)
    unit_pool = pool / pool.norm(dim=-1, keepdim=True)
    synthetic = synthesize_hard_negatives(anchor, pool, 20, torch.Generator().manual_seed(2))
    for b in range(3):
        for j in range(20):
            coefficients, residual = _coefficients(synthetic[b, j], unit_pool[b])
            assert residual < 1e-10
            assert (coefficients > 0).all()  # never a copy of one member: the two are distinct


def test_mix_anchor_stays_nearer_the_negative():
    anchor, pool = draw(3, 6, seed=9), draw(3, 1, 6, seed=10)
    unit_anchor = anchor / anchor.norm(dim=-1, keepdim=True)
    unit_pool = pool / pool.norm(dim=-1, keepdim=True)
    synthetic = synthesize_hard_negatives(anchor, pool, 20, torch.Generator().manual_seed(3), mode="mix-anchor")
    for b in range(3):
        basis = torch.stack([unit_anchor[b], unit_pool[b, 0]])
        for j in range(20):
            (anchor_weight, negative_weight), residual = _coefficients(synthetic[b, j], basis)
            assert residual < 1e-10
            assert 0 <= anchor_weight <= negative_weight


# ----------------------------------------------------------------------------- the methods of the hard-negative simulation


def test_method_settings_follow_the_table():
    from clustertheory.losses.hard_negatives import NEGATIVE_METHODS, method_settings

    table = {method: method_settings(method, tau_plus=0.2, hardness=1.5, overestimate=2.0) for method in NEGATIVE_METHODS}
    assert table["plain"] == ("uniform", 0.0, 0.0, False)
    assert table["debiased"] == ("uniform", 0.2, 0.0, False)
    assert table["debiased-overestimated"] == ("uniform", 0.4, 0.0, False)
    assert table["hard-weight"] == ("uniform", 0.0, 1.5, False)
    assert table["hard-debiased"] == ("uniform", 0.2, 1.5, False)
    assert table["hard-debiased-detached"] == ("uniform", 0.2, 1.5, True)
    assert table["hard-select"] == ("hardest", 0.0, 0.0, False)
    assert table["synthetic"] == ("synthetic", 0.0, 0.0, False)
    assert table["synthetic-debiased"] == ("synthetic", 0.2, 0.0, False)
    selections = [table[m][0] for m in NEGATIVE_METHODS]
    assert selections == sorted(selections, key=["uniform", "hardest", "synthetic"].index)  # runs of one selection each
    with pytest.raises(ValueError, match="method"):
        method_settings("hardest-of-all", 0.1, 1.0, 1.5)


def test_selections_take_k_negatives_from_the_pool():
    from clustertheory.losses.hard_negatives import select_negatives

    anchor = torch.nn.functional.normalize(draw(4, 3, seed=5), dim=1).requires_grad_(True)
    pool = torch.nn.functional.normalize(draw(4, 8, 3, seed=6), dim=-1)
    similarity = torch.einsum("nd,npd->np", anchor, pool)
    rows = torch.arange(4)[:, None]

    def views(index):
        return pool[rows, index]

    generator = torch.Generator().manual_seed(0)
    sims, chosen, mixed = select_negatives("uniform", anchor, similarity, views, 3, generator)
    assert mixed is None and chosen.tolist() == [[0, 1, 2]] * 4 and torch.equal(sims, similarity[:, :3])
    sims, chosen, mixed = select_negatives("hardest", anchor, similarity, views, 3, generator)
    torch.testing.assert_close(sims, similarity.sort(dim=1, descending=True).values[:, :3])
    torch.testing.assert_close(sims, similarity.gather(1, chosen))
    sims, chosen, mixed = select_negatives("synthetic", anchor, similarity, views, 4, generator)
    assert sims.shape == (4, 4) and chosen.tolist() == [[0, 1]] * 4 and mixed.shape == (4, 2, 3) and not mixed.requires_grad
    torch.testing.assert_close(sims[:, 2:], torch.einsum("nd,nkd->nk", anchor, mixed))
    kth = similarity.detach().topk(4, dim=1).values[:, -1:]  # a mix of two of the K hardest, both at positive cosine,
    positive = (kth > 0).squeeze(1)  # is at least as close as the K-th hardest (the mix's norm is <= 1)
    assert (sims[positive, 2:] >= kth[positive] - 1e-9).all()
    sims.sum().backward()
    assert anchor.grad is not None  # gradients reach the anchor through the synthetic negatives too
    with pytest.raises(ValueError, match="K must be"):
        select_negatives("uniform", anchor, similarity, views, 9, generator)
