"""Class collapse in supervised CL (Xue et al. 2023), the dynamics: what 1 + mu^2 > phi_1^2 decides,
and whether an MLP trained with SupCon also learns, then unlearns, the subclass.

The second half of the class-collapse study (simulations/class_collapse.py holds the two
regimes of the linear spectral model; both are described in paper_notes/class_collapse.md).
A sweep of phi_1 across sqrt(1 + mu^2) (many-views regime of clustertheory.analysis.min_norm)
runs gradient descent on L_SCL from a small initialisation and records which of ||W_t v_1||,
||W_t v_2|| rises first and the subclass probe at the peak of ||W_t v_2||
(clustertheory.analysis.collapse.learning_order). An ensemble of small MLPs trained with SupCon
(clustertheory.training.collapse.supcon_probe_trace) asks whether the rise-then-fall survives
beyond the linear spectral model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis.arms import select
from clustertheory.analysis.collapse import learning_order, peak_and_ends, seed_traces
from clustertheory.analysis.min_norm import DescentConfig
from clustertheory.config import Integer, Real, TupleOf, setting
from clustertheory.data.collapse import CollapseConfig, check_regime
from clustertheory.functions.ensemble import EncoderSettings
from clustertheory.plotting import plot_mean
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.training.collapse import supcon_probe_trace
from clustertheory.training.fitting import FitConfig

NAME = "class-collapse-dynamics"
SUMMARY = "supervised CL: 1 + mu^2 > phi_1^2 decides which of class, subclass GD learns first, not whether; MLP + SupCon: rise and fall"
SOURCE = "Xue et al. 2023 (ICML), class collapse"
SEEDS_OF = "class-collapse"  # the seeds' root name: these experiments ran inside class-collapse, the split left their rows unchanged


@dataclass(frozen=True)
class Config(SimulationConfig):
    """The paper's feature setting (phi = 1, mu = 1, sigma = 2, K = 4, p = 3, init 0.001, step
    0.05) in the many-views regime; ``class_strengths`` sweeps phi_1 across sqrt(1 + mu^2) = 1.41.
    ``mlp_data``: phi_2 = 0.5 so that a random network does not already read the subclass (with
    phi_2 = 1 it reads it at 0.85 at initialisation: nothing could rise), and mu = 2 so that the
    condition 1 + mu^2 > phi_1^2 holds with a margin. A probe gain of 0.1 is a tenth of the way
    from chance to perfect, four times the probe's sampling sd on 300 test points."""

    sweep_data: CollapseConfig = setting(CollapseConfig(dim=100, num_originals=500, num_augmentations=5), None, "data of the sweep, n m > dim + 1")
    p: int = setting(3, Integer(2), "embedding size")
    descent: DescentConfig = setting(DescentConfig(steps=200, lr=0.05, init_scale=0.001), None, "gradient descent on L_SCL")
    probe_examples: int = setting(750, Integer(12), "fresh examples of a probe")
    probe_cs: tuple = setting((1.0,), TupleOf(Real(0, open_lo=True)), "inverse regularisations the probe picks from")
    seeds: int = setting(10, Integer(2), "seeds (training sets) per class strength and of the MLP ensemble")
    class_strengths: tuple = setting((0.75, 1.0, 1.25, 1.75, 2.5), TupleOf(Real(0, open_lo=True), min_len=2, increasing=True),
                                     "phi_1 of the sweep, across sqrt(1 + mu^2)")
    sweep_every: int = setting(2, Integer(1), "the sweep records ||W_t v_j|| every this many steps")
    mlp_data: CollapseConfig = setting(CollapseConfig(dim=100, num_originals=500, num_augmentations=5, subclass_strength=0.5, subclass_mean=2.0),
                                       None, "data of SupCon + MLP")
    mlp_encoder: EncoderSettings = setting(EncoderSettings(out_dim=8, width=64, depth=1, init_scale=0.1), None, "the MLP")
    mlp_fit: FitConfig = setting(FitConfig(steps=200, lr=1e-3, optimizer="adam", batch_size=64), None, "SupCon training of the MLP")
    mlp_checkpoints: tuple = setting((0, 5, 10, 20, 40, 80, 120, 200), TupleOf(Integer(0), min_len=3, increasing=True),
                                     "MLP steps measured, 0 to mlp_fit.steps")
    temperature: float = setting(0.2, Real(0, open_lo=True), "SupCon temperature")
    minimal_probe_gain: float = setting(0.1, Real(0, 1, open_lo=True), "a probe gain (accuracy) counts from this")
    order_null: float = setting(0.5, Real(0, 1), "share of (phi_1, seed) cells where the condition predicts the first feature, by chance")
    minimal_order_share: float = setting(0.9, Real(0, 1), "... the share that counts")
    min_class_probe: float = setting(0.95, Real(0.5, 1), "package: the MLP's class is read from the final embeddings (fresh examples)")

    def validate(self) -> None:
        check_regime("sweep_data", self.sweep_data, "many-views")
        if self.mlp_checkpoints[0] != 0 or self.mlp_checkpoints[-1] != self.mlp_fit.steps:
            raise ValueError(f"mlp_checkpoints must run from 0 to mlp_fit.steps = {self.mlp_fit.steps}, got {self.mlp_checkpoints}")
        if not self.class_strengths[0] ** 2 < 1 + self.sweep_data.subclass_mean**2 < self.class_strengths[-1] ** 2:
            raise ValueError(f"class_strengths must straddle sqrt(1 + mu^2) = {np.sqrt(1 + self.sweep_data.subclass_mean**2):.3g}, got {self.class_strengths}")


SCALES = {
    "default": Config(),
    "paper": Config(
        sweep_data=CollapseConfig(dim=2000, num_originals=1000, num_augmentations=5),
        descent=DescentConfig(steps=2000, lr=0.05, init_scale=0.001),
        probe_examples=3500,
        mlp_fit=FitConfig(steps=600, lr=1e-3, optimizer="adam", batch_size=128),
        mlp_checkpoints=(0, 5, 10, 20, 40, 80, 120, 200, 400, 600),
    ),
}


def phi_sweep(config: Config, ctx: RunContext) -> list[dict]:
    """GD on L_SCL for each class strength phi_1 (many-views regime): which feature rises first,
    and the subclass probe at initialisation and at the peak of ||W_t v_2||."""
    rows = []
    for strength in config.class_strengths:
        seeds = [ctx.seed_for(SEEDS_OF, "sweep", strength, s) for s in range(config.seeds)]
        order = learning_order(config.sweep_data.replace(class_strength=strength), config.p, config.descent, seeds, config.sweep_every,
                               config.probe_examples, config.probe_cs, ctx.device)
        rows += [{"kind": "sweep", "class_strength": strength, "seed": e, **r} for e, r in enumerate(order)]
    return rows


def supcon_mlp(config: Config, ctx: RunContext) -> list[dict]:
    """An ensemble of MLPs (one per seed) trained with SupCon on the views; probes of the class and
    subclass on fresh examples, and the subclass separation of the training views, at checkpoints."""
    seeds = [ctx.seed_for(SEEDS_OF, "mlp", s) for s in range(config.seeds)]
    return supcon_probe_trace(config.mlp_data, config.mlp_encoder, config.mlp_fit, seeds, config.mlp_checkpoints, config.temperature,
                              config.probe_examples, config.probe_cs, tags={"kind": "mlp"}, device=ctx.device)


def run(config: Config, ctx: RunContext) -> list[dict]:
    parts = {"sweep": phi_sweep, "mlp": supcon_mlp}
    return ctx.sweep([{"part": part} for part in parts], lambda unit: parts[unit["part"]](config, ctx), desc=NAME)


# ----------------------------------------------------------------------------- verdict


def sweep_claims(rows: list[dict], config: Config) -> list[Claim]:
    """What the condition 1 + mu^2 > phi_1^2 decides: the order of learning, not whether."""
    mu2 = config.sweep_data.subclass_mean ** 2
    cells = select(rows, kind="sweep")
    predicted = [1 + mu2 > r["class_strength"] ** 2 for r in cells]
    first = [r["half_v2_step"] < r["half_v1_step"] for r in cells]
    below = {r["seed"]: [] for r in cells}
    above = {r["seed"]: [] for r in cells}
    for r, holds in zip(cells, predicted):
        (below if holds else above)[r["seed"]].append(r["probe_peak"] - r["probe_init"])
    seeds = sorted(below)
    straddles = Check.holds("the sweep has phi_1 on both sides of sqrt(1 + mu^2)", any(predicted) and not all(predicted),
                            f"{sum(predicted)} of {len(predicted)} cells with 1 + mu^2 > phi_1^2", "some cells on each side")
    return [
        Claim.from_proportion("condition-decides-order", SOURCE, "1 + mu^2 > phi_1^2 decides whether ||W v2|| rises before ||W v1|| (our reading of the condition)",
                              sum(a == b for a, b in zip(predicted, first)), len(cells), "share of (phi_1, seed) cells", null=config.order_null,
                              minimal_effect=config.minimal_order_share, preconditions=[straddles]),
        Claim.from_paired("condition-decides-early-learning", SOURCE, "the subclass is learned early only when 1 + mu^2 > phi_1^2 (probe gain below minus above the threshold)",
                          [np.mean(below[s]) for s in seeds], [np.mean(above[s]) for s in seeds], "subclass probe gain (peak - init)",
                          minimal_effect=config.minimal_probe_gain, preconditions=[straddles]),
    ]


def mlp_claims(rows: list[dict], config: Config) -> tuple[list[Check], list[Claim]]:
    traces = seed_traces(select(rows, kind="mlp"))
    ends = [peak_and_ends(traces[s], "train_probe_subclass") for s in sorted(traces)]
    learned = Check.at_least("MLP + SupCon: final class probe (min over seeds)", min(t[2]["probe_class"] for t in ends), config.min_class_probe)
    trained = Check.below("MLP + SupCon: final / first training loss (max over seeds)", max(
        traces[s][-1]["train_loss"] / traces[s][1]["train_loss"] for s in traces), 1.0)
    source = "Xue et al. 2023 (ICML), class collapse with SupCon and networks"
    claims = [
        Claim.from_paired("supcon-mlp-subclass-rises", source, "an MLP trained with SupCon first learns the subclass (fresh-example probe at the step where the training-set subclass probe peaks, above the probe at initialisation)",
                          [t[1]["probe_subclass"] for t in ends], [t[0]["probe_subclass"] for t in ends], "subclass probe accuracy",
                          minimal_effect=config.minimal_probe_gain, preconditions=[learned]),
        Claim.from_paired("supcon-mlp-subclass-falls", source, "then unlearns it (probe at that peak above the final probe)",
                          [t[1]["probe_subclass"] for t in ends], [t[2]["probe_subclass"] for t in ends], "subclass probe accuracy",
                          minimal_effect=config.minimal_probe_gain, preconditions=[learned]),
    ]
    return [trained, learned], claims


def verdict(rows: list[dict], config: Config) -> Verdict:
    checks, claims = mlp_claims(rows, config)
    return Verdict(checks, sweep_claims(rows, config) + claims)


# ----------------------------------------------------------------------------- figure


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    ax = axes[0]
    sweep = select(rows, kind="sweep")
    for key, color, name in (("half_v1_step", "tab:red", "||W v1|| reaches half its final"), ("half_v2_step", "tab:blue", "||W v2|| reaches half its peak")):
        plot_mean(ax, sweep, "class_strength", key, "-o", color=color, ms=4, label=name)
    ax.axvline(np.sqrt(1 + config.sweep_data.subclass_mean**2), color="grey", ls=":", label="phi_1 = sqrt(1 + mu^2)")
    ax.set(xlabel="class strength phi_1", ylabel="GD step (mean over seeds)", title="what 1 + mu^2 > phi_1^2 decides: the order")
    ax.legend(fontsize=7)
    ax = axes[1]
    for key, color, name in (("probe_init", "grey", "at initialisation"), ("probe_peak", "tab:blue", "at the peak of ||W v2||")):
        plot_mean(ax, sweep, "class_strength", key, "-o", color=color, ms=4, label=f"subclass probe {name}")
    ax.axvline(np.sqrt(1 + config.sweep_data.subclass_mean**2), color="grey", ls=":")
    ax.set(xlabel="class strength phi_1", ylabel="probe accuracy", ylim=(0.4, 1.02), title="... and not whether the subclass is learned")
    ax.legend(fontsize=7)

    ax = axes[2]
    mlp = select(rows, kind="mlp")
    for key, color, name in (("probe_subclass", "tab:blue", "subclass probe"), ("probe_class", "tab:red", "class probe")):
        plot_mean(ax, mlp, "step", key, "-o", shift=1, band=True, color=color, ms=3, label=name)
    ax.axhline(0.5, color="grey", lw=0.6)
    ax.set(xscale="log", xlabel="Adam step + 1", ylabel="probe accuracy (mean, band: min-max over seeds)", ylim=(0.4, 1.02),
           title=f"MLP + SupCon ({config.seeds} seeds, phi_2 = {config.mlp_data.subclass_strength:g}, mu = {config.mlp_data.subclass_mean:g})")
    ax.legend(fontsize=7)
    for ax in axes.flat:
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig
