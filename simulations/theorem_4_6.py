"""Theorem 4.6: a cluster-preserving minimiser is enough for every cluster-faithful task.

With exactly 2^d clusters and a uniform, cluster-preserving g (the Theorem 4.5 minimiser), a
two-layer ReLU head a.ReLU(W g(x) - b) with 2^d neurons has zero error on every one of the
2^m - 2 non-constant cluster-faithful binary tasks; the paper's construction (rows of W the
cluster vertices, b = (d-2) 1, a = task labels) does it with exactly one neuron active, at
pre-activation 2. A linear head cannot: it fails on the parity-type tasks (the Walsh
characters of degree >= 2 of the cluster vertices, XOR for d = 2). This simulation trains g
with the package trainer on realizable comb data (band-limited class, B < T), trains a ReLU
head (2^d neurons) and a linear head for every task on a training split of the views
(initialisations chosen on a validation split; errors on held-out test views), evaluates the
explicit construction directly, and computes two exact references: the least error of any
head (Bayes) and of any linear head. Split representations - a hand-built clean, uniform code
that sends half of every cluster to its partner's vertex, and unrestricted lookup tables
trained on the same data - fail with both heads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustertheory.analysis.downstream import (
    HeadConfig,
    all_tasks,
    bayes_errors,
    cluster_codes_of,
    explicit_head_errors,
    fit_heads,
    min_linear_errors,
    parity_tasks,
    partner_split_code,
    preserves_clusters_on_views,
    separable_tasks,
    split_views,
    task_ids,
    task_string,
)
from clustertheory.analysis.exact_loss import population_infonce, uniform_minimum
from clustertheory.analysis.metrics import (
    alignment_error,
    cluster_purity,
    natural_vertex_law,
    uniformity,
)
from clustertheory.config import (
    check_in,
    check_int_range,
    check_nonneg_int,
    check_positive,
    check_positive_int,
    check_probability,
)
from clustertheory.data import comb_dataset
from clustertheory.functions import make_function_class
from clustertheory.simulation import Check, RunContext, SimulationConfig, Verdict
from clustertheory.training import TrainConfig, train

NAME = "theorem-4.6"
SUMMARY = "downstream: ReLU head (2^d neurons) has zero error on all cluster-faithful tasks; linear heads fail on parity; split codes fail"

LEARNED_CLASSES = ("band-limited", "lookup")
REPRESENTATIONS = ("learned", "lookup", "partner-split")
LOSS_TOLERANCE = 1e-9  # exact loss - analytic minimum, for "at the minimum"


@dataclass(frozen=True)
class Config(SimulationConfig):
    """dims: code dimensions d (m = 2^d clusters); seeds: trained codes per class and d.

    Data: comb with points_per_cluster natural images and ``teeth`` teeth per augmentation set.
    learned_class / bandwidth: the class of the "learned" codes (band-limited, B < T is
    realizable; "lookup" makes the learned codes split, to show the verdict failing).
    steps, num_negatives, beta: the package trainer (TrainConfig; other fields default).
    Heads: relu_width neurons (0: 2^d, the theorem), head_steps, head_restarts (ReLU; the
    linear loss is convex, one initialisation), split_fractions (train, validation, test views).
    explicit_bias_shift: added to the construction's b = d - 2 (0: the theorem; else broken).
    """

    dims: tuple = (2, 3)
    seeds: int = 4
    points_per_cluster: int = 4
    teeth: int = 5
    learned_class: str = "band-limited"
    bandwidth: int = 2
    steps: int = 600
    num_negatives: int = 16
    beta: float = 2.0
    relu_width: int = 0
    head_steps: int = 300
    head_restarts: int = 8
    split_fractions: tuple = (0.5, 0.25, 0.25)
    explicit_bias_shift: float = 0.0

    def validate(self) -> None:
        if not self.dims:
            raise ValueError("dims must hold at least one d")
        for d in self.dims:
            check_int_range("dims", d, 1, 3)  # exact linear reference enumerates threshold functions (d <= 3)
        check_positive_int("seeds", self.seeds)
        check_positive_int("points_per_cluster", self.points_per_cluster)
        if self.points_per_cluster % 2:
            raise ValueError(f"points_per_cluster must be even (the partner split moves half of each cluster), got {self.points_per_cluster}")
        check_positive_int("teeth", self.teeth)
        if self.points_per_cluster * self.teeth < 3:
            raise ValueError("points_per_cluster * teeth must be >= 3 (views per cluster for a 3-way split)")
        check_in("learned_class", self.learned_class, LEARNED_CLASSES)
        check_nonneg_int("bandwidth", self.bandwidth)
        check_positive_int("steps", self.steps)
        check_positive_int("num_negatives", self.num_negatives)
        check_positive("beta", self.beta)
        check_nonneg_int("relu_width", self.relu_width)
        check_positive_int("head_steps", self.head_steps)
        check_positive_int("head_restarts", self.head_restarts)
        if len(self.split_fractions) != 3:
            raise ValueError(f"split_fractions must hold 3 numbers (train, validation, test), got {self.split_fractions}")
        for f in self.split_fractions:
            check_probability("split_fractions", f)
        if abs(sum(self.split_fractions) - 1) > 1e-9 or min(self.split_fractions) <= 0:
            raise ValueError(f"split_fractions must be > 0 and sum to 1, got {self.split_fractions}")
        if not -10 <= self.explicit_bias_shift <= 10:
            raise ValueError(f"explicit_bias_shift must be in [-10, 10], got {self.explicit_bias_shift}")


SCALES = {
    "default": Config(),
    "paper": Config(seeds=16, steps=1000, head_restarts=16, head_steps=500),
}


# ----------------------------------------------------------------------------- measurements


def _train_codes(data, d: int, function_class: str, config: Config, seed: int, device) -> np.ndarray:
    """(E, V, d) hard codes of ``config.seeds`` members trained together by the package trainer."""
    member_seeds = [seed + e for e in range(config.seeds)]
    model = make_function_class(function_class, data, d, seeds=member_seeds, device=device, bandwidth=config.bandwidth)
    result = train(model, data, TrainConfig(steps=config.steps, num_negatives=config.num_negatives, beta=config.beta), seed=seed)
    return result.codes


def _evaluate(codes: np.ndarray, data, d: int, config: Config, seed: int, device) -> list[dict]:
    """One row per task: trained heads, the explicit head, exact references; code facts repeated."""
    m = data.num_clusters
    tasks = all_tasks(m)
    split = split_views(data, config.split_fractions, seed=seed)
    relu = fit_heads(
        codes, data, tasks, split,
        HeadConfig("relu", hidden=config.relu_width or None, restarts=config.head_restarts, steps=config.head_steps),
        seed=seed, device=device,
    )
    linear = fit_heads(codes, data, tasks, split, HeadConfig("linear", restarts=1, steps=config.head_steps, patience=None), seed=seed + 1, device=device)
    explicit = explicit_head_errors(codes, data, tasks, bias=d - 2 + config.explicit_bias_shift)
    bayes = bayes_errors(codes, data, tasks)
    min_linear = min_linear_errors(codes, data, tasks)
    separable = separable_tasks(codes, data, tasks, split == 0)
    parity = set(task_ids(parity_tasks(cluster_codes_of(codes, data))).tolist())
    purity = cluster_purity(codes, data)
    code_facts = {
        "preserving": preserves_clusters_on_views(codes, data),
        "min_purity": float(np.nanmin(purity)),
        "tv_uniform": uniformity(natural_vertex_law(codes, data))["tv"],
        "alignment_error": alignment_error(codes, data),
        "loss_excess": population_infonce(codes, data, config.num_negatives, config.beta) - uniform_minimum(d, config.num_negatives, config.beta),
        "explicit_min_active": int(explicit.active.min()),
        "explicit_max_active": int(explicit.active.max()),
        "explicit_min_pre": float(explicit.active_pre.min()) if explicit.active_pre.size else 0.0,
        "explicit_max_pre": float(explicit.active_pre.max()) if explicit.active_pre.size else 0.0,
        "relu_hidden": config.relu_width or 2**d,
    }
    ids = task_ids(tasks)
    return [
        {
            "task_id": int(ids[t]),
            "task": task_string(tasks[t]),
            "balanced": bool(tasks[t].sum() == 0),
            "parity": int(ids[t]) in parity,
            "separable": bool(separable[t]),
            "relu_train_error": float(relu.train_error[t]),
            "relu_test_error": float(relu.test_error[t]),
            "relu_inits": int(relu.restarts_used[t]),
            "linear_train_error": float(linear.train_error[t]),
            "linear_test_error": float(linear.test_error[t]),
            "explicit_error": float(explicit.errors[t]),
            "bayes_error": float(bayes[t]),
            "min_linear_error": float(min_linear[t]),
            **code_facts,
        }
        for t in range(len(tasks))
    ]


def run(config: Config, ctx: RunContext) -> list[dict]:
    """For every d: learned codes (per seed), trained lookup codes (per seed), the partner split."""
    units = [{"d": d, "representation": r} for d in config.dims for r in REPRESENTATIONS]

    def measure(unit: dict) -> list[dict]:
        d, representation = unit["d"], unit["representation"]
        data = comb_dataset(2**d, config.points_per_cluster, config.teeth)
        if representation == "partner-split":
            codes_by_seed = [partner_split_code(data, d)]
        else:
            function_class = config.learned_class if representation == "learned" else "lookup"
            codes_by_seed = list(_train_codes(data, d, function_class, config, ctx.seed_for("train", d, representation), ctx.device))
        rows = []
        for member, codes in enumerate(codes_by_seed):
            for row in _evaluate(codes.astype(np.float64), data, d, config, ctx.seed_for("heads", d, representation, member), ctx.device):
                rows.append({"member": member, **row})
        return rows

    return ctx.sweep(units, measure, desc="theorem-4.6")


# ----------------------------------------------------------------------------- verdict


def _codes(rows: list[dict]) -> dict[tuple, list[dict]]:
    """Rows grouped by code: (d, representation, member) -> task rows."""
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault((r["d"], r["representation"], r["member"]), []).append(r)
    return out


def verdict(rows: list[dict], config: Config) -> Verdict:
    """Learned codes preserve clusters; on them ReLU and explicit heads are perfect and linear
    heads fail exactly on the non-separable (parity-type among them) tasks; split codes fail."""
    codes = _codes(rows)
    learned = [task_rows for key, task_rows in codes.items() if key[1] == "learned"]
    preserving = [task_rows for task_rows in codes.values() if task_rows[0]["preserving"]]
    split = [task_rows for task_rows in codes.values() if not task_rows[0]["preserving"]]
    good_learned = sum(t[0]["preserving"] and t[0]["tv_uniform"] <= 1e-12 for t in learned)

    pres_rows = [r for t in preserving for r in t]
    relu_sup = max((r["relu_test_error"] for r in pres_rows), default=np.inf)
    explicit_sup = max((r["explicit_error"] for r in pres_rows), default=np.inf)
    active = sorted({(t[0]["explicit_min_active"], t[0]["explicit_max_active"], t[0]["explicit_min_pre"], t[0]["explicit_max_pre"]) for t in preserving})
    one_active = bool(active) and all(a == (1, 1, 2.0, 2.0) for a in active)
    mismatched = sum((r["linear_test_error"] > 0) != (not r["separable"]) for r in pres_rows)
    parity_rows = [r for r in pres_rows if r["parity"]]
    parity_failed = sum(r["linear_test_error"] > 0 and r["min_linear_error"] > 0 for r in parity_rows)

    split_bayes = [max(r["bayes_error"] for r in t) for t in split]
    split_relu = [max(r["relu_test_error"] for r in t) for t in split]
    split_linear = [max(r["linear_test_error"] for r in t) for t in split]
    split_ok = bool(split) and min(split_bayes) > 0 and min(split_relu) > 0 and min(split_linear) > 0
    checks = [
        Check("learned codes cluster-preserving and uniform", f"{good_learned} of {len(learned)}", "all", bool(learned) and good_learned == len(learned)),
        Check(f"ReLU head (2^d neurons), sup test error over all tasks, {len(preserving)} preserving codes", relu_sup, "0", relu_sup == 0),
        Check("explicit construction, sup error over all tasks and views", explicit_sup, "0", explicit_sup == 0),
        Check("explicit construction: (min, max) active neurons, (min, max) pre-activation", active, "[(1, 1, 2.0, 2.0)]", one_active),
        Check("tasks where linear test error > 0 disagrees with 'not linearly separable'", mismatched, "0", bool(pres_rows) and mismatched == 0),
        Check("parity-type tasks the linear head fails (and no linear head fits)", f"{parity_failed} of {len(parity_rows)}", "all", bool(parity_rows) and parity_failed == len(parity_rows)),
        Check(
            f"split codes ({len(split)}): min over codes of sup error (Bayes, ReLU, linear)",
            (min(split_bayes, default=0.0), min(split_relu, default=0.0), min(split_linear, default=0.0)),
            "all > 0",
            split_ok,
        ),
    ]
    return Verdict(checks)


# ----------------------------------------------------------------------------- figure

_SERIES = (
    ("relu_test_error", "ReLU head, trained (test views)", "tab:blue", "o"),
    ("explicit_error", "explicit 4.6 head", "tab:green", "^"),
    ("linear_test_error", "linear head, trained (test views)", "tab:red", "s"),
    ("min_linear_error", "best linear head (exact)", "black", "_"),
    ("bayes_error", "best head of any kind (exact)", "tab:purple", "x"),
)


def _panel(ax, task_rows: list[dict], title: str) -> None:
    """Per-task sup over codes of each error, tasks ordered by the exact best-linear error."""
    by_task: dict[int, dict] = {}
    for r in task_rows:
        entry = by_task.setdefault(r["task_id"], {"parity": r["parity"], **{k: 0.0 for k, *_ in _SERIES}})
        for key, *_ in _SERIES:
            entry[key] = max(entry[key], r[key])
        entry["parity"] = entry["parity"] or r["parity"]
    order = sorted(by_task, key=lambda t: (by_task[t]["min_linear_error"], by_task[t]["linear_test_error"], t))
    x = np.arange(len(order))
    for key, label, colour, marker in _SERIES:
        y = [by_task[t][key] for t in order]
        ax.plot(x, y, marker, color=colour, ms=4 if marker != "_" else 7, alpha=0.8, label=f"{label}: sup {max(y):.2f}", ls="none")
    parity_x = [i for i, t in enumerate(order) if by_task[t]["parity"]]
    if parity_x:
        ax.plot(parity_x, [-0.06] * len(parity_x), "*", color="darkorange", ms=8, ls="none", label="parity-type task")
    ax.set_ylim(-0.1, 1.0)
    ax.set_xlabel("task (ordered by exact best linear error)")
    ax.set_ylabel("error (sup over codes)")
    ax.set_title(title, fontsize=9)


def plot(rows: list[dict], config: Config):
    import matplotlib.pyplot as plt

    dims = sorted({r["d"] for r in rows})
    columns = (
        ("learned", f"learned g ({config.learned_class}, B={config.bandwidth}, T={config.teeth})"),
        ("partner-split", "hand-built split g (half a cluster on its partner)"),
        ("lookup", "trained lookup-table g (unrestricted)"),
    )
    fig, axes = plt.subplots(len(dims), 3, figsize=(16, 4.3 * len(dims)), squeeze=False)
    for i, d in enumerate(dims):
        for j, (representation, label) in enumerate(columns):
            task_rows = [r for r in rows if r["d"] == d and r["representation"] == representation]
            codes = _codes(task_rows)
            kept = sum(t[0]["preserving"] for t in codes.values())
            purity = min((t[0]["min_purity"] for t in codes.values()), default=float("nan"))
            _panel(axes[i, j], task_rows, f"d={d}, {2**(2**d) - 2} tasks: {label}\n{kept} of {len(codes)} codes cluster-preserving, min purity {purity:.2f}")
            axes[i, j].legend(fontsize=6.5, loc="upper left")
    fig.suptitle("Theorem 4.6: downstream error on every cluster-faithful task (ReLU head with 2^d neurons vs linear head)", fontsize=11)
    fig.tight_layout()
    return fig
