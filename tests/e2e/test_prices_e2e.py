"""consumption_price and planned_cost against a real FlexMeasures server.

The demo battery's own flex-context is empty; its building names the price
sensor. Either way (configured, or "what is stored on the asset") the sensor
shows the demo price sensor's value now, and planned_cost the server's cost of
the very job behind the setpoint.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta

from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.const import DOMAIN
from custom_components.flexmeasures.coordinator import ScheduleCoordinator
from custom_components.flexmeasures.prices import PriceSensor
from custom_components.flexmeasures.schedule import align_down
from tests.common import schedule_subentry, setup_integration
from tests.e2e.common import e2e_entry

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("socket_enabled")]

SUBENTRY_ID = "01JE2EPRICESTOYBATTERY0000"
SOC_ENTITY = "sensor.e2e_prices_battery_soc"


@pytest.fixture(params=["configured", "asset"])
async def entry(
    request: pytest.FixtureRequest, hass: HomeAssistant, fm_server: dict[str, str]
) -> AsyncGenerator[MockConfigEntry]:
    """The toy battery's schedule, its price configured or from the asset."""
    hass.states.async_set(SOC_ENTITY, "120", {"unit_of_measurement": "kWh"})
    price = fm_server["FM_TOY_PRICE_SENSOR_ID"] if request.param == "configured" else ""
    config_entry = e2e_entry(
        fm_server,
        subentries_data=[
            schedule_subentry(
                {
                    "power_sensor": fm_server["FM_TOY_BATTERY_SENSOR_ID"],
                    "consumption_price_sensor": price,
                    "production_price_sensor": "",
                    "soc_entity": SOC_ENTITY,
                    "capacity": 450.0,
                    "soc_min": 50.0,
                    "soc_max": 450.0,
                    "roundtrip_efficiency": 90.0,
                    "duration": 12,
                    "update_interval": 60,
                },
                subentry_id=SUBENTRY_ID,
                title="Toy battery",
            )
        ],
    )
    await setup_integration(hass, config_entry)
    yield config_entry
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()


def coordinator(entry: MockConfigEntry) -> ScheduleCoordinator:
    """The toy battery's coordinator."""
    return entry.runtime_data.coordinators[SUBENTRY_ID]


def state_of(hass: HomeAssistant, key: str) -> State:
    """The toy battery's sensor with this key."""
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{SUBENTRY_ID}_{key}"
    )
    assert entity_id is not None
    state = hass.states.get(entity_id)
    assert state is not None
    return state


async def test_consumption_price_is_the_demo_price_now(
    hass: HomeAssistant, entry: MockConfigEntry, fm_server: dict[str, str]
) -> None:
    """The state is the price sensor's value for the hour holding now."""
    price_id = int(fm_server["FM_TOY_PRICE_SENSOR_ID"])
    source = coordinator(entry).prices.source
    assert isinstance(source, PriceSensor)
    assert source.sensor_id == price_id
    client = entry.runtime_data.client
    sensor = await client.get_sensor(price_id)
    now = dt_util.utcnow()
    hour = align_down(now, sensor.event_resolution)
    data = await client.get_sensor_data(
        price_id, start=hour, duration=sensor.event_resolution, unit=sensor.unit
    )
    (expected,) = data.values
    assert expected is not None, "the demo server has no price for now"

    state = state_of(hass, "consumption_price")
    print(state.entity_id, "=", state.state, state.attributes["unit_of_measurement"])  # noqa: T201
    assert state.attributes["unit_of_measurement"] == sensor.unit
    assert float(state.state) == pytest.approx(expected, rel=1e-9)
    forecast = state.attributes["forecast"]
    schedule = coordinator(entry).data
    assert schedule is not None
    # the whole planning horizon from the schedule's start (the hourly price
    # read on the schedule's steps, equal steps merged), the price now first
    assert dt_util.parse_datetime(forecast[0]["start"]) == schedule.start
    assert forecast[0]["value"] == pytest.approx(expected, rel=1e-9)
    assert dt_util.parse_datetime(forecast[-1]["end"]) >= schedule.end
    assert all(
        dt_util.parse_datetime(item["end"]) - dt_util.parse_datetime(item["start"])
        >= schedule.resolution
        for item in forecast
    )
    later = await client.get_sensor_data(
        price_id,
        start=hour + timedelta(hours=5),
        duration=sensor.event_resolution,
        unit=sensor.unit,
    )
    at_five = next(
        item
        for item in forecast
        if dt_util.parse_datetime(item["start"])
        <= hour + timedelta(hours=5)
        < dt_util.parse_datetime(item["end"])
    )
    assert at_five["value"] == pytest.approx(later.values[0], rel=1e-9)


async def test_planned_cost_is_the_servers_cost_of_the_job(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """planned_cost = commitment_costs["electricity net energy"] of the same job."""
    schedule = coordinator(entry).data
    assert schedule is not None
    client = entry.runtime_data.client
    again = await client.get_schedule(
        schedule.sensor_id,
        schedule.job_id,
        resolution=schedule.resolution,
        duration=schedule.resolution * len(schedule.values),
    )
    costs = again.scheduler_info["commitment_costs"]
    state = state_of(hass, "planned_cost")
    print(state.entity_id, "=", state.state, state.attributes)  # noqa: T201
    assert float(state.state) == pytest.approx(costs["electricity net energy"])
    assert state.attributes["unit_of_measurement"] == "EUR"
    assert state.attributes["device_class"] == "monetary"
    assert state.attributes["electricity_any_consumption_breach"] == pytest.approx(
        costs["electricity any consumption breach"]
    )
