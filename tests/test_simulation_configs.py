"""Every simulation module: it imports, follows the contract (NAME, SUMMARY, Config, SCALES,
run, verdict, plot), and its config rejects invalid values with a ValueError naming the field,
before any work starts."""

import dataclasses
from numbers import Real

import pytest
from helpers import NONNEG_INT, raises

from clustertheory.simulation import SimulationConfig, discover

# Fields that legitimately take negative values: {(simulation NAME, field): why}.
ACCEPTS_NEGATIVE: dict[tuple[str, str], str] = {}


def _simulations() -> dict:
    try:
        return discover()
    except Exception as error:  # noqa: BLE001 - reported by test_every_simulation_imports, not at collection
        return {"<discover failed>": error}


SIMULATIONS = _simulations()


def _numeric(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _positive_fields() -> list[tuple[str, str]]:
    """(simulation, field) for every int/float field (or tuple of them) whose default is > 0."""
    cases = []
    for name, module in SIMULATIONS.items():
        if not hasattr(module, "SCALES"):
            continue
        default = module.SCALES.get("default")
        for field in dataclasses.fields(default) if dataclasses.is_dataclass(default) else []:
            value = getattr(default, field.name)
            items = value if isinstance(value, tuple) and value else (value,)
            if field.name != "seed" and all(_numeric(v) and v > 0 for v in items):
                cases.append((name, field.name))
    return cases


def test_every_simulation_imports():
    failed = SIMULATIONS.get("<discover failed>")
    assert failed is None, f"discover() raised {failed!r}"
    assert SIMULATIONS, "no simulation was discovered"


@pytest.mark.parametrize("name", sorted(n for n in SIMULATIONS if not n.startswith("<")))
def test_simulation_module_follows_the_contract(name):
    module = SIMULATIONS[name]
    assert module.NAME == name
    assert isinstance(module.SUMMARY, str) and module.SUMMARY.strip() and "\n" not in module.SUMMARY
    assert (module.__doc__ or "").strip(), "the module docstring states the claim"
    assert issubclass(module.Config, SimulationConfig)
    assert dataclasses.is_dataclass(module.Config) and module.Config.__dataclass_params__.frozen
    for attribute in ("run", "verdict", "plot"):
        assert callable(getattr(module, attribute, None)), attribute
    assert "default" in module.SCALES
    for scale, config in module.SCALES.items():
        assert type(config) is module.Config, scale
        assert module.Config().replace(**config.flat_dict()) == config  # every scale validates again (nested settings too)
    with pytest.raises(dataclasses.FrozenInstanceError):
        module.SCALES["default"].seed = 1


@pytest.mark.parametrize("name", sorted(n for n in SIMULATIONS if not n.startswith("<")))
def test_simulation_config_rejects_a_negative_seed(name):
    module = SIMULATIONS[name]
    with raises("seed", NONNEG_INT):
        module.Config(seed=-1)
    with raises("seed", NONNEG_INT):
        module.SCALES["default"].replace(seed=-1)


@pytest.mark.parametrize("name,field", _positive_fields(), ids=[f"{n}.{f}" for n, f in _positive_fields()])
def test_simulation_config_rejects_minus_one_in_positive_fields(name, field):
    """A field whose default is > 0 set to -1 (or (-1,) for a tuple) raises a ValueError naming it."""
    module = SIMULATIONS[name]
    default = getattr(module.SCALES["default"], field)
    first = default[0] if isinstance(default, tuple) else default
    bad = -1 if isinstance(first, int) else -1.0
    bad = (bad,) if isinstance(default, tuple) else bad
    if (name, field) in ACCEPTS_NEGATIVE:
        assert module.SCALES["default"].replace(**{field: bad}) is not None
        return
    with pytest.raises(ValueError) as error:
        module.SCALES["default"].replace(**{field: bad})
    assert field in str(error.value), f"message does not name {field}: {error.value}"


@pytest.mark.parametrize("name", sorted(n for n in SIMULATIONS if not n.startswith("<")))
def test_every_config_field_declares_its_constraint_once(name):
    """Each setting (nested ones by their own class) states its allowed values in ``constraints``,
    and every scale satisfies them (checked at construction)."""
    default = SIMULATIONS[name].SCALES["default"]
    undeclared = [key for key in default.flat_dict() if default.constraint_for(key) is None]
    assert not undeclared, f"{name}: fields without a declared constraint: {undeclared}"
