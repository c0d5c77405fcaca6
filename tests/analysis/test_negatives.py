"""Rates of same-cluster and same-image negatives drawn by the trainer's sampler."""

import pytest

from clustertheory.analysis.negatives import NEGATIVE_REGIMES, negative_rates, regime_settings
from clustertheory.data import comb_dataset
from clustertheory.training import TrainConfig


@pytest.mark.parametrize("mode,batch_size", [("iid", 32), ("iid", 5), ("in-batch", 5)])
def test_negative_rates_match_sums_of_squared_weights_for_unbalanced_clusters(mode, batch_size):
    data = comb_dataset(3, 4, 5, cluster_weights=[1, 2, 5])
    rates = negative_rates(data, 4, mode, batch_size, 20000, seed=3)
    assert rates["same_cluster_expected"] == pytest.approx((1 + 4 + 25) / 64)
    assert abs(rates["same_cluster_rate"] - rates["same_cluster_expected"]) < 4 * rates["same_cluster_se"]
    assert abs(rates["self_rate"] - rates["self_expected"]) < 4 * rates["self_se"]
    assert abs(rates["same_cluster_rate"] - 1 / 3) > 4 * rates["same_cluster_se"]  # not the balanced value
    assert rates["pairs"] >= 20000


def test_negative_rates_validate_their_arguments():
    data = comb_dataset(2, 2, 2)
    with pytest.raises(ValueError, match="negative_mode"):
        negative_rates(data, 1, "hard", 4, 100)
    with pytest.raises(ValueError, match="pairs"):
        negative_rates(data, 1, "iid", 4, 0)


def test_regime_settings_match_negatives_per_anchor_to_l():
    train = TrainConfig(steps=10, batch_size=32, num_negatives=16, beta=2.0)
    iid = regime_settings(train, "iid", 4, 0.5)
    assert (iid.batch_size, iid.num_negatives, iid.beta, iid.negative_mode, iid.steps) == (32, 4, 0.5, "iid", 10)
    for regime in NEGATIVE_REGIMES[1:]:
        assert regime_settings(train, regime, 4, 2.0).batch_size == 5
    assert regime_settings(train, "in-batch", 4, 2.0).negative_mode == "in-batch"
    assert regime_settings(train, "iid-small-batch", 4, 2.0).negative_mode == "iid"
    with pytest.raises(ValueError, match="regime"):
        regime_settings(train, "hard", 4, 2.0)


def test_prior_z_scores_measure_the_distance_to_the_prior_in_standard_errors():
    from clustertheory.analysis.negatives import prior_z_scores

    rows = [{"m": 2, "false_negative_rate": 0.3, "prior": 0.25, "negatives_seen": 300},
            {"m": 2, "false_negative_rate": 0.2, "prior": 0.25, "negatives_seen": 100},
            {"m": 4, "false_negative_rate": 0.35, "prior": 0.25, "negatives_seen": 75}]
    z = prior_z_scores(rows, ("m",))
    assert z[0] == pytest.approx(0.0)  # the mean over runs sits on the prior
    assert z[1] == pytest.approx(0.1 / (0.25 * 0.75 / 75) ** 0.5)


