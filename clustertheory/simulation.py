"""The simulation contract: config -> run -> rows -> verdict -> figure -> results files.

A simulation is a module in ``simulations/`` defining

    NAME      CLI name, e.g. "theorem-4.5"
    SUMMARY   one line for ``clustertheory list``
    Config    a frozen dataclass deriving from :class:`SimulationConfig`
    SCALES    {"default": Config(...), "paper": Config(...), ...}
    run(config, ctx) -> list[dict]        measure (tidy rows of JSON scalars)
    verdict(rows, config) -> Verdict      compare measurement with prediction (pure)
    plot(rows, config) -> Figure          draw (pure)

:func:`run_simulation` validates the config, runs it with progress, and writes
``results/<run>.csv`` (every row with the config and seed), ``results/<run>.json``
(config, verdict, versions, elapsed time) and ``figures/<run>.png``. Work done through
``ctx.sweep`` is stored unit by unit in ``results/<run>.partial.jsonl`` as it finishes,
so an interrupted run restarts where it stopped and repeats nothing.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import json
import os
import pkgutil
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from tqdm.auto import tqdm

from .config import check_nonneg_int
from .utils import derive_seed, resolve_device


@dataclass(frozen=True)
class SimulationConfig:
    """Base of every simulation config: frozen, validated at construction.

    Subclasses add fields with documented defaults and override :meth:`validate`
    (raise ``ValueError`` naming the field and its allowed range).
    """

    seed: int = 0

    def __post_init__(self) -> None:
        check_nonneg_int("seed", self.seed)
        self.validate()

    def validate(self) -> None:
        """Check every field; the base class accepts everything but the seed."""

    def replace(self, **changes) -> "SimulationConfig":
        """A copy with ``changes`` applied (validated again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            allowed = ", ".join(f.name for f in dataclasses.fields(self))
            raise ValueError(f"unknown config field(s) {sorted(unknown)}; allowed: {allowed}")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class Check:
    """One measured quantity held against one prediction."""

    name: str
    measured: Any
    predicted: Any
    passed: bool

    def line(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        return f"  [{mark}] {self.name}: measured {_fmt(self.measured)}, predicted {_fmt(self.predicted)}"


@dataclass(frozen=True)
class Verdict:
    """The verdict of a simulation: PASS iff every check passed (and there is one)."""

    checks: list[Check]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def label(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def report(self, name: str = "") -> str:
        head = f"{name}: {self.label}" if name else self.label
        return "\n".join([head] + [c.line() for c in self.checks])

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checks": [
                {"name": c.name, "measured": _jsonable(c.measured), "predicted": _jsonable(c.predicted), "passed": bool(c.passed)}
                for c in self.checks
            ],
        }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


class SweepStore:
    """Rows of finished units, appended to a JSON-lines file as each unit finishes.

    A unit is a flat dict of parameters; its key is its canonical JSON text. Each line
    is written and fsynced in one call, so a killed process leaves at worst a truncated
    last line, which is ignored on reload (that unit is simply run again).
    """

    def __init__(self, path: Path | None):
        self.path = path
        self._done: dict[str, list[dict]] = {}
        if path is not None and path.exists():
            for line in path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self._done[record["key"]] = record["rows"]

    @staticmethod
    def key(unit: dict) -> str:
        return json.dumps(unit, sort_keys=True, default=str)

    def get(self, unit: dict) -> list[dict] | None:
        return self._done.get(self.key(unit))

    def put(self, unit: dict, rows: list[dict]) -> None:
        key = self.key(unit)
        self._done[key] = rows
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"key": key, "rows": rows}, default=_jsonable) + "\n"
        with open(self.path, "a") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def __len__(self) -> int:
        return len(self._done)


@dataclass
class RunContext:
    """What a simulation's ``run`` may use: device, progress, resumable sweeps, seeds."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    show_progress: bool = False
    store: SweepStore = field(default_factory=lambda: SweepStore(None))
    base_seed: int = 0

    @classmethod
    def for_tests(cls, seed: int = 0) -> "RunContext":
        """CPU, no progress bars, nothing written to disk."""
        return cls(device=torch.device("cpu"), show_progress=False, store=SweepStore(None), base_seed=seed)

    def progress(self, iterable: Iterable, desc: str = "", total: int | None = None, leave: bool = False):
        """Wrap ``iterable`` in a progress bar when progress is shown."""
        return tqdm(iterable, desc=desc, total=total, disable=not self.show_progress, leave=leave, dynamic_ncols=True)

    def seed_for(self, *keys) -> int:
        """A reproducible seed for one unit of work, independent of execution order."""
        return derive_seed(self.base_seed, *keys)

    def sweep(self, units: Sequence[dict], fn: Callable[[dict], dict | list[dict]], desc: str = "") -> list[dict]:
        """Run ``fn`` on every unit not already finished; return all rows in unit order.

        Each row is the unit's parameters merged with what ``fn`` returned. Finished
        units are stored immediately (see :class:`SweepStore`).
        """
        rows: list[dict] = []
        pending = [u for u in units if self.store.get(u) is None]
        bar = self.progress(range(len(units)), desc=desc or "sweep", total=len(units))
        bar.update(len(units) - len(pending))
        for unit in units:
            done = self.store.get(unit)
            if done is None:
                result = fn(unit)
                done = [{**unit, **r} for r in (result if isinstance(result, list) else [result])]
                self.store.put(unit, done)
                bar.update(1)
            rows.extend(done)
        bar.close()
        return rows


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


def parse_overrides(config_cls: type, pairs: Sequence[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings into typed field values of ``config_cls``.

    The type is taken from the field's default: bool accepts true/false/1/0, tuples
    take comma-separated items typed like the default's first item.
    """
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        key, text = pair.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in fields:
            raise ValueError(f"unknown config field {key!r}; allowed: {', '.join(fields)}")
        default = fields[key].default
        out[key] = _parse_value(key, text.strip(), default)
    return out


def _parse_value(key: str, text: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if text.lower() in {"true", "1", "yes"}:
                return True
            if text.lower() in {"false", "0", "no"}:
                return False
            raise ValueError
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, tuple):
            kind = type(default[0]) if default else str
            return tuple(_parse_value(key, t.strip(), kind()) for t in text.split(",") if t.strip())
        return text
    except ValueError:
        raise ValueError(f"cannot parse {key}={text!r} as {type(default).__name__}") from None


def build_config(module: ModuleType, scale: str = "default", overrides: dict | None = None) -> SimulationConfig:
    """The scale's config with ``overrides`` applied (validated)."""
    scales = module.SCALES
    if scale not in scales:
        raise ValueError(f"scale must be one of {sorted(scales)} for {module.NAME}, got {scale!r}")
    config = scales[scale]
    return config.replace(**overrides) if overrides else config


def run_name(module: ModuleType, config: SimulationConfig) -> str:
    """NAME, then ``_field-value`` for every field that differs from the default scale."""
    default = module.SCALES["default"].as_dict()
    parts = [module.NAME]
    for key, value in config.as_dict().items():
        if default.get(key) != value:
            text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
            parts.append(f"{key}-{text}".replace("/", "-").replace(" ", ""))
    return "_".join(parts)


# ----------------------------------------------------------------------------- running


@dataclass
class Outcome:
    rows: list[dict]
    verdict: Verdict
    config: SimulationConfig
    paths: dict[str, Path]
    elapsed_s: float


def run_simulation(
    name_or_module: str | ModuleType,
    scale: str = "default",
    overrides: dict | None = None,
    results_dir: str | Path = "results",
    figures_dir: str | Path = "figures",
    device: str | torch.device | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> Outcome:
    """Run one simulation end to end and write its results table, summary and figure."""
    module = get_simulation(name_or_module)
    config = build_config(module, scale, overrides)
    name = run_name(module, config)
    results_dir, figures_dir = Path(results_dir), Path(figures_dir)
    partial = results_dir / f"{name}.partial.jsonl"
    store = SweepStore(partial)
    if len(store):
        echo(f"{name}: resuming, {len(store)} finished unit(s) found in {partial}")
    ctx = RunContext(device=resolve_device(device), show_progress=progress, store=store, base_seed=config.seed)

    start = time.perf_counter()
    rows = module.run(config, ctx)
    elapsed = time.perf_counter() - start
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
        "device": str(ctx.device),
        "versions": environment_versions(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    _atomic_write_text(paths["json"], json.dumps(summary, indent=2, default=_jsonable) + "\n")
    save_figure(module.plot(rows, config), paths["figure"])
    if partial.exists():
        partial.unlink()
    echo(verdict.report(name) + f"\n  ({elapsed:.1f} s on {ctx.device}; results in {paths['csv']}, figure {paths['figure']})")
    return Outcome(rows=rows, verdict=verdict, config=config, paths=paths, elapsed_s=elapsed)


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
    """Tidy CSV: one line per row, its measured columns, then every config field (``cfg_``)."""
    cfg = {f"cfg_{k}": (",".join(map(str, v)) if isinstance(v, tuple) else v) for k, v in config.as_dict().items()}
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    columns.extend(k for k in cfg if k not in columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({**cfg, **{k: _jsonable(v) for k, v in row.items()}})
    os.replace(handle.name, path)


def save_figure(figure, path: Path, dpi: int = 110) -> None:
    """Write a matplotlib figure atomically and close it."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    figure.savefig(tmp, dpi=dpi, bbox_inches="tight")
    os.replace(tmp, path)
    plt.close(figure)


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        handle.write(text)
    os.replace(handle.name, path)
