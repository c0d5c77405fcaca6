"""The simulation contract: configs, run names, overrides, resumable sweeps, results files."""

import csv
import json
import types
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from clustertheory.config import check_positive_int
from clustertheory.simulation import (
    Check,
    RunContext,
    SimulationConfig,
    SweepStore,
    Verdict,
    build_config,
    parse_overrides,
    run_name,
    run_simulation,
)


@dataclass(frozen=True)
class ToyConfig(SimulationConfig):
    n: int = 3
    scale: float = 1.0
    tags: tuple = ("a", "b")
    exact: bool = True

    def validate(self) -> None:
        check_positive_int("n", self.n)


def _toy_module(calls: list) -> types.ModuleType:
    module = types.ModuleType("toy")
    module.NAME = "toy"
    module.SUMMARY = "a toy simulation"
    module.Config = ToyConfig
    module.SCALES = {"default": ToyConfig(), "paper": ToyConfig(n=5)}

    def run(config, ctx):
        def unit_fn(unit):
            calls.append(unit["i"])
            return {"square": unit["i"] ** 2 * config.scale}

        return ctx.sweep([{"i": i} for i in range(config.n)], unit_fn, desc="toy")

    def verdict(rows, config):
        total = sum(r["square"] for r in rows)
        return Verdict([Check("sum of squares", total, "> 0", total > 0)])

    def plot(rows, config):
        fig, ax = plt.subplots()
        ax.plot([r["i"] for r in rows], [r["square"] for r in rows])
        return fig

    module.run, module.verdict, module.plot = run, verdict, plot
    return module


def test_config_is_validated_at_construction_and_on_replace():
    with pytest.raises(ValueError, match="n must be a positive integer"):
        ToyConfig(n=0)
    with pytest.raises(ValueError, match="seed"):
        ToyConfig(seed=-1)
    with pytest.raises(ValueError, match="unknown config field"):
        ToyConfig().replace(bogus=1)
    with pytest.raises(ValueError, match="n must be"):
        ToyConfig().replace(n=-2)


def test_parse_overrides_types_fields_from_their_defaults():
    parsed = parse_overrides(ToyConfig, ["n=7", "scale=0.5", "tags=x,y,z", "exact=false", "seed=3"])
    assert parsed == {"n": 7, "scale": 0.5, "tags": ("x", "y", "z"), "exact": False, "seed": 3}
    with pytest.raises(ValueError, match="unknown config field"):
        parse_overrides(ToyConfig, ["nope=1"])
    with pytest.raises(ValueError, match="cannot parse n"):
        parse_overrides(ToyConfig, ["n=abc"])
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(ToyConfig, ["n"])


def test_run_name_lists_only_non_default_settings():
    module = _toy_module([])
    assert run_name(module, module.SCALES["default"]) == "toy"
    assert run_name(module, build_config(module, "paper")) == "toy_n-5"
    assert run_name(module, ToyConfig(scale=0.5, tags=("q",))) == "toy_scale-0.5_tags-q"
    with pytest.raises(ValueError, match="scale must be one of"):
        build_config(module, "huge")


def test_verdict_passes_only_when_every_check_passes():
    assert Verdict([Check("a", 1, 1, True), Check("b", 2, 2, True)]).passed
    assert not Verdict([Check("a", 1, 1, True), Check("b", 2, 3, False)]).passed
    assert not Verdict([]).passed  # no evidence is not a pass
    assert "FAIL" in Verdict([Check("b", 2, 3, False)]).report("x")


def test_sweep_resumes_after_interruption_without_repeating_work(tmp_path):
    store_path = tmp_path / "run.partial.jsonl"
    seen = []

    def flaky(unit):
        if unit["i"] == 3 and not seen.count("failed"):
            seen.append("failed")
            raise KeyboardInterrupt  # the user pressed Ctrl-C during unit 3
        seen.append(unit["i"])
        return {"value": unit["i"] * 10}

    units = [{"i": i} for i in range(6)]
    with pytest.raises(KeyboardInterrupt):
        RunContext(store=SweepStore(store_path)).sweep(units, flaky)
    assert seen == [0, 1, 2, "failed"]
    rows = RunContext(store=SweepStore(store_path)).sweep(units, flaky)
    assert seen == [0, 1, 2, "failed", 3, 4, 5]  # 0..2 were not run again
    assert [r["value"] for r in rows] == [0, 10, 20, 30, 40, 50]
    assert all(r["i"] == i for i, r in enumerate(rows))


def test_sweep_store_ignores_a_truncated_last_line(tmp_path):
    path = tmp_path / "p.jsonl"
    store = SweepStore(path)
    store.put({"i": 0}, [{"i": 0, "v": 1}])
    with open(path, "a") as handle:
        handle.write('{"key": "{\\"i\\": 1}", "rows": [{"i"')  # killed mid-write
    reloaded = SweepStore(path)
    assert reloaded.get({"i": 0}) == [{"i": 0, "v": 1}]
    assert reloaded.get({"i": 1}) is None


def test_run_simulation_writes_tidy_results_summary_and_figure(tmp_path):
    calls = []
    module = _toy_module(calls)
    messages = []
    outcome = run_simulation(module, overrides={"n": 4}, results_dir=tmp_path / "r", figures_dir=tmp_path / "f", progress=False, echo=messages.append)
    assert outcome.verdict.passed and calls == [0, 1, 2, 3]
    assert outcome.paths["csv"].name == "toy_n-4.csv"
    with open(outcome.paths["csv"]) as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["square"]) for r in rows] == [0.0, 1.0, 4.0, 9.0]
    assert rows[0]["cfg_n"] == "4" and rows[0]["cfg_seed"] == "0" and rows[0]["cfg_tags"] == "a,b"
    summary = json.loads(outcome.paths["json"].read_text())
    assert summary["verdict"]["package"]["passed"] is True and summary["config"]["n"] == 4
    assert "torch" in summary["versions"]
    assert outcome.paths["figure"].stat().st_size > 1000
    assert not (tmp_path / "r" / "toy_n-4.partial.jsonl").exists()  # cleaned up when complete
    assert "toy_n-4: package PASS" in messages[0]


def test_seed_for_is_deterministic_and_distinct():
    ctx = RunContext(base_seed=5)
    assert ctx.seed_for("a", 1) == RunContext(base_seed=5).seed_for("a", 1)
    assert ctx.seed_for("a", 1) != ctx.seed_for("a", 2)
    assert ctx.seed_for("a", 1) != RunContext(base_seed=6).seed_for("a", 1)


def test_long_run_names_stay_legal_file_names_and_distinct():
    module = _toy_module([])
    long_a = run_name(module, ToyConfig(tags=tuple("x" * 30 for _ in range(8))))
    long_b = run_name(module, ToyConfig(tags=tuple("y" * 30 for _ in range(8))))
    assert len(long_a) <= 120 and len(long_b) <= 120
    assert long_a != long_b and long_a.startswith("toy_tags-")


def test_nested_training_settings_reach_run_names_overrides_and_results(tmp_path):
    from clustertheory.training import TrainConfig

    @dataclass(frozen=True)
    class NestedConfig(SimulationConfig):
        n: int = 2
        scale: float = 1.0
        train: TrainConfig = TrainConfig(steps=10)

    module = _toy_module([])
    module.Config = NestedConfig
    module.SCALES = {"default": NestedConfig()}
    module.verdict = lambda rows, config: Verdict([Check.at_least("trained steps", config.train.steps, 1)])
    values = parse_overrides(module.SCALES["default"], ["train.beta=0.5"])
    config = build_config(module, "default", values)
    assert config.train.beta == 0.5 and config.train.steps == 10
    assert run_name(module, config) == "toy_train.beta-0.5"
    outcome = run_simulation(module, overrides=values, results_dir=tmp_path, figures_dir=tmp_path, progress=False, echo=lambda _: None)
    with open(outcome.paths["csv"]) as handle:
        row = next(csv.DictReader(handle))
    assert row["cfg_train.beta"] == "0.5" and row["cfg_train.negative_mode"] == "iid"
    summary = json.loads(outcome.paths["json"].read_text())
    assert summary["config"]["train"]["beta"] == 0.5 and summary["cpu_s"] >= 0
