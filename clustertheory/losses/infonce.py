"""InfoNCE and its relatives: explicit-K and in-batch InfoNCE, the paper's hypercube
beta-form, SupCon L_out and the decoupled contrastive loss.

All of them reduce an ``(anchors x candidates)`` logit matrix, built with one einsum /
matmul (O(B K) memory for explicit negatives, O(B^2) in-batch, never a list of
pairs), row by row with ``masked_logsumexp``. The decoupled form
``D = log sum_neg exp(logit - positive_logit)`` is computed first; InfoNCE is then
``log(1 + exp(D))``, which keeps tiny losses (large beta, clean codes) exact.
Half-precision inputs are upcast to float32 first, so the loss is float32.

Cost: the temperature is folded into the anchors ((B, d) work) and, for cosine
similarity with explicit negatives, the (B, K) logits are divided by the negatives'
norms instead of normalising the (B, K, d) negatives; D is ``logsumexp(negative logits)
- positive logit``, so besides the product itself only the logsumexp touches the
(B, K) or (B, B) matrix. In-batch, the entries that are not negatives (the positive,
and the anchor itself with same-view negatives) are overwritten in the fresh logit
matrix (:func:`_leave_out_diagonal`) instead of masking a copy. The two common in-batch
forms, one direction without same-view negatives (the CLIP / info-nce-pytorch form) and
NT-Xent (SimCLR), are each one autograd node with a hand-written backward
(:class:`_InBatch`): at small B their cost is per-operation overhead, which the generic
form multiplies; they have no second derivative (one raises).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from clustertheory.config import check_in, check_nonneg, check_positive
from clustertheory.losses.primitives import (
    REDUCTIONS,
    check_embeddings,
    check_hypercube_inputs,
    check_leading_shape,
    check_negatives,
    check_pair,
    log1p_exp,
    masked_log_softmax,
    masked_logsumexp,
    prepare,
    reduce_rows,
    upcast,
)

NORM_EPS = 1e-12  # as F.normalize: a vector is divided by max(||v||, NORM_EPS)
SOFTPLUS_EXACT_ABOVE = 40.0  # F.softplus returns x itself above this threshold


def _finish(log_negatives_over_positive: torch.Tensor, include_positive: bool) -> torch.Tensor:
    """``D = log sum_neg exp(logit - positive_logit)`` is the decoupled loss; InfoNCE,
    with the positive in the denominator, is ``log(1 + exp(D))``.

    Working with D (negatives only) keeps tiny InfoNCE values exact instead of
    rounding ``logsumexp - positive_logit`` to 0.
    """
    if include_positive:
        return log1p_exp(log_negatives_over_positive)
    return log_negatives_over_positive


def _explicit_rows(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negatives: torch.Tensor,
    scale: float,
    normalize: bool,
    include_positive: bool,
) -> torch.Tensor:
    """Per-anchor ``-scale s(a, p) + log(sum over candidates exp(scale s(a, c)))`` (B,).

    anchor, positive (B, d), negatives (B, K, d), already upcast. Candidates: the K rows
    ``negatives[b]``, plus the positive when ``include_positive``. s is the cosine when
    ``normalize`` (the negatives' norms divide the (B, K) logits), else the dot product.
    """
    if normalize:
        anchor, positive = F.normalize(anchor, dim=-1), F.normalize(positive, dim=-1)
    anchor = scale * anchor
    positive_logit = (anchor * positive).sum(dim=-1)  # (B,)
    negative_logits = torch.einsum("bd,bkd->bk", anchor, negatives)  # (B, K)
    if normalize:
        negative_logits = negative_logits / torch.linalg.vector_norm(negatives, dim=-1).clamp_min(NORM_EPS)
    return _finish(masked_logsumexp(negative_logits) - positive_logit, include_positive)


def _leave_out_diagonal(logits: torch.Tensor, offset: int) -> None:
    """Overwrite ``logits[..., b, b + offset]`` (the diagonal ``offset`` of every (B, C) matrix) with the dtype's most
    negative finite value, in place and unseen by autograd, so that the row logsumexp leaves those entries out (exp
    gives 0, and so does its gradient) without a (B, C) mask or a masked copy.

    Only for a matrix fresh from a matrix product: the product's backward reads its inputs,
    never its output, and the logsumexp saves the overwritten matrix, so every gradient is
    that of the loss without those entries.
    """
    torch.diagonal(logits.detach(), offset, dim1=-2, dim2=-1).fill_(torch.finfo(logits.dtype).min)


def in_batch_gap(logits: torch.Tensor, positive_logit: torch.Tensor, left_out: tuple[int, ...] = (0,)) -> torch.Tensor:
    """The decoupled loss of every anchor against in-batch candidates, leading dimensions kept:

        D[..., i] = log sum_{c not left out} exp(logits[..., i, c]) - positive_logit[..., i]

    logits (..., B, C), already scaled, FRESH from a matrix product (it is overwritten in
    place, see :func:`_leave_out_diagonal`); positive_logit (..., B); left_out: the diagonals
    ``c = i + offset`` that are not candidates (0: the positive on the diagonal). InfoNCE with
    the positive in the denominator is ``log(1 + exp(D))`` (:func:`_finish`).
    """
    for offset in left_out:
        _leave_out_diagonal(logits, offset)
    lse = masked_logsumexp(logits.reshape(-1, logits.shape[-1])).view(logits.shape[:-1])
    return lse - positive_logit


def _normalized_views(anchor: torch.Tensor, positive: torch.Tensor, normalize: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """z = [anchor; positive] (2B, d) in one fresh tensor, each row divided by max(||v||, NORM_EPS)
    when ``normalize`` (F.normalize's operations, so its values), and those norms (2B, 1) or None.
    Stacked so that normalisation and its backward run once."""
    views = torch.cat([anchor, positive])
    if not normalize:
        return views, None
    norms = torch.linalg.vector_norm(views, dim=-1, keepdim=True).clamp_min_(NORM_EPS)
    return views.div_(norms), norms


def _through_normalization(views: torch.Tensor, norms: torch.Tensor | None, grad_views: torch.Tensor) -> torch.Tensor:
    """The gradient w.r.t. the raw rows from that w.r.t. the normalised rows ``views``, in place:
    through v / max(||v||, eps) it is (g - u (u.g)) / ||v|| with u = v / ||v||; a clamped norm
    passes no gradient to the norm (F.normalize's clamp_min), so there it is g / eps."""
    if norms is None:
        return grad_views
    radial = torch.where(norms > NORM_EPS, (views * grad_views).sum(dim=-1, keepdim=True), 0.0)
    return grad_views.addcmul_(views, radial, value=-1).div_(norms)


class _InBatch(torch.autograd.Function):
    """In-batch InfoNCE (or decoupled) loss as one autograd node with a hand-written backward, in
    two pairings:

    - one direction, no same-view negatives (the CLIP / info-nce-pytorch form): logits (B, B)
      ``scale s(a_i, p_j)``; anchor a_i, its positive p_i on the diagonal, negatives p_j, j != i;
    - NT-Xent (``nt_xent``; SimCLR: both directions, same-view negatives): logits (2B, 2B)
      ``scale s(z_r, z_c)`` with z = [a; p]; row r's positive is its other view (column r +- B),
      its negatives every other column except r itself; anchor i's loss is the mean of rows i
      and B + i.

    anchor, positive (B, d), already upcast, L2-normalised here when ``normalize``. Per row
    ``l_r = log(1 + exp(D_r))`` (``include_positive``) or ``D_r`` (decoupled), with
    ``D_r = log sum_{c negative} exp(logit_rc) - logit_r,positive``; returns the rows per anchor
    reduced by ``reduction`` (already checked).

    Why by hand: at small B the cost of the autograd form is the fixed overhead of its many
    small operations and graph nodes (normalisation, logsumexp, log1p_exp, reduction), not
    the matrix work; one node with few operations is what matches a single cross_entropy there.
    The left-out entries (positive, self) are overwritten in the fresh logit matrix, so the
    softmax over a row is over its negatives (0 elsewhere); the gradient w.r.t. the logits is
    then ``w_r softmax_r`` at the negatives and ``-w_r`` at the positive, with
    ``w = dl/dD = sigmoid(D)`` (1 for the decoupled loss). It is built from D, never as
    ``softmax - 1``, so tiny losses keep tiny, exact gradients. Once differentiable (a second
    derivative raises), as ``primitives._RowLogSumExp``.
    """

    @staticmethod
    def forward(ctx, anchor, positive, scale: float, normalize: bool, include_positive: bool, reduction: str, nt_xent: bool):
        batch = anchor.shape[0]
        views, norms = _normalized_views(anchor, positive, normalize)
        if nt_xent:
            logits = torch.mm(views, views.T).mul_(scale)  # (2B, 2B): row and column r are z_r
            # the diagonals of the four (B, B) blocks, [r, c, i] = logits[rB + i, cB + i]: self where
            # r = c, the positive where r != c
            blocks = logits.view(2, batch, 2, batch).diagonal(dim1=1, dim2=3)
            positive_logit = blocks.flip(1).diagonal(dim1=0, dim2=1).T.flatten()  # (2B,): row rB + i, column (1 - r)B + i
            blocks.fill_(torch.finfo(logits.dtype).min)  # leave self and positive out: exp gives 0
        else:
            logits = torch.mm(views[:batch], views[batch:].T).mul_(scale)  # (B, B): row i anchor a_i, column j positive p_j
            positive_logit = torch.diagonal_copy(logits)  # (B,)
            logits.fill_diagonal_(torch.finfo(logits.dtype).min)  # leave the positives out: exp gives 0
        # logsumexp over the negatives from one fused softmax: its largest entry is exp(0) / sum,
        # so log(sum) = -log(max softmax); the softmax itself is what the backward needs. (A
        # logsumexp followed by an in-place exp of the shifted logits measured 4 % slower at B = 64.)
        softmax = torch.softmax(logits, dim=1)
        gap = (logits.amax(dim=1) - positive_logit).sub_(softmax.amax(dim=1).log_())  # D = lse(negatives) - positive
        # log(1 + exp(D)), exact: log1p(exp(D)) up to D = 40, D itself above (the rest, under
        # exp(-40) = 4e-18, is below half an ulp of D in float32 and float64); one op, not two
        rows = F.softplus(gap, threshold=SOFTPLUS_EXACT_ABOVE) if include_positive else gap
        if rows is gap and reduction == "none" and not nt_xent:
            rows = gap.clone()  # returned: a caller's in-place change must not touch the saved D
        ctx.save_for_backward(views, norms, softmax, gap)
        ctx.scale, ctx.include_positive, ctx.reduction, ctx.nt_xent = scale, include_positive, reduction, nt_xent
        if nt_xent:  # anchor i: the mean of rows i and B + i
            return rows.mean() if reduction == "mean" else 0.5 * rows.sum() if reduction == "sum" else rows.view(2, batch).mean(dim=0)
        return rows.mean() if reduction == "mean" else rows.sum() if reduction == "sum" else rows

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        views, norms, softmax, gap = ctx.saved_tensors
        rows = gap.shape[0]
        # per row dl/dD times the logits' scale and the reduction's factor (folded here)
        if ctx.reduction == "mean":
            factor = grad * (ctx.scale / rows)
        elif ctx.nt_xent:
            factor = (grad.repeat(2) if ctx.reduction == "none" else grad) * (0.5 * ctx.scale)
        else:
            factor = grad * ctx.scale
        weight = torch.sigmoid(gap).mul_(factor) if ctx.include_positive else factor.expand_as(gap)
        grad_logits = softmax * weight.unsqueeze(1)  # w_r softmax over the negatives (0 at the left-out entries)
        if ctx.nt_xent:
            blocks = grad_logits.view(2, rows // 2, 2, rows // 2).diagonal(dim1=1, dim2=3)
            blocks.sub_(weight.view(2, 1, -1))  # -w_r at both left-out entries of row r ...
            blocks.diagonal(dim1=0, dim2=1).zero_()  # ... and back to 0 at self, not a candidate
            grad_views = torch.mm(grad_logits, views).addmm_(grad_logits.T, views)  # logits = z z^T: dl/dz = (G + G^T) z
        else:
            grad_logits.diagonal().sub_(weight)  # the positive: -w_i (the diagonal was 0)
            batch = rows
            grad_views = torch.empty_like(views)
            torch.mm(grad_logits, views[batch:], out=grad_views[:batch])
            torch.mm(grad_logits.T, views[:batch], out=grad_views[batch:])
        grad_views = _through_normalization(views, norms, grad_views)
        half = views.shape[0] // 2
        return grad_views[:half], grad_views[half:], None, None, None, None, None


def _in_batch_node(anchor, positive, scale: float, normalize: bool, include_positive: bool, reduction: str, nt_xent: bool) -> torch.Tensor:
    """The reduced in-batch loss of one pairing (:class:`_InBatch`): one direction without
    same-view negatives, or NT-Xent."""
    check_in("reduction", reduction, REDUCTIONS)
    anchor, positive = upcast(anchor, positive)
    return _InBatch.apply(anchor, positive, scale, normalize, include_positive, reduction, nt_xent)


def _in_batch_rows(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    scale: float,
    same_view_negatives: bool,
    symmetric: bool,
    include_positive: bool,
) -> torch.Tensor:
    """Per-anchor loss (..., B) with the batch as candidates, from one logit matrix per leading index.

    anchor, positive (..., B, d), already prepared; leading dimensions (e.g. ensemble members)
    are independent batches. Candidates of anchor a_i: ``positive[j]`` for every j (j = i only
    when ``include_positive``), and ``anchor[j]`` for j != i when ``same_view_negatives``.
    ``symmetric`` averages with the loss of p_i against the anchors (same roles swapped).
    One product serves both directions: (B, B) a p^T read by rows and by columns, or, with
    same-view negatives, (2B, 2B) z z^T with z = [a; p], whose row B + i is anchor p_i.
    """
    batch = anchor.shape[-2]
    scaled = scale * anchor
    positive_logit = (scaled * positive).sum(dim=-1)  # (..., B); enters through _finish
    if not same_view_negatives:
        logits = scaled @ positive.mT  # (..., B, B): row i anchor a_i, column j positive p_j
        rows = _finish(in_batch_gap(logits, positive_logit), include_positive)
        if symmetric:  # the overwritten diagonal is left out of the columns too
            back = masked_logsumexp(logits.mT.reshape(-1, batch)).view(positive_logit.shape)
            rows = 0.5 * (rows + _finish(back - positive_logit, include_positive))
        return rows
    if not symmetric:
        logits = scaled @ torch.cat([positive, anchor], dim=-2).mT  # (..., B, 2B): positives p_j, then anchors a_j
        return _finish(in_batch_gap(logits, positive_logit, (0, batch)), include_positive)  # p_i and a_i itself
    views = torch.cat([anchor, positive], dim=-2)  # (..., 2B, d)
    logits = torch.cat([scaled, scale * positive], dim=-2) @ views.mT  # (..., 2B, 2B)
    # every view itself; row i: the positive p_i of a_i; row B + i: the positive a_i of p_i
    both = _finish(in_batch_gap(logits, torch.cat([positive_logit, positive_logit], dim=-1), (0, batch, -batch)), include_positive)
    return 0.5 * (both[..., :batch] + both[..., batch:])


def _check_in_batch_options(negatives, symmetric: bool, same_view_negatives: bool) -> None:
    if negatives is not None and (symmetric or same_view_negatives):
        raise ValueError(
            "symmetric and same_view_negatives apply to in-batch negatives only; "
            "pass negatives=None or set symmetric=False, same_view_negatives=False"
        )


def infonce(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negatives: torch.Tensor | None = None,
    *,
    temperature: float = 0.1,
    normalize: bool = True,
    symmetric: bool = False,
    same_view_negatives: bool = False,
    reduction: str = "mean",
) -> torch.Tensor:
    """InfoNCE with K explicit negatives per anchor, or with in-batch negatives.

    anchor (B, d), positive (B, d), negatives (B, K, d) or None. With ``normalize``
    every vector is L2-normalised first (cosine similarity); ``s(u, v) = u.v``.

    Explicit negatives (the finite-negative theory; ``negatives`` given):

        l_b = -s(a_b, p_b)/t + log( exp(s(a_b, p_b)/t) + sum_{k=1..K} exp(s(a_b, n_bk)/t) )

    Denominator: the positive and the K negatives of anchor b (K + 1 candidates).
    Chance value (all similarities equal): ``log(K + 1)``.

    In-batch negatives (``negatives=None``), one direction (``symmetric=False``):

        l_b = -s(a_b, p_b)/t + log( sum_{j=1..B} exp(s(a_b, p_j)/t) )

    Denominator: all B rows of ``positive``, the positive ``p_b`` included (the
    info-nce-pytorch / CLIP one-direction convention). Chance value ``log(B)``.
    ``same_view_negatives=True`` adds ``a_j, j != b`` to the denominator
    (2B - 1 candidates, chance ``log(2B - 1)``), as in SimCLR's NT-Xent.
    ``symmetric=True`` averages l_b with the same loss with the roles of anchor and
    positive swapped (CLIP-style; with ``same_view_negatives`` it is exactly NT-Xent
    of SimCLR / lightly.loss.NTXentLoss). Both options need in-batch negatives.

    reduction: "mean" over anchors, "sum", or "none" (per-anchor (B,); for
    ``symmetric`` the per-anchor average of the two directions). Returns float32 for
    half / bfloat16 / float32 input and float64 for float64 input. In-batch, the
    one-direction loss (neither option) and NT-Xent (both options) have a first derivative
    only (a second one raises); the mixed forms (one option alone) have both.

    Raises ValueError for temperature <= 0, K = 0, mismatched shapes, and B < 2 with
    in-batch negatives (a single candidate makes the loss identically 0).
    """
    check_positive("temperature", temperature)
    check_pair(anchor, positive)
    _check_in_batch_options(negatives, symmetric, same_view_negatives)
    scale = 1.0 / temperature
    if negatives is not None:
        check_negatives("anchor", anchor, "negatives", negatives)
        anchor, positive, negatives = upcast(anchor, positive, negatives)
        rows = _explicit_rows(anchor, positive, negatives, scale, normalize, include_positive=True)
        return reduce_rows(rows, reduction)
    if anchor.shape[0] < 2:
        raise ValueError(
            f"in-batch infonce needs batch size B >= 2 (B = 1 leaves a single candidate "
            f"and the loss is identically 0), got anchor shape {tuple(anchor.shape)}"
        )
    if symmetric == same_view_negatives:  # one direction alone, or NT-Xent: one node
        return _in_batch_node(anchor, positive, scale, normalize, True, reduction, nt_xent=symmetric)
    anchor, positive = prepare(normalize, anchor, positive)
    rows = _in_batch_rows(anchor, positive, scale, same_view_negatives, symmetric, include_positive=True)
    return reduce_rows(rows, reduction)


def hypercube_infonce(
    codes: torch.Tensor,
    positive_codes: torch.Tensor,
    negative_codes: torch.Tensor,
    beta: float | torch.Tensor,
    reduction: str = "mean",
    active: torch.Tensor | None = None,
) -> torch.Tensor:
    """The paper's InfoNCE on (relaxed) hypercube codes, in its beta-form, for any batch shape.

    codes z (*S, d), positive_codes z+ (*S, d), negative_codes z_i (*S, l, d), where S is the
    batch shape: (B,) for one model, (E, B) for E ensemble members. No normalisation (on
    H_d = {-1, +1}^d every code has squared norm d). For every batch index s:

        l_s = log( 1 + sum_{i=1..l, active_si} exp( beta_s z_s.(z_si - z_s+) ) )
            = -beta_s z_s.z_s+ + log( exp(beta_s z_s.z_s+) + sum_{i active} exp(beta_s z_s.z_si) )

    The denominator holds the positive and the active negatives. With a number beta and
    every negative active this is ``infonce(codes, positive_codes, negative_codes,
    normalize=False, temperature=1/beta)``. Value ``log(1 + #active)`` when all codes are
    identical (or beta = 0); l_s >= 0 for every input (the 1 inside the log), and values as
    small as ``exp(-2 beta d)`` keep their relative precision.

    beta: a number >= 0 (every anchor), or a tensor of values >= 0 whose shape is a leading
        part of S, e.g. (E,) one inverse temperature per member or (E, B) one per anchor
        (beta_s = beta[s_1, ..., s_k] for a k-dimensional tensor).
    active: None (every negative counts) or a bool tensor of shape (*S', l) with S' a
        leading part of S, e.g. (E, l): member e counts negative i where active[e, i] (a
        member with l_e < l negatives uses the first l_e of a shared draw of l). A row with no
        active negative has loss 0.
    reduction: "mean" or "sum" over all of S, or "none" (shape S).

    Raises ValueError for a negative or non-finite beta, l = 0, and shapes that do not match
    (naming the argument).
    """
    check_hypercube_inputs(codes, positive_codes, negative_codes)
    batch_shape = codes.shape[:-1]
    if torch.is_tensor(beta):
        check_leading_shape("beta", beta, batch_shape)
        if not bool(torch.isfinite(beta).all()) or bool((beta < 0).any()):
            raise ValueError(f"beta must hold finite numbers >= 0, got {beta}")
    else:
        check_nonneg("beta", beta)
    if active is not None:
        check_leading_shape("active", active, batch_shape, trailing=negative_codes.shape[-2:-1])
        if active.dtype != torch.bool:
            raise ValueError(f"active must be a bool tensor, got dtype {active.dtype}")
    codes, positive_codes, negative_codes = upcast(codes, positive_codes, negative_codes)
    scale = float(beta) if not torch.is_tensor(beta) else beta.to(codes.dtype).reshape(*beta.shape, *[1] * (len(batch_shape) - beta.dim()))
    positive_logit = scale * (codes * positive_codes).sum(dim=-1)  # S
    negative_logits = (scale if not torch.is_tensor(scale) else scale.unsqueeze(-1)) * torch.einsum("...d,...kd->...k", codes, negative_codes)  # (*S, l)
    gaps = negative_logits - positive_logit.unsqueeze(-1)
    mask = None
    if active is not None:
        mask = active.reshape(*active.shape[:-1], *[1] * (len(batch_shape) - active.dim() + 1), active.shape[-1]).expand(gaps.shape)
        mask = mask.reshape(-1, gaps.shape[-1])
    gap = masked_logsumexp(gaps.reshape(-1, gaps.shape[-1]), mask).view(batch_shape)
    return reduce_rows(log1p_exp(gap), reduction)


def supcon_out(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 0.1,
    normalize: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    """Supervised contrastive loss L_out (Khosla et al. 2020, Eq. 2).

    embeddings z (B, d) (all views stacked), labels (B,) integer. For anchor i,
    ``A(i) = {a != i}`` and ``P(i) = {p in A(i) : y_p = y_i}``:

        l_i = -1/|P(i)| sum_{p in P(i)} [ s(z_i, z_p)/t - log sum_{a in A(i)} exp(s(z_i, z_a)/t) ]

    (the average over positives is outside the log). Denominator: every other row,
    positives included, self excluded. Cosine similarity when ``normalize``.
    No ``t / t_base`` factor (t_base = t as in pytorch-metric-learning's SupConLoss).
    Chance value (all similarities equal): ``log(B - 1)``.

    Anchors with no positive (a label seen once) are left out of "mean" and "sum";
    with reduction "none" their entry is NaN (an average over an empty set).
    Raises ValueError for temperature <= 0, B < 3 (with B = 2 the only usable
    anchors have their positive as sole candidate: loss identically 0), labels of
    the wrong shape, or no label occurring twice.
    """
    check_positive("temperature", temperature)
    check_embeddings("embeddings", embeddings, 2)
    batch = embeddings.shape[0]
    if batch < 3:
        raise ValueError(f"supcon_out needs at least B >= 3 embeddings, got shape {tuple(embeddings.shape)}")
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape (B,) = ({batch},), got {tuple(labels.shape)}")
    (z,) = prepare(normalize, embeddings)
    not_self = ~torch.eye(batch, dtype=torch.bool, device=z.device)
    positive_mask = (labels.unsqueeze(0) == labels.unsqueeze(1)) & not_self
    num_positives = positive_mask.sum(dim=1)
    has_positive = num_positives > 0
    if not bool(has_positive.any()):
        raise ValueError("labels must contain some label at least twice (no anchor has a positive)")
    log_prob = masked_log_softmax(z @ z.T / temperature, not_self)
    positive_sum = torch.where(positive_mask, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
    rows = -positive_sum / num_positives.clamp(min=1)
    if reduction == "none":
        return torch.where(has_positive, rows, torch.full_like(rows, float("nan")))
    return reduce_rows(rows[has_positive], reduction)


def decoupled(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negatives: torch.Tensor | None = None,
    *,
    temperature: float = 0.1,
    normalize: bool = True,
    symmetric: bool = True,
    same_view_negatives: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    """Decoupled contrastive loss (Yeh et al. 2022): InfoNCE without the positive in the denominator.

    anchor (B, d), positive (B, d), negatives (B, K, d) or None; cosine similarity
    when ``normalize``.

    Explicit negatives: ``l_b = -s(a_b, p_b)/t + log sum_{k=1..K} exp(s(a_b, n_bk)/t)``
    (K candidates). In-batch (``negatives=None``):

        l_b = -s(a_b, p_b)/t + log( sum_{j != b} exp(s(a_b, p_j)/t) [+ sum_{j != b} exp(s(a_b, a_j)/t)] )

    the bracket present when ``same_view_negatives``; ``symmetric`` averages with the
    anchor/positive roles swapped. The defaults (symmetric, same-view negatives,
    2B - 2 candidates) are the paper's Eq. 6 with uniform weight, i.e.
    lightly.loss.DCLLoss. Value with identical embeddings: ``log(number of
    negatives)``; unlike InfoNCE the loss can be negative.

    reduction: "mean", "sum", "none" (B,). In-batch, one direction without same-view
    negatives and the default (both options), the loss has a first derivative only (a second
    one raises); the mixed forms have both.
    Raises ValueError for temperature <= 0, K = 0, mismatched shapes, B < 2 in-batch
    (no negative at all).
    """
    check_positive("temperature", temperature)
    check_pair(anchor, positive)
    _check_in_batch_options(negatives, symmetric, same_view_negatives)
    scale = 1.0 / temperature
    if negatives is not None:
        check_negatives("anchor", anchor, "negatives", negatives)
        anchor, positive, negatives = upcast(anchor, positive, negatives)
        rows = _explicit_rows(anchor, positive, negatives, scale, normalize, include_positive=False)
        return reduce_rows(rows, reduction)
    if anchor.shape[0] < 2:
        raise ValueError(
            f"in-batch decoupled needs batch size B >= 2 (B = 1 has no negative), "
            f"got anchor shape {tuple(anchor.shape)}"
        )
    if symmetric == same_view_negatives:  # one direction alone, or both with same-view negatives: one node
        return _in_batch_node(anchor, positive, scale, normalize, False, reduction, nt_xent=symmetric)
    anchor, positive = prepare(normalize, anchor, positive)
    rows = _in_batch_rows(anchor, positive, scale, same_view_negatives, symmetric, include_positive=False)
    return reduce_rows(rows, reduction)
