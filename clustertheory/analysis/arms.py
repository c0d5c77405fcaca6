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


def replicate_means(rows: Iterable[dict], key: str, replicates: int, cell: tuple[str, ...], where=None) -> tuple[np.ndarray, int]:
    """Per replicate k = 0 .. replicates - 1 (the rows' ``seed``), the mean of ``key`` over the
    rows for which ``where(row)`` holds (every row when None), and how many distinct cells
    (values of the ``cell`` fields) those rows cover: ((replicates,), cells); all nan and 0 when
    no row is selected. A replicate without selected rows gets nan."""
    chosen = [r for r in rows if where is None or where(r)]
    if not chosen:
        return np.full(replicates, np.nan), 0
    cells = {tuple(r[c] for c in cell) for r in chosen}
    return np.array([np.mean([r[key] for r in chosen if r["seed"] == k]) for k in range(replicates)]), len(cells)
