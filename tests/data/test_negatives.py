"""Candidate negatives from the natural images, never the anchor itself."""

import numpy as np
import pytest
import torch

from clustertheory.data import comb_dataset
from clustertheory.data.negatives import negatives_excluding_anchor


def test_never_the_anchor_and_uniform_over_the_others():
    data = comb_dataset(2, 4, 2, leak=0.5)
    anchor = torch.as_tensor(data.base_view[[0, 3, 5]]).repeat(400)  # (1200,)
    drawn = negatives_excluding_anchor(data, anchor, 20, torch.Generator().manual_seed(0))
    assert drawn.shape == (1200, 20)
    assert not (drawn == anchor[:, None]).any()
    assert set(drawn.unique().tolist()) <= set(data.base_view.tolist())
    for a in data.base_view[[0, 3, 5]]:
        rows = drawn[anchor == int(a)].flatten().numpy()
        counts = np.array([np.sum(rows == v) for v in data.base_view if v != a])
        expected = len(rows) / (data.num_base - 1)
        assert np.abs(counts - expected).max() < 5 * np.sqrt(expected)  # uniform over the 7 other natural images


def test_unequal_weights_keep_the_conditional_law():
    data = comb_dataset(2, 2, 2, cluster_weights=[0.8, 0.2])
    anchor = torch.as_tensor(data.base_view[[0]]).repeat(4000)
    drawn = negatives_excluding_anchor(data, anchor, 5, torch.Generator().manual_seed(1)).flatten().numpy()
    weights = data.base_weight[1:] / data.base_weight[1:].sum()  # D_o conditioned on not the anchor (natural image 0)
    shares = np.array([np.mean(drawn == v) for v in data.base_view[1:]])
    assert np.allclose(shares, weights, atol=0.02)


def test_anchor_must_be_a_natural_image():
    data = comb_dataset(2, 2, 2)
    augmented = torch.tensor([int(data.base_view[0]) + 2])  # the second tooth of base point 0: not a natural image
    with pytest.raises(ValueError, match="natural images"):
        negatives_excluding_anchor(data, augmented, 3, torch.Generator().manual_seed(0))
