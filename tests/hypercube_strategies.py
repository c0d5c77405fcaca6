"""Hypothesis strategies and helpers shared by the property tests of losses, the exact loss and
the metrics: hypercube automorphisms, code tables on small datasets, seeded Gaussian tensors.

A signed permutation of the coordinates (an automorphism of the hypercube, an isometry of R^d)
changes no inner product, so no loss or metric may move under it.
"""

import numpy as np
import torch
from hypothesis import settings
from hypothesis import strategies as st

from clustertheory.analysis.hypercube import vertex_codes
from clustertheory.data import comb_dataset, jitter_dataset

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None)

# A few small datasets, built once: uniform and skewed cluster weights, disjoint and overlapping sets.
DATASETS = [
    comb_dataset(num_clusters=2, points_per_cluster=2, teeth=2),
    comb_dataset(num_clusters=3, points_per_cluster=2, teeth=1, leak=0.2, cluster_weights=[0.6, 0.3, 0.1]),
    comb_dataset(num_clusters=4, points_per_cluster=3, teeth=2, noise=0.1),
    jitter_dataset(num_clusters=3, points_per_cluster=2, bins_per_point=2, width=1, cluster_weights=[1.0, 2.0, 5.0]),
]


@st.composite
def signed_permutations(draw, d: int) -> tuple[list[int], np.ndarray]:
    """A hypercube automorphism y -> s * y[perm]: (perm, signs (d,) in {-1, +1})."""
    perm = draw(st.permutations(list(range(d))))
    signs = np.array(draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=d, max_size=d)))
    return perm, signs


@st.composite
def code_tables(draw, max_d: int = 3):
    """(data, codes (V, d) in {-1,+1}, d): a random code, mixed with cluster codes so that
    aligned and cluster-preserving tables are drawn too."""
    data = draw(st.sampled_from(DATASETS))
    d = draw(st.integers(1, max_d))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    vertices = vertex_codes(d)
    cluster_code = vertices[rng.permutation(2**d)[data.content % 2**d]]
    noise = vertices[rng.integers(0, 2**d, data.num_views)]
    keep = rng.random(data.num_views) < draw(st.sampled_from([0.0, 0.5, 0.9, 1.0]))
    return data, np.where(keep[:, None], cluster_code, noise), d


def apply(automorphism, codes):
    perm, signs = automorphism
    return codes[..., perm] * (signs if isinstance(codes, np.ndarray) else torch.as_tensor(signs, dtype=codes.dtype))


def gaussian(seed: int, *shape) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
