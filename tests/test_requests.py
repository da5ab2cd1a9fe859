"""Pure building of FlexMeasures requests (requests.py): settings, targets, models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import math

from hypothesis import given, settings as hypothesis_settings, strategies as st
import pytest

from custom_components.flexmeasures.requests import (
    ScheduleSettings,
    SocTarget,
    device_flex_model,
    price_flex_context,
    soc_kwh,
    soc_targets_attribute,
)

START = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
END = START + timedelta(hours=24)


@pytest.mark.parametrize("stored", ["", "asset", None])
def test_price_from_the_asset_reads_the_same_stored_any_way(
    stored: str | None,
) -> None:
    """ "" (entries saved before `asset`), `asset` and nothing: the asset's prices."""
    data = {"power_sensor": "8", "consumption_price_sensor": stored}
    if stored is not None:
        data["production_price_sensor"] = stored
    settings = ScheduleSettings.from_data(data)
    assert settings.consumption_price_sensor_id is None
    assert settings.production_price_sensor_id is None
    assert price_flex_context(settings) == {}


def test_price_sensors_by_id() -> None:
    settings = ScheduleSettings.from_data(
        {
            "power_sensor": "8",
            "consumption_price_sensor": "7",
            "production_price_sensor": "asset",
        }
    )
    assert price_flex_context(settings) == {"consumption-price": {"sensor": 7}}


@pytest.mark.parametrize(
    ("soc_min", "expected"), [(45.0, "45 kWh"), (None, "0 kWh"), (0.0, "0 kWh")]
)
def test_without_a_state_of_charge_the_start_is_the_minimum(
    soc_min: float | None, expected: str
) -> None:
    """No state of charge entity (nor one given): assume soc_min at the start.

    Without soc-at-start FlexMeasures starts at 0 kWh, which is infeasible
    with a minimum above 0 (the real server: InfeasibleProblemException).
    """
    settings = ScheduleSettings.from_data(
        {"power_sensor": "8", "soc_min": soc_min, "soc_max": 450.0}
    )
    model = device_flex_model(
        settings, soc_at_start=None, soc_targets=(), start=START, end=END
    )
    assert model["soc-at-start"] == expected
    assert model["soc-min"] == expected


def test_a_given_state_of_charge_at_start_is_sent_as_is() -> None:
    settings = ScheduleSettings.from_data({"power_sensor": "8", "soc_min": 45.0})
    model = device_flex_model(
        settings, soc_at_start="120 kWh", soc_targets=(), start=START, end=END
    )
    assert model["soc-at-start"] == "120 kWh"


@pytest.mark.parametrize(
    ("value", "capacity", "kwh"),
    [
        (40, None, 40.0),
        (40.5, None, 40.5),
        ("40", None, 40.0),
        ("40 kWh", None, 40.0),
        ("0.4 MWh", None, 400.0),
        ("400000Wh", None, 400.0),
        (" 80 % ", 450.0, 360.0),
        ("1e2 kWh", None, 100.0),
    ],
)
def test_soc_kwh_reads_numbers_and_quantities(
    value: float | str, capacity: float | None, kwh: float
) -> None:
    assert soc_kwh(value, capacity) == pytest.approx(kwh)


@pytest.mark.parametrize(
    ("value", "capacity"),
    [
        (math.inf, None),
        (math.nan, None),
        ("inf", None),
        ("nan kWh", None),
        ("1e999 kWh", None),
        ("80%", None),  # a percentage needs the capacity
        ("40 kW", None),  # a power is not a state of charge
        ("lots", None),
        ("", None),
    ],
)
def test_soc_kwh_refuses_what_is_not_a_state_of_charge(
    value: float | str, capacity: float | None
) -> None:
    with pytest.raises(ValueError, match=r"state of charge|percentage|energy unit"):
        soc_kwh(value, capacity)


@hypothesis_settings(max_examples=200)
@given(
    number=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    unit=st.sampled_from([("Wh", 0.001), ("kWh", 1.0), ("MWh", 1000.0)]),
    space=st.sampled_from(["", " "]),
)
def test_soc_kwh_converts_every_energy_quantity(
    number: float, unit: tuple[str, float], space: str
) -> None:
    """Whatever number FlexMeasures would read, in Wh, kWh or MWh."""
    name, factor = unit
    assert soc_kwh(f"{number!r}{space}{name}", None) == pytest.approx(
        number * factor, rel=1e-12, abs=1e-12
    )


def test_targets_attribute_shows_the_targets_in_force_in_kwh() -> None:
    targets = (
        SocTarget(START - timedelta(minutes=1), "100 kWh"),  # passed
        SocTarget(START + timedelta(hours=2), "0.3 MWh"),
        SocTarget(START + timedelta(hours=3), "80%"),
        SocTarget(START + timedelta(hours=4), "40 kW"),  # not an energy
    )
    assert soc_targets_attribute(targets, START, 450.0) == [
        {"datetime": "2026-11-23T07:30:00+00:00", "value": 300.0},
        {"datetime": "2026-11-23T08:30:00+00:00", "value": 360.0},
    ]
    assert soc_targets_attribute(targets, START, None) == [
        {"datetime": "2026-11-23T07:30:00+00:00", "value": 300.0},
    ]
