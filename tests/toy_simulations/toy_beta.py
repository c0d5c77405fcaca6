"""A second toy simulation for the reproduce and results-page tests: two stages, two claims
(one reproduced, one not-testable because its precondition fails)."""

from __future__ import annotations

from dataclasses import dataclass

from clustertheory.config import Integer
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict

NAME = "toy-beta"
SUMMARY = "toy: squares in two stages"


@dataclass(frozen=True)
class Config(SimulationConfig):
    n: int = 5

    constraints = {"n": Integer(2)}


SCALES = {"default": Config(), "paper": Config(n=9)}


def run(config: Config, ctx: RunContext) -> list[dict]:
    first = ctx.sweep([{"stage": "squares", "i": i} for i in range(config.n)], lambda u: {"value": u["i"] ** 2}, desc="squares")
    second = ctx.sweep([{"stage": "cubes", "i": i} for i in range(config.n)], lambda u: {"value": u["i"] ** 3}, desc="cubes")
    return first + second


def verdict(rows: list[dict], config: Config) -> Verdict:
    squares = [r["value"] for r in rows if r["stage"] == "squares"]
    cubes = [r["value"] for r in rows if r["stage"] == "cubes"]
    checks = [Check.equal("squares of 0..n-1", squares, [i * i for i in range(config.n)])]
    claims = [
        Claim.from_exact("cubes-grow", "toy paper, Thm 2", "the largest cube exceeds the largest square", max(cubes) - max(squares),
                         "value", null=0.0, minimal_effect=0.0),
        Claim.from_exact("needs-negatives", "toy paper, Thm 3", "holds only with negative values", min(squares), "value",
                         null=0.0, minimal_effect=0.0, preconditions=[Check.below("smallest square", min(squares), 0)]),
    ]
    return Verdict(checks, claims)


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    for stage in ("squares", "cubes"):
        ax.plot([r["i"] for r in rows if r["stage"] == stage], [r["value"] for r in rows if r["stage"] == stage], label=stage)
    ax.legend()
    return fig
