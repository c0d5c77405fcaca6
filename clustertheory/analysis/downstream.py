"""Downstream heads on hypercube codes (Theorems 4.6 and 4.7), and the codes the theorems build.

A cluster-faithful task is a labelling y: clusters -> {-1,+1}, applied to a view through its
cluster; tasks are held as ``(T, m)`` int8 arrays, and a task's id is the integer whose bit c
is 1 where y_c = -1 (so ids 1 .. 2^m - 2 are the non-constant tasks). A head w maps the code
z = g(x) in {-1,+1}^d to a score f(z); it predicts y when y f(z) > 0 (a score of exactly 0 is
counted as an error, so "zero error" always means a strict margin). The error of a head on a
set of views is

    err(w) = sum_v mu_v [y_{c(v)} f(g(v)) <= 0] / sum_v mu_v

with mu the view law ``data.view_weight`` (x+ ~ A(x), x ~ D_o: natural and augmented images).

Heads only see the code, so the views of a split are reduced exactly to groups (vertex,
cluster) with their summed weight (:func:`code_groups`): training on the groups is training
on the views. Heads are trained for every task at once as one batched module with
parameters of shape (T, ...) (:class:`ReLUHeads`, :class:`LinearHeads`); tasks never share a
parameter, and Adam acts coordinate-wise, so each head trains as it would alone. A task gets
fresh random initialisations until one reaches the training views' Bayes error; the one kept
is chosen on the validation views, and errors are reported on the test views (:func:`fit_heads`).

Exact references that need no training:
    :func:`bayes_errors`          the least error of *any* head on a code (per vertex, the
                                  minority label mass)
    :func:`min_linear_errors`     the least error of any linear head sign(w.z + c) (d <= 4, by
                                  enumerating the threshold labellings of the cube)
    :func:`explicit_relu_head`    the Theorem 4.6 construction, evaluated directly

Reports: :func:`task_errors` (every error on one code, per task), :func:`explicit_head_summary`,
:func:`task_family` and :func:`code_task_report` (what Theorem 4.6 measures on one code), and
:func:`code_bayes_summary` and :func:`vertex_law_rows` (what Theorem 4.7 measures on one code).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from scipy.optimize import linprog
from torch import nn

from clustertheory.analysis.hypercube import check_codes, vertex_codes, vertex_index
from clustertheory.config import Integer, OneOf, Optional, Real, Settings, check_int_range, check_positive_int, setting
from clustertheory.data.views import ViewDataset
from clustertheory.statistics import ROUNDING
from clustertheory.utils import torch_generator

MAX_ALL_TASKS_CLUSTERS = 16  # up to m = 16 every one of the 2^m - 2 non-constant tasks is used
MAX_TASK_CLUSTERS = 62  # task ids are int64
MAX_LINEAR_ENUM_DIM = 4  # threshold labellings of H_d are enumerated for d <= 4 (integer weights |w| <= 3)
HEAD_KINDS = ("relu", "linear")
SPLITS = ("train", "validation", "test")

# ----------------------------------------------------------------------------- tasks


def _check_num_clusters(m) -> int:
    return check_int_range("num_clusters", m, 2, MAX_TASK_CLUSTERS)


def tasks_from_ids(ids, num_clusters: int) -> np.ndarray:
    """(T,) task ids -> (T, m) int8 labels: y_c = +1 if bit c of the id is 0, else -1."""
    m = _check_num_clusters(num_clusters)
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1 or (ids < 0).any() or (ids >= 2**m).any():
        raise ValueError(f"ids must be a 1-D array of integers in [0, 2^{m}), got {ids!r}")
    bits = (ids[:, None] >> np.arange(m, dtype=np.int64)[None, :]) & 1
    return (1 - 2 * bits).astype(np.int8)


def task_ids(tasks) -> np.ndarray:
    """(T, m) labels in {-1,+1} -> (T,) int64 ids (inverse of :func:`tasks_from_ids`)."""
    tasks = _check_tasks(tasks)
    return (tasks < 0).astype(np.int64) @ (np.int64(1) << np.arange(tasks.shape[1], dtype=np.int64))


def task_string(task) -> str:
    """The labels of one task as text, cluster 0 first: e.g. "+-+-"."""
    return "".join("+" if y > 0 else "-" for y in np.asarray(task).ravel())


def _check_tasks(tasks, num_clusters: int | None = None) -> np.ndarray:
    tasks = np.asarray(tasks)
    if tasks.ndim != 2 or tasks.shape[0] < 1 or not np.isin(tasks, (-1, 1)).all():
        raise ValueError(f"tasks must be a non-empty (T, m) array of -1/+1 labels, got shape {tasks.shape}")
    if num_clusters is not None and tasks.shape[1] != num_clusters:
        raise ValueError(f"tasks must have one column per cluster ({num_clusters}), got {tasks.shape[1]}")
    _check_num_clusters(tasks.shape[1])
    return tasks.astype(np.int8)


def all_tasks(num_clusters: int) -> np.ndarray:
    """(2^m - 2, m) every non-constant cluster-faithful task, by id 1 .. 2^m - 2 (m <= 16)."""
    m = check_int_range("num_clusters", num_clusters, 2, MAX_ALL_TASKS_CLUSTERS)
    return tasks_from_ids(np.arange(1, 2**m - 1), m)


def parity_tasks(cluster_codes) -> np.ndarray:
    """(P, m) the parity-type tasks of a cluster -> vertex assignment: both signs of

        y_c = prod_{j in S} z_{c j}   for every S subset of {1..d} with |S| >= 2

    cluster_codes (m, d): the vertex of each cluster. These Walsh characters of degree >= 2
    (XOR and XNOR for d = 2) are tasks no linear head fits when the clusters fill the cube.
    Tasks that come out constant (possible when m < 2^d) are dropped; P = 2 (2^d - d - 1) at most.
    """
    codes = check_codes("cluster_codes", cluster_codes)
    d = codes.shape[1]
    rows = [np.prod(codes[:, list(S)], axis=1) for k in range(2, d + 1) for S in itertools.combinations(range(d), k)]
    rows = [sign * r for r in rows if np.unique(r).size == 2 for sign in (1, -1)]
    if not rows:
        return np.zeros((0, len(codes)), dtype=np.int8)
    return np.stack(rows).astype(np.int8)


def cluster_faithful_tasks(num_clusters: int, max_tasks: int | None = None, include=None, seed: int = 0) -> np.ndarray:
    """The task family: every non-constant task when m <= 16 and 2^m - 2 <= max_tasks (or
    max_tasks is None), else ``max_tasks`` distinct non-constant tasks drawn uniformly at random
    (seeded), always joined by the rows of ``include`` (e.g. :func:`parity_tasks`).

    Returns (T, m) int8, sorted by task id, without duplicates.
    """
    m = _check_num_clusters(num_clusters)
    total = 2**m - 2
    if max_tasks is not None:
        check_positive_int("max_tasks", max_tasks)
    if max_tasks is None or total <= max_tasks:
        if m > MAX_ALL_TASKS_CLUSTERS:
            raise ValueError(f"max_tasks must be given when num_clusters > {MAX_ALL_TASKS_CLUSTERS}, got m = {m}")
        ids = np.arange(1, total + 1, dtype=np.int64)
    else:
        rng = np.random.default_rng(seed)
        chosen: set[int] = set()
        while len(chosen) < max_tasks:  # rejection keeps the sample uniform without listing 2^m ids
            chosen.update(int(x) for x in rng.integers(1, total + 1, size=max_tasks - len(chosen), dtype=np.int64))
        ids = np.fromiter(chosen, dtype=np.int64)
    if include is not None and len(include):
        ids = np.concatenate([ids, task_ids(_check_tasks(include, m))])
    return tasks_from_ids(np.unique(ids), m)


# ----------------------------------------------------------------------------- views and groups


def split_views(data: ViewDataset, fractions=(0.5, 0.25, 0.25), seed: int = 0) -> np.ndarray:
    """(V,) int8 split of the views: 0 train, 1 validation, 2 test.

    Views (not clusters) are split, within each cluster separately, so that every cluster
    appears in every split: a cluster with n_c views gets round(f_0 n_c) train and
    round(f_1 n_c) validation views (each at least one), the rest test (at least one).
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.shape != (3,) or (fractions <= 0).any() or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"fractions must be three numbers > 0 (train, validation, test) summing to 1, got {fractions.tolist()}")
    rng = np.random.default_rng(seed)
    split = np.empty(data.num_views, dtype=np.int8)
    for c in range(data.num_clusters):
        views = rng.permutation(np.flatnonzero(data.content == c))
        n = len(views)
        if n < 3:
            raise ValueError(f"every cluster needs >= 3 views to be split three ways; cluster {c} has {n}")
        n_train = min(max(1, round(fractions[0] * n)), n - 2)
        n_val = min(max(1, round(fractions[1] * n)), n - n_train - 1)
        split[views[:n_train]] = 0
        split[views[n_train : n_train + n_val]] = 1
        split[views[n_train + n_val :]] = 2
    return split


@dataclass(frozen=True)
class CodeGroups:
    """The views of one split reduced to distinct (vertex, cluster) groups.

    inputs:  (G, d) float32 the code of each group
    vertex:  (G,) int64 its vertex index (clustertheory.analysis.hypercube.vertex_index)
    cluster: (G,) int64 its cluster
    weight:  (G,) float64 its share of the split's view mass (sums to 1)
    """

    inputs: np.ndarray
    vertex: np.ndarray
    cluster: np.ndarray
    weight: np.ndarray


def _view_codes(codes, data: ViewDataset) -> np.ndarray:
    codes = check_codes("codes", codes)
    if len(codes) != data.num_views:
        raise ValueError(f"codes must have one row per view ({data.num_views}), got {len(codes)}")
    return codes


def _view_mask(data: ViewDataset, views) -> np.ndarray:
    if views is None:
        return np.ones(data.num_views, dtype=bool)
    views = np.asarray(views)
    if views.dtype == bool:
        if views.shape != (data.num_views,):
            raise ValueError(f"views must be a ({data.num_views},) bool mask or an index array, got shape {views.shape}")
        return views
    mask = np.zeros(data.num_views, dtype=bool)
    mask[views.astype(np.int64)] = True
    return mask


def code_groups(codes, data: ViewDataset, views=None, weights=None) -> CodeGroups:
    """Reduce the views (bool mask or indices; None: all) to (vertex, cluster) groups.

    weights (V,): the view law mu (default ``data.view_weight``); a group's weight is the
    sum of mu over its views, normalised over the selected views.
    """
    codes = _view_codes(codes, data)
    mask = _view_mask(data, views)
    mu = data.view_weight if weights is None else np.asarray(weights, dtype=np.float64)
    if mu.shape != (data.num_views,) or (mu < 0).any():
        raise ValueError(f"weights must be ({data.num_views},) non-negative, got shape {mu.shape}")
    mu = np.where(mask, mu, 0.0)
    if mu.sum() <= 0:
        raise ValueError("the selected views carry no weight")
    d = codes.shape[1]
    key = data.content * 2**d + vertex_index(codes)
    keys, inverse = np.unique(key[mu > 0], return_inverse=True)
    weight = np.bincount(inverse, weights=mu[mu > 0])
    vertex = keys % 2**d
    return CodeGroups(
        inputs=vertex_codes(d)[vertex].astype(np.float32),
        vertex=vertex.astype(np.int64),
        cluster=(keys // 2**d).astype(np.int64),
        weight=weight / weight.sum(),
    )


def natural_view_weights(data: ViewDataset) -> np.ndarray:
    """(V,) the natural law D_o on views (zero on views that are only augmentations): pass as
    ``weights`` to measure a code on natural images instead of the view law mu."""
    weights = np.zeros(data.num_views)
    np.add.at(weights, data.base_view, data.base_weight)
    return weights


def cluster_vertex_mass(codes, data: ViewDataset, views=None, weights=None) -> np.ndarray:
    """(m, 2^d) mass[c, v] = mu(views of cluster c with code v) / mu(selected views)."""
    groups = code_groups(codes, data, views, weights)
    d = groups.inputs.shape[1]
    mass = np.zeros((data.num_clusters, 2**d))
    np.add.at(mass, (groups.cluster, groups.vertex), groups.weight)
    return mass


def cluster_codes_of(codes, data: ViewDataset) -> np.ndarray:
    """(m, d) the most common vertex of each cluster under the natural law (its code; ties go
    to the lowest vertex index)."""
    codes = _view_codes(codes, data)
    d = codes.shape[1]
    flat = data.base_cluster * 2**d + vertex_index(codes[data.base_view])
    mass = np.bincount(flat, weights=data.base_weight, minlength=data.num_clusters * 2**d).reshape(data.num_clusters, 2**d)
    return vertex_codes(d)[mass.argmax(axis=1)]


# ----------------------------------------------------------------------------- exact references


def bayes_errors(codes, data: ViewDataset, tasks, views=None, weights=None) -> np.ndarray:
    """(T,) the least error any head can reach on the code, exactly:

        err*_t = sum_v min(P[g = v, y_t = +1], P[g = v, y_t = -1])

    (a head sees only the vertex v, so at best it predicts the majority label of each vertex).
    """
    tasks = _check_tasks(tasks, data.num_clusters)
    mass = cluster_vertex_mass(codes, data, views, weights)  # (m, 2^d)
    positive = (tasks > 0).astype(np.float64) @ mass  # (T, 2^d)
    negative = (tasks < 0).astype(np.float64) @ mass
    return np.minimum(positive, negative).sum(axis=1)


def linearly_separable(points, labels) -> bool:
    """True iff some (w, c) has y_i (w.p_i + c) >= 1 for all i (LP feasibility; points (P, d))."""
    points = np.asarray(points, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64).ravel()
    if points.ndim != 2 or labels.shape != (len(points),):
        raise ValueError(f"points must be (P, d) and labels (P,), got {points.shape} and {labels.shape}")
    if np.unique(labels).size < 2:
        return True
    a_ub = -labels[:, None] * np.concatenate([points, np.ones((len(points), 1))], axis=1)
    result = linprog(np.zeros(points.shape[1] + 1), A_ub=a_ub, b_ub=-np.ones(len(points)), bounds=(None, None), method="highs")
    return bool(result.status == 0)


def separable_tasks(codes, data: ViewDataset, tasks, views=None) -> np.ndarray:
    """(T,) True where some linear head sign(w.z + c) has zero error on the selected views
    (:func:`min_linear_errors` is zero; d <= 4)."""
    return min_linear_errors(codes, data, tasks, views) <= 0.0


@cache
def threshold_labellings(d: int) -> np.ndarray:
    """(K, 2^d) int8 every labelling of the cube's vertices a linear head can produce
    (K = 4, 14, 104, 1882 for d = 1, 2, 3, 4, constants included).

    Every threshold function of d <= 4 variables has an integer realisation with weights
    |w_j| <= 3 (Muroga, Threshold Logic, 1971; the counts match OEIS A000609); the search runs
    over |w_j| <= 3 and thresholds halfway between the attainable values of w.z, so no vertex
    sits on the boundary. Labellings are packed into integers (bit v set where vertex v is
    labelled -1) to find the distinct ones. (:func:`linearly_separable` cross-checks the list
    in the tests.)
    """
    d = check_int_range("d", d, 1, MAX_LINEAR_ENUM_DIM)
    vertices = vertex_codes(d)
    weights = np.array(list(itertools.product(range(-3, 4), repeat=d)), dtype=np.float64)  # (7^d, d)
    values = weights @ vertices.T  # (W, 2^d) integer scores w.z
    offsets = np.arange(-3 * d - 1, 3 * d + 1) + 0.5  # half-integers cover every cut of the integer scores
    negative = values[:, None, :] + offsets[None, :, None] < 0  # (W, O, 2^d)
    packed = np.unique(negative.reshape(-1, 2**d).astype(np.int64) @ (np.int64(1) << np.arange(2**d, dtype=np.int64)))
    bits = (packed[:, None] >> np.arange(2**d, dtype=np.int64)[None, :]) & 1
    result = (1 - 2 * bits).astype(np.int8)
    result.setflags(write=False)  # cached: shared by every caller
    return result


def min_linear_errors(codes, data: ViewDataset, tasks, views=None, weights=None) -> np.ndarray:
    """(T,) the least error of any linear head sign(w.z + c) on the code, exactly (d <= 4):

        min over threshold labellings s of the cube of sum_v P[g = v, y != s_v].
    """
    tasks = _check_tasks(tasks, data.num_clusters)
    codes = _view_codes(codes, data)
    labellings = threshold_labellings(codes.shape[1]).astype(np.float64)  # (K, 2^d)
    mass = cluster_vertex_mass(codes, data, views, weights)
    positive = (tasks > 0).astype(np.float64) @ mass  # (T, 2^d)
    negative = (tasks < 0).astype(np.float64) @ mass
    wrong = positive @ (labellings < 0).T + negative @ (labellings > 0).T  # (T, K)
    return wrong.min(axis=1)


# ----------------------------------------------------------------------------- the explicit head


def explicit_relu_head(cluster_codes, tasks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Theorem 4.6 head for every task: f_t(z) = sum_j a_tj ReLU(w_j.z - b_j).

        W = cluster_codes (m, d)  (row j: the vertex of cluster j)
        b = (d - 2) 1  (m,)
        a_t = y_t (T, m)           (+1 for rows of positive-label clusters, -1 otherwise)

    The paper lists the positive-label rows first; the order of the neurons does not change
    f. When the clusters sit on distinct vertices, w_j.z = d for the own row and <= d - 2 for
    every other, so exactly one neuron is active, with pre-activation 2, and f_t(z) = 2 y_t.
    Returns a (T, m), W (m, d), b (m,).
    """
    W = check_codes("cluster_codes", cluster_codes)
    tasks = _check_tasks(tasks, len(W))
    return tasks.astype(np.float64), W, np.full(len(W), W.shape[1] - 2.0)


def relu_head_scores(a, W, b, inputs) -> tuple[np.ndarray, np.ndarray]:
    """f (T, G) = a ReLU(W z - b) for inputs z (G, d); also the pre-activations (G, k)."""
    pre = np.asarray(inputs, dtype=np.float64) @ np.asarray(W, dtype=np.float64).T - np.asarray(b, dtype=np.float64)
    return np.asarray(a, dtype=np.float64) @ np.maximum(pre, 0.0).T, pre


@dataclass(frozen=True)
class ExplicitHeadResult:
    """errors (T,); active: (G,) active neurons per group; active_pre: the pre-activations of
    the active neurons (flattened); groups: the evaluated groups."""

    errors: np.ndarray
    active: np.ndarray
    active_pre: np.ndarray
    groups: CodeGroups


def explicit_head_errors(codes, data: ViewDataset, tasks, views=None, weights=None, bias=None) -> ExplicitHeadResult:
    """Evaluate :func:`explicit_relu_head` built from the code's cluster vertices
    (:func:`cluster_codes_of`) on the selected views. ``bias`` replaces d - 2 (to show what a
    wrong construction does); None keeps the theorem's value."""
    codes = _view_codes(codes, data)
    a, W, b = explicit_relu_head(cluster_codes_of(codes, data), tasks)
    if bias is not None:
        b = np.full_like(b, float(bias))
    groups = code_groups(codes, data, views, weights)
    f, pre = relu_head_scores(a, W, b, groups.inputs)
    y = a[:, groups.cluster]  # a_t = y_t, so the label of a group of cluster c is a[t, c]
    errors = ((y * f) <= 0).astype(np.float64) @ groups.weight
    return ExplicitHeadResult(errors=errors, active=(pre > 0).sum(axis=1), active_pre=pre[pre > 0], groups=groups)


# ----------------------------------------------------------------------------- trained heads


class ReLUHeads(nn.Module):
    """T two-layer ReLU heads f_t(z) = sum_k a_tk ReLU(w_tk.z - b_tk), one per task.

    Parameters W (T, k, d), b (T, k), a (T, k), initialised W ~ N(0, 1/d), b ~ N(-1, 0.1^2),
    a ~ N(0, 1/k). The negative bias starts every neuron active on most vertices (w.z has
    variance ~1 on the cube): with b near 0 about half the initialisations left some vertex
    with no active neuron, where f = 0 and the gradient vanishes for good.
    forward(z (G, d)) -> f (T, G); the first layer is one (T k, d) x (d, G) product.
    """

    def __init__(self, tasks: int, hidden: int, dim: int, generator: torch.Generator, device="cpu"):
        super().__init__()
        self.W = nn.Parameter((torch.randn(tasks, hidden, dim, generator=generator) / math.sqrt(dim)).to(device))
        self.b = nn.Parameter((0.1 * torch.randn(tasks, hidden, generator=generator) - 1.0).to(device))
        self.a = nn.Parameter((torch.randn(tasks, hidden, generator=generator) / math.sqrt(hidden)).to(device))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        T, k, d = self.W.shape
        pre = (self.W.reshape(T * k, d) @ z.T).view(T, k, -1) - self.b[..., None]
        return (torch.relu(pre) * self.a[..., None]).sum(dim=1)


class LinearHeads(nn.Module):
    """T linear heads f_t(z) = w_t.z + c_t; w (T, d) ~ N(0, 1/d), c (T,) = 0.
    forward(z (G, d)) -> f (T, G)."""

    def __init__(self, tasks: int, dim: int, generator: torch.Generator, device="cpu"):
        super().__init__()
        self.w = nn.Parameter((torch.randn(tasks, dim, generator=generator) / math.sqrt(dim)).to(device))
        self.c = nn.Parameter(torch.zeros(tasks, device=device))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.w @ z.T + self.c[:, None]


@dataclass(frozen=True)
class HeadConfig(Settings):
    """How heads are trained (a nested settings block of a simulation config: ``heads.steps``).

    restarts: a task gets a fresh initialisation while its training error is above the least
    error any head can reach on the training views (their Bayes error, :func:`bayes_errors`);
    among a task's initialisations the one with the least validation error (then validation
    loss) is kept (the linear loss is convex: restarts = 1 is enough there).
    steps: full-batch Adam on the weighted logistic loss log(1 + exp(-y f)); a chunk stops
    early once every task in it has reached its training Bayes error.
    patience: stuck initialisations (a vertex where no neuron is active) practically never
    recover, and the next round gives them a fresh one.
    """

    kind: str = setting("relu", OneOf(*HEAD_KINDS), '"relu" (a.ReLU(W z - b)) or "linear" (w.z + c)')
    hidden: int | None = setting(None, Optional(Integer(1)), "ReLU neurons k (None: 2^d, the theorem's width)")
    restarts: int = setting(8, Integer(1), "at most this many random initialisations per task")
    steps: int = setting(300, Integer(1), "at most this many full-batch Adam steps per initialisation")
    patience: int | None = setting(25, Optional(Integer(1)), "after min_steps, also stop a chunk when the number of tasks "
                                   "above their target has not fallen for this many steps (None: never)")
    min_steps: int = setting(100, Integer(1), "steps before patience applies (well-started heads fit within ~100 steps)")
    lr: float = setting(0.05, Real(0, open_lo=True), "Adam learning rate")
    task_chunk: int = setting(8192, Integer(1), "tasks trained together (memory ~ task_chunk * k * G floats per tensor)")


@dataclass(frozen=True)
class HeadResult:
    """Per-task errors (T,) of the kept initialisation on each split, and how many
    initialisations each task used."""

    train_error: np.ndarray
    validation_error: np.ndarray
    test_error: np.ndarray
    restarts_used: np.ndarray

    def summary(self) -> dict[str, float]:
        """sup and mean over tasks of each split's error."""
        out = {}
        for name in SPLITS:
            errors = getattr(self, f"{name}_error")
            out[f"{name}_sup"], out[f"{name}_mean"] = float(errors.max()), float(errors.mean())
        return out


_ERROR_TOLERANCE = 1e-6  # float32 sums of group weights against the float64 Bayes error


def _group_bayes(groups: CodeGroups, tasks: np.ndarray) -> np.ndarray:
    """(T,) Bayes error of every task on the groups: sum_v min(P[v, y = +1], P[v, y = -1])."""
    d = groups.inputs.shape[1]
    positive, negative = np.zeros((len(tasks), 2**d)), np.zeros((len(tasks), 2**d))
    labels = tasks[:, groups.cluster]  # (T, G)
    np.add.at(positive.T, groups.vertex, (labels > 0).T * groups.weight[:, None])
    np.add.at(negative.T, groups.vertex, (labels < 0).T * groups.weight[:, None])
    return np.minimum(positive, negative).sum(axis=1)


def _train_chunk(heads: nn.Module, labels: torch.Tensor, train, target: torch.Tensor, config: HeadConfig) -> None:
    """Adam on sum_t sum_g w_g softplus(-y_tg f_t(z_g)): each task's term touches only its own
    parameters, and Adam is coordinate-wise, so every head trains as it would alone. Stops
    when every task's training error is down to ``target`` (T,), its training Bayes error,
    or when, after ``config.min_steps``, the count of tasks above target has not fallen for
    ``config.patience`` steps."""
    z, cluster, weight = train
    y = labels[:, cluster]
    optimiser = torch.optim.Adam(heads.parameters(), lr=config.lr)
    fewest, since = len(labels) + 1, 0
    for step in range(config.steps):
        margin = y * heads(z)
        remaining = int(((margin <= 0).float() @ weight > target + _ERROR_TOLERANCE).sum())
        if remaining == 0:
            return
        fewest, since = (remaining, 0) if remaining < fewest else (fewest, since + 1)
        if config.patience is not None and step >= config.min_steps and since >= config.patience:
            return
        loss = nn.functional.softplus(-margin) @ weight
        optimiser.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimiser.step()


def fit_heads(
    codes,
    data: ViewDataset,
    tasks,
    split,
    config: HeadConfig = HeadConfig(),
    seed: int = 0,
    device="cpu",
    weights=None,
) -> HeadResult:
    """Train a head of ``config.kind`` for every task on the train views of ``split``
    (:func:`split_views`), choose among initialisations on the validation views only, and
    report the error on every split (weights: the view law, default ``data.view_weight``).

    Training minimises sum_g w_g log(1 + exp(-y_g f(z_g))) over the train groups, i.e. the
    weighted mean over the train views (:func:`code_groups`). All tasks of a chunk train
    together as one batched module of shape (T, ...).
    """
    codes = _view_codes(codes, data)
    tasks = _check_tasks(tasks, data.num_clusters)
    split = np.asarray(split)
    if split.shape != (data.num_views,) or not np.isin(split, (0, 1, 2)).all():
        raise ValueError(f"split must be a ({data.num_views},) array of 0 (train), 1 (validation), 2 (test)")
    device = torch.device(device)
    d = codes.shape[1]
    hidden = config.hidden or 2**d
    parts, target = [], None
    for s in range(3):
        groups = code_groups(codes, data, split == s, weights)
        if s == 0:
            target = torch.as_tensor(_group_bayes(groups, tasks), dtype=torch.float32, device=device)
        parts.append(
            (
                torch.as_tensor(groups.inputs, device=device),
                torch.as_tensor(groups.cluster, device=device),
                torch.as_tensor(groups.weight, dtype=torch.float32, device=device),
            )
        )
    generator = torch_generator(seed)
    labels = torch.as_tensor(tasks, dtype=torch.float32, device=device)
    T = len(tasks)
    best = {name: torch.full((T,), math.inf, device=device) for name in SPLITS}
    best_val_loss = torch.full((T,), math.inf, device=device)
    used = torch.zeros(T, dtype=torch.int64, device=device)
    reached = torch.zeros(T, dtype=torch.bool, device=device)  # some initialisation fit the train views
    pending = torch.arange(T, device=device)
    for _ in range(config.restarts):
        for chunk in torch.split(pending, config.task_chunk):
            if config.kind == "relu":
                heads = ReLUHeads(len(chunk), hidden, d, generator, device)
            else:
                heads = LinearHeads(len(chunk), d, generator, device)
            _train_chunk(heads, labels[chunk], parts[0], target[chunk], config)
            with torch.no_grad():
                measured = {}
                for name, (z, cluster, weight) in zip(SPLITS, parts):
                    margin = labels[chunk][:, cluster] * heads(z)
                    measured[name] = ((margin <= 0).float() @ weight, nn.functional.softplus(-margin) @ weight)
            val_error, val_loss = measured["validation"]
            better = (val_error < best["validation"][chunk]) | ((val_error == best["validation"][chunk]) & (val_loss < best_val_loss[chunk]))
            for name in SPLITS:
                best[name][chunk] = torch.where(better, measured[name][0], best[name][chunk])
            best_val_loss[chunk] = torch.where(better, val_loss, best_val_loss[chunk])
            used[chunk] += 1
            reached[chunk] |= measured["train"][0] <= target[chunk] + _ERROR_TOLERANCE
        pending = torch.nonzero(~reached).ravel()
        if len(pending) == 0:
            break
    return HeadResult(*(best[name].cpu().numpy().astype(np.float64) for name in SPLITS), used.cpu().numpy())


# ----------------------------------------------------------------------------- reports


def task_errors(codes, data: ViewDataset, tasks, split, relu: HeadConfig, linear: HeadConfig, seed: int = 0, device="cpu") -> dict[str, np.ndarray]:
    """Every error Theorem 4.6 compares on one code, per task (T,):

    relu_train_error, relu_test_error, relu_inits   trained ReLU heads (:func:`fit_heads`)
    linear_test_error                               trained linear heads (seed + 1)
    explicit_error      the Theorem 4.6 construction on every view
    bayes_error         the least error of any head (exact)
    min_linear_error    the least error of any linear head (exact, d <= 4)
    separable           some linear head fits the training views (split == 0) exactly
    parity              the task is parity-type for the code's cluster vertices
    """
    relu_heads = fit_heads(codes, data, tasks, split, relu, seed=seed, device=device)
    linear_heads = fit_heads(codes, data, tasks, split, linear, seed=seed + 1, device=device)
    parity = task_ids(parity_tasks(cluster_codes_of(codes, data)))
    return {
        "relu_train_error": relu_heads.train_error,
        "relu_test_error": relu_heads.test_error,
        "relu_inits": relu_heads.restarts_used,
        "linear_test_error": linear_heads.test_error,
        "explicit_error": explicit_head_errors(codes, data, tasks).errors,
        "bayes_error": bayes_errors(codes, data, tasks),
        "min_linear_error": min_linear_errors(codes, data, tasks),
        "separable": separable_tasks(codes, data, tasks, np.asarray(split) == 0),
        "parity": np.isin(task_ids(tasks), parity),
    }


def head_comparison(codes, data: ViewDataset, num_tasks: int, seed: int = 0, device="cpu") -> dict[str, float]:
    """A trained two-layer ReLU head (2^d neurons) against a trained linear head on one code,
    over ``num_tasks`` random cluster-faithful tasks plus the code's parity tasks
    (:func:`cluster_faithful_tasks`, :func:`parity_tasks`), on one seeded split of the views:

        relu_error, linear_error   mean test error over the tasks (:func:`fit_heads`; the
                                   linear head gets one initialisation, same seed)
        relu_train_excess          mean over tasks of the ReLU head's training error minus the
                                   training views' Bayes error (:func:`bayes_errors`; 0 = reached)
        tasks                      how many tasks
    """
    tasks = cluster_faithful_tasks(data.num_clusters, num_tasks, include=parity_tasks(cluster_codes_of(codes, data)), seed=seed)
    split = split_views(data, seed=seed)
    relu = fit_heads(codes, data, tasks, split, HeadConfig(kind="relu"), seed=seed, device=device)
    linear = fit_heads(codes, data, tasks, split, HeadConfig(kind="linear", restarts=1), seed=seed, device=device)
    bayes = bayes_errors(codes, data, tasks, views=split == 0)
    return {"relu_error": float(relu.test_error.mean()), "linear_error": float(linear.test_error.mean()),
            "relu_train_excess": float((relu.train_error - bayes).mean()), "tasks": len(tasks)}


def task_family(codes, data: ViewDataset, max_tasks: int, seed: int = 0) -> np.ndarray:
    """(T, m) the tasks heads are trained on for one code: every non-constant task when there
    are at most ``max_tasks`` (2^m - 2 <= max_tasks), else ``max_tasks`` random ones (seeded)
    joined by the code's parity-type tasks (:func:`cluster_faithful_tasks`, :func:`parity_tasks`)."""
    m = data.num_clusters
    if 2**m - 2 <= max_tasks:
        return all_tasks(m)
    return cluster_faithful_tasks(m, max_tasks, include=parity_tasks(cluster_codes_of(codes, data)), seed=seed)


def code_task_report(codes, data: ViewDataset, max_tasks: int, fractions, relu: HeadConfig, linear: HeadConfig, seed: int = 0,
                     device="cpu", lp_check: bool = False, rounding: float = ROUNDING) -> tuple[dict, list[dict]]:
    """Theorem 4.6 on one code (V, d): (facts, task rows).

    facts      :func:`explicit_head_summary` (the explicit head on every task), and
               lp_checked / lp_disagreements: with ``lp_check``, on how many tasks of the family
               the exact best-linear error (zero when <= ``rounding``) disagrees with linear
               programming on the cluster vertices (:func:`linearly_separable`); else 0 / 0
    task rows  one per task of :func:`task_family`: task_id, task (:func:`task_string`) and
               every :func:`task_errors` field, heads trained on the views of
               ``split_views(data, fractions, seed)`` with seed ``seed``
    """
    tasks = task_family(codes, data, max_tasks, seed)
    errors = task_errors(codes, data, tasks, split_views(data, fractions, seed=seed), relu, linear, seed, device)
    vertices = cluster_codes_of(codes, data)
    lp = [linearly_separable(vertices, t) for t in tasks] if lp_check else []
    facts = {**explicit_head_summary(codes, data), "lp_checked": len(lp),
             "lp_disagreements": int(sum(a != (b <= rounding) for a, b in zip(lp, errors["min_linear_error"])))}
    ids = task_ids(tasks)
    rows = [{"task_id": int(ids[t]), "task": task_string(tasks[t]), **{key: values[t].item() for key, values in errors.items()}} for t in range(len(tasks))]
    return facts, rows


def explicit_head_summary(codes, data: ViewDataset) -> dict[str, float]:
    """The Theorem 4.6 construction on every non-constant task (m <= 16): its sup error, the
    (min, max) number of active neurons and of their pre-activations over the views, and the
    sup Bayes error of the code over the same tasks."""
    tasks = all_tasks(data.num_clusters)
    explicit = explicit_head_errors(codes, data, tasks)
    pre = explicit.active_pre if explicit.active_pre.size else np.zeros(1)
    return {
        "explicit_sup_all_tasks": float(explicit.errors.max()),
        "explicit_min_active": int(explicit.active.min()),
        "explicit_max_active": int(explicit.active.max()),
        "explicit_min_pre": float(pre.min()),
        "explicit_max_pre": float(pre.max()),
        "bayes_sup_all_tasks": float(bayes_errors(codes, data, tasks).max()),
    }


def vertex_law_given_cluster(codes, data: ViewDataset) -> np.ndarray:
    """(m, 2^d) P[g(x) = v | x in cluster c] over natural images x ~ D_o (rows sum to 1)."""
    return cluster_vertex_mass(codes, data, weights=natural_view_weights(data)) / data.cluster_weight[:, None]


def vertex_law_rows(codes, data: ViewDataset) -> list[dict]:
    """:func:`vertex_law_given_cluster` as rows {cluster, vertex, mass}, cluster-major."""
    mass = vertex_law_given_cluster(codes, data)
    return [{"cluster": c, "vertex": v, "mass": float(mass[c, v])} for c in range(mass.shape[0]) for v in range(mass.shape[1])]


def code_bayes_summary(codes, data: ViewDataset, rounding: float = ROUNDING) -> dict[str, float]:
    """Theorem 4.7 on one code (V, d): exact Bayes errors (any head) and how the natural mass of
    the clusters spreads over the vertices (m <= 16):

    bayes_balanced_min    least Bayes error over the balanced tasks (sum_c y_c = 0)
    bayes_sup             sup Bayes error over every non-constant task
    vertices_per_cluster  mean over clusters of the vertices holding natural mass > ``rounding``
    share_deviation       max_{c,v} |P[c, g(x) = v] - P[c] / 2^d| over natural images
                          (0: every vertex carries every cluster in equal parts)
    """
    tasks = all_tasks(data.num_clusters)
    balanced = tasks[tasks.sum(axis=1) == 0]
    shares = cluster_vertex_mass(codes, data, weights=natural_view_weights(data))
    return {
        "bayes_balanced_min": float(bayes_errors(codes, data, balanced).min()),
        "bayes_sup": float(bayes_errors(codes, data, tasks).max()),
        "vertices_per_cluster": float((shares > rounding).sum(axis=1).mean()),
        "share_deviation": float(np.abs(shares - data.cluster_weight[:, None] / shares.shape[1]).max()),
    }


# ----------------------------------------------------------------------------- codes built by hand


def set_code(data: ViewDataset, vertex_of_base, d: int) -> np.ndarray:
    """(V, d) the code that gives every view of augmentation set A(x_i) the vertex
    ``vertex_of_base[i]`` (an index in 0..2^d-1). Such a code is clean: constant on every set.

    Needs disjoint augmentation sets that cover the views (each view in exactly one set,
    as on the comb without leak or noise).
    """
    d = check_int_range("d", d, 1, 12)
    vertex_of_base = np.asarray(vertex_of_base, dtype=np.int64)
    if vertex_of_base.shape != (data.num_base,) or (vertex_of_base < 0).any() or (vertex_of_base >= 2**d).any():
        raise ValueError(f"vertex_of_base must be ({data.num_base},) vertex indices in [0, {2**d}), got {vertex_of_base!r}")
    support = data.augment.tocoo()
    owners = np.bincount(support.col[support.data > 0], minlength=data.num_views)
    if (owners != 1).any():
        raise ValueError("set_code needs disjoint augmentation sets covering every view (each view in exactly one set)")
    owner = np.empty(data.num_views, dtype=np.int64)
    owner[support.col[support.data > 0]] = support.row[support.data > 0]
    return vertex_codes(d)[vertex_of_base[owner]]


def _rank_in_cluster(data: ViewDataset) -> np.ndarray:
    """(N,) position of each natural image among the natural images of its cluster."""
    rank = np.empty(data.num_base, dtype=np.int64)
    for c in range(data.num_clusters):
        members = np.flatnonzero(data.base_cluster == c)
        rank[members] = np.arange(len(members))
    return rank


def preserving_code(data: ViewDataset, d: int) -> np.ndarray:
    """(V, d) cluster c -> vertex c on every view (m <= 2^d): cluster-preserving and clean."""
    if data.num_clusters > 2**d:
        raise ValueError(f"d must satisfy 2^d >= num_clusters ({data.num_clusters}), got d = {d}")
    return vertex_codes(d)[data.content]


def mixing_code(data: ViewDataset, d: int) -> np.ndarray:
    """(V, d) the Theorem 4.7 code: natural image i (rank r_i in its cluster c) and its whole
    augmentation set go to vertex (c + r_i) mod 2^d.

    With n natural images per cluster, n a multiple of 2^d, and equal weights within a
    cluster, every vertex receives exactly 1/2^d of every cluster: clean, uniform, and no head
    can tell the clusters apart.
    """
    rank = _rank_in_cluster(data)
    counts = np.bincount(data.base_cluster, minlength=data.num_clusters)
    if (counts % 2**d).any():
        raise ValueError(f"every cluster needs a multiple of 2^d = {2**d} natural images for equal shares, got {counts.tolist()}")
    return set_code(data, (data.base_cluster + rank) % 2**d, d)


def partner_split_code(data: ViewDataset, d: int) -> np.ndarray:
    """(V, d) a clean, uniform code that splits every cluster: cluster c sits on vertex c, but
    the augmentation sets of the second half of its natural images go to vertex c XOR 1
    (the cluster it is paired with). m = 2^d clusters, an even number of images each."""
    if data.num_clusters != 2**d:
        raise ValueError(f"partner_split_code needs num_clusters = 2^d = {2**d}, got {data.num_clusters}")
    rank = _rank_in_cluster(data)
    counts = np.bincount(data.base_cluster, minlength=data.num_clusters)
    if (counts % 2).any():
        raise ValueError(f"every cluster needs an even number of natural images, got {counts.tolist()}")
    half = rank >= counts[data.base_cluster] // 2
    return set_code(data, np.where(half, data.base_cluster ^ 1, data.base_cluster), d)
