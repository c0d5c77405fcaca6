"""Reading result rows for claims and figures: selecting and grouping rows, arms that share
seeds (paired designs), per-seed shares and values, grids of cell values.

A simulation that compares methods ("arms") trains each arm once per seed, from the same data
and initialisation; its rows carry the arm under some field (``method``, ``loss``, ...), the
``seed`` and the cell of a sweep (e.g. ``num_clusters``). A claim about "treated vs control"
then needs, per seed, one value for each arm: the mean of ``key`` over the seed's rows of that
arm (over the cells of the sweep, and anything else the rows differ in).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def select(rows: Iterable[dict], **where) -> list[dict]:
    """The rows whose fields equal every ``where`` item."""
    return [r for r in rows if all(r.get(k) == v for k, v in where.items())]


def seed_values(rows: Iterable[dict], key: str, seed_field: str = "seed", **where) -> np.ndarray:
    """(S,) float64 ``key`` of the rows matching ``where``, in the order of ``row[seed_field]``
    (one row per seed, e.g. one cell of a sweep: no averaging)."""
    chosen = sorted(select(rows, **where), key=lambda r: r[seed_field])
    return np.array([r[key] for r in chosen], dtype=np.float64)


def group(rows: Iterable[dict], *fields: str) -> dict[tuple, list[dict]]:
    """The rows by the values of ``fields``: (values, in order of first appearance) -> rows, in order."""
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(tuple(r[f] for f in fields), []).append(r)
    return out


def per_seed(rows: Iterable[dict], key: str, **where) -> dict[int, float]:
    """seed -> mean of ``key`` over the rows matching ``where`` (rows without the key ignored)."""
    values: dict[int, list[float]] = {}
    for r in select(rows, **where):
        if key in r:
            values.setdefault(r["seed"], []).append(float(r[key]))
    return {seed: float(np.mean(v)) for seed, v in sorted(values.items())}


def paired(rows: Iterable[dict], key: str, field: str, treated, control, **where) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed means of ``key`` for ``field == treated`` and ``field == control``, over the
    seeds both arms have: two aligned arrays for ``Claim.from_paired``."""
    rows = list(rows)
    a = per_seed(rows, key, **{field: treated}, **where)
    b = per_seed(rows, key, **{field: control}, **where)
    seeds = sorted(set(a) & set(b))
    return np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds])


def cell_means(rows: Iterable[dict], key: str, cell: tuple[str, ...], **where) -> dict[tuple, float]:
    """cell values -> mean of ``key`` over the matching rows of that cell (over seeds)."""
    values: dict[tuple, list[float]] = {}
    for r in select(rows, **where):
        if key in r:
            values.setdefault(tuple(r[c] for c in cell), []).append(float(r[key]))
    return {c: float(np.mean(v)) for c, v in sorted(values.items())}


def differences(rows: Iterable[dict], key: str, field: str, treated, control, **where) -> dict[int, float]:
    """seed -> per-seed mean of ``key`` at ``field == treated`` minus at ``field == control``,
    over the seeds both have (rows matching ``where``): a paired effect kept by seed, e.g. to
    subtract the effects of two settings seed by seed."""
    rows = list(rows)
    t, c = (per_seed(rows, key, **{field: value}, **where) for value in (treated, control))
    return {s: t[s] - c[s] for s in t if s in c}


def log_ratios(rows: Iterable[dict], key: str, field: str, treated, control, match: tuple[str, ...] = (), **where) -> np.ndarray:
    """Per seed (in seed order): the mean over the rows with ``field == treated`` (and ``where``) of

        log( row[key] / twin[key] )

    where twin is the row with ``field == control`` that agrees with it on ``seed`` and every
    field in ``match`` (e.g. the same step and trained model: a ratio at the same parameters)."""
    rows = select(rows, **where)
    values: dict[int, list[float]] = {}
    for r in select(rows, **{field: treated}):
        twin = select(rows, **{field: control}, seed=r["seed"], **{m: r[m] for m in match})[0]
        values.setdefault(r["seed"], []).append(math.log(r[key] / twin[key]))
    return np.array([np.mean(v) for _, v in sorted(values.items())])


def worst_cell(rows: Iterable[dict], key: str, cell: tuple[str, ...], field: str, treated, control=None, **where) -> float:
    """The smallest, over the cells of a sweep, of the mean over seeds of ``key`` at ``field ==
    treated``, minus the same mean at ``field == control`` when a control is given:

        min over cells c of  mean(key | c, treated) - mean(key | c, control)   (control None: 0)

    e.g. "the gain holds in every cell"."""
    rows = list(rows)
    treated_means = cell_means(rows, key, cell, **{field: treated}, **where)
    base = cell_means(rows, key, cell, **{field: control}, **where) if control is not None else {c: 0.0 for c in treated_means}
    return min(treated_means[c] - base[c] for c in treated_means)


def mean_ratio(rows: Iterable[dict], key: str, field: str, numerator, denominator, **where) -> float:
    """mean(key | field == numerator) / mean(key | field == denominator) over the rows matching
    ``where`` (inf when the denominator's mean is not positive), e.g. how much of one arm's
    variance another keeps."""
    rows = list(rows)
    top, bottom = (float(np.mean([r[key] for r in select(rows, **{field: value}, **where)])) for value in (numerator, denominator))
    return top / bottom if bottom > 0 else float("inf")


def seed_means(rows: Iterable[dict], value, seeds: int, cell: tuple[str, ...], seed_field: str = "seed", where=None) -> tuple[np.ndarray, int]:
    """Per seed k = 0 .. seeds - 1 (``row[seed_field]``), the mean of ``value`` over its rows for
    which ``where(row)`` holds (every row when None), and how many distinct cells (values of the
    ``cell`` fields) the selected rows cover: ((seeds,), cells).

    ``value`` is a field name or a callable of the row (e.g. a test, giving the seed's share of
    cells where it holds when each seed has one row per cell). A seed without selected rows
    gets nan; with no selected row at all, every mean is nan and cells is 0. A selected row
    whose seed is outside 0 .. seeds - 1 raises ValueError.
    """
    read = value if callable(value) else (lambda r: r[value])
    sums, counts, cells = np.zeros(seeds), np.zeros(seeds), set()
    for r in rows:
        if where is None or where(r):
            if not 0 <= r[seed_field] < seeds:
                raise ValueError(f"{seed_field} must be in 0..{seeds - 1}, got {r[seed_field]!r} in row {r}")
            sums[r[seed_field]] += float(read(r))
            counts[r[seed_field]] += 1
            cells.add(tuple(r[c] for c in cell))
    with np.errstate(invalid="ignore"):  # 0 / 0: a seed without rows
        return sums / counts, len(cells)


def grid(rows: Iterable[dict], y: str, x: str, value, ys, xs, fill: float = np.nan, reduce: str = "last") -> np.ndarray:
    """(len(ys), len(xs)) array of one value per cell from rows that name their cell.

    Row r belongs to cell (ys.index(r[y]), xs.index(r[x])) and brings r[value] (``value`` a field
    name) or value(r) (a callable). ``reduce`` combines the rows of a cell: "last" (a later row
    overwrites an earlier one), "sum" or "mean". Cells no row names hold ``fill``. Rows whose
    cell is not in the grid raise ValueError.
    """
    if reduce not in ("last", "sum", "mean"):
        raise ValueError(f"reduce must be one of ['last', 'mean', 'sum'], got {reduce!r}")
    ys, xs = list(ys), list(xs)
    total, count = np.zeros((len(ys), len(xs))), np.zeros((len(ys), len(xs)), dtype=np.int64)
    for r in rows:
        i, j = ys.index(r[y]), xs.index(r[x])
        v = value(r) if callable(value) else r[value]
        total[i, j] = v if reduce == "last" else total[i, j] + v
        count[i, j] += 1
    values = total / np.maximum(count, 1) if reduce == "mean" else total
    return np.where(count > 0, values, fill)
