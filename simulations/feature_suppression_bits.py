"""Feature suppression beyond the linear model (Chen, Luo, Li 2021, via Xue et al. 2023): random
bits shared by both views of an example suppress the class feature in an MLP trained with
InfoNCE; resampling the bits, or more embedding dimensions, restore it.

Part of the feature-suppression study (simulations/feature_suppression.py and
simulations/feature_suppression_imperfect.py; all in paper_notes/feature_suppression.md). x from
the data model of clustertheory.data.collapse with the class feature only (dim 16, sigma 1,
class jitter 0.5) and B bits appended, one ensemble member per (arm, seed)
(clustertheory.training.collapse.shared_bits_probes); class probe on fresh examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis.arms import select
from clustertheory.config import Integer, Real, TupleOf, setting
from clustertheory.data.collapse import CollapseConfig
from clustertheory.functions.ensemble import EncoderSettings
from clustertheory.plotting import strip_plot
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.training.collapse import shared_bits_probes
from clustertheory.training.fitting import FitConfig

NAME = "feature-suppression-bits"
SUMMARY = "shared random bits suppress the class in an MLP trained with InfoNCE; resampled bits or more dimensions restore it"
SEEDS_OF = "feature-suppression"  # the seeds' root name: this experiment ran inside feature-suppression, the split left its rows unchanged
BIT_ARMS = (("none", 0, "small"), ("shared", 8, "small"), ("fresh", 8, "small"), ("shared", 8, "large"), ("shared", 16, "large"))


@dataclass(frozen=True)
class Config(SimulationConfig):
    """Arms (``BIT_ARMS``): mode (none / shared / fresh bits), bits B, and size: "small" reads
    the first ``small_p`` outputs of the MLP, "large" all of them. "Restored" = class probe of
    0.9 (chance 0.5)."""

    bits_data: CollapseConfig = setting(CollapseConfig(dim=16, num_features=3, num_originals=2000, num_augmentations=2, subclass_strength=0.0,
                                                       subclass_mean=0.0, irrelevant_strength=0.0, noise=1.0, augmentation_noise=0.5),
                                        None, "x: the class feature only (dim 16, sigma 1, class jitter 0.5)")
    bits_encoder: EncoderSettings = setting(EncoderSettings(out_dim=32, width=32, depth=1, init_scale=1.0), None, "the MLP (out_dim: the large size)")
    small_p: int = setting(4, Integer(1), "embedding size of the small arms (below bits_encoder.out_dim)")
    bits_fit: FitConfig = setting(FitConfig(steps=250, lr=1e-3, optimizer="adam", batch_size=64), None, "InfoNCE training")
    seeds: int = setting(10, Integer(2), "seeds per arm")
    temperature: float = setting(0.2, Real(0, open_lo=True), "InfoNCE temperature")
    probe_examples: int = setting(750, Integer(12), "fresh examples of a probe")
    probe_cs: tuple = setting((1.0,), TupleOf(Real(0, open_lo=True)), "inverse regularisations the probe picks from")
    minimal_probe_gain: float = setting(0.1, Real(0, 1, open_lo=True), "a probe effect (accuracy) counts from this")
    restored_probe: float = setting(0.9, Real(0.5, 1), "class probe that counts as learned / restored")

    def validate(self) -> None:
        if not self.small_p < self.bits_encoder.out_dim:
            raise ValueError(f"small_p must be below bits_encoder.out_dim = {self.bits_encoder.out_dim}, got {self.small_p}")


SCALES = {
    "default": Config(),
    "paper": Config(bits_fit=FitConfig(steps=1000, lr=1e-3, optimizer="adam", batch_size=256)),
}


def bits_dial(config: Config, ctx: RunContext) -> list[dict]:
    """MLP + InfoNCE on views [x, b], one ensemble for every (arm, seed)."""
    members = [(arm, s) for arm in BIT_ARMS for s in range(config.seeds)]
    seeds = [ctx.seed_for(SEEDS_OF, "bits", *arm, s) for arm, s in members]
    arms = [(mode, bits, config.small_p if size == "small" else config.bits_encoder.out_dim) for (mode, bits, size), _ in members]
    probes = shared_bits_probes(config.bits_data, config.bits_encoder, config.bits_fit, arms, seeds, config.temperature, config.probe_examples,
                                config.probe_cs, ctx.device)
    return [{"kind": "bits", "mode": arm[0], "bits": arm[1], "size": arm[2], "seed": s, "probe_class": probe}
            for (arm, s), probe in zip(members, probes)]


def run(config: Config, ctx: RunContext) -> list[dict]:
    return ctx.sweep([{"part": "bits"}], lambda unit: bits_dial(config, ctx), desc=NAME)


def verdict(rows: list[dict], config: Config) -> Verdict:
    def probes(**where) -> list[float]:
        return [r["probe_class"] for r in sorted(select(rows, **where), key=lambda r: r["seed"])]

    clean = probes(kind="bits", mode="none", size="small")
    shared, fresh = probes(kind="bits", mode="shared", bits=8, size="small"), probes(kind="bits", mode="fresh", bits=8, size="small")
    learns = Check.at_least("bits: class probe without bits (min over seeds)", min(clean), config.restored_probe)
    source = "Chen, Luo, Li 2021 (shared random bits), via Xue et al. 2023"
    suppressed = Check.at_most("bits: 8 shared bits at small p suppress the class (mean probe)", float(np.mean(shared)), 0.75)
    claims = [
        Claim.from_paired("shared-bits-suppress", source, f"bits shared by both views suppress the class feature (p = {config.small_p}, 8 bits)", clean, shared,
                          "class probe, no bits - shared bits", minimal_effect=config.minimal_probe_gain, preconditions=[learns]),
        Claim.from_paired("fresh-bits-restore", source, "resampling the bits in every view restores it", fresh, shared, "class probe, fresh - shared bits",
                          minimal_effect=config.minimal_probe_gain, preconditions=[learns, suppressed]),
    ]
    for bits in (8, 16):
        claims.append(Claim.from_mean(f"more-dimensions-restore ({bits} bits)", source, f"more embedding dimensions ({config.bits_encoder.out_dim}) restore the class with {bits} shared bits",
                                      probes(kind="bits", mode="shared", bits=bits, size="large"), "class probe accuracy", null=0.5,
                                      minimal_effect=config.restored_probe, preconditions=[learns, suppressed]))
    return Verdict([learns], claims)


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.4))
    labels = [f"{mode}\n{bits} bits\np={config.small_p if size == 'small' else config.bits_encoder.out_dim}" for mode, bits, size in BIT_ARMS]
    strip_plot(ax, [[r["probe_class"] for r in select(rows, kind="bits", mode=mode, bits=bits, size=size)] for mode, bits, size in BIT_ARMS], labels,
               colors=["tab:blue"] * len(BIT_ARMS))
    ax.axhline(0.5, color="grey", lw=0.6)
    ax.set(ylabel="class probe, fresh examples", ylim=(0.4, 1.02), title=f"beyond linear: MLP + InfoNCE with random bits ({config.seeds} seeds)")
    ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig
