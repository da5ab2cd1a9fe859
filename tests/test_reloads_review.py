"""Reloads of a config entry, attacked (review of the end-of-set-up reload).

`async_setup_entry` reloads an entry once its set-up is done when the entry
differs from what it was at the set-up's start (`async_reload_if_changed`).
Each test names the defect it found (all fixed, a5577c7); the ones named
`test_sound_...` guard what was checked and found right.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import (
    SOURCE_USER,
    ConfigEntryDisabler,
    ConfigEntryState,
)
from homeassistant.const import CONF_EMAIL, CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.flexmeasures as integration
from custom_components.flexmeasures.account import async_read_account
from custom_components.flexmeasures.const import DOMAIN, SUBENTRY_TYPE_MEASUREMENT

from .common import (
    measurement_subentry,
    mock_account_entry,
    setup_held_at,
    setup_integration,
)
from .const import TOY_EMAIL, TOY_PASSWORD, TOY_USER_ID
from .fake_flexmeasures import FakeFlexMeasures
from .forwarder_common import T0
from .rename_setup import counting_reloads, house_power_entry, register, rename
from .schedule_setup import (
    NOW,
    SUBENTRY_ID as SCHEDULE_ID,
    make_entry as make_schedule_entry,
    set_soc,
)
from .test_site import EV_ID, SITE_ID, site_entry

MEASUREMENT_ID = "01JRELOADSMEASUREMENT00000"
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


# ------------------------------------------------- the integration's own saves


@pytest.mark.freeze_time(NOW, tick=True)
@pytest.mark.usefixtures("fast_jobs_and_unload")
async def test_removing_a_site_device_reloads_once(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    site = site_entry(fake_fm)
    await setup_integration(hass, site)
    with counting_reloads(hass) as reloads:
        assert hass.config_entries.async_remove_subentry(site, EV_ID)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert site.subentries[SITE_ID].data["devices"] == ["8"]
    assert reloads == [site.entry_id]


# ------------------------------------------------- the config flow during a set-up


async def test_a_reauth_finished_while_the_entry_sets_up_reloads_once(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
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
            assert result["reason"] == "reauth_successful"
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data[CONF_PASSWORD] == "new-password"
    # the reload held, and one that reads the new password
    assert reloads == [entry.entry_id] * 2


# ------------------------------------------------- a change right after a set-up


async def test_a_change_right_after_a_set_up_that_reloads_reloads_once(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    assert await hass.config_entries.async_unload(entry.entry_id)
    subentry = entry.subentries[MEASUREMENT_ID]
    with counting_reloads(hass) as reloads:
        async with setup_held_at(hass, "platforms") as setup:

            async def change_while_held() -> None:
                await setup.reached()
                rename(hass, OLD, NEW, "2")
                setup.gate.set()

            changer = hass.async_create_task(change_while_held())
            assert await hass.config_entries.async_setup(entry.entry_id)
            await changer
            # the set-up is done, its reload is coming: a user's edit now
            assert entry.state is ConfigEntryState.LOADED
            hass.config_entries.async_update_subentry(entry, subentry, title="Grid")
    assert entry.state is ConfigEntryState.LOADED
    assert reloads == [entry.entry_id]


# ------------------------------------------------- the sub-entry flows


async def test_sound_a_measurement_edited_in_its_flow_reloads_once(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    with counting_reloads(hass) as reloads:
        flow = await entry.start_subentry_reconfigure_flow(hass, MEASUREMENT_ID)
        result = await hass.config_entries.subentries.async_configure(
            flow["flow_id"], {"entity_id": OLD, "sensor": "9"}
        )
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done(wait_background_tasks=True)
        assert reloads == [entry.entry_id]
        flow = await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_TYPE_MEASUREMENT),
            context={"source": SOURCE_USER},
        )
        result = await hass.config_entries.subentries.async_configure(
            flow["flow_id"], {"entity_id": OLD, "sensor": "8"}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done(wait_background_tasks=True)
    assert reloads == [entry.entry_id] * 2
    forwarder = entry.runtime_data.forwarder
    assert forwarder is not None
    assert len(forwarder.as_diagnostics()["mappings"]) == 2


async def test_a_measurement_deleted_during_a_set_up_reloads_once(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """The flows refuse an entry that is not loaded; deleting is always allowed."""
    with counting_reloads(hass) as reloads:
        async with setup_held_at(hass, "first_plans") as setup:
            hass.config_entries.async_schedule_reload(entry.entry_id)
            await setup.reached()
            assert hass.config_entries.async_remove_subentry(entry, MEASUREMENT_ID)
    assert entry.state is ConfigEntryState.LOADED
    # the reload held, and the one after it that has no measurement left
    assert reloads == [entry.entry_id] * 2
    assert entry.runtime_data.forwarder is None


async def _delete_the_schedule_during_a_set_up(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    schedule = make_schedule_entry(fake_fm)
    await setup_integration(hass, schedule)
    with counting_reloads(hass) as reloads:
        async with setup_held_at(hass, "first_plans") as setup:
            hass.config_entries.async_schedule_reload(schedule.entry_id)
            await setup.reached()  # its coordinator is built
            assert hass.config_entries.async_remove_subentry(schedule, SCHEDULE_ID)
    assert schedule.state is ConfigEntryState.LOADED
    assert reloads == [schedule.entry_id] * 2
    assert schedule.runtime_data.coordinators == {}


@pytest.mark.freeze_time(NOW, tick=True)
@pytest.mark.usefixtures("fast_jobs_and_unload")
async def test_sound_a_schedule_deleted_during_a_set_up_reloads_once(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    await _delete_the_schedule_during_a_set_up(hass, fake_fm)


@pytest.mark.freeze_time(NOW, tick=True)
@pytest.mark.usefixtures("fast_jobs_and_unload")
async def test_a_schedule_deleted_during_a_set_up_logs_no_error(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, caplog: pytest.LogCaptureFixture
) -> None:
    await _delete_the_schedule_during_a_set_up(hass, fake_fm)
    assert "Error" not in caplog.text


# ------------------------------------------------- entries of every state


async def test_sound_a_rename_seen_by_entries_of_every_state(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    """Loaded, retrying, never set up, disabled, setting up: each as it should."""

    def named(url: str, unique_id: str, subentry_id: str) -> MockConfigEntry:
        other = mock_account_entry(
            url,
            unique_id=unique_id,
            subentries_data=[measurement_subentry(OLD, "8", subentry_id=subentry_id)],
        )
        other.add_to_hass(hass)
        return other

    retrying = named("http://127.0.0.1:9", "retrying", "01JRELOADSRETRYING00000000")
    await hass.config_entries.async_setup(retrying.entry_id)
    await hass.async_block_till_done()
    assert retrying.state is ConfigEntryState.SETUP_RETRY
    idle = named(fake_fm.url, "idle", "01JRELOADSIDLE000000000000")
    disabled = named(fake_fm.url, "disabled", "01JRELOADSDISABLED00000000")
    await hass.config_entries.async_set_disabled_by(
        disabled.entry_id, ConfigEntryDisabler.USER
    )
    setting_up = named(fake_fm.url, "setting up", "01JRELOADSSETTINGUP0000000")
    runtime = entry.runtime_data
    with counting_reloads(hass) as reloads:
        async with setup_held_at(hass, "first_plans") as setup:
            task = hass.async_create_task(
                hass.config_entries.async_setup(setting_up.entry_id)
            )
            await setup.reached()
            rename(hass, OLD, NEW, "2")
        assert await task
    for each in (entry, retrying, idle, disabled, setting_up):
        (subentry,) = each.subentries.values()
        assert subentry.data["entity_id"] == NEW, each.unique_id
        assert subentry.unique_id == f"{NEW}_8", each.unique_id
    assert reloads == [setting_up.entry_id]
    assert entry.runtime_data is runtime  # its forwarder followed it
    assert retrying.state is ConfigEntryState.SETUP_RETRY
    assert idle.state is ConfigEntryState.NOT_LOADED
    assert disabled.state is ConfigEntryState.NOT_LOADED
    forwarder = setting_up.runtime_data.forwarder
    assert forwarder is not None
    (mapping,) = forwarder.as_diagnostics()["mappings"].values()
    assert mapping["entity_id"] == NEW


async def test_sound_a_rename_while_entries_start_reloads_each_once(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    """Home Assistant starting with two entries; a rename before they are up."""
    freezer.move_to(T0)
    register(hass, "house_power")
    hass.states.async_set(OLD, "1", {"unit_of_measurement": "kW"})
    entries = [
        mock_account_entry(
            fake_fm.url,
            unique_id=f"start {n}",
            subentries_data=[
                measurement_subentry(
                    OLD, "8", subentry_id=f"01JRELOADSSTART{n}0000000000"
                )
            ],
        )
        for n in (1, 2)
    ]
    for each in entries:
        each.add_to_hass(hass)
    held = 0
    gate = asyncio.Event()
    forward = hass.config_entries.async_forward_entry_setups

    async def holding(config_entry: Any, platforms: Any) -> None:
        nonlocal held
        held += 1
        await gate.wait()
        await forward(config_entry, platforms)

    with (
        counting_reloads(hass) as reloads,
        patch.object(hass.config_entries, "async_forward_entry_setups", holding),
    ):
        starting = hass.async_create_task(async_setup_component(hass, DOMAIN, {}))
        while held < 2:
            await asyncio.sleep(0)
        rename(hass, OLD, NEW, "2")
        gate.set()
        assert await starting
        await hass.async_block_till_done(wait_background_tasks=True)
    assert sorted(reloads) == sorted(each.entry_id for each in entries)
    for each in entries:
        assert each.state is ConfigEntryState.LOADED
        forwarder = each.runtime_data.forwarder
        assert forwarder is not None
        (mapping,) = forwarder.as_diagnostics()["mappings"].values()
        assert mapping["entity_id"] == NEW
        await hass.config_entries.async_unload(each.entry_id)
    await hass.async_block_till_done()


# ------------------------------------------------- set-ups that change the entry


async def test_sound_a_migrated_entry_is_not_reloaded_for_its_migration(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    old = MockConfigEntry(
        domain=DOMAIN,
        title="Toy",
        unique_id=f"{fake_fm.url}/_{TOY_USER_ID}",
        data={
            CONF_URL: f"{fake_fm.url}/",
            CONF_EMAIL: TOY_EMAIL,
            CONF_PASSWORD: TOY_PASSWORD,
            CONF_VERIFY_SSL: True,
        },
        minor_version=1,
    )
    with counting_reloads(hass) as reloads:
        await setup_integration(hass, old)
    assert old.minor_version == 2
    assert reloads == []
    await hass.config_entries.async_unload(old.entry_id)


async def test_sound_a_set_up_failing_after_a_rename_reloads_nothing(
    hass: HomeAssistant, entry: MockConfigEntry, fake_fm: FakeFlexMeasures
) -> None:
    """A rename while the login is read, then the server refuses the login."""
    assert await hass.config_entries.async_unload(entry.entry_id)

    async def renamed_then_refused(*args: Any) -> Any:
        rename(hass, OLD, NEW, "2")
        fake_fm.users[TOY_EMAIL]["password"] = "changed elsewhere"
        return await async_read_account(*args)

    with (
        counting_reloads(hass) as reloads,
        patch.object(integration, "async_read_account", renamed_then_refused),
    ):
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.subentries[MEASUREMENT_ID].data["entity_id"] == NEW
    assert reloads == []
