"""Helpers shared by several test files.

- How the package words a rejected argument (``clustertheory.config``'s checks), for tests
  that assert a ValueError names the parameter and then states the allowed range.
- ``scramble_global_rngs``, for tests that a seeded result does not depend on global state.
- ``doctored``, ``failed`` and ``statuses``, for tests that break one thing in a simulation's
  rows and watch its verdict.
"""

import random

import numpy as np
import pytest
import torch

POSITIVE_INT = r"positive integer \(>= 1\)"
NONNEG_INT = r"non-negative integer \(>= 0\)"
POSITIVE = r"finite number > 0"
NONNEG = r"finite number >= 0"
ONE_OF = r"must be one of \["


def raises(name: str, allowed: str):
    """pytest.raises(ValueError) whose message names the parameter and then states the allowed range."""
    return pytest.raises(ValueError, match=rf"{name}(?!\w).*{allowed}")


def scramble_global_rngs() -> None:
    """Advance every global generator, so a result that depends on global state changes."""
    random.random()
    np.random.rand(7)
    torch.rand(13)


def doctored(rows: list[dict], change, **where) -> list[dict]:
    """A copy of ``rows`` in which ``change(row)`` has been applied to every row whose fields
    equal ``where`` (the originals are left alone)."""
    out = [dict(r) for r in rows]
    for r in out:
        if all(r.get(k) == v for k, v in where.items()):
            change(r)
    return out


def failed(verdict) -> list[str]:
    """Names of the package checks of ``verdict`` that FAILed."""
    return [c.name for c in verdict.checks if not c.passed]


def statuses(verdict) -> dict[str, str]:
    """Claim name -> status of ``verdict``."""
    return {c.name: c.status for c in verdict.claims}
