"""Schedules without a state of charge entity, against a real FlexMeasures server.

Without one, no state of charge at start is known. FlexMeasures then starts at
0 kWh, and with a minimum state of charge above 0 every job failed
("InfeasibleProblemException: infeasible"). The integration assumes the start
at the minimum state of charge (the form says so).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
import math
import random
from typing import Any
import uuid

from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.const import CONF_EMAIL, CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.const import DOMAIN, SUBENTRY_TYPE_SCHEDULE
from custom_components.flexmeasures.coordinator import ScheduleCoordinator

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("socket_enabled")]

SUBENTRY_ID = "01JE2ENOSOCENTITY000000000"


async def _entry(
    hass: HomeAssistant, fm_server: dict[str, str], settings: dict[str, Any]
) -> MockConfigEntry:
    """The toy account with one schedule for the toy battery, loaded.

    A horizon of its own per run: FlexMeasures answers an identical request
    within an hour with the job it already has (maybe one that failed).
    """
    config_entry = MockConfigEntry(
        domain=DOMAIN,
        title="Toy Account",
        unique_id=f"{fm_server['FLEXMEASURES_URL']}_e2e_{uuid.uuid4().hex}",
        data={
            CONF_URL: fm_server["FLEXMEASURES_URL"],
            CONF_EMAIL: fm_server["FLEXMEASURES_EMAIL"],
            CONF_PASSWORD: fm_server["FLEXMEASURES_PASSWORD"],
            CONF_VERIFY_SSL: True,
        },
        subentries_data=[
            ConfigSubentryData(
                data={
                    "power_sensor": fm_server["FM_TOY_BATTERY_SENSOR_ID"],
                    "consumption_price_sensor": fm_server["FM_TOY_PRICE_SENSOR_ID"],
                    "production_price_sensor": "asset",
                    "duration": random.randint(6, 23),
                    "update_interval": 60,
                    **settings,
                },
                subentry_id=SUBENTRY_ID,
                subentry_type=SUBENTRY_TYPE_SCHEDULE,
                title="Toy battery without state of charge",
                unique_id=fm_server["FM_TOY_BATTERY_SENSOR_ID"],
            )
        ],
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    return config_entry


@pytest.fixture
async def unload(hass: HomeAssistant) -> AsyncGenerator[None]:
    """Unload every FlexMeasures entry after the test."""
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


def _coordinator(entry: MockConfigEntry) -> ScheduleCoordinator:
    return entry.runtime_data.coordinators[SUBENTRY_ID]


@pytest.mark.usefixtures("unload")
@pytest.mark.parametrize(
    ("settings", "lowest"),
    [
        # an EV charger (11 kW) with a reserve and no state of charge entity:
        # starting at 0 kWh it could not reach 10 kWh in the first step
        (
            {
                "capacity": 60.0,
                "soc_min": 10.0,
                "soc_max": 60.0,
                "power_capacity": 11.0,
                "roundtrip_efficiency": 90.0,
            },
            10.0,
        ),
        # a device that only consumes, such as an EV charger without a state
        # of charge: no capacity, no limits
        ({"power_capacity": 11.0, "roundtrip_efficiency": 90.0}, 0.0),
    ],
    ids=["ev_charger_with_minimum", "no_storage_limits"],
)
async def test_schedule_without_state_of_charge_entity_is_feasible(
    hass: HomeAssistant,
    fm_server: dict[str, str],
    settings: dict[str, Any],
    lowest: float,
) -> None:
    """The first update gets a schedule; the state of charge never drops below."""
    entry = await _entry(hass, fm_server, settings)
    coordinator = _coordinator(entry)

    assert coordinator.last_update_success, coordinator.last_error_message
    schedule = coordinator.data
    assert schedule is not None
    assert coordinator.failure_reason is None
    # starting at the minimum, what is discharged was charged before
    eta = math.sqrt(0.9)  # FlexMeasures splits the roundtrip efficiency evenly
    energy = lowest
    hours = schedule.resolution.total_seconds() / 3600
    for power in schedule.values:
        energy += power * hours * (eta if power > 0 else 1 / eta)
        assert energy >= lowest - 0.5, (energy, schedule.values)
    assert max(schedule.values) <= 11.0 + 1e-6

    # and a manual update too
    response: dict[str, Any] = await hass.services.async_call(
        DOMAIN,
        "trigger_schedule",
        {"device_id": _device_id(hass, entry)},
        blocking=True,
        return_response=True,
    )
    assert response["sign_convention"] == "consumption_positive"
    assert response["values"]


def _device_id(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, SUBENTRY_ID), entry.entry_id
    )
    assert device is not None
    return device.id
