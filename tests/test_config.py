"""Declared constraints: checked at construction, parsed from the command line, nested settings."""

import dataclasses
import math
from dataclasses import dataclass

import pytest

from clustertheory.config import Boolean, Integer, OneOf, Optional, Real, Settings, Text, TupleOf, setting
from clustertheory.simulation import SimulationConfig, parse_overrides


@dataclass(frozen=True)
class Inner(Settings):
    beta: float = 2.0
    mode: str = "iid"
    constraints = {"beta": Real(0, open_lo=True), "mode": OneOf("iid", "in-batch")}


@dataclass(frozen=True)
class Outer(SimulationConfig):
    dims: tuple = (2, 3)
    seeds: int = 10
    flag: bool = False
    cap: float | None = None
    label: str = "x"
    train: Inner = Inner()
    constraints = {
        "dims": TupleOf(Integer(1, 6), increasing=True),
        "seeds": Integer(2),
        "flag": Boolean(),
        "cap": Optional(Real(0, 1)),
        "label": Text(),
    }

    def validate(self) -> None:
        if self.seeds > 100 and self.flag:
            raise ValueError("seeds must be <= 100 when flag is set")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"dims": ()}, r"dims must be a tuple of at least 1 item"),
        ({"dims": (3, 2)}, r"dims must be strictly increasing"),
        ({"dims": (2, 7)}, r"each item of dims must be an integer in \[1, 6\]"),
        ({"dims": [2, 3]}, r"dims must be a tuple"),
        ({"seeds": 1}, r"seeds must be an integer >= 2"),
        ({"seeds": 2.0}, r"seeds must be an integer >= 2"),
        ({"seeds": True}, r"seeds must be an integer >= 2"),
        ({"flag": 1}, r"flag must be true or false"),
        ({"cap": 1.5}, r"cap must be a finite number in \[0, 1\]"),
        ({"cap": math.nan}, r"cap must be a finite number in \[0, 1\]"),
        ({"label": 3}, r"label must be a string"),
        ({"train": "fast"}, r"train must be a Inner"),
        ({"train.beta": 0.0}, r"beta must be a finite number > 0"),
        ({"train.mode": "hard"}, r"mode must be one of \['iid', 'in-batch'\]"),
        ({"seeds": 101, "flag": True}, r"seeds must be <= 100 when flag is set"),
        ({"seed": -1}, r"seed must be a non-negative integer"),
        ({"bogus": 1}, r"unknown config field 'bogus'"),
        ({"train.bogus": 1}, r"unknown config field 'train.bogus'"),
        ({"seeds.x": 1}, r"seeds has no fields"),
    ],
)
def test_every_declared_constraint_rejects_bad_values_naming_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        Outer().replace(**changes)


def test_nested_replace_flat_dict_and_as_dict():
    config = Outer().replace(**{"train.beta": 0.5, "seeds": 12, "cap": None})
    assert config.train == Inner(beta=0.5) and config.seeds == 12
    assert config.flat_dict()["train.beta"] == 0.5 and config.flat_dict()["train.mode"] == "iid"
    assert config.as_dict()["train"] == {"beta": 0.5, "mode": "iid"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seeds = 3


def test_constraints_are_inherited_and_listed():
    rules = Outer.field_constraints()
    assert set(rules) == {"seed", "dims", "seeds", "flag", "cap", "label"}
    assert Outer().constraint_for("train.beta") == Real(0, open_lo=True)
    assert Outer().constraint_for("nothing") is None


@dataclass(frozen=True)
class Inline(Outer):
    steps: int = setting(40, Integer(1), "optimiser steps")
    beta: float = setting(2.0, Real(0, open_lo=True))
    note: str = "free"
    constraints = {"note": Text()}


def test_setting_declares_constraint_and_meaning_next_to_the_field():
    assert Inline().steps == 40 and Inline().beta == 2.0
    rules = Inline.field_constraints()
    assert rules["steps"] == Integer(1) and rules["beta"] == Real(0, open_lo=True)
    assert rules["note"] == Text() and rules["dims"] == TupleOf(Integer(1, 6), increasing=True)  # dict and base still count
    with pytest.raises(ValueError, match=r"steps must be a positive integer"):
        Inline(steps=0)
    with pytest.raises(ValueError, match=r"beta must be a finite number > 0"):
        Inline().replace(beta=-1.0)
    assert parse_overrides(Inline(), ["steps=7"]) == {"steps": 7}
    assert Inline().field_doc("steps") == "optimiser steps" and Inline().field_doc("beta") == ""
    assert Inline().field_doc("train.beta") == "" and Inline().field_doc("nothing") == ""
    with pytest.raises(TypeError, match="must be a Constraint"):
        setting(1, "positive")


def test_command_line_values_are_parsed_by_their_constraint():
    parsed = parse_overrides(Outer(), ["dims=1,4,5", "seeds=20", "flag=yes", "cap=none", "train.beta=0.25", "train.mode=in-batch"])
    assert parsed == {"dims": (1, 4, 5), "seeds": 20, "flag": True, "cap": None, "train.beta": 0.25, "train.mode": "in-batch"}
    assert Outer().replace(**parsed).train == Inner(beta=0.25, mode="in-batch")
    assert parse_overrides(Outer, ["cap=0.5"]) == {"cap": 0.5}
    with pytest.raises(ValueError, match=r"cannot parse seeds='many': expected an integer >= 2"):
        parse_overrides(Outer(), ["seeds=many"])
    with pytest.raises(ValueError, match="unknown config field"):
        parse_overrides(Outer(), ["train.nothing=1"])
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(Outer(), ["seeds"])


def test_one_of_keeps_booleans_and_numbers_apart():
    rule = OneOf(0, 1, "a")
    rule.check("x", 1)
    with pytest.raises(ValueError):
        rule.check("x", True)
    assert rule.parse("1") == 1 and rule.parse("a") == "a"


def test_descriptions_use_the_wording_of_the_check_helpers():
    assert Integer(1).describe() == "a positive integer (>= 1)"
    assert Integer(0).describe() == "a non-negative integer (>= 0)"
    assert Real(0, open_lo=True).describe() == "a finite number > 0"
    assert Real(0).describe() == "a finite number >= 0"
    assert Real(0, 1, open_hi=True).describe() == "a finite number in [0, 1)"
