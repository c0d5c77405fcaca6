"""Validation helpers shared by every config and public function.

Each helper raises ``ValueError`` whose message names the parameter and the allowed
range, so that a bad value is reported before any work starts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection
from dataclasses import dataclass
from numbers import Integral
from numbers import Real as _RealNumber
from typing import Any, ClassVar


# The exact-type tests come first because the abstract-class checks cost microseconds, and
# the loss functions check their arguments on every call (at small batch sizes that shows).
def _is_int(value) -> bool:
    return type(value) is int or (isinstance(value, Integral) and not isinstance(value, bool))


def _is_real(value) -> bool:
    kind = type(value)
    return kind is float or kind is int or (isinstance(value, _RealNumber) and not isinstance(value, bool))


# ----------------------------------------------------------------------------- declared constraints
#
# A settings class declares, once, what each field may hold (scikit-learn's
# ``_parameter_constraints`` idea):
#
#     @dataclass(frozen=True)
#     class TrainConfig(Settings):
#         steps: int = 400
#         beta: float = 2.0
#         constraints = {"steps": Integer(1), "beta": Real(0, open_lo=True)}
#
# or, next to the field with its meaning, ``beta: float = setting(2.0, Real(0, open_lo=True),
# "inverse temperature")``. ``Settings.__post_init__`` checks every declared field, then
# calls ``validate()`` for relations between fields. The constraint also parses a
# ``--set key=value`` text and describes the allowed values for ``clustertheory list --long``.


class Constraint:
    """What one settings field may hold: ``check`` raises ValueError naming the field."""

    def check(self, name: str, value) -> None:
        raise NotImplementedError

    def parse(self, text: str):
        """The value a command-line text stands for (checked afterwards by ``check``)."""
        return text

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Integer(Constraint):
    """An integer in [lo, hi] (None: unbounded on that side)."""

    lo: int | None = None
    hi: int | None = None

    def check(self, name: str, value) -> None:
        if not _is_int(value) or (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")

    def parse(self, text: str):
        return int(text)

    def describe(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"an integer in [{self.lo}, {self.hi}]"
        if self.lo == 1:
            return "a positive integer (>= 1)"
        if self.lo == 0:
            return "a non-negative integer (>= 0)"
        if self.lo is not None:
            return f"an integer >= {self.lo}"
        if self.hi is not None:
            return f"an integer <= {self.hi}"
        return "an integer"


@dataclass(frozen=True)
class Real(Constraint):
    """A finite real in the interval from lo to hi, each end closed unless ``open_lo`` / ``open_hi``."""

    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False
    open_hi: bool = False

    def check(self, name: str, value) -> None:
        ok = _is_real(value) and math.isfinite(value)
        if ok and self.lo is not None:
            ok = value > self.lo if self.open_lo else value >= self.lo
        if ok and self.hi is not None:
            ok = value < self.hi if self.open_hi else value <= self.hi
        if not ok:
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")

    def parse(self, text: str):
        return float(text)

    def describe(self) -> str:
        if self.hi is None and self.lo is not None:
            return f"a finite number {'>' if self.open_lo else '>='} {self.lo:g}"
        if self.lo is None and self.hi is not None:
            return f"a finite number {'<' if self.open_hi else '<='} {self.hi:g}"
        if self.lo is None:
            return "a finite number"
        left, right = "(" if self.open_lo else "[", ")" if self.open_hi else "]"
        return f"a finite number in {left}{self.lo:g}, {self.hi:g}{right}"


@dataclass(frozen=True)
class Boolean(Constraint):
    """True or False (on the command line: true/false, yes/no, 1/0)."""

    def check(self, name: str, value) -> None:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")

    def parse(self, text: str):
        lowered = text.lower()
        if lowered in {"true", "yes", "1"}:
            return True
        if lowered in {"false", "no", "0"}:
            return False
        raise ValueError(f"not a boolean: {text!r}")

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class OneOf(Constraint):
    """One of a fixed set of values (strings or numbers)."""

    values: tuple

    def __init__(self, *values):
        object.__setattr__(self, "values", tuple(values))

    def check(self, name: str, value) -> None:
        if type(value) is str and value in self.values:  # the common case, and a string is never a bool
            return
        # True == 1 in Python: a bool only matches a bool option, a number only a number
        if not any(value == v and isinstance(value, bool) == isinstance(v, bool) for v in self.values):
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")

    def parse(self, text: str):
        for value in self.values:
            if str(value) == text:
                return value
        for value in self.values:  # numbers written another way (1 for 1.0)
            if not isinstance(value, str):
                try:
                    if type(value)(text) == value:
                        return value
                except ValueError:
                    pass
        return text

    def describe(self) -> str:
        return f"one of {sorted(map(str, self.values))}"


@dataclass(frozen=True)
class Optional(Constraint):
    """None, or a value meeting ``inner`` (on the command line: ``none``)."""

    inner: Constraint

    def check(self, name: str, value) -> None:
        if value is not None:
            self.inner.check(name, value)

    def parse(self, text: str):
        return None if text.lower() == "none" else self.inner.parse(text)

    def describe(self) -> str:
        return f"none or {self.inner.describe()}"


@dataclass(frozen=True)
class TupleOf(Constraint):
    """A tuple of ``min_len``..``max_len`` items, each meeting ``item`` (command line: a,b,c).

    ``increasing``: strictly increasing items (a grid); ``distinct``: no repeats.
    """

    item: Constraint
    min_len: int = 1
    max_len: int | None = None
    increasing: bool = False
    distinct: bool = False

    def check(self, name: str, value) -> None:
        if not isinstance(value, tuple):
            raise ValueError(f"{name} must be a tuple ({self.describe()}), got {value!r}")
        if len(value) < self.min_len or (self.max_len is not None and len(value) > self.max_len):
            raise ValueError(f"{name} must be {self.describe()}, got {len(value)} item(s): {value!r}")
        for item in value:
            self.item.check(f"each item of {name}", item)
        if self.increasing and any(b <= a for a, b in zip(value, value[1:])):
            raise ValueError(f"{name} must be strictly increasing, got {value!r}")
        if self.distinct and len(set(value)) != len(value):
            raise ValueError(f"{name} must not repeat an item, got {value!r}")

    def parse(self, text: str):
        return tuple(self.item.parse(part.strip()) for part in text.split(",") if part.strip())

    def describe(self) -> str:
        size = f"at least {self.min_len}" if self.max_len is None else f"{self.min_len} to {self.max_len}"
        order = ", strictly increasing" if self.increasing else (", distinct" if self.distinct else "")
        return f"a tuple of {size} item(s){order}, each {self.item.describe()}"


@dataclass(frozen=True)
class Text(Constraint):
    """Any string."""

    def check(self, name: str, value) -> None:
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {value!r}")

    def describe(self) -> str:
        return "a string"


# ----------------------------------------------------------------------------- check helpers
#
# The helpers for public functions go through the constraint objects above, so a message
# is worded in one place. check_probability and check_range keep their own wording
# ("must be in [0, 1]", no finiteness rule for check_range): no constraint says exactly that.


def check_positive_int(name: str, value) -> int:
    """Require an integer >= 1."""
    _POSITIVE_INT.check(name, value)
    return int(value)


def check_nonneg_int(name: str, value) -> int:
    """Require an integer >= 0."""
    _NONNEG_INT.check(name, value)
    return int(value)


def check_positive(name: str, value) -> float:
    """Require a finite real > 0."""
    _POSITIVE.check(name, value)
    return float(value)


def check_nonneg(name: str, value) -> float:
    """Require a finite real >= 0."""
    _NONNEG.check(name, value)
    return float(value)


def check_probability(name: str, value, open_right: bool = False) -> float:
    """Require a real in [0, 1] (or [0, 1) when ``open_right``)."""
    upper_ok = value < 1 if open_right else value <= 1
    if not _is_real(value) or not math.isfinite(value) or value < 0 or not upper_ok:
        interval = "[0, 1)" if open_right else "[0, 1]"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return float(value)


def check_range(name: str, value, lo, hi) -> float:
    """Require ``lo <= value <= hi``."""
    if not _is_real(value) or not (lo <= value <= hi):
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return value


def check_int_range(name: str, value, lo: int, hi: int) -> int:
    """Require an integer with ``lo <= value <= hi``."""
    Integer(lo, hi).check(name, value)
    return int(value)


def check_in(name: str, value, allowed: Collection) -> object:
    """Require ``value`` to be one of ``allowed`` (a bool never stands for the number 1 or 0)."""
    OneOf(*allowed).check(name, value)
    return value


def setting(default, constraint: Constraint | None = None, doc: str = ""):
    """A settings field declared in one line: its default, its allowed values and its meaning.

    ``beta: float = setting(2.0, Real(0, open_lo=True), "inverse temperature")`` is the field
    ``beta = 2.0`` with ``constraints["beta"] = Real(0, open_lo=True)``; ``doc`` is shown by
    ``clustertheory list --long``. Defaults must be immutable (tuples, numbers, strings,
    frozen settings), as for any frozen dataclass field.
    """
    if constraint is not None and not isinstance(constraint, Constraint):
        raise TypeError(f"constraint must be a Constraint, got {constraint!r}")
    return dataclasses.field(default=default, metadata={"constraint": constraint, "doc": doc})


_POSITIVE_INT, _NONNEG_INT = Integer(1), Integer(0)
_POSITIVE, _NONNEG = Real(0, open_lo=True), Real(0)


@dataclass(frozen=True)
class Settings:
    """A frozen settings dataclass whose fields are checked against declared constraints.

    Subclasses are ``@dataclass(frozen=True)`` and declare each field's :class:`Constraint`
    with :func:`setting` or in the class attribute ``constraints`` (field name ->
    constraint); constraints of base classes are inherited. A field
    holding another :class:`Settings` (a nested config, e.g. ``train``) is checked by its own
    class. ``validate()`` is for relations between fields (raise ValueError naming them).
    """

    constraints: ClassVar[dict[str, Constraint]] = {}

    def __post_init__(self) -> None:
        rules = self.field_constraints()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            default = f.default
            if isinstance(default, Settings) and not isinstance(value, type(default)):
                raise ValueError(f"{f.name} must be a {type(default).__name__}, got {value!r}")
            if f.name in rules:
                rules[f.name].check(f.name, value)
        self.validate()

    @classmethod
    def field_constraints(cls) -> dict[str, Constraint]:
        """Every declared constraint of this class and its bases."""
        merged: dict[str, Constraint] = {}
        for klass in reversed(cls.__mro__):
            merged.update(klass.__dict__.get("constraints", {}))
        for f in dataclasses.fields(cls):
            if f.metadata.get("constraint") is not None:
                merged[f.name] = f.metadata["constraint"]
        return merged

    def field_doc(self, key: str) -> str:
        """The meaning of a (dotted) field as declared with :func:`setting` ("" when none)."""
        head, _, rest = key.partition(".")
        for f in dataclasses.fields(self):
            if f.name == head:
                inner = getattr(self, head)
                if rest:
                    return inner.field_doc(rest) if isinstance(inner, Settings) else ""
                return f.metadata.get("doc", "")
        return ""

    def validate(self) -> None:
        """Relations between fields; single fields are covered by ``constraints``."""

    def replace(self, **changes) -> "Settings":
        """A copy with ``changes`` applied and checked again; ``"train.beta"`` reaches a nested field."""
        direct: dict = {}
        nested: dict[str, dict] = {}
        names = {f.name for f in dataclasses.fields(self)}
        for key, value in changes.items():
            head, _, rest = key.partition(".")
            if head not in names:
                raise ValueError(f"unknown config field {key!r}; allowed: {', '.join(sorted(self.flat_dict()))}")
            if rest:
                inner = getattr(self, head)
                if not isinstance(inner, Settings):
                    raise ValueError(f"unknown config field {key!r}: {head} has no fields")
                if rest not in inner.flat_dict():
                    raise ValueError(f"unknown config field {key!r}; allowed: {', '.join(sorted(self.flat_dict()))}")
                nested.setdefault(head, {})[rest] = value
            else:
                direct[key] = value
        for head, inner_changes in nested.items():
            direct[head] = getattr(self, head).replace(**inner_changes)
        return dataclasses.replace(self, **direct)

    def as_dict(self) -> dict[str, Any]:
        """Field -> value, nested settings as nested dicts."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.as_dict() if isinstance(value, Settings) else value
        return out

    def flat_dict(self) -> dict[str, Any]:
        """Field -> value with nested settings flattened to dotted keys (``train.beta``)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Settings):
                out.update({f"{f.name}.{k}": v for k, v in value.flat_dict().items()})
            else:
                out[f.name] = value
        return out

    def constraint_for(self, key: str) -> Constraint | None:
        """The constraint of a (dotted) field, or None when it declares none."""
        head, _, rest = key.partition(".")
        if rest:
            inner = getattr(self, head, None)
            return inner.constraint_for(rest) if isinstance(inner, Settings) else None
        return self.field_constraints().get(head)

    def parse_value(self, key: str, text: str):
        """The typed value of a (dotted) field from command-line text."""
        flat = self.flat_dict()
        if key not in flat:
            raise ValueError(f"unknown config field {key!r}; allowed: {', '.join(sorted(flat))}")
        rule = self.constraint_for(key)
        try:
            if rule is not None:
                return rule.parse(text)
            return _parse_like(flat[key], text)
        except ValueError:
            raise ValueError(f"cannot parse {key}={text!r}: expected {rule.describe() if rule else type(flat[key]).__name__}") from None


def _parse_like(default, text: str):
    """Parse ``text`` as the type of ``default`` (fields without a declared constraint)."""
    if isinstance(default, bool):
        return Boolean().parse(text)
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    if isinstance(default, tuple):
        return tuple(_parse_like(default[0] if default else "", part.strip()) for part in text.split(",") if part.strip())
    return text
