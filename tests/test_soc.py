"""The state of charge entity of a schedule device (soc.py) on its own."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
import pytest

from custom_components.flexmeasures.exceptions import ErrorKind, ScheduleRequestError
from custom_components.flexmeasures.requests import ScheduleSettings
from custom_components.flexmeasures.soc import SocEntity

SOC = "sensor.ev_soc"
EV = ScheduleSettings(power_sensor_id=8, soc_entity=SOC, capacity=60.0, soc_max=54.0)


async def test_without_an_entity_nothing_is_waited_for_or_watched(
    hass: HomeAssistant,
) -> None:
    soc = SocEntity(hass, ScheduleSettings(power_sensor_id=8))
    called: list[object] = []
    soc.wait_for_value(lambda: called.append("ready"))
    soc.watch(called.append)
    hass.states.async_set(SOC, "50", {"unit_of_measurement": "%"})
    await hass.async_block_till_done()
    assert called == []
    with pytest.raises(ScheduleRequestError) as err:
        soc.kwh()
    assert err.value.kind is ErrorKind.SOC_UNAVAILABLE
    soc.shutdown()


async def test_waiting_calls_back_once_the_entity_has_a_value(
    hass: HomeAssistant,
) -> None:
    """unknown is no value; a state in the wrong unit is (it will not get better)."""
    soc = SocEntity(hass, EV)
    ready: list[str] = []
    soc.wait_for_value(lambda: ready.append("ready"))
    hass.states.async_set(SOC, "unknown", {"unit_of_measurement": "%"})
    await hass.async_block_till_done()
    assert ready == []
    hass.states.async_set(SOC, "12", {"unit_of_measurement": "°C"})
    await hass.async_block_till_done()
    assert ready == ["ready"]
    soc.shutdown()


async def test_watching_gives_each_value_in_kwh_until_unwatched(
    hass: HomeAssistant,
) -> None:
    """In kWh, clamped to soc_max (90 % of 60 kWh); no value gives None."""
    hass.states.async_set(SOC, "10", {"unit_of_measurement": "%"})
    soc = SocEntity(hass, EV)
    seen: list[float | None] = []
    soc.watch(seen.append)
    soc.watch(seen.append)  # twice: still one listener
    for value in ("50", "unavailable", "100"):
        hass.states.async_set(SOC, value, {"unit_of_measurement": "%"})
        await hass.async_block_till_done()
    hass.states.async_set(SOC, "20", {"unit_of_measurement": "°C"})
    await hass.async_block_till_done()
    soc.unwatch()
    hass.states.async_set(SOC, "30", {"unit_of_measurement": "%"})
    await hass.async_block_till_done()
    assert seen == [pytest.approx(30.0), None, 54.0, None]
    assert soc.kwh() == pytest.approx(18.0)
