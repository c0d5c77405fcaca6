"""Measurements on real-valued embeddings: rank, spectrum, noise, false negatives, probes, clusters.

Every function takes numpy arrays or torch tensors and returns plain floats / numpy arrays.
Shapes: embeddings z (N, d); cluster labels (N,) integers.
"""

from __future__ import annotations

import numpy as np
import sklearn
import torch
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from clustertheory.config import check_nonneg_int, check_positive_int

PROBE_CS = (0.01, 0.1, 1.0, 10.0, 100.0)


def _array(name: str, x, ndim: int | None) -> np.ndarray:
    """float64 numpy copy of x; checks the number of dimensions (unless None) and finiteness."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} must be finite")
    return x


def _labels(name: str, labels, n: int) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be ({n},) integers, got shape {labels.shape} dtype {labels.dtype}")
    return labels


def _unit_rows(z: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("embeddings must be non-zero to compute cosine similarities")
    return z / norms


# ----------------------------------------------------------------------------- rank and spectrum


def covariance_spectrum(z, normalize: bool = True) -> np.ndarray:
    """Eigenvalues of the covariance of z (N, d), descending, (d,).

        Sigma = (z - mean)^T (z - mean) / N,   lambda_1 >= ... >= lambda_d >= 0

    With ``normalize`` they are divided by their sum (trace 1; all zeros stay zeros).
    """
    z = _array("z", z, 2)
    centred = z - z.mean(axis=0)
    eig = np.clip(np.linalg.eigvalsh(centred.T @ centred / len(z))[::-1], 0.0, None)
    total = eig.sum()
    return eig / total if normalize and total > 0 else eig


def effective_rank(z, center: bool = True) -> float:
    """Effective rank (Roy and Vetterli 2007) of z (N, d): exp of the entropy of the
    normalised singular values,

        p_k = sigma_k / sum_j sigma_j,   erank = exp( -sum_k p_k log p_k )   (0 log 0 = 0)

    in [1, min(N, d)]; columns are centred first when ``center`` (the rank of the cloud,
    not of its offset). A matrix of zeros has effective rank 0.
    """
    z = _array("z", z, 2)
    if center:
        z = z - z.mean(axis=0)
    sigma = np.linalg.svd(z, compute_uv=False)
    total = sigma.sum()
    if total <= 0:
        return 0.0
    p = sigma[sigma > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


# ----------------------------------------------------------------------------- noise


def draw_variance(samples) -> float:
    """Mean over entries of the variance across draws: samples (R, ...) with R >= 2,

        (1/M) sum_m  (1/(R-1)) sum_r (x_rm - xbar_m)^2      (unbiased, M entries)

    e.g. negative-pair similarities s_r(i, j) under R independent dropout draws.
    """
    x = _array("samples", samples, None)
    if x.ndim < 1 or x.shape[0] < 2 or x[0].size == 0:
        raise ValueError(f"samples must have shape (R, ...) with R >= 2 draws and at least one entry, got {x.shape}")
    return float(x.reshape(x.shape[0], -1).var(axis=0, ddof=1).mean())


def gradient_noise(gradients) -> dict[str, float]:
    """Noise of a stochastic gradient from R draws g_r (R, P) (R >= 2, P parameters).

        total_variance = sum_k Var_r(g_rk)          (trace of the covariance, unbiased)
        mean_sq_norm   = ||gbar||^2                 (squared norm of the mean gradient)
        relative       = total_variance / mean_sq_norm   (noise-to-signal; inf when gbar = 0)
    """
    g = _array("gradients", gradients, 2)
    if g.shape[0] < 2:
        raise ValueError(f"gradients must have R >= 2 draws (rows), got shape {g.shape}")
    total = float(g.var(axis=0, ddof=1).sum())
    mean_sq = float(np.square(g.mean(axis=0)).sum())
    return {"total_variance": total, "mean_sq_norm": mean_sq, "relative": total / mean_sq if mean_sq > 0 else float("inf")}


# ----------------------------------------------------------------------------- false negatives


def false_negative_rate(anchor_cluster, negative_cluster) -> float:
    """Share of negatives in the anchor's cluster: anchor_cluster (B,), negative_cluster (B, K),

        FNR = (1 / (B K)) sum_{b,k} [ negative_cluster[b, k] == anchor_cluster[b] ]
    """
    neg = np.asarray(negative_cluster.cpu() if isinstance(negative_cluster, torch.Tensor) else negative_cluster)
    if neg.ndim != 2 or neg.size == 0:
        raise ValueError(f"negative_cluster must be a non-empty (B, K) array, got shape {neg.shape}")
    anchor = _labels("anchor_cluster", anchor_cluster, neg.shape[0])
    return float((neg == anchor[:, None]).mean())


def nearest_cluster(points, reference, reference_cluster) -> np.ndarray:
    """Cluster of the most cosine-similar reference point, per point.

    points (B, k, d) or (M, d); reference (B, N, d) (one pool per row of points) or (N, d)
    (shared); reference_cluster of the matching shape (B, N) or (N,). Returns (B, k) or (M,).
    This is how a *synthesised* negative gets a cluster: the cluster of the nearest real
    candidate of its anchor's pool, i.e. of its dominant mixing source.
    """
    pts = _array("points", points, None)
    ref = _array("reference", reference, None)
    cl = np.asarray(reference_cluster.cpu() if isinstance(reference_cluster, torch.Tensor) else reference_cluster)
    if ref.ndim == 2 and pts.ndim == 2 and cl.shape == (len(ref),):
        sim = _unit_rows(pts) @ _unit_rows(ref).T
        return cl[sim.argmax(axis=1)]
    if pts.ndim == 3 and ref.ndim == 3 and len(pts) == len(ref) and cl.shape == ref.shape[:2]:
        unit_p = pts / np.linalg.norm(pts, axis=-1, keepdims=True)
        unit_r = ref / np.linalg.norm(ref, axis=-1, keepdims=True)
        best = np.einsum("bkd,bnd->bkn", unit_p, unit_r).argmax(axis=2)
        return np.take_along_axis(cl, best, axis=1)
    raise ValueError(
        f"points/reference/reference_cluster must be (M, d)/(N, d)/(N,) or (B, k, d)/(B, N, d)/(B, N); "
        f"got {pts.shape}, {ref.shape}, {cl.shape}"
    )


# ----------------------------------------------------------------------------- clusters


def cluster_similarity(z, labels) -> dict[str, float]:
    """Mean cosine similarity within and between clusters, and of the closest cluster pair.

        within  = mean over pairs i != j with c_i = c_j of cos(z_i, z_j)
        between = mean over pairs with c_i != c_j of cos(z_i, z_j)
        gap     = within - between            (> 0: clusters are tighter than the whole)
        closest_pair = max_{a != b} mean_{c_i = a, c_j = b} cos(z_i, z_j)   (the least separated pair)

    z (N, d); labels (N,) with >= 2 clusters, one of them with >= 2 points.
    """
    z = _unit_rows(_array("z", z, 2))
    labels = _labels("labels", labels, len(z))
    clusters, index = np.unique(labels, return_inverse=True)
    if len(clusters) < 2:
        raise ValueError("labels must hold at least 2 clusters")
    onehot = np.eye(len(clusters))[index]  # (N, m)
    sums = onehot.T @ z  # (m, d) per-cluster sums of unit vectors
    counts = onehot.sum(axis=0)
    pair_sum = sums @ sums.T  # (m, m): sum over i in a, j in b of cos(z_i, z_j)
    same_pairs = counts**2 - counts
    if same_pairs.sum() == 0:
        raise ValueError("labels must give some cluster at least 2 points")
    within = (np.trace(pair_sum) - len(z)) / same_pairs.sum()  # remove the N self-pairs cos = 1
    cross = pair_sum.sum() - np.trace(pair_sum)
    between = cross / (len(z) ** 2 - counts @ counts)
    pair_mean = pair_sum / np.outer(counts, counts)
    np.fill_diagonal(pair_mean, -np.inf)
    return {"within": float(within), "between": float(between), "gap": float(within - between), "closest_pair": float(pair_mean.max())}


def kmeans_purity(z, labels, seed: int = 0) -> float:
    """Purity of k-means (k = number of clusters, on unit-normalised z) against the labels:

        purity = (1/N) sum_{found clusters A} max_c |{i in A : c_i = c}|

    1 when k-means recovers the clusters, about max_c pi_c when it ignores them.
    """
    z = _unit_rows(_array("z", z, 2))
    labels = _labels("labels", labels, len(z))
    check_nonneg_int("seed", seed)
    clusters, index = np.unique(labels, return_inverse=True)
    found = KMeans(n_clusters=len(clusters), n_init=4, random_state=seed).fit_predict(z)
    table = np.zeros((len(clusters), len(clusters)), dtype=np.int64)
    np.add.at(table, (found, index), 1)
    return float(table.max(axis=1).sum() / len(z))


# ----------------------------------------------------------------------------- probes


def probe_split(n: int, fractions=(0.5, 0.25, 0.25), seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seeded random split of 0..n-1 into train / validation / test index arrays."""
    check_positive_int("n", n)
    check_nonneg_int("seed", seed)
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.shape != (3,) or (fractions <= 0).any() or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"fractions must be 3 positive numbers summing to 1, got {fractions.tolist()}")
    if n < 3:
        raise ValueError(f"n must be >= 3 to split into train / validation / test, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    cuts = np.maximum(np.rint(np.cumsum(fractions[:2]) * n).astype(int), [1, 2])
    cuts = np.minimum(cuts, [n - 2, n - 1])
    return order[: cuts[0]], order[cuts[0] : cuts[1]], order[cuts[1] :]


def linear_probe_accuracy(z, labels, split, cs=PROBE_CS, standardize: bool = True) -> dict[str, float]:
    """Linear probe: standardise, multinomial logistic regression for each inverse
    regularisation C in ``cs`` fitted on the train indices; the C with the best validation
    accuracy is kept and its test accuracy reported (nothing is chosen on the test split).

    z (N, d), labels (N,), split = (train, validation, test) index arrays
    (:func:`probe_split`). Returns {"accuracy": test accuracy, "val_accuracy", "c"}.
    ``standardize=False`` fits on z as it is: the L2 penalty then sees the embedding's scale,
    so a feature carried at a tiny scale (e.g. a small initialisation) is not read, where the
    standardised probe is scale-free and reads it.
    """
    z = _array("z", z, 2)
    labels = _labels("labels", labels, len(z))
    train, val, test = (np.asarray(s, dtype=np.int64) for s in split)
    if min(len(train), len(val), len(test)) == 0:
        raise ValueError("split must hold non-empty train, validation and test index arrays")
    if len(np.unique(labels[train])) < 2:
        raise ValueError("the train split must contain at least 2 classes")
    if not cs:
        raise ValueError("cs must hold at least one C > 0")
    best = (-1.0, None, None)
    # z is checked finite above; skipping scikit-learn's own validation halves the cost of
    # these small fits (a simulation runs hundreds of them)
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        for c in cs:
            logistic = LogisticRegression(C=float(c), max_iter=1000)
            model = make_pipeline(StandardScaler(), logistic) if standardize else logistic
            model.fit(z[train], labels[train])
            score = float(np.mean(model.predict(z[val]) == labels[val]))
            if score > best[0]:
                best = (score, model, float(c))
        score, model, c = best
        accuracy = float(np.mean(model.predict(z[test]) == labels[test]))
    return {"accuracy": accuracy, "val_accuracy": score, "c": c}


def _between(z: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(within, between) sums of squares of z (N, d) around its label means and the overall mean."""
    classes, index = np.unique(labels, return_inverse=True)
    counts = np.bincount(index).astype(np.float64)
    means = np.zeros((len(classes), z.shape[1]))
    np.add.at(means, index, z)
    means /= counts[:, None]
    within = float(np.square(z - means[index]).sum())
    return within, float((counts * np.square(means - z.mean(axis=0)).sum(axis=1)).sum())


def within_between_ratio(z, labels) -> float:
    """Class collapse on a set of embeddings: within-class over between-class sum of squares,

        ratio = sum_i ||z_i - mean(z | c_i)||^2  /  sum_c n_c ||mean(z | c) - mean(z)||^2

    z (N, d), labels (N,) with >= 2 classes. 0 when every class sits on one point; inf when
    the class means coincide.
    """
    z = _array("z", z, 2)
    labels = _labels("labels", labels, len(z))
    if len(np.unique(labels)) < 2:
        raise ValueError("labels must hold at least 2 classes")
    within, between = _between(z, labels)
    return within / between if between > 0 else float("inf")


def subclass_separation(z, labels, sublabels) -> float:
    """How far the subclasses of each class sit apart, against the classes:

        sum_c sum_s n_cs ||mean(z | c, s) - mean(z | c)||^2  /  sum_c n_c ||mean(z | c) - mean(z)||^2

    z (N, d), labels (N,) classes (>= 2), sublabels (N,) subclasses. 0 under class collapse
    (each class on one point, or its subclasses with one mean), whatever the spread around it.
    """
    z = _array("z", z, 2)
    labels = _labels("labels", labels, len(z))
    sublabels = _labels("sublabels", sublabels, len(z))
    if len(np.unique(labels)) < 2:
        raise ValueError("labels must hold at least 2 classes")
    _, classes = _between(z, labels)
    groups = np.unique(np.stack([labels, sublabels], axis=1), axis=0, return_inverse=True)[1].ravel()
    _, groups_between = _between(z, groups)
    # the between-group sum of squares is the between-class one plus the subclass part
    return (groups_between - classes) / classes if classes > 0 else float("inf")
