"""Hard negative selection and synthesis (Dong et al. 2023; MoCHi, Kalantidis et al. 2020), and
the ways of using K negatives per anchor that the hard-negative simulation compares.

Selection keeps, for each anchor, the top-s most similar candidates. Synthesis makes
k new negatives per anchor by mixing members of its hard pool; synthetic negatives
carry no gradient. Both are vectorised (topk + gather, batched random indices).

``NEGATIVE_METHODS``: each method selects K negatives from a pool of P > K i.i.d. candidates
(``select_negatives``) and scores them with ``debiased_from_similarities`` at the settings
``method_settings`` gives:

    method                   selection: negatives (K in all)                      tau+       hardness  weights
    plain                    uniform: the first K candidates                      0          0         -
    debiased                 uniform                                              prior      0         -
    debiased-overestimated   uniform                                              f x prior  0         -
    hard-weight              uniform                                              0          h         HCL code
    hard-debiased            uniform                                              prior      h         HCL code
    hard-debiased-detached   uniform                                              prior      h         detached
    hard-select              hardest: the K most similar of the P                 0          0         -
    synthetic                synthetic: K - K/2 first + K/2 mixed from the hardest  0        0         -
    synthetic-debiased       synthetic                                            prior      0         -
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from clustertheory.config import check_in, check_positive_int
from clustertheory.losses.primitives import check_embeddings, prepare

SYNTHESIS_MODES = ("mix-negatives", "mix-anchor")
NEGATIVE_METHODS = (
    "plain", "debiased", "debiased-overestimated", "hard-weight", "hard-debiased", "hard-debiased-detached",
    "hard-select", "synthetic", "synthetic-debiased",
)
SELECTIONS = ("uniform", "hardest", "synthetic")


def _gather_rows(pool: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """pool (B, N, d), index (B, s) -> pool[b, index[b, j]] (B, s, d)."""
    return pool.gather(1, index.unsqueeze(-1).expand(-1, -1, pool.shape[-1]))


def hard_negative_indices(
    anchor: torch.Tensor, candidates: torch.Tensor, s: int, *, normalize: bool = True
) -> torch.Tensor:
    """Indices (B, s) of the s candidates most similar to each anchor, most similar first.

    anchor (B, d); candidates (B, N, d) (a pool per anchor) or (M, d) (one pool shared
    by all anchors). Similarity: cosine when ``normalize``, else the dot product.
    A shared pool that contains the anchor itself will select it: remove it first.
    Raises ValueError for s < 1, s larger than the pool, or mismatched shapes.
    """
    check_positive_int("s", s)
    check_embeddings("anchor", anchor, 2)
    if candidates.dim() not in (2, 3) or candidates.shape[-1] != anchor.shape[1]:
        raise ValueError(
            f"candidates must have shape (B, N, d) or (M, d) with d = {anchor.shape[1]}, "
            f"got {tuple(candidates.shape)}"
        )
    if candidates.dim() == 3 and candidates.shape[0] != anchor.shape[0]:
        raise ValueError(
            f"candidates (B, N, d) must have B = {anchor.shape[0]} rows like anchor, got {tuple(candidates.shape)}"
        )
    pool_size = candidates.shape[-2]
    if s > pool_size:
        raise ValueError(f"s must be <= the number of candidates ({pool_size}), got {s}")
    with torch.no_grad():
        anchor, candidates = prepare(normalize, anchor, candidates)
        if candidates.dim() == 2:
            similarity = anchor @ candidates.T  # (B, M)
        else:
            similarity = torch.einsum("bd,bnd->bn", anchor, candidates)  # (B, N)
        return similarity.topk(s, dim=1).indices


def select_hard_negatives(
    anchor: torch.Tensor, candidates: torch.Tensor, s: int, *, normalize: bool = True
) -> torch.Tensor:
    """The s hardest (most similar) candidates of each anchor, (B, s, d), hardest first.

    Shapes and similarity as in ``hard_negative_indices``. The rows are the candidate
    vectors themselves (not re-normalised); gradients flow to the selected rows, the
    choice itself is not differentiable.
    """
    index = hard_negative_indices(anchor, candidates, s, normalize=normalize)
    if candidates.dim() == 2:
        return candidates[index]
    return _gather_rows(candidates, index)


def synthesize_hard_negatives(
    anchor: torch.Tensor,
    hard_pool: torch.Tensor,
    k: int,
    generator: torch.Generator,
    mode: str = "mix-negatives",
) -> torch.Tensor:
    """k synthetic negatives per anchor, (B, k, d), unit norm, detached (no gradient).

    anchor (B, d); hard_pool (B, s, d), e.g. from ``select_hard_negatives``. All
    inputs are L2-normalised before mixing.

    - "mix-negatives" (Dong et al. 2023; MoCHi type 1):
      ``n~ = normalise(alpha n_a + (1 - alpha) n_b)``, alpha ~ U(0, 1), with n_a, n_b
      two *distinct* members of the anchor's pool drawn uniformly (needs s >= 2).
    - "mix-anchor" (MoCHi type 2): ``n~ = normalise(alpha q + (1 - alpha) n_a)``, q the
      anchor, alpha ~ U(0, 0.5) as in MoCHi, so the synthetic point stays nearer the
      negative than the anchor.

    Every draw comes from ``generator`` (a torch.Generator; its device is used for
    the draws). Raises ValueError for k < 1, an unknown mode, s < 2 with
    "mix-negatives", or mismatched shapes.
    """
    check_positive_int("k", k)
    check_in("mode", mode, SYNTHESIS_MODES)
    check_embeddings("anchor", anchor, 2)
    check_embeddings("hard_pool", hard_pool, 3)
    batch, pool_size, dim = hard_pool.shape
    if batch != anchor.shape[0] or dim != anchor.shape[1]:
        raise ValueError(
            f"hard_pool must have shape (B, s, d) = ({anchor.shape[0]}, s, {anchor.shape[1]}) "
            f"to match anchor {tuple(anchor.shape)}, got {tuple(hard_pool.shape)}"
        )
    if pool_size < 1:
        raise ValueError(f"hard_pool needs s >= 1 negatives per anchor, got s = {pool_size}")
    if mode == "mix-negatives" and pool_size < 2:
        raise ValueError(f"hard_pool needs s >= 2 negatives per anchor for mode 'mix-negatives', got s = {pool_size}")

    def draw_index(low: int, high: int) -> torch.Tensor:
        return torch.randint(low, high, (batch, k), generator=generator, device=generator.device).to(anchor.device)

    def draw_uniform(high: float) -> torch.Tensor:
        weight = high * torch.rand(batch, k, 1, generator=generator, device=generator.device)
        return weight.to(device=anchor.device)

    with torch.no_grad():
        (pool,) = prepare(True, hard_pool.detach())
        first_index = draw_index(0, pool_size)
        first = _gather_rows(pool, first_index)
        if mode == "mix-negatives":
            second_index = (first_index + draw_index(1, pool_size)) % pool_size  # never equals first
            alpha = draw_uniform(1.0).to(pool.dtype)
            mixed = alpha * first + (1 - alpha) * _gather_rows(pool, second_index)
        else:
            (query,) = prepare(True, anchor.detach())
            alpha = draw_uniform(0.5).to(pool.dtype)
            mixed = alpha * query.unsqueeze(1) + (1 - alpha) * first
        return F.normalize(mixed, dim=-1).to(hard_pool.dtype)


def method_settings(method: str, tau_plus: float, hardness: float, overestimate: float) -> tuple[str, float, float, bool]:
    """(selection, tau+, hardness, detach_weights) of a method of ``NEGATIVE_METHODS`` (module
    table), given the true prior ``tau_plus``, Robinson's ``hardness`` and the over-estimate factor."""
    check_in("method", method, NEGATIVE_METHODS)
    selection = {"hard-select": "hardest", "synthetic": "synthetic", "synthetic-debiased": "synthetic"}.get(method, "uniform")
    tau = {"plain": 0.0, "hard-select": 0.0, "hard-weight": 0.0, "synthetic": 0.0}.get(method, tau_plus)
    tau *= overestimate if method == "debiased-overestimated" else 1.0
    weighted = method in ("hard-weight", "hard-debiased", "hard-debiased-detached")
    return selection, tau, hardness if weighted else 0.0, method.endswith("detached")


def select_negatives(selection: str, anchor: torch.Tensor, similarity: torch.Tensor, views, K: int, generator: torch.Generator,
                     synthesis: str = "mix-negatives") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The K negatives of a selection of ``SELECTIONS``, for anchors (n, d) and their similarities
    to P >= K i.i.d. candidates (n, P), both possibly with gradient.

    ``views(index)`` maps candidate indices (n, k) to their (detached) embeddings (n, k, d); only
    "synthetic" calls it. Returns the negatives' similarities (n, K), which candidates the real
    ones are (n, k_real) and the synthetic negatives (n, K - k_real, d) (None otherwise).
    Selection looks at detached similarities; synthetic negatives carry no gradient (their
    similarity does, through the anchor).
    """
    check_in("selection", selection, SELECTIONS)
    n, pool = similarity.shape
    if not 2 <= K <= pool:
        raise ValueError(f"K must be in [2, {pool}] (the candidates per anchor), got {K}")
    uniform = torch.arange(K, device=similarity.device).expand(n, K)  # candidates are i.i.d.: the first K are uniform
    if selection == "uniform":
        return similarity[:, :K], uniform, None
    hardest = similarity.detach().topk(K, dim=1).indices  # the K most similar candidates, hardest first
    if selection == "hardest":
        return similarity.gather(1, hardest), hardest, None
    real = K - K // 2
    mixed = synthesize_hard_negatives(anchor, views(hardest), K // 2, generator, mode=synthesis)
    return torch.cat([similarity[:, :real], torch.einsum("nd,nkd->nk", anchor, mixed)], dim=1), uniform[:, :real], mixed
