"""The real-digits data family: the augmentation kernel, the ViewDataset it builds, seeds, labels."""

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from clustertheory.data.digits import (
    DIGITS_TOTAL,
    IMAGE_SHAPE,
    DigitAugmentation,
    augment_images,
    augmentation_summary,
    choose_digits,
    digits_dataset,
    label_retention,
    load_digit_images,
    view_displacement,
)


@pytest.fixture(scope="module")
def small():
    return digits_dataset(num_images=60, views_per_image=3, strength=1.0, seed=2)


def test_digits_are_the_scikit_learn_set_rescaled_to_unit_intensities():
    images, labels = load_digit_images()
    assert images.shape == (DIGITS_TOTAL, *IMAGE_SHAPE) and labels.shape == (DIGITS_TOTAL,)
    assert images.min() == 0.0 and images.max() == 1.0
    assert set(np.unique(labels)) == set(range(10))
    with pytest.raises(ValueError):
        images[0, 0, 0] = 0.5  # the cached arrays are read-only


def test_dataset_layout_natural_images_first_then_each_images_own_views(small):
    N, K = 60, 3
    images, labels = load_digit_images()
    assert small.num_base == N and small.num_views == N * (K + 1)
    assert np.array_equal(small.base_view, np.arange(N))
    assert np.allclose(small.images[:N], images[small.source])
    assert np.array_equal(small.content[:N], labels[small.source])
    assert np.array_equal(small.content[N:], np.repeat(labels[small.source], K))  # a view keeps its image's label
    dense = small.augment.toarray()
    for i in range(N):  # A(x_i) is uniform on exactly image i's own K views
        own = N + i * K + np.arange(K)
        assert np.allclose(dense[i, own], 1 / K) and np.isclose(dense[i].sum(), 1.0)
    assert np.allclose(small.base_weight, 1 / N)
    assert np.allclose(small.cluster_weight, np.bincount(labels[small.source], minlength=10) / N)


def test_strength_zero_gives_exact_copies_of_the_natural_image():
    data = digits_dataset(num_images=30, views_per_image=4, strength=0.0, seed=1)
    assert np.array_equal(data.obs[30:], np.repeat(data.obs[:30], 4, axis=0))
    assert np.all(view_displacement(data) == 0)


def test_the_same_seed_reproduces_the_dataset_and_another_seed_does_not():
    a = digits_dataset(num_images=40, views_per_image=3, strength=0.7, seed=5)
    b = digits_dataset(num_images=40, views_per_image=3, strength=0.7, seed=5)
    c = digits_dataset(num_images=40, views_per_image=3, strength=0.7, seed=6)
    assert np.array_equal(a.source, b.source) and np.array_equal(a.obs, b.obs)
    assert not np.array_equal(a.source, c.source)
    same = digits_dataset(sources=a.source, views_per_image=3, strength=0.7, seed=6)
    assert not np.allclose(same.obs[40:], a.obs[40:])  # same images, other draws


def test_an_images_views_do_not_depend_on_the_other_images():
    full = digits_dataset(sources=[3, 10, 400, 1200], views_per_image=2, strength=1.0, seed=0)
    alone = digits_dataset(sources=[400], views_per_image=2, strength=1.0, seed=0)
    assert np.array_equal(full.obs[4 + 2 * 2 : 4 + 3 * 2], alone.obs[1:])


def test_strength_scales_one_and_the_same_transform():
    """Common random numbers: without noise and clipping, the views at strength s are the same
    transform scaled, so the displacement grows with s view by view."""
    kernel = DigitAugmentation(noise=0.0)
    images, _ = load_digit_images()
    views = [augment_images(images[:20], np.arange(20), 3, s, kernel, seed=0) for s in (0.25, 0.5, 1.0)]
    moved = [np.linalg.norm((v - images[:20, None]).reshape(20, 3, -1), axis=-1) for v in views]
    assert np.all(moved[0] <= moved[1] + 1e-9) and np.mean(moved[1] < moved[2]) > 0.9


def test_a_pure_shift_moves_the_image_by_that_many_pixels():
    kernel = DigitAugmentation(max_shift=1.0, max_rotation=0.0, elastic=0.0, noise=0.0)
    images, _ = load_digit_images()
    image = images[7]
    view = augment_images(image[None], [7], 1, 1.0, kernel, seed=3)[0, 0]
    rng = np.random.default_rng([3, 7])
    shift = rng.uniform(-1.0, 1.0, size=(1, 3))[0, 1:]  # the kernel's first draws: (theta, dy, dx)
    expected = ndimage.shift(image, shift, order=1, mode="grid-constant", cval=0.0)
    assert np.allclose(view, expected, atol=1e-12)


def test_augmentations_keep_the_labels_information_at_strength_one_and_lose_it_at_three():
    kept = label_retention(digits_dataset(num_images=120, views_per_image=4, strength=1.0, seed=0))
    lost = label_retention(digits_dataset(num_images=120, views_per_image=4, strength=3.0, seed=0))
    assert kept["natural_accuracy"] > 0.95
    assert kept["label_loss"] <= 0.1
    assert lost["label_loss"] > 0.3  # the measurement does see a kernel that destroys the label
    assert kept["augmented_accuracy"] == pytest.approx(kept["natural_accuracy"] - kept["label_loss"])


def test_label_retention_needs_digits_outside_the_dataset():
    data = digits_dataset(num_images=DIGITS_TOTAL, views_per_image=1, strength=0.0)
    with pytest.raises(ValueError, match="outside"):
        label_retention(data)


def test_choose_digits_is_a_seeded_subset_without_repeats():
    chosen = choose_digits(100, seed=4)
    assert len(np.unique(chosen)) == 100 and chosen.min() >= 0 and chosen.max() < DIGITS_TOTAL
    assert np.array_equal(chosen, choose_digits(100, seed=4))


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"num_images": 0}, "num_images"),
        ({"num_images": DIGITS_TOTAL + 1}, "num_images"),
        ({"views_per_image": 0}, "views_per_image"),
        ({"strength": -0.5}, "strength"),
        ({"seed": -1}, "seed"),
        ({"sources": [1, 1]}, "sources"),
        ({"sources": [DIGITS_TOTAL]}, "sources"),
        ({"kernel": "strong"}, "kernel"),
    ],
)
def test_bad_arguments_are_rejected_naming_the_parameter(kwargs, field):
    with pytest.raises(ValueError, match=field):
        digits_dataset(**{"num_images": 20, "views_per_image": 2, **kwargs})


@pytest.mark.parametrize("field", ["max_shift", "max_rotation", "elastic", "noise", "elastic_sigma"])
def test_kernel_scales_are_checked(field):
    with pytest.raises(ValueError, match=field):
        DigitAugmentation(**{field: -1.0})
    with pytest.raises(ValueError, match="elastic_sigma"):
        DigitAugmentation(elastic_sigma=0.0)
    assert dataclasses.replace(DigitAugmentation(), noise=0.1).noise == 0.1


def test_augmentation_summary_collects_the_datas_own_measurements(small):
    from clustertheory.data.graph import proximity_summary

    summary = augmentation_summary(small, 1.0)
    assert summary == {**label_retention(small), "median_displacement": float(np.median(view_displacement(small))), **proximity_summary(small, 1.0),
                       "smallest_cluster": float(small.cluster_weight.min()), "largest_cluster": float(small.cluster_weight.max())}
    assert summary["smallest_cluster"] <= 0.1 <= summary["largest_cluster"]  # 10 labels: the mean cluster weighs 0.1
    copies = augmentation_summary(digits_dataset(num_images=60, views_per_image=3, strength=0.0, seed=2), 1.0)
    assert copies["median_displacement"] == 0.0 < summary["median_displacement"] and abs(copies["label_loss"]) < 1e-12
