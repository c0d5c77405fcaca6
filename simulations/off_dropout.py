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
on a fixed batch over ``noise_draws`` draws of dropout: every loss's gradient noise-to-signal
ratio (the paper's argument; clustertheory.analysis.sentences.dropout_gradient_noise). After
training (and for the starting encoder), on fresh sentences with dropout off: STS analogues,
effective rank, anisotropy and the train / eval shortcut (sentence_metrics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from clustertheory.analysis import arms
from clustertheory.analysis.sentences import sentence_metrics
from clustertheory.config import Boolean, Integer, Real, TupleOf, setting
from clustertheory.data import SentenceSettings
from clustertheory.data.dropout import observations
from clustertheory.functions import EncoderSettings
from clustertheory.plotting import paired_seeds
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.training.fitting import FitConfig
from clustertheory.training.sentences import fine_tune_arms, pretrained_ensemble
from clustertheory.utils import torch_generator

NAME = "off-dropout"
SUMMARY = "SimCSE++ off-dropout negatives on a pretrained, layer-normalised encoder: gradient noise-to-signal, a same-mode control, STS analogues"

MEASURED = ("simcse", "off-dropout", "averaged-dropout")  # the losses whose gradient noise is measured


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Latent sentences (``data``), the encoder, its pretraining and fine-tuning (``pretrain``,
    ``train``) and the claims' thresholds.

    dropout 0.1, temperature 0.05, batch 64: SimCSE's unsupervised settings. train.steps 150: a
    brief fine-tuning, as SimCSE's one epoch is brief against BERT's pretraining.
    min_metric_response 0.02: the STS analogue must move by at least that much under SimCSE
    fine-tuning to count as a measure of what it learns.
    """

    data: SentenceSettings = SentenceSettings()
    encoder: EncoderSettings = EncoderSettings(out_dim=32, width=64, depth=2, dropout=0.1, layer_norm=True)
    pretrained: bool = setting(True, Boolean(), "start from an encoder regressed onto anisotropic latent targets (false: random)")
    anisotropy: float = setting(0.6, Real(0, 1, open_hi=True), "mean cosine between random sentences of the pretrained encoder (BERT's: about 0.6)")
    pretrain: FitConfig = FitConfig(steps=200, lr=3e-3, batch_size=64)
    train: FitConfig = FitConfig(steps=150, lr=1e-3, batch_size=64)
    temperature: float = setting(0.05, Real(0, open_lo=True), "InfoNCE temperature")
    positive_weights: tuple = setting((1.0, 0.9), TupleOf(Real(0, open_lo=True), distinct=True), "positive weights r of the off-dropout arms (the paper's: 1 and 0.9)")
    average_passes: int = setting(4, Integer(2), "dropout-on passes averaged into the control's negatives (4: a quarter of the noise variance)")
    checkpoints: tuple = setting((75, 150), TupleOf(Integer(1), increasing=True), "fine-tuning steps at which gradient noise is measured")
    noise_draws: int = setting(16, Integer(2), "draws of dropout per gradient measurement")
    sts_sentences: int = setting(160, Integer(3), "the probe sentences whose pairs the Spearman correlations run over")
    seeds: int = setting(10, Integer(2), "seeds per arm")
    minimal_noise_ratio: float = setting(0.9, Real(0, 1, open_lo=True, open_hi=True),
                                         "largest noise-to-signal ratio off-dropout / SimCSE counted (0.9: a 10 % cut)")
    minimal_spearman: float = setting(0.01, Real(0, open_lo=True), "smallest Spearman gain counted (one point of Spearman x 100, the STS unit)")
    min_metric_response: float = setting(0.02, Real(0, open_lo=True), "smallest move of an STS analogue under fine-tuning")
    max_mode_gap: float = setting(0.2, Real(0, open_lo=True),
                                  "how much more dropout-on embeddings of different sentences may align than dropout-off ones (beyond: a shortcut)")

    def validate(self) -> None:
        self.encoder.check_dropout_augmentation()
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


def arm_names(config: Config) -> list[tuple[str, float]]:
    """(loss, positive weight r) of every arm."""
    return [("simcse", 1.0)] + [("off-dropout", r) for r in config.positive_weights] + [("averaged-dropout", 1.0)]


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [{"loss": loss, "positive_weight": r, "seed": s} for loss, r in arm_names(config) for s in range(config.seeds)]
    return ctx.sweep_batched(units, None, lambda batch: train_arms(config, batch, ctx), desc=NAME)


def train_arms(config: Config, units: list[dict], ctx: RunContext) -> list[list[dict]]:
    """Pretrain one encoder per seed (or start at random), fine-tune a copy per arm (every arm's seeds as one ensemble)."""
    seed_list = sorted({u["seed"] for u in units})
    seed_values = [ctx.seed_for(NAME, s) for s in seed_list]
    drawn = [config.data.draw(v) for v in seed_values]
    probe = [p.take(slice(0, config.sts_sentences)) for _, p in drawn]
    probe_x = observations(probe, ctx.device)
    if config.pretrained:  # regressed (dropout on) onto anisotropic latent targets
        start = pretrained_ensemble(config.encoder, [t for t, _ in drawn], seed_values, config.anisotropy, config.pretrain, ctx.device)
    else:
        start = config.encoder.build(config.data.obs_dim, seed_values, ctx.device)
    initial = sentence_metrics(start, probe_x, probe)
    groups = {arm: [i for i, u in enumerate(units) if (u["loss"], u["positive_weight"]) == arm] for arm in arm_names(config)}
    groups = {arm: members for arm, members in groups.items() if members}
    draws = {arm: [seed_list.index(units[i]["seed"]) for i in members] for arm, members in groups.items()}
    measured = fine_tune_arms(start, config.encoder, draws, seed_values, observations([t for t, _ in drawn], ctx.device), probe_x, probe,
                              config.train, torch_generator(seed_values[0] + 11, ctx.device),
                              temperature=config.temperature, passes=config.average_passes, checkpoints=config.checkpoints,
                              noise_arms=(("simcse", 1.0), ("off-dropout", 1.0)), noise_sources=MEASURED, noise_draws=config.noise_draws)
    rows = [[{"kind": "start", **initial[seed_list.index(u["seed"])]}] for u in units]
    for arm in groups:
        for i, produced in zip(groups[arm], measured[arm]):
            rows[i].extend(produced)
    return rows


# ----------------------------------------------------------------------------- verdict

SOURCE = "Xu et al. 2023 (SimCSE++), Sec. 3"


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Package checks (off-dropout negatives noiseless, SimCSE's noisy, the control's variance cut
    by about its number of passes, gradient signal resolved) and the paper's claims."""
    noise, finals = arms.select(rows, kind="noise"), arms.select(rows, kind="final")
    variance = {kind: np.array([r["neg_sim_variance"] for r in arms.select(noise, measured=kind)]) for kind in MEASURED}
    control_ratio = arms.mean_ratio(noise, "neg_sim_variance", "measured", "averaged-dropout", "simcse")
    averaging = arms.mean_ratio(noise, "neg_embedding_variance", "measured", "averaged-dropout", "simcse")
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
                        arms.log_ratios(rows, "noise_to_signal", "measured", "off-dropout", "simcse", ("loss", "step"), kind="noise"),
                        "log(noise-to-signal off-dropout / SimCSE), same parameters",
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
                means = arms.cell_means(noise, key, ("step",), measured=kind, loss=trained)
                ax.plot(config.checkpoints, [means.get((s,), np.nan) for s in config.checkpoints], style, marker="o", color=COLORS[kind],
                        label=f"{kind} loss, encoder trained with {trained}")
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
        paired_seeds(ax, per_seed, labels, ["black"] + [arm_color(loss, r, config) for loss, r in arm_names(config)], title)
    fig.suptitle(f"Off-dropout negatives (SimCSE++): {'pretrained (anisotropy ' + str(config.anisotropy) + ')' if config.pretrained else 'random'} layer-normalised encoder, "
                 f"dropout {config.encoder.dropout}, t={config.temperature}, B={config.train.batch_size}, {config.train.steps} fine-tuning steps, {config.seeds} seeds", fontsize=10)
    fig.tight_layout()
    return fig
