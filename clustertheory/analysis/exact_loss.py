"""Exact population InfoNCE for hypercube codes on finite data.

For codes g(x) in {-1,+1}^d the InfoNCE of docs/theory.md 1.3 with ``l`` i.i.d. negatives,

    L(g) = E log(1 + sum_{i<=l} exp(beta g(x).(g(x_i^-) - g(x^+)))),

depends, for a fixed anchor vertex y and alignment a = y.g(x^+), only on how the l
negatives fall over the d+1 Hamming distances from y. Every term is therefore an
instance of one primitive, E log(a + sum_{i<=l} X_i) with X_i i.i.d. on finitely many
values, computed exactly in two independent ways:

* "multinomial": the finite sum over the C(l+n-1, n-1) multinomial count vectors;
* "laplace": log(1 + y) = int_0^inf e^{-t} (1 - e^{-t y}) / t dt (Frullani) gives
  E log(1 + S/a) = int_0^inf e^{-t} (1 - phi(t/a)^l) / t dt, phi(s) = E e^{-s X},
  at a cost independent of l.

Monte Carlo (:func:`monte_carlo_code_infonce`) is only a cross-check.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import torch
from scipy.special import gammaln, logsumexp
from scipy.stats import binom

from clustertheory.analysis.hypercube import check_codes, popcount, vertex_index
from clustertheory.config import check_in, check_nonneg, check_positive, check_positive_int
from clustertheory.utils import one_thread_below

METHODS = ("auto", "multinomial", "laplace")
AUTO_MAX_TERMS = 1000  # "auto" sums multinomial terms up to this count, else integrates

# Laplace quadrature on u = log t: trapezoid rule with step h on [u_min, U_MAX].
# The integrand is analytic and bounded by 2 in the strip |Im u| < pi/2 (there
# |exp(-e^u v)| <= 1 for v >= 0), so the discretisation error is at most
# N / (exp(2 pi a / h) - 1) with a = 1.4 < pi/2, i.e. about 3e-31 N, N (the integral of the
# modulus along the strip edges) being of order U_MAX - u_min. Truncation: the right tail
# is below E1(e^4) < 1e-25; u_min is chosen so that the left tail, bounded by
# l max(v)/a e^{u_min}, is below e^{-40} (relative when l max(v)/a < 1). In practice the
# result agrees with the finite multinomial sum to a few 1e-15 (tests), for values from
# e^-100 to e^100.
LAPLACE_STEP = 1.0 / 8.0
LAPLACE_U_MAX = 4.0
LAPLACE_MARGIN = 40.0
_CHUNK_ELEMENTS = 2**24  # work arrays are cut into chunks of about this many float64s


def multinomial_term_count(num_values: int, num_negatives: int) -> int:
    """Number of count vectors k in N^n with sum k = l: C(l + n - 1, n - 1)."""
    return math.comb(num_negatives + num_values - 1, num_values - 1)


def _compositions(l: int, n: int) -> np.ndarray:
    """(C(l+n-1, n-1), n) int64: every vector of n non-negative counts summing to l (stars and bars)."""
    if n == 1:
        return np.array([[l]], dtype=np.int64)
    bars = np.array(list(combinations(range(l + n - 1), n - 1)), dtype=np.int64)
    edges = np.concatenate(
        [np.full((len(bars), 1), -1, dtype=np.int64), bars, np.full((len(bars), 1), l + n - 1, dtype=np.int64)], axis=1
    )
    return np.diff(edges, axis=1) - 1


def _multinomial_batch(log_ratio: np.ndarray, probs: np.ndarray, l: int) -> np.ndarray:
    """E log(1 + sum_{i<=l} X_i) by summing over multinomial counts; (B, n), (B, n) -> (B,).

    With log_ratio[b, j] = log(v_j / a): for counts k (sum k = l) the weight is
    l!/prod k_j! prod p_j^k_j and the value log(1 + sum_j k_j v_j / a), both in log space.
    The values depend on the row only through log_ratio, so they are computed once per
    distinct log_ratio row (rows of one alignment share them); the log weights of all rows
    are one matrix product counts @ log p (a zero-probability value with a positive count
    gives weight 0; with count 0 it contributes nothing).
    """
    counts = _compositions(l, probs.shape[1])  # (T, n)
    log_coef = gammaln(l + 1) - gammaln(counts + 1).sum(axis=1)  # (T,)
    used = (counts > 0).astype(np.float64)
    with np.errstate(divide="ignore"):
        log_counts = np.log(counts.astype(np.float64))  # -inf where k_j = 0
        log_probs = np.where(probs > 0, np.log(np.where(probs > 0, probs, 1.0)), 0.0)
    distinct, which = np.unique(log_ratio, axis=0, return_inverse=True)
    which = which.ravel()
    out = np.empty(len(probs))
    rows = max(1, _CHUNK_ELEMENTS // (counts.size + 1))
    values = np.empty((len(distinct), len(counts)))
    for start in range(0, len(distinct), rows):
        with np.errstate(invalid="ignore"):
            log_sum = logsumexp(log_counts[None] + distinct[start : start + rows, None, :], axis=2)  # log(S / a), (r, T)
        values[start : start + rows] = np.logaddexp(0.0, log_sum)
    rows = max(1, _CHUNK_ELEMENTS // (len(counts) + 1))
    for start in range(0, len(probs), rows):
        chunk = slice(start, start + rows)
        impossible = ((probs[chunk] <= 0).astype(np.float64) @ used.T) > 0  # a positive count of a value of probability 0
        log_weight = np.where(impossible, -np.inf, log_coef + log_probs[chunk] @ counts.T.astype(np.float64))  # (b, T)
        out[chunk] = (np.exp(log_weight) * values[which[chunk]]).sum(axis=1)
    return out


def laplace_grid(
    max_log_ratio: float, l: int, dtype=torch.float64, device=None, step: float = LAPLACE_STEP, margin: float = LAPLACE_MARGIN
) -> torch.Tensor:
    """(G,) nodes u of the Laplace quadrature in u = log t, spaced ``step`` and ending at LAPLACE_U_MAX
    (see the module constants; a coarser step or a smaller margin trades accuracy for nodes)."""
    spread = max(0.0, max_log_ratio + math.log(l))  # log of an upper bound on S/a
    u_min = -spread - margin
    count = int(math.ceil((LAPLACE_U_MAX - u_min) / step)) + 1
    return LAPLACE_U_MAX - step * torch.arange(count, dtype=dtype, device=device).flip(0)


def laplace_log1p_sum(log_ratio: torch.Tensor, probs: torch.Tensor, l: int) -> torch.Tensor:
    """E log(1 + sum_{i<=l} X_i / a) by the Laplace (Frullani) integral; differentiable in probs.

    log_ratio: (n,) shared by every row, or (B, n): log(v_j / a) (may be -inf for v_j = 0).
    probs:     (B, n) law of one X over the n values (rows sum to 1).
    Returns (B,):  int_R exp(-e^u) (1 - phi_b(e^u)^l) du,  phi_b(s) = sum_j p_bj exp(-s v_j / a).

    1 - phi is summed from the non-negative terms 1 - exp(-s v_j) (no cancellation) and
    1 - phi^l = -expm1(l log1p(-(1 - phi))) where phi > 1/2, 1 - phi^l directly elsewhere,
    so small and large S/a both keep their relative precision and gradients stay finite.
    """
    finite = log_ratio[torch.isfinite(log_ratio)]
    grid = laplace_grid(float(finite.max()) if finite.numel() else 0.0, l, log_ratio.dtype, log_ratio.device)
    return _laplace_on_grid(log_ratio, probs, l, grid)


def _laplace_on_grid(log_ratio: torch.Tensor, probs: torch.Tensor, l, grid: torch.Tensor) -> torch.Tensor:
    """:func:`laplace_log1p_sum` on given nodes ``grid`` (G,) (see :func:`laplace_grid`).

    l: an int -> (B,), or an (L,) float64 tensor of several l -> (L, B): everything but the
    final power phi^l is shared by all of them.
    """
    weight = LAPLACE_STEP * torch.exp(-torch.exp(grid))  # (G,) trapezoid weight x e^{-t}
    scaled = torch.exp(grid + log_ratio.unsqueeze(-1))  # s v_j / a: (n, G) or (B, n, G)
    one_minus_terms, phi_terms = -torch.expm1(-scaled), torch.exp(-scaled)
    if log_ratio.dim() == 1:
        one_minus_phi, phi = probs @ one_minus_terms, probs @ phi_terms  # (B, G)
    else:
        one_minus_phi = torch.einsum("bn,bng->bg", probs, one_minus_terms)
        phi = torch.einsum("bn,bng->bg", probs, phi_terms)
    if torch.is_tensor(l):
        l = l[:, None, None]  # (L, 1, 1): the branches below broadcast to (L, B, G)
    near_one = one_minus_phi < 0.5
    # each branch sees a harmless placeholder where it is not used, so no NaN gradient leaks
    safe_small = torch.where(near_one, one_minus_phi, torch.full_like(one_minus_phi, 0.25))
    safe_phi = torch.where(near_one, torch.full_like(phi, 0.5), phi)
    one_minus_power = torch.where(near_one, -torch.expm1(l * torch.log1p(-safe_small)), 1.0 - safe_phi**l)
    return one_minus_power @ weight


def _laplace_batch(log_ratio: np.ndarray, probs: np.ndarray, l) -> np.ndarray:
    """Numpy front of :func:`laplace_log1p_sum` for (B, n) inputs; l an int -> (B,), or an (L,)
    array of several l -> (L, B) (one quadrature for all of them, see :func:`_laplace_on_grid`).

    Rows that share their values (e.g. every anchor of one alignment) go through the shared
    (n,) path, a matrix product, in chunks. Each set of shared values gets its own nodes, long
    enough for its largest value that has positive probability in one of its rows (a
    zero-probability value never matters) and for the largest l: one large log-ratio (a large
    beta against a negative alignment) does not lengthen the nodes of every other row.
    """
    several = np.ndim(l) == 1
    power = torch.as_tensor(np.asarray(l, dtype=np.float64)) if several else l
    largest, count = int(np.max(l)), len(l) if several else 1
    distinct, which = np.unique(log_ratio, axis=0, return_inverse=True)
    which = which.ravel()
    out = np.empty((count, len(probs)) if several else len(probs))
    for r, shared in enumerate(distinct):
        members = np.flatnonzero(which == r)
        reached = shared[np.isfinite(shared) & (probs[members] > 0).any(axis=0)]
        grid = laplace_grid(float(reached.max()) if reached.size else 0.0, largest)
        rows = max(1, _CHUNK_ELEMENTS // (count * (probs.shape[1] + len(grid))))
        shared = torch.from_numpy(shared)
        for start in range(0, len(members), rows):
            chunk = members[start : start + rows]
            with one_thread_below(count * len(chunk) * len(grid)):
                out[..., chunk] = _laplace_on_grid(shared, torch.from_numpy(probs[chunk]), power, grid).numpy()
    return out


def expected_log1p_sum_batch(log_ratio, probs, num_negatives, method: str = "auto") -> np.ndarray:
    """E log(1 + sum_{i<=l} X_i / a) for a batch of laws: (B, n), (B, n) -> (B,).

    log_ratio[b, j] = log(v_bj / a_b); probs[b] is the law of X over the values v_b.
    num_negatives: l, or a sequence of L values of l -> (L, B) (the Laplace quadrature
    shares everything but the final power among them).
    method: "multinomial", "laplace", or "auto" (multinomial when it has at most
    AUTO_MAX_TERMS count vectors for the largest l).
    """
    several = np.ndim(num_negatives) == 1
    ls = [check_positive_int("num_negatives", l) for l in (num_negatives if several else [num_negatives])]
    if not ls:
        raise ValueError("num_negatives must hold at least one value")
    check_in("method", method, METHODS)
    log_ratio = np.asarray(log_ratio, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    if log_ratio.shape != probs.shape or probs.ndim != 2:
        raise ValueError(f"log_ratio and probs must both have shape (B, n), got {log_ratio.shape} and {probs.shape}")
    if method == "auto":
        method = "multinomial" if multinomial_term_count(probs.shape[1], max(ls)) <= AUTO_MAX_TERMS else "laplace"
    if method == "multinomial":
        values = np.stack([_multinomial_batch(log_ratio, probs, l) for l in ls])
        return values if several else values[0]
    return _laplace_batch(log_ratio, probs, np.array(ls) if several else ls[0])


def _check_law_vector(name: str, probs: np.ndarray, size: int | None = None) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 1 or (size is not None and len(probs) != size):
        raise ValueError(f"{name} must have shape ({size if size is not None else 'n'},), got {probs.shape}")
    if (probs < 0).any() or not np.isclose(probs.sum(), 1.0, rtol=0, atol=1e-8):
        raise ValueError(f"{name} must be non-negative and sum to 1, got sum {probs.sum()!r}")
    return probs


def expected_log_sum(a: float, values, probs, num_negatives: int, method: str = "auto") -> float:
    """E log(a + sum_{i<=l} X_i), X_i i.i.d. with P[X = values[j]] = probs[j].

    a > 0; values (n,) >= 0; probs (n,) a probability vector; l = num_negatives >= 1.
    Computed as log a + E log(1 + S/a) with :func:`expected_log1p_sum_batch`.
    """
    a = check_positive("a", a)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or (values < 0).any() or not np.isfinite(values).all():
        raise ValueError(f"values must be a 1-D array of finite numbers >= 0, got shape {values.shape}")
    probs = _check_law_vector("probs", probs, len(values))
    with np.errstate(divide="ignore"):
        log_ratio = np.log(values) - math.log(a)
    return math.log(a) + float(expected_log1p_sum_batch(log_ratio[None], probs[None], num_negatives, method)[0])


def _check_beta(beta) -> float:
    return check_nonneg("beta", beta)


def exact_code_infonce(
    anchor_codes,
    positive_codes,
    pair_weight,
    negative_codes,
    negative_weight,
    num_negatives: int,
    beta: float,
    method: str = "auto",
) -> float:
    """Exact population InfoNCE of hypercube codes with l i.i.d. negatives.

        L = sum_p w_p E_{ybar_1..l ~ nu} log(1 + sum_i exp(beta y_p.(ybar_i - y_p^+)))

    anchor_codes, positive_codes: (P, d) in {-1,+1}, the pair (g(x), g(x^+)) with weight
    pair_weight (P,) (sums to 1); negatives: codes (N, d) with law negative_weight (N,).
    Pairs are grouped by (anchor vertex y, alignment y.y^+) (:func:`group_pairs`); for each
    group the negatives enter only through the law of h(y, ybar) on 0..d, and y.ybar = d - 2h,
    so each group is one :func:`expected_log1p_sum_batch` term with values beta (d - 2h - y.y^+).
    """
    anchor = check_codes("anchor_codes", anchor_codes)
    d = anchor.shape[1]
    positive = check_codes("positive_codes", positive_codes, d)
    negative = check_codes("negative_codes", negative_codes, d)
    if positive.shape != anchor.shape:
        raise ValueError(f"positive_codes must have the shape of anchor_codes {anchor.shape}, got {positive.shape}")
    pair_weight = _check_law_vector("pair_weight", pair_weight, len(anchor))
    negative_weight = _check_law_vector("negative_weight", negative_weight, len(negative))
    l = check_positive_int("num_negatives", num_negatives)
    beta = _check_beta(beta)
    check_in("method", method, METHODS)

    _, group_weight, alignment, distance_law = group_pairs(
        vertex_index(anchor)[None], vertex_index(positive)[None], pair_weight, vertex_index(negative)[None], negative_weight, d
    )
    values = expected_log1p_sum_batch(group_log_ratio(alignment, d, beta), distance_law, l, method)
    return float(group_weight @ values)


def group_pairs(anchor_vertex, positive_vertex, pair_weight, negative_vertex, negative_weight, d: int):
    """The summary every exact loss of hypercube codes is computed from, for A code tables at once.

    anchor_vertex, positive_vertex: (A, P) vertex indices of the pair (g_t(x), g_t(x^+)) under each
    table t, with pair_weight (P,); negative_vertex: (A, N) those of the negatives, with law
    negative_weight (N,). Pairs are grouped by (table t, anchor vertex y, alignment a = y.y^+);
    a group's negatives enter only through the law of h(y, ybar) on 0..d (y.ybar = d - 2h),
    computed once per (table, anchor vertex). Returns, per group (G groups, sorted by table):

    table         (G,) int64 t
    weight        (G,) P[g_t(x) = y, g_t(x).g_t(x^+) = a]
    alignment     (G,) int64 a in -d..d
    distance_law  (G, d+1) P[h(y, g_t(x^-)) = h]
    """
    A = len(anchor_vertex)
    alignment = d - 2 * popcount(anchor_vertex ^ positive_vertex)  # (A, P)
    # d <= MAX_EXACT_DIM keeps these keys far below 2^63
    key = ((np.arange(A)[:, None] * 2**d + anchor_vertex) * (2 * d + 1) + alignment + d).ravel()
    keys, inverse = np.unique(key, return_inverse=True)
    weight = np.bincount(inverse.ravel(), weights=np.tile(pair_weight, A))
    anchors, anchor_of = np.unique(keys // (2 * d + 1), return_inverse=True)  # distinct (table, vertex)
    table, vertex = anchors // 2**d, anchors % 2**d
    distance = popcount(vertex[:, None] ^ negative_vertex[table])  # (U, N)
    flat = (np.arange(len(anchors))[:, None] * (d + 1) + distance).ravel()
    law = np.bincount(flat, weights=np.tile(negative_weight, len(anchors)), minlength=len(anchors) * (d + 1))
    anchor_of = anchor_of.ravel()
    return table[anchor_of], weight, keys % (2 * d + 1) - d, law.reshape(-1, d + 1)[anchor_of]


def group_log_ratio(alignment, d: int, beta: float) -> np.ndarray:
    """(G, d+1) log(v / a) = beta (y.ybar - y.y^+) = beta (d - 2h - a_g) of each group of
    :func:`group_pairs` at Hamming distance h = 0..d."""
    h = np.arange(d + 1)
    return beta * ((d - 2 * h)[None, :] - np.asarray(alignment)[:, None]).astype(np.float64)


def population_infonce(codes, data, num_negatives: int, beta: float, method: str = "auto") -> float:
    """Exact InfoNCE of a code table on a ViewDataset (docs/theory.md, 1.3 The loss).

    codes: (V, d) in {-1,+1}, the code g(v) of every view. Anchors are natural images
    x ~ base_weight, positives x^+ ~ A(x) (``data.pair_weights()``), negatives i.i.d.
    natural images (``data.base_view`` with ``data.base_weight``).
    """
    codes = check_codes("codes", codes)
    if len(codes) != data.num_views:
        raise ValueError(f"codes must have one row per view ({data.num_views}), got {len(codes)}")
    anchor_view, positive_view, weight = data.pair_weights()
    return exact_code_infonce(
        codes[anchor_view], codes[positive_view], weight, codes[data.base_view], data.base_weight, num_negatives, beta, method
    )


def population_infonce_batch(codes, data, num_negatives: int, beta: float, method: str = "auto") -> np.ndarray:
    """(A,) exact InfoNCE of A code tables on one ViewDataset, in one pass.

    codes: (A, V, d) in {-1,+1}. Equals ``[population_infonce(c, data, l, beta, method) for c
    in codes]``: the pairs of every table are grouped by (table, anchor vertex y, alignment
    y.y^+) (:func:`group_pairs`), each group's negatives enter through the law of h(y, ybar) on 0..d, and all groups
    of all tables go through one :func:`expected_log1p_sum_batch` call.
    """
    codes = np.asarray(codes)
    if codes.ndim != 3 or codes.shape[1] != data.num_views:
        raise ValueError(f"codes must have shape (A, {data.num_views}, d), got {codes.shape}")
    A, _, d = codes.shape
    vertex = vertex_index(check_codes("codes", codes.reshape(-1, d))).reshape(A, -1)  # (A, V)
    l = check_positive_int("num_negatives", num_negatives)
    beta = _check_beta(beta)
    check_in("method", method, METHODS)
    anchor_view, positive_view, weight = data.pair_weights()
    table, group_weight, alignment, distance_law = group_pairs(
        vertex[:, anchor_view], vertex[:, positive_view], weight, vertex[:, data.base_view], data.base_weight, d
    )
    values = expected_log1p_sum_batch(group_log_ratio(alignment, d, beta), distance_law, l, method)
    return np.bincount(table, weights=group_weight * values, minlength=A)


def monte_carlo_code_infonce(
    anchor_codes,
    positive_codes,
    pair_weight,
    negative_codes,
    negative_weight,
    num_negatives: int,
    beta: float,
    num_samples: int,
    seed: int | np.random.Generator = 0,
) -> tuple[float, float]:
    """Monte Carlo estimate (mean, standard error) of :func:`exact_code_infonce`.

    Draws num_samples pairs p ~ pair_weight and, for each, l negatives ~ negative_weight;
    averages log(1 + sum_i exp(beta y_p.(ybar_i - y_p^+))) (computed with logsumexp).
    """
    anchor = check_codes("anchor_codes", anchor_codes)
    d = anchor.shape[1]
    positive = check_codes("positive_codes", positive_codes, d)
    negative = check_codes("negative_codes", negative_codes, d)
    if positive.shape != anchor.shape:
        raise ValueError(f"positive_codes must have the shape of anchor_codes {anchor.shape}, got {positive.shape}")
    pair_weight = _check_law_vector("pair_weight", pair_weight, len(anchor))
    negative_weight = _check_law_vector("negative_weight", negative_weight, len(negative))
    l = check_positive_int("num_negatives", num_negatives)
    beta = _check_beta(beta)
    n = check_positive_int("num_samples", num_samples)
    if n < 2:
        raise ValueError(f"num_samples must be >= 2 for a standard error, got {n}")
    rng = np.random.default_rng(seed)
    losses = np.empty(n)
    rows = max(1, _CHUNK_ELEMENTS // (4 * l * d))
    for start in range(0, n, rows):
        size = min(rows, n - start)
        pair = rng.choice(len(anchor), size=size, p=pair_weight)
        negatives = negative[rng.choice(len(negative), size=(size, l), p=negative_weight)]  # (b, l, d)
        y = anchor[pair]
        logits = beta * np.einsum("bd,bkd->bk", y, negatives - positive[pair][:, None, :])
        losses[start : start + size] = np.logaddexp(0.0, logsumexp(logits, axis=1))
    return float(losses.mean()), float(losses.std(ddof=1) / math.sqrt(n))


def monte_carlo_population_infonce(codes, data, num_negatives: int, beta: float, num_samples: int, seed=0) -> tuple[float, float]:
    """Monte Carlo estimate (mean, standard error) of :func:`population_infonce` for a code
    table (V, d) on a ViewDataset: pairs (x, x^+) drawn from ``data.pair_weights()``, l
    negatives i.i.d. from the natural law, each term computed directly (no grouping by
    vertex or distance), so it shares nothing with the exact computation but the codes."""
    codes = check_codes("codes", codes)
    if len(codes) != data.num_views:
        raise ValueError(f"codes must have one row per view ({data.num_views}), got {len(codes)}")
    anchor_view, positive_view, weight = data.pair_weights()
    return monte_carlo_code_infonce(
        codes[anchor_view], codes[positive_view], weight, codes[data.base_view], data.base_weight, num_negatives, beta, num_samples, seed
    )


def uniform_minimum(d: int, num_negatives: int, beta: float, method: str = "auto") -> float:
    """Analytic minimum of Theorem 4.5: the loss of a uniform, cluster-preserving code.

        L* = E log(1 + sum_{i<=l} exp(-2 beta h_i)),  h_i ~ Binomial(d, 1/2) i.i.d.

    (with g(x) = g(x^+) every term is exp(beta (y.ybar - d)) = exp(-2 beta h(y, ybar)), and
    under the uniform law h(y, ybar) ~ Binomial(d, 1/2)). Any d >= 1 (cost O(d)).
    """
    d = check_positive_int("d", d)
    l = check_positive_int("num_negatives", num_negatives)
    beta = _check_beta(beta)
    h = np.arange(d + 1)
    probs = binom.pmf(h, d, 0.5)
    return float(expected_log1p_sum_batch((-2.0 * beta * h)[None], probs[None], l, method)[0])
