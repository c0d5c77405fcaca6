"""`reproduce` over two toy simulations: plain progress lines a CI log can follow, one summary
line per simulation, the summary table, the event log and the results page."""

import json
import re
from pathlib import Path

import pytest

from clustertheory.reproduce import ProgressBoard, SimulationSummary, reproduce, summary_table

TOYS = Path(__file__).resolve().parent / "toy_simulations"


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.syspath_prepend(str(TOYS))  # spawned workers get this path too
    import toy_alpha
    import toy_beta

    return [toy_alpha, toy_beta]


def _options(tmp_path) -> dict:
    return {"results_dir": str(tmp_path / "results"), "figures_dir": str(tmp_path / "figures")}


@pytest.mark.parametrize("jobs", [1, 2])
def test_reproduce_prints_lines_a_log_can_follow(toys, tmp_path, jobs):
    lines = []
    summaries = reproduce(toys, jobs=jobs, options=_options(tmp_path), interactive=False, write=lines.append,
                          status_every=0.0, event_log=tmp_path / "events.jsonl")
    assert [s.name for s in summaries] == ["toy-alpha", "toy-beta"]
    for summary in summaries:  # claims and CPU time come from the run itself, equal to what its results file holds
        written = json.loads((tmp_path / "results" / f"{summary.run}.json").read_text())
        assert summary.claims == written["verdict"]["claims"] and summary.cpu_s == pytest.approx(written["cpu_s"], abs=1e-3)
    text = "\n".join(lines)
    for name in ("toy-alpha", "toy-beta"):
        assert re.search(rf"^\[\s*\d+ s\] start {name}$", text, re.M), text
    # a status line names the running simulation, its stage and its units done of total
    assert re.search(r"^\[\s*\d+ s\] \d/2 done.*; running: .*toy-alpha toy units \d/6 units", text, re.M), text
    assert re.search(r"toy-beta (squares|cubes) \d/5 units", text), text
    # one summary line per simulation: package verdict, claim statuses, wall and CPU time
    assert re.search(r"^\[\s*\d+ s\] done toy-alpha: package PASS; claims: 1 reproduced \(\d+ s wall, \d+ s CPU\)$", text, re.M), text
    assert re.search(r"^\[\s*\d+ s\] done toy-beta: package PASS; claims: 1 reproduced, 1 not-testable \(\d+ s wall, \d+ s CPU\)$", text, re.M), text
    assert "\x1b[" not in text and "\r" not in text  # no terminal control codes in a log
    assert "[PASS] every unit measured once" in text  # the full verdict follows each simulation
    assert text.rstrip().endswith("index.html")  # the results page comes last
    page = (tmp_path / "results" / "index.html").read_text()
    assert "toy-alpha" in page and "needs-negatives" in page

    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    ends = {e["name"]: e for e in events if e["event"] == "end"}
    assert ends["toy-beta"]["claims"]["not-testable"] == 1 and ends["toy-alpha"]["package_passed"]
    assert any(e["event"] == "progress" and e["stage"] == "cubes" and e["total"] == 5 for e in events)


def test_time_left_counts_running_and_waiting_simulations():
    lines = []
    board = ProgressBoard(3, interactive=False, write=lines.append, status_every=0.0, expected={"a": 100.0, "b": 40.0, "c": 0.0}, jobs=2)
    assert board.time_left() == pytest.approx(70.0)  # (100 + 40) / 2 jobs
    board.started("a")
    board.progress("a", "cells", 0, 10)
    assert 69.0 < board.time_left() <= 70.0
    board.ended(SimulationSummary(name="a", package_passed=True, elapsed_s=1.0))
    assert board.time_left() == pytest.approx(20.0)
    assert lines[-1].endswith("done a: package PASS; claims: no claims (1 s wall, 0 s CPU)")
    unknown = ProgressBoard(1, interactive=False, write=lines.append, expected={"x": 0.0})
    assert unknown.time_left() is None


def test_summary_table_lists_every_simulation_and_claim():
    summaries = [
        SimulationSummary(name="toy-alpha", package_passed=True, elapsed_s=3.0, cpu_s=2.5,
                          claims=[{"name": "shifted-mean", "status": "reproduced", "effect": 3.2, "units": "u", "ci": [2.9, 3.5]}]),
        SimulationSummary(name="toy-gamma", error="Traceback ...\nRuntimeError: boom"),
    ]
    table = summary_table(summaries)
    assert re.search(r"toy-alpha\s+PASS\s+1\s+0\s+0\s+0\s+3 s\s+2 s", table), table
    assert re.search(r"toy-gamma\s+ERROR", table)
    assert "reproduced      shifted-mean: effect 3.2 u, CI [2.9, 3.5]" in table
    assert summaries[1].line() == "toy-gamma: ERROR (RuntimeError: boom)"
