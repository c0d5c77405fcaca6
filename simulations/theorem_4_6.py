"""Theorem 4.6: a cluster-preserving minimiser is enough for every cluster-faithful task.

With exactly 2^d clusters and a uniform, cluster-preserving g (the Theorem 4.5 minimiser), a
two-layer ReLU head a.ReLU(W g(x) - b) with 2^d neurons has zero error on every non-constant
cluster-faithful binary task; the paper's construction (rows of W the cluster vertices,
b = (d-2) 1, a = task labels) does it with exactly one neuron active, at pre-activation 2. A
linear head cannot: it fails on the parity-type tasks (Walsh characters of degree >= 2 of the
cluster vertices). Per d, g is trained with the package trainer on realizable comb data
(band-limited class, B < T); on every learned code the explicit head is evaluated on every
task, and ReLU (2^d neurons) and linear heads are trained on a task family (all tasks up to
m = 8 clusters, else a sample plus the parity-type tasks) on a training split of the views,
chosen on a validation split and scored on held-out test views. Exact references: the least
error of any head (Bayes) and of any linear head (threshold labellings of the cube, d <= 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis.arms import group
from clustertheory.analysis.codes import RealizableComb, code_summaries
from clustertheory.analysis.downstream import HeadConfig, code_task_report, partner_split_code
from clustertheory.config import Integer, Real, TupleOf, setting
from clustertheory.plotting import sup_per_item
from clustertheory.statistics import ROUNDING
from clustertheory.simulation import Check, Claim, RunContext, SimulationConfig, Verdict
from clustertheory.verdict import largest
from clustertheory.training import TrainConfig
from clustertheory.training.codes import train_codes

NAME = "theorem-4.6"
SUMMARY = "downstream: the explicit ReLU head (2^d neurons) is exact on every cluster-faithful task of every learned minimiser, trained ReLU heads find such a head, linear heads fail on parity"

SOURCE = "Parulekar et al. 2023, Theorem 4.6"


@dataclass(frozen=True)
class Config(SimulationConfig):
    """zero_error: an error at most this is zero (rounding); it is the minimal effect of the
    "zero error" claims (null 1/2, chance on a balanced task) and of the "linear heads fail"
    claim (null 0). null_share / minimal_share: for the share of codes whose trained ReLU head
    is exact, a coin flip is no effect and 0.8 the least share that counts."""

    dims: tuple = setting((2, 3, 4), TupleOf(Integer(1, 4), increasing=True), "code dimensions d (m = 2^d clusters)")
    comb: RealizableComb = setting(RealizableComb(), doc="the realizable comb data and the band-limited class")
    seeds: int = setting(10, Integer(1), "learned codes per d (trained together)")
    train: TrainConfig = setting(TrainConfig(steps=600, batch_size=128, num_negatives=16, beta=2.0, lr=0.05), doc="training of every code")
    heads: HeadConfig = setting(HeadConfig("relu", restarts=8, steps=300), doc="the ReLU heads (hidden None: 2^d neurons, the theorem's width)")
    linear_heads: HeadConfig = setting(HeadConfig("linear", restarts=1, steps=300), doc="how the linear heads are trained")
    max_tasks: int = setting(256, Integer(1), "all non-constant tasks if at most this many, else this many random ones plus the parity-type tasks")
    split_fractions: tuple = setting((0.5, 0.25, 0.25), TupleOf(Real(0, 1, open_lo=True), min_len=3, max_len=3),
                                     "train / validation / test shares of every cluster's views")
    loss_tolerance: float = setting(1e-9, Real(0, open_lo=True), "|L - L*| counted as zero (a minimiser: uniform, cluster-preserving, at L*)")
    zero_error: float = setting(1e-9, Real(0, 0.5, open_lo=True), "an error at most this is zero")
    null_share: float = setting(0.5, Real(0, 1), "share of codes that is no effect (a coin flip)")
    minimal_share: float = setting(0.8, Real(0, 1), "the least share of codes that counts")
    min_minimisers: int = setting(5, Integer(1), "learned minimisers needed per d to test the claims")

    def validate(self) -> None:
        if self.comb.clusters_per_vertex != 1:
            raise ValueError(f"comb.clusters_per_vertex must be 1 (Theorem 4.6 needs exactly 2^d clusters), got {self.comb.clusters_per_vertex}")
        if self.comb.points_per_cluster % 2:
            raise ValueError(f"comb.points_per_cluster must be even (the partner split moves half of each cluster), got {self.comb.points_per_cluster}")
        if self.comb.points_per_cluster * self.comb.teeth < 3:
            raise ValueError("comb.points_per_cluster * comb.teeth must be >= 3 (views per cluster for a 3-way split)")
        if abs(sum(self.split_fractions) - 1) > 1e-9:
            raise ValueError(f"split_fractions must sum to 1, got {self.split_fractions}")
        if self.heads.kind != "relu" or self.linear_heads.kind != "linear":
            raise ValueError("heads.kind must be 'relu' and linear_heads.kind 'linear'")
        if self.minimal_share < self.null_share:
            raise ValueError(f"minimal_share ({self.minimal_share}) must be >= null_share ({self.null_share})")


SCALES = {
    "default": Config(),
    "paper": Config(seeds=32, max_tasks=4096, train=TrainConfig(steps=2000, batch_size=128, num_negatives=16, beta=2.0, lr=0.05),
                    heads=HeadConfig("relu", restarts=16, steps=500)),
}


# ----------------------------------------------------------------------------- measurements


def measure_dimension(d: int, config: Config, ctx: RunContext) -> list[dict]:
    """Learned codes (trained together) and the hand-built partner split: one row per task, with
    the code's facts (the explicit head on every task; for the first minimiser of each d the exact
    best-linear errors against linear programming)."""
    data = config.comb.dataset(d, config.seed)
    member_seeds = [ctx.seed_for("member", d, s) for s in range(config.seeds)]
    learned = train_codes(config.comb, data, d, config.train, member_seeds, ctx.seed_for("train", d), ctx.device)
    tables = {"learned": learned, "partner-split": partner_split_code(data, d)[None]}
    rows, lp_done = [], False
    for representation, table in tables.items():
        summaries = code_summaries(table, data, config.train.num_negatives, config.train.beta)
        for member, (codes, summary) in enumerate(zip(table, summaries)):
            minimiser = summary["minimiser_shape"] and abs(summary["gap"]) <= config.loss_tolerance
            code = {"representation": representation, "member": member, "minimiser": minimiser, "tv": summary["tv"], "gap": summary["gap"],
                    "preserving": summary["preserving"], "min_purity": summary["min_purity"]}
            lp_check = representation == "learned" and minimiser and not lp_done  # the first minimiser of each d
            lp_done |= lp_check
            facts, task_rows = code_task_report(codes, data, config.max_tasks, config.split_fractions, config.heads, config.linear_heads,
                                                ctx.seed_for("heads", d, representation, member), ctx.device, lp_check, ROUNDING)
            rows += [{**code, **facts, **row} for row in task_rows]
    return rows


def run(config: Config, ctx: RunContext) -> list[dict]:
    """One row per (d, code, task)."""
    return ctx.sweep([{"d": d} for d in config.dims], lambda unit: measure_dimension(unit["d"], config, ctx), desc=NAME)


# ----------------------------------------------------------------------------- verdict


def codes_of(rows: list[dict]) -> dict[tuple, list[dict]]:
    """Rows grouped by code: (d, representation, member) -> task rows."""
    return group(rows, "d", "representation", "member")


def verdict(rows: list[dict], config: Config) -> Verdict:
    codes = codes_of(rows)
    minimisers = {key: t for key, t in codes.items() if key[1] == "learned" and t[0]["minimiser"]}
    task_rows = [r for t in minimisers.values() for r in t]
    split = [t for key, t in codes.items() if key[1] == "partner-split"]
    per_d = [sum(key[0] == d for key in minimisers) for d in config.dims]
    enough = Check.at_least(f"learned codes that are minimisers (uniform, preserving, at L*), least over d of {config.seeds}", min(per_d), config.min_minimisers)
    mismatched = sum((r["linear_test_error"] > ROUNDING) == r["separable"] for r in task_rows)
    checks = [
        Check.all_of("explicit head on every minimiser: one neuron active at pre-activation 2 on every view",
                     [(t[0]["explicit_min_active"], t[0]["explicit_max_active"], t[0]["explicit_min_pre"], t[0]["explicit_max_pre"]) == (1, 1, 2.0, 2.0) for t in minimisers.values()]),
        Check.at_most(f"exact best-linear error (threshold labellings) vs linear programming on {sum(t[0]['lp_checked'] for t in minimisers.values())} tasks: disagreements",
                      sum(t[0]["lp_disagreements"] for t in minimisers.values()), 0),
        Check.at_most(f"trained linear heads: test error > 0 exactly where no linear head fits the training views (mismatches over {len(task_rows)} code-tasks)", mismatched, 0),
        Check.at_least("sanity of the construction: partner-split code (half of each cluster on its partner's vertex), sup Bayes error over every task",
                       min((t[0]["bayes_sup_all_tasks"] for t in split), default=np.nan), 0.5 - ROUNDING),
    ]
    exact_relu = [max(r["relu_test_error"] for r in t) <= config.zero_error for t in minimisers.values()]
    parity = [r["min_linear_error"] for r in task_rows if r["parity"]]
    claims = [
        Claim.from_exact(
            "explicit-head-exact", SOURCE, "on a uniform cluster-preserving minimiser the explicit ReLU head (2^d neurons) has zero error on every cluster-faithful task",
            largest(t[0]["explicit_sup_all_tasks"] for t in minimisers.values()), "sup error over every task, view and minimiser",
            null=0.5, minimal_effect=config.zero_error, direction="less", preconditions=[enough], n=len(minimisers),
        ),
        Claim.from_proportion(
            "trained-relu-exact", "package prediction (the theorem constructs the head; training is ours)",
            "a ReLU head with 2^d neurons trained on the training views has zero test error on every task of the family",
            sum(exact_relu), len(exact_relu), "share of minimiser codes",
            null=config.null_share, minimal_effect=config.minimal_share, preconditions=[enough],
        ),
        Claim.from_exact(
            "linear-fails-parity", SOURCE + " (remark)", "a linear head cannot fit every cluster-faithful task: it fails on the parity-type tasks",
            min(parity, default=np.nan), "least exact best-linear error over parity-type tasks of every minimiser",
            null=0.0, minimal_effect=config.zero_error, preconditions=[enough, Check.at_least("parity-type tasks evaluated", len(parity), 1)], n=len(parity),
        ),
    ]
    return Verdict(checks, claims)


# ----------------------------------------------------------------------------- figure

_SERIES = (
    ("relu_test_error", "ReLU head, trained (test views)", "tab:blue", "o"),
    ("explicit_error", "explicit 4.6 head", "tab:green", "^"),
    ("linear_test_error", "linear head, trained (test views)", "tab:red", "s"),
    ("min_linear_error", "best linear head (exact)", "black", "_"),
    ("bayes_error", "best head of any kind (exact)", "tab:purple", "x"),
)


def _panel(ax, task_rows: list[dict], title: str) -> None:
    """Per task, the sup over codes of each error; tasks ordered by the exact best-linear error."""
    sup_per_item(ax, task_rows, "task_id", _SERIES, order=("min_linear_error", "linear_test_error"), flag="parity", flag_label="parity-type task")
    ax.set_ylim(-0.1, 1.0)
    ax.set_xlabel("task (ordered by exact best linear error)")
    ax.set_ylabel("error (sup over codes)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6.5, loc="upper left")


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    dims = sorted({r["d"] for r in rows})
    fig, axes = plt.subplots(len(dims), 2, figsize=(13, 4.2 * len(dims)), squeeze=False, width_ratios=(2, 1))
    codes = codes_of(rows)
    for i, d in enumerate(dims):
        learned = [t for key, t in codes.items() if key[0] == d and key[1] == "learned"]
        good = [t for t in learned if t[0]["minimiser"]]
        tasks = f"{len(good[0]) if good else 0} of {2**2**d - 2} tasks"
        _panel(axes[i, 0], [r for t in good for r in t], f"d={d}: {len(good)} of {len(learned)} learned codes are minimisers ({tasks});\nexplicit head on all {2**2**d - 2} tasks: sup error {max((t[0]['explicit_sup_all_tasks'] for t in good), default=float('nan')):.2g}")
        split = [r for t in codes.values() if t[0]["d"] == d and t[0]["representation"] == "partner-split" for r in t]
        _panel(axes[i, 1], split, f"d={d}: sanity - hand-built partner split\n(half of each cluster on its partner's vertex)")
    fig.suptitle(f"Theorem 4.6: errors on cluster-faithful tasks (comb T={config.comb.teeth}, band-limited B={config.comb.bandwidth}; ReLU head with 2^d neurons vs linear head)", fontsize=11)
    fig.tight_layout()
    return fig
