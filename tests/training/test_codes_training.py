"""Comb codes trained in one batched pass (clustertheory.training.codes)."""

import numpy as np
import pytest

from clustertheory.analysis.codes import RealizableComb
from clustertheory.training import TrainConfig
from clustertheory.training.codes import train_codes


def test_train_codes_trains_one_member_per_class_and_seed():
    data = RealizableComb(bandwidth=0).dataset(2)
    train = TrainConfig(steps=30, batch_size=32, num_negatives=4, beta=2.0, lr=0.05)
    codes = train_codes(RealizableComb(bandwidth=0), data, 2, train, [11, 12, 13], seed=5, classes=("band-limited", "lookup"))
    assert codes.shape == (6, data.num_views, 2) and codes.dtype == np.float64 and set(np.unique(codes)) <= {-1.0, 1.0}
    # bandwidth 0: the band-limited members see only the cluster, so their codes are constant on every cluster
    assert all(len(np.unique(table[data.content == c], axis=0)) == 1 for table in codes[:3] for c in range(data.num_clusters))
    again = train_codes(RealizableComb(bandwidth=0), data, 2, train, [11, 12, 13], seed=5, classes=("band-limited", "lookup"))
    np.testing.assert_array_equal(again, codes)  # seeded: the same codes again
    lookup = codes[3:]
    assert not all(len(np.unique(table[data.content == c], axis=0)) == 1 for table in lookup for c in range(data.num_clusters))
    with pytest.raises(ValueError, match="classes"):
        train_codes(RealizableComb(), data, 2, train, [1], seed=0, classes=("mlp",))
