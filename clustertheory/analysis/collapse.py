"""What the class-collapse, feature-suppression and joint-loss simulations measure on the linear
model f(x) = W x + b of the data model of :mod:`clustertheory.data.collapse` (Xue et al. 2023).

Weights are the lifted ``Wt = [W b]`` (p, dim + 1); the features v_1, v_2, v_3 are the first
standard-basis coordinates, so ``||W v_j|| = ||Wt[:, j - 1]||``. Probes are the library's
logistic probe on ``n`` fresh examples with the random half / quarter / quarter split of
:func:`clustertheory.analysis.embedding.probe_split` (:func:`fresh_probe`).

    fresh_probe            test accuracy of a linear probe on fresh examples
    feature_norms          ||W v_j|| of named features, as row fields
    collapse_measures      feature norms, collapse of the training embeddings, probes on fresh examples
    scl_collapse_traces    per seed: the exact min-norm L_SCL minimiser and gradient descent's trace
    learning_order         per seed: which feature GD learns first and the subclass probe at the peak
    joint_weight_sweep     min-norm minimisers of w L_SCL + (1 - w) L_UCL over w (population, training sets) and GD
    kept_fractions         ||W v1|| / ||W_SCL v1|| and ||W v2|| / ||W_UCL v2|| of joint-loss rows
    seed_traces            {seed: rows sorted by step}, for reading traces in verdicts
    peak_and_ends          the first, peak and last rows of one trace
    kept_class_norm        ||W* v1|| when nothing outranks v_1: the scale of "kept"
    rule_predictions       whether v_1 is kept by the stated rule and by the bias-first rule
    ucl_class_norms        min-norm L_UCL ||W* v1|| over embedding sizes (population, training sets)
    ucl_descent_against_min_norm   per seed GD on L_UCL traced against the min-norm minimiser
    final_rows             the last step of each seed's trace
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..data.collapse import CollapseConfig, CollapseData, collapse_dataset
from .arms import group
from ..losses.spectral import (
    scl_moments,
    spectral_loss_from_moments,
    ucl_moments,
    with_bias,
)
from .embedding import (
    linear_probe_accuracy,
    probe_split,
    subclass_separation,
    within_between_ratio,
)
from .min_norm import (
    DescentConfig,
    gram_gap,
    outranking_directions,
    population_moments,
    range_basis,
    spectral_gradient_descent,
    spectral_min_norm,
)


def fresh_probe(z: np.ndarray, labels: np.ndarray, cs: Sequence[float]) -> float:
    """Test accuracy of :func:`linear_probe_accuracy` on embeddings z (n, p) of n examples with
    labels (n,), split at random into half train / quarter validation / quarter test
    (``probe_split(n)``), the inverse regularisation picked from ``cs`` on the validation part."""
    return linear_probe_accuracy(z, labels, probe_split(len(labels)), cs=cs)["accuracy"]


def feature_norms(weights: np.ndarray, prefix: str, names: Sequence[str] = ("v1", "v2", "v3")) -> dict[str, float]:
    """``{f"{prefix}_{name}": ||Wt[:, i]||}`` for the i-th of ``names``: the norm of weights (p, D')
    along the standard-basis feature v_{i+1}."""
    return {f"{prefix}_{name}": float(np.linalg.norm(weights[:, i])) for i, name in enumerate(names)}


def collapse_measures(weights: np.ndarray, train: CollapseData, probe_x: np.ndarray, probe: CollapseData, cs: Sequence[float]) -> dict:
    """What class collapse is read from, for weights Wt (p, D'):

    norm_v1, norm_v2      ||W v_1|| (class), ||W v_2|| (subclass)
    class_ratio           within / between class sum of squares of the training views' embeddings
    subclass_separation   subclass / class separation of the training views' embeddings
    probe_subclass/class  :func:`fresh_probe` of the subclass / class on probe_x (n, D') = the
                          lifted originals of ``probe``
    """
    z_train = with_bias(train.flat_views) @ weights.T
    labels, sublabels = np.repeat(train.y, train.views.shape[1]), np.repeat(train.y_sub, train.views.shape[1])
    z = probe_x @ weights.T
    return {
        "norm_v1": float(np.linalg.norm(weights[:, 0])), "norm_v2": float(np.linalg.norm(weights[:, 1])),
        "class_ratio": within_between_ratio(z_train, labels), "subclass_separation": subclass_separation(z_train, labels, sublabels),
        "probe_subclass": fresh_probe(z, probe.y_sub, cs), "probe_class": fresh_probe(z, probe.y, cs),
    }


def scl_collapse_traces(
    data: CollapseConfig, regime: str, p: int, descent: DescentConfig, seeds: Sequence[int], record_at: Sequence[int],
    probe_examples: int, cs: Sequence[float], device="cpu",
) -> list[dict]:
    """Exact minimiser and gradient descent on L_SCL for one training set per seed (one batched GD pass).

    Training set e is ``collapse_dataset(data, seeds[e])``, its probe set ``probe_examples`` fresh
    originals drawn with seed ``seeds[e] + 1``. Rows: per seed one ``kind="min_norm"`` row (the
    min-norm minimiser's ``loss_min``, ``tie_size``, the population limit ``regime``'s
    ``population_v1`` / ``population_v2`` and :func:`collapse_measures`), then per step of
    ``record_at`` and seed a ``kind="trace"`` row with GD's :func:`collapse_measures`.
    """
    trains = [collapse_dataset(data, s) for s in seeds]
    probes = [collapse_dataset(data.replace(num_originals=probe_examples), s + 1) for s in seeds]
    xs = [with_bias(pr.originals) for pr in probes]
    moments = [scl_moments(t.views, t.y) for t in trains]
    bases = [range_basis(S) for S, _ in moments]
    S_pop, M_pop = population_moments(data, "scl", limit=regime)
    population = spectral_min_norm(S_pop, M_pop, p)
    rows = []
    for e, ((S, M), basis) in enumerate(zip(moments, bases)):
        best = spectral_min_norm(S, M, p, basis=basis)
        rows.append({"kind": "min_norm", "regime": regime, "seed": e, "p": p, "loss_min": best.loss, "tie_size": best.tie_size,
                     "population_v1": population.norm_along(np.eye(len(S_pop))[0]), "population_v2": population.norm_along(np.eye(len(S_pop))[1]),
                     **collapse_measures(best.weights, trains[e], xs[e], probes[e], cs)})
    for step, Ws in spectral_gradient_descent(moments, p, descent, seeds=seeds, record_at=record_at, bases=bases, device=device):
        for e, W in enumerate(Ws):
            rows.append({"kind": "trace", "regime": regime, "seed": e, "p": p, "step": step, **collapse_measures(W, trains[e], xs[e], probes[e], cs)})
    return rows


def learning_order(
    data: CollapseConfig, p: int, descent: DescentConfig, seeds: Sequence[int], every: int, probe_examples: int, cs: Sequence[float], device="cpu",
) -> list[dict]:
    """Which feature gradient descent on L_SCL learns first, per seed (training set and probe set as
    in :func:`scl_collapse_traces`), from ||W_t v_j|| recorded every ``every`` steps (and the last):

    peak_step       the step where ||W_t v2|| peaks;  peak_ratio  max ||W_t v2|| / max ||W_t v1||
    half_v1_step    the first step where ||W_t v1|| reaches half its final value
    half_v2_step    the first step where ||W_t v2|| reaches half its peak
    probe_init      subclass probe (fresh examples) at initialisation;  probe_peak  at peak_step
    """
    steps = sorted(set(range(0, descent.steps + 1, every)) | {descent.steps})
    trains = [collapse_dataset(data, s) for s in seeds]
    probes = [collapse_dataset(data.replace(num_originals=probe_examples), s + 1) for s in seeds]
    moments = [scl_moments(t.views, t.y) for t in trains]
    trace = list(spectral_gradient_descent(moments, p, descent, seeds=seeds, record_at=steps, device=device))
    rows = []
    for e in range(len(seeds)):
        v1 = np.array([np.linalg.norm(Ws[e][:, 0]) for _, Ws in trace])
        v2 = np.array([np.linalg.norm(Ws[e][:, 1]) for _, Ws in trace])
        peak = int(np.argmax(v2))
        x = with_bias(probes[e].originals)
        init_probe, peak_probe = (fresh_probe(x @ trace[i][1][e].T, probes[e].y_sub, cs) for i in (0, peak))
        rows.append({
            "peak_step": steps[peak], "peak_ratio": float(v2.max() / v1.max()),
            "half_v1_step": steps[int(np.argmax(v1 >= v1[-1] / 2))], "half_v2_step": steps[int(np.argmax(v2 >= v2.max() / 2))],
            "probe_init": init_probe, "probe_peak": peak_probe,
        })
    return rows


def joint_weight_sweep(
    data: CollapseConfig, regime: str, p: int, weights: Sequence[float], gd_weights: Sequence[float], threshold: float, descent: DescentConfig,
    seeds: Sequence[int], probe_examples: int, cs: Sequence[float], device="cpu",
) -> list[dict]:
    """The min-norm minimiser of L_joint = w L_SCL + (1 - w) L_UCL (M = w M_SCL + (1 - w) M_UCL, one S)
    for every w in ``weights``, and gradient descent from small initialisation at ``gd_weights``.

    Rows (``threshold`` = w* is copied into each; ``min_norm_v*``, ``gd_v*``: :func:`feature_norms`):
    ``kind="population"`` per w (the population limit ``regime``); ``kind="sample"`` per (seed
    index, w) on ``collapse_dataset(data, seeds[s])``, with ``probe_class`` / ``probe_subclass``
    on ``probe_examples`` fresh originals (seed ``seeds[s] + 1``) where w is in ``gd_weights``;
    ``kind="gd"`` per (seed, w in gd_weights): GD's endpoint after ``descent.steps`` (one batched
    pass), its relative loss gap to the minimum, the relative Gram gap to the min-norm minimiser on
    the features + bias (:func:`gram_gap`) and the minimiser's ``tie_size``.
    """
    rows = []
    for w in weights:
        S, M = population_moments(data, "joint", scl_weight=w, limit=regime)
        norms = feature_norms(spectral_min_norm(S, M, p).weights, "min_norm")
        rows.append({"kind": "population", "regime": regime, "scl_weight": w, "threshold": threshold, **norms})
    problems, bases, members, solutions = [], [], [], []
    for s, seed in enumerate(seeds):
        train = collapse_dataset(data, seed)
        probe = collapse_dataset(data.replace(num_originals=probe_examples), seed + 1)
        x = with_bias(probe.originals)
        S, M_ucl = ucl_moments(train.views)
        _, M_scl = scl_moments(train.views, train.y)
        basis = range_basis(S)
        for w in weights:
            M = w * M_scl + (1 - w) * M_ucl
            best = spectral_min_norm(S, M, p, basis=basis)
            W = best.weights
            rows.append({"kind": "sample", "regime": regime, "scl_weight": w, "seed": s, "threshold": threshold, **feature_norms(W, "min_norm")})
            if w in gd_weights:
                z = x @ W.T
                rows[-1].update(probe_class=fresh_probe(z, probe.y, cs), probe_subclass=fresh_probe(z, probe.y_sub, cs))
                problems.append((S, M))
                bases.append(basis)
                members.append((s, w, seed))
                solutions.append(best)
    (_, Ws), = spectral_gradient_descent(problems, p, descent, seeds=[m[2] for m in members], record_at=[descent.steps], bases=bases, device=device)
    block = list(range(data.num_features)) + [data.dim]  # the features and the bias
    for (s, w, _), W, (S, M), best in zip(members, Ws, problems, solutions):
        rows.append({"kind": "gd", "regime": regime, "scl_weight": w, "seed": s, "threshold": threshold, **feature_norms(W, "gd"),
                     "loss_gap": (spectral_loss_from_moments(W, S, M) - best.loss) / abs(best.loss), "gram_gap": gram_gap(W, best.weights, block),
                     "tie_size": best.tie_size})
    return rows


def kept_fractions(rows: Sequence[dict], prefix: str) -> list[tuple[float, float, float]]:
    """(w, ||W v1|| / ||W_SCL v1||, ||W v2|| / ||W_UCL v2||) per row of a joint-loss sweep, against the
    rows of the same seed (or the population: no ``seed``) at w = 1 (SCL) and w = 0 (UCL); norms
    are the fields ``{prefix}_v1`` and ``{prefix}_v2`` (a zero reference counts as 1e-300)."""
    ref = {(r.get("seed"), r["scl_weight"]): r for r in rows}
    out = []
    for r in rows:
        scl, ucl = ref[(r.get("seed"), 1.0)], ref[(r.get("seed"), 0.0)]
        out.append((r["scl_weight"], r[f"{prefix}_v1"] / max(scl[f"{prefix}_v1"], 1e-300), r[f"{prefix}_v2"] / max(ucl[f"{prefix}_v2"], 1e-300)))
    return out


def seed_traces(rows: Iterable[dict]) -> dict[int, list[dict]]:
    """{seed: that seed's rows sorted by ``step``} (seeds in order of first appearance after sorting)."""
    return {seed: trace for (seed,), trace in group(sorted(rows, key=lambda r: r["step"]), "seed").items()}


def peak_and_ends(trace: Sequence[dict], peak_key: str) -> tuple[dict, dict, dict]:
    """(first row, the row where ``peak_key`` is largest (the first such), last row) of one seed's trace in step order."""
    peak = max(trace, key=lambda r: r[peak_key])
    return trace[0], peak, trace[-1]


# ----------------------------------------------------------------------------- feature suppression (L_UCL)


def kept_class_norm(data: CollapseConfig, limit: str) -> float:
    """||W* v1|| of the population min-norm L_UCL minimiser when nothing outranks v_1 (p = K + 1):
    the norm v_1 has when it is kept, the scale of "kept" and "suppressed"."""
    S, M = population_moments(data, "ucl", limit=limit)
    return spectral_min_norm(S, M, data.num_features + 1).norm_along(np.eye(len(S))[0])


def rule_predictions(data: CollapseConfig, p: int) -> dict[str, bool]:
    """Whether v_1 is kept at embedding size p by the two rules of :func:`outranking_directions`:
    ``stated_kept`` (many-dims: the rule as Xue et al. state it, the bias ranked as a variance-1
    feature) and ``bias_first_kept`` (many-views: the bias always takes the first slot)."""
    return {"stated_kept": p > outranking_directions(data, "many-dims"), "bias_first_kept": p > outranking_directions(data, "many-views")}


def ucl_class_norms(data: CollapseConfig, sizes: Sequence[int], seeds: Sequence[int], limit: str | None) -> tuple[list[dict], list[dict]]:
    """||W* v1|| of the min-norm L_UCL minimiser at every embedding size p in ``sizes``:
    (population rows ``{p, population_v1}`` of the limit ``limit`` (none when None), training-set
    rows ``{seed (index), p, sample_v1}`` on ``collapse_dataset(data, seeds[s])``)."""
    population = []
    if limit is not None:
        S, M = population_moments(data, "ucl", limit=limit)
        population = [{"p": p, "population_v1": spectral_min_norm(S, M, p).norm_along(np.eye(len(S))[0])} for p in sizes]
    sample = []
    for s, seed in enumerate(seeds):
        S, M = ucl_moments(collapse_dataset(data, seed).views)
        basis = range_basis(S)
        sample += [{"seed": s, "p": p, "sample_v1": spectral_min_norm(S, M, p, basis=basis).norm_along(np.eye(len(S))[0])} for p in sizes]
    return population, sample


def ucl_descent_against_min_norm(data: CollapseConfig, p: int, descent: DescentConfig, seeds: Sequence[int], device="cpu") -> list[dict]:
    """Per training set ``collapse_dataset(data, seeds[e])``: the min-norm L_UCL minimiser and gradient
    descent from small initialisation (one batched pass), recorded at 0, ``descent.steps`` and 20
    geometrically spaced steps. Rows ``{seed (index), p, step, gd_v1 (||W_t v1||), min_norm_v1,
    tie_size, loss_gap}``; ``loss_gap`` (GD's relative gap to the minimum value) at the last step only, else nan."""
    moments = [ucl_moments(collapse_dataset(data, s).views) for s in seeds]
    bases = [range_basis(S) for S, _ in moments]
    best = [spectral_min_norm(S, M, p, basis=b) for (S, M), b in zip(moments, bases)]
    steps = descent.steps
    record = sorted({0, steps} | {int(t) for t in np.unique(np.geomspace(1, steps, 20).astype(int))})
    rows = []
    for step, Ws in spectral_gradient_descent(moments, p, descent, seeds=seeds, record_at=record, bases=bases, device=device):
        rows += [{"seed": e, "p": p, "step": step, "gd_v1": float(np.linalg.norm(W[:, 0])),
                  "min_norm_v1": best[e].norm_along(np.eye(W.shape[1])[0]), "tie_size": best[e].tie_size,
                  "loss_gap": (spectral_loss_from_moments(W, *moments[e]) - best[e].loss) / abs(best[e].loss) if step == steps else float("nan")}
                 for e, W in enumerate(Ws)]
    return rows


def final_rows(rows: Iterable[dict]) -> list[dict]:
    """The row of the largest ``step`` of each seed, in seed order."""
    traces = group(rows, "seed")
    return [max(traces[seed], key=lambda r: r["step"]) for seed in sorted(traces)]  # max: the first row of that step
