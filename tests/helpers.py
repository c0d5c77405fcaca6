"""Helpers shared by several test files.

- How the package words a rejected argument (``clustertheory.config``'s checks), for tests
  that assert a ValueError names the parameter and then states the allowed range.
- ``scramble_global_rngs``, for tests that a seeded result does not depend on global state.
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
