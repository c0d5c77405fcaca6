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
  adversary in F finds (an upper bound on the class's delta).

Theorem 5.4 perturbs a code g that splits a cluster: the split coordinate is made constant on the
cluster (closure), :func:`relabel_cluster`. The weighted InfoNCE of the paper's corollary is
:func:`weighted_population_infonce` (= L + :func:`alignment_weight_term`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch

from clustertheory.analysis.exact_loss import METHODS, population_infonce
from clustertheory.analysis.hypercube import check_codes
from clustertheory.analysis.metrics import mean_hamming_alignment
from clustertheory.config import check_in, check_int_range, check_nonneg, check_positive, check_positive_int
from clustertheory.data.views import ViewDataset
from clustertheory.functions.classes import ScoreModel, make_function_class

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
    per_cluster:  (m_searched,) best ratio for each searched cluster
    splits_found: how many restarts split their cluster at some checkpoint
    restarts:     restarts per cluster
    """

    delta: float
    cluster: int
    disagreement: float
    relabel_mass: float
    labels: np.ndarray
    per_cluster: np.ndarray
    splits_found: int
    restarts: int


def empirical_delta(
    data: ViewDataset,
    class_name: str,
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
    every cluster.
    """
    restarts = check_positive_int("restarts", restarts)
    clusters = list(range(data.num_clusters)) if clusters is None else [int(c) for c in clusters]
    if not clusters:
        raise ValueError("clusters must name at least one cluster")
    targets = np.tile(np.asarray(clusters), restarts)
    seeds = [seed * 100_003 + k for k in range(len(targets))]
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
    )
