"""Interval statistics against scipy and textbook values on known cases."""

import math

import numpy as np
import pytest
from scipy import stats

from clustertheory.statistics import (
    Interval,
    detectable_effect,
    detectable_proportion,
    mean_interval,
    paired_interval,
    welch_interval,
    wilson_interval,
    z_score,
)


def test_mean_interval_is_the_student_t_interval():
    x = np.array([1.2, 0.7, 1.9, 1.1, 0.4, 1.6])
    got = mean_interval(x)
    half = stats.t.ppf(0.975, 5) * x.std(ddof=1) / math.sqrt(6)
    assert got.estimate == pytest.approx(x.mean())
    assert (got.low, got.high) == pytest.approx((x.mean() - half, x.mean() + half))
    assert got.method == "t" and got.n == 6 and got.level == 0.95
    assert got.se == pytest.approx(x.std(ddof=1) / math.sqrt(6))
    narrower = mean_interval(x, level=0.5)
    assert narrower.low > got.low and narrower.high < got.high


def test_bootstrap_interval_is_seeded_and_close_to_t_on_a_large_normal_sample():
    x = np.random.default_rng(0).normal(2.0, 1.0, 400)
    boot, again = mean_interval(x, method="bootstrap", seed=3), mean_interval(x, method="bootstrap", seed=3)
    t = mean_interval(x)
    assert (boot.low, boot.high) == (again.low, again.high)
    assert boot.low == pytest.approx(t.low, abs=0.03) and boot.high == pytest.approx(t.high, abs=0.03)


def test_degenerate_samples_give_zero_width_or_nan_intervals():
    same = mean_interval([0.3] * 5)
    assert (same.low, same.estimate, same.high) == (0.3, 0.3, 0.3) and same.sd == 0
    one = mean_interval([0.3])
    assert math.isnan(one.low) and math.isnan(one.high) and math.isnan(one.se)
    with pytest.raises(ValueError, match="at least one"):
        mean_interval([])
    with pytest.raises(ValueError, match="finite"):
        mean_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="method"):
        mean_interval([1.0, 2.0], method="jackknife")
    with pytest.raises(ValueError, match="level"):
        mean_interval([1.0, 2.0], level=1.0)


def test_paired_interval_is_the_interval_of_the_differences():
    a, b = np.array([3.0, 4.5, 5.0, 6.1]), np.array([2.0, 4.0, 3.9, 5.5])
    paired = paired_interval(a, b)
    direct = mean_interval(a - b)
    assert (paired.estimate, paired.low, paired.high) == (direct.estimate, direct.low, direct.high)
    result = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert (paired.low, paired.high) == pytest.approx((result.low, result.high))
    with pytest.raises(ValueError, match="pair up"):
        paired_interval([1.0, 2.0], [1.0])


def test_welch_interval_matches_scipy():
    a, b = np.array([5.1, 4.9, 6.2, 5.8, 5.5]), np.array([4.0, 4.4, 3.1, 5.0])
    got = welch_interval(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert got.estimate == pytest.approx(a.mean() - b.mean())
    assert (got.low, got.high) == pytest.approx((ci.low, ci.high))


def test_wilson_interval_matches_the_closed_form():
    k, n, z = 7, 20, stats.norm.ppf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    got = wilson_interval(k, n)
    assert got.estimate == pytest.approx(0.35)
    assert (got.low, got.high) == pytest.approx((centre - half, centre + half))
    full = wilson_interval(20, 20)
    assert full.high == pytest.approx(1.0) and full.low == pytest.approx(n / (n + z * z))
    with pytest.raises(ValueError, match="successes must be <= trials"):
        wilson_interval(3, 2)


def test_z_score_and_its_edge_cases():
    assert z_score(1.5, 1.0, 0.25) == pytest.approx(2.0)
    assert z_score(1.0, 1.0, 0.0) == 0.0
    assert z_score(1.1, 1.0, 0.0) == math.inf
    with pytest.raises(ValueError, match="se"):
        z_score(1.0, 1.0, -1.0)


def test_detectable_effect_matches_a_simulated_power():
    """At the detectable effect a two-sided t test at 95 % rejects 80 % of the time."""
    n, sd = 10, 1.3
    effect = detectable_effect(sd, n)
    rng = np.random.default_rng(1)
    samples = rng.normal(effect, sd, size=(20000, n))
    p = stats.ttest_1samp(samples, 0.0, axis=1).pvalue
    assert np.mean(p < 0.05) == pytest.approx(0.8, abs=0.015)
    assert detectable_effect(sd, 40) < effect  # more seeds detect smaller effects
    assert detectable_effect(0.0, 5) == 0.0 and math.isnan(detectable_effect(1.0, 1))


def test_detectable_proportion_normal_approximation():
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert detectable_proportion(0.5, 100) == pytest.approx(z * 0.05)
    edge = detectable_proportion(1.0, 100)
    assert edge == pytest.approx(z * z / (100 + z * z))


def test_interval_excludes_and_text():
    interval = Interval(0.5, 0.2, 0.8, 0.95, "t", 10, 0.4)
    assert interval.excludes(0.1) and interval.excludes(0.9) and not interval.excludes(0.5)
    assert interval.text() == "0.5 [0.2, 0.8]"


def test_welch_interval_with_one_constant_arm_uses_the_other_arms_spread():
    a, b = np.ones(10), np.array([0.2, 0.4, 0.3, 0.5, 0.1, 0.3, 0.4, 0.2, 0.3, 0.3])
    got = welch_interval(a, b)
    expected = mean_interval(a - b.mean() + (b.mean() - b))  # the spread is b's alone, df = n_b - 1
    assert (got.low, got.high) == pytest.approx((expected.low, expected.high))
    same = welch_interval(np.ones(4), np.zeros(5))
    assert (same.low, same.high) == (1.0, 1.0)


@pytest.mark.parametrize("function", [detectable_effect, detectable_proportion])
def test_power_and_level_errors_name_their_parameter(function):
    with pytest.raises(ValueError, match="^power must be in"):
        function(0.5, 10, power=1.0)
    with pytest.raises(ValueError, match="^level must be in"):
        function(0.5, 10, level=0.0)
