"""Run many simulations side by side, with one progress display and one summary table.

``clustertheory reproduce`` hands every simulation to a pool of ``jobs`` worker processes
(``spawn``ed, so each starts with clean torch state), longest first (by the time its last
results file recorded), each worker keeping to ``cores // jobs`` CPU threads. Workers send
their progress (simulation, stage, units done, units total) through a queue to this
process, which shows it:

* on a terminal: one bar for the whole reproduction (simulations done, time left) and one
  per running simulation (its stage, units done of total, its time left);
* otherwise (CI logs, ``| tee``): plain lines - a line when a simulation starts, a status
  line at most every ``status_every`` seconds (per running simulation its stage, units
  done of total and time left; the whole reproduction's time left), and a one-line summary
  when it ends.

Each simulation's full verdict is printed when it ends; the summary table comes last, and
the results page (``results/index.html``, :mod:`clustertheory.report`) is written.
``event_log`` keeps the same events as JSON lines for programs (the GPU benchmark reads it).
Everything a simulation finishes is stored as it goes (``results/<run>.partial.jsonl``),
so an interrupted reproduction resumes where it stopped.

With a cluster executor (``executor`` in ``options``: Ray or Slurm) the simulations run one
at a time in this process and the executor spreads each simulation's sweep batches over
the cluster: the cluster provides the parallelism, and one driver keeps one store per run.
"""

from __future__ import annotations

import importlib
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
from types import ModuleType
from typing import Any

from .executors import is_local
from .sweep import to_jsonable
from .utils import available_cores
from .verdict import STATUSES, count_statuses, counts_text

STATUS_EVERY_S = 15.0
MODULE_PREFIX = "module:"  # a simulation given as a module (not in simulations/) travels as its import path


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
        return count_statuses(claim["status"] for claim in self.claims)

    def line(self) -> str:
        """One line: package verdict, claim statuses, wall and CPU time."""
        if self.error:
            return f"{self.name}: ERROR ({self.error.strip().splitlines()[-1]})"
        counts = counts_text(self.status_counts()) or "no claims"
        return f"{self.name}: package {'PASS' if self.package_passed else 'FAIL'}; claims: {counts} ({self.elapsed_s:.0f} s wall, {self.cpu_s:.0f} s CPU)"


# ----------------------------------------------------------------------------- which simulations


def target_of(simulation: str | ModuleType) -> str:
    """What travels to a worker: a simulation NAME, or ``module:<import path>`` for a module."""
    return f"{MODULE_PREFIX}{simulation.__name__}" if isinstance(simulation, ModuleType) else simulation


def resolve(target: str | ModuleType) -> ModuleType:
    """The simulation module of a NAME, a ``module:<import path>`` or a module."""
    from .simulation import get_simulation

    if isinstance(target, str) and target.startswith(MODULE_PREFIX):
        return importlib.import_module(target[len(MODULE_PREFIX):])
    return get_simulation(target)


# ----------------------------------------------------------------------------- workers

_QUEUE: Any = None


def _init_worker(progress_queue) -> None:
    global _QUEUE
    _QUEUE = progress_queue
    from .plotting import use_file_backend

    use_file_backend()  # a worker only writes figures


def _run_one(target: str | ModuleType, options: dict) -> SimulationSummary:
    """Run one simulation (in a worker or in this process) and summarise it."""
    from .simulation import run_simulation

    options = dict(options)
    report = _QUEUE.put if _QUEUE is not None else options.pop("_report", None)
    module = resolve(target)
    name = module.NAME
    lines: list[str] = []
    start = time.perf_counter()
    try:
        outcome = run_simulation(
            module,
            progress=False,
            echo=lines.append,
            on_progress=(lambda desc, done, total: report(("progress", name, desc, done, total))) if report else None,
            **options,
        )
    except Exception:  # one crashed simulation must not take the others down: report it
        return SimulationSummary(name=name, elapsed_s=time.perf_counter() - start, error=traceback.format_exc())
    return SimulationSummary(
        name=name,
        run=outcome.name,
        package_passed=outcome.verdict.passed,
        claims=to_jsonable(outcome.verdict.as_dict()["claims"]),  # as the results file holds them
        elapsed_s=outcome.elapsed_s,
        cpu_s=outcome.cpu_s,
        report="\n".join(lines),
    )


# ----------------------------------------------------------------------------- display


def _duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


class ProgressBoard:
    """Shows what every running simulation is doing: bars on a terminal, lines otherwise.

    ``expected`` holds each simulation's expected wall time (its last recorded run; 0 when
    unknown), from which the whole reproduction's time left is estimated; ``jobs`` is how
    many run at once. ``event_log``, when given, receives every event as a JSON line.
    """

    def __init__(
        self,
        total: int,
        interactive: bool,
        write: Callable[[str], None] = print,
        status_every: float = STATUS_EVERY_S,
        expected: dict[str, float] | None = None,
        jobs: int = 1,
        event_log: Path | None = None,
    ):
        self.total, self.interactive, self._write = total, interactive, write
        self.status_every = status_every
        self.expected = dict(expected or {})
        self.jobs = max(1, jobs)
        self.start = time.perf_counter()
        self.running: dict[str, dict] = {}
        self.finished = 0
        self.done_names: set[str] = set()
        self._last_status = self.start
        self._bars: dict[str, Any] = {}
        self._overall = None
        self._events = open(event_log, "a", buffering=1) if event_log is not None else None  # noqa: SIM115 (closed in close())
        if interactive:
            from tqdm.auto import tqdm

            self._tqdm = tqdm
            self._overall = tqdm(total=total, desc="reproduce", unit="sim", position=0, dynamic_ncols=True,
                                 bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} simulations [{elapsed}{postfix}]")

    def write(self, text: str) -> None:
        if self._overall is not None:
            self._overall.write(text)
        else:
            self._write(text)

    def _log(self, event: str, name: str, **fields) -> None:
        if self._events is not None:
            record = {"t": round(time.perf_counter() - self.start, 3), "event": event, "name": name, **fields}
            self._events.write(json.dumps(record) + "\n")

    def _clock(self) -> str:
        return f"[{time.perf_counter() - self.start:5.0f} s]"

    def started(self, name: str) -> None:
        self.running[name] = {"desc": "", "done": 0, "total": None, "since": time.perf_counter(), "began": time.perf_counter()}
        self._log("start", name)
        if self.interactive:
            self._bars[name] = self._tqdm(total=None, desc=name, position=len(self._bars) + 1, leave=False, dynamic_ncols=True, unit="unit")
        else:
            known = self.expected.get(name, 0.0)
            self.write(f"{self._clock()} start {name}" + (f" (last run took {_duration(known)})" if known else ""))

    def progress(self, name: str, desc: str, done: int, total: int | None) -> None:
        state = self.running.get(name)
        if state is None:
            return
        if desc != state["desc"]:
            state["since"] = time.perf_counter()
        state.update(desc=desc, done=done, total=total)
        self._log("progress", name, stage=desc, done=done, total=total)
        bar = self._bars.get(name)
        if bar is not None:
            bar.set_description(f"{name}: {desc}")
            bar.total = total
            bar.n = done
            bar.refresh()
            self._overall.set_postfix_str(self._left_text(), refresh=True)
        elif not self.interactive:
            self.tick()

    def stage_left(self, name: str, now: float) -> float | None:
        """Seconds the running simulation's current stage needs still (None: not known yet)."""
        state = self.running[name]
        if not state["total"] or not state["done"]:
            return None
        return (now - state["since"]) / state["done"] * (state["total"] - state["done"])

    def time_left(self, now: float | None = None) -> float | None:
        """Estimated seconds until the whole reproduction ends (None: nothing known yet).

        Running simulations: the rest of their expected time, or their stage's time left when
        that is longer; waiting ones: their expected time; all of it shared by ``jobs``.
        """
        now = time.perf_counter() if now is None else now
        work, known = 0.0, False
        for name, state in self.running.items():
            rest = max(0.0, self.expected.get(name, 0.0) - (now - state["began"]))
            stage = self.stage_left(name, now)
            work += max(rest, stage or 0.0)
            known |= bool(rest or stage)
        waiting = [n for n in self.expected if n not in self.running and n not in self.done_names]
        work += sum(self.expected[n] for n in waiting)
        known |= any(self.expected[n] for n in waiting)
        return work / self.jobs if known else None

    def _left_text(self) -> str:
        left = self.time_left()
        return f"~{_duration(left)} left" if left is not None else ""

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
                text += f" {state['desc']} {state['done']}/{state['total']} units"
                stage = self.stage_left(name, now)
                if stage is not None:
                    text += f" (~{_duration(stage)} left)"
            elif state["desc"]:
                text += f" {state['desc']}"
            parts.append(text)
        left = self._left_text()
        self.write(f"{self._clock()} {self.finished}/{self.total} done" + (f", {left}" if left else "") + "; running: " + "; ".join(parts))

    def ended(self, summary: SimulationSummary) -> None:
        self.running.pop(summary.name, None)
        self.done_names.add(summary.name)
        self.finished += 1
        self._log("end", summary.name, run=summary.run, package_passed=summary.package_passed, claims=summary.status_counts(),
                  elapsed_s=round(summary.elapsed_s, 3), cpu_s=round(summary.cpu_s, 3), error=summary.error)
        bar = self._bars.pop(summary.name, None)
        if bar is not None:
            bar.close()
        if self._overall is not None:
            self._overall.update(1)
            self._overall.set_postfix_str(self._left_text(), refresh=True)
        self.write(f"{self._clock()} done {summary.line()}")

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        if self._overall is not None:
            self._overall.close()
        if self._events is not None:
            self._events.close()


# ----------------------------------------------------------------------------- the reproduction


def expected_seconds(simulation: str | ModuleType, results_dir: Path) -> float:
    """Wall time the simulation's last default-scale results recorded (0 when unknown)."""
    path = results_dir / f"{resolve(simulation).NAME}.json"
    try:
        return float(json.loads(path.read_text()).get("elapsed_s", 0.0))
    except (OSError, ValueError):
        return 0.0


def reproduce(
    names: Sequence[str | ModuleType],
    jobs: int | None = None,
    options: dict | None = None,
    progress: bool = True,
    interactive: bool | None = None,
    write: Callable[[str], None] = print,
    status_every: float = STATUS_EVERY_S,
    event_log: str | Path | None = None,
    page: bool = True,
) -> list[SimulationSummary]:
    """Run every simulation in ``names`` on ``jobs`` worker processes (default: the cores).

    ``names``: simulation names, or simulation modules (importable by their ``__name__``, so
    that workers can load them). ``options`` go to
    :func:`clustertheory.simulation.run_simulation` (scale, device, results_dir,
    figures_dir, executor, max_batch, ...); ``threads`` defaults to cores // jobs. With a
    cluster executor the simulations run one at a time in this process (``jobs`` must be
    1 or None). ``page``: write the results page (``results/index.html``) at the end.
    Returns one summary per simulation, in the order of ``names``. Ctrl-C stops the
    workers; finished units stay stored and the next call resumes them.
    """
    options = dict(options or {})
    if not is_local(options.get("executor")):
        if jobs not in (None, 1):
            raise ValueError(f"--jobs {jobs} does not combine with a cluster executor: simulations then run one at a time here and the executor spreads their batches")
        jobs = 1
    cores = available_cores()
    jobs = max(1, min(jobs or cores, len(names))) if names else 1
    options.setdefault("threads", max(1, cores // jobs))
    results_dir = Path(options.get("results_dir", "results"))
    modules = {target_of(n): resolve(n) for n in names}
    expected = {module.NAME: expected_seconds(module, results_dir) for module in modules.values()}
    order = sorted(modules, key=lambda t: -expected[modules[t].NAME])  # longest first
    if interactive is None:
        interactive = progress and sys.stdout.isatty()
    board = ProgressBoard(len(order), interactive=interactive and progress, write=write, status_every=status_every,
                          expected=expected, jobs=jobs, event_log=None if event_log is None else Path(event_log))
    summaries: dict[str, SimulationSummary] = {}

    def finish(summary: SimulationSummary) -> None:
        summaries[summary.name] = summary
        board.write(summary.report if not summary.error else f"{summary.name}: ERROR\n{summary.error}")
        board.ended(summary)

    try:
        if jobs == 1:
            for target in order:
                name = modules[target].NAME
                board.started(name)
                report = (lambda event: board.progress(*event[1:])) if progress else None
                finish(_run_one(modules[target], {**options, "_report": report}))
        else:
            context = multiprocessing.get_context("spawn")
            events = context.Queue()
            with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=(events,)) as pool:
                pending = {pool.submit(_run_one, target, options): modules[target].NAME for target in order}
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
    ordered = [summaries[resolve(n).NAME] for n in names if resolve(n).NAME in summaries]
    if page:
        from .report import write_report

        descriptions = {module.NAME: module.SUMMARY for module in modules.values()}
        path = write_report(results_dir, Path(options.get("figures_dir", "figures")), descriptions=descriptions)
        write(f"results page: {path}")
    return ordered


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
