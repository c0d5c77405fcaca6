"""Hypothesis property tests on random hypercube codes and embeddings.

Symmetries: a signed permutation of the coordinates (a hypercube automorphism) changes no inner
product, so the hypercube loss may not move; InfoNCE on normalised embeddings ignores lengths
and rotations. Scale: on raw embeddings a scale c acts as temperature / c, and the hypercube
loss of c z at beta equals that of z at c^2 beta. Bounds and negative order."""

import math

import torch
from hypercube_strategies import SETTINGS as DERANDOMIZED
from hypercube_strategies import apply, gaussian, signed_permutations
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


@DERANDOMIZED
@given(seed=st.integers(0, 2**31 - 1), d=st.integers(1, 5), l=st.integers(1, 5), beta=st.floats(0.0, 50.0), data=st.data())
def test_hypercube_loss_is_invariant_under_hypercube_automorphisms(seed, d, l, beta, data):
    """Relaxed codes (any reals): a signed coordinate permutation keeps every z.z'."""
    z, zp, zn = gaussian(seed, 4, d), gaussian(seed + 1, 4, d), gaussian(seed + 2, 4, l, d)
    auto = data.draw(signed_permutations(d))
    rows = hypercube_infonce(z, zp, zn, beta, reduction="none")
    moved = hypercube_infonce(apply(auto, z), apply(auto, zp), apply(auto, zn), beta, reduction="none")
    torch.testing.assert_close(moved, rows, rtol=1e-10, atol=1e-12)


@DERANDOMIZED
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.1, 3.0), beta=st.floats(0.0, 5.0))
def test_hypercube_loss_scale_acts_as_beta_times_scale_squared(seed, scale, beta):
    z, zp, zn = gaussian(seed, 5, 3), gaussian(seed + 1, 5, 3), gaussian(seed + 2, 5, 4, 3)
    scaled = hypercube_infonce(scale * z, scale * zp, scale * zn, beta, reduction="none")
    torch.testing.assert_close(scaled, hypercube_infonce(z, zp, zn, beta * scale**2, reduction="none"), rtol=1e-10, atol=1e-12)


@DERANDOMIZED
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 6), temperature=st.floats(0.01, 2.0), in_batch=st.booleans())
def test_normalised_infonce_ignores_lengths_and_rotations(seed, k, temperature, in_batch):
    a, p, n = gaussian(seed, 4, 5), gaussian(seed + 1, 4, 5), gaussian(seed + 2, 4, k, 5)
    negatives = None if in_batch else n
    rows = infonce(a, p, negatives, temperature=temperature, reduction="none")
    lengths = torch.exp(gaussian(seed + 3, 4, 1 + k + 1))  # a positive length per vector
    rotation, _ = torch.linalg.qr(gaussian(seed + 4, 5, 5))
    a2, p2, n2 = (lengths[:, :1] * a) @ rotation, (lengths[:, 1:2] * p) @ rotation, (lengths[:, 2:, None] * n) @ rotation
    moved = infonce(a2, p2, None if in_batch else n2, temperature=temperature, reduction="none")
    torch.testing.assert_close(moved, rows, rtol=1e-9, atol=1e-9)
    # bounds from |cos| <= 1: log(1 + K e^{-2/t}) <= l_b <= log(1 + K e^{2/t}), K candidates besides the positive
    candidates = 3 if in_batch else k
    assert (rows >= math.log1p(candidates * math.exp(-2 / temperature)) - 1e-9).all()
    assert (rows <= math.log(candidates) + math.log1p(math.exp(-2 / temperature) / candidates) + 2 / temperature + 1e-9).all()


@DERANDOMIZED
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 6), temperature=st.floats(0.05, 2.0), scale=st.floats(0.1, 10.0))
def test_raw_infonce_scale_acts_as_temperature_over_scale(seed, k, temperature, scale):
    a, p, n = gaussian(seed, 4, 3), gaussian(seed + 1, 4, 3), gaussian(seed + 2, 4, k, 3)
    scaled = infonce(scale * a, p, n, temperature=temperature, normalize=False, reduction="none")
    reference = infonce(a, p, n, temperature=temperature / scale, normalize=False, reduction="none")
    torch.testing.assert_close(scaled, reference, rtol=1e-9, atol=1e-9)
