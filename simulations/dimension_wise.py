"""Dimension-wise contrastive learning vs decorrelation, below and above the embedding dimension.

SimCSE++ (Xu et al. EMNLP 2023, arXiv 2305.13192) adds to the instance InfoNCE a dimension-wise
term: standardise every embedding dimension over the batch (each view), form
C = Zhat1^T Zhat2 / (N tau_d) and apply InfoNCE over dimensions, L = L_instance + lambda L_dim.
Its argument: decorrelation objectives that push the (d x d) cross-correlation to the identity
(Barlow Twins) are rank-bottlenecked when the batch B is smaller than d, since rank C <= B - 1
and ||C - I||_F^2 >= d - (B - 1) (checked on every measured batch), while the softmax target of
the dimension-wise term is reachable at low rank; InfoNCE alone suffers "feature corruption"
(a low-rank embedding) at small batches.

Setting: latent sentences whose latent dimension equals d (clustertheory.data.dropout), dropout
as the augmentation, a layer-normalised MLP encoder. Methods: InfoNCE, InfoNCE + lambda Barlow
(off-diagonal weight scaled from the paper's 5e-3 at d = 8192 to keep its balance with the
diagonal), InfoNCE + lambda dimension-wise (tau_d = 5, the paper's). Each regulariser's lambda is
set per run so that it carries ``gradient_share`` of the gradient at the start (the paper's
lambda = 0.1 carries well under 1 % here: the term would do nothing), and its share is measured
again at the end. Batch sizes below and above d, compared at an equal number of samples seen.
Primary metrics: the effective rank and covariance spectrum of fresh sentences' embeddings
(dropout off); secondary: a linear read-out of the latent (ridge R^2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis import arms
from clustertheory.analysis.sentences import rank_metrics
from clustertheory.config import Integer, Real, TupleOf, setting
from clustertheory.data import SentenceSettings
from clustertheory.data.dropout import observations
from clustertheory.functions import EncoderSettings
from clustertheory.losses import barlow_decorrelation, dimension_wise
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.training.fitting import FitConfig
from clustertheory.training.sentences import fit_matched_share
from clustertheory.utils import torch_generator

NAME = "dimension-wise"
SUMMARY = "SimCSE++ dimension-wise term vs Barlow decorrelation at matched gradient shares: effective rank below / above d at equal samples seen"

METHODS = ("infonce", "barlow", "dimension-wise")
BARLOW_REFERENCE = (5e-3, 8192)  # Barlow Twins' off-diagonal weight and the embedding dimension it was tuned for


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Latent sentences of latent dimension content_dim + style_dim = encoder.out_dim, the encoder, the
    fitting settings and the claims' thresholds.

    ``train`` is the run at the largest batch size; every batch size B sees the same number of
    samples, train.steps x train.batch_size, in as many steps. d = 32 = the latent dimension
    (16 content + 16 style): the rank bottleneck needs data that fill d. batch_sizes (8, 64):
    B/d = 1/4 below d (the paper's BERT runs sit at 64/768 = 1/12; 1/4 keeps the small-batch
    run affordable) and 2 above; 100 steps at B = 64 are 800 at B = 8.
    """

    data: SentenceSettings = SentenceSettings(content_dim=16, style_dim=16, obs_dim=64, hidden=128)
    encoder: EncoderSettings = EncoderSettings(out_dim=32, width=64, depth=2, dropout=0.1, layer_norm=True)
    temperature: float = setting(0.05, Real(0, open_lo=True), "instance InfoNCE temperature")
    temperature_d: float = setting(5.0, Real(0, open_lo=True), "temperature tau_d of the dimension-wise term (the paper's)")
    gradient_share: float = setting(1 / 3, Real(0, 1, open_lo=True, open_hi=True),
                                    "each regulariser's share of the gradient at the start (1/3: it acts, InfoNCE still leads)")
    batch_sizes: tuple = setting((8, 64), TupleOf(Integer(2), min_len=2, increasing=True), "batch sizes B, below and above d")
    train: FitConfig = FitConfig(steps=100, lr=1e-3, batch_size=64)
    seeds: int = setting(10, Integer(2), "seeds per method and batch size")
    min_share: float = setting(0.05, Real(0, 1, open_lo=True, open_hi=True),
                               "smallest share of the gradient at the end for a regulariser to act (and a comparison to be about it)")
    minimal_rank_gain: float = setting(1.0, Real(0, open_lo=True), "smallest effective-rank gain counted (one more effective dimension of d)")
    min_rank_deficit: float = setting(0.5, Real(0, open_lo=True),
                                      "how far InfoNCE's effective rank at B < d must lie below its rank at B > d (feature corruption)")
    minimal_r2: float = setting(0.01, Real(0, open_lo=True), "smallest gain in R^2 of the latent read-out counted (one point)")

    def validate(self) -> None:
        self.encoder.check_dropout_augmentation()
        if self.data.content_dim + self.data.style_dim < self.encoder.out_dim:
            raise ValueError(f"the latent dimension data.content_dim + data.style_dim must reach encoder.out_dim = {self.encoder.out_dim} (the rank bottleneck needs it)")
        if self.train.batch_size != self.batch_sizes[-1]:
            raise ValueError(f"train.batch_size must be the largest of batch_sizes = {self.batch_sizes}, got {self.train.batch_size}")
        samples = self.train.steps * self.train.batch_size
        if any(samples % b for b in self.batch_sizes) or self.batch_sizes[0] > self.data.probe_sentences:
            raise ValueError(f"every batch size must divide the samples seen (train.steps x train.batch_size = {samples}) and fit in data.probe_sentences")
        if not self.batch_sizes[0] < self.encoder.out_dim < self.batch_sizes[-1]:
            raise ValueError(f"batch_sizes must hold one size below and one above encoder.out_dim = {self.encoder.out_dim}, got {self.batch_sizes}")

    @property
    def barlow_offdiag(self) -> float:
        """Barlow Twins' off-diagonal weight scaled to d: lambda_ref (d_ref - 1) / (d - 1), which keeps
        the total weight of the d (d - 1) off-diagonal terms against the d diagonal ones."""
        weight, reference = BARLOW_REFERENCE
        return weight * (reference - 1) / (self.encoder.out_dim - 1)


SCALES = {
    "default": Config(),
    "paper": Config(data=SentenceSettings(content_dim=32, style_dim=32, obs_dim=64, hidden=128, train_sentences=8192, probe_sentences=1024),
                    encoder=EncoderSettings(out_dim=64, width=128, depth=2, dropout=0.1, layer_norm=True), batch_sizes=(16, 32, 256), train=FitConfig(steps=300, lr=1e-3, batch_size=256), seeds=20),
}


def regularisers(config: Config) -> dict:
    """The regulariser R(h, h_pos) -> (E,) of each method that has one (InfoNCE alone has none)."""
    return {"barlow": lambda h, h_pos: barlow_decorrelation(h, h_pos, lambda_offdiag=config.barlow_offdiag),
            "dimension-wise": lambda h, h_pos: dimension_wise(h, h_pos, temperature_d=config.temperature_d)}


def train_batch_size(config: Config, units: list[dict], ctx: RunContext) -> list[list[dict]]:
    """One ensemble (method x seed) at one batch size B, for train.steps x train.batch_size / B steps."""
    B = units[0]["batch_size"]
    seeds = [u["seed"] for u in units]
    drawn = {s: config.data.draw(ctx.seed_for(NAME, s)) for s in sorted(set(seeds))}
    train_x, probe_x = (observations([drawn[s][part] for s in seeds], ctx.device) for part in (0, 1))
    encoder = config.encoder.build(config.data.obs_dim, [ctx.seed_for(NAME, s) for s in seeds], ctx.device, mask_seed=ctx.seed_for(NAME, "masks", B))
    fit_config = config.train.replace(steps=config.train.steps * config.train.batch_size // B, batch_size=B)
    trained = fit_matched_share(encoder, train_x, [u["method"] for u in units], regularisers(config), fit_config,
                                torch_generator(ctx.seed_for(NAME, "batches", B), ctx.device),
                                temperature=config.temperature, share=config.gradient_share)
    rows = []
    for i, m in enumerate(rank_metrics(encoder, probe_x, [drawn[s][1] for s in seeds], B, seeds)):
        shares = {key: trained[key][i] for key in ("start_share", "end_share")}
        final = {"kind": "final", "weight": float(trained["weight"][i]), **shares, **m}
        spectrum = final.pop("spectrum")
        rows.append([final] + [{"kind": "spectrum", "component": k + 1, "eigenvalue": float(v)} for k, v in enumerate(spectrum)])
    return rows


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [{"batch_size": b, "method": m, "seed": s} for b in config.batch_sizes for m in METHODS for s in range(config.seeds)]
    return ctx.sweep_batched(units, lambda u: u["batch_size"], lambda batch: train_batch_size(config, batch, ctx), desc=NAME)


# ----------------------------------------------------------------------------- verdict

SOURCE = "Xu et al. 2023 (SimCSE++), Sec. 4"


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Package checks (the rank bound on every measured batch; the strengths met their gradient
    share at the start) and the paper's claims at the smallest batch size (below d) and the
    largest (above d)."""
    finals = arms.select(rows, kind="final")
    small, large = config.batch_sizes[0], config.batch_sizes[-1]
    regularised = [r for r in finals if r["method"] != "infonce"]
    checks = [
        Check.at_least("||C - I||_F^2 - max(d - (B - 1), 0) on every measured batch (min; rank C <= B - 1)",
                       min(r["identity_gap"] - r["identity_gap_bound"] for r in finals), -1e-6),
        Check.at_most("each regulariser's gradient share at the start equals gradient_share (max deviation)",
                      max(abs(r["start_share"] - config.gradient_share) for r in regularised), 0.01),
    ]
    deficit = arms.differences(finals, "effective_rank", "batch_size", large, small, method="infonce")
    corrupted = Check.at_least(f"feature corruption: InfoNCE's effective rank at B={large} minus at B={small} (mean over seeds)",
                               float(np.mean(list(deficit.values()))), config.min_rank_deficit)

    def acts(method, batch_size):
        share = float(np.mean([r["end_share"] for r in arms.select(finals, method=method, batch_size=batch_size)]))
        return Check.at_least(f"{method} still acts at the end, B={batch_size} (share of the gradient, mean)", share, config.min_share)

    def claim(name, statement, key, method, control, units, minimal, preconditions):
        treated, base = arms.paired(finals, key, "method", method, control, batch_size=small)
        return Claim.from_paired(name, SOURCE, statement, treated, base, units, minimal_effect=minimal, preconditions=preconditions)

    above, below = (arms.differences(finals, "effective_rank", "method", "barlow", "infonce", batch_size=b) for b in (large, small))
    claims = [
        claim("dimension-wise-raises-rank", f"below d, the dimension-wise term cures feature corruption: it raises the effective rank (B={small} < d={config.encoder.out_dim})",
              "effective_rank", "dimension-wise", "infonce", f"effective rank, dimension-wise - InfoNCE at B={small}", config.minimal_rank_gain, [corrupted, acts("dimension-wise", small)]),
        Claim.from_mean("decorrelation-bottlenecked", SOURCE, "decorrelation (Barlow) is rank-bottlenecked below d: it helps less at B < d than at B > d",
                        [above[s] - below[s] for s in above if s in below], f"effective-rank gain of Barlow over InfoNCE, B={large} minus B={small}",
                        minimal_effect=config.minimal_rank_gain, preconditions=[corrupted, acts("barlow", small), acts("barlow", large)]),
        claim("dimension-wise-beats-decorrelation", f"below d the dimension-wise term keeps more rank than decorrelation (B={small})",
              "effective_rank", "dimension-wise", "barlow", f"effective rank, dimension-wise - Barlow at B={small}", config.minimal_rank_gain,
              [acts("dimension-wise", small), acts("barlow", small)]),
        claim("dimension-wise-latent-readout", f"below d the dimension-wise term improves what a linear read-out finds (B={small}; secondary)",
              "latent_r2", "dimension-wise", "infonce", f"latent R^2, dimension-wise - InfoNCE at B={small}", config.minimal_r2, [acts("dimension-wise", small)]),
    ]
    return Verdict(checks, claims)


# ----------------------------------------------------------------------------- figure

COLORS = {"infonce": "tab:grey", "barlow": "tab:orange", "dimension-wise": "tab:blue"}


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    finals, spectra = arms.select(rows, kind="final"), arms.select(rows, kind="spectrum")
    sizes, d = config.batch_sizes, config.encoder.out_dim
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
    for method in METHODS:
        for ax, key in ((axes[0], "effective_rank"), (axes[2], "latent_r2")):
            values = [[r[key] for r in arms.select(finals, method=method, batch_size=b)] for b in sizes]
            ax.errorbar(sizes, [np.mean(v) for v in values], yerr=[np.std(v, ddof=1) / np.sqrt(len(v)) for v in values], marker="o", capsize=3, color=COLORS[method], label=method)
        for b, style in ((sizes[0], "-"), (sizes[-1], "--")):
            spectrum = [np.mean([r["eigenvalue"] for r in arms.select(spectra, method=method, batch_size=b, component=k)]) for k in range(1, d + 1)]
            axes[1].plot(range(1, d + 1), spectrum, style, color=COLORS[method], label=f"{method}, B={b}", lw=1.2)
        shares = [np.mean([r["end_share"] for r in arms.select(finals, method=method, batch_size=b)]) for b in sizes]
        if method != "infonce":
            axes[3].plot(sizes, shares, marker="o", color=COLORS[method], label=f"{method} (start: {config.gradient_share:.2f})")
    for ax, title in ((axes[0], "effective rank of fresh sentences' embeddings"), (axes[2], "linear read-out of the latent, test R^2 (secondary)"),
                      (axes[3], "regulariser's share of the gradient at the end")):
        ax.axvline(d, color="black", ls=":", lw=0.8)
        ax.set(xscale="log", xlabel=f"batch size B (dotted: d = {d}; equal samples seen)", title=title)
        ax.set_xticks(sizes, [str(b) for b in sizes])
        ax.minorticks_off()
        ax.title.set_fontsize(9)
    axes[0].legend(fontsize=7)
    axes[3].legend(fontsize=7)
    axes[1].set(yscale="log", xlabel="component", ylabel="eigenvalue / trace", title="covariance spectrum (mean over seeds)")
    axes[1].title.set_fontsize(9)
    axes[1].legend(fontsize=6)
    fig.suptitle(f"Dimension-wise term vs Barlow decorrelation: data and embedding of dimension d={d}, tau_d={config.temperature_d}, "
                 f"Barlow off-diagonal weight {config.barlow_offdiag:.3g}, lambdas matched to a {config.gradient_share:.2f} gradient share, {config.seeds} seeds", fontsize=10)
    fig.tight_layout()
    return fig
