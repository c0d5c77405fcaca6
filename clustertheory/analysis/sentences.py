"""Measurements of an ensemble sentence encoder trained with dropout as the augmentation
(the SimCSE++ simulations: off-dropout negatives and the dimension-wise term).

    dropout_gradient_noise  noise and signal of the gradient of ``losses.dropout_arm_loss`` (one
                            negative source) over draws of dropout
    sentence_metrics        STS analogues, effective rank, anisotropy and the mode gap on probe sentences
    rank_metrics            effective rank, latent read-out, the cross-correlation's identity gap, spectrum
    member_gradient_norms   per-member gradient norms of several per-member losses
    matched_weight          the weight that gives a regulariser a chosen share of the gradient
    gradient_share          a (weighted) regulariser's share of the gradient

The training that uses them (pretraining, the arms' fine-tuning, training at a matched
gradient share) is in :mod:`clustertheory.training.sentences`.

Shapes: an :class:`~clustertheory.functions.EnsembleMLP` of E members; inputs (E, B, D) (or
(B, D), the same for every member); per-member losses (E,); probe sentences
(:class:`~clustertheory.data.dropout.LatentSentences`), one per member.
"""

from __future__ import annotations

import numpy as np
import torch

from clustertheory.analysis.embedding import (
    covariance_spectrum,
    draw_variance,
    effective_rank,
    gradient_noise,
    linear_regression_probe,
    probe_split,
    similarity_spearman,
)
from clustertheory.config import check_positive_int
from clustertheory.functions import dropout_pair, embed
from clustertheory.losses import cross_correlation, dropout_arm_loss


def dropout_gradient_noise(source: str, encoder, inputs, draws: int, *, temperature: float, passes: int = 4) -> list[dict]:
    """Per member, over ``draws`` draws of dropout at fixed parameters and batch (positive weight 1):

        total_variance, signal, noise_to_signal   of the gradient g_r (all parameters of the
                                                  member) of :func:`~clustertheory.losses.dropout_arm_loss`, by
                                                  :func:`~clustertheory.analysis.embedding.gradient_noise`
        neg_sim_variance        variance over draws of the negative cosines s(u_i, v_j), i != j
                                ((u, v) = (h, h_pos) for "simcse", (h_bar, h_bar) otherwise)
        pos_sim_variance        variance over draws of the positive cosines s(h_i, h_i+)
        neg_embedding_variance  variance over draws of the embeddings u the negatives come from

    (variances by :func:`~clustertheory.analysis.embedding.draw_variance`). The dropout stream
    of training (``encoder.mask_generator``) is restored afterwards, and the gradients cleared.
    """
    check_positive_int("draws", draws)
    state = encoder.mask_generator.get_state()
    grads, samples = [], []
    for _ in range(draws):
        encoder.zero_grad(set_to_none=True)
        losses, (h, h_pos, h_bar) = dropout_arm_loss(source, encoder, inputs, temperature=temperature, passes=passes)
        losses.sum().backward()
        grads.append(torch.cat([p.grad.reshape(encoder.members, -1) for p in encoder.parameters()], dim=1))
        with torch.no_grad():
            left, right = (h, h_pos) if h_bar is None else (h_bar, h_bar)
            unit = [torch.nn.functional.normalize(v, dim=-1) for v in (h, h_pos, left, right)]
            samples.append(((unit[2] @ unit[3].transpose(1, 2)).numpy(), (unit[0] * unit[1]).sum(-1).numpy(), left.numpy()))
    encoder.zero_grad(set_to_none=True)
    encoder.mask_generator.set_state(state)
    grads = torch.stack(grads).numpy()  # (R, E, P)
    negatives, positives, embeddings = (np.stack(d) for d in zip(*samples))
    off = ~np.eye(inputs.shape[-2], dtype=bool)
    return [{**gradient_noise(grads[:, e]), "neg_sim_variance": draw_variance(negatives[:, e][:, off]),
             "pos_sim_variance": draw_variance(positives[:, e]), "neg_embedding_variance": draw_variance(embeddings[:, e])}
            for e in range(encoder.members)]


def sentence_metrics(encoder, probe_x, probe) -> list[dict]:
    """Per member e, on its probe sentences ``probe[e]`` (inputs ``probe_x`` (E, N, D)):

        content_spearman, latent_spearman   Spearman of the dropout-off embeddings' cosines with
                                            those of the content latent / the full latent (STS
                                            analogues, :func:`~clustertheory.analysis.embedding.similarity_spearman`)
        effective_rank                      of the dropout-off embeddings
        mean_cosine                         mean cosine between different sentences, dropout off (anisotropy)
        mode_gap                            mean cosine s(h_i, h_j+) of two dropout-on passes over
                                            i != j, minus mean_cosine (how far training-mode
                                            embeddings align beyond eval-mode ones)
    """
    z = embed(encoder, probe_x).numpy()
    with torch.no_grad():
        h, h_pos = (torch.nn.functional.normalize(v, dim=-1) for v in dropout_pair(encoder, probe_x))
    unit = torch.nn.functional.normalize(torch.as_tensor(z), dim=-1)
    off = ~torch.eye(probe_x.shape[-2], dtype=torch.bool)
    dropout_on, dropout_off = (h @ h_pos.transpose(1, 2))[:, off].mean(1), (unit @ unit.transpose(1, 2))[:, off].mean(1)
    content = [similarity_spearman(z[e], probe[e].content_latent) for e in range(len(z))]
    latent = [similarity_spearman(z[e], probe[e].latent) for e in range(len(z))]
    return [{"content_spearman": content[e], "latent_spearman": latent[e], "effective_rank": effective_rank(z[e]),
             "mean_cosine": float(dropout_off[e]), "mode_gap": float(dropout_on[e] - dropout_off[e])} for e in range(len(z))]


def rank_metrics(encoder, probe_x, probe, batch_size: int, split_seeds) -> list[dict]:
    """Per member e, on its probe sentences ``probe[e]`` (inputs ``probe_x`` (E, N, D)):

        effective_rank       of the dropout-off embeddings z (N, d)
        latent_r2            test R^2 of a ridge read-out of the full latent from z, on the
                             split ``probe_split(N, seed=split_seeds[e])``
        identity_gap         ||C - I||_F^2, C = ``cross_correlation`` of two dropout-on passes
                             over the first ``batch_size`` = B probe sentences
        identity_gap_bound   max(d - (B - 1), 0): rank C <= B - 1 keeps the gap at least this
        spectrum             the covariance spectrum of z (d,), normalised to trace 1
    """
    check_positive_int("batch_size", batch_size)
    z = embed(encoder, probe_x).numpy()
    with torch.no_grad():
        h, h_pos = dropout_pair(encoder, probe_x[:, :batch_size])
        c = cross_correlation(h, h_pos).numpy()
    d = c.shape[-1]
    return [{"effective_rank": effective_rank(z[e]),
             "latent_r2": linear_regression_probe(z[e], probe[e].latent, probe_split(len(z[e]), seed=seed))["r2"],
             "identity_gap": float(np.square(c[e] - np.eye(d)).sum()), "identity_gap_bound": float(max(d - (batch_size - 1), 0)),
             "spectrum": covariance_spectrum(z[e])} for e, seed in enumerate(split_seeds)]


def member_gradient_norms(encoder, *losses: torch.Tensor) -> list[torch.Tensor]:
    """For each per-member loss (E,): the norms (E,) of the gradient of its sum over ``encoder``'s
    parameters, member by member (slice e of every parameter tensor is member e's):

        ||grad_e L||  = sqrt( sum over parameter tensors p of ||d (sum_e' L_e') / d p[e]||^2 )

    The graph is kept (the losses may share it, and may be used afterwards)."""
    params = list(encoder.parameters())
    norms = []
    for loss in losses:
        grads = torch.autograd.grad(loss.sum(), params, retain_graph=True, allow_unused=True)
        norms.append(torch.sqrt(sum(g.reshape(encoder.members, -1).pow(2).sum(1) for g in grads if g is not None)))
    return norms


def matched_weight(g_main: torch.Tensor, g_extra: torch.Tensor, share: float) -> torch.Tensor:
    """The weight lambda (E,) that gives a regulariser ``share`` of the gradient norm,

        lambda ||grad R|| / (||grad L|| + lambda ||grad R||) = share
        =>  lambda = share / (1 - share) ||grad L|| / ||grad R||,   0 where ||grad R|| = 0

    from the norms g_main = ||grad L||, g_extra = ||grad R|| (E,) (:func:`member_gradient_norms`)."""
    return (share / (1 - share) * g_main / g_extra.clamp(min=1e-30)).where(g_extra > 0, torch.zeros_like(g_extra))


def gradient_share(g_main: torch.Tensor, g_weighted: torch.Tensor) -> torch.Tensor:
    """The share g_weighted / (g_main + g_weighted) of a weighted regulariser's gradient norm
    (g_weighted = lambda ||grad R||) beside the main loss's ||grad L|| (E,)."""
    return g_weighted / (g_main + g_weighted)


