"""The command line: list, run with overrides, clear errors for bad input."""

import pytest

from clustertheory import cli
from clustertheory.simulation import discover


def test_list_prints_every_simulation(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in discover():
        assert name in out


def test_unknown_simulation_is_a_clear_error(capsys):
    assert cli.main(["run", "no-such-simulation"]) == 2
    assert "unknown simulation 'no-such-simulation'" in capsys.readouterr().err


def test_bad_override_is_rejected_before_any_work(capsys):
    name = next(iter(discover()))
    assert cli.main(["run", name, "--set", "definitely_not_a_field=1"]) == 2
    assert "unknown config field" in capsys.readouterr().err


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = capsys.readouterr().out
    for option in ("--scale", "--set", "--device", "--results-dir", "--figures-dir", "--no-progress", "--strict",
                   "--executor", "--max-batch", "--max-in-flight", "--cpus-per-task", "--gpus-per-task", "--ray-address",
                   "--slurm-partition", "--slurm-cluster", "--slurm-option"):
        assert option in out
    assert "executors (where the batches" in out


def test_report_help_and_empty_results_folder(tmp_path, capsys):
    assert cli.main(["report", "--results-dir", str(tmp_path), "--figures-dir", str(tmp_path)]) == 0
    page = tmp_path / "index.html"
    assert str(page) in capsys.readouterr().out and "0 runs" in page.read_text()
