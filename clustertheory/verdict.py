"""Verdicts: the package's own checks apart from the claims of papers.

Two kinds of statement come out of every simulation, and they are never mixed:

* a :class:`Check` is about the package's own correctness (an exact identity, agreement
  with a reference or with a simulation, the setting being what it says): PASS or FAIL. A
  failed check means the code or the setting is wrong.
* a :class:`Claim` is a statement of a paper (or a prediction of ours) held against a
  measured effect with an interval. Its status is exactly one of

      reproduced      the interval lies beyond ``minimal_effect`` on the paper's side
      not-reproduced  the interval lies on the null side of ``minimal_effect``
      inconclusive    the interval contains ``minimal_effect``
      not-testable    a precondition failed: the run was not in the regime the claim is
                      about, so it says nothing either way

  ``null`` (no effect) and ``minimal_effect`` (the smallest effect that counts as the
  paper's) are fixed in the simulation's config before the run, never fitted to it.

Checks are built with constructors that state the predicate once and derive both the text
and the outcome from it (``Check.at_most(name, measured, bound)`` says "<= bound" and
passes iff measured <= bound). Preconditions of a claim are Checks too. Claims are built
from samples (``Claim.from_paired``, ``Claim.from_mean``, ``Claim.from_proportion``,
``Claim.from_welch``) or from an exact quantity (``Claim.from_exact``), with intervals from
:mod:`clustertheory.statistics`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import statistics as st
from .sweep import to_jsonable as _jsonable

STATUSES = ("reproduced", "not-reproduced", "inconclusive", "not-testable")


def largest(values: Iterable) -> float:
    """The largest of ``values`` as a float, NaN when there is none: the value a check or an
    exact claim reports as "the worst case over every row" (NaN fails every check)."""
    values = [float(v) for v in values]
    return max(values) if values else math.nan


def count_statuses(statuses: Iterable[str]) -> dict[str, int]:
    """Status -> how many of ``statuses`` have it, in the order of STATUSES (0 where none)."""
    counts = {status: 0 for status in STATUSES}
    for status in statuses:
        if status not in counts:
            raise ValueError(f"claim status must be one of {list(STATUSES)}, got {status!r}")
        counts[status] += 1
    return counts


def counts_text(counts: dict[str, int]) -> str:
    """"3 reproduced, 1 not-testable" ("" when every count is 0)."""
    return ", ".join(f"{n} {status}" for status, n in counts.items() if n)
DIRECTIONS = ("greater", "less")


def _fmt(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


# ----------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Check:
    """One measured quantity held against one requirement: PASS or FAIL.

    Prefer the constructors: each states the predicate once, so the requirement text and
    the outcome cannot disagree. A nan measurement fails every comparison.
    """

    name: str
    measured: Any
    requirement: str
    passed: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "passed", bool(self.passed))

    @classmethod
    def at_most(cls, name: str, measured: float, bound: float) -> "Check":
        return cls(name, measured, f"<= {_fmt(bound)}", bool(measured <= bound))

    @classmethod
    def below(cls, name: str, measured: float, bound: float) -> "Check":
        return cls(name, measured, f"< {_fmt(bound)}", bool(measured < bound))

    @classmethod
    def at_least(cls, name: str, measured: float, bound: float) -> "Check":
        return cls(name, measured, f">= {_fmt(bound)}", bool(measured >= bound))

    @classmethod
    def above(cls, name: str, measured: float, bound: float) -> "Check":
        return cls(name, measured, f"> {_fmt(bound)}", bool(measured > bound))

    @classmethod
    def within(cls, name: str, measured: float, target: float, tolerance: float) -> "Check":
        """|measured - target| <= tolerance."""
        return cls(name, measured, f"within {_fmt(tolerance)} of {_fmt(target)}", bool(abs(measured - target) <= tolerance))

    @classmethod
    def equal(cls, name: str, measured: Any, expected: Any) -> "Check":
        return cls(name, measured, f"== {_fmt(expected)}", bool(measured == expected))

    @classmethod
    def within_z(cls, name: str, measured: float, expected: float, se: float, z: float = 4.0) -> "Check":
        """|measured - expected| <= z se (a Monte Carlo estimate against an exact value)."""
        score = st.z_score(measured, expected, se)
        return cls(name, f"{_fmt(measured)} (z = {_fmt(score)})", f"within {z:g} se ({_fmt(se)}) of {_fmt(expected)}", bool(abs(score) <= z))

    @classmethod
    def all_of(cls, name: str, flags: Sequence[bool]) -> "Check":
        """Every one of ``flags`` holds (and there is at least one)."""
        flags = [bool(f) for f in flags]
        return cls(name, f"{sum(flags)}/{len(flags)}", f"{len(flags)}/{len(flags)} (and at least one)", bool(flags) and all(flags))

    @classmethod
    def none_of(cls, name: str, flags: Sequence[bool]) -> "Check":
        """None of ``flags`` holds (and at least one was looked at)."""
        flags = [bool(f) for f in flags]
        return cls(name, f"{sum(flags)}/{len(flags)}", f"0/{len(flags)} (and at least one)", bool(flags) and not any(flags))

    @classmethod
    def holds(cls, name: str, condition: bool, measured: Any, requirement: str) -> "Check":
        """A predicate the other constructors cannot state; ``requirement`` must say it."""
        return cls(name, measured, requirement, bool(condition))

    def line(self, met_words: tuple[str, str] = ("PASS", "FAIL")) -> str:
        mark = met_words[0] if self.passed else met_words[1]
        return f"[{mark}] {self.name}: measured {_fmt(self.measured)}, required {self.requirement}"

    def as_dict(self, key: str = "passed") -> dict[str, Any]:
        return {"name": self.name, "measured": _jsonable(self.measured), "requirement": self.requirement, key: self.passed}


# ----------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class Claim:
    """A paper's statement (or our prediction) held against a measured effect.

    name            short key, unique within the simulation (e.g. "hard-splits-clusters")
    source          the paper and the statement's place, e.g. "Xu et al. 2023 (SimCSE++), Sec. 3"
    statement       what the paper says, in one sentence
    effect, units   the measured effect size and its units
    low, high       its interval at ``level`` (``method`` says how: "paired t", "wilson", ...)
    n               independent samples (seeds, trials) behind the interval
    null            the value of no effect
    minimal_effect  the smallest effect that counts as the paper's (fixed before the run)
    direction       "greater" (the paper's effect lies above null) or "less"
    preconditions   Checks that put the run in the claim's regime; any failure makes the
                    claim not-testable
    detectable      the smallest effect (as a distance from null) the run could have
                    detected at 80 % power, in the effect's units (nan when unknown)
    note            one sentence on what the status means here (optional)
    """

    name: str
    source: str
    statement: str
    effect: float
    units: str
    low: float
    high: float
    level: float
    method: str
    n: int
    null: float
    minimal_effect: float
    direction: str = "greater"
    preconditions: tuple[Check, ...] = ()
    detectable: float = float("nan")
    note: str = ""

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        side = 1 if self.direction == "greater" else -1
        if side * (self.minimal_effect - self.null) < 0:
            raise ValueError(
                f"claim {self.name!r}: minimal_effect {self.minimal_effect} must lie on the paper's side "
                f"({self.direction}) of null {self.null}"
            )
        if self.low > self.high:
            raise ValueError(f"claim {self.name!r}: interval low {self.low} > high {self.high}")
        object.__setattr__(self, "preconditions", tuple(self.preconditions))

    @property
    def status(self) -> str:
        """The rule of the module docstring, applied to the interval and preconditions."""
        if not all(p.passed for p in self.preconditions):
            return "not-testable"
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return "inconclusive"
        if self.direction == "greater":
            if self.low > self.minimal_effect:
                return "reproduced"
            if self.high < self.minimal_effect:
                return "not-reproduced"
        else:
            if self.high < self.minimal_effect:
                return "reproduced"
            if self.low > self.minimal_effect:
                return "not-reproduced"
        return "inconclusive"

    @property
    def needed(self) -> str:
        """The requirement in words, e.g. "interval above 0.02 (null 0)"."""
        side = "above" if self.direction == "greater" else "below"
        return f"interval {side} {_fmt(self.minimal_effect)} (null {_fmt(self.null)})"

    def line(self) -> str:
        interval = f"{self.level:.0%} CI [{_fmt(self.low)}, {_fmt(self.high)}]"
        detect = f"; detectable {_fmt(self.detectable)}" if math.isfinite(self.detectable) else ""
        text = (
            f"[{self.status}] {self.name}: {self.statement} ({self.source})\n"
            f"      effect {_fmt(self.effect)} {self.units}, {interval} ({self.method}, n={self.n}); "
            f"needed {self.needed}{detect}"
        )
        failed = [p for p in self.preconditions if not p.passed]
        if failed:
            text += "\n" + "\n".join("      precondition " + p.line(("met", "NOT MET")) for p in failed)
        elif self.preconditions:
            text += f"\n      preconditions: {len(self.preconditions)}/{len(self.preconditions)} met"
        if self.note:
            text += f"\n      {self.note}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "statement": self.statement,
            "status": self.status,
            "effect": _jsonable(float(self.effect)),
            "units": self.units,
            "ci": [_jsonable(float(self.low)), _jsonable(float(self.high))],
            "level": self.level,
            "method": self.method,
            "n": int(self.n),
            "null": _jsonable(float(self.null)),
            "minimal_effect": _jsonable(float(self.minimal_effect)),
            "direction": self.direction,
            "detectable": _jsonable(float(self.detectable)),
            "preconditions": [p.as_dict("met") for p in self.preconditions],
            "note": self.note,
        }

    # -------------------------------------------------------------- constructors

    @classmethod
    def from_interval(cls, name: str, source: str, statement: str, interval: st.Interval, units: str, *, null: float,
                      minimal_effect: float, direction: str = "greater", preconditions: Sequence[Check] = (),
                      detectable: float = float("nan"), note: str = "") -> "Claim":
        return cls(
            name=name, source=source, statement=statement, effect=interval.estimate, units=units,
            low=interval.low, high=interval.high, level=interval.level, method=interval.method, n=interval.n,
            null=null, minimal_effect=minimal_effect, direction=direction, preconditions=tuple(preconditions),
            detectable=detectable, note=note,
        )

    @classmethod
    def untestable(cls, name: str, source: str, statement: str, units: str, *, minimal_effect: float, preconditions: Sequence[Check],
                   null: float = 0.0, direction: str = "greater", method: str = "paired t", note: str = "") -> "Claim":
        """A claim whose effect cannot be formed because a failed precondition left an arm
        empty: effect and interval nan, n = 0, status not-testable. Raises ValueError when
        every precondition holds (then the claim is testable and needs its effect)."""
        preconditions = tuple(preconditions)  # read twice: a generator would be spent by the test
        if all(p.passed for p in preconditions):
            raise ValueError(f"claim {name!r}: untestable needs a failed precondition, and all {len(preconditions)} hold")
        nan = float("nan")
        return cls(name, source, statement, nan, units, nan, nan, st.DEFAULT_LEVEL, method, 0, null, minimal_effect, direction,
                   preconditions, note=note)

    @classmethod
    def from_paired(cls, name: str, source: str, statement: str, treated, control, units: str, *, null: float = 0.0,
                    minimal_effect: float, direction: str = "greater", preconditions: Sequence[Check] = (),
                    level: float = st.DEFAULT_LEVEL, method: str = "t", note: str = "") -> "Claim":
        """Effect = mean over seeds of treated_i - control_i (both arms ran with seed i)."""
        interval = st.paired_interval(treated, control, level=level, method=method)
        detect = st.detectable_effect(interval.sd, interval.n, level=level) if interval.n > 1 else float("nan")
        interval = _renamed(interval, f"paired {method}")
        return cls.from_interval(name, source, statement, interval, units, null=null, minimal_effect=minimal_effect,
                                 direction=direction, preconditions=preconditions, detectable=detect, note=note)

    @classmethod
    def from_mean(cls, name: str, source: str, statement: str, values, units: str, *, null: float = 0.0,
                  minimal_effect: float, direction: str = "greater", preconditions: Sequence[Check] = (),
                  level: float = st.DEFAULT_LEVEL, method: str = "t", note: str = "") -> "Claim":
        """Effect = mean of independent per-seed values (e.g. a per-seed difference computed in the run)."""
        interval = st.mean_interval(values, level=level, method=method)
        detect = st.detectable_effect(interval.sd, interval.n, level=level) if interval.n > 1 else float("nan")
        return cls.from_interval(name, source, statement, interval, units, null=null, minimal_effect=minimal_effect,
                                 direction=direction, preconditions=preconditions, detectable=detect, note=note)

    @classmethod
    def from_welch(cls, name: str, source: str, statement: str, treated, control, units: str, *, null: float = 0.0,
                   minimal_effect: float, direction: str = "greater", preconditions: Sequence[Check] = (),
                   level: float = st.DEFAULT_LEVEL, note: str = "") -> "Claim":
        """Effect = mean(treated) - mean(control) for arms with independent seeds."""
        interval = st.welch_interval(treated, control, level=level)
        detect = st.detectable_effect(interval.sd * math.sqrt(2), interval.n, level=level) if interval.n > 1 else float("nan")
        return cls.from_interval(name, source, statement, interval, units, null=null, minimal_effect=minimal_effect,
                                 direction=direction, preconditions=preconditions, detectable=detect, note=note)

    @classmethod
    def from_proportion(cls, name: str, source: str, statement: str, successes: int, trials: int, units: str = "share", *,
                        null: float, minimal_effect: float, direction: str = "greater",
                        preconditions: Sequence[Check] = (), level: float = st.DEFAULT_LEVEL, note: str = "") -> "Claim":
        """Effect = successes / trials with a Wilson interval (e.g. the share of seeds whose
        representation keeps every cluster whole). With no trials nothing was measured: the
        claim carries the failed precondition "at least one trial" (not-testable)."""
        if trials == 0:
            empty = Check.at_least(f"trials behind the share ({units})", 0, 1)
            return cls(name=name, source=source, statement=statement, effect=float("nan"), units=units, low=float("nan"),
                       high=float("nan"), level=level, method="wilson", n=0, null=null, minimal_effect=minimal_effect,
                       direction=direction, preconditions=(*preconditions, empty), note=note)
        interval = st.wilson_interval(successes, trials, level=level)
        detect = st.detectable_proportion(null, trials, level=level)
        return cls.from_interval(name, source, statement, interval, units, null=null, minimal_effect=minimal_effect,
                                 direction=direction, preconditions=preconditions, detectable=detect, note=note)

    @classmethod
    def from_exact(cls, name: str, source: str, statement: str, value: float, units: str, *, null: float,
                   minimal_effect: float, direction: str = "greater", preconditions: Sequence[Check] = (),
                   n: int = 1, method: str = "exact", note: str = "") -> "Claim":
        """An effect computed exactly (no sampling noise: a closed form, an exact population
        loss, or the extreme over an enumerated set): the interval is the point itself."""
        value = float(value)
        return cls(name=name, source=source, statement=statement, effect=value, units=units, low=value, high=value,
                   level=1.0, method=method, n=n, null=null, minimal_effect=minimal_effect, direction=direction,
                   preconditions=tuple(preconditions), detectable=abs(minimal_effect - null), note=note)


def _renamed(interval: st.Interval, method: str) -> st.Interval:
    return st.Interval(interval.estimate, interval.low, interval.high, interval.level, method, interval.n, interval.sd)


# ----------------------------------------------------------------------------- verdict


@dataclass(frozen=True)
class Verdict:
    """What a simulation concludes: package checks (PASS iff all pass and there is one) and
    claims (each with its own status; a claim never makes the package verdict FAIL)."""

    checks: list[Check]
    claims: list[Claim] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [c.name for c in self.claims]
        if len(set(names)) != len(names):
            raise ValueError(f"claim names must be unique within a verdict, got {names}")

    @property
    def passed(self) -> bool:
        """The package verdict: every package check passed (and there is at least one)."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def label(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def status_counts(self) -> dict[str, int]:
        return count_statuses(claim.status for claim in self.claims)

    def claim(self, name: str) -> Claim:
        for claim in self.claims:
            if claim.name == name:
                return claim
        raise KeyError(f"no claim named {name!r}; claims: {[c.name for c in self.claims]}")

    def report(self, name: str = "") -> str:
        head = f"{name}: package {self.label}" if name else f"package {self.label}"
        lines = [head] + ["  " + c.line() for c in self.checks]
        if self.claims:
            counts = counts_text(self.status_counts())
            lines.append(f"claims ({counts}):")
            lines += ["  " + c.line() for c in self.claims]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "package": {"passed": self.passed, "checks": [c.as_dict() for c in self.checks]},
            "claims": [c.as_dict() for c in self.claims],
        }
