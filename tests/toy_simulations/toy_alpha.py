"""A toy simulation for the platform tests (executors, resume, reproduce, results page).

Units are numbered; each batch draws one seeded normal sum per unit (the seed comes from the
unit, so a batch gives the same numbers wherever and in whatever order it runs). Importable
by its module name where the tests put this folder on the path (Ray workers, Slurm jobs,
reproduce's spawned workers load it by that name).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from clustertheory.config import Integer, Real
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.utils import torch_generator

NAME = "toy-alpha"
SUMMARY = "toy: seeded normal sums, one per unit, in batches"


@dataclass(frozen=True)
class Config(SimulationConfig):
    units: int = 6
    per_batch: int = 2  # units per batch unless --max-batch says otherwise
    pause_s: float = 0.0  # sleep per batch, so that a run can be caught midway
    shift: float = 3.0  # added to every draw: the claim's effect
    minimal_effect: float = 0.5

    constraints = {"units": Integer(1), "per_batch": Integer(1), "pause_s": Real(0), "shift": Real(), "minimal_effect": Real(0)}


SCALES = {"default": Config(), "paper": Config(units=12)}


def measure_batch(batch: list[dict], config: Config, ctx: RunContext) -> list[dict]:
    time.sleep(config.pause_s)
    draws = [torch.randn(4, generator=torch_generator(ctx.seed_for("unit", u["unit"]))).sum().item() for u in batch]
    return [{"value": config.shift + d, "batch_size": len(batch)} for d in draws]


def run(config: Config, ctx: RunContext) -> list[dict]:
    units = [{"unit": i} for i in range(config.units)]
    return ctx.sweep_batched(units, None, lambda batch: measure_batch(batch, config, ctx), desc="toy units", max_batch=ctx.max_batch or config.per_batch)


def verdict(rows: list[dict], config: Config) -> Verdict:
    checks = [Check.equal("every unit measured once", sorted(r["unit"] for r in rows), list(range(config.units)))]
    claim = Claim.from_mean(
        "shifted-mean", "toy paper, eq. 1", "the mean of the shifted draws is positive",
        [r["value"] for r in rows], "units of the draw", null=0.0, minimal_effect=config.minimal_effect,
    )
    return Verdict(checks, [claim])


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar([r["unit"] for r in rows], [r["value"] for r in rows])
    ax.set_xlabel("unit")
    return fig
