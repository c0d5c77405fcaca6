"""infonce, hypercube_infonce, supcon_out and decoupled against loop references,
closed forms, symmetries and gradcheck."""

import importlib
import math

import numpy as np
import pytest
import torch

from clustertheory.losses import decoupled, hypercube_infonce, infonce, supcon_out

from . import references as ref


def draw(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def close(got: torch.Tensor, expected: list[float], rel=1e-9):
    assert got.tolist() == pytest.approx(expected, rel=rel, abs=1e-9)


# --- infonce, explicit negatives ------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("k", [1, 3, 8])
@pytest.mark.parametrize("dim", [1, 4])
@pytest.mark.parametrize("temperature", [0.07, 0.5, 2.0])
@pytest.mark.parametrize("normalize", [True, False])
def test_infonce_explicit_matches_reference(batch, k, dim, temperature, normalize):
    a, p, n = draw(batch, dim, seed=1), draw(batch, dim, seed=2), draw(batch, k, dim, seed=3)
    got = infonce(a, p, n, temperature=temperature, normalize=normalize, reduction="none")
    close(got, ref.infonce_explicit(a, p, n, temperature, normalize))
    expected_mean = sum(ref.infonce_explicit(a, p, n, temperature, normalize)) / batch
    assert infonce(a, p, n, temperature=temperature, normalize=normalize).item() == pytest.approx(expected_mean)
    assert infonce(a, p, n, temperature=temperature, normalize=normalize, reduction="sum").item() == pytest.approx(
        expected_mean * batch
    )


@pytest.mark.parametrize("k", [1, 4, 31])
def test_identical_embeddings_give_log_k_plus_one(k):
    v = draw(1, 6, seed=k).expand(3, 6)
    loss = infonce(v, v, v.unsqueeze(1).expand(3, k, 6).contiguous(), temperature=0.3)
    assert loss.item() == pytest.approx(math.log(k + 1), rel=1e-12)


def test_negative_permutation_invariance_and_batch_equivariance():
    a, p, n = draw(6, 5, seed=1), draw(6, 5, seed=2), draw(6, 7, 5, seed=3)
    base = infonce(a, p, n, reduction="none")
    shuffled = n[:, torch.randperm(7, generator=torch.Generator().manual_seed(0))]
    torch.testing.assert_close(infonce(a, p, shuffled, reduction="none"), base)
    order = torch.randperm(6, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(infonce(a[order], p[order], n[order], reduction="none"), base[order])


# --- infonce, in-batch -----------------------------------------------------------------


@pytest.mark.parametrize("batch", [2, 3, 7])
@pytest.mark.parametrize("dim", [2, 5])
@pytest.mark.parametrize("temperature", [0.1, 1.0])
@pytest.mark.parametrize("same_view", [False, True])
@pytest.mark.parametrize("symmetric", [False, True])
def test_infonce_in_batch_matches_reference(batch, dim, temperature, same_view, symmetric):
    a, p = draw(batch, dim, seed=4), draw(batch, dim, seed=5)
    got = infonce(
        a, p, temperature=temperature, symmetric=symmetric, same_view_negatives=same_view, reduction="none"
    )
    reference = ref.symmetric_in_batch if symmetric else ref.in_batch
    close(got, reference(a, p, temperature, same_view=same_view))


@pytest.mark.parametrize("same_view,candidates", [(False, lambda b: b), (True, lambda b: 2 * b - 1)])
def test_in_batch_identical_embeddings_give_log_candidates(same_view, candidates):
    v = draw(1, 4, seed=0).expand(6, 4)
    loss = infonce(v, v, same_view_negatives=same_view, symmetric=True)
    assert loss.item() == pytest.approx(math.log(candidates(6)), rel=1e-12)


def test_in_batch_batch_permutation_equivariance():
    a, p = draw(8, 3, seed=6), draw(8, 3, seed=7)
    order = torch.randperm(8, generator=torch.Generator().manual_seed(2))
    for same_view in (False, True):
        base = infonce(a, p, same_view_negatives=same_view, symmetric=True, reduction="none")
        permuted = infonce(a[order], p[order], same_view_negatives=same_view, symmetric=True, reduction="none")
        torch.testing.assert_close(permuted, base[order])


def test_symmetric_is_invariant_to_swapping_views():
    a, p = draw(5, 4, seed=8), draw(5, 4, seed=9)
    torch.testing.assert_close(infonce(a, p, symmetric=True), infonce(p, a, symmetric=True))
    assert not torch.allclose(infonce(a, p), infonce(p, a))


def test_in_batch_equals_explicit_with_other_positives_as_negatives():
    a, p = draw(4, 3, seed=10), draw(4, 3, seed=11)
    others = torch.stack([p[[j for j in range(4) if j != i]] for i in range(4)])
    torch.testing.assert_close(infonce(a, p, others, reduction="none"), infonce(a, p, reduction="none"))


@pytest.mark.parametrize("same_view", [False, True])
def test_in_batch_gradients_equal_explicit_with_other_positives_as_negatives(same_view):
    """The in-batch path leaves the non-candidates (the positive p_i, the anchor a_i itself) out of
    the logit matrix in place; the gradients must be those of the explicit form without them."""
    a, p = draw(5, 3, seed=12).requires_grad_(True), draw(5, 3, seed=13).requires_grad_(True)
    infonce(a, p, temperature=0.3, same_view_negatives=same_view, reduction="sum").backward()
    in_batch = (a.grad.clone(), p.grad.clone())
    a.grad, p.grad = None, None
    others = [[p[j] for j in range(5) if j != i] + ([a[j] for j in range(5) if j != i] if same_view else []) for i in range(5)]
    negatives = torch.stack([torch.stack(row) for row in others])
    infonce(a, p, negatives, temperature=0.3, reduction="sum").backward()
    torch.testing.assert_close(in_batch, (a.grad, p.grad), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("call", ["explicit", "in-batch", "nt-xent", "decoupled"])
def test_tiny_infonce_losses_keep_relative_precision(call):
    """Orthonormal clean embeddings at temperature 0.01: every negative has cosine 0 and the
    positive cosine 1, so l_b = log(1 + n exp(-100)) (n candidates besides the positive), about
    1e-43, far below float64 eps; the decoupled loss is log(n) - 100."""
    B = 4
    a = torch.eye(B, dtype=torch.float64)
    others = torch.stack([a[[j for j in range(B) if j != i]] for i in range(B)])
    got = {
        "explicit": lambda: infonce(a, a, others, temperature=0.01, reduction="none"),
        "in-batch": lambda: infonce(a, a, temperature=0.01, reduction="none"),
        "nt-xent": lambda: infonce(a, a.clone(), temperature=0.01, symmetric=True, same_view_negatives=True, reduction="none"),
        "decoupled": lambda: decoupled(a, a.clone(), temperature=0.01, symmetric=False, same_view_negatives=False, reduction="none"),
    }[call]()
    # nt-xent: the same-view a_j (cosine 0) are candidates too, the other view's copy of a_i is the positive
    n = 2 * (B - 1) if call == "nt-xent" else B - 1
    expected = math.log(n) - 100.0 if call == "decoupled" else math.log1p(n * math.exp(-100.0))
    assert got.tolist() == pytest.approx([expected] * B, rel=1e-12)


# --- hypercube_infonce ---------------------------------------------------------------


def random_codes(*shape, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, shape, generator=gen).to(torch.float64) * 2 - 1


@pytest.mark.parametrize("l", [1, 4])
@pytest.mark.parametrize("dim", [3, 8])
@pytest.mark.parametrize("beta", [0.0, 0.3, 2.0])
def test_hypercube_matches_reference_and_infonce(l, dim, beta):
    z, zp, zn = random_codes(5, dim, seed=1), random_codes(5, dim, seed=2), random_codes(5, l, dim, seed=3)
    got = hypercube_infonce(z, zp, zn, beta, reduction="none")
    close(got, ref.hypercube(z, zp, zn, beta))
    if beta > 0:
        as_infonce = infonce(z, zp, zn, normalize=False, temperature=1 / beta, reduction="none")
        torch.testing.assert_close(got, as_infonce)


def test_hypercube_relaxed_codes_match_reference():
    z, zp, zn = draw(4, 5, seed=1), draw(4, 5, seed=2), draw(4, 3, 5, seed=3)
    close(hypercube_infonce(z, zp, zn, 1.7, reduction="none"), ref.hypercube(z, zp, zn, 1.7))


@pytest.mark.parametrize("l", [1, 7])
def test_hypercube_identical_codes_give_log_one_plus_l(l):
    z = random_codes(1, 6, seed=0).expand(3, 6)
    loss = hypercube_infonce(z, z, z.unsqueeze(1).expand(3, l, 6), beta=5.0)
    assert loss.item() == pytest.approx(math.log(1 + l), rel=1e-12)


def test_tiny_hypercube_losses_keep_relative_precision():
    """Clean codes far from every negative: l = log(1 + l exp(-2 beta h)), far below float64 eps."""
    z = torch.ones(2, 4, dtype=torch.float64)
    far = -torch.ones(2, 3, 4, dtype=torch.float64)  # Hamming distance 4 from z
    got = hypercube_infonce(z, z, far, beta=20.0, reduction="none")
    expected = math.log1p(3 * math.exp(-2 * 20.0 * 4))
    assert expected < 1e-60
    assert got.tolist() == pytest.approx([expected, expected], rel=1e-12)
    low_precision = hypercube_infonce(z.float(), z.float(), far.float(), beta=1.0, reduction="none")
    assert low_precision.tolist() == pytest.approx([math.log1p(3 * math.exp(-8.0))] * 2, rel=1e-6)


def test_hypercube_with_one_beta_per_member_and_per_anchor_matches_reference():
    """Batch shape (E, B): beta per member (E,) and per anchor (E, B), against the float64 loop."""
    E, B, l, d = 3, 4, 5, 6
    z, zp, zn = draw(E, B, d, seed=1), draw(E, B, d, seed=2), draw(E, B, l, d, seed=3)
    per_member = torch.tensor([0.0, 0.7, 3.0], dtype=torch.float64)
    got = hypercube_infonce(z, zp, zn, per_member, reduction="none")
    assert got.shape == (E, B)
    np.testing.assert_allclose(got.numpy(), ref.hypercube_batched(z, zp, zn, lambda s: float(per_member[s[0]])), rtol=1e-12, atol=1e-14)
    per_anchor = torch.rand(E, B, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 4
    got = hypercube_infonce(z, zp, zn, per_anchor, reduction="none")
    np.testing.assert_allclose(got.numpy(), ref.hypercube_batched(z, zp, zn, lambda s: float(per_anchor[s])), rtol=1e-12, atol=1e-14)
    # a float32 beta tensor on float64 codes is used at the codes' precision
    assert hypercube_infonce(z, zp, zn, per_member.float(), reduction="none").dtype == torch.float64


def test_hypercube_active_negatives_match_reference_and_member_by_member_calls():
    """Member e with l_e negatives: the first l_e of a shared draw of l, the rest masked."""
    E, B, l, d = 3, 5, 6, 4
    z, zp, zn = draw(E, B, d, seed=5), draw(E, B, d, seed=6), draw(E, B, l, d, seed=7)
    beta = torch.tensor([0.5, 2.0, 4.0], dtype=torch.float64)
    counts = [1, 6, 3]
    active = torch.arange(l)[None, :] < torch.tensor(counts)[:, None]
    got = hypercube_infonce(z, zp, zn, beta, reduction="none", active=active)
    expected = ref.hypercube_batched(z, zp, zn, lambda s: float(beta[s[0]]), lambda s, i: i < counts[s[0]])
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-14)
    for e in range(E):
        alone = hypercube_infonce(z[e], zp[e], zn[e, :, : counts[e]], float(beta[e]), reduction="none")
        torch.testing.assert_close(got[e], alone, rtol=1e-12, atol=1e-12)
    # a per-anchor mask (E, B, l); a row with no active negative has loss exactly 0
    per_anchor = torch.rand(E, B, l, generator=torch.Generator().manual_seed(8)) < 0.5
    per_anchor[0, 0] = False
    got = hypercube_infonce(z, zp, zn, 1.5, reduction="none", active=per_anchor)
    expected = ref.hypercube_batched(z, zp, zn, lambda s: 1.5, lambda s, i: bool(per_anchor[s][i]))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-14)
    assert got[0, 0].item() == 0.0


def test_hypercube_uniform_beta_tensor_equals_the_number():
    z, zp, zn = draw(2, 3, 4, seed=9), draw(2, 3, 4, seed=10), draw(2, 3, 5, 4, seed=11)
    as_number = hypercube_infonce(z, zp, zn, 2.0, reduction="none")
    torch.testing.assert_close(hypercube_infonce(z, zp, zn, torch.full((2,), 2.0, dtype=torch.float64), reduction="none"), as_number)
    flat = hypercube_infonce(z.reshape(6, 4), zp.reshape(6, 4), zn.reshape(6, 5, 4), 2.0, reduction="none")
    torch.testing.assert_close(flat.view(2, 3), as_number, rtol=0, atol=0)
    assert hypercube_infonce(z, zp, zn, 2.0).item() == pytest.approx(as_number.mean().item(), rel=1e-15)


# --- supcon_out ------------------------------------------------------------------------


@pytest.mark.parametrize("labels", [[0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 3], [5, 5, 5, 5, 5, 5], [0, 1, 2, 3, 4, 4]])
@pytest.mark.parametrize("temperature", [0.1, 0.7])
@pytest.mark.parametrize("normalize", [True, False])
def test_supcon_matches_reference(labels, temperature, normalize):
    z = draw(len(labels), 4, seed=12)
    y = torch.tensor(labels)
    expected = ref.supcon(z, y, temperature, normalize)
    per_anchor = supcon_out(z, y, temperature=temperature, normalize=normalize, reduction="none")
    for got, want in zip(per_anchor.tolist(), expected):
        if want is None:
            assert math.isnan(got)
        else:
            assert got == pytest.approx(want, rel=1e-9)
    defined = [w for w in expected if w is not None]
    mean = supcon_out(z, y, temperature=temperature, normalize=normalize)
    assert mean.item() == pytest.approx(sum(defined) / len(defined), rel=1e-9)


def test_supcon_identical_embeddings_give_log_b_minus_one():
    z = draw(1, 3, seed=0).expand(7, 3)
    assert supcon_out(z, torch.tensor([0, 0, 1, 1, 2, 2, 2])).item() == pytest.approx(math.log(6), rel=1e-12)


def test_supcon_with_pair_labels_is_nt_xent():
    """One positive per anchor (its other view): L_out is exactly symmetric NT-Xent."""
    a, p = draw(5, 4, seed=13), draw(5, 4, seed=14)
    labels = torch.arange(5).repeat(2)
    nt_xent = infonce(a, p, temperature=0.2, symmetric=True, same_view_negatives=True)
    torch.testing.assert_close(supcon_out(torch.cat([a, p]), labels, temperature=0.2), nt_xent)


def test_supcon_batch_permutation_equivariance():
    z, y = draw(8, 3, seed=15), torch.tensor([0, 1, 2, 0, 1, 2, 0, 3])
    order = torch.randperm(8, generator=torch.Generator().manual_seed(3))
    base = supcon_out(z, y, reduction="none")
    torch.testing.assert_close(supcon_out(z[order], y[order], reduction="none"), base[order], equal_nan=True)


# --- decoupled -------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 5])
@pytest.mark.parametrize("temperature", [0.1, 1.0])
@pytest.mark.parametrize("normalize", [True, False])
def test_decoupled_explicit_matches_reference(k, temperature, normalize):
    a, p, n = draw(4, 3, seed=16), draw(4, 3, seed=17), draw(4, k, 3, seed=18)
    got = decoupled(
        a, p, n, temperature=temperature, normalize=normalize, symmetric=False, same_view_negatives=False,
        reduction="none",
    )
    close(got, ref.decoupled_explicit(a, p, n, temperature, normalize))


@pytest.mark.parametrize("batch", [2, 6])
@pytest.mark.parametrize("same_view", [False, True])
@pytest.mark.parametrize("symmetric", [False, True])
def test_decoupled_in_batch_matches_reference(batch, same_view, symmetric):
    a, p = draw(batch, 4, seed=19), draw(batch, 4, seed=20)
    got = decoupled(a, p, temperature=0.3, symmetric=symmetric, same_view_negatives=same_view, reduction="none")
    reference = ref.symmetric_in_batch if symmetric else ref.in_batch
    close(got, reference(a, p, 0.3, same_view=same_view, include_positive=False))


def test_decoupled_identical_embeddings_give_log_negatives():
    v = draw(1, 4, seed=0).expand(5, 4)
    assert decoupled(v, v).item() == pytest.approx(math.log(2 * 5 - 2), rel=1e-12)
    assert decoupled(v, v, same_view_negatives=False).item() == pytest.approx(math.log(4), rel=1e-12)


def test_infonce_is_softplus_of_decoupled():
    """InfoNCE = log(1 + sum_neg exp(s/t) / exp(s+/t)) = softplus(decoupled) > decoupled."""
    a, p, n = draw(5, 3, seed=21), draw(5, 3, seed=22), draw(5, 4, 3, seed=23)
    kwargs = {"temperature": 0.2, "reduction": "none"}
    dec = decoupled(a, p, n, symmetric=False, same_view_negatives=False, **kwargs)
    full = infonce(a, p, n, **kwargs)
    assert (full > dec).all()
    torch.testing.assert_close(full, torch.nn.functional.softplus(dec))


# --- gradcheck -------------------------------------------------------------------------


def leaf(*shape, seed):
    return draw(*shape, seed=seed).requires_grad_(True)


def test_gradcheck_infonce_and_decoupled():
    a, p, n = leaf(3, 4, seed=1), leaf(3, 4, seed=2), leaf(3, 2, 4, seed=3)
    assert torch.autograd.gradcheck(lambda x, y, z: infonce(x, y, z, temperature=0.5), (a, p, n))
    assert torch.autograd.gradcheck(
        lambda x, y: infonce(x, y, temperature=0.5, symmetric=True, same_view_negatives=True), (a, p)
    )
    assert torch.autograd.gradcheck(lambda x, y: infonce(x, y, temperature=0.5, symmetric=True), (a, p))
    assert torch.autograd.gradcheck(lambda x, y: infonce(x, y, temperature=0.5, same_view_negatives=True), (a, p))
    assert torch.autograd.gradcheck(lambda x, y: decoupled(x, y, temperature=0.5), (a, p))
    assert torch.autograd.gradcheck(lambda x, y: decoupled(x, y, temperature=0.5, same_view_negatives=False), (a, p))


def test_gradcheck_hypercube_and_supcon():
    z, zp, zn = leaf(3, 4, seed=4), leaf(3, 4, seed=5), leaf(3, 2, 4, seed=6)
    assert torch.autograd.gradcheck(lambda x, y, w: hypercube_infonce(x, y, w, beta=0.7), (z, zp, zn))
    members, active = torch.tensor([0.3, 1.1, 2.0], dtype=torch.float64), torch.tensor([[True, False], [True, True], [False, True]])
    assert torch.autograd.gradcheck(lambda x, y, w: hypercube_infonce(x, y, w, beta=members, active=active), (z, zp, zn))
    labels = torch.tensor([0, 1, 0, 1, 2])
    emb = leaf(5, 3, seed=7)
    assert torch.autograd.gradcheck(lambda x: supcon_out(x, labels, temperature=0.5), (emb,))


# --- the hand-written in-batch node (_InBatch): one direction, and NT-Xent ----------------

PAIRINGS = {"one-way": dict(symmetric=False, same_view_negatives=False), "nt-xent": dict(symmetric=True, same_view_negatives=True)}


def node_loss(include_positive, pairing):
    """infonce or decoupled in one of the two pairings the node computes."""
    fn = infonce if include_positive else decoupled
    return lambda *args, **kw: fn(*args, **PAIRINGS[pairing], **kw)


def autograd_in_batch(a, p, temperature, normalize, include_positive, reduction, pairing):
    """The same loss by the generic autograd path (F.normalize, logsumexp, log1p_exp)."""
    from clustertheory.losses.primitives import prepare, reduce_rows

    module = importlib.import_module("clustertheory.losses.infonce")  # the attribute is the function
    a, p = prepare(normalize, a, p)
    both = pairing == "nt-xent"
    rows = module._in_batch_rows(a, p, 1.0 / temperature, both, both, include_positive)
    return reduce_rows(rows, reduction)


@pytest.mark.parametrize("pairing", list(PAIRINGS))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("normalize", [True, False])
def test_gradcheck_in_batch_node(reduction, normalize, pairing):
    a, p = leaf(4, 3, seed=31), leaf(4, 3, seed=32)
    for include_positive in (True, False):
        loss = node_loss(include_positive, pairing)
        assert torch.autograd.gradcheck(lambda x, y: loss(x, y, temperature=0.5, normalize=normalize, reduction=reduction), (a, p))


@pytest.mark.parametrize("pairing", list(PAIRINGS))
@pytest.mark.parametrize("include_positive", [True, False])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_in_batch_node_equals_autograd_form_with_a_zero_row(include_positive, reduction, pairing):
    """Values and gradients of the hand-written node equal the autograd form, including a zero
    anchor and a zero positive (norm clamped to eps: F.normalize passes no radial gradient)."""
    a, p = draw(6, 5, seed=33), draw(6, 5, seed=34)
    a[2], p[4] = 0.0, 0.0
    upstream = draw(6, seed=35) if reduction == "none" else torch.tensor(1.7, dtype=torch.float64)
    results = []
    for compute in ("ours", "autograd"):
        x, y = a.clone().requires_grad_(True), p.clone().requires_grad_(True)
        if compute == "ours":
            value = node_loss(include_positive, pairing)(x, y, temperature=0.2, reduction=reduction)
        else:
            value = autograd_in_batch(x, y, 0.2, True, include_positive, reduction, pairing)
        value.backward(upstream)
        results.append((value.detach(), x.grad, y.grad))
    torch.testing.assert_close(results[0], results[1], rtol=1e-12, atol=1e-14)


def test_tiny_one_way_in_batch_gradients_keep_relative_precision():
    """At l = log(1 + 3 exp(-100)) ~ 1e-43 the gradient is of that size too; it must keep its
    relative precision (built from sigmoid(D), not as softmax - 1, which would round to 0)."""
    a = torch.eye(4, dtype=torch.float64).requires_grad_(True)
    p = torch.eye(4, dtype=torch.float64).requires_grad_(True)
    infonce(a, p, temperature=0.01, reduction="sum").backward()
    ours = (a.grad.clone(), p.grad.clone())
    a.grad = p.grad = None
    others = torch.stack([p[[j for j in range(4) if j != i]] for i in range(4)])
    infonce(a, p, others, temperature=0.01, reduction="sum").backward()
    assert ours[0].abs().max().item() < 1e-40 and ours[0].abs().max().item() > 0
    torch.testing.assert_close(ours, (a.grad, p.grad), rtol=1e-12, atol=0.0)


def test_tiny_nt_xent_gradients_keep_relative_precision():
    """NT-Xent on orthonormal views (a_i = p_i = e_i): every row's loss is log(1 + 6 exp(-100)),
    about 2e-43, and so is the gradient; it equals the generic autograd form's to 1e-12 relative."""
    a = torch.eye(4, dtype=torch.float64)
    results = []
    for compute in ("ours", "autograd"):
        x, y = a.clone().requires_grad_(True), a.clone().requires_grad_(True)
        if compute == "ours":
            value = infonce(x, y, temperature=0.01, reduction="sum", **PAIRINGS["nt-xent"])
        else:
            value = autograd_in_batch(x, y, 0.01, True, True, "sum", "nt-xent")
        value.backward()
        results.append((value.detach(), x.grad, y.grad))
    assert results[0][0].item() == pytest.approx(4 * math.log1p(6 * math.exp(-100)), rel=1e-12)
    assert 0 < results[0][1].abs().max().item() < 1e-40
    torch.testing.assert_close(results[0], results[1], rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("pairing", list(PAIRINGS))
def test_in_batch_node_second_derivative_is_refused_not_wrong(pairing):
    a, p = leaf(4, 3, seed=36), leaf(4, 3, seed=37)
    (grad,) = torch.autograd.grad(infonce(a, p, temperature=0.5, **PAIRINGS[pairing]), a, create_graph=True)
    with pytest.raises(RuntimeError):
        grad.sum().backward()


@pytest.mark.parametrize("pairing", list(PAIRINGS))
@pytest.mark.parametrize("include_positive", [True, False])
def test_in_batch_node_rows_may_be_changed_in_place(include_positive, pairing):
    """reduction="none" returns a tensor of its own: changing it in place leaves the saved
    values alone, so the gradient is that of the changed rows (as on the autograd path)."""
    a, p = leaf(4, 3, seed=38), leaf(4, 3, seed=39)
    rows = node_loss(include_positive, pairing)(a, p, temperature=0.5, reduction="none")
    rows.mul_(2.0)
    (grad,) = torch.autograd.grad(rows.sum(), a)
    (expected,) = torch.autograd.grad(2.0 * autograd_in_batch(a, p, 0.5, True, include_positive, "none", pairing).sum(), a)
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-14)
