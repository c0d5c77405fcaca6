"""Measurements of an ensemble sentence encoder trained with dropout as the augmentation
(the SimCSE++ simulations: off-dropout negatives and the dimension-wise term).

    dropout_arm_loss        per-member dropout InfoNCE of one negative source, with its views
    dropout_gradient_noise  noise and signal of that loss's gradient over draws of dropout
    sentence_metrics        STS analogues, effective rank, anisotropy and the mode gap on probe sentences
    rank_metrics            effective rank, latent read-out, the cross-correlation's identity gap, spectrum
    member_gradient_norms   per-member gradient norms of several per-member losses
    matched_weight          the weight that gives a regulariser a chosen share of the gradient
    gradient_share          a (weighted) regulariser's share of the gradient
    pretrained_ensemble     an ensemble regressed onto anisotropic latent targets (a stand-in for BERT)
    fine_tune_arms          fine-tune one ensemble per loss on shared batches, measuring at checkpoints
    fit_matched_share       train InfoNCE + a regulariser at a matched gradient share, shares at start and end

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
from clustertheory.data.dropout import anisotropic_targets, observations
from clustertheory.functions import dropout_pair, embed
from clustertheory.losses import cross_correlation, dropout_infonce, negative_views
from clustertheory.training.fitting import fit, fit_regression
from clustertheory.utils import torch_generator


def dropout_arm_loss(source: str, encoder, inputs, *, temperature: float, positive_weight: float = 1.0, passes: int = 4):
    """Per-member losses (E,) of ``dropout_infonce`` with the negatives of ``source`` (mean over
    the B anchors), and the views they came from, (h, h_pos, h_bar):

        h, h_pos   two dropout-on passes (:func:`~clustertheory.functions.dropout_pair`), (E, B, d)
        h_bar      ``negative_views(source, ...)``: None for "simcse", the dropout-off pass for
                   "off-dropout", the mean of ``passes`` dropout-on passes for "averaged-dropout"

    The passes run in that order (the dropout stream is drawn in that order).
    """
    h, h_pos = dropout_pair(encoder, inputs)
    h_bar = negative_views(source, encoder, inputs, passes=passes)
    rows = dropout_infonce(h, h_pos, h_bar, temperature=temperature, positive_weight=positive_weight, reduction="none")
    return rows.mean(dim=-1), (h, h_pos, h_bar)


def dropout_gradient_noise(source: str, encoder, inputs, draws: int, *, temperature: float, passes: int = 4) -> list[dict]:
    """Per member, over ``draws`` draws of dropout at fixed parameters and batch (positive weight 1):

        total_variance, signal, noise_to_signal   of the gradient g_r (all parameters of the
                                                  member) of :func:`dropout_arm_loss`, by
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


def fine_tune_arms(start, settings, arms: dict, seeds, train_x, probe_x, probe, config, generator, *, temperature: float, passes: int = 4,
                   checkpoints=(), noise_arms=(), noise_sources=(), noise_draws: int = 16) -> dict:
    """Fine-tune a copy of ``start`` per arm, all arms together (one
    :func:`~clustertheory.training.fitting.fit` over all their parameters), and measure them;
    the off-dropout simulation's run.

    start: an ensemble with one member per draw s = 0..S-1 (seed ``seeds[s]``); arms: arm
    (source, r) -> index, the draws of its members. The arm's ensemble (``settings.copy_members``,
    dropout masks seeded ``seeds[index[0]]`` + the arm's position in ``arms``) is fine-tuned with
    ``dropout_arm_loss(source, positive_weight=r)``. train_x (S, N, D) the draws' training
    sentences; probe_x (S, M, D) and probe (S LatentSentences) their probe sentences; config a
    FitConfig. Every step draws, from ``generator``, config.batch_size rows per draw (with
    replacement), the same for every arm:

        loss = sum over arms, members k and anchors of dropout_arm_loss on train_x[index[k], rows]

    At each step in ``checkpoints``, for each arm in ``noise_arms`` and each source in
    ``noise_sources``: :func:`dropout_gradient_noise` on the first config.batch_size training
    sentences. Returns arm -> per member the rows {"kind": "noise", "step", "measured": source,
    ...} in checkpoint order, then {"kind": "final", **sentence_metrics on the probe sentences}.
    """
    copies = {}
    for arm, index in arms.items():
        copies[arm] = (settings.copy_members(start, index, [seeds[i] for i in index], train_x.device, seeds[index[0]] + len(copies)), index)
    rows = {arm: [[] for _ in index] for arm, index in arms.items()}
    options = {"temperature": temperature, "passes": passes}
    draws = torch.arange(train_x.shape[0], device=train_x.device)[:, None]

    def loss_fn(step: int) -> torch.Tensor:
        index = torch.randint(train_x.shape[1], (train_x.shape[0], config.batch_size), generator=generator, device=train_x.device)
        inputs = train_x[draws, index]
        return sum(dropout_arm_loss(loss, encoder, inputs[index_], positive_weight=r, **options)[0].sum()
                   for (loss, r), (encoder, index_) in copies.items())

    def checkpoint(step: int) -> None:
        for arm, (encoder, index) in copies.items():
            if arm in noise_arms:
                for source in noise_sources:
                    measured = dropout_gradient_noise(source, encoder, train_x[:, : config.batch_size][index], noise_draws, **options)
                    for member, row in zip(rows[arm], measured):
                        member.append({"kind": "noise", "step": step, "measured": source, **row})

    fit([p for encoder, _ in copies.values() for p in encoder.parameters()], loss_fn, config, checkpoints=checkpoints, on_checkpoint=checkpoint)
    for arm, (encoder, index) in copies.items():
        for member, row in zip(rows[arm], sentence_metrics(encoder, probe_x[index], [probe[j] for j in index])):
            member.append({"kind": "final", **row})
    return rows


def fit_matched_share(encoder, train_x, methods: list[str], regularisers: dict, config, generator, *, temperature: float, share: float) -> dict:
    """Train member e of ``encoder`` with InfoNCE plus its method's regulariser at the weight that
    gives the regulariser ``share`` of the gradient at the start, and measure the share again at
    the end; the dimension-wise simulation's run at one batch size.

        L_e = dropout_infonce(h_e, h_e+) + lambda_e R_{methods[e]}(h_e, h_e+),
        lambda_e = matched_weight(||grad InfoNCE||, ||grad R||, share) on a first batch

    train_x (E, N, D) member e's training sentences; methods (E,) grouped (equal methods
    contiguous); ``regularisers[method](h, h_pos)`` -> (E_method,) for the members of that method
    (a method without one: InfoNCE alone, R = 0, lambda = 0). Every loss evaluation draws, from
    ``generator``, config.batch_size rows per member (with replacement) and one dropout pair;
    ``fit`` runs config.steps steps of config (a FitConfig). Returns {"weight": lambda (E,) tensor,
    "start_share", "end_share": lists (E,)} (:func:`gradient_share` of lambda ||grad R||).
    """
    groups = [(m, [i for i, method in enumerate(methods) if method == m]) for m in dict.fromkeys(methods)]
    groups = [(m, slice(index[0], index[-1] + 1)) for m, index in groups]
    if any(g.stop - g.start != methods.count(m) for m, g in groups):
        raise ValueError("members of a method must be contiguous in methods")
    members = torch.arange(len(methods), device=train_x.device)[:, None]

    def losses():
        """Per-member InfoNCE and regulariser (E,), (E,) on a fresh batch per member."""
        x = train_x[members, torch.randint(train_x.shape[1], (len(methods), config.batch_size), generator=generator, device=train_x.device)]
        h, h_pos = dropout_pair(encoder, x)
        instance = dropout_infonce(h, h_pos, temperature=temperature, reduction="none").mean(-1)
        extra = [regularisers[m](h[g], h_pos[g]) if m in regularisers else torch.zeros(g.stop - g.start, device=h.device) for m, g in groups]
        return instance, torch.cat(extra)

    g_main, g_extra = member_gradient_norms(encoder, *losses())
    weight = matched_weight(g_main, g_extra, share)
    start_share = gradient_share(g_main, weight * g_extra).tolist()

    def loss_fn(step: int) -> torch.Tensor:
        instance, extra = losses()
        return (instance + weight * extra).sum()

    fit(encoder, loss_fn, config)
    g_main, g_extra = member_gradient_norms(encoder, *losses())
    return {"weight": weight, "start_share": start_share, "end_share": gradient_share(g_main, g_extra * weight).tolist()}


def pretrained_ensemble(settings, sentences, seeds, anisotropy: float, config, device=None):
    """An ensemble of ``settings`` (one member per seed, member e from ``seeds[e]``) regressed in
    training mode (dropout on) onto anisotropic targets of its sentences' full latent: a stand-in
    for a pretrained encoder such as BERT (content-aware, with mean cosine about ``anisotropy``
    between sentences).

    sentences: one LatentSentences per member; targets ``anisotropic_targets(latent,
    settings.out_dim, anisotropy, seed=seeds[e])``; :func:`~clustertheory.training.fitting.fit_regression`
    with config (a FitConfig), batches drawn from a generator seeded ``seeds[0] + 7``, on ``device``.
    """
    encoder = settings.build(sentences[0].obs.shape[1], seeds, device)
    device = next(encoder.parameters()).device  # None: where build put it
    targets = [anisotropic_targets(t.latent, settings.out_dim, anisotropy, seed=s) for t, s in zip(sentences, seeds)]
    fit_regression(encoder, observations(sentences, device), torch.stack([torch.as_tensor(t) for t in targets]).to(device),
                   config, torch_generator(seeds[0] + 7, device))
    return encoder
