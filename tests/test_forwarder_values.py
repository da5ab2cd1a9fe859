"""What the forwarder sends is a finite number: never inf or NaN (JSON null)."""

from __future__ import annotations

from datetime import timedelta
import math
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.forwarder import MeasurementMapping

from .forwarder_common import (
    ENTITY,
    STORE_KEY,
    T0,
    FakeClient,
    Q,
    at,
    make_entry,
    make_sensor,
    start_forwarder,
)

KW = {"unit_of_measurement": "kW"}


@pytest.fixture
def entry(hass: HomeAssistant) -> MockConfigEntry:
    return make_entry(hass)


def _all_finite(client: FakeClient) -> bool:
    return all(math.isfinite(value) for _, value in client.sent())


async def test_a_value_that_overflows_in_the_sensors_unit_is_a_gap(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """1e307 kW is finite; in W it is inf: that step is a gap, the next one is not."""
    client = FakeClient()
    freezer.move_to(T0)
    hass.states.async_set(ENTITY, "1e307", KW)
    mapping = MeasurementMapping("sub1", ENTITY, make_sensor(unit="W"))
    forwarder = await start_forwarder(hass, entry, client, [mapping])
    await at(hass, freezer, T0 + timedelta(minutes=1))
    hass.states.async_set(ENTITY, "2", KW)
    await at(hass, freezer, T0 + 2 * Q)
    await forwarder.async_stop()
    assert client.sent() == [(T0 + Q, 2000.0)]
    saved = hass_storage[STORE_KEY]["data"]["tracks"]["sub1"]
    assert saved["last_end"] == (T0 + 2 * Q).timestamp()


async def test_an_instantaneous_sample_that_overflows_is_not_sent(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
) -> None:
    client = FakeClient()
    freezer.move_to(T0)
    sensor = make_sensor(unit="W", resolution=timedelta(0))
    forwarder = await start_forwarder(
        hass, entry, client, [MeasurementMapping("sub1", ENTITY, sensor)]
    )
    hass.states.async_set(ENTITY, "1e307", KW)
    await at(hass, freezer, T0 + timedelta(seconds=1))
    hass.states.async_set(ENTITY, "3", KW)
    await at(hass, freezer, T0 + timedelta(seconds=10))
    await forwarder.async_stop()
    assert client.sent() == [(T0 + timedelta(seconds=1), 3000.0)]


async def test_a_meter_whose_energy_overflows_as_power_is_a_gap(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
) -> None:
    meter = {"unit_of_measurement": "kWh", "state_class": "total"}
    client = FakeClient()
    freezer.move_to(T0)
    hass.states.async_set("sensor.meter", "-1e308", meter)
    mapping = MeasurementMapping("sub1", "sensor.meter", make_sensor(unit="kW"))
    forwarder = await start_forwarder(hass, entry, client, [mapping])
    await at(hass, freezer, T0 + timedelta(minutes=1))
    hass.states.async_set("sensor.meter", "1e308", meter)  # +2e308 kWh: inf
    await at(hass, freezer, T0 + Q + timedelta(minutes=1))
    hass.states.async_set("sensor.meter", "1e308", meter)
    await at(hass, freezer, T0 + 2 * Q)
    await forwarder.async_stop()
    assert _all_finite(client)
    assert client.sent() == [(T0 + Q, 0.0)]


async def test_a_forecast_value_that_overflows_in_the_sensors_unit_is_left_out(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
) -> None:
    client = FakeClient()
    freezer.move_to(T0)
    sensor = make_sensor(3, unit="EUR/MWh", resolution=timedelta(hours=1))
    mapping = MeasurementMapping("p", "sensor.price", sensor, "forecast")
    forwarder = await start_forwarder(hass, entry, client, [mapping])
    points = [
        {"start": (T0 + timedelta(hours=h)).isoformat(), "value": value}
        for h, value in enumerate([0.25, 1e307, 0.5])
    ]
    hass.states.async_set(
        "sensor.price", "0.25", {"unit_of_measurement": "EUR/kWh", "forecast": points}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    await forwarder.async_stop()
    forecasts = [
        (call["start"], call["values"]) for call in client.calls if call["prior"]
    ]
    assert forecasts == [
        (T0, [pytest.approx(250.0)]),
        (T0 + timedelta(hours=2), [pytest.approx(500.0)]),
    ]
