"""Run many simulations side by side, with one progress display and one summary table.

``clustertheory reproduce`` hands every simulation to a pool of ``jobs`` worker processes
(``spawn``ed, so each starts with clean torch state), longest first (by the time its last
results file recorded), each worker keeping to ``cores // jobs`` CPU threads. Workers send
their progress (simulation, stage, units done, units total) through a queue to this
process, which shows it:

* on a terminal: one bar for the whole reproduction and one per running simulation;
* otherwise (CI logs, ``| tee``): plain lines - a line when a simulation starts, a status
  line at most every ``status_every`` seconds (units done, time left), and a one-line
  summary when it ends.

Each simulation's full verdict is printed when it ends; the summary table comes last.
Everything a simulation finishes is stored as it goes (``results/<run>.partial.jsonl``),
so an interrupted reproduction resumes where it stopped.
"""

from __future__ import annotations

import json
import multiprocessing
import queue as queue_module
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .utils import available_cores
from .verdict import STATUSES

STATUS_EVERY_S = 15.0


@dataclass
class SimulationSummary:
    """What one simulation of a reproduction came to (``error`` set when it crashed)."""

    name: str
    run: str = ""
    package_passed: bool = False
    claims: list[dict] = field(default_factory=list)
    elapsed_s: float = 0.0
    cpu_s: float = 0.0
    report: str = ""
    error: str | None = None

    def status_counts(self) -> dict[str, int]:
        counts = {s: 0 for s in STATUSES}
        for claim in self.claims:
            counts[claim["status"]] += 1
        return counts

    def line(self) -> str:
        if self.error:
            return f"{self.name}: ERROR ({self.error.strip().splitlines()[-1]})"
        counts = ", ".join(f"{n} {s}" for s, n in self.status_counts().items() if n) or "no claims"
        return f"{self.name}: package {'PASS' if self.package_passed else 'FAIL'}; claims: {counts} ({self.elapsed_s:.0f} s)"


# ----------------------------------------------------------------------------- workers

_QUEUE: Any = None


def _init_worker(progress_queue) -> None:
    global _QUEUE
    _QUEUE = progress_queue


def _run_one(name: str, options: dict) -> SimulationSummary:
    """Run one simulation (in a worker or in this process) and summarise it."""
    from .simulation import run_simulation

    report = _QUEUE.put if _QUEUE is not None else options.pop("_report", None)
    lines: list[str] = []
    start = time.perf_counter()
    try:
        outcome = run_simulation(
            name,
            progress=False,
            echo=lines.append,
            on_progress=(lambda desc, done, total: report(("progress", name, desc, done, total))) if report else None,
            **options,
        )
    except Exception:  # one crashed simulation must not take the others down: report it
        return SimulationSummary(name=name, elapsed_s=time.perf_counter() - start, error=traceback.format_exc())
    summary = json.loads(outcome.paths["json"].read_text())
    return SimulationSummary(
        name=name,
        run=outcome.name,
        package_passed=outcome.verdict.passed,
        claims=summary["verdict"]["claims"],
        elapsed_s=outcome.elapsed_s,
        cpu_s=summary.get("cpu_s", 0.0),
        report="\n".join(lines),
    )


# ----------------------------------------------------------------------------- display


class ProgressBoard:
    """Shows what every running simulation is doing: bars on a terminal, lines otherwise."""

    def __init__(self, total: int, interactive: bool, write: Callable[[str], None] = print, status_every: float = STATUS_EVERY_S):
        self.total, self.interactive, self._write = total, interactive, write
        self.status_every = status_every
        self.start = time.perf_counter()
        self.running: dict[str, dict] = {}
        self.finished = 0
        self._last_status = self.start
        self._bars: dict[str, Any] = {}
        self._overall = None
        if interactive:
            from tqdm.auto import tqdm

            self._tqdm = tqdm
            self._overall = tqdm(total=total, desc="reproduce", unit="sim", position=0, dynamic_ncols=True)

    def write(self, text: str) -> None:
        if self._overall is not None:
            self._overall.write(text)
        else:
            self._write(text)

    def _clock(self) -> str:
        return f"[{time.perf_counter() - self.start:5.0f} s]"

    def started(self, name: str) -> None:
        self.running[name] = {"desc": "", "done": 0, "total": None, "since": time.perf_counter()}
        if self.interactive:
            self._bars[name] = self._tqdm(total=None, desc=name, position=len(self._bars) + 1, leave=False, dynamic_ncols=True)
        else:
            self.write(f"{self._clock()} start {name}")

    def progress(self, name: str, desc: str, done: int, total: int | None) -> None:
        state = self.running.get(name)
        if state is None:
            return
        if desc != state["desc"]:
            state["since"] = time.perf_counter()
        state.update(desc=desc, done=done, total=total)
        bar = self._bars.get(name)
        if bar is not None:
            bar.set_description(f"{name}: {desc}")
            bar.total = total
            bar.n = done
            bar.refresh()
        elif not self.interactive:
            self.tick()

    def tick(self) -> None:
        """A status line of every running simulation, at most every ``status_every`` seconds."""
        now = time.perf_counter()
        if self.interactive or now - self._last_status < self.status_every or not self.running:
            return
        self._last_status = now
        parts = []
        for name, state in self.running.items():
            text = name
            if state["total"]:
                text += f" {state['desc']} {state['done']}/{state['total']}"
                if state["done"]:
                    rate = (now - state["since"]) / state["done"]
                    text += f" (~{rate * (state['total'] - state['done']):.0f} s left)"
            parts.append(text)
        self.write(f"{self._clock()} {self.finished}/{self.total} done; running: " + "; ".join(parts))

    def ended(self, summary: SimulationSummary) -> None:
        self.running.pop(summary.name, None)
        self.finished += 1
        bar = self._bars.pop(summary.name, None)
        if bar is not None:
            bar.close()
        if self._overall is not None:
            self._overall.update(1)
        self.write(f"{self._clock()} done {summary.line()}")

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        if self._overall is not None:
            self._overall.close()


# ----------------------------------------------------------------------------- the reproduction


def expected_seconds(name: str, results_dir: Path) -> float:
    """Wall time the simulation's last default-scale results recorded (0 when unknown)."""
    from .simulation import get_simulation

    path = results_dir / f"{get_simulation(name).NAME}.json"
    try:
        return float(json.loads(path.read_text()).get("elapsed_s", 0.0))
    except (OSError, ValueError):
        return 0.0


def reproduce(
    names: Sequence[str],
    jobs: int | None = None,
    options: dict | None = None,
    progress: bool = True,
    interactive: bool | None = None,
    write: Callable[[str], None] = print,
) -> list[SimulationSummary]:
    """Run every simulation in ``names`` on ``jobs`` worker processes (default: the cores).

    ``options`` go to :func:`clustertheory.simulation.run_simulation` (scale, device,
    results_dir, figures_dir, ...); ``threads`` defaults to cores // jobs. Returns one
    summary per simulation, in the order of ``names``. Ctrl-C stops the workers; finished
    units stay stored and the next call resumes them.
    """
    options = dict(options or {})
    cores = available_cores()
    jobs = max(1, min(jobs or cores, len(names))) if names else 1
    options.setdefault("threads", max(1, cores // jobs))
    results_dir = Path(options.get("results_dir", "results"))
    order = sorted(names, key=lambda n: -expected_seconds(n, results_dir))  # longest first
    if interactive is None:
        interactive = progress and sys.stdout.isatty()
    board = ProgressBoard(len(order), interactive=interactive and progress, write=write)
    summaries: dict[str, SimulationSummary] = {}

    def finish(summary: SimulationSummary) -> None:
        summaries[summary.name] = summary
        board.write(summary.report if not summary.error else f"{summary.name}: ERROR\n{summary.error}")
        board.ended(summary)

    try:
        if jobs == 1:
            for name in order:
                board.started(name)
                report = (lambda event: board.progress(*event[1:])) if progress else None
                finish(_run_one(name, {**options, "_report": report}))
        else:
            context = multiprocessing.get_context("spawn")
            events = context.Queue()
            with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=(events,)) as pool:
                pending = {}
                for name in order:
                    pending[pool.submit(_run_one, name, options)] = name
                started: set[str] = set()
                try:
                    while pending:
                        done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                        _drain(events, board, started)
                        for future in done:
                            name = pending.pop(future)
                            if name not in started:
                                board.started(name)
                                started.add(name)
                            finish(future.result())
                        board.tick()
                except BaseException:
                    for future in pending:
                        future.cancel()
                    raise
    finally:
        board.close()
    return [summaries[n] for n in names if n in summaries]


def _drain(events, board: ProgressBoard, started: set[str]) -> None:
    """Apply every progress event waiting in the queue."""
    while True:
        try:
            _, name, desc, done, total = events.get_nowait()
        except queue_module.Empty:
            return
        if name not in started:
            board.started(name)
            started.add(name)
        board.progress(name, desc, done, total)


def summary_table(summaries: Sequence[SimulationSummary]) -> str:
    """Every simulation: package verdict, claim statuses, wall and CPU time; then every claim."""
    width = max([len(s.name) for s in summaries] + [10])
    head = f"{'simulation':<{width}}  package  " + "  ".join(f"{s:>14}" for s in STATUSES) + "    wall     cpu"
    lines = [head, "-" * len(head)]
    for s in summaries:
        package = "ERROR" if s.error else ("PASS" if s.package_passed else "FAIL")
        counts = s.status_counts()
        lines.append(
            f"{s.name:<{width}}  {package:<7}  " + "  ".join(f"{counts[k]:>14}" for k in STATUSES)
            + f"  {s.elapsed_s:5.0f} s  {s.cpu_s:4.0f} s"
        )
    total_wall = max((s.elapsed_s for s in summaries), default=0.0)
    lines.append("-" * len(head))
    lines.append(f"{'':<{width}}  cpu total {sum(s.cpu_s for s in summaries):.0f} s; longest simulation {total_wall:.0f} s")
    claim_lines = []
    for s in summaries:
        for c in s.claims:
            low, high = c["ci"]
            claim_lines.append(f"  {s.name:<{width}}  {c['status']:<14}  {c['name']}: effect {_num(c['effect'])} {c['units']}, CI [{_num(low)}, {_num(high)}]")
    if claim_lines:
        lines += ["", "claims:"] + claim_lines
    return "\n".join(lines)


def _num(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, (int, float)) else str(value)
