"""The sweep runner: expand a grid, batch compatible units, store each unit as it finishes.

A *unit* is a flat dict of parameters naming one independent piece of work (one training
run, one measurement). The runner

1. groups the units by ``group_key(unit)`` (units with equal keys can share one batched
   pass, e.g. one ensemble of E models) and cuts each group into batches of at most
   ``max_batch`` units of near-equal size (the same batches on every run),
2. skips every batch whose units are all in the store (an interrupted sweep resumes),
3. hands the batches to an executor (this process, a Ray cluster or Slurm jobs: ``executors``),
4. as each batch finishes, appends its units' rows to the store in one fsynced write, and
5. returns all rows in unit order, each merged with its unit's parameters.

Kill the process at any moment and run it again: finished units are read back and never
stored twice; only the batches that were in flight run again.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import tempfile
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .config import check_positive_int
from .executors import Executor, LocalExecutor

Result = dict | list[dict]


def to_jsonable(value: Any, nonfinite_as_text: bool = True) -> Any:
    """A JSON value for ``value``: numpy / torch scalars via ``.item()``, non-finite floats as the
    strings "nan", "inf", "-inf" (strict JSON has no NaN), lists and tuples as lists, dicts item by
    item, anything else as ``str``.

    ``json.dumps(..., default=to_jsonable)`` never passes a float (nor a list or dict) to
    ``default``: convert a whole summary first, ``json.dumps(to_jsonable(summary))``, so that
    no bare NaN is written. ``nonfinite_as_text=False`` keeps non-finite floats as floats (the
    sweep store: Python's json writes NaN / Infinity and reads them back as floats, so a row
    read back equals the row a fresh run returned).
    """
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, float):
        return str(value) if nonfinite_as_text and not math.isfinite(value) else value
    if hasattr(value, "item"):
        return to_jsonable(value.item(), nonfinite_as_text)
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, nonfinite_as_text) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v, nonfinite_as_text) for k, v in value.items()}
    return str(value)


def _store_jsonable(value: Any) -> Any:
    return to_jsonable(value, nonfinite_as_text=False)


class SweepStore:
    """Rows of finished units, one JSON line per unit in an append-only file.

    A unit is a flat dict of parameters; its key is its canonical JSON text. A batch of
    finished units is appended in one write and fsynced, so a killed process leaves at
    worst a truncated last line. On reload that line is dropped and the file is rewritten
    atomically (temporary file + rename) without it, so later appends start on a clean
    line; the units of the dropped line simply run again. ``path=None`` keeps rows in
    memory only (tests). One process at a time may write a store.
    """

    def __init__(self, path: Path | str | None):
        self.path = None if path is None else Path(path)
        self._done: dict[str, list[dict]] = {}
        if self.path is not None and self.path.exists():
            self._load()

    def _load(self) -> None:
        text = self.path.read_text()
        clean: list[str] = []
        for line in text.splitlines():
            try:
                record = json.loads(line)
                self._done[record["key"]] = record["rows"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
            clean.append(line)
        repaired = "".join(line + "\n" for line in clean)
        if repaired != text:
            atomic_write_text(self.path, repaired)

    @staticmethod
    def key(unit: dict) -> str:
        return json.dumps(unit, sort_keys=True, default=str)

    def get(self, unit: dict) -> list[dict] | None:
        return self._done.get(self.key(unit))

    def put(self, unit: dict, rows: list[dict]) -> None:
        self.put_many([(unit, rows)])

    def put_many(self, finished: Sequence[tuple[dict, list[dict]]]) -> None:
        """Store several finished units with one append and one fsync."""
        lines = []
        for unit, rows in finished:
            key = self.key(unit)
            self._done[key] = rows
            lines.append(json.dumps({"key": key, "rows": rows}, default=_store_jsonable) + "\n")
        if self.path is None or not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, "".join(lines).encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def __len__(self) -> int:
        return len(self._done)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (temporary file in the same folder, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(handle.name, 0o644)  # a temporary file is private (0600); results are for everyone to read
    os.replace(handle.name, path)


def expand_grid(**axes: Any) -> list[dict]:
    """Every combination of the axes, the first axis outermost, as flat unit dicts.

    ``expand_grid(teeth=[1, 2], seed=range(3))`` -> [{"teeth": 1, "seed": 0}, ..., {"teeth": 2, "seed": 2}].
    A scalar (or a string) is an axis of one value.
    """
    names = list(axes)
    values = [[v] if isinstance(v, (str, bytes)) or not isinstance(v, Iterable) else list(v) for v in axes.values()]
    for name, vals in zip(names, values):
        if not vals:
            raise ValueError(f"axis {name} must hold at least one value")
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def _hashable(key: Any) -> Hashable:
    return key if isinstance(key, Hashable) else json.dumps(key, sort_keys=True, default=str)


def group_units(units: Sequence[dict], group_key: Callable[[dict], Any] | None = None, max_batch: int | None = None) -> list[list[dict]]:
    """Batches of units: units with equal ``group_key(unit)`` together, groups in order of first
    appearance, each cut into ceil(n / max_batch) batches of near-equal size.

    ``group_key=None`` puts every unit in one group; ``max_batch=None`` leaves groups whole.
    """
    if max_batch is not None:
        check_positive_int("max_batch", max_batch)
    groups: dict[Hashable, list[dict]] = {}
    for unit in units:
        groups.setdefault(_hashable(group_key(unit)) if group_key else None, []).append(unit)
    batches = []
    for members in groups.values():
        pieces = 1 if max_batch is None else math.ceil(len(members) / max_batch)
        size, extra = divmod(len(members), pieces)
        start = 0
        for piece in range(pieces):
            stop = start + size + (piece < extra)
            batches.append(members[start:stop])
            start = stop
    return batches


def _as_rows(result: Result) -> list[dict]:
    if isinstance(result, dict):
        return [result]
    if isinstance(result, list) and all(isinstance(r, dict) for r in result):
        return result
    raise ValueError(f"each unit's result must be a dict or a list of dicts, got {type(result).__name__}")


def run_sweep(
    units: Sequence[dict],
    batch_fn: Callable[[list[dict]], list[Result]],
    store: SweepStore,
    group_key: Callable[[dict], Any] | None = None,
    max_batch: int | None = None,
    executor: Executor | None = None,
    progress: Callable[..., Any] | None = None,
    desc: str = "sweep",
) -> list[dict]:
    """Run ``batch_fn`` on batches of the unfinished units; return every unit's rows in unit order.

    units: flat dicts (repeated units run once). Batches are cut from all units, finished or
    not, so a batch always holds the same units whether or not the sweep was interrupted
    (a batched pass seeded from its units reproduces an uninterrupted run exactly); a batch
    runs when any of its units is unfinished, and only unfinished units are stored (all of a
    batch's units are stored in one write, so a batch is normally all done or all pending).
    batch_fn(batch) returns one result per unit of the batch, in order; a result is a dict or
    a list of dicts (rows), each merged with the unit's parameters. ``progress(iterable, desc=, total=)`` builds a tqdm-like bar
    (e.g. ``RunContext.progress``); it advances by a batch's size when the batch is stored.
    """
    executor = executor or LocalExecutor()
    distinct = list({store.key(unit): unit for unit in units}.values())
    batches = [b for b in group_units(distinct, group_key, max_batch) if any(store.get(u) is None for u in b)]
    done = len(distinct) - sum(len(b) for b in batches)
    bar = progress(range(len(distinct)), desc=desc, total=len(distinct)) if progress else None
    if bar is not None:
        bar.update(done)
    stream = executor.map_unordered(batch_fn, batches)
    try:
        for index, results in stream:
            batch = batches[index]
            if not isinstance(results, list) or len(results) != len(batch):
                raise ValueError(f"batch_fn must return a list with one result per unit ({len(batch)}), got {type(results).__name__}")
            finished = [(unit, [{**unit, **row} for row in _as_rows(result)]) for unit, result in zip(batch, results)]
            store.put_many([(unit, rows) for unit, rows in finished if store.get(unit) is None])
            if bar is not None:
                bar.update(len(batch))
    finally:
        close = getattr(stream, "close", None)
        if close is not None:  # stop the executor now (cancel what is in flight), not when collected
            close()
        if bar is not None:
            bar.close()
    return [row for unit in units for row in store.get(unit)]
