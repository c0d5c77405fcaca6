"""Reading result rows of arms that share seeds (paired designs) for claims and figures.

A simulation that compares methods ("arms") trains each arm once per seed, from the same data
and initialisation; its rows carry the arm under some field (``method``, ``loss``, ...), the
``seed`` and the cell of a sweep (e.g. ``num_clusters``). A claim about "treated vs control"
then needs, per seed, one value for each arm: the mean of ``key`` over the seed's rows of that
arm (over the cells of the sweep, and anything else the rows differ in).
"""

from __future__ import annotations

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


def seed_shares(rows: Iterable[dict], hit, cell: tuple[str, ...], seeds: int, seed_field: str = "seed", keep=None, **where) -> np.ndarray:
    """(seeds,) per seed s, the share of the cells where ``hit(row)`` holds for s's row:

        share_s = #{rows r of seed s with hit(r)} / #cells

    over the rows matching ``where`` and ``keep(row)`` (None: all); the cells are the distinct
    values of the ``cell`` fields among them, and each seed (``row[seed_field]`` in
    0..seeds-1) has one row per cell. With no cells every share is 0.
    """
    chosen = [r for r in select(rows, **where) if keep is None or keep(r)]
    cells = {tuple(r[c] for c in cell) for r in chosen}
    hits = np.zeros(seeds)
    for r in chosen:
        hits[r[seed_field]] += hit(r)
    return hits / max(len(cells), 1)


def count_grid(rows: Iterable[dict], hit, row_field: str, row_values, col_field: str, col_values, **where) -> np.ndarray:
    """(len(row_values), len(col_values)) how many rows matching ``where`` have ``hit(row)``, in
    the cell (row_values.index(row[row_field]), col_values.index(row[col_field])) (e.g. seeds
    at a target per (beta, l)). Every matching row must fall in the grid."""
    row_values, col_values = list(row_values), list(col_values)
    counts = np.zeros((len(row_values), len(col_values)))
    for r in select(rows, **where):
        counts[row_values.index(r[row_field]), col_values.index(r[col_field])] += hit(r)
    return counts
