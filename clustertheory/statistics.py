"""Interval estimates over seeds: means, paired differences, proportions, detectable effects.

Every claim a simulation makes is an effect with an interval computed here, so that all
simulations use one set of formulas (each delegating to scipy where scipy has it):

    mean_interval(x)           mean of independent samples; Student t (default) or BCa bootstrap
    paired_interval(a, b)      mean of a_i - b_i for arms that share seed i (a paired design)
    welch_interval(a, b)       mean(a) - mean(b) for arms with independent seeds (Welch t)
    wilson_interval(k, n)      a proportion k/n (Wilson score interval)
    z_score(x, expected, se)   (x - expected) / se
    ROUNDING                   1e-12, the float64 rounding of exact sums: tolerance and z floor
    detectable_effect(sd, n)   the smallest true mean effect a two-sided t test at ``level``
                               detects with probability ``power`` from n samples of spread sd
    detectable_proportion(p0, n)  the same for a proportion near p0 (normal approximation)

An :class:`Interval` carries the estimate, its bounds, the level, the method and n. A
degenerate sample (all values equal, e.g. an exact computation repeated over seeds) has
the zero-width interval at its value: the spread is zero, not unknown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from .config import check_nonneg_int, check_positive_int, check_probability

METHODS = ("t", "bootstrap")
DEFAULT_LEVEL = 0.95
DEFAULT_POWER = 0.8
# float64 rounding of exact sums and means of O(1) quantities (view weights, losses): the
# tolerance of an exact comparison, and the floor below which a Monte Carlo standard error
# means nothing (a z-test divides by at least this)
ROUNDING = 1e-12


@dataclass(frozen=True)
class Interval:
    """An estimate with a two-sided confidence interval [low, high] at ``level``.

    estimate  the point estimate (a mean, a mean difference or a proportion)
    low, high the interval (nan when it cannot be formed, e.g. one sample)
    level     confidence level, e.g. 0.95
    method    how the interval was formed ("t", "bootstrap", "welch", "wilson", "exact")
    n         number of independent samples (seeds, trials) behind it
    sd        sample standard deviation of the values (of the differences when paired)
    """

    estimate: float
    low: float
    high: float
    level: float
    method: str
    n: int
    sd: float = float("nan")

    @property
    def se(self) -> float:
        """Standard error of the estimate (sd / sqrt(n); nan below two samples)."""
        return self.sd / math.sqrt(self.n) if self.n > 1 else float("nan")

    def excludes(self, value: float) -> bool:
        """Whether ``value`` lies strictly outside [low, high]."""
        return bool(value < self.low or value > self.high)

    def text(self, digits: int = 3) -> str:
        return f"{self.estimate:.{digits}g} [{self.low:.{digits}g}, {self.high:.{digits}g}]"


def _samples(name: str, values) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError(f"{name} must hold at least one value")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite, got {x[~np.isfinite(x)][:3].tolist()}")
    return x


def _check_level(level: float, name: str = "level") -> float:
    """``level`` (a confidence level or a power) as a float strictly between 0 and 1."""
    check_probability(name, level)
    if not 0 < level < 1:
        raise ValueError(f"{name} must be in (0, 1), got {level!r}")
    return float(level)


def mean_interval(values, level: float = DEFAULT_LEVEL, method: str = "t", seed: int = 0, resamples: int = 9999) -> Interval:
    """Mean of independent samples x_1..x_n with a two-sided interval.

    "t":         mean +- t_{(1+level)/2, n-1} * sd / sqrt(n)   (scipy.stats.t)
    "bootstrap": BCa bootstrap over the samples (scipy.stats.bootstrap, ``resamples``
                 resamples, seeded), for skewed effects over few seeds

    One sample gives a nan interval; all-equal samples give the zero-width interval.
    """
    x = _samples("values", values)
    level = _check_level(level)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    n, mean = x.size, float(x.mean())
    sd = float(x.std(ddof=1)) if n > 1 else float("nan")
    if n < 2:
        return Interval(mean, float("nan"), float("nan"), level, method, n, sd)
    if np.ptp(x) == 0:
        return Interval(mean, mean, mean, level, method, n, 0.0)
    if method == "t":
        low, high = stats.t.interval(level, df=n - 1, loc=mean, scale=sd / math.sqrt(n))
    else:
        result = stats.bootstrap((x,), np.mean, confidence_level=level, n_resamples=resamples, method="BCa", rng=np.random.default_rng(seed))
        low, high = result.confidence_interval
    return Interval(mean, float(low), float(high), level, method, n, sd)


def paired_interval(treated, control, level: float = DEFAULT_LEVEL, method: str = "t", seed: int = 0) -> Interval:
    """Mean of the paired differences treated_i - control_i (arm i shares seed i in both)."""
    a, b = _samples("treated", treated), _samples("control", control)
    if a.shape != b.shape:
        raise ValueError(f"treated and control must pair up one to one, got {a.size} and {b.size} values")
    return mean_interval(a - b, level=level, method=method, seed=seed)


def welch_interval(treated, control, level: float = DEFAULT_LEVEL) -> Interval:
    """mean(treated) - mean(control) for independent arms, Welch's t interval:

        se = sqrt(s_a^2 / n_a + s_b^2 / n_b),  df = se^4 / ((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1))

    (what scipy.stats.ttest_ind(equal_var=False) computes; written out so that an arm with no
    spread, e.g. every seed at purity 1, is handled without scipy's precision warning). n is
    the smaller arm's size; sd the root mean of the two variances."""
    a, b = _samples("treated", treated), _samples("control", control)
    level = _check_level(level)
    estimate = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return Interval(estimate, float("nan"), float("nan"), level, "welch", min(a.size, b.size))
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    pooled = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    if va + vb == 0:
        return Interval(estimate, estimate, estimate, level, "welch", min(a.size, b.size), 0.0)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = stats.t.ppf((1 + level) / 2, df) * se
    return Interval(estimate, estimate - half, estimate + half, level, "welch", min(a.size, b.size), pooled)


def wilson_interval(successes: int, trials: int, level: float = DEFAULT_LEVEL) -> Interval:
    """Proportion successes / trials with the Wilson score interval
    (scipy.stats.binomtest(...).proportion_ci(method="wilson"))."""
    check_nonneg_int("successes", int(successes) if float(successes).is_integer() else successes)
    check_positive_int("trials", int(trials) if float(trials).is_integer() else trials)
    if successes > trials:
        raise ValueError(f"successes must be <= trials, got {successes} of {trials}")
    level = _check_level(level)
    ci = stats.binomtest(int(successes), int(trials)).proportion_ci(confidence_level=level, method="wilson")
    p = successes / trials
    return Interval(float(p), float(ci.low), float(ci.high), level, "wilson", int(trials), math.sqrt(p * (1 - p)))


def z_score(value: float, expected: float, se: float) -> float:
    """(value - expected) / se; +-inf when se = 0 and value != expected, 0 when both agree."""
    if se < 0 or not math.isfinite(se):
        raise ValueError(f"se must be finite and >= 0, got {se!r}")
    if se == 0:
        return 0.0 if value == expected else math.copysign(math.inf, value - expected)
    return (value - expected) / se


def detectable_effect(sd: float, n: int, level: float = DEFAULT_LEVEL, power: float = DEFAULT_POWER) -> float:
    """Smallest true mean effect |mu| that a two-sided one-sample (or paired) t test at
    ``level`` detects with probability ``power`` from n samples of standard deviation sd.

    Solves P(|T| > t_crit) = power for the noncentral t with df = n - 1 and noncentrality
    mu sqrt(n) / sd (scipy.stats.nct). nan below two samples; 0 when sd = 0.
    """
    if not (sd >= 0 and math.isfinite(sd)):
        raise ValueError(f"sd must be finite and >= 0, got {sd!r}")
    check_positive_int("n", n)
    level, power = _check_level(level), _check_level(power, "power")
    if n < 2:
        return float("nan")
    if sd == 0:
        return 0.0
    df = n - 1
    crit = stats.t.ppf((1 + level) / 2, df)

    def shortfall(nc: float) -> float:
        lower = stats.nct.cdf(-crit, df, nc)  # the far tail: negligible, and nan for large nc
        return stats.nct.sf(crit, df, nc) + (0.0 if math.isnan(lower) else lower) - power

    high = 1.0
    while shortfall(high) < 0:
        high *= 2
    nc = optimize.brentq(shortfall, 0.0, high)
    return float(nc * sd / math.sqrt(n))


def detectable_proportion(p0: float, n: int, level: float = DEFAULT_LEVEL, power: float = DEFAULT_POWER) -> float:
    """Smallest shift |p - p0| of a proportion that n trials detect at ``level`` with
    probability ``power`` (normal approximation: (z_{(1+level)/2} + z_power) sqrt(p0 (1-p0) / n);
    at p0 in {0, 1} the variance of the shifted proportion is used, solving for the shift)."""
    check_probability("p0", p0)
    check_positive_int("n", n)
    level, power = _check_level(level), _check_level(power, "power")
    z = stats.norm.ppf((1 + level) / 2) + stats.norm.ppf(power)
    if 0 < p0 < 1:
        return float(z * math.sqrt(p0 * (1 - p0) / n))
    # p0 at an edge: find the shift s with s = z sqrt(s (1 - s) / n), i.e. s = z^2 / (n + z^2)
    return float(z * z / (n + z * z))
