"""Markov-chain blurring on the hypercube: the argument behind Lemma 4.4.

For clean codes the InfoNCE depends only on the vertex law p = D of y = g(x) (2^d,):

    Ltilde(D) = E_{y, ybar_1..ybar_l ~ D} log(1 + sum_i exp(-2 beta h(y, ybar_i))).

Blurring moves D one step of the lazy walk (w.p. 1/2 flip one uniformly chosen bit):

    (K p)_v = p_v / 2 + (1 / 2d) sum_j p_{v XOR 2^j},

which multiplies the Walsh coefficient of every character chi_S by 1 - |S|/d. The
Hamming distance of two independently walking points is a Markov chain on 0..d
(:func:`hamming_kernel`). Vertex indices follow :mod:`clustertheory.analysis.hypercube`.
Everything is exact (finite sums, or the Laplace quadrature of
:mod:`clustertheory.analysis.exact_loss`); Monte Carlo appears only as a check.

The last section holds the measurements of the blurring simulations, one call per grid cell
returning result rows (:func:`kernel_rows`, :func:`lemma18_row`, :func:`chain_rows`,
:func:`curvature_fd_rows`, :func:`threshold_row`, :func:`search_rows`), and the readings of
those rows (:func:`monte_carlo_z`, :func:`curvature_fd_errors`, :func:`cell_increases`,
:func:`entry_gap`, :func:`chain_curves`, :func:`rising_starts`, :func:`threshold_curves`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from functools import cache

import numpy as np
import torch
from scipy.special import comb
from scipy.stats import binom

from clustertheory.analysis.exact_loss import (
    AUTO_MAX_TERMS,
    LAPLACE_STEP,
    METHODS,
    expected_log1p_sum_batch,
    laplace_grid,
    laplace_log1p_sum,
    multinomial_term_count,
    uniform_minimum,
)
from clustertheory.analysis.hypercube import (
    check_dim,
    check_law,
    hamming_matrix,
    vertex_weight,
)
from clustertheory.analysis.metrics import uniformity
from clustertheory.config import (
    check_in,
    check_int_range,
    check_nonneg,
    check_nonneg_int,
    check_positive,
    check_positive_int,
)
from clustertheory.statistics import Interval, z_score
from clustertheory.utils import one_thread_below

KERNEL_VARIANTS = ("exact", "paper", "paper-remainder")
MAX_CURVATURE_DIM = 40  # uniform_curvatures needs only (d+1)-dim objects; checked against 60-digit values
STEPS = np.array([-2, -1, 0, 1, 2])  # the moves of the Hamming-distance chain in one step
# The search only proposes laws (each one it reports is re-evaluated exactly), so it may use
# coarser quadrature nodes: step 1/4 keeps the discretisation error near 1e-14, margin 30 the
# truncation near 1e-13, with 2.5x fewer nodes than the exact loss uses.
SEARCH_STEP = 0.25
CHUNK_ELEMENTS = 2**23  # the exact loss of many laws is computed in chunks of about this many float64s
SEARCH_MARGIN = 30.0


# ----------------------------------------------------------------------------- the walk


def _dim_of(law) -> int:
    size = law.shape[-1]
    d = int(size).bit_length() - 1
    if size < 2 or size != 2**d:
        raise ValueError(f"law must have last dimension 2^d (d >= 1), got {size}")
    return check_dim("d", d)


def walk_step(law):
    """One lazy-walk step of vertex laws (..., 2^d): (K p)_v = p_v/2 + (1/2d) sum_j p_{v XOR 2^j}.

    Works on numpy arrays and torch tensors (differentiable); returns the same type.
    """
    d = _dim_of(law)
    index = np.arange(2**d)
    flipped = 0.0
    for j in range(d):
        perm = index ^ (1 << j)
        flipped = flipped + law[..., torch.from_numpy(perm).to(law.device) if torch.is_tensor(law) else perm]
    return 0.5 * law + flipped / (2 * d)


def walk_path(law, steps: int) -> np.ndarray:
    """(steps + 1, 2^d): the laws D_0 = law, D_{t+1} = K D_t."""
    law, _ = check_law("law", law)
    steps = check_nonneg_int("steps", steps)
    path = [law]
    for _ in range(steps):
        path.append(walk_step(path[-1]))
    return np.stack(path)


# ----------------------------------------------------------------------------- distance laws


def distance_laws(law) -> np.ndarray:
    """(..., 2^d, d+1): q[..., y, h] = P_{ybar ~ law}[h(y, ybar) = h], for laws (..., 2^d) (numpy, exact)."""
    law = np.asarray(law, dtype=np.float64)
    d = _dim_of(law)
    distance = hamming_matrix(d)  # symmetric, so law @ [distance == h] sums over v for each y
    return np.stack([law @ (distance == h).astype(np.float64) for h in range(d + 1)], axis=-1)


def distance_law(law) -> np.ndarray:
    """(..., d+1): P[h(y, ybar) = h] for y, ybar ~ law independent."""
    law = np.asarray(law, dtype=np.float64)
    return np.einsum("...y,...yh->...h", law, distance_laws(law))


def krawtchouk(d: int) -> np.ndarray:
    """(d+1, d+1): K[k, h] = sum_{|v| = h} chi_S(v) = sum_j (-1)^j C(k, j) C(d-k, h-j) for |S| = k.
    Read-only (computed once per d: the curvature and the Walsh-path loss use it on every call)."""
    return _krawtchouk(check_int_range("d", d, 1, MAX_CURVATURE_DIM))


@cache
def _krawtchouk(d: int) -> np.ndarray:
    k, h, j = np.meshgrid(np.arange(d + 1), np.arange(d + 1), np.arange(d + 1), indexing="ij")
    table = ((-1.0) ** j * comb(k, j) * comb(d - k, h - j)).sum(axis=2)
    table.flags.writeable = False
    return table


def _hadamard(d: int, dtype=torch.float64) -> torch.Tensor:
    """(2^d, 2^d) Walsh matrix W[S, v] = chi_S(v) = (-1)^{|S AND v|} (symmetric, W W = 2^d I)."""
    return _hadamard64(d).to(dtype)


@cache
def _hadamard64(d: int) -> torch.Tensor:
    index = np.arange(2**d)
    return torch.from_numpy((-1.0) ** vertex_weight(d)[index[:, None] & index[None, :]])


def distance_laws_torch(law: torch.Tensor) -> torch.Tensor:
    """Differentiable (..., 2^d) -> (..., 2^d, d+1) distance laws through the Walsh transform.

    q[y, h] = 2^-d sum_S chi_S(y) phat_S K[|S|, h], phat = W p (a convolution on Z_2^d).
    Agrees with :func:`distance_laws` to rounding (entries may be -1e-17 instead of 0).
    """
    d = _dim_of(law)
    walsh = _hadamard(d, law.dtype).to(law.device)
    kraw = torch.from_numpy(krawtchouk(d)[vertex_weight(d)]).to(law)  # (2^d, d+1): K[|S|, h] (a copy)
    spectrum = law @ walsh  # (..., 2^d)
    return walsh @ (spectrum.unsqueeze(-1) * kraw) / 2**d


# ----------------------------------------------------------------------------- the reduced loss


def _distance_log_ratio(d: int, beta: float) -> np.ndarray:
    return -2.0 * beta * np.arange(d + 1, dtype=np.float64)


def reduced_loss(law, num_negatives: int, beta: float, method: str = "auto"):
    """Ltilde(D) = sum_y p_y E log(1 + sum_{i<=l} exp(-2 beta h_i)), h_i ~ q[y] i.i.d.

    law: numpy (2^d,) or (B, 2^d) -> float or (B,) (exact finite sum or quadrature, by
    ``method`` as in :func:`expected_log1p_sum_batch`); torch (..., 2^d) -> (...)
    differentiable tensor (Laplace quadrature).
    """
    l = check_positive_int("num_negatives", num_negatives)
    beta = check_nonneg("beta", beta)
    check_in("method", method, METHODS)
    d = _dim_of(law)
    log_ratio = _distance_log_ratio(d, beta)
    if torch.is_tensor(law):
        q = distance_laws_torch(law)
        per_anchor = laplace_log1p_sum(torch.from_numpy(log_ratio).to(q), q.reshape(-1, d + 1), l)
        return (law * per_anchor.reshape(law.shape)).sum(-1)
    law = np.asarray(law, dtype=np.float64)
    q = distance_laws(law).reshape(-1, d + 1)
    if method == "multinomial" or (method == "auto" and multinomial_term_count(d + 1, l) <= AUTO_MAX_TERMS):
        per_anchor = expected_log1p_sum_batch(np.broadcast_to(log_ratio, q.shape), q, l, "multinomial")
    else:  # every anchor shares the values: one quadrature grid, a matrix product per chunk of anchors
        shared, per_anchor = torch.from_numpy(log_ratio), np.empty(len(q))
        nodes = len(laplace_grid(0.0, l))
        rows = max(1, CHUNK_ELEMENTS // nodes)
        for start in range(0, len(q), rows):
            chunk = torch.from_numpy(q[start : start + rows])
            with one_thread_below(len(chunk) * nodes):
                per_anchor[start : start + rows] = laplace_log1p_sum(shared, chunk, l).numpy()
    value = (law * per_anchor.reshape(law.shape)).sum(-1)
    return float(value) if law.ndim == 1 else value


def monte_carlo_reduced_loss(law, num_negatives: int, beta: float, samples: int, seed: int | np.random.Generator = 0) -> tuple[float, float]:
    """(mean, standard error) of log(1 + sum_{i<=l} exp(-2 beta h(y, ybar_i))) over ``samples``
    direct draws of y, ybar_1..ybar_l ~ law (a cross-check of :func:`reduced_loss`)."""
    law, d = check_law("law", law)
    l = check_positive_int("num_negatives", num_negatives)
    beta = check_nonneg("beta", beta)
    n = check_positive_int("samples", samples)
    if n < 2:
        raise ValueError(f"samples must be >= 2 for a standard error, got {n}")
    rng = np.random.default_rng(seed)
    y = rng.choice(len(law), n, p=law)
    ybar = rng.choice(len(law), (n, l), p=law)
    values = np.log1p(np.exp(-2.0 * beta * hamming_matrix(d)[y[:, None], ybar]).sum(axis=1))
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(n))


def reduced_loss_path(law, steps: int, num_negatives: int, beta: float, method: str = "auto") -> np.ndarray:
    """(steps + 1,): Ltilde(D_t) along the lazy walk started at ``law``."""
    return np.asarray(reduced_loss(walk_path(law, steps), num_negatives, beta, method))


# ----------------------------------------------------------------------------- the Hamming chain


def hamming_step_probs(d: int, h: int, variant: str = "exact") -> np.ndarray:
    """(5,) probabilities of the moves s = -2, -1, 0, +1, +2 of the distance h of two
    independent lazy walkers on H_d in one step:

        -2: h(h-1)/(4d^2)       -1: h/(2d)       0: 1/4 + 1/(4d) + h(d-h)/(2d^2)
        +1: (d-h)/(2d)          +2: (d-h)(d-h-1)/(4d^2)                    ("exact")

    (both move w.p. 1/4: two distinct differing bits give -2, two distinct agreeing bits
    +2, the same bit or one of each 0; exactly one moves w.p. 1/2: -1 or +1.)
    "paper" replaces the +2 entry by the printed (d-h)(d-h+1)/(4d^2), keeping the other
    entries; "paper-remainder" also takes the stay probability as 1 minus the printed moves.
    """
    d = check_dim("d", d)
    if not isinstance(h, (int, np.integer)) or not 0 <= h <= d:
        raise ValueError(f"h must be an integer in [0, {d}], got {h!r}")
    check_in("variant", variant, KERNEL_VARIANTS)
    up2 = (d - h) * (d - h - 1 if variant == "exact" else d - h + 1) / (4 * d * d)
    down2, down1, up1 = h * (h - 1) / (4 * d * d), h / (2 * d), (d - h) / (2 * d)
    stay = 0.25 + 1 / (4 * d) + h * (d - h) / (2 * d * d)
    if variant == "paper-remainder":
        stay = 1.0 - down2 - down1 - up1 - up2
    return np.array([down2, down1, stay, up1, up2])


def hamming_kernel(d: int, variant: str = "exact") -> np.ndarray:
    """(d+1, d+1) transition matrix of the distance chain from :func:`hamming_step_probs`.

    For the printed variants, mass sent beyond d (the +2 move from h = d-1) is dropped.
    """
    d = check_dim("d", d)
    kernel = np.zeros((d + 1, d + 1))
    for h in range(d + 1):
        for step, prob in zip(STEPS, hamming_step_probs(d, h, variant)):
            if 0 <= h + step <= d:
                kernel[h, h + step] += prob
    return kernel


def hamming_kernel_enumerated(d: int) -> np.ndarray:
    """(d+1, d+1) distance kernel by enumerating the joint move of two walkers.

    Walker at x = 0 and walker at y = first h bits set; each independently stays (1/2)
    or flips bit j (1/(2d) each); accumulate the probability of every new distance.
    """
    d = check_dim("d", d)
    moves = [(None, 0.5)] + [(j, 1 / (2 * d)) for j in range(d)]
    kernel = np.zeros((d + 1, d + 1))
    for h in range(d + 1):
        y = np.arange(d) < h
        for a, pa in moves:
            for b, pb in moves:
                x_new, y_new = np.zeros(d, bool), y.copy()
                if a is not None:
                    x_new[a] ^= True
                if b is not None:
                    y_new[b] ^= True
                kernel[h, int((x_new != y_new).sum())] += pa * pb
    return kernel


def hamming_kernel_monte_carlo(d: int, samples_per_row: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """(d+1, d+1) int64 counts of one simulated step of two bit-flip walkers from each distance h.

    Direct simulation: bit vectors x = 0 and y = first h bits set; each walker flips a
    uniformly chosen bit with probability 1/2; count the new Hamming distances.
    """
    d = check_dim("d", d)
    n = check_positive_int("samples_per_row", samples_per_row)
    rng = np.random.default_rng(seed)
    counts = np.zeros((d + 1, d + 1), dtype=np.int64)
    rows = np.arange(n)
    for h in range(d + 1):
        walkers = np.zeros((2, n, d), dtype=bool)
        walkers[1, :, :h] = True
        for w in range(2):
            move = rng.random(n) < 0.5
            bit = rng.integers(0, d, n)
            walkers[w, rows[move], bit[move]] ^= True
        counts[h] = np.bincount((walkers[0] != walkers[1]).sum(axis=1), minlength=d + 1)
    return counts


def kernel_z_scores(kernel: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(d+1, d+1) z = (freq - P) / sqrt(P (1 - P) / n) per entry, n = row count.

    Entries with P = 0 give 0 when never observed and +inf when observed.
    """
    n = counts.sum(axis=1, keepdims=True)
    freq = counts / n
    se = np.sqrt(np.clip(kernel * (1 - kernel), 0, None) / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (freq - kernel) / np.where(se > 0, se, 1), np.where(counts > 0, np.inf, 0.0))
    return z


# ----------------------------------------------------------------------------- Lemma 18


def delta_c(d: int, beta: float, C: float, variant: str = "exact") -> np.ndarray:
    """(d+1,) Delta_C(h) = E_s[log(C + e^{-2 beta (h+s)}) - log(C + e^{-2 beta h})], s one step of
    the distance chain from h (``variant`` as in :func:`hamming_step_probs`; the formula is
    evaluated at h + s even where a printed entry leaves 0..d).
    """
    d = check_dim("d", d)
    beta = check_nonneg("beta", beta)
    C = check_positive("C", C)
    h = np.arange(d + 1)
    probs = np.stack([hamming_step_probs(d, int(k), variant) for k in h])  # (d+1, 5)
    # log(C + e^{-2b(h+s)}) - log(C + e^{-2b h}) = log1p(e^{-2b h} expm1(-2b s) / (C + e^{-2b h})),
    # free of the cancellation that subtracting two logs of nearly equal numbers suffers for large C
    base = np.exp(-2.0 * beta * h)[:, None]
    change = np.log1p(base * np.expm1(-2.0 * beta * STEPS)[None, :] / (C + base))
    return (probs * change).sum(axis=1)


def lemma18_sum(d: int, beta: float, C: float, variant: str = "exact") -> tuple[float, float]:
    """(S, A): S = sum_k C(d, k) Delta_C(k) (Lemma 18 claims S < 0) and the scale
    A = sum_k C(d, k) |Delta_C(k)|. By stationarity of Binomial(d, 1/2) (eq. 15), S = 0
    for the exact kernel, so |S| / A is rounding-level.
    """
    delta = delta_c(d, beta, C, variant)
    weight = comb(d, np.arange(d + 1))
    return float(weight @ delta), float(weight @ np.abs(delta))


# ----------------------------------------------------------------------------- monotonicity


def walsh_direction(d: int, k: int) -> np.ndarray:
    """(2^d,) eta = 2^-d chi_S with S the first k bits: u + eps eta is a law for |eps| <= 1."""
    d = check_dim("d", d)
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= d:
        raise ValueError(f"k must be an integer in [0, {d}], got {k!r}")
    index = np.arange(2**d)
    return (-1.0) ** vertex_weight(d)[index & ((1 << k) - 1)] / 2**d


def uniform_curvatures(d: int, num_negatives: int, beta: float) -> np.ndarray:
    """(d,) c_k = d^2/d eps^2 Ltilde(u + eps eta_k) at eps = 0, eta_k = :func:`walsh_direction` (k = 1..d).

    The Hessian of Ltilde at the uniform law u is invariant under XOR-translations and bit
    permutations, so it is diagonal in the Walsh basis with one value per |S| = k. A step
    multiplies the eta_k component by 1 - k/d, so near u
    Ltilde(K p) - Ltilde(p) = ((1 - k/d)^2 - 1) c_k eps^2 / 2 + O(eps^3):
    blurring raises the loss near u along eta_k exactly when c_k < 0.

    Along eta_k every anchor's distance law moves by 2^-d chi_S(y) K[k] from b =
    Binomial(d, 1/2) (K: :func:`krawtchouk`), so with F(q) = E log(1 + sum_i e^{-2 beta h_i}),
    h_i ~ q:  c_k = 2^(1-d) grad F(b).K[k] + 4^-d K[k]^T Hess F(b) K[k].
    Only (d+1)-dimensional objects appear, so d may go up to MAX_CURVATURE_DIM.
    """
    d = check_int_range("d", d, 1, MAX_CURVATURE_DIM)
    l = check_positive_int("num_negatives", num_negatives)
    beta = check_nonneg("beta", beta)
    # F(q) = int w(u) (1 - (1 - q . M(u))^l) du, M_h(u) = 1 - exp(-e^u e^{-2 beta h}) (the Laplace
    # form of exact_loss). Its derivatives dF/dq_h = l int w phi^(l-1) M_h and
    # d2F/dq_h dq_g = -l (l-1) int w phi^(l-2) M_h M_g, phi = 1 - q . M, are sums of terms that
    # vanish with the value e^{-2 beta h}, so the Krawtchouk contractions below do not cancel
    # large constants (with exp(-s v_h) in place of M_h most digits are lost by d = 40).
    grid = laplace_grid(0.0, l).numpy()
    weight = LAPLACE_STEP * np.exp(-np.exp(grid))
    terms = -np.expm1(-np.exp(grid[None, :] + _distance_log_ratio(d, beta)[:, None]))  # M: (d+1, G)
    phi = 1.0 - (comb(d, np.arange(d + 1)) / 2**d) @ terms  # (G,), in [0, 1)
    grad = l * terms @ (weight * phi ** (l - 1))
    hess = -l * (l - 1) * (terms * (weight * phi ** max(l - 2, 0))) @ terms.T
    kraw = krawtchouk(d)[1:]  # (d, d+1): rows k = 1..d
    return 2.0 ** (1 - d) * kraw @ grad + 4.0**-d * np.einsum("kh,hg,kg->k", kraw, hess, kraw)


def step_increase(law, num_negatives: int, beta: float, method: str = "auto") -> float | np.ndarray:
    """Ltilde(K D) - Ltilde(D): the change of the reduced loss over one blurring step, exactly
    (:func:`reduced_loss` on numpy laws (2^d,) or (B, 2^d))."""
    law = np.asarray(law, dtype=np.float64)
    return reduced_loss(walk_step(law), num_negatives, beta, method) - reduced_loss(law, num_negatives, beta, method)


def curvature_threshold(d: int, num_negatives: int, low: float = 0.01, high: float = 10.0, scan: int = 16, bisections: int = 14) -> dict:
    """The largest beta in [low, high] at which the uniform law has a negative Walsh curvature
    (:func:`uniform_curvatures`): scan ``scan`` log-spaced betas, then bisect the last sign change
    ``bisections`` times (each halves the bracket in log beta).

    Returns {"beta_star": 0.0 when every curvature is >= 0 on the scan, inf when one is negative at
    ``high``, else the bisected value; "sign_changes": along the scan (1 means one threshold)}.
    """
    check_positive("low", low)
    if not high > low:
        raise ValueError(f"high must be > low = {low}, got {high!r}")
    check_positive_int("scan", scan)
    check_nonneg_int("bisections", bisections)

    def negative(beta: float) -> bool:
        return bool(uniform_curvatures(d, num_negatives, beta).min() < 0)

    grid = np.geomspace(low, high, max(scan, 2))
    signs = [negative(float(b)) for b in grid]
    changes = sum(a != b for a, b in itertools.pairwise(signs))
    if not any(signs):
        return {"beta_star": 0.0, "sign_changes": changes}
    last = max(i for i, sign in enumerate(signs) if sign)
    if last == len(grid) - 1:
        return {"beta_star": math.inf, "sign_changes": changes}
    lo, hi = float(grid[last]), float(grid[last + 1])
    for _ in range(bisections):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if negative(mid) else (lo, mid)
    return {"beta_star": math.sqrt(lo * hi), "sign_changes": changes}


def parity_asymptote(d: int) -> float:
    """Large-d estimate of the threshold: for l = 1 the parity curvature is proportional to
    sum_n (-1)^(n+1) / n (1 - e^{-2 beta n})^d ~ exp(-d e^{-2 beta}) - (1 - log 2), which turns
    negative below beta = 1/2 log(d / log(1 / (1 - log 2))) = 1/2 log(d / 1.18) (a heuristic)."""
    check_positive_int("d", d)
    return 0.5 * math.log(d / math.log(1.0 / (1.0 - math.log(2.0))))


def starting_laws(d: int, seed: int | np.random.Generator = 0) -> dict[str, np.ndarray]:
    """Named starting vertex laws (2^d,) for the chain:

    point         all mass on vertex 0
    dirichlet-a   a Dirichlet(a) draw, a in {0.1, 1, 10}
    code-half     a cluster-preserving code of 2^(d-1) equal clusters on a random half of the vertices
    code-skewed   a cluster-preserving code of 2^d clusters with weights proportional to 1..2^d
    parity-tilt   u + 0.9 eta_d (the law tilted along the parity of all d bits)
    """
    d = check_dim("d", d)
    rng = np.random.default_rng(seed)
    size = 2**d
    point = np.zeros(size)
    point[0] = 1.0
    half = np.zeros(size)
    half[rng.permutation(size)[: size // 2]] = 1.0 / (size // 2)
    skewed = rng.permutation(np.arange(1, size + 1)).astype(np.float64)
    laws = {"point": point}
    laws.update({f"dirichlet-{a:g}": rng.dirichlet(np.full(size, a)) for a in (0.1, 1.0, 10.0)})
    laws["code-half"] = half
    laws["code-skewed"] = skewed / skewed.sum()
    laws["parity-tilt"] = 2.0**-d + 0.9 * walsh_direction(d, d)
    return laws


def _search_grid(l: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """The search's quadrature nodes: :func:`laplace_grid` with step SEARCH_STEP and margin
    SEARCH_MARGIN, for log-ratios <= 0 (so one set of nodes serves every cell up to this l)."""
    return laplace_grid(0.0, l, dtype, device, step=SEARCH_STEP, margin=SEARCH_MARGIN)


def search_losses(law: torch.Tensor, negatives, betas) -> torch.Tensor:
    """Ltilde for a batch of cells, each with its own (l, beta), as the search needs it: law
    (C, ..., 2^d) -> (C, ...), differentiable, accurate to ~1e-12 (not to rounding):

        Ltilde = sum_y p_y int w(u) (1 - phi_y(u)^l) du,  phi_y(u) = sum_h q_y[h] exp(-e^u e^{-2 beta h}),
        w(u) = e^{-e^u}

    (the Laplace form of :func:`reduced_loss`; q_y the distance law of anchor y,
    :func:`distance_laws_torch`), by the trapezoid rule on the SEARCH_STEP nodes from
    -log(max l) - SEARCH_MARGIN to LAPLACE_U_MAX (all log-ratios are <= 0, so one set of nodes
    serves every cell), and 1 - phi^l = -expm1(l log phi): phi >= e^{-e^4} > 0, so the log is
    finite, and its absolute error (not relative, where phi is near 1) is all the search needs.
    """
    d = _dim_of(law)
    ls = torch.as_tensor(np.asarray(negatives, dtype=np.float64)).to(law)
    beta = torch.as_tensor(np.asarray(betas, dtype=np.float64)).to(law)
    if ls.shape != (law.shape[0],) or beta.shape != (law.shape[0],):
        raise ValueError(f"negatives and betas must hold one value per cell ({law.shape[0]}), got {tuple(ls.shape)} and {tuple(beta.shape)}")
    grid = _search_grid(int(ls.max()), law.dtype, law.device)
    weight = SEARCH_STEP * torch.exp(-torch.exp(grid))
    h = torch.arange(d + 1, dtype=law.dtype, device=law.device)
    terms = torch.exp(-torch.exp(grid[None, None, :] - 2.0 * beta[:, None, None] * h[None, :, None]))  # (C, n, G)
    phi = distance_laws_torch(law).reshape(law.shape[0], -1, d + 1) @ terms  # (C, anchors, G)
    one_minus_power = -torch.expm1(ls[:, None, None] * torch.log(phi))
    return (law * (one_minus_power @ weight).reshape(law.shape)).sum(-1)


def search_blurring_increases(
    d: int,
    negatives,
    betas,
    starts,
    steps: int = 30,
    lr: float = 0.1,
    device: torch.device | str = "cpu",
) -> list[dict]:
    """Gradient ascent (Adam, float64) for laws whose blurring step raises Ltilde, in many cells
    (l_c, beta_c) at once (one pass: the cells share nothing but the tensors they sit in).

    starts: (R, 2^d) starting laws, one restart each per cell, parametrised p = softmax(theta).
    Objective per restart: r(p) = (Ltilde(K p) - Ltilde(p)) / sum_v (p_v - 2^-d)^2, the
    increase per unit of collision excess (finite near the uniform law, where the raw
    increase vanishes quadratically). Every iterate is scored. Returns per cell
    {"max_increase", "law" (2^d,) the law of max_increase (numpy), "max_ratio"}.
    On CPU, small searches run on one intra-op thread (:func:`one_thread_below`).
    """
    d = check_dim("d", d)
    steps = check_nonneg_int("steps", steps)
    lr = check_positive("lr", lr)
    ls = [check_positive_int("negatives", l) for l in negatives]
    betas = [check_nonneg("betas", b) for b in betas]
    if len(ls) != len(betas) or not ls:
        raise ValueError(f"negatives and betas must name the same cells (at least one), got {len(ls)} and {len(betas)}")
    starts = np.asarray(starts, dtype=np.float64)
    if starts.ndim != 2 or starts.shape[1] != 2**d:
        raise ValueError(f"starts must have shape (R, {2**d}), got {starts.shape}")
    device = torch.device(device)
    theta = torch.log(torch.from_numpy(np.broadcast_to(starts, (len(ls), *starts.shape)).copy()).to(device) + 1e-12)
    elements = theta.numel() * len(_search_grid(max(ls)))
    with one_thread_below(elements if device.type == "cpu" else 0):
        return _ascend(ls, betas, theta, steps, lr)


def search_blurring_increase(d: int, num_negatives: int, beta: float, starts, steps: int = 60, lr: float = 0.1,
                             device: torch.device | str = "cpu") -> dict:
    """:func:`search_blurring_increases` for one cell (l, beta)."""
    return search_blurring_increases(d, [num_negatives], [beta], starts, steps, lr, device)[0]


def _ascend(ls: list[int], betas: list[float], theta: torch.Tensor, steps: int, lr: float) -> list[dict]:
    """The Adam loop of :func:`search_blurring_increases` from logits theta (C, R, 2^d)."""
    size, cells = theta.shape[-1], len(ls)
    theta = theta.requires_grad_(True)
    optimiser = torch.optim.Adam([theta], lr=lr)
    both_l, both_beta = ls + ls, betas + betas
    best_increase = torch.full((cells,), -math.inf, dtype=theta.dtype, device=theta.device)
    best_ratio = best_increase.clone()
    best_law = torch.softmax(theta[:, 0], -1).detach().clone()
    rows = torch.arange(cells, device=theta.device)
    for _ in range(steps + 1):
        law = torch.softmax(theta, dim=-1)
        losses = search_losses(torch.cat([walk_step(law), law]), both_l, both_beta)
        increase = losses[:cells] - losses[cells:]  # (C, R)
        ratio = increase / ((law - 1.0 / size) ** 2).sum(-1)
        with torch.no_grad():
            top = increase.argmax(dim=1)
            better = increase[rows, top] > best_increase
            best_increase[better] = increase[rows, top][better]
            best_law[better] = law[rows, top][better]
            best_ratio = torch.maximum(best_ratio, ratio.max(dim=1).values)
        optimiser.zero_grad()
        (-ratio.sum()).backward()
        optimiser.step()
    return [{"max_increase": float(best_increase[c]), "max_ratio": float(best_ratio[c]), "law": best_law[c].cpu().numpy()} for c in range(cells)]


# ----------------------------------------------------------------------------- experiment rows
#
# The measurements of the blurring simulations, one call per grid cell, each returning result
# rows (dicts with a "kind"), and the readings of those rows their verdicts and figures share.

UNIFORM_EXCESS = 1e-20  # a law with collision excess below this is the uniform law (Lemma 4.4 excludes it)


def inside_conditions(d: int, beta: float, c: float = 1.0) -> bool:
    """Lemma 4.4's conditions d > 3 and beta > c log d (the paper leaves c open)."""
    return d > 3 and beta > c * math.log(d)


def kernel_rows(d: int, variant: str, samples: int, seed: int | np.random.Generator = 0) -> list[dict]:
    """Per distance h = 0..d (kind "kernel"): row h of :func:`hamming_kernel` (``variant``) against the
    enumerated joint moves (enumeration_error: max |diff|) and ``samples`` simulated steps of two
    bit-flip walkers (:func:`hamming_kernel_monte_carlo`; max_abs_z, also against the enumeration),
    the stationarity residual |(pi K - pi)_h| of pi = Binomial(d, 1/2), and the +2 entry: derived,
    printed, and its simulated count out of ``samples``."""
    kernel, enumerated = hamming_kernel(d, variant), hamming_kernel_enumerated(d)
    counts = hamming_kernel_monte_carlo(d, samples, seed)
    z, z_enumerated = kernel_z_scores(kernel, counts), kernel_z_scores(enumerated, counts)
    binomial = binom.pmf(np.arange(d + 1), d, 0.5)
    stationary = binomial @ kernel - binomial
    rows = []
    for h in range(d + 1):
        rows.append({"kind": "kernel", "d": d, "h": h, "row_sum": float(kernel[h].sum()), "enumeration_error": float(np.abs(kernel[h] - enumerated[h]).max()),
                     "stationarity_residual": float(abs(stationary[h])), "max_abs_z": float(np.abs(z[h]).max()), "max_abs_z_enumerated": float(np.abs(z_enumerated[h]).max()),
                     "plus2_derived": float(hamming_step_probs(d, h, "exact")[4]), "plus2_printed": float(hamming_step_probs(d, h, "paper")[4]),
                     "plus2_count": int(counts[h, h + 2]) if h + 2 <= d else 0, "samples": int(counts[h].sum())})
    return rows


def lemma18_row(d: int, beta: float, C: float, variant: str) -> dict:
    """Kind "lemma18": :func:`lemma18_sum` relative to its scale with ``variant`` and with the printed kernel."""
    total, scale = lemma18_sum(d, beta, C, variant)
    printed, printed_scale = lemma18_sum(d, beta, C, "paper")
    return {"kind": "lemma18", "d": d, "beta": beta, "C": C, "lemma18_relative": total / scale, "lemma18_relative_printed": printed / printed_scale}


def chain_rows(d: int, l: int, beta: float, steps: int, variant: str, laws_seed, mc_samples: int, mc_seed: Callable[[str, int], int]) -> list[dict]:
    """The walk in cell (d, l, beta): a "uniform" row (Ltilde(u) and the closed-form minimum), then per
    starting law and step t = 0..steps a "chain" row: exact Ltilde(D_t), loss_minus_minimum, the
    step's change (increase, nan at the last step), collision excess, TV of the distance law from
    Binomial(d, 1/2), propagation_error (max |law of D_t - law of D_0 K^t|, K the ``variant``
    kernel), relative_curvature (min_k c_k / max_k |c_k| at u) and, at t = max(1, steps // 5),
    a Monte Carlo estimate of Ltilde with ``mc_samples`` draws, seeded by mc_seed(start, t).
    Starting laws: :func:`starting_laws` (``laws_seed``) and u + 0.9 eta_k along the degree k
    of the most negative curvature (unless k = d, the parity tilt already among them)."""
    kernel, binomial = hamming_kernel(d, variant), binom.pmf(np.arange(d + 1), d, 0.5)
    minimum = uniform_minimum(d, l, beta)
    curvature = uniform_curvatures(d, l, beta)
    relative = float(curvature.min() / np.abs(curvature).max())
    rows = [{"kind": "uniform", "d": d, "l": l, "beta": beta, "loss": reduced_loss(np.full(2**d, 2.0**-d), l, beta), "uniform_minimum": minimum}]
    laws = starting_laws(d, laws_seed)
    worst = int(np.argmin(curvature)) + 1
    if worst < d:  # k = d is the parity tilt, already a starting law
        laws[f"walsh-tilt-k{worst}"] = 2.0**-d + 0.9 * walsh_direction(d, worst)
    for name, law in laws.items():
        path = walk_path(law, steps)
        losses, distances = np.asarray(reduced_loss(path, l, beta)), distance_law(path)
        propagated = distances[0][None] @ np.stack([np.linalg.matrix_power(kernel, t) for t in range(len(path))])
        for t, p in enumerate(path):
            row = {"kind": "chain", "d": d, "l": l, "beta": beta, "start": name, "step": t, "loss": float(losses[t]), "loss_minus_minimum": float(losses[t] - minimum),
                   "increase": float(losses[t + 1] - losses[t]) if t < len(path) - 1 else math.nan, "collision_excess": uniformity(p)["collision_excess"],
                   "distance_tv_binomial": float(0.5 * np.abs(distances[t] - binomial).sum()), "propagation_error": float(np.abs(propagated[t, 0] - distances[t]).max()),
                   "relative_curvature": relative, "mc_loss": math.nan, "mc_stderr": math.nan}
            if t == max(1, steps // 5):
                row["mc_loss"], row["mc_stderr"] = monte_carlo_reduced_loss(p, l, beta, mc_samples, mc_seed(name, t))
            rows.append(row)
    return rows


def curvature_fd_rows(d: int, l: int, beta: float, step: float = 1e-3) -> list[dict]:
    """Per degree k (kind "curvature"): :func:`uniform_curvatures` and the central second difference
    (L(u + s eta_k) - 2 L(u) + L(u - s eta_k)) / s^2 of the exact loss, s = ``step``."""
    rows, uniform = [], np.full(2**d, 2.0**-d)
    for k, curvature in enumerate(uniform_curvatures(d, l, beta), start=1):
        tilt = walsh_direction(d, k)
        second = (reduced_loss(uniform + step * tilt, l, beta) - 2 * reduced_loss(uniform, l, beta) + reduced_loss(uniform - step * tilt, l, beta)) / step**2
        rows.append({"kind": "curvature", "d": d, "l": l, "beta": beta, "k": k, "curvature": float(curvature), "curvature_fd": float(second)})
    return rows


def threshold_row(d: int, l: int) -> dict:
    """Kind "threshold": :func:`curvature_threshold` of (d, l), log d and :func:`parity_asymptote`."""
    return {"kind": "threshold", "d": d, "l": l, **curvature_threshold(d, l), "log_d": math.log(d), "asymptote": parity_asymptote(d)}


def search_rows(d: int, negatives, betas, steps: int, restarts: int, tilt_amplitudes, seed, c: float = 1.0, device="cpu") -> list[dict]:
    """Per cell (l, beta) of negatives x betas (kind "search"): the largest one-step change of Ltilde
    that :func:`search_blurring_increases` finds (search_increase; search_increase_exact: its law
    re-evaluated by :func:`step_increase`; search_law_excess: that law's collision excess) from four
    of :func:`starting_laws`, u + 0.5 eta_k for k = 1..d and ``restarts`` Dirichlet(0.3) draws (one
    generator from ``seed``), and the largest change over the tilts u + a eta_k along the degree k
    of the most negative curvature (tilt_increase, a in ``tilt_amplitudes``); with relative_curvature
    (min_k c_k / max_k |c_k|), worst_k and whether (d, beta) is :func:`inside_conditions` (c)."""
    cells = list(itertools.product(negatives, betas))
    rng = np.random.default_rng(seed)
    named = starting_laws(d, rng)
    starts = [named[k] for k in ("point", "dirichlet-0.1", "code-half", "code-skewed")]
    starts += [2.0**-d + 0.5 * walsh_direction(d, k) for k in range(1, d + 1)] + list(rng.dirichlet(np.full(2**d, 0.3), restarts))
    found = search_blurring_increases(d, [l for l, _ in cells], [b for _, b in cells], np.stack(starts), steps=steps, device=device)
    rows = []
    for (l, beta), result in zip(cells, found):
        curvature = uniform_curvatures(d, l, beta)
        worst = int(np.argmin(curvature)) + 1
        tilts = [2.0**-d + a * walsh_direction(d, worst) for a in tilt_amplitudes]
        exact = float(step_increase(result["law"], l, beta))
        rows.append({"kind": "search", "d": d, "l": l, "beta": beta, "relative_curvature": float(curvature.min() / np.abs(curvature).max()), "worst_k": worst,
                     "inside": inside_conditions(d, beta, c), "search_increase": result["max_increase"], "search_increase_exact": exact,
                     "search_law_excess": uniformity(result["law"])["collision_excess"],
                     "tilt_increase": float(np.max(step_increase(np.stack(tilts), l, beta)))})
    return rows


def monte_carlo_z(row: dict) -> float:
    """|loss - mc_loss| / mc_stderr of a chain row; a zero-spread sample (a point law) must match to
    rounding (0 when within 1e-12, else inf)."""
    if row["mc_stderr"] > 1e-12:
        return abs(z_score(row["mc_loss"], row["loss"], row["mc_stderr"]))
    return 0.0 if abs(row["mc_loss"] - row["loss"]) < 1e-12 else math.inf


def curvature_fd_errors(rows: list[dict]) -> list[float]:
    """Per "curvature" row: |curvature - curvature_fd| / max_k |c_k| (the largest |curvature| of its cell (d, l, beta))."""
    curvature = [r for r in rows if r["kind"] == "curvature"]
    scale: dict[tuple, float] = {}
    for r in curvature:
        scale[(r["d"], r["l"], r["beta"])] = max(scale.get((r["d"], r["l"], r["beta"]), 0.0), abs(r["curvature"]))
    return [abs(r["curvature"] - r["curvature_fd"]) / scale[(r["d"], r["l"], r["beta"])] for r in curvature]


def cell_increases(rows: list[dict], c: float = 1.0) -> dict[tuple, dict]:
    """Per (d, l, beta) cell: {"increase": the largest exact one-step change of Ltilde over every
    non-uniform law tried (chain steps, searched laws, tilts; collision excess above UNIFORM_EXCESS),
    "curvature": relative_curvature at u, "inside": :func:`inside_conditions` (c)}."""
    cells: dict[tuple, dict] = {}

    def add(r: dict, value: float) -> None:
        cell = cells.setdefault((r["d"], r["l"], r["beta"]), {"increase": -math.inf, "curvature": r["relative_curvature"], "inside": inside_conditions(r["d"], r["beta"], c)})
        cell["increase"] = max(cell["increase"], value)

    for r in rows:
        if r["kind"] == "chain" and not math.isnan(r["increase"]) and r["collision_excess"] > UNIFORM_EXCESS:
            add(r, r["increase"])
    for r in rows:
        if r["kind"] == "search":
            add(r, r["tilt_increase"])
            if r["search_law_excess"] > UNIFORM_EXCESS:
                add(r, r["search_increase_exact"])
    return cells


def entry_gap(printed: float, frequency: Interval) -> Interval:
    """|printed - p| for a probability p known by an interval (e.g. :func:`wilson_interval` of a
    simulated frequency): the estimate |printed - p_hat| and the interval that p's interval maps to
    (its low end 0 when p's interval contains ``printed``); level, method and n are p's."""
    low, high = printed - frequency.high, printed - frequency.low
    return Interval(abs(printed - frequency.estimate), max(0.0, low, -high), max(abs(low), abs(high)), frequency.level, frequency.method, frequency.n)


def chain_curves(rows: list[dict], d: int, l: int, beta: float, key: str, keep: Callable[[dict], bool] = lambda r: True) -> dict[str, tuple]:
    """start -> (steps, values of ``key``) of the chain rows of cell (d, l, beta) that ``keep`` accepts,
    in row order (a start none of whose rows is kept maps to two empty lists)."""
    curves: dict[str, tuple[list, list]] = {}
    for r in rows:
        if r["kind"] == "chain" and (r["d"], r["l"], r["beta"]) == (d, l, beta):
            steps, values = curves.setdefault(r["start"], ([], []))
            if keep(r):
                steps.append(r["step"])
                values.append(r[key])
    return curves


def rising_starts(rows: list[dict], d: int, l: int, beta: float, minimal: float = 1e-12) -> set[str]:
    """The starting laws whose chain in cell (d, l, beta) has a step that raises Ltilde by more than ``minimal``."""
    curves = chain_curves(rows, d, l, beta, "increase")
    return {name for name, (_, up) in curves.items() if any(u > minimal for u in up if not math.isnan(u))}


def threshold_curves(rows: list[dict]) -> dict[int, tuple[list, list]]:
    """l -> (dims, beta*(d, l)) of the "threshold" rows, l and d increasing, where 0 < beta* < inf
    (an l with no such row maps to two empty lists)."""
    thresholds = [r for r in rows if r["kind"] == "threshold"]
    curves = {}
    for l in sorted({r["l"] for r in thresholds}):
        points = sorted((r for r in thresholds if r["l"] == l and 0 < r["beta_star"] < math.inf), key=lambda r: r["d"])
        curves[l] = ([r["d"] for r in points], [r["beta_star"] for r in points])
    return curves
