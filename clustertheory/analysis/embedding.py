"""Measurements on real-valued embeddings: rank, spectrum, noise, false negatives, probes, clusters.

Every function takes numpy arrays or torch tensors and returns plain floats / numpy arrays.
Shapes: embeddings z (N, d); cluster labels (N,) integers.
"""

from __future__ import annotations

import numpy as np
import sklearn
import torch
from scipy.stats import rankdata
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


def similarity_spearman(z, reference):
    """An STS analogue: Spearman correlation, over all pairs i < j, between the cosine of the
    embeddings and the cosine of reference vectors (the ground truth, e.g. the content latent
    or the full latent of latent sentences):

        rho = Spearman( {cos(z_i, z_j)}_{i<j}, {cos(r_i, r_j)}_{i<j} )

    (the Pearson correlation of the ranks, ties at their mean rank: scipy.stats.spearmanr).
    z (N, d) -> float, or (E, N, d) -> (E,) array (the reference's ranks computed once);
    reference (N, k).
    """
    z = _array("z", z, None)
    if z.ndim not in (2, 3):
        raise ValueError(f"z must be (N, d) or (E, N, d), got shape {z.shape}")
    batched = z.ndim == 3
    z = z if batched else z[None]
    reference = _unit_rows(_array("reference", reference, 2))
    if len(reference) != z.shape[1] or len(reference) < 3:
        raise ValueError(f"z and reference must have the same N >= 3 rows, got {z.shape[1]} and {len(reference)}")
    upper = np.triu_indices(len(reference), 1)

    def centred_ranks(values: np.ndarray) -> np.ndarray:
        ranks = rankdata(values)
        ranks -= ranks.mean()
        return ranks / np.linalg.norm(ranks)

    target = centred_ranks((reference @ reference.T)[upper])
    rho = np.array([float(centred_ranks((u @ u.T)[upper]) @ target) for u in (_unit_rows(member) for member in z)])
    return rho if batched else float(rho[0])


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
    """Noise and signal of a stochastic gradient from R draws g_r (R, P) (R >= 2, P parameters).

        total_variance  = sum_k Var_r(g_rk)                     (trace of the covariance, unbiased)
        signal          = ||gbar||^2 - total_variance / R        (unbiased for ||E g||^2; ||gbar||^2
                                                                  alone overstates it by tr Var / R)
        noise_to_signal = total_variance / signal                (inf when signal <= 0: too few draws
                                                                  to see the mean through the noise)
    """
    g = _array("gradients", gradients, 2)
    if g.shape[0] < 2:
        raise ValueError(f"gradients must have R >= 2 draws (rows), got shape {g.shape}")
    total = float(g.var(axis=0, ddof=1).sum())
    signal = float(np.square(g.mean(axis=0)).sum()) - total / g.shape[0]
    return {"total_variance": total, "signal": signal, "noise_to_signal": total / signal if signal > 0 else float("inf")}


# ----------------------------------------------------------------------------- false negatives


def false_negative_rate(anchor_cluster, negative_cluster, weights=None) -> float:
    """Share of negatives in the anchor's latent class: anchor_cluster (B,), negative_cluster (B, K),

        FNR = (1 / B) sum_b sum_k q_bk [ negative_cluster[b, k] == anchor_cluster[b] ]

    with q_bk = 1/K (``weights=None``: every negative counts once), or q_bk = weights[b, k] /
    sum_k weights[b, k] for weighted negatives (e.g. hardness weights, the tilted law
    q_bk ~ exp(h s_bk / t)). Leading dimensions beyond (B, K) are flattened into B.
    """
    neg = np.asarray(negative_cluster.cpu() if isinstance(negative_cluster, torch.Tensor) else negative_cluster)
    if neg.ndim < 2 or neg.size == 0:
        raise ValueError(f"negative_cluster must be a non-empty (B, K) array, got shape {neg.shape}")
    anchor = np.asarray(anchor_cluster.cpu() if isinstance(anchor_cluster, torch.Tensor) else anchor_cluster)
    if anchor.shape != neg.shape[:-1]:
        raise ValueError(f"anchor_cluster must have shape {neg.shape[:-1]} (one per row of negatives), got {anchor.shape}")
    same = (neg == anchor[..., None]).reshape(-1, neg.shape[-1])
    if weights is None:
        return float(same.mean())
    w = _array("weights", weights, None)
    if w.shape != neg.shape or (w < 0).any() or (w.sum(axis=-1) <= 0).any():
        raise ValueError(f"weights must be non-negative with shape {neg.shape} and a positive sum per row")
    w = w.reshape(-1, neg.shape[-1])
    return float(((w * same).sum(axis=1) / w.sum(axis=1)).mean())


def false_negative_prior(latent_class, base_weight, exclude_anchor: bool = True) -> float:
    """Probability that a negative x- ~ D_o shares the anchor's latent class (x ~ D_o):

        exclude_anchor=False:  sum_k W_k^2,     W_k = sum_{i in class k} w_i
        exclude_anchor=True:   sum_i w_i (W_{k(i)} - w_i) / (1 - w_i)   (x- drawn from D_o
                               conditioned on x- != x: the anchor is not its own negative)

    latent_class (N,) integers: the class of each natural image (for false negatives, a
    connected component of the augmentation graph, ``clustertheory.data.base_components``);
    base_weight (N,) its probability w_i. This is the true tau+ of Chuang et al.'s
    debiased estimator under that sampling law, and the expected FNR of uniform negatives.
    """
    w = _array("base_weight", base_weight, 1)
    classes = _labels("latent_class", latent_class, len(w))
    if (w < 0).any() or not np.isclose(w.sum(), 1.0):
        raise ValueError("base_weight must be a probability vector")
    index = np.unique(classes, return_inverse=True)[1]
    class_weight = np.bincount(index, weights=w)[index]  # W_{k(i)} per natural image
    if not exclude_anchor:
        return float((w * class_weight).sum())
    if (w >= 1).any():
        raise ValueError("exclude_anchor needs at least two natural images with positive weight")
    return float((w * (class_weight - w) / (1 - w)).sum())


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
        best = np.matmul(unit_p, unit_r.transpose(0, 2, 1)).argmax(axis=2)  # (B, k, N) cosines
        return np.take_along_axis(cl, best, axis=1)
    raise ValueError(
        f"points/reference/reference_cluster must be (M, d)/(N, d)/(N,) or (B, k, d)/(B, N, d)/(B, N); "
        f"got {pts.shape}, {ref.shape}, {cl.shape}"
    )


# ----------------------------------------------------------------------------- clusters


def cluster_similarity(z, labels) -> dict:
    """Mean cosine similarity within and between clusters, and how far apart the closest pair is.

        W_a     = mean over pairs i != j in cluster a of cos(z_i, z_j)
        M_ab    = mean over i in a, j in b of cos(z_i, z_j)
        within  = mean over pairs i != j with c_i = c_j of cos(z_i, z_j)
        between = mean over pairs with c_i != c_j of cos(z_i, z_j)
        gap     = within - between            (> 0: clusters are tighter than the whole)
        closest_pair = max_{a != b} M_ab      (the least separated pair)
        separation   = min_{a != b} (W_a + W_b)/2 - M_ab

    ``separation`` is the merge detector: with u_i = z_i/||z_i|| and cluster means mu_a,
    (W_a + W_b)/2 - M_ab = ||mu_a - mu_b||^2 / 2 up to the i = j terms left out of W
    (E||X - Y||^2 = tr Cov X + tr Cov Y + ||E X - E Y||^2), so it is 0 exactly when two
    clusters sit on top of each other, whatever their spread, and within-cluster cosine
    alone cannot tell that from preservation.

    z (N, d) -> floats, or (E, N, d) -> (E,) arrays (every member at once); labels (N,) with
    >= 2 clusters, each with >= 2 points.
    """
    z = _array("z", z, None)
    if z.ndim not in (2, 3):
        raise ValueError(f"z must be (N, d) or (E, N, d), got shape {z.shape}")
    batched = z.ndim == 3
    z = z if batched else z[None]
    norms = np.linalg.norm(z, axis=-1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("embeddings must be non-zero to compute cosine similarities")
    z = z / norms
    labels = _labels("labels", labels, z.shape[1])
    clusters, index = np.unique(labels, return_inverse=True)
    if len(clusters) < 2:
        raise ValueError("labels must hold at least 2 clusters")
    onehot = np.eye(len(clusters))[index]  # (N, m)
    counts = onehot.sum(axis=0)
    if (counts < 2).any():
        raise ValueError("labels must give every cluster at least 2 points")
    sums = np.einsum("nm,end->emd", onehot, z)  # (E, m, d) per-cluster sums of unit vectors
    pair_sum = sums @ sums.transpose(0, 2, 1)  # (E, m, m): sum over i in a, j in b of cos(z_i, z_j)
    same_pairs = counts**2 - counts
    trace = np.trace(pair_sum, axis1=1, axis2=2)
    n = z.shape[1]
    within = (trace - n) / same_pairs.sum()  # remove the N self-pairs cos = 1
    between = (pair_sum.sum(axis=(1, 2)) - trace) / (n**2 - counts @ counts)
    pair_mean = pair_sum / np.outer(counts, counts)
    own = (np.diagonal(pair_sum, axis1=1, axis2=2) - counts) / same_pairs  # W_a, (E, m)
    gaps = (own[:, :, None] + own[:, None, :]) / 2 - pair_mean
    off = ~np.eye(len(clusters), dtype=bool)
    out = {"within": within, "between": between, "gap": within - between,
           "closest_pair": pair_mean[:, off].max(axis=1), "separation": gaps[:, off].min(axis=1)}
    return out if batched else {key: float(value[0]) for key, value in out.items()}


def kmeans_purity(z, labels, seed: int = 0, restarts: int = 8, iterations: int = 50):
    """Purity of k-means (k = number of clusters, on unit-normalised z) against the labels:

        purity = (1/N) sum_{found clusters A} max_c |{i in A : c_i = c}|

    1 when k-means recovers the clusters, about max_c pi_c when it ignores them.
    z (N, d) -> float, or (E, N, d) -> (E,) array (every member clustered at once). Lloyd's
    algorithm from ``restarts`` k-means++ starts (seeded), at most ``iterations`` steps
    each (fewer once no assignment changes); the start with the smallest within-cluster
    sum of squares is kept.
    """
    x = _array("z", z, None)
    if x.ndim not in (2, 3):
        raise ValueError(f"z must be (N, d) or (E, N, d), got shape {x.shape}")
    batched = x.ndim == 3
    x = x if batched else x[None]
    labels = _labels("labels", labels, x.shape[1])
    check_nonneg_int("seed", seed)
    check_positive_int("restarts", restarts)
    check_positive_int("iterations", iterations)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("embeddings must be non-zero to compute cosine similarities")
    classes, index = np.unique(labels, return_inverse=True)
    k, (E, N, _) = len(classes), x.shape
    points = torch.as_tensor(x / norms).repeat_interleave(restarts, dim=0)  # (E R, N, d)
    rows = torch.arange(points.shape[0])
    generator = torch.Generator().manual_seed(seed)
    centres = points[rows, torch.randint(N, (points.shape[0],), generator=generator)][:, None]  # k-means++
    for _ in range(1, k):
        nearest = torch.cdist(points, centres).pow(2).min(dim=2).values  # (E R, N)
        chosen = torch.multinomial(nearest + 1e-12, 1, generator=generator).squeeze(1)
        centres = torch.cat([centres, points[rows, chosen][:, None]], dim=1)
    previous = None
    for _ in range(iterations):
        assign = torch.cdist(points, centres).argmin(dim=2)  # (E R, N)
        if previous is not None and torch.equal(assign, previous):
            break  # every start has converged
        previous = assign
        onehot = torch.nn.functional.one_hot(assign, k).to(points.dtype)  # (E R, N, k)
        counts = onehot.sum(dim=1)[..., None]
        centres = torch.where(counts > 0, onehot.transpose(1, 2) @ points / counts.clamp(min=1), centres)
    distance = torch.cdist(points, centres).pow(2)
    inertia = distance.min(dim=2).values.sum(dim=1).view(E, restarts)
    best = inertia.argmin(dim=1) + torch.arange(E) * restarts
    found = distance[best].argmin(dim=2).numpy()  # (E, N)
    table = np.zeros((E, k, k), dtype=np.int64)
    np.add.at(table, (np.arange(E)[:, None], found, index[None, :]), 1)
    purity = table.max(axis=2).sum(axis=1) / N
    return purity if batched else float(purity[0])


def cluster_state(within: float, separation: float, purity: float, tight: float = 0.5, apart: float = 0.05, pure: float = 0.9) -> str:
    """Name what happened to the clusters of an embedding, from :func:`cluster_similarity` and
    :func:`kmeans_purity`:

        "split"      within < tight                       (a class's points spread out: mean
                                                            angle between cluster mates > 60 deg
                                                            at the default tight = 0.5)
        "merged"     within >= tight, separation < apart    (two tight classes on top of each other:
                                                            their means are closer than ~0.3)
        "preserved"  within >= tight, separation >= apart, purity >= pure
        "mixed"      otherwise (tight and apart, but k-means does not recover the classes)
    """
    if within < tight:
        return "split"
    if separation < apart:
        return "merged"
    return "preserved" if purity >= pure else "mixed"


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


def linear_regression_probe(z, targets, split, alphas=(1e-3, 1e-2, 1e-1, 1.0, 10.0)) -> dict[str, float]:
    """Linear read-out of continuous targets: ridge regression of targets (N, k) on z (N, d)
    (with an intercept, features standardised on the train indices) for each alpha in
    ``alphas``, fitted on the train indices; the alpha with the best validation R^2 is kept
    and its test R^2 reported,

        R^2 = 1 - sum ||y - yhat||^2 / sum ||y - mean_train y||^2     (over the k targets jointly)

    so it counts how much of the latent the embedding keeps linearly. Closed form: one
    (d x d) solve per alpha. split = (train, validation, test) index arrays. Returns
    {"r2": test R^2, "val_r2", "alpha"}.
    """
    z = _array("z", z, 2)
    y = _array("targets", targets, 2)
    if len(y) != len(z):
        raise ValueError(f"targets must have one row per embedding ({len(z)}), got {len(y)}")
    train, val, test = (np.asarray(s_, dtype=np.int64) for s_ in split)
    if min(len(train), len(val), len(test)) == 0:
        raise ValueError("split must hold non-empty train, validation and test index arrays")
    if not alphas or min(alphas) <= 0:
        raise ValueError(f"alphas must hold positive regularisation strengths, got {alphas}")
    mean, scale = z[train].mean(axis=0), z[train].std(axis=0) + 1e-12
    x = (z - mean) / scale
    y_mean = y[train].mean(axis=0)
    gram, cross = x[train].T @ x[train], x[train].T @ (y[train] - y_mean)

    def r2(weights, index):
        residual = y[index] - y_mean - x[index] @ weights
        return 1.0 - float((residual**2).sum() / ((y[index] - y_mean) ** 2).sum())

    fits = [(r2(w, val), float(a), w) for a in alphas for w in [np.linalg.solve(gram + a * len(train) * np.eye(len(gram)), cross)]]
    best_val, best_alpha, weights = max(fits, key=lambda f: f[0])
    return {"r2": r2(weights, test), "val_r2": best_val, "alpha": best_alpha}


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
