"""Exact minimum-norm minimisers of the spectral contrastive losses, and gradient descent on them.

Derivation (our own, from first principles; the paper's theorems state the special cases).
For the linear model with bias, ``Wt = [W b]`` (p, D') and lifted views ``xt = (x, 1)``,
every spectral loss of ``clustertheory.losses.spectral`` is

    L(Wt) = -2 tr(Wt M Wt^T) + ||Wt S Wt^T||_F^2,      S = E[xt xt^T] >= 0,  M = M^T,

with range(M) inside range(S) (M is built from the same training points). Let P project on
range(S), S = U D U^T on it, and ``S^{+1/2}`` be the pseudo-inverse square root. The loss sees
Wt only through ``Z = Wt S^{1/2}`` (Wt P = Z S^{+1/2}), and with the whitened positive-pair moment

    T = S^{+1/2} M S^{+1/2} = sum_i lambda_i e_i e_i^T        (descending)

it reads ``L = ||Z^T Z - T||_F^2 - ||T||_F^2``. ``Z^T Z`` ranges over positive semi-definite
matrices of rank <= p on range(S), so (Eckart-Young-Mirsky with the PSD constraint; by the
Hoffman-Wielandt inequality ``||X - T||^2 >= sum_i (lambda_i(X) - lambda_i(T))^2``) the
minimum value is ``-sum_{i <= p} max(lambda_i, 0)^2``, attained exactly at

    Z^T Z = sum_{i <= p} max(lambda_i, 0) e_i e_i^T

for every orthonormal eigenbasis e_i of T. When ``lambda_p = lambda_{p+1} > 0`` (a tie across
the cut) the choice of the e_i inside that eigenspace is free: the minimisers then form a
continuous family of Gram matrices, not one. In every case the minimisers are
``Wt = Q Lambda_p^{1/2} E_p^T S^{+1/2} + N`` with Q orthogonal and N any matrix whose rows are
orthogonal to range(S) (directions no training view reaches), and

    ||Wt||_F^2 = sum_{i <= p} lambda_i e_i^T D^{-1} e_i + ||N||_F^2          (e_i in the U basis).

So the minimum-norm minimiser has N = 0 and, inside a tied eigenspace with orthonormal basis F
(r, g) of which ``k`` directions are taken, the k directions ``F G`` that minimise
``tr(G^T F^T D^{-1} F G)``: the eigenvectors of ``F^T D^{-1} F`` with the k smallest eigenvalues
(directions of largest variance). It is unique up to Wt -> Q Wt unless that selection is itself
tied; ``||Wt* v||`` is Q-invariant. The norm is that of ``[W b]``, bias included.

Two regimes of a training set of n originals with m views each, lifted into D' = dim + 1:

* n m > dim + 1 ("many-views"): S has full rank and T is generically untied: the minimiser is
  unique up to Q and "minimum-norm" adds nothing. As n -> infinity at fixed dim, T tends to
  the population T of :func:`population_moments` with ``limit="many-views"``.
* n m <= dim + 1 ("many-dims"): every view is linearly independent of the others, and in the
  view basis T has the eigenvalues of the positive-pair matrix B of the views (M = X^T B X / N):
  for L_UCL, 1 on every function constant on each original (n-fold tie) and -1/(m-1) on the
  rest. The minimum-norm member is then the content. With perfect augmentation, as
  dim / (n m) -> infinity (the noise Gram tends to sigma^2 I, the cross terms to 0) and then
  n -> infinity, the min-norm member tends to the min-norm minimiser for the moments of the
  *noiseless* originals (the noise only memorises views; its weight vanishes): that is
  ``limit="many-dims"`` of :func:`population_moments`.

Consequences for the data model of ``clustertheory.data.collapse`` (all means 0, zero-mean
noise of variance s = sigma^2/dim per coordinate, jitter tau): in the many-views limit S and
M_UCL are diagonal in (v_1, ..., v_K, bias) and T_UCL has the eigenvalues

    bias: 1 exactly (the bias carries no noise),   v_1: phi_1^2/(phi_1^2 + tau^2 + s),
    v_2: phi_2^2/(phi_2^2 + tau^2 + s),   v_k (K - 2 of them): a/(a + s), a = phi_k^2/(K-2),

so the bias always takes the first slot and v_1 needs to be among the p - 1 largest of the
features. In the many-dims limit (tau = 0) T_UCL is the identity on span(v_1..v_K, bias) (a
full tie) and the least-norm selection ranks the directions by their variance: v_1 is kept
exactly when phi_1^2 is among the p largest of (1 [bias], phi_1^2, phi_2^2, a, ..., a). The two
rules differ when phi_1^2 > 1 (:func:`outranking_directions`). M_SCL = sum_c pi_c xbar_c xbar_c^T
has no v_2 component once S^{+1/2} is applied (the subclass mean is absorbed by the bias), so
``Wt* v_2 = 0`` in both limits: class collapse.

Gradient descent from small initialisation does not go straight there: while Wt is small,
``dWt/dt ~ 4 Wt M`` grows fastest along the top eigenvectors of M (not of T), which is how
it can learn the subclass first (M_SCL has eigenvalue 1 + mu^2 along v_2 + bias) and unlearn
it later, and which member of a tied family it ends near. :func:`spectral_gradient_descent`
runs it exactly, in the eigenbasis of S, for many problems at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from clustertheory.config import (
    Integer,
    Real,
    Settings,
    check_in,
    check_positive,
    check_positive_int,
    check_probability,
    setting,
)
from clustertheory.data.collapse import REGIMES, CollapseConfig
from clustertheory.utils import one_blas_thread
from clustertheory.verdict import Check

LOSSES = ("ucl", "scl", "joint")


@dataclass(frozen=True)
class MinNormSolution:
    """The minimum-norm minimiser of a spectral loss.

    weights:       (p, D') Wt* (rows past ``kept`` are zero); any Q Wt* with Q orthogonal is equivalent
    eigenvalues:   (r,) eigenvalues of T = S^{+1/2} M S^{+1/2} on range(S), descending
    kept:          number of eigen-directions with positive weight, min(p, #{lambda_i > 0})
    tie_size:      dimension of the eigenspace of lambda_p when it reaches past the cut
                   (lambda_p = lambda_{p+1} > 0: the minimisers form a family and Wt* is its
                   least-norm member); 0 when there is no tie
    selection_gap: relative gap between the last chosen and the first unchosen norm cost within
                   the tie (0: even the least-norm member is not unique); nan without a tie
    loss:          the minimum value -sum_{i <= p} max(lambda_i, 0)^2
    """

    weights: np.ndarray
    eigenvalues: np.ndarray
    kept: int
    tie_size: int
    selection_gap: float
    loss: float

    @property
    def tie(self) -> bool:
        """Whether the cut splits a tied eigenspace (the set of minimisers is then not a single orbit)."""
        return self.tie_size > 0

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
    with one_blas_thread():
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


def spectral_min_norm(
    S: np.ndarray, M: np.ndarray, p: int, basis: tuple[np.ndarray, np.ndarray] | None = None, tie_tol: float = 1e-8
) -> MinNormSolution:
    """Minimum-norm minimiser of L(Wt) = -2 tr(Wt M Wt^T) + ||Wt S Wt^T||_F^2 over Wt (p, D').

    S (D', D') symmetric PSD, M (D', D') symmetric with range inside range(S). Returns
    ``Wt* = Lambda_p^{1/2} E_p^T S^{+1/2}`` with E_p chosen within a tie at the cut to
    minimise the norm (module docstring for the derivation).
    ``basis``: ``range_basis(S)`` if already computed (else it is computed here).
    ``tie_tol``: eigenvalues of T within ``tie_tol * max|lambda|`` of lambda_p count as tied.
    """
    check_positive_int("p", p)
    check_positive("tie_tol", tie_tol)
    lam, U = _checked_basis(S, M, basis)
    M = np.asarray(M, dtype=np.float64)
    inv_sqrt = U / np.sqrt(lam)  # (D', r): S^{+1/2} = inv_sqrt @ U^T
    with one_blas_thread():
        T = inv_sqrt.T @ M @ inv_sqrt  # T in the eigenbasis of S, (r, r)
        t, E = np.linalg.eigh((T + T.T) / 2)
        t, E = t[::-1].copy(), E[:, ::-1]
        scale = max(np.abs(t).max(), 1e-300)
        t = np.where(np.abs(t) > 1e-12 * scale, t, 0.0)  # rounding-level eigenvalues are exact zeros
        kept = int(min(p, (t > 0).sum()))
        directions, values = E[:, :kept].copy(), t[:kept].copy()
        tie_size, gap = 0, float("nan")
        if kept == p and len(t) > p:
            tied = np.flatnonzero(np.abs(t - t[p - 1]) <= tie_tol * scale)
            if tied.max() >= p:  # the cut splits a tied eigenspace: choose its least-norm directions
                first, slots = int(tied.min()), p - int(tied.min())
                F = E[:, tied]  # (r, g) orthonormal basis of the tied eigenspace
                cost, G = np.linalg.eigh(F.T @ (F / lam[:, None]))  # ||.||^2 of unit directions: F^T diag(1/lam) F
                directions[:, first:p] = F @ G[:, :slots]
                values[first:p] = t[tied].mean()
                tie_size = len(tied)
                gap = float((cost[slots] - cost[slots - 1]) / max(abs(cost[slots]), 1e-300))
        weights = np.zeros((p, S.shape[0]))
        weights[:kept] = (np.sqrt(values)[:, None] * directions.T) @ inv_sqrt.T
    loss = float(-(t[:kept] ** 2).sum())
    return MinNormSolution(weights=weights, eigenvalues=t, kept=kept, tie_size=tie_size, selection_gap=gap, loss=loss)


def _zero_mean_model(config: CollapseConfig, what: str) -> None:
    c = config
    if c.class_mean or c.subclass_mean or c.irrelevant_mean or c.noise_kind == "basis":
        raise ValueError(f"{what} needs class_mean = subclass_mean = irrelevant_mean = 0 and zero-mean noise (noise_kind != 'basis')")


def _many_dims_model(config: CollapseConfig, what: str) -> None:
    if config.augmentation_noise:
        raise ValueError(f"{what} with limit='many-dims' needs augmentation_noise = 0 (perfect augmentation), got {config.augmentation_noise}")


def _whitened_features(config: CollapseConfig, limit: str) -> tuple[float, list[float], float]:
    """(t_1, [t_2, t_3, ..., t_K], t_bias): the diagonal of T_UCL for a zero-mean model.

    many-views: t = x / (x + extra) with extra = tau^2 + s on v_1, v_2 and s on v_3..v_K;
    many-dims: T_UCL is the identity and the least-norm choice ranks by variance, so the
    variances themselves stand in (a monotone ranking key, not eigenvalues).
    """
    c = config
    if limit == "many-dims":
        return c.class_strength**2, [c.subclass_strength**2] + [c.irrelevant_variance] * (c.num_features - 2), 1.0
    s, tau2 = c.noise**2 / c.dim, c.augmentation_noise**2

    def ratio(x: float, extra: float) -> float:
        return x / (x + extra) if x + extra > 0 else 0.0

    others = [ratio(c.subclass_strength**2, tau2 + s)] + [ratio(c.irrelevant_variance, s)] * (c.num_features - 2)
    return ratio(c.class_strength**2, tau2 + s), others, 1.0


def outranking_directions(config: CollapseConfig, limit: str = "many-views") -> int:
    """How many directions outrank the class feature v_1 in the min-norm L_UCL minimiser (all means 0).

    many-views (n m > dim): the eigenvalues of T_UCL (module docstring); the bias has T = 1
    exactly and outranks v_1 whatever phi_1 is. many-dims (dim > n m, tau = 0): the least-norm
    selection within the full tie ranks by variance, with the bias as a variance-1 entry:
    the count of (1, phi_2^2, a, ..., a) above phi_1^2 (the rule as Xue et al. state it).

    ``Wt* v_1 = 0`` exactly when p <= the returned count (entries equal to v_1's are not
    counted: they tie with it). The two limits differ exactly when phi_1^2 > 1.
    """
    check_in("limit", limit, REGIMES)
    _zero_mean_model(config, "outranking_directions")
    if limit == "many-dims":
        _many_dims_model(config, "outranking_directions")
    target, others, bias = _whitened_features(config, limit)
    return int(sum(value > target for value in [bias] + others))


def joint_threshold(config: CollapseConfig, p: int, limit: str = "many-views") -> float:
    """The SCL weight w* above which the min-norm minimiser of L_joint keeps v_1 (all means 0, p >= 2).

    With T_joint = w T_SCL + (1 - w) T_UCL: in the many-views limit T_SCL and T_UCL share the
    bias (1) and v_1 entry t_1 = phi_1^2/(phi_1^2 + tau^2 + s), and T_SCL is 0 on every other
    direction, so the others are scaled by (1 - w). v_1 is kept iff it is among the p - 1
    largest after the bias: ``w* = max(0, 1 - t_1 / t_(p-1))`` with t_(p-1) the (p-1)-th largest
    of the other features' t (0 when there are fewer than p - 1 of them). In the many-dims
    limit the class span (v_1, bias) has eigenvalue 1 for every w > 0 and the rest (1 - w), so
    v_1 is kept for every w > 0: w* = 0.
    """
    check_positive_int("p", p)
    if p < 2:
        raise ValueError(f"p must be >= 2 (with p = 1 the bias takes the only slot), got {p}")
    check_in("limit", limit, REGIMES)
    _zero_mean_model(config, "joint_threshold")
    if limit == "many-dims":
        _many_dims_model(config, "joint_threshold")
        return 0.0
    t1, others, _ = _whitened_features(config, limit)
    if len(others) < p - 1:
        return 0.0
    rival = sorted(others, reverse=True)[p - 2]
    return max(0.0, 1.0 - t1 / rival) if rival > 0 else 0.0


def regime_check(config: CollapseConfig, regime: str) -> Check:
    """A precondition: ``config`` is a training set of the ``regime`` a claim is about
    (n m > dim + 1 for "many-views", n m <= dim + 1 for "many-dims")."""
    check_in("regime", regime, REGIMES)
    requirement = "n m > dim + 1" if regime == "many-views" else "n m <= dim + 1"
    return Check.holds(f"setting is in the {regime} regime", config.regime == regime, f"n m = {config.num_views}, dim + 1 = {config.dim + 1}", requirement)


def basis_names(config: CollapseConfig, bias: bool = True) -> list[str]:
    """Names of the reduced coordinates used by :func:`population_moments`."""
    names = [f"v{i + 1}" for i in range(config.num_features)]
    if config.dim > config.num_features:
        names.append("w")
    return names + (["bias"] if bias else [])


def population_moments(
    config: CollapseConfig, loss: str = "ucl", scl_weight: float = 0.5, bias: bool = True, limit: str = "many-views"
) -> tuple[np.ndarray, np.ndarray]:
    """Exact population (S, M) of the data model, in the reduced basis of :func:`basis_names`.

    Basis: v_1..v_K, then w = (v_{K+1} + ... + v_dim)/sqrt(dim - K) (present when dim > K), then
    the bias coordinate. On the orthogonal complement of this basis S = (sigma^2/dim) I and
    M = 0 (positive pairs have independent noise), hence T = 0 there and the minimum-norm
    minimiser vanishes there: the reduced problem is exact, not an approximation.

    ``limit="many-views"`` (n m -> infinity at fixed dim). With u the noiseless part,
    nu = E[xi] (sigma/dim on every coordinate for "basis" noise, 0 for "signed-basis" and
    "gaussian"), J = tau^2 on the class and subclass coordinates, and s = sigma^2/dim:

        S     = [[E uu^T + J + ubar nu^T + nu ubar^T + s I,  ubar + nu], [., 1]]
        M_UCL = [[E uu^T + ubar nu^T + nu ubar^T + nu nu^T,  ubar + nu], [., 1]]
        M_SCL = 1/2 sum_{y = +-1} (ubar + y phi_1 v_1 + nu, 1)(ubar + y phi_1 v_1 + nu, 1)^T

    where ubar = (mu_1, mu_2, mu_k/(K-2), ...) and E uu^T has diagonal (phi_1^2 + mu_1^2,
    phi_2^2 + mu_2^2, (phi_k^2 + mu_k^2)/(K-2), ...) and off-diagonal products of means
    (the features are independent; two irrelevant coordinates are never active together).

    ``limit="many-dims"`` (dim / (n m) -> infinity, then n -> infinity; needs tau = 0): the
    same with s = 0 and nu = 0, i.e. the moments of the noiseless originals (module docstring);
    then M_UCL = S and only the least-norm selection decides.
    M_joint = scl_weight M_SCL + (1 - scl_weight) M_UCL.
    """
    check_in("loss", loss, LOSSES)
    check_probability("scl_weight", scl_weight)
    check_in("limit", limit, REGIMES)
    c = config
    if limit == "many-dims":
        _many_dims_model(c, "population_moments")
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
    s = c.noise**2 / d if limit == "many-views" else 0.0
    if c.noise_kind == "basis" and limit == "many-views":
        nu[:K] = c.noise / d
        if extra:
            nu[K] = c.noise / d * np.sqrt(d - K)
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
    M = {"ucl": M_ucl, "scl": M_scl, "joint": scl_weight * M_scl + (1 - scl_weight) * M_ucl}[loss]
    if not bias:
        S, M = S[:-1, :-1], M[:-1, :-1]
    return S, M


# ----------------------------------------------------------------------------- gradient descent


@dataclass(frozen=True)
class DescentConfig(Settings):
    """Full-batch gradient descent on a spectral loss from a small initialisation."""

    steps: int = setting(200, Integer(1), "updates")
    lr: float = setting(0.05, Real(0, open_lo=True), "step size")
    init_scale: float = setting(0.001, Real(0), 'std of the i.i.d. Gaussian entries of Wt_0 = [W_0 b_0] ("small initialisation")')


def spectral_gradient_descent(
    problems: Sequence[tuple[np.ndarray, np.ndarray]],
    p: int,
    descent: DescentConfig,
    *,
    seeds: Sequence[int],
    record_at: Sequence[int],
    bases: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
) -> Iterator[tuple[int, list[np.ndarray]]]:
    """Full-batch gradient descent on L(Wt) = -2 tr(Wt M Wt^T) + ||Wt S Wt^T||_F^2, for many
    problems (S_e, M_e) at once (one member per problem; one member is the single run).

    Member e starts from Wt_0 with i.i.d. N(0, init_scale^2) entries (p, D'_e) drawn from
    ``np.random.default_rng(seeds[e])`` (the same start whatever else runs with it), and each
    step is ``Wt <- Wt - lr (-4 Wt M + 4 (Wt S Wt^T) Wt S)``. Yields ``(t, [Wt_e])`` (numpy
    float64) for every t in ``record_at`` (0 <= t <= steps).

    Exact, but run in the eigenbasis of S: with S = U diag(lambda) U^T on its range, V = Wt U
    follows ``V <- V - lr (-4 V (U^T M U) + 4 (V diag(lambda) V^T) V diag(lambda))`` (cost
    O(p r^2) per step instead of O(p D'^2)), and the component of Wt orthogonal to range(S)
    has zero gradient, so it keeps its initial value. Members of different rank r_e are
    padded with lambda = 0 and M = 0, where V stays exactly 0. ``bases``: ``range_basis(S_e)``
    if already computed.
    """
    check_positive_int("p", p)
    if not problems or len(seeds) != len(problems):
        raise ValueError(f"seeds must give one seed per problem ({len(problems)}), got {len(seeds)}")
    steps, lr = descent.steps, descent.lr
    record = sorted({int(t) for t in record_at})
    if not record or record[0] < 0 or record[-1] > steps:
        raise ValueError(f"record_at must hold steps in [0, {steps}], got {list(record_at)}")
    bases = [None] * len(problems) if bases is None else list(bases)
    if len(bases) != len(problems):
        raise ValueError(f"bases must give one basis per problem ({len(problems)}), got {len(bases)}")
    checked = [_checked_basis(S, M, basis) for (S, M), basis in zip(problems, bases)]
    r = max(len(lam) for lam, _ in checked)
    lam_pad = np.zeros((len(problems), r))
    M_pad = np.zeros((len(problems), r, r))
    V0 = np.zeros((len(problems), p, r))
    null_parts, Us = [], []
    with one_blas_thread():
        for e, ((S, M), (lam, U)) in enumerate(zip(problems, checked)):
            W0 = descent.init_scale * np.random.default_rng(seeds[e]).standard_normal((p, U.shape[0]))
            k = len(lam)
            lam_pad[e, :k] = lam
            M_pad[e, :k, :k] = U.T @ np.asarray(M, dtype=np.float64) @ U
            V0[e, :, :k] = W0 @ U
            null_parts.append(W0 - (W0 @ U) @ U.T)
            Us.append(U)

    device = torch.device(device)
    lam_t = torch.as_tensor(lam_pad, dtype=dtype, device=device)[:, None, :]
    M_t = torch.as_tensor(M_pad, dtype=dtype, device=device)
    V = torch.as_tensor(V0, dtype=dtype, device=device)

    def current() -> list[np.ndarray]:
        values = V.double().cpu().numpy()
        return [values[e, :, : U.shape[1]] @ U.T + null for e, (U, null) in enumerate(zip(Us, null_parts))]

    done = 0
    for target in record:
        for _ in range(target - done):
            VL = V * lam_t
            V = V - lr * (-4 * (V @ M_t) + 4 * (VL @ V.transpose(1, 2)) @ VL)
        done = target
        yield target, current()


def gram_gap(weights: np.ndarray, reference: np.ndarray, coords: Sequence[int]) -> float:
    """Relative distance of two solutions on a block of coordinates, Q-invariant:

        ||A[c, c] - A_ref[c, c]||_F / ||A_ref[c, c]||_F,     A = Wt^T Wt,  A_ref = Wt_ref^T Wt_ref

    weights, reference (p, D') and (p', D'); coords: the coordinates c (e.g. the features and the bias).
    """
    block = np.ix_(list(coords), list(coords))
    A, A_ref = (weights.T @ weights)[block], (reference.T @ reference)[block]
    scale = np.linalg.norm(A_ref)
    if scale == 0:
        raise ValueError("reference must be non-zero on coords")
    return float(np.linalg.norm(A - A_ref) / scale)
