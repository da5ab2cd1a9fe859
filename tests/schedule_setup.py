"""A FlexMeasures entry with one schedule device on the fake server, and its helpers.

Set it up with `tests.common.setup_integration`; `fast_jobs_and_unload` unloads it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from datetime import UTC, datetime
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flexmeasures.const import DOMAIN
from custom_components.flexmeasures.coordinator import ScheduleCoordinator

from .common import mock_account_entry, schedule_subentry
from .fake_flexmeasures import FakeFlexMeasures

SUBENTRY_ID = "01JSCHEDULEHOMEBATTERY0000"
SOC_ENTITY = "sensor.home_battery_soc"
# 05:37 UTC: the current 15-minute step started at 05:30.
NOW = datetime(2026, 11, 23, 5, 37, tzinfo=UTC)
STEP_START = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)

SCHEDULE_DATA: dict[str, Any] = {
    "power_sensor": "8",
    "consumption_price_sensor": "7",
    "production_price_sensor": "",
    "soc_entity": SOC_ENTITY,
    "capacity": 450.0,
    "soc_min": 50.0,
    "soc_max": 450.0,
    "roundtrip_efficiency": 90.0,
    "power_capacity": 500.0,
    "duration": 24,
    "update_interval": 15,
}


def fake_value(step: int) -> float:
    """The fake server's schedule value at step `step` (from the aligned start)."""
    return float(step % 3 - 1) * 10


def make_entry(
    fake_fm: FakeFlexMeasures,
    *,
    more: Iterable[ConfigSubentryData] = (),
    **changes: Any,
) -> MockConfigEntry:
    """The toy account on the fake server with one schedule device "Home battery".

    `changes` override keys of its SCHEDULE_DATA; `more` are further sub-entries.
    """
    return mock_account_entry(
        fake_fm.url,
        subentries_data=[
            schedule_subentry({**SCHEDULE_DATA, **changes}, subentry_id=SUBENTRY_ID),
            *more,
        ],
    )


async def unload_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Unload the entry (stops timers: calendar alarms, step timer)."""
    if entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


def coordinator_of(entry: MockConfigEntry) -> ScheduleCoordinator:
    """The entry's schedule coordinator."""
    return entry.runtime_data.coordinators[SUBENTRY_ID]


def set_soc(hass: HomeAssistant, state: str = "50", unit: str | None = "%") -> None:
    """Give the state of charge entity a state."""
    attributes = {} if unit is None else {"unit_of_measurement": unit}
    hass.states.async_set(SOC_ENTITY, state, attributes)


@pytest.fixture
async def fast_jobs_and_unload(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> AsyncGenerator[None]:
    """Jobs finish at the first poll; every FlexMeasures entry is unloaded after.

    Unloading stops the step timer and the calendar's alarms, which would
    otherwise linger after the test.
    """
    fake_fm.job_pending_polls = 0
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        await unload_entry(hass, entry)


def entity_id(hass: HomeAssistant, platform: str, key: str) -> str:
    """The entity id of the schedule device's entity with this key."""
    found = er.async_get(hass).async_get_entity_id(
        platform, DOMAIN, f"{SUBENTRY_ID}_{key}"
    )
    assert found is not None
    return found


async def fire_at(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, when: datetime
) -> None:
    """Move the clock to `when` and let the timers due by then run."""
    freezer.move_to(when)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
