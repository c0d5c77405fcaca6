"""Exact minimum-norm minimisers of the spectral contrastive losses, and gradient descent on them.

Derivation (our own, from first principles; the paper's theorems state the special cases).
For the linear model with bias, ``Wt = [W b]`` (p, D') and lifted views ``xt = (x, 1)``,
every spectral loss of ``clustertheory.losses.spectral`` is

    L(Wt) = -2 tr(Wt M Wt^T) + ||Wt S Wt^T||_F^2,      S = E[xt xt^T] >= 0,  M = M^T,

with range(M) inside range(S) (M is built from the same training points). Let P project on
range(S) and ``S^{+1/2}`` be the pseudo-inverse square root. The loss sees Wt only through
``Z = Wt S^{1/2}`` (Wt P = Z S^{+1/2}), and with the whitened positive-pair moment

    T = S^{+1/2} M S^{+1/2}

it reads ``L = ||Z^T Z - T||_F^2 - ||T||_F^2``. ``Z^T Z`` ranges over positive semi-definite
matrices of rank <= p on range(S), so (Eckart-Young-Mirsky with the PSD constraint; by the
Hoffman-Wielandt inequality ``||X - T||^2 >= sum_i (lambda_i(X) - lambda_i(T))^2``) the
minimum is attained exactly at

    Z^T Z = sum_{i <= p} max(lambda_i, 0) e_i e_i^T,      T = sum_i lambda_i e_i e_i^T (descending),

and the minimum value is ``-sum_{i <= p} max(lambda_i, 0)^2``. This is unique unless
``lambda_p = lambda_{p+1} > 0`` (a tie across the cut). The minimisers are therefore
``Wt = Q Lambda_p^{1/2} E_p^T S^{+1/2} + N`` with Q orthogonal and N any matrix whose rows are
orthogonal to range(S) (directions no training view reaches). Since ``||Wt||_F^2 = ||Wt P||_F^2 +
||N||_F^2`` and the first term does not depend on Q, the minimum-norm minimiser is

    Wt* = Lambda_p^{1/2} E_p^T S^{+1/2}       (unique up to Wt -> Q Wt),
    A* = Wt*^T Wt* = S^{+1/2} E_p Lambda_p E_p^T S^{+1/2},

and ``||Wt* v|| = ||Lambda_p^{1/2} E_p^T S^{+1/2} v||`` for any direction v (Q-invariant).
The norm is that of ``[W b]``, bias included.

Consequences for the data model of ``clustertheory.data.collapse`` (population moments below):
with mu = 0 and noise variance s = sigma^2/dim per coordinate, S and M_UCL are diagonal and
T_UCL has eigenvalues ``a / (a + s)`` with a in (1 [bias], phi_1^2, phi_2^2, phi_k^2/(K-2), ...):
the ranking is that of the variances, and ``Wt* v_1 = 0`` exactly when phi_1^2 is not among the
p largest. M_SCL = sum_c pi_c xbar_c xbar_c^T has no v_2 component once S^{+1/2} is applied
(the subclass mean is absorbed by the bias), so ``Wt* v_2 = 0``: class collapse.

Gradient descent from small initialisation does not go straight there: while Wt is small,
``dWt/dt ~ 4 Wt M`` grows fastest along the top eigenvectors of M (not of T), which is how
it can learn the subclass first (M_SCL has eigenvalue 1 + mu^2 along v_2 + bias) and unlearn
it later. ``spectral_gradient_descent`` runs it exactly, in the eigenbasis of S.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from clustertheory.utils import one_thread_below
from clustertheory.config import check_in, check_nonneg, check_positive, check_positive_int, check_probability
from clustertheory.data.collapse import CollapseConfig

LOSSES = ("ucl", "scl", "joint")
# The eigen-decompositions below run on one BLAS thread: on a busy 2-core machine a threaded
# LAPACK call stalls (measured: eigh of a 203 x 203 matrix 5.8 s on two threads against 0.1 s
# on one; 2001 x 2001: 7.9 s against 2.7 s), and one thread costs little when the CPU is idle.


@dataclass(frozen=True)
class MinNormSolution:
    """The minimum-norm minimiser of a spectral loss.

    weights:     (p, D') Wt* (rows past ``kept`` are zero); any Q Wt* with Q orthogonal is equivalent
    eigenvalues: (r,) eigenvalues of T = S^{+1/2} M S^{+1/2} on range(S), descending
    kept:        number of eigen-directions with positive weight, min(p, #{lambda_i > 0})
    tie:         True when lambda_p = lambda_{p+1} > 0 (relative 1e-9): the minimiser is then not unique
    loss:        the minimum value -sum_{i <= p} max(lambda_i, 0)^2
    """

    weights: np.ndarray
    eigenvalues: np.ndarray
    kept: int
    tie: bool
    loss: float

    @property
    def gram(self) -> np.ndarray:
        """A* = Wt*^T Wt* (D', D')."""
        return self.weights.T @ self.weights

    def norm_along(self, direction: np.ndarray) -> float:
        """||Wt* v|| for a direction v of shape (D',)."""
        return float(np.linalg.norm(self.weights @ direction))


def range_basis(S: np.ndarray, rtol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """S = U diag(lambda) U^T on its range: (lambda (r,), U (D', r)), keeping lambda > rtol max(lambda).

    The one eigen-decomposition of S that :func:`spectral_min_norm` and
    :func:`spectral_gradient_descent` need; compute it once and pass it to both.
    """
    check_positive("rtol", rtol)
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"S must be a square matrix, got shape {S.shape}")
    with threadpool_limits(1, user_api="blas"):  # see the note under LOSSES
        lam, U = np.linalg.eigh((S + S.T) / 2)
    keep = lam > rtol * max(lam.max(), 0.0)
    return lam[keep], U[:, keep]


def _checked_basis(S, M, basis) -> tuple[np.ndarray, np.ndarray]:
    S, M = np.asarray(S), np.asarray(M)
    if S.ndim != 2 or S.shape[0] != S.shape[1] or M.shape != S.shape:
        raise ValueError(f"S and M must be square of one shape, got {S.shape} and {M.shape}")
    if basis is None:
        return range_basis(S)
    lam, U = basis
    if U.shape[0] != S.shape[0] or lam.shape != U.shape[1:]:
        raise ValueError(f"basis must be (lambda (r,), U ({S.shape[0]}, r)) from range_basis(S)")
    return lam, U


def spectral_min_norm(S: np.ndarray, M: np.ndarray, p: int, basis: tuple[np.ndarray, np.ndarray] | None = None) -> MinNormSolution:
    """Minimum-norm minimiser of L(Wt) = -2 tr(Wt M Wt^T) + ||Wt S Wt^T||_F^2 over Wt (p, D').

    S (D', D') symmetric PSD, M (D', D') symmetric with range inside range(S). Returns
    ``Wt* = Lambda_p^{1/2} E_p^T S^{+1/2}`` (module docstring for the derivation).
    ``basis``: ``range_basis(S)`` if already computed (else it is computed here).
    """
    check_positive_int("p", p)
    lam, U = _checked_basis(S, M, basis)
    M = np.asarray(M, dtype=np.float64)
    inv_sqrt = U / np.sqrt(lam)  # (D', r): S^{+1/2} = inv_sqrt @ U^T
    with threadpool_limits(1, user_api="blas"):
        T = inv_sqrt.T @ M @ inv_sqrt  # T in the eigenbasis of S, (r, r)
        t, E = np.linalg.eigh((T + T.T) / 2)
    t, E = t[::-1], E[:, ::-1]
    scale = max(np.abs(t).max(), 1e-300)
    t = np.where(np.abs(t) > 1e-12 * scale, t, 0.0)  # rounding-level eigenvalues are exact zeros
    kept = int(min(p, (t > 0).sum()))
    weights = np.zeros((p, S.shape[0]))
    weights[:kept] = (np.sqrt(t[:kept])[:, None] * E[:, :kept].T) @ inv_sqrt.T
    tie = bool(len(t) > p and t[p - 1] > 0 and abs(t[p - 1] - t[p]) <= 1e-9 * scale)
    loss = float(-(t[:kept] ** 2).sum())
    return MinNormSolution(weights=weights, eigenvalues=t, kept=kept, tie=tie, loss=loss)


def outranking_directions(config: CollapseConfig) -> int:
    """How many directions outrank the class feature v_1 in the exact L_UCL minimiser (all means 0).

    With zero means and zero-mean noise, S and M_UCL are diagonal in (v_1, ..., v_K, bias) and
    T = S^{-1/2} M S^{-1/2} has the eigenvalues (s = sigma^2/dim, tau = augmentation_noise,
    a = phi_k^2/(K-2))

        bias: 1,   v_1: phi_1^2/(phi_1^2 + tau^2 + s),   v_2: phi_2^2/(phi_2^2 + tau^2 + s),
        v_k (K - 2 of them): a/(a + s),   everything else: 0.

    The minimum-norm minimiser has ``Wt* v_1 = 0`` exactly when p <= the returned count (ties
    with v_1 are not counted; they make the minimiser non-unique). With tau = 0, x/(x + s) is
    increasing, so this is the variance rule: phi_1^2 is not among the p largest of
    (1, phi_1^2, phi_2^2, phi_3^2/(K-2), ..., phi_K^2/(K-2)). With tau > 0 an irrelevant feature
    outranks v_1 as soon as a > phi_1^2 s / tau^2, which is tiny when s = sigma^2/dim is small.
    """
    c = config
    if c.class_mean or c.subclass_mean or c.irrelevant_mean or c.noise_kind == "basis":
        raise ValueError("outranking_directions needs class_mean = subclass_mean = irrelevant_mean = 0 and zero-mean noise (noise_kind != 'basis')")
    s, tau2 = c.noise**2 / c.dim, c.augmentation_noise**2

    def ratio(x: float, extra: float) -> float:
        return x / (x + extra) if x + extra > 0 else 0.0

    target = ratio(c.class_strength**2, tau2 + s)
    others = [1.0, ratio(c.subclass_strength**2, tau2 + s)] + [ratio(c.irrelevant_variance, s)] * (c.num_features - 2)
    return int(sum(value > target for value in others))


def basis_names(config: CollapseConfig, bias: bool = True) -> list[str]:
    """Names of the reduced coordinates used by :func:`population_moments`."""
    names = [f"v{i + 1}" for i in range(config.num_features)]
    if config.dim > config.num_features:
        names.append("w")
    return names + (["bias"] if bias else [])


def population_moments(config: CollapseConfig, loss: str = "ucl", beta: float = 0.5, bias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Exact population (S, M) of the data model, in the reduced basis of :func:`basis_names`.

    Basis: v_1..v_K, then w = (v_{K+1} + ... + v_dim)/sqrt(dim - K) (present when dim > K), then
    the bias coordinate. On the orthogonal complement of this basis S = (sigma^2/dim) I and
    M = 0 (positive pairs have independent noise), hence T = 0 there and the minimum-norm
    minimiser vanishes there: the reduced problem is exact, not an approximation.

    With u the noiseless part, nu = E[xi] (sigma/dim on every coordinate for "basis" noise,
    0 for "signed-basis" and "gaussian"), J = tau^2 on the class and subclass coordinates, and s = sigma^2/dim:

        S     = [[E uu^T + J + ubar nu^T + nu ubar^T + s I,  ubar + nu], [., 1]]
        M_UCL = [[E uu^T + ubar nu^T + nu ubar^T + nu nu^T,  ubar + nu], [., 1]]
        M_SCL = 1/2 sum_{y = +-1} (ubar + y phi_1 v_1 + nu, 1)(ubar + y phi_1 v_1 + nu, 1)^T

    where ubar = (mu_1, mu_2, mu_k/(K-2), ...) and E uu^T has diagonal (phi_1^2 + mu_1^2,
    phi_2^2 + mu_2^2, (phi_k^2 + mu_k^2)/(K-2), ...) and off-diagonal products of means
    (the features are independent; two irrelevant coordinates are never active together).
    """
    check_in("loss", loss, LOSSES)
    check_probability("beta", beta)
    c = config
    K, d = c.num_features, c.dim
    extra = 1 if d > K else 0
    size = K + extra
    share = 1.0 / (K - 2)

    ubar = np.zeros(size)
    ubar[0], ubar[1], ubar[2:K] = c.class_mean, c.subclass_mean, c.irrelevant_mean * share
    uu = np.outer(ubar, ubar)
    uu[2:K, 2:K] = 0.0  # two irrelevant coordinates are never active together
    uu[0, 0] = c.class_strength**2 + c.class_mean**2
    uu[1, 1] = c.subclass_strength**2 + c.subclass_mean**2
    idx = np.arange(2, K)
    uu[idx, idx] = (c.irrelevant_strength**2 + c.irrelevant_mean**2) * share

    nu = np.zeros(size)  # E[xi]: zero except for the spec's literal "basis" noise
    if c.noise_kind == "basis":
        nu[:K] = c.noise / d
        if extra:
            nu[K] = c.noise / d * np.sqrt(d - K)
    s = c.noise**2 / d
    jitter = np.zeros(size)
    jitter[:2] = c.augmentation_noise**2

    def lift(block: np.ndarray, mean: np.ndarray) -> np.ndarray:
        out = np.ones((size + 1, size + 1))
        out[:size, :size], out[:size, size], out[size, :size] = block, mean, mean
        return out

    S = lift(uu + np.diag(jitter) + np.outer(ubar, nu) + np.outer(nu, ubar) + s * np.eye(size), ubar + nu)
    M_ucl = lift(uu + np.outer(ubar, nu) + np.outer(nu, ubar) + np.outer(nu, nu), ubar + nu)
    M_scl = np.zeros_like(S)
    for y in (-1.0, 1.0):
        mean = ubar + nu
        mean[0] += y * c.class_strength
        vec = np.append(mean, 1.0)
        M_scl += 0.5 * np.outer(vec, vec)
    M = {"ucl": M_ucl, "scl": M_scl, "joint": beta * M_scl + (1 - beta) * M_ucl}[loss]
    if not bias:
        S, M = S[:-1, :-1], M[:-1, :-1]
    return S, M


def spectral_gradient_descent(
    S: np.ndarray,
    M: np.ndarray,
    p: int,
    *,
    steps: int,
    lr: float,
    init_scale: float,
    seed: int,
    record_at: Sequence[int],
    basis: tuple[np.ndarray, np.ndarray] | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
) -> Iterator[tuple[int, np.ndarray]]:
    """Full-batch gradient descent on L(Wt) = -2 tr(Wt M Wt^T) + ||Wt S Wt^T||_F^2.

    Wt_0 has i.i.d. N(0, init_scale^2) entries (p, D'); each step is
    ``Wt <- Wt - lr (-4 Wt M + 4 (Wt S Wt^T) Wt S)``. Yields ``(t, Wt_t)`` (numpy float64) for
    every t in ``record_at`` (0 <= t <= steps).

    Exact, but run in the eigenbasis of S: with S = U diag(lambda) U^T on its range, V = Wt U
    follows ``V <- V - lr (-4 V (U^T M U) + 4 (V diag(lambda) V^T) V diag(lambda))`` (cost
    O(p r q + p^2 r) per step, q = rank(M), instead of O(p D'^2)), and the component of Wt
    orthogonal to range(S) has zero gradient, so it keeps its initial value.
    ``basis``: ``range_basis(S)`` if already computed.
    """
    check_positive_int("p", p)
    check_positive_int("steps", steps)
    check_positive("lr", lr)
    check_nonneg("init_scale", init_scale)
    record = sorted({int(t) for t in record_at})
    if not record or record[0] < 0 or record[-1] > steps:
        raise ValueError(f"record_at must hold steps in [0, {steps}], got {list(record_at)}")
    lam, U = _checked_basis(S, M, basis)
    rng = np.random.default_rng(seed)
    W0 = init_scale * rng.standard_normal((p, U.shape[0]))
    null_part = W0 - (W0 @ U) @ U.T

    device = torch.device(device)
    with threadpool_limits(1, user_api="blas"):
        M_r = U.T @ np.asarray(M, dtype=np.float64) @ U
        g, F = np.linalg.eigh(M_r)
    keep = np.abs(g) > 1e-12 * max(np.abs(g).max(), 1e-300)
    if keep.sum() < len(g) // 2:  # low rank (SCL: q <= 3): multiply by the factor F diag(g) F^T
        F_t = torch.as_tensor(F[:, keep], dtype=dtype, device=device)
        g_t = torch.as_tensor(g[keep], dtype=dtype, device=device)

        def times_M(V: torch.Tensor) -> torch.Tensor:
            return ((V @ F_t) * g_t) @ F_t.T

    else:
        M_t = torch.as_tensor(M_r, dtype=dtype, device=device)

        def times_M(V: torch.Tensor) -> torch.Tensor:
            return V @ M_t

    lam_t = torch.as_tensor(lam, dtype=dtype, device=device)
    V = torch.as_tensor(W0 @ U, dtype=dtype, device=device)

    def current() -> np.ndarray:
        return V.double().cpu().numpy() @ U.T + null_part

    done = 0
    for target in record:
        # Small problems run on one intra-op thread (threads only stall them on a busy CPU);
        # the setting is restored before yielding so it never leaks into the caller.
        with one_thread_below(V.numel() * V.shape[0]):
            for _ in range(target - done):
                VL = V * lam_t
                V = V - lr * (-4 * times_M(V) + 4 * (VL @ V.T) @ VL)
        done = target
        yield target, current()
