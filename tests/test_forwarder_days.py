"""Steps of a day or longer follow the FlexMeasures sensor's local midnight."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest

from custom_components.flexmeasures.forwarder import MeasurementMapping

from .forwarder_common import FakeClient, at, make_entry, make_sensor, start_forwarder

AMS = ZoneInfo("Europe/Amsterdam")
DAY = timedelta(days=1)
KW = {"unit_of_measurement": "kW"}


async def test_a_daily_sensor_gets_local_days_not_utc_days(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    midnight = datetime(2026, 1, 5, tzinfo=AMS)  # 2026-01-04 23:00 UTC
    freezer.move_to(midnight)
    hass.states.async_set("sensor.p", "1", KW)
    client = FakeClient()
    mapping = MeasurementMapping("d", "sensor.p", make_sensor(resolution=DAY))
    forwarder = await start_forwarder(hass, make_entry(hass), client, [mapping])
    await at(hass, freezer, midnight + timedelta(hours=12))
    hass.states.async_set("sensor.p", "3", KW)
    await at(hass, freezer, datetime(2026, 1, 6, tzinfo=AMS))
    assert client.sent() == [(midnight, pytest.approx(2.0))]
    call = client.calls[0]
    assert call["duration"] == DAY
    # FlexMeasures floors the start to the day on the wall clock it is given
    assert call["start"].utcoffset() == timedelta(hours=1)
    await forwarder.async_stop()


async def test_the_23_hour_day_of_dst_is_one_day_and_goes_up_on_its_own(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    # 2026-03-29: clocks go from 02:00 to 03:00 in Amsterdam
    days = [datetime(2026, 3, day, tzinfo=AMS) for day in (28, 29, 30, 31)]
    freezer.move_to(days[0])
    hass.states.async_set(
        "sensor.m",
        "0",
        {"unit_of_measurement": "kWh", "state_class": "total_increasing"},
    )
    client = FakeClient()
    mapping = MeasurementMapping(
        "d", "sensor.m", make_sensor(unit="kW", resolution=DAY)
    )
    forwarder = await start_forwarder(hass, make_entry(hass), client, [mapping])
    # 24 kWh on the 28th (1 kW), 46 kWh on the short day: 2 kW over 23 hours
    await at(hass, freezer, days[1] - timedelta(minutes=1))
    hass.states.async_set(
        "sensor.m",
        "24",
        {"unit_of_measurement": "kWh", "state_class": "total_increasing"},
    )
    await at(hass, freezer, days[2] - timedelta(minutes=1))
    hass.states.async_set(
        "sensor.m",
        "70",
        {"unit_of_measurement": "kWh", "state_class": "total_increasing"},
    )
    for day in days[2:]:
        await at(hass, freezer, day)
    assert days[2].timestamp() - days[1].timestamp() == 23 * 3600
    assert client.sent() == [
        (days[0], pytest.approx(1.0)),
        (days[1], pytest.approx(2.0)),
        (days[2], pytest.approx(0.0)),
    ]
    assert [call["start"].utcoffset() for call in client.calls][-1] == timedelta(
        hours=2
    )
    await forwarder.async_stop()


async def test_hourly_steps_stay_on_the_utc_grid(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    kolkata = "Asia/Kolkata"  # UTC+05:30
    start = datetime(2026, 1, 5, 10, tzinfo=ZoneInfo("UTC"))
    freezer.move_to(start)
    hass.states.async_set("sensor.p", "1", KW)
    client = FakeClient()
    sensor = make_sensor(resolution=timedelta(hours=1), timezone=kolkata)
    mapping = MeasurementMapping("h", "sensor.p", sensor)
    forwarder = await start_forwarder(hass, make_entry(hass), client, [mapping])
    await at(hass, freezer, start + timedelta(hours=1))
    assert client.sent() == [(start, 1.0)]
    await forwarder.async_stop()
