"""Unit knowledge: power, energy, temperature and price units (units.py)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.flexmeasures.units import (
    energy_factor_to_kwh,
    is_percentage,
    is_power_unit,
    is_price_unit,
    kw_quantity,
    kwh_quantity,
    power_factor_to_kw,
    price_parts,
    unit_converter,
)


def test_power_units_to_kw() -> None:
    assert power_factor_to_kw("kW") == 1.0
    assert power_factor_to_kw("MW") == 1000.0
    assert power_factor_to_kw("W") == 0.001
    assert power_factor_to_kw("kWh") is None


@pytest.mark.parametrize(
    ("src", "dst", "value", "expected"),
    [
        ("W", "kW", 1500.0, 1.5),
        ("kW", "MW", 2000.0, 2.0),
        ("kWh", "MWh", 500.0, 0.5),
        ("Wh", "kWh", 1000.0, 1.0),
        ("%", "%", 55.0, 55.0),
        (None, "kW", 3.0, 3.0),
        ("EUR/kWh", "EUR/MWh", 0.25, 250.0),
        ("€/kWh", "EUR/MWh", 0.1, 100.0),
        ("EUR/MWh", "EUR/kWh", 120.0, 0.12),
        ("°F", "°C", 212.0, 100.0),
    ],
)
def test_unit_converter_converts_compatible_units(
    src: str | None, dst: str, value: float, expected: float
) -> None:
    convert = unit_converter(src, dst)
    assert convert is not None
    assert convert(value) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        ("kW", "kWh"),
        ("EUR/kWh", "SEK/kWh"),
        ("EUR/kWh", "kW"),
        ("EUR/apple", "EUR/kWh"),
        ("kW", None),
        ("kW", ""),
        ("a/b/c", "EUR/kWh"),
    ],
)
def test_unit_converter_refuses_incompatible_units(
    src: str | None, dst: str | None
) -> None:
    assert unit_converter(src, dst) is None


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("EUR/MWh", True),
        ("EUR/kWh", True),
        ("KRW/Wh", True),
        ("kW", False),
        ("kWh", False),
        ("EUR", False),
        ("kW/kWh", False),
        ("/kWh", False),
        ("%", False),
    ],
)
def test_price_units_are_currency_per_energy(unit: str, expected: bool) -> None:
    """Only currency-per-energy units count as prices."""
    assert is_price_unit(unit) is expected


def test_energy_units_to_kwh() -> None:
    assert energy_factor_to_kwh("kWh") == 1.0
    assert energy_factor_to_kwh("Wh") == pytest.approx(0.001)
    assert energy_factor_to_kwh("MWh") == pytest.approx(1000.0)
    assert energy_factor_to_kwh(" kWh ") == 1.0
    assert energy_factor_to_kwh("kW") is None
    assert energy_factor_to_kwh(None) is None


def test_price_parts_name_currency_and_energy() -> None:
    assert price_parts("EUR/MWh") == ("EUR", "MWh")
    assert price_parts("€ / kWh") == ("EUR", "kWh")
    assert price_parts("eur/kWh") == ("EUR", "kWh")
    assert price_parts("Wh/kWh") is None
    assert price_parts("1/kWh") is None
    assert price_parts(None) is None


def test_unit_predicates() -> None:
    assert is_power_unit("kW")
    assert is_power_unit(" W ")
    assert not is_power_unit("kWh")
    assert not is_power_unit(None)
    assert is_percentage("%")
    assert not is_percentage("kWh")


def test_quantities_are_flexmeasures_strings() -> None:
    assert kwh_quantity(40.0) == "40 kWh"
    assert kwh_quantity(0.1 + 0.2) == "0.3 kWh"
    assert kw_quantity(500) == "500 kW"


_POWER = ["W", "kW", "MW", "GW"]
_ENERGY = ["Wh", "kWh", "MWh"]
_PRICE = ["EUR/kWh", "EUR/MWh", "€/Wh"]


@settings(max_examples=200, deadline=None)
@given(
    family=st.sampled_from([_POWER, _ENERGY, _PRICE]),
    data=st.data(),
    value=st.floats(-1e6, 1e6, allow_nan=False),
)
def test_conversion_round_trips(
    family: list[str], data: st.DataObject, value: float
) -> None:
    """Converting to another unit of the family and back gives the value again."""
    src = data.draw(st.sampled_from(family))
    dst = data.draw(st.sampled_from(family))
    there = unit_converter(src, dst)
    back = unit_converter(dst, src)
    assert there is not None
    assert back is not None
    assert back(there(value)) == pytest.approx(value, rel=1e-9, abs=1e-9)
