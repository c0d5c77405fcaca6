"""The simulation contract: config -> run -> rows -> verdict -> figure -> results files.

A simulation is a module in ``simulations/`` defining

    NAME      CLI name, e.g. "theorem-4.5"
    SUMMARY   one line for ``clustertheory list``
    Config    a frozen dataclass deriving from :class:`SimulationConfig`
    SCALES    {"default": Config(...), "paper": Config(...), ...}
    run(config, ctx) -> list[dict]        measure (tidy rows of JSON scalars)
    verdict(rows, config) -> Verdict      package checks (PASS/FAIL) and claims (status,
                                          effect, interval, preconditions); pure
    plot(rows, config) -> Figure          draw (pure)

:func:`run_simulation` validates the config, runs it with progress, and writes
``results/<run>.csv`` (every row with the config and seed), ``results/<run>.json``
(config, ``verdict.package`` and ``verdict.claims``, versions, wall and CPU time) and
``figures/<run>.png``. Work done through
``ctx.sweep`` / ``ctx.sweep_batched`` is stored unit by unit in ``results/<run>.partial.jsonl``
as it finishes, so an interrupted run restarts where it stopped and repeats nothing (the
runner and the store live in ``clustertheory.sweep``, the executors in
``clustertheory.executors``).
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import io
import json
import os
import pkgutil
import platform
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from tqdm.auto import tqdm

from .config import Integer, Settings, setting
from .executors import Executor, LocalExecutor
from .sweep import SweepStore, atomic_write_text, run_sweep
from .sweep import to_jsonable as _jsonable
from .utils import derive_seed, limit_threads, resolve_device
from .verdict import Check, Claim, Verdict

__all__ = [
    "Check", "Claim", "Outcome", "RunContext", "SimulationConfig", "SweepStore", "Verdict", "build_config",
    "discover", "get_simulation", "parse_overrides", "run_name", "run_simulation",
]


@dataclass(frozen=True)
class SimulationConfig(Settings):
    """Base of every simulation config: frozen, checked at construction.

    Subclasses declare each field once, with its default, allowed values and meaning
    (``setting(default, constraint, doc)``, see :class:`clustertheory.config.Settings`), hold their training
    settings as one nested config (``train: TrainConfig = TrainConfig(...)``, overridable as
    ``--set train.beta=1``) and override :meth:`validate` only for relations between fields.
    """

    seed: int = setting(0, Integer(0), "base seed: every random draw of the run derives from it")


@dataclass
class RunContext:
    """What a simulation's ``run`` may use: device, progress, resumable sweeps, seeds.

    ``executor`` runs the batches of a sweep (default: this process; a
    :class:`~clustertheory.executors.RayExecutor` spreads them over a cluster).
    ``max_batch`` caps the units per batch of :meth:`sweep_batched` (None: whole groups).
    ``threads`` is the CPU thread limit the run keeps to (None: torch's default).
    ``on_progress(desc, done, total)``, when set, receives progress instead of a bar
    (``clustertheory reproduce`` forwards it from worker processes to one display).
    """

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    show_progress: bool = False
    store: SweepStore = field(default_factory=lambda: SweepStore(None))
    base_seed: int = 0
    executor: Executor = field(default_factory=LocalExecutor)
    max_batch: int | None = None
    threads: int | None = None
    on_progress: Callable[[str, int, int | None], None] | None = None

    @classmethod
    def for_tests(cls, seed: int = 0) -> "RunContext":
        """CPU, no progress bars, nothing written to disk."""
        return cls(device=torch.device("cpu"), show_progress=False, store=SweepStore(None), base_seed=seed)

    def __getstate__(self) -> dict:
        """The context a sweep batch sees when it is pickled for a Ray task or a Slurm job:
        device, seeds, limits, but not the driver's store (the driver stores what the batch
        returns), executor (sweeps nested in the batch run there, unstored) or progress display.
        (``copy.copy`` of a context gives the same light copy.)"""
        return {**self.__dict__, "store": SweepStore(None), "executor": LocalExecutor(), "show_progress": False, "on_progress": None}

    def progress(self, iterable: Iterable, desc: str = "", total: int | None = None, leave: bool = False):
        """Wrap ``iterable`` in a progress bar when progress is shown (or report it to
        ``on_progress``)."""
        if self.on_progress is not None:
            return _Reported(iterable, desc, total, self.on_progress)
        return tqdm(iterable, desc=desc, total=total, disable=not self.show_progress, leave=leave, dynamic_ncols=True)

    def seed_for(self, *keys) -> int:
        """A reproducible seed for one unit of work, independent of execution order."""
        return derive_seed(self.base_seed, *keys)

    def sweep(self, units: Sequence[dict], fn: Callable[[dict], dict | list[dict]], desc: str = "") -> list[dict]:
        """Run ``fn`` on every unit not already finished; return all rows in unit order.

        Each row is the unit's parameters merged with what ``fn`` returned. Finished
        units are stored immediately (see :class:`SweepStore`); each unit is its own batch.
        """
        return run_sweep(
            units, lambda batch: [fn(unit) for unit in batch], self.store, max_batch=1,
            executor=self.executor, progress=self.progress, desc=desc or "sweep",
        )

    def sweep_batched(
        self,
        units: Sequence[dict],
        group_key: Callable[[dict], Any] | None,
        batch_fn: Callable[[list[dict]], list[dict | list[dict]]],
        desc: str = "",
        max_batch: int | None = None,
    ) -> list[dict]:
        """Like :meth:`sweep`, but compatible units run together in one call.

        Unfinished units with equal ``group_key(unit)`` (None: all units) are cut into
        batches of at most ``max_batch`` (default ``self.max_batch``; None: whole groups);
        ``batch_fn(batch)`` returns one result (dict or list of dicts) per unit, in order,
        e.g. from one ensemble trained with ``clustertheory.training.batched.train_members``.
        Every unit of a finished batch is stored at once; an interrupted sweep repeats at
        most the batches in flight. Returns all rows in unit order.
        """
        return run_sweep(
            units, batch_fn, self.store, group_key=group_key, max_batch=max_batch or self.max_batch,
            executor=self.executor, progress=self.progress, desc=desc or "sweep",
        )


class _Reported:
    """A progress counter with tqdm's small API (iterate, ``update(n)``, ``close()``) that
    reports (desc, done, total) to a callback instead of drawing a bar."""

    def __init__(self, iterable: Iterable, desc: str, total: int | None, report: Callable[[str, int, int | None], None]):
        if total is None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.iterable, self.desc, self.total, self.report, self.n = iterable, desc, total, report, 0
        report(desc, 0, total)

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)

    def update(self, n: int = 1) -> None:
        self.n += n
        self.report(self.desc, self.n, self.total)

    def close(self) -> None:
        """Nothing to release (tqdm's API)."""


# ----------------------------------------------------------------------------- discovery


def discover() -> dict[str, ModuleType]:
    """Every simulation module in the ``simulations`` package, by NAME."""
    import simulations

    found: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(simulations.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"simulations.{info.name}")
        name = getattr(module, "NAME", None)
        if name is None:
            continue
        if name in found:
            raise RuntimeError(f"two simulations are named {name!r}")
        found[name] = module
    return found


def get_simulation(name_or_module: str | ModuleType) -> ModuleType:
    if isinstance(name_or_module, ModuleType):
        return name_or_module
    sims = discover()
    if name_or_module not in sims:
        raise ValueError(f"unknown simulation {name_or_module!r}; choose one of: {', '.join(sorted(sims))}")
    return sims[name_or_module]


# ----------------------------------------------------------------------------- configs


def parse_overrides(config: SimulationConfig | type, pairs: Sequence[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings into typed values of ``config``'s fields.

    ``config`` is a config (its values inform the types of undeclared fields) or a config
    class (its defaults). Keys may be dotted to reach a nested config (``train.beta=1``).
    Each value is parsed by the field's declared constraint: booleans accept
    true/false/yes/no/1/0, tuples take comma-separated items, ``none`` stands for None
    where a field allows it.
    """
    if isinstance(config, type):
        config = config()
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        key, text = pair.split("=", 1)
        key = key.strip().replace("-", "_")
        out[key] = config.parse_value(key, text.strip())
    return out


def build_config(module: ModuleType, scale: str = "default", overrides: dict | None = None) -> SimulationConfig:
    """The scale's config with ``overrides`` applied (checked again)."""
    scales = module.SCALES
    if scale not in scales:
        raise ValueError(f"scale must be one of {sorted(scales)} for {module.NAME}, got {scale!r}")
    config = scales[scale]
    return config.replace(**overrides) if overrides else config


def run_name(module: ModuleType, config: SimulationConfig) -> str:
    """NAME, then ``_field-value`` for every (dotted) field that differs from the default scale."""
    default = module.SCALES["default"].flat_dict()
    parts = [module.NAME]
    for key, value in config.flat_dict().items():
        if default.get(key) != value:
            text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
            parts.append(f"{key}-{text}".replace("/", "-").replace(" ", ""))
    name = "_".join(parts)
    if len(name) > 120:  # keep file names legal: a readable prefix plus a hash of the settings
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        name = f"{name[:100]}_{digest}"
    return name


# ----------------------------------------------------------------------------- running


@dataclass
class Outcome:
    rows: list[dict]
    verdict: Verdict
    config: SimulationConfig
    paths: dict[str, Path]
    elapsed_s: float
    name: str = ""
    cpu_s: float = 0.0


def run_simulation(
    name_or_module: str | ModuleType,
    scale: str = "default",
    overrides: dict | None = None,
    results_dir: str | Path = "results",
    figures_dir: str | Path = "figures",
    device: str | torch.device | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    executor: Executor | None = None,
    max_batch: int | None = None,
    threads: int | None = None,
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> Outcome:
    """Run one simulation end to end and write its results table, summary and figure.

    ``executor`` / ``max_batch`` go to the :class:`RunContext` (where sweep batches run,
    and how many units one batch may hold); ``threads`` caps the CPU threads of the run
    (:func:`clustertheory.utils.limit_threads`); ``on_progress`` receives progress instead
    of a bar.
    """
    module = get_simulation(name_or_module)
    config = build_config(module, scale, overrides)
    name = run_name(module, config)
    results_dir, figures_dir = Path(results_dir), Path(figures_dir)
    partial = results_dir / f"{name}.partial.jsonl"
    store = SweepStore(partial)
    if len(store):
        echo(f"{name}: resuming, {len(store)} finished unit(s) found in {partial}")
    ctx = RunContext(
        device=resolve_device(device), show_progress=progress, store=store, base_seed=config.seed,
        executor=executor or LocalExecutor(), max_batch=max_batch, threads=threads, on_progress=on_progress,
    )

    start = time.perf_counter()
    cpu_start = time.process_time()
    with limit_threads(threads):
        rows = module.run(config, ctx)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    verdict = module.verdict(rows, config)

    paths = {
        "csv": results_dir / f"{name}.csv",
        "json": results_dir / f"{name}.json",
        "figure": figures_dir / f"{name}.png",
    }
    write_rows_csv(paths["csv"], rows, config)
    summary = {
        "simulation": module.NAME,
        "run": name,
        "scale": scale,
        "config": config.as_dict(),
        "verdict": verdict.as_dict(),
        "elapsed_s": round(elapsed, 3),
        "cpu_s": round(cpu, 3),
        "threads": threads,
        "device": str(ctx.device),
        "versions": environment_versions(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    atomic_write_text(paths["json"], json.dumps(_jsonable(summary), indent=2) + "\n")
    save_figure(module.plot(rows, config), paths["figure"])
    if partial.exists():
        partial.unlink()
    echo(verdict.report(name) + f"\n  ({elapsed:.1f} s on {ctx.device}; results in {paths['csv']}, figure {paths['figure']})")
    return Outcome(rows=rows, verdict=verdict, config=config, paths=paths, elapsed_s=elapsed, name=name, cpu_s=cpu)


def environment_versions() -> dict[str, str]:
    import matplotlib
    import numpy
    import scipy

    from . import __version__

    return {
        "clustertheory": __version__,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "torch": torch.__version__,
        "matplotlib": matplotlib.__version__,
        "platform": platform.platform(),
    }


def write_rows_csv(path: Path, rows: list[dict], config: SimulationConfig) -> None:
    """Tidy CSV: one line per row, its measured columns, then every config field (``cfg_``,
    nested fields dotted: ``cfg_train.beta``)."""
    cfg = {f"cfg_{k}": (",".join(map(str, v)) if isinstance(v, tuple) else v) for k, v in config.flat_dict().items()}
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    columns.extend(k for k in cfg if k not in columns)
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({**cfg, **{k: _jsonable(v) for k, v in row.items()}})
    atomic_write_text(path, text.getvalue())


def save_figure(figure, path: Path, dpi: int = 110) -> None:
    """Write a matplotlib figure atomically and close it."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    figure.savefig(tmp, dpi=dpi, bbox_inches="tight")
    os.replace(tmp, path)
    plt.close(figure)
