"""Vertices of the hypercube H_d = {-1,+1}^d as integers, and the Hamming geometry.

Encoding (used everywhere in ``clustertheory.analysis``): the code y in {-1,+1}^d is the
vertex index ``v = sum_j b_j 2^j`` with bit ``b_j = (1 - y_j) / 2``, so +1 -> 0 and -1 -> 1.
Then the Hamming distance is ``h(y, y') = popcount(v XOR v')`` and ``y.y' = d - 2 h(y, y')``.
"""

from __future__ import annotations

import numpy as np

from clustertheory.config import check_int_range

MAX_EXACT_DIM = 12  # 2^12 vertices: the largest hypercube the exact computations enumerate


def check_dim(name: str, d) -> int:
    """Require an integer dimension 1 <= d <= MAX_EXACT_DIM."""
    return check_int_range(name, d, 1, MAX_EXACT_DIM)


def check_codes(name: str, codes, dim: int | None = None) -> np.ndarray:
    """Validate a (N, d) array of hypercube codes with entries in {-1, +1}; return float64.

    ``d`` must be at most MAX_EXACT_DIM, and equal ``dim`` when given.
    """
    array = np.asarray(codes)
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(f"{name} must have shape (N, d) with d >= 1, got {array.shape}")
    if dim is not None and array.shape[1] != dim:
        raise ValueError(f"{name} must have d = {dim} columns, got {array.shape[1]}")
    check_dim(f"{name}.shape[1] (d)", array.shape[1])
    if not np.isin(array, (-1, 1)).all():
        raise ValueError(f"{name} must contain only -1 and +1 (hypercube codes)")
    return array.astype(np.float64)


def check_law(name: str, law) -> tuple[np.ndarray, int]:
    """Validate a probability vector over the 2^d vertices; return it (float64) and d."""
    array = np.asarray(law, dtype=np.float64)
    size = array.shape[-1] if array.ndim else 0
    d = int(size).bit_length() - 1
    if array.ndim != 1 or size < 2 or size != 2**d:
        raise ValueError(f"{name} must be a 1-D vector of length 2^d (d >= 1), got shape {array.shape}")
    check_dim(f"log2(len({name})) (d)", d)
    if (array < 0).any() or not np.isclose(array.sum(), 1.0, rtol=0, atol=1e-9):
        raise ValueError(f"{name} must be non-negative and sum to 1, got sum {array.sum()!r}")
    return array, d


def vertex_index(codes: np.ndarray) -> np.ndarray:
    """(N, d) codes in {-1,+1} -> (N,) int64 vertex indices ``sum_j [y_j = -1] 2^j``."""
    codes = np.asarray(codes)
    bits = (codes < 0).astype(np.int64)
    return bits @ (np.int64(1) << np.arange(codes.shape[1], dtype=np.int64))


def vertex_codes(d: int) -> np.ndarray:
    """(2^d, d) float64: row v is the code of vertex v (inverse of :func:`vertex_index`)."""
    d = check_dim("d", d)
    bits = (np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1
    return 1.0 - 2.0 * bits


def popcount(values: np.ndarray) -> np.ndarray:
    """Number of set bits of each non-negative integer (elementwise, int64)."""
    values = np.asarray(values, dtype=np.int64)
    count = np.zeros_like(values)
    while values.any():
        count += values & 1
        values = values >> 1
    return count


def hamming_matrix(d: int) -> np.ndarray:
    """(2^d, 2^d) int64: ``H[u, v] = h(u, v) = popcount(u XOR v)``."""
    d = check_dim("d", d)
    index = np.arange(2**d)
    return popcount(index[:, None] ^ index[None, :])


def vertex_weight(d: int) -> np.ndarray:
    """(2^d,) int64 Hamming weight |v| of every vertex index (its distance to vertex 0)."""
    return popcount(np.arange(2 ** check_dim("d", d)))
