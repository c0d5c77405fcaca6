"""Function classes on images with a capacity dial (hypercube codes g = sign(score), as in
:mod:`clustertheory.functions.classes`).

    dct     band-limited on the image's 2-D DCT: score = W^T [c_uv(x) for max(u, v) <= B, 1], with
            c = DCT-II (orthonormal) of the H x W image; capacity B = 0 .. max(H, W) - 1.
            B = 0 sees only the mean intensity; B = 7 on 8 x 8 images sees every coefficient,
            and since the orthonormal DCT is an invertible linear map of the pixels its span is
            exactly that of ``linear``.
    linear  linear in the pixels: score = W^T [x, 1]
    mlp     ReLU MLP on the pixels with a Lipschitz bound L (spectral norms capped per layer;
            :class:`~clustertheory.functions.classes.MLPScore`); capacity: the width.

Every class sees the images centred on the mean natural image, x - E x, and the MLP's output
bias starts at minus its mean initial score over the natural images. Neither changes the class
(a constant shift of the input or the output is absorbed by a bias); both change where training
starts: uncentred pixels are all non-negative, so an initial linear score or a ReLU network's
output has the same sign on nearly every image, every code starts on one vertex, and both the
InfoNCE training and the split search (whose objective is zero at a constant function) stall
there. (Seen before centring: the linear class collapsed to 3 vertices where the DCT class of
the same span used all 16.)

Note on the Lipschitz bound of a *sign* class: a ReLU network is positively homogeneous in its
weights and biases jointly, so every sign pattern an unbounded MLP draws is also drawn by an
L-Lipschitz one with scaled-down weights and biases. The bound therefore limits the scores'
scale (and so the margins the relaxed training sees), not the set of hard codes; the capacity
of the hard class grows with the width.

Every class is a ScoreModel ensemble (one member per seed) and plugs into the batched trainer
(``clustertheory.training.batched.train_batched`` / ``combine_models``) and the adversarial split
search (``clustertheory.analysis.regularity.search_split``) unchanged.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from numbers import Integral
from typing import Any

import numpy as np
import torch
from scipy import fft

from ..analysis.hypercube import vertex_codes
from ..analysis.metrics import cluster_agreement
from ..analysis.regularity import empirical_delta, spectral_delta
from ..config import check_in, check_int_range, check_positive_int
from ..data.views import ViewDataset
from .classes import LinearScore, MLPScore, ScoreModel

IMAGE_CLASS_NAMES = ("dct", "linear", "mlp")


def _image_shape(data: ViewDataset, image_shape) -> tuple[int, int]:
    shape = tuple(getattr(data, "image_shape", None) or image_shape or ())
    if len(shape) != 2 or shape[0] * shape[1] != data.obs.shape[1]:
        raise ValueError(f"image_shape must be (H, W) with H * W = {data.obs.shape[1]} (the observation size), got {shape!r}")
    return int(shape[0]), int(shape[1])


def dct_coefficients(images: np.ndarray) -> np.ndarray:
    """(V, H, W) orthonormal 2-D DCT-II c_uv of images (V, H, W) (scipy.fft.dctn, norm="ortho"):

        c_uv = a_u a_v sum_{r, s} x_rs cos(pi (2r + 1) u / 2H) cos(pi (2s + 1) v / 2W)

    u indexes vertical, v horizontal frequency; c_00 is W^(-1/2) H^(-1/2) times the pixel sum.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (V, H, W), got {images.shape}")
    return fft.dctn(images, type=2, norm="ortho", axes=(1, 2))


def low_frequency_mask(shape: tuple[int, int], bandwidth: int) -> np.ndarray:
    """(H, W) bool: the coefficients (u, v) with max(u, v) <= bandwidth ((B + 1)^2 of them)."""
    H, W = shape
    B = check_int_range("bandwidth", bandwidth, 0, max(H, W) - 1)
    u, v = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    return np.maximum(u, v) <= B


def centred_images(data: ViewDataset) -> np.ndarray:
    """(V, H W) float64 observations minus the mean natural image, x - E_{x' ~ D_o} x'."""
    obs = np.asarray(data.obs, dtype=np.float64)
    return obs - data.base_weight @ obs[data.base_view]


def dct_features(data: ViewDataset, bandwidth: int, image_shape=None, centred: np.ndarray | None = None) -> np.ndarray:
    """(V, k + 1) the band-limited class's features: [c_uv(x) for max(u, v) <= B (row-major), 1].

    A function in the span depends on an image only through its coefficients up to frequency
    B: adding any image whose DCT vanishes there changes no feature. ``image_shape`` is
    needed only when ``data`` does not carry one (e.g. a plain ViewDataset of images).
    """
    shape = _image_shape(data, image_shape)
    pixels = np.asarray(data.obs if centred is None else centred, dtype=np.float64)
    coefficients = dct_coefficients(pixels.reshape(-1, *shape))
    low = coefficients[:, low_frequency_mask(shape, bandwidth)]
    return np.concatenate([low, np.ones((data.num_views, 1))], axis=1)


def class_features(name: str, data: ViewDataset, bandwidth: int = 7, image_shape=None) -> np.ndarray:
    """(V, p) the fixed features of a class linear in features, on centred images:
    "dct" -> :func:`dct_features` up to ``bandwidth``; "linear" -> [x - E x, 1]."""
    check_in("name", name, IMAGE_CLASS_NAMES[:2])
    centred = centred_images(data)
    if name == "dct":
        return dct_features(data, bandwidth, image_shape, centred)
    return np.concatenate([centred, np.ones((data.num_views, 1))], axis=1)


def image_function_class(
    name: str,
    data: ViewDataset,
    dim: int,
    seeds: list[int] | int = 0,
    device="cpu",
    bandwidth: int = 7,
    width: int = 32,
    depth: int = 1,
    lipschitz: float | None = 1.0,
    init_scale: float = 0.1,
    image_shape=None,
) -> ScoreModel:
    """An ensemble of one image class on ``data`` (one member per seed).

    dct -> bandwidth; mlp -> width, depth, lipschitz; linear -> none. "linear" and "mlp" are
    :func:`~clustertheory.functions.classes.make_function_class`'s classes of the same name.
    """
    check_in("name", name, IMAGE_CLASS_NAMES)
    check_positive_int("dim", dim)
    seeds = [seeds] if isinstance(seeds, Integral) else list(seeds)
    if not seeds:
        raise ValueError("seeds must name at least one ensemble member")
    if name != "mlp":
        return LinearScore(class_features(name, data, bandwidth, image_shape), dim, seeds, init_scale, device)
    model = MLPScore(centred_images(data), dim, seeds, width, depth, lipschitz, device)
    with torch.no_grad():  # centred start: subtract each member's mean initial score over D_o
        natural = model(torch.as_tensor(data.base_view, device=model.obs.device).expand(model.ensemble, -1))
        weight = torch.as_tensor(data.base_weight, dtype=natural.dtype, device=natural.device)
        model.biases[-1] -= torch.einsum("n,end->ed", weight, natural)[:, None, :]
    return model


def image_capacities(bandwidths: Sequence[int], widths: Sequence[int], depth: int = 1, lipschitz: float | None = 1.0) -> list[tuple[str, str, dict]]:
    """(key, class name, options) of a grid of image classes in order of capacity: DCT with each
    bandwidth ("dct-B"), linear, MLP of each width ("mlp-W", with ``depth`` and ``lipschitz``).
    The options are :func:`image_function_class`'s keyword arguments."""
    dct = [(f"dct-{b}", "dct", {"bandwidth": b}) for b in bandwidths]
    mlp = [(f"mlp-{w}", "mlp", {"width": w, "depth": depth, "lipschitz": lipschitz}) for w in widths]
    return dct + [("linear", "linear", {})] + mlp


def class_label(name: str, options: Mapping[str, Any]) -> str:
    """A short label for a class and its capacity, e.g. "DCT B=2", "linear", "MLP w=32"."""
    check_in("name", name, IMAGE_CLASS_NAMES)
    if name == "dct":
        return f"DCT B={options['bandwidth']}"
    if name == "mlp":
        return f"MLP w={options['width']}"
    return "linear"


def supervised_code(features: np.ndarray, data: ViewDataset, dim: int, ridge: float = 1e-3) -> np.ndarray:
    """(V, d) int8 hard codes of a member of the class linear in ``features`` (V, p) fitted *with*
    the labels: how well can the class realise the clusters at all?

    Cluster c is assigned the vertex y_c with y_cj = +1 where bit j of the binary number c is
    0 and -1 where it is 1 (needs m <= 2^d). The weights are the ridge least-squares fit on the
    natural images,

        W = (Phi_o^T diag(w) Phi_o + ridge I)^(-1) Phi_o^T diag(w) Y      (p, d)

    with Phi_o the features of the natural images, w their weights and Y their clusters'
    vertices, and every view gets sign(phi W). The cluster agreement of this code lower-bounds
    what a cluster-preserving member of the class can reach (another vertex assignment or fit
    might do better); it is the only place where the labels meet a function class.
    """
    d = check_positive_int("dim", dim)
    if data.num_clusters > 2**d:
        raise ValueError(f"dim must satisfy 2^dim >= num_clusters ({data.num_clusters}), got {d}")
    phi = np.asarray(features, dtype=np.float64)
    if phi.ndim != 2 or phi.shape[0] != data.num_views:
        raise ValueError(f"features must have shape (V={data.num_views}, p), got {phi.shape}")
    natural, weight = phi[data.base_view], data.base_weight[:, None]
    vertices = vertex_codes(d)[data.base_cluster]
    W = np.linalg.solve(natural.T @ (weight * natural) + ridge * np.eye(phi.shape[1]), natural.T @ (weight * vertices))
    return np.where(phi @ W >= 0, 1, -1).astype(np.int8)


def band_locality(data: ViewDataset, bandwidth: int, dim: int = 4, seed: int = 0, image_shape=None) -> tuple[float, float]:
    """How far a DCT-B model's scores move when a seeded random image is added to every view,
    keeping only its coefficients above the band, or only those within it:

        (max |score(x + high) - score(x)|,  max |score(x + low) - score(x)|)

    over every view, coordinate and model (one model, seed ``seed``, rebuilt on the moved
    views; the centring moves with them). A function of the lowest frequencies only has the
    first exactly 0 (up to float32 rounding) and the second clearly positive.
    """
    import dataclasses

    shape = _image_shape(data, image_shape)
    rng = np.random.default_rng(seed)
    noise = dct_coefficients(rng.standard_normal((data.num_views, *shape)))
    low = low_frequency_mask(shape, bandwidth)
    base = image_function_class("dct", data, dim, seeds=[seed], bandwidth=bandwidth, image_shape=shape).scores().detach()
    changes = []
    for keep in (~low, low):
        perturbation = fft.idctn(np.where(keep, noise, 0.0), norm="ortho", axes=(1, 2)).reshape(data.num_views, -1)
        moved = dataclasses.replace(data, obs=(data.obs + perturbation).astype(np.float32))
        scores = image_function_class("dct", moved, dim, seeds=[seed], bandwidth=bandwidth, image_shape=shape).scores().detach()
        changes.append(float((scores - base).abs().max()))
    return changes[0], changes[1]


def class_regularity(data: ViewDataset, name: str, options: Mapping[str, Any], dim: int, restarts: int, steps: int, seed: int = 0,
                     device="cpu") -> dict[str, float]:
    """How an image class (``name`` with ``options``, as in :func:`image_function_class`) stands
    to the clusters of ``data``:

        delta_adversary   the empirical delta: smallest R / Delta the adversarial split search
                          finds (:func:`clustertheory.analysis.regularity.empirical_delta`,
                          ``restarts`` per cluster, ``steps``; inf when no split is found)
        splits_found      how many restarts split their cluster
        supervised_ari    ARI of the class's supervised fit (:func:`supervised_code`) against the
                          clusters, for classes linear in features; nan for "mlp"
    """
    found = empirical_delta(data, functools.partial(image_function_class, name), restarts=restarts, steps=steps, seed=seed, device=device, **options)
    supervised = float("nan")
    if name != "mlp":
        supervised = cluster_agreement(supervised_code(class_features(name, data, **options), data, dim), data)["ari"]
    return {"delta_adversary": found.delta, "splits_found": found.splits_found, "supervised_ari": supervised}


def band_checks(data: ViewDataset, bandwidths: Sequence[int], dim: int, seeds: Sequence[int]) -> dict[str, float]:
    """The DCT class as built, checked on ``data`` (one seed per bandwidth):

        high_frequency_change  largest score change of a DCT-B model when an image without energy
                               at frequencies <= B is added (:func:`band_locality`; 0: the class
                               ignores it)
        low_frequency_change   smallest score change when one with energy there is added (> 0)
        full_band_gap          largest gap between the spectral invariance eigenvalues of DCT
                               with every frequency (B = max(H, W) - 1) and of the linear class
                               (0: equal spans; inf when their numbers differ)
        nesting_violation      largest decrease of an invariance eigenvalue from a band to the
                               next larger one (bandwidths, then the full band); 0 for nested spans
                               (Courant-Fischer)
    """
    full = max(_image_shape(data, None)) - 1
    moves = [band_locality(data, b, dim, seed=s) for b, s in zip(bandwidths, seeds, strict=True)]
    bands = [spectral_delta(class_features("dct", data, bandwidth=b), data).eigenvalues for b in (*bandwidths, full)]
    linear = spectral_delta(class_features("linear", data), data).eigenvalues
    span_gap = float(np.abs(linear - bands[-1]).max()) if len(linear) == len(bands[-1]) else float("inf")
    nested = max(float(np.max(small[: len(large)] - large[: len(small)], initial=0.0)) for small, large in itertools.pairwise(bands))
    return {"high_frequency_change": max(h for h, _ in moves), "low_frequency_change": min(lo for _, lo in moves),
            "full_band_gap": span_gap, "nesting_violation": nested}
