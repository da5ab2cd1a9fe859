"""A daily sensor's time zone is read outside the event loop (ZoneInfo reads a file)."""

from __future__ import annotations

import asyncio
from unittest.mock import patch
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from custom_components.flexmeasures import grid
from custom_components.flexmeasures.grid import LocalDayGrid, UtcGrid, make_grid

from .common import measurement_subentry, mock_account_entry
from .fake_flexmeasures import FakeFlexMeasures
from .forwarder_common import T0


def _in_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def test_setting_up_a_daily_sensor_reads_its_time_zone_in_an_executor(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(T0)
    # a zone nobody read yet in this process
    fake_fm.add_sensor(21, "daily energy", 7, "kWh", "P1D", timezone="America/Lima")
    hass.states.async_set("sensor.day_energy", "1", {"unit_of_measurement": "kWh"})
    entry = mock_account_entry(
        fake_fm.url,
        subentries_data=[
            measurement_subentry("sensor.day_energy", "21", subentry_id="01JDAILY0000")
        ],
    )
    read_in_loop: list[str] = []

    def zone_info(key: str) -> ZoneInfo:
        if _in_loop():
            read_in_loop.append(key)
        return ZoneInfo(key)

    entry.add_to_hass(hass)
    with patch.object(grid, "ZoneInfo", side_effect=zone_info):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert read_in_loop == []
    forwarder = entry.runtime_data.forwarder
    assert forwarder is not None
    assert (
        forwarder.as_diagnostics()["mappings"]["01JDAILY0000"]["resolution_seconds"]
        == 86400.0
    )
    assert await hass.config_entries.async_unload(entry.entry_id)


def test_a_loaded_time_zone_is_not_read_again() -> None:
    grid.load_time_zones(["Asia/Kathmandu", None, "", "Not/AZone", "../etc/passwd"])
    with patch.object(grid, "ZoneInfo", side_effect=AssertionError("read again")):
        day = make_grid(86400.0, "Asia/Kathmandu")
        assert isinstance(day, LocalDayGrid)
        assert day.tz.key == "Asia/Kathmandu"
        # unknown or malformed: the UTC grid, as before
        assert isinstance(make_grid(86400.0, "Not/AZone"), UtcGrid)
        assert isinstance(make_grid(86400.0, "../etc/passwd"), UtcGrid)
        grid.load_time_zones(["Asia/Kathmandu"])  # nothing read twice


def test_a_zone_not_loaded_ahead_is_still_read() -> None:
    day = make_grid(2 * 86400.0, "Africa/Nairobi")
    assert isinstance(day, LocalDayGrid)
    assert isinstance(make_grid(86400.0, "No/Such_Zone"), UtcGrid)
