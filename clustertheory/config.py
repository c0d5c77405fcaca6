"""Validation helpers shared by every config and public function.

Each helper raises ``ValueError`` whose message names the parameter and the allowed
range, so that a bad value is reported before any work starts.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from numbers import Integral, Real


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_positive_int(name: str, value) -> int:
    """Require an integer >= 1."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer (>= 1), got {value!r}")
    return int(value)


def check_nonneg_int(name: str, value) -> int:
    """Require an integer >= 0."""
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer (>= 0), got {value!r}")
    return int(value)


def check_positive(name: str, value) -> float:
    """Require a finite real > 0."""
    if not _is_real(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_nonneg(name: str, value) -> float:
    """Require a finite real >= 0."""
    if not _is_real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_probability(name: str, value, open_right: bool = False) -> float:
    """Require a real in [0, 1] (or [0, 1) when ``open_right``)."""
    upper_ok = value < 1 if open_right else value <= 1
    if not _is_real(value) or not math.isfinite(value) or value < 0 or not upper_ok:
        interval = "[0, 1)" if open_right else "[0, 1]"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return float(value)


def check_range(name: str, value, lo, hi) -> float:
    """Require ``lo <= value <= hi``."""
    if not _is_real(value) or not (lo <= value <= hi):
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return value


def check_int_range(name: str, value, lo: int, hi: int) -> int:
    """Require an integer with ``lo <= value <= hi``."""
    if not _is_int(value) or not (lo <= value <= hi):
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    return int(value)


def check_in(name: str, value, allowed: Collection) -> object:
    """Require ``value`` to be one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(map(str, allowed))}, got {value!r}")
    return value
