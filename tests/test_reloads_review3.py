"""Reloads of a config entry, attacked again (review of a5577c7).

a5577c7 made the end-of-set-up reload (`renames.async_reload_if_changed`) wait
for the entry's `setup_lock`, reload only when the entry still differs from
what is set up then, and hold the update listener (`runtime.reloading`) until
its turn. The other tests name a defect each (fixed since); `test_sound_...`
guard what was checked and found right.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PASSWORD
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.flexmeasures as integration

from .common import setup_held_at
from .const import TOY_EMAIL
from .fake_flexmeasures import FakeFlexMeasures
from .forwarder_common import T0
from .rename_setup import counting_reloads, house_power_entry, rename

MEASUREMENT_ID = "01JRELOADS3MEASUREMENT0000"
OLD = "sensor.house_power"
NEW = "sensor.grid_power"


@pytest.fixture
async def entry(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> AsyncGenerator[MockConfigEntry]:
    """The toy account sending the registered sensor.house_power to sensor 8."""
    freezer.move_to(T0)
    async with house_power_entry(hass, fake_fm.url, MEASUREMENT_ID) as config_entry:
        yield config_entry


def _during_first_plans(steps: list[Callable[[], None]]) -> Any:
    """Patch `async_first_plans`: the n-th set-up runs `steps[n]` first."""
    first_plans = integration.async_first_plans
    calls = 0

    async def stepping(config_entry: Any) -> None:
        nonlocal calls
        if calls < len(steps):
            steps[calls]()
        calls += 1
        await first_plans(config_entry)

    return patch.object(integration, "async_first_plans", stepping)


async def _edit_in_flow(
    hass: HomeAssistant, entry: MockConfigEntry, sensor: str
) -> None:
    flow = await entry.start_subentry_reconfigure_flow(hass, MEASUREMENT_ID)
    result = await hass.config_entries.subentries.async_configure(
        flow["flow_id"],
        {
            "entity_id": entry.subentries[MEASUREMENT_ID].data["entity_id"],
            "sensor": sensor,
        },
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done(wait_background_tasks=True)


# ------------------------------------------------- two end-of-set-up reloads queued


async def test_changes_during_a_set_up_and_the_queued_reload_after_it_reload_once(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    subentry_title = "House, edited during the second set-up"

    def first() -> None:
        # during set-up 1: a reload is asked for (as a reauth does) and a
        # measurement follows its renamed entity
        hass.config_entries.async_schedule_reload(entry.entry_id)
        rename(hass, OLD, NEW, "2")

    def second() -> None:
        # during set-up 2 (the queued reload's): a sub-entry is saved
        hass.config_entries.async_update_subentry(
            entry, entry.subentries[MEASUREMENT_ID], title=subentry_title
        )

    with counting_reloads(hass) as reloads, _during_first_plans([first, second]):
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.reloading is False
    # the reload asked for, the one queued in set-up 1, and one that reads
    # what set-up 2 could not
    assert reloads == [entry.entry_id] * 3


# ------------------------------------------------- a deletion during a set-up


async def test_a_measurement_deleted_before_the_platforms_logs_no_error(
    hass: HomeAssistant, entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    with counting_reloads(hass) as reloads:
        async with setup_held_at(hass, "platforms") as setup:
            hass.config_entries.async_schedule_reload(entry.entry_id)
            await setup.reached()  # the forwarder runs the measurement
            assert hass.config_entries.async_remove_subentry(entry, MEASUREMENT_ID)
    assert entry.state is ConfigEntryState.LOADED
    assert reloads == [entry.entry_id] * 2
    assert entry.runtime_data.forwarder is None
    assert "Error" not in caplog.text


# ------------------------------------------------- the update listener after it


async def test_sound_a_flow_edit_after_a_queued_reload_found_nothing_reloads(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    """The end-of-set-up task finds the entry set up by the reload before it."""
    with counting_reloads(hass) as reloads:
        async with setup_held_at(hass, "first_plans") as setup:
            hass.config_entries.async_schedule_reload(entry.entry_id)
            await setup.reached()
            fake_fm.users[TOY_EMAIL]["password"] = "new-password"
            flow = await entry.start_reauth_flow(hass)
            result = await hass.config_entries.flow.async_configure(
                flow["flow_id"], {CONF_PASSWORD: "new-password"}
            )
            assert result["type"] is FlowResultType.ABORT
        assert reloads == [entry.entry_id] * 2
        assert entry.runtime_data.reloading is False
        await _edit_in_flow(hass, entry, "9")
        assert reloads == [entry.entry_id] * 3
        await _edit_in_flow(hass, entry, "8")
        assert reloads == [entry.entry_id] * 4
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.reloading is False


async def test_sound_a_change_taken_back_before_the_reloads_turn(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """The task finds nothing (the entry is as set up again): later edits reload."""
    subentry = entry.subentries[MEASUREMENT_ID]
    title = subentry.title
    assert await hass.config_entries.async_unload(entry.entry_id)
    with counting_reloads(hass) as reloads:
        async with setup_held_at(hass, "platforms") as setup:

            async def change_while_held() -> None:
                await setup.reached()
                hass.config_entries.async_update_subentry(entry, subentry, title="X")
                setup.gate.set()

            changer = hass.async_create_task(change_while_held())
            assert await hass.config_entries.async_setup(entry.entry_id)
            await changer
            # set up, its reload waits for its turn: taken back now
            assert entry.runtime_data.reloading is True
            hass.config_entries.async_update_subentry(
                entry, entry.subentries[MEASUREMENT_ID], title=title
            )
        assert reloads == []
        runtime = entry.runtime_data
        assert runtime.reloading is False
        await _edit_in_flow(hass, entry, "9")
        assert reloads == [entry.entry_id]
    assert entry.runtime_data is not runtime
    assert entry.runtime_data.reloading is False


async def test_sound_a_flow_edit_right_after_a_set_up_that_reloads_reloads_once(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """The form opened before, sent once the set-up is done, before its reload.

    The flow's save lands while the end-of-set-up reload runs (the flow
    awaits its checks of the sensor): when the reload's set-up has read the
    entry already, it reloads once more, as for any change during a set-up.
    What counts: the edit and the rename are both set up, nothing held.
    """
    flow = await entry.start_subentry_reconfigure_flow(hass, MEASUREMENT_ID)
    assert await hass.config_entries.async_unload(entry.entry_id)
    with counting_reloads(hass) as reloads:
        async with setup_held_at(hass, "platforms") as setup:

            async def change_while_held() -> None:
                await setup.reached()
                rename(hass, OLD, NEW, "2")
                setup.gate.set()

            changer = hass.async_create_task(change_while_held())
            assert await hass.config_entries.async_setup(entry.entry_id)
            await changer
            assert entry.runtime_data.reloading is True
            result = await hass.config_entries.subentries.async_configure(
                flow["flow_id"], {"entity_id": NEW, "sensor": "9"}
            )
            assert result["reason"] == "reconfigure_successful"
    assert reloads in ([entry.entry_id], [entry.entry_id] * 2)
    assert entry.state is ConfigEntryState.LOADED
    forwarder = entry.runtime_data.forwarder
    assert forwarder is not None
    (mapping,) = forwarder.as_diagnostics()["mappings"].values()
    assert mapping["entity_id"] == NEW
    assert mapping["sensor_id"] == 9
    assert entry.subentries[MEASUREMENT_ID].data["sensor"] == "9"
    assert entry.runtime_data.reloading is False
