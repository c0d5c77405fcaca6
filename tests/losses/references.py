"""Naive float64 references for every loss: explicit loops over anchors and candidates,
plain ``math`` arithmetic, written straight from the docstring formulas.

They share no code with clustertheory.losses, so agreement is evidence, not tautology.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def as_array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to(torch.float64).cpu().numpy()


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.sqrt(np.sum(vector * vector))), 1e-12)


def dot(u: np.ndarray, v: np.ndarray) -> float:
    return float(sum(float(a) * float(b) for a, b in zip(u, v)))


def logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _rows(x: torch.Tensor, normalize: bool) -> list[np.ndarray]:
    arr = as_array(x)
    return [unit(r) if normalize else r for r in arr]


def infonce_explicit(anchor, positive, negatives, temperature, normalize=True) -> list[float]:
    a, p = _rows(anchor, normalize), _rows(positive, normalize)
    negs = as_array(negatives)
    losses = []
    for b in range(len(a)):
        pos = dot(a[b], p[b]) / temperature
        cands = [pos] + [dot(a[b], unit(n) if normalize else n) / temperature for n in negs[b]]
        losses.append(-pos + logsumexp(cands))
    return losses


def in_batch(anchor, positive, temperature, normalize=True, same_view=False, include_positive=True) -> list[float]:
    a, p = _rows(anchor, normalize), _rows(positive, normalize)
    losses = []
    for i in range(len(a)):
        cands = [dot(a[i], p[j]) / temperature for j in range(len(a)) if include_positive or j != i]
        if same_view:
            cands += [dot(a[i], a[j]) / temperature for j in range(len(a)) if j != i]
        losses.append(-dot(a[i], p[i]) / temperature + logsumexp(cands))
    return losses


def symmetric_in_batch(anchor, positive, temperature, **kwargs) -> list[float]:
    forward = in_batch(anchor, positive, temperature, **kwargs)
    backward = in_batch(positive, anchor, temperature, **kwargs)
    return [0.5 * (f + b) for f, b in zip(forward, backward)]


def decoupled_explicit(anchor, positive, negatives, temperature, normalize=True) -> list[float]:
    a, p = _rows(anchor, normalize), _rows(positive, normalize)
    negs = as_array(negatives)
    losses = []
    for b in range(len(a)):
        cands = [dot(a[b], unit(n) if normalize else n) / temperature for n in negs[b]]
        losses.append(-dot(a[b], p[b]) / temperature + logsumexp(cands))
    return losses


def hypercube(codes, positive_codes, negative_codes, beta) -> list[float]:
    z, zp, zn = as_array(codes), as_array(positive_codes), as_array(negative_codes)
    return [
        math.log(1 + sum(math.exp(beta * dot(z[b], zi - zp[b])) for zi in zn[b]))
        for b in range(len(z))
    ]


def hypercube_batched(codes, positive_codes, negative_codes, beta_of, active_of=None) -> np.ndarray:
    """Per-anchor loss over any batch shape S: loops over every index s of S.

    beta_of(s) gives beta for batch index s (a tuple); active_of(s, i) whether negative i
    counts (every negative when None)."""
    z, zp, zn = as_array(codes), as_array(positive_codes), as_array(negative_codes)
    out = np.zeros(z.shape[:-1])
    for s in np.ndindex(*z.shape[:-1]):
        beta = beta_of(s)
        terms = [math.exp(beta * dot(z[s], zi - zp[s])) for i, zi in enumerate(zn[s]) if active_of is None or active_of(s, i)]
        out[s] = math.log(1 + sum(terms))
    return out


def supcon(embeddings, labels, temperature, normalize=True) -> list[float]:
    """Per-anchor L_out; None for anchors without a positive."""
    z = _rows(embeddings, normalize)
    y = labels.tolist()
    losses = []
    for i in range(len(z)):
        others = [a for a in range(len(z)) if a != i]
        log_denominator = logsumexp([dot(z[i], z[a]) / temperature for a in others])
        positives = [p for p in others if y[p] == y[i]]
        if not positives:
            losses.append(None)
            continue
        total = sum(dot(z[i], z[p]) / temperature - log_denominator for p in positives)
        losses.append(-total / len(positives))
    return losses


def debiased_exp_space(anchor, positive, negatives, temperature, tau_plus, hardness=0.0, normalize=True):
    """Robinson et al.'s reference code in float64 exp space; returns (losses, clamp_active)."""
    a, p = _rows(anchor, normalize), _rows(positive, normalize)
    negs = as_array(negatives)
    losses, clamped = [], []
    for b in range(len(a)):
        pos = math.exp(dot(a[b], p[b]) / temperature)
        neg = [math.exp(dot(a[b], unit(n) if normalize else n) / temperature) for n in negs[b]]
        count = len(neg)
        importance = [e**hardness for e in neg]
        reweighted = sum(w * e for w, e in zip(importance, neg)) / (sum(importance) / count)
        estimate = (reweighted - tau_plus * count * pos) / (1 - tau_plus)
        floor = count * math.exp(-1 / temperature)
        clamped.append(estimate < floor)
        ng = max(estimate, floor)
        losses.append(-math.log(pos / (pos + ng)))
    return losses, clamped


def standardized_columns(z: np.ndarray, eps: float) -> np.ndarray:
    n, d = z.shape
    out = np.zeros_like(z)
    for k in range(d):
        column = [float(z[i, k]) for i in range(n)]
        mean = sum(column) / n
        var = sum((c - mean) ** 2 for c in column) / n
        for i in range(n):
            out[i, k] = (column[i] - mean) / math.sqrt(var + eps)
    return out


def correlation(z1, z2, eps=1e-5) -> np.ndarray:
    s1, s2 = standardized_columns(as_array(z1), eps), standardized_columns(as_array(z2), eps)
    n, d = s1.shape
    return np.array([[sum(s1[i, k] * s2[i, j] for i in range(n)) / n for j in range(d)] for k in range(d)])


def dimension_wise(z1, z2, temperature_d, eps=1e-5) -> float:
    c = correlation(z1, z2, eps) / temperature_d
    d = c.shape[0]
    return sum(-c[k, k] + logsumexp([c[k, j] for j in range(d)]) for k in range(d)) / d


def barlow(z1, z2, lambda_offdiag, eps=1e-5) -> float:
    c = correlation(z1, z2, eps)
    d = c.shape[0]
    on = sum((1 - c[k, k]) ** 2 for k in range(d))
    off = sum(c[k, j] ** 2 for k in range(d) for j in range(d) if k != j)
    return on + lambda_offdiag * off


def off_dropout(h, h_pos, h_bar, temperature, positive_weight) -> list[float]:
    hh, hp, hb = _rows(h, True), _rows(h_pos, True), _rows(h_bar, True)
    losses = []
    for i in range(len(hh)):
        pos = positive_weight * dot(hh[i], hp[i]) / temperature
        cands = [pos] + [dot(hb[i], hb[j]) / temperature for j in range(len(hh)) if j != i]
        losses.append(-pos + logsumexp(cands))
    return losses
