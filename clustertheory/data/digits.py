"""Real images as a ViewDataset: scikit-learn's handwritten digits with a seeded augmentation kernel.

The data (``sklearn.datasets.load_digits``, shipped with scikit-learn, no download): 1797 grey
images of 8 x 8 pixels, intensities 0..16 (rescaled here to [0, 1]), labels 0..9. In the
package's vocabulary (see :mod:`clustertheory.data.views`):

    natural image x_i   a digit drawn from the 1797 (a seeded subset of ``num_images``), weight 1/N
    content c_i         its label: the latent cluster, never shown to the learner
    A(x_i)              uniform law on ``views_per_image`` augmented copies of x_i (the natural
                        image itself is not one of its augmentations)
    style               the index k of a view within its image's set (0 for the natural image;
                        style_space "finite": there is no geometry on styles here)
    obs                 the 64 pixel intensities of a view, row-major, in [0, 1]

The augmentation kernel (:class:`DigitAugmentation`, :func:`augment_images`) applied at strength s:

    1. a random affine map about the image centre: rotation by theta ~ U[-s r, s r] degrees and a
       sub-pixel shift (dx, dy) ~ U[-s t, s t]^2 pixels;
    2. an elastic displacement: a field u ~ U[-1, 1]^(2 x 8 x 8), smoothed by a Gaussian of
       width ``elastic_sigma`` pixels and rescaled to a largest displacement of s e pixels;
    3. resampling with bilinear interpolation (scipy.ndimage.map_coordinates, order 1, mode "grid-constant":
       background 0 outside the frame);
    4. pixel noise N(0, (s n)^2) per pixel, then clipping to [0, 1].

Every random number is drawn at unit scale from a generator seeded by (seed, index of the
image among the 1797) and then multiplied by s, so a dataset is a pure function of its
arguments, an image's views do not depend on which other images were drawn, and the k-th view
of an image at strength s is the same transform as at strength s' scaled by s / s' (common
random numbers across strengths; s = 0 gives exact copies of the natural image).

Unlike the synthetic families the augmentation sets are disjoint *by index* only: in pixel
space the sets of two natural images may come arbitrarily close or overlap, also across
labels. :func:`augmentation_proximity` measures which sets come within a stated distance.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import scipy.sparse as sp
from scipy import ndimage

from ..config import Real, Settings, check_nonneg, check_nonneg_int, check_positive_int, setting
from .graph import proximity_summary
from .views import ViewDataset

DIGITS_TOTAL = 1797
IMAGE_SHAPE = (8, 8)
NUM_CLASSES = 10


@cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """(1797, 8, 8) float64 images in [0, 1] and (1797,) int64 labels, read once (read-only)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float64)
    labels = bunch.target.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 digits: images (1797, 8, 8) in [0, 1] and labels (1797,) in 0..9 (read-only)."""
    return _digits()


@dataclass(frozen=True)
class DigitAugmentation(Settings):
    """The augmentation kernel's scales at strength 1 (each is multiplied by the strength s).

    The defaults make strength 1 the strongest setting that keeps the label readable: a
    1-nearest-neighbour classifier on the digits outside a 300-image sample reads the label
    of 91 % of their augmented views (99 % of the natural ones); at strength 2 only 61 %.
    A view moves a median L2 distance of 1.4 from its image at strength 1 (intensities in
    [0, 1]; the median distance between a digit and its nearest other digit is 1.0).
    """

    max_shift: float = setting(0.5, Real(0), "largest shift per axis, pixels (uniform in [-s t, s t]; sub-pixel)")
    max_rotation: float = setting(10.0, Real(0), "largest rotation, degrees (uniform in [-s r, s r])")
    elastic: float = setting(0.4, Real(0), "largest elastic displacement, pixels (after smoothing)")
    elastic_sigma: float = setting(1.5, Real(0, open_lo=True), "width of the Gaussian smoothing the elastic field, pixels (not scaled by s)")
    noise: float = setting(0.04, Real(0), "standard deviation of the additive pixel noise (intensities in [0, 1])")


def _unit_draws(seed: int, sources: np.ndarray, views: int, shape: tuple[int, int], sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The unit-scale random numbers of every view, from one generator per image seeded by
    (seed, source): (theta, dx, dy) in [-1, 1]^3 (N, K, 3), an elastic field (N, K, 2, H, W)
    smoothed and rescaled to largest |component| 1 per view, and standard normal pixel noise
    (N, K, H, W)."""
    affine, field, noise = [], [], []
    for source in sources:
        rng = np.random.default_rng([seed, int(source)])
        affine.append(rng.uniform(-1.0, 1.0, size=(views, 3)))
        field.append(rng.uniform(-1.0, 1.0, size=(views, 2, *shape)))
        noise.append(rng.standard_normal((views, *shape)))
    field = ndimage.gaussian_filter(np.stack(field), sigma=(0, 0, 0, sigma, sigma), mode="constant", truncate=3.0)
    field /= np.maximum(np.abs(field).max(axis=(2, 3, 4), keepdims=True), 1e-12)
    return np.stack(affine), field, np.stack(noise)


def augment_images(images: np.ndarray, sources, views: int, strength: float, kernel: DigitAugmentation, seed: int) -> np.ndarray:
    """(N, K, H, W) augmented views of ``images`` (N, H, W) in [0, 1] at ``strength`` (module
    docstring). Image i's draws come from a generator seeded by (seed, sources[i]), so its views
    depend only on its own source index, K, the kernel and the strength.
    """
    s = check_nonneg("strength", strength)
    K = check_positive_int("views", views)
    images = np.asarray(images, dtype=np.float64)
    sources = np.asarray(sources, dtype=np.int64)
    if images.ndim != 3 or sources.shape != (len(images),):
        raise ValueError(f"images must be (N, H, W) and sources (N,), got {images.shape} and {sources.shape}")
    N, H, W = images.shape
    affine, field, noise = _unit_draws(seed, sources, K, (H, W), kernel.elastic_sigma)
    theta = np.deg2rad(s * kernel.max_rotation * affine[..., 0])[..., None, None]  # (N, K, 1, 1)
    shift = s * kernel.max_shift * affine[..., 1:, None, None]  # (N, K, 2, 1, 1)
    rows, cols = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    centre_r, centre_c = (H - 1) / 2, (W - 1) / 2
    r, c = rows - centre_r, cols - centre_c
    # output pixel (r, c) reads the input at the inverse map: rotate back, undo the shift, displace
    read_r = np.cos(theta) * r + np.sin(theta) * c + centre_r - shift[:, :, 0] + s * kernel.elastic * field[:, :, 0]
    read_c = -np.sin(theta) * r + np.cos(theta) * c + centre_c - shift[:, :, 1] + s * kernel.elastic * field[:, :, 1]
    image_index = np.broadcast_to(np.arange(N, dtype=np.float64)[:, None, None, None], read_r.shape)
    # one call for all views: the image index is an exact integer, so order 1 never blends images
    warped = ndimage.map_coordinates(images, [image_index, read_r, read_c], order=1, mode="grid-constant", cval=0.0)
    return np.clip(warped + s * kernel.noise * noise, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class DigitsDataset(ViewDataset):
    """A ViewDataset of real digits (see the module docstring) with what made it.

    source:      (N,) index of each natural image among the 1797 digits
    image_shape: (H, W) of every view; ``obs`` rows are the images flattened row-major
    strength:    the augmentation strength s
    """

    source: np.ndarray = None  # type: ignore[assignment]
    image_shape: tuple = IMAGE_SHAPE
    strength: float = 0.0

    @property
    def images(self) -> np.ndarray:
        """(V, H, W) every view as an image."""
        return self.obs.reshape(-1, *self.image_shape)


def choose_digits(num_images: int, seed: int = 0) -> np.ndarray:
    """(num_images,) sorted indices of a seeded uniform subset of the 1797 digits (without
    replacement, not stratified: class counts vary as in any sample)."""
    n = check_positive_int("num_images", num_images)
    if n > DIGITS_TOTAL:
        raise ValueError(f"num_images must be <= {DIGITS_TOTAL}, got {n}")
    return np.sort(np.random.default_rng([check_nonneg_int("seed", seed), 0]).choice(DIGITS_TOTAL, size=n, replace=False))


def digits_dataset(
    num_images: int = 300,
    views_per_image: int = 8,
    strength: float = 1.0,
    kernel: DigitAugmentation = DigitAugmentation(),
    seed: int = 0,
    sources=None,
) -> DigitsDataset:
    """Natural digits with ``views_per_image`` seeded augmentations each (module docstring).

    Views 0..N-1 are the natural images; view N + i K + k is the k-th augmentation of image i;
    A(x_i) is uniform on image i's K augmentations; natural images weigh 1/N each (so a
    cluster weighs its share of the sample). ``sources`` (indices among the 1797) replaces
    the seeded subset of ``num_images``; ``seed`` seeds both the subset and the kernel.
    """
    K = check_positive_int("views_per_image", views_per_image)
    s = check_nonneg("strength", strength)
    seed = check_nonneg_int("seed", seed)
    if not isinstance(kernel, DigitAugmentation):
        raise ValueError(f"kernel must be a DigitAugmentation, got {kernel!r}")
    if sources is None:
        sources = choose_digits(num_images, seed)
    sources = np.asarray(sources, dtype=np.int64)
    if sources.ndim != 1 or len(sources) == 0 or (sources < 0).any() or (sources >= DIGITS_TOTAL).any() or len(np.unique(sources)) != len(sources):
        raise ValueError(f"sources must be distinct indices in [0, {DIGITS_TOTAL}), got {sources!r}")
    images, labels = load_digit_images()
    N = len(sources)
    natural = images[sources]
    augmented = augment_images(natural, sources, K, s, kernel, seed).reshape(N * K, *IMAGE_SHAPE)
    views = np.concatenate([natural, augmented]).reshape(N * (K + 1), -1)
    content = np.concatenate([labels[sources], np.repeat(labels[sources], K)])
    style = np.concatenate([np.zeros(N), np.tile(np.arange(1, K + 1, dtype=np.float64), N)])
    rows = np.repeat(np.arange(N), K)
    augment = sp.csr_matrix((np.full(N * K, 1.0 / K), (rows, N + np.arange(N * K))), shape=(N, N * (K + 1)))
    counts = np.bincount(labels[sources], minlength=NUM_CLASSES)
    return DigitsDataset(
        content=content,
        style=style,
        obs=views.astype(np.float32),
        base_view=np.arange(N, dtype=np.int64),
        base_weight=np.full(N, 1.0 / N),
        augment=augment,
        num_clusters=NUM_CLASSES,
        style_space="finite",
        description=f"digits N={N} K={K} strength={s:g} (class counts {counts.min()}..{counts.max()})",
        source=sources,
        image_shape=IMAGE_SHAPE,
        strength=s,
    )


def view_displacement(data: DigitsDataset) -> np.ndarray:
    """(N K,) L2 distance of every augmented view from its natural image (in obs units)."""
    anchor, positive, _ = data.pair_weights()
    obs = np.asarray(data.obs, dtype=np.float64)
    return np.linalg.norm(obs[positive] - obs[anchor], axis=1)


def label_retention(data: DigitsDataset) -> dict[str, float]:
    """Whether augmentations keep the label's information, measured by a reader that never saw
    this sample: a 1-nearest-neighbour classifier (pixel L2) on every digit of the 1797 that is
    not a natural image of ``data``.

        natural_accuracy    share of the natural images whose label it reads correctly
        augmented_accuracy  the same over the augmented views, x+ ~ A(x), x ~ D_o
        label_loss          natural_accuracy - augmented_accuracy
    """
    from sklearn.neighbors import KNeighborsClassifier

    images, labels = load_digit_images()
    reference = np.setdiff1d(np.arange(DIGITS_TOTAL), data.source)
    if len(reference) == 0:
        raise ValueError("label_retention needs digits outside the dataset (num_images < 1797)")
    reader = KNeighborsClassifier(n_neighbors=1).fit(images[reference].reshape(len(reference), -1), labels[reference])
    _, positive, weight = data.pair_weights()
    natural = reader.predict(data.obs[data.base_view]) == data.base_cluster
    augmented = reader.predict(data.obs[positive]) == data.content[positive]
    natural_accuracy = float(data.base_weight @ natural)
    augmented_accuracy = float(weight @ augmented)
    return {
        "natural_accuracy": natural_accuracy,
        "augmented_accuracy": augmented_accuracy,
        "label_loss": natural_accuracy - augmented_accuracy,
    }


def augmentation_summary(data: DigitsDataset, link_radius: float) -> dict[str, float]:
    """What a dataset's augmentations do, measured on the data alone (before any training):

        natural_accuracy, augmented_accuracy, label_loss   :func:`label_retention`
        median_displacement   median L2 distance of an augmented view from its natural image
                              (:func:`view_displacement`)
        links_per_image, ..., components   the augmentation sets linked at pixel distance
                              ``link_radius`` (:func:`clustertheory.data.graph.proximity_summary`)
        smallest_cluster, largest_cluster  the least and the largest natural mass of a cluster
    """
    return {
        **label_retention(data),
        "median_displacement": float(np.median(view_displacement(data))),
        **proximity_summary(data, link_radius),
        "smallest_cluster": float(data.cluster_weight.min()),
        "largest_cluster": float(data.cluster_weight.max()),
    }
