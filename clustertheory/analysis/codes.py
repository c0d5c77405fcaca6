"""Hypercube codes on the realizable comb: the setting of Theorems 4.5-4.7 and what the theorem
simulations measure on one code table.

:class:`RealizableComb`      the data and the bounded class (a nested config, ``comb.teeth``)
:func:`code_summaries`       cluster preservation, vertex law, alignment and the exact gap L(g) - L*
                             of a stack of code tables (:func:`code_summary`: one table)
:func:`loss_crosscheck`      the exact loss by both exact methods and by Monte Carlo
                             (read back by :func:`crosscheck_method_gap`, :func:`crosscheck_z`)
:func:`band_limited_codes`   codes built inside the band-limited class (random members,
                             cluster-constant assignments, codes that split one cluster)
:func:`cluster_constant_laws` the vertex laws of every cluster-constant code, one per orbit of
                             the hypercube's symmetries
:func:`law_margins`          how far those laws lie above L* at one (l, beta)

Trained codes of the comb: :func:`clustertheory.training.codes.train_codes`.

``codes`` is always a (V, d) array in {-1,+1}: the code of every view of the dataset.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

from clustertheory.analysis.blurring import reduced_loss
from clustertheory.analysis.exact_loss import (
    monte_carlo_population_infonce,
    multinomial_term_count,
    population_infonce,
    population_infonce_batch,
    uniform_minimum,
)
from clustertheory.analysis.metrics import (
    alignment_error,
    cluster_purity,
    natural_vertex_law,
    preserves_clusters,
    uniformity,
)
from clustertheory.analysis.hypercube import vertex_codes
from clustertheory.config import Integer, Settings, check_int_range, check_positive_int, setting
from clustertheory.data import ViewDataset, comb_dataset
from clustertheory.functions import make_function_class
from clustertheory.statistics import ROUNDING, z_score
from clustertheory.verdict import Check

IN_CLASS_KINDS = ("random-in-class", "clean-assignment", "split-cluster")
UNIFORM_TOL = 1e-9  # vertex laws are sums of natural-image weights: uniform means TV = 0 up to rounding
MULTINOMIAL_CROSSCHECK_TERMS = 50_000  # the multinomial sum is computed for the cross-check up to this many terms


@dataclass(frozen=True)
class RealizableComb(Settings):
    """Comb data with ``clusters_per_vertex * 2^d`` balanced clusters and the band-limited class.

    The augmentation sets of a cluster are disjoint, and ``teeth`` T is how finely they
    interleave on the style circle. With bandwidth B < T the class is intertwined on the comb
    (no member splits a cluster without disagreeing with an augmentation).
    """

    clusters_per_vertex: int = setting(1, Integer(1), "k: the comb has k 2^d equal-weight clusters, so a uniform "
                                       "cluster-preserving code exists (realizable)")
    points_per_cluster: int = setting(4, Integer(1), "n natural images per cluster")
    teeth: int = setting(5, Integer(1), "T teeth per augmentation set")
    bandwidth: int = setting(2, Integer(0), "B of the band-limited class (content offsets plus a style profile of frequency <= B)")

    def clusters(self, d: int) -> int:
        return self.clusters_per_vertex * 2 ** check_int_range("d", d, 1, 12)

    def dataset(self, d: int, seed: int = 0) -> ViewDataset:
        """The comb for code dimension d (identity observations: the seed does not change it)."""
        return comb_dataset(self.clusters(d), self.points_per_cluster, self.teeth, seed=seed)

    def class_options(self) -> dict:
        """Keyword arguments of ``make_function_class("band-limited", ...)`` / ``Member``."""
        return {"bandwidth": self.bandwidth}

    def intertwined(self) -> Check:
        """The precondition of Theorem 4.5's converse on this data: B < T."""
        return Check.below("band-limited class intertwined on the comb: bandwidth B < teeth T", self.bandwidth, self.teeth)


def code_summaries(codes, data: ViewDataset, num_negatives: int, beta: float) -> list[dict]:
    """What Theorems 4.5-4.7 ask of each of A code tables (A, V, d) on one dataset:

    preserving       g constant on every view of each cluster, distinct clusters on distinct
                     vertices where m <= 2^d (``preserves_clusters(views="all")``)
    uniform          TV distance of the natural vertex law from 2^-d is <= UNIFORM_TOL
    minimiser_shape  preserving and uniform (Theorem 4.5's minimisers)
    min_purity, alignment_error, tv   (``analysis.metrics``)
    exact_loss       L(g), the exact population InfoNCE with l i.i.d. natural negatives
                     (all tables in one pass: ``population_infonce_batch``)
    minimum          L* = E log(1 + sum_{i<=l} exp(-2 beta h_i)), h_i ~ Binomial(d, 1/2)
    gap              L(g) - L*
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 3:
        raise ValueError(f"codes must have shape (A, V, d), got {codes.shape}")
    minimum = uniform_minimum(codes.shape[2], num_negatives, beta)
    losses = population_infonce_batch(codes, data, num_negatives, beta)
    rows = []
    for table, loss in zip(codes, losses):
        tv = uniformity(natural_vertex_law(table, data))["tv"]
        preserving = preserves_clusters(table, data, views="all")
        rows.append({
            "preserving": bool(preserving),
            "uniform": bool(tv <= UNIFORM_TOL),
            "minimiser_shape": bool(preserving and tv <= UNIFORM_TOL),
            "min_purity": float(np.nanmin(cluster_purity(table, data))),
            "alignment_error": float(alignment_error(table, data)),
            "tv": float(tv),
            "exact_loss": float(loss),
            "minimum": minimum,
            "gap": float(loss) - minimum,
        })
    return rows


def code_summary(codes, data: ViewDataset, num_negatives: int, beta: float) -> dict:
    """:func:`code_summaries` of one code table (V, d)."""
    return code_summaries(np.asarray(codes, dtype=np.float64)[None], data, num_negatives, beta)[0]


def loss_crosscheck(codes, data: ViewDataset, num_negatives: int, beta: float, num_samples: int, seed: int = 0) -> dict:
    """The exact loss of one code by each exact method and by Monte Carlo:

    loss_multinomial  the finite multinomial sum (nan beyond MULTINOMIAL_CROSSCHECK_TERMS terms)
    loss_laplace      the Laplace (Frullani) quadrature
    loss_mc, loss_mc_se   mean and standard error of ``num_samples`` direct draws
                      (:func:`~clustertheory.analysis.exact_loss.monte_carlo_population_infonce`)
    """
    codes = np.asarray(codes, dtype=np.float64)
    l = check_positive_int("num_negatives", num_negatives)
    terms = multinomial_term_count(codes.shape[1] + 1, l)
    multinomial = population_infonce(codes, data, l, beta, method="multinomial") if terms <= MULTINOMIAL_CROSSCHECK_TERMS else math.nan
    mean, se = monte_carlo_population_infonce(codes, data, l, beta, num_samples, seed)
    return {
        "loss_multinomial": multinomial,
        "loss_laplace": population_infonce(codes, data, l, beta, method="laplace"),
        "loss_mc": mean,
        "loss_mc_se": se,
    }


def crosscheck_method_gap(row: dict) -> float:
    """max(|exact_loss - loss_multinomial|, |exact_loss - loss_laplace|) of a row holding
    :func:`loss_crosscheck`'s fields and ``exact_loss`` (a nan multinomial term is skipped)."""
    return np.nanmax([abs(row["exact_loss"] - row["loss_multinomial"]), abs(row["exact_loss"] - row["loss_laplace"])])


def crosscheck_z(row: dict, reference: float, floor: float = ROUNDING) -> float:
    """|z| of the row's Monte Carlo loss against ``reference``: |loss_mc - reference| /
    max(loss_mc_se, floor) (``floor``: the rounding below which a standard error means nothing)."""
    return abs(z_score(row["loss_mc"], reference, max(row["loss_mc_se"], floor)))


def _assignments(m: int, d: int, clusters_per_vertex: int, count: int, enumerate_limit: int, rng: np.random.Generator) -> np.ndarray:
    """(A, m) vertex of each cluster: every assignment when (2^d)^m <= enumerate_limit, else
    count - count // 4 random ones and count // 4 balanced ones (clusters_per_vertex per vertex)."""
    if (2**d) ** m <= enumerate_limit:
        return np.array(list(itertools.product(range(2**d), repeat=m)))
    balanced = count // 4
    free = rng.integers(0, 2**d, size=(count - balanced, m))
    even = [rng.permutation(np.repeat(np.arange(2**d), clusters_per_vertex)) for _ in range(balanced)]
    return np.concatenate([free, np.array(even).reshape(-1, m)])


def _member_codes(data: ViewDataset, d: int, weights: np.ndarray, comb: RealizableComb) -> np.ndarray:
    """(A, V, d) hard codes of the band-limited members with weights (A, p, d)."""
    probe = make_function_class("band-limited", data, d, seeds=[0] * len(weights), **comb.class_options())
    with torch.no_grad():
        probe.weight.copy_(torch.as_tensor(weights, dtype=torch.float32))
        return probe.codes().numpy().astype(np.float64)


def band_limited_codes(d: int, data: ViewDataset, comb: RealizableComb, count: int, enumerate_limit: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Codes inside the band-limited class of ``comb`` on its dataset, by kind, each (A, V, d):

    random-in-class   ``count`` members sign(phi W), W ~ N(0, 1) entrywise
    clean-assignment  cluster c on vertex a_c (content weights only, so constant on clusters):
                      every assignment when there are at most ``enumerate_limit``, else
                      ``count`` random ones, a quarter of them balanced
    split-cluster     ``count`` balanced assignments with offsets 3 a_c, except one coordinate j
                      of one cluster c whose offset u ~ U(-0.9, 0.9) competes with
                      cos(k s - phi), k <= B: that coordinate follows the style and (where the
                      style crosses the threshold) splits cluster c; none when B = 0
    """
    m, B = data.num_clusters, comb.bandwidth
    vertices = vertex_codes(d)
    seeds = [int(s) for s in rng.integers(0, 2**31, count)]
    codes = {"random-in-class": make_function_class("band-limited", data, d, seeds=seeds, init_scale=1.0, **comb.class_options()).codes().numpy().astype(np.float64)}
    assignments = _assignments(m, d, comb.clusters_per_vertex, count, enumerate_limit, rng)
    weights = np.zeros((len(assignments), m + 2 * B, d))
    weights[:, :m, :] = vertices[assignments]
    codes["clean-assignment"] = _member_codes(data, d, weights, comb)
    if B > 0:
        weights = np.zeros((count, m + 2 * B, d))
        for a in range(count):
            weights[a, :m, :] = 3.0 * vertices[rng.permutation(np.repeat(np.arange(2**d), comb.clusters_per_vertex))]
            c, j, k, phase = rng.integers(m), rng.integers(d), rng.integers(1, B + 1), rng.uniform(0, 2 * np.pi)
            weights[a, c, j] = rng.uniform(-0.9, 0.9)
            weights[a, m + k - 1, j] = np.cos(phase)
            weights[a, m + B + k - 1, j] = np.sin(phase)
        codes["split-cluster"] = _member_codes(data, d, weights, comb)
    return codes


def _hypercube_symmetries(d: int) -> list[np.ndarray]:
    """Every map v -> pi(v XOR s) of vertex indices (XOR translations, coordinate permutations)."""
    vertex = np.arange(2**d)
    maps = []
    for shift in range(2**d):
        moved = vertex ^ shift
        for perm in itertools.permutations(range(d)):
            maps.append(sum(((moved >> j) & 1) << perm[j] for j in range(d)))
    return maps


def cluster_constant_laws(d: int, clusters_per_vertex: int, enumerate_limit: int, random_laws: int, rng: np.random.Generator) -> np.ndarray:
    """(L, 2^d) vertex laws of cluster-constant codes of m = clusters_per_vertex * 2^d
    equal-weight clusters, one per orbit of the hypercube's symmetries (which leave the loss
    unchanged).

    Every law when there are at most ``enumerate_limit`` count vectors (C(m + 2^d - 1, 2^d - 1));
    otherwise ``random_laws`` random assignments plus the uniform law and every law one
    cluster away from it.
    """
    check_int_range("d", d, 1, 4)
    m, V = clusters_per_vertex * 2**d, 2**d
    if cluster_constant_law_count(d, clusters_per_vertex) <= enumerate_limit:
        bars = np.array(list(itertools.combinations(range(m + V - 1), V - 1)))
        edges = np.concatenate([np.full((len(bars), 1), -1), bars, np.full((len(bars), 1), m + V - 1)], axis=1)
        counts = np.diff(edges, axis=1) - 1
    else:
        counts = np.array([np.bincount(rng.integers(0, V, m), minlength=V) for _ in range(random_laws)])
        uniform = np.full(V, clusters_per_vertex)
        unit = np.eye(V, dtype=int)
        moves = [uniform + unit[b] - unit[a] for a in range(V) for b in range(V) if a != b]
        counts = np.concatenate([counts, np.array(moves), uniform[None]])
    maps = _hypercube_symmetries(d)
    orbits = {max(tuple(row[g]) for g in maps) for row in counts}
    return np.array(sorted(orbits), dtype=np.float64) / m


def cluster_constant_law_count(d: int, clusters_per_vertex: int) -> int:
    """Number of count vectors of m clusters on 2^d vertices, C(m + 2^d - 1, 2^d - 1)."""
    m, V = clusters_per_vertex * 2**d, 2**d
    return math.comb(m + V - 1, V - 1)


def law_margins(laws, d: int, num_negatives: int, beta: float) -> dict:
    """Where vertex laws p (n, 2^d) (e.g. :func:`cluster_constant_laws`) lie above the analytic
    minimum at l = ``num_negatives`` and ``beta``, by their exact reduced loss (Laplace):

        minimum             L*(l, beta) = E log(1 + sum_{i<=l} exp(-2 beta h_i)), h_i ~ Binomial(d, 1/2)
        uniform_gap         reduced loss of the (first) uniform law, minus L* (0 up to quadrature)
        min_nonuniform_gap  least reduced loss of a law that is not uniform, minus L*
                            (> 0: the uniform law is the unique minimiser among them)
        laws                n

    A law counts as uniform when every entry is 2^-d up to ``np.isclose``; ``laws`` must hold a
    uniform and a non-uniform law.
    """
    laws = np.asarray(laws, dtype=np.float64)
    uniform = np.all(np.isclose(laws, 2.0**-d), axis=1)
    if uniform.all() or not uniform.any():
        raise ValueError("laws must hold the uniform law and at least one non-uniform law")
    minimum = uniform_minimum(d, num_negatives, beta)
    gaps = np.asarray(reduced_loss(laws, num_negatives, beta, method="laplace")) - minimum
    return {"minimum": minimum, "uniform_gap": float(gaps[uniform][0]), "min_nonuniform_gap": float(gaps[~uniform].min()), "laws": len(laws)}
