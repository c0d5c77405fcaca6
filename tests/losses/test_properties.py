"""Hypothesis property tests on random hypercube codes and embeddings."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from clustertheory.losses import hard_debiased, hypercube_infonce, infonce

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def code_batches(draw_):
    batch = draw_(st.integers(1, 4))
    negatives = draw_(st.integers(1, 5))
    dim = draw_(st.integers(1, 6))
    seed = draw_(st.integers(0, 2**31 - 1))
    beta = draw_(st.floats(0.0, 50.0, allow_nan=False))
    gen = torch.Generator().manual_seed(seed)

    def codes(*shape):
        return torch.randint(0, 2, shape, generator=gen).to(torch.float64) * 2 - 1

    order = draw_(st.permutations(list(range(negatives))))
    return codes(batch, dim), codes(batch, dim), codes(batch, negatives, dim), beta, order


@SETTINGS
@given(code_batches())
def test_hypercube_loss_is_positive_and_negative_order_free(case):
    z, zp, zn, beta, order = case
    rows = hypercube_infonce(z, zp, zn, beta, reduction="none")
    assert (rows > 0).all()  # float64 and beta d <= 300 keep exp(-2 beta d) representable
    # bounds: log(1 + l exp(-2 beta d)) <= l_b <= log(1 + l exp(2 beta d)) since |z.(z_i - z+)| <= 2d
    l, d = zn.shape[1], z.shape[1]
    assert (rows <= math.log1p(l) + 2 * beta * d + 1e-9).all()
    torch.testing.assert_close(hypercube_infonce(z, zp, zn[:, order], beta, reduction="none"), rows)


@SETTINGS
@given(code_batches())
def test_hypercube_clean_codes_lower_bound(case):
    """z+ = z (a clean g): l_b = log(1 + sum_i exp(-2 beta h(z, z_i))) >= log(1 + l exp(-2 beta d))."""
    z, _, zn, beta, _ = case
    rows = hypercube_infonce(z, z, zn, beta, reduction="none")
    hamming = (z.unsqueeze(1) != zn).sum(-1).to(torch.float64)
    torch.testing.assert_close(rows, torch.log1p(torch.exp(-2 * beta * hamming).sum(-1)))


@SETTINGS
@given(
    st.integers(0, 2**31 - 1),
    st.integers(1, 6),
    st.floats(0.05, 2.0),
    st.floats(0.0, 0.95),
    st.floats(0.0, 5.0),
)
def test_infonce_and_hard_debiased_negative_permutation_invariance(seed, k, temperature, tau_plus, hardness):
    gen = torch.Generator().manual_seed(seed)
    a, p, n = (torch.randn(*shape, generator=gen, dtype=torch.float64) for shape in [(3, 4), (3, 4), (3, k, 4)])
    order = torch.randperm(k, generator=gen)
    base = infonce(a, p, n, temperature=temperature, reduction="none")
    assert (base > 0).all()
    torch.testing.assert_close(infonce(a, p, n[:, order], temperature=temperature, reduction="none"), base)
    hard = hard_debiased(a, p, n, temperature=temperature, tau_plus=tau_plus, hardness=hardness, reduction="none")
    assert torch.isfinite(hard).all() and (hard > 0).all()
    shuffled = hard_debiased(a, p, n[:, order], temperature=temperature, tau_plus=tau_plus, hardness=hardness, reduction="none")
    torch.testing.assert_close(shuffled, hard)
