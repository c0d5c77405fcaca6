"""delta-regularity of a function class relative to the augmentations, and the Theorem 5.4 perturbation.

Vocabulary (docs/theory.md, 2 Definitions). A binary function f: views -> {-1,+1} *splits* cluster c when the
natural images of c take both values. Then

    Delta_{f,c} = min(P[x in c, f(x) = +1], P[x in c, f(x) = -1])       x ~ D_o natural
                  (the mass that must be relabelled to make f constant on c: the cheaper constant)
    R_{f,c}     = P[x in c, f(x+) != f(x)]                               x+ ~ A(x)
                  (augmentations of images in c that f labels differently from their source)

and (F, augmentations) is delta-regular when R_{f,c} >= delta Delta_{f,c} for every f in F and
every cluster c that f splits (Definition 5.2). Three measurements:

* :func:`split_statistics` - R, Delta and their ratio for given hard labels, exactly;
* :func:`spectral_delta` - for classes linear in a feature map, the L2 analogue
  delta_F = 1 - lambda_(m+1) of the generalised eigenproblem M v = lambda Sigma v, exact on the
  finite views;
* :func:`empirical_delta` - for any class, the smallest ratio R / Delta that a gradient-trained
  adversary in F finds (an upper bound on the class's delta); :func:`split_ratio_bounds` - the
  same for several classes on one dataset in one pass.

On a leaky comb the hard delta and delta_F of the band-limited class at B = T have closed forms
(:func:`leaky_comb_delta`, :func:`leaky_comb_spectral_delta`).

Theorem 5.4 perturbs a code g that splits a cluster: the split coordinate is made constant on the
cluster (closure), :func:`relabel_cluster`. The weighted InfoNCE of the paper's corollary is
:func:`weighted_population_infonce` (= L + :func:`alignment_weight_term`). :class:`CodeLaw`
summarises a code once and gives its exact loss on a whole (l, beta) grid; the theorem's
conditions are :func:`near_uniform_c`, :func:`sufficient_conditions` and :func:`implied_c`, and
:func:`threshold_from` reads a threshold off a grid. The theorem's experiment on agnostic comb data
(:func:`~clustertheory.data.agnostic_comb`, :func:`split_code`) measures one split per :func:`relabelling_rows`;
:func:`rows_by_split`, :func:`grid_table`, :func:`classify_splits`, :func:`changes_after_win` and
:func:`split_summaries` read those rows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.linalg
import torch
from scipy.optimize import brentq

from clustertheory.analysis.arms import grid as cell_grid
from clustertheory.analysis.arms import group
from clustertheory.analysis.exact_loss import (
    METHODS,
    expected_log1p_sum_batch,
    group_log_ratio,
    group_pairs,
    population_infonce,
)
from clustertheory.analysis.hypercube import (
    check_codes,
    popcount,
    vertex_codes,
    vertex_index,
)
from clustertheory.analysis.metrics import (
    mean_hamming_alignment,
    natural_vertex_law,
    preserves_clusters,
)
from clustertheory.config import (
    check_in,
    check_int_range,
    check_nonneg,
    check_positive,
    check_positive_int,
)
from clustertheory.data.views import ViewDataset
from clustertheory.functions.classes import ScoreModel, make_function_class
from clustertheory.functions.stacking import combine_models

# ----------------------------------------------------------------------------- spectral delta


@dataclass(frozen=True)
class SpectralDelta:
    """Result of :func:`spectral_delta`.

    delta:        1 - lambda_(m+1), in [0, 1]; 1.0 when the span has at most m dimensions
    eigenvalues:  (r,) generalised eigenvalues in [0, 1], descending (r = rank of Sigma)
    rank:         dimension of the span of the features on the views (range of Sigma)
    num_clusters: m
    """

    delta: float
    eigenvalues: np.ndarray
    rank: int
    num_clusters: int


def augmentation_moments(features, data: ViewDataset) -> tuple[np.ndarray, np.ndarray]:
    """Second moments of a feature map under two views of one natural image.

    features phi: (V, p). With x, x+ i.i.d. ~ A(x_i), i ~ w (so each view has law mu = A^T w):

        Sigma = E[phi(x) phi(x)^T]  = Phi^T diag(mu) Phi                 (p, p)
        M     = E[phi(x) phi(x+)^T] = (A Phi)^T diag(w) (A Phi)          (p, p), symmetric

    Returns (Sigma, M) in float64.
    """
    phi = np.asarray(features, dtype=np.float64)
    if phi.ndim != 2 or phi.shape[0] != data.num_views:
        raise ValueError(f"features must have shape (V={data.num_views}, p), got {phi.shape}")
    sigma = phi.T @ (data.view_weight[:, None] * phi)
    mean_view = np.asarray(data.augment @ phi)  # (N, p): E[phi(x) | base point i]
    cross = mean_view.T @ (data.base_weight[:, None] * mean_view)
    return (sigma + sigma.T) / 2, (cross + cross.T) / 2


def spectral_delta(features, data: ViewDataset, rtol: float = 1e-9) -> SpectralDelta:
    """delta_F = 1 - lambda_(m+1) for the class F = span(phi) (docs/theory.md 4.5).

    For f = phi v, lambda(v) = v^T M v / v^T Sigma v = E[f(x) f(x+)] / E[f(x)^2] in [0, 1]
    (Cauchy-Schwarz): 1 means f keeps its value across every augmentation. The generalised
    eigenproblem M v = lambda Sigma v is solved with scipy.linalg.eigh on the range of Sigma
    (eigen-directions of Sigma above rtol * its largest eigenvalue), so linearly dependent
    features (a rank-deficient Sigma) are handled. Cluster indicators, when in the span, have
    lambda = 1 (without cross-cluster noise) and occupy the top m eigenvalues; lambda_(m+1)
    is then the best invariance of a function that is not constant on clusters.
    Eigenvalues are clipped to [0, 1] (they lie there exactly; the clip removes rounding).
    """
    check_positive("rtol", rtol)
    sigma, cross = augmentation_moments(features, data)
    scale, basis = np.linalg.eigh(sigma)
    keep = scale > rtol * max(scale.max(), 0.0)
    basis = basis[:, keep]
    eigenvalues = scipy.linalg.eigh(basis.T @ cross @ basis, np.diag(scale[keep]), eigvals_only=True)
    eigenvalues = np.clip(eigenvalues[::-1], 0.0, 1.0)
    m = data.num_clusters
    delta = float(1.0 - eigenvalues[m]) if len(eigenvalues) > m else 1.0
    return SpectralDelta(delta=delta, eigenvalues=eigenvalues, rank=int(keep.sum()), num_clusters=m)


# ----------------------------------------------------------------------------- exact split statistics


@dataclass(frozen=True)
class SplitStatistics:
    """Exact split measurements of K binary functions, each on its own cluster (arrays (K,)).

    disagreement: R_{f,c} = P[x in c, f(x+) != f(x)]
    relabel_mass: Delta_{f,c} = min(P[x in c, f(x) = +1], P[x in c, f(x) = -1])
    ratio:        R / Delta (inf where f does not split c, i.e. Delta = 0)
    splits:       Delta > 0
    constant:     the cheaper constant (+1 or -1): the value of the heavier side on c
    residual:     R of the relabelled function (constant on the views of c, f elsewhere);
                  nonzero only through cross-cluster augmentations
    """

    disagreement: np.ndarray
    relabel_mass: np.ndarray
    ratio: np.ndarray
    splits: np.ndarray
    constant: np.ndarray
    residual: np.ndarray


def _check_labels(labels, data: ViewDataset) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 1:
        labels = labels[None]
    if labels.ndim != 2 or labels.shape[1] != data.num_views:
        raise ValueError(f"labels must have shape (V={data.num_views},) or (K, V), got {np.shape(labels)}")
    if not np.isin(labels, (-1, 1)).all():
        raise ValueError("labels must contain only -1 and +1 (hard signs)")
    return labels.astype(np.float64)


def _cluster_per_row(clusters, rows: int, data: ViewDataset) -> np.ndarray:
    clusters = np.broadcast_to(np.asarray(clusters, dtype=np.int64), (rows,))
    for c in np.unique(clusters):
        check_int_range("cluster", int(c), 0, data.num_clusters - 1)
    return clusters


def split_statistics(labels, data: ViewDataset, clusters) -> SplitStatistics:
    """R, Delta, R / Delta of hard labels f: (V,) or (K, V) in {-1,+1}; clusters: int or (K,).

    Exact finite sums over the natural images of the cluster and their augmentation law
    (``data.pair_weights()``); see :class:`SplitStatistics` for the formulas.
    """
    labels = _check_labels(labels, data)
    clusters = _cluster_per_row(clusters, len(labels), data)
    anchor, positive, weight = data.pair_weights()
    in_cluster = data.content[anchor][None, :] == clusters[:, None]  # (K, P)
    differ = labels[:, positive] != labels[:, anchor]
    disagreement = (in_cluster * differ) @ weight

    natural = data.base_cluster[None, :] == clusters[:, None]  # (K, N)
    plus = (natural * (labels[:, data.base_view] > 0)) @ data.base_weight
    minus = natural @ data.base_weight - plus
    relabel_mass = np.minimum(plus, minus)
    constant = np.where(plus >= minus, 1.0, -1.0)
    # the relabelled function is `constant` on every view of c, so only views outside c can differ
    outside = data.content[positive][None, :] != clusters[:, None]
    residual = (in_cluster * outside * (labels[:, positive] != constant[:, None])) @ weight
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(relabel_mass > 0, disagreement / np.where(relabel_mass > 0, relabel_mass, 1.0), np.inf)
    return SplitStatistics(disagreement, relabel_mass, ratio, relabel_mass > 0, constant, residual)


def smallest_split_ratio(codes, data: ViewDataset) -> float:
    """min R / Delta over the coordinates of hard codes (S, V, d) (or (V, d)) and every cluster
    each coordinate splits; inf when none splits a cluster.

    When the codes come from a class G = F^d (e.g. trained members), every coordinate
    sign(score_j) is a function of F, so this is an upper bound on the delta of F, like
    :func:`empirical_delta`'s, from functions found another way.
    """
    codes = np.asarray(codes)
    if codes.ndim == 2:
        codes = codes[None]
    if codes.ndim != 3 or codes.shape[1] != data.num_views:
        raise ValueError(f"codes must have shape (V={data.num_views}, d) or (S, V, d), got {codes.shape}")
    labels = np.moveaxis(codes, 2, 1).reshape(-1, data.num_views)
    return float(min(split_statistics(labels, data, c).ratio.min() for c in range(data.num_clusters)))


# ----------------------------------------------------------------------------- Theorem 5.4 perturbation


def relabel_cluster(codes, data: ViewDataset, cluster: int, coordinate: int) -> np.ndarray:
    """The closure perturbation of Theorem 5.4: g' = g except g'_j = cheaper constant on cluster c.

    codes (V, d) in {-1,+1}; coordinate j; the constant is the value of g_j carried by the
    larger natural-image mass of c (so the relabelled mass is Delta_{g_j, c}). Returns (V, d).
    """
    codes = check_codes("codes", codes)
    if len(codes) != data.num_views:
        raise ValueError(f"codes must have one row per view ({data.num_views}), got {len(codes)}")
    check_int_range("coordinate", coordinate, 0, codes.shape[1] - 1)
    constant = split_statistics(codes[:, coordinate], data, cluster).constant[0]
    out = codes.copy()
    out[data.content == cluster, coordinate] = constant
    return out


def alignment_weight_term(codes, data: ViewDataset, beta: float, rho: float) -> float:
    """L_rho - L = (rho - 1) beta E[-g(x).g(x+)] = (rho - 1) beta (2 E h(g(x), g(x+)) - d), exactly.

    codes (V, d) in {-1,+1}; the expectation is over x ~ D_o, x+ ~ A(x)
    (:func:`~clustertheory.analysis.metrics.mean_hamming_alignment`). See
    :func:`weighted_population_infonce`.
    """
    check_nonneg("rho", rho)
    check_nonneg("beta", beta)
    codes = check_codes("codes", codes)
    return (rho - 1.0) * beta * (2.0 * mean_hamming_alignment(codes, data) - codes.shape[1])


def weighted_population_infonce(codes, data: ViewDataset, num_negatives: int, beta: float, rho: float, method: str = "auto") -> float:
    """Exact weighted InfoNCE with alignment weight rho (the package's form of the paper's corollary):

        L_rho(g) = E[ -rho beta g(x).g(x+) + log( exp(beta g(x).g(x+)) + sum_{i<=l} exp(beta g(x).g(x_i-)) ) ]
                 = L(g) + (rho - 1) beta E[-g(x).g(x+)]

    with x ~ D_o, x+ ~ A(x), x_i- i.i.d. natural images; rho = 1 is the InfoNCE L of
    docs/theory.md 1.3, rho > 1 puts extra weight on alignment. L(g) is the exact
    :func:`~clustertheory.analysis.exact_loss.population_infonce`, the rest
    :func:`alignment_weight_term`. Since L_rho is affine in rho, callers that need several rho
    should compute L once and add the term.
    """
    check_in("method", method, METHODS)
    term = alignment_weight_term(codes, data, beta, rho)
    return population_infonce(codes, data, num_negatives, beta, method) + term


@dataclass(frozen=True)
class CodeLaw:
    """Everything the exact InfoNCE of one code on one dataset depends on, computed once.

    For anchors x ~ D_o, positives x+ ~ A(x) and negatives x- ~ D_o, the loss of a code g
    depends only on the groups (anchor vertex y, alignment a = g(x).g(x+)) and, per group, the
    law of the Hamming distance h(y, g(x-)) (see
    :func:`~clustertheory.analysis.exact_loss.group_pairs`). Evaluating many (l, beta) on this
    summary costs one Laplace quadrature per (beta, alignment), shared by every l.

    weight        (G,) P[g(x) = y_g, g(x).g(x+) = a_g]
    alignment     (G,) a_g in -d..d
    distance_law  (G, d+1) P[h(y_g, g(x-)) = h]
    mean_hamming  E h(g(x), g(x+)) (the alignment term of the weighted loss)
    dim           d
    """

    weight: np.ndarray
    alignment: np.ndarray
    distance_law: np.ndarray
    mean_hamming: float
    dim: int

    @classmethod
    def of(cls, codes, data: ViewDataset) -> CodeLaw:
        """The summary of a (V, d) code table in {-1,+1} on ``data``."""
        codes = check_codes("codes", codes)
        if len(codes) != data.num_views:
            raise ValueError(f"codes must have one row per view ({data.num_views}), got {len(codes)}")
        d = codes.shape[1]
        vertex = vertex_index(codes)
        anchor, positive, pair_weight = data.pair_weights()
        _, weight, alignment, distance_law = group_pairs(
            vertex[None, anchor], vertex[None, positive], pair_weight, vertex[None, data.base_view], data.base_weight, d
        )
        mean_hamming = float(pair_weight @ popcount(vertex[anchor] ^ vertex[positive]))
        return cls(weight, alignment.astype(np.float64), distance_law, mean_hamming, d)

    def infonce(self, num_negatives: int, beta: float) -> float:
        """Exact L(g) at one (l, beta) (see :meth:`infonce_grid`)."""
        return float(self.infonce_grid([num_negatives], [beta])[0, 0])

    def infonce_grid(self, negatives, betas) -> np.ndarray:
        """(len(negatives), len(betas)) exact L(g) on a grid of l and beta:

            L(g) = sum_g w_g E log(1 + sum_{i<=l} exp(beta (d - 2 h_i - a_g))),  h_i ~ law_g i.i.d.,

        by the Laplace quadrature of :func:`~clustertheory.analysis.exact_loss.expected_log1p_sum_batch`
        (it agrees with :func:`~clustertheory.analysis.exact_loss.population_infonce` to rounding).
        Per beta, groups of one alignment share their values, so each alignment is one quadrature
        on nodes long enough for its largest value and for the largest l (longer nodes only add
        negligible terms); everything but the final power phi^l is shared by all l.
        """
        ls = [check_positive_int("negatives", l) for l in negatives]
        betas = [check_nonneg("betas", b) for b in betas]
        if not ls or not betas:
            raise ValueError("negatives and betas must each hold at least one value")
        total = np.empty((len(ls), len(betas)))
        for j, beta in enumerate(betas):
            log_ratio = group_log_ratio(self.alignment, self.dim, beta)
            total[:, j] = expected_log1p_sum_batch(log_ratio, self.distance_law, ls, "laplace") @ self.weight  # (L,)
        return total

    def alignment_term(self, beta: float, rho: float) -> float:
        """L_rho - L = (rho - 1) beta (2 E h(g(x), g(x+)) - d) (see :func:`alignment_weight_term`)."""
        check_nonneg("rho", rho)
        check_nonneg("beta", beta)
        return (rho - 1.0) * beta * (2.0 * self.mean_hamming - self.dim)


# ----------------------------------------------------------------------------- Theorem 5.4 conditions


def near_uniform_c(law, d: int) -> float:
    """Smallest c for which a vertex law is near-uniform in Theorem 5.4's sense with no vertex
    in the tiny band: every occupied vertex carries >= 10 / (c d 2^d), i.e.
    c = 10 / (d 2^d min_{p_v > 0} p_v). law: (2^d,) probabilities."""
    law = np.asarray(law, dtype=np.float64)
    check_positive_int("d", d)
    if law.shape != (2**d,) or (law < 0).any() or not law.any():
        raise ValueError(f"law must be a non-negative (2^d = {2**d},) vector with some mass, got shape {law.shape}")
    return 10.0 / (d * 2**d * law[law > 0].min())


def sufficient_conditions(c: float, eps: float, d: int) -> tuple[int, float]:
    """Theorem 5.4's sufficient (l, beta): l >= (c / eps) d 2^d and beta >= c log(c / eps) 2^d."""
    check_positive("c", c)
    check_positive("eps", eps)
    check_positive_int("d", d)
    return math.ceil(c / eps * d * 2**d), c * math.log(c / eps) * 2**d


def implied_c(l_star: float | None, beta_star: float | None, eps: float, d: int) -> tuple[float, float]:
    """The c that makes the sufficient conditions equal measured thresholds (nan where absent):
    c_l = l* eps / (d 2^d), and c_beta > eps solving c log(c / eps) 2^d = beta*."""
    check_positive("eps", eps)
    c_l = float("nan") if l_star is None else l_star * eps / (d * 2**d)
    if beta_star is None:
        return c_l, float("nan")
    target = beta_star / 2**d
    return c_l, float(brentq(lambda c: c * math.log(c / eps) - target, eps * (1 + 1e-12), eps + target + 10.0))


def threshold_from(values: Sequence[float], holds: Sequence[bool]) -> float | None:
    """Smallest v of the increasing grid ``values`` from which ``holds`` is true at v and at
    every larger value (None if it fails at the largest)."""
    if len(values) != len(holds) or any(b <= a for a, b in itertools.pairwise(values)):
        raise ValueError("values must be strictly increasing and match holds one to one")
    threshold = None
    for value, ok in zip(reversed(values), reversed(holds)):
        if not ok:
            break
        threshold = value
    return threshold


# ----------------------------------------------------------------------------- Theorem 5.4 on agnostic comb data

SPLIT_KEYS = ("d", "leak", "moved")  # the fields that name one split code in the rows of :func:`relabelling_rows`


def split_code(data: ViewDataset, d: int, moved: int) -> np.ndarray:
    """(V, d) code: cluster 0 at vertex 0 except its first ``moved`` base points (every view they
    own) at the free vertex 1 (coordinate 0 flipped); cluster c >= 1 at vertex c + 1. On cluster 0
    the split coordinate is the sign of a band-limited function of bandwidth T (an arc of base
    points), and so is its relabelling: closure holds in the band-limited class."""
    if data.num_clusters != 2**d - 1:
        raise ValueError(f"data must have 2^d - 1 = {2**d - 1} clusters (one free vertex), got {data.num_clusters}")
    cluster_vertex = np.concatenate([[0], np.arange(2, data.num_clusters + 1)])
    codes = vertex_codes(d)[cluster_vertex[data.content]].copy()
    owner = (np.arange(data.num_views) % (data.num_views // data.num_clusters)) % (data.num_base // data.num_clusters)
    codes[(data.content == 0) & (owner < moved), 0] = -1.0
    return codes


def relabelling_rows(data: ViewDataset, code, leak: float, moved: int, negatives, betas, reference_negatives, reference_betas) -> list[dict]:
    """Rows for one split code (:func:`split_code` of ``moved`` base points on comb data with ``leak``)
    and its relabelling g' (:func:`relabel_cluster` of coordinate 0 on cluster 0).

    Every row holds the split's statistics: delta = R / Delta, its in-cluster part (R - residual) /
    Delta with the closed form 2 p (n - r) / (n - 1), eps = Delta with the closed form pi_0 r / n,
    whether g and g' preserve clusters, c_near_uniform (:func:`near_uniform_c` of g's law) and the
    corollary's rho = 2^(d+1) + 1/delta. Kinds:

    grid       per (l, beta) of negatives x betas: delta_loss = L(g') - L(g), delta_loss_weighted
               = L_rho(g') - L_rho(g) and rho_needed, the smallest rho >= 1 at which relabelling
               lowers L_rho (L_rho = L + (rho - 1) beta (2 E h - d) is affine in rho, so it is exact)
    paper      the same at the paper's sufficient (l, beta) (:func:`sufficient_conditions`)
    reference  per (l, beta) of the reference grid: loss = :meth:`CodeLaw.infonce` of g and
               loss_reference = population_infonce's multinomial sum (a check of the fast loss)
    """
    d = code.shape[1]
    relabelled = relabel_cluster(code, data, 0, 0)
    stats = split_statistics(code[:, 0], data, 0)
    delta, eps = float(stats.ratio[0]), float(stats.relabel_mass[0])
    c_near = near_uniform_c(natural_vertex_law(code, data), d)
    rho = 2.0 ** (d + 1) + 1.0 / delta
    n = data.num_base // data.num_clusters
    common = {
        "delta": delta,
        "delta_in_cluster": float(stats.disagreement[0] - stats.residual[0]) / eps,
        "delta_in_cluster_closed_form": 2 * leak * (n - moved) / (n - 1),
        "eps": eps,
        "eps_closed_form": float(data.cluster_weight[0]) * moved / n,
        "split_preserves": preserves_clusters(code, data),
        "relabelled_preserves": preserves_clusters(relabelled, data),
        "c_near_uniform": c_near,
        "rho_corollary": rho,
    }
    before, after = CodeLaw.of(code, data), CodeLaw.of(relabelled, data)
    l_paper, beta_paper = sufficient_conditions(c_near, eps, d)
    points = [("grid", negatives, betas), ("paper", (l_paper,), (beta_paper,))]
    rows = []
    for kind, ls, point_betas in points:
        change = after.infonce_grid(ls, point_betas) - before.infonce_grid(ls, point_betas)
        for j, beta in enumerate(point_betas):
            gain = before.alignment_term(beta, rho) - after.alignment_term(beta, rho)
            for i, l in enumerate(ls):
                slope = gain / (rho - 1.0)
                needed = 1.0 if change[i, j] < 0 else (1.0 + change[i, j] / slope if slope > 0 else math.inf)
                rows.append({"kind": kind, "l": int(l), "beta": float(beta), **common, "delta_loss": float(change[i, j]),
                             "delta_loss_weighted": float(change[i, j] - gain), "rho_needed": needed})
    for l in reference_negatives:
        for beta in reference_betas:
            exact = population_infonce(code, data, l, beta, method="multinomial")
            rows.append({"kind": "reference", "l": l, "beta": beta, **common, "loss": before.infonce(l, beta), "loss_reference": exact})
    return rows


def rows_by_split(rows: Sequence[dict], kind: str, keys: Sequence[str] = SPLIT_KEYS) -> dict[tuple, list[dict]]:
    """Split (the values of ``keys``) -> its rows of ``kind``, in row order."""
    return group((r for r in rows if r["kind"] == kind), *keys)


def grid_table(grid: Sequence[dict], key: str) -> tuple[list, list, np.ndarray]:
    """(ls, betas, values (L, B)) of one split's grid rows: values[i, j] = ``key`` at (ls[i], betas[j])
    (sorted; nan where no row)."""
    ls, betas = sorted({r["l"] for r in grid}), sorted({r["beta"] for r in grid})
    return ls, betas, cell_grid(grid, "l", "beta", key, ls, betas)


class SplitClasses(NamedTuple):
    """The splits of :func:`relabelling_rows` (keys: their :data:`SPLIT_KEYS` values) by regularity,
    from :func:`classify_splits`; unpacks in this order.

    first     split -> its first grid row (its statistics: delta, delta_in_cluster, ...)
    regular   delta >= delta_min (the theorem's hypothesis)
    share     split with delta < delta_min -> the in-cluster share of R, delta_in_cluster / delta
    inside    delta < delta_min and share >= in_cluster_min (the corollary's regime)
    crossing  delta < delta_min and share < in_cluster_min (disagreement from leaving the cluster)
    free      delta_in_cluster <= 1e-12 (no augmentation inside the cluster crosses the split)
    """

    first: dict[tuple, dict]
    regular: list[tuple]
    share: dict[tuple, float]
    inside: list[tuple]
    crossing: list[tuple]
    free: list[tuple]


def classify_splits(grid: dict[tuple, list[dict]], delta_min: float, in_cluster_min: float) -> SplitClasses:
    """:class:`SplitClasses` of the grid rows per split (:func:`rows_by_split` of kind "grid"), in their order."""
    first = {k: g[0] for k, g in grid.items()}
    regular = [k for k, r in first.items() if r["delta"] >= delta_min]
    irregular = [k for k, r in first.items() if r["delta"] < delta_min]
    share = {k: first[k]["delta_in_cluster"] / first[k]["delta"] for k in irregular}
    inside = [k for k in irregular if share[k] >= in_cluster_min]
    crossing = [k for k in irregular if share[k] < in_cluster_min]
    free = [k for k, r in first.items() if r["delta_in_cluster"] <= 1e-12]
    return SplitClasses(first, regular, share, inside, crossing, free)


def changes_after_win(grid: Sequence[dict]) -> list[float]:
    """Per beta at which relabelling wins (Delta L = ``delta_loss`` < 0) at some l below the largest
    (one split's grid rows): the largest Delta L at the larger l (> 0: more negatives undo the win)."""
    ls, betas, change = grid_table(grid, "delta_loss")
    out = []
    for j in range(len(betas)):
        won = np.flatnonzero(change[:, j] < 0)
        if len(won) and won[0] < len(ls) - 1:
            out.append(float(change[won[0] + 1 :, j].max()))
    return out


def split_summaries(rows: Sequence[dict], keys: Sequence[str] = SPLIT_KEYS) -> list[dict]:
    """Per split of :func:`relabelling_rows` the measured thresholds (None: none on the grid):

    beta_star        smallest grid beta from which relabelling lowers L at every grid l
    beta_star_lmin/lmax  the same at the smallest / largest l only
    l_flip_beta_max  the largest beta at which a win at the smallest l turns into a loss at a larger l
    c_beta           the c for which the paper's beta condition equals beta_star_lmax (:func:`implied_c`)
    beta_star_weighted  smallest grid beta from which rho_corollary suffices at every l
    """
    out = []
    paper = rows_by_split(rows, "paper", keys)
    for key, grid in rows_by_split(rows, "grid", keys).items():
        _, betas, change = grid_table(grid, "delta_loss")
        _, _, needed = grid_table(grid, "rho_needed")
        first = grid[0]
        wins = change < 0
        flips = [b for j, b in enumerate(betas) if wins[0, j] and not wins[:, j].all()]
        beta_star_lmax = threshold_from(betas, list(wins[-1]))
        out.append({
            **dict(zip(keys, key)), **{k: first[k] for k in ("delta", "delta_in_cluster", "eps", "c_near_uniform", "rho_corollary")},
            "beta_star": threshold_from(betas, list(wins.all(axis=0))),
            "beta_star_lmin": threshold_from(betas, list(wins[0])),
            "beta_star_lmax": beta_star_lmax,
            "l_flip_beta_max": max(flips) if flips else None,
            "c_beta": implied_c(None, beta_star_lmax, first["eps"], first["d"])[1],
            "beta_star_weighted": threshold_from(betas, list((needed <= first["rho_corollary"]).all(axis=0))),
            "l_paper": paper[key][0]["l"], "beta_paper": paper[key][0]["beta"], "delta_loss_paper": paper[key][0]["delta_loss"],
        })
    return out


# ----------------------------------------------------------------------------- empirical delta


@dataclass(frozen=True)
class SplitSearch:
    """Best split found by each adversary member (arrays (E,); labels (E, V) int8).

    ratio is inf (and labels the member's final labels) for a member that never split its
    cluster at a checkpoint.
    """

    clusters: np.ndarray
    ratio: np.ndarray
    disagreement: np.ndarray
    relabel_mass: np.ndarray
    labels: np.ndarray


def populated_clusters(data: ViewDataset) -> list[int]:
    """The clusters that hold natural views (positive mass); a subsample may miss one, and an
    empty cluster has no split to search."""
    mass = np.bincount(data.base_cluster, weights=data.base_weight, minlength=data.num_clusters)
    return [c for c in range(data.num_clusters) if mass[c] > 0]


def search_split(
    model: ScoreModel,
    data: ViewDataset,
    clusters,
    steps: int = 300,
    lr: float = 0.05,
    anneal_start: float = 1.0,
    anneal_end: float = 30.0,
    check_every: int = 10,
    floor: float = 0.01,
) -> SplitSearch:
    """Train every member e of a single-output ensemble (d = 1) to split cluster clusters[e]
    while agreeing with augmentations; keep its best exact ratio. Trains ``model`` in place.

    Relaxed labels u = tanh(beta_t score) (beta_t annealed geometrically anneal_start ->
    anneal_end), and per member the objective

        R~ / (Delta~ + floor pi_c),   R~ = sum_{p: anchor in c} w_p (u(x+_p) - u(x_p))^2 / 4,
                                      Delta~ = min(sum_{i in c} w_i (1 + u_i)/2, sum_{i in c} w_i (1 - u_i)/2),

    which equals R / Delta (up to the floor) for hard labels. Every ``check_every`` steps and
    at the end the hard labels sign(score) are scored exactly (:func:`split_statistics`) and
    the smallest ratio of a genuine split is kept: each is the ratio of a function in F.
    """
    if model.dim != 1:
        raise ValueError(f"model must have dim = 1 (one binary function per member), got {model.dim}")
    steps = check_positive_int("steps", steps)
    check_positive("lr", lr)
    check_positive("anneal_start", anneal_start)
    check_positive("anneal_end", anneal_end)
    check_positive_int("check_every", check_every)
    check_positive("floor", floor)
    E = model.ensemble
    clusters = _cluster_per_row(clusters, E, data)
    device = next(model.parameters()).device
    anchor, positive, weight = data.pair_weights()
    pair_mask = torch.as_tensor((data.content[anchor][None, :] == clusters[:, None]) * weight, device=device)  # (E, P)
    natural_mask = torch.as_tensor((data.base_cluster[None, :] == clusters[:, None]) * data.base_weight, device=device)  # (E, N)
    cluster_mass = natural_mask.sum(dim=1)
    if bool((cluster_mass <= 0).any()):  # R~ / (Delta~ + floor pi_c) would be 0 / 0: NaN weights
        empty = sorted({int(c) for c in clusters[(cluster_mass <= 0).cpu().numpy()]})
        raise ValueError(f"clusters {empty} have no natural view (mass 0): there is nothing to split")
    anchor_t, positive_t = torch.as_tensor(anchor, device=device), torch.as_tensor(positive, device=device)
    base_view = torch.as_tensor(data.base_view, device=device)

    best = np.full(E, np.inf)
    best_r, best_delta = np.zeros(E), np.zeros(E)
    best_labels = np.ones((E, data.num_views), dtype=np.int8)

    def record() -> None:
        labels = model.codes()[..., 0].cpu().numpy().astype(np.int8)
        stats = split_statistics(labels, data, clusters)
        better = stats.splits & (stats.ratio < best)
        never = ~np.isfinite(best)
        best_labels[better | never] = labels[better | never]
        best[better] = stats.ratio[better]
        best_r[better], best_delta[better] = stats.disagreement[better], stats.relabel_mass[better]

    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(1, steps + 1):
        sharpness = anneal_start * (anneal_end / anneal_start) ** (step / steps)
        u = torch.tanh(sharpness * model.scores()[..., 0]).double()  # (E, V)
        disagreement = (pair_mask * (u[:, positive_t] - u[:, anchor_t]) ** 2 / 4).sum(dim=1)
        plus = (natural_mask * (1 + u[:, base_view]) / 2).sum(dim=1)
        split = torch.minimum(plus, cluster_mass - plus)
        objective = disagreement / (split + floor * cluster_mass)
        optimiser.zero_grad(set_to_none=True)
        objective.sum().backward()
        optimiser.step()
        if step % check_every == 0 or step == steps:
            record()
    return SplitSearch(clusters=clusters, ratio=best, disagreement=best_r, relabel_mass=best_delta, labels=best_labels)


@dataclass(frozen=True)
class EmpiricalDelta:
    """Result of :func:`empirical_delta`.

    delta:        smallest exact ratio R / Delta found (an upper bound on the class's delta);
                  inf when no restart split any cluster
    cluster:      the cluster of the best split (-1 if none)
    disagreement, relabel_mass: R and Delta of the best split
    labels:       (V,) int8 hard labels of the best split (or of restart 0 if none)
    per_cluster:  (m_searched,) best ratio for each searched cluster, in the order of ``clusters``
    splits_found: how many restarts split their cluster at some checkpoint
    restarts:     restarts per cluster
    clusters:     (m_searched,) the searched clusters (an empty cluster is never searched)
    """

    delta: float
    cluster: int
    disagreement: float
    relabel_mass: float
    labels: np.ndarray
    per_cluster: np.ndarray
    splits_found: int
    restarts: int
    clusters: np.ndarray


def empirical_delta(
    data: ViewDataset,
    class_name: str | Callable[..., ScoreModel],
    clusters: Sequence[int] | None = None,
    restarts: int = 16,
    steps: int = 300,
    lr: float = 0.05,
    seed: int = 0,
    device="cpu",
    **class_kwargs,
) -> EmpiricalDelta:
    """Upper bound on the delta of a function class by adversarial search (docs/theory.md 4.5).

    Builds one ensemble of ``restarts * len(clusters)`` single-output members with
    ``make_function_class(class_name, data, dim=1, seeds=..., **class_kwargs)`` (member k targets
    cluster clusters[k % len(clusters)], its own random initialisation), trains them with
    :func:`search_split` and returns the smallest exact ratio found. ``clusters=None`` searches
    every cluster that holds natural views (a subsample may miss one; an empty cluster has no
    split). ``class_name`` may also be a builder with make_function_class's signature
    ``(data, dim, seeds=..., device=..., **class_kwargs) -> ScoreModel`` for a class defined
    elsewhere (e.g. the image classes of :mod:`clustertheory.functions.images`).
    """
    restarts = check_positive_int("restarts", restarts)
    clusters = populated_clusters(data) if clusters is None else [int(c) for c in clusters]
    if not clusters:
        raise ValueError("clusters must name at least one cluster")
    targets = np.tile(np.asarray(clusters), restarts)
    seeds = [seed * 100_003 + k for k in range(len(targets))]
    if callable(class_name):
        model = class_name(data, 1, seeds=seeds, device=device, **class_kwargs)
    else:
        model = make_function_class(class_name, data, 1, seeds=seeds, device=device, **class_kwargs)
    found = search_split(model, data, targets, steps=steps, lr=lr)
    per_cluster = np.array([found.ratio[targets == c].min() for c in clusters])
    k = int(np.argmin(found.ratio))
    split = bool(np.isfinite(found.ratio[k]))
    return EmpiricalDelta(
        delta=float(found.ratio[k]),
        cluster=int(found.clusters[k]) if split else -1,
        disagreement=float(found.disagreement[k]),
        relabel_mass=float(found.relabel_mass[k]),
        labels=found.labels[k],
        per_cluster=per_cluster,
        splits_found=int(np.isfinite(found.ratio).sum()),
        restarts=restarts,
        clusters=np.asarray(clusters),
    )


def split_ratio_bounds(
    data: ViewDataset,
    classes: Sequence[tuple[str, dict]],
    seeds: Sequence[Sequence[int]],
    restarts: int,
    steps: int,
    device="cpu",
) -> np.ndarray:
    """(C,) :func:`empirical_delta` of C function classes on one dataset, searched in one pass.

    Class i is ``classes[i] = (name, class_kwargs)``; it gets ``restarts * m`` single-output
    members, member k targeting the (k % m)-th of the m clusters that hold natural views
    (:func:`populated_clusters`; all of them on a full dataset) from its own initialisation
    ``seeds[i][k]``. All
    members are combined into one ensemble (``functions.stacking.combine_models``) and trained by
    :func:`search_split`; each class's bound is the smallest exact ratio R / Delta its members
    found (inf: none split its cluster).
    """
    restarts = check_positive_int("restarts", restarts)
    targets = np.tile(populated_clusters(data), restarts)
    if len(seeds) != len(classes) or any(len(s) != len(targets) for s in seeds):
        raise ValueError(f"seeds must hold {len(targets)} seeds (restarts x clusters) for each of the {len(classes)} classes")
    models = [make_function_class(name, data, 1, seeds=list(cell), device=device, **kwargs) for (name, kwargs), cell in zip(classes, seeds)]
    found = search_split(combine_models(models), data, np.tile(targets, len(classes)), steps=steps)
    return np.array([found.ratio[i * len(targets) : (i + 1) * len(targets)].min() for i in range(len(classes))])


def leaky_comb_delta(leak: float, points_per_cluster: int) -> float:
    """The hard delta (Definition 5.2) of a class that can split along the teeth (B >= T) on a
    comb with leak p and n natural images per cluster: p n / (n - 1). The best split moves half
    the natural images of a cluster; a leak p sends the fraction p n / (n - 1) of their
    augmentations to the other half."""
    n = check_positive_int("points_per_cluster", points_per_cluster)
    if n < 2:
        raise ValueError(f"points_per_cluster must be >= 2 (a split moves half of them), got {n}")
    return check_nonneg("leak", leak) * n / (n - 1)


def leaky_comb_spectral_delta(leak: float, points_per_cluster: int) -> float:
    """delta_F of the band-limited class at B = T on that comb: 1 - (1 - p n / (n - 1))^2."""
    return 1 - (1 - leaky_comb_delta(leak, points_per_cluster)) ** 2
