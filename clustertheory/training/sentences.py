"""Training ensemble sentence encoders with dropout as the augmentation (SimCSE, SimCSE++):
regression pretraining, the arms' fine-tuning and training at a matched gradient share; what
is measured on them is in :mod:`clustertheory.analysis.sentences`.
"""

from __future__ import annotations

import torch

from ..analysis.sentences import (
    dropout_gradient_noise,
    gradient_share,
    matched_weight,
    member_gradient_norms,
    sentence_metrics,
)
from ..data.dropout import anisotropic_targets, observations
from ..functions import dropout_pair
from ..losses import dropout_arm_loss, dropout_infonce
from ..utils import torch_generator
from .fitting import fit, fit_regression


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
