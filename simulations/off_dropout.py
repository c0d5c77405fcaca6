"""Off-dropout negatives (SimCSE++, Xu et al. EMNLP 2023, arXiv 2305.13192).

Dropout is the only augmentation: a layer-normalised MLP encoder with dropout is run twice on
the same latent sentence (clustertheory.data.dropout) and the two passes are the positive pair.
By default the encoder starts "pretrained", as SimCSE starts from BERT: regressed onto the
sentence latent plus a shared offset (content-aware but anisotropic), then fine-tuned briefly
by one of four losses, every seed of a loss as one ensemble, all from the same weights:

    simcse              negatives s(h_i, h_j+) from the dropout passes (unsupervised SimCSE)
    off-dropout         negatives s(hbar_i, hbar_j) from a dropout-off pass, positive weight r
                        (one run per r in ``positive_weights``: the paper's 1, and 0.9)
    averaged-dropout    negatives from the mean of ``average_passes`` dropout-on passes: the same
                        mode as the positives with less noise (the control that separates the
                        dropout noise from the train / eval mismatch)

Measured at checkpoints, at the parameters of the simcse- and the off-dropout-trained encoder,
on a fixed batch over ``noise_draws`` draws of dropout: the noise-to-signal ratio of every
loss's gradient (the paper's argument) and, as diagnostics, its total variance and the variance
of the negative and positive similarities. After training (and for the starting encoder), on
fresh sentences with dropout off: the Spearman correlation of embedding cosines with the cosines
of the content latent and of the full latent (STS analogues), the effective rank, the mean
cosine between sentences (anisotropy), and how far the dropout-on embeddings of different
sentences align beyond the dropout-off ones (the train / eval shortcut).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from clustertheory.analysis import arms
from clustertheory.analysis.embedding import (
    draw_variance,
    effective_rank,
    gradient_noise,
    similarity_spearman,
)
from clustertheory.config import Boolean, Integer, Real, TupleOf
from clustertheory.data import SentenceSettings
from clustertheory.data.dropout import anisotropic_targets
from clustertheory.functions import EncoderSettings, EnsembleMLP, dropout_pair, embed
from clustertheory.losses import dropout_infonce, negative_views
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.training.fitting import FitConfig, fit
from clustertheory.utils import torch_generator

NAME = "off-dropout"
SUMMARY = "SimCSE++ off-dropout negatives on a pretrained, layer-normalised encoder: gradient noise-to-signal, a same-mode control, STS analogues"

MEASURED = ("simcse", "off-dropout", "averaged-dropout")  # the losses whose gradient noise is measured


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Latent sentences (``data``), the encoder, its pretraining and fine-tuning (``pretrain``,
    ``train``) and the claims' thresholds.

    dropout 0.1, temperature 0.05, batch 64: SimCSE's unsupervised settings. anisotropy 0.6:
    the mean cosine between random sentences of the pretrained encoder (BERT's last layer is
    about that anisotropic). train.steps 150: a brief fine-tuning, as SimCSE's one epoch is
    brief against BERT's pretraining. positive_weights: the paper's r, 1 (default) and 0.9.
    average_passes 4: the control's negatives keep a quarter of the dropout noise variance.
    noise_draws 16 draws of dropout per gradient measurement. sts_sentences: the probe
    sentences whose pairs the Spearman correlations run over.
    minimal_noise_ratio 0.9: the paper's argument counts if off-dropout cuts the gradient's
    noise-to-signal ratio by at least 10 %. minimal_spearman 0.01: one point of Spearman x 100,
    the unit STS results are reported in. min_metric_response 0.02: the STS analogue must move
    by at least that much under SimCSE fine-tuning to count as a measure of what it learns.
    max_mode_gap 0.2: dropout-on embeddings of different sentences may align by at most that
    much more than dropout-off ones (beyond it, off-dropout training has found a mode shortcut).
    """

    data: SentenceSettings = SentenceSettings()
    encoder: EncoderSettings = EncoderSettings(out_dim=32, width=64, depth=2, dropout=0.1, layer_norm=True)
    pretrained: bool = True
    anisotropy: float = 0.6
    pretrain: FitConfig = FitConfig(steps=200, lr=3e-3, batch_size=64)
    train: FitConfig = FitConfig(steps=150, lr=1e-3, batch_size=64)
    temperature: float = 0.05
    positive_weights: tuple = (1.0, 0.9)
    average_passes: int = 4
    checkpoints: tuple = (75, 150)
    noise_draws: int = 16
    sts_sentences: int = 160
    seeds: int = 10
    minimal_noise_ratio: float = 0.9
    minimal_spearman: float = 0.01
    min_metric_response: float = 0.02
    max_mode_gap: float = 0.2

    constraints = {
        "pretrained": Boolean(),
        "anisotropy": Real(0, 1, open_hi=True),
        "temperature": Real(0, open_lo=True),
        "positive_weights": TupleOf(Real(0, open_lo=True), distinct=True),
        "average_passes": Integer(2),
        "checkpoints": TupleOf(Integer(1), increasing=True),
        "noise_draws": Integer(2),
        "sts_sentences": Integer(3),
        "seeds": Integer(2),
        "minimal_noise_ratio": Real(0, 1, open_lo=True, open_hi=True),
        "minimal_spearman": Real(0, open_lo=True),
        "min_metric_response": Real(0, open_lo=True),
        "max_mode_gap": Real(0, open_lo=True),
    }

    def validate(self) -> None:
        if self.encoder.out_dim < 2 or self.encoder.depth < 1 or self.encoder.dropout == 0:
            raise ValueError("encoder needs out_dim >= 2, depth >= 1 and dropout > 0 (dropout is the only augmentation)")
        if self.checkpoints[-1] > self.train.steps:
            raise ValueError(f"checkpoints must lie in [1, train.steps = {self.train.steps}], got {self.checkpoints}")
        if self.train.batch_size < 2 or self.train.batch_size > self.data.train_sentences:
            raise ValueError(f"train.batch_size must be in [2, data.train_sentences = {self.data.train_sentences}], got {self.train.batch_size}")
        if self.sts_sentences > self.data.probe_sentences:
            raise ValueError(f"sts_sentences must be <= data.probe_sentences = {self.data.probe_sentences}, got {self.sts_sentences}")


SCALES = {
    "default": Config(),
    "paper": Config(data=SentenceSettings(train_sentences=8192, probe_sentences=1024), encoder=EncoderSettings(out_dim=64, width=256, depth=2, dropout=0.1, layer_norm=True), seeds=20,
                    train=FitConfig(steps=500, lr=1e-3, batch_size=64), checkpoints=(100, 250, 500), noise_draws=32),
}


# ----------------------------------------------------------------------------- losses


def arm_names(config: Config) -> list[tuple[str, float]]:
    """(loss, positive weight r) of every arm."""
    return [("simcse", 1.0)] + [("off-dropout", r) for r in config.positive_weights] + [("averaged-dropout", 1.0)]


def member_losses(kind: str, r: float, encoder, inputs, config: Config):
    """Per-member losses (E,), and the positive pair and negative embedding they came from."""
    h, h_pos = dropout_pair(encoder, inputs)
    h_bar = negative_views(kind, encoder, inputs, passes=config.average_passes)
    rows = dropout_infonce(h, h_pos, h_bar, temperature=config.temperature, positive_weight=r, reduction="none")
    return rows.mean(dim=-1), (h, h_pos, h_bar)


# ----------------------------------------------------------------------------- measurements


def measure_noise(kind: str, encoder, inputs, config: Config) -> list[dict]:
    """Per member, over ``noise_draws`` dropout draws at fixed parameters and batch: the
    gradient's noise and signal (gradient_noise), and the variance over draws of the negative and
    positive similarities and of the embeddings the negatives come from. The dropout stream of
    training is left where it was."""
    state = encoder.mask_generator.get_state()
    grads, draws = [], []
    for _ in range(config.noise_draws):
        encoder.zero_grad(set_to_none=True)
        losses, (h, h_pos, h_bar) = member_losses(kind, 1.0, encoder, inputs, config)
        losses.sum().backward()
        grads.append(torch.cat([p.grad.reshape(encoder.members, -1) for p in encoder.parameters()], dim=1))
        with torch.no_grad():
            left, right = (h, h_pos) if h_bar is None else (h_bar, h_bar)
            unit = [torch.nn.functional.normalize(v, dim=-1) for v in (h, h_pos, left, right)]
            draws.append(((unit[2] @ unit[3].transpose(1, 2)).numpy(), (unit[0] * unit[1]).sum(-1).numpy(), left.numpy()))
    encoder.zero_grad(set_to_none=True)
    encoder.mask_generator.set_state(state)
    grads = torch.stack(grads).numpy()  # (R, E, P)
    negatives, positives, embeddings = (np.stack(d) for d in zip(*draws))
    off = ~np.eye(inputs.shape[-2], dtype=bool)
    return [{**gradient_noise(grads[:, e]), "neg_sim_variance": draw_variance(negatives[:, e][:, off]),
             "pos_sim_variance": draw_variance(positives[:, e]), "neg_embedding_variance": draw_variance(embeddings[:, e])}
            for e in range(encoder.members)]


def downstream(encoder, probe_x, probe, config: Config) -> list[dict]:
    """Per member, dropout off, on the probe sentences: STS analogues, effective rank,
    anisotropy; and the mode gap (dropout on minus dropout off mean cosine) on the same sentences."""
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


# ----------------------------------------------------------------------------- a run


def pretrained_encoder(config: Config, train, seeds: list[int], ctx: RunContext) -> EnsembleMLP:
    """One member per seed: random, or regressed (dropout on) onto anisotropic latent targets."""
    encoder = config.encoder.build(config.data.obs_dim, seeds, ctx.device)
    if not config.pretrained:
        return encoder
    x = torch.stack([torch.as_tensor(t.obs) for t in train]).to(ctx.device)
    targets = torch.stack([torch.as_tensor(anisotropic_targets(t.latent, config.encoder.out_dim, config.anisotropy, seed=s)) for t, s in zip(train, seeds)]).to(ctx.device)
    batches = torch_generator(seeds[0] + 7, ctx.device)
    rows = torch.arange(len(seeds), device=ctx.device)[:, None]

    def loss(step: int) -> torch.Tensor:
        index = torch.randint(x.shape[1], (len(seeds), config.pretrain.batch_size), generator=batches, device=ctx.device)
        return (encoder.train()(x[rows, index]) - targets[rows, index]).pow(2).sum(-1).mean(-1).sum()

    fit(encoder, loss, config.pretrain)
    return encoder


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [{"loss": loss, "positive_weight": r, "seed": s} for loss, r in arm_names(config) for s in range(config.seeds)]
    return ctx.sweep_batched(units, None, lambda batch: train_arms(config, batch, ctx), desc=NAME)


def train_arms(config: Config, units: list[dict], ctx: RunContext) -> list[list[dict]]:
    """Pretrain one encoder per seed, fine-tune a copy per arm (every arm's seeds as one ensemble)."""
    seed_list = sorted({u["seed"] for u in units})
    seed_values = [ctx.seed_for(NAME, s) for s in seed_list]
    drawn = [config.data.draw(v) for v in seed_values]
    train_x = torch.stack([torch.as_tensor(t.obs) for t, _ in drawn]).to(ctx.device)
    probe = [p.take(slice(0, config.sts_sentences)) for _, p in drawn]
    probe_x = torch.stack([torch.as_tensor(p.obs) for p in probe]).to(ctx.device)
    start = pretrained_encoder(config, [t for t, _ in drawn], seed_values, ctx)
    initial = downstream(start, probe_x, probe, config)
    arms_ = {}
    for loss, r in arm_names(config):
        members = [i for i, u in enumerate(units) if (u["loss"], u["positive_weight"]) == (loss, r)]
        if members:
            index = [seed_list.index(units[i]["seed"]) for i in members]
            encoder = config.encoder.build(config.data.obs_dim, [seed_values[i] for i in index], ctx.device, mask_seed=seed_values[index[0]] + len(arms_))
            encoder.load_state_dict({k: v[index] for k, v in start.state_dict().items()})
            arms_[(loss, r)] = (encoder, members, index)
    batches = torch_generator(seed_values[0] + 11, ctx.device)
    rows = [[{"kind": "start", **initial[seed_list.index(u["seed"])]}] for u in units]
    noise_batch = train_x[:, : config.train.batch_size]

    def loss_fn(step: int) -> torch.Tensor:
        index = torch.randint(train_x.shape[1], (len(seed_list), config.train.batch_size), generator=batches, device=ctx.device)
        inputs = train_x[torch.arange(len(seed_list), device=ctx.device)[:, None], index]
        return sum(member_losses(loss, r, encoder, inputs[index_], config)[0].sum() for (loss, r), (encoder, _, index_) in arms_.items())

    def checkpoint(step: int) -> None:
        for (loss, r), (encoder, members, index) in arms_.items():
            if (loss, r) in (("simcse", 1.0), ("off-dropout", 1.0)):
                for kind in MEASURED:
                    for i, row in zip(members, measure_noise(kind, encoder, noise_batch[index], config)):
                        rows[i].append({"kind": "noise", "step": step, "measured": kind, **row})

    fit([p for encoder, _, _ in arms_.values() for p in encoder.parameters()], loss_fn, config.train,
        checkpoints=config.checkpoints, on_checkpoint=checkpoint)
    for encoder, members, index in arms_.values():
        for i, row in zip(members, downstream(encoder, probe_x[index], [probe[j] for j in index], config)):
            rows[i].append({"kind": "final", **row})
    return rows


# ----------------------------------------------------------------------------- verdict

SOURCE = "Xu et al. 2023 (SimCSE++), Sec. 3"


def noise_log_ratios(rows: list[dict], measured: str) -> np.ndarray:
    """Per seed: mean over checkpoints and both trained encoders (simcse, off-dropout r = 1) of
    log(noise-to-signal of ``measured`` / noise-to-signal of simcse), at the same parameters."""
    noise = arms.select(rows, kind="noise")
    values: dict[int, list[float]] = {}
    for r in arms.select(noise, measured=measured):
        twin = arms.select(noise, measured="simcse", seed=r["seed"], loss=r["loss"], step=r["step"])[0]
        values.setdefault(r["seed"], []).append(math.log(r["noise_to_signal"] / twin["noise_to_signal"]))
    return np.array([np.mean(v) for _, v in sorted(values.items())])


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Package checks (off-dropout negatives noiseless, SimCSE's noisy, the control's variance cut
    by about its number of passes, gradient signal resolved) and the paper's claims."""
    noise, finals = arms.select(rows, kind="noise"), arms.select(rows, kind="final")
    variance = {kind: np.array([r["neg_sim_variance"] for r in arms.select(noise, measured=kind)]) for kind in MEASURED}
    simcse_variance = float(np.mean(variance["simcse"]))
    control_ratio = float(np.mean(variance["averaged-dropout"])) / simcse_variance if simcse_variance > 0 else float("inf")
    averaging = np.mean([r["neg_embedding_variance"] for r in arms.select(noise, measured="averaged-dropout")]) / np.mean(
        [r["neg_embedding_variance"] for r in arms.select(noise, measured="simcse")])
    signal = min(r["signal"] for r in noise)
    checks = [
        Check.at_most("off-dropout negatives carry no dropout noise (max variance of s(hbar_i, hbar_j) over draws)", float(variance["off-dropout"].max()), 1e-12),
        Check.above("SimCSE negatives carry dropout noise (min variance of s(h_i, h_j+) over draws)", float(variance["simcse"].min()), 0.0),
        Check.within("the control averages independent passes: its embeddings' variance over draws is 1/average_passes of one pass's (within 20 %)",
                     float(averaging), 1 / config.average_passes, 0.2 / config.average_passes),
        Check.above("the gradient signal is resolved at every measurement (min unbiased ||E g||^2)", signal, 0.0),
    ]
    start = arms.select(rows, kind="start")

    def responds(key):
        moves = [abs(np.mean([r[key] for r in arms.select(finals, loss=l, positive_weight=w)]) - np.mean([r[key] for r in arms.select(start, loss=l, positive_weight=w)]))
                 for l, w in arm_names(config)]
        return Check.at_least(f"fine-tuning moves the {key} (largest change of an arm's mean from the start)", float(max(moves)), config.min_metric_response)

    def no_shortcut(r):
        gap = max(x["mode_gap"] for x in arms.select(finals, loss="off-dropout", positive_weight=r))
        return Check.at_most(f"no train / eval shortcut: dropout-on minus dropout-off mean cosine, off-dropout r={r} (max)", gap, config.max_mode_gap)

    def spearman(name, key, loss, r, statement, preconditions):
        t = np.array(list(arms.per_seed(finals, key, loss=loss, positive_weight=r).values()))
        c = np.array(list(arms.per_seed(finals, key, loss="simcse").values()))
        return Claim.from_paired(name, SOURCE, statement, t, c, f"{key}, {loss} (r={r}) - simcse", minimal_effect=config.minimal_spearman, preconditions=preconditions)

    r0 = config.positive_weights[0]
    claims = [
        Claim.from_mean("noise-to-signal", SOURCE, "negatives from a dropout-off pass lower the noise-to-signal ratio of the gradient",
                        noise_log_ratios(rows, "off-dropout"), "log(noise-to-signal off-dropout / SimCSE), same parameters",
                        minimal_effect=math.log(config.minimal_noise_ratio), direction="less", preconditions=[checks[3]]),
        spearman("off-dropout-content-sts", "content_spearman", "off-dropout", r0, "off-dropout negatives improve the STS analogue (content similarity)",
                 [responds("content_spearman"), no_shortcut(r0)]),
        spearman("off-dropout-latent-sts", "latent_spearman", "off-dropout", r0, "off-dropout negatives improve the STS analogue (similarity of the full latent)",
                 [responds("latent_spearman"), no_shortcut(r0)]),
        *[spearman(f"off-dropout-r{r:g}-content-sts", "content_spearman", "off-dropout", r, f"off-dropout negatives with positive weight r = {r:g} improve the STS analogue (content)",
                   [responds("content_spearman"), no_shortcut(r)]) for r in config.positive_weights[1:]],
        spearman("less-noisy-negatives-content-sts", "content_spearman", "averaged-dropout", 1.0,
                 "negatives with less dropout noise in the same (dropout-on) mode improve the STS analogue (content): the paper's mechanism without the train / eval switch",
                 [responds("content_spearman"), Check.at_most("the control's negatives carry at most half of SimCSE's dropout variance", control_ratio, 0.5)]),
    ]
    return Verdict(checks, claims)


# ----------------------------------------------------------------------------- figure

COLORS = {"simcse": "tab:red", "off-dropout": "tab:blue", "averaged-dropout": "tab:green"}


def arm_color(loss: str, r: float, config: Config) -> str:
    """The loss's colour; off-dropout at a positive weight other than the first in a lighter blue."""
    return "tab:cyan" if loss == "off-dropout" and r != config.positive_weights[0] else COLORS[loss]


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(17, 8.5))
    noise = arms.select(rows, kind="noise")
    for ax, key, title in ((axes[0, 0], "noise_to_signal", "gradient noise / signal, tr Var(g) / ||E g||^2 (the claim)"),
                           (axes[0, 1], "total_variance", "gradient noise tr Var(g) (diagnostic)"),
                           (axes[0, 2], "neg_sim_variance", "variance of the negative similarities over dropout draws")):
        for kind in MEASURED:
            for trained, style in (("simcse", "-"), ("off-dropout", "--")):
                series = [np.mean([r[key] for r in arms.select(noise, measured=kind, loss=trained, step=s)]) for s in config.checkpoints]
                ax.plot(config.checkpoints, series, style, marker="o", color=COLORS[kind], label=f"{kind} loss, encoder trained with {trained}")
        ax.set(xlabel="fine-tuning step (fixed batch, draws of dropout)", title=title, yscale="symlog" if key == "neg_sim_variance" else "log")
        ax.title.set_fontsize(9)
    axes[0, 2].set_yscale("symlog", linthresh=1e-4)
    axes[0, 0].legend(fontsize=7)
    finals, start = arms.select(rows, kind="final"), arms.select(rows, kind="start")
    names = [("start", 1.0)] + arm_names(config)
    labels = ["pretrained"] + [f"{loss}\nr={r:g}" if loss == "off-dropout" else loss for loss, r in arm_names(config)]
    for ax, key, title in ((axes[1, 0], "content_spearman", "Spearman(cos f, cos content)"), (axes[1, 1], "latent_spearman", "Spearman(cos f, cos full latent)"),
                           (axes[1, 2], "mean_cosine", "mean cosine between sentences (anisotropy)")):
        per_seed = [arms.per_seed(start if loss == "start" else finals, key, **({} if loss == "start" else {"loss": loss, "positive_weight": r})) for loss, r in names]
        for seed in per_seed[0]:
            ax.plot(range(len(names)), [p.get(seed, np.nan) for p in per_seed], color="grey", lw=0.6, alpha=0.5)
        ax.scatter(range(len(names)), [np.mean(list(p.values())) for p in per_seed], marker="_", s=700, zorder=3,
                   color=["black"] + [arm_color(loss, r, config) for loss, r in arm_names(config)])
        ax.set_xticks(range(len(names)), labels, fontsize=8)
        ax.set_title(title + " (lines: seeds; dashes: means)", fontsize=9)
    fig.suptitle(f"Off-dropout negatives (SimCSE++): {'pretrained (anisotropy ' + str(config.anisotropy) + ')' if config.pretrained else 'random'} layer-normalised encoder, "
                 f"dropout {config.encoder.dropout}, t={config.temperature}, B={config.train.batch_size}, {config.train.steps} fine-tuning steps, {config.seeds} seeds", fontsize=10)
    fig.tight_layout()
    return fig
